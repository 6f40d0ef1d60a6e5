//! Checks a loaded model against a parity reference: a folder made by running the official code
//! (MUNIT, DRIT++ or UNIT) on seeded weights, holding the checkpoint, the two input images
//! `a.png`, `b.png` and `expected.safetensors` (every tensor the official code computed; each
//! reference's README names them). The parity tests use it on the CPU and on wgpu, and
//! `stylespace check-reference` on any device, so a new GPU, driver or kernel can be checked
//! against PyTorch's numbers where no Rust toolchain is installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;

use super::{EngineError, Family, Model, StyleCode};
use crate::Domain;
use crate::checkpoint::{Networks, load_discriminators};
use crate::config::{Config, ConfigError, ConfigFamily};
use crate::io::image::{ModelImage, load_image};
use crate::model::params::to_vec;

/// Why a reference could not be checked (a mismatch in numbers is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error(
        "{0} is not a parity reference: it needs expected.safetensors beside the checkpoint \
         (drit.pth, or gen.pt with config.yaml)"
    )]
    NotAReference(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Expected { path: PathBuf, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One expected tensor compared with ours.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    pub name: String,
    pub values: usize,
    /// Largest |ours - official| over the tensor's values.
    pub max_abs_diff: f32,
}

/// Every tensor of a reference, in the order checked.
#[derive(Debug, Clone)]
pub struct ReferenceReport {
    pub family: Family,
    pub checkpoint: PathBuf,
    pub checks: Vec<TensorCheck>,
    /// Expected tensors this family's check does not know (none for the official references).
    pub unchecked: Vec<String>,
}

impl ReferenceReport {
    /// The largest difference over all tensors.
    pub fn worst(&self) -> f32 {
        self.checks
            .iter()
            .map(|c| c.max_abs_diff)
            .fold(0.0, f32::max)
    }

    /// The tensors whose difference exceeds `tolerance` (a NaN always does).
    pub fn failures(&self, tolerance: f32) -> Vec<&TensorCheck> {
        self.checks
            .iter()
            .filter(|c| c.max_abs_diff.is_nan() || c.max_abs_diff > tolerance)
            .collect()
    }
}

/// `name -> (shape, values)` of an `expected.safetensors` (float32 tensors only).
pub type Expected = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads every tensor of a reference's `expected.safetensors`.
pub fn read_expected(path: &Path) -> Result<Expected, ReferenceError> {
    let bytes = std::fs::read(path).map_err(|source| ReferenceError::Read {
        path: path.into(),
        source,
    })?;
    let bad = |reason: String| ReferenceError::Expected {
        path: path.into(),
        reason,
    };
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = Expected::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(bad(format!("{name} is {:?}, not F32", view.dtype())));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Compares ours with the expected tensors by name, collecting the results.
struct Checker<'a> {
    expected: &'a Expected,
    path: &'a Path,
    checks: Vec<TensorCheck>,
    /// Expected tensors used as inputs (drawn codes, noise), not compared.
    inputs: Vec<String>,
}

impl Checker<'_> {
    fn get(&self, name: &str) -> Result<&(Vec<usize>, Vec<f32>), ReferenceError> {
        self.expected
            .get(name)
            .ok_or_else(|| ReferenceError::Expected {
                path: self.path.into(),
                reason: format!("has no tensor {name}"),
            })
    }

    fn check(&mut self, name: &str, actual: &[f32]) -> Result<(), ReferenceError> {
        let (_, want) = self.get(name)?;
        if want.len() != actual.len() {
            return Err(ReferenceError::Expected {
                path: self.path.into(),
                reason: format!(
                    "{name} has {} values, the model computed {}",
                    want.len(),
                    actual.len()
                ),
            });
        }
        let max_abs_diff = actual
            .iter()
            .zip(want)
            // NaN must not vanish in a max: it becomes infinity.
            .map(|(x, y)| {
                let d = (x - y).abs();
                if d.is_nan() { f32::INFINITY } else { d }
            })
            .fold(0.0, f32::max);
        self.checks.push(TensorCheck {
            name: name.into(),
            values: want.len(),
            max_abs_diff,
        });
        Ok(())
    }
}

/// Loads the reference's checkpoint (`checkpoint`, a file name in `dir`; by default `drit.pth`,
/// else `gen.pt` with `config.yaml`) on `device` and compares every tensor of
/// `expected.safetensors` that the family's reference defines.
pub fn check_reference(
    dir: &Path,
    checkpoint: Option<&str>,
    device: &Device,
) -> Result<ReferenceReport, ReferenceError> {
    let expected_path = dir.join("expected.safetensors");
    let config_path = dir.join("config.yaml");
    let checkpoint = match checkpoint {
        Some(name) => dir.join(name),
        None if dir.join("drit.pth").is_file() => dir.join("drit.pth"),
        None => dir.join("gen.pt"),
    };
    if !expected_path.is_file() || !checkpoint.is_file() {
        return Err(ReferenceError::NotAReference(dir.into()));
    }
    let config = if config_path.is_file() {
        Some(Config::load(&config_path)?.config)
    } else {
        None
    };
    let expected = read_expected(&expected_path)?;
    let mut model = Model::load(config.clone(), &checkpoint, device)?;
    if model.family() == Family::Drit {
        // The DRIT references feed their 64 px PNGs as they are: no resize, no crop.
        model.set_resize_crop(Some(0), Some(0))?;
    }
    let mut checker = Checker {
        expected: &expected,
        path: &expected_path,
        checks: Vec::new(),
        inputs: Vec::new(),
    };
    let mut inputs = Vec::new();
    for (file, name, domain) in [("a.png", "x_a", Domain::A), ("b.png", "x_b", Domain::B)] {
        let img = load_image(&dir.join(file)).map_err(EngineError::from)?;
        let prepared = model.prepare(&img, domain, file)?;
        checker.check(name, &prepared.data)?;
        inputs.push(prepared);
    }
    match (model.family(), &config) {
        (Family::Unit, Some(config)) => check_unit(&model, config, dir, &inputs, &mut checker)?,
        _ => check_styled(&model, dir, &inputs, &mut checker)?,
    }
    let used = |name: &String| {
        checker.inputs.contains(name) || checker.checks.iter().any(|c| &c.name == name)
    };
    let unchecked = expected.keys().filter(|n| !used(n)).cloned().collect();
    Ok(ReferenceReport {
        family: model.family(),
        checkpoint,
        checks: checker.checks,
        unchecked,
    })
}

/// MUNIT and DRIT++: content and style (attribute) codes, decodes with drawn codes, with each
/// other's codes and the within-domain reconstruction.
fn check_styled(
    model: &Model,
    dir: &Path,
    inputs: &[ModelImage],
    checker: &mut Checker,
) -> Result<(), ReferenceError> {
    let (img_a, img_b) = (&inputs[0], &inputs[1]);
    let content_a = model.encode_content(Domain::A, model.tensor(img_a));
    let content_b = model.encode_content(Domain::B, model.tensor(img_b));
    checker.check("content_a", &to_vec(content_a.clone()))?;
    checker.check("content_b", &to_vec(content_b.clone()))?;
    let style = |domain, img| -> Result<StyleCode, ReferenceError> {
        model
            .style(domain, img)
            .ok_or_else(|| ReferenceError::NotAReference(dir.into()))
    };
    let (style_a, style_b) = (style(Domain::A, img_a)?, style(Domain::B, img_b)?);
    let style_dim = style_a.code.len();
    let codes: Vec<Vec<f32>> = match &model.networks {
        Networks::Munit { gens, .. } => {
            checker.check("style_a", &style_a.code)?;
            checker.check("style_b", &style_b.code)?;
            let codes = codes_of(checker, "styles", style_dim)?;
            let batch = Tensor::from_data(
                TensorData::new(codes.concat(), [codes.len(), style_dim]),
                &model.device,
            );
            checker.check("adain_params_b", &to_vec(gens.b.adain_params(batch)))?;
            codes
        }
        _ => {
            if let Some(logvar_a) = &style_a.logvar {
                checker.check("mu_a", &style_a.code)?;
                checker.check("mu_b", &style_b.code)?;
                checker.check("logvar_a", logvar_a)?;
                checker.check("logvar_b", style_b.logvar.as_deref().unwrap_or_default())?;
            } else {
                checker.check("attr_a", &style_a.code)?;
                checker.check("attr_b", &style_b.code)?;
            }
            codes_of(checker, "z", style_dim)?
        }
    };
    let decode = |target, content: &Tensor<4>, code: &[f32]| -> Result<Vec<f32>, EngineError> {
        Ok(to_vec(model.decode(target, content.clone(), Some(code))?))
    };
    for (i, code) in codes.iter().enumerate() {
        checker.check(&format!("x_ab_{i}"), &decode(Domain::B, &content_a, code)?)?;
        checker.check(&format!("x_ba_{i}"), &decode(Domain::A, &content_b, code)?)?;
    }
    checker.check("x_ab_ref", &decode(Domain::B, &content_a, &style_b.code)?)?;
    checker.check("x_ba_ref", &decode(Domain::A, &content_b, &style_a.code)?)?;
    checker.check("x_aa", &decode(Domain::A, &content_a, &style_a.code)?)?;
    Ok(())
}

/// The codes of an input tensor of the reference, marked as used.
fn codes_of(
    checker: &mut Checker,
    name: &str,
    style_dim: usize,
) -> Result<Vec<Vec<f32>>, ReferenceError> {
    let (shape, values) = checker.get(name)?;
    // `[n, style_dim]`, or MUNIT's `[n, style_dim, 1, 1]`.
    let per_code: usize = shape.iter().skip(1).product();
    if style_dim == 0 || shape.len() < 2 || per_code != style_dim || values.is_empty() {
        return Err(ReferenceError::Expected {
            path: checker.path.into(),
            reason: format!("{name} has shape {shape:?}, not [n, {style_dim}]"),
        });
    }
    let codes = values.chunks(style_dim).map(<[f32]>::to_vec).collect();
    checker.inputs.push(name.into());
    Ok(codes)
}

/// UNIT: shared latents, the four translations, the cycle, a decode with the reference's
/// noise, and (when `dis.pt` is there) discriminator B's outputs.
fn check_unit(
    model: &Model,
    config: &Config,
    dir: &Path,
    inputs: &[ModelImage],
    checker: &mut Checker,
) -> Result<(), ReferenceError> {
    debug_assert_eq!(config.family(), ConfigFamily::Unit);
    let h_a = model.encode_content(Domain::A, model.tensor(&inputs[0]));
    let h_b = model.encode_content(Domain::B, model.tensor(&inputs[1]));
    checker.check("h_a", &to_vec(h_a.clone()))?;
    checker.check("h_b", &to_vec(h_b.clone()))?;
    let dec = |target, h: Tensor<4>| model.decode(target, h, None);
    let x_ab = dec(Domain::B, h_a.clone())?;
    checker.check("x_ab", &to_vec(x_ab.clone()))?;
    checker.check("x_ba", &to_vec(dec(Domain::A, h_b.clone())?))?;
    checker.check("x_aa", &to_vec(dec(Domain::A, h_a.clone())?))?;
    checker.check("x_bb", &to_vec(dec(Domain::B, h_b)?))?;
    let x_aba = dec(Domain::A, model.encode_content(Domain::B, x_ab.clone()))?;
    checker.check("x_aba", &to_vec(x_aba))?;
    let (shape, noise) = checker.get("noise")?.clone();
    checker.inputs.push("noise".into());
    let shape: [usize; 4] = shape
        .as_slice()
        .try_into()
        .map_err(|_| ReferenceError::Expected {
            path: checker.path.into(),
            reason: format!("noise has shape {shape:?}, not 4-d"),
        })?;
    if shape.iter().product::<usize>() != noise.len() {
        return Err(ReferenceError::Expected {
            path: checker.path.into(),
            reason: format!("noise has {} values for shape {shape:?}", noise.len()),
        });
    }
    let noise = Tensor::from_data(TensorData::new(noise, shape), &model.device);
    checker.check("x_ab_noise", &to_vec(dec(Domain::B, h_a + noise)?))?;
    let dis_path = dir.join("dis.pt");
    if dis_path.is_file() {
        let [_, dis_b] =
            load_discriminators(config, &dis_path, &model.device).map_err(EngineError::from)?;
        let outputs: Vec<f32> = dis_b.forward(x_ab).into_iter().flat_map(to_vec).collect();
        checker.check("dis_b_x_ab", &outputs)?;
    }
    Ok(())
}
