//! Style codes: sampling from the N(0, I) prior, parsing, interpolation, and named sets of codes
//! as JSON files.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// `count` style codes of `dim` values drawn from N(0, I) with a seeded generator.
pub fn sample_styles(count: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect())
        .collect()
}

/// Parses "v1,v2,..." into a code of exactly `dim` finite values.
pub fn parse_style_code(text: &str, dim: usize) -> Result<Vec<f32>, String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{s}` is not a finite number"))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != dim {
        return Err(format!(
            "a style code needs {dim} comma-separated values, found {}",
            values.len()
        ));
    }
    Ok(values)
}

/// Where a code sits against the N(0, I) prior: its norm and the fraction of prior samples with
/// a smaller norm (the chi distribution's CDF with `dim` degrees of freedom).
pub fn prior_percentile(code: &[f32]) -> (f64, f64) {
    let norm = code.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    (norm, chi_square_cdf(norm * norm, code.len()))
}

/// Regularised lower incomplete gamma P(k/2, x/2) by its series (fine for the small k used here).
fn chi_square_cdf(x: f64, k: usize) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let s = k as f64 / 2.0;
    let z = x / 2.0;
    let mut term = 1.0 / s;
    let mut sum = term;
    for n in 1..500 {
        term *= z / (s + n as f64);
        sum += term;
        if term < sum * 1e-15 {
            break;
        }
    }
    let ln = s * z.ln() - z - ln_gamma(s) + sum.ln();
    ln.exp().clamp(0.0, 1.0)
}

/// ln Γ(s) for s a positive multiple of 1/2.
fn ln_gamma(s: f64) -> f64 {
    // Γ(n) = (n-1)!, Γ(n + 1/2) = (2n)! sqrt(pi) / (4^n n!)
    let mut value: f64 = if (s.fract() - 0.5).abs() < 1e-9 {
        std::f64::consts::PI.sqrt().ln()
    } else {
        0.0
    };
    let mut t = if s.fract() > 0.0 { 0.5 } else { 1.0 };
    while t < s - 1e-9 {
        value += t.ln();
        t += 1.0;
    }
    value
}

/// Linear interpolation between two codes.
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + (y - x) * t).collect()
}

/// Spherical interpolation between two codes (falls back to lerp for (anti)parallel codes).
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cos = (dot / (na * nb).max(f32::MIN_POSITIVE)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.sin().abs() < 1e-4 {
        return lerp(a, b, t);
    }
    let (wa, wb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect()
}

/// A point on a path through `keyframes` (two or more codes of one length) at `t` in [0, 1]:
/// each segment takes a share of `t` proportional to its length, so the path runs at an even
/// pace, and is interpolated linearly or spherically. Keyframes that coincide take no time.
pub fn path_point(keyframes: &[Vec<f32>], t: f32, spherical: bool) -> Vec<f32> {
    match keyframes {
        [] => return Vec::new(),
        [only] => return only.clone(),
        _ => {}
    }
    let lengths: Vec<f32> = keyframes
        .windows(2)
        .map(|w| distance(&w[0], &w[1]))
        .collect();
    let total: f32 = lengths.iter().sum();
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let segment = |i: usize, u: f32| {
        let (a, b) = (&keyframes[i], &keyframes[i + 1]);
        match spherical {
            true => slerp(a, b, u),
            false => lerp(a, b, u),
        }
    };
    if total <= 0.0 {
        // Every keyframe the same point, or equal time per segment when no lengths exist.
        let n = lengths.len() as f32;
        let i = ((t * n) as usize).min(lengths.len() - 1);
        return segment(i, t * n - i as f32);
    }
    let mut along = t * total;
    for (i, length) in lengths.iter().enumerate() {
        if along <= *length || i == lengths.len() - 1 {
            let u = if *length > 0.0 { along / length } else { 1.0 };
            return segment(i, u.clamp(0.0, 1.0));
        }
        along -= length;
    }
    unreachable!("the last segment returns")
}

/// `n` codes evenly along a path (see [`path_point`]): from the first keyframe to the last, or,
/// for a `closed` path (its last keyframe equal to its first), without repeating the start.
pub fn path_frames(
    keyframes: &[Vec<f32>],
    n: usize,
    spherical: bool,
    closed: bool,
) -> Vec<Vec<f32>> {
    let steps = match closed {
        true => n.max(1),
        false => n.max(2) - 1,
    };
    (0..n)
        .map(|i| path_point(keyframes, i as f32 / steps as f32, spherical))
        .collect()
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Most codes a style-code set may hold (the saved-codes list shows each).
pub const MAX_CODES: usize = 10_000;
/// Largest style-code file read; [`MAX_CODES`] codes of 512 values fit well within it.
pub const MAX_STYLE_FILE_BYTES: u64 = 64 << 20;
/// Largest code length accepted from a file (MUNIT's and DRIT's are 8).
pub const MAX_STYLE_DIM: usize = 4096;

/// A named set of style codes, as saved and loaded by the app (JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StyleSet {
    pub style_dim: usize,
    #[serde(deserialize_with = "bounded_codes")]
    pub codes: Vec<NamedCode>,
}

/// The codes of a set, refused as soon as there are more than [`MAX_CODES`] (before the rest
/// of the file is read into memory).
fn bounded_codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<NamedCode>, D::Error> {
    struct Codes;
    impl<'de> serde::de::Visitor<'de> for Codes {
        type Value = Vec<NamedCode>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_CODES} named codes")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut codes = Vec::new();
            while let Some(code) = seq.next_element::<NamedCode>()? {
                if codes.len() == MAX_CODES {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_CODES} codes"
                    )));
                }
                codes.push(code);
            }
            Ok(codes)
        }
    }
    d.deserialize_seq(Codes)
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedCode {
    pub name: String,
    pub code: Vec<f32>,
}

impl StyleSet {
    /// Reads a style-set file (refused unread when larger than [`MAX_STYLE_FILE_BYTES`]), then
    /// [`StyleSet::from_json`].
    pub fn read(path: &std::path::Path, expected_dim: Option<usize>) -> Result<Self, String> {
        let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        if size > MAX_STYLE_FILE_BYTES {
            return Err(format!(
                "{:.0} MB is too large for a style-code file (at most {} MB)",
                size as f64 / 1e6,
                MAX_STYLE_FILE_BYTES >> 20
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "not a style-code file (not text)")?;
        Self::from_json(&text, expected_dim)
    }

    /// Parses and checks a style-set file: every code must have `style_dim` finite values.
    pub fn from_json(text: &str, expected_dim: Option<usize>) -> Result<Self, String> {
        let set: StyleSet =
            serde_json::from_str(text).map_err(|e| format!("not a style-code file: {e}"))?;
        if set.style_dim == 0 || set.style_dim > MAX_STYLE_DIM {
            return Err(format!(
                "style_dim {} is not a code length (1 to {MAX_STYLE_DIM})",
                set.style_dim
            ));
        }
        if let Some(dim) = expected_dim
            && set.style_dim != dim
        {
            return Err(format!(
                "the codes have {} values, the model's style_dim is {dim}",
                set.style_dim
            ));
        }
        for code in &set.codes {
            if code.code.len() != set.style_dim {
                return Err(format!(
                    "code \"{}\" has {} values, expected {}",
                    code.name,
                    code.code.len(),
                    set.style_dim
                ));
            }
            if code.code.iter().any(|v| !v.is_finite()) {
                return Err(format!("code \"{}\" has a non-finite value", code.name));
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pass_through_every_keyframe_at_an_even_pace() {
        let keys = vec![vec![0.0, 0.0], vec![3.0, 0.0], vec![3.0, 1.0]];
        assert_eq!(path_point(&keys, 0.0, false), vec![0.0, 0.0]);
        assert_eq!(path_point(&keys, 1.0, false), vec![3.0, 1.0]);
        // Length 3 then 1: the middle keyframe at t = 3/4, half way along the first at 3/8.
        assert_eq!(path_point(&keys, 0.75, false), vec![3.0, 0.0]);
        assert_eq!(path_point(&keys, 0.375, false), vec![1.5, 0.0]);
        assert_eq!(path_point(&keys, 0.875, false), vec![3.0, 0.5]);
        // Spherical segments keep to the keyframes too.
        let round = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![-1.0, 0.0]];
        let mid = path_point(&round, 0.25, true);
        assert!((mid[0] - mid[1]).abs() < 1e-6 && (mid[0] - 0.5f32.sqrt()).abs() < 1e-6);
        // Frames: open paths end on the last keyframe; closed ones do not repeat the start.
        let open = path_frames(&keys, 5, false, false);
        assert_eq!(open.first(), keys.first());
        assert_eq!(open.last(), keys.last());
        let mut closed_keys = keys.clone();
        closed_keys.push(keys[0].clone());
        let closed = path_frames(&closed_keys, 4, false, true);
        assert_eq!(closed.len(), 4);
        assert_eq!(closed[0], keys[0]);
        assert_ne!(closed[3], keys[0]);
        // Degenerate paths.
        let same = vec![vec![1.0, 2.0], vec![1.0, 2.0]];
        assert_eq!(path_point(&same, 0.5, true), vec![1.0, 2.0]);
        assert_eq!(path_point(&keys, f32::NAN, false), vec![0.0, 0.0]);
    }

    #[test]
    fn sampling_is_seeded_and_roughly_standard() {
        let a = sample_styles(2000, 8, 7);
        assert_eq!(a, sample_styles(2000, 8, 7));
        assert_ne!(a[0], sample_styles(1, 8, 8)[0]);
        let all: Vec<f32> = a.concat();
        let mean = all.iter().sum::<f32>() / all.len() as f32;
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / all.len() as f32;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn parses_codes_and_rejects_bad_ones() {
        assert_eq!(
            parse_style_code("1, -2.5,3", 3).unwrap(),
            vec![1.0, -2.5, 3.0]
        );
        assert!(parse_style_code("1,2", 3).unwrap_err().contains("needs 3"));
        assert!(parse_style_code("1,x,3", 3).unwrap_err().contains("`x`"));
        assert!(parse_style_code("1,nan,3", 3).is_err());
    }

    #[test]
    fn chi_square_cdf_matches_known_values() {
        // Median of chi-square with 8 dof is 7.344; with 2 dof, CDF(x) = 1 - exp(-x/2).
        assert!((chi_square_cdf(7.344, 8) - 0.5).abs() < 1e-3);
        assert!((chi_square_cdf(3.0, 2) - (1.0 - (-1.5f64).exp())).abs() < 1e-9);
        let (norm, p) = prior_percentile(&[0.0; 8]);
        assert_eq!((norm, p), (0.0, 0.0));
    }

    #[test]
    fn slerp_hits_endpoints_and_keeps_norm_between_unit_codes() {
        let a = [1.0, 0.0];
        let b = [0.0, 1.0];
        assert_eq!(slerp(&a, &b, 0.0), vec![1.0, 0.0]);
        let mid = slerp(&a, &b, 0.5);
        assert!((mid[0].hypot(mid[1]) - 1.0).abs() < 1e-6);
        assert_eq!(lerp(&a, &b, 0.5), vec![0.5, 0.5]);
    }

    #[test]
    fn style_sets_are_checked() {
        let good = r#"{"style_dim": 2, "codes": [{"name": "x", "code": [0.5, -1]}]}"#;
        assert_eq!(
            StyleSet::from_json(good, Some(2)).unwrap().codes[0].code,
            [0.5, -1.0]
        );
        assert!(
            StyleSet::from_json(good, Some(8))
                .unwrap_err()
                .contains("style_dim is 8")
        );
        let short = r#"{"style_dim": 2, "codes": [{"name": "x", "code": [0.5]}]}"#;
        assert!(
            StyleSet::from_json(short, None)
                .unwrap_err()
                .contains("has 1 values")
        );
        assert!(StyleSet::from_json("[1, 2", None).is_err());
    }

    /// What strangers' files hold: NaN (not JSON), infinities (out of f32 range), other code
    /// lengths, absurd dimensions, too many codes, too large a file, bytes that are not text.
    #[test]
    fn bad_style_sets_are_refused_with_a_reason() {
        let one = |code: &str| {
            format!(r#"{{"style_dim": 2, "codes": [{{"name": "x", "code": {code}}}]}}"#)
        };
        for (text, needle) in [
            (one("[NaN, 1]"), "not a style-code file"),
            (one("[1e39, 1]"), "non-finite value"),
            (one("[-1e400, 1]"), "not a style-code file"),
            (one("[1, 2, 3]"), "has 3 values"),
            (
                r#"{"style_dim": 0, "codes": []}"#.to_string(),
                "not a code length",
            ),
            (
                r#"{"style_dim": 99999999, "codes": []}"#.to_string(),
                "not a code length",
            ),
            ("".to_string(), "not a style-code file"),
        ] {
            let err = StyleSet::from_json(&text, None).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        // A million codes: refused at the ten-thousand-and-first, not after reading them all.
        let mut many = String::from(r#"{"style_dim": 1, "codes": ["#);
        for i in 0..1_000_000 {
            if i > 0 {
                many.push(',');
            }
            many.push_str(r#"{"name":"c","code":[0]}"#);
        }
        many.push_str("]}");
        let err = StyleSet::from_json(&many, None).unwrap_err();
        assert!(err.contains("more than 10000 codes"), "{err}");
        // Files: too large (sparse, nothing written), not text.
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.json");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_STYLE_FILE_BYTES + 1)
            .unwrap();
        assert!(
            StyleSet::read(&huge, None)
                .unwrap_err()
                .contains("too large")
        );
        let binary = dir.path().join("binary.json");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        assert!(
            StyleSet::read(&binary, None)
                .unwrap_err()
                .contains("not text")
        );
    }
}
