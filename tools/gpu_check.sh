#!/usr/bin/env bash
# The GPU check of the CUDA issue, in two halves.
#
#   tools/gpu_check.sh build   (here, on the CPU machine with crates.io)
#       Assembles the CUDA 13.0 toolkit from PyPI wheels (shared/tools/cuda-toolkit.sh;
#       TOOLKIT=DIR, default ../cuda-tk), builds candor-core's test binary with the `cuda`
#       feature into target-cuda/ (TARGET_DIR; the dev profile, optimised as the
#       workspace sets it), runs it here (every CPU test passes; the GPU checks
#       say "no CUDA device" and return), and copies the stripped binary to gpu-bin/.
#
#   tools/gpu_check.sh run     (on the GPU machine: no crates.io, no toolkit needed)
#       Runs gpu-bin/candor-core-tests with CANDOR_REQUIRE_GPU=1, so that a missing GPU
#       fails instead of skipping: every CUDA kernel against the CPU op on random inputs
#       (forward and gradients; tolerances in the tests), printing each check.
#
# What exists so far: the depthwise convolution (forward with bias, input, weight and
# bias gradients). The other ops run candle's CUDA ops where those are correct, or
# refuse with an error naming the op (ops::backend).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: tools/gpu_check.sh build|run}
case "$mode" in
build)
  tk=${TOOLKIT:-../cuda-tk}
  bash ../shared/tools/cuda-toolkit.sh "$tk" >/dev/null
  # shellcheck disable=SC1091
  source "$tk/env.sh"
  out=$(cargo test -p candor-core --features cuda --lib --target-dir "${TARGET_DIR:-target-cuda}" \
    --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "candor_core":
        print(m["executable"])' | tail -n 1)
  test -x "$out" || { echo "no test binary built" >&2; exit 1; }
  echo "== CPU half: $out (GPU checks skip here)"
  # No driver here: the toolkit's libcuda link stub (every call fails) stands in for it.
  stub=$(mktemp -d)
  ln -sf "$CUDA_HOME/lib64/libcuda.so" "$stub/libcuda.so.1"
  LD_LIBRARY_PATH="$stub:$CUDA_HOME/lib:${LD_LIBRARY_PATH:-}" "$out" cuda_ 2>&1 | tail -n 8
  mkdir -p gpu-bin
  cp "$out" gpu-bin/candor-core-tests
  strip gpu-bin/candor-core-tests
  ls -l gpu-bin/candor-core-tests
  ;;
run)
  export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  CANDOR_REQUIRE_GPU=1 gpu-bin/candor-core-tests cuda_ --test-threads 1 --nocapture
  ;;
*)
  echo "usage: tools/gpu_check.sh build|run" >&2
  exit 2
  ;;
esac
