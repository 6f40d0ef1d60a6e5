//! UNIT's generator (`VAEGen`) from Liu et al., "Unsupervised Image-to-Image Translation
//! Networks", NeurIPS 2017 (arXiv 1703.00848), as in the official master branch, which builds it
//! from MUNIT's blocks: MUNIT's content encoder (instance norm) under `enc.` and MUNIT's decoder
//! with instance-norm residual blocks under `dec.`.
//!
//! The latent is the encoder output itself; UNIT's "reduced VAE" adds unit Gaussian noise to it
//! when sampling (the engine draws that noise, the modules stay pure).

use burn::prelude::*;

use super::munit::{ContentEncoder, Decoder};
use super::params::{NamedParams, ParamError, ParamSource, join_key};
use crate::config::{GenConfig, Norm};

/// One domain's UNIT generator: an auto-encoder whose latent space both domains share.
#[derive(Module, Debug)]
pub struct UnitGenerator {
    pub enc: ContentEncoder,
    pub dec: Decoder,
}

impl UnitGenerator {
    /// Builds the generator for images with `input_dim` channels from a UNIT config's `gen`
    /// (its `style_dim` / `mlp_dim` are absent and unused), every parameter under its official key.
    pub fn new(
        cfg: &GenConfig,
        input_dim: usize,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        // State-dict order of the official module: enc, dec.
        let enc = ContentEncoder::new(cfg, input_dim, "enc", source, device)?;
        let dec = Decoder::new(cfg, input_dim, Norm::In, "dec", source, device)?;
        Ok(Self { enc, dec })
    }

    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` in [-1, 1] -> latent `[b, dim * 2^n, h / 2^n, w / 2^n]`.
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        self.enc.forward(x)
    }

    /// # Shapes
    /// `latent`: `[b, c, h, w]` -> image `[b, input_dim, h * 2^n, w * 2^n]` in (-1, 1).
    pub fn decode(&self, latent: Tensor<4>) -> Tensor<4> {
        self.dec.forward_with(latent, None)
    }
}

impl NamedParams for UnitGenerator {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        let join = |name: &str| join_key(prefix, name);
        self.enc.visit_params(&join("enc"), visit);
        self.dec.visit_params(&join("dec"), visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{NamedTensors, RandomInit, to_vec};
    use burn::tensor::Distribution;

    #[test]
    fn round_trips_through_its_official_keys() {
        let device = Device::flex();
        let cfg = GenConfig {
            dim: 4,
            mlp_dim: None,
            style_dim: None,
            n_res: 2,
            ..GenConfig::default()
        };
        let generator = UnitGenerator::new(&cfg, 1, &mut RandomInit::new(1), &device).unwrap();
        let mut dict = std::collections::BTreeMap::new();
        generator.visit_params("", &mut |k, s, v| {
            dict.insert(k, (s, v));
        });
        assert!(dict.contains_key("enc.model.3.model.1.model.1.conv.weight"));
        assert!(dict.contains_key("dec.model.0.model.1.model.0.conv.weight"));
        assert!(dict.contains_key("dec.model.4.norm.gamma"));
        assert!(!dict.keys().any(|k| k.contains("running")));
        let x = Tensor::<4>::random([1, 1, 16, 20], Distribution::Uniform(-1., 1.), &device);
        let latent = generator.encode(x);
        assert_eq!(latent.dims(), [1, 16, 4, 5]);
        let y = to_vec(generator.decode(latent.clone()));
        let mut source = NamedTensors::new(dict);
        let again = UnitGenerator::new(&cfg, 1, &mut source, &device).unwrap();
        source.finish().unwrap();
        assert_eq!(to_vec(again.decode(latent)), y);
    }
}
