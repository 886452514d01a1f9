"""The ONNX zoo fixture: architectures trained briefly on digits, exported on demand."""

from __future__ import annotations

import pytest
from _onnx_zoo import Zoo


@pytest.fixture(scope="session")
def onnx_zoo(tmp_path_factory, digits) -> Zoo:
    return Zoo(tmp_path_factory.mktemp("onnx_zoo"), digits)
