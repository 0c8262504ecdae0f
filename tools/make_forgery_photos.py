#!/usr/bin/env python3
"""Make crates/core/assets/photos/: small copies of scikit-image's public-domain
and CC0 sample photos, the offline pool of real images for candor-forgery's synthetic
forgery proxy (see shared/papers/forgery-spsl.md, "Offline real images").

Each photo is down-sampled (never up-sampled) with an anti-aliased Lanczos filter so
that its shorter side is at most SHORT px, then saved as PNG (lossless, no JPEG
history). Grey images stay single-channel. Re-running gives the same files.

    python3 tools/make_forgery_photos.py [--skimage-data DIR]

Licences are those stated in scikit-image's `skimage/data/_fetchers.py`; they are
copied into crates/core/assets/PROVENANCE.md by hand. Only files whose licence is
stated as public domain or CC0 are used (not moon, page, the motorcycle pair, coins).
"""

import argparse
import os
import pathlib

from PIL import Image

SHORT = 256

# (output name, skimage file, centre-crop box as fractions or None)
PHOTOS = [
    ("astronaut", "astronaut.png", None),
    ("rocket", "rocket.jpg", None),
    ("hubble_deep_field", "hubble_deep_field.jpg", None),
    ("chelsea", "chelsea.png", None),
    ("coffee", "coffee.png", None),
    ("camera", "camera.png", None),
    ("brick", "brick.png", None),
    ("grass", "grass.png", None),
    ("gravel", "gravel.png", None),
    # The fundus photo is a disc on black: keep the central square inside the disc.
    ("retina", "retina.jpg", (0.22, 0.22, 0.78, 0.78)),
]


def main():
    ap = argparse.ArgumentParser()
    import skimage

    default = os.path.join(os.path.dirname(skimage.__file__), "data")
    ap.add_argument("--skimage-data", default=default)
    root = pathlib.Path(__file__).resolve().parent.parent
    ap.add_argument("--out", default=str(root / "crates/core/assets/photos"))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, src, box in PHOTOS:
        im = Image.open(os.path.join(args.skimage_data, src))
        im.load()
        if im.mode in ("RGBA", "P", "CMYK"):
            im = im.convert("RGB")
        if im.mode not in ("RGB", "L"):
            im = im.convert("L" if im.mode.startswith("I") or im.mode == "LA" else "RGB")
        if box is not None:
            w, h = im.size
            im = im.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
        w, h = im.size
        s = min(w, h)
        if s > SHORT:
            nw, nh = round(w * SHORT / s), round(h * SHORT / s)
            im = im.resize((nw, nh), Image.LANCZOS, reducing_gap=None)
        path = out / f"{name}.png"
        im.save(path, optimize=True)
        size = path.stat().st_size
        total += size
        print(f"{path.name}: {im.size[0]}x{im.size[1]} {im.mode} {size} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
