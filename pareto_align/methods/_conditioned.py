"""What DPA and RiC share: one policy fine-tuned (TRL's SFTTrainer) on prompts that carry a preference, trained
over several rounds with a checkpoint after each, and a front of `conditioned` handles on that one checkpoint.

- The section: per-objective rewards (the multi-head reward model, ensemble aggregated, or gold on the built-in
  benchmark), the prompt template, candidate generation, and a `trl:` pass-through to `SFTConfig`.
- The vocabulary: a prompt template must reach the model as tokens. Tokens are added only where the tokenizer
  cannot write a piece of the template (`conditioning.missing_pieces`: the unknown token, or a piece that does not
  decode back). A byte-level BPE tokenizer (Qwen2, Llama 3) writes every template, numbers included, and gets
  nothing. The built-in benchmark's word-level tokenizer knows no numbers or template words, so the pieces it lacks
  are added as tokens (whole numbers 0-100 each one token) and the embeddings grown (new rows drawn around the old
  ones' mean, transformers' default; never shrunk) before fine-tuning; the new ids are suppressed in generation,
  and the saved checkpoint carries the extended tokenizer and that setting. A LoRA adapter cannot carry new
  embedding rows here, so LoRA with a tokenizer that needs new pieces is refused; LoRA with one that writes the
  template trains one adapter across rounds.
- Completions: SFT's completion of a conversational prompt (every prompt of a chat-format run) is assistant turns:
  the data's own (RiC's offline responses) or a generated text made one (`completion_for`); after a plain prompt
  it is the text with a leading space, as TRL joins plain prompt and completion.
- Rounds: after each round the policy and `state.json` (rounds done, compute so far, the method's own state) are
  written in points/<job>/, so a killed run resumes after its last finished round; older round checkpoints are
  removed once a newer one is complete.
- The trained model is work shared by every point of its front: recorded once (`JobResult.shared`, keyed by the
  job id), named by each point's `compute.shared`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import datasets
import numpy as np
from pydantic import Field
from trl import SFTConfig, SFTTrainer

from pareto_align.atomic import write_text_atomic
from pareto_align.errors import ConfigError
from pareto_align.front.schema import Compute
from pareto_align.hf_args import build_dataclass
from pareto_align.methods._online import RewardSection
from pareto_align.models.chat import as_chat_completion, is_conversational
from pareto_align.models.conditioning import check_template, extend_vocabulary, missing_pieces, render
from pareto_align.models.generation import GenerationSettings, generate, scorable_responses
from pareto_align.models.loading import load_causal_lm
from pareto_align.trainers.progress import use_step_bar

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace

STATE = "state.json"


class ConditionedSection(RewardSection):
    """Fields common to `method: dpa` and `method: ric`; `trl:` is passed to TRL's SFTConfig."""

    # Defaults for the tiny benchmark model on CPU: TRL's SFT lr (2e-5) barely moves a 0.4M-parameter model.
    DEFAULT_TRL: ClassVar[dict[str, Any]] = {
        "learning_rate": 5e-4,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "max_length": 96,
        "logging_steps": 25,
        "save_strategy": "no",
        "report_to": "none",
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": 5,
    }
    MANAGED: ClassVar[dict[str, str]] = {
        "output_dir": "inside the run directory",
        "seed": "the sweep's seeds",
    }

    template: str | None = Field(
        None,
        description="How the preference is written into the prompt: a format string with {prompt} and {c[0]}.."
        "{c[K-1]} (one value per objective, in config order); default: the method's paper's form.",
    )
    max_new_tokens: int = Field(28, ge=1, description="Longest sampled candidate response, in tokens.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of candidate responses.")

    def trl_config_class(self) -> type:
        return SFTConfig

    def validation_placeholders(self, config: SweepConfig) -> dict[str, Any]:
        return {"seed": 0}

    def default_template(self, names: list[str]) -> str:
        raise NotImplementedError

    def resolved_template(self, names: list[str]) -> str:
        return self.template if self.template is not None else self.default_template(names)

    def check(self, config: SweepConfig) -> None:
        try:
            check_template(self.resolved_template(config.objective_names), len(config.objectives))
        except ValueError as err:
            raise ValueError(f"method.{err}") from None
        super().check(config)

    def check_tokenizer(self, config: SweepConfig, tokenizer: Any) -> None:
        """LoRA with a tokenizer that cannot write the template is refused before anything trains."""
        if config.policy.lora is not None:
            template = self.resolved_template(config.objective_names)
            refuse_lora(missing_pieces(tokenizer, vocabulary_texts(template, len(config.objectives))))

    def generation(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature)


def refuse_lora(missing: list[str]) -> None:
    """ConfigError when a LoRA run's tokenizer lacks pieces of the template (`missing`): an adapter cannot train
    new embeddings."""
    if missing:
        raise ConfigError(f"policy.lora: the policy's tokenizer lacks {missing[:6]}{'...' if len(missing) > 6 else ''}"
                          " of the conditioning template, and a LoRA adapter cannot train new embeddings; use "
                          "full fine-tuning or a tokenizer that writes the template")  # fmt: skip


def vocabulary_texts(template: str, k: int) -> list[str]:
    """Texts holding every piece a conditioned prompt can contain: the template's words and symbols, a minus sign,
    a decimal point and the whole numbers 0..100 (one token each: a tiny model reads "92" more easily than "9", "2",
    and "100" is not mistaken for "10" followed by a digit)."""
    return [render(template, "", ["-" + " ".join(str(i) for i in range(101)) + " 0.0"] * k)]


@dataclass
class Rounds:
    """The rounds of one conditioned training job, checkpointed in points/<job>/ (see the module docstring)."""

    ws: Workspace
    job_id: str
    done: int = 0
    compute: Compute = field(default_factory=Compute)
    state: dict[str, Any] = field(default_factory=dict)  # the method's own (calibration, normalization, data)
    path: str | None = None  # the latest round's checkpoint, relative to the run dir

    @property
    def folder(self):
        return self.ws.run_dir / "points" / self.job_id

    @classmethod
    def load(cls, ws: Workspace, job_id: str) -> Rounds:
        from pareto_align.models.policy import is_checkpoint

        rounds = cls(ws, job_id)
        record = rounds.folder / STATE
        if record.exists():
            data = json.loads(record.read_text())
            if data["path"] and is_checkpoint(ws.run_dir / data["path"]):
                rounds.done, rounds.path, rounds.state = data["done"], data["path"], data["state"]
                rounds.compute = Compute.model_validate(data["compute"])
        return rounds

    def model(self, template: str, k: int):
        """The latest round's policy (or the base policy with its vocabulary extended for the template), and its
        tokenizer, ready to train."""
        if self.path is not None:
            if (self.ws.run_dir / self.path / "adapter_config.json").exists():
                return _trainable_adapter(self.ws, self.ws.run_dir / self.path)
            return load_causal_lm(str(self.ws.run_dir / self.path), trainable=True)
        model, tokenizer = self.ws.load_base_to_train()
        if self.ws.peft_config() is not None:  # checked at sweep start already (`check_tokenizer`)
            refuse_lora(missing_pieces(tokenizer, vocabulary_texts(template, k)))
        added = extend_vocabulary(model, tokenizer, vocabulary_texts(template, k))
        if added:
            self.ws.log(f"{self.job_id}: added {len(added)} pieces of the template to the vocabulary")
        return model, tokenizer

    def save(self, model, tokenizer, compute: Compute, state: dict[str, Any]) -> None:
        """Round `done + 1` is complete: its checkpoint, then the record naming it, then the older one removed."""
        self.done += 1
        previous = self.path
        name = f"{self.job_id}/round-{self.done:02d}"
        (self.ws.run_dir / "points" / name).mkdir(parents=True, exist_ok=True)
        with self.ws.training_dir(self.job_id) as work:
            handle = self.ws.save_policy(name, model, tokenizer, work)
        self.path, self.compute, self.state = handle["path"], self.compute + compute, state
        write_text_atomic(self.folder / STATE, json.dumps({"done": self.done, "path": self.path, "state": state,
                                                           "compute": self.compute.model_dump(mode="json")}))  # fmt: skip
        if previous and previous != self.path:
            shutil.rmtree((self.ws.run_dir / previous).parent, ignore_errors=True)


def _trainable_adapter(ws: Workspace, path):
    """A saved LoRA adapter on its base, with its weights trainable (to continue training it)."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    base, _ = ws.load_base()
    model = PeftModel.from_pretrained(base, path, is_trainable=True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    return model, tokenizer


def sample(model, tokenizer, prompts: list, settings: GenerationSettings, seed: int) -> tuple[list[str], int]:
    """One response per (conditioned) prompt, as the scorers take them, and the tokens generated."""
    out = generate(model, tokenizer, prompts, settings, seed=seed)
    return scorable_responses(prompts, out.responses), out.n_tokens


@dataclass
class Candidates:
    """Sampled responses (one per conditioned prompt), their rewards (N, K) and the tokens generated; under a
    launcher, `per_process` says how many each process sampled."""

    responses: list[str]
    rewards: np.ndarray  # (N, K)
    n_tokens: int
    per_process: list[int]


def sample_and_score(ws: Workspace, model, tokenizer, conditioned: list, plain: list, scorer,
                     settings: GenerationSettings, seed: int) -> Candidates:  # fmt: skip
    """One response per conditioned prompt, scored against its `plain` prompt (N, K). Under a launcher every
    process samples and scores its share of the prompts (its own seed) and the results are joined in order, so
    the phase gets faster with more processes; the policy must then be whole on each (DDP, not FSDP/ZeRO-3)."""
    from pareto_align import ranks

    part = ranks.shard(len(conditioned)) if ws.collective else slice(None)
    responses, n_tokens = sample(
        model, tokenizer, conditioned[part], settings, seed=seed + 7919 * ranks.rank()
    )
    rewards = scorer.score(plain[part], responses).double().numpy()  # (n, K)
    if not ws.collective:
        return Candidates(responses, rewards, n_tokens, [len(responses)])
    return Candidates(ranks.gather(responses), ranks.gather(rewards), int(ranks.total(n_tokens)),
                      ranks.gather([len(responses)]))  # fmt: skip


def completion_for(prompt: Any, response: Any) -> Any:
    """A response as SFT's completion of `prompt`: after a conversational prompt, assistant turns (a generated
    text becomes one; the data's own turns are kept); after a plain prompt, the text with a leading space (TRL
    joins prompt and completion as strings)."""
    if is_conversational(prompt):
        return as_chat_completion(response)
    return " " + response.strip()


def fine_tune(ws: Workspace, section: ConditionedSection, model, tokenizer, prompts: list, completions: list,
              job_id: str, label: str, seed: int, **overrides: Any):  # fmt: skip
    """One SFT pass (TRL's SFTTrainer, loss on completions only) on conditioned prompts and their responses
    (strings, or the data's assistant turns); returns the trained model and its compute. `overrides` replace
    `trl:` fields for this pass."""
    from peft import PeftModel

    data = datasets.Dataset.from_dict(
        {
            "prompt": prompts,
            "completion": [completion_for(p, c) for p, c in zip(prompts, completions, strict=True)],
        }
    )
    with ws.training_dir(job_id) as work:
        args = build_dataclass(SFTConfig, {**section.trl_args(), **overrides, "output_dir": str(work / "trainer"),
                                           "seed": seed, "disable_tqdm": not ws.progress,
                                           **ws.tracking_args(job_id)}, "method.trl")  # fmt: skip
        start = time.perf_counter()
        peft = None if isinstance(model, PeftModel) else ws.peft_config()
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=peft
        )
        if len(trainer.train_dataset) == 0:  # TRL drops rows whose completion truncation cut off entirely
            raise ConfigError(f"method.trl.max_length: {args.max_length} tokens leave no completion token in any of "
                              f"the {len(data)} conditioned prompts (chat templates and the preference add tokens); "
                              "raise it")  # fmt: skip
        use_step_bar(trainer, label, ws.progress)
        result = trainer.train()
        seconds = time.perf_counter() - start
    compute = Compute(wall_seconds=seconds, policy_updates=int(result.global_step),
                      trained_tokens=int(getattr(trainer, "_total_train_tokens", 0)))  # fmt: skip
    return trainer.model, compute


def front_compute(job_id: str) -> Compute:
    """A front point's own compute: none; it names the shared model it evaluates."""
    return Compute(shared=[job_id])


def spread(values: np.ndarray) -> np.ndarray:
    """Per-column standard deviation (N, K) -> (K,), 1 where a column is constant (nothing to rescale)."""
    std = values.std(axis=0)
    return np.where(std > 0, std, 1.0)
