"""Shards as Ray tasks on a local Ray started here (2 CPUs, no dashboard, nothing external)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import ray

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import InternalError, RuntimeEnvironmentError
from robustcheck.execution.ray_executor import run_on_ray, shard_task

_TIMINGS = {"started_at", "duration_s", "shards"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _comparable(report) -> dict:
    data = json.loads(report.model_dump_json())
    return {k: v for k, v in data.items() if k not in _TIMINGS}


def _config(model, data, **extra):
    return ScanConfig(model=model, data=data, eps=[0.1, 0.2], batch_size=100, **extra)


def test_two_ray_shards_give_the_unsharded_report(local_ray, cnn_model, digits_npz):
    whole = run(_config(cnn_model.torchscript, digits_npz, isolate=False))
    seen = []
    merged = run_on_ray(
        _config(cnn_model.torchscript, digits_npz),  # each task in its own isolated child
        shards=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert _comparable(merged) == _comparable(whole)
    assert merged.shards is not None and merged.shards.executor == "ray"
    assert [p.samples for p in merged.shards.parts] == [400, 319]
    assert seen and all(done <= total <= 719 for done, total in seen)


def test_a_worker_killed_mid_task_is_retried(local_ray, cnn_model, digits_npz, tmp_path):
    marker = tmp_path / "killed"

    class _KillOnFirstBatch:
        class report:
            @staticmethod
            def remote(*_):
                os.kill(os.getpid(), signal.SIGKILL)

    def dies_once(config_json, shard, counter=None):
        if shard.index == 1 and not marker.exists():
            marker.touch()
            return shard_task(config_json, shard, _KillOnFirstBatch())
        return shard_task(config_json, shard, None)

    config = _config(cnn_model.torchscript, digits_npz)
    merged = run_on_ray(config, shards=2, task=dies_once)
    assert marker.exists()
    whole = run(config.model_copy(update={"isolate": False}))
    assert _comparable(merged) == _comparable(whole)

    marker.unlink()
    with pytest.raises(RuntimeEnvironmentError, match="worker was lost"):
        run_on_ray(config, shards=2, task=dies_once, max_retries=0)


def test_a_failing_shard_fails_the_scan_closed(local_ray, cnn_model, digits_npz, tmp_path):
    attempts = tmp_path / "attempts"

    def broken_second_shard(config_json, shard, counter=None):
        if shard.index == 2:
            with attempts.open("a") as handle:
                handle.write("x")
            raise ValueError("a bug in shard 2")
        return shard_task(config_json, shard, counter)

    config = _config(cnn_model.torchscript, digits_npz, isolate=False)
    with pytest.raises(InternalError, match="shard 2/2"):
        run_on_ray(config, shards=2, task=broken_second_shard)
    assert attempts.read_text() == "x"  # application errors are not retried


def test_cli_ray_scan_fails_closed_with_the_shards_exit_code(
    local_ray, capsys, cnn_model, digits_npz, tmp_path
):
    report = tmp_path / "r.json"
    code = main(
        ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1",
         "--executor", "ray", "--shards", "2", "--timeout", "0.001", "--json", str(report)]
    )  # fmt: skip
    assert code == 5, capsys.readouterr().err
    stub = json.loads(report.read_text())
    assert stub["complete"] is False and stub["verdict"] == "error"
