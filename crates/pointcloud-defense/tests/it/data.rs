//! OFF meshes, the ModelNet40 folder loader and the synthetic set's HDF5 round trip.

use candor_core::SeededRng;
use candor_pointcloud_defense::data::hdf5::{write_h5, write_modelnet_h5, H5Data, H5WriteDataset};
use candor_pointcloud_defense::data::modelnet::split_files;
use candor_pointcloud_defense::data::{
    load_split, normalize_unit_sphere, parse_off, read_h5_clouds, read_off,
    write_synthetic_modelnet, ModelNet40, Split, SyntheticConfig,
};

#[test]
fn off_header_quirk_and_variants() {
    // ModelNet40's quirk: counts glued to "OFF"; a quad face; CRLF; comments.
    let glued = "OFF4 1 0\r\n0 0 0\r\n1 0 0\r\n1 1 0\r\n0 1 0\r\n4 0 1 2 3\r\n";
    let m = parse_off(glued).unwrap();
    assert_eq!(m.vertices.len(), 4);
    assert_eq!(m.faces, [[0, 1, 2], [0, 2, 3]]);
    assert!((m.area() - 1.0).abs() < 1e-12);
    let standard = "# a comment\nOFF\n# counts\n4 1 0\n\n0 0 0\n1 0 0  # trailing\n1 1 0\n0 1 0\n4 0 1 2 3 255 0 0\n";
    assert_eq!(parse_off(standard).unwrap(), m);
    // The real header of a ModelNet40 file with the quirk.
    let mut big = String::from("OFF1046 900 0\n");
    for i in 0..1046 {
        big.push_str(&format!("{} {} 0\n", i % 2, i / 2));
    }
    for i in 0..900 {
        big.push_str(&format!("3 {} {} {}\n", i, i + 1, i + 2));
    }
    let m = parse_off(&big).unwrap();
    assert_eq!((m.vertices.len(), m.faces.len()), (1046, 900));
}

#[test]
fn off_errors_name_the_line() {
    let e = |t: &str| parse_off(t).unwrap_err().to_string();
    assert!(e("").contains("empty"));
    assert!(e("PLY\n").contains("OFF"));
    assert!(e("OFF\n").contains("counts"));
    assert!(e("OFF 3 1 0\n0 0 0\n1 0 0\n").contains("2 of 3 vertices"));
    assert!(e("OFF 3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n").contains("line 5"));
    assert!(e("OFF 3 1 0\n0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n").contains("line 3"));
    assert!(e("OFF 3 1 0\n0 0 0\n1 nan 0\n0 1 0\n3 0 1 2\n").contains("line 3"));
    assert!(e("OFF 3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1\n").contains("at least 3"));
    assert!(e("OFF 99999999999 1 0\n").contains("exceed"));
}

#[test]
fn off_file_sampling_then_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("box.off");
    // A 2 x 1 x 1 box, 12 triangles.
    let v = [
        [0., 0., 0.],
        [2., 0., 0.],
        [2., 1., 0.],
        [0., 1., 0.],
        [0., 0., 1.],
        [2., 0., 1.],
        [2., 1., 1.],
        [0., 1., 1.],
    ];
    let f = [
        [0, 2, 1],
        [0, 3, 2],
        [4, 5, 6],
        [4, 6, 7],
        [0, 1, 5],
        [0, 5, 4],
        [2, 3, 7],
        [2, 7, 6],
        [1, 2, 6],
        [1, 6, 5],
        [0, 4, 7],
        [0, 7, 3],
    ];
    let mut s = format!("OFF{} {} 0\n", v.len(), f.len());
    for p in v {
        s.push_str(&format!("{} {} {}\n", p[0], p[1], p[2]));
    }
    for t in f {
        s.push_str(&format!("3 {} {} {}\n", t[0], t[1], t[2]));
    }
    std::fs::write(&path, s).unwrap();
    let mesh = read_off(&path).unwrap();
    assert!((mesh.area() - 10.0).abs() < 1e-9);
    let mut pts = mesh.sample_surface(4000, &mut SeededRng::new(0)).unwrap();
    // Area-weighted: the two 1x1 end faces (x = 0 and x = 2) get 2/10 of the points.
    let ends = pts.chunks(3).filter(|p| p[0] == 0.0 || p[0] == 2.0).count();
    assert!((700..900).contains(&ends), "{ends}");
    normalize_unit_sphere(&mut pts).unwrap();
    let maxn = pts
        .chunks(3)
        .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt())
        .fold(0f32, f32::max);
    assert!((maxn - 1.0).abs() < 1e-6);
    std::fs::write(&path, "OFF3 1 0\n0 0 0\n").unwrap();
    let e = read_off(&path).unwrap_err().to_string();
    assert!(e.contains("box.off"), "{e}");
}

#[test]
fn synthetic_set_round_trips_through_hdf5() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig::tiny();
    let (train, test) = write_synthetic_modelnet(dir.path(), &cfg).unwrap();
    assert_eq!(train.len(), 30);
    assert_eq!(test.len(), 20);
    assert_eq!(train.num_classes(), 10);
    // 30 train clouds at 8 per file -> 4 files, test -> 3.
    assert_eq!(split_files(dir.path(), Split::Train).unwrap().len(), 4);
    assert_eq!(split_files(dir.path(), Split::Test).unwrap().len(), 3);
    let loaded = ModelNet40::load(dir.path()).unwrap();
    assert_eq!(loaded.train, train);
    assert_eq!(loaded.test, test);
    assert_eq!(loaded.train.class_names[9], "helix_tube");
    assert_eq!(loaded.train.cloud(0).unwrap().len(), 256 * 3);
    assert!(loaded.train.cloud(30).is_none());
    let first = loaded.test.first_points(100).unwrap();
    assert_eq!(first.cloud(1).unwrap(), &test.cloud(1).unwrap()[..300]);
    assert!(loaded.test.first_points(257).is_err());
    // Every cloud is on the unit sphere's scale and centred.
    for c in loaded.train.clouds() {
        let maxn = c
            .chunks(3)
            .map(|p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt())
            .fold(0f32, f32::max);
        assert!((maxn - 1.0).abs() < 1e-5);
    }
    // Seeded: a second generation is byte-identical.
    let dir2 = tempfile::tempdir().unwrap();
    write_synthetic_modelnet(dir2.path(), &cfg).unwrap();
    for name in [
        "ply_data_train0.h5",
        "ply_data_test2.h5",
        "shape_names.txt",
        "train_files.txt",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            std::fs::read(dir2.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn loader_rejects_wrong_shapes_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let msg = |r: candor_pointcloud_defense::Result<
        candor_pointcloud_defense::data::PointCloudSet,
    >| { r.unwrap_err().to_string() };
    // No shape_names.txt.
    write_modelnet_h5(d.join("ply_data_test0.h5"), &[0.0; 12], &[0, 1], 2).unwrap();
    assert!(msg(load_split(d, Split::Test)).contains("shape_names.txt"));
    std::fs::write(d.join("shape_names.txt"), "a\nb\n").unwrap();
    assert_eq!(load_split(d, Split::Test).unwrap().len(), 2);
    assert!(msg(load_split(d, Split::Train)).contains("no ply_data_train"));
    // Label beyond the class list.
    write_modelnet_h5(d.join("ply_data_test1.h5"), &[0.0; 6], &[2], 2).unwrap();
    let e = msg(load_split(d, Split::Test));
    assert!(
        e.contains("ply_data_test1.h5") && e.contains("label 2"),
        "{e}"
    );
    // Different point counts across files.
    write_modelnet_h5(d.join("ply_data_test1.h5"), &[0.0; 9], &[1], 3).unwrap();
    assert!(msg(load_split(d, Split::Test)).contains("3 points"));
    std::fs::remove_file(d.join("ply_data_test1.h5")).unwrap();
    // data not [n, p, 3].
    let bad = d.join("bad.h5");
    let vals = [0f32; 12];
    let labels = [0u8; 2];
    let ds = |shape: Vec<usize>, lshape: Vec<usize>| {
        write_h5(
            &bad,
            &[
                H5WriteDataset {
                    name: "data",
                    shape,
                    data: H5Data::F32(&vals),
                },
                H5WriteDataset {
                    name: "label",
                    shape: lshape,
                    data: H5Data::U8(&labels),
                },
            ],
        )
        .unwrap();
        read_h5_clouds(&bad).unwrap_err().to_string()
    };
    assert!(ds(vec![2, 3, 2], vec![2, 1]).contains("expected [clouds, points, 3]"));
    assert!(ds(vec![12], vec![2, 1]).contains("expected [clouds, points, 3]"));
    assert!(ds(vec![1, 4, 3], vec![2, 1]).contains("\"label\" has shape [2, 1]"));
    assert!(ds(vec![2, 2, 3], vec![1, 2]).contains("\"label\" has shape [1, 2]"));
    // Labels as [n] are fine; NaN coordinates are not.
    write_h5(
        &bad,
        &[
            H5WriteDataset {
                name: "data",
                shape: vec![2, 2, 3],
                data: H5Data::F32(&vals),
            },
            H5WriteDataset {
                name: "label",
                shape: vec![2],
                data: H5Data::U8(&labels),
            },
        ],
    )
    .unwrap();
    assert!(read_h5_clouds(&bad).is_ok());
    let mut nan = vals;
    nan[7] = f32::NAN;
    write_modelnet_h5(&bad, &nan, &labels, 2).unwrap();
    let e = read_h5_clouds(&bad).unwrap_err().to_string();
    assert!(e.contains("cloud 1 point 0") && e.contains("bad.h5"), "{e}");
    // Missing label dataset, truncated file.
    write_h5(
        &bad,
        &[H5WriteDataset {
            name: "data",
            shape: vec![2, 2, 3],
            data: H5Data::F32(&vals),
        }],
    )
    .unwrap();
    assert!(read_h5_clouds(&bad)
        .unwrap_err()
        .to_string()
        .contains("label"));
    write_modelnet_h5(&bad, &vals, &labels, 2).unwrap();
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() - 10]).unwrap();
    let e = read_h5_clouds(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.h5") && e.contains("truncated"), "{e}");
}

#[test]
fn read_cloud_file_by_extension() {
    use candor_core::SeededRng;
    use candor_pointcloud_defense::data::hdf5::write_modelnet_h5;
    use candor_pointcloud_defense::data::{read_cloud_file, write_xyz};

    let dir = tempfile::tempdir().unwrap();
    let pts: Vec<f32> = (0..2 * 4 * 3).map(|i| i as f32 * 0.1).collect();
    let h5 = dir.path().join("c.h5");
    write_modelnet_h5(&h5, &pts, &[3, 7], 4).unwrap();
    let mut rng = SeededRng::new(0);
    let c = read_cloud_file(&h5, 1, None, &mut rng).unwrap();
    assert_eq!(c.label, Some(7));
    assert_eq!(c.points, pts[12..].to_vec());
    let e = read_cloud_file(&h5, 2, None, &mut rng)
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.h5") && e.contains("index 2"), "{e}");

    let xyz = dir.path().join("c.xyz");
    write_xyz(&xyz, &pts[..12]).unwrap();
    let c = read_cloud_file(&xyz, 0, None, &mut rng).unwrap();
    assert_eq!((c.points.len(), c.label), (12, None));
    let c = read_cloud_file(&xyz, 0, Some(3), &mut rng).unwrap();
    assert_eq!(c.points, pts[..9].to_vec());
    assert!(read_cloud_file(&xyz, 0, Some(5), &mut rng).is_err());

    let bad = dir.path().join("c.obj");
    std::fs::write(&bad, "v 0 0 0").unwrap();
    assert!(read_cloud_file(&bad, 0, None, &mut rng).is_err());
}
