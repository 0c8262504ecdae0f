//! Detectors: output shapes, gradients reaching every parameter, the regional
//! independence loss against hand-computed values, bilinear attention pooling,
//! AGDA, the attention figure, configuration checks.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use candor_core::gradcheck::assert_param_grads;
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::SeededRng;
use candor_forgery::model::mat::{
    bilinear_attention_pooling, ril_deepfakebench, ril_official, Agda, AgdaConfig, BapNorm,
};
use candor_forgery::model::{
    save_attention_figure, BackboneConfig, Detector, DetectorConfig, Mat, MatConfig, MatVariant,
    Spsl, SpslConfig, TextureVersion, Vanilla, VanillaConfig, XceptionConfig,
};

fn input(shape: &[usize], seed: u64) -> Tensor {
    SeededRng::new(seed)
        .normal_tensor(0.0, 0.5, shape, DType::F32, &Device::Cpu)
        .unwrap()
}

fn labels(y: &[u32]) -> Tensor {
    Tensor::new(y, &Device::Cpu).unwrap()
}

fn vb(vm: &VarMap, seed: u64) -> candle_nn::VarBuilder<'static> {
    seeded_var_builder(vm, seed, DType::F32, &Device::Cpu)
}

fn vec1(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Back-propagates `loss`: every parameter outside `unused` gets a gradient (through
/// `candor_core::gradcheck`), `unused` and the buffers (BatchNorm statistics, MAT's
/// feature centres) none.
fn check_gradients(vm: &VarMap, loss: &Tensor, unused: &[&str]) {
    let mut none = vec!["feature_centers"];
    none.extend_from_slice(unused);
    assert_param_grads(vm, &loss.backward().unwrap(), &none);
}

// ------------------------------------------------------------------ shapes

#[test]
fn every_detector_gives_two_logits_and_probabilities() {
    let x = input(&[2, 3, 64, 64], 1);
    let configs = [
        DetectorConfig::Vanilla(VanillaConfig::tiny()),
        DetectorConfig::Vanilla(VanillaConfig::tiny_efficientnet()),
        DetectorConfig::Spsl(SpslConfig::tiny()),
        DetectorConfig::Spsl(SpslConfig {
            xception: XceptionConfig {
                width_multiplier: 1.0 / 16.0,
                ..SpslConfig::rgb_only().xception
            },
            ..SpslConfig::rgb_only()
        }),
        DetectorConfig::Mat(MatConfig::tiny()),
        DetectorConfig::Mat(MatConfig::tiny_deepfakebench()),
    ];
    for cfg in configs {
        let (_, det) = cfg.build_seeded(0, &Device::Cpu).unwrap();
        let logits = det.logits(&x).unwrap();
        assert_eq!(logits.dims(), &[2, 2], "{cfg:?}");
        let s = det.scores(&x).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|p| (0.0..=1.0).contains(p)), "{s:?}");
    }
}

#[test]
fn spsl_variants_have_the_right_input_and_depth() {
    let x = input(&[2, 3, 32, 32], 2);
    let vm = VarMap::new();
    let spsl = Spsl::new(vb(&vm, 0), &SpslConfig::tiny()).unwrap();
    let inp = spsl.network_input(&x).unwrap();
    assert_eq!(inp.dims(), &[2, 4, 32, 32]);
    // The RGB channels pass through untouched; the 4th is the raw phase channel
    // (RMS 1/sqrt(H·W)).
    let rgb = inp.narrow(1, 0, 3).unwrap();
    assert_eq!(vec1(&rgb), vec1(&x));
    let p = vec1(&inp.narrow(1, 3, 1).unwrap().get(0).unwrap());
    let rms = (p.iter().map(|v| v * v).sum::<f32>() / p.len() as f32).sqrt();
    assert!((rms - 1.0 / 32.0).abs() < 1e-4, "{rms}");
    assert!(spsl.config().is_shallow());
    let names: Vec<String> = sorted_vars(&vm).into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n.starts_with("block4.")));
    assert_eq!(
        spsl.network().config().in_channels,
        4,
        "4-channel conv1 (phase + RGB)"
    );

    let full = SpslConfig::full_depth();
    assert_eq!(full.xception.middle_blocks, 8);
    assert!(full.phase && !full.is_shallow());
    let rgb_only = SpslConfig::rgb_only();
    assert!(!rgb_only.phase && rgb_only.xception.in_channels == 3 && rgb_only.is_shallow());
    let vm = VarMap::new();
    let cfg = SpslConfig {
        xception: XceptionConfig {
            width_multiplier: 1.0 / 16.0,
            ..rgb_only.xception
        },
        ..rgb_only
    };
    let det = Spsl::new(vb(&vm, 0), &cfg).unwrap();
    assert_eq!(det.network_input(&x).unwrap().dims(), &[2, 3, 32, 32]);
}

#[test]
fn mat_attention_maps_are_positive_and_masked() {
    let vm = VarMap::new();
    let mat = Mat::new(vb(&vm, 0), &MatConfig::tiny()).unwrap();
    let x = input(&[2, 3, 64, 64], 3);
    let a = mat.attention_maps(&x).unwrap();
    // b5 of the tiny EfficientNet: stride 16 → 4×4; M = 4.
    assert_eq!(a.dims(), &[2, 4, 4, 4]);
    let v = vec1(&a);
    for (i, val) in v.iter().enumerate() {
        let (r, c) = ((i / 4) % 4, i % 4);
        if r == 0 || c == 0 {
            assert_eq!(*val, 0.0, "border pixel ({r}, {c}) must be masked");
        } else {
            assert!(*val > 0.0, "ELU + 1 is positive inside the mask");
        }
    }
    assert_eq!(mat.feature_centers().dims(), &[4, 8]); // M × channels of b2
    assert!(!mat.is_pretraining());
}

// -------------------------------------------------------------- gradients

#[test]
fn vanilla_and_spsl_parameters_all_get_gradients() {
    let x = input(&[4, 3, 32, 32], 4);
    let y = labels(&[0, 1, 0, 1]);
    let vm = VarMap::new();
    let mut det = Vanilla::new(vb(&vm, 0), &VanillaConfig::tiny()).unwrap();
    let out = det.loss_step(&x, &y, &mut SeededRng::new(0)).unwrap();
    assert_eq!(out.parts[0].0, "ce");
    check_gradients(&vm, &out.loss, &[]);

    let vm = VarMap::new();
    let mut det = Spsl::new(vb(&vm, 0), &SpslConfig::tiny()).unwrap();
    let out = det.loss_step(&x, &y, &mut SeededRng::new(0)).unwrap();
    check_gradients(&vm, &out.loss, &[]);
}

#[test]
fn mat_parameters_all_get_gradients_in_both_variants_and_stages() {
    let x = input(&[4, 3, 64, 64], 5);
    let y = labels(&[0, 1, 1, 0]);
    for cfg in [MatConfig::tiny(), MatConfig::tiny_deepfakebench()] {
        // MAT stage: everything but the backbone's own classifier.
        let vm = VarMap::new();
        let mut mat = Mat::new(vb(&vm, 0), &cfg).unwrap();
        let out = mat.loss_step(&x, &y, &mut SeededRng::new(0)).unwrap();
        assert!(out.loss.to_scalar::<f32>().unwrap().is_finite());
        check_gradients(&vm, &out.loss, &["net.classifier."]);
        // The centres moved (a buffer, updated in place).
        assert!(vec1(mat.feature_centers()).iter().any(|&c| c != 0.0));

        // Backbone-only stage: the backbone and its classifier, nothing else.
        let vm = VarMap::new();
        let mut mat = Mat::new(
            vb(&vm, 0),
            &MatConfig {
                pretrain_epochs: 1,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert!(!mat.is_pretraining());
        mat.set_epoch(0);
        assert!(mat.is_pretraining());
        let out = mat.loss_step(&x, &y, &mut SeededRng::new(0)).unwrap();
        let heads = [
            "attentions.",
            "texture_enhance.",
            "projection_local.",
            "project_final.",
            "ensemble_classifier_fc.",
        ];
        check_gradients(&vm, &out.loss, &heads);
        mat.set_epoch(1);
        assert!(!mat.is_pretraining());
    }
}

#[test]
fn mat_official_step_reports_all_loss_terms_and_decays_alpha() {
    let vm = VarMap::new();
    let mut mat = Mat::new(vb(&vm, 0), &MatConfig::tiny()).unwrap();
    let x = input(&[4, 3, 64, 64], 6);
    let out = mat
        .loss_step(&x, &labels(&[0, 1, 0, 1]), &mut SeededRng::new(1))
        .unwrap();
    let names: Vec<&str> = out.parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ce", "ril", "agda_ce", "match"]);
    let get = |n: &str| out.parts.iter().find(|(k, _)| k == n).unwrap().1;
    let total = out.loss.to_scalar::<f32>().unwrap() as f64;
    let w = &mat.config().weights;
    let expect = w.ensemble * get("ce")
        + w.aux * get("ril")
        + w.agda * get("agda_ce")
        + w.matching * get("match");
    assert!(close(total, expect, 1e-4), "{total} vs {expect}");
    assert!(get("match") > 0.0);

    // α: 0.05 for the first MAT epoch, ×0.9 per epoch after.
    let mut mat = Mat::new(
        vb(&VarMap::new(), 0),
        &MatConfig {
            pretrain_epochs: 2,
            ..MatConfig::tiny()
        },
    )
    .unwrap();
    assert_eq!(mat.optimizer_restarts(), vec![2]);
    mat.set_epoch(2);
    assert!(close(mat.alpha(), 0.05, 1e-15));
    mat.set_epoch(4);
    assert!(close(mat.alpha(), 0.05 * 0.81, 1e-15));

    // Without AGDA the official step is CE + 0.5·RIL.
    let vm = VarMap::new();
    let mut mat = Mat::new(
        vb(&vm, 0),
        &MatConfig {
            use_agda: false,
            ..MatConfig::tiny()
        },
    )
    .unwrap();
    let out = mat
        .loss_step(&x, &labels(&[0, 1, 0, 1]), &mut SeededRng::new(1))
        .unwrap();
    assert_eq!(out.parts.len(), 2);
    // DeepfakeBench keeps one optimiser through its warm-up.
    let dfb = Mat::new(
        vb(&VarMap::new(), 0),
        &MatConfig {
            pretrain_epochs: 3,
            ..MatConfig::tiny_deepfakebench()
        },
    )
    .unwrap();
    assert!(dfb.optimizer_restarts().is_empty());
}

#[test]
fn same_seed_same_step() {
    let x = input(&[4, 3, 64, 64], 7);
    let y = labels(&[0, 1, 0, 1]);
    let run = || {
        let vm = VarMap::new();
        let mut mat = Mat::new(vb(&vm, 3), &MatConfig::tiny()).unwrap();
        let out = mat.loss_step(&x, &y, &mut SeededRng::new(9)).unwrap();
        (
            out.loss.to_scalar::<f32>().unwrap(),
            vec1(mat.feature_centers()),
        )
    };
    assert_eq!(run(), run());
}

// ------------------------------------------------------------------- RIL

#[test]
fn ril_official_matches_hand_computation() {
    // Two heads, two channels; sample 0 real, sample 1 fake; centres 0, α = 0.5.
    let v = Tensor::new(
        &[[[1f32, 0.], [0., 1.]], [[0., 1.], [1., 0.]]],
        &Device::Cpu,
    )
    .unwrap();
    let v = candle_core::Var::from_tensor(&v).unwrap();
    let c = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    let out = ril_official(v.as_tensor(), &c, &[0, 1], 0.5, [0.2, -0.8], 0.8).unwrap();
    // c' = α·(1/B)·Σ_real V = 0.25·V₀.
    assert_eq!(vec1(&out.centers), [0.25, 0., 0., 0.25]);
    // Real: ‖V₀ − c'‖_F = 0.75·√2 → relu(1.06066 − 0.2); fake: ‖V₁ − c'‖ = √2.125
    // → relu(−1.45774 + 0.8) = 0; mean over the batch.
    let intra = (0.75 * 2f64.sqrt() - 0.2) / 2.0;
    // ‖c'₀ − c'₁‖ = √0.125 → relu(0.8 − 0.353553) / M / α = 0.446447.
    let inter = (0.8 - 0.125f64.sqrt()) / 2.0 / 0.5;
    let got = |t: &Tensor| t.to_scalar::<f32>().unwrap() as f64;
    assert!(close(got(&out.intra), intra, 1e-6), "{}", got(&out.intra));
    assert!(close(got(&out.inter), inter, 1e-6), "{}", got(&out.inter));
    assert!(close(got(&out.loss), intra + inter, 1e-6));
    // The gradient reaches V through both terms (the centres are not detached).
    let g = out.loss.backward().unwrap();
    let gv = vec1(g.get(v.as_tensor()).unwrap());
    assert!(gv.iter().all(|x| x.is_finite()));
    // Only the real sample's entries move (the fake is beyond its margin and the
    // centres depend on reals only).
    assert!(gv[..4].iter().any(|&x| x != 0.0));
    assert_eq!(&gv[4..], &[0.0; 4]);
}

#[test]
fn ril_deepfakebench_matches_hand_computation() {
    let v = Tensor::new(
        &[[[1f32, 0.], [0., 1.]], [[0., 1.], [1., 0.]]],
        &Device::Cpu,
    )
    .unwrap();
    let c = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    let out = ril_deepfakebench(&v, &c, &[0, 1], 0.5, [0.05, 0.1], 0.2).unwrap();
    // c' = α·mean(V) = 0.25 everywhere; every (sample, head) distance is √0.625.
    assert_eq!(vec1(&out.centers), [0.25; 4]);
    let d = 0.625f64.sqrt();
    let intra = ((d - 0.05) * 2.0 + (d - 0.1) * 2.0) / 4.0;
    // Identical centres: relu(0.2 − 0) / 2 / 0.5 = 0.2 (finite at distance 0).
    let got = |t: &Tensor| t.to_scalar::<f32>().unwrap() as f64;
    assert!(close(got(&out.intra), intra, 1e-6), "{}", got(&out.intra));
    assert!(close(got(&out.inter), 0.2, 1e-6));
    assert!(close(got(&out.loss), intra + 0.2, 1e-6));
    // Bad input is an error.
    assert!(ril_official(&v, &c, &[0], 0.5, [0.2, -0.8], 0.8).is_err());
    assert!(ril_official(&v, &c, &[0, 2], 0.5, [0.2, -0.8], 0.8).is_err());
    let c3 = Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap();
    assert!(ril_deepfakebench(&v, &c3, &[0, 1], 0.5, [0.05, 0.1], 0.2).is_err());
}

// ------------------------------------------------------------------- BAP

#[test]
fn bilinear_attention_pooling_by_hand() {
    // F: 2 channels on 2×2; A: 1 map on 2×2.
    let f = Tensor::new(
        &[[[[1f32, 2.], [3., 4.]], [[0., 1.], [0., 1.]]]],
        &Device::Cpu,
    )
    .unwrap();
    let a = Tensor::new(&[[[[1f32, 0.], [0., 1.]]]], &Device::Cpu).unwrap();
    let p = bilinear_attention_pooling(&f, &a, BapNorm::None).unwrap();
    assert_eq!(p.dims(), &[1, 1, 2]);
    assert_eq!(vec1(&p), [5.0, 1.0]);
    let p2 = vec1(&bilinear_attention_pooling(&f, &a, BapNorm::L2).unwrap());
    let n = 26f32.sqrt();
    assert!((p2[0] - 5.0 / n).abs() < 1e-6 && (p2[1] - 1.0 / n).abs() < 1e-6);
    let p1 = vec1(&bilinear_attention_pooling(&f, &a, BapNorm::Area).unwrap());
    // (A + 1e-8)·F / Σ(A + 1e-8).
    assert!((p1[0] - 2.5).abs() < 1e-6 && (p1[1] - 0.5).abs() < 1e-6);
    // Per-head features (B, M, N, H, W) and a map resized (1×1 → 2×2, align-corners).
    let f5 = f.unsqueeze(1).unwrap();
    let a1 = Tensor::new(&[[[[2f32]]]], &Device::Cpu).unwrap();
    let p = vec1(&bilinear_attention_pooling(&f5, &a1, BapNorm::None).unwrap());
    assert_eq!(p, [20.0, 4.0]);
    assert!(bilinear_attention_pooling(&f, &a.squeeze(0).unwrap(), BapNorm::L2).is_err());
}

// ------------------------------------------------------------------ AGDA

#[test]
fn agda_keeps_shapes_and_degrades_only_the_attended_region() {
    let agda = Agda::new(&AgdaConfig::default()).unwrap();
    let x = input(&[3, 3, 64, 64], 8);
    // Head 1 attends to the top-left corner only; head 0 is empty.
    let mut a = vec![0f32; 3 * 2 * 4 * 4];
    for b in 0..3 {
        a[(b * 2 + 1) * 16] = 50.0;
    }
    let attn = Tensor::from_vec(a, (3, 2, 4, 4), &Device::Cpu).unwrap();
    let out = agda.apply(&x, &attn, &mut SeededRng::new(0)).unwrap();
    assert_eq!(out.images.dims(), x.dims());
    assert_eq!(out.masks.dims(), &[3, 1, 64, 64]);
    assert_eq!(out.heads.len(), 3);
    let m = vec1(&out.masks);
    assert!(m.iter().all(|v| (0.0..=1.0).contains(v)));
    let (xi, xo) = (vec1(&x), vec1(&out.images));
    for b in 0..3 {
        if out.heads[b] == 1 {
            // Corner changed, the far corner (map 0 there) untouched.
            let corner = b * 3 * 4096;
            assert!((xi[corner] - xo[corner]).abs() > 1e-4);
            let far = b * 3 * 4096 + 4095;
            assert_eq!(xi[far], xo[far]);
            assert!(m[b * 4096] > 0.5);
        } else {
            // An all-zero map leaves the image as it was.
            assert_eq!(
                &xi[b * 3 * 4096..][..3 * 4096],
                &xo[b * 3 * 4096..][..3 * 4096]
            );
        }
    }
    // Heads are drawn ∝ √(ΣA + 1): √51 vs 1 → head 1 about 88 % of the time.
    let n1: usize = (0..50)
        .map(|s| {
            let o = agda.apply(&x, &attn, &mut SeededRng::new(s)).unwrap();
            o.heads.iter().filter(|&&h| h == 1).count()
        })
        .sum();
    assert!((110..=150).contains(&n1), "{n1} of 150");
    // Same generator, same augmentation.
    let a1 = agda.apply(&x, &attn, &mut SeededRng::new(5)).unwrap();
    let a2 = agda.apply(&x, &attn, &mut SeededRng::new(5)).unwrap();
    assert_eq!(vec1(&a1.images), vec1(&a2.images));
    // Bad input.
    assert!(agda
        .apply(&x, &attn.narrow(0, 0, 2).unwrap(), &mut SeededRng::new(0))
        .is_err());
    let neg = (attn.clone() * -1.0).unwrap();
    assert!(agda.apply(&x, &neg, &mut SeededRng::new(0)).is_err());
    assert!(Agda::new(&AgdaConfig {
        kernel_size: 4,
        ..AgdaConfig::default()
    })
    .is_err());
}

#[test]
fn agda_in_a_step_keeps_batch_and_labels() {
    // DeepfakeBench variant: AGDA replaces the batch; the step still sees B labels.
    let vm = VarMap::new();
    let mut mat = Mat::new(vb(&vm, 0), &MatConfig::tiny_deepfakebench()).unwrap();
    assert_eq!(mat.config().variant, MatVariant::DeepfakeBench);
    assert_eq!(mat.config().texture, TextureVersion::V1);
    let x = input(&[4, 3, 64, 64], 9);
    let out = mat
        .loss_step(&x, &labels(&[1, 1, 0, 0]), &mut SeededRng::new(0))
        .unwrap();
    assert_eq!(out.logits.dims(), &[4, 2]);
    // Wrong labels are errors, not panics.
    assert!(mat
        .loss_step(&x, &labels(&[1, 1, 0]), &mut SeededRng::new(0))
        .is_err());
    assert!(mat
        .loss_step(&x, &labels(&[1, 1, 0, 2]), &mut SeededRng::new(0))
        .is_err());
    assert!(mat
        .loss_step(
            &input(&[4, 4, 64, 64], 1),
            &labels(&[1, 1, 0, 0]),
            &mut SeededRng::new(0)
        )
        .is_err());
}

// ---------------------------------------------------------------- figure

#[test]
fn attention_figure_is_a_png_row() {
    let vm = VarMap::new();
    let mat = Mat::new(vb(&vm, 0), &MatConfig::tiny()).unwrap();
    let x = input(&[1, 3, 64, 64], 10);
    let maps = mat.attention_maps(&x).unwrap();
    let img01 = ((x.clamp(-1f32, 1f32).unwrap() + 1.0).unwrap() * 0.5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attention.png");
    save_attention_figure(&path, &img01.get(0).unwrap(), &maps.get(0).unwrap()).unwrap();
    let png = image::open(&path).unwrap().to_rgb8();
    // Image + 4 maps, 2-px gaps.
    assert_eq!(png.dimensions(), (5 * 64 + 4 * 2, 64));
    assert!(save_attention_figure(&path, &maps.get(0).unwrap(), &maps.get(0).unwrap()).is_err());
}

// ---------------------------------------------------------------- configs

#[test]
fn configs_round_trip_and_reject_bad_settings() {
    for cfg in [
        DetectorConfig::Mat(MatConfig::default()),
        DetectorConfig::Mat(MatConfig::deepfakebench()),
        DetectorConfig::Spsl(SpslConfig::default()),
        DetectorConfig::Vanilla(VanillaConfig::default()),
    ] {
        let json = serde_json::to_string(&cfg).unwrap();
        let back: DetectorConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
        back.validate().unwrap();
    }
    // Paper defaults.
    let mat = MatConfig::default();
    assert_eq!(mat.variant, MatVariant::Official);
    assert_eq!(
        (
            mat.num_attentions,
            mat.attention_layer.as_str(),
            mat.feature_layer.as_str()
        ),
        (4, "b5", "b2")
    );
    assert_eq!(mat.ril.intra_margin, [0.2, -0.8]);
    assert!(matches!(&mat.backbone, BackboneConfig::EfficientNet(e) if e.width_coefficient == 1.4));
    let dfb = MatConfig::deepfakebench();
    assert_eq!(
        (dfb.ril.inter_margin, dfb.ril.intra_margin),
        (0.2, [0.05, 0.1])
    );

    let unknown = r#"{"mat": {"num_attentions": 4, "bogus": 1}}"#;
    assert!(serde_json::from_str::<DetectorConfig>(unknown).is_err());
    let bad = [
        DetectorConfig::Mat(MatConfig {
            attention_layer: "b9".into(),
            ..MatConfig::tiny()
        }),
        DetectorConfig::Mat(MatConfig {
            num_attentions: 0,
            ..MatConfig::tiny()
        }),
        DetectorConfig::Mat(MatConfig {
            dropout_rate: 1.0,
            ..MatConfig::tiny()
        }),
        DetectorConfig::Spsl(SpslConfig {
            phase: false,
            ..SpslConfig::tiny()
        }),
        DetectorConfig::Vanilla(VanillaConfig {
            backbone: BackboneConfig::Xception(XceptionConfig {
                in_channels: 4,
                ..XceptionConfig::tiny()
            }),
        }),
    ];
    for cfg in bad {
        assert!(cfg.validate().is_err(), "{cfg:?}");
        assert!(cfg.build_seeded(0, &Device::Cpu).is_err());
    }
}
