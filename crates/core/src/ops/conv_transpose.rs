//! 2-D transposed convolution (`torch.nn.functional.conv_transpose2d`) with stride,
//! padding, output padding, dilation and groups, forward and backward.
//!
//! A transposed convolution is the input gradient of a convolution: with the weight
//! `(C_in, C_out/groups, kH, kW)` read as a convolution from `C_out` to `C_in` channels,
//!
//! * forward = that convolution's input gradient (col2im of `Wᵀ·x`),
//! * gradient of the input = that convolution's forward pass on `dy`,
//! * gradient of the weight = that convolution's weight gradient with `dy` as its input,
//!
//! so this op runs [`super::conv`]'s kernels (dense, grouped and depthwise) with the
//! output size `H_out = (H − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1`
//! given explicitly. The gradients are therefore exact with `output_padding` too (candle
//! 0.11's `conv_transpose2d` backward ignores it, and has no groups).
//!
//! Devices: the CPU (f32, f64) runs the kernels here. Elsewhere, candle's own
//! `conv_transpose2d` runs when its backward is right (one group, no output padding,
//! square stride, padding and dilation; checked against this op in the tests); any
//! other case returns an error that names the op rather than a wrong gradient.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::backend::{route, Candle, Route};
use super::conv::{forward, input_grad, weight_grad, BiasGrad, Conv2dParams, Geom};
use super::kernel::{dispatch, out, slice, Real};
use crate::{Error, Result};

/// Stride, padding, output padding and dilation per axis `(h, w)`, and the number of
/// groups, as `torch.nn.functional.conv_transpose2d` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    /// Extra rows/columns added to one side of the output; each must be smaller than the
    /// stride or the dilation of its axis.
    pub output_padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        Self {
            stride: (1, 1),
            padding: (0, 0),
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl ConvTranspose2dParams {
    /// The geometry of the convolution whose input gradient this is.
    fn conv(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// The output size `(H_out, W_out)` for an input of `h × w` and a `kh × kw` kernel.
    pub fn output_size(&self, h: usize, w: usize, kh: usize, kw: usize) -> Result<(usize, usize)> {
        let axis = |n: usize, k: usize, s: usize, p: usize, op: usize, d: usize| {
            let full = (n as isize - 1) * s as isize + (d * (k - 1)) as isize + op as isize + 1;
            let v = full - 2 * p as isize;
            (v > 0).then_some(v as usize)
        };
        let (p, s, d, op) = (
            self.padding,
            self.stride,
            self.dilation,
            self.output_padding,
        );
        match (
            axis(h, kh, s.0, p.0, op.0, d.0),
            axis(w, kw, s.1, p.1, op.1, d.1),
        ) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(Error::invalid(format!(
                "conv_transpose2d: padding {p:?} leaves no output for a {h}×{w} input and a {kh}×{kw} kernel"
            ))),
        }
    }
}

/// Validated sizes of one transposed convolution: the convolution geometry `g` (from the
/// output back to the input) and the output shape.
fn geometry(
    x: &[usize],
    wt: &[usize],
    p: &ConvTranspose2dParams,
) -> Result<(Geom, (usize, usize, usize, usize))> {
    let (&[n, cin, h, w], &[wcin, cog, kh, kw]) = (x, wt) else {
        return Err(Error::invalid(format!(
            "conv_transpose2d: input must be (N, C_in, H, W) and weight (C_in, C_out/groups, kH, kW), got {x:?} and {wt:?}"
        )));
    };
    let g = p.groups;
    if g == 0 || wcin != cin || cin % g != 0 {
        return Err(Error::invalid(format!(
            "conv_transpose2d: {cin} input channels with {g} groups need a weight of ({cin}, C_out/groups, kH, kW) with groups dividing {cin}, got {wt:?}"
        )));
    }
    if p.stride.0 == 0 || p.stride.1 == 0 || p.dilation.0 == 0 || p.dilation.1 == 0 {
        return Err(Error::invalid(
            "conv_transpose2d: stride and dilation must be positive",
        ));
    }
    for (op, s, d) in [
        (p.output_padding.0, p.stride.0, p.dilation.0),
        (p.output_padding.1, p.stride.1, p.dilation.1),
    ] {
        if op >= s && op >= d {
            return Err(Error::invalid(format!(
                "conv_transpose2d: output padding {:?} must be smaller than the stride {:?} or the dilation {:?}",
                p.output_padding, p.stride, p.dilation
            )));
        }
    }
    if n == 0 || cin == 0 || cog == 0 || h == 0 || w == 0 || kh == 0 || kw == 0 {
        return Err(Error::invalid(format!(
            "conv_transpose2d: empty input or kernel: {x:?}, {wt:?}"
        )));
    }
    let (ho, wo) = p.output_size(h, w, kh, kw)?;
    let cout = cog * g;
    let geom = Geom::with_output(&[n, cout, ho, wo], wt, &p.conv(), h, w)?;
    Ok((geom, (n, cout, ho, wo)))
}

fn cgeom(x: &[usize], wt: &[usize], p: &ConvTranspose2dParams) -> candle_core::Result<Geom> {
    geometry(x, wt, p)
        .map(|r| r.0)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// The forward pass: the convolution's input gradient, plus the bias per output plane.
fn transpose_fwd<T: Real>(g: &Geom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let mut y = input_grad(g, x, w);
    if let Some(b) = bias {
        let (_, c, h, wd) = g.in_shape();
        y.par_chunks_mut(h * wd).enumerate().for_each(|(pl, yp)| {
            let bv = b[pl % c];
            yp.iter_mut().for_each(|v| *v += bv);
        });
    }
    y
}

struct ConvTranspose2dOp {
    p: ConvTranspose2dParams,
}

struct ConvTranspose2dBiasOp {
    p: ConvTranspose2dParams,
}

/// Gradient of the input: the convolution's forward pass on `dy`.
struct BwdInput {
    g: Geom,
}

/// Gradient of the weight: the convolution's weight gradient with `dy` as its input.
struct BwdWeight {
    g: Geom,
}

#[allow(clippy::type_complexity)]
fn grads(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    g: Geom,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
    let dx = if x.track_op() {
        Some(dy.apply_op2_no_bwd(w, &BwdInput { g })?)
    } else {
        None
    };
    let dw = if w.track_op() {
        Some(dy.apply_op2_no_bwd(x, &BwdWeight { g })?)
    } else {
        None
    };
    Ok((dx, dw))
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "candor-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = cgeom(l1.dims(), l2.dims(), &self.p)?;
        dispatch!(s1, "conv_transpose2d", |T| {
            let (x, w) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(transpose_fwd(&g, x, w, None)), g.in_shape()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = cgeom(x.dims(), w.dims(), &self.p)?;
        grads(x, w, &dy.contiguous()?, g)
    }
}

impl CustomOp3 for ConvTranspose2dBiasOp {
    fn name(&self) -> &'static str {
        "candor-conv-transpose2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = cgeom(l1.dims(), l2.dims(), &self.p)?;
        dispatch!(s1, "conv_transpose2d", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            Ok(out(T::wrap(transpose_fwd(&g, x, w, Some(b))), g.in_shape()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = cgeom(x.dims(), w.dims(), &self.p)?;
        let dy = dy.contiguous()?;
        let (dx, dw) = grads(x, w, &dy, g)?;
        let db = if b.track_op() {
            Some(dy.apply_op1_no_bwd(&BiasGrad)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for BwdInput {
    fn name(&self) -> &'static str {
        "candor-conv-transpose2d-bwd-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        dispatch!(s1, "conv_transpose2d backward", |T| {
            let (dy, w) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(forward(&g, dy, w, None)), g.out_shape()))
        })
    }
}

impl CustomOp2 for BwdWeight {
    fn name(&self) -> &'static str {
        "candor-conv-transpose2d-bwd-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        dispatch!(s1, "conv_transpose2d backward", |T| {
            let (dy, x) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(weight_grad(&g, dy, x)), g.weight_shape()))
        })
    }
}

/// What candle's own `conv_transpose2d` offers for `p`: it takes one group and square
/// stride, padding, dilation and output padding, and its backward ignores the output
/// padding.
fn candle_support(p: &ConvTranspose2dParams) -> Candle {
    let square = p.stride.0 == p.stride.1
        && p.padding.0 == p.padding.1
        && p.dilation.0 == p.dilation.1
        && p.output_padding.0 == p.output_padding.1;
    if p.groups != 1 || !square {
        Candle::Missing("conv_transpose2d takes one group and square stride/padding/dilation only")
    } else if p.output_padding != (0, 0) {
        Candle::ForwardOnly("backward ignores the output padding")
    } else {
        Candle::Trainable
    }
}

/// candle's `conv_transpose2d` plus a broadcast bias (the path off the CPU).
fn candle_conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose2dParams,
) -> Result<Tensor> {
    let y = x.conv_transpose2d(
        weight,
        p.padding.0,
        p.output_padding.0,
        p.stride.0,
        p.dilation.0,
    )?;
    Ok(match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?,
        None => y,
    })
}

/// `torch.nn.functional.conv_transpose2d(x, weight, bias, stride, padding,
/// output_padding, groups, dilation)`: `x` is `(N, C_in, H, W)`, `weight`
/// `(C_in, C_out/groups, kH, kW)` (PyTorch's layout), `bias` `(C_out,)`; the output is
/// `(N, C_out, H_out, W_out)` with
/// `H_out = (H − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1`.
/// Differentiable in all three.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{conv_transpose2d, ConvTranspose2dParams};
/// // Stride 2 spreads each input pixel over a 2×2 block of the output.
/// let x = Tensor::new(&[[[[1f32, 2.0]]]], &Device::Cpu).unwrap(); // (1, 1, 1, 2)
/// let w = Tensor::ones((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
/// let p = ConvTranspose2dParams { stride: (2, 2), ..Default::default() };
/// let y = conv_transpose2d(&x, &w, None, p).unwrap();
/// assert_eq!(y.dims(), &[1, 1, 2, 4]);
/// assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
///            vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
/// ```
pub fn conv_transpose2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: ConvTranspose2dParams,
) -> Result<Tensor> {
    let (_, (_, cout, _, _)) = geometry(x.dims(), weight.dims(), &p)?;
    if x.dtype() != weight.dtype() || bias.is_some_and(|b| b.dtype() != x.dtype()) {
        return Err(Error::invalid(format!(
            "conv_transpose2d: input, weight and bias dtypes differ ({:?}, {:?}, {:?})",
            x.dtype(),
            weight.dtype(),
            bias.map(|b| b.dtype())
        )));
    }
    if let Some(b) = bias {
        if b.dims() != [cout] {
            return Err(Error::invalid(format!(
                "conv_transpose2d: bias must be ({cout},), got {:?}",
                b.dims()
            )));
        }
    }
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    if route("conv_transpose2d", &inputs, candle_support(&p))? == Route::Candle {
        return candle_conv_transpose2d(x, weight, bias, &p);
    }
    let (x, w) = (x.contiguous()?, weight.contiguous()?);
    Ok(match bias {
        None => x.apply_op2(&w, ConvTranspose2dOp { p })?,
        Some(b) => x.apply_op3(&w, &b.contiguous()?, ConvTranspose2dBiasOp { p })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check;
    use crate::SeededRng;
    use candle_core::DType;
    use candle_core::{Device, Var};

    fn rand(shape: &[usize], seed: u64, dt: DType) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, dt, &Device::Cpu)
            .unwrap()
    }

    fn sq(
        stride: usize,
        padding: usize,
        output_padding: usize,
        dilation: usize,
        groups: usize,
    ) -> ConvTranspose2dParams {
        ConvTranspose2dParams {
            stride: (stride, stride),
            padding: (padding, padding),
            output_padding: (output_padding, output_padding),
            dilation: (dilation, dilation),
            groups,
        }
    }

    /// The definition, one tap at a time: `y[n, g·og + o, ih·s − p + ki·d, …] +=
    /// x[n, g·cg + c, ih, iw] · w[g·cg + c, o, ki, kj]`.
    fn naive(x: &Tensor, w: &Tensor, b: Option<&Tensor>, p: &ConvTranspose2dParams) -> Vec<f64> {
        let (n, cin, h, wd) = x.dims4().unwrap();
        let (_, og, kh, kw) = w.dims4().unwrap();
        let (ho, wo) = p.output_size(h, wd, kh, kw).unwrap();
        let cg = cin / p.groups;
        let cout = og * p.groups;
        let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let wv = w.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let mut y = vec![0.0; n * cout * ho * wo];
        if let Some(b) = b {
            let bv = b.to_vec1::<f64>().unwrap();
            for (i, v) in y.iter_mut().enumerate() {
                *v = bv[(i / (ho * wo)) % cout];
            }
        }
        for b in 0..n {
            for ci in 0..cin {
                let grp = ci / cg;
                for o in 0..og {
                    let co = grp * og + o;
                    for ih in 0..h {
                        for iw in 0..wd {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let oy = (ih * p.stride.0 + ki * p.dilation.0) as isize
                                        - p.padding.0 as isize;
                                    let ox = (iw * p.stride.1 + kj * p.dilation.1) as isize
                                        - p.padding.1 as isize;
                                    if oy < 0 || ox < 0 || oy >= ho as isize || ox >= wo as isize {
                                        continue;
                                    }
                                    y[((b * cout + co) * ho + oy as usize) * wo + ox as usize] += xv
                                        [((b * cin + ci) * h + ih) * wd + iw]
                                        * wv[((ci * og + o) * kh + ki) * kw + kj];
                                }
                            }
                        }
                    }
                }
            }
        }
        y
    }

    fn cases() -> Vec<(Vec<usize>, Vec<usize>, ConvTranspose2dParams)> {
        vec![
            (vec![2, 3, 4, 5], vec![3, 2, 3, 3], sq(1, 0, 0, 1, 1)),
            (vec![2, 3, 4, 5], vec![3, 4, 3, 3], sq(2, 1, 1, 1, 1)),
            (vec![1, 4, 5, 4], vec![4, 3, 4, 4], sq(2, 1, 0, 1, 2)),
            (vec![2, 4, 3, 4], vec![4, 1, 3, 3], sq(2, 1, 1, 1, 4)),
            (vec![1, 3, 4, 3], vec![3, 2, 3, 3], sq(3, 2, 2, 1, 3)),
            (vec![1, 2, 4, 4], vec![2, 3, 3, 3], sq(1, 1, 1, 2, 1)),
            (vec![2, 2, 3, 3], vec![2, 2, 2, 2], sq(2, 0, 1, 2, 2)),
            (
                vec![1, 2, 3, 4],
                vec![2, 3, 2, 3],
                ConvTranspose2dParams {
                    stride: (2, 1),
                    padding: (1, 0),
                    output_padding: (1, 0),
                    dilation: (1, 2),
                    groups: 1,
                },
            ),
            (vec![2, 5, 4, 4], vec![5, 3, 1, 1], sq(1, 0, 0, 1, 1)),
        ]
    }

    #[test]
    fn forward_matches_the_definition() {
        for (i, (xs, ws, p)) in cases().into_iter().enumerate() {
            let x = rand(&xs, i as u64, DType::F64);
            let w = rand(&ws, 40 + i as u64, DType::F64);
            let cout = ws[1] * p.groups;
            let b = rand(&[cout], 80 + i as u64, DType::F64);
            let y = conv_transpose2d(&x, &w, Some(&b), p).unwrap();
            let want = naive(&x, &w, Some(&b), &p);
            let got = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(got.len(), want.len(), "case {i}");
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "case {i}: {a} vs {b}");
            }
            // f32 kernels agree with f64.
            let y32 = conv_transpose2d(
                &x.to_dtype(DType::F32).unwrap(),
                &w.to_dtype(DType::F32).unwrap(),
                Some(&b.to_dtype(DType::F32).unwrap()),
                p,
            )
            .unwrap();
            let got32 = y32.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (a, b) in got32.iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-4, "case {i} f32: {a} vs {b}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (i, (xs, ws, p)) in cases().into_iter().enumerate() {
            let cout = ws[1] * p.groups;
            let r = check(
                |t| conv_transpose2d(&t[0], &t[1], Some(&t[2]), p),
                &[
                    rand(&xs, i as u64, DType::F64),
                    rand(&ws, 40 + i as u64, DType::F64),
                    rand(&[cout], 80 + i as u64, DType::F64),
                ],
                60,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "case {i} {p:?}: {r:?}");
        }
    }

    #[test]
    fn candle_matches_where_it_is_used_off_the_cpu() {
        // The cases `candle_support` lets through: candle's forward and backward agree
        // with this op.
        for (i, (xs, ws, p)) in cases().into_iter().enumerate() {
            if !matches!(candle_support(&p), Candle::Trainable) {
                continue;
            }
            let x = Var::from_tensor(&rand(&xs, i as u64, DType::F64)).unwrap();
            let w = Var::from_tensor(&rand(&ws, 40 + i as u64, DType::F64)).unwrap();
            let b = Var::from_tensor(&rand(&[ws[1]], 80 + i as u64, DType::F64)).unwrap();
            let mut res = Vec::new();
            for theirs in [false, true] {
                let y = if theirs {
                    candle_conv_transpose2d(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), &p)
                } else {
                    conv_transpose2d(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), p)
                }
                .unwrap();
                let r = rand(y.dims(), 7, DType::F64);
                let g = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
                let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                res.push(vec![
                    flat(&y),
                    flat(g.get(x.as_tensor()).unwrap()),
                    flat(g.get(w.as_tensor()).unwrap()),
                    flat(g.get(b.as_tensor()).unwrap()),
                ]);
            }
            for (k, (a, b)) in res[0].iter().zip(&res[1]).enumerate() {
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() < 1e-10, "case {i} part {k}: {u} vs {v}");
                }
            }
        }
        assert!(matches!(
            candle_support(&sq(2, 1, 1, 1, 1)),
            Candle::ForwardOnly(_)
        ));
        assert!(matches!(
            candle_support(&sq(1, 0, 0, 1, 2)),
            Candle::Missing(_)
        ));
    }

    #[test]
    fn frozen_weight_and_input_get_no_gradient() {
        let x = Var::from_tensor(&rand(&[1, 2, 3, 3], 1, DType::F64)).unwrap();
        let w = rand(&[2, 2, 3, 3], 2, DType::F64);
        let g = conv_transpose2d(x.as_tensor(), &w, None, sq(2, 1, 1, 1, 1))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(x.as_tensor()).is_some() && g.get(&w).is_none());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = rand(&[1, 4, 3, 3], 1, DType::F64);
        let w = rand(&[4, 2, 3, 3], 2, DType::F64);
        assert!(conv_transpose2d(&x, &w, None, sq(1, 0, 0, 1, 1)).is_ok());
        // output padding not below stride or dilation
        assert!(conv_transpose2d(&x, &w, None, sq(2, 0, 2, 1, 1)).is_err());
        // groups must divide C_in
        assert!(conv_transpose2d(&x, &w, None, sq(1, 0, 0, 1, 3)).is_err());
        // weight's C_in mismatch
        assert!(conv_transpose2d(
            &x,
            &rand(&[3, 2, 3, 3], 3, DType::F64),
            None,
            sq(1, 0, 0, 1, 1)
        )
        .is_err());
        // bias of the wrong length
        let b = rand(&[3], 4, DType::F64);
        assert!(conv_transpose2d(&x, &w, Some(&b), sq(1, 0, 0, 1, 1)).is_err());
        // padding that eats the output
        assert!(conv_transpose2d(
            &x,
            &rand(&[4, 2, 1, 1], 5, DType::F64),
            None,
            sq(1, 2, 0, 1, 1)
        )
        .is_err());
        assert!(conv_transpose2d(
            &rand(&[4, 3, 3], 1, DType::F64),
            &w,
            None,
            sq(1, 0, 0, 1, 1)
        )
        .is_err());
        assert!(conv_transpose2d(
            &x,
            &w.to_dtype(DType::F32).unwrap(),
            None,
            sq(1, 0, 0, 1, 1)
        )
        .is_err());
    }
}
