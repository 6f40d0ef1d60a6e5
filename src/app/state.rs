//! The explorer's state: a plain value (no egui, no worker, no GPU) that only
//! [`AppState::apply`] changes. Panels, shortcuts, menus, drops, pastes and worker events all
//! become [`Action`]s; `apply` returns the [`Effect`]s the shell carries out (encode an image,
//! forget a content code, open a model, show a toast).

use std::path::PathBuf;
use std::sync::Arc;

use image::{DynamicImage, GrayImage};

use super::brush::{self, BrushSettings};
use super::history::{History, Snapshot};
use super::map::StyleMap;
use super::session::{InterpolationSettings, Session, Settings, SliderMode, SwapColumns, View};
use crate::Domain;
use crate::engine::Family;
use crate::engine::domains::DomainFit;
use crate::engine::pca::Pca;
use crate::engine::styles::{NamedCode, StyleSet, path_frames, path_point, sample_styles};
use crate::engine::worker::{
    EffectRequest, FileStyle, ImageId, LatentNoise, ModelInfo, ModelSource, Region, StyleBatch,
};

/// Seed of the code a freshly opened model without a showcase code starts from.
const FIRST_CODE_SEED: u64 = 3;
/// Most images the set holds.
pub const MAX_IMAGES: usize = 256;
/// Most memory the set's decoded images may take together.
pub const MAX_SET_BYTES: u64 = 4 << 30;

/// Frames of the path strip under the interpolation player.
pub const PATH_STRIP_FRAMES: usize = 8;
/// Seed of the region brush's first inside code.
const REGION_CODE_SEED: u64 = 4;

#[derive(Debug, Clone, PartialEq)]
pub enum EncodeState {
    Pending,
    Ready { style: Vec<f32>, size: [usize; 2] },
    Failed(String),
}

/// Principal axes of map points' codes (at least two codes of a style space of two or more
/// dimensions).
pub fn pca_of(points: &[MapPoint]) -> Option<Pca> {
    let codes: Vec<Vec<f32>> = points.iter().map(|p| p.code.clone()).collect();
    Pca::fit(&codes).ok().filter(|p| p.dim() >= 2)
}

/// Where a point of the style map comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapFrom {
    Image(ImageId),
    /// An index into the map's files.
    File(usize),
}

/// A code on the style map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    pub label: String,
    pub code: Vec<f32>,
    pub from: MapFrom,
}

/// An image in the set.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    pub id: ImageId,
    pub name: String,
    pub path: Option<PathBuf>,
    pub image: Arc<DynamicImage>,
    pub state: EncodeState,
    /// The domain its content code was computed from (`None`: not sent to the worker).
    encoded_for: Option<Domain>,
    /// Shown as a row (content) / a column (style) of the swap grid.
    pub in_rows: bool,
    pub in_cols: bool,
    /// The user (or a restored session) set the roles: the domain no longer decides them.
    roles_chosen: bool,
    /// Which domain the model thinks the image comes from, once measured.
    pub domain: Option<DomainFit>,
    /// The domain fit was asked of the worker (for the current model).
    fit_requested: bool,
    /// The region brush's mask over this image (white = the second code), once painted.
    pub mask: Option<brush::Painted>,
}

impl ImageEntry {
    /// Its encoded style code (DRIT: attribute mean), once ready.
    pub fn style(&self) -> Option<&[f32]> {
        match &self.state {
            EncodeState::Ready { style, .. } => Some(style),
            _ => None,
        }
    }

    /// Sent to the worker and not answered yet.
    pub fn encoding(&self) -> bool {
        self.state == EncodeState::Pending && self.encoded_for.is_some()
    }
}

pub enum ModelState {
    None,
    Loading(ModelSource),
    Ready(Box<ModelInfo>),
    Failed(ModelSource, String),
}

/// Everything the user changes, in one place.
#[derive(Debug)]
pub enum Action {
    /// An image joins the set and becomes the content (`as_style`: dropped on the style zone, it
    /// becomes the style reference instead and the content stays).
    AddImage {
        name: String,
        path: Option<PathBuf>,
        image: Arc<DynamicImage>,
        as_style: bool,
    },
    RemoveImage(ImageId),
    SelectContent(ImageId),
    SetGridRoles {
        id: ImageId,
        in_rows: bool,
        in_cols: bool,
    },
    SwapGridRoles,
    SetSource(Domain),
    SwapDirection,
    SetStyle(Vec<f32>),
    SetStyleValue {
        dim: usize,
        value: f32,
    },
    RandomStyle {
        seed: u64,
    },
    ZeroStyle,
    /// The image's encoded style becomes the code (once it is encoded).
    StyleFromImage(ImageId),
    /// A sample-grid cell's code (and, for UNIT, its noise) becomes current.
    TakeSample(usize),
    /// A swap-grid cell: its row's content with its column's style.
    TakeSwapCell {
        row: ImageId,
        col: ImageId,
    },
    /// The interpolation's code at the current `t` becomes current.
    UseInterpolated,
    SetInterpolationStart(Vec<f32>),
    SetInterpolationEnd(Vec<f32>),
    /// A keyframe appended to the interpolation path (the old end becomes a point on the way).
    AddKeyframe(Vec<f32>),
    /// Keyframe `index` (0 = start) takes `code`.
    SetKeyframe {
        index: usize,
        code: Vec<f32>,
    },
    /// Keyframe `index` leaves the path (a path keeps two).
    RemoveKeyframe(usize),
    /// Path frame `index` of the swap grid's path columns becomes current: row `row`'s
    /// content with that frame's code.
    TakeSwapPathCell {
        row: ImageId,
        index: usize,
    },
    SetView(View),
    SetNoise(LatentNoise),
    SetSampleGrid {
        seed: u64,
        count: usize,
    },
    SetInterpolation(InterpolationSettings),
    /// The swap grid's columns, and the number of path frames when they are the path.
    SetSwapColumns {
        columns: SwapColumns,
        frames: usize,
    },
    SetInterpolationT(f32),
    TogglePlaying,
    /// Animation clock: `seconds` passed while playing.
    Advance {
        seconds: f32,
    },
    SetExportScale(u32),
    SetPanelWidths {
        content: f32,
        style: f32,
    },
    SetWindowSize([f32; 2]),
    SetZoom(super::session::Zoom),
    SetSmooth(bool),
    SaveCurrentCode,
    LoadSavedCode(usize),
    DeleteSavedCode(usize),
    /// A style-code set read from a file (checked against the model's dimension already).
    LoadStyleSet(StyleSet),
    Undo,
    Redo,
    /// The end of a gesture (a drag, a click): records an undo step if anything changed.
    Commit,
    /// Image files whose styles join the style map.
    AddMapFiles(Vec<PathBuf>),
    /// A step of the worker's encoding of map files.
    MapStyles {
        tag: u64,
        styles: Vec<FileStyle>,
        failed: Vec<String>,
        done: usize,
    },
    CancelMap,
    ClearMap,
    SetSliderMode(SliderMode),
    /// Effect maps on or off, and their step (code units).
    SetEffects {
        show: bool,
        step: f32,
    },
    /// The region brush on or off (on: the content image takes paint; the output mixes the
    /// inside code into the painted region).
    SetRegion(bool),
    /// The code inside the painted region.
    SetRegionStyle(Vec<f32>),
    /// The current and the inside code trade places.
    SwapRegionStyle,
    SetBrush(BrushSettings),
    /// A brush stroke on the content image, from `from` to `to` (shares of its width and
    /// height).
    PaintMask {
        from: [f32; 2],
        to: [f32; 2],
    },
    ClearMask,
    InvertMask,
    /// A mask for the content image, read from a file (already fitted to it).
    SetMask(GrayImage),
    OpenModel(ModelSource),
    /// The same model again on another worker (the compute backend changed): images are encoded
    /// again, while the code, the saved codes and the undo history stay.
    ReloadModel,
    // Worker events.
    ModelLoaded(Box<ModelInfo>),
    ModelFailed {
        source: ModelSource,
        error: String,
    },
    Encoded {
        id: ImageId,
        source: Domain,
        style: Vec<f32>,
        size: [usize; 2],
    },
    EncodeFailed {
        id: ImageId,
        error: String,
    },
    DomainFitted {
        id: ImageId,
        fit: Result<DomainFit, String>,
    },
}

/// What the shell must do after an action.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Compute the image's content code (and style) for `source`.
    Encode {
        id: ImageId,
        image: Arc<DynamicImage>,
        name: String,
        source: Domain,
    },
    /// Drop the image's content code from the worker.
    Forget(ImageId),
    /// Encode image files' styles for the map.
    EncodeStyles(StyleBatch),
    /// Measure which domain the image comes from.
    FitDomain {
        id: ImageId,
        image: Arc<DynamicImage>,
        name: String,
    },
    LoadModel(ModelSource),
    Toast {
        text: String,
        error: bool,
    },
    /// Another model is current: everything rendered so far is stale.
    ModelChanged,
}

fn toast(text: impl Into<String>, error: bool) -> Effect {
    Effect::Toast {
        text: text.into(),
        error,
    }
}

pub struct AppState {
    pub model: ModelState,
    /// The family of the model loaded last (a new family gets a fresh code and history).
    loaded_family: Option<Family>,
    pub images: Vec<ImageEntry>,
    /// Removed images, kept while an undo step can bring them back.
    removed: Vec<ImageEntry>,
    next_image: ImageId,
    pub content: Option<ImageId>,
    /// The source domain (the translation goes to the other one).
    pub source: Domain,
    pub style: Vec<f32>,
    /// Use the next encoded style of this image as the current code.
    style_from: Option<ImageId>,
    pub settings: Settings,
    pub interpolation_t: f32,
    pub playing: bool,
    /// The user chose the interpolation's start; until then it follows the current code.
    interpolation_start_chosen: bool,
    history: History,
    /// The model being loaded is the current one again (see [`Action::ReloadModel`]).
    reloading: bool,
    /// Image files on the style map.
    pub map: StyleMap,
    /// The region brush is on: the content image takes paint, the output mixes
    /// `region_style` into the painted region.
    pub region_on: bool,
    /// The code inside the painted region.
    pub region_style: Option<Vec<f32>>,
}

impl Default for AppState {
    fn default() -> Self {
        Self::new(Settings::default(), Domain::A, Vec::new())
    }
}

impl AppState {
    pub fn new(settings: Settings, source: Domain, style: Vec<f32>) -> Self {
        Self {
            model: ModelState::None,
            loaded_family: None,
            images: Vec::new(),
            removed: Vec::new(),
            next_image: 1,
            content: None,
            source,
            style,
            style_from: None,
            settings,
            interpolation_t: 0.0,
            playing: false,
            interpolation_start_chosen: false,
            reloading: false,
            map: StyleMap::default(),
            region_on: false,
            region_style: None,
            history: History::new(Snapshot {
                source,
                ..Snapshot::default()
            }),
        }
    }

    /// How many bytes one more image may take when decoded, or why the set has no room (see
    /// [`MAX_IMAGES`], [`MAX_SET_BYTES`]).
    pub fn image_room(&self) -> Result<u64, String> {
        if self.images.len() >= MAX_IMAGES {
            return Err(format!(
                "the image set holds at most {MAX_IMAGES} images; remove some first"
            ));
        }
        let used: u64 = (self.images.iter())
            .map(|e| e.image.as_bytes().len() as u64)
            .sum();
        match MAX_SET_BYTES.saturating_sub(used) {
            0 => Err(format!(
                "the image set's images take {} MiB, the most it holds; remove some first",
                used >> 20
            )),
            room => Ok(room),
        }
    }

    /// The id the next added image gets.
    pub fn next_image_id(&self) -> ImageId {
        self.next_image
    }

    pub fn target(&self) -> Domain {
        self.source.other()
    }

    /// The loaded model's style dimension (0 for UNIT); `None` while no model is ready.
    pub fn style_dim(&self) -> Option<usize> {
        match &self.model {
            ModelState::Ready(info) => Some(info.style_dim),
            _ => None,
        }
    }

    /// What the loaded model calls its code ("style", "attribute") and its family; `None` while
    /// no model is ready.
    pub fn style_space(&self) -> Option<(Family, Option<crate::engine::StyleSpace>)> {
        match &self.model {
            ModelState::Ready(info) => Some((info.description.family, info.description.style)),
            _ => None,
        }
    }

    /// Whether the loaded model has no style code (UNIT): its variation is latent noise.
    pub fn uses_latent_noise(&self) -> bool {
        matches!(&self.model, ModelState::Ready(info) if info.description.style.is_none())
    }

    /// The main view's latent noise (UNIT only).
    pub fn main_noise(&self) -> Option<LatentNoise> {
        self.uses_latent_noise().then_some(self.settings.noise)
    }

    /// The sample grid's codes (reproducible from the seed).
    pub fn sample_codes(&self) -> Vec<Vec<f32>> {
        match self.style_dim() {
            Some(dim) => sample_styles(self.settings.sample_count, dim, self.settings.sample_seed),
            None => Vec::new(),
        }
    }

    /// The sample grid's latent noise per cell (UNIT: a seed per cell from the grid's seed, at
    /// the main view's amount, or 1 when that is 0), else none.
    pub fn sample_noises(&self) -> Vec<Option<LatentNoise>> {
        let amount = match self.settings.noise.amount {
            a if a > 0.0 => a,
            _ => 1.0,
        };
        (0..self.settings.sample_count)
            .map(|i| {
                self.uses_latent_noise().then_some(LatentNoise {
                    amount,
                    seed: self
                        .settings
                        .sample_seed
                        .wrapping_mul(1 << 20)
                        .wrapping_add(i as u64),
                })
            })
            .collect()
    }

    /// The interpolation path's keyframes (closing return included), once they fit the model.
    pub fn path_keyframes(&self) -> Option<Vec<Vec<f32>>> {
        let dim = self.style_dim()?;
        let keys = self.settings.interpolation.keyframes();
        keys.iter().all(|k| k.len() == dim).then_some(keys)
    }

    /// The interpolated code at `t` along the path through every keyframe.
    pub fn interpolated(&self, t: f32) -> Option<Vec<f32>> {
        let keys = self.path_keyframes()?;
        Some(path_point(&keys, t, self.settings.interpolation.spherical))
    }

    /// `n` codes evenly along the path (a closed path does not repeat its start).
    pub fn path_codes(&self, n: usize) -> Option<Vec<Vec<f32>>> {
        let s = &self.settings.interpolation;
        Some(path_frames(
            &self.path_keyframes()?,
            n,
            s.spherical,
            s.closed,
        ))
    }

    /// The frames of the strip under the player.
    pub fn path_strip_codes(&self) -> Vec<Vec<f32>> {
        self.path_codes(PATH_STRIP_FRAMES).unwrap_or_default()
    }

    /// `t` of frame `index` of `n` evenly along the path.
    fn path_t(&self, index: usize, n: usize) -> f32 {
        let steps = match self.settings.interpolation.closed {
            true => n.max(1),
            false => n.max(2) - 1,
        };
        index as f32 / steps as f32
    }

    /// `t` of strip frame `index`.
    pub fn path_strip_t(&self, index: usize) -> f32 {
        self.path_t(index, PATH_STRIP_FRAMES)
    }

    /// `t` of the swap grid's path column `index`.
    pub fn swap_path_t(&self, index: usize) -> f32 {
        self.path_t(index, self.settings.swap_path_frames.clamp(2, 16))
    }

    /// The swap grid's columns when they are path frames.
    pub fn swap_path_codes(&self) -> Vec<Vec<f32>> {
        self.path_codes(self.settings.swap_path_frames.clamp(2, 16))
            .unwrap_or_default()
    }

    /// Content images (rows) and style images (columns) of the swap grid.
    pub fn swap_grid(&self) -> (Vec<&ImageEntry>, Vec<&ImageEntry>) {
        (
            self.images.iter().filter(|e| e.in_rows).collect(),
            self.images.iter().filter(|e| e.in_cols).collect(),
        )
    }

    pub fn image(&self, id: ImageId) -> Option<&ImageEntry> {
        self.images.iter().find(|e| e.id == id)
    }

    /// The content image, once its code is ready.
    pub fn content_ready(&self) -> Option<ImageId> {
        let id = self.content?;
        matches!(self.image(id)?.state, EncodeState::Ready { .. }).then_some(id)
    }

    /// Images the worker is still encoding.
    pub fn encoding(&self) -> bool {
        self.images.iter().any(ImageEntry::encoding)
    }

    /// Removed images kept so that undo can bring them back.
    pub fn images_kept_for_undo(&self) -> usize {
        self.removed.len()
    }

    /// Ids of every image the state holds (in the set or kept for undo).
    pub fn held_images(&self) -> impl Iterator<Item = ImageId> + '_ {
        self.images.iter().chain(&self.removed).map(|e| e.id)
    }

    pub fn can_undo(&self) -> bool {
        self.history.can_undo()
    }

    pub fn can_redo(&self) -> bool {
        self.history.can_redo()
    }

    /// The current code as JSON (what "Copy style code" puts on the clipboard).
    pub fn style_json(&self) -> String {
        serde_json::to_string(&self.style).unwrap_or_default()
    }

    /// The session file for this state.
    pub fn session(&self) -> Session {
        let persisted: Vec<&ImageEntry> = self.images.iter().filter(|e| e.path.is_some()).collect();
        Session {
            version: super::session::SESSION_VERSION,
            settings: self.settings.clone(),
            images: persisted.iter().filter_map(|e| e.path.clone()).collect(),
            roles: persisted.iter().map(|e| [e.in_rows, e.in_cols]).collect(),
            content: self
                .content
                .and_then(|id| persisted.iter().position(|e| e.id == id)),
            source: self.source,
            style: self.style.clone(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            style: self.style.clone(),
            content: self.content,
            source: self.source,
            images: self
                .images
                .iter()
                .map(|e| (e.id, e.in_rows, e.in_cols))
                .collect(),
            masks: self.images.iter().map(|e| (e.id, e.mask.clone())).collect(),
            region_style: self.region_style.clone(),
        }
    }

    /// Applies one action; returns what the shell must do.
    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        use Action::*;
        let mut effects = Vec::new();
        match action {
            AddImage { .. }
            | RemoveImage(..)
            | SelectContent(..)
            | SetGridRoles { .. }
            | SwapGridRoles
            | SetSource(..)
            | SwapDirection => self.apply_images(action, &mut effects),
            SetStyle(..)
            | SetStyleValue { .. }
            | RandomStyle { .. }
            | ZeroStyle
            | StyleFromImage(..)
            | TakeSample(..)
            | TakeSwapCell { .. }
            | TakeSwapPathCell { .. }
            | UseInterpolated
            | SaveCurrentCode
            | LoadSavedCode(..)
            | DeleteSavedCode(..)
            | LoadStyleSet(..) => self.apply_code(action, &mut effects),
            SetInterpolationStart(..)
            | SetInterpolationEnd(..)
            | AddKeyframe(..)
            | SetKeyframe { .. }
            | RemoveKeyframe(..)
            | SetView(..)
            | SetNoise(..)
            | SetSampleGrid { .. }
            | SetInterpolation(..)
            | SetSwapColumns { .. }
            | SetInterpolationT(..)
            | TogglePlaying
            | Advance { .. }
            | SetExportScale(..)
            | SetPanelWidths { .. }
            | SetWindowSize(..)
            | SetZoom(..)
            | SetSmooth(..)
            | SetSliderMode(..)
            | SetEffects { .. } => self.apply_settings(action, &mut effects),
            SetRegion(..)
            | SetRegionStyle(..)
            | SwapRegionStyle
            | SetBrush(..)
            | PaintMask { .. }
            | ClearMask
            | InvertMask
            | SetMask(..) => self.apply_region(action, &mut effects),
            AddMapFiles(..) | MapStyles { .. } | CancelMap | ClearMap => {
                self.apply_map(action, &mut effects)
            }
            Undo | Redo | Commit => self.apply_history(action, &mut effects),
            OpenModel(..)
            | ReloadModel
            | ModelLoaded(..)
            | ModelFailed { .. }
            | Encoded { .. }
            | EncodeFailed { .. }
            | DomainFitted { .. } => self.apply_model(action, &mut effects),
        }
        effects
    }

    /// The image set, the content and the direction.
    fn apply_images(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::AddImage {
                name,
                path,
                image,
                as_style,
            } => self.add_image(name, path, image, as_style, effects),
            Action::RemoveImage(id) => self.remove_image(id, effects),
            Action::SelectContent(id) if self.image(id).is_some() => self.content = Some(id),
            Action::SetGridRoles {
                id,
                in_rows,
                in_cols,
            } => {
                if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                    entry.in_rows = in_rows;
                    entry.in_cols = in_cols;
                    entry.roles_chosen = true;
                }
            }
            Action::SwapGridRoles => {
                for entry in &mut self.images {
                    std::mem::swap(&mut entry.in_rows, &mut entry.in_cols);
                    entry.roles_chosen = true;
                }
            }
            Action::SetSource(source) => {
                let changed = source != self.source;
                self.source = source;
                self.encode_if_needed(effects);
                if changed {
                    self.restart_map(effects);
                }
            }
            Action::SwapDirection => {
                self.source = self.source.other();
                self.encode_if_needed(effects);
                self.restart_map(effects);
            }
            _ => {}
        }
    }

    /// The style code and the saved codes.
    fn apply_code(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::SetStyle(code) => self.set_style(code),
            Action::SetStyleValue { dim, value } => {
                if let Some(v) = self.style.get_mut(dim) {
                    *v = value;
                }
            }
            Action::RandomStyle { seed } => {
                if let Some(dim) = self.style_dim().filter(|d| *d > 0) {
                    self.style = sample_styles(1, dim, seed).remove(0);
                }
            }
            Action::ZeroStyle => {
                if let Some(dim) = self.style_dim() {
                    self.style = vec![0.0; dim];
                }
            }
            Action::StyleFromImage(id) => self.style_from_image(id),
            Action::TakeSample(i) => {
                if let Some(code) = self.sample_codes().into_iter().nth(i) {
                    self.style = code;
                }
                if let Some(Some(noise)) = self.sample_noises().get(i) {
                    self.settings.noise = *noise;
                }
            }
            Action::TakeSwapCell { row, col } => {
                if self.image(row).is_some() {
                    self.content = Some(row);
                }
                self.style_from_image(col);
            }
            Action::TakeSwapPathCell { row, index } => {
                if let Some(code) = self.swap_path_codes().into_iter().nth(index) {
                    if self.image(row).is_some() {
                        self.content = Some(row);
                    }
                    self.set_style(code);
                }
            }
            Action::UseInterpolated => {
                if let Some(code) = self.interpolated(self.interpolation_t) {
                    self.style = code;
                }
            }
            Action::SaveCurrentCode => {
                let name = format!("code {}", self.settings.saved_codes.len() + 1);
                self.settings.saved_codes.push(NamedCode {
                    name,
                    code: self.style.clone(),
                });
            }
            Action::LoadSavedCode(i) => {
                if let Some(code) = self.settings.saved_codes.get(i) {
                    let code = code.code.clone();
                    self.set_style(code);
                }
            }
            Action::DeleteSavedCode(i) if i < self.settings.saved_codes.len() => {
                self.settings.saved_codes.remove(i);
            }
            Action::LoadStyleSet(set) => {
                if let Some(first) = set.codes.first() {
                    self.set_style(first.code.clone());
                }
                effects.push(toast(
                    format!("Loaded {} style codes", set.codes.len()),
                    false,
                ));
                self.settings.saved_codes = set.codes;
            }
            _ => {}
        }
    }

    /// View settings and the animation.
    fn apply_settings(&mut self, action: Action, _effects: &mut Vec<Effect>) {
        match action {
            Action::SetInterpolationStart(code) => {
                self.interpolation_start_chosen = true;
                self.settings.interpolation.start = code;
            }
            // The interpolation starts from the current code unless the user chose a start.
            Action::SetView(View::Interpolate)
                if !self.interpolation_start_chosen && !self.style.is_empty() =>
            {
                self.settings.interpolation.start = self.style.clone();
                self.settings.view = View::Interpolate;
            }
            Action::SetInterpolationEnd(code) => self.settings.interpolation.end = code,
            Action::AddKeyframe(code) if Some(code.len()) == self.style_dim() => {
                let interp = &mut self.settings.interpolation;
                let end = std::mem::replace(&mut interp.end, code);
                interp.through.push(end);
            }
            Action::SetKeyframe { index, code } if Some(code.len()) == self.style_dim() => {
                let interp = &mut self.settings.interpolation;
                let mut keys = interp.keyframes();
                if interp.closed {
                    keys.pop();
                }
                if let Some(key) = keys.get_mut(index) {
                    *key = code;
                    if index == 0 {
                        self.interpolation_start_chosen = true;
                    }
                    interp.set_keyframes(keys);
                }
            }
            Action::RemoveKeyframe(index) => {
                let interp = &mut self.settings.interpolation;
                let mut keys = interp.keyframes();
                if interp.closed {
                    keys.pop();
                }
                if keys.len() > 2 && index < keys.len() {
                    keys.remove(index);
                    interp.set_keyframes(keys);
                }
            }
            Action::SetView(view) => self.settings.view = view,
            Action::SetNoise(noise) => self.settings.noise = noise,
            Action::SetSampleGrid { seed, count } => {
                self.settings.sample_seed = seed;
                self.settings.sample_count = count.clamp(1, 64);
            }
            Action::SetInterpolation(settings) => self.settings.interpolation = settings,
            Action::SetSwapColumns { columns, frames } => {
                self.settings.swap_columns = columns;
                self.settings.swap_path_frames = frames.clamp(2, 16);
            }
            Action::SetInterpolationT(t) => self.interpolation_t = t.clamp(0.0, 1.0),
            Action::TogglePlaying => self.playing = !self.playing,
            Action::Advance { seconds } if self.playing => {
                let s = &self.settings.interpolation;
                let period = (s.frames.max(2) as f32 * s.frame_ms as f32) / 1000.0;
                self.interpolation_t =
                    (self.interpolation_t + seconds.min(0.1) / period.max(0.1)) % 1.0;
            }
            Action::SetExportScale(scale) => self.settings.export_scale = scale.clamp(1, 16),
            Action::SetWindowSize(size) => self.settings.window_size = Some(size),
            Action::SetZoom(zoom) => self.settings.zoom = zoom,
            Action::SetSmooth(smooth) => self.settings.smooth = smooth,
            Action::SetSliderMode(mode) => self.settings.slider_mode = mode,
            Action::SetEffects { show, step } => {
                self.settings.show_effects = show;
                if step.is_finite() && step > 0.0 {
                    self.settings.effect_step = step.clamp(0.01, 3.0);
                }
            }
            Action::SetPanelWidths { content, style } => {
                self.settings.content_panel_width = Some(content);
                self.settings.style_panel_width = Some(style);
            }
            _ => {}
        }
    }

    /// The region brush.
    fn apply_region(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::SetRegion(on) => {
                if on && self.uses_latent_noise() {
                    effects.push(toast(
                        "The region brush mixes two style codes; this model (UNIT) has none",
                        true,
                    ));
                    return;
                }
                self.region_on = on;
                if on
                    && let Some(dim) = self.style_dim()
                    && self.region_style.as_ref().is_none_or(|c| c.len() != dim)
                {
                    self.region_style = Some(sample_styles(1, dim, REGION_CODE_SEED).remove(0));
                }
            }
            Action::SetRegionStyle(code) if self.style_dim() == Some(code.len()) => {
                self.region_style = Some(code);
            }
            Action::SwapRegionStyle => {
                if let Some(inside) = self.region_style.take() {
                    self.region_style = Some(std::mem::replace(&mut self.style, inside));
                }
            }
            Action::SetBrush(settings) => {
                let radius = settings.radius;
                self.settings.brush = BrushSettings {
                    radius: if radius.is_finite() {
                        radius.clamp(*brush::RADIUS_RANGE.start(), *brush::RADIUS_RANGE.end())
                    } else {
                        BrushSettings::default().radius
                    },
                    softness: settings.softness.clamp(0.0, 1.0),
                    erase: settings.erase,
                };
            }
            Action::PaintMask { from, to } => {
                let settings = self.settings.brush;
                let valid = |p: [f32; 2]| p.iter().all(|v| v.is_finite());
                if valid(from) && valid(to) {
                    self.edit_mask(|mask| brush::stroke(mask, from, to, &settings));
                }
            }
            Action::ClearMask => {
                if let Some(entry) = self.content_entry_mut() {
                    entry.mask = None;
                }
            }
            Action::InvertMask => self.edit_mask(brush::invert),
            Action::SetMask(mask) => {
                if let Some(entry) = self.content_entry_mut() {
                    entry.mask = Some(brush::Painted::new(mask));
                }
            }
            _ => {}
        }
    }

    fn content_entry_mut(&mut self) -> Option<&mut ImageEntry> {
        let id = self.content?;
        self.images.iter_mut().find(|e| e.id == id)
    }

    /// Changes the content image's mask (made empty first if it has none). Masks kept by undo
    /// steps are copied, not changed.
    fn edit_mask(&mut self, edit: impl FnOnce(&mut GrayImage)) {
        let Some(entry) = self.content_entry_mut() else {
            return;
        };
        let (w, h) = (entry.image.width(), entry.image.height());
        entry
            .mask
            .get_or_insert_with(|| brush::Painted::new(brush::new_mask(w, h)))
            .edit(edit);
    }

    /// The content image's mask, if any.
    pub fn content_mask(&self) -> Option<&brush::Painted> {
        self.image(self.content?)?.mask.as_ref()
    }

    /// What the main output mixes in: the inside code over the content image's painted mask,
    /// while the brush is on and something is painted.
    pub fn region(&self) -> Option<Region> {
        if !self.region_on {
            return None;
        }
        let style = self.region_style.clone()?;
        if Some(style.len()) != self.style_dim() || style.len() != self.style.len() {
            return None;
        }
        let painted = self.content_mask()?;
        if painted.is_empty() {
            return None;
        }
        Some(Region {
            style,
            mask: painted.mask().clone(),
        })
    }

    /// The style map's files.
    fn apply_map(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::AddMapFiles(paths) => {
                if self.style_dim().is_none_or(|d| d == 0) {
                    effects.push(toast(
                        "The style map needs a model with a style space",
                        true,
                    ));
                    return;
                }
                effects.extend(self.map.add(paths, self.target()).map(Effect::EncodeStyles));
            }
            Action::MapStyles {
                tag,
                styles,
                failed,
                done,
            } => {
                if let Some(summary) = self.map.answer(tag, styles, failed, done) {
                    effects.push(toast(summary, true));
                }
            }
            Action::CancelMap => self.map.cancel(),
            Action::ClearMap => self.map.clear(),
            _ => {}
        }
    }

    /// The codes on the style map: the set's reference images (those [`Self::offers_as_reference`])
    /// and the map's files.
    pub fn map_points(&self) -> Vec<MapPoint> {
        let images = (self.images.iter())
            .filter(|e| self.offers_as_reference(e))
            .filter_map(|e| {
                Some(MapPoint {
                    label: e.name.clone(),
                    code: e.style()?.to_vec(),
                    from: MapFrom::Image(e.id),
                })
            });
        let files = self.map.files.iter().enumerate().map(|(i, f)| MapPoint {
            label: f.path.file_name().map_or_else(
                || f.path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            code: f.code.clone(),
            from: MapFrom::File(i),
        });
        let dim = self.style_dim().unwrap_or(0);
        images
            .chain(files)
            .filter(|p| p.code.len() == dim)
            .collect()
    }

    /// The effect maps the style panel should show: around the current code, along the
    /// dimensions or (in principal mode) the principal axes. `None` when off or not ready.
    pub fn effect_request(&self) -> Option<EffectRequest> {
        if !self.settings.show_effects {
            return None;
        }
        let dim = self
            .style_dim()
            .filter(|d| *d > 0 && self.style.len() == *d)?;
        let content = self.content_ready()?;
        // The principal axes only in principal mode (computing them is not free).
        let principal = (self.settings.slider_mode == SliderMode::Principal)
            .then(|| self.style_pca())
            .flatten()
            .filter(|pca| pca.dim() == dim);
        let directions = match principal {
            Some(pca) => pca.axes,
            None => crate::engine::effects::dimensions(dim),
        };
        Some(EffectRequest {
            content,
            target: self.target(),
            style: self.style.clone(),
            directions,
            step: self.settings.effect_step,
        })
    }

    /// Principal axes of the map's codes (at least two codes of a style space of two or more
    /// dimensions).
    pub fn style_pca(&self) -> Option<Pca> {
        pca_of(&self.map_points())
    }

    /// Whether an image is offered as a style reference: its style was encoded, and it is not
    /// known to look like the source domain or far from both (its style would lack the target
    /// domain's look).
    pub fn offers_as_reference(&self, entry: &ImageEntry) -> bool {
        let target = self.target();
        entry.style().is_some()
            && entry
                .domain
                .is_none_or(|f| f.likely() == Some(target) && !f.far_from_both())
    }

    /// Undo, redo and the end of a gesture.
    fn apply_history(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::Undo => {
                self.commit();
                if let Some(snapshot) = self.history.undo() {
                    self.restore(snapshot, effects);
                }
            }
            Action::Redo => {
                self.commit();
                if let Some(snapshot) = self.history.redo() {
                    self.restore(snapshot, effects);
                }
            }
            Action::Commit => self.commit(),
            _ => {}
        }
    }

    /// The model and the worker's answers.
    fn apply_model(&mut self, action: Action, effects: &mut Vec<Effect>) {
        match action {
            Action::OpenModel(source) => {
                self.reloading = false;
                self.model = ModelState::Loading(source.clone());
                effects.push(Effect::LoadModel(source));
            }
            Action::ReloadModel => {
                let source = match &self.model {
                    ModelState::None => return,
                    ModelState::Loading(source) | ModelState::Failed(source, _) => source.clone(),
                    ModelState::Ready(info) => info.source.clone(),
                };
                self.reloading = true;
                for entry in &mut self.images {
                    entry.encoded_for = None;
                    entry.state = EncodeState::Pending;
                    entry.fit_requested = entry.domain.is_some();
                }
                self.model = ModelState::Loading(source.clone());
                effects.push(Effect::LoadModel(source));
            }
            Action::ModelLoaded(info) => self.model_loaded(info, effects),
            Action::ModelFailed { source, error } => {
                self.reloading = false;
                effects.push(toast(
                    format!("Could not open model {}: {error}", source.label()),
                    true,
                ));
                self.model = ModelState::Failed(source, error);
            }
            // An answer for a direction since abandoned is stale.
            Action::Encoded {
                id,
                source,
                style,
                size,
            } if source == self.source => {
                if self.style_from == Some(id) {
                    self.style = style.clone();
                    self.style_from = None;
                }
                if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                    entry.state = EncodeState::Ready { style, size };
                }
            }
            Action::EncodeFailed { id, error } => {
                if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                    effects.push(toast(format!("{}: {error}", entry.name), true));
                    entry.state = EncodeState::Failed(error);
                }
            }
            Action::DomainFitted { id, fit } => self.domain_fitted(id, fit, effects),

            _ => {}
        }
    }

    /// A code of the model's dimension becomes current (others are ignored).
    fn set_style(&mut self, code: Vec<f32>) {
        if self.style_dim().is_none_or(|dim| dim == code.len()) {
            self.style = code;
        }
    }

    fn add_image(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        image: Arc<DynamicImage>,
        as_style: bool,
        effects: &mut Vec<Effect>,
    ) {
        if let Err(e) = self.image_room() {
            effects.push(toast(format!("{name} was not added: {e}"), true));
            return;
        }
        let id = self.next_image;
        self.next_image += 1;
        self.images.push(ImageEntry {
            id,
            name,
            path,
            image,
            state: EncodeState::Pending,
            encoded_for: None,
            in_rows: !as_style,
            in_cols: true,
            roles_chosen: as_style,
            domain: None,
            fit_requested: false,
            mask: None,
        });
        if as_style {
            // A style reference: the content stays, the code comes from this image.
            self.style_from_image(id);
        } else {
            self.content = Some(id);
        }
        self.encode_if_needed(effects);
    }

    /// Removes an image from the set (undo brings it back, encoding it again). Its content code
    /// is dropped from the worker at once, so the worker's memory follows the set.
    fn remove_image(&mut self, id: ImageId, effects: &mut Vec<Effect>) {
        if let Some(pos) = self.images.iter().position(|e| e.id == id) {
            let mut entry = self.images.remove(pos);
            entry.encoded_for = None;
            entry.state = EncodeState::Pending;
            // A fit not made yet is dropped with the content code.
            entry.fit_requested = entry.domain.is_some();
            effects.push(Effect::Forget(id));
            self.removed.push(entry);
            if self.content == Some(id) {
                self.content = self.images.last().map(|e| e.id);
            }
            if self.style_from == Some(id) {
                self.style_from = None;
            }
        }
    }

    /// Uses an image's encoded style (as a reference of the target domain) as the current code,
    /// now or once it is encoded.
    fn style_from_image(&mut self, id: ImageId) {
        match self.image(id).map(|e| e.style()) {
            Some(Some(style)) => self.style = style.to_vec(),
            Some(None) => self.style_from = Some(id),
            None => {}
        }
    }

    /// Asks for encodes of images not yet encoded for the current source domain.
    fn encode_if_needed(&mut self, effects: &mut Vec<Effect>) {
        if !matches!(self.model, ModelState::Ready(_)) {
            return;
        }
        for entry in &mut self.images {
            if entry.encoded_for != Some(self.source) {
                entry.encoded_for = Some(self.source);
                entry.state = EncodeState::Pending;
                effects.push(Effect::Encode {
                    id: entry.id,
                    image: entry.image.clone(),
                    name: entry.name.clone(),
                    source: self.source,
                });
            }
        }
        for entry in &mut self.images {
            if !entry.fit_requested {
                entry.fit_requested = true;
                effects.push(Effect::FitDomain {
                    id: entry.id,
                    image: entry.image.clone(),
                    name: entry.name.clone(),
                });
            }
        }
    }

    /// The map's files encoded again by the current target domain's style encoder.
    fn restart_map(&mut self, effects: &mut Vec<Effect>) {
        if matches!(self.model, ModelState::Ready(_)) && self.style_dim().is_some_and(|d| d > 0) {
            effects.extend(self.map.restart(self.target()).map(Effect::EncodeStyles));
        } else {
            self.map.clear();
        }
    }

    /// The model's judgement of an image's domain arrived. Unless the user set its roles, an
    /// image of the source domain stops being offered as a style reference (its style would carry
    /// the wrong domain's look: line art as a reference gives colourless results); an image far
    /// from both domains gets a warning.
    fn domain_fitted(
        &mut self,
        id: ImageId,
        fit: Result<DomainFit, String>,
        effects: &mut Vec<Effect>,
    ) {
        let target = self.target();
        let Some(entry) = self.images.iter_mut().find(|e| e.id == id) else {
            return;
        };
        let fit = match fit {
            Ok(fit) => fit,
            Err(e) => {
                log::warn!("{}: no domain fit: {e}", entry.name);
                return;
            }
        };
        entry.domain = Some(fit);
        if fit.far_from_both() {
            effects.push(toast(
                format!(
                    "{} looks unlike both domains of this model (reconstruction error {:.2} in a, \
                     {:.2} in b): its translations may be poor",
                    entry.name, fit.errors[0], fit.errors[1]
                ),
                false,
            ));
        } else if !entry.roles_chosen {
            let from = (entry.in_rows, entry.in_cols);
            let to = (entry.in_rows, fit.likely() == Some(target));
            (entry.in_rows, entry.in_cols) = to;
            self.history.amend_roles(id, from, to);
        }
    }

    fn commit(&mut self) {
        if self.history.commit(self.snapshot()) {
            self.prune_removed();
        }
    }

    /// Drops removed images that no undo or redo step can bring back any more (their pixels
    /// would otherwise be kept for the whole session).
    fn prune_removed(&mut self) {
        let history = &self.history;
        self.removed.retain(|e| history.references(e.id));
    }

    fn restore(&mut self, snapshot: Snapshot, effects: &mut Vec<Effect>) {
        // Bring back removed images and set aside those added since.
        let mut all: Vec<ImageEntry> = self.images.drain(..).collect();
        all.append(&mut self.removed);
        for (id, rows, cols) in &snapshot.images {
            if let Some(pos) = all.iter().position(|e| e.id == *id) {
                let mut entry = all.remove(pos);
                entry.in_rows = *rows;
                entry.in_cols = *cols;
                self.images.push(entry);
            }
        }
        for entry in &mut all {
            if entry.encoded_for.take().is_some() {
                entry.state = EncodeState::Pending;
                effects.push(Effect::Forget(entry.id));
            }
        }
        self.removed = all;
        for (id, mask) in snapshot.masks {
            if let Some(entry) = self.images.iter_mut().find(|e| e.id == id) {
                entry.mask = mask;
            }
        }
        self.region_style = snapshot.region_style;
        self.style = snapshot.style;
        self.content = snapshot.content;
        self.source = snapshot.source;
        self.encode_if_needed(effects);
    }

    fn model_loaded(&mut self, info: Box<ModelInfo>, effects: &mut Vec<Effect>) {
        let dim = info.style_dim;
        let family = info.description.family;
        let previous = self.loaded_family.replace(family);
        let reloaded = std::mem::take(&mut self.reloading);
        self.settings.model = Some(info.source.clone());
        if reloaded && previous == Some(family) && self.style.len() == dim {
            // Same model, new worker: only the content codes have to be made again.
            self.model = ModelState::Ready(info);
            effects.push(Effect::ModelChanged);
            self.encode_if_needed(effects);
            self.restart_map(effects);
            return;
        }
        self.settings.remember_model(&info.source);
        effects.push(toast(
            format!("Opened model {}", info.source.label()),
            false,
        ));
        if self.style.len() != dim || previous.is_some_and(|f| f != family) {
            // Another family's code means nothing to this model. Start from the model's own
            // showcase code, else a fixed draw from the prior (the zero code is the least
            // typical style).
            self.style = info
                .showcase
                .clone()
                .unwrap_or_else(|| sample_styles(1, dim, FIRST_CODE_SEED).remove(0));
        }
        self.model = ModelState::Ready(info);
        let interp = &mut self.settings.interpolation;
        if interp.start.len() != dim || interp.end.len() != dim {
            interp.start = sample_styles(1, dim, 11).remove(0);
            interp.end = sample_styles(1, dim, 12).remove(0);
        }
        for entry in self.images.iter_mut().chain(&mut self.removed) {
            entry.encoded_for = None;
            // Another model judges domains its own way.
            entry.domain = None;
            entry.fit_requested = false;
        }
        // Undo does not cross a model switch: old codes belong to the old model.
        self.history.reset(self.snapshot());
        self.prune_removed();
        effects.push(Effect::ModelChanged);
        self.encode_if_needed(effects);
        self.restart_map(effects);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::history::UNDO_STEPS;
    use crate::engine::{Description, StyleSpace};
    use crate::io::image::Preprocess;

    /// A model description for tests (no weights: the state never touches them).
    pub(crate) fn model(family: Family, style_dim: usize) -> Box<ModelInfo> {
        let style = (style_dim > 0).then_some(StyleSpace {
            dim: style_dim,
            name: if family == Family::Drit {
                "attribute"
            } else {
                "style"
            },
        });
        Box::new(ModelInfo {
            source: ModelSource::Folder(format!("{family}-{style_dim}").into()),
            style_dim,
            showcase: None,
            description: Description {
                family,
                variant: None,
                input_channels: [3, 3],
                preprocess: [Preprocess::ShorterSide { new_size: 4 }; 2],
                style,
            },
        })
    }

    fn image() -> Arc<DynamicImage> {
        Arc::new(DynamicImage::new_rgb8(4, 4))
    }

    fn add(state: &mut AppState, name: &str) -> (ImageId, Vec<Effect>) {
        let id = state.next_image_id();
        let effects = state.apply(Action::AddImage {
            name: name.into(),
            path: None,
            image: image(),
            as_style: false,
        });
        (id, effects)
    }

    /// Answers every encode the effects ask for, with a style code per image.
    pub(crate) fn encode_all(state: &mut AppState, effects: &[Effect]) {
        for effect in effects {
            if let Effect::Encode { id, source, .. } = effect {
                let dim = state.style_dim().unwrap_or(0);
                state.apply(Action::Encoded {
                    id: *id,
                    source: *source,
                    style: vec![*id as f32; dim],
                    size: [4, 4],
                });
            }
        }
    }

    fn ready(family: Family, dim: usize) -> AppState {
        let mut state = AppState::default();
        let fx = state.apply(Action::ModelLoaded(model(family, dim)));
        assert!(fx.iter().any(|e| matches!(e, Effect::ModelChanged)));
        state
    }

    fn fits(effects: &[Effect]) -> Vec<ImageId> {
        (effects.iter())
            .filter_map(|e| match e {
                Effect::FitDomain { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn fitted(state: &mut AppState, id: ImageId, errors: [f32; 2]) -> Vec<Effect> {
        state.apply(Action::DomainFitted {
            id,
            fit: Ok(DomainFit { errors }),
        })
    }

    #[test]
    fn the_image_set_is_bounded() {
        let mut state = AppState::default();
        let add = |state: &mut AppState, i: usize| {
            state.apply(Action::AddImage {
                name: format!("{i}"),
                path: None,
                image: Arc::new(DynamicImage::new_rgb8(2, 2)),
                as_style: false,
            })
        };
        for i in 0..MAX_IMAGES {
            add(&mut state, i);
        }
        assert_eq!(state.images.len(), MAX_IMAGES);
        assert!(
            state
                .image_room()
                .unwrap_err()
                .contains("at most 256 images")
        );
        let effects = add(&mut state, MAX_IMAGES);
        assert_eq!(state.images.len(), MAX_IMAGES);
        assert!(effects.iter().any(
            |e| matches!(e, Effect::Toast { text, error: true } if text.contains("was not added"))
        ));
        state.apply(Action::RemoveImage(state.images[0].id));
        assert_eq!(
            state.image_room().unwrap(),
            MAX_SET_BYTES - 12 * (MAX_IMAGES as u64 - 1)
        );
    }

    #[test]
    fn source_domain_images_stop_being_style_columns_without_an_undo_step() {
        let mut state = ready(Family::Munit, 8);
        let (line_art, fx) = add(&mut state, "line-art.png");
        assert_eq!(fits(&fx), vec![line_art]);
        encode_all(&mut state, &fx);
        state.apply(Action::Commit);
        let (colour, fx) = add(&mut state, "colour.png");
        encode_all(&mut state, &fx);
        state.apply(Action::Commit);
        let steps_before = state.history.can_undo();
        // Translating a -> b: the line art (a) is no reference; the colour image (b) is.
        assert!(fitted(&mut state, line_art, [0.02, 0.09]).is_empty());
        fitted(&mut state, colour, [0.12, 0.03]);
        let entry = state.image(line_art).unwrap();
        assert!(entry.in_rows && !entry.in_cols);
        assert_eq!(entry.domain.unwrap().likely(), Some(Domain::A));
        let entry = state.image(colour).unwrap();
        assert!(entry.in_rows && entry.in_cols);
        // A default, not an edit: no undo step, and undoing the colour image's addition keeps
        // the line art's new roles.
        state.apply(Action::Commit);
        assert_eq!(state.history.can_undo(), steps_before);
        state.apply(Action::Undo);
        assert!(state.image(colour).is_none());
        assert!(!state.image(line_art).unwrap().in_cols);
    }

    #[test]
    fn roles_the_user_set_and_far_images_keep_their_roles() {
        let mut state = ready(Family::Munit, 8);
        let (chosen, fx) = add(&mut state, "chosen.png");
        encode_all(&mut state, &fx);
        let (photo, fx) = add(&mut state, "photo.jpg");
        encode_all(&mut state, &fx);
        state.apply(Action::SetGridRoles {
            id: chosen,
            in_rows: true,
            in_cols: true,
        });
        fitted(&mut state, chosen, [0.02, 0.09]);
        assert!(state.image(chosen).unwrap().in_cols);
        let far = crate::engine::domains::FAR_FROM_DOMAINS;
        let fx = fitted(&mut state, photo, [far + 0.06, far + 0.03]);
        assert!(state.image(photo).unwrap().in_cols);
        let warned = fx.iter().any(|e| {
            matches!(e, Effect::Toast { text, .. }
                if text.contains("photo.jpg looks unlike both domains"))
        });
        assert!(warned, "{fx:?}");
    }

    #[test]
    fn fits_are_asked_once_per_model_and_survive_a_reload() {
        let mut state = ready(Family::Munit, 8);
        let (a, fx) = add(&mut state, "a");
        encode_all(&mut state, &fx);
        let (b, fx) = add(&mut state, "b");
        assert_eq!(fits(&fx), vec![b]);
        encode_all(&mut state, &fx);
        // A direction change encodes again but does not measure again.
        let fx = state.apply(Action::SwapDirection);
        assert!(fits(&fx).is_empty());
        fitted(&mut state, a, [0.02, 0.09]);
        // The same model on a new worker: only the unanswered fit is asked again, and the code
        // and history stay.
        state.apply(Action::SetStyleValue {
            dim: 0,
            value: 1.25,
        });
        state.apply(Action::Commit);
        let fx = state.apply(Action::ReloadModel);
        assert!(matches!(state.model, ModelState::Loading(_)));
        let fx2 = state.apply(Action::ModelLoaded(model(Family::Munit, 8)));
        assert!(fits(&fx).is_empty());
        assert_eq!(fits(&fx2), vec![b]);
        assert!(state.image(a).unwrap().domain.is_some());
        assert_eq!(state.style[0], 1.25);
        assert!(state.history.can_undo());
        let reloaded_toasts = fx2.iter().any(|e| matches!(e, Effect::Toast { .. }));
        assert!(!reloaded_toasts, "{fx2:?}");
        // Another model: everything is measured again.
        let fx = state.apply(Action::ModelLoaded(model(Family::Drit, 8)));
        assert_eq!(fits(&fx), vec![a, b]);
        assert!(state.image(a).unwrap().domain.is_none());
    }

    #[test]
    fn removing_an_image_emits_a_forget_and_undo_brings_it_back() {
        let mut state = ready(Family::Munit, 8);
        let (a, fx) = add(&mut state, "a");
        encode_all(&mut state, &fx);
        let (b, fx) = add(&mut state, "b");
        encode_all(&mut state, &fx);
        state.apply(Action::Commit);
        assert_eq!(state.content, Some(b));

        let fx = state.apply(Action::RemoveImage(b));
        assert!(matches!(fx[..], [Effect::Forget(id)] if id == b), "{fx:?}");
        assert_eq!(state.content, Some(a));
        assert_eq!(state.images_kept_for_undo(), 1);

        let fx = state.apply(Action::Undo);
        assert_eq!(state.images.len(), 2);
        assert_eq!(state.content, Some(b));
        // Its content code was dropped, so it is encoded again.
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Encode { id, .. } if *id == b))
        );
    }

    /// A thousand images dropped and removed one after another: every removal forgets its
    /// content code at once, and removed images are kept only while an undo step can reach them.
    #[test]
    fn memory_stays_bounded_over_a_thousand_drops_and_removals() {
        let mut state = ready(Family::Munit, 8);
        let mut forgotten = 0;
        for i in 0..1000 {
            let (id, effects) = add(&mut state, &format!("{i}"));
            encode_all(&mut state, &effects);
            state.apply(Action::Commit);
            let effects = state.apply(Action::RemoveImage(id));
            forgotten += effects
                .iter()
                .filter(|e| matches!(e, Effect::Forget(f) if *f == id))
                .count();
            state.apply(Action::Commit);
            assert!(state.images_kept_for_undo() <= UNDO_STEPS, "at drop {i}");
        }
        assert_eq!(forgotten, 1000);
        assert!(state.images.is_empty());
        assert!(state.held_images().count() <= UNDO_STEPS);
    }

    #[test]
    fn a_drag_is_one_undo_step_and_undo_restores_code_and_direction() {
        let mut state = ready(Family::Munit, 8);
        let (_, fx) = add(&mut state, "a");
        encode_all(&mut state, &fx);
        state.apply(Action::Commit);
        let before = state.style.clone();
        // A drag: many values, then the pointer is released.
        for i in 0..20 {
            state.apply(Action::SetStyleValue {
                dim: 2,
                value: i as f32 * 0.1,
            });
        }
        state.apply(Action::Commit);
        state.apply(Action::SwapDirection);
        state.apply(Action::Commit);
        assert_eq!(state.source, Domain::B);

        state.apply(Action::Undo);
        assert_eq!(state.source, Domain::A, "direction restored");
        assert_eq!(state.style[2], 1.9);
        state.apply(Action::Undo);
        assert_eq!(state.style, before, "the whole drag was one step");
        assert_eq!(
            state.images.len(),
            1,
            "the step before the drag added the image"
        );
        state.apply(Action::Redo);
        assert_eq!(state.style[2], 1.9);
    }

    #[test]
    fn another_family_keeps_the_images_and_clears_code_and_history() {
        let mut state = ready(Family::Munit, 8);
        let (a, fx) = add(&mut state, "a");
        encode_all(&mut state, &fx);
        state.apply(Action::SetStyle(vec![2.0; 8]));
        state.apply(Action::Commit);
        assert!(state.can_undo());

        let fx = state.apply(Action::ModelLoaded(model(Family::Drit, 8)));
        assert_eq!(state.images.len(), 1);
        assert_eq!(state.content, Some(a));
        assert_ne!(state.style, vec![2.0; 8], "the old family's code is gone");
        assert_eq!(state.style.len(), 8);
        assert!(!state.can_undo(), "undo does not cross a model switch");
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Encode { id, .. } if *id == a)),
            "images are encoded again for the new model: {fx:?}"
        );
        assert_eq!(state.content_ready(), None);
    }

    #[test]
    fn style_from_an_image_waits_for_its_encode() {
        let mut state = ready(Family::Drit, 8);
        let (_, fx) = add(&mut state, "content");
        encode_all(&mut state, &fx);
        let content = state.content;
        let reference = state.next_image_id();
        let fx = state.apply(Action::AddImage {
            name: "reference".into(),
            path: None,
            image: image(),
            as_style: true,
        });
        assert_eq!(
            state.content, content,
            "a style reference keeps the content"
        );
        assert!(!state.image(reference).unwrap().in_rows);
        encode_all(&mut state, &fx);
        assert_eq!(state.style, vec![reference as f32; 8]);
    }

    #[test]
    fn stale_encodes_of_another_direction_are_ignored() {
        let mut state = ready(Family::Munit, 2);
        let (a, _) = add(&mut state, "a");
        state.apply(Action::SwapDirection);
        state.apply(Action::Encoded {
            id: a,
            source: Domain::A,
            style: vec![1.0, 1.0],
            size: [4, 4],
        });
        assert_eq!(state.content_ready(), None);
    }

    #[test]
    fn samples_and_noise_for_a_model_without_style_codes() {
        let mut state = ready(Family::Unit, 0);
        assert!(state.uses_latent_noise());
        state.apply(Action::SetSampleGrid { seed: 5, count: 3 });
        let noises = state.sample_noises();
        assert_eq!(noises.len(), 3);
        state.apply(Action::TakeSample(2));
        assert_eq!(Some(state.settings.noise), noises[2]);
        // No style code: random / interpolation leave the (empty) code alone.
        state.apply(Action::RandomStyle { seed: 1 });
        assert!(state.style.is_empty());
        assert_eq!(state.interpolated(0.5), Some(vec![]));
    }

    #[test]
    fn the_session_is_made_from_the_state() {
        let mut state = ready(Family::Munit, 2);
        state.apply(Action::AddImage {
            name: "pasted".into(),
            path: None,
            image: image(),
            as_style: false,
        });
        let file = state.next_image_id();
        state.apply(Action::AddImage {
            name: "a.png".into(),
            path: Some("/x/a.png".into()),
            image: image(),
            as_style: false,
        });
        state.apply(Action::SetStyle(vec![0.5, 0.25]));
        state.apply(Action::SetView(View::Samples));
        let session = state.session();
        assert_eq!(session.images, vec![PathBuf::from("/x/a.png")]);
        assert_eq!(session.content, Some(0));
        assert_eq!(state.content, Some(file));
        assert_eq!(session.style, vec![0.5, 0.25]);
        assert_eq!(session.settings.view, View::Samples);
    }

    #[test]
    fn the_interpolation_starts_from_the_current_code_until_a_start_is_chosen() {
        let mut state = ready(Family::Munit, 2);
        state.apply(Action::SetStyle(vec![0.5, 0.5]));
        state.apply(Action::SetView(View::Interpolate));
        assert_eq!(state.settings.interpolation.start, vec![0.5, 0.5]);
        state.apply(Action::SetInterpolationStart(vec![-1.0, 1.0]));
        state.apply(Action::SetStyle(vec![2.0, 2.0]));
        state.apply(Action::SetView(View::Translate));
        state.apply(Action::SetView(View::Interpolate));
        assert_eq!(state.settings.interpolation.start, vec![-1.0, 1.0]);
        assert_eq!(state.settings.view, View::Interpolate);
    }

    #[test]
    fn wrong_sized_codes_are_refused() {
        let mut state = ready(Family::Munit, 8);
        let before = state.style.clone();
        state.apply(Action::SetStyle(vec![1.0; 3]));
        assert_eq!(state.style, before);
        state.apply(Action::SetStyleValue {
            dim: 99,
            value: 1.0,
        });
        assert_eq!(state.style, before);
    }
}
