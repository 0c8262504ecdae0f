#!/usr/bin/env python3
"""Regenerate the reference fixtures of candor-core's tests.

Run from the repository root:

    python3 tools/make_core_fixtures.py

Needs numpy, scipy, scikit-learn and scikit-image. Deterministic (fixed seeds).
Writes into crates/core/tests/fixtures/:

* metrics.json  - scikit-learn roc_curve / roc_auc_score / average_precision_score
                  and DeepfakeBench's EER on several binary cases.
* ssim.json     - scikit-image structural_similarity and peak_signal_noise_ratio.
* phase.json    - phase-only reconstruction and amplitude spectrum (FFT module).
* summary.json  - Student t quantiles and a mean / std / 95% CI case.

JSON has no infinity: a +inf ROC threshold is written as the string "inf".
"""

import json
import math
import os
import sys

import numpy as np
import scipy
import skimage
import sklearn
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

OUT = os.path.join("crates", "core", "tests", "fixtures")


def versions():
    return {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
    }


def floats(xs):
    """Plain Python floats, +inf/-inf as strings (JSON has no infinity)."""
    out = []
    for x in np.asarray(xs, dtype=np.float64).ravel().tolist():
        if math.isinf(x):
            out.append("inf" if x > 0 else "-inf")
        else:
            out.append(x)
    return out


def floats32(xs):
    """float32 values in their shortest round-trip decimal form (parse as f64, then
    cast to f32 to recover the exact value)."""
    return [float(str(v)) for v in np.asarray(xs, dtype=np.float32).ravel()]


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def eer_deepfakebench(labels, scores):
    fpr, tpr, _ = roc_curve(labels, scores, pos_label=1)
    fnr = 1 - tpr
    return float(fpr[np.nanargmin(np.absolute(fnr - fpr))])


def binary_case(name, scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=True)
    return {
        "name": name,
        "scores": floats(scores),
        "labels": [bool(v) for v in labels],
        "fpr": floats(fpr),
        "tpr": floats(tpr),
        "thresholds": floats(thr),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "eer": eer_deepfakebench(labels, scores),
        "average_precision": float(average_precision_score(labels, scores)),
    }


def make_metrics():
    cases = []
    # Hand case (scikit-learn's docstring example plus a tie across classes).
    cases.append(
        binary_case(
            "hand",
            [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.1],
            [0, 0, 1, 1, 1, 0, 1],
        )
    )
    # n = 200, heavy ties: scores rounded to one decimal, informative.
    rng = np.random.default_rng(20240601)
    labels = rng.random(200) < 0.45
    raw = np.clip(0.5 + 0.25 * (labels - 0.5) + 0.2 * rng.standard_normal(200), 0, 1)
    cases.append(binary_case("ties_200", np.round(raw, 1), labels))
    # Same without rounding (all distinct scores).
    cases.append(binary_case("distinct_200", raw, labels))
    # Unbalanced: 5% positives, ties at two decimals.
    rng = np.random.default_rng(7)
    labels = rng.random(300) < 0.05
    labels[0] = True
    raw = 0.3 * labels + rng.standard_normal(300) * 0.3
    cases.append(binary_case("unbalanced_300", np.round(raw, 2), labels))
    # Uninformative scores with many ties (AUC near 0.5), integer-valued.
    rng = np.random.default_rng(11)
    labels = rng.random(150) < 0.5
    cases.append(binary_case("noise_int_150", rng.integers(0, 6, 150).astype(float), labels))
    write("metrics.json", {"generator": versions(), "cases": cases})


def ssim_case(name, a, b, channel_axis):
    """a, b float32 (C,H,W) or (H,W). Reference computed on the float64 cast of the
    float32 values (candor computes in f64); the float32-native skimage result is
    kept too (skimage then works in float32, so it differs at ~1e-7)."""
    kw = dict(
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=channel_axis,
    )
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    shape = a.shape if a.ndim == 3 else (1,) + a.shape
    return {
        "name": name,
        "c": shape[0],
        "h": shape[1],
        "w": shape[2],
        "a": floats32(a),
        "b": floats32(b),
        "ssim": float(structural_similarity(a64, b64, **kw)),
        "ssim_f32": float(structural_similarity(a, b, **kw)),
        "psnr": float(peak_signal_noise_ratio(a64, b64, data_range=1.0)),
        "psnr_f32": float(peak_signal_noise_ratio(a, b, data_range=1.0)),
    }


def make_ssim():
    rng = np.random.default_rng(12345)
    cases = []
    a = rng.random((24, 33)).astype(np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    cases.append(ssim_case("grey_24x33", a, b, None))
    a = rng.random((3, 20, 31)).astype(np.float32)
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    cases.append(ssim_case("rgb_3x20x31", a, b, 0))
    # Smooth image (structured, so SSIM is far from 0) with strong noise.
    yy, xx = np.mgrid[0:16, 0:19]
    a = (0.5 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.float32)
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    cases.append(ssim_case("smooth_16x19", a, b, None))
    # Minimum size 11x11.
    a = rng.random((11, 11)).astype(np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    cases.append(ssim_case("min_11x11", a, b, None))
    write("ssim.json", {"generator": versions(), "cases": cases})


def phase_only(img):
    return np.real(np.fft.ifft2(np.exp(1j * np.angle(np.fft.fft2(img)))))


def make_phase():
    rng = np.random.default_rng(99)
    img = rng.random((12, 20))
    single = {
        "h": 12,
        "w": 20,
        "image": floats(img),
        "phase": floats(phase_only(img)),
        "amplitude": floats(np.abs(np.fft.fft2(img))),
    }
    img3 = rng.random((3, 16, 10))
    phase3 = np.stack([phase_only(img3[c]) for c in range(3)])
    multi = {
        "c": 3,
        "h": 16,
        "w": 10,
        "image3": floats(img3),
        "phase3": floats(phase3),
    }
    write("phase.json", {"generator": versions(), "single": single, "multi": multi})


def make_summary():
    dofs = [1, 2, 3, 4, 5, 7, 9, 10, 19, 29, 30, 31, 50, 99, 100, 999, 1000, 1001, 5000]
    t975 = [{"dof": d, "t": float(stats.t.ppf(0.975, d))} for d in dofs]
    cases = []
    rng = np.random.default_rng(5)
    for n in [2, 5, 10, 37]:
        v = rng.normal(0.8, 0.05, n)
        std = float(np.std(v, ddof=1))
        cases.append(
            {
                "values": floats(v),
                "n": n,
                "mean": float(np.mean(v)),
                "std": std,
                "ci95": float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)),
            }
        )
    write("summary.json", {"generator": versions(), "t975": t975, "cases": cases})


def main():
    if not os.path.isdir(os.path.join("crates", "core")):
        sys.exit("run from the repository root")
    os.makedirs(OUT, exist_ok=True)
    make_metrics()
    make_ssim()
    make_phase()
    make_summary()


if __name__ == "__main__":
    main()
