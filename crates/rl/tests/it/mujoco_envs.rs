//! Behaviour of the MuJoCo v4 tasks beyond the golden replays: spaces, time limit,
//! unclipped control, exact state restore, and clear errors on bad input.
#![cfg(feature = "mujoco")]

use candor_core::SeededRng;
use candor_rl::envs::{Locomotion, MujocoEnv};
use candor_rl::{make, Action, Env, Space, Step, MUJOCO_ENV_IDS};

fn zeros(env: &dyn Env) -> Action {
    Action::Continuous(vec![0.0; env.action_space().flat_dim()])
}

#[test]
fn spaces_and_limits_are_gymnasiums() {
    let want = [
        ("HalfCheetah-v4", 17, 6),
        ("Hopper-v4", 11, 3),
        ("Walker2d-v4", 17, 6),
        ("Ant-v4", 27, 8),
        ("Swimmer-v4", 8, 2),
    ];
    for (id, obs_dim, act_dim) in want {
        let mut env = make(id).unwrap();
        assert_eq!(env.max_episode_steps(), Some(1000), "{id}");
        assert_eq!(env.observation_space().flat_dim(), obs_dim, "{id}");
        assert_eq!(env.action_space().flat_dim(), act_dim, "{id}");
        let Space::Box { low, high, .. } = env.action_space() else {
            panic!("{id}: box actions")
        };
        assert!(
            low.iter().all(|&l| l == -1.0) && high.iter().all(|&h| h == 1.0),
            "{id}"
        );
        assert_eq!(env.reset(Some(3)).len(), obs_dim, "{id}");
    }
    assert_eq!(MUJOCO_ENV_IDS.len(), 5);
}

#[test]
fn reset_is_seeded() {
    let mut env = make("Hopper-v4").unwrap();
    let a = env.reset(Some(7));
    let b = env.reset(Some(7));
    let c = env.reset(Some(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Hopper's reset noise is U(±0.005) around init_qpos = (0, 1.25, 0, 0, 0, 0).
    assert!((a[0] - 1.25).abs() <= 0.005 && a[1].abs() <= 0.005, "{a:?}");
}

#[test]
fn time_limit_truncates_at_1000_steps() {
    let mut env = make("HalfCheetah-v4").unwrap();
    env.reset(Some(0));
    let a = zeros(env.as_ref());
    for t in 1..1000 {
        let s = env.step(&a).unwrap();
        assert!(!s.terminated && !s.truncated, "step {t}");
    }
    let last = env.step(&a).unwrap();
    assert!(last.truncated && !last.terminated);
    let err = env.step(&a).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

/// The control cost uses the raw action while MuJoCo clamps the control to ±1: twice the
/// action limit moves the cheetah exactly as the limit does and costs
/// 0.1 · 6 · (2² − 1²) = 1.8 more.
#[test]
fn control_is_not_clipped_but_its_cost_uses_the_raw_action() {
    let mut env = MujocoEnv::new(Locomotion::HalfCheetah).unwrap();
    env.reset(Some(1));
    let state = env.state();
    let at_limit = env.step(&Action::Continuous(vec![1.0; 6])).unwrap();
    env.set_state(&state).unwrap();
    let beyond = env.step(&Action::Continuous(vec![2.0; 6])).unwrap();
    assert_eq!(at_limit.obs, beyond.obs);
    let extra = at_limit.reward - beyond.reward;
    assert!((extra - 1.8).abs() < 1e-5, "{extra}");
}

fn run(env: &mut dyn Env, rng: &mut SeededRng, steps: usize) -> Vec<Step> {
    let mut out = Vec::new();
    for _ in 0..steps {
        let a = env.action_space().sample(rng).unwrap();
        let s = env.step(&a).unwrap();
        let done = s.done();
        out.push(s);
        if done {
            break;
        }
    }
    out
}

/// `state()` captures everything the future depends on: restoring it mid-episode
/// replays the continuation bit for bit (Ant included, whose reward reads a body
/// position one physics substep stale).
#[test]
fn restoring_the_state_replays_exactly() {
    for task in Locomotion::ALL {
        let mut env = MujocoEnv::new(task).unwrap();
        env.reset(Some(5));
        // Small actions keep Hopper and Walker2d up long enough.
        let mut rng = SeededRng::new(11);
        let mut small = |env: &mut MujocoEnv, n: usize| -> Vec<Step> {
            (0..n)
                .map(|_| {
                    let a: Vec<f32> = (0..env.action_space().flat_dim())
                        .map(|_| rng.uniform_range(-0.3, 0.3) as f32)
                        .collect();
                    env.step(&Action::Continuous(a)).unwrap()
                })
                .collect()
        };
        let head = small(&mut env, 5);
        assert!(head.iter().all(|s| !s.terminated), "{task:?}");
        let saved = env.state();
        assert_eq!(saved.len(), env.state_len());
        let mut rng_a = SeededRng::new(12);
        let first = run(&mut env, &mut rng_a, 20);
        env.set_state(&saved).unwrap();
        let mut rng_b = SeededRng::new(12);
        let second = run(&mut env, &mut rng_b, 20);
        assert_eq!(first, second, "{task:?}");
        // qpos/qvel alone (Gymnasium's set_state) restarts the warm start: same physics,
        // possibly different last bits.
        let (nq, nv) = env.dims();
        let obs = env.set_state(&saved[..nq + nv]).unwrap();
        assert_eq!(obs.len(), env.observation_space().flat_dim());
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut env = make("Walker2d-v4").unwrap();
    let err = env.step(&zeros(env.as_ref())).unwrap_err().to_string();
    assert!(err.contains("before reset"), "{err}");
    env.reset(Some(0));
    let err = env
        .step(&Action::Continuous(vec![0.0; 5]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("5 elements") && err.contains("[6]"), "{err}");
    let mut nan = vec![0.0; 6];
    nan[2] = f32::NAN;
    let err = env.step(&Action::Continuous(nan)).unwrap_err().to_string();
    assert!(err.contains("element 2") && err.contains("NaN"), "{err}");
    let err = env.step(&Action::Discrete(0)).unwrap_err().to_string();
    assert!(err.contains("discrete"), "{err}");
    // Walker2d: nq = 9, nv = 9; full state 9 + 9 + 0 + 9 + 1 = 28.
    let err = env.set_state(&[0.0; 10]).unwrap_err().to_string();
    assert!(
        err.contains("18 values") && err.contains("28") && err.contains("got 10"),
        "{err}"
    );
    let mut state = env.state();
    state[3] = f64::INFINITY;
    let err = env.set_state(&state).unwrap_err().to_string();
    assert!(err.contains("value 3"), "{err}");
    let Err(err) = make("HalfCheetah-v9") else {
        panic!("unknown id accepted")
    };
    let err = err.to_string();
    assert!(
        err.contains("unknown environment id 'HalfCheetah-v9'"),
        "{err}"
    );
    assert!(
        err.contains("HalfCheetah-v4") && err.contains("CartPole-v1"),
        "{err}"
    );
}

#[test]
fn unhealthy_hopper_terminates_and_then_refuses_to_step() {
    let mut env = make("Hopper-v4").unwrap();
    env.reset(Some(0));
    // Full forward torque on every joint topples the hopper within a few dozen steps.
    let push = Action::Continuous(vec![1.0, 1.0, 1.0]);
    let mut steps = 0;
    let last = loop {
        let s = env.step(&push).unwrap();
        steps += 1;
        if s.done() {
            break s;
        }
    };
    assert!(last.terminated && !last.truncated, "after {steps} steps");
    let err = env.step(&push).unwrap_err().to_string();
    assert!(err.contains("terminated"), "{err}");
}
