//! Winograd minimal filtering for the widest convolutions of CPU inference, each 2x2 output
//! block computed from one input tile with fewer multiplies per input channel:
//!
//! - F(2x2, 3x3) for the stride-1 3x3 convs (the residual blocks, the folded upsampling's phase
//!   convs): 4x4 tiles, 16 multiplies instead of 36 (2.25x fewer);
//! - F(2x2, 2x2) for the encoders' stride-2 4x4 downsampling convs, which are 2x2 stride-1
//!   convs over the padded input's four pixel phases (channel `4 c + 2 py + px` holding pixels
//!   `(2 i + py, 2 j + px)` of channel `c`): 3x3 tiles of the phases, 9 multiplies instead of 16
//!   (1.78x fewer). The phases are read from the input on the fly, never copied.
//!
//! The kernels are transformed once per call (`U = G g Gt`, under a millisecond for 256 x 256
//! channels, measured); then each task, a few rows of tiles on one thread, transforms its
//! tiles of every channel (`V = Bt d B`), runs one GEMM per tile position
//! (`M = U [out, in] x V [in, tiles]`, 16 or 9 in all) and writes each output block `At M A`
//! plus the bias. The transforms only add and subtract (and halve, in F(2x2, 3x3)'s `G`), so
//! the result matches the direct convolution to float rounding (tested to 1e-4 against burn's
//! conv2d on random inputs).
//!
//! Layouts: kernels `[out, positions, in]`; a task's transformed tiles `[positions, in, tiles]`
//! and products `[positions, out, tiles]`, its tiles numbered row by row; position
//! `tile * k + l` is row `k`, column `l` of a tile. `in` counts the phases as channels.

use rayon::prelude::*;

use super::cpu_conv::{Matrix, SharedOutput, matmul};

/// The two algorithms: each makes 2x2 output blocks from `tile x tile` input tiles that overlap
/// by `tile - 2` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tiling {
    /// F(2x2, 3x3): 4x4 tiles.
    Kernel3,
    /// F(2x2, 2x2): 3x3 tiles.
    Kernel2,
}

impl Tiling {
    const fn tile(self) -> usize {
        match self {
            Tiling::Kernel3 => 4,
            Tiling::Kernel2 => 3,
        }
    }

    const fn positions(self) -> usize {
        self.tile() * self.tile()
    }

    const fn kernel(self) -> usize {
        self.tile() - 1
    }

    /// `G` on one line of a kernel (`kernel()` taps) into `tile()` values.
    fn kernel_line(self, g: &[f32], u: &mut [f32]) {
        match self {
            Tiling::Kernel3 => {
                let (g0, g1, g2) = (g[0], g[1], g[2]);
                u[..4].copy_from_slice(&[g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]);
            }
            Tiling::Kernel2 => u[..3].copy_from_slice(&[g[0], g[0] + g[1], g[1]]),
        }
    }

    /// `Bt` on the lines of `tile()` input rows (`d`, `len` values each) into `r` (the same).
    fn input_rows(self, d: &[f32], r: &mut [f32], len: usize) {
        let d = |a: usize| &d[a * len..][..len];
        let mut r = r.chunks_mut(len);
        let mut next = || r.next().expect("tile() rows");
        match self {
            Tiling::Kernel3 => {
                zip_with(next(), d(0), d(2), |a, b| a - b);
                zip_with(next(), d(1), d(2), |a, b| a + b);
                zip_with(next(), d(2), d(1), |a, b| a - b);
                zip_with(next(), d(1), d(3), |a, b| a - b);
            }
            Tiling::Kernel2 => {
                zip_with(next(), d(0), d(1), |a, b| a - b);
                next().copy_from_slice(d(1));
                zip_with(next(), d(2), d(1), |a, b| a - b);
            }
        }
    }

    /// `B` on the columns: column `l` of every tile in a row of `dst.len()` tiles, from the row's
    /// even and odd lines (tile `t` starts at even line `t`: its lines are even `t`, odd `t`,
    /// even `t + 1`, odd `t + 1`).
    fn input_column(self, l: usize, even: &[f32], odd: &[f32], dst: &mut [f32]) {
        let tw = dst.len();
        let (e0, e1, o0, o1) = (&even[..tw], &even[1..=tw], &odd[..tw], &odd[1..=tw]);
        match (self, l) {
            (Tiling::Kernel3, 0) => zip_with(dst, e0, e1, |a, b| a - b),
            (Tiling::Kernel3, 1) => zip_with(dst, o0, e1, |a, b| a + b),
            (Tiling::Kernel3, 2) => zip_with(dst, e1, o0, |a, b| a - b),
            (Tiling::Kernel3, _) => zip_with(dst, o0, o1, |a, b| a - b),
            (Tiling::Kernel2, 0) => zip_with(dst, e0, o0, |a, b| a - b),
            (Tiling::Kernel2, 1) => dst.copy_from_slice(o0),
            (Tiling::Kernel2, _) => zip_with(dst, e1, o0, |a, b| a - b),
        }
    }

    /// `At` on `tile()` lines `m(0..tile())` into the two output lines, plus `bias`.
    fn output_pair<'a>(self, m: impl Fn(usize) -> &'a [f32], [y0, y1]: [&mut [f32]; 2], bias: f32) {
        match self {
            Tiling::Kernel3 => {
                let (m0, m1, m2, m3) = (m(0), m(1), m(2), m(3));
                for t in 0..y0.len() {
                    y0[t] = m0[t] + m1[t] + m2[t] + bias;
                    y1[t] = m1[t] - m2[t] - m3[t] + bias;
                }
            }
            Tiling::Kernel2 => {
                let (m0, m1, m2) = (m(0), m(1), m(2));
                for t in 0..y0.len() {
                    y0[t] = m0[t] + m1[t] + bias;
                    y1[t] = m1[t] + m2[t] + bias;
                }
            }
        }
    }
}

/// `dst[t] = f(a[t], b[t])`, a loop the compiler vectorises.
#[inline(always)]
fn zip_with(dst: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((d, a), b) in dst.iter_mut().zip(a).zip(b) {
        *d = f(*a, *b);
    }
}

/// A kernel bank transformed for [`conv3x3_winograd`] or [`conv4x4_stride2_winograd`]:
/// `U = G g Gt` for every (output, input) channel pair, `[out, positions, in]`, the stride-2
/// kernels' `in` counting the four phases of each input channel.
#[derive(Debug, Clone)]
pub struct WinogradKernel {
    values: Vec<f32>,
    tiling: Tiling,
    out_ch: usize,
    in_ch: usize,
}

impl WinogradKernel {
    /// For [`conv3x3_winograd`], from a `[out, in, 3, 3]` kernel's values.
    ///
    /// # Panics
    /// If `weight` does not hold `out * in * 9` values, or `in` is 0.
    pub fn new(weight: &[f32], out_ch: usize, in_ch: usize) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 9, "[out, in, 3, 3] weights");
        Self::transformed(Tiling::Kernel3, out_ch, in_ch, |o, c, g| {
            g[..9].copy_from_slice(&weight[(o * in_ch + c) * 9..][..9]);
        })
    }

    /// For [`conv4x4_stride2_winograd`], from a `[out, in, 4, 4]` kernel's values: phase
    /// channel `4 c + 2 py + px` gets taps `(2 a + py, 2 b + px)` of channel `c` as its 2x2
    /// kernel `(a, b)`, as in `cpu_conv::weight_space_to_depth` (gathered here as the kernels
    /// are transformed: going through that function's copy, then a generic transform of it,
    /// measured 2.5 against 0.87 ms for 128 -> 256 channels).
    ///
    /// # Panics
    /// If `weight` does not hold `out * in * 16` values, or `in` is 0.
    pub fn stride2_4x4(weight: &[f32], out_ch: usize, in_ch: usize) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 16, "[out, in, 4, 4] weights");
        Self::transformed(Tiling::Kernel2, out_ch, 4 * in_ch, |o, phase_ch, g| {
            let (c, py, px) = (phase_ch / 4, phase_ch % 4 / 2, phase_ch % 2);
            let taps = &weight[(o * in_ch + c) * 16..][..16];
            for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                g[2 * a + b] = taps[4 * (2 * a + py) + 2 * b + px];
            }
        })
    }

    /// `U = G g Gt` of the `kernel() x kernel()` kernels that `taps(out, in, g)` writes into `g`
    /// (row-major).
    fn transformed(
        tiling: Tiling,
        out_ch: usize,
        in_ch: usize,
        taps: impl Fn(usize, usize, &mut [f32; 9]) + Sync,
    ) -> Self {
        assert!(in_ch > 0, "input channels");
        let (size, positions) = (tiling.kernel(), tiling.positions());
        let mut values = vec![0f32; out_ch * positions * in_ch];
        values
            .par_chunks_mut(positions * in_ch)
            .enumerate()
            .for_each(|(o, dst)| {
                let mut g = [0f32; 9];
                let (mut column, mut gg) = ([0f32; 4], [[0f32; 4]; 4]);
                for c in 0..in_ch {
                    taps(o, c, &mut g);
                    // G g: G on every column of the kernel, gg[k][j] for tile row k.
                    for j in 0..size {
                        let line: [f32; 3] =
                            std::array::from_fn(|i| if i < size { g[i * size + j] } else { 0.0 });
                        tiling.kernel_line(&line[..size], &mut column);
                        for (k, value) in column[..tiling.tile()].iter().enumerate() {
                            gg[k][j] = *value;
                        }
                    }
                    // (G g) Gt: G on every row of it.
                    for (k, row) in gg[..tiling.tile()].iter().enumerate() {
                        tiling.kernel_line(&row[..size], &mut column);
                        for (l, u) in column[..tiling.tile()].iter().enumerate() {
                            dst[(tiling.tile() * k + l) * in_ch + c] = *u;
                        }
                    }
                }
            });
        Self {
            values,
            tiling,
            out_ch,
            in_ch,
        }
    }
}

/// Whether a Winograd conv is expected to beat the im2col conv for these channel counts (the
/// stride-2 convs' input counted with its four phases): the tile transforms cost about as much
/// as the GEMMs with a handful of channels, so narrow layers (the first and last convs, a
/// 16-wide model's first stages) keep the im2col path.
pub fn winograd_pays(in_ch: usize, out_ch: usize) -> bool {
    in_ch >= 32 && out_ch >= 32
}

/// Tiles (2x2 output blocks) per task, in whole rows of tiles: a task's transformed tiles and
/// products (`positions * channels * tiles` values each, 2 MiB at 256 channels and 16
/// positions) stay in cache between the transforms and the GEMMs, where whole-image buffers
/// (64 MiB each for 256 channels at 128 x 128) made the conv memory-bound.
const BLOCK_TILES: usize = 128;

/// A stride-1 3x3 convolution of `input` (`[b, in, h, w]`, unpadded) padded as `rows` and `cols`
/// say ([`super::cpu_conv::padded_axis`]: where each padded line reads from, `None` for zero),
/// plus `bias`: `[b, out, rows.len() - 2, cols.len() - 2]`, row-major, by F(2x2, 3x3).
///
/// # Panics
/// If the sizes disagree (a padded axis shorter than 3, the kernel's kind or channels, the
/// bias).
pub fn conv3x3_winograd(
    input: &[f32],
    dims: [usize; 4],
    kernel: &WinogradKernel,
    bias: &[f32],
    rows: &[Option<usize>],
    cols: &[Option<usize>],
) -> Vec<f32> {
    assert!(
        rows.len() >= 3 && cols.len() >= 3,
        "a 3x3 conv needs 3 lines"
    );
    assert_eq!(kernel.tiling, Tiling::Kernel3, "a 3x3 kernel");
    let out = [rows.len() - 2, cols.len() - 2];
    winograd_conv(
        input,
        dims,
        kernel,
        bias,
        Lines::new(1, rows, cols, out),
        out,
    )
}

/// A stride-2 4x4 convolution of `input` (`[b, in, h, w]`, unpadded) padded as `rows` and
/// `cols` say, plus `bias`: `[b, out, (rows.len() - 4) / 2 + 1, (cols.len() - 4) / 2 + 1]`,
/// row-major, by F(2x2, 2x2) over the padded input's pixel phases.
///
/// # Panics
/// If the sizes disagree (a padded axis shorter than 4, the kernel's kind or channels, the
/// bias).
pub fn conv4x4_stride2_winograd(
    input: &[f32],
    dims: [usize; 4],
    kernel: &WinogradKernel,
    bias: &[f32],
    rows: &[Option<usize>],
    cols: &[Option<usize>],
) -> Vec<f32> {
    assert!(
        rows.len() >= 4 && cols.len() >= 4,
        "a 4x4 conv needs 4 lines"
    );
    assert_eq!(kernel.tiling, Tiling::Kernel2, "a stride-2 4x4 kernel");
    let out = [(rows.len() - 4) / 2 + 1, (cols.len() - 4) / 2 + 1];
    winograd_conv(
        input,
        dims,
        kernel,
        bias,
        Lines::new(2, rows, cols, out),
        out,
    )
}

/// Where the tiles' lines read from: for every phase row `py` and column `px` (one of each
/// without phases), the rows (`rows[py][q]`: a row of the input plane, `None` for zero) and
/// each tile column's even and odd lines (`halves[px][odd][j]`: line `2 j + odd`), covering
/// every tile of a `[ho, wo]` output.
struct Lines {
    stride: usize,
    rows: Vec<Vec<Option<usize>>>,
    halves: Vec<Halves>,
}

/// The even and odd lines of each tile column: where each reads from, `None` for zero.
type Halves = [Vec<Option<usize>>; 2];

impl Lines {
    /// For a stride-`stride` (1 or 2) conv over the padded axes `rows` and `cols`.
    fn new(
        stride: usize,
        rows: &[Option<usize>],
        cols: &[Option<usize>],
        [ho, wo]: [usize; 2],
    ) -> Self {
        // Line q of phase p is padded line stride q + p; past the padded size, zeros (an odd
        // output size's last tile, a phase's extra line).
        let line = |axis: &[Option<usize>], q: usize, p: usize| {
            axis.get(stride * q + p).copied().flatten()
        };
        let (tile_rows, tile_cols) = (ho.div_ceil(2), wo.div_ceil(2));
        let row_lines = 2 * tile_rows + 2;
        Self {
            stride,
            rows: (0..stride)
                .map(|py| (0..row_lines).map(|q| line(rows, q, py)).collect())
                .collect(),
            halves: (0..stride)
                .map(|px| {
                    [0, 1].map(|odd| {
                        (0..=tile_cols)
                            .map(|j| line(cols, 2 * j + odd, px))
                            .collect()
                    })
                })
                .collect(),
        }
    }

    /// Channels per input channel: its pixel phases (one without).
    fn phases(&self) -> usize {
        self.stride * self.stride
    }

    /// The rows and column halves of (phase) channel `c`, and its input plane.
    fn of(&self, c: usize) -> (usize, &[Option<usize>], &Halves) {
        let phase = c % self.phases();
        (
            c / self.phases(),
            &self.rows[phase / self.stride],
            &self.halves[phase % self.stride],
        )
    }
}

/// The convolution of [`conv3x3_winograd`] and [`conv4x4_stride2_winograd`]: tasks of whole
/// rows of tiles run in parallel, each transforming its tiles, multiplying them at every
/// position and writing its output rows.
fn winograd_conv(
    input: &[f32],
    [batch, in_ch, h, w]: [usize; 4],
    kernel: &WinogradKernel,
    bias: &[f32],
    lines: Lines,
    [ho, wo]: [usize; 2],
) -> Vec<f32> {
    assert_eq!(kernel.in_ch, in_ch * lines.phases(), "input channels");
    assert_eq!(input.len(), batch * in_ch * h * w, "input size");
    let (out_ch, positions) = (kernel.out_ch, kernel.tiling.positions());
    assert_eq!(bias.len(), out_ch, "bias size");
    let mut y = vec![0f32; batch * out_ch * ho * wo];
    if y.is_empty() {
        return y;
    }
    let (tile_rows, tile_cols) = (ho.div_ceil(2), wo.div_ceil(2));
    // At least one task per thread where the image allows.
    let per_image = rayon::current_num_threads().div_ceil(batch);
    let block_rows = (BLOCK_TILES / tile_cols)
        .max(1)
        .min(tile_rows.div_ceil(per_image));
    let blocks = tile_rows.div_ceil(block_rows);
    let y_len = y.len();
    let out = SharedOutput(y.as_mut_ptr());
    let channels = kernel.in_ch;
    (0..batch * blocks).into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(transformed, products), task| {
            let (b, first_row) = (task / blocks, (task % blocks) * block_rows);
            let block = Block {
                tiling: kernel.tiling,
                first_row,
                rows: block_rows.min(tile_rows - first_row),
                cols: tile_cols,
            };
            let n = block.tiles();
            // V = Bt d B: [positions, in, n] (every value written below).
            transformed.resize(positions * channels * n, 0.0);
            let image = &input[b * in_ch * h * w..][..in_ch * h * w];
            block.transform_input(image, [h, w], &lines, transformed);
            // M = U V at each position: [positions, out, n].
            products.resize(positions * out_ch * n, 0.0);
            for (position, m) in products.chunks_mut(out_ch * n).enumerate() {
                let u = Matrix {
                    data: &kernel.values[position * channels..],
                    rows: out_ch,
                    cols: channels,
                    row_stride: positions * channels,
                    col_stride: 1,
                };
                let v = Matrix::row_major(&transformed[position * channels * n..], channels, n);
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
    tiling: Tiling,
    first_row: usize,
    rows: usize,
    cols: usize,
}

impl Block {
    fn tiles(&self) -> usize {
        self.rows * self.cols
    }

    /// The transformed tiles of every (phase) channel of one image (`[in, h, w]`) into `dst`
    /// (`[positions, channels, tiles]`). Each row a tile row reads is first split into its even
    /// and odd lines, so that every step below is a contiguous loop over a row of tiles (see
    /// [`Tiling::input_column`]).
    fn transform_input(&self, image: &[f32], [h, w]: [usize; 2], lines: &Lines, dst: &mut [f32]) {
        let (tiling, tw, n) = (self.tiling, self.cols, self.tiles());
        let (tile, channels) = (tiling.tile(), dst.len() / (tiling.positions() * n));
        let half = tw + 1;
        // The rows of a tile row, each as `[even | odd]` halves, and Bt applied to them.
        let mut split = vec![0f32; tile * 2 * half];
        let mut r = vec![0f32; tile * 2 * half];
        for c in 0..channels {
            let (plane, rows, [even_cols, odd_cols]) = lines.of(c);
            let plane = &image[plane * h * w..][..h * w];
            for i in 0..self.rows {
                let tile_row = self.first_row + i;
                for (a, halves) in split.chunks_mut(2 * half).enumerate() {
                    let Some(source) = rows[2 * tile_row + a] else {
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
                tiling.input_rows(&split, &mut r, 2 * half);
                // B on the columns, into positions tile k + 0..tile of channel c.
                let first = c * n + i * tw;
                for (k, rk) in r.chunks(2 * half).enumerate() {
                    let (even, odd) = rk.split_at(half);
                    for l in 0..tile {
                        let at = (tile * k + l) * channels * n + first;
                        tiling.input_column(l, even, odd, &mut dst[at..][..tw]);
                    }
                }
            }
        }
    }

    /// Every output channel's rows of this block from the products (`[positions, out, tiles]`):
    /// `At M A` per tile plus the channel's `bias`, written to `out_rows(o)` (`[rows, wo]`, the
    /// rows from `2 first_row`, cut at the output's height), columns past `wo` cut.
    fn transform_output<'a>(
        &self,
        products: &[f32],
        bias: &[f32],
        wo: usize,
        mut out_rows: impl FnMut(usize) -> &'a mut [f32],
    ) {
        let (tiling, tw, n) = (self.tiling, self.cols, self.tiles());
        let tile = tiling.tile();
        let stride = bias.len() * n;
        // s[k][j]: M A for tile row position k, output column j (0, 1), a row of tiles at a time.
        let mut s = vec![0f32; 2 * tile * tw];
        let mut block = vec![0f32; 4 * tw];
        for (o, &bias) in bias.iter().enumerate() {
            let out_rows = out_rows(o);
            for i in 0..self.rows {
                let first = o * n + i * tw;
                for (k, pair) in s.chunks_mut(2 * tw).enumerate() {
                    let (s0, s1) = pair.split_at_mut(tw);
                    let m = |l: usize| &products[(tile * k + l) * stride + first..][..tw];
                    tiling.output_pair(m, [s0, s1], 0.0);
                }
                // At on the rows, for both output columns j: block[j][row][tile].
                for j in 0..2 {
                    let (y0, y1) = block[2 * j * tw..][..2 * tw].split_at_mut(tw);
                    tiling.output_pair(|k| &s[(2 * k + j) * tw..][..tw], [y0, y1], bias);
                }
                // Output pixel (2 i + row, 2 t + j) of this block.
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

    /// Both algorithms against burn's pad + conv2d on random inputs, for every padding:
    /// `(batch, in, out, pad, h, w)` cases with `kernel x kernel` weights at `stride`.
    fn assert_equals_burn(kernel: usize, stride: usize, cases: &[[usize; 6]]) {
        let device = Device::flex();
        for &[batch, in_ch, out_ch, pad, h, w] in cases {
            let x =
                Tensor::<4>::random([batch, in_ch, h, w], Distribution::Normal(0., 1.), &device);
            // Kaiming-scaled weights, as trained models have: outputs of about unit size.
            let std = (2.0 / (kernel * kernel * in_ch) as f64).sqrt();
            let weight = Tensor::<4>::random(
                [out_ch, in_ch, kernel, kernel],
                Distribution::Normal(0., std),
                &device,
            );
            let bias = Tensor::<1>::random([out_ch], Distribution::Normal(0., 1.), &device);
            let weights = f32_values(weight.clone());
            let transformed = match kernel {
                3 => WinogradKernel::new(f32_slice(&weights), out_ch, in_ch),
                _ => WinogradKernel::stride2_4x4(f32_slice(&weights), out_ch, in_ch),
            };
            for pad_type in [PadType::Reflect, PadType::Zero, PadType::Replicate] {
                let (rows, cols) = (
                    padded_axis(h, pad, pad_type).expect("paddable"),
                    padded_axis(w, pad, pad_type).expect("paddable"),
                );
                let conv = match kernel {
                    3 => conv3x3_winograd,
                    _ => conv4x4_stride2_winograd,
                };
                let got = conv(
                    f32_slice(&f32_values(x.clone())),
                    [batch, in_ch, h, w],
                    &transformed,
                    f32_slice(&f32_values(bias.clone())),
                    &rows,
                    &cols,
                );
                let want = conv2d(
                    crate::model::layers::pad2d(x.clone(), pad, pad_type),
                    weight.clone(),
                    Some(bias.clone()),
                    ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
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

    #[test]
    fn winograd_3x3_conv_equals_burns_pad_then_conv2d() {
        // Odd and even output sizes, no padding and padding by 1 and 2, a one-pixel output, a
        // batch, channel counts that are not multiples of anything; several rows of tiles per
        // task and one; the residual blocks' width (sums of 2,304 products).
        assert_equals_burn(
            3,
            1,
            &[
                [1, 5, 7, 1, 9, 11],
                [2, 6, 3, 1, 8, 6],
                [1, 4, 5, 0, 7, 10],
                [1, 3, 2, 0, 3, 3],
                [3, 2, 4, 2, 5, 4],
                [1, 33, 35, 1, 17, 16],
                [1, 256, 24, 1, 12, 10],
            ],
        );
    }

    #[test]
    fn winograd_stride2_4x4_conv_equals_burns_pad_then_conv2d() {
        // The encoders' downsampling (pad 1, even sizes) and odd padded sizes (a phase's extra
        // line that no output reads), a one-pixel output, no padding, a batch, odd channel
        // counts, several rows of tiles per task; a wide input (sums of 4,096 products).
        assert_equals_burn(
            4,
            2,
            &[
                [1, 5, 7, 1, 12, 10],
                [1, 3, 4, 1, 9, 11],
                [2, 6, 3, 0, 8, 7],
                [1, 2, 5, 1, 2, 3],
                [3, 4, 2, 2, 6, 5],
                [1, 9, 33, 1, 40, 38],
                [1, 256, 12, 1, 10, 12],
            ],
        );
    }
}
