//! Picking a code from what the app holds (the current code, saved codes, images' styles,
//! samples), and showing a code at a glance.

use egui::{Sense, Ui, Vec2};

use crate::app::state::AppState;

/// A menu button (`text`, `width` points wide) listing every code the app holds; the one
/// picked, if any.
pub fn pick_code(
    ui: &mut Ui,
    state: &AppState,
    id_salt: &str,
    text: &str,
    width: f32,
) -> Option<Vec<f32>> {
    let dim = state.style.len();
    let mut picked = None;
    let response = egui::ComboBox::from_id_salt(id_salt)
        .selected_text(text)
        .width(width)
        .show_ui(ui, |ui| {
            if ui.selectable_label(false, "the current code").clicked() {
                picked = Some(state.style.clone());
            }
            for saved in &state.settings.saved_codes {
                if saved.code.len() == dim
                    && ui
                        .selectable_label(false, format!("saved: {}", saved.name))
                        .clicked()
                {
                    picked = Some(saved.code.clone());
                }
            }
            for entry in &state.images {
                if let Some(style) = entry.style().filter(|s| s.len() == dim)
                    && ui
                        .selectable_label(false, format!("image: {}", entry.name))
                        .clicked()
                {
                    picked = Some(style.to_vec());
                }
            }
            for (i, code) in state.sample_codes().into_iter().enumerate() {
                if ui
                    .selectable_label(false, format!("sample {}", i + 1))
                    .clicked()
                {
                    picked = Some(code);
                }
            }
        });
    // Screen readers (and tests) know the menu by its text.
    response.response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("{id_salt}: {text}"))
    });
    picked
}

/// A code as a row of small bars (up: positive, down: negative), for recognising it at a glance.
pub fn code_bars(ui: &mut Ui, code: &[f32]) -> egui::Response {
    let bar = 5.0;
    let height = 18.0;
    let (rect, response) = ui.allocate_exact_size(
        Vec2::new(code.len() as f32 * (bar + 1.0), height),
        Sense::click(),
    );
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let mid = rect.center().y;
    for (i, v) in code.iter().enumerate() {
        let x = rect.left() + i as f32 * (bar + 1.0);
        let h = (v / 3.0).clamp(-1.0, 1.0) * (height / 2.0 - 1.0);
        let bar_rect = egui::Rect::from_two_pos(egui::pos2(x, mid), egui::pos2(x + bar, mid - h));
        painter.rect_filled(bar_rect, 0.0, ui.visuals().selection.bg_fill);
    }
    response.on_hover_text(format!("{code:.2?}"))
}
