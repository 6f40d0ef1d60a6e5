//! The explorer app, driven through egui_kittest: the real `StylespaceApp` with the munit-tiny
//! model, burn on the harness's own wgpu device (lavapipe in CI), exactly as eframe's device is
//! shared in the window.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eframe::egui_wgpu;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::wgpu::WgpuTestRenderer;

use stylespace::app::session::{SliderMode, View};
use stylespace::app::{Action, AppOptions, SaveTarget, StylespaceApp, wgpu_setup};
use stylespace::engine::DeviceChoice;
use stylespace::engine::worker::ModelSource;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/munit-tiny")
        .join(name)
}

fn tiny_model() -> ModelSource {
    ModelSource::Official {
        config: fixture("config.yaml"),
        checkpoint: fixture("gen.pt"),
    }
}

/// One wgpu device for every test of this binary (burn registers a device once), with a fresh
/// egui renderer per harness (kittest wants an unused one).
fn render_state() -> egui_wgpu::RenderState {
    static STATE: OnceLock<egui_wgpu::RenderState> = OnceLock::new();
    let base = STATE
        .get_or_init(|| {
            egui_kittest::wgpu::create_render_state(
                wgpu_setup(egui_kittest::wgpu::default_wgpu_setup()),
                egui_wgpu::RendererOptions::PREDICTABLE,
            )
        })
        .clone();
    let renderer = egui_wgpu::Renderer::new(
        &base.device,
        base.target_format,
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    egui_wgpu::RenderState {
        renderer: std::sync::Arc::new(egui::mutex::RwLock::new(renderer)),
        ..base
    }
}

fn harness(options: AppOptions) -> Harness<'static, StylespaceApp> {
    sized_harness(options, egui::vec2(1100.0, 720.0))
}

fn sized_harness(options: AppOptions, size: egui::Vec2) -> Harness<'static, StylespaceApp> {
    Harness::builder()
        .with_size(size)
        .renderer(WgpuTestRenderer::from_render_state(render_state()))
        .build_eframe(move |cc| StylespaceApp::new(cc, options))
}

fn options(device: DeviceChoice, images: Vec<PathBuf>) -> AppOptions {
    AppOptions {
        device,
        model: Some(tiny_model()),
        images,
        session_path: None,
        screenshot_and_exit: None,
        show_timings: false,
        ..AppOptions::default()
    }
}

/// Steps the app until `done` holds (the worker runs on its own thread).
fn wait(
    h: &mut Harness<'static, StylespaceApp>,
    what: &str,
    done: impl Fn(&StylespaceApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            break;
        }
        assert!(
            start.elapsed()
                < Duration::from_secs(
                    std::env::var("APP_TEST_TIMEOUT")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(240)
                ),
            "timed out waiting for {what}; {}",
            h.state().summary()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn idle(h: &mut Harness<'static, StylespaceApp>) {
    wait(h, "the worker to finish", |app| !app.busy());
    h.step();
}

fn output(h: &Harness<'static, StylespaceApp>) -> Vec<u8> {
    h.state().main_output_rgba().expect("a main output").2
}

/// A file dropped on the window, as eframe reports one.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn dropped(path: &Path) -> egui::DroppedFileHandle {
    std::sync::Arc::new(Dropped(path.to_path_buf()))
}

/// Sets style slider `i` (1-based) as assistive technology would.
fn set_slider(h: &Harness<'static, StylespaceApp>, i: usize, value: f64) {
    h.get_by_role_and_label(Role::Slider, &format!("style {i}"))
        .set_value_accesskit(value);
}

fn snapshot(h: &mut Harness<'static, StylespaceApp>, name: &str) {
    h.state_mut().clear_toasts();
    h.run_steps(2);
    h.snapshot(name);
}

/// Starts the app and waits for its first translation to be on screen and the worker idle.
fn started(options: AppOptions) -> Harness<'static, StylespaceApp> {
    let mut h = harness(options);
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some()
    });
    idle(&mut h);
    h
}

/// Makes every image both a row and a column of the swap grid, chosen by hand. The tiny test
/// model reproduces both fixtures about equally (badly): its domain tags are noise (a.png is open
/// between a and b, which takes it out of the columns), so grids that want both images pin them.
fn every_image_a_row_and_a_column(h: &mut Harness<'static, StylespaceApp>) {
    let ids: Vec<_> = h.state().state.images.iter().map(|e| e.id).collect();
    for id in ids {
        h.state_mut().act(Action::SetGridRoles {
            id,
            in_rows: true,
            in_cols: true,
        });
    }
    h.run_steps(2);
}

#[test]
fn a_dropped_image_becomes_the_content_on_the_shared_gpu_device() {
    let mut h = started(options(DeviceChoice::Wgpu, vec![fixture("a.png")]));
    assert!(h.state().backend_description.contains("shared with the UI"));
    let first = output(&h);
    h.input_mut().dropped_files.push(dropped(&fixture("b.png")));
    wait(&mut h, "the dropped image", |app| {
        app.state.images.len() == 2
    });
    idle(&mut h);
    assert_eq!(h.state().state.content, Some(h.state().state.images[1].id));
    assert_ne!(first, output(&h), "a new content image changes the output");
    snapshot(&mut h, "translate");
}

/// The translation fills the view at any window size: whole and inside the window at 800x600,
/// larger at 1600x1000, with every control reachable.
#[test]
fn the_canvas_scales_with_the_window() {
    let mut sides = Vec::new();
    let mut snapshots = egui_kittest::SnapshotResults::new();
    for (w, h_) in [(800.0, 600.0), (1600.0, 1000.0)] {
        let mut h = sized_harness(
            options(DeviceChoice::Wgpu, vec![fixture("a.png")]),
            egui::vec2(w, h_),
        );
        wait(&mut h, "the first translation", |app| {
            app.main_output_rgba().is_some()
        });
        idle(&mut h);
        snapshot(&mut h, &format!("translate_{w}x{h_}"));
        let rect = h.get_by_label("translation").rect();
        assert!(
            rect.min.x >= 0.0 && rect.min.y >= 0.0 && rect.max.x <= w && rect.max.y <= h_,
            "the translation {rect:?} is whole inside {w}x{h_}"
        );
        for control in ["Random", "Zero", "Fit", "Translate", "Interpolation"] {
            h.get_by_label(control);
        }
        h.get_by_role_and_label(Role::Slider, "style 8");
        sides.push(rect.width());
        snapshots.extend(h.take_snapshot_results());
    }
    assert!(
        sides[1] > sides[0] * 1.5,
        "the translation grows with the window: {sides:?}"
    );
}

/// On the bundled MUNIT model (what a newcomer sees first).
#[test]
fn a_slider_drag_random_and_undo_change_the_picture() {
    let mut opts = options(DeviceChoice::Cpu, vec![fixture("a.png")]);
    opts.model = None;
    let mut h = started(opts);
    let bundled = ModelSource::Folder(stylespace::engine::bundled_model());
    assert_eq!(h.state().state.settings.model, Some(bundled));
    let first = output(&h);
    set_slider(&h, 1, 2.5);
    wait(&mut h, "the slider render", |app| {
        app.main_output_style()
            .is_some_and(|s| (s[0] - 2.5).abs() < 1e-6)
    });
    idle(&mut h);
    let slid = output(&h);
    assert_ne!(slid, first, "moving a style slider changes the output");
    let after_slider = h.state().state.style.clone();

    h.get_by_label("Random").click();
    h.run_steps(2);
    idle(&mut h);
    assert_ne!(
        h.state().state.style,
        after_slider,
        "Random replaces the code"
    );
    assert_ne!(output(&h), slid);

    // Undo brings the slider's code back, and its picture.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    idle(&mut h);
    assert_eq!(h.state().state.style, after_slider);
    assert_eq!(output(&h), slid);

    // Ctrl+Y redoes (as Ctrl+Shift+Z does).
    let random = {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
        h.run_steps(2);
        h.state().state.style.clone()
    };
    assert_ne!(random, after_slider, "Ctrl+Y brought the random code back");
}

#[test]
fn the_swap_grid_renders_rows_times_columns_and_swaps_roles() {
    let mut h = started(options(
        DeviceChoice::Wgpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    every_image_a_row_and_a_column(&mut h);
    h.state_mut().act(Action::SetView(View::Swap));
    wait(&mut h, "the swap grid", |app| {
        app.rendered_swap_cells() == 4
    });
    idle(&mut h);
    snapshot(&mut h, "swap_grid");
    // With every image both a row and a column, "Swap roles" is disabled (it would change
    // nothing); once the first image is only a row, it makes it only a column.
    assert!(h.get_by_label("Swap roles").accesskit_node().is_disabled());
    let first = h.state().state.images[0].id;
    h.state_mut().act(Action::SetGridRoles {
        id: first,
        in_rows: true,
        in_cols: false,
    });
    h.run_steps(2);
    h.get_by_label("Swap roles").click();
    h.run_steps(2);
    let entry = &h.state().state.images[0];
    assert!(!entry.in_rows && entry.in_cols, "roles swapped");
}

#[test]
fn the_sample_grid_and_the_interpolation_render() {
    let mut h = started(options(
        DeviceChoice::Wgpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    let seed = h.state().state.settings.sample_seed;
    h.state_mut().act(Action::SetView(View::Samples));
    h.state_mut().act(Action::SetSampleGrid { seed, count: 4 });
    wait(&mut h, "the sample grid", |app| app.rendered_samples() == 4);
    idle(&mut h);
    snapshot(&mut h, "samples");
    h.state_mut().act(Action::SetView(View::Interpolate));
    h.state_mut().act(Action::SetInterpolationT(0.5));
    wait(&mut h, "the interpolation", |app| app.has_interpolation());
    idle(&mut h);
    snapshot(&mut h, "interpolate");
}

/// Every export honours the chosen scale: cells, frames and the clipboard image grow with it.
#[test]
fn every_export_is_written_at_the_chosen_scale() {
    let mut h = started(options(
        DeviceChoice::Cpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    every_image_a_row_and_a_column(&mut h);
    let seed = h.state().state.settings.sample_seed;
    h.state_mut().act(Action::SetSampleGrid { seed, count: 2 });
    let mut interpolation = h.state().state.settings.interpolation.clone();
    interpolation.frames = 3;
    interpolation.back_and_forth = true;
    h.state_mut().act(Action::SetInterpolation(interpolation));
    let side = h.state().main_output_rgba().unwrap().0 as u32;
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for scale in [1u32, 4] {
        h.state_mut().act(Action::SetExportScale(scale));
        let targets = [
            SaveTarget::Png,
            SaveTarget::SampleGrid,
            SaveTarget::SwapGrid,
            SaveTarget::Strip,
            SaveTarget::Gif,
        ];
        let paths: Vec<PathBuf> = targets
            .iter()
            .map(|t| {
                dir.path().join(format!(
                    "{t:?}-{scale}.{}",
                    if *t == SaveTarget::Gif { "gif" } else { "png" }
                ))
            })
            .collect();
        for (target, path) in targets.iter().zip(&paths) {
            h.state_mut().export_to(*target, path.clone(), false);
        }
        wait(&mut h, "the exports", |_| paths.iter().all(|p| p.is_file()));
        let dims: Vec<(u32, u32)> = paths[..4]
            .iter()
            .map(|p| image::image_dimensions(p).unwrap())
            .collect();
        let gif = {
            use image::AnimationDecoder;
            let reader = std::io::BufReader::new(std::fs::File::open(&paths[4]).unwrap());
            let frames: Vec<_> = image::codecs::gif::GifDecoder::new(reader)
                .unwrap()
                .into_frames()
                .collect::<Result<_, _>>()
                .unwrap();
            (frames.len(), frames[0].buffer().dimensions())
        };
        let cell = side * scale;
        assert_eq!(dims[0], (cell, cell), "PNG at scale {scale}");
        assert_eq!(
            dims[1].0,
            2 * (cell + 4) + 4,
            "sample grid width at scale {scale}"
        );
        assert_eq!(
            dims[3],
            (3 * (cell + 4) + 4, cell + 8),
            "strip at scale {scale}"
        );
        assert_eq!(
            gif,
            (4, (cell, cell)),
            "GIF: 3 frames and 1 back, at scale {scale}"
        );
        sizes.push(dims);
    }
    // The swap grid (2 x 2 cells, labels of fixed size) grows by its cells only.
    let (small, large) = (sizes[0][2], sizes[1][2]);
    assert_eq!(large.0 - small.0, 2 * side * 3);
    assert_eq!(large.1 - small.1, 2 * side * 3);
    assert_eq!(
        sizes[1][1].1 - sizes[0][1].1,
        side * 3,
        "sample grid: one row"
    );

    // Saved codes export as a batch: one PNG per code, named after it, at the scale.
    h.state_mut().act(Action::SaveCurrentCode);
    h.state_mut().act(Action::RandomStyle { seed: 99 });
    h.state_mut().act(Action::SaveCurrentCode);
    let base = dir.path().join("codes.png");
    h.state_mut().export_to(SaveTarget::SavedCodes, base, false);
    let files = [
        dir.path().join("codes-code_1.png"),
        dir.path().join("codes-code_2.png"),
    ];
    wait(&mut h, "the batch", |_| files.iter().all(|f| f.is_file()));
    let (a, b) = (
        image::open(&files[0]).unwrap(),
        image::open(&files[1]).unwrap(),
    );
    assert_eq!(a.width(), side * 4);
    assert!(a.to_rgb8() != b.to_rgb8(), "each file has its own code");
}

#[test]
fn exports_decode_and_an_existing_file_is_not_replaced_without_asking() {
    let mut h = started(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("out.png");
    let gif = dir.path().join("interp.gif");
    h.state_mut().act(Action::SetExportScale(2));
    h.state_mut().export_to(SaveTarget::Png, png.clone(), false);
    let mut interpolation = h.state().state.settings.interpolation.clone();
    interpolation.frames = 5;
    h.state_mut().act(Action::SetInterpolation(interpolation));
    h.state_mut().export_to(SaveTarget::Gif, gif.clone(), false);
    wait(&mut h, "the exports", |_| png.is_file() && gif.is_file());
    let decoded = image::open(&png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (128, 128));
    let frames = {
        use image::AnimationDecoder;
        let reader = std::io::BufReader::new(std::fs::File::open(&gif).unwrap());
        image::codecs::gif::GifDecoder::new(reader)
            .unwrap()
            .into_frames()
            .count()
    };
    assert_eq!(frames, 5);
    let before = std::fs::read(&png).unwrap();
    h.state_mut().export_to(SaveTarget::Png, png.clone(), false);
    h.run_steps(3);
    assert!(
        h.state().asks_to_replace(),
        "an existing file needs confirmation"
    );
    h.get_by_label("Cancel").click();
    h.run_steps(3);
    idle(&mut h);
    assert!(!h.state().asks_to_replace());
    assert_eq!(std::fs::read(&png).unwrap(), before);

    // A folder that takes no files (/proc, even for root): a message, nothing written.
    let nowhere = Path::new("/proc/stylespace-export.png");
    h.state_mut()
        .export_to(SaveTarget::Png, nowhere.to_path_buf(), false);
    wait(&mut h, "the failed export", |app| {
        app.toast_texts()
            .iter()
            .any(|t| t.contains("Could not save /proc/stylespace-export.png"))
    });
    assert!(!nowhere.exists());
    // A style-code set with a code of the wrong length: a message, the saved codes unchanged.
    let saved = h.state().state.settings.saved_codes.clone();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"style_dim": 8, "codes": [{"name": "x", "code": [1, 2]}]}"#,
    )
    .unwrap();
    h.state_mut().load_styles(&bad);
    h.run_steps(2);
    assert!(
        (h.state().toast_texts().iter()).any(|t| t.contains("has 2 values")),
        "{:?}",
        h.state().toast_texts()
    );
    assert_eq!(h.state().state.settings.saved_codes, saved);

    // A screenshot (F12) is written without any further input: the app keeps frames coming
    // until it is saved.
    let shot = dir.path().join("shot.png");
    h.state_mut()
        .export_to(SaveTarget::Screenshot, shot.clone(), false);
    h.run();
    assert!(
        shot.is_file(),
        "the screenshot was written by the frames the app asked for"
    );
}

#[test]
fn slider_moves_run_no_encoder_and_read_nothing_back_on_wgpu() {
    let mut h = harness(options(DeviceChoice::Wgpu, vec![fixture("a.png")]));
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some()
    });
    idle(&mut h);
    let counters = h.state().counters();
    let content_encodes = counters.content_encodes.load(Ordering::Relaxed);
    let style_encodes = counters.style_encodes.load(Ordering::Relaxed);
    let renders = counters.renders.load(Ordering::Relaxed);
    assert_eq!(counters.display_readback_bytes.load(Ordering::Relaxed), 0);

    for i in 0..100 {
        let value = -2.0 + 4.0 * (i as f64) / 99.0;
        set_slider(&h, 1 + i % 8, value);
        h.step();
    }
    idle(&mut h);
    let expected = h.state().state.style.clone();
    assert_eq!(h.state().main_output_style(), Some(expected.as_slice()));

    let counters = h.state().counters();
    assert_eq!(
        counters.content_encodes.load(Ordering::Relaxed),
        content_encodes
    );
    assert_eq!(
        counters.style_encodes.load(Ordering::Relaxed),
        style_encodes
    );
    assert_eq!(counters.display_readback_bytes.load(Ordering::Relaxed), 0);
    let new_renders = counters.renders.load(Ordering::Relaxed) - renders;
    assert!(
        (1..=100).contains(&new_renders),
        "100 moves gave {new_renders} renders (coalesced, at most one per move)"
    );

    // The texture the shader wrote holds the same pixels as the CPU conversion (export path).
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("main.png");
    h.state_mut().export_to(SaveTarget::Png, png.clone(), false);
    wait(&mut h, "the export", |_| png.is_file());
    let exported = image::open(&png).unwrap().to_rgba8();
    let (w, hgt, shown) = h.state().main_output_rgba().unwrap();
    assert_eq!((w as u32, hgt as u32), exported.dimensions());
    let worst = shown
        .iter()
        .zip(exported.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "texture and exported pixels differ by {worst}/255"
    );
}

#[test]
fn cpu_backend_uploads_pixels_and_bad_drops_keep_the_state() {
    let mut h = harness(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    assert!(h.state().backend_description.starts_with("cpu"));
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some()
    });
    idle(&mut h);
    let first = output(&h);
    set_slider(&h, 3, -2.0);
    wait(&mut h, "the slider render", |app| {
        app.main_output_style()
            .is_some_and(|s| (s[2] + 2.0).abs() < 1e-6)
    });
    idle(&mut h);
    assert_ne!(output(&h), first);
    assert!(
        h.state()
            .counters()
            .display_readback_bytes
            .load(Ordering::Relaxed)
            > 0
    );

    // A file that is not an image: a toast, and nothing else changes.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"this is not a png").unwrap();
    let style = h.state().state.style.clone();
    let content = h.state().state.content;
    h.input_mut().dropped_files.push(dropped(&bad));
    h.run_steps(3);
    assert_eq!(h.state().state.images.len(), 1);
    assert_eq!(h.state().state.style, style);
    assert_eq!(h.state().state.content, content);
    assert!(
        h.state()
            .toast_texts()
            .iter()
            .any(|t| t.contains("broken.png"))
    );

    // Six bad files at once: every message stays in the session's log, which the status bar
    // opens, even after the toasts are gone.
    let bad: Vec<PathBuf> = (0..6)
        .map(|i| {
            let path = dir.path().join(format!("bad-{i}.jpg"));
            std::fs::write(&path, b"not an image").unwrap();
            path
        })
        .collect();
    for path in &bad {
        h.input_mut().dropped_files.push(dropped(path));
    }
    h.run_steps(2);
    h.state_mut().clear_toasts();
    let log: Vec<String> = h
        .state()
        .message_log()
        .iter()
        .map(|m| m.text.clone())
        .collect();
    for i in 0..6 {
        let name = format!("bad-{i}.jpg");
        assert!(log.iter().any(|t| t.contains(&name)), "{name} in {log:?}");
    }
    h.get_by_label_contains("Messages (").click();
    h.run_steps(2);
    assert!(h.state().show_log);
    assert!(
        h.query_all_by_label_contains("bad-5.jpg").count() >= 1,
        "the log panel lists the messages"
    );

    // A style code pasted as text (as "Copy style code" writes it) becomes the code; one of the
    // wrong length is refused with a message.
    let code = "[0.5, -0.25, 1, 0, 0, 0, 0, 2]";
    h.event(egui::Event::Paste(code.into()));
    h.run_steps(2);
    assert_eq!(
        h.state().state.style,
        [0.5, -0.25, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0]
    );
    h.event(egui::Event::Paste("1, 2".into()));
    h.run_steps(2);
    assert_eq!(h.state().state.style[7], 2.0);
    assert!(
        h.state()
            .toast_texts()
            .iter()
            .any(|t| t.contains("has 2 values"))
    );
}

/// A model that fails to open ends every wait: no spinner turns on, the reason is shown where
/// the translation would be and the image says it is not encoded.
#[test]
fn a_failed_model_ends_every_spinner_with_its_reason() {
    let mut opts = options(DeviceChoice::Cpu, vec![fixture("a.png")]);
    opts.model = Some(ModelSource::Folder(PathBuf::from("/nonexistent/model")));
    let mut h = harness(opts);
    wait(&mut h, "the failure", |app| {
        matches!(app.state.model, stylespace::app::ModelState::Failed(..))
    });
    h.run_steps(2);
    assert!(!h.state().busy(), "{}", h.state().summary());
    assert!(h.query_all_by_label_contains("could not be opened").count() >= 1);
    assert!(h.query_all_by_label_contains("not encoded").count() >= 1);
}

/// Where no native file dialog can be shown, opening and saving work with a typed path.
#[test]
fn a_typed_path_opens_and_saves_without_a_native_dialog() {
    use stylespace::app::commands::Command;
    let mut h = started(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    let answer = |h: &mut Harness<'static, StylespaceApp>, command, path: &Path| {
        h.state_mut().prompt_for_command(command);
        h.run_steps(2);
        assert!(h.state().path_prompt().is_some());
        h.get_by_role(Role::TextInput)
            .set_text_value_accesskit(&path.display().to_string());
        h.run_steps(2);
        h.get_by_label("OK").click();
        h.run_steps(2);
        assert!(h.state().path_prompt().is_none());
    };
    answer(&mut h, Command::OpenImage, &fixture("b.png"));
    wait(&mut h, "the typed image", |app| app.state.images.len() == 2);
    idle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("typed.png");
    answer(&mut h, Command::ExportPng, &png);
    wait(&mut h, "the typed save", |_| png.is_file());
}

#[test]
fn the_session_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("session.json");
    let mut opts = options(DeviceChoice::Cpu, vec![fixture("b.png")]);
    opts.session_path = Some(session.clone());
    {
        let mut h = harness(opts.clone());
        wait(&mut h, "the first translation", |app| {
            app.main_output_rgba().is_some()
        });
        set_slider(&h, 2, 1.25);
        h.run_steps(3);
        h.state_mut().act(Action::SetView(View::Samples));
        h.state_mut().act(Action::SaveCurrentCode);
        // A pasted image (no file of its own) and swap-grid roles come back too.
        let pasted = image::open(fixture("a.png")).unwrap().to_rgba8();
        h.event(egui::Event::PasteImage(std::sync::Arc::new(
            egui::ColorImage::from_rgba_unmultiplied(
                [pasted.width() as usize, pasted.height() as usize],
                pasted.as_raw(),
            ),
        )));
        h.run_steps(2);
        let first = h.state().state.images[0].id;
        h.state_mut().act(Action::SetGridRoles {
            id: first,
            in_rows: false,
            in_cols: true,
        });
        h.state_mut().act(Action::SelectContent(first));
        h.run_steps(2);
        eframe::App::on_exit(h.state_mut());
    }
    assert!(session.is_file());
    opts.images.clear();
    opts.model = None;
    let mut h = harness(opts);
    wait(&mut h, "the restored translation", |app| {
        app.main_output_rgba().is_some()
    });
    let app = h.state();
    assert_eq!(app.state.images.len(), 2, "{}", app.summary());
    assert_eq!(
        app.state.images[0].path.as_deref(),
        Some(fixture("b.png").as_path())
    );
    let first = &app.state.images[0];
    assert!(!first.in_rows && first.in_cols, "roles restored");
    assert_eq!(app.state.content, Some(first.id));
    let pasted = &app.state.images[1];
    assert!(pasted.name.starts_with("pasted-"), "{}", pasted.name);
    assert!(
        pasted
            .path
            .as_ref()
            .is_some_and(|p| p.starts_with(dir.path())),
        "the pasted image is kept beside the session: {:?}",
        pasted.path
    );
    assert!((app.state.style[1] - 1.25).abs() < 1e-6);
    assert_eq!(app.state.settings.view, View::Samples);
    assert_eq!(app.state.settings.saved_codes.len(), 1);
    assert_eq!(app.state.settings.model, Some(tiny_model()));
    let saved = stylespace::app::session::Session::load(&session).0;
    assert_eq!(
        saved.settings.window_size,
        Some([1100.0, 720.0]),
        "the window size is remembered"
    );
}

/// DRIT++ (a `.pth` alone) and UNIT (YAML + `gen.pt`) open in the window and translate on the
/// CPU backend; DRIT's attribute sliders change the picture, UNIT has no style code.
#[test]
fn drit_and_unit_models_translate_in_the_window() {
    let family_fixture = |dir: &str, name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir)
            .join(name)
    };
    let drit = ModelSource::Checkpoint(family_fixture("drit-tiny", "drit.pth"));
    let unit = ModelSource::Official {
        config: family_fixture("unit-tiny", "config.yaml"),
        checkpoint: family_fixture("unit-tiny", "gen.pt"),
    };
    for (model, has_style) in [(drit, true), (unit, false)] {
        let mut opts = options(DeviceChoice::Cpu, vec![fixture("a.png")]);
        opts.model = Some(model.clone());
        let mut h = harness(opts);
        wait(&mut h, "the first translation", |app| {
            app.main_output_rgba().is_some()
        });
        idle(&mut h);
        assert_eq!(
            h.state().state.style.len(),
            if has_style { 8 } else { 0 },
            "{model:?}"
        );
        // A dropped image becomes the content and is translated by this model.
        let before_drop = output(&h);
        h.input_mut().dropped_files.push(dropped(&fixture("b.png")));
        wait(&mut h, "the dropped image", |app| {
            app.state.images.len() == 2
        });
        idle(&mut h);
        assert_ne!(
            output(&h),
            before_drop,
            "{model:?}: the dropped image is translated"
        );
        let first = output(&h);
        if !has_style {
            // UNIT: latent noise changes the picture at amount > 0 and not at 0.
            let noise = |h: &mut Harness<'static, StylespaceApp>, amount: f64| {
                h.get_by_role_and_label(Role::Slider, "noise amount")
                    .set_value_accesskit(amount);
                h.run_steps(2);
                idle(h);
            };
            noise(&mut h, 1.0);
            assert_ne!(output(&h), first, "noise varies UNIT's translation");
            noise(&mut h, 0.0);
            assert_eq!(
                output(&h),
                first,
                "amount 0 is the deterministic translation"
            );
            continue;
        }
        // DRIT's sliders are named after its code: the attribute.
        h.get_by_role_and_label(Role::Slider, "attribute 3")
            .set_value_accesskit(-2.0);
        wait(&mut h, "the slider render", |app| {
            app.main_output_style()
                .is_some_and(|s| (s[2] + 2.0).abs() < 1e-6)
        });
        idle(&mut h);
        assert_ne!(output(&h), first, "the attribute changes the translation");
    }
}

/// A removed image's content code leaves the worker at once; undo brings the image back and
/// encodes it again.
#[test]
fn removed_images_leave_the_worker_and_undo_restores_them() {
    let mut h = harness(options(
        DeviceChoice::Cpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some()
    });
    idle(&mut h);
    let held = |h: &Harness<'static, StylespaceApp>| {
        h.state()
            .counters()
            .content_codes_held
            .load(Ordering::Relaxed)
    };
    assert_eq!(held(&h), 2);
    let id = h.state().state.images[0].id;
    h.state_mut().act(Action::RemoveImage(id));
    h.run_steps(2);
    idle(&mut h);
    assert_eq!(held(&h), 1, "the removed image's code is forgotten");
    assert_eq!(h.state().state.images_kept_for_undo(), 1);
    h.state_mut().act(Action::Undo);
    wait(&mut h, "the image to come back", |app| {
        app.state.images.len() == 2
    });
    idle(&mut h);
    assert_eq!(held(&h), 2, "undo encodes it again");
}

/// Opening a model of another family keeps the images (encoded again), gives a fresh code of
/// the new model's size and starts a new undo history.
#[test]
fn switching_family_keeps_images_and_starts_a_new_history() {
    let family_fixture = |dir: &str, name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir)
            .join(name)
    };
    let mut h = harness(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    wait(&mut h, "the first translation", |app| {
        app.main_output_rgba().is_some()
    });
    idle(&mut h);
    h.state_mut().act(Action::RandomStyle { seed: 7 });
    h.run_steps(2);
    assert!(h.state().state.can_undo());
    let munit_style = h.state().state.style.clone();
    h.state_mut()
        .act(Action::OpenModel(ModelSource::Checkpoint(family_fixture(
            "drit-tiny",
            "drit.pth",
        ))));
    wait(&mut h, "the DRIT translation", |app| {
        app.state
            .style_space()
            .is_some_and(|(f, _)| f == stylespace::engine::Family::Drit)
            && app.main_output_rgba().is_some_and(|(w, _, _)| w == 216)
    });
    idle(&mut h);
    assert_eq!(h.state().state.images.len(), 1);
    assert_ne!(h.state().state.style, munit_style, "a fresh attribute");
    assert!(!h.state().state.can_undo(), "no undo across a model switch");
    h.state_mut().act(Action::OpenModel(ModelSource::Official {
        config: family_fixture("unit-tiny", "config.yaml"),
        checkpoint: family_fixture("unit-tiny", "gen.pt"),
    }));
    wait(&mut h, "the UNIT translation", |app| {
        app.state
            .style_space()
            .is_some_and(|(f, _)| f == stylespace::engine::Family::Unit)
            && app.main_output_rgba().is_some_and(|(w, _, _)| w == 64)
    });
    idle(&mut h);
    assert!(h.state().state.style.is_empty());
    assert_eq!(h.state().state.images.len(), 1);
}

/// `count` small distinct pictures (colour fields with a shape) as PNG files in `dir`.
fn picture_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let hue = i as f32 / count as f32;
            let image = image::RgbImage::from_fn(48, 48, |x, y| {
                let inside =
                    (x as i32 - 24).pow(2) + (y as i32 - 24).pow(2) < (8 + 2 * i as i32).pow(2);
                let base = [
                    (255.0 * hue) as u8,
                    (255.0 * (1.0 - hue)) as u8,
                    (40 * (i % 4)) as u8,
                ];
                if inside {
                    image::Rgb([base[2], base[0], base[1]])
                } else {
                    image::Rgb(base)
                }
            });
            let path = dir.join(format!("picture-{i}.png"));
            image.save(&path).unwrap();
            path
        })
        .collect()
}

#[test]
fn the_style_map_lays_out_codes_and_its_marker_restyles() {
    let dir = tempfile::tempdir().unwrap();
    let files = picture_files(dir.path(), 8);
    let mut h = started(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    h.state_mut().act(Action::SetView(View::Map));
    h.state_mut().act(Action::AddMapFiles(files));
    wait(&mut h, "8 codes on the map", |app| {
        app.state.map.files.len() == 8 && app.state.map.loading.is_none()
    });
    idle(&mut h);
    h.run_steps(2);
    let pca = h
        .state()
        .state
        .style_pca()
        .expect("principal axes of 8 codes");
    let ratio = pca.explained_variance_ratio();
    assert!(ratio[0] >= ratio[1] && ratio[1] > 0.0, "{ratio:?}");
    let start_code = h.state().state.style.clone();
    let start_pixels = output(&h);
    let marker = stylespace::app::map_marker_position(&h.ctx).expect("the marker is drawn");

    // Drag the ring away: the code moves in the plane of the two axes and the output follows.
    h.hover_at(marker);
    h.run_steps(1);
    h.drag_at(marker);
    h.run_steps(1);
    let away = marker + egui::vec2(60.0, -35.0);
    for step in 1..=5 {
        h.hover_at(marker + (away - marker) * (step as f32 / 5.0));
        h.run_steps(1);
    }
    let moved = h.state().state.style.clone();
    assert_ne!(moved, start_code);
    let moved_coords = pca.project(&moved, pca.dim());
    let start_coords = pca.project(&start_code, pca.dim());
    assert!(moved_coords[0] > start_coords[0] && moved_coords[1] > start_coords[1]);
    for k in 2..pca.dim() {
        assert!(
            (moved_coords[k] - start_coords[k]).abs() < 1e-4,
            "component {k} moved"
        );
    }
    wait(&mut h, "the dragged code's translation", |app| {
        app.main_output_style() == Some(moved.as_slice())
    });
    assert_ne!(output(&h), start_pixels);

    // And back where it started: exactly the starting code, and the same pixels.
    h.hover_at(marker);
    h.run_steps(1);
    h.drop_at(marker);
    h.run_steps(2);
    assert_eq!(h.state().state.style, start_code);
    wait(&mut h, "the starting code's translation", |app| {
        app.main_output_style() == Some(start_code.as_slice())
    });
    idle(&mut h);
    assert_eq!(output(&h), start_pixels);
    snapshot(&mut h, "style_map");

    // Principal-direction sliders: PC 1 moves the code along the first axis only; undo and
    // saved codes work as with the raw sliders.
    h.state_mut()
        .act(Action::SetSliderMode(SliderMode::Principal));
    h.run_steps(2);
    assert_eq!(h.query_all_by_label_contains("style 1").count(), 0);
    let coords = pca.project(&start_code, pca.dim());
    let label = format!("PC 1 ({:.0} %)", 100.0 * ratio[0]);
    h.get_by_role_and_label(Role::Slider, &label)
        .set_value_accesskit(f64::from(coords[0] + 1.0));
    h.run_steps(2);
    let moved = h.state().state.style.clone();
    let moved_coords = pca.project(&moved, pca.dim());
    // The slider shows (and sets) two decimals.
    assert!(
        (moved_coords[0] - coords[0] - 1.0).abs() < 0.006,
        "{moved_coords:?}"
    );
    for k in 1..pca.dim() {
        assert!(
            (moved_coords[k] - coords[k]).abs() < 1e-4,
            "component {k} moved"
        );
    }
    h.state_mut().act(Action::SaveCurrentCode);
    let saved = h
        .state()
        .state
        .settings
        .saved_codes
        .last()
        .unwrap()
        .code
        .clone();
    assert_eq!(saved, moved);
    h.state_mut().act(Action::Undo);
    assert_eq!(h.state().state.style, start_code);
}

/// The bundled model's domains in the window: line art is not taken for colour (tagged a, or
/// "a or b" where both domains' autoencoders reproduce it about as well) and is not offered as a
/// style reference (its style gives colourless results), a colour glyph is tagged b and offered, a
/// photo is flagged as unlike both, and a colour content image brings a hint to swap direction.
#[test]
fn images_are_tagged_with_their_domain_and_references_follow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let line_art = root.join("assets/samples/sample-1.png");
    let colour = root.join("tests/fixtures/images/openmoji-1F319-colour.png");
    let photo = root.join("tests/fixtures/images/photo-cat.png");
    let mut opts = options(DeviceChoice::Cpu, vec![line_art, photo, colour]);
    opts.model = Some(ModelSource::Folder(stylespace::engine::bundled_model()));
    let mut h = started(opts);
    wait(&mut h, "every image's domain", |app| {
        app.state.images.iter().all(|e| e.domain.is_some())
    });
    idle(&mut h);
    h.run_steps(2);
    let tagged: Vec<(String, bool, bool)> = (h.state().state.images.iter())
        .map(|e| {
            let fit = e.domain.unwrap();
            (fit.likely_name(), fit.far_from_both(), e.in_cols)
        })
        .collect();
    // Line art: not taken for the target domain (its error in b is not clearly the lower), so
    // not offered as a style reference.
    assert!(
        tagged[0].0 != "b" && !tagged[0].1 && !tagged[0].2,
        "line art: {tagged:?}"
    );
    assert!(tagged[1].1, "the photo is far from both: {tagged:?}");
    assert_eq!(tagged[2], ("b".to_string(), false, true), "colour");
    // Style from image offers the colour glyph only (the photo's roles are left alone, but it
    // is no reference either); the others behind "all images".
    assert_eq!(h.query_all_by_label("openmoji-1F319-colour.png").count(), 2);
    assert_eq!(h.query_all_by_label("sample-1.png").count(), 1);
    assert!(h.query_all_by_label_contains("all images (2 more)").count() == 1);
    let log: Vec<String> = (h.state().message_log().iter())
        .map(|m| m.text.clone())
        .collect();
    assert!(
        log.iter()
            .any(|t| t.contains("photo-cat.png looks unlike both domains")),
        "{log:?}"
    );
    // The colour glyph is the content (added last): the window suggests b -> a.
    h.get_by_label("Translate b -> a").click();
    h.run_steps(2);
    assert_eq!(h.state().state.source, stylespace::Domain::B);
    assert_eq!(h.query_all_by_label("Translate b -> a").count(), 0);
}

#[test]
fn effect_maps_follow_the_code_under_the_sliders() {
    let mut h = started(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    h.get_by_label("Effect maps").click();
    wait(&mut h, "effect maps of the current code", |app| {
        app.effect_maps_shown() == Some((8, true))
    });
    h.run_steps(2);
    assert_eq!(h.query_all_by_label_contains("effect of style").count(), 8);
    // A new code: the maps follow (the old ones stay until the new ones are in).
    set_slider(&h, 2, 1.25);
    h.run_steps(1);
    assert_eq!(h.state().effect_maps_shown(), Some((8, false)));
    wait(&mut h, "the new code's effect maps", |app| {
        app.effect_maps_shown() == Some((8, true))
    });
    assert!(h.state().state.settings.show_effects);
    snapshot(&mut h, "effect_maps");

    // Exported as one labelled row: the translation and the 8 maps, 64 px each, 4 px apart.
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("effects.png");
    h.state_mut()
        .export_to(SaveTarget::Effects, grid.clone(), false);
    wait(&mut h, "the effect-map export", |_| grid.is_file());
    let (width, height) = image::image_dimensions(&grid).unwrap();
    assert_eq!(width, 9 * 64 + 10 * 4, "{width}x{height}");

    // Hovering a slider lays its map over the output.
    let translation = h.get_by_label("translation").rect();
    let inside = |image: &image::RgbaImage| -> Vec<u8> {
        let (x0, y0) = (translation.min.x as u32 + 2, translation.min.y as u32 + 2);
        let (x1, y1) = (translation.max.x as u32 - 2, translation.max.y as u32 - 2);
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .flat_map(|(x, y)| image.get_pixel(x, y).0)
            .collect()
    };
    h.hover_at(egui::pos2(2.0, 700.0));
    h.run_steps(2);
    let plain = inside(&h.render().unwrap());
    let slider = h.get_by_role_and_label(Role::Slider, "style 3").rect();
    h.hover_at(slider.center());
    h.run_steps(2);
    let overlaid = inside(&h.render().unwrap());
    assert_ne!(
        plain, overlaid,
        "no map over the output while a slider is hovered"
    );
    h.hover_at(egui::pos2(2.0, 700.0));
    h.run_steps(2);
    assert_eq!(inside(&h.render().unwrap()), plain);
}

/// Mean absolute difference of two RGBA pictures over the columns `cols` (of `width`).
fn column_difference(a: &[u8], b: &[u8], width: usize, cols: std::ops::Range<usize>) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for (i, (x, y)) in a.chunks(4).zip(b.chunks(4)).enumerate() {
        if cols.contains(&(i % width)) {
            sum += (0..3).map(|c| x[c].abs_diff(y[c]) as u64).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

#[test]
fn the_region_brush_restyles_only_what_is_painted() {
    let mut h = started(options(DeviceChoice::Cpu, vec![fixture("a.png")]));
    let start = output(&h);
    h.state_mut().act(Action::SetRegion(true));
    let inside = h
        .state()
        .state
        .region_style
        .clone()
        .expect("an inside code");
    assert_ne!(inside, h.state().state.style);
    h.run_steps(2);
    idle(&mut h);
    assert_eq!(output(&h), start, "nothing painted yet, nothing changes");

    // A stroke down the left quarter of the input image.
    let input = h.get_by_label("input image").rect();
    let at = |x: f32, y: f32| {
        egui::pos2(
            input.min.x + x * input.width(),
            input.min.y + y * input.height(),
        )
    };
    h.hover_at(at(0.12, 0.05));
    h.run_steps(1);
    h.drag_at(at(0.12, 0.05));
    h.run_steps(1);
    for step in 1..=8 {
        h.hover_at(at(0.12, 0.05 + 0.9 * step as f32 / 8.0));
        h.run_steps(1);
    }
    h.drop_at(at(0.12, 0.95));
    h.run_steps(2);
    let mask = h
        .state()
        .state
        .content_mask()
        .expect("a painted mask")
        .mask()
        .clone();
    let (mw, _) = mask.dimensions();
    assert_eq!(mask.get_pixel(mw / 8, mask.height() / 2).0[0], 255);
    assert_eq!(mask.get_pixel(mw - 1, mask.height() / 2).0[0], 0);
    wait(&mut h, "the painted translation", |app| {
        app.main_output_rgba().is_some_and(|(_, _, px)| px != start)
    });
    idle(&mut h);
    let (width, _, painted) = h.state().main_output_rgba().unwrap();
    let left = column_difference(&painted, &start, width, 0..width / 4);
    let right = column_difference(&painted, &start, width, width * 3 / 4..width);
    assert!(
        left > 4.0 * right,
        "painted side changed {left:.2}, far side {right:.2}"
    );
    snapshot(&mut h, "region_brush");

    // The output PNG comes with its mask, at the input's size.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("mixed.png");
    h.state_mut().export_to(SaveTarget::Png, png.clone(), false);
    let mask_file = dir.path().join("mixed-mask.png");
    wait(&mut h, "the export", |_| {
        png.is_file() && mask_file.is_file()
    });
    let saved_mask = image::open(dir.path().join("mixed-mask.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(saved_mask.dimensions(), (64, 64));
    assert_eq!(saved_mask.get_pixel(8, 32).0[0], 255);
    assert_eq!(saved_mask.get_pixel(60, 32).0[0], 0);

    // The stroke is one undo step; undoing it brings back the plain translation.
    h.state_mut().act(Action::Undo);
    assert!(h.state().state.content_mask().is_none());
    h.run_steps(2);
    idle(&mut h);
    assert_eq!(output(&h), start);
}

/// Interpolation through several keyframes: the path passes through each, the strip shows the
/// whole path, a looped GIF does not repeat its start, and the swap grid runs every content
/// along the same path.
#[test]
fn paths_run_through_keyframes_in_the_player_the_exports_and_the_swap_grid() {
    use stylespace::app::session::SwapColumns;
    use stylespace::engine::worker::Slot;
    let mut h = started(options(
        DeviceChoice::Cpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    every_image_a_row_and_a_column(&mut h);
    h.state_mut().act(Action::SetView(View::Interpolate));
    let mut interpolation = h.state().state.settings.interpolation.clone();
    interpolation.start = vec![-1.0; 8];
    interpolation.end = vec![1.0; 8];
    interpolation.frames = 4;
    h.state_mut().act(Action::SetInterpolation(interpolation));
    // A third keyframe: the old end becomes a point on the way.
    let third = vec![3.0, 3.0, 3.0, 3.0, -1.0, -1.0, -1.0, -1.0];
    h.state_mut().act(Action::AddKeyframe(third.clone()));
    let keys = h.state().state.settings.interpolation.keyframes();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[1], vec![1.0; 8]);
    // Equal segment lengths (both sqrt(32)): the middle keyframe at t = 1/2.
    assert_eq!(h.state().state.interpolated(0.5), Some(vec![1.0; 8]));
    wait(&mut h, "the path strip", |app| {
        app.rendered_path_frames() == 8
    });
    idle(&mut h);
    let strip = h.state().state.path_strip_codes();
    assert_eq!(h.state().slot_style(Slot::PathFrame(0)), Some(&keys[0][..]));
    assert_eq!(h.state().slot_style(Slot::PathFrame(7)), Some(&third[..]));
    assert_eq!(strip.len(), 8);
    // A strip frame is a place on the path: clicking it moves the player there.
    h.get_by_label("path frame 8").click();
    h.run_steps(2);
    assert_eq!(h.state().state.interpolation_t, 1.0);
    snapshot(&mut h, "path");

    // Looped: four GIF frames, none back at the start, the last one on the way home.
    let mut interpolation = h.state().state.settings.interpolation.clone();
    interpolation.closed = true;
    h.state_mut().act(Action::SetInterpolation(interpolation));
    let codes = h.state().state.path_codes(4).unwrap();
    assert_eq!(codes[0], keys[0]);
    assert!(codes[1..].iter().all(|c| *c != keys[0]));
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("loop.gif");
    h.state_mut().export_to(SaveTarget::Gif, gif.clone(), false);
    wait(&mut h, "the GIF", |_| gif.is_file());
    let frames = {
        use image::AnimationDecoder;
        let reader = std::io::BufReader::new(std::fs::File::open(&gif).unwrap());
        image::codecs::gif::GifDecoder::new(reader)
            .unwrap()
            .into_frames()
            .count()
    };
    assert_eq!(frames, 4);

    // The swap grid's columns along the path: two contents x five frames; a cell is taken
    // with its content and its code.
    h.state_mut().act(Action::SetView(View::Swap));
    h.state_mut().act(Action::SetSwapColumns {
        columns: SwapColumns::Path,
        frames: 5,
    });
    wait(&mut h, "the path swap grid", |app| {
        app.rendered_swap_cells() == 10
    });
    idle(&mut h);
    let codes = h.state().state.swap_path_codes();
    assert_eq!(
        h.state().slot_style(Slot::Swap { row: 1, col: 2 }),
        Some(&codes[2][..])
    );
    snapshot(&mut h, "swap_path");
    h.get_by_label("swap cell 2, 3").click();
    h.run_steps(2);
    let state = &h.state().state;
    assert_eq!(state.style, codes[2]);
    assert_eq!(state.content, Some(state.images[1].id));
}

/// The style-space tools on the bundled model with real glyphs: the style map of ten colour
/// glyphs, principal sliders with effect maps, the region brush, a path through three keyframes
/// and the swap grid along it. Its snapshots are the README's pictures of the tools.
#[test]
fn a_tour_of_the_style_space_tools_on_the_bundled_model() {
    use stylespace::app::brush::BrushSettings;
    use stylespace::app::session::SwapColumns;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut glyphs: Vec<PathBuf> =
        std::fs::read_dir(root.join("tests/fixtures/images/openmoji-colour"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    glyphs.sort();
    let mut opts = options(
        DeviceChoice::Cpu,
        vec![
            root.join("assets/samples/sample-2.png"),
            root.join("assets/samples/sample-1.png"),
        ],
    );
    opts.model = Some(ModelSource::Folder(stylespace::engine::bundled_model()));
    let mut h = started(opts);

    // The style map.
    h.state_mut().act(Action::SetView(View::Map));
    h.state_mut().act(Action::AddMapFiles(glyphs.clone()));
    wait(&mut h, "ten glyphs on the map", |app| {
        app.state.map.files.len() == 10 && app.state.map.loading.is_none()
    });
    idle(&mut h);
    let codes: Vec<Vec<f32>> = (h.state().state.map.files.iter())
        .map(|f| f.code.clone())
        .collect();
    let ratio = h
        .state()
        .state
        .style_pca()
        .unwrap()
        .explained_variance_ratio();
    assert!(ratio[0] >= ratio[1] && ratio[1] > 0.0);
    snapshot(&mut h, "tour_map");

    // Principal-direction sliders and their effect maps.
    h.state_mut().act(Action::SetView(View::Translate));
    h.state_mut()
        .act(Action::SetSliderMode(SliderMode::Principal));
    h.state_mut().act(Action::SetEffects {
        show: true,
        step: 0.5,
    });
    wait(&mut h, "the principal directions' effect maps", |app| {
        app.effect_maps_shown() == Some((8, true))
    });
    idle(&mut h);
    assert_eq!(h.query_all_by_label_contains("effect of PC").count(), 8);
    snapshot(&mut h, "tour_effects");

    // The region brush: the top half takes a pale glyph's style.
    h.state_mut().act(Action::SetEffects {
        show: false,
        step: 0.5,
    });
    h.state_mut()
        .act(Action::SetSliderMode(SliderMode::Dimensions));
    h.run_steps(2);
    idle(&mut h);
    let plain = output(&h);
    h.state_mut().act(Action::SetRegion(true));
    h.state_mut().act(Action::SetRegionStyle(codes[7].clone()));
    h.state_mut().act(Action::SetBrush(BrushSettings {
        radius: 0.25,
        softness: 0.3,
        erase: false,
    }));
    h.state_mut().act(Action::PaintMask {
        from: [0.0, 0.2],
        to: [1.0, 0.2],
    });
    h.state_mut().act(Action::Commit);
    wait(&mut h, "the painted translation", |app| {
        app.main_output_rgba().is_some_and(|(_, _, px)| px != plain)
    });
    idle(&mut h);
    let (width, _, painted) = h.state().main_output_rgba().unwrap();
    let rows = |px: &[u8], from: usize, to: usize| px[from * width * 4..to * width * 4].to_vec();
    let height = painted.len() / 4 / width;
    assert_ne!(rows(&painted, 0, height / 4), rows(&plain, 0, height / 4));
    snapshot(&mut h, "tour_region");
    h.state_mut().act(Action::SetRegion(false));

    // A path through three glyphs' styles, and the swap grid along it.
    h.state_mut().act(Action::SetView(View::Interpolate));
    h.state_mut().act(Action::SetKeyframe {
        index: 0,
        code: codes[0].clone(),
    });
    h.state_mut().act(Action::SetKeyframe {
        index: 1,
        code: codes[4].clone(),
    });
    h.state_mut().act(Action::AddKeyframe(codes[7].clone()));
    h.state_mut().act(Action::SetInterpolationT(0.35));
    wait(&mut h, "the path strip", |app| {
        app.rendered_path_frames() == 8
    });
    idle(&mut h);
    snapshot(&mut h, "tour_path");
    h.state_mut().act(Action::SetView(View::Swap));
    h.state_mut().act(Action::SetSwapColumns {
        columns: SwapColumns::Path,
        frames: 6,
    });
    wait(&mut h, "the swap grid along the path", |app| {
        app.rendered_swap_cells() == 12
    });
    idle(&mut h);
    snapshot(&mut h, "tour_swap_path");
}
