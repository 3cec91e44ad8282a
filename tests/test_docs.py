"""The documentation's generated config reference (docs/hooks/config_reference.py) covers every field of the sweep
config and of every method's section, and refuses a field without a description; `mkdocs build --strict` in CI
builds the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("mkdocs")
from mkdocs.exceptions import PluginError  # noqa: E402

from pareto_align.config import SweepConfig  # noqa: E402
from pareto_align.methods import METHODS, MethodSection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = SimpleNamespace(file=SimpleNamespace(src_path="page.md"))


def _hook():
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "docs" / "hooks" / "config_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_has_a_row_for_every_field():
    hook = _hook()
    page = (ROOT / "docs" / "config-reference.md").read_text()
    text = hook.on_page_markdown(page, PAGE, None, None)
    assert "<!-- config-reference:" not in text
    for name in SweepConfig.model_fields:
        assert name == "method" or f"| `{name}` |" in text
    for name, module in METHODS.items():
        assert f"### {name}\n" in text
        for field in module.INFO.config.model_fields:
            assert f"| `{field}` |" in text
    assert "`evaluation.generation`" in text and "`data.synthetic.model`" in text  # nested sections too


def test_a_field_without_a_description_stops_the_build():
    class Config(MethodSection):
        name: Literal["undocumented"] = "undocumented"
        documented: int = Field(1, description="Has one.")
        n: int = Field(16, ge=1)

    class Outer(BaseModel):
        inner: Config = Field(default_factory=Config, description="A nested section.")

    hook = _hook()
    with pytest.raises(PluginError, match=r"config field `inner.n` .* has no description"):
        hook._tables(Outer, "", PAGE)
