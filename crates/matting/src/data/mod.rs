//! Matting data: the Composition-1k folder loader ([`comp1k`]), DIM's 8-bit
//! compositing ([`composite`]), the SynthClickMatte proxy ([`synth`]) and its frozen
//! test set ([`testset`]).
//!
//! Every source yields a [`MattingSample`]: the composite image, the 8-bit ground-truth
//! alpha, the foreground and background it was composited from, and, where there is
//! one, a trimap and a map of distractor objects. Alpha mattes are single-channel 8-bit
//! images; [`load_alpha`] refuses colour files whose channels differ.

pub mod comp1k;
pub mod composite;
pub mod synth;
pub mod testset;

use std::path::Path;

use candle_core::{Device, Tensor};
use image::{DynamicImage, GrayImage, RgbImage};

use crate::{Error, Result};

/// A stream of training samples: sample `start + k` of the stream `seed`, for
/// `k = 0..n`, the same every time it is asked for. The proxy
/// ([`synth::SynthClickMatte`]) renders them; [`comp1k::Comp1kCrops`] cuts random
/// crops of on-the-fly Composition-1k composites. The trainer
/// ([`crate::train`]) reads batches from either through this trait.
pub trait TrainSource: Sync {
    /// Samples `start .. start + n` of the stream `seed`, all `size × size` of one
    /// training size.
    fn batch(&self, seed: u64, start: u64, n: usize) -> Result<Vec<MattingSample>>;
}

impl TrainSource for synth::SynthClickMatte {
    fn batch(&self, seed: u64, start: u64, n: usize) -> Result<Vec<MattingSample>> {
        synth::SynthClickMatte::batch(self, seed, start, n)
    }
}

/// One matting example, all images the same size.
#[derive(Debug, Clone, PartialEq)]
pub struct MattingSample {
    /// The composite `I = αF + (1 − α)B` (8-bit, as DIM stores it).
    pub image: RgbImage,
    /// The ground-truth alpha of the target, 0–255.
    pub alpha: GrayImage,
    /// The foreground colour `F` (the synthetic proxy leaves it black where α = 0).
    pub fg: RgbImage,
    /// The background `B` the target was composited onto (for the synthetic proxy this
    /// already contains the distractor objects).
    pub bg: RgbImage,
    /// A trimap (0 background, 128 unknown, 255 foreground), where the source has one.
    pub trimap: Option<GrayImage>,
    /// Distractor objects (synthetic proxy only): `k` (1-based) where distractor `k` is
    /// the topmost one and its own alpha is at least 0.5, else 0. The target is not
    /// drawn in this map; it may cover distractor pixels.
    pub distractors: Option<GrayImage>,
}

impl MattingSample {
    /// `(height, width)`.
    pub fn size(&self) -> (usize, usize) {
        (self.alpha.height() as usize, self.alpha.width() as usize)
    }

    /// The composite as a `3×H×W` f32 tensor in `[0, 1]`.
    pub fn image_tensor(&self, device: &Device) -> Result<Tensor> {
        rgb_tensor(&self.image, device)
    }

    /// The ground-truth alpha as a `1×H×W` f32 tensor in `[0, 1]`.
    pub fn alpha_tensor(&self, device: &Device) -> Result<Tensor> {
        gray_tensor(&self.alpha, device)
    }
}

/// An 8-bit RGB image as a `3×H×W` f32 tensor in `[0, 1]`.
pub fn rgb_tensor(img: &RgbImage, device: &Device) -> Result<Tensor> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = h * w;
    let mut chw = vec![0f32; 3 * n];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * n + i] = f32::from(px[c]) / 255.0;
        }
    }
    Ok(Tensor::from_vec(chw, (3, h, w), device)?)
}

/// An 8-bit grey image as a `1×H×W` f32 tensor in `[0, 1]`.
pub fn gray_tensor(img: &GrayImage, device: &Device) -> Result<Tensor> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let v: Vec<f32> = img.as_raw().iter().map(|&a| f32::from(a) / 255.0).collect();
    Ok(Tensor::from_vec(v, (1, h, w), device)?)
}

fn decode(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    image::load_from_memory(&bytes)
        .map_err(|e| Error::format(path, format!("cannot decode image: {e}")))
}

/// Load an RGB image (PNG or JPEG). Grey files are replicated to three channels and an
/// alpha channel is dropped, as `cv2.imread(path)` does. Errors name the file.
pub fn load_rgb(path: impl AsRef<Path>) -> Result<RgbImage> {
    Ok(decode(path.as_ref())?.to_rgb8())
}

/// Load an alpha matte (or a trimap): an 8-bit or 16-bit single-channel image
/// (16-bit values are rounded to 8 bits), or an RGB(A) file whose three colour
/// channels are equal everywhere and which is fully opaque. Anything else is a "not a
/// grey alpha matte" error naming the file and the first offending pixel.
pub fn load_alpha(path: impl AsRef<Path>) -> Result<GrayImage> {
    let path = path.as_ref();
    let img = decode(path)?;
    let not_grey = |msg: String| Error::format(path, format!("not a grey alpha matte: {msg}"));
    match img {
        DynamicImage::ImageLuma8(g) => Ok(g),
        DynamicImage::ImageLuma16(g) => {
            let (w, h) = g.dimensions();
            let v: Vec<u8> = g
                .as_raw()
                .iter()
                .map(|&x| ((u32::from(x) * 255 + 32767) / 65535) as u8)
                .collect();
            Ok(GrayImage::from_raw(w, h, v).expect("buffer size matches"))
        }
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => {
            let rgba = img.to_rgba8();
            let (w, h) = rgba.dimensions();
            let mut v = Vec::with_capacity((w * h) as usize);
            for (x, y, p) in rgba.enumerate_pixels() {
                let [r, g, b, a] = p.0;
                if r != g || g != b {
                    return Err(not_grey(format!(
                        "pixel (x {x}, y {y}) has colour ({r}, {g}, {b})"
                    )));
                }
                if a != 255 {
                    return Err(not_grey(format!(
                        "pixel (x {x}, y {y}) is transparent (alpha channel {a})"
                    )));
                }
                v.push(r);
            }
            Ok(GrayImage::from_raw(w, h, v).expect("buffer size matches"))
        }
        other => Err(not_grey(format!(
            "unsupported pixel format {:?} (expected 8- or 16-bit grey)",
            other.color()
        ))),
    }
}

/// Save an 8-bit grey image (an alpha matte, a trimap) as PNG, atomically.
pub fn save_gray(img: &GrayImage, path: impl AsRef<Path>) -> Result<()> {
    save_png(&DynamicImage::ImageLuma8(img.clone()), path.as_ref())
}

/// Save an 8-bit RGB image as PNG, atomically.
pub fn save_rgb(img: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    save_png(&DynamicImage::ImageRgb8(img.clone()), path.as_ref())
}

fn save_png(img: &DynamicImage, path: &Path) -> Result<()> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, e.to_string()))?;
    candor_core::fsio::write_atomic(path, &out.into_inner())
}

/// Errors unless `a` (described by `what_a`) and `b` have the same size.
pub(crate) fn check_same_size(
    what_a: &str,
    a: (u32, u32),
    what_b: &str,
    b: (u32, u32),
) -> Result<()> {
    if a != b {
        return Err(Error::invalid(format!(
            "{what_a} is {}x{} (width x height) but {what_b} is {}x{}",
            a.0, a.1, b.0, b.1
        )));
    }
    Ok(())
}
