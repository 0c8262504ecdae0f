//! The off-policy loop driven by a counting fake agent on a tiny registered env: the
//! order of env steps and updates under each schedule, warm-up, truncation vs
//! termination, action scaling, evaluation protocol, stored states, and fresh-data usage
//! against `rl-rud.md`'s formula.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::Device;
use candor_core::Result;
use candor_rl::{
    expected_fresh_samples_block, expected_fresh_samples_interleaved, Action, Agent, Batch, Env,
    NoiseConfig, OffPolicyConfig, OffPolicyTrainer, Registry, Space, Step, UpdateInfo,
    UpdateSchedule,
};

/// A 1-D walk: `x ← x + a`, observation `(x, a)`, reward `a`; terminates when
/// `x ≥ terminate_at` (if set). Action box [-2, 2].
struct Line {
    x: f64,
    last: f64,
    terminate_at: Option<f64>,
    obs_space: Space,
    act_space: Space,
}

impl Line {
    fn new(terminate_at: Option<f64>) -> Self {
        Self {
            x: 0.0,
            last: 0.0,
            terminate_at,
            obs_space: Space::uniform_box(-1e6, 1e6, &[2]),
            act_space: Space::uniform_box(-2.0, 2.0, &[1]),
        }
    }
}

impl Env for Line {
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> Vec<f32> {
        self.x = 0.0;
        self.last = 0.0;
        vec![0.0, 0.0]
    }
    fn step(&mut self, action: &Action) -> Result<Step> {
        self.act_space.check(action)?;
        let a = f64::from(action.as_continuous()?[0]);
        self.x += a;
        self.last = a;
        Ok(Step {
            obs: vec![self.x as f32, a as f32],
            reward: a,
            terminated: self.terminate_at.is_some_and(|t| self.x >= t),
            truncated: false,
        })
    }
    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        self.x = state[0];
        self.last = state[1];
        Ok(vec![self.x as f32, self.last as f32])
    }
    fn state(&self) -> Vec<f64> {
        vec![self.x, self.last]
    }
}

fn registry() -> Registry {
    let mut r = Registry::default();
    r.register("Line-v0", Some(4), || Ok(Line::new(None)))
        .unwrap();
    r.register("LineEnd-v0", Some(100), || Ok(Line::new(Some(1.2))))
        .unwrap();
    r
}

/// Records every call in order: `e` act_explore, `a` act, `u` update.
struct Counting {
    log: Rc<RefCell<String>>,
    batches: Vec<(usize, Vec<f32>, Vec<f32>)>,
    device: Device,
}

impl Counting {
    fn new() -> Self {
        Self {
            log: Rc::new(RefCell::new(String::new())),
            batches: Vec::new(),
            device: Device::Cpu,
        }
    }
}

impl Agent for Counting {
    fn act(&mut self, _obs: &[f32]) -> Result<Vec<f32>> {
        self.log.borrow_mut().push('a');
        Ok(vec![0.5])
    }
    fn act_explore(&mut self, _obs: &[f32]) -> Result<Vec<f32>> {
        self.log.borrow_mut().push('e');
        Ok(vec![0.25])
    }
    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        self.log.borrow_mut().push('u');
        let n = batch.obs.dims()[0];
        let actions = batch.actions.flatten_all()?.to_vec1::<f32>()?;
        let dones = batch.dones.to_vec1::<f32>()?;
        self.batches.push((n, actions, dones));
        Ok(UpdateInfo {
            scalars: vec![("n", n as f64)],
        })
    }
    fn device(&self) -> &Device {
        &self.device
    }
}

fn config(env: &str, schedule: UpdateSchedule) -> OffPolicyConfig {
    OffPolicyConfig {
        env_id: env.into(),
        total_steps: 12,
        warmup_steps: 0,
        learning_starts: 0,
        batch_size: 1,
        buffer_capacity: 100,
        schedule,
        noise: NoiseConfig::None,
        eval_every: 0,
        eval_episodes: 1,
        store_states: false,
        fresh_usage_cycle: None,
    }
}

/// Updates run after each of the steps, and the agent's call log.
fn trace(cfg: &OffPolicyConfig) -> (Vec<usize>, String) {
    let mut agent = Counting::new();
    let mut trainer = OffPolicyTrainer::new(cfg, &registry(), 0).unwrap();
    let mut updates = Vec::new();
    trainer
        .run_with(&mut agent, |_, _, ev| {
            updates.push(ev.updates);
            Ok(())
        })
        .unwrap();
    let log = agent.log.borrow().clone();
    (updates, log)
}

#[test]
fn interleaved_updates_once_per_step_after_warmup() {
    let mut cfg = config("Line-v0", UpdateSchedule::Interleaved);
    cfg.total_steps = 8;
    cfg.warmup_steps = 3;
    cfg.learning_starts = 3;
    let (updates, log) = trace(&cfg);
    assert_eq!(updates, vec![0, 0, 0, 1, 1, 1, 1, 1]);
    // Warm-up actions are uniform (no agent call); then act, update, act, update …
    assert_eq!(log, "eueueueueu");
}

#[test]
fn regular_blocks_collect_then_update() {
    let cfg = config(
        "Line-v0",
        UpdateSchedule::Regular {
            interval: 5,
            updates: 3,
        },
    );
    let (updates, log) = trace(&cfg);
    assert_eq!(updates, vec![0, 0, 0, 0, 3, 0, 0, 0, 0, 3, 0, 0]);
    assert_eq!(log, "eeeeeuuueeeeeuuuee");
    // Regular {1, 1} is Interleaved.
    let one = config(
        "Line-v0",
        UpdateSchedule::Regular {
            interval: 1,
            updates: 1,
        },
    );
    let inter = config("Line-v0", UpdateSchedule::Interleaved);
    assert_eq!(trace(&one), trace(&inter));
}

#[test]
fn learning_starts_delays_the_first_block() {
    let mut cfg = config(
        "Line-v0",
        UpdateSchedule::Regular {
            interval: 5,
            updates: 5,
        },
    );
    cfg.learning_starts = 5; // the block after step 5 is skipped: only 5 transitions
    let (updates, _) = trace(&cfg);
    assert_eq!(updates, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0]);
}

#[test]
fn episode_end_updates_as_many_times_as_the_episode_was_long() {
    // Line-v0 is truncated every 4 steps.
    let (updates, log) = trace(&config("Line-v0", UpdateSchedule::EpisodeEnd));
    assert_eq!(updates, vec![0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4]);
    assert_eq!(log, "eeeeuuuueeeeuuuueeeeuuuu");
}

#[test]
fn per_generation_updates_follow_collected_frames() {
    let cfg = config(
        "Line-v0",
        UpdateSchedule::PerGeneration {
            updates_per_frame: 0.5,
        },
    );
    let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 0).unwrap();
    let mut agent = Counting::new();
    // A "generation": two stored episodes of two actors and one unstored test episode.
    let mut frames = 0;
    for a in [0.1f32, -0.1] {
        let ep = trainer
            .collect_episode(&mut |_| Ok(vec![a]), false, true)
            .unwrap();
        frames += ep.len;
    }
    let test = trainer
        .collect_episode(&mut |_| Ok(vec![1.0]), false, false)
        .unwrap();
    assert_eq!((frames, test.len, trainer.steps_done()), (8, 4, 8));
    let n = cfg.schedule.updates_after_generation(frames);
    assert_eq!(trainer.run_updates(&mut agent, n).unwrap(), 4);
    assert_eq!(*agent.log.borrow(), "uuuu");
    assert_eq!(trainer.updates_done(), 4);
    // Per-step scheduling does nothing for PerGeneration.
    let ev = trainer.step(&mut agent).unwrap();
    assert_eq!(ev.updates, 0);
}

#[test]
fn truncation_is_never_terminal_and_actions_are_stored_in_the_unit_box() {
    let mut cfg = config("Line-v0", UpdateSchedule::Interleaved);
    cfg.total_steps = 8;
    cfg.batch_size = 8;
    cfg.schedule = UpdateSchedule::Regular {
        interval: 8,
        updates: 1,
    };
    let mut agent = Counting::new();
    let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 0).unwrap();
    trainer.run(&mut agent).unwrap();
    let all = trainer.buffer().gather((0..8).collect());
    assert_eq!(all.dones, vec![0.0; 8]); // two truncated episodes
    assert_eq!(all.actions, vec![0.25; 8]); // unit box, not the env's 0.5
    assert_eq!(all.rewards, vec![0.5; 8]); // the env got 0.25 mapped to [-2, 2]
    assert_eq!(trainer.episodes().len(), 2);
    assert!(trainer
        .episodes()
        .iter()
        .all(|e| !e.terminated && e.len == 4));
    // The agent's batch carries the same.
    assert_eq!(agent.batches[0].0, 8);

    // A terminating env stores done = 1 on the terminating transition only.
    let mut cfg = config("LineEnd-v0", UpdateSchedule::Interleaved);
    cfg.total_steps = 6;
    let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 0).unwrap();
    trainer.run(&mut Counting::new()).unwrap();
    // Env actions of 0.5: x = 0.5, 1.0, then 1.5 ≥ 1.2 terminates at step 3.
    let all = trainer.buffer().gather((0..6).collect());
    assert_eq!(all.dones, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    assert!(trainer
        .episodes()
        .iter()
        .all(|e| e.terminated && e.len == 3));
}

#[test]
fn evaluation_follows_the_td3_protocol() {
    let mut cfg = config("Line-v0", UpdateSchedule::Interleaved);
    cfg.total_steps = 8;
    cfg.eval_every = 4;
    cfg.eval_episodes = 2;
    let mut agent = Counting::new();
    let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 0).unwrap();
    trainer.run(&mut agent).unwrap();
    let h = trainer.history();
    assert_eq!(h.steps, vec![0, 4, 8]);
    // Deterministic act = 0.5 → env action 1.0 for 4 steps: return 4 per episode.
    assert_eq!(h.returns, vec![vec![4.0, 4.0]; 3]);
    assert_eq!(h.max_average(), Some(4.0));
    // 3 evaluations × 2 episodes × 4 steps of `act`, and the training env was untouched
    // by them: 8 training steps, each act_explore then update.
    let log = agent.log.borrow();
    assert_eq!(log.matches('a').count(), 24);
    assert_eq!(log.matches('e').count(), 8);
    assert_eq!(trainer.episodes().len(), 2);
}

#[test]
fn stored_states_are_the_states_before_each_step() {
    let mut cfg = config("Line-v0", UpdateSchedule::Interleaved);
    cfg.total_steps = 6;
    cfg.store_states = true;
    let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 0).unwrap();
    trainer.run(&mut Counting::new()).unwrap();
    // Env actions are 0.5 each: x before steps 1..4 = 0, 0.5, 1, 1.5; reset after 4.
    let xs: Vec<f64> = (0..6)
        .map(|s| trainer.stored_state(s).unwrap()[0])
        .collect();
    assert_eq!(xs, vec![0.0, 0.5, 1.0, 1.5, 0.0, 0.5]);
    assert!(trainer.stored_state(6).is_none());
    let without = OffPolicyTrainer::new(
        &config("Line-v0", UpdateSchedule::Interleaved),
        &registry(),
        0,
    )
    .unwrap();
    assert!(without.stored_state(0).is_none());
}

/// Over many cycles, the fresh samples the loop counts match `rl-rud.md`'s expectation
/// for both schedules: the total is a sum of binomial counts, whose variance is below
/// its mean, so it must lie within 4·√expected of the expectation.
#[test]
fn fresh_usage_matches_the_expected_counts() {
    let (start, n, b, cycles) = (100, 10, 50, 400);
    for schedule in [
        UpdateSchedule::Interleaved,
        UpdateSchedule::Regular {
            interval: n,
            updates: n,
        },
    ] {
        let mut cfg = config("Line-v0", schedule);
        cfg.total_steps = start + n * cycles;
        cfg.learning_starts = start;
        cfg.batch_size = b;
        cfg.buffer_capacity = cfg.total_steps;
        cfg.fresh_usage_cycle = Some(n);
        let mut trainer = OffPolicyTrainer::new(&cfg, &registry(), 3).unwrap();
        trainer.run(&mut Counting::new()).unwrap();
        let per_cycle = trainer.fresh_usage().unwrap().per_cycle();
        assert_eq!(per_cycle.len(), (start + n * cycles) / n);
        let observed: u64 = per_cycle[start / n..].iter().sum();
        let expected: f64 = (0..cycles)
            .map(|k| {
                let t = start + k * n;
                match schedule {
                    UpdateSchedule::Interleaved => expected_fresh_samples_interleaved(t, n, b),
                    _ => expected_fresh_samples_block(t, n, b),
                }
            })
            .sum();
        eprintln!("{schedule:?}: {observed} fresh samples, expected {expected:.1}");
        let gap = (observed as f64 - expected).abs();
        assert!(
            gap < 4.0 * expected.sqrt(),
            "{schedule:?}: {observed} vs {expected:.1}"
        );
        assert!(per_cycle[..start / n].iter().all(|&c| c == 0));
    }
}

#[test]
fn bad_configs_and_agents_are_errors() {
    let reg = registry();
    let mut cfg = config("CartPole-v1", UpdateSchedule::Interleaved);
    let err = OffPolicyTrainer::new(&cfg, &reg, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("continuous actions"), "{err}");
    cfg.env_id = "Nope-v0".into();
    assert!(OffPolicyTrainer::new(&cfg, &reg, 0)
        .unwrap_err()
        .to_string()
        .contains("unknown"));
    let mut cfg = config(
        "Line-v0",
        UpdateSchedule::Regular {
            interval: 0,
            updates: 1,
        },
    );
    assert!(OffPolicyTrainer::new(&cfg, &reg, 0).is_err());
    cfg.schedule = UpdateSchedule::Interleaved;
    cfg.batch_size = 0;
    assert!(OffPolicyTrainer::new(&cfg, &reg, 0).is_err());

    struct WrongWidth(Device);
    impl Agent for WrongWidth {
        fn act(&mut self, _: &[f32]) -> Result<Vec<f32>> {
            Ok(vec![0.0, 0.0])
        }
        fn update(&mut self, _: &Batch) -> Result<UpdateInfo> {
            Ok(UpdateInfo::default())
        }
        fn device(&self) -> &Device {
            &self.0
        }
    }
    let cfg = config("Line-v0", UpdateSchedule::Interleaved);
    let mut trainer = OffPolicyTrainer::new(&cfg, &reg, 0).unwrap();
    let err = trainer
        .step(&mut WrongWidth(Device::Cpu))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 action elements"), "{err}");
}

#[test]
fn same_seed_same_run() {
    let mut cfg = config("Line-v0", UpdateSchedule::Interleaved);
    cfg.noise = NoiseConfig::Gaussian { sigma: 0.3 };
    cfg.warmup_steps = 5;
    cfg.batch_size = 3;
    let run = |seed| {
        let mut agent = Counting::new();
        let mut t = OffPolicyTrainer::new(&cfg, &registry(), seed).unwrap();
        t.run(&mut agent).unwrap();
        agent.batches
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

/// Monte-Carlo return from a stored state: rewards 1 per step, γ = 0.5, stop once
/// γ^h < 0.1 (after 4 steps): 1 + 0.5 + 0.25 + 0.125 = 1.875; an unwrapped env is not
/// cut by its time limit, and termination ends the sum (LineEnd: x from 0.5 reaches 1.2
/// after 1 step of 1.0, reward 1).
#[test]
fn discounted_return_from_a_state() {
    let reg = registry();
    let mut policy = |_: &[f32]| Ok(Action::Continuous(vec![1.0]));
    let mut env = reg.make_unwrapped("Line-v0").unwrap();
    let g = candor_rl::discounted_return(env.as_mut(), &[0.0, 0.0], &mut policy, 0.5, 0.1).unwrap();
    assert_eq!(g, 1.875);
    let mut env = reg.make_unwrapped("LineEnd-v0").unwrap();
    let g =
        candor_rl::discounted_return(env.as_mut(), &[0.5, 0.0], &mut policy, 0.99, 1e-3).unwrap();
    assert_eq!(g, 1.0);
    assert!(
        candor_rl::discounted_return(env.as_mut(), &[0.0, 0.0], &mut policy, 1.0, 1e-3).is_err()
    );
}

/// A deterministic policy of the observation that records every batch it is given
/// (as bits), so two runs can be compared update by update.
struct Recorder {
    batches: Vec<Vec<u32>>,
    device: Device,
}

impl Agent for Recorder {
    fn act(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        Ok(vec![(obs[0] * 0.7 - obs[2] * 0.1).clamp(-1.0, 1.0)])
    }
    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        let mut bits = Vec::new();
        for t in [&batch.obs, &batch.actions, &batch.next_obs] {
            bits.extend(
                t.flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|x| x.to_bits()),
            );
        }
        for t in [&batch.rewards, &batch.dones] {
            bits.extend(t.to_vec1::<f32>()?.iter().map(|x| x.to_bits()));
        }
        self.batches.push(bits);
        Ok(UpdateInfo::default())
    }
    fn device(&self) -> &Device {
        &self.device
    }
}

/// Everything a finished loop exposes, as bits where it holds floats.
fn outcome(t: &OffPolicyTrainer) -> String {
    let all: Vec<usize> = (0..t.buffer().len()).collect();
    let states: Vec<Vec<f64>> = (0..t.buffer().len())
        .map(|i| t.stored_state(i).unwrap().to_vec())
        .collect();
    format!(
        "{} {} {:?} {:?} {:?} {:?} {:?}",
        t.steps_done(),
        t.updates_done(),
        t.episodes(),
        t.history(),
        t.fresh_usage(),
        t.buffer().gather(all),
        states
    )
}

/// A trainer snapshotted at an episode boundary and restored into a trainer built with
/// another seed continues exactly as the uninterrupted one: same batches, episodes,
/// evaluations, fresh-data counts, buffer and stored simulator states (Pendulum, OU
/// noise, a ring buffer that wraps).
#[test]
fn a_restored_trainer_continues_bit_for_bit() {
    let cfg = OffPolicyConfig {
        env_id: "Pendulum-v1".into(),
        total_steps: 900,
        warmup_steps: 250,
        learning_starts: 100,
        batch_size: 8,
        buffer_capacity: 500,
        schedule: UpdateSchedule::Interleaved,
        noise: NoiseConfig::ou_default(),
        eval_every: 300,
        eval_episodes: 1,
        store_states: true,
        fresh_usage_cycle: Some(50),
    };
    let reg = Registry::default();
    let new_agent = || Recorder {
        batches: Vec::new(),
        device: Device::Cpu,
    };
    let mut a = new_agent();
    let mut full = OffPolicyTrainer::new(&cfg, &reg, 3).unwrap();
    full.run(&mut a).unwrap();

    // Stop at the first episode boundary after 300 steps (Pendulum: step 400).
    let mut b = new_agent();
    let mut first = OffPolicyTrainer::new(&cfg, &reg, 3).unwrap();
    first
        .run_with(&mut b, |t, _, ev| {
            assert_eq!(t.at_episode_boundary(), ev.episode.is_some());
            if ev.step > 300 && t.at_episode_boundary() {
                return Err(candor_core::Error::invalid("stop"));
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!(first.steps_done(), 400);
    let snap = first.snapshot().unwrap();
    drop(first);
    let tensors: std::collections::HashMap<_, _> = snap.tensors.into_iter().collect();
    let mut resumed = OffPolicyTrainer::new(&cfg, &reg, 77).unwrap();
    resumed.restore(&snap.state, &tensors).unwrap();
    resumed.run(&mut b).unwrap();

    assert_eq!(a.batches.len(), b.batches.len());
    assert!(a.batches == b.batches, "the updates saw other batches");
    assert_eq!(outcome(&full), outcome(&resumed));
    assert_eq!(full.history().len(), 4);

    // Other settings, or missing tensors, are errors.
    let mut other = cfg.clone();
    other.batch_size = 9;
    let mut wrong = OffPolicyTrainer::new(&other, &reg, 3).unwrap();
    assert!(wrong.restore(&snap.state, &tensors).is_err());
    let mut lacking = tensors.clone();
    lacking.remove("trainer/sim_states");
    let mut t = OffPolicyTrainer::new(&cfg, &reg, 3).unwrap();
    assert!(t.restore(&snap.state, &lacking).is_err());
}

/// Mid-episode there is no snapshot (see the module docs of `offpolicy`).
#[test]
fn no_snapshot_in_the_middle_of_an_episode() {
    let mut cfg = config("Pendulum-v1", UpdateSchedule::Interleaved);
    cfg.total_steps = 5;
    let mut t = OffPolicyTrainer::new(&cfg, &Registry::default(), 0).unwrap();
    assert!(t.snapshot().is_ok());
    let mut agent = Recorder {
        batches: Vec::new(),
        device: Device::Cpu,
    };
    t.run(&mut agent).unwrap();
    assert!(!t.at_episode_boundary());
    let err = t.snapshot().unwrap_err().to_string();
    assert!(err.contains("episode boundary"), "{err}");
}
