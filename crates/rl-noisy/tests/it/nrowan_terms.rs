//! D (eq. 8) and k_t (eq. 12) on hand-made values, and the gradients of the NROWAN loss.

use candle_core::{Device, Tensor};
use candor_core::gradcheck::{assert_every_param_has_grad, assert_param_grads};
use candor_core::optim::sorted_vars;
use candor_core::SeededRng;
use candor_rl::{make, Action, ReplayBuffer};
use candor_rl_noisy::nrowan::online_weight;
use candor_rl_noisy::{Agent, Algo, Config, NoisyLinear, NrowanConfig};

#[test]
fn d_is_the_mean_abs_sigma_of_the_output_layer() {
    let dev = Device::Cpu;
    // p* = 2 inputs, N_a = 3 actions, stored (N_a, p*).
    let sw = Tensor::new(&[[0.1f32, 0.0], [-0.2, -0.4], [0.3, 0.5]], &dev).unwrap();
    let sb = Tensor::new(&[-0.6f32, 0.7, 0.0], &dev).unwrap();
    let mu_w = sw.zeros_like().unwrap();
    let mu_b = sb.zeros_like().unwrap();
    let l = NoisyLinear::from_tensors(mu_w, sw, mu_b, sb).unwrap();
    let d = l.noise_d().unwrap().to_scalar::<f32>().unwrap();
    // (Σ|σ_w| + Σ|σ_b|) / ((p* + 1)·N_a) = (1.5 + 1.3) / 9.
    assert!((d - 2.8 / 9.0).abs() < 1e-6, "D = {d}");
    let bad = Tensor::new(&[0.1f32; 2], &dev).unwrap();
    let (a, b) = (bad.zeros_like().unwrap(), bad.clone());
    let w = Tensor::new(&[[0.1f32], [0.2], [0.3]], &dev).unwrap();
    assert!(NoisyLinear::from_tensors(w.clone(), w, a, b).is_err());
}

#[test]
fn k_on_cartpole_ramps_and_clips() {
    let c = NrowanConfig {
        k_final: 4.0,
        r_inf: 0.0,
        r_sup: 200.0,
    };
    assert_eq!(c.k(0.0), 0.0);
    assert_eq!(c.k(100.0), 2.0);
    assert_eq!(c.k(200.0), 4.0);
    assert_eq!(c.k(350.0), 4.0); // clipped to k_final
    assert_eq!(c.k(-10.0), 0.0); // clipped to 0
}

#[test]
fn k_on_negative_reward_tasks_starts_high_and_falls() {
    // MountainCar: R = [−200, −90]; r⁺ = 0 is above R_sup, so k = k_final.
    let mc = NrowanConfig {
        k_final: 4.0,
        r_inf: -200.0,
        r_sup: -90.0,
    };
    assert_eq!(mc.k(0.0), 4.0);
    assert_eq!(mc.k(-90.0), 4.0);
    assert!((mc.k(-145.0) - 2.0).abs() < 1e-12);
    assert_eq!(mc.k(-200.0), 0.0);
    assert_eq!(mc.k(-250.0), 0.0);
    // Acrobot: R = [−500, −60].
    assert!((online_weight(-280.0, 4.0, -500.0, -60.0) - 2.0).abs() < 1e-12);
    assert!((online_weight(-390.0, 2.0, -500.0, -60.0) - 0.5).abs() < 1e-12);
    assert_eq!(online_weight(f64::NAN, 4.0, -500.0, -60.0), 0.0);
}

#[test]
fn k_is_zero_for_the_baselines() {
    for (algo, want) in [(Algo::Dqn, 0.0), (Algo::NoisyNet, 0.0), (Algo::Nrowan, 2.0)] {
        let a = Agent::new(&Config::tiny(algo), 4, 2, 0, &candle_core::Device::Cpu).unwrap();
        assert_eq!(a.k_weight(100.0), want, "{algo:?}");
    }
}

fn cartpole_batch(seed: u64) -> candor_rl::Batch {
    let mut env = make("CartPole-v0").unwrap();
    let mut buf = ReplayBuffer::for_env(500, env.as_ref()).unwrap();
    let mut rng = SeededRng::new(seed);
    let mut obs = env.reset(Some(seed));
    for _ in 0..300 {
        let a = Action::Discrete(rng.below(2));
        let s = env.step(&a).unwrap();
        buf.push(&obs, &a, s.reward, &s.obs, s.terminated).unwrap();
        obs = if s.done() { env.reset(None) } else { s.obs };
    }
    buf.sample(32, &mut rng, &Device::Cpu).unwrap()
}

#[test]
fn every_parameter_gets_a_gradient_from_the_nrowan_loss() {
    let mut agent = Agent::new(
        &Config::tiny(Algo::Nrowan),
        4,
        2,
        1,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let batch = cartpole_batch(1);
    let loss = agent.total_loss(&batch, 2.0).unwrap();
    assert_eq!(
        sorted_vars(agent.online_varmap()).len(),
        10,
        "fc1 (2) + two noisy layers (4 each)"
    );
    let grads = assert_every_param_has_grad(agent.online_varmap(), &loss);
    // The target net is not trained.
    assert_param_grads(agent.target_varmap(), &grads, &[""]);
}

#[test]
fn the_d_term_gradient_is_k_sign_sigma_over_count() {
    let agent = Agent::new(
        &Config::tiny(Algo::Nrowan),
        4,
        2,
        2,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let head = agent.online().head_noisy().unwrap();
    let d = agent.online().noise_d().unwrap().unwrap();
    let k = 3.0;
    let grads = d.affine(k, 0.0).unwrap().backward().unwrap();
    let count = ((head.in_features() + 1) * head.out_features()) as f32;
    for t in [head.sigma_weight(), head.sigma_bias()] {
        let g = grads
            .get(t)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // σ starts positive everywhere.
        assert!(g.iter().all(|v| (v - k as f32 / count).abs() < 1e-7));
    }
}

#[test]
fn default_optimiser_applies_k_d_as_a_plain_gradient_step() {
    // Same seed and batch: the Adam step on TD is identical, so the output σ of the
    // k = 2 agent is lower by exactly lr·k/count.
    let cfg = Config::tiny(Algo::Nrowan);
    let batch = cartpole_batch(3);
    let mut a = Agent::new(&cfg, 4, 2, 4, &candle_core::Device::Cpu).unwrap();
    let mut b = Agent::new(&cfg, 4, 2, 4, &candle_core::Device::Cpu).unwrap();
    a.update(&batch, 0.0).unwrap();
    let stats = b.update(&batch, 2.0).unwrap();
    assert_eq!(stats.k, 2.0);
    let count = ((cfg.net.hidden + 1) * 2) as f64;
    let step = cfg.optimizer.lr * 2.0 / count;
    let sa = a
        .online()
        .head_noisy()
        .unwrap()
        .sigma_weight()
        .flatten_all()
        .unwrap();
    let sb = b
        .online()
        .head_noisy()
        .unwrap()
        .sigma_weight()
        .flatten_all()
        .unwrap();
    let (sa, sb) = (sa.to_vec1::<f32>().unwrap(), sb.to_vec1::<f32>().unwrap());
    for (x, y) in sa.iter().zip(&sb) {
        assert!((f64::from(x - y) - step).abs() < 1e-7, "{x} − {y} ≠ {step}");
    }
    // Hidden-layer σ is untouched by D.
    let ha = a
        .online()
        .hidden_noisy()
        .unwrap()
        .sigma_weight()
        .flatten_all()
        .unwrap();
    let hb = b
        .online()
        .hidden_noisy()
        .unwrap()
        .sigma_weight()
        .flatten_all()
        .unwrap();
    assert_eq!(ha.to_vec1::<f32>().unwrap(), hb.to_vec1::<f32>().unwrap());
}
