//! How good a line-art -> colour translation is, in numbers a run's checkpoints can be compared
//! by (`stylespace evaluate`). Every input is translated with several styles; per input, its
//! pixels fall into three regions:
//! - **lines**: input pixels darker than [`LINE`];
//! - **outside**: light pixels (at least [`LIGHT`]) reachable from the image border through light
//!   pixels, farther than [`OUTSIDE_MARGIN`] px from any darker pixel (what an artist leaves
//!   untouched around a drawing);
//! - **inside**: the rest (the fills).
//!
//! Images are compared in [0, 1] values at the model's output size.
//!
//! The outside by flood fill also takes in the fills of shapes whose outline is open (an apple
//! whose stem leaves a gap, a figure cut off by the image border) and whatever a design colours
//! beyond its lines (a sky, water): the real OpenMoji colourings of the test glyphs recolour 9 %
//! of it. Where the real target-domain versions of the inputs are at hand ("truths"), the
//! **silhouette outside** is measured too: light input pixels that the real colouring leaves as
//! they are, reachable from the border through such pixels, farther than [`OUTSIDE_MARGIN`] px
//! from any other ([`silhouette_outside`]). A real colouring scores 0 there by construction.

use image::RgbImage;

/// Input pixels darker than this (luma) are the drawing's lines.
pub const LINE: f64 = 0.25;
/// An output pixel darker than this keeps a line.
pub const DARK: f64 = 0.5;
/// Input pixels at least this light connect the outside to the border.
pub const LIGHT: f64 = 0.5;
/// Outside pixels this close (Chebyshev distance) to a darker pixel are left out: anti-aliased
/// edges and the lines' own spread.
pub const OUTSIDE_MARGIN: i64 = 2;
/// How far from the lines (Chebyshev, px) the background counts as where halos form, for the
/// training term of `ms_form: contrast` ([`halo_mask`]).
pub const HALO_BAND: i64 = 8;
/// An outside pixel counts as recoloured when a channel moved more than this.
pub const CHANGED: f64 = 0.1;

/// Luma of an RGB pixel, 0..=1.
pub fn luma(p: &image::Rgb<u8>) -> f64 {
    (0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64) / 255.0
}

/// HSV saturation, 0..=1 (0 for black).
pub fn saturation(p: &image::Rgb<u8>) -> f64 {
    let max = *p.0.iter().max().unwrap() as f64;
    let min = *p.0.iter().min().unwrap() as f64;
    if max == 0.0 { 0.0 } else { (max - min) / max }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Line,
    Outside,
    Inside,
}

/// Each pixel's region (row-major).
pub fn regions(input: &RgbImage) -> Vec<Region> {
    let (_, reached, near) = background_near(input, OUTSIDE_MARGIN);
    input
        .pixels()
        .enumerate()
        .map(|(i, p)| {
            if luma(p) < LINE {
                Region::Line
            } else if reached[i] && !near[i] {
                Region::Outside
            } else {
                Region::Inside
            }
        })
        .collect()
}

/// Whether an output pixel on one of the input's lines keeps it (is dark enough).
fn keeps_line(out_px: &image::Rgb<u8>) -> bool {
    luma(out_px) < DARK
}

/// Whether an output pixel outside the drawing was recoloured (a channel moved more than
/// [`CHANGED`] from the input's).
fn recoloured(in_px: &image::Rgb<u8>, out_px: &image::Rgb<u8>) -> bool {
    (0..3).any(|c| (out_px.0[c] as f64 - in_px.0[c] as f64).abs() / 255.0 > CHANGED)
}

/// Colour of a recoloured outside pixel in [`fault_map`].
pub const FAULT_OUTSIDE: image::Rgb<u8> = image::Rgb([255, 0, 255]);
/// Colour of a lost line pixel in [`fault_map`].
pub const FAULT_LINE: image::Rgb<u8> = image::Rgb([0, 200, 255]);

/// Where one translation loses the numbers: `output` faded towards white, with the outside
/// pixels it recoloured painted [`FAULT_OUTSIDE`] and the input's line pixels it lost painted
/// [`FAULT_LINE`] (the pixels [`Tally`] counts against it). With the input's real colouring
/// `truth`, the outside is the silhouette outside. `output` may be smaller than `input` (the
/// images are read from their top-left corners, as [`Tally::add`] does).
pub fn fault_map(input: &RgbImage, output: &RgbImage, truth: Option<&RgbImage>) -> RgbImage {
    let (w, h) = output.dimensions();
    let input = image::imageops::crop_imm(input, 0, 0, w, h).to_image();
    let regions = regions(&input);
    let silhouette = cropped_silhouette(&input, truth);
    let mut map = output.clone();
    for (i, ((p, region), in_px)) in map
        .pixels_mut()
        .zip(regions)
        .zip(input.pixels())
        .enumerate()
    {
        let outside = match &silhouette {
            Some(s) => s[i],
            None => region == Region::Outside,
        };
        *p = match region {
            Region::Line if !keeps_line(p) => FAULT_LINE,
            _ if outside && recoloured(in_px, p) => FAULT_OUTSIDE,
            // Faded to a third of its contrast, so the faults stand out.
            _ => image::Rgb(p.0.map(|v| 255 - (255 - v) / 3)),
        };
    }
    map
}

/// Which pixels are light (at least [`LIGHT`]), and which of those are reachable from the
/// image border through light pixels (the background around the drawing, up to its lines).
fn background(input: &RgbImage) -> (Vec<bool>, Vec<bool>) {
    let (w, h) = (input.width() as i64, input.height() as i64);
    let light: Vec<bool> = input.pixels().map(|p| luma(p) >= LIGHT).collect();
    let reached = flood_from_border(&light, w, h);
    (light, reached)
}

/// The pixels reachable from the image border through pixels where `pass` holds (4-connected).
fn flood_from_border(pass: &[bool], w: i64, h: i64) -> Vec<bool> {
    let index = |x: i64, y: i64| (y * w + x) as usize;
    let mut reached = vec![false; pass.len()];
    let mut stack: Vec<(i64, i64)> = Vec::new();
    for x in 0..w {
        stack.push((x, 0));
        stack.push((x, h - 1));
    }
    for y in 0..h {
        stack.push((0, y));
        stack.push((w - 1, y));
    }
    while let Some((x, y)) = stack.pop() {
        if x < 0 || y < 0 || x >= w || y >= h {
            continue;
        }
        let i = index(x, y);
        if reached[i] || !pass[i] {
            continue;
        }
        reached[i] = true;
        stack.extend([(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)]);
    }
    reached
}

/// Where a translation of `input` should leave it as drawn: 1 on its lines and on the whole
/// background around the drawing, right up to the lines (the measured outside region without its
/// margin: colour bleeding into that margin is where halos start), 0 inside (row-major, one
/// value per pixel). The training loss of `keep_w` uses it.
pub fn keep_mask(input: &RgbImage) -> Vec<f32> {
    let (_, reached) = background(input);
    input
        .pixels()
        .zip(reached)
        .map(|(p, reached)| if reached || luma(p) < LINE { 1.0 } else { 0.0 })
        .collect()
}

/// [`keep_mask`] with the background taken from the real colouring `truth` of `input` (same
/// size) instead of a flood fill of the lines: 1 on the lines and on the light input pixels the
/// real colouring leaves as they are, reachable from the border through such pixels; 0 where
/// the design puts colour (the fills of open outlines and skies included) and in enclosed
/// white areas. The training loss of `keep_w` uses it with `keep_region: silhouette`.
pub fn silhouette_keep_mask(input: &RgbImage, truth: &RgbImage) -> Vec<f32> {
    let reached = flood_from_border(
        &unrecoloured_background(input, truth),
        input.width() as i64,
        input.height() as i64,
    );
    input
        .pixels()
        .zip(reached)
        .map(|(p, reached)| if reached || luma(p) < LINE { 1.0 } else { 0.0 })
        .collect()
}

/// Light input pixels that the real colouring `truth` (same size) leaves as they are.
fn unrecoloured_background(input: &RgbImage, truth: &RgbImage) -> Vec<bool> {
    input
        .pixels()
        .zip(truth.pixels())
        .map(|(p, t)| luma(p) >= LIGHT && !recoloured(p, t))
        .collect()
}

/// The drawing's lines: 1 on input pixels darker than [`LINE`], 0 elsewhere (row-major, one
/// value per pixel). The training term of `line_w` holds translations to the input there.
pub fn line_mask(input: &RgbImage) -> Vec<f32> {
    input
        .pixels()
        .map(|p| if luma(p) < LINE { 1.0 } else { 0.0 })
        .collect()
}

/// Where the fills of a drawing are (the mode-seeking term of `ms_w` compares styles there): 1
/// on light pixels enclosed by the lines, farther than [`OUTSIDE_MARGIN`] px from any darker
/// pixel, so that the lines and their anti-aliased edges are not asked to change with the
/// style; 0 elsewhere (row-major, one value per pixel).
pub fn fill_mask(input: &RgbImage) -> Vec<f32> {
    let (light, reached, near) = background_near(input, OUTSIDE_MARGIN);
    (0..light.len())
        .map(|i| {
            if light[i] && !reached[i] && !near[i] {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Where styles are to agree and colour tends to bleed: 1 on the lines and on the background
/// around the drawing within [`HALO_BAND`] px of them, 0 elsewhere (row-major, one value per
/// pixel). The mode-seeking term of `ms_form: contrast` subtracts the styles' difference here.
pub fn halo_mask(input: &RgbImage) -> Vec<f32> {
    let (_, reached, near) = background_near(input, HALO_BAND);
    input
        .pixels()
        .enumerate()
        .map(|(i, p)| {
            if (reached[i] && near[i]) || luma(p) < LINE {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// [`background`], and per pixel whether a pixel that is not light lies within `margin` px.
fn background_near(input: &RgbImage, margin: i64) -> (Vec<bool>, Vec<bool>, Vec<bool>) {
    let (light, reached) = background(input);
    let near = near_dark(&light, input.width() as i64, input.height() as i64, margin);
    (light, reached, near)
}

/// Per pixel: whether a pixel that is not light lies within `m` px (Chebyshev).
fn near_dark(light: &[bool], w: i64, h: i64, m: i64) -> Vec<bool> {
    let index = |x: i64, y: i64| (y * w + x) as usize;
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            (y - m..=y + m).any(|yy| {
                (x - m..=x + m)
                    .any(|xx| xx >= 0 && yy >= 0 && xx < w && yy < h && !light[index(xx, yy)])
            })
        })
        .collect()
}

/// Where the real colouring `truth` of `input` (same size) leaves the background as it is:
/// light input pixels it does not recolour, reachable from the border through such pixels,
/// farther than [`OUTSIDE_MARGIN`] px from any other pixel (row-major, one value per pixel).
pub fn silhouette_outside(input: &RgbImage, truth: &RgbImage) -> Vec<bool> {
    let background = unrecoloured_background(input, truth);
    let (w, h) = (input.width() as i64, input.height() as i64);
    let reached = flood_from_border(&background, w, h);
    let near = near_dark(&background, w, h, OUTSIDE_MARGIN);
    reached.iter().zip(near).map(|(r, n)| *r && !n).collect()
}

/// [`silhouette_outside`] of `input` with `truth` read from its top-left corner at `input`'s
/// size; `None` without a truth or with one smaller than `input`.
fn cropped_silhouette(input: &RgbImage, truth: Option<&RgbImage>) -> Option<Vec<bool>> {
    let (w, h) = input.dimensions();
    let truth = truth.filter(|t| t.width() >= w && t.height() >= h)?;
    let truth = image::imageops::crop_imm(truth, 0, 0, w, h).to_image();
    Some(silhouette_outside(input, &truth))
}

/// Sums over every evaluated input; [`Tally::report`] turns them into the numbers.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    images: usize,
    styles: usize,
    /// (line pixel, style) pairs, and those that stayed dark.
    line: (u64, u64),
    /// (outside pixel, style) pairs, and those recoloured.
    outside: (u64, u64),
    /// The same for the silhouette outside, over the inputs given with their truths.
    silhouette: (u64, u64),
    /// Saturation summed over output pixels inside the drawings, and their count.
    saturation: (f64, u64),
    /// Saturation summed over pixels inside real target-domain drawings, and their count.
    reference: (f64, u64),
    /// Per-image mean per-pixel std across styles (all channels, whole image).
    diversity: f64,
    /// Per-pixel std of luma across styles summed over inside pixels, and their count.
    lightness: (f64, u64),
}

/// The numbers of one evaluation (see the module docs for the regions).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub images: usize,
    pub styles: usize,
    /// Share of the inputs' line pixels that stay dark in the outputs.
    pub line_pixels_kept_dark: f64,
    /// Mean HSV saturation of the outputs inside the drawings (off the lines, not outside): how
    /// strongly the fills are coloured, whatever share of the image is background.
    pub colourfulness: f64,
    /// The same of real target-domain images (inside their own drawings), when given.
    pub reference_colourfulness: Option<f64>,
    /// `colourfulness / reference_colourfulness`.
    pub colourfulness_ratio: Option<f64>,
    /// Mean per-pixel standard deviation across styles (values 0..=1, every channel and pixel).
    pub diversity: f64,
    /// Share of outside pixels whose colour changed (a channel by more than [`CHANGED`]).
    pub outside_changed: f64,
    /// The same on the silhouette outside, when the inputs came with their real colourings.
    pub outside_changed_silhouette: Option<f64>,
    /// Mean per-pixel standard deviation of luma across styles, inside the glyphs: styles that
    /// differ in shading and not only in hue score high.
    pub lightness_spread: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 / whole as f64
    }
}

impl Tally {
    /// One input and its translations (all of one size; the input, and its real colouring
    /// `truth` when given, are cropped to it if larger; a smaller truth is left out).
    pub fn add(&mut self, input: &RgbImage, outputs: &[RgbImage], truth: Option<&RgbImage>) {
        let Some(first) = outputs.first() else {
            return;
        };
        let (w, h) = first.dimensions();
        if outputs.iter().any(|o| o.dimensions() != (w, h))
            || input.width() < w
            || input.height() < h
        {
            return;
        }
        let input = image::imageops::crop_imm(input, 0, 0, w, h).to_image();
        let regions = regions(&input);
        let n = outputs.len() as f64;
        let mut std_sum = 0.0;
        for (i, (region, in_px)) in regions.iter().zip(input.pixels()).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let out_px: Vec<&image::Rgb<u8>> = outputs.iter().map(|o| o.get_pixel(x, y)).collect();
            for c in 0..3 {
                let values = out_px.iter().map(|p| p.0[c] as f64 / 255.0);
                std_sum += std_dev(values, n);
            }
            match region {
                Region::Line => {
                    self.line.0 += out_px.len() as u64;
                    self.line.1 += out_px.iter().filter(|p| keeps_line(p)).count() as u64;
                }
                Region::Outside => {
                    self.outside.0 += out_px.len() as u64;
                    self.outside.1 += out_px.iter().filter(|p| recoloured(in_px, p)).count() as u64;
                }
                Region::Inside => {
                    self.lightness.0 += std_dev(out_px.iter().map(|p| luma(p)), n);
                    self.lightness.1 += 1;
                    self.saturation.0 += out_px.iter().map(|p| saturation(p)).sum::<f64>();
                    self.saturation.1 += out_px.len() as u64;
                }
            }
        }
        if let Some(outside) = cropped_silhouette(&input, truth) {
            for ((i, in_px), _) in input
                .pixels()
                .enumerate()
                .zip(&outside)
                .filter(|(_, o)| **o)
            {
                let (x, y) = (i as u32 % w, i as u32 / w);
                self.silhouette.0 += outputs.len() as u64;
                self.silhouette.1 += outputs
                    .iter()
                    .filter(|o| recoloured(in_px, o.get_pixel(x, y)))
                    .count() as u64;
            }
        }
        self.diversity += std_sum / (w * h * 3) as f64;
        self.images += 1;
        self.styles = outputs.len();
    }

    /// A real image of the target domain, for the colourfulness the outputs are compared with.
    pub fn add_reference(&mut self, real: &RgbImage) {
        let inside = regions(real).into_iter().map(|r| r == Region::Inside);
        for (p, _) in real.pixels().zip(inside).filter(|(_, inside)| *inside) {
            self.reference.0 += saturation(p);
            self.reference.1 += 1;
        }
    }

    pub fn report(&self) -> Report {
        let colourfulness = self.saturation.0 / self.saturation.1.max(1) as f64;
        let reference = (self.reference.1 > 0).then(|| self.reference.0 / self.reference.1 as f64);
        Report {
            images: self.images,
            styles: self.styles,
            line_pixels_kept_dark: ratio(self.line.1, self.line.0),
            colourfulness,
            reference_colourfulness: reference,
            colourfulness_ratio: reference.filter(|r| *r > 0.0).map(|r| colourfulness / r),
            diversity: self.diversity / self.images.max(1) as f64,
            outside_changed: ratio(self.outside.1, self.outside.0),
            outside_changed_silhouette: (self.silhouette.0 > 0)
                .then(|| ratio(self.silhouette.1, self.silhouette.0)),
            lightness_spread: self.lightness.0 / self.lightness.1.max(1) as f64,
        }
    }
}

/// Columns of an evaluation table (`evaluation.csv`), after `iteration`.
const COLUMNS: [&str; 10] = [
    "images",
    "styles",
    "line_pixels_kept_dark",
    "colourfulness",
    "reference_colourfulness",
    "colourfulness_ratio",
    "diversity",
    "outside_changed",
    "lightness_spread",
    "outside_changed_silhouette",
];

/// A table of evaluations of one run's generators, one row per iteration, as `stylespace
/// evaluate --history` keeps it: a `# settings` line (what the numbers were measured with: rows
/// measured otherwise are not comparable), a header, then the rows in iteration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    pub settings: String,
    pub rows: Vec<(u64, Report)>,
}

impl History {
    pub fn to_csv(&self) -> String {
        let mut text = format!(
            "# {}
iteration,{}
",
            self.settings,
            COLUMNS.join(",")
        );
        for (iteration, r) in &self.rows {
            let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            text += &format!(
                "{iteration},{},{},{},{},{},{},{},{},{},{}\n",
                r.images,
                r.styles,
                r.line_pixels_kept_dark,
                r.colourfulness,
                optional(r.reference_colourfulness),
                optional(r.colourfulness_ratio),
                r.diversity,
                r.outside_changed,
                r.lightness_spread,
                optional(r.outside_changed_silhouette)
            );
        }
        text
    }

    /// Reads a table [`History::to_csv`] wrote; anything else is an error naming the line.
    pub fn from_csv(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let settings = lines
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .ok_or("the first line is not a `# settings` line")?
            .to_string();
        // Tables written before the silhouette column lack it.
        let columns = match lines.next() {
            Some(h) if h == format!("iteration,{}", COLUMNS.join(",")) => COLUMNS.len(),
            Some(h) if h == format!("iteration,{}", COLUMNS[..COLUMNS.len() - 1].join(",")) => {
                COLUMNS.len() - 1
            }
            _ => return Err("the second line is not the evaluation table's header".into()),
        };
        let mut rows: Vec<(u64, Report)> = Vec::new();
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |what: &str| format!("line {}: {what}", n + 3);
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != columns + 1 {
                return Err(bad("wrong number of fields"));
            }
            let number = |i: usize| -> Result<f64, String> {
                fields[i].parse::<f64>().map_err(|_| bad("not a number"))
            };
            let optional = |i: usize| -> Result<Option<f64>, String> {
                if fields[i].is_empty() {
                    Ok(None)
                } else {
                    number(i).map(Some)
                }
            };
            let count = |i: usize| fields[i].parse::<usize>().map_err(|_| bad("not a count"));
            let iteration = fields[0]
                .parse::<u64>()
                .map_err(|_| bad("not an iteration"))?;
            if rows.last().is_some_and(|(last, _)| *last >= iteration) {
                return Err(bad("iterations out of order"));
            }
            rows.push((
                iteration,
                Report {
                    images: count(1)?,
                    styles: count(2)?,
                    line_pixels_kept_dark: number(3)?,
                    colourfulness: number(4)?,
                    reference_colourfulness: optional(5)?,
                    colourfulness_ratio: optional(6)?,
                    diversity: number(7)?,
                    outside_changed: number(8)?,
                    lightness_spread: number(9)?,
                    outside_changed_silhouette: if columns > 9 { optional(10)? } else { None },
                },
            ));
        }
        Ok(History { settings, rows })
    }

    /// Adds or replaces the row of `iteration`, keeping iteration order.
    pub fn insert(&mut self, iteration: u64, report: Report) {
        match self.rows.binary_search_by_key(&iteration, |r| r.0) {
            Ok(i) => self.rows[i].1 = report,
            Err(i) => self.rows.insert(i, (iteration, report)),
        }
    }

    pub fn get(&self, iteration: u64) -> Option<&Report> {
        self.rows
            .binary_search_by_key(&iteration, |r| r.0)
            .ok()
            .map(|i| &self.rows[i].1)
    }
}

/// Population standard deviation of `n` values.
fn std_dev(values: impl Iterator<Item = f64> + Clone, n: f64) -> f64 {
    let mean = values.clone().sum::<f64>() / n;
    (values.map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
    const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

    /// A 32 px black ring (radius 9..11) on white.
    fn ring() -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| {
            let d2 = (x as i32 - 16).pow(2) + (y as i32 - 16).pow(2);
            if (81..=121).contains(&d2) {
                BLACK
            } else {
                WHITE
            }
        })
    }

    /// The ring with its inside filled with `fill` and its outside painted `outside`.
    fn coloured(fill: Rgb<u8>, outside: Rgb<u8>, keep_lines: bool) -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| {
            let d2 = (x as i32 - 16).pow(2) + (y as i32 - 16).pow(2);
            match d2 {
                0..81 => fill,
                81..=121 if keep_lines => BLACK,
                81..=121 => fill,
                _ => outside,
            }
        })
    }

    #[test]
    fn regions_split_lines_fills_and_the_outside_with_a_margin() {
        let input = ring();
        let r = regions(&input);
        let at = |x: usize, y: usize| r[y * 32 + x];
        assert_eq!(at(16, 16), Region::Inside);
        assert_eq!(at(16, 6), Region::Line); // distance 10
        assert_eq!(at(16, 4), Region::Inside); // distance 12: light, but within 2 px of the line
        assert_eq!(at(16, 2), Region::Outside); // distance 14
        assert_eq!(at(0, 0), Region::Outside);
    }

    #[test]
    fn fill_mask_is_the_inside_away_from_the_lines() {
        let mask = fill_mask(&ring());
        let at = |x: usize, y: usize| mask[y * 32 + x];
        assert_eq!(at(16, 16), 1.0);
        assert_eq!(at(16, 10), 1.0); // 3 px from the line at y = 7
        assert_eq!(at(16, 9), 0.0); // 2 px: its anti-aliased edge, left alone
        assert_eq!(at(16, 6), 0.0); // the line
        assert_eq!(at(16, 2), 0.0); // outside
        assert_eq!(at(0, 0), 0.0);
    }

    #[test]
    fn line_mask_is_the_lines_and_the_regions_agree() {
        let input = ring();
        let mask = line_mask(&input);
        for (m, r) in mask.iter().zip(regions(&input)) {
            assert_eq!(*m == 1.0, r == Region::Line);
        }
        assert_eq!(mask[6 * 32 + 16], 1.0);
        assert_eq!(mask[16 * 32 + 16], 0.0);
    }

    #[test]
    fn halo_mask_is_the_lines_and_the_background_next_to_them() {
        let mask = halo_mask(&ring());
        let at = |x: usize, y: usize| mask[y * 32 + x];
        assert_eq!(at(16, 6), 1.0); // the line
        assert_eq!(at(16, 4), 1.0); // the background right at the line
        assert_eq!(at(16, 0), 1.0); // 5 px from the line
        assert_eq!(at(1, 1), 1.0); // 8 px from the ring's pixel at (9, 9)
        assert_eq!(at(0, 0), 0.0); // 9 px: beyond the band
        assert_eq!(at(16, 16), 0.0); // the fill
        assert_eq!(at(16, 9), 0.0); // the fill right at the line
    }

    #[test]
    fn good_colourings_score_well_and_each_fault_shows_in_its_own_number() {
        let input = ring();
        let fills = [Rgb([230, 40, 40]), Rgb([40, 60, 220]), Rgb([120, 20, 20])];
        let good: Vec<RgbImage> = fills.iter().map(|f| coloured(*f, WHITE, true)).collect();
        let mut tally = Tally::default();
        tally.add(&input, &good, None);
        tally.add_reference(&coloured(Rgb([230, 40, 40]), WHITE, true));
        let report = tally.report();
        assert_eq!(report.line_pixels_kept_dark, 1.0);
        assert_eq!(report.outside_changed, 0.0);
        assert!(report.diversity > 0.03, "{report:?}");
        assert!(report.lightness_spread > 0.03, "{report:?}");
        let ratio = report.colourfulness_ratio.unwrap();
        assert!(ratio > 0.5 && ratio < 1.5, "{report:?}");

        // Colour spilled over the whole outside.
        let mut spill = Tally::default();
        let spilled: Vec<RgbImage> = fills
            .iter()
            .map(|f| coloured(*f, Rgb([250, 200, 120]), true))
            .collect();
        spill.add(&input, &spilled, None);
        assert_eq!(spill.report().outside_changed, 1.0);
        assert_eq!(spill.report().line_pixels_kept_dark, 1.0);

        // Lines painted over with light colours.
        let light = [Rgb([250, 220, 120]), Rgb([160, 230, 250])];
        let mut lost = Tally::default();
        let unlined: Vec<RgbImage> = light.iter().map(|f| coloured(*f, WHITE, false)).collect();
        lost.add(&input, &unlined, None);
        assert_eq!(lost.report().line_pixels_kept_dark, 0.0);

        // Styles that differ in hue only, at equal luma, have no lightness spread.
        let hues = [
            Rgb([200, 100, 100]),
            Rgb([100, 151, 100]),
            Rgb([114, 114, 255]),
        ];
        let same_luma: Vec<RgbImage> = hues.iter().map(|f| coloured(*f, WHITE, true)).collect();
        assert!(hues.iter().all(|p| (luma(p) - luma(&hues[0])).abs() < 0.01));
        let mut hue_only = Tally::default();
        hue_only.add(&input, &same_luma, None);
        let report = hue_only.report();
        assert!(report.lightness_spread < 0.01, "{report:?}");
        assert!(report.diversity > 0.02, "{report:?}");

        // Grey outputs are not colourful; no reference, no ratio.
        let mut grey = Tally::default();
        grey.add(&input, &[coloured(Rgb([128, 128, 128]), WHITE, true)], None);
        assert_eq!(grey.report().colourfulness, 0.0);
        assert_eq!(grey.report().colourfulness_ratio, None);
    }

    #[test]
    fn fault_maps_mark_exactly_the_pixels_the_numbers_count() {
        let input = ring();
        // Spilled outside colour and light lines: every outside and line pixel is a fault.
        let bad = coloured(Rgb([250, 220, 120]), Rgb([250, 200, 120]), false);
        let map = fault_map(&input, &bad, None);
        let regions = regions(&input);
        let count = |map: &RgbImage, colour| map.pixels().filter(|p| **p == colour).count();
        let of = |region| regions.iter().filter(|r| **r == region).count();
        assert_eq!(count(&map, FAULT_OUTSIDE), of(Region::Outside));
        assert_eq!(count(&map, FAULT_LINE), of(Region::Line));
        // A good colouring has none, and keeps its fill's hue, faded.
        let good = coloured(Rgb([230, 40, 40]), WHITE, true);
        let map = fault_map(&input, &good, None);
        assert_eq!(count(&map, FAULT_OUTSIDE) + count(&map, FAULT_LINE), 0);
        assert_eq!(*map.get_pixel(16, 16), Rgb([247, 184, 184]));
        // A tint below the threshold is not a fault; one above it is, pixel by pixel.
        let mut tinted = good.clone();
        tinted.put_pixel(0, 0, Rgb([240, 255, 255]));
        tinted.put_pixel(1, 0, Rgb([220, 255, 255]));
        let map = fault_map(&input, &tinted, None);
        assert_ne!(*map.get_pixel(0, 0), FAULT_OUTSIDE);
        assert_eq!(*map.get_pixel(1, 0), FAULT_OUTSIDE);
        assert_eq!(count(&map, FAULT_OUTSIDE), 1);
    }

    /// The ring with a 3 px gap at the top: its inside is reachable from the border.
    fn open_ring() -> RgbImage {
        let mut img = ring();
        for x in 15..=17 {
            for y in 4..=8 {
                img.put_pixel(x, y, WHITE);
            }
        }
        img
    }

    #[test]
    fn the_silhouette_outside_leaves_open_shapes_fills_to_the_real_colouring() {
        let input = open_ring();
        let red = Rgb([230, 40, 40]);
        // The real colouring fills the inside (and the gap in the line).
        let truth = RgbImage::from_fn(32, 32, |x, y| {
            let d2 = (x as i32 - 16).pow(2) + (y as i32 - 16).pow(2);
            match d2 {
                0..=121 if *input.get_pixel(x, y) == BLACK => BLACK,
                0..=121 => red,
                _ => WHITE,
            }
        });
        let outside = silhouette_outside(&input, &truth);
        assert!(outside[0] && outside[31 * 32 + 31]); // the corners
        assert!(!outside[16 * 32 + 16]); // the fill
        assert!(!outside[3 * 32 + 16]); // 2 px above the fill in the gap (from y = 5): margin
        assert!(outside[2 * 32 + 16]); // 3 px above it
        // The flood fill counts the fill as outside; the silhouette does not.
        assert_eq!(regions(&input)[16 * 32 + 16], Region::Outside);
        let mut tally = Tally::default();
        tally.add(&input, &[truth.clone(), truth.clone()], Some(&truth));
        let report = tally.report();
        assert!(report.outside_changed > 0.1, "{report:?}");
        assert_eq!(report.outside_changed_silhouette, Some(0.0));
        // Colour spilled beyond the silhouette counts, pixel for pixel as the fault map marks it.
        let mut spilled = truth.clone();
        for x in 0..32 {
            spilled.put_pixel(x, 0, red);
        }
        let mut tally = Tally::default();
        tally.add(&input, &[spilled.clone()], Some(&truth));
        let counted = (tally.silhouette.1, tally.silhouette.0);
        let map = fault_map(&input, &spilled, Some(&truth));
        let marked = map.pixels().filter(|p| **p == FAULT_OUTSIDE).count() as u64;
        assert_eq!(counted.0, 32);
        assert_eq!(marked, counted.0);
        assert_eq!(counted.1, outside.iter().filter(|o| **o).count() as u64);
        // Without truths there is no such number.
        let mut tally = Tally::default();
        tally.add(&input, std::slice::from_ref(&truth), None);
        assert_eq!(tally.report().outside_changed_silhouette, None);
    }

    #[test]
    fn the_silhouette_keep_mask_frees_what_the_real_colouring_colours() {
        let red = Rgb([230, 40, 40]);
        let fill_inside = |input: &RgbImage| {
            RgbImage::from_fn(32, 32, |x, y| {
                let d2 = (x as i32 - 16).pow(2) + (y as i32 - 16).pow(2);
                match d2 {
                    _ if *input.get_pixel(x, y) == BLACK => BLACK,
                    0..=121 => red,
                    _ => WHITE,
                }
            })
        };
        // A closed outline coloured inside: the same mask as the flood fill's.
        let closed = ring();
        assert_eq!(
            silhouette_keep_mask(&closed, &fill_inside(&closed)),
            keep_mask(&closed)
        );
        // An open one: the flood fill keeps its inside white, the real colouring frees it.
        let open = open_ring();
        let (flood, silhouette) = (
            keep_mask(&open),
            silhouette_keep_mask(&open, &fill_inside(&open)),
        );
        let at = |m: &[f32], x: usize, y: usize| m[y * 32 + x];
        assert_eq!((at(&flood, 16, 16), at(&silhouette, 16, 16)), (1.0, 0.0));
        for (x, y) in [(0, 0), (16, 2), (16, 4), (20, 6)] {
            // The background right up to the lines, and the lines ((20, 6) is on the ring).
            assert_eq!(at(&silhouette, x, y), 1.0, "({x}, {y})");
        }
        // A design that colours beyond its lines (a sky): that is freed too.
        let mut sky = fill_inside(&open);
        for x in 0..32 {
            sky.put_pixel(x, 0, red);
        }
        assert_eq!(at(&silhouette_keep_mask(&open, &sky), 10, 0), 0.0);
        assert_eq!(at(&silhouette_keep_mask(&open, &sky), 10, 1), 1.0);
    }

    #[test]
    fn history_tables_round_trip_and_refuse_other_files() {
        let report = |line: f64, reference: Option<f64>| Report {
            images: 54,
            styles: 4,
            line_pixels_kept_dark: line,
            colourfulness: 0.35,
            reference_colourfulness: reference,
            colourfulness_ratio: reference.map(|r| 0.35 / r),
            diversity: 0.0228,
            outside_changed: 0.03,
            outside_changed_silhouette: reference.map(|_| 0.012),
            lightness_spread: 0.041,
        };
        let mut table = History {
            settings: "input_dir=data/testA; styles=4; seed=10".into(),
            rows: Vec::new(),
        };
        table.insert(2000, report(0.9, Some(0.253)));
        table.insert(1000, report(0.8, None));
        table.insert(2000, report(0.95, Some(0.253)));
        assert_eq!(
            table.rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1000, 2000]
        );
        assert_eq!(table.get(2000).unwrap().line_pixels_kept_dark, 0.95);
        assert!(table.get(1500).is_none());
        let text = table.to_csv();
        assert_eq!(History::from_csv(&text).unwrap(), table);
        // A table from before the silhouette column reads with none.
        let old: String = text
            .lines()
            .map(|l| match l.rsplit_once(',') {
                Some((rest, _)) if !l.starts_with('#') => format!("{rest}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let read = History::from_csv(&old).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert!(
            read.rows
                .iter()
                .all(|r| r.1.outside_changed_silhouette.is_none())
        );
        assert_eq!(read.get(2000).unwrap().lightness_spread, 0.041);

        for (bad, why) in [
            ("", "settings"),
            ("iteration,images\n", "settings"),
            ("# s\nx,y\n", "header"),
            (&text.replace("\n2000,", "\n900,"), "order"),
            (&text.replace(",0.95,", ",nope,"), "number"),
            (&text.replace(",0.95,", ",0.95,1,"), "fields"),
        ] {
            let err = History::from_csv(bad).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
