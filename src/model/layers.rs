//! MUNIT's building blocks: conv block (pad -> conv -> norm -> activation), residual block,
//! linear block, and the norms (instance, adaptive instance, MUNIT's own layer norm).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions, PadMode};

use super::cpu_conv::{
    conv2d_cpu, conv2d_cpu_padded, conv2d_few_outputs_cpu, conv2d_few_outputs_cpu_padded,
    is_cpu_inference,
};
use super::cpu_conv_grad::conv2d_cpu_autodiff;
use super::cpu_norm::{Spread, normalize_cpu, normalize_cpu_autodiff};
use super::cpu_pad::reflect_pad_cpu_autodiff;
use super::mask::{StyleMask, normalize};
use super::params::{Init, NamedParams, ParamError, ParamSource, bias, param, param_values};
use super::upsample::{FoldedUpsample, upsample2x_conv5x5_folded};
use crate::config::{Activation, Norm, PadType};

const NORM_EPS: f64 = 1e-5;
const LRELU_SLOPE: f64 = 0.2;
const PRELU_INIT: f32 = 0.25;

/// The activation of a block, with PReLU's learned slope when it has one.
#[derive(Module, Debug)]
pub struct ActivationLayer {
    /// PReLU slope, shape `[1]` (key `activation.weight`).
    pub prelu: Option<Param<Tensor<1>>>,
    #[module(skip)]
    pub kind: Activation,
}

impl ActivationLayer {
    pub fn new(
        kind: Activation,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let prelu = match kind {
            Activation::Prelu => Some(param(
                source,
                &format!("{prefix}.activation.weight"),
                [1],
                Init::Constant(PRELU_INIT),
                device,
            )?),
            _ => None,
        };
        Ok(Self { prelu, kind })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.kind {
            Activation::Relu => activation::relu(x),
            Activation::Lrelu => activation::leaky_relu(x, LRELU_SLOPE),
            Activation::Prelu => {
                let alpha = self.prelu.as_ref().expect("prelu slope").val();
                // Broadcast the single slope over every element.
                let alpha = alpha.reshape([1; D]);
                let positive = x.clone().clamp_min(0.0);
                let negative = x.clamp_max(0.0);
                positive + negative * alpha
            }
            Activation::Selu => activation::selu(x),
            Activation::Tanh => activation::tanh(x),
            Activation::None => x,
        }
    }

    fn visit(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        if let Some(p) = &self.prelu {
            let (shape, values) = param_values(p);
            visit(format!("{prefix}.activation.weight"), shape, values);
        }
    }
}

/// Instance statistics normalisation over H*W per sample and channel (biased variance,
/// eps inside the square root), as PyTorch's InstanceNorm2d and MUNIT's AdaIN compute it.
///
/// # Shapes
/// `x`: `[batch, channels, height, width]` -> same.
pub fn instance_normalize(x: Tensor<4>) -> Tensor<4> {
    // On the CPU one pass per plane (model::cpu_norm); in training one op with one backward
    // pass.
    let [_, _, h, w] = x.dims();
    let spread = Spread::BiasedVariance { eps: NORM_EPS };
    let fused = normalize_cpu(&x, h * w, spread);
    if let Some(y) = fused.or_else(|| normalize_cpu_autodiff(&x, h * w, spread)) {
        return y;
    }
    instance_normalize_burn(x)
}

/// [`instance_normalize`] as burn ops, for every backend.
pub fn instance_normalize_burn(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let flat = x.reshape([b, c, h * w]);
    let mean = flat.clone().mean_dim(2);
    let centered = flat - mean;
    let var = centered.clone().powi_scalar(2).mean_dim(2);
    let normalized = centered / (var + NORM_EPS).sqrt();
    normalized.reshape([b, c, h, w])
}

/// [`instance_normalize`], or for a region decode (`guide`: the batch is the outside, inside
/// and mixed groups) with the mixed group following its two sources' statistics
/// ([`normalize`]).
///
/// # Shapes
/// `x`: `[batch, channels, height, width]` -> same.
pub fn instance_normalize_guided(x: Tensor<4>, guide: Option<&StyleMask>) -> Tensor<4> {
    if guide.is_none() {
        return instance_normalize(x);
    }
    let [b, c, h, w] = x.dims();
    let flat = x.clone().reshape([b, c, h * w]);
    let mean = flat.clone().mean_dim(2);
    let var = (flat - mean.clone()).powi_scalar(2).mean_dim(2);
    let scale = (var + NORM_EPS).sqrt();
    normalize(
        x,
        mean.reshape([b, c, 1, 1]),
        scale.reshape([b, c, 1, 1]),
        guide,
    )
}

/// Adaptive instance norm: `gamma * instance_normalize(x) + beta` (the normalisation following
/// a region decode's `guide`).
///
/// # Shapes
/// `x`: `[batch, channels, h, w]`; `beta`, `gamma`: `[batch, channels, 1, 1]` (one per sample)
/// or `[batch, channels, h, w]` (per pixel: the region brush).
pub fn adaptive_instance_norm(
    x: Tensor<4>,
    beta: Tensor<4>,
    gamma: Tensor<4>,
    guide: Option<&StyleMask>,
) -> Tensor<4> {
    instance_normalize_guided(x, guide) * gamma + beta
}

/// The `(beta, gamma)` of one AdaIN layer, each `[b, c, 1, 1]` or `[b, c, h, w]`.
pub type AdainPair = (Tensor<4>, Tensor<4>);

/// MUNIT's LayerNorm: per sample over all C*H*W values, unbiased std with eps added to the std
/// (not inside a square root), then a per-channel affine.
#[derive(Module, Debug)]
pub struct MunitLayerNorm {
    /// `[channels]`, initialised U[0, 1).
    pub gamma: Param<Tensor<1>>,
    /// `[channels]`, initialised 0.
    pub beta: Param<Tensor<1>>,
}

impl MunitLayerNorm {
    pub fn new(
        channels: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            gamma: param(
                source,
                &format!("{prefix}.gamma"),
                [channels],
                Init::Uniform01,
                device,
            )?,
            beta: param(
                source,
                &format!("{prefix}.beta"),
                [channels],
                Init::Constant(0.0),
                device,
            )?,
        })
    }

    /// # Shapes
    /// `x`: `[batch, channels, h, w]` -> same.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_guided(x, None)
    }

    /// [`MunitLayerNorm::forward`], following a region decode's `guide` ([`normalize`]).
    ///
    /// # Shapes
    /// `x`: `[batch, channels, h, w]` -> same.
    pub fn forward_guided(&self, x: Tensor<4>, guide: Option<&StyleMask>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = c * h * w;
        if guide.is_some() {
            let flat = x.clone().reshape([b, n]);
            let mean = flat.clone().mean_dim(1);
            let var_unbiased =
                (flat - mean.clone()).powi_scalar(2).sum_dim(1) / (n.max(2) - 1) as f64;
            let scale = var_unbiased.sqrt() + NORM_EPS;
            let normalized = normalize(
                x,
                mean.reshape([b, 1, 1, 1]),
                scale.reshape([b, 1, 1, 1]),
                guide,
            );
            return normalized * self.gamma.val().reshape([1, c, 1, 1])
                + self.beta.val().reshape([1, c, 1, 1]);
        }
        // On the CPU one pass per sample (model::cpu_norm); in training one op with one
        // backward pass.
        let spread = Spread::UnbiasedStdPlus { eps: NORM_EPS };
        let fused = normalize_cpu(&x, n, spread);
        let normalized = match fused.or_else(|| normalize_cpu_autodiff(&x, n, spread)) {
            Some(normalized) => normalized,
            None => return self.forward_burn(x),
        };
        normalized * self.gamma.val().reshape([1, c, 1, 1]) + self.beta.val().reshape([1, c, 1, 1])
    }

    /// [`MunitLayerNorm::forward`] as burn ops, for every backend.
    ///
    /// # Shapes
    /// `x`: `[batch, channels, h, w]` -> same.
    pub fn forward_burn(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = c * h * w;
        let flat = x.reshape([b, n]);
        let mean = flat.clone().mean_dim(1);
        let centered = flat - mean;
        let var_unbiased = centered.clone().powi_scalar(2).sum_dim(1) / (n.max(2) - 1) as f64;
        let normalized = centered / (var_unbiased.sqrt() + NORM_EPS);
        let normalized = normalized.reshape([b, c, h, w]);
        normalized * self.gamma.val().reshape([1, c, 1, 1]) + self.beta.val().reshape([1, c, 1, 1])
    }
}

/// Pads the spatial dims of `[b, c, h, w]` by `pad` on every side.
pub fn pad2d(x: Tensor<4>, pad: usize, pad_type: PadType) -> Tensor<4> {
    if pad == 0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    if pad_type == PadType::Reflect && pad < h && pad < w {
        return reflect_pad(x, pad);
    }
    let mode = match pad_type {
        PadType::Reflect => PadMode::Reflect,
        PadType::Replicate => PadMode::Edge,
        PadType::Zero => PadMode::Constant(0.0),
    };
    x.pad((pad, pad, pad, pad), mode)
}

/// Reflection padding (`nn.ReflectionPad2d`) as mirrored slices joined by two concatenations:
/// the same values as `Tensor::pad(.., PadMode::Reflect)`, several times faster on burn-flex
/// (two copies of the tensor instead of a per-element index computation).
///
/// # Shapes
/// `[b, c, h, w]` (`pad < h`, `pad < w`) -> `[b, c, h + 2 pad, w + 2 pad]`.
pub fn reflect_pad(x: Tensor<4>, pad: usize) -> Tensor<4> {
    // Training on the CPU: one copy forward, one fold backward (model::cpu_pad).
    if let Some(padded) = reflect_pad_cpu_autodiff(&x, pad) {
        return padded;
    }
    reflect_pad_burn(x, pad)
}

/// [`reflect_pad`] as burn ops, for every backend.
pub fn reflect_pad_burn(x: Tensor<4>, pad: usize) -> Tensor<4> {
    fn along(x: Tensor<4>, pad: usize, dim: usize) -> Tensor<4> {
        let n = x.dims()[dim];
        let line = |i: usize| x.clone().narrow(dim, i, 1);
        let mut parts: Vec<Tensor<4>> = (1..=pad).rev().map(line).collect();
        parts.push(x.clone());
        parts.extend((1..=pad).map(|i| line(n - 1 - i)));
        Tensor::cat(parts, dim)
    }
    along(along(x, pad, 2), pad, 3)
}

/// Nearest-neighbour x2 upsampling (PyTorch `nn.Upsample(scale_factor=2)`).
///
/// # Shapes
/// `[b, c, h, w]` -> `[b, c, 2h, 2w]`.
pub fn upsample_nearest2x(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]),
    )
}

/// Whether a conv with `weight` on `x` is inference on the CPU (no gradients, burn-flex without
/// autodiff), which this crate's own conv paths compute (model::cpu_conv).
pub(crate) fn runs_cpu_inference(weight: &Tensor<4>, x: &Tensor<4>) -> bool {
    !weight.is_require_grad() && is_cpu_inference(&x.device())
}

/// A plain convolution with bias and no padding (`nn.Conv2d(.., padding=0)`).
#[derive(Module, Debug)]
pub struct Conv {
    /// `[out, in, k, k]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    pub stride: usize,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        stride: usize,
        weight_init: Init,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            weight: param(
                source,
                &format!("{prefix}.weight"),
                [out_ch, in_ch, kernel, kernel],
                weight_init,
                device,
            )?,
            bias: bias(source, prefix, out_ch, device)?,
            stride,
        })
    }

    /// # Shapes
    /// `[b, in, h, w]` -> `[b, out, (h - k) / s + 1, (w - k) / s + 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let weight = self.weight.val();
        // Inference on the CPU: this crate's own conv paths (model::cpu_conv), measured faster
        // than burn-flex's for these models' layers.
        if runs_cpu_inference(&weight, &x) {
            if self.has_few_outputs(weight.dims()) {
                return conv2d_few_outputs_cpu(x, weight, self.bias.val());
            }
            return conv2d_cpu(x, weight, self.bias.val(), self.stride);
        }
        // Training on the CPU: GEMM gradients instead of burn-flex's (model::cpu_conv_grad).
        let bias = self.bias.val();
        if let Some(y) = conv2d_cpu_autodiff(&x, &weight, &bias, self.stride) {
            return y;
        }
        conv2d(
            x,
            weight,
            Some(bias),
            ConvOptions::new([self.stride; 2], [0, 0], [1, 1], 1),
        )
    }

    /// `forward(pad2d(x, pad, pad_type))`; in inference on the CPU the padding is read on the
    /// fly by the conv instead of copied first ([`conv2d_cpu_padded`],
    /// [`conv2d_few_outputs_cpu_padded`]).
    ///
    /// # Shapes
    /// `[b, in, h, w]` -> `[b, out, (h + 2 pad - k) / s + 1, (w + 2 pad - k) / s + 1]`.
    pub fn forward_padded(&self, x: Tensor<4>, pad: usize, pad_type: PadType) -> Tensor<4> {
        let weight = self.weight.val();
        if runs_cpu_inference(&weight, &x) {
            let bias = self.bias.val();
            let y = if self.has_few_outputs(weight.dims()) {
                conv2d_few_outputs_cpu_padded(x.clone(), weight, bias, pad, pad_type)
            } else {
                conv2d_cpu_padded(x.clone(), weight, bias, self.stride, pad, pad_type)
            };
            if let Some(y) = y {
                return y;
            }
        }
        self.forward(pad2d(x, pad, pad_type))
    }

    /// Few outputs from many inputs (the decoders' last conv, 64 -> 3 at 7x7), which
    /// [`conv2d_few_outputs_cpu`] computes without an im2col; `weight_dims`: `[out, in, k, k]`.
    fn has_few_outputs(&self, [out_ch, in_ch, k, _]: [usize; 4]) -> bool {
        self.stride == 1 && k > 1 && out_ch <= 8 && 2 * out_ch <= in_ch
    }

    fn visit(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        let (s, v) = param_values(&self.weight);
        visit(format!("{prefix}.weight"), s, v);
        let (s, v) = param_values(&self.bias);
        visit(format!("{prefix}.bias"), s, v);
    }
}

/// Geometry and options of a [`ConvBlock`].
#[derive(Debug, Clone, Copy)]
pub struct ConvBlockSpec {
    pub in_ch: usize,
    pub out_ch: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub norm: Norm,
    pub activation: Activation,
    pub pad_type: PadType,
    /// Initialiser of the conv weight (Kaiming for generators, N(0, 0.02) for discriminators).
    pub weight_init: Init,
}

/// MUNIT's Conv2dBlock: pad -> conv (bias) -> norm -> activation.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv,
    pub layer_norm: Option<MunitLayerNorm>,
    pub activation: ActivationLayer,
    #[module(skip)]
    pub norm: Norm,
    #[module(skip)]
    pub pad: usize,
    #[module(skip)]
    pub pad_type: PadType,
    /// The phase kernels of [`ConvBlock::forward_upsampled`], kept by an inference model
    /// ([`ConvBlock::keep_folded_upsample`]); `None` builds them on each call.
    #[module(skip)]
    pub folded_upsample: Option<FoldedUpsample>,
}

impl ConvBlock {
    pub fn new(
        spec: ConvBlockSpec,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        // Adaptive norms and batch/spectral norms are checked by the caller's config validation;
        // their parameters either come from outside (AdaIN) or are not supported.
        let conv = Conv::new(
            spec.in_ch,
            spec.out_ch,
            spec.kernel,
            spec.stride,
            spec.weight_init,
            source,
            &format!("{prefix}.conv"),
            device,
        )?;
        let layer_norm = match spec.norm {
            Norm::Ln => Some(MunitLayerNorm::new(
                spec.out_ch,
                source,
                &format!("{prefix}.norm"),
                device,
            )?),
            _ => None,
        };
        let activation = ActivationLayer::new(spec.activation, source, prefix, device)?;
        Ok(Self {
            conv,
            layer_norm,
            activation,
            norm: spec.norm,
            pad: spec.pad,
            pad_type: spec.pad_type,
            folded_upsample: None,
        })
    }

    /// Whether [`ConvBlock::forward_upsampled`] folds the upsampling into this block's conv.
    fn folds_upsampling(&self) -> bool {
        let [_, _, kh, kw] = self.conv.weight.dims();
        (kh, kw, self.pad, self.conv.stride) == (5, 5, 2, 1)
    }

    /// Builds the phase kernels of [`ConvBlock::forward_upsampled`] once, for a model whose
    /// weights no longer change (inference): each decode then saves the fold. A block whose
    /// weights take gradients (training) is left alone, since its weights change every step.
    pub fn keep_folded_upsample(&mut self) {
        let weight = self.conv.weight.val();
        if self.folds_upsampling() && !weight.is_require_grad() {
            self.folded_upsample = Some(FoldedUpsample::new(weight, self.conv.bias.val()));
        }
    }

    /// # Shapes
    /// `x`: `[b, in, h, w]` -> `[b, out, h', w']`; `adain`: `(beta, gamma)`, each
    /// `[b, out, 1, 1]` or `[b, out, h', w']`, required when the norm is AdaIN.
    pub fn forward(&self, x: Tensor<4>, adain: Option<AdainPair>) -> Tensor<4> {
        self.forward_guided(x, adain, None)
    }

    /// [`ConvBlock::forward`] whose norm follows a region decode's `guide` ([`normalize`]).
    pub fn forward_guided(
        &self,
        x: Tensor<4>,
        adain: Option<AdainPair>,
        guide: Option<&StyleMask>,
    ) -> Tensor<4> {
        let x = self.conv.forward_padded(x, self.pad, self.pad_type);
        self.norm_and_activate(x, adain, guide)
    }

    /// `forward(upsample_nearest2x(x))`, with the upsampling folded into a 5x5 convolution; the
    /// norm follows `guide` ([`normalize`]).
    ///
    /// # Shapes
    /// `x`: `[b, in, h, w]` -> `[b, out, 2h, 2w]`.
    pub fn forward_upsampled(&self, x: Tensor<4>, guide: Option<&StyleMask>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        if self.folds_upsampling() && h >= 2 && w >= 2 {
            let weight = self.conv.weight.val();
            let folded = match &self.folded_upsample {
                // Kept kernels on another device (a module moved after keeping them) are rebuilt.
                Some(kept) if kept.weight.device() == x.device() => kept.clone(),
                _ => FoldedUpsample::new(weight.clone(), self.conv.bias.val()),
            };
            let y = upsample2x_conv5x5_folded(x, &folded, weight, self.pad_type);
            self.norm_and_activate(y, None, guide)
        } else {
            self.forward_guided(upsample_nearest2x(x), None, guide)
        }
    }

    fn norm_and_activate(
        &self,
        x: Tensor<4>,
        adain: Option<AdainPair>,
        guide: Option<&StyleMask>,
    ) -> Tensor<4> {
        let x = match self.norm {
            Norm::In => instance_normalize_guided(x, guide),
            Norm::Ln => self
                .layer_norm
                .as_ref()
                .expect("ln params")
                .forward_guided(x, guide),
            Norm::Adain => {
                let (beta, gamma) = adain.expect("AdaIN parameters must be passed to decode");
                adaptive_instance_norm(x, beta, gamma, guide)
            }
            Norm::None | Norm::Bn | Norm::Sn => x,
        };
        self.activation.forward(x)
    }
}

impl NamedParams for ConvBlock {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        if let Some(ln) = &self.layer_norm {
            let (s, v) = param_values(&ln.gamma);
            visit(format!("{prefix}.norm.gamma"), s, v);
            let (s, v) = param_values(&ln.beta);
            visit(format!("{prefix}.norm.beta"), s, v);
        }
        self.activation.visit(prefix, visit);
        self.conv.visit(&format!("{prefix}.conv"), visit);
    }
}

/// Residual block: `x + B2(B1(x))`, with B1 = 3x3 conv/norm/activation and B2 = 3x3 conv/norm.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub first: ConvBlock,
    pub second: ConvBlock,
}

impl ResBlock {
    pub fn new(
        dim: usize,
        norm: Norm,
        activation: Activation,
        pad_type: PadType,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let spec = |activation| ConvBlockSpec {
            in_ch: dim,
            out_ch: dim,
            kernel: 3,
            stride: 1,
            pad: 1,
            norm,
            activation,
            pad_type,
            weight_init: Init::KaimingNormal { fan_in: dim * 9 },
        };
        Ok(Self {
            first: ConvBlock::new(
                spec(activation),
                source,
                &format!("{prefix}.model.0"),
                device,
            )?,
            second: ConvBlock::new(
                spec(Activation::None),
                source,
                &format!("{prefix}.model.1"),
                device,
            )?,
        })
    }

    /// # Shapes
    /// `x`: `[b, dim, h, w]` -> same. `adain`: the (beta, gamma) pairs of the two convs;
    /// `guide`: a region decode's mask ([`normalize`]).
    pub fn forward(
        &self,
        x: Tensor<4>,
        adain: [Option<AdainPair>; 2],
        guide: Option<&StyleMask>,
    ) -> Tensor<4> {
        let [first, second] = adain;
        let y = self.first.forward_guided(x.clone(), first, guide);
        x + self.second.forward_guided(y, second, guide)
    }
}

impl NamedParams for ResBlock {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        self.first.visit_params(&format!("{prefix}.model.0"), visit);
        self.second
            .visit_params(&format!("{prefix}.model.1"), visit);
    }
}

/// Linear layer (weight stored `[out, in]` as PyTorch does) followed by an activation.
#[derive(Module, Debug)]
pub struct LinearBlock {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    pub activation: ActivationLayer,
}

impl LinearBlock {
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        activation: Activation,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            weight: param(
                source,
                &format!("{prefix}.fc.weight"),
                [out_dim, in_dim],
                Init::KaimingNormal { fan_in: in_dim },
                device,
            )?,
            bias: bias(source, &format!("{prefix}.fc"), out_dim, device)?,
            activation: ActivationLayer::new(activation, source, prefix, device)?,
        })
    }

    /// # Shapes
    /// `[batch, in]` -> `[batch, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [out_dim, _] = self.weight.dims();
        let y = x.matmul(self.weight.val().transpose()) + self.bias.val().reshape([1, out_dim]);
        self.activation.forward(y)
    }
}

impl NamedParams for LinearBlock {
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        let (s, v) = param_values(&self.weight);
        visit(format!("{prefix}.fc.weight"), s, v);
        let (s, v) = param_values(&self.bias);
        visit(format!("{prefix}.fc.bias"), s, v);
        self.activation.visit(prefix, visit);
    }
}

/// Visits a plain [`Conv`] (used by the style encoder's and discriminators' 1x1 output convs).
pub fn visit_conv(conv: &Conv, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
    conv.visit(prefix, visit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::to_vec;
    use burn::tensor::Distribution;

    #[test]
    fn reflect_pad_equals_burns_reflect_padding() {
        let device = Device::flex();
        for (pad, h, w) in [(1, 5, 7), (3, 4, 9), (2, 3, 3)] {
            let x = Tensor::<4>::random([2, 3, h, w], Distribution::Normal(0., 1.), &device);
            let want = to_vec(x.clone().pad((pad, pad, pad, pad), PadMode::Reflect));
            assert_eq!(to_vec(reflect_pad(x, pad)), want, "pad {pad} on {h}x{w}");
        }
    }

    #[test]
    fn kept_upsampling_kernels_give_the_same_output_and_training_blocks_never_keep_them() {
        use crate::model::params::{Init, RandomInit};
        let spec = ConvBlockSpec {
            in_ch: 6,
            out_ch: 4,
            kernel: 5,
            stride: 1,
            pad: 2,
            norm: Norm::Ln,
            activation: Activation::Relu,
            pad_type: PadType::Reflect,
            weight_init: Init::Normal { std: 0.2 },
        };
        let device = Device::flex();
        let mut block = ConvBlock::new(spec, &mut RandomInit::new(7), "b", &device).unwrap();
        let x = Tensor::<4>::random([1, 6, 5, 7], Distribution::Normal(0., 1.), &device);
        let built = to_vec(block.forward_upsampled(x.clone(), None));
        block.keep_folded_upsample();
        assert!(block.folded_upsample.is_some());
        assert_eq!(to_vec(block.forward_upsampled(x, None)), built);

        let autodiff = device.clone().autodiff();
        let mut training = ConvBlock::new(spec, &mut RandomInit::new(7), "b", &autodiff).unwrap();
        training.keep_folded_upsample();
        assert!(training.folded_upsample.is_none());
    }
}
