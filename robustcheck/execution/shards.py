"""Exact shards: a scan split by whole batches, and the merge that gives the unsharded report.

Shard ``I/N`` scans a contiguous run of the scan's batches (the same batch boundaries as the
unsharded scan, so per-batch random streams, seeded by the batch start, are the same). Its
partial result holds the additive tally, the fingerprint of everything that determines the
numbers, the batches it covered and what the report needs besides the tally. The merge refuses
parts of different scans, a shard given twice or missing, and a part whose contents do not match
its digest, then builds the report once, with the policy judged on the merged counts.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from robustcheck.engine.attack_plan import build_attacks, noise_eps
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.context import ScanContext
from robustcheck.engine.judge import build_report
from robustcheck.engine.loop import Progress
from robustcheck.engine.runner import measure
from robustcheck.engine.state import tally_from_state, tally_state
from robustcheck.engine.tally import Plan, Tally, merge
from robustcheck.errors import InputError
from robustcheck.execution.local import checkpoint_records
from robustcheck.reports.model import Report, ShardEntry, ShardsSection
from robustcheck.settings import ScanSettings, flags

FORMAT = "robustcheck-partial/1"
_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")
_NOT_MERGED = {name for name, flag in flags(ScanSettings).items() if flag.local}
"""Settings that may differ between parts: paths (as mounted on each machine) and limits."""


@dataclass(frozen=True)
class Shard:
    index: int
    """1-based."""
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.fullmatch(text.strip())
        if match is None or int(match[1]) > int(match[2]):
            raise ValueError(f"expected I/N with 1 ≤ I ≤ N, got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def starts(self, n_samples: int, batch_size: int) -> frozenset[int]:
        """This shard's batch starts: contiguous, balanced, and any empty shards at the tail."""
        n_batches = -(-n_samples // batch_size)
        q, r = divmod(n_batches, self.count)
        i = self.index - 1
        first = i * q + min(i, r)
        return frozenset(b * batch_size for b in range(first, first + q + (i < r)))


class Partial(BaseModel):
    """One shard's result: not a report (no verdict), only what the merge needs."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["robustcheck-partial/1"] = "robustcheck-partial/1"
    shard: int
    shards: int
    fingerprint: str
    n_samples: int
    batch_size: int
    batches: list[int]
    """The batch starts this shard scanned."""
    samples: int
    config: dict[str, Any]
    context: ScanContext
    tally: dict[str, Any] | None
    """``robustcheck.engine.state`` of the shard's tally; null for a shard with no batch."""
    started_at: str
    duration_s: float
    digest: str = ""
    """SHA-256 of the canonical JSON of every other field: a changed count without a matching
    digest is refused (a check against edits and corruption, not a signature)."""

    def expected_digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"digest"})
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def sealed(self) -> Partial:
        return self.model_copy(update={"digest": self.expected_digest()})


def run_shard(config: ScanConfig, shard: Shard, *, progress: Progress | None = None) -> Partial:
    """Scan one shard (in this process): load model and data, scan its batches, seal the result."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    measured = measure(
        config,
        only=lambda n: shard.starts(n, config.batch_size),
        progress=progress,
        records=checkpoint_records(config),
    )
    n = measured.context.data.n_samples
    return Partial(
        shard=shard.index,
        shards=shard.count,
        fingerprint=measured.fingerprint,
        n_samples=n,
        batch_size=config.batch_size,
        batches=measured.starts,
        samples=sum(min(config.batch_size, n - s) for s in measured.starts),
        config=config.model_dump(mode="json"),
        context=measured.context,
        tally=None if measured.tally is None else tally_state(measured.tally),
        started_at=started_at,
        duration_s=round(time.perf_counter() - t0, 3),
    ).sealed()


def read_partial(path: Path) -> Partial:
    """A partial result file, or :class:`InputError` with one line saying what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the partial result: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(
            f"{path}: not a robustcheck partial result (write one with scan --shard I/N --json)"
        )
    try:
        return Partial.model_validate(raw)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise InputError(f"{path}: not a valid partial result ({where})") from None


def merge_parts(
    parts: list[tuple[str, Partial]], *, executor: Literal["merge", "ray"] = "merge"
) -> Report:
    """Check that ``parts`` (name, partial) are every shard of one scan once, then build its report."""
    if not parts:
        raise InputError("no partial results to merge")
    _check_sealed(parts)
    _check_same_scan(parts)
    ordered = _check_coverage(parts)
    config = ScanConfig.model_validate(ordered[0].config)
    tally = _merged_tally(config, ordered)
    report = build_report(
        config,
        ordered[0].context,
        tally,
        started_at=min(p.started_at for p in ordered),
        duration_s=round(sum(p.duration_s for p in ordered), 3),
    )
    entries = [
        ShardEntry(
            index=p.shard,
            samples=p.samples,
            batches=len(p.batches),
            digest=p.digest,
            duration_s=p.duration_s,
        )
        for p in ordered
    ]
    return report.model_copy(
        update={"shards": ShardsSection(count=len(ordered), executor=executor, parts=entries)}
    )


def _check_sealed(parts: list[tuple[str, Partial]]) -> None:
    for name, part in parts:
        if part.digest != part.expected_digest():
            raise InputError(
                f"{name}: its contents do not match its digest (edited or corrupted); "
                "refusing to merge it"
            )


def _check_same_scan(parts: list[tuple[str, Partial]]) -> None:
    first_name, first = parts[0]
    for name, part in parts[1:]:
        a, b = first.context, part.context
        differs = (
            "model" if a.model["sha256"] != b.model["sha256"]
            else "data" if a.data.sha256 != b.data.sha256
            else "sample selection" if a.data.manifest_sha256 != b.data.manifest_sha256
            else "shard count" if part.shards != first.shards
            else "settings" if part.fingerprint != first.fingerprint or _merged_settings(part)
            != _merged_settings(first)
            else None
        )  # fmt: skip
        if differs is not None:
            raise InputError(
                f"{name}: not a part of the same scan as {first_name} (the {differs} differ)"
            )


def _merged_settings(part: Partial) -> dict[str, Any]:
    return {k: v for k, v in part.config.items() if k not in _NOT_MERGED}


def _check_coverage(parts: list[tuple[str, Partial]]) -> list[Partial]:
    """Every shard once, and together every batch of the scan once."""
    by_index: dict[int, str] = {}
    for name, part in parts:
        if part.shard in by_index:
            raise InputError(
                f"{name}: shard {part.shard}/{part.shards} is given twice "
                f"(also {by_index[part.shard]})"
            )
        by_index[part.shard] = name
    count = parts[0][1].shards
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        shown = ", ".join(f"{i}/{count}" for i in missing[:5])
        raise InputError(f"shard {shown} is missing: the merge needs all {count} parts")
    ordered = sorted((p for _, p in parts), key=lambda p: p.shard)
    first = ordered[0]
    expected = list(range(0, first.n_samples, first.batch_size))
    covered = sorted(s for p in ordered for s in p.batches)
    if covered != expected:
        gaps = sorted(set(expected) - set(covered))
        twice = sorted({s for s in covered if covered.count(s) > 1})
        raise InputError(
            "the parts do not cover every sample once "
            f"(batches missing from sample {gaps[:3]}, twice from sample {twice[:3]})"
        )
    return ordered


def _merged_tally(config: ScanConfig, ordered: list[Partial]) -> Tally:
    attacks, _ = build_attacks(config)
    plan = Plan(
        config.eps, attacks, None, None, config.batch_size, (), config.declared_output_kind,
        noise_eps=noise_eps(config),
    )  # fmt: skip
    total: Tally | None = None
    for part in ordered:
        if part.tally is None:
            continue
        try:
            tally = tally_from_state(part.tally, plan)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"shard {part.shard}/{part.shards}: unreadable tally ({exc})"
            ) from None
        if total is not None and (tally.kind, tally.n_classes) != (total.kind, total.n_classes):
            raise InputError(
                f"shard {part.shard}/{part.shards}: a different output kind or classes"
            )
        total = tally if total is None else merge(total, tally)
    if total is None:
        raise InputError("the parts hold no batch")
    return total
