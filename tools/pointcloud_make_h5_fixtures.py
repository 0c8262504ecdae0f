#!/usr/bin/env python3
"""Regenerate the HDF5 fixtures of candor-pointcloud-defense's tests.

Run from the repository root:

    pip install h5py numpy
    python3 tools/pointcloud_make_h5_fixtures.py            # write fixtures, check writer file
    python3 tools/pointcloud_make_h5_fixtures.py --check F  # only check an .h5 written by Rust

Deterministic (fixed seeds). Writes into crates/pointcloud-defense/tests/fixtures/h5/:

* one small ModelNet40-layout file per storage variant: `data` float32 N x P x 3 and
  `label` uint8 N x 1, written by h5py with
    - the default file format (superblock v0, object header v1, symbol-table groups,
      B-tree v1 chunk index) contiguous, chunked, gzip, gzip+shuffle, fletcher32, and
      with 400 chunks (a two-level B-tree);
    - libver 'v108' (superblock v2, object header v2, link messages, B-tree v1);
    - libver 'v110' (superblock v3, layout v4, fixed-array chunk index);
    - libver 'latest' (superblock v3, object header v2, layout v4 (v5 with HDF5 2.0) with
      the single-chunk, fixed-array and paged fixed-array chunk indexes);
    - a 512-byte user block and extra datasets (`normal`, `faceId`) as in ModelNet40;
* expected.json - per file: shapes, the FNV-1a 64 hash of the little-endian bytes of
  `data` (and `label`), the float64 sum of `data`, the first values and all labels.

It also checks, with h5py, `rust_writer.h5` (written by the crate's HDF5 writer; the
Rust test `h5_writer_matches_committed_fixture` keeps it byte-identical to what the
writer produces), so the writer's output is known to be readable by libhdf5.
"""

import json
import os
import sys

import h5py
import numpy as np

OUT = os.path.join("crates", "pointcloud-defense", "tests", "fixtures", "h5")


def fnv1a64(b: bytes) -> str:
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def make_arrays(n, p, seed):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, p, 3)).astype("<f4")
    label = rng.integers(0, 40, size=(n, 1)).astype("u1")
    return data, label


def describe(data, label):
    return {
        "data_shape": list(data.shape),
        "label_shape": list(label.shape),
        "data_fnv1a64": fnv1a64(data.astype("<f4").tobytes()),
        "label_fnv1a64": fnv1a64(label.astype("u1").tobytes()),
        "data_sum": float(data.astype(np.float64).sum()),
        "data_first": [float(v) for v in data.reshape(-1)[:6]],
        "labels": [int(v) for v in label.reshape(-1)],
    }


def variants():
    # name, libver, dataset kwargs for data, for label, n, points, extra options
    yield "v0_contiguous", None, {}, {}, 5, 64, {}
    yield "v0_chunked", None, {"chunks": (2, 32, 3)}, {"chunks": (2, 1)}, 5, 64, {}
    yield "v0_gzip", None, {"chunks": (2, 64, 3), "compression": "gzip", "compression_opts": 4}, {
        "chunks": (5, 1),
        "compression": "gzip",
    }, 5, 64, {}
    yield "v0_gzip_shuffle", None, {
        "chunks": (1, 64, 3),
        "compression": "gzip",
        "shuffle": True,
    }, {"chunks": (2, 1), "compression": "gzip", "shuffle": True}, 5, 64, {}
    yield "v0_fletcher32", None, {"chunks": (3, 16, 3), "fletcher32": True, "shuffle": True}, {}, 5, 64, {}
    yield "v0_modelnet_like", None, {"chunks": (2, 64, 3), "compression": "gzip", "compression_opts": 4}, {}, 5, 64, {
        "extras": True,
        "userblock": 512,
    }
    # 400 one-point chunks: a two-level chunk B-tree (64 entries per node)
    yield "v0_btree_two_levels", None, {"chunks": (1, 1, 3)}, {"chunks": (1, 1)}, 4, 100, {}
    yield "v108_gzip_shuffle", ("v108", "v108"), {
        "chunks": (2, 32, 3),
        "compression": "gzip",
        "shuffle": True,
    }, {"chunks": (2, 1)}, 5, 64, {}
    yield "v110_gzip_shuffle", ("v110", "v110"), {
        "chunks": (2, 32, 3),
        "compression": "gzip",
        "shuffle": True,
    }, {"chunks": (5, 1)}, 5, 64, {}
    yield "latest_contiguous", ("latest", "latest"), {}, {}, 5, 64, {}
    yield "latest_gzip_shuffle", ("latest", "latest"), {
        "chunks": (2, 32, 3),
        "compression": "gzip",
        "shuffle": True,
    }, {"chunks": (2, 1), "compression": "gzip"}, 5, 64, {}
    yield "latest_single_chunk", ("latest", "latest"), {
        "chunks": (5, 64, 3),
        "compression": "gzip",
    }, {"chunks": (5, 1)}, 5, 64, {}
    # 6 x 200 chunks of one point: 1200 > 1024 fixed-array entries -> paged data block
    yield "latest_paged", ("latest", "latest"), {"chunks": (1, 1, 3)}, {}, 6, 200, {}


def write_variant(path, libver, dkw, lkw, n, p, opts, seed):
    data, label = make_arrays(n, p, seed)
    kw = {}
    if libver is not None:
        kw["libver"] = libver
    if opts.get("userblock"):
        kw["userblock_size"] = opts["userblock"]
    if os.path.exists(path):
        os.remove(path)
    with h5py.File(path, "w", **kw) as f:
        f.create_dataset("data", data=data, **dkw)
        f.create_dataset("label", data=label, **lkw)
        if opts.get("extras"):
            f.create_dataset("normal", data=np.zeros_like(data), **dkw)
            f.create_dataset("faceId", data=np.arange(n * p, dtype="<i4").reshape(n, p))
    return data, label


def check_file(path, expected=None):
    with h5py.File(path, "r") as f:
        data = f["data"][...]
        label = f["label"][...]
    assert data.dtype == np.float32 and data.ndim == 3 and data.shape[2] == 3, data.shape
    assert label.dtype == np.uint8 and label.shape == (data.shape[0], 1), label.shape
    got = describe(data, label)
    if expected is not None:
        for key in ("data_shape", "label_shape", "data_fnv1a64", "label_fnv1a64", "labels"):
            assert got[key] == expected[key], (path, key, got[key], expected[key])
    return got


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--check":
        for path in sys.argv[2:]:
            print(path, json.dumps(check_file(path)))
        return
    os.makedirs(OUT, exist_ok=True)
    expected = {"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "files": {}}
    for seed, (name, libver, dkw, lkw, n, p, opts) in enumerate(variants()):
        path = os.path.join(OUT, name + ".h5")
        data, label = write_variant(path, libver, dkw, lkw, n, p, opts, seed)
        desc = describe(data, label)
        check_file(path, desc)
        expected["files"][name + ".h5"] = desc
        print(f"{path}: {os.path.getsize(path)} bytes")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    # The Rust writer's committed output: readable by libhdf5 with the expected values.
    rust = os.path.join(OUT, "rust_writer.h5")
    if os.path.exists(rust):
        data, label = rust_writer_arrays()
        check_file(rust, describe(data, label))
        print(f"{rust}: readable by h5py, values match")
    else:
        print(f"{rust} missing: run `cargo test -p candor-pointcloud-defense` first", file=sys.stderr)
        sys.exit(1)


def rust_writer_arrays():
    # Must match `writer_fixture_arrays()` in the crate's tests/h5.rs.
    n, p = 3, 16
    i = np.arange(n * p * 3, dtype=np.float64)
    data = ((i * 0.25) - 7.0).astype("<f4").reshape(n, p, 3)
    label = np.array([[1], [39], [0]], dtype="u1")
    return data, label


if __name__ == "__main__":
    main()
