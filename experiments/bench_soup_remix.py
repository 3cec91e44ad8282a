"""Benchmark: how fast a soup re-mixes at a new lambda (the explorer's slider), and MOD's decoding speed.

- Soup re-mix: `SoupMixer.mix` (K = 3 checkpoints held in memory, theta(lambda) written in place) for the
  benchmark's tiny Llama (full fine-tunes) and for LoRA fine-tunes (r 16 on q/k/v/o) of a 0.5B-parameter model of
  Qwen2.5-0.5B's shape (random weights; only the LoRA targets differ, so only they are re-mixed). Median of 20
  random lambdas; a fresh `load_policy` of the tiny soup from disk for comparison.
- MOD: tokens per second of a 3-specialist decoding-time mixture against one specialist alone (same prompts,
  same settings), as a ratio.

    python experiments/bench_soup_remix.py [--skip-large] [--out experiments/results/...json]
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

import numpy as np
import torch

os.environ.setdefault("TQDM_DISABLE", "1")


def _lambdas(n: int, k: int = 3) -> list[list[float]]:
    return np.random.default_rng(0).dirichlet(np.ones(k), size=n).tolist()


def _perturbed(model, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: v + 0.01 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
            for k, v in model.state_dict().items()}  # fmt: skip


def time_mix(mixer, n: int = 20) -> float:
    times = []
    for lam in _lambdas(n):
        start = time.perf_counter()
        mixer.mix(lam)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tiny_soup() -> dict:
    from pareto_align.data.world import World, WorldConfig
    from pareto_align.models.policy import load_policy
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
    from pareto_align.soups import SoupMixer

    tok = train_word_tokenizer(World(WorldConfig()).vocabulary_texts())
    model = build_tiny_causal_lm(tok, hidden_size=128, num_layers=2, num_heads=4, seed=0)
    sds = [_perturbed(model, i) for i in range(3)]
    run = Path(tempfile.mkdtemp())
    for i, sd in enumerate(sds):
        model.load_state_dict(sd)
        model.save_pretrained(run / f"s{i}")
        tok.save_pretrained(run / f"s{i}")
    mixer = SoupMixer.from_checkpoints(model, sds)
    handle = {"kind": "soup", "checkpoints": ["s0", "s1", "s2"], "coefficients": [0.2, 0.3, 0.5]}
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        load_policy(handle, run)
        loads.append(time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    return {
        "parameters": params,
        "remix_ms": 1e3 * time_mix(mixer),
        "load_from_disk_ms": 1e3 * statistics.median(loads),
    }


def large_lora_soup(r: int = 16) -> dict:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pareto_align.soups import SoupMixer

    config = Qwen2Config(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    )  # Qwen2.5-0.5B's shape
    model = Qwen2ForCausalLM(config).eval()
    base = model.state_dict()
    targets = [
        k for k in base if k.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"))
    ]
    g = torch.Generator().manual_seed(0)
    sds = []
    for _ in range(
        3
    ):  # merged LoRA fine-tunes: W0 + (alpha / r) B A on the targets, every other tensor shared
        sd = dict(base)
        for key in targets:
            out_dim, in_dim = base[key].shape
            B, A = 0.01 * torch.randn(out_dim, r, generator=g), 0.01 * torch.randn(r, in_dim, generator=g)
            sd[key] = base[key] + 2.0 * B @ A
        sds.append(sd)
    start = time.perf_counter()
    mixer = SoupMixer.from_checkpoints(model, sds)
    build = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    remixed = sum(stack[0].numel() for _, stack in mixer.stacked)
    return {"parameters": params, "remixed_parameters": remixed, "lora_r": r, "mixer_build_s": build,
            "remix_ms": 1e3 * time_mix(mixer, n=10)}  # fmt: skip


def mod_speed(n_prompts: int = 96) -> dict:
    from pareto_align.data.world import World, WorldConfig
    from pareto_align.models.generation import GenerationSettings, generate
    from pareto_align.models.mixture import MixturePolicy
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

    world = World(WorldConfig())
    tok = train_word_tokenizer(world.vocabulary_texts())
    tok.padding_side = "left"
    models = []
    for i in range(3):
        m = build_tiny_causal_lm(tok, hidden_size=128, num_layers=2, num_heads=4, seed=0)
        m.load_state_dict(_perturbed(m, i))
        models.append(m.eval())
    prompts = (world.prompts("eval") * n_prompts)[:n_prompts]
    settings = GenerationSettings(max_new_tokens=28)
    out = {}
    for name, run in [("single", lambda: generate(models[0], tok, prompts, settings, seed=0)),
                      ("mod_3", lambda: MixturePolicy(models, tok, {}, weights=[0.2, 0.3, 0.5]).generate(prompts, settings, seed=0))]:  # fmt: skip
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            gen = run()
            rates.append(gen.n_tokens / (time.perf_counter() - start))
        out[f"{name}_tokens_per_s"] = statistics.median(rates)
    out["ratio_mod_over_single"] = out["mod_3_tokens_per_s"] / out["single_tokens_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--skip-large", action="store_true", help="skip the 0.5B-shape LoRA soup (needs ~8 GB RAM)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {"tiny_soup": tiny_soup()}
    print(f"tiny soup ({result['tiny_soup']['parameters']:,} parameters): re-mix {result['tiny_soup']['remix_ms']:.2f} ms, "
          f"load from disk {result['tiny_soup']['load_from_disk_ms']:.1f} ms")  # fmt: skip
    if not args.skip_large:
        result["lora_0.5b_soup"] = big = large_lora_soup()
        print(f"0.5B-shape LoRA soup ({big['parameters']:,} parameters, {big['remixed_parameters']:,} re-mixed): "
              f"re-mix {big['remix_ms']:.1f} ms (mixer built in {big['mixer_build_s']:.1f} s)")  # fmt: skip
    result["mod"] = mod = mod_speed()
    print(f"MOD, 3 specialists: {mod['mod_3_tokens_per_s']:.0f} tokens/s vs {mod['single_tokens_per_s']:.0f} for one "
          f"model (x{mod['ratio_mod_over_single']:.2f})")  # fmt: skip
    result |= {"device": "cuda" if torch.cuda.is_available() else "cpu",
               "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
