"""Benchmark: scoring throughput of a user's reward model through the toolkit against a plain loop.

A local sequence classifier (the Qwen2 stand-in's architecture, random init, three labelled outputs, with its chat
template) scores the same (prompt, response) rows two ways, side by side, alternating, in one process:
- toolkit: the composite scorer of three objectives that all name the model (`scorers.composite.build_scorer`),
  which renders each row with the model's chat template, tokenizes and runs it in batches without gradients;
- plain: a loop of `model(**tokenizer(texts))` over the same batches of already-rendered texts under
  `torch.inference_mode()`, reading `logits`.
The ratio is toolkit rows/s over plain rows/s (target >= 0.9). Sizes: 'tiny' (overhead dominates) and 'small'.

    python experiments/bench_scorers.py [--rows 256] [--repeats 5] [--out experiments/results/bench_scorers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("TQDM_DISABLE", "1")


def rows(n: int) -> tuple[list[str], list[str]]:
    from pareto_align.models.standin import example_texts

    texts = example_texts(2 * n, seed=0)
    return texts[:n], [" " + t for t in texts[n:]]


def bench(size: str, n_rows: int, repeats: int, batch_size: int) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pareto_align.models.standin import save_standin_classifier
    from pareto_align.scorers.classifier import load_classifier, release_classifiers
    from pareto_align.scorers.composite import build_scorer
    from pareto_align.scorers.specs import RewardModelSpec

    prompts, responses = rows(n_rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(save_standin_classifier(Path(tmp) / size, labels=["a", "b", "c"], size=size))
        release_classifiers()
        specs = [RewardModelSpec(model=path, output=k, batch_size=batch_size) for k in range(3)]
        toolkit = build_scorer(specs, ["a", "b", "c"], ["max"] * 3, ["x"] * 3, heads=None, gold=None,
                               device="cpu", dtype="float32")  # fmt: skip
        loaded = load_classifier(specs[0], "x", "cpu", "float32")
        texts, special = loaded.texts(prompts, responses)
        tok = AutoTokenizer.from_pretrained(path)
        tok.pad_token_id = loaded.model.config.pad_token_id
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()

        def plain() -> torch.Tensor:
            out = []
            with torch.inference_mode():
                for i in range(0, len(texts), batch_size):
                    batch = tok(texts[i : i + batch_size], add_special_tokens=special, padding=True,
                                truncation=True, max_length=1024, return_tensors="pt")  # fmt: skip
                    out.append(model(**batch).logits)
            return torch.cat(out)

        def ours() -> torch.Tensor:
            return toolkit.score(prompts, responses)

        torch.testing.assert_close(ours(), plain())  # the same numbers, before timing
        times: dict[str, list[float]] = {"toolkit": [], "plain": []}
        for _ in range(repeats):
            for name, fn in (("toolkit", ours), ("plain", plain)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        n_params = sum(p.numel() for p in model.parameters())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"size": size, "parameters": n_params, "rows": n_rows, "batch_size": batch_size,
            "rows_per_s": {k: n_rows / v for k, v in med.items()}, "seconds": times,
            "ratio": med["plain"] / med["toolkit"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [bench(size, args.rows, args.repeats, args.batch_size) for size in args.sizes.split(",")]
    for r in results:
        print(f"{r['size']:>6} ({r['parameters'] / 1e6:.2f}M parameters): toolkit {r['rows_per_s']['toolkit']:.0f} "
              f"rows/s, plain {r['rows_per_s']['plain']:.0f} rows/s, ratio {r['ratio']:.3f}")  # fmt: skip
    if args.out:
        record = {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                  "results": results}  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
