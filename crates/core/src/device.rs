//! Which device a run uses: `cpu`, `cuda` or `cuda:N`, parsed from the command line
//! (`cargo xtask reproduce --device …`) or a config file, and opened once.
//!
//! Every paper takes its [`Device`] from [`ReproduceOptions`](crate::ReproduceOptions)
//! or from the caller; no library code picks one itself. A build without the `cuda`
//! feature refuses `cuda` at once, with the command that builds one that has it,
//! instead of failing somewhere inside the first op.
//!
//! ```
//! use candor_core::device::DeviceSpec;
//!
//! let spec: DeviceSpec = "cuda:1".parse().unwrap();
//! assert_eq!(spec, DeviceSpec::Cuda(1));
//! assert_eq!(spec.to_string(), "cuda:1");
//! assert!("tpu".parse::<DeviceSpec>().is_err());
//! assert!(DeviceSpec::Cpu.open().unwrap().is_cpu());
//! if !candor_core::device::cuda_compiled() {
//!     // Without `--features cuda` the error says how to get a CUDA build.
//!     let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
//!     assert!(err.contains("--features cuda"), "{err}");
//! }
//! ```

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A device named by the user: the CPU or one CUDA GPU by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The CPU (the default; every op runs here).
    #[default]
    Cpu,
    /// CUDA GPU number `N` (`cuda` = `cuda:0`).
    Cuda(usize),
}

/// Whether this build of candor-core has candle's CUDA backend (the `cuda` feature).
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

impl DeviceSpec {
    /// Opens the device. `cuda` in a build without the `cuda` feature is an error that
    /// says how to build with it; a missing GPU or driver is an error naming the device.
    pub fn open(&self) -> Result<Device> {
        match *self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => {
                if !cuda_compiled() {
                    return Err(Error::Unsupported(format!(
                        "device {self}: this build has no CUDA support; rebuild with the \
                         `cuda` feature, e.g. `cargo run --release -p xtask --features cuda \
                         -- reproduce --device {self}` (needs the CUDA toolkit; see \
                         shared/candle-notes.md), or use --device cpu"
                    )));
                }
                Device::new_cuda(n)
                    .map_err(|e| Error::Unsupported(format!("cannot open CUDA device {n}: {e}")))
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::invalid(format!(
                "unknown device '{s}': expected cpu, cuda or cuda:N (N = GPU number)"
            ))
        };
        match t.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => {
                let n = t.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse::<usize>().map(DeviceSpec::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Host memory: the device for data that lives on the CPU whatever device a run
/// computes on, such as serialisation buffers and the flat parameter vectors of an
/// evolutionary population (mutated and crossed over on the host). Library code names
/// this instead of `Device::Cpu`, so that every CPU-only place says why it is one.
pub fn host() -> Device {
    Device::Cpu
}

/// A short name of `device` for messages: `cpu`, `cuda:N` or `metal:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The device of a model's variables: the trainer and the evaluator move each batch
/// there. The CPU for an empty map.
pub fn varmap_device(varmap: &candle_nn::VarMap) -> Device {
    crate::init::sorted_vars(varmap)
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, d) in [
            ("cpu", DeviceSpec::Cpu),
            ("CPU", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:0", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), d, "{s}");
        }
        for bad in ["", "cuda:", "cuda:x", "cuda:-1", "metal", "cpu:0"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains("expected cpu, cuda or cuda:N"), "{bad}: {e}");
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        assert_eq!(DeviceSpec::default(), DeviceSpec::Cpu);
    }

    #[test]
    fn serde_is_the_string_form() {
        let j = serde_json::to_string(&DeviceSpec::Cuda(1)).unwrap();
        assert_eq!(j, "\"cuda:1\"");
        assert_eq!(
            serde_json::from_str::<DeviceSpec>(&j).unwrap(),
            DeviceSpec::Cuda(1)
        );
        assert!(serde_json::from_str::<DeviceSpec>("\"tpu\"").is_err());
    }

    #[test]
    fn cpu_opens_and_cuda_fails_clearly_without_the_feature() {
        let d = DeviceSpec::Cpu.open().unwrap();
        assert!(d.is_cpu());
        assert_eq!(device_name(&d), "cpu");
        if !cuda_compiled() {
            let e = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
            assert!(e.contains("no CUDA support"), "{e}");
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
