"""Check: under several processes (DDP through accelerate), dynamic_grad's weights are identical on every process at
every update, and each process generates with them. Run with two CPU processes (gloo; accelerate's state reads
torchrun's environment):

    cd experiments && ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 check_dynamic_grad_ddp.py [--steps 6] [--out F]

Each process trains the benchmark-sized model with the method's own probe (`dynamic_grad.WeightOptimizer`) on its
share of the batches; at the end every process's weight trace and `reward_weights` are gathered and compared on
the first process, which writes the result. Exit status 1 if any process differs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import datasets
    from accelerate.utils import gather_object
    from bench_morlhf_step import _setting
    from trl import GRPOConfig

    from pareto_align.front import FrontTracker
    from pareto_align.front.schema import Objective
    from pareto_align.methods import dynamic_grad
    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards
    from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer

    weights = [0.5, 0.3, 0.2]
    tok, prompts, rm = _setting(128, 2)
    model = build_tiny_causal_lm(tok, hidden_size=128, num_layers=2, num_heads=4, seed=0)
    rewards = ObjectiveRewards(rm, ["a", "b", "c"], weights)
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=True, bf16=False, report_to="none", seed=0,
                        max_steps=args.steps, per_device_train_batch_size=8, num_generations=8,
                        max_completion_length=16, learning_rate=2e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=rewards.weights())  # fmt: skip
    trainer = DynamicGRPOTrainer(model=model, reward_funcs=rewards.functions(), args=config, processing_class=tok,
                                 train_dataset=datasets.Dataset.from_dict({"prompt": prompts}))  # fmt: skip
    tracker = FrontTracker([Objective(name=n) for n in "abc"], [0.0, 0.0, 0.0])
    probe = dynamic_grad.WeightOptimizer(SimpleNamespace(tracker=tracker), dynamic_grad.DynamicGradSection(lam=2e-3, floor=0.05),
                                         "ddp", weights, 0)  # fmt: skip
    probe.attach(trainer, rewards, tok)
    trainer.train()
    mine = {"rank": trainer.accelerator.process_index, "trace": [e["weights"] for e in probe.trace],
            "reward_weights": trainer.reward_weights.tolist()}  # fmt: skip
    every = gather_object([mine])
    if not trainer.accelerator.is_main_process:
        return 0
    same = all(
        p["trace"] == every[0]["trace"] and p["reward_weights"] == every[0]["reward_weights"] for p in every
    )
    moved = len({tuple(w) for w in every[0]["trace"]}) > 1
    result = {"processes": len(every), "updates": len(every[0]["trace"]) - 1, "identical": same, "moved": moved,
              "traces": every}  # fmt: skip
    print(f"{len(every)} processes, {result['updates']} updates: weights identical on every process: {same}; "
          f"weights moved: {moved}; final {every[0]['reward_weights']}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if same and moved else 1


if __name__ == "__main__":
    raise SystemExit(main())
