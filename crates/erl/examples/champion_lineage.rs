//! Why two RIM variants can report the same champion score: run them side by side from
//! one seed at a reproduce scale and compare, generation by generation, the champion's
//! slot, its lineage (does it descend from a learner transfer?), its parameters, and the
//! two learners' critics.
//!
//! ```text
//! cargo run --release -p candor-erl --example champion_lineage -- [quick|smoke] [seed] [variant-a] [variant-b]
//! ```
//!
//! Defaults: quick, seed 1, `rim-ea` against `rim-pg` (the pair whose quick seed-1
//! scores were identical).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use anyhow::Result;
use candle_core::Device;
use candor_core::Scale;
use candor_erl::reproduce::{plan, run_config};
use candor_erl::{GenerationRecord, Trainer, Variant};

/// Per generation: the record, the champion's parameters, every member's hash, the
/// learner's critic parameters.
struct Gen {
    record: GenerationRecord,
    champion: Vec<f32>,
    members: Vec<u64>,
    critic: Vec<f32>,
}

fn hash(v: &[f32]) -> u64 {
    let mut h = DefaultHasher::new();
    for x in v {
        x.to_bits().hash(&mut h);
    }
    h.finish()
}

fn critic_params(t: &Trainer) -> Result<Vec<f32>> {
    let Some(r) = t.rim() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (_, v) in candor_core::optim::sorted_vars(r.ddpg().var_maps()[2]) {
        out.extend(v.as_tensor().flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

fn run(scale: Scale, variant: Variant, seed: u64) -> Result<Vec<Gen>> {
    let task = &plan(scale)[0];
    let cfg = run_config(task, variant, scale)?;
    let mut t = Trainer::new(&cfg, seed, &Device::Cpu)?;
    let mut gens = Vec::new();
    while !t.finished() {
        let before: Vec<Vec<f32>> = t.population().members().to_vec();
        let record = t.generation()?;
        eprintln!(
            "{variant} g{} frames {} champion slot {} test {:.4}",
            record.generation, record.frames, record.champion, record.champion_test
        );
        gens.push(Gen {
            champion: before[record.champion].clone(),
            members: before.iter().map(|m| hash(m)).collect(),
            critic: critic_params(&t)?,
            record,
        });
    }
    Ok(gens)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale = match args.first().map(String::as_str) {
        Some("smoke") => Scale::Smoke,
        _ => Scale::Quick,
    };
    let seed: u64 = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let va = Variant::from_name(args.get(2).map_or("rim-ea", String::as_str))?;
    let vb = Variant::from_name(args.get(3).map_or("rim-pg", String::as_str))?;
    let (a, b) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(scale, va, seed));
        let hb = s.spawn(|| run(scale, vb, seed));
        (ha.join(), hb.join())
    });
    let a = a.map_err(|_| anyhow::anyhow!("run a panicked"))??;
    let b = b.map_err(|_| anyhow::anyhow!("run b panicked"))??;
    println!(
        "| gen | {va} frames | {vb} frames | {va} champ slot | {vb} champ slot | {va} from learner | {vb} from learner | same champion params | {va} test | {vb} test | members shared (bitwise, before SSNE) | critic max abs diff |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (x, y) in a.iter().zip(&b) {
        let shared = x.members.iter().filter(|h| y.members.contains(h)).count();
        let critic_diff = x
            .critic
            .iter()
            .zip(&y.critic)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        let same = x
            .champion
            .iter()
            .map(|v| v.to_bits())
            .eq(y.champion.iter().map(|v| v.to_bits()));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.14} | {:.14} | {}/{} | {:.3e} |",
            x.record.generation,
            x.record.frames,
            y.record.frames,
            x.record.champion,
            y.record.champion,
            x.record.champion_from_learner,
            y.record.champion_from_learner,
            same,
            x.record.champion_test,
            y.record.champion_test,
            shared,
            x.members.len(),
            critic_diff,
        );
    }
    if a.len() != b.len() {
        println!("({va} ran {} generations, {vb} {})", a.len(), b.len());
    }
    let (la, lb) = (a.last(), b.last());
    if let (Some(x), Some(y)) = (la, lb) {
        println!(
            "final: {va} {:.14} (slot {}, from learner {}), {vb} {:.14} (slot {}, from learner {}), same champion parameters: {}",
            x.record.champion_test,
            x.record.champion,
            x.record.champion_from_learner,
            y.record.champion_test,
            y.record.champion,
            y.record.champion_from_learner,
            x.champion.iter().map(|v| v.to_bits()).eq(y.champion.iter().map(|v| v.to_bits()))
        );
        // Where else does each final champion appear in the other run's history?
        let hx = hash(&x.champion);
        let first = b
            .iter()
            .find(|g| g.members.contains(&hx))
            .map(|g| g.record.generation);
        println!(
            "{va}'s final champion first appears in {vb}'s population before generation {first:?}"
        );
    }
    Ok(())
}
