"""pytest collects README.md and docs/*.md through sybil: every shell and Python block runs, or
says in the markdown why it cannot (tests/_docrun; the convention is in the README)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from _docrun.markdown import DOCS, WORKSPACES
from _docrun.workspace import Workspaces
from sybil.integration.pytest import SybilItem

pytest_collect_file = DOCS.pytest()
pytest_plugins = ["pytester"]  # tests/api/test_pytest_plugin.py runs a user's project

# pytest-xdist: N workers share the cores, so each gets its share of intra-op threads
# (robustcheck's default reads OMP_NUM_THREADS, and so do the isolated children it starts).
# Oversubscribed, OpenMP threads wait on cores another worker holds: a TorchScript scan took
# 0.8 s per forward pass instead of 0.01 s.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Tests never download: a Hugging Face name that is not a local folder fails at once, without
# the hub client's retries (docs/text.md loads "my-model" from the workspace).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", name=WORKSPACES)
def docs_workspaces(tmp_path_factory: pytest.TempPathFactory) -> Workspaces:
    base = tmp_path_factory.getbasetemp()
    # The xdist workers of one run share the parent of their base folders: one build for all.
    root = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "docs-workspaces"
    root.mkdir(exist_ok=True)
    return Workspaces(root)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N``: tests spread one by one as with ``--dist load``, except that one worker runs all
    the blocks of a document, in order (they share a folder, a namespace and skip directives).

    (``--dist loadgroup`` would say this with marks, but with pytest 9 xdist 3.8 cannot rename
    the node ids it groups by, and splits the groups silently.)
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class DocumentScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".md") else nodeid

    return DocumentScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A skipped block is reported at its line in the markdown (not inside unittest)."""
    report = yield
    if isinstance(item, SybilItem) and report.skipped and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.path), item.example.line, report.longrepr[2])
    return report
