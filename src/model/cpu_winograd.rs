//! Winograd F(2x2, 3x3) for the stride-1 3x3 convolutions of CPU inference (the residual blocks,
//! and the folded upsampling's phase convs): each 2x2 output block from a 4x4 input tile with 16
//! multiplies per input channel instead of 36, so 2.25x fewer multiply-adds in the GEMMs that
//! dominate an encode and a decode.
//!
//! The kernels are transformed once per call (`U = G g Gt`, under a millisecond for 256 x 256
//! channels, measured); then each task, a few rows of tiles on one thread, transforms its 4x4
//! tiles of every channel (`V = Bt d B`), runs one GEMM per tile position
//! (`M = U [out, in] x V [in, tiles]`, 16 in all) and writes each output block `At M A` plus
//! the bias. The transforms only add and subtract (and halve, in `G`), so the result matches
//! the direct convolution to float rounding (tested to 1e-4 against burn's conv2d on random
//! inputs).
//!
//! Layouts: kernels `[out, 16, in]`; a task's transformed tiles `[16, in, tiles]` and products
//! `[16, out, tiles]`, its tiles numbered row by row; position `4 k + l` is row `k`, column `l`
//! of a 4x4 tile.

use rayon::prelude::*;

use super::cpu_conv::{Matrix, SharedOutput, matmul};

/// A 3x3 kernel bank transformed for [`conv3x3_winograd`]: `U = G g Gt` for every
/// (output, input) channel pair, `[out, 16, in]`.
#[derive(Debug, Clone)]
pub struct WinogradKernel {
    values: Vec<f32>,
    out_ch: usize,
    in_ch: usize,
}

impl WinogradKernel {
    /// From a `[out, in, 3, 3]` kernel's values.
    ///
    /// # Panics
    /// If `weight` does not hold `out * in * 9` values, or `in` is 0.
    pub fn new(weight: &[f32], out_ch: usize, in_ch: usize) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 9, "[out, in, 3, 3] weights");
        let mut values = vec![0f32; out_ch * 16 * in_ch];
        values
            .par_chunks_mut(16 * in_ch)
            .zip(weight.par_chunks(in_ch * 9))
            .for_each(|(dst, kernels)| {
                for (c, g) in kernels.chunks(9).enumerate() {
                    // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 (3 columns each).
                    let mut gg = [[0f32; 3]; 4];
                    for j in 0..3 {
                        let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
                        gg[0][j] = g0;
                        gg[1][j] = 0.5 * (g0 + g1 + g2);
                        gg[2][j] = 0.5 * (g0 - g1 + g2);
                        gg[3][j] = g2;
                    }
                    // (G g) Gt: the same on the columns.
                    for (k, [g0, g1, g2]) in gg.into_iter().enumerate() {
                        let row = [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2];
                        for (l, u) in row.into_iter().enumerate() {
                            dst[(4 * k + l) * in_ch + c] = u;
                        }
                    }
                }
            });
        Self {
            values,
            out_ch,
            in_ch,
        }
    }
}

/// Whether [`conv3x3_winograd`] is expected to beat the im2col conv for these channel counts: the
/// tile transforms cost about as much as 16 GEMMs with a handful of channels, so narrow layers
/// (the first and last convs, a 16-wide model's first stages) keep the im2col path.
pub fn winograd_pays(in_ch: usize, out_ch: usize) -> bool {
    in_ch >= 32 && out_ch >= 32
}

/// Tiles (2x2 output blocks) per task of [`conv3x3_winograd`], in whole rows of tiles: a task's
/// transformed tiles and products (`16 * channels * tiles` values each, 2 MiB at 256 channels)
/// stay in cache between the transforms and the GEMMs, where whole-image buffers (64 MiB each
/// for 256 channels at 128 x 128) made the conv memory-bound.
const BLOCK_TILES: usize = 128;

/// A stride-1 3x3 convolution of `input` (`[b, in, h, w]`, unpadded) padded as `rows` and `cols`
/// say ([`super::cpu_conv::padded_axis`]: where each padded line reads from, `None` for zero),
/// plus `bias`: `[b, out, rows.len() - 2, cols.len() - 2]`, row-major. Tasks of whole rows of
/// tiles run in parallel, each transforming its tiles, multiplying them at the 16 positions and
/// writing its output rows.
///
/// # Panics
/// If the sizes disagree (a padded axis shorter than 3, the kernel's channels, the bias).
pub fn conv3x3_winograd(
    input: &[f32],
    [batch, in_ch, h, w]: [usize; 4],
    kernel: &WinogradKernel,
    bias: &[f32],
    rows: &[Option<usize>],
    cols: &[Option<usize>],
) -> Vec<f32> {
    assert!(
        rows.len() >= 3 && cols.len() >= 3,
        "a 3x3 conv needs 3 lines"
    );
    assert_eq!(kernel.in_ch, in_ch, "input channels");
    assert_eq!(input.len(), batch * in_ch * h * w, "input size");
    let out_ch = kernel.out_ch;
    assert_eq!(bias.len(), out_ch, "bias size");
    let (ho, wo) = (rows.len() - 2, cols.len() - 2);
    let mut y = vec![0f32; batch * out_ch * ho * wo];
    if y.is_empty() {
        return y;
    }
    let (tile_rows, tile_cols) = (ho.div_ceil(2), wo.div_ceil(2));
    // Tile column j reads padded columns 2j .. 2j + 3: even j, odd j, even j + 1, odd j + 1
    // (past the padded width: zeros, for an odd output width).
    let column = |p: usize| cols.get(p).copied().flatten();
    let halves: [Vec<Option<usize>>; 2] =
        [0, 1].map(|odd| (0..=tile_cols).map(|j| column(2 * j + odd)).collect());
    // At least one task per thread where the image allows.
    let per_image = rayon::current_num_threads().div_ceil(batch);
    let block_rows = (BLOCK_TILES / tile_cols)
        .max(1)
        .min(tile_rows.div_ceil(per_image));
    let blocks = tile_rows.div_ceil(block_rows);
    let y_len = y.len();
    let out = SharedOutput(y.as_mut_ptr());
    (0..batch * blocks).into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(transformed, products), task| {
            let (b, first_row) = (task / blocks, (task % blocks) * block_rows);
            let block = Block {
                first_row,
                rows: block_rows.min(tile_rows - first_row),
                cols: tile_cols,
            };
            let n = block.tiles();
            // V = Bt d B: [16, in, n] (every value written below).
            transformed.resize(16 * in_ch * n, 0.0);
            let image = &input[b * in_ch * h * w..][..in_ch * h * w];
            block.transform_input(image, [h, w], rows, &halves, transformed);
            // M = U V at each position: [16, out, n].
            products.resize(16 * out_ch * n, 0.0);
            for (position, m) in products.chunks_mut(out_ch * n).enumerate() {
                let u = Matrix {
                    data: &kernel.values[position * in_ch..],
                    rows: out_ch,
                    cols: in_ch,
                    row_stride: 16 * in_ch,
                    col_stride: 1,
                };
                let v = Matrix::row_major(&transformed[position * in_ch * n..], in_ch, n);
                matmul(m, false, u, v);
            }
            // Y = At M A + bias, into this block's output rows of every plane.
            let (y0, y1) = (2 * first_row, (2 * (first_row + block.rows)).min(ho));
            block.transform_output(products, bias, wo, |o| {
                let start = ((b * out_ch + o) * ho + y0) * wo;
                let len = (y1 - y0) * wo;
                assert!(start + len <= y_len);
                // SAFETY: rows y0..y1 of plane (b, o) lie inside `y` (asserted); no other task
                // writes them (tasks own disjoint rows of tiles), each plane's rows are handed
                // out once per task, and `y` outlives the loop and is not otherwise accessed
                // during it.
                unsafe { std::slice::from_raw_parts_mut(out.at(start), len) }
            });
        },
    );
    y
}

/// A task's tiles: rows `first_row..first_row + rows` of tiles, `cols` tiles each, numbered row
/// by row.
#[derive(Clone, Copy)]
struct Block {
    first_row: usize,
    rows: usize,
    cols: usize,
}

impl Block {
    fn tiles(&self) -> usize {
        self.rows * self.cols
    }

    /// The transformed tiles of every channel of one image (`[in, h, w]`) into `dst`
    /// (`[16, in, tiles]`). Each padded row is first split into its even and odd columns
    /// (`halves`: where padded columns `2j` and `2j + 1` read from), so that every step below is
    /// a contiguous loop over a row of tiles: tile column `j` reads padded columns
    /// `2j .. 2j + 3`, which are even `j`, odd `j`, even `j + 1`, odd `j + 1`.
    fn transform_input(
        &self,
        image: &[f32],
        [h, w]: [usize; 2],
        rows: &[Option<usize>],
        [even_cols, odd_cols]: &[Vec<Option<usize>>; 2],
        dst: &mut [f32],
    ) {
        let (tw, n) = (self.cols, self.tiles());
        let in_ch = image.len() / (h * w);
        let half = tw + 1;
        // Padded rows 2i .. 2i + 3, each as `[even | odd]` halves, and Bt applied to them.
        let mut split = vec![0f32; 4 * 2 * half];
        let mut r = vec![0f32; 4 * 2 * half];
        for (c, plane) in image.chunks(h * w).enumerate() {
            for i in 0..self.rows {
                let tile_row = self.first_row + i;
                for (a, halves) in split.chunks_mut(2 * half).enumerate() {
                    // Rows past the padded height (an odd output height) read as zeros.
                    let Some(source) = rows.get(2 * tile_row + a).copied().flatten() else {
                        halves.fill(0.0);
                        continue;
                    };
                    let row = &plane[source * w..][..w];
                    let (even, odd) = halves.split_at_mut(half);
                    let value = |c: &Option<usize>| c.map_or(0.0, |c| row[c]);
                    even.iter_mut()
                        .zip(even_cols)
                        .for_each(|(e, c)| *e = value(c));
                    odd.iter_mut()
                        .zip(odd_cols)
                        .for_each(|(o, c)| *o = value(c));
                }
                // Bt on the rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                let (d0, rest) = split.split_at(2 * half);
                let (d1, rest) = rest.split_at(2 * half);
                let (d2, d3) = rest.split_at(2 * half);
                let (r0, rest) = r.split_at_mut(2 * half);
                let (r1, rest) = rest.split_at_mut(2 * half);
                let (r2, r3) = rest.split_at_mut(2 * half);
                for x in 0..2 * half {
                    r0[x] = d0[x] - d2[x];
                    r1[x] = d1[x] + d2[x];
                    r2[x] = d2[x] - d1[x];
                    r3[x] = d1[x] - d3[x];
                }
                // B on the columns, into positions 4 k + 0..4 of channel c.
                let first = c * n + i * tw;
                for (k, rk) in r.chunks(2 * half).enumerate() {
                    let (even, odd) = rk.split_at(half);
                    let at = |l: usize| (4 * k + l) * in_ch * n + first;
                    let (e0, e1, o0, o1) = (&even[..tw], &even[1..], &odd[..tw], &odd[1..]);
                    for (t, v) in dst[at(0)..][..tw].iter_mut().enumerate() {
                        *v = e0[t] - e1[t];
                    }
                    for (t, v) in dst[at(1)..][..tw].iter_mut().enumerate() {
                        *v = o0[t] + e1[t];
                    }
                    for (t, v) in dst[at(2)..][..tw].iter_mut().enumerate() {
                        *v = e1[t] - o0[t];
                    }
                    for (t, v) in dst[at(3)..][..tw].iter_mut().enumerate() {
                        *v = o0[t] - o1[t];
                    }
                }
            }
        }
    }

    /// Every output channel's rows of this block from the products (`[16, out, tiles]`):
    /// `At M A` per tile plus the channel's `bias`, written to `out_rows(o)` (`[rows, wo]`, the
    /// rows from `2 first_row`, cut at the output's height), columns past `wo` cut.
    fn transform_output<'a>(
        &self,
        products: &[f32],
        bias: &[f32],
        wo: usize,
        mut out_rows: impl FnMut(usize) -> &'a mut [f32],
    ) {
        let (tw, n) = (self.cols, self.tiles());
        let stride = bias.len() * n;
        // s[k][j]: M A for tile row position k, output column j (0, 1), a row of tiles at a time.
        let mut s = vec![0f32; 8 * tw];
        let mut block = vec![0f32; 4 * tw];
        for (o, &bias) in bias.iter().enumerate() {
            let out_rows = out_rows(o);
            for i in 0..self.rows {
                let first = o * n + i * tw;
                let m = |position: usize| &products[position * stride + first..][..tw];
                for k in 0..4 {
                    let (m0, m1, m2, m3) = (m(4 * k), m(4 * k + 1), m(4 * k + 2), m(4 * k + 3));
                    let (s0, s1) = s[2 * k * tw..][..2 * tw].split_at_mut(tw);
                    for t in 0..tw {
                        s0[t] = m0[t] + m1[t] + m2[t];
                        s1[t] = m1[t] - m2[t] - m3[t];
                    }
                }
                // At on the rows: y0 = s0 + s1 + s2, y1 = s1 - s2 - s3 (both output columns).
                let row_k = |k: usize, j: usize| &s[(2 * k + j) * tw..][..tw];
                for j in 0..2 {
                    let (s0, s1, s2, s3) = (row_k(0, j), row_k(1, j), row_k(2, j), row_k(3, j));
                    let (y0, y1) = block[2 * j * tw..][..2 * tw].split_at_mut(tw);
                    for t in 0..tw {
                        y0[t] = s0[t] + s1[t] + s2[t] + bias;
                        y1[t] = s1[t] - s2[t] - s3[t] + bias;
                    }
                }
                // block: [j][row][tile]; output pixel (2 i + row, 2 t + j) of this block.
                for row in 0..2 {
                    let y = 2 * i + row;
                    let Some(out_row) = out_rows.get_mut(y * wo..(y + 1) * wo) else {
                        break;
                    };
                    let left = &block[row * tw..][..tw];
                    let right = &block[(2 + row) * tw..][..tw];
                    for (pair, (l, r)) in out_row.chunks_mut(2).zip(left.iter().zip(right)) {
                        pair[0] = *l;
                        if let Some(odd) = pair.get_mut(1) {
                            *odd = *r;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PadType;
    use crate::model::cpu_conv::{f32_slice, f32_values, padded_axis};
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    #[test]
    fn winograd_conv_equals_burns_pad_then_conv2d() {
        let device = Device::flex();
        // (batch, in, out, pad, h, w): odd and even output sizes, no padding and padding by 1
        // and 2, a one-pixel output, a batch, channel counts that are not multiples of anything;
        // several rows of tiles per task and one.
        for (batch, in_ch, out_ch, pad, h, w) in [
            (1, 5, 7, 1, 9, 11),
            (2, 6, 3, 1, 8, 6),
            (1, 4, 5, 0, 7, 10),
            (1, 3, 2, 0, 3, 3),
            (3, 2, 4, 2, 5, 4),
            (1, 33, 35, 1, 17, 16),
            // The residual blocks' width: sums of 2,304 products.
            (1, 256, 24, 1, 12, 10),
        ] {
            let x =
                Tensor::<4>::random([batch, in_ch, h, w], Distribution::Normal(0., 1.), &device);
            // Kaiming-scaled weights, as trained models have: outputs of about unit size.
            let std = (2.0 / (9 * in_ch) as f64).sqrt();
            let weight = Tensor::<4>::random(
                [out_ch, in_ch, 3, 3],
                Distribution::Normal(0., std),
                &device,
            );
            let bias = Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device);
            let kernel = WinogradKernel::new(f32_slice(&f32_values(weight.clone())), out_ch, in_ch);
            for pad_type in [PadType::Reflect, PadType::Zero, PadType::Replicate] {
                let (rows, cols) = (
                    padded_axis(h, pad, pad_type).expect("paddable"),
                    padded_axis(w, pad, pad_type).expect("paddable"),
                );
                let got = conv3x3_winograd(
                    f32_slice(&f32_values(x.clone())),
                    [batch, in_ch, h, w],
                    &kernel,
                    f32_slice(&f32_values(bias.clone())),
                    &rows,
                    &cols,
                );
                let want = conv2d(
                    crate::model::layers::pad2d(x.clone(), pad, pad_type),
                    weight.clone(),
                    Some(bias.clone()),
                    ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                );
                let shape = want.dims();
                Tensor::<4>::from_data(burn::tensor::TensorData::new(got, shape), &device)
                    .into_data()
                    .assert_approx_eq::<f32>(
                        &want.into_data(),
                        burn::tensor::Tolerance::absolute(1e-4),
                    );
            }
        }
    }
}
