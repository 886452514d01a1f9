"""A setting is declared once, in its settings model, and every surface derives from it: adding
a field finds it in --help, the configuration file, ``config show``, the generated CLI reference
and the Python settings object, with its type, default, validation and help text."""

from __future__ import annotations

from typing import Annotated, Any

import click
import pytest
from click.testing import CliRunner

from robustcheck.cli._docs import sections
from robustcheck.cli._options import flag_errors
from robustcheck.cli._project import effective
from robustcheck.cli._settings import settings_options
from robustcheck.cli.config_cmd import effective_rows
from robustcheck.settings import Flag, HardenSettings, ScanSettings, flags, setting


class WithKnob(ScanSettings):
    knob_level: Annotated[int, Flag(show_default=True)] = setting(
        7, "How far to turn the knob, added for this test.", ge=1, le=9
    )


@click.command("scan")
@settings_options(WithKnob)
@click.option("--config", "config", type=click.Path())
@click.option("--no-config", is_flag=True)
@click.pass_context
def knob_scan(ctx: click.Context, **_: Any) -> None:
    values = effective(ctx, WithKnob).values
    with flag_errors(WithKnob):
        click.echo(f"knob={WithKnob.model_validate(values).knob_level}")


def test_a_new_field_is_a_flag_with_its_type_default_range_and_help():
    result = CliRunner().invoke(knob_scan, ["--help"])
    assert "--knob-level INTEGER RANGE" in result.output
    assert "How far to turn the knob" in " ".join(result.output.split())
    assert "[default: 7; 1<=x<=9]" in result.output
    ran = CliRunner().invoke(knob_scan, ["--knob-level", "3", "--no-config"])
    assert ran.exit_code == 0 and "knob=3" in ran.output
    refused = CliRunner().invoke(knob_scan, ["--knob-level", "12", "--no-config"])
    assert refused.exit_code == 2 and "--knob-level" in refused.output


def test_a_new_field_is_a_configuration_key_checked_like_its_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "robustcheck.yaml").write_text("knob-level: 4\n")
    ran = CliRunner().invoke(knob_scan, [])
    assert ran.exit_code == 0 and "knob=4" in ran.output
    (tmp_path / "robustcheck.yaml").write_text("knob-level: 1.5\n")
    refused = CliRunner().invoke(knob_scan, [])
    assert refused.exit_code != 0 and "robustcheck.yaml:1: knob-level" in str(refused.exception)


def test_config_show_and_the_cli_reference_list_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "robustcheck.yaml").write_text("knob-level: 5\n")
    config, rows = effective_rows(knob_scan, WithKnob, [])
    assert config is not None and ("knob-level", 5, "robustcheck.yaml:1") in rows
    reference = "\n".join(sections(knob_scan, ["robustcheck", "scan"]))
    assert "--knob-level INTEGER RANGE" in reference


def test_the_python_settings_object_takes_and_checks_it():
    assert WithKnob(knob_level=2).knob_level == 2
    with pytest.raises(ValueError, match="less than or equal to 9"):
        WithKnob(knob_level=10)
    assert flags(WithKnob)["knob_level"].key("knob_level") == "knob-level"


def test_scan_and_harden_share_the_input_contract_declarations():
    """The contract settings are declared once and mean the same in both commands."""
    shared = set(ScanSettings.model_fields) & set(HardenSettings.model_fields)
    contract = {"input_range", "mean", "std", "layout", "model_format", "x_key", "y_key"}
    assert contract <= shared
    for name in contract:
        assert ScanSettings.model_fields[name] is not None
        assert (
            ScanSettings.model_fields[name].description
            == HardenSettings.model_fields[name].description
        )
