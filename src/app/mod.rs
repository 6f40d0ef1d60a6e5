//! The explorer app (eframe/egui): images in, style sliders, sample and swap grids, interpolation
//! and exports. All model work goes through the engine's [`Worker`]; this module only keeps state,
//! turns it into render requests each frame and draws the results.
//!
//! With a GPU, burn runs on eframe's own wgpu device and decoded images become egui textures
//! through a compute shader, with no readback; otherwise the CPU backend renders and the pixels
//! are uploaded.

pub mod commands;
pub mod export;
mod panels;
pub mod session;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

use eframe::egui_wgpu;
use egui::{ColorImage, TextureHandle, TextureId, TextureOptions};
use image::{DynamicImage, RgbImage};

use crate::Domain;
use crate::engine::styles::{lerp, sample_styles, slerp};
use crate::engine::texture::{TextureConverter, register_shared_device, shared_device_descriptor};
use crate::engine::worker::{
    Display, Event, ImageId, Job, LatentNoise, ModelInfo, ModelSource, Output, RenderRequest, Slot,
    Worker,
};
use crate::engine::{BackendKind, Counters, DeviceChoice, is_drit_checkpoint, select_device};

use commands::Command;
use export::{NamedCode, StyleSet};
use session::{Session, View};

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

/// The wgpu setup eframe (and the GUI tests) must use so burn can share the device: the device
/// is created with all of the adapter's features and limits.
pub fn wgpu_setup(mut setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        create.device_descriptor = Arc::new(shared_device_descriptor);
    }
    setup
}

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> eframe::Result {
    let mut wgpu_options = egui_wgpu::WgpuConfiguration::default();
    wgpu_options.wgpu_setup = wgpu_setup(wgpu_options.wgpu_setup);
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        viewport: egui::ViewportBuilder::default()
            .with_title("stylespace")
            .with_inner_size([1200.0, 780.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "stylespace",
        native,
        Box::new(move |cc| Ok(Box::new(StylespaceApp::new(cc, options)))),
    )
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

#[derive(Debug, Clone, PartialEq)]
pub enum EncodeState {
    Pending,
    Ready { style: Vec<f32>, size: [usize; 2] },
    Failed(String),
}

/// An image in the set.
pub struct ImageEntry {
    pub id: ImageId,
    pub name: String,
    pub path: Option<PathBuf>,
    pub image: Arc<DynamicImage>,
    thumbnail: TextureHandle,
    pub state: EncodeState,
    /// The domain its content code was computed from.
    encoded_for: Option<Domain>,
    /// Shown as a row (content) / a column (style) of the swap grid.
    pub in_rows: bool,
    pub in_cols: bool,
}

impl ImageEntry {
    pub fn style(&self) -> Option<&[f32]> {
        match &self.state {
            EncodeState::Ready { style, .. } => Some(style),
            _ => None,
        }
    }
}

enum SlotTexture {
    /// Registered with egui's wgpu renderer; written by the GPU (kept alive while shown).
    Native {
        id: TextureId,
        texture: eframe::wgpu::Texture,
    },
    /// Uploaded pixels.
    Managed(TextureHandle, RgbImage),
}

struct SlotView {
    texture: SlotTexture,
    size: [usize; 2],
    content: ImageId,
    style: Vec<f32>,
}

impl SlotView {
    fn id(&self) -> TextureId {
        match &self.texture {
            SlotTexture::Native { id, .. } => *id,
            SlotTexture::Managed(handle, _) => handle.id(),
        }
    }
}

/// What was last asked of a slot, so a request is only sent when something changed.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    content: ImageId,
    target: Domain,
    style: Vec<f32>,
    noise: Option<LatentNoise>,
}

#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    style: Vec<f32>,
    content: Option<ImageId>,
    source: Domain,
    images: Vec<ImageId>,
    grid: Vec<(ImageId, bool, bool)>,
}

pub enum ModelState {
    None,
    Loading(ModelSource),
    Ready(Box<ModelInfo>),
    Failed(ModelSource, String),
}

struct Toast {
    text: String,
    error: bool,
    until: f64,
}

/// An export waiting for pixels from the worker.
enum ExportKind {
    Png {
        path: PathBuf,
        scale: u32,
    },
    Copy,
    SampleGrid {
        path: PathBuf,
        seed: u64,
    },
    SwapGrid {
        path: PathBuf,
        row_labels: Vec<String>,
        col_labels: Vec<String>,
    },
    Gif {
        path: PathBuf,
        frame_ms: u32,
    },
    Strip {
        path: PathBuf,
    },
}

/// Pixels wanted for an export: per part, a content image, its style codes and (UNIT) the
/// latent noise of each.
type PixelJobs = Vec<(ImageId, Vec<Vec<f32>>, Vec<Option<LatentNoise>>)>;

struct PendingExport {
    kind: ExportKind,
    parts: Vec<Option<Vec<RgbImage>>>,
}

/// Something to do once the user has answered a question (a file dialog, a confirmation).
pub enum Deferred {
    OpenImages(Vec<PathBuf>),
    OpenModelFolder(PathBuf),
    OpenOfficial(PathBuf),
    SaveTo(SaveTarget, PathBuf),
    LoadStyles(PathBuf),
}

/// What a save dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveTarget {
    Png,
    SampleGrid,
    SwapGrid,
    Gif,
    Strip,
    Screenshot,
    Styles,
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
    worker: Worker,
    render_state: Option<egui_wgpu::RenderState>,
    pub backend: BackendKind,
    pub backend_description: String,
    pub model: ModelState,
    pub images: Vec<ImageEntry>,
    /// Removed images, kept so undo can bring them back.
    removed: Vec<ImageEntry>,
    next_image: ImageId,
    pub content: Option<ImageId>,
    /// The source domain (the translation goes to the other one).
    pub source: Domain,
    pub style: Vec<f32>,
    /// Use the next encoded style of this image as the current code.
    style_from: Option<ImageId>,
    pub session: Session,
    session_path: Option<PathBuf>,
    session_saved: Option<Session>,
    last_session_save: f64,
    slots: HashMap<Slot, SlotView>,
    wanted: HashMap<Slot, Wanted>,
    /// Slots whose last request failed (not retried until what they should show changes).
    failed: std::collections::HashSet<Slot>,
    sent_at: HashMap<u64, Instant>,
    next_seq: u64,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    committed: Snapshot,
    toasts: Vec<Toast>,
    exports: HashMap<u64, PendingExport>,
    next_export: u64,
    deferred_tx: Sender<Deferred>,
    deferred_rx: Receiver<Deferred>,
    screenshot_tx: Sender<Arc<ColorImage>>,
    screenshot_rx: Receiver<Arc<ColorImage>>,
    screenshot_path: Option<PathBuf>,
    /// A screenshot to request from the next frame.
    pending_screenshot: Option<Sender<Arc<ColorImage>>>,
    /// An image to put on the clipboard at the end of the frame.
    copy_request: Option<ColorImage>,
    /// A save that would replace an existing file, waiting for the user's answer.
    confirm_replace: Option<(SaveTarget, PathBuf)>,
    exit_after_screenshot: Option<PathBuf>,
    /// Frames drawn since the first main render arrived (for the screenshot-and-exit mode).
    frames_with_output: u32,
    pub interpolation_t: f32,
    pub playing: bool,
    style_drop_rect: Option<egui::Rect>,
    pub stats: Stats,
    pub show_timings: bool,
    started: Instant,
    /// The family of the model loaded last (a new family gets a fresh code and history).
    loaded_family: Option<crate::engine::Family>,
}

impl StylespaceApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let (device, display, backend, description, note) =
            choose_backend(options.device, cc.wgpu_render_state.as_ref());
        let notify = {
            let ctx = ctx.clone();
            move || ctx.request_repaint()
        };
        let worker = Worker::spawn(device, display, notify).expect("spawning a thread");
        let (session, session_warning) = match &options.session_path {
            Some(path) => Session::load(path),
            None => (Session::default(), None),
        };
        let (deferred_tx, deferred_rx) = channel();
        let (screenshot_tx, screenshot_rx) = channel();
        let committed = Snapshot {
            style: Vec::new(),
            content: None,
            source: session.source,
            images: Vec::new(),
            grid: Vec::new(),
        };
        let mut app = Self {
            worker,
            render_state: cc.wgpu_render_state.clone(),
            backend,
            backend_description: description,
            model: ModelState::None,
            images: Vec::new(),
            removed: Vec::new(),
            next_image: 1,
            content: None,
            source: session.source,
            style: session.style.clone(),
            style_from: None,
            session,
            session_path: options.session_path.clone(),
            session_saved: None,
            last_session_save: 0.0,
            slots: HashMap::new(),
            wanted: HashMap::new(),
            failed: Default::default(),
            sent_at: HashMap::new(),
            next_seq: 1,
            undo: Vec::new(),
            redo: Vec::new(),
            committed,
            toasts: Vec::new(),
            exports: HashMap::new(),
            next_export: 1,
            deferred_tx,
            deferred_rx,
            screenshot_tx,
            screenshot_rx,
            screenshot_path: None,
            pending_screenshot: None,
            copy_request: None,
            confirm_replace: None,
            exit_after_screenshot: options.screenshot_and_exit.clone(),
            frames_with_output: 0,
            interpolation_t: 0.0,
            playing: false,
            style_drop_rect: None,
            stats: Stats::default(),
            show_timings: options.show_timings,
            started: Instant::now(),
            loaded_family: None,
        };
        if let Some(note) = note {
            app.toast(note, false);
        }
        let (resize, crop) = options.drit_resize_crop;
        if resize.is_some() || crop.is_some() {
            app.worker.send(Job::DritResizeCrop { resize, crop });
        }
        if let Some(warning) = session_warning {
            app.toast(warning, true);
        }
        let model = options
            .model
            .clone()
            .or_else(|| app.session.model.clone())
            .unwrap_or_else(|| ModelSource::Folder(crate::engine::bundled_model()));
        app.load_model(model);
        let images = if options.images.is_empty() {
            app.session.images.clone()
        } else {
            options.images.clone()
        };
        let restored_content = if options.images.is_empty() {
            app.session.content
        } else {
            None
        };
        for path in &images {
            if let Err(e) = app.add_image_path(&ctx, path) {
                app.toast(e, true);
            }
        }
        if app.images.is_empty() {
            for (name, bytes) in SAMPLE_IMAGES {
                if let Ok(image) = image::load_from_memory(bytes) {
                    app.add_image(&ctx, name.to_string(), None, image);
                }
            }
        }
        if let Some(index) = restored_content
            && let Some(entry) = app.images.get(index)
        {
            app.content = Some(entry.id);
        }
        app.committed = app.snapshot();
        app
    }

    // ---- state changes -------------------------------------------------------------------

    fn toast(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        if error {
            log::warn!("{text}");
        } else {
            log::info!("{text}");
        }
        self.toasts.push(Toast {
            text,
            error,
            until: f64::NAN, // set on the next frame (needs the clock)
        });
    }

    /// Opens a model on the worker; the current one stays usable until the new one is ready.
    pub fn load_model(&mut self, source: ModelSource) {
        self.model = ModelState::Loading(source.clone());
        self.worker.send(Job::Load(source));
    }

    /// Adds an image file to the set (it becomes the content image).
    pub fn add_image_path(&mut self, ctx: &egui::Context, path: &Path) -> Result<ImageId, String> {
        let image = crate::io::image::load_image(path).map_err(|e| e.to_string())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(self.add_image(ctx, name, Some(path.to_path_buf()), image))
    }

    /// Adds a decoded image to the set and makes it the content image.
    pub fn add_image(
        &mut self,
        ctx: &egui::Context,
        name: String,
        path: Option<PathBuf>,
        image: DynamicImage,
    ) -> ImageId {
        let id = self.next_image;
        self.next_image += 1;
        let thumb = image.thumbnail(96, 96).to_rgba8();
        let thumbnail = ctx.load_texture(
            format!("thumb-{id}"),
            ColorImage::from_rgba_unmultiplied(
                [thumb.width() as usize, thumb.height() as usize],
                thumb.as_raw(),
            ),
            TextureOptions::LINEAR,
        );
        self.images.push(ImageEntry {
            id,
            name,
            path,
            image: Arc::new(image),
            thumbnail,
            state: EncodeState::Pending,
            encoded_for: None,
            in_rows: true,
            in_cols: true,
        });
        self.content = Some(id);
        self.encode_if_needed();
        id
    }

    /// Removed images kept so that undo can bring them back.
    pub fn images_kept_for_undo(&self) -> usize {
        self.removed.len()
    }

    /// Removes an image from the set (undo brings it back, encoding it again). Its content code
    /// is dropped from the worker at once, so the worker's memory follows the set.
    pub fn remove_image(&mut self, id: ImageId) {
        if let Some(pos) = self.images.iter().position(|e| e.id == id) {
            let mut entry = self.images.remove(pos);
            entry.encoded_for = None;
            self.worker.send(Job::Forget(id));
            self.removed.push(entry);
            if self.content == Some(id) {
                self.content = self.images.last().map(|e| e.id);
            }
        }
    }

    /// Sends encodes for images not yet encoded for the current source domain.
    fn encode_if_needed(&mut self) {
        if !matches!(self.model, ModelState::Ready(_)) {
            return;
        }
        for entry in &mut self.images {
            if entry.encoded_for != Some(self.source) {
                entry.encoded_for = Some(self.source);
                entry.state = EncodeState::Pending;
                self.worker.send(Job::Encode {
                    id: entry.id,
                    image: entry.image.clone(),
                    name: entry.name.clone(),
                    source: self.source,
                });
            }
        }
    }

    fn style_dim(&self) -> Option<usize> {
        match &self.model {
            ModelState::Ready(info) => Some(info.style_dim),
            _ => None,
        }
    }

    /// What the loaded model calls its code ("style", "attribute") and its family; `None`
    /// while no model is ready.
    pub fn style_space(
        &self,
    ) -> Option<(crate::engine::Family, Option<crate::engine::StyleSpace>)> {
        match &self.model {
            ModelState::Ready(info) => Some((info.description.family, info.description.style)),
            _ => None,
        }
    }

    pub fn target(&self) -> Domain {
        self.source.other()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            style: self.style.clone(),
            content: self.content,
            source: self.source,
            images: self.images.iter().map(|e| e.id).collect(),
            grid: self
                .images
                .iter()
                .map(|e| (e.id, e.in_rows, e.in_cols))
                .collect(),
        }
    }

    fn restore(&mut self, snapshot: Snapshot) {
        // Bring back removed images and hide those added since.
        let mut all: Vec<ImageEntry> = self.images.drain(..).collect();
        all.append(&mut self.removed);
        for id in &snapshot.images {
            if let Some(pos) = all.iter().position(|e| e.id == *id) {
                let mut entry = all.remove(pos);
                if let Some((_, rows, cols)) = snapshot.grid.iter().find(|(i, _, _)| i == id) {
                    entry.in_rows = *rows;
                    entry.in_cols = *cols;
                }
                self.images.push(entry);
            }
        }
        self.removed = all;
        self.style = snapshot.style;
        self.content = snapshot.content;
        self.source = snapshot.source;
        self.encode_if_needed();
    }

    /// Records an undo step when the state settled on something new (a whole slider drag is one
    /// step: nothing is recorded while the pointer is held).
    fn track_history(&mut self, ctx: &egui::Context) {
        if ctx.egui_is_using_pointer() {
            return;
        }
        let now = self.snapshot();
        if now != self.committed {
            let before = std::mem::replace(&mut self.committed, now);
            self.undo.push(before);
            self.redo.clear();
            if self.undo.len() > 200 {
                self.undo.remove(0);
            }
            self.prune_removed();
        }
    }

    /// Drops removed images that no undo or redo step can bring back any more (their pixels and
    /// thumbnails would otherwise be kept for the whole session).
    fn prune_removed(&mut self) {
        let referenced = |id: ImageId| {
            self.undo
                .iter()
                .chain(&self.redo)
                .chain(std::iter::once(&self.committed))
                .any(|s| s.images.contains(&id))
        };
        let keep: Vec<bool> = self.removed.iter().map(|e| referenced(e.id)).collect();
        let mut flags = keep.into_iter();
        self.removed.retain(|_| flags.next().unwrap_or(false));
    }

    pub fn undo(&mut self) {
        if let Some(snapshot) = self.undo.pop() {
            let current = std::mem::replace(&mut self.committed, snapshot.clone());
            self.redo.push(current);
            self.restore(snapshot);
        }
    }

    pub fn redo(&mut self) {
        if let Some(snapshot) = self.redo.pop() {
            let current = std::mem::replace(&mut self.committed, snapshot.clone());
            self.undo.push(current);
            self.restore(snapshot);
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// A fresh random style (seeded from the clock; the sample grid has reproducible seeds).
    pub fn random_style(&mut self) {
        if let Some(dim) = self.style_dim() {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            self.style = sample_styles(1, dim, seed).remove(0);
        }
    }

    pub fn zero_style(&mut self) {
        if let Some(dim) = self.style_dim() {
            self.style = vec![0.0; dim];
        }
    }

    /// Uses an image's encoded style (as a reference of the target domain) as the current code.
    pub fn style_from_image(&mut self, id: ImageId) {
        match self
            .images
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.style())
        {
            Some(style) => self.style = style.to_vec(),
            None => self.style_from = Some(id),
        }
    }

    /// Flips the direction (a->b <-> b->a); images are re-encoded for the new source domain.
    pub fn swap_direction(&mut self) {
        self.source = self.source.other();
        self.encode_if_needed();
    }

    /// Swaps the swap grid's rows and columns.
    pub fn swap_grid_roles(&mut self) {
        for entry in &mut self.images {
            std::mem::swap(&mut entry.in_rows, &mut entry.in_cols);
        }
    }

    /// Content images (rows) and style images (columns) of the swap grid.
    pub fn swap_grid(&self) -> (Vec<&ImageEntry>, Vec<&ImageEntry>) {
        (
            self.images.iter().filter(|e| e.in_rows).collect(),
            self.images.iter().filter(|e| e.in_cols).collect(),
        )
    }

    /// The sample grid's codes (reproducible from the seed).
    /// Whether the loaded model has no style code (UNIT): its variation is latent noise.
    pub fn uses_latent_noise(&self) -> bool {
        matches!(&self.model, ModelState::Ready(info) if info.description.style.is_none())
    }

    /// The main view's latent noise (UNIT only).
    fn main_noise(&self) -> Option<LatentNoise> {
        self.uses_latent_noise().then_some(self.session.noise)
    }

    /// The sample grid's latent noise per cell (UNIT: a seed per cell from the grid's seed, at
    /// the main view's amount, or 1 when that is 0), else none.
    pub fn sample_noises(&self) -> Vec<Option<LatentNoise>> {
        let amount = match self.session.noise.amount {
            a if a > 0.0 => a,
            _ => 1.0,
        };
        (0..self.session.sample_count)
            .map(|i| {
                self.uses_latent_noise().then_some(LatentNoise {
                    amount,
                    seed: self
                        .session
                        .sample_seed
                        .wrapping_mul(1 << 20)
                        .wrapping_add(i as u64),
                })
            })
            .collect()
    }

    pub fn sample_codes(&self) -> Vec<Vec<f32>> {
        match self.style_dim() {
            Some(dim) => sample_styles(self.session.sample_count, dim, self.session.sample_seed),
            None => Vec::new(),
        }
    }

    /// The interpolated code at `t`.
    pub fn interpolated(&self, t: f32) -> Option<Vec<f32>> {
        let s = &self.session.interpolation;
        let dim = self.style_dim()?;
        if s.start.len() != dim || s.end.len() != dim {
            return None;
        }
        Some(if s.spherical {
            slerp(&s.start, &s.end, t)
        } else {
            lerp(&s.start, &s.end, t)
        })
    }

    fn content_ready(&self) -> Option<ImageId> {
        let id = self.content?;
        let entry = self.images.iter().find(|e| e.id == id)?;
        matches!(entry.state, EncodeState::Ready { .. }).then_some(id)
    }

    // ---- worker traffic ------------------------------------------------------------------

    /// Asks for a render of `slot` when what it should show changed.
    fn want(&mut self, slot: Slot, content: ImageId, style: Vec<f32>, noise: Option<LatentNoise>) {
        let wanted = Wanted {
            content,
            target: self.target(),
            style,
            noise,
        };
        if self.wanted.get(&slot) == Some(&wanted) {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if slot == Slot::Main {
            self.sent_at.insert(seq, Instant::now());
        }
        self.failed.remove(&slot);
        self.worker.render(RenderRequest {
            slot,
            seq,
            content: wanted.content,
            target: wanted.target,
            style: wanted.style.clone(),
            noise: wanted.noise,
        });
        self.wanted.insert(slot, wanted);
    }

    /// Sends the renders the visible views need.
    fn request_renders(&mut self) {
        let Some(dim) = self.style_dim() else { return };
        if self.style.len() != dim {
            self.style = vec![0.0; dim];
        }
        let Some(content) = self.content_ready() else {
            return;
        };
        self.want(Slot::Main, content, self.style.clone(), self.main_noise());
        match self.session.view {
            View::Translate => {}
            View::Samples => {
                let noises = self.sample_noises();
                for (i, code) in self.sample_codes().into_iter().enumerate() {
                    self.want(Slot::Sample(i), content, code, noises[i]);
                }
            }
            // Views that need style codes render nothing for a model without them.
            View::Swap | View::Interpolate if self.uses_latent_noise() => {}
            View::Swap => {
                let cells: Vec<(Slot, ImageId, Vec<f32>)> = {
                    let (rows, cols) = self.swap_grid();
                    rows.iter()
                        .enumerate()
                        .flat_map(|(r, row)| {
                            cols.iter().enumerate().filter_map(move |(c, col)| {
                                matches!(row.state, EncodeState::Ready { .. })
                                    .then_some(())
                                    .and(col.style())
                                    .map(|style| {
                                        (Slot::Swap { row: r, col: c }, row.id, style.to_vec())
                                    })
                            })
                        })
                        .collect()
                };
                for (slot, id, style) in cells {
                    self.want(slot, id, style, None);
                }
            }
            View::Interpolate => {
                if let Some(code) = self.interpolated(self.interpolation_t) {
                    self.want(Slot::Interpolation, content, code, None);
                }
            }
        }
    }

    fn handle_events(&mut self, ctx: &egui::Context) {
        for event in self.worker.events() {
            match event {
                Event::Loaded(info) => {
                    let dim = info.style_dim;
                    let family = info.description.family;
                    let previous = self.loaded_family.replace(family);
                    self.session.model = Some(info.source.clone());
                    self.session.remember_model(&info.source);
                    self.toast(format!("Opened model {}", info.source.label()), false);
                    self.model = ModelState::Ready(info);
                    if self.style.len() != dim || previous.is_some_and(|f| f != family) {
                        // A fixed draw from the prior: the zero code is the least typical style.
                        // Another family's code means nothing to this model.
                        self.style = sample_styles(1, dim, 3).remove(0);
                    }
                    if previous.is_some() {
                        // Undo does not cross a model switch: old codes belong to the old model.
                        self.undo.clear();
                        self.redo.clear();
                        self.committed = self.snapshot();
                        self.prune_removed();
                    }
                    let interp = &mut self.session.interpolation;
                    if interp.start.len() != dim || interp.end.len() != dim {
                        interp.start = sample_styles(1, dim, 11).remove(0);
                        interp.end = sample_styles(1, dim, 12).remove(0);
                    }
                    for entry in &mut self.images {
                        entry.encoded_for = None;
                    }
                    for entry in &mut self.removed {
                        entry.encoded_for = None;
                    }
                    self.wanted.clear();
                    self.encode_if_needed();
                }
                Event::LoadFailed { source, error } => {
                    self.toast(
                        format!("Could not open model {}: {error}", source.label()),
                        true,
                    );
                    self.model = ModelState::Failed(source, error);
                }
                Event::Encoded {
                    id,
                    source,
                    style,
                    size,
                } => {
                    if source != self.source {
                        continue; // encoded for a direction since abandoned
                    }
                    if self.style_from == Some(id) {
                        self.style = style.clone();
                        self.style_from = None;
                    }
                    if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                        entry.state = EncodeState::Ready { style, size };
                    }
                }
                Event::EncodeFailed { id, error } => {
                    let name = self
                        .images
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| e.name.clone())
                        .unwrap_or_default();
                    self.toast(format!("{name}: {error}"), true);
                    if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                        entry.state = EncodeState::Failed(error);
                    }
                }
                Event::Rendered {
                    slot,
                    seq,
                    content,
                    style,
                    output,
                    seconds,
                } => {
                    if let Some(sent) = self.sent_at.remove(&seq) {
                        if self.stats.latencies.len() == LATENCIES_KEPT {
                            self.stats.latencies.remove(0);
                        }
                        self.stats.latencies.push(sent.elapsed().as_secs_f64());
                        self.sent_at.retain(|s, _| *s > seq);
                    }
                    self.stats.last_render_seconds = seconds;
                    self.show(ctx, slot, content, style, output);
                }
                Event::RenderFailed { slot, error, .. } => {
                    // Not retried until what the slot should show changes again.
                    self.failed.insert(slot);
                    self.toast(format!("Render failed: {error}"), true);
                }
                Event::Pixels { tag, images } => self.export_part(tag, Ok(images)),
                Event::PixelsFailed { tag, error } => self.export_part(tag, Err(error)),
            }
        }
    }

    /// Puts a rendered image on screen.
    fn show(
        &mut self,
        ctx: &egui::Context,
        slot: Slot,
        content: ImageId,
        style: Vec<f32>,
        output: Output,
    ) {
        let size = output.size();
        let previous = self.slots.remove(&slot);
        let texture = match output {
            Output::Texture(texture) => {
                let Some(rs) = &self.render_state else { return };
                let view = texture.create_view(&Default::default());
                let mut renderer = rs.renderer.write();
                let id = match previous {
                    Some(SlotView {
                        texture: SlotTexture::Native { id, .. },
                        ..
                    }) => {
                        renderer.update_egui_texture_from_wgpu_texture(
                            &rs.device,
                            &view,
                            eframe::wgpu::FilterMode::Nearest,
                            id,
                        );
                        id
                    }
                    _ => renderer.register_native_texture(
                        &rs.device,
                        &view,
                        eframe::wgpu::FilterMode::Nearest,
                    ),
                };
                SlotTexture::Native { id, texture }
            }
            Output::Pixels(pixels) => {
                let color = ColorImage::from_rgb(
                    [pixels.width() as usize, pixels.height() as usize],
                    pixels.as_raw(),
                );
                match previous {
                    Some(SlotView {
                        texture: SlotTexture::Managed(mut handle, _),
                        ..
                    }) => {
                        handle.set(color, TextureOptions::NEAREST);
                        SlotTexture::Managed(handle, pixels)
                    }
                    _ => SlotTexture::Managed(
                        ctx.load_texture(format!("{slot:?}"), color, TextureOptions::NEAREST),
                        pixels,
                    ),
                }
            }
        };
        self.slots.insert(
            slot,
            SlotView {
                texture,
                size,
                content,
                style,
            },
        );
    }

    /// The main output's pixels: read back from the GPU texture or the uploaded copy (tests).
    pub fn main_output_rgba(&self) -> Option<(usize, usize, Vec<u8>)> {
        let view = self.slots.get(&Slot::Main)?;
        match &view.texture {
            SlotTexture::Native { texture, .. } => {
                let rs = self.render_state.as_ref()?;
                let bytes = crate::engine::texture::read_texture(&rs.device, &rs.queue, texture)?;
                Some((view.size[0], view.size[1], bytes))
            }
            SlotTexture::Managed(_, pixels) => Some((
                view.size[0],
                view.size[1],
                image::DynamicImage::ImageRgb8(pixels.clone())
                    .to_rgba8()
                    .into_raw(),
            )),
        }
    }

    /// The style code the main output currently shows.
    pub fn main_output_style(&self) -> Option<&[f32]> {
        self.slots.get(&Slot::Main).map(|v| v.style.as_slice())
    }

    pub fn counters(&self) -> &Counters {
        self.worker.counters()
    }

    /// True while the worker has requests it has not started.
    pub fn busy(&self) -> bool {
        self.worker.pending() > 0
            || matches!(self.model, ModelState::Loading(_))
            || self
                .images
                .iter()
                .any(|e| e.state == EncodeState::Pending && e.encoded_for.is_some())
            || self.wanted.iter().any(|(slot, w)| {
                !self.failed.contains(slot)
                    && self
                        .slots
                        .get(slot)
                        .is_none_or(|v| v.style != w.style || v.content != w.content)
            })
            || !self.exports.is_empty()
    }

    // ---- exports -------------------------------------------------------------------------

    /// Starts an export into `path` (pixels come from the worker; the file is written when
    /// they arrive). Existing files are never replaced unless `overwrite`.
    pub fn export_to(&mut self, target: SaveTarget, path: PathBuf, overwrite: bool) {
        if !overwrite && path.exists() {
            self.confirm_replace = Some((target, path));
            return;
        }
        if target == SaveTarget::Screenshot {
            self.screenshot_path = Some(path);
            let tx = self.screenshot_tx.clone();
            // Sent from the next frame's `ui`, once egui knows the viewport.
            self.pending_screenshot = Some(tx);
            return;
        }
        if target == SaveTarget::Styles {
            let set = StyleSet {
                style_dim: self.style.len(),
                codes: self.session.saved_codes.clone(),
            };
            let result = serde_json::to_string_pretty(&set)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    crate::io::atomic::write_atomic(&path, text.as_bytes(), true)
                        .map_err(|e| e.to_string())
                });
            self.report_write(&path, result);
            return;
        }
        let Some(content) = self.content_ready() else {
            self.toast("Nothing to export yet: no content image is ready", true);
            return;
        };
        let target_domain = self.target();
        let (kind, jobs): (ExportKind, PixelJobs) = match target {
            SaveTarget::Png => (
                ExportKind::Png {
                    path,
                    scale: self.session.export_scale.max(1),
                },
                vec![(content, vec![self.style.clone()], vec![self.main_noise()])],
            ),
            SaveTarget::SampleGrid => (
                ExportKind::SampleGrid {
                    path,
                    seed: self.session.sample_seed,
                },
                vec![(content, self.sample_codes(), self.sample_noises())],
            ),
            SaveTarget::SwapGrid => {
                let (rows, cols) = self.swap_grid();
                let styles: Vec<Vec<f32>> = cols
                    .iter()
                    .filter_map(|c| c.style().map(<[f32]>::to_vec))
                    .collect();
                if rows.is_empty() || styles.len() != cols.len() {
                    self.toast("The swap grid is not ready yet", true);
                    return;
                }
                let kind = ExportKind::SwapGrid {
                    path,
                    row_labels: rows.iter().map(|r| short(&r.name)).collect(),
                    col_labels: cols.iter().map(|c| short(&c.name)).collect(),
                };
                let jobs = rows
                    .iter()
                    .map(|r| (r.id, styles.clone(), Vec::new()))
                    .collect();
                (kind, jobs)
            }
            SaveTarget::Gif | SaveTarget::Strip => {
                let frames = self.session.interpolation.frames.max(2);
                let codes: Option<Vec<_>> = (0..frames)
                    .map(|i| self.interpolated(i as f32 / (frames - 1) as f32))
                    .collect();
                let Some(codes) = codes else {
                    self.toast("Choose both interpolation end points first", true);
                    return;
                };
                let kind = if target == SaveTarget::Gif {
                    ExportKind::Gif {
                        path,
                        frame_ms: self.session.interpolation.frame_ms,
                    }
                } else {
                    ExportKind::Strip { path }
                };
                (kind, vec![(content, codes, Vec::new())])
            }
            SaveTarget::Screenshot | SaveTarget::Styles => unreachable!("handled above"),
        };
        self.start_export(kind, jobs, target_domain);
    }

    fn start_export(&mut self, kind: ExportKind, jobs: PixelJobs, target: Domain) {
        let export = self.next_export;
        self.next_export += 1;
        for (part, (content, styles, noises)) in jobs.iter().enumerate() {
            self.worker.send(Job::Pixels {
                tag: export * 10_000 + part as u64,
                content: *content,
                target,
                styles: styles.clone(),
                noises: noises.clone(),
            });
        }
        self.exports.insert(
            export,
            PendingExport {
                kind,
                parts: vec![None; jobs.len()],
            },
        );
    }

    /// Copies the output image to the clipboard (read back through the worker).
    pub fn copy_image(&mut self) {
        if let Some(content) = self.content_ready() {
            let target = self.target();
            self.start_export(
                ExportKind::Copy,
                vec![(content, vec![self.style.clone()], vec![self.main_noise()])],
                target,
            );
        }
    }

    fn export_part(&mut self, tag: u64, images: Result<Vec<RgbImage>, String>) {
        let (export, part) = (tag / 10_000, (tag % 10_000) as usize);
        let images = match images {
            Ok(images) => images,
            Err(error) => {
                self.exports.remove(&export);
                self.toast(format!("Export failed: {error}"), true);
                return;
            }
        };
        let Some(pending) = self.exports.get_mut(&export) else {
            return;
        };
        if let Some(slot) = pending.parts.get_mut(part) {
            *slot = Some(images);
        }
        if pending.parts.iter().any(Option::is_none) {
            return;
        }
        let pending = self.exports.remove(&export).expect("present");
        let parts: Vec<Vec<RgbImage>> = pending.parts.into_iter().flatten().collect();
        self.finish_export(pending.kind, parts);
    }

    fn finish_export(&mut self, kind: ExportKind, parts: Vec<Vec<RgbImage>>) {
        // Exports that were asked to replace a file were confirmed; others never replace.
        match kind {
            ExportKind::Copy => {
                if let Some(image) = parts.first().and_then(|p| p.first()) {
                    let color = ColorImage::from_rgb(
                        [image.width() as usize, image.height() as usize],
                        image.as_raw(),
                    );
                    self.copy_request = Some(color);
                    self.toast("Copied the output image", false);
                }
            }
            ExportKind::Png { path, scale } => {
                let result = parts
                    .first()
                    .and_then(|p| p.first())
                    .ok_or_else(|| "nothing was rendered".to_string())
                    .and_then(|img| {
                        export::save_png(&path, &export::upscale(img, scale), true)
                            .map_err(|e| e.to_string())
                    });
                self.report_write(&path, result);
            }
            ExportKind::SampleGrid { path, seed } => {
                let cells = parts.into_iter().flatten().collect::<Vec<_>>();
                let columns = 4.min(cells.len().max(1));
                let rows: Vec<Vec<RgbImage>> =
                    cells.chunks(columns).map(<[RgbImage]>::to_vec).collect();
                let grid = export::grid(&rows, &[], &[format!("seed {seed}")]);
                let result = export::save_png(&path, &grid, true).map_err(|e| e.to_string());
                self.report_write(&path, result);
            }
            ExportKind::SwapGrid {
                path,
                row_labels,
                col_labels,
            } => {
                let grid = export::grid(&parts, &row_labels, &col_labels);
                let result = export::save_png(&path, &grid, true).map_err(|e| e.to_string());
                self.report_write(&path, result);
            }
            ExportKind::Gif { path, frame_ms } => {
                let frames: Vec<RgbImage> = parts.into_iter().flatten().collect();
                let result = export::gif_bytes(&frames, frame_ms)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        crate::io::atomic::write_atomic(&path, &bytes, true)
                            .map_err(|e| e.to_string())
                    });
                self.report_write(&path, result);
            }
            ExportKind::Strip { path } => {
                let frames: Vec<RgbImage> = parts.into_iter().flatten().collect();
                let result = export::save_png(&path, &export::strip(&frames), true)
                    .map_err(|e| e.to_string());
                self.report_write(&path, result);
            }
        }
    }

    fn report_write(&mut self, path: &Path, result: Result<(), String>) {
        match result {
            Ok(()) => self.toast(format!("Saved {}", path.display()), false),
            Err(e) => self.toast(format!("Could not save {}: {e}", path.display()), true),
        }
    }

    /// Loads a style-code set; its codes become the saved codes and the first one the current.
    pub fn load_styles(&mut self, path: &Path) {
        let result = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| StyleSet::from_json(&text, self.style_dim()));
        match result {
            Ok(set) => {
                if let Some(first) = set.codes.first() {
                    self.style = first.code.clone();
                }
                let count = set.codes.len();
                self.session.saved_codes = set.codes;
                self.toast(format!("Loaded {count} style codes"), false);
            }
            Err(e) => self.toast(format!("{}: {e}", path.display()), true),
        }
    }

    /// Saves the current code to the slot list.
    pub fn save_current_code(&mut self) {
        let name = format!("code {}", self.session.saved_codes.len() + 1);
        self.session.saved_codes.push(NamedCode {
            name,
            code: self.style.clone(),
        });
    }

    /// The current style code as JSON (what "Copy style code" puts on the clipboard).
    pub fn style_json(&self) -> String {
        serde_json::to_string(&self.style).unwrap_or_default()
    }

    // ---- input ---------------------------------------------------------------------------

    /// Files dropped on the window: models open, images join the set (dropped on the style
    /// zone, they become the style reference). Bad files give a toast and change nothing.
    fn handle_drops(&mut self, ctx: &egui::Context) {
        let (dropped, pointer) =
            ctx.input(|i| (i.raw.dropped_files.clone(), i.pointer.latest_pos()));
        if dropped.is_empty() {
            return;
        }
        let on_style = match (pointer, self.style_drop_rect) {
            (Some(p), Some(rect)) => rect.contains(p),
            _ => false,
        };
        for file in dropped {
            let path = file.path().to_path_buf();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "dropped file".into());
            let result = if path.exists() {
                if let Some(model) = model_source_for(&path) {
                    self.load_model(model);
                    continue;
                }
                self.add_image_path(ctx, &path)
            } else {
                // No local path (e.g. a drop from a browser): read what the integration has.
                file.bytes()
                    .and_then(|bytes| {
                        crate::io::image::decode_image(&bytes, &name).map_err(|e| e.to_string())
                    })
                    .map(|img| self.add_image(ctx, name.clone(), None, img))
            };
            match result {
                Ok(id) if on_style => {
                    // A style reference: keep the content image, take the style.
                    self.content = self.committed.content.or(self.content);
                    if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                        entry.in_rows = false;
                    }
                    self.style_from_image(id);
                }
                Ok(_) => {}
                Err(e) => self.toast(e, true),
            }
        }
    }

    fn handle_paste(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pasted: Vec<Arc<ColorImage>> = ctx.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::PasteImage(img) => Some(img.clone()),
                    _ => None,
                })
                .collect()
        });
        for color in pasted {
            let [w, h] = color.size;
            let rgba: Vec<u8> = color.pixels.iter().flat_map(|p| p.to_array()).collect();
            match image::RgbaImage::from_raw(w as u32, h as u32, rgba) {
                Some(img) => {
                    let name = format!("pasted-{}", self.next_image);
                    self.add_image(ctx, name, None, DynamicImage::ImageRgba8(img));
                }
                None => self.toast("The clipboard image could not be read", true),
            }
        }
    }

    /// Runs a command (from a shortcut, a menu or a button).
    pub fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::OpenImage => self.open_dialog(Dialog::Images),
            Command::PasteImage => self.toast("Press Ctrl+V with an image on the clipboard", false),
            Command::OpenModel => self.open_dialog(Dialog::ModelFolder),
            Command::OpenOfficialModel => self.open_dialog(Dialog::Official),
            Command::RandomStyle => self.random_style(),
            Command::ZeroStyle => self.zero_style(),
            Command::SwapDirection => self.swap_direction(),
            Command::Undo => self.undo(),
            Command::Redo => self.redo(),
            Command::ExportPng => self.open_dialog(Dialog::Save(SaveTarget::Png)),
            Command::ExportSampleGrid => self.open_dialog(Dialog::Save(SaveTarget::SampleGrid)),
            Command::ExportSwapGrid => self.open_dialog(Dialog::Save(SaveTarget::SwapGrid)),
            Command::ExportGif => self.open_dialog(Dialog::Save(SaveTarget::Gif)),
            Command::ExportStrip => self.open_dialog(Dialog::Save(SaveTarget::Strip)),
            Command::Screenshot => self.open_dialog(Dialog::Save(SaveTarget::Screenshot)),
            Command::CopyImage => self.copy_image(),
            Command::CopyStyle => {
                ctx.copy_text(self.style_json());
                self.toast("Copied the style code", false);
            }
            Command::SaveStyles => self.open_dialog(Dialog::Save(SaveTarget::Styles)),
            Command::LoadStyles => self.open_dialog(Dialog::StyleSet),
            Command::ViewTranslate => self.session.view = View::Translate,
            Command::ViewSamples => self.session.view = View::Samples,
            Command::ViewSwap => self.session.view = View::Swap,
            Command::ViewInterpolate => self.session.view = View::Interpolate,
            Command::ToggleAnimation => self.playing = !self.playing,
        }
    }

    /// Shows a native file dialog on its own thread (it must not block the UI); the answer
    /// comes back as a [`Deferred`] action.
    fn open_dialog(&mut self, dialog: Dialog) {
        let tx = self.deferred_tx.clone();
        let start = self
            .images
            .iter()
            .rev()
            .find_map(|e| e.path.as_ref()?.parent().map(Path::to_path_buf));
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut d = rfd::FileDialog::new();
                if let Some(dir) = &start {
                    d = d.set_directory(dir);
                }
                let images = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];
                let answer = match dialog {
                    Dialog::Images => d
                        .add_filter("Images", &images)
                        .pick_files()
                        .map(Deferred::OpenImages),
                    Dialog::ModelFolder => d.pick_folder().map(Deferred::OpenModelFolder),
                    Dialog::Official => d
                        .add_filter("PyTorch checkpoint", &["pt", "pth", "safetensors"])
                        .pick_file()
                        .map(Deferred::OpenOfficial),
                    Dialog::StyleSet => d
                        .add_filter("Style codes", &["json"])
                        .pick_file()
                        .map(Deferred::LoadStyles),
                    Dialog::Save(target) => {
                        let (filter, ext, name) = match target {
                            SaveTarget::Gif => ("GIF", "gif", "interpolation.gif"),
                            SaveTarget::Styles => ("Style codes", "json", "styles.json"),
                            SaveTarget::SampleGrid => ("PNG", "png", "samples.png"),
                            SaveTarget::SwapGrid => ("PNG", "png", "swap-grid.png"),
                            SaveTarget::Strip => ("PNG", "png", "interpolation.png"),
                            SaveTarget::Screenshot => ("PNG", "png", "screenshot.png"),
                            SaveTarget::Png => ("PNG", "png", "translation.png"),
                        };
                        d.add_filter(filter, &[ext])
                            .set_file_name(name)
                            .save_file()
                            .map(|p| Deferred::SaveTo(target, p))
                    }
                };
                if let Some(answer) = answer {
                    let _ = tx.send(answer);
                }
            });
        if let Err(e) = spawned {
            self.toast(format!("Cannot open a file dialog: {e}"), true);
        }
    }

    fn handle_deferred(&mut self, ctx: &egui::Context) {
        while let Ok(action) = self.deferred_rx.try_recv() {
            match action {
                Deferred::OpenImages(paths) => {
                    for path in paths {
                        if let Err(e) = self.add_image_path(ctx, &path) {
                            self.toast(e, true);
                        }
                    }
                }
                Deferred::OpenModelFolder(dir) => self.load_model(ModelSource::Folder(dir)),
                Deferred::OpenOfficial(checkpoint) if is_drit_checkpoint(&checkpoint) => {
                    self.load_model(ModelSource::Checkpoint(checkpoint))
                }
                Deferred::OpenOfficial(checkpoint) => match official_config_for(&checkpoint) {
                    Some(config) => self.load_model(ModelSource::Official { config, checkpoint }),
                    None => self.toast(
                        format!(
                            "No YAML config next to {}; put the training config (e.g. config.yaml) beside it",
                            checkpoint.display()
                        ),
                        true,
                    ),
                },
                // A native save dialog has already asked about replacing the file.
                Deferred::SaveTo(target, path) => self.export_to(target, path, true),
                Deferred::LoadStyles(path) => self.load_styles(&path),
            }
        }
    }

    fn handle_screenshots(&mut self, ctx: &egui::Context) {
        if let Some(tx) = self.pending_screenshot.take() {
            ctx.request_screenshot(move |image| {
                let _ = tx.send(image);
            });
        }
        while let Ok(image) = self.screenshot_rx.try_recv() {
            let Some(path) = self.screenshot_path.take() else {
                continue;
            };
            let [w, h] = image.size;
            let rgb: Vec<u8> = image
                .pixels
                .iter()
                .flat_map(|p| [p.r(), p.g(), p.b()])
                .collect();
            let result = RgbImage::from_raw(w as u32, h as u32, rgb)
                .ok_or_else(|| "the screenshot had the wrong size".to_string())
                .and_then(|img| export::save_png(&path, &img, true).map_err(|e| e.to_string()));
            let ok = result.is_ok();
            self.report_write(&path, result);
            if self.exit_after_screenshot.is_some() {
                if !ok {
                    std::process::exit(1);
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    fn save_session(&mut self, now: f64, force: bool) {
        let Some(path) = self.session_path.clone() else {
            return;
        };
        if !force && now - self.last_session_save < 2.0 {
            return;
        }
        self.last_session_save = now;
        self.session.images = self.images.iter().filter_map(|e| e.path.clone()).collect();
        self.session.content = self.content.and_then(|id| {
            self.images
                .iter()
                .filter(|e| e.path.is_some())
                .position(|e| e.id == id)
        });
        self.session.source = self.source;
        self.session.style = self.style.clone();
        if self.session_saved.as_ref() == Some(&self.session) {
            return;
        }
        match self.session.save(&path) {
            Ok(()) => self.session_saved = Some(self.session.clone()),
            Err(e) => log::warn!("cannot save the session to {}: {e}", path.display()),
        }
    }

    /// A one-line account of the state, for test failure messages and bug reports.
    pub fn summary(&self) -> String {
        let model = match &self.model {
            ModelState::None => "none".to_string(),
            ModelState::Loading(s) => format!("loading {}", s.label()),
            ModelState::Ready(info) => format!("ready {}", info.source.label()),
            ModelState::Failed(s, e) => format!("failed {}: {e}", s.label()),
        };
        let images: Vec<String> = self
            .images
            .iter()
            .map(|e| {
                format!("{}={:?}", e.name, e.state)
                    .chars()
                    .take(60)
                    .collect()
            })
            .collect();
        format!(
            "model {model}; images {images:?}; content {:?}; slots {:?}; wanted {:?}; failed {:?}; pending {}; toasts {:?}",
            self.content,
            self.slots.keys().collect::<Vec<_>>(),
            self.wanted.keys().collect::<Vec<_>>(),
            self.failed,
            self.worker.pending(),
            self.toast_texts()
        )
    }

    pub fn clear_toasts(&mut self) {
        self.toasts.clear();
    }

    pub fn toast_texts(&self) -> Vec<String> {
        self.toasts.iter().map(|t| t.text.clone()).collect()
    }

    /// Swap-grid cells on screen.
    pub fn rendered_swap_cells(&self) -> usize {
        self.slots
            .keys()
            .filter(|s| matches!(s, Slot::Swap { .. }))
            .count()
    }

    /// Sample-grid cells on screen.
    pub fn rendered_samples(&self) -> usize {
        self.slots
            .keys()
            .filter(|s| matches!(s, Slot::Sample(_)))
            .count()
    }

    pub fn has_interpolation(&self) -> bool {
        self.slots.contains_key(&Slot::Interpolation)
    }

    /// Whether a save is waiting for the user to confirm replacing a file.
    pub fn asks_to_replace(&self) -> bool {
        self.confirm_replace.is_some()
    }

    fn texture_of(&self, slot: Slot) -> Option<(TextureId, [usize; 2])> {
        self.slots.get(&slot).map(|v| (v.id(), v.size))
    }
}

enum Dialog {
    Images,
    ModelFolder,
    Official,
    StyleSet,
    Save(SaveTarget),
}

/// Labels in exported grids: the file name without extension, shortened.
fn short(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    stem.chars().take(12).collect()
}

/// A dropped path that is a model: a native model / run folder, or a `.pt` with a YAML beside it.
fn model_source_for(path: &Path) -> Option<ModelSource> {
    if path.is_dir() {
        return Some(ModelSource::Folder(path.to_path_buf()));
    }
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    if ext == "pt" || ext == "pth" {
        // A DRIT++ training state carries its architecture; MUNIT / UNIT need their YAML.
        if is_drit_checkpoint(path) {
            return Some(ModelSource::Checkpoint(path.to_path_buf()));
        }
        let config = official_config_for(path)?;
        return Some(ModelSource::Official {
            config,
            checkpoint: path.to_path_buf(),
        });
    }
    None
}

/// The YAML config belonging to an official checkpoint: `config.yaml` beside it (as the official
/// trainer writes), else the only `.yaml` there, else the one in the run folder above
/// `checkpoints/`.
fn official_config_for(checkpoint: &Path) -> Option<PathBuf> {
    let dir = checkpoint.parent()?;
    let candidates = |dir: &Path| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                })
            })
            .collect();
        found.sort();
        found
    };
    for dir in [Some(dir), dir.parent()].into_iter().flatten() {
        let found = candidates(dir);
        if let Some(config) = found.iter().find(|p| p.ends_with("config.yaml")) {
            return Some(config.clone());
        }
        if found.len() == 1 {
            return found.into_iter().next();
        }
    }
    None
}

/// Picks the compute device: burn on eframe's own wgpu device when there is a usable (hardware,
/// or explicitly requested) GPU, else the CPU backend. Returns (device, display path, backend,
/// description, a notice for the user).
fn choose_backend(
    choice: DeviceChoice,
    render_state: Option<&egui_wgpu::RenderState>,
) -> (
    burn::prelude::Device,
    Display,
    BackendKind,
    String,
    Option<String>,
) {
    let cpu = |note: Option<String>| {
        let compute = select_device(DeviceChoice::Cpu).expect("the CPU backend is always there");
        (
            compute.device,
            Display::Pixels,
            BackendKind::Cpu,
            compute.description,
            note,
        )
    };
    if choice == DeviceChoice::Cpu {
        return cpu(None);
    }
    let Some(rs) = render_state else {
        return match select_device(choice) {
            Ok(compute) if compute.kind == BackendKind::Wgpu => (
                compute.device,
                Display::Pixels,
                BackendKind::Wgpu,
                format!("{} (own device, pixels copied)", compute.description),
                None,
            ),
            Ok(compute) => cpu(compute.fallback_reason),
            Err(e) => cpu(Some(format!("{e}; using the CPU backend"))),
        };
    };
    let info = rs.adapter.get_info();
    let description = format!(
        "wgpu: {} ({:?}, {:?}), shared with the UI",
        info.name, info.backend, info.device_type
    );
    let software = info.device_type == eframe::wgpu::DeviceType::Cpu;
    if choice == DeviceChoice::Auto && software {
        return cpu(Some(format!(
            "Only a software GPU ({}) was found; the CPU backend is faster",
            info.name
        )));
    }
    match register_shared_device(&rs.instance, &rs.adapter, &rs.device, &rs.queue) {
        Ok(device) => (
            device,
            Display::Gpu(TextureConverter::new(&rs.device, &rs.queue)),
            BackendKind::Wgpu,
            description,
            None,
        ),
        Err(e) => cpu(Some(format!("{e}; using the CPU backend"))),
    }
}

impl eframe::App for StylespaceApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = ctx.input(|i| i.time);

        self.handle_events(&ctx);
        self.handle_deferred(&ctx);
        self.handle_drops(&ctx);
        self.handle_paste(&ctx);
        for command in Command::pressed(&ctx) {
            self.run_command(&ctx, command);
        }
        if self.playing {
            let dt = ctx.input(|i| i.stable_dt).min(0.1);
            let period = (self.session.interpolation.frames.max(2) as f32
                * self.session.interpolation.frame_ms as f32)
                / 1000.0;
            self.interpolation_t = (self.interpolation_t + dt / period.max(0.1)) % 1.0;
            ctx.request_repaint();
        }

        panels::draw(self, ui);

        self.track_history(&ctx);
        self.request_renders();
        if let Some(copy) = self.copy_request.take() {
            ctx.copy_image(copy);
        }
        self.handle_screenshots(&ctx);
        if self.exit_after_screenshot.is_some() {
            let failed = match &self.model {
                ModelState::Failed(_, e) => Some(format!("the model failed to open: {e}")),
                _ if self.started.elapsed().as_secs() > 600 => {
                    Some("no translation within 10 minutes".to_string())
                }
                _ => None,
            };
            if let Some(reason) = failed {
                eprintln!("error: {reason}");
                std::process::exit(1);
            }
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(path) = self.exit_after_screenshot.clone()
            && self.slots.contains_key(&Slot::Main)
            && self.screenshot_path.is_none()
            && self.pending_screenshot.is_none()
        {
            // Draw the output a couple of frames before capturing it.
            self.frames_with_output += 1;
            if self.frames_with_output == 3 {
                self.export_to(SaveTarget::Screenshot, path, true);
            }
            ctx.request_repaint();
        }
        for toast in &mut self.toasts {
            if toast.until.is_nan() {
                toast.until = now + if toast.error { 8.0 } else { 3.0 };
            }
        }
        self.toasts.retain(|t| t.until > now);
        if !self.toasts.is_empty() {
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
        self.save_session(now, false);
    }

    fn on_exit(&mut self) {
        self.save_session(f64::INFINITY, true);
    }
}
