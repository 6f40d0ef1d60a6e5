//! Choosing where tensors live: burn-wgpu on a GPU, or burn-flex on the CPU.

use std::sync::OnceLock;

use burn::prelude::Device;
use burn::tensor::wgpu::WgpuBackend;

/// What the user asked for (`--device`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A hardware GPU through wgpu if there is one, else the CPU.
    #[default]
    Auto,
    /// wgpu, whatever adapter it finds (a software Vulkan such as lavapipe included).
    Wgpu,
    /// burn's CPU backend (flex).
    Cpu,
}

/// Which backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Wgpu,
    Cpu,
}

/// A device plus a human-readable description for status lines.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: BackendKind,
    /// e.g. "wgpu: NVIDIA H100 (Vulkan, DiscreteGpu)" or "cpu: burn-flex, 2 threads".
    pub description: String,
    /// Whether the wgpu adapter is a software rasteriser (lavapipe / llvmpipe).
    pub software: bool,
    /// Why `Auto` did not pick a GPU, for a one-line notice at the edge.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    #[error("no usable wgpu adapter: {0}")]
    NoWgpu(String),
}

struct WgpuInfo {
    device: Device,
    description: String,
    software: bool,
}

/// burn's wgpu runtime can be initialised once per process; keep the outcome.
static WGPU: OnceLock<Result<WgpuInfo, String>> = OnceLock::new();

fn wgpu_device() -> &'static Result<WgpuInfo, String> {
    WGPU.get_or_init(|| {
        // Adapter discovery can panic inside drivers; never let that take the process down.
        // The native API only: burn's kernels need features the GL backend lacks, and probing
        // GL/EGL on a headless machine only prints driver noise.
        let api = if cfg!(target_os = "macos") {
            WgpuBackend::Metal
        } else if cfg!(target_os = "windows") {
            WgpuBackend::Dx12
        } else {
            WgpuBackend::Vulkan
        };
        let attempt =
            std::panic::catch_unwind(|| Device::wgpu_options().graphics_api(api).init_with_setup());
        match attempt {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
                Ok(WgpuInfo {
                    device,
                    description: format!(
                        "wgpu: {} ({:?}, {:?})",
                        info.name, info.backend, info.device_type
                    ),
                    software,
                })
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the wgpu adapter failed to initialise".into()),
        }
    })
}

fn cpu_device() -> ComputeDevice {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    ComputeDevice {
        device: Device::flex(),
        kind: BackendKind::Cpu,
        description: format!("cpu: burn-flex, {threads} threads"),
        software: false,
        fallback_reason: None,
    }
}

/// Resolves a [`DeviceChoice`]. `Auto` uses a hardware GPU when wgpu finds one and otherwise the
/// CPU backend (a software Vulkan adapter is 10-20x slower than the CPU backend), saying why.
pub fn select_device(choice: DeviceChoice) -> Result<ComputeDevice, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu_device()),
        DeviceChoice::Wgpu => match wgpu_device() {
            Ok(info) => Ok(ComputeDevice {
                device: info.device.clone(),
                kind: BackendKind::Wgpu,
                description: info.description.clone(),
                software: info.software,
                fallback_reason: None,
            }),
            Err(e) => Err(DeviceError::NoWgpu(e.clone())),
        },
        DeviceChoice::Auto => match wgpu_device() {
            Ok(info) if !info.software => Ok(ComputeDevice {
                device: info.device.clone(),
                kind: BackendKind::Wgpu,
                description: info.description.clone(),
                software: false,
                fallback_reason: None,
            }),
            Ok(info) => Ok(ComputeDevice {
                fallback_reason: Some(format!(
                    "only a software GPU adapter was found ({}); using the CPU backend",
                    info.description
                )),
                ..cpu_device()
            }),
            Err(e) => Ok(ComputeDevice {
                fallback_reason: Some(format!("no GPU found ({e}); using the CPU backend")),
                ..cpu_device()
            }),
        },
    }
}
