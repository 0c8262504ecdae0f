//! Data-set helpers shared by the paper crates: seeded splits and mini-batches.

use crate::rng::SeededRng;
use crate::{Error, Result};

/// Shuffled mini-batches of indices `0..n` (the last batch may be smaller unless
/// `drop_last`). A new permutation is drawn from `rng` on every call (one epoch).
pub fn shuffled_batches(
    n: usize,
    batch_size: usize,
    drop_last: bool,
    rng: &mut SeededRng,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(Error::invalid("batch size must be positive"));
    }
    let perm = rng.permutation(n);
    Ok(perm
        .chunks(batch_size)
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(|c| c.to_vec())
        .collect())
}

/// Split `groups` (e.g. source images or video ids; items of one group never cross
/// splits) into train/validation/test by fractions, seeded. Returns the group ids of each
/// split, sorted.
pub fn split_groups<T: Clone + Ord>(
    groups: &[T],
    fractions: (f64, f64, f64),
    rng: &mut SeededRng,
) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
    let (a, b, c) = fractions;
    if [a, b, c].iter().any(|f| !(0.0..=1.0).contains(f)) || (a + b + c - 1.0).abs() > 1e-9 {
        return Err(Error::invalid(format!(
            "split fractions must be in [0, 1] and sum to 1, got ({a}, {b}, {c})"
        )));
    }
    let mut uniq: Vec<T> = groups.to_vec();
    uniq.sort();
    uniq.dedup();
    rng.shuffle(&mut uniq);
    let n = uniq.len();
    let n_train = (a * n as f64).round() as usize;
    let n_val = ((b * n as f64).round() as usize).min(n - n_train);
    let mut test = uniq.split_off(n_train + n_val);
    let mut val = uniq.split_off(n_train);
    let mut train = uniq;
    train.sort();
    val.sort();
    test.sort();
    Ok((train, val, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_everything_once() {
        let b = shuffled_batches(10, 3, false, &mut SeededRng::new(0)).unwrap();
        assert_eq!(b.len(), 4);
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(
            shuffled_batches(10, 3, true, &mut SeededRng::new(0))
                .unwrap()
                .len(),
            3
        );
        assert!(shuffled_batches(10, 0, true, &mut SeededRng::new(0)).is_err());
    }

    #[test]
    fn group_split_is_disjoint_and_seeded() {
        let g: Vec<u32> = (0..20).flat_map(|i| [i, i]).collect();
        let (a, b, c) = split_groups(&g, (0.6, 0.2, 0.2), &mut SeededRng::new(1)).unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (12, 4, 4));
        assert!(a.iter().all(|x| !b.contains(x) && !c.contains(x)));
        let again = split_groups(&g, (0.6, 0.2, 0.2), &mut SeededRng::new(1)).unwrap();
        assert_eq!(again.0, a);
        assert!(split_groups(&g, (0.6, 0.6, 0.2), &mut SeededRng::new(1)).is_err());
    }
}
