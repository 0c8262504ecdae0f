//! Metrics and the calibrated decision, on hand-made images and scores.

use candor_watermark::config::WatermarkConfig;
use candor_watermark::data::logo;
use candor_watermark::eval::{
    binarised_ber, bit_score, calibrate_threshold, detection_rate, fidelity, min_negatives_for,
    pearson_nc, projection_score, psnr, score_extraction, ssim, uncentred_nc, wilson_interval,
};
use candor_watermark::Image;

fn img(h: usize, w: usize, f: impl Fn(usize, usize) -> f32) -> Image {
    let data = (0..h * w).map(|i| f(i / w, i % w)).collect();
    Image::new(1, h, w, data).unwrap()
}

#[test]
fn pearson_nc_is_zero_on_constant_images() {
    let ramp = img(8, 8, |y, x| (y * 8 + x) as f32 / 63.0);
    let white = Image::filled(1, 8, 8, 1.0).unwrap();
    let grey = Image::filled(1, 8, 8, 0.3).unwrap();
    assert_eq!(pearson_nc(&white, &ramp).unwrap(), 0.0);
    assert_eq!(pearson_nc(&ramp, &white).unwrap(), 0.0);
    assert_eq!(pearson_nc(&white, &grey).unwrap(), 0.0);
    // Uncentred NC of two constants is 1, of an all-zero image 0.
    assert!((uncentred_nc(&white, &grey).unwrap() - 1.0).abs() < 1e-12);
    let black = Image::filled(1, 8, 8, 0.0).unwrap();
    assert_eq!(uncentred_nc(&black, &ramp).unwrap(), 0.0);
}

#[test]
fn pearson_nc_of_anti_correlated_and_affine_images() {
    let ramp = img(8, 8, |y, x| (y * 8 + x) as f32 / 63.0);
    let inverted = img(8, 8, |y, x| 1.0 - (y * 8 + x) as f32 / 63.0);
    let affine = img(8, 8, |y, x| 0.2 + 0.5 * (y * 8 + x) as f32 / 63.0);
    assert!((pearson_nc(&ramp, &inverted).unwrap() + 1.0).abs() < 1e-9);
    assert!((pearson_nc(&ramp, &affine).unwrap() - 1.0).abs() < 1e-9);
    // Hand-computed: a = (0, 1, 0, 1), b = (0, 0, 1, 1): uncorrelated.
    let a = img(2, 2, |y, x| ((y * 2 + x) % 2) as f32);
    let b = img(2, 2, |y, _| y as f32);
    assert_eq!(pearson_nc(&a, &b).unwrap(), 0.0);
    // Uncentred: Σab = 1, ‖a‖ = ‖b‖ = √2 → 0.5.
    assert!((uncentred_nc(&a, &b).unwrap() - 0.5).abs() < 1e-12);
}

#[test]
fn uncentred_nc_rewards_a_blank_extraction_and_the_decision_score_does_not() {
    // The card's pitfall, on our default logo (dark on white, mostly background).
    let cfg = WatermarkConfig::default();
    let delta = logo::watermark(&cfg, 1, 128, 128).unwrap();
    let blank = logo::blank(&cfg, 1, 128, 128).unwrap();
    let mean = delta.mean();
    assert!((0.75..0.95).contains(&mean), "logo mean {mean}");
    let nc_blank = uncentred_nc(&blank, &delta).unwrap();
    assert!(nc_blank > 0.9, "uncentred NC of the blank: {nc_blank}");
    let s = score_extraction(&blank, &delta, &blank).unwrap();
    assert_eq!(s.projection, 0.0);
    assert_eq!(s.nc_zero_mean, 0.0);
    let s = score_extraction(&delta, &delta, &blank).unwrap();
    assert!((s.projection - 1.0).abs() < 1e-12);
    assert!((s.nc_zero_mean - 1.0).abs() < 1e-9);
    assert_eq!(s.ber_binarised, 0.0);
}

#[test]
fn projection_score_is_linear_between_blank_and_watermark() {
    let delta = img(4, 4, |y, x| if (y + x) % 3 == 0 { 0.0 } else { 1.0 });
    let blank = Image::filled(1, 4, 4, 1.0).unwrap();
    // δ′ = δ0 + t(δ − δ0) scores t.
    for t in [0.0f32, 0.25, 0.5, 1.0, 1.5, -0.5] {
        let mix = img(4, 4, |y, x| {
            let d = delta.data()[y * 4 + x];
            1.0 + t * (d - 1.0)
        });
        let s = projection_score(&mix, &delta, &blank).unwrap();
        assert!((s - t as f64).abs() < 1e-6, "t = {t}: {s}");
    }
    // δ = δ0 is an error.
    assert!(projection_score(&blank, &blank, &blank).is_err());
}

#[test]
fn mismatched_sizes_and_channels_are_clear_errors() {
    let a = Image::filled(1, 8, 8, 0.5).unwrap();
    let b = Image::filled(1, 8, 16, 0.5).unwrap();
    let c = Image::filled(3, 8, 8, 0.5).unwrap();
    for (x, y) in [(&a, &b), (&a, &c)] {
        let e = pearson_nc(x, y).unwrap_err().to_string();
        assert!(e.contains("shapes differ"), "{e}");
        assert!(uncentred_nc(x, y).is_err());
        assert!(projection_score(x, y, y).is_err());
        assert!(psnr(x, y).is_err());
        assert!(binarised_ber(x, y).is_err());
    }
    assert!(Image::new(1, 2, 2, vec![0.0; 3]).is_err());
    assert!(Image::new(1, 1, 1, vec![f32::NAN]).is_err());
}

#[test]
fn fidelity_matches_hand_computed_psnr() {
    let b = Image::filled(1, 16, 16, 0.5).unwrap();
    // Every pixel off by 0.01: MSE 1e-4, PSNR 40 dB.
    let b2 = Image::filled(1, 16, 16, 0.51).unwrap();
    let p = psnr(&b2, &b).unwrap();
    assert!((p - 40.0).abs() < 1e-3, "{p}");
    let f = fidelity(&[b2.clone(), b.clone()], &[b.clone(), b.clone()]).unwrap();
    assert!((f.psnr[0] - 40.0).abs() < 1e-3);
    assert!(f.psnr[1].is_infinite());
    assert!((ssim(&b, &b).unwrap() - 1.0).abs() < 1e-12);
    assert!(fidelity(std::slice::from_ref(&b), &[]).is_err());
}

#[test]
fn bit_score_is_one_minus_ber() {
    let m = [true, false, true, true];
    assert_eq!(bit_score(&m, &m).unwrap(), 1.0);
    assert_eq!(bit_score(&[false, false, true, true], &m).unwrap(), 0.75);
    assert!(bit_score(&m[..3], &m).is_err());
}

#[test]
fn threshold_at_a_fixed_fpr_on_hand_made_scores() {
    // 1999 negatives 0, 1, …, 1998 (shuffled order must not matter). α = 0.1 %:
    // k = ⌊0.001 · 2000⌋ − 1 = 1, t = s₍₁₉₉₈₎ = 1997; one negative (1998) is above.
    let mut neg: Vec<f64> = (0..1999).map(|i| ((i * 7919) % 1999) as f64).collect();
    neg.reverse();
    let t = calibrate_threshold(&neg, 1e-3).unwrap();
    assert_eq!(t.threshold, 1997.0);
    assert_eq!(t.allowed, 1);
    assert!(t.target_reachable);
    assert!((t.fpr_bound - 2.0 / 2000.0).abs() < 1e-15);
    assert!((t.calibration_fpr - 1.0 / 1999.0).abs() < 1e-15);

    // 999 negatives are the fewest that certify 0.1 %: k = 0, t = max.
    assert_eq!(min_negatives_for(1e-3), 999);
    let neg: Vec<f64> = (0..999).map(|i| i as f64 / 10.0).collect();
    let t = calibrate_threshold(&neg, 1e-3).unwrap();
    assert_eq!(t.threshold, 99.8);
    assert!(t.target_reachable);
    assert_eq!(t.calibration_fpr, 0.0);

    // 300 negatives cannot certify 0.1 %: the maximum is used, bound 1/301.
    let neg: Vec<f64> = (0..300).map(|i| i as f64).collect();
    let t = calibrate_threshold(&neg, 1e-3).unwrap();
    assert_eq!(t.threshold, 299.0);
    assert!(!t.target_reachable);
    assert!((t.fpr_bound - 1.0 / 301.0).abs() < 1e-15);

    // 10 % of 19 negatives 1..=19: k = ⌊0.1 · 20⌋ − 1 = 1, t = 18.
    let neg: Vec<f64> = (1..=19).map(f64::from).collect();
    let t = calibrate_threshold(&neg, 0.1).unwrap();
    assert_eq!(t.threshold, 18.0);
    // Ties at the threshold are negatives (strict >).
    let r = detection_rate(&[18.0, 18.0, 18.5, 30.0], t.threshold).unwrap();
    assert_eq!((r.hits, r.n), (2, 4));

    assert!(calibrate_threshold(&[], 0.01).is_err());
    assert!(calibrate_threshold(&[1.0, f64::NAN], 0.01).is_err());
    assert!(calibrate_threshold(&[1.0], 0.0).is_err());
    assert!(calibrate_threshold(&[1.0], 1.0).is_err());
}

#[test]
fn calibrated_threshold_holds_its_rate_on_fresh_negatives() {
    // Negatives i.i.d. uniform, n = 19 999, α = 1 %: k = 199 and the rule's held-out
    // FPR is 1 − t with t the (n − k)-th order statistic, so FPR ~ Beta(200, 19 800):
    // mean 1 %, sd 0.07 %. Measured on 20 000 fresh negatives (binomial sd 0.07 %),
    // the total sd is 0.1 %, so [0.5 %, 1.5 %] is a 5σ band.
    let mut rng = candor_core::SeededRng::new(3);
    let cal: Vec<f64> = (0..19_999).map(|_| rng.uniform()).collect();
    let t = calibrate_threshold(&cal, 0.01).unwrap();
    assert_eq!(t.allowed, 199);
    let fresh: Vec<f64> = (0..20_000).map(|_| rng.uniform()).collect();
    let r = detection_rate(&fresh, t.threshold).unwrap();
    assert!((0.005..0.015).contains(&r.rate), "held-out FPR {}", r.rate);
}

#[test]
fn wilson_intervals_match_statsmodels() {
    // statsmodels 0.14 proportion_confint(k, n, method="wilson").
    let cases = [
        (0, 300, 0.0, 0.01264297122454604),
        (3, 300, 0.0034066184377152826, 0.028983493362339838),
        (95, 100, 0.8882495307680808, 0.9784563208456319),
        (50, 50, 0.9286524008666412, 1.0),
        (7, 20, 0.18119182410108203, 0.5671457233147638),
    ];
    for (k, n, lo, hi) in cases {
        let (l, h) = wilson_interval(k, n).unwrap();
        assert!(
            (l - lo).abs() < 1e-12 && (h - hi).abs() < 1e-12,
            "{k}/{n}: ({l}, {h})"
        );
    }
    assert!(wilson_interval(1, 0).is_err());
    assert!(wilson_interval(3, 2).is_err());
    let r = detection_rate(
        &[0.9; 95]
            .iter()
            .chain(&[0.1; 5])
            .copied()
            .collect::<Vec<_>>(),
        0.5,
    )
    .unwrap();
    assert_eq!((r.hits, r.n, r.rate), (95, 100, 0.95));
    assert!((r.low - 0.8882495307680808).abs() < 1e-12);
}
