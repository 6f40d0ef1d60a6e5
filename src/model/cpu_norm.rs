//! Instance and layer normalisation with their gradients as one op on burn's CPU backend under
//! autodiff, for training.
//!
//! As burn ops, instance normalisation is seven element-wise and reduction ops (mean, subtract,
//! square, mean, add, square root, divide), each recorded by autodiff with its own backward
//! pass and fresh buffers: fourteen passes over the activation where one forward and one
//! backward pass suffice. Every norm of the content encoders, the AdaIN layers of the decoders
//! and MUNIT's LayerNorms run through it, several times per training step.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::cpu_conv::{contiguous_f32, f32_slice, is_cpu_inference};
use super::cpu_conv_grad::CpuAutodiff;

/// How a normalisation measures the spread `s` of a group (`y = (x - mean) / s`).
#[derive(Clone, Copy, Debug)]
pub enum Spread {
    /// `sqrt(biased variance + eps)`: instance norm (PyTorch's InstanceNorm2d, MUNIT's AdaIN).
    BiasedVariance { eps: f64 },
    /// `unbiased std + eps`: MUNIT's LayerNorm.
    UnbiasedStdPlus { eps: f64 },
}

/// [`normalize_cpu_autodiff`] for inference on burn-flex (no autodiff): one parallel pass per
/// group instead of seven burn ops; `None` elsewhere.
///
/// # Shapes
/// `x`: `[batch, channels, height, width]` -> same; `group` divides its size.
pub fn normalize_cpu(x: &Tensor<4>, group: usize, spread: Spread) -> Option<Tensor<4>> {
    if !is_cpu_inference(&x.device()) {
        return None;
    }
    let flex = x.clone().try_into_primitive::<Flex>().ok()?;
    let values = contiguous_f32(&flex)?;
    let (y, _) = normalize_groups(f32_slice(&values), group, spread);
    Some(Tensor::from_data(TensorData::new(y, x.dims()), &x.device()))
}

/// `(x - mean) / s` over consecutive groups of `group` values (a channel plane for instance norm,
/// a whole sample for MUNIT's LayerNorm) as one autodiff op, for f32 tensors on burn-flex under
/// autodiff without checkpointing; `None` elsewhere (the caller then takes burn's ops).
///
/// # Shapes
/// `x`: `[batch, channels, height, width]` -> same; `group` divides its size.
pub fn normalize_cpu_autodiff(x: &Tensor<4>, group: usize, spread: Spread) -> Option<Tensor<4>> {
    let x_ad = x.clone().try_into_primitive::<CpuAutodiff>().ok()?;
    let values = contiguous_f32(x_ad.primitive())?;
    let (y, factors) = normalize_groups(f32_slice(&values), group, spread);
    let y = FlexTensor::from_data(TensorData::new(y, x.dims()));
    let y = match NormBackward
        .prepare::<NoCheckpointing>([x_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            NormState {
                y: y.clone(),
                factors,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<CpuAutodiff>(y))
}

/// `(x - mean) / s` over consecutive groups of `group` values of `input`, groups in parallel,
/// with every group's factors for the backward pass.
fn normalize_groups(input: &[f32], group: usize, spread: Spread) -> (Vec<f32>, Vec<GroupFactors>) {
    let groups = input.len() / group;
    let mut y = vec![0f32; input.len()];
    let mut factors = vec![GroupFactors::default(); groups];
    y.par_chunks_mut(group)
        .zip(input.par_chunks(group))
        .zip(factors.par_iter_mut())
        .for_each(|((out, x), factors)| {
            let n = x.len() as f64;
            let mean = sum_f64(x, |v| v) / n;
            let squares = sum_f64(x, |v| (v - mean).powi(2));
            let (s, k) = match spread {
                Spread::BiasedVariance { eps } => ((squares / n + eps).sqrt(), 1.0 / n),
                Spread::UnbiasedStdPlus { eps } => {
                    let std = (squares / (n - 1.0).max(1.0)).sqrt();
                    let s = std + eps;
                    // ds/dq = 1 / (2 (n - 1) std) with q the sum of squares; see NormBackward.
                    (
                        s,
                        if std > 0.0 {
                            s / ((n - 1.0).max(1.0) * std)
                        } else {
                            0.0
                        },
                    )
                }
            };
            *factors = GroupFactors {
                inv_s: (1.0 / s) as f32,
                k: k as f32,
            };
            let (mean, inv_s) = (mean as f32, (1.0 / s) as f32);
            out.iter_mut()
                .zip(x)
                .for_each(|(o, &v)| *o = (v - mean) * inv_s);
        });
    (y, factors)
}

/// The sum of `f(value)` over `values` in f64, in eight independent lanes (a single running sum
/// would make every add wait for the previous one; lanes let them vectorise).
#[inline(always)]
fn sum_f64(values: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f64 = chunks.remainder().iter().map(|&v| f(f64::from(v))).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(f64::from(v));
        }
    }
    lanes.iter().sum::<f64>() + rest
}

/// Per group: `1 / s` and the factor `k` of the spread's gradient (see [`NormBackward`]).
#[derive(Clone, Copy, Debug, Default)]
struct GroupFactors {
    inv_s: f32,
    k: f32,
}

/// The normalised output and every group's factors.
#[derive(Clone, Debug)]
struct NormState {
    y: FlexTensor,
    factors: Vec<GroupFactors>,
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 1> for NormBackward {
    type State = NormState;

    /// Per group, `dx = (g - mean(g) - k * y * sum(g * y)) / s`: the mean's gradient centres
    /// `g / s`, and the spread's (through the sum of squares q, `ds/dq = s'`) adds
    /// `-sum(g * d) / s^2 * 2 s' d`, i.e. `k = 2 s s'`: `1 / n` for instance norm,
    /// `s / ((n - 1) std)` for MUNIT's LayerNorm.
    fn backward(self, ops: Ops<NormState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = contiguous_f32(&grads.consume::<Flex>(&ops.node))
            .expect("the gradient of an f32 output is f32");
        let Some(node) = node_x else { return };
        let NormState { y, factors } = ops.state;
        let shape = y.layout().shape().clone();
        let (y, grad) = (f32_slice(&y), f32_slice(&grad));
        let group = y.len() / factors.len();
        let mut x_grad = vec![0f32; y.len()];
        x_grad
            .par_chunks_mut(group)
            .zip(grad.par_chunks(group).zip(y.par_chunks(group)))
            .zip(factors.par_iter())
            .for_each(|((dx, (g, y)), f)| {
                let n = g.len() as f64;
                let mean_g = (g.iter().map(|&v| f64::from(v)).sum::<f64>() / n) as f32;
                let sum_gy = g
                    .iter()
                    .zip(y)
                    .map(|(&g, &y)| f64::from(g) * f64::from(y))
                    .sum::<f64>() as f32;
                let ky = f.k * sum_gy;
                for ((d, &g), &y) in dx.iter_mut().zip(g).zip(y) {
                    *d = f.inv_s * (g - mean_g - ky * y);
                }
            });
        grads.register::<Flex>(
            node.id,
            FlexTensor::from_data(TensorData::new(x_grad, shape)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::{MunitLayerNorm, instance_normalize_burn};
    use crate::model::params::RandomInit;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn normalisation_and_its_gradient_equal_burns() {
        let device = Device::flex().autodiff();
        for (b, c, h, w) in [(1, 3, 5, 7), (2, 4, 9, 1), (3, 2, 16, 16)] {
            let x = (Tensor::<4>::random([b, c, h, w], Distribution::Normal(0., 1.), &device)
                * 3.0
                + 1.5)
                .detach()
                .require_grad();
            let weights = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0., 1.), &device);
            let want = instance_normalize_burn(x.clone());
            let got = normalize_cpu_autodiff(&x, h * w, Spread::BiasedVariance { eps: 1e-5 })
                .expect("flex autodiff");
            got.to_data()
                .assert_approx_eq::<f32>(&want.to_data(), Tolerance::absolute(1e-5));
            let want_grad = x.grad(&(want * weights.clone()).sum().backward()).unwrap();
            let got_grad = x.grad(&(got * weights).sum().backward()).unwrap();
            got_grad
                .into_data()
                .assert_approx_eq::<f32>(&want_grad.into_data(), Tolerance::absolute(1e-4));
        }
        let plain = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex());
        let spread = Spread::BiasedVariance { eps: 1e-5 };
        assert!(normalize_cpu_autodiff(&plain, 4, spread).is_none());
    }

    #[test]
    fn inference_normalisation_equals_burns() {
        let device = Device::flex();
        // Planes shorter and longer than the eight lanes, with a remainder, and a large offset
        // (the mean must not swamp the spread).
        for (b, c, h, w) in [(1, 3, 5, 7), (2, 4, 9, 1), (1, 2, 1, 3), (3, 2, 16, 16)] {
            let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0., 1.), &device) * 3.0
                + 100.0;
            let want = instance_normalize_burn(x.clone());
            let got = normalize_cpu(&x, h * w, Spread::BiasedVariance { eps: 1e-5 })
                .expect("flex inference");
            got.into_data()
                .assert_approx_eq::<f32>(&want.into_data(), Tolerance::absolute(1e-4));
            let norm = MunitLayerNorm::new(c, &mut RandomInit::new(3), "ln", &device).unwrap();
            norm.forward(x.clone()).into_data().assert_approx_eq::<f32>(
                &norm.forward_burn(x).into_data(),
                Tolerance::absolute(1e-4),
            );
        }
        let tracked = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex().autodiff());
        let spread = Spread::BiasedVariance { eps: 1e-5 };
        assert!(
            normalize_cpu(&tracked, 4, spread).is_none(),
            "autodiff: not inference"
        );
    }

    #[test]
    fn layer_norm_and_its_gradient_equal_burns() {
        let device = Device::flex().autodiff();
        for (b, c, h, w) in [(1, 3, 5, 7), (2, 4, 9, 1), (3, 2, 16, 16)] {
            let random = |shape: [usize; 4]| {
                Tensor::<4>::random(shape, Distribution::Normal(0., 1.), &device)
            };
            let x = (random([b, c, h, w]) * 2.0 - 0.5).detach().require_grad();
            let weights = random([b, c, h, w]);
            let mut source = RandomInit::new(3);
            let norm = MunitLayerNorm::new(c, &mut source, "ln", &device).unwrap();
            let want = norm.forward_burn(x.clone());
            let got = norm.forward(x.clone());
            got.to_data()
                .assert_approx_eq::<f32>(&want.to_data(), Tolerance::absolute(1e-5));
            let want_grads = (want * weights.clone()).sum().backward();
            let got_grads = (got * weights).sum().backward();
            let tolerance = Tolerance::absolute(1e-4);
            x.grad(&got_grads)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(&x.grad(&want_grads).unwrap().into_data(), tolerance);
            norm.gamma
                .val()
                .grad(&got_grads)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(
                    &norm.gamma.val().grad(&want_grads).unwrap().into_data(),
                    tolerance,
                );
        }
    }
}
