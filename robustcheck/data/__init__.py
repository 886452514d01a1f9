"""Labelled samples as users have them."""

from robustcheck.data.base import Batch, Dataset
from robustcheck.data.loader import load_dataset

__all__ = ["Batch", "Dataset", "load_dataset"]
