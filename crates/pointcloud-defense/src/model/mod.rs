//! Victim networks.

pub mod pointnet;

pub use pointnet::{
    clouds_to_tensor, load_pointnet, orthogonality_penalty, save_pointnet, trainable_vars,
    PointNet, PointNetConfig, PointNetOutput, PointNetVariant,
};
