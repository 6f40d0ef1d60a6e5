//! The persisted session: model, images, style codes and layout, as JSON in the user's config
//! folder, written atomically. A missing or unreadable session starts a fresh one.

use std::path::{Path, PathBuf};

use crate::Domain;
use crate::engine::worker::ModelSource;

use crate::engine::styles::NamedCode;

/// Recent models remembered.
pub const RECENT_MODELS: usize = 8;

/// The view settings and the user's collections: part of the explorer's state, persisted as they
/// are.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub model: Option<ModelSource>,
    pub recent_models: Vec<ModelSource>,
    pub saved_codes: Vec<NamedCode>,
    pub view: View,
    pub sample_seed: u64,
    pub sample_count: usize,
    pub interpolation: InterpolationSettings,
    pub export_scale: u32,
    /// UNIT's latent noise (amount, seed) for the main view.
    pub noise: crate::engine::worker::LatentNoise,
    /// Widths of the side panels in points (`None`: the default width).
    pub content_panel_width: Option<f32>,
    pub style_panel_width: Option<f32>,
    /// The window's inner size in points when it was last seen.
    pub window_size: Option<[f32; 2]>,
    /// How the translation is shown: fitted to the view, or at a whole multiple of its pixels.
    pub zoom: Zoom,
    /// Smooth (bilinear) instead of nearest-neighbour magnification.
    pub smooth: bool,
    /// What the style panel's sliders move.
    pub slider_mode: SliderMode,
    /// Effect maps under the sliders, and their central-difference step.
    pub show_effects: bool,
    pub effect_step: f32,
    /// The region brush's size, softness and mode.
    pub brush: super::brush::BrushSettings,
    /// What the swap grid's columns are: style images, or frames along the interpolation path.
    pub swap_columns: SwapColumns,
    /// Path frames per row when the columns are the path.
    pub swap_path_frames: usize,
}

/// What the swap grid's columns are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwapColumns {
    /// The style of each column image.
    #[default]
    Images,
    /// Codes evenly along the interpolation path: every row's content takes the same path.
    Path,
}

/// What the style panel's sliders move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SliderMode {
    /// One slider per dimension of the code.
    #[default]
    Dimensions,
    /// One slider per principal direction of the style map's codes.
    Principal,
}

/// The translation's size on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zoom {
    /// As large as the view allows.
    #[default]
    Fit,
    /// Each model pixel as n x n screen pixels (1 = 1:1); larger than the view, it pans.
    Times(u8),
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: None,
            recent_models: Vec::new(),
            saved_codes: Vec::new(),
            view: View::Translate,
            sample_seed: 1,
            sample_count: 8,
            interpolation: InterpolationSettings::default(),
            export_scale: 1,
            noise: Default::default(),
            content_panel_width: None,
            style_panel_width: None,
            window_size: None,
            zoom: Zoom::Fit,
            smooth: false,
            slider_mode: SliderMode::Dimensions,
            show_effects: false,
            effect_step: 0.5,
            brush: Default::default(),
            swap_columns: SwapColumns::Images,
            swap_path_frames: 6,
        }
    }
}

impl Settings {
    /// Puts `model` first in the recent list.
    pub fn remember_model(&mut self, model: &ModelSource) {
        self.recent_models.retain(|m| m != model);
        self.recent_models.insert(0, model.clone());
        self.recent_models.truncate(RECENT_MODELS);
    }
}

/// The session file: the settings plus the image set, direction and code, made from the state
/// when saved (the state keeps no copy of it).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Session {
    /// The file format (see [`SESSION_VERSION`]); 0 in files from before it was recorded.
    pub version: u32,
    #[serde(flatten)]
    pub settings: Settings,
    /// Image files in the set (pasted images and images dropped as bytes are kept as files in
    /// the session's folder, see [`Session::kept_images_dir`]).
    pub images: Vec<PathBuf>,
    /// Each image's swap-grid roles `[row, column]`, in the order of `images` (missing: both).
    pub roles: Vec<[bool; 2]>,
    /// Index into `images` of the current content image.
    pub content: Option<usize>,
    pub source: Domain,
    pub style: Vec<f32>,
}

/// The main view's tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    #[default]
    Translate,
    Samples,
    Swap,
    Interpolate,
    /// The style map.
    Map,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct InterpolationSettings {
    /// The path's first and last keyframes.
    pub start: Vec<f32>,
    pub end: Vec<f32>,
    /// Keyframes between them, in order.
    pub through: Vec<Vec<f32>>,
    /// The path returns to its start (a seamless loop).
    pub closed: bool,
    pub spherical: bool,
    pub frames: usize,
    pub frame_ms: u32,
    /// GIFs go forth and back again.
    pub back_and_forth: bool,
}

impl InterpolationSettings {
    /// Every keyframe in order: start, those in between, end, and the start again when the path
    /// is closed.
    pub fn keyframes(&self) -> Vec<Vec<f32>> {
        let mut keys = vec![self.start.clone()];
        keys.extend(self.through.iter().cloned());
        keys.push(self.end.clone());
        if self.closed {
            keys.push(self.start.clone());
        }
        keys
    }

    /// The keyframes the user set (start, those in between, end), without a closing return.
    pub fn set_keyframes(&mut self, mut keys: Vec<Vec<f32>>) {
        if keys.len() < 2 {
            return;
        }
        self.end = keys.pop().expect("two or more");
        self.start = keys.remove(0);
        self.through = keys;
    }
}

impl Default for InterpolationSettings {
    fn default() -> Self {
        Self {
            start: Vec::new(),
            end: Vec::new(),
            through: Vec::new(),
            closed: false,
            spherical: true,
            frames: 16,
            frame_ms: 100,
            back_and_forth: false,
        }
    }
}

/// The session file format this version writes. A file of a newer format is kept aside, not
/// misread and then overwritten.
pub const SESSION_VERSION: u32 = 1;
/// Largest session file read (a real one is a few kilobytes).
pub const MAX_SESSION_BYTES: u64 = 4 << 20;

/// Why a session file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionProblem {
    /// Written by a newer version (its format number).
    Newer(u64),
    /// Not a session of this format (what is wrong).
    Damaged(String),
}

/// Moves a file the app cannot use out of the way, to the first free `NAME.SUFFIX[.N]` beside
/// it, so nothing the user had is destroyed; returns where it went.
fn keep_aside(path: &Path, suffix: &str) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "session.json".into());
    for n in 0..1000 {
        let candidate = match n {
            0 => path.with_file_name(format!("{name}.{suffix}")),
            n => path.with_file_name(format!("{name}.{suffix}.{n}")),
        };
        if !candidate.exists() {
            std::fs::rename(path, &candidate)?;
            return Ok(candidate);
        }
    }
    Err(std::io::Error::other("no free name to keep the file aside"))
}

impl Session {
    /// Where sessions live: `$STYLESPACE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/stylespace`, else
    /// `~/.config/stylespace`.
    pub fn default_path() -> Option<PathBuf> {
        let dir = if let Some(dir) = std::env::var_os("STYLESPACE_CONFIG_DIR") {
            PathBuf::from(dir)
        } else if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME") {
            PathBuf::from(dir).join("stylespace")
        } else {
            PathBuf::from(std::env::var_os("HOME")?)
                .join(".config")
                .join("stylespace")
        };
        Some(dir.join("session.json"))
    }

    /// Reads a session; a missing file is a fresh session. A damaged, oversized, non-text or
    /// newer-format file is reported and kept aside (renamed, see [`keep_aside`]) so that
    /// nothing the user had is destroyed when this session is saved.
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let fresh = |problem: String, suffix: &str| {
            let kept = match keep_aside(path, suffix) {
                Ok(kept) => format!("old file kept as {}", kept.display()),
                Err(e) => format!("could not move it aside: {e}"),
            };
            (
                Self::default(),
                Some(format!(
                    "the saved session {problem}; started a new one ({kept})"
                )),
            )
        };
        let size = match std::fs::metadata(path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => {
                return (
                    Self::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                );
            }
        };
        if size > MAX_SESSION_BYTES {
            return fresh(
                format!("is {:.0} MB, too large to be one", size as f64 / 1e6),
                "bad",
            );
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return (
                    Self::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                );
            }
        };
        match Self::from_bytes(&bytes) {
            Ok(session) => (session, None),
            Err(SessionProblem::Newer(v)) => fresh(
                format!(
                    "was written by a newer stylespace (format {v}, this one reads {SESSION_VERSION})"
                ),
                &format!("v{v}"),
            ),
            Err(SessionProblem::Damaged(e)) => fresh(e, "bad"),
        }
    }

    /// A session from a file's bytes: the format is checked first, so a newer file is never
    /// misread by this version's fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionProblem> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| SessionProblem::Damaged("is not text".into()))?;
        let version = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("version")?.as_u64());
        if let Some(v) = version.filter(|v| *v > SESSION_VERSION as u64) {
            return Err(SessionProblem::Newer(v));
        }
        serde_json::from_str(text)
            .map_err(|e| SessionProblem::Damaged(format!("was damaged ({e})")))
    }

    /// Where images without a file of their own (pasted, dropped from a browser, the bundled
    /// samples) are kept so that the session can bring them back: `images/` beside the session.
    pub fn kept_images_dir(session_path: &Path) -> PathBuf {
        session_path.with_file_name("images")
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let session = Session {
            version: SESSION_VERSION,
            ..self.clone()
        };
        let text = serde_json::to_string_pretty(&session).map_err(std::io::Error::other)?;
        crate::io::atomic::write_atomic(path, text.as_bytes(), true)
    }
}

impl super::StylespaceApp {
    /// Writes the session file (at most every 2 s unless `force`, and only when it changed).
    pub(super) fn save_session(&mut self, now: f64, force: bool) {
        let Some(path) = self.session_path.clone() else {
            return;
        };
        if !force && now - self.last_session_save < 2.0 {
            return;
        }
        self.last_session_save = now;
        let session = self.state.session();
        if self.session_saved.as_ref() == Some(&session) {
            return;
        }
        match session.save(&path) {
            Ok(()) => self.session_saved = Some(session),
            Err(e) => log::warn!("cannot save the session to {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_damage_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").join("session.json");
        let mut session = Session {
            style: vec![0.5, -1.0],
            ..Session::default()
        };
        for i in 0..10 {
            session
                .settings
                .remember_model(&ModelSource::Folder(format!("m{i}").into()));
        }
        session
            .settings
            .remember_model(&ModelSource::Folder("m5".into()));
        let recent = &session.settings.recent_models;
        assert_eq!(recent.len(), RECENT_MODELS);
        assert_eq!(recent[0], ModelSource::Folder("m5".into()));
        session.settings.style_panel_width = Some(311.0);
        session.save(&path).unwrap();
        let saved = Session {
            version: SESSION_VERSION,
            ..session
        };
        assert_eq!(Session::load(&path), (saved, None));

        std::fs::write(&path, "{ not json").unwrap();
        let (fresh, warning) = Session::load(&path);
        assert_eq!(fresh, Session::default());
        assert!(warning.unwrap().contains("damaged"));
        assert!(path.with_extension("json.bad").exists());
    }

    /// Truncated, empty, huge, binary, wrong-type and newer-format files: each is a message and a
    /// fresh session, and the file is kept (under a name of its own, never overwriting an earlier
    /// one kept aside).
    #[test]
    fn unusable_session_files_are_kept_aside_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let full = serde_json::to_string(&Session::default()).unwrap();
        let huge = vec![b' '; (MAX_SESSION_BYTES + 1) as usize];
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                full.as_bytes()[..full.len() / 2].to_vec(),
                "damaged",
                "session.json.bad",
            ),
            (Vec::new(), "damaged", "session.json.bad.1"),
            (huge, "too large", "session.json.bad.2"),
            (
                vec![0x89, b'P', b'N', b'G', 0xff, 0x00],
                "not text",
                "session.json.bad.3",
            ),
            (b"[1, 2, 3]".to_vec(), "damaged", "session.json.bad.4"),
            (
                br#"{"version": 7, "style": "new"}"#.to_vec(),
                "newer stylespace",
                "session.json.v7",
            ),
        ];
        for (bytes, needle, kept) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let (session, warning) = Session::load(&path);
            let warning = warning.expect("a message");
            assert!(warning.contains(needle), "{warning}");
            assert_eq!(session, Session::default());
            assert!(!path.exists(), "{needle}: the file is still in the way");
            assert_eq!(
                std::fs::read(dir.path().join(kept)).unwrap(),
                bytes,
                "{needle}"
            );
        }
        // The current format with a field this version does not know still loads.
        std::fs::write(
            &path,
            r#"{"version": 1, "style": [0.5], "future_field": 3}"#,
        )
        .unwrap();
        let (session, warning) = Session::load(&path);
        assert_eq!((session.style, warning), (vec![0.5], None));
    }
}
