"""Where a PyTorch model runs: ``--device`` resolved against what this machine has."""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustcheck.errors import RuntimeEnvironmentError
from robustcheck.vocabulary import Device

if TYPE_CHECKING:
    import torch


def torch_device(requested: Device, cuda_available: bool | None = None) -> torch.device:
    """``cpu``, ``cuda`` (refused without a usable GPU), or ``auto``: CUDA when torch sees a GPU.
    ``cuda_available`` defaults to ``torch.cuda.is_available()``."""
    import torch  # heavy: only once a model is loaded

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if requested == "cuda" and not cuda_available:
        raise RuntimeEnvironmentError(
            "--device cuda: torch sees no usable CUDA GPU (needs an NVIDIA GPU, its driver and "
            f"a CUDA build of torch; this one is {torch.__version__})"
        )
    if requested == "cuda" or (requested == "auto" and cuda_available):
        return torch.device("cuda")
    return torch.device("cpu")
