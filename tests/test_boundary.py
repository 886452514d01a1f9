"""The foreign-exception boundary: library errors become one-line domain errors, bugs stay bugs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from robustcheck.boundary import foreign_errors, guarded, translate
from robustcheck.errors import DataError, ModelError, RuntimeEnvironmentError
from robustcheck.exit_codes import ExitCode


def _in_module(name: str, source: str, **names: object) -> Callable[[], None]:
    """A function ``f`` defined as if in module ``name`` (its frames carry that module name)."""
    scope: dict[str, object] = {"__name__": name, **names}
    exec(compile(source, f"/fake/{name.replace('.', '/')}.py", "exec"), scope)
    return scope["f"]  # type: ignore[return-value]


def _raised(function: Callable[[], None]) -> BaseException:
    with pytest.raises(BaseException) as info:
        function()
    return info.value


def test_a_bug_in_robustcheck_is_not_converted():
    bug = _in_module("robustcheck.engine.fake", "def f():\n    return ()[1]\n")
    assert translate(_raised(bug), "model.pt", "data.npz") is None
    with pytest.raises(IndexError), foreign_errors("model.pt", "data.npz"):
        bug()


def test_a_torch_error_blames_the_model():
    def f():
        torch.nn.Linear(3, 2)(torch.zeros(1, 4))  # raised inside torch's Python frames

    error = translate(_raised(f), "model.pt", "data.npz")
    assert isinstance(error, ModelError)
    assert error.exit_code == ExitCode.INPUT_ERROR
    assert error.one_line().startswith("model.pt: the model failed (RuntimeError: ")
    assert "\n" not in error.one_line()


def test_a_foreign_error_under_the_data_package_blames_the_data(tmp_path: Path):
    garbage = tmp_path / "x.npy"
    garbage.write_bytes(b"\x93NUMPY\x01\x00garbage")
    loader = _in_module(
        "robustcheck.data.fake", "def f():\n    np.load(path)\n", np=np, path=garbage
    )
    error = translate(_raised(loader), "model.pt", "data.npz")
    assert isinstance(error, DataError)
    assert error.one_line().startswith("data.npz: cannot read the data (ValueError")


def test_a_foreign_exception_type_is_foreign_wherever_it_is_raised():
    error_type = type("Fail", (Exception,), {"__module__": "onnxruntime.capi.fake"})
    raiser = _in_module(
        "robustcheck.backends.fake",
        "def f():\n    raise E('[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory')\n",
        E=error_type,
    )
    error = translate(_raised(raiser), "model.onnx")
    assert isinstance(error, RuntimeEnvironmentError)
    assert error.one_line().startswith(
        "model.onnx: out of memory (Fail: Failed to allocate memory)"
    )


def test_memory_error_is_an_environment_error():
    with (
        pytest.raises(RuntimeEnvironmentError, match=r"model\.pt: out of memory"),
        foreign_errors("model.pt"),
    ):
        raise MemoryError


def test_guarded_names_the_files_of_its_first_argument():
    class Config:
        model = Path("m.pt")
        data = Path("d.npz")

    @guarded("model", "data")
    def run(config: Config) -> None:
        torch.nn.Linear(3, 2)(torch.zeros(1, 4))

    with pytest.raises(ModelError, match=r"^m\.pt: the model failed"):
        run(Config())


def test_an_allocation_no_machine_can_grant_is_the_model_s_defect():
    """2⁴⁵ float32 is 128 TiB, the whole address space of a process: no batch size helps."""
    twin_op = _in_module(
        "robustcheck.backends.onnx.twin.ops.fake",
        "def f():\n    torch.zeros(1 << 45)\n",
        torch=torch,
    )
    error = translate(_raised(twin_op), "model.onnx")  # robustcheck's own frame asked torch
    assert isinstance(error, ModelError) and error.exit_code == ExitCode.INPUT_ERROR
    line = error.one_line()
    assert line.startswith("model.onnx: the model asked for 128 TiB in one allocation")
    assert "no batch size can fix that" in line and "--batch-size" not in line


def test_an_allocation_a_larger_machine_could_grant_is_the_environment_s():
    error_type = type("OutOfMemoryError", (RuntimeError,), {"__module__": "torch.cuda"})
    raiser = _in_module(
        "robustcheck.attacks.fake",
        "def f():\n    raise E('CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has 1 GiB free')\n",
        E=error_type,
    )
    error = translate(_raised(raiser), "model.pt")
    assert isinstance(error, RuntimeEnvironmentError) and "--batch-size" in error.one_line()
