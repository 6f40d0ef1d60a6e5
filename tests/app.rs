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
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::WgpuTestRenderer;

use stylespace::app::session::View;
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
    Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
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
}

#[test]
fn the_swap_grid_renders_rows_times_columns_and_swaps_roles() {
    let mut h = started(options(
        DeviceChoice::Wgpu,
        vec![fixture("a.png"), fixture("b.png")],
    ));
    h.state_mut().act(Action::SetView(View::Swap));
    wait(&mut h, "the swap grid", |app| {
        app.rendered_swap_cells() == 4
    });
    idle(&mut h);
    snapshot(&mut h, "swap_grid");
    h.get_by_label("Swap roles").click();
    h.run_steps(2);
    assert!(
        h.state()
            .state
            .images
            .iter()
            .all(|e| e.in_rows && e.in_cols)
    );
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
    assert_eq!(app.state.images.len(), 1);
    assert_eq!(
        app.state.images[0].path.as_deref(),
        Some(fixture("b.png").as_path())
    );
    assert!((app.state.style[1] - 1.25).abs() < 1e-6);
    assert_eq!(app.state.settings.view, View::Samples);
    assert_eq!(app.state.settings.saved_codes.len(), 1);
    assert_eq!(app.state.settings.model, Some(tiny_model()));
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
