//! Files dropped on the window and images pasted into it, read into what the app should do with
//! them. Bad files become an error message and change nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;

use crate::engine::worker::ModelSource;

/// Something that arrived from outside the window.
pub enum Incoming {
    Model(ModelSource),
    Image {
        name: String,
        path: Option<PathBuf>,
        image: Arc<DynamicImage>,
        /// Dropped on the style zone: a style reference, not a content image.
        as_style: bool,
    },
    /// A style code pasted as text (what "Copy style code" puts on the clipboard).
    StyleCode(Vec<f32>),
    Error(String),
}

/// Reads an image file, named by its file name, if the image set has room for it (`budget`:
/// bytes it may still take; `None`: no room at all, see [`crate::app::state::ImageBudget`]).
pub fn image_file(path: &Path, as_style: bool, budget: Result<u64, String>) -> Incoming {
    let budget = match budget {
        Ok(bytes) => bytes,
        Err(e) => return Incoming::Error(format!("{}: {e}", file_name(path))),
    };
    match crate::io::image::load_image_within(path, budget) {
        Ok(image) => Incoming::Image {
            name: file_name(path),
            path: Some(path.to_path_buf()),
            image: Arc::new(image),
            as_style,
        },
        Err(e) => Incoming::Error(e.to_string()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Files dropped this frame: models open, images join the set (dropped on `style_zone`, they
/// become the style reference) while it has room (`budget`, as for [`image_file`]).
pub fn drops(
    ctx: &egui::Context,
    style_zone: Option<egui::Rect>,
    budget: Result<u64, String>,
) -> Vec<Incoming> {
    let (dropped, pointer) = ctx.input(|i| (i.raw.dropped_files.clone(), i.pointer.latest_pos()));
    if dropped.is_empty() {
        return Vec::new();
    }
    let as_style = matches!((pointer, style_zone), (Some(p), Some(zone)) if zone.contains(p));
    dropped
        .into_iter()
        .map(|file| {
            let path = file.path().to_path_buf();
            if path.exists() {
                match ModelSource::for_path(&path) {
                    Some(model) => Incoming::Model(model),
                    None => image_file(&path, as_style, budget.clone()),
                }
            } else {
                // No local path (e.g. a drop from a browser): read what the integration has.
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "dropped file".into());
                let decoded = budget.clone().and_then(|budget| {
                    let bytes = file.bytes()?;
                    crate::io::image::decode_image_within(&bytes, &name, budget)
                        .map_err(|e| e.to_string())
                });
                match decoded {
                    Ok(image) => Incoming::Image {
                        name,
                        path: None,
                        image: Arc::new(image),
                        as_style,
                    },
                    Err(e) => Incoming::Error(e),
                }
            }
        })
        .collect()
}

/// A style code in pasted text: a JSON array (as "Copy style code" writes it) or numbers
/// separated by commas or spaces. `None` if the text is anything else.
pub fn parse_pasted_code(text: &str) -> Option<Vec<f32>> {
    let text = text.trim();
    let code: Vec<f32> = match serde_json::from_str(text) {
        Ok(code) => code,
        Err(_) => text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().ok())
            .collect::<Option<_>>()?,
    };
    (!code.is_empty() && code.iter().all(|v| v.is_finite())).then_some(code)
}

/// Images (Ctrl+V with an image on the clipboard, named `pasted-<n>` from `first_number` on)
/// and style codes pasted this frame, while no text field has the keyboard.
pub fn pastes(ctx: &egui::Context, first_number: u64) -> Vec<Incoming> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    let (pasted, texts): (Vec<Arc<egui::ColorImage>>, Vec<String>) = ctx.input(|i| {
        let images = (i.events.iter())
            .filter_map(|e| match e {
                egui::Event::PasteImage(img) => Some(img.clone()),
                _ => None,
            })
            .collect();
        let texts = (i.events.iter())
            .filter_map(|e| match e {
                egui::Event::Paste(text) => Some(text.clone()),
                _ => None,
            })
            .collect();
        (images, texts)
    });
    let codes = texts
        .into_iter()
        .map(|text| match parse_pasted_code(&text) {
            Some(code) => Incoming::StyleCode(code),
            None => Incoming::Error("The pasted text is not a style code".into()),
        });
    pasted
        .into_iter()
        .zip(first_number..)
        .map(|(color, number)| {
            let [w, h] = color.size;
            let rgba: Vec<u8> = color.pixels.iter().flat_map(|p| p.to_array()).collect();
            match image::RgbaImage::from_raw(w as u32, h as u32, rgba) {
                Some(img) => Incoming::Image {
                    name: format!("pasted-{number}"),
                    path: None,
                    image: Arc::new(DynamicImage::ImageRgba8(img)),
                    as_style: false,
                },
                None => Incoming::Error("The clipboard image could not be read".into()),
            }
        })
        .chain(codes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_pasted_code;

    #[test]
    fn pasted_codes_are_json_or_plain_numbers() {
        assert_eq!(
            parse_pasted_code("[0.5,-1,2e-1]"),
            Some(vec![0.5, -1.0, 0.2])
        );
        assert_eq!(parse_pasted_code(" 1, 2  3\n"), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(parse_pasted_code("hello"), None);
        assert_eq!(parse_pasted_code("[]"), None);
        assert_eq!(parse_pasted_code("1, nan"), None);
    }
}
