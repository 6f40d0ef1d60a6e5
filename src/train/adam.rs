//! Adam with PyTorch's semantics (`torch.optim.Adam`): coupled L2 weight decay added to the
//! gradient, bias-corrected moments, `eps` added to the corrected square root. The state is kept
//! per parameter in module-visit order, so it can be saved and restored exactly for `--resume`.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{Gradients, TensorData};

use crate::checkpoint::StateDict;
use crate::model::params::to_vec;

/// Adam hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// Optimiser state: step count and first/second moments per parameter (flattened).
#[derive(Debug, Clone, Default)]
pub struct AdamState {
    pub step: u64,
    pub moments: Vec<Option<(Tensor<1>, Tensor<1>)>>,
}

pub struct Adam {
    pub config: AdamConfig,
    pub state: AdamState,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            state: AdamState::default(),
        }
    }

    /// One update of every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: &Gradients) -> M {
        self.state.step += 1;
        let mut mapper = Mapper {
            adam: self,
            lr,
            grads,
            index: 0,
        };
        module.map(&mut mapper)
    }

    /// The state as named host arrays (`m.<i>`, `v.<i>`) plus the step count.
    pub fn export(&self) -> (u64, StateDict) {
        let mut out = StateDict::new();
        for (i, entry) in self.state.moments.iter().enumerate() {
            if let Some((m, v)) = entry {
                let n = m.dims()[0];
                out.insert(format!("m.{i:05}"), (vec![n], to_vec(m.clone())));
                out.insert(format!("v.{i:05}"), (vec![n], to_vec(v.clone())));
            }
        }
        (self.state.step, out)
    }

    /// Restores state written by [`Adam::export`] onto `device` (the inner, non-autodiff one).
    pub fn import(&mut self, step: u64, arrays: &StateDict, device: &Device) -> Result<(), String> {
        let mut moments: Vec<Option<(Tensor<1>, Tensor<1>)>> = Vec::new();
        for (key, (shape, values)) in arrays {
            let Some(index) = key.strip_prefix("m.") else {
                continue;
            };
            let i: usize = index.parse().map_err(|_| format!("bad key {key}"))?;
            let (_, v_values) = arrays
                .get(&format!("v.{index}"))
                .ok_or_else(|| format!("m.{index} has no v.{index}"))?;
            if moments.len() <= i {
                moments.resize(i + 1, None);
            }
            let tensor = |vals: &Vec<f32>| {
                Tensor::<1>::from_data(TensorData::new(vals.clone(), [shape[0]]), device)
            };
            moments[i] = Some((tensor(values), tensor(v_values)));
        }
        self.state = AdamState { step, moments };
        Ok(())
    }
}

struct Mapper<'a> {
    adam: &'a mut Adam,
    lr: f64,
    grads: &'a Gradients,
    index: usize,
}

impl ModuleMapper for Mapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let index = self.index;
        self.index += 1;
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let c = self.adam.config;
        let t = self.adam.state.step as i32;
        let (id, value, mapper) = param.consume();
        let shape = value.dims();
        let n: usize = shape.iter().product();
        let p = value.inner().reshape([n]);
        let mut g = grad.reshape([n]);
        if c.weight_decay != 0.0 {
            g = g + p.clone() * c.weight_decay;
        }
        let moments = &mut self.adam.state.moments;
        if moments.len() <= index {
            moments.resize(index + 1, None);
        }
        let (m, v) = match moments[index].take() {
            Some((m, v)) => (
                m * c.beta1 + g.clone() * (1.0 - c.beta1),
                v * c.beta2 + g.clone() * g * (1.0 - c.beta2),
            ),
            None => (g.clone() * (1.0 - c.beta1), g.clone() * g * (1.0 - c.beta2)),
        };
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        let denom = v.clone().sqrt() / bias2.sqrt() + c.eps;
        let updated = p - m.clone() / denom * (self.lr / bias1);
        moments[index] = Some((m, v));
        let updated = Tensor::from_inner(updated.reshape(shape)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::Conv;
    use crate::model::params::{Init, RandomInit};

    /// Two steps on f(w) = sum(w * c) checked against PyTorch's formulas by hand.
    #[test]
    fn matches_pytorch_adam_with_coupled_weight_decay() {
        let device = Device::flex().autodiff();
        let conv = Conv::new(
            1,
            1,
            1,
            1,
            Init::Constant(0.5),
            &mut RandomInit::new(0),
            "c",
            &device,
        )
        .unwrap();
        let config = AdamConfig {
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut adam = Adam::new(config);
        let mut conv = conv;
        let (mut w, mut m, mut v) = (0.5f64, 0.0f64, 0.0f64);
        for t in 1..=2 {
            let loss = conv.weight.val().sum() * 3.0;
            let grads = loss.backward();
            conv = adam.step(0.01, conv, &grads);
            // Reference: PyTorch Adam on one scalar with gradient 3.
            let g = 3.0 + 0.1 * w;
            m = 0.5 * m + 0.5 * g;
            v = 0.999 * v + 0.001 * g * g;
            let denom = (v.sqrt() / (1.0 - 0.999f64.powi(t)).sqrt()) + 1e-8;
            w -= 0.01 / (1.0 - 0.5f64.powi(t)) * m / denom;
        }
        let got = to_vec(conv.weight.val())[0] as f64;
        assert!((got - w).abs() < 1e-6, "{got} vs {w}");
        // Export and import give the same state back.
        let (step, arrays) = adam.export();
        let mut other = Adam::new(config);
        other.import(step, &arrays, &Device::flex()).unwrap();
        assert_eq!(other.export().1, arrays);
        assert_eq!(other.state.step, 2);
    }
}
