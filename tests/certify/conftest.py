"""The digits MLP the certification tests share."""

from __future__ import annotations

import pytest
import torch
from _certify_models import train_mlp


@pytest.fixture(scope="session")
def mlp_model(digits) -> torch.nn.Module:
    return train_mlp(digits, (32, 32))
