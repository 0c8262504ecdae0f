//! The network, losses, patch selection, paste-back and the three training stages.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::gradcheck::assert_every_param_has_grad;
use candor_core::init::seeded_var_builder;
use candor_matting::loss::{
    alpha_loss, laplace_nll, refine_loss, regression_loss, AlphaLossConfig, RefineLossConfig,
};
use candor_matting::model::{MattingNet, NetConfig, RefineConfig, RefineNet};
use candor_matting::refine::{paste_windows, patch_size, select_windows, Window};
use candor_matting::train::{train_alpha, train_refine, train_sigma, TrainConfig};

fn t(v: &[f32], shape: (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

fn scalar(x: &Tensor) -> f32 {
    x.to_scalar::<f32>().unwrap()
}

#[test]
fn laplace_nll_and_its_gradient_on_hand_values() {
    // errors |α_g − α_p| = 0.1, 0.5, 0.0, 0.3; σ = 0.1, 0.25, 0.5, 1.0
    let ap = t(&[0.2, 0.5, 1.0, 0.0], (1, 1, 2, 2));
    let ag = t(&[0.3, 0.0, 1.0, 0.3], (1, 1, 2, 2));
    let s = [0.1f32, 0.25, 0.5, 1.0];
    let e = [0.1f32, 0.5, 0.0, 0.3];
    let sigma = Var::from_tensor(&t(&s, (1, 1, 2, 2))).unwrap();
    let loss = laplace_nll(&ap, sigma.as_tensor(), &ag).unwrap();
    let want: f32 = (0..4).map(|i| s[i].ln() + e[i] / s[i]).sum::<f32>() / 4.0;
    assert!(
        (scalar(&loss) - want).abs() < 1e-5,
        "{} vs {want}",
        scalar(&loss)
    );
    // d/dσ = (1/σ − |e|/σ²)/4; zero at σ = |e| (the Laplace MLE of the scale).
    let g = loss.backward().unwrap();
    let gs = g
        .get(&sigma)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for i in 0..4 {
        let want = (1.0 / s[i] - e[i] / (s[i] * s[i])) / 4.0;
        assert!(
            (gs[i] - want).abs() < 1e-4,
            "pixel {i}: {} vs {want}",
            gs[i]
        );
    }
    // α_p is frozen: no gradient flows to it.
    let apv = Var::from_tensor(&ap).unwrap();
    let l2 = laplace_nll(apv.as_tensor(), &t(&s, (1, 1, 2, 2)), &ag).unwrap();
    assert!(l2.backward().unwrap().get(&apv).is_none());
}

#[test]
fn regression_and_refinement_losses_on_hand_values() {
    // T = {0.5}, S = {0, 1, 1}.
    let gt = t(&[0.0, 0.5, 1.0, 1.0], (1, 1, 2, 2));
    let pred = t(&[0.2, 0.3, 1.0, 0.6], (1, 1, 2, 2));
    let want = 0.2 + (0.04 + 0.0 + 0.16) / 3.0;
    assert!((scalar(&regression_loss(&pred, &gt).unwrap()) - want).abs() < 1e-6);
    // Refinement: 5 pixels, top 20 % = the single largest error 0.4.
    let gt = t(&[0.0, 0.0, 0.0, 0.0, 0.0], (1, 1, 1, 5));
    let pred = t(&[0.1, 0.4, 0.0, 0.2, 0.3], (1, 1, 1, 5));
    let cfg = RefineLossConfig::default();
    let l = scalar(&refine_loss(&pred, &gt, &cfg).unwrap());
    assert!((l - (0.2 + 0.4)).abs() < 1e-6, "{l}");
    assert!(alpha_loss(
        &pred,
        &t(&[0.0; 4], (1, 1, 2, 2)),
        &AlphaLossConfig::default()
    )
    .is_err());
}

#[test]
fn patch_selection_picks_the_highest_windows_without_overlap() {
    let (h, w, k) = (16usize, 16usize, 4usize);
    let mut s = vec![0f32; h * w];
    // A hot block at (2..6, 2..6), a warmer pixel just beside it, and a cold spot.
    for y in 2..6 {
        for x in 2..6 {
            s[y * w + x] = 1.0;
        }
    }
    s[6 * w + 6] = 3.0;
    s[12 * w + 13] = 0.5;
    let wins = select_windows(&s, h, w, k, 2, 8).unwrap();
    for (i, a) in wins.iter().enumerate() {
        for b in &wins[i + 1..] {
            assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
        }
    }
    // The block (sum 16) first; then the best window not overlapping it holds the 3.0.
    assert_eq!(wins[0], Window { y: 2, x: 2, k });
    // (ties between windows holding only the 3.0 go to the first in row-major order)
    assert_eq!(wins[1], Window { y: 4, x: 6, k });
    // The cold spot is chosen before any all-zero window.
    let cold = wins
        .iter()
        .position(|w| w.y <= 12 && w.y + k > 12 && w.x <= 13 && w.x + k > 13);
    assert!(cold.is_some(), "{wins:?}");
    assert_eq!(select_windows(&s, h, w, k, 2, 0).unwrap(), vec![]);
    assert!(select_windows(&s, h, w, 20, 2, 1).is_err());
    assert!(select_windows(&s[1..], h, w, k, 2, 1).is_err());
    assert_eq!(patch_size(128), 16);
    assert_eq!(patch_size(512), 64);
}

#[test]
fn paste_back_leaves_pixels_outside_the_patches_unchanged() {
    let (h, w) = (8usize, 10usize);
    let orig: Vec<f32> = (0..h * w).map(|i| i as f32 / 100.0).collect();
    let mut a = orig.clone();
    let wins = [Window { y: 1, x: 2, k: 3 }, Window { y: 5, x: 7, k: 3 }];
    let patches = vec![vec![-1.0; 9], vec![-2.0; 9]];
    paste_windows(&mut a, h, w, &wins, &patches).unwrap();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let inside = wins
                .iter()
                .position(|win| y >= win.y && y < win.y + win.k && x >= win.x && x < win.x + win.k);
            match inside {
                Some(p) => assert_eq!(a[i], -1.0 - p as f32),
                None => assert_eq!(a[i], orig[i]),
            }
        }
    }
    let bad = [Window { y: 6, x: 8, k: 3 }];
    assert!(paste_windows(&mut a, h, w, &bad, &[vec![0.0; 9]]).is_err());
    assert!(paste_windows(&mut a, h, w, &wins, &patches[..1]).is_err());
}

#[test]
fn bad_network_input_is_an_error() {
    let vm = VarMap::new();
    let net = MattingNet::new(
        &NetConfig::tiny(),
        seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let dev = Device::Cpu;
    // Three channels for a click network, a side not divisible by 4, a 3-D input.
    assert!(net
        .forward(
            &Tensor::zeros((1, 3, 16, 16), DType::F32, &dev).unwrap(),
            false,
            false
        )
        .is_err());
    assert!(net
        .forward(
            &Tensor::zeros((1, 4, 18, 16), DType::F32, &dev).unwrap(),
            false,
            false
        )
        .is_err());
    assert!(net
        .forward(
            &Tensor::zeros((4, 16, 16), DType::F32, &dev).unwrap(),
            false,
            false
        )
        .is_err());
    let bad = NetConfig {
        widths: vec![6, 8],
        groups: 4,
        ..NetConfig::tiny()
    };
    assert!(MattingNet::new(
        &bad,
        seeded_var_builder(&VarMap::new(), 0, DType::F32, &dev)
    )
    .is_err());
    let rvm = VarMap::new();
    let r = RefineNet::new(
        &RefineConfig {
            width: 8,
            depth: 1,
            groups: 2,
        },
        seeded_var_builder(&rvm, 0, DType::F32, &dev),
    )
    .unwrap();
    let rgb = Tensor::zeros((2, 3, 4, 4), DType::F32, &dev).unwrap();
    assert!(r
        .forward(
            &rgb,
            &Tensor::zeros((2, 1, 4, 5), DType::F32, &dev).unwrap()
        )
        .is_err());
}

#[test]
fn every_parameter_gets_a_gradient() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let net = MattingNet::new(
        &NetConfig::tiny(),
        seeded_var_builder(&vm, 0, DType::F32, &dev),
    )
    .unwrap();
    let x = candor_core::SeededRng::new(1)
        .normal_tensor(0.0, 1.0, &[2, 4, 16, 16], DType::F32, &dev)
        .unwrap();
    let out = net.forward(&x, true, false).unwrap();
    let loss = (out.alpha.sum_all().unwrap() + out.sigma.unwrap().sum_all().unwrap()).unwrap();
    assert_every_param_has_grad(&vm, &loss);
    let rvm = VarMap::new();
    let r = RefineNet::new(
        &RefineConfig {
            width: 8,
            depth: 2,
            groups: 2,
        },
        seeded_var_builder(&rvm, 0, DType::F32, &dev),
    )
    .unwrap();
    let rgb = x.narrow(1, 0, 3).unwrap();
    let coarse = candle_core::Tensor::full(0.3f32, (2, 1, 16, 16), &dev).unwrap();
    assert_every_param_has_grad(&rvm, &r.forward(&rgb, &coarse).unwrap().sum_all().unwrap());
}

fn tiny_cfg(steps: usize) -> TrainConfig {
    TrainConfig {
        batch: 4,
        alpha_steps: steps,
        sigma_steps: steps,
        refine_steps: steps,
        lr: 3e-3,
        checkpoint_every: 3,
        ..TrainConfig::at_size(32)
    }
}

#[test]
fn a_tiny_model_learns_the_proxy_and_resumes_exactly() {
    let dev = Device::Cpu;
    let cfg = tiny_cfg(60);
    let vm = VarMap::new();
    let net = MattingNet::new(
        &NetConfig::tiny(),
        seeded_var_builder(&vm, 0, DType::F32, &dev),
    )
    .unwrap();
    let losses = train_alpha(&net, &vm, &cfg, None).unwrap();
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&losses[..10]), mean(&losses[50..]));
    assert!(last < 0.85 * first, "alpha loss {first} → {last}");
    let sig = train_sigma(&net, &vm, &cfg, None).unwrap();
    assert!(mean(&sig[50..]) < mean(&sig[..10]), "σ loss {sig:?}");
    let rvm = VarMap::new();
    let rnet = RefineNet::new(
        &RefineConfig {
            width: 8,
            depth: 2,
            groups: 2,
        },
        seeded_var_builder(&rvm, 0, DType::F32, &dev),
    )
    .unwrap();
    let rcfg = TrainConfig {
        patches_per_image: 2,
        ..cfg.clone()
    };
    let rl = train_refine(&net, &rnet, &rvm, &rcfg, None).unwrap();
    assert_eq!(rl.len(), 60);
    assert!(rl.iter().all(|v| v.is_finite()));

    // Resume: 6 steps straight vs 3 (checkpointed) then 3 more, bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let run = |steps: usize, ckpt: &std::path::Path| {
        let vm = VarMap::new();
        let net = MattingNet::new(
            &NetConfig::tiny(),
            seeded_var_builder(&vm, 0, DType::F32, &dev),
        )
        .unwrap();
        let l = train_alpha(&net, &vm, &tiny_cfg(steps), Some(ckpt)).unwrap();
        (l, candor_core::init::sorted_vars(&vm))
    };
    let (straight, vs) = run(6, &dir.path().join("a.ckpt"));
    let p = dir.path().join("b.ckpt");
    run(3, &p);
    let (resumed, vr) = run(6, &p);
    assert_eq!(straight, resumed);
    for ((n, a), (_, b)) in vs.iter().zip(&vr) {
        let d = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "{n}");
    }
}

/// `train_model` (the `train` example's library call) writes what `load_model` (the
/// `matte` example's) reads, the loaded nets predict exactly like the trained ones,
/// and a rerun resumes every finished stage instead of retraining.
#[test]
fn train_model_saves_what_load_model_reads_and_resumes() {
    use candor_matting::clicks::{click_radius, Click};
    use candor_matting::data::rgb_tensor;
    use candor_matting::data::synth::{SynthClickMatte, SynthConfig};
    use candor_matting::infer::{load_model, predict, refine_prediction};
    use candor_matting::train::train_model;

    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let refine_cfg = RefineConfig {
        width: 8,
        depth: 2,
        groups: 2,
    };
    let cfg = tiny_cfg(4);
    let m = train_model(&NetConfig::tiny(), &refine_cfg, &cfg, dir.path(), &dev).unwrap();
    assert!(m.losses.iter().all(|l| l.len() == 4));
    let loaded = load_model(dir.path(), &dev).unwrap();
    assert_eq!(loaded.saved.size, 32);
    assert_eq!(loaded.saved.net, NetConfig::tiny());
    assert_eq!(loaded.saved.refine, refine_cfg);

    let s = SynthClickMatte::new(SynthConfig::with_size(32))
        .unwrap()
        .sample(3, 0)
        .unwrap();
    let x = rgb_tensor(&s.image, &dev).unwrap();
    let clicks = vec![vec![Click {
        y: 16,
        x: 16,
        foreground: true,
    }]];
    let r = click_radius(32);
    let a = predict(&m.net, std::slice::from_ref(&x), &clicks, r, true, 1).unwrap();
    let b = predict(&loaded.net, std::slice::from_ref(&x), &clicks, r, true, 1).unwrap();
    assert_eq!(a[0].alpha, b[0].alpha);
    assert_eq!(a[0].sigma, b[0].sigma);
    let ra = refine_prediction(&m.refine, &x, &a[0], 4, 2).unwrap();
    let rb = refine_prediction(&loaded.refine, &x, &b[0], 4, 2).unwrap();
    assert_eq!(ra, rb);

    // A rerun loads the finished stages: same losses, same weights.
    let again = train_model(&NetConfig::tiny(), &refine_cfg, &cfg, dir.path(), &dev).unwrap();
    assert_eq!(m.losses, again.losses);
    let c = predict(&again.net, std::slice::from_ref(&x), &clicks, r, true, 1).unwrap();
    assert_eq!(a[0].alpha, c[0].alpha);

    // A size the network cannot halve enough times is refused before training.
    let bad = TrainConfig {
        size: 30,
        ..cfg.clone()
    };
    let e = train_model(
        &NetConfig::tiny(),
        &refine_cfg,
        &bad,
        &dir.path().join("bad"),
        &dev,
    )
    .err()
    .expect("size 30 must fail");
    assert!(e.to_string().contains("multiple"), "{e}");
}
