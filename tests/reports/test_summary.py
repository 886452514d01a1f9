"""The terminal summary: counts read as English, and ONNX scans show their fidelity."""

from __future__ import annotations

from robustcheck.reports import summary


def test_fidelity_line_for_onnx_and_singular_counts(report):
    onnx = report.model_copy(
        update={
            "fidelity": report.fidelity.model_copy(update={"paths": "onnx-twin-vs-onnxruntime"}),
            "gradient": report.gradient.model_copy(
                update={"evaluations": 1, "zero_gradient_samples": 1}
            ),
        }
    )
    out = summary.render(onnx)
    assert "gradients: 1 evaluation, 1 sample with zero gradient" in out
    assert "1 evaluations" not in out
    (line,) = [x for x in out.splitlines() if x.startswith("fidelity: ")]
    assert "twin vs onnxruntime" in line and "tolerance" in line


def test_no_fidelity_line_when_both_paths_are_the_same_module(report):
    same = report.model_copy(
        update={"fidelity": report.fidelity.model_copy(update={"paths": "same-module"})}
    )
    assert "fidelity:" not in summary.render(same)
