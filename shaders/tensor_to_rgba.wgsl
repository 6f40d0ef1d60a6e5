// A decoded image, f32 values in [-1, 1] (batch 1, 1 or 3 channels, any strides: burn's kernels
// may leave the output in a channels-last layout), straight from burn's storage buffer into an RGBA8 texture that egui draws: the pixels never visit the CPU.
// Rounding matches the CPU path (io::image::to_u8): clamp((v + 1) / 2) * 255, to nearest.

struct Params {
    width: u32,
    height: u32,
    channels: u32,
    // First element of the tensor in `values` (its buffer range starts at an aligned offset).
    first: u32,
    // Element strides of the channel, row and column axes.
    stride_c: u32,
    stride_h: u32,
    stride_w: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var output: texture_storage_2d<rgba8unorm, write>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= params.width || id.y >= params.height) {
        return;
    }
    let i = params.first + id.y * params.stride_h + id.x * params.stride_w;
    var rgb: vec3<f32>;
    if (params.channels == 1u) {
        rgb = vec3<f32>(values[i]);
    } else {
        let c = params.stride_c;
        rgb = vec3<f32>(values[i], values[i + c], values[i + 2u * c]);
    }
    // Quantise here rather than trusting the storage format's float -> unorm rounding.
    let q = round(clamp((rgb + 1.0) * 0.5, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0) / 255.0;
    textureStore(output, vec2<i32>(id.xy), vec4<f32>(q, 1.0));
}
