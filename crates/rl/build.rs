//! With the `mujoco` feature: fetch libmujoco 3.17.0 if needed and link it (see
//! candor-mujoco-build).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_MUJOCO").is_some() {
        candor_mujoco_build::link();
    }
}
