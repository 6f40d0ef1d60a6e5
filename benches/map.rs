//! The style map with many images: UI frame times while the worker encodes 1,000 image files
//! into style codes (the real app and worker driven headless through egui_kittest), and the
//! memory the map holds.
//!
//! `cargo bench --bench map [-- cpu|wgpu] [--count N] [--model DIR]` prints the frame time
//! median, p99 and maximum over the whole encode (a frame every 1/60 s, the pointer sweeping the
//! plot so hover thumbnails are drawn), the encode's duration, and the process's resident memory
//! before and after.
//!
//! `MAP_BENCH_TRACE=1` prints every frame's time with the files on the map before and after it.
//!
//! Images: `N` synthetic 64 px colour glyphs (random discs and strokes on white) written to a
//! temporary folder, so the bench needs no data set.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui_wgpu;

use stylespace::app::session::View;
use stylespace::app::{Action, wgpu_setup};
use stylespace::engine::DeviceChoice;
use stylespace::engine::worker::ModelSource;

mod common;
use common::{percentile, started_app};

/// Resident memory of this process in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A small deterministic generator (xorshift), so every run draws the same images.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

/// `count` synthetic colour glyphs: a few filled discs and a black outline stroke on white.
fn glyphs(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| {
            let mut img = image::RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]));
            for _ in 0..1 + rng.below(3) {
                let colour = [
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                ];
                let (cx, cy, r) = (
                    8 + rng.below(48) as i32,
                    8 + rng.below(48) as i32,
                    6 + rng.below(16) as i32,
                );
                for y in 0..64i32 {
                    for x in 0..64i32 {
                        let d2 = (x - cx).pow(2) + (y - cy).pow(2);
                        if d2 <= r * r {
                            let edge = d2 >= (r - 2).pow(2);
                            let px = if edge { [0, 0, 0] } else { colour };
                            img.put_pixel(x as u32, y as u32, image::Rgb(px));
                        }
                    }
                }
            }
            let path = dir.join(format!("glyph-{i:04}.png"));
            img.save(&path).expect("writing a glyph");
            path
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args
        .iter()
        .position(|a| a == "--count")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1000);
    let model = match args.iter().position(|a| a == "--model") {
        Some(i) => ModelSource::Folder(PathBuf::from(&args[i + 1])),
        None => ModelSource::Folder(stylespace::engine::bundled_model()),
    };
    let device = match args.iter().any(|a| a == "wgpu") {
        true => DeviceChoice::Wgpu,
        false => DeviceChoice::Cpu,
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let files = glyphs(dir.path(), count);
    println!("model: {}; {count} images", model.label());

    let rs = egui_kittest::wgpu::create_render_state(
        wgpu_setup(egui_kittest::wgpu::default_wgpu_setup()),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let mut h = started_app(device, model, rs);
    h.state_mut().act(Action::SetView(View::Map));
    h.run_steps(3);
    let rss_before = rss_mib();

    // A frame every 1/60 s while the files are encoded, the pointer sweeping over the plot.
    let start = Instant::now();
    h.state_mut().act(Action::AddMapFiles(files));
    let mut frame_times = Vec::new();
    let mut i = 0u32;
    loop {
        let frame_start = Instant::now();
        let x = 300.0 + 250.0 * (1.0 + (i as f32 / 25.0).sin());
        let y = 200.0 + 150.0 * (1.0 + (i as f32 / 40.0).cos());
        h.hover_at(egui::pos2(x, y));
        let files_before = h.state().state.map.files.len();
        h.step();
        frame_times.push(frame_start.elapsed().as_secs_f64());
        if std::env::var_os("MAP_BENCH_TRACE").is_some() {
            let files = h.state().state.map.files.len();
            eprintln!(
                "frame {i}: {:.2} ms, files {files_before} -> {files}",
                frame_start.elapsed().as_secs_f64() * 1e3
            );
        }
        i += 1;
        if h.state().state.map.loading.is_none() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "the map never finished"
        );
        let rest = Duration::from_secs_f64(1.0 / 60.0).saturating_sub(frame_start.elapsed());
        std::thread::sleep(rest);
    }
    let encode = start.elapsed().as_secs_f64();
    // A few frames with the whole map drawn.
    for _ in 0..60 {
        let frame_start = Instant::now();
        h.step();
        frame_times.push(frame_start.elapsed().as_secs_f64());
    }
    let rss_after = rss_mib();
    let map = &h.state().state.map;
    println!(
        "  encoded {} files in {encode:.1} s ({:.1} ms per file)",
        map.files.len(),
        encode * 1e3 / count as f64
    );
    println!(
        "  UI frames ({}): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        frame_times.len(),
        percentile(&frame_times, 0.5) * 1e3,
        percentile(&frame_times, 0.99) * 1e3,
        percentile(&frame_times, 1.0) * 1e3,
    );
    println!(
        "  resident memory: {rss_before:.0} MiB before, {rss_after:.0} MiB after ({:.1} KiB per file)",
        (rss_after - rss_before) * 1024.0 / count as f64
    );
}
