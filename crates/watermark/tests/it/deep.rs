//! The deep scheme: H's output range, a tiny H/R pair that learns, a clean-trained
//! surrogate's clean extraction, and clear errors on bad input.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_watermark::config::{Config, ContentLoss, SurrogateArch, SurrogateConfig, TaskConfig};
use candor_watermark::data::{logo, synthetic};
use candor_watermark::eval::{pearson_nc, projection_score};
use candor_watermark::model::{Extractor, Surrogate, Unet};
use candor_watermark::train::{train_surrogate, DeepScheme};
use candor_watermark::Image;

fn tiny() -> Config {
    let mut cfg = Config::tiny();
    cfg.task = TaskConfig {
        height: 16,
        width: 16,
        images: 8,
        ..cfg.task
    };
    cfg.embedder.num_downs = 2;
    cfg.extractor.width = 8;
    cfg.discriminator.widths = vec![4, 8];
    cfg.train.lr = 2e-3;
    cfg.train.batch_size = 4;
    cfg
}

#[test]
fn h_output_stays_in_unit_interval() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let h = Unet::embedder(
        1,
        &tiny().embedder,
        seeded_var_builder(&vm, 0, DType::F32, &dev),
    )
    .unwrap();
    // Extreme inputs far outside [0, 1] still give a sigmoid output in [0, 1].
    let b = Tensor::randn(0f32, 50.0, (3, 1, 16, 16), &dev).unwrap();
    let d = Tensor::randn(0f32, 50.0, (1, 1, 16, 16), &dev).unwrap();
    for train in [true, false] {
        let y = h.embed(&b, &d, train).unwrap();
        assert_eq!(y.dims(), &[3, 1, 16, 16]);
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)), "{v:?}");
    }
}

fn mean_nc(scheme: &DeepScheme, imgs: &[Image], wm: &Image) -> f64 {
    let ex = scheme.extract_images(imgs).unwrap();
    ex.iter().map(|e| pearson_nc(e, wm).unwrap()).sum::<f64>() / ex.len() as f64
}

#[test]
fn tiny_pair_learns_to_embed_and_extract_and_clean_surrogate_stays_clean() {
    let dev = Device::Cpu;
    let mut cfg = tiny();
    cfg.train.steps = Some(120);
    let pairs = synthetic::generate(&cfg.task).unwrap();
    let wm = logo::watermark(&cfg.watermark, 1, 16, 16).unwrap();
    let blank = logo::blank(&cfg.watermark, 1, 16, 16).unwrap();
    let mut scheme = DeepScheme::new(&cfg, &dev).unwrap();
    let b: Vec<Image> = pairs.iter().map(|p| p.b.clone()).collect();
    let a: Vec<Image> = pairs.iter().map(|p| p.a.clone()).collect();
    let before = mean_nc(&scheme, &scheme.embed_images(&b, &wm).unwrap(), &wm);
    let log = scheme
        .train_initial(&cfg, &pairs, &pairs[..4], &wm, &blank)
        .unwrap();
    assert_eq!(log.steps, 120);
    assert_eq!(log.skipped, 0);
    let bp = scheme.embed_images(&b, &wm).unwrap();
    let after = mean_nc(&scheme, &bp, &wm);
    assert!(after > before + 0.3 && after > 0.5, "NC {before} → {after}");
    let proj_wm: Vec<f64> = scheme
        .extract_images(&bp)
        .unwrap()
        .iter()
        .map(|e| projection_score(e, &wm, &blank).unwrap())
        .collect();

    // A surrogate trained on clean (A, B): its outputs extract to (near) the blank.
    let sc = SurrogateConfig {
        arch: SurrogateArch::CnetLike,
        content: ContentLoss::L2,
        adversarial: false,
        ngf: 2,
        batch_size: 4,
        steps: Some(20),
        ..SurrogateConfig::default()
    };
    let s = train_surrogate(&sc, &a, &b, None, &dev).unwrap();
    assert_eq!(s.log.steps, 20);
    let outs = s.apply(&a, &dev).unwrap();
    let proj_clean: Vec<f64> = scheme
        .extract_images(&outs)
        .unwrap()
        .iter()
        .map(|e| projection_score(e, &wm, &blank).unwrap())
        .collect();
    let max_clean = proj_clean.iter().cloned().fold(f64::MIN, f64::max);
    let min_wm = proj_wm.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        max_clean < 0.5 && max_clean < min_wm,
        "clean-surrogate projections {proj_clean:?} vs watermarked {proj_wm:?}"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let scheme = DeepScheme::new(&cfg, &dev).unwrap();
    let img = Image::filled(1, 16, 16, 0.5).unwrap();
    // Watermark and image of different sizes.
    let wm32 = Image::filled(1, 32, 32, 1.0).unwrap();
    let e = scheme
        .embed_images(std::slice::from_ref(&img), &wm32)
        .unwrap_err();
    assert!(e.to_string().contains("watermark"), "{e}");
    // Wrong channel count.
    let rgb = Image::filled(3, 16, 16, 0.5).unwrap();
    let e = scheme
        .extract_images(std::slice::from_ref(&rgb))
        .unwrap_err();
    assert!(e.to_string().contains("channels"), "{e}");
    let wm = Image::filled(1, 16, 16, 1.0).unwrap();
    assert!(scheme.embed_images(&[rgb], &wm).is_err());
    // A size the U-Net cannot halve enough times.
    let odd = Image::filled(1, 18, 18, 0.5).unwrap();
    let e = scheme
        .embed_images(
            std::slice::from_ref(&odd),
            &Image::filled(1, 18, 18, 1.0).unwrap(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("multiple"), "{e}");
    // A missing weights file.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("H.safetensors");
    let e = DeepScheme::load(&cfg, &missing, &dir.path().join("R.safetensors"), &dev)
        .err()
        .expect("missing weights must fail");
    assert!(e.to_string().contains("H.safetensors"), "{e}");
    // Weights of another configuration.
    scheme.save(dir.path()).unwrap();
    let mut wider = cfg.clone();
    wider.embedder.ngf *= 2;
    assert!(DeepScheme::load(&wider, &missing, &dir.path().join("R.safetensors"), &dev).is_err());
    // And the same configuration round-trips.
    let back = DeepScheme::load(&cfg, &missing, &dir.path().join("R.safetensors"), &dev).unwrap();
    let x = scheme
        .embed_images(std::slice::from_ref(&img), &wm)
        .unwrap();
    let y = back.embed_images(std::slice::from_ref(&img), &wm).unwrap();
    assert_eq!(x, y);
    // Surrogate and extractor shape checks.
    let vm = VarMap::new();
    let r = Extractor::new(
        1,
        1,
        &cfg.extractor,
        seeded_var_builder(&vm, 0, DType::F32, &dev),
    )
    .unwrap();
    assert!(r
        .forward(&Tensor::zeros((1, 1, 15, 16), DType::F32, &dev).unwrap())
        .is_err());
    let s = Surrogate::new(
        SurrogateArch::Resnet9,
        1,
        2,
        3,
        true,
        seeded_var_builder(&vm, 1, DType::F32, &dev),
    )
    .unwrap();
    assert!(s
        .forward(&Tensor::zeros((1, 3, 16, 16), DType::F32, &dev).unwrap())
        .is_err());
    let e = train_surrogate(
        &SurrogateConfig::default(),
        std::slice::from_ref(&img),
        &[],
        None,
        &dev,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("targets"), "{e}");
    let e = train_surrogate(
        &SurrogateConfig {
            content: ContentLoss::Perceptual,
            ..SurrogateConfig::default()
        },
        std::slice::from_ref(&img),
        std::slice::from_ref(&img),
        None,
        &dev,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("feature"), "{e}");
}

#[test]
fn surrogates_of_every_architecture_keep_the_shape_and_range() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let x = Tensor::rand(0f32, 1f32, (2, 1, 16, 16), &dev).unwrap();
    for (i, arch) in [
        SurrogateArch::CnetLike,
        SurrogateArch::Resnet6,
        SurrogateArch::Resnet9,
        SurrogateArch::Resnet16,
        SurrogateArch::Unet,
    ]
    .into_iter()
    .enumerate()
    {
        let s = Surrogate::new(
            arch,
            1,
            2,
            3,
            true,
            seeded_var_builder(&vm, i as u64, DType::F32, &dev).pp(format!("{i}")),
        )
        .unwrap();
        let y = s.forward(&x).unwrap();
        assert_eq!(y.dims(), x.dims(), "{arch:?}");
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)), "{arch:?}");
    }
}

/// The NaN guard: a batch whose loss is not finite is skipped, and nothing H, R or D
/// would use afterwards changes (weights, Adam states, BatchNorm running statistics):
/// the scheme embeds and extracts exactly as before. A clean step after it trains.
#[test]
fn a_non_finite_step_is_skipped_and_changes_nothing() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let scheme = DeepScheme::new(&cfg, &dev).unwrap();
    let mut opt = scheme.initial_optimisers(&cfg).unwrap();
    let wm = logo::watermark(&cfg.watermark, 1, 16, 16).unwrap();
    let blank = logo::blank(&cfg.watermark, 1, 16, 16).unwrap();
    let pairs = synthetic::generate(&cfg.task).unwrap();
    let b_imgs: Vec<Image> = pairs.iter().map(|p| p.b.clone()).collect();
    let before_e = scheme.embed_images(&b_imgs, &wm).unwrap();
    let before_x = scheme.extract_images(&b_imgs).unwrap();

    let (delta, delta0) = (wm.to_tensor(&dev).unwrap(), blank.to_tensor(&dev).unwrap());
    let (delta, delta0) = (delta.unsqueeze(0).unwrap(), delta0.unsqueeze(0).unwrap());
    let mut v = vec![0.5f32; 4 * 16 * 16];
    v[17] = f32::NAN;
    let bad = Tensor::from_vec(v, (4, 1, 16, 16), &dev).unwrap();
    let good = Tensor::full(0.5f32, (4, 1, 16, 16), &dev).unwrap();
    let r = scheme
        .initial_step(&cfg, &good, &bad, &delta, &delta0, &mut opt)
        .unwrap();
    assert!(r.is_none(), "a NaN batch must be skipped, got {r:?}");
    assert_eq!(scheme.embed_images(&b_imgs, &wm).unwrap(), before_e);
    assert_eq!(scheme.extract_images(&b_imgs).unwrap(), before_x);

    let r = scheme
        .initial_step(&cfg, &good, &good, &delta, &delta0, &mut opt)
        .unwrap();
    assert!(r.is_some_and(f64::is_finite), "{r:?}");
    assert_ne!(scheme.embed_images(&b_imgs, &wm).unwrap(), before_e);
}
