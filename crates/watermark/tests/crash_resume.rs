//! The watermark pipeline's three trainings (initial H/R/D stage, an attacker's GAN
//! surrogate, the adversarial R stage), killed with SIGKILL at random moments and
//! restarted, resume from their per-epoch checkpoints and end with the bits of an
//! uninterrupted run; every checkpoint on disk loads (issue 17, part 3; see
//! `candor_core::crashtest`).

use candle_core::Device;
use candor_core::checkpoint::read_training_state;
use candor_core::crashtest::{child_dir, kill_and_compare, KillSchedule};
use candor_watermark::config::{Config, ContentLoss, SurrogateArch, SurrogateConfig, TaskConfig};
use candor_watermark::data::{logo, synthetic};
use candor_watermark::train::{train_surrogate_resumable, DeepScheme, FinetuneData, TrainLog};
use candor_watermark::Image;

fn tiny() -> Config {
    let mut cfg = Config::tiny();
    cfg.task = TaskConfig {
        height: 16,
        width: 16,
        images: 8,
        ..cfg.task
    };
    cfg.embedder.num_downs = 2;
    cfg.extractor.width = 8;
    cfg.discriminator.widths = vec![4, 8];
    cfg.train.lr = 2e-3;
    cfg.train.batch_size = 4;
    cfg.train.steps = Some(40);
    cfg.adversarial.steps = Some(16);
    cfg.adversarial.batch_size = 4;
    cfg
}

/// The child: the three trainings with checkpoints in its folder, then the final
/// networks and logs.
#[test]
#[ignore = "run by watermark_trainings_survive_kills as a child process"]
fn child_trains_the_watermark_pipeline_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let dev = Device::Cpu;
    let cfg = tiny();
    let pairs = synthetic::generate(&cfg.task).unwrap();
    let wm = logo::watermark(&cfg.watermark, 1, 16, 16).unwrap();
    let blank = logo::blank(&cfg.watermark, 1, 16, 16).unwrap();
    let a: Vec<Image> = pairs.iter().map(|p| p.a.clone()).collect();
    let b: Vec<Image> = pairs.iter().map(|p| p.b.clone()).collect();
    let mut scheme = DeepScheme::new(&cfg, &dev).unwrap();
    scheme.set_checkpoint_dir(Some(dir.clone()));
    let initial = scheme
        .train_initial(&cfg, &pairs, &pairs[..4], &wm, &blank)
        .unwrap();
    let bp = scheme.embed_images(&b, &wm).unwrap();
    let sc = SurrogateConfig {
        arch: SurrogateArch::CnetLike,
        content: ContentLoss::L2,
        adversarial: true,
        ngf: 2,
        batch_size: 4,
        steps: Some(16),
        ..SurrogateConfig::default()
    };
    let sur =
        train_surrogate_resumable(&sc, &a, &bp, None, &dev, Some(&dir.join("surrogate.ckpt")))
            .unwrap();
    let outs = sur.apply(&a, &dev).unwrap();
    let data = FinetuneData {
        watermarked: bp,
        surrogate: outs.clone(),
        clean_a: a.clone(),
        clean_b: b,
        clean_surrogate: outs,
    };
    let adv = scheme.finetune_extractor(&cfg, &data, &wm, &blank).unwrap();
    scheme.save(&dir.join("final")).unwrap();
    std::fs::write(
        dir.join("logs.json"),
        serde_json::to_string(&(initial, sur.log, adv)).unwrap(),
    )
    .unwrap();
}

#[derive(serde::Deserialize)]
struct Stage {
    epoch: usize,
    log: TrainLog,
}

#[test]
fn watermark_trainings_survive_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let report = kill_and_compare(
        "child_trains_the_watermark_pipeline_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 6,
            seed: 2,
            max_fraction: 0.3,
        },
        &[
            "final/H.safetensors",
            "final/R.safetensors",
            "final/D.safetensors",
            "logs.json",
        ],
        |dir, _| {
            for stage in ["initial", "surrogate", "adversarial"] {
                let ck = dir.join(format!("{stage}.ckpt"));
                if ck.exists() {
                    // A whole checkpoint: it loads, one logged loss per epoch.
                    let s: Stage = read_training_state(&ck)?;
                    assert_eq!(s.log.losses.len(), s.epoch);
                    seen.push((stage, s.epoch));
                }
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints {seen:?}");
    assert!(report.kills_landed >= 3, "{report:?}");
}
