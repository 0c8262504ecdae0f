//! The data part of candor-forgery: the synthetic forgery generator (determinism,
//! splits, masks, null control), the frame-folder loader, `.npy` files and the SPSL
//! phase channel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candor_core::fft::phase_spectrum;
use candor_core::metrics::roc_auc;
use candor_core::SeededRng;
use candor_forgery::data::synthetic::{
    self, BlendMode, Config, Generator, Manifest, MaskShape, Method,
};
use candor_forgery::data::{
    encode_npy_f32, load_batch, load_frame, phase_channel, phase_channel_batch,
    random_video_labels, read_ffpp_split, read_npy_f32, shuffle_labels, with_phase_channel,
    write_npy_f32, Fit, FolderOptions, FrameFolder, Layout, LoadOptions, Normalize, PhaseScale,
    Split, Splits,
};
use image::RgbImage;

/// Every file under `root`: relative path → bytes.
fn tree_bytes(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn small() -> Config {
    Config {
        image_size: 24,
        videos: [3, 2, 2],
        frames_per_video: 2,
        textures: 3,
        methods: Method::ALL.to_vec(),
        write_masks: true,
        ..Config::default()
    }
}

#[test]
fn same_seed_gives_byte_identical_trees() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let cfg = small();
    synthetic::generate(&cfg, a.path()).unwrap();
    // The same config generated on one thread: the same bytes (no order dependence).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| synthetic::generate(&cfg, b.path()).unwrap());
    let (ta, tb) = (tree_bytes(a.path()), tree_bytes(b.path()));
    // 7 videos × 2 frames × (1 real + 7 fakes + 7 masks), splits.json, manifest.json.
    assert_eq!(ta.len(), 7 * 2 * 15 + 2);
    assert!(ta == tb, "same seed, different files");

    let other = Config { seed: 1, ..cfg };
    synthetic::generate(&other, c.path()).unwrap();
    let tc = tree_bytes(c.path());
    let differing = ta
        .iter()
        .filter(|(k, v)| tc.get(*k).map(|w| w != *v).unwrap_or(true))
        .count();
    assert!(differing > ta.len() / 2, "seed 1 too close to seed 0");
}

#[test]
fn generate_refuses_non_empty_dirs_and_reuses_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::Nearest],
        ..Config::tiny()
    };
    let m = synthetic::generate_or_reuse(&cfg, dir.path()).unwrap();
    let again = synthetic::generate_or_reuse(&cfg, dir.path()).unwrap();
    assert_eq!(m, again);
    let e = synthetic::generate(&cfg, dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-empty"), "{e}");
    let other = Config { seed: 9, ..cfg };
    assert!(synthetic::generate_or_reuse(&other, dir.path()).is_err());
    assert_eq!(Manifest::read(dir.path().join("manifest.json")).unwrap(), m);
}

#[test]
fn splits_are_disjoint_by_source_image() {
    let cfg = Config {
        videos: [12, 5, 5],
        frames_per_video: 1,
        swap_prob: 0.8,
        textures: 6,
        ..Config::tiny()
    };
    let m = Generator::new(cfg).unwrap().manifest();
    let split_of: BTreeMap<&str, Split> = m
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.split))
        .collect();
    assert_eq!(split_of.len(), m.sources.len(), "source names are unique");
    for split in Split::ALL {
        let kinds: BTreeSet<_> = m
            .sources
            .iter()
            .filter(|s| s.split == split)
            .map(|s| format!("{:?}", s.kind))
            .collect();
        assert_eq!(kinds.len(), 2, "{split} gets photos and textures");
    }
    let by_id: BTreeMap<&str, _> = m.videos.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut swaps = 0;
    for v in &m.videos {
        assert_eq!(split_of[v.source.as_str()], v.split, "video {} leaks", v.id);
        let p = by_id[v.partner.as_str()];
        assert_eq!(p.split, v.split, "partner of {} crosses splits", v.id);
        assert_eq!(v.fake_id, format!("{}_{}", v.id, v.partner));
        match v.mode {
            BlendMode::SelfBlend => assert_eq!(v.partner, v.id),
            BlendMode::Swap => {
                swaps += 1;
                assert_ne!(p.source, v.source, "a swap uses another source image");
            }
        }
    }
    assert!(swaps > 5, "{swaps} swaps");
    // No source image appears in two splits.
    let mut seen: BTreeMap<&str, BTreeSet<Split>> = BTreeMap::new();
    for v in &m.videos {
        seen.entry(v.source.as_str()).or_default().insert(v.split);
    }
    assert!(seen.values().all(|s| s.len() == 1));
    assert_eq!(m.video_ids(Split::Train).len(), 12);

    // Too few sources for a split is an error, not a panic.
    let starved = Config {
        photos: false,
        textures: 1,
        ..Config::tiny()
    };
    let e = Generator::new(starved).err().unwrap().to_string();
    assert!(e.contains("split"), "{e}");
}

fn differs(a: &RgbImage, b: &RgbImage, i: usize) -> bool {
    let (pa, pb) = (a.as_raw(), b.as_raw());
    pa[3 * i..3 * i + 3] != pb[3 * i..3 * i + 3]
}

#[test]
fn every_method_changes_only_the_masked_region() {
    let n = 48;
    let cfg = Config {
        image_size: n,
        videos: [4, 1, 1],
        frames_per_video: 2,
        textures: 3,
        methods: std::iter::once(Method::None).chain(Method::ALL).collect(),
        mask_shapes: vec![
            MaskShape::Ellipse,
            MaskShape::Polygon,
            MaskShape::CentredEllipse,
        ],
        alphas: vec![1.0],
        jpeg_quality: None,
        swap_prob: 0.5,
        ..Config::default()
    };
    let g = Generator::new(cfg).unwrap();
    let mut changed = BTreeMap::<Method, usize>::new();
    for v in 0..g.num_videos() {
        for j in 0..2 {
            let f = g.frame(v, j).unwrap();
            assert_eq!(f.extension(), "png");
            let support = f.mask.iter().filter(|&&m| m > 0.0).count();
            assert!(support > 0 && support < n * n, "mask support {support}");
            assert!(f.mask.iter().all(|m| (0.0..=1.0).contains(m)));
            for (method, fake) in &f.fakes {
                assert_eq!(fake.dimensions(), (n as u32, n as u32));
                let mut inside = 0;
                for i in 0..n * n {
                    if differs(fake, &f.real, i) {
                        assert!(
                            f.mask[i] > 0.0,
                            "{method}: pixel {i} changed outside the mask"
                        );
                        inside += 1;
                    }
                }
                *changed.entry(*method).or_default() += inside;
                if *method == Method::None {
                    assert_eq!(inside, 0, "the null manipulation changed pixels");
                }
            }
        }
    }
    for m in Method::ALL {
        assert!(changed[&m] > 50, "{m} changed only {} pixels", changed[&m]);
    }
}

#[test]
fn jpeg_differences_stay_in_blocks_touching_the_mask() {
    let n = 64;
    let cfg = Config {
        image_size: n,
        videos: [2, 1, 1],
        frames_per_video: 1,
        textures: 3,
        methods: vec![Method::Bilinear, Method::Nearest],
        jpeg_quality: Some([90, 90]),
        ..Config::default()
    };
    let g = Generator::new(cfg).unwrap();
    for v in 0..g.num_videos() {
        let f = g.frame(v, 0).unwrap();
        assert_eq!(f.params.jpeg_quality, Some(90));
        let real = image::load_from_memory(&f.encode(&f.real).unwrap())
            .unwrap()
            .to_rgb8();
        // 16×16 MCUs (chroma sub-sampling) that the mask touches.
        let mcu = |i: usize| (i / n / 16, i % n / 16);
        let touched: BTreeSet<_> = (0..n * n).filter(|&i| f.mask[i] > 0.0).map(mcu).collect();
        for (m, fake) in &f.fakes {
            let dec = image::load_from_memory(&f.encode(fake).unwrap())
                .unwrap()
                .to_rgb8();
            for i in 0..n * n {
                if differs(&dec, &real, i) {
                    assert!(touched.contains(&mcu(i)), "{m}: JPEG change far from mask");
                }
            }
        }
    }
}

#[test]
fn null_manipulation_is_indistinguishable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::None],
        swap_prob: 1.0,
        jpeg_quality: Some([40, 95]),
        ..Config::tiny()
    };
    let m = synthetic::generate(&cfg, dir.path()).unwrap();
    let tree = FrameFolder::open(dir.path()).unwrap();
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for s in tree.samples() {
        let bytes = std::fs::read(&s.path).unwrap();
        if s.is_fake() {
            // The paired real frame has byte-identical content.
            let v = m.videos.iter().find(|v| v.fake_id == s.video_id).unwrap();
            let real = dir
                .path()
                .join("real")
                .join(&v.id)
                .join(s.path.file_name().unwrap());
            assert_eq!(bytes, std::fs::read(real).unwrap(), "{}", s.path.display());
        }
        // Any statistic of the pixels is then at chance: here a high-pass energy.
        let x = load_frame(&s.path, &LoadOptions::default()).unwrap();
        scores.push(high_pass_energy(&x));
        labels.push(s.is_fake());
    }
    let auc = roc_auc(&scores, &labels).unwrap();
    assert!((auc - 0.5).abs() < 1e-9, "null AUC {auc}");
}

/// Mean squared horizontal + vertical first difference of a `3×H×W` tensor.
fn high_pass_energy(x: &Tensor) -> f64 {
    let (_, h, w) = x.dims3().unwrap();
    let dx = (x.narrow(2, 1, w - 1).unwrap() - x.narrow(2, 0, w - 1).unwrap()).unwrap();
    let dy = (x.narrow(1, 1, h - 1).unwrap() - x.narrow(1, 0, h - 1).unwrap()).unwrap();
    let e = |t: Tensor| {
        t.sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    e(dx) + e(dy)
}

#[test]
fn up_sampling_leaves_a_detectable_trace() {
    // Sanity of the proxy in the other direction: with strong settings a trivial
    // statistic (high-pass energy inside the mask) tells a fake from its real frame.
    let n = 48;
    let cfg = Config {
        image_size: n,
        videos: [10, 1, 1],
        frames_per_video: 1,
        textures: 3,
        methods: vec![Method::Bilinear, Method::Fourier],
        scales: vec![3.0, 4.0],
        alphas: vec![1.0],
        mask_shapes: vec![MaskShape::CentredEllipse],
        swap_prob: 0.0,
        jpeg_quality: None,
        ..Config::default()
    };
    let g = Generator::new(cfg).unwrap();
    let energy = |img: &RgbImage, mask: &[f32]| -> f64 {
        let px = |y: usize, x: usize, c: usize| img.get_pixel(x as u32, y as u32)[c] as f64;
        let mut e = 0.0;
        for y in 0..n - 1 {
            for x in 0..n - 1 {
                if mask[y * n + x] > 0.5 {
                    for c in 0..3 {
                        e += (px(y, x + 1, c) - px(y, x, c)).powi(2)
                            + (px(y + 1, x, c) - px(y, x, c)).powi(2);
                    }
                }
            }
        }
        e
    };
    for k in 0..2 {
        // Paired: the fake has less high-frequency energy inside the mask than its
        // real frame, for (nearly) every frame.
        let mut lower = 0;
        for v in 0..g.num_videos() {
            let f = g.frame(v, 0).unwrap();
            if energy(&f.fakes[k].1, &f.mask) < energy(&f.real, &f.mask) {
                lower += 1;
            }
        }
        let m = g.config().methods[k];
        assert!(
            lower * 10 >= g.num_videos() * 9,
            "{m}: {lower}/{}",
            g.num_videos()
        );
    }
}

#[test]
fn loader_reads_the_generated_tree() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::Bilinear, Method::ZeroInsertion],
        ..Config::tiny()
    };
    let m = synthetic::generate(&cfg, dir.path()).unwrap();
    let tree = FrameFolder::open(dir.path()).unwrap();
    assert_eq!(tree.layout(), &Layout::Candor);
    let nv = m.videos.len();
    assert_eq!(nv, 7);
    assert_eq!(tree.len(), nv * 2 * 3);
    assert_eq!(tree.methods(), ["bilinear", "zero_insertion"]);
    let real_ids: BTreeSet<&str> = m.videos.iter().map(|v| v.id.as_str()).collect();
    let fake_ids: BTreeSet<&str> = m.videos.iter().map(|v| v.fake_id.as_str()).collect();
    for s in tree.samples() {
        assert_eq!(s.path.extension().unwrap(), "jpg");
        match &s.method {
            None => {
                assert_eq!(s.label, 0);
                assert!(real_ids.contains(s.video_id.as_str()));
            }
            Some(meth) => {
                assert_eq!(s.label, 1);
                assert!(fake_ids.contains(s.video_id.as_str()));
                assert!(s.path.starts_with(dir.path().join("fake").join(meth)));
            }
        }
    }
    // Frames of a video group under one key; 7 real + 14 fake videos.
    let keys: BTreeSet<String> = tree.samples().iter().map(|s| s.video_key()).collect();
    assert_eq!(keys.len(), nv * 3);

    // Splits: disjoint, complete, and fakes follow their target video.
    let splits = Splits::read(dir.path().join("splits.json")).unwrap();
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for split in Split::ALL {
        assert_eq!(splits.get(split), m.video_ids(split).as_slice());
        let sel = tree.select(splits.get(split));
        assert_eq!(sel.len(), cfg.videos[split as usize] * 2 * 3);
        for s in &sel {
            assert!(seen.insert(s.path.clone()));
        }
        total += sel.len();
    }
    assert_eq!(total, tree.len());

    // Loading: normalised to [−1, 1], resized or cropped on request.
    let (x, y) = load_batch(&tree.samples()[..4], &LoadOptions::default()).unwrap();
    assert_eq!(x.dims(), &[4, 3, 32, 32]);
    assert_eq!(y.to_vec1::<u32>().unwrap(), [0, 0, 0, 0]);
    let lo = x.min_all().unwrap().to_scalar::<f32>().unwrap();
    let hi = x.max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((-1.0..=1.0).contains(&lo) && (-1.0..=1.0).contains(&hi) && hi > lo);
    let s = &tree.samples()[0];
    let opts = LoadOptions {
        size: Some((20, 16)),
        fit: Fit::CenterCrop,
        normalize: Normalize::Unit,
    };
    let c = s.load(&opts).unwrap();
    assert_eq!(c.dims(), &[3, 20, 16]);
    let full = s
        .load(&LoadOptions {
            normalize: Normalize::Unit,
            ..LoadOptions::default()
        })
        .unwrap();
    let want = full.narrow(1, 6, 20).unwrap().narrow(2, 8, 16).unwrap();
    let d = (c - want).unwrap().abs().unwrap().max_all().unwrap();
    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    assert_eq!(
        s.load(&LoadOptions::sized(8, 8)).unwrap().dims(),
        &[3, 8, 8]
    );
    let big = LoadOptions {
        size: Some((40, 40)),
        fit: Fit::CenterCrop,
        ..LoadOptions::default()
    };
    let e = s.load(&big).unwrap_err().to_string();
    assert!(e.contains(&*s.path.to_string_lossy()), "{e}");
    let inet = s
        .load(&LoadOptions {
            normalize: Normalize::ImageNet,
            ..LoadOptions::default()
        })
        .unwrap();
    let back = Normalize::ImageNet.invert(&inet).unwrap();
    let d = (back - full).unwrap().abs().unwrap().max_all().unwrap();
    assert!(d.to_scalar::<f32>().unwrap() < 1e-5);

    // Options: one method, 1 frame per video.
    let opts = FolderOptions {
        methods: Some(vec!["zero_insertion".into()]),
        frames_per_video: Some(1),
        ..FolderOptions::default()
    };
    let t = FrameFolder::open_with(dir.path(), &opts).unwrap();
    assert_eq!(t.len(), nv * 2);
    assert_eq!(t.methods(), ["zero_insertion"]);
    let bad = FolderOptions {
        methods: Some(vec!["Deepfakes".into()]),
        ..FolderOptions::default()
    };
    let e = FrameFolder::open_with(dir.path(), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Deepfakes"), "{e}");
}

#[test]
fn faceforensics_layout_and_split_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let img = RgbImage::from_pixel(10, 12, image::Rgb([10, 200, 30]));
    let put = |p: PathBuf| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        img.save(&p).unwrap();
    };
    for comp in ["c23", "c40"] {
        for vid in ["000", "003"] {
            for f in ["0.png", "10.png", "2.png"] {
                put(r.join(format!(
                    "original_sequences/youtube/{comp}/frames/{vid}/{f}"
                )));
            }
        }
        for method in ["Deepfakes", "Face2Face"] {
            for vid in ["000_003", "003_000"] {
                put(r.join(format!(
                    "manipulated_sequences/{method}/{comp}/frames/{vid}/0.png"
                )));
            }
        }
    }
    std::fs::write(
        r.join("original_sequences/youtube/c23/frames/000/notes.txt"),
        "x",
    )
    .unwrap();
    // Two compressions: the choice is required.
    let e = FrameFolder::open(r).unwrap_err().to_string();
    assert!(e.contains("compression"), "{e}");
    let opts = FolderOptions {
        compression: Some("c40".into()),
        ..FolderOptions::default()
    };
    let t = FrameFolder::open_with(r, &opts).unwrap();
    assert_eq!(
        t.layout(),
        &Layout::FaceForensics {
            compression: "c40".into()
        }
    );
    assert_eq!(t.len(), 2 * 3 + 2 * 2);
    assert_eq!(t.methods(), ["Deepfakes", "Face2Face"]);
    let names: Vec<String> = t.samples()[..3]
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["0.png", "2.png", "10.png"], "natural frame order");
    let f = t.samples().iter().find(|s| s.is_fake()).unwrap();
    assert_eq!(f.method.as_deref(), Some("Deepfakes"));
    assert_eq!(f.video_id, "000_003");
    assert_eq!(f.target_id(), "000");
    let missing = FolderOptions {
        compression: Some("raw".into()),
        ..FolderOptions::default()
    };
    assert!(FrameFolder::open_with(r, &missing).is_err());

    // FF++'s split files: lists of [target, source] pairs.
    std::fs::write(r.join("test.json"), r#"[["003", "000"]]"#).unwrap();
    std::fs::write(r.join("train.json"), r#"[["071", "054"], ["087", "081"]]"#).unwrap();
    std::fs::write(r.join("val.json"), "[]").unwrap();
    assert_eq!(
        read_ffpp_split(r.join("train.json")).unwrap(),
        ["054", "071", "081", "087"]
    );
    let s = Splits::read_ffpp_dir(r).unwrap();
    assert_eq!(t.select(s.get(Split::Test)).len(), t.len());
    assert!(t.select(s.get(Split::Train)).is_empty());
    std::fs::write(r.join("val.json"), "{\"oops\": 1}").unwrap();
    let e = Splits::read_ffpp_dir(r).unwrap_err().to_string();
    assert!(e.contains("val.json"), "{e}");

    // Not a tree at all.
    let empty = tempfile::tempdir().unwrap();
    let e = FrameFolder::open(empty.path()).unwrap_err().to_string();
    assert!(e.contains("real/<video>"), "{e}");
    assert!(FrameFolder::open(empty.path().join("nope")).is_err());
}

#[test]
fn corrupt_or_missing_frames_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::Nearest],
        jpeg_quality: None,
        ..Config::tiny()
    };
    synthetic::generate(&cfg, dir.path()).unwrap();
    let tree = FrameFolder::open(dir.path()).unwrap();
    let samples = tree.samples();
    let bad = &samples[1];
    std::fs::write(&bad.path, b"\x89PNG but not really").unwrap();
    let gone = &samples[samples.len() - 1];
    std::fs::remove_file(&gone.path).unwrap();
    for s in [bad, gone] {
        let e = s.load(&LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains(&*s.path.to_string_lossy()), "{e}");
        let e = load_batch(samples, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("000.png") || e.contains("001.png"), "{e}");
    }
    let e = load_batch(&samples[..1], &LoadOptions::default());
    assert!(e.is_ok());
    assert!(load_batch(&[], &LoadOptions::default()).is_err());
}

#[test]
fn label_shuffle_control() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::Bilinear],
        videos: [6, 2, 2],
        ..Config::tiny()
    };
    synthetic::generate(&cfg, dir.path()).unwrap();
    let samples = FrameFolder::open(dir.path()).unwrap().into_samples();
    let a = shuffle_labels(&samples, 3);
    assert_eq!(a, shuffle_labels(&samples, 3));
    let count = |s: &[candor_forgery::data::Sample]| {
        let v: BTreeMap<String, u32> = s.iter().map(|x| (x.video_key(), x.label)).collect();
        v.values().filter(|&&l| l == 1).count()
    };
    assert_eq!(count(&a), count(&samples));
    let mut per_video: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for s in &a {
        per_video.entry(s.video_key()).or_default().insert(s.label);
    }
    assert!(
        per_video.values().all(|l| l.len() == 1),
        "one label per video"
    );
    let moved = a
        .iter()
        .zip(&samples)
        .filter(|(x, y)| x.label != y.label)
        .count();
    assert!(moved > 0);
    assert!(a.iter().zip(&samples).all(|(x, y)| x.path == y.path));
}

#[test]
fn random_video_labels_control() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        methods: vec![Method::Bilinear],
        videos: [7, 2, 2],
        ..Config::tiny()
    };
    synthetic::generate(&cfg, dir.path()).unwrap();
    let tree = FrameFolder::open(dir.path()).unwrap();
    let reals: Vec<_> = tree
        .samples()
        .iter()
        .filter(|s| !s.is_fake())
        .cloned()
        .collect();
    let a = random_video_labels(&reals, 4);
    assert_eq!(a, random_video_labels(&reals, 4));
    assert_ne!(a, random_video_labels(&reals, 5));
    let mut per_video: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for s in &a {
        per_video.entry(s.video_key()).or_default().insert(s.label);
    }
    assert_eq!(per_video.len(), 11);
    assert!(
        per_video.values().all(|l| l.len() == 1),
        "one label per video"
    );
    let fakes = per_video.values().filter(|l| l.contains(&1)).count();
    assert_eq!(fakes, 5, "floor(11 / 2) videos labelled fake");
    assert!(a.iter().zip(&reals).all(|(x, y)| x.path == y.path));
}

#[test]
fn blur_method_changes_only_the_region_and_removes_detail() {
    let n = 64;
    let cfg = Config {
        image_size: n,
        videos: [2, 1, 1],
        frames_per_video: 1,
        photos: false,
        textures: 3,
        methods: vec![Method::Blur],
        alphas: vec![1.0],
        jpeg_quality: None,
        swap_prob: 0.0,
        mask_axes: [0.5, 0.8],
        ..Config::default()
    };
    assert_eq!(Method::from_name("blur"), Some(Method::Blur));
    let g = Generator::new(cfg).unwrap();
    for v in 0..g.num_videos() {
        let f = g.frame(v, 0).unwrap();
        let (_, fake) = &f.fakes[0];
        // Mean absolute horizontal gradient where the mask is (almost) fully on.
        let inside = |i: usize| f.mask[i] > 0.95;
        assert!((0..n * n).any(inside), "video {v}: no region");
        let grad = |img: &RgbImage| {
            let (mut sum, mut k) = (0.0, 0);
            for y in 0..n {
                for x in 0..n - 1 {
                    if inside(y * n + x) && inside(y * n + x + 1) {
                        let a = img.get_pixel(x as u32, y as u32)[1] as f64;
                        let b = img.get_pixel(x as u32 + 1, y as u32)[1] as f64;
                        sum += (a - b).abs();
                        k += 1;
                    }
                }
            }
            sum / k.max(1) as f64
        };
        assert!(
            grad(fake) < 0.5 * grad(&f.real),
            "video {v}: {} vs {}",
            grad(fake),
            grad(&f.real)
        );
        for i in 0..n * n {
            if f.mask[i] == 0.0 {
                let (x, y) = ((i % n) as u32, (i / n) as u32);
                assert_eq!(fake.get_pixel(x, y), f.real.get_pixel(x, y));
            }
        }
    }
}

#[test]
fn config_is_checked() {
    let j = serde_json::to_string(&Config::default()).unwrap();
    assert_eq!(Config::from_json(&j).unwrap(), Config::default());
    let partial =
        Config::from_json(r#"{"image_size": 64, "methods": ["fourier", "none"]}"#).unwrap();
    assert_eq!(partial.methods, [Method::Fourier, Method::None]);
    assert!(Config::from_json(r#"{"image_sise": 64}"#).is_err());
    assert_eq!(
        Method::from_name("zero_insertion"),
        Some(Method::ZeroInsertion)
    );
    let bad = [
        Config {
            image_size: 4,
            ..Config::tiny()
        },
        Config {
            image_size: 300,
            ..Config::tiny()
        },
        Config {
            methods: vec![],
            ..Config::tiny()
        },
        Config {
            methods: vec![Method::Nearest, Method::Nearest],
            ..Config::tiny()
        },
        Config {
            scales: vec![0.5],
            ..Config::tiny()
        },
        Config {
            scales: vec![17.0],
            ..Config::tiny()
        },
        Config {
            alphas: vec![f64::NAN],
            ..Config::tiny()
        },
        Config {
            jpeg_quality: Some([90, 80]),
            ..Config::tiny()
        },
        Config {
            split: [0.5, 0.5, 0.5],
            ..Config::tiny()
        },
        Config {
            photos: false,
            textures: 0,
            ..Config::tiny()
        },
        Config {
            extra_photos: vec!["/nonexistent/photo.png".into()],
            ..Config::tiny()
        },
    ];
    for cfg in bad {
        assert!(Generator::new(cfg.clone()).is_err(), "{cfg:?}");
    }
    let g = Generator::new(Config::tiny()).unwrap();
    assert!(g.frame(99, 0).is_err());
    assert!(g.frame(0, 2).is_err());
}

#[test]
fn extra_photos_join_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.png");
    let mut rng = SeededRng::new(0);
    let img = RgbImage::from_fn(40, 36, |_, _| {
        image::Rgb([rng.below(256) as u8, rng.below(256) as u8, 7])
    });
    img.save(&p).unwrap();
    let cfg = Config {
        photos: false,
        textures: 4,
        extra_photos: vec![p.clone()],
        split: [1.0, 0.0, 0.0],
        videos: [3, 0, 0],
        ..Config::tiny()
    };
    let m = Generator::new(cfg.clone()).unwrap().manifest();
    assert!(m.sources.iter().any(|s| s.name == "file_mine"));
    std::fs::write(&p, b"garbage").unwrap();
    let e = Generator::new(cfg).err().unwrap().to_string();
    assert!(e.contains("mine.png"), "{e}");
}

#[test]
fn npy_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
    write_npy_f32(&p, &[3, 4], &data).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"));
    assert!(header.ends_with('\n'));
    assert_eq!(bytes.len(), 10 + hlen + 48);
    assert_eq!(read_npy_f32(&p).unwrap(), (vec![3, 4], data.clone()));

    let one = encode_npy_f32(&[5], &[1.0; 5]).unwrap();
    assert!(std::str::from_utf8(&one[10..70])
        .unwrap()
        .contains("'shape': (5,)"));
    assert!(encode_npy_f32(&[2, 2], &[1.0; 3]).is_err());
    std::fs::write(&p, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'").unwrap();
    let e = read_npy_f32(&p).unwrap_err().to_string();
    assert!(e.contains("a.npy"), "{e}");
    assert!(read_npy_f32(dir.path().join("missing.npy")).is_err());
}

fn random_image(h: usize, w: usize, seed: u64) -> Tensor {
    SeededRng::new(seed)
        .uniform_tensor(0.0, 1.0, (3, h, w), DType::F32, &Device::Cpu)
        .unwrap()
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn phase_channel_follows_the_card() {
    let (h, w) = (12, 10);
    let x = random_image(h, w, 1);
    let p = phase_channel(&x, Normalize::Unit, PhaseScale::Raw).unwrap();
    assert_eq!(p.dims(), &[h, w]);
    let pv = vals(&p);

    // Definition: grey = mean over channels of (x − 0.5)/0.5, then core's spectrum.
    let xv = vals(&x);
    let grey: Vec<f32> = (0..h * w)
        .map(|i| (0..3).map(|c| 2.0 * xv[c * h * w + i] - 1.0).sum::<f32>() / 3.0)
        .collect();
    let want = phase_spectrum(&grey, h, w).unwrap();
    for (a, b) in pv.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    // RMS = 1/sqrt(H·W), or 1 with UnitRms.
    let rms =
        |v: &[f32]| (v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!((rms(&pv) - 1.0 / ((h * w) as f64).sqrt()).abs() < 1e-6);
    let unit = phase_channel(&x, Normalize::Unit, PhaseScale::UnitRms).unwrap();
    assert!((rms(&vals(&unit)) - 1.0).abs() < 1e-5);

    // The same image given normalised as (x − 0.5)/0.5 or ImageNet: same channel.
    for norm in [Normalize::Symmetric, Normalize::ImageNet] {
        let q = phase_channel(&norm.apply(&x).unwrap(), norm, PhaseScale::Raw).unwrap();
        for (a, b) in vals(&q).iter().zip(&pv) {
            assert!((a - b).abs() < 1e-5, "{norm:?}");
        }
    }

    // Normalisation only touches the DC phase: a dark image (mean < ½) gives the
    // [0, 1]-input phase minus 2/(H·W); a bright one gives it unchanged.
    for (scale, shift) in [(0.6f64, -2.0 / (h * w) as f32), (1.0, 0.0)] {
        let img = if scale < 1.0 {
            x.affine(scale, 0.0).unwrap()
        } else {
            x.affine(0.5, 0.5).unwrap()
        };
        let p = vals(&phase_channel(&img, Normalize::Unit, PhaseScale::Raw).unwrap());
        let iv = vals(&img);
        let grey01: Vec<f32> = (0..h * w)
            .map(|i| (0..3).map(|c| iv[c * h * w + i]).sum::<f32>() / 3.0)
            .collect();
        let p01 = phase_spectrum(&grey01, h, w).unwrap();
        for (a, b) in p.iter().zip(&p01) {
            assert!((a - (b + shift)).abs() < 1e-6, "{a} vs {b} + {shift}");
        }
    }

    // Impulse: a grey image with one bright pixel reconstructs a unit impulse (the
    // constant background only moves the DC term: p = δ − 2/(H·W) when dark).
    let mut imp = vec![0f32; 3 * h * w];
    for c in 0..3 {
        imp[c * h * w + 5 * w + 7] = 1.0;
    }
    let imp = Tensor::from_vec(imp, (3, h, w), &Device::Cpu).unwrap();
    let p = vals(&phase_channel(&imp, Normalize::Unit, PhaseScale::Raw).unwrap());
    for (i, v) in p.iter().enumerate() {
        let want = if i == 5 * w + 7 { 1.0 } else { 0.0 } - 2.0 / (h * w) as f32;
        assert!((v - want).abs() < 1e-6, "{i}: {v}");
    }

    // Contrast invariance (the card's scale invariance after centring): p depends on
    // the normalised grey image only up to a positive factor.
    let y = phase_channel(
        &x.affine(0.5, 0.25).unwrap(),
        Normalize::Unit,
        PhaseScale::Raw,
    )
    .unwrap();
    let z = phase_channel(
        &x.affine(0.5, 0.25)
            .unwrap()
            .affine(2.0, -1.0)
            .unwrap()
            .affine(3.0, 0.0)
            .unwrap(),
        Normalize::Symmetric,
        PhaseScale::Raw,
    )
    .unwrap();
    for (a, b) in vals(&y).iter().zip(vals(&z).iter()) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn phase_batch_is_per_image() {
    let (h, w) = (8, 9);
    let imgs: Vec<Tensor> = (0..3).map(|s| random_image(h, w, 10 + s)).collect();
    let batch = Tensor::stack(&imgs, 0).unwrap();
    let p = phase_channel_batch(&batch, Normalize::Unit, PhaseScale::Raw).unwrap();
    assert_eq!(p.dims(), &[3, 1, h, w]);
    for (i, img) in imgs.iter().enumerate() {
        let one = phase_channel(img, Normalize::Unit, PhaseScale::Raw).unwrap();
        assert_eq!(vals(&p.get(i).unwrap()), vals(&one));
    }
    let sym = Normalize::Symmetric.apply(&batch).unwrap();
    let x4 = with_phase_channel(&sym, Normalize::Symmetric, PhaseScale::UnitRms).unwrap();
    assert_eq!(x4.dims(), &[3, 4, h, w]);
    assert_eq!(vals(&x4.narrow(1, 0, 3).unwrap()), vals(&sym));
    let scaled = (p * ((h * w) as f64).sqrt()).unwrap();
    let d = (x4.narrow(1, 3, 1).unwrap() - scaled)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5);
    // Bad shapes are errors.
    assert!(phase_channel(&batch, Normalize::Unit, PhaseScale::Raw).is_err());
    let two = Tensor::zeros((2, h, w), DType::F32, &Device::Cpu).unwrap();
    assert!(phase_channel(&two, Normalize::Unit, PhaseScale::Raw).is_err());
    let grey = Tensor::zeros((1, 1, h, w), DType::F32, &Device::Cpu).unwrap();
    assert!(phase_channel_batch(&grey, Normalize::ImageNet, PhaseScale::Raw).is_err());
    assert!(phase_channel_batch(&grey, Normalize::Unit, PhaseScale::Raw).is_ok());
}

#[test]
fn phase_channel_reacts_to_the_proxy() {
    // The card's sensitivity check: with a centred ellipse down-sampled ×2–3 and
    // re-up-sampled, the inside/outside ratio of mean |p| drops for smooth
    // up-samplers.
    let n = 64;
    let cfg = Config {
        image_size: n,
        videos: [6, 1, 1],
        frames_per_video: 1,
        textures: 3,
        methods: vec![Method::Bicubic],
        scales: vec![2.0, 3.0],
        alphas: vec![1.0],
        mask_shapes: vec![MaskShape::CentredEllipse],
        feather: [0.02, 0.02],
        swap_prob: 0.0,
        jpeg_quality: None,
        ..Config::default()
    };
    let g = Generator::new(cfg).unwrap();
    let ratio = |img: &RgbImage, mask: &[f32]| -> f64 {
        let t = candor_core::imageio::from_dynamic(&image::DynamicImage::ImageRgb8(img.clone()))
            .unwrap();
        let p = vals(&phase_channel(&t, Normalize::Unit, PhaseScale::Raw).unwrap());
        let (mut si, mut ni, mut so, mut no) = (0.0, 0, 0.0, 0);
        for (v, m) in p.iter().zip(mask) {
            if *m > 0.99 {
                si += v.abs() as f64;
                ni += 1;
            } else if *m == 0.0 {
                so += v.abs() as f64;
                no += 1;
            }
        }
        (si / ni as f64) / (so / no as f64)
    };
    let (mut real, mut fake) = (0.0, 0.0);
    for v in 0..g.num_videos() {
        let f = g.frame(v, 0).unwrap();
        real += ratio(&f.real, &f.mask);
        fake += ratio(&f.fakes[0].1, &f.mask);
    }
    assert!(fake < 0.85 * real, "real ratio {real}, fake ratio {fake}");
}
