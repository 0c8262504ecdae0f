//! The generation loop of ERL and RIM (the card's pseudo-code, from the reference code),
//! with the population's rollouts in parallel.
//!
//! ```text
//! for each generation:
//!     fitness[i] ← mean return of num_evals episodes of individual i  (stored in B)
//!     champ ← argmax fitness; worst ← argmin fitness                 (before SSNE)
//!     champion test: 5 episodes of population[champ]                 (not stored, not counted)
//!     SSNE epoch
//!     RL episode with π_pg                                           (stored in B)
//!     if |B| > 5·batch:
//!         gen_frames × update_frc times: update; recruit π_ea toward population[champ]
//!         transfer into population[worst]: imitation or copy (RIM), copy (ERL)
//! ```
//!
//! **Frames** are counted as the reference counts them: every stored step of the
//! population's and the RL agent's episodes; the champion test is neither stored nor
//! counted (with [`crate::Quirks::uncounted_test_frames`] off, its steps are counted).
//!
//! **DDPG** ([`crate::Algorithm::Ddpg`]) has no population: a generation is one RL
//! episode with OU noise (stored, counted), one update per frame once the buffer holds
//! more than `learning_starts`, then the test episodes of the noise-free actor, whose
//! mean return is the generation's `champion_test`. While fewer than `warmup_frames` frames have been collected, actions are
//! uniform in the env's box and stored clipped to `[-1, 1]` (the reference's quirk 4);
//! policy actions are stored in the unit box and mapped to the env's box to act.
//!
//! **Parallel and deterministic.** Individual `i` of generation `g` runs its episodes on
//! whichever worker takes it, on that worker's own env instance, reset with a seed
//! derived from `(seed, g, i)` and with its own warm-up RNG stream; its transitions are
//! stored after the generation in individual order. The result therefore does not depend
//! on the number of workers. (Difference from the sequential reference: whether an
//! individual acts randomly is decided by the frame count at the start of its generation,
//! not mid-generation.)
//!
//! **Lineage.** Each slot carries a flag: does it descend from a learner transfer (an
//! imitated or copied individual, or a clone or crossover child of one, through SSNE's
//! [`EpochOutcome::sources`](crate::EpochOutcome::sources))? Each generation records its
//! champion's slot and flag, which tells a champion the learner never touched.
//!
//! **Checkpoints.** Between generations every environment is reset before its next use,
//! so a run is fully described by its population, replay buffer, learner (networks and
//! optimisers), random streams and counters: [`Trainer::save_checkpoint`] writes them
//! atomically, [`Trainer::resume`] continues bit for bit, [`train_checkpointed`] does both
//! around a run.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use candle_core::Device;
use candor_core::{Error, Result, SeededRng};
use candor_rl::{clip_unit, Action, ActionScaler, Agent, Env, Noise, Registry, ReplayBuffer};
use candor_rl_ddpg::{q_bias_at_states, Actor as DdpgActor, Ddpg, QBiasPoint};
use serde::{Deserialize, Serialize};

use crate::config::{Algorithm, Config, DualTarget, Transfer};
use crate::rim::{ImitationLog, RimLearner};
use crate::ssne::Population;
use crate::steps::{check_learner, learner_tensors, restore_learner};

/// One stored transition (unit-box action).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub obs: Vec<f32>,
    pub action: Vec<f32>,
    pub reward: f64,
    pub next_obs: Vec<f32>,
    /// The flag stored as terminal (see [`crate::Quirks::truncation_terminal`]).
    pub done: bool,
    /// The simulator state before the step (only when Q-bias is measured).
    pub state: Option<Vec<f64>>,
}

/// The episodes of one individual.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Mean undiscounted return over the episodes.
    pub fitness: f64,
    /// Every step, in order.
    pub transitions: Vec<Transition>,
}

/// How an individual or agent acts during a rollout.
enum Actor<'a> {
    /// Uniform in the env's box (warm-up).
    Random(&'a mut SeededRng),
    /// A flat population member.
    Member(&'a Population, usize),
    /// A learner's (noise-free) actor.
    Net(&'a DdpgActor),
}

/// One episode on `env` (reset with `seed`), acting with `actor`; returns the return and
/// the number of steps, and appends the transitions when `store` is given.
#[allow(clippy::too_many_arguments)]
fn episode(
    env: &mut dyn Env,
    seed: Option<u64>,
    actor: &mut Actor,
    scaler: &ActionScaler,
    truncation_terminal: bool,
    keep_states: bool,
    mut store: Option<&mut Vec<Transition>>,
) -> Result<(f64, usize)> {
    let mut obs = env.reset(seed);
    let mut ret = 0.0;
    let mut len = 0;
    loop {
        let state = keep_states.then(|| env.state());
        let (env_action, stored) = match actor {
            Actor::Random(rng) => {
                let Action::Continuous(a) = env.action_space().sample(rng)? else {
                    return Err(Error::invalid(
                        "candor-erl: the task's actions are not a box",
                    ));
                };
                let mut stored = a.clone();
                clip_unit(&mut stored);
                (a, stored)
            }
            Actor::Member(pop, i) => {
                let mut a = pop.act(*i, &obs)?;
                clip_unit(&mut a);
                (scaler.to_env(&a)?, a)
            }
            Actor::Net(net) => {
                let mut a = net.act(&obs)?;
                clip_unit(&mut a);
                (scaler.to_env(&a)?, a)
            }
        };
        let step = env.step(&Action::Continuous(env_action))?;
        ret += step.reward;
        len += 1;
        let done = step.done();
        if let Some(buf) = store.as_deref_mut() {
            buf.push(Transition {
                obs: std::mem::take(&mut obs),
                action: stored,
                reward: step.reward,
                next_obs: step.obs.clone(),
                done: step.terminated || (truncation_terminal && step.truncated),
                state,
            });
        }
        if done {
            return Ok((ret, len));
        }
        obs = step.obs;
    }
}

/// Number of workers for `threads` (0: one per core) and `jobs`.
fn workers(threads: usize, jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = if threads == 0 { cores } else { threads };
    t.clamp(1, jobs.max(1))
}

/// Fitness rollouts of every member: `episodes` episodes each (random actions when
/// `random` holds), on `threads` workers (0: one per core), each with its own env. The
/// result depends only on `(seed, generation)`, not on the worker count.
#[allow(clippy::too_many_arguments)]
pub fn rollout_population(
    registry: &Registry,
    env_id: &str,
    pop: &Population,
    episodes: usize,
    random: bool,
    truncation_terminal: bool,
    seed: u64,
    generation: usize,
    threads: usize,
) -> Result<Vec<Rollout>> {
    rollout_population_with(
        registry,
        env_id,
        pop,
        episodes,
        random,
        truncation_terminal,
        false,
        seed,
        generation,
        threads,
    )
}

/// [`rollout_population`], keeping each step's simulator state when `keep_states`.
#[allow(clippy::too_many_arguments)]
pub fn rollout_population_with(
    registry: &Registry,
    env_id: &str,
    pop: &Population,
    episodes: usize,
    random: bool,
    truncation_terminal: bool,
    keep_states: bool,
    seed: u64,
    generation: usize,
    threads: usize,
) -> Result<Vec<Rollout>> {
    let k = pop.len();
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Rollout>>>> = (0..k).map(|_| Mutex::new(None)).collect();
    let run_one = |env: &mut dyn Env, scaler: &ActionScaler, i: usize| -> Result<Rollout> {
        let name = format!("erl/rollout/{generation}/{i}");
        let mut rng = SeededRng::derive(seed, &name);
        let env_seed = rng.below(usize::MAX) as u64;
        let mut transitions = Vec::new();
        let mut total = 0.0;
        for e in 0..episodes {
            let mut actor = if random {
                Actor::Random(&mut rng)
            } else {
                Actor::Member(pop, i)
            };
            let s = (e == 0).then_some(env_seed);
            total += episode(
                env,
                s,
                &mut actor,
                scaler,
                truncation_terminal,
                keep_states,
                Some(&mut transitions),
            )?
            .0;
        }
        Ok(Rollout {
            fitness: total / episodes as f64,
            transitions,
        })
    };
    let work = || -> Result<()> {
        let mut env = registry.make(env_id)?;
        let scaler = ActionScaler::new(env.action_space())?;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= k {
                return Ok(());
            }
            let r = run_one(env.as_mut(), &scaler, i);
            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        }
    };
    let n = workers(threads, k);
    if n == 1 {
        work()?;
    } else {
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = (0..n).map(|_| s.spawn(work)).collect();
            for h in handles {
                h.join()
                    .map_err(|_| Error::invalid("candor-erl: a rollout worker panicked"))??;
            }
            Ok(())
        })?;
    }
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(Error::invalid("candor-erl: a rollout was skipped")))
        })
        .collect()
}

/// One generation's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// 0-based.
    pub generation: usize,
    /// Frames collected so far, this generation included.
    pub frames: usize,
    /// Best and mean fitness of the population's rollouts (DDPG: its RL episode's
    /// return).
    pub best_fitness: f64,
    pub mean_fitness: f64,
    /// Mean return of the champion's noise-free test episodes (not stored; DDPG: its
    /// actor's, after the generation's updates).
    pub champion_test: f64,
    /// Whether the population acted randomly (warm-up).
    pub warmup: bool,
    /// The RL episode's return (None for EA).
    pub rl_return: Option<f64>,
    /// Gradient updates run.
    pub updates: usize,
    /// `"imitate"`, `"copy"` or `""`.
    pub transfer: String,
    /// The imitation phase, if one ran.
    pub imitation: Option<ImitationLog>,
    /// The champion's slot (before SSNE; the slot whose test episodes give
    /// `champion_test`; DDPG: 0).
    #[serde(default)]
    pub champion: usize,
    /// Whether the champion descends from a learner transfer (an imitated or copied
    /// individual, or a clone or crossover child of one): `false` means its parameters
    /// come from the population alone, untouched by the learner.
    #[serde(default)]
    pub champion_from_learner: bool,
    /// Slots descending from a learner transfer after this generation (SSNE and
    /// transfer included).
    #[serde(default)]
    pub learner_descendants: usize,
}

/// One run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    pub seed: u64,
    pub generations: Vec<GenerationRecord>,
    /// Frames collected.
    pub frames: usize,
    /// Gradient updates.
    pub updates: usize,
    /// Imitation phases run.
    pub imitation_phases: usize,
    /// Wall-clock seconds: all, population rollouts, updates, imitation.
    pub seconds: f64,
    pub rollout_seconds: f64,
    pub update_seconds: f64,
    pub imitation_seconds: f64,
    /// The end-of-run Q-bias measurement ([`Config::q_bias_states`]): the critic's
    /// value of the policy its target bootstraps on (RIM: the dual policy π_rl; RIM-PG
    /// and ERL: π_pg; RIM-EA: π_ea) against that policy's Monte-Carlo return.
    #[serde(default)]
    pub q_bias: Option<QBiasPoint>,
}

impl RunLog {
    /// The last generation's champion test score.
    pub fn final_score(&self) -> f64 {
        self.generations
            .last()
            .map_or(f64::NAN, |g| g.champion_test)
    }

    /// The champion test score at `frames` (the last generation finished by then; NaN
    /// before the first).
    pub fn score_at(&self, frames: usize) -> f64 {
        self.generations
            .iter()
            .take_while(|g| g.frames <= frames)
            .last()
            .map_or(f64::NAN, |g| g.champion_test)
    }

    /// The first frame count at which the champion test reached `level` (None: never).
    pub fn frames_to_reach(&self, level: f64) -> Option<usize> {
        self.generations
            .iter()
            .find(|g| g.champion_test >= level)
            .map(|g| g.frames)
    }
}

enum Learner {
    None,
    /// ERL's (and DDPG's) learner: candor-rl-ddpg's, with one critic and no smoothing.
    Erl(Box<Ddpg>),
    Rim(Box<RimLearner>),
}

/// A run in progress: call [`Trainer::generation`] until [`Trainer::finished`].
pub struct Trainer {
    cfg: Config,
    seed: u64,
    registry: Registry,
    pop: Population,
    buffer: ReplayBuffer,
    learner: Learner,
    rl_env: candor_rl::BoxedEnv,
    test_env: candor_rl::BoxedEnv,
    scaler: ActionScaler,
    noise: Noise,
    /// Noise vectors drawn so far (a resumed run fast-forwards a fresh process by as many).
    noise_draws: usize,
    rng_ssne: SeededRng,
    rng_sample: SeededRng,
    rng_warmup: SeededRng,
    rng_reservoir: SeededRng,
    reservoir: Vec<Vec<f64>>,
    seen: usize,
    device: Device,
    frames: usize,
    generation: usize,
    num_games: usize,
    rl_episodes: usize,
    /// Per slot: whether it descends from a learner transfer (see
    /// [`GenerationRecord::champion_from_learner`]).
    lineage: Vec<bool>,
    log: RunLog,
}

impl Trainer {
    /// A run of `cfg` from `seed` (the learner's tensors on `device`).
    pub fn new(cfg: &Config, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let registry = Registry::default();
        let mut rl_env = registry.make(&cfg.env_id)?;
        let test_env = registry.make(&cfg.env_id)?;
        let scaler = ActionScaler::new(rl_env.action_space())?;
        let obs_dim = rl_env.observation_space().flat_dim();
        let action_dim = scaler.dim();
        rl_env.reset(Some(
            SeededRng::derive(seed, "erl/rl-env").below(usize::MAX) as u64,
        ));
        let pop = Population::new(&cfg.learner.actor, obs_dim, action_dim, cfg.pop_size, seed)?;
        let buffer = ReplayBuffer::for_env(cfg.buffer_capacity, rl_env.as_ref())?;
        let learner = match cfg.algorithm {
            Algorithm::Ea => Learner::None,
            Algorithm::Erl | Algorithm::Ddpg => {
                let d = Ddpg::new(&cfg.learner, obs_dim, action_dim, seed, device)?;
                check_learner(&cfg.learner)?;
                Learner::Erl(Box::new(d))
            }
            Algorithm::Rim {
                target,
                recruit_tau,
                ..
            } => Learner::Rim(Box::new(RimLearner::new(
                &cfg.learner,
                obs_dim,
                action_dim,
                target,
                recruit_tau,
                cfg.quirks.batch_wide_comparison,
                seed,
                device,
            )?)),
        };
        let noise = cfg.rl_noise.build(
            action_dim,
            SeededRng::derive(seed, "erl/noise").below(usize::MAX) as u64,
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            seed,
            registry,
            pop,
            buffer,
            learner,
            rl_env,
            test_env,
            scaler,
            noise,
            noise_draws: 0,
            rng_ssne: SeededRng::derive(seed, "erl/ssne"),
            rng_sample: SeededRng::derive(seed, "erl/sample"),
            rng_warmup: SeededRng::derive(seed, "erl/rl-warmup"),
            rng_reservoir: SeededRng::derive(seed, "erl/q-bias-states"),
            reservoir: Vec::new(),
            seen: 0,
            device: device.clone(),
            frames: 0,
            generation: 0,
            num_games: 0,
            rl_episodes: 0,
            lineage: vec![false; cfg.pop_size],
            log: RunLog {
                seed,
                generations: Vec::new(),
                frames: 0,
                updates: 0,
                imitation_phases: 0,
                seconds: 0.0,
                rollout_seconds: 0.0,
                update_seconds: 0.0,
                imitation_seconds: 0.0,
                q_bias: None,
            },
        })
    }

    /// Whether the frame budget is spent.
    pub fn finished(&self) -> bool {
        self.frames >= self.cfg.max_frames
    }

    /// The population.
    pub fn population(&self) -> &Population {
        &self.pop
    }

    /// The replay buffer.
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    /// The RIM learner, if this run has one.
    pub fn rim(&self) -> Option<&RimLearner> {
        match &self.learner {
            Learner::Rim(r) => Some(r),
            _ => None,
        }
    }

    /// The log so far.
    pub fn log(&self) -> &RunLog {
        &self.log
    }

    fn push_all(&mut self, transitions: &[Transition]) -> Result<()> {
        for t in transitions {
            if let Some(state) = &t.state {
                // Reservoir sampling (algorithm R) over every stored transition.
                self.seen += 1;
                let k = self.cfg.q_bias_states;
                if self.reservoir.len() < k {
                    self.reservoir.push(state.clone());
                } else {
                    let j = self.rng_reservoir.below(self.seen);
                    if j < k {
                        self.reservoir[j] = state.clone();
                    }
                }
            }
            self.buffer.push(
                &t.obs,
                &Action::Continuous(t.action.clone()),
                t.reward,
                &t.next_obs,
                t.done,
            )?;
        }
        Ok(())
    }

    /// The RL agent's episode (stored, counted).
    fn rl_episode(&mut self) -> Result<(f64, usize)> {
        let warm = self.frames < self.cfg.warmup_frames;
        let mut obs = self.rl_env.reset(None);
        self.noise.reset();
        let mut ret = 0.0;
        let mut steps = Vec::new();
        loop {
            let state = (self.cfg.q_bias_states > 0).then(|| self.rl_env.state());
            let (env_a, stored) = if warm {
                let Action::Continuous(a) =
                    self.rl_env.action_space().sample(&mut self.rng_warmup)?
                else {
                    return Err(Error::invalid(
                        "candor-erl: the task's actions are not a box",
                    ));
                };
                let mut s = a.clone();
                clip_unit(&mut s);
                (a, s)
            } else {
                let mut a = match &mut self.learner {
                    Learner::Erl(d) => d.act(&obs)?,
                    Learner::Rim(r) => r.act(&obs)?,
                    Learner::None => return Err(Error::invalid("EA has no RL agent")),
                };
                self.noise.perturb(&mut a);
                self.noise_draws += 1;
                clip_unit(&mut a);
                (self.scaler.to_env(&a)?, a)
            };
            let step = self.rl_env.step(&Action::Continuous(env_a))?;
            ret += step.reward;
            steps.push(Transition {
                obs: std::mem::take(&mut obs),
                action: stored,
                reward: step.reward,
                next_obs: step.obs.clone(),
                done: step.terminated || (self.cfg.quirks.truncation_terminal && step.truncated),
                state,
            });
            if step.done() {
                break;
            }
            obs = step.obs;
        }
        self.push_all(&steps)?;
        Ok((ret, steps.len()))
    }

    /// Mean return of `episodes` noise-free test episodes (not stored) of `actor`, reset
    /// first with a seed derived from `(seed, generation)`, and their total steps.
    fn test_episodes(&mut self, member: Option<usize>) -> Result<(f64, usize)> {
        let g = self.generation;
        let test_seed =
            SeededRng::derive(self.seed, &format!("erl/test/{g}")).below(usize::MAX) as u64;
        let (mut total, mut steps) = (0.0, 0);
        for e in 0..self.cfg.champion_test_episodes {
            let mut actor = match (member, &self.learner) {
                (Some(i), _) => Actor::Member(&self.pop, i),
                (None, Learner::Erl(d)) => Actor::Net(d.actor()),
                (None, _) => return Err(Error::invalid("candor-erl: no policy to test")),
            };
            let (ret, len) = episode(
                self.test_env.as_mut(),
                (e == 0).then_some(test_seed),
                &mut actor,
                &self.scaler,
                false,
                false,
                None,
            )?;
            total += ret;
            steps += len;
        }
        Ok((total / self.cfg.champion_test_episodes.max(1) as f64, steps))
    }

    /// `n` gradient updates; RIM recruits toward `champion` after each.
    fn updates(&mut self, n: usize, champion: Option<&[f32]>) -> Result<()> {
        let t1 = Instant::now();
        for _ in 0..n {
            let batch =
                self.buffer
                    .sample(self.cfg.batch_size, &mut self.rng_sample, &self.device)?;
            match &mut self.learner {
                Learner::Erl(d) => {
                    // y = r + γ(1 − d)·Q'(s', π'(s')), critic step, actor step, Polyak.
                    d.update(&batch)?;
                }
                Learner::Rim(r) => {
                    r.update(&batch)?;
                    if let Some(c) = champion {
                        r.recruit(c)?;
                    }
                }
                Learner::None => {}
            }
        }
        self.log.update_seconds += t1.elapsed().as_secs_f64();
        self.log.updates += n;
        Ok(())
    }

    /// Run one generation (see the module docs) and return its record.
    pub fn generation(&mut self) -> Result<GenerationRecord> {
        if matches!(self.cfg.algorithm, Algorithm::Ddpg) {
            return self.ddpg_generation();
        }
        let start = Instant::now();
        let g = self.generation;
        let warm = self.frames < self.cfg.warmup_frames;
        // Fitness rollouts (stored, counted).
        let t0 = Instant::now();
        let rollouts = rollout_population_with(
            &self.registry,
            &self.cfg.env_id,
            &self.pop,
            self.cfg.num_evals,
            warm,
            self.cfg.quirks.truncation_terminal,
            self.cfg.q_bias_states > 0,
            self.seed,
            g,
            self.cfg.threads,
        )?;
        self.log.rollout_seconds += t0.elapsed().as_secs_f64();
        let mut gen_frames = 0;
        let fitness: Vec<f64> = rollouts.iter().map(|r| r.fitness).collect();
        for r in &rollouts {
            gen_frames += r.transitions.len();
            self.push_all(&r.transitions)?;
        }
        self.num_games += self.pop.len() * self.cfg.num_evals;
        // Champion and worst, before SSNE (np.argmax / np.argmin: first index).
        let champ = (0..fitness.len()).fold(0, |b, i| if fitness[i] > fitness[b] { i } else { b });
        let worst = (0..fitness.len()).fold(0, |b, i| if fitness[i] < fitness[b] { i } else { b });
        // Champion test (not stored; counted only with the fixed quirk).
        let (champion_test, test_frames) = self.test_episodes(Some(champ))?;
        // SSNE.
        let outcome = self
            .pop
            .evolve(&fitness, &self.cfg.ssne, &mut self.rng_ssne)?;
        let champion_from_learner = self.lineage[champ];
        self.lineage = outcome
            .sources
            .iter()
            .map(|s| s.iter().any(|&j| self.lineage[j]))
            .collect();
        let (recruit_slot, worst_slot) = if self.cfg.quirks.stale_indices {
            (champ, worst)
        } else {
            let w = outcome
                .ranking
                .iter()
                .rev()
                .copied()
                .find(|i| !outcome.new_elites.contains(i))
                .unwrap_or(worst);
            (outcome.champion_copy(), w)
        };
        let mut record = GenerationRecord {
            generation: g,
            frames: 0,
            best_fitness: fitness.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean_fitness: fitness.iter().sum::<f64>() / fitness.len() as f64,
            champion_test,
            warmup: warm,
            rl_return: None,
            updates: 0,
            transfer: String::new(),
            imitation: None,
            champion: champ,
            champion_from_learner,
            learner_descendants: 0,
        };
        if !matches!(self.learner, Learner::None) {
            let (ret, len) = self.rl_episode()?;
            gen_frames += len;
            self.num_games += 1;
            // Counted by the episode itself, before the synchronisation check, as the
            // reference's `episode_num` (so with synch_period 2 the 1st, 3rd, … RL
            // episodes are imitation episodes).
            self.rl_episodes += 1;
            record.rl_return = Some(ret);
            if self.buffer.len() > self.cfg.learning_starts {
                let n = (gen_frames as f64 * self.cfg.updates_per_frame).floor() as usize;
                let champion = self.pop.member(recruit_slot).to_vec();
                self.updates(n, Some(&champion))?;
                record.updates = n;
                self.transfer(worst_slot, &mut record)?;
            }
        }
        if !self.cfg.quirks.uncounted_test_frames {
            gen_frames += test_frames;
        }
        self.finish_generation(record, gen_frames, start)
    }

    /// DDPG alone: one RL episode with OU noise (stored), one update per frame once the
    /// buffer is past `learning_starts`, then the noise-free actor's test episodes.
    fn ddpg_generation(&mut self) -> Result<GenerationRecord> {
        let start = Instant::now();
        let warm = self.frames < self.cfg.warmup_frames;
        let (ret, mut gen_frames) = self.rl_episode()?;
        self.num_games += 1;
        let mut updates = 0;
        if self.buffer.len() > self.cfg.learning_starts {
            updates = (gen_frames as f64 * self.cfg.updates_per_frame).floor() as usize;
            self.updates(updates, None)?;
        }
        self.rl_episodes += 1;
        let (test, test_frames) = self.test_episodes(None)?;
        if !self.cfg.quirks.uncounted_test_frames {
            gen_frames += test_frames;
        }
        let record = GenerationRecord {
            generation: self.generation,
            frames: 0,
            best_fitness: ret,
            mean_fitness: ret,
            champion_test: test,
            warmup: warm,
            rl_return: Some(ret),
            updates,
            transfer: String::new(),
            imitation: None,
            champion: 0,
            champion_from_learner: true,
            learner_descendants: 0,
        };
        self.finish_generation(record, gen_frames, start)
    }

    fn finish_generation(
        &mut self,
        mut record: GenerationRecord,
        gen_frames: usize,
        start: Instant,
    ) -> Result<GenerationRecord> {
        self.frames += gen_frames;
        record.frames = self.frames;
        record.learner_descendants = self.lineage.iter().filter(|&&l| l).count();
        self.generation += 1;
        self.log.frames = self.frames;
        self.log.seconds += start.elapsed().as_secs_f64();
        self.log.generations.push(record.clone());
        Ok(record)
    }

    /// Move the learner's policy into `slot` (imitation or copy), as the algorithm says.
    fn transfer(&mut self, slot: usize, record: &mut GenerationRecord) -> Result<()> {
        let p = self.cfg.synch_period;
        match (&self.learner, self.cfg.algorithm) {
            (Learner::Erl(d), Algorithm::Erl) => {
                let due = if self.cfg.quirks.erl_sync_on_games {
                    self.num_games.is_multiple_of(p)
                } else {
                    self.generation.is_multiple_of(p)
                };
                if due {
                    let flat = d.actor().mlp().to_flat()?;
                    self.pop.set_member(slot, &flat)?;
                    self.lineage[slot] = true;
                    record.transfer = "copy".into();
                }
            }
            (Learner::Rim(r), Algorithm::Rim { transfer, .. }) => {
                // `rl_episodes` already counts this generation's RL episode (1-based).
                let imitation_episode = self.rl_episodes % p == p - 1;
                let imitate = imitation_episode && transfer == Transfer::ImitateOrCopy;
                let copy = match transfer {
                    Transfer::CopyAlways => true,
                    Transfer::NoTransfer => false,
                    _ => !imitation_episode,
                };
                if imitate {
                    let t = Instant::now();
                    let mut student = self.pop.member(slot).to_vec();
                    let log = r.imitate(
                        &mut student,
                        &self.buffer,
                        &self.cfg.imitation,
                        &mut self.rng_sample,
                    )?;
                    self.pop.set_member(slot, &student)?;
                    self.lineage[slot] = true;
                    self.log.imitation_seconds += t.elapsed().as_secs_f64();
                    self.log.imitation_phases += 1;
                    record.imitation = Some(log);
                    record.transfer = "imitate".into();
                } else if copy {
                    let flat = r.pg_params()?;
                    self.pop.set_member(slot, &flat)?;
                    self.lineage[slot] = true;
                    record.transfer = "copy".into();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Run generations until the frame budget is spent, then the Q-bias measurement if
    /// configured; return the log.
    pub fn run(mut self) -> Result<RunLog> {
        while !self.finished() {
            self.generation()?;
        }
        self.finish()
    }

    /// [`run`](Self::run) with a training checkpoint written to `path` (atomically: the
    /// file on disk is always a whole checkpoint, the old or the new one) at the end of
    /// the first generation at least `every_frames` frames after the previous one (and
    /// after the last generation).
    pub fn run_checkpointed(mut self, path: &Path, every_frames: usize) -> Result<RunLog> {
        let mut last = self.frames;
        while !self.finished() {
            self.generation()?;
            if self.frames - last >= every_frames || self.finished() {
                self.save_checkpoint(path)?;
                last = self.frames;
            }
        }
        self.finish()
    }

    fn finish(mut self) -> Result<RunLog> {
        if self.cfg.q_bias_states > 0 && !matches!(self.learner, Learner::None) {
            self.log.q_bias = Some(self.measure_q_bias()?);
        }
        Ok(self.log)
    }

    /// Write everything needed to continue this run bit for bit to `path`, atomically,
    /// in candor-core's training-checkpoint layout (safetensors; the state as JSON in
    /// the metadata, readable with `candor_core::checkpoint::read_training_state` as a
    /// [`CheckpointState`]). Taken between generations, where every environment is
    /// reset before its next use: the population (`extra/population`), the replay
    /// buffer (`extra/buffer/…`), the Q-bias reservoir (`extra/reservoir`), the
    /// learner's networks and optimisers (`model/…`, `optim/…`), and in the state the
    /// settings, counters, lineage, every random stream (SSNE, sampling, warm-up,
    /// reservoir, the RL environment's reset stream), the noise draws and the log.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let cpu = &candor_core::device::host();
        let k = self.pop.len();
        let n = self.pop.member(0).len();
        let flat: Vec<f32> = self.pop.members().iter().flatten().copied().collect();
        let mut tensors = vec![(
            "extra/population".to_string(),
            candle_core::Tensor::from_vec(flat, (k, n), cpu)?,
        )];
        tensors.extend(self.buffer.to_tensors("extra/buffer/")?);
        if !self.reservoir.is_empty() {
            let w = self.reservoir[0].len();
            let rows: Vec<f64> = self.reservoir.iter().flatten().copied().collect();
            tensors.push((
                "extra/reservoir".to_string(),
                candle_core::Tensor::from_vec(rows, (self.reservoir.len(), w), cpu)?,
            ));
        }
        let mut rim_updates = 0;
        match &self.learner {
            Learner::None => {}
            Learner::Erl(d) => tensors.extend(learner_tensors(d)),
            Learner::Rim(r) => {
                tensors.extend(r.checkpoint_tensors());
                rim_updates = r.updates_done();
            }
        }
        let state = CheckpointState {
            config: self.cfg.clone(),
            seed: self.seed,
            frames: self.frames,
            generation: self.generation,
            num_games: self.num_games,
            rl_episodes: self.rl_episodes,
            lineage: self.lineage.clone(),
            seen: self.seen,
            noise_draws: self.noise_draws,
            rim_updates,
            rng_ssne: self.rng_ssne.state(),
            rng_sample: self.rng_sample.state(),
            rng_warmup: self.rng_warmup.state(),
            rng_reservoir: self.rng_reservoir.state(),
            rl_env_rng: self.rl_env.rng_state().ok_or_else(|| {
                Error::invalid(format!(
                    "candor-erl: {} cannot report its random stream, so its training cannot be checkpointed",
                    self.cfg.env_id
                ))
            })?,
            log: self.log.clone(),
        };
        let meta = std::collections::HashMap::from([
            ("candor.format".to_string(), "training-1".to_string()),
            ("candor.state".to_string(), serde_json::to_string(&state)?),
        ]);
        candor_core::checkpoint::save_tensors(path, &tensors, meta)
    }

    /// A run continued from a checkpoint of [`save_checkpoint`](Self::save_checkpoint)
    /// taken with the same `cfg` and `seed` (anything else is an error): afterwards it
    /// runs exactly as the saved one would have.
    pub fn resume(cfg: &Config, seed: u64, device: &Device, path: &Path) -> Result<Self> {
        let ck = candor_core::checkpoint::load_tensors(path, device)?;
        if ck.metadata.get("candor.format").map(String::as_str) != Some("training-1") {
            return Err(Error::format(path, "not a candor training checkpoint"));
        }
        let state: CheckpointState = ck
            .metadata
            .get("candor.state")
            .ok_or_else(|| Error::format(path, "checkpoint has no training state"))
            .and_then(|s| {
                serde_json::from_str(s)
                    .map_err(|e| Error::format(path, format!("bad training state: {e}")))
            })?;
        // The worker count does not change the numbers: a resume may use another.
        let same_settings = Config {
            threads: cfg.threads,
            ..state.config.clone()
        } == *cfg;
        if !same_settings || state.seed != seed {
            return Err(Error::format(
                path,
                format!(
                    "the checkpoint belongs to another run (seed {}, settings {:?})",
                    state.seed, state.config
                ),
            ));
        }
        let mut t = Self::new(cfg, seed, device)?;
        let get = |name: &str| {
            ck.tensors
                .get(name)
                .ok_or_else(|| Error::format(path, format!("checkpoint lacks {name}")))
        };
        let pop = get("extra/population")?;
        let (k, n) = (t.pop.len(), t.pop.member(0).len());
        if pop.dims() != [k, n] {
            return Err(Error::format(
                path,
                format!("population of shape {:?}, expected [{k}, {n}]", pop.dims()),
            ));
        }
        for (i, row) in pop.to_vec2::<f32>()?.iter().enumerate() {
            t.pop.set_member(i, row)?;
        }
        t.buffer.restore_tensors(&ck.tensors, "extra/buffer/")?;
        t.reservoir = match ck.tensors.get("extra/reservoir") {
            Some(r) => r.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?,
            None => Vec::new(),
        };
        match &mut t.learner {
            Learner::None => {}
            Learner::Erl(d) => restore_learner(d, &ck.tensors)?,
            Learner::Rim(r) => r.restore_checkpoint(&ck.tensors, state.rim_updates)?,
        }
        if state.lineage.len() != k {
            return Err(Error::format(path, "lineage of another population size"));
        }
        t.rl_env.set_rng_state(&state.rl_env_rng)?;
        for _ in 0..state.noise_draws {
            t.noise.sample();
        }
        t.noise_draws = state.noise_draws;
        t.frames = state.frames;
        t.generation = state.generation;
        t.num_games = state.num_games;
        t.rl_episodes = state.rl_episodes;
        t.lineage = state.lineage;
        t.seen = state.seen;
        t.rng_ssne = SeededRng::from_state(&state.rng_ssne)?;
        t.rng_sample = SeededRng::from_state(&state.rng_sample)?;
        t.rng_warmup = SeededRng::from_state(&state.rng_warmup)?;
        t.rng_reservoir = SeededRng::from_state(&state.rng_reservoir)?;
        t.log = state.log;
        Ok(t)
    }

    /// The critic's estimate `Q(s, π(s))` of the policy π its target bootstraps on, and
    /// π's discounted Monte-Carlo return (until termination or `γʰ < 10⁻³`, on an env
    /// without time limit), at the reservoir's simulator states.
    pub fn measure_q_bias(&self) -> Result<QBiasPoint> {
        if self.reservoir.is_empty() {
            return Err(Error::invalid(
                "candor-erl: no simulator states kept (set q_bias_states)",
            ));
        }
        let mut env = self.registry.make_unwrapped(&self.cfg.env_id)?;
        let dev = &self.device;
        let to_tensor = |obs: &[Vec<f32>]| -> Result<candle_core::Tensor> {
            let dim = obs.first().map_or(0, Vec::len);
            let flat: Vec<f32> = obs.iter().flatten().copied().collect();
            Ok(candle_core::Tensor::from_vec(flat, (obs.len(), dim), dev)?)
        };
        let scaler = &self.scaler;
        let gamma = self.cfg.learner.gamma;
        let (estimates, returns) = match &self.learner {
            Learner::Erl(d) => {
                let mut est = |o: &[Vec<f32>]| -> Result<Vec<f64>> {
                    Ok(d.policy_value(&to_tensor(o)?)?
                        .into_iter()
                        .map(f64::from)
                        .collect())
                };
                let mut pol = |o: &[f32]| -> Result<Action> {
                    Ok(Action::Continuous(scaler.to_env(&d.actor().act(o)?)?))
                };
                q_bias_at_states(
                    env.as_mut(),
                    &self.reservoir,
                    &mut est,
                    &mut pol,
                    gamma,
                    1e-3,
                )?
            }
            Learner::Rim(r) => {
                let target = match self.cfg.algorithm {
                    Algorithm::Rim { target, .. } => target,
                    _ => DualTarget::Dual,
                };
                let mut est = |o: &[Vec<f32>]| -> Result<Vec<f64>> {
                    Ok(r.target_policy_value(&to_tensor(o)?, target)?
                        .into_iter()
                        .map(f64::from)
                        .collect())
                };
                let mut pol = |o: &[f32]| -> Result<Action> {
                    let a = r.target_policy_act(o, target)?;
                    Ok(Action::Continuous(scaler.to_env(&a)?))
                };
                q_bias_at_states(
                    env.as_mut(),
                    &self.reservoir,
                    &mut est,
                    &mut pol,
                    gamma,
                    1e-3,
                )?
            }
            Learner::None => return Err(Error::invalid("candor-erl: EA has no critic")),
        };
        Ok(QBiasPoint {
            step: self.frames,
            estimates,
            returns,
        })
    }
}

/// One run of `cfg` from `seed` (see [`Trainer`]).
pub fn train(cfg: &Config, seed: u64, device: &Device) -> Result<RunLog> {
    Trainer::new(cfg, seed, device)?.run()
}

/// [`train`] with a training checkpoint at `path` every `every_frames` frames (see
/// [`Trainer::run_checkpointed`]), continuing from it when it exists: a run killed at
/// any moment and started again ends with the same numbers as an uninterrupted one,
/// having lost at most the work since the last checkpoint.
pub fn train_checkpointed(
    cfg: &Config,
    seed: u64,
    device: &Device,
    path: &Path,
    every_frames: usize,
) -> Result<RunLog> {
    let t = if path.exists() {
        Trainer::resume(cfg, seed, device, path)?
    } else {
        Trainer::new(cfg, seed, device)?
    };
    t.run_checkpointed(path, every_frames)
}

/// The serialisable part of a [`Trainer`] checkpoint (see
/// [`Trainer::save_checkpoint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointState {
    /// The run's settings and seed (a resume with others is an error).
    pub config: Config,
    pub seed: u64,
    /// Frames collected and generations run.
    pub frames: usize,
    pub generation: usize,
    /// Stored episodes (ERL's synchronisation clock) and RL episodes.
    pub num_games: usize,
    pub rl_episodes: usize,
    /// Per slot, whether it descends from a learner transfer.
    pub lineage: Vec<bool>,
    /// Transitions offered to the Q-bias reservoir.
    pub seen: usize,
    /// Exploration-noise vectors drawn.
    pub noise_draws: usize,
    /// RIM updates done (0 otherwise).
    pub rim_updates: usize,
    /// The random streams.
    pub rng_ssne: candor_core::RngState,
    pub rng_sample: candor_core::RngState,
    pub rng_warmup: candor_core::RngState,
    pub rng_reservoir: candor_core::RngState,
    /// The RL environment's reset stream.
    pub rl_env_rng: candor_core::RngState,
    /// The log so far.
    pub log: RunLog,
}
