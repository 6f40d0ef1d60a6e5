//! The central views: the translation, the sample grid, the swap grid and the interpolation.

use egui::{RichText, Sense, Ui, Vec2};

use super::codes::{code_bars, pick_code};
use super::{Intents, shortcut_text};
use crate::app::StylespaceApp;
use crate::app::commands::Command;
use crate::app::session::{SwapColumns, View};
use crate::app::state::Action;
use crate::engine::styles::sample_styles;
use crate::engine::worker::Slot;

pub fn central(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let ctx = ui.ctx().clone();
    let current = app.state.settings.view;
    ui.horizontal_wrapped(|ui| {
        for (view, command) in [
            (View::Translate, Command::ViewTranslate),
            (View::Samples, Command::ViewSamples),
            (View::Swap, Command::ViewSwap),
            (View::Interpolate, Command::ViewInterpolate),
            (View::Map, Command::ViewMap),
        ] {
            if ui
                .selectable_label(current == view, command.label())
                .on_hover_text(shortcut_text(&ctx, command))
                .clicked()
            {
                out.act(Action::SetView(view));
            }
        }
    });
    ui.separator();
    egui::ScrollArea::both().show(ui, |ui| match current {
        View::Translate => translate(app, ui, out),
        View::Samples => samples(app, ui, out),
        View::Swap | View::Interpolate | View::Map if app.state.uses_latent_noise() => {
            ui.label(
                "This view works with style codes: the swap grid decodes each content with \
                 each image's style, the interpolation moves between two codes. This model \
                 (UNIT) has no style code; its Sample grid shows latent-noise samples.",
            );
        }
        View::Swap => swap(app, ui, out),
        View::Interpolate => interpolate(app, ui, out),
        View::Map => super::map::view(app, ui, out),
    });
}

/// An output image, or a placeholder while it is being computed.
pub(super) fn output_image(
    app: &StylespaceApp,
    ui: &mut Ui,
    slot: Slot,
    side: f32,
) -> egui::Response {
    match app.display.texture_of(slot) {
        Some((id, [w, h])) => {
            let scale = side / w.max(h) as f32;
            ui.add(
                egui::Image::new((id, Vec2::new(w as f32 * scale, h as f32 * scale)))
                    .alt_text(slot_name(slot))
                    .sense(Sense::click()),
            )
        }
        None => {
            let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::click());
            ui.painter()
                .rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
            // A spinner only while something is coming; a failure ends it with the reason.
            match waiting_for(app, slot) {
                Ok(()) => {
                    ui.put(rect, egui::Spinner::new());
                }
                Err(reason) => {
                    let text = RichText::new(reason).color(ui.visuals().warn_fg_color);
                    ui.put(rect.shrink(8.0), egui::Label::new(text).wrap());
                }
            }
            response
        }
    }
}

/// What a slot's picture is called (for screen readers and tests).
fn slot_name(slot: Slot) -> String {
    match slot {
        Slot::Main => "translation".into(),
        Slot::Interpolation => "interpolation".into(),
        Slot::PathFrame(i) => format!("path frame {}", i + 1),
        Slot::Sample(i) => format!("sample {}", i + 1),
        Slot::Swap { row, col } => format!("swap cell {}, {}", row + 1, col + 1),
    }
}

/// The side of the largest square that fits `avail` (at least `min`).
fn fit_side(avail: Vec2, min: f32) -> f32 {
    avail.x.min(avail.y).max(min)
}

/// Cells of `count` per row that fill `width` (between `min` and `max` points each).
fn cell_side(width: f32, count: usize, spacing: f32, min: f32, max: f32) -> f32 {
    let count = count.max(1) as f32;
    ((width - spacing * (count - 1.0)) / count).clamp(min, max)
}

/// Why a slot has no picture: `Ok` while one is coming, else what failed.
fn waiting_for(app: &StylespaceApp, slot: Slot) -> Result<(), String> {
    use crate::app::state::{EncodeState, ModelState};
    match &app.state.model {
        ModelState::Failed(source, error) => {
            return Err(format!(
                "The model {} could not be opened: {error}",
                source.label()
            ));
        }
        ModelState::None => return Err("No model is open".into()),
        _ => {}
    }
    let content = app.state.content.and_then(|id| app.state.image(id));
    if let Some(EncodeState::Failed(error)) = content.map(|e| &e.state) {
        return Err(format!("This image could not be encoded: {error}"));
    }
    if app.renders.has_failed(slot) {
        return Err("The render failed (see Messages)".into());
    }
    Ok(())
}

fn translate(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    use crate::app::session::Zoom;
    let state = &app.state;
    let Some(content) = state.content else {
        ui.label("Drop an image here, or use File -> Open image.");
        return;
    };
    let settings = &state.settings;
    ui.horizontal_wrapped(|ui| {
        ui.label("Zoom");
        for (zoom, label) in [
            (Zoom::Fit, "Fit"),
            (Zoom::Times(1), "1:1"),
            (Zoom::Times(2), "2:1"),
            (Zoom::Times(4), "4:1"),
            (Zoom::Times(8), "8:1"),
        ] {
            if ui.selectable_label(settings.zoom == zoom, label).clicked() {
                out.act(Action::SetZoom(zoom));
            }
        }
        let mut smooth = settings.smooth;
        if ui
            .checkbox(&mut smooth, "smooth")
            .on_hover_text("Bilinear magnification instead of sharp pixels")
            .changed()
        {
            out.act(Action::SetSmooth(smooth));
        }
    });
    super::brush::toolbar(app, ui, out);
    // The input at a quarter of the width (at most 240 points), the translation in the rest.
    let avail = ui.available_size();
    let spacing = ui.spacing().item_spacing;
    let label_h = ui.text_style_height(&egui::TextStyle::Body) + spacing.y;
    let input_side = (avail.x * 0.25).clamp(48.0, 240.0);
    let output_side = match settings.zoom {
        Zoom::Fit => fit_side(
            Vec2::new(
                avail.x - input_side - 2.0 * spacing.x,
                avail.y - label_h - spacing.y,
            ),
            64.0,
        ),
        Zoom::Times(n) => {
            let pixels = app
                .display
                .texture_of(Slot::Main)
                .map_or(256, |(_, [w, h])| w.max(h));
            (pixels * n as usize) as f32 / ui.ctx().pixels_per_point()
        }
    };
    ui.horizontal_top(|ui| {
        if let Some(thumb) = app.display.thumbnail(content) {
            ui.vertical(|ui| {
                ui.label(format!("input ({})", state.source));
                super::brush::input_image(app, ui, content, thumb, input_side, out);
            });
        }
        ui.vertical(|ui| {
            ui.label(format!(
                "translation ({} -> {})",
                state.source,
                state.target()
            ));
            let response = output_image(app, ui, Slot::Main, output_side)
                .on_hover_text("The current content with the current style code");
            // While a slider is hovered or dragged, where it acts, over the output.
            let hovered = super::style::hovered_slider(ui.ctx());
            if let (Some(k), Some((_, maps))) = (hovered, app.display.effects())
                && let Some(map) = maps.get(k)
            {
                let uv = egui::Rect::from_min_max(egui::Pos2::ZERO, egui::Pos2::new(1.0, 1.0));
                let tint = egui::Color32::from_white_alpha(170);
                ui.painter().image(*map, response.rect, uv, tint);
            }
        });
    });
}

fn samples(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let settings = &app.state.settings;
    let (mut seed, mut count) = (settings.sample_seed, settings.sample_count);
    ui.horizontal(|ui| {
        let label = ui.label("Seed");
        ui.add(egui::DragValue::new(&mut seed))
            .labelled_by(label.id);
        if ui.button("New seed").clicked() {
            seed = seed.wrapping_add(1);
        }
        ui.add(egui::Slider::new(&mut count, 1..=32).text("count"));
    });
    if (seed, count) != (settings.sample_seed, settings.sample_count) {
        out.act(Action::SetSampleGrid { seed, count });
    }
    let hint = if app.state.uses_latent_noise() {
        "Click a sample to make its noise current."
    } else {
        "Click a sample to make its code current."
    };
    ui.label(RichText::new(hint).weak());
    // The sample whose code (UNIT: noise) is the current one is framed.
    let state = &app.state;
    let (codes, noises) = (state.sample_codes(), state.sample_noises());
    let current = |i: usize| match noises.get(i) {
        Some(Some(noise)) => state.settings.noise == *noise,
        _ => codes.get(i) == Some(&state.style),
    };
    let per_row = settings.sample_count.min(4);
    let spacing = ui.spacing().item_spacing.x;
    let side = cell_side(ui.available_width(), per_row, spacing, 64.0, 512.0);
    ui.horizontal_wrapped(|ui| {
        for i in 0..settings.sample_count {
            let response = output_image(app, ui, Slot::Sample(i), side)
                .on_hover_text(format!("sample {}", i + 1));
            if current(i) {
                let stroke = egui::Stroke::new(3.0, ui.visuals().selection.bg_fill);
                let rect = response.rect.expand(1.5);
                ui.painter()
                    .rect_stroke(rect, 2.0, stroke, egui::StrokeKind::Outside);
            }
            if response.clicked() {
                out.act(Action::TakeSample(i));
            }
        }
    });
}

fn swap(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    // With every image both a row and a column, swapping roles changes nothing: say so.
    let all_both = (app.state.images.iter()).all(|e| e.in_rows && e.in_cols);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!all_both, egui::Button::new("Swap roles"))
            .on_hover_text("Rows become columns")
            .on_disabled_hover_text(
                "Every image is both a row and a column, so swapping changes nothing: uncheck \
                 \"row\" or \"col\" in the content panel to give images roles",
            )
            .clicked()
        {
            out.act(Action::SwapGridRoles);
        }
        let settings = &app.state.settings;
        let (mut columns, mut frames) = (settings.swap_columns, settings.swap_path_frames);
        ui.label("Columns");
        ui.selectable_value(&mut columns, SwapColumns::Images, "style images");
        ui.selectable_value(&mut columns, SwapColumns::Path, "interpolation path")
            .on_hover_text("Every row takes the same path through the keyframes");
        if columns == SwapColumns::Path {
            let label = ui.label("frames");
            ui.add(egui::DragValue::new(&mut frames).range(2..=16))
                .labelled_by(label.id);
        }
        if (columns, frames) != (settings.swap_columns, settings.swap_path_frames) {
            out.act(Action::SetSwapColumns { columns, frames });
        }
    });
    let path_columns = app.state.settings.swap_columns == SwapColumns::Path;
    ui.label(
        RichText::new(if path_columns {
            "Rows: content images. Columns: frames along the interpolation path. Click a cell \
             to use it."
        } else {
            "Rows: content images. Columns: style references. Click a cell to use it."
        })
        .weak(),
    );
    if path_columns {
        swap_path(app, ui, out);
        return;
    }
    let (rows, cols) = app.state.swap_grid();
    if rows.is_empty() || cols.is_empty() {
        let target = app.state.target();
        if cols.is_empty() && !rows.is_empty() {
            ui.label(format!(
                "No style references: add images of domain {target} (the target), or tick \
                 \"col\" for an image in the content panel. Images that look like domain {} \
                 are not columns by default: their styles lack the target's look.",
                target.other()
            ));
        } else {
            ui.label("Mark images as rows and columns in the content panel.");
        }
        return;
    }
    let thumb = |ui: &mut Ui, id| {
        if let Some(texture) = app.display.thumbnail(id) {
            ui.add(egui::Image::new((texture, Vec2::splat(48.0))));
        } else {
            ui.label("");
        }
    };
    let side = cell_side(
        ui.available_width() - 48.0 - 6.0,
        cols.len(),
        6.0,
        48.0,
        384.0,
    );
    egui::Grid::new("swap-grid")
        .spacing([6.0, 6.0])
        .show(ui, |ui| {
            ui.label("");
            for col in &cols {
                thumb(ui, col.id);
            }
            ui.end_row();
            for (r, row) in rows.iter().enumerate() {
                thumb(ui, row.id);
                for (c, col) in cols.iter().enumerate() {
                    if output_image(app, ui, Slot::Swap { row: r, col: c }, side).clicked() {
                        out.act(Action::TakeSwapCell {
                            row: row.id,
                            col: col.id,
                        });
                    }
                }
                ui.end_row();
            }
        });
}

/// The swap grid with frames along the interpolation path as columns: the same path for each
/// content image.
fn swap_path(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    let (rows, _) = state.swap_grid();
    if rows.is_empty() {
        ui.label("Mark images as rows in the content panel.");
        return;
    }
    let codes = state.swap_path_codes();
    let side = cell_side(
        ui.available_width() - 48.0 - 6.0,
        codes.len(),
        6.0,
        48.0,
        384.0,
    );
    egui::Grid::new("swap-path-grid")
        .spacing([6.0, 6.0])
        .show(ui, |ui| {
            ui.label("");
            for i in 0..codes.len() {
                ui.label(RichText::new(format!("t {:.2}", state.swap_path_t(i))).small());
            }
            ui.end_row();
            for (r, row) in rows.iter().enumerate() {
                match app.display.thumbnail(row.id) {
                    Some(texture) => {
                        ui.add(egui::Image::new((texture, Vec2::splat(48.0))));
                    }
                    None => {
                        ui.label("");
                    }
                }
                for index in 0..codes.len() {
                    if output_image(app, ui, Slot::Swap { row: r, col: index }, side).clicked() {
                        out.act(Action::TakeSwapPathCell { row: row.id, index });
                    }
                }
                ui.end_row();
            }
        });
}

fn interpolate(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let ctx = ui.ctx().clone();
    let state = &app.state;
    keyframes(app, ui, out);
    let mut settings = state.settings.interpolation.clone();
    ui.horizontal_wrapped(|ui| {
        ui.selectable_value(&mut settings.spherical, false, "linear");
        ui.selectable_value(&mut settings.spherical, true, "spherical");
        ui.checkbox(&mut settings.closed, "loop")
            .on_hover_text("The path returns to its first keyframe (a seamless loop)");
        ui.separator();
        let label = ui.label("frames");
        ui.add(egui::DragValue::new(&mut settings.frames).range(2..=120))
            .labelled_by(label.id);
        let label = ui.label("ms per frame");
        ui.add(egui::DragValue::new(&mut settings.frame_ms).range(20..=2000))
            .labelled_by(label.id);
        ui.checkbox(&mut settings.back_and_forth, "GIF back and forth");
    });
    if settings != state.settings.interpolation {
        out.act(Action::SetInterpolation(settings));
    }
    ui.horizontal(|ui| {
        let label = if state.playing { "Pause" } else { "Play" };
        if ui
            .button(label)
            .on_hover_text(shortcut_text(&ctx, Command::ToggleAnimation))
            .clicked()
        {
            out.run(Command::ToggleAnimation);
        }
        let mut t = state.interpolation_t;
        if ui
            .add(egui::Slider::new(&mut t, 0.0..=1.0).text("t"))
            .changed()
        {
            out.act(Action::SetInterpolationT(t));
        }
        if ui.button("Export GIF...").clicked() {
            out.run(Command::ExportGif);
        }
        if ui.button("Export PNG strip...").clicked() {
            out.run(Command::ExportStrip);
        }
        if ui.button("Use this code").clicked() {
            out.act(Action::UseInterpolated);
        }
    });
    // The whole path as a strip: click a frame to go there.
    let strip = crate::app::state::PATH_STRIP_FRAMES;
    // The visible width (a scroll area lets content grow wider than the view).
    let visible = ui.clip_rect().right() - ui.cursor().left();
    let cell = cell_side(visible, strip, 4.0, 32.0, 96.0);
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        for i in 0..strip {
            if output_image(app, ui, Slot::PathFrame(i), cell)
                .on_hover_text(format!("t = {:.2}", state.path_strip_t(i)))
                .clicked()
            {
                out.act(Action::SetInterpolationT(state.path_strip_t(i)));
            }
        }
    });
    let side = fit_side(ui.available_size(), 64.0);
    output_image(app, ui, Slot::Interpolation, side);
}

/// The path's keyframes, each with its code, a menu to change it and a remove button, and a
/// menu to add one at the end.
fn keyframes(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    let settings = &state.settings.interpolation;
    let mut keys = settings.keyframes();
    if settings.closed {
        keys.pop();
    }
    let count = keys.len();
    // Wrap at the visible width (the scroll area would let the row run on).
    let visible = ui.clip_rect().right() - ui.cursor().left();
    ui.set_max_width(visible);
    ui.horizontal_wrapped(|ui| {
        ui.label("Keyframes");
        for (i, key) in keys.iter().enumerate() {
            egui::Frame::group(ui.style())
                .inner_margin(egui::Margin::symmetric(4, 2))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(format!("{}", i + 1)).strong());
                        if code_bars(ui, key)
                            .on_hover_text("Click: make it the current code")
                            .clicked()
                        {
                            out.act(Action::SetStyle(key.clone()));
                        }
                        if let Some(code) =
                            pick_code(ui, state, &format!("keyframe {}", i + 1), "set", 40.0)
                        {
                            out.act(Action::SetKeyframe { index: i, code });
                        }
                        if count > 2
                            && ui
                                .small_button("x")
                                .on_hover_text(format!("Remove keyframe {}", i + 1))
                                .clicked()
                        {
                            out.act(Action::RemoveKeyframe(i));
                        }
                    });
                });
        }
        if let Some(code) = pick_code(ui, state, "new keyframe", "add keyframe...", 110.0) {
            out.act(Action::AddKeyframe(code));
        }
        if ui
            .button("Random")
            .on_hover_text("Add a random keyframe (drawn from the prior)")
            .clicked()
        {
            let code = sample_styles(1, state.style.len(), super::super::clock_seed()).remove(0);
            out.act(Action::AddKeyframe(code));
        }
    });
}
