//! The command line end to end: outputs equal PyTorch's within one 8-bit step, and every kind of
//! bad input ends in one clear line on stderr and a non-zero exit, never a panic.

mod common;

use std::path::Path;

use common::{expected, fixture, image_fixture, max_abs_diff, run_cli, styles};
use stylespace::io::image::to_u8;

fn model_args() -> Vec<String> {
    vec![
        "--config".into(),
        fixture("config.yaml").display().to_string(),
        "--checkpoint".into(),
        fixture("gen.pt").display().to_string(),
        "--device".into(),
        "cpu".into(),
    ]
}

fn code(i: usize) -> String {
    styles()[i]
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(model_args());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run_cli(&refs)
}

/// Asserts a PNG equals an expected [-1, 1] tensor after official quantisation, within 1/255.
fn assert_png_matches(png: &Path, tensor: &str) {
    let img = image::open(png).unwrap().to_rgb8();
    let (_, values) = &expected()[tensor];
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let mut worst = 0i32;
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            let want = to_u8(values[c * plane + i]) as i32;
            worst = worst.max((px.0[c] as i32 - want).abs());
        }
    }
    assert!(
        worst <= 1,
        "{}: differs from {tensor} by {worst}/255",
        png.display()
    );
}

#[test]
fn translate_with_style_code_matches_pytorch() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let input = fixture("a.png").display().to_string();
    let (status, _, stderr) = run(&[
        "translate",
        "--input",
        &input,
        "--output-dir",
        &dir,
        "--style-code",
        &code(0),
        "--style-code",
        &code(2),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_png_matches(&out.path().join("output_000.png"), "x_ab_0");
    assert_png_matches(&out.path().join("output_001.png"), "x_ab_2");
    assert!(!out.path().join("output_002.png").exists());
}

#[test]
fn translate_with_reference_style_matches_pytorch() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let (status, _, stderr) = run(&[
        "translate",
        "--input",
        &fixture("a.png").display().to_string(),
        "--output-dir",
        &dir,
        "--style",
        &fixture("b.png").display().to_string(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_png_matches(&out.path().join("output_000.png"), "x_ab_ref");
}

#[test]
fn translate_b2a_matches_pytorch() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let (status, _, stderr) = run(&[
        "translate",
        "--b2a",
        "--input",
        &fixture("b.png").display().to_string(),
        "--output-dir",
        &dir,
        "--style-code",
        &code(0),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_png_matches(&out.path().join("output_000.png"), "x_ba_0");
}

#[test]
fn encode_json_prints_style_a() {
    let (status, stdout, stderr) = run(&[
        "encode",
        "--input",
        &fixture("a.png").display().to_string(),
        "--domain",
        "a",
        "--json",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let style: Vec<f32> = serde_json::from_value(v["style"].clone()).unwrap();
    let (_, want) = &expected()["style_a"];
    assert!(max_abs_diff(&style, want) <= 1e-4);
    let shape: Vec<usize> = serde_json::from_value(v["content_shape"].clone()).unwrap();
    assert_eq!(shape, vec![1, 64, 16, 16]);
}

#[test]
fn random_styles_default_to_ten_reproducible_distinct_outputs() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let input = fixture("a.png").display().to_string();
    let (status, _, stderr) = run(&["translate", "--input", &input, "--output-dir", &dir]);
    assert_eq!(status, 0, "{stderr}");
    let read = |i: usize| std::fs::read(out.path().join(format!("output_{i:03}.png"))).unwrap();
    assert!(out.path().join("output_009.png").exists());
    assert!(!out.path().join("output_010.png").exists());
    assert_ne!(read(0), read(1), "different styles give different images");
    // Same seed again, elsewhere: identical files.
    let again = tempfile::tempdir().unwrap();
    let dir2 = again.path().display().to_string();
    let (status, _, _) = run(&[
        "translate",
        "--input",
        &input,
        "--output-dir",
        &dir2,
        "--num-style",
        "2",
    ]);
    assert_eq!(status, 0);
    assert_eq!(
        std::fs::read(again.path().join("output_001.png")).unwrap(),
        read(1)
    );
}

#[test]
fn existing_outputs_are_not_overwritten_without_asking() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let target = out.path().join("output_000.png");
    std::fs::write(&target, b"precious").unwrap();
    let input = fixture("a.png").display().to_string();
    let (status, _, stderr) = run(&[
        "translate",
        "--input",
        &input,
        "--output-dir",
        &dir,
        "--num-style",
        "1",
    ]);
    assert_ne!(status, 0);
    assert!(stderr.contains("--overwrite"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    let (status, _, stderr) = run(&[
        "translate",
        "--input",
        &input,
        "--output-dir",
        &dir,
        "--num-style",
        "1",
        "--overwrite",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert!(image::open(&target).is_ok());
}

#[test]
fn folder_input_writes_one_subfolder_per_image() {
    let inputs = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("a.png"), inputs.path().join("first.png")).unwrap();
    std::fs::copy(fixture("b.png"), inputs.path().join("second.png")).unwrap();
    std::fs::write(inputs.path().join("notes.txt"), "not an image").unwrap();
    std::fs::write(inputs.path().join("broken.png"), "not a png either").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (status, _, stderr) = run(&[
        "translate",
        "--input",
        &inputs.path().display().to_string(),
        "--output-dir",
        &out.path().display().to_string(),
        "--num-style",
        "2",
        "--synchronized",
    ]);
    // The broken file is reported and skipped; the others are translated; the exit code says so.
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("broken.png"), "{stderr}");
    assert!(
        stderr.contains("1 of 3 inputs could not be read"),
        "{stderr}"
    );
    for stem in ["first", "second"] {
        for i in 0..2 {
            assert!(
                out.path()
                    .join(stem)
                    .join(format!("output_{i:03}.png"))
                    .exists()
            );
        }
    }
}

#[test]
fn import_writes_a_native_folder_that_translates_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    let (status, _, stderr) = run_cli(&[
        "import",
        "--config",
        &fixture("config.yaml").display().to_string(),
        "--checkpoint",
        &fixture("gen_legacy.pt").display().to_string(),
        "--out",
        &model_dir.display().to_string(),
    ]);
    assert_eq!(status, 0, "{stderr}");
    let out = tmp.path().join("out");
    let (status, _, stderr) = run_cli(&[
        "translate",
        "--model",
        &model_dir.display().to_string(),
        "--device",
        "cpu",
        "--input",
        &fixture("a.png").display().to_string(),
        "--output-dir",
        &out.display().to_string(),
        "--style-code",
        &code(3),
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_png_matches(&out.join("output_000.png"), "x_ab_3");
    // Importing again into the same folder is refused.
    let (status, _, stderr) = run_cli(&[
        "import",
        "--config",
        &fixture("config.yaml").display().to_string(),
        "--checkpoint",
        &fixture("gen.pt").display().to_string(),
        "--out",
        &model_dir.display().to_string(),
    ]);
    assert_ne!(status, 0);
    assert!(stderr.contains("already exists"), "{stderr}");
}

/// Inputs in other formats and layouts translate (and give images of the expected size).
#[test]
fn other_image_formats_translate() {
    use image::{DynamicImage, ImageBuffer, ImageEncoder, Luma, Rgb, Rgba};
    let tmp = tempfile::tempdir().unwrap();
    let base = image::open(fixture("a.png")).unwrap();
    let mut cases: Vec<(String, usize, usize)> = Vec::new(); // (file, out w, out h)
    let save = |name: &str, img: &DynamicImage| {
        let path = tmp.path().join(name);
        img.save(&path).unwrap();
        path.display().to_string()
    };
    let gray = DynamicImage::ImageLuma8(base.to_luma8());
    cases.push((save("gray.png", &gray), 64, 64));
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(64, 64, |x, y| {
        let p = base.to_rgb8().get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], (x * 4) as u8])
    }));
    cases.push((save("rgba.png", &rgba), 64, 64));
    let deep = DynamicImage::ImageRgb16(ImageBuffer::from_fn(64, 64, |x, y| {
        let p = base.to_rgb8().get_pixel(x, y).0;
        Rgb([p[0] as u16 * 257, p[1] as u16 * 257, p[2] as u16 * 257])
    }));
    cases.push((save("deep.png", &deep), 64, 64));
    let gray16 =
        DynamicImage::ImageLuma16(ImageBuffer::from_fn(80, 64, |x, _| Luma([x as u16 * 800])));
    cases.push((save("gray16.png", &gray16), 80, 64));
    cases.push((
        save("plain.bmp", &DynamicImage::ImageRgb8(base.to_rgb8())),
        64,
        64,
    ));
    cases.push((
        save("lossless.webp", &DynamicImage::ImageRgba8(base.to_rgba8())),
        64,
        64,
    ));
    cases.push((
        save("photo.jpg", &DynamicImage::ImageRgb8(base.to_rgb8())),
        64,
        64,
    ));
    // Animated GIF: two frames; the first is used.
    let gif_path = tmp.path().join("anim.gif");
    {
        let file = std::fs::File::create(&gif_path).unwrap();
        let mut enc = image::codecs::gif::GifEncoder::new(file);
        let f1 = image::Frame::new(base.to_rgba8());
        let f2 = image::Frame::new(ImageBuffer::from_pixel(64, 64, Rgba([255, 0, 0, 255])));
        enc.encode_frames(vec![f1, f2]).unwrap();
    }
    cases.push((gif_path.display().to_string(), 64, 64));
    // CMYK JPEG (40x24 -> 106x64; the output side is 4 * floor(106 / 4) = 104).
    cases.push((image_fixture("cmyk.jpg").display().to_string(), 104, 64));
    // EXIF orientation 6 (rotate 90 degrees clockwise): a 96x64 landscape file is shown portrait.
    let exif_path = tmp.path().join("rotated.jpg");
    {
        let wide = base
            .resize_exact(96, 64, image::imageops::FilterType::Triangle)
            .to_rgb8();
        let file = std::fs::File::create(&exif_path).unwrap();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 95);
        enc.set_exif_metadata(exif_orientation(6)).unwrap();
        enc.write_image(&wide, 96, 64, image::ExtendedColorType::Rgb8)
            .unwrap();
    }
    cases.push((exif_path.display().to_string(), 64, 96));

    for (input, w, h) in cases {
        let out = tmp.path().join(format!(
            "out-{}",
            Path::new(&input).file_name().unwrap().to_string_lossy()
        ));
        let (status, _, stderr) = run(&[
            "translate",
            "--input",
            &input,
            "--output-dir",
            &out.display().to_string(),
            "--num-style",
            "1",
        ]);
        assert_eq!(status, 0, "{input}: {stderr}");
        let img = image::open(out.join("output_000.png")).unwrap();
        assert_eq!((img.width(), img.height()), (w as u32, h as u32), "{input}");
    }
}

/// A minimal big-endian TIFF/EXIF block with one Orientation entry.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    e.extend(1u16.to_be_bytes()); // one entry
    e.extend(0x0112u16.to_be_bytes()); // Orientation
    e.extend(3u16.to_be_bytes()); // SHORT
    e.extend(1u32.to_be_bytes()); // count
    e.extend(value.to_be_bytes());
    e.extend([0, 0]);
    e.extend(0u32.to_be_bytes()); // no next IFD
    e
}

/// Asserts a failure: non-zero exit, one `error:` line on stderr, no panic or backtrace.
fn assert_clean_failure(args: &[&str], must_contain: &str) {
    let (status, _, stderr) = run(args);
    assert_ne!(status, 0, "{args:?} should fail");
    assert!(status != 101, "panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains(&must_contain.to_lowercase()),
        "expected `{must_contain}` in: {stderr}"
    );
}

fn translate_input(input: &Path, needle: &str) {
    let out = tempfile::tempdir().unwrap();
    assert_clean_failure(
        &[
            "translate",
            "--input",
            &input.display().to_string(),
            "--output-dir",
            &out.path().display().to_string(),
            "--num-style",
            "1",
        ],
        needle,
    );
}

#[test]
fn bad_images_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    translate_input(&tmp.path().join("nope.png"), "does not exist");
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    translate_input(&empty, "empty");
    let truncated = tmp.path().join("truncated.png");
    let png = std::fs::read(fixture("a.png")).unwrap();
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    translate_input(&truncated, "cannot decode");
    let text = tmp.path().join("text.png");
    std::fs::write(&text, "this is not a picture\n").unwrap();
    translate_input(&text, "not an image");
    let bomb = tmp.path().join("bomb.png");
    std::fs::write(&bomb, png_header_only(100_000, 100_000)).unwrap();
    translate_input(&bomb, "too large");
    let wide_bomb = tmp.path().join("bomb2.png");
    std::fs::write(&wide_bomb, png_header_only(16_000, 16_000)).unwrap();
    translate_input(&wide_bomb, "too large");
    let tiny = tmp.path().join("tiny.png");
    image::RgbImage::new(300, 3).save(&tiny).unwrap();
    translate_input(&tiny, "aspect ratio");
}

/// A PNG whose header claims a huge size, followed by a tiny IDAT: a decompression bomb's shape.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        c.extend(crc32(&crc_input).to_be_bytes());
        c
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn with_checkpoint(bytes: &[u8], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("gen.pt");
    std::fs::write(&ckpt, bytes).unwrap();
    let out = tmp.path().join("out");
    let args = [
        "translate",
        "--input",
        &fixture("a.png").display().to_string(),
        "--output-dir",
        &out.display().to_string(),
        "--config",
        &fixture("config.yaml").display().to_string(),
        "--checkpoint",
        &ckpt.display().to_string(),
        "--device",
        "cpu",
        "--num-style",
        "1",
    ]
    .map(String::from);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, _, stderr) = run_cli(&refs);
    assert_ne!(status, 0);
    assert!(status != 101, "panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "expected `{needle}` in: {stderr}"
    );
    assert!(!out.join("output_000.png").exists());
}

fn real_dicts() -> (common::Dict, common::Dict) {
    use stylespace::checkpoint::{Kind, read_official};
    let pair = read_official(&fixture("gen.pt"), Kind::Generators).unwrap();
    (pair.a, pair.b)
}

#[test]
fn crafted_checkpoints_round_trip_through_the_test_writer() {
    // The writer used below produces files the loader accepts, for both formats.
    let (a, b) = real_dicts();
    for legacy in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("gen.pt");
        std::fs::write(&path, common::torch_pair(&a, &b, legacy)).unwrap();
        let back =
            stylespace::checkpoint::read_official(&path, stylespace::checkpoint::Kind::Generators)
                .unwrap();
        assert_eq!(back.a, a);
        assert_eq!(back.b, b);
    }
}

#[test]
fn bad_checkpoints_fail_cleanly() {
    let (a, b) = real_dicts();
    let key = "dec.model.2.conv.weight";
    let mut wrong_shape = a.clone();
    let (shape, values) = wrong_shape.get_mut(key).unwrap();
    shape[0] += 1;
    values.extend(vec![0.0; values.len() / (shape[0] - 1)]);
    with_checkpoint(&common::torch_pair(&wrong_shape, &b, false), key);
    with_checkpoint(
        &common::torch_pair(&wrong_shape, &b, false),
        "shape mismatch",
    );

    let mut missing = a.clone();
    missing.remove("mlp.model.2.fc.bias");
    with_checkpoint(
        &common::torch_pair(&missing, &b, true),
        "missing key `mlp.model.2.fc.bias`",
    );

    let mut extra = b.clone();
    extra.insert("dec.model.9.conv.weight".into(), (vec![1], vec![0.0]));
    with_checkpoint(&common::torch_pair(&a, &extra, false), "unexpected key");

    with_checkpoint(&common::torch_optimizer(), "optimizer");
    with_checkpoint(&common::torch_single_domain(&a), "only domain 'a'");
    let dis = std::fs::read(fixture("dis.pt")).unwrap();
    with_checkpoint(&dis, "discriminator");

    let full = std::fs::read(fixture("gen.pt")).unwrap();
    with_checkpoint(&full[..full.len() / 2], "zip");
    let legacy = std::fs::read(fixture("gen_legacy.pt")).unwrap();
    with_checkpoint(&legacy[..legacy.len() - 1000], "truncated");
    let mut noise = vec![0u8; 4096];
    let mut state = 12345u32;
    for b in noise.iter_mut() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (state >> 16) as u8;
    }
    noise[0] = 0x13; // not a zip or pickle header by chance
    with_checkpoint(&noise, "not a PyTorch checkpoint");
    with_checkpoint(b"", "empty");
}

#[test]
fn malicious_pickles_are_refused_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let sentinel = tmp.path().join("pwned");
    let command = format!("touch {}", sentinel.display());
    let pickle = common::malicious_pickle(&command);
    with_checkpoint(&common::torch_zip(&pickle, &[]), "posix.system");
    with_checkpoint(&common::torch_legacy(&pickle, &[]), "posix.system");
    with_checkpoint(
        &common::torch_legacy(&pickle, &[]),
        "never runs pickled code",
    );
    assert!(!sentinel.exists(), "the pickle's command must never run");
}

#[test]
fn bad_configs_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(fixture("config.yaml")).unwrap();
    let run_with = |text: &str, needle: &str| {
        let cfg = tmp.path().join("config.yaml");
        std::fs::write(&cfg, text).unwrap();
        let args = [
            "encode",
            "--input",
            &fixture("a.png").display().to_string(),
            "--config",
            &cfg.display().to_string(),
            "--checkpoint",
            &fixture("gen.pt").display().to_string(),
            "--device",
            "cpu",
        ]
        .map(String::from);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, _, stderr) = run_cli(&refs);
        assert_ne!(status, 0);
        assert!(status != 101, "panicked: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    };
    run_with(&yaml.replace("mlp_dim: 64", "mlp_dim: [64]"), "gen.mlp_dim");
    // Drop the `gen:` block (its header and indented lines) and keep everything else.
    let mut in_gen = false;
    let no_gen: String = yaml
        .lines()
        .filter(|l| {
            if l.starts_with("gen:") {
                in_gen = true;
            } else if !l.starts_with(' ') {
                in_gen = false;
            }
            !in_gen
        })
        .collect::<Vec<_>>()
        .join("\n");
    run_with(&no_gen, "`gen`");
    // A config whose architecture does not match the checkpoint: a shape error, named.
    run_with(
        &yaml.replace("mlp_dim: 64", "mlp_dim: 32"),
        "mlp.model.0.fc.weight",
    );
    run_with("gen: [", "config");
}

#[test]
fn help_is_available_for_every_command() {
    for cmd in [
        &["--help"][..],
        &["translate", "--help"],
        &["encode", "--help"],
        &["import", "--help"],
        &["bench", "--help"],
    ] {
        let (status, stdout, _) = run_cli(cmd);
        assert_eq!(status, 0);
        assert!(stdout.contains("Usage"), "{stdout}");
    }
}

/// The bundled default model (no --model): a line-art glyph it never saw in training becomes
/// colour images whose outlines stay where the input's are and whose colours differ per style.
#[test]
fn translate_without_a_model_uses_the_bundled_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/sample-1.png");
    let out = dir.path().join("out");
    let (code, _, stderr) = run_cli(&[
        "translate",
        "--input",
        input.to_str().unwrap(),
        "--num-style",
        "4",
        "--output-dir",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut outputs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    outputs.sort();
    assert_eq!(outputs.len(), 4, "{outputs:?}");
    let images: Vec<image::RgbImage> = outputs
        .iter()
        .map(|p| image::open(p).unwrap().to_rgb8())
        .collect();
    let (w, h) = images[0].dimensions();
    let line = image::imageops::resize(
        &image::open(&input).unwrap().to_luma8(),
        w,
        h,
        image::imageops::FilterType::Triangle,
    );
    let dark: Vec<usize> = (0..(w * h) as usize)
        .filter(|&i| line.as_raw()[i] < 100)
        .collect();
    assert!(dark.len() > 50);
    let luma = |p: &image::Rgb<u8>| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
    for img in &images {
        // Outlines stay: most of the input's line pixels are dark in the output.
        let kept = dark
            .iter()
            .filter(|&&i| luma(&img.pixels().nth(i).copied().unwrap()) < 110.0)
            .count();
        assert!(
            kept * 10 >= dark.len() * 7,
            "{kept} of {} line pixels kept",
            dark.len()
        );
        // Colour: some pixels are clearly saturated.
        let colourful = img
            .pixels()
            .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60)
            .count();
        assert!(
            colourful > (w * h / 20) as usize,
            "only {colourful} colourful pixels"
        );
    }
    // Styles differ.
    let diff = |a: &image::RgbImage, b: &image::RgbImage| {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y) as u64)
            .sum::<u64>() as f64
            / a.as_raw().len() as f64
    };
    for i in 1..4 {
        assert!(
            diff(&images[0], &images[i]) > 2.0,
            "style {i} looks like style 0"
        );
    }
}
