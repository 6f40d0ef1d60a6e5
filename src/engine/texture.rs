//! Decoded images to RGBA8 textures on the GPU: burn's output buffer is bound directly to a compute
//! shader (`shaders/tensor_to_rgba.wgsl`) that writes a texture the UI can draw, so display never
//! reads pixels back to the CPU.
//!
//! This needs burn to run on the same wgpu device as the consumer of the texture (see
//! [`register_shared_device`]).

use std::sync::Mutex;

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuServer};

/// Why a tensor could not be turned into a texture.
#[derive(Debug, thiserror::Error)]
pub enum TextureError {
    #[error("the tensor is not on a wgpu device")]
    NotWgpu,
    #[error("the tensor's strides reach outside its buffer")]
    NotContiguous,
    #[error("expected f32 values, found {0:?}")]
    DType(DType),
    #[error("expected a [1, 1 or 3, h, w] image, got {0:?}")]
    Shape([usize; 4]),
    #[error("the tensor's GPU buffer is not available: {0}")]
    Resource(String),
    #[error("burn could not use the shared wgpu device: {0}")]
    Register(String),
}

/// Devices registered with burn so far: registering the same wgpu device twice would create a
/// second runtime for it, so each one is registered once and its burn [`Device`] reused.
static REGISTERED: Mutex<Vec<(wgpu::Device, Device)>> = Mutex::new(Vec::new());

/// The burn device running on an existing wgpu device (e.g. eframe's), registering it on first
/// use. The wgpu device must have been created with the adapter's features and limits, or burn's
/// kernels fail to compile.
pub fn register_shared_device(
    instance: &wgpu::Instance,
    adapter: &wgpu::Adapter,
    device: &wgpu::Device,
    queue: &wgpu::Queue,
) -> Result<Device, TextureError> {
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, burn_device)) = registered.iter().find(|(d, _)| d == device) {
        return Ok(burn_device.clone());
    }
    let setup = WgpuSetup {
        instance: instance.clone(),
        adapter: adapter.clone(),
        device: device.clone(),
        queue: queue.clone(),
        backend: adapter.get_info().backend,
    };
    let burn_device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| TextureError::Register(e.to_string()))?;
    registered.push((device.clone(), burn_device.clone()));
    Ok(burn_device)
}

/// The device descriptor a shared device needs: everything the adapter offers, as burn's own
/// device request does (its shader compiler picks capabilities from the adapter).
pub fn shared_device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("stylespace (egui + burn)"),
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: adapter.limits(),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        ..Default::default()
    }
}

/// The tensor -> texture compute pipeline for one wgpu device.
pub struct TextureConverter {
    device: wgpu::Device,
    queue: wgpu::Queue,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

/// Texture format of converted images (filterable, so egui can scale it).
pub const TEXTURE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

impl TextureConverter {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("tensor_to_rgba"),
            source: wgpu::ShaderSource::Wgsl(
                include_str!("../../shaders/tensor_to_rgba.wgsl").into(),
            ),
        });
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("tensor_to_rgba"),
            entries: &[
                entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                entry(
                    1,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                entry(
                    2,
                    wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: TEXTURE_FORMAT,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                ),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("tensor_to_rgba"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("tensor_to_rgba"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Self {
            device: device.clone(),
            queue: queue.clone(),
            layout,
            pipeline,
        }
    }

    /// Writes a decoded image into a new RGBA8 texture (usage: texture binding, storage, copy
    /// source) and submits the work on the shared queue; nothing is read back.
    ///
    /// # Shapes
    /// `image`: `[1, c, h, w]` with c = 1 (gray) or 3, values in [-1, 1], on this converter's
    /// device.
    pub fn convert(&self, image: Tensor<4>) -> Result<wgpu::Texture, TextureError> {
        let dims = image.dims();
        let [n, channels, height, width] = dims;
        if n != 1 || !(channels == 1 || channels == 3) {
            return Err(TextureError::Shape(dims));
        }
        let fused = image
            .try_into_primitive::<burn_cubecl::Cube>()
            .map_err(|_| TextureError::NotWgpu)?;
        // Runs the pending fused operations, so the buffer holds the final values.
        let cube = fused
            .client
            .clone()
            .resolve_tensor_float::<burn_cubecl::CubeBackend>(fused);
        if cube.dtype != DType::F32 {
            return Err(TextureError::DType(cube.dtype));
        }
        // Any layout works (the shader reads through the strides), as long as it is in range.
        let strides: Vec<usize> = cube.meta.strides().iter().copied().collect();
        let span =
            1 + (channels - 1) * strides[1] + (height - 1) * strides[2] + (width - 1) * strides[3];
        if span * 4 > cube.handle.size() as usize {
            return Err(TextureError::NotContiguous);
        }
        // Flushes burn's queued work, so the dispatch below (same queue) sees finished data.
        let managed = cube
            .client
            .get_resource::<WgpuServer<AutoCompiler>>(cube.handle.clone())
            .map_err(|e| TextureError::Resource(format!("{e:?}")))?;
        let resource = managed.resource();

        // Storage bindings must start at an aligned offset; the shader skips the difference.
        let align = u64::from(self.device.limits().min_storage_buffer_offset_alignment);
        let start = resource.offset / align * align;
        let first = (resource.offset - start) / 4;
        let bytes = (resource.offset - start + (span * 4) as u64).next_multiple_of(4);

        let params: [u32; 8] = [
            width as u32,
            height as u32,
            channels as u32,
            first as u32,
            strides[1] as u32,
            strides[2] as u32,
            strides[3] as u32,
            0,
        ];
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor_to_rgba params"),
            size: 32,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let param_bytes: Vec<u8> = params.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.queue.write_buffer(&uniform, 0, &param_bytes);

        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("decoded image"),
            size: wgpu::Extent3d {
                width: width as u32,
                height: height as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: TEXTURE_FORMAT,
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("tensor_to_rgba"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &resource.buffer,
                        offset: start,
                        size: std::num::NonZeroU64::new(bytes),
                    }),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
            ],
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tensor_to_rgba"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("tensor_to_rgba"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups((width as u32).div_ceil(8), (height as u32).div_ceil(8), 1);
        }
        self.queue.submit([encoder.finish()]);
        // The submission holds its own reference to the buffer; burn may reuse the memory for
        // later work only after this point, which the queue orders after the dispatch.
        drop(managed);
        Ok(texture)
    }

    /// Blocks until the work submitted on the shared queue so far has run (see the worker's
    /// `settle`). Fails when the device was lost.
    pub fn wait_idle(&self) -> Result<(), String> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Reads a texture back to RGBA8 bytes (tests and exports only; display never needs this).
pub fn read_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
) -> Option<Vec<u8>> {
    let (width, height) = (texture.width(), texture.height());
    let row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("texture readback"),
        size: u64::from(row * height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(height),
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);
    let slice = buffer.slice(..);
    slice.map_async(wgpu::MapMode::Read, |_| {});
    let _ = device.poll(wgpu::PollType::wait_indefinitely());
    let mapped = slice.get_mapped_range().ok()?;
    let mut out = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height as usize {
        let start = y * row as usize;
        out.extend_from_slice(&mapped[start..start + width as usize * 4]);
    }
    Some(out)
}
