//! Reflection padding on burn's CPU backend as one copy, with its gradient as one fold.
//!
//! As burn ops, reflection padding is mirrored one-line slices joined by concatenations; under
//! autodiff every one-line slice's backward is a zeroed tensor of the whole input with that line
//! assigned, added to the input's gradient: 2 * pad full-size zero-fill-assign-add passes per
//! dimension, for every padded conv of a training step. Here the forward pass is a copy with
//! mirrored indices and the backward pass adds each padded line's gradient onto the line it
//! mirrors.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::cpu_conv::{contiguous_f32, f32_slice, padded_line};
use super::cpu_conv_grad::CpuAutodiff;
use crate::config::PadType;

/// Reflection padding of f32 tensors on burn-flex under autodiff without checkpointing; `None`
/// elsewhere (the caller then takes burn's ops).
///
/// # Shapes
/// `[b, c, h, w]` (`pad < h`, `pad < w`) -> `[b, c, h + 2 pad, w + 2 pad]`.
pub fn reflect_pad_cpu_autodiff(x: &Tensor<4>, pad: usize) -> Option<Tensor<4>> {
    let geometry = ReflectPad {
        dims: x.dims(),
        pad,
    };
    let x_ad = x.clone().try_into_primitive::<CpuAutodiff>().ok()?;
    let values = contiguous_f32(x_ad.primitive())?;
    let y = geometry.forward(f32_slice(&values));
    let y = FlexTensor::from_data(TensorData::new(y, geometry.padded_shape()));
    let y = match PadBackward
        .prepare::<NoCheckpointing>([x_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(geometry, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<CpuAutodiff>(y))
}

/// The shape of the unpadded input and the padding on each side.
#[derive(Clone, Copy, Debug)]
struct ReflectPad {
    dims: [usize; 4],
    pad: usize,
}

impl ReflectPad {
    fn padded_shape(&self) -> [usize; 4] {
        let [b, c, h, w] = self.dims;
        [b, c, h + 2 * self.pad, w + 2 * self.pad]
    }

    /// The input row that padded row `p` mirrors (`n` rows).
    fn source(&self, p: usize, n: usize) -> usize {
        padded_line(p, n, self.pad, PadType::Reflect).expect("reflection reads an input line")
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let ([_, _, h, w], p) = (self.dims, self.pad);
        let [_, _, hp, wp] = self.padded_shape();
        let mut y = vec![0f32; x.len() / (h * w) * hp * wp];
        y.par_chunks_mut(hp * wp)
            .zip(x.par_chunks(h * w))
            .for_each(|(out, plane)| {
                for (py, out_row) in out.chunks_exact_mut(wp).enumerate() {
                    let row = &plane[self.source(py, h) * w..][..w];
                    out_row[p..p + w].copy_from_slice(row);
                    for k in 0..p {
                        out_row[p - 1 - k] = row[k + 1];
                        out_row[p + w + k] = row[w - 2 - k];
                    }
                }
            });
        y
    }

    /// The input's gradient from the padded output's: every padded value's gradient goes to the
    /// input value it copies.
    fn backward(&self, grad: &[f32]) -> Vec<f32> {
        let ([_, _, h, w], p) = (self.dims, self.pad);
        let [_, _, hp, wp] = self.padded_shape();
        let mut x_grad = vec![0f32; grad.len() / (hp * wp) * h * w];
        x_grad
            .par_chunks_mut(h * w)
            .zip(grad.par_chunks(hp * wp))
            .for_each(|(plane, grad_plane)| {
                for (py, grad_row) in grad_plane.chunks_exact(wp).enumerate() {
                    let row = &mut plane[self.source(py, h) * w..][..w];
                    row.iter_mut()
                        .zip(&grad_row[p..p + w])
                        .for_each(|(a, g)| *a += g);
                    for k in 0..p {
                        row[k + 1] += grad_row[p - 1 - k];
                        row[w - 2 - k] += grad_row[p + w + k];
                    }
                }
            });
        x_grad
    }
}

#[derive(Debug)]
struct PadBackward;

impl Backward<Flex, 1> for PadBackward {
    type State = ReflectPad;

    fn backward(self, ops: Ops<ReflectPad, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node))
            .expect("the gradient of an f32 output is f32");
        if let Some(node) = node_x {
            let geometry = ops.state;
            let values = geometry.backward(f32_slice(&grad));
            let x_grad = FlexTensor::from_data(TensorData::new(values, geometry.dims.to_vec()));
            grads.register::<Flex>(node.id, x_grad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::reflect_pad_burn;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn padding_and_its_gradient_equal_burns() {
        let device = Device::flex().autodiff();
        for (pad, h, w) in [(1, 5, 7), (3, 4, 9), (2, 3, 3), (3, 130, 4)] {
            let x = Tensor::<4>::random([2, 3, h, w], Distribution::Normal(0., 1.), &device)
                .require_grad();
            let weights = Tensor::<4>::random(
                [2, 3, h + 2 * pad, w + 2 * pad],
                Distribution::Normal(0., 1.),
                &device,
            );
            let want = reflect_pad_burn(x.clone(), pad);
            let got = reflect_pad_cpu_autodiff(&x, pad).expect("flex autodiff");
            assert_eq!(got.to_data(), want.to_data(), "pad {pad} on {h}x{w}");
            let want_grad = x.grad(&(want * weights.clone()).sum().backward()).unwrap();
            let got_grad = x.grad(&(got * weights).sum().backward()).unwrap();
            got_grad
                .into_data()
                .assert_approx_eq::<f32>(&want_grad.into_data(), Tolerance::absolute(1e-5));
        }
        let plain = Tensor::<4>::zeros([1, 1, 3, 3], &Device::flex());
        assert!(reflect_pad_cpu_autodiff(&plain, 1).is_none());
    }
}
