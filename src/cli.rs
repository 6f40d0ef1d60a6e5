//! The command line: `translate`, `encode`, `import`, `bench`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand};

use stylespace::Domain;
use stylespace::checkpoint::{self, DomainPair, Kind, ModelFiles, Precision};
use stylespace::config::Config;
use stylespace::engine::styles::{parse_style_code, prior_percentile, sample_styles};
use stylespace::engine::{DeviceChoice, Model, select_device};
use stylespace::io::image::{load_image, save_png};
use stylespace::model::{Generator, RandomInit};

#[derive(Parser, Debug)]
#[command(
    name = "stylespace",
    version,
    about = "Explore the style space of MUNIT image-to-image translation models",
    long_about = "Explore the style space of MUNIT image-to-image translation models.\n\n\
                  Models are given as a native model folder (--model DIR, as written by \
                  `stylespace import`) or as an official YAML config plus a gen_*.pt \
                  checkpoint (--config C --checkpoint G)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Translate an image (or every image of a folder) into the other domain, one output per
    /// style code.
    Translate(TranslateArgs),
    /// Encode an image into its content and style codes.
    Encode(EncodeArgs),
    /// Convert an official config + gen_*.pt checkpoint into a native model folder.
    Import(ImportArgs),
    /// Time encode and decode of an architecture (random weights) on this machine.
    Bench(BenchArgs),
    /// One training step's loss terms, totals and gradient norms (for checking a trainer
    /// against another implementation).
    Losses(LossesArgs),
    /// Train MUNIT on two image folders (ROOT/trainA, ROOT/trainB, optional testA, testB).
    Train(TrainArgs),
    /// Build a training dataset.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Write a native model folder from a training run (its latest complete checkpoint) or
    /// another model folder.
    Export(ExportArgs),
    /// Translate test images with several styles: a grid, style diversity and line preservation.
    Evaluate(EvaluateArgs),
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of source-domain test images.
    #[arg(long)]
    pub input_dir: PathBuf,
    /// Styles per image.
    #[arg(long, default_value_t = 4)]
    pub num_style: usize,
    /// Seed of the styles.
    #[arg(long, default_value_t = 10)]
    pub seed: u64,
    /// Translate from b to a.
    #[arg(long)]
    pub b2a: bool,
    /// Rows of the grid (the metrics use every image).
    #[arg(long, default_value_t = 8)]
    pub grid_rows: usize,
    /// Write the grid (input column, then one column per style) here.
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run folder or model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// New model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Store weights as f16 (half the size).
    #[arg(long)]
    pub f16: bool,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Line art -> colour from the OpenMoji npm package (CC BY-SA 4.0); see
    /// scripts/fetch-openmoji.
    Openmoji {
        /// The unpacked package folder (holds black/, color/ and data/openmoji.json).
        #[arg(long)]
        from: PathBuf,
        /// Side of the rendered images in pixels.
        #[arg(long, default_value_t = 128)]
        size: u32,
        /// New dataset root (trainA, trainB, testA, testB).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the glyph split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Official YAML config (model, losses, optimisation, data options).
    #[arg(long)]
    pub config: PathBuf,
    /// Dataset root (default: the config's data_root).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder: config copy, checkpoints/, images/, losses.csv.
    #[arg(long, default_value = "runs/munit")]
    pub out: PathBuf,
    /// Continue from the latest complete checkpoint in the run folder.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many iterations in total (default: the config's max_iter).
    #[arg(long)]
    pub max_iter: Option<u64>,
    /// Seed of initialisation, data order, augmentation and styles.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Checkpoints to keep.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// No progress bar (log lines only).
    #[arg(long)]
    pub quiet: bool,
    /// Stop (with a checkpoint) after this many seconds of wall-clock time.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<u64>,
}

#[derive(Args, Debug)]
pub struct LossesArgs {
    /// Official YAML config (its loss weights are used).
    #[arg(long)]
    pub config: PathBuf,
    /// Generator checkpoint (gen_*.pt or native .safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Discriminator checkpoint (dis_*.pt).
    #[arg(long)]
    pub dis: PathBuf,
    /// Image of domain a.
    #[arg(long)]
    pub input_a: PathBuf,
    /// Image of domain b.
    #[arg(long)]
    pub input_b: PathBuf,
    /// Style drawn for domain a (used by gen_a), comma-separated.
    #[arg(long, allow_hyphen_values = true)]
    pub style_a: String,
    /// Style drawn for domain b (used by gen_b), comma-separated.
    #[arg(long, allow_hyphen_values = true)]
    pub style_b: String,
    /// Print JSON (names as the official trainer's loss attributes).
    #[arg(long)]
    pub json: bool,
}

/// Which model to use.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Native model folder (config.yaml + model.safetensors) or training run folder. Default:
    /// the bundled model (assets/models/openmoji64, or $STYLESPACE_MODEL).
    #[arg(long, conflicts_with_all = ["config", "checkpoint"])]
    pub model: Option<PathBuf>,
    /// Official YAML config (with --checkpoint).
    #[arg(long, requires = "checkpoint")]
    pub config: Option<PathBuf>,
    /// Official gen_*.pt checkpoint (zip or legacy format) or a .safetensors file (with --config).
    #[arg(long, requires = "config")]
    pub checkpoint: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

impl ModelArgs {
    fn load(&self) -> Result<Model> {
        // Validate what was asked for before touching a device.
        let (config, folder) = match (&self.model, &self.config, &self.checkpoint) {
            (Some(dir), _, _) => (None, Some(dir.clone())),
            (None, Some(config), Some(_)) => (Some(Config::load(config)?.config), None),
            _ => {
                let bundled = bundled_model();
                if !bundled.join(checkpoint::NATIVE_WEIGHTS).is_file() {
                    bail!(
                        "no model given and the bundled default model is missing ({}): pass \
                         --model DIR or --config C.yaml --checkpoint gen.pt",
                        bundled.display()
                    );
                }
                (None, Some(bundled))
            }
        };
        let compute = select_device(self.device)?;
        if let Some(reason) = &compute.fallback_reason {
            eprintln!("note: {reason}");
        }
        log::info!("device: {}", compute.description);
        Ok(match (config, folder, &self.checkpoint) {
            (Some(config), _, Some(checkpoint)) => {
                Model::load(config, checkpoint, &compute.device)?
            }
            (_, Some(dir), _) => Model::load_folder(&dir, &compute.device)?,
            _ => unreachable!("checked above"),
        })
    }
}

/// The default model: `$STYLESPACE_MODEL`, else the one bundled in the source tree.
pub fn bundled_model() -> PathBuf {
    std::env::var_os("STYLESPACE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/openmoji64"))
}

#[derive(Args, Debug)]
pub struct TranslateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input image, or a folder of images.
    #[arg(long)]
    pub input: PathBuf,
    /// Folder for output_000.png, output_001.png, ... (one subfolder per input for a folder).
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Translate from domain b to a (default: a to b).
    #[arg(long)]
    pub b2a: bool,
    /// Take the style from this reference image of the target domain.
    #[arg(long, conflicts_with_all = ["style_code", "num_style"])]
    pub style: Option<PathBuf>,
    /// An explicit style code, comma-separated (repeat for several).
    #[arg(
        long,
        value_name = "V1,V2,...",
        allow_hyphen_values = true,
        conflicts_with = "num_style"
    )]
    pub style_code: Vec<String>,
    /// Number of random styles drawn from N(0, I).
    #[arg(long, default_value_t = 10)]
    pub num_style: usize,
    /// Seed of the random styles.
    #[arg(long, default_value_t = 10)]
    pub seed: u64,
    /// With a folder input: use the same random styles for every image.
    #[arg(long)]
    pub synchronized: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input image.
    #[arg(long)]
    pub input: PathBuf,
    /// Domain whose encoders to use.
    #[arg(long, value_enum, default_value = "a")]
    pub domain: DomainArg,
    /// Print JSON: {"style": [...], "content_shape": [n, c, h, w]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum DomainArg {
    A,
    B,
}

impl From<DomainArg> for Domain {
    fn from(d: DomainArg) -> Self {
        match d {
            DomainArg::A => Domain::A,
            DomainArg::B => Domain::B,
        }
    }
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Official YAML config.
    #[arg(long)]
    pub config: PathBuf,
    /// Official gen_*.pt checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// New model folder (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Store weights as f16 (half the size; outputs change by about 1e-3).
    #[arg(long)]
    pub f16: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Config whose architecture to time (default: the standard MUNIT generator).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Square input size in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Translate(args) => translate(args),
        Command::Encode(args) => encode(args),
        Command::Import(args) => import(args),
        Command::Bench(args) => bench(args),
        Command::Losses(args) => losses(args),
        Command::Train(args) => train(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Export(args) => {
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
            checkpoint::save_native(&args.out, &config, &pair, precision)?;
            println!(
                "wrote model folder {} from {}",
                args.out.display(),
                files.weights.display()
            );
            Ok(())
        }
        Command::Dataset(DatasetCommand::Openmoji {
            from,
            size,
            out,
            seed,
        }) => {
            if !(16..=1024).contains(&size) {
                bail!("--size must be between 16 and 1024");
            }
            let s = stylespace::train::openmoji::build(&from, &out, size, seed)?;
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
    }
}

const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "webp", "bmp", "gif", "ppm", "tif", "tiff",
];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Input images: the file itself, or a folder's images sorted by name.
fn inputs(input: &Path) -> Result<Vec<PathBuf>> {
    if input.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(input)
            .with_context(|| format!("cannot read folder {}", input.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        files.sort();
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

fn translate(args: TranslateArgs) -> Result<()> {
    let (source, target) = if args.b2a {
        (Domain::B, Domain::A)
    } else {
        (Domain::A, Domain::B)
    };
    let files = inputs(&args.input)?;
    // Read and check every input before any model work, so a bad file fails fast.
    let images = files
        .iter()
        .map(|f| load_image(f).map(|img| (f.clone(), img)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut model = args.model.load()?;
    let style_dim = model.style_dim();
    let fixed_styles: Option<Vec<Vec<f32>>> = if let Some(reference) = &args.style {
        let img = load_image(reference)?;
        let prepared = model.prepare(&img, target, &reference.display().to_string())?;
        Some(vec![model.style(target, &prepared)])
    } else if !args.style_code.is_empty() {
        let codes = args
            .style_code
            .iter()
            .map(|c| parse_style_code(c, style_dim).map_err(|e| anyhow!("--style-code {c}: {e}")))
            .collect::<Result<Vec<_>>>()?;
        Some(codes)
    } else {
        if args.num_style == 0 {
            bail!("--num-style must be at least 1");
        }
        (args.synchronized || images.len() == 1)
            .then(|| sample_styles(args.num_style, style_dim, args.seed))
    };
    let folder_input = args.input.is_dir();
    for (index, (path, img)) in images.iter().enumerate() {
        let name = path.display().to_string();
        let prepared = model.prepare(img, source, &name)?;
        let content = model.content(source, &prepared);
        let styles = match &fixed_styles {
            Some(styles) => styles.clone(),
            // Fresh styles per input, reproducible from the seed.
            None => sample_styles(
                args.num_style,
                style_dim,
                args.seed.wrapping_add(index as u64),
            ),
        };
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
        let outputs = model.translate(target, &content, &styles)?;
        for (i, out) in outputs.iter().enumerate() {
            let file = out_dir.join(format!("output_{i:03}.png"));
            save_png(&file, out, args.overwrite).map_err(|e| {
                if file.exists() && !args.overwrite {
                    anyhow!(
                        "{} already exists; pass --overwrite to replace it",
                        file.display()
                    )
                } else {
                    e.into()
                }
            })?;
        }
        println!(
            "{} -> {} ({} images)",
            name,
            out_dir.display(),
            outputs.len()
        );
    }
    Ok(())
}

fn encode(args: EncodeArgs) -> Result<()> {
    let domain: Domain = args.domain.into();
    let img = load_image(&args.input)?;
    let mut model = args.model.load()?;
    let prepared = model.prepare(&img, domain, &args.input.display().to_string())?;
    let content = model.content(domain, &prepared);
    let style = model.style(domain, &prepared);
    let shape = content.dims();
    if args.json {
        let out = serde_json::json!({ "style": style, "content_shape": shape });
        println!("{out}");
    } else {
        let (norm, percentile) = prior_percentile(&style);
        println!("content code shape: {shape:?}");
        println!(
            "style code: [{}]",
            style
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "style norm {norm:.3}: larger than {:.1}% of N(0, I) samples",
            100.0 * percentile
        );
    }
    Ok(())
}

fn import(args: ImportArgs) -> Result<()> {
    let config = Config::load(&args.config)?.config;
    let pair = checkpoint::read_official(&args.checkpoint, Kind::Generators)?;
    // Build both generators once to validate every key and shape before writing anything.
    let device = Device::flex();
    let check = |domain, dict| {
        checkpoint::generator_from_state_dict(&config, domain, dict, &device, &args.checkpoint)
    };
    check(Domain::A, pair.a.clone())?;
    check(Domain::B, pair.b.clone())?;
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    checkpoint::save_native(
        &args.out,
        &config,
        &DomainPair {
            a: pair.a,
            b: pair.b,
        },
        precision,
    )?;
    ModelFiles::from_folder(&args.out)?;
    println!("wrote model folder {}", args.out.display());
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench(args: BenchArgs) -> Result<()> {
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

fn losses(args: LossesArgs) -> Result<()> {
    use stylespace::train::losses::{LossWeights, Networks, dis_losses, gen_losses, grad_sq_sum};
    let config = Config::load(&args.config)?.config;
    let dim = config.generator.style_dim;
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
    let scalar = |t: &Tensor<1>| stylespace::model::params::to_vec(t.clone())[0] as f64;
    let gen_step = gen_losses(
        &nets,
        x_a.clone(),
        x_b.clone(),
        style(&s_a),
        style(&s_b),
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

fn train(args: TrainArgs) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use stylespace::train::trainer::{TrainOptions, train};
    let config = Config::load(&args.config)?.config;
    if !args.resume && args.out.join("checkpoints").exists() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            args.out.display()
        );
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
    println!(
        "{} at iteration {} ({:.1} s); run folder {}",
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

/// Luma of an RGB pixel in [0, 1].
fn luma(p: &image::Rgb<u8>) -> f64 {
    (0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64) / 255.0
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    let (source, target) = if args.b2a {
        (Domain::B, Domain::A)
    } else {
        (Domain::A, Domain::B)
    };
    let files = inputs(&args.input_dir)?;
    let mut model = args.model.load()?;
    let styles = sample_styles(args.num_style.max(2), model.style_dim(), args.seed);
    let (mut std_sum, mut dark_kept, mut dark_total) = (0.0f64, 0u64, 0u64);
    let mut rows: Vec<Vec<image::RgbImage>> = Vec::new();
    for path in &files {
        let img = load_image(path)?;
        let prepared = model.prepare(&img, source, &path.display().to_string())?;
        let content = model.content(source, &prepared);
        let outputs = model.translate(target, &content, &styles)?;
        let (w, h) = outputs[0].dimensions();
        let input = stylespace::io::image::image_from_chw(
            &prepared.data,
            prepared.channels,
            prepared.height,
            prepared.width,
        );
        // Per-pixel standard deviation across styles, averaged over pixels and channels.
        let n = outputs.len() as f64;
        let mut sum_std = 0.0;
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let vals: Vec<f64> = outputs
                        .iter()
                        .map(|o| o.get_pixel(x, y).0[c] as f64 / 255.0)
                        .collect();
                    let mean = vals.iter().sum::<f64>() / n;
                    sum_std += (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                }
            }
        }
        std_sum += sum_std / (w * h * 3) as f64;
        // Dark line pixels of the input that stay dark in the outputs.
        for y in 0..h.min(input.height()) {
            for x in 0..w.min(input.width()) {
                if luma(input.get_pixel(x, y)) < 0.25 {
                    for o in &outputs {
                        dark_total += 1;
                        if luma(o.get_pixel(x, y)) < 0.5 {
                            dark_kept += 1;
                        }
                    }
                }
            }
        }
        if rows.len() < args.grid_rows {
            let mut row = vec![image::imageops::crop_imm(&input, 0, 0, w, h).to_image()];
            row.extend(outputs.into_iter().take(args.num_style));
            rows.push(row);
        }
    }
    let mean_std = std_sum / files.len() as f64;
    let kept = if dark_total > 0 {
        dark_kept as f64 / dark_total as f64
    } else {
        f64::NAN
    };
    if let Some(path) = &args.grid {
        let (w, h) = rows[0][0].dimensions();
        let cols = rows[0].len() as u32;
        let mut grid = image::RgbImage::from_pixel(
            cols * w,
            rows.len() as u32 * h,
            image::Rgb([255, 255, 255]),
        );
        for (r, row) in rows.iter().enumerate() {
            for (c, tile) in row.iter().enumerate() {
                image::imageops::replace(&mut grid, tile, c as i64 * w as i64, r as i64 * h as i64);
            }
        }
        save_png(path, &grid, false).map_err(|e| anyhow!("{e} (remove it first)"))?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "images": files.len(),
                "styles": styles.len(),
                "mean_pixel_std_across_styles": mean_std,
                "dark_line_pixels_kept_dark": kept,
            })
        );
    } else {
        println!("{} images x {} styles", files.len(), styles.len());
        println!("mean per-pixel std across styles: {mean_std:.4} (0..0.5 scale of [0, 1] values)");
        println!(
            "input dark-line pixels that stay dark: {:.1}%",
            100.0 * kept
        );
    }
    Ok(())
}
