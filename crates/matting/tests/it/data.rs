//! Compositing against hand and numpy computations, the generator's determinism, the
//! frozen test set, the Composition-1k loader on a tiny folder, and bad input.

use std::path::Path;

use candor_matting::data::comp1k::Comp1k;
use candor_matting::data::composite::{composite, fit_background};
use candor_matting::data::synth::{SynthClickMatte, SynthConfig};
use candor_matting::data::testset::{FrozenTestSet, Protocol, TEST_BACKGROUNDS, TEST_FOREGROUNDS};
use candor_matting::data::{load_alpha, save_gray, save_rgb};
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};

/// DIM's composite of single pixels: `(α, F, B) → I`.
fn composite_px(a: u8, f: u8, b: u8) -> u8 {
    let fg = RgbImage::from_pixel(1, 1, Rgb([f; 3]));
    let bg = RgbImage::from_pixel(1, 1, Rgb([b; 3]));
    let al = GrayImage::from_pixel(1, 1, Luma([a]));
    composite(&fg, &bg, &al).unwrap().get_pixel(0, 0).0[0]
}

#[test]
fn composite_matches_hand_computation() {
    // I = (α·F + (255 − α)·B) / 255, truncated:
    // (128·200 + 127·50) / 255 = 31950 / 255 = 125.29 → 125;
    // (100·10 + 155·250) / 255 = 39750 / 255 = 155.88 → 155 (truncated, not rounded).
    assert_eq!(composite_px(128, 200, 50), 125);
    assert_eq!(composite_px(100, 10, 250), 155);
    assert_eq!(composite_px(255, 17, 200), 17);
    assert_eq!(composite_px(0, 17, 200), 200);
    // Where the exact value is an integer, float32 rounding decides, as in DIM's numpy
    // code; these are numpy's results for `(a/255.)·F + (1 − a/255.)·B` in float32
    // followed by `astype(uint8)` (178 exactly in rationals, but 177.99998 in float32).
    for (a, f, b, want) in [
        (77, 0, 255, 177),
        (51, 255, 0, 51),
        (153, 0, 255, 101),
        (204, 255, 0, 204),
        (1, 255, 0, 1),
        (254, 0, 255, 0),
    ] {
        assert_eq!(composite_px(a, f, b), want, "α {a}, F {f}, B {b}");
    }
    // Channels are independent: G = (128·10 + 127·250)/255 = 33030/255 = 129.5 → 129.
    let fg = RgbImage::from_pixel(1, 1, Rgb([200, 10, 0]));
    let bg = RgbImage::from_pixel(1, 1, Rgb([50, 250, 255]));
    let out = composite(&fg, &bg, &GrayImage::from_pixel(1, 1, Luma([128]))).unwrap();
    assert_eq!(out.get_pixel(0, 0).0[..2], [125, 129]);
}

#[test]
fn composite_rejects_mismatched_sizes() {
    let fg = RgbImage::new(4, 3);
    let e = composite(&fg, &RgbImage::new(4, 3), &GrayImage::new(3, 4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("4x3") && e.contains("3x4"), "{e}");
    assert!(composite(&fg, &RgbImage::new(5, 3), &GrayImage::new(4, 3)).is_err());
}

#[test]
fn generator_is_byte_identical_per_seed() {
    let cfg = SynthConfig::with_size(64);
    let a = SynthClickMatte::new(cfg.clone()).unwrap();
    let b = SynthClickMatte::new(cfg).unwrap();
    for i in 0..12 {
        let x = a.sample(42, i).unwrap();
        let y = b.sample(42, i).unwrap();
        assert_eq!(x, y, "index {i}");
        assert_eq!(x.image.as_raw(), y.image.as_raw());
        assert_eq!(x.alpha.as_raw(), y.alpha.as_raw());
    }
    assert_ne!(a.sample(42, 0).unwrap(), a.sample(43, 0).unwrap());
    assert_ne!(a.sample(42, 0).unwrap(), a.sample(42, 1).unwrap());
    // The parallel batch is the same stream.
    let batch = a.batch(42, 5, 4).unwrap();
    for (k, s) in batch.iter().enumerate() {
        assert_eq!(*s, a.sample(42, 5 + k as u64).unwrap());
    }
}

#[test]
fn samples_are_consistent() {
    let gen = SynthClickMatte::new(SynthConfig::with_size(80)).unwrap();
    let mut fractional = 0;
    for i in 0..40 {
        let s = gen.sample(0, i).unwrap();
        assert_eq!(s.size(), (80, 80));
        // The composite is DIM's composite of the stored F, B and α.
        assert_eq!(
            s.image,
            composite(&s.fg, &s.bg, &s.alpha).unwrap(),
            "sample {i}"
        );
        let a = s.alpha.as_raw();
        assert!(a.iter().any(|&v| v > 0), "sample {i}: empty target");
        fractional += usize::from(a.iter().filter(|&&v| v > 0 && v < 255).count() > 40);
        let d = s.distractors.as_ref().unwrap();
        let n = d.as_raw().iter().copied().max().unwrap();
        assert!(n <= 3);
    }
    assert!(
        fractional >= 35,
        "{fractional}/40 samples have fractional alpha"
    );
    let bad = SynthConfig {
        distractors: [3, 1],
        ..SynthConfig::with_size(64)
    };
    assert!(SynthClickMatte::new(bad).is_err());
    assert!(SynthClickMatte::new(SynthConfig::with_size(4)).is_err());
}

#[test]
fn frozen_test_set_is_fixed_and_balanced() {
    let t = FrozenTestSet::new(64).unwrap();
    assert_eq!(t.len(), TEST_FOREGROUNDS * TEST_BACKGROUNDS);
    let idx = t.balanced_indices(300);
    assert_eq!(idx.len(), 300);
    let mut per_fg = [0; TEST_FOREGROUNDS];
    for &i in &idx {
        per_fg[i / TEST_BACKGROUNDS] += 1;
    }
    assert!(per_fg.iter().all(|&c| c == 6));
    let a = t.item(21).unwrap();
    assert_eq!((a.foreground, a.background), (1, 1));
    let again = FrozenTestSet::new(64).unwrap().item(21).unwrap();
    assert_eq!(a.sample, again.sample);
    assert_eq!(a.clicks, again.clicks);
    // The same foreground over another background has the same alpha.
    let b = t.item(22).unwrap();
    assert_eq!(a.sample.alpha, b.sample.alpha);
    assert_ne!(a.sample.image, b.sample.image);
    assert!(a.clicks_for(Protocol::NoClick).is_empty());
    assert_eq!(
        a.clicks_for(Protocol::OneClick),
        &a.clicks[..a.clicks.len().min(1)]
    );
    assert_eq!(a.clicks_for(Protocol::AllClicks), &a.clicks[..]);
    assert!(t.item(1000).is_err());
}

/// A tiny Composition-1k folder: 2 foregrounds × 2 backgrounds, one background
/// smaller than the foregrounds, trimaps named as DIM's composites.
fn write_tiny_comp1k(root: &Path) {
    let fg = RgbImage::from_fn(6, 5, |x, y| Rgb([200, (x * 40) as u8, (y * 50) as u8]));
    let alpha = GrayImage::from_fn(6, 5, |x, _| Luma([(x * 51) as u8]));
    for name in ["a.png", "b.png"] {
        save_rgb(&fg, root.join("fg").join(name)).unwrap();
        save_gray(&alpha, root.join("alpha").join(name)).unwrap();
    }
    let big = RgbImage::from_fn(9, 7, |x, y| Rgb([(x * 20) as u8, (y * 30) as u8, 50]));
    let small = RgbImage::from_pixel(3, 5, Rgb([10, 20, 30]));
    save_rgb(&big, root.join("bg").join("big.png")).unwrap();
    save_rgb(&small, root.join("bg").join("small.png")).unwrap();
    for j in 0..2 {
        for s in ["a", "b"] {
            let t = GrayImage::from_pixel(6, 5, Luma([128]));
            save_gray(&t, root.join("trimaps").join(format!("{s}_{j}.png"))).unwrap();
        }
    }
    std::fs::write(root.join("fg_names.txt"), "a.png\nb.png\n").unwrap();
    let bgs = "big.png\nsmall.png\nsmall.png\nbig.png\n";
    std::fs::write(root.join("bg_names.txt"), bgs).unwrap();
}

#[test]
fn comp1k_composites_like_dim() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_comp1k(dir.path());
    let c = Comp1k::open(dir.path()).unwrap();
    let shape = (c.len(), c.num_foregrounds(), c.backgrounds_per_foreground());
    assert_eq!(shape, (4, 2, 2));
    assert_eq!(c.pair(3), (1, 1));
    assert_eq!(c.name(3), "b_1.png");
    let s = c.load(0).unwrap();
    // Background "big" (9×7) is cropped at the top-left corner.
    assert_eq!(s.bg.get_pixel(5, 4).0, [100, 120, 50]);
    // Pixel (x 5, y 4): α = 255 → I = F.
    assert_eq!(s.image.get_pixel(5, 4), s.fg.get_pixel(5, 4));
    // Pixel (x 1, y 0): α = 51, F = (200, 40, 0), B = (20, 0, 50):
    // R = (51·200 + 204·20)/255 = 56, G = 51·40/255 = 8, B = 204·50/255 = 40, exact in
    // rationals; numpy's float32 gives 56.0, 8.0, 40.0 → (56, 8, 40).
    assert_eq!(s.image.get_pixel(1, 0).0, [56, 8, 40]);
    assert_eq!(s.trimap.as_ref().unwrap().dimensions(), (6, 5));
    assert!(s.distractors.is_none());
    // Background "small" (3×5) is enlarged ×2 (ratio max(6/3, 5/5)) to 6×10, then
    // cropped: a constant background stays constant.
    let s = c.load(1).unwrap();
    assert_eq!(s.bg.dimensions(), (6, 5));
    assert!(s.bg.pixels().all(|p| p.0 == [10, 20, 30]));
    assert_eq!(s.image.get_pixel(0, 0).0, [10, 20, 30]); // α = 0
    assert!(c.load(4).is_err());
    let enlarged = fit_background(&RgbImage::new(3, 5), 6, 5);
    assert_eq!(enlarged.dimensions(), (6, 5));
}

#[test]
fn comp1k_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_tiny_comp1k(root);

    // A missing background.
    std::fs::remove_file(root.join("bg").join("small.png")).unwrap();
    let e = Comp1k::open(root).unwrap_err().to_string();
    assert!(e.contains("small.png") && e.contains("background"), "{e}");
    save_rgb(&RgbImage::new(3, 5), root.join("bg").join("small.png")).unwrap();

    // A missing alpha.
    std::fs::rename(root.join("alpha").join("b.png"), root.join("b.png")).unwrap();
    let e = Comp1k::open(root).unwrap_err().to_string();
    assert!(e.contains("b.png") && e.contains("alpha"), "{e}");
    std::fs::rename(root.join("b.png"), root.join("alpha").join("b.png")).unwrap();

    // Foreground and alpha of different sizes.
    save_gray(&GrayImage::new(7, 5), root.join("alpha").join("b.png")).unwrap();
    let c = Comp1k::open(root).unwrap();
    let e = c.load(2).unwrap_err().to_string();
    assert!(
        e.contains("fg/b.png") && e.contains("alpha/b.png") && e.contains("7x5"),
        "{e}"
    );

    // A colour alpha.
    let colour = RgbImage::from_fn(6, 5, |x, _| Rgb([x as u8, 0, 0]));
    save_rgb(&colour, root.join("alpha").join("b.png")).unwrap();
    let e = c.load(3).unwrap_err().to_string();
    assert!(
        e.contains("alpha/b.png") && e.contains("not a grey alpha"),
        "{e}"
    );

    // A missing trimap.
    std::fs::remove_file(root.join("trimaps").join("a_1.png")).unwrap();
    let e = c.load(1).unwrap_err().to_string();
    assert!(e.contains("a_1.png"), "{e}");

    // Lists that do not divide.
    std::fs::write(root.join("bg_names.txt"), "big.png\nsmall.png\nbig.png\n").unwrap();
    assert!(Comp1k::open(root).is_err());
    assert!(Comp1k::open(root.join("nowhere")).is_err());
}

#[test]
fn load_alpha_accepts_grey_and_rejects_colour() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grey_rgb.png");
    // An RGB file whose channels are equal is a grey matte.
    let grey_rgb = RgbImage::from_fn(4, 2, |x, _| Rgb([x as u8 * 60; 3]));
    save_rgb(&grey_rgb, &p).unwrap();
    let want: Vec<u8> = vec![0, 60, 120, 180, 0, 60, 120, 180];
    assert_eq!(load_alpha(&p).unwrap().as_raw(), &want);
    // Transparent RGBA is not.
    let p = dir.path().join("rgba.png");
    RgbaImage::from_pixel(2, 2, Rgba([9, 9, 9, 100]))
        .save(&p)
        .unwrap();
    let e = load_alpha(&p).unwrap_err().to_string();
    assert!(e.contains("rgba.png") && e.contains("transparent"), "{e}");
    // 16-bit grey is rounded to 8 bits.
    let p = dir.path().join("g16.png");
    image::ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(2, 1, vec![65535, 257 * 100])
        .unwrap()
        .save(&p)
        .unwrap();
    assert_eq!(load_alpha(&p).unwrap().as_raw(), &vec![255u8, 100]);
    let e = load_alpha(dir.path().join("missing.png"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.png"), "{e}");
}
