//! The region brush: a second style code applied inside a painted mask, mixed per pixel inside
//! the decoder ([`crate::model::StyleField`]), not by blending two finished images.
//!
//! A mask is a grey image over the *original* content image (white = the second code), as a user
//! paints or saves it. It is brought to the model exactly like the image (the family's resize and
//! crop), then to the decoder's output size.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, imageops::FilterType};

use super::{EngineError, Model};
use crate::Domain;
use crate::io::image::{ImageError, image_from_chw, preprocess_with};
use crate::model::params::to_vec;
use crate::model::{StyleField, StyleMask};

/// Mask values this close to 0 or 1 after resampling count as exactly 0 or 1 (half an 8-bit
/// level), so a fully painted or empty area decodes exactly like a single code.
pub const MASK_SNAP: f32 = 1.0 / 512.0;

/// A second code and where it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// The code inside the mask.
    pub style: Vec<f32>,
    /// Grey, white = inside; any size with the content image's aspect ratio (resampled to the
    /// image's size first).
    pub mask: Arc<GrayImage>,
}

/// Mask weights in [0, 1], row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskValues {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl MaskValues {
    /// Resampled to `width` x `height` (bilinear, widened when shrinking), snapped at 0 and 1.
    pub fn resized(&self, width: usize, height: usize) -> MaskValues {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let buffer: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(self.width as u32, self.height as u32, self.values.clone())
                .expect("mask buffer matches its size");
        let resized =
            image::imageops::resize(&buffer, width as u32, height as u32, FilterType::Triangle);
        MaskValues {
            width,
            height,
            values: resized.into_raw().into_iter().map(snap).collect(),
        }
    }

    /// Share of the area inside (mean weight).
    pub fn coverage(&self) -> f32 {
        self.values.iter().sum::<f32>() / self.values.len().max(1) as f32
    }
}

fn snap(v: f32) -> f32 {
    if !v.is_finite() || v < MASK_SNAP {
        0.0
    } else if v > 1.0 - MASK_SNAP {
        1.0
    } else {
        v
    }
}

/// A mask from an image file: its grey level times its opacity (white = inside, black or
/// transparent = outside).
pub fn mask_from_image(img: &DynamicImage) -> GrayImage {
    let grey = img.to_luma_alpha8();
    GrayImage::from_fn(grey.width(), grey.height(), |x, y| {
        let [v, alpha] = grey.get_pixel(x, y).0;
        Luma([((v as u32 * alpha as u32 + 127) / 255) as u8])
    })
}

/// Whether a mask of `mask` `[width, height]` fits an image of `image` `[width, height]`: the
/// same size, or the same aspect ratio within 1 % (it is then resampled).
pub fn mask_fits(mask: [u32; 2], image: [u32; 2]) -> Result<(), String> {
    if mask == image {
        return Ok(());
    }
    let ratio = |[w, h]: [u32; 2]| w as f64 / h.max(1) as f64;
    if mask.contains(&0) || (ratio(mask) / ratio(image) - 1.0).abs() > 0.01 {
        return Err(format!(
            "the mask is {}x{}, the image {}x{}; paint it at the image's size (or the same \
             aspect ratio)",
            mask[0], mask[1], image[0], image[1]
        ));
    }
    Ok(())
}

/// A mask as the model sees its image: resampled to the image's `original` `[width, height]`
/// when painted at another size, then resized and cropped like `domain`'s input.
pub fn prepare_mask(
    model: &Model,
    mask: &GrayImage,
    domain: Domain,
    original: [u32; 2],
    name: &str,
) -> Result<MaskValues, ImageError> {
    let [width, height] = original;
    let mask = if mask.dimensions() == (width, height) {
        DynamicImage::ImageLuma8(mask.clone())
    } else {
        DynamicImage::ImageLuma8(image::imageops::resize(
            mask,
            width,
            height,
            FilterType::Triangle,
        ))
    };
    let prepared = preprocess_with(&mask, model.description().preprocess_for(domain), 1, name)?;
    Ok(MaskValues {
        width: prepared.width,
        height: prepared.height,
        values: prepared
            .data
            .iter()
            .map(|v| snap((v + 1.0) * 0.5))
            .collect(),
    })
}

impl Model {
    /// Factor from a content code's side to the decoded image's side.
    pub fn upscale(&self) -> usize {
        match &self.networks {
            crate::checkpoint::Networks::Munit { config, .. }
            | crate::checkpoint::Networks::Unit { config, .. } => {
                1 << config.generator.n_downsample
            }
            crate::checkpoint::Networks::Drit { .. } => 4,
        }
    }

    /// Decodes `content` with `outside` where `mask` is 0 and `inside` where it is 1, mixed per
    /// pixel at every layer the style enters, norms following each code's statistics on its side
    /// (see [`crate::model::mask`]). The mask is resampled to the output size. An empty (full)
    /// mask is a plain decode with `outside` (`inside`): the same pixels, a third of the work.
    ///
    /// # Shapes
    /// `content`: `[1, c, h, w]` -> `[1, channels(target), h * s, w * s]` ([`Model::upscale`]).
    pub fn decode_region(
        &self,
        target: Domain,
        content: Tensor<4>,
        outside_code: &[f32],
        inside_code: &[f32],
        mask: &MaskValues,
    ) -> Result<Tensor<4>, EngineError> {
        let outside = self.style_tensor(outside_code, "the code")?;
        let inside = self.style_tensor(inside_code, "the code inside the mask")?;
        let [_, _, h, w] = content.dims();
        let scale = self.upscale();
        let (out_h, out_w) = (h * scale, w * scale);
        let mask = mask.resized(out_w, out_h);
        if mask.values.iter().all(|v| *v == 0.0) {
            return self.decode(target, content, Some(outside_code));
        }
        if mask.values.iter().all(|v| *v == 1.0) {
            return self.decode(target, content, Some(inside_code));
        }
        let weights = Tensor::<4>::from_data(
            TensorData::new(mask.values, [1, 1, out_h, out_w]),
            &self.device,
        );
        let field = StyleField::Masked {
            outside,
            inside,
            mask: StyleMask::new(weights),
        };
        self.count_decodes(1);
        Ok(match &self.networks {
            crate::checkpoint::Networks::Munit { gens, .. } => {
                gens.get(target).decode_field(content, &field)
            }
            crate::checkpoint::Networks::Drit { model, .. } => {
                model.decode_field(target, content, &field)
            }
            crate::checkpoint::Networks::Unit { .. } => {
                unreachable!("style_tensor refuses models without a style space")
            }
        })
    }

    /// [`Model::decode_region`] as an RGB image.
    pub fn translate_region(
        &self,
        target: Domain,
        content: Tensor<4>,
        outside: &[f32],
        inside: &[f32],
        mask: &MaskValues,
    ) -> Result<image::RgbImage, EngineError> {
        let image = self.decode_region(target, content, outside, inside, mask)?;
        let [_, c, h, w] = image.dims();
        Ok(image_from_chw(&to_vec(image), c, h, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_snap_and_resize() {
        let mask = MaskValues {
            width: 2,
            height: 1,
            values: vec![1.0, 0.0],
        };
        let wide = mask.resized(8, 2);
        assert_eq!(wide.values.len(), 16);
        assert_eq!(wide.values[0], 1.0);
        assert_eq!(wide.values[7], 0.0);
        assert!(wide.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!((wide.coverage() - 0.5).abs() < 1e-6);
        assert_eq!(snap(0.99), 0.99);
        assert_eq!(snap(0.9995), 1.0);
        assert_eq!(snap(f32::NAN), 0.0);
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use crate::engine::worker::ModelSource;
    use crate::model::params::to_vec;

    fn mean_abs(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    }

    /// Mean |a - b| over columns `cols` of `[c, h, w]` images.
    fn columns(a: &[f32], b: &[f32], w: usize, cols: std::ops::Range<usize>) -> f32 {
        let (mut sum, mut n) = (0.0, 0);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if cols.contains(&(i % w)) {
                sum += (x - y).abs();
                n += 1;
            }
        }
        sum / n as f32
    }

    #[test]
    fn full_and_empty_masks_decode_like_one_code_and_half_masks_stay_local() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let device = Device::flex();
        let sources = [
            ModelSource::Official {
                config: root.join("munit-tiny/config.yaml"),
                checkpoint: root.join("munit-tiny/gen.pt"),
            },
            ModelSource::Checkpoint(root.join("drit-tiny/drit.pth")),
            ModelSource::Checkpoint(root.join("drit-tiny-noconcat/drit.pth")),
        ];
        for source in sources {
            let name = source.label();
            let mut model = source.load(&device).unwrap();
            let image = image::open(root.join("munit-tiny/a.png")).unwrap();
            let prepared = model.prepare(&image, Domain::A, "a.png").unwrap();
            let content = model.content(Domain::A, &prepared);
            let codes = crate::engine::styles::sample_styles(2, model.style_dim(), 11);
            let (outside, inside) = (&codes[0], &codes[1]);
            let plain = |code: &[f32]| {
                to_vec(
                    model
                        .decode(Domain::B, content.clone(), Some(code))
                        .unwrap(),
                )
            };
            let (x_outside, x_inside) = (plain(outside), plain(inside));
            let size = [image.width(), image.height()];
            let region = |mask: &GrayImage| {
                let values = prepare_mask(&model, mask, Domain::A, size, "mask").unwrap();
                to_vec(
                    model
                        .decode_region(Domain::B, content.clone(), outside, inside, &values)
                        .unwrap(),
                )
            };
            let (w, h) = (image.width(), image.height());
            assert_eq!(
                region(&GrayImage::new(w, h)),
                x_outside,
                "{name}: empty mask"
            );
            let full = GrayImage::from_pixel(w, h, Luma([255]));
            assert_eq!(region(&full), x_inside, "{name}: full mask");
            let left = GrayImage::from_fn(w, h, |x, _| Luma([if x < w / 2 { 255 } else { 0 }]));
            let half = region(&left);
            let [_, _, _, out_w] = model
                .decode(Domain::B, content.clone(), Some(outside))
                .unwrap()
                .dims();
            let apart = mean_abs(&x_outside, &x_inside);
            let far_right = columns(&half, &x_outside, out_w, out_w * 3 / 4..out_w);
            let far_left = columns(&half, &x_inside, out_w, 0..out_w / 4);
            eprintln!(
                "{name}: codes apart {apart:.3e}, far right vs outside {far_right:.3e}, far left vs inside {far_left:.3e}"
            );
            // Norms follow each side's own statistics: the far side is (nearly) that code's image.
            assert!(far_right < apart / 10.0, "{name}: {far_right} vs {apart}");
            assert!(far_left < apart / 10.0, "{name}: {far_left} vs {apart}");
            // The mixed decode itself (not the shortcut for empty masks): with nothing painted,
            // the mixed group computes what a plain decode does.
            let zero = MaskValues {
                width: out_w,
                height: x_outside.len() / out_w / 3,
                values: vec![0.0; x_outside.len() / 3],
            };
            let field = StyleField::Masked {
                outside: model.style_tensor(outside, "outside").unwrap(),
                inside: model.style_tensor(inside, "inside").unwrap(),
                mask: StyleMask::new(Tensor::from_data(
                    TensorData::new(zero.values, [1, 1, zero.height, zero.width]),
                    &device,
                )),
            };
            let mixed = to_vec(match &model.networks {
                crate::checkpoint::Networks::Munit { gens, .. } => {
                    gens.get(Domain::B).decode_field(content.clone(), &field)
                }
                crate::checkpoint::Networks::Drit { model, .. } => {
                    model.decode_field(Domain::B, content.clone(), &field)
                }
                _ => unreachable!(),
            });
            let worst = mixed
                .iter()
                .zip(&x_outside)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{name}: {worst}");
        }
    }
}
