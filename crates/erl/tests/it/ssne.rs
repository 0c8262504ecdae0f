//! SSNE on a hand-built population with a fixed RNG.

use candor_core::nn::{Activation, MlpConfig};
use candor_core::SeededRng;
use candor_erl::ssne::{crossover, epoch, mutate, rank};
use candor_erl::{Population, SsneConfig};

/// `[2, 3, 1]` actor with biases: fc0.weight (3×2), fc0.bias (3), fc1.weight (1×3),
/// fc1.bias (1): 13 values.
fn shape() -> MlpConfig {
    MlpConfig::new(&[2, 3, 1]).with_output_activation(Activation::Tanh)
}

/// Member i holds the value `i + 1` everywhere, so every entry says where it came from.
fn hand_built(k: usize) -> Population {
    let n = shape().num_params();
    let members = (0..k).map(|i| vec![(i + 1) as f32; n]).collect();
    Population::from_members(shape(), members).unwrap()
}

const FITNESS: [f64; 10] = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 0.0, 6.0, 4.0];

#[test]
fn ranking_is_best_first_with_later_ties_first() {
    assert_eq!(rank(&FITNESS), vec![2, 6, 4, 8, 0, 9, 3, 5, 1, 7]);
    // Python: sorted(range(n), key=f) then reverse(): ties keep the later index first.
    assert_eq!(rank(&[1.0, 3.0, 3.0, 0.0]), vec![2, 1, 0, 3]);
}

#[test]
fn elites_clones_crossover_and_mutation_slots() {
    let cfg = SsneConfig {
        elite_fraction: 0.2,
        mutation_prob: 1.0,
        ..SsneConfig::default()
    };
    let mut pop = hand_built(10);
    let before = pop.clone();
    let out = pop.evolve(&FITNESS, &cfg, &mut SeededRng::new(3)).unwrap();
    // e = max(1, ⌊10·0.2⌋) = 2 elites: the two best slots.
    assert_eq!(out.elites, vec![2, 6]);
    assert_eq!(out.new_elites.len(), 2);
    // Each elite was cloned into a slot that is spared from mutation, unchanged.
    for (&e, &slot) in out.elites.iter().zip(&out.new_elites) {
        assert_eq!(
            pop.member(slot),
            before.member(e),
            "elite {e} → slot {slot}"
        );
        assert!(!out.mutated.contains(&slot));
    }
    assert_eq!(out.champion_copy(), out.new_elites[0]);
    // Offspring: unique ascending tournament winners, plus one repeat if odd.
    assert_eq!(out.offspring.len() % 2, 0);
    let (last, head) = out.offspring.split_last().unwrap();
    let uniq = if head.contains(last) {
        head
    } else {
        &out.offspring[..]
    };
    assert!(uniq.windows(2).all(|w| w[0] < w[1]), "{:?}", out.offspring);
    // This seed, worked through: winners {2, 4, 6} (+ 4 repeated); unselected
    // {0, 1, 3, 5, 7, 8, 9} shuffled; elites 2, 6 cloned into its first two (1, 0); the
    // other five (+ 7 repeated) paired and crossed.
    assert_eq!(out.offspring, vec![2, 4, 6, 4]);
    assert_eq!(out.new_elites, vec![1, 0]);
    assert_eq!(out.crossed, vec![(8, 7), (5, 9), (3, 7)]);
    // With mutation_prob 1 every slot but the new elites is mutated.
    let expected: Vec<usize> = (0..10).filter(|i| !out.new_elites.contains(i)).collect();
    assert_eq!(out.mutated, expected);
    // Crossed slots are the unselected ones: neither elite, selected, nor a clone target.
    for &(i, j) in &out.crossed {
        for s in [i, j] {
            assert!(!out.elites.contains(&s) && !out.offspring.contains(&s));
            assert!(!out.new_elites.contains(&s));
        }
    }
    // Every slot is accounted for: elite, selected, clone target or crossed.
    for s in 0..10 {
        let crossed = out.crossed.iter().any(|&(i, j)| i == s || j == s);
        assert!(
            out.elites.contains(&s)
                || out.offspring.contains(&s)
                || out.new_elites.contains(&s)
                || crossed,
            "slot {s} unaccounted for: {out:?}"
        );
    }
    // Pinned outcome of this seed (a regression guard for the RNG use).
    let again = hand_built(10)
        .evolve(&FITNESS, &cfg, &mut SeededRng::new(3))
        .unwrap();
    assert_eq!(out, again);
}

#[test]
fn crossed_pairs_hold_an_elite_and_an_offspring_mix() {
    // No mutation: the crossed slots hold only values of the new elites and offspring.
    let cfg = SsneConfig {
        elite_fraction: 0.2,
        mutation_prob: 0.0,
        ..SsneConfig::default()
    };
    for seed in 0..20 {
        let mut pop = hand_built(10);
        let out = pop
            .evolve(&FITNESS, &cfg, &mut SeededRng::new(seed))
            .unwrap();
        assert!(out.mutated.is_empty());
        let allowed: Vec<f32> = out
            .elites
            .iter()
            .chain(&out.offspring)
            .map(|&s| (s + 1) as f32)
            .collect();
        for &(i, j) in &out.crossed {
            for s in [i, j] {
                assert!(
                    pop.member(s).iter().all(|v| allowed.contains(v)),
                    "seed {seed}: slot {s} = {:?}, allowed {allowed:?}",
                    pop.member(s)
                );
            }
        }
    }
}

#[test]
fn crossover_copies_whole_rows_of_weights() {
    let p = shape().params();
    let n = shape().num_params();
    let mut a = vec![1.0f32; n];
    let mut b = vec![2.0f32; n];
    let mut rng = SeededRng::new(11);
    for _ in 0..50 {
        crossover(&mut a, &mut b, &p, &mut rng);
    }
    // fc0.weight rows are (out=3) × (in=2): each row is uniform (copied whole).
    for m in [&a, &b] {
        for r in 0..3 {
            let row = &m[p[0].offset + 2 * r..p[0].offset + 2 * r + 2];
            assert_eq!(row[0], row[1], "row {r} mixed: {row:?}");
        }
    }
    assert!(
        a.contains(&2.0) || b.contains(&1.0),
        "no crossover happened"
    );
}

#[test]
fn mutation_touches_only_weight_matrices_and_clips() {
    // With LayerNorm: 1-D tensors are biases and norm parameters.
    let cfg = MlpConfig::new(&[4, 8, 8, 2]).with_layer_norm(1e-5);
    let params = cfg.params();
    let n = cfg.num_params();
    let ssne = SsneConfig {
        mutation_frac: 1.0,
        ..SsneConfig::default()
    };
    let mut rng = SeededRng::new(5);
    let mut changed_weights = 0;
    for _ in 0..30 {
        let mut m = vec![0.5f32; n];
        mutate(&mut m, &params, &ssne, &mut rng);
        for p in &params {
            let moved = m[p.range()].iter().filter(|&&v| v != 0.5).count();
            if p.shape.len() == 1 {
                assert_eq!(moved, 0, "{} was mutated", p.name);
            } else {
                changed_weights += moved;
            }
        }
    }
    assert!(changed_weights > 0);

    // Clip: super mutation every time on large weights.
    let big = SsneConfig {
        mutation_frac: 1.0,
        super_mutation_prob: 1.0,
        reset_prob: 0.0,
        super_mutation_strength: 1e3,
        ..SsneConfig::default()
    };
    let mut clipped = 0;
    for _ in 0..20 {
        let mut m = vec![9e5f32; n];
        mutate(&mut m, &params, &big, &mut rng);
        assert!(m.iter().all(|v| v.abs() <= 1e6));
        clipped += m.iter().filter(|v| v.abs() == 1e6).count();
    }
    assert!(clipped > 0, "no weight reached the clip");
}

#[test]
fn epoch_rejects_bad_input() {
    let mut pop = hand_built(3);
    let cfg = SsneConfig::default();
    let mut rng = SeededRng::new(0);
    assert!(pop.evolve(&[1.0, 2.0], &cfg, &mut rng).is_err());
    assert!(pop.evolve(&[1.0, f64::NAN, 0.0], &cfg, &mut rng).is_err());
    let mut members = pop.members().to_vec();
    let bad = SsneConfig {
        elite_fraction: 1.5,
        ..cfg.clone()
    };
    assert!(epoch(&mut members, pop.params(), &[1.0, 2.0, 3.0], &bad, &mut rng).is_err());
    // A population of one survives an epoch (its single elite is itself).
    let mut one = hand_built(1);
    let out = one.evolve(&[1.0], &cfg, &mut rng).unwrap();
    assert_eq!(out.new_elites, vec![0]);
    assert_eq!(one.member(0), hand_built(1).member(0));
}

#[test]
fn sources_say_where_every_slot_came_from() {
    // No mutation, so every value of a slot (member i holds i + 1 everywhere) names the
    // pre-epoch slot it was copied from: it must be among the slot's sources, and a slot
    // with one source is that source, unchanged.
    let cfg = SsneConfig {
        elite_fraction: 0.3,
        mutation_prob: 0.0,
        ..SsneConfig::default()
    };
    for seed in 0..20 {
        let mut pop = hand_built(10);
        let before = pop.clone();
        let out = pop
            .evolve(&FITNESS, &cfg, &mut SeededRng::new(seed))
            .unwrap();
        assert_eq!(out.sources.len(), 10);
        for (s, src) in out.sources.iter().enumerate() {
            assert!(
                !src.is_empty() && src.windows(2).all(|w| w[0] < w[1]),
                "{src:?}"
            );
            for v in pop.member(s) {
                let from = *v as usize - 1;
                assert!(
                    src.contains(&from),
                    "seed {seed}: slot {s} holds {from}, sources {src:?}"
                );
            }
            if let [only] = src[..] {
                assert_eq!(pop.member(s), before.member(only), "seed {seed}, slot {s}");
            }
        }
        for (&e, &slot) in out.elites.iter().zip(&out.new_elites) {
            assert_eq!(out.sources[slot], vec![e]);
        }
        // A crossed pair carries both lineages (whether or not a row was swapped); a
        // slot repeated to even the pairs ends with its last pair's.
        let once = |s: usize| out.crossed.iter().filter(|p| p.0 == s || p.1 == s).count() == 1;
        for &(i, j) in &out.crossed {
            if i != j && once(i) && once(j) {
                assert_eq!(out.sources[i], out.sources[j]);
            }
        }
    }
}
