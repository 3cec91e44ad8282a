"""mkdocs hook: the config reference, generated from the pydantic models, so that it can never drift from the code.

A page line of the form

    <!-- config-reference: sweep -->           every field of SweepConfig, section by section (method: see below)
    <!-- config-reference: method NAME -->     every field of the `method:` section of method NAME
    <!-- config-reference: methods -->         the same for every registered method, under a heading each

is replaced by tables of (field, type, default, description), one table per (nested) section. A field without a
description stops the build with an error naming it (an error rather than a warning: `mkdocs build --quiet` drops
warnings, strict or not). The one field described here rather than in the
model is a method section's `name` (the `method:` section's, or a nested one's such as `specialists`), the
discriminator of the union of sections.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from pathlib import Path

from mkdocs.exceptions import PluginError
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MARKER = re.compile(r"^<!-- config-reference: (sweep|methods|method (\w+)) -->$", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- config-reference:" not in markdown:
        return markdown
    from pareto_align.config import SweepConfig
    from pareto_align.methods import METHODS

    def replace(match: re.Match) -> str:
        if match.group(1) == "sweep":
            return "\n\n".join(_tables(SweepConfig, "", page, skip={"method"}))
        if match.group(1) == "methods":
            return "\n\n".join(
                f"### {name}\n\n" + "\n\n".join(_tables(module.INFO.config, "method", page))
                for name, module in METHODS.items()
            )
        name = match.group(2)
        if name not in METHODS:
            raise PluginError(f"{page.file.src_path}: config-reference names an unknown method {name!r}")
        return "\n\n".join(_tables(METHODS[name].INFO.config, "method", page))

    return MARKER.sub(replace, markdown)


def _tables(model: type[BaseModel], path: str, page, skip=frozenset()) -> list[str]:
    """The table of `model`'s fields under the YAML path `path`, then those of its nested sections."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = f"{path}.{name}" if path else name
        description = field.description
        if name == "name" and _is_method_section(model):  # the union's discriminator
            description = f"{_type(field.annotation)} selects this method."
        if not description:
            raise PluginError(f"{page.file.src_path}: config field `{key}` ({model.__module__}.{model.__qualname__}) "
                              "has no description")  # fmt: skip
        rows.append(
            f"| `{name}` | {_cell(_type(field.annotation))} | {_cell(_default(field))} | {_cell(description)} |"
        )
        nested += [(key, sub) for sub in _sections(field.annotation)]
    title = f"`{path}`" if path else "top level"
    doc = (
        (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if model.__dict__.get("__doc__")
        else ""
    )
    table = [f"**{title}**" + (f": {_cell(doc)}" if doc else ""), "", "| field | type | default | description |",
             "|---|---|---|---|", *rows]  # fmt: skip
    out = ["\n".join(table)]
    for key, sub in nested:
        out += _tables(sub, key, page)
    return out


def _is_method_section(model: type[BaseModel]) -> bool:
    from pareto_align.methods import MethodSection

    return issubclass(model, MethodSection)


def _sections(annotation) -> list[type[BaseModel]]:
    """The pydantic models a field holds (itself, in a list, or optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _sections(arg) if m not in found]
    return found


def _type(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a) for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(its defaults)"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        return f"`{json.dumps(value, default=str)}`"
    except TypeError:
        return f"`{value}`"


def _cell(text: str) -> str:
    """Text for a table cell: one line, `|` escaped, and `<...>` outside code spans shown rather than read as HTML."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))
