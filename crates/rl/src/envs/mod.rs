//! The five Gymnasium 1.2.2 classic-control environments, unwrapped (no time limit; use
//! [`make`](crate::make) for the registered ids with their [`TimeLimit`](crate::TimeLimit)).
//!
//! Each follows the Python source operation by operation, in float64, with observations
//! cast to float32. Where Gymnasium mixes numpy float32 scalars into the arithmetic
//! (MountainCarContinuous's state and action, Pendulum's action), NumPy 2's promotion
//! rules are reproduced, so the float32 roundings happen where they happen in Python.

mod acrobot;
mod cartpole;
mod mountain_car;
mod mountain_car_continuous;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::MountainCarContinuous;
pub use pendulum::Pendulum;

#[cfg(feature = "mujoco")]
pub mod mujoco;
#[cfg(feature = "mujoco")]
pub use mujoco::{Locomotion, MujocoEnv};
