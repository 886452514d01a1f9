"""A Hugging Face ``tokenizer.json`` (the ``tokenizers`` library, extra ``text``): read it, and
name its special tokens and vocabulary. Used by the text loader (which tokenizes) and the tokens
loader (which only decodes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robustcheck.data import limits
from robustcheck.errors import DataError, RuntimeEnvironmentError
from robustcheck.files import decode_text, read_capped


def read_tokenizer(path: Path) -> Any:
    try:  # an optional dependency (extra `text`): imported only when a tokenizer is given
        from tokenizers import Tokenizer
    except ImportError:
        raise RuntimeEnvironmentError(
            "--tokenizer: the 'tokenizers' package is not installed (pip install 'robustcheck-gate[text]')"
        ) from None
    raw = read_capped(path, limits.MAX_TEXT_FILE_BYTES, "tokenizer")
    try:
        return Tokenizer.from_str(decode_text(path, raw))
    except Exception as exc:  # the Rust library raises plain Exception subclasses
        raise DataError(f"{path}: not a readable tokenizer.json ({str(exc)[:200]})") from None


def special_ids(tokenizer: Any) -> np.ndarray:
    decoder = tokenizer.get_added_tokens_decoder()
    return np.array(sorted(i for i, token in decoder.items() if token.special), dtype=np.int64)


def vocabulary(tokenizer: Any) -> tuple[str, ...]:
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    by_id = [""] * size
    for token, index in tokenizer.get_vocab(with_added_tokens=True).items():
        if 0 <= index < size:
            by_id[index] = token
    return tuple(by_id)
