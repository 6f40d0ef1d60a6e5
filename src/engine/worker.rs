//! The inference worker: one thread owns the model and runs every request, so a UI thread never
//! waits on it. Ordered jobs (loads, encodes, exports) run first in the order sent; renders are
//! keyed by a [`Slot`] and coalesce: a new request for a slot replaces one still waiting, so a fast
//! slider drag computes only the newest style and no queue builds up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::wgpu::wgpu;
use image::{DynamicImage, RgbImage};

use super::domains::DomainFit;
use super::effects::EffectMaps;
pub use super::region::Region;
use super::region::{MaskValues, prepare_mask};
use super::texture::TextureConverter;
use super::{Counters, Description, Model};
use crate::Domain;
use crate::config::Config;
use crate::io::image::image_from_chw;
use crate::model::params::to_vec;

/// Identifies an image the app has sent for encoding.
pub type ImageId = u64;

/// A model folder's style codes; the first is where the explorer starts.
pub const STYLES_FILE: &str = "styles.json";

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSource {
    /// A native model folder (config.yaml + model.safetensors) or a training run folder.
    Folder(PathBuf),
    /// An official YAML config and a `gen_*.pt` checkpoint (MUNIT, UNIT).
    Official {
        config: PathBuf,
        checkpoint: PathBuf,
    },
    /// A checkpoint that needs no config (a DRIT++ `.pth`).
    Checkpoint(PathBuf),
}

impl ModelSource {
    /// A short name for menus and the status bar.
    pub fn label(&self) -> String {
        let name = |p: &PathBuf| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        match self {
            ModelSource::Folder(dir) => name(dir),
            ModelSource::Official { checkpoint, .. } | ModelSource::Checkpoint(checkpoint) => {
                name(checkpoint)
            }
        }
    }

    /// The model a path names, if it is one: a native model or run folder, or a `.pt` / `.pth`
    /// checkpoint. A MUNIT / UNIT generator pair (told from its keys) takes the YAML config
    /// beside it ([`official_config_for`]); anything else (a DRIT++ training state, or a file
    /// whose load will say what it is not) is opened alone. Other files are `None`.
    pub fn for_path(path: &Path) -> Option<Self> {
        if path.is_dir() {
            return Some(ModelSource::Folder(path.to_path_buf()));
        }
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        if ext != "pt" && ext != "pth" {
            return None;
        }
        if super::needs_config(path)
            && let Some(config) = official_config_for(path)
        {
            return Some(ModelSource::Official {
                config,
                checkpoint: path.to_path_buf(),
            });
        }
        Some(ModelSource::Checkpoint(path.to_path_buf()))
    }

    /// The first code of a model folder's `styles.json` (where the explorer starts), if the
    /// folder has one with codes of `dim` values. A damaged file is logged and ignored.
    pub fn showcase(&self, dim: usize) -> Option<Vec<f32>> {
        let ModelSource::Folder(dir) = self else {
            return None;
        };
        let path = dir.join(STYLES_FILE);
        if !path.is_file() {
            return None;
        }
        match super::styles::StyleSet::read(&path, Some(dim)) {
            Ok(set) => set.codes.into_iter().next().map(|c| c.code),
            Err(e) => {
                log::warn!("ignoring {}: {e}", path.display());
                None
            }
        }
    }

    /// Opens the model on `device`.
    pub fn load(&self, device: &Device) -> Result<Model, super::EngineError> {
        match self {
            ModelSource::Folder(dir) => Model::load_folder(dir, device),
            ModelSource::Official { config, checkpoint } => {
                let config = Config::load(config)
                    .map_err(|e| super::EngineError::Checkpoint(e.into()))?
                    .config;
                Model::load(Some(config), checkpoint, device)
            }
            ModelSource::Checkpoint(checkpoint) => Model::load(None, checkpoint, device),
        }
    }
}

/// The YAML config belonging to an official checkpoint: `config.yaml` beside it (as the official
/// trainer writes), else the only `.yaml` there, else the same in the run folder above
/// `checkpoints/`.
pub fn official_config_for(checkpoint: &Path) -> Option<PathBuf> {
    let yamls = |dir: &Path| -> Vec<PathBuf> {
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
    let dir = checkpoint.parent()?;
    for dir in [Some(dir), dir.parent()].into_iter().flatten() {
        let found = yamls(dir);
        if let Some(config) = found.iter().find(|p| p.ends_with("config.yaml")) {
            return Some(config.clone());
        }
        if found.len() == 1 {
            return found.into_iter().next();
        }
    }
    None
}

/// What a render is for; one pending request per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// The main output (ordered first: it is what the user is dragging).
    Main,
    Interpolation,
    /// A frame of the strip along the interpolation path.
    PathFrame(usize),
    Sample(usize),
    Swap {
        row: usize,
        col: usize,
    },
}

/// UNIT's variation in the window: the latent plus `amount` x N(0, I) noise drawn from `seed`
/// (0 is the deterministic translation). Ignored by models with a style space.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatentNoise {
    pub amount: f32,
    pub seed: u64,
}

impl Default for LatentNoise {
    fn default() -> Self {
        Self {
            amount: 0.0,
            seed: 1,
        }
    }
}

/// Decode `content` (an encoded image) with `style` (or, for UNIT, `noise`) through `target`'s
/// decoder.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub slot: Slot,
    /// Set by the caller; returned with the result (for latency and staleness checks).
    pub seq: u64,
    pub content: ImageId,
    pub target: Domain,
    pub style: Vec<f32>,
    pub noise: Option<LatentNoise>,
    /// The region brush: a second code inside a mask over the content image.
    pub region: Option<Region>,
}

/// How rendered images reach the display.
pub enum Display {
    /// On the GPU: a texture written by the tensor -> texture shader, nothing read back.
    Gpu(TextureConverter),
    /// Read back as pixels (the CPU backend, or a GPU that cannot share its device).
    Pixels,
}

/// A rendered image.
pub enum Output {
    Texture(wgpu::Texture),
    Pixels(RgbImage),
}

impl Output {
    pub fn size(&self) -> [usize; 2] {
        match self {
            Output::Texture(t) => [t.width() as usize, t.height() as usize],
            Output::Pixels(img) => [img.width() as usize, img.height() as usize],
        }
    }
}

/// Facts about a loaded model, for the UI.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub source: ModelSource,
    /// Length of a style code (0 when the model has no style space).
    pub style_dim: usize,
    pub description: Description,
    /// The code to start from: the first of the model folder's `styles.json`, when it has one
    /// that fits.
    pub showcase: Option<Vec<f32>>,
}

/// Work that runs in order.
pub enum Job {
    Load(ModelSource),
    /// Test-time resize and crop for DRIT++ models loaded from now on (0 skips the step).
    DritResizeCrop {
        resize: Option<usize>,
        crop: Option<usize>,
    },
    /// Content code under `source` (cached for renders) and style code under the other domain's
    /// encoder (the image as a style reference for translations into that domain).
    Encode {
        id: ImageId,
        image: Arc<DynamicImage>,
        name: String,
        source: Domain,
    },
    /// Drop an image's cached content code (and its domain fit, if not started).
    Forget(ImageId),
    /// Style codes of image files, a few per step with renders in between; a progress event
    /// per step. Runs when nothing else waits.
    EncodeStyles(StyleBatch),
    /// Effect maps of an image's translation around a code ([`super::effects`]). Runs when
    /// nothing else waits; a newer request replaces one not started yet.
    EffectMaps(EffectRequest),
    /// How well each domain reproduces the image ([`super::domains`]). Runs when nothing else
    /// waits: it never delays an encode or a render.
    FitDomain {
        id: ImageId,
        image: Arc<DynamicImage>,
        name: String,
    },
    /// Decoded images read back as pixels, for exports (not counted as display readback).
    Pixels {
        tag: u64,
        content: ImageId,
        target: Domain,
        styles: Vec<Vec<f32>>,
        /// Latent noise per style (UNIT); missing entries mean none.
        noises: Vec<Option<LatentNoise>>,
        /// A second code inside a mask, for every style.
        region: Option<Region>,
    },
}

/// Images of a folder to encode into style codes, a few at a time (see [`Job::EncodeStyles`]).
#[derive(Debug, Clone)]
pub struct StyleBatch {
    /// Set by the caller; returned with every answer.
    pub tag: u64,
    pub paths: Vec<PathBuf>,
    /// Files done so far.
    pub done: usize,
    /// Whose style encoder reads them.
    pub domain: Domain,
    /// Set to stop after the current few.
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// What effect maps to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectRequest {
    pub content: ImageId,
    pub target: Domain,
    pub style: Vec<f32>,
    /// Unit directions (the code's dimensions, or principal axes).
    pub directions: Vec<Vec<f32>>,
    pub step: f32,
}

/// Images encoded per step of a [`StyleBatch`], between which renders run.
pub const STYLE_BATCH_STEP: usize = 4;

/// An image file's style code.
#[derive(Debug, Clone)]
pub struct FileStyle {
    pub path: PathBuf,
    pub code: Vec<f32>,
    /// At most [`FILE_STYLE_THUMBNAIL`] px a side.
    pub thumbnail: RgbImage,
}

/// Side of a [`FileStyle`] thumbnail.
pub const FILE_STYLE_THUMBNAIL: u32 = 64;

/// What the worker reports.
pub enum Event {
    Loaded(Box<ModelInfo>),
    LoadFailed {
        source: ModelSource,
        error: String,
    },
    Encoded {
        id: ImageId,
        source: Domain,
        /// The image's style under the other domain's style encoder.
        style: Vec<f32>,
        /// The model input size, `[width, height]`.
        size: [usize; 2],
    },
    EncodeFailed {
        id: ImageId,
        error: String,
    },
    Rendered {
        slot: Slot,
        seq: u64,
        content: ImageId,
        style: Vec<f32>,
        output: Output,
        /// Time the worker spent on it.
        seconds: f64,
    },
    RenderFailed {
        slot: Slot,
        seq: u64,
        error: String,
    },
    Pixels {
        tag: u64,
        images: Vec<RgbImage>,
    },
    PixelsFailed {
        tag: u64,
        error: String,
    },
    DomainFit {
        id: ImageId,
        fit: Result<DomainFit, String>,
    },
    Effects {
        request: EffectRequest,
        maps: Result<EffectMaps, String>,
    },
    /// A step of an [`Job::EncodeStyles`]: the codes it made, the files it could not read, and
    /// how far the batch is.
    Styles {
        tag: u64,
        styles: Vec<FileStyle>,
        failed: Vec<String>,
        done: usize,
        total: usize,
    },
    /// The GPU backend failed (the device was lost, or its code panicked): what ran on it is
    /// unreliable from now on. Sent after the failed job's own event. Never sent on the CPU.
    BackendFailed {
        error: String,
    },
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    renders: BTreeMap<Slot, RenderRequest>,
    /// Jobs for when nothing else waits.
    idle: VecDeque<Job>,
    /// A job or render has been taken and its events are not sent yet.
    running: bool,
    shutdown: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

/// Handle to the worker thread; dropping it stops the thread after the current job.
pub struct Worker {
    shared: Shared,
    events: Receiver<Event>,
    counters: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker on `device`. `notify` is called after every event (e.g. to wake the UI).
    pub fn spawn(
        device: Device,
        kind: super::BackendKind,
        display: Display,
        notify: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared: Shared = Arc::default();
        let counters = Arc::new(Counters::default());
        let (tx, events) = channel();
        let thread = {
            let shared = shared.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("stylespace-worker".into())
                .spawn(move || {
                    let mut state = WorkerState {
                        device,
                        gpu: kind == super::BackendKind::Wgpu,
                        display,
                        counters,
                        model: None,
                        drit_resize_crop: (None, None),
                        contents: HashMap::new(),
                        prepared_mask: None,
                        tx,
                        notify: Box::new(notify),
                    };
                    state.run(&shared);
                })?
        };
        Ok(Self {
            shared,
            events,
            counters,
            thread: Some(thread),
        })
    }

    /// Queues a job: in order with the other jobs, or (a domain fit) behind all other work.
    pub fn send(&self, job: Job) {
        let (lock, cvar) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
        match job {
            Job::EffectMaps(_) => {
                queue.idle.retain(|j| !matches!(j, Job::EffectMaps(_)));
                queue.idle.push_back(job);
            }
            Job::FitDomain { .. } | Job::EncodeStyles(_) => queue.idle.push_back(job),
            Job::Forget(id) => {
                queue
                    .idle
                    .retain(|j| !matches!(j, Job::FitDomain { id: i, .. } if *i == id));
                queue.jobs.push_back(job);
            }
            job => queue.jobs.push_back(job),
        }
        cvar.notify_one();
    }

    /// Queues a render, replacing a request for the same slot that has not started yet.
    pub fn render(&self, request: RenderRequest) {
        let (lock, cvar) = &*self.shared;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .renders
            .insert(request.slot, request);
        cvar.notify_one();
    }

    /// Drops waiting renders of the slots `keep` rejects (e.g. grid cells that no longer exist).
    pub fn retain_renders(&self, keep: impl Fn(&Slot) -> bool) {
        let (lock, _) = &*self.shared;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .renders
            .retain(|slot, _| keep(slot));
    }

    /// Jobs and renders not started yet, plus the one running until its events are sent.
    pub fn pending(&self) -> usize {
        let (lock, _) = &*self.shared;
        let queue = lock.lock().unwrap_or_else(|e| e.into_inner());
        queue.jobs.len() + queue.renders.len() + queue.idle.len() + usize::from(queue.running)
    }

    /// Events reported since the last call.
    pub fn events(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Waits up to `timeout` for the next event (tests and headless tools).
    pub fn wait_event(&self, timeout: std::time::Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Work counters of every model this worker has loaded.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stops the worker after its current job without waiting for it: a worker on a failed GPU
    /// may be blocked in the driver, and the window must not wait with it.
    pub fn abandon(mut self) {
        {
            let (lock, cvar) = &*self.shared;
            lock.lock().unwrap_or_else(|e| e.into_inner()).shutdown = true;
            cvar.notify_one();
        }
        drop(self.thread.take());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.shared;
            lock.lock().unwrap_or_else(|e| e.into_inner()).shutdown = true;
            cvar.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Next {
    Job(Job),
    Render(RenderRequest),
}

struct WorkerState {
    device: Device,
    gpu: bool,
    display: Display,
    counters: Arc<Counters>,
    model: Option<Model>,
    drit_resize_crop: (Option<usize>, Option<usize>),
    /// Content codes by image, with the domain they were encoded from and the image's
    /// `[width, height]` (masks are painted over it).
    contents: HashMap<ImageId, (Domain, Tensor<4>, [u32; 2])>,
    /// The last mask brought to the model: the painted one, its image, and the result.
    prepared_mask: Option<(Arc<image::GrayImage>, ImageId, MaskValues)>,
    tx: Sender<Event>,
    notify: Box<dyn Fn() + Send>,
}

impl WorkerState {
    fn run(&mut self, shared: &Shared) {
        loop {
            let next = {
                let (lock, cvar) = &**shared;
                let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if queue.shutdown {
                        return;
                    }
                    let next = if let Some(job) = queue.jobs.pop_front() {
                        Next::Job(job)
                    } else if let Some((_, request)) = queue.renders.pop_first() {
                        Next::Render(request)
                    } else if let Some(job) = queue.idle.pop_front() {
                        Next::Job(job)
                    } else {
                        queue = cvar.wait(queue).unwrap_or_else(|e| e.into_inner());
                        continue;
                    };
                    queue.running = true;
                    break next;
                }
            };
            let event = match next {
                Next::Job(Job::EncodeStyles(batch)) => {
                    let (event, rest) = self.encode_styles(batch);
                    if let Some(rest) = rest {
                        let (lock, _) = &**shared;
                        let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
                        queue.idle.push_front(Job::EncodeStyles(rest));
                    }
                    Some(event)
                }
                Next::Job(job) => self.job(job),
                Next::Render(request) => Some(self.render_event(request)),
            };
            let (event, failure) = match self.settle() {
                Ok(()) => (event, None),
                Err(error) => (
                    event.and_then(|e| unreliable(e, &error)),
                    Some(Event::BackendFailed { error }),
                ),
            };
            let mut listened = true;
            for event in event.into_iter().chain(failure) {
                if self.tx.send(event).is_err() {
                    listened = false;
                    break;
                }
            }
            shared.0.lock().unwrap_or_else(|e| e.into_inner()).running = false;
            if !listened {
                return; // nobody listens any more
            }
            (self.notify)();
        }
    }

    /// On a GPU, waits until the job's work has run before taking the next one. The queue is
    /// shared with the window: work submitted far ahead would make presenting wait behind all of
    /// it (a 32-cell grid at 512 px is seconds on a software GPU), and a slider's requests would
    /// pile up on the queue instead of coalescing in the worker. Also notices a GPU that failed
    /// during the job.
    fn settle(&mut self) -> Result<(), String> {
        let panic = PANIC.with(|p| p.borrow_mut().take());
        if !self.gpu {
            return Ok(());
        }
        if let Some(message) = panic {
            return Err(message);
        }
        match &self.display {
            Display::Gpu(converter) => converter
                .wait_idle()
                .and_then(|()| self.device.sync().map_err(|e| format!("{e:?}"))),
            Display::Pixels => self.device.sync().map_err(|e| format!("{e:?}")),
        }
    }

    fn job(&mut self, job: Job) -> Option<Event> {
        match job {
            Job::Load(source) => {
                let device = self.device.clone();
                let (resize, crop) = self.drit_resize_crop;
                let loaded = catch(|| {
                    let mut model = source.load(&device).map_err(|e| e.to_string())?;
                    if model.family() == super::Family::Drit {
                        model
                            .set_resize_crop(resize, crop)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(model)
                });
                Some(match loaded {
                    Ok(mut model) => {
                        model.counters = self.counters.clone();
                        self.contents.clear();
                        // Another model prepares masks its own way (resize, crop).
                        self.prepared_mask = None;
                        self.count_contents();
                        let info = ModelInfo {
                            showcase: source.showcase(model.style_dim()),
                            source,
                            style_dim: model.style_dim(),
                            description: model.description().clone(),
                        };
                        self.model = Some(model);
                        Event::Loaded(Box::new(info))
                    }
                    Err(error) => Event::LoadFailed { source, error },
                })
            }
            Job::Encode {
                id,
                image,
                name,
                source,
            } => Some(match self.encode(id, &image, &name, source) {
                Ok((style, size)) => Event::Encoded {
                    id,
                    source,
                    style,
                    size,
                },
                Err(error) => Event::EncodeFailed { id, error },
            }),
            Job::Forget(id) => {
                self.contents.remove(&id);
                self.count_contents();
                None
            }
            // Run by `run`, which queues what is left of the batch.
            Job::EncodeStyles(batch) => Some(self.encode_styles(batch).0),
            Job::EffectMaps(request) => {
                let maps = match self.contents.get(&request.content).cloned() {
                    None => Err(format!("image {} has not been encoded", request.content)),
                    Some((_, content, _)) => self.model().and_then(|model| {
                        catch(|| {
                            model
                                .effect_maps(
                                    request.target,
                                    &content,
                                    &request.style,
                                    &request.directions,
                                    request.step,
                                )
                                .map_err(|e| e.to_string())
                        })
                    }),
                };
                Some(Event::Effects { request, maps })
            }
            Job::FitDomain { id, image, name } => {
                let fit = self.model().and_then(|model| {
                    catch(|| model.domain_fit(&image, &name).map_err(|e| e.to_string()))
                });
                Some(Event::DomainFit { id, fit })
            }
            Job::DritResizeCrop { resize, crop } => {
                self.drit_resize_crop = (resize, crop);
                None
            }
            Job::Pixels {
                tag,
                content,
                target,
                styles,
                noises,
                region,
            } => Some(
                match self.pixels(content, target, &styles, &noises, region.as_ref()) {
                    Ok(images) => Event::Pixels { tag, images },
                    Err(error) => Event::PixelsFailed { tag, error },
                },
            ),
        }
    }

    /// Encodes the next few files of a batch; returns the step's event and the rest, if any
    /// (nothing once cancelled).
    fn encode_styles(&mut self, mut batch: StyleBatch) -> (Event, Option<StyleBatch>) {
        let total = batch.paths.len();
        let (mut styles, mut failed) = (Vec::new(), Vec::new());
        if batch.cancel.load(Ordering::Relaxed) {
            let done = batch.done;
            let tag = batch.tag;
            return (
                Event::Styles {
                    tag,
                    styles,
                    failed,
                    done,
                    total,
                },
                None,
            );
        }
        let end = (batch.done + STYLE_BATCH_STEP).min(total);
        for path in &batch.paths[batch.done..end] {
            let name = path.display().to_string();
            let style = crate::io::image::load_image(path)
                .map_err(|e| e.to_string())
                .and_then(|image| {
                    let model = self.model()?;
                    let code = catch(|| {
                        let prepared = model
                            .prepare(&image, batch.domain, &name)
                            .map_err(|e| e.to_string())?;
                        (model.style(batch.domain, &prepared))
                            .map(|s| s.code)
                            .ok_or_else(|| "the model has no style space".to_string())
                    })?;
                    let side = FILE_STYLE_THUMBNAIL;
                    Ok(FileStyle {
                        path: path.clone(),
                        code,
                        thumbnail: image.thumbnail(side, side).to_rgb8(),
                    })
                });
            match style {
                Ok(style) => styles.push(style),
                Err(e) => failed.push(e),
            }
        }
        batch.done = end;
        let event = Event::Styles {
            tag: batch.tag,
            styles,
            failed,
            done: end,
            total,
        };
        (event, (end < total).then_some(batch))
    }

    fn count_contents(&self) {
        self.counters
            .content_codes_held
            .store(self.contents.len() as u64, Ordering::Relaxed);
    }

    fn model(&mut self) -> Result<&mut Model, String> {
        self.model
            .as_mut()
            .ok_or_else(|| "no model is loaded".to_string())
    }

    fn encode(
        &mut self,
        id: ImageId,
        image: &DynamicImage,
        name: &str,
        source: Domain,
    ) -> Result<(Vec<f32>, [usize; 2]), String> {
        let model = self.model()?;
        let result = catch(|| {
            let as_content = model
                .prepare(image, source, name)
                .map_err(|e| e.to_string())?;
            let content = model.content(source, &as_content);
            // The image as a style reference for the other domain; a model without a style
            // space (UNIT) has none to give.
            let style = if model.description().style.is_some() {
                let as_style = model
                    .prepare(image, source.other(), name)
                    .map_err(|e| e.to_string())?;
                model
                    .style(source.other(), &as_style)
                    .map(|s| s.code)
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok((content, style, [as_content.width, as_content.height]))
        })?;
        let (content, style, size) = result;
        self.contents
            .insert(id, (source, content, [image.width(), image.height()]));
        self.count_contents();
        Ok((style, size))
    }

    /// Decodes one style (or, for UNIT, one noise draw), with a second code inside a mask when
    /// `region` is given; `[1, c, h, w]`.
    fn decode(
        &mut self,
        content: ImageId,
        target: Domain,
        style: &[f32],
        noise: Option<LatentNoise>,
        region: Option<&Region>,
    ) -> Result<Tensor<4>, String> {
        let (source, code, size) = self
            .contents
            .get(&content)
            .cloned()
            .ok_or_else(|| format!("image {content} has not been encoded"))?;
        if source == target {
            return Err(format!(
                "image {content} was encoded from domain {source}; it cannot be decoded into the same domain"
            ));
        }
        let mask = match region {
            Some(region) => Some(self.prepared_mask(content, source, size, region)?),
            None => None,
        };
        let model = self.model()?;
        let has_style = model.description().style.is_some();
        catch(|| match (region, mask) {
            (Some(region), Some(mask)) => model
                .decode_region(target, code, style, &region.style, &mask)
                .map_err(|e| e.to_string()),
            _ => {
                let code = match noise {
                    Some(n) if !has_style && n.amount != 0.0 => {
                        model.noisy_latent(&code, n.seed, n.amount)
                    }
                    _ => code,
                };
                let style = has_style.then_some(style);
                model.decode(target, code, style).map_err(|e| e.to_string())
            }
        })
    }

    /// A region's mask as the model sees the image, kept while the same mask is painted over the
    /// same image (slider moves do not prepare it again).
    fn prepared_mask(
        &mut self,
        content: ImageId,
        source: Domain,
        size: [u32; 2],
        region: &Region,
    ) -> Result<MaskValues, String> {
        if let Some((mask, id, values)) = &self.prepared_mask
            && *id == content
            && Arc::ptr_eq(mask, &region.mask)
        {
            return Ok(values.clone());
        }
        let model = self.model()?;
        let values = catch(|| {
            prepare_mask(model, &region.mask, source, size, "the mask").map_err(|e| e.to_string())
        })?;
        self.prepared_mask = Some((region.mask.clone(), content, values.clone()));
        Ok(values)
    }

    fn render_event(&mut self, request: RenderRequest) -> Event {
        let start = Instant::now();
        match self.render(&request) {
            Ok(output) => Event::Rendered {
                slot: request.slot,
                seq: request.seq,
                content: request.content,
                style: request.style,
                output,
                seconds: start.elapsed().as_secs_f64(),
            },
            Err(error) => Event::RenderFailed {
                slot: request.slot,
                seq: request.seq,
                error,
            },
        }
    }

    fn render(&mut self, request: &RenderRequest) -> Result<Output, String> {
        let image = self.decode(
            request.content,
            request.target,
            &request.style,
            request.noise,
            request.region.as_ref(),
        )?;
        self.counters.renders.fetch_add(1, Ordering::Relaxed);
        match &self.display {
            Display::Gpu(converter) => {
                catch(|| converter.convert(image).map_err(|e| e.to_string())).map(Output::Texture)
            }
            Display::Pixels => {
                let [_, c, h, w] = image.dims();
                let values = catch(|| Ok(to_vec(image)))?;
                self.counters
                    .display_readback_bytes
                    .fetch_add((values.len() * 4) as u64, Ordering::Relaxed);
                Ok(Output::Pixels(image_from_chw(&values, c, h, w)))
            }
        }
    }

    fn pixels(
        &mut self,
        content: ImageId,
        target: Domain,
        styles: &[Vec<f32>],
        noises: &[Option<LatentNoise>],
        region: Option<&Region>,
    ) -> Result<Vec<RgbImage>, String> {
        let mut images = Vec::with_capacity(styles.len());
        for (i, style) in styles.iter().enumerate() {
            let noise = noises.get(i).copied().flatten();
            let image = self.decode(content, target, style, noise, region)?;
            let [_, c, h, w] = image.dims();
            let values = catch(|| Ok(to_vec(image)))?;
            self.counters
                .export_readback_bytes
                .fetch_add((values.len() * 4) as u64, Ordering::Relaxed);
            images.push(image_from_chw(&values, c, h, w));
        }
        Ok(images)
    }
}

/// What is left of a job's answer when the GPU failed during the job: nothing, since the app
/// moves to the CPU and encodes and renders everything again there, except an export's, which
/// fails (its caller waits for an answer).
fn unreliable(event: Event, error: &str) -> Option<Event> {
    match event {
        Event::Pixels { tag, .. } => Some(Event::PixelsFailed {
            tag,
            error: format!("the GPU failed: {error}"),
        }),
        Event::Loaded(_) | Event::LoadFailed { .. } | Event::PixelsFailed { .. } => Some(event),
        _ => None,
    }
}

thread_local! {
    /// The last panic [`catch`] turned into an error on this thread, for [`WorkerState::settle`].
    static PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs model code, turning a panic inside a backend (e.g. a driver failure) into an error so the
/// worker and the app survive it.
fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .map(|m| format!("the backend failed: {m}"))
                .unwrap_or_else(|| "the backend failed".into());
            PANIC.with(|p| *p.borrow_mut() = Some(message.clone()));
            Err(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_models_by_what_is_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A run folder: config.yaml above checkpoints/gen.pt.
        std::fs::create_dir(root.join("checkpoints")).unwrap();
        std::fs::write(root.join("config.yaml"), "gen: {}").unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let pair = std::fs::read(fixtures.join("munit-tiny/gen.pt")).unwrap();
        let gen_pt = root.join("checkpoints").join("gen_00001000.pt");
        std::fs::write(&gen_pt, &pair).unwrap();
        assert_eq!(
            ModelSource::for_path(&gen_pt),
            Some(ModelSource::Official {
                config: root.join("config.yaml"),
                checkpoint: gen_pt.clone(),
            })
        );
        // The only YAML beside the checkpoint wins over the run folder's.
        std::fs::write(root.join("checkpoints").join("edges2shoes.yml"), "gen: {}").unwrap();
        assert_eq!(
            official_config_for(&gen_pt),
            Some(root.join("checkpoints").join("edges2shoes.yml"))
        );
        // Folders are models; images are not.
        assert_eq!(
            ModelSource::for_path(root),
            Some(ModelSource::Folder(root.to_path_buf()))
        );
        let image = root.join("a.png");
        std::fs::write(&image, b"png").unwrap();
        assert_eq!(ModelSource::for_path(&image), None);
        // Without a YAML, or when it is not a generator pair, the file is opened alone (its
        // load says what is missing).
        let lone = tempfile::tempdir().unwrap();
        std::fs::create_dir(lone.path().join("run")).unwrap();
        let lone_pt = lone.path().join("run").join("gen.pt");
        std::fs::write(&lone_pt, &pair).unwrap();
        assert_eq!(
            ModelSource::for_path(&lone_pt),
            Some(ModelSource::Checkpoint(lone_pt.clone()))
        );
        let drit = fixtures.join("drit-tiny/drit.pth");
        assert_eq!(
            ModelSource::for_path(&drit),
            Some(ModelSource::Checkpoint(drit.clone()))
        );
    }
}
