//! The official MUNIT and UNIT YAML configurations (one layout: UNIT's master branch is built on
//! MUNIT's code), read as they are, and the native config of an imported DRIT++ model.
//!
//! Every key of the official files has a typed field; options take enums, not strings. Unknown keys
//! are reported (and logged as warnings) but never fatal; a wrong type or a missing required key is
//! an error naming the key. A UNIT file is told from a MUNIT file by its generator: no
//! `style_dim` / `mlp_dim` (and its `recon_kl_w` loss weights).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Error reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: key `{key}`: {message}")]
    Key {
        path: String,
        key: String,
        message: String,
    },
    #[error("config {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Activation function of a block (`activ` in the YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    /// LeakyReLU with slope 0.2.
    Lrelu,
    /// PReLU with one learned slope (initialised to 0.25).
    Prelu,
    Selu,
    Tanh,
    None,
}

/// Padding applied before every convolution of a conv block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadType {
    Reflect,
    Replicate,
    Zero,
}

/// Normalisation of a conv block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    None,
    /// Batch norm (official option; not supported by this implementation yet).
    Bn,
    /// Instance norm.
    In,
    /// MUNIT's layer norm (over C*H*W, unbiased std, per-channel affine).
    Ln,
    /// Adaptive instance norm with externally supplied parameters.
    Adain,
    /// Spectral norm on the convolution (official option; not supported yet).
    Sn,
}

/// GAN objective of the discriminators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GanType {
    Lsgan,
    Nsgan,
}

/// Weight initialisation scheme (`init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    Kaiming,
    Gaussian,
    Xavier,
    Orthogonal,
    Default,
}

/// Learning-rate schedule (`lr_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrPolicy {
    Step,
    Constant,
}

/// Which mode-seeking term `ms_w` weighs (`ms_form`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MsForm {
    /// DRIT++ / MSGAN: `1 / (r + 1e-5)`, `r` the fills' difference between two styles'
    /// translations over their styles' difference (clamped at `ms_cap` when that is set).
    #[default]
    Msgan,
    /// stylespace's own: `-min(r, ms_cap)`, `r` the fills' difference *minus* that of the lines
    /// and the background next to them (within 8 px, where colour bleeds into halos:
    /// `train::evaluate::halo_mask`) over the styles' difference. A tint of the whole image moves
    /// both alike and gains nothing, so styles are pushed apart inside the drawing only; the
    /// linear form's gradient is bounded (the inverse one's grows as `1 / r^2`).
    Contrast,
}

impl MsForm {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Where `keep_w` holds translations to their line-art input (`keep_region`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepRegion {
    /// The lines and the background reached from the image border through light pixels
    /// (`train::evaluate::keep_mask`): needs nothing but the line art, but counts the fills of
    /// open outlines and what a design colours beyond its lines (skies) as background.
    #[default]
    Drawing,
    /// The lines and the background that each training image's real colouring leaves white
    /// (`train::evaluate::silhouette_keep_mask`): the dataset has a `trainA-truth` folder beside
    /// `trainA` with the same glyphs in domain b (`stylespace dataset openmoji` writes it). Only
    /// this mask is taken from them; they are never a translation's target.
    Silhouette,
}

impl KeepRegion {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Generator hyperparameters (`gen:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Width of the first conv layer.
    pub dim: usize,
    /// Hidden width of the MLP that maps a style code to AdaIN parameters (MUNIT only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_dim: Option<usize>,
    /// Length of the style code (MUNIT only; a UNIT generator has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_dim: Option<usize>,
    pub activ: Activation,
    /// Number of stride-2 stages of the content encoder (and upsamplings of the decoder).
    pub n_downsample: usize,
    /// Number of residual blocks in the content encoder and in the decoder.
    pub n_res: usize,
    pub pad_type: PadType,
}

impl GenConfig {
    /// Length of the style code (0 for a UNIT generator).
    pub fn style_dim(&self) -> usize {
        self.style_dim.unwrap_or(0)
    }

    /// Hidden width of the style MLP (0 for a UNIT generator).
    pub fn mlp_dim(&self) -> usize {
        self.mlp_dim.unwrap_or(0)
    }
}

impl Default for GenConfig {
    /// The default MUNIT generator (edges2shoes and every shipped config).
    fn default() -> Self {
        Self {
            dim: 64,
            mlp_dim: Some(256),
            style_dim: Some(8),
            activ: Activation::Relu,
            n_downsample: 2,
            n_res: 4,
            pad_type: PadType::Reflect,
        }
    }
}

/// Discriminator hyperparameters (`dis:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisConfig {
    pub dim: usize,
    pub norm: Norm,
    pub activ: Activation,
    pub n_layer: usize,
    pub gan_type: GanType,
    pub num_scales: usize,
    pub pad_type: PadType,
}

impl Default for DisConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            norm: Norm::None,
            activ: Activation::Lrelu,
            n_layer: 4,
            gan_type: GanType::Lsgan,
            num_scales: 3,
            pad_type: PadType::Reflect,
        }
    }
}

/// Which system an official YAML configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFamily {
    /// `gen` has `style_dim` and `mlp_dim`.
    Munit,
    /// `gen` has neither (UNIT's `VAEGen`).
    Unit,
}

impl std::fmt::Display for ConfigFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConfigFamily::Munit => "MUNIT",
            ConfigFamily::Unit => "UNIT",
        })
    }
}

/// A whole MUNIT or UNIT configuration file.
///
/// `gen`, `input_dim_a`, `input_dim_b` and `new_size` are required (inference needs them); the
/// logger, optimisation and data options default to the official values when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    // logger options
    #[serde(default = "d::image_save_iter")]
    pub image_save_iter: u64,
    #[serde(default = "d::image_display_iter")]
    pub image_display_iter: u64,
    #[serde(default = "d::display_size")]
    pub display_size: usize,
    #[serde(default = "d::snapshot_save_iter")]
    pub snapshot_save_iter: u64,
    #[serde(default = "d::log_iter")]
    pub log_iter: u64,

    // optimisation options
    #[serde(default = "d::max_iter")]
    pub max_iter: u64,
    #[serde(default = "d::batch_size")]
    pub batch_size: usize,
    #[serde(default = "d::weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "d::beta1")]
    pub beta1: f64,
    #[serde(default = "d::beta2")]
    pub beta2: f64,
    #[serde(default = "d::init")]
    pub init: InitScheme,
    #[serde(default = "d::lr")]
    pub lr: f64,
    #[serde(default = "d::lr_policy")]
    pub lr_policy: LrPolicy,
    #[serde(default = "d::step_size")]
    pub step_size: u64,
    #[serde(default = "d::gamma")]
    pub gamma: f64,
    #[serde(default = "d::one")]
    pub gan_w: f64,
    #[serde(default = "d::ten")]
    pub recon_x_w: f64,
    #[serde(default = "d::one")]
    pub recon_s_w: f64,
    #[serde(default = "d::one")]
    pub recon_c_w: f64,
    #[serde(default)]
    pub recon_x_cyc_w: f64,
    #[serde(default)]
    pub vgg_w: f64,
    /// stylespace's own, for line art -> colour (not in the official trainer; 0 leaves it out):
    /// weight of the mean absolute difference between `x_ab` and `x_a` on the input's lines and
    /// on the background around the drawing (the regions of `train::evaluate`), so translations
    /// colour inside the lines and leave the rest as drawn. With `ms_w`, the second style's
    /// translation is held to it too (the term is the mean of both).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_w: f64,
    /// With `keep_w` / `halo_w` / `line_w`: per-value differences up to this (values in [-1, 1]) cost
    /// nothing, and only the excess counts (a hinge), so the keep terms spend their pull on
    /// colour that shows (blotches, halos) and not on faint tints, which the evaluation does not
    /// count either (it counts a pixel once a channel moved more than 0.1 of [0, 1], 0.2 here).
    /// 0: plain mean absolute difference.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_margin: f64,
    /// With `keep_w`: which background it keeps (see [`KeepRegion`]); `drawing` when absent.
    #[serde(default, skip_serializing_if = "KeepRegion::is_default")]
    pub keep_region: KeepRegion,
    /// stylespace's own (0 leaves it out), with `keep_w`: the weight of the same difference
    /// measured on the lines and the background next to them only (within 8 px:
    /// `train::evaluate::halo_mask`), where colour bleeds into halos. Averaged over that band
    /// alone, a halo weighs as much as if the far background (easy to keep) were not there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub halo_w: f64,
    /// stylespace's own (0 leaves it out): the weight of the same difference measured on the
    /// input's lines alone (`train::evaluate::line_mask`), so that outlines stay dark and sharp.
    /// Averaged over the lines only, a lost line weighs as much as if the background were not
    /// there, and unlike `halo_w` it asks nothing of the fills' colour next to the lines.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line_w: f64,
    /// stylespace's own (0 leaves it out): weight of a mode-seeking term on a -> b translations
    /// (DRIT++'s, from MSGAN): two styles decode one content code, and the loss is
    /// 1 / (mean |x_ab1 - x_ab2| / mean |s_1 - s_2| + 1e-5), so different codes give different
    /// images. The difference is measured on the fills only (`train::evaluate::fill_mask`):
    /// styles are to differ there, not on the lines or in the background.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ms_w: f64,
    /// With `ms_w`: the image-to-style difference ratio above which the mode-seeking term stops
    /// pushing (its ratio is clamped there, as DSGAN's diversity term is), so the styles grow
    /// apart up to this point and not at every other loss's expense. 0: no cap (MSGAN's form).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ms_cap: f64,
    /// With `ms_w`: which mode-seeking term (see [`MsForm`]); `msgan` when absent.
    #[serde(default, skip_serializing_if = "MsForm::is_default")]
    pub ms_form: MsForm,
    /// stylespace's own (0 leaves it out), for line art -> colour: the weight of a floor on how
    /// colourful each a -> b translation's fills are (`train::evaluate::fill_mask`):
    /// `max(0, chroma_floor - mean chroma there)`, chroma the largest minus the smallest channel
    /// in [0, 1]. The adversarial loss accepts a style that leaves every drawing nearly white or
    /// grey (some real designs are), so a part of the style space can come out pale whatever the
    /// input; the floor costs nothing once the fills are coloured. With `ms_w`, both styles'
    /// translations are held to it (the term is the mean of both).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chroma_w: f64,
    /// With `chroma_w`: the fills' mean chroma below which it pulls (0 to 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chroma_floor: f64,
    /// stylespace's own (0: off): the trainer also keeps an exponential moving average of the
    /// generators' weights, `ema = beta * ema + (1 - beta) * weights` after every step (the model
    /// averaging of NVIDIA's imaginaire MUNIT), and kept generators, exports and translations
    /// of the run use it: a GAN's weights swing from step to step, their average much less.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ema_beta: f64,
    /// UNIT's loss weights (absent from MUNIT configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon_kl_w: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon_kl_cyc_w: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recon_h_w: Option<f64>,

    // model options
    #[serde(rename = "gen")]
    pub generator: GenConfig,
    #[serde(default)]
    #[serde(rename = "dis")]
    pub discriminator: DisConfig,

    // data options
    pub input_dim_a: usize,
    pub input_dim_b: usize,
    #[serde(default = "d::num_workers")]
    pub num_workers: usize,
    pub new_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size_a: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size_b: Option<usize>,
    #[serde(default = "d::crop")]
    pub crop_image_height: usize,
    #[serde(default = "d::crop")]
    pub crop_image_width: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_folder_train_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_list_train_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_folder_test_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_list_test_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_folder_train_b: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_list_train_b: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_folder_test_b: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_list_test_b: Option<String>,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// Official defaults (edges2shoes_folder.yaml) for keys a file may leave out.
mod d {
    use super::{InitScheme, LrPolicy};
    pub fn image_save_iter() -> u64 {
        10_000
    }
    pub fn image_display_iter() -> u64 {
        500
    }
    pub fn display_size() -> usize {
        16
    }
    pub fn snapshot_save_iter() -> u64 {
        10_000
    }
    pub fn log_iter() -> u64 {
        10
    }
    pub fn max_iter() -> u64 {
        1_000_000
    }
    pub fn batch_size() -> usize {
        1
    }
    pub fn weight_decay() -> f64 {
        1e-4
    }
    pub fn beta1() -> f64 {
        0.5
    }
    pub fn beta2() -> f64 {
        0.999
    }
    pub fn init() -> InitScheme {
        InitScheme::Kaiming
    }
    pub fn lr() -> f64 {
        1e-4
    }
    pub fn lr_policy() -> LrPolicy {
        LrPolicy::Step
    }
    pub fn step_size() -> u64 {
        100_000
    }
    pub fn gamma() -> f64 {
        0.5
    }
    pub fn one() -> f64 {
        1.0
    }
    pub fn ten() -> f64 {
        10.0
    }
    pub fn num_workers() -> usize {
        8
    }
    pub fn crop() -> usize {
        256
    }
}

/// A parsed configuration plus the keys it had that this version does not know.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub unknown_keys: Vec<String>,
}

impl Config {
    /// Reads a YAML file; unknown keys are logged as warnings and returned.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` names the source in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
        refuse_other_systems(text, origin)?;
        let mut unknown_keys = Vec::new();
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let mut on_unknown = |path: serde_ignored::Path<'_>| unknown_keys.push(path.to_string());
        let tracked = serde_ignored::Deserializer::new(de, &mut on_unknown);
        let parsed: Result<Config, _> = serde_path_to_error::deserialize(tracked);
        let config = parsed.map_err(|err| {
            let key = err.path().to_string();
            let message = err.into_inner().to_string();
            // serde reports a missing field at its parent's path; name the field itself.
            let (key, message) = match message.strip_prefix("missing field `") {
                Some(rest) => {
                    let field = rest.split('`').next().unwrap_or(rest);
                    let full = if key == "." || key.is_empty() {
                        field.to_string()
                    } else {
                        format!("{key}.{field}")
                    };
                    (full, "required key is missing".to_string())
                }
                None => (key, message),
            };
            if key == "." || key.is_empty() {
                ConfigError::Invalid {
                    path: origin.to_string(),
                    message,
                }
            } else {
                ConfigError::Key {
                    path: origin.to_string(),
                    key,
                    message,
                }
            }
        })?;
        for key in &unknown_keys {
            log::warn!("config {origin}: unknown key `{key}` ignored");
        }
        config.validate(origin)?;
        Ok(LoadedConfig {
            config,
            unknown_keys,
        })
    }

    /// A configuration with the default MUNIT generator and discriminator (edges2shoes).
    pub fn munit_default() -> Self {
        Self::from_yaml(
            "gen: {dim: 64, mlp_dim: 256, style_dim: 8, activ: relu, n_downsample: 2, n_res: 4, pad_type: reflect}\n\
             input_dim_a: 3\ninput_dim_b: 3\nnew_size: 256\n",
            "built-in default",
        )
        .expect("built-in config parses")
        .config
    }

    /// Serialises to YAML (the native model folder stores this next to the weights).
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("config serialises")
    }

    /// MUNIT or UNIT, from the generator's keys.
    pub fn family(&self) -> ConfigFamily {
        if self.generator.style_dim.is_some() {
            ConfigFamily::Munit
        } else {
            ConfigFamily::Unit
        }
    }

    /// Input channels of a domain (`input_dim_a` / `input_dim_b`).
    pub fn input_dim(&self, domain: crate::Domain) -> usize {
        match domain {
            crate::Domain::A => self.input_dim_a,
            crate::Domain::B => self.input_dim_b,
        }
    }

    /// Shorter-side size images of a domain are resized to before encoding.
    pub fn new_size_for(&self, domain: crate::Domain) -> usize {
        match domain {
            crate::Domain::A => self.new_size_a.unwrap_or(self.new_size),
            crate::Domain::B => self.new_size_b.unwrap_or(self.new_size),
        }
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError::Key {
            path: origin.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        match (self.generator.style_dim, self.generator.mlp_dim) {
            (Some(_), None) => {
                return Err(bad(
                    "gen.mlp_dim",
                    "required key is missing (a MUNIT generator has style_dim and mlp_dim)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "gen.style_dim",
                    "required key is missing (a MUNIT generator has style_dim and mlp_dim; a \
                     UNIT generator has neither)",
                ));
            }
            _ => {}
        }
        let positive = [
            ("gen.dim", self.generator.dim),
            ("gen.mlp_dim", self.generator.mlp_dim.unwrap_or(1)),
            ("gen.style_dim", self.generator.style_dim.unwrap_or(1)),
            ("dis.dim", self.discriminator.dim),
            ("dis.num_scales", self.discriminator.num_scales),
            ("dis.n_layer", self.discriminator.n_layer),
            ("new_size", self.new_size),
            ("batch_size", self.batch_size),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }
        for (key, value) in [
            ("input_dim_a", self.input_dim_a),
            ("input_dim_b", self.input_dim_b),
        ] {
            if value != 1 && value != 3 {
                return Err(bad(key, &format!("must be 1 or 3, found {value}")));
            }
        }
        if self.generator.n_downsample > 6 {
            return Err(bad("gen.n_downsample", "must be at most 6"));
        }
        if self.generator.dim << self.generator.n_downsample.max(2) > 1 << 16 {
            return Err(bad("gen.dim", "is too large for this n_downsample"));
        }
        // stylespace's own loss settings: weights and margins, 0 leaves a term out.
        for (key, value) in [
            ("keep_w", self.keep_w),
            ("keep_margin", self.keep_margin),
            ("halo_w", self.halo_w),
            ("line_w", self.line_w),
            ("ms_w", self.ms_w),
            ("ms_cap", self.ms_cap),
            ("chroma_w", self.chroma_w),
            ("chroma_floor", self.chroma_floor),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(bad(key, "must be a number at least 0"));
            }
        }
        if self.ms_form == MsForm::Contrast && self.ms_cap <= 0.0 {
            return Err(bad(
                "ms_form",
                "contrast needs ms_cap above 0 (its linear reward has no bound without it)",
            ));
        }
        if self.chroma_floor > 1.0 {
            return Err(bad(
                "chroma_floor",
                "must be at most 1 (chroma is in [0, 1])",
            ));
        }
        if self.chroma_w > 0.0 && self.input_dim_b != 3 {
            return Err(bad(
                "chroma_w",
                "needs colour in domain b (input_dim_b 3): grey images have no chroma",
            ));
        }
        if self.chroma_w > 0.0 && self.chroma_floor <= 0.0 {
            return Err(bad(
                "chroma_w",
                "needs chroma_floor above 0 (with a floor of 0 the term is always 0)",
            ));
        }
        if self.keep_region == KeepRegion::Silhouette && self.keep_w <= 0.0 {
            return Err(bad(
                "keep_region",
                "silhouette shapes keep_w's mask: it needs keep_w above 0",
            ));
        }
        if !(self.ema_beta >= 0.0 && self.ema_beta < 1.0) {
            return Err(bad("ema_beta", "must be at least 0 and below 1"));
        }
        if matches!(self.discriminator.norm, Norm::Adain) {
            return Err(bad(
                "dis.norm",
                "adain needs style parameters; a discriminator cannot use it",
            ));
        }
        Ok(())
    }
}

/// Refuses, by name, the YAML of systems whose networks this crate does not implement, before
/// their keys turn into confusing "missing key" errors.
fn refuse_other_systems(text: &str, origin: &str) -> Result<(), ConfigError> {
    let Ok(serde_yaml_ng::Value::Mapping(map)) =
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
    else {
        return Ok(()); // the typed parse reports what is wrong
    };
    let has = |k: &str| map.contains_key(serde_yaml_ng::Value::from(k));
    let gen_type = map
        .get(serde_yaml_ng::Value::from("gen"))
        .and_then(|g| g.get("type"))
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let refuse = |what: String| {
        Err(ConfigError::Invalid {
            path: origin.to_string(),
            message: format!(
                "{what}; stylespace loads the official MUNIT and UNIT (NVlabs/MUNIT, \
                 mingyuliutw/UNIT master) YAML configs and DRIT++ checkpoints"
            ),
        })
    };
    if let Some(t) = gen_type {
        return refuse(format!(
            "this is an imaginaire config (gen.type: {t}), not supported"
        ));
    }
    if has("trainer") && !has("gen") {
        return refuse(
            "this looks like an imaginaire config (a `trainer:` section), not supported".into(),
        );
    }
    if has("hyperparameters") && !has("gen") {
        return refuse(
            "this is a UNIT version_02 (COCOGAN, `hyperparameters:`) config, not supported".into(),
        );
    }
    if let Some(family) = map
        .get(serde_yaml_ng::Value::from("family"))
        .and_then(|f| f.as_str())
        && family != "munit"
        && family != "unit"
    {
        return refuse(format!(
            "this config is for family `{family}`, not a MUNIT/UNIT config"
        ));
    }
    Ok(())
}

/// The native config of an imported DRIT++ model (`config.yaml` beside `model.safetensors`).
/// DRIT's checkpoints carry no config: widths are read from the weights, the variant from their
/// keys; this file records the input channels and the test-time preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DritConfig {
    /// Always `drit`.
    pub family: String,
    /// `--concat 1` (attribute concatenated into the generator) or 0 (MLP + MisINSResBlocks).
    pub concat: bool,
    pub input_dim_a: usize,
    pub input_dim_b: usize,
    /// Test-time resize (square, bicubic); official default 256.
    pub resize_size: usize,
    /// Test-time centre crop; official default 216.
    pub crop_size: usize,
}

impl DritConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        let de = serde_yaml_ng::Deserializer::from_str(&text);
        let config: Self =
            serde_path_to_error::deserialize(de).map_err(|err| ConfigError::Key {
                path: origin.clone(),
                key: err.path().to_string(),
                message: err.into_inner().to_string(),
            })?;
        if config.family != "drit" {
            return Err(ConfigError::Key {
                path: origin,
                key: "family".into(),
                message: format!("must be `drit`, found `{}`", config.family),
            });
        }
        for (key, v) in [
            ("input_dim_a", config.input_dim_a),
            ("input_dim_b", config.input_dim_b),
        ] {
            if v != 1 && v != 3 {
                return Err(ConfigError::Key {
                    path: origin,
                    key: key.into(),
                    message: format!("must be 1 or 3, found {v}"),
                });
            }
        }
        Ok(config)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("config serialises")
    }
}

/// Whether a native `config.yaml` belongs to a DRIT model (it says `family: drit`).
pub fn is_drit_config(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&t).ok())
        .and_then(|v| {
            v.get("family")
                .and_then(|f| f.as_str())
                .map(|f| f == "drit")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = include_str!("../tests/fixtures/munit-tiny/config.yaml");

    #[test]
    fn official_tiny_config_parses_without_unknown_keys() {
        let loaded = Config::from_yaml(TINY, "tiny").unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let c = loaded.config;
        assert_eq!(c.generator.dim, 16);
        assert_eq!(c.generator.mlp_dim, Some(64));
        assert_eq!(c.family(), ConfigFamily::Munit);
        assert_eq!(c.generator.activ, Activation::Relu);
        assert_eq!(c.discriminator.activ, Activation::Lrelu);
        assert_eq!(c.discriminator.gan_type, GanType::Lsgan);
        assert_eq!(c.recon_x_cyc_w, 10.0);
        assert_eq!(c.new_size, 64);
    }

    #[test]
    fn official_unit_config_parses_as_unit() {
        let text = include_str!("../tests/fixtures/unit-tiny/config.yaml");
        let loaded = Config::from_yaml(text, "unit").unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        assert_eq!(loaded.config.family(), ConfigFamily::Unit);
        assert_eq!(loaded.config.recon_kl_w, Some(0.01));
        let again = Config::from_yaml(&loaded.config.to_yaml(), "again").unwrap();
        assert_eq!(again.config, loaded.config);
    }

    #[test]
    fn other_systems_are_refused_by_name() {
        let imaginaire = "gen:\n  type: imaginaire.generators.munit\n  num_filters: 64\n";
        let err = Config::from_yaml(imaginaire, "x").unwrap_err().to_string();
        assert!(err.contains("imaginaire"), "{err}");
        let cocogan = "hyperparameters:\n  trainer: COCOGANTrainer\n";
        let err = Config::from_yaml(cocogan, "x").unwrap_err().to_string();
        assert!(err.contains("version_02"), "{err}");
        let half = TINY.replace("  style_dim: 8\n", "");
        let err = Config::from_yaml(&half, "x").unwrap_err().to_string();
        assert!(err.contains("gen.style_dim"), "{err}");
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let text = format!("{TINY}\nfancy_option: 3\n");
        let loaded = Config::from_yaml(&text, "x").unwrap();
        assert_eq!(loaded.unknown_keys, vec!["fancy_option".to_string()]);
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = TINY.replace("  dim: 16\n  mlp_dim", "  dim: sixteen\n  mlp_dim");
        let err = Config::from_yaml(&text, "x").unwrap_err().to_string();
        assert!(err.contains("gen.dim"), "{err}");
    }

    #[test]
    fn missing_gen_names_the_key() {
        let text: String = TINY
            .lines()
            .skip_while(|l| !l.starts_with("gen:"))
            .skip(8)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!text.contains("gen:"));
        let err = Config::from_yaml(&text, "x").unwrap_err().to_string();
        assert!(err.contains("`gen`"), "{err}");
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn bad_enum_value_names_the_key() {
        let text = TINY.replace("pad_type: reflect\ndis:", "pad_type: mirror\ndis:");
        let err = Config::from_yaml(&text, "x").unwrap_err().to_string();
        assert!(err.contains("gen.pad_type"), "{err}");
    }

    #[test]
    fn contrast_mode_seeking_needs_a_cap_and_round_trips() {
        let text = format!("{TINY}\nms_w: 2\nms_form: contrast\n");
        let err = Config::from_yaml(&text, "x").unwrap_err().to_string();
        assert!(err.contains("ms_form") && err.contains("ms_cap"), "{err}");
        let c = Config::from_yaml(&format!("{text}ms_cap: 0.3\n"), "x")
            .unwrap()
            .config;
        assert_eq!(c.ms_form, MsForm::Contrast);
        assert!(c.to_yaml().contains("ms_form: contrast"));
        assert_eq!(Config::from_yaml(&c.to_yaml(), "again").unwrap().config, c);
        let plain = Config::from_yaml(TINY, "x").unwrap().config;
        assert_eq!(plain.ms_form, MsForm::Msgan);
        assert!(!plain.to_yaml().contains("ms_form"), "official keys only");
    }

    #[test]
    fn the_silhouette_keep_region_needs_keep_w_and_round_trips() {
        let text = format!("{TINY}\nkeep_region: silhouette\n");
        let err = Config::from_yaml(&text, "x").unwrap_err().to_string();
        assert!(
            err.contains("keep_region") && err.contains("keep_w"),
            "{err}"
        );
        let c = Config::from_yaml(&format!("{text}keep_w: 5\n"), "x")
            .unwrap()
            .config;
        assert_eq!(c.keep_region, KeepRegion::Silhouette);
        assert_eq!(Config::from_yaml(&c.to_yaml(), "again").unwrap().config, c);
        let plain = Config::from_yaml(TINY, "x").unwrap().config;
        assert_eq!(plain.keep_region, KeepRegion::Drawing);
        assert!(
            !plain.to_yaml().contains("keep_region"),
            "official keys only"
        );
        let err = Config::from_yaml(&format!("{TINY}\nkeep_region: flood\n"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep_region"), "{err}");
    }

    #[test]
    fn the_own_loss_weights_are_checked_and_round_trip() {
        for key in [
            "keep_w",
            "keep_margin",
            "halo_w",
            "line_w",
            "ms_w",
            "chroma_w",
        ] {
            let err = Config::from_yaml(&format!("{TINY}\n{key}: -1\n"), "x")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains("at least 0"), "{err}");
        }
        let c = Config::from_yaml(&format!("{TINY}\nline_w: 3\n"), "x")
            .unwrap()
            .config;
        assert_eq!(c.line_w, 3.0);
        assert!(c.to_yaml().contains("line_w: 3"));
        assert_eq!(Config::from_yaml(&c.to_yaml(), "again").unwrap().config, c);
        let plain = Config::from_yaml(TINY, "x").unwrap().config;
        assert!(!plain.to_yaml().contains("line_w"), "official keys only");
        assert!(!plain.to_yaml().contains("chroma"), "official keys only");
    }

    #[test]
    fn the_chroma_floor_needs_a_floor_in_range() {
        let error = |extra: &str| {
            Config::from_yaml(&format!("{TINY}\nchroma_w: 5\n{extra}"), "x")
                .unwrap_err()
                .to_string()
        };
        let err = error("");
        assert!(
            err.contains("chroma_w") && err.contains("chroma_floor"),
            "{err}"
        );
        let grey_b = TINY.replace("input_dim_b: 3", "input_dim_b: 1");
        assert_ne!(grey_b, TINY);
        let err = Config::from_yaml(&format!("{grey_b}\nchroma_w: 5\nchroma_floor: 0.1\n"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("input_dim_b"), "{err}");
        let err = error("chroma_floor: 1.5\n");
        assert!(
            err.contains("chroma_floor") && err.contains("at most 1"),
            "{err}"
        );
        let c = Config::from_yaml(&format!("{TINY}\nchroma_w: 5\nchroma_floor: 0.12\n"), "x")
            .unwrap()
            .config;
        assert_eq!((c.chroma_w, c.chroma_floor), (5.0, 0.12));
        assert_eq!(Config::from_yaml(&c.to_yaml(), "again").unwrap().config, c);
    }

    #[test]
    fn round_trips_through_yaml() {
        let c = Config::from_yaml(TINY, "tiny").unwrap().config;
        let again = Config::from_yaml(&c.to_yaml(), "again").unwrap();
        assert_eq!(again.config, c);
        assert!(again.unknown_keys.is_empty());
    }
}
