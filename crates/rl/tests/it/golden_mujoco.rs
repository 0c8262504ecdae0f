//! Golden tests of the MuJoCo v4 tasks against Gymnasium 1.2.2 + mujoco 3.17.0
//! (`tools/record_gym_trajectories.py --mujoco`).
//!
//! Each trajectory starts from Gymnasium's full simulator state after `reset(seed)`
//! (qpos, qvel, act, qacc_warmstart), injected with `set_state`, and replays the logged
//! float32 actions open-loop. Every `checkpoint_every` steps the fixture holds Gymnasium's
//! full state and observation: qpos and qvel must agree within 1e-9, the observation to
//! float32 rounding; then the replay re-syncs to Gymnasium's state (through
//! `TimeLimit::inner_mut`, which keeps the step count), so chaotic growth of last-bit
//! differences never accumulates past one segment. Rewards are compared every step
//! (1e-9, relative above 1) and the terminated / truncated flags must match exactly:
//! the Hopper and Walker2d trajectories end in an unhealthy termination.
//!
//! The random-policy test compares the mean return of uniform random actions over 100
//! episodes with Gymnasium's 200 (different random streams, so a statistical tolerance).
#![cfg(feature = "mujoco")]

use candor_core::SeededRng;
use candor_rl::envs::{Locomotion, MujocoEnv};
use candor_rl::{make, Action, Env, TimeLimit};
use serde::Deserialize;

const STATE_TOL: f64 = 1e-9;
const REWARD_TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    env_id: String,
    max_episode_steps: usize,
    checkpoint_every: usize,
    random_policy: RandomPolicy,
    trajectories: Vec<Trajectory>,
}

#[derive(Deserialize)]
struct RandomPolicy {
    episodes: usize,
    mean: f64,
    std: f64,
}

/// float64 values travel as decimal strings (serde_json's default float parser is not
/// correctly rounded; `str::parse` is).
#[derive(Deserialize)]
struct Trajectory {
    seed: u64,
    policy: String,
    #[serde(deserialize_with = "f64s")]
    state0: Vec<f64>,
    #[serde(deserialize_with = "f64s")]
    obs0: Vec<f64>,
    actions: Vec<Vec<f32>>,
    #[serde(deserialize_with = "f64s")]
    rewards: Vec<f64>,
    flags: String,
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct Checkpoint {
    step: usize,
    #[serde(deserialize_with = "f64s")]
    state: Vec<f64>,
    #[serde(deserialize_with = "f64s")]
    obs: Vec<f64>,
}

fn f64s<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse::<f64>().map_err(serde::de::Error::custom))
        .collect()
}

fn load(id: &str) -> Fixture {
    let path = format!(
        "{}/tests/fixtures/gym_{id}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let f: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(f.env_id, id);
    f
}

/// `|a − b| ≤ tol · max(1, |b|)`.
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

fn flag(step: &candor_rl::Step) -> char {
    match (step.terminated, step.truncated) {
        (true, true) => 'B',
        (true, false) => 'T',
        (false, true) => 'R',
        (false, false) => '.',
    }
}

/// Observations are float64 in Gymnasium and float32 here: ours must be the float32
/// rounding of a value within STATE_TOL of Gymnasium's.
fn check_obs(ours: &[f32], gym: &[f64], what: &str) {
    assert_eq!(ours.len(), gym.len(), "{what}: observation length");
    for (i, (&o, &g)) in ours.iter().zip(gym).enumerate() {
        let lo = (g - STATE_TOL * g.abs().max(1.0)) as f32;
        let hi = (g + STATE_TOL * g.abs().max(1.0)) as f32;
        assert!(lo <= o && o <= hi, "{what}: obs[{i}] = {o}, Gymnasium {g}");
    }
}

fn replay(id: &str) {
    let fixture = load(id);
    assert_eq!(fixture.max_episode_steps, 1000);
    assert!(fixture.checkpoint_every >= 1);
    let task = Locomotion::from_id(id).unwrap();
    let (nq, nv) = MujocoEnv::new(task).unwrap().dims();
    let mut worst_state = 0.0f64;
    let mut worst_reward = 0.0f64;
    for traj in &fixture.trajectories {
        let what = format!("{id} seed {} {}", traj.seed, traj.policy);
        let mut env =
            TimeLimit::new(MujocoEnv::new(task).unwrap(), fixture.max_episode_steps).unwrap();
        let obs = env.set_state(&traj.state0).unwrap();
        check_obs(&obs, &traj.obs0, &format!("{what} reset"));
        let mut checkpoints = traj.checkpoints.iter().peekable();
        let mut flags = String::new();
        for (t, action) in traj.actions.iter().enumerate() {
            let step = env.step(&Action::Continuous(action.clone())).unwrap();
            let want = traj.rewards[t];
            worst_reward = worst_reward.max((step.reward - want).abs() / want.abs().max(1.0));
            assert!(
                close(step.reward, want, REWARD_TOL),
                "{what} step {}: reward {} vs Gymnasium {want}",
                t + 1,
                step.reward
            );
            flags.push(flag(&step));
            if let Some(cp) = checkpoints.next_if(|cp| cp.step == t + 1) {
                let state = env.state();
                for (i, (&ours, &gym)) in state[..nq + nv].iter().zip(&cp.state).enumerate() {
                    worst_state = worst_state.max((ours - gym).abs() / gym.abs().max(1.0));
                    assert!(
                        close(ours, gym, STATE_TOL),
                        "{what} step {}: {} {i} = {ours}, Gymnasium {gym}",
                        t + 1,
                        if i < nq { "qpos" } else { "qvel" }
                    );
                }
                check_obs(&step.obs, &cp.obs, &format!("{what} step {}", t + 1));
                if !step.done() {
                    // Re-sync without restarting the time limit's count.
                    env.inner_mut().set_state(&cp.state).unwrap();
                }
            }
        }
        assert_eq!(flags, traj.flags, "{what}: flags");
        assert!(checkpoints.next().is_none(), "{what}: unused checkpoints");
    }
    eprintln!("{id}: worst relative state error {worst_state:.2e}, reward {worst_reward:.2e}");
}

#[test]
fn half_cheetah_matches_gymnasium() {
    replay("HalfCheetah-v4");
}

#[test]
fn hopper_matches_gymnasium() {
    let f = load("Hopper-v4");
    assert!(
        f.trajectories.iter().any(|t| t.flags.ends_with('T')),
        "no unhealthy end"
    );
    replay("Hopper-v4");
}

#[test]
fn walker2d_matches_gymnasium() {
    let f = load("Walker2d-v4");
    assert!(
        f.trajectories.iter().any(|t| t.flags.ends_with('T')),
        "no unhealthy end"
    );
    replay("Walker2d-v4");
}

#[test]
fn ant_matches_gymnasium() {
    replay("Ant-v4");
}

#[test]
fn swimmer_matches_gymnasium() {
    replay("Swimmer-v4");
}

/// Mean return of uniform random actions over 100 episodes (own reset and action
/// streams) against Gymnasium's over 200 episodes: |difference| must be within 4
/// standard errors of the difference (Welch, each side's std from Gymnasium's sample).
#[test]
fn random_policy_returns_match_gymnasium() {
    for (id, _) in candor_rl::MUJOCO_ENV_IDS {
        let f = load(id);
        let mut env = make(id).unwrap();
        let mut rng = SeededRng::new(99);
        let n = 100;
        let mut returns = Vec::with_capacity(n);
        for e in 0..n {
            env.reset(Some(e as u64));
            let mut total = 0.0;
            loop {
                let a = env.action_space().sample(&mut rng).unwrap();
                let step = env.step(&a).unwrap();
                total += step.reward;
                if step.done() {
                    break;
                }
            }
            returns.push(total);
        }
        let mean = returns.iter().sum::<f64>() / n as f64;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let gym = &f.random_policy;
        let se = (var / n as f64 + gym.std.powi(2) / gym.episodes as f64).sqrt();
        let z = (mean - gym.mean) / se;
        eprintln!(
            "{id}: random return {mean:.2} ± {:.2} vs Gymnasium {:.2} ± {:.2} (z = {z:.2})",
            var.sqrt(),
            gym.mean,
            gym.std
        );
        assert!(z.abs() < 4.0, "{id}: z = {z:.2}");
    }
}
