"""onnxruntime sessions: the deployed judge.

CUDA is requested only when a GPU is really present (asking onnxruntime-gpu for CUDA without one
prints errors); sessions run sequentially with a fixed thread count so results are reproducible.
No custom-op library is ever registered, whatever the model names.
"""

from __future__ import annotations

import ctypes

from robustcheck.errors import ModelError, RuntimeEnvironmentError
from robustcheck.vocabulary import Device

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_QUIET = 4
"""onnxruntime severity: fatal only. Every error also reaches robustcheck as an exception, which
says it in one line; onnxruntime's own multi-line coloured log would only repeat it."""


def gpu_present() -> bool:
    """True when the CUDA driver reports at least one device (no torch, no onnxruntime needed)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return (
        driver.cuInit(0) == 0
        and driver.cuDeviceGetCount(ctypes.byref(count)) == 0
        and count.value > 0
    )


def providers_for(device: Device) -> list[str]:
    import onnxruntime as ort  # heavy: only when a session is made

    cuda_ok = CUDA in ort.get_available_providers() and gpu_present()
    if device == "cuda" and not cuda_ok:
        raise RuntimeEnvironmentError(
            "--device cuda: no usable CUDA GPU (needs an NVIDIA GPU, its driver and onnxruntime-gpu)"
        )
    if device == "cuda" or (device == "auto" and cuda_ok):
        return [CUDA, CPU]
    return [CPU]


def create_session(model_bytes: bytes, where: str, providers: list[str], threads: int) -> object:
    import onnxruntime as ort  # heavy: only when a session is made

    ort.set_default_logger_severity(_QUIET)  # the process-wide logger, used while loading
    options = ort.SessionOptions()
    options.log_severity_level = _QUIET
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning threads burn the cores torch needs between runtime calls (and vice versa): with
    # spinning off a 2-thread digits scan took 38 % less time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        lines = str(exc).strip().splitlines()
        raise ModelError(
            f"{where}: onnxruntime cannot load the model ({lines[0][:200] if lines else exc})"
        ) from None
