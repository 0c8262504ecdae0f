//! ModelNet40 as distributed in `modelnet40_ply_hdf5_2048`: a folder of
//! `ply_data_{train,test}{0..}.h5` files (datasets `data` f32 `[n, 2048, 3]`,
//! `label` u8 `[n, 1]`) and `shape_names.txt` (one class name per line,
//! label `i` = line `i`). The synthetic generator writes the same layout.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hdf5::H5File;
use crate::{Error, Result};

/// Which half of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// `ply_data_train*.h5`
    Train,
    /// `ply_data_test*.h5`
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Labelled point clouds that all have the same number of points.
#[derive(Debug, Clone, PartialEq)]
pub struct PointCloudSet {
    /// `len() × num_points × 3` coordinates, row-major.
    pub points: Vec<f32>,
    /// One class index per cloud.
    pub labels: Vec<u32>,
    /// Points per cloud.
    pub num_points: usize,
    /// Class names (label `i` is `class_names[i]`).
    pub class_names: Vec<String>,
}

impl PointCloudSet {
    /// Builds a set, checking sizes, finiteness and label range.
    pub fn new(
        points: Vec<f32>,
        labels: Vec<u32>,
        num_points: usize,
        class_names: Vec<String>,
    ) -> Result<Self> {
        if num_points == 0 {
            return Err(Error::invalid("a point cloud set needs num_points ≥ 1"));
        }
        if Some(points.len()) != labels.len().checked_mul(num_points * 3) {
            return Err(Error::invalid(format!(
                "{} coordinates for {} clouds of {num_points} points",
                points.len(),
                labels.len()
            )));
        }
        if let Some(i) = points.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "cloud {} point {} has a non-finite coordinate",
                i / (num_points * 3),
                (i / 3) % num_points
            )));
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= class_names.len())
        {
            return Err(Error::invalid(format!(
                "cloud {i} has label {l} but there are {} class names",
                class_names.len()
            )));
        }
        Ok(PointCloudSet {
            points,
            labels,
            num_points,
            class_names,
        })
    }

    /// Number of clouds.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` when the set has no clouds.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Cloud `i` (`num_points × 3` values), or `None` when out of range.
    pub fn cloud(&self, i: usize) -> Option<&[f32]> {
        let w = self.num_points * 3;
        self.points
            .get(i.checked_mul(w)?..i.checked_add(1)?.checked_mul(w)?)
    }

    /// All clouds in order.
    pub fn clouds(&self) -> impl Iterator<Item = &[f32]> {
        self.points.chunks_exact(self.num_points * 3)
    }

    /// The same clouds cut to their first `n` points (PointNet uses the first
    /// 1024 of ModelNet40's 2048). Errors if `n` is 0 or above `num_points`.
    pub fn first_points(&self, n: usize) -> Result<PointCloudSet> {
        if n == 0 || n > self.num_points {
            return Err(Error::invalid(format!(
                "cannot keep {n} of {} points",
                self.num_points
            )));
        }
        let mut points = Vec::with_capacity(self.len() * n * 3);
        for c in self.clouds() {
            points.extend_from_slice(&c[..n * 3]);
        }
        Ok(PointCloudSet {
            points,
            labels: self.labels.clone(),
            num_points: n,
            class_names: self.class_names.clone(),
        })
    }
}

/// Reads `shape_names.txt`: one class name per non-empty line.
pub fn read_shape_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        return Err(Error::format(path, "no class names"));
    }
    Ok(names)
}

/// The clouds of one `.h5` file: `(points, labels, num_points)`.
///
/// Checks that `data` is `[n, p, 3]` float, `label` is `[n]` or `[n, 1]` integer
/// with the same `n`, labels are non-negative and coordinates finite.
pub fn read_h5_clouds(path: impl AsRef<Path>) -> Result<(Vec<f32>, Vec<u32>, usize)> {
    clouds_of(&H5File::open(path)?)
}

/// [`read_h5_clouds`] of a file held in memory; `name` is used in errors.
pub fn parse_h5_clouds(
    bytes: Vec<u8>,
    name: impl Into<PathBuf>,
) -> Result<(Vec<f32>, Vec<u32>, usize)> {
    clouds_of(&H5File::from_bytes(bytes, name)?)
}

fn clouds_of(f: &H5File) -> Result<(Vec<f32>, Vec<u32>, usize)> {
    let path = f.path();
    let data = f.dataset("data")?;
    let shape = data.shape();
    if shape.len() != 3 || shape[2] != 3 || shape[1] == 0 {
        return Err(Error::format(
            path,
            format!("dataset \"data\" has shape {shape:?}, expected [clouds, points, 3]"),
        ));
    }
    let label = f.dataset("label")?;
    let lshape = label.shape();
    let ok = match lshape.as_slice() {
        [n] | [n, 1] => *n == shape[0],
        _ => false,
    };
    if !ok {
        return Err(Error::format(
            path,
            format!(
                "dataset \"label\" has shape {lshape:?}, expected [{0}] or [{0}, 1] to match \"data\" {shape:?}",
                shape[0]
            ),
        ));
    }
    let points = data.read_f32()?;
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!(
                "cloud {} point {} has a non-finite coordinate ({})",
                i / (shape[1] * 3),
                (i / 3) % shape[1],
                points[i]
            ),
        ));
    }
    let labels = label
        .read_i64()?
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            u32::try_from(l).map_err(|_| Error::format(path, format!("cloud {i} has label {l}")))
        })
        .collect::<Result<Vec<u32>>>()?;
    Ok((points, labels, shape[1]))
}

/// The `ply_data_{split}{i}.h5` files of `dir`, ordered by `i`.
pub fn split_files(dir: impl AsRef<Path>, split: Split) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let prefix = format!("ply_data_{}", split.as_str());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(num) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".h5"))
        else {
            continue;
        };
        if let Ok(i) = num.parse::<u32>() {
            found.push((i, entry.path()));
        }
    }
    if found.is_empty() {
        return Err(Error::invalid(format!(
            "no {prefix}<i>.h5 files in {}",
            dir.display()
        )));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Loads one split of a ModelNet40-layout folder (real or synthetic):
/// `shape_names.txt` and every `ply_data_{split}{i}.h5`, concatenated in file order.
pub fn load_split(dir: impl AsRef<Path>, split: Split) -> Result<PointCloudSet> {
    let dir = dir.as_ref();
    let names = read_shape_names(dir.join("shape_names.txt"))?;
    let mut points = Vec::new();
    let mut labels = Vec::new();
    let mut num_points = None;
    for path in split_files(dir, split)? {
        let (p, l, np) = read_h5_clouds(&path)?;
        if let Some(prev) = num_points {
            if prev != np {
                return Err(Error::format(
                    &path,
                    format!("clouds have {np} points, earlier files {prev}"),
                ));
            }
        }
        if let Some((i, &bad)) = l
            .iter()
            .enumerate()
            .find(|(_, &v)| v as usize >= names.len())
        {
            return Err(Error::format(
                &path,
                format!(
                    "cloud {i} has label {bad} but shape_names.txt lists {} classes",
                    names.len()
                ),
            ));
        }
        num_points = Some(np);
        points.extend_from_slice(&p);
        labels.extend_from_slice(&l);
    }
    PointCloudSet::new(points, labels, num_points.unwrap_or(1), names)
}

/// Both splits of a ModelNet40-layout folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelNet40 {
    /// `ply_data_train*.h5` (9840 clouds in the real data).
    pub train: PointCloudSet,
    /// `ply_data_test*.h5` (2468 clouds in the real data).
    pub test: PointCloudSet,
}

impl ModelNet40 {
    /// Loads both splits of `dir` (see [`load_split`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<ModelNet40> {
        let dir = dir.as_ref();
        Ok(ModelNet40 {
            train: load_split(dir, Split::Train)?,
            test: load_split(dir, Split::Test)?,
        })
    }
}
