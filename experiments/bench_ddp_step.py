"""Benchmark: a `morlhf` GRPO step in N data-parallel processes against one process (same per-process batch); or
(`--phase dpa_candidates`) DPA's candidate phase, the same work shared out over N processes.

Each run trains the benchmark-sized model (K = 3 reward heads, as bench_morlhf_step.py) for `--steps` optimizer
steps and records every step's wall time (CUDA synchronized) on the main process. One process runs with plain
Python; N processes run under a launcher: `accelerate launch --multi_gpu` on GPUs, `torchrun` on CPUs (gloo;
accelerate's own multi-CPU launch needs MPI). With the same per-process batch, N processes do N times the work
of one per step: the report gives the step-time ratio and the throughput ratio (completions per second).

DPA's candidate phase (`methods/_conditioned.py` `sample_and_score`): a fixed set of conditioned prompts (every
training prompt of the benchmark world x `--candidates` samples) is sampled by the benchmark-sized policy and scored
by a K = 3 reward model; under N processes each samples and scores its 1/N share and the results are gathered. The
same total work either way: the report gives the wall-time ratio (N over 1) and the throughput ratio (candidates
per second, 1 -> N), median of `--steps` timed passes after one untimed one.

    python experiments/bench_ddp_step.py [--processes 2] [--steps 20] [--repeats 2] [--out experiments/results/F]
    python experiments/bench_ddp_step.py --phase dpa_candidates [--candidates 4] [--steps 3] [--out ...]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
HERE = Path(__file__).resolve().parent


def candidates_worker(args) -> None:
    """DPA's candidate phase, timed (in every process of a launcher); the main process writes the result."""
    from types import SimpleNamespace

    import torch
    from bench_morlhf_step import _setting

    from pareto_align import ranks
    from pareto_align.methods._conditioned import sample_and_score
    from pareto_align.models.generation import GenerationSettings
    from pareto_align.models.tiny import build_tiny_causal_lm

    ranks.init()
    cuda = torch.cuda.is_available()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    tok, prompts, rm = _setting(args.hidden, args.layers)
    rm.to(device)
    model = build_tiny_causal_lm(
        tok, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, seed=0
    ).to(device)
    asked = [p for p in prompts for _ in range(args.candidates)]
    ws = SimpleNamespace(collective=ranks.world_size() > 1)
    settings = GenerationSettings(max_new_tokens=28)
    times = []
    for i in range(args.steps + 1):  # the first pass warms up
        ranks.barrier()
        start = time.perf_counter()
        drawn = sample_and_score(ws, model, tok, asked, asked, rm, settings, seed=i)
        if cuda:
            torch.cuda.synchronize()
        ranks.barrier()
        times.append(time.perf_counter() - start)
    if ranks.is_main():
        seconds = statistics.median(times[1:])
        result = {"processes": ranks.world_size(), "sec_per_step": seconds, "candidates": len(drawn.responses),
                  "completions_per_second": len(drawn.responses) / seconds, "per_process": drawn.per_process,
                  "device": torch.cuda.get_device_name() if cuda else "cpu"}  # fmt: skip
        args.worker.write_text(json.dumps(result))


def worker(args) -> None:
    """One training run (in every process of a launcher); the main process writes its step times."""
    import datasets
    import torch
    from bench_morlhf_step import WEIGHTS, _setting
    from step_clock import StepClock
    from trl import GRPOConfig, GRPOTrainer

    from pareto_align.models.tiny import build_tiny_causal_lm
    from pareto_align.rewards import ObjectiveRewards

    cuda = torch.cuda.is_available()
    tok, prompts, rm = _setting(args.hidden, args.layers)
    model = build_tiny_causal_lm(tok, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, seed=0)
    rewards = ObjectiveRewards(rm, ["a", "b", "c"], WEIGHTS)
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), use_cpu=not cuda, bf16=cuda and args.bf16, report_to="none",
                        seed=0, max_steps=args.steps, per_device_train_batch_size=args.batch, num_generations=8,
                        max_completion_length=28, learning_rate=3e-4, save_strategy="no", logging_steps=10**9,
                        disable_tqdm=True, reward_weights=rewards.weights())  # fmt: skip
    trainer = GRPOTrainer(model=model, reward_funcs=rewards.functions(), args=config, processing_class=tok,
                          train_dataset=datasets.Dataset.from_dict({"prompt": prompts}))  # fmt: skip
    rm.to(trainer.accelerator.device)
    clock = StepClock()
    trainer.add_callback(clock)
    trainer.train()
    if trainer.accelerator.is_main_process:
        processes = trainer.accelerator.num_processes
        step = statistics.median(clock.times[3:])
        result = {"processes": processes, "sec_per_step": step,
                  "completions_per_second": args.batch * processes / step,
                  "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                  "device": torch.cuda.get_device_name() if cuda else "cpu"}  # fmt: skip
        args.worker.write_text(json.dumps(result))


def launch(processes: int, args, out: Path) -> dict:
    import torch

    common = ["--steps", str(args.steps), "--batch", str(args.batch), "--hidden", str(args.hidden),
              "--layers", str(args.layers), "--worker", str(out), "--phase", args.phase,
              "--candidates", str(args.candidates)] + (["--bf16"] if args.bf16 else [])  # fmt: skip
    script = str(Path(__file__).resolve())
    if processes == 1:
        command = [sys.executable, script, *common]
    elif torch.cuda.is_available():
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   script, *common]  # fmt: skip
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   script, *common]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    if not torch.cuda.is_available():  # share the cores out instead of oversubscribing them
        env["OMP_NUM_THREADS"] = str(args.threads or max(1, (os.cpu_count() or 1) // processes))
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="completions per process per step")
    parser.add_argument("--bf16", action="store_true", help="bf16 on a GPU")
    parser.add_argument("--phase", choices=["morlhf_step", "dpa_candidates"], default="morlhf_step")
    parser.add_argument(
        "--candidates", type=int, default=4, help="dpa_candidates: samples per training prompt"
    )
    parser.add_argument(
        "--threads", type=int, help="CPU: threads per process (default: the cores shared out)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return candidates_worker(args) if args.phase == "dpa_candidates" else worker(args)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # alternating order, so that drift hits both sides
            order = (1, args.processes) if r % 2 == 0 else (args.processes, 1)
            pair = {n: launch(n, args, Path(tmp) / f"r{r}-n{n}.json") for n in order}
            runs.append(pair)
            print(f"repeat {r}: 1 process {pair[1]['sec_per_step'] * 1e3:.1f} ms/step, {args.processes} processes "
                  f"{pair[args.processes]['sec_per_step'] * 1e3:.1f} ms/step")  # fmt: skip
    step_ratio = statistics.median(p[args.processes]["sec_per_step"] / p[1]["sec_per_step"] for p in runs)
    speedup = statistics.median(
        p[args.processes]["completions_per_second"] / p[1]["completions_per_second"] for p in runs
    )
    summary = {f"step_time_ratio_{args.processes}_over_1": step_ratio, f"throughput_ratio_{args.processes}_over_1":
               speedup, "settings": vars(args) | {"out": str(args.out), "worker": None},
               "runs": [{str(k): v for k, v in p.items()} for p in runs], "device": runs[0][1]["device"],
               "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    summary["phase"] = args.phase
    print(f"{args.phase}: {args.processes} processes / 1: time per step x{step_ratio:.2f}, completions per second "
          f"x{speedup:.2f} (median of {args.repeats})")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
