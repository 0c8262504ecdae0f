//! The same seed gives the same bits on any thread count (issue 17, part 4).
//!
//! A small network with every op whose kernels reduce across a parallel split (dense and
//! depthwise convolution weight gradients, batch-norm statistics, linear layers through
//! the `gemm` crate with a thread count, column sums for bias gradients, layer norm) is
//! trained for a few Adam steps inside rayon pools of 1, 2, 3 and 4 threads (more threads
//! than cores is fine: what matters is how the work is split, not how it is scheduled).
//! The weights after training must be bit-identical.

use candle_core::{DType, Device, Module, ModuleT, Tensor, D};
use candle_nn::VarMap;
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::nn::{
    batch_norm2d, conv2d, layer_norm, linear, separable_conv2d, BatchNorm2d, BatchNormConfig,
    Conv2d, Conv2dConfig, LayerNorm, Linear, MaxPool2d, SeparableConv2d,
};
use candor_core::ops::Pool2dParams;
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::SeededRng;

struct Net {
    conv: Conv2d,
    bn: BatchNorm2d,
    sep: SeparableConv2d,
    fc: Linear,
    ln: LayerNorm,
    head: candle_nn::Linear,
}

impl Net {
    fn new(vm: &VarMap) -> Net {
        let vb = seeded_var_builder(vm, 11, DType::F32, &Device::Cpu);
        let pad1 = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Net {
            conv: conv2d(3, 8, 3, pad1, vb.pp("conv")).unwrap(),
            bn: batch_norm2d(8, BatchNormConfig::default(), vb.pp("bn")).unwrap(),
            sep: separable_conv2d(8, 16, 3, pad1, vb.pp("sep")).unwrap(),
            fc: linear(16 * 4 * 4, 32, vb.pp("fc")).unwrap(),
            ln: layer_norm(&[32], 1e-5, vb.pp("ln")).unwrap(),
            // candle's own Linear: its matmul is candle's gemm call.
            head: candle_nn::linear(32, 5, vb.pp("head")).unwrap(),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.conv.forward(x).unwrap();
        let h = self.bn.forward_t(&h, true).unwrap().relu().unwrap();
        let h = self.sep.forward(&h).unwrap().relu().unwrap();
        let h = MaxPool2d(Pool2dParams::new(2, 2, 0)).forward(&h).unwrap();
        let h = h.flatten_from(1).unwrap();
        let h = self.fc.forward(&h).unwrap();
        let h = self.ln.forward(&h).unwrap().tanh().unwrap();
        self.head.forward(&h).unwrap()
    }
}

/// Bits of every variable after three Adam steps on a fixed batch of 7 images (odd, so
/// that no thread count divides the batch evenly).
fn train_bits() -> Vec<(String, Vec<u32>)> {
    let vm = VarMap::new();
    let net = Net::new(&vm);
    let vars = sorted_vars(&vm).into_iter().map(|(_, v)| v).collect();
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut rng = SeededRng::new(3);
    let x = rng
        .normal_tensor(0.0, 1.0, (7, 3, 8, 8), DType::F32, &Device::Cpu)
        .unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 3, 4, 0, 1], &Device::Cpu).unwrap();
    for _ in 0..3 {
        let logits = net.forward(&x);
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
        let loss = candle_nn::loss::nll(&logp, &y).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let mut out: Vec<(String, Vec<u32>)> = sorted_vars(&vm)
        .into_iter()
        .map(|(n, v)| {
            let bits = v
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(f32::to_bits)
                .collect();
            (n, bits)
        })
        .collect();
    // Running statistics are buffers, not variables: compare them too.
    for (name, t) in [
        ("bn.running_mean", net.bn.running_mean()),
        ("bn.running_var", net.bn.running_var()),
    ] {
        let bits = t
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(f32::to_bits)
            .collect();
        out.push((name.to_string(), bits));
    }
    out
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn training_is_bit_identical_on_1_2_3_and_4_threads() {
    let one = in_pool(1, train_bits);
    for t in [2, 3, 4] {
        let other = in_pool(t, train_bits);
        assert_eq!(one.len(), other.len());
        for ((name, a), (_, b)) in one.iter().zip(&other) {
            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
            assert_eq!(
                differ,
                0,
                "{name}: {differ} of {} values differ between 1 and {t} threads",
                a.len()
            );
        }
    }
}

/// Bits of the gradients of large products, where `gemm` splits its work over threads
/// and the convolution's weight gradient has more images than parts.
fn large_op_grad_bits() -> Vec<Vec<u32>> {
    use candor_core::ops::{self, Activation, Conv2dParams};
    let mut rng = SeededRng::new(8);
    let dev = Device::Cpu;
    let x = candle_core::Var::from_tensor(
        &rng.normal_tensor(0.0, 1.0, (96, 300), DType::F32, &dev)
            .unwrap(),
    )
    .unwrap();
    let w = candle_core::Var::from_tensor(
        &rng.normal_tensor(0.0, 0.1, (200, 300), DType::F32, &dev)
            .unwrap(),
    )
    .unwrap();
    let b =
        candle_core::Var::from_tensor(&rng.normal_tensor(0.0, 0.1, 200, DType::F32, &dev).unwrap())
            .unwrap();
    let img = rng
        .normal_tensor(0.0, 1.0, (37, 4, 12, 12), DType::F32, &dev)
        .unwrap();
    let k = candle_core::Var::from_tensor(
        &rng.normal_tensor(0.0, 0.2, (6, 4, 3, 3), DType::F32, &dev)
            .unwrap(),
    )
    .unwrap();
    let y = ops::linear(&x, &w, Some(&b), Activation::Relu).unwrap();
    let c = ops::conv2d(&img, &k, Conv2dParams::default()).unwrap();
    let loss = (y.sqr().unwrap().sum_all().unwrap() + c.sqr().unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    [x.as_tensor(), w.as_tensor(), b.as_tensor(), k.as_tensor()]
        .iter()
        .map(|v| {
            grads
                .get(v)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(f32::to_bits)
                .collect()
        })
        .collect()
}

#[test]
fn large_op_gradients_are_bit_identical_on_1_2_and_3_threads() {
    let one = in_pool(1, large_op_grad_bits);
    for t in [2, 3] {
        assert!(
            one == in_pool(t, large_op_grad_bits),
            "differ on {t} threads"
        );
    }
}
