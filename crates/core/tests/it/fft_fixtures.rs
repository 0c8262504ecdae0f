//! Phase and amplitude spectra against numpy (`tools/make_core_fixtures.py`):
//! `p = real(ifft2(exp(1j·angle(fft2(img)))))` on a random non-square image.

use candle_core::{Device, Tensor};
use candor_core::fft::{amplitude_spectrum, phase_spectrum, phase_spectrum_tensor};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let num: f64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

#[test]
fn phase_and_amplitude_match_numpy() {
    let fx: Value = serde_json::from_str(include_str!("../fixtures/phase.json")).unwrap();
    let s = &fx["single"];
    let (h, w) = (
        s["h"].as_u64().unwrap() as usize,
        s["w"].as_u64().unwrap() as usize,
    );
    assert_ne!(h, w, "the fixture must be non-square");
    let img: Vec<f32> = floats(&s["image"]).iter().map(|&v| v as f32).collect();
    let p = phase_spectrum(&img, h, w).unwrap();
    let e = rel_err(&p, &floats(&s["phase"]));
    assert!(e < 1e-5, "phase relative error {e}");
    let a = amplitude_spectrum(&img, h, w).unwrap();
    let e = rel_err(&a, &floats(&s["amplitude"]));
    assert!(e < 1e-5, "amplitude relative error {e}");

    let m = &fx["multi"];
    let (c, h, w) = (
        m["c"].as_u64().unwrap() as usize,
        m["h"].as_u64().unwrap() as usize,
        m["w"].as_u64().unwrap() as usize,
    );
    let img: Vec<f32> = floats(&m["image3"]).iter().map(|&v| v as f32).collect();
    let t = Tensor::from_vec(img, (c, h, w), &Device::Cpu).unwrap();
    let p = phase_spectrum_tensor(&t).unwrap();
    assert_eq!(p.dims(), &[c, h, w]);
    let e = rel_err(
        &p.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        &floats(&m["phase3"]),
    );
    assert!(e < 1e-5, "per-channel phase relative error {e}");
}
