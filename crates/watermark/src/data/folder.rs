//! Real (A, B) pairs from disk, so a user can protect their own model's outputs.
//!
//! Two layouts:
//! * **pair folders** ([`load_pair_folders`]): `ROOT/A/` (model inputs) and `ROOT/B/`
//!   (model outputs) with matching file stems (`A/x.png` ↔ `B/x.jpg` is fine);
//! * **aligned** ([`load_aligned_folder`]): the official code's format, one image per
//!   pair with A in the left half and B in the right half (256 × 512 at paper scale;
//!   `Initial stage/main.py` slices columns `0:256` as A and `256:512` as B).
//!
//! PNG and JPEG files are read (8 or 16 bit). Every error names the file: a missing
//! partner, A and B of different sizes, a pair whose size differs from the first pair's
//! (or from a required size), the wrong number of channels, transparent pixels, an odd
//! aligned width, an undecodable file. The source id of a pair (for splits) is its file
//! stem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candor_core::{Error, Result};
use image::DynamicImage;

use crate::data::Pair;
use crate::image::Image;

/// How to read a folder of pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderOptions {
    /// Channels of the task: 1 (greyscale) or 3 (RGB).
    pub channels: usize,
    /// For a greyscale task, convert colour files with the luma (PIL's `L`, as the
    /// official code does) instead of rejecting them.
    pub to_grey: bool,
    /// Required `(height, width)` of A and B; `None`: every pair must have the size of
    /// the first one.
    pub size: Option<(usize, usize)>,
}

impl FolderOptions {
    /// Strict greyscale reading (colour files are errors), any common size.
    pub fn grey() -> Self {
        Self {
            channels: 1,
            to_grey: false,
            size: None,
        }
    }

    /// RGB reading, any common size.
    pub fn rgb() -> Self {
        Self {
            channels: 3,
            to_grey: false,
            size: None,
        }
    }
}

/// Image files (`.png`, `.jpg`, `.jpeg`, any case) directly inside `dir`, sorted by
/// name. Errors when `dir` cannot be read.
pub fn list_images(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if path.is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Read one image file as `channels` planes in `[0, 1]`.
///
/// A greyscale file (L or LA) is 1 channel; an RGB file whose pixels all have R = G = B
/// counts as grey too. A greyscale task rejects colour files unless `to_grey`; an RGB
/// task rejects greyscale (L/LA) files. An alpha channel must be fully opaque.
pub fn load_image_file(path: impl AsRef<Path>, channels: usize, to_grey: bool) -> Result<Image> {
    let path = path.as_ref();
    if channels != 1 && channels != 3 {
        return Err(Error::invalid(format!(
            "{}: channels must be 1 or 3, got {channels}",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::format(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::format(path, "empty image"));
    }
    let colour = img.color();
    if colour.has_alpha() {
        let alpha_opaque = img.to_rgba32f().pixels().all(|p| p.0[3] >= 1.0);
        if !alpha_opaque {
            return Err(Error::format(
                path,
                "image has transparent pixels; flatten it onto a background first",
            ));
        }
    }
    let file_channels = if colour.has_color() { 3 } else { 1 };
    match (file_channels, channels) {
        (1, 1) => Ok(grey_planes(&img, h, w)),
        (3, 3) => Ok(rgb_planes(&img, h, w)),
        (1, 3) => Err(Error::format(
            path,
            "greyscale image (1 channel) but the task is RGB (3 channels)",
        )),
        _ => {
            let rgb = rgb_planes(&img, h, w);
            let n = h * w;
            let d = rgb.data();
            let is_grey = (0..n).all(|i| d[i] == d[n + i] && d[i] == d[2 * n + i]);
            if is_grey {
                Ok(Image::from_parts(1, h, w, d[..n].to_vec()))
            } else if to_grey {
                rgb.with_channels(1)
            } else {
                Err(Error::format(
                    path,
                    "colour image (3 channels) but the task is greyscale (1 channel); \
                     convert it, or read with to_grey = true (luma, as the official code)",
                ))
            }
        }
    }
}

fn grey_planes(img: &DynamicImage, h: usize, w: usize) -> Image {
    let data: Vec<f32> = img.to_luma32f().into_raw();
    Image::from_parts(1, h, w, data)
}

fn rgb_planes(img: &DynamicImage, h: usize, w: usize) -> Image {
    let raw = img.to_rgb32f().into_raw();
    let n = h * w;
    let mut data = vec![0f32; 3 * n];
    for (i, px) in raw.chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * n + i] = px[c];
        }
    }
    Image::from_parts(3, h, w, data)
}

/// Checks sizes as [`FolderOptions::size`] says, remembering the first size seen.
struct SizeCheck {
    want: Option<(usize, usize)>,
    first: Option<PathBuf>,
}

impl SizeCheck {
    fn new(want: Option<(usize, usize)>) -> Self {
        Self { want, first: None }
    }

    fn check(&mut self, path: &Path, img: &Image) -> Result<()> {
        let got = (img.height(), img.width());
        match (self.want, &self.first) {
            (Some(want), Some(first)) if got != want => Err(Error::format(
                path,
                format!(
                    "image is {}x{} but the first pair ({}) is {}x{} (HxW); all pairs must have one size",
                    got.0,
                    got.1,
                    first.display(),
                    want.0,
                    want.1
                ),
            )),
            (Some(want), None) if got != want => Err(Error::format(
                path,
                format!(
                    "image is {}x{} but {}x{} (HxW) is required",
                    got.0, got.1, want.0, want.1
                ),
            )),
            (None, _) => {
                self.want = Some(got);
                self.first = Some(path.to_path_buf());
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Files of `dir` by stem; two files with one stem are an error.
fn by_stem(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut map = BTreeMap::new();
    for p in list_images(dir)? {
        if let Some(prev) = map.insert(stem(&p), p.clone()) {
            return Err(Error::format(
                &p,
                format!(
                    "two images share the name '{}' ({} and {}); keep one",
                    stem(&p),
                    prev.display(),
                    p.display()
                ),
            ));
        }
    }
    Ok(map)
}

/// Pairs from `root/A/` and `root/B/`, matched by file stem, in name order.
///
/// Errors: a missing folder, an empty folder, a file without a partner, two files of
/// one stem, A and B of different sizes, sizes that differ between pairs (or from
/// `opts.size`), the wrong channel count — each naming the file.
pub fn load_pair_folders(root: impl AsRef<Path>, opts: &FolderOptions) -> Result<Vec<Pair>> {
    let root = root.as_ref();
    let (dir_a, dir_b) = (root.join("A"), root.join("B"));
    for d in [&dir_a, &dir_b] {
        if !d.is_dir() {
            return Err(Error::format(
                d,
                "folder not found: pair folders need ROOT/A (model inputs) and ROOT/B (model outputs)",
            ));
        }
    }
    let (files_a, files_b) = (by_stem(&dir_a)?, by_stem(&dir_b)?);
    if files_a.is_empty() {
        return Err(Error::format(&dir_a, "no .png/.jpg images in the folder"));
    }
    for (files, others, other_dir) in [(&files_a, &files_b, &dir_b), (&files_b, &files_a, &dir_a)] {
        if let Some((name, path)) = files.iter().find(|(name, _)| !others.contains_key(*name)) {
            let d = other_dir.display();
            return Err(Error::format(
                path,
                format!("no partner in {d} (expected {d}/{name}.*)"),
            ));
        }
    }
    let mut sizes = SizeCheck::new(opts.size);
    let mut pairs = Vec::with_capacity(files_a.len());
    for (name, path_a) in &files_a {
        let path_b = &files_b[name];
        let a = load_image_file(path_a, opts.channels, opts.to_grey)?;
        let b = load_image_file(path_b, opts.channels, opts.to_grey)?;
        if (a.height(), a.width()) != (b.height(), b.width()) {
            return Err(Error::format(
                path_b,
                format!(
                    "is {}x{} but its partner {} is {}x{} (HxW)",
                    b.height(),
                    b.width(),
                    path_a.display(),
                    a.height(),
                    a.width()
                ),
            ));
        }
        sizes.check(path_a, &a)?;
        pairs.push(Pair {
            source: name.clone(),
            a,
            b,
        });
    }
    Ok(pairs)
}

/// Split an aligned `[A | B]` image into its halves (A left, B right). Errors on an odd
/// width.
pub fn split_aligned(image: &Image) -> Result<(Image, Image)> {
    let (c, h, w) = image.shape();
    if w % 2 != 0 {
        return Err(Error::invalid(format!(
            "an aligned [A | B] image needs an even width, got {h}x{w}"
        )));
    }
    let half = w / 2;
    let mut a = Vec::with_capacity(c * h * half);
    let mut b = Vec::with_capacity(c * h * half);
    for plane in image.data().chunks_exact(h * w) {
        for row in plane.chunks_exact(w) {
            a.extend_from_slice(&row[..half]);
            b.extend_from_slice(&row[half..]);
        }
    }
    Ok((
        Image::from_parts(c, h, half, a),
        Image::from_parts(c, h, half, b),
    ))
}

/// Pairs from the aligned `[A | B]` images directly inside `dir` (the official format),
/// in name order. `opts.size` is the size of one half (256 × 256 at paper scale).
pub fn load_aligned_folder(dir: impl AsRef<Path>, opts: &FolderOptions) -> Result<Vec<Pair>> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::format(dir, "folder not found"));
    }
    let files = list_images(dir)?;
    if files.is_empty() {
        return Err(Error::format(dir, "no .png/.jpg images in the folder"));
    }
    let mut sizes = SizeCheck::new(opts.size);
    let mut pairs = Vec::with_capacity(files.len());
    for path in files {
        let img = load_image_file(&path, opts.channels, opts.to_grey)?;
        let (a, b) = split_aligned(&img).map_err(|e| Error::format(&path, e.to_string()))?;
        sizes.check(&path, &a)?;
        pairs.push(Pair {
            source: stem(&path),
            a,
            b,
        });
    }
    Ok(pairs)
}
