"""Export tables: CSV/JSON round trips, the LaTeX table, BibTeX, the manifest and the overwrite rule."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pareto_align.export import EXPORT_FORMATS, ExportError, export_runs, write_points_csv
from pareto_align.export.bibtex import bibtex_entries
from pareto_align.export.manifest import sha256_file
from pareto_align.front import write_front
from pareto_align.front.schema import (
    Compute,
    Front,
    HistoryEntry,
    Normalization,
    Objective,
    Point,
    PolicyHandle,
)

TEXT_FORMATS = ["csv", "json", "tex", "bib"]


def make_front(methods=("modpo", "dpa"), seeds=(0, 1, 2), n=5, seed=0, ref=(-1.0, -1.0)) -> Front:
    """Random 2-D front; weights on the simplex, values with many digits (round trips must be exact)."""
    rng = np.random.default_rng(seed)
    points = []
    for m in methods:
        for s in seeds:
            for i in range(n):
                w = rng.dirichlet([1.0, 1.0])
                points.append(
                    Point(
                        id=f"{m}-s{s}-{i}",
                        method=m,
                        seed=s,
                        weights=w.tolist(),
                        values=(w + 0.1 * rng.normal(size=2)).tolist(),
                        stderr=(0.01 * rng.random(2)).tolist(),
                        n_samples=64,
                        policy=PolicyHandle(kind="checkpoint", path=f"ckpt/{m}-{s}-{i}"),
                        compute=Compute(
                            wall_seconds=float(rng.random() * 100), policy_updates=50, trained_tokens=999
                        ),
                        step=200,
                    )
                )
    return Front(
        objectives=[Objective(name="helpful"), Objective(name="concise", direction="min")],
        reference_point=list(ref),
        points=points,
        baselines=[Point(id="base", method="base", values=[0.1, 0.2], stderr=[0.0, 0.0], n_samples=64)],
        history=[HistoryEntry(step=t, hypervolume=0.1 * t, method="modpo", seed=0) for t in range(3)],
        provenance={
            "config_hash": "cafe01",
            "config_path": "sweep.yaml",
            "created": "2025-01-01T00:00:00+00:00",
        },
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    write_front(make_front(), root / "run_a")
    write_front(make_front(methods=("soups",), seeds=(0,), seed=1), root / "run_b")
    return [root / "run_a", root / "run_b"]


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "paper"  # does not exist yet: export creates it
    export_runs(runs, out, formats=TEXT_FORMATS)
    return out


def test_points_csv_round_trips_every_number(runs, exported):
    fronts = {"run_a": make_front(), "run_b": make_front(methods=("soups",), seeds=(0,), seed=1)}
    with open(exported / "points.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(fr.points) + len(fr.baselines) for fr in fronts.values())
    by_key = {(r["run"], r["id"]): r for r in rows}
    for run, fr in fronts.items():
        for p in [*fr.points, *fr.baselines]:
            row = by_key[(run, p.id)]
            for j, name in enumerate(("helpful", "concise")):
                assert float(row[f"values:{name}"]) == p.values[j]  # exact, not approx
                assert float(row[f"stderr:{name}"]) == p.stderr[j]
                if p.weights is not None:
                    assert float(row[f"weights:{name}"]) == p.weights[j]
            assert float(row["wall_seconds"]) == p.compute.wall_seconds
            assert int(row["seed"]) == p.seed
    assert by_key[("run_a", "base")]["kind"] == "baseline"
    assert by_key[("run_a", "base")]["non_dominated"] == ""


def test_points_json_round_trips_and_states_the_reference(exported):
    doc = json.loads((exported / "points.json").read_text())
    assert doc["reference_point"] == [-1.0, -1.0]
    assert doc["objectives"][1] == {"name": "concise", "direction": "min"}
    fr = make_front()
    got = {r["id"]: r for r in doc["points"] if r["run"] == "run_a"}
    for p in fr.points:
        assert got[p.id]["values"] == p.values and got[p.id]["weights"] == p.weights
    # the non-dominated flag agrees with the front's own metrics
    from pareto_align.front.indicators import compute_metrics

    nd = set(compute_metrics(fr).non_dominated_ids)
    assert {i for i, r in got.items() if r["non_dominated"]} == nd


def test_csv_and_json_agree(exported):
    with open(exported / "points.csv", newline="") as f:
        rows = {(r["run"], r["id"]): r for r in csv.DictReader(f)}
    for r in json.loads((exported / "points.json").read_text())["points"]:
        assert [float(rows[(r["run"], r["id"])][f"values:{n}"]) for n in ("helpful", "concise")] == r[
            "values"
        ]


def test_summary_csv_matches_per_seed_rows(exported):
    with open(exported / "seeds.csv", newline="") as f:
        seeds = list(csv.DictReader(f))
    with open(exported / "summary.csv", newline="") as f:
        summary = {(r["label"], r["metric"]): r for r in csv.DictReader(f)}
    hv = [float(r["hypervolume"]) for r in seeds if r["label"] == "modpo"]
    assert len(hv) == 3
    row = summary[("modpo", "hypervolume")]
    assert float(row["mean"]) == pytest.approx(np.mean(hv))
    eps = 1e-12  # a mean of three equal floats may round one ulp past them
    assert (
        min(hv) - eps <= float(row["ci_low"]) <= float(row["mean"]) <= float(row["ci_high"]) <= max(hv) + eps
    )
    soups = summary[("soups", "hypervolume")]
    assert soups["n_seeds"] == "1" and soups["ci_low"] == "" and soups["ci_high"] == ""


def _table_rows(tex: str) -> list[str]:
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    return [line for line in body.strip().splitlines() if line.strip()]


def test_latex_table_rows_caption_and_marks(exported):
    tex = (exported / "table.tex").read_text()
    rows = _table_rows(tex)
    assert [r.split(" & ")[0] for r in rows] == ["MODPO", "DPA", "Rewarded soups"]
    assert [r.split(" & ")[1] for r in rows] == ["3", "3", r"1$^\dagger$"]
    assert r"\scriptsize[" not in rows[2]  # one seed: no invented interval
    assert rows[0].count(r"\scriptsize[") == 8  # HV, HV/HV_R, EU, IGD, MUL, card., wall time, updates
    assert r"reference point $(-1, -1)$" in tex and "on raw objective values" in tex
    assert "10,000 resamples" in tex and "concise (declared min, negated)" in tex
    # bold marks the best hypervolume mean
    summary = json.loads((exported / "summary.json").read_text())
    hv = {m["label"]: m["mean"] for m in summary["methods"] if m["metric"] == "hypervolume"}
    best = max(hv, key=hv.get)
    best_row = rows[["modpo", "dpa", "soups"].index(best)]
    assert r"\textbf{" in best_row.split(" & ")[2]
    for r in rows:
        if r is not best_row:
            assert r"\textbf{" not in r.split(" & ")[2]


def test_latex_caption_states_normalization(tmp_path):
    fr = make_front(methods=("modpo",), seeds=(0,))
    fr.normalization = Normalization(method="bounds", lower=[-1.0, -1.0], upper=[2.0, 2.0])
    write_front(fr, tmp_path / "run")
    export_runs([tmp_path / "run"], tmp_path / "out", formats=["tex"])
    tex = (tmp_path / "out" / "table.tex").read_text()
    assert "lower $(-1, -1)$ and upper $(2, 2)$" in tex
    assert "Best mean" not in tex  # a single method: nothing to mark


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no LaTeX engine (pdflatex) installed")
def test_latex_table_compiles(exported, tmp_path):
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        + (exported / "table.tex").read_text()
        + "\\end{document}\n"
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").read_bytes().startswith(b"%PDF-")


def test_bibtex_has_the_compared_methods(exported):
    bib = (exported / "references.bib").read_text()
    keys = re.findall(r"@\w+\{([^,]+),", bib)
    assert {"zhou2024modpo", "wang2024dpa", "rame2023rewardedsoups", "zitzler1999hypervolume"} <= set(keys)
    assert "liu2025cmorl" not in keys  # not in the compared runs
    assert bib.count("{") == bib.count("}")
    _, unknown = bibtex_entries(["modpo", "my_new_method"])
    assert unknown == ["my_new_method"]


def test_manifest_traces_runs_and_outputs(runs, exported):
    man = json.loads((exported / "manifest.json").read_text())
    assert man["schema"] == "pareto_align.export.manifest/v1"
    assert [r["config_hash"] for r in man["runs"]] == ["cafe01", "cafe01"]
    assert man["runs"][0]["front_sha256"] == sha256_file(runs[0] / "front.json")
    assert man["reference_point"] == [-1.0, -1.0] and man["bootstrap"]["n_resamples"] == 10_000
    assert man["libraries"]["moocore"] and man["created"]
    listed = {o["path"]: o["sha256"] for o in man["outputs"]}
    assert set(listed) == {p.name for p in exported.iterdir()} - {"manifest.json"}
    for name, digest in listed.items():
        assert sha256_file(exported / name) == digest
    assert any("soups: one seed" in w for w in man["warnings"])


def test_re_export_overwrites_own_outputs_but_never_edited_or_foreign_files(runs, tmp_path):
    out = tmp_path / "out"
    export_runs(runs, out, formats=["csv", "tex"])
    export_runs(runs, out, formats=["csv", "tex"])  # unmodified earlier outputs: fine
    (out / "table.tex").write_text("% my hand-tuned table\n")
    with pytest.raises(ExportError, match=r"table\.tex \(modified since it was exported\)"):
        export_runs(runs, out, formats=["csv", "tex"])
    assert (out / "table.tex").read_text() == "% my hand-tuned table\n"
    export_runs(runs, out, formats=["csv", "tex"], force=True)
    assert (out / "table.tex").read_text().startswith(r"\begin{table*}")

    # outputs of an earlier export that this one does not rewrite stay ours
    export_runs(runs, out, formats=["tex"])
    man = json.loads((out / "manifest.json").read_text())
    assert "points.csv" in {e["path"] for e in man["earlier_outputs"]}
    export_runs(runs, out, formats=["csv"])  # would be refused if points.csv had become "foreign"

    other = tmp_path / "other"
    other.mkdir()
    (other / "points.csv").write_text("mine\n")
    with pytest.raises(ExportError, match=r"points\.csv \(not written by pareto-align export\)"):
        export_runs(runs, other, formats=["csv"])
    assert (other / "points.csv").read_text() == "mine\n"
    assert not (other / "seeds.csv").exists()  # refused before writing anything

    (other / "points.csv").unlink()
    (other / "manifest.json").write_text('{"something": "else"}')
    with pytest.raises(ExportError, match="not a pareto-align export manifest"):
        export_runs(runs, other, formats=["csv"])
    export_runs(runs, other, formats=["csv"], force=True)
    assert json.loads((other / "manifest.json").read_text())["schema"] == "pareto_align.export.manifest/v1"


def test_bad_formats_and_incompatible_runs(runs, tmp_path):
    with pytest.raises(ExportError, match="allowed: csv, json, tex, md, bib, pdf, svg, png"):
        export_runs(runs, tmp_path / "o", formats=["docx"])
    assert set(EXPORT_FORMATS) == {"csv", "json", "tex", "md", "bib", "pdf", "svg", "png"}
    write_front(make_front(ref=(0.0, 0.0)), tmp_path / "other_ref")
    with pytest.raises(ExportError, match=r"other_ref/front\.json: reference_point .*run_a/front\.json"):
        export_runs([runs[0], tmp_path / "other_ref"], tmp_path / "o", formats=["csv"])
    assert not (tmp_path / "o").exists()


def test_write_points_csv_for_the_sweep_runner(tmp_path):
    fr = make_front(methods=("modpo",), seeds=(0,))
    path = write_points_csv(fr, tmp_path / "front.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["values:helpful"]) for r in rows if r["kind"] == "point"] == [
        p.values[0] for p in fr.points
    ]
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind
