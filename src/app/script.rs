//! Screenshots, and the screenshot-and-exit mode (`stylespace app --screenshot PATH`): a few
//! frames after the first translation, capture the window and close. A failure is reported to
//! [`super::run`], never by exiting the process from UI code.

use std::path::PathBuf;
use std::time::Instant;

use image::RgbImage;

use super::{ModelState, SaveTarget, StylespaceApp};
use crate::engine::worker::Slot;

/// The screenshot-and-exit mode (`stylespace app --screenshot PATH`).
pub struct Scripted {
    path: PathBuf,
    /// Frames drawn since the first main render arrived.
    frames_with_output: u32,
    started: Instant,
}

/// Limit of the screenshot-and-exit mode.
const SCRIPTED_SECONDS: u64 = 600;

impl Scripted {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            frames_with_output: 0,
            started: Instant::now(),
        }
    }
}

impl StylespaceApp {
    pub(super) fn handle_screenshots(&mut self, ctx: &egui::Context) {
        if std::mem::take(&mut self.screenshot_wanted) {
            let tx = self.screenshot_tx.clone();
            ctx.request_screenshot(move |image| {
                let _ = tx.send(image);
            });
        }
        while let Ok(image) = self.screenshot_rx.try_recv() {
            let Some(path) = self.screenshot_path.take() else {
                continue;
            };
            let [w, h] = image.size;
            let rgb: Vec<u8> = image
                .pixels
                .iter()
                .flat_map(|p| [p.r(), p.g(), p.b()])
                .collect();
            let result = RgbImage::from_raw(w as u32, h as u32, rgb)
                .ok_or_else(|| "the screenshot had the wrong size".to_string())
                .and_then(|img| {
                    crate::io::image::save_png(&path, &img, true).map_err(|e| e.to_string())
                });
            if self.scripted.is_some() {
                if let Err(e) = &result {
                    self.fail(ctx, format!("could not save the screenshot: {e}"));
                }
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            self.report_write(&path, result);
        }
    }

    /// The screenshot-and-exit mode gives up: the reason goes to [`run`], the window closes.
    fn fail(&mut self, ctx: &egui::Context, reason: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    /// Screenshot-and-exit: a few frames after the first translation, capture and close.
    pub(super) fn drive_script(&mut self, ctx: &egui::Context) {
        let Some(script) = &mut self.scripted else {
            return;
        };
        ctx.request_repaint_after(std::time::Duration::from_millis(100));
        let failed = match &self.state.model {
            ModelState::Failed(_, e) => Some(format!("the model failed to open: {e}")),
            _ if script.started.elapsed().as_secs() > SCRIPTED_SECONDS => Some(format!(
                "no translation within {} minutes",
                SCRIPTED_SECONDS / 60
            )),
            _ => None,
        };
        if let Some(reason) = failed {
            self.scripted = None;
            return self.fail(ctx, reason);
        }
        // The first translation, once the worker has nothing left to do (domain tags and the
        // other views' renders are in): the window as a user would see it settle.
        if self.display.has(Slot::Main)
            && self.worker.pending() == 0
            && !self.state.images.iter().any(|e| e.encoding())
            && self.screenshot_path.is_none()
            && !self.screenshot_wanted
        {
            // Draw the output a couple of frames before capturing it.
            script.frames_with_output += 1;
            if script.frames_with_output == 3 {
                let path = script.path.clone();
                self.export_to(SaveTarget::Screenshot, path, true);
            }
            ctx.request_repaint();
        }
    }
}
