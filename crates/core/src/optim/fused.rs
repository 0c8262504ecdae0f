//! CPU fast paths of the optimiser steps: each is a few in-place passes over contiguous
//! f32/f64 buffers instead of a dozen allocating tensor ops, with the same arithmetic in
//! the same order (results equal to the generic path's). Small-network RL runs an Adam
//! step and a Polyak update after every env step, where the generic path's
//! per-op allocations cost as much as the products themselves.
//!
//! Each function returns `Ok(false)` (nothing done) where the fast path does not apply:
//! another device or dtype, a non-contiguous tensor, or buffers that share storage.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Tensor};

use crate::Result;

/// f32 / f64 arithmetic for the kernels.
trait Float:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn of(v: f64) -> Self;
    fn sqrt(self) -> Self;
}

impl Float for f32 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Float for f64 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

fn range(l: &Layout) -> candle_core::Result<(usize, usize)> {
    l.contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused optimiser pass: non-contiguous".into()))
}

fn mismatch() -> candle_core::Error {
    candle_core::Error::Msg("fused optimiser pass: dtypes or sizes differ".into())
}

/// Whether `ts` are all contiguous CPU tensors of one float dtype and one size, each with
/// its own storage.
fn applicable(ts: &[&Tensor]) -> bool {
    let Some(first) = ts.first() else {
        return false;
    };
    let same = ts.iter().all(|t| {
        t.device().is_cpu()
            && t.dtype() == first.dtype()
            && t.elem_count() == first.elem_count()
            && t.is_contiguous()
    });
    let float = matches!(
        first.dtype(),
        candle_core::DType::F32 | candle_core::DType::F64
    );
    // Each storage's address (one read lock at a time): an in-place op on a tensor that
    // shares storage with an operand would lock one RwLock twice.
    let ptrs: Vec<usize> = ts
        .iter()
        .map(|t| {
            let (s, _) = t.storage_and_layout();
            std::ptr::from_ref(&*s) as usize
        })
        .collect();
    let distinct = ptrs
        .iter()
        .enumerate()
        .all(|(i, a)| !ptrs[i + 1..].contains(a));
    same && float && distinct
}

/// One Adam / AdamW step's constants (see `AdamCore::step`).
#[derive(Debug, Clone, Copy)]
pub(super) struct AdamStep {
    pub beta1: f64,
    pub beta2: f64,
    /// Adam's L2 term added to the gradient (0 for AdamW).
    pub coupled_decay: f64,
    /// AdamW's `lr·wd` (0 for Adam).
    pub decoupled_decay: f64,
    pub inv_sqrt_bc2: f64,
    pub eps: f64,
    pub step_size: f64,
}

/// Which buffer a pass writes.
#[derive(Debug, Clone, Copy)]
enum AdamPass {
    /// `m ← m + (g̃ − m)(1 − β₁)`, reading `g` and `θ` (`g̃ = g + wd·θ`).
    First,
    /// `v ← v·β₂ + g̃²(1 − β₂)`, reading `g` and `θ`.
    Second,
    /// `θ ← θ' − (m / (√v·c + ε))·step` with `θ' = θ(1 − lr·wd)`, reading `m` and `v`.
    Param,
}

struct AdamOp(AdamPass, AdamStep);

impl AdamOp {
    /// [`run`](Self::run) compiled for AVX-512 or AVX2 + FMA when the CPU has them
    /// (runtime detection), so that the passes, their square roots and divisions, run on
    /// wide registers. The same operations in the same order: Rust never contracts a
    /// multiply and an add into one FMA, so the results are those of `run`.
    fn run_wide<T: Float>(&self, dst: &mut [T], a: &[T], b: &[T]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn v512<T: Float>(op: &AdamOp, dst: &mut [T], a: &[T], b: &[T]) {
                op.run(dst, a, b)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn v256<T: Float>(op: &AdamOp, dst: &mut [T], a: &[T], b: &[T]) {
                op.run(dst, a, b)
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features v512 was compiled for.
                return unsafe { v512(self, dst, a, b) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: as above, for AVX2 and FMA.
                return unsafe { v256(self, dst, a, b) };
            }
        }
        self.run(dst, a, b)
    }

    #[inline(always)]
    fn run<T: Float>(&self, dst: &mut [T], a: &[T], b: &[T]) {
        let c = self.1;
        match self.0 {
            AdamPass::First | AdamPass::Second => {
                let (g, theta) = (a, b);
                let wd = T::of(c.coupled_decay);
                let zero = T::of(0.0);
                let decay = c.coupled_decay != 0.0;
                let grad = |i: usize| {
                    if decay {
                        g[i] + (theta[i] * wd + zero)
                    } else {
                        g[i]
                    }
                };
                if let AdamPass::First = self.0 {
                    let k = T::of(1.0 - c.beta1);
                    for (i, m) in dst.iter_mut().enumerate() {
                        *m = *m + ((grad(i) - *m) * k + zero);
                    }
                } else {
                    let (b2, k) = (T::of(c.beta2), T::of(1.0 - c.beta2));
                    for (i, v) in dst.iter_mut().enumerate() {
                        let gi = grad(i);
                        *v = (*v * b2 + zero) + (gi * gi * k + zero);
                    }
                }
            }
            AdamPass::Param => {
                let (m, v) = (a, b);
                let zero = T::of(0.0);
                let shrink = T::of(1.0 - c.decoupled_decay);
                let decay = c.decoupled_decay != 0.0;
                let (inv, eps, step, one) = (
                    T::of(c.inv_sqrt_bc2),
                    T::of(c.eps),
                    T::of(c.step_size),
                    T::of(1.0),
                );
                for (i, theta) in dst.iter_mut().enumerate() {
                    let t = if decay {
                        *theta * shrink + zero
                    } else {
                        *theta
                    };
                    let denom = (v[i].sqrt() * inv + zero) * one + eps;
                    *theta = t - ((m[i] / denom) * step + zero);
                }
            }
        }
    }
}

impl InplaceOp3 for AdamOp {
    fn name(&self) -> &'static str {
        "candor-adam-pass"
    }
    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dl: &Layout,
        a: &CpuStorage,
        al: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<()> {
        let ((d0, d1), (a0, a1), (b0, b1)) = (range(dl)?, range(al)?, range(bl)?);
        match (dst, a, b) {
            (CpuStorage::F32(d), CpuStorage::F32(a), CpuStorage::F32(b)) => {
                self.run_wide(&mut d[d0..d1], &a[a0..a1], &b[b0..b1])
            }
            (CpuStorage::F64(d), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                self.run_wide(&mut d[d0..d1], &a[a0..a1], &b[b0..b1])
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }
}

/// One Adam step of parameter `theta` with gradient `g` and moments `m`, `v`, in place
/// (three passes). `Ok(false)` where the fast path does not apply.
pub(super) fn adam_step(
    theta: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: &AdamStep,
) -> Result<bool> {
    if !applicable(&[theta, g, m, v]) {
        return Ok(false);
    }
    m.inplace_op3(g, theta, &AdamOp(AdamPass::First, *step))?;
    v.inplace_op3(g, theta, &AdamOp(AdamPass::Second, *step))?;
    theta.inplace_op3(m, v, &AdamOp(AdamPass::Param, *step))?;
    Ok(true)
}

/// `target ← target·(1 − τ) + source·τ` in place.
struct Polyak(f64);

impl Polyak {
    /// [`run`](Self::run) on wide registers where the CPU has them (as
    /// `AdamOp::run_wide`; the same results).
    fn run_wide<T: Float>(&self, t: &mut [T], s: &[T]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn v512<T: Float>(op: &Polyak, t: &mut [T], s: &[T]) {
                op.run(t, s)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn v256<T: Float>(op: &Polyak, t: &mut [T], s: &[T]) {
                op.run(t, s)
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features v512 was compiled for.
                return unsafe { v512(self, t, s) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: as above, for AVX2 and FMA.
                return unsafe { v256(self, t, s) };
            }
        }
        self.run(t, s)
    }

    #[inline(always)]
    fn run<T: Float>(&self, t: &mut [T], s: &[T]) {
        let (keep, take, zero) = (T::of(1.0 - self.0), T::of(self.0), T::of(0.0));
        for (t, &s) in t.iter_mut().zip(s) {
            *t = (*t * keep + zero) + (s * take + zero);
        }
    }
}

impl InplaceOp2 for Polyak {
    fn name(&self) -> &'static str {
        "candor-polyak"
    }
    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dl: &Layout,
        src: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<()> {
        let ((d0, d1), (s0, s1)) = (range(dl)?, range(sl)?);
        match (dst, src) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => self.run_wide(&mut d[d0..d1], &s[s0..s1]),
            (CpuStorage::F64(d), CpuStorage::F64(s)) => self.run_wide(&mut d[d0..d1], &s[s0..s1]),
            _ => return Err(mismatch()),
        }
        Ok(())
    }
}

/// Polyak averaging of one variable in place. `Ok(false)` where the fast path does not
/// apply (then nothing is changed).
pub(super) fn polyak(target: &Tensor, source: &Tensor, tau: f64) -> Result<bool> {
    if !applicable(&[target, source]) {
        return Ok(false);
    }
    target.inplace_op2(source, &Polyak(tau))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededRng;
    use candle_core::{DType, Device};

    fn rand(n: usize, seed: u64, dtype: DType) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, n, dtype, &Device::Cpu)
            .unwrap()
    }

    fn bits(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap()
    }

    /// The generic path's candle ops, one Adam step.
    fn generic(theta: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, c: &AdamStep) -> [Tensor; 3] {
        let mut g = g.clone();
        let mut theta = theta.clone();
        if c.coupled_decay != 0.0 {
            g = g.add(&theta.affine(c.coupled_decay, 0.0).unwrap()).unwrap();
        }
        if c.decoupled_decay != 0.0 {
            theta = theta.affine(1.0 - c.decoupled_decay, 0.0).unwrap();
        }
        let m = m
            .add(&g.sub(m).unwrap().affine(1.0 - c.beta1, 0.0).unwrap())
            .unwrap();
        let v = v
            .affine(c.beta2, 0.0)
            .unwrap()
            .add(&g.sqr().unwrap().affine(1.0 - c.beta2, 0.0).unwrap())
            .unwrap();
        let denom = v
            .sqrt()
            .unwrap()
            .affine(c.inv_sqrt_bc2, 0.0)
            .unwrap()
            .affine(1.0, c.eps)
            .unwrap();
        let theta = theta
            .sub(&m.div(&denom).unwrap().affine(c.step_size, 0.0).unwrap())
            .unwrap();
        [theta, m, v]
    }

    #[test]
    fn fused_adam_equals_the_generic_ops_bit_for_bit() {
        for dtype in [DType::F32, DType::F64] {
            for (coupled, decoupled) in [(0.0, 0.0), (1e-2, 0.0), (0.0, 1e-3)] {
                let c = AdamStep {
                    beta1: 0.9,
                    beta2: 0.999,
                    coupled_decay: coupled,
                    decoupled_decay: decoupled,
                    inv_sqrt_bc2: 1.0 / (1.0f64 - 0.999f64.powi(3)).sqrt(),
                    eps: 1e-8,
                    step_size: 1e-3 / (1.0 - 0.9f64.powi(3)),
                };
                let n = 1037;
                let (theta, g) = (rand(n, 1, dtype), rand(n, 2, dtype));
                let m = rand(n, 3, dtype).affine(0.1, 0.0).unwrap();
                let v = rand(n, 4, dtype).sqr().unwrap().affine(0.01, 0.0).unwrap();
                let want = generic(&theta, &g, &m, &v, &c);
                let (t2, m2, v2) = (theta.copy().unwrap(), m.copy().unwrap(), v.copy().unwrap());
                assert!(adam_step(&t2, &g, &m2, &v2, &c).unwrap());
                for (got, want) in [t2, m2, v2].iter().zip(&want) {
                    assert_eq!(bits(got), bits(want), "{dtype:?} {coupled} {decoupled}");
                }
            }
        }
    }

    #[test]
    fn fused_polyak_equals_the_generic_ops_and_declines_shared_storage() {
        let (t, s) = (rand(513, 5, DType::F32), rand(513, 6, DType::F32));
        let want = t
            .affine(1.0 - 0.005, 0.0)
            .unwrap()
            .add(&s.affine(0.005, 0.0).unwrap())
            .unwrap();
        let t2 = t.copy().unwrap();
        assert!(polyak(&t2, &s, 0.005).unwrap());
        assert_eq!(bits(&t2), bits(&want));
        // Same storage, another dtype, a non-contiguous view: not applicable, untouched.
        assert!(!polyak(&t2, &t2, 0.5).unwrap());
        assert!(!polyak(&t2, &s.to_dtype(DType::F64).unwrap(), 0.5).unwrap());
        let wide = rand(8, 7, DType::F32).reshape((2, 4)).unwrap();
        let col = wide.t().unwrap();
        assert!(!polyak(&col, &rand(8, 8, DType::F32).reshape((4, 2)).unwrap(), 0.5).unwrap());
    }
}
