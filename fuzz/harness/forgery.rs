//! Fuzz harnesses of the forgery crate's readers (`.npy`, FF++ split files) and
//! configs. Used by the cargo-fuzz targets and by the corpus replay test
//! `crates/forgery/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_forgery::data::{decode_npy_f32, encode_npy_f32, parse_ffpp_split, Splits};

/// A `.npy` file; an accepted array must encode and decode back to the same bits.
pub fn npy(data: &[u8]) -> Outcome {
    let (shape, values) = decode_npy_f32(data, "fuzz.npy").map_err(|e| named(e, "fuzz.npy"))?;
    assert_eq!(shape.iter().product::<usize>(), values.len());
    let bytes = encode_npy_f32(&shape, &values).expect("a decoded array encodes");
    let (s2, v2) = decode_npy_f32(&bytes, "again.npy").expect("an encoded array decodes");
    assert_eq!(s2, shape);
    assert!(v2
        .iter()
        .zip(&values)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    Ok(())
}

/// `data[0]` picks `splits.json` (even) or one FF++ split file (odd); the rest is the text.
pub fn ff_splits(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    // `read_to_string` rejects text that is not UTF-8 before parsing.
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    if sel % 2 == 0 {
        let s = Splits::from_json(text, "splits.json").map_err(|e| named(e, "splits.json"))?;
        let back = serde_json::to_string(&s).expect("splits serialise");
        assert_eq!(
            Splits::from_json(&back, "again.json").expect("round trip"),
            s
        );
    } else {
        let ids = parse_ffpp_split(text, "train.json").map_err(|e| named(e, "train.json"))?;
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "sorted and deduplicated"
        );
    }
    Ok(())
}

/// The forgery crate's configs: `data[0]` picks the type, the rest is JSON.
pub fn config(data: &[u8]) -> Outcome {
    use candor_forgery::data::synthetic;
    use candor_forgery::model::{
        BackboneConfig, DetectorConfig, EfficientNetConfig, MatConfig, SpslConfig, VanillaConfig,
        XceptionConfig,
    };
    use candor_forgery::train::TrainConfig;
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_core::Result<()>| r.map_err(|e| e.to_string());
    match sel % 9 {
        0 => config_roundtrip::<DetectorConfig>(text, |c| v(c.validate())),
        1 => config_roundtrip::<BackboneConfig>(text, |c| v(c.validate())),
        2 => config_roundtrip::<VanillaConfig>(text, |c| v(c.validate())),
        3 => config_roundtrip::<MatConfig>(text, |c| v(c.validate())),
        4 => config_roundtrip::<SpslConfig>(text, |c| v(c.validate())),
        5 => config_roundtrip::<XceptionConfig>(text, |c| v(c.validate())),
        6 => config_roundtrip::<EfficientNetConfig>(text, |c| v(c.validate())),
        7 => config_roundtrip::<TrainConfig>(text, |c| v(c.validate())),
        _ => {
            let r = synthetic::Config::from_json(text).map(|_| ());
            config_roundtrip::<synthetic::Config>(text, |c| v(c.validate()))?;
            r.map_err(|e| e.to_string())
        }
    }
}

/// `config` inputs holding every config type's defaults, for the unknown-key test and
/// as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    use candor_forgery::data::synthetic;
    use candor_forgery::model::{
        BackboneConfig, DetectorConfig, EfficientNetConfig, MatConfig, SpslConfig, VanillaConfig,
        XceptionConfig,
    };
    use candor_forgery::train::TrainConfig;
    vec![
        input(0, &DetectorConfig::Vanilla(VanillaConfig::default())),
        input(0, &DetectorConfig::Mat(MatConfig::default())),
        input(0, &DetectorConfig::Spsl(SpslConfig::default())),
        input(1, &BackboneConfig::Xception(XceptionConfig::default())),
        input(
            1,
            &BackboneConfig::EfficientNet(EfficientNetConfig::default()),
        ),
        input(2, &VanillaConfig::default()),
        input(3, &MatConfig::default()),
        input(4, &SpslConfig::default()),
        input(5, &XceptionConfig::default()),
        input(6, &EfficientNetConfig::default()),
        input(7, &TrainConfig::default()),
        input(8, &synthetic::Config::default()),
    ]
}
