"""Reading an ONNX file without trusting it.

The file is parsed once with external data off. External data (weights in side files) is loaded
only with ``--allow-external-data`` and only from regular, single-link files inside the model's
directory, within a size cap and with every byte range inside its file. onnxruntime then gets the
fully loaded model as bytes, so it never opens a file robustcheck did not check.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from robustcheck.errors import ModelError, SecurityRefusal

MAX_MODEL_BYTES = 2 * 1024**3 - 1  # protobuf's hard limit
MAX_EXTERNAL_BYTES = 8 * 1024**3
_LFS_POINTER = b"version https://git-lfs"


@dataclass(frozen=True)
class ExternalRef:
    location: str
    offset: int
    length: int | None
    tensor: str = ""


def check_model_size(path: Path, size: int) -> None:
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: {size} bytes is larger than an ONNX protobuf can be (2 GiB)")


def read_onnx(path: Path, *, allow_external_data: bool = False) -> onnx.ModelProto:
    """Parse, validate and (optionally) load external data for the model at ``path``."""
    check_model_size(path, path.stat().st_size)
    with path.open("rb") as handle:
        head = handle.read(len(_LFS_POINTER))
    if head == _LFS_POINTER:
        raise ModelError(
            f"{path}: is a Git LFS pointer, not the model",
            hint="run `git lfs pull` before scanning",
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from None
    if not model.graph.node or not model.graph.output:
        raise ModelError(f"{path}: the ONNX graph is empty (no nodes or no outputs)")
    refs = external_refs(model, path)
    if refs:
        if not allow_external_data:
            names = ", ".join(sorted({r.location for r in refs})[:5])
            raise SecurityRefusal(
                f"{path}: the model loads weights from external files ({names}; "
                f"first: tensor {refs[0].tensor[:80]!r} from {refs[0].location[:200]!r})",
                hint="pass --allow-external-data to read them from the model's directory",
            )
        check_external_files(path, refs)
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(f"{path}: invalid ONNX model ({_first_line(exc)})") from None
    return model


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph stores: initializers and attribute tensors, dense and sparse (their
    values and indices), subgraphs included."""
    yield from graph.initializer
    yield from _sparse_parts(graph.sparse_initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from _sparse_parts([attr.sparse_tensor])
            yield from _sparse_parts(attr.sparse_tensors)
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _sparse_parts(tensors: Iterable[onnx.SparseTensorProto]) -> Iterator[onnx.TensorProto]:
    for sparse in tensors:
        yield sparse.values
        yield sparse.indices


def external_refs(model: onnx.ModelProto, path: Path) -> list[ExternalRef]:
    refs = []
    for tensor in _tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        offset, length = info.get("offset") or "0", info.get("length")
        if not offset.isdecimal() or not (length is None or length == "" or length.isdecimal()):
            raise ModelError(
                f"{path}: tensor {tensor.name[:80]!r} has an external-data offset or length "
                "that is not a decimal integer"
            )
        refs.append(
            ExternalRef(
                location=info.get("location", ""),
                offset=int(offset),
                length=int(length) if length else None,
                tensor=tensor.name,
            )
        )
    return refs


def check_external_files(model_path: Path, refs: list[ExternalRef]) -> None:
    """Refuse any reference that could read outside the model's own regular files."""
    root = model_path.parent.resolve()
    total = 0
    seen: set[Path] = set()
    for ref in refs:
        where = f"{model_path}: external data {ref.location!r}"
        if not ref.location or Path(ref.location).is_absolute() or "\\" in ref.location:
            raise SecurityRefusal(f"{where} is not a relative path inside the model directory")
        candidate = model_path.parent / ref.location
        resolved = candidate.resolve()
        if root not in resolved.parents:
            raise SecurityRefusal(f"{where} resolves outside the model directory")
        try:
            info = os.lstat(candidate)
        except OSError:
            raise ModelError(f"{where} does not exist") from None
        if stat.S_ISLNK(info.st_mode):
            raise SecurityRefusal(f"{where} is a symbolic link")
        if not stat.S_ISREG(info.st_mode):
            raise SecurityRefusal(f"{where} is not a regular file")
        if info.st_nlink != 1:
            raise SecurityRefusal(f"{where} has {info.st_nlink} hard links; expected 1")
        end = ref.offset + (ref.length if ref.length is not None else info.st_size - ref.offset)
        if ref.offset < 0 or end > info.st_size or end < ref.offset:
            raise ModelError(
                f"{where}: bytes {ref.offset}..{end} lie outside the file ({info.st_size} bytes)"
            )
        if resolved not in seen:
            seen.add(resolved)
            total += info.st_size
        if total > MAX_EXTERNAL_BYTES:
            raise SecurityRefusal(f"{where}: external data exceeds {MAX_EXTERNAL_BYTES} bytes")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
