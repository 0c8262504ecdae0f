//! # candor-mujoco-build
//!
//! Build-script helper that makes candor-rl's MuJoCo environments build and run with no
//! manual step: it fetches `libmujoco.so.3.17.0` (the exact version `mujoco-rs =7.0.0`
//! binds) from the PyPI `mujoco==3.17.0` wheel, links against it and records its folder
//! as an rpath, so binaries run without `LD_LIBRARY_PATH`.
//!
//! ## How the pieces fit
//!
//! 1. `mujoco-rs`'s own build script links against `$MUJOCO_DYNAMIC_LINK_DIR/libmujoco.so`.
//!    The workspace's `.cargo/config.toml` points that variable at `link/` in this crate,
//!    which holds a committed GNU linker script named `libmujoco.so` whose only line is
//!    `INPUT(libmujoco.so.3.17.0)`. It exists before any build script runs, so the build
//!    order of `mujoco-rs` and candor-rl does not matter.
//! 2. candor-rl's build script calls [`link`]: it makes sure [`lib_dir`] holds
//!    `libmujoco.so.3.17.0` (fetching it if needed, see below) and adds that folder to the
//!    linker search path of every binary that depends on candor-rl. At the final link the
//!    stub's `INPUT` resolves there.
//! 3. The real library's SONAME is `libmujoco.so.3.17.0`, so the loader must find it at
//!    run time. [`link`] adds `-Wl,-rpath,<lib_dir>` to candor-rl's own tests, examples and
//!    doctests; every other package whose binaries link candor-rl (xtask, benches, the RL
//!    method crates) calls [`rpath`] from its `build.rs` (cargo passes link arguments only
//!    to the package that emits them).
//!
//! ## Where the library comes from
//!
//! [`lib_dir`] is `$CANDOR_MUJOCO_LIB_DIR` when set (a folder that already holds
//! `libmujoco.so.3.17.0`, e.g. the `mujoco/` folder of a `pip install mujoco==3.17.0`;
//! nothing is fetched then), otherwise `<target dir>/mujoco-3.17.0/`. When the library is
//! missing there, `python3` runs `fetch_wheel.py`, which takes the wheel from
//! `<lib_dir>/<wheel name>` if a user placed it there, else `pip download` (honouring the
//! user's pip configuration), else a direct HTTPS fetch from PyPI's file host; it checks the
//! wheel's pinned SHA-256 and extracts `mujoco/libmujoco.so.3.17.0`. Without network the
//! build stops with a message naming the file to place and where.
//!
//! Automatic setup covers Linux on x86_64 and aarch64 (the wheels that ship a `.so`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The MuJoCo version `mujoco-rs =7.0.0` binds (its `+mj-3.17.0` build tag).
pub const MUJOCO_VERSION: &str = "3.17.0";
/// The library file inside the wheel and in [`lib_dir`].
pub const LIB_NAME: &str = "libmujoco.so.3.17.0";
/// Overrides [`lib_dir`]: a folder that already holds [`LIB_NAME`].
pub const LIB_DIR_VAR: &str = "CANDOR_MUJOCO_LIB_DIR";

/// One pinned wheel on PyPI.
struct Wheel {
    name: &'static str,
    url: &'static str,
    sha256: &'static str,
    pip_platform: &'static str,
}

const WHEEL_X86_64: Wheel = Wheel {
    name: "mujoco-3.17.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    url: "https://files.pythonhosted.org/packages/90/b8/1d1ccbee32bf9ffc26fe2f62207c4bae173c8791ee0da437c821c12a5c26/mujoco-3.17.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    sha256: "d66928d86a2d1b601bbaa4dc11db50214d17d5301bb8afd84721313b67ff0874",
    pip_platform: "manylinux_2_28_x86_64",
};

const WHEEL_AARCH64: Wheel = Wheel {
    name: "mujoco-3.17.0-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
    url: "https://files.pythonhosted.org/packages/56/b5/9f50727831f48cb9605b6d9eff2d67d0c0b989796ee4eba306f4b24c09a9/mujoco-3.17.0-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
    sha256: "91a70ed9979c383ff1f5c03f25cc2e1280a8254c1a8e558d5dd7f4184f01efc9",
    pip_platform: "manylinux_2_28_aarch64",
};

const FETCH_SCRIPT: &str = include_str!("fetch_wheel.py");

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The folder that holds (or will hold) [`LIB_NAME`], for the build script calling this:
/// `$CANDOR_MUJOCO_LIB_DIR`, else `mujoco-3.17.0/` in the cargo target dir (the same
/// folder for every package of a build, found from `OUT_DIR`, which cargo lays out as
/// `<target dir>/<profile>/build/<package>-<hash>/out`).
pub fn lib_dir() -> Result<PathBuf, String> {
    if let Some(dir) = env(LIB_DIR_VAR) {
        let dir = PathBuf::from(dir);
        if dir.is_relative() {
            return Err(format!(
                "{LIB_DIR_VAR} must be an absolute path, got '{}'",
                dir.display()
            ));
        }
        return Ok(dir);
    }
    let out = env("OUT_DIR").ok_or("OUT_DIR is not set: call this from a build script")?;
    let out = PathBuf::from(out);
    match out.ancestors().nth(2) {
        Some(build) if build.file_name().is_some_and(|n| n == "build") => {
            let target = out.ancestors().nth(4).ok_or("OUT_DIR is too short")?;
            Ok(target.join(format!("mujoco-{MUJOCO_VERSION}")))
        }
        _ => Err(format!(
            "cannot find the cargo target dir from OUT_DIR '{}'; set {LIB_DIR_VAR} to a folder \
             holding {LIB_NAME}",
            out.display()
        )),
    }
}

fn wheel_for_target() -> Result<&'static Wheel, String> {
    let os = env("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    match (os.as_str(), arch.as_str()) {
        ("linux", "x86_64") => Ok(&WHEEL_X86_64),
        ("linux", "aarch64") => Ok(&WHEEL_AARCH64),
        _ => Err(format!(
            "automatic MuJoCo setup supports Linux on x86_64 and aarch64, not {os}/{arch}: \
             build candor-rl without its `mujoco` feature, or install MuJoCo {MUJOCO_VERSION} \
             and set MUJOCO_DYNAMIC_LINK_DIR as mujoco-rs documents"
        )),
    }
}

/// Make sure `dir` holds [`LIB_NAME`], fetching it from PyPI if needed (see the crate docs).
pub fn fetch(dir: &Path) -> Result<(), String> {
    let lib = dir.join(LIB_NAME);
    if lib.is_file() {
        return Ok(());
    }
    if env(LIB_DIR_VAR).is_some() {
        return Err(format!(
            "{LIB_DIR_VAR}={} does not contain {LIB_NAME}",
            dir.display()
        ));
    }
    let wheel = wheel_for_target()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let spec = format!("mujoco=={MUJOCO_VERSION}");
    let mut failures = Vec::new();
    for python in ["python3", "python"] {
        // The script travels as `-c` text: no file that concurrent build scripts could
        // rewrite under each other.
        let run = Command::new(python)
            .arg("-c")
            .arg(FETCH_SCRIPT)
            .arg(dir)
            .args([wheel.name, wheel.url, wheel.sha256])
            .args([
                &format!("mujoco/{LIB_NAME}"),
                LIB_NAME,
                &spec,
                wheel.pip_platform,
            ])
            .output();
        match run {
            Ok(out) if out.status.success() && lib.is_file() => return Ok(()),
            Ok(out) => {
                failures.push(String::from_utf8_lossy(&out.stderr).trim().to_string());
                break;
            }
            Err(e) => failures.push(format!("cannot run {python}: {e}")),
        }
    }
    Err(format!(
        "could not fetch MuJoCo {MUJOCO_VERSION} (needed by candor-rl's `mujoco` feature):\n  {}\n\
         To build offline, do one of:\n  \
         * place the wheel {name} (from PyPI, sha256 {sha}) at {dir}/{name}\n  \
         * place {LIB_NAME} (from that wheel's mujoco/ folder) at {dir}/{LIB_NAME}\n  \
         * set {LIB_DIR_VAR} to a folder that holds {LIB_NAME} (e.g. site-packages/mujoco of \
         `pip install mujoco=={MUJOCO_VERSION}`)\n  \
         * build candor-rl with `default-features = false` (no MuJoCo environments)",
        failures.join("\n  "),
        name = wheel.name,
        sha = wheel.sha256,
        dir = dir.display(),
    ))
}

fn rpath_arg(dir: &Path) -> String {
    format!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display())
}

/// For candor-rl's build script: fetch the library if needed, add its folder to the link
/// search path of all dependents and to the rpath of this package's own binaries. Panics
/// (failing the build) with instructions when the library cannot be had.
pub fn link() {
    println!("cargo:rerun-if-env-changed={LIB_DIR_VAR}");
    let dir = lib_dir().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = fetch(&dir) {
        panic!("{e}");
    }
    println!("cargo:rerun-if-changed={}", dir.join(LIB_NAME).display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("{}", rpath_arg(&dir));
}

/// For the build script of a package whose binaries (tests, examples, benches, bins) link
/// candor-rl with MuJoCo: record the library folder as an rpath so they run without
/// `LD_LIBRARY_PATH`. Fetches nothing (candor-rl's build script does, before any link).
pub fn rpath() {
    println!("cargo:rerun-if-env-changed={LIB_DIR_VAR}");
    match lib_dir() {
        Ok(dir) => println!("{}", rpath_arg(&dir)),
        Err(e) => println!("cargo:warning=no rpath for MuJoCo: {e}"),
    }
}
