//! The traditional bit watermark through the whole decision protocol on a synthetic
//! task: match a target PSNR on the training outputs, calibrate the threshold on clean
//! A and B of the calibration split at the target false-positive rate, then measure
//! success on watermarked held-out outputs and false positives on clean held-out A
//! and B, with 95 % Wilson intervals. Prints JSON.
//!
//! `cargo run -p candor-watermark --example bits -- [--task debone] [--side 64]
//!  [--images 2000] [--psnr 40] [--config cfg.json]`

use anyhow::{bail, Context, Result};
use candor_watermark::config::{Config, TaskKind};
use candor_watermark::data::{logo, split_by_source, synthetic};
use candor_watermark::eval::{bit_score, calibrate_threshold, detection_rate};
use candor_watermark::traditional::{match_psnr, SpreadSpectrum};
use candor_watermark::Image;

fn main() -> Result<()> {
    let mut cfg = Config::default();
    cfg.task.height = 64;
    cfg.task.width = 64;
    let mut target_psnr = 40.0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--task" => cfg.task.kind = value()?.parse::<TaskKind>()?,
            "--side" => {
                let s: usize = value()?.parse()?;
                (cfg.task.height, cfg.task.width) = (s, s);
            }
            "--images" => cfg.task.images = value()?.parse()?,
            "--psnr" => target_psnr = value()?.parse()?,
            "--config" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
                cfg = Config::from_json(&text)?;
            }
            _ => bail!("unknown argument {flag}"),
        }
    }
    let start = std::time::Instant::now();
    let task = &cfg.task;
    let splits = split_by_source(synthetic::generate(task)?, &cfg.split)?;
    let t = &cfg.traditional;
    let scheme = SpreadSpectrum::from_config(t, task.channels, task.height, task.width)?;
    let message = logo::random_bits(t.bits, t.message_seed);

    let train_b: Vec<Image> = splits.train.iter().map(|p| p.b.clone()).collect();
    let fit = match t.amplitude {
        Some(a) => {
            let p = candor_watermark::traditional::mean_psnr(&scheme, &train_b, &message, a)?;
            (a, p)
        }
        None => {
            let m = match_psnr(
                &scheme,
                &train_b,
                &message,
                target_psnr,
                t.psnr_tolerance_db,
            )?;
            (m.amplitude, m.mean_psnr)
        }
    };
    let score = |img: &Image| bit_score(&scheme.extract(img)?, &message);
    let scores = |imgs: Vec<&Image>| imgs.into_iter().map(score).collect::<Result<Vec<f64>, _>>();

    let negatives = scores(
        splits
            .calibration
            .iter()
            .flat_map(|p| [&p.a, &p.b])
            .collect(),
    )?;
    let rule = calibrate_threshold(&negatives, cfg.decision.target_fpr)?;
    let marked: Vec<Image> = splits
        .test
        .iter()
        .map(|p| scheme.embed(&p.b, &message, fit.0))
        .collect::<Result<_, _>>()?;
    let success = detection_rate(&scores(marked.iter().collect())?, rule.threshold)?;
    let fp_a = detection_rate(
        &scores(splits.test.iter().map(|p| &p.a).collect())?,
        rule.threshold,
    )?;
    let fp_b = detection_rate(
        &scores(splits.test.iter().map(|p| &p.b).collect())?,
        rule.threshold,
    )?;
    let out = serde_json::json!({
        "task": task.kind.key(),
        "size": [task.channels, task.height, task.width],
        "images": {"train": splits.train.len(), "calibration": splits.calibration.len(), "test": splits.test.len()},
        "bits": t.bits,
        "amplitude": fit.0,
        "train_mean_psnr_db": fit.1,
        "threshold": rule,
        "success_on_marked_test_B": success,
        "false_positive_clean_test_A": fp_a,
        "false_positive_clean_test_B": fp_b,
        "seconds": start.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
