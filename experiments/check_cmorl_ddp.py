"""Check: under several processes (DDP through accelerate), a C-MORL stage-2 extension computes identical barrier
weights on every process for every batch, from the same gathered rewards. Run with two CPU processes (gloo;
accelerate's state reads torchrun's environment):

    cd experiments && ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 check_cmorl_ddp.py [--steps 6] [--par] [--out F]

Each process trains the benchmark-sized model with the method's own `cmorl.Barrier` as `DynamicGRPOTrainer`'s
`batch_weights` (objective 0 raised under G_j >= 0.9 G_j(pi_r) for the other two, three reward-model heads) on its
share of the batches; with `--par` the rewards are PAR-shaped with the raw ones as extra columns (the barrier reads
those). At the end every process's trace (batch size seen, batch means, weights) and `reward_weights` are gathered
and compared on the first process, which writes the result. Exit status 1 if any process differs or the weights
never changed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--par", action="store_true", help="PAR-shaped rewards, raw ones as extra columns")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import datasets
    import numpy as np
    from accelerate.utils import gather_object
    from bench_morlhf_step import _setting
    from trl import GRPOConfig

    from pareto_align.methods.cmorl import Barrier
    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards
    from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer

    tok, prompts, rm = _setting(128, 2)
    model = build_tiny_causal_lm(tok, hidden_size=128, num_layers=2, num_heads=4, seed=0)
    lower, upper = np.full(3, -1.0), np.full(3, 1.0)  # bounds of the untrained heads' scores
    barrier = Barrier(0, np.array([0.5, 0.5, 0.5]), lower, upper, beta=0.9, t=20.0, par=args.par)
    trace: list[dict] = []

    def batch_weights(rewards):
        out = barrier.weights(rewards)
        trace.append(
            {"rows": int(rewards.shape[0]), "means": rewards.double().mean(0).tolist(), "weights": out}
        )
        return out

    rewards = ObjectiveRewards(rm, ["a", "b", "c"], [1.0, 0.0, 0.0], par=args.par, raw_columns=args.par)
    data = {"prompt": prompts}
    if (
        args.par
    ):  # a reference reward per prompt (fixed numbers: what is checked is agreement, not their value)
        data["ref_rewards"] = [[0.01 * (i % 7)] * 3 for i in range(len(prompts))]
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=True, bf16=False, report_to="none", seed=0,
                        max_steps=args.steps, per_device_train_batch_size=8, num_generations=8,
                        max_completion_length=16, learning_rate=2e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=rewards.weights())  # fmt: skip
    trainer = DynamicGRPOTrainer(model=model, reward_funcs=rewards.functions(), args=config, processing_class=tok,
                                 train_dataset=datasets.Dataset.from_dict(data), batch_weights=batch_weights)  # fmt: skip
    trainer.train()
    mine = {"rank": trainer.accelerator.process_index, "trace": trace,
            "reward_weights": trainer.reward_weights.tolist()}  # fmt: skip
    every = gather_object([mine])
    if not trainer.accelerator.is_main_process:
        return 0
    same = all(
        p["trace"] == every[0]["trace"] and p["reward_weights"] == every[0]["reward_weights"] for p in every
    )
    moved = len({tuple(e["weights"]) for e in every[0]["trace"]}) > 1
    rows = sorted({e["rows"] for e in every[0]["trace"]})
    result = {"processes": len(every), "batches": len(every[0]["trace"]), "par": args.par, "rows_per_batch": rows,
              "identical": same, "moved": moved, "traces": every}  # fmt: skip
    print(f"{len(every)} processes, {result['batches']} barrier batches of {rows} rows (par: {args.par}): "
          f"barrier weights identical on every process: {same}; weights moved: {moved}; "
          f"last {every[0]['trace'][-1]['weights']}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if same and moved else 1


if __name__ == "__main__":
    raise SystemExit(main())
