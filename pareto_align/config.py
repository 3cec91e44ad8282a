"""Sweep configuration: YAML -> validated objects. Unknown keys and bad values are rejected with the field's path.

config = load_config("experiments/quickstart.yaml")   # raises ConfigError("file: field.path: message")
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pareto_align.data.formats import DataFileConfig
from pareto_align.data.gold import GOLD_FUNCTIONS
from pareto_align.data.scored_pairs import PromptPairsConfig
from pareto_align.data.synthetic import SyntheticConfig
from pareto_align.errors import ConfigError
from pareto_align.front.schema import Normalization
from pareto_align.hf_args import check_dataclass_kwargs
from pareto_align.methods import METHODS, MethodConfig
from pareto_align.models.generation import GenerationSettings
from pareto_align.objectives import weight_grid
from pareto_align.scorers.specs import SCORER_TAGS, FunctionSpec, RewardSource, ScorerSpec, describe
from pareto_align.tracking import TrackingConfig
from pareto_align.trainers.reward_model_config import RewardModelConfig

__all__ = ["ConfigError", "SweepConfig", "load_config", "parse_config"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
# Version of `config_hash`: 1 hashed the YAML without defaults; 2 hashes the effective config (defaults resolved,
# trainer defaults included), so a default changed in code or in TRL is a different config.
# 3 adds what scores each objective (a function's source hash included), so an edited reward function is a new config.
HASH_VERSION = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveConfig(_Strict):
    name: str = Field(description="Objective name, used in tables, figures and the explorer.")
    direction: Literal["max", "min"] = Field(
        "max",
        description="Whether the raw score is maximized or minimized; 'min' scores are negated once, when scored.",
    )
    gold: str | None = Field(
        None, description=f"Built-in benchmark gold function: one of {sorted(GOLD_FUNCTIONS)}."
    )
    scorer: ScorerSpec | None = Field(
        None,
        description="What scores this objective for training (the methods' `reward_source: objectives`, their "
        "default) and evaluation (`evaluation.scorer: objectives`): omitted or 'reward_model', its head of the "
        "toolkit's multi-head reward model; 'gold', its gold function (built-in benchmark); {model: ...} a "
        "sequence classifier; {url: ...} a reward server; {function: ...} a reward function "
        "(see pareto_align/scorers/specs.py).",
    )

    @model_validator(mode="after")
    def _check(self):
        if not _NAME.match(self.name):
            raise ValueError(f"objective name {self.name!r} must be an identifier (letters, digits, _ or -)")
        if self.gold is not None and self.gold not in GOLD_FUNCTIONS:
            raise ValueError(f"unknown gold function {self.gold!r}; available: {sorted(GOLD_FUNCTIONS)}")
        if self.scorer == "gold" and self.gold is None:
            raise ValueError("scorer: 'gold' needs the objective's `gold` function")
        return self


class PolicyConfig(_Strict):
    model: str | None = Field(
        None,
        description="Base/SFT policy: a hub name or local path. None uses the built-in benchmark's base model.",
    )
    revision: str | None = Field(
        None,
        min_length=1,
        description="Git revision (branch, tag or commit) of a hub `model`; recorded in the baseline's policy handle "
        "(the commit it resolved to when not given).",
    )
    trust_remote_code: bool = Field(
        False, description="Allow model code from its repository. Off by default."
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Precision of frozen models: the reference, margin policies, a LoRA adapter's base, specialists "
        "and every policy loaded for evaluation or the explorer, the reward model when scoring. 'auto' keeps the "
        "checkpoint's dtype (bfloat16 for most instruct checkpoints). Weights that train (full fine-tuning, the "
        "reward model, LoRA adapters) are always float32; mixed precision is the trainers' `bf16: true` on a GPU.",
    )
    lora: dict[str, Any] | None = Field(
        None,
        description="Train LoRA adapters instead of full weights: fields of peft.LoraConfig (r, lora_alpha, "
        "target_modules, lora_dropout, ...). Each point then saves an adapter; the base model is the reference.",
    )

    @field_validator("lora")
    @classmethod
    def _lora_fields(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from peft import LoraConfig

            check_dataclass_kwargs(LoraConfig, value, "lora")
            if "task_type" in value:
                raise ValueError("lora.task_type: set by the toolkit (CAUSAL_LM)")
        return value


class DataConfig(_Strict):
    source: Literal["synthetic", "files", "prompts"] = Field(
        "synthetic",
        description="Built-in benchmark; preference data files (local or on the hub); or prompts alone, whose "
        "preference pairs the toolkit makes by sampling the base policy and scoring with the objectives' "
        "scorers (`data.prompts`).",
    )
    synthetic: SyntheticConfig = Field(
        default_factory=SyntheticConfig, description="The built-in benchmark's settings."
    )
    files: list[DataFileConfig] = Field(
        default_factory=list, description="Preference data files (source: files)."
    )
    prompts: PromptPairsConfig | None = Field(
        None, description="Training prompts and how their preference pairs are made (source: prompts)."
    )
    eval_prompts: Path | None = Field(
        None,
        description="Held-out prompts for evaluation (source: files or prompts): a .txt (one per line) or .jsonl "
        "(prompt).",
    )
    prompt_format: Literal["auto", "chat", "plain"] = Field(
        "auto",
        description="How prompts reach the model: 'chat' through the base tokenizer's chat template (plain texts "
        "are wrapped as user/assistant messages, so plain and conversational files mix), 'plain' as they are, "
        "'auto' chat when the tokenizer has a template (see pareto_align/models/chat.py).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.source == "files" and not self.files:
            raise ValueError("source 'files' needs at least one entry in data.files")
        if self.source == "prompts" and self.prompts is None:
            raise ValueError("source 'prompts' needs data.prompts (the training prompts' file)")
        if self.source == "prompts" and self.eval_prompts is None:
            raise ValueError("source 'prompts' needs data.eval_prompts (held-out prompts for the front)")
        if self.source != "prompts" and self.prompts is not None:
            raise ValueError("prompts: only used with source 'prompts'")
        if self.source == "synthetic" and self.prompt_format == "chat":
            raise ValueError(
                "data.prompt_format: 'chat' needs a chat template, and the built-in benchmark's tokenizer has none"
            )
        return self


class WeightGridConfig(_Strict):
    kind: Literal["explicit", "das-dennis", "energy"] = Field(
        "das-dennis", description="How the grid is made."
    )
    weights: list[list[float]] | None = Field(None, description="Explicit weight vectors (kind: explicit).")
    n_partitions: int | None = Field(None, ge=1, description="das-dennis partitions per objective.")
    n_points: int | None = Field(None, ge=1, description="Number of energy directions.")
    seed: int = Field(0, description="Seed of the energy directions.")

    @model_validator(mode="after")
    def _check(self):
        needs = {"explicit": "weights", "das-dennis": "n_partitions", "energy": "n_points"}[self.kind]
        if getattr(self, needs) is None:
            raise ValueError(f"kind '{self.kind}' needs '{needs}'")
        return self


class EvaluationConfig(_Strict):
    scorer: RewardSource | None = Field(
        None,
        description="What scores the front: 'gold' (the built-in benchmark's gold functions), 'objectives' (each "
        "objective's own `scorer`), 'reward_model' (the reward model's heads). Default: gold on the built-in "
        "benchmark, objectives otherwise.",
    )
    judges: dict[str, ScorerSpec] = Field(
        default_factory=dict,
        description="Held-out judges, objective name -> scorer: the front's responses are scored a second time "
        "by them (objectives without a judge keep their evaluation score), and front.json records both.",
    )
    samples_per_prompt: int = Field(32, ge=1, description="Responses sampled per held-out prompt.")
    max_prompts: int | None = Field(None, ge=1, description="Use at most this many held-out prompts.")
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description="How responses are sampled."
    )
    seed: int = Field(
        1234, description="Sampling seed (the same for every policy: differences are the policies')."
    )
    n_examples: int = Field(6, ge=0, description="Sample responses stored per point, for the explorer.")


class ResourcesConfig(_Strict):
    """What one job asks of a distributed launcher's scheduler (Ray's task resources)."""

    num_cpus: float = Field(
        1.0, gt=0, description="CPU cores per job; torch in the job uses this many threads."
    )
    num_gpus: float = Field(0.0, ge=0, description="GPUs per job (fractions share a GPU).")
    memory_gb: float | None = Field(
        None, gt=0, description="Memory per job in GiB, reserved by the scheduler (not enforced)."
    )


class LauncherConfig(_Strict):
    """Where the jobs of a sweep run. Not part of the config hash: a run started on one launcher resumes on another."""

    kind: Literal["local", "ray"] = Field(
        "local", description="local: one job after another in this process; ray: each job a Ray task."
    )
    address: str | None = Field(
        None,
        description="Ray cluster address (e.g. 'auto' or 'ray://head:10001'); default: $RAY_ADDRESS, else a "
        "local cluster started for the sweep.",
    )
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="What each job asks for.")
    max_retries: int = Field(
        2,
        ge=0,
        description="Retries of a job whose worker died or that raised, before it is reported failed.",
    )
    retry_exceptions: bool = Field(
        True, description="Also retry a job that raised (Ray retries a killed worker in any case)."
    )


class SweepConfig(_Strict):
    name: str = Field("sweep", description="Run name.")
    output_dir: Path | None = Field(
        None, description="Run directory (default runs/<name>); --output-dir overrides."
    )
    cache_dir: Path | None = Field(
        None, description="Benchmark cache (default $PARETO_ALIGN_CACHE or ~/.cache)."
    )
    objectives: list[ObjectiveConfig] = Field(min_length=2, max_length=8, description="Objectives, in order.")
    data: DataConfig = Field(
        default_factory=DataConfig, description="Preference data: the benchmark or files."
    )
    policy: PolicyConfig = Field(
        default_factory=PolicyConfig, description="The base policy every method starts from."
    )
    reward_model: RewardModelConfig = Field(
        default_factory=RewardModelConfig, description="The multi-head reward model."
    )
    method: MethodConfig = Field(default_factory=lambda: METHODS["modpo"].INFO.config(),
                                 description="The method and its settings; `name` picks it (default modpo).")  # fmt: skip
    weights: WeightGridConfig = Field(description="Weight grid: one policy per weight vector (and seed).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="Training seeds.")
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="How every point is scored."
    )
    reference_point: list[float] = Field(description="Hypervolume reference point, maximize convention.")
    normalization: Normalization | None = Field(
        None, description="Optional bounds normalization for indicators."
    )
    launcher: LauncherConfig = Field(
        default_factory=LauncherConfig, description="Where jobs run (local or Ray) and what each asks for."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig,
        description="Experiment trackers for every trainer and the sweep's front (see pareto_align/tracking.py).",
    )

    @model_validator(mode="after")
    def _check(self):
        k = len(self.objectives)
        names = [o.name for o in self.objectives]
        if len(set(names)) != k:
            raise ValueError(f"objectives: duplicate names in {names}")
        if len(self.reference_point) != k:
            raise ValueError(
                f"reference_point: expected {k} values (one per objective), got {len(self.reference_point)}"
            )
        if self.weights.kind == "explicit":
            for i, w in enumerate(self.weights.weights or []):
                where = f"weights.weights[{i}]"
                if len(w) != k:
                    raise ValueError(f"{where}: expected {k} values (one per objective), got {len(w)}")
                if any(x < 0 for x in w):
                    raise ValueError(f"{where}: weights must be non-negative, got {w}")
                if abs(sum(w) - 1.0) > 1e-6:
                    raise ValueError(f"{where}: weights must sum to 1, got sum {sum(w):.6g}")
        if self.data.source == "synthetic":
            missing = [o.name for o in self.objectives if o.gold is None]
            if missing:
                raise ValueError(f"objectives: {missing} need a 'gold' function on the built-in benchmark")
            if not 2 <= k <= 5:
                raise ValueError(f"objectives: the built-in benchmark supports 2 to 5 objectives, got {k}")
        else:
            if self.evaluation.scorer == "gold":
                raise ValueError("evaluation.scorer: 'gold' is only available on the built-in benchmark")
            for where, spec in self.scorer_fields():
                if spec == "gold":
                    raise ValueError(f"{where}: 'gold' is only available on the built-in benchmark")
            for i, f in enumerate(self.data.files):
                unknown = [n for n in f.objective_names if n not in names]
                if unknown:
                    raise ValueError(f"data.files[{i}]: unknown objective(s) {unknown}; configured: {names}")
        if self.evaluation.scorer is None:
            self.evaluation.scorer = "gold" if self.data.source == "synthetic" else "objectives"
        unknown = [n for n in self.evaluation.judges if n not in names]
        if unknown:
            raise ValueError(f"evaluation.judges: unknown objective(s) {unknown}; configured: {names}")
        if self.data.source == "prompts":
            for i, o in enumerate(self.objectives):
                if o.scorer is None or isinstance(o.scorer, str):
                    raise ValueError(f"objectives[{i}].scorer: data.source 'prompts' labels its pairs with the "
                                     f"objectives' scorers: give '{o.name}' a model, url or function scorer")  # fmt: skip
        if self.normalization is not None and len(self.normalization.lower) != k:
            raise ValueError(f"normalization: expected {k} bounds, got {len(self.normalization.lower)}")
        if self.tracking.report_to:  # one place says where runs are logged
            for where, fields in (("method.trl", getattr(self.method, "trl", {})),
                                  ("reward_model.training", self.reward_model.training)):  # fmt: skip
                if "report_to" in fields:
                    raise ValueError(
                        f"{where}.report_to: set by tracking.report_to, which reaches every trainer"
                    )
        self.method.check(self)  # the method's own cross-field checks, and its TRL config built once
        return self

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def scorer_fields(self) -> list[tuple[str, Any]]:
        """Every scorer the config names, with its field: the objectives' and the judges'."""
        fields = [(f"objectives[{i}].scorer", o.scorer) for i, o in enumerate(self.objectives) if o.scorer]
        return fields + [(f"evaluation.judges.{n}", spec) for n, spec in self.evaluation.judges.items()]

    def scorers(self) -> dict[str, Any]:
        """What scores each objective, for front.json's provenance and the config hash (`scorers.specs.describe`):
        its own scorer, and its judge when it has one."""
        golds = {o.name: o.gold for o in self.objectives}
        out: dict[str, Any] = {"objectives": {o.name: describe(o.scorer, o.gold) for o in self.objectives}}
        if self.evaluation.judges:
            out["judges"] = {n: describe(s, golds[n]) for n, s in self.evaluation.judges.items()}
        return out

    def weight_vectors(self) -> np.ndarray:
        """The weight grid, (m, K)."""
        g = self.weights
        return weight_grid(g.kind, len(self.objectives), n_partitions=g.n_partitions, n_points=g.n_points,
                           seed=g.seed, explicit=g.weights)  # fmt: skip

    def effective(self) -> dict[str, Any]:
        """The config with every default resolved, the method's trainer defaults included (JSON types)."""
        # where jobs run and where runs are logged are no hyper-parameters: a run resumes on another launcher, and
        # adding a tracker to a config keeps its runs resumable
        payload = self.model_dump(mode="json", exclude={"output_dir", "cache_dir", "launcher", "tracking"})
        payload["method"] = self.method.effective()
        payload["scorers"] = self.scorers()
        return json.loads(json.dumps(payload, default=str))

    def config_hash(self) -> str:
        """Hash of the effective config: what a resumed run directory must match (see HASH_VERSION)."""
        return hashlib.sha256(json.dumps(self.effective(), sort_keys=True).encode()).hexdigest()[:16]


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format(err: ValidationError) -> str:
    return _format_error(err.errors()[0])


def validation_messages(err: ValidationError) -> list[str]:
    """Every error of a failed validation as one line naming its field (duplicates dropped, order kept)."""
    return list(dict.fromkeys(_format_error(e) for e in err.errors()))


def _format_error(e) -> str:
    # union tags: the user wrote `method.<field>` (and `method.specialists.<field>`), not `method.<name>.<field>`
    parts = [
        p
        for i, p in enumerate(e["loc"])
        if not (i and e["loc"][i - 1] in ("method", "specialists") and p in METHODS)
        and not (
            i and p in SCORER_TAGS and (e["loc"][i - 1] == "scorer" or e["loc"][i - 2 : i - 1] == ("judges",))
        )
    ]
    loc = _loc(tuple(p for p in parts if not (isinstance(p, str) and p.startswith(("function-", "tagged-")))))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    elif e["type"] == "union_tag_invalid":
        loc, msg = (
            f"{loc}.name" if loc else "name",
            f"unknown method {e['input'].get('name')!r}; available: {e['ctx']['expected_tags']}",
        )
    elif e["type"] == "missing":
        msg = "required field is missing"
    if loc and msg.startswith(loc + "."):  # the validator already named the full path
        return msg
    if loc.endswith(".specialists") and msg.startswith("method."):  # a method section nested in another
        return loc + msg.removeprefix("method")
    parent, _, last = loc.rpartition(".")
    if last and msg.startswith(last + "."):  # ... or the path below its own field
        return f"{parent}.{msg}" if parent else msg
    return f"{loc}: {msg}" if loc else msg


def parse_config(data: dict, source: str = "<config>", base_dir: Path | None = None) -> SweepConfig:
    """Validate a config mapping; relative paths in it resolve against `base_dir` (the YAML file's folder)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        config = SweepConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format(err)}") from None
    if base_dir is not None:
        resolve_paths(config, source, base_dir)
    return config


def resolve_paths(config: SweepConfig, source: str, base_dir: Path) -> None:
    """Resolve the config's relative data paths against `base_dir`; ConfigError for one that does not exist."""
    for i, f in enumerate(config.data.files):
        if f.path is None:  # a hub dataset: read when the sweep starts, never while validating
            continue
        if not f.path.is_absolute():
            f.path = base_dir / f.path
        if not f.path.exists():
            raise ConfigError(f"{source}: data.files[{i}].path: {f.path} does not exist")
    if config.data.eval_prompts is not None:
        if not config.data.eval_prompts.is_absolute():
            config.data.eval_prompts = base_dir / config.data.eval_prompts
        if not config.data.eval_prompts.exists():
            raise ConfigError(f"{source}: data.eval_prompts: {config.data.eval_prompts} does not exist")
    if config.data.prompts is not None:
        if not config.data.prompts.path.is_absolute():
            config.data.prompts.path = base_dir / config.data.prompts.path
        if not config.data.prompts.path.exists():
            raise ConfigError(f"{source}: data.prompts.path: {config.data.prompts.path} does not exist")
    for where, spec in config.scorer_fields():
        if isinstance(spec, FunctionSpec):
            try:
                spec.resolve(base_dir)
            except ValueError as err:
                raise ConfigError(f"{source}: {where}.function: {err}") from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file's contents (`yaml.safe_load` only); ConfigError for a missing file or invalid YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(err, 'problem', err)}") from None


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML (`yaml.safe_load` only)."""
    path = Path(path)
    return parse_config(read_yaml(path), source=str(path), base_dir=path.parent)
