//! Compositing as Deep Image Matting's composition script does it (Xu et al. 2017,
//! `Composition_code.py` of the Adobe Composition-1k release).
//!
//! * **Background fitting** ([`fit_background`]): a background smaller than the
//!   foreground in either side is enlarged by `ratio = max(w_fg/w_bg, h_fg/h_bg)` to
//!   `(ceil(w_bg·ratio), ceil(h_bg·ratio))` with bicubic interpolation; then its
//!   **top-left** `h_fg × w_fg` corner is cropped (no centring, no random crop).
//!   DIM uses OpenCV's `INTER_CUBIC` (Keys kernel, a = −0.75, half-pixel centres,
//!   replicated borders). [`resize_bicubic`] computes that kernel in floating point and
//!   rounds to 8 bits; OpenCV's 8-bit path uses 11-bit fixed-point weights (and may
//!   dispatch to IPP), so individual enlarged pixels can differ from OpenCV's by one
//!   grey level. Backgrounds at least as large as the foreground are only cropped,
//!   which is exact.
//! * **Compositing** ([`composite`]): in `float32`, `a = α/255`,
//!   `I = a·F + (1 − a)·B`, then **truncated** to 8 bits (numpy's `astype(uint8)`, not
//!   rounded), exactly as DIM's `composite4`.

use image::{GrayImage, Rgb, RgbImage};

use super::check_same_size;
use crate::Result;

/// DIM's composite `I = a·F + (1 − a)·B` with `a = α/255`, computed in `f32`
/// operation by operation as numpy does and truncated to 8 bits. All three images
/// must have the same size.
pub fn composite(fg: &RgbImage, bg: &RgbImage, alpha: &GrayImage) -> Result<RgbImage> {
    check_same_size(
        "the foreground",
        fg.dimensions(),
        "the alpha",
        alpha.dimensions(),
    )?;
    check_same_size(
        "the background",
        bg.dimensions(),
        "the foreground",
        fg.dimensions(),
    )?;
    let (w, h) = fg.dimensions();
    let mut out = Vec::with_capacity((3 * w * h) as usize);
    for ((f, b), &a) in fg
        .as_raw()
        .chunks_exact(3)
        .zip(bg.as_raw().chunks_exact(3))
        .zip(alpha.as_raw())
    {
        let a = (f64::from(a) / 255.0) as f32;
        for c in 0..3 {
            out.push(composite_channel(f[c], b[c], a));
        }
    }
    Ok(RgbImage::from_raw(w, h, out).expect("buffer size matches"))
}

/// One channel of DIM's composite: `trunc(a·F + (1 − a)·B)` in `f32` (no fused
/// multiply-add, as numpy).
#[inline]
pub(crate) fn composite_channel(f: u8, b: u8, a: f32) -> u8 {
    let v = a * f32::from(f) + (1.0 - a) * f32::from(b);
    v as u8 // truncation toward zero, saturating
}

/// Fit a background to a `width × height` foreground as DIM does: enlarge (bicubic)
/// when it is smaller in either side, then take the top-left `height × width` crop.
pub fn fit_background(bg: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (bw, bh) = bg.dimensions();
    let wratio = f64::from(width) / f64::from(bw);
    let hratio = f64::from(height) / f64::from(bh);
    let ratio = if wratio > hratio { wratio } else { hratio };
    let enlarged;
    let src = if ratio > 1.0 {
        let nw = (f64::from(bw) * ratio).ceil() as u32;
        let nh = (f64::from(bh) * ratio).ceil() as u32;
        enlarged = resize_bicubic(bg, nw, nh);
        &enlarged
    } else {
        bg
    };
    image::imageops::crop_imm(src, 0, 0, width, height).to_image()
}

/// Keys' cubic convolution weights for fractional offset `t` with a = −0.75
/// (OpenCV's `interpolateCubic`).
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let w2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

/// Taps of one output coordinate: 4 clamped source indices and their weights, with
/// OpenCV's geometry `src = (dst + 0.5)·scale − 0.5`.
fn taps(dst: u32, scale: f64, src_len: u32) -> ([usize; 4], [f32; 4]) {
    let fx = (f64::from(dst) + 0.5) * scale - 0.5;
    let sx = fx.floor();
    let w = cubic_weights((fx - sx) as f32);
    let last = i64::from(src_len) - 1;
    let idx = std::array::from_fn(|k| (sx as i64 + k as i64 - 1).clamp(0, last) as usize);
    (idx, w)
}

/// Bicubic resize of an 8-bit RGB image with OpenCV's `INTER_CUBIC` kernel
/// (a = −0.75) and geometry, in `f32`, rounded and clamped to 8 bits.
pub fn resize_bicubic(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    if (iw, ih) == (width, height) {
        return img.clone();
    }
    let sx = f64::from(iw) / f64::from(width);
    let sy = f64::from(ih) / f64::from(height);
    let xt: Vec<_> = (0..width).map(|x| taps(x, sx, iw)).collect();
    // Horizontal pass into f32 rows, then vertical.
    let src = img.as_raw();
    let mut rows = vec![0f32; ih as usize * width as usize * 3];
    for y in 0..ih as usize {
        let srow = &src[y * iw as usize * 3..(y + 1) * iw as usize * 3];
        let drow = &mut rows[y * width as usize * 3..(y + 1) * width as usize * 3];
        for (x, (idx, w)) in xt.iter().enumerate() {
            for c in 0..3 {
                let mut s = 0f32;
                for k in 0..4 {
                    s += w[k] * f32::from(srow[idx[k] * 3 + c]);
                }
                drow[x * 3 + c] = s;
            }
        }
    }
    let mut out = RgbImage::new(width, height);
    let rw = width as usize * 3;
    for y in 0..height {
        let (idx, w) = taps(y, sy, ih);
        for x in 0..width as usize {
            let mut px = [0u8; 3];
            for (c, p) in px.iter_mut().enumerate() {
                let mut s = 0f32;
                for k in 0..4 {
                    s += w[k] * rows[idx[k] * rw + x * 3 + c];
                }
                *p = s.round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(x as u32, y, Rgb(px));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for t in [0.0f32, 0.25, 0.5, 0.9] {
            let w = cubic_weights(t);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        // Keys a = −0.75 at t = 0.5: (−0.09375, 0.59375, 0.59375, −0.09375).
        let w = cubic_weights(0.5);
        assert!((w[0] + 0.09375).abs() < 1e-6 && (w[1] - 0.59375).abs() < 1e-6);
    }

    #[test]
    fn fit_background_crops_top_left_and_enlarges_small_ones() {
        let bg = RgbImage::from_fn(8, 6, |x, y| Rgb([x as u8 * 10, y as u8 * 10, 7]));
        let fit = fit_background(&bg, 5, 4);
        assert_eq!(fit.dimensions(), (5, 4));
        assert_eq!(fit.get_pixel(4, 3), bg.get_pixel(4, 3));
        assert_eq!(fit.get_pixel(0, 0), bg.get_pixel(0, 0));
        // A 12×6 foreground: ratio 1.5 → 12×9, then the top-left 12×6.
        let fit = fit_background(&bg, 12, 6);
        assert_eq!(fit.dimensions(), (12, 6));
        assert!(fit.pixels().all(|p| p.0[2] == 7));
        let same = resize_bicubic(&bg, 8, 6);
        assert_eq!(same, bg);
    }
}
