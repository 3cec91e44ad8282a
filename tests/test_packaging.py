"""Packaging metadata a packager accepts: SPDX license and its file, one version, direct imports declared."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import pareto_align

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_an_spdx_string_with_its_file():
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_version_comes_from_the_installed_metadata():
    # pyproject.toml is the one place; the installed metadata (editable install) carries it to __version__
    assert pareto_align.__version__ == _project()["version"]
    assert not re.search(r"__version__\s*=\s*['\"]\d+\.", (ROOT / "pareto_align" / "__init__.py").read_text())


def test_direct_imports_are_declared():
    project = _project()
    names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert "pyarrow" in names  # pareto_align/data/loading.py imports it
    dev = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in project["optional-dependencies"]["dev"]}
    assert "scipy" in dev  # tests compare against scipy.stats
