//! Data: ModelNet40 HDF5 folders, a pure-Rust HDF5 reader/writer, OFF meshes
//! with surface sampling, `.xyz`/`.ply` clouds, and the synthetic shape set.

pub mod cloud;
pub mod file;
pub mod hdf5;
pub mod modelnet;
pub mod off;
pub mod synthetic;

pub use cloud::{check_cloud, normalize_unit_sphere, read_ply, read_xyz, write_xyz};
pub use file::{read_cloud_file, LoadedCloud};
pub use modelnet::{
    load_split, parse_h5_clouds, read_h5_clouds, read_shape_names, ModelNet40, PointCloudSet, Split,
};
pub use off::{parse_off, read_off, Mesh};
pub use synthetic::{generate_split, write_synthetic_modelnet, ShapeClass, SyntheticConfig};
