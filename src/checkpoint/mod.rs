//! Loading and saving MUNIT weights.
//!
//! - Official checkpoints (`gen_XXXXXXXX.pt`, released `edges2shoes.pt`, `dis_XXXXXXXX.pt`):
//!   `{'a': state_dict, 'b': state_dict}` in PyTorch's zip or legacy pickle format, read by a
//!   restricted pickle interpreter that never runs code ([`pickle`]).
//! - The native model folder: `model.safetensors` (keys `a.<official key>`, `b.<official key>`)
//!   next to the `config.yaml` it was trained with.

pub mod pickle;
pub mod run;
pub mod torch;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::prelude::Device;

use crate::Domain;
use crate::config::{Config, ConfigError};
use crate::io::atomic::write_atomic;
use crate::model::{Generator, MsImageDis, NamedParams, NamedTensors, ParamError};
use torch::{Object, TorchError};

/// File name of the weights inside a native model folder.
pub const NATIVE_WEIGHTS: &str = "model.safetensors";
/// File name of the configuration inside a native model folder.
pub const NATIVE_CONFIG: &str = "config.yaml";

/// Why weights could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Torch { path: PathBuf, source: TorchError },
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("{path}: domain {domain}: {source}")]
    Param {
        path: PathBuf,
        domain: Domain,
        source: ParamError,
    },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path} already exists; choose another folder or remove it first")]
    Exists { path: PathBuf },
}

/// A state dict: official key -> (shape, row-major values).
pub type StateDict = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Both domains' state dicts of one checkpoint file.
#[derive(Debug, Clone)]
pub struct DomainPair {
    pub a: StateDict,
    pub b: StateDict,
}

/// What kind of MUNIT file a checkpoint is, judged from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Generators,
    Discriminators,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Generators => "a generator checkpoint (gen_XXXXXXXX.pt)",
            Kind::Discriminators => "a discriminator checkpoint (dis_XXXXXXXX.pt)",
        }
    }
}

/// Reads an official `.pt` file and returns both domains' state dicts, after checking that it
/// is a file of the `expected` kind. PyTorch-0.3-era instance-norm statistics and AdaIN's unused
/// running buffers are dropped here.
pub fn read_official(path: &Path, expected: Kind) -> Result<DomainPair, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let root = torch::read_torch(&bytes).map_err(|source| CheckpointError::Torch {
        path: path.to_path_buf(),
        source,
    })?;
    let layout = |message: String| CheckpointError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let found = classify(&root).map_err(layout)?;
    if found != expected {
        return Err(layout(format!(
            "this is {}, but {} is needed here",
            found.describe(),
            expected.describe()
        )));
    }
    let domain = |name: &str| -> Result<StateDict, CheckpointError> {
        let dict = root.get(name).expect("classified");
        state_dict(dict).map_err(|m| layout(format!("domain {name}: {m}")))
    };
    Ok(DomainPair {
        a: domain("a")?,
        b: domain("b")?,
    })
}

/// Decides what a decoded `.pt` object is, with an error that says what it is otherwise.
fn classify(root: &Object) -> Result<Kind, String> {
    let Some(keys) = root.dict_keys() else {
        return Err(format!(
            "holds {}, not the {{'a': ..., 'b': ...}} dict of a MUNIT checkpoint",
            root.describe()
        ));
    };
    let has = |k: &str| keys.iter().any(|x| x == k);
    let is_optimizer = |o: &Object| o.get("state").is_some() && o.get("param_groups").is_some();
    if is_optimizer(root) {
        return Err("this is an optimizer state, not model weights".into());
    }
    if has("gen") && has("dis") {
        let optim = root.get("gen").is_some_and(is_optimizer);
        return Err(if optim {
            "this is an optimizer state file (optimizer.pt: Adam states of 'gen' and 'dis'), not a \
             generator checkpoint; pass a gen_XXXXXXXX.pt file"
                .into()
        } else {
            "holds 'gen' and 'dis' entries, not the {'a': ..., 'b': ...} layout of a MUNIT checkpoint"
                .into()
        });
    }
    let kind_of = |o: &Object| -> Option<Kind> {
        let keys = o.dict_keys()?;
        if keys
            .iter()
            .any(|k| k.starts_with("enc_style.") || k.starts_with("dec."))
        {
            Some(Kind::Generators)
        } else if keys.iter().any(|k| k.starts_with("cnns.")) {
            Some(Kind::Discriminators)
        } else {
            None
        }
    };
    match (root.get("a"), root.get("b")) {
        (Some(a), Some(b)) => match (kind_of(a), kind_of(b)) {
            (Some(ka), Some(kb)) if ka == kb => Ok(ka),
            _ => Err(format!(
                "entries 'a' and 'b' hold {} and {}, not MUNIT generator or discriminator weights",
                a.describe(),
                b.describe()
            )),
        },
        (Some(_), None) | (None, Some(_)) => Err(format!(
            "holds only domain '{}'; a MUNIT checkpoint holds both domains' networks ('a' and 'b')",
            if has("a") { "a" } else { "b" }
        )),
        (None, None) => match kind_of(root) {
            Some(kind) => Err(format!(
                "holds a single network's state_dict ({}); a MUNIT checkpoint is a dict of both \
                 domains' networks, {{'a': ..., 'b': ...}}",
                kind.describe()
            )),
            None => Err(format!(
                "not a MUNIT checkpoint: its top-level keys are {}",
                preview(&keys)
            )),
        },
    }
}

fn preview(keys: &[String]) -> String {
    let shown: Vec<String> = keys.iter().take(6).map(|k| format!("'{k}'")).collect();
    let more = keys.len().saturating_sub(6);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Keys that official checkpoints carry but no computation uses.
fn is_ignored_key(key: &str) -> bool {
    let buffer = key.ends_with(".running_mean")
        || key.ends_with(".running_var")
        || key.ends_with(".num_batches_tracked");
    // PyTorch-0.3 instance-norm statistics in the content encoder, AdaIN's dummy buffers.
    buffer && key.contains(".norm.") && (key.starts_with("enc_content.") || key.starts_with("dec."))
}

fn state_dict(dict: &Object) -> Result<StateDict, String> {
    let Object::Dict(items) = dict else {
        return Err(format!("holds {}, not a state_dict", dict.describe()));
    };
    let mut out = StateDict::new();
    for (k, v) in items {
        let Object::Str(key) = k else {
            return Err(format!("has a non-string key {k:?}"));
        };
        if is_ignored_key(key) {
            continue;
        }
        match v {
            Object::Tensor(t) => {
                out.insert(key.clone(), (t.shape.clone(), t.data.clone()));
            }
            other => return Err(format!("`{key}` holds {}, not a tensor", other.describe())),
        }
    }
    Ok(out)
}

/// Builds one domain's generator from its state dict, checking every key and shape.
pub fn generator_from_state_dict(
    config: &Config,
    domain: Domain,
    tensors: StateDict,
    device: &Device,
    path: &Path,
) -> Result<Generator, CheckpointError> {
    let err = |source| CheckpointError::Param {
        path: path.to_path_buf(),
        domain,
        source,
    };
    let mut source = NamedTensors::new(tensors);
    let generator = Generator::new(
        &config.generator,
        config.input_dim(domain),
        &mut source,
        device,
    )
    .map_err(err)?;
    source.finish().map_err(err)?;
    Ok(generator)
}

/// Builds one domain's discriminator from its state dict, checking every key and shape.
pub fn discriminator_from_state_dict(
    config: &Config,
    domain: Domain,
    tensors: StateDict,
    device: &Device,
    path: &Path,
) -> Result<MsImageDis, CheckpointError> {
    let err = |source| CheckpointError::Param {
        path: path.to_path_buf(),
        domain,
        source,
    };
    let mut source = NamedTensors::new(tensors);
    let dis = MsImageDis::new(
        &config.discriminator,
        config.input_dim(domain),
        &mut source,
        device,
    )
    .map_err(err)?;
    source.finish().map_err(err)?;
    Ok(dis)
}

/// Both generators of a model.
#[derive(Debug)]
pub struct GeneratorPair {
    pub a: Generator,
    pub b: Generator,
}

impl GeneratorPair {
    pub fn get(&self, domain: Domain) -> &Generator {
        match domain {
            Domain::A => &self.a,
            Domain::B => &self.b,
        }
    }
}

/// Loads both generators from an official `.pt` file or a native `.safetensors` file.
pub fn load_generators(
    config: &Config,
    path: &Path,
    device: &Device,
) -> Result<GeneratorPair, CheckpointError> {
    let pair = if is_safetensors(path)? {
        read_native(path)?
    } else {
        read_official(path, Kind::Generators)?
    };
    Ok(GeneratorPair {
        a: generator_from_state_dict(config, Domain::A, pair.a, device, path)?,
        b: generator_from_state_dict(config, Domain::B, pair.b, device, path)?,
    })
}

/// Loads both discriminators from an official `dis_XXXXXXXX.pt`.
pub fn load_discriminators(
    config: &Config,
    path: &Path,
    device: &Device,
) -> Result<[MsImageDis; 2], CheckpointError> {
    let pair = read_official(path, Kind::Discriminators)?;
    Ok([
        discriminator_from_state_dict(config, Domain::A, pair.a, device, path)?,
        discriminator_from_state_dict(config, Domain::B, pair.b, device, path)?,
    ])
}

/// A model folder or a config + checkpoint pair, resolved to both files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
}

impl ModelFiles {
    /// A native model folder (`config.yaml` + `model.safetensors`), or a training run folder
    /// (`config.yaml` + `checkpoints/`: its latest complete checkpoint).
    pub fn from_folder(dir: &Path) -> Result<Self, CheckpointError> {
        let checkpoints = dir.join(run::CHECKPOINT_DIR);
        if checkpoints.is_dir() && !dir.join(NATIVE_WEIGHTS).is_file() {
            let manifest =
                run::latest_complete(&checkpoints).ok_or_else(|| CheckpointError::Layout {
                    path: dir.to_path_buf(),
                    message: "is a run folder without a complete checkpoint".into(),
                })?;
            return Ok(Self {
                config: dir.join(NATIVE_CONFIG),
                weights: checkpoints.join(run::gen_name(manifest.iteration)),
            });
        }
        let files = Self {
            config: dir.join(NATIVE_CONFIG),
            weights: dir.join(NATIVE_WEIGHTS),
        };
        for f in [&files.config, &files.weights] {
            if !f.is_file() {
                return Err(CheckpointError::Layout {
                    path: dir.to_path_buf(),
                    message: format!(
                        "not a model folder: {} is missing",
                        f.file_name().unwrap().to_string_lossy()
                    ),
                });
            }
        }
        Ok(files)
    }

    /// Loads the config and both generators.
    pub fn load(&self, device: &Device) -> Result<(Config, GeneratorPair), CheckpointError> {
        let config = Config::load(&self.config)?.config;
        let gens = load_generators(&config, &self.weights, device)?;
        Ok((config, gens))
    }
}

fn is_safetensors(path: &Path) -> Result<bool, CheckpointError> {
    if path.extension().is_some_and(|e| e == "safetensors") {
        return Ok(true);
    }
    if path.is_dir() {
        return Err(CheckpointError::Layout {
            path: path.to_path_buf(),
            message: "is a folder; pass a model folder with --model, or a .pt/.safetensors file"
                .into(),
        });
    }
    Ok(false)
}

/// Reads a native weights file: keys `a.<official key>` and `b.<official key>`, f32 or f16.
pub fn read_native(path: &Path) -> Result<DomainPair, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| CheckpointError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut pair = DomainPair {
        a: StateDict::new(),
        b: StateDict::new(),
    };
    for (name, view) in st.tensors() {
        let values: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::F16 => view
                .data()
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32())
                .collect(),
            other => return Err(bad(format!("`{name}` has unsupported dtype {other:?}"))),
        };
        let entry = (view.shape().to_vec(), values);
        if let Some(key) = name.strip_prefix("a.") {
            pair.a.insert(key.to_string(), entry);
        } else if let Some(key) = name.strip_prefix("b.") {
            pair.b.insert(key.to_string(), entry);
        } else {
            return Err(bad(format!("`{name}` belongs to neither domain a nor b")));
        }
    }
    if pair.a.is_empty() || pair.b.is_empty() {
        return Err(bad(
            "it must hold both domains' generators (a.* and b.*)".into()
        ));
    }
    Ok(pair)
}

/// Storage precision of native weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

/// Serialises both domains' state dicts to safetensors bytes.
pub fn native_bytes(pair: &DomainPair, precision: Precision) -> Vec<u8> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (prefix, dict) in [("a", &pair.a), ("b", &pair.b)] {
        for (key, (shape, values)) in dict {
            let bytes = match precision {
                Precision::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Precision::F16 => values
                    .iter()
                    .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                    .collect(),
            };
            buffers.push((format!("{prefix}.{key}"), shape.clone(), bytes));
        }
    }
    let dtype = match precision {
        Precision::F32 => safetensors::Dtype::F32,
        Precision::F16 => safetensors::Dtype::F16,
    };
    let views: Vec<(String, safetensors::tensor::TensorView)> = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)
                .expect("shape matches data");
            (name.clone(), view)
        })
        .collect();
    let metadata = HashMap::from([("format".to_string(), "stylespace-munit".to_string())]);
    safetensors::serialize(views, Some(metadata)).expect("serialisable")
}

/// The state dict of a built generator, under official keys.
pub fn generator_state_dict(generator: &Generator) -> StateDict {
    let mut dict = StateDict::new();
    generator.visit_params("", &mut |key, shape, values| {
        dict.insert(key, (shape, values));
    });
    dict
}

/// Writes a native model folder (`config.yaml` + `model.safetensors`), each file atomically.
/// Refuses to touch an existing non-empty folder.
pub fn save_native(
    dir: &Path,
    config: &Config,
    pair: &DomainPair,
    precision: Precision,
) -> Result<(), CheckpointError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Write { path, source }
    };
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(write_err(dir))?
            .next()
            .is_some()
    {
        return Err(CheckpointError::Exists {
            path: dir.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let weights = dir.join(NATIVE_WEIGHTS);
    write_atomic(&weights, &native_bytes(pair, precision), false).map_err(write_err(&weights))?;
    let config_path = dir.join(NATIVE_CONFIG);
    write_atomic(&config_path, config.to_yaml().as_bytes(), false)
        .map_err(write_err(&config_path))?;
    Ok(())
}
