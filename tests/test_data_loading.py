"""Loading preference data from local files: every container x format, column mapping, errors, split."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from pareto_align.data import DataError, DataFileConfig, PreferenceData, load_preference_files


@dataclass
class Objective:
    name: str
    direction: str = "max"


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path, monkeypatch):
    # The json/parquet builders write Arrow caches; keep them out of the user's ~/.cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def write(
    tmp_path: Path, name: str, rows: list[dict], container: str, extra_splits: dict | None = None
) -> Path:
    """Write rows as a saved Dataset ('disk'), saved DatasetDict ('diskdict'), JSONL or Parquet."""
    if container == "jsonl":
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif container == "parquet":
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif container == "disk":
        path = tmp_path / name
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    elif container == "diskdict":
        path = tmp_path / name
        splits = {"train": datasets.Dataset.from_list(rows)}
        for split, split_rows in (extra_splits or {}).items():
            splits[split] = datasets.Dataset.from_list(split_rows)
        datasets.DatasetDict(splits).save_to_disk(str(path))
    else:
        raise AssertionError(container)
    return path


PAIRWISE_ROWS = [
    {"prompt": "p0", "chosen": "good 0", "rejected": "bad 0", "extra": 1},
    {"prompt": "p1", "chosen": "good 1", "rejected": "bad 1", "extra": 2},
    {"prompt": "p2", "chosen": "good 2", "rejected": "bad 2", "extra": 3},
]

PKU_ROWS = [
    {"prompt": "q0", "response_0": "a0", "response_1": "b0", "better_response_id": 1, "safer_response_id": 0},
    {
        "prompt": "q1",
        "response_0": "a1",
        "response_1": "b1",
        "better_response_id": None,
        "safer_response_id": 1,
    },
    {
        "prompt": "q2",
        "response_0": "a2",
        "response_1": "b2",
        "better_response_id": 0,
        "safer_response_id": None,
    },
]

HELPSTEER_ROWS = [
    {"prompt": "h0", "response": "r0", "helpfulness": 4, "verbosity": 3},
    {"prompt": "h1", "response": "r1", "helpfulness": None, "verbosity": 1},
    {"prompt": "h2", "response": "r2", "helpfulness": 2.5, "verbosity": 0},
]

OBJECTIVES = [Objective("helpful"), Objective("harmless"), Objective("concise", "min")]


def pairwise(path: Path, objective: str = "helpful", **kwargs) -> DataFileConfig:
    return DataFileConfig(path=path, format="pairwise", objective=objective, **kwargs)


def pku(path: Path, **kwargs) -> DataFileConfig:
    labels = kwargs.pop("labels", {"harmless": "safer_response_id", "helpful": "better_response_id"})
    return DataFileConfig(path=path, format="per_objective_labels", labels=labels, **kwargs)


def helpsteer(path: Path, **kwargs) -> DataFileConfig:
    scores = kwargs.pop("scores", {"helpful": "helpfulness", "concise": "verbosity"})
    return DataFileConfig(path=path, format="attribute_scores", scores=scores, **kwargs)


def raises(match_all: list[str], fn, *args, **kwargs) -> str:
    """Call fn, expect DataError, assert every fragment appears in the message; return it."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    for fragment in match_all:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("container", ["disk", "diskdict", "jsonl", "parquet"])
def test_pairwise_plain_in_every_container(tmp_path, container):
    path = write(tmp_path, "pairs", PAIRWISE_ROWS, container)
    data = load_preference_files([pairwise(path, objective="harmless")], OBJECTIVES)
    assert data.objectives == ["helpful", "harmless", "concise"]
    assert data.scores is None
    assert data.pairs.to_dict() == {
        "prompt": ["p0", "p1", "p2"],
        "chosen": ["good 0", "good 1", "good 2"],
        "rejected": ["bad 0", "bad 1", "bad 2"],
        "objective": ["harmless"] * 3,
    }
    harmless = data.pairs_for("harmless")
    assert harmless.column_names == ["prompt", "chosen", "rejected"]
    assert harmless[1] == {"prompt": "p1", "chosen": "good 1", "rejected": "bad 1"}
    assert data.pair_counts() == {"helpful": 0, "harmless": 3, "concise": 0}


@pytest.mark.parametrize("container", ["jsonl", "parquet", "disk"])
def test_pairwise_conversational_keeps_messages(tmp_path, container):
    def msgs(role, text):
        return [{"role": role, "content": text}]

    rows = [
        {
            "prompt": msgs("user", "hi"),
            "chosen": msgs("assistant", "hello"),
            "rejected": msgs("assistant", "go"),
        },
        {
            "prompt": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "yo"}],
            "chosen": msgs("assistant", "hey"),
            "rejected": msgs("assistant", "no"),
        },
    ]
    path = write(tmp_path, "conv", rows, container)
    data = load_preference_files([pairwise(path)], OBJECTIVES)
    assert data.pairs.to_dict() == {
        **{k: [r[k] for r in rows] for k in rows[0]},
        "objective": ["helpful"] * 2,
    }
    assert data.pairs.features["chosen"] == datasets.List(
        {"role": datasets.Value("string"), "content": datasets.Value("string")}
    )


def test_conversational_messages_are_reduced_to_role_and_content(tmp_path):
    rows = [
        {
            "prompt": [{"role": "user", "content": "hi", "name": "ann"}],
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        }
    ] * 2
    data = load_preference_files([pairwise(write(tmp_path, "c", rows, "jsonl"))], OBJECTIVES)
    assert data.pairs[0]["prompt"] == [{"role": "user", "content": "hi"}]


def test_column_mapping_and_max_rows(tmp_path):
    rows = [{"question": r["prompt"], "good": r["chosen"], "bad": r["rejected"]} for r in PAIRWISE_ROWS]
    path = write(tmp_path, "mapped", rows, "parquet")
    cfg = pairwise(path, columns={"prompt": "question", "chosen": "good", "rejected": "bad"}, max_rows=2)
    data = load_preference_files([cfg], OBJECTIVES)
    assert data.pairs.to_dict() == {
        "prompt": ["p0", "p1"],
        "chosen": ["good 0", "good 1"],
        "rejected": ["bad 0", "bad 1"],
        "objective": ["helpful", "helpful"],
    }


@pytest.mark.parametrize("container", ["parquet", "jsonl", "diskdict"])
def test_pku_style_one_pair_per_present_label(tmp_path, container):
    path = write(tmp_path, "pku", PKU_ROWS, container)
    data = load_preference_files([pku(path)], OBJECTIVES)
    # Row-major; within a row, config objective order (helpful before harmless) whatever the labels order.
    assert data.pairs.to_dict() == {
        "prompt": ["q0", "q0", "q1", "q2"],
        "chosen": ["b0", "a0", "b1", "a2"],
        "rejected": ["a0", "b0", "a1", "b2"],
        "objective": ["helpful", "harmless", "harmless", "helpful"],
    }
    assert data.pairs_for("helpful").to_dict() == {
        "prompt": ["q0", "q2"],
        "chosen": ["b0", "a2"],
        "rejected": ["a0", "b2"],
    }
    assert data.pair_counts() == {"helpful": 2, "harmless": 2, "concise": 0}


def test_pku_labels_as_floats_with_nan(tmp_path):
    # pandas-written Parquet turns an int column with gaps into float64 with NaN.
    rows = [
        {"prompt": "q0", "response_0": "a", "response_1": "b", "safer_response_id": 1.0},
        {"prompt": "q1", "response_0": "c", "response_1": "d", "safer_response_id": float("nan")},
        {"prompt": "q2", "response_0": "e", "response_1": "f", "safer_response_id": 0.0},
    ]
    path = write(tmp_path, "pkuf", rows, "parquet")
    data = load_preference_files([pku(path, labels={"harmless": "safer_response_id"})], OBJECTIVES)
    assert data.pairs.to_dict() == {
        "prompt": ["q0", "q2"],
        "chosen": ["b", "e"],
        "rejected": ["a", "f"],
        "objective": ["harmless", "harmless"],
    }


@pytest.mark.parametrize("container", ["diskdict", "jsonl", "parquet"])
def test_helpsteer_scores_negated_for_min_and_nan_where_missing(tmp_path, container):
    path = write(tmp_path, "hs", HELPSTEER_ROWS, container)
    data = load_preference_files([helpsteer(path)], OBJECTIVES)
    assert data.pairs is None
    table = data.scores.to_dict()
    assert table["prompt"] == ["h0", "h1", "h2"]
    assert table["response"] == ["r0", "r1", "r2"]
    # objective order helpful, harmless (no column: NaN), concise = -verbosity (direction min)
    expected = np.array([[4.0, np.nan, -3.0], [np.nan, np.nan, -1.0], [2.5, np.nan, -0.0]])
    np.testing.assert_array_equal(np.array(table["scores"]), expected)


def test_split_of_a_saved_datasetdict(tmp_path):
    path = write(tmp_path, "dd", HELPSTEER_ROWS, "diskdict", extra_splits={"validation": HELPSTEER_ROWS[::2]})
    data = load_preference_files([helpsteer(path, split="validation")], OBJECTIVES)
    assert data.scores["prompt"][:] == ["h0", "h2"]


def test_files_merge_and_relative_paths_resolve_against_base_dir(tmp_path):
    write(tmp_path, "pairs", PAIRWISE_ROWS, "jsonl")
    write(tmp_path, "pku", PKU_ROWS, "parquet")
    write(tmp_path, "hs", HELPSTEER_ROWS, "jsonl")
    files = [
        pairwise(Path("pairs.jsonl"), objective="concise"),
        pku(Path("pku.parquet")),
        helpsteer(Path("hs.jsonl")),
    ]
    data = load_preference_files(files, OBJECTIVES, base_dir=tmp_path)
    assert data.pair_counts() == {"helpful": 2, "harmless": 2, "concise": 3}
    assert data.pairs["objective"][:] == ["concise"] * 3 + ["helpful", "harmless", "harmless", "helpful"]
    assert data.pairs_for("concise")["chosen"][:] == ["good 0", "good 1", "good 2"]
    assert len(data.scores) == 3


# ------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    raises(
        [str(tmp_path / "nope.jsonl"), "not found"],
        load_preference_files,
        [pairwise(tmp_path / "nope.jsonl")],
        OBJECTIVES,
    )


@pytest.mark.parametrize("container", ["jsonl", "parquet", "disk"])
def test_missing_column_lists_available(tmp_path, container):
    path = write(tmp_path, "pairs", PAIRWISE_ROWS, container)
    cfg = pairwise(path, columns={"chosen": "winner"})
    raises(
        [str(path), "'winner'", "`chosen`", "available columns: prompt, chosen, rejected, extra"],
        load_preference_files,
        [cfg],
        OBJECTIVES,
    )


def test_missing_label_and_score_columns(tmp_path):
    path = write(tmp_path, "pku", PKU_ROWS, "jsonl")
    cfg = pku(path, labels={"helpful": "better_id"})
    raises(
        [str(path), "'better_id'", "label of objective 'helpful'"], load_preference_files, [cfg], OBJECTIVES
    )
    path = write(tmp_path, "hs", HELPSTEER_ROWS, "jsonl")
    cfg = helpsteer(path, scores={"concise": "length"})
    raises([str(path), "'length'", "score of objective 'concise'"], load_preference_files, [cfg], OBJECTIVES)


def test_empty_splits(tmp_path):
    empty_jsonl = tmp_path / "empty.jsonl"
    empty_jsonl.write_text("")
    raises(
        [str(empty_jsonl), "split 'train' is empty"],
        load_preference_files,
        [pairwise(empty_jsonl)],
        OBJECTIVES,
    )

    empty_parquet = tmp_path / "empty.parquet"
    schema = pa.schema([(c, pa.string()) for c in ("prompt", "chosen", "rejected")])
    pq.write_table(schema.empty_table(), empty_parquet)
    raises(
        [str(empty_parquet), "split 'train' is empty"],
        load_preference_files,
        [pairwise(empty_parquet)],
        OBJECTIVES,
    )

    path = tmp_path / "dd"
    full = datasets.Dataset.from_list(PAIRWISE_ROWS)
    datasets.DatasetDict({"train": full, "test": full.select([])}).save_to_disk(str(path))
    # datasets 5.2 saves an empty split without a shard and cannot load it back; it is still an empty split
    raises(
        [str(path), "split 'test' is empty", "available splits: train, test"],
        load_preference_files,
        [pairwise(path, split="test")],
        OBJECTIVES,
    )
    single = tmp_path / "empty_saved"
    full.select([]).save_to_disk(str(single))
    raises([str(single), "split 'train' is empty"], load_preference_files, [pairwise(single)], OBJECTIVES)


def test_unknown_split(tmp_path):
    path = write(tmp_path, "dd", PAIRWISE_ROWS, "diskdict", extra_splits={"validation": PAIRWISE_ROWS})
    raises(
        [str(path), "split 'dev' not found", "available splits: train, validation"],
        load_preference_files,
        [pairwise(path, split="dev")],
        OBJECTIVES,
    )
    for container in ("jsonl", "disk"):
        path = write(tmp_path, f"single_{container}", PAIRWISE_ROWS, container)
        raises(
            [str(path), "split 'dev' not found", "'train'"],
            load_preference_files,
            [pairwise(path, split="dev")],
            OBJECTIVES,
        )


def test_unknown_objective_names_fail_before_reading(tmp_path):
    missing = tmp_path / "never_read.jsonl"  # does not exist: the name check must come first
    configured = "configured objectives: helpful, harmless, concise"
    raises(
        [str(missing), "'kind'", "`objective`", configured],
        load_preference_files,
        [pairwise(missing, objective="kind")],
        OBJECTIVES,
    )
    cfg = pku(missing, labels={"safe": "safer_response_id"})
    raises([str(missing), "'safe'", "`labels`", configured], load_preference_files, [cfg], OBJECTIVES)
    cfg = helpsteer(missing, scores={"verbose": "verbosity"})
    raises([str(missing), "'verbose'", "`scores`", configured], load_preference_files, [cfg], OBJECTIVES)


@pytest.mark.parametrize("bad", [2, -1, 0.5, "safe", True])
def test_label_out_of_range(tmp_path, bad):
    rows = [dict(row) for row in PKU_ROWS]
    rows[2]["safer_response_id"] = bad
    path = write(tmp_path, "pku", rows, "jsonl")
    raises(
        [str(path), "row 2", "'safer_response_id'", "expected 0 or 1", repr(bad)],
        load_preference_files,
        [pku(path)],
        OBJECTIVES,
    )


def test_pku_file_without_any_label(tmp_path):
    rows = [{**row, "safer_response_id": None} for row in PKU_ROWS]
    path = write(tmp_path, "pku", rows, "jsonl")
    cfg = pku(path, labels={"harmless": "safer_response_id"})
    raises([str(path), "'safer_response_id'", "no row has a label"], load_preference_files, [cfg], OBJECTIVES)


@pytest.mark.parametrize("bad", ["high", float("inf"), [1]])
def test_bad_score(tmp_path, bad):
    rows = [dict(row) for row in HELPSTEER_ROWS]
    rows[1]["helpfulness"] = bad
    path = write(tmp_path, "hs", rows, "parquet" if isinstance(bad, float) else "jsonl")
    raises(
        [str(path), "row 1", "'helpfulness'", "score of objective 'helpful'"],
        load_preference_files,
        [helpsteer(path)],
        OBJECTIVES,
    )


def test_mixed_plain_and_conversational_within_a_file(tmp_path):
    conv = [{"role": "user", "content": "hi"}]
    rows = [dict(PAIRWISE_ROWS[0]), {**PAIRWISE_ROWS[1], "prompt": conv}]
    path = write(tmp_path, "mixed_rows", rows, "jsonl")
    raises(
        [str(path), "mixes plain text and conversational", "row 1, column 'prompt'"],
        load_preference_files,
        [pairwise(path)],
        OBJECTIVES,
    )

    rows = [{**row, "chosen": [{"role": "assistant", "content": row["chosen"]}]} for row in PAIRWISE_ROWS]
    path = write(tmp_path, "mixed_columns", rows, "parquet")
    raises(
        [str(path), "mixes plain text and conversational", "column 'chosen'"],
        load_preference_files,
        [pairwise(path)],
        OBJECTIVES,
    )


def test_mixed_formats_across_files(tmp_path):
    plain = write(tmp_path, "plain", PAIRWISE_ROWS, "jsonl")
    conv_rows = [
        {k: [{"role": "user", "content": v}] for k, v in row.items() if k != "extra"} for row in PAIRWISE_ROWS
    ]
    conv = write(tmp_path, "conv", conv_rows, "jsonl")
    raises(
        [str(conv), str(plain), "conversational", "plain"],
        load_preference_files,
        [pairwise(plain), pairwise(conv, objective="harmless")],
        OBJECTIVES,
    )


@pytest.mark.parametrize(
    "bad", [None, 3, [], [{"content": "no role"}], [{"role": "user", "content": ["part"]}]]
)
def test_text_that_is_neither_string_nor_messages(tmp_path, bad):
    rows = [dict(row) for row in PAIRWISE_ROWS]
    rows[1]["rejected"] = bad
    path = write(tmp_path, "bad_text", rows, "jsonl")
    raises(
        [str(path), "row 1, column 'rejected'", "expected a string or a non-empty list"],
        load_preference_files,
        [pairwise(path)],
        OBJECTIVES,
    )


def test_unreadable_inputs(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("prompt,chosen,rejected\n")
    txt = tmp_path / "data.txt"
    txt.write_text("prompt,chosen,rejected\n")
    raises([str(txt), "unsupported file type '.txt'"], load_preference_files, [pairwise(txt)], OBJECTIVES)
    raises([str(csv), "split 'train' is empty"], load_preference_files, [pairwise(csv)], OBJECTIVES)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n{not json\n')
    raises([str(broken), "could not read as json"], load_preference_files, [pairwise(broken)], OBJECTIVES)
    folder = tmp_path / "just_a_folder"
    folder.mkdir()
    raises([str(folder), "save_to_disk"], load_preference_files, [pairwise(folder)], OBJECTIVES)


def test_objective_list_is_checked(tmp_path):
    path = write(tmp_path, "pairs", PAIRWISE_ROWS, "jsonl")
    raises(
        ["'helpful'", "more than once"],
        load_preference_files,
        [pairwise(path)],
        [Objective("helpful"), Objective("helpful")],
    )
    raises(
        ["'helpful'", "direction", "'up'"],
        load_preference_files,
        [pairwise(path)],
        [Objective("helpful", "up")],
    )
    raises(["no data files"], load_preference_files, [], OBJECTIVES)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"format": "pairwise"}, "needs `objective`"),
        ({"format": "per_objective_labels"}, "needs `labels`"),
        ({"format": "attribute_scores"}, "needs `scores`"),
        ({"format": "pairwise", "objective": "a", "labels": {"a": "x"}}, "`labels` does not apply"),
        (
            {"format": "attribute_scores", "scores": {"a": "x"}, "objective": "a"},
            "`objective` does not apply",
        ),
        (
            {"format": "pairwise", "objective": "a", "columns": {"response": "x"}},
            "unknown key(s) in `columns`",
        ),
        ({"format": "pairwise", "objective": "a", "max_rows": 0}, "max_rows"),
        ({"format": "pairwise", "objective": "a", "colums": {}}, "colums"),
        ({"format": "scores"}, "format"),
    ],
)
def test_config_validation(fields, fragment):
    with pytest.raises(ValidationError) as info:
        DataFileConfig(path="data/x.jsonl", **fields)
    assert fragment in str(info.value)


def test_pairs_for_errors(tmp_path):
    data = load_preference_files([pairwise(write(tmp_path, "p", PAIRWISE_ROWS, "jsonl"))], OBJECTIVES)
    raises(["'kind'", "configured objectives: helpful, harmless, concise"], data.pairs_for, "kind")
    raises(
        ["no preference pairs for objective 'harmless'", "objectives with pairs: helpful"],
        data.pairs_for,
        "harmless",
    )


# -------------------------------------------------------------------------------------------- split


def _split_fixture() -> PreferenceData:
    prompts = [f"prompt {i}" for i in range(20)]
    pair_prompts = [p for p in prompts for _ in range(3)]  # three pairs per prompt
    pairs = datasets.Dataset.from_dict(
        {
            "prompt": pair_prompts,
            "chosen": [f"c{i}" for i in range(60)],
            "rejected": [f"r{i}" for i in range(60)],
            "objective": ["a", "b", "a"] * 20,
        }
    )
    score_prompts = prompts[::2] + ["scores only"]
    scores = datasets.Dataset.from_dict(
        {
            "prompt": score_prompts,
            "response": [f"s{i}" for i in range(11)],
            "scores": [[float(i), 0.0] for i in range(11)],
        }
    )
    return PreferenceData(objectives=["a", "b"], pairs=pairs, scores=scores)


def test_split_groups_by_prompt_and_is_deterministic():
    data = _split_fixture()
    train, test = data.split(test_fraction=0.25, seed=3)
    train_prompts = set(train.pairs["prompt"][:]) | set(train.scores["prompt"][:])
    test_prompts = set(test.pairs["prompt"][:]) | set(test.scores["prompt"][:])
    assert not train_prompts & test_prompts
    assert len(test_prompts) == round(0.25 * 21)  # 21 distinct prompts over pairs and scores
    # every row lands on exactly one side, in its original order
    assert sorted(train.pairs["chosen"][:] + test.pairs["chosen"][:]) == sorted(data.pairs["chosen"][:])
    assert len(train.scores) + len(test.scores) == 11
    rows = [int(c[1:]) for c in test.pairs["chosen"][:]]
    assert rows == sorted(rows) and len(rows) % 3 == 0
    assert train.objectives == ["a", "b"] and set(test.pairs.column_names) == {
        "prompt",
        "chosen",
        "rejected",
        "objective",
    }

    again_train, again_test = data.split(test_fraction=0.25, seed=3)
    assert (
        again_test.pairs.to_dict() == test.pairs.to_dict()
        and again_train.scores.to_dict() == train.scores.to_dict()
    )
    others = {tuple(sorted(set(data.split(0.25, seed=s)[1].pairs["prompt"][:]))) for s in range(4, 9)}
    assert len(others | {tuple(sorted(set(test.pairs["prompt"][:])))}) > 1  # the seed matters


def test_split_keeps_absent_kinds_absent_and_checks_fraction():
    data = _split_fixture()
    only_pairs = PreferenceData(objectives=data.objectives, pairs=data.pairs)
    train, test = only_pairs.split(0.5, seed=0)
    assert train.scores is None and test.scores is None
    assert len(set(test.pairs["prompt"][:])) == 10
    with pytest.raises(ValueError, match="test_fraction"):
        data.split(1.0, seed=0)
    tiny = PreferenceData(objectives=["a"], pairs=data.pairs.select([0, 1]))
    raises(["1 distinct prompt"], tiny.split, 0.5, 0)


def test_split_groups_conversational_prompts():
    conv = [[{"role": "user", "content": f"q{i % 4}"}] for i in range(12)]
    answer = [[{"role": "assistant", "content": f"a{i}"}] for i in range(12)]
    pairs = datasets.Dataset.from_dict(
        {"prompt": conv, "chosen": answer, "rejected": answer, "objective": ["a"] * 12}
    )
    train, test = PreferenceData(objectives=["a"], pairs=pairs).split(0.5, seed=1)
    as_text = lambda side: {m[0]["content"] for m in side.pairs["prompt"][:]}  # noqa: E731
    assert len(as_text(test)) == 2 and not as_text(train) & as_text(test)
    assert len(test.pairs) == 6
    assert math.isclose(len(train.pairs) / len(pairs), 0.5)


# ------------------------------------------------------- the most used preference datasets, as TRL reads them


def _turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


ULTRAFEEDBACK_ROWS = [  # HuggingFaceH4/ultrafeedback_binarized: a prompt string, conversations that repeat it
    {
        "prompt": f"question {i}",
        "prompt_id": f"id{i}",
        "chosen": _turns(("user", f"question {i}"), ("assistant", f"good {i}")),
        "rejected": _turns(("user", f"question {i}"), ("assistant", f"bad {i}")),
        "score_chosen": 8.0,
        "score_rejected": 3.0,
    }
    for i in range(3)
]


def test_ultrafeedback_binarized_from_a_hub_style_folder(tmp_path):
    # The hub repository's layout (data/<split>-00000-of-00001.parquet), read through `hub:` by load_dataset:
    # the same call that reads HuggingFaceH4/ultrafeedback_binarized by name.
    folder = tmp_path / "ultrafeedback_binarized"
    (folder / "data").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(ULTRAFEEDBACK_ROWS), folder / "data" / "train_prefs-00000-of-00001.parquet"
    )
    pq.write_table(
        pa.Table.from_pylist(ULTRAFEEDBACK_ROWS[:1]), folder / "data" / "test_prefs-00000-of-00001.parquet"
    )
    cfg = DataFileConfig(hub=str(folder), split="train_prefs", format="pairwise", objective="helpful")
    data = load_preference_files([cfg], OBJECTIVES)
    assert len(data.pairs) == 3
    row = data.pairs[1]
    # the repeated prompt turn becomes a conversational prompt (TRL's maybe_extract_prompt)
    assert row["prompt"] == _turns(("user", "question 1"))
    assert row["chosen"] == _turns(("assistant", "good 1"))
    assert row["rejected"] == _turns(("assistant", "bad 1"))
    assert cfg.where == f"hub dataset {folder}"
    missing = DataFileConfig(hub=str(folder), split="train_sft", format="pairwise", objective="helpful")
    raises(
        [f"hub dataset {folder}", "could not load split 'train_sft'"],
        load_preference_files,
        [missing],
        OBJECTIVES,
    )


@pytest.mark.parametrize("container", ["jsonl", "disk"])
def test_implicit_prompt_conversational_and_plain(tmp_path, container):
    conv_rows = [  # TRL's implicit-prompt format: no prompt column, shared first turns
        {
            "chosen": _turns(("system", "be kind"), ("user", f"q{i}"), ("assistant", f"good {i}")),
            "rejected": _turns(("system", "be kind"), ("user", f"q{i}"), ("assistant", f"bad {i}")),
        }
        for i in range(2)
    ]
    data = load_preference_files([pairwise(write(tmp_path, "conv", conv_rows, container))], OBJECTIVES)
    assert data.pairs[1]["prompt"] == _turns(("system", "be kind"), ("user", "q1"))
    assert data.pairs[1]["chosen"] == _turns(("assistant", "good 1"))
    plain_rows = [  # Anthropic HH-RLHF style plain text
        {
            "chosen": f"\n\nHuman: q{i}\n\nAssistant: yes {i}",
            "rejected": f"\n\nHuman: q{i}\n\nAssistant: no {i}",
        }
        for i in range(2)
    ]
    data = load_preference_files([pairwise(write(tmp_path, "plain", plain_rows, container))], OBJECTIVES)
    assert data.pairs[0]["prompt"] == "\n\nHuman: q0\n\nAssistant:"
    assert (data.pairs[0]["chosen"], data.pairs[0]["rejected"]) == (" yes 0", " no 0")


def test_implicit_prompt_errors_name_the_row(tmp_path):
    rows = [dict(ULTRAFEEDBACK_ROWS[0]), {**ULTRAFEEDBACK_ROWS[1], "chosen": _turns(("assistant", "only"))}]
    path = write(tmp_path, "no_shared_turn", rows, "jsonl")
    raises([str(path), "row 1", "share no leading turns", "not repeated"], load_preference_files,
           [pairwise(path)], OBJECTIVES)  # fmt: skip
    same = [{"chosen": _turns(("user", "q"), ("assistant", "a")), "rejected": _turns(("user", "q"))}]
    path = write(tmp_path, "prefix", same, "jsonl")
    raises(
        [str(path), "row 0", "one repeats the other"],
        load_preference_files,
        [pairwise(path)],
        OBJECTIVES,
    )
    mixed = [{"chosen": _turns(("user", "q"), ("assistant", "a")), "rejected": "plain"}]
    path = write(tmp_path, "mixed_implicit", mixed, "jsonl")
    raises([str(path), "mixes plain text and conversational", "row 0"], load_preference_files,
           [pairwise(path)], OBJECTIVES)  # fmt: skip


def test_csv_files(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text('prompt,chosen,rejected\np0,"good, 0",bad 0\np1,good 1,bad 1\n')
    labels = tmp_path / "pku.csv"
    labels.write_text(
        "prompt,response_0,response_1,better_response_id,safer_response_id\nq0,a0,b0,1,0\nq1,a1,b1,,1\n"
    )
    scores = tmp_path / "helpsteer.csv"
    scores.write_text("prompt,response,helpfulness,verbosity\nh0,r0,4,3\nh1,r1,2,1\n")
    data = load_preference_files([pairwise(pairs), pku(labels), helpsteer(scores)], OBJECTIVES)
    assert data.pairs["chosen"][:2] == ["good, 0", "good 1"]
    assert data.pair_counts() == {"helpful": 3, "harmless": 2, "concise": 0}
    assert data.pairs[4]["chosen"] == "b1"  # q1: no helpful label (empty cell), harmless label 1
    assert data.scores[0]["scores"][0] == 4.0 and data.scores[0]["scores"][2] == -3.0


def test_hub_config_fields():
    with pytest.raises(ValidationError, match="exactly one of `path`"):
        DataFileConfig(format="pairwise", objective="a")
    with pytest.raises(ValidationError, match="exactly one of `path`"):
        DataFileConfig(path="x.jsonl", hub="org/name", format="pairwise", objective="a")
    with pytest.raises(ValidationError, match="`revision` applies to `hub` datasets only"):
        DataFileConfig(path="x.jsonl", revision="main", format="pairwise", objective="a")
    cfg = DataFileConfig(hub="org/name", subset="default", revision="abc", format="pairwise", objective="a")
    assert cfg.where == "hub dataset org/name (subset=default, revision=abc)"


# ------------------------------------------------------------------------------------ degenerate data


def test_rows_whose_chosen_equals_rejected_are_dropped_with_one_warning_line(tmp_path):
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(10)]
    for i in (1, 3, 4, 6, 7, 9):
        rows[i]["rejected"] = rows[i]["chosen"]
    path = write(tmp_path, "ties", rows, "jsonl")
    lines: list[str] = []
    data = load_preference_files([pairwise(path)], OBJECTIVES, log=lines.append)
    assert data.pairs["prompt"] == ["p0", "p2", "p5", "p8"]
    assert data.pairs["rejected"] == ["bad 0", "bad 2", "bad 5", "bad 8"]
    assert lines == [f"warning: {path}: dropped 6 row(s) whose 'chosen' equals 'rejected' (no preference to "
                     "learn): row(s) 1, 3, 4, 6, 7, ..."]  # fmt: skip
    quiet: list[str] = []
    clean = write(tmp_path, "clean", PAIRWISE_ROWS, "jsonl")
    load_preference_files([pairwise(clean)], OBJECTIVES, log=quiet.append)
    assert quiet == []


def test_dropped_rows_keep_file_row_numbers_in_later_errors(tmp_path):
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)]
    rows[1]["rejected"] = rows[1]["chosen"]
    rows[3]["prompt"] = [{"role": "user", "content": "p3"}]  # mixed: reported at its row in the file
    path = write(tmp_path, "mixed_after_drop", rows, "jsonl")
    raises([str(path), "mixes plain text and conversational", "row 3, column 'prompt'"], load_preference_files,
           [pairwise(path)], OBJECTIVES, log=lambda line: None)  # fmt: skip


def test_identical_conversations_without_prompt_column_are_dropped_not_refused(tmp_path):
    # TRL's implicit prompt cannot be extracted from identical texts: before, the whole file was refused
    rows = [
        {"chosen": _turns(("user", f"q{i}"), ("assistant", f"good {i}")),
         "rejected": _turns(("user", f"q{i}"), ("assistant", "same" if i == 0 else f"bad {i}"))}
        for i in range(3)
    ]  # fmt: skip
    rows[0]["chosen"] = rows[0]["rejected"]
    path = write(tmp_path, "implicit", rows, "jsonl")
    lines: list[str] = []
    data = load_preference_files([pairwise(path)], OBJECTIVES, log=lines.append)
    assert data.pairs["prompt"] == [_turns(("user", "q1")), _turns(("user", "q2"))]
    assert len(lines) == 1 and "dropped 1 row(s)" in lines[0] and lines[0].endswith("row(s) 0")


def test_labelled_rows_with_the_same_response_twice_are_dropped(tmp_path):
    labelled_twice = {"response_0": "a3", "response_1": "b3", "better_response_id": 1, "safer_response_id": 1}
    rows = [dict(r) for r in PKU_ROWS] + [{"prompt": "q3", **labelled_twice}]
    rows[0]["response_1"] = rows[0]["response_0"]  # labelled for both objectives: both pairs go
    path = write(tmp_path, "pku_same", rows, "parquet")
    lines: list[str] = []
    data = load_preference_files([pku(path)], OBJECTIVES, log=lines.append)
    assert data.pairs["prompt"] == ["q1", "q2", "q3", "q3"]
    assert data.pair_counts() == {"helpful": 2, "harmless": 2, "concise": 0}
    assert lines == [f"warning: {path}: dropped 1 row(s) whose 'response_0' equals 'response_1' (no preference "
                     "to learn): row(s) 0"]  # fmt: skip


def test_an_objective_left_without_enough_pairs_is_refused_naming_file_and_objective(tmp_path):
    rows = [{"prompt": f"p{i}", "chosen": "same", "rejected": "same"} for i in range(4)]
    path = write(tmp_path, "all_same", rows, "jsonl")
    lines: list[str] = []
    message = raises([str(path), "objective 'harmless' has 0 usable preference pair(s) after 4 row(s) without a "
                      "preference were dropped; at least 2 are needed"], load_preference_files,
                     [pairwise(path, objective="harmless")], OBJECTIVES, log=lines.append)  # fmt: skip
    assert "\n" not in message and len(lines) == 1
    one = write(tmp_path, "one", PAIRWISE_ROWS[:1], "jsonl")
    raises([str(one), "objective 'helpful' has 1 usable preference pair(s); at least 2"], load_preference_files,
           [pairwise(one)], OBJECTIVES)  # fmt: skip
    # the minimum counts an objective's pairs over every file that gives them
    other = write(tmp_path, "other", PAIRWISE_ROWS[1:2], "jsonl")
    data = load_preference_files([pairwise(one), pairwise(other)], OBJECTIVES)
    assert data.pair_counts()["helpful"] == 2


def test_the_cli_refuses_identical_pairs_in_one_line_before_training(tmp_path, capsys, tiny_policy_dir):
    from conftest import tiny_sweep_dict

    from pareto_align import cli

    rows = [{"prompt": f"p{i}", "chosen": "same", "rejected": "same"} for i in range(4)]
    path = write(tmp_path, "same", rows, "jsonl")
    fine = write(tmp_path, "fine", PAIRWISE_ROWS, "jsonl")
    config = tiny_sweep_dict(tmp_path / "cache")
    files = [{"path": str(path), "format": "pairwise", "objective": "helpful"},
             {"path": str(fine), "format": "pairwise", "objective": "length"}]  # fmt: skip
    config["data"] = {"source": "files", "files": files}
    config["evaluation"]["scorer"] = "reward_model"
    config["policy"] = {"model": tiny_policy_dir}  # only its tokenizer is read before the data
    (tmp_path / "c.yaml").write_text(json.dumps(config))
    argv = ["sweep", str(tmp_path / "c.yaml"), "--output-dir", str(tmp_path / "run"), "--no-progress"]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"warning: {path}: dropped 4 row(s) whose 'chosen' equals 'rejected' (no "
                                "preference to learn): row(s) 0, 1, 2, 3"]  # fmt: skip
    assert err.strip() == (f"error: {path}: objective 'helpful' has 0 usable preference pair(s) after 4 row(s) "
                           "without a preference were dropped; at least 2 are needed")  # fmt: skip
    assert not (tmp_path / "run" / "reward_model").exists()


@pytest.mark.parametrize("container", ["jsonl", "parquet"])
def test_a_constant_score_column_is_refused_naming_file_and_column(tmp_path, container):
    rows = [{**r, "helpfulness": 3} for r in HELPSTEER_ROWS]
    rows[1]["helpfulness"] = None  # a row without a score does not make the column vary
    path = write(tmp_path, "flat", rows, container)
    raises([str(path), "column 'helpfulness' (score of objective 'helpful')", "every scored row (2) has the same "
            "score, 3", "ranks no response"], load_preference_files, [helpsteer(path)], OBJECTIVES)  # fmt: skip
    rows = [{**r, "verbosity": None} for r in HELPSTEER_ROWS]
    path = write(tmp_path, "empty_column", rows, "jsonl")
    raises([str(path), "column 'verbosity' (score of objective 'concise'): no row has a score"],
           load_preference_files, [helpsteer(path)], OBJECTIVES)  # fmt: skip
