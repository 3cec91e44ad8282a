"""Benchmark: the overhead of `dynamic_grad` over `morlhf`: seconds per GRPO step with the per-objective gradient
probe (K = 3 backward passes through `retain_graph` over the default layer band, every step, plus the weight
update) against the same trainer without it, on the same model, prompts, reward model and seeds.

Both runs score with the same 3-head reward model (random init: timing does not depend on training), measured
side by side in alternating order in one process. Target: dynamic_grad / morlhf <= 1.5. Also reports the probe's
own share of a dynamic_grad run.

    python experiments/bench_dynamic_grad_step.py [--steps 30] [--repeats 3] [--layers 2] [--out ...json]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from types import SimpleNamespace

os.environ.setdefault("TQDM_DISABLE", "1")

WEIGHTS = [0.5, 0.3, 0.2]  # as in bench_morlhf_step.py


def run_one(kind: str, setting, args) -> dict:
    import datasets
    import torch
    from step_clock import StepClock
    from trl import GRPOConfig

    from pareto_align.front import FrontTracker
    from pareto_align.front.schema import Objective
    from pareto_align.methods import dynamic_grad
    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards
    from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer

    tok, prompts, rm = setting
    cuda = torch.cuda.is_available()
    rm.to("cuda" if cuda else "cpu")
    model = build_tiny_causal_lm(tok, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, seed=0)
    rewards = ObjectiveRewards(rm, ["a", "b", "c"], WEIGHTS)
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=not cuda, bf16=False, report_to="none", seed=0,
                        max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=8,
                        max_completion_length=28, learning_rate=2e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=rewards.weights())  # fmt: skip
    trainer = DynamicGRPOTrainer(model=model, reward_funcs=rewards.functions(), args=config, processing_class=tok,
                                 train_dataset=datasets.Dataset.from_dict({"prompt": prompts}))  # fmt: skip
    probe = None
    if kind == "dynamic_grad":  # the method's own probe; its history goes to a throwaway tracker
        tracker = FrontTracker([Objective(name=n) for n in "abc"], [0.0, 0.0, 0.0])
        section = dynamic_grad.DynamicGradSection(lam=2e-3, floor=0.05)
        probe = dynamic_grad.WeightOptimizer(SimpleNamespace(tracker=tracker), section, "bench", WEIGHTS, 0)
        probe.attach(trainer, rewards, tok)
    clock = StepClock()
    trainer.add_callback(clock)
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    return {"kind": kind, "sec_per_step": statistics.median(clock.times[3:]),
            "probe_share": trainer.probe_seconds / total,
            "probe_parameters": sum(p.numel() for p in probe.parameters) if probe else 0,
            "model_parameters": sum(p.numel() for p in model.parameters()),
            "final_weights": probe.history_weights if probe else WEIGHTS,
            "device": torch.cuda.get_device_name() if cuda else "cpu"}  # fmt: skip


def main() -> None:
    from bench_morlhf_step import _setting
    from step_clock import alternating_pairs, step_benchmark_args

    args = step_benchmark_args(__doc__, steps=30)
    setting = _setting(args.hidden, args.layers)

    def report(r: int, pair: dict) -> None:
        print(f"repeat {r}: morlhf {pair['morlhf']['sec_per_step'] * 1e3:.1f} ms/step, dynamic_grad "
              f"{pair['dynamic_grad']['sec_per_step'] * 1e3:.1f} ms/step (probe "
              f"{pair['dynamic_grad']['probe_share']:.1%} of the run)")  # fmt: skip

    runs = alternating_pairs(("morlhf", "dynamic_grad"), lambda kind: run_one(kind, setting, args), args.repeats,
                             report)  # fmt: skip
    ratio = statistics.median(p["dynamic_grad"]["sec_per_step"] / p["morlhf"]["sec_per_step"] for p in runs)
    share = statistics.median(p["dynamic_grad"]["probe_share"] for p in runs)
    summary = {"time_ratio_dynamic_grad_over_morlhf": ratio, "probe_share": share, "target": "<= 1.5",
               "settings": vars(args) | {"out": str(args.out)}, "runs": runs, "device": runs[0]["morlhf"]["device"],
               "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(f"dynamic_grad / morlhf: time per step x{ratio:.3f}; probe {share:.1%} of a dynamic_grad run "
          f"(median of {args.repeats}; {runs[0]['dynamic_grad']['probe_parameters']} of "
          f"{runs[0]['dynamic_grad']['model_parameters']} parameters probed)")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
