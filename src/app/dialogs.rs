//! Native file dialogs, each on its own thread (they must not block the UI); the answer comes
//! back over a channel as an [`Answer`] the app applies on its next frame.

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
}

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];

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
                if let Some(answer) = ask(dialog, start) {
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
            .add_filter("Images", &IMAGE_EXTENSIONS)
            .pick_files()
            .map(Answer::OpenImages),
        Dialog::ModelFolder => d.pick_folder().map(Answer::OpenModelFolder),
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
            match answer {
                Answer::OpenImages(paths) => {
                    for path in paths {
                        self.incoming(input::image_file(&path, false));
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
            }
        }
    }
}
