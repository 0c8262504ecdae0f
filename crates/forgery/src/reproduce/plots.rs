//! The reproduction's figures: AUCs per test set and model, the claims' AUC
//! differences per seed, the controls (grouped bars with DeLong interval whiskers),
//! training curves over seeds (mean ± t-interval bands) and MAT's attention maps.

use std::path::Path;

use candle_core::Device;
use candle_nn::VarMap;
use candor_core::checkpoint::load_varmap;
use candor_core::imageio::{resize, Filter};
use candor_core::init::seeded_var_builder;
use candor_core::plot::{
    band_plot, grouped_bar_plot, Band, BarGroup, BarValue, GroupedBars, Reference,
};
use candor_core::report::Report;
use candor_core::stats::Estimate;
use candor_core::Result;

use super::claims::{Joint, Role, ScoredRun, ALPHA, POSITIVE_MIN_AUC};
use super::{comparisons, RunResult, Setup};
use crate::data::load_batch;
use crate::model::{save_attention_figure, DetectorConfig, Mat};
use crate::train::EpochLog;

/// A bar with its two-sided 1 − 2α interval (NaN, no bar, when the estimate failed).
fn bar(e: Result<candor_core::stats::NormalEstimate>) -> BarValue {
    match e.and_then(|e| Ok((e.estimate, e.interval(1.0 - 2.0 * ALPHA)?))) {
        Ok((v, ci)) => BarValue::new(v, Some(ci)),
        Err(_) => BarValue::new(f64::NAN, None),
    }
}

fn conf_text() -> String {
    format!("{:.0}%", 100.0 * (1.0 - 2.0 * ALPHA))
}

pub(super) fn plots(
    report: &mut Report,
    setup: &Setup,
    runs: &[RunResult],
    scored: &[ScoredRun],
    out: &Path,
    device: &Device,
) -> Result<()> {
    // AUC per test set (group) and model (variant).
    let cross_role = setup.claim_setup().cross_role();
    let mut sets: Vec<(String, Role, Vec<String>)> = vec![(
        format!("in-domain: {}", setup.in_domain.join(" + ")),
        Role::InDomain,
        setup.in_domain.clone(),
    )];
    for m in &setup.test_methods {
        sets.push((m.clone(), cross_role, vec![m.clone()]));
    }
    let keys: Vec<&str> = setup.models.iter().map(|m| m.key).collect();
    let groups: Vec<BarGroup> = sets
        .iter()
        .map(|(label, role, methods)| BarGroup {
            label: label.clone(),
            bars: keys
                .iter()
                .map(|k| {
                    bar(Joint::new(scored, *role, &[k], Some(methods)).and_then(|j| j.mean_auc(k)))
                })
                .collect(),
        })
        .collect();
    if groups
        .iter()
        .any(|g| g.bars.iter().any(|b| b.value.is_finite()))
    {
        grouped_bar_plot(
            out.join("auc_by_test_set.png"),
            &GroupedBars {
                title: format!(
                    "Test AUC (mean over seeds, {} DeLong interval); trained on {}",
                    conf_text(),
                    setup.in_domain.join(" + ")
                ),
                y_label: "frame AUC".into(),
                variants: keys.iter().map(|k| k.to_string()).collect(),
                groups,
                y_range: Some((0.0, 1.0)),
                references: vec![Reference::new(0.5, "chance")],
            },
        )?;
        report.plots.push("auc_by_test_set.png".into());
    }

    // The claims' AUC differences, per seed and combined.
    let seeds = setup.seeds.max(1);
    let mut groups = Vec::new();
    for c in comparisons(setup) {
        let Ok(j) = Joint::new(scored, c.role, &[c.a, c.b], Some(&c.methods)) else {
            continue;
        };
        let mut bars: Vec<BarValue> = (0..seeds)
            .map(|k| {
                if j.seeds(c.a).contains(&k) {
                    bar(j.seed_diff(c.a, c.b, k))
                } else {
                    BarValue::new(f64::NAN, None)
                }
            })
            .collect();
        bars.push(bar(j.mean_diff(c.a, c.b)));
        groups.push(BarGroup {
            label: c.label,
            bars,
        });
    }
    if !groups.is_empty() {
        let mut variants: Vec<String> = (0..seeds).map(|k| format!("seed {k}")).collect();
        variants.push("mean over seeds (claim)".into());
        grouped_bar_plot(
            out.join("auc_differences.png"),
            &GroupedBars {
                title: format!(
                    "AUC differences of the claims ({} DeLong intervals)",
                    conf_text()
                ),
                y_label: "AUC difference".into(),
                variants,
                groups,
                y_range: None,
                references: vec![Reference::new(0.0, "no difference")],
            },
        )?;
        report.plots.push("auc_differences.png".into());
    }

    controls_plot(report, scored, out)?;

    // Training curves: mean ± t interval over seeds per model.
    let curve = |f: &dyn Fn(&EpochLog) -> f64| -> Result<Vec<Band>> {
        let mut bands = Vec::new();
        for spec in &setup.models {
            let rs: Vec<&RunResult> = runs
                .iter()
                .filter(|r| r.role == Role::InDomain && r.key == spec.key)
                .collect();
            let Some(first) = rs.first() else {
                continue;
            };
            let xs: Vec<f64> = (1..=first.spec.train.epochs).map(|e| e as f64).collect();
            let ys: Vec<Vec<f64>> = rs
                .iter()
                .map(|r| {
                    let mut v = vec![f64::NAN; xs.len()];
                    for e in &r.report.history {
                        if let Some(slot) = v.get_mut(e.epoch) {
                            *slot = f(e);
                        }
                    }
                    v
                })
                .collect();
            bands.push(Band::mean_t_interval(
                format!(
                    "{} ({} seed{})",
                    spec.key,
                    rs.len(),
                    if rs.len() > 1 { "s" } else { "" }
                ),
                &xs,
                &ys,
                1.0 - 2.0 * ALPHA,
            )?);
        }
        Ok(bands)
    };
    let loss = curve(&|e| e.mean_loss)?;
    if loss.iter().any(|b| !b.points.is_empty()) {
        band_plot(
            out.join("training_loss.png"),
            &format!(
                "Mean training loss per epoch (MAT: all loss terms); mean ± {} t interval over seeds",
                conf_text()
            ),
            "epoch",
            "loss",
            &loss,
        )?;
        report.plots.push("training_loss.png".into());
    }
    let val = curve(&|e| e.val.map_or(f64::NAN, |m| m.auc))?;
    if val.iter().any(|b| !b.points.is_empty()) {
        band_plot(
            out.join("val_auc.png"),
            &format!(
                "Validation AUC per epoch ({}); mean ± {} t interval over seeds",
                setup.in_domain.join(" + "),
                conf_text()
            ),
            "epoch",
            "frame AUC",
            &val,
        )?;
        report.plots.push("val_auc.png".into());
    }

    attention_figures(report, setup, runs, out, device)
}

/// The controls' test AUCs, each with the line its claim tests against (chance for the
/// negative control, the required AUC for the positive one).
fn controls_plot(report: &mut Report, scored: &[ScoredRun], out: &Path) -> Result<()> {
    let control = |key: &str, role: Role| {
        bar(Joint::new(scored, role, &[key], None).and_then(|j| j.mean_auc(key)))
    };
    let groups = vec![
        BarGroup {
            label: "negative: random labels (AUC ≈ 0.5)".into(),
            bars: vec![control("control-negative", Role::Negative)],
        },
        BarGroup {
            label: format!("positive: blurred region (AUC ≥ {POSITIVE_MIN_AUC})"),
            bars: vec![control("control-positive", Role::Positive)],
        },
    ];
    if groups.iter().any(|g| g.bars[0].value.is_finite()) {
        grouped_bar_plot(
            out.join("controls.png"),
            &GroupedBars {
                title: format!("Controls: SPSL test AUC ({} DeLong interval)", conf_text()),
                y_label: "frame AUC".into(),
                variants: vec!["SPSL".into()],
                groups,
                y_range: Some((0.0, 1.0)),
                references: vec![
                    Reference::new(0.5, "chance 0.5").over_groups(0..1),
                    Reference::new(POSITIVE_MIN_AUC, format!("required {POSITIVE_MIN_AUC}"))
                        .over_groups(1..2),
                ],
            },
        )?;
        report.plots.push("controls.png".into());
    }
    Ok(())
}

/// MAT's attention maps (base seed) over a test real and a test fake.
fn attention_figures(
    report: &mut Report,
    setup: &Setup,
    runs: &[RunResult],
    out: &Path,
    device: &Device,
) -> Result<()> {
    let Some(r) = runs
        .iter()
        .find(|r| r.role == Role::InDomain && r.key == "mat" && r.seed == 0)
    else {
        return Ok(());
    };
    let DetectorConfig::Mat(cfg) = &r.spec.config else {
        return Ok(());
    };
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 0, candle_core::DType::F32, device);
    let mat = Mat::new(vb, cfg)?;
    load_varmap(&vm, &r.checkpoint)?;
    let real = r.test.iter().find(|s| !s.is_fake());
    let fake = r.test.iter().find(|s| {
        s.method
            .as_ref()
            .is_some_and(|m| setup.in_domain.contains(m))
    });
    let (Some(real), Some(fake)) = (real, fake) else {
        return Ok(());
    };
    let load = r.spec.train.load_options();
    let (x, _) = load_batch(&[real.clone(), fake.clone()], &load)?;
    let maps = mat.attention_maps(&x.to_device(device)?)?;
    // Shown at ≥ 192 px (nearest-neighbour magnification, display only).
    let side = x.dim(3)?.max(1);
    let k = 192usize.div_ceil(side).max(1);
    let img = load.normalize.invert(&x)?;
    let img = if k > 1 {
        resize(&img, x.dim(2)? * k, side * k, Filter::Nearest)?
    } else {
        img
    };
    for (i, what) in ["real", "fake"].into_iter().enumerate() {
        let name = format!("mat_attention_{what}.png");
        save_attention_figure(out.join(&name), &img.get(i)?, &maps.get(i)?)?;
        report.plots.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws controls.png from hand-made control scores (kept in `CANDOR_PLOT_DIR`
    /// when set, to look at it).
    #[test]
    fn controls_plot_draws_both_controls() {
        let runs = super::super::claims::tests::runs(&|_| vec![]);
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::env::var_os("CANDOR_PLOT_DIR")
            .map_or_else(|| tmp.path().to_path_buf(), Into::into);
        let mut report = Report::new("forgery", "test", 0, true, "data");
        controls_plot(&mut report, &runs, &dir).unwrap();
        assert_eq!(report.plots, ["controls.png"]);
        let img = image::open(dir.join("controls.png")).unwrap();
        assert!(img.width() > 0);
    }
}
