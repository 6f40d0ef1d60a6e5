//! burn modules of the models (backend-agnostic, no UI, no files): MUNIT, UNIT and DRIT++.

pub mod cpu_conv;
pub mod cpu_conv_grad;
pub mod cpu_norm;
pub mod cpu_pad;
pub mod cpu_winograd;
pub mod discriminator;
pub mod drit;
pub mod layers;
pub mod mask;
pub mod munit;
pub mod params;
pub mod unit;
pub mod upsample;

pub use discriminator::MsImageDis;
pub use drit::{Drit, DritArch};
pub use mask::{StyleField, StyleMask};
pub use munit::Generator;
pub use params::{Init, NamedParams, NamedTensors, ParamError, ParamSource, RandomInit};
pub use unit::UnitGenerator;
