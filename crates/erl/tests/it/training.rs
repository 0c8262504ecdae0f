//! The generation loop: determinism across worker counts, and a short ERL run.

use candle_core::Device;
use candor_erl::{rollout_population, train, Config, Population, Variant};
use candor_rl::Registry;

#[test]
fn rollouts_and_runs_do_not_depend_on_the_thread_count() {
    let cfg = Config::tiny(Variant::Rim, "Pendulum-v1").unwrap();
    let pop = Population::new(&cfg.learner.actor, 3, 1, 5, 4).unwrap();
    let reg = Registry::default();
    let one = rollout_population(&reg, "Pendulum-v1", &pop, 2, false, true, 7, 3, 1).unwrap();
    let two = rollout_population(&reg, "Pendulum-v1", &pop, 2, false, true, 7, 3, 2).unwrap();
    assert_eq!(one, two);
    assert_eq!(one.len(), 5);
    assert!(one.iter().all(|r| r.transitions.len() == 400));
    // Members differ, so their returns do.
    assert_ne!(one[0].fitness, one[1].fitness);

    // A whole RIM run (warm-up, SSNE, updates, imitation) with 1 and 2 workers.
    let mut cfg = cfg;
    cfg.pop_size = 4;
    cfg.max_frames = 3000;
    cfg.synch_period = 1;
    cfg.imitation.steps = 30;
    cfg.threads = 1;
    let a = train(&cfg, 11, &Device::Cpu).unwrap();
    cfg.threads = 2;
    let b = train(&cfg, 11, &Device::Cpu).unwrap();
    assert_eq!(a.generations, b.generations);
    assert!(a.imitation_phases >= 1);
    assert!(a.updates > 0);
}

#[test]
fn frames_are_counted_as_the_reference_counts_them() {
    // Pendulum episodes are 200 steps: a generation of 4 members × 1 episode plus the RL
    // episode is 1000 frames; the champion test (2 episodes) is not counted.
    let mut cfg = Config::tiny(Variant::Erl, "Pendulum-v1").unwrap();
    cfg.pop_size = 4;
    cfg.champion_test_episodes = 2;
    cfg.max_frames = 2500;
    let log = train(&cfg, 3, &Device::Cpu).unwrap();
    let frames: Vec<usize> = log.generations.iter().map(|g| g.frames).collect();
    assert_eq!(frames, vec![1000, 2000, 3000]);
    // Generation 0 is warm-up (random actions), then updates: one per frame of the
    // generation once the buffer holds more than 5 batches.
    assert!(log.generations[0].warmup && !log.generations[1].warmup);
    assert_eq!(log.generations[0].updates, 1000);
    // The fixed quirk counts the champion test's 2 × 200 steps too.
    cfg.quirks.uncounted_test_frames = false;
    let log = train(&cfg, 3, &Device::Cpu).unwrap();
    let frames: Vec<usize> = log.generations.iter().map(|g| g.frames).collect();
    assert_eq!(frames, vec![1400, 2800]);
    // DDPG alone: one 200-step RL episode per generation, updates once the buffer holds
    // more than 5 batches (160 transitions): from the first generation on.
    let mut ddpg = Config::tiny(Variant::Ddpg, "Pendulum-v1").unwrap();
    ddpg.max_frames = 600;
    let log = train(&ddpg, 3, &Device::Cpu).unwrap();
    let frames: Vec<usize> = log.generations.iter().map(|g| g.frames).collect();
    assert_eq!(frames, vec![200, 400, 600]);
    assert_eq!(log.updates, 600);
    assert!(log
        .generations
        .iter()
        .all(|g| g.rl_return.is_some() && g.champion_test.is_finite()));
    // EA has no RL episode: 800 frames per generation.
    let mut ea = Config::tiny(Variant::Ea, "Pendulum-v1").unwrap();
    ea.pop_size = 4;
    ea.max_frames = 1600;
    let log = train(&ea, 3, &Device::Cpu).unwrap();
    assert_eq!(log.frames, 1600);
    assert_eq!(log.updates, 0);
}

#[test]
fn short_erl_on_pendulum_improves_on_its_first_generation() {
    let mut cfg = Config::tiny(Variant::Erl, "Pendulum-v1").unwrap();
    cfg.max_frames = 14_000; // 10 generations of 6 × 200 + 200 frames
    let log = train(&cfg, 0, &Device::Cpu).unwrap();
    let tests: Vec<f64> = log.generations.iter().map(|g| g.champion_test).collect();
    let first = tests[0];
    let late = tests[tests.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(
        late > first + 100.0,
        "champion test scores by generation: {tests:?}"
    );
}

#[test]
fn q_bias_is_measured_at_reservoir_states() {
    let mut cfg = Config::tiny(Variant::RimPg, "Pendulum-v1").unwrap();
    cfg.pop_size = 3;
    cfg.max_frames = 1600;
    cfg.imitation.steps = 10;
    cfg.q_bias_states = 5;
    let log = train(&cfg, 2, &Device::Cpu).unwrap();
    let q = log.q_bias.expect("measured");
    assert_eq!((q.estimates.len(), q.returns.len()), (5, 5));
    // Pendulum's rewards lie in [−16.3, 0]: 688 discounted steps give G ∈ [−1630, 0].
    assert!(
        q.returns.iter().all(|g| (-1700.0..=0.0).contains(g)),
        "{q:?}"
    );
    assert!(q.estimates.iter().all(|e| e.is_finite()));
    // Off by default, and EA never measures.
    cfg.q_bias_states = 0;
    assert!(train(&cfg, 2, &Device::Cpu).unwrap().q_bias.is_none());
}

#[test]
fn imitation_runs_on_the_reference_rl_episodes_and_lineage_follows_transfers() {
    // The reference counts the RL episode before checking `episode_num % p == p − 1`:
    // with synch_period 2 the 1st, 3rd, … RL episodes imitate, the others copy π_pg.
    let mut cfg = Config::tiny(Variant::Rim, "Pendulum-v1").unwrap();
    cfg.pop_size = 4;
    cfg.max_frames = 4000;
    cfg.imitation.steps = 10;
    cfg.synch_period = 2;
    let log = train(&cfg, 6, &Device::Cpu).unwrap();
    let transfers: Vec<&str> = log
        .generations
        .iter()
        .map(|g| g.transfer.as_str())
        .collect();
    assert_eq!(transfers, vec!["imitate", "copy", "imitate", "copy"]);
    // Nothing descends from the learner before its first transfer; afterwards the
    // transferred slots (and their clones and crossover children) do.
    assert!(!log.generations[0].champion_from_learner);
    assert!(log.generations.iter().all(|g| g.learner_descendants >= 1));
    // RIM-IL as the reference code without imitation, at synch_period 1: never a
    // transfer, so the population (and its champion) is EA's bit for bit; NoTransfer
    // likewise at any period.
    let mut il = Config::tiny(Variant::RimIl, "Pendulum-v1").unwrap();
    il.pop_size = 4;
    il.max_frames = 3000;
    il.synch_period = 1;
    let mut ea = Config::tiny(Variant::Ea, "Pendulum-v1").unwrap();
    ea.pop_size = 4;
    ea.max_frames = 3000;
    let scores = |c: &Config| -> Vec<f64> {
        let log = train(c, 6, &Device::Cpu).unwrap();
        assert!(log
            .generations
            .iter()
            .all(|g| g.learner_descendants == 0 && g.transfer.is_empty()));
        log.generations.iter().map(|g| g.champion_test).collect()
    };
    let ea_scores = scores(&ea);
    assert_eq!(scores(&il)[..2], ea_scores[..2]);
    il.synch_period = 2;
    if let candor_erl::Algorithm::Rim { transfer, .. } = &mut il.algorithm {
        *transfer = candor_erl::Transfer::NoTransfer;
    }
    assert_eq!(scores(&il)[..2], ea_scores[..2]);
}
