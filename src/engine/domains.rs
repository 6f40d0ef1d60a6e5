//! Which domain an image most likely comes from, judged by the model itself. Each domain's
//! autoencoder (its content and style encoders, then its decoder) is trained to reproduce that
//! domain's images (the within-domain reconstruction loss, weighted 10 in MUNIT and UNIT), so
//! the domain that reproduces an image with the smaller error is the likelier source; an image
//! that neither reproduces well is unlike both training sets (a photo given to an emoji model).

use burn::prelude::*;

use super::{EngineError, Model};
use crate::Domain;
use crate::model::params::to_vec;

/// Mean absolute reconstruction error (values in [-1, 1]) above which an image counts as far
/// from a domain. Measured with the bundled model (`stylespace domains`, 128 px): the 108
/// test-split glyphs it never saw reconstruct at 0.010-0.428 in their better domain (the top one
/// a cityscape that fills its whole frame, the next 0.320), scikit-image's cat photo at 0.716.
/// (The 64 px model bundled before it: glyphs 0.012-0.302, four photos 0.415-0.531, and 0.35.)
pub const FAR_FROM_DOMAINS: f32 = 0.55;

/// One domain's autoencoder counts as reproducing an image better only when its error is under
/// this share of the other's. Where one domain's images are nearly a case of the other's (line art
/// is a colour glyph with white fills to it), that domain's autoencoder reproduces both, and a
/// plain comparison would tag by a hair: with the 128 px model of the bundled model's training
/// plan (iteration 10,250) the line art of `assets/samples/sample-1.png` reconstructs at 0.0224
/// in a and 0.0224 in b, and 5 of its 54 line-art and 5 of its 54 colour test glyphs fall within
/// 10 % (left open; 1 and 2 wrong, against 1 and 5 wrong with a plain comparison).
pub const CLEARLY_BETTER: f32 = 0.9;

/// How well each domain's autoencoder reproduces an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DomainFit {
    /// Mean absolute reconstruction error through domain A's and domain B's autoencoder.
    pub errors: [f32; 2],
}

impl DomainFit {
    pub fn error(&self, domain: Domain) -> f32 {
        self.errors[domain.index()]
    }

    /// The domain whose autoencoder reproduces the image clearly better (its error under
    /// [`CLEARLY_BETTER`] times the other's); `None` when the two are closer than that.
    pub fn likely(&self) -> Option<Domain> {
        let [a, b] = self.errors;
        if b < CLEARLY_BETTER * a {
            Some(Domain::B)
        } else if a < CLEARLY_BETTER * b {
            Some(Domain::A)
        } else {
            None
        }
    }

    /// [`Self::likely`] as shown to people: "a", "b", or "a or b" when it is open.
    pub fn likely_name(&self) -> String {
        self.likely()
            .map_or_else(|| "a or b".to_string(), |d| d.to_string())
    }

    /// Neither domain reproduces the image well: translations of it are unreliable.
    pub fn far_from_both(&self) -> bool {
        self.errors[0].min(self.errors[1]) > FAR_FROM_DOMAINS
    }
}

impl Model {
    /// Reconstructs the image through each domain's autoencoder and measures the error (see the
    /// module docs). Two content encodes (cached), two style encodes and two decodes.
    pub fn domain_fit(
        &mut self,
        image: &image::DynamicImage,
        name: &str,
    ) -> Result<DomainFit, EngineError> {
        let mut errors = [0.0; 2];
        for domain in [Domain::A, Domain::B] {
            let x = self.prepare(image, domain, name)?;
            let content = self.content(domain, &x);
            let style = self.style(domain, &x).map(|s| s.code);
            let reconstruction = self.decode(domain, content, style.as_deref())?;
            errors[domain.index()] = mean_abs_error(&x.data, x.shape(), reconstruction);
        }
        Ok(DomainFit { errors })
    }
}

/// Mean |x - y| over the region both cover (a decoder's output can be a few pixels smaller than
/// its input when a side is not a multiple of its downsampling factor).
///
/// # Shapes
/// `x`: `shape` = `[1, c, h, w]`; `y`: `[1, c, h', w']`.
fn mean_abs_error(x: &[f32], shape: [usize; 4], y: Tensor<4>) -> f32 {
    let [_, c, h, w] = shape;
    let [_, yc, yh, yw] = y.dims();
    let y = to_vec(y);
    let (cc, hh, ww) = (c.min(yc), h.min(yh), w.min(yw));
    let mut sum = 0.0f64;
    for ch in 0..cc {
        for row in 0..hh {
            let xs = &x[(ch * h + row) * w..][..ww];
            let ys = &y[(ch * yh + row) * yw..][..ww];
            sum += xs
                .iter()
                .zip(ys)
                .map(|(a, b)| f64::from((a - b).abs()))
                .sum::<f64>();
        }
    }
    (sum / (cc * hh * ww).max(1) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_likelier_domain_reproduces_clearly_better_and_far_needs_both_far() {
        let fit = DomainFit {
            errors: [0.12, 0.03],
        };
        assert_eq!(fit.likely(), Some(Domain::B));
        assert!(!fit.far_from_both());
        let far = DomainFit {
            errors: [FAR_FROM_DOMAINS + 0.2, FAR_FROM_DOMAINS + 0.01],
        };
        assert_eq!(far.likely(), Some(Domain::B));
        assert!(far.far_from_both());
        // Close errors leave the domain open, whichever is lower.
        for errors in [[0.1, 0.1], [0.1, 0.095], [0.095, 0.1]] {
            assert_eq!(DomainFit { errors }.likely(), None, "{errors:?}");
        }
        assert_eq!(
            DomainFit {
                errors: [0.08, 0.1]
            }
            .likely(),
            Some(Domain::A)
        );
    }

    #[test]
    fn errors_are_taken_over_the_common_region() {
        let device = Device::flex();
        // x: 1x2x3 of zeros; y: 1x2x2 of ones except one 3 -> mean over 4 values.
        let x = vec![0.0; 6];
        let y = Tensor::<4>::from_data(
            TensorData::new(vec![1.0, 1.0, 1.0, 3.0], [1, 1, 2, 2]),
            &device,
        );
        assert!((mean_abs_error(&x, [1, 1, 2, 3], y) - 1.5).abs() < 1e-6);
    }
}
