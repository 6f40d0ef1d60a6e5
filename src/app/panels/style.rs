//! The style panel: one slider per dimension of the model's code (or UNIT's latent-noise
//! control), the code's distance from the prior, style from an image, and saved codes.

use egui::{Color32, Ui, Vec2};

use super::{Intents, shortcut_text};
use crate::app::commands::Command;
use crate::app::state::Action;
use crate::app::{Intent, StylespaceApp};
use crate::engine::Family;
use crate::engine::styles::prior_percentile;

pub fn panel(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    // MUNIT's code is its "style", DRIT's its "attribute"; UNIT has none.
    let (name, family) = match app.state.style_space() {
        Some((_, Some(space))) => (space.name, None),
        Some((family, None)) => ("style", Some(family)),
        None => ("style", None),
    };
    let mut title = name.to_string();
    title[..1].make_ascii_uppercase();
    ui.heading(title);
    if let Some(family) = family {
        return noise_control(app, ui, family, out);
    }
    let ctx = ui.ctx().clone();
    ui.horizontal(|ui| {
        for (label, command, hover) in [
            ("Random", Command::RandomStyle, None),
            ("Zero", Command::ZeroStyle, None),
            ("Copy", Command::CopyStyle, Some("Copy the code as JSON")),
        ] {
            let hover = hover.map_or_else(|| shortcut_text(&ctx, command), str::to_string);
            if ui.button(label).on_hover_text(hover).clicked() {
                out.run(command);
            }
        }
    });
    sliders(app, ui, name, out);
    ui.separator();
    style_from_image(app, ui, out);
    ui.separator();
    saved_codes(app, ui, out);
}

fn noise_control(app: &StylespaceApp, ui: &mut Ui, family: Family, out: &mut Intents) {
    ui.label(format!(
        "This {family} model has no style code: its translation of an image is \
         deterministic. Latent noise (the VAE's sampling) varies it; 0 is the deterministic \
         translation."
    ));
    let mut noise = app.state.settings.noise;
    let mut changed = ui
        .add(
            egui::Slider::new(&mut noise.amount, 0.0..=2.0)
                .text("noise amount")
                .fixed_decimals(2),
        )
        .changed();
    ui.horizontal(|ui| {
        ui.label("noise seed");
        changed |= ui.add(egui::DragValue::new(&mut noise.seed)).changed();
        if ui.button("New seed").clicked() {
            noise.seed = noise.seed.wrapping_add(1);
            changed = true;
        }
    });
    if changed {
        out.act(Action::SetNoise(noise));
    }
}

fn sliders(app: &StylespaceApp, ui: &mut Ui, name: &str, out: &mut Intents) {
    let style = &app.state.style;
    for (dim, value) in style.iter().enumerate() {
        let mut value = *value;
        let slider = egui::Slider::new(&mut value, -3.0..=3.0)
            .text(format!("{name} {}", dim + 1))
            .fixed_decimals(2)
            .clamping(egui::SliderClamping::Never);
        if ui.add(slider).changed() {
            out.act(Action::SetStyleValue { dim, value });
        }
    }
    if style.is_empty() {
        return;
    }
    let (norm, percentile) = prior_percentile(style);
    let text = format!(
        "|s| = {norm:.2}, {} percentile of |s| under the N(0, I) prior",
        ordinal((percentile * 100.0).round() as u32)
    );
    if percentile > 0.99 {
        ui.colored_label(Color32::from_rgb(230, 160, 60), text)
            .on_hover_text("Far from the prior: the decoder saw few such codes in training");
    } else {
        ui.label(text);
    }
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st", ...
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A drop zone for reference images (its rect routes dropped files) plus the set's images.
fn style_from_image(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let zone = egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_min_size(Vec2::new(ui.available_width(), 40.0));
        ui.label("Style from image: drop a reference image of the target domain here");
        ui.horizontal_wrapped(|ui| {
            for entry in app.state.images.iter().filter(|e| e.style().is_some()) {
                if ui
                    .small_button(&entry.name)
                    .on_hover_text("Use this image's style")
                    .clicked()
                {
                    out.act(Action::StyleFromImage(entry.id));
                }
            }
        });
    });
    out.push(Intent::StyleZone(zone.response.rect));
}

fn saved_codes(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    ui.horizontal(|ui| {
        ui.label("Saved codes");
        if ui.small_button("Save current").clicked() {
            out.act(Action::SaveCurrentCode);
        }
    });
    for (i, code) in app.state.settings.saved_codes.iter().enumerate() {
        ui.horizontal(|ui| {
            if ui.button(&code.name).clicked() {
                out.act(Action::LoadSavedCode(i));
            }
            if ui.small_button("x").clicked() {
                out.act(Action::DeleteSavedCode(i));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 100, 101, 111]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "100th",
                "101st", "111th"
            ]
        );
    }
}
