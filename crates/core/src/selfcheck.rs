//! Core's own experiment (`cargo xtask reproduce --paper core`): checks the shared math
//! every paper crate relies on against theory, on synthetic inputs.
//!
//! - the SPSL phase spectrum: Parseval's RMS = 1/sqrt(H·W), scale invariance, impulse
//!   reconstruction, and per-image processing of a batch;
//! - ROC AUC and EER of two Gaussian score distributions against their closed forms
//!   (AUC = Φ(d/√2), EER = Φ(−d/2)), and AUC with tied scores against Mann–Whitney;
//! - PSNR of Gaussian noise against −20·log10(σ), and SSIM falling with the noise;
//! - kNN: kd-tree results identical to brute force, and their timings.

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::fft::{phase_spectrum, phase_spectrum_tensor};
use crate::knn::{knn_brute, KdTree};
use crate::metrics::{average_precision, eer, mann_whitney_auc, psnr, roc_auc, roc_curve, ssim};
use crate::plot::{line_plot, Series};
use crate::report::{Cell, Claim, Report, Table};
use crate::reproduce::ReproduceOptions;
use crate::rng::SeededRng;
use crate::Result;

/// Standard normal CDF (via erfc; |error| < 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    // Numerical Recipes' erfc with Chebyshev fit, relative error < 1.2e-7.
    let z = (x / std::f64::consts::SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let erfc = if x >= 0.0 { r } else { 2.0 - r };
    1.0 - 0.5 * erfc
}

fn phase_checks(opts: &ReproduceOptions, rng: &mut SeededRng, report: &mut Report) -> Result<()> {
    let sizes: &[(usize, usize)] = opts.scale.pick(
        &[(32, 48), (64, 64)][..],
        &[(64, 64), (96, 128), (256, 256)][..],
        &[(64, 64), (96, 128), (256, 256), (512, 384)][..],
    );
    let mut t = Table::new(
        "Phase spectrum (SPSL channel) properties",
        &[
            "RMS",
            "1/sqrt(H·W)",
            "max |p(3.7·x) − p(x)|",
            "impulse max error",
        ],
    );
    let (mut worst_rms, mut worst_scale, mut worst_imp) = (0.0f64, 0.0f64, 0.0f64);
    for &(h, w) in sizes {
        let x: Vec<f32> = (0..h * w).map(|_| rng.uniform() as f32).collect();
        let p = phase_spectrum(&x, h, w)?;
        let rms = (p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / (h * w) as f64).sqrt();
        let want = 1.0 / ((h * w) as f64).sqrt();
        worst_rms = worst_rms.max((rms - want).abs() / want);
        let xs: Vec<f32> = x.iter().map(|v| v * 3.7).collect();
        let ps = phase_spectrum(&xs, h, w)?;
        let dscale = p
            .iter()
            .zip(&ps)
            .map(|(a, b)| (a - b).abs() as f64)
            .fold(0.0, f64::max);
        worst_scale = worst_scale.max(dscale);
        let mut imp = vec![0.0f32; h * w];
        let at = rng.below(h * w);
        imp[at] = 5.0;
        let pi = phase_spectrum(&imp, h, w)?;
        let dimp = pi
            .iter()
            .enumerate()
            .map(|(i, v)| (*v as f64 - if i == at { 1.0 } else { 0.0 }).abs())
            .fold(0.0, f64::max);
        worst_imp = worst_imp.max(dimp);
        t.row(
            format!("{h}×{w}"),
            vec![rms.into(), want.into(), dscale.into(), dimp.into()],
        );
    }
    // A batch is processed per image, never across images.
    let (b, h, w) = (4, 24, 40);
    let data: Vec<f32> = (0..b * h * w).map(|_| rng.uniform() as f32).collect();
    let bt = phase_spectrum_tensor(&Tensor::from_vec(data.clone(), (b, 1, h, w), &Device::Cpu)?)?;
    let bv = bt.flatten_all()?.to_vec1::<f32>()?;
    let mut per_image_diff = 0.0f64;
    for i in 0..b {
        let one = phase_spectrum(&data[i * h * w..(i + 1) * h * w], h, w)?;
        for (a, c) in one.iter().zip(&bv[i * h * w..(i + 1) * h * w]) {
            per_image_diff = per_image_diff.max((a - c).abs() as f64);
        }
    }
    report.tables.push(t.with_note(
        "Random uniform planes. Parseval: the phase-only reconstruction has RMS exactly \
         1/sqrt(H·W) whatever the image; scaling the image leaves the phase unchanged; a \
         unit impulse reconstructs to itself.",
    ));
    report.claims.push(Claim::new(
        "core.phase-parseval",
        "The phase channel's RMS equals 1/sqrt(H·W) for every image",
        worst_rms < 1e-5,
        format!("largest relative deviation {worst_rms:.2e} (< 1e-5)"),
    ));
    report.claims.push(Claim::new(
        "core.phase-invariance",
        "The phase channel is scale invariant and reconstructs an impulse exactly",
        worst_scale < 1e-5 && worst_imp < 1e-5,
        format!(
            "max scale difference {worst_scale:.2e}, max impulse error {worst_imp:.2e} (< 1e-5)"
        ),
    ));
    report.claims.push(Claim::new(
        "core.phase-per-image",
        "A batch tensor is transformed per image (DeepfakeBench v1 mixed the batch)",
        per_image_diff == 0.0,
        format!("batch of {b} vs one-by-one: max difference {per_image_diff:.2e}"),
    ));
    Ok(())
}

fn metric_checks(opts: &ReproduceOptions, rng: &mut SeededRng, report: &mut Report) -> Result<()> {
    let n = opts.scale.pick(2_000, 100_000, 1_000_000);
    let mut t = Table::new(
        "ROC AUC and EER of N(0,1) negatives vs N(d,1) positives",
        &[
            "AUC",
            "AUC theory Φ(d/√2)",
            "|Δ| / SE",
            "EER",
            "EER theory Φ(−d/2)",
            "AP",
        ],
    );
    let mut worst_z = 0.0f64;
    let mut worst_eer = 0.0f64;
    let mut curves = Vec::new();
    for d in [0.0, 0.5, 1.0, 2.0, 3.0] {
        let mut scores = Vec::with_capacity(2 * n);
        let mut labels = Vec::with_capacity(2 * n);
        for _ in 0..n {
            scores.push(rng.normal());
            labels.push(false);
            scores.push(d + rng.normal());
            labels.push(true);
        }
        let auc = roc_auc(&scores, &labels)?;
        let auc_th = normal_cdf(d / std::f64::consts::SQRT_2);
        // Hanley & McNeil (1982) standard error of the AUC.
        let (q1, q2) = (
            auc_th / (2.0 - auc_th),
            2.0 * auc_th * auc_th / (1.0 + auc_th),
        );
        let nn = n as f64;
        let se = ((auc_th * (1.0 - auc_th)
            + (nn - 1.0) * (q1 - auc_th * auc_th)
            + (nn - 1.0) * (q2 - auc_th * auc_th))
            / (nn * nn))
            .sqrt();
        let z = (auc - auc_th).abs() / se;
        worst_z = worst_z.max(z);
        let e = eer(&scores, &labels)?;
        let e_th = normal_cdf(-d / 2.0);
        worst_eer = worst_eer.max((e - e_th).abs());
        let ap = average_precision(&scores, &labels)?;
        t.row(
            format!("d = {d}"),
            vec![
                auc.into(),
                auc_th.into(),
                z.into(),
                e.into(),
                e_th.into(),
                ap.into(),
            ],
        );
        let roc = roc_curve(&scores, &labels)?;
        let step = (roc.fpr.len() / 400).max(1);
        let pts: Vec<(f64, f64)> = roc
            .fpr
            .iter()
            .zip(&roc.tpr)
            .step_by(step)
            .map(|(a, b)| (*a, *b))
            .chain(std::iter::once((1.0, 1.0)))
            .collect();
        curves.push(Series::new(format!("d = {d} (AUC {auc:.3})"), pts));
    }
    report.tables.push(t.with_note(format!(
        "{n} scores per class. SE: Hanley–McNeil standard error of the AUC at the true value."
    )));
    let eer_tol = 4.0 / (n as f64).sqrt();
    report.claims.push(Claim::new(
        "core.auc-theory",
        "ROC AUC of two unit-variance Gaussians matches Φ(d/√2) within 4 standard errors",
        worst_z < 4.0,
        format!("largest |AUC − theory| = {worst_z:.2} SE"),
    ));
    report.claims.push(Claim::new(
        "core.eer-theory",
        "EER of two unit-variance Gaussians matches Φ(−d/2)",
        worst_eer < eer_tol,
        format!("largest |EER − theory| = {worst_eer:.4} (tolerance 4/sqrt(n) = {eer_tol:.4})"),
    ));
    // Heavily tied scores: the trapezoidal AUC must equal Mann–Whitney with ties = ½.
    let m = n.min(50_000);
    let mut s = Vec::with_capacity(m);
    let mut l = Vec::with_capacity(m);
    for _ in 0..m {
        let y = rng.bernoulli(0.3);
        let v = rng.normal() + if y { 0.8 } else { 0.0 };
        s.push((v * 4.0).round() / 4.0);
        l.push(y);
    }
    let a = roc_auc(&s, &l)?;
    let mw = mann_whitney_auc(&s, &l)?;
    report.claims.push(Claim::new(
        "core.auc-ties",
        "With tied scores, ROC AUC equals the Mann–Whitney statistic with ties counted ½",
        (a - mw).abs() < 1e-12,
        format!("{m} scores on a 0.25 grid: trapezoid {a:.12}, Mann–Whitney {mw:.12}"),
    ));
    let file = "roc_gaussian.png";
    line_plot(
        opts.out_dir.join(file),
        "ROC curves, N(0,1) vs N(d,1)",
        "false positive rate",
        "true positive rate",
        &curves,
    )?;
    report.plots.push(file.to_string());
    Ok(())
}

fn image_checks(opts: &ReproduceOptions, rng: &mut SeededRng, report: &mut Report) -> Result<()> {
    let s = opts.scale.pick(64, 128, 256);
    let (c, h, w) = (3, s, s);
    let mut img = vec![0f32; c * h * w];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
                img[ch * h * w + y * w + x] =
                    0.5 + 0.25 * (6.0 * fx + 2.0 * ch as f32).sin() * (4.0 * fy).cos();
            }
        }
    }
    let sigmas = [0.005f64, 0.01, 0.02, 0.05, 0.1, 0.2];
    let mut t = Table::new(
        "PSNR and SSIM of a smooth image with Gaussian noise",
        &["PSNR (dB)", "theory −20·log10 σ", "SSIM"],
    );
    let (mut ps, mut ss) = (Vec::new(), Vec::new());
    let mut worst = 0.0f64;
    let mut monotone = true;
    let mut last_ssim = f64::INFINITY;
    for &sg in &sigmas {
        let noisy: Vec<f32> = img
            .iter()
            .map(|v| (v + sg as f32 * rng.normal() as f32).clamp(0.0, 1.0))
            .collect();
        let p = psnr(&img, &noisy, 1.0)?;
        let th = -20.0 * sg.log10();
        if sg <= 0.1 {
            worst = worst.max((p - th).abs());
        }
        let q = ssim(&img, &noisy, c, h, w, 1.0)?;
        monotone &= q < last_ssim;
        last_ssim = q;
        t.row(format!("σ = {sg}"), vec![p.into(), th.into(), q.into()]);
        ps.push((sg, p));
        ss.push((sg, q));
    }
    report.tables.push(t.with_note(format!(
        "{c}×{h}×{w} image in [0.25, 0.75], noise clipped to [0, 1] (so PSNR runs slightly \
         above theory at large σ). SSIM: Gaussian window 11, σ 1.5, as scikit-image with \
         gaussian_weights=True, use_sample_covariance=False."
    )));
    report.claims.push(Claim::new(
        "core.psnr-theory",
        "PSNR of Gaussian noise matches −20·log10(σ) within 0.25 dB for σ ≤ 0.1",
        worst < 0.25,
        format!("largest deviation {worst:.3} dB"),
    ));
    report.claims.push(Claim::new(
        "core.ssim-monotone",
        "SSIM falls strictly as the noise grows",
        monotone,
        format!("SSIM from {:.4} to {:.4}", ss[0].1, ss[ss.len() - 1].1),
    ));
    let file = "image_quality.png";
    line_plot(
        opts.out_dir.join(file),
        "SSIM against noise σ",
        "noise σ",
        "SSIM",
        &[Series::new("SSIM", ss)],
    )?;
    report.plots.push(file.to_string());
    Ok(())
}

fn knn_checks(opts: &ReproduceOptions, rng: &mut SeededRng, report: &mut Report) -> Result<()> {
    let sizes: &[usize] = opts.scale.pick(
        &[256, 1024][..],
        &[256, 1024, 4096][..],
        &[1024, 4096, 16384][..],
    );
    let mut t = Table::new(
        "k nearest neighbours in 3-D clouds: kd-tree against brute force",
        &["identical", "brute (ms)", "kd-tree incl. build (ms)"],
    );
    let mut all_same = true;
    for &n in sizes {
        for k in [2usize, 10] {
            let pts: Vec<f32> = (0..n * 3).map(|_| rng.normal() as f32).collect();
            let t0 = Instant::now();
            let a = knn_brute(&pts, 3, k)?;
            let tb = t0.elapsed().as_secs_f64() * 1e3;
            let t0 = Instant::now();
            let b = KdTree::build(&pts, 3)?.knn_all(k)?;
            let tt = t0.elapsed().as_secs_f64() * 1e3;
            let same = a == b;
            all_same &= same;
            t.row(
                format!("n = {n}, k = {k}"),
                vec![
                    Cell::Text(if same { "yes" } else { "NO" }.into()),
                    tb.into(),
                    tt.into(),
                ],
            );
        }
    }
    report.tables.push(t.with_note(
        "Gaussian clouds; one thread; wall-clock times of this run (see the criterion \
         benches for stable numbers).",
    ));
    report.claims.push(Claim::new(
        "core.knn-identical",
        "The kd-tree returns exactly the brute-force neighbours (indices and distances)",
        all_same,
        format!("{} cloud/k combinations compared", sizes.len() * 2),
    ));
    Ok(())
}

/// Run core's self-checks and return their report.
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| crate::Error::io(&opts.out_dir, e))?;
    let mut report = Report::new(
        "core",
        opts.scale.as_str(),
        opts.seed,
        false,
        "synthetic inputs drawn from the seed (no paper data: these are checks of the shared math)",
    );
    let mut rng = SeededRng::new(opts.seed);
    phase_checks(opts, &mut rng.fork(), &mut report)?;
    metric_checks(opts, &mut rng.fork(), &mut report)?;
    image_checks(opts, &mut rng.fork(), &mut report)?;
    knn_checks(opts, &mut rng.fork(), &mut report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.0) - 0.841_344_746).abs() < 1e-6);
        assert!((normal_cdf(-1.959_963_985) - 0.025).abs() < 1e-6);
    }
}
