//! File and folder evaluation with the DIM errors, and its errors.

use candor_core::metrics::matting::{self, Region};
use candor_matting::data::{save_gray, save_rgb};
use candor_matting::eval::{evaluate_files, evaluate_folders, evaluate_images};
use image::{GrayImage, Luma, Rgb, RgbImage};

fn ramp(w: u32, h: u32, k: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([((x * k + y * 7) % 256) as u8]))
}

#[test]
fn file_evaluation_matches_the_core_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pred, gt) = (ramp(20, 14, 13), ramp(20, 14, 11));
    let tri = GrayImage::from_fn(20, 14, |x, _| Luma([if x < 10 { 128 } else { 255 }]));
    save_gray(&pred, d.join("p.png")).unwrap();
    save_gray(&gt, d.join("g.png")).unwrap();
    save_gray(&tri, d.join("t.png")).unwrap();
    let whole = evaluate_files(&d.join("p.png"), &d.join("g.png"), None).unwrap();
    let want = matting::errors(pred.as_raw(), gt.as_raw(), 14, 20, Region::Whole).unwrap();
    assert_eq!(whole, want);
    let band = evaluate_files(&d.join("p.png"), &d.join("g.png"), Some(&d.join("t.png"))).unwrap();
    let want = matting::errors(
        pred.as_raw(),
        gt.as_raw(),
        14,
        20,
        Region::Trimap(tri.as_raw()),
    )
    .unwrap();
    assert_eq!(band, want);
    assert!(band.sad < whole.sad);
}

#[test]
fn folder_evaluation_means_and_composite_names() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = (dir.path().join("pred"), dir.path().join("gt"));
    // Two predictions of one Composition-1k foreground (`x_0`, `x_1` → `x.png`) and one
    // with an exact match.
    save_gray(&ramp(16, 9, 3), p.join("x_0.png")).unwrap();
    save_gray(&ramp(16, 9, 5), p.join("x_1.png")).unwrap();
    save_gray(&ramp(16, 9, 9), p.join("y.png")).unwrap();
    save_gray(&ramp(16, 9, 4), g.join("x.png")).unwrap();
    save_gray(&ramp(16, 9, 9), g.join("y.png")).unwrap();
    std::fs::write(p.join("notes.txt"), "ignored").unwrap();
    let r = evaluate_folders(&p, &g, None).unwrap();
    assert_eq!(r.n, 3);
    let names: Vec<&str> = r.images.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x_0.png", "x_1.png", "y.png"]);
    assert_eq!(r.images[2].1.sad, 0.0);
    let e0 = evaluate_images(&ramp(16, 9, 3), &ramp(16, 9, 4), None).unwrap();
    assert_eq!(r.images[0].1, e0);
    let mean_sad = r.images.iter().map(|(_, e)| e.sad).sum::<f64>() / 3.0;
    assert!((r.sad - mean_sad).abs() < 1e-15);

    // A prediction without ground truth names what was looked for.
    save_gray(&ramp(16, 9, 3), p.join("z_2.png")).unwrap();
    let e = evaluate_folders(&p, &g, None).unwrap_err().to_string();
    assert!(e.contains("z_2.png") && e.contains("z.png"), "{e}");
    std::fs::remove_file(p.join("z_2.png")).unwrap();

    // A size mismatch names both files.
    save_gray(&ramp(15, 9, 3), p.join("y.png")).unwrap();
    let e = evaluate_folders(&p, &g, None).unwrap_err().to_string();
    assert!(
        e.contains("pred/y.png") && e.contains("gt/y.png") && e.contains("15x9"),
        "{e}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save_gray(&ramp(8, 8, 3), d.join("a.png")).unwrap();
    // A colour prediction.
    save_rgb(&RgbImage::from_pixel(8, 8, Rgb([1, 2, 3])), d.join("c.png")).unwrap();
    let e = evaluate_files(&d.join("c.png"), &d.join("a.png"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.png") && e.contains("not a grey"), "{e}");
    // A missing file.
    let e = evaluate_files(&d.join("a.png"), &d.join("none.png"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.png"), "{e}");
    // A trimap without unknown pixels.
    save_gray(&GrayImage::new(8, 8), d.join("t.png")).unwrap();
    let e = evaluate_files(&d.join("a.png"), &d.join("a.png"), Some(&d.join("t.png")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("128"), "{e}");
    // A trimap of another size.
    let tri = GrayImage::new(8, 7);
    assert!(evaluate_images(&ramp(8, 8, 1), &ramp(8, 8, 2), Some(&tri)).is_err());
    // Folders that are not folders.
    assert!(evaluate_folders(&d.join("a.png"), d, None).is_err());
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(evaluate_folders(&empty, d, None).is_err());
}
