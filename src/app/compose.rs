//! Composing export files: output PNGs (optionally upscaled), labelled grids, interpolation GIFs
//! and strips. All writes are atomic and never replace a file unless asked to.

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgb, RgbImage, RgbaImage, imageops};

/// Gap between grid cells, in pixels.
const GAP: u32 = 4;
/// Label strip height above a grid (at scale 1).
const LABEL: u32 = 9;

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
/// header row of column labels and a left column of row labels (drawn with a built-in 3x5 pixel
/// font, so the grid explains itself outside the app).
pub fn grid(rows: &[Vec<RgbImage>], row_labels: &[String], col_labels: &[String]) -> RgbImage {
    let cell_w = rows.iter().flatten().map(|c| c.width()).max().unwrap_or(1);
    let cell_h = rows.iter().flatten().map(|c| c.height()).max().unwrap_or(1);
    let ncols = rows.iter().map(|r| r.len()).max().unwrap_or(0) as u32;
    let nrows = rows.len() as u32;
    let has_col_labels = col_labels.iter().any(|l| !l.is_empty());
    let has_row_labels = row_labels.iter().any(|l| !l.is_empty());
    let label_w = if has_row_labels {
        row_labels.iter().map(|l| text_width(l)).max().unwrap_or(0) + 2 * GAP
    } else {
        0
    };
    let top = if has_col_labels { LABEL + GAP } else { 0 };
    let width = label_w + ncols * (cell_w + GAP) + GAP;
    let height = top + nrows * (cell_h + GAP) + GAP;
    let mut out = RgbImage::from_pixel(width.max(1), height.max(1), Rgb([255, 255, 255]));
    for (c, label) in col_labels.iter().enumerate().take(ncols as usize) {
        let x = label_w + GAP + c as u32 * (cell_w + GAP);
        draw_text(&mut out, label, x, GAP, cell_w);
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + GAP + r as u32 * (cell_h + GAP);
        if let Some(label) = row_labels.get(r) {
            draw_text(&mut out, label, GAP, y + cell_h / 2 - 3, label_w);
        }
        for (c, cell) in row.iter().enumerate() {
            let x = label_w + GAP + c as u32 * (cell_w + GAP);
            imageops::replace(&mut out, cell, x as i64, y as i64);
        }
    }
    out
}

/// Frames side by side with a gap.
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

// A 3x5 pixel font: digits, upper-case letters and a little punctuation, each glyph as 5 rows of
// 3 bits. Lower case is drawn as upper case; unknown characters as a blank.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        '=' => [0, 7, 0, 7, 0],
        ':' => [0, 2, 0, 2, 0],
        '_' => [0, 0, 0, 0, 7],
        '#' => [5, 7, 5, 7, 5],
        '/' => [1, 1, 2, 4, 4],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        _ => [0; 5],
    }
}

fn text_width(text: &str) -> u32 {
    text.chars().count() as u32 * 4
}

/// Draws `text` in black from (x, y), clipped to `max_width`.
fn draw_text(image: &mut RgbImage, text: &str, x: u32, y: u32, max_width: u32) {
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as u32 * 4;
        if gx + 3 > x + max_width {
            break;
        }
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    let (px, py) = (gx + col, y + row as u32);
                    if px < image.width() && py < image.height() {
                        image.put_pixel(px, py, Rgb([0, 0, 0]));
                    }
                }
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
        let label_w = 4 + 2 * GAP;
        let top = LABEL + GAP;
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
