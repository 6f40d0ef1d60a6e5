//! The engine: picks the compute device, holds a loaded model, encodes images (caching content
//! codes), samples styles and decodes translations.

pub mod device;
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
use crate::checkpoint::{CheckpointError, GeneratorPair, ModelFiles, load_generators};
use crate::config::Config;
use crate::io::image::{ImageError, ModelImage, image_from_chw, preprocess};
use crate::model::params::to_vec;

pub use device::{BackendKind, ComputeDevice, DeviceChoice, DeviceError, select_device};

/// The default model: `$STYLESPACE_MODEL`, else the one bundled in the source tree.
pub fn bundled_model() -> std::path::PathBuf {
    std::env::var_os("STYLESPACE_MODEL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/openmoji64"))
}

/// Smallest image side the generator accepts (the style encoder's four stride-2 stages and
/// reflection padding need at least 16 px).
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
    #[error("style code has {found} values, the model's style_dim is {expected}")]
    StyleDim { expected: usize, found: usize },
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
}

/// An image encoded by one domain's generator.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[1, c, h, w]`.
    pub content: Tensor<4>,
    /// `style_dim` values.
    pub style: Vec<f32>,
}

/// A loaded model on a device.
pub struct Model {
    pub config: Config,
    pub gens: GeneratorPair,
    pub device: Device,
    /// Shared, so a worker can keep one set of counters across the models it loads.
    pub counters: Arc<Counters>,
    /// Most recently used last; bounded by [`CONTENT_CACHE_SIZE`].
    content_cache: VecDeque<((Domain, u64), Tensor<4>)>,
}

impl Model {
    /// Loads a native model folder.
    pub fn load_folder(dir: &Path, device: &Device) -> Result<Self, EngineError> {
        let (config, gens) = ModelFiles::from_folder(dir)?.load(device)?;
        Ok(Self::new(config, gens, device))
    }

    /// Loads a config and an official (or native) checkpoint.
    pub fn load(config: Config, checkpoint: &Path, device: &Device) -> Result<Self, EngineError> {
        let gens = load_generators(&config, checkpoint, device)?;
        Ok(Self::new(config, gens, device))
    }

    pub fn new(config: Config, gens: GeneratorPair, device: &Device) -> Self {
        Self {
            config,
            gens,
            device: device.clone(),
            counters: Arc::default(),
            content_cache: VecDeque::new(),
        }
    }

    pub fn style_dim(&self) -> usize {
        self.config.generator.style_dim
    }

    /// Loads and preprocesses an image for encoding by `domain`'s generator.
    pub fn prepare(
        &self,
        img: &image::DynamicImage,
        domain: Domain,
        name: &str,
    ) -> Result<ModelImage, EngineError> {
        let prepared = preprocess(
            img,
            self.config.new_size_for(domain),
            self.config.input_dim(domain),
            name,
        )?;
        if prepared.width < MIN_SIDE || prepared.height < MIN_SIDE {
            return Err(EngineError::TooSmall {
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
        let content = self.gens.get(domain).encode_content(self.tensor(img));
        if self.content_cache.len() >= CONTENT_CACHE_SIZE {
            self.content_cache.pop_front();
        }
        self.content_cache.push_back((key, content.clone()));
        content
    }

    /// Style code of an image under `domain`'s style encoder.
    pub fn style(&self, domain: Domain, img: &ModelImage) -> Vec<f32> {
        self.counters.style_encodes.fetch_add(1, Ordering::Relaxed);
        to_vec(self.gens.get(domain).encode_style(self.tensor(img)))
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
        let generator = self.gens.get(target);
        let mut out = Vec::with_capacity(styles.len());
        for style in styles {
            if style.len() != self.style_dim() {
                return Err(EngineError::StyleDim {
                    expected: self.style_dim(),
                    found: style.len(),
                });
            }
            let style = Tensor::<2>::from_data(
                TensorData::new(style.clone(), [1, style.len()]),
                &self.device,
            );
            self.counters.decodes.fetch_add(1, Ordering::Relaxed);
            let image = generator.decode_style(content.clone(), style);
            out.push(to_vec(image));
        }
        Ok(out)
    }

    /// Output geometry of decoding a content code: (channels, height, width).
    pub fn output_shape(&self, target: Domain, content: &Tensor<4>) -> (usize, usize, usize) {
        let [_, _, h, w] = content.dims();
        let scale = 1 << self.config.generator.n_downsample;
        (self.config.input_dim(target), h * scale, w * scale)
    }

    /// Decodes and converts to RGB images.
    pub fn translate(
        &self,
        target: Domain,
        content: &Tensor<4>,
        styles: &[Vec<f32>],
    ) -> Result<Vec<image::RgbImage>, EngineError> {
        let (c, h, w) = self.output_shape(target, content);
        Ok(self
            .decode_styles(target, content, styles)?
            .iter()
            .map(|values| image_from_chw(values, c, h, w))
            .collect())
    }
}

/// A content hash of a prepared image (FNV-1a over shape and values).
fn fingerprint(img: &ModelImage) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= *b as u64;
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    for d in img.shape() {
        eat(&(d as u64).to_le_bytes());
    }
    for v in &img.data {
        eat(&v.to_le_bytes());
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::GeneratorPair;
    use crate::model::{Generator, RandomInit};

    #[test]
    fn content_codes_are_cached_with_a_bound() {
        let device = Device::flex();
        let mut config = Config::munit_default();
        config.generator.dim = 2;
        config.generator.mlp_dim = 4;
        config.generator.n_res = 1;
        let make = |seed| {
            Generator::new(&config.generator, 3, &mut RandomInit::new(seed), &device).unwrap()
        };
        let gens = GeneratorPair {
            a: make(1),
            b: make(2),
        };
        let mut model = Model::new(config, gens, &device);
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
