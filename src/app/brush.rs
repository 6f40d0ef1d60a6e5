//! The region brush's data: a grey mask per content image (white = the second code), painted with
//! soft round dabs; how it reaches the decoder is [`crate::engine::region`]'s business.

use std::sync::Arc;

use image::{DynamicImage, GrayImage, Luma};

/// Longest side of a painted mask: a larger image's mask is painted at this size and resampled
/// to the image by the worker (it bounds the memory of undo steps, which keep old masks).
pub const MASK_MAX_SIDE: u32 = 512;

/// How the brush paints.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct BrushSettings {
    /// Radius as a share of the image's longer side.
    pub radius: f32,
    /// 0: a hard edge; 1: the whole dab fades from its centre.
    pub softness: f32,
    /// Takes paint away instead of adding it.
    pub erase: bool,
}

impl Default for BrushSettings {
    fn default() -> Self {
        Self {
            radius: 0.1,
            softness: 0.5,
            erase: false,
        }
    }
}

/// Range of [`BrushSettings::radius`] the UI offers.
pub const RADIUS_RANGE: std::ops::RangeInclusive<f32> = 0.01..=0.5;

/// The size of a mask for an image of `width` x `height`.
pub fn mask_size(width: u32, height: u32) -> (u32, u32) {
    let longer = width.max(height).max(1);
    if longer <= MASK_MAX_SIDE {
        return (width.max(1), height.max(1));
    }
    let scale = MASK_MAX_SIDE as f64 / longer as f64;
    let side = |s: u32| ((s as f64 * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// An empty mask for an image of `width` x `height`.
pub fn new_mask(width: u32, height: u32) -> GrayImage {
    let (w, h) = mask_size(width, height);
    GrayImage::new(w, h)
}

/// A mask as an image keeps it (shared with undo steps until painted again), with how much of it
/// is painted, summed once when it changes: the window asks every frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Painted {
    mask: Arc<GrayImage>,
    /// Sum of the mask's values (0 = nothing painted).
    ink: u64,
}

impl Painted {
    pub fn new(mask: GrayImage) -> Self {
        Self {
            ink: ink(&mask),
            mask: Arc::new(mask),
        }
    }

    /// The mask (white = the inside code).
    pub fn mask(&self) -> &Arc<GrayImage> {
        &self.mask
    }

    /// Whether nothing is painted.
    pub fn is_empty(&self) -> bool {
        self.ink == 0
    }

    /// Share of the image that takes the inside code, 0..=1 (soft edges count in part).
    pub fn share(&self) -> f64 {
        self.ink as f64 / (255.0 * self.mask.as_raw().len().max(1) as f64)
    }

    /// Changes the mask (copying it first if an undo step shares it).
    pub fn edit(&mut self, edit: impl FnOnce(&mut GrayImage)) {
        edit(Arc::make_mut(&mut self.mask));
        self.ink = ink(&self.mask);
    }
}

fn ink(mask: &GrayImage) -> u64 {
    mask.as_raw().iter().map(|v| u64::from(*v)).sum()
}

/// Paint (or, erasing, take it away) along the segment `from` -> `to`, given as shares of the
/// image's width and height, with dabs close enough to leave no gaps.
pub fn stroke(mask: &mut GrayImage, from: [f32; 2], to: [f32; 2], brush: &BrushSettings) {
    let (w, h) = mask.dimensions();
    let radius = (brush.radius * w.max(h) as f32).max(0.5);
    let px = |p: [f32; 2]| [p[0] * w as f32, p[1] * h as f32];
    let (a, b) = (px(from), px(to));
    let length = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
    let spacing = (radius * 0.25).max(0.5);
    let steps = (length / spacing).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let centre = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
        dab(mask, centre, radius, brush);
    }
}

/// One round dab at `centre` (pixels): full strength within `(1 - softness) x radius`, fading
/// smoothly to nothing at `radius`.
fn dab(mask: &mut GrayImage, centre: [f32; 2], radius: f32, brush: &BrushSettings) {
    let (w, h) = mask.dimensions();
    let hard = radius * (1.0 - brush.softness.clamp(0.0, 1.0));
    let x0 = (centre[0] - radius).floor().max(0.0) as u32;
    let y0 = (centre[1] - radius).floor().max(0.0) as u32;
    let x1 = ((centre[0] + radius).ceil().max(0.0) as u32).min(w);
    let y1 = ((centre[1] + radius).ceil().max(0.0) as u32).min(h);
    for y in y0..y1 {
        for x in x0..x1 {
            // Pixel centres.
            let d = ((x as f32 + 0.5 - centre[0]).powi(2) + (y as f32 + 0.5 - centre[1]).powi(2))
                .sqrt();
            let strength = if d <= hard {
                1.0
            } else if d >= radius {
                continue;
            } else {
                let t = (radius - d) / (radius - hard);
                t * t * (3.0 - 2.0 * t)
            };
            let level = (strength * 255.0).round() as u8;
            let v = &mut mask.get_pixel_mut(x, y).0[0];
            *v = match brush.erase {
                false => (*v).max(level),
                true => (*v).min(255 - level),
            };
        }
    }
}

/// Inside becomes outside and the other way round.
pub fn invert(mask: &mut GrayImage) {
    for v in mask.iter_mut() {
        *v = 255 - *v;
    }
}

/// A mask read from a file for an image of `image` `[width, height]`: grey level times opacity,
/// at the image's mask size; an error when its shape does not fit the image.
pub fn mask_from_file(file: &DynamicImage, image: [u32; 2]) -> Result<GrayImage, String> {
    crate::engine::region::mask_fits([file.width(), file.height()], image)?;
    let grey = crate::engine::region::mask_from_image(file);
    let (w, h) = mask_size(image[0], image[1]);
    Ok(if grey.dimensions() == (w, h) {
        grey
    } else {
        image::imageops::resize(&grey, w, h, image::imageops::FilterType::Triangle)
    })
}

/// The mask at the image's full size (what an export writes, so the command line's
/// `translate --mask` takes it as it is).
pub fn mask_at_image_size(mask: &GrayImage, image: [u32; 2]) -> GrayImage {
    if mask.dimensions() == (image[0], image[1]) {
        return mask.clone();
    }
    image::imageops::resize(
        mask,
        image[0].max(1),
        image[1].max(1),
        image::imageops::FilterType::Triangle,
    )
}

/// The mask as a translucent overlay: `colour` where painted, clear elsewhere (premultiplied).
pub fn overlay(mask: &GrayImage, colour: [u8; 3]) -> egui::ColorImage {
    let (w, h) = mask.dimensions();
    let pixels = mask
        .as_raw()
        .iter()
        .map(|v| {
            let alpha = (*v as u16 * 150 / 255) as u8;
            egui::Color32::from_rgba_unmultiplied(colour[0], colour[1], colour[2], alpha)
        })
        .collect();
    egui::ColorImage::new([w as usize, h as usize], pixels)
}

/// A white pixel.
pub const INSIDE: Luma<u8> = Luma([255]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_painted_mask_keeps_its_share_in_step_and_leaves_shared_copies_alone() {
        let mut painted = Painted::new(new_mask(10, 10));
        assert!(painted.is_empty());
        assert_eq!(painted.share(), 0.0);
        let kept = painted.clone(); // as an undo step keeps it
        painted.edit(|mask| {
            for x in 0..5 {
                for y in 0..10 {
                    mask.put_pixel(x, y, INSIDE);
                }
            }
        });
        assert!(!painted.is_empty());
        assert!((painted.share() - 0.5).abs() < 1e-12);
        assert!(kept.is_empty(), "the undo step's mask was changed");
        assert_ne!(painted, kept);
        painted.edit(invert);
        assert!((painted.share() - 0.5).abs() < 1e-12);
        painted.edit(|mask| mask.fill(0));
        assert!(painted.is_empty());
        assert_eq!(painted, kept);
    }

    #[test]
    fn strokes_paint_soft_dabs_and_erase_them() {
        let mut mask = new_mask(100, 50);
        assert_eq!(mask.dimensions(), (100, 50));
        assert!(Painted::new(mask.clone()).is_empty());
        let brush = BrushSettings {
            radius: 0.1,
            softness: 0.5,
            erase: false,
        };
        stroke(&mut mask, [0.2, 0.5], [0.8, 0.5], &brush);
        // Along the stroke: full; 5 px away (the hard core's edge): full; 10 px away: nothing.
        assert_eq!(mask.get_pixel(50, 25).0[0], 255);
        assert_eq!(mask.get_pixel(50, 20).0[0], 255);
        let fading = mask.get_pixel(50, 17).0[0];
        assert!(0 < fading && fading < 255, "{fading}");
        assert_eq!(mask.get_pixel(50, 10).0[0], 0);
        // No gaps between dabs, nothing beyond the ends.
        assert!((20..=80).all(|x| mask.get_pixel(x, 25).0[0] == 255));
        assert_eq!(mask.get_pixel(5, 25).0[0], 0);
        let erase = BrushSettings {
            erase: true,
            ..brush
        };
        stroke(&mut mask, [0.5, 0.5], [0.5, 0.5], &erase);
        assert_eq!(mask.get_pixel(50, 25).0[0], 0);
        assert_eq!(mask.get_pixel(25, 25).0[0], 255);
        invert(&mut mask);
        assert_eq!(mask.get_pixel(50, 25).0[0], 255);
        assert_eq!(mask.get_pixel(25, 25).0[0], 0);
    }

    #[test]
    fn large_images_get_bounded_masks_and_files_must_fit() {
        assert_eq!(mask_size(2048, 1024), (512, 256));
        assert_eq!(mask_size(64, 64), (64, 64));
        let file = DynamicImage::ImageLuma8(GrayImage::from_pixel(1024, 512, INSIDE));
        let mask = mask_from_file(&file, [2048, 1024]).unwrap();
        assert_eq!(mask.dimensions(), (512, 256));
        assert!(mask.as_raw().iter().all(|v| *v == 255));
        assert!(mask_from_file(&file, [100, 100]).is_err());
        assert_eq!(
            mask_at_image_size(&mask, [2048, 1024]).dimensions(),
            (2048, 1024)
        );
    }
}
