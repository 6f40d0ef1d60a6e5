//! What the app benches share: the real app headless in egui_kittest, started on a model and
//! waited for until its first translation is shown, and percentiles of timings.

use std::time::{Duration, Instant};

use eframe::egui_wgpu;
use egui_kittest::Harness;
use egui_kittest::wgpu::WgpuTestRenderer;

use stylespace::app::{AppOptions, StylespaceApp};
use stylespace::engine::DeviceChoice;
use stylespace::engine::worker::ModelSource;

/// The value below which a share `p` (0..=1) of `values` lies.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The app at 1100 x 720 on `device` with `model` and the bundled sample image, rendered with
/// `render_state`, once its first translation is shown (prints the backend).
pub fn started_app(
    device: DeviceChoice,
    model: ModelSource,
    render_state: egui_wgpu::RenderState,
) -> Harness<'static, StylespaceApp> {
    let options = AppOptions {
        device,
        model: Some(model),
        images: Vec::new(), // the bundled sample image
        session_path: None,
        screenshot_and_exit: None,
        show_timings: false,
        ..AppOptions::default()
    };
    let mut h: Harness<'static, StylespaceApp> = Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .renderer(WgpuTestRenderer::from_render_state(render_state))
        .build_eframe(move |cc| StylespaceApp::new(cc, options));
    let deadline = Instant::now() + Duration::from_secs(300);
    while h.state().main_output_style().is_none() || h.state().busy() {
        h.step();
        assert!(Instant::now() < deadline, "no first translation");
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("backend: {}", h.state().backend_description);
    h
}
