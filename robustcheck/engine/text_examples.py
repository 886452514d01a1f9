"""Picking the flipped texts the report shows for token-substitution attacks.

Per budget k, the first flipped text of each class in file order (at most ``MAX_EXAMPLES``
classes), kept as a table that merges the same in any batch order, like the image examples.
"""

from __future__ import annotations

import numpy as np

from robustcheck.engine.examples import MAX_EXAMPLES
from robustcheck.metrics import correct_mask
from robustcheck.reports.model import TextExample, TokenSwap
from robustcheck.text.layout import IDS, MASK

TextExamples = dict[float, dict[int, TextExample]]
"""Token budget k → true class → the first flipped text of that class."""


def _token(vocab: tuple[str, ...] | None, i: int) -> str:
    if vocab is None:
        return str(i)
    return vocab[i] if 0 <= i < len(vocab) else f"<{i}>"


def decode(vocab: tuple[str, ...] | None, ids: np.ndarray, mask: np.ndarray) -> str:
    """One text's attended tokens, space separated (ids when no vocabulary is known)."""
    return " ".join(_token(vocab, int(i)) for i, m in zip(ids, mask, strict=True) if m)


def collect_text_examples(
    examples: TextExamples,
    attack: str,
    k: float,
    indices: np.ndarray,
    tokens: np.ndarray,
    adv_tokens: np.ndarray,
    y: np.ndarray,
    clean_probs: np.ndarray,
    adv_probs: np.ndarray,
    vocab: tuple[str, ...] | None,
) -> None:
    """Add this batch's first flipped text of each class where it improves the table.
    ``tokens``/``adv_tokens``: ``[N, L, 4]`` side channels, clean and adversarial."""
    slots = examples.setdefault(k, {})
    flipped = correct_mask(clean_probs, y) & ~correct_mask(adv_probs, y)
    for i in np.flatnonzero(flipped):
        label, index = int(y[i]), int(indices[i])
        held = slots.get(label)
        if held is not None and held.index <= index:
            continue
        ids, new, mask = tokens[i, :, IDS], adv_tokens[i, :, IDS], tokens[i, :, MASK]
        swaps = [
            TokenSwap(
                position=int(p),
                original=_token(vocab, int(ids[p])),
                substitute=_token(vocab, int(new[p])),
            )
            for p in np.flatnonzero(ids != new)
        ]
        slots[label] = TextExample(
            index=index,
            label=label,
            attack=attack,
            tokens=int(k),
            clean_prediction=int(np.argmax(clean_probs[i])),
            clean_confidence=float(np.max(clean_probs[i])),
            adversarial_prediction=int(np.argmax(adv_probs[i])),
            adversarial_confidence=float(np.max(adv_probs[i])),
            original_text=decode(vocab, ids, mask),
            adversarial_text=decode(vocab, new, mask),
            swaps=swaps,
        )
    for label in sorted(slots)[MAX_EXAMPLES:]:
        del slots[label]


def merge_text_examples(a: TextExamples, b: TextExamples) -> TextExamples:
    out: TextExamples = {}
    for k in sorted(set(a) | set(b)):
        slots = dict(a.get(k, {}))
        for label, example in b.get(k, {}).items():
            if label not in slots or example.index < slots[label].index:
                slots[label] = example
        out[k] = {label: slots[label] for label in sorted(slots)[:MAX_EXAMPLES]}
    return out


def shown_text(examples: TextExamples) -> list[TextExample]:
    """Every budget's examples, by budget then class."""
    return [examples[k][label] for k in sorted(examples) for label in sorted(examples[k])]
