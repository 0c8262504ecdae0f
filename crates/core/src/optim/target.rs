//! Target-network updates for off-policy RL: Polyak averaging ([`soft_update`],
//! `θ' ← τ·θ + (1 − τ)·θ'`) and hard copies ([`hard_update`]), matching variables
//! by name.

use std::collections::{HashMap, HashSet};

use candle_core::Var;

use super::fused;
use crate::init::sorted_vars;
use crate::{bail_invalid, Result};

// ---------------------------------------------------------------------------
// target networks
// ---------------------------------------------------------------------------

/// Pairs the variables of `target` and `source` by name, checking that the
/// names, shapes and dtypes agree.
fn paired_vars(
    target: &candle_nn::VarMap,
    source: &candle_nn::VarMap,
) -> Result<Vec<(String, Var, Var)>> {
    // Each map is locked once, separately (they may be the same map).
    let t = sorted_vars(target);
    let s: HashMap<String, Var> = sorted_vars(source).into_iter().collect();
    let t_names: HashSet<&String> = t.iter().map(|(n, _)| n).collect();
    let mut only_target: Vec<&String> = t
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !s.contains_key(*n))
        .collect();
    let mut only_source: Vec<&String> = s.keys().filter(|n| !t_names.contains(n)).collect();
    only_target.sort();
    only_source.sort();
    let mut problems = Vec::new();
    if !only_target.is_empty() {
        problems.push(format!("only in target: {only_target:?}"));
    }
    if !only_source.is_empty() {
        problems.push(format!("only in source: {only_source:?}"));
    }
    let mut out = Vec::with_capacity(t.len());
    for (name, tv) in &t {
        let Some(sv) = s.get(name) else { continue };
        if tv.shape() != sv.shape() {
            problems.push(format!(
                "{name}: target shape {:?}, source shape {:?}",
                tv.shape(),
                sv.shape()
            ));
        } else if tv.dtype() != sv.dtype() {
            problems.push(format!(
                "{name}: target dtype {:?}, source dtype {:?}",
                tv.dtype(),
                sv.dtype()
            ));
        } else {
            out.push((name.clone(), tv.clone(), sv.clone()));
        }
    }
    if !problems.is_empty() {
        bail_invalid!(
            "target and source VarMaps do not match: {}",
            problems.join("; ")
        );
    }
    Ok(out)
}

/// Polyak averaging of a target network: `θ' ← τ·θ + (1 − τ)·θ'` for every
/// variable, matched by name. Errors, before changing anything, if `tau` is not
/// in `[0, 1]` or the maps differ in names, shapes or dtypes (the offending
/// names are listed).
pub fn soft_update(target: &candle_nn::VarMap, source: &candle_nn::VarMap, tau: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&tau) {
        bail_invalid!("tau must be in [0, 1], got {tau}");
    }
    let pairs = paired_vars(target, source)?;
    for (_, tv, sv) in pairs {
        if fused::polyak(tv.as_tensor(), sv.as_tensor(), tau)? {
            continue;
        }
        let s = sv.as_detached_tensor().to_device(tv.device())?;
        let new = tv
            .as_detached_tensor()
            .affine(1.0 - tau, 0.0)?
            .add(&s.affine(tau, 0.0)?)?;
        if new.elem_count() > 0 {
            tv.set(&new)?;
        }
    }
    Ok(())
}

/// Copies every variable of `source` into the variable of the same name in
/// `target`. Errors, before changing anything, if the maps differ in names,
/// shapes or dtypes (the offending names are listed).
pub fn hard_update(target: &candle_nn::VarMap, source: &candle_nn::VarMap) -> Result<()> {
    let pairs = paired_vars(target, source)?;
    for (_, tv, sv) in pairs {
        if tv.elem_count() == 0 {
            continue;
        }
        // a fresh copy, so that updating a map from itself is allowed
        let s = sv.as_detached_tensor().to_device(tv.device())?.copy()?;
        tv.set(&s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;
    use candle_core::Tensor;
    use candle_nn::VarMap;

    fn varmap(entries: &[(&str, &[f64])]) -> VarMap {
        let vm = VarMap::new();
        {
            let mut data = vm.data().lock().unwrap();
            for (n, v) in entries {
                data.insert(n.to_string(), var(v));
            }
        }
        vm
    }

    fn vm_vals(vm: &VarMap) -> Vec<(String, Vec<f64>)> {
        sorted_vars(vm)
            .into_iter()
            .map(|(n, v)| (n, vals(&v)))
            .collect()
    }

    #[test]
    fn soft_and_hard_update() {
        let target = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0])]);
        let source = varmap(&[("a", &[3.0, 4.0]), ("b", &[5.0])]);
        soft_update(&target, &source, 0.25).unwrap();
        let got = vm_vals(&target);
        assert_eq!(got[0].0, "a");
        assert_close(&got[0].1, &[1.5, 2.5], 1e-15);
        assert_close(&got[1].1, &[3.5], 1e-15);
        // source untouched
        assert_eq!(vm_vals(&source)[0].1, vec![3.0, 4.0]);
        // updating a map from itself does not deadlock and changes nothing
        soft_update(&target, &target, 0.5).unwrap();
        hard_update(&target, &target).unwrap();
        assert_close(&vm_vals(&target)[0].1, &[1.5, 2.5], 1e-15);
        hard_update(&target, &source).unwrap();
        assert_eq!(vm_vals(&target), vm_vals(&source));
        // the copy is independent of the source
        source
            .data()
            .lock()
            .unwrap()
            .get("b")
            .unwrap()
            .set(&Tensor::new(&[9.0f64], &DEV).unwrap())
            .unwrap();
        assert_eq!(vm_vals(&target)[1].1, vec![5.0]);
        assert!(soft_update(&target, &source, 1.5).is_err());
    }

    #[test]
    fn mismatched_varmaps_are_rejected() {
        let target = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0])]);
        let extra = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0]), ("c", &[0.0])]);
        let missing = varmap(&[("a", &[1.0, 2.0])]);
        let shape = varmap(&[("a", &[1.0, 2.0, 3.0]), ("b", &[3.0])]);
        let e = soft_update(&target, &extra, 0.5).unwrap_err().to_string();
        assert!(e.contains("only in source") && e.contains("\"c\""), "{e}");
        let e = hard_update(&target, &missing).unwrap_err().to_string();
        assert!(e.contains("only in target") && e.contains("\"b\""), "{e}");
        let e = hard_update(&target, &shape).unwrap_err().to_string();
        assert!(e.contains("a: target shape"), "{e}");
        // nothing was changed
        assert_eq!(vm_vals(&target)[0].1, vec![1.0, 2.0]);
    }
}
