//! PointNet classifier (Qi et al., CVPR 2017, arXiv 1612.00593), the victim of
//! the paper's attacks.
//!
//! Two variants (see the paper card):
//!
//! * [`PointNetVariant::TfOriginal`] (the default): `charlesq34/pointnet`
//!   `models/pointnet_cls.py`, used by Xiang et al. and DUP-Net. Input T-Net
//!   (3×3), shared MLP 64-64, feature T-Net (64×64, trained with the
//!   orthogonality penalty), shared MLP 64-128-1024 with ReLU on every layer,
//!   max-pool, head FC 512/256 each with BN, ReLU and dropout (keep 0.7), FC
//!   to the classes. BatchNorm ε = 1e-3 (TF's `batch_norm_template`).
//! * [`PointNetVariant::IfDefense`]: IF-Defense's `baselines/model/pointnet.py`:
//!   input T-Net; shared MLP 64-128-1024 with no ReLU on the last layer; no
//!   feature T-Net; head FC 512 + BN + ReLU, FC 256, dropout 0.3, BN, ReLU, FC.
//!   BatchNorm ε = 1e-5 (PyTorch's).
//!
//! Points are `(B, N, 3)`; any `N ≥ 1` works (SOR output sizes vary), as the
//! shared MLPs are matmuls over the `B·N` points and the global feature is a
//! max over points. All clouds of one batch share `N`. Training mode needs
//! `B ≥ 2` (BatchNorm of the fully connected layers).
//!
//! The layer in front of each max-pool (the T-Nets' and the trunk's last) runs with
//! the max-pool as one op, with the values and gradients of the two ops composed:
//! in evaluation mode `candor_core::ops::linear_max` (the `(B·N, C)` output never
//! stored; its backward touches only each channel's winning point, which makes the
//! attacks' input gradients about 3× faster), in training mode
//! `ops::linear_batch_norm_train_act_max` (the output stays inside the op, not a
//! graph node).
//!
//! Deviations from the originals, none of which changes the function class:
//!
//! * Layers followed by BatchNorm have no bias (a bias before BN receives a
//!   zero gradient and cancels in the normalisation).
//! * The T-Net's last layer outputs `W·g + b + I` with `b` initialised to zero
//!   (TF initialises `b` to the flattened identity instead; same function,
//!   shifted parameter). TF variant: `W = 0` at init, as TF; IF-Defense: PyTorch's
//!   default initialisation.
//! * Weights: Xavier-uniform for the TF variant (TF's `use_xavier`), PyTorch's
//!   `U(±1/√fan_in)` for the IF-Defense one, drawn through the seeded
//!   `VarBuilder` of candor-core. Dropout masks come from a [`SeededRng`].

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};
use candor_core::init::{BiasInit, LayerInit, WeightInit};
use candor_core::nn::{
    batch_norm2d, linear_with, BatchNorm2d, BatchNormConfig, Linear, LinearConfig,
};
use candor_core::ops::{linear, linear_max, Activation};
use candor_core::rng::dropout;
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

/// Which published PointNet to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PointNetVariant {
    /// `charlesq34/pointnet` (TensorFlow), with the feature T-Net.
    #[default]
    TfOriginal,
    /// IF-Defense's PyTorch PointNet: no feature T-Net, no ReLU before the
    /// max-pool, a single dropout in the head.
    IfDefense,
}

/// PointNet settings. [`Default`] is the TF original on ModelNet40.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointNetConfig {
    /// Output classes (ModelNet40: 40).
    pub num_classes: usize,
    /// Architecture variant.
    pub variant: PointNetVariant,
    /// Shared-MLP widths before the feature T-Net (TF: `[64, 64]`; IF-Defense:
    /// `[64]`). Must be non-empty.
    pub stem: Vec<usize>,
    /// Shared-MLP widths after it, the last one being the global feature
    /// (TF: `[64, 128, 1024]`; IF-Defense: `[128, 1024]`). Must be non-empty.
    pub trunk: Vec<usize>,
    /// T-Net shared-MLP widths (`[64, 128, 1024]`).
    pub tnet_conv: Vec<usize>,
    /// T-Net fully connected widths (`[512, 256]`).
    pub tnet_fc: Vec<usize>,
    /// Classifier hidden widths (`[512, 256]`).
    pub head: Vec<usize>,
    /// Dropout probability in the head (0.3, i.e. TF's keep 0.7).
    pub dropout: f64,
    /// BatchNorm ε (TF: 1e-3; PyTorch: 1e-5).
    pub bn_eps: f64,
    /// Initial BatchNorm momentum (PyTorch convention, `1 − TF decay`; TF
    /// starts at decay 0.5, i.e. momentum 0.5). Training may change it with
    /// [`PointNet::set_bn_momentum`].
    pub bn_momentum: f64,
}

impl Default for PointNetConfig {
    fn default() -> Self {
        Self::tf_original()
    }
}

impl PointNetConfig {
    /// `charlesq34/pointnet` `pointnet_cls.py` on ModelNet40.
    pub fn tf_original() -> Self {
        PointNetConfig {
            num_classes: 40,
            variant: PointNetVariant::TfOriginal,
            stem: vec![64, 64],
            trunk: vec![64, 128, 1024],
            tnet_conv: vec![64, 128, 1024],
            tnet_fc: vec![512, 256],
            head: vec![512, 256],
            dropout: 0.3,
            bn_eps: 1e-3,
            bn_momentum: 0.5,
        }
    }

    /// IF-Defense's PyTorch PointNet on ModelNet40.
    pub fn if_defense() -> Self {
        PointNetConfig {
            variant: PointNetVariant::IfDefense,
            stem: vec![64],
            trunk: vec![128, 1024],
            bn_eps: 1e-5,
            bn_momentum: 0.1,
            ..Self::tf_original()
        }
    }

    /// A small TF-variant network for tests (4 classes, widths 8–32).
    pub fn tiny() -> Self {
        PointNetConfig {
            num_classes: 4,
            stem: vec![16, 16],
            trunk: vec![16, 32, 64],
            tnet_conv: vec![16, 32, 64],
            tnet_fc: vec![32, 16],
            head: vec![32, 16],
            ..Self::tf_original()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.num_classes < 2 {
            return Err(Error::invalid("PointNet needs at least 2 classes"));
        }
        if self.stem.is_empty() || self.trunk.is_empty() || self.tnet_conv.is_empty() {
            return Err(Error::invalid(
                "PointNet stem, trunk and tnet_conv must be non-empty",
            ));
        }
        let widths = [
            &self.stem,
            &self.trunk,
            &self.tnet_conv,
            &self.tnet_fc,
            &self.head,
        ];
        if widths.iter().any(|w| w.contains(&0)) {
            return Err(Error::invalid("PointNet layer widths must be positive"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if !(self.bn_eps > 0.0 && self.bn_eps.is_finite()) {
            return Err(Error::invalid("bn_eps must be positive"));
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return Err(Error::invalid("bn_momentum must be in [0, 1]"));
        }
        Ok(())
    }
}

/// A point-wise layer `x · Wᵀ (+ b)` over rows (a 1×1 convolution when rows are
/// points): candor-core's `Linear` (`weight` `(out, in)`, `bias`) with the variant's
/// initialisation.
fn dense(vb: VarBuilder, c_in: usize, c_out: usize, bias: bool, init: InitStyle) -> Result<Linear> {
    let init = match init {
        // TF's `use_xavier`: Xavier-uniform weights, zero biases.
        InitStyle::Xavier => LayerInit {
            weight: WeightInit::XavierUniform { gain: 1.0 },
            bias: BiasInit::Zeros,
        },
        InitStyle::Torch => LayerInit::TORCH,
        InitStyle::Zero => LayerInit::zeros(),
    };
    linear_with(c_in, c_out, LinearConfig { bias, init }, vb)
}

#[derive(Debug, Clone, Copy)]
enum InitStyle {
    Xavier,
    Torch,
    Zero,
}

/// Dense (no bias) → BatchNorm.
#[derive(Debug, Clone)]
struct DenseBn {
    dense: Linear,
    bn: BatchNorm2d,
    /// Evaluation mode returns detached folded weights (no weight gradients).
    frozen: bool,
}

impl DenseBn {
    fn new(vb: VarBuilder, c_in: usize, c_out: usize, cfg: &PointNetConfig) -> Result<Self> {
        let dense = dense(vb.pp("fc"), c_in, c_out, false, init_style(cfg))?;
        let bn_cfg = BatchNormConfig {
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let bn = batch_norm2d(c_out, bn_cfg, vb.pp("bn"))?;
        Ok(DenseBn {
            dense,
            bn,
            frozen: false,
        })
    }

    /// `(M, c_in) → (M, c_out)`, BatchNorm over the rows, then ReLU.
    fn forward_relu(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_act(x, train, Activation::Relu)
    }

    fn forward_act(&self, x: &Tensor, train: bool, act: Activation) -> Result<Tensor> {
        if train {
            // The product, BatchNorm and activation as one op (the layers have no bias):
            // the values of `act(bn(x·Wᵀ))` with no graph node for the product.
            return self.dense.forward_bn_act(&self.bn, x, true, act);
        }
        let (w, shift) = self.folded()?;
        linear(x, &w, Some(&shift), act)
    }

    /// `(B·N, c_in)` rows → the max over each cloud's `n` points of the layer's output,
    /// `(B, c_out)`, as one op. In evaluation mode [`linear_max`]: the `(B·N, c_out)`
    /// output is never stored, and the backward touches only each channel's winning point.
    /// In training mode the batch norm needs every point, and the output stays inside the
    /// op (`linear_batch_norm_train_act_max`), not a graph node of its own.
    fn forward_act_max(
        &self,
        x: &Tensor,
        (b, n): (usize, usize),
        train: bool,
        act: Activation,
    ) -> Result<Tensor> {
        let x3 = x.reshape((b, n, x.dim(1)?))?;
        if train {
            // The product, batch norm, activation and max as one op (the layers have no
            // bias, see `DenseBn::new`).
            return self
                .bn
                .forward_linear_train_act_max(&x3, self.dense.weight(), act);
        }
        let (w, shift) = self.folded()?;
        linear_max(&x3, &w, Some(&shift), act)
    }

    /// Evaluation mode: the BatchNorm folded into the weights, `W·s` and the shift
    /// `β − μ·s` with `s = γ / √(σ² + ε)` (small tensors, differentiable in every
    /// parameter), so a layer costs one matmul and one fused bias + ReLU pass.
    fn folded(&self) -> Result<(Tensor, Tensor)> {
        let bn = &self.bn;
        let scale = bn
            .weight()
            .broadcast_div(&(bn.running_var() + bn.eps())?.sqrt()?)?;
        let shift = (bn.bias() - bn.running_mean().mul(&scale)?)?;
        let w = self.dense.weight().broadcast_mul(&scale.unsqueeze(1)?)?;
        if self.frozen {
            return Ok((w.detach(), shift.detach()));
        }
        Ok((w, shift))
    }
}

fn init_style(cfg: &PointNetConfig) -> InitStyle {
    match cfg.variant {
        PointNetVariant::TfOriginal => InitStyle::Xavier,
        PointNetVariant::IfDefense => InitStyle::Torch,
    }
}

/// A `k × k` transform network (shared MLP, max-pool, FCs, `W·g + b + I`).
#[derive(Debug, Clone)]
struct TNet {
    k: usize,
    convs: Vec<DenseBn>,
    fcs: Vec<DenseBn>,
    out: Linear,
}

impl TNet {
    fn new(vb: VarBuilder, k: usize, cfg: &PointNetConfig) -> Result<Self> {
        let mut c = k;
        let mut convs = Vec::new();
        for (i, &w) in cfg.tnet_conv.iter().enumerate() {
            convs.push(DenseBn::new(vb.pp(format!("conv{i}")), c, w, cfg)?);
            c = w;
        }
        let mut fcs = Vec::new();
        for (i, &w) in cfg.tnet_fc.iter().enumerate() {
            fcs.push(DenseBn::new(vb.pp(format!("fc{i}")), c, w, cfg)?);
            c = w;
        }
        let style = match cfg.variant {
            PointNetVariant::TfOriginal => InitStyle::Zero,
            PointNetVariant::IfDefense => InitStyle::Torch,
        };
        let out = dense(vb.pp("out"), c, k * k, true, style)?;
        Ok(TNet { k, convs, fcs, out })
    }

    /// `(B·N, k)` rows → `(B, k, k)` transforms.
    fn forward(&self, x: &Tensor, b: usize, n: usize, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        let (last, convs) = self
            .convs
            .split_last()
            .ok_or_else(|| Error::invalid("a T-Net needs a shared-MLP layer"))?;
        for l in convs {
            h = l.forward_relu(&h, train)?;
        }
        let mut g = last.forward_act_max(&h, (b, n), train, Activation::Relu)?;
        for l in &self.fcs {
            g = l.forward_relu(&g, train)?;
        }
        let eye = Tensor::eye(self.k, g.dtype(), g.device())?.reshape((1, self.k * self.k))?;
        let t = self
            .out
            .forward_act(&g, Activation::Identity)?
            .broadcast_add(&eye)?;
        Ok(t.reshape((b, self.k, self.k))?)
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut DenseBn> {
        self.convs.iter_mut().chain(self.fcs.iter_mut())
    }
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct PointNetOutput {
    /// Class scores `(B, num_classes)`.
    pub logits: Tensor,
    /// The input transforms `(B, 3, 3)`.
    pub input_transform: Tensor,
    /// The feature transforms `(B, c, c)` (TF variant only).
    pub feature_transform: Option<Tensor>,
}

/// The PointNet classifier.
#[derive(Debug, Clone)]
pub struct PointNet {
    cfg: PointNetConfig,
    device: Device,
    input_tnet: TNet,
    stem: Vec<DenseBn>,
    feature_tnet: Option<TNet>,
    trunk: Vec<DenseBn>,
    head: Vec<DenseBn>,
    classifier: Linear,
}

impl PointNet {
    /// Builds the network, creating its variables in `vb` (use
    /// `candor_core::init::seeded_var_builder` for reproducible weights).
    pub fn new(vb: VarBuilder, cfg: &PointNetConfig) -> Result<Self> {
        cfg.validate()?;
        let input_tnet = TNet::new(vb.pp("input_tnet"), 3, cfg)?;
        let mut c = 3;
        let mut stem = Vec::new();
        for (i, &w) in cfg.stem.iter().enumerate() {
            stem.push(DenseBn::new(vb.pp(format!("stem{i}")), c, w, cfg)?);
            c = w;
        }
        let feature_tnet = match cfg.variant {
            PointNetVariant::TfOriginal => Some(TNet::new(vb.pp("feature_tnet"), c, cfg)?),
            PointNetVariant::IfDefense => None,
        };
        let mut trunk = Vec::new();
        for (i, &w) in cfg.trunk.iter().enumerate() {
            trunk.push(DenseBn::new(vb.pp(format!("trunk{i}")), c, w, cfg)?);
            c = w;
        }
        let mut head = Vec::new();
        for (i, &w) in cfg.head.iter().enumerate() {
            head.push(DenseBn::new(vb.pp(format!("head{i}")), c, w, cfg)?);
            c = w;
        }
        let classifier = dense(
            vb.pp("classifier"),
            c,
            cfg.num_classes,
            true,
            init_style(cfg),
        )?;
        Ok(PointNet {
            cfg: cfg.clone(),
            device: vb.device().clone(),
            input_tnet,
            stem,
            feature_tnet,
            trunk,
            head,
            classifier,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PointNetConfig {
        &self.cfg
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut DenseBn> {
        let PointNet {
            input_tnet,
            stem,
            feature_tnet,
            trunk,
            head,
            ..
        } = self;
        input_tnet
            .layers_mut()
            .chain(feature_tnet.iter_mut().flat_map(|t| t.layers_mut()))
            .chain(stem.iter_mut())
            .chain(trunk.iter_mut())
            .chain(head.iter_mut())
    }

    /// Sets the momentum of every BatchNorm (PyTorch convention: the weight of
    /// the new batch statistic).
    pub fn set_bn_momentum(&mut self, momentum: f64) {
        for l in self.layers_mut() {
            l.bn.set_momentum(momentum);
        }
    }

    /// The device of the network's variables (inputs go there).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A copy for attacks: in evaluation mode its BatchNorm-folded point-wise
    /// layers are detached from the variables, so a backward pass computes the
    /// gradient with respect to the input without the (large) weight
    /// gradients of the shared MLPs. It shares the variables with `self`.
    pub fn frozen(&self) -> PointNet {
        let mut net = self.clone();
        for l in net.layers_mut() {
            l.frozen = true;
        }
        net
    }

    /// Evaluation-mode predictions for clouds of any sizes, `batch` clouds
    /// at a time. A batch's clouds are padded to its largest by repeating
    /// their first point, which leaves every prediction unchanged (in
    /// evaluation mode the network is point-wise up to a max over points).
    pub fn predict_clouds(&self, clouds: &[&[f32]], batch: usize) -> Result<Vec<usize>> {
        if batch == 0 {
            return Err(Error::invalid("predict_clouds: batch must be positive"));
        }
        let mut out = Vec::with_capacity(clouds.len());
        for chunk in clouds.chunks(batch) {
            let n = chunk.iter().map(|c| c.len() / 3).max().unwrap_or(0);
            let mut data = Vec::with_capacity(chunk.len() * n * 3);
            for c in chunk {
                crate::data::check_cloud(c, "cloud to classify")?;
                data.extend_from_slice(c);
                for _ in c.len() / 3..n {
                    data.extend_from_slice(&c[..3]);
                }
            }
            let x = Tensor::from_vec(data, (chunk.len(), n, 3), &self.device)?;
            out.extend(self.predict(&x)?);
        }
        Ok(out)
    }

    /// Training-mode forward (batch statistics, running-average updates,
    /// dropout drawn from `rng`). Needs `B ≥ 2`.
    pub fn forward_train(&self, points: &Tensor, rng: &mut SeededRng) -> Result<PointNetOutput> {
        self.forward_impl(points, Some(rng))
    }

    /// Evaluation-mode forward (running statistics, no dropout).
    pub fn forward_eval(&self, points: &Tensor) -> Result<PointNetOutput> {
        self.forward_impl(points, None)
    }

    /// Predicted classes of a `(B, N, 3)` batch in evaluation mode.
    pub fn predict(&self, points: &Tensor) -> Result<Vec<usize>> {
        let logits = self.forward_eval(points)?.logits;
        Ok(logits
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?
            .into_iter()
            .map(|c| c as usize)
            .collect())
    }

    /// Counts, for each point of each cloud, how many channels of the global
    /// max-pool it wins (evaluation mode; the first maximum of each channel):
    /// PointNet's *critical points* are those with a non-zero count. Returns
    /// `B` vectors of `N` counts.
    pub fn critical_counts(&self, points: &Tensor) -> Result<Vec<Vec<u32>>> {
        let (h, ..) = self.point_features(points, false, false)?;
        let (b, n) = (points.dim(0)?, points.dim(1)?);
        let c = h.dim(1)?;
        let h = h.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let mut counts = vec![vec![0u32; n]; b];
        for (bi, cnt) in counts.iter_mut().enumerate() {
            let hb = &h[bi * n * c..(bi + 1) * n * c];
            for ch in 0..c {
                let mut best = 0;
                for p in 1..n {
                    if hb[p * c + ch] > hb[best * c + ch] {
                        best = p;
                    }
                }
                cnt[best] += 1;
            }
        }
        Ok(counts)
    }

    /// The per-point features fed to the global max-pool, `(B·N, C)`, with
    /// the input and feature transforms; with `pool`, the global feature `(B, C)` (the
    /// last layer and the max-pool as one op, `DenseBn::forward_act_max`).
    fn point_features(
        &self,
        x: &Tensor,
        train: bool,
        pool: bool,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let (b, n, c) = x.dims3().map_err(|_| {
            Error::invalid(format!(
                "PointNet expects (B, N, 3) points, got {:?}",
                x.dims()
            ))
        })?;
        if c != 3 || b == 0 || n == 0 {
            return Err(Error::invalid(format!(
                "PointNet expects (B, N, 3) points with B, N ≥ 1, got {:?}",
                x.dims()
            )));
        }
        if train && b < 2 {
            return Err(Error::invalid(
                "PointNet training mode needs a batch of at least 2 clouds",
            ));
        }
        let x = x.contiguous()?;
        let t_in = self
            .input_tnet
            .forward(&x.reshape((b * n, 3))?, b, n, train)?;
        let mut h = x.matmul(&t_in)?.reshape((b * n, 3))?;
        for l in &self.stem {
            h = l.forward_relu(&h, train)?;
        }
        let feature_transform = match &self.feature_tnet {
            Some(tnet) => {
                let t = tnet.forward(&h, b, n, train)?;
                let c = h.dim(1)?;
                h = h.reshape((b, n, c))?.matmul(&t)?.reshape((b * n, c))?;
                Some(t)
            }
            None => None,
        };
        let last = self.trunk.len() - 1;
        for (i, l) in self.trunk.iter().enumerate() {
            let act = if i == last && self.cfg.variant == PointNetVariant::IfDefense {
                Activation::Identity
            } else {
                Activation::Relu
            };
            h = if i == last && pool {
                l.forward_act_max(&h, (b, n), train, act)?
            } else {
                l.forward_act(&h, train, act)?
            };
        }
        Ok((h, t_in, feature_transform))
    }

    fn forward_impl(&self, x: &Tensor, rng: Option<&mut SeededRng>) -> Result<PointNetOutput> {
        let train = rng.is_some();
        let (mut g, t_in, feature_transform) = self.point_features(x, train, true)?;
        let mut rng = rng;
        let last = self.head.len().saturating_sub(1);
        for (i, l) in self.head.iter().enumerate() {
            g = match self.cfg.variant {
                PointNetVariant::TfOriginal => {
                    let y = l.forward_relu(&g, train)?;
                    match rng.as_deref_mut() {
                        Some(r) => dropout(&y, self.cfg.dropout, r)?,
                        None => y,
                    }
                }
                PointNetVariant::IfDefense => {
                    let mut y = l.dense.forward_act(&g, Activation::Identity)?;
                    if i == last {
                        if let Some(r) = rng.as_deref_mut() {
                            y = dropout(&y, self.cfg.dropout, r)?;
                        }
                    }
                    l.bn.forward_t_act(&y, train, Activation::Relu)?
                }
            };
        }
        let logits = self.classifier.forward_act(&g, Activation::Identity)?;
        Ok(PointNetOutput {
            logits,
            input_transform: t_in,
            feature_transform,
        })
    }

    /// TF-original loss: mean cross-entropy plus `ortho_weight` times the
    /// feature transform's [`orthogonality_penalty`] (0 for the IF-Defense
    /// variant, which has no feature transform). `labels` are `u32` `(B,)`.
    pub fn loss(&self, out: &PointNetOutput, labels: &Tensor, ortho_weight: f64) -> Result<Tensor> {
        let ce = candle_nn::loss::cross_entropy(&out.logits, labels)?;
        match &out.feature_transform {
            Some(t) if ortho_weight != 0.0 => {
                Ok((ce + (orthogonality_penalty(t)? * ortho_weight)?)?)
            }
            _ => Ok(ce),
        }
    }
}

/// `½ Σ_b ‖T_b T_bᵀ − I‖²_F` over a `(B, k, k)` batch: TF's
/// `tf.nn.l2_loss(T·Tᵀ − I)`, summed (not averaged) over the batch as in
/// `pointnet_cls.py`.
pub fn orthogonality_penalty(t: &Tensor) -> Result<Tensor> {
    let (_, k, k2) = t.dims3()?;
    if k != k2 {
        return Err(Error::invalid(format!(
            "orthogonality_penalty needs square transforms, got {:?}",
            t.dims()
        )));
    }
    let eye = Tensor::eye(k, t.dtype(), t.device())?.unsqueeze(0)?;
    let m = t.matmul(&t.t()?)?.broadcast_sub(&eye)?;
    Ok((m.sqr()?.sum_all()? * 0.5)?)
}

/// The variables an optimiser should update, sorted by name: all of
/// `varmap` except BatchNorm running statistics.
pub fn trainable_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    candor_core::init::sorted_vars(varmap)
        .into_iter()
        .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
        .collect()
}

/// Metadata key under which [`save_pointnet`] stores the configuration (JSON).
pub const CONFIG_KEY: &str = "pointnet.config";

/// Saves the weights and BatchNorm statistics in `varmap` with `cfg`, as one
/// safetensors file written atomically (also readable by
/// `candor_core::checkpoint::load_varmap`).
pub fn save_pointnet(path: impl AsRef<Path>, varmap: &VarMap, cfg: &PointNetConfig) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = candor_core::init::sorted_vars(varmap)
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    let meta = HashMap::from([(CONFIG_KEY.to_string(), serde_json::to_string(cfg)?)]);
    candor_core::checkpoint::save_tensors(path, &tensors, meta)
}

/// Loads a PointNet from a file of [`save_pointnet`], of
/// `candor_core::checkpoint::save_varmap`, or a training checkpoint of
/// [`crate::train::train`] (variables under `model/`). The configuration is
/// `cfg` where given, else the one stored in the file (an error if neither).
/// Every variable of the network must be in the file with its shape.
pub fn load_pointnet(
    path: impl AsRef<Path>,
    cfg: Option<&PointNetConfig>,
    device: &Device,
) -> Result<(VarMap, PointNet)> {
    let path = path.as_ref();
    let ck = candor_core::checkpoint::load_tensors(path, device)?;
    let cfg = match (cfg, ck.metadata.get(CONFIG_KEY)) {
        (Some(c), _) => c.clone(),
        (None, Some(json)) => serde_json::from_str(json)
            .map_err(|e| Error::format(path, format!("bad PointNet config: {e}")))?,
        (None, None) => {
            return Err(Error::format(
                path,
                "the checkpoint stores no PointNet config; pass one",
            ))
        }
    };
    let varmap = VarMap::new();
    let net = PointNet::new(
        candor_core::init::seeded_var_builder(&varmap, 0, DType::F32, device),
        &cfg,
    )?;
    candor_core::checkpoint::set_model_vars(&varmap, &ck.tensors, path)?;
    Ok((varmap, net))
}

/// Converts clouds of `n` points each (flat `x y z` rows) into a `(B, n, 3)`
/// tensor.
pub fn clouds_to_tensor(clouds: &[&[f32]], device: &Device) -> Result<Tensor> {
    let b = clouds.len();
    let n = clouds.first().map_or(0, |c| c.len() / 3);
    if b == 0 || n == 0 {
        return Err(Error::invalid("clouds_to_tensor needs non-empty clouds"));
    }
    if clouds.iter().any(|c| c.len() != n * 3) {
        return Err(Error::invalid(
            "all clouds of a batch must have the same number of points",
        ));
    }
    let data: Vec<f32> = clouds.concat();
    Ok(Tensor::from_vec(data, (b, n, 3), device)?.to_dtype(DType::F32)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candor_core::gradcheck::assert_every_param_has_grad;
    use candor_core::init::seeded_var_builder;
    use candor_core::optim::{Adam, AdamConfig, Optim};

    fn build(cfg: &PointNetConfig, seed: u64) -> (VarMap, PointNet) {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
        let net = PointNet::new(vb, cfg).unwrap();
        (vm, net)
    }

    fn random_points(b: usize, n: usize, seed: u64) -> Tensor {
        let mut rng = SeededRng::new(seed);
        rng.normal_tensor(0.0, 0.5, (b, n, 3), DType::F32, &Device::Cpu)
            .unwrap()
    }

    #[test]
    fn forward_shapes_for_two_point_counts() {
        for cfg in [PointNetConfig::tiny(), tiny_if()] {
            let (_vm, net) = build(&cfg, 0);
            let mut rng = SeededRng::new(1);
            for n in [37, 64] {
                let x = random_points(3, n, n as u64);
                let out = net.forward_train(&x, &mut rng).unwrap();
                assert_eq!(out.logits.dims(), &[3, 4]);
                assert_eq!(out.input_transform.dims(), &[3, 3, 3]);
                let ev = net.forward_eval(&x).unwrap();
                assert_eq!(ev.logits.dims(), &[3, 4]);
                assert_eq!(net.predict(&x).unwrap().len(), 3);
                match cfg.variant {
                    PointNetVariant::TfOriginal => {
                        assert_eq!(ev.feature_transform.unwrap().dims(), &[3, 16, 16])
                    }
                    PointNetVariant::IfDefense => assert!(ev.feature_transform.is_none()),
                }
            }
            // a single cloud in evaluation mode
            assert_eq!(net.predict(&random_points(1, 10, 5)).unwrap().len(), 1);
        }
    }

    fn tiny_if() -> PointNetConfig {
        PointNetConfig {
            variant: PointNetVariant::IfDefense,
            stem: vec![16],
            trunk: vec![32, 64],
            bn_eps: 1e-5,
            ..PointNetConfig::tiny()
        }
    }

    #[test]
    fn transforms_start_at_identity_in_tf_variant() {
        let (_vm, net) = build(&PointNetConfig::tiny(), 3);
        let out = net.forward_eval(&random_points(2, 20, 9)).unwrap();
        let t = out.input_transform.to_vec3::<f32>().unwrap();
        assert_eq!(
            t[0],
            vec![
                vec![1.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![0.0, 0.0, 1.0]
            ]
        );
        let p = orthogonality_penalty(&out.feature_transform.unwrap())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(p, 0.0);
    }

    #[test]
    fn orthogonality_penalty_by_hand() {
        // T = diag(2, 1): T Tᵀ − I = diag(3, 0) → ½·9 = 4.5; two copies → 9.
        let t = Tensor::new(
            &[[[2f32, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]]],
            &Device::Cpu,
        )
        .unwrap();
        let p = orthogonality_penalty(&t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((p - 9.0).abs() < 1e-6);
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        for cfg in [PointNetConfig::tiny(), tiny_if()] {
            let (vm, net) = build(&cfg, 11);
            let vars = trainable_vars(&vm);
            let mut opt = Adam::new(
                vars.iter().map(|(_, v)| v.clone()).collect(),
                AdamConfig::default(),
            )
            .unwrap();
            let x = random_points(4, 32, 2);
            let labels = Tensor::new(&[0u32, 1, 2, 3], &Device::Cpu).unwrap();
            let mut rng = SeededRng::new(5);
            // TF's T-Nets start with a zero output layer, so the layers before
            // it receive their first gradient only after one update.
            let out = net.forward_train(&x, &mut rng).unwrap();
            opt.backward_step(&net.loss(&out, &labels, 1e-3).unwrap())
                .unwrap();
            let out = net.forward_train(&x, &mut rng).unwrap();
            let loss = net.loss(&out, &labels, 1e-3).unwrap();
            assert_every_param_has_grad(&vm, &loss);
        }
    }

    #[test]
    fn same_seed_same_network_and_bad_input_errors() {
        let cfg = PointNetConfig::tiny();
        let (_a, na) = build(&cfg, 4);
        let (_b, nb) = build(&cfg, 4);
        let x = random_points(2, 16, 1);
        let la = na
            .forward_eval(&x)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        let lb = nb
            .forward_eval(&x)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(la, lb);
        let mut rng = SeededRng::new(0);
        assert!(na
            .forward_train(&random_points(1, 16, 1), &mut rng)
            .is_err());
        assert!(na
            .forward_eval(&Tensor::zeros((2, 5, 2), DType::F32, &Device::Cpu).unwrap())
            .is_err());
        let bad = PointNetConfig {
            dropout: 1.0,
            ..cfg
        };
        let vm = VarMap::new();
        assert!(PointNet::new(seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu), &bad).is_err());
    }

    #[test]
    fn input_gradients_match_finite_differences() {
        // f64 model; train mode with dropout 0 (batch statistics) and eval mode
        for cfg in [
            PointNetConfig {
                dropout: 0.0,
                ..PointNetConfig::tiny()
            },
            PointNetConfig {
                dropout: 0.0,
                ..tiny_if()
            },
        ] {
            let vm = VarMap::new();
            let net =
                PointNet::new(seeded_var_builder(&vm, 2, DType::F64, &Device::Cpu), &cfg).unwrap();
            let x = random_points(3, 12, 8).to_dtype(DType::F64).unwrap();
            for train in [false, true] {
                let f = |ts: &[Tensor]| -> Result<Tensor> {
                    let mut rng = SeededRng::new(0);
                    let out = if train {
                        net.forward_train(&ts[0], &mut rng)?
                    } else {
                        net.forward_eval(&ts[0])?
                    };
                    Ok(out.logits)
                };
                let r = candor_core::gradcheck::check(
                    f,
                    std::slice::from_ref(&x),
                    36,
                    1e-6,
                    1e-6,
                    1e-4,
                )
                .unwrap();
                assert!(
                    r.worst_ratio <= 1.0,
                    "{:?} train={train}: {r:?}",
                    cfg.variant
                );
            }
        }
    }

    #[test]
    fn save_and_load_round_trip() {
        let cfg = PointNetConfig::tiny();
        let (vm, net) = build(&cfg, 21);
        // move the BatchNorm statistics away from their initial values
        net.forward_train(&random_points(4, 16, 3), &mut SeededRng::new(0))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pn.safetensors");
        save_pointnet(&path, &vm, &cfg).unwrap();
        let (_vm2, net2) = load_pointnet(&path, None, &Device::Cpu).unwrap();
        assert_eq!(net2.config(), &cfg);
        let x = random_points(2, 16, 4);
        let a = net
            .forward_eval(&x)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        let b = net2
            .forward_eval(&x)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(a, b);
        // a different architecture does not load
        let other = PointNetConfig {
            head: vec![8],
            ..cfg
        };
        assert!(load_pointnet(&path, Some(&other), &Device::Cpu).is_err());
    }

    #[test]
    fn config_round_trips_and_rejects_unknown_keys() {
        let cfg = PointNetConfig::if_defense();
        let s = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<PointNetConfig>(&s).unwrap(), cfg);
        assert!(serde_json::from_str::<PointNetConfig>(r#"{"widths": 3}"#).is_err());
        let partial: PointNetConfig = serde_json::from_str(r#"{"num_classes": 10}"#).unwrap();
        assert_eq!(partial.trunk, vec![64, 128, 1024]);
    }
}
