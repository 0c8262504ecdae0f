//! Records where candor-rl's build fetched libmujoco as an rpath of this package's
//! binaries, so they run without LD_LIBRARY_PATH (see candor-mujoco-build).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    candor_mujoco_build::rpath();
}
