//! The population and SSNE, the evolutionary half of ERL and RIM (Khadka & Tumer 2018,
//! Algorithm 2; ERL's `core/mod_neuro_evo.py` and RIM's `evolution.py`, which share the
//! design).
//!
//! A [`Population`] keeps each actor as one flat `Vec<f32>` in candor-core's
//! [`MlpConfig::params`] order (weights `(out, in)` row-major, biases, LayerNorm
//! parameters): mutation and crossover touch host memory directly and acting is a
//! batch-1 host forward ([`MlpConfig::forward_flat`]) without tensors. Tensors are built
//! only for gradient work (imitation, recruitment), from and back into these buffers.
//!
//! One [`epoch`] on fitness values, as the reference code does it:
//!
//! 1. **rank** by fitness, best first (a stable ascending sort reversed, so among ties
//!    the later index ranks first, as Python's `sorted(...)` then `reverse()`);
//!    the first `e` ranks are the elites;
//! 2. **tournament selection** for the other `K − e` slots: each draws 3 ranks uniformly
//!    and keeps the best; the winners are made unique (ascending, Python's `set` of small
//!    ints) and, if odd in number, one of them is repeated;
//! 3. the slots neither selected nor elite are **unselected**, shuffled; each elite is
//!    **cloned** into the next unselected slot (or, when none is left, into the next
//!    selected one): these are the *new elites*;
//! 4. the remaining unselected slots (one repeated if odd) are **paired**; each pair
//!    receives a clone of a random new elite and a clone of a random selected offspring,
//!    then **crossover** (always): per weight matrix `U{0..2·rows}` times a random row is
//!    copied from one net to the other (either direction), per 1-D tensor
//!    `U{0..len}` times a random element;
//! 5. consecutive pairs of selected offspring cross over with `crossover_prob` (0);
//! 6. every slot except the new elites is **mutated** with `mutation_prob` (0.9): for
//!    each tensor a probability `2·U(0, 1)`; a **2-D weight** tensor that passes has
//!    `U{0..⌈0.1·n⌉}` entries drawn; each is super-mutated (5 %, `w += N(0, (10w)²)`),
//!    reset (5 %, `w ~ N(0, 1)`) or perturbed (`w += N(0, (0.1w)²)`), then clipped to
//!    `±10⁶`. Biases and LayerNorm parameters are never mutated.
//!
//! The epoch returns the slot of the first new elite (the preserved champion copy).

use candle_core::DType;
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_core::nn::{Activation, FlatParam, MlpConfig};
use candor_core::{Error, Result, SeededRng};
use candor_rl_ddpg::{Actor, NetConfig};

use crate::config::SsneConfig;

/// K actors as flat parameter buffers sharing one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    mlp: MlpConfig,
    params: Vec<FlatParam>,
    members: Vec<Vec<f32>>,
}

impl Population {
    /// `size` actors of shape `net` (tanh output in the unit box), actor `i` initialised
    /// from `SeededRng::derive(seed, "erl/population/{i}")` exactly as candor-rl-ddpg's
    /// [`Actor`] initialises its variables.
    pub fn new(
        net: &NetConfig,
        obs_dim: usize,
        action_dim: usize,
        size: usize,
        seed: u64,
    ) -> Result<Self> {
        if size == 0 {
            return Err(Error::invalid("Population: size must be ≥ 1"));
        }
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            let s =
                SeededRng::derive(seed, &format!("erl/population/{i}")).below(usize::MAX) as u64;
            let vm = VarMap::new();
            let vb = seeded_var_builder(&vm, s, DType::F32, &candor_core::device::host());
            let actor = Actor::new(net, obs_dim, action_dim, vb)?;
            members.push(actor.mlp().to_flat()?);
        }
        Self::from_members(net.mlp(obs_dim, action_dim, Activation::Tanh), members)
    }

    /// A population from given buffers (each of the shape's length).
    pub fn from_members(mlp: MlpConfig, members: Vec<Vec<f32>>) -> Result<Self> {
        mlp.validate()?;
        let n = mlp.num_params();
        if members.is_empty() {
            return Err(Error::invalid("Population: no members"));
        }
        if let Some(m) = members.iter().find(|m| m.len() != n) {
            return Err(Error::invalid(format!(
                "Population: a member has {} values, the shape has {n}",
                m.len()
            )));
        }
        let params = mlp.params();
        Ok(Self {
            mlp,
            params,
            members,
        })
    }

    /// K.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true (a population has at least one member).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The actors' shape.
    pub fn mlp_config(&self) -> &MlpConfig {
        &self.mlp
    }

    /// The parameter layout of every buffer.
    pub fn params(&self) -> &[FlatParam] {
        &self.params
    }

    /// Actor `i`'s parameters.
    pub fn member(&self, i: usize) -> &[f32] {
        &self.members[i]
    }

    /// Every buffer.
    pub fn members(&self) -> &[Vec<f32>] {
        &self.members
    }

    /// Overwrite actor `i` (an ERL injection, or the result of imitation).
    pub fn set_member(&mut self, i: usize, flat: &[f32]) -> Result<()> {
        if i >= self.len() || flat.len() != self.members[i].len() {
            return Err(Error::invalid(format!(
                "Population::set_member: slot {i} of {} with {} values (expected {})",
                self.len(),
                flat.len(),
                self.members.first().map_or(0, Vec::len)
            )));
        }
        self.members[i].copy_from_slice(flat);
        Ok(())
    }

    /// `π_i(obs)` in the unit box: a batch-1 host forward.
    pub fn act(&self, i: usize, obs: &[f32]) -> Result<Vec<f32>> {
        self.mlp.forward_flat(&self.members[i], obs)
    }

    /// One SSNE epoch on `fitness` (one value per member, higher is better).
    pub fn evolve(
        &mut self,
        fitness: &[f64],
        cfg: &SsneConfig,
        rng: &mut SeededRng,
    ) -> Result<EpochOutcome> {
        epoch(&mut self.members, &self.params, fitness, cfg, rng)
    }
}

/// What an [`epoch`] did, slot by slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EpochOutcome {
    /// Slots best first (before the epoch).
    pub ranking: Vec<usize>,
    /// The elite slots (the first `e` of `ranking`).
    pub elites: Vec<usize>,
    /// Where each elite was cloned (same order): the slots spared from mutation. The
    /// first is the preserved champion copy.
    pub new_elites: Vec<usize>,
    /// The tournament winners (unique, ascending, one repeated if the count was odd).
    pub offspring: Vec<usize>,
    /// Pairs of unselected slots that received clones and crossed over, as
    /// `(slot from an elite, slot from an offspring)`.
    pub crossed: Vec<(usize, usize)>,
    /// Slots mutated (each mutated tensor is a 2-D weight).
    pub mutated: Vec<usize>,
    /// Per slot after the epoch, the slots before it whose parameters it carries
    /// (ascending): itself if untouched or only mutated, its elite or offspring source if
    /// cloned, both sources of a crossover. Lineage bookkeeping (which individuals
    /// descend from a learner transfer); no effect on the epoch.
    pub sources: Vec<Vec<usize>>,
}

impl EpochOutcome {
    /// The slot holding the preserved copy of the best individual.
    pub fn champion_copy(&self) -> usize {
        self.new_elites[0]
    }
}

/// Slots by fitness, best first: a stable ascending sort, reversed.
pub fn rank(fitness: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..fitness.len()).collect();
    idx.sort_by(|&a, &b| fitness[a].total_cmp(&fitness[b]));
    idx.reverse();
    idx
}

/// Tournament selection of `n` winners among the ranked slots (see the module docs).
fn tournament(ranking: &[usize], n: usize, size: usize, rng: &mut SeededRng) -> Vec<usize> {
    let mut winners: Vec<usize> = (0..n)
        .map(|_| {
            let best = (0..size).map(|_| rng.below(ranking.len())).min();
            ranking[best.unwrap_or(0)]
        })
        .collect();
    winners.sort_unstable();
    winners.dedup();
    if winners.len() % 2 == 1 {
        let extra = winners[rng.below(winners.len())];
        winners.push(extra);
    }
    winners
}

/// Two distinct members mutably.
fn pair_mut(members: &mut [Vec<f32>], i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert_ne!(i, j);
    if i < j {
        let (a, b) = members.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = members.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

/// ERL's `crossover_inplace`: per 2-D tensor, `U{0..2·rows}` row copies in random
/// directions; per 1-D tensor, `U{0..len}` element copies.
pub fn crossover(a: &mut [f32], b: &mut [f32], params: &[FlatParam], rng: &mut SeededRng) {
    for p in params {
        let (off, rows) = (p.offset, p.shape[0]);
        let cols = if p.shape.len() == 2 { p.shape[1] } else { 1 };
        let n = if p.shape.len() == 2 { 2 * rows } else { rows };
        let count = rng.below(n.max(1));
        for _ in 0..count {
            let a_receives = rng.uniform() < 0.5;
            let r = rng.below(rows);
            let range = off + r * cols..off + (r + 1) * cols;
            if a_receives {
                a[range.clone()].copy_from_slice(&b[range]);
            } else {
                b[range.clone()].copy_from_slice(&a[range]);
            }
        }
    }
}

/// ERL's `mutate_inplace` (see the module docs). Returns how many entries changed.
pub fn mutate(
    member: &mut [f32],
    params: &[FlatParam],
    cfg: &SsneConfig,
    rng: &mut SeededRng,
) -> usize {
    let probs: Vec<f64> = params.iter().map(|_| 2.0 * rng.uniform()).collect();
    let clip = cfg.weight_clip;
    let mut changed = 0;
    for (p, &prob) in params.iter().zip(&probs) {
        if p.shape.len() != 2 || rng.uniform() >= prob {
            continue;
        }
        let n = p.len();
        let bound = (cfg.mutation_frac * n as f64).ceil() as usize;
        let count = rng.below(bound.max(1));
        for _ in 0..count {
            let (r, c) = (rng.below(p.shape[0]), rng.below(p.shape[1]));
            let w = &mut member[p.offset + r * p.shape[1] + c];
            let x = *w as f64;
            let u = rng.uniform();
            let v = if u < cfg.super_mutation_prob {
                x + rng.normal() * cfg.super_mutation_strength * x
            } else if u < cfg.super_mutation_prob + cfg.reset_prob {
                rng.normal()
            } else {
                x + rng.normal() * cfg.mutation_strength * x
            };
            *w = v.clamp(-clip, clip) as f32;
            changed += 1;
        }
    }
    changed
}

/// One SSNE epoch over `members` (see the module docs).
pub fn epoch(
    members: &mut [Vec<f32>],
    params: &[FlatParam],
    fitness: &[f64],
    cfg: &SsneConfig,
    rng: &mut SeededRng,
) -> Result<EpochOutcome> {
    cfg.validate()?;
    let k = members.len();
    if k == 0 || fitness.len() != k {
        return Err(Error::invalid(format!(
            "SSNE: {} fitness values for {k} members",
            fitness.len()
        )));
    }
    if let Some(i) = fitness.iter().position(|f| f.is_nan()) {
        return Err(Error::invalid(format!(
            "SSNE: fitness of member {i} is NaN"
        )));
    }
    let e = ((k as f64 * cfg.elite_fraction).floor() as usize).clamp(1, k);
    let ranking = rank(fitness);
    let elites: Vec<usize> = ranking[..e].to_vec();
    let offspring = tournament(&ranking, k - e, cfg.tournament_size, rng);
    let mut unselected: Vec<usize> = (0..k)
        .filter(|i| !offspring.contains(i) && !elites.contains(i))
        .collect();
    rng.shuffle(&mut unselected);
    let mut unselected = std::collections::VecDeque::from(unselected);
    let mut selected = std::collections::VecDeque::from(offspring.clone());
    let mut sources: Vec<Vec<usize>> = (0..k).map(|i| vec![i]).collect();

    // Elitism: clone each elite into an unselected slot (else a selected one).
    let mut new_elites = Vec::with_capacity(e);
    for &i in &elites {
        let replacee = unselected
            .pop_front()
            .or_else(|| selected.pop_front())
            .unwrap_or(i);
        if replacee != i {
            let (src, dst) = pair_mut(members, i, replacee);
            dst.copy_from_slice(src);
            sources[replacee] = sources[i].clone();
        }
        new_elites.push(replacee);
    }

    // The other unselected slots: clones of an elite and an offspring, crossed over.
    let mut rest: Vec<usize> = unselected.into_iter().collect();
    if rest.len() % 2 == 1 {
        let extra = rest[rng.below(rest.len())];
        rest.push(extra);
    }
    let pool: Vec<usize> = if offspring.is_empty() {
        new_elites.clone()
    } else {
        offspring.clone()
    };
    let mut crossed = Vec::new();
    for pair in rest.chunks_exact(2) {
        let (i, j) = (pair[0], pair[1]);
        let off_i = new_elites[rng.below(new_elites.len())];
        let off_j = pool[rng.below(pool.len())];
        if off_i != i {
            let (src, dst) = pair_mut(members, off_i, i);
            dst.copy_from_slice(src);
            sources[i] = sources[off_i].clone();
        }
        if off_j != j {
            let src = members[off_j].clone();
            members[j].copy_from_slice(&src);
            sources[j] = sources[off_j].clone();
        }
        if i != j {
            let (a, b) = pair_mut(members, i, j);
            crossover(a, b, params, rng);
            merge_sources(&mut sources, i, j);
        }
        crossed.push((i, j));
    }

    // Crossover between selected offspring with crossover_prob.
    for pair in offspring.chunks_exact(2) {
        if rng.uniform() < cfg.crossover_prob && pair[0] != pair[1] {
            let (a, b) = pair_mut(members, pair[0], pair[1]);
            crossover(a, b, params, rng);
            merge_sources(&mut sources, pair[0], pair[1]);
        }
    }

    // Mutation of every slot but the new elites.
    let mut mutated = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        if new_elites.contains(&i) {
            continue;
        }
        if rng.uniform() < cfg.mutation_prob {
            mutate(member, params, cfg, rng);
            mutated.push(i);
        }
    }
    Ok(EpochOutcome {
        ranking,
        elites,
        new_elites,
        offspring,
        crossed,
        mutated,
        sources,
    })
}

/// After a crossover of slots `i` and `j`, both carry both lineages.
fn merge_sources(sources: &mut [Vec<usize>], i: usize, j: usize) {
    let mut both: Vec<usize> = sources[i].iter().chain(&sources[j]).copied().collect();
    both.sort_unstable();
    both.dedup();
    sources[i].clone_from(&both);
    sources[j] = both;
}
