//! MUNIT's training objectives, as the official trainer computes them (gen_update / dis_update).

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use super::evaluate::{fill_mask, halo_mask, keep_mask, line_mask, silhouette_keep_mask};
use crate::config::{Config, MsForm};
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
    /// stylespace's own: see [`Config::halo_w`] and [`Config::keep_margin`].
    pub halo_w: f64,
    /// stylespace's own: see [`Config::line_w`].
    pub line_w: f64,
    pub keep_margin: f64,
    /// stylespace's own: see [`Config::ms_w`] and [`Config::ms_cap`].
    pub ms_w: f64,
    pub ms_cap: f64,
    pub ms_form: MsForm,
    /// stylespace's own: see [`Config::chroma_w`] and [`Config::chroma_floor`].
    pub chroma_w: f64,
    pub chroma_floor: f64,
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
            halo_w: c.halo_w,
            line_w: c.line_w,
            keep_margin: c.keep_margin,
            ms_w: c.ms_w,
            ms_cap: c.ms_cap,
            ms_form: c.ms_form,
            chroma_w: c.chroma_w,
            chroma_floor: c.chroma_floor,
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

/// [`masked_l1`] with a dead zone: each element's absolute difference counts only by how much
/// it exceeds `margin` (0 when the mask is empty).
///
/// # Shapes
/// `a`, `b`, `mask`: the same shape; `mask` holds 0 or 1.
pub fn masked_hinge_l1<const D: usize>(
    a: Tensor<D>,
    b: Tensor<D>,
    mask: Tensor<D>,
    margin: f64,
) -> Tensor<1> {
    if margin <= 0.0 {
        return masked_l1(a, b, mask);
    }
    let count = mask.clone().sum();
    (((a - b).abs() - margin).clamp_min(0.0) * mask).sum() / count.clamp_min(1.0)
}

/// Mode seeking (DRIT++ / MSGAN): `1 / (r + 1e-5)` with `r` the mean absolute difference of
/// two translations of one content code (over the elements where `region` is 1, or all of
/// them) divided by that of their styles. Small when different codes give different images.
/// With `cap > 0`, `r` is clamped at `cap`: no gradient once the images differ that much. An
/// empty region gives 0 (nothing to compare).
///
/// # Shapes
/// `x_1`, `x_2` (and `region`, 0 or 1): `[b, c, h, w]`; `s_1`, `s_2`: `[b, style_dim]`.
pub fn mode_seeking(
    (x_1, x_2): (Tensor<4>, Tensor<4>),
    (s_1, s_2): (Tensor<2>, Tensor<2>),
    region: Option<Tensor<4>>,
    cap: f64,
) -> Tensor<1> {
    let (images, any) = match region {
        Some(region) => {
            let any = region.clone().sum().clamp_max(1.0);
            (masked_l1(x_1, x_2, region), Some(any))
        }
        None => (l1(x_1, x_2), None),
    };
    let mut ratio = images / l1(s_1, s_2);
    if cap > 0.0 {
        ratio = ratio.clamp_max(cap);
    }
    let loss = (ratio + 1e-5).recip();
    match any {
        Some(any) => loss * any,
        None => loss,
    }
}

/// How far each image's fills fall below a colourfulness floor: the batch mean of
/// `max(0, floor - mean chroma inside fill)`, chroma the largest minus the smallest channel in
/// [0, 1] units (values are in [-1, 1]). An image with an empty `fill` adds 0.
///
/// # Shapes
/// `x`, `fill` (0 or 1, the same on every channel): `[b, c, h, w]`, `c` >= 2 (one channel has
/// no chroma: config validation refuses `chroma_w` for a grey domain b).
pub fn chroma_shortfall(x: Tensor<4>, fill: Tensor<4>, floor: f64) -> Tensor<1> {
    let [batch, _, h, w] = x.dims();
    let chroma = (x.clone().max_dim(1) - x.min_dim(1)) / 2.0;
    let fill = fill.narrow(1, 0, 1);
    let per_image = |t: Tensor<4>| t.reshape([batch, h * w]).sum_dim(1);
    let count = per_image(fill.clone());
    let mean = per_image(chroma * fill) / count.clone().clamp_min(1.0);
    let any = count.clamp_max(1.0);
    ((mean.neg() + floor).clamp_min(0.0) * any).mean()
}

/// Tint-neutral mode seeking (`ms_form: contrast`): `-min(r, cap)` with `r` the mean absolute
/// difference of two translations of one content code inside `fill` *minus* that inside `keep`
/// (the lines and the background next to them, which are to stay as drawn), divided by the mean absolute
/// difference of their styles. A change of the whole image (a tint) raises both differences
/// alike and earns nothing; a change that is the same everywhere but the fills earns most. The
/// reward is linear up to `cap` and flat past it. An empty `fill` gives 0.
///
/// # Shapes
/// `x_1`, `x_2`, `fill`, `keep` (0 or 1): `[b, c, h, w]`; `s_1`, `s_2`: `[b, style_dim]`.
pub fn mode_seeking_contrast(
    (x_1, x_2): (Tensor<4>, Tensor<4>),
    (s_1, s_2): (Tensor<2>, Tensor<2>),
    (fill, keep): (Tensor<4>, Tensor<4>),
    cap: f64,
) -> Tensor<1> {
    let any = fill.clone().sum().clamp_max(1.0);
    let inside = masked_l1(x_1.clone(), x_2.clone(), fill);
    let outside = masked_l1(x_1, x_2, keep);
    let ratio = (inside - outside) / l1(s_1, s_2);
    ratio.clamp_max(cap).neg() * any
}

/// The `keep_w` loss's mask of a batch of domain-a images: 1 on each image's lines and outside
/// regions (see [`keep_mask`]), repeated over its channels.
///
/// # Shapes
/// `values`: `[batch, channels, h, w]` in [-1, 1], as `shape`; returns the same shape.
pub fn keep_mask_batch(values: &[f32], shape: [usize; 4]) -> Vec<f32> {
    mask_batch(values, shape, |_, image| keep_mask(image))
}

/// [`keep_mask_batch`] with each image's background taken from its real colouring (see
/// [`silhouette_keep_mask`]), for `keep_region: silhouette`.
///
/// # Shapes
/// `values`, `truths`: `[batch, channels, h, w]` in [-1, 1], as `shape`; returns the same shape.
pub fn silhouette_keep_mask_batch(values: &[f32], truths: &[f32], shape: [usize; 4]) -> Vec<f32> {
    let [_, channels, h, w] = shape;
    let per_image = channels * h * w;
    mask_batch(values, shape, |k, image| {
        let truth = &truths[k * per_image..(k + 1) * per_image];
        silhouette_keep_mask(image, &image_from_chw(truth, channels, h, w))
    })
}

/// The `ms_w` term's region of a batch of domain-a images: their fills (see [`fill_mask`]),
/// repeated over the channels.
///
/// # Shapes
/// as [`keep_mask_batch`].
pub fn fill_mask_batch(values: &[f32], shape: [usize; 4]) -> Vec<f32> {
    mask_batch(values, shape, |_, image| fill_mask(image))
}

/// The kept side of `ms_form: contrast` for a batch of domain-a images: their lines and the
/// background next to them (see [`halo_mask`]), repeated over the channels.
///
/// # Shapes
/// as [`keep_mask_batch`].
pub fn halo_mask_batch(values: &[f32], shape: [usize; 4]) -> Vec<f32> {
    mask_batch(values, shape, |_, image| halo_mask(image))
}

/// The `line_w` term's region of a batch of domain-a images: their lines (see [`line_mask`]),
/// repeated over the channels.
///
/// # Shapes
/// as [`keep_mask_batch`].
pub fn line_mask_batch(values: &[f32], shape: [usize; 4]) -> Vec<f32> {
    mask_batch(values, shape, |_, image| line_mask(image))
}

/// `per_pixel(k, image)` of each image `k` of a batch, repeated over its channels.
fn mask_batch(
    values: &[f32],
    [batch, channels, h, w]: [usize; 4],
    per_pixel: impl Fn(usize, &image::RgbImage) -> Vec<f32>,
) -> Vec<f32> {
    let per_image = channels * h * w;
    let mut mask = Vec::with_capacity(values.len());
    for (k, image) in values.chunks(per_image).take(batch).enumerate() {
        let pixels = per_pixel(k, &image_from_chw(image, channels, h, w));
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

/// What stylespace's own terms need besides the official ones.
#[derive(Default)]
pub struct OwnInputs {
    /// 1 where `x_ab` should equal `x_a` (see [`Config::keep_w`]): `[b, c, h, w]`, used when
    /// `keep_w > 0`.
    pub keep_a: Option<Tensor<4>>,
    /// 1 where the mode-seeking term compares two styles' translations (the fills, see
    /// [`fill_mask_batch`]): `[b, c, h, w]`; `None`: the whole image.
    pub fill_a: Option<Tensor<4>>,
    /// The lines and the background next to them (see [`halo_mask_batch`]), where `halo_w`
    /// holds `x_ab` to `x_a` and `ms_form: contrast` subtracts the styles' difference:
    /// `[b, c, h, w]`; `None`: nowhere.
    pub halo_a: Option<Tensor<4>>,
    /// The input's lines (see [`line_mask_batch`]), where `line_w` holds `x_ab` to `x_a`:
    /// `[b, c, h, w]`, used when `line_w > 0`.
    pub line_a: Option<Tensor<4>>,
    /// A second prior style for domain b (see [`Config::ms_w`]): `[b, style_dim]`, used when
    /// `ms_w > 0`.
    pub s_b_second: Option<Tensor<2>>,
}

/// One generator step's losses.
///
/// # Shapes
/// `x_a`, `x_b`: `[b, c, h, w]`; `s_a`, `s_b` (styles drawn from the prior for domains a and b):
/// `[b, style_dim]`; `own`: see [`OwnInputs`].
pub fn gen_losses(
    nets: &Networks,
    x_a: Tensor<4>,
    x_b: Tensor<4>,
    s_a: Tensor<2>,
    s_b: Tensor<2>,
    own: OwnInputs,
    w: LossWeights,
) -> GenLosses {
    let OwnInputs {
        keep_a,
        fill_a,
        halo_a,
        line_a,
        s_b_second,
    } = own;
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
        ("gen_recon_s_b", l1(s_b_recon, s_b.clone())),
        ("gen_recon_c_a", l1(c_a_recon.clone(), c_a.clone())),
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
    // The mode-seeking terms' second translation, with a second prior style.
    let second = (w.ms_w > 0.0)
        .then_some(s_b_second)
        .flatten()
        .map(|s| (nets.gen_b.decode_style(c_a.clone(), s.clone()), s));
    // stylespace's terms on a -> b translations hold every translation of the step (one style,
    // or two with mode seeking): each is the mean of the term over them.
    let over_translations = |term: &dyn Fn(Tensor<4>) -> Tensor<1>| match &second {
        Some((x_ab_second, _)) => (term(x_ab.clone()) + term(x_ab_second.clone())) / 2.0,
        None => term(x_ab.clone()),
    };
    // To keep the input where `mask` is set.
    let kept = |mask: Tensor<4>| {
        over_translations(&|x| masked_hinge_l1(x, x_a.clone(), mask.clone(), w.keep_margin))
    };
    if w.keep_w > 0.0
        && let Some(keep_a) = keep_a
    {
        terms.push(("gen_keep_ab", kept(keep_a)));
        weights.push(w.keep_w);
    }
    if w.halo_w > 0.0
        && let Some(halo_a) = halo_a.clone()
    {
        terms.push(("gen_halo_ab", kept(halo_a)));
        weights.push(w.halo_w);
    }
    if w.line_w > 0.0
        && let Some(line_a) = line_a
    {
        terms.push(("gen_line_ab", kept(line_a)));
        weights.push(w.line_w);
    }
    if w.chroma_w > 0.0
        && let Some(fill_a) = fill_a.clone()
    {
        let term = over_translations(&|x| chroma_shortfall(x, fill_a.clone(), w.chroma_floor));
        terms.push(("gen_chroma_ab", term));
        weights.push(w.chroma_w);
    }
    if let Some((x_ab_second, s_b_second)) = second {
        let images = (x_ab.clone(), x_ab_second);
        let styles = (s_b, s_b_second);
        let term = match w.ms_form {
            MsForm::Contrast => {
                // Without masks: the whole image is the fill and nothing is subtracted.
                let dims = x_ab.dims();
                let device = x_ab.device();
                let fill_a = fill_a.unwrap_or_else(|| Tensor::ones(dims, &device));
                let halo_a = halo_a.unwrap_or_else(|| Tensor::zeros(dims, &device));
                mode_seeking_contrast(images, styles, (fill_a, halo_a), w.ms_cap)
            }
            MsForm::Msgan => mode_seeking(images, styles, fill_a, w.ms_cap),
        };
        terms.push(("gen_ms_ab", term));
        weights.push(w.ms_w);
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
    fn the_chroma_floor_lifts_only_grey_fills() {
        let device = Device::flex();
        // Two 1 x 2 images of 3 channels (values in [-1, 1]): pixel 0 is the fill.
        let image = |pixels: [[f32; 3]; 2]| -> Vec<f32> {
            (0..3).flat_map(|c| pixels.map(|p| p[c])).collect()
        };
        let grey = image([[0.2, 0.1, 0.0], [1.0, -1.0, -1.0]]); // chroma 0.1 in the fill
        let red = image([[1.0, -0.6, -0.6], [0.0, 0.0, 0.0]]); // chroma 0.8
        let values = TensorData::new([grey, red].concat(), [2, 3, 1, 2]);
        let x = Tensor::<4>::from_data(values.clone(), &device);
        let fill_one = image([[1.0; 3], [0.0; 3]]);
        let fill = |second: Vec<f32>| {
            Tensor::<4>::from_data(
                TensorData::new([fill_one.clone(), second].concat(), [2, 3, 1, 2]),
                &device,
            )
        };
        let value = |fill, floor| to_vec(chroma_shortfall(x.clone(), fill, floor))[0];
        // The grey image falls 0.3 short of 0.4, the red one not at all: (0.3 + 0) / 2 (had the
        // saturated pixel outside the grey fill counted, its mean would be 0.55: no shortfall).
        assert!((value(fill(fill_one.clone()), 0.4) - 0.15).abs() < 1e-6);
        // Fills above the floor cost nothing.
        assert!((value(fill(fill_one.clone()), 0.05)).abs() < 1e-9);
        // An image without fills adds nothing (not the whole floor).
        assert!((value(fill(vec![0.0; 6]), 0.4) - 0.15).abs() < 1e-6);
        // The gradient pulls the grey fill's extreme channels apart and leaves the rest alone.
        let grad_device = device.clone().autodiff();
        let x = Tensor::<4>::from_data(values, &grad_device).require_grad();
        let fill_grey_first =
            Tensor::<4>::from_data(fill(fill_one.clone()).to_data(), &grad_device);
        let loss = chroma_shortfall(x.clone(), fill_grey_first, 0.4);
        let grad = to_vec(x.grad(&loss.backward()).unwrap().inner());
        assert!(grad[0] < 0.0 && grad[4] > 0.0, "{grad:?}");
        assert_eq!(
            grad[2], 0.0,
            "the middle channel has no say in chroma: {grad:?}"
        );
        assert!(
            grad[1] == 0.0 && grad[6..].iter().all(|&g| g == 0.0),
            "{grad:?}"
        );
    }

    #[test]
    fn masked_hinge_l1_counts_only_what_exceeds_the_margin() {
        let device = Device::flex();
        let t = |v: [f32; 4]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 2]), &device);
        let a = t([0.05, -0.3, 1.0, 0.5]);
        let zeros = t([0.0; 4]);
        let value =
            |mask, margin| to_vec(masked_hinge_l1(a.clone(), zeros.clone(), mask, margin))[0];
        let all = t([1.0; 4]);
        // (0 + 0.2 + 0.9 + 0.4) / 4
        assert!((value(all.clone(), 0.1) - 0.375).abs() < 1e-6);
        assert!(
            (value(t([1.0, 0.0, 0.0, 0.0]), 0.1)).abs() < 1e-9,
            "a faint change is free"
        );
        assert_eq!(
            value(all.clone(), 0.0),
            to_vec(masked_l1(a.clone(), zeros.clone(), all))[0]
        );
        assert_eq!(
            value(t([0.0; 4]), 0.1),
            0.0,
            "an empty mask is no loss, not NaN"
        );
    }

    #[test]
    fn mode_seeking_rewards_different_images_for_different_styles_inside_the_region() {
        let device = Device::flex();
        let image = |v: [f32; 4]| {
            Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 2, 2]), &device)
        };
        let style =
            |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
        let loss = |x_2, region, cap| {
            mode_seeking(
                (image([0.0; 4]), x_2),
                (style([0.0, 0.0]), style([1.0, 3.0])), // mean |s_1 - s_2| = 2
                region,
                cap,
            )
        };
        let value = |x_2, region| to_vec(loss(x_2, region, 0.0))[0];
        // mean |x_1 - x_2| = 0.5 over all four, so r = 0.25.
        let everywhere = value(image([2.0, 0.0, 0.0, 0.0]), None);
        assert!(
            (everywhere - 1.0 / (0.25 + 1e-5)).abs() < 1e-3,
            "{everywhere}"
        );
        // More difference: a smaller loss.
        assert!(value(image([2.0, 2.0, 0.0, 0.0]), None) < everywhere);
        // Only the region counts: there the images differ by 2, so r = 1.
        let inside = value(
            image([2.0, 0.0, 0.0, 0.0]),
            Some(image([1.0, 0.0, 0.0, 0.0])),
        );
        assert!((inside - 1.0 / (1.0 + 1e-5)).abs() < 1e-4, "{inside}");
        // An empty region: nothing to compare, no loss.
        assert_eq!(
            value(image([2.0, 0.0, 0.0, 0.0]), Some(image([0.0; 4]))),
            0.0
        );
        // Identical images: the loss is large but finite.
        let same = value(image([0.0; 4]), None);
        assert!(same.is_finite() && same > 9.9e4, "{same}");

        // The cap: the ratio counts up to it, and past it the images get no gradient.
        let gradient = |cap| {
            let device = Device::flex().autodiff();
            let x_2 = Tensor::<4>::from_data(
                TensorData::new(vec![2.0f32, 0.0, 0.0, 0.0], [1, 1, 2, 2]),
                &device,
            )
            .require_grad();
            let zeros = || Tensor::<4>::zeros([1, 1, 2, 2], &device);
            let style =
                |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
            let loss = mode_seeking(
                (zeros(), x_2.clone()),
                (style([0.0, 0.0]), style([1.0, 3.0])),
                None,
                cap,
            );
            let value = to_vec(loss.clone())[0];
            let grads = loss.backward();
            (value, to_vec(x_2.grad(&grads).unwrap()))
        };
        let (free, free_grad) = gradient(0.0);
        assert!(
            free_grad[0] < 0.0,
            "more difference lowers the loss: {free_grad:?}"
        );
        let (capped, capped_grad) = gradient(0.1); // r = 0.25 is past the cap
        assert!((capped - 1.0 / (0.1 + 1e-5)).abs() < 1e-2, "{capped}");
        assert!(capped > free);
        assert!(capped_grad.iter().all(|g| *g == 0.0), "{capped_grad:?}");
        let (_, below_grad) = gradient(0.5); // r = 0.25 is below the cap
        assert_eq!(below_grad, free_grad);
    }

    #[test]
    fn contrast_mode_seeking_rewards_fills_that_differ_and_not_a_tint() {
        // One 1x1x2x2 image pair: pixels 0 and 1 are fill, pixels 2 and 3 keep (line and
        // background); styles differ by 2 on average.
        let device = Device::flex().autodiff();
        let image = |v: [f32; 4]| {
            Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 2, 2]), &device)
        };
        let style =
            |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
        let run = |x_2: [f32; 4], fill: [f32; 4], cap: f64| {
            let x_2 = image(x_2).require_grad();
            let loss = mode_seeking_contrast(
                (image([0.0; 4]), x_2.clone()),
                (style([0.0, 0.0]), style([1.0, 3.0])),
                (image(fill), image([0.0, 0.0, 1.0, 1.0])),
                cap,
            );
            let value = to_vec(loss.clone())[0];
            (value, to_vec(x_2.grad(&loss.backward()).unwrap()))
        };
        let fills = [1.0, 1.0, 0.0, 0.0];
        // A tint of the whole image: the fills differ as much as the rest, no reward.
        let (tint, _) = run([0.4; 4], fills, 1.0);
        assert!(tint.abs() < 1e-6, "{tint}");
        // The fills alone differ by 0.4: r = 0.4 / 2.
        let (fill_only, grad) = run([0.4, 0.4, 0.0, 0.0], fills, 1.0);
        assert!((fill_only + 0.2).abs() < 1e-6, "{fill_only}");
        assert!(
            grad[0] < 0.0 && grad[1] < 0.0,
            "fills pushed apart: {grad:?}"
        );
        let (_, grad) = run([0.4, 0.4, 0.1, 0.1], fills, 1.0);
        assert!(
            grad[2] > 0.0 && grad[3] > 0.0,
            "the rest pulled together: {grad:?}"
        );
        // A difference on the kept pixels costs what it would earn in the fills.
        let (both, _) = run([0.4, 0.4, 0.4, 0.0], fills, 1.0);
        assert!((both + 0.1).abs() < 1e-6, "{both}");
        // Past the cap: the reward stays at the cap and the images get no gradient.
        let (capped, grad) = run([0.4, 0.4, 0.0, 0.0], fills, 0.1);
        assert!((capped + 0.1).abs() < 1e-6, "{capped}");
        assert!(grad.iter().all(|g| *g == 0.0), "{grad:?}");
        // No fills: nothing to compare.
        let (empty, _) = run([0.4, 0.4, 0.0, 0.0], [0.0; 4], 1.0);
        assert_eq!(empty, 0.0);
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
