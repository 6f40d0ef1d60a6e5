//! The style map view: the codes of the set's reference images and of the map's files on their
//! two principal directions, over the prior's samples. The current code is a ring to drag (the
//! output follows); a click on a point takes its code.

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, Ui, Vec2};

use super::Intents;
use crate::app::StylespaceApp;
use crate::app::commands::Command;
use crate::app::compose::prior_on_map;
use crate::app::state::{Action, MapFrom, MapPoint, pca_of};
use crate::engine::pca::Pca;

/// A drag of the marker: everything it started from, so the code at a pointer position does not
/// depend on what changes meanwhile (a folder still loading moves the axes), and a pointer back
/// where it started gives the starting code exactly.
#[derive(Clone)]
struct MarkerDrag {
    pca: Pca,
    base: Vec<f32>,
    base_coords: [f32; 2],
    start: Pos2,
    /// Code units per screen point.
    scale: f32,
}

/// Where the marker was drawn last (for tests that drag it).
pub fn marker_position(ctx: &egui::Context) -> Option<Pos2> {
    ctx.data(|d| d.get_temp::<Pos2>(marker_id()))
}

fn marker_id() -> egui::Id {
    egui::Id::unique("style map marker")
}

pub fn view(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    toolbar(app, ui, out);
    let state = &app.state;
    let target = state.target();
    let dragging = ui.data(|d| d.get_temp::<MarkerDrag>(drag_id()));
    let points = state.map_points();
    let Some(pca) = dragging
        .as_ref()
        .map(|d| d.pca.clone())
        .or_else(|| pca_of(&points))
    else {
        ui.label(format!(
            "The map shows the style codes of reference images (domain {target}) on the two \
             directions along which they vary most. It needs at least two: add images of domain \
             {target} to the set, or a folder of them (Add folder...)."
        ));
        return;
    };
    let ratio = pca.explained_variance_ratio();
    ui.label(
        RichText::new(format!(
            "{} codes; horizontal PC1 {:.1} %, vertical PC2 {:.1} % of their variance. Drag \
             the red ring (the current code) to restyle; click a point to take its code.",
            points.len(),
            100.0 * ratio[0],
            100.0 * ratio[1]
        ))
        .weak(),
    );
    // The plot, with the translation beside it (below, in a narrow window).
    let avail = ui.available_size();
    let wide = avail.x >= avail.y * 1.3;
    let side = if wide {
        (avail.x * 0.62).min(avail.y - 4.0)
    } else {
        (avail.x).min(avail.y * 0.62)
    }
    .max(240.0);
    let output_side = if wide {
        (avail.x - side - 12.0).min(side).max(96.0)
    } else {
        (avail.y - side - 12.0).min(side).max(96.0)
    };
    let layout = if wide {
        egui::Layout::left_to_right(egui::Align::Min)
    } else {
        egui::Layout::top_down(egui::Align::Min)
    };
    ui.with_layout(layout, |ui| {
        plot(app, ui, &pca, &points, dragging, side, out);
        super::views::output_image(app, ui, crate::engine::worker::Slot::Main, output_side);
    });
}

fn plot(
    app: &StylespaceApp,
    ui: &mut Ui,
    pca: &Pca,
    points: &[MapPoint],
    dragging: Option<MarkerDrag>,
    side: f32,
    out: &mut Intents,
) {
    let state = &app.state;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::click_and_drag());
    let response = response.on_hover_cursor(egui::CursorIcon::Crosshair);
    let coords: Vec<[f32; 2]> = points.iter().map(|p| pca.plane(&p.code)).collect();
    let marker = (state.style.len() == pca.dim()).then(|| pca.plane(&state.style));
    // Code units per point: fixed during a drag.
    let scale = dragging.as_ref().map_or_else(
        || {
            let extent = (coords.iter().copied().chain(marker))
                .flat_map(|[x, y]| [x.abs(), y.abs()])
                .fold(1e-3f32, f32::max)
                * 1.2;
            extent / (side / 2.0 - 16.0)
        },
        |d| d.scale,
    );
    let to_screen = |[x, y]: [f32; 2]| rect.center() + Vec2::new(x, -y) / scale;
    draw(app, ui, rect, pca, points, &coords, to_screen);

    if let Some(m) = marker {
        let at = to_screen(m);
        ui.painter()
            .circle_stroke(at, 9.0, Stroke::new(3.0, Color32::from_rgb(220, 40, 40)));
        ui.data_mut(|d| d.insert_temp(marker_id(), at));
    }
    drag_marker(app, ui, &response, pca, marker.map(to_screen), scale, out);
    let nearest = |pos: Pos2| {
        (coords.iter().enumerate())
            .map(|(i, c)| (i, to_screen(*c).distance(pos)))
            .filter(|(_, d)| *d < 10.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    };
    if response.clicked()
        && let Some(i) = response.interact_pointer_pos().and_then(nearest)
    {
        out.act(Action::SetStyle(points[i].code.clone()));
    }
    if dragging.is_none()
        && let Some(i) = response.hover_pos().and_then(nearest)
    {
        let point = &points[i];
        response.on_hover_ui_at_pointer(|ui| {
            ui.label(&point.label);
            if let Some(texture) = texture_of(app, point) {
                ui.add(egui::Image::new((texture, Vec2::splat(96.0))));
            }
        });
    }
}

fn drag_id() -> egui::Id {
    egui::Id::unique("style map drag")
}

fn toolbar(app: &StylespaceApp, ui: &mut Ui, out: &mut Intents) {
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Add folder...")
            .on_hover_text("Encode a folder's images with the target domain's style encoder")
            .clicked()
        {
            out.run(Command::AddMapFolder);
        }
        let map = &app.state.map;
        if let Some(loading) = &map.loading {
            let fraction = loading.done as f32 / loading.total.max(1) as f32;
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(160.0)
                    .text(format!("{} / {}", loading.done, loading.total)),
            );
            if ui.button("Cancel").clicked() {
                out.act(Action::CancelMap);
            }
        }
        if !map.files.is_empty()
            && ui
                .button(format!("Remove {} files", map.files.len()))
                .on_hover_text("The set's images stay")
                .clicked()
        {
            out.act(Action::ClearMap);
        }
        if ui.button("Export PNG...").clicked() {
            out.run(Command::ExportMap);
        }
    });
}

/// The plot: frame, axes, the prior's samples, the points.
fn draw(
    app: &StylespaceApp,
    ui: &Ui,
    rect: Rect,
    pca: &Pca,
    points: &[MapPoint],
    coords: &[[f32; 2]],
    to_screen: impl Fn([f32; 2]) -> Pos2,
) {
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 4.0, visuals.extreme_bg_color);
    let axis = Stroke::new(1.0, visuals.weak_text_color().gamma_multiply(0.5));
    let centre = to_screen([0.0, 0.0]);
    painter.hline(rect.x_range(), centre.y, axis);
    painter.vline(centre.x, rect.y_range(), axis);
    let faint = visuals.weak_text_color().gamma_multiply(0.35);
    for p in prior_on_map(pca) {
        painter.circle_filled(to_screen(p), 1.5, faint);
    }
    let label = |at: Pos2, anchor, text: &str| {
        painter.text(
            at,
            anchor,
            text,
            egui::FontId::proportional(12.0),
            visuals.weak_text_color(),
        );
    };
    label(
        Pos2::new(rect.right() - 4.0, centre.y - 2.0),
        egui::Align2::RIGHT_BOTTOM,
        "PC1",
    );
    label(
        Pos2::new(centre.x + 4.0, rect.top() + 2.0),
        egui::Align2::LEFT_TOP,
        "PC2",
    );
    for (point, c) in points.iter().zip(coords) {
        let at = to_screen(*c);
        match (point.from, texture_of(app, point)) {
            (MapFrom::Image(_), Some(texture)) => {
                let r = Rect::from_center_size(at, Vec2::splat(28.0));
                painter.image(
                    texture,
                    r,
                    Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                    Color32::WHITE,
                );
                painter.rect_stroke(
                    r,
                    2.0,
                    Stroke::new(1.0, visuals.strong_text_color()),
                    egui::StrokeKind::Outside,
                );
            }
            _ => {
                painter.circle_filled(at, 3.5, visuals.selection.bg_fill);
            }
        }
    }
}

fn texture_of(app: &StylespaceApp, point: &MapPoint) -> Option<egui::TextureId> {
    match point.from {
        MapFrom::Image(id) => app.display.thumbnail(id),
        MapFrom::File(i) => app
            .state
            .map
            .files
            .get(i)
            .and_then(|f| app.display.map_thumbnail(&f.path)),
    }
}

/// Dragging the ring moves the code in the plane of the two axes; its component outside the
/// plane stays.
fn drag_marker(
    app: &StylespaceApp,
    ui: &Ui,
    response: &egui::Response,
    pca: &Pca,
    marker: Option<Pos2>,
    scale: f32,
    out: &mut Intents,
) {
    // From where the button went down: a drag is recognised only after the pointer moved.
    let press = ui.input(|i| i.pointer.press_origin());
    if response.drag_started()
        && let (Some(at), Some(press)) = (marker, press)
        && at.distance(press) <= 14.0
    {
        let base = app.state.style.clone();
        let drag = MarkerDrag {
            pca: pca.clone(),
            base_coords: pca.plane(&base),
            base,
            start: press,
            scale,
        };
        ui.data_mut(|d| d.insert_temp(drag_id(), drag));
    }
    let Some(drag) = ui.data(|d| d.get_temp::<MarkerDrag>(drag_id())) else {
        return;
    };
    if let Some(pos) = response.interact_pointer_pos() {
        let delta = pos - drag.start;
        let coords = [
            drag.base_coords[0] + delta.x * drag.scale,
            drag.base_coords[1] - delta.y * drag.scale,
        ];
        let code = drag.pca.with_coords(&drag.base, &coords);
        if code != app.state.style {
            out.act(Action::SetStyle(code));
        }
    }
    if response.drag_stopped() || !response.dragged() {
        ui.data_mut(|d| d.remove::<MarkerDrag>(drag_id()));
    }
}
