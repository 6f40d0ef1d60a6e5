//! What tests, benchmarks and bug reports read from the running app.

use super::{ModelState, StylespaceApp};
use crate::engine::Counters;
use crate::engine::worker::Slot;

impl StylespaceApp {
    /// The main output's pixels: read back from the GPU texture or the uploaded copy (tests).
    pub fn main_output_rgba(&self) -> Option<(usize, usize, Vec<u8>)> {
        self.display.rgba(Slot::Main, self.render_state.as_ref())
    }

    /// The style code the main output currently shows.
    pub fn main_output_style(&self) -> Option<&[f32]> {
        self.display.style_of(Slot::Main)
    }

    pub fn counters(&self) -> &Counters {
        self.worker.counters()
    }

    /// True while the worker has requests it has not started or answers not yet shown.
    pub fn busy(&self) -> bool {
        self.worker.pending() > 0
            || matches!(self.state.model, ModelState::Loading(_))
            || self.state.encoding()
            || self.renders.waiting(|slot| self.display.shown_seq(slot))
            || !self.exports.is_empty()
    }

    /// A one-line account of the state, for test failure messages and bug reports.
    pub fn summary(&self) -> String {
        let model = match &self.state.model {
            ModelState::None => "none".to_string(),
            ModelState::Loading(s) => format!("loading {}", s.label()),
            ModelState::Ready(info) => format!("ready {}", info.source.label()),
            ModelState::Failed(s, e) => format!("failed {}: {e}", s.label()),
        };
        let images: Vec<String> = self
            .state
            .images
            .iter()
            .map(|e| {
                format!("{}={:?}", e.name, e.state)
                    .chars()
                    .take(60)
                    .collect()
            })
            .collect();
        let mut shown: Vec<&Slot> = self.display.slots().collect();
        shown.sort();
        format!(
            "model {model}; images {images:?}; content {:?}; slots {shown:?}; wanted {:?}; failed {:?}; pending {}; toasts {:?}",
            self.state.content,
            self.renders.slots(),
            self.renders.failed_slots(),
            self.worker.pending(),
            self.toasts.texts()
        )
    }

    pub fn clear_toasts(&mut self) {
        self.toasts.clear();
    }

    /// Every message of the session (the log panel's contents).
    pub fn message_log(&self) -> &[super::toasts::LogEntry] {
        self.toasts.log()
    }

    pub fn toast_texts(&self) -> Vec<String> {
        self.toasts.texts()
    }

    /// Swap-grid cells on screen.
    pub fn rendered_swap_cells(&self) -> usize {
        let swap = |s: &&Slot| matches!(s, Slot::Swap { .. });
        self.display.slots().filter(swap).count()
    }

    /// Sample-grid cells on screen.
    pub fn rendered_samples(&self) -> usize {
        let sample = |s: &&Slot| matches!(s, Slot::Sample(_));
        self.display.slots().filter(sample).count()
    }

    /// Effect maps on screen, and whether they answer the current code.
    pub fn effect_maps_shown(&self) -> Option<(usize, bool)> {
        let (request, textures) = self.display.effects()?;
        let current = self.state.effect_request().as_ref() == Some(request);
        Some((textures.len(), current))
    }

    /// Frames of the path strip on screen.
    pub fn rendered_path_frames(&self) -> usize {
        let frame = |s: &&Slot| matches!(s, Slot::PathFrame(_));
        self.display.slots().filter(frame).count()
    }

    /// The code a slot's picture shows.
    pub fn slot_style(&self, slot: Slot) -> Option<&[f32]> {
        self.display.style_of(slot)
    }

    pub fn has_interpolation(&self) -> bool {
        self.display.has(Slot::Interpolation)
    }

    /// The title of the path prompt on screen, if any.
    pub fn path_prompt(&self) -> Option<&'static str> {
        self.path_prompt.as_ref().map(|p| p.title())
    }

    /// Asks for a typed path for a command's dialog (what happens when no native dialog can be
    /// shown); other commands are ignored.
    pub fn prompt_for_command(&mut self, command: super::commands::Command) {
        if let Some(dialog) = super::commands::dialog_of(command) {
            self.prompt_for_path(dialog);
        }
    }

    /// Whether a save is waiting for the user to confirm replacing a file.
    pub fn asks_to_replace(&self) -> bool {
        self.confirm_replace.is_some()
    }
}
