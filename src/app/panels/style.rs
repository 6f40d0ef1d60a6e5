//! The style panel: one slider per dimension of the model's code (or UNIT's latent-noise
//! control), the code's distance from the prior, style from an image, and saved codes.

use egui::{Color32, RichText, Ui, Vec2};

use super::{Intents, shortcut_text};
use crate::app::commands::Command;
use crate::app::session::SliderMode;
use crate::app::state::{Action, ImageEntry};
use crate::app::{Intent, StylespaceApp};
use crate::engine::Family;
use crate::engine::pca::Pca;
use crate::engine::styles::prior_percentile;

fn hovered_id() -> egui::Id {
    egui::Id::unique("hovered style slider")
}

/// The slider (dimension or principal direction, 0-based) the pointer is on this frame, if any
/// (the style panel is drawn before the central view).
pub fn hovered_slider(ctx: &egui::Context) -> Option<usize> {
    ctx.data(|d| d.get_temp::<usize>(hovered_id()))
}

fn note_hover(ui: &Ui, response: &egui::Response, k: usize) {
    if response.hovered() || response.dragged() {
        ui.data_mut(|d| d.insert_temp(hovered_id(), k));
    }
}

pub fn panel(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    ui.data_mut(|d| d.remove::<usize>(hovered_id()));
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
    effect_maps(app, ui, name, out);
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

/// Raw dimensions or principal directions of the map's codes.
fn slider_mode(app: &StylespaceApp, ui: &mut Ui, pca: Option<&Pca>, out: &mut Intents) -> bool {
    let mode = app.state.settings.slider_mode;
    ui.horizontal(|ui| {
        ui.label("Sliders");
        let choices = [
            (
                SliderMode::Dimensions,
                "dimensions",
                "One slider per number of the code",
            ),
            (
                SliderMode::Principal,
                "principal directions",
                "One slider per direction along which the reference images' codes (the set's \
                 and the style map's) vary most, largest first",
            ),
        ];
        for (choice, label, hover) in choices {
            if ui
                .selectable_label(mode == choice, label)
                .on_hover_text(hover)
                .clicked()
                && mode != choice
            {
                out.act(Action::SetSliderMode(choice));
            }
        }
    });
    if mode == SliderMode::Principal && pca.is_none() {
        ui.label(
            RichText::new(
                "Principal directions need the codes of at least two reference images: add \
                 images of the target domain, or a folder on the Map view.",
            )
            .weak(),
        );
    }
    mode == SliderMode::Principal && pca.is_some()
}

/// One slider per principal direction: moving one moves the code along that direction, the
/// code's other components unchanged.
fn principal_sliders(style: &[f32], pca: &Pca, ui: &mut Ui, out: &mut Intents) {
    let coords = pca.project(style, pca.dim());
    let ratios = pca.explained_variance_ratio();
    for k in 0..pca.dim() {
        let mut value = coords[k];
        let reach = (3.0 * pca.variances[k].sqrt()).max(1.0);
        let slider = egui::Slider::new(&mut value, -reach..=reach)
            .text(format!("PC {} ({:.0} %)", k + 1, 100.0 * ratios[k]))
            .fixed_decimals(2)
            .clamping(egui::SliderClamping::Never);
        let response = ui.add(slider);
        note_hover(ui, &response, k);
        if response.changed() {
            let mut moved = coords.clone();
            moved[k] = value;
            out.act(Action::SetStyle(pca.with_coords(style, &moved)));
        }
    }
}

fn sliders(app: &StylespaceApp, ui: &mut Ui, name: &str, out: &mut Intents) {
    let style = &app.state.style;
    // Principal axes only when their sliders show: this runs every frame a slider moves.
    let principal = app.state.settings.slider_mode == SliderMode::Principal;
    let pca = principal
        .then(|| app.state.style_pca())
        .flatten()
        .filter(|p| p.dim() == style.len());
    if slider_mode(app, ui, pca.as_ref(), out)
        && let Some(pca) = &pca
    {
        principal_sliders(style, pca, ui, out);
    }
    let raw = app.state.settings.slider_mode == SliderMode::Dimensions || pca.is_none();
    for (dim, value) in style.iter().enumerate().filter(|_| raw) {
        let mut value = *value;
        let slider = egui::Slider::new(&mut value, -3.0..=3.0)
            .text(format!("{name} {}", dim + 1))
            .fixed_decimals(2)
            .clamping(egui::SliderClamping::Never);
        let response = ui.add(slider);
        note_hover(ui, &response, dim);
        if response.changed() {
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

/// Where each slider acts: one heat map per dimension (or principal direction) of how much each
/// output pixel changes as that coordinate moves, all on one colour scale.
fn effect_maps(app: &StylespaceApp, ui: &mut Ui, name: &str, out: &mut Intents) {
    let settings = &app.state.settings;
    let (mut show, mut step) = (settings.show_effects, settings.effect_step);
    let changed = ui
        .horizontal(|ui| {
            let on = ui
                .checkbox(&mut show, "Effect maps")
                .on_hover_text(
                    "Where each slider changes the output: brighter = more change per unit \
                     (central differences of the step, one colour scale for all maps)",
                )
                .changed();
            let moved = show
                && ui
                    .add(
                        egui::DragValue::new(&mut step)
                            .range(0.01..=3.0)
                            .speed(0.01)
                            .prefix("step "),
                    )
                    .changed();
            on || moved
        })
        .inner;
    if changed {
        out.act(Action::SetEffects { show, step });
    }
    if !show {
        return;
    }
    let Some((request, textures)) = app.display.effects() else {
        ui.spinner();
        return;
    };
    let labels = crate::app::compose::direction_labels(&request.directions, name);
    ui.horizontal(|ui| {
        if Some(request) != app.state.effect_request().as_ref() {
            ui.label(RichText::new("updating...").weak());
        }
        if ui
            .small_button("Export...")
            .on_hover_text(Command::ExportEffects.label())
            .clicked()
        {
            out.run(Command::ExportEffects);
        }
    });
    let side = ((ui.available_width() - 3.0 * 6.0) / 4.0).clamp(32.0, 96.0);
    egui::Grid::new("effect maps")
        .spacing([6.0, 2.0])
        .show(ui, |ui| {
            for (row, chunk) in textures.chunks(4).enumerate() {
                for (i, texture) in chunk.iter().enumerate() {
                    let label = labels[row * 4 + i].clone();
                    ui.vertical(|ui| {
                        ui.add(
                            egui::Image::new((*texture, Vec2::splat(side)))
                                .alt_text(format!("effect of {label}")),
                        );
                        ui.label(RichText::new(label).small());
                    });
                }
                ui.end_row();
            }
        });
}

/// A drop zone for reference images (its rect routes dropped files) plus the set's images.
fn style_from_image(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let zone = egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_min_size(Vec2::new(ui.available_width(), 40.0));
        ui.label("Style from image: drop a reference image of the target domain here");
        // Images of the source domain (or far from both) make poor references: offered only
        // on request.
        let fits = |e: &&ImageEntry| app.state.offers_as_reference(e);
        let all_id = ui.scope_id().with("all references");
        let mut all = ui.data(|d| d.get_temp::<bool>(all_id)).unwrap_or(false);
        let hidden = (app.state.images.iter())
            .filter(|e| e.style().is_some() && !fits(e))
            .count();
        ui.horizontal_wrapped(|ui| {
            let offered =
                (app.state.images.iter()).filter(|e| e.style().is_some() && (all || fits(e)));
            for entry in offered {
                if ui
                    .small_button(&entry.name)
                    .on_hover_text("Use this image's style")
                    .clicked()
                {
                    out.act(Action::StyleFromImage(entry.id));
                }
            }
            if hidden > 0
                && ui
                    .checkbox(&mut all, format!("all images ({hidden} more)"))
                    .on_hover_text(
                        "Images that look like the content domain give styles without the \
                         target domain's look (line art as a reference: no colour)",
                    )
                    .changed()
            {
                ui.data_mut(|d| d.insert_temp(all_id, all));
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
