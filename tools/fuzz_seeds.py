"""Write the seed inputs of candor's fuzz targets (see docs/reliability.md).

Usage: /work/venv/bin/python tools/fuzz_seeds.py [OUT]   (default: fuzz/seeds)

Writes OUT/<target>/<name> for every target but `config`, whose seeds (every config
type's defaults) are written by the ignored `write_config_seeds` tests of the
`fuzz_corpus` test files. Seeds are small, valid (or nearly valid) files of each format,
so that the fuzzer starts from inputs that reach deep into the readers; a fuzzing session
adds them to its working corpus, and `cargo fuzz cmin` folds what they cover into the
committed corpus under fuzz/corpus/.
"""

import io
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "seeds"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def hdf5():
    # The h5py-written fixtures cover every storage layout and chunk index the reader knows.
    (OUT / "hdf5").mkdir(parents=True, exist_ok=True)
    for p in sorted((ROOT / "crates/pointcloud-defense/tests/fixtures/h5").glob("*.h5")):
        shutil.copy(p, OUT / "hdf5" / p.name)


def off():
    cube_v = "\n".join(
        f"{x} {y} {z}" for x in (0, 1) for y in (0, 1) for z in (0, 1)
    )
    faces = "4 0 1 3 2\n4 4 5 7 6\n4 0 1 5 4\n4 2 3 7 6\n4 0 2 6 4\n4 1 3 7 5\n"
    put("off", "cube.off", f"OFF\n8 6 0\n{cube_v}\n{faces}")
    put("off", "quirk.off", "OFF3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    put(
        "off",
        "comments.off",
        "# a comment\r\nOFF\r\n\r\n3 1 0 # counts\r\n0 0 0\r\n1 0 0 0.5 0.5 0.5\r\n0 1 1e-3\r\n3 0 1 2 255 0 0\r\n",
    )
    put("off", "degenerate.off", "OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n")


def ply():
    ascii_ply = (
        "ply\nformat ascii 1.0\ncomment x\nelement vertex 3\nproperty float x\n"
        "property float y\nproperty float z\nproperty uchar red\nelement face 1\n"
        "property list uchar int vertex_indices\nend_header\n"
        "0 0 0 255\n1 0 0 0\n0 1 0 7\n3 0 1 2\n"
    )
    put("ply", "ascii.ply", ascii_ply)
    for fmt, e in (("binary_little_endian", "<"), ("binary_big_endian", ">")):
        head = (
            f"ply\nformat {fmt} 1.0\nelement extra 1\nproperty list uchar int idx\n"
            "element vertex 2\nproperty double nx\nproperty float x\nproperty float y\n"
            "property float z\nproperty short s\nend_header\n"
        ).encode()
        body = struct.pack(e + "Bii", 2, 7, 8)
        for v in ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0)):
            body += struct.pack(e + "d", 9.0) + struct.pack(e + "fff", *v) + struct.pack(e + "h", -3)
        put("ply", f"{fmt}.ply", head + body)


def xyz():
    put("xyz", "plain.xyz", "# c\n1 2 3\n\n4,5,6 0 0 1\n// x\n-1e-3 2.5 7\n")
    put("xyz", "tabs.txt", "0.1\t0.2\t0.3\n0.4\t0.5\t0.6\n")


def npy():
    def save(name, arr, version=None):
        b = io.BytesIO()
        if version is None:
            np.save(b, arr)
        else:
            np.lib.format.write_array(b, arr, version=version)
        put("npy", name, b.getvalue())

    save("f4_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3))
    save("f4_scalar.npy", np.array(1.5, dtype="<f4"))
    save("f4_empty.npy", np.zeros((0, 4), dtype="<f4"))
    save("f4_v2.npy", np.arange(4, dtype="<f4"), version=(2, 0))
    save("f8.npy", np.arange(3, dtype="<f8"))
    save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))


def image():
    rng = np.random.default_rng(0)
    params = bytes([5, 17, 3, 0x83])
    imgs = {
        "gray": Image.fromarray(rng.integers(0, 255, (7, 5), dtype=np.uint8)),
        "rgb": Image.fromarray(rng.integers(0, 255, (9, 13, 3), dtype=np.uint8)),
        "rgba": Image.fromarray(rng.integers(0, 255, (4, 6, 4), dtype=np.uint8)),
        "gray16": Image.fromarray(rng.integers(0, 65535, (5, 5), dtype=np.uint16)),
        "bits": Image.fromarray(rng.integers(0, 2, (8, 11), dtype=bool)),
    }
    for name, im in imgs.items():
        b = io.BytesIO()
        im.save(b, "PNG")
        put("image", f"{name}.png", params + b.getvalue())
    b = io.BytesIO()
    imgs["rgb"].convert("P", palette=Image.ADAPTIVE, colors=8).save(b, "PNG")
    put("image", "palette.png", params + b.getvalue())
    for name, im, kw in (
        ("rgb420.jpg", imgs["rgb"], {"quality": 75}),
        ("rgb444.jpg", imgs["rgb"], {"quality": 90, "subsampling": 0}),
        ("gray.jpg", imgs["gray"], {"quality": 50}),
        ("progressive.jpg", imgs["rgb"], {"quality": 60, "progressive": True}),
        ("cmyk.jpg", imgs["rgb"].convert("CMYK"), {"quality": 70}),
    ):
        b = io.BytesIO()
        im.save(b, "JPEG", **kw)
        put("image", name, params + b.getvalue())


def safetensors():
    def st(tensors, meta=None):
        header, data = {}, b""
        for name, dtype, shape, raw in tensors:
            header[name] = {
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [len(data), len(data) + len(raw)],
            }
            data += raw
        if meta is not None:
            header["__metadata__"] = meta
        h = json.dumps(header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        return struct.pack("<Q", len(h)) + h + data

    f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
    put(
        "safetensors",
        "varmap.safetensors",
        st(
            [("b", "F32", [3], f32(1, 2, 3)), ("w", "F32", [2, 3], f32(*range(6)))],
            {"candor.format": "varmap-1"},
        ),
    )
    put(
        "safetensors",
        "training.safetensors",
        st(
            [
                ("model/b", "F32", [3], f32(1, 2, 3)),
                ("model/w", "F32", [2, 3], f32(*range(6))),
                ("optim/w.exp_avg", "F32", [2, 3], f32(*range(6))),
            ],
            {"candor.format": "training-1", "candor.state": '{"step": 3}'},
        ),
    )
    put(
        "safetensors",
        "dtypes.safetensors",
        st(
            [
                ("h", "F16", [2], struct.pack("<2e", 1.0, -2.0)),
                ("bf", "BF16", [1], b"\x80\x3f"),
                ("i", "I64", [2], struct.pack("<2q", 5, -5)),
                ("u", "U8", [3], b"\x01\x02\x03"),
                ("d", "F64", [1], struct.pack("<d", 0.5)),
                ("z", "F32", [0, 3], b""),
            ]
        ),
    )


def results_json():
    report = {
        "paper": "core",
        "scale": "smoke",
        "seed": 0,
        "commit": "abc",
        "seconds": 1.5,
        "proxy": True,
        "data": "synthetic",
        "tables": [
            {
                "name": "t",
                "columns": ["a", "b"],
                "rows": [{"label": "ours", "values": [0.5, {"mean": 1.0, "std": 0.1}]}],
                "paper": [{"label": "paper", "values": ["x", None]}],
                "note": "n",
            }
        ],
        "claims": [{"id": "c1", "statement": "s", "holds": True, "evidence": "e"}],
        "plots": ["roc.png"],
    }
    put("results_json", "full.json", json.dumps(report, indent=1))
    report["tables"], report["claims"] = [], []
    del report["plots"]
    put("results_json", "empty.json", json.dumps(report))


def ff_splits():
    put("ff_splits", "splits.json", b"\x00" + json.dumps({"train": ["001", "002"], "val": ["003"], "test": []}).encode())
    put("ff_splits", "train.json", b"\x01" + json.dumps([["071", "054"], ["054", "071"], ["001", "002"]]).encode())


def rollout():
    cases = [
        (0, "0.01,0,0.02,0\n1\n0\n1\n1\n"),
        (1, "-\n0\n\n1\n"),
        (2, "0.1,0.2,-0.3,0.05\n2\n0\n1\n"),
        (3, "-0.5,0\n2\n2\n0\n"),
        (4, "-0.5,0\n0.5\n-1.5\n1e3\n"),
        (5, "1.0,0.5\n0.25\n-2\n2.5\n"),
    ]
    for env, text in cases:
        put("rollout", f"env{env}.txt", bytes([env]) + text.encode())


for gen in (hdf5, off, ply, xyz, npy, image, safetensors, results_json, ff_splits, rollout):
    gen()
print(f"seeds written under {OUT}")
