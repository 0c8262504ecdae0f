//! ImageNet-pretrained backbones from timm checkpoints, and timm's preprocessing.
//!
//! Both papers start from ImageNet weights: MAT from EfficientNet-B4 (AdvProp, timm
//! `tf_efficientnet_b4.ap_in1k`), SPSL and the Xception baseline from Xception (timm
//! `legacy_xception.tf_in1k`, called `xception` before timm 0.9). Our backbones use timm's
//! parameter names, so a timm file loads through
//! [`candor_core::checkpoint::load_pretrained`] with a [`LoadSpec`] from here:
//!
//! | detector | file keys → variables | not loaded |
//! |---|---|---|
//! | vanilla (Xception / EfficientNet) | as they are | the 1000-class head (`fc.*` / `classifier.*`) |
//! | MAT | `net.` put in front (the backbone's prefix) | the head; MAT's own attention, texture and projection layers (outside `net.`) |
//! | SPSL | as they are; `conv1.weight` 32×3×3×3 → 32×4×3×3 by [`Adapt`] | the head; middle blocks the shallow network drops |
//!
//! SPSL's 4-channel `conv1` follows the card (DeepfakeBench's `spsl_detector.py`): the mean
//! of the RGB kernels, repeated on all four input channels ([`Adapt::InChannelsMean`]);
//! [`Adapt::InChannelsCopyThenMean`] keeps the RGB kernels and gives only the phase
//! channel their mean. Also accepted: DataParallel's `module.` prefix, the Cadene /
//! DeepfakeBench name `last_linear` for `fc`, and their 2-D pointwise weights. PyTorch's
//! `num_batches_tracked` counters are dropped. Loading is strict for the backbone: a
//! missing, unexpected or wrongly shaped backbone tensor is an error that lists them.
//!
//! **Using a real timm file.** With timm installed:
//! `timm.create_model("legacy_xception", pretrained=True).state_dict()` saved with
//! `safetensors.torch.save_file` (or `torch.save`), or the hub's own `model.safetensors`
//! (e.g. `timm/tf_efficientnet_b4.ap_in1k`, `timm/legacy_xception.tf_in1k`). Then set
//! [`TrainConfig::pretrained`](crate::train::TrainConfig::pretrained) to the file (the
//! trainer loads it before the first epoch), put it in the folder given to
//! `cargo xtask reproduce --scale paper --weights DIR` (see [`crate::reproduce`]), or
//! check it with the `features` example, which prints the pooled features and logits of
//! one image for comparison with timm's:
//! `cargo run --release -p candor-forgery --example features -- --arch xception
//! --pretrained legacy_xception.safetensors --image face.png`.
//!
//! [`TimmPreprocess`] is timm's evaluation transform of each model's default pretrained
//! configuration: resize the shorter side to `⌊size / crop_pct⌋` (PIL's 8-bit bicubic,
//! reproduced exactly by [`pil_bicubic_resize`]), centre crop `size`, normalise by
//! mean/std.

use candle_core::{DType, Tensor};
use candor_core::checkpoint::{Adapt, LoadSpec};
use candor_core::{Error, Result};

use super::backbone::BackboneConfig;
use super::registry::DetectorConfig;
use super::xception::FULL_MIDDLE_BLOCKS;

/// The [`LoadSpec`] of a timm checkpoint of `backbone`, whose variables live under
/// `model_prefix` (`""`, or `net.` in MAT). `conv1` makes a first convolution with more
/// than 3 input channels from the file's RGB one.
pub fn backbone_spec(backbone: &BackboneConfig, model_prefix: &str, conv1: Adapt) -> LoadSpec {
    let p = model_prefix;
    let (head, first, mut skip) = match backbone {
        BackboneConfig::Xception(c) => (
            "fc",
            "conv1.weight",
            (4 + c.middle_blocks..4 + FULL_MIDDLE_BLOCKS)
                .map(|b| format!("{p}block{b}.*"))
                .collect::<Vec<_>>(),
        ),
        BackboneConfig::EfficientNet(_) => ("classifier", "conv_stem.weight", Vec::new()),
    };
    skip.push(format!("{p}{head}.*"));
    let adapt = if backbone.in_channels() != 3 {
        vec![(format!("{p}{first}"), conv1)]
    } else {
        Vec::new()
    };
    LoadSpec {
        strip_prefix: Some("module.".into()),
        model_prefix: p.to_string(),
        renames: vec![(format!("{p}last_linear."), format!("{p}fc."))],
        skip,
        strict: true,
        reshape_unit_dims: true,
        adapt,
        pickle_key: None,
    }
}

/// The [`LoadSpec`] of a timm checkpoint of `cfg`'s backbone (see the module docs).
pub fn detector_spec(cfg: &DetectorConfig, conv1: Adapt) -> LoadSpec {
    let (backbone, prefix) = cfg.pretrained_backbone();
    backbone_spec(&backbone, prefix, conv1)
}

/// timm's evaluation preprocessing of a model's default pretrained configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TimmPreprocess {
    /// Side of the square network input.
    pub size: usize,
    /// The shorter side is first resized to `⌊size / crop_pct⌋`.
    pub crop_pct: f64,
    /// Per-channel mean, subtracted after scaling to `[0, 1]`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
}

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
const HALF: [f32; 3] = [0.5, 0.5, 0.5];

impl TimmPreprocess {
    /// The default configuration of timm 1.0's first pretrained tag of `arch`:
    /// `xception` (`legacy_xception.tf_in1k`: 299, crop 0.8975, mean/std 0.5),
    /// `efficientnet_b0`…`b4` (`ra_in1k`, `ra4_e3600_r240_in1k`, `ra_in1k`, `ra2_in1k`,
    /// `ra2_in1k`: 224, 240, 256, 288, 320; crop 0.875, B1 0.9; ImageNet mean/std, B1
    /// 0.5), `tf_efficientnet_b0`…`b4` (`ns_jft_in1k`: 224, 240, 260, 300, 380; crop
    /// 0.875, 0.882, 0.890, 0.904, 0.922; ImageNet mean/std). All bicubic.
    pub fn for_arch(arch: &str) -> Result<Self> {
        let c = |size, crop_pct, mean, std| TimmPreprocess {
            size,
            crop_pct,
            mean,
            std,
        };
        let im = |size, crop| c(size, crop, IMAGENET_MEAN, IMAGENET_STD);
        Ok(match arch {
            "xception" | "legacy_xception" => c(299, 0.8975, HALF, HALF),
            "efficientnet_b0" => im(224, 0.875),
            "efficientnet_b1" => c(240, 0.9, HALF, HALF),
            "efficientnet_b2" => im(256, 0.875),
            "efficientnet_b3" => im(288, 0.875),
            "efficientnet_b4" => im(320, 0.875),
            "tf_efficientnet_b0" => im(224, 0.875),
            "tf_efficientnet_b1" => im(240, 0.882),
            "tf_efficientnet_b2" => im(260, 0.890),
            "tf_efficientnet_b3" => im(300, 0.904),
            "tf_efficientnet_b4" => im(380, 0.922),
            _ => {
                return Err(Error::invalid(format!(
                    "unknown architecture '{arch}': expected xception, efficientnet_b0…b4 \
                     or tf_efficientnet_b0…b4"
                )))
            }
        })
    }

    /// The resized size `(h, w)` of an `h × w` image: the shorter side becomes
    /// `⌊size / crop_pct⌋`, the longer one keeps the aspect ratio (truncated), as
    /// torchvision's `Resize(int)`.
    pub fn resized(&self, h: usize, w: usize) -> (usize, usize) {
        let short = (self.size as f64 / self.crop_pct).floor() as usize;
        if h <= w {
            (short, (short as f64 * w as f64 / h as f64) as usize)
        } else {
            ((short as f64 * h as f64 / w as f64) as usize, short)
        }
    }

    /// The top-left corner of torchvision's centre crop of `size` in `len`:
    /// `round((len − size) / 2)`, Python's round (half to even).
    pub fn crop_offset(&self, len: usize) -> usize {
        let d = len.saturating_sub(self.size);
        let half = d / 2;
        if d % 2 == 1 && half % 2 == 1 {
            half + 1
        } else {
            half
        }
    }

    /// `3×H×W` in `[0, 1]` (an 8-bit image: values `k/255`) → the normalised
    /// `3×size×size` network input, as timm's transform computes it: the resize is
    /// PIL's 8-bit bicubic resampling ([`pil_bicubic_resize`]), then torchvision's centre
    /// crop, `ToTensor` and `Normalize`.
    pub fn apply(&self, image: &Tensor) -> Result<Tensor> {
        let (c, h, w) = image.dims3().map_err(|_| {
            Error::invalid(format!("expected a 3×H×W image, got {:?}", image.dims()))
        })?;
        if c != 3 || h == 0 || w == 0 {
            return Err(Error::invalid(format!(
                "expected a 3×H×W image, got {:?}",
                image.dims()
            )));
        }
        let (rh, rw) = self.resized(h, w);
        if rh < self.size || rw < self.size {
            return Err(Error::invalid(format!(
                "crop_pct {} resizes to {rh}×{rw}, smaller than the input size {}",
                self.crop_pct, self.size
            )));
        }
        let px: Vec<u8> = image
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        let px = pil_bicubic_resize(&px, c, (h, w), (rh, rw));
        let (top, left) = (self.crop_offset(rh), self.crop_offset(rw));
        let mut out = Vec::with_capacity(c * self.size * self.size);
        for ch in 0..c {
            for y in top..top + self.size {
                let row = &px[(ch * rh + y) * rw + left..][..self.size];
                out.extend(
                    row.iter()
                        .map(|&v| (f32::from(v) / 255.0 - self.mean[ch]) / self.std[ch]),
                );
            }
        }
        Ok(Tensor::from_vec(
            out,
            (c, self.size, self.size),
            image.device(),
        )?)
    }
}

/// PIL's bicubic kernel (a = −0.5).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point bits of PIL's 8-bit resampling coefficients.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL's coefficients of one axis (`precompute_coeffs` and `normalize_coeffs_8bpc` of
/// `Resample.c`): per output index, the first input index and fixed-point weights. The
/// kernel is widened by the scale when down-sampling (anti-aliasing).
fn pil_coeffs(len_in: usize, len_out: usize) -> Vec<(usize, Vec<i64>)> {
    let scale = len_in as f64 / len_out as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..len_out)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            // C's (int) truncates toward zero.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(len_in as i64) as usize;
            let w: Vec<f64> = (lo..hi)
                .map(|i| bicubic((i as f64 - center + 0.5) / filterscale))
                .collect();
            let total: f64 = w.iter().sum();
            let one = f64::from(1u32 << PRECISION_BITS);
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { 0.0 } * one;
                    if v < 0.0 {
                        (v - 0.5) as i64
                    } else {
                        (v + 0.5) as i64
                    }
                })
                .collect();
            (lo, k)
        })
        .collect()
}

/// Resizes `c` planes of `h × w` 8-bit samples to `oh × ow` exactly as
/// `PIL.Image.resize(…, BICUBIC)` does for an 8-bit RGB image: a horizontal pass, its
/// result rounded to 8 bits, then a vertical pass (each skipped when that side keeps
/// its size).
pub fn pil_bicubic_resize(
    px: &[u8],
    c: usize,
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
) -> Vec<u8> {
    let round =
        |acc: i64| (((acc + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS).clamp(0, 255)) as u8;
    let mut cur = px.to_vec();
    let mut cw = w;
    if ow != w {
        let k = pil_coeffs(w, ow);
        let mut out = Vec::with_capacity(c * h * ow);
        for line in cur.chunks_exact(w) {
            for (lo, ks) in &k {
                let acc: i64 = ks
                    .iter()
                    .enumerate()
                    .map(|(j, kv)| i64::from(line[lo + j]) * kv)
                    .sum();
                out.push(round(acc));
            }
        }
        cur = out;
        cw = ow;
    }
    if oh != h {
        let k = pil_coeffs(h, oh);
        let mut out = Vec::with_capacity(c * oh * cw);
        for plane in cur.chunks_exact(h * cw) {
            for (lo, ks) in &k {
                for x in 0..cw {
                    let acc: i64 = ks
                        .iter()
                        .enumerate()
                        .map(|(j, kv)| i64::from(plane[(lo + j) * cw + x]) * kv)
                        .sum();
                    out.push(round(acc));
                }
            }
        }
        cur = out;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EfficientNetConfig, MatConfig, SpslConfig, VanillaConfig, XceptionConfig};

    #[test]
    fn specs_per_detector() {
        let s = detector_spec(
            &DetectorConfig::Spsl(SpslConfig::default()),
            Adapt::InChannelsMean,
        );
        assert_eq!(s.model_prefix, "");
        assert_eq!(
            s.adapt,
            [("conv1.weight".to_string(), Adapt::InChannelsMean)]
        );
        assert!(s.skip.contains(&"block4.*".to_string()));
        assert!(s.skip.contains(&"block11.*".to_string()));
        assert!(s.skip.contains(&"fc.*".to_string()));
        let m = detector_spec(
            &DetectorConfig::Mat(MatConfig::default()),
            Adapt::InChannelsMean,
        );
        assert_eq!(m.model_prefix, "net.");
        assert_eq!(m.skip, ["net.classifier.*"]);
        assert!(m.adapt.is_empty());
        let v = detector_spec(
            &DetectorConfig::Vanilla(VanillaConfig {
                backbone: BackboneConfig::Xception(XceptionConfig::default()),
            }),
            Adapt::InChannelsMean,
        );
        assert_eq!(v.skip, ["fc.*"]);
        assert_eq!(v.renames, [("last_linear.".to_string(), "fc.".to_string())]);
        let e = backbone_spec(
            &BackboneConfig::EfficientNet(EfficientNetConfig::b0()),
            "",
            Adapt::InChannelsMean,
        );
        assert_eq!(e.skip, ["classifier.*"]);
    }

    #[test]
    fn timm_geometry() {
        let p = TimmPreprocess::for_arch("xception").unwrap();
        // ⌊299 / 0.8975⌋ = 333; torchvision keeps the aspect ratio, truncating.
        assert_eq!(p.resized(480, 640), (333, 444));
        assert_eq!(p.resized(640, 480), (444, 333));
        // round(34 / 2) = 17; round(145 / 2) = round(72.5) = 72 (half to even);
        // round(147 / 2) = round(73.5) = 74.
        assert_eq!(p.crop_offset(333), 17);
        assert_eq!(p.crop_offset(444), 72);
        assert_eq!(p.crop_offset(446), 74);
        assert_eq!(p.crop_offset(299), 0);
        let e = TimmPreprocess::for_arch("tf_efficientnet_b4").unwrap();
        assert_eq!((e.size, e.resized(380, 380)), (380, (412, 412)));
        assert!(TimmPreprocess::for_arch("resnet50").is_err());
        // An image already at the resized size is only cropped and normalised.
        // (An 8-bit image: 153/255 = 0.6.)
        let img = Tensor::full(0.6f32, (3, 333, 400), &candle_core::Device::Cpu).unwrap();
        let x = p.apply(&img).unwrap();
        assert_eq!(x.dims(), &[3, 299, 299]);
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|&a| (a - 0.2).abs() < 1e-6));
    }
}
