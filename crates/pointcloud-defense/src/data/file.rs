//! Reading one cloud from a file of any supported format, chosen by its extension.
//!
//! The per-format readers live beside it ([`super::cloud`] for `.xyz`/`.ply`,
//! [`super::off`] for meshes, [`super::modelnet`] for HDF5); this file only dispatches,
//! so none of them imports another.

use std::path::Path;

use candor_core::SeededRng;

use super::cloud::{normalize_unit_sphere, read_ply, read_xyz};
use super::modelnet::read_h5_clouds;
use super::off::read_off;
use crate::{Error, Result};

/// A cloud read from any supported file, and its label when the file has one.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCloud {
    pub points: Vec<f32>,
    pub label: Option<u32>,
}

/// Read one cloud from `.xyz`/`.txt`/`.pts`, `.ply`, `.off` (surface-sampled with
/// `points` points, default 1024, from `rng`, then normalised to the unit sphere) or
/// `.h5`/`.hdf5` (cloud number `index` of a ModelNet40-layout file). For every format but
/// `.off`, `points = Some(n)` keeps the first `n` points (an error if the file has fewer).
/// Errors name the file.
pub fn read_cloud_file(
    path: impl AsRef<Path>,
    index: usize,
    points: Option<usize>,
    rng: &mut SeededRng,
) -> Result<LoadedCloud> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let (mut cloud, label) = match ext.as_str() {
        "xyz" | "txt" | "pts" => (read_xyz(path)?, None),
        "ply" => (read_ply(path)?, None),
        "off" => {
            let mesh = read_off(path)?;
            let mut pts = mesh.sample_surface(points.unwrap_or(1024), rng)?;
            normalize_unit_sphere(&mut pts)?;
            return Ok(LoadedCloud {
                points: pts,
                label: None,
            });
        }
        "h5" | "hdf5" => {
            let (points, labels, np) = read_h5_clouds(path)?;
            if index >= labels.len() {
                return Err(Error::invalid(format!(
                    "{}: cloud index {index} but the file holds {} clouds",
                    path.display(),
                    labels.len()
                )));
            }
            (
                points[index * np * 3..(index + 1) * np * 3].to_vec(),
                Some(labels[index]),
            )
        }
        _ => {
            return Err(Error::invalid(format!(
                "{}: unknown extension (expected .xyz, .txt, .pts, .ply, .off, .h5 or .hdf5)",
                path.display()
            )))
        }
    };
    if let Some(n) = points {
        if n == 0 || n * 3 > cloud.len() {
            return Err(Error::invalid(format!(
                "{}: asked for the first {n} points but the cloud has {}",
                path.display(),
                cloud.len() / 3
            )));
        }
        cloud.truncate(n * 3);
    }
    Ok(LoadedCloud {
        points: cloud,
        label,
    })
}
