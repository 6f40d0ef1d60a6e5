//! Training data: the official layouts and transform, loaded on worker threads.
//!
//! Layout: `ROOT/{trainA,trainB,testA,testB}` (recursive, sorted), or list files naming images
//! relative to a folder. Transform, in the official order: random horizontal flip, shorter side
//! resized to `new_size`, random crop, [-1, 1]. Everything random is derived from (seed, domain,
//! iteration), so a resumed run sees exactly the batches an uninterrupted one would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use image::GenericImageView;
use image::imageops::FilterType;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::Domain;
use crate::io::image::{load_image, resized_size};

/// File extensions the official loader accepts (either case), plus WebP.
pub const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "ppm", "bmp", "webp"];

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no images")]
    Empty(PathBuf),
    #[error("all {0} images of domain {1} failed to load")]
    AllUnreadable(usize, Domain),
    #[error("keep_region: silhouette needs {truth}, the real version of {input}: {reason}")]
    Truth {
        input: PathBuf,
        truth: PathBuf,
        reason: String,
    },
}

/// Where the real other-domain versions of a split's images are: `trainA-truth` beside
/// `trainA` (as `stylespace dataset openmoji` writes them); `None` for a path without a name.
pub fn truth_folder(folder: &Path) -> Option<PathBuf> {
    let name = folder.file_name()?.to_str()?;
    Some(folder.with_file_name(format!("{name}-truth")))
}

/// The real domain-b versions of domain-a training images (`keep_region: silhouette`): for each
/// of `files` under `folder`, the same relative path under the sibling folder `<folder>-truth`,
/// checked to exist at the same pixel size (so that one flip and crop fit both).
pub fn truth_files(folder: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>, DataError> {
    let Some(truth_folder) = truth_folder(folder) else {
        return Err(DataError::Truth {
            input: folder.to_path_buf(),
            truth: folder.to_path_buf(),
            reason: "the image folder has no name to put \"-truth\" after".into(),
        });
    };
    files
        .iter()
        .map(|input| {
            let relative = input.strip_prefix(folder).unwrap_or(input);
            let truth = truth_folder.join(relative);
            let fail = |reason: String| DataError::Truth {
                input: input.clone(),
                truth: truth.clone(),
                reason,
            };
            let size = |path: &Path| image::image_dimensions(path).map_err(|e| fail(e.to_string()));
            let (want, got) = (size(input)?, size(&truth)?);
            if want != got {
                return Err(fail(format!(
                    "it is {}x{} px, the image {}x{}",
                    got.0, got.1, want.0, want.1
                )));
            }
            Ok(truth)
        })
        .collect()
}

/// Every image under `root`, recursively, sorted by path.
pub fn list_images(root: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| DataError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(DataError::Empty(root.to_path_buf()));
    }
    Ok(out)
}

/// Images named by a list file (one path per line, relative to `folder`).
pub fn list_file(folder: &Path, list: &Path) -> Result<Vec<PathBuf>, DataError> {
    let text = std::fs::read_to_string(list).map_err(|source| DataError::Read {
        path: list.to_path_buf(),
        source,
    })?;
    let out: Vec<PathBuf> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| folder.join(l))
        .collect();
    if out.is_empty() {
        return Err(DataError::Empty(list.to_path_buf()));
    }
    Ok(out)
}

/// The training transform's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Transform {
    pub new_size: usize,
    pub crop_h: usize,
    pub crop_w: usize,
    pub channels: usize,
    /// Random flip and crop (training); off for test images (centre crop).
    pub random: bool,
}

/// Loads one image and applies the transform: `[channels, crop_h, crop_w]` in [-1, 1].
pub fn load_sample(path: &Path, t: Transform, rng: &mut StdRng) -> Result<Vec<f32>, String> {
    let [sample] = load_samples([path], t, rng)?;
    Ok(sample)
}

/// [`load_sample`] of images of one size with one draw of the flip and crop (an image and its
/// truth); the draws come in the order of a single image's.
fn load_samples<const N: usize>(
    paths: [&Path; N],
    t: Transform,
    rng: &mut StdRng,
) -> Result<[Vec<f32>; N], String> {
    let mut images = Vec::with_capacity(N);
    for path in paths {
        let img = load_image(path).map_err(|e| e.to_string())?;
        if let Some(first) = images.first().map(|f: &image::DynamicImage| f.dimensions())
            && img.dimensions() != first
        {
            return Err(format!(
                "{} is {}x{} px, {} {}x{}",
                path.display(),
                img.width(),
                img.height(),
                paths[0].display(),
                first.0,
                first.1
            ));
        }
        images.push(img);
    }
    let (width, height) = images[0].dimensions();
    let flip = t.random && rng.random::<bool>();
    let (rw, rh) = resized_size(width, height, t.new_size);
    if rw < t.crop_w || rh < t.crop_h {
        return Err(format!(
            "{}: resized to {rw}x{rh}, smaller than the {}x{} crop",
            paths[0].display(),
            t.crop_w,
            t.crop_h
        ));
    }
    let (x0, y0) = if t.random {
        (
            rng.random_range(0..=rw - t.crop_w),
            rng.random_range(0..=rh - t.crop_h),
        )
    } else {
        ((rw - t.crop_w) / 2, (rh - t.crop_h) / 2)
    };
    let samples: Vec<Vec<f32>> = images
        .into_iter()
        .map(|img| {
            let img = if flip { img.fliph() } else { img };
            let img = if (rw, rh) == (width as usize, height as usize) {
                img
            } else {
                img.resize_exact(rw as u32, rh as u32, FilterType::Triangle)
            };
            let rgb = img
                .crop_imm(x0 as u32, y0 as u32, t.crop_w as u32, t.crop_h as u32)
                .to_rgb32f();
            to_chw(&rgb, t.channels)
        })
        .collect();
    Ok(samples.try_into().expect("one sample per path"))
}

/// `[channels, h, w]` in [-1, 1] (1 channel: luma).
fn to_chw(rgb: &image::Rgb32FImage, channels: usize) -> Vec<f32> {
    let plane = (rgb.width() * rgb.height()) as usize;
    let mut out = vec![0f32; channels * plane];
    for (i, px) in rgb.pixels().enumerate() {
        let [r, g, b] = px.0;
        if channels == 1 {
            out[i] = (r * 0.299 + g * 0.587 + b * 0.114 - 0.5) / 0.5;
        } else {
            out[i] = (r - 0.5) / 0.5;
            out[plane + i] = (g - 0.5) / 0.5;
            out[2 * plane + i] = (b - 0.5) / 0.5;
        }
    }
    out
}

fn mix(seed: u64, parts: &[u64]) -> u64 {
    // SplitMix64 over the parts: independent streams per (seed, domain, epoch/iteration, slot).
    let mut z = seed;
    for &p in parts {
        z = z
            .wrapping_add(p.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// A deterministic RNG for one purpose, derived from the run seed.
pub fn rng_for(seed: u64, parts: &[u64]) -> StdRng {
    StdRng::seed_from_u64(mix(seed, parts))
}

/// Which file feeds batch slot `slot` of iteration `iteration`: epochs are independent seeded
/// shuffles; the last incomplete batch of an epoch is dropped (`drop_last`).
fn file_index(
    n: usize,
    batch: usize,
    seed: u64,
    domain: u64,
    iteration: u64,
    slot: usize,
) -> usize {
    let per_epoch = (n / batch).max(1) as u64;
    let epoch = iteration / per_epoch;
    let within = (iteration % per_epoch) as usize * batch + slot;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(seed, &[domain, 0xE90C, epoch]));
    order[within % n]
}

/// A batch of both domains for one iteration: `[batch, c, h, w]` values each.
#[derive(Debug, Clone)]
pub struct Batch {
    pub iteration: u64,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    /// The real versions of `a`'s images (same flips and crops), when the spec has them.
    pub a_truth: Option<Vec<f32>>,
}

/// Produces batches on worker threads, in iteration order, a few iterations ahead.
pub struct Loader {
    receiver: Receiver<(u64, Result<Batch, DataError>)>,
    pending: BTreeMap<u64, Result<Batch, DataError>>,
    next: u64,
    /// Images skipped because they could not be read.
    pub skipped: Arc<AtomicU64>,
    _workers: Vec<std::thread::JoinHandle<()>>,
}

/// What a loader reads.
#[derive(Debug, Clone)]
pub struct LoaderSpec {
    pub files_a: Vec<PathBuf>,
    pub files_b: Vec<PathBuf>,
    /// One per file of `files_a` (see [`truth_files`]): loaded with the same transform.
    pub truths_a: Option<Vec<PathBuf>>,
    pub transform_a: Transform,
    pub transform_b: Transform,
    pub batch: usize,
    pub seed: u64,
    pub workers: usize,
}

impl Loader {
    /// Starts workers producing iterations `start..`.
    pub fn start(spec: LoaderSpec, start: u64) -> Self {
        let workers = spec.workers.max(1);
        let (sender, receiver) = sync_channel(workers * 2);
        let skipped = Arc::new(AtomicU64::new(0));
        let spec = Arc::new(spec);
        let handles = (0..workers)
            .map(|k| {
                let spec = spec.clone();
                let sender: SyncSender<_> = sender.clone();
                let skipped = skipped.clone();
                std::thread::spawn(move || {
                    let mut iteration = start + k as u64;
                    loop {
                        let batch = make_batch(&spec, iteration, &skipped);
                        if sender.send((iteration, batch)).is_err() {
                            return; // the trainer is gone
                        }
                        iteration += workers as u64;
                    }
                })
            })
            .collect();
        Self {
            receiver,
            pending: BTreeMap::new(),
            next: start,
            skipped,
            _workers: handles,
        }
    }

    /// The next iteration's batch (blocks until a worker has it).
    pub fn next_batch(&mut self) -> Result<Batch, DataError> {
        loop {
            if let Some(batch) = self.pending.remove(&self.next) {
                self.next += 1;
                return batch;
            }
            let (iteration, batch) = self
                .receiver
                .recv()
                .expect("loader workers run until the loader is dropped");
            self.pending.insert(iteration, batch);
        }
    }
}

fn make_batch(spec: &LoaderSpec, iteration: u64, skipped: &AtomicU64) -> Result<Batch, DataError> {
    let domain_batch = |files: &[PathBuf], truths: Option<&[PathBuf]>, t: Transform, domain| {
        let id = domain as u64;
        let size = spec.batch * t.channels * t.crop_h * t.crop_w;
        let mut out = Vec::with_capacity(size);
        let mut out_truth = truths.map(|_| Vec::with_capacity(size));
        for slot in 0..spec.batch {
            let mut index = file_index(files.len(), spec.batch, spec.seed, id, iteration, slot);
            let mut rng = rng_for(spec.seed, &[id, 0xA06, iteration, slot as u64]);
            let mut attempts = 0;
            loop {
                // A truth takes its image's flip and crop.
                let loaded = match truths {
                    Some(truths) => load_samples([&files[index], &truths[index]], t, &mut rng)
                        .map(|[values, truth]| (values, Some(truth))),
                    None => load_sample(&files[index], t, &mut rng).map(|values| (values, None)),
                };
                match loaded {
                    Ok((values, truth)) => {
                        out.extend(values);
                        if let (Some(all), Some(truth)) = (&mut out_truth, truth) {
                            all.extend(truth);
                        }
                        break;
                    }
                    Err(e) => {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        log::warn!("skipping unreadable training image: {e}");
                        attempts += 1;
                        if attempts >= files.len() {
                            return Err(DataError::AllUnreadable(files.len(), domain));
                        }
                        index = (index + 1) % files.len();
                    }
                }
            }
        }
        Ok((out, out_truth))
    };
    let (a, a_truth) = domain_batch(
        &spec.files_a,
        spec.truths_a.as_deref(),
        spec.transform_a,
        Domain::A,
    )?;
    let (b, _) = domain_batch(&spec.files_b, None, spec.transform_b, Domain::B)?;
    Ok(Batch {
        iteration,
        a,
        b,
        a_truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training's random flip and crop, to 16 px.
    const RANDOM_16: Transform = Transform {
        new_size: 16,
        crop_h: 16,
        crop_w: 16,
        channels: 3,
        random: true,
    };

    fn write_images(dir: &Path, n: usize) {
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_pixel(40, 30, image::Rgb([i as u8 * 20, 0, 0]));
            let sub = if i % 2 == 0 {
                dir.to_path_buf()
            } else {
                dir.join("nested")
            };
            img.save(sub.join(format!("{i:02}.png"))).unwrap();
        }
    }

    #[test]
    fn batches_are_deterministic_from_any_start_and_skip_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        write_images(&tmp.path().join("a"), 5);
        write_images(&tmp.path().join("b"), 3);
        std::fs::write(tmp.path().join("b").join("broken.png"), b"not a png").unwrap();
        let t = RANDOM_16;
        let spec = LoaderSpec {
            files_a: list_images(&tmp.path().join("a")).unwrap(),
            files_b: list_images(&tmp.path().join("b")).unwrap(),
            truths_a: None,
            transform_a: t,
            transform_b: t,
            batch: 2,
            seed: 7,
            workers: 3,
        };
        assert_eq!(spec.files_a.len(), 5);
        assert_eq!(spec.files_b.len(), 4);
        let mut from_zero = Loader::start(spec.clone(), 0);
        let first: Vec<Batch> = (0..6).map(|_| from_zero.next_batch().unwrap()).collect();
        let mut from_three = Loader::start(spec, 3);
        for expected in &first[3..] {
            let batch = from_three.next_batch().unwrap();
            assert_eq!(batch.iteration, expected.iteration);
            assert_eq!(batch.a, expected.a);
            assert_eq!(batch.b, expected.b);
        }
        assert_eq!(first[0].a.len(), 2 * 3 * 16 * 16);
        assert!(
            first
                .iter()
                .all(|b| b.a.iter().all(|v| (-1.0..=1.0).contains(v)))
        );
        assert!(
            from_zero.skipped.load(Ordering::Relaxed) > 0,
            "the broken file was met and skipped"
        );
    }

    /// A 40x30 image whose red channel rises along x and green along y, so any flip or crop
    /// shows; blue says which version it is.
    fn gradient(blue: u8) -> image::RgbImage {
        image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, blue]))
    }

    #[test]
    fn truths_take_their_images_flips_and_crops_and_must_be_there() {
        let tmp = tempfile::tempdir().unwrap();
        let (folder, truth_folder) = (tmp.path().join("trainA"), tmp.path().join("trainA-truth"));
        for dir in [&folder, &truth_folder] {
            std::fs::create_dir_all(dir.join("nested")).unwrap();
        }
        for name in ["0.png", "nested/1.png", "2.png"] {
            gradient(0).save(folder.join(name)).unwrap();
            gradient(250).save(truth_folder.join(name)).unwrap();
        }
        let files_a = list_images(&folder).unwrap();
        let truths = truth_files(&folder, &files_a).unwrap();
        assert_eq!(truths[2], truth_folder.join("nested/1.png"));
        let t = RANDOM_16;
        let spec = LoaderSpec {
            files_b: files_a.clone(),
            files_a,
            truths_a: Some(truths),
            transform_a: t,
            transform_b: t,
            batch: 2,
            seed: 3,
            workers: 1,
        };
        let plane = 16 * 16;
        let mut loader = Loader::start(spec.clone(), 0);
        let mut first_columns = std::collections::HashSet::new();
        for _ in 0..12 {
            let batch = loader.next_batch().unwrap();
            let truth = batch.a_truth.expect("truths with the images");
            assert_eq!(truth.len(), batch.a.len());
            for k in 0..2 {
                let image = &batch.a[k * 3 * plane..(k + 1) * 3 * plane];
                let real = &truth[k * 3 * plane..(k + 1) * 3 * plane];
                // Red and green (where in the image) agree; blue (which version) does not.
                assert_eq!(image[..2 * plane], real[..2 * plane]);
                assert!(image[2 * plane..].iter().all(|v| *v < -0.9));
                assert!(real[2 * plane..].iter().all(|v| *v > 0.9));
                first_columns.insert((image[0] * 1000.0) as i32);
            }
        }
        assert!(first_columns.len() > 2, "the crops and flips vary");

        // A missing truth, or one of another size: the error names both files.
        std::fs::remove_file(truth_folder.join("2.png")).unwrap();
        let err = truth_files(&folder, &spec.files_a).unwrap_err().to_string();
        assert!(
            err.contains("trainA-truth") && err.contains("2.png"),
            "{err}"
        );
        image::RgbImage::new(8, 8)
            .save(truth_folder.join("2.png"))
            .unwrap();
        let err = truth_files(&folder, &spec.files_a).unwrap_err().to_string();
        assert!(err.contains("8x8") && err.contains("40x30"), "{err}");
    }
}
