//! Drawing: menus, the content and style panels, the four views, the status bar and the
//! replace-file question. Panels read the app and return [`Intent`]s; nothing here changes state.

mod brush;
mod codes;
mod content;
pub mod map;
mod style;
mod views;

use egui::{Color32, Ui};

use super::commands::Command;
use super::{Action, Intent, ModelState, StylespaceApp};

/// Default widths of the side panels, in points.
const CONTENT_WIDTH: f32 = 220.0;
const STYLE_WIDTH: f32 = 280.0;

/// What the panels asked for this frame.
#[derive(Default)]
pub struct Intents(Vec<Intent>);

impl Intents {
    pub fn act(&mut self, action: Action) {
        self.0.push(Intent::Act(action));
    }

    pub fn run(&mut self, command: Command) {
        self.0.push(Intent::Run(command));
    }

    pub fn push(&mut self, intent: Intent) {
        self.0.push(intent);
    }
}

pub fn draw(app: &StylespaceApp, ui: &mut Ui) -> Vec<Intent> {
    let mut out = Intents::default();
    let ctx = ui.ctx().clone();
    let settings = &app.state.settings;
    egui::Panel::top("menu").show(ui, |ui| menu_bar(app, ui, &mut out));
    egui::Panel::bottom("status").show(ui, |ui| status_bar(app, ui, &mut out));
    if app.show_log {
        egui::Panel::bottom("log")
            .resizable(true)
            .default_size(140.0)
            .show(ui, |ui| message_log(app, ui));
    }
    let content = egui::Panel::left("content")
        .resizable(true)
        .default_size(settings.content_panel_width.unwrap_or(CONTENT_WIDTH))
        .show(ui, |ui| content::panel(app, ui, &mut out));
    let style = egui::Panel::right("style")
        .resizable(true)
        .default_size(settings.style_panel_width.unwrap_or(STYLE_WIDTH))
        .show(ui, |ui| {
            // Scrolls rather than clips in a short window.
            egui::ScrollArea::vertical().show(ui, |ui| style::panel(app, ui, &mut out));
        });
    // Panel widths are kept in the session once they settle on a new size.
    let widths = (content.response.rect.width(), style.response.rect.width());
    let kept = (
        settings.content_panel_width.unwrap_or(CONTENT_WIDTH),
        settings.style_panel_width.unwrap_or(STYLE_WIDTH),
    );
    if !ctx.egui_is_using_pointer()
        && ((widths.0 - kept.0).abs() > 1.0 || (widths.1 - kept.1).abs() > 1.0)
    {
        out.act(Action::SetPanelWidths {
            content: widths.0,
            style: widths.1,
        });
    }
    egui::CentralPanel::default().show(ui, |ui| views::central(app, ui, &mut out));
    confirm_replace(app, &ctx, &mut out);
    path_prompt(app, &ctx, &mut out);
    out.0
}

fn shortcut_text(ctx: &egui::Context, command: Command) -> String {
    command
        .shortcut()
        .map(|s| ctx.format_shortcut(&s))
        .unwrap_or_default()
}

/// A menu entry for a command, showing its shortcut.
fn command_button(ui: &mut Ui, out: &mut Intents, command: Command, enabled: bool) {
    let button = egui::Button::new(command.label()).shortcut_text(shortcut_text(ui.ctx(), command));
    if ui.add_enabled(enabled, button).clicked() {
        out.run(command);
        ui.close();
    }
}

fn menu_bar(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    let state = &app.state;
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            for command in [
                Command::OpenImage,
                Command::PasteImage,
                Command::OpenModel,
                Command::OpenOfficialModel,
            ] {
                command_button(ui, out, command, true);
            }
            ui.menu_button("Recent models", |ui| {
                let recent = &state.settings.recent_models;
                if recent.is_empty() {
                    ui.label("None yet");
                }
                for model in recent {
                    if ui.button(model.label()).clicked() {
                        out.act(Action::OpenModel(model.clone()));
                        ui.close();
                    }
                }
            });
            ui.separator();
            command_button(ui, out, Command::SaveStyles, true);
            command_button(ui, out, Command::LoadStyles, true);
            ui.separator();
            command_button(ui, out, Command::Quit, true);
        });
        ui.menu_button("Edit", |ui| {
            command_button(ui, out, Command::Undo, state.can_undo());
            command_button(ui, out, Command::Redo, state.can_redo());
            ui.separator();
            command_button(ui, out, Command::CopyImage, true);
            command_button(ui, out, Command::CopyStyle, true);
        });
        ui.menu_button("Style", |ui| {
            for command in [
                Command::RandomStyle,
                Command::ZeroStyle,
                Command::SwapDirection,
            ] {
                command_button(ui, out, command, true);
            }
        });
        ui.menu_button("View", |ui| {
            for command in [
                Command::ViewTranslate,
                Command::ViewSamples,
                Command::ViewSwap,
                Command::ViewInterpolate,
                Command::ViewMap,
                Command::ToggleAnimation,
            ] {
                command_button(ui, out, command, true);
            }
        });
        ui.menu_button("Export", |ui| {
            for command in [
                Command::ExportPng,
                Command::ExportSampleGrid,
                Command::ExportSwapGrid,
                Command::ExportGif,
                Command::ExportStrip,
                Command::ExportSavedCodes,
                Command::ExportMap,
                Command::Screenshot,
            ] {
                command_button(ui, out, command, true);
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("PNG scale");
                for scale in [1, 2, 4, 8] {
                    let current = state.settings.export_scale == scale;
                    if ui.selectable_label(current, format!("{scale}x")).clicked() {
                        out.act(Action::SetExportScale(scale));
                    }
                }
            });
        });
    });
}

fn status_bar(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    ui.horizontal(|ui| {
        let log = app.toasts.log();
        let errors = log.iter().filter(|m| m.error).count();
        let label = match errors {
            0 => format!("Messages ({})", log.len()),
            n => format!("Messages ({}, {n} errors)", log.len()),
        };
        if ui
            .selectable_label(app.show_log, label)
            .on_hover_text("Every message of this session")
            .clicked()
        {
            out.push(Intent::ToggleLog);
        }
        ui.separator();
        ui.label(&app.backend_description);
        ui.separator();
        match &app.state.model {
            ModelState::None => {
                ui.label("no model");
            }
            ModelState::Loading(source) => {
                ui.spinner();
                ui.label(format!("loading {}...", source.label()));
            }
            ModelState::Ready(info) => {
                use crate::engine::Family;
                use crate::io::image::Preprocess;
                let d = &info.description;
                let label = match (d.family, d.preprocess_for(app.state.source), d.style) {
                    (Family::Munit, Preprocess::ShorterSide { new_size }, Some(s)) => format!(
                        "MUNIT model {} ({new_size} px, style_dim {})",
                        info.source.label(),
                        s.dim
                    ),
                    (family, how, style) => format!(
                        "{family} model {} ({how}, {})",
                        info.source.label(),
                        style.map_or("no style space".into(), |s| format!(
                            "{} {}-d",
                            s.name, s.dim
                        ))
                    ),
                };
                ui.label(label);
            }
            ModelState::Failed(source, _) => {
                ui.colored_label(
                    Color32::LIGHT_RED,
                    format!("{} failed to open", source.label()),
                );
            }
        }
        ui.separator();
        if app.show_timings && app.stats.last_render_seconds > 0.0 {
            ui.label(format!(
                "decode {:.1} ms",
                app.stats.last_render_seconds * 1e3
            ));
        }
        if let Some(median) = median(&app.stats.latencies).filter(|_| app.show_timings) {
            ui.label(format!("slider -> pixels {:.1} ms", median * 1e3));
        }
        if app.busy() {
            ui.spinner();
        }
    });
}

/// A file dialog answered by typing a path (where no native dialog can be shown).
fn path_prompt(app: &StylespaceApp, ctx: &egui::Context, out: &mut Intents) {
    let Some(prompt) = &app.path_prompt else {
        return;
    };
    egui::Modal::new(egui::Id::unique("path-prompt")).show(ctx, |ui| {
        ui.heading(prompt.title());
        let mut text = prompt.text.clone();
        let field = ui.add(
            egui::TextEdit::singleline(&mut text)
                .desired_width(420.0)
                .hint_text("/path/to/file"),
        );
        if field.changed() {
            out.push(Intent::PromptText(text));
        }
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            if ui.button("OK").clicked() || entered {
                out.push(Intent::PromptDone(true));
            }
            if ui.button("Cancel").clicked() {
                out.push(Intent::PromptDone(false));
            }
        });
    });
}

/// Every message of the session, newest at the bottom.
fn message_log(app: &StylespaceApp, ui: &mut Ui) {
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for entry in app.toasts.log() {
                let mut text = format!("{:>7.1} s  {}", entry.seconds, entry.text);
                if entry.repeats > 1 {
                    text += &format!(" (x{})", entry.repeats);
                }
                if entry.error {
                    ui.colored_label(Color32::LIGHT_RED, text);
                } else {
                    ui.label(text);
                }
            }
        });
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let recent = &values[values.len().saturating_sub(50)..];
    let mut sorted = recent.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

fn confirm_replace(app: &StylespaceApp, ctx: &egui::Context, out: &mut Intents) {
    let Some((target, path)) = &app.confirm_replace else {
        return;
    };
    egui::Modal::new(egui::Id::unique("confirm-replace")).show(ctx, |ui| {
        ui.label(format!("{} already exists. Replace it?", path.display()));
        ui.horizontal(|ui| {
            if ui.button("Replace").clicked() {
                out.push(Intent::Save {
                    target: *target,
                    path: path.clone(),
                    overwrite: true,
                });
            }
            if ui.button("Cancel").clicked() {
                out.push(Intent::KeepFile);
            }
        });
    });
}
