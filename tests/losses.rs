//! One training step's losses and gradient norms equal the official trainer's (losses.json).

mod common;

use common::{fixture, run_cli, styles};

fn csv(v: &[f32]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn losses_command_reproduces_the_official_training_step() {
    let codes = styles();
    let path = |n: &str| fixture(n).display().to_string();
    let (status, stdout, stderr) = run_cli(&[
        "losses",
        "--config",
        &path("config.yaml"),
        "--checkpoint",
        &path("gen.pt"),
        "--dis",
        &path("dis.pt"),
        "--input-a",
        &path("a.png"),
        "--input-b",
        &path("b.png"),
        "--style-a",
        &csv(&codes[0]),
        "--style-b",
        &csv(&codes[1]),
        "--json",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let ours: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let official: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("losses.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (name, want) in official.as_object().unwrap() {
        let Some(want) = want.as_f64() else { continue };
        let got = ours[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing from {stdout}"));
        let rel = ((got - want) / want).abs();
        assert!(rel <= 1e-4, "{name}: {got} vs {want} (relative {rel:e})");
        checked += 1;
    }
    assert_eq!(
        checked, 16,
        "every term, both totals and both gradient norms"
    );
}
