"""Labelled samples as users have them: NumPy arrays, image folders and CSV tables."""

from robustcheck.data.base import ArraySource, Batch, Dataset, SampleSource
from robustcheck.data.builtin import builtin_registry
from robustcheck.data.loader import load_dataset
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import LoaderRegistry, LoaderSpec
from robustcheck.data.sampling import select

__all__ = [
    "ArraySource",
    "Batch",
    "Dataset",
    "LoadOptions",
    "LoaderRegistry",
    "LoaderSpec",
    "SampleSource",
    "builtin_registry",
    "load_dataset",
    "select",
]
