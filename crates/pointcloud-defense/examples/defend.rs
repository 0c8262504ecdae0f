//! Apply SOR or SRS to one point cloud and write the result as `.xyz`.
//!
//! ```text
//! cargo run -p candor-pointcloud-defense --example defend -- \
//!     --input in.xyz --defense sor --k 2 --alpha 1.1 --distance squared --output out.xyz
//! cargo run -p candor-pointcloud-defense --example defend -- \
//!     --input in.ply --defense srs --drop 500 --seed 0 --output out.xyz
//! cargo run -p candor-pointcloud-defense --example defend -- \
//!     --input ply_data_test0.h5 --index 7 --points 1024 --defense sor --preset pcl --output out.xyz
//! ```
//!
//! Inputs: `.xyz`/`.txt`/`.pts` (x y z per line), `.ply` (ASCII or binary vertex
//! x, y, z), `.off` (mesh: `--points` surface points are sampled, default 1024,
//! then normalised to the unit sphere) or `.h5` (ModelNet40 layout, cloud
//! `--index`). `--points N` keeps the first N points of the other formats.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candor_core::SeededRng;
use candor_pointcloud_defense::data::{read_cloud_file, write_xyz};
use candor_pointcloud_defense::defense::{Defense, SorConfig, SorMetric, SrsConfig};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Sor,
    Srs,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Distance {
    Squared,
    Euclidean,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    /// k 2, α 1.1, squared (IF-Defense; the default)
    IfDefense,
    /// k 50, α 1.0, Euclidean (official DUP-Net / PCL)
    Pcl,
}

#[derive(Debug, Parser)]
#[command(about = "SOR / SRS defenses on one point cloud")]
struct Args {
    /// Input cloud: .xyz/.txt/.pts, .ply, .off or .h5
    #[arg(long)]
    input: PathBuf,
    /// Output .xyz file
    #[arg(long)]
    output: PathBuf,
    #[arg(long, value_enum, default_value = "sor")]
    defense: Kind,
    /// SOR preset; --k, --alpha and --distance override it
    #[arg(long, value_enum, default_value = "if-defense")]
    preset: Preset,
    /// SOR neighbours
    #[arg(long)]
    k: Option<usize>,
    /// SOR threshold multiplier α
    #[arg(long)]
    alpha: Option<f64>,
    /// SOR distance
    #[arg(long, value_enum)]
    distance: Option<Distance>,
    /// SRS: points to drop
    #[arg(long, default_value_t = 500)]
    drop: usize,
    /// Seed (SRS, OFF sampling)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Cloud index in an .h5 file
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// OFF: points to sample (default 1024); other formats: keep the first N
    #[arg(long)]
    points: Option<usize>,
}

fn load(args: &Args) -> Result<Vec<f32>> {
    let mut rng = SeededRng::derive(args.seed, "defend/off");
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
    let defense = match args.defense {
        Kind::None => Defense::None,
        Kind::Srs => Defense::Srs(SrsConfig { drop: args.drop }),
        Kind::Sor => {
            let mut c = match args.preset {
                Preset::IfDefense => SorConfig::if_defense(),
                Preset::Pcl => SorConfig::pcl(),
            };
            c.k = args.k.unwrap_or(c.k);
            c.alpha = args.alpha.unwrap_or(c.alpha);
            if let Some(d) = args.distance {
                c.metric = match d {
                    Distance::Squared => SorMetric::Squared,
                    Distance::Euclidean => SorMetric::Euclidean,
                };
            }
            Defense::Sor(c)
        }
    };
    let mut rng = SeededRng::derive(args.seed, "defend/srs");
    let out = defense.apply(&cloud, &mut rng)?;
    write_xyz(&args.output, &out).with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{}: kept {} of {} points -> {}",
        serde_json::to_string(&defense)?,
        out.len() / 3,
        cloud.len() / 3,
        args.output.display()
    );
    Ok(())
}
