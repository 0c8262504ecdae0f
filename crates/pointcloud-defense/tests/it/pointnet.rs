//! End to end on the synthetic proxy: write a ModelNet40-layout folder, load
//! it, train a tiny PointNet, save it, load it back, and classify SOR-filtered
//! test clouds (variable point counts).

use candle_core::{DType, Device};
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_pointcloud_defense::data::{write_synthetic_modelnet, ModelNet40, SyntheticConfig};
use candor_pointcloud_defense::defense::{sor, SorConfig};
use candor_pointcloud_defense::model::{
    clouds_to_tensor, load_pointnet, save_pointnet, PointNet, PointNetConfig,
};
use candor_pointcloud_defense::train::{evaluate, train, TrainConfig};

#[test]
fn train_save_load_and_classify_defended_clouds() {
    let dir = tempfile::tempdir().unwrap();
    let data_cfg = SyntheticConfig {
        num_classes: 4,
        train_per_class: 16,
        test_per_class: 6,
        num_points: 128,
        clouds_per_file: 40,
        seed: 3,
        ..SyntheticConfig::tiny()
    };
    write_synthetic_modelnet(dir.path(), &data_cfg).unwrap();
    let data = ModelNet40::load(dir.path()).unwrap();
    assert_eq!(data.train.len(), 64);

    let cfg = PointNetConfig::tiny();
    let varmap = VarMap::new();
    let mut net = PointNet::new(
        seeded_var_builder(&varmap, 1, DType::F32, &Device::Cpu),
        &cfg,
    )
    .unwrap();
    let tcfg = TrainConfig::tiny(); // first 64 of the 128 points
    let report = train(
        &mut net,
        &varmap,
        &data.train,
        Some(&data.test),
        &tcfg,
        None,
    )
    .unwrap();
    let acc = report.final_test_accuracy().unwrap();
    assert!(acc > 0.4, "test accuracy {acc} (chance 0.25)");

    let path = dir.path().join("pointnet.safetensors");
    save_pointnet(&path, &varmap, &cfg).unwrap();
    let (_vm, loaded) = load_pointnet(&path, None, &Device::Cpu).unwrap();
    let a = evaluate(&net, &data.test, 64, 7).unwrap();
    let b = evaluate(&loaded, &data.test, 64, 24).unwrap();
    assert_eq!(a.predictions, b.predictions);
    assert_eq!(a.accuracy, acc);

    // SOR outputs have varying sizes: classify them one cloud at a time
    let mut sizes = std::collections::BTreeSet::new();
    for c in data.test.clouds().take(6) {
        let kept = sor(c, &SorConfig::default()).unwrap();
        sizes.insert(kept.len() / 3);
        let pred = loaded
            .predict(&clouds_to_tensor(&[&kept], &Device::Cpu).unwrap())
            .unwrap();
        assert!(pred[0] < 4);
    }
    assert!(sizes.len() > 1, "SOR kept {sizes:?} points");
}
