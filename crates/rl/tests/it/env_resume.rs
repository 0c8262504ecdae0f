//! An env restored from its state and reset-generator position right after a reset
//! continues bit for bit as the original, across later resets: what a training
//! checkpoint taken at an episode boundary needs (issue 17, part 3).

use candor_core::SeededRng;
use candor_rl::{make, Action, Env, Space, ENV_IDS, MUJOCO_ENV_IDS};

fn random_action(space: &Space, rng: &mut SeededRng) -> Action {
    match space {
        Space::Discrete(n) => Action::Discrete(rng.below(*n)),
        Space::Box { low, high, .. } => Action::Continuous(
            low.iter()
                .zip(high)
                .map(|(&l, &h)| rng.uniform_range(f64::from(l), f64::from(h)) as f32)
                .collect(),
        ),
    }
}

/// Steps `env` with actions from `rng` for `steps` steps, resetting (without a seed) at
/// every episode end; returns every observation's bits and reward.
fn run(env: &mut dyn Env, rng: &mut SeededRng, steps: usize) -> Vec<(Vec<u32>, u64)> {
    let mut out = Vec::new();
    for _ in 0..steps {
        let a = random_action(env.action_space(), rng);
        let s = env.step(&a).unwrap();
        out.push((
            s.obs.iter().map(|x| x.to_bits()).collect(),
            s.reward.to_bits(),
        ));
        if s.done() {
            let obs = env.reset(None);
            out.push((obs.iter().map(|x| x.to_bits()).collect(), 0));
        }
    }
    out
}

#[test]
fn restored_envs_continue_bit_for_bit() {
    let ids = ENV_IDS.iter().chain(MUJOCO_ENV_IDS.iter());
    for &(id, _) in ids {
        let mut env = make(id).unwrap();
        env.reset(Some(3));
        let mut acts = SeededRng::new(1);
        // Play a while, stopping at an episode boundary (just after a reset).
        let _ = run(env.as_mut(), &mut acts, 300);
        let obs = env.reset(None);
        let (state, rng) = (env.state(), env.rng_state().expect("built-in envs say"));

        let mut copy = make(id).unwrap();
        copy.reset(Some(99)); // another stream, overwritten below
        let restored = copy.set_state(&state).unwrap();
        copy.set_rng_state(&rng).unwrap();
        assert_eq!(restored, obs, "{id}: the observation of the restored state");

        let mut acts2 = acts.clone();
        let a = run(env.as_mut(), &mut acts, 1500);
        let b = run(copy.as_mut(), &mut acts2, 1500);
        assert_eq!(a, b, "{id}: the restored env diverged");
    }
}
