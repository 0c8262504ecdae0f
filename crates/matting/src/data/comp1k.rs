//! The Adobe Composition-1k data set (Xu et al., "Deep Image Matting", CVPR 2017),
//! read from its folders and composited on the fly as DIM's script does.
//!
//! Composition-1k ships foregrounds, alpha mattes and two name lists; the backgrounds
//! (MS-COCO for training, PASCAL VOC for testing) are fetched separately. Foreground
//! `k` (the `k`-th line of the foreground list) is composited onto the backgrounds on
//! lines `k·n … k·n + n − 1` of the background list, `n = len(bg list) / len(fg list)`
//! (100 for training, 20 for testing), so image `i` is foreground `i / n` over
//! background `i`. The alpha of a foreground has the same file name in the alpha folder.
//! Each image is [`fit_background`]-ed and [`composite`]-d exactly as DIM does (see
//! [`super::composite`]); nothing is cached or written.
//!
//! Two layouts are understood:
//!
//! * [`Comp1k::open`]: a plain folder `root/` with `fg/`, `alpha/`, `bg/`, optional
//!   `trimaps/`, and `fg_names.txt`, `bg_names.txt` (the lists, one file name a line);
//! * [`Comp1k::dim_test`] / [`Comp1k::dim_train`]: the `Combined_Dataset` folder as
//!   Adobe distributes it (`Test_set/Adobe-licensed images/{fg,alpha,trimaps}` with
//!   `Test_set/test_{fg,bg}_names.txt`; `Training_set/{Adobe-licensed images,Other}/
//!   {fg,alpha}` with `Training_set/training_{fg,bg}_names.txt`) plus the background
//!   folder.
//!
//! Test trimaps are looked up as `<fg stem>_<j>.png` (`j` = 0…n−1, the composite's
//! name in DIM's script), then as the foreground's own name. A missing file, a
//! foreground and alpha of different sizes, or a non-grey alpha is an error naming
//! the file(s).
//!
//! # Training crops
//!
//! [`Comp1kCrops`] turns a training split into a [`super::TrainSource`]: sample `k` of
//! a stream draws a composite uniformly at random, composites it on the fly, and cuts a
//! `size × size` crop, the way DIM's training pipeline does (its crops are centred on
//! unknown pixels). The choices, none of them given by the card (crop size "512²" is
//! \[unverified\] there), are [`CropConfig`] options:
//!
//! * `centre_on_unknown` (default `true`, DIM's rule, \[proposal\] here): the crop is
//!   centred on a pixel drawn uniformly from the transition pixels (0 < α < 255), or
//!   on a uniform pixel when there are none or the option is off; the window is then
//!   shifted to lie inside the image;
//! * an image whose shorter side is below `size` is first scaled up (bilinear, the
//!   image, alpha, F and B alike; the composite is not re-made) so that it is `size`;
//! * `flip` (default `true`, as DIM): a horizontal flip with probability ½.

use std::path::{Path, PathBuf};

use candor_core::SeededRng;
use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::composite::{composite, fit_background};
use super::{check_same_size, load_alpha, load_rgb, MattingSample, TrainSource};
use crate::{Error, Result};

/// Where the files of a Composition-1k split are.
#[derive(Debug, Clone, PartialEq)]
pub struct Comp1kLayout {
    /// Folders searched, in order, for each foreground file.
    pub fg_dirs: Vec<PathBuf>,
    /// Folders searched, in order, for each alpha file (same name as the foreground).
    pub alpha_dirs: Vec<PathBuf>,
    /// The background folder.
    pub bg_dir: PathBuf,
    /// The trimap folder, if the split has trimaps.
    pub trimap_dir: Option<PathBuf>,
    /// Foreground file names, in list order.
    pub fg_names: Vec<String>,
    /// Background file names, in list order (`n` per foreground).
    pub bg_names: Vec<String>,
}

/// A Composition-1k split whose files have all been found.
#[derive(Debug, Clone)]
pub struct Comp1k {
    layout: Comp1kLayout,
    fg_paths: Vec<(PathBuf, PathBuf)>,
    per_fg: usize,
}

/// Read a name list: one file name a line, blank lines ignored.
pub fn read_name_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(Error::format(path, "the name list is empty"));
    }
    Ok(names)
}

fn find_in(dirs: &[PathBuf], name: &str, what: &str) -> Result<PathBuf> {
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let tried: Vec<String> = dirs
        .iter()
        .map(|d| d.join(name).display().to_string())
        .collect();
    Err(Error::invalid(format!(
        "missing {what} file {name:?} (looked for {})",
        tried.join(", ")
    )))
}

fn stem(name: &str) -> &str {
    Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name)
}

impl Comp1k {
    /// Check a layout: both lists non-empty, the background list a whole multiple of the
    /// foreground list, and every foreground, alpha and background file present.
    pub fn from_layout(layout: Comp1kLayout) -> Result<Self> {
        let (nf, nb) = (layout.fg_names.len(), layout.bg_names.len());
        if nf == 0 || nb == 0 {
            return Err(Error::invalid(format!(
                "Composition-1k: {nf} foregrounds and {nb} backgrounds listed; both lists must be non-empty"
            )));
        }
        if nb % nf != 0 {
            return Err(Error::invalid(format!(
                "Composition-1k: {nb} backgrounds are not a whole number per foreground ({nf} foregrounds)"
            )));
        }
        let fg_paths = layout
            .fg_names
            .iter()
            .map(|n| {
                Ok((
                    find_in(&layout.fg_dirs, n, "foreground")?,
                    find_in(&layout.alpha_dirs, n, "alpha")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        for n in &layout.bg_names {
            find_in(std::slice::from_ref(&layout.bg_dir), n, "background")?;
        }
        if let Some(t) = &layout.trimap_dir {
            if !t.is_dir() {
                return Err(Error::invalid(format!(
                    "missing trimap folder {}",
                    t.display()
                )));
            }
        }
        Ok(Comp1k {
            per_fg: nb / nf,
            layout,
            fg_paths,
        })
    }

    /// The plain layout: `root/{fg,alpha,bg}/`, `root/trimaps/` if present,
    /// `root/fg_names.txt` and `root/bg_names.txt`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let trimaps = root.join("trimaps");
        Self::from_layout(Comp1kLayout {
            fg_dirs: vec![root.join("fg")],
            alpha_dirs: vec![root.join("alpha")],
            bg_dir: root.join("bg"),
            trimap_dir: trimaps.is_dir().then_some(trimaps),
            fg_names: read_name_list(&root.join("fg_names.txt"))?,
            bg_names: read_name_list(&root.join("bg_names.txt"))?,
        })
    }

    /// The test split of Adobe's `Combined_Dataset` folder (50 foregrounds × 20 VOC
    /// backgrounds, with trimaps); `bg_dir` holds the VOC images named in
    /// `test_bg_names.txt`.
    pub fn dim_test(combined: impl AsRef<Path>, bg_dir: impl AsRef<Path>) -> Result<Self> {
        let t = combined.as_ref().join("Test_set");
        let adobe = t.join("Adobe-licensed images");
        Self::from_layout(Comp1kLayout {
            fg_dirs: vec![adobe.join("fg")],
            alpha_dirs: vec![adobe.join("alpha")],
            bg_dir: bg_dir.as_ref().to_path_buf(),
            trimap_dir: Some(adobe.join("trimaps")),
            fg_names: read_name_list(&t.join("test_fg_names.txt"))?,
            bg_names: read_name_list(&t.join("test_bg_names.txt"))?,
        })
    }

    /// The training split of Adobe's `Combined_Dataset` folder (431 foregrounds × 100
    /// COCO backgrounds, foregrounds under `Adobe-licensed images/` and `Other/`);
    /// `bg_dir` holds the COCO images named in `training_bg_names.txt`.
    pub fn dim_train(combined: impl AsRef<Path>, bg_dir: impl AsRef<Path>) -> Result<Self> {
        let t = combined.as_ref().join("Training_set");
        let parts = [t.join("Adobe-licensed images"), t.join("Other")];
        Self::from_layout(Comp1kLayout {
            fg_dirs: parts.iter().map(|p| p.join("fg")).collect(),
            alpha_dirs: parts.iter().map(|p| p.join("alpha")).collect(),
            bg_dir: bg_dir.as_ref().to_path_buf(),
            trimap_dir: None,
            fg_names: read_name_list(&t.join("training_fg_names.txt"))?,
            bg_names: read_name_list(&t.join("training_bg_names.txt"))?,
        })
    }

    /// Check, from the file headers alone, that every foreground and its alpha have the
    /// same size; an error names both files. ([`Comp1k::load`] checks the same when it
    /// reads an image; this finds a mismatch before a long run starts.)
    pub fn check_sizes(&self) -> Result<()> {
        let dims = |p: &Path| {
            image::image_dimensions(p)
                .map_err(|e| Error::format(p, format!("cannot read the image header: {e}")))
        };
        for (fg, alpha) in &self.fg_paths {
            check_same_size(
                &format!("foreground {}", fg.display()),
                dims(fg)?,
                &format!("alpha {}", alpha.display()),
                dims(alpha)?,
            )?;
        }
        Ok(())
    }

    /// The layout this split was opened with.
    pub fn layout(&self) -> &Comp1kLayout {
        &self.layout
    }

    /// Number of composites (foregrounds × backgrounds per foreground).
    pub fn len(&self) -> usize {
        self.layout.bg_names.len()
    }

    /// Always false: an opened split has at least one composite.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of foregrounds (the unit of a bootstrap over images).
    pub fn num_foregrounds(&self) -> usize {
        self.layout.fg_names.len()
    }

    /// Backgrounds per foreground.
    pub fn backgrounds_per_foreground(&self) -> usize {
        self.per_fg
    }

    /// `(foreground index, j)` of composite `i` (`j` = its place among the foreground's
    /// backgrounds).
    pub fn pair(&self, i: usize) -> (usize, usize) {
        (i / self.per_fg, i % self.per_fg)
    }

    /// DIM's name of composite `i`: `<fg stem>_<j>.png`.
    pub fn name(&self, i: usize) -> String {
        let (f, j) = self.pair(i);
        format!("{}_{j}.png", stem(&self.layout.fg_names[f]))
    }

    /// Load composite `i`: the fitted background, the foreground, its alpha, DIM's
    /// composite and the trimap (when the split has trimaps).
    pub fn load(&self, i: usize) -> Result<MattingSample> {
        if i >= self.len() {
            return Err(Error::invalid(format!(
                "Composition-1k index {i} out of range ({} composites)",
                self.len()
            )));
        }
        let (f, _) = self.pair(i);
        let (fg_path, alpha_path) = &self.fg_paths[f];
        let fg = load_rgb(fg_path)?;
        let alpha = load_alpha(alpha_path)?;
        check_same_size(
            &format!("foreground {}", fg_path.display()),
            fg.dimensions(),
            &format!("alpha {}", alpha_path.display()),
            alpha.dimensions(),
        )?;
        let bg_path = self.layout.bg_dir.join(&self.layout.bg_names[i]);
        let bg = fit_background(&load_rgb(&bg_path)?, fg.width(), fg.height());
        let image = composite(&fg, &bg, &alpha)?;
        let trimap = match &self.layout.trimap_dir {
            None => None,
            Some(dir) => {
                let by_image = dir.join(self.name(i));
                let by_fg = dir.join(&self.layout.fg_names[f]);
                let path = if by_image.is_file() {
                    by_image
                } else if by_fg.is_file() {
                    by_fg
                } else {
                    return Err(Error::invalid(format!(
                        "missing trimap for composite {i}: neither {} nor {} exists",
                        by_image.display(),
                        by_fg.display()
                    )));
                };
                let t = load_alpha(&path)?;
                check_same_size(
                    &format!("trimap {}", path.display()),
                    t.dimensions(),
                    &format!("alpha {}", alpha_path.display()),
                    alpha.dimensions(),
                )?;
                Some(t)
            }
        };
        Ok(MattingSample {
            image,
            alpha,
            fg,
            bg,
            trimap,
            distractors: None,
        })
    }
}

/// How training crops are cut from Composition-1k composites (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropConfig {
    /// Centre each crop on a random transition pixel (0 < α < 255), as DIM does.
    pub centre_on_unknown: bool,
    /// Flip each crop horizontally with probability ½.
    pub flip: bool,
}

impl Default for CropConfig {
    fn default() -> Self {
        CropConfig {
            centre_on_unknown: true,
            flip: true,
        }
    }
}

/// Random `size × size` crops of a Composition-1k training split, composited on the
/// fly: a [`TrainSource`] for [`crate::train`].
#[derive(Debug, Clone)]
pub struct Comp1kCrops {
    set: Comp1k,
    size: usize,
    cfg: CropConfig,
}

impl Comp1kCrops {
    /// Crops of side `size` (at least 8) from `set`.
    pub fn new(set: Comp1k, size: usize, cfg: CropConfig) -> Result<Self> {
        if size < 8 {
            return Err(Error::invalid(format!(
                "Composition-1k crops: size {size} must be at least 8"
            )));
        }
        Ok(Comp1kCrops { set, size, cfg })
    }

    /// The split the crops come from.
    pub fn split(&self) -> &Comp1k {
        &self.set
    }

    /// Sample `index` of the stream `seed`: which composite, where the crop is and the
    /// flip all come from a stream derived from `(seed, index)`.
    pub fn sample(&self, seed: u64, index: u64) -> Result<MattingSample> {
        let mut rng = SeededRng::derive(seed, &format!("comp1k/train/{index}"));
        let i = rng.below(self.set.len());
        let s = self.set.load(i)?;
        let (w, h) = s.alpha.dimensions();
        let side = self.size as u32;
        let short = w.min(h);
        let (image, alpha, fg, bg) = if short < side {
            let scale = f64::from(side) / f64::from(short);
            let nw = ((f64::from(w) * scale).round() as u32).max(side);
            let nh = ((f64::from(h) * scale).round() as u32).max(side);
            (
                imageops::resize(&s.image, nw, nh, FilterType::Triangle),
                imageops::resize(&s.alpha, nw, nh, FilterType::Triangle),
                imageops::resize(&s.fg, nw, nh, FilterType::Triangle),
                imageops::resize(&s.bg, nw, nh, FilterType::Triangle),
            )
        } else {
            (s.image, s.alpha, s.fg, s.bg)
        };
        let (w, h) = alpha.dimensions();
        let unknown: Vec<usize> = if self.cfg.centre_on_unknown {
            alpha
                .as_raw()
                .iter()
                .enumerate()
                .filter(|(_, &a)| a > 0 && a < 255)
                .map(|(j, _)| j)
                .collect()
        } else {
            Vec::new()
        };
        let (cy, cx) = if unknown.is_empty() {
            (rng.below(h as usize) as u32, rng.below(w as usize) as u32)
        } else {
            let j = unknown[rng.below(unknown.len())];
            ((j / w as usize) as u32, (j % w as usize) as u32)
        };
        let y0 = cy.saturating_sub(side / 2).min(h - side);
        let x0 = cx.saturating_sub(side / 2).min(w - side);
        let flip = self.cfg.flip && rng.bernoulli(0.5);
        let cut_rgb = |img: &RgbImage| -> RgbImage {
            let c = imageops::crop_imm(img, x0, y0, side, side).to_image();
            if flip {
                imageops::flip_horizontal(&c)
            } else {
                c
            }
        };
        let cut_gray = |img: &GrayImage| -> GrayImage {
            let c = imageops::crop_imm(img, x0, y0, side, side).to_image();
            if flip {
                imageops::flip_horizontal(&c)
            } else {
                c
            }
        };
        Ok(MattingSample {
            image: cut_rgb(&image),
            alpha: cut_gray(&alpha),
            fg: cut_rgb(&fg),
            bg: cut_rgb(&bg),
            trimap: None,
            distractors: None,
        })
    }
}

impl TrainSource for Comp1kCrops {
    fn batch(&self, seed: u64, start: u64, n: usize) -> Result<Vec<MattingSample>> {
        (0..n as u64)
            .into_par_iter()
            .map(|k| self.sample(seed, start + k))
            .collect()
    }
}
