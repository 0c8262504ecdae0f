//! RL hot paths: environment steps, DQN/NROWAN updates (batch 32, 128×128 MLP) and
//! single-observation action latency. `cargo bench -p candor-benches --bench rl`.
//!
//! Anchors measured on the build machine (see the rl-noisy issue): gymnasium CartPole-v1
//! steps at 119k/s in Python; a PyTorch CPU DQN update takes 0.64 ms; PyTorch
//! single-observation inference 33 µs.

use candle_core::Device;
use candor_core::SeededRng;
use candor_rl::{make, Action, ReplayBuffer, Space, ENV_IDS};
use candor_rl_noisy::{Agent, Algo, Config};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

mod common;
use common::rl_main;

fn action_for(space: &Space, t: usize) -> Action {
    match space {
        Space::Discrete(n) => Action::Discrete(t % n),
        Space::Box { shape, .. } => {
            let d: usize = shape.iter().product();
            Action::Continuous(vec![((t as f32) * 0.37).sin(); d])
        }
    }
}

fn bench_env_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("env_step");
    g.throughput(Throughput::Elements(1000));
    for (id, _) in ENV_IDS {
        let mut env = make(id).unwrap();
        let space = env.action_space().clone();
        env.reset(Some(0));
        let mut t = 0usize;
        g.bench_with_input(BenchmarkId::new("candor", id), &(), |b, _| {
            b.iter(|| {
                for _ in 0..1000 {
                    let s = env.step(&action_for(&space, t)).unwrap();
                    t += 1;
                    if s.terminated || s.truncated {
                        env.reset(None);
                    }
                }
            })
        });
    }
    g.finish();
}

fn filled_buffer() -> (ReplayBuffer, usize, usize) {
    let mut env = make("CartPole-v0").unwrap();
    let n_actions = match env.action_space() {
        Space::Discrete(n) => *n,
        _ => unreachable!(),
    };
    let mut buf = ReplayBuffer::for_env(10_000, env.as_ref()).unwrap();
    let mut obs = env.reset(Some(1));
    let obs_dim = obs.len();
    for t in 0..2_000 {
        let a = Action::Discrete(t % n_actions);
        let s = env.step(&a).unwrap();
        buf.push(&obs, &a, s.reward, &s.obs, s.terminated).unwrap();
        obs = if s.terminated || s.truncated {
            env.reset(None)
        } else {
            s.obs
        };
    }
    (buf, obs_dim, n_actions)
}

fn bench_updates(c: &mut Criterion) {
    let (buf, obs_dim, n_actions) = filled_buffer();
    let mut g = c.benchmark_group("dqn_update");
    for algo in [Algo::Dqn, Algo::NoisyNet, Algo::Nrowan] {
        let cfg = Config::paper(algo, "CartPole-v0").unwrap();
        let mut agent = Agent::new(&cfg, obs_dim, n_actions, 0, &candle_core::Device::Cpu).unwrap();
        let mut rng = SeededRng::new(2);
        let batch = buf.sample(32, &mut rng, &Device::Cpu).unwrap();
        let k = if algo == Algo::Nrowan { 0.5 } else { 0.0 };
        g.bench_with_input(
            BenchmarkId::new("candor", format!("{algo:?}/batch32")),
            &(),
            |b, _| b.iter(|| agent.update(&batch, k).unwrap()),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("action_latency");
    for algo in [Algo::Dqn, Algo::Nrowan] {
        let cfg = Config::paper(algo, "CartPole-v0").unwrap();
        let mut agent = Agent::new(&cfg, obs_dim, n_actions, 0, &candle_core::Device::Cpu).unwrap();
        let obs = vec![0.01f32, -0.02, 0.03, 0.01];
        g.bench_with_input(
            BenchmarkId::new("candor", format!("{algo:?}/act")),
            &(),
            |b, _| b.iter(|| agent.act(&obs, 100_000).unwrap()),
        );
        g.bench_with_input(
            BenchmarkId::new("candor", format!("{algo:?}/greedy")),
            &(),
            |b, _| b.iter(|| agent.greedy_action(&obs).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench_env_steps, bench_updates);

fn main() {
    rl_main(benches);
}
