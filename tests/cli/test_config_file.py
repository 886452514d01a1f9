"""Finding and reading the project configuration (robustcheck/project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustcheck.cli.config_file import MAX_CONFIG_BYTES, find_project_config
from robustcheck.errors import UsageError


def test_nothing_found_is_none(tmp_path):
    assert find_project_config(tmp_path) is None


def test_yaml_keys_are_normalised_and_located(tmp_path):
    (tmp_path / "robustcheck.yaml").write_text("# c\ninput_range: [0, 255]\nx-key: images\n")
    config = find_project_config(tmp_path)
    assert config is not None
    assert config.settings == {"input-range": [0, 255], "x-key": "images"}
    assert config.where("input-range") == "robustcheck.yaml:2"
    assert config.directory == tmp_path


def test_empty_yaml_is_an_empty_configuration(tmp_path):
    (tmp_path / "robustcheck.yaml").write_text("# nothing yet\n")
    config = find_project_config(tmp_path)
    assert config is not None and config.settings == {}


def test_pyproject_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.robustcheck]\neps = [0.1, 0.2]\n")
    config = find_project_config(tmp_path)
    assert config is not None
    assert config.settings == {"eps": [0.1, 0.2]}
    assert config.where("eps") == "pyproject.toml [tool.robustcheck]"


def test_explicit_pyproject_without_the_table_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.other]\na = 1\n")
    with pytest.raises(UsageError, match=r"has no \[tool.robustcheck\] table"):
        find_project_config(Path(), tmp_path / "pyproject.toml")


def test_a_non_table_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool]\nrobustcheck = 3\n")
    with pytest.raises(UsageError, match=r"must be a table"):
        find_project_config(tmp_path)


def test_size_cap(tmp_path):
    (tmp_path / "robustcheck.yaml").write_text("#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(UsageError, match="larger than 256 KiB"):
        find_project_config(tmp_path)


def test_not_utf8(tmp_path):
    (tmp_path / "robustcheck.yaml").write_bytes(b"data: \xff\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        find_project_config(tmp_path)


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "robustcheck.yaml").mkdir()
    with pytest.raises(UsageError, match=r"robustcheck\.yaml: not a regular file"):
        find_project_config(tmp_path)
