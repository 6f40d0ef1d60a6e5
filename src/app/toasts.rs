//! Short messages in the window's corner: notes for a few seconds, errors for longer. Every
//! message of the session is also kept in a log the window can show.

use egui::Color32;

struct Toast {
    text: String,
    error: bool,
    /// When it goes (`NaN` until the first frame that shows it, which knows the clock).
    until: f64,
}

/// Seconds a note and an error stay.
const NOTE_SECONDS: f64 = 3.0;
const ERROR_SECONDS: f64 = 8.0;
/// Toasts on screen at once (the newest).
const SHOWN: usize = 5;

/// Messages kept in the session's log (the oldest go first).
const LOG_KEPT: usize = 1000;

/// One message of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Seconds since the app started.
    pub seconds: f64,
    pub text: String,
    pub error: bool,
    /// How many times it came in a row (a failing device repeats itself every frame).
    pub repeats: u32,
}

#[derive(Default)]
pub struct Toasts {
    toasts: Vec<Toast>,
    log: Vec<LogEntry>,
    /// When the app started, for the log's times.
    started: Option<std::time::Instant>,
}

impl Toasts {
    pub fn push(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        if error {
            log::warn!("{text}");
        } else {
            log::info!("{text}");
        }
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        if let Some(last) = self.log.last_mut()
            && last.text == text
            && last.error == error
        {
            last.repeats += 1;
            last.seconds = started.elapsed().as_secs_f64();
            if !self.toasts.iter().any(|t| t.text == text) {
                self.toasts.push(Toast {
                    text,
                    error,
                    until: f64::NAN,
                });
            }
            return;
        }
        if self.log.len() == LOG_KEPT {
            self.log.remove(0);
        }
        self.log.push(LogEntry {
            seconds: started.elapsed().as_secs_f64(),
            text: text.clone(),
            error,
            repeats: 1,
        });
        self.toasts.push(Toast {
            text,
            error,
            until: f64::NAN,
        });
    }

    /// Every message of the session, oldest first.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    pub fn texts(&self) -> Vec<String> {
        self.toasts.iter().map(|t| t.text.clone()).collect()
    }

    /// Clears the toasts on screen (the log keeps them).
    pub fn clear(&mut self) {
        self.toasts.clear();
    }

    /// Starts the clocks of new toasts, drops expired ones and draws the rest.
    pub fn show(&mut self, ctx: &egui::Context, now: f64) {
        for toast in &mut self.toasts {
            if toast.until.is_nan() {
                toast.until = now
                    + if toast.error {
                        ERROR_SECONDS
                    } else {
                        NOTE_SECONDS
                    };
            }
        }
        self.toasts.retain(|t| t.until > now);
        if self.toasts.is_empty() {
            return;
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(250));
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for toast in self.toasts.iter().rev().take(SHOWN) {
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
}
