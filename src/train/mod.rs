//! Training MUNIT as the official trainer does: losses, optimisation, data, run folders.

pub mod adam;
pub mod data;
pub mod evaluate;
pub mod losses;
pub mod openmoji;
pub mod plot;
mod samples;
pub mod trainer;
