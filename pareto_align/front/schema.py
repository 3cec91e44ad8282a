"""The front file contract: ``run_dir/front.json``, schema ``pareto_align.front/v3`` (v1 and v2 files are read too).

v3 added, over v2: the scores of held-out judges (``evaluation.judges``), beside the evaluation scorer's: a point's
``judged`` values and errors, a sample's ``judged`` values, and the front's ``judged_metrics``; ``Front.scored_by``
gives the front as the judges score it. A v2 file reads unchanged.

v2 added, over v1: compute split into trained and generated tokens (v1's ``tokens_seen`` reads as
``trained_tokens``), work shared by several points recorded once (``Point.compute.shared`` names it, ``Front.compute``
holds it and the run's total), the ``best_of_n`` and ``mixture`` policy handles and the soup's
``lora_interpolation``. A v1 file reads unchanged otherwise.

Everything the explorer, the exporter and the sweep runner exchange about a Pareto front goes through these
models. Values are always stored in the *maximize* convention (an objective declared ``direction: min`` was
negated once, at scoring time); ``direction`` on an :class:`Objective` only records what the user declared.

Reading is strict: unknown keys, wrong lengths, non-finite numbers and unknown schema versions are rejected with
a :class:`FrontFileError` whose message starts with the file path and names the field. Writing is atomic.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticSerializationError

from pareto_align.atomic import write_text_atomic

SCHEMA = "pareto_align.front/v3"
SCHEMA_NAME = "pareto_align.front"
SUPPORTED_SCHEMAS: tuple[str, ...] = (SCHEMA, "pareto_align.front/v2", "pareto_align.front/v1")
SCORINGS = (
    "evaluation",
    "judges",
)  # what scored a front's values: the evaluation scorer, or the held-out judges
FRONT_FILENAME = "front.json"

# Tolerance for "weights sum to 1" and "soup coefficients sum to 1".
SUM_TOLERANCE = 1e-6

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


class FrontFileError(ValueError):
    """A front file could not be read or written. The message always starts with the file path."""


def _finite_list(values: list[float] | None, field: str, owner: str | None) -> list[float] | None:
    """Reject NaN/inf with a message naming the owner (point id) and the field."""
    if values is None:
        return None
    for i, v in enumerate(values):
        if not math.isfinite(v):
            who = f"point {owner!r}: " if owner is not None else ""
            raise ValueError(f"{who}{field}[{i}] is {v}; {field} must be finite numbers")
    return values


def _check_simplex(values: list[float], field: str, owner: str | None) -> None:
    """Non-negative entries summing to 1 (within SUM_TOLERANCE)."""
    who = f"point {owner!r}: " if owner is not None else ""
    if any(v < 0 for v in values):
        raise ValueError(f"{who}{field} must be non-negative, got {values}")
    total = sum(values)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{who}{field} must sum to 1 (tolerance {SUM_TOLERANCE:g}), got sum {total:.9g}")


class Objective(BaseModel):
    """One objective, in config order. ``direction`` is what the user declared; stored values are maximized."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    direction: Literal["max", "min"] = "max"


class Normalization(BaseModel):
    """Bounds normalization applied before hypervolume: ``v -> (v - lower) / (upper - lower)``, per objective."""

    model_config = _STRICT

    method: Literal["bounds"] = Field(
        description="How objectives are normalized (`bounds`, the one way so far)."
    )
    lower: list[float] = Field(description="Per objective: the value that normalizes to 0.")
    upper: list[float] = Field(description="Per objective: the value that normalizes to 1.")

    @field_validator("lower", "upper")
    @classmethod
    def _finite(cls, v: list[float], info: Any) -> list[float]:
        return _finite_list(v, info.field_name, None)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _bounds(self) -> Normalization:
        if len(self.lower) != len(self.upper):
            raise ValueError(
                f"lower and upper must have the same length, got {len(self.lower)} and {len(self.upper)}"
            )
        for k, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True)):
            if not hi > lo:
                raise ValueError(f"upper[{k}] ({hi}) must be greater than lower[{k}] ({lo})")
        return self


class PolicyHandle(BaseModel):
    """How to rebuild the policy behind a point without re-training (see ``load_policy``).

    - ``checkpoint``: ``path`` (relative to the run dir); or, with ``hub: true``, a model outside the run given by
      hub name (or absolute path) and optional ``revision``, as the base policy of a run on a real model.
    - ``soup``: ``checkpoints`` and interpolation ``coefficients`` (same length, non-negative, summing to 1); for
      LoRA adapters, ``lora_interpolation`` says how: ``product`` (default: the merged updates B A are averaged,
      exactly theta(lambda)) or ``ab`` (A and B averaged separately, as the rewarded-soups code does).
    - ``mixture``: ``checkpoints`` (specialists) combined at decoding time with ``weights``: each token is sampled
      from the normalized product of their next-token distributions raised to the weights (MOD, Shi et al., 2024).
    - ``conditioned``: ``path`` plus the preference ``direction`` written into the prompt (DPA, RiC); optionally the
      ``template`` that writes it (``{prompt}`` and ``{c[k]}`` per objective) and the ``condition`` that turns the
      direction into the written values (``integer_weights``: DPA's round(100 v); ``desired_scores``: RiC's
      preference-to-reward mapping with its ``low``/``high``; see ``models/conditioning.py``). Without a template
      the direction is written as "<pref> 0.80 0.20 </pref> prompt", as before these fields existed. Optional
      ``conditioning`` (Panacea): ``svd_lora`` (``path`` is an SVD-LoRA adapter and the direction, on the simplex,
      is set as its preference; nothing is written into the prompt), ``both`` (set and written), or ``prompt``
      (written only; an SVD-LoRA at ``path`` is then held at the simplex centre); absent: ``prompt``.
    - ``best_of_n``: ``path`` (the sampling policy), ``n`` candidates per response, the ``reward_model`` (a saved
      multi-head reward model, relative to the run dir) that ranks them, or the objectives' ``scorers`` (one entry
      per objective: ``name``, ``direction`` and its ``scorer`` as configured, a head of ``reward_model`` where it
      is 'reward_model'), and the ``weights`` (and ``scalarization``) of the scalarized score by which the best is
      kept; with ``hub: true`` (and optional ``revision``) the
      sampling policy is a model outside the run, as for ``checkpoint``.

    Every kind may carry ``prompt_format`` (``chat`` or ``plain``): how the run turned prompts into model input
    (see ``models/chat.py``), so that a prompt typed in the explorer is formatted as training prompts were. A handle
    without it (written before the option) gives strings as they are and message lists through the chat template.

    Fields that the kind does not use are rejected, so a typo in the kind cannot silently drop information.
    """

    model_config = _STRICT

    kind: Literal["checkpoint", "soup", "conditioned", "best_of_n", "mixture"]
    path: str | None = None
    checkpoints: list[str] | None = None
    coefficients: list[float] | None = None
    direction: list[float] | None = None
    n: int | None = Field(None, ge=1)
    reward_model: str | None = None
    scorers: list[dict[str, Any]] | None = None
    weights: list[float] | None = None
    scalarization: dict[str, Any] | None = None
    lora_interpolation: Literal["product", "ab"] | None = None
    template: str | None = None
    condition: dict[str, Any] | None = None
    conditioning: Literal["prompt", "svd_lora", "both"] | None = None
    hub: bool | None = None
    revision: str | None = None
    prompt_format: Literal["chat", "plain"] | None = None

    @field_validator("coefficients", "direction", "weights")
    @classmethod
    def _finite(cls, v: list[float] | None, info: Any) -> list[float] | None:
        return _finite_list(v, info.field_name, None)

    @model_validator(mode="after")
    def _per_kind(self) -> PolicyHandle:
        used, optional = {
            "checkpoint": ({"path"}, {"hub", "revision"}),
            "soup": ({"checkpoints", "coefficients"}, {"lora_interpolation"}),
            "mixture": ({"checkpoints", "weights"}, set()),
            "conditioned": ({"path", "direction"}, {"template", "condition", "conditioning"}),
            "best_of_n": (
                {"path", "n", "weights"},
                {"reward_model", "scorers", "scalarization", "hub", "revision"},
            ),
        }[self.kind]
        for name in ("path", "checkpoints", "coefficients", "direction", "n", "reward_model", "scorers", "weights",
                     "scalarization", "lora_interpolation", "template", "condition", "conditioning", "hub",
                     "revision"):  # fmt: skip
            value = getattr(self, name)
            if name in used and value is None:
                raise ValueError(f"policy of kind {self.kind!r} needs {name!r}")
            if name not in used | optional and value is not None:
                raise ValueError(f"{name!r} is not used by policy kind {self.kind!r}; remove it")
        if self.revision is not None and not self.hub:
            raise ValueError("'revision' needs 'hub': true (a checkpoint inside the run has no revision)")
        if self.kind == "soup":
            assert self.checkpoints is not None and self.coefficients is not None
            if not self.checkpoints:
                raise ValueError("soup needs at least one checkpoint")
            if len(self.checkpoints) != len(self.coefficients):
                raise ValueError(
                    f"soup has {len(self.checkpoints)} checkpoints but {len(self.coefficients)} coefficients"
                )
            _check_simplex(self.coefficients, "coefficients", None)
        if self.kind == "best_of_n" and self.reward_model is None and self.scorers is None:
            raise ValueError("policy of kind 'best_of_n' needs 'reward_model' or 'scorers'")
        if self.kind in ("best_of_n", "mixture"):
            assert self.weights is not None
            _check_simplex(self.weights, "weights", None)
        if self.kind == "conditioned":
            _check_conditioning(self)
        if self.kind == "mixture" and len(self.checkpoints or []) != len(self.weights or []):
            raise ValueError(
                f"mixture has {len(self.checkpoints or [])} checkpoints but {len(self.weights or [])} weights"
            )
        return self


def _check_conditioning(handle: PolicyHandle) -> None:
    """A conditioned handle's template and condition can write its direction (one value per objective)."""
    from pareto_align.models.conditioning import check_template, condition_values

    k = len(handle.direction or [])
    if handle.conditioning in ("svd_lora", "both"):  # the direction is an adapter's preference lambda
        _check_simplex(handle.direction or [], "direction", None)
    if handle.conditioning == "svd_lora" and (handle.template is not None or handle.condition is not None):
        raise ValueError("conditioning 'svd_lora' writes nothing into the prompt; remove 'template' and 'condition'")  # fmt: skip
    if handle.template is not None:
        check_template(handle.template, k)
    elif handle.condition is not None:
        raise ValueError("a conditioned policy's 'condition' needs its 'template'")
    if handle.condition is not None:
        cond = handle.condition
        if cond.get("kind") == "desired_scores":
            for key in ("low", "high"):
                if len(cond.get(key) or []) != k:
                    raise ValueError(f"condition.{key}: expected {k} values (one per objective)")
        condition_values(handle.direction or [], cond)  # unknown kinds and mappings refused here


class Compute(BaseModel):
    """Cost of producing a point (or of work shared by several), so methods can be compared at equal compute.

    ``trained_tokens`` counts the tokens of every sequence a gradient step went through (prompt and response);
    ``generated_tokens`` every token sampled to produce the policy (online RL rollouts, best-of-n candidates,
    reference responses), evaluation excluded. ``shared`` names entries of ``Front.compute.shared`` that this point
    used without paying for them itself (a soup's specialists, a DPA model), so totals count them once.
    """

    model_config = _STRICT

    wall_seconds: float = Field(0.0, ge=0)
    policy_updates: int = Field(0, ge=0)
    trained_tokens: int = Field(0, ge=0, validation_alias=AliasChoices("trained_tokens", "tokens_seen"))
    generated_tokens: int = Field(0, ge=0)
    shared: list[str] = Field(default_factory=list)

    def __add__(self, other: Compute) -> Compute:
        return Compute(
            wall_seconds=self.wall_seconds + other.wall_seconds,
            policy_updates=self.policy_updates + other.policy_updates,
            trained_tokens=self.trained_tokens + other.trained_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            shared=list(dict.fromkeys([*self.shared, *other.shared])),
        )


class RunCompute(BaseModel):
    """The run's cost: ``shared`` work (recorded once, by id) and the ``total`` over points and shared work."""

    model_config = _STRICT

    shared: dict[str, Compute] = Field(default_factory=dict)
    total: Compute = Field(default_factory=Compute)


class Sample(BaseModel):
    """One generated response and its per-objective scores (maximize convention)."""

    model_config = _STRICT

    prompt: str
    response: str
    values: list[float]
    judged: list[float] | None = None  # the held-out judges' scores (objectives without a judge: `values`)

    @field_validator("values", "judged")
    @classmethod
    def _finite(cls, v: list[float] | None, info: Any) -> list[float] | None:
        return _finite_list(v, info.field_name, None)


class Judged(BaseModel):
    """A point's values as the held-out judges score the same responses (``evaluation.judges``; an objective
    without a judge keeps its evaluation score)."""

    model_config = _STRICT

    values: list[float]
    stderr: list[float]

    @field_validator("values", "stderr")
    @classmethod
    def _finite(cls, v: list[float], info: Any) -> list[float]:
        return _finite_list(v, f"judged.{info.field_name}", None)  # type: ignore[return-value]


class Point(BaseModel):
    """One evaluated policy: ``values`` are per-objective means (maximize convention), ``stderr`` their errors.

    The JSON key of ``lambda_`` is ``lambda``. ``weights`` are non-negative and sum to 1.
    """

    model_config = _STRICT

    id: str = Field(min_length=1)
    method: str
    weights: list[float] | None = None
    direction: list[float] | None = None
    lambda_: float | None = Field(None, alias="lambda")
    seed: int = 0
    values: list[float]
    stderr: list[float]
    n_samples: int = Field(ge=0)
    policy: PolicyHandle | None = None
    compute: Compute = Field(default_factory=Compute)
    step: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list)
    judged: Judged | None = None

    @field_validator("values", "stderr", "weights", "direction")
    @classmethod
    def _finite(cls, v: list[float] | None, info: Any) -> list[float] | None:
        # `id` is declared first, so it is already in info.data when it was valid.
        return _finite_list(v, info.field_name, info.data.get("id"))

    @field_validator("lambda_")
    @classmethod
    def _finite_lambda(cls, v: float | None, info: Any) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"point {info.data.get('id')!r}: lambda is {v}; it must be a finite number")
        return v

    @model_validator(mode="after")
    def _checks(self) -> Point:
        # Lengths are checked against the number of objectives by Front (a Point alone does not know K).
        if any(s < 0 for s in self.stderr):
            raise ValueError(f"point {self.id!r}: stderr must be non-negative, got {self.stderr}")
        if self.weights is not None:
            _check_simplex(self.weights, "weights", self.id)
        return self


class HistoryEntry(BaseModel):
    """One row of the indicator time series. Extra indicator keys (e.g. ``expected_utility``) are allowed.

    Entries with ``training`` true were logged while ``point_id`` trained (at its optimizer ``step``): its objective
    vector then (``values``) and the hypervolume of the front it would make. The others follow the front as points
    are added (``step`` counts them).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    step: int
    hypervolume: float | None = None
    point_id: str | None = None
    weights: list[float] | None = None
    training: bool = False

    @field_validator("hypervolume")
    @classmethod
    def _finite_hv(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"hypervolume is {v}; it must be a finite number")
        return v

    @field_validator("weights")
    @classmethod
    def _finite_w(cls, v: list[float] | None) -> list[float] | None:
        return _finite_list(v, "weights", None)


class Metrics(BaseModel):
    """Indicators over the non-dominated subset of ``points`` (never baselines), with the file's reference point.

    ``non_dominated_ids`` lists every point whose values are non-dominated (identical copies all listed);
    ``cardinality`` counts *distinct* non-dominated objective vectors. When ``normalized`` is true, hypervolume,
    expected utility and sparsity were computed on bounds-normalized values.
    """

    model_config = _STRICT

    hypervolume: float
    expected_utility: float
    sparsity: float
    cardinality: int
    n_points: int
    non_dominated_ids: list[str]
    normalized: bool
    eu_weights: str


def _length_error(where: str, field: str, got: int, k: int) -> str:
    return f"{where}.{field}: expected {k} values (one per objective), got {got}"


def point_dimension_errors(point: Point, k: int, where: str) -> list[str]:
    """Messages for every per-objective list of ``point`` whose length is not ``k``.

    ``where`` is the location used in messages, e.g. ``"points[2]"``; the point id is always named.
    """
    errors = []
    lists: list[tuple[str, list[Any] | None]] = [
        ("values", point.values),
        ("stderr", point.stderr),
        ("weights", point.weights),
        ("direction", point.direction),
    ]
    if point.policy is not None:
        lists.append(("policy.direction", point.policy.direction))
        lists.append(("policy.weights", point.policy.weights))
    if point.judged is not None:
        lists += [("judged.values", point.judged.values), ("judged.stderr", point.judged.stderr)]
    for field, seq in lists:
        if seq is not None and len(seq) != k:
            errors.append(_length_error(f"{where} (id {point.id!r})", field, len(seq), k))
    for j, sample in enumerate(point.samples):
        if len(sample.values) != k:
            errors.append(
                _length_error(f"{where} (id {point.id!r})", f"samples[{j}].values", len(sample.values), k)
            )
        if sample.judged is not None and len(sample.judged) != k:
            errors.append(
                _length_error(f"{where} (id {point.id!r})", f"samples[{j}].judged", len(sample.judged), k)
            )
    return errors


class Front(BaseModel):
    """A Pareto front file: objectives, reference point, evaluated points, baselines, history and metrics."""

    model_config = _STRICT

    schema_: str = Field(SCHEMA, alias="schema")
    objectives: list[Objective] = Field(min_length=1)
    reference_point: list[float]
    normalization: Normalization | None = None
    points: list[Point] = Field(default_factory=list)
    baselines: list[Point] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    metrics: Metrics | None = None
    judged_metrics: Metrics | None = None  # the same indicators over the judges' values (evaluation.judges)
    compute: RunCompute | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schema_")
    @classmethod
    def _known_schema(cls, v: str) -> str:
        if v not in SUPPORTED_SCHEMAS:
            raise ValueError(f"unsupported schema {v!r}; supported: {', '.join(SUPPORTED_SCHEMAS)}")
        return SCHEMA  # an older version is upgraded in memory: every v1 file is a valid v2 file

    @field_validator("reference_point")
    @classmethod
    def _finite_ref(cls, v: list[float]) -> list[float]:
        return _finite_list(v, "reference_point", None)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _consistent(self) -> Front:
        k = len(self.objectives)
        errors: list[str] = []
        names = [o.name for o in self.objectives]
        dup_names = sorted({n for n in names if names.count(n) > 1})
        if dup_names:
            errors.append(f"objectives: duplicate names {dup_names}")
        if len(self.reference_point) != k:
            errors.append(
                _length_error("reference_point", "", len(self.reference_point), k).replace(".:", ":")
            )
        if self.normalization is not None and len(self.normalization.lower) != k:
            errors.append(_length_error("normalization", "lower", len(self.normalization.lower), k))
            errors.append(_length_error("normalization", "upper", len(self.normalization.upper), k))
        shared = set(self.compute.shared) if self.compute is not None else set()
        for i, point in enumerate(self.points):
            unknown = sorted(set(point.compute.shared) - shared)
            if unknown:
                errors.append(f"points[{i}].compute.shared: {unknown} not in compute.shared")
        seen: dict[str, str] = {}
        for group in ("points", "baselines"):
            for i, point in enumerate(getattr(self, group)):
                where = f"{group}[{i}]"
                errors.extend(point_dimension_errors(point, k, where))
                if point.id in seen:
                    errors.append(f"{where}.id: duplicate id {point.id!r} (already used by {seen[point.id]})")
                else:
                    seen[point.id] = where
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def objective_names(self) -> list[str]:
        """Objective names in config order."""
        return [o.name for o in self.objectives]

    @property
    def judged(self) -> bool:
        """Whether held-out judges scored this front (every point and baseline carries their values)."""
        return bool(self.points) and all(p.judged is not None for p in [*self.points, *self.baselines])

    def scored_by(self, scoring: str) -> Front:
        """This front as `scoring` scores it: ``evaluation`` (itself) or ``judges`` (every point's and baseline's
        values, errors and sample values replaced by the judges', the metrics by ``judged_metrics``)."""
        if scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        if scoring == "evaluation":
            return self
        if not self.judged:
            raise ValueError("this front was not scored by held-out judges (evaluation.judges)")

        def rescored(p: Point) -> Point:
            samples = [s.model_copy(update={"values": s.judged}) if s.judged else s for s in p.samples]
            return p.model_copy(
                update={"values": p.judged.values, "stderr": p.judged.stderr, "samples": samples}
            )

        return self.model_copy(update={"points": [rescored(p) for p in self.points],
                                       "baselines": [rescored(p) for p in self.baselines],
                                       "metrics": self.judged_metrics})  # fmt: skip

    def F(self, which: Literal["points", "baselines"] = "points") -> np.ndarray:
        """Objective values of ``points`` or ``baselines`` as an array of shape (n, K), maximize convention."""
        if which not in ("points", "baselines"):
            raise ValueError(f"which must be 'points' or 'baselines', got {which!r}")
        pts = getattr(self, which)
        k = len(self.objectives)
        if not pts:
            return np.zeros((0, k), dtype=float)
        return np.array([p.values for p in pts], dtype=float)  # (n, K)


# ---------------------------------------------------------------------------------------------------------------
# reading and writing


def _resolve(path: str | os.PathLike[str]) -> Path:
    """A run dir (existing, or not yet created and without a file suffix) means ``run_dir/front.json``."""
    p = Path(path)
    if p.is_dir() or (not p.exists() and p.suffix == ""):
        return p / FRONT_FILENAME
    return p


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = "schema" if part == "schema_" else "lambda" if part == "lambda_" else str(part)
            out += f".{name}" if out else name
    return out


def format_validation_error(err: ValidationError) -> str:
    """One line per problem: ``field.path: message`` (pydantic's 'Value error, ' prefix removed)."""
    lines = []
    for e in err.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        loc = _format_loc(tuple(e["loc"]))
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def as_policy_handle(handle: PolicyHandle | Mapping[str, Any]) -> PolicyHandle:
    """`handle` typed: a `PolicyHandle` as it is, a plain mapping (a front.json entry, a method's handle) validated
    once; ValueError naming the field, in one line, for a mapping that is no handle."""
    if isinstance(handle, PolicyHandle):
        return handle
    try:
        return PolicyHandle.model_validate(dict(handle))
    except ValidationError as err:
        raise ValueError(format_validation_error(err)) from None


def _schema_problem(data: dict[str, Any]) -> str | None:
    if "schema" not in data:
        return f'missing "schema" key; expected "{SCHEMA}" (is this a pareto_align front file?)'
    schema = data["schema"]
    if not isinstance(schema, str):
        return f'"schema" must be a string such as "{SCHEMA}", got {schema!r}'
    if schema in SUPPORTED_SCHEMAS:
        return None
    supported = ", ".join(SUPPORTED_SCHEMAS)
    name, _, version = schema.rpartition("/")
    if name == SCHEMA_NAME:
        return (
            f"unsupported schema version {version!r} of {SCHEMA_NAME}; "
            f"this version of pareto_align reads: {supported}"
        )
    return f"unknown schema {schema!r}; this version of pareto_align reads: {supported}"


def read_front(path: str | os.PathLike[str]) -> Front:
    """Read and validate a front file. ``path`` is the file or a run dir holding ``front.json``.

    Raises :class:`FrontFileError` (message starts with the file path) for a missing file, invalid or truncated
    JSON, a missing/unknown schema or version, and every validation error (field path and message).
    """
    file = _resolve(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FrontFileError(f"{file}: file not found") from None
    except OSError as e:
        raise FrontFileError(f"{file}: cannot read ({e.strerror or e})") from None
    try:
        # Python's json accepts NaN/Infinity; the models then reject them with the point id and field.
        data = json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        raise FrontFileError(
            f"{file}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}{hint}"
        ) from None
    if not isinstance(data, dict):
        raise FrontFileError(f"{file}: expected a JSON object at the top level, got {type(data).__name__}")
    problem = _schema_problem(data)
    if problem:
        raise FrontFileError(f"{file}: {problem}")
    try:
        return Front.model_validate(data)
    except ValidationError as e:
        raise FrontFileError(f"{file}: {format_validation_error(e)}") from None


def _non_finite_path(obj: Any, loc: str) -> str | None:
    """Location of the first NaN/inf float inside nested dicts/lists, or None."""
    if isinstance(obj, float | np.floating):
        return None if math.isfinite(float(obj)) else loc
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _non_finite_path(value, f"{loc}.{key}" if loc else str(key))
            if found:
                return found
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            found = _non_finite_path(value, f"{loc}[{i}]")
            if found:
                return found
    return None


def write_front(front: Front, path: str | os.PathLike[str]) -> Path:
    """Validate and write ``front`` atomically to ``path`` (a file, or a run dir -> ``run_dir/front.json``;
    a path that does not exist yet and has no suffix is taken as a run dir and created).

    The JSON is fully built before any file is touched, then written to a temp file in the same folder, fsynced
    and renamed over the target, so a failure or a kill never leaves a half-written or missing front file.
    NaN/inf are never written. Returns the path written.
    """
    file = _resolve(path)
    # Re-validate: models are mutable, and a file others read must always be valid.
    raw = front.model_dump(mode="python", by_alias=True)
    try:
        Front.model_validate(raw)
    except ValidationError as e:
        raise FrontFileError(
            f"{file}: refusing to write an invalid front: {format_validation_error(e)}"
        ) from None
    bad = _non_finite_path(raw, "")
    if bad:
        raise FrontFileError(f"{file}: {bad}: non-finite number (NaN/inf) cannot be written to a front file")
    try:
        text = json.dumps(front.model_dump(mode="json", by_alias=True), indent=2, allow_nan=False) + "\n"
    except (PydanticSerializationError, TypeError, ValueError) as e:
        raise FrontFileError(f"{file}: cannot serialize front: {e}") from None

    return write_text_atomic(file, text)
