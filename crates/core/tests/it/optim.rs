//! Public API of `candor_core::optim`: optimisers minimise a quadratic, a
//! checkpoint of the optimiser state written with safetensors resumes
//! bit-identically, schedules and target updates behave as documented.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Init, VarMap};
use candor_core::optim::{
    clip_grad_norm, hard_update, soft_update, sorted_vars, Adam, AdamConfig, AdamW, Optim, RmsProp,
    RmsPropConfig, Schedule, Sgd, SgdConfig,
};

/// Loss Σ (w − target)² over all parameters.
fn loss(vars: &[Var]) -> Tensor {
    let mut total: Option<Tensor> = None;
    for v in vars {
        let l = v
            .as_tensor()
            .affine(1.0, -3.0)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        total = Some(match total {
            None => l,
            Some(t) => t.add(&l).unwrap(),
        });
    }
    total.unwrap()
}

fn model(seed: f32) -> VarMap {
    let vm = VarMap::new();
    vm.get(
        (2, 3),
        "layer.w",
        Init::Const(seed as f64),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    vm.get(3, "layer.b", Init::Const(-1.0), DType::F32, &Device::Cpu)
        .unwrap();
    vm
}

fn params(vm: &VarMap) -> Vec<Var> {
    sorted_vars(vm).into_iter().map(|(_, v)| v).collect()
}

fn all_values(vm: &VarMap) -> Vec<u32> {
    sorted_vars(vm)
        .into_iter()
        .flat_map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .map(f32::to_bits)
        .collect()
}

fn optimisers(vars: Vec<Var>) -> Vec<Box<dyn Optim>> {
    vec![
        Box::new(
            Adam::new(
                vars.clone(),
                AdamConfig {
                    lr: 0.1,
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
        Box::new(
            AdamW::new(
                vars.clone(),
                AdamConfig {
                    lr: 0.1,
                    ..AdamConfig::adamw()
                },
            )
            .unwrap(),
        ),
        Box::new(
            Sgd::new(
                vars.clone(),
                SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: true,
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
        Box::new(
            RmsProp::new(
                vars,
                RmsPropConfig {
                    lr: 0.02,
                    momentum: 0.5,
                    centered: true,
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
    ]
}

#[test]
fn every_optimiser_minimises_a_quadratic() {
    for which in 0..4 {
        let vm = model(0.0);
        let vars = params(&vm);
        let mut opt = optimisers(vars.clone()).swap_remove(which);
        let start = loss(&vars).to_scalar::<f32>().unwrap();
        for _ in 0..200 {
            opt.backward_step(&loss(&vars)).unwrap();
        }
        let end = loss(&vars).to_scalar::<f32>().unwrap();
        assert!(end < 0.05 * start, "optimiser {which}: {start} -> {end}");
    }
}

#[test]
fn checkpoint_through_safetensors_resumes_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    for which in 0..4 {
        // uninterrupted: 10 steps
        let vm_a = model(0.5);
        let vars_a = params(&vm_a);
        let mut a = optimisers(vars_a.clone()).swap_remove(which);
        for _ in 0..10 {
            a.backward_step(&loss(&vars_a)).unwrap();
        }
        // interrupted after 4: save weights and optimiser state, restore into fresh objects
        let vm_b = model(0.5);
        let vars_b = params(&vm_b);
        let mut b = optimisers(vars_b.clone()).swap_remove(which);
        for _ in 0..4 {
            b.backward_step(&loss(&vars_b)).unwrap();
        }
        let path = dir.path().join(format!("opt{which}.safetensors"));
        let state: HashMap<String, Tensor> = b.state().into_iter().collect();
        candle_core::safetensors::save(&state, &path).unwrap();
        let weights = dir.path().join(format!("w{which}.safetensors"));
        vm_b.save(&weights).unwrap();

        let mut vm_c = model(0.0);
        vm_c.load(&weights).unwrap();
        let vars_c = params(&vm_c);
        let mut c = optimisers(vars_c.clone()).swap_remove(which);
        c.load_state(&candle_core::safetensors::load(&path, &Device::Cpu).unwrap())
            .unwrap();
        for _ in 4..10 {
            c.backward_step(&loss(&vars_c)).unwrap();
        }
        assert_eq!(all_values(&vm_a), all_values(&vm_c), "optimiser {which}");
    }
}

#[test]
fn clipping_schedules_and_target_updates() {
    let vm = model(0.0);
    let vars = params(&vm);
    let mut grads = loss(&vars).backward().unwrap();
    // gradients 2·(w − 3): 6 entries of −6 and 3 of −8 → norm √(6·36 + 3·64) = √408
    let total = clip_grad_norm(&vars, &mut grads, 1.0).unwrap();
    assert!((total - 408f64.sqrt()).abs() < 1e-4);
    let again = clip_grad_norm(&vars, &mut grads, 1e9).unwrap();
    assert!((again - 1.0).abs() < 1e-5);

    let cos = Schedule::Cosine {
        t_max: 10,
        eta_min: 0.0,
    };
    assert!((cos.lr_at(0.1, 5) - 0.05).abs() < 1e-12);
    let step = Schedule::Step {
        step_size: 2,
        gamma: 0.5,
    };
    assert_eq!(step.lr_at(1.0, 5), 0.25);

    let target = model(7.0);
    soft_update(&target, &vm, 0.5).unwrap();
    let w = sorted_vars(&target)[1]
        .1
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(w, vec![3.5; 6]);
    hard_update(&target, &vm).unwrap();
    assert_eq!(all_values(&target), all_values(&vm));
    let other = VarMap::new();
    other
        .get(3, "layer.b", Init::Const(0.0), DType::F32, &Device::Cpu)
        .unwrap();
    let e = hard_update(&target, &other).unwrap_err().to_string();
    assert!(e.contains("layer.w"), "{e}");
}
