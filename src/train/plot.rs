//! The chart of a run's evaluation numbers against iterations (`stylespace evaluate --history
//! --plot`): one panel per number, each with the target it is held to, drawn as SVG and
//! rasterised with resvg in egui's bundled font (no system fonts needed).

use std::fmt::Write as _;

use super::evaluate::Report;

/// Whether a number should stay above or below its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

/// One panel: a number taken from each report.
pub struct Metric {
    pub title: &'static str,
    pub value: fn(&Report) -> Option<f64>,
    pub goal: Option<Goal>,
    /// Shown as a percentage.
    pub percent: bool,
}

/// The numbers of the bundled-model issue, with its targets.
pub fn bundled_model_metrics() -> Vec<Metric> {
    vec![
        Metric {
            title: "line pixels kept dark",
            value: |r| Some(r.line_pixels_kept_dark),
            goal: Some(Goal::AtLeast(0.95)),
            percent: true,
        },
        Metric {
            title: "colourfulness / real images",
            value: |r| r.colourfulness_ratio,
            goal: Some(Goal::AtLeast(0.9)),
            percent: false,
        },
        Metric {
            title: "diversity across styles",
            value: |r| Some(r.diversity),
            goal: Some(Goal::AtLeast(0.03)),
            percent: false,
        },
        Metric {
            title: "colour changed outside",
            value: |r| Some(r.outside_changed),
            goal: Some(Goal::AtMost(0.02)),
            percent: true,
        },
        Metric {
            title: "changed outside real silhouettes",
            value: |r| r.outside_changed_silhouette,
            goal: Some(Goal::AtMost(0.02)),
            percent: true,
        },
        Metric {
            title: "lightness spread across styles",
            value: |r| Some(r.lightness_spread),
            goal: None,
            percent: false,
        },
    ]
}

const WIDTH: f64 = 960.0;
/// Height of a row of panels, and of the title above them.
const ROW_HEIGHT: f64 = 275.0;
const TITLE_HEIGHT: f64 = 50.0;
const COLUMNS: usize = 3;
const FONT: &str = "Ubuntu";
const LINE: &str = "#1f6fb2";
const TARGET: &str = "#c0392b";

/// Round tick values covering `lo..=hi` (about `count` of them: steps of 1, 2 or 5 x 10^k).
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    // The round step nearest the raw one (in ratio).
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .min_by(|a, b| (a / raw).ln().abs().total_cmp(&(b / raw).ln().abs()))
        .unwrap_or(magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn label(value: f64, percent: bool, step: f64) -> String {
    let (value, step) = if percent {
        (value * 100.0, step * 100.0)
    } else {
        (value, step)
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let text = format!("{value:.decimals$}");
    if percent { format!("{text} %") } else { text }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Rows of panels: one cell per metric and one for the legend.
fn rows(metrics: &[Metric]) -> usize {
    (metrics.len() + 1).div_ceil(COLUMNS)
}

fn chart_height(metrics: &[Metric]) -> f64 {
    TITLE_HEIGHT + rows(metrics) as f64 * ROW_HEIGHT
}

/// The chart as SVG text: `points` are (iteration, report), oldest first.
pub fn chart_svg(title: &str, points: &[(u64, Report)], metrics: &[Metric]) -> String {
    let mut svg = String::new();
    let height = chart_height(metrics);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="{FONT}" font-size="13">"#
    );
    let _ = write!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="20" y="28" font-size="17">{}</text>"##,
        escape(title)
    );
    let (cell_w, cell_h) = (WIDTH / COLUMNS as f64, ROW_HEIGHT);
    let max_iter = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    for (i, metric) in metrics.iter().enumerate() {
        let (x0, y0) = (
            (i % COLUMNS) as f64 * cell_w,
            TITLE_HEIGHT + (i / COLUMNS) as f64 * cell_h,
        );
        panel(&mut svg, metric, points, max_iter, (x0, y0, cell_w, cell_h));
    }
    {
        // The legend fills the first free cell (there always is one).
        let i = metrics.len();
        let (x0, y0) = (
            (i % COLUMNS) as f64 * cell_w + 40.0,
            TITLE_HEIGHT + (i / COLUMNS) as f64 * cell_h + 50.0,
        );
        let _ = write!(
            svg,
            r##"<line x1="{x0}" y1="{y0}" x2="{}" y2="{y0}" stroke="{LINE}" stroke-width="2"/><text x="{}" y="{}">measured (one point per kept generator)</text>"##,
            x0 + 30.0,
            x0 + 40.0,
            y0 + 4.0
        );
        let _ = write!(
            svg,
            r##"<line x1="{x0}" y1="{0}" x2="{1}" y2="{0}" stroke="{TARGET}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{2}" y="{3}">target</text><text x="{x0}" y="{4}" fill="#555555">x axis: training iterations</text>"##,
            y0 + 26.0,
            x0 + 30.0,
            x0 + 40.0,
            y0 + 30.0,
            y0 + 60.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn panel(
    svg: &mut String,
    metric: &Metric,
    points: &[(u64, Report)],
    max_iter: f64,
    (x0, y0, w, h): (f64, f64, f64, f64),
) {
    let values: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|(it, r)| Some((*it as f64, (metric.value)(r)?)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let goal_value = metric.goal.map(|g| match g {
        Goal::AtLeast(v) | Goal::AtMost(v) => v,
    });
    let mut lo = values
        .iter()
        .map(|p| p.1)
        .chain(goal_value)
        .fold(f64::INFINITY, f64::min);
    let mut hi = values
        .iter()
        .map(|p| p.1)
        .chain(goal_value)
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs().max(1e-3) * 0.02);
    (lo, hi) = (lo - pad, hi + pad);
    // Plot area inside the cell: room for the title above and the tick labels left and below.
    let (left, top, right, bottom) = (x0 + 62.0, y0 + 30.0, x0 + w - 18.0, y0 + h - 34.0);
    let x_of = |it: f64| left + (right - left) * it / max_iter;
    let y_of = |v: f64| bottom - (bottom - top) * (v - lo) / (hi - lo);
    let goal_text = match metric.goal {
        Some(Goal::AtLeast(v)) => format!(" (target >= {})", label(v, metric.percent, v / 10.0)),
        Some(Goal::AtMost(v)) => format!(" (target <= {})", label(v, metric.percent, v / 10.0)),
        None => String::new(),
    };
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="14">{}{}</text><rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#888888"/>"##,
        x0 + 20.0,
        y0 + 18.0,
        escape(metric.title),
        escape(&goal_text),
        right - left,
        bottom - top
    );
    let y_ticks = ticks(lo, hi, 4);
    let y_step = y_ticks
        .windows(2)
        .map(|p| p[1] - p[0])
        .next()
        .unwrap_or(hi - lo);
    for v in &y_ticks {
        let y = y_of(*v);
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            left - 5.0,
            y + 4.0,
            label(*v, metric.percent, y_step)
        );
    }
    for it in ticks(0.0, max_iter, 4) {
        let x = x_of(it);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{}" stroke="#888888"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"##,
            bottom + 4.0,
            bottom + 17.0,
            it as u64
        );
    }
    if let Some(v) = goal_value {
        let y = y_of(v);
        let _ = write!(
            svg,
            r#"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="{TARGET}" stroke-width="1.5" stroke-dasharray="6 4"/>"#
        );
    }
    if values.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#888888">no values</text>"##,
            (left + right) / 2.0,
            (top + bottom) / 2.0
        );
        return;
    }
    let path: Vec<String> = values
        .iter()
        .map(|(it, v)| format!("{:.1},{:.1}", x_of(*it), y_of(*v)))
        .collect();
    let _ = write!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="2"/>"#,
        path.join(" ")
    );
    for (it, v) in &values {
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{LINE}"/>"#,
            x_of(*it),
            y_of(*v)
        );
    }
}

/// Rasterises [`chart_svg`] to an RGB image 960 pixels wide, 275 high per row of three panels
/// (the legend takes a cell) and 50 for the title.
pub fn chart(title: &str, points: &[(u64, Report)], metrics: &[Metric]) -> image::RgbImage {
    let svg = chart_svg(title, points, metrics);
    let height = chart_height(metrics) as u32;
    let mut options = resvg::usvg::Options {
        font_family: FONT.into(),
        ..Default::default()
    };
    options
        .fontdb_mut()
        .load_font_data(epaint_default_fonts::UBUNTU_LIGHT.to_vec());
    let tree = resvg::usvg::Tree::from_str(&svg, &options).expect("the chart is valid SVG");
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(WIDTH as u32, height).expect("the chart has a size");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    // Opaque (a white rectangle first), so the premultiplied channels are the colour itself.
    image::RgbImage::from_fn(WIDTH as u32, height, |x, y| {
        let p = pixmap.pixel(x, y).expect("inside the pixmap");
        image::Rgb([p.red(), p.green(), p.blue()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(line: f64, diversity: f64) -> Report {
        Report {
            images: 3,
            styles: 4,
            line_pixels_kept_dark: line,
            colourfulness: 0.3,
            reference_colourfulness: Some(0.25),
            colourfulness_ratio: Some(1.2),
            diversity,
            outside_changed: 0.01,
            outside_changed_silhouette: Some(0.005),
            lightness_spread: 0.04,
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 10_000.0, 4),
            vec![0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10_000.0]
        );
        assert_eq!(
            ticks(0.0, 30_000.0, 4),
            vec![0.0, 10_000.0, 20_000.0, 30_000.0]
        );
        let t = ticks(0.873, 0.962, 4);
        assert!(t.iter().all(|v| (0.873..=0.962).contains(v)), "{t:?}");
        assert!((3..=6).contains(&t.len()), "{t:?}");
        assert_eq!(ticks(1.0, 1.0, 4), vec![1.0]);
        assert_eq!(label(0.95, true, 0.01), "95 %");
        assert_eq!(label(0.025, false, 0.005), "0.025");
    }

    #[test]
    fn the_chart_draws_each_series_and_its_target() {
        let points = vec![
            (1000, report(0.80, 0.010)),
            (2000, report(0.90, 0.020)),
            (3000, report(0.96, 0.035)),
        ];
        let metrics = bundled_model_metrics();
        let svg = chart_svg("run <x>", &points, &metrics);
        assert_eq!(svg.matches("<polyline").count(), 6, "one line per metric");
        assert_eq!(
            svg.matches(r#"<circle"#).count(),
            18,
            "one point per report"
        );
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            6,
            "five targets and the legend's sample"
        );
        assert!(svg.contains("run &lt;x&gt;"), "titles are escaped");

        let image = chart("run <x>", &points, &metrics);
        // Six panels and the legend: three rows.
        assert_eq!(image.dimensions(), (960, 50 + 3 * 275));
        // Five panels and the legend: two.
        assert_eq!(chart("", &points, &metrics[..5]).dimensions(), (960, 600));
        let count = |rgb: [u8; 3]| {
            image
                .pixels()
                .filter(|p| p.0.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) < 8))
                .count()
        };
        assert!(count([0x1f, 0x6f, 0xb2]) > 500, "the series are drawn");
        assert!(count([0xc0, 0x39, 0x2b]) > 200, "the targets are drawn");
        // Text is rendered (glyphs in black-ish grey), not dropped for want of a font.
        let dark = image
            .pixels()
            .filter(|p| p.0.iter().all(|c| *c < 60))
            .count();
        assert!(dark > 1000, "{dark} dark pixels: the labels are missing");
    }
}
