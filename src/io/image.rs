//! Images <-> model tensors.
//!
//! Loading: PNG, JPEG, WebP, BMP and GIF (first frame), format sniffed from the content, EXIF
//! orientation applied, grayscale / RGBA / 16-bit / CMYK converted, decompression bombs refused.
//! Preprocessing as the official `test.py`: shorter side resized to `new_size` keeping the aspect
//! ratio, values mapped to [-1, 1]. Output: `(y + 1) / 2` clamped, rounded to 8 bits.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, imageops::FilterType};

/// Largest width or height accepted from a file.
pub const MAX_INPUT_SIDE: u32 = 16_384;
/// Largest decoded size in memory.
pub const MAX_DECODED_BYTES: u64 = 512 << 20;
/// Largest image file read (compressed images of the largest accepted size are far smaller).
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Largest side after the shorter side is resized to `new_size` (guards extreme aspect ratios).
pub const MAX_MODEL_SIDE: usize = 4096;

/// Why an image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes)")]
    Empty { path: String },
    #[error("{path} is not an image in a supported format (PNG, JPEG, WebP, BMP, GIF)")]
    UnknownFormat { path: String },
    #[error("{path} is too large to decode safely ({detail}); limits: {max} px per side, {mb} MiB decoded", max = MAX_INPUT_SIDE, mb = MAX_DECODED_BYTES >> 20)]
    TooLarge { path: String, detail: String },
    #[error("cannot decode {path}: {detail}")]
    Decode { path: String, detail: String },
    #[error("{path}: {detail}")]
    OverBudget { path: String, detail: String },
    #[error(
        "{path}: {width}x{height} resized to a shorter side of {new_size} would be {rw}x{rh}, beyond the {max} px limit (aspect ratio too extreme)", max = MAX_MODEL_SIDE
    )]
    AspectRatio {
        path: String,
        width: u32,
        height: u32,
        new_size: usize,
        rw: usize,
        rh: usize,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

fn classify(path: &str, err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Limits(e) => ImageError::TooLarge {
            path: path.into(),
            detail: e.to_string(),
        },
        image::ImageError::Unsupported(e) => {
            if matches!(
                e.kind(),
                image::error::UnsupportedErrorKind::Format(image::error::ImageFormatHint::Unknown)
            ) {
                ImageError::UnknownFormat { path: path.into() }
            } else {
                ImageError::Decode {
                    path: path.into(),
                    detail: e.to_string(),
                }
            }
        }
        other => ImageError::Decode {
            path: path.into(),
            detail: other.to_string(),
        },
    }
}

/// File extensions read as images when a folder is opened.
pub const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "webp", "bmp", "gif", "ppm", "tif", "tiff",
];

/// The image files of a folder (by extension), sorted by name; not recursive.
pub fn images_in(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes an image from a file, applying its EXIF orientation.
pub fn load_image(path: &Path) -> Result<DynamicImage, ImageError> {
    load_image_within(path, MAX_DECODED_BYTES)
}

/// [`load_image`], refused before anything is decoded when the decoded image would take more
/// than `budget` bytes (the app's room left for its image set). Files over [`MAX_FILE_BYTES`]
/// are refused unread.
pub fn load_image_within(path: &Path, budget: u64) -> Result<DynamicImage, ImageError> {
    let name = path.display().to_string();
    let read_error = |source| ImageError::Read {
        path: name.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ImageError::TooLarge {
            path: name.clone(),
            detail: format!(
                "the file is {} MiB; image files over {} MiB are not read",
                size >> 20,
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    decode_image_within(&bytes, &name, budget)
}

/// Decodes an image from memory (`name` is used in errors), applying its EXIF orientation.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<DynamicImage, ImageError> {
    decode_image_within(bytes, name, MAX_DECODED_BYTES)
}

/// [`decode_image`], refused before decoding when the result would take more than `budget`
/// bytes.
pub fn decode_image_within(
    bytes: &[u8],
    name: &str,
    budget: u64,
) -> Result<DynamicImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty { path: name.into() });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| ImageError::Read {
            path: name.into(),
            source,
        })?;
    if reader.format().is_none() {
        return Err(ImageError::UnknownFormat { path: name.into() });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(name, e))?;
    // Not every decoder enforces `max_alloc` on its output buffer: check before allocating.
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        let (w, h) = decoder.dimensions();
        return Err(ImageError::TooLarge {
            path: name.into(),
            detail: format!("{w}x{h} would take {} MiB", decoder.total_bytes() >> 20),
        });
    }
    if decoder.total_bytes() > budget {
        let (w, h) = decoder.dimensions();
        return Err(ImageError::OverBudget {
            path: name.into(),
            detail: format!(
                "{w}x{h} would take {} MiB, more than the {} MiB the image set has room for; \
                 remove images first",
                decoder.total_bytes() >> 20,
                budget >> 20
            ),
        });
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(name, e))?;
    if let Some(orientation) = orientation {
        img.apply_orientation(orientation);
    }
    Ok(img)
}

/// An image prepared for the model: `[channels, height, width]` values in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelImage {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl ModelImage {
    /// The NCHW shape with a batch of one.
    pub fn shape(&self) -> [usize; 4] {
        [1, self.channels, self.height, self.width]
    }

    /// Back to 8-bit RGB pixels (what the model sees, at its size).
    pub fn to_rgb(&self) -> RgbImage {
        image_from_chw(&self.data, self.channels, self.height, self.width)
    }
}

/// Output size of torchvision's `Resize(new_size)`: shorter side = `new_size`, the other side
/// scaled and truncated.
pub fn resized_size(width: u32, height: u32, new_size: usize) -> (usize, usize) {
    let (w, h) = (width as usize, height as usize);
    if w <= h {
        (new_size, (new_size as f64 * h as f64 / w as f64) as usize)
    } else {
        ((new_size as f64 * w as f64 / h as f64) as usize, new_size)
    }
}

/// Resizes (shorter side -> `new_size`) and maps to [-1, 1] with `channels` (1 or 3) channels.
pub fn preprocess(
    img: &DynamicImage,
    new_size: usize,
    channels: usize,
    name: &str,
) -> Result<ModelImage, ImageError> {
    let (width, height) = (img.width(), img.height());
    let (rw, rh) = resized_size(width, height, new_size);
    if rw.max(rh) > MAX_MODEL_SIDE || rw == 0 || rh == 0 {
        return Err(ImageError::AspectRatio {
            path: name.into(),
            width,
            height,
            new_size,
            rw,
            rh,
        });
    }
    // Float RGB keeps 16-bit precision; 8-bit values become exactly v / 255.
    let rgb = if (rw, rh) == (width as usize, height as usize) {
        img.to_rgb32f()
    } else {
        // Triangle = bilinear, widened when downscaling (antialiased, like PIL's resize).
        img.resize_exact(rw as u32, rh as u32, FilterType::Triangle)
            .to_rgb32f()
    };
    Ok(to_model_image(&rgb, channels))
}

/// Maps float RGB in [0, 1] to the model's [-1, 1] with 1 (PIL "L" luma) or 3 channels.
fn to_model_image(rgb: &image::Rgb32FImage, channels: usize) -> ModelImage {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; channels * plane];
    for (i, px) in rgb.pixels().enumerate() {
        let [r, g, b] = px.0;
        if channels == 1 {
            // PIL's "L" conversion (ITU-R 601-2 luma).
            let luma = r * 0.299 + g * 0.587 + b * 0.114;
            data[i] = (luma - 0.5) / 0.5;
        } else {
            data[i] = (r - 0.5) / 0.5;
            data[plane + i] = (g - 0.5) / 0.5;
            data[2 * plane + i] = (b - 0.5) / 0.5;
        }
    }
    ModelImage {
        channels,
        height: h,
        width: w,
        data,
    }
}

/// How images are brought to the model's input size, per model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Preprocess {
    /// MUNIT / UNIT `test.py`: the shorter side resized to `new_size` (bilinear, aspect ratio
    /// kept), no crop.
    ShorterSide { new_size: usize },
    /// DRIT's test loader: resized to `resize` x `resize` (bicubic, aspect ratio not kept), then
    /// a centred `crop` x `crop` window. 0 skips that step (the image keeps its own size).
    ResizeCrop { resize: usize, crop: usize },
}

impl std::fmt::Display for Preprocess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Preprocess::ShorterSide { new_size } => write!(f, "shorter side {new_size} px"),
            Preprocess::ResizeCrop { resize, crop } => {
                match resize {
                    0 => write!(f, "own size")?,
                    r => write!(f, "resize {r}x{r}")?,
                }
                match crop {
                    0 => Ok(()),
                    c => write!(f, ", centre crop {c}x{c}"),
                }
            }
        }
    }
}

/// Why an image does not fit a [`Preprocess::ResizeCrop`] window.
fn crop_error(name: &str, width: u32, height: u32, crop: usize) -> ImageError {
    ImageError::Decode {
        path: name.into(),
        detail: format!(
            "{width}x{height} is smaller than the {crop}x{crop} crop; pass a larger --resize-size \
             or a smaller --crop-size"
        ),
    }
}

/// Prepares an image for a model with `channels` (1 or 3) input channels.
pub fn preprocess_with(
    img: &DynamicImage,
    how: Preprocess,
    channels: usize,
    name: &str,
) -> Result<ModelImage, ImageError> {
    let (resize, crop) = match how {
        Preprocess::ShorterSide { new_size } => return preprocess(img, new_size, channels, name),
        Preprocess::ResizeCrop { resize, crop } => (resize, crop),
    };
    if resize > MAX_MODEL_SIDE {
        return Err(ImageError::AspectRatio {
            path: name.into(),
            width: img.width(),
            height: img.height(),
            new_size: resize,
            rw: resize,
            rh: resize,
        });
    }
    let resized =
        if resize == 0 || (img.width() as usize, img.height() as usize) == (resize, resize) {
            img.to_rgb32f()
        } else {
            // CatmullRom is the a = -0.5 cubic of PIL's BICUBIC, widened when downscaling like PIL.
            img.resize_exact(resize as u32, resize as u32, FilterType::CatmullRom)
                .to_rgb32f()
        };
    let (w, h) = resized.dimensions();
    let cropped = if crop == 0 {
        resized
    } else {
        if (w as usize) < crop || (h as usize) < crop {
            return Err(crop_error(name, w, h, crop));
        }
        // torchvision's CenterCrop: offsets round((side - crop) / 2).
        let left = ((w as f64 - crop as f64) / 2.0).round() as u32;
        let top = ((h as f64 - crop as f64) / 2.0).round() as u32;
        image::imageops::crop_imm(&resized, left, top, crop as u32, crop as u32).to_image()
    };
    let (w, h) = (cropped.width() as usize, cropped.height() as usize);
    if w.max(h) > MAX_MODEL_SIDE {
        return Err(ImageError::AspectRatio {
            path: name.into(),
            width: img.width(),
            height: img.height(),
            new_size: w.min(h),
            rw: w,
            rh: h,
        });
    }
    Ok(to_model_image(&cropped, channels))
}

/// Quantises one output value in [-1, 1] to 8 bits: `round(clamp((y + 1) / 2) * 255)`.
pub fn to_u8(y: f32) -> u8 {
    (((y + 1.0) * 0.5).clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Turns a decoded `[channels, height, width]` tensor (values in [-1, 1]) into an RGB image;
/// one channel is shown as gray.
pub fn image_from_chw(data: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
    let plane = height * width;
    assert_eq!(
        data.len(),
        channels * plane,
        "tensor size matches its shape"
    );
    RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        let channel = |c: usize| to_u8(data[if channels == 1 { i } else { c * plane + i }]);
        image::Rgb([channel(0), channel(1), channel(2)])
    })
}

/// Encodes PNG bytes.
pub fn png_bytes(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("PNG encoding to memory succeeds");
    out
}

/// Saves a PNG atomically; never replaces an existing file unless `overwrite`.
pub fn save_png(path: &Path, img: &RgbImage, overwrite: bool) -> Result<(), ImageError> {
    super::atomic::write_atomic(path, &png_bytes(img), overwrite).map_err(|source| {
        ImageError::Write {
            path: path.display().to_string(),
            source,
        }
    })
}

/// Saves a grey PNG (a mask) atomically; never replaces an existing file unless `overwrite`.
pub fn save_gray_png(
    path: &Path,
    img: &image::GrayImage,
    overwrite: bool,
) -> Result<(), ImageError> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("PNG encoding to memory succeeds");
    super::atomic::write_atomic(path, &bytes, overwrite).map_err(|source| ImageError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files over the size limit are refused unread; an image larger than the room left is
    /// refused before it is decoded.
    #[test]
    fn files_and_images_beyond_the_limits_are_refused_first() {
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.png");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let err = load_image(&huge).unwrap_err().to_string();
        assert!(err.contains("are not read"), "{err}");
        let small = dir.path().join("small.png");
        RgbImage::new(100, 50).save(&small).unwrap();
        assert!(load_image_within(&small, 100 * 50 * 3).is_ok());
        let err = load_image_within(&small, 100 * 50 * 3 - 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("room for"), "{err}");
    }

    #[test]
    fn resize_keeps_aspect_like_torchvision() {
        assert_eq!(resized_size(341, 256, 256), (341, 256));
        assert_eq!(resized_size(512, 1024, 256), (256, 512));
        assert_eq!(resized_size(300, 451, 128), (128, 192)); // 192.42 truncates
    }

    #[test]
    fn quantisation_matches_official_mapping() {
        assert_eq!(to_u8(-1.0), 0);
        assert_eq!(to_u8(1.0), 255);
        assert_eq!(to_u8(0.0), 128); // 127.5 rounds half away from zero
        assert_eq!(to_u8(5.0), 255);
        assert_eq!(to_u8(f32::NAN), 0);
    }

    #[test]
    fn resize_crop_takes_the_centre_window() {
        // A 6x4 image whose pixel value encodes its column; crop 2 of a 4x4 resize keeps the
        // middle; resize 0 keeps the image and crops its centre.
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(6, 4, |x, _| {
            image::Rgb([x as u8 * 40, 0, 0])
        }));
        let own =
            preprocess_with(&img, Preprocess::ResizeCrop { resize: 0, crop: 2 }, 3, "x").unwrap();
        assert_eq!((own.width, own.height), (2, 2));
        assert_eq!(own.data[0], (80.0f32 / 255.0 - 0.5) / 0.5);
        let square =
            preprocess_with(&img, Preprocess::ResizeCrop { resize: 4, crop: 0 }, 1, "x").unwrap();
        assert_eq!((square.width, square.height, square.channels), (4, 4, 1));
        let err = preprocess_with(&img, Preprocess::ResizeCrop { resize: 0, crop: 5 }, 3, "x")
            .unwrap_err();
        assert!(err.to_string().contains("5x5 crop"), "{err}");
    }

    #[test]
    fn eight_bit_values_map_exactly() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 2, image::Rgb([0, 51, 255])));
        let m = preprocess(&img, 2, 3, "x").unwrap();
        assert_eq!(m.data[0], -1.0);
        assert_eq!(m.data[4], (51.0f32 / 255.0 - 0.5) / 0.5);
        assert_eq!(m.data[8], 1.0);
    }
}
