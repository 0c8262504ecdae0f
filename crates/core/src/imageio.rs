//! Images as tensors: `C×H×W` f32 in `[0, 1]`, PNG/JPEG I/O, JPEG re-encoding,
//! resizing with the usual filters, and crops.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, Luma, RgbImage};

use crate::{Error, Result};

/// Resampling filter for [`resize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (triangle kernel).
    Bilinear,
    /// Bicubic (Catmull–Rom, a = −0.5, as PIL's BICUBIC).
    Bicubic,
    /// Lanczos with a = 3.
    Lanczos3,
}

impl Filter {
    fn to_image(self) -> FilterType {
        match self {
            Filter::Nearest => FilterType::Nearest,
            Filter::Bilinear => FilterType::Triangle,
            Filter::Bicubic => FilterType::CatmullRom,
            Filter::Lanczos3 => FilterType::Lanczos3,
        }
    }
}

/// An RGB image as a `3×H×W` f32 tensor in `[0, 1]` on the CPU.
pub fn from_dynamic(img: &DynamicImage) -> Result<Tensor> {
    let rgb = img.to_rgb32f();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Err(Error::invalid("empty image"));
    }
    let raw = rgb.into_raw();
    let mut chw = vec![0f32; 3 * h * w];
    for (i, px) in raw.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * h * w + i] = px[c];
        }
    }
    Ok(Tensor::from_vec(chw, (3, h, w), &Device::Cpu)?)
}

/// The most pixels (width × height) [`load_image`] and [`decode_image`] decode: 2²⁶,
/// e.g. 8192 × 8192. Its `3×H×W` f32 tensor takes 768 MiB.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// The most pixels per byte of file [`decode_image`] accepts: 2¹⁴. No real PNG or JPEG
/// comes near it (deflate expands at most about 1032:1, i.e. 8256 one-bit pixels per
/// byte; a JPEG spends at least one bit per 8×8 block), so a small file that claims a
/// huge image is rejected from its header, before anything is allocated.
pub const MAX_PIXELS_PER_BYTE: u64 = 1 << 14;

/// Load a PNG or JPEG file as a `3×H×W` f32 tensor in `[0, 1]`. Errors name the file.
/// Images above [`MAX_IMAGE_PIXELS`] are an error (see [`decode_image`]).
pub fn load_image(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image(&bytes, path)
}

/// Decode the bytes of a PNG or JPEG file as [`load_image`] does; `name` is used in
/// errors. The dimensions are read from the header first: more than
/// [`MAX_IMAGE_PIXELS`] pixels, or more than [`MAX_PIXELS_PER_BYTE`] per byte of
/// `bytes`, is an error before any pixel buffer is allocated.
pub fn decode_image(bytes: &[u8], name: impl AsRef<Path>) -> Result<Tensor> {
    decode_image_limited(bytes, name, MAX_IMAGE_PIXELS)
}

/// [`decode_image`] with a lower (or higher) pixel limit than [`MAX_IMAGE_PIXELS`].
pub fn decode_image_limited(
    bytes: &[u8],
    name: impl AsRef<Path>,
    max_pixels: u64,
) -> Result<Tensor> {
    let path = name.as_ref();
    let bad = |e: image::ImageError| Error::format(path, format!("cannot decode image: {e}"));
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::format(path, format!("cannot read image: {e}")))
    };
    let (w, h) = reader()?.into_dimensions().map_err(bad)?;
    let pixels = u64::from(w) * u64::from(h);
    let limit = max_pixels.min((bytes.len() as u64).saturating_mul(MAX_PIXELS_PER_BYTE));
    if pixels > limit {
        return Err(Error::format(
            path,
            format!(
                "image claims {w}×{h} = {pixels} pixels, above the limit of {limit} for a {}-byte file",
                bytes.len()
            ),
        ));
    }
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    r.limits(limits);
    let img = r.decode().map_err(bad)?;
    from_dynamic(&img).map_err(|e| Error::format(path, e.to_string()))
}

/// `(C, H, W)` of an image tensor given as `(C, H, W)` or `(H, W)`.
fn chw(t: &Tensor) -> Result<(usize, usize, usize)> {
    match *t.dims() {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
        [h, w] if h > 0 && w > 0 => Ok((1, h, w)),
        _ => Err(Error::invalid(format!(
            "expected a non-empty image tensor (C, H, W) or (H, W), got shape {:?}",
            t.dims()
        ))),
    }
}

fn planes(t: &Tensor) -> Result<(Vec<f32>, usize, usize, usize)> {
    let (c, h, w) = chw(t)?;
    let v = t
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::invalid("image contains NaN or infinite values"));
    }
    Ok((v, c, h, w))
}

/// An image tensor (`3×H×W`, `1×H×W` or `H×W`, values in `[0, 1]`, clamped) as 8-bit RGB.
pub fn to_rgb8(t: &Tensor) -> Result<RgbImage> {
    let (v, c, h, w) = planes(t)?;
    if c != 1 && c != 3 {
        return Err(Error::invalid(format!(
            "can only convert 1 or 3 channels to RGB, got {c}"
        )));
    }
    let q = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut buf = Vec::with_capacity(h * w * 3);
    for i in 0..h * w {
        for ch in 0..3 {
            let src = if c == 3 { ch } else { 0 };
            buf.push(q(v[src * h * w + i]));
        }
    }
    RgbImage::from_raw(w as u32, h as u32, buf).ok_or_else(|| Error::invalid("bad image size"))
}

/// Save an image tensor as PNG or JPEG (quality 95) according to the extension.
/// The file is written atomically.
pub fn save_image(t: &Tensor, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let bytes = match ext.as_deref() {
        Some("png") => {
            let mut out = std::io::Cursor::new(Vec::new());
            DynamicImage::ImageRgb8(to_rgb8(t)?)
                .write_to(&mut out, image::ImageFormat::Png)
                .map_err(|e| Error::format(path, e.to_string()))?;
            out.into_inner()
        }
        Some("jpg") | Some("jpeg") => encode_jpeg(t, 95)?,
        _ => {
            return Err(Error::invalid(format!(
                "{}: unsupported image extension (use .png, .jpg or .jpeg)",
                path.display()
            )))
        }
    };
    crate::fsio::write_atomic(path, &bytes)
}

/// Encode an image tensor as baseline JPEG at `quality` (1–100).
pub fn encode_jpeg(t: &Tensor, quality: u8) -> Result<Vec<u8>> {
    if !(1..=100).contains(&quality) {
        return Err(Error::invalid(format!(
            "JPEG quality must be in 1..=100, got {quality}"
        )));
    }
    let img = to_rgb8(t)?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img)
        .map_err(|e| Error::invalid(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// Re-encode an image as JPEG at `quality` and decode it again (compression artefacts
/// as a data augmentation or as the c23/c40 analogue). Returns `3×H×W`.
pub fn jpeg_roundtrip(t: &Tensor, quality: u8) -> Result<Tensor> {
    let bytes = encode_jpeg(t, quality)?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| Error::invalid(format!("JPEG decoding failed: {e}")))?;
    from_dynamic(&img)
}

/// Resize an image tensor `(C, H, W)`, `(H, W)` or a batch `(B, C, H, W)` to `h × w`.
/// Filters follow the `image` crate (as PIL): kernels are widened when down-sampling,
/// so down-sampling is anti-aliased. Values are not clamped (Lanczos and bicubic overshoot).
/// An output of more than [`MAX_IMAGE_PIXELS`] pixels per plane is an error.
pub fn resize(t: &Tensor, h: usize, w: usize, filter: Filter) -> Result<Tensor> {
    if h == 0 || w == 0 || (h as u64).saturating_mul(w as u64) > MAX_IMAGE_PIXELS {
        return Err(Error::invalid(format!(
            "cannot resize to {h}×{w} (at most {MAX_IMAGE_PIXELS} pixels)"
        )));
    }
    if let [b, c, ih, iw] = *t.dims() {
        let flat = t.reshape((b * c, ih, iw))?;
        return Ok(resize(&flat, h, w, filter)?.reshape((b, c, h, w))?);
    }
    let (v, c, ih, iw) = planes(t)?;
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        let plane = v[ch * ih * iw..(ch + 1) * ih * iw].to_vec();
        let buf: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(iw as u32, ih as u32, plane)
                .ok_or_else(|| Error::invalid("bad plane size"))?;
        let r = image::imageops::resize(&buf, w as u32, h as u32, filter.to_image());
        out.extend_from_slice(r.as_raw());
    }
    let shape: Vec<usize> = if t.rank() == 2 {
        vec![h, w]
    } else {
        vec![c, h, w]
    };
    Ok(Tensor::from_vec(out, shape, &Device::Cpu)?
        .to_dtype(t.dtype())?
        .to_device(t.device())?)
}

/// Crop rows `top..top+h`, columns `left..left+w` of a `(…, H, W)` tensor.
pub fn crop(t: &Tensor, top: usize, left: usize, h: usize, w: usize) -> Result<Tensor> {
    let r = t.rank();
    if r < 2 {
        return Err(Error::invalid(format!(
            "crop needs a tensor of rank ≥ 2, got {:?}",
            t.dims()
        )));
    }
    let (ih, iw) = (t.dims()[r - 2], t.dims()[r - 1]);
    let fits =
        |start: usize, len: usize, end: usize| start.checked_add(len).is_some_and(|e| e <= end);
    if h == 0 || w == 0 || !fits(top, h, ih) || !fits(left, w, iw) {
        return Err(Error::invalid(format!(
            "crop {h}×{w} at ({top}, {left}) does not fit in {ih}×{iw}"
        )));
    }
    Ok(t.narrow(r - 2, top, h)?.narrow(r - 1, left, w)?)
}

/// The central `h × w` crop of a `(…, H, W)` tensor.
pub fn center_crop(t: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let r = t.rank();
    if r < 2 {
        return Err(Error::invalid("center_crop needs a tensor of rank ≥ 2"));
    }
    let (ih, iw) = (t.dims()[r - 2], t.dims()[r - 1]);
    if h > ih || w > iw {
        return Err(Error::invalid(format!(
            "crop {h}×{w} larger than the image {ih}×{iw}"
        )));
    }
    crop(t, (ih - h) / 2, (iw - w) / 2, h, w)
}

/// Stack same-shaped `C×H×W` images into a `B×C×H×W` batch.
pub fn stack_batch(images: &[Tensor]) -> Result<Tensor> {
    let first = images
        .first()
        .ok_or_else(|| Error::invalid("cannot make a batch of zero images"))?;
    if let Some(bad) = images.iter().find(|t| t.dims() != first.dims()) {
        return Err(Error::invalid(format!(
            "images in a batch must share a shape: {:?} vs {:?}",
            first.dims(),
            bad.dims()
        )));
    }
    Ok(Tensor::stack(images, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn random_image(h: usize, w: usize) -> Tensor {
        let mut r = SeededRng::new(0);
        r.uniform_tensor(0.0, 1.0, (3, h, w), DType::F32, &Device::Cpu)
            .unwrap()
    }

    #[test]
    fn png_roundtrip_is_exact_after_quantisation() {
        let dir = tempfile::tempdir().unwrap();
        let t = random_image(9, 13);
        let q = ((t.clone() * 255.0).unwrap().round().unwrap() / 255.0).unwrap();
        let p = dir.path().join("a.png");
        save_image(&q, &p).unwrap();
        let back = load_image(&p).unwrap();
        let d = (back - q)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6);
    }

    #[test]
    fn jpeg_quality_orders_error() {
        let t = resize(&random_image(8, 8), 64, 64, Filter::Bilinear).unwrap();
        let err = |q| {
            let r = jpeg_roundtrip(&t, q).unwrap();
            (r - &t)
                .unwrap()
                .sqr()
                .unwrap()
                .mean_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(err(95) < err(20));
        assert!(encode_jpeg(&t, 0).is_err());
    }

    #[test]
    fn resize_shapes_and_constant() {
        let c = Tensor::full(0.25f32, (2, 10, 14), &Device::Cpu).unwrap();
        for f in [
            Filter::Nearest,
            Filter::Bilinear,
            Filter::Bicubic,
            Filter::Lanczos3,
        ] {
            let r = resize(&c, 7, 21, f).unwrap();
            assert_eq!(r.dims(), &[2, 7, 21]);
            let v = r.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(v.iter().all(|x| (x - 0.25).abs() < 1e-5), "{f:?}");
        }
        let b = Tensor::zeros((2, 3, 8, 8), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            resize(&b, 4, 4, Filter::Nearest).unwrap().dims(),
            &[2, 3, 4, 4]
        );
        assert!(resize(&c, 0, 3, Filter::Nearest).is_err());
    }

    #[test]
    fn nearest_upsample_repeats_pixels() {
        let t = Tensor::new(&[[0.0f32, 1.0], [0.5, 0.25]], &Device::Cpu).unwrap();
        let r = resize(&t, 4, 4, Filter::Nearest).unwrap();
        let v = r.to_vec2::<f32>().unwrap();
        assert_eq!(v[0], vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(v[3], vec![0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn crops() {
        let t = random_image(10, 12);
        let c = crop(&t, 2, 3, 4, 5).unwrap();
        assert_eq!(c.dims(), &[3, 4, 5]);
        assert!(crop(&t, 8, 0, 4, 4).is_err());
        assert_eq!(center_crop(&t, 6, 6).unwrap().dims(), &[3, 6, 6]);
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broken.png");
        std::fs::write(&p, b"not a png").unwrap();
        let e = load_image(&p).unwrap_err().to_string();
        assert!(e.contains("broken.png"), "{e}");
        let e = load_image(dir.path().join("missing.jpg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.jpg"), "{e}");
        let empty = Tensor::zeros((3, 0, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(to_rgb8(&empty).is_err());
        assert!(save_image(&random_image(2, 2), dir.path().join("x.bmp")).is_err());
    }
}
