//! Effect maps: for one content and one code, how strongly each output pixel changes when one
//! coordinate of the code moves (a central difference along each dimension or direction), so a
//! researcher sees *where* each slider acts. All probes are decoded in one batch.

use burn::prelude::*;

use super::{EngineError, Model};
use crate::Domain;
use crate::model::params::to_vec;

/// One heat map per direction.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectMaps {
    pub width: usize,
    pub height: usize,
    /// Per direction, `height * width` values: the mean over channels of |d output / d t|, output
    /// values in [-1, 1] per unit of the code.
    pub maps: Vec<Vec<f32>>,
}

impl EffectMaps {
    /// The largest value of all maps (for a shared colour scale).
    pub fn max(&self) -> f32 {
        self.maps.iter().flatten().copied().fold(0.0, f32::max)
    }
}

/// The codes a central difference needs: `style + step * d` and `style - step * d` for each
/// direction `d`, in that order.
pub fn probe_codes(style: &[f32], directions: &[Vec<f32>], step: f32) -> Vec<Vec<f32>> {
    directions
        .iter()
        .flat_map(|d| {
            let at = |sign: f32| {
                (style.iter().zip(d))
                    .map(|(s, v)| s + sign * step * v)
                    .collect::<Vec<f32>>()
            };
            [at(1.0), at(-1.0)]
        })
        .collect()
}

/// The unit directions of each raw dimension of a code.
pub fn dimensions(dim: usize) -> Vec<Vec<f32>> {
    (0..dim)
        .map(|k| (0..dim).map(|i| f32::from(u8::from(i == k))).collect())
        .collect()
}

/// Maps from decoded probes.
///
/// # Shapes
/// `decoded`: `[2n, c, h, w]` (the probes of [`probe_codes`], in order) -> n maps of `h * w`.
pub fn maps_from(decoded: Tensor<4>, step: f32) -> EffectMaps {
    let [n2, c, h, w] = decoded.dims();
    let values = to_vec(decoded);
    let plane = h * w;
    let maps = (0..n2 / 2)
        .map(|k| {
            let plus = &values[2 * k * c * plane..][..c * plane];
            let minus = &values[(2 * k + 1) * c * plane..][..c * plane];
            (0..plane)
                .map(|p| {
                    (0..c)
                        .map(|ch| (plus[ch * plane + p] - minus[ch * plane + p]).abs())
                        .sum::<f32>()
                        / (c as f32 * 2.0 * step)
                })
                .collect()
        })
        .collect();
    EffectMaps {
        width: w,
        height: h,
        maps,
    }
}

impl Model {
    /// Effect maps of `content` decoded into `target` around `style`, along `directions` (e.g.
    /// [`dimensions`] or principal axes), by central differences of `step`: one batched decode of
    /// two probes per direction.
    ///
    /// # Shapes
    /// `content`: `[1, c, h, w]`.
    pub fn effect_maps(
        &self,
        target: Domain,
        content: &Tensor<4>,
        style: &[f32],
        directions: &[Vec<f32>],
        step: f32,
    ) -> Result<EffectMaps, EngineError> {
        let probes = probe_codes(style, directions, step);
        let decoded = self.decode_batch(target, content, &probes)?;
        Ok(maps_from(decoded, step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Activation, GenConfig, PadType};
    use crate::model::munit::Generator;
    use crate::model::params::{Init, ParamError, ParamSource, RandomInit};
    use burn::tensor::Distribution;

    /// Random weights, except that the MLP's first layer ignores style input `ignored`.
    struct Ignoring {
        random: RandomInit,
        ignored: usize,
    }

    impl ParamSource for Ignoring {
        fn values(
            &mut self,
            key: &str,
            shape: &[usize],
            init: Init,
        ) -> Result<Vec<f32>, ParamError> {
            let mut values = self.random.values(key, shape, init)?;
            if key == "mlp.model.0.fc.weight" {
                // [out, in]: column `ignored` multiplies that style input.
                let inputs = shape[1];
                for row in values.chunks_mut(inputs) {
                    row[self.ignored] = 0.0;
                }
            }
            Ok(values)
        }
    }

    #[test]
    fn a_coordinate_the_decoder_ignores_has_an_all_zero_map() {
        let device = Device::flex();
        let cfg = GenConfig {
            dim: 4,
            mlp_dim: Some(8),
            style_dim: Some(3),
            activ: Activation::Relu,
            n_downsample: 2,
            n_res: 2,
            pad_type: PadType::Reflect,
        };
        let mut source = Ignoring {
            random: RandomInit::new(5),
            ignored: 1,
        };
        let generator = Generator::new(&cfg, 3, &mut source, &device).unwrap();
        let x = Tensor::<4>::random([1, 3, 16, 12], Distribution::Uniform(-1., 1.), &device);
        let content = generator.encode_content(x);
        let style = [0.3f32, -0.7, 1.1];
        let probes = probe_codes(&style, &dimensions(3), 0.25);
        assert_eq!(probes.len(), 6);
        assert_eq!(probes[2], vec![0.3, -0.45, 1.1]);
        let styles: Vec<f32> = probes.iter().flatten().copied().collect();
        let decoded = generator.decode_style(
            content.repeat_dim(0, 6),
            Tensor::<2>::from_data(TensorData::new(styles, [6, 3]), &device),
        );
        let maps = maps_from(decoded, 0.25);
        assert_eq!((maps.width, maps.height, maps.maps.len()), (12, 16, 3));
        assert!(
            maps.maps[1].iter().all(|v| *v == 0.0),
            "the ignored input moves pixels"
        );
        for k in [0, 2] {
            assert!(
                maps.maps[k].iter().any(|v| *v > 1e-4),
                "input {k} moves nothing"
            );
        }
    }

    #[test]
    fn a_batched_decode_equals_one_decode_per_code_for_munit_and_drit() {
        use crate::engine::worker::ModelSource;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let device = Device::flex();
        let sources = [
            ModelSource::Official {
                config: root.join("munit-tiny/config.yaml"),
                checkpoint: root.join("munit-tiny/gen.pt"),
            },
            ModelSource::Checkpoint(root.join("drit-tiny/drit.pth")),
        ];
        for source in sources {
            let mut model = source.load(&device).unwrap();
            let image = image::open(root.join("munit-tiny/a.png")).unwrap();
            let prepared = model.prepare(&image, Domain::A, "a.png").unwrap();
            let content = model.content(Domain::A, &prepared);
            let dim = model.style_dim();
            let codes = crate::engine::styles::sample_styles(3, dim, 4);
            let batch = to_vec(model.decode_batch(Domain::B, &content, &codes).unwrap());
            let one: Vec<f32> = codes
                .iter()
                .flat_map(|c| to_vec(model.decode(Domain::B, content.clone(), Some(c)).unwrap()))
                .collect();
            assert_eq!(batch.len(), one.len());
            let worst = batch
                .iter()
                .zip(&one)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst < 1e-5,
                "{}: batched differs by {worst}",
                source.label()
            );
        }
    }
}
