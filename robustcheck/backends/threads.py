"""Thread counts and determinism settings shared by torch and onnxruntime."""

from __future__ import annotations

import os

DEFAULT_THREADS = 4
"""Fixed intra-op threads for torch and onnxruntime: reductions may round differently per count."""


def default_threads() -> int:
    return max(1, min(DEFAULT_THREADS, os.cpu_count() or 1))


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
