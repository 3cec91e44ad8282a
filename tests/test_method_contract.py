"""Every registered method keeps the contract of `pareto_align/methods` (docs/contracts.md, contract: methods): its
facts on its module (`INFO`), its section in the `method:` union, its hooks registered where the sweep reads them,
its default config and its documentation page; and the readers (styles, BibTeX) take the facts from there."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from pareto_align.export.bibtex import bibtex_entries
from pareto_align.export.style import PALETTE, display_name, method_color
from pareto_align.methods import METHODS, MethodConfig, MethodInfo

ROOT = Path(__file__).resolve().parents[1]
# the optional hooks, with the positional parameters the sweep passes
HOOKS = {"prepare": 1, "after_job": 2}
BIBTEX = re.compile(r"@(article|inproceedings|misc|book|incollection)\{(\w+),\n(.*)\n\}\Z", re.S)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_declares_its_facts_on_its_module(name):
    module = METHODS[name]
    info = module.INFO
    assert isinstance(info, MethodInfo) and info.name == name
    assert info.display_name.strip() == info.display_name and info.display_name
    assert info.color in PALETTE, f"{name}: colour {info.color} is not one of export.style.PALETTE"
    entry = BIBTEX.fullmatch(info.bibtex)
    assert entry, f"{name}: INFO.bibtex is not one BibTeX entry"
    assert entry.group(2) == info.citation_key
    for field in ("title", "author", "year"):
        assert re.search(rf"^\s*{field}\s*=\s*\{{.+\}},?$", entry.group(3), re.M), (
            f"{name}: BibTeX lacks {field}"
        )
    assert info.bibtex.count("{") == info.bibtex.count("}")
    assert isinstance(info.shares_work_within_seed, bool) and isinstance(info.shardable, bool)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_methods_hooks_are_registered_where_the_sweep_reads_them(name):
    module, info = METHODS[name], METHODS[name].INFO
    for hook, n_args in HOOKS.items():
        registered = getattr(info, hook)
        if registered is not None:
            assert callable(registered) and len(inspect.signature(registered).parameters) == n_args
        # a module-level function of a hook's name that INFO does not name would never be called
        own = getattr(module, hook, None)
        if callable(own) and getattr(own, "__module__", None) == module.__name__:
            assert registered is own, f"{name} defines {hook}() but its INFO does not register it"
    assert not hasattr(module, "SHARES_WORK_WITHIN_SEED"), f"{name}: say it as INFO.shares_work_within_seed"
    assert callable(module.plan) and callable(module.run)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_methods_section_is_in_the_method_union_under_its_name(name):
    config = METHODS[name].INFO.config
    assert typing.get_args(config.model_fields["name"].annotation) == (name,)
    assert config.model_fields["name"].default == name
    assert type(TypeAdapter(MethodConfig).validate_python({"name": name})) is config


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_has_its_default_config_and_its_docs_page(name):
    assert list((ROOT / "experiments").glob(f"{name}*.yaml")), (
        f"no experiments/{name}*.yaml"
    )  # modpo: modpo_*
    pages = {p.name: p.read_text() for p in (ROOT / "docs" / "methods").glob("*.md")}
    titled = [p for p, text in pages.items() if f"`method: {name}`" in text.splitlines()[0]]
    assert titled, f"no page under docs/methods/ has `method: {name}` in its title"


def test_the_facts_that_tell_methods_apart_are_distinct():
    infos = [module.INFO for module in METHODS.values()]
    for fact in ("display_name", "color"):
        values = [getattr(info, fact) for info in infos]
        assert len(set(values)) == len(values), f"two methods share a {fact}"
    by_key: dict[str, str] = {}
    for info in infos:  # one key, one entry: methods of one paper share the entry itself
        assert by_key.setdefault(info.citation_key, info.bibtex) == info.bibtex


@pytest.mark.parametrize("name", sorted(METHODS))
def test_the_figures_tables_and_bibliography_read_the_facts(name):
    info = METHODS[name].INFO
    assert display_name(name) == info.display_name
    assert method_color(name) == info.color
    text, unknown = bibtex_entries([name])
    assert unknown == [] and text.startswith(info.bibtex)
