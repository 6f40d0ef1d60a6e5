//! Nearest-neighbour x2 upsampling folded into the 5x5 convolution that follows it (the decoder's
//! upsampling stages): exact, and 2.8x fewer multiply-adds.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions, PadMode};

use super::cpu_conv::conv2d_cpu_padded;
use super::cpu_conv_grad::conv2d_cpu_autodiff;
use super::layers::{pad2d, runs_cpu_inference};
use crate::config::PadType;

/// The four phase kernels of a 5x5 conv after nearest x2 upsampling ([`upsample2x_conv5x5`]).
/// Built on every call in training (one small matmul; the weights change each step), once per
/// layer by an inference model ([`super::layers::ConvBlock::keep_folded_upsample`]).
#[derive(Debug, Clone)]
pub struct FoldedUpsample {
    /// `[4 * out, in, 3, 3]`, phase-major.
    pub weight: Tensor<4>,
    /// `[4 * out]`.
    pub bias: Tensor<1>,
}

impl FoldedUpsample {
    /// # Shapes
    /// `weight`: `[out, in, 5, 5]`, `bias`: `[out]`.
    pub fn new(weight: Tensor<4>, bias: Tensor<1>) -> Self {
        let [out_ch, in_ch, _, _] = weight.dims();
        let device = weight.device();
        // Rows of the 5x5 kernel that land on input offsets -1, 0, +1, for output phase 0 and 1.
        let phase_rows: [[f32; 15]; 2] = [
            [1., 1., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0., 0., 0., 1.],
            [1., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0., 0., 0., 1., 1.],
        ];
        // Phase (a, b)'s tap (r, c) is sum over i, j of rows[a][r][i] * w[i][j] * rows[b][c][j]:
        // one [out*in, 25] x [25, 36] matmul folds every kernel at once (batched 3x5 matmuls
        // cost more than the conv itself on the CPU).
        let mut fold = vec![0f32; 25 * 36];
        for (phase, (a, bb)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            for tap in 0..9 {
                let (r, c) = (tap / 3, tap % 3);
                for source in 0..25 {
                    let (i, j) = (source / 5, source % 5);
                    fold[source * 36 + phase * 9 + tap] =
                        phase_rows[a][r * 5 + i] * phase_rows[bb][c * 5 + j];
                }
            }
        }
        let fold = Tensor::<2>::from_floats(TensorData::new(fold, [25, 36]), &device);
        let phases = weight
            .reshape([out_ch * in_ch, 25])
            .matmul(fold) // [out*in, 36]
            .reshape([out_ch, in_ch, 4, 9])
            .permute([2, 0, 1, 3])
            .reshape([4 * out_ch, in_ch, 3, 3]);
        Self {
            weight: phases,
            bias: bias.repeat_dim(0, 4),
        }
    }
}

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
    let folded = FoldedUpsample::new(weight.clone(), bias);
    upsample2x_conv5x5_folded(x, &folded, weight, pad_type)
}

/// The folded phase convs: `[b, in, h, w]` padded by one (`input_pad`: zeros or edge values) ->
/// `[b, 4 out, h, w]`. In inference on the CPU this crate's padded conv reads the padding on the
/// fly (and runs Winograd F(2x2, 3x3), [`conv2d_cpu_padded`]); in training on the CPU the conv
/// is this crate's GEMM-gradient op ([`conv2d_cpu_autodiff`]), as are the reflect border's
/// mending convs below (burn-flex's conv gradients took about 16 % of a 128 px training step).
fn phase_conv(x: Tensor<4>, folded: &FoldedUpsample, input_pad: PadType) -> Tensor<4> {
    let weight = folded.weight.clone();
    if runs_cpu_inference(&weight, &x)
        && let Some(y) = conv2d_cpu_padded(
            x.clone(),
            weight.clone(),
            folded.bias.clone(),
            1,
            1,
            input_pad,
        )
    {
        return y;
    }
    let padded = pad2d(x, 1, input_pad);
    // Training on the CPU: GEMM gradients instead of burn-flex's (model::cpu_conv_grad).
    if let Some(y) = conv2d_cpu_autodiff(&padded, &weight, &folded.bias, 1) {
        return y;
    }
    conv2d(
        padded,
        weight,
        Some(folded.bias.clone()),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    )
}

/// [`upsample2x_conv5x5`] with the phase kernels already folded (`folded` must come from the
/// same `weight`, whose outermost rows and columns reflect padding still needs at the border).
///
/// # Shapes
/// as [`upsample2x_conv5x5`].
pub fn upsample2x_conv5x5_folded(
    x: Tensor<4>,
    folded: &FoldedUpsample,
    weight: Tensor<4>,
    pad_type: PadType,
) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let [out_ch, _, _, _] = weight.dims();
    // Zero padding of the upsampled image is zero padding of the input; replicate and reflect
    // both start from edge padding (reflect is then mended at the border below).
    let input_pad = match pad_type {
        PadType::Zero => PadType::Zero,
        PadType::Replicate | PadType::Reflect => PadType::Replicate,
    };
    let y = phase_conv(x.clone(), folded, input_pad); // [b, 4 * out, h, w]
    let y = y
        .reshape([b, 2, 2, out_ch, h, w])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([b, out_ch, 2 * h, 2 * w]);
    if pad_type != PadType::Reflect {
        return y;
    }
    // Reflect: the folded conv saw the upsampled image edge-padded; reflection differs only on
    // the outermost padded line of each side (padded row -2 is upsampled row 2, input row 1, not
    // input row 0; likewise for columns), which only the kernel's outermost row or column meets.
    // So the outermost output rows and columns are mended by adding a 1x5 (5x1) conv of that
    // line's difference: 5 multiply-adds per output instead of 25. The padded corners belong to
    // the rows.
    let (h2, w2) = (2 * h, 2 * w);
    let line = |dim: usize, i: usize| x.clone().narrow(dim, i, 1);
    let row_difference = |reflected: usize, edge: usize| {
        let up = |row: Tensor<4>| {
            interpolate(
                row,
                InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([1, w2]),
            )
        };
        up(line(2, reflected)).pad((2, 2, 0, 0), PadMode::Reflect)
            - up(line(2, edge)).pad((2, 2, 0, 0), PadMode::Edge)
    }; // [b, in, 1, 2w + 4]
    let column_difference = |reflected: usize, edge: usize| {
        let d = line(3, reflected) - line(3, edge);
        interpolate(
            d,
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h2, 1]),
        )
        // Padded rows -1 and 2h repeat the edge rows in both paddings; rows -2 and 2h + 1 of
        // this column are the corners, already mended with the rows.
        .pad((0, 0, 1, 1), PadMode::Edge)
        .pad((0, 0, 1, 1), PadMode::Constant(0.0))
    }; // [b, in, 2h + 4, 1]
    // The training op takes a bias: zeros, made only where it may run (under autodiff).
    let no_bias = x
        .device()
        .is_autodiff()
        .then(|| Tensor::<1>::zeros([out_ch], &x.device()));
    let mend = |difference: Tensor<4>, kernel: Tensor<4>| {
        let trained = no_bias
            .as_ref()
            .and_then(|no_bias| conv2d_cpu_autodiff(&difference, &kernel, no_bias, 1));
        trained.unwrap_or_else(|| {
            conv2d(
                difference,
                kernel,
                None,
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            )
        })
    };
    let kernel_row = |r: usize| weight.clone().narrow(2, r, 1); // [out, in, 1, 5]
    let kernel_column = |c: usize| weight.clone().narrow(3, c, 1); // [out, in, 5, 1]
    let top = mend(row_difference(1, 0), kernel_row(0));
    let bottom = mend(row_difference(h - 2, h - 1), kernel_row(4));
    let left = mend(column_difference(1, 0), kernel_column(0));
    let right = mend(column_difference(w - 2, w - 1), kernel_column(4));
    let rows = [(0..1, top), (h2 - 1..h2, bottom)];
    let y = rows.into_iter().fold(y, |y, (range, fix)| {
        let region = [0..b, 0..out_ch, range, 0..w2];
        let mended = y.clone().slice(region.clone()) + fix;
        y.slice_assign(region, mended)
    });
    let columns = [(0..1, left), (w2 - 1..w2, right)];
    columns.into_iter().fold(y, |y, (range, fix)| {
        let region = [0..b, 0..out_ch, 0..h2, range];
        let mended = y.clone().slice(region.clone()) + fix;
        y.slice_assign(region, mended)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::{pad2d, upsample_nearest2x};
    use crate::model::params::{max_abs_diff, seeded_normal as random, to_vec};
    use burn::tensor::Gradients;

    #[test]
    fn folded_upsample_conv_equals_the_direct_path() {
        let device = Device::flex();
        // (padding, input size, in, out, weight scale): odd and tiny sizes with a few channels
        // (im2col phase convs on the CPU), and enough channels for the Winograd phase convs
        // (model::cpu_winograd) with weights scaled to keep the outputs near unit size.
        let narrow = [
            (PadType::Reflect, (5, 7)),
            (PadType::Reflect, (2, 2)),
            (PadType::Reflect, (3, 2)),
            (PadType::Reflect, (6, 9)),
            (PadType::Zero, (4, 3)),
            (PadType::Replicate, (3, 6)),
        ]
        .map(|(pad_type, size)| (pad_type, size, 3, 4, 1.0));
        let wide = [PadType::Reflect, PadType::Zero, PadType::Replicate]
            .map(|pad_type| (pad_type, (5, 6), 32, 9, 0.05));
        for (pad_type, (h, w), in_ch, out_ch, scale) in narrow.into_iter().chain(wide) {
            let x = random([2, in_ch, h, w], 1, &device);
            let weight = random([out_ch, in_ch, 5, 5], 2, &device) * scale;
            let bias = random([1, 1, 1, out_ch], 3, &device).reshape([out_ch]);
            let direct = conv2d(
                pad2d(upsample_nearest2x(x.clone()), 2, pad_type),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let folded = upsample2x_conv5x5(x, weight, bias, pad_type);
            assert_eq!(folded.dims(), direct.dims());
            let diff = max_abs_diff(&to_vec(folded), &to_vec(direct));
            assert!(
                diff < 1e-4,
                "{pad_type:?} {h}x{w}, {in_ch} -> {out_ch}: max |diff| {diff}"
            );
        }
    }

    /// In training on the CPU the phase convs and the reflect border's mending convs are this
    /// crate's GEMM-gradient op (model::cpu_conv_grad): the output and the gradients of input,
    /// weight and bias equal burn's conv2d over the upsampled, padded image.
    #[test]
    fn folded_upsample_conv_gradients_equal_the_direct_paths() {
        fn grad<const D: usize>(tensor: &Tensor<D>, grads: &Gradients) -> Vec<f32> {
            to_vec(tensor.grad(grads).expect("tracked"))
        }
        let device = Device::flex().autodiff();
        for (pad_type, (h, w)) in [
            (PadType::Reflect, (5, 7)),
            (PadType::Reflect, (2, 3)),
            (PadType::Zero, (4, 3)),
            (PadType::Replicate, (3, 6)),
        ] {
            let (in_ch, out_ch) = (3, 4);
            let x = random([2, in_ch, h, w], 1, &device).require_grad();
            let weight = random([out_ch, in_ch, 5, 5], 2, &device).require_grad();
            let bias = random([out_ch], 3, &device).require_grad();
            // A non-uniform upstream gradient: every output weighs differently in the loss.
            let loss_weights = random([2, out_ch, 2 * h, 2 * w], 4, &device);
            let direct = conv2d(
                pad2d(upsample_nearest2x(x.clone()), 2, pad_type),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let folded = upsample2x_conv5x5(x.clone(), weight.clone(), bias.clone(), pad_type);
            let direct_grads = (direct.clone() * loss_weights.clone()).sum().backward();
            let folded_grads = (folded.clone() * loss_weights).sum().backward();
            let case = format!("{pad_type:?} {h}x{w}");
            let diffs = [
                ("output", max_abs_diff(&to_vec(folded), &to_vec(direct))),
                (
                    "input gradient",
                    max_abs_diff(&grad(&x, &folded_grads), &grad(&x, &direct_grads)),
                ),
                (
                    "weight gradient",
                    max_abs_diff(&grad(&weight, &folded_grads), &grad(&weight, &direct_grads)),
                ),
                (
                    "bias gradient",
                    max_abs_diff(&grad(&bias, &folded_grads), &grad(&bias, &direct_grads)),
                ),
            ];
            for (what, diff) in diffs {
                assert!(diff < 1e-3, "{case}: {what} max |diff| {diff}");
            }
        }
    }
}
