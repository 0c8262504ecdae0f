//! Paper scale on a tiny Composition-1k-layout folder written here: the run reads the
//! folder (training crops, test composites with their trimaps), writes a results.json
//! with every claim; no `--data`, a missing file or a size mismatch is an error naming
//! what is wrong, before any training.

use std::path::Path;

use candor_core::report::Report;
use candor_core::{ReproduceOptions, Scale};
use candor_matting::data::comp1k::{Comp1k, Comp1kCrops, CropConfig};
use candor_matting::data::{save_gray, save_rgb, TrainSource};
use candor_matting::model::{NetConfig, RefineConfig};
use candor_matting::reproduce::{run, run_with, Setup};
use candor_matting::train::TrainConfig;
use image::{GrayImage, Luma, Rgb, RgbImage};

/// A soft disk: α = 255 inside radius r − 2, 0 outside r + 2, linear between.
fn disk_alpha(w: u32, h: u32, cx: f32, cy: f32, r: f32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        Luma([((r + 2.0 - d) / 4.0 * 255.0).clamp(0.0, 255.0).round() as u8])
    })
}

/// 128 where 0 < α < 255 or next to such a pixel, else α.
fn trimap_of(a: &GrayImage) -> GrayImage {
    let (w, h) = a.dimensions();
    GrayImage::from_fn(w, h, |x, y| {
        let mut unknown = false;
        for dy in -1i32..=1 {
            for dx in -1i32..=1 {
                let (xx, yy) = (x as i32 + dx, y as i32 + dy);
                if xx >= 0 && yy >= 0 && (xx as u32) < w && (yy as u32) < h {
                    let v = a.get_pixel(xx as u32, yy as u32).0[0];
                    unknown |= v > 0 && v < 255;
                }
            }
        }
        Luma([if unknown { 128 } else { a.get_pixel(x, y).0[0] }])
    })
}

/// One split: foregrounds of the given sizes, 2 backgrounds each, trimaps if asked.
fn write_split(root: &Path, sizes: &[(u32, u32)], trimaps: bool) {
    for d in ["fg", "alpha", "bg", "trimaps"] {
        if d != "trimaps" || trimaps {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
    }
    let (mut fgs, mut bgs) = (Vec::new(), Vec::new());
    for (k, &(w, h)) in sizes.iter().enumerate() {
        let name = format!("fg{k}.png");
        let a = disk_alpha(w, h, w as f32 / 2.0, h as f32 / 2.0, 8.0 + 2.0 * k as f32);
        let fg = RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                200 - 30 * k as u8,
                (x * 3) as u8,
                (y * 5 + 40 * k as u32) as u8,
            ])
        });
        save_rgb(&fg, root.join("fg").join(&name)).unwrap();
        save_gray(&a, root.join("alpha").join(&name)).unwrap();
        if trimaps {
            save_gray(&trimap_of(&a), root.join("trimaps").join(&name)).unwrap();
        }
        fgs.push(name);
        for j in 0..2u32 {
            let bname = format!("bg{k}_{j}.png");
            let bg = RgbImage::from_fn(w + 5, h + 3, |x, y| {
                Rgb([
                    ((x * 7 + y * j) % 97) as u8,
                    (30 + 50 * j) as u8,
                    ((y * 11) % 131) as u8,
                ])
            });
            save_rgb(&bg, root.join("bg").join(&bname)).unwrap();
            bgs.push(bname);
        }
    }
    std::fs::write(root.join("fg_names.txt"), fgs.join("\n")).unwrap();
    std::fs::write(root.join("bg_names.txt"), bgs.join("\n")).unwrap();
}

/// Train: one foreground smaller than the 32² crop (scaled up); test: sides that are
/// not multiples of the network's stride (4), evaluated padded.
fn write_comp1k(root: &Path) {
    write_split(&root.join("train"), &[(38, 34), (30, 28), (40, 40)], false);
    write_split(&root.join("test"), &[(38, 34), (41, 37), (36, 39)], true);
}

fn tiny_paper_setup() -> Setup {
    let mut s = Setup::for_scale(Scale::Paper, 0);
    s.net = NetConfig::tiny();
    s.refine = RefineConfig {
        width: 8,
        depth: 2,
        groups: 2,
    };
    s.train = TrainConfig {
        batch: 2,
        alpha_steps: 3,
        sigma_steps: 2,
        refine_steps: 2,
        checkpoint_every: 2,
        seed: 0,
        ..TrainConfig::at_size(32)
    };
    s.test_items = 6;
    s.resamples = 200;
    s
}

#[test]
fn paper_scale_reads_a_comp1k_folder() {
    let data = tempfile::tempdir().unwrap();
    write_comp1k(data.path());
    let out = tempfile::tempdir().unwrap();
    let opts = ReproduceOptions {
        data_dir: Some(data.path().to_path_buf()),
        ..ReproduceOptions::new(Scale::Paper, 0, out.path())
    };
    let r = run_with(&opts, &tiny_paper_setup()).unwrap();
    assert!(!r.proxy);
    assert!(
        r.data.contains("Composition-1k") && r.data.contains("6 of the 6 test composites"),
        "{}",
        r.data
    );
    assert_eq!(r.tables.len(), 4);
    assert_eq!(r.tables[0].rows.len(), 7);
    assert_eq!(r.tables[0].columns[4], "SAD (trimap)");
    assert!(r.tables[0]
        .note
        .contains("unknown region (value 128) of the Composition-1k test trimap"));
    for p in &r.plots {
        assert!(out.path().join(p).exists(), "{p}");
    }
    // The checkpoints go to ReproduceOptions::checkpoint_dir.
    let ckpt = opts.checkpoint_dir().unwrap();
    assert!(ckpt.join("click.stage1.ckpt").exists());
    assert!(ckpt.join("model.json").exists());
    // results.json carries every claim.
    r.write(out.path()).unwrap();
    let back = Report::read(out.path().join("results.json")).unwrap();
    let ids: Vec<&str> = back.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["mt.clicks-help", "mt.refine-helps", "mt.uncertainty-ranks"]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    candor_core::report::validate_results_json(&json).unwrap();
}

#[test]
fn training_crops_are_deterministic_and_centred_on_unknown_pixels() {
    let data = tempfile::tempdir().unwrap();
    write_comp1k(data.path());
    let set = Comp1k::open(data.path().join("train")).unwrap();
    let crops = Comp1kCrops::new(set.clone(), 32, CropConfig::default()).unwrap();
    let batch = crops.batch(7, 0, 12).unwrap();
    for (k, s) in batch.iter().enumerate() {
        assert_eq!(s.size(), (32, 32));
        assert_eq!(*s, crops.sample(7, k as u64).unwrap());
        // Every crop is centred on a transition pixel, so it holds some.
        assert!(
            s.alpha.pixels().any(|p| p.0[0] > 0 && p.0[0] < 255),
            "crop {k}"
        );
        // The composite is DIM's: where α = 255 the image is F.
        for (i, p) in s.alpha.as_raw().iter().enumerate() {
            if *p == 255 {
                let (x, y) = ((i % 32) as u32, (i / 32) as u32);
                assert_eq!(s.image.get_pixel(x, y), s.fg.get_pixel(x, y));
            }
        }
    }
    assert_ne!(batch[0], crops.sample(8, 0).unwrap());
    assert!(Comp1kCrops::new(set, 4, CropConfig::default()).is_err());
    // On a 128² image with a small disk, uniform crops often miss the edge, centred
    // ones never do.
    let big = tempfile::tempdir().unwrap();
    write_split(big.path(), &[(128, 128)], false);
    let big = Comp1k::open(big.path()).unwrap();
    let has_edge = |cfg: CropConfig| -> Vec<bool> {
        let c = Comp1kCrops::new(big.clone(), 32, cfg).unwrap();
        c.batch(3, 0, 16)
            .unwrap()
            .iter()
            .map(|s| s.alpha.pixels().any(|p| p.0[0] > 0 && p.0[0] < 255))
            .collect()
    };
    assert!(has_edge(CropConfig::default()).iter().all(|&e| e));
    let uniform = CropConfig {
        centre_on_unknown: false,
        ..Default::default()
    };
    assert!(has_edge(uniform).iter().any(|&e| !e));
}

#[test]
fn paper_scale_errors_name_what_is_missing() {
    let out = tempfile::tempdir().unwrap();
    let setup = tiny_paper_setup();
    // No --data at paper scale: the expected layout is named.
    let e = run(&ReproduceOptions::new(Scale::Paper, 0, out.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--data") && e.contains("DIR/test/trimaps"),
        "{e}"
    );
    // --data at quick scale is refused.
    let data = tempfile::tempdir().unwrap();
    write_comp1k(data.path());
    let quick = ReproduceOptions {
        data_dir: Some(data.path().to_path_buf()),
        ..ReproduceOptions::new(Scale::Quick, 0, out.path())
    };
    let e = run(&quick).unwrap_err().to_string();
    assert!(e.contains("paper"), "{e}");
    let opts = ReproduceOptions {
        data_dir: Some(data.path().to_path_buf()),
        ..ReproduceOptions::new(Scale::Paper, 0, out.path())
    };
    let root = data.path();
    // A missing background.
    let bg = root.join("train/bg/bg1_1.png");
    std::fs::rename(&bg, root.join("moved.png")).unwrap();
    let e = run_with(&opts, &setup).unwrap_err().to_string();
    assert!(e.contains("bg1_1.png") && e.contains("background"), "{e}");
    std::fs::rename(root.join("moved.png"), &bg).unwrap();
    // No test trimaps.
    std::fs::rename(root.join("test/trimaps"), root.join("t")).unwrap();
    let e = run_with(&opts, &setup).unwrap_err().to_string();
    assert!(e.contains("trimaps"), "{e}");
    std::fs::rename(root.join("t"), root.join("test/trimaps")).unwrap();
    // A test alpha of another size than its foreground.
    save_gray(&GrayImage::new(7, 5), root.join("test/alpha/fg2.png")).unwrap();
    let e = run_with(&opts, &setup).unwrap_err().to_string();
    assert!(
        e.contains("fg/fg2.png") && e.contains("alpha/fg2.png") && e.contains("7x5"),
        "{e}"
    );
    // Nothing was trained.
    assert!(!out.path().join("checkpoints").exists());
}
