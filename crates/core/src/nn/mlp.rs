//! A multi-layer perceptron: `Linear → [LayerNorm] → activation` for each hidden layer,
//! then `Linear → output activation`, the actor and critic networks of DDPG, TD3, ERL and
//! RIM and the heads of other models.
//!
//! [`MlpConfig`] holds the layer sizes, the hidden and output activations, an optional
//! LayerNorm after each hidden `Linear` (ERL's actor: `Linear → LayerNorm → tanh`), the
//! bias switch and the initialisation ([`LayerInit`]: PyTorch's default, Xavier uniform,
//! `U(±bound)`, zeros), with a separate rule for the output layer if wanted (DDPG's
//! `U(±3e-3)`). Variables: `fc{i}.weight` `(out, in)`, `fc{i}.bias`, `norm{i}.weight`,
//! `norm{i}.bias`, `i` from 0.
//!
//! Besides the differentiable [`Module::forward`] (each hidden layer one fused
//! [`ops::linear`](crate::ops::linear()) when there is no LayerNorm), an MLP offers
//!
//! * [`Mlp::forward_one`]: one observation on the host, reading the parameters in place
//!   (no tensors, no graph): the acting path of an RL agent;
//! * [`Mlp::to_flat`] / [`Mlp::set_flat`] and [`MlpConfig::forward_flat`]: the parameters
//!   as one `Vec<f32>` in [`MlpConfig::params`] order (each layer's weight row-major, its
//!   bias, then its LayerNorm's weight and bias), and a forward pass straight from such a
//!   buffer, so that an evolutionary population can live in plain buffers.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::init::seeded_var_builder;
//! use candor_core::nn::{mlp, Activation, MlpConfig};
//! let cfg = MlpConfig::new(&[3, 8, 8, 2])
//!     .with_layer_norm(1e-5)
//!     .with_activation(Activation::Tanh)
//!     .with_output_activation(Activation::Tanh);
//! let vm = VarMap::new();
//! let actor = mlp(&cfg, seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu)).unwrap();
//! let obs = [0.1f32, -0.2, 0.3];
//! let a = actor.forward_one(&obs).unwrap();
//! let batch = Tensor::new(&[obs], &Device::Cpu).unwrap();
//! let b = actor.forward(&batch).unwrap().to_vec2::<f32>().unwrap();
//! assert!((a[0] - b[0][0]).abs() < 1e-6 && a[1].abs() < 1.0);
//! // The population of an evolutionary method as plain buffers:
//! let flat = actor.to_flat().unwrap();
//! assert_eq!(flat.len(), cfg.num_params());
//! assert_eq!(cfg.forward_flat(&flat, &obs).unwrap(), a);
//! ```

use std::ops::Range;

use candle_core::{CpuStorage, DType, Module, Storage, StorageRef, Tensor, Var};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::cerr;
use super::layer_norm::{layer_norm, LayerNorm};
use super::linear::{linear_with, Linear, LinearConfig};
use crate::init::LayerInit;
use crate::ops::Activation;
use crate::{Error, Result};

/// An MLP's shape and options. [`Default`]: no layers (set `sizes`), ReLU hidden
/// activation, no output activation, no LayerNorm (ε 1e-5 when on), biases, PyTorch's
/// initialisation everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// `[inputs, hidden…, outputs]`: at least two entries, all positive.
    pub sizes: Vec<usize>,
    /// After every hidden layer (after its LayerNorm, if any).
    pub activation: Activation,
    /// After the output layer (`Tanh` for a bounded actor, `Identity` for a critic).
    pub output_activation: Activation,
    /// A LayerNorm (affine, over the features) after each hidden `Linear`, before the
    /// activation.
    pub layer_norm: bool,
    /// The LayerNorm's ε (PyTorch's default 1e-5).
    pub layer_norm_eps: f64,
    /// Whether the `Linear` layers have biases.
    pub bias: bool,
    /// Initialisation of the hidden layers (and of the output layer unless
    /// `output_init` is set).
    pub init: LayerInit,
    /// Initialisation of the output layer, when it differs.
    pub output_init: Option<LayerInit>,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            sizes: Vec::new(),
            activation: Activation::Relu,
            output_activation: Activation::Identity,
            layer_norm: false,
            layer_norm_eps: 1e-5,
            bias: true,
            init: LayerInit::TORCH,
            output_init: None,
        }
    }
}

/// One parameter of an MLP's flat buffer: its variable name (under the builder's
/// prefix), its shape and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatParam {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl FlatParam {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no values (never, for a valid MLP).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its slice of the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

impl MlpConfig {
    /// Layer sizes `[inputs, hidden…, outputs]` with the defaults.
    pub fn new(sizes: &[usize]) -> Self {
        Self {
            sizes: sizes.to_vec(),
            ..Default::default()
        }
    }

    /// With this hidden activation.
    pub fn with_activation(mut self, act: Activation) -> Self {
        self.activation = act;
        self
    }

    /// With this output activation.
    pub fn with_output_activation(mut self, act: Activation) -> Self {
        self.output_activation = act;
        self
    }

    /// With a LayerNorm of this ε after each hidden `Linear`.
    pub fn with_layer_norm(mut self, eps: f64) -> Self {
        self.layer_norm = true;
        self.layer_norm_eps = eps;
        self
    }

    /// With or without biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// With this initialisation for every layer (the output layer too, unless
    /// [`with_output_init`](Self::with_output_init) sets its own).
    pub fn with_init(mut self, init: LayerInit) -> Self {
        self.init = init;
        self
    }

    /// With this initialisation for the output layer.
    pub fn with_output_init(mut self, init: LayerInit) -> Self {
        self.output_init = Some(init);
        self
    }

    /// An error naming the problem: fewer than two sizes, a zero size, a bad activation
    /// parameter, initialisation or ε.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.len() < 2 || self.sizes.contains(&0) {
            return Err(Error::invalid(format!(
                "MLP: sizes must list at least the input and output sizes, all positive, got {:?}",
                self.sizes
            )));
        }
        self.activation.validate()?;
        self.output_activation.validate()?;
        self.init.validate()?;
        if let Some(i) = self.output_init {
            i.validate()?;
        }
        if self.layer_norm && !(self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite()) {
            return Err(Error::invalid(format!(
                "MLP: LayerNorm ε must be positive, got {}",
                self.layer_norm_eps
            )));
        }
        Ok(())
    }

    /// Number of `Linear` layers.
    pub fn num_layers(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    fn has_norm(&self, layer: usize) -> bool {
        self.layer_norm && layer + 1 < self.num_layers()
    }

    /// The parameters in flat-buffer order: per layer `fc{i}.weight` `(out, in)`,
    /// `fc{i}.bias`, then (hidden layers with LayerNorm) `norm{i}.weight`, `norm{i}.bias`.
    pub fn params(&self) -> Vec<FlatParam> {
        let mut out = Vec::new();
        let mut offset = 0;
        let mut push = |name: String, shape: Vec<usize>| {
            let p = FlatParam {
                name,
                shape,
                offset,
            };
            offset += p.len();
            out.push(p);
        };
        for (i, w) in self.sizes.windows(2).enumerate() {
            push(format!("fc{i}.weight"), vec![w[1], w[0]]);
            if self.bias {
                push(format!("fc{i}.bias"), vec![w[1]]);
            }
            if self.has_norm(i) {
                push(format!("norm{i}.weight"), vec![w[1]]);
                push(format!("norm{i}.bias"), vec![w[1]]);
            }
        }
        out
    }

    /// Length of the flat parameter buffer.
    pub fn num_params(&self) -> usize {
        self.params().last().map_or(0, |p| p.offset + p.len())
    }

    /// The output for one input `x` from a flat parameter buffer (see
    /// [`Mlp::to_flat`]), on the host. Same function as [`Mlp::forward_one`].
    pub fn forward_flat(&self, params: &[f32], x: &[f32]) -> Result<Vec<f32>> {
        self.validate()?;
        if params.len() != self.num_params() {
            return Err(Error::invalid(format!(
                "MLP: flat buffer of {} values for {} parameters",
                params.len(),
                self.num_params()
            )));
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let s = &params[at..at + n];
            at += n;
            s
        };
        let mut layers = Vec::with_capacity(self.num_layers());
        for (i, w) in self.sizes.windows(2).enumerate() {
            let weight = take(w[0] * w[1]);
            let bias = self.bias.then(|| take(w[1]));
            let norm = self.has_norm(i).then(|| (take(w[1]), take(w[1])));
            layers.push(HostLayer { weight, bias, norm });
        }
        host_forward(self, &layers, x)
    }
}

/// One layer's parameters as host slices.
struct HostLayer<'a> {
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    norm: Option<(&'a [f32], &'a [f32])>,
}

/// Dot product with eight partial sums, so that it vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut part = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut acc = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        acc += x * y;
    }
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            part[l] += x[l] * y[l];
        }
    }
    acc + part.iter().sum::<f32>()
}

/// `out = w · h` for the row-major `w` (`out.len()` rows of `h.len()`), each row as
/// [`dot`] computes it. On a CPU with AVX2, eight rows at a time in eight-lane
/// registers: each row's sum is formed exactly as [`dot`] forms it (the same eight
/// partial sums, the same order of additions, multiply then add with no fused
/// multiply-add), so the results are the same bits on every CPU, and the eight
/// independent chains hide the additions' latency.
fn matvec(w: &[f32], h: &[f32], out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature `matvec_avx2` is compiled for.
        return unsafe { matvec_avx2(w, h, out) };
    }
    out.extend(w.chunks_exact(h.len()).map(|row| dot(row, h)));
}

/// Rows per block of [`matvec_avx2`].
#[cfg(target_arch = "x86_64")]
const MATVEC_ROWS: usize = 8;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn matvec_avx2(w: &[f32], h: &[f32], out: &mut Vec<f32>) {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let n = h.len();
    let full = n - n % 8;
    let blocks = w.chunks_exact(MATVEC_ROWS * n);
    let rest = blocks.remainder();
    for b in blocks {
        let mut acc = [0f32; MATVEC_ROWS];
        for (r, a) in acc.iter_mut().enumerate() {
            for (x, y) in b[r * n + full..(r + 1) * n].iter().zip(&h[full..]) {
                *a += x * y;
            }
        }
        let mut v = [_mm256_setzero_ps(); MATVEC_ROWS];
        for c in (0..full).step_by(8) {
            // SAFETY: c + 8 ≤ full ≤ n, and row r of the block spans b[r·n..(r + 1)·n].
            let hv = _mm256_loadu_ps(h.as_ptr().add(c));
            for (r, vr) in v.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(b.as_ptr().add(r * n + c));
                *vr = _mm256_add_ps(*vr, _mm256_mul_ps(x, hv));
            }
        }
        for (a, vr) in acc.iter().zip(v) {
            let mut part = [0f32; 8];
            _mm256_storeu_ps(part.as_mut_ptr(), vr);
            out.push(a + part.iter().sum::<f32>());
        }
    }
    out.extend(rest.chunks_exact(n).map(|row| dot(row, h)));
}

/// PyTorch's LayerNorm of one row, in place (biased variance).
fn host_layer_norm(h: &mut [f32], gamma: &[f32], beta: &[f32], eps: f64) {
    let n = h.len() as f64;
    let mean = h.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = h.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in h.iter_mut().zip(gamma).zip(beta) {
        *v = ((*v as f64 - mean) * inv) as f32 * g + b;
    }
}

fn host_forward(cfg: &MlpConfig, layers: &[HostLayer], x: &[f32]) -> Result<Vec<f32>> {
    if x.len() != cfg.sizes[0] {
        return Err(Error::invalid(format!(
            "MLP: input of {} values for {} inputs",
            x.len(),
            cfg.sizes[0]
        )));
    }
    let mut h = x.to_vec();
    let mut next = Vec::new();
    let last = layers.len() - 1;
    for (i, l) in layers.iter().enumerate() {
        next.clear();
        matvec(l.weight, &h, &mut next);
        if let Some(b) = l.bias {
            next.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
        if let Some((g, b)) = l.norm {
            host_layer_norm(&mut next, g, b, cfg.layer_norm_eps);
        }
        let act = if i == last {
            cfg.output_activation
        } else {
            cfg.activation
        };
        act.apply_slice(&mut next);
        std::mem::swap(&mut h, &mut next);
    }
    Ok(h)
}

/// A read guard on a contiguous f32 CPU tensor's storage.
struct HostView<'a> {
    guard: StorageRef<'a>,
    range: (usize, usize),
}

impl<'a> HostView<'a> {
    fn of(t: &'a Tensor) -> Option<Self> {
        let (guard, layout) = t.storage_and_layout();
        let range = layout.contiguous_offsets()?;
        matches!(&*guard, Storage::Cpu(CpuStorage::F32(_))).then_some(Self { guard, range })
    }

    fn slice(&self) -> &[f32] {
        match &*self.guard {
            Storage::Cpu(CpuStorage::F32(v)) => &v[self.range.0..self.range.1],
            _ => &[],
        }
    }
}

/// An MLP (see the module docs).
#[derive(Debug, Clone)]
pub struct Mlp {
    cfg: MlpConfig,
    layers: Vec<Linear>,
    norms: Vec<LayerNorm>,
}

/// An MLP with its variables created in `vb` (names in the module docs).
pub fn mlp(cfg: &MlpConfig, vb: VarBuilder) -> Result<Mlp> {
    cfg.validate()?;
    let n = cfg.num_layers();
    let mut layers = Vec::with_capacity(n);
    let mut norms = Vec::new();
    for (i, w) in cfg.sizes.windows(2).enumerate() {
        let init = match cfg.output_init {
            Some(o) if i + 1 == n => o,
            _ => cfg.init,
        };
        let lc = LinearConfig {
            bias: cfg.bias,
            init,
        };
        layers.push(linear_with(w[0], w[1], lc, vb.pp(format!("fc{i}")))?);
        if cfg.has_norm(i) {
            norms.push(layer_norm(
                &[w[1]],
                cfg.layer_norm_eps,
                vb.pp(format!("norm{i}")),
            )?);
        }
    }
    Mlp::new(cfg.clone(), layers, norms)
}

impl Mlp {
    /// An MLP from its layers: `layers[i]` maps `sizes[i] → sizes[i + 1]`, with a bias
    /// iff `cfg.bias`; `norms` holds one LayerNorm per hidden layer when
    /// `cfg.layer_norm`, else none.
    pub fn new(cfg: MlpConfig, layers: Vec<Linear>, norms: Vec<LayerNorm>) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.num_layers();
        let want_norms = if cfg.layer_norm { n - 1 } else { 0 };
        if layers.len() != n || norms.len() != want_norms {
            return Err(Error::invalid(format!(
                "MLP: {} layers and {} LayerNorms for sizes {:?} (layer_norm {})",
                layers.len(),
                norms.len(),
                cfg.sizes,
                cfg.layer_norm
            )));
        }
        for (i, (l, w)) in layers.iter().zip(cfg.sizes.windows(2)).enumerate() {
            if l.weight().dims() != [w[1], w[0]] || l.bias().is_some() != cfg.bias {
                return Err(Error::invalid(format!(
                    "MLP: layer {i} has weight {:?} (bias {}), expected [{}, {}] (bias {})",
                    l.weight().dims(),
                    l.bias().is_some(),
                    w[1],
                    w[0],
                    cfg.bias
                )));
            }
        }
        for (i, norm) in norms.iter().enumerate() {
            if norm.weight().dims() != [cfg.sizes[i + 1]] {
                return Err(Error::invalid(format!(
                    "MLP: LayerNorm {i} has {:?} features, expected {}",
                    norm.weight().dims(),
                    cfg.sizes[i + 1]
                )));
            }
        }
        Ok(Self { cfg, layers, norms })
    }

    /// The configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// The `Linear` layers, input first.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The LayerNorms of the hidden layers (empty without LayerNorm).
    pub fn norms(&self) -> &[LayerNorm] {
        &self.norms
    }

    /// Every parameter tensor in [`MlpConfig::params`] order.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            out.push(l.weight().clone());
            if let Some(b) = l.bias() {
                out.push(b.clone());
            }
            if self.cfg.has_norm(i) {
                out.push(self.norms[i].weight().clone());
                out.push(self.norms[i].bias().clone());
            }
        }
        out
    }

    /// The differentiable forward pass for `x` shaped `(…, inputs)`.
    pub fn forward_t(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = if i == last {
                l.forward_act(&h, self.cfg.output_activation)?
            } else if self.cfg.layer_norm {
                let z = l.forward_act(&h, Activation::Identity)?;
                self.cfg.activation.apply(&self.norms[i].forward(&z)?)?
            } else {
                l.forward_act(&h, self.cfg.activation)?
            };
        }
        Ok(h)
    }

    /// The output for one input on the host, reading the parameters in place: no
    /// tensors, no autograd graph, no thread pool (an RL agent's acting step). Parameters
    /// that are not f32 on the CPU go through [`Module::forward`] on a batch of one.
    pub fn forward_one(&self, x: &[f32]) -> Result<Vec<f32>> {
        let params = self.parameters();
        let views: Option<Vec<HostView>> = params.iter().map(HostView::of).collect();
        let Some(views) = views else {
            let w = self.layers[0].weight();
            let t = Tensor::from_slice(x, (1, x.len()), w.device())?.to_dtype(w.dtype())?;
            let y = self.forward_t(&t)?;
            return Ok(y.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        };
        let mut it = views.iter().map(HostView::slice);
        let mut next = || it.next().unwrap_or(&[]);
        let layers: Vec<HostLayer> = (0..self.layers.len())
            .map(|i| HostLayer {
                weight: next(),
                bias: self.cfg.bias.then(&mut next),
                norm: self.cfg.has_norm(i).then(|| (next(), next())),
            })
            .collect();
        host_forward(&self.cfg, &layers, x)
    }

    /// Every parameter as one f32 buffer, in [`MlpConfig::params`] order.
    pub fn to_flat(&self) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.cfg.num_params());
        for t in self.parameters() {
            out.extend(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Overwrites every parameter from a flat buffer in [`MlpConfig::params`] order.
    /// The parameters must be variables (as [`mlp`] makes them), so that the `VarMap`
    /// and any optimiser over it see the new values.
    pub fn set_flat(&self, flat: &[f32]) -> Result<()> {
        let n = self.cfg.num_params();
        if flat.len() != n {
            return Err(Error::invalid(format!(
                "MLP: flat buffer of {} values for {n} parameters",
                flat.len()
            )));
        }
        let params = self.parameters();
        if params.iter().any(|t| !t.is_variable()) {
            return Err(Error::invalid(
                "MLP::set_flat: the parameters are not variables (build the MLP with `mlp`)",
            ));
        }
        for (t, p) in params.iter().zip(self.cfg.params()) {
            let v = Tensor::from_slice(&flat[p.range()], p.shape.clone(), t.device())?
                .to_dtype(t.dtype())?;
            Var::from_tensor(t)?.set(&v)?;
        }
        Ok(())
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_t(x).map_err(cerr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::init::sorted_vars;
    use crate::nn::test_util::{input, vb};
    use candle_nn::VarMap;

    #[test]
    fn blocked_matvec_is_the_row_dot_bit_for_bit() {
        // Rows in blocks of eight and a ragged rest, lengths with and without a
        // remainder of eight: the AVX2 path gives the plain row dot's bits.
        let mut rng = crate::SeededRng::new(7);
        for (m, n) in [
            (1, 1),
            (3, 7),
            (8, 8),
            (6, 17),
            (9, 400),
            (400, 17),
            (21, 64),
            (16, 5),
        ] {
            let w: Vec<f32> = (0..m * n).map(|_| rng.normal() as f32).collect();
            let h: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let want: Vec<u32> = w.chunks_exact(n).map(|r| dot(r, &h).to_bits()).collect();
            let mut got = Vec::new();
            matvec(&w, &h, &mut got);
            let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{m}×{n}");
        }
    }

    fn erl_actor() -> MlpConfig {
        MlpConfig::new(&[5, 7, 6, 3])
            .with_layer_norm(1e-5)
            .with_activation(Activation::Tanh)
            .with_output_activation(Activation::Tanh)
            .with_init(LayerInit::xavier_uniform())
    }

    fn td3_critic() -> MlpConfig {
        MlpConfig::new(&[5, 9, 8, 1]).with_output_init(LayerInit::uniform(3e-3))
    }

    #[test]
    fn names_shapes_and_flat_layout() {
        let cfg = erl_actor();
        let vm = VarMap::new();
        let net = mlp(&cfg, vb(&vm, DType::F32).pp("actor")).unwrap();
        let mut names: Vec<String> = cfg
            .params()
            .iter()
            .map(|p| format!("actor.{}", p.name))
            .collect();
        assert_eq!(
            names[..4],
            [
                "actor.fc0.weight",
                "actor.fc0.bias",
                "actor.norm0.weight",
                "actor.norm0.bias"
            ]
        );
        names.sort();
        let vars: Vec<String> = sorted_vars(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vars);
        // 5·7+7+7+7 + 7·6+6+6+6 + 6·3+3
        assert_eq!(cfg.num_params(), 56 + 60 + 21);
        let flat = net.to_flat().unwrap();
        assert_eq!(flat.len(), cfg.num_params());
        for (t, p) in net.parameters().iter().zip(cfg.params()) {
            assert_eq!(t.dims(), p.shape.as_slice(), "{}", p.name);
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(v, flat[p.range()].to_vec(), "{}", p.name);
        }
        // LayerNorm starts at weight 1, bias 0.
        assert!(net.norms()[0]
            .weight()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|v| *v == 1.0));
    }

    #[test]
    fn output_init_and_no_bias() {
        let vm = VarMap::new();
        let net = mlp(&td3_critic(), vb(&vm, DType::F32)).unwrap();
        let out = net.layers()[2]
            .weight()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(out.iter().all(|v| v.abs() <= 3e-3));
        let hidden = net.layers()[0]
            .weight()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(
            hidden.iter().any(|v| v.abs() > 0.05),
            "U(±1/√5) for the hidden layers"
        );
        let cfg = MlpConfig::new(&[2, 3, 1]).with_bias(false);
        let vm = VarMap::new();
        let net = mlp(&cfg, vb(&vm, DType::F32)).unwrap();
        assert!(net.layers().iter().all(|l| l.bias().is_none()));
        assert_eq!(sorted_vars(&vm).len(), 2);
        assert_eq!(cfg.num_params(), 9);
    }

    #[test]
    fn forward_matches_layer_by_layer() {
        for cfg in [erl_actor(), td3_critic()] {
            let vm = VarMap::new();
            let net = mlp(&cfg, vb(&vm, DType::F64)).unwrap();
            let x = input(&[4, 5], DType::F64);
            let got = net.forward(&x).unwrap();
            let mut h = x.clone();
            for (i, l) in net.layers().iter().enumerate() {
                h = h.matmul(&l.weight().t().unwrap()).unwrap();
                h = h.broadcast_add(l.bias().unwrap()).unwrap();
                if i + 1 < net.layers().len() {
                    if cfg.layer_norm {
                        let n = &net.norms()[i];
                        h = candle_nn::ops::layer_norm_slow(&h, n.weight(), n.bias(), 1e-5)
                            .unwrap();
                    }
                    h = cfg.activation.apply_composed(&h).unwrap();
                } else {
                    h = cfg.output_activation.apply_composed(&h).unwrap();
                }
            }
            let d = (got - h).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f64>().unwrap() < 1e-12);
        }
    }

    #[test]
    fn host_paths_match_the_tensor_forward() {
        for cfg in [
            erl_actor(),
            td3_critic(),
            MlpConfig::new(&[5, 4, 2]).with_bias(false),
        ] {
            let vm = VarMap::new();
            let net = mlp(&cfg, vb(&vm, DType::F32)).unwrap();
            let x = input(&[3, 5], DType::F32);
            let want = net.forward(&x).unwrap().to_vec2::<f32>().unwrap();
            let flat = net.to_flat().unwrap();
            for (row, w) in x.to_vec2::<f32>().unwrap().iter().zip(&want) {
                let a = net.forward_one(row).unwrap();
                let b = cfg.forward_flat(&flat, row).unwrap();
                assert_eq!(a, b);
                for (u, v) in a.iter().zip(w) {
                    assert!((u - v).abs() < 1e-5, "{u} vs {v}");
                }
            }
            // f64 parameters take the tensor path.
            let vm64 = VarMap::new();
            let net64 = mlp(&cfg, vb(&vm64, DType::F64)).unwrap();
            let row = [0.1f32, 0.2, 0.3, 0.4, 0.5];
            let a = net64.forward_one(&row).unwrap();
            let t = Tensor::new(&[row], &candle_core::Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            let b = net64
                .forward(&t)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            for (u, v) in a.iter().zip(&b) {
                assert!((*u as f64 - v).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn set_flat_round_trips_through_the_varmap() {
        let cfg = erl_actor();
        let vm = VarMap::new();
        let net = mlp(&cfg, vb(&vm, DType::F32)).unwrap();
        let new: Vec<f32> = (0..cfg.num_params())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        net.set_flat(&new).unwrap();
        assert_eq!(net.to_flat().unwrap(), new);
        // The VarMap's variables are the same storage.
        let w = vm.data().lock().unwrap()["fc1.weight"].as_tensor().clone();
        let p = &cfg.params()[4];
        assert_eq!(p.name, "fc1.weight");
        assert_eq!(
            w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            new[p.range()].to_vec()
        );
        assert!(net.set_flat(&new[1..]).is_err());
        assert!(cfg.forward_flat(&new[1..], &[0.0; 5]).is_err());
        assert!(net.forward_one(&[0.0; 4]).is_err());
        // Plain tensors cannot be set.
        let plain = Mlp::new(
            MlpConfig::new(&[2, 1]),
            vec![Linear::new(input(&[1, 2], DType::F32), Some(input(&[1], DType::F32))).unwrap()],
            vec![],
        )
        .unwrap();
        assert!(plain.set_flat(&[0.0; 3]).is_err());
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Every parameter of a 3-2-2 MLP with LayerNorm and ELU, as inputs.
        let cfg = MlpConfig::new(&[3, 4, 2])
            .with_layer_norm(1e-5)
            .with_activation(Activation::Elu(1.0))
            .with_output_activation(Activation::Sigmoid);
        let shapes = [
            vec![2, 3],
            vec![4, 3],
            vec![4],
            vec![4],
            vec![4],
            vec![2, 4],
            vec![2],
        ];
        let inputs: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                crate::SeededRng::new(i as u64)
                    .normal_tensor(
                        0.0,
                        1.0,
                        s.as_slice(),
                        DType::F64,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap()
            })
            .collect();
        let r = check(
            |t| {
                let l0 = Linear::new(t[1].clone(), Some(t[2].clone()))?;
                let n0 = LayerNorm::new(t[3].clone(), t[4].clone(), 1e-5)?;
                let l1 = Linear::new(t[5].clone(), Some(t[6].clone()))?;
                Mlp::new(cfg.clone(), vec![l0, l1], vec![n0])?.forward_t(&t[0])
            },
            &inputs,
            40,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        for cfg in [erl_actor(), td3_critic()] {
            let vm = VarMap::new();
            let net = mlp(&cfg, vb(&vm, DType::F32)).unwrap();
            let y = net.forward(&input(&[8, 5], DType::F32)).unwrap();
            assert_every_param_has_grad(&vm, &project(&y).unwrap());
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let vm = VarMap::new();
        for cfg in [
            MlpConfig::new(&[3]),
            MlpConfig::new(&[3, 0, 2]),
            MlpConfig::new(&[3, 2]).with_layer_norm(0.0),
            MlpConfig::new(&[3, 2]).with_activation(Activation::LeakyRelu(-1.0)),
            MlpConfig::new(&[3, 2]).with_output_init(LayerInit::uniform(f64::NAN)),
        ] {
            assert!(mlp(&cfg, vb(&vm, DType::F32)).is_err(), "{cfg:?}");
        }
        let json = r#"{"sizes": [3, 2], "activation": "Tanh", "layer_norm": true}"#;
        let cfg: MlpConfig = serde_json::from_str(json).unwrap();
        assert_eq!(
            cfg,
            MlpConfig::new(&[3, 2])
                .with_activation(Activation::Tanh)
                .with_layer_norm(1e-5)
        );
        assert!(serde_json::from_str::<MlpConfig>(r#"{"size": [3]}"#).is_err());
    }
}
