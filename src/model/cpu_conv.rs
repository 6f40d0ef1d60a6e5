//! Convolutions for inference on burn's CPU backend (burn-flex without autodiff), as plain Rust
//! over the tensors' values. burn-flex's conv2d converts the input to NHWC on one thread, zeroes
//! and fills an im2col tile per 512 output pixels and writes the output one value at a time across
//! channel planes; for these models' layers that costs up to 2-3x the GEMM itself (measured in
//! docs/performance.md). Here the im2col rows are copied straight from the NCHW planes, the GEMM
//! is burn-flex's own (the `gemm` crate) and writes whole output rows. Training on burn-flex uses
//! the same geometry and forward pass with its own gradients (`cpu_conv_grad`); every other
//! backend takes burn's conv2d.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::cpu_winograd::{
    WinogradKernel, conv3x3_winograd, conv4x4_stride2_winograd, output_block_3x3,
    output_block_stride2, winograd_pays,
};
use crate::config::PadType;

/// Output pixels per task of [`conv2d_cpu`] (whole output rows, at least one). Measured at 256 px
/// (docs/performance.md): 128-256 encode and decode 5-7 % faster than 512 and 8-12 % faster than
/// 1024-2048 (an im2col tile that stays in cache); training the same within noise.
const TILE_PIXELS: usize = 256;

/// Whether tensors on `device` run on burn's CPU backend without autodiff (inference).
pub fn is_cpu_inference(device: &Device) -> bool {
    !device.is_autodiff() && *device == Device::flex()
}

/// A stride-1 convolution (no padding) with few output channels, computed directly on the CPU:
/// each output row accumulates `in * k * k` scaled input rows (vectorised loops, rows in
/// parallel). burn's im2col would first write every input value k*k times: an
/// `[in * k * k, h * w]` matrix of 822 MB for the decoder's last conv (64 -> 3 at 7x7, 256 px),
/// slower than the multiply-adds themselves when there are only a few outputs.
///
/// # Shapes
/// `x`: `[b, in, hp, wp]`, `weight`: `[out, in, kh, kw]`, `bias`: `[out]` ->
/// `[b, out, hp - kh + 1, wp - kw + 1]`.
pub fn conv2d_few_outputs_cpu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    conv2d_few_outputs_cpu_padded(x, weight, bias, 0, PadType::Zero).expect("an unpadded input")
}

/// [`conv2d_few_outputs_cpu`] of `x` padded by `pad` as `pad_type` says, each task padding the
/// input rows it reads as it reads them (burn's padding of the whole input first took about as
/// long as the conv itself for the decoders' last conv, measured). `None` where `pad_type`
/// cannot pad this input (reflection needs `pad` below the height and the width).
///
/// # Shapes
/// `x`: `[b, in, h, w]`, `weight`: `[out, in, kh, kw]`, `bias`: `[out]` ->
/// `[b, out, h + 2 pad - kh + 1, w + 2 pad - kw + 1]`.
pub fn conv2d_few_outputs_cpu_padded(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    pad: usize,
    pad_type: PadType,
) -> Option<Tensor<4>> {
    let device = x.device();
    let [batch, in_ch, h_in, w_in] = x.dims();
    let (rows, cols) = (
        padded_axis(h_in, pad, pad_type)?,
        padded_axis(w_in, pad, pad_type)?,
    );
    let [out_ch, _, kh, kw] = weight.dims();
    let (hp, wp) = (rows.len(), cols.len());
    let (h, w) = (hp + 1 - kh, wp + 1 - kw);
    let (input, weight, bias) = (f32_values(x), f32_values(weight), f32_values(bias));
    let (input, weight, bias) = (f32_slice(&input), f32_slice(&weight), f32_slice(&bias));
    let geometry = FewOutputs {
        in_ch,
        out_ch,
        kernel: [kh, kw],
        input: [h_in, w_in],
        rows: &rows,
        cols: &cols,
        out: [h, w],
    };
    let blocks = h.div_ceil(FewOutputs::BLOCK);
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let results: Vec<Vec<f32>> = (0..batch * blocks)
        .into_par_iter()
        .map(|task| {
            let (b, y0) = (task / blocks, (task % blocks) * FewOutputs::BLOCK);
            let input = &input[b * in_ch * h_in * w_in..][..in_ch * h_in * w_in];
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU was just found to support AVX2.
                return unsafe { geometry.block_avx2(input, weight, bias, y0) };
            }
            geometry.block(input, weight, bias, y0)
        })
        .collect();
    let shape = [batch, out_ch, h, w];
    let y = assemble_row_tiles(&results, shape, FewOutputs::BLOCK);
    Some(Tensor::from_data(TensorData::new(y, shape), &device))
}

/// The output `[b, out, h, w]` from per-task tiles of `rows_per_task` whole output rows (fewer in
/// an image's last tile), each `[out, rows, w]`, tasks ordered image by image, top to bottom.
fn assemble_row_tiles(
    tiles: &[Vec<f32>],
    [batch, out_ch, h, w]: [usize; 4],
    rows_per_task: usize,
) -> Vec<f32> {
    let tasks_per_image = h.div_ceil(rows_per_task);
    let mut y = vec![0f32; batch * out_ch * h * w];
    for (task, tile) in tiles.iter().enumerate() {
        let (b, y0) = (
            task / tasks_per_image,
            (task % tasks_per_image) * rows_per_task,
        );
        let pixels = rows_per_task.min(h - y0) * w;
        for (o, values) in tile.chunks(pixels).enumerate() {
            let dst = ((b * out_ch + o) * h + y0) * w;
            y[dst..dst + pixels].copy_from_slice(values);
        }
    }
    y
}

/// The geometry of [`conv2d_few_outputs_cpu_padded`] and its per-task kernel.
#[derive(Clone, Copy)]
struct FewOutputs<'a> {
    in_ch: usize,
    out_ch: usize,
    kernel: [usize; 2],
    /// The unpadded input's `[h, w]`.
    input: [usize; 2],
    /// Where each padded row and column reads from ([`padded_axis`]: the same padding on both
    /// sides, the middle lines read in order).
    rows: &'a [Option<usize>],
    cols: &'a [Option<usize>],
    out: [usize; 2],
}

impl FewOutputs<'_> {
    /// Output rows per task: each input row read serves up to `kh` of them in every channel.
    const BLOCK: usize = 8;

    /// Every output channel of rows `y0..y0 + BLOCK` of one image (`input`: `[in, h, w]`,
    /// unpadded), as `[out, rows, w]`.
    #[inline(always)]
    fn block(&self, input: &[f32], weight: &[f32], bias: &[f32], y0: usize) -> Vec<f32> {
        let ([kh, kw], [h_in, w_in], [h, w]) = (self.kernel, self.input, self.out);
        let wp = self.cols.len();
        let pad = (wp - w_in) / 2;
        let rows = Self::BLOCK.min(h - y0);
        let mut acc = vec![0f32; self.out_ch * rows * w];
        for (o, plane) in acc.chunks_mut(rows * w).enumerate() {
            plane.fill(bias[o]);
        }
        let mut x_row = vec![0f32; wp];
        for c in 0..self.in_ch {
            let x_plane = &input[c * h_in * w_in..][..h_in * w_in];
            for r in 0..rows + kh - 1 {
                // Padded row y0 + r: its source row copied into the middle, the padding
                // columns read through their index map.
                match self.rows[y0 + r] {
                    None => x_row.fill(0.0),
                    Some(source) => {
                        let source = &x_plane[source * w_in..][..w_in];
                        x_row[pad..pad + w_in].copy_from_slice(source);
                        for i in (0..pad).chain(pad + w_in..wp) {
                            x_row[i] = self.cols[i].map_or(0.0, |x| source[x]);
                        }
                    }
                }
                // Input row y0 + r meets output row y0 + r - ky through kernel row ky.
                for ky in r.saturating_sub(rows - 1)..kh.min(r + 1) {
                    let y = r - ky;
                    for o in 0..self.out_ch {
                        let kernel = &weight[((o * self.in_ch + c) * kh + ky) * kw..][..kw];
                        let out_row = &mut acc[(o * rows + y) * w..][..w];
                        for (kx, &tap) in kernel.iter().enumerate() {
                            for (a, v) in out_row.iter_mut().zip(&x_row[kx..kx + w]) {
                                *a += tap * v;
                            }
                        }
                    }
                }
            }
        }
        acc
    }

    /// [`FewOutputs::block`] compiled for AVX2 (8 lanes instead of SSE2's 4; the same
    /// multiplies and adds, so the same results).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn block_avx2(&self, input: &[f32], weight: &[f32], bias: &[f32], y0: usize) -> Vec<f32> {
        self.block(input, weight, bias, y0)
    }
}

/// A convolution without padding (the input is padded already) and without groups, for inference
/// on the CPU: tiles of whole output rows in parallel, each an im2col copied from the NCHW input
/// and one GEMM into `[out, pixels]`, bias included.
///
/// # Shapes
/// `x`: `[b, in, hp, wp]`, `weight`: `[out, in, kh, kw]`, `bias`: `[out]` ->
/// `[b, out, (hp - kh) / stride + 1, (wp - kw) / stride + 1]`.
pub fn conv2d_cpu(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, stride: usize) -> Tensor<4> {
    let device = x.device();
    let geometry = ConvGeometry::new(x.dims(), weight.dims(), stride).split_for_threads();
    let (x, weight, bias) = (f32_values(x), f32_values(weight), f32_values(bias));
    let y = geometry.forward(f32_slice(&x), f32_slice(&weight), f32_slice(&bias));
    Tensor::from_data(TensorData::new(y, geometry.output_shape()), &device)
}

/// [`conv2d_cpu`] of `x` padded by `pad` on every side as `pad_type` says, the padding read on
/// the fly instead of copied into a padded tensor first. Wide 3x3 stride-1 convs (the residual
/// blocks, the folded upsampling) run as Winograd F(2x2, 3x3) or F(4x4, 3x3)
/// ([`conv3x3_winograd`]), wide stride-2 4x4 convs (the encoders' downsampling) as F(2x2, 2x2)
/// or F(4x4, 2x2) over the padded input's four pixel phases ([`conv4x4_stride2_winograd`]).
/// Other stride-2 convs with even kernels run as stride-1 convs over the four phases
/// ([`space_to_depth`]), whose im2col rows are plain copies where a stride-2 im2col gathers
/// every other value. `None` where `pad_type` cannot pad
/// this input (reflection needs `pad` below the height and the width): the caller then pads
/// with burn.
///
/// # Shapes
/// `x`: `[b, in, h, w]`, `weight`: `[out, in, kh, kw]`, `bias`: `[out]` ->
/// `[b, out, (h + 2 pad - kh) / stride + 1, (w + 2 pad - kw) / stride + 1]`.
pub fn conv2d_cpu_padded(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pad: usize,
    pad_type: PadType,
) -> Option<Tensor<4>> {
    let [batch, in_ch, h, w] = x.dims();
    let (rows, cols) = (
        padded_axis(h, pad, pad_type)?,
        padded_axis(w, pad, pad_type)?,
    );
    let device = x.device();
    let weight_dims @ [out_ch, _, kh, kw] = weight.dims();
    let (x, weight, bias) = (f32_values(x), f32_values(weight), f32_values(bias));
    let (input, weight, bias) = (f32_slice(&x), f32_slice(&weight), f32_slice(&bias));
    let padded = [batch, in_ch, rows.len(), cols.len()];
    let geometry = ConvGeometry::new(padded, weight_dims, stride).split_for_threads();
    let y = if stride == 1 && (kh, kw) == (3, 3) && winograd_pays(in_ch, out_ch) {
        let block = output_block_3x3(in_ch, out_ch, geometry.out);
        let kernel = WinogradKernel::conv3x3(weight, out_ch, in_ch, block);
        conv3x3_winograd(input, [batch, in_ch, h, w], &kernel, bias, &rows, &cols)
    } else if stride == 2 && (kh, kw) == (4, 4) && winograd_pays(4 * in_ch, out_ch) {
        let block = output_block_stride2(in_ch, out_ch, geometry.out);
        let kernel = WinogradKernel::stride2_4x4(weight, out_ch, in_ch, block);
        conv4x4_stride2_winograd(input, [batch, in_ch, h, w], &kernel, bias, &rows, &cols)
    } else if stride == 2 && kh % 2 == 0 && kw % 2 == 0 {
        let phases = space_to_depth(input, [batch, in_ch, h, w], &rows, &cols);
        let phase_weight = weight_space_to_depth(weight, weight_dims);
        let phase_dims = [
            batch,
            4 * in_ch,
            rows.len().div_ceil(2),
            cols.len().div_ceil(2),
        ];
        // An odd padded size leaves the phases one line of zeros that no output reads.
        let phase_geometry = ConvGeometry {
            out: geometry.out,
            ..ConvGeometry::new(phase_dims, [out_ch, 4 * in_ch, kh / 2, kw / 2], 1)
        }
        .split_for_threads();
        phase_geometry.forward(&phases, &phase_weight, bias)
    } else {
        let image_len = in_ch * h * w;
        geometry.forward_with(
            |image, tile| {
                let image = &input[image * image_len..][..image_len];
                geometry.im2col_padded(image, [h, w], [&rows, &cols], pad, tile)
            },
            weight,
            bias,
        )
    };
    Some(Tensor::from_data(
        TensorData::new(y, geometry.output_shape()),
        &device,
    ))
}

/// Where each line of an axis of `n` values padded by `pad` on both sides reads from: a line of
/// the unpadded axis, or `None` for zeros. `None` overall where `pad_type` cannot pad it
/// (reflection needs `pad < n`).
pub fn padded_axis(n: usize, pad: usize, pad_type: PadType) -> Option<Vec<Option<usize>>> {
    if n == 0 || (pad_type == PadType::Reflect && pad >= n) {
        return None;
    }
    Some(
        (0..n + 2 * pad)
            .map(|p| padded_line(p, n, pad, pad_type))
            .collect(),
    )
}

/// The line of an axis of `n` values (`n > 0`; `pad < n` for reflection) that line `p` of it
/// padded by `pad` on both sides reads from, or `None` for a zero.
pub(crate) fn padded_line(p: usize, n: usize, pad: usize, pad_type: PadType) -> Option<usize> {
    let (i, last) = (p as isize - pad as isize, n as isize - 1);
    if (0..=last).contains(&i) {
        return Some(i as usize);
    }
    match pad_type {
        PadType::Zero => None,
        PadType::Replicate => Some(i.clamp(0, last) as usize),
        PadType::Reflect => Some(if i < 0 { -i } else { 2 * last - i } as usize),
    }
}

/// The four pixel phases of every padded channel plane as channels: `[b, 4 in, hs, ws]`, channel
/// `4 c + 2 py + px` holding the padded pixels `(2 i + py, 2 j + px)` of channel `c`; `hs` and
/// `ws` are half the padded height and width, rounded up (zeros past the padded size). One
/// gathering pass over the input, where a stride-2 im2col gathers each value `kh * kw / 4` times.
///
/// # Shapes
/// `input`: `[b, in, h, w]`; `rows` / `cols`: the padded axes ([`padded_axis`]).
fn space_to_depth(
    input: &[f32],
    [_, _, h, w]: [usize; 4],
    rows: &[Option<usize>],
    cols: &[Option<usize>],
) -> Vec<f32> {
    let (hs, ws) = (rows.len().div_ceil(2), cols.len().div_ceil(2));
    let phase_cols: [Vec<Option<usize>>; 2] = [0, 1].map(|px| {
        (0..ws)
            .map(|j| cols.get(2 * j + px).copied().flatten())
            .collect()
    });
    let mut phases = vec![0f32; input.len() / (h * w) * 4 * hs * ws];
    phases
        .par_chunks_mut(4 * hs * ws)
        .zip(input.par_chunks(h * w))
        .for_each(|(out, plane)| {
            for (phase, out) in out.chunks_mut(hs * ws).enumerate() {
                let (py, src_cols) = (phase / 2, &phase_cols[phase % 2]);
                for (i, out_row) in out.chunks_mut(ws).enumerate() {
                    // Rows past the padded height, and zero padding, stay zero.
                    let Some(r) = rows.get(2 * i + py).copied().flatten() else {
                        continue;
                    };
                    let row = &plane[r * w..][..w];
                    for (o, c) in out_row.iter_mut().zip(src_cols) {
                        if let Some(c) = *c {
                            *o = row[c];
                        }
                    }
                }
            }
        });
    phases
}

/// A `[out, in, kh, kw]` kernel (even sizes) as the `[out, 4 in, kh / 2, kw / 2]` kernel over the
/// phases of [`space_to_depth`]: tap `(ky, kx)` of channel `c` becomes tap `(ky / 2, kx / 2)` of
/// channel `4 c + 2 (ky % 2) + kx % 2`.
fn weight_space_to_depth(weight: &[f32], [_, in_ch, kh, kw]: [usize; 4]) -> Vec<f32> {
    let (kh2, kw2) = (kh / 2, kw / 2);
    let mut phased = vec![0f32; weight.len()];
    phased
        .par_chunks_mut(in_ch * kh * kw)
        .zip(weight.par_chunks(in_ch * kh * kw))
        .for_each(|(dst, src)| {
            for c in 0..in_ch {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let phase = 2 * (ky % 2) + kx % 2;
                        dst[((c * 4 + phase) * kh2 + ky / 2) * kw2 + kx / 2] =
                            src[(c * kh + ky) * kw + kx];
                    }
                }
            }
        });
    phased
}

/// A tensor's values as a contiguous f32 burn-flex tensor: on burn-flex without autodiff the
/// tensor itself, not copied when it is contiguous already (activations kept for a skip
/// connection, weights held by their module); elsewhere read back.
pub(crate) fn f32_values<const D: usize>(t: Tensor<D>) -> FlexTensor {
    let flex = match t.clone().try_into_primitive::<Flex>() {
        Ok(flex) if flex.dtype() == DType::F32 => flex,
        _ => FlexTensor::from_data(t.into_data().convert::<f32>()),
    };
    flex.to_contiguous()
}

/// A burn-flex tensor made contiguous (not copied when it already is), if its values are f32.
pub(crate) fn contiguous_f32(t: &FlexTensor) -> Option<FlexTensor> {
    let t = t.to_contiguous();
    t.as_slice::<f32>().is_some().then_some(t)
}

/// The values of a tensor from [`f32_values`] or [`contiguous_f32`].
pub(crate) fn f32_slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("contiguous f32 (f32_values, contiguous_f32)")
}

/// The geometry of an unpadded, ungrouped convolution over NCHW values, and its im2col tiling:
/// tasks of whole output rows (about [`TILE_PIXELS`] pixels), image by image, top to bottom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub in_ch: usize,
    pub out_ch: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    /// Input height and width (padded already).
    pub padded: [usize; 2],
    /// Output height and width.
    pub out: [usize; 2],
    /// Tasks wanted at least: an output smaller than a tile per thread is split into thinner
    /// tiles so that every thread has one (1: tiles of [`TILE_PIXELS`] whatever the size).
    pub min_tasks: usize,
}

/// One task of a [`ConvGeometry`]: `rows` output rows from `y0` of image `image`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowTile {
    pub image: usize,
    pub y0: usize,
    pub rows: usize,
}

impl ConvGeometry {
    /// From the input's `[b, in, hp, wp]` and the weight's `[out, in, kh, kw]`.
    pub fn new(
        [batch, in_ch, hp, wp]: [usize; 4],
        [out_ch, _, kh, kw]: [usize; 4],
        stride: usize,
    ) -> Self {
        Self {
            batch,
            in_ch,
            out_ch,
            kernel: [kh, kw],
            stride,
            padded: [hp, wp],
            out: [(hp - kh) / stride + 1, (wp - kw) / stride + 1],
            min_tasks: 1,
        }
    }

    /// The same geometry with at least one task per rayon thread where the output allows (a
    /// 16 x 16 output is one tile of [`TILE_PIXELS`]: one core would compute it alone).
    pub fn split_for_threads(self) -> Self {
        Self {
            min_tasks: rayon::current_num_threads(),
            ..self
        }
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_ch, self.out[0], self.out[1]]
    }

    /// Rows of the im2col matrix: `in * kh * kw`.
    pub fn depth(&self) -> usize {
        self.in_ch * self.kernel[0] * self.kernel[1]
    }

    pub fn rows_per_tile(&self) -> usize {
        let per_image = self.min_tasks.div_ceil(self.batch.max(1));
        (TILE_PIXELS / self.out[1])
            .max(1)
            .min(self.out[0].div_ceil(per_image).max(1))
    }

    pub fn tasks(&self) -> usize {
        self.batch * self.out[0].div_ceil(self.rows_per_tile())
    }

    pub fn tile(&self, task: usize) -> RowTile {
        let (per_tile, tiles) = (
            self.rows_per_tile(),
            self.out[0].div_ceil(self.rows_per_tile()),
        );
        let y0 = (task % tiles) * per_tile;
        RowTile {
            image: task / tiles,
            y0,
            rows: per_tile.min(self.out[0] - y0),
        }
    }

    /// One image's `[in, hp, wp]` values.
    pub fn image<'a>(&self, values: &'a [f32], image: usize) -> &'a [f32] {
        let n = self.in_ch * self.padded[0] * self.padded[1];
        &values[image * n..][..n]
    }

    /// The im2col matrix of a tile, `[in * kh * kw, rows * wo]`, every value written once (no
    /// zeroing pass), copied straight from the NCHW planes of `image`.
    pub fn im2col(&self, image: &[f32], tile: RowTile) -> Vec<f32> {
        let ([kh, kw], [hp, wp], wo, s) = (self.kernel, self.padded, self.out[1], self.stride);
        let mut columns = Vec::with_capacity(self.depth() * tile.rows * wo);
        for c in 0..self.in_ch {
            for ky in 0..kh {
                for kx in 0..kw {
                    for y in tile.y0..tile.y0 + tile.rows {
                        let src = &image[(c * hp + y * s + ky) * wp + kx..];
                        if s == 1 {
                            columns.extend_from_slice(&src[..wo]);
                        } else {
                            columns.extend((0..wo).map(|x| src[x * s]));
                        }
                    }
                }
            }
        }
        columns
    }

    /// [`ConvGeometry::im2col`] of an unpadded image (`[in, h, w]`) whose padded lines read from
    /// `rows` and `cols` ([`padded_axis`], `pad` on each side): at stride 1 the columns that
    /// read unpadded ones in order are copied as one slice.
    fn im2col_padded(
        &self,
        image: &[f32],
        [h, w]: [usize; 2],
        [rows, cols]: [&[Option<usize>]; 2],
        pad: usize,
        tile: RowTile,
    ) -> Vec<f32> {
        let ([kh, kw], wo, s) = (self.kernel, self.out[1], self.stride);
        let mut columns = Vec::with_capacity(self.depth() * tile.rows * wo);
        let value = |row: &[f32], c: Option<usize>| c.map_or(0.0, |c| row[c]);
        for c in 0..self.in_ch {
            let plane = &image[c * h * w..][..h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    // Output columns lo..hi read unpadded columns lo + kx - pad.. (stride 1).
                    let lo = pad.saturating_sub(kx).min(wo);
                    let hi = (pad + w).saturating_sub(kx).clamp(lo, wo);
                    for y in tile.y0..tile.y0 + tile.rows {
                        let Some(r) = rows[y * s + ky] else {
                            columns.extend(std::iter::repeat_n(0.0, wo));
                            continue;
                        };
                        let row = &plane[r * w..][..w];
                        if s == 1 {
                            columns.extend(cols[kx..kx + lo].iter().map(|&c| value(row, c)));
                            if hi > lo {
                                columns.extend_from_slice(&row[lo + kx - pad..hi + kx - pad]);
                            }
                            columns.extend(cols[kx + hi..kx + wo].iter().map(|&c| value(row, c)));
                        } else {
                            columns.extend((0..wo).map(|x| value(row, cols[x * s + kx])));
                        }
                    }
                }
            }
        }
        columns
    }

    /// The convolution of `input` (`[b, in, hp, wp]`) with `weight` (`[out, in, kh, kw]`) plus
    /// `bias` (`[out]`): `[b, out, ho, wo]`, tiles in parallel.
    pub fn forward(&self, input: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
        self.forward_with(
            |image, tile| self.im2col(self.image(input, image), tile),
            weight,
            bias,
        )
    }

    /// [`ConvGeometry::forward`] with each tile's im2col matrix (`[in * kh * kw, rows * wo]`)
    /// made by `im2col(image, tile)`.
    fn forward_with(
        &self,
        im2col: impl Fn(usize, RowTile) -> Vec<f32> + Sync,
        weight: &[f32],
        bias: &[f32],
    ) -> Vec<f32> {
        let [ho, wo] = self.out;
        let plane = ho * wo;
        // The bias first; each tile's GEMM then adds its product in place, straight into the
        // output planes (no per-tile buffers to assemble).
        let mut y = vec![0f32; self.batch * self.out_ch * plane];
        y.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, out)| out.fill(bias[i % self.out_ch]));
        let y_len = y.len();
        let out = SharedOutput(y.as_mut_ptr());
        (0..self.tasks()).into_par_iter().for_each(|task| {
            let tile = self.tile(task);
            let pixels = tile.rows * wo;
            let columns = im2col(tile.image, tile);
            let first = (tile.image * self.out_ch * ho + tile.y0) * wo;
            let (weight, columns) = (
                Matrix::row_major(weight, self.out_ch, self.depth()),
                Matrix::row_major(&columns, self.depth(), pixels),
            );
            assert!(first + (self.out_ch - 1) * plane + pixels <= y_len);
            // SAFETY: the tile's output, rows y0..y0 + rows of each of its image's planes
            // (`out_ch` rows of `pixels` values, `plane` apart, from `first`), lies inside `y`
            // (asserted) and no other task's tile covers those rows; `y` outlives the loop and
            // is not otherwise accessed during it.
            unsafe { gemm_raw(out.at(first), plane, true, weight, columns) };
        });
        y
    }
}

/// The output buffer of [`ConvGeometry::forward`], shared by the tasks that each write their
/// own tile of it.
#[derive(Clone, Copy)]
pub(crate) struct SharedOutput(pub(crate) *mut f32);

// SAFETY: only used for disjoint tiles of one buffer that outlives the parallel loop.
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// The pointer `offset` values in (a method, so closures capture the whole wrapper).
    pub(crate) fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// A read-only matrix view of `data`: element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Matrix<'a> {
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose (a view: no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = lhs @ rhs`, or `dst += lhs @ rhs` when `accumulate`, with `dst` row-major
/// `[lhs.rows, rhs.cols]`; one thread (callers parallelise over tiles). The GEMM is burn-flex's
/// own (the `gemm` crate).
///
/// # Panics
/// If the shapes disagree or a view reaches past its slice.
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, lhs: Matrix, rhs: Matrix) {
    assert_eq!(dst.len(), lhs.rows * rhs.cols, "output size");
    // SAFETY: `dst` is borrowed mutably (it overlaps neither input) and holds exactly the
    // row-major [lhs.rows, rhs.cols] output.
    unsafe { gemm_raw(dst.as_mut_ptr(), rhs.cols, accumulate, lhs, rhs) }
}

/// `dst = lhs @ rhs`, or `dst += lhs @ rhs` when `accumulate`, with `dst` `[lhs.rows, rhs.cols]`
/// rows `dst_row_stride` apart (columns adjacent); one thread.
///
/// # Safety
/// Every `dst` element (`i * dst_row_stride + j`) must be valid for reads and writes and not be
/// accessed by anything else during the call (in particular it must not overlap `lhs` or `rhs`).
///
/// # Panics
/// If the shapes disagree or a view reaches past its slice.
unsafe fn gemm_raw(
    dst: *mut f32,
    dst_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
) {
    assert_eq!(lhs.cols, rhs.rows, "inner dimensions");
    assert!(lhs.fits() && rhs.fits(), "matrix view out of bounds");
    if lhs.rows == 0 || rhs.cols == 0 {
        return;
    }
    // SAFETY: every index the GEMM reads lies inside the checked input slices (the asserts
    // above), the caller vouches for `dst`, and the strides describe exactly those views.
    // dst = (accumulate ? dst : 0) + 1 * lhs @ rhs.
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.cols,
            lhs.cols,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    #[test]
    fn cpu_conv_equals_burns_conv2d() {
        let device = Device::flex();
        // (batch, in, out, k, stride, h, w): odd sizes, strides 1 and 2, 1x1, tiles of several
        // rows and rows wider than a tile.
        for (batch, in_ch, out_ch, k, stride, h, w) in [
            (1, 3, 5, 7, 1, 13, 11),
            (2, 4, 6, 4, 2, 10, 9),
            (1, 6, 7, 3, 1, 40, 30),
            (3, 5, 2, 1, 1, 4, 6),
            (1, 2, 3, 3, 1, 4, 600),
        ] {
            let x =
                Tensor::<4>::random([batch, in_ch, h, w], Distribution::Normal(0., 1.), &device);
            let weight =
                Tensor::<4>::random([out_ch, in_ch, k, k], Distribution::Normal(0., 1.), &device);
            let bias = Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device);
            let want = conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([stride; 2], [0, 0], [1, 1], 1),
            );
            let got = conv2d_cpu(x, weight, bias, stride);
            assert_eq!(got.dims(), want.dims());
            got.into_data().assert_approx_eq::<f32>(
                &want.into_data(),
                burn::tensor::Tolerance::absolute(1e-4),
            );
        }
    }

    /// `got`, a conv of `x` padded on the fly, against burn's pad then conv2d; `None` exactly
    /// where reflection cannot pad `x`.
    fn assert_equals_pad_then_conv2d(
        got: Option<Tensor<4>>,
        [x, weight]: [&Tensor<4>; 2],
        bias: &Tensor<1>,
        stride: usize,
        pad: usize,
        pad_type: PadType,
    ) {
        let [_, _, h, w] = x.dims();
        if pad_type == PadType::Reflect && (pad >= h || pad >= w) {
            assert!(got.is_none(), "reflection by {pad} of {h}x{w}");
            return;
        }
        let want = conv2d(
            crate::model::layers::pad2d(x.clone(), pad, pad_type),
            weight.clone(),
            Some(bias.clone()),
            ConvOptions::new([stride; 2], [0, 0], [1, 1], 1),
        );
        let got = got.expect("paddable");
        assert_eq!(got.dims(), want.dims(), "{pad_type:?} stride {stride}");
        got.into_data()
            .assert_approx_eq::<f32>(&want.into_data(), burn::tensor::Tolerance::absolute(1e-4));
    }

    #[test]
    fn padded_conv_equals_burns_pad_then_conv2d() {
        let device = Device::flex();
        // (batch, in, out, k, stride, pad, h, w): the encoders' 7x7 / pad 3 and 4x4 / stride 2
        // / pad 1 and the residual 3x3 / pad 1 at odd sizes (odd padded sizes leave the phases
        // a spare line), a stride-2 odd kernel (gathered, no phases), an output narrower than
        // the padding, and batches.
        for (batch, in_ch, out_ch, k, stride, pad, h, w) in [
            (1, 3, 5, 7, 1, 3, 13, 11),
            (2, 4, 6, 4, 2, 1, 10, 9),
            (1, 5, 3, 4, 2, 1, 7, 8),
            (1, 6, 7, 3, 1, 1, 40, 30),
            (2, 3, 4, 3, 2, 1, 9, 6),
            (1, 2, 3, 4, 2, 2, 3, 5),
            (1, 2, 2, 5, 1, 4, 3, 2),
        ] {
            let x =
                Tensor::<4>::random([batch, in_ch, h, w], Distribution::Normal(0., 1.), &device);
            let weight =
                Tensor::<4>::random([out_ch, in_ch, k, k], Distribution::Normal(0., 1.), &device);
            let bias = Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device);
            for pad_type in [PadType::Reflect, PadType::Zero, PadType::Replicate] {
                let got = conv2d_cpu_padded(
                    x.clone(),
                    weight.clone(),
                    bias.clone(),
                    stride,
                    pad,
                    pad_type,
                );
                assert_equals_pad_then_conv2d(got, [&x, &weight], &bias, stride, pad, pad_type);
            }
        }
    }

    #[test]
    fn small_outputs_are_split_between_threads() {
        let one_tile = ConvGeometry::new([1, 8, 18, 18], [8, 8, 3, 3], 1);
        assert_eq!(
            one_tile.tasks(),
            1,
            "16 x 16 = one tile of {TILE_PIXELS} pixels"
        );
        let split = one_tile.split_for_threads();
        assert!(split.tasks() >= rayon::current_num_threads().min(16));
        // Every output row is in exactly one tile.
        let mut covered = vec![0; 16];
        for task in 0..split.tasks() {
            let tile = split.tile(task);
            covered[tile.y0..tile.y0 + tile.rows]
                .iter_mut()
                .for_each(|c| *c += 1);
        }
        assert!(covered.iter().all(|&c| c == 1), "{covered:?}");
    }

    #[test]
    fn few_output_conv_equals_burns_conv2d() {
        let device = Device::flex();
        for (batch, in_ch, out_ch, k, kw, h, w) in [
            (1, 8, 3, 7, 7, 11, 9),
            (2, 5, 2, 3, 5, 6, 7),
            (3, 4, 1, 2, 2, 2, 3),
            (1, 6, 3, 7, 7, 12, 45),
        ] {
            let x =
                Tensor::<4>::random([batch, in_ch, h, w], Distribution::Normal(0., 1.), &device);
            let weight = Tensor::<4>::random(
                [out_ch, in_ch, k, kw],
                Distribution::Normal(0., 1.),
                &device,
            );
            let bias = Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device);
            let want = conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            conv2d_few_outputs_cpu(x.clone(), weight.clone(), bias.clone())
                .into_data()
                .assert_approx_eq::<f32>(
                    &want.into_data(),
                    burn::tensor::Tolerance::absolute(1e-4),
                );
            // The same with the padding read on the fly, against burn's pad then conv2d.
            for (pad, pad_type) in [
                (1, PadType::Reflect),
                (3, PadType::Zero),
                (2, PadType::Replicate),
            ] {
                let got = conv2d_few_outputs_cpu_padded(
                    x.clone(),
                    weight.clone(),
                    bias.clone(),
                    pad,
                    pad_type,
                );
                assert_equals_pad_then_conv2d(got, [&x, &weight], &bias, 1, pad, pad_type);
            }
        }
    }
}
