//! `Acrobot-v1` (Sutton 1996; Sutton & Barto's "book" dynamics), Gymnasium 1.2.2.

use std::f64::consts::PI;

use candor_core::{Result, SeededRng};

use crate::env::{check_state, reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const G: f64 = 9.8;

/// Two-link underactuated pendulum: state `(θ₁, θ₂, θ̇₁, θ̇₂)`, actions torque −1 / 0 / +1
/// on the second joint, one RK4 step of dt 0.2 per env step, angles wrapped into
/// [−π, π] and velocities clamped to ±4π / ±9π. Observation
/// `(cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂)`. Reward −1, and 0 on the terminating step
/// (−cos θ₁ − cos(θ₁ + θ₂) > 1). Reset: 4 × U(−0.1, 0.1) rounded to float32, as
/// Gymnasium does.
#[derive(Debug, Clone)]
pub struct Acrobot {
    state: [f64; 4],
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

/// The equations of motion (Gymnasium's `_dsdt`, "book" variant), with the torque `a`.
fn dsdt(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1) = (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1);
    let (lc1, lc2, i1, i2) = (LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI);
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let d1 =
        m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * G * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * G * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * theta2.sin() - phi2)
        / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// One classical RK4 step of length `DT` (Gymnasium's `rk4` over `t = [0, dt]`).
fn rk4(y0: [f64; 4], a: f64) -> [f64; 4] {
    let dt = DT;
    let dt2 = dt / 2.0;
    let add = |y: [f64; 4], h: f64, k: [f64; 4]| std::array::from_fn(|i| y[i] + h * k[i]);
    let k1 = dsdt(y0, a);
    let k2 = dsdt(add(y0, dt2, k1), a);
    let k3 = dsdt(add(y0, dt2, k2), a);
    let k4 = dsdt(add(y0, dt, k3), a);
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Shifts beyond which [`wrap`] takes the closed form instead of Gymnasium's loop.
const MAX_WRAP_SHIFTS: f64 = 1024.0;

/// Gymnasium's `wrap`: shift by the range width until inside [m, big_m].
///
/// An angle more than [`MAX_WRAP_SHIFTS`] widths outside the range (only reachable
/// through [`Env::set_state`]) is wrapped with `rem_euclid` instead: Gymnasium's loop
/// would take that many iterations, and never ends once `x − diff` rounds back to `x`
/// (|x| ≳ 10¹⁶), so a crafted state could hang the process.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    if (x - big_m) / diff > MAX_WRAP_SHIFTS || (m - x) / diff > MAX_WRAP_SHIFTS {
        return m + (x - m).rem_euclid(diff);
    }
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

impl Acrobot {
    /// An acrobot that must be reset before stepping.
    pub fn new() -> Self {
        let high = vec![1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        Self {
            state: [0.0; 4],
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high,
                shape: vec![6],
            },
            action_space: Space::Discrete(3),
        }
    }

    fn obs(&self) -> Vec<f32> {
        let [t1, t2, dt1, dt2] = self.state;
        vec![
            t1.cos() as f32,
            t1.sin() as f32,
            t2.cos() as f32,
            t2.sin() as f32,
            dt1 as f32,
            dt2 as f32,
        ]
    }

    fn terminal(&self) -> bool {
        let [t1, t2, _, _] = self.state;
        -t1.cos() - (t2 + t1).cos() > 1.0
    }
}

impl Env for Acrobot {
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
        for v in &mut self.state {
            // Gymnasium draws float64 and keeps `.astype(np.float32)`.
            *v = f64::from(self.rng.uniform_range(-0.1, 0.1) as f32);
        }
        self.phase = Phase::Running;
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.action_space.check(action)?;
        self.phase.check_step("Acrobot")?;
        let torque = AVAIL_TORQUE[action.as_discrete()?];
        let ns = rk4(self.state, torque);
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            ns[2].clamp(-MAX_VEL_1, MAX_VEL_1),
            ns[3].clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        let terminated = self.terminal();
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            obs: self.obs(),
            reward: if terminated { 0.0 } else { -1.0 },
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        check_state("Acrobot", state, 4)?;
        self.state.copy_from_slice(state);
        self.phase = Phase::Running;
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_ends_for_any_finite_angle() {
        for x in [1e300, -1e300, 5.1e11, -5.1e11, 1e16, 7.0, -7.0, 3.0] {
            let w = wrap(x, -PI, PI);
            assert!((-PI..=PI).contains(&w), "{x} -> {w}");
        }
        // Within the loop's reach the result is Gymnasium's, bit for bit.
        assert_eq!(wrap(7.0, -PI, PI), 7.0 - 2.0 * PI);
        assert_eq!(wrap(-20.0, -PI, PI), -20.0 + 2.0 * PI + 2.0 * PI + 2.0 * PI);
    }
}
