//! `stylespace bench`: encode and decode timing of an architecture (random weights) or of a
//! given model, any family.

use std::time::Instant;

use super::*;

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(super) fn bench(args: BenchArgs) -> Result<()> {
    use stylespace::checkpoint::Networks;
    use stylespace::model::DritArch;
    if args.size < stylespace::engine::MIN_SIDE || args.size > 2048 {
        bail!(
            "--size must be between {} and 2048",
            stylespace::engine::MIN_SIDE
        );
    }
    let runs = args.runs.max(1);
    let compute = select_device(args.device)?;
    let device = compute.device.clone();
    let config = match (&args.config, args.family) {
        _ if args.model.is_some() || args.checkpoint.is_some() => None,
        (Some(path), BenchFamily::Munit | BenchFamily::Unit) => {
            let config = Config::load(path)?.config;
            let family = stylespace::config::ConfigFamily::Munit;
            if (config.family() == family) != (args.family == BenchFamily::Munit) {
                bail!(
                    "{} is a {} config; pass --family {}",
                    path.display(),
                    config.family(),
                    config.family().to_string().to_lowercase()
                );
            }
            Some(config)
        }
        (Some(_), _) => bail!("--config applies to MUNIT and UNIT; DRIT++ has no config"),
        (None, BenchFamily::Munit) => Some(Config::munit_default()),
        (None, BenchFamily::Unit) => {
            let mut c = Config::munit_default();
            c.generator.style_dim = None;
            c.generator.mlp_dim = None;
            Some(c)
        }
        (None, _) => None,
    };
    let model = if let Some(dir) = &args.model {
        Model::load_folder(dir, &device)?
    } else if let Some(checkpoint) = &args.checkpoint {
        let config = match &args.config {
            Some(path) => Some(Config::load(path)?.config),
            None => None,
        };
        Model::load(config, checkpoint, &device)?
    } else {
        let networks = match (args.family, config) {
            (BenchFamily::Drit | BenchFamily::DritNoconcat, _) => Networks::random_drit(
                DritArch::official(args.family == BenchFamily::Drit),
                0,
                &device,
            )?,
            (_, Some(config)) => Networks::random_from_config(&config, 0, &device)?,
            (_, None) => unreachable!("a config for MUNIT and UNIT"),
        };
        Model::new(networks, &device)
    };
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
    let mut encode_s = Vec::new();
    let mut decode_s = Vec::new();
    for run in 0..=runs {
        let t = Instant::now();
        let content = model.encode_content(Domain::A, x.clone());
        // Style (attribute) encoding reads back its few numbers, as every caller does.
        let _style_code = model.style(Domain::B, &image);
        sync(&device)?;
        let encode_time = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _image = model.decode(Domain::B, content, style)?;
        sync(&device)?;
        let decode_time = t.elapsed().as_secs_f64();
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
            "encode_median_s": enc,
            "decode_median_s": dec,
        });
        println!("{out}");
    } else {
        println!(
            "{family} | {} | {}x{} | median of {runs} runs",
            compute.description, args.size, args.size
        );
        println!("encode (content + style): {:.1} ms", enc * 1e3);
        println!("decode:                   {:.1} ms", dec * 1e3);
    }
    Ok(())
}
