//! Where a model's parameters come from while it is built.
//!
//! Every module is built by asking a [`ParamSource`] for each parameter under its official
//! PyTorch key (`enc_style.model.0.conv.weight`, ...) with the shape the architecture needs.
//! One construction path therefore serves random initialisation, official checkpoints and the
//! native safetensors format, and a checkpoint is validated key by key and shape by shape.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

/// How a freshly initialised parameter is drawn (official MUNIT initialisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Kaiming-normal, fan-in mode, gain sqrt(2): N(0, 2 / fan_in).
    KaimingNormal { fan_in: usize },
    /// N(0, std^2) (the discriminators use std 0.02).
    Normal { std: f64 },
    /// U[0, 1) (MUNIT's LayerNorm gamma).
    Uniform01,
    /// A constant (biases 0, PReLU slope 0.25).
    Constant(f32),
}

/// Why a parameter could not be supplied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("missing key `{key}` (expected shape {expected:?})")]
    Missing { key: String, expected: Vec<usize> },
    #[error(
        "shape mismatch for `{key}`: the model needs {expected:?}, the checkpoint has {found:?}"
    )]
    Shape {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("unexpected key{} {}", if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))]
    Unexpected(Vec<String>),
    #[error("`{key}` holds a non-finite value (NaN or infinity)")]
    NonFinite { key: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Supplies the values of parameters by key.
pub trait ParamSource {
    /// The row-major values of parameter `key`, which must have exactly `shape`.
    fn values(&mut self, key: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, ParamError>;
}

/// Builds a parameter tensor from a source.
pub fn param<const D: usize>(
    source: &mut dyn ParamSource,
    key: &str,
    shape: [usize; D],
    init: Init,
    device: &Device,
) -> Result<Param<Tensor<D>>, ParamError> {
    let values = source.values(key, &shape, init)?;
    let tensor = Tensor::<D>::from_data(TensorData::new(values, shape), device);
    Ok(Param::from_tensor(tensor))
}

/// The bias `{prefix}.bias` of a layer with `n` outputs (initialised to 0).
pub fn bias(
    source: &mut dyn ParamSource,
    prefix: &str,
    n: usize,
    device: &Device,
) -> Result<Param<Tensor<1>>, ParamError> {
    param(
        source,
        &format!("{prefix}.bias"),
        [n],
        Init::Constant(0.0),
        device,
    )
}

/// `prefix.name`, or `name` for the empty prefix (state-dict keys of submodules).
pub fn join_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Draws every parameter from its initialiser with a seeded RNG.
pub struct RandomInit {
    rng: StdRng,
}

impl RandomInit {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl ParamSource for RandomInit {
    fn values(&mut self, _key: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, ParamError> {
        let n: usize = shape.iter().product();
        let normal = |std: f64, rng: &mut StdRng| {
            let dist = Normal::new(0.0, std).expect("finite std");
            (0..n).map(|_| dist.sample(rng) as f32).collect()
        };
        Ok(match init {
            Init::KaimingNormal { fan_in } => {
                normal((2.0 / fan_in.max(1) as f64).sqrt(), &mut self.rng)
            }
            Init::Normal { std } => normal(std, &mut self.rng),
            Init::Uniform01 => (0..n).map(|_| self.rng.random::<f32>()).collect(),
            Init::Constant(c) => vec![c; n],
        })
    }
}

/// Serves parameters from a map of named tensors (a checkpoint), checking shapes. Each value is
/// moved out when asked for (a checkpoint's tensors are never held twice), so what is left at
/// the end are the keys no parameter asked for.
pub struct NamedTensors {
    tensors: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl NamedTensors {
    pub fn new(tensors: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>) -> Self {
        Self { tensors }
    }

    /// Fails with the keys that no parameter asked for.
    pub fn finish(self) -> Result<(), ParamError> {
        let unused: Vec<String> = self.tensors.into_keys().collect();
        if unused.is_empty() {
            Ok(())
        } else {
            Err(ParamError::Unexpected(unused))
        }
    }
}

impl ParamSource for NamedTensors {
    fn values(&mut self, key: &str, shape: &[usize], _init: Init) -> Result<Vec<f32>, ParamError> {
        let (found, values) = self
            .tensors
            .remove(key)
            .ok_or_else(|| ParamError::Missing {
                key: key.to_string(),
                expected: shape.to_vec(),
            })?;
        // PyTorch stores 0-d/1-element parameters (PReLU) as [1]; compare element layouts.
        if found.as_slice() != shape {
            return Err(ParamError::Shape {
                key: key.to_string(),
                expected: shape.to_vec(),
                found,
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ParamError::NonFinite {
                key: key.to_string(),
            });
        }
        Ok(values)
    }
}

/// Something that can list its parameters under their official keys (for saving).
pub trait NamedParams {
    /// Calls `visit(key, shape, values)` for every parameter, in state-dict order.
    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(String, Vec<usize>, Vec<f32>));
}

/// Reads a parameter back to the host as (shape, values).
pub fn param_values<const D: usize>(p: &Param<Tensor<D>>) -> (Vec<usize>, Vec<f32>) {
    let tensor = p.val();
    (tensor.dims().to_vec(), to_vec(tensor))
}

/// A tensor of standard normal values drawn from a seeded RNG on the host: the same values on
/// every device (for tests that compare two devices' results).
#[cfg(test)]
pub(crate) fn seeded_normal<const D: usize>(
    shape: [usize; D],
    seed: u64,
    device: &Device,
) -> Tensor<D> {
    use rand_distr::StandardNormal;
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The largest absolute difference between two equally long value lists (for tests).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared lists differ in length");
    a.iter().zip(b).fold(0f32, |m, (a, b)| m.max((a - b).abs()))
}

/// Copies a float tensor's values to the host, row-major.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensors convert to f32")
}
