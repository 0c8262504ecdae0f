"""Shared by the PyTorch twins of candor's criterion benches (tools/matting_bench.py,
tools/watermark_bench.py, tools/pointcloud_bench.py, tools/forgery_bench.py): the command
line, the header line and the step timer.

Each step is called once to warm up and then `--reps` times, each call timed on its own;
the line printed per step is `NAME: MEDIAN ms (min MIN, max MAX, N reps)`, the figures
criterion reports for candor's side (median and spread, not a mean that one slow call
moves). Import it after `torch_alloc_env.ensure()` and torch.
"""
import argparse
import re
import statistics
import time

import torch_alloc_env


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--filter", default="", help="time only the steps whose name matches "
                    "this regular expression (like a criterion filter)")
    global _FILTER
    a = ap.parse_args()
    _FILTER = re.compile(a.filter)
    return a


_FILTER = re.compile("")


def header(torch, threads):
    """Set PyTorch's thread count and print the versions and allocator settings."""
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} threads, {torch_alloc_env.describe()}")


def time_step(name, step, reps):
    """Warm up, time `reps` calls of `step` one by one, print and return the median (s);
    None, without running it, for a step the `--filter` excludes."""
    if not _FILTER.search(name):
        return None
    step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"{name}: {med * 1e3:.1f} ms (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}, "
          f"{reps} reps)", flush=True)
    return med
