//! Loading and saving weights of the three model families.
//!
//! - MUNIT and UNIT official checkpoints (`gen_XXXXXXXX.pt`, released `edges2shoes.pt`,
//!   `dis_XXXXXXXX.pt`): `{'a': state_dict, 'b': state_dict}`, with the YAML config they were
//!   trained with. The family is read from the keys (`enc_style`/`enc_content`/`mlp` vs
//!   `enc`/`dec`) and must match the config's.
//! - DRIT++ checkpoints (`NNNNN.pth`, `last.pth`, released `example.pth`): the whole training
//!   state `DRIT.save` writes (`enc_c`, `enc_a`, `gen`, five discriminators, eight Adam states,
//!   `ep`, `total_it`), loaded with no config: the variant comes from the keys, the widths from
//!   the shapes. Only `enc_c`, `enc_a` and `gen` are materialised; the rest is parsed (by the same
//!   restricted reader) and dropped.
//! - All in PyTorch's zip or legacy pickle format, read by a restricted pickle interpreter that
//!   never runs code ([`pickle`]).
//! - The native model folder: `model.safetensors` (MUNIT/UNIT: keys `a.<official key>`,
//!   `b.<official key>`; DRIT: `enc_c.…`, `enc_a.…`, `gen.…`) next to a `config.yaml` (the
//!   official YAML, or [`DritConfig`] for DRIT).

pub mod pickle;
pub mod run;
pub mod torch;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::prelude::Device;

use crate::Domain;
use crate::config::{Config, ConfigError, ConfigFamily, DritConfig, is_drit_config};
use crate::io::atomic::write_atomic;
use crate::model::{
    Drit, DritArch, Generator, MsImageDis, NamedParams, NamedTensors, ParamError, UnitGenerator,
};
use torch::{Object, TorchError};

/// File name of the weights inside a native model folder.
pub const NATIVE_WEIGHTS: &str = "model.safetensors";
/// File name of the (optional) discriminators inside a native model folder: what a training run
/// started from the folder (`train --init`) continues with instead of fresh ones.
pub const NATIVE_DISCRIMINATORS: &str = "discriminators.safetensors";
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
    #[error("{path}: {source}")]
    Drit { path: PathBuf, source: ParamError },
}

/// A state dict: official key -> (shape, row-major values).
pub type StateDict = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Both domains' state dicts of one checkpoint file.
#[derive(Debug, Clone)]
pub struct DomainPair {
    pub a: StateDict,
    pub b: StateDict,
}

/// What kind of file a checkpoint is, judged from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MUNIT `{'a', 'b'}` generators (`enc_style`, `enc_content`, `dec`, `mlp`).
    MunitGenerators,
    /// UNIT `{'a', 'b'}` generators (`enc`, `dec`).
    UnitGenerators,
    /// MUNIT / UNIT `{'a', 'b'}` discriminators (`cnns`).
    Discriminators,
    /// A DRIT++ training state (`enc_c`, `enc_a`, `gen`, ...).
    Drit,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::MunitGenerators => {
                "a MUNIT generator checkpoint (gen_XXXXXXXX.pt: enc_style, enc_content, dec, mlp)"
            }
            Kind::UnitGenerators => "a UNIT generator checkpoint (gen_XXXXXXXX.pt: enc, dec)",
            Kind::Discriminators => "a discriminator checkpoint (dis_XXXXXXXX.pt)",
            Kind::Drit => "a DRIT++ checkpoint (.pth: enc_c, enc_a, gen, ...)",
        }
    }

    /// The generator kind a config of `family` needs.
    pub fn generators_of(family: ConfigFamily) -> Self {
        match family {
            ConfigFamily::Munit => Kind::MunitGenerators,
            ConfigFamily::Unit => Kind::UnitGenerators,
        }
    }
}

/// Top-level entries of a DRIT training state that inference never reads: the discriminators
/// and the Adam states. They are parsed (restricted reader) but their tensors are not read.
fn is_unused_drit_entry(key: &str) -> bool {
    key.ends_with("_opt") || matches!(key, "disA" | "disA2" | "disB" | "disB2" | "disContent")
}

/// Reads and classifies an official checkpoint file (streamed: only the tensors a model needs
/// are read into memory).
fn read_classified(path: &Path) -> Result<(Object, Kind), CheckpointError> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        });
    }
    classified(
        torch::read_torch_file(path, &|key| !is_unused_drit_entry(key)),
        path,
    )
}

/// A read `torch.save` object with its kind, or why it is neither readable nor a known kind.
fn classified(
    read: Result<Object, torch::TorchError>,
    path: &Path,
) -> Result<(Object, Kind), CheckpointError> {
    let root = read.map_err(|source| CheckpointError::Torch {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = classify(&root).map_err(|message| CheckpointError::Layout {
        path: path.to_path_buf(),
        message,
    })?;
    Ok((root, kind))
}

/// The message for a file of kind `found` where `expected` is needed.
fn mismatch(found: Kind, expected: Kind) -> String {
    let hint = match (found, expected) {
        (Kind::UnitGenerators, Kind::MunitGenerators) => {
            "; the config is a MUNIT config (its gen has style_dim and mlp_dim): pass the UNIT \
             YAML the model was trained with"
        }
        (Kind::MunitGenerators, Kind::UnitGenerators) => {
            "; the config is a UNIT config (its gen has no style_dim / mlp_dim): pass the MUNIT \
             YAML the model was trained with"
        }
        (Kind::Drit, _) => "; a DRIT++ checkpoint needs no config: pass it alone (--checkpoint)",
        _ => "",
    };
    format!(
        "this is {}, but {} is needed here{hint}",
        found.describe(),
        expected.describe()
    )
}

/// Reads an official `.pt` file and returns both domains' state dicts, after checking that it
/// is a file of the `expected` kind. PyTorch-0.3-era instance-norm statistics and AdaIN's unused
/// running buffers are dropped here.
pub fn read_official(path: &Path, expected: Kind) -> Result<DomainPair, CheckpointError> {
    let (mut root, found) = read_classified(path)?;
    let layout = |message: String| CheckpointError::Layout {
        path: path.to_path_buf(),
        message,
    };
    if found != expected {
        return Err(layout(mismatch(found, expected)));
    }
    pair_of(&mut root).map_err(layout)
}

/// Takes both domains' state dicts out of a classified `{'a', 'b'}` object.
fn pair_of(root: &mut Object) -> Result<DomainPair, String> {
    let mut domain = |name: &str| -> Result<StateDict, String> {
        let dict = root.remove(name).expect("classified");
        state_dict(dict).map_err(|m| format!("domain {name}: {m}"))
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
            "holds {}, not the {{'a': ..., 'b': ...}} dict of a MUNIT/UNIT checkpoint or the \
             training state of a DRIT++ checkpoint",
            root.describe()
        ));
    };
    let has = |k: &str| keys.iter().any(|x| x == k);
    let drit_parts = ["enc_c", "enc_a", "gen"];
    let drit_found: Vec<&str> = drit_parts.iter().copied().filter(|k| has(k)).collect();
    if has("enc_c") || has("enc_a") {
        if drit_found.len() < drit_parts.len() {
            let missing: Vec<&str> = drit_parts.iter().copied().filter(|k| !has(k)).collect();
            return Err(format!(
                "a DRIT++ checkpoint without its {} entr{}",
                missing.join(", "),
                if missing.len() == 1 { "y" } else { "ies" }
            ));
        }
        if drit_parts
            .iter()
            .any(|k| root.get(k).and_then(|o| o.dict_keys()).is_none())
        {
            return Err("a DRIT++ checkpoint whose enc_c / enc_a / gen are not state dicts".into());
        }
        return Ok(Kind::Drit);
    }
    if has("gen_opt") || has("enc_c_opt") {
        return Err("this is DRIT++ optimizer state only, without the networks".into());
    }
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
    let kind_of = |o: &Object| -> Option<Kind> { network_kind(o.dict_keys()?.iter()) };
    match (root.get("a"), root.get("b")) {
        (Some(a), Some(b)) => match (kind_of(a), kind_of(b)) {
            (Some(ka), Some(kb)) if ka == kb => Ok(ka),
            _ => Err(format!(
                "entries 'a' and 'b' hold {} and {}, not MUNIT/UNIT generator or discriminator \
                 weights",
                a.describe(),
                b.describe()
            )),
        },
        (Some(_), None) | (None, Some(_)) => Err(format!(
            "holds only domain '{}'; a MUNIT/UNIT checkpoint holds both domains' networks ('a' \
             and 'b')",
            if has("a") { "a" } else { "b" }
        )),
        (None, None) => match kind_of(root) {
            Some(kind) => Err(format!(
                "holds a single network's state_dict ({}); a MUNIT/UNIT checkpoint is a dict of \
                 both domains' networks, {{'a': ..., 'b': ...}}",
                kind.describe()
            )),
            None => Err(format!(
                "not a MUNIT, UNIT or DRIT++ checkpoint: its top-level keys are {}",
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

/// Moves the tensors of a state dict out of the decoded object (no copies).
fn state_dict(dict: Object) -> Result<StateDict, String> {
    let Object::Dict(items) = dict else {
        return Err(format!("holds {}, not a state_dict", dict.describe()));
    };
    let mut out = StateDict::new();
    for (k, v) in items {
        let Object::Str(key) = k else {
            return Err(format!("has a non-string key {k:?}"));
        };
        if is_ignored_key(&key) {
            continue;
        }
        match v {
            Object::Tensor(t) => {
                out.insert(key, (t.shape, t.data));
            }
            other => return Err(format!("`{key}` holds {}, not a tensor", other.describe())),
        }
    }
    Ok(out)
}

/// Builds one domain's network from its state dict with `build`, checking every key and shape
/// (a key `build` never asks for is an error too).
fn build_checked<T>(
    tensors: StateDict,
    domain: Domain,
    path: &Path,
    build: impl FnOnce(&mut dyn crate::model::ParamSource) -> Result<T, ParamError>,
) -> Result<T, CheckpointError> {
    let err = |source| CheckpointError::Param {
        path: path.to_path_buf(),
        domain,
        source,
    };
    let mut source = NamedTensors::new(tensors);
    let built = build(&mut source).map_err(err)?;
    source.finish().map_err(err)?;
    Ok(built)
}

/// Builds one domain's MUNIT generator from its state dict, checking every key and shape.
pub fn generator_from_state_dict(
    config: &Config,
    domain: Domain,
    tensors: StateDict,
    device: &Device,
    path: &Path,
) -> Result<Generator, CheckpointError> {
    build_checked(tensors, domain, path, |source| {
        Generator::new(&config.generator, config.input_dim(domain), source, device)
    })
}

/// Builds one domain's discriminator from its state dict, checking every key and shape.
pub fn discriminator_from_state_dict(
    config: &Config,
    domain: Domain,
    tensors: StateDict,
    device: &Device,
    path: &Path,
) -> Result<MsImageDis, CheckpointError> {
    build_checked(tensors, domain, path, |source| {
        MsImageDis::new(
            &config.discriminator,
            config.input_dim(domain),
            source,
            device,
        )
    })
}

/// One network per domain.
#[derive(Debug)]
pub struct Pair<G> {
    pub a: G,
    pub b: G,
}

impl<G> Pair<G> {
    pub fn get(&self, domain: Domain) -> &G {
        match domain {
            Domain::A => &self.a,
            Domain::B => &self.b,
        }
    }
}

/// Both MUNIT generators of a model.
pub type GeneratorPair = Pair<Generator>;

/// Loads both MUNIT generators from an official `.pt` file or a native `.safetensors` file.
pub fn load_generators(
    config: &Config,
    path: &Path,
    device: &Device,
) -> Result<GeneratorPair, CheckpointError> {
    match load_networks(Some(config), path, device)? {
        Networks::Munit { gens, .. } => Ok(gens),
        other => Err(CheckpointError::Layout {
            path: path.to_path_buf(),
            message: mismatch(other.kind(), Kind::MunitGenerators),
        }),
    }
}

/// The loaded networks of a model of any family.
// One value per loaded model, moved a handful of times: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Networks {
    Munit {
        config: Config,
        gens: Pair<Generator>,
    },
    Unit {
        config: Config,
        gens: Pair<UnitGenerator>,
    },
    /// DRIT++, with the test-time preprocessing to use (official: 256 / 216).
    Drit {
        model: Drit,
        resize_size: usize,
        crop_size: usize,
    },
}

/// DRIT's test-time resize and crop (`--resize_size`, `--crop_size`).
pub const DRIT_RESIZE: usize = 256;
pub const DRIT_CROP: usize = 216;

impl Networks {
    /// Prepares networks that will only run inference: the decoders keep their folded
    /// upsampling kernels instead of building them on every decode.
    pub fn prepare_for_inference(&mut self) {
        match self {
            Networks::Munit { gens, .. } => {
                gens.a.dec.keep_folded_upsample();
                gens.b.dec.keep_folded_upsample();
            }
            Networks::Unit { gens, .. } => {
                gens.a.dec.keep_folded_upsample();
                gens.b.dec.keep_folded_upsample();
            }
            Networks::Drit { .. } => {}
        }
    }

    /// Networks with random weights (official initialisation) of a MUNIT or UNIT config's
    /// architecture (benchmarks, tests).
    pub fn random_from_config(
        config: &Config,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let init = &mut crate::model::RandomInit::new(seed);
        Ok(match config.family() {
            ConfigFamily::Munit => Networks::Munit {
                config: config.clone(),
                gens: Pair {
                    a: Generator::new(&config.generator, config.input_dim_a, init, device)?,
                    b: Generator::new(&config.generator, config.input_dim_b, init, device)?,
                },
            },
            ConfigFamily::Unit => Networks::Unit {
                config: config.clone(),
                gens: Pair {
                    a: UnitGenerator::new(&config.generator, config.input_dim_a, init, device)?,
                    b: UnitGenerator::new(&config.generator, config.input_dim_b, init, device)?,
                },
            },
        })
    }

    /// DRIT++ networks with random weights at the given widths.
    pub fn random_drit(arch: DritArch, seed: u64, device: &Device) -> Result<Self, ParamError> {
        let init = &mut crate::model::RandomInit::new(seed);
        Ok(Networks::Drit {
            model: Drit::new(arch, init, device)?,
            resize_size: DRIT_RESIZE,
            crop_size: DRIT_CROP,
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Networks::Munit { .. } => Kind::MunitGenerators,
            Networks::Unit { .. } => Kind::UnitGenerators,
            Networks::Drit { .. } => Kind::Drit,
        }
    }

    /// The native model folder's files: config YAML and the weights under their native keys.
    pub fn native(&self) -> (String, StateDict, &'static str) {
        let mut dict = StateDict::new();
        let mut put = |prefix: &str, m: &dyn NamedParams| {
            m.visit_params("", &mut |key, shape, values| {
                dict.insert(format!("{prefix}{key}"), (shape, values));
            });
        };
        match self {
            Networks::Munit { config, gens } => {
                put("a.", &gens.a);
                put("b.", &gens.b);
                (config.to_yaml(), dict, "stylespace-munit")
            }
            Networks::Unit { config, gens } => {
                put("a.", &gens.a);
                put("b.", &gens.b);
                (config.to_yaml(), dict, "stylespace-unit")
            }
            Networks::Drit {
                model,
                resize_size,
                crop_size,
            } => {
                put("", model);
                let config = DritConfig {
                    family: "drit".into(),
                    concat: model.arch.concat,
                    input_dim_a: model.arch.input_dim_a,
                    input_dim_b: model.arch.input_dim_b,
                    resize_size: *resize_size,
                    crop_size: *crop_size,
                };
                (config.to_yaml(), dict, "stylespace-drit")
            }
        }
    }
}

/// Loads a model of any family from an official checkpoint (`.pt` / `.pth`) or a native
/// `.safetensors` file. MUNIT and UNIT need their YAML `config` (its family must match the
/// checkpoint's); DRIT++ needs none.
pub fn load_networks(
    config: Option<&Config>,
    path: &Path,
    device: &Device,
) -> Result<Networks, CheckpointError> {
    let layout = |message: String| CheckpointError::Layout {
        path: path.to_path_buf(),
        message,
    };
    if is_safetensors(path)? {
        let (flat, _) = read_native_flat(path)?;
        if flat.keys().any(|k| k.starts_with("enc_c.")) {
            if config.is_some() {
                return Err(layout(mismatch(Kind::Drit, Kind::MunitGenerators)));
            }
            return drit_from_state_dict(flat, DRIT_RESIZE, DRIT_CROP, device, path);
        }
        let config = config.ok_or_else(|| {
            layout("native MUNIT/UNIT weights need their config.yaml (--config)".into())
        })?;
        let pair = split_domains(flat).map_err(|m| CheckpointError::Safetensors {
            path: path.to_path_buf(),
            message: m,
        })?;
        let found = network_kind(pair.a.keys());
        let expected = Kind::generators_of(config.family());
        if found != Some(expected) {
            return Err(layout(mismatch(
                found.unwrap_or(Kind::Discriminators),
                expected,
            )));
        }
        return pair_networks(config, pair, device, path);
    }
    let (root, kind) = read_classified(path)?;
    official_networks(root, kind, config, device, path)
}

/// The networks of an official checkpoint's object, once classified (`path` names it in
/// errors).
fn official_networks(
    mut root: Object,
    kind: Kind,
    config: Option<&Config>,
    device: &Device,
    path: &Path,
) -> Result<Networks, CheckpointError> {
    let layout = |message: String| CheckpointError::Layout {
        path: path.to_path_buf(),
        message,
    };
    match (kind, config) {
        (Kind::Drit, None) => {
            let mut flat = StateDict::new();
            for part in ["enc_c", "enc_a", "gen"] {
                let dict = root.remove(part).expect("classified");
                let dict = state_dict(dict).map_err(|m| layout(format!("{part}: {m}")))?;
                for (key, value) in dict {
                    flat.insert(format!("{part}.{key}"), value);
                }
            }
            drop(root);
            drit_from_state_dict(flat, DRIT_RESIZE, DRIT_CROP, device, path)
        }
        (Kind::Drit, Some(config)) => Err(layout(mismatch(
            Kind::Drit,
            Kind::generators_of(config.family()),
        ))),
        (Kind::MunitGenerators | Kind::UnitGenerators, None) => Err(layout(format!(
            "this is {}; it needs the YAML config the model was trained with (--config)",
            kind.describe()
        ))),
        (Kind::MunitGenerators | Kind::UnitGenerators, Some(config)) => {
            let expected = Kind::generators_of(config.family());
            if kind != expected {
                return Err(layout(mismatch(kind, expected)));
            }
            let pair = pair_of(&mut root).map_err(layout)?;
            drop(root);
            pair_networks(config, pair, device, path)
        }
        (Kind::Discriminators, _) => Err(layout(mismatch(
            kind,
            config.map_or(Kind::MunitGenerators, |c| Kind::generators_of(c.family())),
        ))),
    }
}

/// [`load_networks`] of an official `torch.save` file's bytes (`path` names it in errors): what
/// the fuzzers drive.
pub fn networks_from_torch_bytes(
    bytes: &[u8],
    config: Option<&Config>,
    device: &Device,
    path: &Path,
) -> Result<Networks, CheckpointError> {
    let (root, kind) = classified(
        torch::read_torch_filtered(bytes, &|key| !is_unused_drit_entry(key)),
        path,
    )?;
    official_networks(root, kind, config, device, path)
}

/// What one domain's state dict holds, from its keys: MUNIT generator (`enc_style`,
/// `enc_content`, `mlp`), UNIT generator (`enc`, `dec` only) or discriminator (`cnns`).
fn network_kind<'a>(keys: impl Iterator<Item = &'a String> + Clone) -> Option<Kind> {
    let any = |p: &str| keys.clone().any(|k| k.starts_with(p));
    if any("enc_style.") || any("enc_content.") || any("mlp.") {
        Some(Kind::MunitGenerators)
    } else if any("enc.") || any("dec.") {
        Some(Kind::UnitGenerators)
    } else if any("cnns.") {
        Some(Kind::Discriminators)
    } else {
        None
    }
}

/// Whether a `.pt` / `.pth` file is a MUNIT / UNIT generator pair (`{'a': ..., 'b': ...}`),
/// which needs its YAML config to load, judged from its top-level keys: only the pickle is read,
/// no tensor. DRIT++ training states, other files and unreadable ones are not.
pub fn needs_config(path: &Path) -> bool {
    torch::read_torch_file(path, &|_| false)
        .ok()
        .and_then(|root| root.dict_keys())
        .is_some_and(|keys| ["a", "b"].iter().all(|k| keys.iter().any(|x| x == k)))
}

fn pair_networks(
    config: &Config,
    pair: DomainPair,
    device: &Device,
    path: &Path,
) -> Result<Networks, CheckpointError> {
    Ok(match config.family() {
        ConfigFamily::Munit => Networks::Munit {
            config: config.clone(),
            gens: Pair {
                a: generator_from_state_dict(config, Domain::A, pair.a, device, path)?,
                b: generator_from_state_dict(config, Domain::B, pair.b, device, path)?,
            },
        },
        ConfigFamily::Unit => {
            let build = |domain: Domain, dict: StateDict| {
                build_checked(dict, domain, path, |source| {
                    UnitGenerator::new(&config.generator, config.input_dim(domain), source, device)
                })
            };
            Networks::Unit {
                config: config.clone(),
                gens: Pair {
                    a: build(Domain::A, pair.a)?,
                    b: build(Domain::B, pair.b)?,
                },
            }
        }
    })
}

/// Builds a DRIT++ model from its flat state dict (`enc_c.…`, `enc_a.…`, `gen.…`), reading the
/// variant and widths from the keys and shapes and checking every other key and shape.
pub fn drit_from_state_dict(
    flat: StateDict,
    resize_size: usize,
    crop_size: usize,
    device: &Device,
    path: &Path,
) -> Result<Networks, CheckpointError> {
    let err = |source| CheckpointError::Drit {
        path: path.to_path_buf(),
        source,
    };
    let arch =
        DritArch::infer(&|key| flat.get(key).map(|(shape, _)| shape.clone())).map_err(err)?;
    let mut source = NamedTensors::new(flat);
    let model = Drit::new(arch, &mut source, device).map_err(err)?;
    source.finish().map_err(err)?;
    Ok(Networks::Drit {
        model,
        resize_size,
        crop_size,
    })
}

/// Loads both discriminators from an official `dis_XXXXXXXX.pt`.
pub fn load_discriminators(
    config: &Config,
    path: &Path,
    device: &Device,
) -> Result<[MsImageDis; 2], CheckpointError> {
    discriminators_from_pair(
        config,
        read_official(path, Kind::Discriminators)?,
        device,
        path,
    )
}

/// Builds both domains' discriminators from their state dicts (read from `path`), checking every
/// key and shape.
pub fn discriminators_from_pair(
    config: &Config,
    pair: DomainPair,
    device: &Device,
    path: &Path,
) -> Result<[MsImageDis; 2], CheckpointError> {
    Ok([
        discriminator_from_state_dict(config, Domain::A, pair.a, device, path)?,
        discriminator_from_state_dict(config, Domain::B, pair.b, device, path)?,
    ])
}

/// The discriminators a model or run folder offers to go on training with: a model folder's
/// `discriminators.safetensors` (`export --with-discriminators`), or a run folder's newest
/// complete checkpoint. `None` for a model folder without them, or anything else.
pub fn discriminator_file(folder: &Path) -> Option<PathBuf> {
    let own = folder.join(NATIVE_DISCRIMINATORS);
    if own.is_file() {
        return Some(own);
    }
    if folder.join(NATIVE_WEIGHTS).is_file() {
        return None;
    }
    let dir = folder.join(run::CHECKPOINT_DIR);
    run::latest_complete(&dir).map(|m| dir.join(run::dis_name(m.iteration)))
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
                weights: checkpoints.join(run::generator_file(&manifest)),
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

    /// Loads the model, of whichever family the config says.
    pub fn load(&self, device: &Device) -> Result<Networks, CheckpointError> {
        if is_drit_config(&self.config) {
            let config = DritConfig::load(&self.config)?;
            let (flat, _) = read_native_flat(&self.weights)?;
            let networks = drit_from_state_dict(
                flat,
                config.resize_size,
                config.crop_size,
                device,
                &self.weights,
            )?;
            if let Networks::Drit { model, .. } = &networks
                && model.arch.concat != config.concat
            {
                return Err(CheckpointError::Layout {
                    path: self.config.clone(),
                    message: format!(
                        "says concat: {}, but the weights are of the other variant",
                        config.concat
                    ),
                });
            }
            return Ok(networks);
        }
        let config = Config::load(&self.config)?.config;
        load_networks(Some(&config), &self.weights, device)
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

/// Reads a native weights file with `a.*` / `b.*` keys (MUNIT, UNIT, training checkpoints).
pub fn read_native(path: &Path) -> Result<DomainPair, CheckpointError> {
    let (flat, _) = read_native_flat(path)?;
    split_domains(flat).map_err(|message| CheckpointError::Safetensors {
        path: path.to_path_buf(),
        message,
    })
}

/// Splits `a.<key>` / `b.<key>` names into both domains' state dicts.
pub fn split_domains(flat: StateDict) -> Result<DomainPair, String> {
    let mut pair = DomainPair {
        a: StateDict::new(),
        b: StateDict::new(),
    };
    for (name, entry) in flat {
        if let Some(key) = name.strip_prefix("a.") {
            pair.a.insert(key.to_string(), entry);
        } else if let Some(key) = name.strip_prefix("b.") {
            pair.b.insert(key.to_string(), entry);
        } else {
            return Err(format!("`{name}` belongs to neither domain a nor b"));
        }
    }
    if pair.a.is_empty() || pair.b.is_empty() {
        return Err("it must hold both domains' generators (a.* and b.*)".into());
    }
    Ok(pair)
}

/// Largest native weights file read: the official MUNIT generator pair is 60 MB in f32, DRIT++
/// at full width about 200 MB; anything near this is not a model of these families.
pub const MAX_MODEL_FILE_BYTES: u64 = 2 << 30;

/// Reads every tensor of a native safetensors file (f32 or f16) and its metadata. The file is
/// streamed tensor by tensor: what it takes is the tensors' values and one tensor's bytes, not
/// the whole file besides.
pub fn read_native_flat(
    path: &Path,
) -> Result<(StateDict, HashMap<String, String>), CheckpointError> {
    let read_error = |source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > MAX_MODEL_FILE_BYTES {
        return Err(CheckpointError::Layout {
            path: path.to_path_buf(),
            message: format!(
                "{} MiB is larger than any model this app reads (at most {} MiB)",
                size >> 20,
                MAX_MODEL_FILE_BYTES >> 20
            ),
        });
    }
    read_native_from(std::io::BufReader::new(file), size, path)
}

/// [`read_native_flat`] of a file's bytes (`path` names it in errors).
pub fn read_native_bytes(
    bytes: &[u8],
    path: &Path,
) -> Result<(StateDict, HashMap<String, String>), CheckpointError> {
    read_native_from(bytes, bytes.len() as u64, path)
}

/// Largest safetensors header read (the format's own limit).
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Reads a safetensors stream of `size` bytes: the header (validated by the safetensors crate:
/// offsets contiguous, sizes matching shapes and dtypes, the data exactly filling the rest),
/// then each tensor in file order.
fn read_native_from(
    mut reader: impl std::io::Read,
    size: u64,
    path: &Path,
) -> Result<(StateDict, HashMap<String, String>), CheckpointError> {
    let bad = |message: String| CheckpointError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let truncated = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad("the file ends early".into()),
        _ => CheckpointError::Read {
            path: path.to_path_buf(),
            source: e,
        },
    };
    let mut n_bytes = [0u8; 8];
    reader.read_exact(&mut n_bytes).map_err(truncated)?;
    let header_len = u64::from_le_bytes(n_bytes);
    if header_len > MAX_SAFETENSORS_HEADER || header_len > size.saturating_sub(8) {
        return Err(bad(format!(
            "its header claims {header_len} bytes, more than the file holds or any model needs"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    reader.read_exact(&mut header).map_err(truncated)?;
    let meta: safetensors::tensor::Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("its header: {e}")))?;
    let data_len = size.saturating_sub(8 + header_len);
    if meta.data_len() as u64 != data_len {
        return Err(bad(format!(
            "its header describes {} bytes of tensors but the file holds {data_len}",
            meta.data_len()
        )));
    }
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut flat = StateDict::new();
    let mut bytes = Vec::new();
    for name in meta.offset_keys() {
        let info = meta.info(&name).expect("a name the header lists");
        let (start, end) = info.data_offsets;
        bytes.resize(end - start, 0);
        reader.read_exact(&mut bytes).map_err(truncated)?;
        let values: Vec<f32> = match info.dtype {
            safetensors::Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32())
                .collect(),
            other => return Err(bad(format!("`{name}` has unsupported dtype {other:?}"))),
        };
        flat.insert(name, (info.shape.clone(), values));
    }
    if flat.is_empty() {
        return Err(bad("it holds no tensors".into()));
    }
    Ok((flat, metadata))
}

/// Storage precision of native weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

/// Serialises both domains' state dicts to safetensors bytes (keys `a.…`, `b.…`).
pub fn native_bytes(pair: &DomainPair, precision: Precision) -> Vec<u8> {
    let entries = [("a", &pair.a), ("b", &pair.b)]
        .into_iter()
        .flat_map(|(prefix, dict)| dict.iter().map(move |(k, v)| (format!("{prefix}.{k}"), v)));
    flat_bytes(entries, precision, "stylespace-munit")
}

/// Serialises named tensors to safetensors bytes with a `format` metadata tag.
pub fn flat_bytes<'a>(
    entries: impl Iterator<Item = (String, &'a (Vec<usize>, Vec<f32>))>,
    precision: Precision,
    format: &str,
) -> Vec<u8> {
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, (shape, values)) in entries {
        let bytes = match precision {
            Precision::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Precision::F16 => values
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
        };
        buffers.push((name, shape.clone(), bytes));
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
    let metadata = HashMap::from([("format".to_string(), format.to_string())]);
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
    save_native_files(dir, &config.to_yaml(), &native_bytes(pair, precision))
}

/// Writes a native model folder for networks of any family.
pub fn save_networks(
    dir: &Path,
    networks: &Networks,
    precision: Precision,
) -> Result<(), CheckpointError> {
    let (yaml, dict, format) = networks.native();
    save_native_files(
        dir,
        &yaml,
        &flat_bytes(dict.iter().map(|(k, v)| (k.clone(), v)), precision, format),
    )
}

fn save_native_files(dir: &Path, yaml: &str, weights_bytes: &[u8]) -> Result<(), CheckpointError> {
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
    write_atomic(&weights, weights_bytes, false).map_err(write_err(&weights))?;
    let config_path = dir.join(NATIVE_CONFIG);
    write_atomic(&config_path, yaml.as_bytes(), false).map_err(write_err(&config_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> StateDict {
        let mut dict = StateDict::new();
        dict.insert(
            "a.w".into(),
            (vec![2, 3], (0..6).map(|v| v as f32).collect()),
        );
        dict.insert("b.bias".into(), (vec![4], vec![-1.5, 0.25, 1e-3, 7.0]));
        dict
    }

    #[test]
    fn native_files_stream_back_exactly_and_every_damage_is_a_clean_error() {
        let path = Path::new("model.safetensors");
        let bytes = flat_bytes(
            dict().iter().map(|(k, v)| (k.clone(), v)),
            Precision::F32,
            "t",
        );
        let (flat, metadata) = read_native_bytes(&bytes, path).unwrap();
        assert_eq!(flat, dict());
        assert_eq!(metadata.get("format").map(String::as_str), Some("t"));
        // From a file: the same.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(read_native_flat(&file).unwrap().0, dict());
        // f16 halves the data and rounds.
        let half = flat_bytes(
            dict().iter().map(|(k, v)| (k.clone(), v)),
            Precision::F16,
            "t",
        );
        let (flat16, _) = read_native_bytes(&half, path).unwrap();
        assert!((flat16["b.bias"].1[2] - 1e-3).abs() < 1e-6);
        // Every truncation, a byte too many and a header claiming the world: errors, no panic.
        for len in 0..bytes.len() {
            assert!(
                read_native_bytes(&bytes[..len], path).is_err(),
                "{len} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let message = read_native_bytes(&longer, path).unwrap_err().to_string();
        assert!(message.contains("file holds"), "{message}");
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let message = read_native_bytes(&huge, path).unwrap_err().to_string();
        assert!(message.contains("header claims"), "{message}");
        // A truncated file on disk says so.
        std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
        let message = read_native_flat(&file).unwrap_err().to_string();
        assert!(message.contains("model.safetensors"), "{message}");
        // Over the size limit (a sparse file): refused from its size, unread.
        let sparse = std::fs::File::create(&file).unwrap();
        sparse.set_len(MAX_MODEL_FILE_BYTES + 1).unwrap();
        let message = read_native_flat(&file).unwrap_err().to_string();
        assert!(message.contains("larger than any model"), "{message}");
        assert!(!message.contains("not a valid"), "{message}");
    }
}
