//! A training run's checkpoints: per saved iteration, the generators (native format), the
//! discriminators and the optimiser state, each written atomically, then a manifest naming every
//! file with its size and hash. Only a checkpoint whose manifest exists and whose files match it
//! is ever used, so one interrupted mid-write is passed over for the last complete one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{DomainPair, Precision, StateDict, native_bytes, read_native};
use crate::io::atomic::write_atomic;

/// Folder of checkpoints inside a run folder.
pub const CHECKPOINT_DIR: &str = "checkpoints";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    /// SHA-256 of the file, hex. Manifests written before it was recorded carry an FNV-1a hash
    /// instead, which is not checked: their files are checked by size only.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// What one saved iteration consists of.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Completed iterations when saved.
    pub iteration: u64,
    pub files: Vec<FileEntry>,
}

/// SHA-256 of the bytes, hex (detects truncation and corruption).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn manifest_name(iteration: u64) -> String {
    format!("checkpoint_{iteration:08}.json")
}

/// Generator file name of an iteration (native format: usable by `translate --checkpoint`).
pub fn gen_name(iteration: u64) -> String {
    format!("gen_{iteration:08}.safetensors")
}

/// Discriminator file name of an iteration (native format).
pub fn dis_name(iteration: u64) -> String {
    format!("dis_{iteration:08}.safetensors")
}

/// Name of the generators' moving average of an iteration (a run with `ema_beta`).
pub fn ema_name(iteration: u64) -> String {
    format!("ema_{iteration:08}.safetensors")
}

/// The generators a run's checkpoint offers for use (translate, export, `--init`): their moving
/// average where the run keeps one, else the trained weights themselves.
pub fn generator_file(manifest: &Manifest) -> String {
    let ema = ema_name(manifest.iteration);
    if manifest.files.iter().any(|f| f.name == ema) {
        ema
    } else {
        gen_name(manifest.iteration)
    }
}

/// The contents of a checkpoint.
pub struct CheckpointData {
    pub gens: DomainPair,
    /// The generators' moving average (`ema_beta`), when the run keeps one.
    pub ema: Option<DomainPair>,
    pub dis: DomainPair,
    /// Optimiser arrays, keyed `gen.m.00000`, `dis.v.00012`, ...
    pub optimizer: StateDict,
    /// `gen_step`, `dis_step`.
    pub steps: HashMap<String, String>,
}

/// Writes a checkpoint (files first, manifest last) and keeps the newest `keep` of them.
pub fn save(dir: &Path, iteration: u64, data: &CheckpointData, keep: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mut write = |name: String, bytes: Vec<u8>| -> std::io::Result<()> {
        write_atomic(&dir.join(&name), &bytes, true)?;
        files.push(FileEntry {
            name,
            bytes: bytes.len() as u64,
            sha256: Some(sha256_hex(&bytes)),
        });
        Ok(())
    };
    write(
        gen_name(iteration),
        native_bytes(&data.gens, Precision::F32),
    )?;
    write(dis_name(iteration), native_bytes(&data.dis, Precision::F32))?;
    if let Some(ema) = &data.ema {
        write(ema_name(iteration), native_bytes(ema, Precision::F32))?;
    }
    write(
        format!("optimizer_{iteration:08}.safetensors"),
        arrays_bytes(&data.optimizer, &data.steps),
    )?;
    let manifest = Manifest { iteration, files };
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    write_atomic(&dir.join(manifest_name(iteration)), text.as_bytes(), true)?;
    prune(dir, keep);
    Ok(())
}

fn arrays_bytes(arrays: &StateDict, metadata: &HashMap<String, String>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = arrays
        .iter()
        .map(|(k, (shape, values))| {
            (
                k.clone(),
                shape.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, shape, b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .expect("shape matches data");
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize(views, Some(metadata.clone())).expect("serialisable")
}

fn read_arrays(path: &Path) -> Result<(StateDict, HashMap<String, String>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| e.to_string())?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| e.to_string())?;
    let arrays = st
        .tensors()
        .into_iter()
        .map(|(k, v)| {
            let values = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (k, (v.shape().to_vec(), values))
        })
        .collect();
    Ok((arrays, meta.metadata().clone().unwrap_or_default()))
}

/// Files in `dir` named `{prefix}{iteration}{suffix}`, by iteration (oldest first).
pub fn numbered_files(dir: &Path, prefix: &str, suffix: &str) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            Some((number.parse().ok()?, e.path()))
        })
        .collect();
    found.sort_by_key(|f| f.0);
    found
}

/// Manifests in `dir`, newest first.
fn manifests(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found = numbered_files(dir, "checkpoint_", ".json");
    found.reverse();
    found
}

/// Whether every file a manifest names is there with its recorded size and hash.
fn verify(dir: &Path, manifest_path: &Path) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(manifest_path).map_err(|e| e.to_string())?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    for f in &manifest.files {
        let bytes = std::fs::read(dir.join(&f.name)).map_err(|e| format!("{}: {e}", f.name))?;
        let hash_differs = f.sha256.as_ref().is_some_and(|h| *h != sha256_hex(&bytes));
        if bytes.len() as u64 != f.bytes || hash_differs {
            return Err(format!(
                "{} does not match its manifest (incomplete write?)",
                f.name
            ));
        }
    }
    Ok(manifest)
}

/// The newest complete checkpoint in a checkpoints folder, skipping broken ones with a warning.
pub fn latest_complete(dir: &Path) -> Option<Manifest> {
    for (_, path) in manifests(dir) {
        match verify(dir, &path) {
            Ok(manifest) => return Some(manifest),
            Err(e) => log::warn!("skipping checkpoint {}: {e}", path.display()),
        }
    }
    None
}

/// Reads a complete checkpoint.
pub fn load(dir: &Path, manifest: &Manifest) -> Result<CheckpointData, String> {
    let path = |prefix: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.name.starts_with(prefix))
            .map(|f| dir.join(&f.name))
            .ok_or_else(|| format!("checkpoint lacks its {prefix} file"))
    };
    let gens = read_native(&path("gen_")?).map_err(|e| e.to_string())?;
    let dis = read_native(&path("dis_")?).map_err(|e| e.to_string())?;
    let (optimizer, steps) = read_arrays(&path("optimizer_")?)?;
    let ema = match path("ema_") {
        Ok(p) => Some(read_native(&p).map_err(|e| e.to_string())?),
        Err(_) => None,
    };
    Ok(CheckpointData {
        gens,
        ema,
        dis,
        optimizer,
        steps,
    })
}

/// Deletes all but the newest `keep` checkpoints (manifest first, so a half-deleted one is
/// never mistaken for complete), then what interrupted saves left behind: temporary files and
/// checkpoint files no kept manifest names. Runs right after a save, by the only writer.
fn prune(dir: &Path, keep: usize) {
    for (_, path) in manifests(dir).into_iter().skip(keep.max(1)) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let _ = std::fs::remove_file(&path);
        if let Ok(manifest) = serde_json::from_str::<Manifest>(&text) {
            for f in manifest.files {
                let _ = std::fs::remove_file(dir.join(f.name));
            }
        }
    }
    let named: std::collections::HashSet<String> = manifests(dir)
        .iter()
        .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
        .filter_map(|text| serde_json::from_str::<Manifest>(&text).ok())
        .flat_map(|m| m.files.into_iter().map(|f| f.name))
        .collect();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let temporary = name.starts_with('.') && name.ends_with(".tmp");
        let orphan = ["gen_", "dis_", "ema_", "optimizer_"]
            .iter()
            .any(|p| name.starts_with(p))
            && name.ends_with(".safetensors")
            && !named.contains(&name);
        if temporary || orphan {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Splits `prefix.rest` keys of optimiser arrays into per-optimiser maps.
pub fn split_optimizer(arrays: &StateDict, prefix: &str) -> StateDict {
    arrays
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(&format!("{prefix}."))?.to_string(),
                v.clone(),
            ))
        })
        .collect()
}
