//! # candor-forgery
//!
//! Face-forgery detectors from two CVPR 2021 papers, on candle and
//! candor-core's ops:
//!
//! * Zhao et al., *Multi-attentional Deepfake Detection* (MAT);
//! * Liu et al., *Spatial-Phase Shallow Learning: Rethinking Face Forgery
//!   Detection in Frequency Domain* (SPSL).
//!
//! Work in progress: see the module docs for what exists.

pub mod data;
pub mod eval;
pub mod model;
pub mod train;

pub use candor_core::{Error, Result};
