//! The region brush in the translation view: its toolbar (on / off, paint / erase, size,
//! softness, clear, invert, masks from and to files, the code inside) and painting on the input.

use egui::{Color32, RichText, Sense, Ui, Vec2};

use super::codes::{code_bars, pick_code};
use super::{Intents, shortcut_text};
use crate::app::StylespaceApp;
use crate::app::brush::RADIUS_RANGE;
use crate::app::commands::Command;
use crate::app::state::Action;
use crate::engine::worker::ImageId;

/// The brush's controls; nothing for a model without style codes.
pub fn toolbar(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    if state.uses_latent_noise() || state.style_dim().is_none() {
        return;
    }
    let ctx = ui.ctx().clone();
    ui.horizontal_wrapped(|ui| {
        let mut on = state.region_on;
        if ui
            .toggle_value(&mut on, Command::ToggleRegionBrush.label())
            .on_hover_text(format!(
                "Paint a region of the input: there the output takes a second code, mixed \
                 inside the decoder ({})",
                shortcut_text(&ctx, Command::ToggleRegionBrush)
            ))
            .changed()
        {
            out.act(Action::SetRegion(on));
        }
        if !state.region_on {
            return;
        }
        let mut brush = state.settings.brush;
        ui.selectable_value(&mut brush.erase, false, "Paint");
        ui.selectable_value(&mut brush.erase, true, "Erase");
        if brush != state.settings.brush {
            out.act(Action::SetBrush(brush));
        }
        let painted = state.content_mask().is_some();
        if ui
            .add_enabled(painted, egui::Button::new("Clear"))
            .clicked()
        {
            out.act(Action::ClearMask);
        }
        if ui.button("Invert").clicked() {
            out.act(Action::InvertMask);
        }
        if ui.button(Command::OpenMask.label()).clicked() {
            out.run(Command::OpenMask);
        }
        if ui
            .add_enabled(painted, egui::Button::new(Command::SaveMask.label()))
            .clicked()
        {
            out.run(Command::SaveMask);
        }
    });
    if !state.region_on {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        let mut brush = state.settings.brush;
        ui.add(
            egui::Slider::new(&mut brush.radius, RADIUS_RANGE)
                .text("size")
                .custom_formatter(|v, _| format!("{:.0} %", 100.0 * v))
                .custom_parser(|t| {
                    t.trim()
                        .trim_end_matches('%')
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .map(|v| v / 100.0)
                }),
        )
        .on_hover_text("Brush radius, as a share of the image's longer side");
        ui.add(egui::Slider::new(&mut brush.softness, 0.0..=1.0).text("softness"))
            .on_hover_text("0: a hard edge; 1: fading from the centre");
        if brush != state.settings.brush {
            out.act(Action::SetBrush(brush));
        }
    });
    if state.region_on {
        inside_code(app, ui, out);
        // One line either way, so the input does not move under the brush.
        let text = match state.content_mask().filter(|m| !m.is_empty()) {
            Some(painted) => format!(
                "{:.0} % of the image takes the inside code",
                100.0 * painted.share()
            ),
            None => "Paint on the input image to mark where the inside code applies.".into(),
        };
        ui.label(RichText::new(text).weak());
    }
}

/// The code inside the region, and where to take it from.
fn inside_code(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    ui.horizontal_wrapped(|ui| {
        ui.label("Inside code");
        match &state.region_style {
            Some(code) => {
                code_bars(ui, code);
            }
            None => {
                ui.label(RichText::new("none").weak());
            }
        }
        if let Some(code) = pick_code(ui, state, "inside code from", "take from...", 100.0) {
            out.act(Action::SetRegionStyle(code));
        }
        if ui
            .button("Swap")
            .on_hover_text("The current code and the inside code trade places")
            .clicked()
        {
            out.act(Action::SwapRegionStyle);
        }
    });
}

/// The input image at `side` points (its aspect kept). With the brush on it takes paint: a
/// drag paints a stroke, a click a dab; the mask shows over it and the brush follows the
/// pointer.
pub fn input_image(
    app: &StylespaceApp,
    ui: &mut Ui,
    content: ImageId,
    thumb: egui::TextureId,
    side: f32,
    out: &mut Intents,
) {
    let state = &app.state;
    let Some(entry) = state.image(content) else {
        return;
    };
    let (w, h) = (entry.image.width() as f32, entry.image.height() as f32);
    let scale = side / w.max(h).max(1.0);
    let size = Vec2::new(w * scale, h * scale);
    let painting = state.region_on && !state.uses_latent_noise();
    let sense = match painting {
        true => Sense::click_and_drag(),
        false => Sense::hover(),
    };
    // A fixed id: a stroke must not end when something above the image changes.
    let response = ui
        .push_id("input image", |ui| {
            ui.add(
                egui::Image::new((thumb, size))
                    .alt_text("input image")
                    .sense(sense),
            )
        })
        .inner;
    let rect = response.rect;
    if let Some(overlay) = app.display.mask_overlay() {
        let uv = egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0));
        ui.painter().image(overlay, rect, uv, Color32::WHITE);
    }
    if !painting {
        return;
    }
    let last_id = response.id.with("last brush point");
    let at = |pos: egui::Pos2| {
        let uv = (pos - rect.min) / rect.size();
        [uv.x, uv.y]
    };
    if let Some(pos) = response.interact_pointer_pos()
        && (response.dragged() || response.clicked())
    {
        let to = at(pos);
        let from = ui.data(|d| d.get_temp::<[f32; 2]>(last_id)).unwrap_or(to);
        out.act(Action::PaintMask { from, to });
        ui.data_mut(|d| d.insert_temp(last_id, to));
    }
    if !response.dragged() {
        ui.data_mut(|d| d.remove::<[f32; 2]>(last_id));
    }
    if let Some(pos) = response.hover_pos() {
        let brush = state.settings.brush;
        let radius = brush.radius * rect.width().max(rect.height());
        let colour = match brush.erase {
            false => Color32::WHITE,
            true => Color32::LIGHT_RED,
        };
        ui.painter()
            .circle_stroke(pos, radius, egui::Stroke::new(1.0, colour));
        ui.ctx().set_cursor_icon(egui::CursorIcon::Crosshair);
    }
}
