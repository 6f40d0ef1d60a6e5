//! The window's wgpu device, shared with burn's compute backend, under the strains that took the
//! window down on lavapipe: an error after the compute backend started on it (as a
//! `Surface::configure` timing out behind a long compute job) becomes a message instead of a
//! panic; a long compute job (a 16-cell grid on a software GPU) never holds the window's frames
//! for more than a small part of the job; a lost device moves the model to the CPU backend with a
//! message, and translations go on.
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

use stylespace::app::session::View;
use stylespace::app::{Action, AppOptions, StylespaceApp, wgpu_setup};
use stylespace::engine::worker::ModelSource;
use stylespace::engine::{BackendKind, DeviceChoice};

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
fn the_shared_gpu_survives_errors_long_jobs_and_loss() {
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
        .with_size(egui::vec2(900.0, 600.0))
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

    // A long compute job on the queue the window draws from (16 decodes, about a minute on
    // lavapipe with frames drawn in between): the window keeps drawing all along, each frame
    // waiting for the worker's current job at most (the worker lets one job at a time onto the
    // shared queue).
    h.state_mut().act(Action::SetView(View::Samples));
    h.state_mut()
        .act(Action::SetSampleGrid { seed: 5, count: 16 });
    let (worst, job, frames) = frames_during(&mut h, 16);
    eprintln!("16 decodes: {job:?}, {frames} frames, the longest {worst:?}");
    assert!(
        worst < job / 4 && frames >= 8,
        "{frames} frames, one waited {worst:?}, during a {job:?} job of 16 decodes"
    );
    h.state_mut()
        .act(Action::SetSampleGrid { seed: 5, count: 1 });
    h.run_steps(2);

    // The device is lost (as after a driver reset): the model moves to the CPU backend, the
    // window says so, and translations go on with the same code.
    h.state_mut().clear_toasts();
    device.destroy();
    h.get_by_role_and_label(Role::Slider, "style 1")
        .set_value_accesskit(-0.75);
    wait(
        &mut h,
        "a translation on the CPU after the GPU was lost",
        |app| {
            app.backend == BackendKind::Cpu
                && app
                    .counters()
                    .renders
                    .load(std::sync::atomic::Ordering::Relaxed)
                    > 0
                && app
                    .main_output_style()
                    .is_some_and(|s| (s[0] + 0.75).abs() < 1e-6)
        },
    );
    let log: Vec<String> = (h.state().message_log().iter())
        .map(|m| m.text.clone())
        .collect();
    assert!(
        log.iter()
            .any(|t| t.contains("The GPU failed") && t.contains("Switched to the CPU backend")),
        "{log:?}"
    );
    assert!(
        h.state()
            .backend_description
            .contains("after a GPU failure")
    );
    assert!(h.state().main_output_rgba().is_some());
}

/// Renders done by the app's current worker.
fn renders(h: &Harness<'static, StylespaceApp>) -> u64 {
    h.state()
        .counters()
        .renders
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Steps and draws frames (each draw waits for the shared queue, as presenting does) until the
/// worker has rendered `count` more images; returns the longest frame, the whole job's time and
/// the frames drawn.
fn frames_during(
    h: &mut Harness<'static, StylespaceApp>,
    count: u64,
) -> (Duration, Duration, usize) {
    let target = renders(h) + count;
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    let mut frames = 0;
    while renders(h) < target {
        frames += 1;
        assert!(
            start.elapsed() < Duration::from_secs(400),
            "timed out waiting for {count} renders; {}",
            h.state().summary()
        );
        let frame = Instant::now();
        h.step();
        h.render().expect("a frame");
        worst = worst.max(frame.elapsed());
    }
    (worst, start.elapsed(), frames)
}
