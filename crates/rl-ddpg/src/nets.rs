//! Fully connected layers and MLPs for the actor and critics, on candor-core's fused
//! [`ops::linear`](candor_core::ops::linear) (one pass for `x·Wᵀ + b` and the ReLU, and
//! no weight-gradient products through detached weights).
//!
//! This is a small private stand-in until candor-core's `nn::{Linear, Mlp}` land on main;
//! it then goes, and the agents use core's types (the names below follow them).
//!
//! Layout of an [`Mlp`] on sizes `[n₀, n₁, …, n_L]`: layer `i` is `fc{i}` with weight
//! `(nᵢ₊₁, nᵢ)` (PyTorch's `(out, in)`) and bias `(nᵢ₊₁)`; with LayerNorm, `ln{i}` follows
//! every hidden layer (before its activation, as ERL's actor).

use candle_core::{CpuStorage, DType, Storage, Tensor};
use candle_nn::{Init, VarBuilder};
use candor_core::{ops, Error, Result};
use serde::{Deserialize, Serialize};

/// A layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(x, 0)` (fused into the linear op).
    #[default]
    Relu,
    /// `tanh x`.
    Tanh,
    /// `x` for `x > 0`, `eˣ − 1` otherwise (α = 1).
    Elu,
    /// No activation.
    Identity,
}

impl Activation {
    fn tensor(self, x: Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Relu => ops::relu(&x)?,
            Activation::Tanh => x.tanh()?,
            Activation::Elu => x.elu(1.0)?,
            Activation::Identity => x,
        })
    }

    fn scalar(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::Identity => x,
        }
    }
}

/// A layer's initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum LayerInit {
    /// PyTorch's `nn.Linear` default: weight and bias `U(±1/√fan_in)`.
    #[default]
    Torch,
    /// Xavier/Glorot uniform weight `U(±√(6/(fan_in + fan_out)))`, zero bias (ERL, RIM).
    XavierUniform,
    /// Weight and bias `U(±bound)` (Lillicrap et al.'s output layers: 3e-3).
    Uniform {
        /// The half-width.
        bound: f64,
    },
}

impl LayerInit {
    fn inits(self, fan_in: usize, fan_out: usize) -> (Init, Init) {
        let u = |b: f64| Init::Uniform { lo: -b, up: b };
        match self {
            LayerInit::Torch => {
                let b = 1.0 / (fan_in as f64).sqrt();
                (u(b), u(b))
            }
            LayerInit::XavierUniform => (
                u((6.0 / (fan_in + fan_out) as f64).sqrt()),
                Init::Const(0.0),
            ),
            LayerInit::Uniform { bound } => (u(bound), u(bound)),
        }
    }

    fn validate(self) -> Result<()> {
        match self {
            LayerInit::Uniform { bound } if !(bound.is_finite() && bound >= 0.0) => Err(
                Error::invalid(format!("LayerInit: bound = {bound} must be finite and ≥ 0")),
            ),
            _ => Ok(()),
        }
    }
}

/// A fully connected layer `y = x·Wᵀ + b`, `W` `(out, in)`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from a `(out, in)` weight and an optional `(out)` bias.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (out, _) = weight.dims2().map_err(|_| {
            Error::invalid(format!("Linear: weight must be (out, in), got {:?}", weight.dims()))
        })?;
        if let Some(b) = &bias {
            if b.dims() != [out] {
                return Err(Error::invalid(format!(
                    "Linear: bias {:?} for {out} outputs",
                    b.dims()
                )));
            }
        }
        Ok(Self { weight, bias })
    }

    /// The `(out, in)` weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// `act(x·Wᵀ + b)` (a ReLU is fused into the product).
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let relu = act == Activation::Relu;
        let y = ops::linear(x, &self.weight, self.bias.as_ref(), relu)?;
        if relu {
            Ok(y)
        } else {
            act.tensor(y)
        }
    }
}

/// A [`Linear`]'s bias switch and initialisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearConfig {
    /// Whether the layer has a bias.
    pub bias: bool,
    /// The initialisation.
    pub init: LayerInit,
}

/// A `in → out` layer created in `vb` (`weight`, `bias`).
pub fn linear_with(in_dim: usize, out_dim: usize, cfg: LinearConfig, vb: VarBuilder) -> Result<Linear> {
    cfg.init.validate()?;
    let (wi, bi) = cfg.init.inits(in_dim, out_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", wi)?;
    let bias = if cfg.bias {
        Some(vb.get_with_hints(out_dim, "bias", bi)?)
    } else {
        None
    };
    Linear::new(weight, bias)
}

/// LayerNorm over the last dimension with an affine weight and bias.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// From `(n)` weight and bias.
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<Self> {
        if weight.rank() != 1 || weight.dims() != bias.dims() {
            return Err(Error::invalid(format!(
                "LayerNorm: weight {:?} and bias {:?} must be one (n) shape",
                weight.dims(),
                bias.dims()
            )));
        }
        Ok(Self { weight, bias, eps })
    }

    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The ε under the square root.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, 1, Some(&self.weight), Some(&self.bias), self.eps)
    }
}

/// An MLP's shape: layer sizes, activations, LayerNorm, initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// `[inputs, hidden…, outputs]`.
    pub sizes: Vec<usize>,
    /// After every hidden layer.
    pub activation: Activation,
    /// After the output layer.
    pub output_activation: Activation,
    /// LayerNorm ε after every hidden layer (`None`: none).
    pub layer_norm: Option<f64>,
    /// Every layer's initialisation.
    pub init: LayerInit,
    /// The output layer's, when it differs.
    pub output_init: Option<LayerInit>,
}

impl MlpConfig {
    /// ReLU hidden layers, a linear output, PyTorch's initialisation.
    pub fn new(sizes: &[usize]) -> Self {
        Self {
            sizes: sizes.to_vec(),
            activation: Activation::Relu,
            output_activation: Activation::Identity,
            layer_norm: None,
            init: LayerInit::Torch,
            output_init: None,
        }
    }

    /// Set the hidden activation.
    pub fn with_activation(mut self, act: Activation) -> Self {
        self.activation = act;
        self
    }

    /// Set the output activation.
    pub fn with_output_activation(mut self, act: Activation) -> Self {
        self.output_activation = act;
        self
    }

    /// LayerNorm with `eps` after every hidden layer.
    pub fn with_layer_norm(mut self, eps: f64) -> Self {
        self.layer_norm = Some(eps);
        self
    }

    /// Set every layer's initialisation.
    pub fn with_init(mut self, init: LayerInit) -> Self {
        self.init = init;
        self
    }

    /// Set the output layer's initialisation.
    pub fn with_output_init(mut self, init: LayerInit) -> Self {
        self.output_init = Some(init);
        self
    }

    /// Error on fewer than two sizes, a zero size, a bad ε or initialisation.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.len() < 2 || self.sizes.contains(&0) {
            return Err(Error::invalid(format!(
                "MlpConfig: sizes must be ≥ 2 positive numbers, got {:?}",
                self.sizes
            )));
        }
        if let Some(eps) = self.layer_norm {
            if !(eps.is_finite() && eps > 0.0) {
                return Err(Error::invalid(format!(
                    "MlpConfig: LayerNorm eps = {eps} must be finite and > 0"
                )));
            }
        }
        self.init.validate()?;
        self.output_init.map_or(Ok(()), LayerInit::validate)
    }

    fn layers(&self) -> usize {
        self.sizes.len() - 1
    }
}

/// A multi-layer perceptron (see the module docs for its variables).
#[derive(Debug, Clone)]
pub struct Mlp {
    cfg: MlpConfig,
    layers: Vec<Linear>,
    norms: Vec<LayerNorm>,
}

/// An MLP created in `vb`.
pub fn mlp(cfg: &MlpConfig, vb: VarBuilder) -> Result<Mlp> {
    cfg.validate()?;
    let n = cfg.layers();
    let mut layers = Vec::with_capacity(n);
    let mut norms = Vec::new();
    for i in 0..n {
        let init = if i + 1 == n {
            cfg.output_init.unwrap_or(cfg.init)
        } else {
            cfg.init
        };
        let lc = LinearConfig { bias: true, init };
        let (fan_in, fan_out) = (cfg.sizes[i], cfg.sizes[i + 1]);
        layers.push(linear_with(fan_in, fan_out, lc, vb.pp(format!("fc{i}")))?);
        if let (Some(eps), true) = (cfg.layer_norm, i + 1 < n) {
            let vb = vb.pp(format!("ln{i}"));
            let w = vb.get_with_hints(fan_out, "weight", Init::Const(1.0))?;
            let b = vb.get_with_hints(fan_out, "bias", Init::Const(0.0))?;
            norms.push(LayerNorm::new(w, b, eps)?);
        }
    }
    Mlp::new(cfg.clone(), layers, norms)
}

/// A contiguous f32 CPU tensor's values, without a copy.
fn with_host_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    if !t.is_contiguous() || t.dtype() != DType::F32 {
        return None;
    }
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(CpuStorage::F32(v)) => {
            let (a, b) = l.contiguous_offsets()?;
            Some(f(&v[a..b]))
        }
        _ => None,
    }
}

impl Mlp {
    /// An MLP from its layers (and one LayerNorm per hidden layer when configured).
    pub fn new(cfg: MlpConfig, layers: Vec<Linear>, norms: Vec<LayerNorm>) -> Result<Self> {
        cfg.validate()?;
        let want_norms = if cfg.layer_norm.is_some() { cfg.layers() - 1 } else { 0 };
        if layers.len() != cfg.layers() || norms.len() != want_norms {
            return Err(Error::invalid(format!(
                "Mlp: {} layers and {} norms for sizes {:?}",
                layers.len(),
                norms.len(),
                cfg.sizes
            )));
        }
        for (i, l) in layers.iter().enumerate() {
            if l.weight.dims() != [cfg.sizes[i + 1], cfg.sizes[i]] {
                return Err(Error::invalid(format!(
                    "Mlp: layer {i} weight {:?} for sizes {:?}",
                    l.weight.dims(),
                    cfg.sizes
                )));
            }
        }
        Ok(Self { cfg, layers, norms })
    }

    /// The shape.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// The layers.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The LayerNorms (empty without).
    pub fn norms(&self) -> &[LayerNorm] {
        &self.norms
    }

    /// Every parameter in flat order: per layer weight, bias, then its LayerNorm's
    /// weight and bias.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            out.push(l.weight.clone());
            out.extend(l.bias.clone());
            if let Some(n) = self.norms.get(i) {
                out.push(n.weight.clone());
                out.push(n.bias.clone());
            }
        }
        out
    }

    /// The forward pass on a batch `(B, inputs)` → `(B, outputs)`, differentiable.
    pub fn forward_t(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            let act = if i == last {
                self.cfg.output_activation
            } else {
                self.cfg.activation
            };
            h = match self.norms.get(i) {
                Some(n) => act.tensor(n.forward(&l.forward_act(&h, Activation::Identity)?)?)?,
                None => l.forward_act(&h, act)?,
            };
        }
        Ok(h)
    }

    /// The forward pass of one input on the host: no tensors, no graph (an actor's
    /// per-step action). Falls back to [`Mlp::forward_t`] off the CPU or for non-f32
    /// parameters.
    pub fn forward_one(&self, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.cfg.sizes[0] {
            return Err(Error::invalid(format!(
                "Mlp: input of {} values for {} inputs",
                x.len(),
                self.cfg.sizes[0]
            )));
        }
        match self.forward_host(x) {
            Some(y) => Ok(y),
            None => {
                let dev = self.layers[0].weight.device();
                let t = Tensor::from_slice(x, (1, x.len()), dev)?
                    .to_dtype(self.layers[0].weight.dtype())?;
                Ok(self
                    .forward_t(&t)?
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1()?)
            }
        }
    }

    fn forward_host(&self, x: &[f32]) -> Option<Vec<f32>> {
        let last = self.layers.len() - 1;
        let mut h = x.to_vec();
        for (i, l) in self.layers.iter().enumerate() {
            let (out, inp) = (self.cfg.sizes[i + 1], self.cfg.sizes[i]);
            let mut y = match &l.bias {
                Some(b) => with_host_f32(b, <[f32]>::to_vec)?,
                None => vec![0.0; out],
            };
            with_host_f32(&l.weight, |w| {
                for (o, yo) in y.iter_mut().enumerate() {
                    let row = &w[o * inp..(o + 1) * inp];
                    *yo += row.iter().zip(&h).map(|(a, b)| a * b).sum::<f32>();
                }
            })?;
            if let Some(n) = self.norms.get(i) {
                let mean = y.iter().sum::<f32>() / out as f32;
                let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out as f32;
                let inv = 1.0 / (var + n.eps as f32).sqrt();
                let (w, b) = (
                    with_host_f32(&n.weight, <[f32]>::to_vec)?,
                    with_host_f32(&n.bias, <[f32]>::to_vec)?,
                );
                for (k, v) in y.iter_mut().enumerate() {
                    *v = (*v - mean) * inv * w[k] + b[k];
                }
            }
            let act = if i == last {
                self.cfg.output_activation
            } else {
                self.cfg.activation
            };
            h = y.into_iter().map(|v| act.scalar(v)).collect();
        }
        Some(h)
    }

    /// Every parameter as one flat f32 vector (order of [`Mlp::parameters`]).
    pub fn to_flat(&self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for p in self.parameters() {
            out.extend(p.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Overwrite every parameter from a flat vector (order of [`Mlp::parameters`]); the
    /// parameters must be variables (`Var`-backed tensors) for the write to reach them.
    pub fn set_flat(&self, flat: &[f32]) -> Result<()> {
        let params = self.parameters();
        let total: usize = params.iter().map(Tensor::elem_count).sum();
        if flat.len() != total {
            return Err(Error::invalid(format!(
                "Mlp::set_flat: {} values for {total} parameters",
                flat.len()
            )));
        }
        let mut at = 0;
        for p in params {
            let n = p.elem_count();
            let src = Tensor::from_slice(&flat[at..at + n], p.shape(), p.device())?
                .to_dtype(p.dtype())?;
            // Same storage as the variable: write through its own slice assignment.
            p.slice_set(&src, 0, 0)?;
            at += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;
    use candor_core::init::seeded_var_builder;

    fn net(layer_norm: bool, act: Activation) -> (VarMap, Mlp) {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 3, DType::F32, &Device::Cpu);
        let mut cfg = MlpConfig::new(&[5, 7, 6, 2])
            .with_activation(act)
            .with_output_activation(Activation::Tanh);
        if layer_norm {
            cfg = cfg.with_layer_norm(1e-5);
        }
        let m = mlp(&cfg, vb).unwrap();
        (vm, m)
    }

    #[test]
    fn host_forward_matches_the_tensor_forward() {
        let x = [0.3f32, -1.2, 0.5, 2.0, -0.7];
        for (ln, act) in [
            (false, Activation::Relu),
            (true, Activation::Elu),
            (false, Activation::Tanh),
        ] {
            let (_vm, m) = net(ln, act);
            let t = Tensor::from_slice(&x, (1, 5), &Device::Cpu).unwrap();
            let want: Vec<f32> = m.forward_t(&t).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let got = m.forward_one(&x).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{ln} {act:?}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn flat_round_trip_and_size_errors() {
        let (_vm, m) = net(true, Activation::Relu);
        let flat = m.to_flat().unwrap();
        let want = 5 * 7 + 7 + 2 * 7 + 7 * 6 + 6 + 2 * 6 + 6 * 2 + 2;
        assert_eq!(flat.len(), want);
        let doubled: Vec<f32> = flat.iter().map(|v| v * 2.0).collect();
        m.set_flat(&doubled).unwrap();
        assert_eq!(m.to_flat().unwrap(), doubled);
        assert!(m.set_flat(&flat[1..]).is_err());
        assert!(m.forward_one(&[0.0; 4]).is_err());
        assert!(MlpConfig::new(&[3]).validate().is_err());
    }

    #[test]
    fn torch_init_bounds() {
        let (_vm, m) = net(false, Activation::Relu);
        let w = m.layers()[0].weight().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = 1.0 / 5f32.sqrt();
        assert!(w.iter().all(|v| v.abs() <= b));
        assert!(w.iter().any(|v| v.abs() > b / 2.0));
    }
}
