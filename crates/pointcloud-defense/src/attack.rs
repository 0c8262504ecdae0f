//! Adversarial attacks on a point-cloud classifier, batched and deterministic.
//!
//! * [`perturbation_attack`]: Xiang et al.'s targeted C&W attack with an L2
//!   perturbation of every point (`3d-adv-pc` `perturbation.py`; IF-Defense
//!   `baselines/attack/CW`).
//! * [`add_attack`]: independent point adding: `m` extra points (512 in the
//!   paper) initialised at PointNet's critical points and optimised under a
//!   one-sided Chamfer or Hausdorff distance to the clean cloud
//!   (`independent.py`).
//! * [`saliency_drop`]: untargeted saliency point dropping (Zheng et al.,
//!   IF-Defense `Saliency/Drop.py`), 200 points, 5 per round.
//!
//! ## The C&W machinery (shared by the first two)
//!
//! For a target class `t` and logits `Z`, the margin loss is
//! `f = max(max_{i≠t} Z_i − Z_t + κ, 0)` with `κ = 0`. The objective is
//! `mean_b f_b + mean_b λ_b·D_b`: the binary-searched weight `λ` multiplies
//! the *distance*. Each binary step re-initialises the perturbation from a
//! normal of std 1e-7 truncated at 2σ (no NaN gradient of `sqrt` at 0) and
//! runs Adam (lr 0.01) on it for the configured iterations, with the victim
//! in evaluation mode. Every iterate whose prediction is the target is a
//! success; the one of smallest `D` is kept. After a binary step, success sets
//! `lower = max(lower, λ)`, failure `upper = min(upper, λ)`, then
//! `λ = (lower + upper) / 2` ([`update_weight`]). A cloud is attacked
//! successfully iff some iterate succeeded.
//!
//! Choices where the references differ (see the paper card):
//!
//! * Success is checked on the prediction of the forward pass that computed
//!   the step, i.e. *before* the update, as IF-Defense (Xiang checks after).
//! * A failed cloud returns the last iterate, as IF-Defense (Xiang returns an
//!   array of ones); [`AttackOutcome::success`] says which ones failed.
//! * The Chamfer/Hausdorff distance uses each added point's nearest clean
//!   point, found exactly (kd-tree) outside the autograd graph; the gradient is
//!   the one of `min` (without ties).
//! * Critical points: the points that win the most channels of the global
//!   max-pool (Xiang's initialisation), ties by index; with fewer critical
//!   points than `m`, the rest follow in index order with zero counts.

use candle_core::{DType, Device, Tensor, Var, D};
use candor_core::knn::KdTree;
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use crate::data::check_cloud;
use crate::model::PointNet;

/// Settings of a C&W attack. Constructors give the papers' values; shrink
/// `binary_steps` and `iterations` for CPU runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CwConfig {
    /// Binary-search steps on λ (10).
    pub binary_steps: usize,
    /// Adam iterations per binary step (500).
    pub iterations: usize,
    /// Adam learning rate (0.01).
    pub lr: f64,
    /// Margin κ (0).
    pub kappa: f64,
    /// Initial distance weight λ.
    pub init_weight: f64,
    /// Upper bound of λ.
    pub upper_weight: f64,
    /// Std of the initial perturbation (1e-7).
    pub init_std: f64,
    /// Clouds per batch.
    pub batch_size: usize,
}

impl Default for CwConfig {
    fn default() -> Self {
        Self::perturbation()
    }
}

impl CwConfig {
    /// `perturbation.py`: λ 10, upper 80, 10 × 500.
    pub fn perturbation() -> Self {
        CwConfig {
            binary_steps: 10,
            iterations: 500,
            lr: 0.01,
            kappa: 0.0,
            init_weight: 10.0,
            upper_weight: 80.0,
            init_std: 1e-7,
            batch_size: 32,
        }
    }

    /// `independent.py` with the Chamfer distance: λ 5000, upper 40000.
    pub fn add_chamfer() -> Self {
        CwConfig {
            init_weight: 5000.0,
            upper_weight: 40000.0,
            ..Self::perturbation()
        }
    }

    /// `independent.py` with the Hausdorff distance: λ 200, upper 900.
    pub fn add_hausdorff() -> Self {
        CwConfig {
            init_weight: 200.0,
            upper_weight: 900.0,
            ..Self::perturbation()
        }
    }

    /// The same attack with another schedule.
    pub fn with_schedule(mut self, binary_steps: usize, iterations: usize) -> Self {
        self.binary_steps = binary_steps;
        self.iterations = iterations;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.binary_steps == 0 || self.iterations == 0 || self.batch_size == 0 {
            return Err(Error::invalid(
                "binary_steps, iterations and batch_size must be positive",
            ));
        }
        let pos = |v: f64| v > 0.0 && v.is_finite();
        if !pos(self.lr) || !pos(self.init_weight) || !pos(self.init_std) {
            return Err(Error::invalid(
                "lr, init_weight and init_std must be positive",
            ));
        }
        if self.upper_weight.is_nan()
            || self.upper_weight < self.init_weight
            || !self.kappa.is_finite()
            || self.kappa < 0.0
        {
            return Err(Error::invalid(
                "upper_weight must be ≥ init_weight and kappa a finite value ≥ 0",
            ));
        }
        Ok(())
    }
}

/// The distance of the point-adding attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddDistance {
    /// Mean over the added points of the squared distance to the nearest
    /// clean point.
    Chamfer,
    /// The maximum of the same.
    Hausdorff,
}

/// What an attack returns, per cloud, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackOutcome {
    /// The adversarial clouds (flat `x y z`): the best successful iterate, or
    /// the last iterate where the attack failed.
    pub clouds: Vec<Vec<f32>>,
    /// Whether the victim predicted the target for some iterate.
    pub success: Vec<bool>,
    /// The distance `D` of the returned cloud.
    pub distance: Vec<f64>,
    /// The final distance weight λ.
    pub weight: Vec<f64>,
}

impl AttackOutcome {
    /// Fraction of successful clouds.
    pub fn success_rate(&self) -> f64 {
        if self.success.is_empty() {
            return 0.0;
        }
        self.success.iter().filter(|&&s| s).count() as f64 / self.success.len() as f64
    }
}

/// Targeted margin loss per cloud, `(B,)`:
/// `max(max_{i≠t} Z_i − Z_t + κ, 0)` for logits `(B, C)` and `u32` targets.
pub fn margin_loss(logits: &Tensor, targets: &Tensor, kappa: f64) -> Result<Tensor> {
    let (b, c) = logits.dims2()?;
    if targets.dims() != [b] {
        return Err(Error::invalid(format!(
            "margin_loss: {b} logit rows but targets {:?}",
            targets.dims()
        )));
    }
    let one_hot = targets
        .unsqueeze(1)?
        .broadcast_eq(&Tensor::arange(0u32, c as u32, logits.device())?.unsqueeze(0)?)?
        .to_dtype(logits.dtype())?;
    let real = (logits * &one_hot)?.sum(1)?;
    // TF's `reduce_max((1 − onehot)·Z − onehot·10000)`.
    let other = ((logits * (1.0 - &one_hot)?)? - (one_hot * 1e4)?)?.max(1)?;
    Ok(((other - real)? + kappa)?.relu()?)
}

/// The binary-search rule on λ after one binary step: success raises the
/// lower bound to λ, failure lowers the upper bound to λ, and the next λ is
/// the midpoint. Returns `(lower, upper, next λ)`.
pub fn update_weight(lower: f64, upper: f64, weight: f64, success: bool) -> (f64, f64, f64) {
    let (lo, up) = if success {
        (lower.max(weight), upper)
    } else {
        (lower, upper.min(weight))
    };
    (lo, up, (lo + up) / 2.0)
}

/// A random target class `≠ label` for each label, uniformly, seeded.
pub fn random_targets(labels: &[usize], num_classes: usize, seed: u64) -> Result<Vec<usize>> {
    if num_classes < 2 {
        return Err(Error::invalid("targets need at least 2 classes"));
    }
    let mut rng = SeededRng::derive(seed, "attack-targets");
    labels
        .iter()
        .map(|&l| {
            if l >= num_classes {
                return Err(Error::invalid(format!(
                    "label {l} out of range for {num_classes} classes"
                )));
            }
            let t = rng.below(num_classes - 1);
            Ok(if t >= l { t + 1 } else { t })
        })
        .collect()
}

fn check_inputs(clouds: &[&[f32]], targets: &[usize], num_classes: usize) -> Result<usize> {
    if clouds.is_empty() || clouds.len() != targets.len() {
        return Err(Error::invalid(format!(
            "attack: {} clouds and {} targets",
            clouds.len(),
            targets.len()
        )));
    }
    let n = check_cloud(clouds[0], "attack input")?;
    for c in clouds {
        if check_cloud(c, "attack input")? != n {
            return Err(Error::invalid(
                "attack: all clouds must have the same number of points",
            ));
        }
    }
    if let Some(t) = targets.iter().find(|&&t| t >= num_classes) {
        return Err(Error::invalid(format!(
            "attack: target {t} out of range for {num_classes} classes"
        )));
    }
    Ok(n)
}

/// Truncated normal (±2σ) initial perturbation.
fn init_delta(
    shape: (usize, usize, usize),
    std: f64,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<Var> {
    let len = shape.0 * shape.1 * shape.2;
    let v: Vec<f32> = (0..len)
        .map(|_| loop {
            let z = rng.normal();
            if z.abs() <= 2.0 {
                break (z * std) as f32;
            }
        })
        .collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, device)?)?)
}

/// The C&W loop shared by both attacks, over one batch. `build(δ)` returns the
/// adversarial batch `(B, N', 3)` and the distances `(B,)`.
fn cw_batch(
    net: &PointNet,
    targets: &[usize],
    delta_shape: (usize, usize, usize),
    cfg: &CwConfig,
    rng: &mut SeededRng,
    build: &dyn Fn(&Tensor) -> Result<(Tensor, Tensor)>,
) -> Result<AttackOutcome> {
    let b = targets.len();
    let t = Tensor::from_vec(
        targets.iter().map(|&t| t as u32).collect::<Vec<_>>(),
        b,
        net.device(),
    )?;
    let mut lower = vec![0.0; b];
    let mut upper = vec![cfg.upper_weight; b];
    let mut weight = vec![cfg.init_weight; b];
    let mut best: Vec<Option<(f64, Vec<f32>)>> = vec![None; b];
    let mut last = Vec::new();
    let mut last_dist = vec![0.0; b];
    for _ in 0..cfg.binary_steps {
        let delta = init_delta(delta_shape, cfg.init_std, rng, net.device())?;
        let mut opt = Adam::new(
            vec![delta.clone()],
            AdamConfig {
                lr: cfg.lr,
                ..Default::default()
            },
        )?;
        let w = Tensor::from_vec(
            weight.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            b,
            net.device(),
        )?;
        let mut step_success = vec![false; b];
        for _ in 0..cfg.iterations {
            let (adv, dist) = build(delta.as_tensor())?;
            let logits = net.forward_eval(&adv)?.logits;
            let f = margin_loss(&logits, &t, cfg.kappa)?;
            let loss = (f.mean_all()? + (&w * &dist)?.mean_all()?)?;
            let pred = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            let d = dist.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let adv_v = adv.flatten_all()?.to_vec1::<f32>()?;
            let per = adv_v.len() / b;
            for i in 0..b {
                if pred[i] as usize == targets[i] {
                    step_success[i] = true;
                    if best[i].as_ref().is_none_or(|(bd, _)| d[i] < *bd) {
                        best[i] = Some((d[i], adv_v[i * per..(i + 1) * per].to_vec()));
                    }
                }
            }
            last = adv_v;
            last_dist = d;
            opt.backward_step(&loss)?;
        }
        for i in 0..b {
            (lower[i], upper[i], weight[i]) =
                update_weight(lower[i], upper[i], weight[i], step_success[i]);
        }
    }
    let per = last.len() / b;
    let mut out = AttackOutcome {
        clouds: Vec::with_capacity(b),
        success: Vec::with_capacity(b),
        distance: Vec::with_capacity(b),
        weight,
    };
    for (i, bst) in best.into_iter().enumerate() {
        match bst {
            Some((d, c)) => {
                out.clouds.push(c);
                out.success.push(true);
                out.distance.push(d);
            }
            None => {
                out.clouds.push(last[i * per..(i + 1) * per].to_vec());
                out.success.push(false);
                out.distance.push(last_dist[i]);
            }
        }
    }
    Ok(out)
}

fn merge(outcomes: Vec<AttackOutcome>) -> AttackOutcome {
    let mut all = AttackOutcome {
        clouds: vec![],
        success: vec![],
        distance: vec![],
        weight: vec![],
    };
    for o in outcomes {
        all.clouds.extend(o.clouds);
        all.success.extend(o.success);
        all.distance.extend(o.distance);
        all.weight.extend(o.weight);
    }
    all
}

/// Targeted C&W perturbation attack (L2 over all points and coordinates).
///
/// `clouds` all have the same number of points; `targets[i]` is cloud `i`'s
/// target class. Deterministic for a given `seed`. Batches of
/// `cfg.batch_size` clouds; `progress` is called after each batch with the
/// number of clouds done.
pub fn perturbation_attack(
    net: &PointNet,
    clouds: &[&[f32]],
    targets: &[usize],
    cfg: &CwConfig,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<AttackOutcome> {
    cfg.validate()?;
    let n = check_inputs(clouds, targets, net.config().num_classes)?;
    let net = net.frozen();
    let mut outs = Vec::new();
    let mut done = 0;
    for (bi, (cs, ts)) in clouds
        .chunks(cfg.batch_size)
        .zip(targets.chunks(cfg.batch_size))
        .enumerate()
    {
        let b = cs.len();
        let x = Tensor::from_vec(cs.concat(), (b, n, 3), net.device())?;
        let mut rng = SeededRng::derive(seed, &format!("perturb-{bi}"));
        let build = |delta: &Tensor| -> Result<(Tensor, Tensor)> {
            let adv = (&x + delta)?;
            let dist = delta.sqr()?.sum((1, 2))?.sqrt()?;
            Ok((adv, dist))
        };
        outs.push(cw_batch(&net, ts, (b, n, 3), cfg, &mut rng, &build)?);
        done += b;
        progress(done);
    }
    Ok(merge(outs))
}

/// The indices of the `m` most critical points of each cloud (see the module
/// docs): by the number of max-pool channels they win, ties by index.
pub fn critical_points(net: &PointNet, clouds: &[&[f32]], m: usize) -> Result<Vec<Vec<usize>>> {
    let n = check_inputs(clouds, &vec![0; clouds.len()], net.config().num_classes)?;
    if m == 0 || m > n {
        return Err(Error::invalid(format!(
            "critical_points: m = {m} for clouds of {n} points"
        )));
    }
    let x = Tensor::from_vec(clouds.concat(), (clouds.len(), n, 3), net.device())?;
    let counts = net.critical_counts(&x)?;
    Ok(counts
        .into_iter()
        .map(|c| {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| c[b].cmp(&c[a]).then(a.cmp(&b)));
            idx.truncate(m);
            idx
        })
        .collect())
}

/// Independent point adding: `m` points are added to each cloud (initialised
/// at its `m` most critical points) and optimised with the C&W loop under the
/// one-sided `distance` to the clean cloud. The output clouds have `n + m`
/// points, the clean ones first.
#[allow(clippy::too_many_arguments)] // mirrors perturbation_attack plus (m, distance)
pub fn add_attack(
    net: &PointNet,
    clouds: &[&[f32]],
    targets: &[usize],
    m: usize,
    distance: AddDistance,
    cfg: &CwConfig,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<AttackOutcome> {
    cfg.validate()?;
    let n = check_inputs(clouds, targets, net.config().num_classes)?;
    let frozen = net.frozen();
    let mut outs = Vec::new();
    let mut done = 0;
    for (bi, (cs, ts)) in clouds
        .chunks(cfg.batch_size)
        .zip(targets.chunks(cfg.batch_size))
        .enumerate()
    {
        let b = cs.len();
        let crit = critical_points(&frozen, cs, m)?;
        let mut init = Vec::with_capacity(b * m * 3);
        for (c, idx) in cs.iter().zip(&crit) {
            for &i in idx {
                init.extend_from_slice(&c[3 * i..3 * i + 3]);
            }
        }
        let dev = frozen.device();
        let x = Tensor::from_vec(cs.concat(), (b, n, 3), dev)?;
        let p0 = Tensor::from_vec(init, (b, m, 3), dev)?;
        let trees = cs
            .iter()
            .map(|c| KdTree::build(c, 3))
            .collect::<Result<Vec<_>>>()?;
        let build = |delta: &Tensor| -> Result<(Tensor, Tensor)> {
            let added = (&p0 + delta)?;
            // Nearest clean point of every added point (no gradient).
            let a = added.flatten_all()?.to_vec1::<f32>()?;
            let mut nn = Vec::with_capacity(a.len());
            for (ci, tree) in trees.iter().enumerate() {
                for p in a[ci * m * 3..(ci + 1) * m * 3].chunks_exact(3) {
                    let j = tree.query(p, 1)?[0].0 as usize;
                    nn.extend_from_slice(&cs[ci][3 * j..3 * j + 3]);
                }
            }
            let nn = Tensor::from_vec(nn, (b, m, 3), dev)?;
            let d2 = (&added - nn)?.sqr()?.sum(2)?;
            let dist = match distance {
                AddDistance::Chamfer => d2.mean(1)?,
                AddDistance::Hausdorff => d2.max(1)?,
            };
            Ok((Tensor::cat(&[&x, &added], 1)?, dist))
        };
        let name = format!("add-{distance:?}-{bi}");
        let mut rng = SeededRng::derive(seed, &name);
        outs.push(cw_batch(&frozen, ts, (b, m, 3), cfg, &mut rng, &build)?);
        done += b;
        progress(done);
    }
    Ok(merge(outs))
}

/// Settings of the saliency point-dropping attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DropConfig {
    /// Points dropped in all (200; IF-Defense also reports 100).
    pub num_drop: usize,
    /// Points dropped per round (5).
    pub per_round: usize,
    /// Exponent of the radius in the saliency score (1).
    pub alpha: f64,
    /// Clouds per batch.
    pub batch_size: usize,
}

impl Default for DropConfig {
    fn default() -> Self {
        DropConfig {
            num_drop: 200,
            per_round: 5,
            alpha: 1.0,
            batch_size: 32,
        }
    }
}

/// Untargeted saliency point dropping: in rounds, the `per_round` points of
/// highest saliency `−r^α · ⟨∂L/∂x, x − c⟩` are removed, where `L` is the
/// cross-entropy of the true label, `c` the coordinate-wise median of the
/// cloud (the lower median, as `torch.median`) and `r = ‖x − c‖`. Returns
/// clouds of `n − num_drop` points in their original order.
pub fn saliency_drop(
    net: &PointNet,
    clouds: &[&[f32]],
    labels: &[usize],
    cfg: &DropConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>> {
    let n = check_inputs(clouds, labels, net.config().num_classes)?;
    if cfg.per_round == 0 || cfg.batch_size == 0 || cfg.num_drop >= n {
        return Err(Error::invalid(format!(
            "saliency_drop: per_round and batch_size must be positive and num_drop ({}) < points ({n})",
            cfg.num_drop
        )));
    }
    let net = net.frozen();
    let mut out = Vec::with_capacity(clouds.len());
    for (cs, ls) in clouds
        .chunks(cfg.batch_size)
        .zip(labels.chunks(cfg.batch_size))
    {
        let b = cs.len();
        let y = Tensor::from_vec(
            ls.iter().map(|&l| l as u32).collect::<Vec<_>>(),
            b,
            net.device(),
        )?;
        let mut cur: Vec<Vec<f32>> = cs.iter().map(|c| c.to_vec()).collect();
        let mut dropped = 0;
        while dropped < cfg.num_drop {
            let k = cfg.per_round.min(cfg.num_drop - dropped);
            let np = cur[0].len() / 3;
            let x = Var::from_tensor(&Tensor::from_vec(cur.concat(), (b, np, 3), net.device())?)?;
            let logits = net.forward_eval(x.as_tensor())?.logits;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let g = loss.backward()?;
            let grad = g
                .get(x.as_tensor())
                .ok_or_else(|| Error::invalid("saliency_drop: no input gradient"))?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (ci, c) in cur.iter_mut().enumerate() {
                let gc = &grad[ci * np * 3..(ci + 1) * np * 3];
                let center = lower_median(c);
                let mut score: Vec<(f64, usize)> = (0..np)
                    .map(|i| {
                        let mut dot = 0.0;
                        let mut r2 = 0.0;
                        for a in 0..3 {
                            let v = (c[3 * i + a] - center[a]) as f64;
                            dot += gc[3 * i + a] as f64 * v;
                            r2 += v * v;
                        }
                        (-dot * r2.sqrt().powf(cfg.alpha), i)
                    })
                    .collect();
                // Highest saliency first; ties by index.
                score.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut drop = vec![false; np];
                for &(_, i) in &score[..k] {
                    drop[i] = true;
                }
                *c = c
                    .chunks_exact(3)
                    .zip(&drop)
                    .filter(|(_, &d)| !d)
                    .flat_map(|(p, _)| p.iter().copied())
                    .collect();
            }
            dropped += k;
        }
        out.extend(cur);
        progress(out.len());
    }
    Ok(out)
}

/// Coordinate-wise lower median (`torch.median`).
fn lower_median(cloud: &[f32]) -> [f32; 3] {
    let n = cloud.len() / 3;
    let mut m = [0.0; 3];
    for (a, slot) in m.iter_mut().enumerate() {
        let mut v: Vec<f32> = cloud.iter().skip(a).step_by(3).copied().collect();
        let k = (n - 1) / 2;
        v.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
        *slot = v[k];
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_loss_by_hand() {
        let z = Tensor::new(&[[1f32, 3.0, 2.0], [0.0, 5.0, 1.0]], &Device::Cpu).unwrap();
        let t = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        let f = margin_loss(&z, &t, 0.0).unwrap().to_vec1::<f32>().unwrap();
        // cloud 0: max other 3 − 1 = 2; cloud 1: target leads, 0.
        assert_eq!(f, vec![2.0, 0.0]);
        let f = margin_loss(&z, &t, 5.0).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(f, vec![7.0, 1.0]);
    }

    #[test]
    fn binary_search_rule() {
        assert_eq!(update_weight(0.0, 80.0, 10.0, true), (10.0, 80.0, 45.0));
        assert_eq!(update_weight(0.0, 80.0, 10.0, false), (0.0, 10.0, 5.0));
        assert_eq!(update_weight(10.0, 80.0, 45.0, false), (10.0, 45.0, 27.5));
    }

    #[test]
    fn targets_differ_from_labels() {
        let labels: Vec<usize> = (0..200).map(|i| i % 7).collect();
        let t = random_targets(&labels, 7, 3).unwrap();
        assert!(t.iter().zip(&labels).all(|(t, l)| t != l && *t < 7));
        assert_eq!(t, random_targets(&labels, 7, 3).unwrap());
        assert!(random_targets(&[9], 7, 0).is_err());
    }

    #[test]
    fn lower_median_matches_torch() {
        let c = [3.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 4.0, 3.0, 1.0];
        assert_eq!(lower_median(&c), [2.0, 1.0, 1.0]);
    }
}
