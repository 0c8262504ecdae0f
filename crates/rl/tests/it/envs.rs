//! Behaviour of the environments through the public API: random-policy anchors,
//! errors on misuse, time limits, seeding.

use candor_core::SeededRng;
use candor_rl::envs::{CartPole, Pendulum};
use candor_rl::{make, Action, Env, Space, TimeLimit, ENV_IDS};

/// Mean return of a uniformly random policy over `episodes` episodes.
fn random_mean_return(id: &str, episodes: usize, seed: u64) -> f64 {
    let mut env = make(id).unwrap();
    let mut rng = SeededRng::new(seed);
    let mut total = 0.0;
    for e in 0..episodes {
        env.reset(if e == 0 { Some(seed) } else { None });
        loop {
            let a = env.action_space().sample(&mut rng).unwrap();
            let s = env.step(&a).unwrap();
            total += s.reward;
            if s.done() {
                break;
            }
        }
    }
    total / episodes as f64
}

/// Anchors measured with gymnasium 1.2.2 (`action_space.sample()`, 200–300 episodes):
/// CartPole 22.4 (σ 11.7), Acrobot −497.4 (σ 18.4), MountainCar −200, Pendulum −1238.5
/// (σ 295), MountainCarContinuous −33.25 (σ 0.97). The card: ≈ 22, −499, −200, −1250,
/// −33. Tolerances are ≈ 5 standard errors at 200 episodes.
#[test]
fn random_policy_returns_match_gymnasium_anchors() {
    let cases = [
        ("CartPole-v0", 22.4, 4.0),
        ("CartPole-v1", 22.4, 4.0),
        ("Acrobot-v1", -497.4, 7.0),
        ("MountainCar-v0", -200.0, 0.0),
        ("MountainCarContinuous-v0", -33.25, 0.5),
        ("Pendulum-v1", -1238.5, 105.0),
    ];
    for (id, anchor, tol) in cases {
        let mean = random_mean_return(id, 200, 11);
        eprintln!("{id}: random-policy mean return {mean:.2} (anchor {anchor})");
        assert!(
            (mean - anchor).abs() <= tol,
            "{id}: random-policy mean return {mean:.2}, Gymnasium anchor {anchor} ± {tol}"
        );
    }
}

#[test]
fn spaces_match_gymnasium() {
    let expect = [
        ("CartPole-v0", 4, Space::Discrete(2)),
        ("CartPole-v1", 4, Space::Discrete(2)),
        ("Acrobot-v1", 6, Space::Discrete(3)),
        ("MountainCar-v0", 2, Space::Discrete(3)),
        (
            "MountainCarContinuous-v0",
            2,
            Space::uniform_box(-1.0, 1.0, &[1]),
        ),
        ("Pendulum-v1", 3, Space::uniform_box(-2.0, 2.0, &[1])),
    ];
    for (id, obs_dim, action_space) in expect {
        let env = make(id).unwrap();
        assert_eq!(env.observation_space().flat_dim(), obs_dim, "{id}");
        assert_eq!(env.action_space(), &action_space, "{id}");
    }
    let Space::Box { high, .. } = make("Acrobot-v1").unwrap().observation_space().clone() else {
        panic!("box expected")
    };
    assert_eq!(high[4], (4.0 * std::f64::consts::PI) as f32);
}

#[test]
fn make_knows_the_six_ids_and_lists_them_on_error() {
    for (id, limit) in ENV_IDS {
        assert_eq!(make(id).unwrap().max_episode_steps(), Some(limit));
    }
    let msg = make("CartPole-v2").err().unwrap().to_string();
    assert!(msg.contains("CartPole-v2"), "{msg}");
    for (id, _) in ENV_IDS {
        assert!(msg.contains(id), "{msg}");
    }
}

#[test]
fn bad_actions_are_errors() {
    let mut cp = make("CartPole-v1").unwrap();
    cp.reset(Some(0));
    for bad in [Action::Discrete(2), Action::Continuous(vec![1.0])] {
        let msg = cp.step(&bad).unwrap_err().to_string();
        assert!(msg.contains("action"), "{msg}");
    }
    // A rejected action leaves the episode running.
    assert!(cp.step(&Action::Discrete(1)).is_ok());

    let mut pen = make("Pendulum-v1").unwrap();
    pen.reset(Some(0));
    for bad in [
        Action::Continuous(vec![f32::NAN]),
        Action::Continuous(vec![f32::NEG_INFINITY]),
        Action::Continuous(vec![0.0, 0.0]),
        Action::Continuous(vec![]),
        Action::Discrete(0),
    ] {
        assert!(pen.step(&bad).is_err(), "{bad:?}");
    }
    // Out-of-range but finite torques are clipped, as in Gymnasium.
    assert!(pen.step(&Action::Continuous(vec![100.0])).is_ok());

    let mut mcc = make("MountainCarContinuous-v0").unwrap();
    mcc.reset(Some(0));
    assert!(mcc.step(&Action::Continuous(vec![f32::NAN])).is_err());
    let s = mcc.step(&Action::Continuous(vec![3.0])).unwrap();
    // Cost uses the unclipped action: −0.1 · 3².
    assert!((s.reward + 0.9).abs() < 1e-12, "{}", s.reward);

    for id in ["Acrobot-v1", "MountainCar-v0"] {
        let mut env = make(id).unwrap();
        env.reset(Some(0));
        assert!(env.step(&Action::Discrete(3)).is_err(), "{id}");
        assert!(env.step(&Action::Discrete(2)).is_ok(), "{id}");
    }
}

#[test]
fn set_state_rejects_bad_states() {
    let mut env = make("CartPole-v1").unwrap();
    assert!(env.set_state(&[0.0; 3]).is_err());
    assert!(env.set_state(&[0.0, f64::NAN, 0.0, 0.0]).is_err());
    assert_eq!(
        env.set_state(&[0.5, 0.25, -0.125, 1.0]).unwrap(),
        vec![0.5, 0.25, -0.125, 1.0]
    );
    assert_eq!(env.state(), vec![0.5, 0.25, -0.125, 1.0]);
    let mut acro = make("Acrobot-v1").unwrap();
    assert_eq!(
        acro.set_state(&[0.0, 0.0, 1.0, -1.0]).unwrap(),
        vec![1.0, 0.0, 1.0, 0.0, 1.0, -1.0]
    );
}

#[test]
fn stepping_before_reset_or_after_the_end_is_an_error() {
    for (id, _) in ENV_IDS {
        let mut env = make(id).unwrap();
        let a = env.action_space().sample(&mut SeededRng::new(0)).unwrap();
        let msg = env.step(&a).unwrap_err().to_string();
        assert!(msg.contains("reset"), "{id}: {msg}");
    }
    // Termination: CartPole pushed one way falls within a few dozen steps.
    let mut env = make("CartPole-v1").unwrap();
    env.reset(Some(3));
    let mut steps = 0;
    loop {
        let s = env.step(&Action::Discrete(1)).unwrap();
        steps += 1;
        assert_eq!(s.reward, 1.0, "reward +1 also on the terminating step");
        if s.terminated {
            assert!(!s.truncated);
            break;
        }
        assert!(steps < 100);
    }
    let msg = env.step(&Action::Discrete(0)).unwrap_err().to_string();
    assert!(msg.contains("terminated"), "{msg}");
    // reset and set_state both start a new episode.
    env.reset(None);
    assert!(env.step(&Action::Discrete(0)).is_ok());
}

#[test]
fn time_limit_truncates_and_counts_from_set_state() {
    // Pendulum never terminates: every episode is truncated at exactly 200 steps.
    let mut env = make("Pendulum-v1").unwrap();
    env.reset(Some(0));
    let a = Action::Continuous(vec![0.5]);
    for t in 1..=200 {
        let s = env.step(&a).unwrap();
        assert_eq!(s.truncated, t == 200, "step {t}");
        assert!(!s.terminated);
    }
    let msg = env.step(&a).unwrap_err().to_string();
    assert!(msg.contains("truncated"), "{msg}");
    // set_state restarts the count.
    env.set_state(&[1.0, 0.0]).unwrap();
    for t in 1..=200 {
        assert_eq!(env.step(&a).unwrap().truncated, t == 200, "step {t}");
    }

    // A short custom limit; inner_mut().set_state keeps counting.
    let mut short = TimeLimit::new(Pendulum::new(), 3).unwrap();
    short.reset(Some(1));
    assert!(!short.step(&a).unwrap().truncated);
    short.inner_mut().set_state(&[0.0, 0.0]).unwrap();
    assert!(!short.step(&a).unwrap().truncated);
    assert_eq!(short.elapsed_steps(), 2);
    assert!(short.step(&a).unwrap().truncated);
    assert!(TimeLimit::new(CartPole::new(), 0).is_err());

    // Terminating exactly at the limit reports both flags (Gymnasium's TimeLimit).
    let mut cp = TimeLimit::new(CartPole::new(), 1).unwrap();
    cp.set_state(&[2.39, 1.0, 0.0, 0.0]).unwrap();
    let s = cp.step(&Action::Discrete(1)).unwrap();
    assert!(s.terminated && s.truncated);
}

#[test]
fn reset_is_seeded_and_draws_gymnasiums_distributions() {
    for (id, _) in ENV_IDS {
        let mut a = make(id).unwrap();
        let mut b = make(id).unwrap();
        assert_eq!(a.reset(Some(5)), b.reset(Some(5)), "{id}");
        assert_eq!(a.reset(None), b.reset(None), "{id}");
        assert_ne!(a.reset(Some(5)), a.reset(Some(6)), "{id}");
    }
    let mut cp = make("CartPole-v1").unwrap();
    let mut acro = make("Acrobot-v1").unwrap();
    let mut mc = make("MountainCar-v0").unwrap();
    let mut pen = make("Pendulum-v1").unwrap();
    for s in 0..50 {
        cp.reset(Some(s));
        assert!(cp.state().iter().all(|v| v.abs() < 0.05));
        acro.reset(Some(s));
        // Acrobot's initial state is float32-rounded, as in Gymnasium.
        assert!(acro
            .state()
            .iter()
            .all(|&v| v.abs() < 0.1 && f64::from(v as f32) == v));
        mc.reset(Some(s));
        let st = mc.state();
        assert!((-0.6..-0.4).contains(&st[0]) && st[1] == 0.0);
        pen.reset(Some(s));
        let st = pen.state();
        assert!(st[0].abs() <= std::f64::consts::PI && st[1].abs() <= 1.0);
    }
}

#[test]
fn pendulum_cost_uses_the_pre_step_state_and_floored_modulo() {
    let mut env = make("Pendulum-v1").unwrap();
    // θ = −4 (below −π): angle_normalize gives 2π − 4 ≈ 2.283, not −4.
    env.set_state(&[-4.0, 0.0]).unwrap();
    let r = env.step(&Action::Continuous(vec![0.0])).unwrap().reward;
    let an = 2.0 * std::f64::consts::PI - 4.0;
    assert!((r + an * an).abs() < 1e-12, "{r}");
}

#[test]
fn acrobot_reward_is_zero_on_termination() {
    let mut env = make("Acrobot-v1").unwrap();
    // Both links nearly pointing up: −cos θ₁ − cos(θ₁ + θ₂) ≈ 2 > 1 after one step.
    env.set_state(&[3.1, 0.0, 0.0, 0.0]).unwrap();
    let s = env.step(&Action::Discrete(1)).unwrap();
    assert!(s.terminated);
    assert_eq!(s.reward, 0.0);
}
