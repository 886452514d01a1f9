"""Harnessing adversarial examples: fine-tune a model with the paper's adversarial objective."""

from robustcheck.harden.config import HardenConfig
from robustcheck.harden.report import HardenReport
from robustcheck.harden.run import harden

__all__ = ["HardenConfig", "HardenReport", "harden"]
