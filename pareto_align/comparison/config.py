"""A comparison config: the shared setting once, then one section per method, each run as its own sweep.

    name, objectives, data, policy, reward_model, weights, seeds, evaluation,   # as in a sweep config, all but
    reference_point, normalization, cache_dir, output_dir                      # `method`
    budget: {policy_updates: 1200, generated_tokens: 5000000}                  # optional, per seed
    methods:
      - {name: modpo, trl: {max_steps: 150}}                                  # a `method:` section, plus
      - {label: soups-15, name: soups, weights: {kind: das-dennis, n_partitions: 4}}   # `label` and `weights`
      - {name: panacea, loss: dpo, lora: null}                                # and `lora` (replaces policy.lora)

Each method becomes a full `SweepConfig` (the shared setting with its section as `method`, and its own `weights`
grid where it gives one), validated before anything runs; every mistake of every section is reported, one line
each, naming the file and the field (`compare.yaml: methods[2].trl.lerning_rate: unknown DPOConfig field ...`).
A method that plans more policy updates per seed than the budget is refused then too.

Equal compute, `budget.fill: true` (default false: each method spends what its own section plans, within the
budget): every method is scaled to spend `budget.policy_updates` per seed, through its own length knob
(a section's `scale_to`, methods/base.py): a grid's `max_steps` per point (modpo, morlhf, dynamic_hv, dynamic_grad),
the specialists' `max_steps` (soups, mod), each iteration's `max_steps` (dpa), the offline and online passes'
`max_steps` in their own proportions (ric), the one run's `max_steps` (panacea), stage 1's `max_steps` and
`extension_steps` with the rounds kept (cmorl); best-of-n trains nothing and is left as is. Where the knob cannot hit
the budget exactly (6 grid runs sharing one `max_steps` cannot make 880), the plan is the largest below it, and the
sentence that says what was changed says so; it is recorded in `compare.yaml` and `compare_summary.json`, and printed.

    budget: {fill: true, policy_updates: [110, 440, 880]}                    # a ladder (needs fill)

A ladder runs every method at each budget, into its own folder `<label>@<budget>`; the report then holds one export
per budget (report/budget-<n>/, the anytime curves of methods that spent the same) and the final hypervolume
against budget per method (report/ladder.*), with where the ranking changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pareto_align.config import HASH_VERSION, SweepConfig, read_yaml, resolve_paths, validation_messages
from pareto_align.errors import ConfigError
from pareto_align.methods.base import UpdatePlan

__all__ = [
    "Budget",
    "Comparison",
    "ComparisonConfigError",
    "MethodRun",
    "load_comparison",
    "parse_comparison",
]

RESERVED_LABELS = ("shared", "report")  # folders of the comparison directory itself
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# what the shared reward model and reward differences are made of: sweeps equal here can share them
PRODUCT_FIELDS = ("objectives", "scorers", "data", "policy", "reward_model")


class ComparisonConfigError(ConfigError):
    """Every mistake of a comparison config, one line each (file: field: message)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Budget(BaseModel):
    """Compute each method may spend per seed; None: no limit on that quantity."""

    model_config = ConfigDict(extra="forbid")

    policy_updates: int | list[int] | None = Field(
        None,
        description="Optimizer steps per seed, specialists and shared models included. With `fill`, a list of "
        "increasing budgets is a ladder: every method runs at each.",
    )
    generated_tokens: int | None = Field(
        None,
        ge=1,
        description="Tokens sampled per seed to produce the policies (rollouts, candidates), "
        "and best-of-n / decoding-time candidates at evaluation; only known after the run.",
    )
    fill: bool = Field(
        False,
        description="Scale every method's own length knob so that it plans `policy_updates` per seed (equal "
        "compute); false: each method spends what its section plans, refused when over the budget.",
    )

    @field_validator("policy_updates")
    @classmethod
    def _positive(cls, value: int | list[int] | None) -> int | list[int] | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("Input should be greater than or equal to 1")
        if isinstance(value, list) and (
            not value or value[0] < 1 or any(b <= a for a, b in zip(value, value[1:], strict=False))
        ):
            raise ValueError(f"a ladder is a list of increasing budgets >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _fill(self):
        if self.fill and self.policy_updates is None:
            raise ValueError("fill: scales every method to budget.policy_updates, which is not set; set it")
        if isinstance(self.policy_updates, list) and not self.fill:
            raise ValueError(f"policy_updates: a list {self.policy_updates} is a ladder of budgets, run with "
                             "budget.fill: true; set it, or give one number")  # fmt: skip
        return self

    def record(self) -> dict[str, Any]:
        """The budget as the comparison directory records it (and its hash covers); `fill` only when set, so a
        comparison made before `fill` existed still resumes."""
        out = self.model_dump(mode="json")
        if not self.fill:
            del out["fill"]
        return out

    @property
    def ladder(self) -> bool:
        return isinstance(self.policy_updates, list)

    def rungs(self) -> list[int | None]:
        """The policy-update budgets each method runs at: the ladder's, or the one budget (None: no limit)."""
        return list(self.policy_updates) if isinstance(self.policy_updates, list) else [self.policy_updates]


@dataclass(frozen=True)
class MethodRun:
    """One method of the comparison (at one budget of a ladder): its folder name, its full sweep config, the updates
    it plans per seed, the policy updates it may spend, and what `budget.fill` changed to spend them."""

    label: str  # the folder: the method's label, `<label>@<budget>` on a ladder
    config: SweepConfig
    plan: UpdatePlan | None
    budget: int | None = None  # policy updates per seed (None: no limit)
    fill: str | None = None  # `scale_to`'s sentence; None without budget.fill

    @property
    def method_label(self) -> str:
        """The label the user gave (a ladder's folder without `@<budget>`)."""
        return self.label.partition("@")[0]

    def products_key(self) -> str:
        """Equal for sweeps whose reward model and reward differences are the same (see PRODUCT_FIELDS)."""
        effective = self.config.effective()
        products = {key: effective[key] for key in PRODUCT_FIELDS}
        # what a method trains (LoRA adapters or full weights) changes none of them: the reward model trains in
        # full, the reference and the base policy's responses are the base policy's
        products["policy"] = {k: v for k, v in products["policy"].items() if k != "lora"}
        return _hash(products)


@dataclass(frozen=True)
class Comparison:
    name: str
    output_dir: Path | None
    budget: Budget
    runs: list[MethodRun]
    source: str
    raw: dict[str, Any]  # the mapping as the user wrote it, recorded in the comparison directory

    def comparison_hash(self) -> str:
        """Hash of the budget and each method's label and effective sweep config (order included)."""
        return _hash({"budget": self.budget.record(),
                      "methods": [[r.label, r.config.config_hash()] for r in self.runs]})  # fmt: skip

    def record(self) -> dict[str, Any]:
        """What `compare.yaml` in the comparison directory holds."""
        return {"comparison_hash": self.comparison_hash(), "hash_version": HASH_VERSION, "source": self.source,
                "budget": self.budget.record(),
                "methods": [{"label": r.label, "method": r.config.method.name, "config_hash": r.config.config_hash(),
                             "planned_policy_updates": r.plan.updates if r.plan else None,
                             "budget_policy_updates": r.budget, "fill": r.fill} for r in self.runs],
                "config": self.raw}  # fmt: skip


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_comparison(path: str | Path, fill: list[int] | None = None) -> Comparison:
    """Read and validate a comparison YAML (`yaml.safe_load` only). `fill` (the CLI's --fill): run it at equal
    compute instead of its own budget: `budget.fill: true` with these policy updates (several: a ladder), its
    generated-token limit kept."""
    path = Path(path)
    data = read_yaml(path)
    if fill is not None and isinstance(data, dict):
        budget = data.get("budget") if isinstance(data.get("budget"), dict) else {}
        data = {
            **data,
            "budget": {**budget, "fill": True, "policy_updates": fill[0] if len(fill) == 1 else fill},
        }
    return parse_comparison(data, source=str(path), base_dir=path.parent)


def parse_comparison(data: Any, source: str = "<comparison>", base_dir: Path | None = None) -> Comparison:
    """Validate a comparison mapping; ComparisonConfigError lists every mistake found, one line each."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    errors: list[str] = []
    shared = {k: v for k, v in data.items() if k not in ("methods", "budget", "method", "output_dir")}
    if "method" in data:
        errors.append("method: a comparison lists its methods under 'methods', one section each")
    budget = _budget(data.get("budget"), errors)
    entries = data.get("methods")
    # the shared setting alone (with a method that checks nothing of it), so its mistakes are told once
    probe = {"weights": {"kind": "das-dennis", "n_partitions": 1}, **shared, "method": {"name": "bon"}}
    shared_lines = _messages(probe)
    errors += shared_lines
    runs: list[MethodRun] = []
    if not isinstance(entries, list) or not entries:
        errors.append(f"methods: expected a non-empty list of method sections, got {entries!r}")
    else:
        labels: dict[str, int] = {}
        for i, entry in enumerate(entries):
            runs += _method_runs(i, entry, shared, budget, labels, shared_lines, errors, source, base_dir)
    if errors:
        raise ComparisonConfigError([f"{source}: {line}" for line in dict.fromkeys(errors)])
    output_dir = data.get("output_dir")
    return Comparison(str(data.get("name", "compare")), Path(output_dir) if output_dir else None, budget, runs,
                      source, data)  # fmt: skip


def _budget(raw: Any, errors: list[str]) -> Budget:
    if raw is None:
        return Budget()
    if not isinstance(raw, dict):
        errors.append(f"budget: expected a mapping (policy_updates, generated_tokens), got {raw!r}")
        return Budget()
    try:
        return Budget.model_validate(raw)
    except ValidationError as err:
        errors += [f"budget.{m}" for m in validation_messages(err)]
        return Budget()


def _messages(data: dict) -> list[str]:
    try:
        SweepConfig.model_validate(data)
    except ValidationError as err:
        return validation_messages(err)
    return []


def _method_runs(i: int, entry: Any, shared: dict, budget: Budget, labels: dict[str, int],
                 shared_lines: list[str], errors: list[str], source: str,
                 base_dir: Path | None) -> list[MethodRun]:  # fmt: skip
    """The method's run, or with `budget.fill` one run per budget, each scaled to it; [] after a mistake."""
    where = f"methods[{i}]"
    if not isinstance(entry, dict):
        errors.append(f"{where}: expected a method section (a mapping with `name`), got {entry!r}")
        return []
    section = {k: v for k, v in entry.items() if k not in ("label", "weights", "lora")}
    label = entry.get("label", section.get("name", "modpo"))
    n_errors = len(errors)
    if not isinstance(label, str) or not label or not set(label) <= _LABEL_CHARS or label.startswith("."):
        errors.append(f"{where}.label: {label!r} must be a folder name (letters, digits, _ - .)")
    elif label in RESERVED_LABELS:
        errors.append(f"{where}.label: {label!r} is a folder of the comparison itself; choose another label")
    elif label in labels:
        errors.append(f"{where}.label: {label!r} is already the label of methods[{labels[label]}]; labels must be "
                      "unique (set `label` on one of them)")  # fmt: skip
    else:
        labels[label] = i
    merged = {**shared, "name": label if isinstance(label, str) else str(label), "method": section}
    if "weights" in entry:
        merged["weights"] = entry["weights"]
    # `lora`: this method's own adapters (null: full weights, or an adapter of its own kind, as Panacea's)
    if "lora" in entry:
        merged["policy"] = {**(shared.get("policy") or {}), "lora": entry["lora"]}
    try:
        config = SweepConfig.model_validate(merged)
    except ValidationError as err:
        errors += [
            _relocate(m, where, "weights" in entry) for m in validation_messages(err) if m not in shared_lines
        ]
        return []
    if base_dir is not None:
        try:
            resolve_paths(config, source, base_dir)
        except ConfigError as err:
            errors.append(str(err).removeprefix(f"{source}: "))
    if budget.fill:
        runs = [_filled(where, config, updates, budget.ladder, errors) for updates in budget.rungs()]  # type: ignore[arg-type]
        return [r for r in runs if r is not None] if len(errors) == n_errors else []
    plan = config.method.planned_updates(config)
    limit = budget.policy_updates
    assert not isinstance(limit, list)  # a ladder needs fill
    if limit is not None and plan is not None and plan.updates > limit:
        errors.append(f"{where}: plans {plan.updates} policy updates per seed ({plan.rule}), over the budget of "
                      f"{limit}")  # fmt: skip
    return [MethodRun(label, config, plan, limit)] if len(errors) == n_errors else []


def _filled(
    where: str, config: SweepConfig, updates: int, ladder: bool, errors: list[str]
) -> MethodRun | None:
    """The method scaled by its own `scale_to` to plan `updates` policy updates per seed (see the module
    docstring); on a ladder its folder and run name are `<label>@<updates>`."""
    try:
        method, description = config.method.scale_to(config, updates)
        label = f"{config.name}@{updates}" if ladder else config.name
        scaled = config.model_copy(update={"name": label, "method": method})
        method.check(scaled)  # what the sweep config's own validation would run on the new section
    except (ValueError, ValidationError) as err:
        lines = validation_messages(err) if isinstance(err, ValidationError) else [str(err)]
        errors += [f"{where}: budget.fill to {updates} policy updates: {line}" if not line.startswith("budget.fill")
                   else f"{where}: {line}" for line in lines]  # fmt: skip
        return None
    return MethodRun(label, scaled, method.planned_updates(scaled), updates, description)


def _relocate(message: str, where: str, own_weights: bool) -> str:
    """A sweep config's error line, named as the comparison's field: `method.x` is `methods[i].x`."""
    if message.startswith("method."):
        return f"{where}.{message.removeprefix('method.')}"
    if message.startswith("method:"):
        return f"{where}:{message.removeprefix('method:')}"
    if own_weights and message.startswith("weights"):
        return f"{where}.{message}"
    return f"{where}: {message}"  # a shared field that this method's checks refuse
