//! An error on the window's wgpu device after burn's compute backend started on it (as a
//! `Surface::configure` timing out behind a long compute job on lavapipe) becomes a message;
//! the window keeps running instead of panicking in the compute backend's error handler.
//!
//! Its own test binary: the error provoked here must reach this app's handler only, and a
//! process shares one wgpu device between apps (see tests/app.rs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui_wgpu;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::WgpuTestRenderer;

use stylespace::app::{AppOptions, StylespaceApp, wgpu_setup};
use stylespace::engine::DeviceChoice;
use stylespace::engine::worker::ModelSource;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/munit-tiny")
        .join(name)
}

fn wait(
    h: &mut Harness<'static, StylespaceApp>,
    what: &str,
    done: impl Fn(&StylespaceApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "timed out waiting for {what}; {}",
            h.state().summary()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn gpu_device_errors_are_messages_not_crashes() {
    let rs = egui_kittest::wgpu::create_render_state(
        wgpu_setup(egui_kittest::wgpu::default_wgpu_setup()),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let device = rs.device.clone();
    let options = AppOptions {
        device: DeviceChoice::Wgpu,
        model: Some(ModelSource::Official {
            config: fixture("config.yaml"),
            checkpoint: fixture("gen.pt"),
        }),
        images: vec![fixture("a.png")],
        show_timings: false,
        ..AppOptions::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_eframe(move |cc| StylespaceApp::new(cc, options));
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some() && !app.busy()
    });
    // Mapping for both reading and writing is invalid without a feature: a validation error
    // that nobody captures.
    let _invalid = device.create_buffer(&eframe::wgpu::BufferDescriptor {
        label: Some("invalid on purpose"),
        size: 16,
        usage: eframe::wgpu::BufferUsages::MAP_READ | eframe::wgpu::BufferUsages::MAP_WRITE,
        mapped_at_creation: false,
    });
    h.run_steps(2);
    let log: Vec<String> = h
        .state()
        .message_log()
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert!(
        log.iter().any(|t| t.contains("The GPU reported an error")),
        "{log:?}"
    );
    // And it still translates.
    h.get_by_role_and_label(Role::Slider, "style 1")
        .set_value_accesskit(1.5);
    wait(&mut h, "a render after the error", |app| {
        app.main_output_style()
            .is_some_and(|s| (s[0] - 1.5).abs() < 1e-6)
    });
}
