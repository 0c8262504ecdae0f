//! DDPG / TD3 / RUD hot paths: one TD3 update (HalfCheetah's 17 observations and 6
//! actions) at 256-256 / batch 256 (sfujim's current TD3.py) and 400-300 / batch 100
//! (the 2018 paper, every preset here), env steps per second of each MuJoCo task beside
//! the raw `mj_step` rate of its model, and the batch-1 actor forward.
//! `cargo bench -p candor-benches --bench rl_ddpg`.
//!
//! PyTorch CPU anchors on the same machine: `tools/rl_ddpg_torch_timing.py` (the issue's
//! figure: a 256-256 / batch 256 TD3 update takes 5.9 ms with 2 threads).

use candle_core::Device;
use candor_rl::envs::Locomotion;
use candor_rl::{make, Action, Agent};
use candor_rl_ddpg::{Config, Ddpg, Preset};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use mujoco_rs::prelude::{MjData, MjModel};

mod common;
use common::{random_batch, rl_main, sine_action};

const OBS: usize = 17;
const ACT: usize = 6;

fn td3(hidden: &[usize]) -> Ddpg {
    let mut cfg = Config::preset(Preset::Td3, "HalfCheetah-v4").learner;
    cfg.actor.hidden = hidden.to_vec();
    cfg.critic.hidden = hidden.to_vec();
    Ddpg::new(&cfg, OBS, ACT, 0, &Device::Cpu).unwrap()
}

fn bench_updates(c: &mut Criterion) {
    let mut g = c.benchmark_group("td3_update");
    for (hidden, batch) in [([256, 256], 256), ([400, 300], 100)] {
        let mut agent = td3(&hidden);
        let b = random_batch(batch, OBS, ACT);
        // Two updates per iteration: one critic-only, one with the delayed actor step.
        g.bench_with_input(
            BenchmarkId::new(
                "candor",
                format!("{}-{}/batch{batch}/x2", hidden[0], hidden[1]),
            ),
            &(),
            |bench, _| {
                bench.iter(|| {
                    agent.update(&b).unwrap();
                    agent.update(&b).unwrap();
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("actor_latency");
    for hidden in [[256, 256], [400, 300]] {
        let mut agent = td3(&hidden);
        let obs = vec![0.1f32; OBS];
        g.bench_with_input(
            BenchmarkId::new("candor", format!("{}-{}/batch1", hidden[0], hidden[1])),
            &(),
            |b, _| b.iter(|| agent.act(&obs).unwrap()),
        );
    }
    g.finish();
}

/// The model without `settotalmass` (MuJoCo 3.17 logs a deprecation warning for it; the
/// stepping cost is the same).
fn model(task: Locomotion) -> MjModel {
    let xml = task.xml().replace(" settotalmass=\"14\"", "");
    MjModel::from_xml_string(&xml).unwrap()
}

fn bench_envs(c: &mut Criterion) {
    let mut g = c.benchmark_group("mujoco_step");
    g.throughput(Throughput::Elements(1000));
    for task in Locomotion::ALL {
        let mut env = make(task.id()).unwrap();
        let dim = env.action_space().flat_dim();
        env.reset(Some(0));
        let mut t = 0usize;
        g.bench_with_input(BenchmarkId::new("env_step", task.id()), &(), |b, _| {
            b.iter(|| {
                for _ in 0..1000 {
                    let s = env.step(&Action::Continuous(sine_action(dim, t))).unwrap();
                    t += 1;
                    if s.done() {
                        env.reset(None);
                    }
                }
            })
        });
        // The same number of physics steps as 1000 env steps, on the raw model.
        let mut data = MjData::new(Box::new(model(task)));
        let skip = task.frame_skip();
        g.bench_with_input(
            BenchmarkId::new("raw_mj_step_x_frame_skip", task.id()),
            &(),
            |b, _| {
                b.iter(|| {
                    for k in 0..1000 * skip {
                        for (i, c) in data.ctrl_mut().iter_mut().enumerate() {
                            *c = ((k * 7 + i) as f64 * 0.37 / skip as f64).sin();
                        }
                        data.step();
                    }
                    data.reset();
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench_updates, bench_envs);

fn main() {
    rl_main(benches);
}
