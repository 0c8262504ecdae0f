//! Click simulation statistics, GT consistency of every simulated and deterministic
//! click, and bad click input.

use candor_core::SeededRng;
use candor_matting::clicks::{
    click_radius, encode_clicks, next_click, place_clicks, sample_click_count, simulate_clicks,
    test_clicks, Click, ClickRegions, ClickSimConfig, NextClickConfig, SOLID_ALPHA,
};
use candor_matting::data::synth::{SynthClickMatte, SynthConfig};
use image::{GrayImage, Luma};

#[test]
fn click_count_is_geometric_with_mean_six() {
    // m ~ Geometric(1/6) on {1, 2, …}: mean 6, variance (1 − p)/p² = 30, sd 5.48.
    // With n = 20,000 draws the standard error of the mean is 5.48/√n = 0.039; the
    // tolerance 0.16 is four standard errors (a false failure has probability ~6e-5).
    let n = 20_000;
    let mut rng = SeededRng::new(11);
    let counts: Vec<usize> = (0..n)
        .map(|_| sample_click_count(1.0 / 6.0, &mut rng).unwrap())
        .collect();
    assert!(counts.iter().all(|&m| m >= 1));
    let mean = counts.iter().sum::<usize>() as f64 / n as f64;
    eprintln!("click count over {n} draws: mean {mean:.4}");
    assert!((mean - 6.0).abs() < 0.16, "mean click count {mean}");
    // P(m = 1) = 1/6: binomial sd √(p(1−p)/n) = 0.0026; tolerance 4 sd.
    let p1 = counts.iter().filter(|&&m| m == 1).count() as f64 / n as f64;
    assert!((p1 - 1.0 / 6.0).abs() < 0.0106, "P(m = 1) = {p1}");
    // P(m > 10) = (5/6)^10 = 0.1615: sd 0.0026, tolerance 4 sd.
    let tail = counts.iter().filter(|&&m| m > 10).count() as f64 / n as f64;
    assert!(
        (tail - (5.0f64 / 6.0).powi(10)).abs() < 0.0106,
        "P(m > 10) = {tail}"
    );
    assert!(sample_click_count(0.0, &mut rng).is_err());
    assert!(sample_click_count(1.5, &mut rng).is_err());
}

/// Every pixel of the click's disk agrees with the ground truth.
fn disk_agrees(alpha: &GrayImage, c: &Click, r: usize) -> bool {
    let (w, h) = (alpha.width() as isize, alpha.height() as isize);
    let r = r as isize;
    for dy in -r..=r {
        for dx in -r..=r {
            let (y, x) = (c.y as isize + dy, c.x as isize + dx);
            if dy * dy + dx * dx > r * r || y < 0 || x < 0 || y >= h || x >= w {
                continue;
            }
            let a = alpha.get_pixel(x as u32, y as u32).0[0];
            if (c.foreground && a < SOLID_ALPHA) || (!c.foreground && a != 0) {
                return false;
            }
        }
    }
    true
}

#[test]
fn simulated_clicks_agree_with_the_ground_truth() {
    let size = 96;
    let gen = SynthClickMatte::new(SynthConfig::with_size(size)).unwrap();
    let cfg = ClickSimConfig::for_resolution(size);
    assert_eq!(cfg.radius, 3);
    let mut rng = SeededRng::new(5);
    let (mut total, mut images, mut no_core, mut on_distractor, mut bg_with_choice) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    for i in 0..120 {
        let s = gen.sample(3, i).unwrap();
        let d = s.distractors.as_ref().unwrap();
        let regions = ClickRegions::new(&s.alpha, Some(d), cfg.radius).unwrap();
        let clicks = simulate_clicks(&s.alpha, Some(d), &cfg, &mut rng).unwrap();
        for c in &clicks {
            assert!(disk_agrees(&s.alpha, c, cfg.radius), "sample {i}: {c:?}");
            assert!(regions.allows(c, size));
            if !c.foreground && !regions.bg_distractor.is_empty() {
                bg_with_choice += 1;
                on_distractor += usize::from(d.get_pixel(c.x as u32, c.y as u32).0[0] > 0);
            }
        }
        if regions.fg.is_empty() {
            // A target without a solid core wide enough gets background clicks only.
            no_core += 1;
            assert!(clicks.iter().all(|c| !c.foreground), "sample {i}");
        } else {
            assert!(
                clicks[0].foreground,
                "sample {i}: the first click is foreground"
            );
        }
        if !regions.fg.is_empty() && !regions.bg.is_empty() {
            images += 1;
            total += clicks.len();
        }
    }
    // The proxy must contain both cases.
    assert!(
        no_core > 0 && no_core < 100,
        "{no_core} targets without a core"
    );
    assert!(images >= 20);
    // Where both kinds have room, every drawn click is placed: the mean is that of the
    // count (6, sd 5.48/√images); a loose 5-sd band catches a systematic loss.
    let mean = total as f64 / images as f64;
    let band = 5.0 * 30f64.sqrt() / (images as f64).sqrt();
    assert!(
        (mean - 6.0).abs() < band,
        "{mean} clicks per image over {images}"
    );
    // With a visible distractor, at least half of the background clicks go on one in
    // expectation (½ by preference, plus the other half's chance hits); with over 100
    // such clicks the sd of the fraction is below 0.05, so 0.35 is 3 sd under ½.
    let frac = on_distractor as f64 / bg_with_choice.max(1) as f64;
    eprintln!(
        "{images} images with room for both kinds: {mean:.3} clicks each; \
         {no_core}/120 targets without a core; {on_distractor}/{bg_with_choice} background clicks on distractors"
    );
    assert!(
        bg_with_choice > 100 && frac > 0.35,
        "{on_distractor}/{bg_with_choice}"
    );
}

#[test]
fn placement_falls_back_when_a_kind_has_no_room() {
    // All-background image: only background clicks, as many as drawn.
    let alpha = GrayImage::new(40, 30);
    let cfg = ClickSimConfig {
        radius: 4,
        ..Default::default()
    };
    let regions = ClickRegions::new(&alpha, None, 4).unwrap();
    let clicks = place_clicks(&regions, 40, 7, &cfg, &mut SeededRng::new(0));
    assert_eq!(clicks.len(), 7);
    assert!(clicks
        .iter()
        .all(|c| !c.foreground && disk_agrees(&alpha, c, 4)));
    // All-foreground: only foreground clicks.
    let alpha = GrayImage::from_pixel(40, 30, Luma([255]));
    let regions = ClickRegions::new(&alpha, None, 4).unwrap();
    let clicks = place_clicks(&regions, 40, 5, &cfg, &mut SeededRng::new(0));
    assert_eq!(clicks.len(), 5);
    assert!(clicks.iter().all(|c| c.foreground));
    // A region too thin for the disk: no click of that kind, none at all here.
    let alpha = GrayImage::from_fn(40, 30, |x, _| Luma([if x % 4 == 0 { 0 } else { 255 }]));
    let regions = ClickRegions::new(&alpha, None, 4).unwrap();
    assert!(place_clicks(&regions, 40, 5, &cfg, &mut SeededRng::new(0)).is_empty());
}

#[test]
fn test_clicks_are_deterministic_and_consistent() {
    let size = 128;
    let gen = SynthClickMatte::new(SynthConfig::with_size(size)).unwrap();
    let r = click_radius(size);
    for i in 0..30 {
        let s = gen.sample(9, i).unwrap();
        let d = s.distractors.as_ref();
        let a = test_clicks(&s.alpha, d, r).unwrap();
        assert_eq!(a, test_clicks(&s.alpha, d, r).unwrap());
        for c in &a {
            assert!(disk_agrees(&s.alpha, c, r), "sample {i}: {c:?}");
        }
        // At most one foreground click, first.
        assert!(a.iter().skip(1).all(|c| !c.foreground));
        let labels = d.unwrap();
        let n_distractors = labels.as_raw().iter().copied().max().unwrap_or(0) as usize;
        assert!(a.iter().filter(|c| !c.foreground).count() <= n_distractors);
        for c in a.iter().filter(|c| !c.foreground) {
            assert!(labels.get_pixel(c.x as u32, c.y as u32).0[0] > 0);
        }
    }
}

#[test]
fn bad_click_input_is_an_error() {
    let e = encode_clicks(&[Click::fg(10, 3)], 10, 10, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside") && e.contains("(y 10, x 3)"), "{e}");
    assert!(encode_clicks(&[Click::bg(0, 10)], 10, 10, 2).is_err());
    let alpha = GrayImage::new(20, 10);
    let wrong = GrayImage::new(10, 20);
    assert!(simulate_clicks(
        &alpha,
        Some(&wrong),
        &ClickSimConfig::default(),
        &mut SeededRng::new(0)
    )
    .is_err());
    let bad_p = ClickSimConfig {
        p: 0.0,
        ..Default::default()
    };
    assert!(simulate_clicks(&alpha, None, &bad_p, &mut SeededRng::new(0)).is_err());
    let e = next_click(&wrong, &alpha, &NextClickConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("10x20"), "{e}");
    assert!(ClickRegions::new(&GrayImage::new(0, 0), None, 3).is_err());
}

#[test]
fn next_click_clicks_consistent_pixels_until_the_prediction_is_right() {
    // Start from an all-foreground prediction on a synthetic target, click, "fix" the
    // prediction within 4 radii of the click (a model that propagates the click),
    // repeat: every click agrees with the GT, and the loop ends.
    let size = 96;
    let gen = SynthClickMatte::new(SynthConfig::with_size(size)).unwrap();
    let cfg = NextClickConfig::for_resolution(size);
    let s = (0..50)
        .map(|i| gen.sample(1, i).unwrap())
        .find(|s| {
            ClickRegions::new(&s.alpha, None, cfg.radius)
                .unwrap()
                .fg
                .len()
                > 50
        })
        .expect("a target with a core");
    let mut pred = GrayImage::from_pixel(size as u32, size as u32, Luma([255]));
    let mut clicks = Vec::new();
    for _ in 0..200 {
        let Some(c) = next_click(&pred, &s.alpha, &cfg).unwrap() else {
            break;
        };
        assert!(disk_agrees(&s.alpha, &c, cfg.radius), "{c:?}");
        clicks.push(c);
        let map = encode_clicks(&[c], size, size, 4 * cfg.radius).unwrap();
        for (i, &v) in map.iter().enumerate() {
            if v != 0.0 {
                let (x, y) = ((i % size) as u32, (i / size) as u32);
                pred.put_pixel(x, y, *s.alpha.get_pixel(x, y));
            }
        }
    }
    // The first error is the whole background predicted as foreground.
    assert!(!clicks.is_empty() && !clicks[0].foreground);
    assert!(clicks.len() < 200, "the protocol must terminate");
}
