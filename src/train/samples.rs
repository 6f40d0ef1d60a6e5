//! Sample grids written during training: fixed test images and fixed display styles, so grids
//! compare across iterations (as the official trainer's `sample`).

use std::path::PathBuf;

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand_distr::{Distribution, StandardNormal};

use super::data::{Transform, rng_for};
use super::trainer::{GenPair, TrainOptions, styles};
use crate::io::atomic::write_atomic;
use crate::io::image::png_bytes;
use crate::model::params::to_vec;

/// Fixed test images and display styles, so sample grids compare across iterations.
pub(super) struct Display {
    a: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    styles_a: Vec<Vec<f32>>,
    styles_b: Vec<Vec<f32>>,
    transform_a: Transform,
    transform_b: Transform,
    dir: PathBuf,
}

impl Display {
    pub(super) fn new(
        options: &TrainOptions,
        test_a: &[PathBuf],
        test_b: &[PathBuf],
        ta: Transform,
        tb: Transform,
    ) -> Self {
        let n = options.config.display_size.max(1);
        let load = |files: &[PathBuf], t: Transform| -> Vec<Vec<f32>> {
            let mut rng = rng_for(options.seed, &[0xD15]);
            files
                .iter()
                .filter_map(|f| super::data::load_sample(f, t, &mut rng).ok())
                .take(n)
                .collect()
        };
        let dim = options.config.generator.style_dim();
        let draw = |purpose| {
            let mut rng = rng_for(options.seed, &[0xD15, purpose]);
            (0..n)
                .map(|_| (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect())
                .collect()
        };
        Self {
            a: load(test_a, ta),
            b: load(test_b, tb),
            styles_a: draw(1),
            styles_b: draw(2),
            transform_a: ta,
            transform_b: tb,
            dir: options.run_dir.join("images"),
        }
    }

    /// Writes `images/gen_a2b_XXXXXXXX.png` and `gen_b2a_...`: one column per test image, rows:
    /// input, reconstruction, translation with a fixed display style, with a random style.
    pub(super) fn save(
        &self,
        gens: &GenPair,
        iteration: u64,
        device: &Device,
    ) -> std::io::Result<()> {
        let gens_eval = GenPair {
            a: gens.a.clone().valid(),
            b: gens.b.clone().valid(),
        };
        let inner = device.clone().without_autodiff();
        for (name, inputs, t, source, target, fixed, purpose) in [
            (
                "a2b",
                &self.a,
                self.transform_a,
                &gens_eval.a,
                &gens_eval.b,
                &self.styles_b,
                5u64,
            ),
            (
                "b2a",
                &self.b,
                self.transform_b,
                &gens_eval.b,
                &gens_eval.a,
                &self.styles_a,
                6u64,
            ),
        ] {
            if inputs.is_empty() {
                continue;
            }
            let (h, w) = (t.crop_h, t.crop_w);
            let mut grid = image::RgbImage::new((w * inputs.len()) as u32, (h * 4) as u32);
            let random = styles(0, purpose, iteration, inputs.len(), fixed[0].len(), &inner);
            for (col, x) in inputs.iter().enumerate() {
                let x = Tensor::<4>::from_data(
                    TensorData::new(x.clone(), [1, t.channels, h, w]),
                    &inner,
                );
                let content = source.encode_content(x.clone());
                let own = source.encode_style(x.clone()).reshape([1, fixed[0].len()]);
                let recon = source.decode_style(content.clone(), own);
                let style = |v: &Vec<f32>| {
                    Tensor::<2>::from_data(TensorData::new(v.clone(), [1, v.len()]), &inner)
                };
                let fixed_out = target.decode_style(content.clone(), style(&fixed[col]));
                let random_out = target.decode_style(
                    content,
                    random.clone().slice([col..col + 1, 0..fixed[0].len()]),
                );
                for (row, img) in [x, recon, fixed_out, random_out].into_iter().enumerate() {
                    let [_, ch, ih, iw] = img.dims();
                    let tile = crate::io::image::image_from_chw(&to_vec(img), ch, ih, iw);
                    image::imageops::replace(&mut grid, &tile, (col * w) as i64, (row * h) as i64);
                }
            }
            let path = self.dir.join(format!("gen_{name}_{iteration:08}.png"));
            write_atomic(&path, &png_bytes(&grid), true)?;
        }
        Ok(())
    }
}
