//! Mapping continuous actions between the unit box `[-1, 1]^d`, where off-policy agents
//! act (a tanh actor, exploration noise, stored replay actions), and an env's action box.

use candor_core::{Error, Result};

use crate::space::Space;

/// Affine map between `[-1, 1]^d` and a finite action box `[low, high]`:
/// `env = low + (unit + 1)·(high − low)/2`, with `unit` first clipped to `[-1, 1]`, so
/// every mapped action lies in the box (as TD3 clips `π(s) + noise` to the action range).
///
/// ```
/// use candor_rl::{ActionScaler, Space};
/// # fn main() -> candor_core::Result<()> {
/// let scaler = ActionScaler::new(&Space::uniform_box(-2.0, 2.0, &[1]))?; // Pendulum
/// assert_eq!(scaler.to_env(&[0.5])?, vec![1.0]);
/// assert_eq!(scaler.to_env(&[3.0])?, vec![2.0]); // clipped
/// assert_eq!(scaler.to_unit(&[-1.0])?, vec![-0.5]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActionScaler {
    low: Vec<f32>,
    high: Vec<f32>,
}

impl ActionScaler {
    /// For a box space with finite bounds and `low < high` in every element.
    pub fn new(space: &Space) -> Result<Self> {
        let Space::Box { low, high, .. } = space else {
            return Err(Error::invalid(
                "ActionScaler: needs a Box action space, got a discrete one",
            ));
        };
        for (i, (&l, &h)) in low.iter().zip(high).enumerate() {
            if !(l.is_finite() && h.is_finite() && l < h && h < f32::MAX && l > f32::MIN) {
                return Err(Error::invalid(format!(
                    "ActionScaler: action element {i} has bounds [{l}, {h}]; need finite low < high"
                )));
            }
        }
        Ok(Self {
            low: low.clone(),
            high: high.clone(),
        })
    }

    /// Action dimension.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    fn check(&self, a: &[f32], what: &str) -> Result<()> {
        if a.len() != self.dim() {
            return Err(Error::invalid(format!(
                "ActionScaler::{what}: action has {} elements, expected {}",
                a.len(),
                self.dim()
            )));
        }
        if let Some(i) = a.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!(
                "ActionScaler::{what}: action element {i} is {}",
                a[i]
            )));
        }
        Ok(())
    }

    /// Unit-box action (clipped to `[-1, 1]` first) → env action in `[low, high]`.
    pub fn to_env(&self, unit: &[f32]) -> Result<Vec<f32>> {
        self.check(unit, "to_env")?;
        Ok(unit
            .iter()
            .zip(self.low.iter().zip(&self.high))
            .map(|(&u, (&l, &h))| {
                let u = u.clamp(-1.0, 1.0);
                (l + (u + 1.0) * 0.5 * (h - l)).clamp(l, h)
            })
            .collect())
    }

    /// Env action (clipped to the box first) → unit-box action.
    pub fn to_unit(&self, env: &[f32]) -> Result<Vec<f32>> {
        self.check(env, "to_unit")?;
        Ok(env
            .iter()
            .zip(self.low.iter().zip(&self.high))
            .map(|(&a, (&l, &h))| (2.0 * (a.clamp(l, h) - l) / (h - l) - 1.0).clamp(-1.0, 1.0))
            .collect())
    }
}

/// Clip every element to `[-1, 1]` in place.
pub fn clip_unit(a: &mut [f32]) {
    for x in a {
        *x = x.clamp(-1.0, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_and_clips() {
        let space = Space::Box {
            low: vec![-1.0, 0.0],
            high: vec![1.0, 4.0],
            shape: vec![2],
        };
        let s = ActionScaler::new(&space).unwrap();
        assert_eq!(s.to_env(&[0.25, 0.0]).unwrap(), vec![0.25, 2.0]);
        assert_eq!(s.to_env(&[-5.0, 5.0]).unwrap(), vec![-1.0, 4.0]);
        assert_eq!(s.to_unit(&[0.25, 3.0]).unwrap(), vec![0.25, 0.5]);
        assert_eq!(s.to_unit(&[9.0, -9.0]).unwrap(), vec![1.0, -1.0]);
        let x = [0.3f32, -0.7];
        let back = s.to_unit(&s.to_env(&x).unwrap()).unwrap();
        assert!(back.iter().zip(x).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn rejects_bad_spaces_and_actions() {
        assert!(ActionScaler::new(&Space::Discrete(2)).is_err());
        assert!(ActionScaler::new(&Space::uniform_box(f32::MIN, f32::MAX, &[1])).is_err());
        assert!(ActionScaler::new(&Space::uniform_box(1.0, 1.0, &[1])).is_err());
        let s = ActionScaler::new(&Space::uniform_box(-2.0, 2.0, &[1])).unwrap();
        assert!(s
            .to_env(&[0.0, 0.0])
            .unwrap_err()
            .to_string()
            .contains("2 elements"));
        assert!(s.to_env(&[f32::NAN]).is_err());
        let mut a = [1.5f32, -0.5, -3.0];
        clip_unit(&mut a);
        assert_eq!(a, [1.0, -0.5, -1.0]);
    }
}
