//! Classify one point cloud with a saved PointNet, optionally after a defense.
//!
//! ```text
//! cargo run --release -p candor-pointcloud-defense --example classify -- \
//!     --model pointnet.safetensors --input ply_data_test0.h5 --index 7 --points 1024 \
//!     --defense sor --names shape_names.txt
//! ```
//!
//! `--model` is a file of `model::save_pointnet` (e.g. from the `train_pointnet`
//! example), or a training checkpoint together with `--config model.json`.
//! Inputs: `.xyz`/`.txt`/`.pts`, `.ply`, `.off` (`--points` surface samples,
//! default 1024, normalised) or `.h5` (ModelNet40 layout, cloud `--index`).
//! `--points N` keeps the first N points of the other formats.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{Device, D};
use candor_core::SeededRng;
use candor_pointcloud_defense::data::{read_cloud_file, read_shape_names};
use candor_pointcloud_defense::defense::{Defense, SorConfig, SrsConfig};
use candor_pointcloud_defense::model::{clouds_to_tensor, load_pointnet, PointNetConfig};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    None,
    /// SOR, k 2, α 1.1, squared distances (IF-Defense)
    Sor,
    /// SOR, k 50, α 1.0, Euclidean (official DUP-Net / PCL)
    SorPcl,
    /// SRS, --drop random points
    Srs,
}

#[derive(Debug, Parser)]
#[command(about = "Classify a point cloud with a PointNet checkpoint")]
struct Args {
    /// Model file (save_pointnet / save_varmap / training checkpoint)
    #[arg(long)]
    model: PathBuf,
    /// PointNet config JSON, for files that do not store one
    #[arg(long)]
    config: Option<PathBuf>,
    /// Input cloud: .xyz/.txt/.pts, .ply, .off or .h5
    #[arg(long)]
    input: PathBuf,
    /// Cloud index in an .h5 file
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// OFF: points to sample (default 1024); other formats: keep the first N
    #[arg(long)]
    points: Option<usize>,
    #[arg(long, value_enum, default_value = "none")]
    defense: Kind,
    /// SRS: points to drop
    #[arg(long, default_value_t = 500)]
    drop: usize,
    /// Seed (SRS, OFF sampling)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// shape_names.txt, to print class names
    #[arg(long)]
    names: Option<PathBuf>,
    /// Classes to print
    #[arg(long, default_value_t = 5)]
    top: usize,
}

fn load(args: &Args) -> Result<Vec<f32>> {
    let mut rng = SeededRng::derive(args.seed, "classify/off");
    let loaded = read_cloud_file(&args.input, args.index, args.points, &mut rng)?;
    if let Some(label) = loaded.label {
        eprintln!(
            "cloud {} (label {label}) of {}",
            args.index,
            args.input.display()
        );
    }
    Ok(loaded.points)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cloud = load(&args).with_context(|| format!("reading {}", args.input.display()))?;
    let cfg: Option<PointNetConfig> = match &args.config {
        Some(p) => Some(serde_json::from_str(&std::fs::read_to_string(p)?)?),
        None => None,
    };
    let (_varmap, net) = load_pointnet(&args.model, cfg.as_ref(), &Device::Cpu)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let defense = match args.defense {
        Kind::None => Defense::None,
        Kind::Sor => Defense::Sor(SorConfig::if_defense()),
        Kind::SorPcl => Defense::Sor(SorConfig::pcl()),
        Kind::Srs => Defense::Srs(SrsConfig { drop: args.drop }),
    };
    let mut rng = SeededRng::derive(args.seed, "classify/srs");
    let defended = defense.apply(&cloud, &mut rng)?;
    eprintln!(
        "{}: {} of {} points",
        defense.name(),
        defended.len() / 3,
        cloud.len() / 3
    );
    let x = clouds_to_tensor(&[&defended], &Device::Cpu)?;
    let probs = candle_nn::ops::softmax(&net.forward_eval(&x)?.logits, D::Minus1)?
        .squeeze(0)?
        .to_vec1::<f32>()?;
    let names = match &args.names {
        Some(p) => read_shape_names(p)?,
        None => (0..probs.len()).map(|i| format!("class {i}")).collect(),
    };
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    for &c in order.iter().take(args.top) {
        let name = names.get(c).map_or("?", String::as_str);
        println!("{c:>3}  {name:<20} {:.4}", probs[c]);
    }
    Ok(())
}
