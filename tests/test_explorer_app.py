"""The explorer page driven by Streamlit's AppTest: sliders, highlighted policy, bad runs, generation, comparison."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pareto_align.explorer.demo import CHECKPOINT, write_demo_run
from pareto_align.explorer.figures import HIGHLIGHT_NAME

APP = Path(__file__).resolve().parents[1] / "apps" / "explorer.py"
TIMEOUT = 60  # seconds per script run; the first live generation imports torch


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explorer_runs")
    good = write_demo_run(root / "good")
    other = write_demo_run(root / "other", method="other", scale=0.9, checkpoint=False)  # checkpoint is gone
    two = write_demo_run(root / "two", objectives=("helpful", "harmless"), checkpoint=False)
    text = (good / "front.json").read_text()
    (root / "truncated").mkdir()
    (root / "truncated" / "front.json").write_text(text[: len(text) // 3])
    data = json.loads(text)
    data["schema"] = "pareto_align.front/v7"
    (root / "future").mkdir()
    (root / "future" / "front.json").write_text(json.dumps(data))
    (root / "empty").mkdir()
    return {
        "good": good,
        "other": other,
        "two": two,
        "truncated": root / "truncated",
        "future": root / "future",
        "empty": root / "empty",
        "missing": root / "missing",
    }


def _app(monkeypatch, *run_dirs: Path) -> AppTest:
    # The page reads its run dirs from the script arguments, as `streamlit run explorer.py -- RUN_DIR...` sets them.
    monkeypatch.setattr(sys, "argv", [str(APP), *map(str, run_dirs)])
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _expected(run_dir: Path, w, utility: str) -> str:
    """Independent reference: brute-force non-dominated points of the file, then the utility's argmax."""
    data = json.loads((run_dir / "front.json").read_text())
    pts = data["points"]
    F = np.array([p["values"] for p in pts])
    nd = [
        i
        for i in range(len(F))
        if not any(np.all(F[j] >= F[i]) and np.any(F[j] > F[i]) for j in range(len(F)))
    ]
    P = F[nd]
    # the demo front's non-dominated values already span [0, 1] per objective, so the page's min-max is identity
    assert np.allclose(P.min(axis=0), 0) and np.allclose(P.max(axis=0), 1)
    w = np.asarray(w)
    u = P @ w if utility == "linear" else -np.max(w * np.abs(P.max(axis=0) - P), axis=1)
    return f"{run_dir.name}/{pts[nd[int(np.argmax(u))]]['id']}"


def _highlighted(at: AppTest) -> str:
    key = at.session_state["explorer.highlighted"]
    assert any(f"`{key}`" in m.value for m in at.markdown)  # shown in the page, not only in state
    return key


def _figure_highlight(at: AppTest) -> list[float]:
    """Coordinates of the highlight trace of the front figure (the first chart on the page)."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    (trace,) = [t for t in spec["data"] if t.get("name") == HIGHLIGHT_NAME]
    return [trace[axis][0] for axis in ("x", "y", "z") if axis in trace]


def _values(run_dir: Path, key: str) -> list[float]:
    point_id = key.split("/", 1)[1]
    (point,) = [p for p in json.loads((run_dir / "front.json").read_text())["points"] if p["id"] == point_id]
    return point["values"]


def test_sliders_move_the_highlighted_policy(runs, monkeypatch):
    at = _app(monkeypatch, runs["good"])
    assert [s.value for s in at.slider] == pytest.approx([1 / 3] * 3)
    assert _highlighted(at) == _expected(runs["good"], [1 / 3] * 3, "linear")
    at.slider(key="pref.w.helpful").set_value(0.9).run()
    # dragging one slider moves the others with it, on the simplex
    assert [s.value for s in at.slider] == pytest.approx([0.9, 0.05, 0.05])
    assert _highlighted(at) == _expected(runs["good"], [0.9, 0.05, 0.05], "linear")
    assert _figure_highlight(at) == pytest.approx(_values(runs["good"], _highlighted(at)))
    assert _highlighted(at) != _expected(runs["good"], [1 / 3] * 3, "linear")
    at.slider(key="pref.w.concise").set_value(0.0).run()
    assert [s.value for s in at.slider] == pytest.approx([0.9 / 0.95, 0.05 / 0.95, 0.0])
    at.slider(key="pref.w.helpful").set_value(0.5).run()
    assert [s.value for s in at.slider] == pytest.approx([0.5, 0.5, 0.0])
    linear = _highlighted(at)
    assert linear == _expected(runs["good"], [0.5, 0.5, 0.0], "linear")
    at.radio(key="pref.utility").set_value("tchebycheff").run()
    assert _highlighted(at) == _expected(runs["good"], [0.5, 0.5, 0.0], "tchebycheff") != linear
    assert not at.exception and not at.error


def test_angle_for_two_objectives(runs, monkeypatch):
    at = _app(monkeypatch, runs["two"])
    at.radio(key="pref.mode").set_value("angle").run()
    at.slider(key="pref.angle").set_value(0.0).run()
    assert _highlighted(at) == _expected(runs["two"], [1.0, 0.0], "linear")
    at.slider(key="pref.angle").set_value(90.0).run()
    assert _highlighted(at) == _expected(runs["two"], [0.0, 1.0], "linear")
    # the weight sliders follow the angle
    at.radio(key="pref.mode").set_value("weights").run()
    assert [s.value for s in at.slider] == pytest.approx([0.0, 1.0])


def test_bad_runs_are_messages_and_the_good_run_still_shows(runs, monkeypatch):
    names = ["missing", "truncated", "future", "empty", "good"]
    at = _app(monkeypatch, *[runs[n] for n in names])
    errors = "\n".join(e.value for e in at.error)
    assert f"{runs['missing']}: run directory does not exist" in errors
    assert f"{runs['truncated'] / 'front.json'}: invalid JSON" in errors and "truncated" in errors
    assert f"{runs['future'] / 'front.json'}: unsupported schema version 'v7'" in errors
    assert f"{runs['empty'] / 'front.json'}: file not found (empty run" in errors
    assert len(at.error) == 4
    assert _highlighted(at).startswith("good/")


def test_only_bad_runs_and_no_runs(runs, monkeypatch):
    at = _app(monkeypatch, runs["truncated"], runs["empty"])
    assert len(at.error) == 2 and any("Nothing to show yet" in i.value for i in at.info)
    at = _app(monkeypatch)
    assert "No run directories given" in at.error[0].value


def test_runs_with_other_objectives_are_offered_separately(runs, monkeypatch):
    at = _app(monkeypatch, runs["good"], runs["two"])
    assert _highlighted(at).startswith("good/")
    at.selectbox(key="runs.objectives").set_value(("helpful", "harmless")).run()
    assert _highlighted(at).startswith("two/")
    assert [s.key for s in at.slider] == ["pref.w.helpful", "pref.w.harmless"]


def test_live_generation_soup_at_slider_weights(runs, monkeypatch):
    at = _app(monkeypatch, runs["good"])
    at.slider(key="pref.w.harmless").set_value(0.6).run()
    source = at.radio(key="gen.source")
    soup = next(o for o in source.options if o.startswith("soup"))
    source.set_value(soup).run()
    assert any(
        "soup 0.200×policies/base + 0.600×policies/base + 0.200×policies/base" in c.value for c in at.caption
    )
    at.text_input(key="gen.prompt").set_value("tell me about the garden").run()
    at.button(key="gen.go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["gen.result"]
    assert len(result["responses"]) == 3 and result["source"].startswith("soup 0.200")


def test_gone_checkpoint_and_comparison(runs, monkeypatch, tmp_path):
    at = _app(monkeypatch, runs["good"], runs["other"])
    at.selectbox(key="pref.scope").set_value("other").run()
    assert _highlighted(at).startswith("other/")
    assert any(f"checkpoint {CHECKPOINT} is gone" in e.value for e in at.error)
    # comparison: every point of `other` is 0.9 times a point of `good`, so A dominates all of B
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["share of B dominated by A"] == "100%"
    F = {
        n: np.array([p["values"] for p in json.loads((runs[n] / "front.json").read_text())["points"]])
        for n in ("good", "other")
    }
    share = np.mean([any(np.all(b >= a) and np.any(b > a) for b in F["other"]) for a in F["good"]])
    assert metrics["share of A dominated by B"] == f"{share:.0%}"


def test_checkpoint_removed_while_the_app_runs(runs, monkeypatch, tmp_path):
    run = tmp_path / "good"
    shutil.copytree(runs["good"], run)
    at = _app(monkeypatch, run)
    shutil.rmtree(run / CHECKPOINT)
    at.text_input(key="gen.prompt").set_value("hello").run()
    assert any(f"checkpoint {CHECKPOINT} is gone" in e.value for e in at.error)
    assert _highlighted(at).startswith("good/")
