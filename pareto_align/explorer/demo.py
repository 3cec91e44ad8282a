"""A small, fully known run directory for trying the explorer and testing it (no training, no download).

The front is analytic: a Pareto point with weights ``w`` has values ``w / ||w||_2`` (the positive part of the
unit sphere, so every preference has its own best point), a few dominated points lie inside it, and the base
policy is a baseline. Every point names a policy handle over one tiny random checkpoint (built locally), so
live generation, soups and conditioning all work on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pareto_align.front.indicators import compute_metrics, hypervolume
from pareto_align.front.schema import Front, HistoryEntry, Objective, Point, PolicyHandle, Sample, write_front

DEMO_OBJECTIVES = ("helpful", "harmless", "concise")
CHECKPOINT = "policies/base"
CORPUS = [
    "tell me about the garden",
    "the garden has many green plants and a small pond",
    "tell me about the river",
    "the river is long and calm in the summer",
    "a short answer is often the best answer",
]
# Dominated points: a fraction of a Pareto point's values.
DOMINATED_SCALE = 0.6


def demo_weights(K: int) -> np.ndarray:
    """The demo's weight grid: pymoo's das-dennis directions with 3 partitions, shape (m, K)."""
    from pymoo.util.ref_dirs import get_reference_directions

    return get_reference_directions("das-dennis", K, n_partitions=3)


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny random Llama and word-level tokenizer saved at ``path`` (safetensors + JSON)."""
    from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer

    tokenizer = train_word_tokenizer(CORPUS)
    model = build_tiny_causal_lm(tokenizer, hidden_size=32, num_layers=1, num_heads=2, seed=seed)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def demo_front(
    objectives: tuple[str, ...] = DEMO_OBJECTIVES, method: str = "demo", scale: float = 1.0
) -> Front:
    """The analytic front (see module docstring); ``scale`` multiplies every value (to make a worse method)."""
    K = len(objectives)
    W = demo_weights(K)  # (m, K)
    F = scale * W / np.linalg.norm(W, axis=1, keepdims=True)  # (m, K)
    points = []
    for i, (w, f) in enumerate(zip(W, F, strict=True)):
        points.append(
            Point(
                id=f"{method}-{i}",
                method=method,
                weights=[float(x) for x in w],
                seed=0,
                values=[round(float(x), 6) for x in f],
                stderr=[0.02] * K,
                n_samples=64,
                policy=PolicyHandle(kind="checkpoint", path=CHECKPOINT),
                step=100,
                samples=[
                    Sample(
                        prompt="tell me about the garden", response=f" answer of {method}-{i}", values=list(f)
                    )
                ],
            )
        )
    for j, i in enumerate(range(0, len(W), 3)):
        points.append(
            Point(
                id=f"{method}-dominated-{j}",
                method=method,
                weights=[float(x) for x in W[i]],
                values=[round(float(x) * DOMINATED_SCALE, 6) for x in F[i]],
                stderr=[0.03] * K,
                n_samples=64,
                policy=PolicyHandle(kind="checkpoint", path=CHECKPOINT),
                step=50,
            )
        )
    mid = np.full(K, 1.0 / K)
    points.append(
        Point(
            id=f"{method}-soup",
            method=method,
            weights=mid.tolist(),
            values=[round(0.5 * scale, 6)] * K,
            stderr=[0.02] * K,
            n_samples=64,
            policy=PolicyHandle(kind="soup", checkpoints=[CHECKPOINT] * K, coefficients=mid.tolist()),
            step=100,
        )
    )
    unit = mid / np.linalg.norm(mid)
    points.append(
        Point(
            id=f"{method}-conditioned",
            method=method,
            direction=unit.tolist(),
            values=[round(0.45 * scale, 6)] * K,
            stderr=[0.02] * K,
            n_samples=64,
            policy=PolicyHandle(kind="conditioned", path=CHECKPOINT, direction=unit.tolist()),
            step=100,
        )
    )
    baseline = Point(
        id="base",
        method="base",
        values=[0.2] * K,
        stderr=[0.02] * K,
        n_samples=64,
        policy=PolicyHandle(kind="checkpoint", path=CHECKPOINT),
    )
    front = Front(
        objectives=[Objective(name=n) for n in objectives],
        reference_point=[-0.1] * K,  # below zero, so points with a zero value still add hypervolume
        points=points,
        baselines=[baseline],
        provenance={"source": "pareto_align.explorer.demo"},
    )
    # History: the front grows point by point during "training".
    Fp = front.F("points")
    front.history = [
        HistoryEntry(step=10 * (n + 1), hypervolume=hypervolume(Fp[: n + 1], front.reference_point))
        for n in range(len(W))
    ]
    front.metrics = compute_metrics(front)
    return front


def write_demo_run(
    run_dir: str | Path,
    objectives: tuple[str, ...] = DEMO_OBJECTIVES,
    method: str = "demo",
    scale: float = 1.0,
    checkpoint: bool = True,
) -> Path:
    """Write ``run_dir/front.json`` (and the tiny checkpoint unless ``checkpoint`` is False); returns run_dir."""
    run_dir = Path(run_dir)
    if checkpoint:
        write_tiny_checkpoint(run_dir / CHECKPOINT)
    write_front(demo_front(objectives, method, scale), run_dir)
    return run_dir
