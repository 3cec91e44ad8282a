"""Training of the multi-head reward model on pairwise preferences and attribute scores.

TRL's RewardTrainer has one head; here every row trains the head(s) it has labels for:
- a preference pair (prompt, chosen, rejected, objective k) gives the Bradley-Terry loss
  -log sigmoid(r_k(chosen) - r_k(rejected)) on head k only (Bradley & Terry 1952; Ouyang et al. 2022, eq. 1);
- an attribute-score row (prompt, response, scores of length K, NaN = missing) gives the squared error of each
  present score against its head (as for SteerLM/HelpSteer-style attribute regression); NaN entries are masked.
Every ensemble member sees the same batches; members differ by head initialisation and, with `bootstrap`, by an
independent Poisson(1) weight per row (online bootstrap), as in the ensembles of Coste et al. (2023).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset as TorchDataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments

from pareto_align import ranks
from pareto_align.atomic import write_text_atomic
from pareto_align.models.reward_model import MultiHeadRewardModel
from pareto_align.trainers.progress import use_step_bar
from pareto_align.trainers.reward_model_config import RewardModelConfig

if TYPE_CHECKING:
    from datasets import Dataset

PAIR_COLUMNS = ("prompt", "chosen", "rejected", "objective")
SCORE_COLUMNS = ("prompt", "response", "scores")
METRICS_NAME = "reward_metrics.json"


# ---------------------------------------------------------------- loss
def reward_loss(
    rewards: torch.Tensor,
    pair_objective: torch.Tensor,
    pair_weight: torch.Tensor,
    score_targets: torch.Tensor,
    score_mask: torch.Tensor,
    score_weight: torch.Tensor,
    score_loss_weight: float = 1.0,
) -> torch.Tensor:
    """Loss of one batch laid out as [P chosen; P rejected; S scored] rows.

    Args:
        rewards: (M, 2P + S, K) rewards of every member.
        pair_objective: (P,) head index of each pair.
        pair_weight: (P, M) weight of each pair for each member (1, or a bootstrap count).
        score_targets: (S, K) attribute scores, any value where masked.
        score_mask: (S, K) True where a score is present.
        score_weight: (S, M) weight of each scored row for each member.

    Per member m: pair term = mean over pairs of w * -log sigmoid(r_k(chosen) - r_k(rejected)); score term =
    sum of w * squared error over present scores / number of present scores. Each term is a mean over its own
    items, so their balance is `score_loss_weight` whatever the mix of rows in a batch; a term with no items is
    0. The loss is pair term + score_loss_weight * score term, averaged over members (members share no
    parameters, so averaging only rescales each member's gradient by 1/M, which Adam undoes).
    """
    n_members = rewards.shape[0]
    n_pairs = pair_objective.shape[0]
    zero = rewards.new_zeros(n_members)  # (M,)
    pair_term = zero
    if n_pairs:
        index = pair_objective.view(1, n_pairs, 1).expand(n_members, n_pairs, 1)  # (M, P, 1)
        chosen = rewards[:, :n_pairs].gather(2, index).squeeze(2)  # (M, P)
        rejected = rewards[:, n_pairs : 2 * n_pairs].gather(2, index).squeeze(2)  # (M, P)
        bt = -F.logsigmoid(chosen - rejected)  # (M, P)
        pair_term = (pair_weight.T.to(bt.dtype) * bt).mean(dim=1)  # (M,)
    score_term = zero
    if score_mask.any():
        predicted = rewards[:, 2 * n_pairs :]  # (M, S, K)
        # where(), not multiplication: a NaN target times a 0 mask would still be NaN.
        error = torch.where(score_mask, predicted - score_targets.to(predicted.dtype), 0.0) ** 2  # (M, S, K)
        weighted = score_weight.T.to(error.dtype).unsqueeze(2) * error  # (M, S, K)
        score_term = weighted.sum(dim=(1, 2)) / score_mask.sum()  # (M,)
    return (pair_term + score_loss_weight * score_term).mean()


# ---------------------------------------------------------------- rows and collation
class RewardRows(TorchDataset):
    """Training rows as plain dicts: prompts and responses may be strings or message lists, which Arrow cannot
    hold in one column."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


class RewardCollator:
    """Tokenizes a list of rows into the [P chosen; P rejected; S scored] layout that `reward_loss` reads."""

    def __init__(self, model: MultiHeadRewardModel) -> None:
        self.model = model

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pairs = [r for r in rows if r["kind"] == "pair"]
        scored = [r for r in rows if r["kind"] == "score"]
        prompts = [r["prompt"] for r in pairs] * 2 + [r["prompt"] for r in scored]
        responses = (
            [r["chosen"] for r in pairs] + [r["rejected"] for r in pairs] + [r["response"] for r in scored]
        )
        batch = self.model.encode(prompts, responses)
        n_members = self.model.ensemble_size
        n_objectives = len(self.model.objective_names)
        targets = torch.tensor([r["scores"] for r in scored], dtype=torch.float32).view(
            -1, n_objectives
        )  # (S, K)
        mask = ~torch.isnan(targets)  # (S, K)
        batch["pair_objective"] = torch.tensor([r["objective"] for r in pairs], dtype=torch.long)  # (P,)
        batch["pair_weight"] = torch.tensor([r["weights"] for r in pairs], dtype=torch.float32).view(
            -1, n_members
        )
        batch["score_targets"] = torch.nan_to_num(targets, nan=0.0)  # (S, K)
        batch["score_mask"] = mask  # (S, K)
        batch["score_weight"] = torch.tensor([r["weights"] for r in scored], dtype=torch.float32).view(
            -1, n_members
        )
        return batch


class MultiHeadRewardTrainer(Trainer):
    """`transformers.Trainer` with the multi-objective reward loss; saves in the reward model's own format."""

    def __init__(
        self,
        model: MultiHeadRewardModel,
        args: TrainingArguments,
        train_dataset: RewardRows,
        eval_dataset: RewardRows | None = None,
        score_loss_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self.score_loss_weight = score_loss_weight
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=RewardCollator(model),
            processing_class=model.tokenizer,
            **kwargs,
        )

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        rewards = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])  # (M, R, K)
        loss = reward_loss(
            rewards,
            inputs["pair_objective"],
            inputs["pair_weight"],
            inputs["score_targets"],
            inputs["score_mask"],
            inputs["score_weight"],
            self.score_loss_weight,
        )
        return (loss, rewards) if return_outputs else loss

    def prediction_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor, None, None]:
        # The model has no `labels`, so the base class would skip the loss: evaluation reports eval_loss only.
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Write the reward model's own format, on the main process. `state_dict` is the one the Trainer gathered
        (FSDP, DeepSpeed): under sharding the module's own tensors are only this process's shard."""
        if self.args.should_save:
            model = self.accelerator.unwrap_model(self.model)
            model.save(output_dir or self.args.output_dir, state_dict=state_dict)


# ---------------------------------------------------------------- data checks and split
def _prompt_key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)


def _check_columns(dataset: Dataset, required: Sequence[str], name: str) -> None:
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing} (expected {list(required)})")


def _pair_rows(pairs: Dataset, objectives: Sequence[str]) -> list[dict[str, Any]]:
    index = {name: k for k, name in enumerate(objectives)}
    rows = []
    for i, (prompt, chosen, rejected, objective) in enumerate(
        zip(pairs["prompt"], pairs["chosen"], pairs["rejected"], pairs["objective"], strict=True)
    ):
        if objective not in index:
            raise ValueError(f"pairs row {i}: objective {objective!r} is not one of {list(objectives)}")
        rows.append(
            {
                "kind": "pair",
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "objective": index[objective],
            }
        )
    return rows


def _score_rows(scores: Dataset, objectives: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for i, (prompt, response, values) in enumerate(
        zip(scores["prompt"], scores["response"], scores["scores"], strict=True)
    ):
        values = [math.nan if v is None else float(v) for v in values]
        if len(values) != len(objectives):
            raise ValueError(
                f"scores row {i}: {len(values)} scores but {len(objectives)} objectives {list(objectives)}"
            )
        if all(math.isnan(v) for v in values):
            continue  # nothing to learn from
        rows.append({"kind": "score", "prompt": prompt, "response": response, "scores": values})
    return rows


def split_by_prompt(
    rows: list[dict[str, Any]], test_fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split rows into (train, test) so that all rows of a prompt land on the same side.

    Holding out whole prompts keeps held-out accuracy honest: the same prompt with other responses is never
    seen in training. At least one prompt stays on each side when there are two or more.
    """
    keys = list(dict.fromkeys(_prompt_key(r["prompt"]) for r in rows))  # first-seen order, deterministic
    n_test = round(test_fraction * len(keys))
    if test_fraction > 0 and len(keys) > 1:
        n_test = min(max(n_test, 1), len(keys) - 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    test_keys = {keys[i] for i in order[:n_test]}
    train = [r for r in rows if _prompt_key(r["prompt"]) not in test_keys]
    test = [r for r in rows if _prompt_key(r["prompt"]) in test_keys]
    return train, test


def _with_member_weights(
    rows: list[dict[str, Any]], ensemble_size: int, bootstrap: bool, seed: int
) -> list[dict[str, Any]]:
    """Attach each row's per-member weights: 1, or Poisson(1) counts drawn once (online bootstrap)."""
    if bootstrap:
        counts = np.random.default_rng(seed + 1).poisson(1.0, size=(len(rows), ensemble_size)).astype(float)
    else:
        counts = np.ones((len(rows), ensemble_size))
    return [{**row, "weights": counts[i].tolist()} for i, row in enumerate(rows)]


# ---------------------------------------------------------------- evaluation
def pairwise_accuracy(
    model: MultiHeadRewardModel,
    pairs: Dataset | Sequence[dict[str, Any]],
    objectives: Sequence[str] | None = None,
    batch_size: int = 64,
    aggregation: str | None = None,
) -> dict[str, float]:
    """Per objective name, the fraction of its pairs whose head ranks chosen above rejected (ties count half).

    `pairs` has prompt, chosen, rejected, objective (a name); objectives without pairs are left out. Under a
    launcher every process calls this together: each scores its share of the pairs (`ranks.shard`).
    """
    objectives = list(objectives or model.objective_names)
    if isinstance(pairs, Sequence):
        rows = list(pairs)
        prompts = [r["prompt"] for r in rows]
        chosen = [r["chosen"] for r in rows]
        rejected = [r["rejected"] for r in rows]
        names = [r["objective"] for r in rows]
    else:
        _check_columns(pairs, PAIR_COLUMNS, "pairs")
        prompts, chosen, rejected, names = (list(pairs[c]) for c in PAIR_COLUMNS)
    unknown = sorted({n for n in names if n not in objectives})
    if unknown:
        raise ValueError(f"pairs: objective(s) {unknown} not among {objectives}")
    heads = torch.tensor([model.objective_names.index(n) for n in names], dtype=torch.long)  # (P,)
    part = ranks.shard(len(heads))  # under a launcher each process scores its share of the pairs
    r_chosen = model.score(prompts[part], chosen[part], batch_size, aggregation)  # (p, K)
    r_rejected = model.score(prompts[part], rejected[part], batch_size, aggregation)  # (p, K)
    margin = (r_chosen - r_rejected).gather(1, heads[part].view(-1, 1)).squeeze(1)  # (p,)
    margin = ranks.gather(margin.float().cpu())  # (P,)
    correct = (margin > 0).float() + 0.5 * (margin == 0).float()  # (P,)
    accuracy = {}
    for name in objectives:
        on_head = torch.tensor([n == name for n in names], dtype=torch.bool)
        if on_head.any():
            accuracy[name] = float(correct[on_head].mean())
    return accuracy


def _score_mse(model: MultiHeadRewardModel, rows: list[dict[str, Any]], batch_size: int) -> dict[str, float]:
    """Per objective, the mean squared error of the (aggregated) reward against present held-out scores."""
    if not rows:
        return {}
    mine = rows[ranks.shard(len(rows))]  # under a launcher each process scores its share
    predicted = model.score([r["prompt"] for r in mine], [r["response"] for r in mine], batch_size)  # (s, K)
    predicted = ranks.gather(predicted.float().cpu())  # (S, K)
    targets = torch.tensor([r["scores"] for r in rows], dtype=torch.float32)  # (S, K)
    present = ~torch.isnan(targets)
    mse = {}
    for k, name in enumerate(model.objective_names):
        if present[:, k].any():
            mse[name] = float(((predicted[:, k] - targets[:, k])[present[:, k]] ** 2).mean())
    return mse


# ---------------------------------------------------------------- entry point
def train_reward_model(
    config: RewardModelConfig,
    objectives: Sequence[str],
    pairs: Dataset | None,
    scores: Dataset | None,
    backbone: str | Path | PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase | None,
    output_dir: str | Path,
    seed: int | None = None,
    progress: bool = True,
    extra_args: dict[str, Any] | None = None,
) -> tuple[MultiHeadRewardModel, dict[str, float]]:
    """Split by prompt, train, evaluate held-out rows, save to `output_dir`; return the model and its metrics.

    `backbone`/`tokenizer` are the run's base policy and its tokenizer, used when `config.backbone` is None;
    otherwise the backbone and its tokenizer are loaded from `config.backbone`. `seed` None uses `config.seed`.
    `extra_args`: TrainingArguments fields the toolkit adds (tracking: report_to, run_name, project).
    Metrics: `accuracy/<objective>` (held-out pairwise accuracy per head), `mse/<objective>` (held-out score
    error, when there are scores), `n_train_pairs`, `n_test_pairs`, `n_train_scores`, `n_test_scores`,
    `train_loss`, `wall_seconds`; also written to `output_dir/reward_metrics.json`. Under a launcher every process
    calls this with the same `output_dir`: they train together, the main process writes, and each then reads the
    saved model back (the trained module may hold a shard only) and scores its share of the held-out rows.
    """
    start = time.perf_counter()
    seed = config.seed if seed is None else seed
    objectives = list(objectives)
    rows: list[dict[str, Any]] = []
    if pairs is not None:
        _check_columns(pairs, PAIR_COLUMNS, "pairs")
        rows += _pair_rows(pairs, objectives)
    if scores is not None:
        _check_columns(scores, SCORE_COLUMNS, "scores")
        rows += _score_rows(scores, objectives)
    if not rows:
        raise ValueError("reward model: no training data (pairs and scores are both empty)")
    train_rows, test_rows = split_by_prompt(rows, config.test_fraction, seed)

    if config.backbone is not None:
        backbone, tokenizer = config.backbone, None
    if backbone is None:
        raise ValueError("reward_model.backbone: not set and no base policy given")
    model = MultiHeadRewardModel.from_backbone(
        backbone,
        tokenizer,
        objectives,
        ensemble_size=config.ensemble_size,
        seed=seed,
        trust_remote_code=config.trust_remote_code,
        max_length=config.max_length,
        aggregation=config.aggregation,
        uwo_lambda=config.uwo_lambda,
    )
    output_dir = Path(output_dir)
    kwargs = config.training_kwargs()
    kwargs["seed"] = seed
    kwargs.update(extra_args or {})
    args = TrainingArguments(output_dir=str(output_dir), **kwargs)
    trainer = MultiHeadRewardTrainer(
        model,
        args,
        RewardRows(_with_member_weights(train_rows, config.ensemble_size, config.bootstrap, seed)),
        RewardRows(_with_member_weights(test_rows, config.ensemble_size, False, seed)) if test_rows else None,
        score_loss_weight=config.score_loss_weight,
    )
    use_step_bar(trainer, "training reward model", progress)
    result = trainer.train()
    # through the Trainer: it gathers sharded weights (FSDP, ZeRO-3) and writes on the main process only
    trainer.save_model(str(output_dir))
    if ranks.world_size() > 1:  # the module may hold a shard only: every process reads the saved whole
        ranks.barrier()
        device = trainer.accelerator.device
        del trainer
        model = MultiHeadRewardModel.load(output_dir, trust_remote_code=config.trust_remote_code).to(device)

    test_pairs = [r for r in test_rows if r["kind"] == "pair"]
    test_scores = [r for r in test_rows if r["kind"] == "score"]
    batch_size = args.per_device_eval_batch_size
    named_pairs = [{**r, "objective": objectives[r["objective"]]} for r in test_pairs]
    metrics: dict[str, float] = {}
    if test_pairs:
        accuracy = pairwise_accuracy(model, named_pairs, objectives, batch_size)
        metrics.update({f"accuracy/{name}": value for name, value in accuracy.items()})
    metrics.update(
        {f"mse/{name}": value for name, value in _score_mse(model, test_scores, batch_size).items()}
    )
    metrics["n_train_pairs"] = sum(r["kind"] == "pair" for r in train_rows)
    metrics["n_test_pairs"] = len(test_pairs)
    metrics["n_train_scores"] = sum(r["kind"] == "score" for r in train_rows)
    metrics["n_test_scores"] = len(test_scores)
    metrics["train_loss"] = float(result.training_loss)
    metrics["wall_seconds"] = time.perf_counter() - start
    if ranks.is_main():
        write_text_atomic(output_dir / METRICS_NAME, json.dumps(metrics, indent=2))
    return model, metrics
