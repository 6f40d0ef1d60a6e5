//! `torch.save` files: the zip format (PyTorch >= 1.6) and the legacy pickle format that the
//! released MUNIT checkpoints use. Both decode to a [`Value`] tree whose tensors are materialised
//! as `f32` [`TorchTensor`]s.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Seek};

use super::pickle::{PickleError, StorageType, TensorRef, Value, read_pickle};

/// A tensor read from a checkpoint, converted to `f32`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The element type it was stored with.
    pub stored_as: StorageType,
}

/// A decoded `torch.save` object.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Object>),
    Dict(Vec<(Object, Object)>),
    Tensor(TorchTensor),
}

impl Object {
    /// The string keys of a dict, or `None` when this is not a dict.
    pub fn dict_keys(&self) -> Option<Vec<String>> {
        match self {
            Object::Dict(items) => Some(
                items
                    .iter()
                    .map(|(k, _)| match k {
                        Object::Str(s) => s.clone(),
                        other => format!("{other:?}"),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Takes the value stored under a string key of a dict out of it (leaving `None`).
    pub fn remove(&mut self, key: &str) -> Option<Object> {
        match self {
            Object::Dict(items) => items
                .iter_mut()
                .find(|(k, _)| matches!(k, Object::Str(s) if s == key))
                .map(|(_, v)| std::mem::replace(v, Object::None)),
            _ => None,
        }
    }

    /// The value stored under a string key of a dict.
    pub fn get(&self, key: &str) -> Option<&Object> {
        match self {
            Object::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Object::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description for error messages ("a dict of 82 entries", "a tensor", ...).
    pub fn describe(&self) -> String {
        match self {
            Object::None => "None".into(),
            Object::Bool(_) => "a bool".into(),
            Object::Int(_) => "an integer".into(),
            Object::Float(_) => "a float".into(),
            Object::Str(_) => "a string".into(),
            Object::Bytes(_) => "bytes".into(),
            Object::List(l) => format!("a list of {} items", l.len()),
            Object::Dict(d) => format!("a dict of {} entries", d.len()),
            Object::Tensor(t) => format!("a tensor of shape {:?}", t.shape),
        }
    }
}

/// Why a `.pt` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Pickle(#[from] PickleError),
    #[error("the file is empty")]
    Empty,
    #[error(
        "not a PyTorch checkpoint: it has neither the zip header of torch.save nor a pickle header"
    )]
    NotTorch,
    #[error("corrupt or truncated zip archive: {0}")]
    Zip(String),
    #[error("the zip archive has no data.pkl; it is not a torch.save file")]
    NoDataPkl,
    #[error("tensor data `{0}` is missing from the file (truncated?)")]
    MissingStorage(String),
    #[error(
        "tensor data `{key}` holds {found} bytes, expected {expected} (truncated or corrupt file)"
    )]
    StorageSize {
        key: String,
        expected: usize,
        found: usize,
    },
    #[error("big-endian checkpoints are not supported")]
    BigEndian,
    #[error("not a legacy torch.save file: {0}")]
    Legacy(String),
}

const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;

/// Reads a `torch.save` file from bytes. Nothing in it is executed.
pub fn read_torch(bytes: &[u8]) -> Result<Object, TorchError> {
    read_torch_filtered(bytes, &|_| true)
}

/// [`read_torch`], but the tensors under top-level dict entries whose key `keep` rejects are
/// neither read nor converted (the entry stays, holding `None`): a DRIT training state's
/// discriminators and optimizer states are never materialised.
pub fn read_torch_filtered(
    bytes: &[u8],
    keep: &dyn Fn(&str) -> bool,
) -> Result<Object, TorchError> {
    match bytes {
        [] => Err(TorchError::Empty),
        [b'P', b'K', 3, 4, ..] => read_zip(std::io::Cursor::new(bytes), bytes.len(), keep),
        [0x80, ..] => read_legacy(&mut SliceBlob(bytes), keep),
        _ => Err(TorchError::NotTorch),
    }
}

/// [`read_torch_filtered`] straight from a file: only the pickles and the kept tensors' storages
/// are read into memory (the rest is skipped with seeks), so loading a large training state
/// never holds the whole file.
pub fn read_torch_file(
    path: &std::path::Path,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Object, TorchError> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut head = [0u8; 4];
    let got = read_up_to(&mut file, &mut head)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    match &head[..got] {
        [] => Err(TorchError::Empty),
        [b'P', b'K', 3, 4] => read_zip(std::io::BufReader::new(file), len, keep),
        [0x80, ..] => read_legacy(&mut FileBlob { file, len }, keep),
        _ => Err(TorchError::NotTorch),
    }
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Random access to a legacy file's bytes: in memory, or read from disk on demand.
trait Blob {
    fn len(&self) -> usize;
    /// Up to `len` bytes from `pos` (fewer at the end of the data).
    fn read_at(&mut self, pos: usize, len: usize) -> std::io::Result<Cow<'_, [u8]>>;
}

struct SliceBlob<'a>(&'a [u8]);

impl Blob for SliceBlob<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn read_at(&mut self, pos: usize, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        let start = pos.min(self.0.len());
        let end = pos.saturating_add(len).min(self.0.len());
        Ok(Cow::Borrowed(&self.0[start..end]))
    }
}

struct FileBlob {
    file: std::fs::File,
    len: usize,
}

impl Blob for FileBlob {
    fn len(&self) -> usize {
        self.len
    }
    fn read_at(&mut self, pos: usize, len: usize) -> std::io::Result<Cow<'_, [u8]>> {
        let len = len.min(self.len.saturating_sub(pos));
        let mut buf = vec![0u8; len];
        self.file.seek(std::io::SeekFrom::Start(pos as u64))?;
        let got = read_up_to(&mut self.file, &mut buf)?;
        buf.truncate(got);
        Ok(Cow::Owned(buf))
    }
}

/// Replaces the values of rejected top-level entries by `None`.
fn prune(root: Value, keep: &dyn Fn(&str) -> bool) -> Value {
    match root {
        Value::Dict(items) => Value::Dict(
            items
                .into_iter()
                .map(|(k, v)| {
                    let drop = matches!(&k, Value::Str(s) if !keep(s));
                    (k, if drop { Value::None } else { v })
                })
                .collect(),
        ),
        other => other,
    }
}

fn read_zip<R: Read + Seek>(
    reader: R,
    total_len: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Object, TorchError> {
    let zip_err = |e: zip::result::ZipError| TorchError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(reader).map_err(zip_err)?;
    let pkl_name = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .ok_or(TorchError::NoDataPkl)?;
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];
    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}byteorder"), 16)
        && order.starts_with(b"big")
    {
        return Err(TorchError::BigEndian);
    }
    let pkl = read_entry(&mut archive, &pkl_name, total_len)?;
    let (root, _) = read_pickle(&pkl)?;
    drop(pkl);
    let root = prune(root, keep);
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for (key, dtype, numel) in storage_refs(&root) {
        if storages.contains_key(&key) {
            continue;
        }
        let expected = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| TorchError::Zip("storage size overflows".into()))?;
        let name = format!("{prefix}data/{key}");
        let data = read_entry(&mut archive, &name, expected)
            .map_err(|_| TorchError::MissingStorage(key.clone()))?;
        if data.len() < expected {
            return Err(TorchError::StorageSize {
                key,
                expected,
                found: data.len(),
            });
        }
        storages.insert(key, data);
    }
    materialise(root, &storages)
}

/// Reads a zip entry of at most `limit` bytes (guards against lying headers).
fn read_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: usize,
) -> Result<Vec<u8>, TorchError> {
    let entry = archive
        .by_name(name)
        .map_err(|e| TorchError::Zip(format!("{name}: {e}")))?;
    let mut out = Vec::with_capacity((entry.size() as usize).min(limit));
    entry
        .take(limit as u64)
        .read_to_end(&mut out)
        .map_err(|e| TorchError::Zip(format!("{name}: {e}")))?;
    Ok(out)
}

/// The legacy format: magic number, protocol version and system info pickles, the object pickle,
/// the list of storage keys, then each storage as `i64 numel` + raw little-endian elements.
fn read_legacy(blob: &mut dyn Blob, keep: &dyn Fn(&str) -> bool) -> Result<Object, TorchError> {
    // The pickles come first and are small next to the storages: read a prefix, and more of the
    // file only if a pickle runs past it.
    let mut prefix_len = (1usize << 20).min(blob.len());
    let (root, keys, mut pos) = loop {
        let prefix = blob.read_at(0, prefix_len)?;
        match legacy_pickles(&prefix) {
            Err(LegacyHead::Truncated) if prefix_len < blob.len() => {
                prefix_len = prefix_len.saturating_mul(4).min(blob.len());
            }
            Err(LegacyHead::Truncated) => {
                return Err(TorchError::Legacy(
                    "the pickle ends early (truncated file?)".into(),
                ));
            }
            Err(LegacyHead::Error(e)) => return Err(e),
            Ok(head) => break head,
        }
    };
    // Every storage is laid out in the file (the full tree says its element type); only those
    // the kept entries use are read, the others are skipped.
    let dtypes: HashMap<String, StorageType> = storage_refs(&root)
        .into_iter()
        .map(|(k, d, _)| (k, d))
        .collect();
    let root = prune(root, keep);
    let needed: std::collections::HashSet<String> =
        storage_refs(&root).into_iter().map(|(k, _, _)| k).collect();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in keys {
        let key = match key {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string(),
            _ => return Err(TorchError::Legacy("storage key is not a string".into())),
        };
        let dtype = *dtypes
            .get(&key)
            .ok_or_else(|| TorchError::Legacy(format!("storage {key} is never used")))?;
        let header = blob.read_at(pos, 8)?;
        let header: [u8; 8] = header
            .as_ref()
            .try_into()
            .map_err(|_| TorchError::MissingStorage(key.clone()))?;
        let numel = i64::from_le_bytes(header);
        pos += 8;
        let len = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| TorchError::Legacy(format!("storage {key} has a bad size")))?;
        let available = blob.len().saturating_sub(pos);
        if len > available {
            return Err(TorchError::StorageSize {
                key,
                expected: len,
                found: available,
            });
        }
        if needed.contains(&key) {
            let data = blob.read_at(pos, len)?.into_owned();
            storages.insert(key, data);
        }
        pos += len;
    }
    materialise(root, &storages)
}

/// Why the pickles at the start of a legacy file could not be read.
enum LegacyHead {
    /// A pickle runs past the bytes given.
    Truncated,
    Error(TorchError),
}

/// The legacy file's pickles: magic number, protocol, system info, the object, the storage keys.
/// Returns the object, the keys and the offset of the first storage.
fn legacy_pickles(bytes: &[u8]) -> Result<(Value, Vec<Value>, usize), LegacyHead> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value, LegacyHead> {
        let (value, used) = read_pickle(&bytes[pos..]).map_err(|e| match e {
            PickleError::Truncated => LegacyHead::Truncated,
            PickleError::ForbiddenGlobal(_) => LegacyHead::Error(TorchError::Pickle(e)),
            other => LegacyHead::Error(TorchError::Legacy(format!("{what}: {other}"))),
        })?;
        pos += used;
        Ok(value)
    };
    let fail = |m: String| LegacyHead::Error(TorchError::Legacy(m));
    match next("magic number")? {
        Value::Int(LEGACY_MAGIC) => {}
        _ => {
            return Err(fail(
                "a pickle, but without torch.save's magic number".into(),
            ));
        }
    }
    match next("protocol version")? {
        Value::Int(1001) => {}
        other => return Err(fail(format!("protocol {other:?}"))),
    }
    if let Value::Dict(info) = next("system info")? {
        let big = info.iter().any(|(k, v)| {
            matches!(k, Value::Str(s) if s == "little_endian") && *v == Value::Bool(false)
        });
        if big {
            return Err(LegacyHead::Error(TorchError::BigEndian));
        }
    }
    let root = next("object")?;
    let keys = match next("storage keys")? {
        Value::List(keys) => keys,
        _ => return Err(fail("storage key list missing".into())),
    };
    Ok((root, keys, pos))
}

fn storage_refs(value: &Value) -> Vec<(String, StorageType, usize)> {
    let mut refs = tensor_storages(value);
    refs.dedup_by(|a, b| a.0 == b.0);
    refs
}

/// Storages referenced through tensors, with the element count the view needs.
fn tensor_storages(value: &Value) -> Vec<(String, StorageType, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Tensor(t) => out.push((t.storage_key.clone(), t.dtype, view_extent(t))),
            Value::List(items) | Value::Tuple(items) => stack.extend(items),
            Value::Dict(items) => {
                for (k, v) in items {
                    stack.push(k);
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    // Keep the largest extent per storage.
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
    out
}

fn view_extent(t: &TensorRef) -> usize {
    if t.shape.contains(&0) {
        return 0;
    }
    t.offset
        + 1
        + t.shape
            .iter()
            .zip(&t.stride)
            .map(|(d, s)| (d - 1) * s)
            .sum::<usize>()
}

fn materialise<S: AsRef<[u8]>>(
    value: Value,
    storages: &HashMap<String, S>,
) -> Result<Object, TorchError> {
    Ok(match value {
        Value::None => Object::None,
        Value::Bool(b) => Object::Bool(b),
        Value::Int(i) => Object::Int(i),
        Value::Float(f) => Object::Float(f),
        Value::Str(s) => Object::Str(s),
        Value::Bytes(b) => Object::Bytes(b),
        Value::List(items) | Value::Tuple(items) => Object::List(
            items
                .into_iter()
                .map(|v| materialise(v, storages))
                .collect::<Result<_, _>>()?,
        ),
        Value::Dict(items) => Object::Dict(
            items
                .into_iter()
                .map(|(k, v)| Ok((materialise(k, storages)?, materialise(v, storages)?)))
                .collect::<Result<_, TorchError>>()?,
        ),
        Value::Tensor(t) => Object::Tensor(read_tensor(&t, storages)?),
        // Globals and bare storages carry no weights; keep their place in the tree.
        Value::Global(_) | Value::Storage { .. } => Object::None,
    })
}

fn read_tensor<S: AsRef<[u8]>>(
    t: &TensorRef,
    storages: &HashMap<String, S>,
) -> Result<TorchTensor, TorchError> {
    let bytes = storages
        .get(&t.storage_key)
        .ok_or_else(|| TorchError::MissingStorage(t.storage_key.clone()))?
        .as_ref();
    let size = t.dtype.size();
    let needed = view_extent(t) * size;
    if bytes.len() < needed {
        return Err(TorchError::StorageSize {
            key: t.storage_key.clone(),
            expected: needed,
            found: bytes.len(),
        });
    }
    // No more values than the stored bytes hold: zero strides would let a few bytes claim
    // gigabytes (the pickle's own check trusts the storage size it declares; this is the data).
    let numel = match t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(numel) if numel <= bytes.len() / size => numel,
        numel => {
            return Err(TorchError::StorageSize {
                key: t.storage_key.clone(),
                expected: numel.unwrap_or(usize::MAX).saturating_mul(size),
                found: bytes.len(),
            });
        }
    };
    let mut data = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..numel {
        let element = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        let b = &bytes[element * size..element * size + size];
        data.push(decode(t.dtype, b));
        // Advance the row-major multi-index.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(TorchTensor {
        shape: t.shape.clone(),
        data,
        stored_as: t.dtype,
    })
}

fn decode(dtype: StorageType, b: &[u8]) -> f32 {
    match dtype {
        StorageType::F32 => f32::from_le_bytes(b.try_into().unwrap()),
        StorageType::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
        StorageType::F16 => half::f16::from_le_bytes(b.try_into().unwrap()).to_f32(),
        StorageType::BF16 => half::bf16::from_le_bytes(b.try_into().unwrap()).to_f32(),
        StorageType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f32,
        StorageType::I32 => i32::from_le_bytes(b.try_into().unwrap()) as f32,
        StorageType::I16 => i16::from_le_bytes(b.try_into().unwrap()) as f32,
        StorageType::I8 => b[0] as i8 as f32,
        StorageType::U8 | StorageType::Bool => b[0] as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(dir: &str, name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir)
            .join(name)
    }

    #[test]
    fn a_view_never_holds_more_values_than_its_stored_bytes() {
        let view = |shape: Vec<usize>, stride: Vec<usize>| TensorRef {
            storage_key: "0".into(),
            dtype: StorageType::F32,
            offset: 0,
            shape,
            stride,
        };
        let storages: HashMap<String, Vec<u8>> = [(
            "0".to_string(),
            [1.5f32, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
        )]
        .into();
        let read = read_tensor(&view(vec![2], vec![1]), &storages).unwrap();
        assert_eq!(read.data, [1.5, 2.5]);
        // A transposed view of the same two values is fine; a billion repeats of one is not.
        assert!(read_tensor(&view(vec![2, 1], vec![1, 1]), &storages).is_ok());
        let start = std::time::Instant::now();
        let err = read_tensor(&view(vec![1_000_000_000], vec![0]), &storages).unwrap_err();
        assert!(
            matches!(err, TorchError::StorageSize { found: 8, .. }),
            "{err}"
        );
        assert!(start.elapsed().as_secs_f64() < 0.5);
    }

    /// Reading from the file (streamed) and from memory give the same object, with and without
    /// a filter, for both formats.
    #[test]
    fn streamed_and_in_memory_reads_agree() {
        let drop_dis = |k: &str| !k.starts_with("dis");
        for name in ["drit.pth", "drit_legacy.pth"] {
            let path = fixture("drit-tiny", name);
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                read_torch_file(&path, &|_| true).unwrap(),
                read_torch(&bytes).unwrap()
            );
            let filtered = read_torch_file(&path, &drop_dis).unwrap();
            assert_eq!(filtered, read_torch_filtered(&bytes, &drop_dis).unwrap());
            assert_eq!(filtered.get("disA"), Some(&Object::None));
            assert!(matches!(filtered.get("gen"), Some(Object::Dict(_))));
        }
    }

    /// MUNIT / UNIT generator pairs are told apart from DRIT files by their keys, whatever
    /// their extension.
    #[test]
    fn generator_pairs_are_recognised_from_their_keys() {
        use crate::checkpoint::needs_config;
        assert!(needs_config(&fixture("munit-tiny", "gen.pt")));
        assert!(needs_config(&fixture("unit-tiny", "gen_legacy.pt")));
        assert!(!needs_config(&fixture("drit-tiny", "drit.pth")));
        assert!(!needs_config(&fixture(
            "drit-tiny-noconcat",
            "drit_legacy.pth"
        )));
        assert!(!needs_config(&fixture("munit-tiny", "config.yaml")));
    }

    /// A file cut anywhere is an error, never a panic, in either format.
    #[test]
    fn files_cut_anywhere_fail_cleanly() {
        let dir = std::env::temp_dir().join(format!("stylespace-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["drit.pth", "drit_legacy.pth"] {
            let bytes = std::fs::read(fixture("drit-tiny", name)).unwrap();
            let mut state = 7u64;
            for _ in 0..25 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let cut = (state >> 33) as usize % bytes.len();
                let path = dir.join(name);
                std::fs::write(&path, &bytes[..cut]).unwrap();
                assert!(
                    read_torch_file(&path, &|_| true).is_err(),
                    "{name} cut at {cut}"
                );
                assert!(read_torch(&bytes[..cut]).is_err(), "{name} cut at {cut}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
