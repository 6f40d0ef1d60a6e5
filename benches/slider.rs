//! Slider -> pixels latency and UI frame times of the explorer app, driven headless through
//! egui_kittest (the real app, the real worker, burn on the harness's wgpu device for `wgpu`).
//!
//! `cargo bench --bench slider [-- cpu|wgpu] [--model DIR | --random-munit]` prints, per backend:
//! - latency: from a slider change to its image being ready for display (on wgpu: the texture
//!   written and the queue drained), one move at a time, median and p95;
//! - while dragging (a move every frame, 60 Hz, requests coalescing): UI frame time p99 and the
//!   latency of the renders that were shown.
//!
//! Model: the bundled default if present (else the munit-tiny fixture), `--model DIR`, or
//! `--random-munit`: the official default MUNIT architecture (dim 64, 256 px inputs) with random
//! weights, written to a temporary model folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui_wgpu;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;

use stylespace::app::wgpu_setup;
use stylespace::engine::DeviceChoice;
use stylespace::engine::worker::ModelSource;

mod common;
use common::{percentile, started_app};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let random_dir = tempfile::tempdir().expect("a temporary folder");
    let model = match args.iter().position(|a| a == "--model") {
        Some(i) => ModelSource::Folder(PathBuf::from(&args[i + 1])),
        None if args.iter().any(|a| a == "--random-munit") => {
            let device = burn::prelude::Device::flex();
            let config = stylespace::config::Config::munit_default();
            let networks =
                stylespace::checkpoint::Networks::random_from_config(&config, 0, &device)
                    .expect("random weights");
            stylespace::checkpoint::save_networks(
                random_dir.path(),
                &networks,
                stylespace::checkpoint::Precision::F32,
            )
            .expect("writing the random model");
            ModelSource::Folder(random_dir.path().to_path_buf())
        }
        None => {
            let bundled = stylespace::engine::bundled_model();
            if bundled.join("model.safetensors").is_file() {
                ModelSource::Folder(bundled)
            } else {
                let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/munit-tiny");
                ModelSource::Official {
                    config: tiny.join("config.yaml"),
                    checkpoint: tiny.join("gen.pt"),
                }
            }
        }
    };
    let backends: Vec<DeviceChoice> = match args.iter().find(|a| *a == "cpu" || *a == "wgpu") {
        Some(a) if a == "cpu" => vec![DeviceChoice::Cpu],
        Some(_) => vec![DeviceChoice::Wgpu],
        None => vec![DeviceChoice::Cpu, DeviceChoice::Wgpu],
    };
    let rs = egui_kittest::wgpu::create_render_state(
        wgpu_setup(egui_kittest::wgpu::default_wgpu_setup()),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    println!("model: {}", model.label());
    for device in backends {
        run(device, &model, &rs);
    }
}

/// The same device with an unused egui renderer (kittest wants one per harness; burn registers
/// each wgpu device once).
fn fresh_renderer(rs: &egui_wgpu::RenderState) -> egui_wgpu::RenderState {
    let renderer = egui_wgpu::Renderer::new(
        &rs.device,
        rs.target_format,
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    egui_wgpu::RenderState {
        renderer: std::sync::Arc::new(egui::mutex::RwLock::new(renderer)),
        ..rs.clone()
    }
}

fn run(device: DeviceChoice, model: &ModelSource, rs: &egui_wgpu::RenderState) {
    let mut h = started_app(device, model.clone(), fresh_renderer(rs));
    let drain = |rs: &egui_wgpu::RenderState| {
        let _ = rs.device.poll(eframe::wgpu::PollType::wait_indefinitely());
    };

    // Warm up every shape, then one move at a time.
    let moves = 60;
    let mut latencies = Vec::new();
    for i in 0..moves + 5 {
        let value = -2.0 + 4.0 * ((i * 37) % moves) as f64 / moves as f64;
        let start = Instant::now();
        h.get_by_role_and_label(Role::Slider, "style 1")
            .set_value_accesskit(value);
        loop {
            h.step();
            // The slider rounds to its shown precision: wait for the code it actually set.
            let app = h.state();
            let shown = app.main_output_style() == Some(app.state.style.as_slice());
            if shown {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        drain(rs);
        if i >= 5 {
            latencies.push(start.elapsed().as_secs_f64());
        }
    }
    println!(
        "  one move at a time ({moves} moves): slider -> pixels median {:.1} ms, p95 {:.1} ms",
        percentile(&latencies, 0.5) * 1e3,
        percentile(&latencies, 0.95) * 1e3
    );

    // Dragging: a new value every frame at 60 Hz for 3 seconds.
    h.state_mut().stats.latencies.clear();
    let mut frame_times = Vec::new();
    let frames = 180;
    for i in 0..frames {
        let frame_start = Instant::now();
        let value = 2.0 * ((i as f64) / 20.0).sin();
        h.get_by_role_and_label(Role::Slider, "style 2")
            .set_value_accesskit(value);
        h.step();
        frame_times.push(frame_start.elapsed().as_secs_f64());
        let rest = Duration::from_secs_f64(1.0 / 60.0).saturating_sub(frame_start.elapsed());
        std::thread::sleep(rest);
    }
    let shown = h.state().stats.latencies.clone();
    println!(
        "  dragging ({frames} frames at 60 Hz): UI frame time median {:.2} ms, p99 {:.2} ms; \
         {} renders shown, latency median {:.1} ms, p95 {:.1} ms",
        percentile(&frame_times, 0.5) * 1e3,
        percentile(&frame_times, 0.99) * 1e3,
        shown.len(),
        percentile(&shown, 0.5) * 1e3,
        percentile(&shown, 0.95) * 1e3
    );
}
