//! A seeded synthetic stand-in for ModelNet40: procedural shape classes
//! sampled area-uniformly on their surfaces, written in the ModelNet40 HDF5
//! layout. Numbers measured on it are a proxy, not comparable to the paper's.
//!
//! Each class is a triangle mesh centred at the origin with `y` up (as
//! ModelNet40's clouds). Per cloud: the mesh's vertices are scaled per axis by
//! `U[scale_min, scale_max]` (random size and anisotropy) and rotated about `y`
//! by `U[0, 2π)`; `num_points` points are sampled on the transformed surface
//! (triangle ∝ area, so sampling stays uniform after the anisotropic scaling),
//! then the cloud is centred at its mean and scaled to the unit sphere.

use std::f64::consts::PI;
use std::path::Path;

use candor_core::fsio::write_atomic;
use candor_core::SeededRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cloud::normalize_unit_sphere;
use super::hdf5::write_modelnet_h5;
use super::modelnet::{PointCloudSet, Split};
use super::off::Mesh;
use crate::{Error, Result};

/// The procedural shape classes, in label order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeClass {
    Sphere,
    Cube,
    Cylinder,
    Cone,
    Torus,
    Disc,
    Ellipsoid,
    Capsule,
    Pyramid,
    HelixTube,
    Octahedron,
    Prism,
}

impl ShapeClass {
    /// Every class, in label order.
    pub const ALL: [ShapeClass; 12] = [
        ShapeClass::Sphere,
        ShapeClass::Cube,
        ShapeClass::Cylinder,
        ShapeClass::Cone,
        ShapeClass::Torus,
        ShapeClass::Disc,
        ShapeClass::Ellipsoid,
        ShapeClass::Capsule,
        ShapeClass::Pyramid,
        ShapeClass::HelixTube,
        ShapeClass::Octahedron,
        ShapeClass::Prism,
    ];

    /// The class name written to `shape_names.txt`.
    pub fn name(self) -> &'static str {
        match self {
            ShapeClass::Sphere => "sphere",
            ShapeClass::Cube => "cube",
            ShapeClass::Cylinder => "cylinder",
            ShapeClass::Cone => "cone",
            ShapeClass::Torus => "torus",
            ShapeClass::Disc => "disc",
            ShapeClass::Ellipsoid => "ellipsoid",
            ShapeClass::Capsule => "capsule",
            ShapeClass::Pyramid => "pyramid",
            ShapeClass::HelixTube => "helix_tube",
            ShapeClass::Octahedron => "octahedron",
            ShapeClass::Prism => "prism",
        }
    }

    /// The class's canonical mesh (about `[-1, 1]³`, `y` up).
    pub fn mesh(self) -> Mesh {
        const SEG: usize = 48;
        let arc = |r: f64, y0: f64, from: f64, to: f64, steps: usize| -> Vec<(f64, f64)> {
            // profile points (radius, height) on a circle of radius r centred at (0, y0),
            // polar angle from `from` to `to` (0 = bottom pole, π = top pole)
            (0..=steps)
                .map(|i| {
                    let t = from + (to - from) * i as f64 / steps as f64;
                    (r * t.sin(), y0 - r * t.cos())
                })
                .collect()
        };
        match self {
            ShapeClass::Sphere => revolve(&arc(1.0, 0.0, 0.0, PI, 24), SEG),
            ShapeClass::Ellipsoid => {
                let mut m = revolve(&arc(1.0, 0.0, 0.0, PI, 24), SEG);
                scale_mesh(&mut m, [1.0, 0.35, 0.6]);
                m
            }
            ShapeClass::Cube => box_mesh([1.0, 1.0, 1.0]),
            ShapeClass::Cylinder => {
                revolve(&[(0.0, -1.0), (0.6, -1.0), (0.6, 1.0), (0.0, 1.0)], SEG)
            }
            ShapeClass::Cone => revolve(&[(0.0, -1.0), (0.8, -1.0), (0.0, 1.0)], SEG),
            ShapeClass::Disc => {
                revolve(&[(0.0, -0.06), (1.0, -0.06), (1.0, 0.06), (0.0, 0.06)], SEG)
            }
            ShapeClass::Capsule => {
                let mut p = arc(0.45, -0.55, 0.0, PI / 2.0, 12);
                p.extend(arc(0.45, 0.55, PI / 2.0, PI, 12));
                revolve(&p, SEG)
            }
            ShapeClass::Torus => {
                let p: Vec<(f64, f64)> = (0..=32)
                    .map(|i| {
                        let t = 2.0 * PI * i as f64 / 32.0;
                        (0.75 + 0.25 * t.cos(), 0.25 * t.sin())
                    })
                    .collect();
                revolve(&p, SEG)
            }
            ShapeClass::Pyramid => Mesh {
                vertices: vec![
                    [-1.0, -1.0, -1.0],
                    [1.0, -1.0, -1.0],
                    [1.0, -1.0, 1.0],
                    [-1.0, -1.0, 1.0],
                    [0.0, 1.0, 0.0],
                ],
                faces: vec![
                    [0, 2, 1],
                    [0, 3, 2],
                    [0, 1, 4],
                    [1, 2, 4],
                    [2, 3, 4],
                    [3, 0, 4],
                ],
            },
            ShapeClass::Octahedron => Mesh {
                vertices: vec![
                    [1.0, 0.0, 0.0],
                    [-1.0, 0.0, 0.0],
                    [0.0, 1.0, 0.0],
                    [0.0, -1.0, 0.0],
                    [0.0, 0.0, 1.0],
                    [0.0, 0.0, -1.0],
                ],
                faces: vec![
                    [0, 2, 4],
                    [4, 2, 1],
                    [1, 2, 5],
                    [5, 2, 0],
                    [4, 3, 0],
                    [1, 3, 4],
                    [5, 3, 1],
                    [0, 3, 5],
                ],
            },
            ShapeClass::Prism => {
                // equilateral triangle (circumradius 1) in xz, extruded along y
                let tri: Vec<[f32; 2]> = (0..3)
                    .map(|i| {
                        let t = 2.0 * PI * i as f64 / 3.0;
                        [t.cos() as f32, t.sin() as f32]
                    })
                    .collect();
                let mut vertices = Vec::new();
                for y in [-1.0f32, 1.0] {
                    for t in &tri {
                        vertices.push([t[0], y, t[1]]);
                    }
                }
                let mut faces = vec![[0, 1, 2], [3, 5, 4]];
                for i in 0..3u32 {
                    let j = (i + 1) % 3;
                    faces.push([i, j, j + 3]);
                    faces.push([i, j + 3, i + 3]);
                }
                Mesh { vertices, faces }
            }
            ShapeClass::HelixTube => helix_tube(0.7, 0.16, 2.5, 160, 16),
        }
    }
}

/// A surface of revolution about `y` of a profile of `(radius, height)` points.
fn revolve(profile: &[(f64, f64)], segments: usize) -> Mesh {
    let mut vertices = Vec::with_capacity(profile.len() * segments);
    for &(r, y) in profile {
        for s in 0..segments {
            let t = 2.0 * PI * s as f64 / segments as f64;
            vertices.push([(r * t.cos()) as f32, y as f32, (r * t.sin()) as f32]);
        }
    }
    let mut faces = Vec::new();
    let seg = segments as u32;
    for i in 0..profile.len().saturating_sub(1) as u32 {
        for s in 0..seg {
            let a = i * seg + s;
            let b = i * seg + (s + 1) % seg;
            let (c, d) = (a + seg, b + seg);
            faces.push([a, b, d]);
            faces.push([a, d, c]);
        }
    }
    Mesh { vertices, faces }
}

fn box_mesh(h: [f32; 3]) -> Mesh {
    let mut vertices = Vec::new();
    for i in 0..8u32 {
        vertices.push([
            if i & 1 != 0 { h[0] } else { -h[0] },
            if i & 2 != 0 { h[1] } else { -h[1] },
            if i & 4 != 0 { h[2] } else { -h[2] },
        ]);
    }
    let quads = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    let faces = quads
        .iter()
        .flat_map(|q| [[q[0], q[1], q[2]], [q[0], q[2], q[3]]])
        .collect();
    Mesh { vertices, faces }
}

/// A tube of radius `r` around a helix of radius `big_r` and `turns` turns,
/// spanning `y ∈ [-1, 1]`.
fn helix_tube(big_r: f64, r: f64, turns: f64, steps: usize, around: usize) -> Mesh {
    let mut vertices = Vec::new();
    let h = 2.0 - 2.0 * r; // axis height so the tube stays inside [-1, 1]
    let w = 2.0 * PI * turns;
    for i in 0..=steps {
        let u = i as f64 / steps as f64;
        let a = w * u;
        let c = [big_r * a.cos(), -h / 2.0 + h * u, big_r * a.sin()];
        // tangent, normal towards the axis, binormal
        let t = [-big_r * w * a.sin(), h, big_r * w * a.cos()];
        let tn = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
        let t = [t[0] / tn, t[1] / tn, t[2] / tn];
        let n = [-a.cos(), 0.0, -a.sin()];
        let b = [
            t[1] * n[2] - t[2] * n[1],
            t[2] * n[0] - t[0] * n[2],
            t[0] * n[1] - t[1] * n[0],
        ];
        for s in 0..around {
            let phi = 2.0 * PI * s as f64 / around as f64;
            let (cs, sn) = (phi.cos(), phi.sin());
            vertices.push([
                (c[0] + r * (cs * n[0] + sn * b[0])) as f32,
                (c[1] + r * (cs * n[1] + sn * b[1])) as f32,
                (c[2] + r * (cs * n[2] + sn * b[2])) as f32,
            ]);
        }
    }
    let mut faces = Vec::new();
    let ar = around as u32;
    for i in 0..steps as u32 {
        for s in 0..ar {
            let a = i * ar + s;
            let b = i * ar + (s + 1) % ar;
            faces.push([a, b, b + ar]);
            faces.push([a, b + ar, a + ar]);
        }
    }
    Mesh { vertices, faces }
}

fn scale_mesh(m: &mut Mesh, s: [f32; 3]) {
    for v in &mut m.vertices {
        for d in 0..3 {
            v[d] *= s[d];
        }
    }
}

/// Settings of the synthetic data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Number of classes: the first `num_classes` of [`ShapeClass::ALL`] (1–12).
    pub num_classes: usize,
    /// Training clouds per class.
    pub train_per_class: usize,
    /// Test clouds per class.
    pub test_per_class: usize,
    /// Points per cloud (ModelNet40: 2048).
    pub num_points: usize,
    /// Per-axis scale range, drawn independently for x, y and z.
    pub scale_min: f32,
    /// Upper end of the per-axis scale range.
    pub scale_max: f32,
    /// Clouds per `.h5` file (ModelNet40: 2048).
    pub clouds_per_file: usize,
    /// Seed of everything.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// 10 classes × (100 train + 25 test) clouds of 2048 points, scale U[0.7, 1.3].
    fn default() -> Self {
        SyntheticConfig {
            num_classes: 10,
            train_per_class: 100,
            test_per_class: 25,
            num_points: 2048,
            scale_min: 0.7,
            scale_max: 1.3,
            clouds_per_file: 2048,
            seed: 0,
        }
    }
}

impl SyntheticConfig {
    /// A few small clouds for tests: 10 classes × (3 + 2) clouds of 256 points,
    /// 8 clouds per file (so several files per split).
    pub fn tiny() -> Self {
        SyntheticConfig {
            train_per_class: 3,
            test_per_class: 2,
            num_points: 256,
            clouds_per_file: 8,
            ..Self::default()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.num_classes == 0 || self.num_classes > ShapeClass::ALL.len() {
            return Err(Error::invalid(format!(
                "num_classes must be 1..={}, got {}",
                ShapeClass::ALL.len(),
                self.num_classes
            )));
        }
        if self.num_points == 0 || self.clouds_per_file == 0 {
            return Err(Error::invalid(
                "num_points and clouds_per_file must be at least 1",
            ));
        }
        if !(self.scale_min > 0.0 && self.scale_min <= self.scale_max && self.scale_max.is_finite())
        {
            return Err(Error::invalid(format!(
                "need 0 < scale_min ≤ scale_max, got {} and {}",
                self.scale_min, self.scale_max
            )));
        }
        Ok(())
    }

    /// The classes used, in label order.
    pub fn classes(&self) -> &'static [ShapeClass] {
        &ShapeClass::ALL[..self.num_classes.min(ShapeClass::ALL.len())]
    }

    /// Class names in label order (the lines of `shape_names.txt`).
    pub fn class_names(&self) -> Vec<String> {
        self.classes()
            .iter()
            .map(|c| c.name().to_string())
            .collect()
    }
}

/// One synthetic cloud of `class`: random per-axis scale in `scale`, random
/// rotation about `y`, `num_points` area-uniform surface points, normalised to
/// the unit sphere. Deterministic given `rng`.
pub fn synthetic_cloud(
    class: ShapeClass,
    num_points: usize,
    scale: (f32, f32),
    rng: &mut SeededRng,
) -> Result<Vec<f32>> {
    let mut mesh = class.mesh();
    let s = [0, 1, 2].map(|_| rng.uniform_range(f64::from(scale.0), f64::from(scale.1)));
    let theta = rng.uniform_range(0.0, 2.0 * PI);
    let (c, sn) = (theta.cos(), theta.sin());
    for v in &mut mesh.vertices {
        let (x, y, z) = (
            f64::from(v[0]) * s[0],
            f64::from(v[1]) * s[1],
            f64::from(v[2]) * s[2],
        );
        // rotation about y (PointNet's `rotate_point_cloud` matrix)
        *v = [(c * x - sn * z) as f32, y as f32, (sn * x + c * z) as f32];
    }
    let mut pts = mesh.sample_surface(num_points, rng)?;
    normalize_unit_sphere(&mut pts)?;
    Ok(pts)
}

/// Generates one split in memory. Clouds are balanced over the classes and
/// shuffled; cloud `i` uses the stream `derive(seed, "synthetic/<split>/<i>")`,
/// so the result does not depend on the thread count.
pub fn generate_split(cfg: &SyntheticConfig, split: Split) -> Result<PointCloudSet> {
    cfg.validate()?;
    let per_class = match split {
        Split::Train => cfg.train_per_class,
        Split::Test => cfg.test_per_class,
    };
    let classes = cfg.classes();
    let n = per_class * classes.len();
    let mut labels: Vec<u32> = (0..n).map(|i| (i % classes.len()) as u32).collect();
    SeededRng::derive(cfg.seed, &format!("synthetic/{}/order", split.as_str()))
        .shuffle(&mut labels);
    let clouds: Vec<Vec<f32>> = labels
        .par_iter()
        .enumerate()
        .map(|(i, &l)| {
            let mut rng = SeededRng::derive(cfg.seed, &format!("synthetic/{}/{i}", split.as_str()));
            synthetic_cloud(
                classes[l as usize],
                cfg.num_points,
                (cfg.scale_min, cfg.scale_max),
                &mut rng,
            )
        })
        .collect::<Result<_>>()?;
    PointCloudSet::new(clouds.concat(), labels, cfg.num_points, cfg.class_names())
}

/// Writes a synthetic data set into `dir` in the ModelNet40 layout:
/// `ply_data_train{i}.h5`, `ply_data_test{i}.h5` (at most `clouds_per_file`
/// clouds each), `shape_names.txt`, `train_files.txt` and `test_files.txt`.
/// Returns the two splits as written.
pub fn write_synthetic_modelnet(
    dir: impl AsRef<Path>,
    cfg: &SyntheticConfig,
) -> Result<(PointCloudSet, PointCloudSet)> {
    let dir = dir.as_ref();
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut names = cfg.class_names().join("\n");
    names.push('\n');
    write_atomic(dir.join("shape_names.txt"), names.as_bytes())?;
    let mut out = Vec::new();
    for split in [Split::Train, Split::Test] {
        let set = generate_split(cfg, split)?;
        let mut list = String::new();
        let per_file = cfg.clouds_per_file;
        let w = cfg.num_points * 3;
        let files = set.len().div_ceil(per_file).max(1);
        for f in 0..files {
            let lo = (f * per_file).min(set.len());
            let hi = ((f + 1) * per_file).min(set.len());
            let labels: Vec<u8> = set.labels[lo..hi].iter().map(|&l| l as u8).collect();
            if labels.is_empty() {
                break; // a split with no clouds writes no file
            }
            let name = format!("ply_data_{}{f}.h5", split.as_str());
            write_modelnet_h5(
                dir.join(&name),
                &set.points[lo * w..hi * w],
                &labels,
                cfg.num_points,
            )?;
            list.push_str(&name);
            list.push('\n');
        }
        write_atomic(
            dir.join(format!("{}_files.txt", split.as_str())),
            list.as_bytes(),
        )?;
        out.push(set);
    }
    let test = out.pop().unwrap_or_else(|| unreachable!());
    let train = out.pop().unwrap_or_else(|| unreachable!());
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_mesh_is_valid_and_closed_enough() {
        for c in ShapeClass::ALL {
            let m = c.mesh();
            m.validate().unwrap();
            assert!(m.area() > 0.5, "{c:?} area {}", m.area());
            let p = synthetic_cloud(c, 128, (0.7, 1.3), &mut SeededRng::new(1)).unwrap();
            assert_eq!(p.len(), 128 * 3);
            let maxn = p
                .chunks(3)
                .map(|q| (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt())
                .fold(0f32, f32::max);
            assert!((maxn - 1.0).abs() < 1e-5, "{c:?}");
        }
    }

    #[test]
    fn sphere_samples_lie_on_the_surface() {
        // The faceted sphere mesh deviates from the unit sphere by well under 1 %.
        let p = ShapeClass::Sphere
            .mesh()
            .sample_surface(2000, &mut SeededRng::new(2))
            .unwrap();
        for q in p.chunks(3) {
            let r = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
            assert!((0.99..=1.0 + 1e-6).contains(&r), "{r}");
        }
    }

    #[test]
    fn generation_is_seeded() {
        let cfg = SyntheticConfig {
            train_per_class: 1,
            test_per_class: 1,
            num_points: 64,
            ..SyntheticConfig::default()
        };
        let a = generate_split(&cfg, Split::Test).unwrap();
        let b = generate_split(&cfg, Split::Test).unwrap();
        assert_eq!(a, b);
        let c = generate_split(
            &SyntheticConfig {
                seed: 1,
                ..cfg.clone()
            },
            Split::Test,
        )
        .unwrap();
        assert_ne!(a.points, c.points);
        let mut sorted = a.labels.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<u32>>());
        assert!(SyntheticConfig {
            num_classes: 13,
            ..cfg
        }
        .validate()
        .is_err());
    }
}
