"""A reward model the user brings: a `transformers` sequence classifier from the Hub or a local folder.

TRL's GRPOTrainer loads a reward model with one output and reads `logits[:, 0]`. Here every output is an objective
in itself: a model is loaded once per process and scored once per batch, and each objective that names it takes one
column (`output`: an index or a label of `id2label`). Custom classes that return their rewards in another field
(ArmoRM's 19 attributes in `.rewards`) name it with `output_field`.

Prompt and response are written with the reward model's own chat template when its tokenizer has one (the text
it was trained on), and joined plainly otherwise. Inputs longer than `max_length` keep their end, where the
response is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from pareto_align.errors import ScorerError
from pareto_align.models.chat import as_chat_completion, as_chat_prompt, has_chat_template, message_text
from pareto_align.models.loading import frozen_dtype
from pareto_align.scorers.specs import RewardModelSpec

_LOADED: dict[tuple, SequenceClassifierScorer] = {}  # one copy per process of each model


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists() or name.count("/") > 1


class SequenceClassifierScorer:
    """(prompts, responses) -> (N, M) raw rewards, M the model's outputs, computed in batches without gradients."""

    def __init__(
        self, spec: RewardModelSpec, where: str, device: str | torch.device, dtype: str | None
    ) -> None:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.spec, self.where = spec, where
        name = spec.model
        if _looks_local(name) and not Path(name).expanduser().exists():
            raise ScorerError(f"{where}.model: {name} does not exist")
        kwargs = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(name, **kwargs)
        except (OSError, ValueError) as err:
            raise ScorerError(f"{where}.model: {name!r} could not be loaded: {_first_line(err)}") from None
        architectures = list(getattr(config, "architectures", None) or [])
        auto_map = getattr(config, "auto_map", None) or {}
        if (
            architectures
            and not any(a.endswith("ForSequenceClassification") for a in architectures)
            and ("AutoModelForSequenceClassification" not in auto_map)
        ):
            raise ScorerError(f"{where}.model: {name} is not a sequence classifier (architectures: "
                              f"{', '.join(architectures)}); a reward model is a *ForSequenceClassification "
                              "checkpoint")  # fmt: skip
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
            load = AutoModelForSequenceClassification.from_pretrained
            self.model = load(name, dtype=frozen_dtype(dtype), **kwargs)  # frozen: policy.dtype
        except (OSError, ValueError) as err:
            raise ScorerError(
                f"{where}.model: {name} is not a loadable sequence classifier: {_first_line(err)}"
            ) from None
        self.model.to(device).eval().requires_grad_(False)
        # decoder reward models (Llama, Qwen) read the reward at the last token that is not the config's pad id:
        # the tokenizer must pad with that id
        if self.model.config.pad_token_id is not None:
            self.tokenizer.pad_token_id = self.model.config.pad_token_id
        else:
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.tokenizer.truncation_side = "left"  # keep the response
        self.tokenizer.padding_side = "right"
        self.chat = has_chat_template(self.tokenizer)
        labels = getattr(config, "id2label", None) or {}
        self.labels = [str(labels[i]) for i in sorted(labels)] if spec.output_field == "logits" else []
        # known from the config for transformers' own heads; for a custom field, from the first forward pass
        self.n_outputs: int | None = int(config.num_labels) if spec.output_field == "logits" else None
        self.commit = getattr(config, "_commit_hash", None)

    def texts(self, prompts: Sequence, responses: Sequence) -> tuple[list[str], bool]:
        """The texts the model scores, and whether the tokenizer adds its special tokens to them."""
        if self.chat:
            conversations = [
                as_chat_prompt(p) + as_chat_completion(r) for p, r in zip(prompts, responses, strict=True)
            ]
            return [self.tokenizer.apply_chat_template(c, tokenize=False) for c in conversations], False
        return [message_text(p) + message_text(r) for p, r in zip(prompts, responses, strict=True)], True

    def score(self, prompts: Sequence, responses: Sequence) -> torch.Tensor:
        texts, special = self.texts(prompts, responses)
        size, device = self.spec.batch_size, self.model.device
        # batches of similar lengths pad less; the rows are put back in their order at the end
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                rows = [texts[i] for i in order[start : start + size]]
                batch = self.tokenizer(rows, add_special_tokens=special, padding=True,
                                       truncation=True, max_length=self.spec.max_length, return_tensors="pt")  # fmt: skip
                out = self.model(**batch.to(device))
                rewards = getattr(out, self.spec.output_field, None)
                if not isinstance(rewards, torch.Tensor):
                    fields = [k for k, v in out.items() if isinstance(v, torch.Tensor)]
                    raise ScorerError(f"{self.where}.output_field: {self.spec.model} has no tensor output "
                                      f"{self.spec.output_field!r}; its outputs: {fields}")  # fmt: skip
                chunks.append(rewards.float().reshape(rewards.shape[0], -1))  # (b, M), left on the device
        if not chunks:
            return torch.zeros((0, self.n_outputs or 1))
        scores = torch.empty((len(texts), chunks[0].shape[1]))  # (N, M)
        scores[torch.tensor(order)] = torch.cat(chunks).cpu()  # one copy to the host, rows in their order
        self.n_outputs = scores.shape[1]
        return scores

    def column(self, output: int | str | None, where: str) -> int:
        """The output index an objective reads (`output`: an index or a label); ScorerError naming `where`."""
        n = self.n_outputs
        if output is None:
            if n is not None and n > 1:
                shown = f" (labels: {', '.join(self.labels)})" if self.labels else ""
                raise ScorerError(f"{where}.output: {self.spec.model} has {n} outputs{shown}; say which one scores "
                                  "this objective (an index or a label)")  # fmt: skip
            return 0
        if isinstance(output, str):
            if output not in self.labels:
                known = ", ".join(self.labels) if self.labels else "none (the model names no labels)"
                raise ScorerError(
                    f"{where}.output: unknown label {output!r} of {self.spec.model}; its labels: {known}"
                )
            return self.labels.index(output)
        if n is not None and not 0 <= output < n:
            raise ScorerError(
                f"{where}.output: index {output} is out of range: {self.spec.model} has {n} outputs"
            )
        return output


def load_classifier(
    spec: RewardModelSpec, where: str, device: str | torch.device, dtype: str | None
) -> SequenceClassifierScorer:
    """The process's copy of a sequence classifier, shared by every objective that names it."""
    key = (spec.model, spec.revision, spec.trust_remote_code, spec.output_field, spec.batch_size, spec.max_length,
           str(dtype), str(device))  # fmt: skip
    if key not in _LOADED:
        _LOADED[key] = SequenceClassifierScorer(spec, where, device, dtype)
    return _LOADED[key]


def release_classifiers() -> None:
    """Forget the loaded classifiers (a finished job leaves no model alive)."""
    _LOADED.clear()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
