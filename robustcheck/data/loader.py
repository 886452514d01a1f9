"""Choosing a data loader by file type (or ``--data-format``) and checking the options fit it."""

from __future__ import annotations

import stat
from pathlib import Path

from robustcheck.boundary import foreign_errors
from robustcheck.data import limits
from robustcheck.data.base import Dataset
from robustcheck.data.builtin import builtin_registry
from robustcheck.data.options import DEFAULT_X_KEY, FLAGS, ClassOrder, Layout, LoadOptions
from robustcheck.data.registry import LoaderRegistry, LoaderSpec
from robustcheck.errors import DataError, UsageError
from robustcheck.vocabulary import LAYOUTS


def load_dataset(
    path: Path,
    *,
    data_format: str | None = None,
    x_key: str | None = None,
    y_key: str | None = None,
    label_column: str | None = None,
    feature_columns: list[str] | None = None,
    labels_file: Path | None = None,
    image_size: tuple[int, int] | None = None,
    layout: Layout = "NCHW",
    class_order: ClassOrder | None = None,
    tokenizer: Path | None = None,
    text_column: str | None = None,
    registry: LoaderRegistry | None = None,
    input_name: str | None = None,
) -> Dataset:
    """Read the labelled samples at ``path`` with the loader its type (or ``data_format``) names.

    Options that the chosen loader does not use are refused rather than ignored. ``input_name``:
    the attacked model input's name, whose array an ``.npz`` is read from when ``x_key`` is None.
    """
    options = LoadOptions(
        x_key=DEFAULT_X_KEY if x_key is None else x_key,
        x_key_given=x_key is not None,
        input_name=input_name,
        y_key=y_key,
        label_column=label_column,
        feature_columns=None if feature_columns is None else tuple(feature_columns),
        labels_file=labels_file,
        image_size=None if image_size is None else (int(image_size[0]), int(image_size[1])),
        layout=layout,
        class_order=class_order,
        tokenizer=tokenizer,
        text_column=text_column,
    )
    _check_values(options)
    registry = registry or builtin_registry()
    is_dir = _check_path(path)
    spec = registry.get(data_format) if data_format else registry.for_path(path, is_dir=is_dir)
    if spec.directory != is_dir:
        kind = "a directory" if spec.directory else "a file"
        raise DataError(f"{path}: the {spec.name} format reads {kind}")
    _check_applicable(spec, options)
    with foreign_errors(None, path):
        return spec.load(path, options)


def _check_path(path: Path) -> bool:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file or folder") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the data ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        return True
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is not a regular file")
    return False


def _check_values(options: LoadOptions) -> None:
    if options.layout not in LAYOUTS:
        raise UsageError(f"--layout: {options.layout!r} is not NCHW or NHWC")
    if options.class_order not in (None, "sorted", "file"):
        raise UsageError(f"--class-order: {options.class_order!r} is not 'sorted' or 'file'")
    if options.image_size is not None and not all(
        0 < side <= limits.MAX_IMAGE_SIZE for side in options.image_size
    ):
        raise UsageError(
            f"--image-size: {options.image_size[0]} {options.image_size[1]} is not within "
            f"1..{limits.MAX_IMAGE_SIZE}"
        )
    if options.feature_columns is not None and not options.feature_columns:
        raise UsageError("--feature-column: the list of feature columns is empty")


def _check_applicable(spec: LoaderSpec, options: LoadOptions) -> None:
    unused = [name for name in options.changed() if name not in spec.options]
    if unused:
        flags = ", ".join(FLAGS.get(name, name) for name in unused)
        raise UsageError(f"{flags}: not used by the {spec.name} data format")
