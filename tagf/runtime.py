"""The kernels and threads a process computes with: what makes a run's numbers the same on another machine.

PyTorch picks its CPU kernels by the machine's instruction set (ATen by `ATEN_CPU_CAPABILITY`, oneDNN by
`ONEDNN_MAX_CPU_ISA`, MKL's BLAS by its branch, `MKL_CBWR`), and reductions split work by the thread count, so the
same training gives other weights on an AVX-512 machine than on an AVX2 one, or at another thread count. With
`reproducible` (params.yaml's `reproducible:`, or TAGF_REPRODUCIBLE=1), every process pins the kernels to AVX2 on
x86-64 (what any machine of the last decade has), uses a fixed thread count, and asks torch for deterministic
algorithms; off, it takes the fastest kernels and every core it may use, or the threads OMP_NUM_THREADS asks for
(on cores other work keeps busy, more threads cost more than they give: docs/development.md). The pins are
environment variables read when torch first computes, so they are set before torch is imported, and handed to Ray's
workers.
"""

from __future__ import annotations

import os
import platform
import sys

from tagf.errors import UsageError

# The instruction set pinned for each architecture: (ATen's name, oneDNN's, MKL's branch).
PINNED = {"x86_64": ("avx2", "AVX2", "AVX2"), "AMD64": ("avx2", "AVX2", "AVX2")}
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


def cpus_available() -> int:
    """The cores this process may run on (its affinity, as a container or `taskset` limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def kernel_environment(reproducible: bool) -> dict[str, str]:
    """The environment variables that pin the kernels (none when not reproducible, or on an architecture with no
    pin: then only the thread count and deterministic algorithms hold)."""
    pins = PINNED.get(platform.machine()) if reproducible else None
    return dict(zip(KERNEL_VARIABLES, pins)) if pins else {}


def pin_kernels(reproducible: bool) -> dict[str, str]:
    """Set the kernel pins in this process's environment (inherited by every process it starts); they must come
    before torch computes, so torch must not be imported yet. Returns what was set."""
    pins = kernel_environment(reproducible)
    if pins and "torch" in sys.modules:
        raise RuntimeError("tagf.runtime.pin_kernels: torch is already imported; pin before importing it")
    os.environ.update(pins)
    if reproducible:
        os.environ["TAGF_REPRODUCIBLE"] = "1"
    return pins


def is_reproducible() -> bool:
    return os.environ.get("TAGF_REPRODUCIBLE") == "1"


def threads_asked() -> int | None:
    """The thread count OMP_NUM_THREADS asks for (its first level), as OpenMP and PyTorch read it; None if unset."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"OMP_NUM_THREADS: {value!r} is not a thread count (a positive integer)")
    return int(value)


def use_threads(threads: int | None = None) -> int:
    """torch's thread count: `threads`, else 1 when reproducible (the same on every machine), else what
    OMP_NUM_THREADS asks (a scheduler's or a shared machine's limit), else every core this process may use; and
    deterministic algorithms when reproducible. Returns the count."""
    asked = threads_asked()  # checked even where unused: a bad value is named, never ignored
    count = threads or (1 if is_reproducible() else asked or cpus_available())
    import torch

    torch.set_num_threads(max(1, int(count)))
    if is_reproducible():
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.get_num_threads()


def describe() -> dict[str, str]:
    """What a run computed with, for its provenance: the kernels' instruction set, threads, CPU, the switch."""
    import torch

    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": str(torch.get_num_threads()),
        "cpu_model": cpu_model(),
        "reproducible": str(is_reproducible()).lower(),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown"
            )
    except OSError:
        return platform.processor() or "unknown"
