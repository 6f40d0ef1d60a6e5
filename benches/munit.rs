//! Encode and decode of the default MUNIT generator (dim 64, mlp_dim 256, style_dim 8,
//! n_downsample 2, n_res 4) at 256x256 with random weights, on the CPU backend and on wgpu.
//!
//! Also DRIT++'s generator at its official size (content 256 x 54 x 54 from a 216 crop), both
//! variants, on the CPU backend; and single CPU layers: the folded upsampling, the 3x3 convs
//! and the stride-2 4x4 downsampling convs (im2col against Winograd), DRIT's transposed convs.
//!
//! `cargo bench --bench munit` (set STYLESPACE_BENCH_SIZE to change the MUNIT size).

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use stylespace::config::Config;
use stylespace::engine::{DeviceChoice, select_device};
use stylespace::model::{Generator, RandomInit};

fn bench_device(c: &mut Criterion, choice: DeviceChoice) {
    let Ok(compute) = select_device(choice) else {
        eprintln!("skipping {choice:?}: no such device here");
        return;
    };
    if compute.software && std::env::var_os("STYLESPACE_BENCH_SOFTWARE_GPU").is_none() {
        // lavapipe is 10-20x slower than the CPU backend: its numbers mean nothing for a GPU.
        eprintln!(
            "skipping {}: software adapter (set STYLESPACE_BENCH_SOFTWARE_GPU=1 to time it)",
            compute.description
        );
        return;
    }
    let size: usize = std::env::var("STYLESPACE_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let config = Config::munit_default();
    let device = compute.device.clone();
    let generator = Generator::new(&config.generator, 3, &mut RandomInit::new(0), &device).unwrap();
    let x = Tensor::<4>::random(
        [1, 3, size, size],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let style = Tensor::<2>::random(
        [1, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let content = generator.encode_content(x.clone());
    let name = format!("{:?}", compute.kind).to_lowercase();
    let mut group = c.benchmark_group(format!("munit_{size}_{name}"));
    group.sample_size(10);
    group.bench_function("encode_content_and_style", |b| {
        b.iter(|| {
            let _c = generator.encode_content(x.clone());
            let _s = generator.encode_style(x.clone());
            device.sync().unwrap();
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let _y = generator.decode_style(content.clone(), style.clone());
            device.sync().unwrap();
        })
    });
    group.finish();
}

/// The decoder's upsampling layers: nearest x2 then 5x5 conv, direct vs folded (CPU).
fn bench_upsample_conv(c: &mut Criterion) {
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use stylespace::config::PadType;
    use stylespace::model::layers::{pad2d, upsample_nearest2x};
    use stylespace::model::upsample::{
        FoldedUpsample, upsample2x_conv5x5, upsample2x_conv5x5_folded,
    };
    let device = Device::flex();
    let mut group = c.benchmark_group("upsample_conv5x5_cpu");
    group.sample_size(10);
    for (cin, cout, side) in [(256, 128, 64), (128, 64, 128)] {
        let x = Tensor::<4>::random(
            [1, cin, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random([cout, cin, 5, 5], Distribution::Normal(0.0, 0.02), &device);
        let b = Tensor::<1>::zeros([cout], &device);
        group.bench_function(format!("direct_{cin}to{cout}_at{side}"), |bench| {
            bench.iter(|| {
                let y = conv2d(
                    pad2d(upsample_nearest2x(x.clone()), 2, PadType::Reflect),
                    w.clone(),
                    Some(b.clone()),
                    ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                );
                device.sync().unwrap();
                y
            })
        });
        group.bench_function(format!("folded_{cin}to{cout}_at{side}"), |bench| {
            bench.iter(|| {
                let y = upsample2x_conv5x5(x.clone(), w.clone(), b.clone(), PadType::Reflect);
                device.sync().unwrap();
                y
            })
        });
        // What inference pays once the phase kernels are kept with the layer.
        let folded = FoldedUpsample::new(w.clone(), b.clone());
        group.bench_function(format!("folded_cached_{cin}to{cout}_at{side}"), |bench| {
            bench.iter(|| {
                let y = upsample2x_conv5x5_folded(x.clone(), &folded, w.clone(), PadType::Reflect);
                device.sync().unwrap();
                y
            })
        });
    }
    group.finish();
}

/// The residual blocks' 3x3 convs (reflect pad 1) on the CPU: im2col + GEMM against Winograd
/// F(2x2, 3x3) and F(4x4, 3x3) (kernels transformed per call, as inference does), and the
/// kernel transforms alone.
fn bench_conv3x3(c: &mut Criterion) {
    use burn::tensor::Distribution;
    use stylespace::config::PadType;
    use stylespace::model::cpu_conv::{conv2d_cpu, padded_axis};
    use stylespace::model::cpu_winograd::{OutputBlock, WinogradKernel, conv3x3_winograd};
    use stylespace::model::layers::pad2d;
    let device = Device::flex();
    let mut group = c.benchmark_group("conv3x3_cpu");
    group.sample_size(10);
    // (in, out, side): default MUNIT's residual blocks at 256 px and 512 px, its upsamplings'
    // phase convs at 256 px, the bundled 128 px model's residual blocks (dim 16), a 64 px input.
    for (in_ch, out_ch, side) in [
        (256, 256, 64),
        (256, 256, 128),
        (256, 128, 64),
        (128, 64, 128),
        (64, 64, 32),
        (256, 256, 16),
    ] {
        let x = Tensor::<4>::random(
            [1, in_ch, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random(
            [out_ch, in_ch, 3, 3],
            Distribution::Normal(0.0, 0.02),
            &device,
        );
        let b = Tensor::<1>::zeros([out_ch], &device);
        let name = format!("{in_ch}to{out_ch}_at{side}");
        group.bench_function(format!("im2col_{name}"), |bench| {
            bench.iter(|| {
                conv2d_cpu(
                    pad2d(x.clone(), 1, PadType::Reflect),
                    w.clone(),
                    b.clone(),
                    1,
                )
            })
        });
        let input = x.to_data().try_into_vec::<f32>().unwrap();
        let weights = w.to_data().try_into_vec::<f32>().unwrap();
        let bias = vec![0f32; out_ch];
        let axis = padded_axis(side, 1, PadType::Reflect).unwrap();
        for (label, block) in [("f2x2", OutputBlock::Two), ("f4x4", OutputBlock::Four)] {
            group.bench_function(format!("winograd_{label}_{name}"), |bench| {
                bench.iter(|| {
                    let kernel = WinogradKernel::conv3x3(&weights, out_ch, in_ch, block);
                    conv3x3_winograd(&input, [1, in_ch, side, side], &kernel, &bias, &axis, &axis)
                })
            });
            group.bench_function(format!("winograd_kernel_{label}_{name}"), |bench| {
                bench.iter(|| WinogradKernel::conv3x3(&weights, out_ch, in_ch, block))
            });
        }
    }
    group.finish();
}

/// The encoders' stride-2 4x4 downsampling convs (zero pad 1) on the CPU: a stride-2 im2col +
/// GEMM against Winograd F(2x2, 2x2) and F(4x4, 2x2) over the pixel phases (kernels
/// transformed per call, as inference does), and the kernel transforms alone.
fn bench_conv4x4_stride2(c: &mut Criterion) {
    use burn::tensor::Distribution;
    use stylespace::config::PadType;
    use stylespace::model::cpu_conv::{conv2d_cpu, padded_axis};
    use stylespace::model::cpu_winograd::{OutputBlock, WinogradKernel, conv4x4_stride2_winograd};
    use stylespace::model::layers::pad2d;
    let device = Device::flex();
    let mut group = c.benchmark_group("conv4x4s2_cpu");
    group.sample_size(10);
    // Default MUNIT's two content downsamplings at 256 px and its style encoder's third, and the
    // bundled model's first (dim 16, 128 px).
    for (in_ch, out_ch, side) in [
        (64, 128, 256),
        (128, 256, 128),
        (256, 256, 64),
        (16, 32, 128),
    ] {
        let x = Tensor::<4>::random(
            [1, in_ch, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random(
            [out_ch, in_ch, 4, 4],
            Distribution::Normal(0.0, 0.02),
            &device,
        );
        let b = Tensor::<1>::zeros([out_ch], &device);
        let name = format!("{in_ch}to{out_ch}_at{side}");
        group.bench_function(format!("im2col_stride2_{name}"), |bench| {
            bench.iter(|| conv2d_cpu(pad2d(x.clone(), 1, PadType::Zero), w.clone(), b.clone(), 2))
        });
        let input = x.to_data().try_into_vec::<f32>().unwrap();
        let weights = w.to_data().try_into_vec::<f32>().unwrap();
        let bias = vec![0f32; out_ch];
        let axis = padded_axis(side, 1, PadType::Zero).unwrap();
        for (label, block) in [("f2x2", OutputBlock::Two), ("f4x4", OutputBlock::Four)] {
            group.bench_function(format!("winograd_{label}_{name}"), |bench| {
                bench.iter(|| {
                    let kernel = WinogradKernel::stride2_4x4(&weights, out_ch, in_ch, block);
                    let dims = [1, in_ch, side, side];
                    conv4x4_stride2_winograd(&input, dims, &kernel, &bias, &axis, &axis)
                })
            });
            group.bench_function(format!("winograd_kernel_{label}_{name}"), |bench| {
                bench.iter(|| WinogradKernel::stride2_4x4(&weights, out_ch, in_ch, block))
            });
        }
    }
    group.finish();
}

/// DRIT++'s decoder upsampling: burn's 3x3 stride-2 transposed conv at the official widths.
fn bench_conv_transpose(c: &mut Criterion) {
    use burn::tensor::Distribution;
    use burn::tensor::module::conv_transpose2d;
    use burn::tensor::ops::ConvTransposeOptions;
    let device = Device::flex();
    let mut group = c.benchmark_group("conv_transpose3x3s2_cpu");
    group.sample_size(10);
    for (in_ch, out_ch, side) in [(256, 128, 54), (128, 64, 108)] {
        let x = Tensor::<4>::random(
            [1, in_ch, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random(
            [in_ch, out_ch, 3, 3],
            Distribution::Normal(0.0, 0.02),
            &device,
        );
        let b = Tensor::<1>::zeros([out_ch], &device);
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1);
        group.bench_function(format!("burn_{in_ch}to{out_ch}_at{side}"), |bench| {
            bench.iter(|| conv_transpose2d(x.clone(), w.clone(), Some(b.clone()), options.clone()))
        });
    }
    group.finish();
}

/// DRIT++ at the official widths: decode of a 216-crop content code, and encode of the crop.
fn bench_drit(c: &mut Criterion) {
    use stylespace::Domain;
    use stylespace::model::{Drit, DritArch};
    let device = Device::flex();
    for concat in [true, false] {
        let model =
            Drit::new(DritArch::official(concat), &mut RandomInit::new(0), &device).unwrap();
        let x = Tensor::<4>::random(
            [1, 3, 216, 216],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let z = Tensor::<2>::random(
            [1, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let content = model.encode_content(Domain::A, x.clone());
        assert_eq!(content.dims(), [1, 256, 54, 54]);
        let variant = if concat { "concat" } else { "noconcat" };
        let mut group = c.benchmark_group(format!("drit_{variant}_216_cpu"));
        group.sample_size(10);
        group.bench_function("encode_content_and_attribute", |b| {
            b.iter(|| {
                let _c = model.encode_content(Domain::A, x.clone());
                let _z = model.encode_attr(Domain::B, x.clone());
                device.sync().unwrap();
            })
        });
        group.bench_function("decode", |b| {
            b.iter(|| {
                let _y = model.decode(Domain::B, content.clone(), z.clone());
                device.sync().unwrap();
            })
        });
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_drit(c);
    bench_upsample_conv(c);
    bench_conv3x3(c);
    bench_conv4x4_stride2(c);
    bench_conv_transpose(c);
    bench_device(c, DeviceChoice::Cpu);
    bench_device(c, DeviceChoice::Wgpu);
}

criterion_group!(munit, benches);
criterion_main!(munit);
