"""The front.json contract: exact round trip, atomic writes, and clear errors naming file and field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pareto_align.front import (
    FRONT_FILENAME,
    SCHEMA,
    Compute,
    Front,
    FrontFileError,
    HistoryEntry,
    Metrics,
    Normalization,
    Objective,
    Point,
    PolicyHandle,
    Sample,
    read_front,
    write_front,
)

OBJECTIVES = [
    Objective(name="helpful"),
    Objective(name="harmless"),
    Objective(name="concise", direction="min"),
]


def make_point(pid: str, values: list[float], **kw) -> Point:
    return Point(
        id=pid,
        method=kw.pop("method", "modpo"),
        values=values,
        stderr=[0.01] * len(values),
        n_samples=64,
        **kw,
    )


@pytest.fixture
def rich_front() -> Front:
    """A front using every field of the contract."""
    return Front(
        objectives=OBJECTIVES,
        reference_point=[0.0, -3.0, -40.0],
        normalization=Normalization(method="bounds", lower=[0.0, -3.0, -40.0], upper=[5.0, 0.0, 0.0]),
        points=[
            make_point(
                "modpo-w0",
                [1.25, -0.5, -12.0],
                weights=[0.2, 0.3, 0.5],
                seed=3,
                policy=PolicyHandle(kind="checkpoint", path="checkpoints/modpo-w0"),
                compute=Compute(wall_seconds=12.5, policy_updates=200, trained_tokens=51200),
                step=200,
                metadata={"lr": 5e-5, "tags": ["a", "b"], "nested": {"x": 1}},
                samples=[
                    Sample(prompt="Tell me about cats.", response=" cats purr .", values=[1.0, 0.0, -3.0])
                ],
            ),
            make_point(
                "soup-0.3",
                [1.0 / 3.0, -0.1, -20.0],
                weights=[0.3, 0.7, 0.0],
                policy=PolicyHandle(kind="soup", checkpoints=["ckpt/a", "ckpt/b"], coefficients=[0.3, 0.7]),
            ),
            make_point(
                "dpa-1",
                [2.0, -1.0, -30.0],
                method="dpa",
                direction=[0.6, 0.8, 0.0],
                lambda_=0.7,
                policy=PolicyHandle(kind="conditioned", path="checkpoints/dpa", direction=[0.6, 0.8, 0.0]),
            ),
        ],
        baselines=[make_point("sft", [0.5, -2.0, -25.0], method="sft")],
        history=[
            HistoryEntry(step=0, hypervolume=0.0),
            HistoryEntry(
                step=10, hypervolume=1.5, point_id="modpo-w0", weights=[0.2, 0.3, 0.5], expected_utility=0.4
            ),
        ],
        metrics=Metrics(
            hypervolume=1.5,
            expected_utility=0.4,
            sparsity=0.01,
            cardinality=3,
            n_points=3,
            non_dominated_ids=["modpo-w0", "soup-0.3", "dpa-1"],
            normalized=True,
            eu_weights="das-dennis(n_partitions=12), 91 weights",
        ),
        provenance={"config": "experiments/quickstart.yaml", "config_sha256": "ab" * 32},
    )


def front_dict(front: Front) -> dict:
    return front.model_dump(mode="json", by_alias=True)


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------------------------
# round trip


def test_round_trip_is_exact(rich_front: Front, tmp_path: Path) -> None:
    written = write_front(rich_front, tmp_path)
    assert written == tmp_path / FRONT_FILENAME
    back = read_front(tmp_path)
    assert back == rich_front
    assert back.points[1].values[0] == 1.0 / 3.0  # bit-exact float
    # Writing what was read gives the same bytes.
    first = written.read_bytes()
    write_front(back, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == first


def test_new_run_dir_is_created(rich_front: Front, tmp_path: Path) -> None:
    written = write_front(rich_front, tmp_path / "runs" / "quickstart")
    assert written == tmp_path / "runs" / "quickstart" / FRONT_FILENAME
    assert read_front(tmp_path / "runs" / "quickstart") == rich_front
    assert read_error(tmp_path / "runs" / "other").startswith(
        str(tmp_path / "runs" / "other" / FRONT_FILENAME)
    )


def test_json_uses_aliases(rich_front: Front, tmp_path: Path) -> None:
    data = json.loads(write_front(rich_front, tmp_path / "f.json").read_text())
    assert data["schema"] == SCHEMA
    assert "schema_" not in data
    assert data["points"][2]["lambda"] == 0.7
    assert "lambda_" not in data["points"][2]
    assert data["history"][1]["expected_utility"] == 0.4


def test_objective_names_and_F(rich_front: Front) -> None:
    assert rich_front.objective_names == ["helpful", "harmless", "concise"]
    F = rich_front.F()
    assert F.shape == (3, 3)
    np.testing.assert_array_equal(F[2], [2.0, -1.0, -30.0])
    assert rich_front.F("baselines").shape == (1, 3)
    empty = Front(objectives=OBJECTIVES, reference_point=[0, 0, 0])
    assert empty.F().shape == (0, 3)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.tuples(finite, finite), min_size=0, max_size=5), ref=st.tuples(finite, finite))
def test_round_trip_property(
    values: list[tuple[float, float]], ref: tuple[float, float], tmp_path_factory
) -> None:
    front = Front(
        objectives=[Objective(name="a"), Objective(name="b")],
        reference_point=list(ref),
        points=[make_point(f"p{i}", list(v)) for i, v in enumerate(values)],
    )
    path = write_front(front, tmp_path_factory.mktemp("rt") / "front.json")
    assert read_front(path) == front


# ---------------------------------------------------------------------------------------------------------------
# atomic writes


def test_write_leaves_no_temp_files(rich_front: Front, tmp_path: Path) -> None:
    write_front(rich_front, tmp_path)
    write_front(rich_front, tmp_path)  # overwrite
    assert sorted(os.listdir(tmp_path)) == [FRONT_FILENAME]


def test_failed_serialization_keeps_existing_file(rich_front: Front, tmp_path: Path) -> None:
    path = write_front(rich_front, tmp_path)
    good = path.read_bytes()
    rich_front.points[0].metadata["loss"] = float("nan")  # NaN must never be written
    with pytest.raises(FrontFileError) as err:
        write_front(rich_front, tmp_path)
    assert str(err.value).startswith(str(path))
    assert "points[0].metadata.loss" in str(err.value)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == [FRONT_FILENAME]


def test_invalid_mutated_front_is_not_written(rich_front: Front, tmp_path: Path) -> None:
    path = write_front(rich_front, tmp_path)
    good = path.read_bytes()
    rich_front.points[1].values = [1.0, float("inf"), 0.0]  # models are mutable: write re-validates
    with pytest.raises(FrontFileError, match=r"points\[1\]\.values.*'soup-0\.3'.*inf"):
        write_front(rich_front, tmp_path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == [FRONT_FILENAME]


def test_failed_rename_removes_temp_file(rich_front: Front, tmp_path: Path, monkeypatch) -> None:
    path = write_front(rich_front, tmp_path)
    good = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    rich_front.provenance["changed"] = True
    with pytest.raises(OSError, match="disk gone"):
        write_front(rich_front, tmp_path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == [FRONT_FILENAME]


# ---------------------------------------------------------------------------------------------------------------
# read errors name the file and the field


def read_error(path: Path) -> str:
    with pytest.raises(FrontFileError) as err:
        read_front(path)
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    msg = read_error(tmp_path / "nope.json")
    assert "not found" in msg
    # a run dir without front.json names the file it looked for
    assert read_error(tmp_path).startswith(str(tmp_path / FRONT_FILENAME))


def test_truncated_file(rich_front: Front, tmp_path: Path) -> None:
    path = write_front(rich_front, tmp_path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    msg = read_error(path)
    assert "invalid JSON" in msg and "truncated" in msg


def test_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("[1, 2]")
    assert "JSON object" in read_error(path)


def test_missing_schema(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    del data["schema"]
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert '"schema"' in msg and SCHEMA in msg


def test_unknown_version(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    data["schema"] = "pareto_align.front/v9"
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert (
        "version 'v9'" in msg
        and "reads: pareto_align.front/v3, pareto_align.front/v2, pareto_align.front/v1" in msg
    )


def test_v1_file_reads_as_v3(rich_front: Front, tmp_path: Path) -> None:
    """A v1 file (tokens_seen, no run compute) reads unchanged and is written back as the current version."""
    data = front_dict(rich_front)
    data["schema"] = "pareto_align.front/v1"
    data.pop("compute", None)
    for p in data["points"]:
        c = p["compute"]
        c["tokens_seen"] = c.pop("trained_tokens")
        c.pop("generated_tokens"), c.pop("shared")
    front = read_front(write_json(tmp_path / "v1.json", data))
    assert front.schema_ == SCHEMA and front.points[0].compute.trained_tokens == 51200
    write_front(front, tmp_path / "v2.json")
    assert json.loads((tmp_path / "v2.json").read_text())["schema"] == "pareto_align.front/v3"


def test_shared_compute_must_be_recorded(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    data["points"][0]["compute"]["shared"] = ["specialists"]
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert "points[0].compute.shared: ['specialists'] not in compute.shared" in msg
    data["compute"] = {"shared": {"specialists": {"policy_updates": 10}}, "total": {}}
    assert (
        read_front(write_json(tmp_path / "g.json", data)).compute.shared["specialists"].policy_updates == 10
    )


def test_unknown_schema(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    data["schema"] = "somebody.else/v1"
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert "unknown schema 'somebody.else/v1'" in msg and SCHEMA in msg


@pytest.mark.parametrize(
    ("group", "index", "field", "bad", "expected"),
    [
        ("points", 1, "values", float("nan"), r"points[1].values: point 'soup-0.3': values[2] is nan"),
        ("points", 0, "stderr", float("inf"), r"points[0].stderr: point 'modpo-w0': stderr[2] is inf"),
        ("points", 0, "weights", float("nan"), r"points[0].weights: point 'modpo-w0': weights[2] is nan"),
        ("baselines", 0, "values", float("-inf"), r"baselines[0].values: point 'sft': values[2] is -inf"),
    ],
)
def test_non_finite_numbers(rich_front, tmp_path, group, index, field, bad, expected) -> None:
    data = front_dict(rich_front)
    data[group][index][field][2] = bad
    path = tmp_path / "f.json"
    path.write_text(json.dumps(data))  # Python's json writes NaN/Infinity tokens
    assert expected in read_error(path)


def test_wrong_dimensions(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    data["points"][2]["values"] = [1.0, 2.0]
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert "points[2] (id 'dpa-1').values: expected 3 values (one per objective), got 2" in msg


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["points"][0].update(stderr=[0.1]),
            "points[0] (id 'modpo-w0').stderr: expected 3 values",
        ),
        (
            lambda d: d["points"][2].update(direction=[1.0]),
            "points[2] (id 'dpa-1').direction: expected 3 values",
        ),
        (
            lambda d: d["baselines"][0].update(values=[1, 2, 3, 4]),
            "baselines[0] (id 'sft').values: expected 3",
        ),
        (
            lambda d: d.update(reference_point=[0.0, 0.0]),
            "reference_point: expected 3 values (one per objective), got 2",
        ),
        (
            lambda d: d["points"][0]["samples"][0].update(values=[1.0]),
            "points[0] (id 'modpo-w0').samples[0].values: expected 3 values",
        ),
        (
            lambda d: d["points"][2]["policy"].update(direction=[1.0, 0.0]),
            "points[2] (id 'dpa-1').policy.direction: expected 3 values",
        ),
        (
            lambda d: d["normalization"].update(lower=[0.0, 0.0], upper=[1.0, 1.0]),
            "normalization.lower: expected 3 values",
        ),
    ],
)
def test_dimension_errors_name_the_field(rich_front, tmp_path, mutate, expected) -> None:
    data = front_dict(rich_front)
    mutate(data)
    assert expected in read_error(write_json(tmp_path / "f.json", data))


def test_duplicate_ids(rich_front: Front, tmp_path: Path) -> None:
    data = front_dict(rich_front)
    data["points"][2]["id"] = "modpo-w0"
    msg = read_error(write_json(tmp_path / "f.json", data))
    assert "points[2].id: duplicate id 'modpo-w0' (already used by points[0])" in msg
    # ids are unique across points and baselines
    data = front_dict(rich_front)
    data["baselines"][0]["id"] = "dpa-1"
    assert "baselines[0].id: duplicate id 'dpa-1'" in read_error(write_json(tmp_path / "g.json", data))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["points"][0].update(weights=[0.5, 0.3, 0.3]),
            "points[0]: point 'modpo-w0': weights must sum to 1",
        ),
        (lambda d: d["points"][0].update(weights=[1.2, -0.2, 0.0]), "weights must be non-negative"),
        (lambda d: d["points"][0].update(colour="red"), "points[0].colour: Extra inputs are not permitted"),
        (lambda d: d.update(reference_pt=[0, 0, 0]), "reference_pt: Extra inputs are not permitted"),
        (lambda d: d["points"][0].pop("n_samples"), "points[0].n_samples: Field required"),
        (
            lambda d: d["points"][0]["policy"].pop("path"),
            "points[0].policy: policy of kind 'checkpoint' needs 'path'",
        ),
        (
            lambda d: d["points"][1]["policy"].update(coefficients=[0.3]),
            "points[1].policy: soup has 2 checkpoints but 1 coefficients",
        ),
        (
            lambda d: d["points"][1]["policy"].update(coefficients=[0.3, 0.6]),
            "points[1].policy: coefficients must sum to 1",
        ),
        (
            lambda d: d["points"][2]["policy"].pop("direction"),
            "points[2].policy: policy of kind 'conditioned' needs 'direction'",
        ),
        (
            lambda d: d["points"][0]["policy"].update(coefficients=[1.0]),
            "'coefficients' is not used by policy kind 'checkpoint'",
        ),
        (lambda d: d["points"][0]["policy"].update(kind="lora"), "points[0].policy.kind: Input should be"),
        (
            lambda d: d["normalization"].update(upper=[5.0, -3.0, 0.0]),
            "upper[1] (-3.0) must be greater than lower[1]",
        ),
        (lambda d: d["objectives"].append({"name": "helpful"}), "objectives: duplicate names ['helpful']"),
        (lambda d: d["objectives"][2].update(direction="down"), "objectives[2].direction: Input should be"),
        (
            lambda d: d["points"][0].update(**{"lambda": float("nan")}),
            "points[0].lambda: point 'modpo-w0': lambda is nan",
        ),
    ],
)
def test_validation_errors_name_the_field(rich_front, tmp_path, mutate, expected) -> None:
    data = front_dict(rich_front)
    mutate(data)
    path = tmp_path / "f.json"
    path.write_text(json.dumps(data))
    assert expected in read_error(path)


def test_models_validate_on_construction() -> None:
    with pytest.raises(ValidationError, match="points\\[0\\] \\(id 'x'\\).values: expected 3 values"):
        Front(objectives=OBJECTIVES, reference_point=[0, 0, 0], points=[make_point("x", [1.0, 2.0])])
    with pytest.raises(ValidationError, match="unsupported schema"):
        Front(schema="pareto_align.front/v0", objectives=OBJECTIVES, reference_point=[0, 0, 0])
    # populate by field name or alias
    assert (
        make_point("x", [1.0], lambda_=0.5).lambda_
        == Point.model_validate(
            {"id": "x", "method": "m", "values": [1.0], "stderr": [0.0], "n_samples": 1, "lambda": 0.5}
        ).lambda_
    )


def test_judged_front_round_trips_and_is_viewed_by_either_scoring(tmp_path: Path) -> None:
    """A front scored a second time by held-out judges: both scorings are in the file; `scored_by('judges')` is
    the front as the judges score it, for the explorer and the exporter; lengths are checked like `values`."""
    from pareto_align.explorer.runs import any_judged, load_run, scored_by
    from pareto_align.front import FrontTracker

    tracker = FrontTracker([Objective(name="a"), Objective(name="b")], [0.0, 0.0])
    for i, (v, j) in enumerate([([1.0, 2.0], [1.5, 2.0]), ([2.0, 1.0], [3.0, 0.5])]):
        tracker.add_point(Point(id=f"p{i}", method="m", values=v, stderr=[0.1, 0.1], n_samples=4,
                                judged={"values": j, "stderr": [0.2, 0.1]},
                                samples=[{"prompt": "q", "response": "r", "values": v, "judged": j}]))  # fmt: skip
    tracker.add_baseline(Point(id="base", method="base", values=[0.5, 0.5], stderr=[0, 0], n_samples=4,
                               judged={"values": [0.25, 0.5], "stderr": [0, 0]}))  # fmt: skip
    tracker.save(tmp_path)
    front = read_front(tmp_path)
    assert front.metrics.hypervolume == pytest.approx(3.0)  # (1, 2) and (2, 1) from (0, 0)
    assert front.judged_metrics.hypervolume == pytest.approx(1.5 * 2.0 + 1.5 * 0.5)  # (1.5, 2) and (3, 0.5)
    judged = front.scored_by("judges")
    assert judged.F().tolist() == [[1.5, 2.0], [3.0, 0.5]] and judged.F("baselines").tolist() == [[0.25, 0.5]]
    assert judged.points[0].samples[0].values == [1.5, 2.0] and judged.metrics == front.judged_metrics
    assert front.scored_by("evaluation") is front
    run = load_run(tmp_path)
    assert any_judged([run]) and scored_by([run], "judges")[0].front.F().tolist() == judged.F().tolist()
    data = json.loads((tmp_path / "front.json").read_text())
    data["points"][0]["judged"]["values"] = [1.0]
    (tmp_path / "front.json").write_text(json.dumps(data))
    with pytest.raises(FrontFileError, match=r"points\[0\] \(id 'p0'\)\.judged\.values: expected 2 values"):
        read_front(tmp_path)
    unjudged = front.model_copy(
        update={"points": [p.model_copy(update={"judged": None}) for p in front.points]}
    )
    with pytest.raises(ValueError, match="not scored by held-out judges"):
        unjudged.scored_by("judges")
