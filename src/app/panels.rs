//! Drawing: menus, the content and style panels, the four views, the status bar and toasts.
//! Widgets change the app's state; the app turns state into render requests after drawing.

use egui::{Color32, RichText, Sense, Ui, Vec2};

use super::commands::Command;
use super::session::View;
use super::{EncodeState, ModelState, StylespaceApp};
use crate::Domain;
use crate::engine::styles::{prior_percentile, sample_styles};
use crate::engine::worker::Slot;

/// Side of an output image on screen, in points (the model's pixels are scaled up).
const OUTPUT_SIDE: f32 = 320.0;
const CELL_SIDE: f32 = 112.0;

pub fn draw(app: &mut StylespaceApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    egui::Panel::top("menu").show(ui, |ui| menu_bar(app, ui));
    egui::Panel::bottom("status").show(ui, |ui| status_bar(app, ui));
    egui::Panel::left("content")
        .resizable(true)
        .default_size(220.0)
        .show(ui, |ui| content_panel(app, ui));
    egui::Panel::right("style")
        .resizable(true)
        .default_size(280.0)
        .show(ui, |ui| style_panel(app, ui));
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            for (view, command) in [
                (View::Translate, Command::ViewTranslate),
                (View::Samples, Command::ViewSamples),
                (View::Swap, Command::ViewSwap),
                (View::Interpolate, Command::ViewInterpolate),
            ] {
                if ui
                    .selectable_label(app.session.view == view, command.label())
                    .on_hover_text(shortcut_text(&ctx, command))
                    .clicked()
                {
                    app.session.view = view;
                }
            }
        });
        ui.separator();
        egui::ScrollArea::both().show(ui, |ui| match app.session.view {
            View::Translate => translate_view(app, ui),
            View::Samples => samples_view(app, ui),
            View::Swap | View::Interpolate if app.uses_latent_noise() => {
                ui.label(
                    "This view works with style codes: the swap grid decodes each content with \
                     each image's style, the interpolation moves between two codes. This model \
                     (UNIT) has no style code; its Sample grid shows latent-noise samples.",
                );
            }
            View::Swap => swap_view(app, ui),
            View::Interpolate => interpolate_view(app, ui),
        });
    });
    toasts(app, &ctx);
    confirm_replace(app, &ctx);
}

fn shortcut_text(ctx: &egui::Context, command: Command) -> String {
    command
        .shortcut()
        .map(|s| ctx.format_shortcut(&s))
        .unwrap_or_default()
}

/// A menu entry for a command, showing its shortcut.
fn command_button(app: &mut StylespaceApp, ui: &mut Ui, command: Command, enabled: bool) {
    let ctx = ui.ctx().clone();
    let button = egui::Button::new(command.label()).shortcut_text(shortcut_text(&ctx, command));
    if ui.add_enabled(enabled, button).clicked() {
        app.run_command(&ctx, command);
        ui.close();
    }
}

fn menu_bar(app: &mut StylespaceApp, ui: &mut Ui) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            for command in [
                Command::OpenImage,
                Command::PasteImage,
                Command::OpenModel,
                Command::OpenOfficialModel,
            ] {
                command_button(app, ui, command, true);
            }
            ui.menu_button("Recent models", |ui| {
                let recent = app.session.recent_models.clone();
                if recent.is_empty() {
                    ui.label("None yet");
                }
                for model in recent {
                    if ui.button(model.label()).clicked() {
                        app.load_model(model);
                        ui.close();
                    }
                }
            });
            ui.separator();
            command_button(app, ui, Command::SaveStyles, true);
            command_button(app, ui, Command::LoadStyles, true);
        });
        ui.menu_button("Edit", |ui| {
            let (undo, redo) = (app.can_undo(), app.can_redo());
            command_button(app, ui, Command::Undo, undo);
            command_button(app, ui, Command::Redo, redo);
            ui.separator();
            command_button(app, ui, Command::CopyImage, true);
            command_button(app, ui, Command::CopyStyle, true);
        });
        ui.menu_button("Style", |ui| {
            for command in [
                Command::RandomStyle,
                Command::ZeroStyle,
                Command::SwapDirection,
            ] {
                command_button(app, ui, command, true);
            }
        });
        ui.menu_button("View", |ui| {
            for command in [
                Command::ViewTranslate,
                Command::ViewSamples,
                Command::ViewSwap,
                Command::ViewInterpolate,
                Command::ToggleAnimation,
            ] {
                command_button(app, ui, command, true);
            }
        });
        ui.menu_button("Export", |ui| {
            for command in [
                Command::ExportPng,
                Command::ExportSampleGrid,
                Command::ExportSwapGrid,
                Command::ExportGif,
                Command::ExportStrip,
                Command::Screenshot,
            ] {
                command_button(app, ui, command, true);
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("PNG scale");
                for scale in [1, 2, 4, 8] {
                    ui.selectable_value(&mut app.session.export_scale, scale, format!("{scale}x"));
                }
            });
        });
    });
}

fn status_bar(app: &mut StylespaceApp, ui: &mut Ui) {
    ui.horizontal(|ui| {
        ui.label(&app.backend_description);
        ui.separator();
        match &app.model {
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
                let label = match (d.family, d.preprocess_for(app.source), d.style) {
                    (Family::Munit, Preprocess::ShorterSide { new_size }, Some(s)) => format!(
                        "model {} ({new_size} px, style_dim {})",
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

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let recent = &values[values.len().saturating_sub(50)..];
    let mut sorted = recent.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

fn content_panel(app: &mut StylespaceApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    ui.heading("Content");
    ui.horizontal(|ui| {
        ui.label("Direction");
        let mut source = app.source;
        ui.selectable_value(&mut source, Domain::A, "a -> b");
        ui.selectable_value(&mut source, Domain::B, "b -> a");
        if source != app.source {
            app.swap_direction();
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Open...").clicked() {
            app.run_command(&ctx, Command::OpenImage);
        }
        ui.label(RichText::new("or drop / paste images").weak());
    });
    ui.separator();
    let mut select = None;
    let mut remove = None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for entry in &mut app.images {
            let current = app.content == Some(entry.id);
            let frame = egui::Frame::group(ui.style()).fill(if current {
                ui.visuals().selection.bg_fill.gamma_multiply(0.4)
            } else {
                Color32::TRANSPARENT
            });
            frame.show(ui, |ui| {
                ui.horizontal(|ui| {
                    let thumb = ui.add(
                        egui::Image::new((entry.thumbnail.id(), Vec2::splat(48.0)))
                            .sense(Sense::click()),
                    );
                    if thumb.clicked() {
                        select = Some(entry.id);
                    }
                    ui.vertical(|ui| {
                        if ui.selectable_label(current, &entry.name).clicked() {
                            select = Some(entry.id);
                        }
                        ui.horizontal(|ui| {
                            match &entry.state {
                                EncodeState::Pending => {
                                    ui.spinner();
                                }
                                EncodeState::Failed(e) => {
                                    ui.colored_label(Color32::LIGHT_RED, "failed")
                                        .on_hover_text(e);
                                }
                                EncodeState::Ready { .. } => {}
                            }
                            ui.checkbox(&mut entry.in_rows, "row")
                                .on_hover_text("Use as content in the swap grid");
                            ui.checkbox(&mut entry.in_cols, "col")
                                .on_hover_text("Use as style in the swap grid");
                            if ui.small_button("x").on_hover_text("Remove").clicked() {
                                remove = Some(entry.id);
                            }
                        });
                    });
                });
            });
        }
    });
    if let Some(id) = select {
        app.content = Some(id);
    }
    if let Some(id) = remove {
        app.remove_image(id);
    }
}

fn style_panel(app: &mut StylespaceApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    // MUNIT's code is its "style", DRIT's its "attribute"; UNIT has none.
    let (name, family) = match app.style_space() {
        Some((_, Some(space))) => (space.name, None),
        Some((family, None)) => ("style", Some(family)),
        None => ("style", None),
    };
    let mut title = name.to_string();
    title[..1].make_ascii_uppercase();
    ui.heading(title);
    if let Some(family) = family {
        ui.label(format!(
            "This {family} model has no style code: its translation of an image is \
             deterministic. Latent noise (the VAE's sampling) varies it; 0 is the deterministic \
             translation."
        ));
        let noise = &mut app.session.noise;
        ui.add(
            egui::Slider::new(&mut noise.amount, 0.0..=2.0)
                .text("noise amount")
                .fixed_decimals(2),
        );
        ui.horizontal(|ui| {
            ui.label("noise seed");
            ui.add(egui::DragValue::new(&mut noise.seed));
            if ui.button("New seed").clicked() {
                noise.seed = noise.seed.wrapping_add(1);
            }
        });
        return;
    }
    ui.horizontal(|ui| {
        if ui
            .button("Random")
            .on_hover_text(shortcut_text(&ctx, Command::RandomStyle))
            .clicked()
        {
            app.random_style();
        }
        if ui
            .button("Zero")
            .on_hover_text(shortcut_text(&ctx, Command::ZeroStyle))
            .clicked()
        {
            app.zero_style();
        }
        if ui
            .button("Copy")
            .on_hover_text("Copy the code as JSON")
            .clicked()
        {
            app.run_command(&ctx, Command::CopyStyle);
        }
    });
    for (i, value) in app.style.iter_mut().enumerate() {
        ui.add(
            egui::Slider::new(value, -3.0..=3.0)
                .text(format!("{name} {}", i + 1))
                .fixed_decimals(2)
                .clamping(egui::SliderClamping::Never),
        );
    }
    if !app.style.is_empty() {
        let (norm, percentile) = prior_percentile(&app.style);
        let text = format!(
            "|s| = {norm:.2}, percentile {:.0} of |s| under the N(0, I) prior",
            percentile * 100.0
        );
        if percentile > 0.99 {
            ui.colored_label(Color32::from_rgb(230, 160, 60), text)
                .on_hover_text("Far from the prior: the decoder saw few such codes in training");
        } else {
            ui.label(text);
        }
    }
    ui.separator();
    // Style from image: a drop zone (its rect routes dropped files) plus the set's images.
    let zone = egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_min_size(Vec2::new(ui.available_width(), 40.0));
        ui.label("Style from image: drop a reference image of the target domain here");
        let references: Vec<(u64, String)> = app
            .images
            .iter()
            .filter(|e| e.style().is_some())
            .map(|e| (e.id, e.name.clone()))
            .collect();
        ui.horizontal_wrapped(|ui| {
            for (id, name) in references {
                if ui
                    .small_button(&name)
                    .on_hover_text("Use this image's style")
                    .clicked()
                {
                    app.style_from_image(id);
                }
            }
        });
    });
    app.style_drop_rect = Some(zone.response.rect);
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Saved codes");
        if ui.small_button("Save current").clicked() {
            app.save_current_code();
        }
    });
    let mut load = None;
    let mut delete = None;
    for (i, code) in app.session.saved_codes.iter().enumerate() {
        ui.horizontal(|ui| {
            if ui.button(&code.name).clicked() {
                load = Some(code.code.clone());
            }
            if ui.small_button("x").clicked() {
                delete = Some(i);
            }
        });
    }
    if let Some(code) = load
        && code.len() == app.style.len()
    {
        app.style = code;
    }
    if let Some(i) = delete {
        app.session.saved_codes.remove(i);
    }
}

/// An output image, or a placeholder while it is being computed.
fn output_image(app: &StylespaceApp, ui: &mut Ui, slot: Slot, side: f32) -> egui::Response {
    match app.texture_of(slot) {
        Some((id, [w, h])) => {
            let scale = side / w.max(h) as f32;
            ui.add(
                egui::Image::new((id, Vec2::new(w as f32 * scale, h as f32 * scale)))
                    .sense(Sense::click()),
            )
        }
        None => {
            let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::click());
            ui.painter()
                .rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
            ui.put(rect, egui::Spinner::new());
            response
        }
    }
}

fn translate_view(app: &mut StylespaceApp, ui: &mut Ui) {
    let Some(content) = app.content else {
        ui.label("Drop an image here, or use File -> Open image.");
        return;
    };
    ui.horizontal(|ui| {
        if let Some(entry) = app.images.iter().find(|e| e.id == content) {
            ui.vertical(|ui| {
                ui.label(format!("input ({})", app.source));
                ui.add(egui::Image::new((
                    entry.thumbnail.id(),
                    Vec2::splat(OUTPUT_SIDE * 0.5),
                )));
            });
        }
        ui.vertical(|ui| {
            ui.label(format!("translation ({} -> {})", app.source, app.target()));
            output_image(app, ui, Slot::Main, OUTPUT_SIDE)
                .on_hover_text("The current content with the current style code");
        });
    });
}

fn samples_view(app: &mut StylespaceApp, ui: &mut Ui) {
    ui.horizontal(|ui| {
        let label = ui.label("Seed");
        ui.add(egui::DragValue::new(&mut app.session.sample_seed))
            .labelled_by(label.id);
        if ui.button("New seed").clicked() {
            app.session.sample_seed = app.session.sample_seed.wrapping_add(1);
        }
        ui.add(egui::Slider::new(&mut app.session.sample_count, 1..=32).text("count"));
    });
    let hint = if app.uses_latent_noise() {
        "Click a sample to make its noise current."
    } else {
        "Click a sample to make its code current."
    };
    ui.label(RichText::new(hint).weak());
    let codes = app.sample_codes();
    let noises = app.sample_noises();
    let mut take = None;
    ui.horizontal_wrapped(|ui| {
        for i in 0..codes.len() {
            if output_image(app, ui, Slot::Sample(i), CELL_SIDE)
                .on_hover_text(format!("sample {}", i + 1))
                .clicked()
            {
                take = Some(i);
            }
        }
    });
    if let Some(i) = take {
        app.style = codes[i].clone();
        if let Some(noise) = noises[i] {
            app.session.noise = noise;
        }
    }
}

fn swap_view(app: &mut StylespaceApp, ui: &mut Ui) {
    ui.horizontal(|ui| {
        if ui
            .button("Swap roles")
            .on_hover_text("Rows become columns")
            .clicked()
        {
            app.swap_grid_roles();
        }
        ui.label(
            RichText::new(
                "Rows: content images. Columns: style references. Click a cell to use it.",
            )
            .weak(),
        );
    });
    let (rows, cols): (Vec<_>, Vec<_>) = {
        let (rows, cols) = app.swap_grid();
        (
            rows.iter().map(|e| (e.id, e.thumbnail.id())).collect(),
            cols.iter().map(|e| (e.id, e.thumbnail.id())).collect(),
        )
    };
    if rows.is_empty() || cols.is_empty() {
        ui.label("Mark images as rows and columns in the content panel.");
        return;
    }
    let mut take = None;
    egui::Grid::new("swap-grid")
        .spacing([6.0, 6.0])
        .show(ui, |ui| {
            ui.label("");
            for (_, thumb) in &cols {
                ui.add(egui::Image::new((*thumb, Vec2::splat(48.0))));
            }
            ui.end_row();
            for (r, (row_id, thumb)) in rows.iter().enumerate() {
                ui.add(egui::Image::new((*thumb, Vec2::splat(48.0))));
                for (c, (col_id, _)) in cols.iter().enumerate() {
                    if output_image(app, ui, Slot::Swap { row: r, col: c }, CELL_SIDE).clicked() {
                        take = Some((*row_id, *col_id));
                    }
                }
                ui.end_row();
            }
        });
    if let Some((row, col)) = take {
        app.content = Some(row);
        app.style_from_image(col);
    }
}

fn interpolate_view(app: &mut StylespaceApp, ui: &mut Ui) {
    let ctx = ui.ctx().clone();
    let dim = app.style.len();
    ui.horizontal(|ui| {
        ui.label("Start");
        if ui.button("Current").clicked() {
            app.session.interpolation.start = app.style.clone();
        }
        if ui.button("Random").clicked() {
            app.session.interpolation.start = sample_styles(1, dim, clock_seed()).remove(0);
        }
        ui.separator();
        ui.label("End");
        if ui.button("Current").clicked() {
            app.session.interpolation.end = app.style.clone();
        }
        if ui.button("Random").clicked() {
            app.session.interpolation.end = sample_styles(1, dim, clock_seed() ^ 1).remove(0);
        }
    });
    ui.horizontal(|ui| {
        let settings = &mut app.session.interpolation;
        ui.selectable_value(&mut settings.spherical, false, "linear");
        ui.selectable_value(&mut settings.spherical, true, "spherical");
        ui.separator();
        let label = ui.label("frames");
        ui.add(egui::DragValue::new(&mut settings.frames).range(2..=120))
            .labelled_by(label.id);
        let label = ui.label("ms per frame");
        ui.add(egui::DragValue::new(&mut settings.frame_ms).range(20..=2000))
            .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = if app.playing { "Pause" } else { "Play" };
        if ui
            .button(label)
            .on_hover_text(shortcut_text(&ctx, Command::ToggleAnimation))
            .clicked()
        {
            app.playing = !app.playing;
        }
        ui.add(egui::Slider::new(&mut app.interpolation_t, 0.0..=1.0).text("t"));
    });
    ui.horizontal(|ui| {
        if ui.button("Export GIF...").clicked() {
            app.run_command(&ctx, Command::ExportGif);
        }
        if ui.button("Export PNG strip...").clicked() {
            app.run_command(&ctx, Command::ExportStrip);
        }
        if ui.button("Use this code").clicked()
            && let Some(code) = app.interpolated(app.interpolation_t)
        {
            app.style = code;
        }
    });
    output_image(app, ui, Slot::Interpolation, OUTPUT_SIDE);
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn toasts(app: &StylespaceApp, ctx: &egui::Context) {
    if app.toasts.is_empty() {
        return;
    }
    egui::Area::new(egui::Id::unique("toasts"))
        .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0])
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            for toast in app.toasts.iter().rev().take(5) {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(360.0);
                    if toast.error {
                        ui.colored_label(Color32::LIGHT_RED, &toast.text);
                    } else {
                        ui.label(&toast.text);
                    }
                });
            }
        });
}

fn confirm_replace(app: &mut StylespaceApp, ctx: &egui::Context) {
    let Some((target, path)) = app.confirm_replace.clone() else {
        return;
    };
    let mut answer = None;
    egui::Modal::new(egui::Id::unique("confirm-replace")).show(ctx, |ui| {
        ui.label(format!("{} already exists. Replace it?", path.display()));
        ui.horizontal(|ui| {
            if ui.button("Replace").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    if let Some(replace) = answer {
        app.confirm_replace = None;
        if replace {
            app.export_to(target, path, true);
        }
    }
}
