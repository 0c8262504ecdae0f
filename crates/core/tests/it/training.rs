//! Determinism and checkpointing of a small training run, end to end:
//! seeded init + seeded dropout + seeded batches + Adam give bit-identical weights for the
//! same seed, and a run resumed from a checkpoint equals an uninterrupted run.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{linear, Linear, VarMap};
use candor_core::checkpoint::{load_training, load_varmap, save_training, save_varmap};
use candor_core::data::shuffled_batches;
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::rng::dropout;
use candor_core::SeededRng;

struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn new(vm: &VarMap, seed: u64) -> Mlp {
        let vb = seeded_var_builder(vm, seed, DType::F32, &Device::Cpu);
        Mlp {
            l1: linear(4, 16, vb.pp("l1")).unwrap(),
            l2: linear(16, 3, vb.pp("l2")).unwrap(),
        }
    }
    fn forward(&self, x: &Tensor, rng: &mut SeededRng) -> Tensor {
        let h = self.l1.forward(x).unwrap().relu().unwrap();
        let h = dropout(&h, 0.2, rng).unwrap();
        self.l2.forward(&h).unwrap()
    }
}

fn data(seed: u64) -> (Tensor, Tensor) {
    let mut r = SeededRng::new(seed);
    let x = r
        .normal_tensor(0.0, 1.0, (64, 4), DType::F32, &Device::Cpu)
        .unwrap();
    let xv = x.to_vec2::<f32>().unwrap();
    let y: Vec<u32> = xv
        .iter()
        .map(|r| {
            if r[0] + r[1] > 0.5 {
                0
            } else if r[2] > 0.0 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, Tensor::new(y, &Device::Cpu).unwrap())
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct State {
    epoch: usize,
    rng_seed: u64,
}

/// Train `epochs` epochs from `start_epoch`; the per-epoch RNG is derived from
/// (seed, epoch), so a resumed run draws exactly what the uninterrupted run drew.
fn train(model: &Mlp, opt: &mut Adam, seed: u64, start_epoch: usize, epochs: usize) -> Vec<f32> {
    let (x, y) = data(99);
    let mut losses = Vec::new();
    for epoch in start_epoch..start_epoch + epochs {
        let mut rng = SeededRng::derive(seed, &format!("epoch{epoch}"));
        for b in shuffled_batches(64, 16, false, &mut rng).unwrap() {
            let idx = Tensor::new(
                b.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                &Device::Cpu,
            )
            .unwrap();
            let xb = x.index_select(&idx, 0).unwrap();
            let yb = y.index_select(&idx, 0).unwrap();
            let logits = model.forward(&xb, &mut rng);
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
            let loss = candle_nn::loss::nll(&logp, &yb).unwrap();
            losses.push(loss.to_scalar::<f32>().unwrap());
            opt.backward_step(&loss).unwrap();
        }
    }
    losses
}

fn weights(vm: &VarMap) -> Vec<(String, Vec<f32>)> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

fn setup(seed: u64) -> (VarMap, Mlp, Adam) {
    let vm = VarMap::new();
    let model = Mlp::new(&vm, seed);
    let vars = sorted_vars(&vm).into_iter().map(|(_, v)| v).collect();
    let opt = Adam::new(
        vars,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )
    .unwrap();
    (vm, model, opt)
}

#[test]
fn same_seed_gives_identical_weights_and_loss_falls() {
    let (vm_a, ma, mut oa) = setup(5);
    let la = train(&ma, &mut oa, 5, 0, 20);
    let (vm_b, mb, mut ob) = setup(5);
    let lb = train(&mb, &mut ob, 5, 0, 20);
    assert_eq!(la, lb);
    assert_eq!(weights(&vm_a), weights(&vm_b));
    let first: f32 = la[..4].iter().sum::<f32>() / 4.0;
    let last: f32 = la[la.len() - 4..].iter().sum::<f32>() / 4.0;
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    let (vm_c, mc, mut oc) = setup(6);
    train(&mc, &mut oc, 6, 0, 20);
    assert_ne!(weights(&vm_a), weights(&vm_c));
}

#[test]
fn resumed_training_equals_uninterrupted() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck.safetensors");

    let (vm_full, m, mut o) = setup(1);
    train(&m, &mut o, 1, 0, 6);

    let (vm_half, m, mut o) = setup(1);
    train(&m, &mut o, 1, 0, 3);
    save_training(
        &ck,
        &vm_half,
        &o,
        &State {
            epoch: 3,
            rng_seed: 1,
        },
    )
    .unwrap();
    drop((vm_half, m, o));

    // A fresh process: build the model with another seed, then restore.
    let (vm_res, m, mut o) = setup(777);
    let st: State = load_training(&ck, &vm_res, &mut o).unwrap();
    assert_eq!(
        st,
        State {
            epoch: 3,
            rng_seed: 1
        }
    );
    train(&m, &mut o, st.rng_seed, st.epoch, 3);
    assert_eq!(weights(&vm_full), weights(&vm_res));
}

#[test]
fn varmap_roundtrip_and_bad_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let (vm, _, _) = setup(3);
    save_varmap(&vm, &p).unwrap();
    let (vm2, _, _) = setup(4);
    assert_ne!(weights(&vm), weights(&vm2));
    load_varmap(&vm2, &p).unwrap();
    assert_eq!(weights(&vm), weights(&vm2));

    // Another architecture: a clear error naming the variable, nothing overwritten.
    let other = VarMap::new();
    let vb = seeded_var_builder(&other, 0, DType::F32, &Device::Cpu);
    linear(4, 8, vb.pp("l1")).unwrap();
    let before = weights(&other);
    let e = load_varmap(&other, &p).unwrap_err().to_string();
    assert!(e.contains("l1.weight") || e.contains("l1"), "{e}");
    assert_eq!(weights(&other), before);

    // Corrupt and missing files.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let e = load_varmap(&vm, &bad).unwrap_err().to_string();
    assert!(e.contains("bad.safetensors"), "{e}");
    assert!(load_varmap(&vm, dir.path().join("none.safetensors")).is_err());
    // A plain weights file is not a training checkpoint.
    let (vm3, _, mut o3) = setup(3);
    assert!(load_training::<State>(&p, &vm3, &mut o3).is_err());
}

#[test]
fn a_two_part_checkpoint_restores_both_models_and_optimisers() {
    use candor_core::checkpoint::{load_training_parts, save_training_parts};
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("gan.ckpt");
    // Two models trained a few epochs, each with its own Adam.
    let (vm_g, mg, mut og) = setup(1);
    let (vm_d, md, mut od) = setup(2);
    train(&mg, &mut og, 1, 0, 2);
    train(&md, &mut od, 2, 0, 2);
    save_training_parts(&ck, &[("g", &vm_g, &og), ("d", &vm_d, &od)], &7usize).unwrap();
    train(&mg, &mut og, 1, 2, 2);
    train(&md, &mut od, 2, 2, 2);

    let (vm_g2, mg2, mut og2) = setup(8);
    let (vm_d2, md2, mut od2) = setup(9);
    let state: usize =
        load_training_parts(&ck, &mut [("g", &vm_g2, &mut og2), ("d", &vm_d2, &mut od2)]).unwrap();
    assert_eq!(state, 7);
    train(&mg2, &mut og2, 1, 2, 2);
    train(&md2, &mut od2, 2, 2, 2);
    assert_eq!(weights(&vm_g), weights(&vm_g2));
    assert_eq!(weights(&vm_d), weights(&vm_d2));
    // Each part's numbers go to the model loaded under its name.
    let (vm_x, _, mut ox) = setup(8);
    let (vm_y, _, mut oy) = setup(9);
    let _: usize =
        load_training_parts(&ck, &mut [("d", &vm_x, &mut ox), ("g", &vm_y, &mut oy)]).unwrap();
    let (vm_p, _, mut op) = setup(5);
    let _: usize = load_training_parts(&ck, &mut [("g", &vm_p, &mut op)]).unwrap();
    assert_eq!(weights(&vm_y), weights(&vm_p));
    assert_ne!(weights(&vm_x), weights(&vm_p));
    // Duplicate or slashed names are refused; a missing part is an error.
    assert!(save_training_parts(&ck, &[("g", &vm_g, &og), ("g", &vm_d, &od)], &0usize).is_err());
    assert!(save_training_parts(&ck, &[("a/b", &vm_g, &og)], &0usize).is_err());
    let (vm_z, _, mut oz) = setup(3);
    assert!(load_training_parts::<usize>(&ck, &mut [("h", &vm_z, &mut oz)]).is_err());
}

#[test]
fn extra_tensors_travel_beside_the_parts() {
    use candor_core::checkpoint::{load_training_extra, load_training_parts, save_training_extra};
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("rl.ckpt");
    let (vm, m, mut o) = setup(1);
    train(&m, &mut o, 1, 0, 2);
    let dev = candle_core::Device::Cpu;
    let extra = vec![
        (
            "buffer/obs".to_string(),
            candle_core::Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &dev).unwrap(),
        ),
        (
            "ring".to_string(),
            candle_core::Tensor::new(&[2u32, 0], &dev).unwrap(),
        ),
    ];
    save_training_extra(&ck, &[("net", &vm, &o)], &extra, &"s".to_string()).unwrap();

    let (vm2, _, mut o2) = setup(4);
    let (state, got): (String, _) =
        load_training_extra(&ck, &mut [("net", &vm2, &mut o2)]).unwrap();
    assert_eq!(state, "s");
    assert_eq!(weights(&vm), weights(&vm2));
    let mut names: Vec<&String> = got.keys().collect();
    names.sort();
    assert_eq!(names, ["buffer/obs", "ring"]);
    assert_eq!(
        got["buffer/obs"].to_vec2::<f32>().unwrap(),
        [[1.0, 2.0], [3.0, 4.0]]
    );
    assert_eq!(got["ring"].to_vec1::<u32>().unwrap(), [2, 0]);
    // A reader of the parts alone ignores the extras.
    let (vm3, _, mut o3) = setup(5);
    let s: String = load_training_parts(&ck, &mut [("net", &vm3, &mut o3)]).unwrap();
    assert_eq!(s, "s");
    assert_eq!(weights(&vm), weights(&vm3));
}
