//! candor-core's convolution, pooling, upsampling and group-norm ops against stock candle 0.11,
//! side by side: `cargo bench -p candor-benches --bench ops`.
//!
//! Each group has the function ids `candor` and (where candle has the op, with a
//! backward pass where the group times one) `candle`; the parameter is the input shape.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use candor_core::init::seeded_var_builder;
use candor_core::nn::{conv2d, linear, Conv2d, Conv2dConfig, Linear};
use candor_core::ops::{self, Pool2dParams};
use candor_core::SeededRng;
use criterion::{criterion_group, BenchmarkId, Criterion};

const SHAPE: &str = "16x64x32x32";

fn randn(shape: &[usize], seed: u64) -> Tensor {
    SeededRng::new(seed)
        .normal_tensor(0.0, 1.0, shape, DType::F32, &Device::Cpu)
        .unwrap()
}

fn conv_groups(c: &mut Criterion, name_fwd: &str, name_bwd: &str, groups: usize) {
    let x = Var::from_tensor(&randn(&[16, 64, 32, 32], 0)).unwrap();
    let w = Var::from_tensor(&randn(&[64, 64 / groups, 3, 3], 1)).unwrap();
    let r = randn(&[16, 64, 32, 32], 2);
    let p = Conv2dConfig {
        padding: 1,
        groups,
        ..Default::default()
    }
    .params();

    let mut g = c.benchmark_group(name_fwd);
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| ops::conv2d(x.as_tensor(), w.as_tensor(), p).unwrap())
    });
    g.bench_with_input(BenchmarkId::new("candle", SHAPE), &(), |b, _| {
        b.iter(|| {
            x.as_tensor()
                .conv2d(w.as_tensor(), 1, 1, 1, groups)
                .unwrap()
        })
    });
    g.finish();

    // Through the loss Σ y·r: candor's one-node `ops::dot` (`candor`), and candle's
    // product and sum nodes above candor's convolution (`candor_mul_sum`), whose backward
    // computes a gradient for the constant `r` and zero-fills every first gradient.
    let mut g = c.benchmark_group(name_bwd);
    let y = ops::conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
    let loss = ops::dot(&y, &r).unwrap();
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| loss.backward().unwrap())
    });
    let loss = y.mul(&r).unwrap().sum_all().unwrap();
    g.bench_with_input(BenchmarkId::new("candor_mul_sum", SHAPE), &(), |b, _| {
        b.iter(|| loss.backward().unwrap())
    });
    let loss = x
        .as_tensor()
        .conv2d(w.as_tensor(), 1, 1, 1, groups)
        .unwrap()
        .mul(&r)
        .unwrap()
        .sum_all()
        .unwrap();
    g.bench_with_input(BenchmarkId::new("candle", SHAPE), &(), |b, _| {
        b.iter(|| loss.backward().unwrap())
    });
    g.finish();

    // Through autograd from the output gradient `r` (PyTorch's `y.backward(r)`): the same
    // gradients as the loss above without a loss node.
    let mut g = c.benchmark_group(format!("{name_bwd}_seeded"));
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| ops::backward_from(&y, &r).unwrap())
    });
    g.finish();

    // The backward alone, without candle's autograd (its zero-filled gradient buffers and
    // additions, the loss's own nodes): `r` is the output gradient of the loss above.
    let mut g = c.benchmark_group(format!("{name_bwd}_op"));
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| ops::conv2d_backward(x.as_tensor(), w.as_tensor(), &r, p).unwrap())
    });
    g.finish();
}

fn bench_conv(c: &mut Criterion) {
    conv_groups(c, "conv2d_fwd", "conv2d_bwd", 1);
    conv_groups(c, "depthwise_fwd", "depthwise_bwd", 64);
}

/// Forward + backward of the convolution layouts beside the 3×3 stride-1 one: a pix2pix
/// 4×4 stride-2 down-sampling (the phase-split implicit im2col), a 3×3 stride-2 layer, a
/// 3×3 on 4×4 maps (one product over the batch), a 7×7 with one output channel (ResNet-9's
/// last layer) and EfficientNet's 5×5 stride-2 depthwise layer (the depthwise phase
/// planes), a grouped 3×3 (Winograd per group) and the dense 3×3 layer on the direct path
/// (`ConvAlgorithm::Direct`). candor only.
fn bench_conv_layouts(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv2d_layouts_fwdbwd");
    for (name, xs, ws, stride, padding, groups) in [
        (
            "4x4s2/16x64x32x32",
            [16, 64, 32, 32],
            [128, 64, 4, 4],
            2,
            1,
            1,
        ),
        // The small ConvNet's last layer: a 3×3 stride-2 product over the phase planes
        // (its 16-wide output rows without the planes' extra column).
        (
            "3x3s2/16x64x32x32",
            [16, 64, 32, 32],
            [128, 64, 3, 3],
            2,
            1,
            1,
        ),
        (
            "3x3_small_map/16x256x4x4",
            [16, 256, 4, 4],
            [256, 256, 3, 3],
            1,
            1,
            1,
        ),
        // One output channel (a net's output layer: the narrow tiles and, in the weight
        // gradient, a kernel row's taps per register).
        (
            "7x7_one_out/8x8x128x128",
            [8, 8, 128, 128],
            [1, 8, 7, 7],
            1,
            3,
            1,
        ),
        (
            "dw5x5s2/8x144x32x32",
            [8, 144, 32, 32],
            [144, 1, 5, 5],
            2,
            2,
            144,
        ),
        // MAT's dense-block layer: 8 groups of 24 → 24, Winograd per group.
        (
            "3x3_grouped/8x192x32x32",
            [8, 192, 32, 32],
            [192, 24, 3, 3],
            1,
            1,
            8,
        ),
        // The conv bench's layer on the direct path (im2col products over phase planes),
        // which the layers Winograd does not take still run.
        (
            "3x3_direct/16x64x32x32",
            [16, 64, 32, 32],
            [64, 64, 3, 3],
            1,
            1,
            1,
        ),
    ] {
        let x = Var::from_tensor(&randn(&xs, 0)).unwrap();
        let w = Var::from_tensor(&randn(&ws, 1)).unwrap();
        let p = Conv2dConfig {
            padding,
            stride,
            groups,
            ..Default::default()
        }
        .params();
        if name.starts_with("3x3_direct") {
            ops::set_conv_algorithm(ops::ConvAlgorithm::Direct);
        }
        g.bench_function(BenchmarkId::new("candor", name), |b| {
            b.iter(|| {
                let y = ops::conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
                y.sum_all().unwrap().backward().unwrap()
            })
        });
        ops::set_conv_algorithm(ops::ConvAlgorithm::Auto);
    }
    g.finish();
}

/// SiLU forward + backward (EfficientNet's activation; the vectorised `exp`).
fn bench_silu(c: &mut Criterion) {
    let x = Var::from_tensor(&randn(&[16, 64, 32, 32], 4)).unwrap();
    let mut g = c.benchmark_group("silu_fwdbwd");
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| {
            let y = ops::silu(x.as_tensor()).unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
}

fn bench_pool_upsample(c: &mut Criterion) {
    let x = Var::from_tensor(&randn(&[16, 64, 32, 32], 3)).unwrap();
    let mut g = c.benchmark_group("maxpool3s2_fwdbwd");
    // candle 0.11 has no backward for a 3×3/2 max-pool: candor only.
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| {
            let y = ops::max_pool2d(x.as_tensor(), Pool2dParams::new(3, 2, 1)).unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("upsample_bilinear_fwdbwd");
    // candle 0.11 has no backward for bilinear upsampling: candor only.
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| {
            let y = ops::upsample_bilinear2d(x.as_tensor(), 64, 64, false).unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
    // GroupNorm (4 groups) with a trainable weight and bias, forward and backward: the
    // fused kernel of `ops::groupnorm` (candle has no group norm of its own).
    let w = Var::from_tensor(&randn(&[64], 4)).unwrap();
    let bias = Var::from_tensor(&randn(&[64], 5)).unwrap();
    let mut g = c.benchmark_group("group_norm_fwdbwd");
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| {
            let y = ops::group_norm(
                x.as_tensor(),
                4,
                Some(w.as_tensor()),
                Some(bias.as_tensor()),
                1e-5,
            )
            .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
    // Training-mode batch norm + ReLU as one op (`ops::batch_norm_train_act`), forward and
    // backward: on feature maps (the per-plane kernels) and on PointNet's (B·N, C) rows
    // (the row kernels).
    let mut g = c.benchmark_group("batch_norm_relu_fwdbwd");
    let rows = Var::from_tensor(&randn(&[32 * 1024, 64], 6)).unwrap();
    for (label, input) in [(SHAPE, &x), ("32768x64", &rows)] {
        g.bench_with_input(BenchmarkId::new("candor", label), &(), |b, _| {
            b.iter(|| {
                let (y, _, _) = ops::batch_norm_train_act(
                    input.as_tensor(),
                    Some(w.as_tensor()),
                    Some(bias.as_tensor()),
                    1e-5,
                    ops::Activation::Relu,
                )
                .unwrap();
                y.sum_all().unwrap().backward().unwrap()
            })
        });
    }
    g.finish();
    // Batch norm + SiLU fused (EfficientNet's pairs): the backward's extra pass turns dy
    // into SiLU's gradient from the recomputed input.
    let mut g = c.benchmark_group("batch_norm_silu_fwdbwd");
    g.bench_with_input(BenchmarkId::new("candor", SHAPE), &(), |b, _| {
        b.iter(|| {
            let (y, _, _) = ops::batch_norm_train_act(
                x.as_tensor(),
                Some(w.as_tensor()),
                Some(bias.as_tensor()),
                1e-5,
                ops::Activation::Silu,
            )
            .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
}

/// The small ConvNet of the core-ops issue: 16×3×64×64; convs 3→32→64/2→128/2, ReLU,
/// global average pooling, a linear head; cross-entropy; AdamW.
trait Net {
    fn logits(&self, x: &Tensor) -> Tensor;
}

struct CandorNet {
    convs: Vec<Conv2d>,
    fc: Linear,
}

impl CandorNet {
    fn new(vb: VarBuilder) -> Self {
        let mk = |i: usize, ci, co, s| {
            let cfg = Conv2dConfig {
                stride: s,
                padding: 1,
                ..Default::default()
            };
            conv2d(ci, co, 3, cfg, vb.pp(format!("c{i}"))).unwrap()
        };
        Self {
            convs: vec![mk(0, 3, 32, 1), mk(1, 32, 64, 2), mk(2, 64, 128, 2)],
            fc: linear(128, 10, vb.pp("fc")).unwrap(),
        }
    }
}

impl Net for CandorNet {
    fn logits(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for c in &self.convs {
            h = c.forward_act(&h, ops::Activation::Relu).unwrap();
        }
        self.fc.forward(&h.mean((2, 3)).unwrap()).unwrap()
    }
}

struct CandleNet {
    convs: Vec<candle_nn::Conv2d>,
    fc: candle_nn::Linear,
}

impl CandleNet {
    fn new(vb: VarBuilder) -> Self {
        let mk = |i: usize, ci, co, s| {
            let cfg = candle_nn::Conv2dConfig {
                padding: 1,
                stride: s,
                ..Default::default()
            };
            candle_nn::conv2d(ci, co, 3, cfg, vb.pp(format!("c{i}"))).unwrap()
        };
        Self {
            convs: vec![mk(0, 3, 32, 1), mk(1, 32, 64, 2), mk(2, 64, 128, 2)],
            fc: candle_nn::linear(128, 10, vb.pp("fc")).unwrap(),
        }
    }
}

impl Net for CandleNet {
    fn logits(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for c in &self.convs {
            h = c.forward(&h).unwrap().relu().unwrap();
        }
        self.fc.forward(&h.mean((2, 3)).unwrap()).unwrap()
    }
}

fn train_step(net: &dyn Net, opt: &mut candle_nn::AdamW, x: &Tensor, y: &Tensor) {
    let loss = candle_nn::loss::cross_entropy(&net.logits(x), y).unwrap();
    opt.backward_step(&loss).unwrap();
}

fn bench_convnet(c: &mut Criterion) {
    let x = randn(&[16, 3, 64, 64], 4);
    let y = Tensor::new((0..16u32).map(|i| i % 10).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let params = candle_nn::ParamsAdamW {
        lr: 1e-3,
        ..Default::default()
    };
    let mut g = c.benchmark_group("convnet_train_step");
    let vm = VarMap::new();
    let net = CandorNet::new(seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu));
    let mut opt = candle_nn::AdamW::new(vm.all_vars(), params.clone()).unwrap();
    g.bench_with_input(BenchmarkId::new("candor", "16x3x64x64"), &(), |b, _| {
        b.iter(|| train_step(&net, &mut opt, &x, &y))
    });
    let vm = VarMap::new();
    let net = CandleNet::new(seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu));
    let mut opt = candle_nn::AdamW::new(vm.all_vars(), params).unwrap();
    g.bench_with_input(BenchmarkId::new("candle", "16x3x64x64"), &(), |b, _| {
        b.iter(|| train_step(&net, &mut opt, &x, &y))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_conv,
    bench_conv_layouts,
    bench_silu,
    bench_pool_upsample,
    bench_convnet
);

fn main() {
    // Keep freed tensors' memory in the process (see candor_core::alloc); applies to the
    // candle baseline as much as to candor. CANDOR_NO_ALLOC_TUNING=1 measures without.
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    // On a rayon pool thread, as `cargo xtask reproduce` runs the papers (see
    // candor_core::threads): each kernel's caller takes its share of the work.
    candor_core::threads::on_pool(benches);
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
