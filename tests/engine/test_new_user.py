"""What a new user tripped on: class names, channel order, per-class examples at the gating ε,
unit hints, located YAML errors and inspect agreeing with scan."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from robustcheck.backends.onnx.inspection import inspect_onnx
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import MeasurementError, PolicyError
from robustcheck.policy.load import parse_policy
from robustcheck.policy.schema import Budget, Limit, Policy
from robustcheck.reports.examples import make_example


def test_npz_classes_array_names_the_classes(cnn_model, digits, tmp_path):
    data = tmp_path / "named.npz"
    names = np.array([f"digit {i}°" for i in range(10)])
    np.savez(data, x=digits.x_test[:200], y=digits.y_test[:200], classes=names)
    report = run(ScanConfig(model=cnn_model.torchscript, data=data, eps=[0.1]))
    assert report.data.class_names == list(names)
    assert report.results[0].per_class[3].class_name == "digit 3°"


def test_class_names_file_overrides(cnn_model, digits_npz, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("".join(f"n{i}\n" for i in range(10)), encoding="utf-8")
    report = run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.1], class_names_file=names)
    )
    assert report.results[0].per_class[9].class_name == "n9"
    names.write_text("a\na\n", encoding="utf-8")
    with pytest.raises(Exception, match="appears twice"):
        run(
            ScanConfig(
                model=cnn_model.torchscript, data=digits_npz, eps=[0.1], class_names_file=names
            )
        )


def test_bgr_examples_are_shown_as_rgb():
    rgb = np.zeros((3, 4, 4))
    rgb[0] = 1.0  # red in RGB, blue when read as BGR
    args = (0, 0, 0.1, rgb, rgb, 0, 0.9, 1, 0.8)
    as_rgb = make_example(*args, layout="NCHW", channel_order="RGB")
    as_bgr = make_example(*args, layout="NCHW", channel_order="BGR")
    assert as_rgb is not None and as_bgr is not None
    assert as_rgb.clean_png != as_bgr.clean_png


def test_examples_are_one_per_class_at_the_gating_eps(cnn_model, digits_npz):
    policy = Policy(budgets=[Budget(eps=0.1, max_adversarial_error_rate=Limit(limit=0.05))])
    report = run(
        ScanConfig(
            model=cnn_model.torchscript, data=digits_npz, eps=[0.05, 0.1, 0.25], policy=policy
        )
    )
    assert report.verdict == "fail"
    labels = [e.label for e in report.examples]
    assert len(labels) == len(set(labels)) > 1  # several classes, not all class 0
    assert {e.eps for e in report.examples} == {0.1}  # the failing rule's ε, not the largest


class Thresholded(torch.nn.Module):
    """Binarises its input at 128: it depends on the pixels, but its gradient is zero."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner((x > 128).float())


def test_zero_gradients_on_0_255_data_suggest_the_unit(cnn_model, digits, tmp_path):
    path = tmp_path / "thresholded.pt"
    torch.jit.save(
        torch.jit.trace(Thresholded(cnn_model.module).eval(), torch.rand(2, 1, 8, 8)), str(path)
    )
    data = tmp_path / "pixels.npz"
    np.savez(data, x=np.round(digits.x_test[:100] * 254 + 1), y=digits.y_test[:100])
    with pytest.raises(MeasurementError, match=r"--std 255"):
        run(
            ScanConfig(
                model=path, data=data, eps=[8.0], input_range=(0.0, 255.0), allow_low_accuracy=True
            )
        )


def test_yaml_syntax_errors_are_located_on_one_line():
    with pytest.raises(PolicyError) as info:
        parse_policy("version: 1\nbudgets: [\n  - eps: 0.1\n", source="p.yaml")
    message = info.value.message
    assert message.startswith("p.yaml:3:3: ")
    assert "\n" not in message


def test_inspect_sees_softmax_through_identity(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["p"]), helper.make_node("Identity", ["p"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])],
    )
    path = tmp_path / "softmax_identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert inspect_onnx(path).output_kind_guess.startswith("probabilities")
