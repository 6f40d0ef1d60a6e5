//! Training smoke test: a few iterations at 32 px on a generated dataset; checkpoints, resume
//! equivalence, and incomplete checkpoints never being used.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::prelude::*;
use common::run_cli;
use stylespace::checkpoint::run::{CHECKPOINT_DIR, latest_complete};
use stylespace::checkpoint::{ModelFiles, StateDict, read_native};
use stylespace::config::Config;
use stylespace::train::evaluate::History;
use stylespace::train::trainer::{LogRow, TrainOptions, history, train};

const CONFIG: &str = "
image_save_iter: 2
image_display_iter: 2
display_size: 2
snapshot_save_iter: 2
log_iter: 1
max_iter: 4
batch_size: 1
weight_decay: 0.0001
beta1: 0.5
beta2: 0.999
init: kaiming
lr: 0.0001
lr_policy: step
step_size: 2
gamma: 0.5
gan_w: 1
recon_x_w: 10
recon_s_w: 1
recon_c_w: 1
recon_x_cyc_w: 10
vgg_w: 0
gen: {dim: 4, mlp_dim: 8, style_dim: 8, activ: relu, n_downsample: 2, n_res: 1, pad_type: reflect}
dis: {dim: 4, norm: none, activ: lrelu, n_layer: 2, gan_type: lsgan, num_scales: 2, pad_type: reflect}
input_dim_a: 3
input_dim_b: 3
num_workers: 2
new_size: 32
crop_image_height: 32
crop_image_width: 32
";

/// Two domains of little pictures: dark outlines on white (a) and filled colour squares (b).
fn make_dataset(root: &Path) {
    for (split, n) in [("trainA", 6), ("trainB", 5), ("testA", 2), ("testB", 2)] {
        let dir = root.join(split);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_fn(40, 36, |x, y| {
                let edge = x == 8 + i || y == 10 || x == 30 || y == 28 - i;
                if split.ends_with('A') {
                    if edge {
                        image::Rgb([0, 0, 0])
                    } else {
                        image::Rgb([255, 255, 255])
                    }
                } else {
                    image::Rgb([(x * 6) as u8, (y * 7) as u8, (i * 40) as u8])
                }
            });
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

/// Largest difference between two state dicts' values, key by key.
fn max_diff(x: &StateDict, y: &StateDict) -> f32 {
    x.iter()
        .flat_map(|(k, (_, v))| v.iter().zip(&y[k].1).map(|(p, q)| (p - q).abs()))
        .fold(0f32, f32::max)
}

fn run(root: &Path, run_dir: &Path, max_iter: u64, resume: bool) -> Vec<LogRow> {
    run_config(CONFIG, root, run_dir, max_iter, resume)
}

fn options(config: &str, root: &Path, run_dir: &Path, max_iter: u64, resume: bool) -> TrainOptions {
    TrainOptions {
        config: Config::from_yaml(config, "test").unwrap().config,
        data_root: Some(root.to_path_buf()),
        run_dir: run_dir.to_path_buf(),
        resume,
        seed: 3,
        max_iter: Some(max_iter),
        keep: 3,
        history_every: 2,
        init_from: None,
        progress: false,
    }
}

fn run_config(
    config: &str,
    root: &Path,
    run_dir: &Path,
    max_iter: u64,
    resume: bool,
) -> Vec<LogRow> {
    let options = options(config, root, run_dir, max_iter, resume);
    let mut rows = Vec::new();
    let device = Device::flex().autodiff();
    let summary = train(&options, &device, Arc::new(AtomicBool::new(false)), |r| {
        rows.push(r.clone())
    })
    .unwrap();
    assert_eq!(summary.iterations, max_iter);
    rows
}

#[test]
fn training_checkpoints_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);

    let straight = run(&data, &tmp.path().join("straight"), 4, false);
    assert_eq!(straight.len(), 4);
    for row in &straight {
        assert!(row.values.iter().all(|(_, v)| v.is_finite()), "{row:?}");
    }
    // Step schedule: lr halves every 2 iterations, stepped before each iteration.
    assert_eq!(straight[0].lr, 1e-4);
    assert_eq!(straight[1].lr, 5e-5);
    assert_eq!(straight[3].lr, 2.5e-5);

    let resumed_dir = tmp.path().join("resumed");
    let first = run(&data, &resumed_dir, 2, false);
    assert_eq!(first.len(), 2);
    let second = run(&data, &resumed_dir, 4, true);
    assert_eq!(second.len(), 2, "resume continues at iteration 3");
    for (a, b) in straight[2..].iter().zip(&second) {
        assert_eq!(a.iteration, b.iteration);
        for ((name, x), (_, y)) in a.values.iter().zip(&b.values) {
            let rel = ((x - y) / x.abs().max(1e-12)).abs();
            assert!(rel < 1e-5, "iteration {}: {name} {x} vs {y}", a.iteration);
        }
    }

    // The run folder looks like the official one.
    for file in [
        "config.yaml",
        "losses.csv",
        "images/gen_a2b_00000004.png",
        "images/gen_b2a_00000002.png",
    ] {
        assert!(resumed_dir.join(file).exists(), "{file}");
    }
    let csv = std::fs::read_to_string(resumed_dir.join("losses.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "header + 4 rows, none duplicated by the resume:\n{csv}"
    );
    let grid = image::open(resumed_dir.join("images/gen_a2b_00000004.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (2 * 32, 4 * 32));

    // Truncate the newest checkpoint: resume and translate fall back to iteration 2.
    let ckpts = resumed_dir.join(CHECKPOINT_DIR);
    assert_eq!(latest_complete(&ckpts).unwrap().iteration, 4);
    let newest = ckpts.join("gen_00000004.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(latest_complete(&ckpts).unwrap().iteration, 2);

    let out = tmp.path().join("out");
    let (status, _, stderr) = run_cli(&[
        "translate",
        "--model",
        &resumed_dir.display().to_string(),
        "--device",
        "cpu",
        "--input",
        &data.join("testA/000.png").display().to_string(),
        "--output-dir",
        &out.display().to_string(),
        "--num-style",
        "2",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(out.join("output_001.png").exists());

    // Resuming after the truncation redoes iterations 3-4 from the complete checkpoint 2.
    let again = run(&data, &resumed_dir, 4, true);
    assert_eq!(again.first().map(|r| r.iteration), Some(3));
    assert_eq!(latest_complete(&ckpts).unwrap().iteration, 4);

    // The history keeps every second iteration's generators, which `evaluate --history` measures
    // into a table and a chart; a second call measures nothing again.
    let kept: Vec<u64> = history(&resumed_dir).iter().map(|h| h.0).collect();
    assert_eq!(kept, [2, 4]);
    let plot = tmp.path().join("plot.png");
    let evaluate = [
        "evaluate",
        "--model",
        &resumed_dir.display().to_string(),
        "--history",
        "--input-dir",
        &data.join("testA").display().to_string(),
        "--device",
        "cpu",
        "--num-style",
        "2",
        "--plot",
        &plot.display().to_string(),
    ];
    let (status, stdout, stderr) = run_cli(&evaluate);
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("2 generators"), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "header and a row per generator:\n{stdout}"
    );
    let table = std::fs::read_to_string(resumed_dir.join("evaluation.csv")).unwrap();
    let table = History::from_csv(&table).unwrap();
    assert_eq!(table.rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 4]);
    assert!(
        table
            .rows
            .iter()
            .all(|(_, r)| r.images == 2 && r.styles == 2),
        "{table:?}"
    );
    assert_eq!(image::image_dimensions(&plot).unwrap(), (960, 600));
    // The chart is not replaced unless asked, and the refusal comes before any measuring.
    let (status, _, stderr) = run_cli(&evaluate);
    assert_ne!(status, 0);
    assert!(stderr.contains("--overwrite"), "{stderr}");
    assert!(!stderr.contains("generators in"), "{stderr}");
    let replace: Vec<&str> = evaluate.iter().copied().chain(["--overwrite"]).collect();
    let (status, _, stderr) = run_cli(&replace);
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("2 already in"), "{stderr}");
}

/// The line-art losses (`keep_w`, `ms_w`) switched on when resuming: their terms are logged from
/// then on, and the loss log keeps the earlier rows under the new header.
#[test]
fn line_art_losses_switched_on_in_a_resumed_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    let run_dir = tmp.path().join("run");
    let before = run(&data, &run_dir, 2, false);
    assert!(before[0].values.iter().all(|(n, _)| *n != "gen_keep_ab"));
    assert!(before[0].values.iter().all(|(n, _)| *n != "gen_ms_ab"));
    let keep_config = format!("{CONFIG}keep_w: 10\nms_w: 1\n");
    let after = run_config(&keep_config, &data, &run_dir, 3, true);
    let keep = after[0].values.iter().find(|(n, _)| *n == "gen_keep_ab");
    // Translations of an untrained generator are far from the white background and black lines.
    assert!(
        keep.is_some_and(|(_, v)| *v > 0.05 && v.is_finite()),
        "{after:?}"
    );
    // Two styles give two different translations: a finite mode-seeking loss (1 / ratio).
    let ms = after[0].values.iter().find(|(n, _)| *n == "gen_ms_ab");
    assert!(
        ms.is_some_and(|(_, v)| *v > 1.0 && v.is_finite()),
        "{after:?}"
    );

    // The tint-neutral form: logged, and a reward no larger than the cap; the halo band's and
    // the lines' keep terms: logged (an untrained generator is far from the lines and the white
    // around them); the chroma floor: logged (its fill mask reached the step; the resize greys
    // these boxes' 1 px lines, so their fills may be empty, and the term 0: its values are
    // checked in the library's tests), and a shortfall of at most the whole floor.
    let contrast = format!(
        "{keep_config}ms_form: contrast\nms_cap: 0.5\nhalo_w: 5\nline_w: 3\nkeep_margin: 0.05\n\
         chroma_w: 2\nchroma_floor: 1\n"
    );
    let last = run_config(&contrast, &data, &run_dir, 4, true);
    let value = |name: &str| {
        last[0]
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    };
    let ms = value("gen_ms_ab");
    assert!(
        ms.is_some_and(|v| v >= -0.5 - 1e-6 && v.is_finite()),
        "{last:?}"
    );
    let chroma = value("gen_chroma_ab");
    assert!(chroma.is_some_and(|c| (0.0..=1.0).contains(&c)), "{last:?}");
    let halo = value("gen_halo_ab");
    assert!(halo.is_some_and(|h| h.is_finite() && h > 0.05), "{last:?}");
    // Black lines against an untrained generator's grey: the lines' term is the larger.
    let line = value("gen_line_ab");
    assert!(
        line.is_some_and(|l| l.is_finite() && l > halo.unwrap()),
        "{last:?}"
    );

    let csv = std::fs::read_to_string(run_dir.join("losses.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "header + 4 rows:\n{csv}");
    let column = |name: &str| rows[0].iter().position(|h| *h == name).unwrap();
    let (keep, adv) = (column("gen_keep_ab"), column("gen_adv_a"));
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{csv}");
    assert_eq!(rows[1][keep], "", "{csv}");
    assert_eq!(rows[2][keep], "", "{csv}");
    assert!(rows[3][keep].parse::<f64>().unwrap() > 0.05, "{csv}");
    // Earlier values moved with their column.
    let logged = |row: &LogRow, name: &str| row.values.iter().find(|(n, _)| *n == name).unwrap().1;
    let earlier: f64 = rows[2][adv].parse().unwrap();
    assert!(
        (earlier - logged(&before[1], "gen_adv_a")).abs() < 1e-5,
        "{csv}"
    );
}

/// `keep_region: silhouette`: `keep_w`'s background is what each trainA image's real version
/// (trainA-truth) leaves white, so truths that colour the whole background leave the lines alone
/// to keep, exactly `line_w`'s region; without truths, one clear error before any training.
#[test]
fn the_silhouette_keep_region_takes_the_background_from_the_truths() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    let terms = |rows: &[LogRow]| {
        let value = |name: &str| rows[0].values.iter().find(|(n, _)| *n == name).unwrap().1;
        (value("gen_keep_ab"), value("gen_line_ab"))
    };
    let drawing = format!("{CONFIG}keep_w: 10\nline_w: 1\n");
    let (keep, line) = terms(&run_config(
        &drawing,
        &data,
        &tmp.path().join("d"),
        1,
        false,
    ));
    assert!((keep - line).abs() > 1e-3, "{keep} {line}");

    let silhouette = format!("{drawing}keep_region: silhouette\n");
    let options = options(&silhouette, &data, &tmp.path().join("s"), 1, false);
    let stop = Arc::new(AtomicBool::new(false));
    let device = Device::flex().autodiff();
    let err = train(&options, &device, stop.clone(), |_| {})
        .map(|_| ())
        .expect_err("no truths")
        .to_string();
    assert!(
        err.contains("trainA-truth") && err.contains("000.png"),
        "{err}"
    );

    let truths = data.join("trainA-truth");
    std::fs::create_dir(&truths).unwrap();
    for entry in std::fs::read_dir(data.join("trainA")).unwrap() {
        let path = entry.unwrap().path();
        let mut img = image::open(&path).unwrap().to_rgb8();
        for p in img.pixels_mut().filter(|p| p.0 == [255, 255, 255]) {
            *p = image::Rgb([220, 30, 30]);
        }
        img.save(truths.join(path.file_name().unwrap())).unwrap();
    }
    let (keep, line) = terms(&run_config(
        &silhouette,
        &data,
        &tmp.path().join("s2"),
        1,
        false,
    ));
    assert!((keep - line).abs() < 1e-6, "{keep} {line}");
}

/// `ema_beta`: checkpoints carry the generators' moving average, resumed exactly; the history,
/// translate and export use it.
#[test]
fn generator_average_is_kept_resumed_and_used() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    let config = format!("{CONFIG}ema_beta: 0.5\n");
    let file = |run: &Path, name: &str, i: u64| {
        read_native(
            &run.join(CHECKPOINT_DIR)
                .join(format!("{name}_{i:08}.safetensors")),
        )
        .unwrap()
    };

    let resumed = tmp.path().join("resumed");
    run_config(&config, &data, &resumed, 3, false);
    let (ema_2, ema_3, gen_3) = (
        file(&resumed, "ema", 2),
        file(&resumed, "ema", 3),
        file(&resumed, "gen", 3),
    );
    // ema_3 = 0.5 ema_2 + 0.5 gen_3, parameter by parameter.
    let mut expected = ema_2.a.clone();
    for (k, (_, v)) in expected.iter_mut() {
        for (e, g) in v.iter_mut().zip(&gen_3.a[k].1) {
            *e = 0.5 * *e + 0.5 * g;
        }
    }
    assert!(max_diff(&expected, &ema_3.a) < 1e-6);
    assert!(
        max_diff(&ema_3.a, &gen_3.a) > 1e-5,
        "the average is not the weights"
    );
    let kept = read_native(&history(&resumed)[0].1).unwrap(); // iteration 2, f16
    assert!(max_diff(&kept.a, &ema_2.a) < 1e-3);
    assert!(
        ModelFiles::from_folder(&resumed)
            .unwrap()
            .weights
            .ends_with("ema_00000003.safetensors")
    );

    // Resumed from iteration 3, the average goes on as if never interrupted.
    run_config(&config, &data, &resumed, 4, true);
    let straight = tmp.path().join("straight");
    run_config(&config, &data, &straight, 4, false);
    let (a, b) = (file(&resumed, "ema", 4), file(&straight, "ema", 4));
    assert!(max_diff(&a.a, &b.a) < 1e-5 && max_diff(&a.b, &b.b) < 1e-5);
}

#[test]
fn train_command_refuses_to_clobber_a_run_and_vgg() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    let config = tmp.path().join("c.yaml");
    std::fs::write(&config, CONFIG.replace("vgg_w: 0", "vgg_w: 1")).unwrap();
    let args = |out: &Path| {
        vec![
            "train".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--data".into(),
            data.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--device".into(),
            "cpu".into(),
            "--quiet".into(),
        ]
    };
    let out = tmp.path().join("run");
    let a = args(&out);
    let (status, _, stderr) = run_cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(status, 0);
    assert!(stderr.contains("vgg_w"), "{stderr}");

    std::fs::write(&config, CONFIG.replace("max_iter: 4", "max_iter: 2")).unwrap();
    let (status, stdout, stderr) = run_cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("finished at iteration 2"), "{stdout}");
    let (status, _, stderr) = run_cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(status, 0);
    assert!(stderr.contains("--resume"), "{stderr}");

    // A new run from that one's generators (`--init`), at twice the image size: its history
    // starts with exactly those weights (stored f16), and training goes on from there.
    let config_64 = tmp.path().join("c64.yaml");
    std::fs::write(
        &config_64,
        CONFIG
            .replace("max_iter: 4", "max_iter: 1")
            .replace(": 32", ": 64"),
    )
    .unwrap();
    let from = tmp.path().join("from");
    let mut b = args(&from);
    b[2] = config_64.display().to_string();
    b.extend(["--init".into(), out.display().to_string()]);
    b.extend(["--history-every".into(), "1".into()]);
    let (status, stdout, stderr) = run_cli(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("finished at iteration 1"), "{stdout}");
    let kept: Vec<u64> = history(&from).iter().map(|h| h.0).collect();
    assert_eq!(kept, [0, 1]);
    let source = read_native(&out.join(CHECKPOINT_DIR).join("gen_00000002.safetensors")).unwrap();
    let start = read_native(&history(&from)[0].1).unwrap();
    let trained = read_native(&history(&from)[1].1).unwrap();
    assert!(
        max_diff(&source.a, &start.a) < 1e-2,
        "the history starts at --init's weights"
    );
    assert!(max_diff(&source.b, &start.b) < 1e-2);
    assert!(
        max_diff(&start.a, &trained.a) > 0.0,
        "and training moved them"
    );
    // The run folder's discriminators (same architecture at 64 px) came along: one Adam step
    // (lr 1e-4) from the source's, where fresh ones would differ by their whole N(0, 0.02) init.
    let dis = |run: &Path, i: u64| {
        read_native(
            &run.join(CHECKPOINT_DIR)
                .join(format!("dis_{i:08}.safetensors")),
        )
        .unwrap()
    };
    let (source_dis, continued_dis) = (dis(&out, 2), dis(&from, 1));
    assert!(max_diff(&source_dis.a, &continued_dis.a) < 1e-3);
    assert!(max_diff(&source_dis.b, &continued_dis.b) < 1e-3);

    // A model folder exported with its discriminators passes them on the same way; one without
    // them cannot give any, and the export then writes nothing.
    let with = tmp.path().join("with");
    let export = |model: &Path, to: &Path| {
        run_cli(&[
            "export",
            "--model",
            &model.display().to_string(),
            "--out",
            &to.display().to_string(),
            "--with-discriminators",
        ])
    };
    let (status, _, stderr) = export(&out, &with);
    assert_eq!(status, 0, "{stderr}");
    assert!(with.join("discriminators.safetensors").is_file());
    let from_model = tmp.path().join("from-model");
    let mut d = args(&from_model);
    d[2] = config_64.display().to_string();
    d.extend(["--init".into(), with.display().to_string()]);
    let (status, _, stderr) = run_cli(&d.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(status, 0, "{stderr}");
    assert!(max_diff(&source_dis.a, &dis(&from_model, 1).a) < 1e-3);
    let without = tmp.path().join("without");
    let (status, _, stderr) = run_cli(&[
        "export",
        "--model",
        &with.display().to_string(),
        "--out",
        &without.display().to_string(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    let again = tmp.path().join("again");
    let (status, _, stderr) = export(&without, &again);
    assert_ne!(status, 0);
    assert!(stderr.contains("has no discriminators"), "{stderr}");
    assert!(!again.exists());

    // A model that is not there: one clean error before any training.
    let mut c = args(&tmp.path().join("none"));
    c[2] = config_64.display().to_string();
    c.extend([
        "--init".into(),
        tmp.path().join("missing").display().to_string(),
    ]);
    let (status, _, stderr) = run_cli(&c.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(status, 0);
    assert!(
        stderr.contains("missing") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// SIGKILL at random moments (`KILLS`, default 3; `scripts/kill-training` runs 20 with larger
/// checkpoints), each followed by `--resume`: no checkpoint picked afterwards is damaged, every
/// resume starts from the newest complete checkpoint, and the finished run's losses equal an
/// uninterrupted run's.
#[test]
fn training_survives_kill_9_and_resumes_exactly() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let kills: usize = std::env::var("KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dim: usize = std::env::var("KILL_DIM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let max_iter = 8 + 3 * kills;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    make_dataset(&data);
    // A checkpoint every iteration, so kills land during writes too.
    let config = tmp.path().join("c.yaml");
    let yaml = CONFIG
        .replace("snapshot_save_iter: 2", "snapshot_save_iter: 1")
        .replace("image_save_iter: 2", "image_save_iter: 1000")
        .replace("max_iter: 4", &format!("max_iter: {max_iter}"))
        .replace("gen: {dim: 4", &format!("gen: {{dim: {dim}"));
    std::fs::write(&config, yaml).unwrap();
    let args = |out: &Path, resume: bool| {
        let mut args = vec![
            "train".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--data".into(),
            data.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--device".into(),
            "cpu".into(),
            "--quiet".into(),
            "--keep".into(),
            "2".into(),
        ];
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let bin = env!("CARGO_BIN_EXE_stylespace");
    let straight_dir = tmp.path().join("straight");
    let started = Instant::now();
    let status = Command::new(bin)
        .args(args(&straight_dir, false))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let run_time = started.elapsed();

    let run_dir = tmp.path().join("killed");
    let ckpts = run_dir.join(CHECKPOINT_DIR);
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ kills as u64;
    let mut inside_writes = 0;
    let mut resumed_from = Vec::new();
    let per_iteration = run_time.div_f64(max_iter as f64);
    let temporary = |ckpts: &Path| {
        std::fs::read_dir(ckpts)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0)
    };
    for k in 0..kills {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let before = latest_complete(&ckpts).map(|m| m.iteration);
        let mut child = Command::new(bin)
            .args(args(&run_dir, k > 0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if k % 2 == 1 {
            // Every other kill while a checkpoint file is being written: as soon as a temporary
            // file shows up (or, should the run end first, when it does).
            let deadline = Instant::now() + run_time * 2;
            while temporary(&ckpts) == 0
                && child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_micros(200));
            }
        } else {
            // Otherwise within the next few iterations (so every kill leaves work to resume).
            let delay = per_iteration.mul_f64(4.0 * (rng % 1000) as f64 / 1000.0);
            std::thread::sleep(delay.max(Duration::from_millis(50)));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if temporary(&ckpts) > 0 {
            inside_writes += 1;
        }
        // Whatever is picked now is whole: its files match its manifest (latest_complete checks
        // sizes and hashes), and it is never older than what was picked before.
        let after = latest_complete(&ckpts).map(|m| m.iteration);
        assert!(after >= before, "kill {k}: {before:?} -> {after:?}");
        if let Some(manifest) = latest_complete(&ckpts) {
            stylespace::checkpoint::run::load(&ckpts, &manifest)
                .unwrap_or_else(|e| panic!("kill {k}: checkpoint {}: {e}", manifest.iteration));
        }
        resumed_from.push(after.unwrap_or(0));
    }
    let status = Command::new(bin)
        .args(args(&run_dir, true))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    eprintln!(
        "{kills} kills over {:.1} s runs, {inside_writes} inside a checkpoint write; resumed from \
         iterations {resumed_from:?}",
        run_time.as_secs_f64()
    );
    let rows = |dir: &Path| -> Vec<Vec<f64>> {
        std::fs::read_to_string(dir.join("losses.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    // What the kills left behind was cleared by the saves after them.
    assert_eq!(temporary(&ckpts), 0);
    let (straight, killed) = (rows(&straight_dir), rows(&run_dir));
    assert_eq!(straight.len(), max_iter);
    assert_eq!(killed.len(), max_iter);
    for (a, b) in straight.iter().zip(&killed) {
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1e-3),
                "iteration {}: {x} vs {y}",
                a[0]
            );
        }
    }
}
