"""The export manifest (``manifest.json`` beside the outputs) and the rule that protects other people's files.

The manifest records which runs went in (file, sha256, config hash and path, their provenance), the settings
(reference point, normalization, bootstrap, attainment percentiles), library versions, the date, and every
output with its sha256, so any figure can be traced back to what made it.

Overwrite rule: a file in the output folder is overwritten only when the previous manifest lists it and its
sha256 still matches, i.e. it is an unmodified output of an earlier export. Anything else (a hand-edited
table, someone's own ``table.tex``, a manifest of another tool) is refused unless ``force`` is given.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pareto_align
from pareto_align.atomic import sha256_file
from pareto_align.export.runs import ExportError, Run

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "pareto_align.export.manifest/v1"
MANIFEST_LIBRARIES = ("numpy", "scipy", "pymoo", "moocore", "plotly", "kaleido", "choreographer", "pydantic")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _browser() -> str | None:
    """The Chrome/Chromium kaleido would use, as far as it can be told without starting it."""
    if os.environ.get("BROWSER_PATH"):
        return os.environ["BROWSER_PATH"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def previous_outputs(to: Path) -> dict[str, str]:
    """Relative path -> sha256 of the outputs listed by an earlier export's manifest in ``to`` ({} if none).

    Raises ExportError when ``manifest.json`` exists but is not an export manifest (it belongs to someone else).
    """
    path = to / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(
            f"{path}: exists but is not a readable export manifest ({e}); refusing to overwrite it"
        ) from None
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
        raise ExportError(
            f"{path}: exists and is not a pareto-align export manifest; refusing to overwrite it"
        )
    outputs = {}
    for entry in [*doc.get("outputs", []), *doc.get("earlier_outputs", [])]:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("sha256"), str)
        ):
            outputs[entry["path"]] = entry["sha256"]
    return outputs


def still_owned(to: Path, previous: dict[str, str], rewritten: Iterable[str]) -> dict[str, str]:
    """Earlier outputs not rewritten this time that are still there, unmodified: they stay ours (listed in the
    new manifest as ``earlier_outputs``), so a later export may overwrite them."""
    skip = set(rewritten)
    return {
        name: digest
        for name, digest in previous.items()
        if name not in skip and (to / name).is_file() and sha256_file(to / name) == digest
    }


def check_overwrites(to: Path, names: Iterable[str], owned: dict[str, str]) -> None:
    """Refuse (ExportError) to overwrite any planned output that is not an unmodified earlier output.

    ``owned``: relative path -> sha256 of earlier outputs (:func:`previous_outputs`).
    """
    refused = []
    for name in names:
        path = to / name
        if not path.exists():
            continue
        if not path.is_file():
            refused.append(f"{path} (not a regular file)")
        elif name not in owned:
            refused.append(f"{path} (not written by pareto-align export)")
        elif sha256_file(path) != owned[name]:
            refused.append(f"{path} (modified since it was exported)")
    if refused:
        raise ExportError(
            "refusing to overwrite "
            + "; ".join(refused)
            + ". Export to another folder, or remove those files"
        )


def run_entry(run: Run) -> dict[str, Any]:
    """What identifies one input run: its file and hash, config hash and path, and its own provenance."""
    prov = run.front.provenance
    return {
        "name": run.name,
        "front_file": str(run.path.resolve()) if run.path else None,
        "front_sha256": sha256_file(run.path) if run.path else None,
        "config_hash": prov.get("config_hash"),
        "config_path": prov.get("config_path"),
        "created": prov.get("created"),
        "pareto_align_version": prov.get("pareto_align_version"),
        "methods": sorted({p.method for p in run.front.points}),
        "seeds": sorted({p.seed for p in run.front.points}),
        "n_points": len(run.front.points),
        "n_baselines": len(run.front.baselines),
    }


def build_manifest(
    runs: Sequence[Run],
    to: Path,
    outputs: Sequence[Path],
    settings: Mapping[str, Any],
    warnings: Sequence[str],
    earlier: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest document; ``earlier`` lists unmodified outputs of earlier exports left in place."""
    return {
        "schema": MANIFEST_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pareto_align_version": pareto_align.__version__,
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in MANIFEST_LIBRARIES},
        "browser": _browser(),
        "runs": [run_entry(r) for r in runs],
        **settings,
        "outputs": [
            {"path": str(p.relative_to(to)), "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in outputs
        ],
        "earlier_outputs": [
            {"path": name, "sha256": digest} for name, digest in sorted((earlier or {}).items())
        ],
        "warnings": list(warnings),
    }
