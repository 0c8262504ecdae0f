//! Task data: synthetic generators, watermarks, the folder loaders, splits, config.

use std::path::Path;

use candor_watermark::config::{
    BlankKind, Config, LogoKind, Polarity, SplitConfig, TaskConfig, TaskKind, WatermarkConfig,
};
use candor_watermark::data::folder::{
    load_aligned_folder, load_image_file, load_pair_folders, FolderOptions,
};
use candor_watermark::data::{logo, split_by_source, synthetic, Pair};
use candor_watermark::eval::{pearson_nc, uncentred_nc};
use candor_watermark::Image;

fn task(kind: TaskKind, channels: usize, side: usize, images: usize, seed: u64) -> TaskConfig {
    TaskConfig {
        kind,
        height: side,
        width: side,
        channels,
        images,
        seed,
    }
}

fn bits(p: &Pair) -> Vec<u32> {
    p.a.data()
        .iter()
        .chain(p.b.data())
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn generators_are_byte_identical_per_seed_and_order_free() {
    for kind in TaskKind::ALL {
        for channels in [1, 3] {
            let cfg = task(kind, channels, 48, 6, 42);
            let x = synthetic::generate(&cfg).unwrap();
            let y = synthetic::generate(&cfg).unwrap();
            assert_eq!(x.len(), 6);
            for (p, q) in x.iter().zip(&y) {
                assert_eq!(bits(p), bits(q), "{kind:?} {channels}ch");
                assert_eq!(p.source, q.source);
            }
            // Any subset, in any order, gives the same images.
            let sub = synthetic::generate_range(&cfg, 3..5).unwrap();
            assert_eq!(bits(&sub[0]), bits(&x[3]));
            assert_eq!(bits(&synthetic::pair(&cfg, 4).unwrap()), bits(&x[4]));
            // Another seed gives other images; distinct sources give distinct images.
            let z = synthetic::generate(&TaskConfig {
                seed: 43,
                ..cfg.clone()
            })
            .unwrap();
            assert_ne!(bits(&x[0]), bits(&z[0]));
            assert_ne!(bits(&x[0]), bits(&x[1]));
        }
    }
}

fn residual(p: &Pair) -> Vec<f64> {
    p.a.data()
        .iter()
        .zip(p.b.data())
        .map(|(&a, &b)| a as f64 - b as f64)
        .collect()
}

#[test]
fn tasks_degrade_the_clean_image_as_described() {
    for kind in TaskKind::ALL {
        for p in synthetic::generate(&task(kind, 1, 64, 4, 1)).unwrap() {
            assert_eq!(p.a.shape(), (1, 64, 64));
            for v in p.a.data().iter().chain(p.b.data()) {
                assert!((0.0..=1.0).contains(v));
            }
            let r = residual(&p);
            let n = r.len() as f64;
            let mean = r.iter().sum::<f64>() / n;
            let sd = (r.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
            let changed = r.iter().filter(|d| d.abs() > 1e-6).count() as f64 / n;
            match kind {
                // Ribs, clavicles and rain only brighten.
                TaskKind::Debone | TaskKind::Derain => {
                    assert!(r.iter().all(|&d| d >= 0.0), "{kind:?} darkened a pixel");
                    assert!(mean > 0.005, "{kind:?}: mean change {mean}");
                    assert!(
                        changed > 0.05 && changed < 0.95,
                        "{kind:?}: {changed} changed"
                    );
                }
                // σ ∈ [15, 50]/255 ≈ [0.059, 0.196]; clipping only shrinks it.
                TaskKind::Denoise => {
                    assert!(mean.abs() < 0.02, "noise mean {mean}");
                    assert!((0.04..0.2).contains(&sd), "noise sd {sd}");
                    assert!(changed > 0.9);
                }
            }
        }
    }
}

#[test]
fn rgb_variants() {
    // Derain/denoise scenes are in colour; their grey variant is the luma.
    let rgb = synthetic::clean_image(&task(TaskKind::Derain, 3, 32, 1, 5), 0);
    let grey = synthetic::clean_image(&task(TaskKind::Derain, 1, 32, 1, 5), 0);
    assert_eq!(rgb.channels(), 3);
    assert_ne!(rgb.plane(0), rgb.plane(1));
    let luma = rgb.with_channels(1).unwrap();
    assert_eq!(luma.data(), grey.data());
    // The debone X-ray is grey in every variant.
    let xray = synthetic::clean_image(&task(TaskKind::Debone, 3, 32, 1, 5), 0);
    assert_eq!(xray.plane(0), xray.plane(2));
    assert!(synthetic::generate(&task(TaskKind::Derain, 2, 32, 1, 5)).is_err());
    assert!(synthetic::generate(&task(TaskKind::Derain, 1, 4, 1, 5)).is_err());
}

#[test]
fn watermarks_and_blank() {
    let cfg = WatermarkConfig::default();
    let d = logo::watermark(&cfg, 1, 64, 64).unwrap();
    assert_eq!(d.shape(), (1, 64, 64));
    assert!(d.data().iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(d, logo::watermark(&cfg, 1, 64, 64).unwrap());
    // Any size, and RGB repeats the plane.
    let big = logo::watermark(&cfg, 3, 256, 192).unwrap();
    assert_eq!(big.shape(), (3, 256, 192));
    assert_eq!(big.plane(0), big.plane(2));
    // Light-on-dark is the negative.
    let inv = logo::watermark(
        &WatermarkConfig {
            polarity: Polarity::LightOnDark,
            ..cfg.clone()
        },
        1,
        64,
        64,
    )
    .unwrap();
    for (a, b) in d.data().iter().zip(inv.data()) {
        assert!((a + b - 1.0).abs() < 1e-6);
    }
    // The grid: about half ink, keyed.
    let grid_cfg = WatermarkConfig {
        kind: LogoKind::Grid,
        ..cfg.clone()
    };
    let g = logo::watermark(&grid_cfg, 1, 84, 84).unwrap();
    assert!((0.35..0.75).contains(&g.mean()), "grid mean {}", g.mean());
    let g2 = logo::watermark(&WatermarkConfig { key: 7, ..grid_cfg }, 1, 84, 84).unwrap();
    assert_ne!(g, g2);
    let nc = pearson_nc(&g, &g2).unwrap();
    assert!(nc < 0.9, "two grid keys correlate at {nc}");
    // Blank: white by default, black on request.
    let blank = logo::blank(&cfg, 1, 8, 8).unwrap();
    assert!(blank.data().iter().all(|&v| v == 1.0));
    let black = logo::blank(
        &WatermarkConfig {
            blank: BlankKind::Black,
            ..cfg.clone()
        },
        1,
        8,
        8,
    )
    .unwrap();
    assert!(black.data().iter().all(|&v| v == 0.0));
    // The pitfall holds for the light logo, not its negative against a white blank.
    assert!(uncentred_nc(&blank_like(&d), &d).unwrap() > 0.9);
    assert!(uncentred_nc(&blank_like(&inv), &inv).unwrap() < 0.7);
    // Text outside the font, wrong channels.
    let bad = WatermarkConfig {
        text: "CANDOR©".into(),
        ..cfg.clone()
    };
    let e = logo::watermark(&bad, 1, 32, 32).unwrap_err().to_string();
    assert!(e.contains('©'), "{e}");
    assert!(logo::watermark(&cfg, 2, 32, 32).is_err());
    // The bit message is seeded and balanced-ish.
    let m = logo::random_bits(1000, 3);
    assert_eq!(m, logo::random_bits(1000, 3));
    let ones = m.iter().filter(|&&b| b).count();
    assert!((430..570).contains(&ones), "{ones} ones of 1000"); // 4.4σ
}

fn blank_like(img: &Image) -> Image {
    let (c, h, w) = img.shape();
    Image::filled(c, h, w, 1.0).unwrap()
}

#[test]
fn splits_are_by_source() {
    let mut pairs = synthetic::generate(&task(TaskKind::Denoise, 1, 16, 40, 0)).unwrap();
    // A second input for some sources (several rainy A per clean B, say).
    let extra: Vec<Pair> = pairs[..10].to_vec();
    pairs.extend(extra);
    let cfg = SplitConfig::default();
    let s = split_by_source(pairs.clone(), &cfg).unwrap();
    assert_eq!(s.train.len() + s.calibration.len() + s.test.len(), 50);
    let sources = |v: &[Pair]| v.iter().map(|p| p.source.clone()).collect::<Vec<_>>();
    let (tr, ca, te) = (sources(&s.train), sources(&s.calibration), sources(&s.test));
    for x in &tr {
        assert!(!ca.contains(x) && !te.contains(x));
    }
    for x in &ca {
        assert!(!te.contains(x));
    }
    let distinct = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v.len()
    };
    assert_eq!((distinct(&tr), distinct(&ca), distinct(&te)), (20, 10, 10));
    assert_eq!(s, split_by_source(pairs.clone(), &cfg).unwrap());
    let bad = SplitConfig { train: 0.9, ..cfg };
    assert!(split_by_source(pairs, &bad).is_err());
    assert!(split_by_source(Vec::new(), &SplitConfig::default()).is_err());
}

fn write_grey_l8(path: &Path, h: u32, w: u32) {
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
    img.save(path).unwrap();
}

fn write_colour(path: &Path, h: u32, w: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 200]));
    img.save(path).unwrap();
}

fn err_of<T: std::fmt::Debug>(r: candor_watermark::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn pair_folders_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("A")).unwrap();
    std::fs::create_dir_all(root.join("B")).unwrap();
    let pairs = synthetic::generate(&task(TaskKind::Debone, 1, 32, 3, 9)).unwrap();
    for (i, p) in pairs.iter().enumerate() {
        p.a.save(root.join(format!("A/img{i}.png"))).unwrap();
        p.b.save(root.join(format!("B/img{i}.png"))).unwrap();
    }
    let loaded = load_pair_folders(root, &FolderOptions::grey()).unwrap();
    assert_eq!(loaded.len(), 3);
    for (i, (l, p)) in loaded.iter().zip(&pairs).enumerate() {
        assert_eq!(l.source, format!("img{i}"));
        assert_eq!(l.a.shape(), (1, 32, 32));
        // 8-bit PNG: within half a grey level.
        for (x, y) in l.a.data().iter().zip(p.a.data()) {
            assert!((x - y).abs() <= 0.5 / 255.0 + 1e-6);
        }
    }
    // `Image::save` writes grey as R = G = B, which an RGB task reads as colour.
    let rgb = load_pair_folders(root, &FolderOptions::rgb()).unwrap();
    assert_eq!(rgb[1].b.channels(), 3);
    // Partners are matched by stem, so their formats may differ (here an 8-bit grey JPEG).
    std::fs::remove_file(root.join("B/img0.png")).unwrap();
    write_grey_l8(&root.join("B/img0.jpg"), 32, 32);
    let mixed = load_pair_folders(root, &FolderOptions::grey()).unwrap();
    assert_eq!((mixed.len(), mixed[0].source.as_str()), (3, "img0"));
    // A required size that differs is an error naming the file.
    let e = err_of(load_pair_folders(
        root,
        &FolderOptions {
            size: Some((64, 64)),
            ..FolderOptions::grey()
        },
    ));
    assert!(e.contains("img0.png") && e.contains("64x64"), "{e}");
}

#[test]
fn pair_folder_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Missing folders.
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(e.contains("folder not found") && e.contains('A'), "{e}");
    std::fs::create_dir_all(root.join("A")).unwrap();
    std::fs::create_dir_all(root.join("B")).unwrap();
    // Missing partner.
    write_grey_l8(&root.join("A/x.png"), 16, 16);
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(e.contains("A/x.png") && e.contains("no partner"), "{e}");
    write_grey_l8(&root.join("B/y.png"), 16, 16);
    write_grey_l8(&root.join("A/y.png"), 16, 16);
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(e.contains("A/x.png"), "{e}");
    // Size mismatch between partners.
    write_grey_l8(&root.join("B/x.png"), 16, 24);
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(
        e.contains("B/x.png") && e.contains("16x24") && e.contains("16x16"),
        "{e}"
    );
    // Size mismatch between pairs.
    write_grey_l8(&root.join("B/x.png"), 20, 20);
    write_grey_l8(&root.join("A/x.png"), 20, 20);
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(e.contains("y.png") && e.contains("first pair"), "{e}");
    // Wrong channel count, both ways.
    write_grey_l8(&root.join("A/x.png"), 16, 16);
    write_grey_l8(&root.join("B/x.png"), 16, 16);
    assert_eq!(
        load_pair_folders(root, &FolderOptions::grey())
            .unwrap()
            .len(),
        2
    );
    let e = err_of(load_pair_folders(root, &FolderOptions::rgb()));
    assert!(
        e.contains("A/x.png") && e.contains("greyscale image (1 channel)"),
        "{e}"
    );
    write_colour(&root.join("B/y.png"), 16, 16);
    let e = err_of(load_pair_folders(root, &FolderOptions::grey()));
    assert!(
        e.contains("B/y.png") && e.contains("colour image (3 channels)"),
        "{e}"
    );
    // ... unless converted by luma, as the official code.
    let opts = FolderOptions {
        to_grey: true,
        ..FolderOptions::grey()
    };
    let pairs = load_pair_folders(root, &opts).unwrap();
    let px = pairs[1].b.data()[16 + 1]; // x = 1, y = 1: (1, 1, 200)/255
    let want = (0.299 + 0.587) / 255.0 + 0.114 * 200.0 / 255.0;
    assert!((px - want as f32).abs() < 1e-6, "{px} vs {want}");
    // Two files with one stem.
    write_grey_l8(&root.join("A/x.jpg"), 16, 16);
    let e = err_of(load_pair_folders(root, &opts));
    assert!(e.contains("share the name 'x'"), "{e}");
    std::fs::remove_file(root.join("A/x.jpg")).unwrap();
    // Transparent pixels and undecodable files.
    let mut rgba = image::RgbaImage::from_pixel(16, 16, image::Rgba([9, 9, 9, 255]));
    rgba.put_pixel(3, 3, image::Rgba([9, 9, 9, 0]));
    rgba.save(root.join("B/x.png")).unwrap();
    let e = err_of(load_pair_folders(root, &opts));
    assert!(e.contains("B/x.png") && e.contains("transparent"), "{e}");
    std::fs::write(root.join("B/x.png"), b"not a png").unwrap();
    let e = err_of(load_pair_folders(root, &opts));
    assert!(e.contains("B/x.png") && e.contains("cannot decode"), "{e}");
    // A missing file.
    let e = err_of(load_image_file(root.join("A/none.png"), 1, false));
    assert!(e.contains("none.png"), "{e}");
}

#[test]
fn aligned_pairs_split_into_halves() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // An aligned [A | B] image: left half dark, right half light.
    let ab = image::GrayImage::from_fn(32, 16, |x, _| image::Luma([if x < 16 { 10 } else { 250 }]));
    ab.save(root.join("p0.png")).unwrap();
    ab.save(root.join("p1.png")).unwrap();
    let pairs = load_aligned_folder(root, &FolderOptions::grey()).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].source, "p0");
    assert_eq!(pairs[0].a.shape(), (1, 16, 16));
    assert!(pairs[0].a.data().iter().all(|&v| v == 10.0 / 255.0));
    assert!(pairs[0].b.data().iter().all(|&v| v == 250.0 / 255.0));
    // The paper-scale size check is on one half.
    let opts = FolderOptions {
        size: Some((256, 256)),
        ..FolderOptions::grey()
    };
    let e = err_of(load_aligned_folder(root, &opts));
    assert!(e.contains("p0.png") && e.contains("256x256"), "{e}");
    // An odd width cannot be split.
    write_grey_l8(&root.join("p2.png"), 16, 33);
    let e = err_of(load_aligned_folder(root, &FolderOptions::grey()));
    assert!(e.contains("p2.png") && e.contains("even width"), "{e}");
    let e = err_of(load_aligned_folder(
        root.join("nope"),
        &FolderOptions::grey(),
    ));
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn watermark_files_must_match_the_image_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logo.png");
    let cfg = WatermarkConfig::default();
    logo::watermark(&cfg, 1, 32, 32)
        .unwrap()
        .save(&path)
        .unwrap();
    let w = logo::load_watermark(&path, 1, 32, 32, false).unwrap();
    assert_eq!(w.shape(), (1, 32, 32));
    let e = err_of(logo::load_watermark(&path, 1, 64, 64, false));
    assert!(
        e.contains("logo.png") && e.contains("32x32") && e.contains("64x64"),
        "{e}"
    );
    write_grey_l8(&path, 32, 32);
    let e = err_of(logo::load_watermark(&path, 3, 32, 32, false));
    assert!(e.contains("logo.png") && e.contains("RGB"), "{e}");
    let e = err_of(logo::load_watermark(
        dir.path().join("missing.png"),
        1,
        32,
        32,
        false,
    ));
    assert!(e.contains("missing.png"), "{e}");
}

#[test]
fn config_defaults_are_the_official_code_and_unknown_keys_are_rejected() {
    let c = Config::default();
    assert_eq!(
        (c.task.height, c.task.width, c.task.channels),
        (256, 256, 1)
    );
    assert_eq!(c.task.kind, TaskKind::Debone);
    assert_eq!((c.embedder.ngf, c.embedder.num_downs), (64, 7));
    assert_eq!(c.extractor.dilations, vec![2, 2, 2, 2, 4, 4, 4, 4, 1]);
    assert_eq!(c.loss.mse_scale, 1e4);
    assert_eq!(
        (c.loss.adv_weight, c.loss.vgg_weight, c.loss.l1_weight),
        (0.01, 0.0, 0.0)
    );
    assert_eq!(
        (c.train.lr, c.train.beta1, c.train.batch_size),
        (2e-4, 0.5, 16)
    );
    assert_eq!((c.train.patience_hd, c.train.patience_r), (5, 8));
    assert_eq!(c.surrogate.content_weight, 100.0);
    assert_eq!(c.watermark.blank, BlankKind::White);
    assert_eq!(c.decision.target_fpr, 1e-3);
    c.validate().unwrap();
    Config::tiny().validate().unwrap();

    let json = Config::tiny().to_json().unwrap();
    assert_eq!(Config::from_json(&json).unwrap(), Config::tiny());
    let partial = Config::from_json(r#"{"task": {"kind": "derain", "channels": 3}}"#).unwrap();
    assert_eq!(partial.task.kind, TaskKind::Derain);
    assert_eq!(partial.task.height, 256);
    let e = err_of(Config::from_json(r#"{"task": {"chanels": 3}}"#));
    assert!(e.contains("chanels"), "{e}");
    let e = err_of(Config::from_json(r#"{"tasks": {}}"#));
    assert!(e.contains("tasks"), "{e}");
    let e = err_of(Config::from_toml("[surrogate]\ngan = \"vanilla\"\n"));
    assert!(e.contains("gan"), "{e}");
    let t = Config::from_toml("[surrogate]\ngan_type = \"wgan-gp\"\n").unwrap();
    assert_eq!(
        t.surrogate.gan_type,
        candor_watermark::config::GanType::WganGp
    );
    // Invalid values name the key.
    let e = err_of(Config::from_json(r#"{"task": {"channels": 2}}"#));
    assert!(e.contains("task.channels"), "{e}");
    let e = err_of(Config::from_json(r#"{"task": {"height": 200}}"#));
    assert!(e.contains("num_downs"), "{e}");
    let e = err_of(Config::from_json(r#"{"train": {"batch_size": 5}}"#));
    assert!(e.contains("batch_size"), "{e}");
    let e = err_of(Config::from_json(r#"{"watermark": {"text": "a@b"}}"#));
    assert!(e.contains('@'), "{e}");
}
