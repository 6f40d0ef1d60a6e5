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
    Error(String),
}

/// Reads an image file, named by its file name.
pub fn image_file(path: &Path, as_style: bool) -> Incoming {
    match crate::io::image::load_image(path) {
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
/// become the style reference).
pub fn drops(ctx: &egui::Context, style_zone: Option<egui::Rect>) -> Vec<Incoming> {
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
                    None => image_file(&path, as_style),
                }
            } else {
                // No local path (e.g. a drop from a browser): read what the integration has.
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "dropped file".into());
                let decoded = file.bytes().and_then(|bytes| {
                    crate::io::image::decode_image(&bytes, &name).map_err(|e| e.to_string())
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

/// Images pasted this frame (Ctrl+V with an image on the clipboard), named `pasted-<n>` from
/// `first_number` on.
pub fn pastes(ctx: &egui::Context, first_number: u64) -> Vec<Incoming> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    let pasted: Vec<Arc<egui::ColorImage>> = ctx.input(|i| {
        i.events
            .iter()
            .filter_map(|e| match e {
                egui::Event::PasteImage(img) => Some(img.clone()),
                _ => None,
            })
            .collect()
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
        .collect()
}
