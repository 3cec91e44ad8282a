"""The import graph of the package, read from the source (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pareto_align"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source, except under ``if TYPE_CHECKING:``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                   ast.unparse(node.test) for n in ast.walk(node)}  # fmt: skip
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from pareto_align import ranks` imports the module pareto_align.ranks
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def _reaches(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in graph[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


def test_the_sweep_its_launchers_and_the_job_runner_import_one_way():
    graph = {name: _imports(name) for name in MODULES}
    assert {"pareto_align.distributed", "pareto_align.jobs"} <= graph["pareto_align.sweep"]
    for module in ("pareto_align.sweep", "pareto_align.distributed", "pareto_align.jobs"):
        assert module not in _reaches(module, graph), f"{module} imports itself through others"
    assert "pareto_align.sweep" not in _reaches("pareto_align.distributed", graph)
    assert not {"pareto_align.sweep", "pareto_align.distributed"} & _reaches("pareto_align.jobs", graph)


def test_the_graph_reader_sees_lazy_imports():
    # the circle this guards against ran through imports inside functions; the reader must see those
    assert "pareto_align.jobs" in _imports("pareto_align.distributed")
    assert "pareto_align.distributed" in _imports("pareto_align.sweep")


def test_methods_never_reach_the_workspace_or_the_config_at_run_time():
    # the circle config -> methods -> workspace -> config: a method sees the workspace and the sweep config only
    # as types (under TYPE_CHECKING); what it needs at run time (the device, model loading) lives below both
    graph = {name: _imports(name) for name in MODULES}
    above = {"pareto_align.workspace", "pareto_align.config"}
    for name in MODULES:
        if name == "pareto_align.methods" or name.startswith("pareto_align.methods."):
            assert not above & (_reaches(name, graph) | graph[name]), (
                f"{name} reaches {above & _reaches(name, graph)}"
            )
    assert "pareto_align.methods" in _reaches("pareto_align.config", graph)  # the one way the edge runs
