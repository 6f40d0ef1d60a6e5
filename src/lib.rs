//! stylespace: explore the style space of multimodal image-to-image translation models.
//!
//! Layers, each importing only those before it:
//! - [`config`], [`model`]: the MUNIT configuration and burn modules (no files, no UI);
//! - [`checkpoint`], [`io`]: official `.pt` / native safetensors weights, images <-> tensors;
//! - [`engine`]: device choice, loaded models, style sampling and translation requests;
//! - [`train`] (beside `engine`): the official MUNIT losses and trainer;
//! - [`app`] (beside `train`): the eframe/egui explorer, talking to the engine's worker;
//! - `cli` (in the binary): the command line.

pub mod app;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod fuzzing;
pub mod io;
pub mod model;
pub mod train;

/// One of MUNIT's two image domains.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    #[default]
    A,
    B,
}

impl Domain {
    /// The other domain (the target of a translation from this one).
    pub fn other(self) -> Self {
        match self {
            Domain::A => Domain::B,
            Domain::B => Domain::A,
        }
    }

    /// 0 for A, 1 for B (for per-domain arrays).
    pub fn index(self) -> usize {
        match self {
            Domain::A => 0,
            Domain::B => 1,
        }
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Domain::A => "a",
            Domain::B => "b",
        })
    }
}
