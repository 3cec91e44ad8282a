"""Export of the explorer's current view: the figure (HTML, PNG) and the selected points (CSV, JSON).

Everything is returned as bytes for the page's download buttons; nothing is written to disk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

import pareto_align
from pareto_align.explorer.view import FrontView

VIEW_SCHEMA = "pareto_align.explorer_view/v1"


def figure_html(fig: go.Figure) -> bytes:
    """A self-contained interactive HTML file (plotly.js embedded, so it opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def figure_png(fig: go.Figure, width: int = 1000, height: int = 700, scale: float = 2.0) -> bytes:
    """A PNG of the figure through kaleido (needs a Chrome/Chromium on the machine). Raises when it cannot."""
    return fig.to_image(format="png", width=width, height=height, scale=scale)


def points_csv(view: FrontView, rows: Sequence[int] | None = None) -> bytes:
    """The rows (default: all shown) as CSV: run, id, method, weights, one column per objective and stderr."""
    return view.table(rows).to_csv(index=False).encode("utf-8")


def points_json(
    view: FrontView,
    rows: Sequence[int] | None = None,
    preference: dict[str, Any] | None = None,
    highlighted: int | None = None,
) -> bytes:
    """The rows as JSON: objectives, the preference in use, the highlighted point and each point in full.

    Points are written exactly as in their front file (``Point`` fields), with the run they came from.
    """
    idx = range(len(view)) if rows is None else rows
    doc = {
        "schema": VIEW_SCHEMA,
        "pareto_align_version": pareto_align.__version__,
        "objectives": [o.model_dump() for o in view.objectives],
        "preference": preference or {},
        "highlighted": view.row_key(highlighted) if highlighted is not None else None,
        "points": [
            {
                "run": view.rows[i][0].label,
                "run_dir": str(view.rows[i][0].run_dir),
                "baseline": bool(view.is_baseline[i]),
                "non_dominated": bool(view.non_dominated[i]),
                "point": view.rows[i][1].model_dump(mode="json", by_alias=True),
            }
            for i in idx
        ],
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")
