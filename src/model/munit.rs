//! MUNIT's generator (AdaINGen) from Huang et al., "Multimodal Unsupervised Image-to-Image
//! Translation", ECCV 2018 (arXiv 1804.04732), with the official implementation's layer order and
//! parameter keys, so official checkpoints load unchanged.
//!
//! Unlike the official code, [`Generator::decode`] is a pure function: the AdaIN parameters are an
//! argument, never state written into modules.

use burn::prelude::*;

use super::layers::{Conv, ConvBlock, ConvBlockSpec, LinearBlock, ResBlock, visit_conv};
use super::mask::StyleField;
use super::params::{Init, NamedParams, ParamError, ParamSource, join_key};
use crate::config::{Activation, GenConfig, Norm};

/// Number of stride-2 stages of the style encoder: hard-wired to 4 in the official code,
/// whatever `n_downsample` says.
const STYLE_DOWNSAMPLE: usize = 4;

fn kaiming(in_ch: usize, kernel: usize) -> Init {
    Init::KaimingNormal {
        fan_in: in_ch * kernel * kernel,
    }
}

/// Style encoder: conv 7x7, four stride-2 convs (width doubling twice), global average pooling,
/// 1x1 conv to `style_dim`. No normalisation.
#[derive(Module, Debug)]
pub struct StyleEncoder {
    pub blocks: Vec<ConvBlock>,
    pub out: Conv,
}

impl StyleEncoder {
    pub fn new(
        cfg: &GenConfig,
        input_dim: usize,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let spec = |in_ch, out_ch, kernel, stride, pad| ConvBlockSpec {
            in_ch,
            out_ch,
            kernel,
            stride,
            pad,
            norm: Norm::None,
            activation: cfg.activ,
            pad_type: cfg.pad_type,
            weight_init: kaiming(in_ch, kernel),
        };
        let mut blocks = Vec::new();
        let mut dim = cfg.dim;
        blocks.push(ConvBlock::new(
            spec(input_dim, dim, 7, 1, 3),
            source,
            "enc_style.model.0",
            device,
        )?);
        for i in 0..STYLE_DOWNSAMPLE {
            let out = if i < 2 { dim * 2 } else { dim };
            let prefix = format!("enc_style.model.{}", blocks.len());
            blocks.push(ConvBlock::new(
                spec(dim, out, 4, 2, 1),
                source,
                &prefix,
                device,
            )?);
            dim = out;
        }
        // Index len() is the pooling layer (no parameters); the 1x1 conv follows it.
        let out = Conv::new(
            dim,
            cfg.style_dim(),
            1,
            1,
            kaiming(dim, 1),
            source,
            &format!("enc_style.model.{}", blocks.len() + 1),
            device,
        )?;
        Ok(Self { blocks, out })
    }

    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` -> style code `[b, style_dim, 1, 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self
            .blocks
            .iter()
            .fold(x, |x, block| block.forward(x, None));
        let [b, c, h, w] = x.dims();
        let pooled = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c, 1, 1]);
        self.out.forward(pooled)
    }
}

impl NamedParams for StyleEncoder {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_params(&format!("{prefix}.model.{i}"), visit);
        }
        visit_conv(
            &self.out,
            &format!("{prefix}.model.{}", self.blocks.len() + 1),
            visit,
        );
    }
}

/// Content encoder: conv 7x7, `n_downsample` stride-2 convs, `n_res` residual blocks; instance
/// norm throughout. Its output (the content code) is the raw residual sum.
#[derive(Module, Debug)]
pub struct ContentEncoder {
    pub blocks: Vec<ConvBlock>,
    pub res: Vec<ResBlock>,
}

impl ContentEncoder {
    /// Builds the encoder with its parameters under `prefix` (`enc_content` in MUNIT's
    /// generator, `enc` in UNIT's).
    pub fn new(
        cfg: &GenConfig,
        input_dim: usize,
        prefix: &str,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let spec = |in_ch, out_ch, kernel, stride, pad| ConvBlockSpec {
            in_ch,
            out_ch,
            kernel,
            stride,
            pad,
            norm: Norm::In,
            activation: cfg.activ,
            pad_type: cfg.pad_type,
            weight_init: kaiming(in_ch, kernel),
        };
        let mut blocks = vec![ConvBlock::new(
            spec(input_dim, cfg.dim, 7, 1, 3),
            source,
            &format!("{prefix}.model.0"),
            device,
        )?];
        let mut dim = cfg.dim;
        for i in 0..cfg.n_downsample {
            blocks.push(ConvBlock::new(
                spec(dim, dim * 2, 4, 2, 1),
                source,
                &format!("{prefix}.model.{}", i + 1),
                device,
            )?);
            dim *= 2;
        }
        let res_prefix = format!("{prefix}.model.{}", cfg.n_downsample + 1);
        let res = (0..cfg.n_res)
            .map(|r| {
                ResBlock::new(
                    dim,
                    Norm::In,
                    cfg.activ,
                    cfg.pad_type,
                    source,
                    &format!("{res_prefix}.model.{r}"),
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks, res })
    }

    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` -> content `[b, dim * 2^n_down, h / 2^n_down, w / 2^n_down]`
    /// (each stride-2 stage maps a side s to floor(s / 2)).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self
            .blocks
            .iter()
            .fold(x, |x, block| block.forward(x, None));
        self.res
            .iter()
            .fold(x, |x, block| block.forward(x, [None, None], None))
    }
}

impl NamedParams for ContentEncoder {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_params(&format!("{prefix}.model.{i}"), visit);
        }
        let res_prefix = format!("{prefix}.model.{}", self.blocks.len());
        for (r, block) in self.res.iter().enumerate() {
            block.visit_params(&format!("{res_prefix}.model.{r}"), visit);
        }
    }
}

/// Decoder: `n_res` residual blocks (AdaIN in MUNIT, instance norm in UNIT), then
/// `n_downsample` x (nearest x2, conv 5x5, LN), then conv 7x7 with tanh.
#[derive(Module, Debug)]
pub struct Decoder {
    pub res: Vec<ResBlock>,
    pub up: Vec<ConvBlock>,
    pub out: ConvBlock,
    #[module(skip)]
    pub content_dim: usize,
    #[module(skip)]
    pub res_norm: Norm,
}

impl Decoder {
    /// Keeps the upsampling layers' folded kernels: for inference models only
    /// ([`ConvBlock::keep_folded_upsample`]).
    pub fn keep_folded_upsample(&mut self) {
        for block in &mut self.up {
            block.keep_folded_upsample();
        }
    }

    /// Builds the decoder with its parameters under `prefix` (`dec` in both MUNIT and UNIT);
    /// `res_norm` is [`Norm::Adain`] (MUNIT) or [`Norm::In`] (UNIT).
    pub fn new(
        cfg: &GenConfig,
        output_dim: usize,
        res_norm: Norm,
        prefix: &str,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let content_dim = cfg.dim << cfg.n_downsample;
        let res = (0..cfg.n_res)
            .map(|r| {
                ResBlock::new(
                    content_dim,
                    res_norm,
                    cfg.activ,
                    cfg.pad_type,
                    source,
                    &format!("{prefix}.model.0.model.{r}"),
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        let mut dim = content_dim;
        let mut up = Vec::new();
        for i in 0..cfg.n_downsample {
            let spec = ConvBlockSpec {
                in_ch: dim,
                out_ch: dim / 2,
                kernel: 5,
                stride: 1,
                pad: 2,
                norm: Norm::Ln,
                activation: cfg.activ,
                pad_type: cfg.pad_type,
                weight_init: kaiming(dim, 5),
            };
            // Index 1 + 2i is the upsampling layer, 2 + 2i its conv.
            up.push(ConvBlock::new(
                spec,
                source,
                &format!("{prefix}.model.{}", 2 + 2 * i),
                device,
            )?);
            dim /= 2;
        }
        let out_spec = ConvBlockSpec {
            in_ch: dim,
            out_ch: output_dim,
            kernel: 7,
            stride: 1,
            pad: 3,
            norm: Norm::None,
            activation: Activation::Tanh,
            pad_type: cfg.pad_type,
            weight_init: kaiming(dim, 7),
        };
        let out = ConvBlock::new(
            out_spec,
            source,
            &format!("{prefix}.model.{}", 1 + 2 * cfg.n_downsample),
            device,
        )?;
        Ok(Self {
            res,
            up,
            out,
            content_dim,
            res_norm,
        })
    }

    /// Number of AdaIN parameters the decoder consumes per sample (0 without AdaIN).
    pub fn num_adain_params(&self) -> usize {
        if self.res_norm == Norm::Adain {
            self.res.len() * 2 * 2 * self.content_dim
        } else {
            0
        }
    }

    /// # Shapes
    /// `content`: `[b, c, h, w]`; `adain_params`: `[b, num_adain_params]`, laid out per AdaIN
    /// layer (res0.conv0, res0.conv1, res1.conv0, ...) as `[beta (c) | gamma (c)]`.
    /// Returns `[b, output_dim, h * 2^n, w * 2^n]` in (-1, 1).
    pub fn forward(&self, content: Tensor<4>, adain_params: Tensor<2>) -> Tensor<4> {
        self.forward_with(content, Some(&StyleField::Uniform(adain_params)))
    }

    /// [`Decoder::forward`] for either kind of residual norm and for AdaIN parameters mixed per
    /// pixel ([`StyleField::Masked`]: each residual block's scale and shift, at the content
    /// code's resolution). `adain` must be given exactly when the residual blocks use AdaIN.
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `adain`: `[b, num_adain_params]` per style ->
    /// `[b, output_dim, h * 2^n, w * 2^n]` in (-1, 1).
    pub fn forward_with(&self, content: Tensor<4>, adain: Option<&StyleField>) -> Tensor<4> {
        let c = self.content_dim;
        let [_, _, h, w] = content.dims();
        let layer = |k: usize| {
            let params = adain?;
            let beta = params.slice(2 * k * c..(2 * k + 1) * c).at(h, w);
            let gamma = params.slice((2 * k + 1) * c..(2 * k + 2) * c).at(h, w);
            Some((beta, gamma))
        };
        let guide = adain.and_then(StyleField::guide);
        let mut x = match adain {
            Some(field) => field.stack(content),
            None => content,
        };
        for (r, block) in self.res.iter().enumerate() {
            x = block.forward(x, [layer(2 * r), layer(2 * r + 1)], guide);
        }
        for block in &self.up {
            x = block.forward_upsampled(x, guide);
        }
        let y = self.out.forward(x, None);
        match adain {
            Some(field) => field.unstack(y),
            None => y,
        }
    }
}

impl NamedParams for Decoder {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (r, block) in self.res.iter().enumerate() {
            block.visit_params(&format!("{prefix}.model.0.model.{r}"), visit);
        }
        for (i, block) in self.up.iter().enumerate() {
            block.visit_params(&format!("{prefix}.model.{}", 2 + 2 * i), visit);
        }
        self.out
            .visit_params(&format!("{prefix}.model.{}", 1 + 2 * self.up.len()), visit);
    }
}

/// MLP from a style code to the decoder's AdaIN parameters: three linear blocks.
#[derive(Module, Debug)]
pub struct Mlp {
    pub blocks: Vec<LinearBlock>,
}

impl Mlp {
    pub fn new(
        cfg: &GenConfig,
        output_dim: usize,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let dims = [
            (cfg.style_dim(), cfg.mlp_dim(), cfg.activ),
            (cfg.mlp_dim(), cfg.mlp_dim(), cfg.activ),
            (cfg.mlp_dim(), output_dim, Activation::None),
        ];
        let blocks = dims
            .iter()
            .enumerate()
            .map(|(i, &(inp, out, act))| {
                LinearBlock::new(inp, out, act, source, &format!("mlp.model.{i}"), device)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks })
    }

    /// # Shapes
    /// `[b, style_dim]` -> `[b, num_adain_params]`.
    pub fn forward(&self, style: Tensor<2>) -> Tensor<2> {
        self.blocks.iter().fold(style, |x, block| block.forward(x))
    }
}

impl NamedParams for Mlp {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_params(&format!("{prefix}.model.{i}"), visit);
        }
    }
}

/// One domain's generator: content and style encoders, MLP and decoder.
#[derive(Module, Debug)]
pub struct Generator {
    pub enc_style: StyleEncoder,
    pub enc_content: ContentEncoder,
    pub dec: Decoder,
    pub mlp: Mlp,
    #[module(skip)]
    pub config: GenConfig,
}

impl Generator {
    /// Builds a generator for images with `input_dim` channels, taking every parameter from
    /// `source` under its official key.
    pub fn new(
        cfg: &GenConfig,
        input_dim: usize,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        // State-dict order of the official module: enc_style, enc_content, dec, mlp.
        let enc_style = StyleEncoder::new(cfg, input_dim, source, device)?;
        let enc_content = ContentEncoder::new(cfg, input_dim, "enc_content", source, device)?;
        let dec = Decoder::new(cfg, input_dim, Norm::Adain, "dec", source, device)?;
        let mlp = Mlp::new(cfg, dec.num_adain_params(), source, device)?;
        Ok(Self {
            enc_style,
            enc_content,
            dec,
            mlp,
            config: cfg.clone(),
        })
    }

    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` in [-1, 1] -> content code `[b, c, h', w']`.
    pub fn encode_content(&self, x: Tensor<4>) -> Tensor<4> {
        self.enc_content.forward(x)
    }

    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` in [-1, 1] -> style code `[b, style_dim, 1, 1]`.
    pub fn encode_style(&self, x: Tensor<4>) -> Tensor<4> {
        self.enc_style.forward(x)
    }

    /// Maps style codes to AdaIN parameters (the only per-style work besides the decoder).
    ///
    /// # Shapes
    /// `style`: `[b, style_dim]` -> `[b, num_adain_params]`.
    pub fn adain_params(&self, style: Tensor<2>) -> Tensor<2> {
        self.mlp.forward(style)
    }

    /// Decodes content codes with the given AdaIN parameters. Pure: nothing is stored.
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `adain_params`: `[b, num_adain_params]` ->
    /// image `[b, input_dim, h * 2^n, w * 2^n]` in (-1, 1).
    pub fn decode(&self, content: Tensor<4>, adain_params: &Tensor<2>) -> Tensor<4> {
        self.dec.forward(content, adain_params.clone())
    }

    /// `decode(content, adain_params(style))`.
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `style`: `[b, style_dim]`.
    pub fn decode_style(&self, content: Tensor<4>, style: Tensor<2>) -> Tensor<4> {
        let params = self.adain_params(style);
        self.decode(content, &params)
    }

    /// Decodes with style codes given per sample or mixed per pixel by a mask: each style goes
    /// through the MLP, and the AdaIN parameters are mixed ([`StyleField`]).
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `style`: `[b, style_dim]` per style (mask at
    /// `[h * 2^n, w * 2^n]`) -> `[b, input_dim, h * 2^n, w * 2^n]`.
    pub fn decode_field(&self, content: Tensor<4>, style: &StyleField) -> Tensor<4> {
        let params = style.map(|s| self.adain_params(s));
        self.dec.forward_with(content, Some(&params))
    }

    /// Number of values in the AdaIN parameter vector of one sample.
    pub fn num_adain_params(&self) -> usize {
        self.dec.num_adain_params()
    }
}

impl NamedParams for Generator {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        let join = |name: &str| join_key(prefix, name);
        self.enc_style.visit_params(&join("enc_style"), visit);
        self.enc_content.visit_params(&join("enc_content"), visit);
        self.dec.visit_params(&join("dec"), visit);
        self.mlp.visit_params(&join("mlp"), visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PadType;
    use crate::model::params::{NamedTensors, RandomInit, max_abs_diff, seeded_normal, to_vec};
    use burn::tensor::Distribution;

    fn tiny(activ: Activation, pad_type: PadType) -> GenConfig {
        GenConfig {
            dim: 4,
            mlp_dim: Some(8),
            style_dim: Some(3),
            activ,
            n_downsample: 2,
            n_res: 2,
            pad_type,
        }
    }

    #[test]
    fn every_activation_and_padding_runs_and_round_trips_through_its_state_dict() {
        let device = Device::flex();
        for activ in [
            Activation::Relu,
            Activation::Lrelu,
            Activation::Prelu,
            Activation::Selu,
            Activation::Tanh,
            Activation::None,
        ] {
            for pad_type in [PadType::Reflect, PadType::Zero, PadType::Replicate] {
                for input_dim in [1, 3] {
                    let cfg = tiny(activ, pad_type);
                    let generator =
                        Generator::new(&cfg, input_dim, &mut RandomInit::new(3), &device).unwrap();
                    let x = Tensor::<4>::random(
                        [2, input_dim, 32, 24],
                        Distribution::Uniform(-1., 1.),
                        &device,
                    );
                    let style = Tensor::<2>::random([2, 3], Distribution::Normal(0., 1.), &device);
                    let content = generator.encode_content(x.clone());
                    assert_eq!(content.dims(), [2, 16, 8, 6]);
                    assert_eq!(generator.encode_style(x).dims(), [2, 3, 1, 1]);
                    let y = generator.decode_style(content.clone(), style.clone());
                    assert_eq!(y.dims(), [2, input_dim, 32, 24]);
                    let values = to_vec(y.clone());
                    assert!(values.iter().all(|v| v.is_finite() && v.abs() <= 1.0));

                    // Save under official keys, rebuild from them: identical outputs.
                    let mut dict = std::collections::BTreeMap::new();
                    generator.visit_params("", &mut |k, s, v| {
                        assert!(
                            dict.insert(k.clone(), (s, v)).is_none(),
                            "duplicate key {k}"
                        );
                    });
                    if activ == Activation::Prelu {
                        assert!(dict.contains_key("mlp.model.0.activation.weight"));
                        assert!(dict.contains_key("enc_style.model.0.activation.weight"));
                    }
                    let mut source = NamedTensors::new(dict);
                    let rebuilt = Generator::new(&cfg, input_dim, &mut source, &device).unwrap();
                    source.finish().unwrap();
                    let again = to_vec(rebuilt.decode_style(content, style));
                    assert_eq!(again, values, "{activ:?} {pad_type:?}");
                }
            }
        }
    }

    #[test]
    fn cpu_inference_equals_the_training_path_on_a_generator_wide_enough_for_winograd() {
        // Width 32 with two downsamplings: 4x4 stride-2 convs 32 -> 64 to 64 x 68 (F(4x4, 2x2)
        // over the phases) and 64 -> 128 to 32 x 34 (F(2x2, 2x2)), 128-wide residual blocks at
        // 32 x 34 and the first upsampling's 128 -> 64 phase convs (F(4x4, 3x3)), the second's
        // 64 -> 32 (F(2x2, 3x3)). The training path (autodiff device) runs every conv as
        // im2col and every norm its own way.
        let cfg = GenConfig {
            dim: 32,
            mlp_dim: Some(16),
            style_dim: Some(8),
            activ: Activation::Relu,
            n_downsample: 2,
            n_res: 2,
            pad_type: PadType::Reflect,
        };
        let outputs = |device: &Device| {
            let generator = Generator::new(&cfg, 3, &mut RandomInit::new(5), device).unwrap();
            let x = seeded_normal([1, 3, 128, 136], 1, device);
            let style = seeded_normal([1, 8], 2, device);
            let content = generator.encode_content(x);
            let y = generator.decode_style(content.clone(), style);
            (to_vec(content), to_vec(y))
        };
        let (content, y) = outputs(&Device::flex());
        let (content_training, y_training) = outputs(&Device::flex().autodiff());
        for (name, got, want) in [
            ("content", content, content_training),
            ("decode", y, y_training),
        ] {
            let worst = max_abs_diff(&got, &want);
            assert!(worst < 1e-4, "{name}: worst difference {worst:e}");
        }
    }

    #[test]
    fn default_generator_has_the_official_parameter_count() {
        let device = Device::flex();
        let cfg = GenConfig::default();
        let generator = Generator::new(&cfg, 3, &mut RandomInit::new(0), &device).unwrap();
        let mut count = 0;
        let mut keys = 0;
        generator.visit_params("", &mut |_, shape, _| {
            count += shape.iter().product::<usize>();
            keys += 1;
        });
        assert_eq!(keys, 66);
        assert_eq!(count, 15_026_187);
    }
}
