"""Certified robustness: sound lower bounds on margins over L∞ boxes (IBP and CROWN).

Attacks bound robust accuracy from above; a certificate bounds it from below. The engine runs
on its own graph of bound rules built from ONNX (:func:`from_onnx`) or, through an in-memory
ONNX export, from TorchScript and torch.export models (:func:`from_torch`).
"""

from robustcheck.certify.certificate import (
    RELATIVE_TOLERANCE,
    Certificate,
    Method,
    certify,
    margin_spec,
)
from robustcheck.certify.errors import CertificationUnsupportedError
from robustcheck.certify.graph import BoundGraph, BoundNode
from robustcheck.certify.onnx_import import blockers, from_onnx
from robustcheck.certify.ops import BUILT_IN, RuleRegistry, default_rules
from robustcheck.certify.torch_import import from_torch

__all__ = [
    "BUILT_IN",
    "RELATIVE_TOLERANCE",
    "BoundGraph",
    "BoundNode",
    "Certificate",
    "CertificationUnsupportedError",
    "Method",
    "RuleRegistry",
    "blockers",
    "certify",
    "default_rules",
    "from_onnx",
    "from_torch",
    "margin_spec",
]
