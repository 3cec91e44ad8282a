"""A comparison config: the shared setting once, then one section per method, each run as its own sweep.

    name, objectives, data, policy, reward_model, weights, seeds, evaluation,   # as in a sweep config, all but
    reference_point, normalization, cache_dir, output_dir                      # `method`
    budget: {policy_updates: 1200, generated_tokens: 5000000}                  # optional, per seed
    methods:
      - {name: modpo, trl: {max_steps: 150}}                                  # a `method:` section, plus
      - {label: soups-15, name: soups, weights: {kind: das-dennis, n_partitions: 4}}   # `label` and `weights`

Each method becomes a full `SweepConfig` (the shared setting with its section as `method`, and its own `weights`
grid where it gives one), validated before anything runs; every mistake of every section is reported, one line
each, naming the file and the field (`compare.yaml: methods[2].trl.lerning_rate: unknown DPOConfig field ...`).
A method that plans more policy updates per seed than the budget is refused then too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
PRODUCT_FIELDS = ("objectives", "data", "policy", "reward_model")


class ComparisonConfigError(ConfigError):
    """Every mistake of a comparison config, one line each (file: field: message)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Budget(BaseModel):
    """Compute each method may spend per seed; None: no limit on that quantity."""

    model_config = ConfigDict(extra="forbid")

    policy_updates: int | None = Field(
        None, ge=1, description="Optimizer steps per seed, specialists and shared models included."
    )
    generated_tokens: int | None = Field(
        None,
        ge=1,
        description="Tokens sampled per seed to produce the policies (rollouts, candidates), "
        "and best-of-n / decoding-time candidates at evaluation; only known after the run.",
    )


@dataclass(frozen=True)
class MethodRun:
    """One method of the comparison: its folder name, its full sweep config, and the updates it plans per seed."""

    label: str
    config: SweepConfig
    plan: UpdatePlan | None

    def products_key(self) -> str:
        """Equal for sweeps whose reward model and reward differences are the same (see PRODUCT_FIELDS)."""
        effective = self.config.effective()
        return _hash({key: effective[key] for key in PRODUCT_FIELDS})


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
        return _hash({"budget": self.budget.model_dump(mode="json"),
                      "methods": [[r.label, r.config.config_hash()] for r in self.runs]})  # fmt: skip

    def record(self) -> dict[str, Any]:
        """What `compare.yaml` in the comparison directory holds."""
        return {"comparison_hash": self.comparison_hash(), "hash_version": HASH_VERSION, "source": self.source,
                "budget": self.budget.model_dump(mode="json"),
                "methods": [{"label": r.label, "method": r.config.method.name, "config_hash": r.config.config_hash(),
                             "planned_policy_updates": r.plan.updates if r.plan else None} for r in self.runs],
                "config": self.raw}  # fmt: skip


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_comparison(path: str | Path) -> Comparison:
    """Read and validate a comparison YAML (`yaml.safe_load` only)."""
    path = Path(path)
    return parse_comparison(read_yaml(path), source=str(path), base_dir=path.parent)


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
            run = _method_run(i, entry, shared, budget, labels, shared_lines, errors, source, base_dir)
            if run is not None:
                runs.append(run)
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


def _method_run(i: int, entry: Any, shared: dict, budget: Budget, labels: dict[str, int],
                shared_lines: list[str], errors: list[str], source: str,
                base_dir: Path | None) -> MethodRun | None:  # fmt: skip
    where = f"methods[{i}]"
    if not isinstance(entry, dict):
        errors.append(f"{where}: expected a method section (a mapping with `name`), got {entry!r}")
        return None
    section = {k: v for k, v in entry.items() if k not in ("label", "weights")}
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
    try:
        config = SweepConfig.model_validate(merged)
    except ValidationError as err:
        errors += [
            _relocate(m, where, "weights" in entry) for m in validation_messages(err) if m not in shared_lines
        ]
        return None
    if base_dir is not None:
        try:
            resolve_paths(config, source, base_dir)
        except ConfigError as err:
            errors.append(str(err).removeprefix(f"{source}: "))
    plan = config.method.planned_updates(config)
    if budget.policy_updates is not None and plan is not None and plan.updates > budget.policy_updates:
        errors.append(f"{where}: plans {plan.updates} policy updates per seed ({plan.rule}), over the budget of "
                      f"{budget.policy_updates}")  # fmt: skip
    return MethodRun(label, config, plan) if len(errors) == n_errors else None


def _relocate(message: str, where: str, own_weights: bool) -> str:
    """A sweep config's error line, named as the comparison's field: `method.x` is `methods[i].x`."""
    if message.startswith("method."):
        return f"{where}.{message.removeprefix('method.')}"
    if message.startswith("method:"):
        return f"{where}:{message.removeprefix('method:')}"
    if own_weights and message.startswith("weights"):
        return f"{where}.{message}"
    return f"{where}: {message}"  # a shared field that this method's checks refuse
