//! Every user action with its label and keyboard shortcut, in one list: menus, buttons and the
//! shortcut handler all read it, so a shortcut shown in a menu is the one that works.

use egui::{Key, KeyboardShortcut, Modifiers};

use super::dialogs::Dialog;
use super::{Action, SaveTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    OpenImage,
    PasteImage,
    OpenModel,
    OpenOfficialModel,
    RandomStyle,
    ZeroStyle,
    SwapDirection,
    Undo,
    Redo,
    ExportPng,
    ExportSampleGrid,
    ExportSwapGrid,
    ExportGif,
    ExportStrip,
    ExportSavedCodes,
    Screenshot,
    CopyImage,
    CopyStyle,
    SaveStyles,
    LoadStyles,
    ViewTranslate,
    ViewSamples,
    ViewSwap,
    ViewInterpolate,
    ViewMap,
    AddMapFolder,
    ExportMap,
    ExportEffects,
    ToggleRegionBrush,
    OpenMask,
    SaveMask,
    ToggleAnimation,
    Quit,
}

const CTRL: Modifiers = Modifiers::COMMAND;
const CTRL_SHIFT: Modifiers = Modifiers {
    shift: true,
    ..Modifiers::COMMAND
};

impl Command {
    pub const ALL: [Command; 33] = [
        Command::OpenImage,
        Command::PasteImage,
        Command::OpenModel,
        Command::OpenOfficialModel,
        Command::RandomStyle,
        Command::ZeroStyle,
        Command::SwapDirection,
        Command::Undo,
        Command::Redo,
        Command::ExportPng,
        Command::ExportSampleGrid,
        Command::ExportSwapGrid,
        Command::ExportGif,
        Command::ExportStrip,
        Command::ExportSavedCodes,
        Command::Screenshot,
        Command::CopyImage,
        Command::CopyStyle,
        Command::SaveStyles,
        Command::LoadStyles,
        Command::ViewTranslate,
        Command::ViewSamples,
        Command::ViewSwap,
        Command::ViewInterpolate,
        Command::ViewMap,
        Command::AddMapFolder,
        Command::ExportMap,
        Command::ExportEffects,
        Command::ToggleRegionBrush,
        Command::OpenMask,
        Command::SaveMask,
        Command::ToggleAnimation,
        Command::Quit,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Command::OpenImage => "Open image...",
            Command::PasteImage => "Paste image",
            Command::OpenModel => "Open model folder...",
            Command::OpenOfficialModel => "Open official checkpoint...",
            Command::RandomStyle => "Random style",
            Command::ZeroStyle => "Zero style",
            Command::SwapDirection => "Swap direction",
            Command::Undo => "Undo",
            Command::Redo => "Redo",
            Command::ExportPng => "Export output PNG...",
            Command::ExportSampleGrid => "Export sample grid...",
            Command::ExportSwapGrid => "Export swap grid...",
            Command::ExportGif => "Export interpolation GIF...",
            Command::ExportStrip => "Export interpolation strip...",
            Command::ExportSavedCodes => "Export saved codes as PNGs...",
            Command::Screenshot => "Save window screenshot...",
            Command::CopyImage => "Copy output image",
            Command::CopyStyle => "Copy style code",
            Command::SaveStyles => "Save style codes...",
            Command::LoadStyles => "Load style codes...",
            Command::ViewTranslate => "Translate",
            Command::ViewSamples => "Sample grid",
            Command::ViewSwap => "Swap grid",
            Command::ViewInterpolate => "Interpolation",
            Command::ViewMap => "Style map",
            Command::AddMapFolder => "Add folder to style map...",
            Command::ExportMap => "Export style map PNG...",
            Command::ExportEffects => "Export effect maps PNG...",
            Command::ToggleRegionBrush => "Region brush",
            Command::OpenMask => "Open mask...",
            Command::SaveMask => "Save mask...",
            Command::ToggleAnimation => "Play / pause interpolation",
            Command::Quit => "Quit",
        }
    }

    /// Shortcuts without modifiers act only while no text field has keyboard focus.
    pub fn shortcut(self) -> Option<KeyboardShortcut> {
        let key = |modifiers, key| Some(KeyboardShortcut::new(modifiers, key));
        match self {
            Command::OpenImage => key(CTRL, Key::O),
            Command::OpenModel => key(CTRL_SHIFT, Key::O),
            Command::RandomStyle => key(Modifiers::NONE, Key::Space),
            Command::ZeroStyle => key(Modifiers::NONE, Key::Num0),
            Command::SwapDirection => key(Modifiers::NONE, Key::D),
            Command::Undo => key(CTRL, Key::Z),
            Command::Redo => key(CTRL_SHIFT, Key::Z),
            Command::ExportPng => key(CTRL, Key::S),
            Command::Screenshot => key(Modifiers::NONE, Key::F12),
            Command::CopyImage => key(CTRL_SHIFT, Key::C),
            Command::CopyStyle => key(CTRL_SHIFT, Key::J),
            Command::ViewTranslate => key(Modifiers::NONE, Key::Num1),
            Command::ViewSamples => key(Modifiers::NONE, Key::Num2),
            Command::ViewSwap => key(Modifiers::NONE, Key::Num3),
            Command::ViewInterpolate => key(Modifiers::NONE, Key::Num4),
            Command::ViewMap => key(Modifiers::NONE, Key::Num5),
            Command::ToggleAnimation => key(Modifiers::NONE, Key::P),
            Command::ToggleRegionBrush => key(Modifiers::NONE, Key::B),
            Command::Quit => key(CTRL, Key::Q),
            // Paste arrives as a clipboard event (Ctrl+V), not as a key press.
            _ => None,
        }
    }

    /// Further shortcuts for a command (shown nowhere, but they work): Ctrl+Y redoes, as on
    /// most desktops.
    pub fn alternative_shortcut(self) -> Option<KeyboardShortcut> {
        match self {
            Command::Redo => Some(KeyboardShortcut::new(CTRL, Key::Y)),
            _ => None,
        }
    }

    /// The commands whose shortcut was pressed this frame (consumed from the input).
    pub fn pressed(ctx: &egui::Context) -> Vec<Command> {
        let typing = ctx.egui_wants_keyboard_input();
        let mut pressed = Vec::new();
        ctx.input_mut(|input| {
            // Longest modifier sets first, so Ctrl+Shift+Z is not taken for Ctrl+Z.
            let mut commands: Vec<_> = Command::ALL
                .iter()
                .flat_map(|c| [c.shortcut(), c.alternative_shortcut()].map(|s| s.map(|s| (*c, s))))
                .flatten()
                .collect();
            commands.sort_by_key(|(_, s)| {
                std::cmp::Reverse(
                    s.modifiers.shift as u8 + s.modifiers.command as u8 + s.modifiers.alt as u8,
                )
            });
            for (command, shortcut) in commands {
                if typing && shortcut.modifiers.is_none() {
                    continue;
                }
                if input.consume_shortcut(&shortcut) {
                    pressed.push(command);
                }
            }
        });
        pressed
    }
}

/// The file dialog a command opens, if it opens one.
pub fn dialog_of(command: Command) -> Option<Dialog> {
    match command {
        Command::OpenImage => Some(Dialog::Images),
        Command::OpenModel => Some(Dialog::ModelFolder),
        Command::OpenOfficialModel => Some(Dialog::Official),
        Command::ExportPng => Some(Dialog::Save(SaveTarget::Png)),
        Command::ExportSampleGrid => Some(Dialog::Save(SaveTarget::SampleGrid)),
        Command::ExportSwapGrid => Some(Dialog::Save(SaveTarget::SwapGrid)),
        Command::ExportGif => Some(Dialog::Save(SaveTarget::Gif)),
        Command::ExportStrip => Some(Dialog::Save(SaveTarget::Strip)),
        Command::ExportSavedCodes => Some(Dialog::Save(SaveTarget::SavedCodes)),
        Command::Screenshot => Some(Dialog::Save(SaveTarget::Screenshot)),
        Command::SaveStyles => Some(Dialog::Save(SaveTarget::Styles)),
        Command::LoadStyles => Some(Dialog::StyleSet),
        Command::AddMapFolder => Some(Dialog::MapFolder),
        Command::ExportMap => Some(Dialog::Save(SaveTarget::Map)),
        Command::ExportEffects => Some(Dialog::Save(SaveTarget::Effects)),
        Command::OpenMask => Some(Dialog::Mask),
        Command::SaveMask => Some(Dialog::Save(SaveTarget::Mask)),
        _ => None,
    }
}

impl super::StylespaceApp {
    /// Runs a command (from a shortcut, a menu or a button).
    pub fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        use super::session::View;
        let dialog = dialog_of(command);
        if let Some(dialog) = dialog {
            let start = self.dialog_start();
            if let Err(e) = self.dialogs.open(dialog, start.as_deref(), ctx) {
                self.toasts.push(e, true);
                self.prompt_for_path(dialog);
            }
            return;
        }
        let action = match command {
            Command::PasteImage => {
                self.toasts
                    .push("Press Ctrl+V with an image on the clipboard", false);
                return;
            }
            Command::CopyImage => return self.copy_image(),
            Command::Quit => {
                // The session is saved by `on_exit`.
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                return;
            }
            Command::CopyStyle => {
                ctx.copy_text(self.state.style_json());
                self.toasts.push("Copied the style code", false);
                return;
            }
            Command::RandomStyle => Action::RandomStyle {
                seed: super::clock_seed(),
            },
            Command::ZeroStyle => Action::ZeroStyle,
            Command::SwapDirection => Action::SwapDirection,
            Command::Undo => Action::Undo,
            Command::Redo => Action::Redo,
            Command::ViewTranslate => Action::SetView(View::Translate),
            Command::ViewSamples => Action::SetView(View::Samples),
            Command::ViewSwap => Action::SetView(View::Swap),
            Command::ViewInterpolate => Action::SetView(View::Interpolate),
            Command::ViewMap => Action::SetView(View::Map),
            Command::ToggleAnimation => Action::TogglePlaying,
            Command::ToggleRegionBrush => Action::SetRegion(!self.state.region_on),
            _ => return,
        };
        self.act(action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for command in Command::ALL {
            for s in [command.shortcut(), command.alternative_shortcut()]
                .into_iter()
                .flatten()
            {
                assert!(seen.insert((s.modifiers.shift, s.modifiers.command, s.logical_key)));
            }
        }
    }
}
