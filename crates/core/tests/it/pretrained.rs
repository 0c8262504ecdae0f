//! `checkpoint::load_pretrained` and `read_weights`: name mapping, the report, strict
//! mode, dtype conversion, shape adaptation, and PyTorch files written by
//! `tools/make_timm_fixture.py` (plain, nested under `state_dict`, legacy format).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candor_core::checkpoint::{load_pretrained, read_weights, save_tensors, Adapt, LoadSpec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pretrained")
        .join(name)
}

fn values() -> HashMap<String, serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(fixture("values.json")).unwrap()).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn reads_a_pytorch_state_dict() {
    let w: HashMap<String, Tensor> = read_weights(fixture("plain.pth"), None)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(w.len(), 4);
    assert_eq!(w["layer.weight"].dtype(), DType::F32);
    assert_eq!(w["layer.bias"].dtype(), DType::F16);
    assert_eq!(w["bn.num_batches_tracked"].dtype(), DType::I64);
    let v = values();
    let a: Vec<f32> = serde_json::from_value(v["layer.weight"].clone()).unwrap();
    assert_eq!(flat(&w["layer.weight"]), a);
    assert_eq!(flat(&w["layer.bias"]), [0.5, -1.0]);
    // Saved transposed (Fortran order): read back with the right values.
    let p: Vec<Vec<f32>> = serde_json::from_value(v["proj.weight"].clone()).unwrap();
    assert_eq!(w["proj.weight"].dims(), &[3, 4]);
    assert_eq!(flat(&w["proj.weight"]), p.concat());
}

#[test]
fn finds_a_nested_state_dict_and_rejects_the_legacy_format() {
    let nested = read_weights(fixture("nested.pth"), None).unwrap();
    assert_eq!(nested.len(), 1);
    assert_eq!(nested[0].0, "layer.weight");
    let keyed = read_weights(fixture("nested.pth"), Some("state_dict")).unwrap();
    assert_eq!(flat(&keyed[0].1), flat(&nested[0].1));
    let e = read_weights(fixture("legacy.pth"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("legacy") && e.contains("legacy.pth"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"definitely not weights").unwrap();
    assert!(read_weights(&junk, None).is_err());
    assert!(read_weights(dir.path().join("absent.pth"), None).is_err());
}

/// A model: `net.conv1.weight (4, 3, 3, 3)`, `net.bn.weight (4)`, `net.fc.weight (2, 4)`,
/// `head.weight (2, 2)`, in `dtype`.
fn model(dtype: DType) -> VarMap {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, dtype, &Device::Cpu);
    vb.get((4, 3, 3, 3), "net.conv1.weight").unwrap();
    vb.get(4, "net.bn.weight").unwrap();
    vb.get((2, 4), "net.fc.weight").unwrap();
    vb.get((2, 2), "head.weight").unwrap();
    vm
}

fn var(vm: &VarMap, name: &str) -> Tensor {
    vm.data().lock().unwrap()[name].as_tensor().clone()
}

fn arange(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0f32, n as f32, &Device::Cpu)
        .unwrap()
        .reshape(shape)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// A "timm" file: DataParallel prefix, a 1000-class head, a batch counter, an extra key.
fn timm_like(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("timm.safetensors");
    let tensors = vec![
        (
            "module.conv1.weight".into(),
            arange(&[4, 3, 3, 3], DType::F16),
        ),
        ("module.bn.weight".into(), arange(&[4], DType::F16)),
        (
            "module.bn.num_batches_tracked".into(),
            Tensor::new(&[3i64], &Device::Cpu).unwrap(),
        ),
        ("module.fc.weight".into(), arange(&[1000, 4], DType::F16)),
        ("module.aux.weight".into(), arange(&[5], DType::F16)),
    ];
    save_tensors(&path, &tensors, HashMap::new()).unwrap();
    path
}

#[test]
fn maps_names_skips_the_head_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = timm_like(dir.path());
    for dtype in [DType::F32, DType::F64] {
        let vm = model(dtype);
        let head_before = flat(&var(&vm, "head.weight"));
        let fc_before = flat(&var(&vm, "net.fc.weight"));
        let spec = LoadSpec {
            strip_prefix: Some("module.".into()),
            model_prefix: "net.".into(),
            skip: vec!["net.fc.*".into()],
            ..LoadSpec::default()
        };
        let r = load_pretrained(&vm, &path, &spec).unwrap();
        assert_eq!(r.loaded, ["net.bn.weight", "net.conv1.weight"]);
        assert_eq!(r.skipped, ["net.bn.num_batches_tracked", "net.fc.weight"]);
        assert_eq!(r.unexpected, ["net.aux.weight"]);
        assert!(r.missing.is_empty() && r.mismatched.is_empty());
        assert!(!r.is_complete());
        assert!(
            r.summary().contains("unexpected: net.aux.weight"),
            "{}",
            r.summary()
        );
        // Converted to the model's dtype; the head and the outside variable untouched.
        let c = var(&vm, "net.conv1.weight");
        assert_eq!(c.dtype(), dtype);
        assert_eq!(flat(&c), flat(&arange(&[4, 3, 3, 3], DType::F32)));
        assert_eq!(flat(&var(&vm, "head.weight")), head_before);
        assert_eq!(flat(&var(&vm, "net.fc.weight")), fc_before);
    }
}

#[test]
fn strict_mode_sets_nothing_unless_everything_fits() {
    let dir = tempfile::tempdir().unwrap();
    let path = timm_like(dir.path());
    let vm = model(DType::F32);
    let before = flat(&var(&vm, "net.conv1.weight"));
    // The extra file key makes a strict load fail, and nothing is set.
    let mut spec = LoadSpec {
        strip_prefix: Some("module.".into()),
        model_prefix: "net.".into(),
        skip: vec!["net.fc.*".into()],
        strict: true,
        ..LoadSpec::default()
    };
    let e = load_pretrained(&vm, &path, &spec).unwrap_err().to_string();
    assert!(e.contains("strict") && e.contains("net.aux.weight"), "{e}");
    assert_eq!(flat(&var(&vm, "net.conv1.weight")), before);
    // Skipping it too: a complete strict load.
    spec.skip.push("*aux*".into());
    let r = load_pretrained(&vm, &path, &spec).unwrap();
    assert!(r.is_complete(), "{}", r.summary());
    // Without skipping the head: its shape does not match, strict fails.
    spec.skip = vec!["*aux*".into()];
    let e = load_pretrained(&vm, &path, &spec).unwrap_err().to_string();
    assert!(
        e.contains("net.fc.weight (file [1000, 4], model [2, 4])"),
        "{e}"
    );
    // A model variable the file lacks is missing.
    let vm2 = model(DType::F32);
    let vb = VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu);
    vb.get(3, "net.extra").unwrap();
    spec.skip = vec!["net.fc.*".into(), "*aux*".into()];
    let e = load_pretrained(&vm2, &path, &spec).unwrap_err().to_string();
    assert!(e.contains("missing: net.extra"), "{e}");
}

#[test]
fn renames_reshapes_and_adapts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cadene.safetensors");
    let k = arange(&[4, 3, 3, 3], DType::F32);
    let tensors = vec![
        ("conv1.weight".to_string(), k.clone()),
        ("pointwise.weight".to_string(), arange(&[4, 2], DType::F32)),
        (
            "last_linear.weight".to_string(),
            arange(&[2, 4], DType::F32),
        ),
    ];
    save_tensors(&path, &tensors, HashMap::new()).unwrap();
    for (rule, expect) in [
        (
            Adapt::InChannelsMean,
            k.mean_keepdim(1).unwrap().repeat((1, 4, 1, 1)).unwrap(),
        ),
        (
            Adapt::InChannelsCopyThenMean,
            Tensor::cat(&[&k, &k.mean_keepdim(1).unwrap()], 1).unwrap(),
        ),
    ] {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        vb.get((4, 4, 3, 3), "conv1.weight").unwrap();
        vb.get((4, 2, 1, 1), "pointwise.weight").unwrap();
        vb.get((2, 4), "fc.weight").unwrap();
        let spec = LoadSpec {
            renames: vec![("last_linear.".into(), "fc.".into())],
            reshape_unit_dims: true,
            adapt: vec![("conv1.weight".into(), rule)],
            strict: true,
            ..LoadSpec::default()
        };
        let r = load_pretrained(&vm, &path, &spec).unwrap();
        assert_eq!(r.loaded, ["fc.weight"]);
        assert_eq!(r.adapted.len(), 2, "{r:?}");
        assert_eq!(flat(&var(&vm, "conv1.weight")), flat(&expect));
        assert_eq!(
            flat(&var(&vm, "pointwise.weight")),
            flat(&arange(&[4, 2], DType::F32))
        );
    }
    // Adaptation needs 4-D weights that differ only in the input channels.
    let bad = arange(&[4, 3, 3, 3], DType::F32);
    assert!(Adapt::InChannelsMean.apply(&bad, &[5, 4, 3, 3]).is_err());
    assert!(Adapt::InChannelsMean.apply(&bad, &[4, 4]).is_err());
    assert!(Adapt::InChannelsCopyThenMean
        .apply(&bad, &[4, 2, 3, 3])
        .is_err());
    // Without reshape_unit_dims a 2-D pointwise weight is a mismatch.
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    vb.get((4, 2, 1, 1), "pointwise.weight").unwrap();
    let r = load_pretrained(&vm, &path, &LoadSpec::default()).unwrap();
    assert_eq!(r.mismatched[0].0, "pointwise.weight");
    assert_eq!(r.unexpected, ["conv1.weight", "last_linear.weight"]);
}

#[test]
fn loads_a_pth_file_too() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu);
    vb.get((2, 3), "layer.weight").unwrap();
    vb.get(2, "layer.bias").unwrap();
    let spec = LoadSpec {
        skip: vec!["proj.*".into()],
        strict: true,
        ..LoadSpec::default()
    };
    let r = load_pretrained(&vm, fixture("plain.pth"), &spec).unwrap();
    assert_eq!(r.loaded, ["layer.bias", "layer.weight"]);
    assert_eq!(flat(&var(&vm, "layer.bias")), [0.5, -1.0]);
}
