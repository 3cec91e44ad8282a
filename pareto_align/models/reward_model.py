"""Multi-head reward model: a transformers backbone with one scalar head per objective, optionally an ensemble.

Each of the M ensemble members is its own backbone plus a Linear(hidden, K) head, so members can disagree the
way the reward-model ensembles of Coste et al. (2023), "Reward Model Ensembles Help Mitigate Overoptimization",
do. The reward of a text is the head applied to the backbone's hidden state at the last non-pad token.

The model satisfies the toolkit's reward scoring contract: `score(prompts, responses)` returns a float32 CPU
tensor of shape (N, K) in objective order. Saved as safetensors + JSON and loaded back without pickle.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_model, save_file, save_model
from torch import nn
from tqdm.auto import tqdm
from transformers import (
    CONFIG_MAPPING,
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from pareto_align.atomic import commit, temp_path_for, write_text_atomic

Aggregation = Literal["mean", "wco", "uwo"]
AGGREGATIONS: tuple[str, ...] = ("mean", "wco", "uwo")
REWARD_CONFIG_NAME = "reward_config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "pareto_align.reward_model/v1"

Message = dict[str, str]
Prompt = str | list[Message]
Response = str | list[Message]


def aggregate_members(
    rewards: torch.Tensor, aggregation: str = "mean", uwo_lambda: float = 0.5
) -> torch.Tensor:
    """Combine ensemble members' rewards (M, N, K) into one reward per objective (N, K).

    - "mean": mean over members.
    - "wco": worst-case optimisation, the minimum over members (Coste et al. 2023, eq. 2).
    - "uwo": uncertainty-weighted optimisation, mean - uwo_lambda * variance over members (Coste et al. 2023,
      eq. 3). The variance is the population variance (divide by M), so a single member has variance 0 and
      "uwo" reduces to "mean" rather than producing NaN.
    """
    if rewards.ndim != 3:
        raise ValueError(f"rewards must have shape (M, N, K), got {tuple(rewards.shape)}")
    if aggregation == "mean":
        return rewards.mean(dim=0)
    if aggregation == "wco":
        return rewards.min(dim=0).values
    if aggregation == "uwo":
        return rewards.mean(dim=0) - uwo_lambda * rewards.var(dim=0, correction=0)
    raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")


def linear_scalarize(rewards: torch.Tensor, weights: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Weighted sum of per-objective rewards (N, K) with a weight vector (K,) -> (N,).

    Weights follow the toolkit convention: non-negative and summing to 1.
    """
    w = torch.as_tensor(weights, dtype=rewards.dtype, device=rewards.device)
    if w.ndim != 1 or rewards.ndim != 2 or w.shape[0] != rewards.shape[1]:
        raise ValueError(
            f"weights {tuple(w.shape)} do not match rewards {tuple(rewards.shape)} (expected (K,), (N, K))"
        )
    if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-6:
        raise ValueError(f"weights must be non-negative and sum to 1, got {w.tolist()}")
    return rewards @ w  # (N,)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-pad position of each row of a (B, T) mask -> (B,); works for left or right padding."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)  # (T,)
    return (attention_mask.long() * positions).argmax(dim=1)  # (B,)


def _base_model(model: PreTrainedModel) -> PreTrainedModel:
    """The transformer body of a model: a CausalLM's decoder without its LM head, or the model itself."""
    base = model.base_model  # `getattr(model, base_model_prefix)` for heads-on-top classes, else the model
    return base if isinstance(base, PreTrainedModel) else model


def _hidden_size(config: PretrainedConfig) -> int:
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text_config.hidden_size)


def _config_from_dict(config_dict: dict[str, Any], trust_remote_code: bool) -> PretrainedConfig:
    """Rebuild a backbone config from its `to_dict()` without touching the network or remote code by default."""
    config_dict = dict(config_dict)
    model_type = config_dict.get("model_type")
    if model_type in CONFIG_MAPPING:
        return CONFIG_MAPPING[model_type].from_dict(config_dict)
    if trust_remote_code and config_dict.get("_name_or_path"):
        # Architectures outside transformers need their code; it comes from where the backbone was loaded.
        base = AutoConfig.from_pretrained(config_dict["_name_or_path"], trust_remote_code=True)
        return base.__class__.from_dict(config_dict)
    raise ValueError(
        f"backbone model_type {model_type!r} is not a transformers architecture; "
        "loading it needs trust_remote_code=True and its code at the original path"
    )


class MultiHeadRewardModel(nn.Module):
    """M backbones, each with K scalar heads: `forward` gives rewards (M, B, K).

    Texts are prompt + response as strings (the toolkit's responses carry their leading space) followed by the
    end-of-sequence token, or the tokenizer's chat template for conversational (message list) data. Sequences
    longer than `max_length` keep their end (the response), since that is what the reward is about. Batches are
    padded on the right so that a causal backbone's reward of a text never depends on what it is batched with.
    """

    def __init__(
        self,
        members: Sequence[PreTrainedModel],
        tokenizer: PreTrainedTokenizerBase,
        objectives: Sequence[str],
        max_length: int = 128,
        aggregation: Aggregation = "mean",
        uwo_lambda: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("a reward model needs at least one ensemble member")
        if not objectives or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives must be non-empty and distinct, got {list(objectives)}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
        self.members = nn.ModuleList(members)
        self.heads = nn.ModuleList()
        for m, member in enumerate(members):
            hidden = _hidden_size(member.config)
            head = nn.Linear(hidden, len(objectives))
            # Distinct head seeds per member: with a shared pretrained body, head init and training noise are
            # what make ensemble members disagree (Coste et al. 2023).
            generator = torch.Generator().manual_seed(seed * 1_000 + m)
            with torch.no_grad():
                head.weight.normal_(0.0, 1.0 / (hidden + 1) ** 0.5, generator=generator)
                head.bias.zero_()
            self.heads.append(head)
        self.tokenizer = tokenizer
        self.objective_names: list[str] = list(objectives)
        self.max_length = max_length
        self.aggregation: str = aggregation
        self.uwo_lambda = uwo_lambda

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_backbone(
        cls,
        backbone: str | Path | PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase | None,
        objectives: Sequence[str],
        ensemble_size: int = 1,
        seed: int = 0,
        trust_remote_code: bool = False,
        max_length: int = 128,
        aggregation: Aggregation = "mean",
        uwo_lambda: float = 0.5,
        dtype: torch.dtype = torch.float32,
    ) -> MultiHeadRewardModel:
        """Build from a model name/path (loaded with AutoModel, no LM head) or a model instance.

        A CausalLM instance (e.g. the run's base policy) contributes its decoder, deep-copied for every member so
        the policy is left untouched. `tokenizer` None loads the tokenizer from a name/path backbone. The
        tokenizer is copied too, since the reward model sets its own pad token. The members are in `dtype`:
        float32 by default, since a reward model is built to be trained in full (master weights in bf16 would
        round small optimizer steps away; see models/loading.py).
        """
        if ensemble_size < 1:
            raise ValueError(f"ensemble_size must be >= 1, got {ensemble_size}")
        if isinstance(backbone, PreTrainedModel):
            body = _base_model(backbone)
        else:
            body = AutoModel.from_pretrained(str(backbone), trust_remote_code=trust_remote_code, dtype=dtype)
            if tokenizer is None:
                tokenizer = AutoTokenizer.from_pretrained(str(backbone), trust_remote_code=trust_remote_code)
        if tokenizer is None:
            raise ValueError("a tokenizer is needed when the backbone is a model instance")
        tokenizer = copy.deepcopy(tokenizer)
        if tokenizer.pad_token_id is None:
            # Padding positions are masked out, so any id will do; eos is the usual choice.
            tokenizer.pad_token = tokenizer.eos_token
        members = [copy.deepcopy(body).to(dtype) for _ in range(ensemble_size)]
        for member in members:
            member.config.use_cache = False
        return cls(members, tokenizer, objectives, max_length, aggregation, uwo_lambda, seed)

    @property
    def ensemble_size(self) -> int:
        return len(self.members)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---------------------------------------------------------------- encoding
    def render(self, prompt: Prompt, response: Response) -> tuple[str, bool]:
        """The text to score and whether the tokenizer should add its special tokens to it.

        Strings are joined as they are; message lists go through the chat template, which writes its own
        special tokens.
        """
        if isinstance(prompt, str) and isinstance(response, str):
            return prompt + response, True
        if isinstance(prompt, str) or isinstance(response, dict):
            raise ValueError("a conversational row needs a prompt and response that are message lists")
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError("conversational (message list) data needs a tokenizer with a chat template")
        if isinstance(response, str):
            response = [{"role": "assistant", "content": response}]
        text = self.tokenizer.apply_chat_template(list(prompt) + list(response), tokenize=False)
        return text, False

    def encode(self, prompts: Sequence[Prompt], responses: Sequence[Response]) -> dict[str, torch.Tensor]:
        """Tokenize prompt/response pairs into right-padded `input_ids` and `attention_mask`, both (B, T)."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        rendered = [self.render(p, r) for p, r in zip(prompts, responses, strict=True)]
        ids: list[list[int]] = [[] for _ in rendered]
        eos = self.tokenizer.eos_token_id
        for add_special in (True, False):
            rows = [i for i, (_, special) in enumerate(rendered) if special == add_special]
            if not rows:
                continue
            encoded = self.tokenizer([rendered[i][0] for i in rows], add_special_tokens=add_special)[
                "input_ids"
            ]
            for i, row_ids in zip(rows, encoded, strict=True):
                row_ids = list(row_ids)
                # Plain strings end with eos so the reward is read at the same marker whatever the response.
                if add_special and eos is not None and (not row_ids or row_ids[-1] != eos):
                    row_ids.append(eos)
                ids[i] = row_ids[-self.max_length :]  # keep the end: the response is what is scored
        width = max(1, max(len(row) for row in ids))
        input_ids = torch.full((len(ids), width), self.tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)  # (B, T)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    # ---------------------------------------------------------------- forward and scoring
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Rewards (M, B, K) for token ids (B, T) and their mask (B, T)."""
        batch = torch.arange(input_ids.shape[0], device=input_ids.device)  # (B,)
        last = last_token_index(attention_mask)  # (B,)
        rewards = []
        for member, head in zip(self.members, self.heads, strict=True):
            hidden = member(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state
            summary = hidden[batch, last]  # (B, H)
            rewards.append(head(summary.to(head.weight.dtype)))  # (B, K)
        return torch.stack(rewards)  # (M, B, K)

    def score_members(
        self, prompts: Sequence[Prompt], responses: Sequence[Response], batch_size: int = 64
    ) -> torch.Tensor:
        """Every member's rewards (M, N, K), float32 on CPU, computed in eval mode without gradients."""
        was_training = self.training
        self.eval()
        device = self.device
        chunks = []
        try:
            starts = range(0, len(prompts), batch_size)
            with torch.no_grad():
                for start in tqdm(starts, desc="reward model", leave=False, disable=len(starts) < 8 or None):
                    batch = self.encode(
                        prompts[start : start + batch_size], responses[start : start + batch_size]
                    )
                    batch = {k: v.to(device) for k, v in batch.items()}
                    chunks.append(self(**batch).float())  # (M, b, K), left on the device: no sync per batch
        finally:
            self.train(was_training)
        if not chunks:
            return torch.zeros((self.ensemble_size, 0, len(self.objective_names)))
        return torch.cat(chunks, dim=1).cpu()  # (M, N, K), one copy to the host

    def score(
        self,
        prompts: Sequence[Prompt],
        responses: Sequence[Response],
        batch_size: int = 64,
        aggregation: str | None = None,
    ) -> torch.Tensor:
        """Rewards (N, K) in objective order, members combined by `aggregation` (default: the model's own)."""
        rewards = self.score_members(prompts, responses, batch_size)  # (M, N, K)
        return aggregate_members(rewards, aggregation or self.aggregation, self.uwo_lambda)  # (N, K)

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Let `TrainingArguments(gradient_checkpointing=True)` reach every member's backbone."""
        for member in self.members:
            member.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | Path, state_dict: dict[str, torch.Tensor] | None = None) -> Path:
        """Write model.safetensors, reward_config.json and the tokenizer to `directory`; nothing pickled.
        `state_dict`: the weights to write instead of the module's own (a Trainer's, gathered from shards)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = temp_path_for(directory / WEIGHTS_NAME)
        if state_dict is None:
            # save_model drops the duplicates of tied tensors, which save_file refuses.
            save_model(self, str(tmp), metadata={"format": "pt"})
        else:
            save_file(self._untied(state_dict), str(tmp), metadata={"format": "pt"})
        commit(tmp, directory / WEIGHTS_NAME)
        config = {
            "format": FORMAT,
            "objectives": self.objective_names,
            "ensemble_size": self.ensemble_size,
            "aggregation": self.aggregation,
            "uwo_lambda": self.uwo_lambda,
            "max_length": self.max_length,
            "model_type": self.members[0].config.model_type,
            "dtype": str(next(self.members[0].parameters()).dtype).removeprefix("torch."),
            "backbones": [member.config.to_dict() for member in self.members],
        }
        write_text_atomic(directory / REWARD_CONFIG_NAME, json.dumps(config, indent=2, default=str))
        self.tokenizer.save_pretrained(directory)
        return directory

    def _untied(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`state_dict` without the second names of tied parameters (as `save_model` writes them; `load` expects
        that), contiguous and on the CPU."""

        def names(remove_duplicate: bool) -> set[str]:  # as in a state dict: without FSDP's wrapper prefix
            pairs = self.named_parameters(remove_duplicate=remove_duplicate)
            return {name.replace("_fsdp_wrapped_module.", "") for name, _ in pairs}

        every, kept = names(False), names(True)
        return {
            k: v.detach().contiguous().cpu() for k, v in state_dict.items() if k in kept or k not in every
        }

    @classmethod
    def load(
        cls, directory: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | str | None = None
    ) -> MultiHeadRewardModel:
        """Rebuild a saved reward model from its JSON config and safetensors weights (never a pickle), its members
        in `dtype` (None or "auto": the dtype it was saved in); the heads stay in float32."""
        directory = Path(directory)
        config_path = directory / REWARD_CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path}: not found (not a saved reward model)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise ValueError(f"{config_path}: format {config.get('format')!r} is not {FORMAT!r}")
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
        saved = getattr(torch, str(config.get("dtype", "float32")), None)
        if not isinstance(saved, torch.dtype):
            raise ValueError(f"{config_path}: dtype {config.get('dtype')!r} is not a torch dtype")
        dtype = saved if dtype is None or dtype == "auto" else dtype
        members = []
        for backbone_dict in config["backbones"]:
            backbone_config = _config_from_dict(backbone_dict, trust_remote_code)
            member = AutoModel.from_config(backbone_config, trust_remote_code=trust_remote_code)
            members.append(member.to(dtype))
        model = cls(
            members,
            tokenizer,
            config["objectives"],
            max_length=config["max_length"],
            aggregation=config["aggregation"],
            uwo_lambda=config["uwo_lambda"],
        )
        load_model(model, directory / WEIGHTS_NAME, strict=True)
        model.eval()
        return model
