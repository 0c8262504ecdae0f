//! The spread-spectrum bit watermark: round trip, wrong keys, PSNR matching, bad input.

use candor_watermark::config::{TaskConfig, TaskKind};
use candor_watermark::data::{logo, synthetic};
use candor_watermark::eval::psnr;
use candor_watermark::traditional::{match_psnr, mean_psnr, SpreadSpectrum};
use candor_watermark::Image;

fn outputs(kind: TaskKind, channels: usize, side: usize, n: usize) -> Vec<Image> {
    let cfg = TaskConfig {
        kind,
        height: side,
        width: side,
        channels,
        images: n,
        seed: 11,
    };
    synthetic::generate(&cfg)
        .unwrap()
        .into_iter()
        .map(|p| p.b)
        .collect()
}

#[test]
fn round_trip_without_noise_has_zero_ber() {
    // 64 bits, a = 0.01 (≈ 40 dB). Per bit the watermark contributes
    // a/√K·(1 − 1/9) ≈ 1.1e-3 to the correlation; the other 63 bits add noise of sd
    // a·√((K−1)/K)/√N ≈ 0.01/√N and the host residual σ_r/√N with σ_r ≲ 0.02 on these
    // images; at N = 128² (grey) or 3·64² (RGB) that is ≤ 2e-4, a > 5σ margin per bit.
    let bits = 64;
    for (kind, channels, side) in [
        (TaskKind::Debone, 1, 128),
        (TaskKind::Derain, 1, 128),
        (TaskKind::Denoise, 1, 128),
        (TaskKind::Derain, 3, 64),
    ] {
        let scheme = SpreadSpectrum::new(7, bits, 1, channels, side, side).unwrap();
        for (i, b) in outputs(kind, channels, side, 3).iter().enumerate() {
            let message = logo::random_bits(bits, i as u64);
            let marked = scheme.embed(b, &message, 0.01).unwrap();
            let p = psnr(&marked, b).unwrap();
            assert!(p > 38.0, "{kind:?}: PSNR {p}");
            let got = scheme.extract(&marked).unwrap();
            let errors = got.iter().zip(&message).filter(|(a, b)| a != b).count();
            assert_eq!(errors, 0, "{kind:?} {channels}ch image {i}");
        }
    }
}

#[test]
fn round_trip_without_lowpass_on_a_flat_image() {
    // With ρ = 0 only the mean is removed; on a flat grey image the other bits'
    // interference is then the only noise (sd a/√N = 1.6e-4 against a signal of
    // a/√K = 1.8e-3).
    let flat = Image::filled(1, 64, 64, 0.5).unwrap();
    let scheme = SpreadSpectrum::new(1, 32, 0, 1, 64, 64).unwrap();
    let message = logo::random_bits(32, 9);
    let got = scheme
        .extract(&scheme.embed(&flat, &message, 0.01).unwrap())
        .unwrap();
    assert_eq!(got, message);
}

#[test]
fn wrong_keys_give_chance_ber() {
    // Extracting with an unrelated key: each bit is the sign of a correlation with an
    // independent ±1 pattern, a fair coin. Images carry different messages, but the
    // bits of one wrong key on different images share the pattern, so only the
    // 20 keys × 64 bits = 1280 (key, bit) units are counted as independent: the BER has
    // sd ≤ 0.5/√1280 ≈ 0.014 and a 4σ band is ±0.056.
    let bits = 64;
    let images = outputs(TaskKind::Debone, 1, 64, 4);
    let owner = SpreadSpectrum::new(1, bits, 1, 1, 64, 64).unwrap();
    let messages: Vec<Vec<bool>> = (0..4).map(|i| logo::random_bits(bits, 30 + i)).collect();
    let marked: Vec<Image> = images
        .iter()
        .zip(&messages)
        .map(|(b, m)| owner.embed(b, m, 0.02).unwrap())
        .collect();
    let (mut errors, mut total) = (0usize, 0usize);
    for key in 100..120 {
        let other = SpreadSpectrum::new(key, bits, 1, 1, 64, 64).unwrap();
        for (m, message) in marked.iter().zip(&messages) {
            let got = other.extract(m).unwrap();
            errors += got.iter().zip(message).filter(|(a, b)| a != b).count();
            total += bits;
        }
    }
    let ber = errors as f64 / total as f64;
    assert!(
        (ber - 0.5).abs() < 0.056,
        "wrong-key BER {ber} over {total} bits"
    );
    // The right key on the same images is exact.
    for (m, message) in marked.iter().zip(&messages) {
        assert_eq!(&owner.extract(m).unwrap(), message);
    }
}

#[test]
fn patterns_are_keyed_and_deterministic() {
    let a = SpreadSpectrum::new(5, 8, 1, 1, 16, 16).unwrap();
    let b = SpreadSpectrum::new(5, 8, 1, 1, 16, 16).unwrap();
    let c = SpreadSpectrum::new(6, 8, 1, 1, 16, 16).unwrap();
    let m = logo::random_bits(8, 0);
    let (sa, sb, sc) = (
        a.signal(&m).unwrap(),
        b.signal(&m).unwrap(),
        c.signal(&m).unwrap(),
    );
    assert_eq!(sa, sb);
    assert_ne!(sa, sc);
    // Unit variance: the sum of 8 independent ±1 patterns divided by √8.
    let var = sa.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / sa.len() as f64;
    assert!((var - 1.0).abs() < 0.3, "signal variance {var}");
}

#[test]
fn psnr_matching_hits_its_target() {
    let images = outputs(TaskKind::Debone, 1, 64, 6);
    let scheme = SpreadSpectrum::new(2, 64, 1, 1, 64, 64).unwrap();
    let message = logo::random_bits(64, 4);
    for target in [30.0, 38.5, 45.0] {
        let fit = match_psnr(&scheme, &images, &message, target, 0.5).unwrap();
        // Recompute independently with the public metric.
        let mean = images
            .iter()
            .map(|b| psnr(&scheme.embed(b, &message, fit.amplitude).unwrap(), b).unwrap())
            .sum::<f64>()
            / images.len() as f64;
        assert!((mean - target).abs() <= 0.5, "target {target}: {mean}");
        assert!((fit.mean_psnr - mean).abs() < 1e-9);
        // Without clipping the PSNR would be −20 log₁₀ a; clipping only raises it.
        assert!(
            mean >= -20.0 * fit.amplitude.log10() - 0.5,
            "{mean} vs a = {}",
            fit.amplitude
        );
    }
    // Monotone: a larger amplitude never raises the PSNR.
    let p1 = mean_psnr(&scheme, &images, &message, 0.01).unwrap();
    let p2 = mean_psnr(&scheme, &images, &message, 0.02).unwrap();
    assert!(p2 < p1);
    // Unreachable targets are errors.
    assert!(match_psnr(&scheme, &images, &message, 500.0, 0.5).is_err());
    assert!(match_psnr(&scheme, &images, &message, -20.0, 0.5).is_err());
    assert!(match_psnr(&scheme, &images, &message, 40.0, 0.0).is_err());
}

#[test]
fn bad_input_is_a_clear_error() {
    let scheme = SpreadSpectrum::new(1, 8, 1, 1, 32, 32).unwrap();
    let message = logo::random_bits(8, 0);
    let wrong_size = Image::filled(1, 32, 16, 0.5).unwrap();
    let e = scheme
        .embed(&wrong_size, &message, 0.01)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1x32x16") && e.contains("1x32x32"), "{e}");
    let wrong_channels = Image::filled(3, 32, 32, 0.5).unwrap();
    let e = scheme.extract(&wrong_channels).unwrap_err().to_string();
    assert!(e.contains("3x32x32"), "{e}");
    let ok = Image::filled(1, 32, 32, 0.5).unwrap();
    let e = scheme
        .embed(&ok, &message[..5], 0.01)
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 bits"), "{e}");
    assert!(scheme.embed(&ok, &message, f64::NAN).is_err());
    assert!(scheme.embed(&ok, &message, -1.0).is_err());
    assert!(SpreadSpectrum::new(1, 0, 1, 1, 32, 32).is_err());
    assert!(mean_psnr(&scheme, &[], &message, 0.01).is_err());
}
