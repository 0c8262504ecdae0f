//! The HDF5 reader on files written by h5py, and the writer round trip.

use std::path::{Path, PathBuf};

use candor_pointcloud_defense::data::hdf5::{
    encode_h5, encode_modelnet_h5, H5Data, H5File, H5Type, H5WriteDataset,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/h5")
}

fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn reads_every_h5py_fixture_exactly() {
    let exp = expected();
    let files = exp["files"].as_object().unwrap();
    assert!(files.len() >= 10);
    for (name, e) in files {
        let f = H5File::open(fixtures().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        let data = f
            .dataset("data")
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let shape: Vec<usize> = e["data_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(data.shape(), shape, "{name}");
        assert_eq!(
            data.dtype(),
            H5Type::Float {
                size: 4,
                big_endian: false
            },
            "{name}"
        );
        let raw = data
            .read_raw()
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            fnv1a64(&raw),
            e["data_fnv1a64"].as_str().unwrap(),
            "{name}: data bytes"
        );
        let vals = data.read_f32().unwrap();
        let sum: f64 = vals.iter().map(|&v| f64::from(v)).sum();
        assert!(
            (sum - e["data_sum"].as_f64().unwrap()).abs() < 1e-9,
            "{name}: sum"
        );
        for (i, v) in e["data_first"].as_array().unwrap().iter().enumerate() {
            // serde_json may miss the last bit of an f64; as f32 the value is exact.
            assert_eq!(vals[i], v.as_f64().unwrap() as f32, "{name}: data[{i}]");
        }
        let label = f.dataset("label").unwrap();
        assert_eq!(
            label.dtype(),
            H5Type::Int {
                size: 1,
                signed: false,
                big_endian: false
            }
        );
        let labels: Vec<i64> = e["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(label.read_i64().unwrap(), labels, "{name}: labels");
        assert_eq!(
            fnv1a64(&label.read_raw().unwrap()),
            e["label_fnv1a64"].as_str().unwrap()
        );
        println!(
            "{name}: superblock v{}, data {}",
            f.superblock_version(),
            data.storage()
        );
    }
}

/// The arrays of `rust_writer.h5`; must match `rust_writer_arrays()` in
/// tools/pointcloud_make_h5_fixtures.py, which checks the file with h5py.
fn writer_fixture_arrays() -> (Vec<f32>, Vec<u8>, usize) {
    let (n, p) = (3usize, 16usize);
    let data = (0..n * p * 3)
        .map(|i| (i as f64 * 0.25 - 7.0) as f32)
        .collect();
    (data, vec![1, 39, 0], p)
}

#[test]
fn h5_writer_matches_committed_fixture() {
    let (data, labels, p) = writer_fixture_arrays();
    let bytes = encode_modelnet_h5(&data, &labels, p).unwrap();
    let path = fixtures().join("rust_writer.h5");
    if std::env::var_os("CANDOR_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let committed = std::fs::read(&path).expect(
        "rust_writer.h5 missing: run with CANDOR_UPDATE_FIXTURES=1, then check it with tools/pointcloud_make_h5_fixtures.py",
    );
    assert!(
        committed == bytes,
        "the writer's output changed: rerun with CANDOR_UPDATE_FIXTURES=1 and re-check with h5py (tools/pointcloud_make_h5_fixtures.py)"
    );
}

#[test]
fn h5_writer_round_trip() {
    let (data, labels, p) = writer_fixture_arrays();
    let faces: Vec<i32> = (0..48).map(|i| i - 20).collect();
    let bytes = encode_h5(&[
        H5WriteDataset {
            name: "label",
            shape: vec![3, 1],
            data: H5Data::U8(&labels),
        },
        H5WriteDataset {
            name: "data",
            shape: vec![3, p, 3],
            data: H5Data::F32(&data),
        },
        H5WriteDataset {
            name: "faceId",
            shape: vec![3, 16],
            data: H5Data::I32(&faces),
        },
    ])
    .unwrap();
    let f = H5File::from_bytes(bytes, "mem.h5").unwrap();
    let mut names = f.member_names().unwrap();
    names.sort();
    assert_eq!(names, ["data", "faceId", "label"]);
    assert_eq!(f.dataset("data").unwrap().read_f32().unwrap(), data);
    assert_eq!(f.dataset("data").unwrap().shape(), [3, p, 3]);
    let l: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
    assert_eq!(f.dataset("label").unwrap().read_i64().unwrap(), l);
    let fi: Vec<i64> = faces.iter().map(|&v| i64::from(v)).collect();
    assert_eq!(f.dataset("faceId").unwrap().read_i64().unwrap(), fi);
    assert!(f.dataset("faceId").unwrap().read_f32().is_ok());
    assert!(
        f.dataset("data").unwrap().read_i64().is_err(),
        "floats are not labels"
    );
}

#[test]
fn h5_writer_rejects_bad_requests() {
    let d = [0f32; 6];
    let ds = |name: &'static str, shape: Vec<usize>| H5WriteDataset {
        name,
        shape,
        data: H5Data::F32(&d),
    };
    assert!(encode_h5(&[]).is_err());
    assert!(
        encode_h5(&[ds("a", vec![2, 2])]).is_err(),
        "shape/value mismatch"
    );
    assert!(encode_h5(&[ds("a/b", vec![6])]).is_err());
    assert!(
        encode_h5(&[ds("a", vec![6]), ds("a", vec![2, 3])]).is_err(),
        "duplicate"
    );
    let many: Vec<_> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .map(|n| ds(n, vec![6]))
        .collect();
    assert!(encode_h5(&many).is_err());
    assert!(
        encode_modelnet_h5(&d, &[1], 3).is_err(),
        "6 values are not 1 x 3 x 3"
    );
    assert!(encode_modelnet_h5(&d, &[1, 2], 1).is_ok());
}

#[test]
fn missing_and_non_dataset_objects_are_errors() {
    let f = H5File::open(fixtures().join("v0_contiguous.h5")).unwrap();
    let e = f.dataset("normal").unwrap_err().to_string();
    assert!(
        e.contains("v0_contiguous.h5") && e.contains("normal"),
        "{e}"
    );
    let e = f.dataset("/").unwrap_err().to_string();
    assert!(e.contains("not a dataset"), "{e}");
    let e = H5File::open(fixtures().join("missing.h5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.h5"), "{e}");
    let e = H5File::from_bytes(b"not an hdf5 file at all".to_vec(), "x.h5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.h5") && e.contains("not an HDF5 file"), "{e}");
}

/// Opens and reads both datasets; `Err` on any failure.
fn read_all(bytes: Vec<u8>) -> candor_pointcloud_defense::Result<()> {
    let f = H5File::from_bytes(bytes, "corrupt.h5")?;
    f.dataset("data")?.read_f32()?;
    f.dataset("label")?.read_i64()?;
    Ok(())
}

#[test]
fn truncated_files_are_errors_not_panics() {
    for name in [
        "v0_contiguous.h5",
        "v0_gzip_shuffle.h5",
        "latest_gzip_shuffle.h5",
        "latest_paged.h5",
        "v108_gzip_shuffle.h5",
    ] {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        assert!(read_all(bytes.clone()).is_ok());
        let mut cut = 0;
        while cut < bytes.len() {
            let r = read_all(bytes[..cut].to_vec());
            let e = r.expect_err(&format!("{name} cut at {cut} read fine"));
            assert!(e.to_string().contains("corrupt.h5"), "{e}");
            cut += 97;
        }
    }
}

/// Arbitrary corruption (never a panic, a hang or an unbounded allocation) is the
/// `hdf5` fuzz target's job, replayed by `tests/fuzz_corpus.rs`; this test checks that
/// the checksums catch damage with a specific error.
#[test]
fn checksums_catch_metadata_and_data_damage() {
    // In a libver='latest' file the root object header is checksummed (bytes 48..).
    let mut b = std::fs::read(fixtures().join("latest_contiguous.h5")).unwrap();
    b[0x40] ^= 1;
    let e = read_all(b).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    // A fletcher32-protected chunk with a flipped data byte is rejected.
    let bytes = std::fs::read(fixtures().join("v0_fletcher32.h5")).unwrap();
    let mut hit = false;
    for pos in (0..bytes.len()).rev().step_by(3) {
        let mut b = bytes.clone();
        b[pos] ^= 0x10;
        if let Err(e) = read_all(b) {
            if e.to_string().contains("fletcher32") {
                hit = true;
                break;
            }
        }
    }
    assert!(hit, "no fletcher32 mismatch detected");
}
