//! `cargo xtask reproduce --paper watermark`: the deep scheme against the surrogate
//! attack, beside the traditional spread-spectrum scheme at matched PSNR, on the
//! synthetic debone task; at paper scale (and, to test the path, at smoke scale) the
//! same protocol then runs on the derain task ([`Setup::extra_tasks`]), whose tables
//! follow debone's and whose claim tests are reported as rows (the claims are judged on
//! debone).
//!
//! Protocol (each step on its own split, no source image crosses splits):
//!
//! 1. Synthetic debone pairs (A, B), greyscale, or the user's pairs from `--data`
//!    (`A/` + `B/` folders, or the official aligned `[A | B]` images, at the scale's
//!    image size); splits train / calibration / test by source image.
//! 2. **Initial stage** on the training split (the last few pairs validate the
//!    schedulers): H, R, D with the official losses.
//! 3. B′ = H(B, δ) on every split; the bit scheme's amplitude is matched to the deep
//!    scheme's mean PSNR on the training outputs (± 0.5 dB).
//! 4. **Surrogates** on (A, B′) of the training split, one factor at a time as the
//!    official table: four architectures with L2, and ResNet-9 with L1, L1+adv, L2+adv
//!    and perceptual+adv (the "L2" loss row is ResNet-9 + L2 of the architecture
//!    table). The perceptual term uses a fixed **random-feature** conv net: ImageNet VGG
//!    weights are not available offline. Clean-trained surrogates (on (A, B)) are the
//!    negative controls; the L2 architectures are also trained on the bit scheme's
//!    outputs.
//! 5. **Adversarial stage**: R fine-tuned on the outputs of one held-out L2 surrogate
//!    (ResNet-6, not in the table) and one clean-trained ResNet-6; both are excluded
//!    from every claim.
//! 6. Decision: the projection score (bits: 1 − BER), threshold calibrated at 0.1 %
//!    false-positive rate on the calibration split's negatives (clean A, clean B and the
//!    clean-trained surrogates' outputs); success and false-positive rates on the test
//!    split.
//!
//! Claims (tests fixed by the issue before any run): `wm.invisible` (mean PSNR(B′, B) ≥
//! 35 dB, t interval over test images), `wm.survives` (success ≥ 90 % on every table
//! surrogate except perceptual+adv, intersection–union of Wilson score tests),
//! `wm.no-false-positive` (false-positive rate ≤ 1 % on each negative group,
//! intersection–union of Wilson score tests), `wm.deep-beats-traditional` (deep success
//! exceeds bit success on each L2-trained surrogate, exact McNemar on paired test
//! images, intersection–union).

use std::path::Path;

use candle_core::Device;
use candor_core::plot::{grouped_bar_plot, BarGroup, BarValue, GroupedBars, Reference};
use candor_core::report::{Cell, Report, Table};
use candor_core::reproduce::{ReproduceOptions, Scale};
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::groups::t_mean;
use candor_core::stats::paired::McNemar;
use candor_core::stats::proportion::{wilson_interval, Proportion, ProportionMethod};
use candor_core::{Error, Result};

use crate::config::{
    Config, ContentLoss, DiscriminatorConfig, EmbedderConfig, ExtractorConfig, SplitConfig,
    SurrogateArch, SurrogateConfig, TaskConfig, TaskKind,
};
use crate::data::folder::{load_aligned_folder, load_pair_folders, FolderOptions};
use crate::data::{logo, split_by_source, synthetic, Pair};
use crate::eval::{bit_score, calibrate_threshold, fidelity, score_extraction, Threshold};
use crate::image::Image;
use crate::model::RandomFeatures;
use crate::traditional::{match_psnr, SpreadSpectrum};
use crate::train::{
    train_surrogate_resumable, DeepScheme, FinetuneData, TrainLog, TrainedSurrogate,
};

const ALPHA: f64 = 0.05;
const PERCEPTUAL_NOTE: &str = "perceptual = MSE of a fixed random-feature conv net (ImageNet VGG weights are not available offline), not VGG19";

/// One surrogate of the attack table.
#[derive(Debug, Clone)]
struct Row {
    name: &'static str,
    arch: SurrogateArch,
    content: ContentLoss,
    adversarial: bool,
    /// Counted in `wm.survives` (all but perceptual+adv).
    in_survives: bool,
    /// An L2-trained architecture row (also trained on the bit scheme's outputs).
    l2_arch: bool,
    /// The README's "x/y" cell for debone.
    paper: &'static str,
}

const fn row(
    name: &'static str,
    arch: SurrogateArch,
    content: ContentLoss,
    adversarial: bool,
    l2_arch: bool,
    paper: &'static str,
) -> Row {
    Row {
        name,
        arch,
        content,
        adversarial,
        in_survives: !matches!(content, ContentLoss::Perceptual),
        l2_arch,
        paper,
    }
}

const ROWS: [Row; 8] = [
    row(
        "CNet-like (L2)",
        SurrogateArch::CnetLike,
        ContentLoss::L2,
        false,
        true,
        "93/100",
    ),
    row(
        "ResNet-9 (L2)",
        SurrogateArch::Resnet9,
        ContentLoss::L2,
        false,
        true,
        "100/100",
    ),
    row(
        "ResNet-16 (L2)",
        SurrogateArch::Resnet16,
        ContentLoss::L2,
        false,
        true,
        "100/100",
    ),
    row(
        "U-Net (L2)",
        SurrogateArch::Unet,
        ContentLoss::L2,
        false,
        true,
        "100/100",
    ),
    row(
        "ResNet-9 L1",
        SurrogateArch::Resnet9,
        ContentLoss::L1,
        false,
        false,
        "100/100",
    ),
    row(
        "ResNet-9 L1+adv",
        SurrogateArch::Resnet9,
        ContentLoss::L1,
        true,
        false,
        "100/100",
    ),
    row(
        "ResNet-9 L2+adv",
        SurrogateArch::Resnet9,
        ContentLoss::L2,
        true,
        false,
        "100/100",
    ),
    row(
        "ResNet-9 perceptual+adv",
        SurrogateArch::Resnet9,
        ContentLoss::Perceptual,
        true,
        false,
        "71/94",
    ),
];

/// Everything one scale runs.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The configuration (task, networks, schedules).
    pub cfg: Config,
    /// Validation pairs taken from the end of the training split.
    pub val_pairs: usize,
    /// Architectures of the clean-trained surrogates (negative controls).
    pub clean_archs: Vec<SurrogateArch>,
    /// What the table notes say about the budget.
    pub budget_note: String,
    /// Further synthetic tasks run after the main one with the same settings (paper
    /// scale: derain, the official code's second task). Their tables follow the main
    /// task's, named after the task, and their claim tests are reported as a table, not
    /// as claims: the claims are judged on the main task. Not run on `--data`.
    pub extra_tasks: Vec<TaskKind>,
}

impl Setup {
    /// The settings of `scale`.
    pub fn for_scale(scale: Scale, seed: u64) -> Setup {
        let mut cfg = Config::default();
        cfg.task.seed = seed;
        cfg.train.seed = seed;
        cfg.split.seed = seed;
        cfg.surrogate.seed = seed;
        match scale {
            Scale::Smoke => {
                cfg.task = TaskConfig {
                    height: 32,
                    width: 32,
                    images: 60,
                    seed,
                    ..TaskConfig::default()
                };
                cfg.split = SplitConfig {
                    train: 0.4,
                    calibration: 0.3,
                    test: 0.3,
                    seed,
                };
                cfg.embedder = EmbedderConfig {
                    ngf: 4,
                    num_downs: 3,
                };
                cfg.extractor = ExtractorConfig {
                    width: 4,
                    dilations: vec![2],
                };
                cfg.discriminator = DiscriminatorConfig { widths: vec![4, 8] };
                cfg.train.batch_size = 4;
                cfg.train.steps = Some(3);
                cfg.adversarial.batch_size = 4;
                cfg.adversarial.steps = Some(2);
                cfg.surrogate = SurrogateConfig {
                    ngf: 2,
                    batch_size: 4,
                    unet_downs: 3,
                    steps: Some(2),
                    seed,
                    ..SurrogateConfig::default()
                };
                cfg.traditional.bits = 16;
                Setup {
                    cfg,
                    val_pairs: 4,
                    clean_archs: vec![SurrogateArch::CnetLike],
                    budget_note: "smoke: 32² images, 3 H/R/D steps, 2 steps per surrogate; numbers mean nothing".into(),
                    // Exercises the paper scale's second-task path.
                    extra_tasks: vec![TaskKind::Derain],
                }
            }
            Scale::Quick => {
                // Budget from timing alone. First set at 300 H/R/D, 100 surrogate and
                // 60 adversarial steps, cut to 200 / 60 / 40 when a shared machine (load
                // ~17 on 2 cores) could not finish it. With the fused GroupNorm kernel the
                // 200 / 60 / 40 run took 90 s on the idle 2-core machine, so every stage
                // was raised 5× (training is at most all of those 90 s: ≤ 450 s + the
                // evaluation, within the 10-minute share), before any result of it was seen.
                // 300 training images, 600 per calibration and test group. The power of
                // `wm.no-false-positive` sets the test size: with 0 false positives in
                // n images the Wilson test's p is Φ(−0.01·√n / √0.0099), and Holm's
                // correction over the 4 claims needs p ≤ 0.0125 for the first, so
                // n ≥ 497. At the earlier 350 (1000 images, 0.3 / 0.35 / 0.35) even a
                // perfect 0/350 (p = 0.030) could never hold. After issue 18's speed-ups
                // (160 s) the calibration and test groups were doubled to 1200 each
                // (2700 images, 1/9 / 4/9 / 4/9), from timing alone; the training split
                // stays 300 images, but the seeded split of the larger pool draws others.
                cfg.task = TaskConfig {
                    height: 64,
                    width: 64,
                    images: 2700,
                    seed,
                    ..TaskConfig::default()
                };
                cfg.split = SplitConfig {
                    train: 1.0 / 9.0,
                    calibration: 4.0 / 9.0,
                    test: 4.0 / 9.0,
                    seed,
                };
                cfg.embedder = EmbedderConfig {
                    ngf: 16,
                    num_downs: 6,
                };
                cfg.extractor = ExtractorConfig {
                    width: 16,
                    dilations: vec![2, 2, 4, 4],
                };
                cfg.discriminator = DiscriminatorConfig {
                    widths: vec![16, 32, 64, 128],
                };
                cfg.train.batch_size = 4;
                cfg.train.steps = Some(1000);
                cfg.adversarial.batch_size = 4;
                cfg.adversarial.steps = Some(200);
                cfg.surrogate = SurrogateConfig {
                    ngf: 8,
                    batch_size: 4,
                    unet_downs: 6,
                    steps: Some(300),
                    seed,
                    ..SurrogateConfig::default()
                };
                Setup {
                    cfg,
                    val_pairs: 16,
                    clean_archs: vec![SurrogateArch::Resnet9],
                    budget_note: "quick: SynthDebone 64² greyscale, 2700 images (train 1/9 / calibration 4/9 / test 4/9: 300 / 1200 / 1200; at least 497 test images let 0 false positives pass the Holm-corrected ≤ 1 % test, and at 1200, doubled from 600 after issue 18's speed-ups, up to 4 can); H ngf 16 with 6 levels, R 16 wide with 4 residual blocks (dilations 2,2,4,4), D widths 16–128 (official: 64, 128 wide with 9 blocks, 64–512); 1000 H/R/D steps at batch 4 (official 200 epochs at batch 16); surrogates ngf 8, 300 steps at batch 4 (official 300 epochs at batch 16); adversarial stage 200 steps at batch 4. Budget from timing alone (5× the 200/60/40 steps that took 90 s on the idle machine), before any result was seen".into(),
                    extra_tasks: Vec::new(),
                }
            }
            Scale::Paper => {
                cfg.surrogate.unet_downs = 8;
                cfg.surrogate.steps = None;
                Setup {
                    cfg,
                    val_pairs: 64,
                    clean_archs: vec![
                        SurrogateArch::CnetLike,
                        SurrogateArch::Resnet9,
                        SurrogateArch::Resnet16,
                        SurrogateArch::Unet,
                    ],
                    budget_note: "paper: SynthDebone 256² greyscale, 2000 images, the official widths and schedules; then SynthDerain with the same settings".into(),
                    extra_tasks: vec![TaskKind::Derain],
                }
            }
        }
    }
}

fn surrogate_cfg(
    base: &SurrogateConfig,
    arch: SurrogateArch,
    content: ContentLoss,
    adv: bool,
    salt: u64,
) -> SurrogateConfig {
    SurrogateConfig {
        arch,
        content,
        adversarial: adv,
        seed: base.seed.wrapping_mul(31).wrapping_add(salt),
        ..base.clone()
    }
}

fn rate_cell(k: usize, n: usize) -> Result<(f64, String)> {
    let ci = wilson_interval(k as u64, n as u64, 1.0 - 2.0 * ALPHA)?;
    Ok((k as f64 / n as f64, format!("[{:.3}, {:.3}]", ci[0], ci[1])))
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// Scores of one group of images under both schemes' extractors.
struct Scored {
    projection: Vec<f64>,
    nc_zero_mean: Vec<f64>,
    nc_uncentred: Vec<f64>,
    ber: Vec<f64>,
}

fn score_deep(scheme: &DeepScheme, images: &[Image], wm: &Image, blank: &Image) -> Result<Scored> {
    let ex = scheme.extract_images(images)?;
    let mut s = Scored {
        projection: vec![],
        nc_zero_mean: vec![],
        nc_uncentred: vec![],
        ber: vec![],
    };
    for e in &ex {
        let sc = score_extraction(e, wm, blank)?;
        s.projection.push(sc.projection);
        s.nc_zero_mean.push(sc.nc_zero_mean);
        s.nc_uncentred.push(sc.nc_uncentred);
        s.ber.push(sc.ber_binarised);
    }
    Ok(s)
}

fn score_bits(scheme: &SpreadSpectrum, images: &[Image], message: &[bool]) -> Result<Vec<f64>> {
    images
        .iter()
        .map(|im| bit_score(&scheme.extract(im)?, message))
        .collect()
}

fn outcomes(scores: &[f64], t: &Threshold) -> Vec<bool> {
    scores.iter().map(|&s| s > t.threshold).collect()
}

fn col<F: Fn(&Pair) -> &Image>(pairs: &[Pair], f: F) -> Vec<Image> {
    pairs.iter().map(|p| f(p).clone()).collect()
}

/// Tile greyscale images (first channel) side by side into one image with 2-pixel gaps.
fn tile(rows: &[Vec<Image>]) -> Result<Image> {
    let first = rows
        .first()
        .and_then(|r| r.first())
        .ok_or_else(|| Error::invalid("tile: no images"))?;
    let (h, w) = (first.height(), first.width());
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let gap = 2;
    let (th, tw) = (rows.len() * (h + gap) - gap, cols * (w + gap) - gap);
    let mut data = vec![1.0f32; th * tw];
    for (ri, r) in rows.iter().enumerate() {
        for (ci, im) in r.iter().enumerate() {
            let p = im.plane(0);
            for y in 0..h {
                for x in 0..w {
                    data[(ri * (h + gap) + y) * tw + ci * (w + gap) + x] =
                        p[y * w + x].clamp(0.0, 1.0);
                }
            }
        }
    }
    Image::new(1, th, tw, data)
}

fn train_row(label: &str, log: &TrainLog) -> (String, Vec<Cell>) {
    (
        label.to_string(),
        vec![
            Cell::from(log.steps),
            Cell::from(log.skipped),
            Cell::from(log.losses.first().map(|l| l.1)),
            Cell::from(log.losses.last().map(|l| l.1)),
            Cell::from(log.final_lr),
        ],
    )
}

/// Run the reproduction at `opts.scale`.
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    let setup = Setup::for_scale(opts.scale, opts.seed);
    let mut report = run_setup(&setup, opts)?;
    if opts.data_dir.is_none() {
        for &kind in &setup.extra_tasks {
            let mut extra = setup.clone();
            extra.cfg.task.kind = kind;
            extra.extra_tasks.clear();
            let sub = ReproduceOptions {
                out_dir: opts.out_dir.join(kind.key()),
                ..opts.clone()
            };
            let r = run_setup(&extra, &sub)?;
            append_task(&mut report, r, kind.key());
        }
        if !setup.extra_tasks.is_empty() {
            let names: Vec<String> = setup
                .extra_tasks
                .iter()
                .map(|k| match k {
                    TaskKind::Debone => "SynthDebone".to_string(),
                    TaskKind::Derain => "SynthDerain".to_string(),
                    TaskKind::Denoise => "synthetic denoise".to_string(),
                })
                .collect();
            report.data.push_str(&format!(
                "; then the same protocol on {} pairs (tables prefixed with the task; the claims are judged on debone only)",
                names.join(", ")
            ));
        }
    }
    Ok(report)
}

/// Adds a further task's report to the main one: its tables (named after the task), its
/// plots (in the task's subfolder) and its claim tests as one table of rows, not claims.
fn append_task(report: &mut Report, extra: Report, task: &str) {
    for mut t in extra.tables {
        t.name = format!("{task}: {}", t.name);
        report.tables.push(t);
    }
    report
        .plots
        .extend(extra.plots.into_iter().map(|p| format!("{task}/{p}")));
    let mut t = Table::new(
        format!("{task}: the claims' tests on this task (reported, not claims)"),
        &[
            "verdict",
            "estimate",
            "interval low",
            "interval high",
            "p (one-sided)",
        ],
    );
    for c in &extra.claims {
        t.row(
            c.id.clone(),
            vec![
                Cell::Text(c.verdict.as_str().to_string()),
                Cell::from(c.test.estimate),
                Cell::from(c.test.ci[0]),
                Cell::from(c.test.ci[1]),
                Cell::from(c.test.p),
            ],
        );
    }
    report.tables.push(t.with_note(format!(
        "The same tests as the claims, on the {task} task; the claims themselves are judged on the main task."
    )));
}

/// Run the reproduction with explicit settings.
pub fn run_setup(setup: &Setup, opts: &ReproduceOptions) -> Result<Report> {
    let cfg = &setup.cfg;
    cfg.validate()?;
    let dev: &Device = &opts.device;
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let t = &cfg.task;
    let (c, hh, ww) = (t.channels, t.height, t.width);

    // 1. Data and watermark.
    let (pairs, user_data) = match &opts.data_dir {
        Some(dir) => {
            let (pairs, layout) = load_user_pairs(dir, t)?;
            let note = format!(
                "user pairs from {} ({} pairs, {layout}, {c}×{hh}×{ww}); the table notes' image description is the scale's synthetic default and does not apply",
                dir.display(),
                pairs.len()
            );
            (pairs, Some(note))
        }
        None => (synthetic::generate(t)?, None),
    };
    let splits = split_by_source(pairs, &cfg.split)?;
    let wm = logo::watermark(&cfg.watermark, c, hh, ww)?;
    let blank = logo::blank(&cfg.watermark, c, hh, ww)?;
    let n_train = splits.train.len();
    if n_train <= setup.val_pairs {
        return Err(Error::invalid(format!(
            "watermark reproduce: {n_train} training pairs, need more than {} for validation",
            setup.val_pairs
        )));
    }
    let (train, val) = splits.train.split_at(n_train - setup.val_pairs);
    let (cal, test) = (&splits.calibration, &splits.test);

    // 2. Initial stage.
    let mut scheme = DeepScheme::new(cfg, dev)?;
    // Per-epoch checkpoints at paper scale or with --resume (see ReproduceOptions).
    let ckpt_dir = opts.checkpoint_dir();
    scheme.set_checkpoint_dir(ckpt_dir.clone());
    let init_log = scheme.train_initial(cfg, train, val, &wm, &blank)?;
    let wdir = out.join("weights");
    scheme.save(&wdir.join("initial"))?;
    candor_core::fsio::write_atomic(wdir.join("config.json"), cfg.to_json()?.as_bytes())?;

    // 3. Watermarked outputs and the matched bit scheme.
    let (tr_a, tr_b) = (col(train, |p| &p.a), col(train, |p| &p.b));
    let (te_a, te_b) = (col(test, |p| &p.a), col(test, |p| &p.b));
    let (ca_a, ca_b) = (col(cal, |p| &p.a), col(cal, |p| &p.b));
    let tr_bp = scheme.embed_images(&tr_b, &wm)?;
    let te_bp = scheme.embed_images(&te_b, &wm)?;
    let fid_deep = fidelity(&te_bp, &te_b)?;
    let fid_deep_train = fidelity(&tr_bp, &tr_b)?;
    let tcfg = &cfg.traditional;
    let bits = SpreadSpectrum::from_config(tcfg, c, hh, ww)?;
    let message = logo::random_bits(tcfg.bits, tcfg.message_seed);
    let fit = match_psnr(
        &bits,
        &tr_b,
        &message,
        fid_deep_train.mean_psnr(),
        tcfg.psnr_tolerance_db,
    )?;
    let embed_bits = |imgs: &[Image]| -> Result<Vec<Image>> {
        imgs.iter()
            .map(|b| bits.embed(b, &message, fit.amplitude))
            .collect()
    };
    let tr_bb = embed_bits(&tr_b)?;
    let te_bb = embed_bits(&te_b)?;
    let fid_bits = fidelity(&te_bb, &te_b)?;

    // 4. Surrogates.
    let features = RandomFeatures::new(c, opts.seed ^ 0xfea7, dev)?;
    let base = &cfg.surrogate;
    let mut logs: Vec<(String, TrainLog)> = vec![("initial stage (H, R, D)".into(), init_log)];
    let mut train_s = |label: String,
                       sc: SurrogateConfig,
                       inputs: &[Image],
                       targets: &[Image]|
     -> Result<TrainedSurrogate> {
        // The k-th surrogate's checkpoint (the order of the surrogates is fixed).
        let ck = ckpt_dir
            .as_ref()
            .map(|d| d.join(format!("surrogate-{}.ckpt", logs.len())));
        let s =
            train_surrogate_resumable(&sc, inputs, targets, Some(&features), dev, ck.as_deref())?;
        logs.push((label, s.log.clone()));
        Ok(s)
    };
    // Adversarial-stage surrogates (excluded from claims).
    let ft_wm = train_s(
        "held-out ResNet-6 L2 on (A, B′) [adversarial stage]".into(),
        surrogate_cfg(base, SurrogateArch::Resnet6, ContentLoss::L2, false, 101),
        &tr_a,
        &tr_bp,
    )?;
    let ft_clean = train_s(
        "clean ResNet-6 L2 on (A, B) [adversarial stage]".into(),
        surrogate_cfg(base, SurrogateArch::Resnet6, ContentLoss::L2, false, 102),
        &tr_a,
        &tr_b,
    )?;
    let ft_data = FinetuneData {
        watermarked: tr_bp.clone(),
        surrogate: ft_wm.apply(&tr_a, dev)?,
        clean_a: tr_a.clone(),
        clean_b: tr_b.clone(),
        clean_surrogate: ft_clean.apply(&tr_a, dev)?,
    };
    // Table surrogates on (A, B′), and the L2 architectures on the bit scheme's outputs.
    let mut deep_outputs: Vec<Vec<Image>> = Vec::new();
    let mut bit_outputs: Vec<Option<Vec<Image>>> = Vec::new();
    for (i, r) in ROWS.iter().enumerate() {
        let s = train_s(
            format!("{} on (A, B′)", r.name),
            surrogate_cfg(base, r.arch, r.content, r.adversarial, i as u64),
            &tr_a,
            &tr_bp,
        )?;
        deep_outputs.push(s.apply(&te_a, dev)?);
        if r.l2_arch {
            let s = train_s(
                format!("{} on (A, bit-watermarked B)", r.name),
                surrogate_cfg(base, r.arch, r.content, r.adversarial, 50 + i as u64),
                &tr_a,
                &tr_bb,
            )?;
            bit_outputs.push(Some(s.apply(&te_a, dev)?));
        } else {
            bit_outputs.push(None);
        }
    }
    // Clean-trained surrogates: negative controls on calibration and test.
    let mut clean_cal: Vec<Image> = Vec::new();
    let mut clean_test: Vec<Image> = Vec::new();
    let mut clean_names = Vec::new();
    for (i, &arch) in setup.clean_archs.iter().enumerate() {
        let s = train_s(
            format!("clean {arch:?} L2 on (A, B) [negative control]"),
            surrogate_cfg(base, arch, ContentLoss::L2, false, 200 + i as u64),
            &tr_a,
            &tr_b,
        )?;
        clean_cal.extend(s.apply(&ca_a, dev)?);
        clean_test.extend(s.apply(&te_a, dev)?);
        clean_names.push(format!("{arch:?}"));
    }
    let clean_example = clean_test.first().cloned();

    // 5. Adversarial stage.
    let ft_log = scheme.finetune_extractor(cfg, &ft_data, &wm, &blank)?;
    logs.push(("adversarial stage (R only)".into(), ft_log));
    scheme.save(&wdir)?;

    // 6. Scores, thresholds, rates.
    let neg_cal_deep: Vec<f64> = [&ca_a, &ca_b, &clean_cal]
        .iter()
        .map(|set| score_deep(&scheme, set, &wm, &blank).map(|s| s.projection))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let rule_deep = calibrate_threshold(&neg_cal_deep, cfg.decision.target_fpr)?;
    let neg_cal_bits: Vec<f64> = [&ca_a, &ca_b, &clean_cal]
        .iter()
        .map(|set| score_bits(&bits, set, &message))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let rule_bits = calibrate_threshold(&neg_cal_bits, cfg.decision.target_fpr)?;
    let decision = serde_json::json!({
        "projection_threshold": rule_deep.threshold,
        "target_fpr": rule_deep.target_fpr,
        "fpr_bound": rule_deep.fpr_bound,
        "negatives": rule_deep.negatives,
    });
    candor_core::fsio::write_atomic(wdir.join("decision.json"), decision.to_string().as_bytes())?;

    let mut report = Report::new(
        "watermark",
        opts.scale.as_str(),
        opts.seed,
        true,
        match &user_data {
            Some(note) => format!("{note}; procedural logo watermark; not the paper's data"),
            None => "synthetic SynthDebone pairs (procedural X-ray-like images with ribs and clavicles), procedural logo watermark; a mechanism replication, not the paper's data".to_string(),
        },
    );

    // Surrogate table.
    let mut tab = Table::new(
        "Surrogate attack: deep scheme (success rate at the calibrated threshold)",
        &[
            "success",
            "90% Wilson",
            "mean projection",
            "mean NC (zero-mean)",
            "mean NC (uncentred)",
            "mean binarised BER",
        ],
    );
    let positives_bp = score_deep(&scheme, &te_bp, &wm, &blank)?;
    let add_row =
        |tab: &mut Table, label: &str, s: &Scored, paper: Option<&str>| -> Result<Vec<bool>> {
            let o = outcomes(&s.projection, &rule_deep);
            let k = o.iter().filter(|&&x| x).count();
            let (r, ci) = rate_cell(k, o.len())?;
            tab.row(
                label,
                vec![
                    r.into(),
                    ci.into(),
                    mean(&s.projection).into(),
                    mean(&s.nc_zero_mean).into(),
                    mean(&s.nc_uncentred).into(),
                    mean(&s.ber).into(),
                ],
            );
            if let Some(p) = paper {
                tab.paper_row(
                    label,
                    vec![
                        p.into(),
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                        Cell::Null,
                    ],
                );
            }
            Ok(o)
        };
    add_row(&mut tab, "B′ (no attack)", &positives_bp, None)?;
    let mut deep_out_by_row = Vec::new();
    for (r, imgs) in ROWS.iter().zip(&deep_outputs) {
        let s = score_deep(&scheme, imgs, &wm, &blank)?;
        let o = add_row(&mut tab, r.name, &s, Some(r.paper))?;
        deep_out_by_row.push(o);
    }
    let mut neg_rows = Vec::new();
    for (label, set) in [
        ("clean A", &te_a),
        ("clean B", &te_b),
        ("clean-trained surrogates", &clean_test),
    ] {
        let s = score_deep(&scheme, set, &wm, &blank)?;
        let o = add_row(&mut tab, &format!("negative: {label}"), &s, None)?;
        neg_rows.push((label, o));
    }
    let tab = tab.with_note(format!(
        "Test split, {} images per row. Decision: projection score ⟨δ′−δ0, δ−δ0⟩/‖δ−δ0‖² > {:.4}, calibrated on {} calibration negatives (clean A, clean B, clean-trained surrogates) at target FPR {} (bound {:.4}{}). Paper column: the official README's debone cell \"x/y\" (semantics of x/y unverified). Clean-trained surrogates: {}. The adversarial stage used a held-out ResNet-6 (L2) and a clean ResNet-6, excluded from this table. {PERCEPTUAL_NOTE}. Surrogates use zero padding (the code: reflection) and the watermark's D as their adversary (the code: a PatchGAN). {}",
        te_a.len(),
        rule_deep.threshold,
        rule_deep.negatives,
        rule_deep.target_fpr,
        rule_deep.fpr_bound,
        if rule_deep.target_reachable { "" } else { ", target not reachable with these negatives" },
        clean_names.join(", "),
        match &user_data {
            Some(note) => format!("{} Data: {note}.", setup.budget_note),
            None => setup.budget_note.clone(),
        }
    ));
    report.tables.push(tab);

    // Fidelity table.
    let mut ft = Table::new(
        "Fidelity of the watermarked outputs (test split)",
        &["mean PSNR (dB)", "mean SSIM"],
    );
    ft.row(
        "deep (B′ = H(B, δ))",
        vec![fid_deep.mean_psnr().into(), fid_deep.mean_ssim().into()],
    );
    ft.row(
        "traditional (spread spectrum)",
        vec![fid_bits.mean_psnr().into(), fid_bits.mean_ssim().into()],
    );
    ft.paper_row(
        "deep (B′ = H(B, δ))",
        vec![
            Cell::Text("> 40 [unverified]".into()),
            Cell::Text("≈ 0.99 [unverified]".into()),
        ],
    );
    report.tables.push(ft.with_note(format!(
        "The bit scheme ({} bits, key-derived ±1 patterns) has RMS amplitude {:.5}, matched on the training outputs to the deep scheme's mean PSNR {:.2} dB (fit {:.2} dB, tolerance {} dB).",
        tcfg.bits, fit.amplitude, fid_deep_train.mean_psnr(), fit.mean_psnr, tcfg.psnr_tolerance_db
    )));

    // Deep vs traditional.
    let mut dt = Table::new(
        "Deep vs traditional at matched PSNR (L2-trained surrogates, same calibrated rule)",
        &[
            "deep success",
            "bit success",
            "deep only",
            "bits only",
            "McNemar p (two-sided)",
        ],
    );
    let mut dvt_parts = Vec::new();
    let bit_bp = outcomes(&score_bits(&bits, &te_bb, &message)?, &rule_bits);
    {
        let deep_bp = outcomes(&positives_bp.projection, &rule_deep);
        let m = McNemar::new(&deep_bp, &bit_bp, "images")?;
        dt.row(
            "no attack",
            vec![
                mean_b(&deep_bp).into(),
                mean_b(&bit_bp).into(),
                (m.n10 as usize).into(),
                (m.n01 as usize).into(),
                m.p_two_sided().into(),
            ],
        );
    }
    for ((r, deep_o), bit_imgs) in ROWS.iter().zip(&deep_out_by_row).zip(&bit_outputs) {
        let Some(bit_imgs) = bit_imgs else { continue };
        let bit_o = outcomes(&score_bits(&bits, bit_imgs, &message)?, &rule_bits);
        let m = McNemar::new(deep_o, &bit_o, "images")?;
        dt.row(
            r.name,
            vec![
                mean_b(deep_o).into(),
                mean_b(&bit_o).into(),
                (m.n10 as usize).into(),
                (m.n01 as usize).into(),
                m.p_two_sided().into(),
            ],
        );
        dvt_parts.push((r.name.to_string(), Judgement::superior(&m, ALPHA)?));
    }
    for (label, set) in [
        ("clean A", &te_a),
        ("clean B", &te_b),
        ("clean-trained surrogates", &clean_test),
    ] {
        let o = outcomes(&score_bits(&bits, set, &message)?, &rule_bits);
        dt.row(
            format!("negative: {label} (false positives)"),
            vec![
                Cell::Null,
                mean_b(&o).into(),
                Cell::Null,
                Cell::Null,
                Cell::Null,
            ],
        );
    }
    report.tables.push(dt.with_note(format!(
        "Bit scheme decision: 1 − BER > {:.4}, calibrated like the deep scheme's on the same calibration negatives (bound {:.4}). The L2 surrogates of this table were trained on (A, bit-watermarked B) with the same budget. McNemar pairs the two schemes' outcomes on the same test images.",
        rule_bits.threshold, rule_bits.fpr_bound
    )));

    // Training table.
    let mut tt = Table::new(
        "Training runs",
        &[
            "steps",
            "skipped (NaN guard)",
            "first logged loss",
            "last logged loss",
            "final lr",
        ],
    );
    for (label, log) in &logs {
        let (l, v) = train_row(label, log);
        tt.row(l, v);
    }
    report.tables.push(tt.with_note(format!("Losses are the official scaled losses (×1e4 MSE) per logged step (each epoch's last step; the adversarial stage logs epoch means). {PERCEPTUAL_NOTE}.")));

    // Figures.
    let ex_idx = 0;
    let sur_img = &deep_outputs[1][ex_idx];
    let ex_sur = scheme.extract_images(std::slice::from_ref(sur_img))?;
    let mut fig_row = vec![
        te_a[ex_idx].clone(),
        te_b[ex_idx].clone(),
        te_bp[ex_idx].clone(),
        diff_x10(&te_bp[ex_idx], &te_b[ex_idx])?,
        wm.clone(),
        ex_sur[0].clone(),
    ];
    if let Some(ce) = &clean_example {
        fig_row.push(scheme.extract_images(std::slice::from_ref(ce))?[0].clone());
    }
    let fig = tile(&[fig_row])?;
    fig.save(out.join("gallery.png"))?;
    report.plots.push("gallery.png".into());
    let mut groups = Vec::new();
    for (r, o) in ROWS.iter().zip(&deep_out_by_row) {
        let k = o.iter().filter(|&&x| x).count();
        let ci = wilson_interval(k as u64, o.len() as u64, 1.0 - 2.0 * ALPHA)?;
        groups.push(BarGroup {
            label: r.name.into(),
            bars: vec![BarValue::new(k as f64 / o.len() as f64, Some(ci))],
        });
    }
    grouped_bar_plot(
        out.join("success.png"),
        &GroupedBars {
            title: "Deep watermark: success rate per surrogate (90% Wilson)".into(),
            y_label: "success rate".into(),
            variants: vec!["deep".into()],
            groups,
            y_range: Some((0.0, 1.05)),
            references: vec![Reference::new(0.9, "claimed 0.90")],
        },
    )?;
    report.plots.push("success.png".into());

    // Claims.
    let mut fam = ClaimFamily::new(ALPHA);
    let psnr = t_mean(&fid_deep.psnr, "images")?;
    fam.claim(
        "wm.invisible",
        "The deep watermark is invisible: mean PSNR(B′, B) ≥ 35 dB over test images",
        &format!(
            "mean PSNR {:.2} dB, SSIM {:.4}, over {} test images",
            fid_deep.mean_psnr(),
            fid_deep.mean_ssim(),
            te_b.len()
        ),
        Judgement::at_least(&psnr, 35.0, ALPHA)?,
    );
    let mut parts = Vec::new();
    for (r, o) in ROWS.iter().zip(&deep_out_by_row) {
        if r.in_survives {
            let p = Proportion::from_outcomes(o, ProportionMethod::Wilson, "images")?;
            parts.push((r.name.to_string(), Judgement::at_least(&p, 0.9, ALPHA)?));
        }
    }
    fam.claim(
        "wm.survives",
        "The watermark survives surrogate training: success ≥ 90 % on every surrogate except perceptual+adv",
        &format!("{} surrogates, {} test images each; {PERCEPTUAL_NOTE}", parts.len(), te_a.len()),
        Judgement::all_of(parts)?,
    );
    let mut parts = Vec::new();
    for (label, o) in &neg_rows {
        let p = Proportion::from_outcomes(o, ProportionMethod::Wilson, "images")?;
        parts.push((label.to_string(), Judgement::at_most(&p, 0.01, ALPHA)?));
    }
    fam.claim(
        "wm.no-false-positive",
        "Held-out false-positive rate ≤ 1 % on each negative group (clean A, clean B, clean-trained surrogates)",
        &format!("threshold calibrated at {} FPR on {} calibration negatives", cfg.decision.target_fpr, rule_deep.negatives),
        Judgement::all_of(parts)?,
    );
    fam.claim(
        "wm.deep-beats-traditional",
        "At matched PSNR and the same calibrated rule, the deep scheme's success rate exceeds the bit scheme's on each L2-trained surrogate",
        &format!("PSNR deep {:.2} dB vs bits {:.2} dB; exact McNemar on {} paired test images per surrogate", fid_deep.mean_psnr(), fid_bits.mean_psnr(), te_a.len()),
        Judgement::all_of(dvt_parts)?,
    );
    report.claims = fam.try_finish()?;
    Ok(report)
}

/// The user's (A, B) pairs for `--data`: `dir/A/` + `dir/B/` pair folders when both
/// exist, else the official code's aligned `[A | B]` images directly in `dir`; every
/// image must have the task's size and channels (greyscale tasks convert colour files
/// with the luma, as the official code does). Errors name the file.
fn load_user_pairs(dir: &Path, t: &TaskConfig) -> Result<(Vec<Pair>, &'static str)> {
    let opts = FolderOptions {
        channels: t.channels,
        to_grey: t.channels == 1,
        size: Some((t.height, t.width)),
    };
    if dir.join("A").is_dir() && dir.join("B").is_dir() {
        Ok((load_pair_folders(dir, &opts)?, "A/ and B/ folders"))
    } else {
        Ok((load_aligned_folder(dir, &opts)?, "aligned [A | B] images"))
    }
}

fn mean_b(o: &[bool]) -> f64 {
    o.iter().filter(|&&x| x).count() as f64 / o.len().max(1) as f64
}

fn diff_x10(a: &Image, b: &Image) -> Result<Image> {
    a.check_same_shape(b, "difference image")?;
    let d = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| ((x - y).abs() * 10.0).min(1.0))
        .collect();
    Image::new(a.channels(), a.height(), a.width(), d)
}

/// Whether `dir` holds the weights a run wrote (`H.safetensors`, `R.safetensors`,
/// `config.json`).
pub fn has_weights(dir: &Path) -> bool {
    ["H.safetensors", "R.safetensors", "config.json"]
        .iter()
        .all(|f| dir.join(f).exists())
}
