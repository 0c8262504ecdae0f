//! Seeded parameter initialisation.
//!
//! [`seeded_var_builder`] returns a candle-nn `VarBuilder` whose new variables are drawn
//! from [`SeededRng`] instead of candle's unseedable thread RNG. Every variable gets its
//! own stream, derived from the seed and the variable's full name
//! (`SeededRng::derive(seed, "encoder.conv1.weight")`), so its initial value depends only
//! on (seed, name, shape, init rule): not on the order in which layers are built, nor on
//! the thread count. candle-nn's own layer constructors (`linear`, `conv2d`, …) keep their
//! usual init rules (`Init::Kaiming`, `Init::Uniform`, …) and become reproducible.

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::{FanInOut, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::Result;

/// Draw a tensor following candle-nn's `Init` rule from a seeded generator.
pub fn init_tensor(
    init: &Init,
    shape: &Shape,
    rng: &mut SeededRng,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    Ok(match *init {
        Init::Const(v) => Tensor::full(v, shape, device)?.to_dtype(dtype)?,
        Init::Uniform { lo, up } => rng.uniform_tensor(lo, up, shape.clone(), dtype, device)?,
        Init::Randn { mean, stdev } => {
            rng.normal_tensor(mean, stdev, shape.clone(), dtype, device)?
        }
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let fan = fan.for_shape(shape).max(1);
            let std = non_linearity.gain() / (fan as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    rng.uniform_tensor(-bound, bound, shape.clone(), dtype, device)?
                }
                NormalOrUniform::Normal => {
                    rng.normal_tensor(0.0, std, shape.clone(), dtype, device)?
                }
            }
        }
    })
}

/// Fan-in and fan-out of a weight shape, as PyTorch computes them
/// (`dims[1]·receptive field`, `dims[0]·receptive field`).
pub fn fans(shape: &Shape) -> (usize, usize) {
    (
        FanInOut::FanIn.for_shape(shape),
        FanInOut::FanOut.for_shape(shape),
    )
}

/// Xavier/Glorot uniform (`torch.nn.init.xavier_uniform_`) as a candle `Init`.
pub fn xavier_uniform(shape: &Shape, gain: f64) -> Init {
    let (fi, fo) = fans(shape);
    let bound = gain * (6.0 / (fi + fo).max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Xavier/Glorot normal (`torch.nn.init.xavier_normal_`) as a candle `Init`.
pub fn xavier_normal(shape: &Shape, gain: f64) -> Init {
    let (fi, fo) = fans(shape);
    Init::Randn {
        mean: 0.0,
        stdev: gain * (2.0 / (fi + fo).max(1) as f64).sqrt(),
    }
}

/// Kaiming/He normal with fan-in and ReLU gain (`torch.nn.init.kaiming_normal_`).
pub const KAIMING_NORMAL: Init = candle_nn::init::DEFAULT_KAIMING_NORMAL;
/// Kaiming/He uniform with fan-in and ReLU gain.
pub const KAIMING_UNIFORM: Init = candle_nn::init::DEFAULT_KAIMING_UNIFORM;

/// How a layer's weight is initialised (drawn through the seeded `VarBuilder`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum WeightInit {
    /// PyTorch's default for `Linear`, `Conv2d` and `ConvTranspose2d`:
    /// `kaiming_uniform_(a = √5)`, i.e. `U(±1/√fan_in)`.
    #[default]
    TorchDefault,
    /// `torch.nn.init.xavier_uniform_(gain)`: `U(±gain·√(6 / (fan_in + fan_out)))`.
    XavierUniform { gain: f64 },
    /// `U(±bound)` (DDPG's output layers: 3e-3).
    Uniform { bound: f64 },
    /// All zeros.
    Zeros,
}

/// How a layer's bias is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum BiasInit {
    /// PyTorch's default: `U(±1/√fan_in)` with the weight's fan-in.
    #[default]
    TorchDefault,
    /// All zeros (TensorFlow's default).
    Zeros,
    /// `U(±bound)`.
    Uniform { bound: f64 },
}

/// The initialisation of a layer's weight and bias. Fans are PyTorch's
/// ([`fans`]: `fan_in = dims[1]·kH·kW`), so the rules mean the same for `Linear`
/// `(out, in)`, `Conv2d` `(C_out, C_in/g, k, k)` and `ConvTranspose2d`
/// `(C_in, C_out/g, k, k)` weights as in PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayerInit {
    pub weight: WeightInit,
    pub bias: BiasInit,
}

impl LayerInit {
    /// PyTorch's default for weight and bias.
    pub const TORCH: LayerInit = LayerInit {
        weight: WeightInit::TorchDefault,
        bias: BiasInit::TorchDefault,
    };

    /// Xavier-uniform weights (gain 1) with PyTorch's default bias: ERL's and RIM's
    /// `xavier_uniform_` on the weights only.
    pub const fn xavier_uniform() -> Self {
        LayerInit {
            weight: WeightInit::XavierUniform { gain: 1.0 },
            bias: BiasInit::TorchDefault,
        }
    }

    /// Weight and bias from `U(±bound)` (DDPG's output layers: 3e-3).
    pub const fn uniform(bound: f64) -> Self {
        LayerInit {
            weight: WeightInit::Uniform { bound },
            bias: BiasInit::Uniform { bound },
        }
    }

    /// Weight and bias zero.
    pub const fn zeros() -> Self {
        LayerInit {
            weight: WeightInit::Zeros,
            bias: BiasInit::Zeros,
        }
    }

    /// An error for a negative or non-finite gain or bound.
    pub fn validate(&self) -> Result<()> {
        let bad = |v: f64| !(v >= 0.0 && v.is_finite());
        let w = match self.weight {
            WeightInit::XavierUniform { gain: v } | WeightInit::Uniform { bound: v } => bad(v),
            _ => false,
        };
        let b = matches!(self.bias, BiasInit::Uniform { bound } if bad(bound));
        if w || b {
            return Err(crate::Error::invalid(format!(
                "layer init {self:?}: gains and bounds must be finite and ≥ 0"
            )));
        }
        Ok(())
    }

    /// The candle `Init` rules for a weight of `shape` and its bias.
    pub fn rules(&self, shape: &Shape) -> Result<(Init, Init)> {
        self.validate()?;
        let (fan_in, _) = fans(shape);
        let torch = {
            let b = 1.0 / (fan_in.max(1) as f64).sqrt();
            Init::Uniform { lo: -b, up: b }
        };
        let w = match self.weight {
            WeightInit::TorchDefault => torch,
            WeightInit::XavierUniform { gain } => xavier_uniform(shape, gain),
            WeightInit::Uniform { bound } => Init::Uniform {
                lo: -bound,
                up: bound,
            },
            WeightInit::Zeros => Init::Const(0.0),
        };
        let b = match self.bias {
            BiasInit::TorchDefault => torch,
            BiasInit::Zeros => Init::Const(0.0),
            BiasInit::Uniform { bound } => Init::Uniform {
                lo: -bound,
                up: bound,
            },
        };
        Ok((w, b))
    }
}

/// A `VarMap` backend whose new variables come from a seeded generator.
#[derive(Clone)]
pub struct SeededBackend {
    varmap: VarMap,
    seed: u64,
}

impl SeededBackend {
    pub fn new(varmap: &VarMap, seed: u64) -> Self {
        Self {
            varmap: varmap.clone(),
            seed,
        }
    }
}

impl SimpleBackend for SeededBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self.varmap.data().lock().unwrap();
        if let Some(var) = data.get(name) {
            if var.shape() != &s {
                candle_core::bail!("shape mismatch on {name}: {s:?} <> {:?}", var.shape())
            }
            return Ok(var.as_tensor().clone());
        }
        let mut rng = SeededRng::derive(self.seed, name);
        let t = init_tensor(&h, &s, &mut rng, dtype, dev)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let var = Var::from_tensor(&t)?;
        let t = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let data = self.varmap.data().lock().unwrap();
        match data.get(name) {
            Some(v) => v.as_tensor().to_dtype(dtype)?.to_device(dev),
            None => candle_core::bail!("no variable named {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().unwrap().contains_key(name)
    }
}

/// A `VarBuilder` over `varmap` whose new variables are initialised from `seed`.
///
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::VarMap;
/// let vm = VarMap::new();
/// let vb = candor_core::init::seeded_var_builder(&vm, 42, DType::F32, &Device::Cpu);
/// let l1 = candle_nn::linear(4, 8, vb.pp("l1")).unwrap();
/// let vm2 = VarMap::new();
/// let vb2 = candor_core::init::seeded_var_builder(&vm2, 42, DType::F32, &Device::Cpu);
/// let l2 = candle_nn::linear(4, 8, vb2.pp("l1")).unwrap();
/// let (a, b) = (l1.weight().to_vec2::<f32>().unwrap(), l2.weight().to_vec2::<f32>().unwrap());
/// assert_eq!(a, b);
/// ```
pub fn seeded_var_builder(
    varmap: &VarMap,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(SeededBackend::new(varmap, seed)),
        dtype,
        device.clone(),
    )
}

/// All variables of `varmap` sorted by name. `VarMap` iterates its `HashMap` in
/// random order; construct optimisers from
/// `sorted_vars(&vm).into_iter().map(|(_, v)| v).collect()` so that parameter
/// indices (and optimiser checkpoints) are the same in every run. (Also reachable as
/// `optim::sorted_vars`.)
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap.data().lock().unwrap();
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    drop(data);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_any_build_order() {
        let dev = Device::Cpu;
        let a = VarMap::new();
        let vb = seeded_var_builder(&a, 9, DType::F32, &dev);
        candle_nn::linear(3, 5, vb.pp("x")).unwrap();
        candle_nn::linear(5, 2, vb.pp("y")).unwrap();
        let b = VarMap::new();
        let vb = seeded_var_builder(&b, 9, DType::F32, &dev);
        candle_nn::linear(5, 2, vb.pp("y")).unwrap();
        candle_nn::linear(3, 5, vb.pp("x")).unwrap();
        let (va, vb_) = (sorted_vars(&a), sorted_vars(&b));
        assert_eq!(va.len(), 4);
        for ((na, ta), (nb, tb)) in va.iter().zip(vb_.iter()) {
            assert_eq!(na, nb);
            let x = ta.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let y = tb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(x, y, "{na}");
        }
        let c = VarMap::new();
        let vb = seeded_var_builder(&c, 10, DType::F32, &dev);
        let l = candle_nn::linear(3, 5, vb.pp("x")).unwrap();
        let w9 = va[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w10 = l.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_ne!(w9, w10);
    }

    #[test]
    fn kaiming_uniform_bound_and_spread() {
        let shape = Shape::from((64, 128));
        let t = init_tensor(
            &KAIMING_UNIFORM,
            &shape,
            &mut SeededRng::new(0),
            DType::F64,
            &Device::Cpu,
        )
        .unwrap();
        let v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let bound = 3f64.sqrt() * 2f64.sqrt() / 128f64.sqrt();
        assert!(v.iter().all(|x| x.abs() <= bound));
        let max = v.iter().cloned().fold(0.0f64, |a, b| a.max(b.abs()));
        assert!(max > 0.95 * bound);
    }

    #[test]
    fn layer_init_rules_follow_pytorch_fans() {
        let bound = |i: Init| match i {
            Init::Uniform { lo, up } if lo == -up => up,
            Init::Const(0.0) => 0.0,
            other => panic!("{other:?}"),
        };
        // ConvTranspose2d weight (C_in, C_out/g, k, k): fan_in = (C_out/g)·k².
        let (w, b) = LayerInit::TORCH.rules(&Shape::from((6, 2, 3, 3))).unwrap();
        assert!((bound(w) - 1.0 / 18f64.sqrt()).abs() < 1e-15);
        assert_eq!(bound(b), bound(w));
        let (w, b) = LayerInit::xavier_uniform()
            .rules(&Shape::from((3, 5)))
            .unwrap();
        assert!((bound(w) - (6.0f64 / 8.0).sqrt()).abs() < 1e-15);
        assert!((bound(b) - 1.0 / 5f64.sqrt()).abs() < 1e-15);
        let (w, b) = LayerInit::zeros().rules(&Shape::from((2, 2))).unwrap();
        assert_eq!((bound(w), bound(b)), (0.0, 0.0));
        assert!(LayerInit::uniform(-1.0)
            .rules(&Shape::from((2, 2)))
            .is_err());
    }

    #[test]
    fn xavier_bounds() {
        let s = Shape::from((10, 20, 3, 3));
        match xavier_uniform(&s, 1.0) {
            Init::Uniform { up, .. } => {
                assert!((up - (6.0f64 / (180.0 + 90.0)).sqrt()).abs() < 1e-12)
            }
            _ => panic!(),
        }
    }

    #[test]
    fn sorted_vars_is_sorted() {
        let vm = VarMap::new();
        {
            let mut data = vm.data().lock().unwrap();
            for (n, v) in [("z", 1.0f64), ("a.w", 2.0), ("m", 3.0)] {
                data.insert(n.to_string(), Var::new(&[v], &Device::Cpu).unwrap());
            }
        }
        let names: Vec<String> = sorted_vars(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["a.w", "m", "z"]);
    }
}
