//! MUNIT's training objectives, as the official trainer computes them (gen_update / dis_update).

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::config::Config;
use crate::model::{Generator, MsImageDis};

/// Loss weights of a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub gan_w: f64,
    pub recon_x_w: f64,
    pub recon_s_w: f64,
    pub recon_c_w: f64,
    pub recon_x_cyc_w: f64,
}

impl From<&Config> for LossWeights {
    fn from(c: &Config) -> Self {
        Self {
            gan_w: c.gan_w,
            recon_x_w: c.recon_x_w,
            recon_s_w: c.recon_s_w,
            recon_c_w: c.recon_c_w,
            recon_x_cyc_w: c.recon_x_cyc_w,
        }
    }
}

/// Mean absolute error over all elements.
pub fn l1<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<1> {
    (a - b).abs().mean()
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
/// `[b, style_dim]`.
pub fn gen_losses(
    nets: &Networks,
    x_a: Tensor<4>,
    x_b: Tensor<4>,
    s_a: Tensor<2>,
    s_b: Tensor<2>,
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
