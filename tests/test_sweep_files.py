"""The real-data path on local files: a base policy loaded by path, JSONL pairs + Parquet scores, reward-model scoring,
MODPO margins from a policy's implicit reward, and the baseline's handle to a model outside the run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY_SYNTHETIC, tiny_sweep_dict

from pareto_align import cli
from pareto_align.data.gold import GoldScorer
from pareto_align.data.synthetic import SyntheticConfig, load_synthetic_benchmark
from pareto_align.front import read_front
from pareto_align.models.policy import load_policy


@pytest.mark.slow
def test_sweep_on_local_files(tmp_path, benchmark_cache):
    bench = load_synthetic_benchmark(
        SyntheticConfig(**TINY_SYNTHETIC), cache_dir=benchmark_cache, progress=False
    )
    base = tmp_path / "my-base-model"  # stands in for a user's checkpoint on disk
    shutil.copytree(bench.base_path, base)
    margin_policy = tmp_path / "helpful-dpo"  # stands in for a DPO model of helpfulness: the base, perturbed
    model = load_policy({"kind": "checkpoint", "path": str(base), "hub": True}, tmp_path).model
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))
    model.save_pretrained(margin_policy)
    gold = GoldScorer(bench.world, ["topic_coverage", "word_count"], ["max", "min"], ["helpful", "length"])
    pairs = bench.preference_pairs(gold).to_pandas()
    for name in ["helpful", "length"]:  # one pairwise JSONL per objective, with renamed columns
        rows = pairs[pairs.objective == name].rename(
            columns={"prompt": "question", "chosen": "good", "rejected": "bad"}
        )
        rows[["question", "good", "bad"]].to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True)
    responses = [" " + a for _, a, _ in bench.pairs[:100]]
    prompts = [p for p, _, _ in bench.pairs[:100]]
    raw = gold.raw(prompts, responses).numpy()
    pd.DataFrame({"prompt": prompts, "response": responses, "verbosity": raw[:, 1]}).to_parquet(
        tmp_path / "s.parquet"
    )
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps({"prompt": p}) + "\n" for p in bench.eval_prompts()[:4])
    )

    config = tiny_sweep_dict(benchmark_cache)
    config["data"] = {
        "source": "files",
        "files": [
            {"path": "helpful.jsonl", "format": "pairwise", "objective": "helpful",
             "columns": {"prompt": "question", "chosen": "good", "rejected": "bad"}},
            {"path": "length.jsonl", "format": "pairwise", "objective": "length",
             "columns": {"prompt": "question", "chosen": "good", "rejected": "bad"}},
            {"path": "s.parquet", "format": "attribute_scores", "scores": {"length": "verbosity"}},
        ],
        "eval_prompts": "eval.jsonl",
    }  # fmt: skip
    config["policy"] = {"model": str(base)}
    config["evaluation"]["scorer"] = "reward_model"
    config["method"].update(margin_source="implicit_reward", margin_policies={"helpful": str(margin_policy)})
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    front = read_front(run_dir)
    assert [p.id for p in front.points] == ["w00-s0", "w01-s0"]
    assert all(p.n_samples == 4 * 2 for p in front.points)  # 4 prompts from eval.jsonl x 2 samples
    # a model outside the run dir (a hub name in real runs) gets a handle by name, which load_policy rebuilds
    handle = front.baselines[0].policy.model_dump(exclude_none=True)
    assert {k: handle[k] for k in ("kind", "path", "hub")} == {
        "kind": "checkpoint",
        "path": str(base),
        "hub": True,
    }
    rebuilt = load_policy(handle, run_dir).model.state_dict()
    saved = load_policy({"kind": "checkpoint", "path": base.name}, tmp_path).model.state_dict()
    assert all(torch.equal(rebuilt[k], saved[k]) for k in saved)
    # w01 = [0.3, 0.7] trains on length with helpful's margin: the margin policy's implicit reward, cached once
    diffs = np.load(run_dir / "reward_diffs_implicit_reward.npy")
    assert diffs.shape == (len(pairs), 2) and np.isnan(diffs[:, 1]).all()  # length has no margin policy
    assert np.isfinite(diffs[:, 0]).all() and np.abs(diffs[:, 0]).max() > 0
    metrics = json.loads((run_dir / "reward_model" / "reward_metrics.json").read_text())
    assert metrics["n_train_scores"] > 0 and "accuracy/helpful" in metrics
