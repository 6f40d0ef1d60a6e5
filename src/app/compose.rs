//! Composing export files: output PNGs (optionally upscaled), labelled grids, interpolation GIFs
//! and strips. All writes are atomic and never replace a file unless asked to.

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage, imageops};

use crate::engine::pca::Pca;
use crate::engine::styles::sample_styles;

/// Gap between grid cells, in pixels.
const GAP: u32 = 4;

/// Nearest-neighbour upscaling by an integer factor (1 returns the image unchanged).
pub fn upscale(image: &RgbImage, factor: u32) -> RgbImage {
    if factor <= 1 {
        return image.clone();
    }
    imageops::resize(
        image,
        image.width() * factor,
        image.height() * factor,
        imageops::FilterType::Nearest,
    )
}

/// Cells in rows (all cells of the largest size; missing ones stay white) with a white gap, a
/// header row of column labels and a left column of row labels (in the UI's own font, so the
/// grid explains itself outside the app).
pub fn grid(rows: &[Vec<RgbImage>], row_labels: &[String], col_labels: &[String]) -> RgbImage {
    let cell_w = rows.iter().flatten().map(|c| c.width()).max().unwrap_or(1);
    let cell_h = rows.iter().flatten().map(|c| c.height()).max().unwrap_or(1);
    let ncols = rows.iter().map(|r| r.len()).max().unwrap_or(0) as u32;
    let nrows = rows.len() as u32;
    let non_empty = |labels: &[String]| labels.iter().any(|l| !l.is_empty());
    let row_labels = if non_empty(row_labels) {
        render_labels(row_labels)
    } else {
        Vec::new()
    };
    let col_labels = if non_empty(col_labels) {
        render_labels(col_labels)
    } else {
        Vec::new()
    };
    let label_w = match row_labels.iter().map(|l| l.width).max() {
        Some(w) => w + 2 * GAP,
        None => 0,
    };
    let top = match col_labels.iter().map(|l| l.height).max() {
        Some(h) => h + GAP,
        None => 0,
    };
    let width = label_w + ncols * (cell_w + GAP) + GAP;
    let height = top + nrows * (cell_h + GAP) + GAP;
    let mut out = RgbImage::from_pixel(width.max(1), height.max(1), Rgb([255, 255, 255]));
    for (c, label) in col_labels.iter().enumerate().take(ncols as usize) {
        let x = label_w + GAP + c as u32 * (cell_w + GAP);
        draw_label(&mut out, label, x, GAP, cell_w);
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + GAP + r as u32 * (cell_h + GAP);
        if let Some(label) = row_labels.get(r) {
            let y_label = (y + cell_h / 2).saturating_sub(label.height / 2);
            draw_label(&mut out, label, GAP, y_label, label_w);
        }
        for (c, cell) in row.iter().enumerate() {
            let x = label_w + GAP + c as u32 * (cell_w + GAP);
            imageops::replace(&mut out, cell, x as i64, y as i64);
        }
    }
    out
}

/// Frames side by side with a gap.
/// Effect maps as one labelled row: the translation they were measured on (when given), then
/// each direction's heat map on one colour scale (white = the largest change of any map).
pub fn effects_grid(
    translation: Option<RgbImage>,
    maps: &crate::engine::effects::EffectMaps,
    labels: &[String],
) -> RgbImage {
    let scale = maps.max().max(1e-12);
    let mut cells = Vec::new();
    let mut names = Vec::new();
    if let Some(translation) = translation {
        cells.push(translation);
        names.push("translation".to_string());
    }
    for (map, label) in maps.maps.iter().zip(labels) {
        cells.push(heat_map(map, maps.width, maps.height, scale));
        names.push(label.clone());
    }
    grid(&[cells], &[String::new()], &names)
}

/// Names of effect-map directions: `"{name} k"` for the code's own dimensions, `"PC k"` for
/// principal axes (directions that move more than one coordinate).
pub fn direction_labels(directions: &[Vec<f32>], name: &str) -> Vec<String> {
    let principal = directions
        .iter()
        .any(|d| d.iter().filter(|v| **v != 0.0).count() > 1);
    (1..=directions.len())
        .map(|k| match principal {
            true => format!("PC {k}"),
            false => format!("{name} {k}"),
        })
        .collect()
}

pub fn strip(frames: &[RgbImage]) -> RgbImage {
    grid(&[frames.to_vec()], &[], &[])
}

/// An endlessly looping GIF of the frames, `delay_ms` each.
pub fn gif_bytes(frames: &[RgbImage], delay_ms: u32) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        for frame in frames {
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(frame.clone()).to_rgba8();
            encoder.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(delay_ms, 1),
            ))?;
        }
    }
    Ok(bytes)
}

/// A map of non-negative values as a black -> red -> yellow -> white picture, `scale` at white.
pub fn heat_map(values: &[f32], width: usize, height: usize, scale: f32) -> RgbImage {
    let scale = scale.max(1e-12);
    RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let t = (values[y as usize * width + x as usize] / scale).clamp(0.0, 1.0) * 3.0;
        let channel = |from: f32| ((t - from).clamp(0.0, 1.0) * 255.0).round() as u8;
        Rgb([channel(0.0), channel(1.0), channel(2.0)])
    })
}

/// Prior samples drawn faintly behind a style map.
pub const MAP_PRIOR_SAMPLES: usize = 500;

/// The N(0, I) prior's samples (a fixed draw) on a style map's plane.
pub fn prior_on_map(pca: &Pca) -> Vec<[f32; 2]> {
    (sample_styles(MAP_PRIOR_SAMPLES, pca.dim(), 0).iter())
        .map(|c| pca.plane(c))
        .collect()
}

/// A style map as a picture: each code (with its thumbnail) at its coordinates on the first two
/// axes of `pca`, over the faint dots of the prior's samples, axes through the mean labelled
/// with their share of the variance, and an optional `marker` code (the current one) as a ring.
/// `side` is the plot's width and height in pixels.
pub fn style_map(
    pca: &Pca,
    codes: &[(&[f32], RgbImage)],
    marker: Option<&[f32]>,
    side: u32,
) -> RgbImage {
    let points: Vec<([f32; 2], &RgbImage)> = codes.iter().map(|(c, t)| (pca.plane(c), t)).collect();
    let prior = prior_on_map(pca);
    let ratio = pca.explained_variance_ratio();
    let explained = [ratio[0], ratio.get(1).copied().unwrap_or(0.0)];
    let marker = marker.map(|m| pca.plane(m));
    let side = side.max(64);
    let mut image = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    let extent = points
        .iter()
        .map(|(p, _)| *p)
        .chain(marker)
        .flat_map(|[x, y]| [x.abs(), y.abs()])
        .filter(|v| v.is_finite())
        .fold(1e-6f32, f32::max)
        * 1.15;
    let thumb = (side / 12).clamp(16, 64);
    let margin = thumb as f32 / 2.0 + 2.0;
    let to_pixel = |[x, y]: [f32; 2]| {
        let half = (side as f32 - 2.0 * margin) / 2.0;
        let c = side as f32 / 2.0;
        [c + x / extent * half, c - y / extent * half]
    };
    let put = |image: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>| {
        if (0..side as i64).contains(&x) && (0..side as i64).contains(&y) {
            image.put_pixel(x as u32, y as u32, colour);
        }
    };
    // Axes through the mean.
    let centre = (side / 2) as i64;
    for i in 0..side as i64 {
        put(&mut image, i, centre, Rgb([200, 200, 200]));
        put(&mut image, centre, i, Rgb([200, 200, 200]));
    }
    for p in &prior {
        let [px, py] = to_pixel(*p);
        put(
            &mut image,
            px.round() as i64,
            py.round() as i64,
            Rgb([215, 215, 235]),
        );
    }
    for (p, picture) in &points {
        let [px, py] = to_pixel(*p);
        let small = imageops::resize(*picture, thumb, thumb, imageops::FilterType::Triangle);
        let (x, y) = (
            px.round() as i64 - thumb as i64 / 2,
            py.round() as i64 - thumb as i64 / 2,
        );
        for (tx, ty, colour) in small.enumerate_pixels() {
            put(&mut image, x + i64::from(tx), y + i64::from(ty), *colour);
        }
    }
    if let Some(m) = marker {
        ring(&mut image, to_pixel(m), thumb as f32 / 2.0 + 3.0);
    }
    let texts = [
        format!("PC1 ({:.1} % of the variance)", explained[0] * 100.0),
        format!("PC2 ({:.1} %)", explained[1] * 100.0),
    ];
    let labels = render_labels(&texts);
    let x1 = side.saturating_sub(labels[0].width + GAP);
    let y1 = (side / 2).saturating_sub(labels[0].height + 2);
    draw_label(&mut image, &labels[0], x1, y1, side);
    draw_label(&mut image, &labels[1], side / 2 + GAP, GAP, side);
    image
}

/// A red ring, 3 px wide, of inner radius `r` around `centre`.
fn ring(image: &mut RgbImage, [cx, cy]: [f32; 2], r: f32) {
    for step in 0..720 {
        let a = step as f32 * std::f32::consts::PI / 360.0;
        for w in 0..3 {
            let rr = r + w as f32;
            let (x, y) = ((cx + rr * a.cos()).round(), (cy + rr * a.sin()).round());
            if x >= 0.0 && y >= 0.0 && (x as u32) < image.width() && (y as u32) < image.height() {
                image.put_pixel(x as u32, y as u32, Rgb([220, 40, 40]));
            }
        }
    }
}

/// A label rendered with egui's own proportional font and rasteriser (as the UI draws text):
/// coverage per pixel, row-major.
struct Label {
    width: u32,
    height: u32,
    alpha: Vec<u8>,
}

/// Label text size, in pixels.
const LABEL_SIZE: f32 = 13.0;

/// Renders labels with one set of fonts.
fn render_labels<'a>(texts: impl IntoIterator<Item = &'a String>) -> Vec<Label> {
    use egui::epaint::text::{FontDefinitions, Fonts, TextOptions};
    let mut fonts = Fonts::new(TextOptions::default(), FontDefinitions::default());
    let mut view = fonts.with_pixels_per_point(1.0);
    let galleys: Vec<_> = texts
        .into_iter()
        .map(|text| {
            let font = egui::FontId::proportional(LABEL_SIZE);
            view.layout_no_wrap(text.clone(), font, egui::Color32::BLACK)
        })
        .collect();
    // The atlas holds every glyph once all labels are laid out.
    let atlas = view.image();
    galleys
        .iter()
        .map(|galley| {
            let size = galley.size();
            let (width, height) = (size.x.ceil() as u32, size.y.ceil() as u32);
            let mut alpha = vec![0u8; (width * height) as usize];
            for placed in &galley.rows {
                for glyph in &placed.row.glyphs {
                    let uv = glyph.uv_rect;
                    if uv.is_nothing() {
                        continue;
                    }
                    let left = (placed.pos.x + glyph.pos.x + uv.offset.x).round() as i64;
                    let top = (placed.pos.y + glyph.pos.y + uv.offset.y).round() as i64;
                    for ty in uv.min[1]..uv.max[1] {
                        for tx in uv.min[0]..uv.max[0] {
                            let x = left + i64::from(tx - uv.min[0]);
                            let y = top + i64::from(ty - uv.min[1]);
                            if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                                let a = atlas[(tx as usize, ty as usize)].a();
                                let i = (y as u32 * width + x as u32) as usize;
                                alpha[i] = alpha[i].max(a);
                            }
                        }
                    }
                }
            }
            Label {
                width,
                height,
                alpha,
            }
        })
        .collect()
}

/// Draws a label in black at (x, y), clipped to `max_width` and the image.
fn draw_label(image: &mut RgbImage, label: &Label, x: u32, y: u32, max_width: u32) {
    for ly in 0..label.height {
        for lx in 0..label.width.min(max_width) {
            let a = label.alpha[(ly * label.width + lx) as usize] as u32;
            let (px, py) = (x + lx, y + ly);
            if a == 0 || px >= image.width() || py >= image.height() {
                continue;
            }
            let pixel = image.get_pixel_mut(px, py);
            for c in &mut pixel.0 {
                *c = ((*c as u32 * (255 - a) + 127) / 255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_cells_and_labels() {
        let red = RgbImage::from_pixel(8, 8, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(8, 8, Rgb([0, 0, 255]));
        let g = grid(
            &[vec![red.clone(), blue.clone()], vec![blue, red]],
            &["A".into(), "B".into()],
            &["1".into(), "2".into()],
        );
        let rows = render_labels(&["A".to_string(), "B".to_string()]);
        let cols = render_labels(&["1".to_string(), "2".to_string()]);
        let label_w = rows.iter().map(|l| l.width).max().unwrap() + 2 * GAP;
        let top = cols.iter().map(|l| l.height).max().unwrap() + GAP;
        assert!(rows[0].alpha.iter().any(|a| *a > 200), "glyphs are drawn");
        assert_eq!(g.width(), label_w + 2 * (8 + GAP) + GAP);
        assert_eq!(g.height(), top + 2 * (8 + GAP) + GAP);
        assert_eq!(*g.get_pixel(label_w + GAP, top + GAP), Rgb([255, 0, 0]));
        assert_eq!(
            *g.get_pixel(label_w + 2 * GAP + 8, top + GAP),
            Rgb([0, 0, 255])
        );
        // Some label pixels are black.
        assert!(g.pixels().any(|p| *p == Rgb([0, 0, 0])));
    }

    #[test]
    fn gif_round_trips() {
        let frames: Vec<_> = (0..3)
            .map(|i| RgbImage::from_pixel(6, 4, Rgb([i * 100, 0, 0])))
            .collect();
        let bytes = gif_bytes(&frames, 80).unwrap();
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        use image::AnimationDecoder;
        let decoded: Vec<_> = decoder.into_frames().collect::<Result<_, _>>().unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[2].buffer().get_pixel(0, 0)[0], 200);
    }
}
