//! Convolution with gradients on burn's CPU backend (burn-flex under autodiff), for training.
//!
//! burn computes a conv's weight gradient as another conv with the batch as input channels and the
//! output gradient as a kernel the size of the image. With batch 1 and at most 16 output channels
//! (every dim-16 layer of the bundled model) burn-flex sends that to its small-channel path, which
//! walks a 128x128 "kernel" over a 7x7 output: in a `perf` profile of one 128 px training
//! iteration it was 18 % of the time, and the im2col of the other weight gradients another 15 %
//! (docs/performance.md). Here all three products are GEMMs over the im2col tiles of
//! [`ConvGeometry`], recomputed in the backward pass rather than kept (they are up to 50 MB a
//! layer): the output from `weight @ columns`, the weight gradient from `grad @ columnsᵀ` and the
//! input gradient by scattering `weightᵀ @ grad` back onto the input (col2im).
//!
//! The op is registered with burn's autodiff through its backend-extension API
//! (`Tensor::try_into_primitive` / `from_primitive` and `Backward`), so it composes with every
//! other op of the graph.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex};
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::cpu_conv::{ConvGeometry, Matrix, RowTile, contiguous_f32, f32_slice, matmul};

/// burn-flex under autodiff without gradient checkpointing (`Device::flex().autodiff()`): the
/// backend of this crate's CPU training ops (here, `cpu_norm`, `cpu_pad`).
pub(crate) type CpuAutodiff = Autodiff<Flex, NoCheckpointing>;

/// [`ConvGeometry::forward`] as an autodiff op whose backward pass is [`ConvGeometry::backward`],
/// when the tensors are f32 on burn-flex under autodiff (no checkpointing); `None` otherwise (the
/// caller then takes burn's conv2d).
///
/// # Shapes
/// `x`: `[b, in, hp, wp]` (padded already), `weight`: `[out, in, kh, kw]`, `bias`: `[out]` ->
/// `[b, out, (hp - kh) / stride + 1, (wp - kw) / stride + 1]`.
pub fn conv2d_cpu_autodiff(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
) -> Option<Tensor<4>> {
    let weight_ad = weight.clone().try_into_primitive::<CpuAutodiff>().ok()?;
    let bias_ad = bias.clone().try_into_primitive::<CpuAutodiff>().ok()?;
    let x_ad = match x.clone().try_into_primitive::<CpuAutodiff>() {
        Ok(tracked) => tracked,
        // A constant input from a device without autodiff joins the graph as a leaf.
        Err(_) => CpuAutodiff::from_inner(x.clone().try_into_primitive::<Flex>().ok()?),
    };
    let x_values = contiguous_f32(x_ad.primitive())?;
    let weight_values = contiguous_f32(weight_ad.primitive())?;
    let bias_values = contiguous_f32(bias_ad.primitive())?;
    let geometry = ConvGeometry::new(x.dims(), weight.dims(), stride);
    let y = geometry.forward(
        f32_slice(&x_values),
        f32_slice(&weight_values),
        f32_slice(&bias_values),
    );
    let y = FlexTensor::from_data(TensorData::new(y, geometry.output_shape()));
    let y = match ConvBackward
        .prepare::<NoCheckpointing>([x_ad.node(), weight_ad.node(), bias_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            ConvState {
                x: x_values,
                weight: weight_values,
                geometry,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<CpuAutodiff>(y))
}

/// What the backward pass needs: the (contiguous f32) input and weight.
#[derive(Clone, Debug)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    geometry: ConvGeometry,
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node))
            .expect("the gradient of an f32 output is f32");
        let grad = f32_slice(&grad);
        let ConvState {
            x,
            weight,
            geometry,
        } = ops.state;
        let grads_out = geometry.backward(
            f32_slice(&x),
            f32_slice(&weight),
            grad,
            node_x.is_some(),
            node_weight.is_some(),
        );
        let [b, in_ch, hp, wp] = [
            geometry.batch,
            geometry.in_ch,
            geometry.padded[0],
            geometry.padded[1],
        ];
        let [kh, kw] = geometry.kernel;
        let tensor = |values: Vec<f32>, shape: Vec<usize>| {
            FlexTensor::from_data(TensorData::new(values, shape))
        };
        if let (Some(node), Some(values)) = (node_x, grads_out.x) {
            grads.register::<Flex>(node.id, tensor(values, vec![b, in_ch, hp, wp]));
        }
        if let (Some(node), Some(values)) = (node_weight, grads_out.weight) {
            let shape = vec![geometry.out_ch, in_ch, kh, kw];
            grads.register::<Flex>(node.id, tensor(values, shape));
        }
        if let Some(node) = node_bias {
            let shape = vec![geometry.out_ch];
            grads.register::<Flex>(node.id, tensor(grads_out.bias, shape));
        }
    }
}

/// The gradients of a convolution's input, weight and bias.
pub(crate) struct ConvGrads {
    /// `[b, in, hp, wp]`, when asked for.
    pub x: Option<Vec<f32>>,
    /// `[out, in, kh, kw]`, when asked for.
    pub weight: Option<Vec<f32>>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// One task's share of the gradients: its weight-gradient term (`[depth, out]`, transposed)
/// and the input gradient of the input rows its output rows read (`[in, rows_read, wp]` from
/// input row `y0 * stride`).
struct TileGrads {
    weight: Option<Vec<f32>>,
    x: Option<Vec<f32>>,
}

impl ConvGeometry {
    /// The gradients of [`ConvGeometry::forward`] given `grad` (`[b, out, ho, wo]`) of its
    /// output: tiles in parallel, each with its im2col recomputed; the input gradient is summed
    /// from the tiles' overlapping rows afterwards.
    pub(crate) fn backward(
        &self,
        input: &[f32],
        weight: &[f32],
        grad: &[f32],
        want_x: bool,
        want_weight: bool,
    ) -> ConvGrads {
        let ([kh, _], [hp, wp], [ho, wo], s) = (self.kernel, self.padded, self.out, self.stride);
        let (depth, out_plane) = (self.depth(), ho * wo);
        assert_eq!(grad.len(), self.batch * self.out_ch * out_plane);
        let tiles: Vec<TileGrads> = (0..self.tasks())
            .into_par_iter()
            .map(|task| {
                let tile = self.tile(task);
                let pixels = tile.rows * wo;
                // The tile's output gradient, [out, pixels], read in place from the planes.
                let grad_tile = Matrix {
                    data: &grad[tile.image * self.out_ch * out_plane + tile.y0 * wo..],
                    rows: self.out_ch,
                    cols: pixels,
                    row_stride: out_plane,
                    col_stride: 1,
                };
                // Transposed, `[depth, out]` = columns @ gradᵀ: the GEMM then packs the narrow
                // `[out, pixels]` gradient instead of transposing the `[depth, pixels]` columns.
                let weight_term = want_weight.then(|| {
                    let columns = self.im2col(self.image(input, tile.image), tile);
                    let mut term = vec![0f32; depth * self.out_ch];
                    let columns = Matrix::row_major(&columns, depth, pixels);
                    matmul(&mut term, false, columns, grad_tile.t());
                    term
                });
                let x_rows = want_x.then(|| {
                    let mut grad_columns = vec![0f32; depth * pixels];
                    let weight = Matrix::row_major(weight, self.out_ch, depth);
                    matmul(&mut grad_columns, false, weight.t(), grad_tile);
                    self.col2im(&grad_columns, tile)
                });
                TileGrads {
                    weight: weight_term,
                    x: x_rows,
                }
            })
            .collect();

        let weight_grad = want_weight.then(|| {
            let mut sum = vec![0f32; depth * self.out_ch];
            for term in tiles.iter().filter_map(|t| t.weight.as_ref()) {
                sum.iter_mut().zip(term).for_each(|(a, v)| *a += v);
            }
            // [depth, out] -> [out, depth].
            let mut weight_grad = vec![0f32; self.out_ch * depth];
            for (d, row) in sum.chunks_exact(self.out_ch).enumerate() {
                for (o, &v) in row.iter().enumerate() {
                    weight_grad[o * depth + d] = v;
                }
            }
            weight_grad
        });
        let x_grad = want_x.then(|| {
            let mut x_grad = vec![0f32; self.batch * self.in_ch * hp * wp];
            for (task, tile_grads) in tiles.iter().enumerate() {
                let (tile, rows) = (self.tile(task), tile_grads.x.as_ref().expect("asked for"));
                let rows_read = (tile.rows - 1) * s + kh;
                for c in 0..self.in_ch {
                    let dst = ((tile.image * self.in_ch + c) * hp + tile.y0 * s) * wp;
                    let src = &rows[c * rows_read * wp..][..rows_read * wp];
                    x_grad[dst..dst + rows_read * wp]
                        .iter_mut()
                        .zip(src)
                        .for_each(|(a, v)| *a += v);
                }
            }
            x_grad
        });
        let bias_grad = (0..self.out_ch)
            .map(|o| {
                (0..self.batch)
                    .map(|b| {
                        let plane = &grad[(b * self.out_ch + o) * out_plane..][..out_plane];
                        plane.iter().sum::<f32>()
                    })
                    .sum()
            })
            .collect();
        ConvGrads {
            x: x_grad,
            weight: weight_grad,
            bias: bias_grad,
        }
    }

    /// The input gradient of one tile from its im2col gradient (`[in * kh * kw, rows * wo]`):
    /// `[in, rows_read, wp]` for the input rows `y0 * stride ..` that the tile's outputs read.
    fn col2im(&self, grad_columns: &[f32], tile: RowTile) -> Vec<f32> {
        let ([kh, kw], [_, wp], wo, s) = (self.kernel, self.padded, self.out[1], self.stride);
        let pixels = tile.rows * wo;
        let rows_read = (tile.rows - 1) * s + kh;
        let mut rows = vec![0f32; self.in_ch * rows_read * wp];
        let mut column_rows = grad_columns.chunks_exact(pixels);
        for c in 0..self.in_ch {
            for ky in 0..kh {
                for kx in 0..kw {
                    let column_row = column_rows.next().expect("depth rows");
                    for y in 0..tile.rows {
                        let src = &column_row[y * wo..][..wo];
                        let dst = &mut rows[(c * rows_read + y * s + ky) * wp + kx..];
                        if s == 1 {
                            dst[..wo].iter_mut().zip(src).for_each(|(a, v)| *a += v);
                        } else {
                            for (x, v) in src.iter().enumerate() {
                                dst[x * s] += v;
                            }
                        }
                    }
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    /// Output and all three gradients equal burn's conv2d under autodiff, on odd sizes, strides 1
    /// and 2, batches of one and more, several tiles, and an input that needs no gradient.
    #[test]
    fn gradients_equal_burns_conv2d() {
        let device = Device::flex().autodiff();
        for (batch, in_ch, out_ch, k, stride, h, w, x_tracked) in [
            (1, 3, 5, 7, 1, 13, 11, true),
            (2, 4, 6, 4, 2, 11, 9, true),
            (1, 6, 7, 3, 1, 40, 30, true),
            (3, 5, 2, 1, 1, 4, 6, false),
            (1, 2, 17, 3, 2, 9, 600, true),
        ] {
            let random = |shape: [usize; 4]| {
                Tensor::<4>::random(shape, Distribution::Normal(0., 1.), &device)
            };
            let x = random([batch, in_ch, h, w]);
            let x = if x_tracked { x.require_grad() } else { x };
            let weight = random([out_ch, in_ch, k, k]).require_grad();
            let bias =
                Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device).require_grad();
            // A non-uniform upstream gradient: the loss weighs every output differently.
            let ho = (h - k) / stride + 1;
            let wo = (w - k) / stride + 1;
            let loss_weights = random([batch, out_ch, ho, wo]);

            let want = conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([stride; 2], [0, 0], [1, 1], 1),
            );
            let want_grads = (want.clone() * loss_weights.clone()).sum().backward();
            let got = conv2d_cpu_autodiff(&x, &weight, &bias, stride).expect("flex autodiff");
            let got_grads = (got.clone() * loss_weights).sum().backward();

            let tolerance = burn::tensor::Tolerance::absolute(1e-3);
            got.into_data()
                .assert_approx_eq::<f32>(&want.into_data(), tolerance);
            let grad_of = |t: &Tensor<4>, grads| t.grad(grads).expect("tracked").into_data();
            grad_of(&weight, &got_grads)
                .assert_approx_eq::<f32>(&grad_of(&weight, &want_grads), tolerance);
            bias.grad(&got_grads)
                .expect("tracked")
                .into_data()
                .assert_approx_eq::<f32>(&bias.grad(&want_grads).unwrap().into_data(), tolerance);
            if x_tracked {
                grad_of(&x, &got_grads)
                    .assert_approx_eq::<f32>(&grad_of(&x, &want_grads), tolerance);
            } else {
                assert!(x.grad(&got_grads).is_none());
            }
        }
    }

    #[test]
    fn other_devices_are_left_to_burn() {
        let device = Device::flex();
        let x = Tensor::<4>::zeros([1, 1, 3, 3], &device);
        let weight = Tensor::<4>::zeros([1, 1, 3, 3], &device);
        let bias = Tensor::<1>::zeros([1], &device);
        assert!(conv2d_cpu_autodiff(&x, &weight, &bias, 1).is_none());
    }
}
