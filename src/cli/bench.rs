//! `stylespace bench`: encode and decode timing of an architecture (random weights) or of a
//! given model, any family.

use std::time::Instant;

use super::*;

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The model to time: a given folder or checkpoint, else random weights of a family's
/// architecture (a MUNIT / UNIT config's, or the official one).
fn bench_model(args: &BenchArgs, device: &Device) -> Result<Model> {
    use stylespace::checkpoint::Networks;
    use stylespace::config::ConfigFamily;
    use stylespace::model::DritArch;
    if let Some(dir) = &args.model {
        return Ok(Model::load_folder(dir, device)?);
    }
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?.config),
        None => None,
    };
    if let Some(checkpoint) = &args.checkpoint {
        return Ok(Model::load(config, checkpoint, device)?);
    }
    let networks = match (args.family, config) {
        (BenchFamily::Drit | BenchFamily::DritNoconcat, None) => Networks::random_drit(
            DritArch::official(args.family == BenchFamily::Drit),
            0,
            device,
        )?,
        (BenchFamily::Drit | BenchFamily::DritNoconcat, Some(_)) => {
            bail!("--config applies to MUNIT and UNIT; DRIT++ has no config")
        }
        (family, Some(config)) => {
            let wanted = match family {
                BenchFamily::Munit => ConfigFamily::Munit,
                _ => ConfigFamily::Unit,
            };
            if config.family() != wanted {
                bail!(
                    "this is a {0} config; pass --family {1}",
                    config.family(),
                    config.family().to_string().to_lowercase()
                );
            }
            Networks::random_from_config(&config, 0, device)?
        }
        (family, None) => {
            let mut config = Config::munit_default();
            if family == BenchFamily::Unit {
                config.generator.style_dim = None;
                config.generator.mlp_dim = None;
            }
            Networks::random_from_config(&config, 0, device)?
        }
    };
    if let Some(dir) = &args.save_model {
        use stylespace::checkpoint::{Precision, save_networks};
        save_networks(dir, &networks, Precision::F32)?;
        eprintln!("wrote {}", dir.display());
    }
    Ok(Model::new(networks, device))
}

pub(super) fn bench(args: BenchArgs) -> Result<()> {
    if args.size < stylespace::engine::MIN_SIDE || args.size > 2048 {
        bail!(
            "--size must be between {} and 2048",
            stylespace::engine::MIN_SIDE
        );
    }
    let runs = args.runs.max(1);
    let compute = select_device(args.device)?;
    let device = compute.device.clone();
    let model = bench_model(&args, &device)?;
    let description = model.description().clone();
    let channels = description.channels(Domain::A);
    let x = Tensor::<4>::random(
        [1, channels, args.size, args.size],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let image = stylespace::io::image::ModelImage {
        channels,
        height: args.size,
        width: args.size,
        data: stylespace::model::params::to_vec(x.clone()),
    };
    let style = sample_styles(1, description.style_dim(), 0).remove(0);
    let style = description.style.map(|_| style.as_slice());
    let sync = |d: &Device| d.sync().map_err(|e| anyhow!("device sync failed: {e:?}"));
    let per_sync = args.per_sync as usize;
    let mut encode_s = Vec::new();
    let mut decode_s = Vec::new();
    for run in 0..=runs {
        let t = Instant::now();
        let mut content = model.encode_content(Domain::A, x.clone());
        // Style (attribute) encoding reads back its few numbers, as every caller does.
        let _style_code = model.style(Domain::B, &image);
        for _ in 1..per_sync {
            content = model.encode_content(Domain::A, x.clone());
            let _style_code = model.style(Domain::B, &image);
        }
        sync(&device)?;
        let encode_time = t.elapsed().as_secs_f64() / per_sync as f64;
        let t = Instant::now();
        for _ in 0..per_sync {
            let _image = model.decode(Domain::B, content.clone(), style)?;
        }
        sync(&device)?;
        let decode_time = t.elapsed().as_secs_f64() / per_sync as f64;
        if run > 0 {
            encode_s.push(encode_time);
            decode_s.push(decode_time);
        }
    }
    let (enc, dec) = (median(encode_s), median(decode_s));
    let family = match description.variant {
        Some(v) => format!("{} ({v})", description.family),
        None => description.family.to_string(),
    };
    if args.json {
        let out = serde_json::json!({
            "family": family,
            "device": compute.description,
            "size": args.size,
            "runs": runs,
            "per_sync": per_sync,
            "encode_median_s": enc,
            "decode_median_s": dec,
        });
        println!("{out}");
    } else {
        println!(
            "{family} | {} | {}x{} | median of {runs} runs, {per_sync} per sync",
            compute.description, args.size, args.size
        );
        println!("encode (content + style): {:.1} ms", enc * 1e3);
        println!("decode:                   {:.1} ms", dec * 1e3);
    }
    Ok(())
}

pub(super) fn check_reference(args: CheckReferenceArgs) -> Result<()> {
    use stylespace::engine::reference::check_reference;
    if args.tolerance.is_nan() || args.tolerance < 0.0 {
        bail!("--tolerance must be a number >= 0");
    }
    let compute = select_device(args.device)?;
    if let Some(reason) = &compute.fallback_reason {
        eprintln!("note: {reason}");
    }
    let mut failed = Vec::new();
    let mut reports = Vec::new();
    for dir in &args.references {
        let report = check_reference(dir, args.checkpoint.as_deref(), &compute.device)
            .with_context(|| format!("checking {}", dir.display()))?;
        let failures: Vec<String> = report
            .failures(args.tolerance)
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if !args.json {
            println!(
                "{} ({}, {}): worst max |diff| {:.2e} over {} tensors{}",
                dir.display(),
                report.family,
                compute.description,
                report.worst(),
                report.checks.len(),
                if failures.is_empty() {
                    String::new()
                } else {
                    format!("; over {:e}: {}", args.tolerance, failures.join(", "))
                }
            );
            for check in &report.checks {
                println!(
                    "  {:<16} {:>8} values  {:.2e}",
                    check.name, check.values, check.max_abs_diff
                );
            }
            if !report.unchecked.is_empty() {
                println!("  not compared: {}", report.unchecked.join(", "));
            }
        }
        if !failures.is_empty() {
            failed.push(dir.display().to_string());
        }
        reports.push(serde_json::json!({
            "reference": dir.display().to_string(),
            "checkpoint": report.checkpoint.display().to_string(),
            "family": report.family.to_string(),
            "worst": report.worst(),
            "failures": failures,
            "unchecked": report.unchecked,
            "tensors": report.checks.iter().map(|c| serde_json::json!({
                "name": c.name, "values": c.values, "max_abs_diff": c.max_abs_diff,
            })).collect::<Vec<_>>(),
        }));
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "device": compute.description,
                "tolerance": args.tolerance,
                "references": reports,
            })
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} references differ by more than {:e} on {}: {}",
            failed.len(),
            args.references.len(),
            args.tolerance,
            compute.description,
            failed.join(", ")
        );
    }
    Ok(())
}
