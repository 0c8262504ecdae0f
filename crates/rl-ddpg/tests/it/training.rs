//! Training through candor-rl's loop: every schedule runs the learner as often as it
//! should, runs are reproducible, and a short TD3 run on Pendulum beats a random policy.

use candle_core::Device;
use candor_core::stats::claim::Judgement;
use candor_core::stats::groups::welch;
use candor_rl::UpdateSchedule;
use candor_rl_ddpg::reproduce::random_returns;
use candor_rl_ddpg::{train, Config, Preset};

fn small(preset: Preset, steps: usize) -> Config {
    let mut cfg = Config::preset(preset, "Pendulum-v1");
    cfg.learner.actor.hidden = vec![16, 16];
    cfg.learner.critic.hidden = vec![16, 16];
    cfg.train.total_steps = steps;
    cfg.train.warmup_steps = 100;
    cfg.train.learning_starts = 100;
    cfg.train.batch_size = 16;
    cfg.train.eval_every = 0;
    cfg
}

/// Updates per schedule on 1000 Pendulum steps (200-step episodes, learning after 100):
/// interleaved one per step after step 100; RUD 100 after every 100th step from 200 on;
/// TD3-2018 200 at each episode end (updates from the first on); the actor every update,
/// or every second with TD3's delay.
#[test]
fn each_schedule_drives_the_learner() {
    let cases = [
        (Preset::Ddpg, 900, 900),
        (Preset::Rud, 900, 900),
        (Preset::RudCdq, 900, 900),
        (Preset::Td3, 900, 450),
        (Preset::Td3_2018, 1000, 500),
        (Preset::DdpgOriginal, 900, 900),
    ];
    for (preset, updates, actor_updates) in cases {
        let mut cfg = small(preset, 1000);
        if preset == Preset::Td3_2018 {
            cfg.train.learning_starts = 0;
        }
        let (_, log) = train(&cfg, 1, &Device::Cpu).unwrap();
        assert_eq!(log.steps, 1000, "{preset}");
        assert_eq!(
            (log.updates, log.actor_updates),
            (updates, actor_updates),
            "{preset}"
        );
    }
    // A regular schedule whose blocks straddle the start of learning.
    let mut cfg = small(Preset::Rud, 1000);
    cfg.train.schedule = UpdateSchedule::Regular {
        interval: 300,
        updates: 50,
    };
    let (_, log) = train(&cfg, 1, &Device::Cpu).unwrap();
    assert_eq!(log.updates, 150, "after steps 300, 600 and 900");
}

#[test]
fn same_seed_same_run() {
    let mut cfg = small(Preset::Td3, 400);
    cfg.train.eval_every = 200;
    cfg.train.eval_episodes = 1;
    let (_, a) = train(&cfg, 5, &Device::Cpu).unwrap();
    let (_, b) = train(&cfg, 5, &Device::Cpu).unwrap();
    let (_, c) = train(&cfg, 6, &Device::Cpu).unwrap();
    assert_eq!(a.history, b.history);
    assert_ne!(a.history, c.history);
}

/// TD3 on Pendulum for 6000 steps (64-64 networks): its 10 evaluation episodes beat 100
/// episodes of a uniform random policy (Welch, one-sided α = 0.01).
#[test]
fn short_td3_run_on_pendulum_beats_random() {
    let mut cfg = Config::preset(Preset::Td3, "Pendulum-v1");
    cfg.learner.actor.hidden = vec![64, 64];
    cfg.learner.critic.hidden = vec![64, 64];
    cfg.train.total_steps = 6000;
    cfg.train.eval_every = 6000;
    let (_, log) = train(&cfg, 0, &Device::Cpu).unwrap();
    let trained = log.history.returns.last().unwrap().clone();
    let random = random_returns("Pendulum-v1", 100, 0).unwrap();
    let j = Judgement::superior(&welch(&trained, &random, "episodes").unwrap(), 0.01).unwrap();
    assert!(
        j.test.p < 0.01,
        "trained {trained:?} vs random mean {}: {:?}",
        random.iter().sum::<f64>() / 100.0,
        j.test
    );
}
