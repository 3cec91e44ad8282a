"""What every method module offers the sweep (contract: methods, docs/contracts.md), and what it hands back.

A method module defines:
    INFO                    its facts (`MethodInfo`): its section, name, display name, colour, BibTeX, and its
                            optional hooks (`prepare`, `after_job`, `shares_work_within_seed`); the rest of the
                            toolkit (sweep, launchers, explorer, exporter) reads them there and nowhere else
    INFO.config             its YAML `method:` section (`MODPOSection`, ...), a pydantic model whose `name` is the
                            union's discriminator; `check(sweep_config)` raises ValueError("method.<field>: ...")
                            for cross-field mistakes, and builds the TRL config object so TRL's own checks run
                            before anything else; `check_tokenizer(sweep_config, tokenizer)` what needs the base
                            tokenizer, at sweep start
    plan(config, front)     the jobs still worth running given the current front (ids deterministic: resume is
                            generic); the sweep calls it again after each round until it offers no unfinished job
    run(job, workspace)     train (or select) into a JobResult: one or more policies with their handles, each
                            evaluated by the sweep through `load_policy`, plus compute shared by several points

A section also states what its plan will spend, `planned_updates(sweep_config)`: the policy updates (optimizer
steps) per seed, or None where they are only known after the run (epoch-based fine-tuning, whose step count follows
the data). `pareto-align compare` refuses a method that plans more than the comparison's budget.

And how to spend a given number, `scale_to(sweep_config, updates) -> (section, description)`: the section
with its own length knob (a grid's `max_steps`, the specialists' steps, C-MORL's stage lengths, ...) set so that its
plan makes `updates` policy updates per seed, or the largest number not above it that the knob allows, and one
sentence saying what changed (`budget.fill` of `pareto-align compare`). A section without a knob raises ValueError.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import Self

from pareto_align.front.schema import Compute, Front
from pareto_align.hf_args import build_dataclass, check_dataclass_kwargs, hardware_defaults, resolved_defaults
from pareto_align.objectives import Scalarization

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class MethodSection(BaseModel):
    """Base of every `method:` section: strict keys, and a hook for the checks that need the whole config."""

    model_config = ConfigDict(extra="forbid")

    def check(self, config: SweepConfig) -> None:
        """Raise ValueError naming `method.<field>` when this section does not fit the rest of the config."""

    def check_tokenizer(self, config: SweepConfig, tokenizer: Any) -> None:
        """Raise ConfigError naming the field when the base policy's tokenizer does not fit this section. The sweep
        calls it when it starts, before anything trains: loading a tokenizer is cheap, a reward model is not."""

    def effective(self) -> dict[str, Any]:
        """The section with every default resolved (trainer defaults included): what the config hash covers."""
        return self.model_dump(mode="json")

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """Policy updates this section's plan makes per seed; None when only the run can tell."""
        return None

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[MethodSection, str]:
        """This section with its length knob set so that its plan makes `updates` policy updates per seed (or the
        largest number not above it the knob allows), and a sentence saying what changed. ValueError naming
        `budget.fill` when it cannot."""
        raise ValueError(f"budget.fill: method {getattr(self, 'name', '?')} has no length to scale")

    def with_changes(self, **changes: Any) -> Self:
        """A copy with `changes` over the fields the user set, validated again (the user's other fields stay
        unset, so the config hash and the recorded YAML only differ by the changes)."""
        return type(self).model_validate({**self.model_dump(exclude_unset=True), **changes})

    def described(self, config: SweepConfig, updates: int, changes: str, why: str) -> tuple[Self, str]:
        """`self` (already scaled) and the sentence `scale_to` returns: what changed, the plan it makes, and why
        it falls short of `updates` when it does."""
        plan = self.planned_updates(config)
        # every scale_to sets a fixed length, within the budget
        assert plan is not None and plan.updates <= updates, (plan, updates)
        text = f"{changes}: {plan.rule} = {plan.updates} policy updates per seed"
        if plan.updates < updates:
            text += f", {updates - plan.updates} short of {updates} (the largest the knob allows: {why})"
        return self, text


# TRL builds a vLLM engine inside each trainer it constructs; a sweep constructs one trainer per job in one process
# and nothing shuts an engine down, so each job would keep another engine's GPU memory. Refused until it is made
# correct (one engine reused across jobs, or torn down after each) and run where vLLM runs.
VLLM_REFUSED = (
    "method.trl.use_vllm: not supported: each job would start its own vLLM engine in the sweep's process and none "
    "is ever shut down (each keeps its GPU memory), and this path has never been run; leave it unset "
    "(generation runs through transformers)"
)


class TRLSection(MethodSection):
    """A method section with a `trl:` pass-through to a TRL config dataclass (DPOConfig, GRPOConfig, ...).

    Subclasses name the dataclass (`trl_config_class`), their defaults for the benchmark (`DEFAULT_TRL`) and the
    fields the sweep sets per job (`MANAGED`, with the reason). The config object is built while the YAML is
    checked (`check`), so every error TRL or transformers would raise is reported then, in one line.
    """

    DEFAULT_TRL: ClassVar[dict[str, Any]] = {}
    MANAGED: ClassVar[dict[str, str]] = {}
    # fields that carry no hyper-parameter (paths, logging) and stay out of the config hash
    UNHASHED: ClassVar[set[str]] = {"output_dir", "logging_dir", "run_name", "hub_token", "push_to_hub_token"}

    trl: dict[str, Any] = Field(
        default_factory=dict, description="Fields of the method's TRL config dataclass."
    )

    def trl_config_class(self) -> type:
        raise NotImplementedError

    def trl_fields_of(self) -> type:
        """The TRL dataclass whose field names the user may set (named in 'unknown field' errors)."""
        return self.trl_config_class()

    @model_validator(mode="after")
    def _known_trl_fields(self):
        bad = sorted(set(self.MANAGED) & set(self.trl))
        if bad:
            why = "; ".join(f"{k}: {self.MANAGED[k]}" for k in bad)
            raise ValueError(f"method.trl: {bad} are set by the sweep ({why})")
        check_dataclass_kwargs(self.trl_fields_of(), self.trl, "method.trl")
        for key in ("bf16", "fp16"):
            if self.trl.get(key) and not _mixed_precision_available(key, self.trl.get("use_cpu", False)):
                raise ValueError(f"method.trl.{key}: needs a CUDA GPU{' with bf16 support' if key == 'bf16' else ''}"
                                 f" and use_cpu false; this machine {_device_words()}")  # fmt: skip
        return self

    def trl_args(self) -> dict[str, Any]:
        """Keyword arguments of the TRL config: hardware defaults, the method's defaults, then the user's."""
        return {**hardware_defaults(), **self.DEFAULT_TRL, **self.trl}

    def build_trl_config(self, **managed: Any):
        """The TRL config object for one job; `managed` are the fields the sweep sets (output_dir, seed, ...)."""
        kwargs = {**self.trl_args(), **managed}
        return build_dataclass(self.trl_config_class(), kwargs, "method.trl")

    def validation_placeholders(self, config: SweepConfig) -> dict[str, Any]:
        """Values of the managed fields for building the config object at validation time."""
        return {}

    def max_steps(self) -> int | None:
        """The trainer's `max_steps` when it fixes the run's length (TRL's -1 means: epochs decide)."""
        steps = self.trl_args().get("max_steps", -1)
        return steps if steps > 0 else None

    def with_max_steps(self, steps: int) -> Self:
        return self.with_changes(trl={**self.trl, "max_steps": steps})

    def max_steps_change(self, steps: int) -> str:
        """`trl.max_steps <old> -> <new>`, for `scale_to`'s sentence."""
        return change("trl.max_steps", self.max_steps(), steps)

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """A grid method: one training run of `max_steps` per weight vector (and seed)."""
        steps, runs = self.max_steps(), len(config.weight_vectors())
        return None if steps is None else UpdatePlan(runs * steps, f"{runs} runs x {steps} max_steps")

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[TRLSection, str]:
        """A grid method: every run of the grid gets `updates // runs` steps."""
        runs = len(config.weight_vectors())
        steps = fitting_steps(updates, runs, f"{runs} runs of the weight grid")
        why = f"the {runs} runs share one max_steps"
        return self.with_max_steps(steps).described(config, updates, self.max_steps_change(steps), why)

    def check(self, config: SweepConfig) -> None:
        if self.trl.get("use_vllm") not in (None, False):  # GRPOConfig and RLOOConfig have the switch
            raise ValueError(VLLM_REFUSED)
        out = str(Path(tempfile.gettempdir()) / "pareto_align-config-check")  # never created
        self.build_trl_config(output_dir=out, **self.validation_placeholders(config))

    def effective(self) -> dict[str, Any]:
        section = self.model_dump(mode="json")
        section["trl"] = resolved_defaults(self.trl_config_class(), {**self.DEFAULT_TRL, **self.trl},
                                           exclude=self.UNHASHED | set(self.MANAGED))  # fmt: skip
        return section


def _mixed_precision_available(key: str, use_cpu: bool) -> bool:
    import torch

    if use_cpu or not torch.cuda.is_available():
        return False
    return key == "fp16" or torch.cuda.is_bf16_supported()


def _device_words() -> str:
    import torch

    if not torch.cuda.is_available():
        return "has no CUDA device"
    return f"has {torch.cuda.get_device_name(0)}"


def change(field: str, old: int | None, new: int) -> str:
    """`field old -> new` for `scale_to`'s sentence (`old` None: the length was left to epochs)."""
    if old == new:
        return f"{field} {new} (unchanged)"
    return f"{field} {old if old is not None else 'unset (epochs)'} -> {new}"


def fitting_steps(updates: int, runs: int, what: str) -> int:
    """The most steps each of `runs` equal runs can make within `updates`; ValueError when not even one."""
    if updates < runs:
        raise ValueError(
            f"budget.fill: {updates} policy updates per seed cannot give each of the {what} a step"
        )
    return updates // runs


@dataclass(frozen=True)
class UpdatePlan:
    """Policy updates a method plans per seed (`updates`), and how they add up (`rule`, for messages)."""

    updates: int
    rule: str


@dataclass(frozen=True)
class Job:
    """One unit of work. `id` is deterministic (a resumed sweep recognises finished jobs by it)."""

    id: str
    seed: int
    weights: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainedPolicy:
    """A policy a job produced: the sweep evaluates its handle and records it as the point `id`."""

    id: str
    policy: dict[str, Any]  # a policy handle (contract: policy handles), paths relative to the run dir
    seed: int
    compute: Compute
    weights: list[float] | None = None
    direction: list[float] | None = None
    step: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    # forward passes per generated token that the policy pays at inference (best-of-n: 1 per candidate token;
    # decoding-time mixtures: one per active specialist); the sweep records its evaluation's generated tokens
    # times this, and its seconds, as the point's cost
    inference_token_cost: int = 0


@dataclass
class JobResult:
    points: list[TrainedPolicy]
    shared: dict[str, Compute] = field(default_factory=dict)  # work used by several points, recorded once


@dataclass(frozen=True)
class MethodInfo:
    """A method's facts, declared once on its module as `INFO` (contract: methods). `tests/test_method_contract.py`
    holds every registered method to them."""

    # its YAML `method:` section (`MODPOSection`; `MODPOConfig` is TRL's name for the trainer's config, which the
    # section builds): a pydantic model whose `name` field is this name, the union's discriminator
    config: type[MethodSection]
    name: str  # the `method:` value: the section's discriminator and the method's key in `METHODS`
    display_name: str  # its name in tables, legends and the explorer ("MODPO", "Rewarded soups")
    # its fixed colour in every figure, the explorer's and the paper's: a colour of `export.style.PALETTE` that no
    # other method has
    color: str
    bibtex: (
        str  # the BibTeX entry of its paper; methods of one paper share the entry (the export writes it once)
    )
    # optional: `prepare(ws)` builds the method's own shared products before distributed jobs start, so that
    # workers only read them by path (best-of-n's reward model)
    prepare: Callable[[Workspace], None] | None = None
    # optional: `after_job(job, ws)`, called by the sweep once a job's points are saved in front.json (C-MORL
    # deletes the snapshots that dropped out of its archive there)
    after_job: Callable[[Job, Workspace], None] | None = None
    # the first job of each seed builds work that the seed's other jobs read (soups' and MOD's specialists): the
    # Ray launcher runs it before the others of its seed
    shares_work_within_seed: bool = False
    # every sample it draws from a policy while that policy trains is drawn inside the trainer (or from saved
    # checkpoints), so FSDP may shard the policy's weights; a method without it is refused under FSDP
    shardable: bool = False

    @property
    def citation_key(self) -> str:
        """The BibTeX key of its paper (`zhou2024modpo`)."""
        return self.bibtex.split("{", 1)[1].split(",", 1)[0].strip()


class Method(Protocol):
    """A module of `pareto_align.methods` (see the module docstring)."""

    INFO: MethodInfo
    plan: Callable[[SweepConfig, Front], list[Job]]
    run: Callable[[Job, Workspace], JobResult]


def check_ideal(scalarization: Scalarization, k: int) -> None:
    """A Tchebycheff ideal point needs one value per objective."""
    ideal = scalarization.ideal
    if ideal is not None and len(ideal) != k:
        raise ValueError(f"method.scalarization.ideal: expected {k} values, got {len(ideal)}")


def method_name(value: Any) -> str:
    """The discriminator of a method section; a section without `name` is MODPO, the first method."""
    if isinstance(value, dict):
        return value.get("name", "modpo")
    return getattr(value, "name", "modpo")


def grid_jobs(config: SweepConfig, **metadata: Callable[[list[float]], Any]) -> list[Job]:
    """One job per (weight vector, seed) of the config's grid, id `w<index>-s<seed>`; `metadata` values are
    functions of the weight vector."""
    jobs = []
    for i, w in enumerate(config.weight_vectors()):
        w = [round(float(x), 10) for x in w]
        for seed in config.seeds:
            extra = {key: f(w) for key, f in metadata.items()}
            jobs.append(Job(f"w{i:02d}-s{seed}", seed, w, {"grid_index": i, **extra}))
    return jobs
