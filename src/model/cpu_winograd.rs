//! Winograd minimal filtering for the widest convolutions of CPU inference, each `m x m` output
//! block computed from one input tile with fewer multiplies per input channel:
//!
//! - F(4x4, 3x3) and F(2x2, 3x3) for the stride-1 3x3 convs (the residual blocks, the folded
//!   upsampling's phase convs): 6x6 tiles, 36 multiplies per 16 outputs instead of 144 (4x
//!   fewer), or 4x4 tiles, 16 per 4 outputs instead of 36 (2.25x fewer);
//! - F(4x4, 2x2) and F(2x2, 2x2) for the encoders' stride-2 4x4 downsampling convs, which are
//!   2x2 stride-1 convs over the padded input's four pixel phases (channel `4 c + 2 py + px`
//!   holding pixels `(2 i + py, 2 j + px)` of channel `c`): 5x5 tiles of the phases, 25
//!   multiplies per 16 outputs instead of 64 (2.56x fewer), or 3x3 tiles, 9 per 4 instead of 16
//!   (1.78x fewer). The phases are read from the input on the fly, never copied.
//!
//! [`output_block_3x3`] and [`output_block_stride2`] choose the larger blocks for wide layers
//! on large images, where they were measured faster.
//!
//! The kernels are transformed once per call (`U = G g Gt`, 0.6-3 ms for 256 x 256 channels,
//! measured); then each task, a few rows of tiles on one thread, transforms its
//! tiles of every channel (`V = Bt d B`), runs one GEMM per tile position
//! (`M = U [out, in] x V [in, tiles]`, 36, 25, 16 or 9 in all) and writes each output block
//! `At M A` plus the bias. F(2x2, ...)'s transforms only add and subtract (and halve, in `G`), so
//! their results match the direct convolution to float rounding; F(4x4, ...) also scales by
//! constants exact in binary (halves, 1.5, 2.5, powers of two) and, in `G` only, by thirds and
//! fifteenths. F(4x4, 3x3)'s interpolation points are 0, 1, -1, 1/2, -2
//! (and infinity), not the usual 0, +-1, +-2: with Kaiming-scaled weights and 256 input channels
//! the worst error of a conv is about 1e-5 against 4.6e-5 for the usual points (simulated in
//! float32 against a float64 sum); F(4x4, 2x2)'s points 0, 1, -1, 1/2 give 2.3e-5 with 1,024
//! phase channels (F(2x2, 2x2) 4.6e-6). Everything is tested to 1e-4 against burn's conv2d on
//! random inputs.
//!
//! The transforms are one generic routine ([`transform`]) over constant matrices, written out
//! per algorithm so that their zero coefficients drop out, and compiled for AVX2 where the CPU
//! has it (this crate builds for baseline x86-64, whose SSE2 has half the lanes). F(2x2, ...)
//! runs at the speed of the hand-written loops it replaced (criterion, alternated: within
//! noise); a first generic version with one loop per coefficient, without AVX2, took twice as
//! long in the transforms.
//!
//! Layouts: kernels `[out, positions, in]`; a task's transformed tiles `[positions, in, tiles]`
//! and products `[positions, out, tiles]`, its tiles numbered row by row; position
//! `tile * k + l` is row `k`, column `l` of a tile. `in` counts the phases as channels.

use rayon::prelude::*;

use super::cpu_conv::{Matrix, SharedOutput, matmul};

/// The output blocks of a Winograd algorithm, which choose between the two for each kind of
/// conv: larger blocks take fewer multiplies but costlier transforms (of the tiles and of the
/// kernels, which are transformed per call), so they pay only on wide layers and large images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputBlock {
    /// 2x2 blocks: F(2x2, 3x3) (4x4 tiles, 16 GEMMs) or F(2x2, 2x2) (3x3 tiles, 9 GEMMs).
    Two,
    /// 4x4 blocks: F(4x4, 3x3) (6x6 tiles, 36 GEMMs over a quarter of the tiles: 1.78x fewer
    /// multiplies than F(2x2, 3x3)) or F(4x4, 2x2) (5x5 tiles, 25 GEMMs: 1.44x fewer than
    /// F(2x2, 2x2)).
    Four,
}

/// One algorithm F(m x m, r x r): output blocks of side `m`, kernels of side `r`, input tiles of
/// side `m + r - 1` overlapping by `r - 1` lines, and its three transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tiling {
    /// F(2x2, 3x3).
    F2x2K3,
    /// F(4x4, 3x3).
    F4x4K3,
    /// F(2x2, 2x2), for the stride-2 4x4 convs' phases.
    F2x2K2,
    /// F(4x4, 2x2), the same in larger blocks.
    F4x4K2,
}

/// The three transforms of F(m x m, r x r) with tiles of side `T = m + r - 1`: `Bt`
/// (`T x T`, on the rows, then the columns of each input tile), `G` (`T x r`, on the columns,
/// then the rows of each kernel) and `At` (`m x T`, on the columns, then the rows of each
/// product tile).
struct Transforms<const T: usize, const M: usize, const R: usize> {
    input: [[f32; T]; T],
    kernel: [[f32; R]; T],
    output: [[f32; T]; M],
}

/// F(2x2, 3x3), interpolation points 0, 1, -1 and infinity.
const F2X2K3: Transforms<4, 2, 3> = Transforms {
    input: [
        [1.0, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, -1.0],
    ],
    kernel: [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ],
    output: [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]],
};

/// F(4x4, 3x3), interpolation points 0, 1, -1, 1/2, -2 and infinity (the Toom-Cook
/// construction; `Bt` and `At` exact in binary, `G`'s thirds and fifteenths rounded once).
const F4X4K3: Transforms<6, 4, 3> = Transforms {
    input: [
        [1.0, -1.5, -2.0, 1.5, 1.0, 0.0],
        [0.0, -1.0, 0.5, 2.5, 1.0, 0.0],
        [0.0, 1.0, -2.5, 0.5, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 0.5, -1.0, -0.5, 1.0, 0.0],
        [0.0, 1.0, -1.5, -2.0, 1.5, 1.0],
    ],
    kernel: [
        [1.0, 0.0, 0.0],
        [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
        [-1.0 / 3.0, 1.0 / 3.0, -1.0 / 3.0],
        [-16.0 / 15.0, -8.0 / 15.0, -4.0 / 15.0],
        [1.0 / 15.0, -2.0 / 15.0, 4.0 / 15.0],
        [0.0, 0.0, 1.0],
    ],
    output: [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 0.5, -2.0, 0.0],
        [0.0, 1.0, 1.0, 0.25, 4.0, 0.0],
        [0.0, 1.0, -1.0, 0.125, -8.0, 1.0],
    ],
};

/// F(2x2, 2x2), interpolation points 0, 1 and infinity.
const F2X2K2: Transforms<3, 2, 2> = Transforms {
    input: [[1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 1.0]],
    kernel: [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
    output: [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]],
};

/// F(4x4, 2x2), interpolation points 0, 1, -1, 1/2 and infinity.
const F4X4K2: Transforms<5, 4, 2> = Transforms {
    input: [
        [0.5, -1.0, -0.5, 1.0, 0.0],
        [0.0, -0.5, 0.5, 1.0, 0.0],
        [0.0, 0.5, -1.5, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 0.5, -1.0, -0.5, 1.0],
    ],
    kernel: [
        [2.0, 0.0],
        [1.0, 1.0],
        [-1.0 / 3.0, 1.0 / 3.0],
        [-8.0 / 3.0, -4.0 / 3.0],
        [0.0, 1.0],
    ],
    output: [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 0.5, 0.0],
        [0.0, 1.0, 1.0, 0.25, 0.0],
        [0.0, 1.0, -1.0, 0.125, 1.0],
    ],
};

/// Runs `$body` with `$tf` bound to the [`Transforms`] of `$tiling` (each arm its own
/// monomorphisation, in which the matrices are constants).
macro_rules! with_transforms {
    ($tiling:expr, $tf:ident => $body:expr) => {
        match $tiling {
            Tiling::F2x2K3 => {
                let $tf = &F2X2K3;
                $body
            }
            Tiling::F4x4K3 => {
                let $tf = &F4X4K3;
                $body
            }
            Tiling::F2x2K2 => {
                let $tf = &F2X2K2;
                $body
            }
            Tiling::F4x4K2 => {
                let $tf = &F4X4K2;
                $body
            }
        }
    };
}

impl Tiling {
    /// Output block side `m`.
    const fn block(self) -> usize {
        match self {
            Tiling::F2x2K3 | Tiling::F2x2K2 => 2,
            Tiling::F4x4K3 | Tiling::F4x4K2 => 4,
        }
    }

    /// Kernel side `r`.
    const fn kernel(self) -> usize {
        match self {
            Tiling::F2x2K3 | Tiling::F4x4K3 => 3,
            Tiling::F2x2K2 | Tiling::F4x4K2 => 2,
        }
    }

    /// Tile side `m + r - 1`.
    const fn tile(self) -> usize {
        self.block() + self.kernel() - 1
    }

    const fn positions(self) -> usize {
        self.tile() * self.tile()
    }

    /// Tiles per task, in whole rows of tiles: a task's transformed tiles and products
    /// (`positions * channels * tiles` values each, 2 MiB at 256 channels for 16 positions and
    /// 128 tiles, 2.3 MiB for 36 and 64) stay in cache between the transforms and the GEMMs,
    /// where whole-image buffers (64 MiB each for 256 channels at 128 x 128) made the conv
    /// memory-bound. Measured: 64 / 128 / 256 tiles within noise for F(2x2, 3x3); for
    /// F(4x4, 3x3) 64 tiles 15.0 ms against 18.0 with 128 (256 channels at 64 x 64).
    const fn block_tiles(self) -> usize {
        match self {
            Tiling::F2x2K3 | Tiling::F2x2K2 => 128,
            Tiling::F4x4K3 | Tiling::F4x4K2 => 64,
        }
    }

    /// Input lines past a tile row's first `m * tiles` that its last tile reads (in units of
    /// `m`, rounded up): the extra entries of each residue class of columns.
    const fn overlap(self) -> usize {
        (self.tile() - 1) / self.block()
    }
}

/// Whether the transforms run their AVX2 build: where the CPU has AVX2, unless a test asks
/// for the baseline build.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    #[cfg(test)]
    if tests::BASELINE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Values per step of [`transform`]: one AVX register of `f32`.
const LANES: usize = 8;

/// `out[first + k stride + t] = bias + sum_i matrix[k][i] input(i)[t]` for every row `k` of
/// `matrix` and `t < len`, skipping the zero coefficients: one pass over the `N` inputs,
/// `LANES` values at a time, makes all `M` outputs. Inlined into each monomorphisation where
/// `matrix` is a constant, so its zeros, ones and minus ones fold away (and multiplying by 1
/// or -1 is exact: the integer transforms round as hand-written sums would).
///
/// # Panics
/// If an input is shorter than `len`, or the outputs overlap or reach past `out`.
#[inline(always)]
fn transform<'a, const N: usize, const M: usize>(
    matrix: &[[f32; N]; M],
    input: impl Fn(usize) -> &'a [f32],
    len: usize,
    out: &mut [f32],
    [first, stride]: [usize; 2],
    bias: f32,
) {
    assert!(stride >= len && first + (M - 1) * stride + len <= out.len());
    let inputs: [&[f32]; N] = std::array::from_fn(|i| &input(i)[..len]);
    let mut t = 0;
    while t + LANES <= len {
        transform_lanes::<LANES, N, M>(matrix, &inputs, t, out, [first, stride], bias);
        t += LANES;
    }
    for t in t..len {
        transform_lanes::<1, N, M>(matrix, &inputs, t, out, [first, stride], bias);
    }
}

/// Expands `$body` once for each `$i` in 0..6 (the largest tile side), `$i` a constant in
/// each copy: the loops of [`transform_lanes`] written out, so that every coefficient is read at
/// a constant index (and folds, and the zero ones drop out) whatever LLVM's unrolling decides.
macro_rules! unroll6 {
    ($i:ident => $body:block) => {{
        {
            const $i: usize = 0;
            $body
        }
        {
            const $i: usize = 1;
            $body
        }
        {
            const $i: usize = 2;
            $body
        }
        {
            const $i: usize = 3;
            $body
        }
        {
            const $i: usize = 4;
            $body
        }
        {
            const $i: usize = 5;
            $body
        }
    }};
}

/// [`transform`] of values `t..t + L`.
#[inline(always)]
#[allow(unused_assignments)] // the last copy's `started = true` is never read
fn transform_lanes<const L: usize, const N: usize, const M: usize>(
    matrix: &[[f32; N]; M],
    inputs: &[&[f32]; N],
    t: usize,
    out: &mut [f32],
    [first, stride]: [usize; 2],
    bias: f32,
) {
    let x: [[f32; L]; N] =
        std::array::from_fn(|i| inputs[i][t..t + L].try_into().expect("L values"));
    unroll6!(K => {
        if K < M {
            let mut acc = [0f32; L];
            let mut started = false;
            unroll6!(I => {
                if I < N && matrix[K][I] != 0.0 {
                    let c = matrix[K][I];
                    for (a, x) in acc.iter_mut().zip(&x[I]) {
                        *a = if started { *a + c * x } else { c * x };
                    }
                    started = true;
                }
            });
            for (o, a) in out[first + K * stride + t..][..L].iter_mut().zip(acc) {
                *o = a + bias;
            }
        }
    });
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
    /// For [`conv3x3_winograd`] in `block`s, from a `[out, in, 3, 3]` kernel's values.
    ///
    /// # Panics
    /// If `weight` does not hold `out * in * 9` values, or `in` is 0.
    pub fn conv3x3(weight: &[f32], out_ch: usize, in_ch: usize, block: OutputBlock) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 9, "[out, in, 3, 3] weights");
        let tiling = match block {
            OutputBlock::Two => Tiling::F2x2K3,
            OutputBlock::Four => Tiling::F4x4K3,
        };
        Self::transformed(tiling, out_ch, in_ch, |o, c, g| {
            g[..9].copy_from_slice(&weight[(o * in_ch + c) * 9..][..9]);
        })
    }

    /// For [`conv4x4_stride2_winograd`] in `block`s, from a `[out, in, 4, 4]` kernel's values: phase
    /// channel `4 c + 2 py + px` gets taps `(2 a + py, 2 b + px)` of channel `c` as its 2x2
    /// kernel `(a, b)`, as in `cpu_conv::weight_space_to_depth` (gathered here as the kernels
    /// are transformed: going through that function's copy, then a generic transform of it,
    /// measured 2.5 against 0.87 ms for 128 -> 256 channels).
    ///
    /// # Panics
    /// If `weight` does not hold `out * in * 16` values, or `in` is 0.
    pub fn stride2_4x4(weight: &[f32], out_ch: usize, in_ch: usize, block: OutputBlock) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 16, "[out, in, 4, 4] weights");
        let tiling = match block {
            OutputBlock::Two => Tiling::F2x2K2,
            OutputBlock::Four => Tiling::F4x4K2,
        };
        Self::transformed(tiling, out_ch, 4 * in_ch, |o, phase_ch, g| {
            let (c, py, px) = (phase_ch / 4, phase_ch % 4 / 2, phase_ch % 2);
            let taps = &weight[(o * in_ch + c) * 16..][..16];
            for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                g[2 * a + b] = taps[4 * (2 * a + py) + 2 * b + px];
            }
        })
    }

    /// `U = G g Gt` of the `r x r` kernels that `taps(out, in, g)` writes into `g` (row-major).
    fn transformed(
        tiling: Tiling,
        out_ch: usize,
        in_ch: usize,
        taps: impl Fn(usize, usize, &mut [f32; 9]) + Sync,
    ) -> Self {
        assert!(in_ch > 0, "input channels");
        let mut values = vec![0f32; out_ch * tiling.positions() * in_ch];
        with_transforms!(tiling, tf => transform_kernels(tf, &mut values, in_ch, taps));
        Self {
            values,
            tiling,
            out_ch,
            in_ch,
        }
    }
}

/// [`WinogradKernel::transformed`] into `values` (`[out, positions, in]`), output channels in
/// parallel.
#[inline(always)]
fn transform_kernels<const T: usize, const M: usize, const R: usize>(
    tf: &Transforms<T, M, R>,
    values: &mut [f32],
    in_ch: usize,
    taps: impl Fn(usize, usize, &mut [f32; 9]) + Sync,
) {
    #[cfg(target_arch = "x86_64")]
    let avx2 = avx2();
    values
        .par_chunks_mut(T * T * in_ch)
        .enumerate()
        .for_each_init(
            || (vec![0f32; R * R * in_ch], vec![0f32; T * R * in_ch]),
            |(gathered, columns), (o, dst)| {
                let buffers = [&mut gathered[..], &mut columns[..]];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU was just found to support AVX2.
                    return unsafe { transform_kernel_avx2(tf, dst, o, &taps, buffers) };
                }
                transform_kernel(tf, dst, o, &taps, buffers);
            },
        );
}

/// The transformed kernels of output channel `o` (`dst`: `[positions, in]`) as loops over the
/// input channels: the taps are gathered tap-major (`gathered`: `[r * r, in]`), so each step
/// is a [`transform`] of rows of `in` values and the last writes straight into `dst`.
#[inline(always)]
fn transform_kernel<const T: usize, const M: usize, const R: usize>(
    tf: &Transforms<T, M, R>,
    dst: &mut [f32],
    o: usize,
    taps: &impl Fn(usize, usize, &mut [f32; 9]),
    [gathered, columns]: [&mut [f32]; 2],
) {
    let in_ch = dst.len() / (T * T);
    let mut g = [0f32; 9];
    for c in 0..in_ch {
        taps(o, c, &mut g);
        for (t, value) in g[..R * R].iter().enumerate() {
            gathered[t * in_ch + c] = *value;
        }
    }
    // G g: columns[k][b] = sum_a G[k][a] g[a][b].
    for b in 0..R {
        let g_column = |a: usize| &gathered[(a * R + b) * in_ch..][..in_ch];
        let at = [b * in_ch, R * in_ch];
        transform(&tf.kernel, g_column, in_ch, columns, at, 0.0);
    }
    // (G g) Gt: U[k][l] = sum_b G[l][b] columns[k][b].
    for k in 0..T {
        let row = |b: usize| &columns[(k * R + b) * in_ch..][..in_ch];
        transform(&tf.kernel, row, in_ch, dst, [k * T * in_ch, in_ch], 0.0);
    }
}

/// [`transform_kernel`] compiled for AVX2 (this crate builds for baseline x86-64: SSE2's four
/// lanes; the same multiplies and adds, so the same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transform_kernel_avx2<const T: usize, const M: usize, const R: usize>(
    tf: &Transforms<T, M, R>,
    dst: &mut [f32],
    o: usize,
    taps: &impl Fn(usize, usize, &mut [f32; 9]),
    buffers: [&mut [f32]; 2],
) {
    transform_kernel(tf, dst, o, taps, buffers);
}

/// Whether a Winograd conv is expected to beat the im2col conv for these channel counts (the
/// stride-2 convs' input counted with its four phases): the tile transforms cost about as much
/// as the GEMMs with a handful of channels, so narrow layers (the first and last convs, a
/// 16-wide model's first stages) keep the im2col path.
pub fn winograd_pays(in_ch: usize, out_ch: usize) -> bool {
    in_ch >= 32 && out_ch >= 32
}

/// The output blocks of a stride-1 3x3 conv with these channels and this `[ho, wo]` output
/// (where [`winograd_pays`]): F(4x4, 3x3) from 128 inputs, 64 outputs and 32 x 32 pixels,
/// where its 1.78x fewer multiplies outweigh its costlier transforms (its kernel transform
/// alone is 1.3-1.7 ms for 256 x 256 channels). Measured per layer (criterion, F(4x4, 3x3)
/// against F(2x2, 3x3); docs/performance.md): 256 -> 256 at 64 x 64 14.4 against 21.3 ms,
/// 128 -> 64 at 128 x 128 7.4 against 9.6; 64 -> 64 at 32 x 32 0.62 against 0.54, 256 -> 256
/// at 16 x 16 4.3 against 2.0.
pub fn output_block_3x3(in_ch: usize, out_ch: usize, [ho, wo]: [usize; 2]) -> OutputBlock {
    if in_ch >= 128 && out_ch >= 64 && ho.min(wo) >= 32 {
        OutputBlock::Four
    } else {
        OutputBlock::Two
    }
}

/// The output blocks of a stride-2 4x4 conv with these channels (not counting phases) and this
/// `[ho, wo]` output (where [`winograd_pays`]): F(4x4, 2x2) from 64 x 64 output pixels, where
/// its 1.44x fewer multiplies outweigh its kernel transform (25 positions per tap pair of
/// every phase channel: 26 MB for 256 -> 256 channels). Measured per layer (criterion,
/// docs/performance.md): 64 -> 128 to 128 x 128 20.7 against 24.4 ms, 128 -> 256 to 64 x 64
/// 19.4 against 22.8 (medians of five alternated runs).
pub fn output_block_stride2(in_ch: usize, out_ch: usize, [ho, wo]: [usize; 2]) -> OutputBlock {
    if in_ch >= 32 && out_ch >= 64 && ho.min(wo) >= 64 {
        OutputBlock::Four
    } else {
        OutputBlock::Two
    }
}

/// A stride-1 3x3 convolution of `input` (`[b, in, h, w]`, unpadded) padded as `rows` and `cols`
/// say ([`super::cpu_conv::padded_axis`]: where each padded line reads from, `None` for zero),
/// plus `bias`: `[b, out, rows.len() - 2, cols.len() - 2]`, row-major, by the kernel's
/// algorithm, F(2x2, 3x3) or F(4x4, 3x3).
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
    assert_eq!(kernel.tiling.kernel(), 3, "a 3x3 kernel");
    let out = [rows.len() - 2, cols.len() - 2];
    winograd_conv(
        input,
        dims,
        kernel,
        bias,
        Lines::new(1, kernel.tiling, rows, cols, out),
        out,
    )
}

/// A stride-2 4x4 convolution of `input` (`[b, in, h, w]`, unpadded) padded as `rows` and
/// `cols` say, plus `bias`: `[b, out, (rows.len() - 4) / 2 + 1, (cols.len() - 4) / 2 + 1]`,
/// row-major, by F(2x2, 2x2) or F(4x4, 2x2) over the padded input's pixel phases.
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
    assert_eq!(kernel.tiling.kernel(), 2, "a stride-2 4x4 kernel");
    let out = [(rows.len() - 4) / 2 + 1, (cols.len() - 4) / 2 + 1];
    winograd_conv(
        input,
        dims,
        kernel,
        bias,
        Lines::new(2, kernel.tiling, rows, cols, out),
        out,
    )
}

/// Where the tiles' lines read from: for every phase row `py` and column `px` (one of each
/// without phases), the rows (`rows[py][q]`: a row of the input plane, `None` for zero) and
/// the tile columns' lines by their residue modulo the block side `m` (`columns[px][r][j]`:
/// line `m j + r`), covering every tile of a `[ho, wo]` output.
struct Lines {
    stride: usize,
    rows: Vec<Vec<Option<usize>>>,
    columns: Vec<Residues>,
}

/// The lines of each tile column by residue class: where each reads from, `None` for zero.
type Residues = Vec<Vec<Option<usize>>>;

impl Lines {
    /// For a stride-`stride` (1 or 2) conv over the padded axes `rows` and `cols`.
    fn new(
        stride: usize,
        tiling: Tiling,
        rows: &[Option<usize>],
        cols: &[Option<usize>],
        [ho, wo]: [usize; 2],
    ) -> Self {
        // Line q of phase p is padded line stride q + p; past the padded size, zeros (the last
        // tile of an output that is not a multiple of m, a phase's extra line).
        let line = |axis: &[Option<usize>], q: usize, p: usize| {
            axis.get(stride * q + p).copied().flatten()
        };
        let m = tiling.block();
        let (tile_rows, tile_cols) = (ho.div_ceil(m), wo.div_ceil(m));
        let row_lines = m * tile_rows + tiling.tile() - m;
        Self {
            stride,
            rows: (0..stride)
                .map(|py| (0..row_lines).map(|q| line(rows, q, py)).collect())
                .collect(),
            columns: (0..stride)
                .map(|px| {
                    (0..m)
                        .map(|r| {
                            (0..tile_cols + tiling.overlap())
                                .map(|j| line(cols, m * j + r, px))
                                .collect()
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// Channels per input channel: its pixel phases (one without).
    fn phases(&self) -> usize {
        self.stride * self.stride
    }

    /// The rows and column residues of (phase) channel `c`, and its input plane.
    fn of(&self, c: usize) -> (usize, &[Option<usize>], &Residues) {
        let phase = c % self.phases();
        (
            c / self.phases(),
            &self.rows[phase / self.stride],
            &self.columns[phase % self.stride],
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
    let (out_ch, tiling) = (kernel.out_ch, kernel.tiling);
    let (m, positions) = (tiling.block(), tiling.positions());
    assert_eq!(bias.len(), out_ch, "bias size");
    let mut y = vec![0f32; batch * out_ch * ho * wo];
    if y.is_empty() {
        return y;
    }
    let (tile_rows, tile_cols) = (ho.div_ceil(m), wo.div_ceil(m));
    // At least one task per thread where the image allows.
    let per_image = rayon::current_num_threads().div_ceil(batch);
    let block_rows = (tiling.block_tiles() / tile_cols)
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
                tiling,
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
            let (y0, y1) = (m * first_row, (m * (first_row + block.rows)).min(ho));
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
    /// (`[positions, channels, tiles]`).
    fn transform_input(&self, image: &[f32], dims: [usize; 2], lines: &Lines, dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU was just found to support AVX2.
            return unsafe { self.transform_input_avx2(image, dims, lines, dst) };
        }
        with_transforms!(self.tiling, tf => self.transform_input_with(tf, image, dims, lines, dst));
    }

    /// [`Self::transform_input`] compiled for AVX2 (as [`transform_kernel_avx2`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn transform_input_avx2(
        &self,
        image: &[f32],
        dims: [usize; 2],
        lines: &Lines,
        dst: &mut [f32],
    ) {
        with_transforms!(self.tiling, tf => self.transform_input_with(tf, image, dims, lines, dst));
    }

    /// [`Self::transform_input`] by `tf`. Each row a tile row reads is first split into its
    /// columns' residue classes modulo `M` (`span` values each: tile `t` reads entries `t` and
    /// on of each class), so that every step below is a contiguous loop over a row of tiles.
    #[inline(always)]
    fn transform_input_with<const T: usize, const M: usize, const R: usize>(
        &self,
        tf: &Transforms<T, M, R>,
        image: &[f32],
        [h, w]: [usize; 2],
        lines: &Lines,
        dst: &mut [f32],
    ) {
        let (tw, n) = (self.cols, self.tiles());
        let channels = dst.len() / (T * T * n);
        let span = tw + self.tiling.overlap();
        let row_len = M * span;
        // The rows of a tile row, each as its residue classes, and Bt applied to them.
        let mut split = vec![0f32; T * row_len];
        let mut r = vec![0f32; T * row_len];
        for c in 0..channels {
            let (plane, rows, residues) = lines.of(c);
            let plane = &image[plane * h * w..][..h * w];
            for i in 0..self.rows {
                let tile_row = self.first_row + i;
                for (a, classes) in split.chunks_mut(row_len).enumerate() {
                    let Some(source) = rows[M * tile_row + a] else {
                        classes.fill(0.0);
                        continue;
                    };
                    let row = &plane[source * w..][..w];
                    for (class, columns) in classes.chunks_mut(span).zip(residues) {
                        for (value, column) in class.iter_mut().zip(columns) {
                            *value = column.map_or(0.0, |x| row[x]);
                        }
                    }
                }
                // Bt on the rows.
                let split_row = |a: usize| &split[a * row_len..][..row_len];
                transform(&tf.input, split_row, row_len, &mut r, [0, row_len], 0.0);
                // B on the columns, into positions T k + 0..T of channel c: column x of tile t
                // is entry t + x / M of class x % M.
                for k in 0..T {
                    let rk = &r[k * row_len..][..row_len];
                    let column = |x: usize| &rk[(x % M) * span + x / M..][..tw];
                    let first = (T * k * channels + c) * n + i * tw;
                    transform(&tf.input, column, tw, dst, [first, channels * n], 0.0);
                }
            }
        }
    }

    /// Every output channel's rows of this block from the products (`[positions, out, tiles]`):
    /// `At M A` per tile plus the channel's `bias`, written to `out_rows(o)` (`[rows, wo]`, the
    /// rows from `m first_row`, cut at the output's height), columns past `wo` cut.
    fn transform_output<'a>(
        &self,
        products: &[f32],
        bias: &[f32],
        wo: usize,
        out_rows: impl FnMut(usize) -> &'a mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU was just found to support AVX2.
            return unsafe { self.transform_output_avx2(products, bias, wo, out_rows) };
        }
        with_transforms!(self.tiling, tf => {
            self.transform_output_with(tf, products, bias, wo, out_rows)
        });
    }

    /// [`Self::transform_output`] compiled for AVX2 (as [`transform_kernel_avx2`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn transform_output_avx2<'a>(
        &self,
        products: &[f32],
        bias: &[f32],
        wo: usize,
        out_rows: impl FnMut(usize) -> &'a mut [f32],
    ) {
        with_transforms!(self.tiling, tf => {
            self.transform_output_with(tf, products, bias, wo, out_rows)
        });
    }

    /// [`Self::transform_output`] by `tf`.
    #[inline(always)]
    fn transform_output_with<'a, const T: usize, const M: usize, const R: usize>(
        &self,
        tf: &Transforms<T, M, R>,
        products: &[f32],
        bias: &[f32],
        wo: usize,
        mut out_rows: impl FnMut(usize) -> &'a mut [f32],
    ) {
        let (tw, n) = (self.cols, self.tiles());
        let stride = bias.len() * n;
        // s[k][j]: M A for tile row position k, output column j, every tile of the block.
        let mut s = vec![0f32; T * M * n];
        // block[j][row]: output column j of each tile's output row `row`.
        let mut block = vec![0f32; M * M * n];
        for (o, &bias) in bias.iter().enumerate() {
            let out_rows = out_rows(o);
            for k in 0..T {
                let product = |l: usize| &products[(T * k + l) * stride + o * n..][..n];
                transform(&tf.output, product, n, &mut s, [k * M * n, n], 0.0);
            }
            // At on the rows, for every output column j.
            for j in 0..M {
                let s_column = |k: usize| &s[(k * M + j) * n..][..n];
                transform(&tf.output, s_column, n, &mut block, [j * M * n, n], bias);
            }
            // Output pixel (M i + row, M t + j) of this block.
            for i in 0..self.rows {
                for row in 0..M {
                    let y = M * i + row;
                    let Some(out_row) = out_rows.get_mut(y * wo..(y + 1) * wo) else {
                        break;
                    };
                    for (t, pixels) in out_row.chunks_mut(M).enumerate() {
                        for (j, pixel) in pixels.iter_mut().enumerate() {
                            *pixel = block[(j * M + row) * n + i * tw + t];
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

    /// Makes the transforms run their baseline x86-64 build (see [`super::avx2`]).
    #[cfg(target_arch = "x86_64")]
    pub(super) static BASELINE_ONLY: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    /// Each algorithm against burn's pad + conv2d on random inputs, for every padding:
    /// `(batch, in, out, pad, h, w)` cases with `kernel x kernel` weights at `stride` (3x3 ones
    /// in `block`s).
    fn assert_equals_burn(kernel: usize, stride: usize, block: OutputBlock, cases: &[[usize; 6]]) {
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
                3 => WinogradKernel::conv3x3(f32_slice(&weights), out_ch, in_ch, block),
                _ => WinogradKernel::stride2_4x4(f32_slice(&weights), out_ch, in_ch, block),
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

    /// Odd and even output sizes (for F(4x4, 3x3): every remainder modulo 4), no padding and
    /// padding by 1 and 2, a one-pixel output, a batch, channel counts that are not multiples of
    /// anything; several rows of tiles per task and one; the residual blocks' width (sums of
    /// 2,304 products).
    const CASES_3X3: &[[usize; 6]] = &[
        [1, 5, 7, 1, 9, 11],
        [2, 6, 3, 1, 8, 6],
        [1, 4, 5, 0, 7, 10],
        [1, 3, 2, 0, 3, 3],
        [3, 2, 4, 2, 5, 4],
        [1, 33, 35, 1, 17, 16],
        [1, 7, 6, 1, 42, 39],
        [1, 256, 24, 1, 12, 10],
    ];

    #[test]
    fn winograd_f2x2_3x3_conv_equals_burns_pad_then_conv2d() {
        assert_equals_burn(3, 1, OutputBlock::Two, CASES_3X3);
    }

    #[test]
    fn winograd_f4x4_3x3_conv_equals_burns_pad_then_conv2d() {
        assert_equals_burn(3, 1, OutputBlock::Four, CASES_3X3);
    }

    /// The encoders' downsampling (pad 1, even sizes) and odd padded sizes (a phase's extra line
    /// that no output reads), a one-pixel output, no padding, a batch, odd channel counts,
    /// output sizes of every remainder modulo 4, several rows of tiles per task; a wide input
    /// (sums of 4,096 products).
    const CASES_STRIDE2: &[[usize; 6]] = &[
        [1, 5, 7, 1, 12, 10],
        [1, 3, 4, 1, 9, 11],
        [2, 6, 3, 0, 8, 7],
        [1, 2, 5, 1, 2, 3],
        [3, 4, 2, 2, 6, 5],
        [1, 9, 33, 1, 40, 38],
        [1, 5, 6, 1, 29, 31],
        [1, 256, 12, 1, 10, 12],
    ];

    #[test]
    fn winograd_f2x2_stride2_4x4_conv_equals_burns_pad_then_conv2d() {
        assert_equals_burn(4, 2, OutputBlock::Two, CASES_STRIDE2);
    }

    #[test]
    fn winograd_f4x4_stride2_4x4_conv_equals_burns_pad_then_conv2d() {
        assert_equals_burn(4, 2, OutputBlock::Four, CASES_STRIDE2);
    }

    /// The AVX2 and baseline builds of the transforms make the same values (the same multiplies
    /// and adds in the same order, lane by lane), so a CPU without AVX2 gets the results tested
    /// above. (On such a CPU both runs take the baseline build.)
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_baseline_transforms_agree_bit_for_bit() {
        use std::sync::atomic::Ordering::Relaxed;
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 2_654_435_761 + seed) % 10_007) as f32 / 10_007.0 - 0.5)
                .collect()
        };
        // Odd sizes (partial blocks, vector tails), every algorithm.
        let (in_ch, out_ch, h, w) = (9, 6, 19, 23);
        let input = values(in_ch * h * w, 1);
        let bias = values(out_ch, 2);
        let axis = |n: usize| padded_axis(n, 1, PadType::Reflect).expect("paddable");
        let run = || {
            let weight3 = values(out_ch * in_ch * 9, 3);
            let weight4 = values(out_ch * in_ch * 16, 4);
            let mut outputs = Vec::new();
            for block in [OutputBlock::Two, OutputBlock::Four] {
                let kernel = WinogradKernel::conv3x3(&weight3, out_ch, in_ch, block);
                let y =
                    conv3x3_winograd(&input, [1, in_ch, h, w], &kernel, &bias, &axis(h), &axis(w));
                outputs.push((kernel.values, y));
            }
            for block in [OutputBlock::Two, OutputBlock::Four] {
                let kernel = WinogradKernel::stride2_4x4(&weight4, out_ch, in_ch, block);
                let y = conv4x4_stride2_winograd(
                    &input,
                    [1, in_ch, h, w],
                    &kernel,
                    &bias,
                    &axis(h),
                    &axis(w),
                );
                outputs.push((kernel.values, y));
            }
            outputs
        };
        let avx2 = run();
        BASELINE_ONLY.store(true, Relaxed);
        let baseline = run();
        BASELINE_ONLY.store(false, Relaxed);
        assert!(avx2 == baseline, "the two builds differ");
    }
}
