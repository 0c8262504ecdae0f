//! RIM's learner: the per-sample dual policy, recruitment, imitation, bad configs.

use candle_core::{Device, Tensor};
use candor_core::optim::sorted_vars;
use candor_core::SeededRng;
use candor_erl::{
    rim_learner, Config, DualTarget, ImitationConfig, Population, RimLearner, Variant,
};
use candor_rl::{Action, ReplayBuffer, Space};

/// A learner on 1-D states and actions with tiny networks: actor `[1, 2, 2, 1]`, critic
/// `[2, 2, 2, 1]`.
fn tiny_learner(batch_wide: bool, tau: f64) -> RimLearner {
    let mut cfg = rim_learner();
    cfg.actor.hidden = vec![2, 2];
    cfg.critic.hidden = vec![2, 2];
    RimLearner::new(
        &cfg,
        1,
        1,
        DualTarget::Dual,
        tau,
        batch_wide,
        0,
        &Device::Cpu,
    )
    .unwrap()
}

/// An actor `[1, 2, 2, 1]` (13 values) that outputs `a` everywhere: zero weights, output
/// bias `atanh(a)` (the last value of the flat buffer).
fn constant_actor(a: f32) -> Vec<f32> {
    let mut flat = vec![0.0f32; 13];
    flat[12] = a.atanh();
    flat
}

/// Set the online critic to `Q(s, a) = −|a − s|` (ReLU layers: `relu(a − s)`,
/// `relu(s − a)`, identity, then `−(h₁ + h₂)`).
fn set_distance_critic(l: &RimLearner) {
    let dev = Device::Cpu;
    for (name, var) in sorted_vars(l.ddpg().var_maps()[2]) {
        let t = match name.rsplit_once("critic1.").map(|x| x.1).unwrap_or(&name) {
            "fc0.weight" => Tensor::new(&[[-1f32, 1.0], [1.0, -1.0]], &dev),
            "fc1.weight" => Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &dev),
            "fc2.weight" => Tensor::new(&[[-1f32, -1.0]], &dev),
            "fc0.bias" | "fc1.bias" => Tensor::new(&[0f32, 0.0], &dev),
            "fc2.bias" => Tensor::new(&[0f32], &dev),
            other => panic!("unexpected critic variable {other}"),
        }
        .unwrap();
        var.set(&t).unwrap();
    }
}

#[test]
fn dual_policy_chooses_per_sample() {
    // π_pg ≡ 0.9, π_ea ≡ −0.9, Q = −|a − s|. Row 0 (s = −1) prefers π_ea, row 1 (s = 1)
    // prefers π_pg.
    let obs = Tensor::new(&[[-1f32], [1.0]], &Device::Cpu).unwrap();
    let mut l = tiny_learner(false, 0.001);
    l.set_pg_params(&constant_actor(0.9)).unwrap();
    l.set_recruit_params(&constant_actor(-0.9)).unwrap();
    set_distance_critic(&l);
    let (a, chose_pg) = l.dual_action(&obs).unwrap();
    let a = a.to_vec2::<f32>().unwrap();
    assert_eq!(chose_pg, vec![false, true]);
    assert!(
        (a[0][0] + 0.9).abs() < 1e-6 && (a[1][0] - 0.9).abs() < 1e-6,
        "{a:?}"
    );

    // The reference's batch-wide comparison: every row follows row 0 (π_ea).
    let mut b = tiny_learner(true, 0.001);
    b.set_pg_params(&constant_actor(0.9)).unwrap();
    b.set_recruit_params(&constant_actor(-0.9)).unwrap();
    set_distance_critic(&b);
    let (a, chose_pg) = b.dual_action(&obs).unwrap();
    assert_eq!(chose_pg, vec![false, false]);
    let a = a.to_vec2::<f32>().unwrap();
    assert!(a.iter().all(|r| (r[0] + 0.9).abs() < 1e-6), "{a:?}");
}

#[test]
fn recruitment_with_tau_one_is_a_hard_copy() {
    let champ: Vec<f32> = (0..13).map(|i| 0.1 * i as f32 - 0.4).collect();
    let mut hard = tiny_learner(false, 1.0);
    hard.recruit(&champ).unwrap();
    assert_eq!(hard.recruit_params(), &champ[..]);
    assert_eq!(hard.recruit_actor().mlp().to_flat().unwrap(), champ);

    // τ₀ = 0.5: the midpoint, in the variables too.
    let mut soft = tiny_learner(false, 0.5);
    let start = soft.recruit_params().to_vec();
    soft.recruit(&champ).unwrap();
    let vars = soft.recruit_actor().mlp().to_flat().unwrap();
    for ((s, c), v) in start.iter().zip(&champ).zip(&vars) {
        assert!((0.5 * (s + c) - v).abs() < 1e-6);
    }
    assert!(soft.recruit(&champ[..5]).is_err());
}

#[test]
fn imitation_reduces_the_l1_gap() {
    let mut cfg = rim_learner();
    cfg.actor.hidden = vec![32, 32];
    cfg.critic.hidden = vec![32, 32];
    let l = RimLearner::new(&cfg, 3, 1, DualTarget::Dual, 0.001, false, 1, &Device::Cpu).unwrap();
    let mut buffer = ReplayBuffer::new(1000, 3, &Space::uniform_box(-1.0, 1.0, &[1])).unwrap();
    let mut rng = SeededRng::new(2);
    for _ in 0..500 {
        let s: Vec<f32> = (0..3)
            .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        buffer
            .push(&s, &Action::Continuous(vec![0.0]), 0.0, &s, false)
            .unwrap();
    }
    let states: Vec<f32> = (0..64 * 3)
        .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
        .collect();
    let obs = Tensor::from_vec(states, (64, 3), &Device::Cpu).unwrap();
    let pop = Population::new(&cfg.actor, 3, 1, 1, 9).unwrap();
    let mut student = pop.member(0).to_vec();
    let before = l.imitation_gap(&student, &obs).unwrap();
    let icfg = ImitationConfig {
        steps: 300,
        ..ImitationConfig::default()
    };
    let log = l.imitate(&mut student, &buffer, &icfg, &mut rng).unwrap();
    let after = l.imitation_gap(&student, &obs).unwrap();
    assert_eq!(log.steps, 300);
    assert!(
        after < 0.5 * before,
        "L1 gap {before:.4} → {after:.4} (losses {log:?})"
    );
}

#[test]
fn bad_configs_are_clear_errors() {
    assert!(Config::preset(Variant::Rim, "NoSuchTask-v9")
        .unwrap_err()
        .to_string()
        .contains("unknown task"));
    let mut c = Config::tiny(Variant::Rim, "Pendulum-v1").unwrap();
    c.validate().unwrap();
    c.pop_size = 0;
    assert!(c.validate().unwrap_err().to_string().contains("pop_size"));
    for f in [-0.1, 1.5, f64::NAN] {
        let mut c = Config::tiny(Variant::Erl, "Pendulum-v1").unwrap();
        c.ssne.elite_fraction = f;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("elite_fraction"), "{e}");
    }
    let mut c = Config::tiny(Variant::Erl, "Pendulum-v1").unwrap();
    c.env_id = "Hopper-v99".into();
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("unknown task"));
    assert!(Variant::from_name("rim-xx").is_err());
    assert_eq!(Variant::from_name("rim-il").unwrap(), Variant::RimIl);
    // Presets per task.
    let h = Config::preset(Variant::Rim, "Hopper-v4").unwrap();
    assert_eq!(
        (h.ssne.elite_fraction, h.num_evals, h.synch_period),
        (0.3, 5, 2)
    );
    assert_eq!(
        Config::preset(Variant::Erl, "Hopper-v4")
            .unwrap()
            .synch_period,
        1
    );
    let w = Config::preset(Variant::Rim, "Walker2d-v4").unwrap();
    assert_eq!(
        (w.ssne.elite_fraction, w.num_evals, w.synch_period),
        (0.2, 3, 10)
    );
    let c = Config::preset(Variant::Rim, "HalfCheetah-v4").unwrap();
    assert_eq!(
        (c.ssne.elite_fraction, c.num_evals, c.synch_period),
        (0.1, 1, 10)
    );
    assert_eq!(c.num_elites(), 1);
}

/// The bits of π_pg and of the critic of a learner.
fn actor_critic_bits(l: &RimLearner) -> (Vec<u32>, Vec<u32>) {
    let bits = |vm: &candle_nn::VarMap| -> Vec<u32> {
        sorted_vars(vm)
            .into_iter()
            .flat_map(|(_, v)| {
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .map(f32::to_bits)
            .collect()
    };
    let vms = l.ddpg().var_maps();
    (bits(vms[0]), bits(vms[2]))
}

#[test]
fn rim_ea_and_rim_pg_targets_change_the_learner_step_by_step() {
    // Two learners from one seed (π_pg, Q, π_ea equal between them; π_ea ≠ π_pg), one
    // bootstrapping on π_ea only, one on π_pg only, fed the same batches. The actor step
    // comes first, so update 1 moves π_pg identically and the critics apart; from
    // update 2 on π_pg differs too.
    let mut cfg = rim_learner();
    cfg.actor.hidden = vec![8, 8];
    cfg.critic.hidden = vec![8, 8];
    let dev = Device::Cpu;
    let make = |t| RimLearner::new(&cfg, 3, 1, t, 0.001, false, 4, &dev).unwrap();
    let (mut ea, mut pg) = (make(DualTarget::EaOnly), make(DualTarget::PgOnly));
    assert_eq!(actor_critic_bits(&ea), actor_critic_bits(&pg));
    assert_ne!(ea.recruit_params(), ea.pg_params().unwrap().as_slice());
    let mut buffer = ReplayBuffer::new(100, 3, &Space::uniform_box(-1.0, 1.0, &[1])).unwrap();
    let mut rng = SeededRng::new(8);
    for _ in 0..64 {
        let o: Vec<f32> = (0..3)
            .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        let n: Vec<f32> = (0..3)
            .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        let a = Action::Continuous(vec![rng.uniform_range(-1.0, 1.0) as f32]);
        buffer.push(&o, &a, rng.normal(), &n, false).unwrap();
    }
    let mut s = SeededRng::new(9);
    let b1 = buffer.sample(16, &mut s, &dev).unwrap();
    // The two target rules bootstrap on different actions here.
    let v_ea = ea
        .target_policy_value(&b1.next_obs, DualTarget::EaOnly)
        .unwrap();
    let v_pg = pg
        .target_policy_value(&b1.next_obs, DualTarget::PgOnly)
        .unwrap();
    assert_ne!(v_ea, v_pg);
    ea.update(&b1).unwrap();
    pg.update(&b1).unwrap();
    let ((ea_actor, ea_critic), (pg_actor, pg_critic)) =
        (actor_critic_bits(&ea), actor_critic_bits(&pg));
    assert_eq!(
        ea_actor, pg_actor,
        "update 1: the actor step precedes the target"
    );
    assert_ne!(ea_critic, pg_critic, "update 1: the critic targets differ");
    let b2 = buffer.sample(16, &mut s, &dev).unwrap();
    ea.update(&b2).unwrap();
    pg.update(&b2).unwrap();
    assert_ne!(actor_critic_bits(&ea).0, actor_critic_bits(&pg).0);
}
