//! `stylespace bench`: encode and decode timing of an architecture.

use std::time::Instant;

use super::*;

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(super) fn bench(args: BenchArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?.config,
        None => Config::munit_default(),
    };
    if args.size < stylespace::engine::MIN_SIDE || args.size > 2048 {
        bail!(
            "--size must be between {} and 2048",
            stylespace::engine::MIN_SIDE
        );
    }
    let runs = args.runs.max(1);
    let compute = select_device(args.device)?;
    let device = compute.device.clone();
    let generator = Generator::new(
        &config.generator,
        config.input_dim_a,
        &mut RandomInit::new(0),
        &device,
    )?;
    let x = Tensor::<4>::random(
        [1, config.input_dim_a, args.size, args.size],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let style = Tensor::<2>::random(
        [1, config.generator.style_dim],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let sync = |d: &Device| d.sync().map_err(|e| anyhow!("device sync failed: {e:?}"));
    let mut encode_s = Vec::new();
    let mut decode_s = Vec::new();
    for run in 0..=runs {
        let t = Instant::now();
        let content = generator.encode_content(x.clone());
        let _style_code = generator.encode_style(x.clone());
        sync(&device)?;
        let encode_time = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _image = generator.decode_style(content, style.clone());
        sync(&device)?;
        let decode_time = t.elapsed().as_secs_f64();
        if run > 0 {
            encode_s.push(encode_time);
            decode_s.push(decode_time);
        }
    }
    let (enc, dec) = (median(encode_s), median(decode_s));
    if args.json {
        let out = serde_json::json!({
            "device": compute.description,
            "size": args.size,
            "runs": runs,
            "encode_median_s": enc,
            "decode_median_s": dec,
        });
        println!("{out}");
    } else {
        println!(
            "{} | {}x{} | median of {runs} runs",
            compute.description, args.size, args.size
        );
        println!("encode (content + style): {:.1} ms", enc * 1e3);
        println!("decode (MLP + decoder):   {:.1} ms", dec * 1e3);
    }
    Ok(())
}
