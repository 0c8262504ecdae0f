//! Training checkpoints: the learner's checkpoint tensors (candor-rl-ddpg's networks and
//! Adams) continue its updates bit for bit, and a run stopped at a checkpoint and resumed ends with
//! exactly the bits of an uninterrupted run (issue 17, part 3).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};
use candor_core::checkpoint::load_tensors;
use candor_core::optim::sorted_vars;
use candor_core::SeededRng;
use candor_erl::steps::{learner_tensors, restore_learner};
use candor_erl::{rim_learner, Config, RunLog, Trainer, Variant};
use candor_rl::{Action, Agent, Registry, ReplayBuffer};
use candor_rl_ddpg::Ddpg;

/// The bits of every variable of `d`'s four networks.
fn ddpg_bits(d: &Ddpg) -> Vec<(String, Vec<u32>)> {
    d.var_maps()
        .iter()
        .enumerate()
        .flat_map(|(i, vm)| {
            sorted_vars(vm).into_iter().map(move |(n, v)| {
                let bits = v
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f32::to_bits)
                    .collect();
                (format!("{i}/{n}"), bits)
            })
        })
        .collect()
}

#[test]
fn learner_checkpoint_tensors_continue_ddpg_updates_bit_for_bit() {
    let mut cfg = rim_learner();
    cfg.actor.hidden = vec![16, 16];
    cfg.critic.hidden = vec![16, 16];
    let dev = Device::Cpu;
    let env = Registry::default().make("Pendulum-v1").unwrap();
    let mut buffer = ReplayBuffer::for_env(1000, env.as_ref()).unwrap();
    let mut rng = SeededRng::new(3);
    for _ in 0..200 {
        let obs: Vec<f32> = (0..3)
            .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        let next: Vec<f32> = (0..3)
            .map(|_| rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        let a = vec![rng.uniform_range(-1.0, 1.0) as f32];
        let done = rng.uniform() < 0.1;
        buffer
            .push(&obs, &Action::Continuous(a), rng.normal(), &next, done)
            .unwrap();
    }
    let mut reference = Ddpg::new(&cfg, 3, 1, 9, &dev).unwrap();
    let mut stopped = Ddpg::new(&cfg, 3, 1, 9, &dev).unwrap();
    let mut sample_rng = SeededRng::new(4);
    let batches: Vec<_> = (0..20)
        .map(|_| buffer.sample(32, &mut sample_rng, &dev).unwrap())
        .collect();
    for b in &batches[..10] {
        stopped.update(b).unwrap();
    }
    // Its networks and both Adams, copied out (as a checkpoint file holds them) …
    let saved: HashMap<_, _> = learner_tensors(&stopped)
        .into_iter()
        .map(|(n, t)| (n, t.copy().unwrap()))
        .collect();
    assert!(saved.keys().any(|k| k.starts_with("optim/actor/")));
    assert!(saved.keys().any(|k| k.starts_with("optim/critic/")));
    drop(stopped);
    // … restored into a fresh learner with another seed, which then continues.
    let mut resumed = Ddpg::new(&cfg, 3, 1, 10, &dev).unwrap();
    restore_learner(&mut resumed, &saved).unwrap();
    for (i, b) in batches.iter().enumerate() {
        let r = reference.update(b).unwrap();
        if i >= 10 {
            let o = resumed.update(b).unwrap();
            assert_eq!(r.scalars, o.scalars);
        }
    }
    assert_eq!(ddpg_bits(&reference), ddpg_bits(&resumed));
}

/// `log` without its wall-clock seconds (which differ between any two runs).
fn timeless(mut log: RunLog) -> RunLog {
    log.seconds = 0.0;
    log.rollout_seconds = 0.0;
    log.update_seconds = 0.0;
    log.imitation_seconds = 0.0;
    log
}

/// Every tensor of a checkpoint file, as bytes by name.
fn tensor_bytes(path: &Path) -> HashMap<String, Vec<u8>> {
    load_tensors(path, &Device::Cpu)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(n, t)| {
            let bytes = match t.dtype() {
                DType::F64 => t
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
                DType::U32 => t
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<u32>()
                    .unwrap()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
                DType::U8 => t.flatten_all().unwrap().to_vec1::<u8>().unwrap(),
                _ => t
                    .to_dtype(DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            };
            (n, bytes)
        })
        .collect()
}

fn tiny(variant: Variant) -> Config {
    let mut cfg = Config::tiny(variant, "Pendulum-v1").unwrap();
    cfg.pop_size = 4;
    cfg.max_frames = 4000;
    cfg.imitation.steps = 30;
    cfg.synch_period = 2;
    cfg.threads = 1;
    if variant != Variant::Ea {
        cfg.q_bias_states = 5;
    }
    cfg
}

/// Run `cfg` uninterrupted, and stopped after `stop` generations, saved, dropped and
/// resumed from the file; both must end with the same bits everywhere.
fn resume_is_exact(variant: Variant, stop: usize) {
    let cfg = tiny(variant);
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let seed = 21;

    let mut a = Trainer::new(&cfg, seed, &dev).unwrap();
    while !a.finished() {
        a.generation().unwrap();
    }

    let mut b = Trainer::new(&cfg, seed, &dev).unwrap();
    for _ in 0..stop {
        b.generation().unwrap();
    }
    let mid = dir.path().join("mid.ckpt");
    b.save_checkpoint(&mid).unwrap();
    drop(b);
    let mut c = Trainer::resume(&cfg, seed, &dev, &mid).unwrap();
    assert_eq!(c.log().generations.len(), stop);
    while !c.finished() {
        c.generation().unwrap();
    }
    assert!(
        a.log().generations.len() > stop,
        "the run must continue after the stop"
    );

    let (pa, pc) = (dir.path().join("a.ckpt"), dir.path().join("c.ckpt"));
    a.save_checkpoint(&pa).unwrap();
    c.save_checkpoint(&pc).unwrap();
    let (ta, tc) = (tensor_bytes(&pa), tensor_bytes(&pc));
    assert_eq!(
        ta.keys().collect::<std::collections::BTreeSet<_>>(),
        tc.keys().collect::<std::collections::BTreeSet<_>>()
    );
    for (name, bytes) in &ta {
        assert!(
            tc[name] == *bytes,
            "{variant}: tensor {name} differs after resume"
        );
    }
    let (la, lc) = (timeless(a.run().unwrap()), timeless(c.run().unwrap()));
    assert_eq!(la, lc, "{variant}: logs differ after resume");
    if variant != Variant::Ea {
        assert!(la.q_bias.is_some() && la.updates > 0);
    }
}

#[test]
fn a_resumed_rim_run_equals_an_uninterrupted_one_bit_for_bit() {
    // Stopped after generation 2: past warm-up, an imitation (RL episode 1) and a copy
    // (episode 2) behind it, more of both ahead.
    resume_is_exact(Variant::Rim, 2);
}

#[test]
fn a_resumed_erl_run_equals_an_uninterrupted_one_bit_for_bit() {
    // ERL explores with OU noise: the resumed process continues the noise stream.
    resume_is_exact(Variant::Erl, 2);
}

#[test]
fn a_resumed_ea_and_ddpg_run_equal_uninterrupted_ones() {
    resume_is_exact(Variant::Ea, 1);
    resume_is_exact(Variant::Ddpg, 3);
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let cfg = tiny(Variant::Rim);
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(&cfg, 1, &dev).unwrap();
    t.generation().unwrap();
    let p = dir.path().join("x.ckpt");
    t.save_checkpoint(&p).unwrap();
    assert!(Trainer::resume(&cfg, 2, &dev, &p).is_err());
    let mut other = cfg.clone();
    other.imitation.steps = 31;
    assert!(Trainer::resume(&other, 1, &dev, &p).is_err());
    // A torn file is an error, not a panic.
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    assert!(Trainer::resume(&cfg, 1, &dev, &p).is_err());
}

#[test]
fn a_resume_may_use_another_worker_count() {
    // Rollouts do not depend on the number of workers, so neither does a checkpoint.
    let mut cfg = tiny(Variant::Ea);
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(&cfg, 1, &dev).unwrap();
    t.generation().unwrap();
    let p = dir.path().join("x.ckpt");
    t.save_checkpoint(&p).unwrap();
    cfg.threads = 2;
    let r = Trainer::resume(&cfg, 1, &dev, &p).unwrap();
    assert_eq!(r.population(), t.population());
}
