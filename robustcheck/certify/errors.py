"""Why a model cannot be certified."""

from __future__ import annotations

from robustcheck.errors import UnsupportedModelError


class CertificationUnsupportedError(UnsupportedModelError):
    """Nodes of the model have no sound bound rule; every one is listed on ``blockers``."""

    def __init__(self, blockers: list[str], source: str = "the model") -> None:
        noun = "node blocks" if len(blockers) == 1 else "nodes block"
        super().__init__(
            f"{source}: {len(blockers)} {noun} certification: " + "; ".join(blockers),
            hint="certification supports feed-forward classifiers built from the ops "
            "robustcheck.certify.ops.BUILT_IN lists",
        )
        self.blockers = blockers
