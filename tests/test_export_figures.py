"""Export figures: valid vector PDF/SVG and PNG files, and what each front figure draws."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from pareto_align.export import ExportError, export_runs, front_figure, hypervolume_figure, write_figures
from pareto_align.export.attainment import attainment_surfaces, staircase
from pareto_align.export.figures import projection_matrix_figure
from pareto_align.export.plot3d import Projection3D, nice_ticks
from pareto_align.export.style import KNOWN_METHOD_COLORS, PALETTE, PNG_SCALE, method_styles
from pareto_align.front import write_front
from pareto_align.front.schema import Front, HistoryEntry, Objective, Point

NAMES = ("helpful", "harmless", "concise", "fluent")


def make_front(k=2, methods=("modpo", "dpa"), seeds=(0, 1, 2), n=6, seed=0) -> Front:
    rng = np.random.default_rng(seed)
    points, history = [], []
    for m in methods:
        for s in seeds:
            for i in range(n):
                w = rng.dirichlet(np.ones(k))
                v = w / np.linalg.norm(w) + 0.05 * rng.normal(size=k)
                points.append(
                    Point(
                        id=f"{m}-s{s}-{i}",
                        method=m,
                        seed=s,
                        weights=w.tolist(),
                        values=v.tolist(),
                        stderr=[0.01] * k,
                        n_samples=8,
                    )
                )
            history += [
                HistoryEntry(step=t, hypervolume=0.1 * t + 0.01 * s, method=m, seed=s) for t in (0, 10, 20)
            ]
    return Front(
        objectives=[Objective(name=NAMES[j], direction="min" if j == 2 else "max") for j in range(k)],
        reference_point=[-1.0] * k,
        points=points,
        baselines=[Point(id="base", method="base", values=[0.2] * k, stderr=[0.0] * k, n_samples=8)],
        history=history,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """One export (all formats, K = 2) and the K = 3 / K = 4 front figures, each rendered once."""
    root = tmp_path_factory.mktemp("fig")
    write_front(make_front(), root / "run")
    out = root / "out"
    try:
        export_runs([root / "run"], out)
        write_figures(
            {
                "front3": front_figure(make_front(3), static=True),
                "front4": front_figure(make_front(4), static=True),
                "projections3": projection_matrix_figure(make_front(3)),
            },
            out,
            ["pdf", "svg"],
        )
    except ExportError as e:
        if "Chrome or Chromium" in str(e):
            pytest.skip(str(e))
        raise
    return out


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", data))


@pytest.mark.parametrize("stem", ["front", "hypervolume", "attainment", "front3", "front4", "projections3"])
def test_pdf_is_one_vector_page(rendered, stem):
    data = (rendered / f"{stem}.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert _pdf_pages(data) == 1
    assert not re.search(rb"/Subtype\s*/Image", data), "a raster image inside the PDF: not vector"


@pytest.mark.parametrize("stem", ["front", "hypervolume", "front3", "front4"])
def test_svg_parses_and_has_no_bitmap(rendered, stem):
    root = ET.parse(rendered / f"{stem}.svg").getroot()
    assert root.tag.endswith("svg")
    assert not [el for el in root.iter() if el.tag.endswith("image")]
    texts = " ".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert ("hypervolume" if stem == "hypervolume" else "helpful") in texts  # text stays text, not outlines


@pytest.mark.parametrize("stem", ["front", "hypervolume"])
def test_png_size(rendered, stem):
    data = (rendered / f"{stem}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    fig = front_figure(make_front()) if stem == "front" else hypervolume_figure(make_front())
    assert (width, height) == (fig.layout.width * PNG_SCALE, fig.layout.height * PNG_SCALE)


def test_manifest_lists_the_figures(rendered):
    import json

    listed = {o["path"] for o in json.loads((rendered / "manifest.json").read_text())["outputs"]}
    assert {f"{s}.{f}" for s in ("front", "hypervolume") for f in ("pdf", "svg", "png")} <= listed
    assert not list(rendered.glob(".*tmp*"))


# --- what the figures draw (no rendering) -----------------------------------------------------------------------


def _scatter_traces(fig: go.Figure, name_part: str) -> list:
    return [t for t in fig.data if t.legendgroup == name_part]


def test_2d_figure_draws_median_surface_band_and_faded_dominated_points():
    fr = make_front()
    fig = front_figure(fr)
    traces = _scatter_traces(fig, "modpo")
    lines = [t for t in traces if t.mode == "lines" and t.fill != "toself"]
    bands = [t for t in traces if t.fill == "toself"]
    assert len(lines) == 1 and len(bands) == 1
    sets = [np.array([p.values for p in fr.points if p.method == "modpo" and p.seed == s]) for s in (0, 1, 2)]
    x, y = staircase(attainment_surfaces(sets)[50.0], fr.reference_point)
    np.testing.assert_allclose(lines[0].x, x)
    np.testing.assert_allclose(lines[0].y, y)
    markers = [t for t in traces if t.mode == "markers"]
    faded = [t for t in markers if not t.showlegend]
    assert [t.name for t in markers if t.showlegend] == ["MODPO (3 seeds)"]
    assert faded and faded[0].marker.color.endswith(",0.3)")
    assert any(t.name == "baseline" and t.marker.symbol == "x" for t in fig.data)
    # axis ranges follow the points, not the far-away reference point
    assert fig.layout.xaxis.range[0] > -1.0


def test_single_seed_draws_its_own_front_without_band():
    fr = make_front(methods=("modpo",), seeds=(4,))
    fig = front_figure(fr)
    assert not [t for t in fig.data if t.fill == "toself"]
    (line,) = [t for t in fig.data if t.mode == "lines"]
    x, _ = staircase(fr.F(), fr.reference_point)
    np.testing.assert_allclose(line.x, x)


def test_3d_static_is_2d_traces_and_interactive_is_scatter3d():
    fr = make_front(3)
    static = front_figure(fr, static=True)
    assert all(isinstance(t, go.Scatter) for t in static.data)
    assert len(static.layout.annotations) == 3  # one title per objective
    assert "\u2212concise" in [a.text for a in static.layout.annotations]
    interactive = front_figure(fr)
    assert any(isinstance(t, go.Scatter3d) for t in interactive.data)


def test_parallel_coordinates_scale_each_axis_to_unit_range():
    fig = front_figure(make_front(4))
    lines = [t for t in fig.data if t.legendgroup == "dpa"]
    ys = np.array([v for t in lines for v in t.y if v is not None])
    assert ys.min() >= 0.0 and ys.max() <= 1.0
    xs = {v for t in lines for v in t.x if v is not None}
    assert xs == {0, 1, 2, 3}


def test_method_colours_are_fixed_and_consistent_across_figures():
    fr = make_front()
    front_fig, hv_fig = front_figure(fr), hypervolume_figure(fr)
    legend = [t for t in front_fig.data if t.legendgroup == "dpa" and t.showlegend][0]
    hv_mean = [t for t in hv_fig.data if t.legendgroup == "dpa" and t.showlegend][0]
    assert legend.marker.color == hv_mean.line.color == KNOWN_METHOD_COLORS["dpa"]
    assert hv_mean.name == "DPA (mean of 3 seeds)"
    a = method_styles(["dpa", "modpo", "x"])
    b = method_styles(["x", "modpo", "dpa"])
    assert a["dpa"][0] == b["dpa"][0] and a["modpo"][0] == b["modpo"][0]
    assert a["x"][0] in PALETTE and a["x"][0] not in (a["dpa"][0], a["modpo"][0])


def test_hypervolume_figure_is_drawn_from_the_points_without_history():
    fr = make_front()
    fr.history = []
    fig = hypervolume_figure(fr)  # no compute recorded in these points: the count of points evaluated
    assert fig.layout.xaxis.title.text == "points evaluated"
    assert [t.name for t in fig.data if t.showlegend] == ["MODPO (mean of 3 seeds)", "DPA (mean of 3 seeds)"]


def test_projection_hand_checked():
    # azimuth 0, elevation 0: screen x = objective 1, screen y = objective 3 (unit cube centred at 0).
    proj = Projection3D(np.zeros(3), np.full(3, 2.0), azimuth=0.0, elevation=0.0)
    sx, sy, depth = proj.project(np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 2.0]]))
    np.testing.assert_allclose(sx, [0.5, -0.5])
    np.testing.assert_allclose(sy, [-0.5, 0.5])
    np.testing.assert_allclose(depth, [0.0, 0.5])
    np.testing.assert_allclose(nice_ticks(0.03, 0.97), [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(nice_ticks(-1.2, 3.1), [-1, 0, 1, 2, 3])


def test_missing_browser_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    with pytest.raises(ExportError, match="apt-get install -y chromium"):
        write_figures({"front": front_figure(make_front())}, tmp_path / "out", ["pdf"])
    assert list((tmp_path / "out").iterdir()) == []


# --- kaleido returning without writing a file (no browser needed: write_images is replaced) ---------------------


class FlakyKaleido:
    """Stands in for ``pio.write_images``: writes a few bytes into each target, except that the first ``misses``
    calls leave the targets whose name contains ``skip`` unwritten: deleted (what kaleido did in the issue) or
    left empty, as the temp file was created."""

    def __init__(self, skip: str, misses: int, leave: str = "deleted"):
        self.skip, self.misses, self.leave, self.calls = skip, misses, leave, []

    def __call__(self, figs, files, **kw):
        self.calls.append([Path(f).name for f in files])
        for f in map(Path, files):
            if self.skip not in f.name or len(self.calls) > self.misses:
                f.write_bytes(b"image")
            elif self.leave == "deleted":
                f.unlink(missing_ok=True)


def test_an_image_kaleido_did_not_write_is_rendered_again_in_a_fresh_session(tmp_path, monkeypatch):
    import plotly.io as pio

    fake = FlakyKaleido(skip="front.", misses=1)
    monkeypatch.setattr(pio, "write_images", fake)
    fig = front_figure(make_front(), static=True)
    written = write_figures({"front": fig, "other": fig}, tmp_path, ["pdf", "png"])
    assert sorted(p.name for p in written) == ["front.pdf", "front.png", "other.pdf", "other.png"]
    assert all(p.read_bytes() == b"image" for p in written)
    assert len(fake.calls) == 2 and len(fake.calls[0]) == 4
    assert sorted(n.split(".")[1] for n in fake.calls[1]) == ["front", "front"]  # only the missing ones again
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("how", ["deleted", "empty"])
def test_an_image_still_missing_after_the_retry_is_one_error_naming_it(tmp_path, monkeypatch, how):
    import plotly.io as pio

    fake = FlakyKaleido(skip="front.", misses=2, leave=how)
    monkeypatch.setattr(pio, "write_images", fake)
    fig = front_figure(make_front(), static=True)
    with pytest.raises(ExportError) as err:
        write_figures({"front": fig, "other": fig}, tmp_path, ["png"])
    assert str(err.value).startswith(f"kaleido wrote no image for {tmp_path / 'front.png'} (tried twice")
    assert "\n" not in str(err.value) and "other" not in str(err.value)
    assert len(fake.calls) == 2
    assert list(tmp_path.iterdir()) == []  # nothing committed, no temp left


def test_a_sweeps_front_png_that_fails_is_a_warning_and_the_front_files_stay(tmp_path, monkeypatch, capsys):
    import plotly.io as pio

    from pareto_align import cli

    write_front(make_front(), tmp_path)
    monkeypatch.setattr(pio, "write_images", FlakyKaleido(skip="front.", misses=2))
    cli._write_front_outputs(tmp_path)  # no exception
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.strip()]
    assert line.startswith("warning: front.png skipped: kaleido wrote no image for") and "front.png" in line
    assert {p.name for p in tmp_path.iterdir()} == {"front.json", "front.csv", "front.html"}

    def crash(*a, **kw):  # any other failure of the renderer is a warning too
        raise TimeoutError("browser did not answer\nsecond line")

    monkeypatch.setattr(pio, "write_images", crash)
    cli._write_front_outputs(tmp_path)
    warning = capsys.readouterr().out.strip()
    assert warning == "warning: front.png skipped: TimeoutError: browser did not answer"


def test_export_names_an_unwritten_image_in_one_line_and_commits_nothing(tmp_path, monkeypatch, capsys):
    import plotly.io as pio

    from pareto_align import cli

    write_front(make_front(), tmp_path / "run")
    monkeypatch.setattr(pio, "write_images", FlakyKaleido(skip="hypervolume.", misses=2))
    argv = ["export", str(tmp_path / "run"), "--to", str(tmp_path / "out"), "--formats", "csv,pdf"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: kaleido wrote no image for {tmp_path / 'out' / 'hypervolume.pdf'} "
                   "(tried twice, each in a fresh browser session)")  # fmt: skip
    assert list((tmp_path / "out").iterdir()) == []


def test_a_sweeps_front_png_is_rendered_by_the_browser(tmp_path):
    """The PNG a sweep writes beside front.html (the other test modules' sweeps skip it, see conftest)."""
    from pareto_align import cli

    write_front(make_front(), tmp_path)
    cli._write_front_outputs(tmp_path)
    assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
