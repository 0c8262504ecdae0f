#!/usr/bin/env python3
"""Write crates/core/tests/fixtures/matting.json: reference values of the four
alpha-matting errors (SAD, MSE, Grad, Conn) for candor_core::metrics::matting.

The functions below are a numpy/scipy port of Deep Image Matting's MATLAB evaluation
code (Ning Xu, 2018: compute_sad_loss.m, compute_mse_loss.m, compute_gradient_loss.m,
gaussgradient.m, compute_connectivity_error.m), written from its definitions:

* SAD  = sum_U |p - g| / 255, then / 1000
* MSE  = sum_U ((p - g) / 255)^2 / |U|
* Grad = sum_U (|grad p~| - |grad g~|)^2 / 1000, p~ = mat2gray(p), derivative-of-
         Gaussian sigma 1.4, 9x9, L2-normalised, convolution with replicated borders
* Conn = sum_U |phi_p - phi_g| / 1000, thresholds k/10, theta 0.15, 4-connectivity

with the two choices candor fixes for Conn: the threshold test v/255 >= k/10 decided
exactly (10 v >= 255 k), and ties between equally large components resolved in
column-major order (MATLAB's bwconncomp). For the cases where these choices matter the
fixture also stores what mmeval's port gives (float64 np.arange thresholds, row-major
labels), so the tests can show the difference is real.

    /work/venv/bin/python tools/make_matting_fixtures.py

Deterministic (fixed seeds). Needs numpy and scipy.
"""

import json
import os

import numpy as np
import scipy
from scipy import ndimage

OUT = os.path.join("crates", "core", "tests", "fixtures", "matting.json")


# --- DIM's MATLAB code, ported ------------------------------------------------------

def region_of(trimap, shape):
    if trimap is None:
        return np.ones(shape, dtype=bool)
    return trimap == 128


def sad(pred, gt, region):
    err = np.abs(pred.astype(np.float64) - gt.astype(np.float64)) / 255.0
    return float(np.sum(err[region])) / 1000.0


def mse(pred, gt, region):
    err = (pred.astype(np.float64) - gt.astype(np.float64)) / 255.0
    return float(np.sum(err[region] ** 2) / np.sum(region))


def mat2gray(a):
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    if hi == lo:
        return np.zeros_like(a)
    return (a - lo) / (hi - lo)


def gauss(x, sigma):
    return np.exp(-(x ** 2) / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))


def dgauss(x, sigma):
    return -x * gauss(x, sigma) / sigma ** 2


def dog_kernel(sigma):
    eps = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * eps))))
    size = 2 * half + 1
    hx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            hx[i, j] = gauss(i - half, sigma) * dgauss(j - half, sigma)
    return hx / np.sqrt(np.sum(np.abs(hx) * np.abs(hx)))


def gaussgradient(im, sigma):
    hx = dog_kernel(sigma)
    hy = hx.T
    # 'nearest' = replicated borders; ndimage.convolve flips the kernel (a convolution).
    gx = ndimage.convolve(im, hx, mode="nearest")
    gy = ndimage.convolve(im, hy, mode="nearest")
    return gx, gy


def grad(pred, gt, region):
    px, py = gaussgradient(mat2gray(pred), 1.4)
    gx, gy = gaussgradient(mat2gray(gt), 1.4)
    amp_p = np.sqrt(px ** 2 + py ** 2)
    amp_g = np.sqrt(gx ** 2 + gy ** 2)
    return float(np.sum(((amp_p - amp_g) ** 2)[region])) / 1000.0


def largest_cc(mask, column_major):
    """Largest 4-connected component; ties -> first label in the scan order."""
    m = mask.T if column_major else mask
    labels, n = ndimage.label(m)  # default structure = 4-connectivity
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    # ndimage.label numbers components in raster order of their first pixel.
    first = [np.flatnonzero(labels.ravel() == k)[0] for k in range(1, n + 1)]
    assert first == sorted(first), "labels are not in scan order"
    sizes = np.bincount(labels.ravel())[1:]
    best = int(np.argmax(sizes)) + 1  # first maximum
    omega = labels == best
    return omega.T if column_major else omega


def conn(pred, gt, region, mmeval_style=False):
    p = pred.astype(np.float64) / 255.0
    g = gt.astype(np.float64) / 255.0
    steps = np.arange(0, 1 + 0.1, 0.1)  # mmeval's thresholds (float64)
    l_map = -np.ones_like(p)
    for k in range(1, 11):
        if mmeval_style:
            inter = (p >= steps[k]) & (g >= steps[k])
            prev = steps[k - 1]
        else:
            vi = pred.astype(np.int64)
            gi = gt.astype(np.int64)
            inter = (10 * vi >= 255 * k) & (10 * gi >= 255 * k)
            prev = (k - 1) / 10.0
        omega = largest_cc(inter, column_major=not mmeval_style)
        flag = (l_map == -1) & ~omega
        l_map[flag] = prev
    l_map[l_map == -1] = 1
    pd = p - l_map
    gd = g - l_map
    phi_p = 1 - pd * (pd >= 0.15)
    phi_g = 1 - gd * (gd >= 0.15)
    return float(np.sum(np.abs(phi_p - phi_g)[region])) / 1000.0


# --- test images ----------------------------------------------------------------------

def soft_blob(h, w, cy, cx, r, edge):
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - r
    return np.clip(0.5 - d / edge, 0, 1)


def to_u8(a):
    return np.clip(np.round(a * 255), 0, 255).astype(np.uint8)


def band_trimap(gt, radius):
    fg = gt == 255
    bg = gt == 0
    st = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
    tri = np.full(gt.shape, 128, dtype=np.uint8)
    tri[ndimage.binary_erosion(fg, st, border_value=1)] = 255
    tri[ndimage.binary_erosion(bg, st, border_value=1)] = 0
    return tri


def cases():
    rng = np.random.default_rng(20240501)
    out = []

    h, w = 29, 37
    gt = to_u8(np.maximum(soft_blob(h, w, 13.0, 17.5, 8.3, 3.0),
                          0.6 * soft_blob(h, w, 22.0, 30.0, 4.0, 2.0)))
    noisy = gt.astype(np.float64) / 255 + rng.normal(0, 0.08, gt.shape)
    pred = to_u8(ndimage.uniform_filter(np.clip(noisy, 0, 1), 3))
    tri = band_trimap(gt, 2)
    out.append(("blob_trimap", pred, gt, tri))
    out.append(("blob_whole", pred, gt, None))

    # Alphas exactly on the connectivity thresholds 0.2 / 0.4 / 0.6 / 0.8.
    h, w = 16, 20
    gt = np.zeros((h, w), dtype=np.uint8)
    gt[3:13, 3:17] = 255
    gt[5:11, 5:15] = 153
    gt[7:9, 7:13] = 204
    pred = np.zeros((h, w), dtype=np.uint8)
    pred[2:13, 2:16] = 153
    pred[4:9, 4:12] = 51
    pred[9:12, 10:15] = 102
    pred[6:8, 13:15] = 204
    tri = np.full((h, w), 128, dtype=np.uint8)
    tri[0, :] = 0
    tri[:, 0] = 0
    out.append(("threshold_ties", pred, gt, tri))
    out.append(("threshold_ties_whole", pred, gt, None))

    # Constant predictions (mat2gray of a constant image, empty intersections).
    h, w = 21, 26
    gt = to_u8(soft_blob(h, w, 10.0, 12.0, 6.5, 2.5))
    out.append(("constant_128", np.full((h, w), 128, dtype=np.uint8), gt, band_trimap(gt, 2)))
    out.append(("constant_0_whole", np.zeros((h, w), dtype=np.uint8), gt, None))
    out.append(("constant_255_whole", np.full((h, w), 255, dtype=np.uint8), gt, None))

    # Two equally large components of the 1.0 intersection: a vertical bar in the
    # left column range and a horizontal bar in the top rows. Row-major order meets
    # the horizontal bar first, column-major order the vertical one; the pixels of the
    # losing bar get l = 0.9 and the others keep l = 1, so phi differs.
    h, w = 12, 14
    gt = np.full((h, w), 200, dtype=np.uint8)
    pred = np.full((h, w), 240, dtype=np.uint8)
    gt[5:11, 1] = 255
    pred[5:11, 1] = 255
    gt[1, 6:12] = 255
    pred[1, 6:12] = 255
    pred[4:12, 0:3] = 250
    pred[0:3, 5:13] = 220
    out.append(("component_tie", pred, gt, None))

    # Random mattes with many small components (non-square, odd sizes).
    h, w = 23, 19
    gt = rng.integers(0, 256, (h, w)).astype(np.uint8)
    pred = rng.integers(0, 256, (h, w)).astype(np.uint8)
    tri = rng.choice(np.array([0, 128, 255], dtype=np.uint8), (h, w))
    out.append(("random_trimap", pred, gt, tri))
    return out


def main():
    fixture = {
        "source": "tools/make_matting_fixtures.py (numpy/scipy port of DIM's MATLAB evaluation code)",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "dog_kernel_sigma_1_4": dog_kernel(1.4).ravel().tolist(),
        "cases": [],
    }
    for name, pred, gt, tri in cases():
        region = region_of(tri, gt.shape)
        case = {
            "name": name,
            "height": int(gt.shape[0]),
            "width": int(gt.shape[1]),
            "pred": pred.ravel().tolist(),
            "gt": gt.ravel().tolist(),
            "trimap": None if tri is None else tri.ravel().tolist(),
            "sad": sad(pred, gt, region),
            "mse": mse(pred, gt, region),
            "grad": grad(pred, gt, region),
            "conn": conn(pred, gt, region),
            "mmeval_conn": conn(pred, gt, region, mmeval_style=True),
        }
        fixture["cases"].append(case)
        print(f"{name:22s} sad {case['sad']:.6f} mse {case['mse']:.6f} "
              f"grad {case['grad']:.6f} conn {case['conn']:.6f} "
              f"(mmeval-style conn {case['mmeval_conn']:.6f})")
    with open(OUT, "w") as f:
        json.dump(fixture, f)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
