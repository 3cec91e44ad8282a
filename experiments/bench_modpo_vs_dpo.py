"""Benchmark: a MODPO step vs a TRL DPOTrainer step on the same tiny model and the same batches.

Both trainers precompute reference log-probs; MODPO also carries a precomputed margin column. Reports seconds per
optimizer step and peak memory (CUDA peak allocated on GPU; peak RSS of a fresh child process on CPU), as
MODPO / DPO ratios measured side by side, repeated in alternating order.

    python experiments/bench_modpo_vs_dpo.py [--steps 60] [--repeats 3] [--out experiments/results/...json]
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")


def _dataset(n: int, seed: int = 0):
    import numpy as np
    from datasets import Dataset

    from pareto_align.data.world import World, WorldConfig

    world = World(WorldConfig())
    rng = np.random.default_rng(seed)
    corpus = world.corpus(2 * n, rng)
    rows = {"prompt": [p for p, _ in corpus[:n]], "chosen": [" " + r for _, r in corpus[:n]],
            "rejected": [" " + r for _, r in corpus[n:]], "margin": rng.normal(0, 1, n).tolist()}  # fmt: skip
    return world, Dataset.from_dict(rows)


def run_one(method: str, steps: int, hidden: int, layers: int, batch: int, queue) -> None:
    """Train `steps` optimizer steps in this (fresh) process; report timing and memory."""
    import torch
    from trl import DPOConfig, DPOTrainer

    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
    from pareto_align.trainers.modpo_config import MODPOConfig
    from pareto_align.trainers.modpo_trainer import MODPOTrainer

    world, data = _dataset(steps * batch)
    tok = train_word_tokenizer(world.vocabulary_texts())
    model = build_tiny_causal_lm(tok, hidden_size=hidden, num_layers=layers, num_heads=4, seed=0)
    cuda = torch.cuda.is_available()
    common = dict(output_dir=tempfile.mkdtemp(), use_cpu=not cuda, bf16=False, report_to="none", max_steps=steps,
                  per_device_train_batch_size=batch, learning_rate=5e-5, beta=0.1, precompute_ref_log_probs=True,
                  save_strategy="no", logging_steps=10**9, seed=0, disable_tqdm=True, max_length=64)  # fmt: skip
    if method == "modpo":
        trainer = MODPOTrainer(model=model, args=MODPOConfig(weights=[0.6, 0.4], trained_objective=0, **common),
                               train_dataset=data, processing_class=tok)  # fmt: skip
    else:
        trainer = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=data.remove_columns("margin"),
                             processing_class=tok)  # fmt: skip
    from step_clock import StepClock

    clock = StepClock()
    trainer.add_callback(clock)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    warm = clock.times[5:]  # skip warm-up steps
    queue.put({
        "method": method,
        "sec_per_step": statistics.median(warm),
        # CUDA: peak allocated by tensors; CPU: peak RSS of this fresh process (libraries included)
        "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
    })  # fmt: skip


def measure(method: str, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_one, args=(method, args.steps, args.hidden, args.layers, args.batch, queue))
    proc.start()
    result = queue.get(timeout=1800)
    proc.join()
    return result


def main() -> None:
    from step_clock import step_benchmark_args

    args = step_benchmark_args(__doc__, steps=60)
    runs = []
    for r in range(args.repeats):
        order = ["dpo", "modpo"] if r % 2 == 0 else ["modpo", "dpo"]
        pair = {m: measure(m, args) for m in order}
        runs.append(pair)
        print(f"repeat {r}: dpo {pair['dpo']['sec_per_step'] * 1e3:.1f} ms/step, "
              f"modpo {pair['modpo']['sec_per_step'] * 1e3:.1f} ms/step; peak memory dpo "
              f"{pair['dpo']['peak_memory_mb']:.0f} MB, modpo {pair['modpo']['peak_memory_mb']:.0f} MB")  # fmt: skip
    time_ratio = statistics.median(p["modpo"]["sec_per_step"] / p["dpo"]["sec_per_step"] for p in runs)
    mem_ratio = statistics.median(p["modpo"]["peak_memory_mb"] / p["dpo"]["peak_memory_mb"] for p in runs)
    summary = {"time_ratio_modpo_over_dpo": time_ratio, "memory_ratio_modpo_over_dpo": mem_ratio,
               "target": "<= 1.10 each", "settings": vars(args) | {"out": str(args.out)}, "runs": runs,
               "device": runs[0]["dpo"]["device"], "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
               "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(
        f"MODPO/DPO: time per step x{time_ratio:.3f}, peak memory x{mem_ratio:.3f} (median of {args.repeats})"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
