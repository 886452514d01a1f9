"""Hostile model files: broken, disguised, special, oversized or unsupported."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from hostile import _onnx
from hostile._case import (
    FAILED,
    INPUT,
    OK,
    REPORT,
    Case,
    Shared,
    random_bytes,
    scan,
    write,
)
from onnx import TensorProto, helper, numpy_helper

PWNED = "pwned-by-unpickling"
"""A pickled payload creates this file when it is unpickled; the tree snapshot catches it."""


def _truncated(source: str, suffix: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        data = getattr(fx, source).read_bytes()
        model = write(tmp / f"model{suffix}", data[: len(data) // 2])
        return scan(tmp, model, fx.npz)

    return build


def _content(suffix: str, content: bytes | str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        return scan(tmp, write(tmp / f"model{suffix}", content), fx.npz)

    return build


def _renamed(source: str, suffix: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        model = tmp / f"model{suffix}"
        shutil.copyfile(getattr(fx, source), model)
        return scan(tmp, model, fx.npz)

    return build


def _symlink(suffix: str, target: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        model = tmp / f"model{suffix}"
        model.symlink_to(target)
        return scan(tmp, model, fx.npz)

    return build


def _directory(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "model.onnx").mkdir()
    return scan(tmp, tmp / "model.onnx", fx.npz)


def _fifo(tmp: Path, fx: Shared) -> list[str]:
    os.mkfifo(tmp / "model.pt")
    return scan(tmp, tmp / "model.pt", fx.npz)


def _missing(tmp: Path, fx: Shared) -> list[str]:
    return scan(tmp, tmp / "absent.pt", fx.npz)


def _symlink_loop(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "model.pt").symlink_to("model.pt")
    return scan(tmp, tmp / "model.pt", fx.npz)


def _sparse_onnx(tmp: Path, fx: Shared) -> list[str]:
    """A 1 TiB .onnx (sparse: no disk used), far beyond protobuf's 2 GiB: refused from its size."""
    model = tmp / "model.onnx"
    with model.open("wb") as handle:
        handle.truncate(2**40)
    argv = scan(tmp, model, fx.npz)
    argv[argv.index("--timeout") + 1] = "5"  # the size alone should refuse it at once
    return argv


def _onnx_variant(**options):
    def build(tmp: Path, fx: Shared) -> list[str]:
        model = _onnx.save(_onnx.linear(fx.linear_weights, **options), tmp / "model.onnx")
        return scan(tmp, model, fx.npz)

    return build


def _onnx_ir_too_new(tmp: Path, fx: Shared) -> list[str]:
    model = _onnx.linear(fx.linear_weights)
    model.ir_version = 99
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_huge_initializer(tmp: Path, fx: Shared) -> list[str]:
    """An initializer whose dims declare 2**62 floats but which holds 4 bytes."""
    model = _onnx.linear(fx.linear_weights)
    weights = model.graph.initializer[0]
    del weights.dims[:]
    weights.dims.extend([2**31, 2**31])
    weights.raw_data = b"\0\0\0\0"
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_opset_too_new(tmp: Path, fx: Shared) -> list[str]:
    model = _onnx.linear(fx.linear_weights)
    model.opset_import[0].version = 999
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_string_weights(tmp: Path, fx: Shared) -> list[str]:
    """An initializer of strings where the MatMul needs floats."""
    model = _onnx.linear(fx.linear_weights)
    model.graph.initializer[0].CopyFrom(
        numpy_helper.from_array(fx.linear_weights.astype(str).astype(object), "W")
    )
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_format_override(tmp: Path, fx: Shared) -> list[str]:
    """A TorchScript archive declared as ONNX with --model-format."""
    model = tmp / "model.pt"
    shutil.copyfile(fx.cnn_pt, model)
    return scan(tmp, model, fx.npz, "--model-format", "onnx")


class _Payload:
    """Unpickling this opens (creates) a file: what a malicious ``torch.save`` archive does."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def _pickle_payload(suffix: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        model = tmp / f"model{suffix}"
        torch.save({"model": _Payload(tmp / PWNED)}, str(model))
        return scan(tmp, model, fx.npz)

    return build


def _control_characters(tmp: Path, fx: Shared) -> list[str]:
    model = write(tmp / "evil\n::error::forged\r.pt", random_bytes(512))
    return scan(tmp, model, fx.npz)


def _onnx_with_nan_weights(tmp: Path, fx: Shared) -> list[str]:
    weights = fx.linear_weights.copy()
    weights[:] = float("nan")
    return scan(tmp, _onnx.save(_onnx.linear(weights), tmp / "model.onnx"), fx.npz)


class _OneLogit(torch.nn.Module):
    """A binary classifier: one logit per sample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1).sum(dim=1, keepdim=True) - 20.0


class _Detached(torch.nn.Module):
    """Scores that depend on the input, but through no differentiable path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().reshape(x.shape[0], -1)[:, :10] * 3.0


class _TwoTensors(torch.nn.Module):
    """A forward that takes a second tensor robustcheck never feeds."""

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)[:, :10] + offset


def _torchscript(module: torch.nn.Module, labels: bool = True):
    def build(tmp: Path, fx: Shared) -> list[str]:
        model = tmp / "model.pt"
        torch.jit.save(torch.jit.script(module), str(model))
        data = fx.npz
        if not labels:
            data = tmp / "unlabelled.npz"
            np.savez(data, x=fx.x)
        return scan(tmp, model, data, "--allow-low-accuracy")

    return build


def _onnx_allocates_exabytes(tmp: Path, fx: Shared) -> list[str]:
    """The linear model plus a ConstantOfShape that asks onnxruntime for 4 EiB while scoring."""
    model = _onnx.linear(fx.linear_weights)
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.full(3, 2**20, np.int64), "huge_shape"))
    graph.node.insert(0, helper.make_node("ConstantOfShape", ["huge_shape"], ["huge"]))
    graph.node.insert(1, helper.make_node("ReduceSum", ["huge"], ["huge_sum"], keepdims=0))
    last = graph.node[-1]  # Identity -> logits: add the sum on the way
    graph.node.insert(
        len(graph.node) - 1, helper.make_node("Add", [last.input[0], "huge_sum"], ["plus"])
    )
    last.input[0] = "plus"
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_one_row_for_the_batch(tmp: Path, fx: Shared) -> list[str]:
    """Scores reshaped to ``[1, N*10]``: one row for the whole batch (found by the fuzz test)."""
    model = _onnx.linear(fx.linear_weights)
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array([1, -1], np.int64), "one_row"))
    last = graph.node[-1]
    graph.node.insert(
        len(graph.node) - 1, helper.make_node("Reshape", [last.input[0], "one_row"], ["row"])
    )
    last.input[0] = "row"
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_twin_cannot_run(tmp: Path, fx: Shared) -> list[str]:
    """A LinearClassifier whose coefficients are for 128 features where the input has 64:
    onnxruntime sizes the classes from the intercepts and runs it; the twin cannot."""
    weights = fx.linear_weights.T  # [10, 64]
    coefficients = np.hstack([weights, weights]).astype(np.float32).ravel().tolist()
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"]),
        helper.make_node(
            "LinearClassifier",
            ["flat"],
            ["label", "scores"],
            name="clf",
            domain="ai.onnx.ml",
            coefficients=coefficients,
            intercepts=[0.0] * 10,
            classlabels_ints=list(range(10)),
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "clf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10]),
        ],
    )
    opsets = [helper.make_opsetid("", _onnx.OPSET), helper.make_opsetid("ai.onnx.ml", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=_onnx.IR_VERSION)
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _onnx_recurrent_state_input(tmp: Path, fx: Shared) -> list[str]:
    """A second input ``h0 [2, N, 10]`` (a recurrent state, batched on axis 1) summed into the
    logits: robustcheck feeds side inputs one row per sample on axis 0, so it is refused."""
    model = _onnx.linear(fx.linear_weights)
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [2, "N", 10]))
    graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "layers"))
    last = graph.node[-1]  # Identity -> logits: add the state on the way
    graph.node.insert(
        len(graph.node) - 1, helper.make_node("ReduceSum", ["h0", "layers"], ["h"], keepdims=0)
    )
    graph.node.insert(len(graph.node) - 1, helper.make_node("Add", [last.input[0], "h"], ["s"]))
    last.input[0] = "s"
    data = tmp / "data.npz"
    np.savez(data, x=fx.x, y=fx.y, h0=np.zeros((len(fx.x), 2, 10), np.float32))
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), data, "--input", "x")


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 1048576\n"
)


def _two_classes(tmp: Path, fx: Shared) -> None:
    report = json.loads((tmp / REPORT).read_text(encoding="utf-8"))
    assert report["model"]["n_classes"] == 2, report["model"]


CASES = [
    Case("model-pt-truncated", _truncated("cnn_pt", ".pt"), INPUT, "{tmp}/model.pt"),
    Case("model-pt2-truncated", _truncated("cnn_pt2", ".pt2"), INPUT, "{tmp}/model.pt2"),
    Case("model-onnx-truncated", _truncated("linear_onnx", ".onnx"), INPUT, "{tmp}/model.onnx"),
    Case("model-onnx-empty", _content(".onnx", b""), INPUT, "{tmp}/model.onnx"),
    Case("model-pt-empty", _content(".pt", b""), INPUT, "{tmp}/model.pt"),
    Case("model-pt-random-bytes", _content(".pt", random_bytes(4096)), INPUT, "{tmp}/model.pt"),
    Case(
        "model-onnx-random-bytes", _content(".onnx", random_bytes(4096)), INPUT, "{tmp}/model.onnx"
    ),
    Case("model-onnx-git-lfs-pointer", _content(".onnx", LFS_POINTER), INPUT, "git lfs pull"),
    Case(
        "model-wrong-extension",
        _renamed("cnn_pt", ".bin"),
        INPUT,
        "{tmp}/model.bin",
    ),
    Case("model-onnx-named-pt", _renamed("linear_onnx", ".pt"), INPUT, "{tmp}/model.pt"),
    Case("model-pt-declared-onnx", _onnx_format_override, INPUT, "{tmp}/model.pt"),
    Case("model-directory", _directory, INPUT, "{tmp}/model.onnx"),
    Case("model-fifo", _fifo, INPUT, "{tmp}/model.pt"),
    Case("model-symlink-dev-zero", _symlink(".pt", "/dev/zero"), INPUT, "{tmp}/model.pt"),
    Case("model-symlink-dev-urandom", _symlink(".onnx", "/dev/urandom"), INPUT, "{tmp}/model.onnx"),
    Case("model-symlink-loop", _symlink_loop, INPUT, "{tmp}/model.pt"),
    Case("model-missing", _missing, INPUT, "{tmp}/absent.pt"),
    Case("model-onnx-sparse-1tib", _sparse_onnx, INPUT, "{tmp}/model.onnx"),
    Case(
        "model-onnx-initializer-declares-2**62-floats",
        _onnx_huge_initializer,
        INPUT,
        "{tmp}/model.onnx",
    ),
    Case(
        "model-onnx-custom-op-domain",
        _onnx_variant(custom_domain="com.attacker"),
        INPUT,
        "{tmp}/model.onnx",
    ),
    Case("model-onnx-ir-version-too-new", _onnx_ir_too_new, INPUT, "{tmp}/model.onnx"),
    Case("model-onnx-opset-too-new", _onnx_opset_too_new, INPUT, "{tmp}/model.onnx"),
    Case("model-onnx-no-outputs", _onnx_variant(outputs=False), INPUT, "{tmp}/model.onnx"),
    Case(
        "model-onnx-integer-input",
        _onnx_variant(input_type=TensorProto.INT64),
        INPUT,
        "{tmp}/model.onnx",
    ),
    Case("model-onnx-two-inputs", _onnx_variant(second_input=True), INPUT, "{tmp}/model.onnx"),
    Case("model-onnx-string-weights", _onnx_string_weights, INPUT, "{tmp}/model.onnx"),
    Case("model-onnx-nan-weights", _onnx_with_nan_weights, INPUT, "{tmp}/model.onnx"),
    Case("model-pt2-is-renamed-pt", _renamed("cnn_pt", ".pt2"), INPUT, "{tmp}/model.pt2"),
    Case("model-pt-is-renamed-pt2", _renamed("cnn_pt2", ".pt"), INPUT, "{tmp}/model.pt"),
    Case("model-pt-pickle-payload", _pickle_payload(".pt"), INPUT, "{tmp}/model.pt"),
    Case("model-pt2-pickle-payload", _pickle_payload(".pt2"), INPUT, "{tmp}/model.pt2"),
    Case("model-name-with-control-characters", _control_characters, INPUT, "evil"),
    Case(
        "model-single-output-column",
        _torchscript(_OneLogit(), labels=False),
        OK | FAILED,
        None,
        verify=_two_classes,
    ),
    Case(
        "model-pt-forward-takes-two-tensors",
        _torchscript(_TwoTensors()),
        INPUT,
        "{tmp}/model.pt: its forward takes 2 inputs ('x', 'offset')",
    ),
    Case(
        "model-no-differentiable-path",
        _torchscript(_Detached()),
        INPUT,
        "gradient is exactly zero",
    ),
    Case(
        "model-onnx-one-score-row-for-the-batch",
        _onnx_one_row_for_the_batch,
        INPUT,
        "rows of class scores for a batch of",
    ),
    Case(
        "model-onnx-twin-fails-on-a-node-onnxruntime-runs",
        _onnx_twin_cannot_run,
        INPUT,
        "{tmp}/model.onnx: the gradient twin cannot compute node 'clf' (ai.onnx.ml::LinearClassifier)",
    ),
    Case(
        "model-onnx-side-input-not-batched-on-axis-0",
        _onnx_recurrent_state_input,
        INPUT,
        "{tmp}/model.onnx: input 'h0' is declared [2, N, 10]: its axis 0 is fixed at 2",
    ),
    Case(
        "model-onnx-allocates-exabytes",
        _onnx_allocates_exabytes,
        INPUT,
        "{tmp}/model.onnx: the model asks for 4 EiB in one allocation even for a single sample",
    ),
]
