//! Files in and out: images <-> tensors, atomic writes. Pure functions, no model and no GPU.

pub mod atomic;
pub mod image;
