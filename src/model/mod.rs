//! burn modules of the models (backend-agnostic, no UI, no files).

pub mod discriminator;
pub mod layers;
pub mod munit;
pub mod params;
pub mod upsample;

pub use discriminator::MsImageDis;
pub use munit::Generator;
pub use params::{Init, NamedParams, NamedTensors, ParamError, ParamSource, RandomInit};
