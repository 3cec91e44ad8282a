"""Plan and run a sweep: one policy per (weight vector, seed), evaluated onto one front. Resumable.

Run directory layout:
    config.yaml            the validated config (its hash guards resumption)
    reward_model/          multi-head reward model (safetensors + JSON) and reward_metrics.json
    reward_diffs.npy       r(x, y_w) - r(x, y_l) for every preference pair, (N, K): MODPO margins, computed once
    points/<id>/policy/    one checkpoint per finished point (renamed into place when complete)
    front.json             the contract file, rewritten atomically after every point
    front.csv, front.html, front.png

A point appears in front.json only once its checkpoint is complete and evaluated, so a sweep killed at any moment
loses at most the point in flight, and re-running the same command continues from there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
import yaml
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from pareto_align.atomic import write_bytes_atomic, write_text_atomic
from pareto_align.config import ConfigError, SweepConfig
from pareto_align.data.synthetic import SyntheticBenchmark, load_synthetic_benchmark
from pareto_align.evaluate import Evaluation, Scorer, evaluate_policy
from pareto_align.front import FRONT_FILENAME, FrontTracker, Objective, Point, read_front
from pareto_align.models.policy import load_policy
from pareto_align.models.reward_model import MultiHeadRewardModel
from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.modpo_trainer import MODPOTrainer, choose_trained_objective, margin_rewards
from pareto_align.trainers.progress import use_step_bar
from pareto_align.trainers.reward_model_trainer import pairwise_accuracy, train_reward_model


@dataclass
class Job:
    id: str
    index: int
    weights: list[float]
    seed: int
    trained_objective: int


@dataclass
class Setting:
    """Everything the jobs share: base policy, preference pairs, held-out prompts, scorers."""

    base_path: str
    pairs: datasets.Dataset  # prompt, chosen, rejected, objective
    eval_prompts: list  # strings, or message lists for chat models
    benchmark: SyntheticBenchmark | None
    # attribute scores (prompt, response, scores), for the reward model
    scores: datasets.Dataset | None = None


def plan(config: SweepConfig) -> list[Job]:
    """One job per (weight vector, seed); ids are stable so that a re-run finds finished points."""
    names = config.objective_names
    preferred = (
        None
        if config.method.trained_objective == "largest_weight"
        else names.index(config.method.trained_objective)
    )
    jobs = []
    for i, w in enumerate(config.weight_vectors()):
        w = [round(float(x), 10) for x in w]
        for seed in config.seeds:
            jobs.append(Job(f"w{i:02d}-s{seed}", i, w, seed, choose_trained_objective(w, preferred)))
    return jobs


def _write_config(config: SweepConfig, run_dir: Path, config_path: Path | None) -> None:
    """Record the config; refuse to resume a run directory made by a different config."""
    target = run_dir / "config.yaml"
    payload = {"config_hash": config.config_hash(), "source": str(config_path) if config_path else None,
               "config": config.model_dump(mode="json")}  # fmt: skip
    if target.exists():
        previous = yaml.safe_load(target.read_text()) or {}
        if previous.get("config_hash") != payload["config_hash"]:
            raise ConfigError(
                f"{config_path or 'config'}: {run_dir} holds a sweep of a different config "
                f"(hash {previous.get('config_hash')} != {payload['config_hash']}); choose another --output-dir"
            )
        return
    write_text_atomic(target, yaml.safe_dump(payload, sort_keys=False))


def _load_eval_prompts(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        prompts = []
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict) or "prompt" not in row:
                    raise ConfigError(f"{path}: line {i}: expected a JSON object with a 'prompt' field")
                prompts.append(row["prompt"])
    else:
        prompts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not prompts:
        raise ConfigError(f"{path}: no evaluation prompts")
    return prompts


def prepare_setting(config: SweepConfig, progress: bool) -> tuple[Setting, Scorer | None]:
    """Base policy, preference pairs and held-out prompts; the gold scorer on the built-in benchmark."""
    if config.data.source == "synthetic":
        bench = load_synthetic_benchmark(config.data.synthetic, cache_dir=config.cache_dir, progress=progress)
        gold = bench.gold_scorer([o.gold for o in config.objectives], [o.direction for o in config.objectives],
                                 config.objective_names)  # fmt: skip
        setting = Setting(str(bench.base_path), bench.preference_pairs(gold), bench.eval_prompts(), bench)
        return setting, gold
    from pareto_align.data.loading import load_preference_files

    if config.policy.model is None:
        raise ConfigError("policy.model: set the base policy (name or path) when data.source is 'files'")
    data = load_preference_files(config.data.files, config.objectives)
    if config.data.eval_prompts is not None:
        prompts = _load_eval_prompts(config.data.eval_prompts)
    else:  # hold out prompts for evaluation: neither the reward model nor the policies train on them
        data, test = data.split(0.1, seed=0)
        rows = [*(test.pairs["prompt"] if test.pairs is not None else []),
                *(test.scores["prompt"] if test.scores is not None else [])]  # fmt: skip
        prompts = list({json.dumps(p, sort_keys=True): p for p in rows}.values())
    if data.pairs is None:
        raise ConfigError("data.files: MODPO trains on pairwise preferences, and no file gives any")
    return Setting(config.policy.model, data.pairs, prompts, None, data.scores), None


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_base(path: str, trust_remote_code: bool = False, device: str | None = None):
    """A causal LM and its tokenizer (left padding; pad = eos when unset), on `device` if given."""
    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code)
    if device is not None:
        model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def train_or_load_reward_model(config: SweepConfig, setting: Setting, run_dir: Path, gold: Scorer | None,
                               progress: bool) -> tuple[MultiHeadRewardModel, dict]:  # fmt: skip
    """Train the multi-head reward model once per run directory (reloaded on resume)."""
    target = run_dir / "reward_model"
    metrics_path = target / "reward_metrics.json"
    if metrics_path.exists():
        return MultiHeadRewardModel.load(target).to(_device()), json.loads(metrics_path.read_text())
    base, tokenizer = _load_base(setting.base_path, config.policy.trust_remote_code)
    tmp = Path(tempfile.mkdtemp(prefix=".reward_model-", dir=run_dir))
    try:
        model, metrics = train_reward_model(config.reward_model, config.objective_names,
                                            setting.pairs.select_columns(["prompt", "chosen", "rejected", "objective"]),
                                            setting.scores, base, tokenizer, tmp, progress=progress)  # fmt: skip
        if setting.benchmark is not None and gold is not None:
            # accuracy against noiseless gold labels, on fresh pairs from held-out prompts
            held_out = setting.benchmark.gold_test_pairs(gold, n_pairs=500)
            for name, acc in pairwise_accuracy(model, held_out, config.objective_names).items():
                metrics[f"gold_accuracy/{name}"] = acc
            (tmp / "reward_metrics.json").write_text(json.dumps(metrics, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return MultiHeadRewardModel.load(target).to(_device()), metrics


def reward_diffs(config: SweepConfig, setting: Setting, run_dir: Path, rm: MultiHeadRewardModel | None,
                 gold: Scorer | None) -> np.ndarray:  # fmt: skip
    """r(x, y_w) - r(x, y_l) for every pair, (N, K), from the margin source; computed once per run directory."""
    path = run_dir / "reward_diffs.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    scorer = gold if config.method.margin_source == "gold" else rm
    p, c, r = setting.pairs["prompt"], setting.pairs["chosen"], setting.pairs["rejected"]
    diffs = (scorer.score(p, c) - scorer.score(p, r)).double().numpy() * config.method.margin_scale  # (N, K)
    buffer = io.BytesIO()
    np.save(buffer, diffs, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())
    return diffs


def _point(job_id: str, method: str, ev: Evaluation, **fields) -> Point:
    return Point(id=job_id, method=method, values=ev.values, stderr=ev.stderr, n_samples=ev.n_samples,
                 samples=ev.samples, **fields)  # fmt: skip


def _evaluate(config: SweepConfig, model, tokenizer, setting: Setting, scorer: Scorer) -> Evaluation:
    ev = config.evaluation
    prompts = setting.eval_prompts[: ev.max_prompts] if ev.max_prompts else setting.eval_prompts
    return evaluate_policy(model, tokenizer, prompts, scorer, ev.generation, ev.samples_per_prompt, ev.seed,
                           n_examples=ev.n_examples)  # fmt: skip


def train_point(config: SweepConfig, job: Job, setting: Setting, diffs: np.ndarray, run_dir: Path,
                progress: bool) -> tuple[Path, dict]:  # fmt: skip
    """Train one MODPO policy; its checkpoint is renamed into points/<id>/policy only when complete."""
    names = config.objective_names
    k = job.trained_objective
    on_k = np.asarray([o == names[k] for o in setting.pairs["objective"]])
    data = setting.pairs.select(np.flatnonzero(on_k)).select_columns(["prompt", "chosen", "rejected"])
    data = data.add_column("margin", margin_rewards(diffs[on_k], np.asarray(job.weights), k).tolist())
    model, tokenizer = _load_base(setting.base_path, config.policy.trust_remote_code)
    point_dir = run_dir / "points" / job.id
    point_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".train-", dir=point_dir))
    try:
        args = MODPOConfig(
            output_dir=str(work / "trainer"),
            weights=job.weights,
            trained_objective=k,
            seed=job.seed,
            use_cpu=not torch.cuda.is_available(),
            bf16=False,
            disable_tqdm=not progress,
            **config.method.trl_args(),
        )
        peft_config = None
        if config.policy.lora is not None:
            from peft import LoraConfig

            peft_config = LoraConfig(task_type="CAUSAL_LM", **config.policy.lora)
        start = time.perf_counter()
        trainer = MODPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                               peft_config=peft_config)  # fmt: skip
        use_step_bar(trainer, f"training {job.id}", progress)
        result = trainer.train()
        seconds = time.perf_counter() - start
        trainer.model.save_pretrained(work / "policy")  # full weights, or the LoRA adapter alone
        tokenizer.save_pretrained(work / "policy")
        if peft_config is not None:
            _relocatable_adapter(work / "policy", Path(setting.base_path), run_dir)
        final = point_dir / "policy"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work / "policy", final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    compute = {"wall_seconds": seconds, "policy_updates": int(result.global_step),
               "tokens_seen": int(getattr(trainer, "_total_train_tokens", 0))}  # fmt: skip
    return final, compute


def _relocatable_adapter(adapter_dir: Path, base: Path, run_dir: Path) -> None:
    """Record the adapter's base model relative to the run dir when it lives there, so runs can be moved."""
    if not base.resolve().is_relative_to(run_dir.resolve()):
        return
    path = adapter_dir / "adapter_config.json"
    adapter = json.loads(path.read_text())
    adapter["base_model_name_or_path"] = str(base.resolve().relative_to(run_dir.resolve()))
    write_text_atomic(path, json.dumps(adapter, indent=2))


def run_sweep(config: SweepConfig, run_dir: Path, config_path: Path | None = None, progress: bool = True,
              log=print) -> FrontTracker:  # fmt: skip
    """Run (or resume) a sweep into `run_dir`; returns the tracker of the finished front."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()  # TRL's dataset preparation: our own bars cover points and steps
    _write_config(config, run_dir, config_path)
    t0 = time.perf_counter()
    setting, gold = prepare_setting(config, progress)
    if (
        setting.benchmark is not None
    ):  # a copy of the tiny base policy, so every handle stays inside the run dir
        local_base = run_dir / "base" / "policy"
        if not local_base.exists():
            tmp = Path(tempfile.mkdtemp(prefix=".base-", dir=run_dir))
            shutil.copytree(setting.base_path, tmp / "policy")
            local_base.parent.mkdir(exist_ok=True)
            os.replace(tmp / "policy", local_base)
            shutil.rmtree(tmp, ignore_errors=True)
        setting.base_path = str(local_base)
    jobs = plan(config)
    with_pairs = set(setting.pairs["objective"])
    for job in jobs:
        if config.objective_names[job.trained_objective] not in with_pairs:
            raise ConfigError(f"weights: point {job.id} trains on objective "
                              f"'{config.objective_names[job.trained_objective]}', which has no preference pairs "
                              f"(objectives with pairs: {sorted(with_pairs)}); set method.trained_objective")  # fmt: skip
    log(f"data: {len(setting.pairs)} preference pairs, {len(setting.eval_prompts)} held-out prompts "
        f"({time.perf_counter() - t0:.1f}s)")  # fmt: skip

    rm, rm_metrics = train_or_load_reward_model(config, setting, run_dir, gold, progress)
    accuracy = ", ".join(
        f"{k.split('/')[-1]} {v:.3f}" for k, v in rm_metrics.items() if k.startswith("accuracy/")
    )
    log(f"reward model: held-out accuracy {accuracy}")
    gold_acc = ", ".join(
        f"{k.split('/')[-1]} {v:.3f}" for k, v in rm_metrics.items() if k.startswith("gold_accuracy/")
    )
    if gold_acc:
        log(f"reward model: accuracy against gold labels {gold_acc}")
    scorer: Scorer = gold if config.evaluation.scorer == "gold" else rm
    diffs = reward_diffs(config, setting, run_dir, rm, gold)

    front_path = run_dir / FRONT_FILENAME
    if front_path.exists():
        tracker = FrontTracker.from_front(read_front(front_path))
    else:
        objectives = [Objective(name=o.name, direction=o.direction) for o in config.objectives]
        provenance = {"config": config.model_dump(mode="json"), "config_hash": config.config_hash(),
                      "config_path": str(config_path) if config_path else None,
                      "reward_model": rm_metrics}  # fmt: skip
        tracker = FrontTracker(objectives, config.reference_point, config.normalization, provenance)
    if "base" not in {b.id for b in tracker.baselines}:
        model, tokenizer = _load_base(setting.base_path, config.policy.trust_remote_code, _device())
        ev = _evaluate(config, model, tokenizer, setting, scorer)
        handle = _base_handle(setting, run_dir)
        tracker.add_baseline(
            _point("base", "base", ev, policy={"kind": "checkpoint", "path": handle} if handle else None)
        )
        tracker.save(front_path)

    todo = [
        j
        for j in jobs
        if j.id not in tracker.point_ids or not (run_dir / "points" / j.id / "policy").exists()
    ]
    if len(todo) < len(jobs):
        log(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} points already finished")
    for job in tqdm(todo, desc="grid points", disable=not progress):
        path, compute = train_point(config, job, setting, diffs, run_dir, progress)
        handle = {"kind": "checkpoint", "path": str(path.relative_to(run_dir))}
        policy = load_policy(handle, run_dir, _device())  # as the explorer will rebuild it
        ev = _evaluate(config, policy.model, policy.tokenizer, setting, scorer)
        point = _point(job.id, "modpo", ev, weights=job.weights, seed=job.seed, compute=compute,
                       step=compute["policy_updates"], policy=handle,
                       metadata={"trained_objective": config.objective_names[job.trained_objective], "grid_index": job.index,
                                 "eval_seconds": ev.seconds})  # fmt: skip
        tracker.add_point(point)
        tracker.log(
            step=len(tracker.point_ids), point_id=job.id, weights=job.weights, method="modpo", seed=job.seed
        )
        tracker.save(front_path)
    return tracker


def _base_handle(setting: Setting, run_dir: Path) -> str | None:
    """The base policy's checkpoint path relative to the run dir; None for a model outside it (a hub name)."""
    base = Path(setting.base_path).resolve()
    return str(base.relative_to(run_dir.resolve())) if base.is_relative_to(run_dir.resolve()) else None
