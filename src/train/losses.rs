//! MUNIT's training objectives, as the official trainer computes them (gen_update / dis_update).

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use super::evaluate::keep_mask;
use crate::config::Config;
use crate::io::image::image_from_chw;
use crate::model::{Generator, MsImageDis};

/// Loss weights of a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub gan_w: f64,
    pub recon_x_w: f64,
    pub recon_s_w: f64,
    pub recon_c_w: f64,
    pub recon_x_cyc_w: f64,
    /// stylespace's own (not in the official trainer): see [`Config::keep_w`].
    pub keep_w: f64,
}

impl From<&Config> for LossWeights {
    fn from(c: &Config) -> Self {
        Self {
            gan_w: c.gan_w,
            recon_x_w: c.recon_x_w,
            recon_s_w: c.recon_s_w,
            recon_c_w: c.recon_c_w,
            recon_x_cyc_w: c.recon_x_cyc_w,
            keep_w: c.keep_w,
        }
    }
}

/// Mean absolute error over all elements.
pub fn l1<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<1> {
    (a - b).abs().mean()
}

/// Mean absolute error over the elements where `mask` is 1 (0 when the mask is empty).
///
/// # Shapes
/// `a`, `b`, `mask`: the same shape; `mask` holds 0 or 1.
pub fn masked_l1<const D: usize>(a: Tensor<D>, b: Tensor<D>, mask: Tensor<D>) -> Tensor<1> {
    let count = mask.clone().sum();
    ((a - b).abs() * mask).sum() / count.clamp_min(1.0)
}

/// The `keep_w` loss's mask of a batch of domain-a images: 1 on each image's lines and outside
/// regions (see [`keep_mask`]), repeated over its channels.
///
/// # Shapes
/// `values`: `[batch, channels, h, w]` in [-1, 1], as `shape`; returns the same shape.
pub fn keep_mask_batch(values: &[f32], [batch, channels, h, w]: [usize; 4]) -> Vec<f32> {
    let per_image = channels * h * w;
    let mut mask = Vec::with_capacity(values.len());
    for image in values.chunks(per_image).take(batch) {
        let pixels = keep_mask(&image_from_chw(image, channels, h, w));
        for _ in 0..channels {
            mask.extend_from_slice(&pixels);
        }
    }
    mask
}

/// The generator step's terms (named as the official trainer's attributes) and total.
pub struct GenLosses {
    /// `(name, value)` in the official order; the explicit cycle terms only when weighted.
    pub terms: Vec<(&'static str, Tensor<1>)>,
    pub total: Tensor<1>,
    /// `[b, c, h, w]` translations a -> b and b -> a, for the discriminator step.
    pub x_ab: Tensor<4>,
    pub x_ba: Tensor<4>,
}

/// Both domains' networks.
pub struct Networks<'a> {
    pub gen_a: &'a Generator,
    pub gen_b: &'a Generator,
    pub dis_a: &'a MsImageDis,
    pub dis_b: &'a MsImageDis,
}

/// One generator step's losses.
///
/// # Shapes
/// `x_a`, `x_b`: `[b, c, h, w]`; `s_a`, `s_b` (styles drawn from the prior for domains a and b):
/// `[b, style_dim]`; `keep_a` (1 where `x_ab` should equal `x_a`, see [`Config::keep_w`]):
/// `[b, c, h, w]`, used when `w.keep_w > 0`.
pub fn gen_losses(
    nets: &Networks,
    x_a: Tensor<4>,
    x_b: Tensor<4>,
    s_a: Tensor<2>,
    s_b: Tensor<2>,
    keep_a: Option<Tensor<4>>,
    w: LossWeights,
) -> GenLosses {
    let [batch, style_dim] = s_a.dims();
    let flat = |s: Tensor<4>| s.reshape([batch, style_dim]);
    // Encode.
    let c_a = nets.gen_a.encode_content(x_a.clone());
    let s_a_prime = flat(nets.gen_a.encode_style(x_a.clone()));
    let c_b = nets.gen_b.encode_content(x_b.clone());
    let s_b_prime = flat(nets.gen_b.encode_style(x_b.clone()));
    // Decode within domain, and across domains with the prior styles.
    let x_a_recon = nets.gen_a.decode_style(c_a.clone(), s_a_prime.clone());
    let x_b_recon = nets.gen_b.decode_style(c_b.clone(), s_b_prime.clone());
    let x_ba = nets.gen_a.decode_style(c_b.clone(), s_a.clone());
    let x_ab = nets.gen_b.decode_style(c_a.clone(), s_b.clone());
    // Encode the translations again.
    let c_b_recon = nets.gen_a.encode_content(x_ba.clone());
    let s_a_recon = flat(nets.gen_a.encode_style(x_ba.clone()));
    let c_a_recon = nets.gen_b.encode_content(x_ab.clone());
    let s_b_recon = flat(nets.gen_b.encode_style(x_ab.clone()));

    let mut terms = vec![
        ("gen_recon_x_a", l1(x_a_recon, x_a.clone())),
        ("gen_recon_x_b", l1(x_b_recon, x_b.clone())),
        ("gen_recon_s_a", l1(s_a_recon, s_a)),
        ("gen_recon_s_b", l1(s_b_recon, s_b)),
        ("gen_recon_c_a", l1(c_a_recon.clone(), c_a)),
        ("gen_recon_c_b", l1(c_b_recon.clone(), c_b)),
    ];
    let mut weights = vec![
        w.recon_x_w,
        w.recon_x_w,
        w.recon_s_w,
        w.recon_s_w,
        w.recon_c_w,
        w.recon_c_w,
    ];
    if w.keep_w > 0.0
        && let Some(keep_a) = keep_a
    {
        terms.push(("gen_keep_ab", masked_l1(x_ab.clone(), x_a.clone(), keep_a)));
        weights.push(w.keep_w);
    }
    if w.recon_x_cyc_w > 0.0 {
        let x_aba = nets.gen_a.decode_style(c_a_recon, s_a_prime);
        let x_bab = nets.gen_b.decode_style(c_b_recon, s_b_prime);
        terms.push(("gen_cycrecon_x_a", l1(x_aba, x_a)));
        terms.push(("gen_cycrecon_x_b", l1(x_bab, x_b)));
        weights.extend([w.recon_x_cyc_w, w.recon_x_cyc_w]);
    }
    terms.push(("gen_adv_a", nets.dis_a.gen_loss(x_ba.clone())));
    terms.push(("gen_adv_b", nets.dis_b.gen_loss(x_ab.clone())));
    weights.extend([w.gan_w, w.gan_w]);
    let total = terms
        .iter()
        .zip(&weights)
        .map(|((_, t), &wt)| t.clone() * wt)
        .reduce(|a, b| a + b)
        .expect("at least one term");
    GenLosses {
        terms,
        total,
        x_ab,
        x_ba,
    }
}

/// The discriminator step's terms and total, on detached translations.
pub struct DisLosses {
    pub dis_a: Tensor<1>,
    pub dis_b: Tensor<1>,
    pub total: Tensor<1>,
}

/// # Shapes
/// all images `[b, c, h, w]`.
pub fn dis_losses(
    nets: &Networks,
    x_a: Tensor<4>,
    x_b: Tensor<4>,
    x_ba: Tensor<4>,
    x_ab: Tensor<4>,
    w: LossWeights,
) -> DisLosses {
    let dis_a = nets.dis_a.dis_loss(x_ba.detach(), x_a);
    let dis_b = nets.dis_b.dis_loss(x_ab.detach(), x_b);
    let total = dis_a.clone() * w.gan_w + dis_b.clone() * w.gan_w;
    DisLosses {
        dis_a,
        dis_b,
        total,
    }
}

/// Sum of squared gradients of every float parameter of `module` (missing gradients count 0).
pub fn grad_sq_sum<M: Module>(module: &M, grads: &Gradients) -> f64 {
    struct Visitor<'a> {
        grads: &'a Gradients,
        sum: f64,
    }
    impl ModuleVisitor for Visitor<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = param.val().grad(self.grads) {
                let values = crate::model::params::to_vec(g);
                self.sum += values
                    .iter()
                    .map(|v| (*v as f64) * (*v as f64))
                    .sum::<f64>();
            }
        }
    }
    let mut visitor = Visitor { grads, sum: 0.0 };
    module.visit(&mut visitor);
    visitor.sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::to_vec;
    use burn::tensor::TensorData;

    #[test]
    fn masked_l1_averages_only_where_the_mask_is_set() {
        let device = Device::flex();
        let t = |v: [f32; 4]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 2]), &device);
        let a = t([1.0, 2.0, 3.0, 4.0]);
        let b = t([0.0, 0.0, 0.0, 10.0]);
        let value = |mask| to_vec(masked_l1(a.clone(), b.clone(), mask))[0];
        assert_eq!(value(t([1.0, 0.0, 1.0, 0.0])), 2.0); // (1 + 3) / 2
        assert_eq!(value(t([0.0, 0.0, 0.0, 1.0])), 6.0);
        assert_eq!(value(t([0.0; 4])), 0.0, "an empty mask is no loss, not NaN");
    }

    #[test]
    fn keep_mask_covers_lines_and_the_background_of_every_image_and_channel() {
        // Two 3-channel 12x12 images in [-1, 1]: white with a black square outline at 3..=8;
        // the second has its outline one pixel wider.
        let (h, w) = (12, 12);
        let mut values = Vec::new();
        for k in 0..2 {
            for _ in 0..3 {
                for y in 0..h {
                    for x in 0..w {
                        let on = |v: usize| (3..=8 + k).contains(&v);
                        let line =
                            (on(x) && (y == 3 || y == 8 + k)) || (on(y) && (x == 3 || x == 8 + k));
                        values.push(if line { -1.0 } else { 1.0 });
                    }
                }
            }
        }
        let mask = keep_mask_batch(&values, [2, 3, h, w]);
        assert_eq!(mask.len(), values.len());
        let at = |k: usize, c: usize, x: usize, y: usize| mask[((k * 3 + c) * h + y) * w + x];
        for k in 0..2 {
            for c in 0..3 {
                assert_eq!(at(k, c, 3, 5), 1.0, "line");
                assert_eq!(at(k, c, 0, 0), 1.0, "background");
                assert_eq!(at(k, c, 5, 5), 0.0, "inside");
                assert_eq!(at(k, c, 2, 5), 1.0, "background right next to the outline");
                assert_eq!(at(k, c, 4, 5), 0.0, "inside right next to the outline");
            }
        }
        assert_eq!(at(0, 0, 11, 11), 1.0);
        assert_eq!(at(1, 0, 9, 6), 1.0, "the second image's own outline");
        assert_eq!(at(0, 0, 8, 6), 1.0, "the first image's outline");
        assert_eq!(
            at(1, 0, 8, 6),
            0.0,
            "inside the second image's wider outline"
        );
    }
}
