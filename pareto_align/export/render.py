"""Write plotly figures as PDF, SVG and PNG through kaleido, atomically.

kaleido 1.x drives a headless Chrome/Chromium. It finds one through the ``BROWSER_PATH`` environment variable,
then ``chromium``/``chromium-browser``/``google-chrome``/... on ``PATH`` and their usual install paths such as
``/usr/bin/chromium`` (choreographer's search), then a copy downloaded by ``plotly_get_chrome``. Debian's
``apt-get install chromium`` is enough. All images are rendered in one browser session (``write_images``),
to temp files beside their targets, and only moved into place once every image rendered. A file kaleido
leaves missing or empty (it happens, rarely, without an error) is rendered once more in a fresh browser session;
still missing, it is an ExportError naming the file. The sweep's front.png treats that as a warning (the image is a
convenience); ``pareto-align export`` as a failure (exit 2, nothing of that export committed).
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

    kaleido sometimes returns without writing one of the files (or leaves it empty): those are rendered once more,
    in a fresh browser session, before giving up. The caller commits the temps (``atomic.commit``) or deletes
    them. Raises ExportError when no browser is found, or naming every file that is still missing or empty.
    """
    bad = [f for f in formats if f not in IMAGE_FORMATS]
    if bad:
        raise ValueError(f"unknown image formats {bad}; allowed: {', '.join(IMAGE_FORMATS)}")
    jobs = {to / f"{stem}.{fmt}": (fig, fmt) for stem, fig in figures.items() for fmt in formats}
    if not jobs:
        return {}
    temps = {final: temp_path_for(final) for final in jobs}
    try:
        _write_images(jobs, temps)
        unwritten = _unwritten(temps)
        if unwritten:  # each write_images call starts its own browser, so this retry is a fresh session
            _write_images({final: jobs[final] for final in unwritten}, temps)
            unwritten = _unwritten(temps)
        if unwritten:
            raise ExportError(f"kaleido wrote no image for {', '.join(str(f) for f in unwritten)} "
                              "(tried twice, each in a fresh browser session)")  # fmt: skip
    except BaseException as e:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if isinstance(e, RuntimeError) and "chrome" in str(e).lower():
            raise ExportError(NO_BROWSER) from None
        raise
    return temps


def _write_images(jobs: Mapping[Path, tuple[go.Figure, str]], temps: Mapping[Path, Path]) -> None:
    """One kaleido browser session rendering each (figure, format) of ``jobs`` into its temp file."""
    finals = list(jobs)
    pio.write_images(
        [jobs[f][0] for f in finals],
        [str(temps[f]) for f in finals],
        format=[jobs[f][1] for f in finals],
        width=[jobs[f][0].layout.width for f in finals],
        height=[jobs[f][0].layout.height for f in finals],
        scale=[PNG_SCALE if jobs[f][1] == "png" else 1 for f in finals],
    )


def _unwritten(temps: Mapping[Path, Path]) -> list[Path]:
    """The final paths whose temp file kaleido left missing or empty."""
    return [final for final, tmp in temps.items() if not tmp.is_file() or tmp.stat().st_size == 0]


def write_figures(
    figures: Mapping[str, go.Figure], to: Path, formats: Sequence[str] = IMAGE_FORMATS
) -> list[Path]:
    """Render and atomically write each figure (file stem -> figure) in ``formats`` under ``to``."""
    to.mkdir(parents=True, exist_ok=True)
    temps = render_to_temp(figures, to, formats)
    return [commit(tmp, final) for final, tmp in temps.items()]
