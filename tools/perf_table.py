"""One command for the performance issue's ratio table: every op and training step the
papers run, candor's criterion bench beside its PyTorch CPU twin on the same machine.

    python3 tools/perf_table.py [--rounds 3] [--filter REGEX] [--python PY]

Each round runs the candor side (one `cargo bench` per bench target, release profile,
criterion's median) and then the PyTorch side (each twin script once, its medians), so the
two sides alternate and share the machine's drift; the table gives per-round medians of
both sides, the ratio of their medians over the rounds and the range of the per-round
ratios. Both sides use the same glibc allocator settings (candor's `tune_allocator()`;
the twins re-execute themselves with them, `tools/torch_alloc_env.py`) and the same
thread count per row (2, or 1 where the row says so, as the RL papers run).

`--python` is the interpreter with torch (default: this one). Rows whose twin cannot run
(torch missing) print "—". Not part of the tests; the results go into
docs/performance.md by hand, with the machine and the date.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")

# (label, bench target, criterion id "group/function/param", divisor for the candor time,
#  threads, twin script + args, regex whose group 1 is the twin's time, its unit)
ROWS = [
    ("conv2d forward 16×64×32², 3×3", "ops", "conv2d_fwd/candor/16x64x32x32", 1, 2,
     ["torch_ops_timing.py"], r"^conv2d_fwd\s+([\d.]+) ms"),
    ("conv2d backward through a Σ y·r loss (candor: ops::dot; PyTorch: (y * r).sum())", "ops",
     "conv2d_bwd/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"], r"^conv2d_bwd\s+([\d.]+) ms"),
    ("conv2d backward from the output gradient, y.backward(r)", "ops",
     "conv2d_bwd_seeded/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^conv2d_bwd_seeded\s+([\d.]+) ms"),
    ("depthwise forward 16×64×32², 3×3", "ops", "depthwise_fwd/candor/16x64x32x32", 1, 2,
     ["torch_ops_timing.py"], r"^depthwise_fwd\s+([\d.]+) ms"),
    ("depthwise backward through a Σ y·r loss (candor: ops::dot; PyTorch: (y * r).sum())", "ops",
     "depthwise_bwd/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^depthwise_bwd\s+([\d.]+) ms"),
    ("depthwise backward through candle's product and sum_all nodes (reference: candle's "
     "loss nodes, PyTorch's (y * r).sum())", "ops",
     "depthwise_bwd/candor_mul_sum/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^depthwise_bwd\s+([\d.]+) ms"),
    ("depthwise backward from the output gradient, y.backward(r)", "ops",
     "depthwise_bwd_seeded/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^depthwise_bwd_seeded\s+([\d.]+) ms"),
    ("conv2d backward, the op alone (no autograd)", "ops", "conv2d_bwd_op/candor/16x64x32x32", 1,
     2, ["torch_ops_timing.py"], r"^conv2d_bwd_op\s+([\d.]+) ms"),
    ("depthwise backward, the op alone (no autograd)", "ops",
     "depthwise_bwd_op/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^depthwise_bwd_op\s+([\d.]+) ms"),
    ("max-pool 3×3/2 forward + backward", "ops", "maxpool3s2_fwdbwd/candor/16x64x32x32", 1, 2,
     ["torch_ops_timing.py"], r"^maxpool3s2_fwdbwd\s+([\d.]+) ms"),
    ("bilinear ×2 forward + backward", "ops", "upsample_bilinear_fwdbwd/candor/16x64x32x32", 1,
     2, ["torch_ops_timing.py"], r"^upsample_bilinear_fwdbwd\s+([\d.]+) ms"),
    ("batch norm + ReLU forward + backward 16×64×32²", "ops",
     "batch_norm_relu_fwdbwd/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^batch_norm_relu_fwdbwd\s+([\d.]+) ms"),
    ("batch norm + SiLU forward + backward 16×64×32²", "ops",
     "batch_norm_silu_fwdbwd/candor/16x64x32x32", 1, 2, ["torch_ops_timing.py"],
     r"^batch_norm_silu_fwdbwd\s+([\d.]+) ms"),
    ("small ConvNet train step, 16×3×64²", "ops", "convnet_train_step/candor/16x3x64x64", 1, 2,
     ["torch_ops_timing.py"], r"^convnet_train_step\s+([\d.]+) ms"),
    ("forgery: EfficientNet (quick) step, 8×64²", "forgery",
     "train_step/efficientnet/8x3x64x64", 1, 2, ["forgery_bench.py"],
     r"^train_step/efficientnet/8x3x64x64: ([\d.]+) ms"),
    ("forgery: MAT (quick) step, 8×64²", "forgery", "train_step/mat/8x3x64x64", 1, 2,
     ["forgery_bench.py"], r"^train_step/mat/8x3x64x64: ([\d.]+) ms"),
    ("forgery: SPSL (quick) step, 8×64²", "forgery", "train_step/spsl/8x3x64x64", 1, 2,
     ["forgery_bench.py"], r"^train_step/spsl/8x3x64x64: ([\d.]+) ms"),
    ("forgery: MAT on EfficientNet-B0 step, 8×128²", "forgery",
     "train_step/mat_b0/8x3x128x128", 1, 2, ["forgery_bench.py"],
     r"^train_step/mat_b0/8x3x128x128: ([\d.]+) ms"),
    ("forgery: SPSL Xception step, 8×128²", "forgery", "train_step/spsl_paper/8x3x128x128", 1,
     2, ["forgery_bench.py"], r"^train_step/spsl_paper/8x3x128x128: ([\d.]+) ms"),
    ("pointcloud: PointNet-TF train step, 32×1024", "pointcloud",
     "pointnet_train_step/tf_original/32x1024", 1, 2, ["pointcloud_bench.py"],
     r"^pointnet_train_step/tf_original/32x1024: ([\d.]+) ms"),
    ("pointcloud: C&W iteration, 32×1024", "pointcloud",
     "cw_perturb_iteration/tf_original/32x1024", 1, 2, ["pointcloud_bench.py"],
     r"^cw_perturb_iteration/tf_original/32x1024: ([\d.]+) ms"),
    ("rl-noisy: DQN update 128-128, batch 32 (1 thread)", "rl", "dqn_update/candor/Dqn/batch32",
     1, 1, ["rl_python_timing.py", "--skip-env"], r"^dqn_update batch32\s+([\d.]+) ms"),
    ("rl-noisy: greedy action, one observation (1 thread, µs)", "rl",
     "action_latency/candor/Dqn/greedy", 1e-3, 1, ["rl_python_timing.py", "--skip-env"],
     r"^action_latency greedy\s+([\d.]+) us"),
    ("rl-ddpg: TD3 update 256-256, batch 256 (2 threads)", "rl_ddpg",
     "td3_update/candor/256-256/batch256/x2", 2, 2,
     ["rl_ddpg_torch_timing.py", "--updates", "200", "--threads", "2"],
     r"td3_update 256-256 batch 256 threads 2: ([\d.]+) ms"),
    ("matting: train step, quick widths, 8×128²", "matting",
     "matting_train_step/small/batch8_128x128", 1, 2, ["matting_bench.py"],
     r"^matting_train_step/small/batch8_128x128: ([\d.]+) ms"),
    ("matting: train step, default widths, 8×192²", "matting",
     "matting_train_step/default/batch8_192x192", 1, 2, ["matting_bench.py"],
     r"^matting_train_step/default/batch8_192x192: ([\d.]+) ms"),
    ("matting: inference α + σ, 512²", "matting", "matting_inference/default_512x512", 1, 2,
     ["matting_bench.py"], r"^matting_inference/default_512x512: ([\d.]+) ms"),
    ("watermark: H/R/D step, quick widths, 8×128²", "watermark",
     "watermark_hrd_step/batch8_128/quick", 1, 2, ["watermark_bench.py"],
     r"^watermark_hrd_step/batch8_128/quick: ([\d.]+) ms"),
    ("watermark: ResNet-9 surrogate step, ngf 8", "watermark",
     "watermark_surrogate_step/resnet9_l2_batch8_128/ngf8", 1, 2, ["watermark_bench.py"],
     r"^watermark_surrogate_step/resnet9_l2_batch8_128/ngf8: ([\d.]+) ms"),
]


def criterion_median_ms(home, cid):
    # criterion's folders: group / function / parameter, each with '/' made '_'; the ids
    # here have no '/' in a group or function name, so the rest is the parameter.
    parts = cid.split("/")
    dirs = parts if len(parts) <= 3 else parts[:2] + ["_".join(parts[2:])]
    p = os.path.join(home, *dirs, "new", "estimates.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["median"]["point_estimate"] / 1e6


def run_candor(rows, home):
    """One `cargo bench` per target with every wanted id in its filter; ms per row."""
    out = {}
    for target in dict.fromkeys(r[1] for r in rows):
        mine = [r for r in rows if r[1] == target]
        for threads in sorted({r[4] for r in mine}):
            part = [r for r in mine if r[4] == threads]
            regex = "^(" + "|".join(re.escape(r[2]) for r in part) + ")$"
            env = dict(os.environ, CRITERION_HOME=home, RAYON_NUM_THREADS=str(threads),
                       CANDLE_NUM_THREADS=str(threads))
            cmd = ["cargo", "bench", "--quiet", "-p", "candor-benches", "--bench", target,
                   "--", "--noplot", regex]
            print(f"  candor: {target} ({threads} thread{'s' * (threads > 1)})", file=sys.stderr)
            subprocess.run(cmd, cwd=ROOT, env=env, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for r in part:
                ms = criterion_median_ms(home, r[2])
                out[r[0]] = None if ms is None else ms / r[3]
    return out


def run_twins(rows, python):
    out = {}
    scripts = {}
    for r in rows:
        scripts.setdefault(tuple(r[5]), []).append(r)
    for args, part in scripts.items():
        cmd = [python, os.path.join(TOOLS, args[0]), *args[1:]]
        names = [re.sub(r"\\", "", re.match(r"\^?([^:\s]+)", r[6]).group(1)) for r in part]
        if args[0] in ("forgery_bench.py", "pointcloud_bench.py", "matting_bench.py",
                       "watermark_bench.py"):
            cmd += ["--threads", str(part[0][4]),
                    "--filter", "^(" + "|".join(re.escape(n) for n in names) + ")$"]
        print(f"  PyTorch: {' '.join(args)}", file=sys.stderr)
        p = subprocess.run(cmd, cwd=TOOLS, capture_output=True, text=True, check=False)
        for r in part:
            m = next((re.search(r[6], line) for line in p.stdout.splitlines()
                      if re.search(r[6], line)), None)
            out[r[0]] = None if m is None else float(m.group(1))
    return out


def fmt(v):
    return "—" if v is None else (f"{v:.3g}" if v < 10 else f"{v:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--filter", default="", help="only the rows whose label matches")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    rows = [r for r in ROWS if re.search(a.filter, r[0])]
    subprocess.run(["cargo", "bench", "--quiet", "-p", "candor-benches", "--no-run"],
                   cwd=ROOT, check=True)
    cand = {r[0]: [] for r in rows}
    torch = {r[0]: [] for r in rows}
    with tempfile.TemporaryDirectory() as home:
        for k in range(a.rounds):
            print(f"round {k + 1} of {a.rounds}", file=sys.stderr)
            for side, res in (("c", run_candor(rows, home)), ("t", run_twins(rows, a.python))):
                for label, v in res.items():
                    (cand if side == "c" else torch)[label].append(v)
    print(f"{a.rounds} alternated rounds; ms unless stated; candor = criterion median "
          "(release), PyTorch = the twin's median")
    print()
    print("| step | candor (per round) | PyTorch (per round) | candor / PyTorch (medians) "
          "| per-round ratios |")
    print("|---|---|---|---|---|")
    for r in rows:
        c = [v for v in cand[r[0]] if v is not None]
        t = [v for v in torch[r[0]] if v is not None]
        ratio = "—"
        spread = "—"
        if c and t:
            ratio = f"{statistics.median(c) / statistics.median(t):.2f}"
            per = [x / y for x, y in zip(cand[r[0]], torch[r[0]]) if x and y]
            if per:
                spread = f"{min(per):.2f}–{max(per):.2f}"
        print(f"| {r[0]} | {', '.join(fmt(v) for v in cand[r[0]])} | "
              f"{', '.join(fmt(v) for v in torch[r[0]])} | {ratio} | {spread} |")


if __name__ == "__main__":
    main()
