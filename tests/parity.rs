//! Parity with the official implementations: the seeded munit-tiny, drit-tiny (concat),
//! drit-tiny-noconcat and unit-tiny checkpoints (zip and legacy formats) must reproduce every
//! tensor PyTorch computed, on the CPU backend (1e-4) and on wgpu (1e-3; lavapipe in CI), and the
//! discriminators must reproduce the GAN loss terms. DRIT and UNIT go through the engine's
//! family-agnostic `Model`.

mod common;

use burn::prelude::*;
use burn::tensor::TensorData;
use common::{expected, expected_in, fixture, fixture_in, max_abs_diff, styles};
use stylespace::Domain;
use stylespace::checkpoint::{GeneratorPair, load_discriminators, load_generators};
use stylespace::config::Config;
use stylespace::engine::{DeviceChoice, Model, select_device};
use stylespace::io::image::{load_image, preprocess};
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

/// Checks every expected tensor for one loaded pair; returns the largest difference seen.
fn check_all(gens: &GeneratorPair, device: &Device, tolerance: f32) -> f32 {
    let exp = expected();
    let get = |name: &str| exp.get(name).unwrap_or_else(|| panic!("missing {name}"));
    let mut worst = 0f32;
    let mut check = |name: &str, actual: Vec<f32>| {
        let (_, want) = get(name);
        let diff = max_abs_diff(&actual, want);
        assert!(diff <= tolerance, "{name}: max |diff| {diff} > {tolerance}");
        worst = worst.max(diff);
    };

    // Inputs: the PNGs through the official preprocessing.
    let cfg = config();
    let mut inputs = Vec::new();
    for (file, name) in [("a.png", "x_a"), ("b.png", "x_b")] {
        let img = load_image(&fixture(file)).unwrap();
        let prepared = preprocess(&img, cfg.new_size, 3, file).unwrap();
        check(name, prepared.data.clone());
        inputs.push(tensor4(&prepared.data, &prepared.shape(), device));
    }
    let (x_a, x_b) = (inputs[0].clone(), inputs[1].clone());

    let content_a = gens.a.encode_content(x_a.clone());
    let content_b = gens.b.encode_content(x_b.clone());
    let style_a = gens.a.encode_style(x_a);
    let style_b = gens.b.encode_style(x_b);
    check("content_a", to_vec(content_a.clone()));
    check("content_b", to_vec(content_b.clone()));
    check("style_a", to_vec(style_a.clone()));
    check("style_b", to_vec(style_b.clone()));

    let codes = styles();
    let batch: Vec<f32> = codes.concat();
    let params_b = gens.b.adain_params(Tensor::from_data(
        TensorData::new(batch, [codes.len(), 8]),
        device,
    ));
    check("adain_params_b", to_vec(params_b));

    for (i, code) in codes.iter().enumerate() {
        let x_ab = gens
            .b
            .decode_style(content_a.clone(), style_tensor(code, device));
        check(&format!("x_ab_{i}"), to_vec(x_ab));
        let x_ba = gens
            .a
            .decode_style(content_b.clone(), style_tensor(code, device));
        check(&format!("x_ba_{i}"), to_vec(x_ba));
    }
    let flat = |s: Tensor<4>| s.reshape([1, 8]);
    let x_ab_ref = gens
        .b
        .decode_style(content_a.clone(), flat(style_b.clone()));
    check("x_ab_ref", to_vec(x_ab_ref));
    let x_ba_ref = gens
        .a
        .decode_style(content_b.clone(), flat(style_a.clone()));
    check("x_ba_ref", to_vec(x_ba_ref));
    let x_aa = gens.a.decode_style(content_a, flat(style_a));
    check("x_aa", to_vec(x_aa));
    worst
}

#[test]
fn zip_checkpoint_matches_pytorch_on_cpu() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    let gens = load_generators(&config(), &fixture("gen.pt"), &device).unwrap();
    let worst = check_all(&gens, &device, 1e-4);
    eprintln!("cpu, gen.pt: worst max |diff| = {worst:e}");
}

#[test]
fn legacy_checkpoint_matches_pytorch_on_cpu() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    let gens = load_generators(&config(), &fixture("gen_legacy.pt"), &device).unwrap();
    let worst = check_all(&gens, &device, 1e-4);
    eprintln!("cpu, gen_legacy.pt: worst max |diff| = {worst:e}");
}

#[test]
fn zip_checkpoint_matches_pytorch_on_wgpu() {
    let compute = select_device(DeviceChoice::Wgpu)
        .expect("a wgpu adapter (lavapipe in CI: install mesa-vulkan-drivers)");
    eprintln!("{}", compute.description);
    let gens = load_generators(&config(), &fixture("gen.pt"), &compute.device).unwrap();
    let worst = check_all(&gens, &compute.device, 1e-3);
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

/// Checks one expected tensor; returns its max |diff|.
fn check_tensor(
    exp: &std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    name: &str,
    actual: Vec<f32>,
    tolerance: f32,
) -> f32 {
    let (_, want) = exp.get(name).unwrap_or_else(|| panic!("missing {name}"));
    let diff = max_abs_diff(&actual, want);
    assert!(diff <= tolerance, "{name}: max |diff| {diff} > {tolerance}");
    diff
}

/// The fixture images prepared for `model` (its own preprocessing), as tensors, checked against
/// the reference's `x_a`, `x_b`.
fn prepared_inputs(model: &Model, exp: &Expected, tolerance: f32) -> (Tensor<4>, Tensor<4>) {
    let mut out = Vec::new();
    for (file, name, domain) in [("a.png", "x_a", Domain::A), ("b.png", "x_b", Domain::B)] {
        let img = load_image(&fixture(file)).unwrap();
        let prepared = model.prepare(&img, domain, file).unwrap();
        check_tensor(exp, name, prepared.data.clone(), tolerance);
        out.push(model.tensor(&prepared));
    }
    (out.remove(0), out.remove(0))
}

type Expected = std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every tensor of a DRIT reference, through the engine's family-agnostic interface.
fn check_drit(dir: &str, file: &str, device: &Device, tolerance: f32) -> f32 {
    let exp = expected_in(dir);
    let mut model = Model::load(None, &fixture_in(dir, file), device).unwrap();
    // The references feed the 64x64 PNGs as they are: no resize, no crop.
    model.set_resize_crop(Some(0), Some(0)).unwrap();
    let space = model
        .description()
        .style
        .expect("DRIT has an attribute space");
    assert_eq!((space.dim, space.name), (8, "attribute"));
    let mut worst = 0f32;
    let mut check = |name: &str, actual: Vec<f32>| {
        worst = worst.max(check_tensor(&exp, name, actual, tolerance));
    };
    let (x_a, x_b) = prepared_inputs(&model, &exp, tolerance);
    let content_a = model.encode_content(Domain::A, x_a.clone());
    let content_b = model.encode_content(Domain::B, x_b.clone());
    check("content_a", to_vec(content_a.clone()));
    check("content_b", to_vec(content_b.clone()));
    let concat = exp.contains_key("mu_a");
    let attr = |domain: Domain, x: Tensor<4>| {
        let img = stylespace::io::image::ModelImage {
            channels: 3,
            height: 64,
            width: 64,
            data: to_vec(x),
        };
        model.style(domain, &img).unwrap()
    };
    let style_a = attr(Domain::A, x_a);
    let style_b = attr(Domain::B, x_b);
    if concat {
        check("mu_a", style_a.code.clone());
        check("mu_b", style_b.code.clone());
        check("logvar_a", style_a.logvar.clone().unwrap());
        check("logvar_b", style_b.logvar.clone().unwrap());
    } else {
        assert!(style_a.logvar.is_none());
        check("attr_a", style_a.code.clone());
        check("attr_b", style_b.code.clone());
    }
    let (_, z) = &exp["z"];
    for (i, code) in z.chunks(8).enumerate() {
        let x_ab = model
            .decode(Domain::B, content_a.clone(), Some(code))
            .unwrap();
        check(&format!("x_ab_{i}"), to_vec(x_ab));
        let x_ba = model
            .decode(Domain::A, content_b.clone(), Some(code))
            .unwrap();
        check(&format!("x_ba_{i}"), to_vec(x_ba));
    }
    let decode = |target, content: &Tensor<4>, code: &[f32]| {
        to_vec(model.decode(target, content.clone(), Some(code)).unwrap())
    };
    check("x_ab_ref", decode(Domain::B, &content_a, &style_b.code));
    check("x_ba_ref", decode(Domain::A, &content_b, &style_a.code));
    check("x_aa", decode(Domain::A, &content_a, &style_a.code));
    worst
}

#[test]
fn drit_concat_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["drit.pth", "drit_legacy.pth"] {
        let worst = check_drit("drit-tiny", file, &device, 1e-4);
        eprintln!("cpu, drit-tiny/{file}: worst max |diff| = {worst:e}");
    }
}

#[test]
fn drit_noconcat_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["drit.pth", "drit_legacy.pth"] {
        let worst = check_drit("drit-tiny-noconcat", file, &device, 1e-4);
        eprintln!("cpu, drit-tiny-noconcat/{file}: worst max |diff| = {worst:e}");
    }
}

fn unit_config() -> Config {
    Config::load(&fixture_in("unit-tiny", "config.yaml"))
        .unwrap()
        .config
}

/// Every tensor of the UNIT reference (and the discriminator's outputs on the CPU).
fn check_unit(file: &str, device: &Device, tolerance: f32) -> f32 {
    let exp = expected_in("unit-tiny");
    let model = Model::load(Some(unit_config()), &fixture_in("unit-tiny", file), device).unwrap();
    assert!(model.description().style.is_none());
    let mut worst = 0f32;
    let mut check = |name: &str, actual: Vec<f32>| {
        worst = worst.max(check_tensor(&exp, name, actual, tolerance));
    };
    let (x_a, x_b) = prepared_inputs(&model, &exp, tolerance);
    let h_a = model.encode_content(Domain::A, x_a);
    let h_b = model.encode_content(Domain::B, x_b);
    check("h_a", to_vec(h_a.clone()));
    check("h_b", to_vec(h_b.clone()));
    let dec = |target, h: Tensor<4>| model.decode(target, h, None).unwrap();
    let x_ab = dec(Domain::B, h_a.clone());
    check("x_ab", to_vec(x_ab.clone()));
    check("x_ba", to_vec(dec(Domain::A, h_b.clone())));
    check("x_aa", to_vec(dec(Domain::A, h_a.clone())));
    check("x_bb", to_vec(dec(Domain::B, h_b)));
    let x_aba = dec(Domain::A, model.encode_content(Domain::B, x_ab.clone()));
    check("x_aba", to_vec(x_aba));
    let (shape, noise) = &exp["noise"];
    let noisy = h_a + tensor4(noise, shape, device);
    check("x_ab_noise", to_vec(dec(Domain::B, noisy)));
    let [_, dis_b] =
        load_discriminators(&unit_config(), &fixture_in("unit-tiny", "dis.pt"), device).unwrap();
    let outputs: Vec<f32> = dis_b.forward(x_ab).into_iter().flat_map(to_vec).collect();
    check("dis_b_x_ab", outputs);
    worst
}

#[test]
fn unit_matches_pytorch_on_cpu_from_zip_and_legacy() {
    let device = select_device(DeviceChoice::Cpu).unwrap().device;
    for file in ["gen.pt", "gen_legacy.pt"] {
        let worst = check_unit(file, &device, 1e-4);
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
        let worst = check_drit(dir, file, device, 1e-3);
        eprintln!("wgpu, {dir}/{file}: worst max |diff| = {worst:e}");
    }
    let worst = check_unit("gen.pt", device, 1e-3);
    eprintln!("wgpu, unit-tiny/gen.pt: worst max |diff| = {worst:e}");
}
