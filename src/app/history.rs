//! Undo and redo: snapshots of what a user edits (code, content, direction, the image set and its
//! grid roles, region-brush masks and code), recorded when the state settles on something new, with a bounded depth.

use crate::Domain;
use crate::app::brush::Painted;
use crate::engine::worker::ImageId;
use std::collections::VecDeque;

/// Undo steps kept; older ones are dropped.
pub const UNDO_STEPS: usize = 200;

/// What one undo step restores.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub style: Vec<f32>,
    pub content: Option<ImageId>,
    pub source: Domain,
    /// The image set in order, with each image's swap-grid roles (row, column).
    pub images: Vec<(ImageId, bool, bool)>,
    /// Each image's region-brush mask (shared with the image until painted again).
    pub masks: Vec<(ImageId, Option<Painted>)>,
    /// The region brush's inside code.
    pub region_style: Option<Vec<f32>>,
}

impl Snapshot {
    pub fn has_image(&self, id: ImageId) -> bool {
        self.images.iter().any(|(i, _, _)| *i == id)
    }
}

/// The undo and redo stacks around the last committed snapshot.
#[derive(Debug, Default)]
pub struct History {
    undo: VecDeque<Snapshot>,
    redo: Vec<Snapshot>,
    committed: Snapshot,
}

impl History {
    pub fn new(committed: Snapshot) -> Self {
        Self {
            committed,
            ..Self::default()
        }
    }

    /// The state as of the last commit.
    pub fn committed(&self) -> &Snapshot {
        &self.committed
    }

    /// Records `now` as a new step when it differs from the last commit; returns whether it did.
    pub fn commit(&mut self, now: Snapshot) -> bool {
        if now == self.committed {
            return false;
        }
        let before = std::mem::replace(&mut self.committed, now);
        self.undo.push_back(before);
        if self.undo.len() > UNDO_STEPS {
            self.undo.pop_front();
        }
        self.redo.clear();
        true
    }

    /// Steps back: the snapshot to restore, if any.
    pub fn undo(&mut self) -> Option<Snapshot> {
        let snapshot = self.undo.pop_back()?;
        let current = std::mem::replace(&mut self.committed, snapshot.clone());
        self.redo.push(current);
        Some(snapshot)
    }

    /// Steps forward again: the snapshot to restore, if any.
    pub fn redo(&mut self) -> Option<Snapshot> {
        let snapshot = self.redo.pop()?;
        let current = std::mem::replace(&mut self.committed, snapshot.clone());
        self.undo.push_back(current);
        Some(snapshot)
    }

    /// Gives an image other grid roles as if it had been added with them (a default decided
    /// later, from its domain): in every step that holds it with the roles `from`, without a step
    /// of its own.
    pub fn amend_roles(&mut self, id: ImageId, from: (bool, bool), to: (bool, bool)) {
        let snapshots = (self.undo.iter_mut())
            .chain(&mut self.redo)
            .chain(std::iter::once(&mut self.committed));
        for snapshot in snapshots {
            for (i, rows, cols) in &mut snapshot.images {
                if *i == id && (*rows, *cols) == from {
                    (*rows, *cols) = to;
                }
            }
        }
    }

    /// Forgets every step (a model switch: old codes mean nothing to the new model).
    pub fn reset(&mut self, now: Snapshot) {
        *self = Self::new(now);
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Whether any step (or the committed state) still holds the image.
    pub fn references(&self, id: ImageId) -> bool {
        self.undo
            .iter()
            .chain(&self.redo)
            .chain(std::iter::once(&self.committed))
            .any(|s| s.has_image(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(v: f32) -> Snapshot {
        Snapshot {
            style: vec![v],
            ..Snapshot::default()
        }
    }

    #[test]
    fn steps_are_recorded_once_undone_redone_and_bounded() {
        let mut h = History::new(code(0.0));
        assert!(!h.commit(code(0.0)), "nothing changed");
        assert!(h.commit(code(1.0)));
        assert!(h.commit(code(2.0)));
        assert_eq!(h.undo(), Some(code(1.0)));
        assert_eq!(h.undo(), Some(code(0.0)));
        assert_eq!(h.undo(), None);
        assert_eq!(h.redo(), Some(code(1.0)));
        assert!(h.commit(code(5.0)));
        assert!(!h.can_redo(), "a new step drops the redo stack");

        for i in 0..UNDO_STEPS + 50 {
            h.commit(code(10.0 + i as f32));
        }
        let mut steps = 0;
        while h.undo().is_some() {
            steps += 1;
        }
        assert_eq!(steps, UNDO_STEPS);
    }
}
