"""Config models for preference data read from local files, and the error raised on bad data.

Three row formats are understood (see `DataFileConfig.format`):

- ``pairwise``: TRL's preference format, one file per objective; columns ``prompt``, ``chosen``,
  ``rejected`` (plain strings, or conversational lists of ``{"role", "content"}`` messages).
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

    path: Path = Field(
        description="A dataset saved with `datasets.save_to_disk` (folder; Dataset or DatasetDict), a "
        ".jsonl/.json file or a .parquet file. Relative paths resolve against the config file's folder."
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
        description="Split to read from a saved DatasetDict. A single file is one split named 'train'.",
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
        # Fields that belong to another format are rejected rather than ignored: a `labels` block on a
        # pairwise file is a mistake the user should hear about.
        wanted = {
            "pairwise": "objective",
            "per_objective_labels": "labels",
            "attribute_scores": "scores",
        }[self.format]
        if wanted == "objective" and not self.objective:
            raise ValueError(f"{self.path}: format 'pairwise' needs `objective` (which objective it ranks)")
        if wanted == "labels" and not self.labels:
            raise ValueError(
                f"{self.path}: format 'per_objective_labels' needs `labels` (objective -> label column)"
            )
        if wanted == "scores" and not self.scores:
            raise ValueError(
                f"{self.path}: format 'attribute_scores' needs `scores` (objective -> score column)"
            )
        for field, present in (
            ("objective", self.objective is not None),
            ("labels", bool(self.labels)),
            ("scores", bool(self.scores)),
        ):
            if present and field != wanted:
                raise ValueError(f"{self.path}: `{field}` does not apply to format '{self.format}'")
        allowed = CANONICAL_COLUMNS[self.format]
        unknown = sorted(set(self.columns) - set(allowed))
        if unknown:
            raise ValueError(
                f"{self.path}: unknown key(s) in `columns` for format '{self.format}': "
                f"{', '.join(unknown)} (allowed: {', '.join(allowed)})"
            )
        return self

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
