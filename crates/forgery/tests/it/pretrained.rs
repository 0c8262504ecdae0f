//! timm-named state dicts (written by `tools/make_timm_fixture.py` with timm's own
//! modules at reduced width) load into our backbones and detectors, and the loaded
//! backbones reproduce timm's pooled features and logits.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_pretrained, read_weights, Adapt, LoadSpec};
use candor_core::init::seeded_var_builder;
use candor_forgery::model::pretrained::pil_bicubic_resize;
use candor_forgery::model::{
    backbone_spec, detector_spec, BackboneConfig, DetectorConfig, EfficientNet, EfficientNetConfig,
    MatConfig, Padding, SpslConfig, TimmPreprocess, VanillaConfig, Xception, XceptionConfig,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/timm")
        .join(name)
}

fn expected() -> HashMap<String, Tensor> {
    candor_core::checkpoint::load_tensors(fixture("expected.safetensors"), &Device::Cpu)
        .unwrap()
        .tensors
}

fn file_tensors(name: &str) -> HashMap<String, Tensor> {
    read_weights(fixture(name), None)
        .unwrap()
        .into_iter()
        .collect()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    candor_core::gradcheck::max_abs_diff(a, b).unwrap() as f32
}

fn var(vm: &VarMap, name: &str) -> Tensor {
    vm.data().lock().unwrap()[name].as_tensor().clone()
}

/// timm's `legacy_xception` with every width ÷ 32 and its 1000-class head.
fn xception_w32() -> XceptionConfig {
    XceptionConfig {
        width_multiplier: 1.0 / 32.0,
        num_classes: 1000,
        ..XceptionConfig::default()
    }
}

/// timm's `tf_efficientnet_b4` generator at channel multiplier 0.05.
fn tf_b4_c005() -> EfficientNetConfig {
    EfficientNetConfig {
        width_coefficient: 0.05,
        num_classes: 1000,
        ..EfficientNetConfig::b4()
    }
}

/// timm's PyTorch-style `efficientnet_b0` at channel multiplier 0.05, depth 0.5.
fn b0_c005() -> EfficientNetConfig {
    EfficientNetConfig {
        width_coefficient: 0.05,
        depth_coefficient: 0.5,
        num_classes: 1000,
        padding: Padding::Symmetric,
        bn_eps: 1e-5,
        ..EfficientNetConfig::b0()
    }
}

/// Features and logits against timm's (the weights are float16-exact, the forward f32).
fn check_outputs(stem: &str, features: &Tensor, logits: &Tensor) {
    let e = expected();
    let (f, l) = (
        &e[&format!("{stem}.features")],
        &e[&format!("{stem}.logits")],
    );
    let scale = |t: &Tensor| max_abs(t, &t.zeros_like().unwrap()).max(1.0);
    let (df, dl) = (max_abs(features, f), max_abs(logits, l));
    eprintln!(
        "{stem}: max |Δ| features {df:.2e} (of {:.2}), logits {dl:.2e} (of {:.2})",
        scale(f),
        scale(l)
    );
    assert!(
        df <= 1e-4 * scale(f),
        "{stem}: features differ by {df} (max {})",
        scale(f)
    );
    assert!(
        dl <= 1e-4 * scale(l),
        "{stem}: logits differ by {dl} (max {})",
        scale(l)
    );
}

fn input(stem: &str) -> Tensor {
    expected()[&format!("{stem}.input")]
        .to_dtype(DType::F32)
        .unwrap()
}

#[test]
fn xception_loads_timm_names_and_matches_timm() {
    for file in ["legacy_xception_w32.safetensors", "legacy_xception_w32.pth"] {
        let vm = VarMap::new();
        let net = Xception::new(
            seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu),
            &xception_w32(),
        )
        .unwrap();
        let spec = LoadSpec {
            strict: true,
            ..LoadSpec::default()
        };
        let r = load_pretrained(&vm, fixture(file), &spec).unwrap();
        assert!(r.is_complete(), "{file}: {}", r.summary());
        assert!(r.adapted.is_empty());
        // Every tensor but the BatchNorm counters.
        let n = file_tensors(file).len();
        assert_eq!(r.loaded.len() + r.skipped.len(), n);
        assert!(r.skipped.iter().all(|k| k.ends_with("num_batches_tracked")));
        assert!(r.loaded.contains(&"block1.rep.0.conv1.weight".to_string()));
        assert!(r.loaded.contains(&"block12.rep.5.weight".to_string()));
        let x = input("legacy_xception_w32");
        let taps = net.forward_features_t(&x, false).unwrap();
        let features = net.pool(taps.last()).unwrap();
        let logits = net.forward_head(taps.last(), false).unwrap();
        check_outputs("legacy_xception_w32", &features, &logits);
    }
}

#[test]
fn efficientnets_load_timm_names_and_match_timm() {
    for (stem, cfg) in [
        ("tf_efficientnet_b4_c005", tf_b4_c005()),
        ("efficientnet_b0_c005", b0_c005()),
    ] {
        let vm = VarMap::new();
        let net =
            EfficientNet::new(seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu), &cfg).unwrap();
        let file = fixture(&format!("{stem}.safetensors"));
        let spec = LoadSpec {
            strict: true,
            ..LoadSpec::default()
        };
        let r = load_pretrained(&vm, &file, &spec).unwrap();
        assert!(r.is_complete(), "{stem}: {}", r.summary());
        let x = input(stem);
        let taps = net.forward_features_t(&x, false).unwrap();
        let features = net.pool(taps.last()).unwrap();
        let logits = net.forward_head(taps.last(), false).unwrap();
        check_outputs(stem, &features, &logits);
    }
}

#[test]
fn detectors_load_the_backbone_and_skip_the_head() {
    let file_x = file_tensors("legacy_xception_w32.safetensors");
    // Vanilla Xception with a 2-class head: the 1000-class `fc` is skipped.
    let vanilla = DetectorConfig::Vanilla(VanillaConfig {
        backbone: BackboneConfig::Xception(XceptionConfig {
            num_classes: 2,
            ..xception_w32()
        }),
    });
    let (vm, _) = vanilla.build_seeded(0, &Device::Cpu).unwrap();
    let fc_before = var(&vm, "fc.weight");
    let spec = detector_spec(&vanilla, Adapt::InChannelsMean);
    let r = load_pretrained(&vm, fixture("legacy_xception_w32.pth"), &spec).unwrap();
    assert!(r.is_complete(), "{}", r.summary());
    assert!(r.skipped.contains(&"fc.weight".to_string()));
    assert_eq!(max_abs(&var(&vm, "fc.weight"), &fc_before), 0.0);
    assert_eq!(
        max_abs(&var(&vm, "conv2.weight"), &file_x["conv2.weight"]),
        0.0
    );

    // SPSL: shallow (middle blocks skipped), 4-channel conv1 by the card's rule.
    let spsl = DetectorConfig::Spsl(SpslConfig {
        xception: XceptionConfig {
            width_multiplier: 1.0 / 32.0,
            ..XceptionConfig::spsl()
        },
        ..SpslConfig::default()
    });
    let (vm, _) = spsl.build_seeded(0, &Device::Cpu).unwrap();
    for rule in [Adapt::InChannelsMean, Adapt::InChannelsCopyThenMean] {
        let r = load_pretrained(
            &vm,
            fixture("legacy_xception_w32.safetensors"),
            &detector_spec(&spsl, rule),
        )
        .unwrap();
        assert!(r.is_complete(), "{}", r.summary());
        assert_eq!(r.adapted.len(), 1);
        assert!(r.skipped.iter().any(|k| k.starts_with("block7.")));
        let rgb = file_x["conv1.weight"].to_dtype(DType::F32).unwrap();
        let mean = rgb.mean_keepdim(1).unwrap();
        let conv1 = var(&vm, "conv1.weight");
        assert_eq!(conv1.dims(), &[1, 4, 3, 3]);
        let want = match rule {
            Adapt::InChannelsMean => mean.repeat((1, 4, 1, 1)).unwrap(),
            Adapt::InChannelsCopyThenMean => Tensor::cat(&[&rgb, &mean], 1).unwrap(),
        };
        assert!(max_abs(&conv1, &want) < 1e-6, "{rule:?}");
    }

    // MAT on the B4: everything under `net.`, the classifier skipped, MAT's own
    // layers untouched and not reported.
    let mat = DetectorConfig::Mat(MatConfig {
        backbone: BackboneConfig::EfficientNet(EfficientNetConfig {
            num_classes: 2,
            ..tf_b4_c005()
        }),
        ..MatConfig::default()
    });
    let (vm, _) = mat.build_seeded(0, &Device::Cpu).unwrap();
    let spec = detector_spec(&mat, Adapt::InChannelsMean);
    let r = load_pretrained(&vm, fixture("tf_efficientnet_b4_c005.safetensors"), &spec).unwrap();
    assert!(r.is_complete(), "{}", r.summary());
    assert!(r.loaded.iter().all(|k| k.starts_with("net.")));
    assert!(r
        .loaded
        .contains(&"net.blocks.6.1.conv_pwl.weight".to_string()));
    assert!(r.skipped.contains(&"net.classifier.weight".to_string()));
    let file_b4 = file_tensors("tf_efficientnet_b4_c005.safetensors");
    assert_eq!(
        max_abs(
            &var(&vm, "net.blocks.3.5.conv_dw.weight"),
            &file_b4["blocks.3.5.conv_dw.weight"]
        ),
        0.0
    );
}

#[test]
fn the_wrong_backbone_is_a_clear_error() {
    // B4 weights into a B0 MAT (strict): missing and unexpected blocks, wrong widths.
    let mat = DetectorConfig::Mat(MatConfig {
        backbone: BackboneConfig::EfficientNet(EfficientNetConfig {
            num_classes: 2,
            ..b0_c005()
        }),
        ..MatConfig::default()
    });
    let (vm, _) = mat.build_seeded(0, &Device::Cpu).unwrap();
    let before = var(&vm, "net.conv_stem.weight");
    let e = load_pretrained(
        &vm,
        fixture("tf_efficientnet_b4_c005.safetensors"),
        &detector_spec(&mat, Adapt::InChannelsMean),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("strict load") && e.contains("unexpected"), "{e}");
    assert_eq!(max_abs(&var(&vm, "net.conv_stem.weight"), &before), 0.0);
    // Xception weights into an EfficientNet.
    let spec = backbone_spec(
        &BackboneConfig::EfficientNet(tf_b4_c005()),
        "",
        Adapt::InChannelsMean,
    );
    let vm = VarMap::new();
    EfficientNet::new(
        seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu),
        &tf_b4_c005(),
    )
    .unwrap();
    let e = load_pretrained(&vm, fixture("legacy_xception_w32.safetensors"), &spec)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing: conv_head.weight") || e.contains("missing:"),
        "{e}"
    );
}

#[derive(serde::Deserialize)]
struct Resize {
    size: [usize; 2],
    out: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct Transform {
    size: usize,
    crop_pct: f64,
    mean: [f32; 3],
    std: [f32; 3],
    out: Vec<f32>,
}

#[derive(serde::Deserialize)]
struct Preprocess {
    image: Vec<u8>,
    shape: [usize; 3],
    resizes: Vec<Resize>,
    big: Vec<u8>,
    big_shape: [usize; 3],
    transforms: Vec<Transform>,
}

fn preprocess_fixture() -> Preprocess {
    serde_json::from_str(&std::fs::read_to_string(fixture("preprocess.json")).unwrap()).unwrap()
}

#[test]
fn pil_bicubic_resize_is_exact() {
    let p = preprocess_fixture();
    let [c, h, w] = p.shape;
    for r in &p.resizes {
        let ours = pil_bicubic_resize(&p.image, c, (h, w), (r.size[0], r.size[1]));
        assert_eq!(ours, r.out, "{:?}", r.size);
    }
}

#[test]
fn timm_preprocessing_matches_timm() {
    let p = preprocess_fixture();
    let img = Tensor::from_vec(
        p.big
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect::<Vec<f32>>(),
        p.big_shape.as_slice(),
        &Device::Cpu,
    )
    .unwrap();
    for t in &p.transforms {
        let pre = TimmPreprocess {
            size: t.size,
            crop_pct: t.crop_pct,
            mean: t.mean,
            std: t.std,
        };
        let x = pre.apply(&img).unwrap();
        assert_eq!(x.dims(), &[3, t.size, t.size]);
        let want = Tensor::from_vec(t.out.clone(), (3, t.size, t.size), &Device::Cpu).unwrap();
        let d = max_abs(&x, &want);
        assert!(d < 1e-5, "size {}: {d}", t.size);
    }
}

#[test]
fn the_trainer_starts_from_the_pretrained_file() {
    use candor_forgery::data::{synthetic, FrameFolder, Split, Splits};
    use candor_forgery::train::{train, RunOptions, TrainConfig};
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic::Config {
        photos: false,
        ..synthetic::Config::tiny()
    };
    synthetic::generate(&data, dir.path()).unwrap();
    let tree = FrameFolder::open(dir.path()).unwrap();
    let splits = Splits::read(dir.path().join("splits.json")).unwrap();
    let train_set = tree.select(splits.get(Split::Train));
    let spsl = DetectorConfig::Spsl(SpslConfig {
        xception: XceptionConfig {
            width_multiplier: 1.0 / 32.0,
            ..XceptionConfig::spsl()
        },
        ..SpslConfig::default()
    });
    let (vm, mut det) = spsl.build_seeded(0, &Device::Cpu).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        max_steps_per_epoch: Some(1),
        pretrained: Some(fixture("legacy_xception_w32.safetensors")),
        ..TrainConfig::smoke()
    };
    let ckpt = dir.path().join("run.ckpt");
    let mut opts = RunOptions {
        checkpoint: Some(ckpt.clone()),
        ..RunOptions::default()
    };
    let report = train(det.as_mut(), &vm, &train_set, None, &cfg, &mut opts).unwrap();
    let loaded = report.pretrained.expect("a pretrained report");
    assert!(loaded.is_complete(), "{}", loaded.summary());
    assert_eq!(loaded.adapted.len(), 1); // conv1: 3 → 4 channels
                                         // A resumed run keeps its checkpoint's weights and loads nothing.
    let cfg2 = TrainConfig { epochs: 2, ..cfg };
    let mut opts = RunOptions {
        checkpoint: Some(ckpt),
        resume: true,
        ..RunOptions::default()
    };
    let report = train(det.as_mut(), &vm, &train_set, None, &cfg2, &mut opts).unwrap();
    assert_eq!(report.resumed_from, Some(1));
    assert!(report.pretrained.is_none());
    // A missing file is an error naming it.
    let bad = TrainConfig {
        pretrained: Some(dir.path().join("absent.safetensors")),
        ..TrainConfig::smoke()
    };
    let (vm, mut det) = spsl.build_seeded(0, &Device::Cpu).unwrap();
    let e = train(
        det.as_mut(),
        &vm,
        &train_set,
        None,
        &bad,
        &mut RunOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("absent.safetensors"), "{e}");
}
