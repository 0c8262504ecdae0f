//! Evaluate predicted alpha mattes with Deep Image Matting's four errors.
//!
//! ```sh
//! # one image: whole image, or the trimap's unknown (128) region
//! cargo run -p candor-matting --example evaluate -- --pred P.png --gt G.png [--trimap T.png]
//! # a folder of predictions against a folder of ground truths (matching names)
//! cargo run -p candor-matting --example evaluate -- --pred preds/ --gt alphas/ [--trimap trimaps/]
//! ```
//!
//! Prints one JSON object: `{"sad", "mse", "grad", "conn"}` (SAD ÷ 1000, MSE raw,
//! Grad ÷ 1000, Conn ÷ 1000, as mmeval reports them); in folder mode the means over
//! the images and their number `n` (`--per-image` adds every image's errors).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(about = "DIM's SAD / MSE / Grad / Conn of predicted alpha mattes")]
struct Args {
    /// Predicted alpha (grey PNG/JPEG), or a folder of them.
    #[arg(long)]
    pred: PathBuf,
    /// Ground-truth alpha, or a folder with the same file names.
    #[arg(long)]
    gt: PathBuf,
    /// Trimap (errors over its 128 pixels), or a folder; whole image when absent.
    #[arg(long)]
    trimap: Option<PathBuf>,
    /// Folder mode: also print each image's errors.
    #[arg(long)]
    per_image: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let out = if a.pred.is_dir() {
        if !a.gt.is_dir() {
            bail!(
                "--pred {} is a folder, so --gt must be one too",
                a.pred.display()
            );
        }
        let r = candor_matting::eval::evaluate_folders(&a.pred, &a.gt, a.trimap.as_deref())?;
        let mut v = json!({"n": r.n, "sad": r.sad, "mse": r.mse, "grad": r.grad, "conn": r.conn});
        if a.per_image {
            v["images"] = serde_json::to_value(&r.images)?;
        }
        v
    } else {
        let e = candor_matting::eval::evaluate_files(&a.pred, &a.gt, a.trimap.as_deref())?;
        json!({"sad": e.sad, "mse": e.mse, "grad": e.grad, "conn": e.conn})
    };
    println!("{out}");
    Ok(())
}
