//! The fuzz targets (`stylespace::fuzzing`) on stable, for a short time each (`FUZZ_SMOKE_SECONDS`,
//! default 15): seeds from tests/fixtures and a seeded mutator (bit flips, interesting bytes,
//! insertions, deletions, duplications, truncations, splices with other seeds). Deterministic
//! inputs, so a failure is a real bug and reproducible: the input that panicked or took over
//! 5 s is written to `target/fuzz-smoke/`. The coverage-guided campaign is `fuzz/`
//! (docs/reliability.md).

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use stylespace::checkpoint::{Kind, Precision, native_bytes, read_official};
use stylespace::fuzzing::TARGETS;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// The pickles inside a zip `torch.save` file.
fn zipped_pickles(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut pickles = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        if file.name().is_ok_and(|n| n.ends_with(".pkl")) {
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            pickles.push(data);
        }
    }
    pickles
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let torch_files = [
        "munit-tiny/gen.pt",
        "munit-tiny/dis.pt",
        "unit-tiny/gen.pt",
        "unit-tiny/gen_legacy.pt",
        "drit-tiny/drit.pth",
        "drit-tiny/drit_legacy.pth",
        "drit-tiny-noconcat/drit.pth",
    ];
    match target {
        "pickle" => {
            let mut pickles: Vec<Vec<u8>> = ["munit-tiny/gen.pt", "drit-tiny/drit.pth"]
                .iter()
                .flat_map(|f| zipped_pickles(&fixture(f)))
                .collect();
            pickles.push(fixture("drit-tiny/drit_legacy.pth"));
            pickles.push(b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u.".to_vec());
            pickles
        }
        "torch" => torch_files.iter().map(|f| fixture(f)).collect(),
        "native_model" => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/munit-tiny");
            let pair = read_official(&path.join("gen.pt"), Kind::MunitGenerators).unwrap();
            let mut seed = fixture("munit-tiny/config.yaml");
            seed.push(0);
            seed.extend(native_bytes(&pair, Precision::F16));
            vec![seed]
        }
        "config" => vec![
            fixture("munit-tiny/config.yaml"),
            fixture("unit-tiny/config.yaml"),
        ],
        "image" => vec![
            fixture("munit-tiny/a.png"),
            fixture("images/cmyk.jpg"),
            fixture("images/openmoji-1F319-colour.png"),
        ],
        "style_set" => vec![
            br#"{"style_dim": 2, "codes": [{"name": "a", "code": [0.5, -1]}, {"name": "b", "code": [1e-3, 2]}]}"#
                .to_vec(),
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/openmoji128/styles.json"),
            )
            .unwrap(),
        ],
        "session" => {
            let mut session = stylespace::app::session::Session {
                style: vec![0.5, -1.0, 2.0],
                images: vec!["a.png".into(), "b/c.jpg".into()],
                roles: vec![[true, false], [true, true]],
                content: Some(1),
                ..Default::default()
            };
            session.settings.interpolation.through = vec![vec![1.0, 2.0, 3.0]];
            vec![
                serde_json::to_vec_pretty(&session).unwrap(),
                serde_json::to_vec(&stylespace::app::session::Session::default()).unwrap(),
            ]
        }
        other => panic!("no seeds for {other}"),
    }
}

/// xorshift64*: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][rng.below(6)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let copy = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 if len > 0 => data.truncate(rng.below(len)),
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - from).min(256));
                    let at = rng.below(len + 1);
                    data.splice(at..at, other[from..from + n].iter().copied());
                }
            }
            _ => {}
        }
    }
    data
}

#[test]
fn every_reader_survives_mutated_inputs() {
    let seconds: u64 = std::env::var("FUZZ_SMOKE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke");
    // The seed corpora of the coverage-guided campaign (scripts/fuzz-campaign).
    let corpus = std::env::var_os("FUZZ_SEEDS_DIR").map(std::path::PathBuf::from);
    let mut report = Vec::new();
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        if let Some(dir) = &corpus {
            let dir = dir.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
            }
        }
        for seed in &seeds {
            target(seed); // the seeds themselves must pass
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        let start = Instant::now();
        let mut runs = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            let input = mutate(&mut rng, &seeds);
            let began = Instant::now();
            let outcome = std::panic::catch_unwind(|| target(&input));
            let took = began.elapsed();
            if outcome.is_err() || took > Duration::from_secs(5) {
                std::fs::create_dir_all(&out).unwrap();
                let file = out.join(format!("{name}-{runs}.bin"));
                std::fs::write(&file, &input).unwrap();
                panic!(
                    "{name}: input {runs} {} (saved as {})",
                    if outcome.is_err() {
                        "panicked".to_string()
                    } else {
                        format!("took {took:?}")
                    },
                    file.display()
                );
            }
            runs += 1;
        }
        report.push(format!("{name} {runs}"));
    }
    eprintln!("inputs per target: {}", report.join(", "));
}
