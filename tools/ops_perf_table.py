"""Build docs/performance.md's table from one criterion run of benches/benches/ops.rs and
one run of tools/torch_ops_timing.py on the same machine.

The PyTorch script runs with candor's glibc allocator settings (tools/torch_alloc_env.py).

Not part of the tests. Usage, from the repository root:
    cargo bench -p candor-benches --bench ops
    python3 tools/ops_perf_table.py [CRITERION_DIR]   # default: target/criterion
"""
import json
import os
import subprocess
import sys

crit = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"

# Work of each benchmark (FLOPs), for GFLOP/s; None where it is not a GEMM-like op.
conv = 16 * 64 * 32 * 32 * 64 * 9 * 2
dw = 16 * 64 * 32 * 32 * 9 * 2
GROUPS = [
    ("conv2d_fwd", "16x64x32x32", conv),
    ("conv2d_bwd", "16x64x32x32", 2 * conv),
    ("depthwise_fwd", "16x64x32x32", dw),
    ("depthwise_bwd", "16x64x32x32", 2 * dw),
    ("maxpool3s2_fwdbwd", "16x64x32x32", None),
    ("upsample_bilinear_fwdbwd", "16x64x32x32", None),
    ("convnet_train_step", "16x3x64x64", None),
]


def median_ms(group, fid, param):
    p = os.path.join(crit, group, fid, param, "new", "estimates.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["median"]["point_estimate"] / 1e6


out = subprocess.run(
    [sys.executable, os.path.join(os.path.dirname(__file__), "torch_ops_timing.py")],
    capture_output=True, text=True, check=True,
).stdout
torch = {}
for line in out.splitlines()[1:]:
    k, v, _ = line.split()
    torch[k] = float(v)

print(out.splitlines()[0])
print()
print("| op | candor (ms) | candle 0.11 (ms) | PyTorch (ms) | candle / candor | candor / PyTorch | candor GFLOP/s |")
print("|---|---|---|---|---|---|---|")
for g, param, flops in GROUPS:
    a = median_ms(g, "candor", param)
    b = median_ms(g, "candle", param)
    t = torch.get(g)
    f = lambda v: "—" if v is None else f"{v:.2f}"
    sp = "—" if a is None or b is None else f"{b / a:.1f}×"
    rt = "—" if a is None or t is None else f"{a / t:.2f}"
    gf = "—" if flops is None or a is None else f"{flops / a / 1e6:.0f}"
    print(f"| {g} | {f(a)} | {f(b)} | {f(t)} | {sp} | {rt} | {gf} |")
