//! Backbones: shapes, timm parameter names and counts, gradients, train/eval
//! semantics, determinism, input and configuration checks.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use candor_core::gradcheck::{assert_every_param_has_grad, is_buffer, project};
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::SeededRng;
use candor_forgery::model::{
    EfficientNet, EfficientNetConfig, FeatureMaps, Padding, Xception, XceptionConfig,
};

fn input(shape: &[usize], seed: u64) -> Tensor {
    SeededRng::new(seed)
        .normal_tensor(0.0, 1.0, shape, DType::F32, &Device::Cpu)
        .unwrap()
}

fn xception(cfg: &XceptionConfig, seed: u64) -> (VarMap, Xception) {
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
    let net = Xception::new(vb, cfg).unwrap();
    (vm, net)
}

fn effnet(cfg: &EfficientNetConfig, seed: u64) -> (VarMap, EfficientNet) {
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
    let net = EfficientNet::new(vb, cfg).unwrap();
    (vm, net)
}

/// name → shape of every variable.
fn shapes(vm: &VarMap) -> HashMap<String, Vec<usize>> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (n, v.dims().to_vec()))
        .collect()
}

/// Trainable parameters (PyTorch's `sum(p.numel() for p in model.parameters())`):
/// every variable except BatchNorm running statistics.
fn param_count(vm: &VarMap) -> usize {
    sorted_vars(vm)
        .into_iter()
        .filter(|(n, _)| !is_buffer(n))
        .map(|(_, v)| v.elem_count())
        .sum()
}

fn assert_keys(s: &HashMap<String, Vec<usize>>, expected: &[(&str, &[usize])], absent: &[&str]) {
    for (k, shape) in expected {
        let got = s.get(*k).unwrap_or_else(|| panic!("missing timm key {k}"));
        assert_eq!(got.as_slice(), *shape, "shape of {k}");
    }
    for k in absent {
        assert!(!s.contains_key(*k), "unexpected key {k}");
    }
    assert!(s.keys().all(|k| !k.contains("num_batches_tracked")));
}

fn spatial(taps: &FeatureMaps) -> Vec<(String, usize, usize)> {
    taps.iter()
        .map(|(n, t)| (n.to_string(), t.dims()[1], t.dims()[2]))
        .collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    candor_core::gradcheck::max_abs_diff(a, b).unwrap() as f32
}

fn snapshot(vm: &VarMap) -> Vec<(String, Vec<f32>)> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

// ---------------------------------------------------------------- Xception

#[test]
fn xception_tiny_shapes_and_taps() {
    let cfg = XceptionConfig::tiny();
    let (_, net) = xception(&cfg, 0);
    let x = input(&[2, 3, 64, 64], 1);
    let taps = net.forward_features_t(&x, false).unwrap();
    let info = net.feature_info();
    assert_eq!(
        taps.names(),
        ["b0", "b1", "b2", "b3", "b4", "b5", "b12", "final"]
    );
    // 64 → conv1 31 → conv2 29 → 15 → 8 → 4 → (middle) 4 → 2.
    let sizes = [29, 15, 8, 4, 4, 4, 2, 2];
    for ((name, c, h), (fi, s)) in spatial(&taps).into_iter().zip(info.iter().zip(sizes)) {
        assert_eq!(name, fi.name);
        assert_eq!(c, fi.channels, "{name}");
        assert_eq!(h, s, "{name}");
    }
    // Widths ÷ 16: 64 → 4, 728 → 46 (rounded), 2048 → 128.
    assert_eq!(info[0].channels, 4);
    assert_eq!(info[3].channels, 46);
    assert_eq!(net.num_features(), 128);
    let logits = net.forward_head(taps.last(), false).unwrap();
    assert_eq!(logits.dims(), &[2, 2]);
    assert_eq!(net.forward_t(&x, true).unwrap().dims(), &[2, 2]);
    // Smallest accepted input: 32 (exit flow at 1×1).
    let small = net
        .forward_features_t(&input(&[2, 3, 32, 32], 2), true)
        .unwrap();
    assert_eq!(small.require("final").unwrap().dims()[2..], [1, 1]);
}

#[test]
fn spsl_shallow_xception_has_no_middle_flow() {
    let cfg = XceptionConfig {
        width_multiplier: 1.0 / 16.0,
        num_classes: 1,
        ..XceptionConfig::spsl()
    };
    assert_eq!((cfg.in_channels, cfg.middle_blocks), (4, 0));
    let (vm, net) = xception(&cfg, 0);
    let taps = net
        .forward_features_t(&input(&[2, 4, 48, 40], 1), true)
        .unwrap();
    assert_eq!(taps.names(), ["b0", "b1", "b2", "b3", "b12", "final"]);
    assert!(taps.get("b4").is_none());
    assert!(taps.require("b7").is_err());
    let logits = net.forward_head(taps.last(), true).unwrap();
    assert_eq!(logits.dims(), &[2, 1]);
    let s = shapes(&vm);
    assert_eq!(s["conv1.weight"], [2, 4, 3, 3]);
    assert!(s.keys().all(|k| !k.starts_with("block4.")));
    assert!(s.contains_key("block12.skip.weight"));
}

#[test]
fn xception_timm_names_and_parameter_count() {
    let (vm, _) = xception(&XceptionConfig::imagenet(), 0);
    let s = shapes(&vm);
    let bn = |p: &str, c: usize| -> Vec<(String, Vec<usize>)> {
        ["weight", "bias", "running_mean", "running_var"]
            .iter()
            .map(|f| (format!("{p}.{f}"), vec![c]))
            .collect()
    };
    let mut expected: Vec<(String, Vec<usize>)> = vec![
        ("conv1.weight".into(), vec![32, 3, 3, 3]),
        ("conv2.weight".into(), vec![64, 32, 3, 3]),
        ("block1.skip.weight".into(), vec![128, 64, 1, 1]),
        ("block1.rep.0.conv1.weight".into(), vec![64, 1, 3, 3]),
        ("block1.rep.0.pointwise.weight".into(), vec![128, 64, 1, 1]),
        ("block1.rep.3.conv1.weight".into(), vec![128, 1, 3, 3]),
        ("block1.rep.3.pointwise.weight".into(), vec![128, 128, 1, 1]),
        ("block2.skip.weight".into(), vec![256, 128, 1, 1]),
        ("block2.rep.1.conv1.weight".into(), vec![128, 1, 3, 3]),
        ("block2.rep.1.pointwise.weight".into(), vec![256, 128, 1, 1]),
        ("block2.rep.4.pointwise.weight".into(), vec![256, 256, 1, 1]),
        ("block3.rep.1.pointwise.weight".into(), vec![728, 256, 1, 1]),
        ("block3.rep.4.conv1.weight".into(), vec![728, 1, 3, 3]),
        ("block4.rep.1.conv1.weight".into(), vec![728, 1, 3, 3]),
        ("block4.rep.4.pointwise.weight".into(), vec![728, 728, 1, 1]),
        ("block4.rep.7.pointwise.weight".into(), vec![728, 728, 1, 1]),
        ("block11.rep.7.conv1.weight".into(), vec![728, 1, 3, 3]),
        ("block12.skip.weight".into(), vec![1024, 728, 1, 1]),
        ("block12.rep.1.conv1.weight".into(), vec![728, 1, 3, 3]),
        (
            "block12.rep.1.pointwise.weight".into(),
            vec![728, 728, 1, 1],
        ),
        ("block12.rep.4.conv1.weight".into(), vec![728, 1, 3, 3]),
        (
            "block12.rep.4.pointwise.weight".into(),
            vec![1024, 728, 1, 1],
        ),
        ("conv3.conv1.weight".into(), vec![1024, 1, 3, 3]),
        ("conv3.pointwise.weight".into(), vec![1536, 1024, 1, 1]),
        ("conv4.conv1.weight".into(), vec![1536, 1, 3, 3]),
        ("conv4.pointwise.weight".into(), vec![2048, 1536, 1, 1]),
        ("fc.weight".into(), vec![1000, 2048]),
        ("fc.bias".into(), vec![1000]),
    ];
    for (p, c) in [
        ("bn1", 32),
        ("bn2", 64),
        ("block1.skipbn", 128),
        ("block1.rep.1", 128),
        ("block1.rep.4", 128),
        ("block2.rep.2", 256),
        ("block2.rep.5", 256),
        ("block3.skipbn", 728),
        ("block4.rep.2", 728),
        ("block4.rep.5", 728),
        ("block4.rep.8", 728),
        ("block11.rep.8", 728),
        ("block12.skipbn", 1024),
        ("block12.rep.2", 728),
        ("block12.rep.5", 1024),
        ("bn3", 1536),
        ("bn4", 2048),
    ] {
        expected.extend(bn(p, c));
    }
    let expected: Vec<(&str, &[usize])> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    assert_keys(
        &s,
        &expected,
        &[
            "block4.skip.weight",
            "block4.skipbn.weight",
            "block1.rep.2.weight",
            "block12.rep.0.conv1.weight",
            "block13.rep.1.conv1.weight",
            "last_linear.weight",
        ],
    );
    // Every name is one of timm's: stem, blocks 1–12, conv3/4, bn3/4, fc.
    for k in s.keys() {
        let head = k.split('.').next().unwrap();
        let ok = matches!(
            head,
            "conv1" | "bn1" | "conv2" | "bn2" | "conv3" | "bn3" | "conv4" | "bn4" | "fc"
        ) || head
            .strip_prefix("block")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| (1..=12).contains(&n));
        assert!(ok, "unexpected key {k}");
    }
    // timm `xception` (1000 classes): 22,855,952 parameters.
    assert_eq!(param_count(&vm), 22_855_952);
}

// ------------------------------------------------------------ EfficientNet

#[test]
fn efficientnet_tiny_shapes_and_taps() {
    let cfg = EfficientNetConfig::tiny();
    assert_eq!(cfg.stage_repeats(), [1, 1, 1, 2, 2, 2, 1]);
    let (_, net) = effnet(&cfg, 0);
    let info = net.feature_info();
    let chans: Vec<usize> = info.iter().map(|f| f.channels).collect();
    assert_eq!(chans, [8, 8, 8, 16, 24, 32, 48, 80, 320]);
    let reds: Vec<usize> = info.iter().map(|f| f.reduction).collect();
    assert_eq!(reds, [2, 2, 4, 8, 16, 16, 32, 32, 32]);
    for (size, expect) in [
        (64usize, [32usize, 32, 16, 8, 4, 4, 2, 2, 2]),
        // TF-"same": ⌈in / stride⌉ at every stride-2 layer.
        (65, [33, 33, 17, 9, 5, 5, 3, 3, 3]),
    ] {
        let x = input(&[2, 3, size, size + 2], 1);
        let taps = net.forward_features_t(&x, true).unwrap();
        assert_eq!(
            taps.names(),
            ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "final"]
        );
        for ((name, t), (fi, h)) in taps.iter().zip(info.iter().zip(expect)) {
            assert_eq!(name, fi.name);
            assert_eq!(t.dims()[1], fi.channels, "{name}");
            assert_eq!(t.dims()[2], h, "{name} at {size}");
            assert_eq!(
                t.dims()[3],
                (size + 2).div_ceil(fi.reduction),
                "{name} width"
            );
        }
        let logits = net.forward_head(taps.last(), true).unwrap();
        assert_eq!(logits.dims(), &[2, 2]);
    }
    // Symmetric (PyTorch-style) padding gives the same sizes on these inputs.
    let sym = EfficientNetConfig {
        padding: Padding::Symmetric,
        ..cfg
    };
    let (_, net) = effnet(&sym, 0);
    let taps = net
        .forward_features_t(&input(&[2, 3, 65, 64], 1), false)
        .unwrap();
    let hs: Vec<usize> = taps.iter().map(|(_, t)| t.dims()[2]).collect();
    assert_eq!(hs, [33, 33, 17, 9, 5, 5, 3, 3, 3]);
    assert_eq!(
        net.forward_t(&input(&[1, 3, 32, 32], 3), false)
            .unwrap()
            .dims(),
        &[1, 2]
    );
}

#[test]
fn efficientnet_b0_timm_names_and_parameter_count() {
    let cfg = EfficientNetConfig {
        num_classes: 1000,
        ..EfficientNetConfig::b0()
    };
    let (vm, _) = effnet(&cfg, 0);
    let s = shapes(&vm);
    let expected: &[(&str, &[usize])] = &[
        ("conv_stem.weight", &[32, 3, 3, 3]),
        ("bn1.weight", &[32]),
        ("bn1.bias", &[32]),
        ("bn1.running_mean", &[32]),
        ("bn1.running_var", &[32]),
        ("blocks.0.0.conv_dw.weight", &[32, 1, 3, 3]),
        ("blocks.0.0.bn1.weight", &[32]),
        ("blocks.0.0.se.conv_reduce.weight", &[8, 32, 1, 1]),
        ("blocks.0.0.se.conv_reduce.bias", &[8]),
        ("blocks.0.0.se.conv_expand.weight", &[32, 8, 1, 1]),
        ("blocks.0.0.se.conv_expand.bias", &[32]),
        ("blocks.0.0.conv_pw.weight", &[16, 32, 1, 1]),
        ("blocks.0.0.bn2.running_var", &[16]),
        ("blocks.1.0.conv_pw.weight", &[96, 16, 1, 1]),
        ("blocks.1.0.bn1.weight", &[96]),
        ("blocks.1.0.conv_dw.weight", &[96, 1, 3, 3]),
        ("blocks.1.0.bn2.bias", &[96]),
        ("blocks.1.0.se.conv_reduce.weight", &[4, 96, 1, 1]),
        ("blocks.1.0.se.conv_expand.weight", &[96, 4, 1, 1]),
        ("blocks.1.0.conv_pwl.weight", &[24, 96, 1, 1]),
        ("blocks.1.0.bn3.running_mean", &[24]),
        ("blocks.1.1.conv_pw.weight", &[144, 24, 1, 1]),
        ("blocks.1.1.se.conv_reduce.weight", &[6, 144, 1, 1]),
        ("blocks.2.0.conv_dw.weight", &[144, 1, 5, 5]),
        ("blocks.2.1.conv_dw.weight", &[240, 1, 5, 5]),
        ("blocks.3.0.conv_dw.weight", &[240, 1, 3, 3]),
        ("blocks.3.2.conv_pwl.weight", &[80, 480, 1, 1]),
        ("blocks.4.0.conv_dw.weight", &[480, 1, 5, 5]),
        ("blocks.4.2.se.conv_reduce.weight", &[28, 672, 1, 1]),
        ("blocks.5.0.conv_pwl.weight", &[192, 672, 1, 1]),
        ("blocks.5.3.conv_pwl.weight", &[192, 1152, 1, 1]),
        ("blocks.6.0.conv_dw.weight", &[1152, 1, 3, 3]),
        ("blocks.6.0.se.conv_expand.bias", &[1152]),
        ("blocks.6.0.conv_pwl.weight", &[320, 1152, 1, 1]),
        ("blocks.6.0.bn3.weight", &[320]),
        ("conv_head.weight", &[1280, 320, 1, 1]),
        ("bn2.weight", &[1280]),
        ("bn2.running_var", &[1280]),
        ("classifier.weight", &[1000, 1280]),
        ("classifier.bias", &[1000]),
    ];
    assert_keys(
        &s,
        expected,
        &[
            "blocks.0.0.conv_pwl.weight",
            "blocks.0.0.bn3.weight",
            "blocks.0.1.conv_dw.weight",
            "blocks.6.1.conv_pw.weight",
            "blocks.7.0.conv_pw.weight",
            "_conv_stem.weight",
        ],
    );
    // timm `efficientnet_b0` / `tf_efficientnet_b0` (1000 classes): 5,288,548.
    assert_eq!(param_count(&vm), 5_288_548);
}

#[test]
fn efficientnet_b4_is_mats_backbone() {
    let cfg = EfficientNetConfig::default();
    assert_eq!(cfg, EfficientNetConfig::mat());
    assert_eq!(cfg.stage_repeats(), [2, 4, 4, 6, 6, 8, 2]);
    assert_eq!(cfg.tap_block_indices(), [1, 5, 9, 15, 21, 29, 31]);
    let chans: Vec<usize> = cfg.feature_info().iter().map(|f| f.channels).collect();
    assert_eq!(chans, [48, 24, 32, 56, 112, 160, 272, 448, 1792]);
    let (vm, _) = effnet(
        &EfficientNetConfig {
            num_classes: 1000,
            ..cfg
        },
        0,
    );
    let s = shapes(&vm);
    assert_keys(
        &s,
        &[
            ("conv_stem.weight", &[48, 3, 3, 3]),
            ("blocks.0.0.conv_dw.weight", &[48, 1, 3, 3]),
            ("blocks.0.0.se.conv_reduce.weight", &[12, 48, 1, 1]),
            ("blocks.0.1.conv_dw.weight", &[24, 1, 3, 3]),
            ("blocks.0.1.conv_pw.weight", &[24, 24, 1, 1]),
            ("blocks.1.3.conv_pwl.weight", &[32, 192, 1, 1]),
            ("blocks.4.5.conv_dw.weight", &[960, 1, 5, 5]),
            ("blocks.5.7.conv_pwl.weight", &[272, 1632, 1, 1]),
            ("blocks.6.1.conv_pwl.weight", &[448, 2688, 1, 1]),
            ("conv_head.weight", &[1792, 448, 1, 1]),
            ("classifier.weight", &[1000, 1792]),
        ],
        &["blocks.0.2.conv_dw.weight", "blocks.5.8.conv_pw.weight"],
    );
    // timm `tf_efficientnet_b4` (1000 classes): 19,341,616.
    assert_eq!(param_count(&vm), 19_341_616);
    // B1–B3 widths/depths.
    assert_eq!(
        EfficientNetConfig::b1().stage_repeats(),
        [2, 3, 3, 4, 4, 5, 2]
    );
    assert_eq!(EfficientNetConfig::b2().round_filters(1280), 1408);
    assert_eq!(EfficientNetConfig::b3().round_filters(1280), 1536);
    assert_eq!(EfficientNetConfig::b3().round_filters(32), 40);
    assert!(EfficientNetConfig::variant(5).is_err());
}

// ------------------------------------------------------------------- both

#[test]
fn every_parameter_gets_a_gradient() {
    let cfg = XceptionConfig::tiny();
    let (vm, net) = xception(&cfg, 0);
    let y = net.forward_t(&input(&[2, 3, 64, 64], 1), true).unwrap();
    assert_every_param_has_grad(&vm, &project(&y).unwrap());

    let cfg = EfficientNetConfig {
        drop_connect_rate: 0.0,
        ..EfficientNetConfig::tiny()
    };
    let (vm, net) = effnet(&cfg, 0);
    let y = net.forward_t(&input(&[2, 3, 64, 64], 1), true).unwrap();
    assert_every_param_has_grad(&vm, &project(&y).unwrap());
}

/// Checks train/eval semantics for a network without dropout: evaluation is
/// per-sample and leaves every variable unchanged; training couples the batch
/// (BN batch statistics) and moves only the running statistics; repeated calls
/// with the same input agree.
fn check_train_eval(vm: &VarMap, f: &dyn Fn(&Tensor, bool) -> Tensor, channels: usize) {
    let x = input(&[3, channels, 32, 32], 5);
    let before = snapshot(vm);
    let e3 = f(&x, false);
    let e1 = f(&x.narrow(0, 0, 1).unwrap(), false);
    assert!(max_abs_diff(&e3.narrow(0, 0, 1).unwrap(), &e1) < 1e-5);
    assert_eq!(max_abs_diff(&e3, &f(&x, false)), 0.0);
    assert_eq!(snapshot(vm), before, "eval mode changed a variable");

    let t3 = f(&x, true);
    let t2 = f(&x.narrow(0, 0, 2).unwrap(), true);
    assert!(
        max_abs_diff(&t3.narrow(0, 0, 1).unwrap(), &t2.narrow(0, 0, 1).unwrap()) > 1e-4,
        "training mode should use batch statistics"
    );
    assert_eq!(max_abs_diff(&t3, &f(&x, true)), 0.0);
    assert!(max_abs_diff(&t3, &e3) > 1e-4);
    let after = snapshot(vm);
    for ((n, a), (_, b)) in before.iter().zip(after.iter()) {
        if n.ends_with("running_mean") {
            assert_ne!(a, b, "{n} not updated in training mode");
        } else if !n.ends_with("running_var") {
            assert_eq!(a, b, "{n} changed in a forward pass");
        }
    }
}

#[test]
fn train_and_eval_differ_only_through_batchnorm_and_dropout() {
    // Xception: no dropout.
    let (vm, net) = xception(&XceptionConfig::tiny(), 0);
    check_train_eval(&vm, &|x, t| net.forward_t(x, t).unwrap(), 3);
    // EfficientNet: no stochastic depth, no dropout.
    let plain = EfficientNetConfig {
        drop_connect_rate: 0.0,
        dropout_rate: 0.0,
        ..EfficientNetConfig::tiny()
    };
    let (vm, net) = effnet(&plain, 0);
    check_train_eval(&vm, &|x, t| net.forward_t(x, t).unwrap(), 3);

    // With dropout / stochastic depth: the same weights; evaluation unchanged,
    // training noisy, reproducible after `reseed`.
    let x = input(&[3, 3, 32, 32], 6);
    let noisy = EfficientNetConfig {
        drop_connect_rate: 0.5,
        dropout_rate: 0.5,
        ..plain.clone()
    };
    let (_, a) = effnet(&plain, 0);
    let (_, b) = effnet(&noisy, 0);
    assert_eq!(
        max_abs_diff(
            &a.forward_t(&x, false).unwrap(),
            &b.forward_t(&x, false).unwrap()
        ),
        0.0
    );
    let ta = a.forward_t(&x, true).unwrap();
    b.reseed(7);
    let tb1 = b.forward_t(&x, true).unwrap();
    let tb2 = b.forward_t(&x, true).unwrap();
    assert!(max_abs_diff(&ta, &tb1) > 1e-4);
    assert!(
        max_abs_diff(&tb1, &tb2) > 1e-4,
        "masks should change per call"
    );
    b.reseed(7);
    assert_eq!(max_abs_diff(&tb1, &b.forward_t(&x, true).unwrap()), 0.0);

    let xd = XceptionConfig {
        dropout: 0.5,
        ..XceptionConfig::tiny()
    };
    let (_, a) = xception(&XceptionConfig::tiny(), 0);
    let (_, b) = xception(&xd, 0);
    assert_eq!(
        max_abs_diff(
            &a.forward_t(&x, false).unwrap(),
            &b.forward_t(&x, false).unwrap()
        ),
        0.0
    );
    assert!(
        max_abs_diff(
            &a.forward_t(&x, true).unwrap(),
            &b.forward_t(&x, true).unwrap()
        ) > 1e-4
    );
}

#[test]
fn same_seed_same_output() {
    let x = input(&[2, 3, 32, 32], 8);
    let run_x = |seed| {
        let (_, n) = xception(&XceptionConfig::tiny(), seed);
        (
            n.forward_t(&x, false).unwrap(),
            n.forward_t(&x, true).unwrap(),
        )
    };
    let (a, at) = run_x(11);
    let (b, bt) = run_x(11);
    let (c, _) = run_x(12);
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert_eq!(max_abs_diff(&at, &bt), 0.0);
    assert!(max_abs_diff(&a, &c) > 1e-6);

    let run_e = |seed| {
        let (_, n) = effnet(&EfficientNetConfig::tiny(), seed);
        n.reseed(3);
        (
            n.forward_t(&x, false).unwrap(),
            n.forward_t(&x, true).unwrap(),
        )
    };
    let (a, at) = run_e(11);
    let (b, bt) = run_e(11);
    let (c, _) = run_e(12);
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert_eq!(max_abs_diff(&at, &bt), 0.0);
    assert!(max_abs_diff(&a, &c) > 1e-6);
}

type Forward<'a> = dyn Fn(&Tensor) -> candor_forgery::Result<Tensor> + 'a;

#[test]
fn bad_inputs_are_errors() {
    let (_, xn) = xception(&XceptionConfig::tiny(), 0);
    let (_, en) = effnet(&EfficientNetConfig::tiny(), 0);
    let msg = |r: candor_forgery::Result<Tensor>| r.unwrap_err().to_string();
    let nets: [&Forward; 2] = [&|x| xn.forward_t(x, false), &|x| en.forward_t(x, false)];
    for f in nets {
        let m = msg(f(&input(&[2, 4, 64, 64], 0)));
        assert!(m.contains("3 input channels") && m.contains("has 4"), "{m}");
        let m = msg(f(&input(&[2, 3, 31, 64], 0)));
        assert!(m.contains("at least 32×32") && m.contains("31×64"), "{m}");
        let m = msg(f(&input(&[3, 64, 64], 0)));
        assert!(m.contains("(N, C, H, W)"), "{m}");
        let m = msg(f(&input(&[0, 3, 64, 64], 0)));
        assert!(m.contains("empty batch"), "{m}");
        let m = msg(f(&input(&[1, 3, 64, 64], 0).to_dtype(DType::F64).unwrap()));
        assert!(m.contains("F64") && m.contains("F32"), "{m}");
    }
    // Training mode with one value per channel: BatchNorm's error, not a panic.
    assert!(xn.forward_t(&input(&[1, 3, 32, 32], 0), true).is_err());
    let taps = en
        .forward_features_t(&input(&[1, 3, 64, 64], 0), false)
        .unwrap();
    let m = taps.require("b9").unwrap_err().to_string();
    assert!(m.contains("b9") && m.contains("final"), "{m}");
}

#[test]
fn bad_configs_are_rejected() {
    let bad_x = [
        XceptionConfig {
            middle_blocks: 9,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            in_channels: 0,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            num_classes: 0,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            width_multiplier: 0.0,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            width_multiplier: f64::NAN,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            dropout: 1.0,
            ..XceptionConfig::default()
        },
        XceptionConfig {
            bn_eps: 0.0,
            ..XceptionConfig::default()
        },
    ];
    for c in &bad_x {
        assert!(c.validate().is_err(), "{c:?}");
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
        assert!(Xception::new(vb, c).is_err());
    }
    let bad_e = [
        EfficientNetConfig {
            width_coefficient: -1.0,
            ..EfficientNetConfig::tiny()
        },
        EfficientNetConfig {
            depth_coefficient: 0.0,
            ..EfficientNetConfig::tiny()
        },
        EfficientNetConfig {
            channel_divisor: 0,
            ..EfficientNetConfig::tiny()
        },
        EfficientNetConfig {
            drop_connect_rate: 1.5,
            ..EfficientNetConfig::tiny()
        },
        EfficientNetConfig {
            bn_momentum: 2.0,
            ..EfficientNetConfig::tiny()
        },
        EfficientNetConfig {
            in_channels: 0,
            ..EfficientNetConfig::tiny()
        },
    ];
    for c in &bad_e {
        assert!(c.validate().is_err(), "{c:?}");
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
        assert!(EfficientNet::new(vb, c).is_err());
    }
}

#[test]
fn configs_round_trip_through_json_and_reject_unknown_keys() {
    let x = XceptionConfig::spsl();
    let back: XceptionConfig = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
    assert_eq!(back, x);
    let partial: XceptionConfig = serde_json::from_str(r#"{"in_channels": 4}"#).unwrap();
    assert_eq!(partial.middle_blocks, 8);
    assert!(serde_json::from_str::<XceptionConfig>(r#"{"middle": 0}"#).is_err());

    let e = EfficientNetConfig::tiny();
    let s = serde_json::to_string(&e).unwrap();
    assert!(s.contains("\"tf_same\""), "{s}");
    let back: EfficientNetConfig = serde_json::from_str(&s).unwrap();
    assert_eq!(back, e);
    let sym: EfficientNetConfig = serde_json::from_str(r#"{"padding": "symmetric"}"#).unwrap();
    assert_eq!(sym.padding, Padding::Symmetric);
    assert_eq!(sym.width_coefficient, 1.4);
    assert!(serde_json::from_str::<EfficientNetConfig>(r#"{"width": 1.0}"#).is_err());
}
