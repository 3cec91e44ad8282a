"""Run by test_ranks.py under `torchrun --nproc_per_node 2` (gloo): the helpers of ranks.py and the saves that
go through a Trainer, in one launch. The main process writes what it saw as JSON to argv[1]."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from pareto_align import ranks


def sharding() -> dict:
    """Each process's block of 5 items, put back in order whatever the type."""
    part = ranks.shard(5)
    items = list(range(5))
    return {"mine": items[part],
            "list": ranks.gather([x * 10 for x in items[part]]),
            "tensor": ranks.gather(torch.tensor(items[part], dtype=torch.float32).view(-1, 1) * 2).view(-1).tolist(),
            "array": ranks.gather(np.asarray(items[part], dtype=float)[:, None].repeat(2, 1)).shape,
            "map": ranks.map_shards(lambda xs: [x + 1 for x in xs], items),
            "total": ranks.total(ranks.rank() + 1)}  # fmt: skip


def long_wait() -> float:
    """The main process works longer than the default group's timeout (3 s here) while the other waits."""
    start = time.perf_counter()
    if ranks.is_main():
        time.sleep(5)
    ranks.broadcast("done")
    ranks.barrier()
    return time.perf_counter() - start


def reward_model_save(folder: Path) -> float:
    """A reward model trained data-parallel and saved through its Trainer reloads to the in-memory weights."""
    from transformers import TrainingArguments

    from pareto_align.models.reward_model import MultiHeadRewardModel
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
    from pareto_align.trainers.reward_model_trainer import MultiHeadRewardTrainer, RewardRows

    tokenizer = train_word_tokenizer(["a b c d e f g h"])
    backbone = build_tiny_causal_lm(tokenizer, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    model = MultiHeadRewardModel.from_backbone(backbone, tokenizer, ["x", "y"], seed=0)
    rows = [{"kind": "pair", "prompt": "a b", "chosen": " c d", "rejected": " e", "objective": i % 2,
             "weights": [1.0]} for i in range(16)]  # fmt: skip
    args = TrainingArguments(output_dir=str(folder), max_steps=2, per_device_train_batch_size=4, use_cpu=True,
                             report_to="none", save_strategy="no", disable_tqdm=True, learning_rate=1e-2,
                             remove_unused_columns=False)  # fmt: skip
    trainer = MultiHeadRewardTrainer(model, args, RewardRows(rows))
    trainer.train()
    trainer.save_model(str(folder))
    ranks.barrier()
    if not ranks.is_main():
        return 0.0
    saved = MultiHeadRewardModel.load(folder).state_dict()
    live = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    assert saved.keys() == live.keys()
    return max(float((saved[k] - live[k].cpu()).abs().max()) for k in live)


def main() -> None:
    dist.init_process_group("gloo", timeout=timedelta(seconds=3))  # what a short ddp_timeout would give
    ranks.init()
    result = {"sharding": sharding(), "waited": long_wait()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(ranks.broadcast(tmp))
        result["reward_model_max_diff"] = reward_model_save(folder / "rm")
        ranks.barrier()
    if ranks.is_main():
        Path(sys.argv[1]).write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
