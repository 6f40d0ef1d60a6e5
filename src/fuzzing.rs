//! Entry points for fuzzers: every reader of files that come from strangers, taking any bytes.
//! Each returns normally for every input: an `Err` inside is a clean refusal; a panic, a hang or
//! an allocation beyond the documented limits is a bug. The cargo-fuzz targets in `fuzz/` call
//! these, and so does the stable smoke run in `tests/fuzz_smoke.rs` (what CI runs).

use std::path::Path;

use burn::prelude::Device;

use crate::Domain;
use crate::checkpoint::{self, pickle, torch};
use crate::config::Config;

/// Largest decoded image the image target lets through (the app's own limit is 512 MiB; a
/// fuzzer does not need to spend seconds on each huge but valid image).
pub const IMAGE_BUDGET: u64 = 16 << 20;

/// A fuzz target: any bytes in, nothing out.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for the smoke run and the docs.
pub const TARGETS: [(&str, Target); 7] = [
    ("pickle", pickle_bytes),
    ("torch", torch_bytes),
    ("native_model", native_model),
    ("config", config),
    ("image", image),
    ("style_set", style_set),
    ("session", session),
];

/// The restricted pickle interpreter (what `torch.save` files hold).
pub fn pickle_bytes(data: &[u8]) {
    if let Ok((value, _)) = pickle::read_pickle(data) {
        let _ = format!("{value:?}");
    }
}

/// `torch.save` files, zip or legacy, then what a load does with them: classified by their keys
/// and built into networks, alone (DRIT++) and with a MUNIT and a UNIT config.
pub fn torch_bytes(data: &[u8]) {
    let Ok(object) = torch::read_torch(data) else {
        return;
    };
    let _ = object.describe();
    let _ = object.dict_keys();
    let device = Device::flex();
    let path = Path::new("fuzz.pt");
    let (munit, unit) = seed_configs();
    for config in [None, Some(&munit), Some(&unit)] {
        let _ = checkpoint::networks_from_torch_bytes(data, config, &device, path);
    }
}

/// The MUNIT and UNIT configs [`torch_bytes`] builds with: the widths of the test fixtures
/// (munit-tiny, unit-tiny) that seed the fuzzers, so a seed builds whole networks and mutations
/// reach every check on the way.
pub fn seed_configs() -> (Config, Config) {
    let mut munit = Config::munit_default();
    munit.generator.dim = 16;
    munit.generator.mlp_dim = Some(64);
    let mut unit = munit.clone();
    unit.generator.style_dim = None;
    unit.generator.mlp_dim = None;
    unit.generator.n_res = 3;
    (munit, unit)
}

/// A native model folder: a YAML config and a safetensors file, given as `yaml \0 safetensors`;
/// both generators are built from it as a load would.
pub fn native_model(data: &[u8]) {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (yaml, weights) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let Ok(yaml) = std::str::from_utf8(yaml) else {
        return;
    };
    let Ok(loaded) = Config::from_yaml(yaml, "fuzz.yaml") else {
        return;
    };
    let path = Path::new("fuzz.safetensors");
    let Ok((flat, _)) = checkpoint::read_native_bytes(weights, path) else {
        return;
    };
    let Ok(pair) = checkpoint::split_domains(flat) else {
        return;
    };
    let device = Device::flex();
    let config = loaded.config;
    let _ = checkpoint::generator_from_state_dict(&config, Domain::A, pair.a, &device, path);
    let _ = checkpoint::generator_from_state_dict(&config, Domain::B, pair.b, &device, path);
}

/// The official MUNIT / UNIT YAML config.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_yaml(text, "fuzz.yaml");
    }
}

/// Images of every supported format through the loader's limits (decoded size capped at
/// [`IMAGE_BUDGET`]), then the model's preprocessing of both kinds.
pub fn image(data: &[u8]) {
    use crate::io::image::{Preprocess, decode_image_within, preprocess_with};
    let Ok(img) = decode_image_within(data, "fuzz", IMAGE_BUDGET) else {
        return;
    };
    let _ = preprocess_with(&img, Preprocess::ShorterSide { new_size: 16 }, 3, "fuzz");
    let _ = preprocess_with(
        &img,
        Preprocess::ResizeCrop {
            resize: 20,
            crop: 16,
        },
        1,
        "fuzz",
    );
}

/// Style-code sets (JSON), as the app loads them.
pub fn style_set(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::engine::styles::StyleSet::from_json(text, None);
    }
}

/// The explorer's session file.
pub fn session(data: &[u8]) {
    let _ = crate::app::session::Session::from_bytes(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_torch_seeds_build_whole_networks_with_the_seed_configs() {
        let fixture = |f: &str| {
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(f),
            )
            .unwrap()
        };
        let device = Device::flex();
        let path = Path::new("seed.pt");
        let (munit, unit) = seed_configs();
        for (file, config) in [
            ("munit-tiny/gen.pt", Some(&munit)),
            ("unit-tiny/gen.pt", Some(&unit)),
            ("unit-tiny/gen_legacy.pt", Some(&unit)),
            ("drit-tiny/drit.pth", None),
        ] {
            let built =
                checkpoint::networks_from_torch_bytes(&fixture(file), config, &device, path);
            assert!(built.is_ok(), "{file}: {:?}", built.err());
        }
    }
}
