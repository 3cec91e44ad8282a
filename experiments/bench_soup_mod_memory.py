"""Benchmark: peak memory of a soup and of MOD over 3 LoRA specialists, against one model.

A random-init model of Qwen2.5-0.5B's shape (transformers' Qwen2, hidden 896, 24 layers, 14 heads, 2 KV heads,
intermediate 4864, vocabulary 151,936, tied embeddings: 494M parameters) is saved as a run directory holds a base
policy (base/policy), with three r=16 LoRA specialists on every linear projection (q/k/v/o/gate/up/down, random
non-zero A and B) saved as points/specialist-<k>-s0/policy, their base named relative to the run. Each case then
runs in a fresh subprocess, so that peaks do not mix, and reports its process's peak resident memory (VmHWM of
/proc/self/status: the high-water mark of this process image; `ru_maxrss` would carry over the parent's across
fork and exec) and its resident memory after imports, before any model is loaded:

- model:  `load_policy` of one specialist (its adapter merged into the base), then generating;
- soup:   `load_policy` of the 3-specialist soup at lambda (0.2, 0.3, 0.5), then generating;
- mod:    `load_policy` of the 3-specialist MOD mixture at weights (0.2, 0.3, 0.5), then generating;
- mixer:  the explorer's re-mixing (`load_soup_mixer`), two slider moves, then generating;
- mod_copies: MOD as it was built before, three merged copies (one `load_policy` per specialist).

Then one more process loads one model, MOD and mod_copies together and generates from each in turn, 4 rounds, for
their generation times (medians), which a busy machine then slows alike.

Generating is 4 prompts x 8 new tokens (pure sampling), 3 times; its time is the median. Targets: soup <= 1.3x and MOD <= 1.6x the model's peak.

    python experiments/bench_soup_mod_memory.py [--dtype float32|bfloat16] [--out experiments/results/X.json]
    python experiments/bench_soup_mod_memory.py --dry    # a tiny model of the same family: seconds, for the test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

CASES = ("model", "soup", "mod", "mixer", "mod_copies")
LAMBDA = [0.2, 0.3, 0.5]
SPECIALISTS = [f"points/specialist-{k}-s0/policy" for k in range(3)]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QWEN2_0_5B = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
              "intermediate_size": 4864, "vocab_size": 151936}  # fmt: skip
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 128, "vocab_size": 1000}  # fmt: skip


def build_run(run: Path, dtype: str, dry: bool, r: int = 16) -> dict:
    """The base policy and three LoRA specialists, saved as a sweep's run directory holds them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pareto_align.models.tiny import train_word_tokenizer

    tok = train_word_tokenizer(["the garden is green and the sky is blue today"])
    config = Qwen2Config(**(TINY if dry else QWEN2_0_5B), tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(getattr(torch, dtype)).eval()
    base = run / "base" / "policy"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    parameters = sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(
        model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, task_type="CAUSAL_LM")
    )
    for k, rel in enumerate(SPECIALISTS):
        g = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_" in name:  # B is zero at init: every specialist gets a real update
                    p.copy_(0.02 * torch.randn(p.shape, generator=g))
        peft_model.save_pretrained(run / rel)
        tok.save_pretrained(run / rel)
        cfg = run / rel / "adapter_config.json"
        adapter = json.loads(cfg.read_text())
        adapter["base_model_name_or_path"] = "base/policy"  # as the sweep writes it: relocatable
        cfg.write_text(json.dumps(adapter, indent=2))
    adapter_parameters = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    return {"parameters": parameters, "adapter_parameters": adapter_parameters, "lora_r": r,
            "lora_targets": TARGETS, "dtype": dtype, "shape": TINY if dry else QWEN2_0_5B}  # fmt: skip


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (Linux), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    """Resident memory now."""
    return _status_mb("VmRSS") or _peak_mb()


def _peak_mb() -> float:
    """Peak resident memory of this process image (ru_maxrss where /proc is missing: it may include the parent's)."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


PROMPTS = ["the garden is", "the sky", "green and blue", "today the"]


def load_case(case: str, run: Path):
    """The policy a case generates from."""
    from pareto_align.models.mixture import MixturePolicy
    from pareto_align.models.policy import Policy, load_policy, load_soup_mixer

    if case == "model":
        return load_policy({"kind": "checkpoint", "path": SPECIALISTS[0]}, run)
    if case == "soup":
        return load_policy({"kind": "soup", "checkpoints": SPECIALISTS, "coefficients": LAMBDA}, run)
    if case == "mod":
        return load_policy({"kind": "mixture", "checkpoints": SPECIALISTS, "weights": LAMBDA}, run)
    if case == "mod_copies":
        copies = [load_policy({"kind": "checkpoint", "path": p}, run) for p in SPECIALISTS]
        return MixturePolicy([c.model for c in copies], copies[0].tokenizer, {}, weights=LAMBDA)
    mixer, tok = load_soup_mixer([run / p for p in SPECIALISTS], run)
    mixer.mix([0.6, 0.2, 0.2])
    return Policy(mixer.mix(LAMBDA), tok, {})


def _generate(policy, new_tokens: int, seed: int) -> tuple[float, int]:
    """Seconds to sample the prompts' responses, and the tokens generated."""
    from pareto_align.models.generation import GenerationSettings

    begin = time.perf_counter()
    out = policy.generate(PROMPTS, GenerationSettings(max_new_tokens=new_tokens, batch_size=4), seed=seed)
    return time.perf_counter() - begin, out.n_tokens


def _threads() -> None:
    import torch

    # one thread unless told: on a shared machine every multi-threaded op waits for a time slice
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def run_case(case: str, run: Path, new_tokens: int, repeats: int = 3) -> dict:
    """One case, in this (fresh) process: load, generate, and report the peaks."""
    import pareto_align.models.policy  # noqa: F401  (imports counted before the baseline)

    _threads()
    after_imports = _rss_mb()
    start = time.perf_counter()
    policy = load_case(case, run)
    loaded = time.perf_counter()
    times, tokens = zip(*(_generate(policy, new_tokens, seed) for seed in range(repeats)), strict=True)
    return {"case": case, "peak_rss_mb": _peak_mb(), "rss_after_imports_mb": after_imports,
            "load_s": loaded - start, "generate_s": statistics.median(times), "generated_tokens": tokens[-1]}  # fmt: skip


def run_speed(run: Path, new_tokens: int, repeats: int = 4) -> dict:
    """Generation time of one model, MOD and MOD over merged copies, loaded together and run in turn (so a busy
    machine slows all three alike); medians over `repeats` rounds."""
    _threads()
    policies = {case: load_case(case, run) for case in ("model", "mod", "mod_copies")}
    times: dict[str, list[float]] = {case: [] for case in policies}
    for seed in range(repeats):
        for case, policy in policies.items():
            times[case].append(_generate(policy, new_tokens, seed)[0])
    speed = {f"{case}_generate_s": statistics.median(t) for case, t in times.items()}
    speed["mod_over_copies"] = speed["mod_generate_s"] / speed["mod_copies_generate_s"]
    speed["mod_over_model"] = speed["mod_generate_s"] / speed["model_generate_s"]
    return speed


def measure(case: str, run: Path, *options: str) -> dict:
    """`run_case` (or `build_run`, case "build") in a fresh Python process (same interpreter, same PYTHONPATH)."""
    cmd = [sys.executable, __file__, "--case", case, "--run", str(run), *options]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="dtype the base and specialists are saved (and so loaded) in")  # fmt: skip
    parser.add_argument("--dry", action="store_true", help="a tiny Qwen2 instead of the 0.5B shape")
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="build the run here and keep it (reused when it exists)")
    parser.add_argument(
        "--case", choices=("build", "speed", *CASES), help=argparse.SUPPRESS
    )  # internal: in a child
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case == "build":
        print(json.dumps(build_run(args.run, args.dtype, args.dry)))
        return {}
    if args.case == "speed":
        print(json.dumps(run_speed(args.run, args.new_tokens)))
        return {}
    if args.case:
        print(json.dumps(run_case(args.case, args.run, args.new_tokens)))
        return {}
    with tempfile.TemporaryDirectory() as tmp:  # this process never imports torch: its memory stays small
        run = args.keep or Path(tmp)
        setup = run / "setup.json"
        if not setup.is_file():
            start = time.perf_counter()
            built = measure("build", run, "--dtype", args.dtype, *(["--dry"] if args.dry else []))
            setup.write_text(json.dumps(built | {"build_s": time.perf_counter() - start}))
        result = {"setup": json.loads(setup.read_text())}
        cases = {case: measure(case, run, "--new-tokens", str(args.new_tokens)) for case in CASES}
        result["speed"] = measure("speed", run, "--new-tokens", str(args.new_tokens))
    one = cases["model"]
    for c in cases.values():
        c["peak_over_model"] = c["peak_rss_mb"] / one["peak_rss_mb"]
        c["model_memory_mb"] = (
            c["peak_rss_mb"] - c["rss_after_imports_mb"]
        )  # what loading and generating added
        c["model_memory_over_model"] = c["model_memory_mb"] / one["model_memory_mb"]
    result["cases"] = cases
    result |= {"machine": f"{platform.machine()}, {os.cpu_count()} cpus", "threads": os.environ.get("OMP_NUM_THREADS"),
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    for name, c in cases.items():
        print(f"{name:6s} peak {c['peak_rss_mb']:8.0f} MB (x{c['peak_over_model']:.2f})   above imports "
              f"{c['model_memory_mb']:8.0f} MB (x{c['model_memory_over_model']:.2f})   load {c['load_s']:.1f} s, "
              f"generate {c['generate_s']:.1f} s")  # fmt: skip
    speed = result["speed"]
    print(f"generating in turn: model {speed['model_generate_s']:.2f} s, MOD {speed['mod_generate_s']:.2f} s, MOD over "
          f"merged copies {speed['mod_copies_generate_s']:.2f} s (MOD / copies x{speed['mod_over_copies']:.2f})")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
