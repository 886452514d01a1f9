"""A seeded generator of hostile scans: small random models, data, policies and report targets.

Each case builds its files in its own folder and returns the ``robustcheck`` argv, the paths a
scan may write, and what is known of the outcome (an oracle). The property every case must keep:
an exit code in 0..5, one line on stderr for an error, no traceback, nothing outside the output
paths changed, and the oracle (e.g. a FIFO target is refused with 5 and stays a FIFO).
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

SIDE = 4
FEATURES = SIDE * SIDE
OK_CODES = frozenset(range(6))
CLASS_COUNTS = (1, 1, 2, 3, 10, 10, 1000)


@dataclass
class Scenario:
    argv: list[str]
    outputs: set[Path] = field(default_factory=set)
    """Regular report files the scan may create or replace (and the folders leading to them)."""
    special: set[Path] = field(default_factory=set)
    """Existing non-regular report targets: refused with exit 5 and left as they were."""
    never_pass: bool = False
    """The scan must not exit 0 or 1 (an ε over the whole range, an absent --y-key array)."""
    expect: frozenset[int] | None = None
    tags: list[str] = field(default_factory=list)


def scenario(seed: int, root: Path) -> Scenario:
    rng = random.Random(seed)
    classes = rng.choice(CLASS_COUNTS)
    case = Scenario(argv=["scan"])
    if (
        rng.random() < 0.4
    ):  # a well-formed scan with one twist, so twists deep in a scan are reached
        return _well_formed(rng, root, classes, case)
    model = _model(rng, root, classes, case)
    data = _data(rng, root, classes, case)
    case.argv += [str(model), "--data", str(data), "--no-isolation", "--timeout", "60"]
    _eps(rng, case)
    _report(rng, root, case)
    if rng.random() < 0.15:
        _policy(rng, root, case)
    if rng.random() < 0.7:  # random models are near chance: let most scans run to the end
        case.argv += ["--allow-low-accuracy"]
    if case.special:  # checked before the model and data are read (a policy is read earlier)
        case.expect = frozenset({5})
        case.never_pass = True
    if "--policy" in case.argv and case.expect is not None:
        case.expect = case.expect | {3}
    return case


def _well_formed(rng: random.Random, root: Path, classes: int, case: Scenario) -> Scenario:
    twists = ["none", "eps-over-range", "y-key-absent", "images", "sigmoid", "nan", "policy"]
    twist = rng.choice(twists)
    case.tags.append(f"well-formed:{twist}:{classes}")
    weights = np.random.default_rng(rng.randrange(2**31)).standard_normal((FEATURES, classes))
    if twist == "nan":
        weights[0, 0] = np.nan
    model = _linear_onnx(root, weights, sigmoid=twist == "sigmoid")
    if twist == "images":
        data = _images(rng, root, classes, case)
    else:
        n = rng.randint(2, 30)
        gen = np.random.default_rng(rng.randrange(2**31))
        x = gen.random((n, 1, SIDE, SIDE)).astype(np.float32)
        data = root / "d.npz"
        np.savez(data, x=x, y=gen.integers(0, max(classes, 2), n))
    case.argv += [str(model), "--data", str(data), "--no-isolation", "--allow-low-accuracy"]
    if twist == "y-key-absent":
        case.argv += ["--y-key", "labels"]
        case.never_pass = True
    if twist == "eps-over-range":
        case.argv += ["--eps", rng.choice(["1", "1.5", "10"])]
        case.expect = frozenset({2})
    else:
        case.argv += ["--eps", "0.1"]
    if twist == "policy":  # YAML 1.1 read 1:30 as 90 and let the scan pass
        _policy(rng, root, case, value=rng.choice(["1:30", "1_0", "yes"]))
    _report(rng, root, case)
    if case.special and twist != "policy":
        case.expect = frozenset({5})
    return case


def _linear_onnx(root: Path, weights: np.ndarray, *, sigmoid: bool) -> Path:
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["z" if sigmoid else "scores"]),
    ]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["scores"]))
    graph = helper.make_graph(
        nodes,
        "well_formed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, SIDE, SIDE])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", weights.shape[1]])],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    path = root / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


# --- models ------------------------------------------------------------------------------------


def _model(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    kind = rng.choices(["onnx", "torchscript", "garbage"], [6, 3, 1])[0]
    case.tags.append(f"model:{kind}:{classes}")
    if kind == "garbage":
        path = root / rng.choice(["m.onnx", "m.pt", "m.pt2"])
        path.write_bytes(rng.randbytes(rng.randint(0, 300)))
        return path
    if kind == "torchscript":
        return _torchscript(rng, root, classes, case)
    return _onnx(rng, root, classes, case)


class _Linear(torch.nn.Module):
    def __init__(self, classes: int, head: str) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(FEATURES, classes)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        if self.head == "detached":
            flat = flat.detach()
        z = self.linear(flat)
        if self.head == "softmax":
            return torch.softmax(z, dim=1)
        if self.head == "sigmoid":
            return torch.sigmoid(z)
        return z


def _torchscript(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    head = rng.choice(["logits", "softmax", "sigmoid", "detached"])
    case.tags.append(f"head:{head}")
    torch.manual_seed(rng.randrange(2**31))
    module = _Linear(classes, head).eval()
    if rng.random() < 0.1:
        with torch.no_grad():
            module.linear.weight[0, 0] = float("nan")
        case.tags.append("nan-weights")
    path = root / "m.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def _onnx(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    dtype = rng.choice([TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.DOUBLE])
    np_dtype = np.float32 if dtype == TensorProto.FLOAT else np.float64
    weights = np.random.default_rng(rng.randrange(2**31)).standard_normal((FEATURES, classes))
    if rng.random() < 0.1:
        weights[rng.randrange(FEATURES), 0] = np.nan
        case.tags.append("nan-weights")
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["z"]),
    ]
    inits = [numpy_helper.from_array(weights.astype(np_dtype), "W")]
    last = "z"
    head = rng.choice(["logits", "softmax", "sigmoid"])
    if head != "logits":
        node = helper.make_node("Softmax", [last], ["h"], axis=1)
        nodes.append(node if head == "softmax" else helper.make_node("Sigmoid", [last], ["h"]))
        last = "h"
    if rng.random() < 0.08:  # onnxruntime is asked for exabytes while scoring
        inits.append(numpy_helper.from_array(np.full(3, 2**20, np.int64), "huge_shape"))
        nodes += [
            helper.make_node("ConstantOfShape", ["huge_shape"], ["huge"]),
            helper.make_node("ReduceSum", ["huge"], ["huge_sum"], keepdims=0),
            helper.make_node("Cast", ["huge_sum"], ["huge_cast"], to=dtype),
            helper.make_node("Add", [last, "huge_cast"], ["with_huge"]),
        ]
        last = "with_huge"
        case.tags.append("huge-alloc")
    shape = rng.choice([None, None, [-1, classes, 1, 1], [-1], [-1, 1, classes], [1, -1]])
    if shape is not None:
        inits.append(numpy_helper.from_array(np.array(shape, np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", [last, "shape"], ["shaped"]))
        last = "shaped"
    nodes.append(helper.make_node("Identity", [last], ["scores"]))
    graph = helper.make_graph(
        nodes,
        "fuzz",
        [helper.make_tensor_value_info("x", dtype, ["N", 1, SIDE, SIDE])],
        [helper.make_tensor_value_info("scores", dtype, [f"d{i}" for i in range(_rank(shape))])],
        initializer=inits,
    )
    if rng.random() < 0.06:
        _escaping_sparse(graph)
        case.expect = frozenset({4})  # unless a policy, read first, is refused (see scenario)
        case.tags.append("sparse-external")
    case.tags.append(f"onnx:{head}:{shape}")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    path = root / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _rank(shape: list[int] | None) -> int:
    return 2 if shape is None else len(shape)


def _escaping_sparse(graph: onnx.GraphProto) -> None:
    values = numpy_helper.from_array(np.ones(2, np.float32), "S")
    values.ClearField("raw_data")
    values.data_location = TensorProto.EXTERNAL
    values.external_data.add(key="location", value="../outside.bin")
    indices = numpy_helper.from_array(np.array([0, 1], np.int64), "S_indices")
    graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))


# --- data --------------------------------------------------------------------------------------


def _data(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    kind = rng.choices(["npz", "npy", "images"], [5, 2, 3])[0]
    case.tags.append(f"data:{kind}")
    if kind == "npy":
        return _npy(rng, root)
    if kind == "images":
        return _images(rng, root, classes, case)
    return _npz(rng, root, classes, case)


def _inputs(rng: random.Random, n: int) -> np.ndarray:
    gen = np.random.default_rng(rng.randrange(2**31))
    shape = rng.choice([(n, 1, SIDE, SIDE)] * 4 + [(n, FEATURES), (n, 3, SIDE, SIDE)])
    x = gen.random(shape)
    if rng.random() < 0.15:
        x = x * 255
    return x.astype(rng.choice([np.float32, np.float32, np.float64, np.uint8]))


def _npz(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    n = rng.randint(1, 40)
    arrays = {"x": _inputs(rng, n)}
    label = rng.choice(["y", "y", "labels", None])
    if label is not None:
        high = classes + (2 if rng.random() < 0.15 else 0)
        arrays[label] = np.random.default_rng(rng.randrange(2**31)).integers(0, max(high, 2), n)
    path = root / "d.npz"
    np.savez(path, **arrays)
    if rng.random() < 0.3:
        key = rng.choice(["y", "labels"])
        case.argv += ["--y-key", key]
        if key not in arrays:
            case.never_pass = True
            case.tags.append("y-key-absent")
    return path


def _npy(rng: random.Random, root: Path) -> Path:
    path = root / "d.npy"
    if rng.random() < 0.5:
        np.save(path, _inputs(rng, rng.randint(1, 30)))
    else:  # a random header: magic, version, length, then noise
        header = rng.randbytes(rng.randint(0, 120))
        version = bytes([rng.choice([1, 2, 3, 9]), 0])
        path.write_bytes(b"\x93NUMPY" + version + len(header).to_bytes(2, "little") + header)
    return path


def _images(rng: random.Random, root: Path, classes: int, case: Scenario) -> Path:
    folder = root / "images"
    present = rng.sample(range(max(classes, 2)), k=min(max(classes, 2), rng.randint(1, 3)))
    gen = np.random.default_rng(rng.randrange(2**31))
    for label in present:
        (folder / str(label)).mkdir(parents=True)
        for i in range(rng.randint(1, 4)):
            pixels = gen.integers(0, 256, (SIDE, SIDE)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / str(label) / f"{i}.png")
    odd = rng.choice([None, None, "loop", "inner-link", "outer-link", "text", "empty", "fifo"])
    target = folder / str(present[0])
    if odd == "loop":
        (target / "loop.png").symlink_to("loop.png")
    elif odd == "inner-link":
        (target / "again.png").symlink_to(target / "0.png")
    elif odd == "outer-link":
        (target / "out.png").symlink_to(root / "m.onnx")
    elif odd == "text":
        (target / "notes.txt").write_text("hello")
    elif odd == "empty":
        (folder / "empty").mkdir()
    elif odd == "fifo":
        os.mkfifo(target / "pipe.png")
    case.tags.append(f"images:{len(present)}-of-{classes}:{odd}")
    if rng.random() < 0.5:
        case.argv += ["--input-range", "0", "255"]
    return folder


# --- flags, policies, report targets -----------------------------------------------------------


def _eps(rng: random.Random, case: Scenario) -> None:
    eps = rng.choice([0.01, 0.05, 0.1, 0.1, 0.3, 0.5, 1.0, 2.0, 10.0])
    case.argv += ["--eps", str(eps)]
    if "--input-range" in case.argv:
        lo, hi = 0.0, 255.0
    elif rng.random() < 0.3:
        lo, hi = 0.0, rng.choice([0.5, 1.0, 2.0])
        case.argv += ["--input-range", str(lo), str(hi)]
    else:
        return
    if eps >= hi - lo:
        case.never_pass = True
        case.tags.append("eps-over-range")


def _policy(rng: random.Random, root: Path, case: Scenario, value: str | None = None) -> None:
    value = value or rng.choice(["010", "1:30", "yes", "0x10", "1e-3", ".nan", "~", "0o7", "-1"])
    text = (
        "version: 1\nbudgets:\n  - eps: 0.1\n    max_high_confidence_misclassifications:\n"
        f"      count: {value}\n"
    )
    (root / "policy.yaml").write_text(text)
    case.argv += ["--policy", str(root / "policy.yaml")]
    case.tags.append(f"policy:{value}")
    if value in ("1:30", "yes", "1_0", ".nan", "-1"):  # strings or invalid counts under YAML 1.2
        case.never_pass = True


def _report(rng: random.Random, root: Path, case: Scenario) -> None:
    targets = ["file", "nested", "stdout", "fifo", "folder", "socket", "link"]
    target = rng.choices(targets, [12, 2, 2, 1, 1, 1, 1])[0]
    case.tags.append(f"report:{target}")
    flag = rng.choice(["--json", "--junit", "--markdown", "--html"])
    if target == "stdout":
        case.argv += [flag, "-"]
        return
    path = root / "out" / "r.txt" if target == "nested" else root / "r.out"
    if target in ("file", "nested"):
        case.outputs.add(path)
    elif target == "fifo":
        os.mkfifo(path)
    elif target == "folder":
        path.mkdir()
    elif target == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        os.mkfifo(root / "pipe")
        path.symlink_to(root / "pipe")
    if target not in ("file", "nested"):
        case.special.add(path)
    case.argv += [flag, str(path)]
