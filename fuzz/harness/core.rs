//! Fuzz harnesses of candor-core's readers: images (PNG/JPEG decoding, resizing,
//! crops), safetensors checkpoints, `results.json`, and core's configs. Used by the
//! cargo-fuzz targets and by the corpus replay test `crates/core/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candle_core::{DType, Device};
use candor_core::imageio::{
    center_crop, crop, decode_image_limited, jpeg_roundtrip, resize, to_rgb8, Filter,
};

/// Pixel limit of the image harness: the limit logic of `decode_image` at a size that
/// keeps every allocation far below the fuzzer's 512 MiB malloc limit.
pub const FUZZ_MAX_PIXELS: u64 = 1 << 20;

/// `data[..4]` are the parameters of the operations applied after decoding (resize to
/// at most 64 × 64 with one of the four filters, a crop, a centre crop, 8-bit
/// conversion, sometimes a JPEG round trip); the rest is the image file.
pub fn image(data: &[u8]) -> Outcome {
    if data.len() < 4 {
        return Err("short".into());
    }
    let (p, file) = data.split_at(4);
    let img = decode_image_limited(file, "fuzz.img", FUZZ_MAX_PIXELS)
        .map_err(|e| named(e, "fuzz.img"))?;
    let (c, h, w) = img.dims3().expect("a 3-D image");
    assert!(c == 3 && h > 0 && w > 0 && (h * w) as u64 <= FUZZ_MAX_PIXELS);
    let filter = [
        Filter::Nearest,
        Filter::Bilinear,
        Filter::Bicubic,
        Filter::Lanczos3,
    ][usize::from(p[0] % 4)];
    let (rh, rw) = (1 + usize::from(p[1] % 64), 1 + usize::from(p[2] % 64));
    let small = resize(&img, rh, rw, filter).expect("resizing a decoded image");
    assert_eq!(small.dims(), &[3, rh, rw]);
    let (top, left) = (usize::from(p[1]) % h, usize::from(p[2]) % w);
    let (ch, cw) = (
        1 + usize::from(p[3]) % (h - top),
        1 + usize::from(p[3]) % (w - left),
    );
    let cut = crop(&img, top, left, ch, cw).expect("an in-bounds crop");
    assert_eq!(cut.dims(), &[3, ch, cw]);
    assert!(crop(&img, usize::MAX, 0, 1, 1).is_err());
    let cc = center_crop(&img, ch, cw).expect("a centre crop no larger than the image");
    assert_eq!(cc.dims(), &[3, ch, cw]);
    to_rgb8(&small).expect("8-bit conversion");
    if p[3] & 0x80 != 0 {
        let q = 1 + p[0] % 100;
        let back = jpeg_roundtrip(&small, q).expect("JPEG round trip");
        assert_eq!(back.dims(), small.dims());
    }
    Ok(())
}

/// A safetensors checkpoint as `load_tensors` reads it; then the model-variable check
/// of `set_model_vars` against a tiny model (shapes (2, 3) and (3)), each tensor
/// converted to f32, and the training state parsed as JSON.
pub fn safetensors(data: &[u8]) -> Outcome {
    use candor_core::checkpoint::{load_tensors_from_bytes, set_model_vars};
    let name = "fuzz.safetensors";
    let ck = load_tensors_from_bytes(data, &Device::Cpu, name).map_err(|e| named(e, name))?;
    for t in ck.tensors.values() {
        assert_eq!(t.elem_count(), t.dims().iter().product::<usize>());
        if t.elem_count() <= 1 << 16 {
            let _ = t.to_dtype(DType::F32).and_then(|t| t.flatten_all());
        }
    }
    if let Some(state) = ck.metadata.get("candor.state") {
        let _ = serde_json::from_str::<serde_json::Value>(state);
    }
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    vb.get((2, 3), "w").expect("a variable");
    vb.get(3, "b").expect("a variable");
    set_model_vars(&varmap, &ck.tensors, std::path::Path::new(name)).map_err(|e| named(e, name))
}

/// A `results.json` as `Report::read` reads it (parse, validate, deserialise), then
/// its Markdown rendering.
pub fn results_json(data: &[u8]) -> Outcome {
    use candor_core::report::{validate_results_json, Report};
    let v: serde_json::Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    validate_results_json(&v).map_err(|e| e.to_string())?;
    let r: Report = serde_json::from_value(v).map_err(|e| e.to_string())?;
    let _ = r.to_markdown();
    Ok(())
}

/// candor-core's configs (optimisers, schedules, the plateau scheduler and its
/// checkpointed state): `data[0]` picks the type, the rest is JSON.
pub fn config(data: &[u8]) -> Outcome {
    use candor_core::optim::{
        AdamConfig, PlateauConfig, ReduceLrOnPlateau, RmsPropConfig, Schedule, SgdConfig,
    };
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_core::Result<()>| r.map_err(|e| e.to_string());
    match sel % 6 {
        0 => config_roundtrip::<AdamConfig>(text, |_| Ok(())),
        1 => config_roundtrip::<SgdConfig>(text, |_| Ok(())),
        2 => config_roundtrip::<RmsPropConfig>(text, |_| Ok(())),
        3 => config_roundtrip::<Schedule>(text, |c| v(c.validate())),
        4 => config_roundtrip::<PlateauConfig>(text, |c| v(ReduceLrOnPlateau::new(*c).map(|_| ()))),
        _ => config_roundtrip::<ReduceLrOnPlateau>(text, |_| Ok(())),
    }
}

/// `config` inputs holding every config type's defaults (and each schedule), for the
/// unknown-key test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    use candor_core::optim::{
        AdamConfig, PlateauConfig, ReduceLrOnPlateau, RmsPropConfig, Schedule, SgdConfig,
    };
    vec![
        input(0, &AdamConfig::default()),
        input(1, &SgdConfig::default()),
        input(2, &RmsPropConfig::default()),
        input(3, &Schedule::Constant),
        input(
            3,
            &Schedule::Step {
                step_size: 3,
                gamma: 0.5,
            },
        ),
        input(
            3,
            &Schedule::Cosine {
                t_max: 10,
                eta_min: 1e-5,
            },
        ),
        input(4, &PlateauConfig::default()),
        input(
            5,
            &ReduceLrOnPlateau::new(PlateauConfig::default()).unwrap(),
        ),
    ]
}

/// A PyTorch checkpoint (`.pth`, a zip of pickles and tensor blobs, or the legacy
/// format) as `checkpoint::read_weights` reads it, with no pickle key (so it also tries
/// `state_dict` and `model`). candle's pickle reader opens a path, so the input is
/// written to a file of this process first.
pub fn pth(data: &[u8]) -> Outcome {
    use candor_core::checkpoint::read_weights;
    let path = std::env::temp_dir().join(format!("candor-fuzz-{}.pth", std::process::id()));
    std::fs::write(&path, data).expect("a writable temporary folder");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let result = read_weights(&path, None).map_err(|e| named(e, &name));
    let _ = std::fs::remove_file(&path);
    for (_, t) in result? {
        assert_eq!(t.elem_count(), t.dims().iter().product::<usize>());
        if t.elem_count() <= 1 << 16 {
            let _ = t.to_dtype(DType::F32).and_then(|t| t.flatten_all());
        }
    }
    Ok(())
}
