//! Native file dialogs, each on its own thread (they must not block the UI); the answer comes
//! back over a channel as an [`Answer`] the app applies on its next frame. Where no native
//! dialog can be shown (Linux without an XDG desktop portal or zenity), the window asks for a
//! typed path instead ([`PathPrompt`]), so every open and save still works.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use super::export::SaveTarget;
use super::input;
use super::state::Action;
use crate::engine::worker::ModelSource;

/// A dialog to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    Images,
    ModelFolder,
    Official,
    StyleSet,
    /// A folder of images for the style map.
    MapFolder,
    /// A region-brush mask for the content image.
    Mask,
    Save(SaveTarget),
}

/// What the user chose.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    OpenImages(Vec<PathBuf>),
    OpenModelFolder(PathBuf),
    OpenCheckpoint(PathBuf),
    /// A native save dialog has already asked about replacing the file.
    SaveTo(SaveTarget, PathBuf),
    LoadStyles(PathBuf),
    MapFolder(PathBuf),
    OpenMask(PathBuf),
    /// The native dialog could not be shown (it came back at once without an answer).
    Unavailable(Dialog),
}

/// A dialog answered with a typed path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPrompt {
    pub dialog: Dialog,
    pub text: String,
}

impl PathPrompt {
    pub fn new(dialog: Dialog, start: Option<&Path>) -> Self {
        let mut text = start.map(|p| p.display().to_string()).unwrap_or_default();
        if let Dialog::Save(target) = dialog {
            let name = target.file_kind().2;
            text = match text.is_empty() {
                true => name.to_string(),
                false => Path::new(&text).join(name).display().to_string(),
            };
        }
        Self { dialog, text }
    }

    /// What the dialog asks for, for the prompt's title.
    pub fn title(&self) -> &'static str {
        match self.dialog {
            Dialog::Images => "Open image (path)",
            Dialog::ModelFolder => "Open model folder (path)",
            Dialog::Official => "Open checkpoint (path)",
            Dialog::StyleSet => "Load style codes (path)",
            Dialog::MapFolder => "Add a folder to the style map (path)",
            Dialog::Mask => "Open mask (path)",
            Dialog::Save(_) => "Save as (path)",
        }
    }

    /// The answer the typed path gives. Saves into an existing file still ask first.
    pub fn answer(&self) -> Option<Answer> {
        let path = PathBuf::from(self.text.trim());
        if path.as_os_str().is_empty() {
            return None;
        }
        Some(match self.dialog {
            Dialog::Images => Answer::OpenImages(vec![path]),
            Dialog::ModelFolder => Answer::OpenModelFolder(path),
            Dialog::Official => Answer::OpenCheckpoint(path),
            Dialog::StyleSet => Answer::LoadStyles(path),
            Dialog::MapFolder => Answer::MapFolder(path),
            Dialog::Mask => Answer::OpenMask(path),
            Dialog::Save(target) => Answer::SaveTo(target, path),
        })
    }
}

/// A native dialog that returns without an answer faster than this could not be shown: no
/// person cancels a dialog that quickly.
const UNAVAILABLE_WITHIN: std::time::Duration = std::time::Duration::from_millis(250);

pub struct Dialogs {
    tx: Sender<Answer>,
    rx: Receiver<Answer>,
}

impl Default for Dialogs {
    fn default() -> Self {
        let (tx, rx) = channel();
        Self { tx, rx }
    }
}

impl Dialogs {
    /// Shows `dialog` starting in `start` (when given); an error if no thread could be started.
    /// The answer wakes the UI (`ctx`), so it is acted on at once, not at the next mouse move.
    pub fn open(
        &self,
        dialog: Dialog,
        start: Option<&Path>,
        ctx: &egui::Context,
    ) -> Result<(), String> {
        let tx = self.tx.clone();
        let start = start.map(Path::to_path_buf);
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let asked = std::time::Instant::now();
                let answer = ask(dialog, start);
                let answer = match answer {
                    None if asked.elapsed() < UNAVAILABLE_WITHIN => {
                        Some(Answer::Unavailable(dialog))
                    }
                    answer => answer,
                };
                if let Some(answer) = answer {
                    let _ = tx.send(answer);
                    ctx.request_repaint();
                }
            })
            .map(drop)
            .map_err(|e| format!("Cannot open a file dialog: {e}"))
    }

    /// Answers that arrived since the last call.
    pub fn answers(&self) -> Vec<Answer> {
        self.rx.try_iter().collect()
    }
}

fn ask(dialog: Dialog, start: Option<PathBuf>) -> Option<Answer> {
    let mut d = rfd::FileDialog::new();
    if let Some(dir) = &start {
        d = d.set_directory(dir);
    }
    match dialog {
        Dialog::Images => d
            .add_filter("Images", &crate::io::image::IMAGE_EXTENSIONS)
            .pick_files()
            .map(Answer::OpenImages),
        Dialog::ModelFolder => d.pick_folder().map(Answer::OpenModelFolder),
        Dialog::MapFolder => d.pick_folder().map(Answer::MapFolder),
        Dialog::Mask => d
            .add_filter("Images", &crate::io::image::IMAGE_EXTENSIONS)
            .pick_file()
            .map(Answer::OpenMask),
        Dialog::Official => d
            .add_filter("PyTorch checkpoint", &["pt", "pth", "safetensors"])
            .pick_file()
            .map(Answer::OpenCheckpoint),
        Dialog::StyleSet => d
            .add_filter("Style codes", &["json"])
            .pick_file()
            .map(Answer::LoadStyles),
        Dialog::Save(target) => {
            let (filter, ext, name) = target.file_kind();
            d.add_filter(filter, &[ext])
                .set_file_name(name)
                .save_file()
                .map(|p| Answer::SaveTo(target, p))
        }
    }
}

impl super::StylespaceApp {
    /// Applies the answers of file dialogs closed since the last frame.
    pub(super) fn handle_answers(&mut self) {
        for answer in self.dialogs.answers() {
            self.answer(answer);
        }
    }

    /// Asks for a typed path for what `dialog` would ask (also the fallback when no native
    /// dialog can be shown).
    pub(super) fn prompt_for_path(&mut self, dialog: Dialog) {
        let start = self.dialog_start();
        self.path_prompt = Some(PathPrompt::new(dialog, start.as_deref()));
    }

    /// Reads a mask for the content image (grey level times opacity; its size or aspect ratio)
    /// and turns the region brush on.
    pub(super) fn open_mask(&mut self, path: &Path) {
        let Some(entry) = self.state.content.and_then(|id| self.state.image(id)) else {
            self.toasts
                .push("Open a content image before its mask", true);
            return;
        };
        let size = [entry.image.width(), entry.image.height()];
        let mask = crate::io::image::load_image(path)
            .map_err(|e| e.to_string())
            .and_then(|file| super::brush::mask_from_file(&file, size));
        match mask {
            Ok(mask) => {
                self.act(Action::SetMask(mask));
                self.act(Action::SetRegion(true));
            }
            Err(e) => self.toasts.push(
                format!("Cannot use {} as a mask: {e}", path.display()),
                true,
            ),
        }
    }

    /// Where dialogs start: the folder of the newest image that has one.
    pub(super) fn dialog_start(&self) -> Option<PathBuf> {
        (self.state.images.iter().rev())
            .find_map(|e| e.path.as_deref()?.parent())
            .map(Path::to_path_buf)
    }

    pub(super) fn answer(&mut self, answer: Answer) {
        {
            match answer {
                Answer::Unavailable(dialog) => {
                    self.toasts.push(
                        "No file dialog could be shown (on Linux they need an XDG desktop portal \
                         or zenity): type the path instead",
                        true,
                    );
                    self.prompt_for_path(dialog);
                }
                Answer::OpenImages(paths) => {
                    for path in paths {
                        let room = self.state.image_room();
                        self.incoming(input::image_file(&path, false, room));
                    }
                }
                Answer::OpenModelFolder(dir) => {
                    self.act(Action::OpenModel(ModelSource::Folder(dir)))
                }
                Answer::OpenCheckpoint(checkpoint) => {
                    let source = ModelSource::for_path(&checkpoint)
                        .unwrap_or(ModelSource::Checkpoint(checkpoint));
                    self.act(Action::OpenModel(source));
                }
                Answer::SaveTo(target, path) => self.export_to(target, path, true),
                Answer::LoadStyles(path) => self.load_styles(&path),
                Answer::OpenMask(path) => self.open_mask(&path),
                Answer::MapFolder(dir) => match crate::io::image::images_in(&dir) {
                    Ok(paths) if paths.is_empty() => self
                        .toasts
                        .push(format!("{} holds no images", dir.display()), true),
                    Ok(paths) => {
                        self.act(Action::SetView(super::session::View::Map));
                        self.act(Action::AddMapFiles(paths));
                    }
                    Err(e) => self
                        .toasts
                        .push(format!("Cannot read {}: {e}", dir.display()), true),
                },
            }
        }
    }
}
