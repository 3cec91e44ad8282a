"""Write plotly figures as PDF, SVG and PNG through kaleido, atomically.

kaleido 1.x drives a headless Chrome/Chromium. It finds one through the ``BROWSER_PATH`` environment variable,
then ``chromium``/``chromium-browser``/``google-chrome``/... on ``PATH`` and their usual install paths such as
``/usr/bin/chromium`` (choreographer's search), then a copy downloaded by ``plotly_get_chrome``. Debian's
``apt-get install chromium`` is enough. All images are rendered in one browser session (``write_images``),
to temp files beside their targets, and only moved into place once every image rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from pareto_align.atomic import commit, temp_path_for
from pareto_align.export.runs import ExportError
from pareto_align.export.style import PNG_SCALE

IMAGE_FORMATS: tuple[str, ...] = ("pdf", "svg", "png")

NO_BROWSER = (
    "figure export needs Chrome or Chromium for kaleido: install Debian's chromium "
    "(apt-get install -y chromium) or set BROWSER_PATH to a Chrome/Chromium executable"
)


def render_to_temp(figures: Mapping[str, go.Figure], to: Path, formats: Sequence[str]) -> dict[Path, Path]:
    """Render ``figures`` (file stem -> figure) in each image format into temp files; final path -> temp path.

    The caller commits them (``atomic.commit``) or deletes them. Raises ExportError when no browser is found.
    """
    bad = [f for f in formats if f not in IMAGE_FORMATS]
    if bad:
        raise ValueError(f"unknown image formats {bad}; allowed: {', '.join(IMAGE_FORMATS)}")
    jobs = [(stem, fig, fmt) for stem, fig in figures.items() for fmt in formats]
    if not jobs:
        return {}
    temps = {to / f"{stem}.{fmt}": temp_path_for(to / f"{stem}.{fmt}") for stem, _, fmt in jobs}
    try:
        pio.write_images(
            [fig for _, fig, _ in jobs],
            [str(temps[to / f"{stem}.{fmt}"]) for stem, _, fmt in jobs],
            format=[fmt for _, _, fmt in jobs],
            width=[fig.layout.width for _, fig, _ in jobs],
            height=[fig.layout.height for _, fig, _ in jobs],
            scale=[PNG_SCALE if fmt == "png" else 1 for _, _, fmt in jobs],
        )
        empty = [str(final) for final, tmp in temps.items() if tmp.stat().st_size == 0]
        if empty:
            raise ExportError(f"kaleido wrote no data for {', '.join(empty)}")
    except BaseException as e:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if isinstance(e, RuntimeError) and "chrome" in str(e).lower():
            raise ExportError(NO_BROWSER) from None
        raise
    return temps


def write_figures(
    figures: Mapping[str, go.Figure], to: Path, formats: Sequence[str] = IMAGE_FORMATS
) -> list[Path]:
    """Render and atomically write each figure (file stem -> figure) in ``formats`` under ``to``."""
    to.mkdir(parents=True, exist_ok=True)
    temps = render_to_temp(figures, to, formats)
    return [commit(tmp, final) for final, tmp in temps.items()]
