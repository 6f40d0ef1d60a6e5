//! MUNIT's multi-scale patch discriminator (MsImageDis) and its GAN losses.

use burn::prelude::*;
use burn::tensor::activation::softplus;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;

use super::layers::{Conv, ConvBlock, ConvBlockSpec, visit_conv};
use super::params::{Init, NamedParams, ParamError, ParamSource};
use crate::config::{DisConfig, GanType, Norm};

/// Official discriminator initialisation: N(0, 0.02) weights, zero biases.
const DIS_INIT: Init = Init::Normal { std: 0.02 };

/// One scale: `n_layer` stride-2 4x4 conv blocks (the first without norm), then a 1x1 conv to one
/// channel.
#[derive(Module, Debug)]
pub struct PatchNet {
    pub blocks: Vec<ConvBlock>,
    pub out: Conv,
}

/// Discriminator at `num_scales` scales; the input is average-pooled (3x3, stride 2, padding 1,
/// padding excluded from the average) between scales.
#[derive(Module, Debug)]
pub struct MsImageDis {
    pub nets: Vec<PatchNet>,
    #[module(skip)]
    pub gan_type: GanType,
}

impl MsImageDis {
    pub fn new(
        cfg: &DisConfig,
        input_dim: usize,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        if matches!(cfg.norm, Norm::Bn | Norm::Sn | Norm::Adain) {
            return Err(ParamError::Unsupported(format!(
                "dis.norm {:?} is not supported yet (none, in and ln are)",
                cfg.norm
            )));
        }
        let nets = (0..cfg.num_scales)
            .map(|s| {
                let mut blocks = Vec::new();
                let mut dim = cfg.dim;
                for i in 0..cfg.n_layer {
                    let (in_ch, out_ch) = if i == 0 {
                        (input_dim, dim)
                    } else {
                        (dim, dim * 2)
                    };
                    let spec = ConvBlockSpec {
                        in_ch,
                        out_ch,
                        kernel: 4,
                        stride: 2,
                        pad: 1,
                        norm: if i == 0 { Norm::None } else { cfg.norm },
                        activation: cfg.activ,
                        pad_type: cfg.pad_type,
                        weight_init: DIS_INIT,
                    };
                    blocks.push(ConvBlock::new(
                        spec,
                        source,
                        &format!("cnns.{s}.{i}"),
                        device,
                    )?);
                    if i > 0 {
                        dim *= 2;
                    }
                }
                let out = Conv::new(
                    dim,
                    1,
                    1,
                    1,
                    DIS_INIT,
                    source,
                    &format!("cnns.{s}.{}", cfg.n_layer),
                    device,
                )?;
                Ok(PatchNet { blocks, out })
            })
            .collect::<Result<_, ParamError>>()?;
        Ok(Self {
            nets,
            gan_type: cfg.gan_type,
        })
    }

    /// Patch logits at every scale.
    ///
    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` -> one `[b, 1, h_s, w_s]` per scale, `h_0 = h / 2^n_layer`.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = x;
        let mut outputs = Vec::with_capacity(self.nets.len());
        for (s, net) in self.nets.iter().enumerate() {
            let y = net
                .blocks
                .iter()
                .fold(x.clone(), |y, block| block.forward(y, None));
            outputs.push(net.out.forward(y));
            if s + 1 < self.nets.len() {
                x = avg_pool2d(
                    x,
                    AvgPoolOptions::new([3, 3])
                        .with_stride([2, 2])
                        .with_padding([1, 1])
                        .with_count_include_pad(false),
                );
            }
        }
        outputs
    }

    /// Discriminator loss, summed over scales: LSGAN `mean(D(fake)^2) + mean((D(real) - 1)^2)`;
    /// NSGAN binary cross-entropy on sigmoid logits.
    pub fn dis_loss(&self, fake: Tensor<4>, real: Tensor<4>) -> Tensor<1> {
        let fake_out = self.forward(fake);
        let real_out = self.forward(real);
        let gan_type = self.gan_type;
        fake_out
            .into_iter()
            .zip(real_out)
            .map(|(f, r)| match gan_type {
                GanType::Lsgan => f.powi_scalar(2).mean() + (r - 1.0).powi_scalar(2).mean(),
                // BCE(sigmoid(x), 0) = softplus(x); BCE(sigmoid(x), 1) = softplus(-x).
                GanType::Nsgan => softplus(f, 1.0).mean() + softplus(-r, 1.0).mean(),
            })
            .reduce(|a, b| a + b)
            .expect("at least one scale")
    }

    /// Generator loss, summed over scales: LSGAN `mean((D(fake) - 1)^2)`.
    pub fn gen_loss(&self, fake: Tensor<4>) -> Tensor<1> {
        let gan_type = self.gan_type;
        self.forward(fake)
            .into_iter()
            .map(|f| match gan_type {
                GanType::Lsgan => (f - 1.0).powi_scalar(2).mean(),
                GanType::Nsgan => softplus(-f, 1.0).mean(),
            })
            .reduce(|a, b| a + b)
            .expect("at least one scale")
    }
}

impl NamedParams for MsImageDis {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        let join = |name: String| {
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            }
        };
        for (s, net) in self.nets.iter().enumerate() {
            for (i, block) in net.blocks.iter().enumerate() {
                block.visit_params(&join(format!("cnns.{s}.{i}")), visit);
            }
            visit_conv(
                &net.out,
                &join(format!("cnns.{s}.{}", net.blocks.len())),
                visit,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::RandomInit;

    #[test]
    fn unsupported_norms_are_refused_clearly() {
        let device = Device::flex();
        for norm in [Norm::Bn, Norm::Sn] {
            let cfg = DisConfig {
                norm,
                ..DisConfig::default()
            };
            let err = MsImageDis::new(&cfg, 3, &mut RandomInit::new(0), &device).unwrap_err();
            assert!(err.to_string().contains("not supported"), "{err}");
        }
    }

    #[test]
    fn default_discriminator_has_the_official_parameter_count() {
        let device = Device::flex();
        let dis =
            MsImageDis::new(&DisConfig::default(), 3, &mut RandomInit::new(0), &device).unwrap();
        let mut count = 0;
        dis.visit_params("", &mut |_, shape, _| {
            count += shape.iter().product::<usize>()
        });
        assert_eq!(count, 8_271_171);
    }
}
