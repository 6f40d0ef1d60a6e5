//! Principal component analysis of a set of style codes: the directions along which encoded
//! styles vary most (GANSpace's idea, applied to a translation model's style space), for the
//! style map and the principal-direction sliders.
//!
//! Codes are short (8 numbers for MUNIT and DRIT), so the sample covariance is a small symmetric
//! matrix, diagonalised exactly by cyclic Jacobi rotations in f64.

/// Why a set of codes has no principal axes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PcaError {
    #[error("principal directions need at least 2 codes, got {0}")]
    TooFew(usize),
    #[error("code {index} has {found} values; the first has {expected}")]
    Dim {
        index: usize,
        expected: usize,
        found: usize,
    },
    #[error("code {0} holds a value that is not finite")]
    NotFinite(usize),
}

/// The principal axes of a set of codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    pub mean: Vec<f32>,
    /// Unit axes, largest variance first; each axis's largest component is positive (a fixed
    /// sign, so the same set always gives the same axes).
    pub axes: Vec<Vec<f32>>,
    /// Sample variance (n - 1 denominator) along each axis.
    pub variances: Vec<f32>,
}

impl Pca {
    /// Fits the axes of `codes` (all of one length, at least two).
    pub fn fit(codes: &[Vec<f32>]) -> Result<Self, PcaError> {
        if codes.len() < 2 {
            return Err(PcaError::TooFew(codes.len()));
        }
        let dim = codes[0].len();
        for (index, code) in codes.iter().enumerate() {
            if code.len() != dim {
                return Err(PcaError::Dim {
                    index,
                    expected: dim,
                    found: code.len(),
                });
            }
            if code.iter().any(|v| !v.is_finite()) {
                return Err(PcaError::NotFinite(index));
            }
        }
        let n = codes.len() as f64;
        let mut mean = vec![0.0f64; dim];
        for code in codes {
            for (m, v) in mean.iter_mut().zip(code) {
                *m += f64::from(*v) / n;
            }
        }
        let mut cov = vec![vec![0.0f64; dim]; dim];
        for code in codes {
            let centred: Vec<f64> = code
                .iter()
                .zip(&mean)
                .map(|(v, m)| f64::from(*v) - m)
                .collect();
            for (row, ci) in cov.iter_mut().zip(&centred) {
                for (value, cj) in row.iter_mut().zip(&centred) {
                    *value += ci * cj / (n - 1.0);
                }
            }
        }
        let (values, vectors) = jacobi_eigen(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let axes = order
            .iter()
            .map(|&k| {
                let mut axis: Vec<f64> = (0..dim).map(|i| vectors[i][k]).collect();
                let largest = axis
                    .iter()
                    .copied()
                    .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                    .unwrap_or(1.0);
                if largest < 0.0 {
                    axis.iter_mut().for_each(|v| *v = -*v);
                }
                axis.into_iter().map(|v| v as f32).collect()
            })
            .collect();
        Ok(Self {
            mean: mean.into_iter().map(|v| v as f32).collect(),
            axes,
            variances: order.iter().map(|&k| values[k].max(0.0) as f32).collect(),
        })
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Each axis's share of the total variance (zeros when the codes are all equal).
    pub fn explained_variance_ratio(&self) -> Vec<f32> {
        let total: f32 = self.variances.iter().sum();
        self.variances
            .iter()
            .map(|v| if total > 0.0 { v / total } else { 0.0 })
            .collect()
    }

    /// Coordinates of `code` (minus the mean) on the first `k` axes.
    pub fn project(&self, code: &[f32], k: usize) -> Vec<f32> {
        self.axes
            .iter()
            .take(k)
            .map(|axis| {
                (axis.iter().zip(code).zip(&self.mean))
                    .map(|((a, c), m)| f64::from(*a) * f64::from(c - m))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// Coordinates of `code` on the first two axes (a style map's plane).
    pub fn plane(&self, code: &[f32]) -> [f32; 2] {
        let c = self.project(code, 2);
        [c[0], c.get(1).copied().unwrap_or(0.0)]
    }

    /// The code whose coordinates on the first axes are `coords`, with `base`'s component
    /// outside those axes. Moves `base` by the coordinate differences, so coordinates equal to
    /// `project(base)` give `base` back exactly.
    pub fn with_coords(&self, base: &[f32], coords: &[f32]) -> Vec<f32> {
        let from = self.project(base, coords.len());
        let mut code = base.to_vec();
        for ((axis, to), from) in self.axes.iter().zip(coords).zip(from) {
            let delta = to - from;
            if delta != 0.0 {
                for (c, a) in code.iter_mut().zip(axis) {
                    *c += delta * a;
                }
            }
        }
        code
    }
}

/// Eigenvalues and eigenvectors (as columns) of a symmetric matrix, by cyclic Jacobi rotations.
// Rotations act on rows and columns p and q of two matrices: indices read like the textbook.
#[allow(clippy::needless_range_loop)]
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, symmetric Schur).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::styles::sample_styles;

    /// Codes with known principal axes: an orthonormal basis (a rotation of the standard one)
    /// scaled by known standard deviations, sampled from N(0, 1) draws.
    fn synthetic(n: usize) -> (Vec<Vec<f32>>, Vec<Vec<f64>>, Vec<f64>) {
        let dim = 4;
        // Two planar rotations make a basis that is not axis-aligned.
        let (c1, s1) = (0.6f64, 0.8f64);
        let (c2, s2) = (0.28f64, 0.96f64);
        let basis = vec![
            vec![c1, s1, 0.0, 0.0],
            vec![0.0, 0.0, c2, s2],
            vec![-s1, c1, 0.0, 0.0],
            vec![0.0, 0.0, -s2, c2],
        ];
        let sds = [3.0, 2.0, 1.0, 0.5];
        let mean = [1.0, -2.0, 0.5, 0.0];
        let draws = sample_styles(n, dim, 77);
        // Whiten the draws exactly (so the sample covariance is exactly the target one): Gram-
        // Schmidt on the centred columns.
        let mut cols: Vec<Vec<f64>> = (0..dim)
            .map(|k| draws.iter().map(|d| f64::from(d[k])).collect())
            .collect();
        for k in 0..dim {
            let m = cols[k].iter().sum::<f64>() / n as f64;
            cols[k].iter_mut().for_each(|v| *v -= m);
            for j in 0..k {
                let dot: f64 = cols[k].iter().zip(&cols[j]).map(|(a, b)| a * b).sum();
                let (head, tail) = cols.split_at_mut(k);
                tail[0]
                    .iter_mut()
                    .zip(&head[j])
                    .for_each(|(a, b)| *a -= dot * b);
            }
            let norm = cols[k].iter().map(|v| v * v).sum::<f64>().sqrt();
            cols[k].iter_mut().for_each(|v| *v /= norm);
        }
        // Unit columns -> columns of sample variance 1.
        let unit = (n as f64 - 1.0).sqrt();
        cols.iter_mut().flatten().for_each(|v| *v *= unit);
        let codes = (0..n)
            .map(|i| {
                (0..dim)
                    .map(|d| {
                        let v: f64 = (0..dim).map(|k| cols[k][i] * sds[k] * basis[k][d]).sum();
                        (mean[d] + v) as f32
                    })
                    .collect()
            })
            .collect();
        (codes, basis, sds.iter().map(|s| s * s).collect())
    }

    #[test]
    fn recovers_known_axes_and_variances() {
        let (codes, basis, variances) = synthetic(200);
        let pca = Pca::fit(&codes).unwrap();
        for (k, axis) in pca.axes.iter().enumerate() {
            let dot: f64 = axis
                .iter()
                .zip(&basis[k])
                .map(|(a, b)| f64::from(*a) * b)
                .sum();
            assert!(
                (dot.abs() - 1.0).abs() < 1e-4,
                "axis {k}: |dot| = {}",
                dot.abs()
            );
            let var = f64::from(pca.variances[k]);
            assert!(
                (var - variances[k]).abs() < 1e-4 * variances[k],
                "{var} vs {}",
                variances[k]
            );
        }
        let ratio = pca.explained_variance_ratio();
        let total: f64 = variances.iter().sum();
        assert!((f64::from(ratio[0]) - 9.0 / total).abs() < 1e-5);
        assert!((ratio.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn projecting_and_inverting_returns_the_code() {
        let (codes, _, _) = synthetic(50);
        let pca = Pca::fit(&codes).unwrap();
        for code in codes.iter().take(10) {
            let coords = pca.project(code, 2);
            assert_eq!(
                pca.with_coords(code, &coords),
                *code,
                "unchanged coordinates"
            );
            // Moving in the plane and back is the code again to 1e-5; the part outside the
            // plane never changes.
            let moved = pca.with_coords(code, &[coords[0] + 1.5, coords[1] - 0.5]);
            let moved_coords = pca.project(&moved, 4);
            assert!((moved_coords[0] - coords[0] - 1.5).abs() < 1e-4);
            let rest = pca.project(code, 4);
            assert!((moved_coords[2] - rest[2]).abs() < 1e-4);
            assert!((moved_coords[3] - rest[3]).abs() < 1e-4);
            let back = pca.with_coords(&moved, &coords);
            for (b, c) in back.iter().zip(code) {
                assert!((b - c).abs() < 1e-5, "{b} vs {c}");
            }
        }
    }

    #[test]
    fn rejects_sets_without_axes() {
        assert_eq!(Pca::fit(&[vec![1.0]]), Err(PcaError::TooFew(1)));
        let mixed = vec![vec![1.0, 2.0], vec![1.0]];
        assert!(matches!(
            Pca::fit(&mixed),
            Err(PcaError::Dim { index: 1, .. })
        ));
        let nan = vec![vec![1.0, 2.0], vec![f32::NAN, 0.0]];
        assert_eq!(Pca::fit(&nan), Err(PcaError::NotFinite(1)));
        // Identical codes: axes exist, nothing is explained.
        let same = Pca::fit(&[vec![1.0, 2.0], vec![1.0, 2.0]]).unwrap();
        assert_eq!(same.explained_variance_ratio(), vec![0.0, 0.0]);
    }
}
