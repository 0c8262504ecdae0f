//! A fixed-capacity experience-replay ring buffer with seeded uniform sampling.

use candle_core::{Device, Tensor};
use candor_core::{Error, Result, SeededRng};

use crate::space::{Action, Space};

/// How actions are stored, fixed by the action space at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionKind {
    /// Indices below `n`.
    Discrete(usize),
    /// Float vectors of this length.
    Continuous(usize),
}

/// A sampled mini-batch as flat row-major arrays (`B` = batch size).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchArrays {
    /// `B × obs_dim`.
    pub obs: Vec<f32>,
    /// Discrete spaces: `B` action indices. Box spaces: empty (see `actions`).
    pub action_indices: Vec<u32>,
    /// Box spaces: `B × action_dim`. Discrete spaces: the `B` indices as f32.
    pub actions: Vec<f32>,
    /// `B` rewards.
    pub rewards: Vec<f32>,
    /// `B × obs_dim`.
    pub next_obs: Vec<f32>,
    /// `B` flags, 1.0 where the transition **terminated** (truncations store 0.0).
    pub dones: Vec<f32>,
    /// The sampled slot indices.
    pub indices: Vec<usize>,
}

/// A sampled mini-batch as candle tensors.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, obs_dim)` f32.
    pub obs: Tensor,
    /// Discrete spaces: `(B,)` u32 indices (use `.unsqueeze(1)` for `gather`).
    /// Box spaces: `(B, action_dim)` f32.
    pub actions: Tensor,
    /// `(B,)` f32.
    pub rewards: Tensor,
    /// `(B, obs_dim)` f32.
    pub next_obs: Tensor,
    /// `(B,)` f32, 1.0 where the transition terminated.
    pub dones: Tensor,
}

/// Experience replay: a ring of `capacity` transitions `(obs, action, reward, next_obs,
/// terminated)`; once full, each push overwrites the oldest transition.
///
/// Store `terminated`, never `truncated`: a time-limit cut is not a terminal state, and
/// the TD target must bootstrap through it (`y = r + γ(1 − done)·V(s')` with
/// `done = terminated`).
///
/// Sampling draws `batch` slots uniformly **with replacement** (as SB3 and CleanRL do)
/// from the stored transitions, using the caller's [`SeededRng`], so the same seed and
/// the same pushes give the same batches.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    action_kind: ActionKind,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<f32>,
    action_indices: Vec<u32>,
    rewards: Vec<f32>,
    dones: Vec<f32>,
    len: usize,
    next: usize,
}

impl ReplayBuffer {
    /// An empty buffer for observations of `obs_dim` floats and actions of
    /// `action_space`. Memory is allocated up front.
    pub fn new(capacity: usize, obs_dim: usize, action_space: &Space) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::invalid("ReplayBuffer: capacity must be positive"));
        }
        if obs_dim == 0 {
            return Err(Error::invalid("ReplayBuffer: obs_dim must be positive"));
        }
        let action_kind = match action_space {
            Space::Discrete(0) => {
                return Err(Error::invalid("ReplayBuffer: Discrete(0) action space"))
            }
            Space::Discrete(n) => ActionKind::Discrete(*n),
            Space::Box { .. } => ActionKind::Continuous(action_space.flat_dim()),
        };
        let (n_idx, act_dim) = match action_kind {
            ActionKind::Discrete(_) => (capacity, 0),
            ActionKind::Continuous(d) => (0, d),
        };
        Ok(Self {
            capacity,
            obs_dim,
            action_kind,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            actions: vec![0.0; capacity * act_dim],
            action_indices: vec![0; n_idx],
            rewards: vec![0.0; capacity],
            dones: vec![0.0; capacity],
            len: 0,
            next: 0,
        })
    }

    /// A buffer sized for `env`'s observation and action spaces.
    pub fn for_env(capacity: usize, env: &(impl crate::Env + ?Sized)) -> Result<Self> {
        Self::new(
            capacity,
            env.observation_space().flat_dim(),
            env.action_space(),
        )
    }

    /// Maximum number of transitions kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of transitions stored (≤ capacity).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` before the first push.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Width of a stored action: 1 for discrete spaces.
    pub fn action_dim(&self) -> usize {
        match self.action_kind {
            ActionKind::Discrete(_) => 1,
            ActionKind::Continuous(d) => d,
        }
    }

    /// Store one transition. `terminated` must be the env's `terminated` flag, not
    /// `terminated || truncated`. Errors on wrong widths, non-finite values or an action
    /// of the wrong kind; the buffer is unchanged then.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: &Action,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
    ) -> Result<()> {
        for (name, v) in [("obs", obs), ("next_obs", next_obs)] {
            if v.len() != self.obs_dim {
                return Err(Error::invalid(format!(
                    "ReplayBuffer::push: {name} has {} values, expected {}",
                    v.len(),
                    self.obs_dim
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::invalid(format!(
                    "ReplayBuffer::push: {name} contains a non-finite value"
                )));
            }
        }
        if !reward.is_finite() {
            return Err(Error::invalid(format!(
                "ReplayBuffer::push: reward is {reward}"
            )));
        }
        let i = self.next;
        match (self.action_kind, action) {
            (ActionKind::Discrete(n), Action::Discrete(a)) => {
                if *a >= n {
                    return Err(Error::invalid(format!(
                        "ReplayBuffer::push: action {a} out of range 0..{n}"
                    )));
                }
                self.action_indices[i] = *a as u32;
            }
            (ActionKind::Continuous(d), Action::Continuous(a)) => {
                if a.len() != d || a.iter().any(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!(
                        "ReplayBuffer::push: action {a:?} is not {d} finite values"
                    )));
                }
                self.actions[i * d..(i + 1) * d].copy_from_slice(a);
            }
            (kind, a) => {
                return Err(Error::invalid(format!(
                    "ReplayBuffer::push: action {a:?} does not match the buffer's {kind:?} actions"
                )))
            }
        }
        let od = self.obs_dim;
        self.obs[i * od..(i + 1) * od].copy_from_slice(obs);
        self.next_obs[i * od..(i + 1) * od].copy_from_slice(next_obs);
        self.rewards[i] = reward as f32;
        self.dones[i] = if terminated { 1.0 } else { 0.0 };
        self.next = (i + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        Ok(())
    }

    /// Remove every transition (capacity is kept).
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// The stored transitions as named tensors (`{prefix}obs`, `next_obs`, `actions` or
    /// `action_indices`, `rewards`, `dones`, and `{prefix}ring` = `[len, next]`), for a
    /// training checkpoint; only the `len` written rows are saved.
    pub fn to_tensors(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let (n, od) = (self.len, self.obs_dim);
        let cpu = &Device::Cpu;
        let mut v = vec![
            (
                format!("{prefix}obs"),
                Tensor::from_slice(&self.obs[..n * od], (n, od), cpu)?,
            ),
            (
                format!("{prefix}next_obs"),
                Tensor::from_slice(&self.next_obs[..n * od], (n, od), cpu)?,
            ),
            (
                format!("{prefix}rewards"),
                Tensor::from_slice(&self.rewards[..n], n, cpu)?,
            ),
            (
                format!("{prefix}dones"),
                Tensor::from_slice(&self.dones[..n], n, cpu)?,
            ),
            (
                format!("{prefix}ring"),
                Tensor::from_slice(&[self.len as u32, self.next as u32], 2, cpu)?,
            ),
        ];
        match self.action_kind {
            ActionKind::Discrete(_) => v.push((
                format!("{prefix}action_indices"),
                Tensor::from_slice(&self.action_indices[..n], n, cpu)?,
            )),
            ActionKind::Continuous(d) => v.push((
                format!("{prefix}actions"),
                Tensor::from_slice(&self.actions[..n * d], (n, d), cpu)?,
            )),
        }
        Ok(v)
    }

    /// Restores what [`to_tensors`](Self::to_tensors) saved into this (empty or not)
    /// buffer of the same capacity, observation and action sizes; a tensor of the wrong
    /// shape or a ring position outside the capacity is an error and changes nothing.
    pub fn restore_tensors(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Result<()> {
        let get = |name: &str| {
            tensors
                .get(&format!("{prefix}{name}"))
                .ok_or_else(|| Error::invalid(format!("replay buffer: no tensor {prefix}{name}")))
        };
        let ring = get("ring")?.to_vec1::<u32>()?;
        let (len, next) = match ring[..] {
            [l, n] => (l as usize, n as usize),
            _ => return Err(Error::invalid("replay buffer: ring must hold [len, next]")),
        };
        if len > self.capacity || next >= self.capacity || (len < self.capacity && next != len) {
            return Err(Error::invalid(format!(
                "replay buffer: len {len} / next {next} do not fit a capacity of {}",
                self.capacity
            )));
        }
        let rows = |name: &str, width: usize| -> Result<Vec<f32>> {
            let t = get(name)?;
            let want: &[usize] = if width == 0 { &[len] } else { &[len, width] };
            if t.dims() != want {
                return Err(Error::invalid(format!(
                    "replay buffer: {prefix}{name} has shape {:?}, expected {want:?}",
                    t.dims()
                )));
            }
            Ok(t.flatten_all()?.to_vec1::<f32>()?)
        };
        let od = self.obs_dim;
        let obs = rows("obs", od)?;
        let next_obs = rows("next_obs", od)?;
        let rewards = rows("rewards", 0)?;
        let dones = rows("dones", 0)?;
        let (actions, indices) = match self.action_kind {
            ActionKind::Discrete(n) => {
                let t = get("action_indices")?;
                if t.dims() != [len] {
                    return Err(Error::invalid(
                        "replay buffer: action_indices has the wrong shape",
                    ));
                }
                let idx = t.to_vec1::<u32>()?;
                if idx.iter().any(|&a| a as usize >= n) {
                    return Err(Error::invalid(format!(
                        "replay buffer: an action index is not below {n}"
                    )));
                }
                (None, Some(idx))
            }
            ActionKind::Continuous(d) => (Some(rows("actions", d)?), None),
        };
        self.obs[..len * od].copy_from_slice(&obs);
        self.next_obs[..len * od].copy_from_slice(&next_obs);
        self.rewards[..len].copy_from_slice(&rewards);
        self.dones[..len].copy_from_slice(&dones);
        if let Some(a) = actions {
            self.actions[..a.len()].copy_from_slice(&a);
        }
        if let Some(i) = indices {
            self.action_indices[..len].copy_from_slice(&i);
        }
        self.len = len;
        self.next = next;
        Ok(())
    }

    /// `batch` slot indices drawn uniformly with replacement from the stored transitions.
    /// Errors if `batch` is 0 or larger than [`len`](Self::len).
    pub fn sample_indices(&self, batch: usize, rng: &mut SeededRng) -> Result<Vec<usize>> {
        if batch == 0 {
            return Err(Error::invalid(
                "ReplayBuffer::sample: batch size must be positive",
            ));
        }
        if batch > self.len {
            return Err(Error::invalid(format!(
                "ReplayBuffer::sample: asked for {batch} transitions but only {} are stored",
                self.len
            )));
        }
        Ok((0..batch).map(|_| rng.below(self.len)).collect())
    }

    /// Sample a batch into flat arrays (no tensors; see [`sample`](Self::sample)).
    pub fn sample_arrays(&self, batch: usize, rng: &mut SeededRng) -> Result<BatchArrays> {
        let indices = self.sample_indices(batch, rng)?;
        Ok(self.gather(indices))
    }

    /// The transitions at `indices` (each `< len`) as flat arrays.
    pub fn gather(&self, indices: Vec<usize>) -> BatchArrays {
        let (od, b) = (self.obs_dim, indices.len());
        let mut out = BatchArrays {
            obs: Vec::with_capacity(b * od),
            action_indices: Vec::new(),
            actions: Vec::with_capacity(b * self.action_dim()),
            rewards: Vec::with_capacity(b),
            next_obs: Vec::with_capacity(b * od),
            dones: Vec::with_capacity(b),
            indices: Vec::new(),
        };
        for &i in &indices {
            out.obs.extend_from_slice(&self.obs[i * od..(i + 1) * od]);
            out.next_obs
                .extend_from_slice(&self.next_obs[i * od..(i + 1) * od]);
            out.rewards.push(self.rewards[i]);
            out.dones.push(self.dones[i]);
            match self.action_kind {
                ActionKind::Discrete(_) => {
                    out.action_indices.push(self.action_indices[i]);
                    out.actions.push(self.action_indices[i] as f32);
                }
                ActionKind::Continuous(d) => out
                    .actions
                    .extend_from_slice(&self.actions[i * d..(i + 1) * d]),
            }
        }
        out.indices = indices;
        out
    }

    /// Sample a batch as tensors on `device`: obs/next_obs `(B, obs_dim)` f32, rewards and
    /// dones `(B,)` f32, actions `(B,)` u32 for discrete spaces or `(B, action_dim)` f32.
    pub fn sample(&self, batch: usize, rng: &mut SeededRng, device: &Device) -> Result<Batch> {
        let a = self.sample_arrays(batch, rng)?;
        let od = self.obs_dim;
        let actions = match self.action_kind {
            ActionKind::Discrete(_) => Tensor::from_vec(a.action_indices, batch, device)?,
            ActionKind::Continuous(d) => Tensor::from_vec(a.actions, (batch, d), device)?,
        };
        Ok(Batch {
            obs: Tensor::from_vec(a.obs, (batch, od), device)?,
            actions,
            rewards: Tensor::from_vec(a.rewards, batch, device)?,
            next_obs: Tensor::from_vec(a.next_obs, (batch, od), device)?,
            dones: Tensor::from_vec(a.dones, batch, device)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_and_restored_buffers_sample_the_same() {
        for space in [
            Space::Discrete(3),
            Space::Box {
                low: vec![-1.0; 2],
                high: vec![1.0; 2],
                shape: vec![2],
            },
        ] {
            let mut b = ReplayBuffer::new(5, 2, &space).unwrap();
            for k in 0..7 {
                let a = match space {
                    Space::Discrete(_) => Action::Discrete(k % 3),
                    _ => Action::Continuous(vec![0.1 * k as f32, -0.2]),
                };
                let o = [k as f32, 1.0];
                b.push(&o, &a, k as f64, &[o[0] + 1.0, 2.0], k % 2 == 0)
                    .unwrap();
            }
            let saved: std::collections::HashMap<String, Tensor> =
                b.to_tensors("rb/").unwrap().into_iter().collect();
            let mut c = ReplayBuffer::new(5, 2, &space).unwrap();
            c.restore_tensors(&saved, "rb/").unwrap();
            assert_eq!(c.len(), b.len());
            let s1 = b.sample_arrays(4, &mut SeededRng::new(4)).unwrap();
            let s2 = c.sample_arrays(4, &mut SeededRng::new(4)).unwrap();
            assert_eq!(s1, s2);
            // The next push lands in the same slot in both.
            let a = match space {
                Space::Discrete(_) => Action::Discrete(1),
                _ => Action::Continuous(vec![0.5, 0.5]),
            };
            b.push(&[9.0, 9.0], &a, 9.0, &[9.0, 9.0], true).unwrap();
            c.push(&[9.0, 9.0], &a, 9.0, &[9.0, 9.0], true).unwrap();
            let all: Vec<usize> = (0..5).collect();
            assert_eq!(b.gather(all.clone()), c.gather(all));
            // Another capacity cannot take it.
            let mut d = ReplayBuffer::new(4, 2, &space).unwrap();
            assert!(d.restore_tensors(&saved, "rb/").is_err());
        }
    }

    fn filled(cap: usize, n: usize) -> ReplayBuffer {
        let mut b = ReplayBuffer::new(cap, 2, &Space::Discrete(3)).unwrap();
        for t in 0..n {
            let x = t as f32;
            b.push(
                &[x, -x],
                &Action::Discrete(t % 3),
                t as f64,
                &[x + 1.0, 0.0],
                t % 5 == 4,
            )
            .unwrap();
        }
        b
    }

    #[test]
    fn ring_overwrites_oldest() {
        let b = filled(4, 6);
        assert_eq!(b.len(), 4);
        // Slots hold t = 4, 5, 2, 3.
        let a = b.gather(vec![0, 1, 2, 3]);
        assert_eq!(a.rewards, vec![4.0, 5.0, 2.0, 3.0]);
        assert_eq!(a.obs, vec![4.0, -4.0, 5.0, -5.0, 2.0, -2.0, 3.0, -3.0]);
        assert_eq!(a.action_indices, vec![1, 2, 2, 0]);
        assert_eq!(a.dones, vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(a.next_obs[0], 5.0);
    }

    #[test]
    fn sampling_is_deterministic_per_seed() {
        let b = filled(100, 60);
        let s1 = b.sample_arrays(32, &mut SeededRng::new(7)).unwrap();
        let s2 = b.sample_arrays(32, &mut SeededRng::new(7)).unwrap();
        let s3 = b.sample_arrays(32, &mut SeededRng::new(8)).unwrap();
        assert_eq!(s1, s2);
        assert_ne!(s1.indices, s3.indices);
        assert!(s1.indices.iter().all(|&i| i < 60));
        // Rows stay aligned: next_obs[0] = obs[0] + 1 and reward = obs[0].
        for k in 0..32 {
            assert_eq!(s1.next_obs[2 * k], s1.obs[2 * k] + 1.0);
            assert_eq!(s1.rewards[k], s1.obs[2 * k]);
        }
    }

    #[test]
    fn tensors_have_the_documented_shapes() {
        let b = filled(10, 10);
        let t = b.sample(4, &mut SeededRng::new(1), &Device::Cpu).unwrap();
        assert_eq!(t.obs.dims(), &[4, 2]);
        assert_eq!(t.next_obs.dims(), &[4, 2]);
        assert_eq!(t.actions.dims(), &[4]);
        assert_eq!(t.actions.dtype(), candle_core::DType::U32);
        assert_eq!(t.rewards.dims(), &[4]);
        assert_eq!(t.dones.dims(), &[4]);
        let a = b.sample_arrays(4, &mut SeededRng::new(1)).unwrap();
        assert_eq!(
            t.obs.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            a.obs
        );

        let mut c = ReplayBuffer::new(5, 3, &Space::uniform_box(-1.0, 1.0, &[2])).unwrap();
        c.push(
            &[0.0; 3],
            &Action::Continuous(vec![0.5, -0.5]),
            1.0,
            &[1.0; 3],
            false,
        )
        .unwrap();
        let t = c
            .sample(3, &mut SeededRng::new(2), &Device::Cpu)
            .unwrap_err();
        assert!(t.to_string().contains("only 1"));
        let t = c.sample(1, &mut SeededRng::new(2), &Device::Cpu).unwrap();
        assert_eq!(t.actions.dims(), &[1, 2]);
        assert_eq!(t.actions.dtype(), candle_core::DType::F32);
    }

    #[test]
    fn bad_pushes_and_samples_are_errors() {
        let mut b = ReplayBuffer::new(3, 2, &Space::Discrete(2)).unwrap();
        assert!(b.sample_indices(1, &mut SeededRng::new(0)).is_err());
        assert!(b
            .push(&[0.0], &Action::Discrete(0), 0.0, &[0.0, 0.0], false)
            .is_err());
        assert!(b
            .push(
                &[0.0, f32::NAN],
                &Action::Discrete(0),
                0.0,
                &[0.0, 0.0],
                false
            )
            .is_err());
        assert!(b
            .push(&[0.0; 2], &Action::Discrete(2), 0.0, &[0.0; 2], false)
            .is_err());
        assert!(b
            .push(
                &[0.0; 2],
                &Action::Continuous(vec![0.0]),
                0.0,
                &[0.0; 2],
                false
            )
            .is_err());
        assert!(b
            .push(&[0.0; 2], &Action::Discrete(1), f64::NAN, &[0.0; 2], false)
            .is_err());
        assert!(b.is_empty());
        b.push(&[0.0; 2], &Action::Discrete(1), 1.0, &[0.0; 2], false)
            .unwrap();
        assert!(b.sample_indices(0, &mut SeededRng::new(0)).is_err());
        assert!(b.sample_indices(2, &mut SeededRng::new(0)).is_err());
        assert!(ReplayBuffer::new(0, 2, &Space::Discrete(2)).is_err());
    }
}
