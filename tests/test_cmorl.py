"""C-MORL: crowding distance, archive, selection and the log barrier against hand-computed values and autograd;
the `cmorl` method's plan from a front; a few-step run of both stages on the tiny benchmark and its resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pareto_align.cmorl import (
    Archive,
    ArchiveEntry,
    barrier_value,
    barrier_weights,
    crowding_distance,
    default_n_select,
    normalize,
    select,
)

INF = math.inf


# ---------------------------------------------------------------------------------------------- crowding distance
def test_crowding_distance_by_hand():
    # objective 0 (range 4): [1, 3.5] has neighbours 0 and 3 -> 3/4; [3, 1] has 1 and 4 -> 3/4
    # objective 1 (range 4): [3, 1] has neighbours 0 and 3.5 -> 7/8; [1, 3.5] has 1 and 4 -> 3/4
    F = np.array([[0.0, 4.0], [1.0, 3.5], [3.0, 1.0], [4.0, 0.0]])
    assert crowding_distance(F).tolist() == [INF, 1.5, 1.625, INF]
    assert crowding_distance(F[[2, 0, 3, 1]]).tolist() == [1.625, INF, INF, 1.5]  # order does not matter


def test_crowding_distance_with_a_zero_range():
    """The reference divides by the range, 0 here: that objective contributes nothing, extremes included."""
    F = np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    assert crowding_distance(F).tolist() == [INF, 0.75, 0.75, INF]
    same = np.array([[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]])
    assert crowding_distance(same).tolist() == [INF, 0.0, 0.0]  # one vector: its first copy


def test_crowding_distance_with_duplicates():
    """Copies share one place: the first copy gets the vector's distance, the others 0."""
    F = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert crowding_distance(F).tolist() == [INF, 2.0, INF, 0.0, 0.0]
    assert crowding_distance(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist() == [INF, INF]
    assert crowding_distance(np.empty((0, 2))).tolist() == []


def test_crowding_distance_matches_a_direct_loop():
    """Against a plain O(n^2) transcription of NSGA-II's definition on distinct random points."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, k = int(rng.integers(3, 12)), int(rng.integers(2, 5))
        F = rng.normal(size=(n, k))
        expected = np.zeros(n)
        for j in range(k):
            lo, hi = F[:, j].min(), F[:, j].max()
            for i in range(n):
                below = [x for x in F[:, j] if x < F[i, j]]
                above = [x for x in F[:, j] if x > F[i, j]]
                if not below or not above:
                    expected[i] = INF
                elif expected[i] != INF:
                    expected[i] += (min(above) - max(below)) / (hi - lo)
        assert crowding_distance(F) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------- archive, selection
def _entries(F, prefix="e"):
    return [ArchiveEntry(f"{prefix}{i}", list(map(float, v))) for i, v in enumerate(F)]


LINE = [[0.0, 4.0], [1.0, 3.5], [3.0, 1.0], [4.0, 0.0]]


def test_archive_keeps_the_non_dominated_and_trims_by_crowding_distance():
    archive = Archive(capacity=10, entries=_entries([*LINE, [0.5, 0.5], [1.0, 3.5]]))
    assert [e.id for e in archive.entries] == ["e0", "e1", "e2", "e3", "e5"]  # e4 dominated; copies kept
    archive = Archive(capacity=4, entries=_entries([*LINE, [1.0, 3.5]]))
    assert [e.id for e in archive.entries] == ["e0", "e1", "e2", "e3"]  # the copy (distance 0) goes first
    archive = Archive(capacity=3, entries=_entries(LINE))
    assert [e.id for e in archive.entries] == ["e0", "e2", "e3"]  # 1.5 < 1.625
    archive = Archive(capacity=2, entries=_entries(LINE))
    assert [e.id for e in archive.entries] == ["e0", "e3"]  # the extremes stay
    archive.offer(ArchiveEntry("better", [5.0, 5.0]))
    assert [e.id for e in archive.entries] == ["better"]
    with pytest.raises(ValueError, match="offered twice"):
        archive.offer(ArchiveEntry("better", [6.0, 6.0]))
    restored = Archive(2, [ArchiveEntry.from_json(e) for e in archive.to_json()["entries"]])
    assert [(e.id, e.values) for e in restored.entries] == [("better", [5.0, 5.0])]


def test_selection_by_crowding_distance_skips_extended_vectors():
    archive = Archive(entries=_entries(LINE))
    assert [e.id for e in select(archive, 2)] == ["e0", "e3"]  # the extremes (infinite), in archive order
    assert [e.id for e in select(archive, 2, extended=[LINE[0], LINE[3]])] == ["e2", "e1"]  # 1.625, then 1.5
    assert [e.id for e in select(archive, 9, extended=LINE)] == []
    copies = Archive(entries=_entries([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    assert [e.id for e in select(copies, 3)] == ["e0", "e1"]  # a vector is selected once
    assert default_n_select(2) == 5 and default_n_select(3) == 6


# ---------------------------------------------------------------------------------------------- the barrier
def test_barrier_value_and_coefficients_by_hand():
    G, G_ref = (
        [0.5, 0.6, 0.3],
        [0.4, 0.5, 0.5],
    )  # slacks of objectives 1, 2: 0.6 - 0.45 = 0.15, 0.3 - 0.45 < 0
    value = barrier_value(G, G_ref, objective=0, beta=0.9, t=20)
    assert value == pytest.approx(0.5 + (math.log(0.15) + math.log(0.001)) / 2 / 20)
    weights, binds = barrier_weights(G, G_ref, objective=0, beta=0.9, t=20)
    assert weights == pytest.approx([1.0, 1 / (20 * 2 * 0.15), 1 / (20 * 2 * 0.001)])  # [1, 1/6, 25]
    assert binds.tolist() == [False, False, True]
    weights, binds = barrier_weights([0.2, 0.9], [0.3, 0.5], objective=1, beta=0.5, t=10)
    assert weights == pytest.approx([1 / (10 * 1 * 0.05), 1.0]) and binds.tolist() == [False, False]


def test_barrier_coefficients_are_its_autograd_gradient():
    """Where the clamp does not bind, the coefficients are dB/dG as torch computes it from B itself."""
    rng = np.random.default_rng(1)
    for _ in range(100):
        k = int(rng.integers(2, 5))
        G_ref = rng.uniform(0.1, 1.0, size=k)
        G = 0.9 * G_ref + rng.uniform(0.01, 0.5, size=k)  # every slack positive, above the clamp
        objective, t, beta = int(rng.integers(k)), float(rng.uniform(1, 50)), 0.9
        g = torch.tensor(G, dtype=torch.float64, requires_grad=True)
        others = [j for j in range(k) if j != objective]
        B = g[objective] + torch.log(g[others] - beta * torch.tensor(G_ref)[others]).mean() / t
        B.backward()
        weights, binds = barrier_weights(G, G_ref, objective, beta, t)
        assert weights == pytest.approx(g.grad.numpy(), rel=1e-9) and not binds.any()
        assert barrier_value(G, G_ref, objective, beta, t) == pytest.approx(B.item(), rel=1e-12)


def test_barrier_rejects_malformed_input_and_normalize():
    with pytest.raises(ValueError, match="K >= 2"):
        barrier_weights([0.5], [0.5], 0)
    with pytest.raises(ValueError, match="out of range"):
        barrier_weights([0.5, 0.5], [0.5, 0.5], 2)
    assert normalize([3.0, -12.0], [0.0, -24.0], [6.0, 0.0]).tolist() == [0.5, 0.5]


def test_a_barrier_step_raises_its_objective_and_keeps_the_constraints():
    """A tiny problem where the policy gradient is exact: a softmax policy over 4 responses with known
    normalized objective values R (4, 3). From pi_r, steps along the barrier's per-batch linear weights (as the
    trainer gets them) raise objective 0 while objectives 1 and 2 stay above beta * G(pi_r); the plain objective-0
    gradient (no barrier) breaks a constraint."""
    from pareto_align.methods.cmorl import Barrier

    R = torch.tensor(
        [[1.0, 0.0, 0.1], [0.8, 0.5, 0.3], [0.0, 1.0, 0.2], [0.1, 0.2, 1.0]], dtype=torch.float64
    )
    lower, upper = np.zeros(3), np.ones(3)

    def run(
        barrier: Barrier | None, steps: int = 300, lr: float = 0.5
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        logits = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        trace = []
        for _ in range(steps):
            p = torch.softmax(logits, 0)
            G = p @ R  # (3,) exact expectations, the "batch mean"
            trace.append(G.detach().numpy().copy())
            w = barrier.weights(G.detach()[None, :]) if barrier else [1.0, 0.0, 0.0]
            (grad,) = torch.autograd.grad((G * torch.tensor(w, dtype=torch.float64)).sum(), logits)
            with torch.no_grad():
                logits += lr * grad
        return (torch.softmax(logits, 0) @ R).detach().numpy(), trace

    G_ref = (torch.full((4,), 0.25, dtype=torch.float64) @ R).numpy()  # pi_r: uniform
    barrier = Barrier(0, G_ref, lower, upper, beta=0.9, t=20)
    final, trace = run(barrier)
    assert final[0] > G_ref[0] + 0.05  # objective 0 rose
    assert all(np.all(G[1:] >= 0.9 * G_ref[1:] - 1e-9) for G in trace)  # feasible all along
    assert barrier.batches == 300 and barrier.binds.sum() == 0
    plain, _ = run(None)
    assert np.any(plain[1:] < 0.9 * G_ref[1:])  # without the barrier the constraints break


def _point(pid, seed, stage, snapshots, job=None):
    from pareto_align.front.schema import Point

    return Point(id=pid, method="cmorl", seed=seed, values=[0.0, 0.0], stderr=[0.0, 0.0], n_samples=1,
                 metadata={"job": job or pid, "cmorl": {"stage": stage, "snapshots": snapshots}})  # fmt: skip


def _snap(pid, step, values):
    return {"id": f"{pid}-t{step}", "values": values, "path": f"points/{pid}/snapshots/step-{step}",
            "lineage": {"point": pid, "step": step}}  # fmt: skip


def test_plan_stage_one_then_rounds_from_the_front(tmp_path):
    """The plan from hand-made fronts: stage 1 until its points are in; then round 1 (the extremes by crowding
    distance, per seed); round 2 only once round 1 is done, from the archive with its snapshots, skipping the
    vectors round 1 extended."""
    from conftest import tiny_sweep_dict

    from pareto_align.config import SweepConfig
    from pareto_align.front.schema import Front, Objective
    from pareto_align.methods import cmorl

    d = tiny_sweep_dict(tmp_path, seeds=[0, 1], weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]},
                        method={"name": "cmorl", "n_select": 2, "rounds": 2})  # fmt: skip
    config = SweepConfig.model_validate(d)
    front = Front(
        objectives=[Objective(name="helpful"), Objective(name="length")], reference_point=[0.0, -24.0]
    )
    stage1 = ["w00-s0", "w00-s1", "w01-s0", "w01-s1"]
    assert [j.id for j in cmorl.plan(config, front)] == stage1
    # seed 0: four snapshots on a line (crowding: inf, 1.5, 1.625, inf); seed 1: one snapshot each
    front.points = [
        _point("w00-s0", 0, 1, [_snap("w00-s0", 2, LINE[0]), _snap("w00-s0", 4, LINE[1])]),
        _point("w01-s0", 0, 1, [_snap("w01-s0", 2, LINE[2]), _snap("w01-s0", 4, LINE[3]),
                                _snap("w01-s0", 6, [0.5, 0.5])]),  # dominated: not in the archive
        _point("w00-s1", 1, 1, [_snap("w00-s1", 4, [1.0, 0.0])]),
    ]  # fmt: skip
    round1 = ["x1-w00-s0-t2-o0", "x1-w00-s0-t2-o1", "x1-w01-s0-t4-o0", "x1-w01-s0-t4-o1",
              "x1-w00-s1-t4-o0", "x1-w00-s1-t4-o1", "x1-w01-s1-t4-o0", "x1-w01-s1-t4-o1"]  # fmt: skip
    # each seed is its own C-MORL run: seed 0 extends while seed 1's stage 1 is unfinished
    assert [j.id for j in cmorl.plan(config, front)] == stage1 + round1[:4]
    front.points.append(_point("w01-s1", 1, 1, [_snap("w01-s1", 4, [0.0, 1.0])]))
    jobs = cmorl.plan(config, front)
    assert [j.id for j in jobs] == stage1 + round1
    x = jobs[4]
    assert (x.seed, x.weights) == (0, None)
    assert x.metadata == {"stage": 2, "round": 1, "extends": "w00-s0-t2", "objective": 0,
                          "objective_name": "helpful", "source_path": "points/w00-s0/snapshots/step-2",
                          "source_values": LINE[0], "source_lineage": {"point": "w00-s0", "step": 2}}  # fmt: skip
    # round 1 of seed 0 done (one extension found a new point); seed 1 half done
    for jid in round1[:4]:
        snaps = [_snap(jid, 2, [2.0, 2.0])] if jid.endswith("t4-o0") else []
        front.points.append(_point(jid, 0, 2, snaps))
    front.points.append(_point(round1[4], 1, 2, []))
    jobs = [j.id for j in cmorl.plan(config, front)]
    # seed 0's round-2 archive: LINE + (2, 2), which dominates nothing; the extremes were extended. Crowding by
    # hand: (1, 3.5): 2/4 + 2/4 = 1; (2, 2): 2/4 + 2.5/4 = 1.125; (3, 1): 2/4 + 2/4 = 1 (tie: archive order)
    archive, chosen, _ = cmorl.rounds(config, front, 0)[1]
    assert len(archive) == 5 and [e.id for e in chosen] == ["x1-w01-s0-t4-o0-t2", "w00-s0-t4"]
    round2 = ["x2-x1-w01-s0-t4-o0-t2-o0", "x2-x1-w01-s0-t4-o0-t2-o1", "x2-w00-s0-t4-o0", "x2-w00-s0-t4-o1"]
    assert jobs == stage1 + round1[:4] + round2 + round1[4:]  # by seed, then by round
    assert len(cmorl.rounds(config, front, 1)) == 1  # seed 1's round 1 is not finished


def test_refresh_every_rounds_of_whole_extensions_from_a_refreshed_selection(tmp_path):
    """With refresh_every = 3 extensions' updates, a round is the first 3 (entry, objective) pairs in selection
    order; the next round selects again from the archive with their snapshots, finishing a partly extended entry
    when it is still the emptiest, and never extending a pair twice."""
    from conftest import tiny_sweep_dict

    from pareto_align.config import SweepConfig
    from pareto_align.front.schema import Front, Objective
    from pareto_align.methods import cmorl

    method = {"name": "cmorl", "n_select": 2, "rounds": 3, "extension_steps": 4, "refresh_every": 13}
    d = tiny_sweep_dict(
        tmp_path, weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]}, method=method
    )
    config = SweepConfig.model_validate(d)
    assert config.method.jobs_per_round() == 3  # 13 // 4: whole extensions only
    front = Front(
        objectives=[Objective(name="helpful"), Objective(name="length")], reference_point=[0.0, -24.0]
    )
    front.points = [_point("w00-s0", 0, 1, [_snap("w00-s0", 2, LINE[0]), _snap("w00-s0", 4, LINE[1])]),
                    _point("w01-s0", 0, 1, [_snap("w01-s0", 2, LINE[2]), _snap("w01-s0", 4, LINE[3])])]  # fmt: skip
    round1 = ["x1-w00-s0-t2-o0", "x1-w00-s0-t2-o1", "x1-w01-s0-t4-o0"]  # the extremes (inf), 3 pairs
    assert [j.id for j in cmorl.plan(config, front)][2:] == round1
    for jid in round1:  # one extension finds (2, 2.2): crowding of the line changes
        front.points.append(_point(jid, 0, 2, [_snap(jid, 4, [2.0, 2.2])] if jid.endswith("t2-o1") else []))
    (_, chosen, jobs) = cmorl.rounds(config, front, 0)[1]
    # w01-s0-t4 (inf) keeps its last objective; then the largest crowding distance among the rest:
    # (1, 3.5): 2/4 + 1.8/4 = 0.95, (2, 2.2): 2/4 + 2.5/4 = 1.125, (3, 1): 2/4 + 2.2/4 = 1.05
    assert [e.id for e in chosen] == ["w01-s0-t4", "x1-w00-s0-t2-o1-t4"]
    round2 = ["x2-w01-s0-t4-o1", "x2-x1-w00-s0-t2-o1-t4-o0", "x2-x1-w00-s0-t2-o1-t4-o1"]
    assert [j.id for j in jobs] == round2 and {j.metadata["round"] for j in jobs} == {2}
    for jid in round2:
        front.points.append(_point(jid, 0, 2, []))
    state = cmorl.replay(config, front, 0)
    assert [len(r.jobs) for r in state.rounds] == [3, 3, 3]
    assert [j.id for j in state.rounds[2].jobs] == ["x3-w01-s0-t2-o0", "x3-w01-s0-t2-o1", "x3-w00-s0-t4-o0"]
    assert sum(len(r.jobs) for r in state.rounds) * 4 <= 3 * 13  # stage 2's updates: 3 rounds of at most R
    default = SweepConfig.model_validate({**d, "method": {**method, "refresh_every": None}})
    assert [len(r.jobs) for r in cmorl.replay(default, front, 0).rounds] == [
        4
    ]  # n_select x K, round 1 unfinished


def test_snapshots_dropped_from_the_archive_are_deleted(tmp_path):
    """After stage 1 and round 1: a dominated stage-1 snapshot and one an extension dominated are deleted; a
    dropped snapshot a finished extension started from, a point's own policy, the archive's entries, the sources of
    planned extensions and the snapshots of the unfinished round (not offered yet) stay."""
    from types import SimpleNamespace

    from conftest import tiny_sweep_dict

    from pareto_align.config import SweepConfig
    from pareto_align.front.schema import Front, Objective
    from pareto_align.methods import cmorl

    d = tiny_sweep_dict(tmp_path, weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]},
                        method={"name": "cmorl", "n_select": 2, "rounds": 2})  # fmt: skip
    config = SweepConfig.model_validate(d)
    front = Front(
        objectives=[Objective(name="helpful"), Objective(name="length")], reference_point=[0.0, -24.0]
    )
    final = {
        "id": "w01-s0-t6",
        "values": [0.5, 0.5],
        "path": "points/w01-s0/policy",
        "lineage": {},
    }  # dominated
    front.points = [
        _point("w00-s0", 0, 1, [_snap("w00-s0", 1, [0.5, 3.0]), _snap("w00-s0", 2, LINE[0]),
                                _snap("w00-s0", 4, LINE[1])]),
        _point("w01-s0", 0, 1, [_snap("w01-s0", 2, LINE[2]), _snap("w01-s0", 4, LINE[3]), final]),
        _point("x1-w00-s0-t2-o0", 0, 2, [_snap("x1-w00-s0-t2-o0", 2, [2.0, 3.6])]),  # drops (1, 3.5)
        _point("x1-w00-s0-t2-o1", 0, 2, []),
        _point("x1-w01-s0-t4-o0", 0, 2, []),
        _point("x1-w01-s0-t4-o1", 0, 2, [_snap("x1-w01-s0-t4-o1", 2, [4.5, 0.5])]),  # drops (4, 0), a source
        _point("x2-x1-w01-s0-t4-o1-t2-o0", 0, 2, [_snap("x2-x1-w01-s0-t4-o1-t2-o0", 2, [0.1, 0.1])]),
    ]  # fmt: skip
    paths = [e["path"] for p in front.points for e in p.metadata["cmorl"]["snapshots"]]
    for rel in paths:
        (tmp_path / rel).mkdir(parents=True)
    ws = SimpleNamespace(config=config, run_dir=tmp_path, tracker=SimpleNamespace(front=lambda: front))
    assert [j.id for j in cmorl.rounds(config, front, 0)[1][2]] == [
        "x2-x1-w01-s0-t4-o1-t2-o0", "x2-x1-w01-s0-t4-o1-t2-o1",
        "x2-x1-w00-s0-t2-o0-t2-o0", "x2-x1-w00-s0-t2-o0-t2-o1"]  # fmt: skip
    deleted = cmorl.prune_snapshots(ws, 0)
    assert sorted(deleted) == ["points/w00-s0/snapshots/step-1", "points/w00-s0/snapshots/step-4"]
    assert [rel for rel in paths if not (tmp_path / rel).exists()] == sorted(deleted)
    assert (
        cmorl.prune_snapshots(ws, 0) == []
    )  # nothing more to delete; stage 1 of seed 1 is not in this config


# ---------------------------------------------------------------------------------------------- runs
CMORL_GOLD = {"name": "cmorl", "reward_source": "gold", "history_every": 0, "snapshot_every": 2,
              "samples_per_prompt": 2, "n_select": 1, "rounds": 1, "extension_steps": 2, "checkpoint_every": 0,
              "trl": {"max_steps": 4, "max_completion_length": 12, "learning_rate": 1e-3}}  # fmt: skip
EVALUATION = {"samples_per_prompt": 2, "max_prompts": 8, "generation": {"max_new_tokens": 12}}


def _config(tmp_path, cache, method=CMORL_GOLD):
    import yaml
    from conftest import tiny_sweep_dict

    config = tiny_sweep_dict(cache, method=method, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _sweep(path, run_dir) -> int:
    from pareto_align import cli

    return cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"])


@pytest.fixture(scope="module")
def cmorl_run(tmp_path_factory, benchmark_cache):
    """Stage 1 (2 grid points, 4 steps, snapshots every 2) and one round extending one entry towards each
    objective (2 steps); records where each run started and every barrier batch."""
    from pareto_align.methods import _online, cmorl
    from pareto_align.trainers.dynamic_grpo import DynamicGRPOTrainer

    tmp = tmp_path_factory.mktemp("cmorl")
    starts, batches, applied = {}, [], []
    real_train, real_weights = _online.train, cmorl.Barrier.weights
    real_rewards = DynamicGRPOTrainer._calculate_rewards

    def train(ws, section, point_id, weights, seed, history=True, extension=None, start=None):
        starts[point_id] = start
        return real_train(ws, section, point_id, weights, seed, history, extension, start)

    def weights(self, rewards):
        out = real_weights(self, rewards)
        batches.append((self.objective, self.reference.copy(), rewards.double().numpy().copy(), out))
        return out

    def calculate_rewards(self, *args):
        out = real_rewards(self, *args)
        applied.append(self.reward_weights.tolist())
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_online, "train", train)
        mp.setattr(cmorl.Barrier, "weights", weights)
        mp.setattr(DynamicGRPOTrainer, "_calculate_rewards", calculate_rewards)
        assert _sweep(_config(tmp, benchmark_cache), tmp / "run") == 0
    return tmp / "run", starts, batches, applied


@pytest.mark.slow
def test_stage_one_snapshots_form_the_archive_and_selection(cmorl_run):
    import json

    from pareto_align.front import read_front
    from pareto_align.workspace import load_causal_lm

    run_dir, starts, _, _ = cmorl_run
    front = read_front(run_dir)
    ids = [p.id for p in front.points]
    assert ids[:2] == ["w00-s0", "w01-s0"] and len(ids) == 4
    entries = []
    for p in front.points[:2]:
        meta = p.metadata["cmorl"]
        assert meta["stage"] == 1 and [e["id"] for e in meta["snapshots"]] == [f"{p.id}-t2", f"{p.id}-t4"]
        assert meta["snapshots"][1]["path"] == p.policy.path  # the final entry is the point's policy
        snapshot = run_dir / meta["snapshots"][0]["path"]
        if snapshot.exists():  # else dropped from the archive (checked below)
            load_causal_lm(str(snapshot))  # a loadable snapshot
        (h,) = [h for h in front.history if h.point_id == p.id and h.training]  # the step-2 evaluation
        assert h.step == 2 and h.model_extra["reward_values"] == meta["snapshots"][0]["values"]
        assert p.compute.generated_tokens > meta["snapshot_evaluation_tokens"] > 0
        entries += [ArchiveEntry.from_json(e) for e in meta["snapshots"]]
    (chosen,) = select(Archive(200, entries), 1)  # the archive and selection rebuilt independently
    saved = json.loads((run_dir / "cmorl" / "archive-s0-r1.json").read_text())
    assert saved["selected"] == [chosen.id] and saved["round"] == 1
    assert ids[2:] == [f"x1-{chosen.id}-o0", f"x1-{chosen.id}-o1"]
    assert starts == {"w00-s0": None, "w01-s0": None, ids[2]: chosen.path, ids[3]: chosen.path}
    # on disk: the final archive's snapshots and the extensions' source; the others were deleted
    final = Archive(200, entries + [ArchiveEntry.from_json(e) for p in front.points[2:]
                                    for e in p.metadata["cmorl"]["snapshots"]])  # fmt: skip
    kept = {e.path for e in final.entries} | {chosen.path}
    for e in entries:
        assert (run_dir / e.path).exists() == (e.path in kept or e.path.endswith("/policy")), e.id


@pytest.mark.slow
def test_extensions_follow_the_barrier_and_carry_their_lineage(cmorl_run):
    from pareto_align.front import read_front

    run_dir, _, batches, applied = cmorl_run
    front = read_front(run_dir)
    lower, upper = np.array([0.0, -24.0]), np.array([6.0, 0.0])  # gold: reference point and the best values
    for objective, p in enumerate(front.points[2:]):
        meta = p.metadata["cmorl"]
        source = meta["extends"]
        assert (meta["stage"], meta["round"], meta["objective"], meta["extends_point"]) == (
            2, 1, objective, source.rsplit("-t", 1)[0])  # fmt: skip
        assert p.weights is None and p.compute.policy_updates == 2 and p.step == 2
        assert meta["bounds"] == {"lower": lower.tolist(), "upper": upper.tolist()}
        mine = [b for b in batches if b[0] == objective]
        assert len(mine) == meta["barrier_batches"] == 2  # one generation per step
        reference = normalize(meta["source_values"], lower, upper)
        binds = []
        for _, ref, rewards, out in mine:
            assert ref == pytest.approx(reference)  # frozen at selection
            G = normalize(rewards.mean(axis=0), lower, upper)  # the batch means, normalized
            w, b = barrier_weights(G, reference, objective, 0.9, 20.0)
            assert out == pytest.approx((w / (upper - lower)).tolist())  # the chain rule onto raw rewards
            binds.append(b)
        assert meta["clamp_binding"] == pytest.approx(np.mean(binds, axis=0).tolist())
        assert meta["final_weights"] == pytest.approx(mine[-1][3])
        assert len(meta["constraints_held"]) == 1
    barrier_outputs = [b[3] for b in batches]
    # what TRL scalarized the extensions' batches with (the last generations of the sweep; float32 there)
    assert np.asarray(applied[-len(barrier_outputs) :]) == pytest.approx(
        np.asarray(barrier_outputs), rel=1e-6
    )


@pytest.mark.slow
def test_killed_cmorl_resumes_without_redoing_finished_extensions(tmp_path, benchmark_cache, monkeypatch):
    from pareto_align.front import read_front
    from pareto_align.methods import _online, cmorl

    path, run_dir = _config(tmp_path, benchmark_cache), tmp_path / "run"
    real_weights, real_train = cmorl.Barrier.weights, _online.train

    def killed_in_objective_1(self, rewards):
        if self.objective == 1:
            raise KeyboardInterrupt
        return real_weights(self, rewards)

    monkeypatch.setattr(cmorl.Barrier, "weights", killed_in_objective_1)
    assert _sweep(path, run_dir) == 130
    before = read_front(run_dir)
    assert [p.id for p in before.points][:2] == ["w00-s0", "w01-s0"] and len(before.points) == 3
    monkeypatch.setattr(cmorl.Barrier, "weights", real_weights)
    trained = []

    def train(ws, section, point_id, *args, **kwargs):
        trained.append(point_id)
        return real_train(ws, section, point_id, *args, **kwargs)

    monkeypatch.setattr(_online, "train", train)
    assert _sweep(path, run_dir) == 0
    after = read_front(run_dir)
    assert trained == [f"{before.points[2].id[:-1]}1"]  # only the killed extension ran again
    assert [p.id for p in after.points] == [*(p.id for p in before.points), trained[0]]
    assert after.points[2].values == before.points[2].values
    assert _sweep(path, run_dir) == 0 and trained == trained[:1]  # finished: nothing left to do


@pytest.mark.slow
def test_killed_extension_resumes_mid_run_with_its_barrier_state(tmp_path, benchmark_cache, monkeypatch):
    """An extension killed after its step-2 checkpoint resumes from it: the steps before are not redone, and its
    barrier statistics and snapshots continue from the checkpoint's."""
    from pareto_align.front import read_front
    from pareto_align.methods import cmorl

    method = {**CMORL_GOLD, "extension_steps": 4, "checkpoint_every": 2}
    path, run_dir = _config(tmp_path, benchmark_cache, method), tmp_path / "run"
    real_weights = cmorl.Barrier.weights
    calls: list[int] = []

    def killed_at_step_3(self, rewards):
        if self.objective == 0:
            calls.append(self.batches)
            if len(calls) == 3:  # generating for step 3: the checkpoint of step 2 is on disk
                raise KeyboardInterrupt
        return real_weights(self, rewards)

    monkeypatch.setattr(cmorl.Barrier, "weights", killed_at_step_3)
    assert _sweep(path, run_dir) == 130
    (ckpt,) = run_dir.glob("points/x1-*-o0/checkpoints/checkpoint-2/pareto_align_state.json")
    calls.clear()

    def counted(self, rewards):
        if self.objective == 0:
            calls.append(self.batches)
        return real_weights(self, rewards)

    monkeypatch.setattr(cmorl.Barrier, "weights", counted)
    assert _sweep(path, run_dir) == 0
    assert calls == [2, 3]  # steps 3 and 4 only, counting on from the checkpoint's 2 batches
    point = next(p for p in read_front(run_dir).points if p.id.endswith("-o0"))
    meta = point.metadata["cmorl"]
    assert meta["barrier_batches"] == 4 and point.compute.policy_updates == 4
    assert [e["id"].rsplit("-t", 1)[1] for e in meta["snapshots"]] == ["2", "4"]  # step 2 kept from before
    assert not ckpt.parent.parent.exists()  # spent once the point is saved


@pytest.mark.parametrize(
    "method, overrides, message",
    [
        (
            {"extension_steps": 20, "refresh_every": 10},
            {},
            "method.refresh_every: 10 is less than one extension",
        ),
        (
            {"trl": {"multi_objective_aggregation": "normalize_then_sum"}},
            {},
            "method.trl.multi_objective_aggregation",
        ),
        ({"scalarization": {"kind": "tchebycheff", "ideal": [1, 0]}}, {}, "method.scalarization: cmorl"),
        ({"bounds": {"lower": [0.0], "upper": [1.0]}}, {}, "method.bounds.lower: expected 2"),
        ({"bounds": {"lower": [0, 0], "upper": [1, 0]}}, {}, "method.bounds: upper must exceed lower"),
        ({"beta": 1.5}, {}, "beta"),
    ],
)
def test_config_mistakes_name_the_field(tmp_path, method, overrides, message):
    import yaml
    from conftest import tiny_sweep_dict

    from pareto_align.config import load_config
    from pareto_align.errors import ConfigError

    config = tiny_sweep_dict(tmp_path, method={"name": "cmorl", **method}, **overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.slow
def test_the_explorer_shows_the_lineage(cmorl_run, monkeypatch):
    import sys
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from pareto_align.explorer.runs import load_runs
    from pareto_align.explorer.view import build_view
    from pareto_align.front import read_front

    run_dir = cmorl_run[0]
    front = read_front(run_dir)
    table = build_view(load_runs([run_dir])).lineage()
    assert table["id"].tolist() == [p.id for p in front.points]
    assert table["stage"].tolist() == [1, 1, 2, 2] and table["objective"].tolist()[2:] == [
        "helpful",
        "length",
    ]
    source = front.points[2].metadata["cmorl"]
    assert table["extends"].tolist()[2:] == [source["extends_point"]] * 2
    assert table["from step"].tolist()[2] == int(source["extends"].rsplit("-t", 1)[1])
    assert table["constraints held"].tolist()[2:] == [
        f"{sum(p.metadata['cmorl']['constraints_held'])} of 1" for p in front.points[2:]
    ]
    app = Path(__file__).resolve().parents[1] / "apps" / "explorer.py"
    monkeypatch.setattr(sys, "argv", [str(app), str(run_dir)])
    at = AppTest.from_file(str(app), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("C-MORL lineage" in e.label for e in at.expander)


@pytest.mark.slow
def test_cmorl_par_on_the_reward_model_with_rloo_and_lora(tmp_path, benchmark_cache):
    """reward_source reward_model + PAR + RLOO + LoRA: the barrier sees PAR-shaped then raw rewards (2K columns,
    shaped = sigmoid(raw - r_ref) with one reference per prompt group) and steers on the raw ones, its weights
    (normalized coefficients on the shaped columns, 0 on the raw) are what RLOO scalarized with; snapshots are
    LoRA adapters, and an extension continues training its snapshot's adapter."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from pareto_align.front import read_front
    from pareto_align.methods import _online, cmorl
    from pareto_align.trainers.dynamic_rloo import DynamicRLOOTrainer

    method = {"name": "cmorl", "trainer": "rloo", "reward_source": "reward_model", "par": True, "history_every": 0,
              "snapshot_every": 1, "samples_per_prompt": 1, "n_select": 1, "rounds": 1, "extension_steps": 2,
              "checkpoint_every": 0, "trl": {"max_steps": 2, "max_completion_length": 8, "num_generations": 4,
                                             "per_device_train_batch_size": 8, "learning_rate": 1e-2}}  # fmt: skip
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    config = _config(tmp_path, benchmark_cache, method)
    import yaml

    data = yaml.safe_load(config.read_text())
    data["policy"] = {"lora": lora}
    data["evaluation"] = {"samples_per_prompt": 1, "max_prompts": 4, "generation": {"max_new_tokens": 8}}
    config.write_text(yaml.safe_dump(data))
    batches, applied, started = [], [], {}
    real_weights, real_rewards, real_start = cmorl.Barrier.weights, DynamicRLOOTrainer._calculate_rewards, _online.start_policy  # fmt: skip

    def weights(self, rewards):
        out = real_weights(self, rewards)
        batches.append((self, rewards.double().numpy().copy(), out))
        return out

    def calculate_rewards(self, *args):
        out = real_rewards(self, *args)
        applied.append(self.reward_weights.tolist())
        return out

    def start_policy(ws, start):
        model, tokenizer, peft_config = real_start(ws, start)
        if start is not None:
            started[start] = {k: v.clone() for k, v in get_peft_model_state_dict(model).items()}
        return model, tokenizer, peft_config

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cmorl.Barrier, "weights", weights)
        mp.setattr(DynamicRLOOTrainer, "_calculate_rewards", calculate_rewards)
        mp.setattr(_online, "start_policy", start_policy)
        assert _sweep(config, tmp_path / "run") == 0
    run_dir = tmp_path / "run"
    front = read_front(run_dir)
    assert len(front.points) == 4 and len(batches) == 4 and len(applied) >= 4  # 2 extensions x 2 steps
    for barrier, rewards, out in batches:
        shaped, raw = rewards[:, :2], rewards[:, 2:]  # (N, 2) each
        assert np.all((shaped > 0) & (shaped < 1))
        ref = (raw - np.log(shaped / (1 - shaped))).reshape(-1, 4, 2)  # r_ref: one per prompt group of 4
        assert np.allclose(ref, ref[:, :1], atol=1e-3)
        G = normalize(raw.mean(axis=0), barrier.lower, barrier.upper)
        w, _ = barrier_weights(G, barrier.reference, barrier.objective, 0.9, 20.0)
        assert out == pytest.approx([*w.tolist(), 0.0, 0.0])
    assert np.asarray(applied[-4:]) == pytest.approx(np.asarray([b[2] for b in batches]), rel=1e-6)
    for p in front.points[2:]:
        meta = p.metadata["cmorl"]
        source = next(
            e for q in front.points for e in q.metadata["cmorl"]["snapshots"] if e["id"] == meta["extends"]
        )
        assert p.metadata["trainer"] == "rloo" and p.metadata["reward_source"] == "reward_model"
        saved = load_file(run_dir / source["path"] / "adapter_model.safetensors")
        start = started[source["path"]]
        assert start.keys() == saved.keys() and all(torch.equal(start[k], saved[k]) for k in saved)
        final = load_file(run_dir / p.policy.path / "adapter_model.safetensors")
        assert any(not torch.equal(final[k], saved[k]) for k in saved)  # the adapter trained on
    on_disk = [run_dir / e["path"] for q in front.points for e in q.metadata["cmorl"]["snapshots"]
               if (run_dir / e["path"]).exists()]  # fmt: skip
    assert len(on_disk) >= 3 and all((path / "adapter_config.json").is_file() for path in on_disk)
