//! The engine: picks the compute device, holds a loaded model of any family (MUNIT, DRIT++,
//! UNIT) behind one interface ([`Model`]: encode content, encode style, decode; [`Description`]:
//! family, channels, preprocessing, optional style space), encodes images (caching content
//! codes), samples styles and decodes translations.

pub mod device;
pub mod domains;
pub mod effects;
pub mod pca;
pub mod reference;
pub mod region;
pub mod styles;
pub mod texture;
pub mod worker;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::Domain;
use crate::checkpoint::{CheckpointError, ModelFiles, Networks, load_networks};
use crate::config::Config;
use crate::io::image::{ImageError, ModelImage, Preprocess, image_from_chw, preprocess_with};
use crate::model::params::to_vec;
use styles::sample_styles;

pub use crate::checkpoint::needs_config;
pub use device::{BackendKind, ComputeDevice, DeviceChoice, DeviceError, select_device};

/// The default model: `$STYLESPACE_MODEL`, else the one bundled in the source tree.
pub fn bundled_model() -> std::path::PathBuf {
    std::env::var_os("STYLESPACE_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/openmoji128"))
}

/// Smallest image side the models accept (MUNIT's style encoder has four stride-2 stages and
/// reflection padding; DRIT's attribute encoder likewise).
pub const MIN_SIDE: usize = 16;

/// Content codes kept in memory (one is about 4 MB at 256 px with the default architecture).
pub const CONTENT_CACHE_SIZE: usize = 16;

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(
        "{name}: {width}x{height} is too small; the model needs at least {MIN_SIDE} px per side"
    )]
    TooSmall {
        name: String,
        width: usize,
        height: usize,
    },
    #[error(
        "{name}: a DRIT model needs sides that are multiples of 4, the image is {width}x{height} \
         after preprocessing; choose --resize-size / --crop-size accordingly"
    )]
    NotMultipleOf4 {
        name: String,
        width: usize,
        height: usize,
    },
    #[error("{what} has {found} values, the model's {name} has {expected} dimensions")]
    StyleDim {
        what: &'static str,
        name: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("this {family} model has no style space; it translates deterministically")]
    NoStyleSpace { family: Family },
    #[error("a {family} model needs a {name} code to decode")]
    StyleNeeded { family: Family, name: &'static str },
    #[error("{0}")]
    Option(String),
}

/// Counters of work done, for tests and diagnostics (e.g. "slider moves never run encoders").
#[derive(Debug, Default)]
pub struct Counters {
    pub content_encodes: AtomicU64,
    pub style_encodes: AtomicU64,
    pub decodes: AtomicU64,
    pub content_cache_hits: AtomicU64,
    /// Images rendered for display by the worker.
    pub renders: AtomicU64,
    /// Bytes read back from the device to show renders (zero when the GPU path draws them).
    pub display_readback_bytes: AtomicU64,
    /// Bytes read back for exports.
    pub export_readback_bytes: AtomicU64,
    /// Content codes the worker holds for the app's images (follows the image set).
    pub content_codes_held: AtomicU64,
}

/// The model families the engine serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Munit,
    Drit,
    Unit,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Munit => "MUNIT",
            Family::Drit => "DRIT++",
            Family::Unit => "UNIT",
        })
    }
}

/// A low-dimensional code space whose prior is N(0, I): MUNIT's style, DRIT's attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StyleSpace {
    pub dim: usize,
    /// What the family calls it: "style" (MUNIT) or "attribute" (DRIT).
    pub name: &'static str,
}

/// What the app and the command line need to know about a loaded model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Description {
    pub family: Family,
    /// The family's variant, e.g. DRIT's "concat" / "noconcat".
    pub variant: Option<&'static str>,
    /// Image channels of domain a and b (1 or 3).
    pub input_channels: [usize; 2],
    /// How images of domain a and b are prepared.
    pub preprocess: [Preprocess; 2],
    /// `None` for UNIT (deterministic translation; samples add noise to the latent).
    pub style: Option<StyleSpace>,
}

impl Description {
    pub fn channels(&self, domain: Domain) -> usize {
        self.input_channels[domain as usize]
    }

    pub fn preprocess_for(&self, domain: Domain) -> Preprocess {
        self.preprocess[domain as usize]
    }

    /// Length of a style code (0 without a style space).
    pub fn style_dim(&self) -> usize {
        self.style.map_or(0, |s| s.dim)
    }
}

/// An image's code in the style space: the style (MUNIT), the attribute mean (DRIT) with the
/// log-variance of DRIT's concat variant.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleCode {
    pub code: Vec<f32>,
    pub logvar: Option<Vec<f32>>,
}

/// An image encoded by one domain's generator.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[1, c, h, w]`.
    pub content: Tensor<4>,
    /// `style_dim` values.
    pub style: Vec<f32>,
}

/// A loaded model on a device, whatever its family: encode content, encode style, decode.
pub struct Model {
    pub networks: Networks,
    description: Description,
    pub device: Device,
    /// Shared, so a worker can keep one set of counters across the models it loads.
    pub counters: Arc<Counters>,
    /// Most recently used last; bounded by [`CONTENT_CACHE_SIZE`].
    content_cache: VecDeque<((Domain, u64), Tensor<4>)>,
}

impl Model {
    /// Loads a native model folder (or a MUNIT training run folder).
    pub fn load_folder(dir: &Path, device: &Device) -> Result<Self, EngineError> {
        let networks = ModelFiles::from_folder(dir)?.load(device)?;
        Ok(Self::new(networks, device))
    }

    /// Loads an official (or native) checkpoint; MUNIT and UNIT need their YAML config, DRIT++
    /// none.
    pub fn load(
        config: Option<Config>,
        checkpoint: &Path,
        device: &Device,
    ) -> Result<Self, EngineError> {
        let networks = load_networks(config.as_ref(), checkpoint, device)?;
        Ok(Self::new(networks, device))
    }

    pub fn new(mut networks: Networks, device: &Device) -> Self {
        networks.prepare_for_inference();
        let description = describe(&networks);
        Self {
            networks,
            description,
            device: device.clone(),
            counters: Arc::default(),
            content_cache: VecDeque::new(),
        }
    }

    pub fn description(&self) -> &Description {
        &self.description
    }

    pub fn family(&self) -> Family {
        self.description.family
    }

    /// Length of a style code (0 for UNIT).
    pub fn style_dim(&self) -> usize {
        self.description.style_dim()
    }

    /// Replaces DRIT's test-time resize and crop (0 skips the step). Refused for other
    /// families, whose preprocessing comes from their config.
    pub fn set_resize_crop(
        &mut self,
        resize: Option<usize>,
        crop: Option<usize>,
    ) -> Result<(), EngineError> {
        if resize.is_none() && crop.is_none() {
            return Ok(());
        }
        let Networks::Drit {
            resize_size,
            crop_size,
            ..
        } = &mut self.networks
        else {
            return Err(EngineError::Option(format!(
                "--resize-size and --crop-size apply to DRIT++ models; this {} model resizes \
                 images as its config says (new_size)",
                self.description.family
            )));
        };
        if let Some(r) = resize {
            *resize_size = r;
        }
        if let Some(c) = crop {
            *crop_size = c;
        }
        if *resize_size != 0 && *crop_size > *resize_size {
            return Err(EngineError::Option(format!(
                "--crop-size {} is larger than --resize-size {}",
                crop_size, resize_size
            )));
        }
        self.description = describe(&self.networks);
        self.content_cache.clear();
        Ok(())
    }

    /// Loads and preprocesses an image for encoding by `domain`'s encoders.
    pub fn prepare(
        &self,
        img: &image::DynamicImage,
        domain: Domain,
        name: &str,
    ) -> Result<ModelImage, EngineError> {
        let prepared = preprocess_with(
            img,
            self.description.preprocess_for(domain),
            self.description.channels(domain),
            name,
        )?;
        if prepared.width < MIN_SIDE || prepared.height < MIN_SIDE {
            return Err(EngineError::TooSmall {
                name: name.into(),
                width: prepared.width,
                height: prepared.height,
            });
        }
        if self.family() == Family::Drit && (prepared.width % 4 != 0 || prepared.height % 4 != 0) {
            return Err(EngineError::NotMultipleOf4 {
                name: name.into(),
                width: prepared.width,
                height: prepared.height,
            });
        }
        Ok(prepared)
    }

    /// The image as a `[1, c, h, w]` tensor on the model's device.
    pub fn tensor(&self, img: &ModelImage) -> Tensor<4> {
        Tensor::from_data(TensorData::new(img.data.clone(), img.shape()), &self.device)
    }

    /// Content code of an image, computed once per (domain, image) and cached.
    ///
    /// # Shapes
    /// returns `[1, c, h', w']`.
    pub fn content(&mut self, domain: Domain, img: &ModelImage) -> Tensor<4> {
        let key = (domain, fingerprint(img));
        if let Some(pos) = self.content_cache.iter().position(|(k, _)| *k == key) {
            self.counters
                .content_cache_hits
                .fetch_add(1, Ordering::Relaxed);
            let entry = self.content_cache.remove(pos).expect("position is valid");
            let content = entry.1.clone();
            self.content_cache.push_back(entry);
            return content;
        }
        self.counters
            .content_encodes
            .fetch_add(1, Ordering::Relaxed);
        let content = self.encode_content(domain, self.tensor(img));
        if self.content_cache.len() >= CONTENT_CACHE_SIZE {
            self.content_cache.pop_front();
        }
        self.content_cache.push_back((key, content.clone()));
        content
    }

    /// Content code (MUNIT, DRIT) or latent (UNIT), uncached.
    ///
    /// # Shapes
    /// `x`: `[b, channels, h, w]` in [-1, 1] -> `[b, c, h', w']`.
    pub fn encode_content(&self, domain: Domain, x: Tensor<4>) -> Tensor<4> {
        match &self.networks {
            Networks::Munit { gens, .. } => gens.get(domain).encode_content(x),
            Networks::Unit { gens, .. } => gens.get(domain).encode(x),
            Networks::Drit { model, .. } => model.encode_content(domain, x),
        }
    }

    /// Style code of an image under `domain`'s style (attribute) encoder; `None` for UNIT.
    pub fn style(&self, domain: Domain, img: &ModelImage) -> Option<StyleCode> {
        let x = self.tensor(img);
        let code = match &self.networks {
            Networks::Munit { gens, .. } => StyleCode {
                code: to_vec(gens.get(domain).encode_style(x)),
                logvar: None,
            },
            Networks::Drit { model, .. } => {
                let (mean, logvar) = model.encode_attr(domain, x);
                StyleCode {
                    code: to_vec(mean),
                    logvar: logvar.map(to_vec),
                }
            }
            Networks::Unit { .. } => return None,
        };
        self.counters.style_encodes.fetch_add(1, Ordering::Relaxed);
        Some(code)
    }

    /// Decodes a content code into `target` with a style code (required exactly when the model
    /// has a style space).
    ///
    /// # Shapes
    /// `content`: `[1, c, h, w]` -> `[1, channels(target), H, W]` in (-1, 1).
    pub fn decode(
        &self,
        target: Domain,
        content: Tensor<4>,
        style: Option<&[f32]>,
    ) -> Result<Tensor<4>, EngineError> {
        let family = self.family();
        let style = match (self.description.style, style) {
            (Some(_), Some(code)) => Some(self.style_tensor(code, "the code")?),
            (Some(space), None) => {
                return Err(EngineError::StyleNeeded {
                    family,
                    name: space.name,
                });
            }
            (None, Some(code)) if !code.is_empty() => {
                return Err(EngineError::NoStyleSpace { family });
            }
            (None, _) => None,
        };
        self.count_decodes(1);
        Ok(match (&self.networks, style) {
            (Networks::Munit { gens, .. }, Some(s)) => gens.get(target).decode_style(content, s),
            (Networks::Drit { model, .. }, Some(s)) => model.decode(target, content, s),
            (Networks::Unit { gens, .. }, None) => gens.get(target).decode(content),
            _ => unreachable!("style presence checked against the style space"),
        })
    }

    /// A style code as a `[1, dim]` tensor, checked against the style space (`what` names it in
    /// errors).
    fn style_tensor(&self, code: &[f32], what: &'static str) -> Result<Tensor<2>, EngineError> {
        let family = self.family();
        let Some(space) = self.description.style else {
            return Err(EngineError::NoStyleSpace { family });
        };
        if code.len() != space.dim {
            return Err(EngineError::StyleDim {
                what,
                name: space.name,
                expected: space.dim,
                found: code.len(),
            });
        }
        Ok(Tensor::<2>::from_data(
            TensorData::new(code.to_vec(), [1, code.len()]),
            &self.device,
        ))
    }

    fn count_decodes(&self, n: u64) {
        self.counters.decodes.fetch_add(n, Ordering::Relaxed);
    }

    /// A UNIT latent plus `amount` x unit Gaussian noise drawn from `seed` (amount 1 is the
    /// reduced VAE's sampling; 0 the deterministic translation).
    pub fn noisy_latent(&self, latent: &Tensor<4>, seed: u64, amount: f32) -> Tensor<4> {
        let dims = latent.dims();
        let n = dims.iter().product();
        let noise: Vec<f32> = sample_styles(1, n, seed)
            .remove(0)
            .into_iter()
            .map(|v| v * amount)
            .collect();
        latent.clone() + Tensor::<4>::from_data(TensorData::new(noise, dims), &self.device)
    }

    /// Decodes `content` with many codes in one batch.
    ///
    /// # Shapes
    /// `content`: `[1, c, h, w]` -> `[codes, channels(target), H, W]`.
    pub fn decode_batch(
        &self,
        target: Domain,
        content: &Tensor<4>,
        codes: &[Vec<f32>],
    ) -> Result<Tensor<4>, EngineError> {
        let family = self.family();
        let Some(space) = self.description.style else {
            return Err(EngineError::NoStyleSpace { family });
        };
        if let Some(bad) = codes.iter().find(|c| c.len() != space.dim) {
            return Err(EngineError::StyleDim {
                what: "a code",
                name: space.name,
                expected: space.dim,
                found: bad.len(),
            });
        }
        let n = codes.len();
        let flat: Vec<f32> = codes.iter().flatten().copied().collect();
        let styles = Tensor::<2>::from_data(TensorData::new(flat, [n, space.dim]), &self.device);
        let contents = content.clone().repeat_dim(0, n);
        self.count_decodes(n as u64);
        Ok(match &self.networks {
            Networks::Munit { gens, .. } => gens.get(target).decode_style(contents, styles),
            Networks::Drit { model, .. } => model.decode(target, contents, styles),
            Networks::Unit { .. } => unreachable!("UNIT has no style space"),
        })
    }

    /// Decodes `content` with each style code through `target`'s decoder, one image per code.
    ///
    /// Returns `[channels, height, width]` values in [-1, 1] per style.
    pub fn decode_styles(
        &self,
        target: Domain,
        content: &Tensor<4>,
        styles: &[Vec<f32>],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        styles
            .iter()
            .map(|style| Ok(to_vec(self.decode(target, content.clone(), Some(style))?)))
            .collect()
    }

    /// Decodes and converts to an RGB image.
    pub fn translate_one(
        &self,
        target: Domain,
        content: Tensor<4>,
        style: Option<&[f32]>,
    ) -> Result<image::RgbImage, EngineError> {
        let image = self.decode(target, content, style)?;
        let [_, c, h, w] = image.dims();
        Ok(image_from_chw(&to_vec(image), c, h, w))
    }

    /// Decodes with each style code and converts to RGB images.
    pub fn translate(
        &self,
        target: Domain,
        content: &Tensor<4>,
        styles: &[Vec<f32>],
    ) -> Result<Vec<image::RgbImage>, EngineError> {
        styles
            .iter()
            .map(|style| self.translate_one(target, content.clone(), Some(style)))
            .collect()
    }
}

/// The description of loaded networks.
fn describe(networks: &Networks) -> Description {
    match networks {
        Networks::Munit { config, .. } | Networks::Unit { config, .. } => {
            let unit = matches!(networks, Networks::Unit { .. });
            Description {
                family: if unit { Family::Unit } else { Family::Munit },
                variant: None,
                input_channels: [config.input_dim_a, config.input_dim_b],
                preprocess: [Domain::A, Domain::B].map(|d| Preprocess::ShorterSide {
                    new_size: config.new_size_for(d),
                }),
                style: (!unit).then(|| StyleSpace {
                    dim: config.generator.style_dim(),
                    name: "style",
                }),
            }
        }
        Networks::Drit {
            model,
            resize_size,
            crop_size,
        } => Description {
            family: Family::Drit,
            variant: Some(if model.arch.concat {
                "concat"
            } else {
                "noconcat"
            }),
            input_channels: [model.arch.input_dim_a, model.arch.input_dim_b],
            preprocess: [Preprocess::ResizeCrop {
                resize: *resize_size,
                crop: *crop_size,
            }; 2],
            style: Some(StyleSpace {
                dim: model.arch.nz,
                name: "attribute",
            }),
        },
    }
}

/// A content hash of a prepared image (XXH3 over shape and values).
fn fingerprint(img: &ModelImage) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for d in img.shape() {
        hasher.update(&(d as u64).to_le_bytes());
    }
    let values: Vec<u8> = img.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    hasher.update(&values);
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Pair;
    use crate::model::{Generator, RandomInit};

    #[test]
    fn content_codes_are_cached_with_a_bound() {
        let device = Device::flex();
        let mut config = Config::munit_default();
        config.generator.dim = 2;
        config.generator.mlp_dim = Some(4);
        config.generator.n_res = 1;
        let make = |seed| {
            Generator::new(&config.generator, 3, &mut RandomInit::new(seed), &device).unwrap()
        };
        let gens = Pair {
            a: make(1),
            b: make(2),
        };
        let mut model = Model::new(Networks::Munit { config, gens }, &device);
        let image = |i: usize| ModelImage {
            channels: 3,
            height: 16,
            width: 16,
            data: vec![i as f32 / 100.0; 3 * 16 * 16],
        };
        let encodes = |m: &Model| m.counters.content_encodes.load(Ordering::Relaxed);
        for i in 0..=CONTENT_CACHE_SIZE {
            model.content(Domain::A, &image(i));
        }
        assert_eq!(encodes(&model), CONTENT_CACHE_SIZE as u64 + 1);
        model.content(Domain::A, &image(CONTENT_CACHE_SIZE)); // most recent: cached
        assert_eq!(encodes(&model), CONTENT_CACHE_SIZE as u64 + 1);
        model.content(Domain::B, &image(CONTENT_CACHE_SIZE)); // other domain: a new code
        assert_eq!(encodes(&model), CONTENT_CACHE_SIZE as u64 + 2);
        model.content(Domain::A, &image(0)); // evicted long ago: encoded again
        assert_eq!(encodes(&model), CONTENT_CACHE_SIZE as u64 + 3);
        assert_eq!(model.counters.content_cache_hits.load(Ordering::Relaxed), 1);
    }
}
