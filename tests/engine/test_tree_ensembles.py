"""Tree ensembles, the most common ONNX classifiers in tabular production work, have no gradient:
scikit-learn (skl2onnx), XGBoost and LightGBM (onnxmltools) forests trained here on
breast_cancer scan with SPSA and NES, beat noise beyond the intervals, and claim no fidelity."""

from __future__ import annotations

import lightgbm
import numpy as np
import onnxmltools
import pytest
import xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

EPS = [0.05, 0.1]


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    """breast_cancer scaled to [0, 1] by the training split's range (ε is then a share of it)."""
    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.target))
    test, train = order[:150], order[150:]
    lo, hi = data.data[train].min(0), data.data[train].max(0)
    x = np.clip((data.data - lo) / (hi - lo), 0, 1).astype(np.float32)
    directory = tmp_path_factory.mktemp("trees")
    path = directory / "breast_cancer.npz"
    np.savez(path, x=x[test], y=data.target[test])
    return directory, x[train], data.target[train], path


def _export(name, x, y, path):
    if name == "random_forest":
        model = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0).fit(x, y)
    elif name == "gradient_boosting":
        model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(x, y)
    if name in ("random_forest", "gradient_boosting"):
        onx = to_onnx(
            model, x[:1], options={id(model): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )  # fmt: skip
    elif name == "xgboost":
        model = xgboost.XGBClassifier(n_estimators=50, max_depth=3, random_state=0).fit(x, y)
        types = [("x", FloatTensorType([None, x.shape[1]]))]
        onx = onnxmltools.convert_xgboost(model, initial_types=types, target_opset=15)
    else:
        model = lightgbm.LGBMClassifier(n_estimators=50, num_leaves=8, random_state=0, verbose=-1)
        model.fit(x, y)
        types = [("x", FloatTensorType([None, x.shape[1]]))]
        onx = onnxmltools.convert_lightgbm(
            model, initial_types=types, target_opset=15, zipmap=False
        )
    path.write_bytes(onx.SerializeToString())
    return model


@pytest.mark.parametrize("name", ["random_forest", "gradient_boosting", "xgboost", "lightgbm"])
def test_tree_ensembles_scan_gradient_free_and_beat_noise(tabular, name):
    directory, x, y, data = tabular
    path = directory / f"{name}.onnx"
    model = _export(name, x, y, path)
    attacks = ["spsa:queries=200", "nes:queries=200"]
    report = run(ScanConfig(model=path, data=data, eps=EPS, attacks=attacks))
    # The deployed runtime is what is judged: clean accuracy matches the library's own.
    arrays = np.load(data)
    expected = int((model.predict(arrays["x"]) == arrays["y"]).sum())
    assert abs(report.results[0].clean_correct - expected) <= 1
    assert report.fidelity.paths == "none" and report.fidelity.trusted
    assert any("TreeEnsemble" in w and "fidelity is not claimed" in w for w in report.warnings)
    methods = {m.attack: m.method for m in report.methods or []}
    assert methods == {"spsa": "estimated-gradient", "nes": "estimated-gradient", "noise": "random"}
    by_key = {(r.attack, r.eps): r for r in report.results}
    for eps in EPS:
        noise = by_key[("noise", eps)].adversarial_error_rate_interval
        for attack in ("spsa", "nes"):
            interval = by_key[(attack, eps)].adversarial_error_rate_interval
            assert interval is not None and noise is not None
            assert interval.lo > noise.hi, (attack, eps, interval, noise)
    assert report.validity is not None
    beats = [c for c in report.validity.checks if c.name == "beats_noise"]
    assert [c.status for c in beats] == ["ok"]


def test_probes_too_small_for_the_trees_measure_nothing_and_fail_closed(tabular, capsys):
    from robustcheck.cli import main

    directory, x, y, data = tabular
    path = directory / "small_probes.onnx"
    _export("random_forest", x, y, path)
    code = main(
        ["scan", str(path), "--data", str(data), "--eps", "0.0001",
         "--attack", "spsa:queries=20,probe_scale=0.01"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "no probe changed the scores" in err and "probe_scale" in err


@pytest.mark.parametrize("name", ["random_forest", "gradient_boosting", "xgboost", "lightgbm"])
def test_tree_ensembles_fall_to_transfer_attacks_from_a_fitted_surrogate(tabular, name, capsys):
    """The other way in: `surrogate fit` distils the forest from its own predictions on the
    training split, and FGSM crafted on that surrogate, scored by onnxruntime, beats noise."""
    from robustcheck.cli import main

    directory, x, y, data = tabular
    path = directory / f"transfer_{name}.onnx"
    _export(name, x, y, path)
    train = directory / f"train_{name}.npz"
    np.savez(train, x=x, y=y)
    surrogate = directory / f"surrogate_{name}.pt"
    fitted = main(["surrogate", "fit", str(path), "--data", str(train), "--out", str(surrogate)])
    assert fitted == 0, capsys.readouterr().err
    report = run(ScanConfig(model=path, data=data, eps=EPS, surrogate=surrogate))
    assert report.model.surrogate is not None and report.model.surrogate.path == str(surrogate)
    assert report.fidelity.paths == "surrogate-vs-target"
    methods = {m.attack: m.method for m in report.methods or []}
    assert methods["fgsm"] == "surrogate-gradient"
    by_key = {(r.attack, r.eps): r for r in report.results}
    for eps in EPS:
        noise = by_key[("noise", eps)].adversarial_error_rate_interval
        transfer = by_key[("fgsm", eps)].adversarial_error_rate_interval
        assert transfer is not None and noise is not None
        assert transfer.lo > noise.hi, (eps, transfer, noise)
