//! Observation and action spaces, and the [`Action`] type passed to [`Env::step`](crate::Env::step).

use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

/// A Gymnasium space: `Discrete(n)` (actions `0..n`) or a float32 `Box`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Space {
    /// `n` discrete actions, `0..n`.
    Discrete(usize),
    /// A float32 box. `low` and `high` hold one bound per element (row-major over `shape`);
    /// unbounded elements use `f32::MAX` / `f32::MIN` like Gymnasium's classic-control
    /// float32 boxes, or ±infinity like its MuJoCo observation boxes.
    Box {
        low: Vec<f32>,
        high: Vec<f32>,
        shape: Vec<usize>,
    },
}

/// An action for [`Env::step`](crate::Env::step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// An index into a [`Space::Discrete`] space.
    Discrete(usize),
    /// The elements of a [`Space::Box`] action (row-major over its shape).
    Continuous(Vec<f32>),
}

impl Space {
    /// A box with the same bounds for every element.
    pub fn uniform_box(low: f32, high: f32, shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Space::Box {
            low: vec![low; n],
            high: vec![high; n],
            shape: shape.to_vec(),
        }
    }

    /// Number of scalars in one element of the space: 1 for `Discrete`, the product of
    /// the shape for `Box`. This is the width of an observation vector, or of a stored
    /// action in a [`ReplayBuffer`](crate::ReplayBuffer).
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete(_) => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// Number of discrete actions, or `None` for a box.
    pub fn n(&self) -> Option<usize> {
        match self {
            Space::Discrete(n) => Some(*n),
            Space::Box { .. } => None,
        }
    }

    /// `true` when `action` has the right kind and size for this space and is finite.
    /// Box bounds are *not* enforced: like Gymnasium's classic-control environments,
    /// out-of-range continuous actions are clipped by the environment itself.
    pub fn check(&self, action: &Action) -> Result<()> {
        match (self, action) {
            (Space::Discrete(n), Action::Discrete(a)) => {
                if a < n {
                    Ok(())
                } else {
                    Err(Error::invalid(format!(
                        "discrete action {a} is out of range: the action space is Discrete({n}), valid actions are 0..{n}"
                    )))
                }
            }
            (Space::Box { shape, .. }, Action::Continuous(v)) => {
                let want: usize = shape.iter().product();
                if v.len() != want {
                    return Err(Error::invalid(format!(
                        "continuous action has {} elements, the action space has shape {shape:?} ({want} elements)",
                        v.len()
                    )));
                }
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::invalid(format!(
                        "continuous action element {i} is {} (actions must be finite)",
                        v[i]
                    )));
                }
                Ok(())
            }
            (Space::Discrete(n), Action::Continuous(v)) => Err(Error::invalid(format!(
                "got a continuous action {v:?} for a Discrete({n}) action space"
            ))),
            (Space::Box { shape, .. }, Action::Discrete(a)) => Err(Error::invalid(format!(
                "got a discrete action {a} for a Box action space of shape {shape:?}"
            ))),
        }
    }

    /// A uniformly random element: an index below `n`, or each box element uniform in
    /// `[low, high)` (bounds must be finite for a box; an unbounded element is an error).
    pub fn sample(&self, rng: &mut SeededRng) -> Result<Action> {
        match self {
            Space::Discrete(0) => Err(Error::invalid("cannot sample from Discrete(0)")),
            Space::Discrete(n) => Ok(Action::Discrete(rng.below(*n))),
            Space::Box { low, high, .. } => {
                let mut v = Vec::with_capacity(low.len());
                for (i, (&lo, &hi)) in low.iter().zip(high).enumerate() {
                    if !(lo.is_finite() && hi.is_finite() && lo <= hi && hi < f32::MAX) {
                        return Err(Error::invalid(format!(
                            "cannot sample box element {i}: bounds [{lo}, {hi}] are not finite"
                        )));
                    }
                    v.push(rng.uniform_range(f64::from(lo), f64::from(hi)) as f32);
                }
                Ok(Action::Continuous(v))
            }
        }
    }
}

impl Action {
    /// The index of a discrete action, or an error for a continuous one.
    pub fn as_discrete(&self) -> Result<usize> {
        match self {
            Action::Discrete(a) => Ok(*a),
            Action::Continuous(v) => Err(Error::invalid(format!(
                "expected a discrete action, got continuous {v:?}"
            ))),
        }
    }

    /// The elements of a continuous action, or an error for a discrete one.
    pub fn as_continuous(&self) -> Result<&[f32]> {
        match self {
            Action::Continuous(v) => Ok(v),
            Action::Discrete(a) => Err(Error::invalid(format!(
                "expected a continuous action, got discrete {a}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_bad_actions() {
        let d = Space::Discrete(3);
        assert!(d.check(&Action::Discrete(2)).is_ok());
        assert!(d.check(&Action::Discrete(3)).is_err());
        assert!(d.check(&Action::Continuous(vec![1.0])).is_err());
        let b = Space::uniform_box(-2.0, 2.0, &[1]);
        assert!(b.check(&Action::Continuous(vec![5.0])).is_ok()); // clipped by the env
        assert!(b.check(&Action::Continuous(vec![f32::NAN])).is_err());
        assert!(b.check(&Action::Continuous(vec![f32::INFINITY])).is_err());
        assert!(b.check(&Action::Continuous(vec![0.0, 0.0])).is_err());
        assert!(b.check(&Action::Discrete(0)).is_err());
    }

    #[test]
    fn sample_stays_in_bounds_and_is_seeded() {
        let b = Space::uniform_box(-2.0, 2.0, &[3]);
        let mut r1 = SeededRng::new(5);
        let mut r2 = SeededRng::new(5);
        for _ in 0..100 {
            let a = b.sample(&mut r1).unwrap();
            assert_eq!(a, b.sample(&mut r2).unwrap());
            assert!(a
                .as_continuous()
                .unwrap()
                .iter()
                .all(|x| (-2.0..=2.0).contains(x)));
            let d2 = Space::Discrete(4).sample(&mut r2).unwrap();
            let d = Space::Discrete(4)
                .sample(&mut r1)
                .unwrap()
                .as_discrete()
                .unwrap();
            assert!(d < 4);
            assert_eq!(Action::Discrete(d), d2);
        }
        assert!(Space::Discrete(0).sample(&mut r1).is_err());
        assert!(Space::uniform_box(f32::MIN, f32::MAX, &[1])
            .sample(&mut r1)
            .is_err());
    }
}
