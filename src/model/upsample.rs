//! Nearest-neighbour x2 upsampling folded into the 5x5 convolution that follows it (the decoder's
//! upsampling stages): exact, and 2.8x fewer multiply-adds.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};

use super::layers::{pad2d, upsample_nearest2x};
use crate::config::PadType;

/// `conv5x5(pad2(upsample_nearest2x(x)))` computed without the upsampled tensor.
///
/// Each output pixel `(2i + a, 2j + b)` of a 5x5 conv over a nearest-x2 upsampled image only sees
/// input rows `i - 1 ..= i + 1` (and columns likewise), so each of the four phases `(a, b)` is a
/// 3x3 conv on the low-resolution input whose taps are sums of the 5x5 taps: 36 instead of 100
/// multiply-adds per 2x2 output block. With the input padded by one (zeros for zero padding, edge
/// values otherwise) this is exact for zero and replicate padding of the upsampled image; for
/// reflect padding only the first and last output rows and columns differ, and those strips are
/// recomputed from thin slabs.
///
/// # Shapes
/// `x`: `[b, in, h, w]` (h, w >= 2), `weight`: `[out, in, 5, 5]`, `bias`: `[out]` ->
/// `[b, out, 2h, 2w]`.
pub fn upsample2x_conv5x5(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    pad_type: PadType,
) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let [out_ch, in_ch, _, _] = weight.dims();
    let device = x.device();
    // Rows of the 5x5 kernel that land on input offsets -1, 0, +1, for output phase 0 and 1.
    let phase_rows: [[f32; 15]; 2] = [
        [1., 1., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0., 0., 0., 1.],
        [1., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0., 0., 0., 1., 1.],
    ];
    let fold = |p: usize| {
        Tensor::<2>::from_floats(TensorData::new(phase_rows[p].to_vec(), [3, 5]), &device)
    };
    let taps = weight.clone().reshape([out_ch * in_ch, 5, 5]);
    let mut phases = Vec::with_capacity(4);
    for a in 0..2 {
        for bb in 0..2 {
            let rows = fold(a).unsqueeze::<3>(); // [1, 3, 5]
            let cols = fold(bb).transpose().unsqueeze::<3>(); // [1, 5, 3]
            let folded = rows.matmul(taps.clone()).matmul(cols); // [out*in, 3, 3]
            phases.push(folded.reshape([out_ch, in_ch, 3, 3]));
        }
    }
    let phase_weight = Tensor::cat(phases, 0); // [4 * out, in, 3, 3], phase-major
    let phase_bias = bias.clone().repeat_dim(0, 4);
    // Zero padding of the upsampled image is zero padding of the input; replicate and reflect
    // both start from edge padding (reflect is then mended at the border below).
    let input_pad = match pad_type {
        PadType::Zero => PadMode::Constant(0.0),
        PadType::Replicate | PadType::Reflect => PadMode::Edge,
    };
    let padded = x.clone().pad((1, 1, 1, 1), input_pad);
    let y = conv2d(
        padded,
        phase_weight,
        Some(phase_bias),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    ); // [b, 4 * out, h, w]
    let y = y
        .reshape([b, 2, 2, out_ch, h, w])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([b, out_ch, 2 * h, 2 * w]);
    if pad_type != PadType::Reflect {
        return y;
    }
    // Reflect: redo the outermost output rows and columns the direct way, from 2-pixel slabs.
    let direct = |slab: Tensor<4>| {
        conv2d(
            pad2d(upsample_nearest2x(slab), 2, PadType::Reflect),
            weight.clone(),
            Some(bias.clone()),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
    };
    let (h2, w2) = (2 * h, 2 * w);
    let top =
        direct(x.clone().slice([0..b, 0..in_ch, 0..2, 0..w])).slice([0..b, 0..out_ch, 0..1, 0..w2]);
    let bottom = direct(x.clone().slice([0..b, 0..in_ch, h - 2..h, 0..w])).slice([
        0..b,
        0..out_ch,
        3..4,
        0..w2,
    ]);
    let left =
        direct(x.clone().slice([0..b, 0..in_ch, 0..h, 0..2])).slice([0..b, 0..out_ch, 0..h2, 0..1]);
    let right =
        direct(x.slice([0..b, 0..in_ch, 0..h, w - 2..w])).slice([0..b, 0..out_ch, 0..h2, 3..4]);
    y.slice_assign([0..b, 0..out_ch, 0..1, 0..w2], top)
        .slice_assign([0..b, 0..out_ch, h2 - 1..h2, 0..w2], bottom)
        .slice_assign([0..b, 0..out_ch, 0..h2, 0..1], left)
        .slice_assign([0..b, 0..out_ch, 0..h2, w2 - 1..w2], right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::to_vec;

    fn random(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[test]
    fn folded_upsample_conv_equals_the_direct_path() {
        let device = Device::flex();
        for (pad_type, (h, w)) in [
            (PadType::Reflect, (5, 7)),
            (PadType::Reflect, (2, 2)),
            (PadType::Zero, (4, 3)),
            (PadType::Replicate, (3, 6)),
        ] {
            let x = random([2, 3, h, w], 1, &device);
            let weight = random([4, 3, 5, 5], 2, &device);
            let bias = random([1, 1, 1, 4], 3, &device).reshape([4]);
            let direct = conv2d(
                pad2d(upsample_nearest2x(x.clone()), 2, pad_type),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let folded = upsample2x_conv5x5(x, weight, bias, pad_type);
            assert_eq!(folded.dims(), direct.dims());
            let diff = to_vec(folded - direct)
                .into_iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert!(diff < 1e-4, "{pad_type:?} {h}x{w}: max |diff| {diff}");
        }
    }
}
