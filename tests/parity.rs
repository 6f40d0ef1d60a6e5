//! Parity with the official implementations: the seeded munit-tiny, drit-tiny (concat),
//! drit-tiny-noconcat and unit-tiny checkpoints (zip and legacy formats) must reproduce every
//! tensor PyTorch computed, on the CPU backend (1e-4) and on wgpu (1e-3; lavapipe in CI), and the
//! discriminators must reproduce the GAN loss terms. Every family is checked by
//! `engine::reference::check_reference` (the engine's family-agnostic `Model`), the function
//! `stylespace check-reference` runs on any device.

mod common;

use burn::prelude::*;
use burn::tensor::TensorData;
use common::{expected, fixture, fixture_in, styles};
use stylespace::Domain;
use stylespace::checkpoint::{load_discriminators, load_generators};
use stylespace::config::Config;
use stylespace::engine::reference::check_reference;
use stylespace::engine::{DeviceChoice, select_device};
use stylespace::model::params::to_vec;

fn config() -> Config {
    Config::load(&fixture("config.yaml")).unwrap().config
}

fn tensor4(values: &[f32], shape: &[usize], device: &Device) -> Tensor<4> {
    let shape: [usize; 4] = shape.try_into().unwrap();
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn style_tensor(style: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(style.to_vec(), [1, style.len()]), device)
}

/// Checks every tensor of a reference folder with one of its checkpoints against `tolerance`;
/// returns the largest difference seen.
fn check(dir: &str, file: &str, device: &Device, tolerance: f32) -> f32 {
    let path = fixture_in(dir, "");
    let report = check_reference(&path, Some(file), device).unwrap();
    assert!(
        report.unchecked.is_empty(),
        "{dir}: tensors not compared: {:?}",
        report.unchecked
    );
    // Inputs, codes/latents and decodes at least: a check that compared nothing cannot pass.
    assert!(report.checks.len() >= 8, "{dir}: {:?}", report.checks);
    let failures = report.failures(tolerance);
    assert!(
        failures.is_empty(),
        "{dir}/{file}: over {tolerance}: {failures:?}"
    );
    report.worst()
}

#[test]
fn zip_checkpoint_matches_pytorch_on_cpu() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    let worst = check("munit-tiny", "gen.pt", &device, 1e-4);
    eprintln!("cpu, gen.pt: worst max |diff| = {worst:e}");
}

#[test]
fn legacy_checkpoint_matches_pytorch_on_cpu() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    let worst = check("munit-tiny", "gen_legacy.pt", &device, 1e-4);
    eprintln!("cpu, gen_legacy.pt: worst max |diff| = {worst:e}");
}

#[test]
fn zip_checkpoint_matches_pytorch_on_wgpu() {
    let compute = select_device(DeviceChoice::Wgpu)
        .expect("a wgpu adapter (lavapipe in CI: install mesa-vulkan-drivers)");
    eprintln!("{}", compute.description);
    let worst = check("munit-tiny", "gen.pt", &compute.device, 1e-3);
    eprintln!("wgpu, gen.pt: worst max |diff| = {worst:e}");
}

fn losses() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("losses.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_rel(name: &str, actual: f32, expected: f64) {
    let rel = ((actual as f64 - expected) / expected).abs();
    assert!(
        rel <= 1e-4,
        "{name}: {actual} vs {expected} (relative error {rel:e})"
    );
}

#[test]
fn discriminators_reproduce_gan_losses() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    let cfg = config();
    let gens = load_generators(&cfg, &fixture("gen.pt"), &device).unwrap();
    let [dis_a, dis_b] = load_discriminators(&cfg, &fixture("dis.pt"), &device).unwrap();
    let exp = expected();
    let x = |name: &str| {
        let (shape, values) = &exp[name];
        tensor4(values, shape, &device)
    };
    let (x_a, x_b) = (x("x_a"), x("x_b"));
    let codes = styles();
    // losses.json fixes s_a = styles[0] (for gen_a) and s_b = styles[1] (for gen_b).
    let content_a = gens.get(Domain::A).encode_content(x_a.clone());
    let content_b = gens.get(Domain::B).encode_content(x_b.clone());
    let x_ba = gens
        .a
        .decode_style(content_b, style_tensor(&codes[0], &device));
    let x_ab = gens
        .b
        .decode_style(content_a, style_tensor(&codes[1], &device));
    let scalar = |t: Tensor<1>| to_vec(t)[0];
    let l = losses();
    assert_rel(
        "gen_adv_a",
        scalar(dis_a.gen_loss(x_ba.clone())),
        l["gen_adv_a"].as_f64().unwrap(),
    );
    assert_rel(
        "gen_adv_b",
        scalar(dis_b.gen_loss(x_ab.clone())),
        l["gen_adv_b"].as_f64().unwrap(),
    );
    assert_rel(
        "dis_a",
        scalar(dis_a.dis_loss(x_ba, x_a)),
        l["dis_a"].as_f64().unwrap(),
    );
    assert_rel(
        "dis_b",
        scalar(dis_b.dis_loss(x_ab, x_b)),
        l["dis_b"].as_f64().unwrap(),
    );
}

#[test]
fn zip_and_legacy_checkpoints_hold_the_same_weights() {
    use stylespace::checkpoint::{Kind, read_official};
    let zip = read_official(&fixture("gen.pt"), Kind::MunitGenerators).unwrap();
    let legacy = read_official(&fixture("gen_legacy.pt"), Kind::MunitGenerators).unwrap();
    assert_eq!(
        zip.a.len(),
        82 - 16,
        "66 parameters once AdaIN buffers are dropped"
    );
    assert_eq!(zip.a, legacy.a);
    assert_eq!(zip.b, legacy.b);
}

#[test]
fn drit_concat_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["drit.pth", "drit_legacy.pth"] {
        let worst = check("drit-tiny", file, &device, 1e-4);
        eprintln!("cpu, drit-tiny/{file}: worst max |diff| = {worst:e}");
    }
}

#[test]
fn drit_noconcat_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["drit.pth", "drit_legacy.pth"] {
        let worst = check("drit-tiny-noconcat", file, &device, 1e-4);
        eprintln!("cpu, drit-tiny-noconcat/{file}: worst max |diff| = {worst:e}");
    }
}

#[test]
fn unit_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["gen.pt", "gen_legacy.pt"] {
        let worst = check("unit-tiny", file, &device, 1e-4);
        eprintln!("cpu, unit-tiny/{file}: worst max |diff| = {worst:e}");
    }
}

#[test]
fn drit_and_unit_match_pytorch_on_wgpu() {
    let compute = select_device(DeviceChoice::Wgpu)
        .expect("a wgpu adapter (lavapipe in CI: install mesa-vulkan-drivers)");
    let device = &compute.device;
    for (dir, file) in [
        ("drit-tiny", "drit.pth"),
        ("drit-tiny-noconcat", "drit_legacy.pth"),
    ] {
        let worst = check(dir, file, device, 1e-3);
        eprintln!("wgpu, {dir}/{file}: worst max |diff| = {worst:e}");
    }
    let worst = check("unit-tiny", "gen.pt", device, 1e-3);
    eprintln!("wgpu, unit-tiny/gen.pt: worst max |diff| = {worst:e}");
}
