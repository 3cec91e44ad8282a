"""GPU path check: a tiny LoRA MODPO sweep on the accelerator, in-process (no plotting stack needed).

Asserts that training and evaluation ran on CUDA and that every point's adapter reloads through `load_policy`.

    python experiments/gpu_check.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import tiny_sweep_dict  # noqa: E402

from pareto_align.config import parse_config  # noqa: E402
from pareto_align.front import read_front  # noqa: E402
from pareto_align.models.policy import load_policy  # noqa: E402
from pareto_align.sweep import run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "no CUDA device"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lora = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
        config = parse_config(tiny_sweep_dict(tmp / "cache", policy={"lora": lora},
                                              method={"trl": {"max_steps": 20, "per_device_train_batch_size": 16}}))  # fmt: skip
        start = time.perf_counter()
        run_sweep(config, tmp / "run", progress=False, log=print)
        seconds = time.perf_counter() - start
        front = read_front(tmp / "run")
        devices = set()
        for p in front.points:
            policy = load_policy(p.policy.model_dump(exclude_none=True), tmp / "run", device="cuda")
            devices.add(str(next(policy.model.parameters()).device))
        result = {
            "device": torch.cuda.get_device_name(),
            "seconds": seconds,
            "points": {p.id: {"values": p.values, "compute": p.compute.model_dump()} for p in front.points},
            "reloaded_on": sorted(devices),
            "hypervolume": front.metrics.hypervolume,
        }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
