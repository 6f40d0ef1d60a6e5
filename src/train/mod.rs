//! Training MUNIT as the official trainer does: losses, optimisation, data, run folders.

pub mod losses;
