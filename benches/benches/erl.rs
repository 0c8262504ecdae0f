//! ERL / RIM hot paths on HalfCheetah-v4 (17 observations, 6 actions): one generation's
//! fitness rollouts of a population of 10 (one 1000-step episode each, batch-1 host
//! forwards from flat buffers) on 1 and 2 workers beside raw env stepping, one RIM
//! update (batch 128, reference networks) with its recruitment step, and one imitation
//! step (batch 32). `cargo bench -p candor-benches --bench erl`.

use candle_core::{DType, Device};
use candor_core::optim::{sorted_vars, Adam, AdamConfig, Optim};
use candor_erl::{
    erl_learner, rim_learner, rollout_population, DualTarget, Population, RimLearner,
};
use candor_rl::{make, Action, Registry};
use candor_rl_ddpg::Actor;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

mod common;
use common::{random_batch, rl_main, sine_action};

const ENV: &str = "HalfCheetah-v4";

/// The action at step `t` for observation `obs`.
type Policy<'a> = Box<dyn FnMut(usize, &[f32]) -> Vec<f32> + 'a>;
const OBS: usize = 17;
const ACT: usize = 6;

fn bench_rollouts(c: &mut Criterion) {
    let mut g = c.benchmark_group("erl_generation_rollouts");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    let reg = Registry::default();
    for (name, net) in [
        ("rim-400-400", rim_learner().actor),
        ("erl-128-128-ln", erl_learner().actor),
    ] {
        let pop = Population::new(&net, OBS, ACT, 10, 0).unwrap();
        for threads in [1, 2] {
            let mut gen = 0;
            g.bench_with_input(
                BenchmarkId::new(format!("pop10/{name}"), format!("{threads}-workers")),
                &(),
                |b, _| {
                    b.iter(|| {
                        gen += 1;
                        rollout_population(&reg, ENV, &pop, 1, false, true, 0, gen, threads)
                            .unwrap()
                    })
                },
            );
        }
    }
    // Raw env stepping, 10 × 1000 steps with fixed actions (no policy).
    let mut env = make(ENV).unwrap();
    g.bench_function("env_step_only/10x1000", |b| {
        b.iter(|| {
            for e in 0..10u64 {
                env.reset(Some(e));
                for t in 0..1000 {
                    let a = Action::Continuous(sine_action(ACT, t));
                    if env.step(&a).unwrap().done() {
                        break;
                    }
                }
            }
        })
    });
    // The same trajectories with and without the policy: each RIM member's episode
    // (reset seed = member) is recorded once; then its actions are replayed with raw
    // stepping (the physics of exactly those states), and the policy + step loop is
    // run again on the same seeds (it reproduces the same actions). Their ratio is
    // what acting costs over the physics it drives; the sine-action stepping above
    // visits cheaper states (fewer contacts).
    let pop = Population::new(&rim_learner().actor, OBS, ACT, 10, 0).unwrap();
    let episode = |env: &mut candor_rl::BoxedEnv, m: usize, mut act: Policy<'_>| {
        let mut obs = env.reset(Some(m as u64));
        for t in 0..1000 {
            let s = env.step(&Action::Continuous(act(t, &obs))).unwrap();
            if s.done() {
                break;
            }
            obs = s.obs;
        }
    };
    let mut recorded: Vec<Vec<Vec<f32>>> = vec![Vec::new(); 10];
    for (m, rec) in recorded.iter_mut().enumerate() {
        episode(
            &mut env,
            m,
            Box::new(|_, o| {
                let a = pop.act(m, o).unwrap();
                rec.push(a.clone());
                a
            }),
        );
    }
    g.bench_function("env_step_replayed_rim_actions/10x1000", |b| {
        b.iter(|| {
            for (m, rec) in recorded.iter().enumerate() {
                episode(&mut env, m, Box::new(|t, _| rec[t].clone()));
            }
        })
    });
    g.bench_function("rim_policy_and_step_same_episodes/10x1000", |b| {
        b.iter(|| {
            for m in 0..10 {
                episode(&mut env, m, Box::new(|_, o| pop.act(m, o).unwrap()));
            }
        })
    });
    // The batch-1 population forward alone.
    let pop = Population::new(&rim_learner().actor, OBS, ACT, 1, 0).unwrap();
    let obs = vec![0.1f32; OBS];
    g.throughput(Throughput::Elements(1));
    g.bench_function("member_forward/rim-400-400", |b| {
        b.iter(|| pop.act(0, &obs).unwrap())
    });
    g.finish();
}

fn bench_learner(c: &mut Criterion) {
    let mut g = c.benchmark_group("rim");
    g.sample_size(20);
    let cfg = rim_learner();
    let mut l = RimLearner::new(
        &cfg,
        OBS,
        ACT,
        DualTarget::Dual,
        0.001,
        false,
        0,
        &Device::Cpu,
    )
    .unwrap();
    let champ = Population::new(&cfg.actor, OBS, ACT, 1, 3)
        .unwrap()
        .member(0)
        .to_vec();
    let batch = random_batch(128, OBS, ACT);
    g.bench_function("update+recruit/batch128", |b| {
        b.iter(|| {
            l.update(&batch).unwrap();
            l.recruit(&champ).unwrap();
        })
    });
    // One imitation step: L1 to the dual policy at 32 states, backward, Adam.
    let vm = candle_nn::VarMap::new();
    let vb = candor_core::init::seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
    let student = Actor::new(&cfg.actor, OBS, ACT, vb).unwrap();
    let vars = sorted_vars(&vm).into_iter().map(|(_, v)| v).collect();
    let mut opt = Adam::new(vars, AdamConfig::default()).unwrap();
    let obs = random_batch(32, OBS, ACT).obs;
    g.bench_function("imitation_step/batch32", |b| {
        b.iter(|| {
            let loss = l.imitation_loss(&student, &obs).unwrap();
            opt.backward_step(&loss).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench_rollouts, bench_learner);

fn main() {
    rl_main(benches);
}
