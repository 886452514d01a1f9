"""The settings of each command, declared once (:mod:`robustcheck.settings._field`): the CLI, the
project configuration, ``config show``, the generated docs and the Python API derive from them.
Nothing heavy is imported here."""

from robustcheck.settings._field import Flag, flag_of, flags, setting
from robustcheck.settings.contract import ContractSettings
from robustcheck.settings.harden import HardenSettings
from robustcheck.settings.scan import ScanSettings

__all__ = [
    "ContractSettings",
    "Flag",
    "HardenSettings",
    "ScanSettings",
    "flag_of",
    "flags",
    "setting",
]
