//! Evaluation of predicted alpha mattes with the four DIM errors
//! ([`candor_core::metrics::matting`]: SAD ÷ 1000, MSE raw, Grad ÷ 1000, Conn ÷ 1000),
//! over a trimap's unknown region (value 128) or the whole image, for one file or for a
//! folder of predictions against a folder of ground truths.
//!
//! In folder mode every prediction (`*.png`, `*.jpg`, `*.jpeg`, in name order) is
//! matched with the ground truth of the same file name; when there is none and the
//! name ends in `_<digits>` (Composition-1k's `<fg>_<j>.png` composites), the ground
//! truth named without that suffix is used, since Composition-1k has one alpha per
//! foreground. Trimaps are matched the same way. A missing match is an error naming
//! the file looked for.

use std::path::{Path, PathBuf};

use candor_core::metrics::matting::{self, MattingErrors, Region};
use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::data::{check_same_size, load_alpha};
use crate::{Error, Result};

/// The errors of one prediction file against its ground truth, with an optional trimap.
pub fn evaluate_files(pred: &Path, gt: &Path, trimap: Option<&Path>) -> Result<MattingErrors> {
    let p = load_alpha(pred)?;
    let g = load_alpha(gt)?;
    let t = trimap.map(load_alpha).transpose()?;
    evaluate_images(&p, &g, t.as_ref()).map_err(|e| match e {
        Error::InvalidInput(msg) => {
            Error::invalid(format!("{} vs {}: {msg}", pred.display(), gt.display()))
        }
        other => other,
    })
}

/// The errors of a prediction against a ground truth (same size), over the trimap's
/// unknown region or, without a trimap, the whole image.
pub fn evaluate_images(
    pred: &GrayImage,
    gt: &GrayImage,
    trimap: Option<&GrayImage>,
) -> Result<MattingErrors> {
    check_same_size(
        "the prediction",
        pred.dimensions(),
        "the ground truth",
        gt.dimensions(),
    )?;
    if let Some(t) = trimap {
        check_same_size(
            "the trimap",
            t.dimensions(),
            "the ground truth",
            gt.dimensions(),
        )?;
    }
    let (w, h) = gt.dimensions();
    let region = match trimap {
        Some(t) => Region::Trimap(t.as_raw()),
        None => Region::Whole,
    };
    matting::errors(pred.as_raw(), gt.as_raw(), h as usize, w as usize, region)
}

/// The result of a folder evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderEvaluation {
    /// Number of predictions evaluated.
    pub n: usize,
    /// Mean SAD (÷ 1000) over the images.
    pub sad: f64,
    /// Mean MSE (raw).
    pub mse: f64,
    /// Mean Grad (÷ 1000).
    pub grad: f64,
    /// Mean Conn (÷ 1000).
    pub conn: f64,
    /// Per-image errors, in name order.
    pub images: Vec<(String, MattingErrors)>,
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .map(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
            .unwrap_or(false)
}

/// `name`, or `name` without a trailing `_<digits>` before the extension.
fn match_in(dir: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let direct = dir.join(name);
    if direct.is_file() {
        return Ok(direct);
    }
    let p = Path::new(name);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("png");
    if let Some((base, digits)) = stem.rsplit_once('_') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let fallback = dir.join(format!("{base}.{ext}"));
            if fallback.is_file() {
                return Ok(fallback);
            }
            return Err(Error::invalid(format!(
                "no {what} for {name}: neither {} nor {} exists",
                direct.display(),
                fallback.display()
            )));
        }
    }
    Err(Error::invalid(format!(
        "no {what} for {name}: {} does not exist",
        direct.display()
    )))
}

/// Evaluate every prediction in `pred_dir` against `gt_dir` (and `trimap_dir`), in
/// parallel; the means are over images.
pub fn evaluate_folders(
    pred_dir: &Path,
    gt_dir: &Path,
    trimap_dir: Option<&Path>,
) -> Result<FolderEvaluation> {
    use rayon::prelude::*;
    for d in [Some(pred_dir), Some(gt_dir), trimap_dir]
        .into_iter()
        .flatten()
    {
        if !d.is_dir() {
            return Err(Error::invalid(format!("{} is not a folder", d.display())));
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(pred_dir)
        .map_err(|e| Error::io(pred_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_image(p))
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::invalid(format!(
            "no .png/.jpg prediction in {}",
            pred_dir.display()
        )));
    }
    let images = names
        .par_iter()
        .map(|name| {
            let gt = match_in(gt_dir, name, "ground truth")?;
            let tri = trimap_dir
                .map(|d| match_in(d, name, "trimap"))
                .transpose()?;
            let e = evaluate_files(&pred_dir.join(name), &gt, tri.as_deref())?;
            Ok((name.clone(), e))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = images.len();
    let mean =
        |f: fn(&MattingErrors) -> f64| images.iter().map(|(_, e)| f(e)).sum::<f64>() / n as f64;
    Ok(FolderEvaluation {
        n,
        sad: mean(|e| e.sad),
        mse: mean(|e| e.mse),
        grad: mean(|e| e.grad),
        conn: mean(|e| e.conn),
        images,
    })
}
