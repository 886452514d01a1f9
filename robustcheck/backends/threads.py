"""Thread counts and determinism settings shared by torch and onnxruntime."""

from __future__ import annotations

import os

DEFAULT_THREADS = 4
"""Fixed intra-op threads for torch and onnxruntime: reductions may round differently per count."""


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when it is set (the knob a CI job or a process manager already uses
    to stop several processes oversubscribing the cores), else up to :data:`DEFAULT_THREADS` of
    the CPUs this process may run on."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) >= 1:
        return min(int(given), 1024)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(DEFAULT_THREADS, cpus))


def deterministic_torch(threads: int | None = None) -> int:
    """Deterministic eager kernels and a fixed intra-op thread count; returns the count."""
    import torch  # heavy: only where a model runs

    # torch.use_deterministic_algorithms also sets inductor's flag, importing torch._inductor
    # (1.2 s per scan); robustcheck never compiles, so set the eager-mode flag alone when we can.
    eager_only = getattr(torch._C, "_set_deterministic_algorithms", None)
    if eager_only is not None:
        eager_only(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    count = threads or default_threads()
    torch.set_num_threads(count)
    return count
