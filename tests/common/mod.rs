//! Helpers shared by the integration tests: fixture paths, expected tensors, and a minimal
//! writer of `torch.save` files (zip and legacy) for crafted checkpoints.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use stylespace::engine::reference::{Expected, read_expected};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/munit-tiny")
        .join(name)
}

/// A file of another fixture folder (`drit-tiny`, `drit-tiny-noconcat`, `unit-tiny`, ...).
pub fn fixture_in(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

pub fn image_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

/// Every tensor of `expected.safetensors`: name -> (shape, values).
pub fn expected() -> Expected {
    expected_in("munit-tiny")
}

/// Every tensor of a fixture folder's `expected.safetensors`.
pub fn expected_in(dir: &str) -> Expected {
    read_expected(&fixture_in(dir, "expected.safetensors")).unwrap()
}

/// The four style codes of `styles.json`.
pub fn styles() -> Vec<Vec<f32>> {
    let text = std::fs::read_to_string(fixture("styles.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Writes pickle opcodes (protocol 2).
#[derive(Default)]
pub struct Pickle {
    pub buf: Vec<u8>,
}

impl Pickle {
    pub fn new() -> Self {
        Self { buf: vec![0x80, 2] }
    }
    pub fn op(&mut self, op: u8) -> &mut Self {
        self.buf.push(op);
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.buf.push(b'X');
        self.buf.extend((s.len() as u32).to_le_bytes());
        self.buf.extend(s.as_bytes());
        self
    }
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.buf.push(0x8a);
        self.buf.push(8);
        self.buf.extend(v.to_le_bytes());
        self
    }
    pub fn float(&mut self, v: f64) -> &mut Self {
        self.buf.push(b'G');
        self.buf.extend(v.to_be_bytes());
        self
    }
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.buf.push(b'c');
        self.buf.extend(format!("{module}\n{name}\n").as_bytes());
        self
    }
    pub fn mark(&mut self) -> &mut Self {
        self.op(b'(')
    }
    pub fn tuple(&mut self) -> &mut Self {
        self.op(b't')
    }
    pub fn stop(&mut self) -> Vec<u8> {
        self.buf.push(b'.');
        std::mem::take(&mut self.buf)
    }
    /// `ints` as a tuple.
    pub fn int_tuple(&mut self, ints: &[usize]) -> &mut Self {
        self.mark();
        for &i in ints {
            self.int(i as i64);
        }
        self.tuple()
    }
    /// `_rebuild_tensor_v2(storage(key, numel), 0, shape, contiguous stride, False, OrderedDict())`.
    pub fn tensor(&mut self, key: &str, shape: &[usize], legacy: bool) -> &mut Self {
        let numel: usize = shape.iter().product();
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.mark();
        // persistent id ('storage', FloatStorage, key, 'cpu', numel[, None])
        self.mark();
        self.str("storage");
        self.global("torch", "FloatStorage");
        self.str(key);
        self.str("cpu");
        self.int(numel as i64);
        if legacy {
            self.op(b'N');
        }
        self.tuple();
        self.op(b'Q');
        self.int(0);
        self.int_tuple(shape);
        self.int_tuple(&stride);
        self.op(0x89);
        self.global("collections", "OrderedDict");
        self.op(b')');
        self.op(b'R');
        self.tuple();
        self.op(b'R')
    }
}

/// A state dict to write: key -> (shape, values).
pub type Dict = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Pickles `{'a': OrderedDict(a), 'b': OrderedDict(b)}`; returns the pickle and storages.
fn pickle_pair(domains: &[(&str, &Dict)], legacy: bool) -> (Vec<u8>, Vec<(String, Vec<f32>)>) {
    let mut p = Pickle::new();
    let mut storages = Vec::new();
    p.op(b'}').mark();
    for (name, dict) in domains {
        p.str(name);
        p.global("collections", "OrderedDict").op(b')').op(b'R');
        p.mark();
        for (key, (shape, values)) in dict.iter() {
            let storage_key = storages.len().to_string();
            p.str(key);
            p.tensor(&storage_key, shape, legacy);
            storages.push((storage_key, values.clone()));
        }
        p.op(b'u');
    }
    p.op(b'u');
    (p.stop(), storages)
}

/// A zip-format `.pt` holding the given pickle and raw f32 storages.
pub fn torch_zip(pickle: &[u8], storages: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("archive/data.pkl", opts).unwrap();
        zip.write_all(pickle).unwrap();
        zip.start_file("archive/byteorder", opts).unwrap();
        zip.write_all(b"little").unwrap();
        for (key, values) in storages {
            zip.start_file(format!("archive/data/{key}"), opts).unwrap();
            for v in values {
                zip.write_all(&v.to_le_bytes()).unwrap();
            }
        }
        zip.start_file("archive/version", opts).unwrap();
        zip.write_all(b"3\n").unwrap();
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// A legacy-format `.pt`: magic, protocol, sys info, the pickle, storage keys, raw storages.
pub fn torch_legacy(pickle: &[u8], storages: &[(String, Vec<f32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    // magic number 0x1950a86a20f9469cfc6c as LONG1
    let mut p = Pickle::new();
    p.op(0x8a).op(10);
    p.buf
        .extend(0x1950a86a20f9469cfc6c_u128.to_le_bytes()[..10].to_vec());
    out.extend(p.stop());
    let mut p = Pickle::new();
    p.int(1001);
    out.extend(p.stop());
    let mut p = Pickle::new();
    p.op(b'}').mark().str("little_endian").op(0x88).op(b'u');
    out.extend(p.stop());
    out.extend(pickle);
    let mut p = Pickle::new();
    p.op(b']').mark();
    for (key, _) in storages {
        p.str(key);
    }
    p.op(b'e');
    out.extend(p.stop());
    for (_, values) in storages {
        out.extend((values.len() as i64).to_le_bytes());
        for v in values {
            out.extend(v.to_le_bytes());
        }
    }
    out
}

/// A generator-style `.pt` with domains `a` and `b`.
pub fn torch_pair(a: &Dict, b: &Dict, legacy: bool) -> Vec<u8> {
    let (pickle, storages) = pickle_pair(&[("a", a), ("b", b)], legacy);
    if legacy {
        torch_legacy(&pickle, &storages)
    } else {
        torch_zip(&pickle, &storages)
    }
}

/// A `.pth` whose top-level dict holds the given state dicts by name (a DRIT training state's
/// `enc_c`, `enc_a`, `gen`, ...).
pub fn torch_dicts(parts: &[(&str, &Dict)], legacy: bool) -> Vec<u8> {
    let (pickle, storages) = pickle_pair(parts, legacy);
    if legacy {
        torch_legacy(&pickle, &storages)
    } else {
        torch_zip(&pickle, &storages)
    }
}

/// A `.pt` holding only domain `a`.
pub fn torch_single_domain(a: &Dict) -> Vec<u8> {
    let (pickle, storages) = pickle_pair(&[("a", a)], false);
    torch_zip(&pickle, &storages)
}

/// An optimizer.pt as the official trainer writes it: {'gen': Adam state, 'dis': Adam state}.
pub fn torch_optimizer() -> Vec<u8> {
    let mut p = Pickle::new();
    let mut storages = Vec::new();
    p.op(b'}').mark();
    for (i, name) in ["gen", "dis"].iter().enumerate() {
        p.str(name);
        p.op(b'}').mark();
        p.str("state").op(b'}').mark();
        p.int(0).op(b'}').mark();
        let key = i.to_string();
        p.str("exp_avg").tensor(&key, &[2], false);
        storages.push((key, vec![0.5, -0.5]));
        p.str("step").float(10.0);
        p.op(b'u');
        p.op(b'u');
        p.str("param_groups").op(b']').mark();
        p.op(b'}').mark();
        p.str("lr").float(1e-4);
        p.str("betas").float(0.5).float(0.999).op(0x86);
        p.str("params").op(b']').mark().int(0).op(b'e');
        p.op(b'u');
        p.op(b'e');
        p.op(b'u');
    }
    p.op(b'u');
    torch_zip(&p.stop(), &storages)
}

/// A pickle that would run `os.system(command)` if it were executed.
pub fn malicious_pickle(command: &str) -> Vec<u8> {
    let mut p = Pickle::new();
    p.op(b'}').mark().str("a");
    p.global("posix", "system")
        .mark()
        .str(command)
        .tuple()
        .op(b'R');
    p.op(b'u');
    p.stop()
}

/// Path of the `stylespace` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stylespace"))
}

/// Runs the CLI; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
