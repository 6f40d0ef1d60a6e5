//! The command line: arguments (clap) and dispatch; the commands live in the submodules.

mod bench;
mod evaluate;
mod infer;
mod training;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand};

use stylespace::Domain;
use stylespace::checkpoint::{self, ModelFiles, Precision};
use stylespace::config::Config;
use stylespace::engine::styles::{parse_style_code, prior_percentile, sample_styles};
use stylespace::engine::worker::ModelSource;
use stylespace::engine::{DeviceChoice, Family, Model, select_device};
use stylespace::io::image::{load_image, save_png};

#[derive(Parser, Debug)]
#[command(
    name = "stylespace",
    version,
    about = "Explore the style space of image-to-image translation models (MUNIT, DRIT++, UNIT)",
    long_about = "Explore the style space of multimodal image-to-image translation models: \
                  MUNIT, DRIT++ and UNIT.\n\n\
                  Models are given as a native model folder (--model DIR, as written by \
                  `stylespace import`), as an official MUNIT/UNIT YAML config plus a gen_*.pt \
                  checkpoint (--config C --checkpoint G), or as a DRIT++ .pth checkpoint alone \
                  (--checkpoint D.pth)."
)]
pub struct Cli {
    /// Without a command, the explorer window opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the explorer window (also what `stylespace` with no command does).
    App(AppArgs),
    /// Translate an image (or every image of a folder) into the other domain, one output per
    /// style code.
    Translate(TranslateArgs),
    /// Encode an image into its content and style codes.
    Encode(EncodeArgs),
    /// Which domain each image most likely comes from: its reconstruction error through each
    /// domain's autoencoder, and whether it is far from both.
    Domains(DomainsArgs),
    /// Encode a folder of images into style codes and lay them out on their two principal
    /// directions (a style map): JSON, a table, or a PNG with thumbnails.
    Map(MapArgs),
    /// Effect maps: for an image and a code, where each style dimension changes the output (a
    /// central difference per dimension, one batched decode), as a labelled grid.
    Effects(EffectsArgs),
    /// Convert an official checkpoint (MUNIT/UNIT config + gen_*.pt, or a DRIT++ .pth) into a
    /// native model folder.
    Import(ImportArgs),
    /// Time encode and decode of an architecture (random weights) on this machine.
    Bench(BenchArgs),
    /// Check this machine's numbers against a parity reference made by the official code
    /// (a folder with the checkpoint, a.png, b.png and expected.safetensors): every tensor's
    /// largest difference, and a failure above the tolerance.
    CheckReference(CheckReferenceArgs),
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
    /// Translate test images with several styles: a grid and five numbers (lines kept, colourfulness against real images, diversity, colour outside the drawings, lightness spread).
    Evaluate(EvaluateArgs),
}

#[derive(Args, Debug, Default)]
pub struct AppArgs {
    /// The model (default: the last session's, else the bundled one); `--device auto` shares a
    /// hardware GPU with the window, else uses the CPU.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Content images to open.
    pub images: Vec<PathBuf>,
    /// Start fresh and do not remember this session.
    #[arg(long)]
    pub no_session: bool,
    /// Once the first translation is on screen, save a screenshot of the window here and exit
    /// (for scripted checks).
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of source-domain test images.
    #[arg(long)]
    pub input_dir: PathBuf,
    /// Real target-domain images whose colourfulness the outputs are compared with. Default: the
    /// input folder's sibling of the other domain (testB beside testA) if there is one.
    #[arg(long)]
    pub reference_dir: Option<PathBuf>,
    /// The real target-domain versions of the inputs (same file names; `stylespace dataset
    /// openmoji` writes testA-truth): adds colour changed outside the real colourings'
    /// silhouettes, which counts neither open shapes' fills nor what a design colours beyond its
    /// lines. Default: the input folder's sibling INPUT-truth if there is one.
    #[arg(long)]
    pub truth_dir: Option<PathBuf>,
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
    #[arg(long, conflicts_with = "history")]
    pub grid: Option<PathBuf>,
    /// In the grid, mark where each translation loses the numbers: the outside pixels it
    /// recoloured in magenta, the line pixels it lost in cyan, the rest faded.
    #[arg(long, requires = "grid")]
    pub faults: bool,
    /// Evaluate every generator a training run kept (--model RUN: those `train --history-every`
    /// kept, and its newest checkpoint), one row per iteration in a table kept in the run folder;
    /// generators already in the table are not measured again.
    #[arg(long)]
    pub history: bool,
    /// With --history: the table (default RUN/evaluation.csv).
    #[arg(long, requires = "history", value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// With --history: a chart of the numbers against iterations (PNG).
    #[arg(long, requires = "history", value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// Replace an existing --grid or --plot image.
    #[arg(long)]
    pub overwrite: bool,
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
    /// Also write the discriminators (`discriminators.safetensors`), so that `train --init`
    /// from the new folder goes on with them instead of fresh ones.
    #[arg(long)]
    pub with_discriminators: bool,
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
    /// Start the generators from this model (a model or run folder, a native .safetensors or an
    /// official gen_*.pt with the config's architecture) instead of random weights (a run
    /// folder's moving average where it keeps one). The discriminators come along where the
    /// source has them and they fit the config (a run folder's checkpoint, a model folder from
    /// `export --with-discriminators`), else they start fresh; the optimiser always does. Its
    /// image size may differ (e.g. 64 px -> 128 px).
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// Also keep the generators every N iterations (f16, in RUN/history/, never pruned), to
    /// compare them with `stylespace evaluate --model RUN --history`. 0: none.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub history_every: u64,
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
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Native model folder (config.yaml + model.safetensors) or training run folder. Default:
    /// the bundled model (assets/models/openmoji128, or $STYLESPACE_MODEL).
    #[arg(long, conflicts_with_all = ["config", "checkpoint"])]
    pub model: Option<PathBuf>,
    /// Official MUNIT/UNIT YAML config (with --checkpoint). Without it, a MUNIT/UNIT checkpoint
    /// takes `config.yaml` (or the only YAML) beside it or in the run folder above.
    #[arg(long, requires = "checkpoint")]
    pub config: Option<PathBuf>,
    /// Official checkpoint: a MUNIT/UNIT gen_*.pt (with its YAML) or a DRIT++ .pth (alone); zip
    /// or legacy format. Also a native .safetensors file.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// DRIT++ only: resize images to this square size first (official 256; 0 keeps their size).
    #[arg(long, value_name = "PX")]
    pub resize_size: Option<usize>,
    /// DRIT++ only: then take the centred square of this size (official 216; 0: no crop).
    #[arg(long, value_name = "PX")]
    pub crop_size: Option<usize>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

impl ModelArgs {
    /// The model asked for (`None`: the bundled default). A MUNIT / UNIT checkpoint given
    /// without `--config` takes the YAML beside it, as in the window.
    pub fn source(&self) -> Option<ModelSource> {
        match (&self.model, &self.config, &self.checkpoint) {
            (Some(dir), _, _) => Some(ModelSource::Folder(dir.clone())),
            (None, Some(config), Some(checkpoint)) => Some(ModelSource::Official {
                config: config.clone(),
                checkpoint: checkpoint.clone(),
            }),
            (None, None, Some(checkpoint)) => Some(
                ModelSource::for_path(checkpoint)
                    .filter(|s| !matches!(s, ModelSource::Folder(_)))
                    .unwrap_or_else(|| ModelSource::Checkpoint(checkpoint.clone())),
            ),
            _ => None,
        }
    }

    fn load(&self) -> Result<Model> {
        // Validate what was asked for before touching a device.
        let source = match self.source() {
            Some(source) => source,
            None => {
                let bundled = bundled_model();
                if !bundled.join(checkpoint::NATIVE_WEIGHTS).is_file() {
                    bail!(
                        "no model given and the bundled default model is missing ({}): pass \
                         --model DIR or --config C.yaml --checkpoint gen.pt",
                        bundled.display()
                    );
                }
                ModelSource::Folder(bundled)
            }
        };
        if let ModelSource::Official { config, .. } = &source {
            Config::load(config)?;
        }
        let compute = select_device(self.device)?;
        if let Some(reason) = &compute.fallback_reason {
            eprintln!("note: {reason}");
        }
        log::info!("device: {}", compute.description);
        let mut model = source.load(&compute.device)?;
        model.set_resize_crop(self.resize_size, self.crop_size)?;
        Ok(model)
    }
}

pub use stylespace::engine::bundled_model;

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
    /// Take the style from this reference image of the target domain (DRIT++: the attribute
    /// mean, deterministic).
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
    /// Number of random styles drawn from N(0, I) [default: 10]. UNIT: without it, the one
    /// deterministic translation; with it, N samples of latent + unit Gaussian noise.
    #[arg(long)]
    pub num_style: Option<usize>,
    /// Seed of the random styles (UNIT: of the noise).
    #[arg(long, default_value_t = 10)]
    pub seed: u64,
    /// With a folder input: use the same random styles for every image.
    #[arg(long)]
    pub synchronized: bool,
    /// Region brush: a grey image over the input (its size, or its aspect ratio; white = inside),
    /// resized and cropped like the input. Inside it the output takes --mask-style-code (or
    /// --mask-style), outside the usual style; the two are mixed inside the decoder.
    #[arg(long, value_name = "MASK.png")]
    pub mask: Option<PathBuf>,
    /// The code inside --mask, comma-separated.
    #[arg(
        long,
        value_name = "V1,V2,...",
        allow_hyphen_values = true,
        requires = "mask",
        conflicts_with = "mask_style"
    )]
    pub mask_style_code: Option<String>,
    /// Take the code inside --mask from this reference image of the target domain.
    #[arg(long, value_name = "IMAGE", requires = "mask")]
    pub mask_style: Option<PathBuf>,
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
    /// Print JSON: {"family", "style" (MUNIT style, DRIT attribute mean, null for UNIT),
    /// "logvar" (DRIT concat), "content_shape": [n, c, h, w]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DomainsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// An image or a folder of images.
    pub input: PathBuf,
    /// Print one JSON object per image: {"image", "error_a", "error_b", "likely", "far"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct MapArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of images whose styles to map.
    #[arg(long)]
    pub input_dir: PathBuf,
    /// Domain whose style encoder reads the images (the target domain of the translations the
    /// styles are for).
    #[arg(long, value_enum, default_value = "b")]
    pub domain: DomainArg,
    /// Print JSON: {"files", "codes", "mean", "axes" (two unit axes), "coords" ((code - mean) on
    /// the axes), "explained_variance_ratio"}.
    #[arg(long)]
    pub json: bool,
    /// Write the map as a PNG (thumbnails at their coordinates over the prior's samples).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Replace an existing PNG.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct EffectsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The content image.
    #[arg(long)]
    pub input: PathBuf,
    /// Translate b -> a.
    #[arg(long)]
    pub b2a: bool,
    /// The code to probe around (comma-separated); default: a draw from the prior.
    #[arg(long)]
    pub style_code: Option<String>,
    /// Seed of the prior draw when no code is given.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Step of the central differences, in code units.
    #[arg(long, default_value_t = 0.5)]
    pub step: f32,
    /// The grid: the translation, then one heat map per dimension (one colour scale for all).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchFamily {
    Munit,
    Unit,
    /// DRIT++ --concat 1.
    Drit,
    /// DRIT++ --concat 0.
    DritNoconcat,
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
    /// Official MUNIT/UNIT YAML config (not for DRIT++).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Official gen_*.pt (MUNIT/UNIT) or .pth (DRIT++) checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// DRIT++: the resize the model folder records (default 256).
    #[arg(long, value_name = "PX")]
    pub resize_size: Option<usize>,
    /// DRIT++: the crop the model folder records (default 216).
    #[arg(long, value_name = "PX")]
    pub crop_size: Option<usize>,
    /// New model folder (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Store weights as f16 (half the size; outputs change by about 1e-3).
    #[arg(long)]
    pub f16: bool,
}

#[derive(Args, Debug)]
pub struct CheckReferenceArgs {
    /// Reference folders (e.g. tests/fixtures/munit-tiny).
    #[arg(required = true)]
    pub references: Vec<PathBuf>,
    /// Checkpoint file name inside each folder (default: drit.pth, else gen.pt).
    #[arg(long)]
    pub checkpoint: Option<String>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Largest allowed |ours - official| (the parity tests use 1e-4 on the CPU, 1e-3 on wgpu).
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Family whose official architecture to time (random weights).
    #[arg(long, value_enum, default_value_t = BenchFamily::Munit)]
    pub family: BenchFamily,
    /// MUNIT/UNIT config: the architecture to time with random weights instead of the default
    /// one, or the config of --checkpoint.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Time this model instead (a native model folder); the family is the model's.
    #[arg(long, conflicts_with_all = ["config", "checkpoint"])]
    pub model: Option<PathBuf>,
    /// Time this official checkpoint instead (MUNIT/UNIT with --config, DRIT++ alone).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Square input size in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Encodes (decodes) per timed repetition, with one device sync at its end: on a GPU, more
    /// than one lets the launches of one overlap the next, as a slider's stream of decodes does.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub per_sync: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the random-weight model it times as a native model folder (new or empty), f32:
    /// a model of any size, e.g. to measure the memory a large one takes.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["model", "checkpoint"])]
    pub save_model: Option<PathBuf>,
}

fn app(args: AppArgs) -> Result<()> {
    use stylespace::app::{AppOptions, session::Session};
    let model = args.model.source();
    for image in &args.images {
        if !image.is_file() {
            bail!("{}: no such image file", image.display());
        }
    }
    let scripted = args.screenshot.is_some();
    let options = AppOptions {
        device: args.model.device,
        model,
        images: args.images,
        session_path: if args.no_session || scripted {
            None
        } else {
            Session::default_path()
        },
        screenshot_and_exit: args.screenshot.clone(),
        show_timings: true,
        drit_resize_crop: (args.model.resize_size, args.model.crop_size),
    };
    stylespace::app::run(options).map_err(|e| anyhow!("{e}"))?;
    if let Some(path) = args.screenshot
        && !path.is_file()
    {
        bail!(
            "the window closed before a screenshot was saved to {}",
            path.display()
        );
    }
    Ok(())
}

pub fn run(cli: Cli) -> Result<()> {
    use bench::{bench, check_reference};
    use evaluate::evaluate;
    use infer::{domains, effects, encode, map, translate};
    use training::{dataset_openmoji, export, import, losses, train};
    match cli.command.unwrap_or(Command::App(AppArgs::default())) {
        Command::App(args) => app(args),
        Command::Translate(args) => translate(args),
        Command::Encode(args) => encode(args),
        Command::Domains(args) => domains(args),
        Command::Map(args) => map(args),
        Command::Effects(args) => effects(args),
        Command::Import(args) => import(args),
        Command::Bench(args) => bench(args),
        Command::CheckReference(args) => check_reference(args),
        Command::Losses(args) => losses(args),
        Command::Train(args) => train(args),
        Command::Evaluate(args) => evaluate(args),
        Command::Export(args) => export(args),
        Command::Dataset(DatasetCommand::Openmoji {
            from,
            size,
            out,
            seed,
        }) => dataset_openmoji(&from, size, &out, seed),
    }
}
