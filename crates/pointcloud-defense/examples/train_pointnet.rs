//! Train PointNet on a ModelNet40-layout folder (real `modelnet40_ply_hdf5_2048`
//! or one written by the synthetic generator) and save it for `classify`.
//!
//! ```text
//! # offline: write a small synthetic set first, then train a small network on it
//! cargo run --release -p candor-pointcloud-defense --example train_pointnet -- \
//!     --synthetic /tmp/synth --preset tiny --out /tmp/pointnet.safetensors
//! # the paper's victim (TF original, 250 epochs; hours on a CPU)
//! cargo run --release -p candor-pointcloud-defense --example train_pointnet -- \
//!     --data modelnet40_ply_hdf5_2048 --preset tf-original --out pointnet.safetensors
//! ```
//!
//! `--checkpoint FILE` saves a resumable training checkpoint after every epoch
//! and resumes from it when it exists.

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::{DType, Device};
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_pointcloud_defense::data::{write_synthetic_modelnet, ModelNet40, SyntheticConfig};
use candor_pointcloud_defense::model::{save_pointnet, PointNet, PointNetConfig};
use candor_pointcloud_defense::train::{train, TrainConfig};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    /// charlesq34/pointnet (default)
    TfOriginal,
    /// IF-Defense's PointNet and recipe
    IfDefense,
    /// small network, short schedule (seconds)
    Tiny,
}

#[derive(Debug, Parser)]
#[command(about = "Train PointNet on ModelNet40-layout HDF5 data")]
struct Args {
    /// ModelNet40-layout folder (shape_names.txt, ply_data_{train,test}*.h5)
    #[arg(long)]
    data: Option<PathBuf>,
    /// Write a synthetic set (10 classes) into this folder and train on it
    #[arg(long, conflicts_with = "data")]
    synthetic: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "tf-original")]
    preset: Preset,
    /// Override the preset's epochs
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the preset's points per cloud
    #[arg(long)]
    points: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Resumable training checkpoint
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Output model file
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let data = match (&args.data, &args.synthetic) {
        (Some(dir), _) => ModelNet40::load(dir)?,
        (None, Some(dir)) => {
            let (train, test) = write_synthetic_modelnet(dir, &SyntheticConfig::default())?;
            ModelNet40 { train, test }
        }
        (None, None) => bail!("pass --data DIR or --synthetic DIR"),
    };
    let (mut model_cfg, mut train_cfg) = match args.preset {
        Preset::TfOriginal => (PointNetConfig::tf_original(), TrainConfig::tf_original()),
        Preset::IfDefense => (PointNetConfig::if_defense(), TrainConfig::if_defense()),
        Preset::Tiny => (PointNetConfig::tiny(), TrainConfig::tiny()),
    };
    model_cfg.num_classes = data.train.num_classes();
    train_cfg.seed = args.seed;
    train_cfg.eval_every = 1;
    if let Some(e) = args.epochs {
        train_cfg.epochs = e;
    }
    if let Some(n) = args.points {
        train_cfg.num_points = n;
    }
    train_cfg.num_points = train_cfg.num_points.min(data.train.num_points);
    eprintln!(
        "{} train / {} test clouds, {} classes, {} points",
        data.train.len(),
        data.test.len(),
        model_cfg.num_classes,
        train_cfg.num_points
    );
    let varmap = VarMap::new();
    let vb = seeded_var_builder(&varmap, args.seed, DType::F32, &Device::Cpu);
    let mut net = PointNet::new(vb, &model_cfg)?;
    let report = train(
        &mut net,
        &varmap,
        &data.train,
        Some(&data.test),
        &train_cfg,
        args.checkpoint.as_deref(),
    )?;
    for e in &report.history {
        println!(
            "epoch {:>3}  lr {:.2e}  loss {:.4}  train acc {:.3}  test acc {}",
            e.epoch,
            e.lr,
            e.loss,
            e.train_accuracy,
            e.test_accuracy
                .map_or_else(|| "-".to_string(), |a| format!("{a:.4}"))
        );
    }
    save_pointnet(&args.out, &varmap, &model_cfg)?;
    println!("saved {}", args.out.display());
    Ok(())
}
