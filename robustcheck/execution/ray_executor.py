"""A scan's shards as Ray tasks, merged exactly as ``robustcheck report merge`` merges them.

Each task loads the model and the data from the scan's paths (which every node must be able to
read) and runs its shard in robustcheck's own isolation: a child process of the Ray worker under
the scan's timeout and memory cap. A lost worker (a killed process, a dead node) is a system
failure that Ray retries; any other failure of any shard fails the whole scan closed, with the
shard's own exit code: never a report, let alone a PASS, on part of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robustcheck.backends.threads import default_threads
from robustcheck.engine.config import ScanConfig
from robustcheck.errors import InternalError, RobustcheckError, RuntimeEnvironmentError
from robustcheck.execution.isolation import Progress, remote_error, scan_shard
from robustcheck.execution.shards import Partial, Shard, merge_parts
from robustcheck.reports.model import Report

RETRIES = 2
"""Retries of a shard whose worker was lost (Ray's ``max_retries``; application errors: none)."""
_POLL_S = 0.5

Outcome = tuple[Any, ...]
"""``("ok", partial JSON)`` or ``("error", message, hint, exit code)``."""


def shard_task(config_json: str, shard: Shard, counter: Any = None) -> Outcome:
    """One Ray task: the shard in a child process; expected errors come back as values, so Ray
    never retries them (only a lost worker is retried)."""
    config = ScanConfig.model_validate_json(config_json)

    def progress(done: int, total: int) -> None:
        if counter is not None:
            counter.report.remote(shard.index, done, total)

    try:
        partial = scan_shard(config, shard, progress=progress)
    except RobustcheckError as exc:
        return ("error", exc.message, exc.hint, int(exc.exit_code))
    return ("ok", partial.model_dump_json())


class _Counter:
    """A Ray actor: samples done per shard, for one progress bar over all of them."""

    def __init__(self) -> None:
        self.shards: dict[int, tuple[int, int]] = {}

    def report(self, shard: int, done: int, total: int) -> None:
        self.shards[shard] = (done, total)

    def totals(self) -> tuple[int, int]:
        return sum(d for d, _ in self.shards.values()), sum(t for _, t in self.shards.values())


def run_on_ray(
    config: ScanConfig,
    *,
    address: str | None = None,
    shards: int | None = None,
    progress: Progress | None = None,
    task: Callable[..., Outcome] = shard_task,
    max_retries: int = RETRIES,
) -> Report:
    """Scan ``config`` as ``shards`` Ray tasks on the cluster at ``address`` (else the Ray already
    initialised in this process, else a local one) and merge the parts into its report."""
    ray = _import_ray()
    owned = not ray.is_initialized()
    if owned:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RuntimeEnvironmentError(
                f"--ray-address {address}: cannot join Ray ({exc})"
            ) from None
    try:
        count = shards or _default_shards(ray, config)
        counter = ray.remote(_Counter).remote() if progress is not None else None
        options: dict[str, Any] = {"max_retries": max_retries, "retry_exceptions": False}
        if config.device == "cuda":
            options["num_gpus"] = 1
        remote = ray.remote(task).options(**options)
        # Decided here, not by each worker: Ray starts workers with OMP_NUM_THREADS=1, and the
        # parts of one scan must reduce as the unsharded scan would.
        fixed = config.model_copy(update={"threads": config.threads or default_threads()})
        text = fixed.model_dump_json()
        pending = {remote.remote(text, Shard(i, count), counter): i for i in range(1, count + 1)}
        parts = _collect(ray, pending, count, counter, progress, max_retries)
        return merge_parts(parts, executor="ray")
    finally:
        if owned:
            ray.shutdown()


def _collect(
    ray: Any,
    pending: dict[Any, int],
    count: int,
    counter: Any,
    progress: Progress | None,
    max_retries: int,
) -> list[tuple[str, Partial]]:
    parts: list[tuple[str, Partial]] = []
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
            if counter is not None and progress is not None:
                progress(*ray.get(counter.totals.remote()))
            for ref in ready:
                index = pending.pop(ref)
                parts.append(
                    (f"shard {index}/{count}", _outcome(ray, ref, index, count, max_retries))
                )
    finally:
        for ref in pending:  # a failed shard fails the scan: stop the others
            ray.cancel(ref, force=True)
    return parts


def _outcome(ray: Any, ref: Any, index: int, count: int, max_retries: int) -> Partial:
    where = f"shard {index}/{count}"
    try:
        outcome = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise InternalError(f"{where}: internal error in the Ray task: {exc.cause!r}") from None
    except ray.exceptions.RayError as exc:
        raise RuntimeEnvironmentError(
            f"{where}: the Ray worker was lost and the {max_retries} retries failed too "
            f"({type(exc).__name__}); no report for part of the data"
        ) from None
    if outcome[0] == "error":
        _, message, hint, code = outcome
        raise remote_error("ShardError", f"{where}: {message}", hint, code)
    return Partial.model_validate_json(outcome[1])


def _default_shards(ray: Any, config: ScanConfig) -> int:
    resources = ray.cluster_resources()
    key = "GPU" if config.device == "cuda" else "CPU"
    return max(1, int(resources.get(key, 1)))


def _import_ray() -> Any:
    try:  # an optional dependency (extra `ray`)
        import ray
    except ImportError:
        raise RuntimeEnvironmentError(
            "--executor ray needs Ray, which is not installed",
            hint="pip install 'robustcheck-gate[ray]'",
        ) from None
    return ray
