//! The Gymnasium 1.2.2 **v4** MuJoCo locomotion tasks on MuJoCo 3.17.0 (`mujoco-rs`):
//! HalfCheetah, Hopper, Walker2d, Ant and Swimmer, unwrapped (no time limit; `make` adds
//! the registered 1000-step [`TimeLimit`](crate::TimeLimit)).
//!
//! The models are Gymnasium's own XML files (`assets/mujoco/`, MIT, vendored from the
//! `gymnasium-1.2.2` wheel). Each step follows `*_v4.py` and `MujocoEnv`:
//!
//! * `ctrl ← a` **unclipped** (MuJoCo clamps to `ctrlrange` internally), then `frame_skip`
//!   × `mj_step`. The control cost uses the raw action, computed as NumPy 2 computes it for
//!   a float32 action: squares and a pairwise sum in float32, times the weight rounded to
//!   float32, promoted to float64 when subtracted.
//! * `x_velocity = (x_after − x_before) / dt`, `dt = timestep · frame_skip` (float64).
//!   Ant's x is the torso body's frame position (`xpos`), the others' is `qpos[0]`.
//! * The healthy reward (Hopper, Walker2d, Ant) is paid on every step, the terminating one
//!   included (`terminate_when_unhealthy = True`).
//! * Gymnasium also calls `mj_rnePostConstraint` after stepping; it only fills `cacc`,
//!   `cfrc_int` and `cfrc_ext`, which no default v4 observation or reward reads and which
//!   the next step recomputes, so it is skipped.
//!
//! | task | timestep × frame_skip | obs | reward | terminated | reset noise |
//! |---|---|---|---|---|---|
//! | HalfCheetah | 0.01 × 5 | `qpos[1:]`, qvel (17) | ẋ − 0.1·Σa² | never | qpos + U(±0.1), qvel + 0.1·N(0, 1) |
//! | Hopper | 0.002 × 4 | `qpos[1:]`, clip(qvel, ±10) (11) | ẋ + 1 − 1e-3·Σa² | not (all \|`(qpos, qvel)[2:]`\| < 100, z > 0.7, \|angle\| < 0.2) | U(±0.005) both |
//! | Walker2d | 0.002 × 4 | `qpos[1:]`, clip(qvel, ±10) (17) | ẋ + 1 − 1e-3·Σa² | not (0.8 < z < 2, −1 < angle < 1) | U(±0.005) both |
//! | Ant | 0.01 × 5 | `qpos[2:]`, qvel (27) | ẋ_torso + 1 − 0.5·Σa² | not (finite state, 0.2 ≤ z ≤ 1) | qpos + U(±0.1), qvel + 0.1·N(0, 1) |
//! | Swimmer | 0.01 × 4 | `qpos[2:]`, qvel (8) | ẋ − 1e-4·Σa² | never | U(±0.1) both |
//!
//! ## State
//!
//! [`Env::state`] returns `[qpos (nq), qvel (nv), act (na), qacc_warmstart (nv), x_ref]`:
//! everything the next steps depend on, so restoring it makes the continuation
//! bit-identical to the uninterrupted trajectory (tested).
//! * `act` is empty (`na = 0`) for all five; `ctrl` is overwritten by every step; `time`
//!   does not enter their dynamics.
//! * The constraint solver starts from `qacc_warmstart` and stops at a tolerance, so the
//!   warm start changes the last bits of the next state.
//! * `x_ref` is the x position the next reward's velocity is measured from. It equals
//!   `qpos[0]`, except for Ant: Gymnasium reads the torso's `xpos`, which `mj_step`
//!   computes *before* its last integration, so after a step it lags one physics substep
//!   behind `qpos` (after a reset it is current).
//!
//! [`Env::set_state`] accepts that full vector, or `[qpos, qvel]` alone as Gymnasium's
//! `set_state(qpos, qvel)` after `mj_resetData` (warm start zero and `x_ref` current, as
//! after a reset).

use mujoco_rs::prelude::{MjData, MjModel, MjtObjBase};

use candor_core::{Error, Result, SeededRng};

use crate::env::{reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

/// Which locomotion task (each a Gymnasium `*_v4.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locomotion {
    /// `HalfCheetah-v4`.
    HalfCheetah,
    /// `Hopper-v4`.
    Hopper,
    /// `Walker2d-v4`.
    Walker2d,
    /// `Ant-v4` (default options: no contact forces in the observation or reward).
    Ant,
    /// `Swimmer-v4`.
    Swimmer,
}

impl Locomotion {
    /// All five tasks.
    pub const ALL: [Locomotion; 5] = [
        Locomotion::HalfCheetah,
        Locomotion::Hopper,
        Locomotion::Walker2d,
        Locomotion::Ant,
        Locomotion::Swimmer,
    ];

    /// The Gymnasium id (`HalfCheetah-v4`, …).
    pub fn id(self) -> &'static str {
        match self {
            Locomotion::HalfCheetah => "HalfCheetah-v4",
            Locomotion::Hopper => "Hopper-v4",
            Locomotion::Walker2d => "Walker2d-v4",
            Locomotion::Ant => "Ant-v4",
            Locomotion::Swimmer => "Swimmer-v4",
        }
    }

    /// The task with Gymnasium id `id`, if any.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// Gymnasium's XML model (`gymnasium/envs/mujoco/assets/`).
    pub fn xml(self) -> &'static str {
        match self {
            Locomotion::HalfCheetah => include_str!("../../assets/mujoco/half_cheetah.xml"),
            Locomotion::Hopper => include_str!("../../assets/mujoco/hopper.xml"),
            Locomotion::Walker2d => include_str!("../../assets/mujoco/walker2d.xml"),
            Locomotion::Ant => include_str!("../../assets/mujoco/ant.xml"),
            Locomotion::Swimmer => include_str!("../../assets/mujoco/swimmer.xml"),
        }
    }

    /// `mj_step` calls per env step.
    pub fn frame_skip(self) -> usize {
        match self {
            Locomotion::HalfCheetah | Locomotion::Ant => 5,
            Locomotion::Hopper | Locomotion::Walker2d | Locomotion::Swimmer => 4,
        }
    }

    fn ctrl_cost_weight(self) -> f64 {
        match self {
            Locomotion::HalfCheetah => 0.1,
            Locomotion::Hopper | Locomotion::Walker2d => 1e-3,
            Locomotion::Ant => 0.5,
            Locomotion::Swimmer => 1e-4,
        }
    }

    /// Leading qpos entries left out of the observation (x, and y for Ant and Swimmer).
    fn excluded_positions(self) -> usize {
        match self {
            Locomotion::Ant | Locomotion::Swimmer => 2,
            _ => 1,
        }
    }

    /// Hopper and Walker2d clip the velocities in the observation to ±10.
    fn clips_velocity(self) -> bool {
        matches!(self, Locomotion::Hopper | Locomotion::Walker2d)
    }

    /// `(healthy reward, terminates when unhealthy)`.
    fn healthy_reward(self) -> f64 {
        match self {
            Locomotion::Hopper | Locomotion::Walker2d | Locomotion::Ant => 1.0,
            Locomotion::HalfCheetah | Locomotion::Swimmer => 0.0,
        }
    }
}

/// A v4 locomotion task: a MuJoCo model and its data, plus the Gymnasium task logic.
#[derive(Debug)]
pub struct MujocoEnv {
    task: Locomotion,
    data: MjData<Box<MjModel>>,
    nq: usize,
    nv: usize,
    na: usize,
    dt: f64,
    init_qpos: Vec<f64>,
    /// Ant: the torso body, whose frame position gives x.
    torso: usize,
    /// The x position the next step's velocity is measured from (see [`Env::state`]).
    x_ref: f64,
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
    ctrl: Vec<f64>,
}

impl MujocoEnv {
    /// Load `task`'s model; reset (or `set_state`) before stepping.
    pub fn new(task: Locomotion) -> Result<Self> {
        let (xml, total_mass) = without_settotalmass(task.xml());
        let mut model = MjModel::from_xml_string(&xml)
            .map_err(|e| Error::invalid(format!("{}: cannot load the model: {e}", task.id())))?;
        if let Some(mass) = total_mass {
            model.set_totalmass(mass);
        }
        let (nq, nv, na, nu) = {
            let m = model.ffi();
            (m.nq as usize, m.nv as usize, m.na as usize, m.nu as usize)
        };
        let dt = model.ffi().opt.timestep * task.frame_skip() as f64;
        let init_qpos = model.qpos0().to_vec();
        let torso = model
            .name_to_id(MjtObjBase::mjOBJ_BODY, "torso")
            .unwrap_or(1);
        let (low, high): (Vec<f32>, Vec<f32>) = model
            .actuator_ctrlrange()
            .iter()
            .map(|r| (r[0] as f32, r[1] as f32))
            .unzip();
        let obs_dim = nq - task.excluded_positions() + nv;
        let mut data = MjData::new(Box::new(model));
        if total_mass.is_some() {
            data.set_const();
        }
        Ok(Self {
            task,
            data,
            nq,
            nv,
            na,
            dt,
            init_qpos,
            torso,
            x_ref: 0.0,
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::uniform_box(f32::NEG_INFINITY, f32::INFINITY, &[obs_dim]),
            action_space: Space::Box {
                low,
                high,
                shape: vec![nu],
            },
            ctrl: vec![0.0; nu],
        })
    }

    /// The task.
    pub fn task(&self) -> Locomotion {
        self.task
    }

    /// Seconds of simulated time per env step (`timestep · frame_skip`).
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// `(nq, nv)`: the lengths of qpos and qvel.
    pub fn dims(&self) -> (usize, usize) {
        (self.nq, self.nv)
    }

    /// Current joint positions.
    pub fn qpos(&self) -> &[f64] {
        self.data.qpos()
    }

    /// Current joint velocities.
    pub fn qvel(&self) -> &[f64] {
        self.data.qvel()
    }

    /// Length of the full [`Env::state`] vector.
    pub fn state_len(&self) -> usize {
        self.nq + 2 * self.nv + self.na + 1
    }

    fn x_position(&self) -> f64 {
        match self.task {
            Locomotion::Ant => self.data.xpos()[self.torso][0],
            _ => self.data.qpos()[0],
        }
    }

    fn obs(&self) -> Vec<f32> {
        let qpos = &self.data.qpos()[self.task.excluded_positions()..];
        let qvel = self.data.qvel();
        let clip = self.task.clips_velocity();
        qpos.iter()
            .map(|&x| x as f32)
            .chain(qvel.iter().map(|&v| {
                let v = if clip { v.clamp(-10.0, 10.0) } else { v };
                v as f32
            }))
            .collect()
    }

    /// Gymnasium's `is_healthy` (always healthy for HalfCheetah and Swimmer).
    fn is_healthy(&self) -> bool {
        let (qpos, qvel) = (self.data.qpos(), self.data.qvel());
        match self.task {
            Locomotion::Hopper => {
                let (z, angle) = (qpos[1], qpos[2]);
                let state_ok = qpos[2..]
                    .iter()
                    .chain(qvel)
                    .all(|&s| -100.0 < s && s < 100.0);
                state_ok && 0.7 < z && z < f64::INFINITY && -0.2 < angle && angle < 0.2
            }
            Locomotion::Walker2d => {
                let (z, angle) = (qpos[1], qpos[2]);
                0.8 < z && z < 2.0 && -1.0 < angle && angle < 1.0
            }
            Locomotion::Ant => {
                qpos.iter().chain(qvel).all(|s| s.is_finite()) && 0.2 <= qpos[2] && qpos[2] <= 1.0
            }
            Locomotion::HalfCheetah | Locomotion::Swimmer => true,
        }
    }

    /// Write qpos/qvel (and optionally act and the warm start) after `mj_resetData`, then
    /// `mj_forward`, as Gymnasium's `reset` / `set_state` do; `rest` is `(act,
    /// qacc_warmstart, x_ref)` of a full state.
    fn load(&mut self, qpos: &[f64], qvel: &[f64], rest: Option<(&[f64], &[f64], f64)>) {
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(qpos);
        self.data.qvel_mut().copy_from_slice(qvel);
        if let Some((act, warmstart, _)) = rest {
            self.data.act_mut().copy_from_slice(act);
            self.data.qacc_warmstart_mut().copy_from_slice(warmstart);
        }
        self.data.forward();
        self.x_ref = match rest {
            Some((_, _, x_ref)) => x_ref,
            None => self.x_position(),
        };
        self.phase = Phase::Running;
    }
}

/// `xml` without the compiler attribute `settotalmass="M"`, and M. MuJoCo 3.17 still
/// honours the attribute but logs a deprecation warning (to `MUJOCO_LOG.TXT` in the working
/// directory unless the program installed a log handler); scaling the compiled model with
/// `mj_setTotalmass` and `mj_setConst` instead gives the same model, bit for bit (the golden
/// tests replay Gymnasium's trajectories exactly).
fn without_settotalmass(xml: &str) -> (std::borrow::Cow<'_, str>, Option<f64>) {
    const ATTR: &str = " settotalmass=\"";
    let Some(start) = xml.find(ATTR) else {
        return (xml.into(), None);
    };
    let value_start = start + ATTR.len();
    let Some(len) = xml[value_start..].find('"') else {
        return (xml.into(), None);
    };
    let Ok(mass) = xml[value_start..value_start + len].parse::<f64>() else {
        return (xml.into(), None);
    };
    let stripped = format!("{}{}", &xml[..start], &xml[value_start + len + 1..]);
    (stripped.into(), Some(mass))
}

/// `np.sum` of a contiguous float32 array: NumPy's pairwise summation (8 accumulators
/// for blocks of up to 128, halving above), so the rounding matches Python's.
fn numpy_sum_f32(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0f32;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f32; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        numpy_sum_f32(&a[..half]) + numpy_sum_f32(&a[half..])
    }
}

/// `weight · np.sum(np.square(a))` for a float32 action under NumPy 2's promotion rules
/// (everything in float32), as a float64.
pub(crate) fn control_cost(weight: f64, action: &[f32]) -> f64 {
    let squares: Vec<f32> = action.iter().map(|a| a * a).collect();
    f64::from(weight as f32 * numpy_sum_f32(&squares))
}

impl Env for MujocoEnv {
    fn rng_state(&self) -> Option<candor_core::RngState> {
        Some(self.rng.state())
    }
    fn set_rng_state(&mut self, state: &candor_core::RngState) -> candor_core::Result<()> {
        self.rng = candor_core::SeededRng::from_state(state)?;
        Ok(())
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = reset_rng(seed);
        }
        let qpos: Vec<f64>;
        let qvel: Vec<f64>;
        match self.task {
            Locomotion::HalfCheetah | Locomotion::Ant => {
                let s = 0.1;
                qpos = self
                    .init_qpos
                    .iter()
                    .map(|&q| q + self.rng.uniform_range(-s, s))
                    .collect();
                qvel = (0..self.nv).map(|_| s * self.rng.normal()).collect();
            }
            Locomotion::Hopper | Locomotion::Walker2d | Locomotion::Swimmer => {
                let s = if self.task == Locomotion::Swimmer {
                    0.1
                } else {
                    5e-3
                };
                qpos = self
                    .init_qpos
                    .iter()
                    .map(|&q| q + self.rng.uniform_range(-s, s))
                    .collect();
                qvel = (0..self.nv)
                    .map(|_| self.rng.uniform_range(-s, s))
                    .collect();
            }
        }
        self.load(&qpos, &qvel, None);
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.phase.check_step(self.task.id())?;
        self.action_space.check(action).map_err(|e| match e {
            Error::InvalidInput(msg) => Error::invalid(format!("{}: {msg}", self.task.id())),
            other => other,
        })?;
        let a = action.as_continuous()?;
        let x_before = self.x_ref;
        for (c, &x) in self.ctrl.iter_mut().zip(a) {
            *c = f64::from(x);
        }
        self.data.ctrl_mut().copy_from_slice(&self.ctrl);
        for _ in 0..self.task.frame_skip() {
            self.data.step();
        }
        self.x_ref = self.x_position();
        let x_velocity = (self.x_ref - x_before) / self.dt;
        let ctrl_cost = control_cost(self.task.ctrl_cost_weight(), a);
        let reward = (x_velocity + self.task.healthy_reward()) - ctrl_cost;
        let terminated = !self.is_healthy();
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            obs: self.obs(),
            reward,
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        let (nq, nv, na) = (self.nq, self.nv, self.na);
        let full = self.state_len();
        if state.len() != nq + nv && state.len() != full {
            return Err(Error::invalid(format!(
                "{}: set_state expects {} values (qpos {nq}, qvel {nv}) or {full} (qpos, qvel, act {na}, qacc_warmstart {nv}, x_ref 1), got {}",
                self.task.id(),
                nq + nv,
                state.len()
            )));
        }
        if let Some(i) = state.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!(
                "{}: set_state value {i} is {} (must be finite)",
                self.task.id(),
                state[i]
            )));
        }
        let (qpos, rest) = state.split_at(nq);
        let (qvel, rest) = rest.split_at(nv);
        let extra = (!rest.is_empty()).then(|| {
            let (act, rest) = rest.split_at(na);
            (act, &rest[..nv], rest[nv])
        });
        self.load(qpos, qvel, extra);
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        let d = &self.data;
        [
            d.qpos(),
            d.qvel(),
            d.act(),
            d.qacc_warmstart(),
            &[self.x_ref],
        ]
        .concat()
    }
}
