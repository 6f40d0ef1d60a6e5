//! The training loop: each iteration a discriminator step then a generator step, each with
//! freshly drawn styles, Adam on both, the official step schedule, and a run folder like the
//! official one (config copy, checkpoints, sample grids, loss log).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand_distr::{Distribution, StandardNormal};

use super::adam::{Adam, AdamConfig};
use super::data::{Loader, LoaderSpec, Transform, list_file, list_images, rng_for, truth_files};
use super::losses::{
    LossWeights, Networks, OwnInputs, dis_losses, fill_mask_batch, gen_losses, halo_mask_batch,
    keep_mask_batch, line_mask_batch, silhouette_keep_mask_batch,
};
use super::samples::Display;
use crate::Domain;
use crate::checkpoint::run::{self as checkpoints, CHECKPOINT_DIR, CheckpointData};
use crate::checkpoint::{
    DomainPair, Precision, StateDict, discriminator_from_state_dict, generator_from_state_dict,
    native_bytes,
};
use crate::config::{Config, InitScheme, KeepRegion, LrPolicy, MsForm};
use crate::io::atomic::write_atomic;
use crate::model::params::{Init, ParamError, ParamSource, RandomInit, to_vec};
use crate::model::{Generator, MsImageDis, NamedParams};

/// Both generators, one module for the optimiser.
#[derive(Module, Debug)]
pub struct GenPair {
    pub a: Generator,
    pub b: Generator,
}

/// Both discriminators.
#[derive(Module, Debug)]
pub struct DisPair {
    pub a: MsImageDis,
    pub b: MsImageDis,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Data(#[from] super::data::DataError),
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to train and where.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub config: Config,
    /// Dataset root (`trainA`, `trainB`, `testA`, `testB`); defaults to the config's `data_root`.
    pub data_root: Option<PathBuf>,
    pub run_dir: PathBuf,
    pub resume: bool,
    pub seed: u64,
    /// Stop after this many iterations in total (default: the config's `max_iter`).
    pub max_iter: Option<u64>,
    /// Checkpoints kept.
    pub keep: usize,
    /// Start the generators from this model instead of random weights (a fresh run only): a
    /// native model folder, a run folder (its newest checkpoint), a native `.safetensors` or an
    /// official `gen_*.pt` whose architecture is the config's. The image size may differ: the
    /// networks are convolutional, so a model trained at 64 px continues at 128 px. The
    /// discriminators come along where the source has them and they fit the config (a run
    /// folder's checkpoint, a model folder's `discriminators.safetensors`); the optimiser
    /// starts afresh.
    pub init_from: Option<PathBuf>,
    /// Every this many iterations, also keep the generators (f16) in `history/` of the run
    /// folder, never pruned: what `stylespace evaluate --history` compares. 0: none.
    pub history_every: u64,
    pub progress: bool,
}

/// One logged iteration.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub iteration: u64,
    pub lr: f64,
    pub values: Vec<(&'static str, f64)>,
}

/// How a run ended.
#[derive(Debug)]
pub struct TrainSummary {
    pub iterations: u64,
    pub interrupted: bool,
    pub skipped_images: u64,
    pub last: Option<LogRow>,
    pub seconds: f64,
    /// Seconds per iteration after this session's first (which also pays for warm-up), when
    /// it ran two or more: loading the batch and the two steps, not the images, checkpoints and
    /// logs written between them (which `seconds` includes).
    pub seconds_per_iteration: Option<f64>,
}

/// Learning rate at 0-based iteration `i`: the official StepLR is stepped once before each
/// iteration, so iteration i uses `lr * gamma^floor((i + 1) / step_size)`.
pub fn learning_rate(config: &Config, iteration: u64) -> f64 {
    match config.lr_policy {
        LrPolicy::Constant => config.lr,
        LrPolicy::Step => {
            let steps = (iteration + 1) / config.step_size.max(1);
            config.lr * config.gamma.powi(steps as i32)
        }
    }
}

/// Draws `[batch, dim]` prior styles for one purpose of one iteration.
pub(super) fn styles(
    seed: u64,
    purpose: u64,
    iteration: u64,
    batch: usize,
    dim: usize,
    device: &Device,
) -> Tensor<2> {
    let mut rng = rng_for(seed, &[0x57E1E, purpose, iteration]);
    let values: Vec<f32> = (0..batch * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, dim]), device)
}

fn dict_of(m: &impl NamedParams) -> StateDict {
    let mut dict = StateDict::new();
    m.visit_params("", &mut |k, s, v| {
        dict.insert(k, (s, v));
    });
    dict
}

/// Both generators' parameters by name.
fn gens_dict(gens: &GenPair) -> DomainPair {
    DomainPair {
        a: dict_of(&gens.a),
        b: dict_of(&gens.b),
    }
}

/// Initialisation per the config's `init` (generators) and N(0, 0.02) (discriminators).
struct Initializer {
    inner: RandomInit,
    scheme: InitScheme,
}

impl ParamSource for Initializer {
    fn values(&mut self, key: &str, shape: &[usize], init: Init) -> Result<Vec<f32>, ParamError> {
        let init = match (self.scheme, init) {
            (InitScheme::Gaussian, Init::KaimingNormal { .. }) => Init::Normal { std: 0.02 },
            _ => init,
        };
        self.inner.values(key, shape, init)
    }
}

struct Run {
    nets: (GenPair, DisPair),
    adam_gen: Adam,
    adam_dis: Adam,
    /// The generators' moving average, as the checkpoint left it (`None`: start it from the
    /// generators, when the config asks for one).
    ema: Option<DomainPair>,
    start: u64,
}

/// The generators' exponential moving average (`ema_beta`), kept on the host: one pass over
/// each parameter per step, small beside the step itself.
struct GenEma {
    beta: f32,
    weights: DomainPair,
}

impl GenEma {
    fn new(beta: f64, gens: &GenPair, restored: Option<DomainPair>) -> Self {
        Self {
            beta: beta as f32,
            weights: restored.unwrap_or_else(|| gens_dict(gens)),
        }
    }

    /// `ema = beta * ema + (1 - beta) * weights`, for every parameter of both generators.
    fn update(&mut self, gens: &GenPair) {
        let beta = self.beta;
        for (average, generator) in [
            (&mut self.weights.a, &gens.a),
            (&mut self.weights.b, &gens.b),
        ] {
            generator.visit_params("", &mut |key, _, values| {
                if let Some((_, kept)) = average.get_mut(&key) {
                    for (k, v) in kept.iter_mut().zip(values) {
                        *k = beta * *k + (1.0 - beta) * v;
                    }
                }
            });
        }
    }
}

/// The weights file `--init` names: the file itself, a model folder's weights, or a run
/// folder's newest complete checkpoint.
fn init_weights(source: &Path) -> Result<PathBuf, TrainError> {
    if !source.is_dir() {
        return if source.is_file() {
            Ok(source.to_path_buf())
        } else {
            Err(TrainError::Setup(format!(
                "--init: {} does not exist",
                source.display()
            )))
        };
    }
    let weights = source.join(crate::checkpoint::NATIVE_WEIGHTS);
    if weights.is_file() {
        return Ok(weights);
    }
    let dir = source.join(CHECKPOINT_DIR);
    checkpoints::latest_complete(&dir)
        .map(|m| dir.join(checkpoints::generator_file(&m)))
        .ok_or_else(|| {
            TrainError::Setup(format!(
                "--init: {} is neither a model folder nor a run folder with a complete checkpoint",
                source.display()
            ))
        })
}

/// `--init`'s discriminators when they fit the config, else `None` (the run starts fresh ones,
/// as from a model without them; a 64 px model's do not fit a 128 px config of more scales).
fn init_discriminators(
    c: &Config,
    source: &Path,
    device: &Device,
) -> Result<Option<DisPair>, TrainError> {
    let Some(path) = crate::checkpoint::discriminator_file(source) else {
        return Ok(None);
    };
    let pair = crate::checkpoint::read_native(&path)?;
    match crate::checkpoint::discriminators_from_pair(c, pair, device, &path) {
        Ok([a, b]) => {
            log::info!("discriminators from {}", path.display());
            Ok(Some(DisPair { a, b }))
        }
        Err(e) => {
            log::warn!("--init: fresh discriminators, as {e}");
            Ok(None)
        }
    }
}

fn build(options: &TrainOptions, device: &Device) -> Result<Run, TrainError> {
    let c = &options.config;
    let adam = || {
        Adam::new(AdamConfig {
            beta1: c.beta1,
            beta2: c.beta2,
            eps: 1e-8,
            weight_decay: c.weight_decay,
        })
    };
    let ckpt_dir = options.run_dir.join(CHECKPOINT_DIR);
    if options.resume
        && let Some(manifest) = checkpoints::latest_complete(&ckpt_dir)
    {
        let data = checkpoints::load(&ckpt_dir, &manifest).map_err(TrainError::Setup)?;
        let ckpt_path = ckpt_dir.join(checkpoints::gen_name(manifest.iteration));
        let gens = GenPair {
            a: generator_from_state_dict(c, Domain::A, data.gens.a, device, &ckpt_path)?,
            b: generator_from_state_dict(c, Domain::B, data.gens.b, device, &ckpt_path)?,
        };
        let dis = DisPair {
            a: discriminator_from_state_dict(c, Domain::A, data.dis.a, device, &ckpt_path)?,
            b: discriminator_from_state_dict(c, Domain::B, data.dis.b, device, &ckpt_path)?,
        };
        let inner = device.clone().without_autodiff();
        let restore = |name: &str| -> Result<Adam, TrainError> {
            let step = data
                .steps
                .get(&format!("{name}_step"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let mut optimizer = adam();
            optimizer
                .import(
                    step,
                    &checkpoints::split_optimizer(&data.optimizer, name),
                    &inner,
                )
                .map_err(TrainError::Setup)?;
            Ok(optimizer)
        };
        let (adam_gen, adam_dis) = (restore("gen")?, restore("dis")?);
        log::info!("resuming from iteration {}", manifest.iteration);
        if options.init_from.is_some() {
            log::warn!("--init is ignored: the run continues from its own checkpoint");
        }
        return Ok(Run {
            nets: (gens, dis),
            adam_gen,
            adam_dis,
            ema: data.ema,
            start: manifest.iteration,
        });
    }
    if options.resume {
        log::warn!(
            "no complete checkpoint in {}; starting from scratch",
            ckpt_dir.display()
        );
    }
    if !matches!(c.init, InitScheme::Kaiming | InitScheme::Gaussian) {
        return Err(TrainError::Setup(format!(
            "init: {:?} is not supported yet (kaiming and gaussian are)",
            c.init
        )));
    }
    let mut init = Initializer {
        inner: RandomInit::new(options.seed),
        scheme: c.init,
    };
    let gens = match &options.init_from {
        Some(source) => {
            let weights = init_weights(source)?;
            let pair = crate::checkpoint::load_generators(c, &weights, device)?;
            log::info!("generators from {}", weights.display());
            GenPair {
                a: pair.a,
                b: pair.b,
            }
        }
        None => GenPair {
            a: Generator::new(&c.generator, c.input_dim_a, &mut init, device)?,
            b: Generator::new(&c.generator, c.input_dim_b, &mut init, device)?,
        },
    };
    let from_init = match &options.init_from {
        Some(source) => init_discriminators(c, source, device)?,
        None => None,
    };
    let dis = match from_init {
        Some(dis) => dis,
        None => DisPair {
            a: MsImageDis::new(&c.discriminator, c.input_dim_a, &mut init, device)?,
            b: MsImageDis::new(&c.discriminator, c.input_dim_b, &mut init, device)?,
        },
    };
    Ok(Run {
        nets: (gens, dis),
        adam_gen: adam(),
        adam_dis: adam(),
        ema: None,
        start: 0,
    })
}

fn checkpoint_data(
    (gens, ema): (&GenPair, Option<&GenEma>),
    dis: &DisPair,
    adam_gen: &Adam,
    adam_dis: &Adam,
) -> CheckpointData {
    let mut optimizer = StateDict::new();
    let mut steps = HashMap::new();
    for (name, adam) in [("gen", adam_gen), ("dis", adam_dis)] {
        let (step, arrays) = adam.export();
        steps.insert(format!("{name}_step"), step.to_string());
        for (k, v) in arrays {
            optimizer.insert(format!("{name}.{k}"), v);
        }
    }
    CheckpointData {
        gens: gens_dict(gens),
        ema: ema.map(|e| e.weights.clone()),
        dis: DomainPair {
            a: dict_of(&dis.a),
            b: dict_of(&dis.b),
        },
        optimizer,
        steps,
    }
}

/// Files of one split of the dataset.
fn split_files(
    options: &TrainOptions,
    root: Option<&Path>,
    split: &str,
) -> Result<Vec<PathBuf>, TrainError> {
    let (folder, list) = split_source(options, root, split)?;
    Ok(match list {
        Some(list) => list_file(&folder, &list)?,
        None => list_images(&folder)?,
    })
}

/// Where one split of the dataset is: its folder, and the list file naming its images (relative
/// to the folder) when the config gives one.
fn split_source(
    options: &TrainOptions,
    root: Option<&Path>,
    split: &str,
) -> Result<(PathBuf, Option<PathBuf>), TrainError> {
    let c = &options.config;
    let (folder, list) = match split {
        "trainA" => (&c.data_folder_train_a, &c.data_list_train_a),
        "trainB" => (&c.data_folder_train_b, &c.data_list_train_b),
        "testA" => (&c.data_folder_test_a, &c.data_list_test_a),
        _ => (&c.data_folder_test_b, &c.data_list_test_b),
    };
    if options.data_root.is_none()
        && let (Some(folder), Some(list)) = (folder, list)
    {
        return Ok((PathBuf::from(folder), Some(PathBuf::from(list))));
    }
    let root = root.ok_or_else(|| {
        TrainError::Setup("no dataset: pass --data ROOT or set data_root in the config".into())
    })?;
    Ok((root.join(split), None))
}

/// Trains; `stop` set from outside (Ctrl-C) ends the run after the current iteration with a
/// checkpoint. `on_log` receives every logged row.
pub fn train(
    options: &TrainOptions,
    device: &Device,
    stop: Arc<AtomicBool>,
    mut on_log: impl FnMut(&LogRow),
) -> Result<TrainSummary, TrainError> {
    let c = &options.config;
    if c.vgg_w > 0.0 {
        return Err(TrainError::Setup(
            "vgg_w > 0 needs the VGG16 weights, which are not available offline; set vgg_w: 0"
                .into(),
        ));
    }
    let run_dir = &options.run_dir;
    std::fs::create_dir_all(run_dir.join("images")).map_err(write_err(run_dir))?;
    let config_copy = run_dir.join("config.yaml");
    write_atomic(&config_copy, c.to_yaml().as_bytes(), true).map_err(write_err(&config_copy))?;

    let root = options
        .data_root
        .clone()
        .or_else(|| c.data_root.as_ref().map(PathBuf::from));
    let files_a = split_files(options, root.as_deref(), "trainA")?;
    let files_b = split_files(options, root.as_deref(), "trainB")?;
    let truths_a = match c.keep_region {
        KeepRegion::Silhouette => {
            let (folder, _) = split_source(options, root.as_deref(), "trainA")?;
            Some(truth_files(&folder, &files_a)?)
        }
        KeepRegion::Drawing => None,
    };
    let test_a = split_files(options, root.as_deref(), "testA").unwrap_or_else(|_| files_a.clone());
    let test_b = split_files(options, root.as_deref(), "testB").unwrap_or_else(|_| files_b.clone());
    let transform = |domain: Domain, random: bool| Transform {
        new_size: c.new_size_for(domain),
        crop_h: c.crop_image_height,
        crop_w: c.crop_image_width,
        channels: c.input_dim(domain),
        random,
    };

    let Run {
        nets: (mut gens, mut dis),
        mut adam_gen,
        mut adam_dis,
        ema,
        start,
    } = build(options, device)?;
    let mut ema = (c.ema_beta > 0.0).then(|| GenEma::new(c.ema_beta, &gens, ema));
    let max_iter = options.max_iter.unwrap_or(c.max_iter);
    let batch = c.batch_size;
    let mut loader = Loader::start(
        LoaderSpec {
            files_a,
            files_b,
            truths_a,
            transform_a: transform(Domain::A, true),
            transform_b: transform(Domain::B, true),
            batch,
            seed: options.seed,
            workers: c.num_workers.clamp(1, 4),
        },
        start,
    );
    let shape = |d: Domain| {
        [
            batch,
            c.input_dim(d),
            c.crop_image_height,
            c.crop_image_width,
        ]
    };
    let weights = LossWeights::from(c);
    let csv_path = run_dir.join("losses.csv");
    let mut csv = LossLog::open(&csv_path, start).map_err(write_err(&csv_path))?;
    let style_dim = c.generator.style_dim();
    let display = Display::new(
        options,
        &test_a,
        &test_b,
        transform(Domain::A, false),
        transform(Domain::B, false),
    );

    let progress = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(max_iter);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(start);
        bar
    });
    if start == 0 && options.init_from.is_some() && options.history_every > 0 {
        // Where a run from another model begins: the first point of its history.
        save_history(run_dir, 0, &gens, None)?;
    }
    let began = Instant::now();
    // The steady rate: seconds spent on the iterations after the session's first (warm-up).
    let (mut steady_seconds, mut steady_iterations) = (0.0, 0u64);
    let mut last = None;
    let mut iteration = start;
    let mut interrupted = false;
    let save =
        |iteration: u64, gens: (&GenPair, Option<&GenEma>), dis: &DisPair, g: &Adam, d: &Adam| {
            let dir = run_dir.join(CHECKPOINT_DIR);
            checkpoints::save(
                &dir,
                iteration,
                &checkpoint_data(gens, dis, g, d),
                options.keep,
            )
            .map_err(write_err(&dir))
        };
    while iteration < max_iter {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let lr = learning_rate(c, iteration);
        let iteration_began = Instant::now();
        let data = loader.next_batch()?;
        let mask = |on: bool, of: fn(&[f32], [usize; 4]) -> Vec<f32>| {
            on.then(|| {
                let mask = of(&data.a, shape(Domain::A));
                Tensor::<4>::from_data(TensorData::new(mask, shape(Domain::A)), device)
            })
        };
        let contrast = weights.ms_w > 0.0 && weights.ms_form == MsForm::Contrast;
        let keep_a = (weights.keep_w > 0.0).then(|| {
            let mask = match &data.a_truth {
                Some(truths) => silhouette_keep_mask_batch(&data.a, truths, shape(Domain::A)),
                None => keep_mask_batch(&data.a, shape(Domain::A)),
            };
            Tensor::<4>::from_data(TensorData::new(mask, shape(Domain::A)), device)
        });
        let fill_a = mask(
            weights.ms_w > 0.0 || weights.chroma_w > 0.0,
            fill_mask_batch,
        );
        let halo_a = mask(contrast || weights.halo_w > 0.0, halo_mask_batch);
        let line_a = mask(weights.line_w > 0.0, line_mask_batch);
        // The mode-seeking terms' second style is drawn with the step's others, in `iterate`.
        let masks = OwnInputs {
            keep_a,
            fill_a,
            halo_a,
            line_a,
            s_b_second: None,
        };
        let x_a = Tensor::<4>::from_data(TensorData::new(data.a, shape(Domain::A)), device);
        let x_b = Tensor::<4>::from_data(TensorData::new(data.b, shape(Domain::B)), device);

        let seeds = Styles {
            seed: options.seed,
            iteration,
            batch,
            dim: style_dim,
        };
        let values;
        (gens, dis, values) = iterate(
            (gens, dis),
            (&mut adam_gen, &mut adam_dis),
            (x_a, x_b, masks),
            lr,
            &seeds,
            weights,
        );
        if let Some(ema) = &mut ema {
            ema.update(&gens);
        }
        if iteration > start {
            steady_seconds += iteration_began.elapsed().as_secs_f64();
            steady_iterations += 1;
        }
        iteration += 1;

        let row = LogRow {
            iteration,
            lr,
            values,
        };
        if iteration % c.log_iter.max(1) == 0 || iteration == max_iter {
            csv.append(&row).map_err(write_err(&csv_path))?;
            on_log(&row);
        }
        if let Some(bar) = &progress {
            bar.set_position(iteration);
            bar.set_message(format!(
                "gen {:.3} dis {:.3}",
                value(&row, "gen_total"),
                value(&row, "dis_total")
            ));
        }
        if iteration % c.image_save_iter.max(1) == 0 || iteration == max_iter {
            display
                .save(&gens, iteration, device)
                .map_err(write_err(run_dir))?;
        }
        if iteration % c.snapshot_save_iter.max(1) == 0 {
            save(iteration, (&gens, ema.as_ref()), &dis, &adam_gen, &adam_dis)?;
        }
        if options.history_every > 0 && iteration % options.history_every == 0 {
            save_history(run_dir, iteration, &gens, ema.as_ref())?;
        }
        last = Some(row);
    }
    // Always leave a checkpoint of where the run stopped.
    let latest = checkpoints::latest_complete(&run_dir.join(CHECKPOINT_DIR));
    if iteration > start && latest.is_none_or(|m| m.iteration != iteration) {
        save(iteration, (&gens, ema.as_ref()), &dis, &adam_gen, &adam_dis)?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(TrainSummary {
        iterations: iteration,
        interrupted,
        skipped_images: loader.skipped.load(Ordering::Relaxed),
        last,
        seconds: began.elapsed().as_secs_f64(),
        seconds_per_iteration: (steady_iterations > 0)
            .then(|| steady_seconds / steady_iterations as f64),
    })
}

/// Where one iteration's prior styles come from: drawn from the run seed, the iteration and
/// their purpose, so a resumed run draws the same ones.
struct Styles {
    seed: u64,
    iteration: u64,
    batch: usize,
    dim: usize,
}

impl Styles {
    fn draw(&self, purpose: u64, device: &Device) -> Tensor<2> {
        styles(
            self.seed,
            purpose,
            self.iteration,
            self.batch,
            self.dim,
            device,
        )
    }
}

/// One training iteration: a discriminator step, then a generator step with fresh styles (as
/// the official trainer). Returns the updated networks and every logged loss term, read back
/// from the device at once (each separate read would sync it).
///
/// # Shapes
/// `x_a`, `x_b`: `[batch, channels, h, w]` in [-1, 1]; the masks of `own` (see `OwnInputs`;
/// its second style is drawn here): as `x_a`.
fn iterate(
    (gens, dis): (GenPair, DisPair),
    (adam_gen, adam_dis): (&mut Adam, &mut Adam),
    (x_a, x_b, own): (Tensor<4>, Tensor<4>, OwnInputs),
    lr: f64,
    styles: &Styles,
    weights: LossWeights,
) -> (GenPair, DisPair, Vec<(&'static str, f64)>) {
    let device = x_a.device();
    // Discriminator step, with its own styles.
    let nets = networks(&gens, &dis);
    let x_ba = gens
        .a
        .decode_style(gens.b.encode_content(x_b.clone()), styles.draw(1, &device))
        .detach();
    let x_ab = gens
        .b
        .decode_style(gens.a.encode_content(x_a.clone()), styles.draw(2, &device))
        .detach();
    let d = dis_losses(&nets, x_a.clone(), x_b.clone(), x_ba, x_ab, weights);
    let grads = d.total.backward();
    let dis_terms = [
        ("dis_a", d.dis_a.clone()),
        ("dis_b", d.dis_b.clone()),
        ("dis_total", d.total.clone()),
    ];
    let dis = adam_dis.step(lr, dis, &grads);

    // Generator step, with fresh styles.
    let nets = networks(&gens, &dis);
    let (s_a, s_b) = (styles.draw(3, &device), styles.draw(4, &device));
    let own = OwnInputs {
        s_b_second: (weights.ms_w > 0.0).then(|| styles.draw(5, &device)),
        ..own
    };
    let g = gen_losses(&nets, x_a, x_b, s_a, s_b, own, weights);
    let grads = g.total.backward();
    let mut terms: Vec<(&'static str, Tensor<1>)> = g.terms.clone();
    terms.push(("gen_total", g.total.clone()));
    terms.extend(dis_terms);
    let (names, tensors): (Vec<_>, Vec<_>) = terms.into_iter().unzip();
    let numbers = to_vec(Tensor::cat(tensors, 0).detach());
    let values = names
        .into_iter()
        .zip(numbers.into_iter().map(f64::from))
        .collect();
    drop(g);
    let gens = adam_gen.step(lr, gens, &grads);
    (gens, dis, values)
}

/// Maps a write error to the file it concerns.
fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + use<> {
    let path = path.to_path_buf();
    move |source| TrainError::Write { path, source }
}

/// Folder of a run's kept generators (`--history-every`).
pub const HISTORY_DIR: &str = "history";

/// Writes the generators of `iteration` to the run's history (f16, atomically): their moving
/// average where the run keeps one. A file already there (a resumed run passing the same
/// iteration again) is replaced: the run recomputes the same weights from the same checkpoint.
fn save_history(
    run_dir: &Path,
    iteration: u64,
    gens: &GenPair,
    ema: Option<&GenEma>,
) -> Result<(), TrainError> {
    let dir = run_dir.join(HISTORY_DIR);
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let bytes = match ema {
        Some(ema) => native_bytes(&ema.weights, Precision::F16),
        None => native_bytes(&gens_dict(gens), Precision::F16),
    };
    let path = dir.join(checkpoints::gen_name(iteration));
    write_atomic(&path, &bytes, true).map_err(write_err(&path))
}

/// The generators a run kept in its history, oldest first: (iteration, file).
pub fn history(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    checkpoints::numbered_files(&run_dir.join(HISTORY_DIR), "gen_", ".safetensors")
}

/// The networks borrowed for one loss computation.
fn networks<'a>(gens: &'a GenPair, dis: &'a DisPair) -> Networks<'a> {
    Networks {
        gen_a: &gens.a,
        gen_b: &gens.b,
        dis_a: &dis.a,
        dis_b: &dis.b,
    }
}

fn value(row: &LogRow, name: &str) -> f64 {
    row.values
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// The run's `losses.csv`, opened for appending, with the header its rows are written under.
struct LossLog {
    path: PathBuf,
    file: std::fs::File,
    /// The file's first line; `None` while the file is empty.
    header: Option<String>,
}

impl LossLog {
    /// Opens the CSV log, keeping only whole rows up to `start` when resuming (a process killed
    /// while writing may have left part of a row).
    fn open(path: &Path, start: u64) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let fields = |line: &str| line.split(',').count();
        let header = text.lines().next().filter(|h| h.starts_with("iteration,"));
        let kept: Vec<String> = match header {
            None => Vec::new(),
            Some(header) => std::iter::once(header.to_string())
                .chain(
                    text.lines()
                        .skip(1)
                        .filter(|line| {
                            fields(line) == fields(header)
                                && line
                                    .split(',')
                                    .next()
                                    .and_then(|n| n.parse::<u64>().ok())
                                    .is_some_and(|n| n <= start)
                        })
                        .map(str::to_string),
                )
                .collect(),
        };
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(path, text.as_bytes(), true)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::fs::OpenOptions::new().append(true).open(path)?,
            header: header.map(str::to_string),
        })
    }

    /// Appends a row (with the header first in an empty file), each line in one write so a
    /// kill leaves whole lines or none. When a resumed run logs other terms than the file's
    /// header names (a loss weight switched on or off), the file is first rewritten under the
    /// new header, earlier rows keeping their values by column name and leaving new columns
    /// empty.
    fn append(&mut self, row: &LogRow) -> std::io::Result<()> {
        let names: Vec<&str> = row.values.iter().map(|(n, _)| *n).collect();
        let header = format!("iteration,lr,{}", names.join(","));
        let mut text = String::new();
        match &self.header {
            None => {
                text.push_str(&header);
                text.push('\n');
            }
            Some(current) if *current != header => {
                let existing = std::fs::read_to_string(&self.path)?;
                write_atomic(&self.path, relabel_log(&existing, &header).as_bytes(), true)?;
                self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
            }
            Some(_) => {}
        }
        self.header = Some(header);
        let values: Vec<String> = row.values.iter().map(|(_, v)| format!("{v:.6}")).collect();
        text.push_str(&format!(
            "{},{:e},{}\n",
            row.iteration,
            row.lr,
            values.join(",")
        ));
        self.file.write_all(text.as_bytes())
    }
}

/// A loss log's rows under `header`, each value moved to its column's new place.
fn relabel_log(text: &str, header: &str) -> String {
    let mut lines = text.lines();
    let old: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let new: Vec<&str> = header.split(',').collect();
    let mut out = format!("{header}\n");
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let moved: Vec<&str> = new
            .iter()
            .map(|name| {
                old.iter()
                    .position(|o| o == name)
                    .and_then(|i| fields.get(i).copied())
                    .unwrap_or("")
            })
            .collect();
        out.push_str(&moved.join(","));
        out.push('\n');
    }
    out
}
