//! The content panel: direction, the image set with each image's encode state and swap-grid
//! roles.

use egui::{Color32, RichText, Sense, Ui, Vec2};

use super::Intents;
use crate::Domain;
use crate::app::StylespaceApp;
use crate::app::commands::Command;
use crate::app::state::{Action, EncodeState, ImageEntry, ModelState};
use crate::engine::domains::{CLEARLY_BETTER, DomainFit};

pub fn panel(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    ui.heading("Content");
    ui.horizontal(|ui| {
        ui.label("Direction");
        for (source, label) in [(Domain::A, "a -> b"), (Domain::B, "b -> a")] {
            if ui.selectable_label(state.source == source, label).clicked()
                && state.source != source
            {
                out.act(Action::SetSource(source));
            }
        }
    });
    direction_hint(app, ui, out);
    ui.horizontal(|ui| {
        if ui.button("Open...").clicked() {
            out.run(Command::OpenImage);
        }
        ui.label(RichText::new("or drop / paste images").weak());
    });
    ui.separator();
    egui::ScrollArea::vertical().show(ui, |ui| {
        for entry in &state.images {
            image_row(app, ui, entry, out);
        }
    });
}

/// Suggests the other direction when the content image looks like the target domain.
fn direction_hint(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    let Some(entry) = state.content.and_then(|id| state.image(id)) else {
        return;
    };
    let Some(fit) = entry.domain.filter(|f| !f.far_from_both()) else {
        return;
    };
    let Some(likely) = fit.likely().filter(|d| *d != state.source) else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} looks like domain {likely}", entry.name),
        )
        .on_hover_text(fit_text(&fit));
        if ui
            .small_button(format!("Translate {likely} -> {}", likely.other()))
            .clicked()
        {
            out.act(Action::SetSource(likely));
        }
    });
}

/// The reconstruction errors behind a domain tag, for a tooltip.
pub fn fit_text(fit: &DomainFit) -> String {
    format!(
        "How well each domain's autoencoder reproduces the image (mean error, 0 = exact): \
         a {:.3}, b {:.3}. {}",
        fit.errors[0],
        fit.errors[1],
        if fit.far_from_both() {
            "Neither reproduces it well: it looks unlike both training sets, so its \
             translations may be poor."
                .to_string()
        } else if let Some(domain) = fit.likely() {
            format!("It most likely comes from domain {domain}.")
        } else {
            format!(
                "Both reproduce it about as well (within {:.0} %): its domain is open.",
                100.0 * (1.0 - CLEARLY_BETTER)
            )
        }
    )
}

/// A small badge with the image's likely domain ("far" when it is far from both).
fn domain_tag(ui: &mut Ui, fit: Option<&DomainFit>) {
    let Some(fit) = fit else {
        return;
    };
    let (text, colour) = if fit.far_from_both() {
        ("far".to_string(), ui.visuals().warn_fg_color)
    } else {
        (
            format!("domain {}", fit.likely_name()),
            ui.visuals().text_color(),
        )
    };
    egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .stroke(egui::Stroke::new(1.0, colour.gamma_multiply(0.6)))
        .corner_radius(3.0)
        .inner_margin(egui::Margin::symmetric(4, 0))
        .show(ui, |ui| {
            ui.label(RichText::new(text).small().color(colour));
        })
        .response
        .on_hover_text(fit_text(fit));
}

fn image_row(app: &StylespaceApp, ui: &mut Ui, entry: &ImageEntry, out: &mut Intents) {
    let current = app.state.content == Some(entry.id);
    let frame = egui::Frame::group(ui.style()).fill(if current {
        ui.visuals().selection.bg_fill.gamma_multiply(0.4)
    } else {
        Color32::TRANSPARENT
    });
    frame.show(ui, |ui| {
        ui.horizontal(|ui| {
            if let Some(thumb) = app.display.thumbnail(entry.id) {
                let image = egui::Image::new((thumb, Vec2::splat(48.0))).sense(Sense::click());
                if ui.add(image).clicked() {
                    out.act(Action::SelectContent(entry.id));
                }
            }
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    if ui.selectable_label(current, &entry.name).clicked() {
                        out.act(Action::SelectContent(entry.id));
                    }
                    domain_tag(ui, entry.domain.as_ref());
                });
                ui.horizontal(|ui| {
                    match &entry.state {
                        EncodeState::Pending if entry.encoding() => {
                            ui.spinner();
                        }
                        EncodeState::Pending => match &app.state.model {
                            ModelState::Loading(_) => {
                                ui.spinner().on_hover_text("waiting for the model");
                            }
                            _ => {
                                ui.label(RichText::new("not encoded").weak())
                                    .on_hover_text("No model is open to encode it");
                            }
                        },
                        EncodeState::Failed(e) => {
                            ui.colored_label(Color32::LIGHT_RED, "failed")
                                .on_hover_text(e);
                        }
                        EncodeState::Ready { .. } => {}
                    }
                    let (mut in_rows, mut in_cols) = (entry.in_rows, entry.in_cols);
                    let rows = ui
                        .checkbox(&mut in_rows, "row")
                        .on_hover_text("Use as content in the swap grid");
                    let cols = ui
                        .checkbox(&mut in_cols, "col")
                        .on_hover_text("Use as style in the swap grid");
                    if rows.changed() || cols.changed() {
                        out.act(Action::SetGridRoles {
                            id: entry.id,
                            in_rows,
                            in_cols,
                        });
                    }
                    if ui.small_button("x").on_hover_text("Remove").clicked() {
                        out.act(Action::RemoveImage(entry.id));
                    }
                });
            });
        });
    });
}
