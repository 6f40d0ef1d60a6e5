//! Builds an unpaired line-art -> colour dataset from the OpenMoji package (CC BY-SA 4.0):
//! domain a = black outline glyphs, domain b = colour glyphs, rasterised with resvg on white.
//! The two domains use disjoint glyph sets, so no pair leaks into training.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::io::atomic::write_atomic;
use crate::io::image::png_bytes;

/// Version of the package the builder was written against (`scripts/fetch-openmoji`).
pub const PACKAGE: &str = "openmoji@17.0.0";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}")]
    Package(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already exists; choose another --out")]
    Exists(PathBuf),
}

/// How many glyphs went where.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DatasetSummary {
    pub train_a: usize,
    pub train_b: usize,
    pub test_a: usize,
    pub test_b: usize,
    pub excluded: usize,
    pub failed: usize,
}

#[derive(serde::Deserialize)]
struct Entry {
    hexcode: String,
    group: String,
    #[serde(default)]
    skintone: serde_json::Value,
}

/// Glyphs to use: no skin-tone variants, flags or components.
fn selected(package: &Path) -> Result<(Vec<String>, usize), DatasetError> {
    let path = package.join("data/openmoji.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        DatasetError::Package(format!(
            "{}: {e} (pass the unpacked {PACKAGE} package folder; scripts/fetch-openmoji gets it)",
            path.display()
        ))
    })?;
    let entries: Vec<Entry> = serde_json::from_str(&text)
        .map_err(|e| DatasetError::Package(format!("{}: {e}", path.display())))?;
    let total = entries.len();
    let mut keep: Vec<String> = entries
        .into_iter()
        .filter(|e| {
            let toned = match &e.skintone {
                serde_json::Value::String(s) => !s.is_empty(),
                serde_json::Value::Null => false,
                other => !other.to_string().trim_matches('"').is_empty(),
            };
            !toned && e.group != "flags" && e.group != "component"
        })
        .map(|e| e.hexcode)
        .filter(|h| {
            package.join(format!("black/svg/{h}.svg")).is_file()
                && package.join(format!("color/svg/{h}.svg")).is_file()
        })
        .collect();
    keep.sort();
    keep.dedup();
    let excluded = total - keep.len();
    Ok((keep, excluded))
}

/// Renders an SVG file to a `size` x `size` RGB image on white.
pub fn rasterise(svg: &Path, size: u32) -> Result<image::RgbImage, String> {
    let data = std::fs::read(svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    let tree = resvg::usvg::Tree::from_data(&data, &resvg::usvg::Options::default())
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size, size).ok_or("zero-sized image")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    let view = tree.size();
    let scale = size as f32 / view.width().max(view.height());
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    // Opaque (white background), so the premultiplied channels are the colour itself.
    Ok(image::RgbImage::from_fn(size, size, |x, y| {
        let p = pixmap.pixel(x, y).expect("inside the pixmap");
        image::Rgb([p.red(), p.green(), p.blue()])
    }))
}

/// Writes `out/{trainA,trainB,testA,testB}`, each split's glyphs in the other domain beside it
/// (`trainA-truth`, ...), and the attribution; `test_fraction` of each domain's glyphs (at least
/// 8) go to its test split.
pub fn build(
    package: &Path,
    out: &Path,
    size: u32,
    seed: u64,
) -> Result<DatasetSummary, DatasetError> {
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(DatasetError::Exists(out.to_path_buf()));
    }
    let (mut glyphs, excluded) = selected(package)?;
    if glyphs.len() < 40 {
        return Err(DatasetError::Package(format!(
            "only {} usable glyphs found",
            glyphs.len()
        )));
    }
    glyphs.shuffle(&mut StdRng::seed_from_u64(seed));
    let half = glyphs.len() / 2;
    let (glyphs_a, glyphs_b) = glyphs.split_at(half);
    let test_count = |n: usize| (n / 20).max(8);
    let mut summary = DatasetSummary {
        excluded,
        ..Default::default()
    };
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Write { path, source }
    };
    for (glyphs, style, other_style, train, test) in [
        (glyphs_a, "black", "color", "trainA", "testA"),
        (glyphs_b, "color", "black", "trainB", "testB"),
    ] {
        let n_test = test_count(glyphs.len());
        for (i, hex) in glyphs.iter().enumerate() {
            let split = if i < n_test { test } else { train };
            let dir = out.join(split);
            std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
            match rasterise(&package.join(format!("{style}/svg/{hex}.svg")), size) {
                Ok(img) => {
                    let path = dir.join(format!("{hex}.png"));
                    write_atomic(&path, &png_bytes(&img), false).map_err(write_err(&path))?;
                    // The same glyph in the other domain: `evaluate`'s silhouette outside
                    // (test splits) and `keep_region: silhouette`'s mask (trainA). Never a
                    // translation's target: the domains stay unpaired.
                    let dir = super::data::truth_folder(&out.join(split)).expect("named split");
                    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
                    let svg = package.join(format!("{other_style}/svg/{hex}.svg"));
                    let truth = rasterise(&svg, size).map_err(DatasetError::Package)?;
                    let path = dir.join(format!("{hex}.png"));
                    write_atomic(&path, &png_bytes(&truth), false).map_err(write_err(&path))?;
                    match split {
                        "trainA" => summary.train_a += 1,
                        "trainB" => summary.train_b += 1,
                        "testA" => summary.test_a += 1,
                        _ => summary.test_b += 1,
                    }
                }
                Err(e) => {
                    log::warn!("skipping glyph {hex}: {e}");
                    summary.failed += 1;
                }
            }
        }
    }
    let notice = format!(
        "# Dataset attribution\n\n\
         Built by `stylespace dataset openmoji` from the npm package {PACKAGE}.\n\n\
         All emoji designs are from OpenMoji, the open-source emoji and icon project\n\
         (https://openmoji.org), licensed under CC BY-SA 4.0\n\
         (https://creativecommons.org/licenses/by-sa/4.0/).\n\n\
         Domain a (trainA, testA): black outline glyphs; domain b (trainB, testB): colour glyphs.\n\
         The two domains use disjoint glyph sets (seed {seed}); skin-tone variants, flags and\n\
         components are left out. Each split's `-truth` folder holds its glyphs in the other\n\
         domain: `stylespace evaluate` reads testA-truth (colour outside the real silhouettes),\n\
         training reads trainA-truth only with `keep_region: silhouette`, as the mask of where\n\
         colour belongs, never as an image to translate to. Rendered at {size}x{size} px on\n\
         white with resvg.\n\n\
         Counts: trainA {}, testA {}, trainB {}, testB {}.\n",
        summary.train_a, summary.test_a, summary.train_b, summary.test_b
    );
    let path = out.join("ATTRIBUTION.md");
    write_atomic(&path, notice.as_bytes(), false).map_err(write_err(&path))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package of `n` glyphs: a black square outline, and the same square filled red.
    fn package(n: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for style in ["black/svg", "color/svg", "data"] {
            std::fs::create_dir_all(root.join(style)).unwrap();
        }
        let mut entries = Vec::new();
        for i in 0..n {
            let hex = format!("E{i:03X}");
            entries.push(serde_json::json!({"hexcode": hex, "group": "symbols", "skintone": ""}));
            for (style, fill) in [("black", "none"), ("color", "#d22")] {
                let svg = format!(
                    r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 72 72"><rect x="18" y="18" width="36" height="36" fill="{fill}" stroke="#000" stroke-width="4"/></svg>"##
                );
                std::fs::write(root.join(format!("{style}/svg/{hex}.svg")), svg).unwrap();
            }
        }
        // A flag is left out.
        entries.push(serde_json::json!({"hexcode": "F000", "group": "flags", "skintone": ""}));
        std::fs::write(
            root.join("data/openmoji.json"),
            serde_json::to_string(&entries).unwrap(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn the_dataset_splits_disjoint_glyphs_and_keeps_their_truths_apart() {
        let pkg = package(40);
        let out = tempfile::tempdir().unwrap();
        let out = out.path().join("data");
        let summary = build(pkg.path(), &out, 16, 1).unwrap();
        assert_eq!(
            (
                summary.train_a,
                summary.test_a,
                summary.train_b,
                summary.test_b
            ),
            (12, 8, 12, 8)
        );
        assert_eq!(summary.excluded, 1);
        let names = |split: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(out.join(split))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let (a, b) = (
            [names("trainA"), names("testA")].concat(),
            [names("trainB"), names("testB")].concat(),
        );
        assert!(
            a.iter().all(|n| !b.contains(n)),
            "the domains share no glyph"
        );
        // Each glyph's truth is the same glyph in the other domain.
        for split in ["trainA", "trainB", "testA", "testB"] {
            assert_eq!(names(&format!("{split}-truth")), names(split));
        }
        let red = |split: &str, name: &str| {
            let img = image::open(out.join(split).join(name)).unwrap().to_rgb8();
            let p = img.get_pixel(8, 8).0;
            p[0] > 150 && p[1] < 100
        };
        let first_a = &names("testA")[0];
        let first_b = &names("testB")[0];
        assert!(!red("testA", first_a) && red("testA-truth", first_a));
        assert!(red("testB", first_b) && !red("testB-truth", first_b));
        // An existing dataset is never written over.
        assert!(matches!(
            build(pkg.path(), &out, 16, 1),
            Err(DatasetError::Exists(_))
        ));
    }
}
