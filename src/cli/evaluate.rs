//! `stylespace evaluate`: the bundled-model numbers of one model, or of every generator a
//! training run kept (`--history`), with a chart of them against iterations.

use image::RgbImage;
use stylespace::train::evaluate::{History, Report, Tally, fault_map};

use stylespace::io::atomic::write_atomic;

use super::infer::inputs;
use super::*;

/// What every model is measured on.
struct Workload {
    source: Domain,
    files: Vec<PathBuf>,
    reference_dir: Option<PathBuf>,
    reference_files: Option<Vec<PathBuf>>,
    /// The real target-domain versions of the inputs (same file names), for the silhouette
    /// outside.
    truth_dir: Option<PathBuf>,
    num_style: usize,
    seed: u64,
}

impl Workload {
    fn new(args: &EvaluateArgs) -> Result<Self> {
        let source = if args.b2a { Domain::B } else { Domain::A };
        let files = inputs(&args.input_dir)?;
        let reference_dir = match &args.reference_dir {
            Some(dir) => Some(dir.clone()),
            None => other_domain_folder(&args.input_dir, source.other()),
        };
        // Listed first, so a wrong folder fails before any translating.
        let reference_files = reference_dir.as_deref().map(inputs).transpose()?;
        let truth_dir = match &args.truth_dir {
            Some(dir) => Some(dir.clone()),
            None => truth_folder(&args.input_dir),
        };
        if let Some(dir) = &truth_dir {
            // Every input needs its truth: checked before any translating too.
            for path in &files {
                let truth = truth_path(dir, path);
                if !truth.is_file() {
                    bail!(
                        "{} has no real version of {} (expected {}); pass --truth-dir to another \
                         folder",
                        dir.display(),
                        path.display(),
                        truth.display()
                    );
                }
            }
        }
        Ok(Workload {
            source,
            files,
            reference_dir,
            reference_files,
            truth_dir,
            num_style: args.num_style.max(2),
            seed: args.seed,
        })
    }

    /// What the numbers depend on besides the model: rows measured otherwise don't compare.
    fn settings(&self, input_dir: &Path) -> String {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // Tables from before truths existed stay valid where none is used.
        let truth = self
            .truth_dir
            .as_deref()
            .map(|d| format!("; truth_dir={}", absolute(d).display()))
            .unwrap_or_default();
        format!(
            "input_dir={}; reference_dir={}; images={}; styles={}; seed={}; direction={}{truth}",
            absolute(input_dir).display(),
            self.reference_dir
                .as_deref()
                .map(|d| absolute(d).display().to_string())
                .unwrap_or_else(|| "none".into()),
            self.files.len(),
            self.num_style,
            self.seed,
            if self.source == Domain::A {
                "a2b"
            } else {
                "b2a"
            }
        )
    }

    /// Translates every input with the same styles and tallies the numbers; also returns the
    /// first `grid_rows` rows of tiles (input, then one per style).
    /// With `faults`, the tiles are [`fault_map`]s.
    fn measure(
        &self,
        model: &mut Model,
        grid_rows: usize,
        faults: bool,
    ) -> Result<(Report, Vec<Vec<RgbImage>>)> {
        let (source, target) = (self.source, self.source.other());
        let styles = sample_styles(self.num_style, model.style_dim(), self.seed);
        let mut tally = Tally::default();
        let mut rows: Vec<Vec<RgbImage>> = Vec::new();
        for path in &self.files {
            let img = load_image(path)?;
            let prepared = model.prepare(&img, source, &path.display().to_string())?;
            let content = model.content(source, &prepared);
            let outputs = model.translate(target, &content, &styles)?;
            let (w, h) = outputs[0].dimensions();
            let input = prepared.to_rgb();
            let truth = match &self.truth_dir {
                Some(dir) => {
                    let path = truth_path(dir, path);
                    let img = load_image(&path)?;
                    Some(
                        model
                            .prepare(&img, target, &path.display().to_string())?
                            .to_rgb(),
                    )
                }
                None => None,
            };
            tally.add(&input, &outputs, truth.as_ref());
            if rows.len() < grid_rows {
                let mut row = vec![image::imageops::crop_imm(&input, 0, 0, w, h).to_image()];
                if faults {
                    row.extend(outputs.iter().map(|o| fault_map(&input, o, truth.as_ref())));
                } else {
                    row.extend(outputs);
                }
                rows.push(row);
            }
        }
        for path in self.reference_files.iter().flatten() {
            // Real images of the target domain at the size the model works at.
            let img = load_image(path)?;
            let prepared = model.prepare(&img, target, &path.display().to_string())?;
            tally.add_reference(&prepared.to_rgb());
        }
        Ok((tally.report(), rows))
    }
}

/// Refuses, before any measuring, to write over an image the user did not allow to replace.
fn check_outputs(args: &EvaluateArgs) -> Result<()> {
    for path in [&args.grid, &args.plot].into_iter().flatten() {
        if path.exists() && !args.overwrite {
            bail!(
                "{} already exists; pass --overwrite to replace it",
                path.display()
            );
        }
    }
    Ok(())
}

pub(super) fn evaluate(args: EvaluateArgs) -> Result<()> {
    check_outputs(&args)?;
    if args.history {
        return evaluate_history(&args);
    }
    let work = Workload::new(&args)?;
    let mut model = args.model.load()?;
    let (report, rows) = work.measure(&mut model, args.grid_rows, args.faults)?;
    if let Some(path) = &args.grid {
        save_grid(path, &rows, args.overwrite)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    print_report(&report, work.reference_dir.as_deref());
    Ok(())
}

fn save_grid(path: &Path, rows: &[Vec<RgbImage>], overwrite: bool) -> Result<()> {
    let Some(first) = rows.first().and_then(|r| r.first()) else {
        bail!("no images to put in the grid");
    };
    let (w, h) = first.dimensions();
    let cols = rows[0].len() as u32;
    let mut grid =
        RgbImage::from_pixel(cols * w, rows.len() as u32 * h, image::Rgb([255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            image::imageops::replace(&mut grid, tile, c as i64 * w as i64, r as i64 * h as i64);
        }
    }
    save_png(path, &grid, overwrite).map_err(|e| anyhow!("{e} (pass --overwrite to replace it)"))
}

fn print_report(report: &Report, reference_dir: Option<&Path>) {
    println!("{} images x {} styles", report.images, report.styles);
    println!(
        "line pixels of the input that stay dark: {:.1} %",
        100.0 * report.line_pixels_kept_dark
    );
    match (report.reference_colourfulness, report.colourfulness_ratio) {
        (Some(real), Some(ratio)) => println!(
            "colourfulness (mean saturation inside the drawings): {:.3}, {ratio:.2}x the {real:.3} of {}",
            report.colourfulness,
            reference_dir.unwrap_or(Path::new("?")).display()
        ),
        _ => println!(
            "colourfulness (mean saturation inside the drawings): {:.3} (no --reference-dir to compare with)",
            report.colourfulness
        ),
    }
    println!(
        "diversity (mean per-pixel std across styles): {:.4}",
        report.diversity
    );
    println!(
        "colour changed outside the drawings: {:.2} % of those pixels",
        100.0 * report.outside_changed
    );
    if let Some(changed) = report.outside_changed_silhouette {
        println!(
            "colour changed outside the real colourings' silhouettes: {:.2} % of those pixels",
            100.0 * changed
        );
    }
    println!(
        "lightness spread across styles, inside the drawings: {:.4}",
        report.lightness_spread
    );
}

/// Every generator a run kept, oldest first: its history (`train --history-every`) and its
/// newest complete checkpoint.
fn run_generators(run: &Path) -> Vec<(u64, PathBuf)> {
    use stylespace::checkpoint::run::{CHECKPOINT_DIR, generator_file, latest_complete};
    let mut found = stylespace::train::trainer::history(run);
    let checkpoints = run.join(CHECKPOINT_DIR);
    if let Some(newest) = latest_complete(&checkpoints)
        && !found.iter().any(|(it, _)| *it == newest.iteration)
    {
        found.push((newest.iteration, checkpoints.join(generator_file(&newest))));
        found.sort_by_key(|f| f.0);
    }
    found
}

fn evaluate_history(args: &EvaluateArgs) -> Result<()> {
    let Some(run) = &args.model.model else {
        bail!("--history evaluates a training run: pass its folder with --model RUN");
    };
    let config = run.join(checkpoint::NATIVE_CONFIG);
    if !config.is_file() {
        bail!(
            "{} is not a training run folder (it has no {})",
            run.display(),
            checkpoint::NATIVE_CONFIG
        );
    }
    let generators = run_generators(run);
    if generators.is_empty() {
        bail!(
            "{} holds no generators to evaluate (train with --history-every N to keep them)",
            run.display()
        );
    }
    let work = Workload::new(args)?;
    let settings = work.settings(&args.input_dir);
    let csv_path = args
        .csv
        .clone()
        .unwrap_or_else(|| run.join("evaluation.csv"));
    let mut table = open_table(&csv_path, settings)?;
    let compute = select_device(args.model.device)?;
    if let Some(reason) = &compute.fallback_reason {
        eprintln!("note: {reason}");
    }
    let todo: Vec<&(u64, PathBuf)> = generators
        .iter()
        .filter(|(it, _)| table.get(*it).is_none())
        .collect();
    eprintln!(
        "{} generators in {}, {} already in {}",
        generators.len(),
        run.display(),
        generators.len() - todo.len(),
        csv_path.display()
    );
    for (iteration, path) in todo {
        let source = ModelSource::Official {
            config: config.clone(),
            checkpoint: path.clone(),
        };
        let mut model = source.load(&compute.device)?;
        let (report, _) = work.measure(&mut model, 0, false)?;
        table.insert(*iteration, report);
        // Saved after each generator: an interrupted evaluation keeps what it measured.
        write_atomic(&csv_path, table.to_csv().as_bytes(), true)
            .with_context(|| format!("cannot write {}", csv_path.display()))?;
    }
    if let Some(plot) = &args.plot {
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| run.display().to_string());
        let first = &table.rows[0].1;
        let title = format!(
            "{name}: {} test images x {} styles, {} generators",
            first.images,
            first.styles,
            table.rows.len()
        );
        // Panels of numbers this table has (no silhouettes without truths).
        let mut metrics = stylespace::train::plot::bundled_model_metrics();
        metrics.retain(|m| table.rows.iter().any(|(_, r)| (m.value)(r).is_some()));
        let chart = stylespace::train::plot::chart(&title, &table.rows, &metrics);
        save_png(plot, &chart, args.overwrite)
            .map_err(|e| anyhow!("{e} (pass --overwrite to replace it)"))?;
    }
    if args.json {
        let rows: Vec<serde_json::Value> = table
            .rows
            .iter()
            .map(|(it, r)| serde_json::json!({"iteration": it, "report": r}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    print_table(&table);
    Ok(())
}

/// The evaluation table at `path`, or a new one: rows already measured with the same settings
/// are kept; a file that is not such a table, or one measured otherwise, is never overwritten.
fn open_table(path: &Path, settings: String) -> Result<History> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let table = History::from_csv(&text).map_err(|e| {
                anyhow!(
                    "{} is not an evaluation table ({e}); pass --csv elsewhere or remove it",
                    path.display()
                )
            })?;
            if table.settings != settings {
                bail!(
                    "{} was measured with other settings ({}); pass --csv elsewhere or remove it",
                    path.display(),
                    table.settings
                );
            }
            Ok(table)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History {
            settings,
            rows: Vec::new(),
        }),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// One line per measured iteration.
fn print_table(table: &History) {
    let silhouettes = table
        .rows
        .iter()
        .any(|r| r.1.outside_changed_silhouette.is_some());
    println!(
        "iteration  lines kept  colour/real  diversity  outside changed  lightness spread{}",
        if silhouettes {
            "  outside silhouettes"
        } else {
            ""
        }
    );
    for (iteration, r) in &table.rows {
        let ratio = r
            .colourfulness_ratio
            .map(|v| format!("{v:.2}x"))
            .unwrap_or_else(|| "-".into());
        let silhouette = match r.outside_changed_silhouette {
            Some(v) if silhouettes => format!("  {:>17.2} %", 100.0 * v),
            None if silhouettes => format!("  {:>19}", "-"),
            _ => String::new(),
        };
        println!(
            "{iteration:>9}  {:>9.1} %  {ratio:>11}  {:>9.4}  {:>13.2} %  {:>16.4}{silhouette}",
            100.0 * r.line_pixels_kept_dark,
            r.diversity,
            100.0 * r.outside_changed,
            r.lightness_spread
        );
    }
}

/// The real version of `input` in the truth folder `dir`: the same file name.
fn truth_path(dir: &Path, input: &Path) -> PathBuf {
    dir.join(input.file_name().unwrap_or_default())
}

/// `testA-truth` for `testA` when it exists: the real target-domain versions of the inputs, as
/// `stylespace dataset openmoji` writes them.
fn truth_folder(input_dir: &Path) -> Option<PathBuf> {
    stylespace::train::data::truth_folder(input_dir).filter(|sibling| sibling.is_dir())
}

/// `testB` for `testA` (and the like) when it exists: real images of `target` beside the inputs.
fn other_domain_folder(input_dir: &Path, target: Domain) -> Option<PathBuf> {
    let name = input_dir.file_name()?.to_str()?;
    let stem = name.strip_suffix('A').or_else(|| name.strip_suffix('B'))?;
    let letter = match target {
        Domain::A => 'A',
        Domain::B => 'B',
    };
    let sibling = input_dir.with_file_name(format!("{stem}{letter}"));
    (sibling != input_dir && sibling.is_dir()).then_some(sibling)
}
