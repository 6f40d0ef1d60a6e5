//! Training-side commands: train, losses, import, export, dataset.

use super::*;

pub(super) fn import(args: ImportArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?.config),
        None => None,
    };
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!(
            "{} already exists and is not empty; choose another folder or remove it first",
            args.out.display()
        );
    }
    // Building the networks validates every key and shape before anything is written.
    let device = Device::flex();
    let mut networks = checkpoint::load_networks(config.as_ref(), &args.checkpoint, &device)?;
    if let checkpoint::Networks::Drit {
        resize_size,
        crop_size,
        ..
    } = &mut networks
    {
        *resize_size = args.resize_size.unwrap_or(*resize_size);
        *crop_size = args.crop_size.unwrap_or(*crop_size);
    } else if args.resize_size.is_some() || args.crop_size.is_some() {
        bail!("--resize-size and --crop-size apply to DRIT++ checkpoints");
    }
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    checkpoint::save_networks(&args.out, &networks, precision)?;
    // Read it back: the folder must load as what was imported.
    ModelFiles::from_folder(&args.out)?.load(&device)?;
    println!(
        "wrote {} model folder {}",
        Model::new(networks, &device).family(),
        args.out.display()
    );
    Ok(())
}

pub(super) fn losses(args: LossesArgs) -> Result<()> {
    use stylespace::train::losses::{
        LossWeights, Networks, OwnInputs, dis_losses, fill_mask_batch, gen_losses, grad_sq_sum,
        halo_mask_batch, keep_mask_batch, line_mask_batch,
    };
    let config = Config::load(&args.config)?.config;
    if config.family() != stylespace::config::ConfigFamily::Munit {
        bail!(
            "the losses command computes MUNIT's losses; this is a {} config",
            config.family()
        );
    }
    let dim = config.generator.style_dim();
    let s_a = parse_style_code(&args.style_a, dim).map_err(|e| anyhow!("--style-a: {e}"))?;
    let s_b = parse_style_code(&args.style_b, dim).map_err(|e| anyhow!("--style-b: {e}"))?;
    let device = Device::flex().autodiff();
    let gens = checkpoint::load_generators(&config, &args.checkpoint, &device)?;
    let [dis_a, dis_b] = checkpoint::load_discriminators(&config, &args.dis, &device)?;
    let image = |path: &Path, domain: Domain| -> Result<Tensor<4>> {
        let img = load_image(path)?;
        let prepared = stylespace::io::image::preprocess(
            &img,
            config.new_size_for(domain),
            config.input_dim(domain),
            &path.display().to_string(),
        )?;
        Ok(Tensor::from_data(
            burn::tensor::TensorData::new(prepared.data.clone(), prepared.shape()),
            &device,
        ))
    };
    let x_a = image(&args.input_a, Domain::A)?;
    // The masks are computed from the image's values (read back once, only if a mask is on).
    let shape = x_a.dims();
    let values = if config.keep_w > 0.0
        || config.halo_w > 0.0
        || config.line_w > 0.0
        || config.chroma_w > 0.0
    {
        stylespace::model::params::to_vec(x_a.clone())
    } else {
        Vec::new()
    };
    let mask_a = |on: bool, of: fn(&[f32], [usize; 4]) -> Vec<f32>| {
        on.then(|| {
            Tensor::<4>::from_data(
                burn::tensor::TensorData::new(of(&values, shape), shape),
                &device,
            )
        })
    };
    let keep_a = mask_a(config.keep_w > 0.0, keep_mask_batch);
    let halo_a = mask_a(config.halo_w > 0.0, halo_mask_batch);
    let line_a = mask_a(config.line_w > 0.0, line_mask_batch);
    let fill_a = mask_a(config.chroma_w > 0.0, fill_mask_batch);
    let x_b = image(&args.input_b, Domain::B)?;
    let style = |v: &[f32]| {
        Tensor::<2>::from_data(
            burn::tensor::TensorData::new(v.to_vec(), [1, v.len()]),
            &device,
        )
    };
    let nets = Networks {
        gen_a: &gens.a,
        gen_b: &gens.b,
        dis_a: &dis_a,
        dis_b: &dis_b,
    };
    let weights = LossWeights::from(&config);
    if weights.ms_w > 0.0 {
        log::warn!("ms_w: the mode-seeking term needs a second style; this command leaves it out");
    }
    let scalar = |t: &Tensor<1>| stylespace::model::params::to_vec(t.clone())[0] as f64;
    let gen_step = gen_losses(
        &nets,
        x_a.clone(),
        x_b.clone(),
        style(&s_a),
        style(&s_b),
        OwnInputs {
            keep_a,
            fill_a,
            halo_a,
            line_a,
            s_b_second: None,
        },
        weights,
    );
    let grads = gen_step.total.backward();
    let gen_norm = (grad_sq_sum(&gens.a, &grads) + grad_sq_sum(&gens.b, &grads)).sqrt();
    let dis = dis_losses(
        &nets,
        x_a,
        x_b,
        gen_step.x_ba.clone(),
        gen_step.x_ab.clone(),
        weights,
    );
    let grads = dis.total.backward();
    let dis_norm = (grad_sq_sum(&dis_a, &grads) + grad_sq_sum(&dis_b, &grads)).sqrt();
    let mut out = serde_json::Map::new();
    for (name, value) in &gen_step.terms {
        out.insert(name.to_string(), scalar(value).into());
    }
    out.insert("gen_total".into(), scalar(&gen_step.total).into());
    out.insert("dis_a".into(), scalar(&dis.dis_a).into());
    out.insert("dis_b".into(), scalar(&dis.dis_b).into());
    out.insert("dis_total".into(), scalar(&dis.total).into());
    out.insert("gen_grad_l2_norm".into(), gen_norm.into());
    out.insert("dis_grad_l2_norm".into(), dis_norm.into());
    out.insert("style_a_used".into(), serde_json::json!(s_a));
    out.insert("style_b_used".into(), serde_json::json!(s_b));
    if args.json {
        println!("{}", serde_json::Value::Object(out));
    } else {
        for (name, value) in out {
            println!("{name}: {value}");
        }
    }
    Ok(())
}

pub(super) fn train(args: TrainArgs) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use stylespace::train::trainer::{TrainOptions, train};
    let config = Config::load(&args.config)?.config;
    if config.family() != stylespace::config::ConfigFamily::Munit {
        bail!(
            "the trainer trains MUNIT; {} is a {} config",
            args.config.display(),
            config.family()
        );
    }
    if !args.resume && args.out.join("checkpoints").exists() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            args.out.display()
        );
    }
    if let Some(init) = &args.init
        && !init.exists()
    {
        bail!("--init: {} does not exist", init.display());
    }
    let compute = select_device(args.device)?;
    if let Some(reason) = &compute.fallback_reason {
        eprintln!("note: {reason}");
    }
    eprintln!("training on {}", compute.description);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first_signal = std::sync::Mutex::new(None::<std::time::Instant>);
    ctrlc::set_handler(move || {
        let mut first = first_signal.lock().unwrap_or_else(|e| e.into_inner());
        match *first {
            // Some launchers (e.g. `timeout`) deliver one interrupt twice; only a deliberate
            // second Ctrl-C aborts without a checkpoint.
            Some(at) if at.elapsed() > std::time::Duration::from_secs(2) => std::process::exit(130),
            Some(_) => {}
            None => {
                *first = Some(std::time::Instant::now());
                flag.store(true, Ordering::Relaxed);
                eprintln!(
                    "\nstopping after this iteration; saving a checkpoint (Ctrl-C again to abort)"
                );
            }
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    if let Some(seconds) = args.time_limit {
        let flag = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(seconds));
            flag.store(true, Ordering::Relaxed);
        });
    }
    let options = TrainOptions {
        config,
        data_root: args.data.clone(),
        run_dir: args.out.clone(),
        resume: args.resume,
        seed: args.seed,
        max_iter: args.max_iter,
        keep: args.keep,
        history_every: args.history_every,
        init_from: args.init.clone(),
        progress: !args.quiet,
    };
    let quiet = args.quiet;
    let summary = train(&options, &compute.device.clone().autodiff(), stop, |row| {
        if quiet {
            let values: Vec<String> = row
                .values
                .iter()
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            eprintln!(
                "iter {} lr {:.2e} {}",
                row.iteration,
                row.lr,
                values.join(" ")
            );
        }
    })?;
    if summary.skipped_images > 0 {
        eprintln!(
            "note: {} unreadable images were skipped",
            summary.skipped_images
        );
    }
    let rate = summary
        .seconds_per_iteration
        .map(|s| format!(", {s:.3} s per iteration after the first"))
        .unwrap_or_default();
    println!(
        "{} at iteration {} ({:.1} s{rate}); run folder {}",
        if summary.interrupted {
            "stopped"
        } else {
            "finished"
        },
        summary.iterations,
        summary.seconds,
        args.out.display()
    );
    Ok(())
}

pub(super) fn export(args: ExportArgs) -> Result<()> {
    let files = ModelFiles::from_folder(&args.model)?;
    let config = Config::load(&files.config)?.config;
    let pair = checkpoint::read_native(&files.weights)?;
    let device = Device::flex();
    for (domain, dict) in [(Domain::A, &pair.a), (Domain::B, &pair.b)] {
        checkpoint::generator_from_state_dict(
            &config,
            domain,
            dict.clone(),
            &device,
            &files.weights,
        )?;
    }
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    // Check the discriminators before writing anything.
    let discriminators = if args.with_discriminators {
        let Some(path) = checkpoint::discriminator_file(&args.model) else {
            bail!(
                "--with-discriminators: {} has no discriminators (a run folder's checkpoint or a \
                 model folder's {} holds them)",
                args.model.display(),
                checkpoint::NATIVE_DISCRIMINATORS
            );
        };
        let dis = checkpoint::read_native(&path)?;
        checkpoint::discriminators_from_pair(&config, dis.clone(), &device, &path)?;
        Some(dis)
    } else {
        None
    };
    checkpoint::save_native(&args.out, &config, &pair, precision)?;
    if let Some(dis) = discriminators {
        let path = args.out.join(checkpoint::NATIVE_DISCRIMINATORS);
        stylespace::io::atomic::write_atomic(
            &path,
            &checkpoint::native_bytes(&dis, precision),
            false,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote model folder {} from {}",
        args.out.display(),
        files.weights.display()
    );
    Ok(())
}

pub(super) fn dataset_openmoji(from: &Path, size: u32, out: &Path, seed: u64) -> Result<()> {
    if !(16..=1024).contains(&size) {
        bail!("--size must be between 16 and 1024");
    }
    let s = stylespace::train::openmoji::build(from, out, size, seed)?;
    println!(
        "wrote {}: trainA {}, testA {}, trainB {}, testB {} ({} glyphs left out, {} failed)",
        out.display(),
        s.train_a,
        s.test_a,
        s.train_b,
        s.test_b,
        s.excluded,
        s.failed
    );
    Ok(())
}
