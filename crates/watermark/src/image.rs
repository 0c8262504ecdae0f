//! [`Image`]: a planar `C × H × W` f32 image in `[0, 1]`, the unit every part of the
//! crate exchanges (task pairs, watermarks, extractions).
//!
//! The networks work on candle tensors; [`Image::to_tensor`], [`Image::from_tensor`] and
//! [`Image::batch`] convert. Keeping the data layer on plain buffers makes the
//! generators, the traditional scheme and the metrics exact and device-independent.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candor_core::{bail_invalid, Result};

/// A planar image: `channels` planes of `height × width` row-major f32 values.
///
/// Values are finite; the generators and loaders keep them in `[0, 1]` (a network's
/// raw output may leave that range, so it is not enforced).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<f32>,
}

impl Image {
    /// An image from its planar data. Errors on a zero dimension, a length that is not
    /// `channels · height · width`, or a non-finite value.
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        if channels == 0 || height == 0 || width == 0 {
            bail_invalid!("image dimensions must be positive, got {channels}x{height}x{width}");
        }
        let Some(n) = channels
            .checked_mul(height)
            .and_then(|p| p.checked_mul(width))
        else {
            bail_invalid!("image size {channels}x{height}x{width} overflows");
        };
        if data.len() != n {
            bail_invalid!(
                "image data has {} values, expected {channels}x{height}x{width} = {n}",
                data.len()
            );
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            bail_invalid!("image value {i} is not finite ({})", data[i]);
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    /// A constant image (e.g. the blank watermark δ0 = all white).
    pub fn filled(channels: usize, height: usize, width: usize, value: f32) -> Result<Self> {
        let n = channels.saturating_mul(height).saturating_mul(width);
        Self::new(channels, height, width, vec![value; n])
    }

    /// Trusted constructor for generators that build `data` with the right length.
    pub(crate) fn from_parts(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), channels * height * width);
        Self {
            channels,
            height,
            width,
            data,
        }
    }

    /// Number of channels (1 = greyscale, 3 = RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `(channels, height, width)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    /// Pixels per plane, `height · width`.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// The planar data, `C × H × W` row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The planar data, consumed.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Plane `c` (row-major `H × W`).
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// Mean of all values.
    pub fn mean(&self) -> f64 {
        self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len() as f64
    }

    /// A copy with every value clamped to `[0, 1]`.
    pub fn clamped(&self) -> Image {
        let data = self.data.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        Self::from_parts(self.channels, self.height, self.width, data)
    }

    /// `Err` naming `what` unless `other` has the same `(C, H, W)`.
    pub fn check_same_shape(&self, other: &Image, what: &str) -> Result<()> {
        if self.shape() != other.shape() {
            bail_invalid!(
                "{what}: shapes differ ({}x{}x{} vs {}x{}x{}, as CxHxW)",
                self.channels,
                self.height,
                self.width,
                other.channels,
                other.height,
                other.width
            );
        }
        Ok(())
    }

    /// The same picture with `channels` channels: grey → RGB replicates the plane,
    /// RGB → grey takes the ITU-R 601 luma `0.299 R + 0.587 G + 0.114 B` (PIL's `L`,
    /// which the official code applies to every input). Other conversions are errors.
    pub fn with_channels(&self, channels: usize) -> Result<Image> {
        match (self.channels, channels) {
            (a, b) if a == b => Ok(self.clone()),
            (1, 3) => Ok(Self::from_parts(
                3,
                self.height,
                self.width,
                self.data.repeat(3),
            )),
            (3, 1) => {
                let (r, g, b) = (self.plane(0), self.plane(1), self.plane(2));
                let data = (0..self.plane_len())
                    .map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i])
                    .collect();
                Ok(Self::from_parts(1, self.height, self.width, data))
            }
            (a, b) => bail_invalid!("cannot convert a {a}-channel image to {b} channels"),
        }
    }

    /// A `(C, H, W)` f32 tensor on `device`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(
            Tensor::from_slice(&self.data, (self.channels, self.height, self.width), device)?
                .to_dtype(DType::F32)?,
        )
    }

    /// An image from a `(C, H, W)`, `(1, C, H, W)` or `(H, W)` tensor of any float dtype.
    pub fn from_tensor(t: &Tensor) -> Result<Image> {
        let (c, h, w) = match *t.dims() {
            [c, h, w] | [1, c, h, w] => (c, h, w),
            [h, w] => (1, h, w),
            ref d => bail_invalid!("expected an image tensor (C, H, W), got shape {d:?}"),
        };
        let data = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Self::new(c, h, w, data)
    }

    /// Images of one shape stacked as an `(N, C, H, W)` f32 tensor on `device`.
    pub fn batch(images: &[Image], device: &Device) -> Result<Tensor> {
        let Some(first) = images.first() else {
            bail_invalid!("cannot batch an empty list of images");
        };
        for (i, im) in images.iter().enumerate() {
            first.check_same_shape(im, &format!("batch: image 0 and image {i}"))?;
        }
        let data: Vec<f32> = images
            .iter()
            .flat_map(|im| im.data.iter().copied())
            .collect();
        let (c, h, w) = first.shape();
        Ok(Tensor::from_vec(data, (images.len(), c, h, w), device)?)
    }

    /// The images of an `(N, C, H, W)` tensor.
    pub fn unbatch(t: &Tensor) -> Result<Vec<Image>> {
        let (n, c, h, w) = match *t.dims() {
            [n, c, h, w] => (n, c, h, w),
            ref d => bail_invalid!("expected a batch (N, C, H, W), got shape {d:?}"),
        };
        let flat = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let per = c * h * w;
        (0..n)
            .map(|i| Self::new(c, h, w, flat[i * per..(i + 1) * per].to_vec()))
            .collect()
    }

    /// Save as an 8-bit PNG or JPEG (by extension; greyscale is written as R = G = B),
    /// atomically. Values are clamped to `[0, 1]` and rounded to 1/255.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.channels != 1 && self.channels != 3 {
            bail_invalid!(
                "can only save 1- or 3-channel images, got {}",
                self.channels
            );
        }
        candor_core::imageio::save_image(&self.to_tensor(&Device::Cpu)?, path)
    }
}
