"""Exact shards: merged parts give the unsharded report, and the merge refuses what does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.execution.shards import Shard, merge_parts, run_shard

# Every built-in attack (the noise baseline runs by default) and the minimal-ε search.
ATTACKS = ["fgsm", "bim:steps=3", "pgd:steps=3,restarts=2"]
_TIMINGS = {"started_at", "duration_s", "shards"}


def _comparable(report) -> dict:
    data = json.loads(report.model_dump_json())
    return {k: v for k, v in data.items() if k not in _TIMINGS}


def test_shards_are_contiguous_balanced_and_cover_every_batch_once():
    for n, size, count in [(719, 100, 3), (5, 1, 7), (2, 4, 3), (9, 1, 4), (1, 1, 1)]:
        parts = [Shard(i, count).starts(n, size) for i in range(1, count + 1)]
        flat = sorted(s for p in parts for s in p)
        assert flat == list(range(0, n, size))
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert Shard.parse("2/5") == Shard(2, 5)
    for bad in ["0/3", "4/3", "1", "a/b", "1/0"]:
        with pytest.raises(ValueError):
            Shard.parse(bad)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    limit=st.integers(min_value=1, max_value=40),
    batch_size=st.integers(min_value=1, max_value=16),
    count=st.integers(min_value=1, max_value=7),
)
@example(limit=5, batch_size=1, count=7)  # shards of one sample, then two empty ones
@example(limit=13, batch_size=4, count=3)  # a last batch of one sample
def test_merged_shards_equal_the_unsharded_scan(cnn_model, digits_npz, limit, batch_size, count):
    config = ScanConfig(
        model=cnn_model.torchscript,
        data=digits_npz,
        eps=[0.05, 0.2],
        attacks=ATTACKS,
        find_min_eps=True,
        limit=limit,
        batch_size=batch_size,
        seed=3,
        allow_low_accuracy=True,
        isolate=False,
    )
    whole = run(config)
    parts = [run_shard(config, Shard(i, count)) for i in range(1, count + 1)]
    merged = merge_parts([(f"p{p.shard}", p) for p in reversed(parts)])
    assert _comparable(merged) == _comparable(whole)
    assert merged.shards is not None and merged.shards.count == count
    assert sum(e.samples for e in merged.shards.parts) == whole.data.n_samples


def test_per_class_sampling_and_examples_survive_sharding(cnn_model, digits_npz):
    config = ScanConfig(
        model=cnn_model.pt2,
        data=digits_npz,
        eps=[0.1, 0.3],
        per_class=9,
        batch_size=13,
        isolate=False,
    )
    whole = run(config)
    assert whole.examples  # the example table is part of what must be equal
    parts = [run_shard(config, Shard(i, 4)) for i in (3, 1, 4, 2)]
    merged = merge_parts([(str(p.shard), p) for p in parts])
    assert _comparable(merged) == _comparable(whole)


def _cli_scan(model, data, out, *extra):
    return main(
        ["scan", str(model), "--data", str(data), "--eps", "0.1", "--eps", "0.2",
         "--batch-size", "100", "--json", str(out), *extra]
    )  # fmt: skip


@pytest.fixture(scope="module")
def cli_parts(cnn_model, digits_npz, tmp_path_factory):
    """The full digits scan, unsharded and as 3 CLI shards (isolated, as in CI)."""
    d = tmp_path_factory.mktemp("shards")
    # the default policy fails the CNN at ε 0.2: the merge must give the same verdict and code
    (d / "whole.code").write_text(
        str(_cli_scan(cnn_model.torchscript, digits_npz, d / "whole.json"))
    )
    for i in (1, 2, 3):
        assert (
            _cli_scan(cnn_model.torchscript, digits_npz, d / f"p{i}.json", "--shard", f"{i}/3") == 0
        )
    return d


def test_cli_merge_writes_every_format_equal_to_the_unsharded_report(capsys, cli_parts):
    d = cli_parts
    code = main(
        ["report", "merge", *(str(d / f"p{i}.json") for i in (2, 3, 1)), "-o", str(d / "m.json"),
         "--junit", str(d / "m.xml"), "--markdown", str(d / "m.md"), "--html", str(d / "m.html")]
    )  # fmt: skip
    assert code == int((d / "whole.code").read_text()), capsys.readouterr().err
    whole = json.loads((d / "whole.json").read_text())
    assert whole["complete"] and code == whole["exit_code"]
    merged = json.loads((d / "m.json").read_text())
    assert merged["shards"]["count"] == 3 and "shards" not in whole
    assert {k: v for k, v in merged.items() if k not in _TIMINGS} == {
        k: v for k, v in whole.items() if k not in _TIMINGS
    }
    assert all((d / f"m.{ext}").stat().st_size for ext in ("xml", "md", "html"))


def _merge(capsys, *paths):
    code = main(["report", "merge", *map(str, paths), "-o", str(paths[0].parent / "out.json")])
    err = capsys.readouterr().err.strip()
    return code, err


def test_merge_refuses_a_missing_or_repeated_shard(capsys, cli_parts):
    d = cli_parts
    code, err = _merge(capsys, d / "p1.json", d / "p3.json")
    assert code == 3 and "shard 2/3 is missing" in err and len(err.splitlines()) == 1
    code, err = _merge(capsys, d / "p1.json", d / "p2.json", d / "p2.json", d / "p3.json")
    assert code == 3 and "given twice" in err and len(err.splitlines()) == 1
    assert not (d / "out.json").exists()


def test_merge_refuses_a_tampered_count(capsys, cli_parts, tmp_path):
    raw = json.loads((cli_parts / "p2.json").read_text())
    raw["tally"]["counts"]["fgsm@0.1"]["adversarial_errors"] -= 5
    tampered = tmp_path / "p2.json"
    tampered.write_text(json.dumps(raw))
    code, err = _merge(capsys, cli_parts / "p1.json", tampered, cli_parts / "p3.json")
    assert code == 3 and "do not match its digest" in err and len(err.splitlines()) == 1


def test_merge_refuses_parts_of_different_models_data_or_settings(
    capsys, cli_parts, linear_model, cnn_model, digits, digits_npz, tmp_path
):
    other = tmp_path / "other.npz"
    np.savez(other, x=digits.x_test[::-1].copy(), y=digits.y_test[::-1].copy())
    cases = {
        "model": (linear_model.torchscript, digits_npz, []),
        "data": (cnn_model.torchscript, other, []),
        "settings": (cnn_model.torchscript, digits_npz, ["--seed", "9"]),
    }
    for what, (model, data, extra) in cases.items():
        out = tmp_path / f"{what}.json"
        assert _cli_scan(model, data, out, "--shard", "2/3", "--no-isolation", *extra) == 0
        code, err = _merge(capsys, cli_parts / "p1.json", out, cli_parts / "p3.json")
        assert code == 3 and f"the {what} differ" in err, err
        assert len(err.splitlines()) == 1


def test_shard_flags_are_checked(capsys, cnn_model, digits_npz, tmp_path):
    base = ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1"]
    assert main([*base, "--shard", "1/2", "--json", str(tmp_path / "a.json"),
                 "--junit", str(tmp_path / "a.xml")]) == 2  # fmt: skip
    assert "partial result to --json" in capsys.readouterr().err
    assert main([*base, "--shard", "3/2", "--json", str(tmp_path / "a.json")]) == 2
    assert "--shard: expected I/N" in capsys.readouterr().err
    assert main([*base, "--shards", "2", "--json", str(tmp_path / "a.json")]) == 2
    assert "--shards needs --executor ray" in capsys.readouterr().err
    ray_with_checkpoint = ["--executor", "ray", "--checkpoint", str(tmp_path / "c")]
    assert main([*base, *ray_with_checkpoint]) == 2
    assert "cannot take Ray's shards" in capsys.readouterr().err


def test_a_report_or_stub_is_not_a_partial(capsys, cli_parts):
    code, err = _merge(capsys, cli_parts / "whole.json", cli_parts / "p2.json")
    assert code == 3 and "not a robustcheck partial result" in err
