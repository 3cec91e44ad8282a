"""What scores an objective: `objectives[i].scorer` and `evaluation.judges` (contract: reward scoring).

    scorer: reward_model                        # the toolkit's multi-head reward model, this objective's head
    scorer: gold                                # the built-in benchmark's gold function (`gold:` names it)
    scorer: {model: NAME_OR_PATH, revision, output: INDEX_OR_LABEL, output_field, batch_size, max_length}
    scorer: {url: http://HOST:PORT/PATH, output, batch_size, timeout, retries}
    scorer: {function: package.module:name}     # or {function: path/to/file.py:name}, relative to the YAML

Omitted, an objective is scored by its head of the reward model, as before these fields existed. A user scorer
(model, url, function) returns the raw measurement; an objective declared `direction: min` is negated once, when
scored, so every objective is maximized inside the toolkit.

`describe` is what front.json's provenance and the config hash record of a scorer: for a function, the module path
and the SHA-256 of its source file, so that an edited function makes a new config.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, field_validator

from pareto_align.atomic import sha256_file

# `reward_source` / `margin_source` of a method, `evaluation.scorer`: where the K rewards come from.
#   objectives:   each objective's own `scorer` (its reward-model head where it names none)
#   reward_model: the multi-head reward model's heads for every objective
#   gold:         the built-in benchmark's gold functions for every objective (an oracle)
RewardSource = Literal["objectives", "reward_model", "gold"]
REWARD_SOURCE_HELP = (
    "Per-objective rewards: 'objectives' scores each objective with its own `scorer` (the multi-head reward "
    "model's head where it names none; heads aggregated over an ensemble as `aggregation`), 'reward_model' with "
    "the reward model's heads for every objective, 'gold' (built-in benchmark only) with the gold functions."
)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardModelSpec(_Spec):
    """A `transformers` sequence classifier from the Hub or a local folder; one output is one objective."""

    model: str = Field(min_length=1, description="Hub name or local path of the sequence classifier.")
    revision: str | None = Field(None, min_length=1, description="Git revision of a Hub `model`.")
    output: int | str | None = Field(
        None,
        description="Which output scores this objective: an index, or a label of the model's id2label. Required "
        "when the model has several outputs.",
    )
    output_field: str = Field(
        "logits",
        min_length=1,
        description="The field of the model's output that holds the rewards: 'logits' for transformers' own "
        "classes; a custom class names its own (ArmoRM: 'rewards').",
    )
    batch_size: int = Field(16, ge=1, description="Responses per forward pass.")
    max_length: int = Field(1024, ge=8, description="Longest input in tokens; longer ones keep their end.")
    trust_remote_code: bool = Field(False, description="Allow the model's own code (ArmoRM). Off by default.")


class RemoteSpec(_Spec):
    """A reward model served over HTTP with OpenRLHF's `remote_rm_url` protocol: a POST of JSON
    `{"query": [prompt + response, ...], "prompts": [...], "responses": [...]}` answered by `{"rewards": [...]}`."""

    url: str = Field(description="http://HOST:PORT/PATH of the reward server.")
    output: int | None = Field(
        None, ge=0, description="When the server answers a list of rewards per response: which one."
    )
    batch_size: int = Field(32, ge=1, description="Responses per request.")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for one answer.")
    retries: int = Field(
        3, ge=0, description="Tries after a failed request (timeouts, refused connections, 5xx)."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// address, got {value!r}")
        return value


class FunctionSpec(_Spec):
    """A reward function with TRL's signature, `f(prompts, completions, **kwargs) -> list[float]`, called once per
    batch with `objective=<name>` among its keyword arguments."""

    function: str = Field(
        description="'package.module:name', or 'path/to/file.py:name' (relative to the YAML)."
    )
    _file: Path | None = PrivateAttr(None)  # a file function's path, resolved against the YAML's folder

    @field_validator("function")
    @classmethod
    def _form(cls, value: str) -> str:
        target, sep, name = value.rpartition(":")
        if not sep or not target or not name.isidentifier():
            raise ValueError(f"expected 'package.module:name' or 'path/to/file.py:name', got {value!r}")
        return value

    @property
    def target(self) -> str:
        return self.function.rpartition(":")[0]

    @property
    def name(self) -> str:
        return self.function.rpartition(":")[2]

    @property
    def is_file(self) -> bool:
        return self.target.endswith(".py")

    def resolve(self, base_dir: Path | None) -> None:
        """Resolve a file function against `base_dir`; ValueError when the file or module cannot be found."""
        if self.is_file:
            path = Path(self.target).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                raise ValueError(f"function file {path} does not exist")
            self._file = path.resolve()
        elif module_file(self.target) is None:
            raise ValueError(f"module {self.target!r} not found (is it installed, or on PYTHONPATH?)")

    def source_file(self) -> Path | None:
        if self.is_file:
            return self._file or Path(self.target)
        return module_file(self.target)


def module_file(module: str) -> Path | None:
    """The source file of an importable module, without running it (its parent packages are imported)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else Path(module)


def _spec_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value in ("reward_model", "gold") else None
    if isinstance(value, BaseModel):
        return spec_kind(value)
    if isinstance(value, dict):
        keys = [k for k in ("model", "url", "function") if k in value]
        return keys[0] if len(keys) == 1 else None
    return None


ScorerSpec = Annotated[
    Annotated[Literal["reward_model"], Tag("reward_model")]
    | Annotated[Literal["gold"], Tag("gold")]
    | Annotated[RewardModelSpec, Tag("model")]
    | Annotated[RemoteSpec, Tag("url")]
    | Annotated[FunctionSpec, Tag("function")],
    Discriminator(
        _spec_kind,
        custom_error_type="scorer_kind",
        custom_error_message="expected 'reward_model', 'gold', or a mapping with one of 'model' (a sequence "
        "classifier), 'url' (a reward server) or 'function' (a reward function)",
    ),
]
SCORER_TAGS = ("reward_model", "gold", "model", "url", "function")  # dropped from error paths


def spec_kind(spec: Any) -> str:
    """'reward_model', 'gold', 'model', 'url' or 'function' (an omitted scorer is the reward model's head)."""
    if spec is None or isinstance(spec, str):
        return spec or "reward_model"
    return {RewardModelSpec: "model", RemoteSpec: "url", FunctionSpec: "function"}[type(spec)]


def is_user_scorer(spec: Any) -> bool:
    """A scorer the user brings (a model, a server, a function), as opposed to a head or a gold function."""
    return isinstance(spec, RewardModelSpec | RemoteSpec | FunctionSpec)


def file_sha256(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def describe(spec: Any, gold: str | None = None) -> dict[str, Any]:
    """What front.json's provenance and the config hash record of one objective's scorer."""
    if spec is None or spec == "reward_model":
        return {"kind": "reward_model"}
    if spec == "gold":
        return {"kind": "gold", "gold": gold}
    if isinstance(spec, FunctionSpec):
        source = spec.source_file()
        return {"kind": "function", "function": spec.function,
                "file": str(source) if source else None,
                "sha256": file_sha256(source) if source else None}  # fmt: skip
    return {"kind": spec_kind(spec), **spec.model_dump(mode="json")}


def scorer_record(spec: Any) -> Any:
    """A spec as a policy handle stores it, to be validated again by `load_policy` (a file function by its
    resolved path, so that the handle does not depend on where the YAML was)."""
    if spec is None or isinstance(spec, str):
        return spec or "reward_model"
    record = spec.model_dump(mode="json")
    if isinstance(spec, FunctionSpec) and spec.is_file:
        record["function"] = f"{spec.source_file()}:{spec.name}"
    return record
