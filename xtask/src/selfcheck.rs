//! Core's own experiment (`cargo xtask reproduce --paper core`): checks the shared math
//! every paper crate relies on against theory, on synthetic inputs.
//!
//! - the SPSL phase spectrum: Parseval's RMS = 1/sqrt(H·W), scale invariance, impulse
//!   reconstruction, and per-image processing of a batch;
//! - ROC AUC and EER of two Gaussian score distributions against their closed forms
//!   (AUC = Φ(d/√2), EER = Φ(−d/2)), and AUC with tied scores against Mann–Whitney;
//! - PSNR of Gaussian noise against −20·log10(σ), and SSIM falling with the noise;
//! - kNN: kd-tree results identical to brute force, and their timings.
//!
//! Identities are deterministic checks; agreement with theory is an equivalence test
//! (TOST within a stated margin: AUC ± 0.01 with DeLong's SE, EER ± 0.01 with a
//! binomial SE, PSNR ± 0.25 dB with the delta-method SE), an intersection–union over
//! the settings, all in one Holm family (`candor_core::stats::claim`).

use std::time::Instant;

use candle_core::{Device, Tensor};

use candor_core::fft::{phase_spectrum, phase_spectrum_tensor};
use candor_core::knn::{knn_brute, KdTree};
use candor_core::metrics::{
    average_precision, eer, mann_whitney_auc, psnr, roc_auc, roc_curve, ssim,
};
use candor_core::plot::{line_plot, Series};
use candor_core::report::{Cell, Report, Table};
use candor_core::reproduce::ReproduceOptions;
use candor_core::rng::SeededRng;
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::delong::DeLong;
use candor_core::stats::dist::normal_cdf;
use candor_core::stats::NormalEstimate;
use candor_core::Result;

/// Significance level of every check.
const ALPHA: f64 = 0.05;
/// Equivalence margins of the checks against theory.
const AUC_MARGIN: f64 = 0.01;
const EER_MARGIN: f64 = 0.01;
const PSNR_MARGIN_DB: f64 = 0.25;

fn phase_checks(
    opts: &ReproduceOptions,
    rng: &mut SeededRng,
    report: &mut Report,
    fam: &mut ClaimFamily,
) -> Result<()> {
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
    let nimg = sizes.len();
    fam.claim(
        "core.phase-parseval",
        "The phase channel's RMS equals 1/sqrt(H·W) for every image",
        &format!("largest relative deviation {worst_rms:.2e} (< 1e-5)"),
        Judgement::deterministic(
            "largest relative RMS deviation < 1e-5",
            worst_rms,
            worst_rms < 1e-5,
            nimg,
            "images",
            ALPHA,
        )?,
    );
    fam.claim(
        "core.phase-invariance",
        "The phase channel is scale invariant and reconstructs an impulse exactly",
        &format!(
            "max scale difference {worst_scale:.2e}, max impulse error {worst_imp:.2e} (< 1e-5)"
        ),
        Judgement::deterministic(
            "largest scale / impulse error < 1e-5",
            worst_scale.max(worst_imp),
            worst_scale < 1e-5 && worst_imp < 1e-5,
            nimg,
            "images",
            ALPHA,
        )?,
    );
    fam.claim(
        "core.phase-per-image",
        "A batch tensor is transformed per image (DeepfakeBench v1 mixed the batch)",
        &format!("batch of {b} vs one-by-one: max difference {per_image_diff:.2e}"),
        Judgement::deterministic(
            "batch equals one-by-one exactly",
            per_image_diff,
            per_image_diff == 0.0,
            b,
            "images",
            ALPHA,
        )?,
    );
    Ok(())
}

fn metric_checks(
    opts: &ReproduceOptions,
    rng: &mut SeededRng,
    report: &mut Report,
    fam: &mut ClaimFamily,
) -> Result<()> {
    let n = opts.scale.pick(2_000, 100_000, 1_000_000);
    let mut t = Table::new(
        "ROC AUC and EER of N(0,1) negatives vs N(d,1) positives",
        &[
            "AUC",
            "AUC theory Φ(d/√2)",
            "|Δ| / SE (DeLong)",
            "EER",
            "EER theory Φ(−d/2)",
            "AP",
        ],
    );
    let mut worst_z = 0.0f64;
    let mut auc_parts = Vec::new();
    let mut eer_parts = Vec::new();
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
        let dl = DeLong::new(&[&scores], &labels, None)?.auc(0, "scores")?;
        let z = (auc - auc_th).abs() / dl.se;
        worst_z = worst_z.max(z);
        auc_parts.push((
            format!("d = {d}"),
            Judgement::equivalent(&dl, auc_th, AUC_MARGIN, ALPHA)?,
        ));
        let e = eer(&scores, &labels)?;
        let e_th = normal_cdf(-d / 2.0);
        let eer_est = NormalEstimate {
            name: "EER with the binomial SE √(e(1−e)/2n) (threshold choice ignored)".into(),
            estimate: e,
            se: (e * (1.0 - e) / (2 * n) as f64).sqrt(),
            n: 2 * n,
            unit: "scores".into(),
            bounds: Some([0.0, 1.0]),
        };
        eer_parts.push((
            format!("d = {d}"),
            Judgement::equivalent(&eer_est, e_th, EER_MARGIN, ALPHA)?,
        ));
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
        "{n} scores per class. SE: DeLong's standard error of the AUC."
    )));
    fam.claim(
        "core.auc-theory",
        &format!(
            "ROC AUC of two unit-variance Gaussians equals Φ(d/√2) within ±{AUC_MARGIN} for \
             every d"
        ),
        &format!("largest |AUC − theory| = {worst_z:.2} DeLong SE"),
        Judgement::all_of(auc_parts)?,
    );
    fam.claim(
        "core.eer-theory",
        &format!(
            "EER of two unit-variance Gaussians equals Φ(−d/2) within ±{EER_MARGIN} for every d"
        ),
        "",
        Judgement::all_of(eer_parts)?,
    );
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
    fam.claim(
        "core.auc-ties",
        "With tied scores, ROC AUC equals the Mann–Whitney statistic with ties counted ½",
        &format!("{m} scores on a 0.25 grid: trapezoid {a:.12}, Mann–Whitney {mw:.12}"),
        Judgement::deterministic(
            "|trapezoid − Mann–Whitney| < 1e-12",
            (a - mw).abs(),
            (a - mw).abs() < 1e-12,
            m,
            "scores",
            ALPHA,
        )?,
    );
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

fn image_checks(
    opts: &ReproduceOptions,
    rng: &mut SeededRng,
    report: &mut Report,
    fam: &mut ClaimFamily,
) -> Result<()> {
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
    let mut psnr_parts = Vec::new();
    let mut smallest_drop = f64::INFINITY;
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
            // Delta method: PSNR = 10·log10(1/MSE), MSE a mean of independent squared
            // pixel errors.
            let sq: Vec<f64> = img
                .iter()
                .zip(&noisy)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .collect();
            let nn = sq.len() as f64;
            let mse = sq.iter().sum::<f64>() / nn;
            let var = sq.iter().map(|v| (v - mse).powi(2)).sum::<f64>() / (nn - 1.0);
            let est = NormalEstimate {
                name: "PSNR with the delta-method SE of the pixel MSE".into(),
                estimate: p,
                se: 10.0 / std::f64::consts::LN_10 * (var / nn).sqrt() / mse,
                n: sq.len(),
                unit: "pixel values".into(),
                bounds: None,
            };
            psnr_parts.push((
                format!("σ = {sg}"),
                Judgement::equivalent(&est, th, PSNR_MARGIN_DB, ALPHA)?,
            ));
        }
        let q = ssim(&img, &noisy, c, h, w, 1.0)?;
        smallest_drop = smallest_drop.min(last_ssim - q);
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
    fam.claim(
        "core.psnr-theory",
        &format!(
            "PSNR of Gaussian noise equals −20·log10(σ) within ±{PSNR_MARGIN_DB} dB for σ ≤ 0.1"
        ),
        &format!("largest deviation {worst:.3} dB"),
        Judgement::all_of(psnr_parts)?,
    );
    fam.claim(
        "core.ssim-monotone",
        "SSIM falls strictly as the noise grows",
        &format!(
            "SSIM from {:.4} to {:.4}; smallest drop between neighbouring σ {smallest_drop:.2e}",
            ss[0].1,
            ss[ss.len() - 1].1
        ),
        Judgement::deterministic(
            "smallest SSIM drop > 0",
            smallest_drop,
            smallest_drop > 0.0,
            sigmas.len(),
            "noise levels",
            ALPHA,
        )?,
    );
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

fn knn_checks(
    opts: &ReproduceOptions,
    rng: &mut SeededRng,
    report: &mut Report,
    fam: &mut ClaimFamily,
) -> Result<()> {
    let sizes: &[usize] = opts.scale.pick(
        &[256, 1024][..],
        &[256, 1024, 4096][..],
        &[1024, 4096, 16384][..],
    );
    let mut t = Table::new(
        "k nearest neighbours in 3-D clouds: kd-tree against brute force",
        &["identical", "brute (ms)", "kd-tree incl. build (ms)"],
    );
    let mut mismatches = 0usize;
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
            mismatches += usize::from(!same);
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
    let combos = sizes.len() * 2;
    fam.claim(
        "core.knn-identical",
        "The kd-tree returns exactly the brute-force neighbours (indices and distances)",
        &format!("{combos} cloud/k combinations compared"),
        Judgement::deterministic(
            "identical neighbour lists",
            mismatches as f64,
            mismatches == 0,
            combos,
            "clouds",
            ALPHA,
        )?,
    );
    Ok(())
}

/// Run core's self-checks and return their report.
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| candor_core::Error::io(&opts.out_dir, e))?;
    let mut report = Report::new(
        "core",
        opts.scale.as_str(),
        opts.seed,
        false,
        "synthetic inputs drawn from the seed (no paper data: these are checks of the shared math)",
    );
    let mut rng = SeededRng::new(opts.seed);
    let mut fam = ClaimFamily::new(ALPHA);
    phase_checks(opts, &mut rng.fork(), &mut report, &mut fam)?;
    metric_checks(opts, &mut rng.fork(), &mut report, &mut fam)?;
    image_checks(opts, &mut rng.fork(), &mut report, &mut fam)?;
    knn_checks(opts, &mut rng.fork(), &mut report, &mut fam)?;
    report.claims = fam.try_finish()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candor_core::report::Verdict;

    #[test]
    fn smoke_claims_are_decided_by_tests() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReproduceOptions::new(candor_core::Scale::Smoke, 0, dir.path());
        let r = run(&opts).unwrap();
        candor_core::report::validate_results_json(&serde_json::to_value(&r).unwrap()).unwrap();
        for c in &r.claims {
            assert!(c.test.p_adjusted.is_some(), "{} is in the family", c.id);
            // The identities never fail; the statistical checks may be undecided at
            // smoke scale but never contradict theory.
            assert_ne!(c.verdict, Verdict::Fails, "{c:?}");
        }
        let det = ["core.phase-parseval", "core.auc-ties", "core.knn-identical"];
        for id in det {
            let c = r.claims.iter().find(|c| c.id == id).unwrap();
            assert_eq!(c.verdict, Verdict::Holds, "{c:?}");
        }
    }
}
