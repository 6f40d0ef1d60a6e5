//! The compute backend of the window: burn on eframe's own wgpu device when there is a usable
//! GPU (rendered images stay on it), else the CPU backend (pixels are uploaded).

use eframe::egui_wgpu;

use crate::engine::texture::{TextureConverter, register_shared_device};
use crate::engine::worker::Display;
use crate::engine::{BackendKind, DeviceChoice, select_device};

/// The chosen backend.
pub struct Backend {
    pub device: burn::prelude::Device,
    pub display: Display,
    pub kind: BackendKind,
    pub description: String,
    /// Why the choice differs from what was asked, for the user.
    pub note: Option<String>,
}

/// Picks the compute device: burn on eframe's own wgpu device when there is a usable (hardware,
/// or explicitly requested) GPU, else the CPU backend.
pub fn choose(choice: DeviceChoice, render_state: Option<&egui_wgpu::RenderState>) -> Backend {
    let cpu = |note: Option<String>| {
        let compute = select_device(DeviceChoice::Cpu).expect("the CPU backend is always there");
        Backend {
            device: compute.device,
            display: Display::Pixels,
            kind: BackendKind::Cpu,
            description: compute.description,
            note,
        }
    };
    if choice == DeviceChoice::Cpu {
        return cpu(None);
    }
    let Some(rs) = render_state else {
        return match select_device(choice) {
            Ok(compute) if compute.kind == BackendKind::Wgpu => Backend {
                device: compute.device,
                display: Display::Pixels,
                kind: BackendKind::Wgpu,
                description: format!("{} (own device, pixels copied)", compute.description),
                note: None,
            },
            Ok(compute) => cpu(compute.fallback_reason),
            Err(e) => cpu(Some(format!("{e}; using the CPU backend"))),
        };
    };
    let info = rs.adapter.get_info();
    let software = info.device_type == eframe::wgpu::DeviceType::Cpu;
    if choice == DeviceChoice::Auto && software {
        return cpu(Some(format!(
            "Only a software GPU ({}) was found; the CPU backend is faster",
            info.name
        )));
    }
    match register_shared_device(&rs.instance, &rs.adapter, &rs.device, &rs.queue) {
        Ok(device) => Backend {
            device,
            display: Display::Gpu(TextureConverter::new(&rs.device, &rs.queue)),
            kind: BackendKind::Wgpu,
            description: format!(
                "wgpu: {} ({:?}, {:?}), shared with the UI",
                info.name, info.backend, info.device_type
            ),
            note: None,
        },
        Err(e) => cpu(Some(format!("{e}; using the CPU backend"))),
    }
}
