"""robustcheck: gate CI on adversarial robustness (FGSM) of ONNX and PyTorch classifiers."""

from robustcheck._version import __version__
from robustcheck.errors import RobustcheckError
from robustcheck.exit_codes import ExitCode

__all__ = ["ExitCode", "RobustcheckError", "__version__"]
