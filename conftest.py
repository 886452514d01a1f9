"""pytest collects README.md and docs/*.md through sybil: every shell and Python block runs, or
says in the markdown why it cannot (tests/_docrun; the convention is in the README)."""

from __future__ import annotations

import os

import pytest
from _docrun.markdown import DOCS, WORKSPACES
from _docrun.workspace import Workspaces
from sybil.integration.pytest import SybilItem

pytest_collect_file = DOCS.pytest()

# Tests never download: a Hugging Face name that is not a local folder fails at once, without
# the hub client's retries (docs/text.md loads "my-model" from the workspace).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", name=WORKSPACES)
def docs_workspaces(tmp_path_factory: pytest.TempPathFactory) -> Workspaces:
    return Workspaces(tmp_path_factory.mktemp("docs"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A document's blocks share a namespace and a folder: one worker runs them, in order.
    for item in items:
        if isinstance(item, SybilItem):
            item.add_marker(pytest.mark.xdist_group(item.path.name))
