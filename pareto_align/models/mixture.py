"""Multi-objective decoding (MOD; Shi et al., 2024, "Decoding-Time Language Model Alignment with Multiple
Objectives"): K specialists, one per objective, combined token by token at decoding time.

For objectives regularized by the reverse KL to one reference policy, the policy optimal for sum_i w_i r_i is,
with pi_i optimal for r_i alone and sum_i w_i = 1 (the paper's Theorem for the reverse-KL case):

    pi_w(y_t | x, y_<t)  proportional to  prod_i pi_i(y_t | x, y_<t) ** w_i
    i.e. next-token scores  sum_i w_i log softmax(logits_i)

Other f-divergences (forward KL, Jensen-Shannon, ...) give other combinations in the paper; only reverse KL, the
regularizer of DPO, MODPO and KL-penalized RL, is implemented here. The specialist with the largest weight drives
`generate` (its logits arrive as `scores`); the others run their own forward passes with their own KV caches over
the same tokens, so a token costs one forward pass per specialist with a non-zero weight. Specialists of weight 0
are never run (nor loaded: see `load_policy`), and a one-hot weight samples exactly as that specialist alone does.

Memory: each specialist is asked for the last position's logits only (`logits_to_keep=1`, as `generate` asks the
driver), so the prompt's pass costs (B, V) logits per specialist, not (B, T, V). LoRA specialists share one base
model, each run with its own adapter active (`models/adapters.py`, `AdapterSpecialist`): one base, K adapters and
K KV caches instead of K merged models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel

from pareto_align.models.chat import model_prompt
from pareto_align.models.generation import Generated, GenerationSettings, generate


class MixtureLogitsProcessor(LogitsProcessor):
    """Replaces the driver's scores (B, V) by sum_i w_i log softmax(logits_i) over the driver and `others`."""

    def __init__(self, driver_weight: float, others: Sequence[tuple[Callable, float]],
                 attention_mask: torch.Tensor) -> None:  # fmt: skip
        self.driver_weight = driver_weight
        self.others = list(others)
        self.mask = attention_mask  # (B, T_prompt), left padded
        self.caches: list = [None] * len(self.others)
        self.seen = 0  # tokens of input_ids already fed to the other specialists

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.others:
            return scores  # one specialist: its own distribution, untouched
        batch, length = input_ids.shape
        if self.seen:  # generated tokens are attended to, as generate() extends its mask
            grown = torch.ones(
                batch, length - self.mask.shape[1], dtype=self.mask.dtype, device=self.mask.device
            )
            self.mask = torch.cat([self.mask, grown], dim=1)  # (B, t)
        feed = input_ids[:, self.seen :]  # (B, t_new)
        positions = (self.mask.long().cumsum(-1) - 1).clamp(min=0)[:, self.seen :]  # (B, t_new), left padding
        combined = self.driver_weight * F.log_softmax(scores.float(), dim=-1)  # (B, V)
        for i, (model, weight) in enumerate(self.others):
            out = model(input_ids=feed, attention_mask=self.mask, position_ids=positions, cache=self.caches[i],
                        use_cache=True, logits_to_keep=1)  # fmt: skip
            self.caches[i] = out.cache
            combined = combined + weight * F.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # (B, V)
        self.seen = length
        return combined


@dataclass
class MixturePolicy:
    """Specialists combined at decoding time with `weights` (same tokenizer, fine-tunes of one base).

    `models[i]` is specialist i: a model, an `AdapterSpecialist` (its adapter on a base shared with the others), or
    None where its weight is 0 (never run, so never loaded)."""

    models: list
    tokenizer: object
    handle: dict
    weights: list[float] = field(default_factory=list)
    direction: None = None

    def __post_init__(self) -> None:
        if len(self.models) != len(self.weights):
            raise ValueError(
                f"a mixture of {len(self.models)} specialists needs as many weights, got {self.weights}"
            )
        missing = [
            i for i, (m, w) in enumerate(zip(self.models, self.weights, strict=True)) if w > 0 and m is None
        ]
        if missing:
            raise ValueError(f"specialists {missing} have a non-zero weight but were not loaded")

    @property
    def driver(self) -> int:
        """The specialist with the largest weight: its model drives `generate`."""
        return max(range(len(self.weights)), key=lambda i: self.weights[i])

    @property
    def model(self) -> PreTrainedModel:
        """The driver's model, ready to generate (a shared base with the driver's adapter active)."""
        driver = self.models[self.driver]
        return driver.activate() if hasattr(driver, "activate") else driver

    @property
    def active(self) -> int:
        """Forward passes per generated token: specialists with a non-zero weight."""
        return sum(w > 0 for w in self.weights)

    def format_prompt(self, prompt):
        """The prompt in the run's prompt format (models/chat.py)."""
        return model_prompt(prompt, self.handle.get("prompt_format"))

    def generate(self, prompts: list, settings: GenerationSettings | None = None, seed: int = 0) -> Generated:
        driver = self.driver
        others = [(m, w) for i, (m, w) in enumerate(zip(self.models, self.weights, strict=True))
                  if i != driver and w > 0]  # fmt: skip

        def processors(enc) -> LogitsProcessorList:
            return LogitsProcessorList(
                [MixtureLogitsProcessor(self.weights[driver], others, enc["attention_mask"])]
            )

        out = generate(self.model, self.tokenizer, [self.format_prompt(p) for p in prompts], settings, seed=seed,
                       logits_processor=processors)  # fmt: skip
        return Generated(list(prompts), out.responses, out.n_tokens)
