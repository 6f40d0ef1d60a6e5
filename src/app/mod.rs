//! The explorer app (eframe/egui): images in, style sliders, sample and swap grids, interpolation
//! and exports.
//!
//! The state ([`state::AppState`]) is a plain value changed only by actions; panels draw from it
//! and return [`Intent`]s; this module applies them, carries out the effects (worker jobs,
//! dialogs, exports, toasts), turns the state into render requests ([`renders`]) and puts the
//! results on screen ([`display`]). All model work runs on the engine's [`Worker`].
//!
//! With a GPU, burn runs on eframe's own wgpu device and decoded images become egui textures
//! through a compute shader, with no readback; otherwise the CPU backend renders and the pixels
//! are uploaded.

mod backend;
pub mod brush;
pub mod commands;
pub mod compose;
mod dialogs;
mod display;
pub mod export;
pub mod history;
mod input;
mod inspect;
pub mod map;
mod panels;
pub mod renders;
mod script;
pub mod session;
pub mod state;
mod toasts;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use eframe::egui_wgpu;
use egui::ColorImage;

use crate::engine::texture::shared_device_descriptor;
use crate::engine::worker::{Event, Job, ModelSource, Worker};
use crate::engine::{BackendKind, DeviceChoice};

use commands::Command;
use dialogs::Dialogs;
use display::Display;
use export::Exports;
pub use export::SaveTarget;
use input::Incoming;
pub use panels::map::marker_position as map_marker_position;
use renders::RenderLink;
use session::Session;
pub use state::{Action, AppState, EncodeState, ImageEntry, ModelState};
use toasts::Toasts;

/// How the app starts.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub device: DeviceChoice,
    /// The model to open (else the session's, else the bundled default).
    pub model: Option<ModelSource>,
    /// Images to open as content (else the session's, else the bundled sample).
    pub images: Vec<PathBuf>,
    /// Where the session is kept; `None` runs without persistence (tests).
    pub session_path: Option<PathBuf>,
    /// Take a screenshot to this path once the first translation is on screen, then close.
    pub screenshot_and_exit: Option<PathBuf>,
    /// Show decode and latency timings in the status bar (off for stable test snapshots).
    pub show_timings: bool,
    /// DRIT++ models: test-time resize and crop replacing the model's (`--resize-size`,
    /// `--crop-size`); ignored by other families.
    pub drit_resize_crop: (Option<usize>, Option<usize>),
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            model: None,
            images: Vec::new(),
            session_path: None,
            screenshot_and_exit: None,
            show_timings: true,
            drit_resize_crop: (None, None),
        }
    }
}

/// Why the window stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the window could not open: {0}")]
    Window(String),
    /// The screenshot-and-exit mode could not do its job.
    #[error("{0}")]
    Scripted(String),
}

/// The wgpu setup eframe (and the GUI tests) must use so burn can share the device: the device
/// is created with all of the adapter's features and limits.
pub fn wgpu_setup(mut setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        create.device_descriptor = Arc::new(shared_device_descriptor);
    }
    setup
}

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> Result<(), RunError> {
    let mut wgpu_options = egui_wgpu::WgpuConfiguration::default();
    wgpu_options.wgpu_setup = wgpu_setup(wgpu_options.wgpu_setup);
    // The window comes back at the size it had.
    // (Read without `Session::load`, which sets a damaged file aside: the app reports that.)
    let size = (options.session_path.as_deref())
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str::<Session>(&text).ok())
        .and_then(|session| session.settings.window_size)
        .filter(|[w, h]| *w >= 320.0 && *h >= 240.0)
        .unwrap_or([1200.0, 780.0]);
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        viewport: egui::ViewportBuilder::default()
            .with_title("stylespace")
            .with_inner_size(size)
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let failure = Arc::new(Mutex::new(None));
    let reported = failure.clone();
    eframe::run_native(
        "stylespace",
        native,
        Box::new(move |cc| {
            let mut app = StylespaceApp::new(cc, options);
            app.failure = reported;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| RunError::Window(e.to_string()))?;
    let failed = failure.lock().unwrap_or_else(|e| e.into_inner()).take();
    match failed {
        Some(reason) => Err(RunError::Scripted(reason)),
        None => Ok(()),
    }
}

/// Bundled sample content images (OpenMoji line art, CC BY-SA 4.0; see assets/samples).
pub const SAMPLE_IMAGES: [(&str, &[u8]); 2] = [
    (
        "sample-1.png",
        include_bytes!("../../assets/samples/sample-1.png"),
    ),
    (
        "sample-2.png",
        include_bytes!("../../assets/samples/sample-2.png"),
    ),
];

/// What a panel asks for while drawing; applied once the frame is drawn.
#[derive(Debug)]
pub enum Intent {
    /// A change of the state.
    Act(Action),
    /// A command (menu, button, shortcut).
    Run(Command),
    /// Save into a file (`overwrite`: the user confirmed replacing it).
    Save {
        target: SaveTarget,
        path: PathBuf,
        overwrite: bool,
    },
    /// The user declined to replace a file.
    KeepFile,
    /// Where the style panel's drop zone is this frame (routes dropped files).
    StyleZone(egui::Rect),
    /// Show or hide the session's message log.
    ToggleLog,
    /// The path prompt's text changed.
    PromptText(String),
    /// The path prompt was answered (`true`) or cancelled.
    PromptDone(bool),
}

/// Latencies remembered (the status bar shows the median of the last 50).
pub const LATENCIES_KEPT: usize = 1000;

/// Latency statistics, for the status bar and the performance notes.
#[derive(Default)]
pub struct Stats {
    /// Seconds from a main-slot request to its image being ready for display (the most recent
    /// [`LATENCIES_KEPT`]).
    pub latencies: Vec<f64>,
    pub last_render_seconds: f64,
}

pub struct StylespaceApp {
    pub state: AppState,
    worker: Worker,
    render_state: Option<egui_wgpu::RenderState>,
    pub backend: BackendKind,
    pub backend_description: String,
    renders: RenderLink,
    display: Display,
    exports: Exports,
    dialogs: Dialogs,
    toasts: Toasts,
    session_path: Option<PathBuf>,
    session_saved: Option<Session>,
    last_session_save: f64,
    screenshot_tx: Sender<Arc<ColorImage>>,
    screenshot_rx: Receiver<Arc<ColorImage>>,
    /// Where the next screenshot goes.
    screenshot_path: Option<PathBuf>,
    /// Ask egui for a screenshot on the next frame.
    screenshot_wanted: bool,
    /// An image to put on the clipboard at the end of the frame.
    copy_request: Option<ColorImage>,
    /// A save that would replace an existing file, waiting for the user's answer.
    confirm_replace: Option<(SaveTarget, PathBuf)>,
    /// A dialog answered by typing a path (no native dialog could be shown).
    path_prompt: Option<dialogs::PathPrompt>,
    scripted: Option<script::Scripted>,
    /// Why the screenshot-and-exit mode failed (read by [`run`] after the window closes).
    failure: Arc<Mutex<Option<String>>>,
    style_zone: Option<egui::Rect>,
    pub stats: Stats,
    pub show_timings: bool,
    /// The message log panel is open.
    pub show_log: bool,
    /// Errors the shared wgpu device reported (surface, validation), to be shown as messages.
    /// With whether each one is fatal to the compute backend.
    gpu_errors: Arc<Mutex<Vec<(String, bool)>>>,
    /// Our device error handler is in place after the compute backend's (see `watch_gpu`).
    gpu_watched: bool,
    /// The effect maps asked of the worker last.
    effects_sent: Option<crate::engine::worker::EffectRequest>,
    /// DRIT++ test-time resize and crop, sent to every worker started.
    drit_resize_crop: (Option<usize>, Option<usize>),
}

impl StylespaceApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let backend = backend::choose(options.device, cc.wgpu_render_state.as_ref());
        let notify = move || ctx.request_repaint();
        let worker = Worker::spawn(backend.device, backend.kind, backend.display, notify)
            .expect("spawning a thread");
        let (session, session_warning) = match &options.session_path {
            Some(path) => Session::load(path),
            None => (Session::default(), None),
        };
        let (screenshot_tx, screenshot_rx) = channel();
        let Session {
            version: _,
            settings,
            images: session_images,
            roles: session_roles,
            content: session_content,
            source,
            style,
        } = session;
        let mut app = Self {
            state: AppState::new(settings, source, style),
            worker,
            render_state: cc.wgpu_render_state.clone(),
            backend: backend.kind,
            backend_description: backend.description,
            renders: RenderLink::default(),
            display: Display::default(),
            exports: Exports::default(),
            dialogs: Dialogs::default(),
            toasts: Toasts::default(),
            session_path: options.session_path.clone(),
            session_saved: None,
            last_session_save: 0.0,
            screenshot_tx,
            screenshot_rx,
            screenshot_path: None,
            screenshot_wanted: false,
            copy_request: None,
            confirm_replace: None,
            path_prompt: None,
            scripted: options
                .screenshot_and_exit
                .clone()
                .map(script::Scripted::new),
            failure: Arc::default(),
            style_zone: None,
            stats: Stats::default(),
            show_timings: options.show_timings,
            show_log: false,
            gpu_errors: Arc::default(),
            gpu_watched: false,
            drit_resize_crop: options.drit_resize_crop,
            effects_sent: None,
        };
        app.watch_gpu();
        for note in [backend.note, session_warning].into_iter().flatten() {
            app.toasts.push(note, true);
        }
        app.send_drit_resize_crop();
        let model = options
            .model
            .clone()
            .or_else(|| app.state.settings.model.clone())
            .unwrap_or_else(|| ModelSource::Folder(crate::engine::bundled_model()));
        app.act(Action::OpenModel(model));
        let (images, roles, restored_content) = if options.images.is_empty() {
            (session_images, session_roles, session_content)
        } else {
            (options.images.clone(), Vec::new(), None)
        };
        app.open_first_images(&images, &roles, restored_content);
        app.act(Action::Commit);
        app
    }

    /// The images the window opens with (the bundled samples when there are none), and the
    /// content image a restored session had.
    fn open_first_images(
        &mut self,
        paths: &[PathBuf],
        roles: &[[bool; 2]],
        content: Option<usize>,
    ) {
        for (i, path) in paths.iter().enumerate() {
            let before = self.state.next_image_id();
            self.incoming(input::image_file(path, false, self.state.image_room()));
            if let Some([in_rows, in_cols]) = roles.get(i).copied()
                && self.state.image(before).is_some()
            {
                let id = before;
                self.act(Action::SetGridRoles {
                    id,
                    in_rows,
                    in_cols,
                });
            }
        }
        if self.state.images.is_empty() {
            for (name, bytes) in SAMPLE_IMAGES {
                if let Ok(image) = image::load_from_memory(bytes) {
                    self.incoming(Incoming::Image {
                        name: name.to_string(),
                        path: None,
                        image: Arc::new(image),
                        as_style: false,
                    });
                }
            }
        }
        if let Some(entry) = content.and_then(|i| self.state.images.get(i)) {
            let id = entry.id;
            self.act(Action::SelectContent(id));
        }
    }

    /// Makes errors of the window's wgpu device messages instead of a crash. wgpu's default
    /// handler, and the one burn's compute backend installs when it starts using the shared
    /// device, panic on any uncaptured error: a long compute job can make the window's
    /// `Surface::configure` time out, and that must not take the window down. Installed again
    /// once the compute backend has run (it replaces the handler when it starts).
    fn watch_gpu(&mut self) {
        let Some(rs) = &self.render_state else {
            return;
        };
        let errors = self.gpu_errors.clone();
        rs.device
            .on_uncaptured_error(Arc::new(move |error: eframe::wgpu::Error| {
                log::error!("wgpu: {error}");
                // Out of memory is the compute's doing (the window's own buffers are small):
                // the app moves the model to the CPU.
                let fatal = matches!(error, eframe::wgpu::Error::OutOfMemory { .. });
                // "Validation Error / Caused by: / In Surface::configure / ..." on one line.
                let text = error.to_string();
                let parts: Vec<&str> = (text.lines().map(str::trim))
                    .filter(|l| !l.is_empty() && *l != "Caused by:")
                    .collect();
                let message: String = parts.join(": ").chars().take(240).collect();
                errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((message, fatal));
            }));
    }

    /// Applies an action and carries out its effects.
    pub fn act(&mut self, action: Action) {
        for effect in self.state.apply(action) {
            match effect {
                state::Effect::Encode {
                    id,
                    image,
                    name,
                    source,
                } => self.worker.send(Job::Encode {
                    id,
                    image,
                    name,
                    source,
                }),
                state::Effect::Forget(id) => self.worker.send(Job::Forget(id)),
                state::Effect::EncodeStyles(batch) => self.worker.send(Job::EncodeStyles(batch)),
                state::Effect::FitDomain { id, image, name } => {
                    self.worker.send(Job::FitDomain { id, image, name })
                }
                state::Effect::LoadModel(source) => self.worker.send(Job::Load(source)),
                state::Effect::Toast { text, error } => self.toasts.push(text, error),
                state::Effect::ModelChanged => {
                    self.renders.clear();
                    self.effects_sent = None;
                }
            }
        }
    }

    /// Keeps an image that has no file (pasted, dropped from a browser, a bundled sample) as a
    /// PNG beside the session, named by its content, so the session can bring it back. `None`
    /// without a session or when it cannot be written (the image then lives for this run only).
    fn keep_image(&mut self, name: &str, image: &image::DynamicImage) -> Option<PathBuf> {
        let dir = Session::kept_images_dir(self.session_path.as_ref()?);
        let bytes = crate::io::image::png_bytes(&image.to_rgb8());
        let stem = std::path::Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(
            "{stem}-{:016x}.png",
            xxhash_rust::xxh3::xxh3_64(&bytes)
        ));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| crate::io::atomic::write_atomic(&path, &bytes, true));
        match written {
            Ok(()) => Some(path),
            Err(e) => {
                log::warn!("cannot keep {name} for the next session: {e}");
                None
            }
        }
    }

    /// A model, an image or an error from a drop, paste, dialog or the command line.
    fn incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Model(source) => self.act(Action::OpenModel(source)),
            Incoming::Image {
                name,
                path,
                image,
                as_style,
            } => {
                let path = path.or_else(|| self.keep_image(&name, &image));
                self.act(Action::AddImage {
                    name,
                    path,
                    image,
                    as_style,
                })
            }
            Incoming::StyleCode(code) => match self.state.style_dim() {
                Some(dim) if dim == code.len() => {
                    self.act(Action::SetStyle(code));
                    self.toasts.push("Pasted a style code", false);
                }
                dim => self.toasts.push(
                    format!(
                        "The pasted code has {} values; this model's code has {}",
                        code.len(),
                        dim.map_or("none yet".into(), |d| d.to_string())
                    ),
                    true,
                ),
            },
            Incoming::Error(e) => self.toasts.push(e, true),
        }
    }

    fn handle_events(&mut self, ctx: &egui::Context) {
        for event in self.worker.events() {
            match event {
                Event::Loaded(info) => {
                    // The compute backend has started on the device (weights are on it).
                    self.watch_gpu();
                    self.act(Action::ModelLoaded(info))
                }
                Event::LoadFailed { source, error } => {
                    self.act(Action::ModelFailed { source, error })
                }
                Event::Encoded {
                    id,
                    source,
                    style,
                    size,
                } => self.act(Action::Encoded {
                    id,
                    source,
                    style,
                    size,
                }),
                Event::EncodeFailed { id, error } => self.act(Action::EncodeFailed { id, error }),
                Event::Rendered {
                    slot,
                    seq,
                    style,
                    output,
                    seconds,
                    ..
                } => {
                    if let Some(latency) = self.renders.rendered(seq) {
                        if self.stats.latencies.len() == LATENCIES_KEPT {
                            self.stats.latencies.remove(0);
                        }
                        self.stats.latencies.push(latency.as_secs_f64());
                    }
                    self.stats.last_render_seconds = seconds;
                    if !self.gpu_watched && self.backend == BackendKind::Wgpu {
                        self.watch_gpu();
                        self.gpu_watched = true;
                    }
                    let rs = self.render_state.as_ref();
                    self.display.show(ctx, rs, slot, seq, style, output);
                }
                Event::RenderFailed { slot, error, .. } => {
                    // Not retried until what the slot should show changes again.
                    self.renders.failed(slot);
                    self.toasts.push(format!("Render failed: {error}"), true);
                }
                Event::Pixels { tag, images } => self.export_part(tag, Ok(images)),
                Event::PixelsFailed { tag, error } => self.export_part(tag, Err(error)),
                Event::DomainFit { id, fit } => self.act(Action::DomainFitted { id, fit }),
                Event::Effects { request, maps } => match maps {
                    Ok(maps) => self.display.show_effects(ctx, request, maps),
                    Err(e) => log::warn!("effect maps: {e}"),
                },
                Event::Styles {
                    tag,
                    styles,
                    failed,
                    done,
                    ..
                } => self.act(Action::MapStyles {
                    tag,
                    styles,
                    failed,
                    done,
                }),
                Event::BackendFailed { error } => self.fall_back_to_cpu(ctx, &error),
            }
        }
    }

    /// DRIT++ test-time resize and crop from the command line, for a new worker.
    fn send_drit_resize_crop(&self) {
        let (resize, crop) = self.drit_resize_crop;
        if resize.is_some() || crop.is_some() {
            self.worker.send(Job::DritResizeCrop { resize, crop });
        }
    }

    /// Moves the model to the CPU backend after the GPU failed: a new worker, the same model
    /// loaded again, every image encoded again and every slot rendered again. The code, saved
    /// codes and undo history stay. The old worker is abandoned, not joined (it may be stuck in
    /// the driver).
    fn fall_back_to_cpu(&mut self, ctx: &egui::Context, error: &str) {
        if self.backend != BackendKind::Wgpu {
            return;
        }
        log::error!("the GPU backend failed: {error}");
        let cpu = backend::choose(DeviceChoice::Cpu, None);
        let notify = {
            let ctx = ctx.clone();
            move || ctx.request_repaint()
        };
        let worker = match Worker::spawn(cpu.device, cpu.kind, cpu.display, notify) {
            Ok(worker) => worker,
            Err(e) => {
                self.toasts.push(
                    format!("The GPU failed ({error}) and no CPU worker could start: {e}"),
                    true,
                );
                return;
            }
        };
        std::mem::replace(&mut self.worker, worker).abandon();
        self.send_drit_resize_crop();
        self.backend = cpu.kind;
        self.backend_description = format!("{} (after a GPU failure)", cpu.description);
        self.renders.clear();
        self.toasts.push(
            format!(
                "The GPU failed: {error}. Switched to the CPU backend; translations go on there."
            ),
            true,
        );
        self.act(Action::ReloadModel);
    }

    fn apply_intents(&mut self, ctx: &egui::Context, intents: Vec<Intent>) {
        for intent in intents {
            match intent {
                Intent::Act(action) => self.act(action),
                Intent::Run(command) => self.run_command(ctx, command),
                Intent::Save {
                    target,
                    path,
                    overwrite,
                } => {
                    self.confirm_replace = None;
                    self.export_to(target, path, overwrite);
                }
                Intent::KeepFile => self.confirm_replace = None,
                Intent::StyleZone(rect) => self.style_zone = Some(rect),
                Intent::ToggleLog => self.show_log = !self.show_log,
                Intent::PromptText(text) => {
                    if let Some(prompt) = &mut self.path_prompt {
                        prompt.text = text;
                    }
                }
                Intent::PromptDone(ok) => {
                    let prompt = self.path_prompt.take();
                    if let Some(answer) = prompt.filter(|_| ok).and_then(|p| p.answer()) {
                        // A typed save path has not been asked about replacing a file yet.
                        match answer {
                            dialogs::Answer::SaveTo(target, path) => {
                                self.export_to(target, path, false)
                            }
                            answer => self.answer(answer),
                        }
                    }
                }
            }
        }
    }
}

/// A seed from the clock (fresh random codes; reproducible grids use their own seeds).
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl eframe::App for StylespaceApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = ctx.input(|i| i.time);

        self.handle_events(&ctx);
        let gpu_errors =
            std::mem::take(&mut *self.gpu_errors.lock().unwrap_or_else(|e| e.into_inner()));
        for (error, fatal) in gpu_errors {
            if fatal && self.backend == BackendKind::Wgpu {
                self.fall_back_to_cpu(&ctx, &error);
            } else {
                self.toasts.push(
                    format!("The GPU reported an error (the window keeps running): {error}"),
                    true,
                );
            }
        }
        self.handle_answers();
        for incoming in input::drops(&ctx, self.style_zone, self.state.image_room()) {
            self.incoming(incoming);
        }
        for incoming in input::pastes(&ctx, self.state.next_image_id()) {
            self.incoming(incoming);
        }
        for command in Command::pressed(&ctx) {
            self.run_command(&ctx, command);
        }
        if self.state.playing {
            let seconds = ctx.input(|i| i.stable_dt);
            self.act(Action::Advance { seconds });
            ctx.request_repaint();
        }
        self.display.sync_thumbnails(&ctx, &self.state);
        self.display.sync_map_thumbnails(&ctx, &self.state);
        self.display.sync_mask(&ctx, &self.state);
        let smooth = self.state.settings.smooth;
        self.display.set_smooth(smooth, self.render_state.as_ref());
        let rect = ctx.input(|i| i.viewport_rect());
        let size = [rect.width().round(), rect.height().round()];
        if rect.is_positive() && self.state.settings.window_size != Some(size) {
            self.act(Action::SetWindowSize(size));
        }

        let intents = panels::draw(self, ui);
        self.apply_intents(&ctx, intents);
        self.toasts.show(&ctx, now);

        // A whole drag is one undo step: nothing is recorded while the pointer is held.
        if !ctx.egui_is_using_pointer() {
            self.act(Action::Commit);
        }
        self.renders.send(renders::plan(&self.state), &self.worker);
        let effects = self.state.effect_request();
        if effects.is_some() && effects != self.effects_sent {
            self.worker
                .send(Job::EffectMaps(effects.clone().expect("checked")));
        }
        self.effects_sent = effects;
        if let Some(copy) = self.copy_request.take() {
            ctx.copy_image(copy);
        }
        if self.screenshot_wanted || self.screenshot_path.is_some() {
            // The screenshot is taken by a coming frame: make sure one comes without input.
            ctx.request_repaint();
        }
        self.handle_screenshots(&ctx);
        self.drive_script(&ctx);
        self.save_session(now, false);
    }

    fn on_exit(&mut self) {
        self.save_session(f64::INFINITY, true);
    }
}
