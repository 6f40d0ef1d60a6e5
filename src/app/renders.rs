//! The link to the worker's renders: which slots the visible view needs is a pure function of the
//! state ([`plan`]); [`RenderLink`] sends only what changed since the last request of each slot,
//! and keeps the latency and failure bookkeeping of the answers.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::session::{SwapColumns, View};
use super::state::{AppState, EncodeState};
use crate::Domain;
use crate::engine::worker::{ImageId, LatentNoise, Region, RenderRequest, Slot, Worker};

/// What a slot should show.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub content: ImageId,
    pub target: Domain,
    pub style: Vec<f32>,
    pub noise: Option<LatentNoise>,
    /// The region brush's second code and mask (the main output only).
    pub region: Option<Region>,
}

/// The renders the visible view needs: the main output always, plus the current view's cells.
/// Empty until a model is ready and the content image is encoded.
pub fn plan(state: &AppState) -> Vec<(Slot, Wanted)> {
    let (Some(dim), Some(content)) = (state.style_dim(), state.content_ready()) else {
        return Vec::new();
    };
    if state.style.len() != dim {
        return Vec::new();
    }
    let target = state.target();
    let wanted = |content, style: Vec<f32>, noise| Wanted {
        content,
        target,
        style,
        noise,
        region: None,
    };
    let main = Wanted {
        region: state.region(),
        ..wanted(content, state.style.clone(), state.main_noise())
    };
    let mut slots = vec![(Slot::Main, main)];
    match state.settings.view {
        View::Translate | View::Map => {}
        View::Samples => {
            let cells = state.sample_codes().into_iter().zip(state.sample_noises());
            for (i, (code, noise)) in cells.enumerate() {
                slots.push((Slot::Sample(i), wanted(content, code, noise)));
            }
        }
        // Views that need style codes render nothing for a model without them.
        View::Swap | View::Interpolate if state.uses_latent_noise() => {}
        View::Swap => {
            let (rows, cols) = state.swap_grid();
            let columns: Vec<Option<Vec<f32>>> = match state.settings.swap_columns {
                SwapColumns::Images => cols
                    .iter()
                    .map(|c| c.style().map(<[f32]>::to_vec))
                    .collect(),
                SwapColumns::Path => state.swap_path_codes().into_iter().map(Some).collect(),
            };
            for (r, row) in rows.iter().enumerate() {
                if !matches!(row.state, EncodeState::Ready { .. }) {
                    continue;
                }
                for (c, style) in columns.iter().enumerate() {
                    if let Some(style) = style {
                        let slot = Slot::Swap { row: r, col: c };
                        slots.push((slot, wanted(row.id, style.clone(), None)));
                    }
                }
            }
        }
        View::Interpolate => {
            if let Some(code) = state.interpolated(state.interpolation_t) {
                slots.push((Slot::Interpolation, wanted(content, code, None)));
            }
            for (i, code) in state.path_strip_codes().into_iter().enumerate() {
                slots.push((Slot::PathFrame(i), wanted(content, code, None)));
            }
        }
    }
    slots
}

/// Requests in flight and what each slot was last asked for.
#[derive(Default)]
pub struct RenderLink {
    wanted: HashMap<Slot, Wanted>,
    /// The sequence number of each slot's latest request.
    latest: HashMap<Slot, u64>,
    /// Slots whose last request failed (not retried until what they should show changes).
    failed: HashSet<Slot>,
    /// When each main-slot request was sent, for the slider -> pixels latency.
    sent_at: HashMap<u64, Instant>,
    next_seq: u64,
}

impl RenderLink {
    /// Sends a request for each planned slot whose wanted picture changed.
    pub fn send(&mut self, plan: Vec<(Slot, Wanted)>, worker: &Worker) {
        for (slot, wanted) in plan {
            if self.wanted.get(&slot) == Some(&wanted) {
                continue;
            }
            self.next_seq += 1;
            let seq = self.next_seq;
            if slot == Slot::Main {
                self.sent_at.insert(seq, Instant::now());
            }
            self.failed.remove(&slot);
            self.latest.insert(slot, seq);
            worker.render(RenderRequest {
                slot,
                seq,
                content: wanted.content,
                target: wanted.target,
                style: wanted.style.clone(),
                noise: wanted.noise,
                region: wanted.region.clone(),
            });
            self.wanted.insert(slot, wanted);
        }
    }

    /// Forgets what was asked (a new model: everything must be rendered again).
    pub fn clear(&mut self) {
        self.wanted.clear();
        self.latest.clear();
        self.failed.clear();
    }

    /// A render arrived: its latency if it answered a main-slot request.
    pub fn rendered(&mut self, seq: u64) -> Option<Duration> {
        let sent = self.sent_at.remove(&seq)?;
        // Older main requests were coalesced away and will never be answered.
        self.sent_at.retain(|s, _| *s > seq);
        Some(sent.elapsed())
    }

    pub fn failed(&mut self, slot: Slot) {
        self.failed.insert(slot);
    }

    /// Whether the slot's latest request failed.
    pub fn has_failed(&self, slot: Slot) -> bool {
        self.failed.contains(&slot)
    }

    /// Whether some slot still waits for the answer to its latest request (`shown_seq`: the
    /// sequence number of the picture a slot shows). Failed slots wait for nothing.
    pub fn waiting(&self, shown_seq: impl Fn(Slot) -> Option<u64>) -> bool {
        self.latest.iter().any(|(slot, seq)| {
            !self.failed.contains(slot) && shown_seq(*slot).is_none_or(|shown| shown < *seq)
        })
    }

    /// Slots asked for, for bug reports.
    pub fn slots(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self.wanted.keys().copied().collect();
        slots.sort();
        slots
    }

    pub fn failed_slots(&self) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self.failed.iter().copied().collect();
        slots.sort();
        slots
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::state::Action;
    use crate::app::state::tests::{encode_all, model};
    use crate::engine::Family;

    /// A state with a model of `style_dim` (0: UNIT) and `images` encoded images.
    fn ready_state(style_dim: usize, images: usize) -> AppState {
        let family = if style_dim > 0 {
            Family::Munit
        } else {
            Family::Unit
        };
        let mut state = AppState::default();
        state.apply(Action::ModelLoaded(model(family, style_dim)));
        for i in 0..images {
            let effects = state.apply(Action::AddImage {
                name: format!("{i}"),
                path: None,
                image: Arc::new(image::DynamicImage::new_rgb8(4, 4)),
                as_style: false,
            });
            encode_all(&mut state, &effects);
        }
        state
    }

    #[test]
    fn nothing_is_planned_before_a_content_code_is_ready() {
        assert!(plan(&AppState::default()).is_empty());
        assert!(plan(&ready_state(8, 0)).is_empty());
        assert_eq!(plan(&ready_state(8, 1)).len(), 1);
    }

    #[test]
    fn the_swap_grid_plans_rows_times_columns_slots() {
        let mut state = ready_state(8, 3);
        state.apply(Action::SetView(View::Swap));
        let ids: Vec<ImageId> = state.images.iter().map(|e| e.id).collect();
        // Rows: all three; columns: the last two.
        state.apply(Action::SetGridRoles {
            id: ids[0],
            in_rows: true,
            in_cols: false,
        });
        let planned = plan(&state);
        let cells: Vec<(Slot, &Wanted)> = planned
            .iter()
            .filter(|(s, _)| matches!(s, Slot::Swap { .. }))
            .map(|(s, w)| (*s, w))
            .collect();
        assert_eq!(cells.len(), 3 * 2);
        // Cell (row 2, col 0): content of image 3 with the style of image 2.
        let (_, w) = cells
            .iter()
            .find(|(s, _)| *s == Slot::Swap { row: 2, col: 0 })
            .unwrap();
        assert_eq!(w.content, ids[2]);
        assert_eq!(w.style, vec![ids[1] as f32; 8]);
    }

    #[test]
    fn samples_and_interpolation_follow_the_view() {
        let mut state = ready_state(8, 1);
        state.apply(Action::SetView(View::Samples));
        state.apply(Action::SetSampleGrid { seed: 9, count: 5 });
        assert_eq!(plan(&state).len(), 1 + 5);
        state.apply(Action::SetView(View::Interpolate));
        let planned = plan(&state);
        // The player and the path strip.
        let strip = crate::app::state::PATH_STRIP_FRAMES;
        assert_eq!(planned.len(), 2 + strip);
        assert_eq!(planned[1].1.style, state.interpolated(0.0).unwrap());
        let last = &planned[1 + strip];
        assert_eq!(last.0, Slot::PathFrame(strip - 1));
        assert_eq!(last.1.style, state.interpolated(1.0).unwrap());
    }

    #[test]
    fn a_model_without_style_codes_plans_noise_and_no_swap_cells() {
        let mut state = ready_state(0, 2);
        state.apply(Action::SetView(View::Swap));
        assert_eq!(plan(&state).len(), 1);
        state.apply(Action::SetView(View::Samples));
        state.apply(Action::SetSampleGrid { seed: 1, count: 3 });
        let planned = plan(&state);
        assert_eq!(planned.len(), 4);
        assert!(planned[1..].iter().all(|(_, w)| w.noise.is_some()));
    }
}
