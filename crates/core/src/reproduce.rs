//! The contract between a paper crate and `cargo xtask reproduce`.
//!
//! Each paper crate exposes `reproduce::run(&ReproduceOptions) -> Result<Report>`; xtask
//! chooses the output folder and the device, times the run, fills in the commit and
//! writes the files.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::Error;

/// How much compute a reproduction may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Seconds: exercises every code path; used by the tests. Numbers mean little.
    Smoke,
    /// Minutes per paper on a 2-core CPU (the default).
    Quick,
    /// The paper's own budget (hours; for a bigger machine or a GPU).
    Paper,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Smoke => "smoke",
            Scale::Quick => "quick",
            Scale::Paper => "paper",
        }
    }

    /// Pick one of three values by scale.
    pub fn pick<T>(self, smoke: T, quick: T, paper: T) -> T {
        match self {
            Scale::Smoke => smoke,
            Scale::Quick => quick,
            Scale::Paper => paper,
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scale {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "smoke" => Ok(Scale::Smoke),
            "quick" => Ok(Scale::Quick),
            "paper" => Ok(Scale::Paper),
            _ => Err(Error::invalid(format!(
                "unknown scale '{s}': expected smoke, quick or paper"
            ))),
        }
    }
}

/// Options passed to every paper's `reproduce::run`.
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    pub scale: Scale,
    pub seed: u64,
    /// This paper's output folder (plots go here; xtask writes results.json/md).
    pub out_dir: PathBuf,
    /// Where the real data set lives, if the user has it.
    pub data_dir: Option<PathBuf>,
    /// Where pretrained weights live, if the user has them (per paper: see each
    /// crate's docs; e.g. forgery reads timm ImageNet checkpoints from here).
    pub weights_dir: Option<PathBuf>,
    /// The device every model, trainer and batch of this run lives on
    /// (`--device`; [`DeviceSpec::open`](crate::DeviceSpec::open) makes one).
    pub device: Device,
    /// Continue from the checkpoints a stopped run left in [`Self::checkpoint_dir`]
    /// (`--resume`); without it xtask clears them before the paper runs.
    pub resume: bool,
}

impl ReproduceOptions {
    /// Options on the CPU, with no real data and no pretrained weights.
    pub fn new(scale: Scale, seed: u64, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            scale,
            seed,
            out_dir: out_dir.into(),
            data_dir: None,
            weights_dir: None,
            device: Device::Cpu,
            resume: false,
        }
    }

    /// Where this paper's trainings keep their resumable checkpoints:
    /// `out_dir/checkpoints` at paper scale, and at any scale when resuming; `None`
    /// otherwise (a quick run lasts minutes, and a checkpoint per epoch would cost more
    /// than a restart). A stopped run continues with `cargo xtask reproduce --resume`.
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        (self.scale == Scale::Paper || self.resume).then(|| self.out_dir.join("checkpoints"))
    }

    /// The same options on `device`.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_parses() {
        assert_eq!("Quick".parse::<Scale>().unwrap(), Scale::Quick);
        assert!("huge".parse::<Scale>().is_err());
        assert_eq!(Scale::Paper.pick(1, 2, 3), 3);
        assert_eq!(Scale::Smoke.to_string(), "smoke");
    }

    #[test]
    fn checkpoints_at_paper_scale_or_when_resuming() {
        let q = ReproduceOptions::new(Scale::Quick, 0, "out");
        assert_eq!(q.checkpoint_dir(), None);
        let r = ReproduceOptions { resume: true, ..q };
        assert_eq!(r.checkpoint_dir(), Some(PathBuf::from("out/checkpoints")));
        let p = ReproduceOptions::new(Scale::Paper, 0, "out");
        assert_eq!(p.checkpoint_dir(), Some(PathBuf::from("out/checkpoints")));
    }
}
