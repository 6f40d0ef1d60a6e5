//! Inference commands: translate, encode, evaluate.

use super::*;

/// Input images: the file itself, or a folder's images sorted by name.
pub(super) fn inputs(input: &Path) -> Result<Vec<PathBuf>> {
    if input.is_dir() {
        let files = stylespace::io::image::images_in(input)
            .with_context(|| format!("cannot read folder {}", input.display()))?;
        if files.is_empty() {
            bail!("{} contains no images", input.display());
        }
        Ok(files)
    } else if input.exists() {
        Ok(vec![input.to_path_buf()])
    } else {
        bail!("{} does not exist", input.display())
    }
}

/// What each input is decoded with.
enum Plan {
    /// MUNIT / DRIT: these codes for every input, or `count` fresh random codes per input.
    Styles {
        fixed: Option<Vec<Vec<f32>>>,
        count: usize,
        dim: usize,
    },
    /// UNIT: the deterministic translation, or `samples` noisy-latent samples.
    Latent { samples: Option<usize> },
}

pub(super) fn translate(args: TranslateArgs) -> Result<()> {
    let source = if args.b2a { Domain::B } else { Domain::A };
    let target = source.other();
    let files = inputs(&args.input)?;
    let folder_input = args.input.is_dir();
    // A single input is decoded before any model work, so a bad file fails fast; a folder's
    // images are decoded one at a time and a bad one is reported and skipped.
    let mut first = if folder_input {
        None
    } else {
        Some(load_image(&files[0])?)
    };
    let mut model = args.model.load()?;
    if args.num_style == Some(0) {
        bail!("--num-style must be at least 1");
    }
    let plan = if model.description().style.is_none() {
        if args.style.is_some() || !args.style_code.is_empty() {
            bail!(
                "a {} model has no style space: --style and --style-code do not apply",
                model.family()
            );
        }
        Plan::Latent {
            samples: args.num_style,
        }
    } else {
        let dim = model.style_dim();
        let count = args.num_style.unwrap_or(10);
        let fixed = if let Some(reference) = &args.style {
            let img = load_image(reference)?;
            let prepared = model.prepare(&img, target, &reference.display().to_string())?;
            let code = model
                .style(target, &prepared)
                .expect("the model has a style space");
            Some(vec![code.code])
        } else if !args.style_code.is_empty() {
            let codes = args
                .style_code
                .iter()
                .map(|c| parse_style_code(c, dim).map_err(|e| anyhow!("--style-code {c}: {e}")))
                .collect::<Result<Vec<_>>>()?;
            Some(codes)
        } else {
            (args.synchronized || !folder_input).then(|| sample_styles(count, dim, args.seed))
        };
        Plan::Styles { fixed, count, dim }
    };
    let region = match &args.mask {
        Some(mask) => Some(mask_region(&args, &model, mask, target, folder_input)?),
        None => None,
    };
    // Random draws per input are reproducible from the seed (the same for all with
    // --synchronized or a single input).
    let seed_for = |index: usize| {
        if args.synchronized || !folder_input {
            args.seed
        } else {
            args.seed.wrapping_add(index as u64)
        }
    };
    let mut failed = 0usize;
    for (index, path) in files.iter().enumerate() {
        let name = path.display().to_string();
        let img = match first.take().map_or_else(|| load_image(path), Ok) {
            Ok(img) => img,
            Err(e) => {
                eprintln!("warning: skipped: {e}");
                failed += 1;
                continue;
            }
        };
        let prepared = model.prepare(&img, source, &name)?;
        let content = model.content(source, &prepared);
        let outputs = match &plan {
            Plan::Styles { fixed, count, dim } => {
                let styles = match fixed {
                    Some(styles) => styles.clone(),
                    None => sample_styles(*count, *dim, seed_for(index)),
                };
                match &region {
                    Some((inside, mask)) => {
                        let size = [img.width(), img.height()];
                        stylespace::engine::region::mask_fits([mask.width(), mask.height()], size)
                            .map_err(|e| anyhow!("--mask: {e}"))?;
                        let values = stylespace::engine::region::prepare_mask(
                            &model, mask, source, size, &name,
                        )?;
                        styles
                            .iter()
                            .map(|outside| {
                                model.translate_region(
                                    target,
                                    content.clone(),
                                    outside,
                                    inside,
                                    &values,
                                )
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                    None => model.translate(target, &content, &styles)?,
                }
            }
            Plan::Latent { samples: None } => vec![model.translate_one(target, content, None)?],
            Plan::Latent { samples: Some(n) } => {
                // One noise draw per sample: seeds spaced so inputs never share a draw.
                let base = seed_for(index).wrapping_mul(1 << 32);
                (0..*n as u64)
                    .map(|i| {
                        let noisy = model.noisy_latent(&content, base.wrapping_add(i), 1.0);
                        model.translate_one(target, noisy, None)
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let out_dir = output_dir_for(&args, path, folder_input)?;
        write_outputs(&out_dir, &outputs, args.overwrite)?;
        println!(
            "{} -> {} ({} images)",
            name,
            out_dir.display(),
            outputs.len()
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} inputs could not be read (see the warnings above)",
            files.len()
        );
    }
    Ok(())
}

/// The code inside `--mask` and the mask itself.
fn mask_region(
    args: &TranslateArgs,
    model: &Model,
    mask: &Path,
    target: Domain,
    folder_input: bool,
) -> Result<(Vec<f32>, image::GrayImage)> {
    if folder_input {
        bail!("--mask applies to one input image, not a folder");
    }
    if model.description().style.is_none() {
        bail!(
            "a {} model has no style space: --mask does not apply",
            model.family()
        );
    }
    let inside = match (&args.mask_style_code, &args.mask_style) {
        (Some(code), _) => parse_style_code(code, model.style_dim())
            .map_err(|e| anyhow!("--mask-style-code {code}: {e}"))?,
        (None, Some(reference)) => {
            let img = load_image(reference)?;
            let prepared = model.prepare(&img, target, &reference.display().to_string())?;
            model
                .style(target, &prepared)
                .expect("the model has a style space")
                .code
        }
        (None, None) => bail!("--mask needs the code inside it: --mask-style-code or --mask-style"),
    };
    let mask = stylespace::engine::region::mask_from_image(&load_image(mask)?);
    Ok((inside, mask))
}

/// Where one input's outputs go: the output folder, or a subfolder per input for a folder.
fn output_dir_for(args: &TranslateArgs, path: &Path, folder_input: bool) -> Result<PathBuf> {
    let out_dir = if folder_input {
        let stem = path
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().into_owned());
        args.output_dir.join(stem)
    } else {
        args.output_dir.clone()
    };
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    Ok(out_dir)
}

/// Writes `output_000.png`, ... atomically; never replaces a file without `overwrite`.
fn write_outputs(out_dir: &Path, outputs: &[image::RgbImage], overwrite: bool) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        let file = out_dir.join(format!("output_{i:03}.png"));
        save_png(&file, out, overwrite).map_err(|e| {
            if file.exists() && !overwrite {
                anyhow!(
                    "{} already exists; pass --overwrite to replace it",
                    file.display()
                )
            } else {
                e.into()
            }
        })?;
    }
    Ok(())
}

pub(super) fn encode(args: EncodeArgs) -> Result<()> {
    let domain: Domain = args.domain.into();
    let img = load_image(&args.input)?;
    let mut model = args.model.load()?;
    let prepared = model.prepare(&img, domain, &args.input.display().to_string())?;
    let content = model.content(domain, &prepared);
    let style = model.style(domain, &prepared);
    let shape = content.dims();
    let description = model.description();
    if args.json {
        let mut out = serde_json::json!({
            "family": description.family,
            "style": style.as_ref().map(|s| &s.code),
            "content_shape": shape,
        });
        if let Some(logvar) = style.as_ref().and_then(|s| s.logvar.as_ref()) {
            out["logvar"] = serde_json::json!(logvar);
        }
        println!("{out}");
        return Ok(());
    }
    let fmt = |v: &[f32]| {
        v.iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("family: {}", description.family);
    let what = if description.family == Family::Unit {
        "latent"
    } else {
        "content code"
    };
    println!("{what} shape: {shape:?}");
    match (style, description.style) {
        (Some(style), Some(space)) => {
            let label = match description.family {
                Family::Drit => "attribute (mean)",
                _ => "style code",
            };
            println!("{label}: [{}]", fmt(&style.code));
            if let Some(logvar) = &style.logvar {
                println!("attribute log-variance: [{}]", fmt(logvar));
            }
            let (norm, percentile) = prior_percentile(&style.code);
            println!(
                "{} norm {norm:.3}: larger than {:.1}% of N(0, I) samples",
                space.name,
                100.0 * percentile
            );
        }
        _ => println!(
            "no style code: a {} model translates deterministically",
            description.family
        ),
    }
    Ok(())
}

pub(super) fn domains(args: DomainsArgs) -> Result<()> {
    let files = inputs(&args.input)?;
    let mut model = args.model.load()?;
    if !args.json {
        println!(
            "reconstruction error (mean |x - x_rec|, values in [-1, 1]); a domain when its error \
             is under {} of the other's (else \"a or b\"); far: both above {}",
            stylespace::engine::domains::CLEARLY_BETTER,
            stylespace::engine::domains::FAR_FROM_DOMAINS
        );
    }
    let mut failed = 0usize;
    for path in &files {
        let name = path.display().to_string();
        let fit = load_image(path)
            .map_err(anyhow::Error::from)
            .and_then(|img| Ok(model.domain_fit(&img, &name)?));
        let fit = match fit {
            Ok(fit) => fit,
            Err(e) => {
                eprintln!("warning: skipped: {e:#}");
                failed += 1;
                continue;
            }
        };
        if args.json {
            let out = serde_json::json!({
                "image": name,
                "error_a": fit.errors[0],
                "error_b": fit.errors[1],
                "likely": fit.likely(),
                "far": fit.far_from_both(),
            });
            println!("{out}");
        } else {
            println!(
                "{name}: a {:.4}  b {:.4}  -> {}{}",
                fit.errors[0],
                fit.errors[1],
                fit.likely_name(),
                if fit.far_from_both() {
                    " (far from both domains)"
                } else {
                    ""
                }
            );
        }
    }
    if failed == files.len() {
        bail!("no image could be read");
    }
    Ok(())
}

pub(super) fn map(args: MapArgs) -> Result<()> {
    use stylespace::engine::pca::Pca;
    let domain: Domain = args.domain.into();
    let files = inputs(&args.input_dir)?;
    if let Some(png) = &args.png
        && png.exists()
        && !args.overwrite
    {
        bail!(
            "{} already exists; pass --overwrite to replace it",
            png.display()
        );
    }
    let model = args.model.load()?;
    if model.description().style.is_none() {
        bail!("a {} model has no style space to map", model.family());
    }
    let (mut names, mut codes, mut thumbs) = (Vec::new(), Vec::new(), Vec::new());
    for path in &files {
        let name = path.display().to_string();
        let encoded = load_image(path)
            .map_err(anyhow::Error::from)
            .and_then(|img| {
                let prepared = model.prepare(&img, domain, &name)?;
                let code = model
                    .style(domain, &prepared)
                    .expect("the model has a style space");
                Ok((code.code, img))
            });
        match encoded {
            Ok((code, img)) => {
                names.push(name);
                codes.push(code);
                if args.png.is_some() {
                    thumbs.push(img.thumbnail(96, 96).to_rgb8());
                }
            }
            Err(e) => eprintln!("warning: skipped: {e:#}"),
        }
    }
    let pca = Pca::fit(&codes).map_err(|e| anyhow!("{}: {e}", args.input_dir.display()))?;
    if pca.dim() < 2 {
        bail!("a map needs a style space of at least 2 dimensions");
    }
    let coords: Vec<Vec<f32>> = codes.iter().map(|c| pca.project(c, 2)).collect();
    let ratio = pca.explained_variance_ratio();
    if let Some(png) = &args.png {
        let points: Vec<(&[f32], image::RgbImage)> =
            codes.iter().map(Vec::as_slice).zip(thumbs).collect();
        let picture = stylespace::app::compose::style_map(&pca, &points, None, 768);
        save_png(png, &picture, args.overwrite)?;
    }
    if args.json {
        let out = serde_json::json!({
            "files": names,
            "codes": codes,
            "mean": pca.mean,
            "axes": pca.axes[..2],
            "coords": coords,
            "explained_variance_ratio": ratio[..2],
        });
        println!("{out}");
    } else {
        println!(
            "{} codes; explained variance: PC1 {:.1} %, PC2 {:.1} %",
            codes.len(),
            100.0 * ratio[0],
            100.0 * ratio[1]
        );
        for (name, c) in names.iter().zip(&coords) {
            println!("{name}: {:+.4} {:+.4}", c[0], c[1]);
        }
    }
    Ok(())
}

pub(super) fn effects(args: EffectsArgs) -> Result<()> {
    use stylespace::engine::effects::dimensions;
    if !(args.step.is_finite() && args.step > 0.0) {
        bail!("--step must be a positive number, got {}", args.step);
    }
    if args.out.exists() && !args.overwrite {
        bail!(
            "{} already exists; pass --overwrite to replace it",
            args.out.display()
        );
    }
    let source = if args.b2a { Domain::B } else { Domain::A };
    let target = source.other();
    let img = load_image(&args.input)?;
    let mut model = args.model.load()?;
    let Some(space) = model.description().style else {
        bail!("a {} model has no style code to probe", model.family());
    };
    let style = match &args.style_code {
        Some(c) => parse_style_code(c, space.dim).map_err(|e| anyhow!("--style-code {c}: {e}"))?,
        None => sample_styles(1, space.dim, args.seed).remove(0),
    };
    let prepared = model.prepare(&img, source, &args.input.display().to_string())?;
    let content = model.content(source, &prepared);
    let maps = model.effect_maps(target, &content, &style, &dimensions(space.dim), args.step)?;
    let translation = model.translate_one(target, content, Some(&style))?;
    let scale = maps.max().max(1e-12);
    let labels = stylespace::app::compose::direction_labels(&dimensions(space.dim), space.name);
    let grid = stylespace::app::compose::effects_grid(Some(translation), &maps, &labels);
    save_png(&args.out, &grid, args.overwrite)?;
    println!(
        "wrote {}: the translation and {} effect maps (step {}; one colour scale, white = {scale:.3} \
         per unit of the code)",
        args.out.display(),
        maps.maps.len(),
        args.step
    );
    for (k, map) in maps.maps.iter().enumerate() {
        let peak = map.iter().copied().fold(0.0, f32::max);
        let mean = map.iter().sum::<f32>() / map.len().max(1) as f32;
        println!("  {} {}: mean {mean:.4}, max {peak:.4}", space.name, k + 1);
    }
    Ok(())
}
