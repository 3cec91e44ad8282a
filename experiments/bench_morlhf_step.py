"""Benchmark: a `morlhf` GRPO step with K = 3 per-objective reward functions against TRL's GRPOTrainer with one
reward function, on the same model, prompts and seeds.

Both score completions with the same multi-head reward model (3 heads, random init: timing does not depend on
training). `morlhf` gives TRL one function per objective with the weights as `reward_weights` (one scoring pass,
shared: see pareto_align/rewards.py); the baseline gives TRL one function returning the weighted sum. Reports
seconds per optimizer step as a morlhf / GRPO ratio (target <= 1.10), measured side by side in alternating order
in one process, and the share of a morlhf step spent in reward scoring.

    python experiments/bench_morlhf_step.py [--steps 30] [--repeats 3] [--out experiments/results/...json]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")

WEIGHTS = [0.5, 0.3, 0.2]


def _setting(hidden: int, layers: int):
    from pareto_align.data.world import World, WorldConfig
    from pareto_align.models.reward_model import MultiHeadRewardModel
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

    world = World(WorldConfig())
    tok = train_word_tokenizer(world.vocabulary_texts())
    tok.padding_side = "left"
    prompts = sorted({p for p in world.prompts("train")})
    rm = MultiHeadRewardModel.from_backbone(build_tiny_causal_lm(tok, hidden_size=hidden, num_layers=layers,
                                                                 num_heads=4, seed=1), tok, ["a", "b", "c"])  # fmt: skip
    return tok, prompts, rm


def run_one(kind: str, setting, args) -> dict:
    import datasets
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards, as_response

    tok, prompts, rm = setting
    cuda = torch.cuda.is_available()
    rm.to("cuda" if cuda else "cpu")
    model = build_tiny_causal_lm(tok, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, seed=0)
    rewards = ObjectiveRewards(rm, ["a", "b", "c"], WEIGHTS)
    scoring = {"seconds": 0.0}
    if kind == "morlhf":
        funcs, weights = rewards.functions(), rewards.weights()
    else:

        def scalarized(prompts, completions, **_):
            start = time.perf_counter()
            r = rm.score(prompts, [as_response(c) for c in completions])  # (N, K)
            scoring["seconds"] += time.perf_counter() - start
            return (r @ torch.tensor(WEIGHTS)).tolist()

        funcs, weights = [scalarized], None
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=not cuda, bf16=False, report_to="none", seed=0,
                        max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=8,
                        max_completion_length=28, learning_rate=3e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=weights)  # fmt: skip
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, processing_class=tok,
                          train_dataset=datasets.Dataset.from_dict({"prompt": prompts}))  # fmt: skip
    from step_clock import StepClock

    clock = StepClock()
    trainer.add_callback(clock)
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    scored = rewards.scoring_seconds if kind == "morlhf" else scoring["seconds"]
    return {"kind": kind, "sec_per_step": statistics.median(clock.times[3:]), "reward_share": scored / total,
            "device": torch.cuda.get_device_name() if cuda else "cpu"}  # fmt: skip


def main() -> None:
    from step_clock import alternating_pairs, step_benchmark_args

    args = step_benchmark_args(__doc__, steps=30)
    setting = _setting(args.hidden, args.layers)

    def report(r: int, pair: dict) -> None:
        print(f"repeat {r}: grpo {pair['grpo']['sec_per_step'] * 1e3:.1f} ms/step, morlhf "
              f"{pair['morlhf']['sec_per_step'] * 1e3:.1f} ms/step; reward scoring {pair['morlhf']['reward_share']:.1%}"
              f" of a morlhf run, {pair['grpo']['reward_share']:.1%} of a grpo run")  # fmt: skip

    runs = alternating_pairs(
        ("grpo", "morlhf"), lambda kind: run_one(kind, setting, args), args.repeats, report
    )
    ratio = statistics.median(p["morlhf"]["sec_per_step"] / p["grpo"]["sec_per_step"] for p in runs)
    share = statistics.median(p["morlhf"]["reward_share"] for p in runs)
    summary = {"time_ratio_morlhf_k3_over_grpo_k1": ratio, "reward_scoring_share_morlhf": share,
               "target": "<= 1.10", "settings": vars(args) | {"out": str(args.out)}, "runs": runs,
               "device": runs[0]["grpo"]["device"], "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
               "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(f"morlhf (K=3) / GRPO (K=1): time per step x{ratio:.3f}; reward scoring {share:.1%} of a morlhf step "
          f"(median of {args.repeats})")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
