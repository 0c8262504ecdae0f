//! The TD target and the update's pieces on hand-made numbers: clipped double Q,
//! termination vs truncation, target-policy smoothing, which parameters each step
//! changes, and Polyak averaging.

use candle_core::{Device, Tensor};
use candor_core::SeededRng;
use candor_rl::{Agent, Batch};
use candor_rl_ddpg::{smoothed_target_action, td_target, Config, Ddpg, LearnerConfig, Preset};

fn t1(v: &[f32]) -> Tensor {
    Tensor::new(v, &Device::Cpu).unwrap()
}

/// TD3 eq. 10 by hand: y = r + γ(1 − d)·min(q₁, q₂).
#[test]
fn clipped_double_q_target_on_hand_made_numbers() {
    let r = t1(&[1.0, -2.0, 0.5, 3.0]);
    let d = t1(&[0.0, 0.0, 1.0, 0.0]);
    let q1 = t1(&[10.0, -4.0, 100.0, 2.0]);
    let q2 = t1(&[12.0, -6.0, -100.0, 2.0]);
    let y = td_target(&r, &d, &[q1.clone(), q2], 0.99)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // 1 + 0.99·10 = 10.9; −2 + 0.99·(−6) = −7.94; terminated: 0.5; 3 + 0.99·2 = 4.98
    let want = [10.9, -7.94, 0.5, 4.98];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{y:?}");
    }
    // One critic: DDPG's target.
    let y = td_target(&r, &d, &[q1], 0.5)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(y, vec![6.0, -4.0, 0.5, 4.0]);
    // Shapes must agree; at least one critic.
    assert!(td_target(&r, &d, &[], 0.9).is_err());
    assert!(td_target(&r, &t1(&[0.0]), &[t1(&[1.0; 4])], 0.9).is_err());
}

#[test]
fn smoothing_clips_the_noise_then_the_action() {
    let a = Tensor::new(&[[0.0f32, 0.9], [-0.95, 0.2]], &Device::Cpu).unwrap();
    let eps = Tensor::new(&[[0.6f32, 0.3], [-0.2, -0.1]], &Device::Cpu).unwrap();
    let s = smoothed_target_action(&a, &eps, 0.5).unwrap();
    let got = s.to_vec2::<f32>().unwrap();
    let want = [[0.5, 1.0], [-1.0, 0.1]];
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    assert!(smoothed_target_action(&a, &t1(&[0.0]), 0.5).is_err());
}

fn tiny(preset: Preset) -> LearnerConfig {
    let mut c = Config::preset(preset, "Pendulum-v1").learner;
    c.actor.hidden = vec![8, 8];
    c.critic.hidden = vec![8, 8];
    c
}

fn batch(n: usize, seed: u64) -> Batch {
    let mut rng = SeededRng::new(seed);
    let dev = Device::Cpu;
    let dones: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { 1.0 } else { 0.0 }).collect();
    Batch {
        obs: rng
            .normal_tensor(0.0, 1.0, (n, 3), candle_core::DType::F32, &dev)
            .unwrap(),
        actions: rng
            .uniform_tensor(-1.0, 1.0, (n, 1), candle_core::DType::F32, &dev)
            .unwrap(),
        rewards: rng
            .normal_tensor(0.0, 1.0, n, candle_core::DType::F32, &dev)
            .unwrap(),
        next_obs: rng
            .normal_tensor(0.0, 1.0, (n, 3), candle_core::DType::F32, &dev)
            .unwrap(),
        dones: Tensor::from_vec(dones, n, &dev).unwrap(),
    }
}

/// `Ddpg::target` is eq. 10 on the target networks' own outputs (no smoothing here).
#[test]
fn learner_target_is_the_formula_on_the_target_networks() {
    let mut cfg = tiny(Preset::RudCdq);
    cfg.gamma = 0.9;
    let mut agent = Ddpg::new(&cfg, 3, 1, 4, &Device::Cpu).unwrap();
    let b = batch(6, 1);
    let y = agent.target(&b).unwrap().to_vec1::<f32>().unwrap();
    let a2 = agent.actor_target().forward(&b.next_obs).unwrap();
    let q: Vec<Vec<f32>> = agent
        .critic_targets()
        .iter()
        .map(|c| {
            c.forward(&b.next_obs, &a2)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect();
    assert_eq!(q.len(), 2);
    let r = b.rewards.to_vec1::<f32>().unwrap();
    let d = b.dones.to_vec1::<f32>().unwrap();
    for i in 0..6 {
        let want = r[i] + 0.9 * (1.0 - d[i]) * q[0][i].min(q[1][i]);
        assert!((y[i] - want).abs() < 1e-5, "{i}: {} vs {want}", y[i]);
    }
    // Smoothing keeps the target action in the unit box and changes y.
    let mut td3 = Ddpg::new(&tiny(Preset::Td3), 3, 1, 4, &Device::Cpu).unwrap();
    let y1 = td3.target(&b).unwrap().to_vec1::<f32>().unwrap();
    let y2 = td3.target(&b).unwrap().to_vec1::<f32>().unwrap();
    assert_ne!(y1, y2, "fresh smoothing noise at every call");
}

fn flat(vm: &candle_nn::VarMap) -> Vec<f32> {
    candor_core::optim::sorted_vars(vm)
        .into_iter()
        .flat_map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// The critic step moves only the critic, the actor step only the actor, and Polyak
/// averaging moves each target by τ toward its online network.
#[test]
fn each_step_changes_only_its_own_parameters() {
    let cfg = tiny(Preset::Td3);
    let tau = cfg.tau as f32;
    let mut agent = Ddpg::new(&cfg, 3, 1, 7, &Device::Cpu).unwrap();
    let snap = |a: &Ddpg| a.var_maps().map(flat);
    let before = snap(&agent);
    // Targets start as exact copies.
    assert_eq!(before[0], before[1]);
    assert_eq!(before[2], before[3]);
    let b = batch(16, 2);
    let y = agent.target(&b).unwrap();
    agent.critic_step(&b.obs, &b.actions, &y).unwrap();
    let after_critic = snap(&agent);
    assert_eq!(
        after_critic[0], before[0],
        "actor unchanged by the critic step"
    );
    assert_ne!(after_critic[2], before[2], "critic changed");
    assert_eq!(after_critic[3], before[3], "targets unchanged");
    agent.actor_step(&b.obs).unwrap();
    let after_actor = snap(&agent);
    assert_ne!(after_actor[0], before[0], "actor changed");
    assert_eq!(
        after_actor[2], after_critic[2],
        "critic unchanged by the actor step"
    );
    agent.update_targets().unwrap();
    let after_polyak = snap(&agent);
    for (k, online) in [(1, 0), (3, 2)] {
        for ((t, t0), o) in after_polyak[k]
            .iter()
            .zip(&after_actor[k])
            .zip(&after_actor[online])
        {
            let want = tau * o + (1.0 - tau) * t0;
            assert!((t - want).abs() < 1e-6);
        }
    }
    // The delayed actor: TD3 steps the actor on every second update only.
    let mut agent = Ddpg::new(&cfg, 3, 1, 7, &Device::Cpu).unwrap();
    for _ in 0..5 {
        agent.update(&b).unwrap();
    }
    assert_eq!(agent.updates_done(), (5, 2));
}

#[test]
fn bad_inputs_are_errors() {
    let cfg = tiny(Preset::Ddpg);
    assert!(Ddpg::new(&cfg, 0, 1, 0, &Device::Cpu).is_err());
    let mut bad = cfg.clone();
    bad.gamma = 1.0;
    assert!(Ddpg::new(&bad, 3, 1, 0, &Device::Cpu).is_err());
    let mut agent = Ddpg::new(&cfg, 3, 1, 0, &Device::Cpu).unwrap();
    assert!(agent.act(&[0.0, 1.0]).is_err(), "wrong observation length");
    let mut b = batch(4, 3);
    b.obs = Tensor::zeros((4, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(agent.update(&b).is_err(), "batch of the wrong width");
}
