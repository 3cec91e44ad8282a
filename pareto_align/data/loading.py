"""Read multi-objective preference data from local files into one canonical form.

Every file is read with the `datasets` library (``load_from_disk`` for saved datasets, the packaged
``json``, ``parquet`` and ``csv`` builders for single files, ``load_dataset(name)`` for a ``hub`` dataset)
and converted, whatever its format, into at most two datasets:

- ``pairs``: ``prompt``, ``chosen``, ``rejected``, ``objective`` -- one preference pair per row, texts as
  plain strings or as conversational lists of ``{"role", "content"}`` messages (both are TRL formats);
- ``scores``: ``prompt``, ``response``, ``scores`` -- one response per row with a list of K floats in
  objective (config) order, NaN where the file gives no score for that objective.

Sign convention. Everything is maximized inside the toolkit. Preference labels already say which response
is better, so pairs never change with an objective's direction. Absolute attribute scores do: the score of
an objective declared ``direction: min`` is negated here, at load time, which is where attribute data is
"scored". A HelpSteer ``verbosity`` of 3 for an objective ``verbosity`` (min) is therefore stored as -3.

Pairwise prompts are read as TRL reads them (``trl.data_utils.maybe_extract_prompt``): without a ``prompt``
column the prompt is the leading turns (or characters) that chosen and rejected share; a ``prompt`` string
next to conversational chosen/rejected that repeat it (UltraFeedback-binarized) is replaced by the shared
leading turns, so the prompt becomes conversational too.

Degenerate data. A pair whose chosen equals its rejected (a pairwise row, or a labelled row whose two responses
are the same) states no preference: such rows are dropped, with one warning line per file giving their count and
first row numbers. An objective that files give pairs for and that is left with fewer than
``MIN_PAIRS_PER_OBJECTIVE`` pairs is refused, as is an attribute-score column whose scores are all equal (or
absent): it ranks no response.

Rows in error messages are counted from 0, in the order of the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.table import InMemoryTable

from .formats import CANONICAL_COLUMNS, DataError, DataFileConfig

TextStyle = Literal["plain", "conversational"]

_TEXT_FEATURES: dict[str, Any] = {
    "plain": datasets.Value("string"),
    "conversational": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
}
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_FORMAT_FIELD = {"pairwise": "objective", "per_objective_labels": "labels", "attribute_scores": "scores"}

# The fewest preference pairs an objective may train on. Two is the least that the prompt-grouped splits (held-out
# prompts for evaluation, the reward model's held-out accuracy) can put one pair on each side of; it is a floor
# against degenerate files, not a recommendation: preference learning needs thousands.
MIN_PAIRS_PER_OBJECTIVE = 2
_ROWS_SHOWN = 5  # first row numbers named in the warning about dropped rows


class ObjectiveLike(Protocol):
    """What loading needs to know about an objective (the config's objective spec satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def direction(self) -> str: ...  # "max" or "min"


@dataclass
class PreferenceData:
    """Canonical preference data of K objectives.

    Attributes:
        objectives: objective names, in config order (K of them).
        pairs: rows (prompt, chosen, rejected, objective), or None when no file gives pairs.
        scores: rows (prompt, response, scores) with ``scores`` a list of K floats (NaN = no score),
            already in the maximize convention; None when no file gives scores.
    """

    objectives: list[str]
    pairs: datasets.Dataset | None = None
    scores: datasets.Dataset | None = None

    def pair_counts(self) -> dict[str, int]:
        """Number of preference pairs per objective, in objective order."""
        counts = dict.fromkeys(self.objectives, 0)
        if self.pairs is not None:
            for name in _column(self.pairs, "objective"):
                counts[name] += 1
        return counts

    def pairs_for(self, objective: str) -> datasets.Dataset:
        """The pairs of one objective, columns prompt/chosen/rejected (TRL's preference format)."""
        if objective not in self.objectives:
            raise DataError(
                f"unknown objective '{objective}' (configured objectives: {', '.join(self.objectives)})"
            )
        names = _column(self.pairs, "objective") if self.pairs is not None else []
        rows = [i for i, name in enumerate(names) if name == objective]
        if not rows:
            with_pairs = [name for name, count in self.pair_counts().items() if count] or ["none"]
            raise DataError(
                f"no preference pairs for objective '{objective}' "
                f"(objectives with pairs: {', '.join(with_pairs)})"
            )
        return self.pairs.select(rows).remove_columns("objective")

    def split(self, test_fraction: float, seed: int) -> tuple[PreferenceData, PreferenceData]:
        """Split into (train, test), grouped by prompt so that no prompt is on both sides.

        The distinct prompts of ``pairs`` and ``scores`` together are shuffled with ``seed`` and
        ``round(test_fraction * n_prompts)`` of them (at least one, never all) go to the test side, so
        the fraction counts prompts, not rows. The same data and seed always give the same split; rows
        keep their original order on each side.
        """
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        pair_keys = _prompt_keys(self.pairs)
        score_keys = _prompt_keys(self.scores)
        # Sorted so that the split depends on the prompts only, not on file order or hash seeds.
        prompts = sorted(set(pair_keys) | set(score_keys))
        if len(prompts) < 2:
            raise DataError(f"cannot split data with {len(prompts)} distinct prompt(s); at least 2 needed")
        n_test = min(len(prompts) - 1, max(1, round(test_fraction * len(prompts))))
        order = np.random.default_rng(seed).permutation(len(prompts))
        test_prompts = {prompts[i] for i in order[:n_test]}

        def side(is_test: bool) -> PreferenceData:
            return PreferenceData(
                objectives=list(self.objectives),
                pairs=_select_by_prompt(self.pairs, pair_keys, test_prompts, is_test),
                scores=_select_by_prompt(self.scores, score_keys, test_prompts, is_test),
            )

        return side(False), side(True)


def load_preference_files(
    files: Sequence[DataFileConfig],
    objectives: Sequence[ObjectiveLike],
    base_dir: Path | None = None,
    prompt_format: Literal["chat", "plain"] | None = None,
    log: Callable[[str], None] = print,
) -> PreferenceData:
    """Read every file and merge them into one `PreferenceData`.

    Args:
        files: the ``data.files`` entries of the config.
        objectives: the configured objectives (``.name``, ``.direction``), in config order.
        base_dir: folder that relative paths resolve against (the YAML file's folder); default the
            current directory.
        prompt_format: the run's resolved prompt format (see `models/chat.py`): ``chat`` wraps the texts of
            plain files as messages (prompt: a user turn; responses: an assistant turn), so plain and
            conversational files mix; ``plain`` refuses conversational files; None keeps each file as it is
            (files of both kinds cannot then be merged).
        log: receives one ``warning: ...`` line per file that had rows dropped (chosen equal to rejected).

    Raises:
        DataError: naming the file and the column or field -- missing file or column, empty or unknown
            split, unknown objective, label not 0/1, non-numeric score, text that is neither a string nor
            a message list, plain and conversational texts mixed within a file or across files (without
            ``chat``), conversational texts in a ``plain`` run, an objective left with fewer than
            ``MIN_PAIRS_PER_OBJECTIVE`` pairs, a score column without two different scores.
    """
    names = _check_objectives(objectives)
    if not files:
        raise DataError("no data files given (data.files is empty)")
    # A local source is named by its resolved path, a hub dataset by its name (see DataFileConfig.where).
    paths = [cfg.where if cfg.hub is not None else _resolve(cfg.path, base_dir) for cfg in files]
    # Objective names are checked for every file before any file is read: a typo fails fast.
    for cfg, path in zip(files, paths, strict=True):
        field = _FORMAT_FIELD[cfg.format]
        for name in cfg.objective_names:
            if name not in names:
                raise DataError(
                    f"{path}: unknown objective '{name}' in `{field}` (configured objectives: {', '.join(names)})"
                )
    parts = [
        _convert(cfg, path, _read(cfg, path), objectives) for cfg, path in zip(files, paths, strict=True)
    ]
    for part in parts:
        if part.warning is not None:
            log(f"warning: {part.warning}")
    _check_pair_counts(parts, names)
    parts = [_in_format(part, prompt_format) for part in parts]
    return PreferenceData(
        objectives=names,
        pairs=_merge([p for p in parts if p.kind == "pairs"]),
        scores=_merge([p for p in parts if p.kind == "scores"]),
    )


# ---------------------------------------------------------------------------------------------- reading


def _resolve(path: Path, base_dir: Path | None) -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def _read(cfg: DataFileConfig, where: Path | str) -> datasets.Dataset:
    if cfg.hub is None:
        return _read_split(Path(where), cfg.split, cfg.max_rows)
    return _read_hub(cfg, str(where))


def _read_hub(cfg: DataFileConfig, where: str) -> datasets.Dataset:
    """One split of a dataset given by name (or a local folder of data files), as `load_dataset` reads it."""
    try:
        table = datasets.load_dataset(cfg.hub, name=cfg.subset, revision=cfg.revision, split=cfg.split)
    except Exception as err:  # unknown name, split or subset, offline, ... surface as many exception types
        raise DataError(f"{where}: could not load split '{cfg.split}': {err}") from err
    if len(table) == 0:
        raise DataError(f"{where}: split '{cfg.split}' is empty")
    if cfg.max_rows is not None and cfg.max_rows < len(table):
        table = table.select(range(cfg.max_rows))
    return table


def _read_split(path: Path, split: str, max_rows: int | None) -> datasets.Dataset:
    """One split of a saved dataset, JSON(L) file or Parquet file, cut to ``max_rows``."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        table, available = _read_saved(path, split)
    else:
        builder = _BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DataError(
                f"{path}: unsupported file type '{path.suffix}' (expected .jsonl, .json, .parquet, .csv or a "
                "folder written by datasets.save_to_disk)"
            )
        if split != "train":
            raise DataError(f"{path}: split '{split}' not found (a single file holds one split, 'train')")
        available = ["train"]
        # Both builders fail obscurely on a file without rows; to the user that is just an empty split.
        if _has_no_rows(path, builder):
            raise DataError(f"{path}: split 'train' is empty (available splits: train)")
        try:
            table = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as err:  # parse errors surface as several exception types
            raise DataError(f"{path}: could not read as {builder}: {err}") from err
    if table is None or len(table) == 0:
        raise DataError(f"{path}: split '{split}' is empty (available splits: {', '.join(available)})")
    if max_rows is not None and max_rows < len(table):
        table = table.select(range(max_rows))
    return table


def _read_saved(path: Path, split: str) -> tuple[datasets.Dataset | None, list[str]]:
    """One split of a folder written by ``save_to_disk`` (None when empty), and the folder's splits.

    Each split is loaded on its own rather than with one ``load_from_disk`` of the whole folder:
    datasets 5.2 writes no shard for a split without rows and then cannot load the folder back
    (huggingface/datasets PR #8385), which would hide a plain "this split is empty" behind an IndexError.
    """
    dict_file = path / datasets.config.DATASETDICT_JSON_FILENAME
    if dict_file.is_file():
        try:
            available = [str(name) for name in json.loads(dict_file.read_text())["splits"]]
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{dict_file}: unreadable split list ({err})") from err
        if split not in available:
            raise DataError(f"{path}: split '{split}' not found (available splits: {', '.join(available)})")
        return _load_saved_dataset(path / split), available
    if (path / datasets.config.DATASET_STATE_JSON_FILENAME).is_file():
        if split != "train":
            raise DataError(f"{path}: split '{split}' not found (the folder holds a single split, 'train')")
        return _load_saved_dataset(path), ["train"]
    raise DataError(
        f"{path}: not a dataset saved with `datasets.save_to_disk` (no "
        f"{datasets.config.DATASETDICT_JSON_FILENAME} or {datasets.config.DATASET_STATE_JSON_FILENAME})"
    )


def _load_saved_dataset(folder: Path) -> datasets.Dataset | None:
    try:
        state = json.loads((folder / datasets.config.DATASET_STATE_JSON_FILENAME).read_text())
        if not state["_data_files"]:
            return None  # saved without rows (see _read_saved)
        loaded = datasets.load_from_disk(str(folder))
    except Exception as err:  # a damaged folder fails in several ways
        raise DataError(f"{folder}: could not load the saved dataset ({err})") from err
    if not isinstance(loaded, datasets.Dataset):
        raise DataError(f"{folder}: expected one saved Dataset, found {type(loaded).__name__}")
    return loaded


def _has_no_rows(path: Path, builder: str) -> bool:
    if path.stat().st_size == 0:
        return True
    if builder == "parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows == 0  # footer only; the builder reads the data
        except Exception:  # not valid Parquet: let the builder report it
            return False
    if builder == "csv":  # a header without rows
        with path.open(encoding="utf-8", errors="replace") as f:
            f.readline()
            return not any(line.strip() for line in f)
    return False


def _read_columns(table: datasets.Dataset, path: Path, wanted: dict[str, str]) -> dict[str, list]:
    """Python lists of the wanted columns; ``wanted`` maps column -> what it is for (for the error)."""
    for column, purpose in wanted.items():
        if column not in table.column_names:
            raise DataError(
                f"{path}: column '{column}' ({purpose}) not found "
                f"(available columns: {', '.join(table.column_names)})"
            )
    return table.select_columns(list(wanted)).to_dict()


# ------------------------------------------------------------------------------------------- converting


@dataclass
class _Part:
    """Canonical rows converted from one file."""

    kind: Literal["pairs", "scores"]
    style: TextStyle
    rows: dict[str, list]
    path: Path
    objectives: list[str]  # those the file was configured to give
    dropped: list[int] = field(default_factory=list)  # file rows without a preference (chosen = rejected)
    warning: str | None = None  # one line about the dropped rows


def _convert(
    cfg: DataFileConfig, path: Path, table: datasets.Dataset, objectives: Sequence[ObjectiveLike]
) -> _Part:
    canonical = {name: cfg.column(name) for name in CANONICAL_COLUMNS[cfg.format]}
    if cfg.format == "pairwise" and "prompt" not in cfg.columns and "prompt" not in table.column_names:
        del canonical["prompt"]  # implicit prompt: extracted from chosen and rejected below, as TRL does
    wanted = {column: f"for `{name}`" for name, column in canonical.items()}
    if cfg.format == "per_objective_labels":
        wanted.update({col: f"label of objective '{obj}'" for obj, col in cfg.labels.items()})
    if cfg.format == "attribute_scores":
        wanted.update({col: f"score of objective '{obj}'" for obj, col in cfg.scores.items()})
    raw = _read_columns(table, path, wanted)
    canonical_columns = dict(canonical)  # the file's own column names, for messages
    file_rows, dropped = None, []
    if cfg.format == "pairwise":
        raw, file_rows, dropped = _extract_prompts(raw, canonical, path)
        canonical = {name: name for name in CANONICAL_COLUMNS["pairwise"]}
    style, texts = _read_texts(raw, list(canonical.values()), path, file_rows)
    text = {name: texts[column] for name, column in canonical.items()}
    n_rows = len(table)

    if cfg.format == "pairwise":
        rows = {**text, "objective": [cfg.objective] * len(file_rows)}
        same = f"'{canonical_columns['chosen']}' equals '{canonical_columns['rejected']}'"
        return _Part("pairs", style, rows, path, cfg.objective_names, dropped,
                     _dropped_warning(path, dropped, same) if dropped else None)  # fmt: skip

    if cfg.format == "per_objective_labels":
        rows = {"prompt": [], "chosen": [], "rejected": [], "objective": []}
        # Labels in config objective order within each row, whatever order the file's mapping uses.
        labelled = [(o.name, cfg.labels[o.name]) for o in objectives if o.name in cfg.labels]
        for row in range(n_rows):
            responses = (text["response_0"][row], text["response_1"][row])
            labels = [(name, _label(raw[column][row], path, row, column, name)) for name, column in labelled]
            labels = [(name, label) for name, label in labels if label is not None]
            if labels and responses[0] == responses[1]:  # the same response twice: no preference to learn
                dropped.append(row)
                continue
            for name, label in labels:
                rows["prompt"].append(text["prompt"][row])
                rows["chosen"].append(responses[label])
                rows["rejected"].append(responses[1 - label])
                rows["objective"].append(name)
        if not rows["objective"] and not dropped:
            columns = ", ".join(f"'{column}'" for _, column in labelled)
            raise DataError(f"{path}: no row has a label in column(s) {columns}; the file gives no pairs")
        same = f"'{canonical['response_0']}' equals '{canonical['response_1']}'"
        return _Part("pairs", style, rows, path, cfg.objective_names, dropped,
                     _dropped_warning(path, dropped, same) if dropped else None)  # fmt: skip

    scores = [[math.nan] * len(objectives) for _ in range(n_rows)]
    for k, objective in enumerate(objectives):
        column = cfg.scores.get(objective.name)
        if column is None:
            continue
        values = [_score(value, path, row, column, objective.name) for row, value in enumerate(raw[column])]
        _check_scores_vary(values, path, column, objective.name)
        sign = -1.0 if objective.direction == "min" else 1.0  # see the module docstring
        for row, value in enumerate(values):
            scores[row][k] = sign * value
    rows = {"prompt": text["prompt"], "response": text["response"], "scores": scores}
    return _Part("scores", style, rows, path, cfg.objective_names)


def _extract_prompts(
    raw: dict[str, list], canonical: dict[str, str], path: Path
) -> tuple[dict[str, list], list[int], list[int]]:
    """Pairwise rows as prompt/chosen/rejected, the prompt extracted by TRL where the file leaves it implicit;
    with the file row of each row kept and the file rows dropped because chosen equals rejected.

    Extraction (TRL's ``maybe_extract_prompt``) happens where there is no prompt column, and where a plain prompt
    stands next to conversational chosen/rejected (which then repeat it); other rows pass unchanged, so a
    conversational prompt next to plain responses is still reported as mixed by `_read_texts`.
    """
    out: dict[str, list] = {"prompt": [], "chosen": [], "rejected": []}
    kept: list[int] = []
    dropped: list[int] = []
    has_prompt = "prompt" in canonical
    for row in range(len(raw[canonical["chosen"]])):
        example = {name: raw[column][row] for name, column in canonical.items()}
        styles = {name: _text_style(value, path, row, canonical[name]) for name, value in example.items()}
        if styles["chosen"] == styles["rejected"] and _same_text(example["chosen"], example["rejected"]):
            dropped.append(row)  # no preference; checked before extraction, which needs them to differ
            continue
        conversational = styles["chosen"] == styles["rejected"] == "conversational"
        if not has_prompt or (conversational and styles["prompt"] == "plain"):
            if styles["chosen"] != styles["rejected"]:
                raise DataError(
                    f"{path}: mixes plain text and conversational messages: row {row}, column "
                    f"'{canonical['rejected']}' is {styles['rejected']} but column '{canonical['chosen']}' is "
                    f"{styles['chosen']}"
                )
            example = _extracted(example, conversational, path, row, has_prompt)
        for name in out:
            out[name].append(example[name])
        kept.append(row)
    return out, kept, dropped


def _same_text(a: str | list, b: str | list) -> bool:
    """Whether two texts of one style are the same (messages compared by role and content only)."""
    return a == b if isinstance(a, str) else _messages(a) == _messages(b)


def _extracted(example: dict, conversational: bool, path: Path, row: int, had_prompt: bool) -> dict:
    """The example with TRL's extracted prompt; a clear error where nothing (or everything) is shared."""
    # TRL's own rule, imported only where a prompt is implicit (importing TRL costs seconds)
    from trl.data_utils import maybe_extract_prompt

    pair = {name: _messages(v) if isinstance(v, list) else v for name, v in example.items()}
    what = "turns" if conversational else "text"
    n = min(len(pair["chosen"]), len(pair["rejected"]))
    if pair["chosen"][:n] == pair["rejected"][:n]:  # TRL's rule assumes they differ before one ends
        raise DataError(
            f"{path}: row {row}: of chosen and rejected one repeats the other, so their shared "
            f"leading {what} (the prompt) leaves one of them empty"
        )
    extracted = maybe_extract_prompt(pair)
    if not extracted["prompt"]:
        given = " (the `prompt` string is not repeated as their first turn)" if had_prompt else ""
        raise DataError(
            f"{path}: row {row}: chosen and rejected share no leading {what}, so no prompt can be extracted"
            f"{given}; give the prompt in a `prompt` column of the same kind as chosen and rejected"
        )
    return extracted


def _messages(value: list) -> list[dict[str, str]]:
    # Only role and content are kept: TRL needs no more, and it gives all files one schema.
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _read_texts(
    raw: dict[str, list], columns: list[str], path: Path, file_rows: list[int] | None = None
) -> tuple[TextStyle, dict[str, list]]:
    """Validate the text columns; one file must be all plain or all conversational.

    ``file_rows``: the file row of each row of ``raw`` (for errors) when rows were dropped; default 0, 1, ...
    """
    style: TextStyle | None = None
    first: tuple[int, str] = (0, "")
    texts: dict[str, list] = {}
    for column in dict.fromkeys(columns):  # a column mapped to two names is read once
        values = []
        rows = file_rows if file_rows is not None else range(len(raw[column]))
        for row, value in zip(rows, raw[column], strict=True):
            kind = _text_style(value, path, row, column)
            if style is None:
                style, first = kind, (row, column)
            elif kind != style:
                raise DataError(
                    f"{path}: mixes plain text and conversational messages: row {row}, column '{column}' "
                    f"is {kind} but row {first[0]}, column '{first[1]}' is {style}"
                )
            values.append(value if kind == "plain" else _messages(value))
        texts[column] = values
    if style is None:  # every row was dropped (chosen equals rejected); the pair count check refuses the file
        style = "plain"
    return style, texts


def _text_style(value: Any, path: Path, row: int, column: str) -> TextStyle:
    if isinstance(value, str):
        return "plain"
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    ):
        return "conversational"
    raise DataError(
        f"{path}: row {row}, column '{column}': expected a string or a non-empty list of "
        f"{{'role': str, 'content': str}} messages, got {_preview(value)}"
    )


def _label(value: Any, path: Path, row: int, column: str, objective: str) -> int | None:
    """Index (0 or 1) of the preferred response, or None when the row has no label."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    # bool is an int subclass, but True/False is no response index.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
        return int(value)
    raise DataError(
        f"{path}: row {row}, column '{column}' (label of objective '{objective}'): expected 0 or 1 "
        f"(index of the preferred response) or empty, got {_preview(value)}"
    )


def _score(value: Any, path: Path, row: int, column: str, objective: str) -> float:
    """A finite score as float, NaN when the row has none."""
    if value is None:
        return math.nan
    # NaN passes (= no score); infinities and bools (an int subclass) do not.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isinf(value):
        return float(value)
    raise DataError(
        f"{path}: row {row}, column '{column}' (score of objective '{objective}'): expected a finite "
        f"number or empty, got {_preview(value)}"
    )


def _check_scores_vary(scores: list[float], path: Path, column: str, objective: str) -> None:
    """Refuse a score column that ranks no response: no score at all, or one value in every scored row."""
    given = [v for v in scores if not math.isnan(v)]
    what = f"{path}: column '{column}' (score of objective '{objective}')"
    if not given:
        raise DataError(f"{what}: no row has a score")
    if min(given) == max(given):
        raise DataError(f"{what}: every scored row ({len(given)}) has the same score, {given[0]:g}, "
                        "so it ranks no response; map the objective to a column whose scores differ")  # fmt: skip


def _dropped_warning(path: Path, dropped: list[int], same: str) -> str:
    """The one line that says which rows were dropped: ``same`` says what was equal (column names)."""
    shown = ", ".join(str(row) for row in dropped[:_ROWS_SHOWN])
    if len(dropped) > _ROWS_SHOWN:
        shown += ", ..."
    return f"{path}: dropped {len(dropped)} row(s) whose {same} (no preference to learn): row(s) {shown}"


def _check_pair_counts(parts: list[_Part], objectives: list[str]) -> None:
    """Refuse an objective that files give pairs for and that has fewer than MIN_PAIRS_PER_OBJECTIVE of them."""
    for name in objectives:
        sources = [p for p in parts if p.kind == "pairs" and name in p.objectives]
        if not sources:
            continue  # no file gives pairs for it: whether it needs them is the method's question
        n = sum(p.rows["objective"].count(name) for p in sources)
        if n >= MIN_PAIRS_PER_OBJECTIVE:
            continue
        dropped = sum(len(p.dropped) for p in sources)
        after = f" after {dropped} row(s) without a preference were dropped" if dropped else ""
        files = ", ".join(str(p.path) for p in sources)
        raise DataError(f"{files}: objective '{name}' has {n} usable preference pair(s){after}; at least "
                        f"{MIN_PAIRS_PER_OBJECTIVE} are needed")  # fmt: skip


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------------------------- merging


def _in_format(part: _Part, prompt_format: Literal["chat", "plain"] | None) -> _Part:
    """A file's rows in the run's prompt format: plain texts wrapped as messages for chat (see
    `models.chat`), conversational ones refused for plain; unchanged without a format."""
    from pareto_align.models.chat import as_chat_completion, as_chat_prompt

    if prompt_format == "plain" and part.style == "conversational":
        raise DataError(
            f"{part.path}: texts are conversational (message lists), which only a chat template writes, and the "
            "run's prompt format is plain (data.prompt_format 'plain', or 'auto' with a base tokenizer without "
            "a chat template)"
        )
    if prompt_format != "chat" or part.style == "conversational":
        return part
    wrap = {"prompt": as_chat_prompt, "chosen": as_chat_completion, "rejected": as_chat_completion,
            "response": as_chat_completion}  # fmt: skip
    rows = {column: [wrap[column](v) for v in values] if column in wrap else values
            for column, values in part.rows.items()}  # fmt: skip
    return replace(part, style="conversational", rows=rows)


def _merge(parts: list[_Part]) -> datasets.Dataset | None:
    """One dataset from the parts of one kind; all must share one text style."""
    if not parts:
        return None
    first = parts[0]
    for part in parts[1:]:
        if part.style != first.style:
            raise DataError(
                f"{part.path}: texts are {part.style} but those of {first.path} are {first.style}; "
                f"all files giving {first.kind} must use one format (data.prompt_format 'chat' wraps plain "
                "texts as messages)"
            )
    text = _TEXT_FEATURES[first.style]
    if first.kind == "pairs":
        features = {"prompt": text, "chosen": text, "rejected": text, "objective": datasets.Value("string")}
    else:
        features = {"prompt": text, "response": text, "scores": datasets.List(datasets.Value("float64"))}
    merged = {column: [value for part in parts for value in part.rows[column]] for column in features}
    schema = datasets.Features(features)
    # Straight to Arrow: the values are already validated, and `Dataset.from_dict(features=...)` would
    # re-encode every example in Python (several seconds per 100k pairs).
    table = pa.Table.from_pydict(merged, schema=schema.arrow_schema)
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=schema))


def _check_objectives(objectives: Sequence[ObjectiveLike]) -> list[str]:
    names = [objective.name for objective in objectives]
    if not names:
        raise DataError("no objectives configured")
    for objective in objectives:
        if names.count(objective.name) > 1:
            raise DataError(f"objective '{objective.name}' is declared more than once")
        if objective.direction not in ("max", "min"):
            raise DataError(
                f"objective '{objective.name}': direction must be 'max' or 'min', got {objective.direction!r}"
            )
    return names


# --------------------------------------------------------------------------------------------- splitting


def _column(table: datasets.Dataset, name: str) -> list:
    return table.select_columns([name]).to_dict()[name]


def _prompt_keys(table: datasets.Dataset | None) -> list[str]:
    """A hashable key per row's prompt (conversational prompts are serialized)."""
    if table is None:
        return []
    return [json.dumps(prompt, sort_keys=True) for prompt in _column(table, "prompt")]


def _select_by_prompt(
    table: datasets.Dataset | None, keys: list[str], test_prompts: set[str], is_test: bool
) -> datasets.Dataset | None:
    if table is None:
        return None
    return table.select([i for i, key in enumerate(keys) if (key in test_prompts) == is_test])
