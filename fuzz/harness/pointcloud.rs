//! Fuzz harnesses of the point-cloud readers (HDF5, OFF, PLY, `.xyz`) and configs. Used
//! by the cargo-fuzz targets in `fuzz/fuzz_targets/` and by the corpus replay test
//! `crates/pointcloud-defense/tests/fuzz_corpus.rs`, so both run the same code.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_core::SeededRng;
use candor_pointcloud_defense::data::cloud::{parse_ply, parse_xyz};
use candor_pointcloud_defense::data::hdf5::H5File;
use candor_pointcloud_defense::data::{normalize_unit_sphere, parse_h5_clouds, parse_off};

const H5_NAME: &str = "fuzz.h5";

/// A ModelNet40 `.h5` file through `read_h5_clouds`' path, then every dataset of the
/// root group read as `f32` and as `i64`.
pub fn hdf5(data: &[u8]) -> Outcome {
    let clouds = parse_h5_clouds(data.to_vec(), H5_NAME).map_err(|e| named(e, H5_NAME));
    if let Ok((points, labels, np)) = &clouds {
        assert_eq!(points.len(), labels.len() * np * 3);
        assert!(points.iter().all(|v| v.is_finite()));
    }
    let file = H5File::from_bytes(data.to_vec(), H5_NAME).map_err(|e| named(e, H5_NAME))?;
    let members = file.member_names().map_err(|e| named(e, H5_NAME))?;
    for m in members.iter().take(8) {
        let Ok(d) = file.dataset(m).map_err(|e| named(e, H5_NAME)) else {
            continue;
        };
        let _ = (d.shape(), d.storage(), d.is_empty());
        if let Ok(v) = d.read_f32().map_err(|e| named(e, H5_NAME)) {
            assert_eq!(v.len(), d.len());
        }
        if let Ok(v) = d.read_i64().map_err(|e| named(e, H5_NAME)) {
            assert_eq!(v.len(), d.len());
        }
    }
    clouds.map(|_| ())
}

/// An OFF mesh as `read_off` decodes it (lossy UTF-8), then surface sampling and
/// normalisation as `read_cloud_file` does.
pub fn off(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let mesh = parse_off(&text).map_err(|e| e.to_string())?;
    // Indices in range and finite coordinates are guaranteed; a mesh may have no faces.
    assert!(mesh.faces.is_empty() || mesh.validate().is_ok());
    let mut pts = mesh
        .sample_surface(64, &mut SeededRng::new(0))
        .map_err(|e| e.to_string())?;
    assert_eq!(pts.len(), 64 * 3);
    normalize_unit_sphere(&mut pts).map_err(|e| e.to_string())
}

/// A `.ply` file: the vertices must come out as finite xyz triples.
pub fn ply(data: &[u8]) -> Outcome {
    let pts = parse_ply(data).map_err(|e| e.to_string())?;
    assert!(!pts.is_empty() && pts.len() % 3 == 0);
    assert!(pts.iter().all(|v| v.is_finite()));
    Ok(())
}

/// An `.xyz`/`.txt` cloud as `read_xyz` decodes it (UTF-8 text), then normalisation.
pub fn xyz(data: &[u8]) -> Outcome {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let mut pts = parse_xyz(text).map_err(|e| e.to_string())?;
    assert!(!pts.is_empty() && pts.len() % 3 == 0);
    normalize_unit_sphere(&mut pts).map_err(|e| e.to_string())
}

/// The point-cloud crate's configs: `data[0]` picks the type, the rest is JSON.
pub fn config(data: &[u8]) -> Outcome {
    use candor_pointcloud_defense::attack::{CwConfig, DropConfig};
    use candor_pointcloud_defense::data::SyntheticConfig;
    use candor_pointcloud_defense::defense::{Defense, SorConfig, SrsConfig};
    use candor_pointcloud_defense::eval::EvalConfig;
    use candor_pointcloud_defense::model::pointnet::PointNetConfig;
    use candor_pointcloud_defense::train::TrainConfig;
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_core::Result<()>| r.map_err(|e| e.to_string());
    match sel % 9 {
        0 => config_roundtrip::<PointNetConfig>(text, |c| v(c.validate())),
        1 => config_roundtrip::<CwConfig>(text, |c| v(c.validate())),
        2 => config_roundtrip::<DropConfig>(text, |_| Ok(())),
        3 => config_roundtrip::<TrainConfig>(text, |c| v(c.validate())),
        4 => config_roundtrip::<EvalConfig>(text, |_| Ok(())),
        5 => config_roundtrip::<SyntheticConfig>(text, |c| v(c.validate())),
        6 => config_roundtrip::<SorConfig>(text, |c| v(c.validate())),
        7 => config_roundtrip::<SrsConfig>(text, |_| Ok(())),
        _ => config_roundtrip::<Defense>(text, |_| Ok(())),
    }
}

/// `config` inputs holding every config type's defaults (and each defense), for the
/// unknown-key test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    use candor_pointcloud_defense::attack::{CwConfig, DropConfig};
    use candor_pointcloud_defense::data::SyntheticConfig;
    use candor_pointcloud_defense::defense::{Defense, SorConfig, SrsConfig};
    use candor_pointcloud_defense::eval::EvalConfig;
    use candor_pointcloud_defense::model::pointnet::PointNetConfig;
    use candor_pointcloud_defense::train::TrainConfig;
    vec![
        input(0, &PointNetConfig::default()),
        input(1, &CwConfig::default()),
        input(2, &DropConfig::default()),
        input(3, &TrainConfig::default()),
        input(4, &EvalConfig::default()),
        input(5, &SyntheticConfig::default()),
        input(6, &SorConfig::default()),
        input(7, &SrsConfig::default()),
        input(8, &Defense::None),
        input(8, &Defense::Srs(SrsConfig::default())),
        input(8, &Defense::Sor(SorConfig::default())),
    ]
}
