//! The content panel: direction, the image set with each image's encode state and swap-grid
//! roles.

use egui::{Color32, RichText, Sense, Ui, Vec2};

use super::Intents;
use crate::Domain;
use crate::app::StylespaceApp;
use crate::app::commands::Command;
use crate::app::state::{Action, EncodeState, ImageEntry, ModelState};

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
                if ui.selectable_label(current, &entry.name).clicked() {
                    out.act(Action::SelectContent(entry.id));
                }
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
