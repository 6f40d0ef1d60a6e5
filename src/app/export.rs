//! Exports: what pixels an export needs is planned from the state ([`plan`], pure); [`Exports`]
//! asks the worker for them, collects the answers and composes and writes the file when the last
//! part arrives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use image::{GrayImage, RgbImage};

use super::brush;
use super::compose;
use super::session::SwapColumns;
use super::state::{AppState, MapFrom};
use crate::Domain;
use crate::engine::worker::{ImageId, Job, LatentNoise, Region, Worker};

/// What a save is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveTarget {
    Png,
    SampleGrid,
    SwapGrid,
    Gif,
    Strip,
    Screenshot,
    Styles,
    /// One PNG per saved code, named after the code, beside the chosen file name.
    SavedCodes,
    /// The style map with thumbnails.
    Map,
    /// The effect maps on screen as one labelled grid.
    Effects,
    /// The content image's region-brush mask, at the image's size.
    Mask,
}

impl SaveTarget {
    /// The file dialog's filter name, extension and suggested file name.
    pub fn file_kind(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SaveTarget::Gif => ("GIF", "gif", "interpolation.gif"),
            SaveTarget::Styles => ("Style codes", "json", "styles.json"),
            SaveTarget::SavedCodes => ("PNG", "png", "codes.png"),
            SaveTarget::SampleGrid => ("PNG", "png", "samples.png"),
            SaveTarget::SwapGrid => ("PNG", "png", "swap-grid.png"),
            SaveTarget::Map => ("PNG", "png", "style-map.png"),
            SaveTarget::Effects => ("PNG", "png", "effect-maps.png"),
            SaveTarget::Mask => ("PNG", "png", "mask.png"),
            SaveTarget::Strip => ("PNG", "png", "interpolation.png"),
            SaveTarget::Screenshot => ("PNG", "png", "screenshot.png"),
            SaveTarget::Png => ("PNG", "png", "translation.png"),
        }
    }
}

/// What an export makes once its pixels arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportKind {
    Png {
        path: PathBuf,
        /// The region brush's mask at the content image's size, written beside the PNG
        /// ([`mask_path`]).
        mask: Option<Arc<GrayImage>>,
    },
    /// The output image to the clipboard.
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
        /// Forth then back again (a seamless loop).
        back_and_forth: bool,
    },
    Strip {
        path: PathBuf,
    },
    /// The translation and its effect maps in one labelled row.
    Effects {
        path: PathBuf,
        maps: Arc<crate::engine::effects::EffectMaps>,
        labels: Vec<String>,
    },
    /// One file per image: `path` with `-<name>` added to its stem.
    Batch {
        path: PathBuf,
        names: Vec<String>,
    },
}

/// Pixels wanted for an export, per part: a content image, its style codes and (UNIT) the
/// latent noise of each.
pub type PixelJobs = Vec<(ImageId, Vec<Vec<f32>>, Vec<Option<LatentNoise>>)>;

/// An export planned from the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: ExportKind,
    pub jobs: PixelJobs,
    /// Every rendered image is upscaled by this (nearest) before it is composed.
    pub scale: u32,
    /// The region brush, for exports of the main output.
    pub region: Option<Region>,
}

/// Where a PNG export's region-brush mask goes: `NAME-mask.png` beside `NAME.png`.
pub fn mask_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "translation".into());
    path.with_file_name(format!("{stem}-mask.png"))
}

/// Files an export into `path` would replace.
pub fn replaced_files(state: &AppState, target: SaveTarget, path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if target == SaveTarget::Png && state.region().is_some() {
        files.push(mask_path(path));
    }
    files.retain(|p| p.exists());
    files
}

/// The pixels an export of `target` into `path` needs (`None` for the path: the clipboard copy),
/// at the chosen export scale, or why it cannot run yet. Screenshots and style sets need no
/// pixels and are not planned here.
pub fn plan(state: &AppState, target: SaveTarget, path: Option<PathBuf>) -> Result<Plan, String> {
    let (kind, jobs) = plan_pixels(state, target, path)?;
    let scale = state.settings.export_scale.max(1);
    let region = match kind {
        ExportKind::Png { .. } | ExportKind::Copy => state.region(),
        _ => None,
    };
    Ok(Plan {
        kind,
        jobs,
        scale,
        region,
    })
}

fn plan_pixels(
    state: &AppState,
    target: SaveTarget,
    path: Option<PathBuf>,
) -> Result<(ExportKind, PixelJobs), String> {
    let content = state
        .content_ready()
        .ok_or("Nothing to export yet: no content image is ready")?;
    let main = || vec![(content, vec![state.style.clone()], vec![state.main_noise()])];
    let Some(path) = path else {
        return Ok((ExportKind::Copy, main()));
    };
    Ok(match target {
        SaveTarget::Png => {
            // The mask at the image's size, so `translate --mask` takes it as it is.
            let mask = state.region().and_then(|region| {
                let image = &state.image(content)?.image;
                let size = [image.width(), image.height()];
                Some(Arc::new(brush::mask_at_image_size(&region.mask, size)))
            });
            (ExportKind::Png { path, mask }, main())
        }
        SaveTarget::SampleGrid => {
            let seed = state.settings.sample_seed;
            let jobs = vec![(content, state.sample_codes(), state.sample_noises())];
            (ExportKind::SampleGrid { path, seed }, jobs)
        }
        SaveTarget::SwapGrid => {
            if state.uses_latent_noise() {
                return Err("This model has no style codes to swap".into());
            }
            let (rows, cols) = state.swap_grid();
            let (styles, col_labels): (Vec<Vec<f32>>, Vec<String>) =
                match state.settings.swap_columns {
                    SwapColumns::Images => {
                        let styles: Vec<Vec<f32>> = cols
                            .iter()
                            .filter_map(|c| c.style().map(<[f32]>::to_vec))
                            .collect();
                        if styles.len() != cols.len() {
                            return Err("The swap grid is not ready yet".into());
                        }
                        (styles, cols.iter().map(|c| short(&c.name)).collect())
                    }
                    SwapColumns::Path => {
                        let codes = state.swap_path_codes();
                        let labels = (0..codes.len())
                            .map(|i| format!("t {:.2}", state.swap_path_t(i)))
                            .collect();
                        (codes, labels)
                    }
                };
            if rows.is_empty() || styles.is_empty() {
                return Err("The swap grid is not ready yet".into());
            }
            let kind = ExportKind::SwapGrid {
                path,
                row_labels: rows.iter().map(|r| short(&r.name)).collect(),
                col_labels,
            };
            let jobs = rows
                .iter()
                .map(|r| (r.id, styles.clone(), Vec::new()))
                .collect();
            (kind, jobs)
        }
        SaveTarget::Gif | SaveTarget::Strip => {
            let settings = &state.settings.interpolation;
            let frames = settings.frames.max(2);
            // A closed path ends one step before its start, so the GIF loops seamlessly.
            let codes = state
                .path_codes(frames)
                .ok_or("Choose the interpolation's keyframes first")?;
            let kind = if target == SaveTarget::Gif {
                ExportKind::Gif {
                    path,
                    frame_ms: settings.frame_ms,
                    back_and_forth: settings.back_and_forth,
                }
            } else {
                ExportKind::Strip { path }
            };
            (kind, vec![(content, codes, Vec::new())])
        }
        SaveTarget::SavedCodes => {
            let codes = &state.settings.saved_codes;
            let dim = state.style.len();
            let codes: Vec<_> = codes.iter().filter(|c| c.code.len() == dim).collect();
            if codes.is_empty() {
                return Err("No saved codes of this model to export".into());
            }
            let kind = ExportKind::Batch {
                path,
                names: codes.iter().map(|c| c.name.clone()).collect(),
            };
            let styles = codes.iter().map(|c| c.code.clone()).collect();
            (kind, vec![(content, styles, Vec::new())])
        }
        SaveTarget::Screenshot
        | SaveTarget::Styles
        | SaveTarget::Map
        | SaveTarget::Effects
        | SaveTarget::Mask => {
            return Err(format!("{target:?} needs no rendering"));
        }
    })
}

/// The file of one code of a batch: `dir/stem-<name>.png`, the name made safe for a file name.
pub fn batch_file(path: &Path, name: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "codes".into());
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    path.with_file_name(format!("{stem}-{safe}.png"))
}

/// Labels in exported grids: the file name without extension, shortened.
fn short(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    stem.chars().take(12).collect()
}

struct PendingExport {
    kind: ExportKind,
    scale: u32,
    parts: Vec<Option<Vec<RgbImage>>>,
}

/// A finished export.
pub enum Finished {
    /// A file was written (or not).
    Written(PathBuf, Result<(), String>),
    /// An image for the clipboard.
    Copy(RgbImage),
}

/// Parts of one export per worker tag: tag = export x PARTS + part.
const PARTS: u64 = 10_000;

/// Exports in flight.
#[derive(Default)]
pub struct Exports {
    pending: HashMap<u64, PendingExport>,
    next: u64,
}

impl Exports {
    /// Asks the worker for an export's pixels.
    pub fn start(&mut self, plan: Plan, target: Domain, worker: &Worker) {
        let Plan {
            kind,
            jobs,
            scale,
            region,
        } = plan;
        self.next += 1;
        let export = self.next;
        for (part, (content, styles, noises)) in jobs.iter().enumerate() {
            worker.send(Job::Pixels {
                tag: export * PARTS + part as u64,
                content: *content,
                target,
                styles: styles.clone(),
                noises: noises.clone(),
                region: region.clone(),
            });
        }
        let parts = vec![None; jobs.len()];
        let pending = PendingExport { kind, scale, parts };
        self.pending.insert(export, pending);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// A part arrived (or failed): the finished export once every part is in.
    pub fn part(
        &mut self,
        tag: u64,
        images: Result<Vec<RgbImage>, String>,
    ) -> Option<Result<Finished, String>> {
        let (export, part) = (tag / PARTS, (tag % PARTS) as usize);
        let images = match images {
            Ok(images) => images,
            Err(error) => {
                self.pending.remove(&export)?;
                return Some(Err(format!("Export failed: {error}")));
            }
        };
        let pending = self.pending.get_mut(&export)?;
        *pending.parts.get_mut(part)? = Some(images);
        if pending.parts.iter().any(Option::is_none) {
            return None;
        }
        let pending = self.pending.remove(&export)?;
        let scale = pending.scale;
        let parts: Vec<Vec<RgbImage>> = (pending.parts.into_iter().flatten())
            .map(|part| part.iter().map(|i| compose::upscale(i, scale)).collect())
            .collect();
        Some(finish(pending.kind, parts))
    }
}

/// Composes and writes an export. Exports that would replace a file were confirmed before they
/// started; others never replace.
fn finish(kind: ExportKind, parts: Vec<Vec<RgbImage>>) -> Result<Finished, String> {
    let written = |path: PathBuf, result: Result<(), String>| Ok(Finished::Written(path, result));
    let save_png = |path: &Path, image: &RgbImage| {
        crate::io::image::save_png(path, image, true).map_err(|e| e.to_string())
    };
    let first = || {
        parts
            .first()
            .and_then(|p| p.first())
            .ok_or_else(|| "Export failed: nothing was rendered".to_string())
    };
    match kind {
        ExportKind::Copy => Ok(Finished::Copy(first()?.clone())),
        ExportKind::Png { path, mask } => {
            let mut result = save_png(&path, first()?);
            if let (Ok(()), Some(mask)) = (&result, mask) {
                result = crate::io::image::save_gray_png(&mask_path(&path), &mask, true)
                    .map_err(|e| format!("the mask: {e}"));
            }
            written(path, result)
        }
        ExportKind::SampleGrid { path, seed } => {
            let cells: Vec<RgbImage> = parts.into_iter().flatten().collect();
            let columns = 4.min(cells.len().max(1));
            let rows: Vec<Vec<RgbImage>> =
                cells.chunks(columns).map(<[RgbImage]>::to_vec).collect();
            let grid = compose::grid(&rows, &[], &[format!("seed {seed}")]);
            let result = save_png(&path, &grid);
            written(path, result)
        }
        ExportKind::SwapGrid {
            path,
            row_labels,
            col_labels,
        } => {
            let grid = compose::grid(&parts, &row_labels, &col_labels);
            let result = save_png(&path, &grid);
            written(path, result)
        }
        ExportKind::Gif {
            path,
            frame_ms,
            back_and_forth,
        } => {
            let mut frames: Vec<RgbImage> = parts.into_iter().flatten().collect();
            if back_and_forth && frames.len() > 2 {
                // The way back without repeating either end.
                let back: Vec<RgbImage> =
                    frames[1..frames.len() - 1].iter().rev().cloned().collect();
                frames.extend(back);
            }
            let result = compose::gif_bytes(&frames, frame_ms)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    crate::io::atomic::write_atomic(&path, &bytes, true).map_err(|e| e.to_string())
                });
            written(path, result)
        }
        ExportKind::Batch { path, names } => {
            let images = parts.into_iter().flatten();
            let mut failed = Vec::new();
            for (name, image) in names.iter().zip(images) {
                let file = batch_file(&path, name);
                // Existing files are kept: a batch never replaces one.
                if let Err(e) = crate::io::image::save_png(&file, &image, false) {
                    failed.push(e.to_string());
                }
            }
            let result = match failed.len() {
                0 => Ok(()),
                n => Err(format!(
                    "{n} of {} not written: {}",
                    names.len(),
                    failed.join("; ")
                )),
            };
            written(path, result)
        }
        ExportKind::Strip { path } => {
            let frames: Vec<RgbImage> = parts.into_iter().flatten().collect();
            let result = save_png(&path, &compose::strip(&frames));
            written(path, result)
        }
        ExportKind::Effects { path, maps, labels } => {
            let grid = compose::effects_grid(Some(first()?.clone()), &maps, &labels);
            let result = save_png(&path, &grid);
            written(path, result)
        }
    }
}

/// Writes the saved codes as a style-code set.
pub fn save_styles(state: &AppState, path: &Path) -> Result<(), String> {
    let set = crate::engine::styles::StyleSet {
        style_dim: state.style.len(),
        codes: state.settings.saved_codes.clone(),
    };
    let text = serde_json::to_string_pretty(&set).map_err(|e| e.to_string())?;
    crate::io::atomic::write_atomic(path, text.as_bytes(), true).map_err(|e| e.to_string())
}

impl super::StylespaceApp {
    /// Starts an export into `path` (pixels come from the worker; the file is written when
    /// they arrive). Existing files are never replaced unless `overwrite`.
    pub fn export_to(&mut self, target: SaveTarget, path: PathBuf, overwrite: bool) {
        if !overwrite && !replaced_files(&self.state, target, &path).is_empty() {
            self.confirm_replace = Some((target, path));
            return;
        }
        match target {
            SaveTarget::Screenshot => {
                // Requested from the next frame, once egui knows the viewport.
                self.screenshot_path = Some(path);
                self.screenshot_wanted = true;
            }
            SaveTarget::Styles => {
                let result = save_styles(&self.state, &path);
                self.report_write(&path, result);
            }
            SaveTarget::Mask => {
                let mask = self.state.content.and_then(|id| {
                    let entry = self.state.image(id)?;
                    let size = [entry.image.width(), entry.image.height()];
                    Some(brush::mask_at_image_size(entry.mask.as_ref()?.mask(), size))
                });
                match mask {
                    Some(mask) => {
                        let result = crate::io::image::save_gray_png(&path, &mask, true)
                            .map_err(|e| e.to_string());
                        self.report_write(&path, result);
                    }
                    None => self
                        .toasts
                        .push("Nothing is painted on this image yet", true),
                }
            }
            SaveTarget::Effects => {
                let content = self.state.content_ready();
                let current = self.state.effect_request();
                match (content, self.display.effect_maps()) {
                    (Some(content), Some((request, maps))) if Some(request) == current.as_ref() => {
                        let name = (self.state.style_space())
                            .and_then(|(_, space)| space)
                            .map_or("style", |s| s.name);
                        let plan = Plan {
                            kind: ExportKind::Effects {
                                path,
                                labels: compose::direction_labels(&request.directions, name),
                                maps,
                            },
                            jobs: vec![(content, vec![request.style.clone()], vec![None])],
                            scale: 1,
                            region: None,
                        };
                        let domain = self.state.target();
                        self.exports.start(plan, domain, &self.worker);
                    }
                    _ => self.toasts.push(
                        "Turn effect maps on and wait for them before exporting",
                        true,
                    ),
                }
            }
            SaveTarget::Map => match map_picture(&self.state) {
                Some(picture) => {
                    let result = crate::io::image::save_png(&path, &picture, true)
                        .map_err(|e| e.to_string());
                    self.report_write(&path, result);
                }
                None => self.toasts.push(
                    "The style map needs the codes of at least two reference images",
                    true,
                ),
            },
            _ => match plan(&self.state, target, Some(path)) {
                Ok(plan) => {
                    let domain = self.state.target();
                    self.exports.start(plan, domain, &self.worker);
                }
                Err(e) => self.toasts.push(e, true),
            },
        }
    }

    /// Copies the output image to the clipboard (read back through the worker).
    pub fn copy_image(&mut self) {
        match plan(&self.state, SaveTarget::Png, None) {
            Ok(plan) => {
                let domain = self.state.target();
                self.exports.start(plan, domain, &self.worker);
            }
            Err(e) => self.toasts.push(e, true),
        }
    }

    pub(super) fn export_part(&mut self, tag: u64, images: Result<Vec<RgbImage>, String>) {
        match self.exports.part(tag, images) {
            None => {}
            Some(Err(e)) => self.toasts.push(e, true),
            Some(Ok(Finished::Written(path, result))) => self.report_write(&path, result),
            Some(Ok(Finished::Copy(image))) => {
                let size = [image.width() as usize, image.height() as usize];
                self.copy_request = Some(egui::ColorImage::from_rgb(size, image.as_raw()));
                self.toasts.push("Copied the output image", false);
            }
        }
    }

    pub(super) fn report_write(&mut self, path: &Path, result: Result<(), String>) {
        match result {
            Ok(()) => self.toasts.push(format!("Saved {}", path.display()), false),
            Err(e) => self
                .toasts
                .push(format!("Could not save {}: {e}", path.display()), true),
        }
    }

    /// Loads a style-code set; its codes become the saved codes and the first one the current.
    pub fn load_styles(&mut self, path: &Path) {
        let result = crate::engine::styles::StyleSet::read(path, self.state.style_dim());
        match result {
            Ok(set) => self.act(super::Action::LoadStyleSet(set)),
            Err(e) => self.toasts.push(format!("{}: {e}", path.display()), true),
        }
    }
}

/// Side of an exported style map, in pixels (times the export scale).
const MAP_SIDE: u32 = 768;

/// The style map as a picture: every point's thumbnail at its coordinates, the prior's samples
/// and the current code. `None` without principal axes.
pub fn map_picture(state: &AppState) -> Option<RgbImage> {
    let points = state.map_points();
    let pca = super::state::pca_of(&points)?;
    let codes: Vec<(&[f32], RgbImage)> = (points.iter())
        .map(|p| {
            let thumbnail = match p.from {
                MapFrom::Image(id) => state
                    .image(id)
                    .map(|e| e.image.thumbnail(96, 96).to_rgb8())
                    .unwrap_or_default(),
                MapFrom::File(i) => state.map.files[i].thumbnail.clone(),
            };
            (p.code.as_slice(), thumbnail)
        })
        .collect();
    let marker = (state.style.len() == pca.dim()).then_some(state.style.as_slice());
    let side = MAP_SIDE * state.settings.export_scale.max(1);
    Some(compose::style_map(&pca, &codes, marker, side))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_files_sit_beside_the_chosen_name() {
        let file = batch_file(Path::new("/out/codes.png"), "code 1/x");
        assert_eq!(file, PathBuf::from("/out/codes-code_1_x.png"));
    }

    #[test]
    fn labels_are_short_stems() {
        assert_eq!(short("a-very-long-file-name.png"), "a-very-long-");
        assert_eq!(short("cat.jpg"), "cat");
    }

    #[test]
    fn nothing_is_planned_without_a_ready_content_image() {
        let state = AppState::default();
        let err = plan(&state, SaveTarget::Png, Some("x.png".into())).unwrap_err();
        assert!(err.contains("no content image"), "{err}");
    }
}
