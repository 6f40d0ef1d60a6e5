//! DRIT++ (Lee et al., "Diverse Image-to-Image Translation via Disentangled Representations",
//! ECCV 2018 / IJCV 2020; arXiv 1808.00948, 1905.01270) as in the official code
//! (HsinYingLee/DRIT master), with its parameter keys, so the `.pth` files its trainer saves load
//! unchanged.
//!
//! - Content: per-domain branches (7x7 conv + LeakyReLU(0.01) with *no* norm: the official
//!   `LeakyReLUConv2d` compares a string literal and never adds its instance norm; two stride-2
//!   3x3 conv/IN/ReLU stages; three residual blocks) and one residual block shared by both
//!   domains. The shared block's Gaussian noise layer is the identity at inference.
//! - Attribute (8 numbers): `--concat 1` `E_attr_concat` (BasicBlocks, mean and log-variance
//!   heads) or `--concat 0` `E_attr` (MUNIT-like style encoder, one deterministic output).
//! - Generator: `--concat 1` `G_concat` (attribute tiled and concatenated at four places) or
//!   `--concat 0` `G` (MLP into four `MisINSResBlock`s). Upsampling is a transposed conv followed
//!   by DRIT's LayerNorm (`F.layer_norm` over C, H, W, biased variance, eps inside the square
//!   root, per-channel affine; not MUNIT's formula).
//!
//! Widths are never assumed: [`DritArch::infer`] reads them from the checkpoint's shapes.
//! Everything here is a pure function of its inputs.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::module::{avg_pool2d, conv_transpose2d};
use burn::tensor::ops::{AvgPoolOptions, ConvTransposeOptions};

use super::layers::{Conv, instance_normalize, instance_normalize_guided, visit_conv};
use super::mask::{StyleField, StyleMask, normalize};
use super::params::{Init, NamedParams, ParamError, ParamSource, bias, param, param_values};
use crate::Domain;
use crate::config::PadType;

/// Slope of PyTorch's default `nn.LeakyReLU()` (the content encoder's first layer).
const CONTENT_LRELU: f64 = 0.01;
/// Slope of the attribute encoder's `get_non_linearity('lrelu')`.
const ATTR_LRELU: f64 = 0.2;
const LN_EPS: f64 = 1e-5;
/// The official initialisation of convolution weights (`gaussian_weights_init`).
const CONV_INIT: Init = Init::Normal { std: 0.02 };

/// The widths of a DRIT model, as found in its weights (official values in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DritArch {
    /// `--concat 1` (`E_attr_concat` + `G_concat`) or `--concat 0` (`E_attr` + `G`).
    pub concat: bool,
    pub input_dim_a: usize,
    pub input_dim_b: usize,
    /// Attribute length [8].
    pub nz: usize,
    /// First width of the content encoder [64]; the content code has 4x this many channels.
    pub content_base: usize,
    /// First width of the attribute encoder [64].
    pub attr_base: usize,
    /// Channels the generator takes [256].
    pub gen_dim: usize,
    /// Hidden width of `G`'s MLP [256] (concat 0 only; 0 for concat 1).
    pub mlp_hidden: usize,
}

impl DritArch {
    /// The official architecture.
    pub fn official(concat: bool) -> Self {
        Self {
            concat,
            input_dim_a: 3,
            input_dim_b: 3,
            nz: 8,
            content_base: 64,
            attr_base: 64,
            gen_dim: 256,
            mlp_hidden: if concat { 0 } else { 256 },
        }
    }

    /// Reads the variant and widths from a flat state dict (`enc_c.*`, `enc_a.*`, `gen.*`).
    /// `shape(key)` returns a tensor's shape. Every other shape is then checked while building.
    pub fn infer(shape: &dyn Fn(&str) -> Option<Vec<usize>>) -> Result<Self, ParamError> {
        let get = |key: &str, rank: usize| -> Result<Vec<usize>, ParamError> {
            let s = shape(key)
                .ok_or_else(|| ParamError::Unsupported(format!("missing key `{key}`")))?;
            if s.len() != rank {
                return Err(ParamError::Unsupported(format!(
                    "`{key}` has shape {s:?}; a DRIT checkpoint has a {rank}-d tensor there"
                )));
            }
            Ok(s)
        };
        let attr_concat = shape("enc_a.fc_A.0.weight").is_some();
        let attr_plain = shape("enc_a.model_a.1.weight").is_some();
        let gen_concat = shape("gen.dec_share.0.model.1.weight").is_some();
        let gen_plain = shape("gen.mlpA.0.weight").is_some();
        let concat = match (attr_concat, attr_plain, gen_concat, gen_plain) {
            (true, false, true, false) => true,
            (false, true, false, true) => false,
            (false, false, _, _) => {
                return Err(ParamError::Unsupported(
                    "enc_a holds neither DRIT attribute encoder (no `fc_A.0.weight` of \
                     E_attr_concat, no `model_a.1.weight` of E_attr)"
                        .into(),
                ));
            }
            (_, _, false, false) => {
                return Err(ParamError::Unsupported(
                    "gen holds neither DRIT generator (no `dec_share` of G_concat, no `mlpA` of G)"
                        .into(),
                ));
            }
            _ => {
                return Err(ParamError::Unsupported(
                    "enc_a and gen are of different variants (--concat 1 and --concat 0 mixed)"
                        .into(),
                ));
            }
        };
        let conv_a = get("enc_c.convA.0.model.1.weight", 4)?;
        let conv_b = get("enc_c.convB.0.model.1.weight", 4)?;
        let (attr_base, nz, mlp_hidden, gen_dim) = if concat {
            let first = get("enc_a.conv_A.1.weight", 4)?;
            let fc = get("enc_a.fc_A.0.weight", 2)?;
            let share = get("gen.dec_share.0.model.1.weight", 4)?;
            (first[0], fc[0], 0, share[0])
        } else {
            let first = get("enc_a.model_a.1.weight", 4)?;
            let out = get("enc_a.model_a.16.weight", 4)?;
            let mlp = get("gen.mlpA.0.weight", 2)?;
            let block = get("gen.decA1.conv1.0.1.weight", 4)?;
            (first[0], out[0], mlp[0], block[0])
        };
        let arch = Self {
            concat,
            input_dim_a: conv_a[1],
            input_dim_b: conv_b[1],
            nz,
            content_base: conv_a[0],
            attr_base,
            gen_dim,
            mlp_hidden,
        };
        if arch.content_base * 4 != arch.gen_dim {
            return Err(ParamError::Unsupported(format!(
                "the content encoder makes {}-channel codes but the generator takes {} channels",
                arch.content_base * 4,
                arch.gen_dim
            )));
        }
        let bad_width = [arch.content_base, arch.attr_base, arch.nz, arch.gen_dim]
            .iter()
            .any(|&w| w == 0 || w > 1 << 14);
        let odd = !arch.gen_dim.is_multiple_of(4)
            || (concat && !(arch.gen_dim + 2 * arch.nz).is_multiple_of(4));
        if bad_width || odd {
            return Err(ParamError::Unsupported(format!(
                "implausible DRIT widths {arch:?}"
            )));
        }
        for d in [arch.input_dim_a, arch.input_dim_b] {
            if d != 1 && d != 3 {
                return Err(ParamError::Unsupported(format!(
                    "a DRIT domain has {d} input channels; 1 or 3 are supported"
                )));
            }
        }
        Ok(arch)
    }

    pub fn input_dim(&self, domain: Domain) -> usize {
        match domain {
            Domain::A => self.input_dim_a,
            Domain::B => self.input_dim_b,
        }
    }
}

fn visit<const D: usize>(
    p: &Param<Tensor<D>>,
    key: String,
    visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>),
) {
    let (shape, values) = param_values(p);
    visit(key, shape, values);
}

/// A conv with keys `{prefix}.weight` / `.bias`, official initialisation.
fn conv(
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
    stride: usize,
    source: &mut dyn ParamSource,
    prefix: &str,
    device: &Device,
) -> Result<Conv, ParamError> {
    Conv::new(
        in_ch, out_ch, kernel, stride, CONV_INIT, source, prefix, device,
    )
}

/// Reflection padding then a conv (every padded conv of DRIT pads by reflection); in CPU
/// inference the conv reads the padding on the fly ([`Conv::forward_padded`]).
fn reflect_conv(c: &Conv, x: Tensor<4>, pad: usize) -> Tensor<4> {
    c.forward_padded(x, pad, PadType::Reflect)
}

/// `nn.Linear`, weight `[out, in]`.
#[derive(Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl Linear {
    fn new(
        in_dim: usize,
        out_dim: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            weight: param(
                source,
                &format!("{prefix}.weight"),
                [out_dim, in_dim],
                Init::KaimingNormal { fan_in: in_dim },
                device,
            )?,
            bias: bias(source, prefix, out_dim, device)?,
        })
    }

    /// # Shapes
    /// `[b, in]` -> `[b, out]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [out_dim, _] = self.weight.dims();
        x.matmul(self.weight.val().transpose()) + self.bias.val().reshape([1, out_dim])
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit(&self.weight, format!("{prefix}.weight"), v);
        visit(&self.bias, format!("{prefix}.bias"), v);
    }
}

/// `INSResBlock`: `x + IN(conv(pad(ReLU(IN(conv(pad(x)))))))`, keys `model.1` and `model.5`.
#[derive(Debug)]
pub struct InsResBlock {
    pub conv1: Conv,
    pub conv2: Conv,
}

impl InsResBlock {
    fn new(
        dim: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            conv1: conv(dim, dim, 3, 1, source, &format!("{prefix}.model.1"), device)?,
            conv2: conv(dim, dim, 3, 1, source, &format!("{prefix}.model.5"), device)?,
        })
    }

    /// # Shapes
    /// `[b, dim, h, w]` -> same. `guide`: a region decode's mask ([`normalize`]).
    fn forward(&self, x: Tensor<4>, guide: Option<&StyleMask>) -> Tensor<4> {
        let y = relu(instance_normalize_guided(
            reflect_conv(&self.conv1, x.clone(), 1),
            guide,
        ));
        x + instance_normalize_guided(reflect_conv(&self.conv2, y, 1), guide)
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit_conv(&self.conv1, &format!("{prefix}.model.1"), v);
        visit_conv(&self.conv2, &format!("{prefix}.model.5"), v);
    }
}

/// One domain's content branch (`convA` / `convB`).
#[derive(Debug)]
pub struct ContentBranch {
    pub first: Conv,
    pub down: Vec<Conv>,
    pub res: Vec<InsResBlock>,
}

impl ContentBranch {
    fn new(
        input_dim: usize,
        base: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let first = conv(
            input_dim,
            base,
            7,
            1,
            source,
            &format!("{prefix}.0.model.1"),
            device,
        )?;
        let mut down = Vec::new();
        let mut dim = base;
        for i in 1..3 {
            down.push(conv(
                dim,
                dim * 2,
                3,
                2,
                source,
                &format!("{prefix}.{i}.model.1"),
                device,
            )?);
            dim *= 2;
        }
        let res = (3..6)
            .map(|i| InsResBlock::new(dim, source, &format!("{prefix}.{i}"), device))
            .collect::<Result<_, _>>()?;
        Ok(Self { first, down, res })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky_relu(reflect_conv(&self.first, x, 3), CONTENT_LRELU);
        let x = self
            .down
            .iter()
            .fold(x, |x, c| relu(instance_normalize(reflect_conv(c, x, 1))));
        self.res.iter().fold(x, |x, block| block.forward(x, None))
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit_conv(&self.first, &format!("{prefix}.0.model.1"), v);
        for (i, c) in self.down.iter().enumerate() {
            visit_conv(c, &format!("{prefix}.{}.model.1", i + 1), v);
        }
        for (i, block) in self.res.iter().enumerate() {
            block.visit(&format!("{prefix}.{}", i + 3), v);
        }
    }
}

/// `E_content`: both domains' branches and the shared last residual block.
#[derive(Debug)]
pub struct ContentEncoder {
    pub a: ContentBranch,
    pub b: ContentBranch,
    pub share: InsResBlock,
}

impl ContentEncoder {
    fn new(
        arch: &DritArch,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let base = arch.content_base;
        Ok(Self {
            // State-dict order: conv_share, convA, convB.
            share: InsResBlock::new(base * 4, source, "enc_c.conv_share.0", device)?,
            a: ContentBranch::new(arch.input_dim_a, base, source, "enc_c.convA", device)?,
            b: ContentBranch::new(arch.input_dim_b, base, source, "enc_c.convB", device)?,
        })
    }

    fn visit(&self, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        self.share.visit("enc_c.conv_share.0", v);
        self.a.visit("enc_c.convA", v);
        self.b.visit("enc_c.convB", v);
    }
}

/// `BasicBlock` of `E_attr_concat`: `convMeanpool(lrelu(conv(pad(lrelu(x))))) +
/// conv1x1(meanpool(x))`.
#[derive(Debug)]
pub struct BasicBlock {
    pub conv1: Conv,
    pub conv2: Conv,
    pub shortcut: Conv,
}

fn mean_pool2(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

impl BasicBlock {
    fn new(
        in_ch: usize,
        out_ch: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            conv1: conv(
                in_ch,
                in_ch,
                3,
                1,
                source,
                &format!("{prefix}.conv.2"),
                device,
            )?,
            conv2: conv(
                in_ch,
                out_ch,
                3,
                1,
                source,
                &format!("{prefix}.conv.4.1"),
                device,
            )?,
            shortcut: conv(
                in_ch,
                out_ch,
                1,
                1,
                source,
                &format!("{prefix}.shortcut.1"),
                device,
            )?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = reflect_conv(&self.conv1, leaky_relu(x.clone(), ATTR_LRELU), 1);
        let y = mean_pool2(reflect_conv(&self.conv2, leaky_relu(y, ATTR_LRELU), 1));
        y + self.shortcut.forward(mean_pool2(x))
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit_conv(&self.conv1, &format!("{prefix}.conv.2"), v);
        visit_conv(&self.conv2, &format!("{prefix}.conv.4.1"), v);
        visit_conv(&self.shortcut, &format!("{prefix}.shortcut.1"), v);
    }
}

/// One domain of `E_attr_concat`: mean and log-variance of the attribute.
#[derive(Debug)]
pub struct AttrConcatBranch {
    pub first: Conv,
    pub blocks: Vec<BasicBlock>,
    pub fc: Linear,
    pub fc_var: Linear,
}

impl AttrConcatBranch {
    fn new(
        input_dim: usize,
        arch: &DritArch,
        side: char,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let ndf = arch.attr_base;
        // State-dict order: fc, fcVar, conv.
        let out_ndf = ndf * 4;
        let fc = Linear::new(
            out_ndf,
            arch.nz,
            source,
            &format!("enc_a.fc_{side}.0"),
            device,
        )?;
        let fc_var = Linear::new(
            out_ndf,
            arch.nz,
            source,
            &format!("enc_a.fcVar_{side}.0"),
            device,
        )?;
        let prefix = format!("enc_a.conv_{side}");
        let first = conv(input_dim, ndf, 4, 2, source, &format!("{prefix}.1"), device)?;
        // Widths ndf * min(4, n) -> ndf * min(4, n + 1) for n = 1..3 (64 -> 128 -> 192 -> 256).
        let blocks = (1..4)
            .map(|n: usize| {
                BasicBlock::new(
                    ndf * n.min(4),
                    ndf * (n + 1).min(4),
                    source,
                    &format!("{prefix}.{}", n + 1),
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            first,
            blocks,
            fc,
            fc_var,
        })
    }

    /// # Shapes
    /// `[b, input_dim, h, w]` -> (mean `[b, nz]`, log-variance `[b, nz]`).
    fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = reflect_conv(&self.first, x, 1);
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        let x = leaky_relu(x, ATTR_LRELU);
        let [b, c, h, w] = x.dims();
        let pooled = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]);
        (self.fc.forward(pooled.clone()), self.fc_var.forward(pooled))
    }

    fn visit(&self, side: char, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        self.fc.visit(&format!("enc_a.fc_{side}.0"), v);
        self.fc_var.visit(&format!("enc_a.fcVar_{side}.0"), v);
        let prefix = format!("enc_a.conv_{side}");
        visit_conv(&self.first, &format!("{prefix}.1"), v);
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit(&format!("{prefix}.{}", i + 2), v);
        }
    }
}

/// One domain of `E_attr`: MUNIT's style-encoder layout, deterministic output.
#[derive(Debug)]
pub struct AttrBranch {
    pub convs: Vec<Conv>,
    pub out: Conv,
}

/// Keys of `E_attr`'s convs in its `nn.Sequential` (pads and ReLUs sit between them).
const ATTR_CONV_INDICES: [usize; 5] = [1, 4, 7, 10, 13];

impl AttrBranch {
    fn new(
        input_dim: usize,
        arch: &DritArch,
        side: char,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let dim = arch.attr_base;
        let widths = [
            (input_dim, dim, 7, 1),
            (dim, dim * 2, 4, 2),
            (dim * 2, dim * 4, 4, 2),
            (dim * 4, dim * 4, 4, 2),
            (dim * 4, dim * 4, 4, 2),
        ];
        let convs = widths
            .iter()
            .zip(ATTR_CONV_INDICES)
            .map(|(&(i, o, k, s), index)| {
                conv(
                    i,
                    o,
                    k,
                    s,
                    source,
                    &format!("enc_a.model_{side}.{index}"),
                    device,
                )
            })
            .collect::<Result<_, _>>()?;
        let out = conv(
            dim * 4,
            arch.nz,
            1,
            1,
            source,
            &format!("enc_a.model_{side}.16"),
            device,
        )?;
        Ok(Self { convs, out })
    }

    /// # Shapes
    /// `[b, input_dim, h, w]` -> attribute `[b, nz]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.convs.iter().enumerate().fold(x, |x, (i, c)| {
            relu(reflect_conv(c, x, if i == 0 { 3 } else { 1 }))
        });
        let [b, c, h, w] = x.dims();
        let pooled = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c, 1, 1]);
        let out = self.out.forward(pooled);
        let [_, nz, _, _] = out.dims();
        out.reshape([b, nz])
    }

    fn visit(&self, side: char, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (c, index) in self.convs.iter().zip(ATTR_CONV_INDICES) {
            visit_conv(c, &format!("enc_a.model_{side}.{index}"), v);
        }
        visit_conv(&self.out, &format!("enc_a.model_{side}.16"), v);
    }
}

/// The attribute encoder of either variant.
// Built once per model and never moved on a hot path: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AttrEncoder {
    Concat {
        a: AttrConcatBranch,
        b: AttrConcatBranch,
    },
    Plain {
        a: AttrBranch,
        b: AttrBranch,
    },
}

/// A transposed conv (weight `[in, out, k, k]` as PyTorch stores it).
#[derive(Debug)]
pub struct ConvTranspose {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

impl ConvTranspose {
    fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            weight: param(
                source,
                &format!("{prefix}.weight"),
                [in_ch, out_ch, kernel, kernel],
                CONV_INIT,
                device,
            )?,
            bias: bias(source, prefix, out_ch, device)?,
        })
    }

    /// Stride 2, padding 1, output padding 1 for a 3x3 kernel (doubles each side); stride 1
    /// for a 1x1 kernel.
    ///
    /// # Shapes
    /// `[b, in, h, w]` -> `[b, out, 2h, 2w]` (3x3) or `[b, out, h, w]` (1x1).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, k, _] = self.weight.dims();
        let options = if k == 1 {
            ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1)
        } else {
            ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1)
        };
        conv_transpose2d(x, self.weight.val(), Some(self.bias.val()), options)
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit(&self.weight, format!("{prefix}.weight"), v);
        visit(&self.bias, format!("{prefix}.bias"), v);
    }
}

/// `ReLUINSConvTranspose2d`: transposed conv (3x3, x2), DRIT LayerNorm, ReLU.
/// Keys `{prefix}.model.0` (conv) and `{prefix}.model.1` (norm, `[C, 1, 1]`).
#[derive(Debug)]
pub struct UpBlock {
    pub conv: ConvTranspose,
    pub ln_weight: Param<Tensor<3>>,
    pub ln_bias: Param<Tensor<3>>,
}

impl UpBlock {
    fn new(
        in_ch: usize,
        out_ch: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        Ok(Self {
            conv: ConvTranspose::new(
                in_ch,
                out_ch,
                3,
                source,
                &format!("{prefix}.model.0"),
                device,
            )?,
            ln_weight: param(
                source,
                &format!("{prefix}.model.1.weight"),
                [out_ch, 1, 1],
                Init::Constant(1.0),
                device,
            )?,
            ln_bias: param(
                source,
                &format!("{prefix}.model.1.bias"),
                [out_ch, 1, 1],
                Init::Constant(0.0),
                device,
            )?,
        })
    }

    /// # Shapes
    /// `[b, in, h, w]` -> `[b, out, 2h, 2w]`. `guide`: a region decode's mask ([`normalize`]).
    fn forward(&self, x: Tensor<4>, guide: Option<&StyleMask>) -> Tensor<4> {
        let y = self.conv.forward(x);
        let [b, c, h, w] = y.dims();
        // F.layer_norm over (C, H, W): biased variance, eps inside the square root.
        let flat = y.clone().reshape([b, c * h * w]);
        let mean = flat.clone().mean_dim(1);
        let normalized = if guide.is_some() {
            let var = (flat - mean.clone()).powi_scalar(2).mean_dim(1);
            let scale = (var + LN_EPS).sqrt();
            normalize(
                y,
                mean.reshape([b, 1, 1, 1]),
                scale.reshape([b, 1, 1, 1]),
                guide,
            )
        } else {
            let centered = flat - mean;
            let var = centered.clone().powi_scalar(2).mean_dim(1);
            (centered / (var + LN_EPS).sqrt()).reshape([b, c, h, w])
        };
        let y = normalized * self.ln_weight.val().reshape([1, c, 1, 1])
            + self.ln_bias.val().reshape([1, c, 1, 1]);
        relu(y)
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        self.conv.visit(&format!("{prefix}.model.0"), v);
        visit(&self.ln_weight, format!("{prefix}.model.1.weight"), v);
        visit(&self.ln_bias, format!("{prefix}.model.1.bias"), v);
    }
}

/// The attribute tiled over a feature map (mixed per pixel when masked) and appended as
/// channels.
///
/// # Shapes
/// `x`: `[b, c, h, w]`, `z`: `[b, nz]` per attribute -> `[b, c + nz, h, w]`.
fn concat_tiled(x: Tensor<4>, z: &StyleField) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let tiled = z.tiled(h, w);
    Tensor::cat(vec![x, tiled], 1)
}

/// One domain's decoder of `G_concat` (after the shared block).
#[derive(Debug)]
pub struct ConcatDecoder {
    pub res: Vec<InsResBlock>,
    pub up1: UpBlock,
    pub up2: UpBlock,
    pub out: ConvTranspose,
}

impl ConcatDecoder {
    fn new(
        arch: &DritArch,
        output_dim: usize,
        side: char,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let nz = arch.nz;
        let mut tch = arch.gen_dim + nz;
        let res = (0..3)
            .map(|i| InsResBlock::new(tch, source, &format!("gen.dec{side}1.{i}"), device))
            .collect::<Result<_, _>>()?;
        tch += nz;
        let up1 = UpBlock::new(tch, tch / 2, source, &format!("gen.dec{side}2.0"), device)?;
        tch = tch / 2 + nz;
        let up2 = UpBlock::new(tch, tch / 2, source, &format!("gen.dec{side}3.0"), device)?;
        tch = tch / 2 + nz;
        let out = ConvTranspose::new(
            tch,
            output_dim,
            1,
            source,
            &format!("gen.dec{side}4.0"),
            device,
        )?;
        Ok(Self { res, up1, up2, out })
    }

    /// # Shapes
    /// `shared`: `[b, c, h, w]`, `z`: `[b, nz]` per attribute -> `[b, output_dim, 4h, 4w]`.
    fn forward(&self, shared: Tensor<4>, z: &StyleField) -> Tensor<4> {
        let guide = z.guide();
        let x = concat_tiled(z.stack(shared), z);
        let x = self.res.iter().fold(x, |x, block| block.forward(x, guide));
        let x = self.up1.forward(concat_tiled(x, z), guide);
        let x = self.up2.forward(concat_tiled(x, z), guide);
        z.unstack(tanh(self.out.forward(concat_tiled(x, z))))
    }

    fn visit(&self, side: char, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (i, block) in self.res.iter().enumerate() {
            block.visit(&format!("gen.dec{side}1.{i}"), v);
        }
        self.up1.visit(&format!("gen.dec{side}2.0"), v);
        self.up2.visit(&format!("gen.dec{side}3.0"), v);
        self.out.visit(&format!("gen.dec{side}4.0"), v);
    }
}

/// `MisINSResBlock`: residual block whose two halves each mix the tiled attribute chunk in by
/// two 1x1 convs (concatenation, not AdaIN).
#[derive(Debug)]
pub struct MisInsResBlock {
    pub conv1: Conv,
    pub conv2: Conv,
    pub blk1: [Conv; 2],
    pub blk2: [Conv; 2],
}

impl MisInsResBlock {
    fn new(
        dim: usize,
        extra: usize,
        source: &mut dyn ParamSource,
        prefix: &str,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let mut mix = |name: &str| -> Result<[Conv; 2], ParamError> {
            Ok([
                conv(
                    dim + extra,
                    dim + extra,
                    1,
                    1,
                    source,
                    &format!("{prefix}.{name}.0"),
                    device,
                )?,
                conv(
                    dim + extra,
                    dim,
                    1,
                    1,
                    source,
                    &format!("{prefix}.{name}.2"),
                    device,
                )?,
            ])
        };
        let blk1 = mix("blk1")?;
        let blk2 = mix("blk2")?;
        Ok(Self {
            conv1: conv(
                dim,
                dim,
                3,
                1,
                source,
                &format!("{prefix}.conv1.0.1"),
                device,
            )?,
            conv2: conv(
                dim,
                dim,
                3,
                1,
                source,
                &format!("{prefix}.conv2.0.1"),
                device,
            )?,
            blk1,
            blk2,
        })
    }

    /// # Shapes
    /// `x`: `[b, dim, h, w]`, `z`: `[b, extra]` per attribute -> `[b, dim, h, w]`.
    fn forward(&self, x: Tensor<4>, z: &StyleField) -> Tensor<4> {
        let mix = |blk: &[Conv; 2], y: Tensor<4>| {
            relu(blk[1].forward(relu(conv1x1_with_tiled(&blk[0], y, z))))
        };
        let guide = z.guide();
        let o1 = instance_normalize_guided(reflect_conv(&self.conv1, x.clone(), 1), guide);
        let o2 = mix(&self.blk1, o1);
        let o3 = instance_normalize_guided(reflect_conv(&self.conv2, o2, 1), guide);
        mix(&self.blk2, o3) + x
    }

    fn visit(&self, prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        visit_conv(&self.conv1, &format!("{prefix}.conv1.0.1"), v);
        visit_conv(&self.conv2, &format!("{prefix}.conv2.0.1"), v);
        for (name, blk) in [("blk1", &self.blk1), ("blk2", &self.blk2)] {
            visit_conv(&blk[0], &format!("{prefix}.{name}.0"), v);
            visit_conv(&blk[1], &format!("{prefix}.{name}.2"), v);
        }
    }
}

/// `conv1x1(cat[y, tile(z)])` without building the tiled channels: the attribute's part of a
/// 1x1 conv is the same at every pixel, so it folds into a per-sample bias (`W_z z + b`), and
/// the conv runs over `y`'s channels only (half the multiply-adds in `MisINSResBlock`). A masked
/// attribute mixes those biases per pixel, which is the same as mixing the tiled channels.
///
/// # Shapes
/// `y`: `[b, c, h, w]`, `z`: `[b, e]` per attribute, `conv`: `[out, c + e, 1, 1]` ->
/// `[b, out, h, w]`.
fn conv1x1_with_tiled(conv: &Conv, y: Tensor<4>, z: &StyleField) -> Tensor<4> {
    let [_, c, h, w] = y.dims();
    let weight = conv.weight.val();
    let [out, inputs, _, _] = weight.dims();
    let w_y = weight.clone().slice([0..out, 0..c, 0..1, 0..1]);
    let w_z = weight
        .slice([0..out, c..inputs, 0..1, 0..1])
        .reshape([out, inputs - c]);
    let conv_bias = conv.bias.val().reshape([1, out]);
    let bias = z.map(|z| z.matmul(w_z.clone().transpose()) + conv_bias.clone());
    let options = burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    burn::tensor::module::conv2d(y, w_y, None, options) + bias.at(h, w)
}

/// One domain's decoder of `G`: MLP, four `MisINSResBlock`s, two up blocks, 1x1 out.
#[derive(Debug)]
pub struct MisDecoder {
    pub mlp: [Linear; 3],
    pub blocks: Vec<MisInsResBlock>,
    pub up1: UpBlock,
    pub up2: UpBlock,
    pub out: ConvTranspose,
}

impl MisDecoder {
    fn new(
        arch: &DritArch,
        output_dim: usize,
        side: char,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let tch = arch.gen_dim;
        let blocks = (1..5)
            .map(|i| MisInsResBlock::new(tch, tch, source, &format!("gen.dec{side}{i}"), device))
            .collect::<Result<_, _>>()?;
        let up1 = UpBlock::new(tch, tch / 2, source, &format!("gen.dec{side}5.0"), device)?;
        let up2 = UpBlock::new(
            tch / 2,
            tch / 4,
            source,
            &format!("gen.dec{side}5.1"),
            device,
        )?;
        let out = ConvTranspose::new(
            tch / 4,
            output_dim,
            1,
            source,
            &format!("gen.dec{side}5.2"),
            device,
        )?;
        let h = arch.mlp_hidden;
        let mlp = [
            Linear::new(arch.nz, h, source, &format!("gen.mlp{side}.0"), device)?,
            Linear::new(h, h, source, &format!("gen.mlp{side}.2"), device)?,
            Linear::new(h, tch * 4, source, &format!("gen.mlp{side}.4"), device)?,
        ];
        Ok(Self {
            mlp,
            blocks,
            up1,
            up2,
            out,
        })
    }

    fn forward(&self, content: Tensor<4>, z: &StyleField) -> Tensor<4> {
        let chunks = z.map(|z| {
            let hidden = relu(self.mlp[1].forward(relu(self.mlp[0].forward(z))));
            self.mlp[2].forward(hidden)
        });
        let [_, total] = chunks.dims();
        let size = total / self.blocks.len();
        let x = self
            .blocks
            .iter()
            .enumerate()
            .fold(z.stack(content), |x, (i, block)| {
                block.forward(x, &chunks.slice(i * size..(i + 1) * size))
            });
        let guide = z.guide();
        let x = self.up2.forward(self.up1.forward(x, guide), guide);
        z.unstack(tanh(self.out.forward(x)))
    }

    fn visit(&self, side: char, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit(&format!("gen.dec{side}{}", i + 1), v);
        }
        self.up1.visit(&format!("gen.dec{side}5.0"), v);
        self.up2.visit(&format!("gen.dec{side}5.1"), v);
        self.out.visit(&format!("gen.dec{side}5.2"), v);
        for (linear, index) in self.mlp.iter().zip([0, 2, 4]) {
            linear.visit(&format!("gen.mlp{side}.{index}"), v);
        }
    }
}

/// The generator of either variant.
#[allow(clippy::large_enum_variant)] // built once per model, like `AttrEncoder`
#[derive(Debug)]
pub enum DritGenerator {
    Concat {
        share: InsResBlock,
        a: ConcatDecoder,
        b: ConcatDecoder,
    },
    Mis {
        a: MisDecoder,
        b: MisDecoder,
    },
}

/// A whole DRIT++ model: content encoder, attribute encoder, generator (both domains each).
#[derive(Debug)]
pub struct Drit {
    pub arch: DritArch,
    pub enc_c: ContentEncoder,
    pub enc_a: AttrEncoder,
    pub generator: DritGenerator,
}

impl Drit {
    /// Builds the model, taking every parameter from `source` under its official key
    /// (`enc_c.…`, `enc_a.…`, `gen.…`).
    pub fn new(
        arch: DritArch,
        source: &mut dyn ParamSource,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let enc_c = ContentEncoder::new(&arch, source, device)?;
        let enc_a = if arch.concat {
            AttrEncoder::Concat {
                a: AttrConcatBranch::new(arch.input_dim_a, &arch, 'A', source, device)?,
                b: AttrConcatBranch::new(arch.input_dim_b, &arch, 'B', source, device)?,
            }
        } else {
            AttrEncoder::Plain {
                a: AttrBranch::new(arch.input_dim_a, &arch, 'a', source, device)?,
                b: AttrBranch::new(arch.input_dim_b, &arch, 'b', source, device)?,
            }
        };
        let generator = if arch.concat {
            DritGenerator::Concat {
                share: InsResBlock::new(arch.gen_dim, source, "gen.dec_share.0", device)?,
                a: ConcatDecoder::new(&arch, arch.input_dim_a, 'A', source, device)?,
                b: ConcatDecoder::new(&arch, arch.input_dim_b, 'B', source, device)?,
            }
        } else {
            DritGenerator::Mis {
                a: MisDecoder::new(&arch, arch.input_dim_a, 'A', source, device)?,
                b: MisDecoder::new(&arch, arch.input_dim_b, 'B', source, device)?,
            }
        };
        Ok(Self {
            arch,
            enc_c,
            enc_a,
            generator,
        })
    }

    /// Content code (`enc_c.forward_a` / `forward_b`; noise off, as in eval mode).
    ///
    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` in [-1, 1] -> `[b, 4 * base, ceil(h / 4), ceil(w / 4)]`.
    pub fn encode_content(&self, domain: Domain, x: Tensor<4>) -> Tensor<4> {
        let branch = match domain {
            Domain::A => &self.enc_c.a,
            Domain::B => &self.enc_c.b,
        };
        self.enc_c.share.forward(branch.forward(x), None)
    }

    /// Attribute of an image: the mean and, for the concat variant, the log-variance.
    ///
    /// # Shapes
    /// `x`: `[b, input_dim, h, w]` -> (`[b, nz]`, optional `[b, nz]`).
    pub fn encode_attr(&self, domain: Domain, x: Tensor<4>) -> (Tensor<2>, Option<Tensor<2>>) {
        match (&self.enc_a, domain) {
            (AttrEncoder::Concat { a, .. }, Domain::A) => {
                let (mu, logvar) = a.forward(x);
                (mu, Some(logvar))
            }
            (AttrEncoder::Concat { b, .. }, Domain::B) => {
                let (mu, logvar) = b.forward(x);
                (mu, Some(logvar))
            }
            (AttrEncoder::Plain { a, .. }, Domain::A) => (a.forward(x), None),
            (AttrEncoder::Plain { b, .. }, Domain::B) => (b.forward(x), None),
        }
    }

    /// Decodes a content code with attribute `z` into `target` (`gen.forward_a` / `forward_b`).
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `z`: `[b, nz]` -> `[b, input_dim(target), 4h, 4w]` in (-1, 1).
    pub fn decode(&self, target: Domain, content: Tensor<4>, z: Tensor<2>) -> Tensor<4> {
        self.decode_field(target, content, &StyleField::Uniform(z))
    }

    /// [`Drit::decode`] with attributes given per sample or mixed per pixel by a mask (at the
    /// output size): `G_concat` tiles the mixed attribute onto each layer it feeds, `G` mixes
    /// its MLP's outputs where they enter the residual blocks.
    ///
    /// # Shapes
    /// `content`: `[b, c, h, w]`, `z`: `[b, nz]` per attribute (mask at `[4h, 4w]`) ->
    /// `[b, input_dim(target), 4h, 4w]`.
    pub fn decode_field(&self, target: Domain, content: Tensor<4>, z: &StyleField) -> Tensor<4> {
        match (&self.generator, target) {
            (DritGenerator::Concat { share, a, .. }, Domain::A) => {
                a.forward(share.forward(content, None), z)
            }
            (DritGenerator::Concat { share, b, .. }, Domain::B) => {
                b.forward(share.forward(content, None), z)
            }
            (DritGenerator::Mis { a, .. }, Domain::A) => a.forward(content, z),
            (DritGenerator::Mis { b, .. }, Domain::B) => b.forward(content, z),
        }
    }
}

impl NamedParams for Drit {
    /// Keys `enc_c.…`, `enc_a.…`, `gen.…` (the prefix is ignored: the modules carry theirs).
    fn visit_params(&self, _prefix: &str, v: &mut dyn FnMut(String, Vec<usize>, Vec<f32>)) {
        self.enc_c.visit(v);
        match &self.enc_a {
            AttrEncoder::Concat { a, b } => {
                a.visit('A', v);
                b.visit('B', v);
            }
            AttrEncoder::Plain { a, b } => {
                a.visit('a', v);
                b.visit('b', v);
            }
        }
        match &self.generator {
            DritGenerator::Concat { share, a, b } => {
                share.visit("gen.dec_share.0", v);
                a.visit('A', v);
                b.visit('B', v);
            }
            DritGenerator::Mis { a, b } => {
                a.visit('A', v);
                b.visit('B', v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::{NamedTensors, RandomInit, max_abs_diff, to_vec};
    use burn::tensor::Distribution;

    fn tiny(concat: bool) -> DritArch {
        DritArch {
            concat,
            input_dim_a: 3,
            input_dim_b: 1,
            nz: 8,
            content_base: 4,
            attr_base: 4,
            gen_dim: 16,
            mlp_hidden: if concat { 0 } else { 16 },
        }
    }

    #[test]
    fn folded_attribute_conv_equals_the_tiled_concat() {
        let device = Device::flex();
        let conv = super::conv(7 + 3, 5, 1, 1, &mut RandomInit::new(4), "c", &device).unwrap();
        let y = Tensor::<4>::random([2, 7, 5, 3], Distribution::Normal(0., 1.), &device);
        let z = |seed| Tensor::<2>::random([2, 3], Distribution::Normal(0., seed), &device);
        // One attribute per sample, and two mixed per pixel (mixing the folded biases is the
        // same as mixing the tiled channels).
        let mask = Tensor::<4>::random([1, 1, 5, 3], Distribution::Uniform(0., 1.), &device);
        for z in [
            StyleField::Uniform(z(1.0)),
            StyleField::Masked {
                outside: z(1.0),
                inside: z(2.0),
                mask: crate::model::StyleMask::new(mask),
            },
        ] {
            let y = z.stack(y.clone());
            let direct = conv.forward(concat_tiled(y.clone(), &z));
            let folded = conv1x1_with_tiled(&conv, y, &z);
            let diff = max_abs_diff(&to_vec(direct), &to_vec(folded));
            assert!(diff < 1e-5, "{diff}");
        }
    }

    #[test]
    fn both_variants_round_trip_and_infer_their_widths() {
        let device = Device::flex();
        for concat in [true, false] {
            let arch = tiny(concat);
            let model = Drit::new(arch, &mut RandomInit::new(2), &device).unwrap();
            let mut dict = std::collections::BTreeMap::new();
            model.visit_params("", &mut |k, s, v| {
                assert!(dict.insert(k.clone(), (s, v)).is_none(), "duplicate {k}");
            });
            let inferred = DritArch::infer(&|k| dict.get(k).map(|(s, _)| s.clone())).unwrap();
            assert_eq!(inferred, arch);
            let x = Tensor::<4>::random([1, 3, 24, 20], Distribution::Uniform(-1., 1.), &device);
            let content = model.encode_content(Domain::A, x.clone());
            assert_eq!(content.dims(), [1, 16, 6, 5]);
            let (mu, logvar) = model.encode_attr(Domain::A, x);
            assert_eq!(mu.dims(), [1, 8]);
            assert_eq!(logvar.is_some(), concat);
            let y = model.decode(Domain::B, content.clone(), mu.clone());
            assert_eq!(y.dims(), [1, 1, 24, 20]);
            let values = to_vec(y);
            let mut source = NamedTensors::new(dict);
            let again = Drit::new(arch, &mut source, &device).unwrap();
            source.finish().unwrap();
            assert_eq!(to_vec(again.decode(Domain::B, content, mu)), values);
        }
    }
}
