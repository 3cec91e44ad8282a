"""Config models for preference data read from local files, and the error raised on bad data.

Three row formats are understood (see `DataFileConfig.format`):

- ``pairwise``: TRL's preference format, one file per objective; columns ``prompt``, ``chosen``,
  ``rejected`` (plain strings, or conversational lists of ``{"role", "content"}`` messages). As in TRL, the
  prompt may be implicit (no ``prompt`` column: chosen and rejected share their first turns) or given as a
  string next to conversations that repeat it (UltraFeedback-binarized); TRL's ``maybe_extract_prompt`` then
  splits the shared leading turns into the prompt.
- ``per_objective_labels``: PKU-SafeRLHF style; one prompt, two responses (``response_0``,
  ``response_1``) and, per objective, a column holding the index (0 or 1) of the preferred response.
- ``attribute_scores``: HelpSteer style; one prompt, one ``response`` and one numeric score column per
  objective.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DataFormat = Literal["pairwise", "per_objective_labels", "attribute_scores"]

# Canonical column names each format reads; `DataFileConfig.columns` maps them onto the file's names.
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "pairwise": ("prompt", "chosen", "rejected"),
    "per_objective_labels": ("prompt", "response_0", "response_1"),
    "attribute_scores": ("prompt", "response"),
}


class DataError(ValueError):
    """Bad user data: the message names the file and the column or field at fault."""


class DataFileConfig(BaseModel):
    """One local data file (or `datasets` folder) and how to read it.

    Embedded by the sweep config under ``data.files``. What can be checked without reading the
    file is checked here, at construction; the rest when `load_preference_files` reads it.
    """

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(
        default=None,
        description="A dataset saved with `datasets.save_to_disk` (folder; Dataset or DatasetDict), a "
        ".jsonl/.json, .parquet or .csv file. Relative paths resolve against the config file's folder. "
        "Exactly one of `path` and `hub`.",
    )
    hub: str | None = Field(
        default=None,
        min_length=1,
        description="A dataset on the Hugging Face Hub by name (e.g. PKU-Alignment/PKU-SafeRLHF), read with "
        "`datasets.load_dataset` when the sweep starts (never while the config is validated). A local folder of "
        "data files is accepted too, as by `load_dataset`. Exactly one of `path` and `hub`.",
    )
    subset: str | None = Field(
        default=None,
        min_length=1,
        description="hub only: the dataset's configuration (load_dataset's `name`).",
    )
    revision: str | None = Field(
        default=None, min_length=1, description="hub only: git revision (branch, tag or commit) to read."
    )
    format: DataFormat = Field(
        description="'pairwise' (prompt/chosen/rejected for one objective), 'per_objective_labels' "
        "(PKU-SafeRLHF style: two responses and one preferred-index label per objective) or "
        "'attribute_scores' (HelpSteer style: one response with one score per objective)."
    )
    objective: str | None = Field(
        default=None,
        description="pairwise only (required there): the objective this file's preferences are about.",
    )
    split: str = Field(
        default="train",
        min_length=1,
        description="Split to read from a saved DatasetDict or a hub dataset (UltraFeedback-binarized: "
        "train_prefs). A single file is one split named 'train'.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical name -> column in the file. pairwise: prompt, chosen, rejected; "
        "per_objective_labels: prompt, response_0, response_1; attribute_scores: prompt, response. "
        "Unmapped names are read from the column of the same name.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="per_objective_labels only: objective name -> column holding the index (0 or 1) of "
        "the preferred response (PKU-SafeRLHF: better_response_id, safer_response_id). An empty label "
        "means the row has no pair for that objective.",
    )
    scores: dict[str, str] = Field(
        default_factory=dict,
        description="attribute_scores only: objective name -> column holding its score (HelpSteer: "
        "helpfulness, verbosity, ...). Scores of objectives declared `direction: min` are negated.",
    )
    max_rows: int | None = Field(default=None, gt=0, description="Read only the first max_rows rows.")

    @model_validator(mode="after")
    def _check_format_fields(self) -> DataFileConfig:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` (a local file or folder) and `hub` (a dataset name)")
        for field in ("subset", "revision"):
            if getattr(self, field) is not None and self.hub is None:
                raise ValueError(f"{self.where}: `{field}` applies to `hub` datasets only")
        # Fields that belong to another format are rejected rather than ignored: a `labels` block on a
        # pairwise file is a mistake the user should hear about.
        wanted = {
            "pairwise": "objective",
            "per_objective_labels": "labels",
            "attribute_scores": "scores",
        }[self.format]
        if wanted == "objective" and not self.objective:
            raise ValueError(f"{self.where}: format 'pairwise' needs `objective` (which objective it ranks)")
        if wanted == "labels" and not self.labels:
            raise ValueError(
                f"{self.where}: format 'per_objective_labels' needs `labels` (objective -> label column)"
            )
        if wanted == "scores" and not self.scores:
            raise ValueError(
                f"{self.where}: format 'attribute_scores' needs `scores` (objective -> score column)"
            )
        for field, present in (
            ("objective", self.objective is not None),
            ("labels", bool(self.labels)),
            ("scores", bool(self.scores)),
        ):
            if present and field != wanted:
                raise ValueError(f"{self.where}: `{field}` does not apply to format '{self.format}'")
        allowed = CANONICAL_COLUMNS[self.format]
        unknown = sorted(set(self.columns) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.where}: unknown key(s) in `columns` for format '{self.format}': "
                f"{', '.join(unknown)} (allowed: {', '.join(allowed)})"
            )
        return self

    @property
    def where(self) -> str:
        """How error messages name this source: the path, or the hub dataset (with subset and revision)."""
        if self.hub is None:
            return str(self.path)
        extras = [f"{k}={v}" for k, v in (("subset", self.subset), ("revision", self.revision)) if v]
        return f"hub dataset {self.hub}" + (f" ({', '.join(extras)})" if extras else "")

    def column(self, canonical: str) -> str:
        """The file's column for a canonical name (the name itself unless mapped in `columns`)."""
        return self.columns.get(canonical, canonical)

    @property
    def objective_names(self) -> list[str]:
        """Objective names this file refers to, in the order given (for validating them against config)."""
        if self.format == "pairwise":
            return [self.objective] if self.objective else []
        if self.format == "per_objective_labels":
            return list(self.labels)
        return list(self.scores)
