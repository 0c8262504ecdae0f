"""Run a PyTorch timing script with the glibc allocator settings candor uses.

candor's benches call `candor_core::alloc::tune_allocator()` (crates/core/src/alloc.rs),
which raises glibc's mmap threshold to 32 MiB and its trim threshold to 1 GiB and turns
mmapped blocks off (M_MMAP_MAX = 0), so freed multi-MB tensors stay in the process instead
of being page-faulted in again every step.
A fair comparison runs PyTorch with the same settings. glibc reads them from the
environment when the process starts, so `ensure()` re-executes the script with
MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_MAX_ set, unless they are set already (then
they are kept as given) or CANDOR_NO_ALLOC_TUNING is set to anything but 0 (as for
candor, to measure without the tuning). Call it before importing torch.
"""
import os
import sys

# The values tune_allocator() passes to mallopt: 32 << 20, 1 << 30 and no mmapped blocks.
SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_MMAP_MAX_": "0",
}
_MARK = "CANDOR_TORCH_ALLOC_REEXEC"


def _tuning_off():
    v = os.environ.get("CANDOR_NO_ALLOC_TUNING")
    return v is not None and v != "0"


def ensure():
    """Re-exec the running script with candor's allocator settings if they are missing."""
    if _tuning_off() or os.environ.get(_MARK):
        return
    missing = {k: v for k, v in SETTINGS.items() if k not in os.environ}
    if not missing:
        return
    env = dict(os.environ, **missing)
    env[_MARK] = "1"
    print("re-executing with candor's allocator settings: "
          + " ".join(f"{k}={v}" for k, v in missing.items()), file=sys.stderr, flush=True)
    # orig_argv keeps the interpreter's own options (-u, -X ...); Python >= 3.10.
    args = getattr(sys, "orig_argv", [sys.executable] + sys.argv)[1:]
    os.execve(sys.executable, [sys.executable] + args, env)


def describe():
    """One line saying which allocator settings this process runs with."""
    if _tuning_off() and not any(k in os.environ for k in SETTINGS):
        return "glibc allocator defaults (CANDOR_NO_ALLOC_TUNING set)"
    return " ".join(f"{k}={os.environ.get(k, 'unset')}" for k in SETTINGS)
