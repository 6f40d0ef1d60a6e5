//! Two styles mixed per pixel inside a decoder (the region brush).
//!
//! A decoder applies its style at feature maps of several resolutions (MUNIT: the AdaIN scale and
//! shift of each residual block; DRIT++ `G_concat`: attribute maps tiled onto four layers; DRIT++
//! `G`: the MLP's outputs folded into 1x1 convs). A [`StyleField`] carries what the decoder makes
//! of a style per sample, or of two styles, and hands each layer a per-pixel mix of them:
//! `outside * (1 - m) + inside * m`, with `m` the [`StyleMask`] brought to that layer's size.
//!
//! Instance and layer norms take statistics over the whole feature map, so mixing only the style
//! values would let the painted region change the normalisation of the far side (measured in
//! docs/region-brush.md: the far half then moves most of the way to the other code). A masked
//! decode therefore runs as one batch of three groups, `[outside, inside, mixed]`, and every norm
//! normalises the mixed group with the two pure groups' statistics mixed by the same mask
//! ([`normalize`]). Where the mask is 0 (1) beyond the convolutions' reach of its edge, each layer
//! of the mixed group computes what the outside (inside) group does, so the output there is that
//! code's own image.

use std::ops::Range;

use burn::prelude::*;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::AvgPoolOptions;

/// Per-pixel weight of the second ("inside") style, in [0, 1].
#[derive(Debug, Clone)]
pub struct StyleMask {
    /// `[1 or b, 1, H, W]` at the decoder's output resolution.
    weights: Tensor<4>,
}

impl StyleMask {
    /// # Shapes
    /// `weights`: `[1 or b, 1, H, W]`, values in [0, 1], at the decoder's output size.
    pub fn new(weights: Tensor<4>) -> Self {
        Self { weights }
    }

    /// `[height, width]` of the weights.
    pub fn size(&self) -> [usize; 2] {
        let [_, _, h, w] = self.weights.dims();
        [h, w]
    }

    /// The weights at a feature map's size: the mean over each block of output pixels it covers.
    /// Halvings are 2x2 means (a sum of four, times 0.25), so a block of exact zeros or ones
    /// stays exact; other ratios fall back to adaptive average pooling.
    ///
    /// # Shapes
    /// -> `[1 or b, 1, h, w]`.
    pub fn at(&self, h: usize, w: usize) -> Tensor<4> {
        let mut weights = self.weights.clone();
        loop {
            let [_, _, mh, mw] = weights.dims();
            if [mh, mw] == [h, w] {
                return weights;
            }
            let halvable =
                |m: usize, t: usize| m > t && m.is_multiple_of(t) && (m / t).is_power_of_two();
            if halvable(mh, h) && halvable(mw, w) {
                weights = avg_pool2d(weights, AvgPoolOptions::new([2, 2]));
            } else {
                return adaptive_avg_pool2d(weights, [h, w]);
            }
        }
    }
}

/// `(x - mean) / scale` with per-sample statistics (`mean`, `scale`: `[B, C or 1, 1, 1]`).
///
/// With a `guide` the batch is three groups `[outside, inside, mixed]` of `B / 3` samples (see
/// the module docs): the first two use their own statistics, the mixed group the two groups'
/// statistics mixed per pixel by the mask.
///
/// # Shapes
/// `x`: `[B, C, h, w]` -> same.
pub fn normalize(
    x: Tensor<4>,
    mean: Tensor<4>,
    scale: Tensor<4>,
    guide: Option<&StyleMask>,
) -> Tensor<4> {
    let Some(mask) = guide else {
        return (x - mean) / scale;
    };
    let [batch, c, h, w] = x.dims();
    let b = batch / 3;
    let group = |t: &Tensor<4>, g: usize| t.clone().narrow(0, g * b, b);
    let m = mask.at(h, w);
    let keep = m.clone().neg().add_scalar(1.0);
    let mix = |t: &Tensor<4>| group(t, 0) * keep.clone() + group(t, 1) * m.clone();
    let pure = (x.clone().narrow(0, 0, 2 * b) - mean.clone().narrow(0, 0, 2 * b))
        / scale.clone().narrow(0, 0, 2 * b);
    let mixed = (group(&x, 2) - mix(&mean)) / mix(&scale);
    debug_assert_eq!(mixed.dims(), [b, c, h, w]);
    Tensor::cat(vec![pure, mixed], 0)
}

/// Per-sample vectors (style codes, or what a network computes from them): one per sample, or
/// an outside and an inside one mixed per pixel by a mask.
#[allow(clippy::large_enum_variant)] // made once per decode, passed by reference
#[derive(Debug, Clone)]
pub enum StyleField {
    /// `[b, n]`.
    Uniform(Tensor<2>),
    /// `outside`, `inside`: `[b, n]` each.
    Masked {
        outside: Tensor<2>,
        inside: Tensor<2>,
        mask: StyleMask,
    },
}

impl StyleField {
    /// The same per-sample function applied to each style (an MLP, a linear map).
    pub fn map(&self, f: impl Fn(Tensor<2>) -> Tensor<2>) -> Self {
        match self {
            StyleField::Uniform(v) => StyleField::Uniform(f(v.clone())),
            StyleField::Masked {
                outside,
                inside,
                mask,
            } => StyleField::Masked {
                outside: f(outside.clone()),
                inside: f(inside.clone()),
                mask: mask.clone(),
            },
        }
    }

    /// Columns `range` of each style's vector.
    pub fn slice(&self, range: Range<usize>) -> Self {
        self.map(|v| {
            let [b, _] = v.dims();
            v.slice([0..b, range.clone()])
        })
    }

    /// The mask of a mixed field, which the decoder's norms follow ([`normalize`]).
    pub fn guide(&self) -> Option<&StyleMask> {
        match self {
            StyleField::Uniform(_) => None,
            StyleField::Masked { mask, .. } => Some(mask),
        }
    }

    /// The batch a decoder runs for this field: `x` itself, or three copies (the outside, inside
    /// and mixed groups).
    ///
    /// # Shapes
    /// `[b, ...]` -> `[b, ...]` or `[3b, ...]`.
    pub fn stack(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            StyleField::Uniform(_) => x,
            StyleField::Masked { .. } => Tensor::cat(vec![x.clone(), x.clone(), x], 0),
        }
    }

    /// What a decoder returns of the batch it ran: all of it, or the mixed group.
    ///
    /// # Shapes
    /// `[b, ...]` or `[3b, ...]` -> `[b, ...]`.
    pub fn unstack(&self, y: Tensor<4>) -> Tensor<4> {
        match self {
            StyleField::Uniform(_) => y,
            StyleField::Masked { .. } => {
                let b = y.dims()[0] / 3;
                y.narrow(0, 2 * b, b)
            }
        }
    }

    /// `[b, n]` (per group).
    pub fn dims(&self) -> [usize; 2] {
        match self {
            StyleField::Uniform(v) => v.dims(),
            StyleField::Masked { outside, .. } => outside.dims(),
        }
    }

    /// The vectors at every pixel of an `h` x `w` feature map, for broadcasting.
    ///
    /// # Shapes
    /// -> `[b, n, 1, 1]` (uniform), or `[3b, n, h, w]` (masked: the outside, inside and mixed
    /// groups of the [`StyleField::stack`]ed batch).
    pub fn at(&self, h: usize, w: usize) -> Tensor<4> {
        match self {
            StyleField::Uniform(v) => {
                let [b, n] = v.dims();
                v.clone().reshape([b, n, 1, 1])
            }
            StyleField::Masked {
                outside,
                inside,
                mask,
            } => {
                let [b, n] = outside.dims();
                let m = mask.at(h, w);
                let keep = m.clone().neg().add_scalar(1.0);
                let outside = outside.clone().reshape([b, n, 1, 1]);
                let inside = inside.clone().reshape([b, n, 1, 1]);
                let mixed = outside.clone() * keep + inside.clone() * m;
                Tensor::cat(
                    vec![
                        outside.expand([b, n, h, w]),
                        inside.expand([b, n, h, w]),
                        mixed,
                    ],
                    0,
                )
            }
        }
    }

    /// [`StyleField::at`] expanded to every pixel (for concatenation as channels).
    ///
    /// # Shapes
    /// -> `[b, n, h, w]` (uniform) or `[3b, n, h, w]` (masked).
    pub fn tiled(&self, h: usize, w: usize) -> Tensor<4> {
        let at = self.at(h, w);
        let [batch, n, _, _] = at.dims();
        at.expand([batch, n, h, w])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::to_vec;

    #[test]
    fn masks_pool_exactly_and_fields_mix_per_pixel() {
        let device = Device::flex();
        // Left half 1, right half 0, on 8x8.
        let values: Vec<f32> = (0..64).map(|i| if i % 8 < 4 { 1.0 } else { 0.0 }).collect();
        let mask = StyleMask::new(Tensor::from_data(
            burn::tensor::TensorData::new(values, [1, 1, 8, 8]),
            &device,
        ));
        assert_eq!(to_vec(mask.at(2, 2)), vec![1.0, 0.0, 1.0, 0.0]);
        let outside = Tensor::<2>::from_data([[1.0, 2.0]], &device);
        let inside = Tensor::<2>::from_data([[-3.0, 5.0]], &device);
        let field = StyleField::Masked {
            outside: outside.clone(),
            inside,
            mask: mask.clone(),
        };
        let stacked = field.at(2, 2);
        assert_eq!(stacked.dims(), [3, 2, 2, 2]);
        let mixed = to_vec(field.unstack(stacked.clone()));
        // Channel 0 then 1; each 2x2 row-major: inside, outside / inside, outside.
        assert_eq!(mixed, vec![-3.0, 1.0, -3.0, 1.0, 5.0, 2.0, 5.0, 2.0]);
        assert_eq!(
            to_vec(stacked.narrow(0, 0, 1)),
            vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
        );
        // A 3x3 map is not a halving: adaptive pooling, values stay in range.
        let odd = to_vec(mask.at(3, 3));
        assert!(odd.iter().all(|v| (0.0..=1.0).contains(v)));
        let uniform = StyleField::Uniform(outside);
        assert_eq!(uniform.at(4, 4).dims(), [1, 2, 1, 1]);
        assert_eq!(to_vec(uniform.tiled(2, 1)), vec![1.0, 1.0, 2.0, 2.0]);
        assert_eq!(
            to_vec(field.unstack(field.slice(1..2).at(1, 2))),
            vec![5.0, 2.0]
        );
    }
}
