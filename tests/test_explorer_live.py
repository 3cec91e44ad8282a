"""Live generation: which policies the explorer offers at a preference, and loading/sampling them for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pareto_align.explorer.demo import CHECKPOINT, demo_front, write_demo_run, write_tiny_checkpoint
from pareto_align.explorer.live import (
    LiveGenerationError,
    generate_responses,
    live_sources,
    load_live_policy,
    missing_checkpoints,
    policy_cache_key,
)
from pareto_align.explorer.simplex import unit_direction
from pareto_align.front.schema import Front, Objective, Point, PolicyHandle, write_front
from pareto_align.models.generation import GenerationSettings


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    return write_demo_run(tmp_path_factory.mktemp("live") / "run", objectives=("a", "b", "c"))


def _by_kind(sources):
    return {s.kind: s for s in sources}


def test_sources_at_exactly_the_slider_preference(demo_run: Path):
    front = demo_front(("a", "b", "c"))
    point = front.points[0]
    w = [0.17, 0.5, 0.33]
    sources, reasons = live_sources(front.points, point, demo_run, w)
    kinds = _by_kind(sources)
    assert set(kinds) == {"stored", "soup", "conditioned"}
    assert reasons == ["no decoding-time mixture at the slider weights: the run has no MOD points"]
    assert kinds["stored"].handle == PolicyHandle(kind="checkpoint", path=CHECKPOINT)
    assert kinds["soup"].handle.coefficients == w  # exactly the slider weights
    assert kinds["soup"].handle.checkpoints == [CHECKPOINT] * 3
    assert kinds["soup"].note == ""  # the demo soup's coefficients are its weights: mapping confirmed
    # the demo run writes unit directions, so the slider preference is written as one
    np.testing.assert_allclose(kinds["conditioned"].handle.direction, unit_direction(w))


def _point(pid, policy, values=(1.0, 0.0), weights=None):
    return Point(
        id=pid,
        method="m",
        values=list(values),
        stderr=[0.0, 0.0],
        n_samples=1,
        policy=policy,
        weights=weights,
    )


def test_sources_explain_what_is_missing(tmp_path: Path):
    plain = _point("p", PolicyHandle(kind="checkpoint", path="c"))
    sources, reasons = live_sources([plain], plain, tmp_path, [0.5, 0.5])
    assert [s.kind for s in sources] == ["stored"]
    assert any("no soup points" in r for r in reasons) and any("no conditioned points" in r for r in reasons)
    # a soup of three checkpoints cannot take two slider weights
    soup3 = _point("s", PolicyHandle(kind="soup", checkpoints=["x", "y", "z"], coefficients=[0.2, 0.3, 0.5]))
    bare = _point("q", None)
    sources, reasons = live_sources([soup3, bare], bare, tmp_path, [0.5, 0.5])
    assert sources == [] and any("mix 3 checkpoints, not one per objective (2)" in r for r in reasons)
    assert any("records no policy handle" in r for r in reasons)
    # a soup whose coefficients differ from its weights: used, with the assumption stated
    soup2 = _point(
        "s2", PolicyHandle(kind="soup", checkpoints=["x", "y"], coefficients=[0.5, 0.5]), weights=[0.3, 0.7]
    )
    sources, _ = live_sources([soup2], soup2, tmp_path, [0.9, 0.1])
    soup = _by_kind(sources)["soup"]
    assert soup.handle.coefficients == [0.9, 0.1] and "assumes" in soup.note


def test_cache_key_is_typed_hashable_and_canonical():
    a = policy_cache_key(
        Path("/r"), {"kind": "soup", "checkpoints": ["x", "y"], "coefficients": [0.25, 0.75]}
    )
    b = policy_cache_key(
        Path("/r/."), PolicyHandle(coefficients=[0.25, 0.75], checkpoints=["x", "y"], kind="soup")
    )
    c = policy_cache_key(
        Path("/r"), {"kind": "soup", "checkpoints": ["x", "y"], "coefficients": [0.26, 0.74]}
    )
    near = 0.75 + 1e-15  # floats kept exactly: a key never stands for a neighbouring policy
    d = policy_cache_key(
        Path("/r"), {"kind": "soup", "checkpoints": ["x", "y"], "coefficients": [1 - near, near]}
    )
    e = policy_cache_key(Path("/elsewhere"), a.handle)
    assert a == b and hash(a) == hash(b) and len({a, b, c, d, e}) == 4
    assert isinstance(a.handle, PolicyHandle) and a.handle.coefficients == [0.25, 0.75]
    # condition dicts written in another order are the same policy
    cond = {"kind": "desired_scores", "low": [0.0, 0.0], "high": [1.0, 1.0]}
    handle = {
        "kind": "conditioned",
        "path": "p",
        "direction": [0.5, 0.5],
        "template": "{prompt} {c[0]} {c[1]}",
    }
    f = policy_cache_key(Path("/r"), {**handle, "condition": cond})
    g = policy_cache_key(Path("/r"), {**handle, "condition": dict(reversed(cond.items()))})
    assert f == g and hash(f) == hash(g)
    with pytest.raises(LiveGenerationError, match="policy handle: coefficients must sum to 1"):
        policy_cache_key(Path("/r"), {"kind": "soup", "checkpoints": ["x", "y"], "coefficients": [0.5, 0.6]})


def test_missing_checkpoints(demo_run: Path, tmp_path: Path):
    assert missing_checkpoints(demo_run, {"kind": "checkpoint", "path": CHECKPOINT}) == []
    assert missing_checkpoints(demo_run, {"kind": "checkpoint", "path": "gone"}) == ["gone"]
    assert missing_checkpoints(demo_run, {"kind": "checkpoint", "path": "../../etc"}) == ["../../etc"]
    handle = {"kind": "soup", "checkpoints": [CHECKPOINT, "gone"], "coefficients": [0.5, 0.5]}
    assert missing_checkpoints(demo_run, handle) == ["gone"]
    with pytest.raises(LiveGenerationError, match="checkpoint gone is gone"):
        load_live_policy(policy_cache_key(demo_run, {"kind": "checkpoint", "path": "gone"}))


def test_soup_at_slider_weights_is_the_weight_interpolation(tmp_path: Path):
    run = tmp_path / "soup_run"
    write_tiny_checkpoint(run / "ck0", seed=0)
    write_tiny_checkpoint(run / "ck1", seed=1)
    soup = _point(
        "s",
        PolicyHandle(kind="soup", checkpoints=["ck0", "ck1"], coefficients=[0.5, 0.5]),
        weights=[0.5, 0.5],
    )
    write_front(
        Front(objectives=[Objective(name="a"), Objective(name="b")], reference_point=[0, 0], points=[soup]),
        run,
    )
    w = [0.3, 0.7]
    (source,) = [s for s in live_sources([soup], soup, run, w)[0] if s.kind == "soup"]
    policy = load_live_policy(policy_cache_key(run, source.handle))
    p0 = load_live_policy(policy_cache_key(run, {"kind": "checkpoint", "path": "ck0"})).model.state_dict()
    p1 = load_live_policy(policy_cache_key(run, {"kind": "checkpoint", "path": "ck1"})).model.state_dict()
    name = "model.layers.0.mlp.up_proj.weight"
    assert not torch.allclose(p0[name], p1[name])
    torch.testing.assert_close(policy.model.state_dict()[name], 0.3 * p0[name] + 0.7 * p1[name])


def test_generate_from_conditioned_and_checkpoint(demo_run: Path):
    front = demo_front(("a", "b", "c"))
    sources = _by_kind(live_sources(front.points, front.points[0], demo_run, [0.2, 0.3, 0.5])[0])
    conditioned = load_live_policy(policy_cache_key(demo_run, sources["conditioned"].handle))
    d = unit_direction([0.2, 0.3, 0.5])
    assert conditioned.format_prompt("hi") == "<pref> " + " ".join(f"{x:.2f}" for x in d) + " </pref> hi"
    plain = load_live_policy(policy_cache_key(demo_run, sources["stored"].handle))
    settings = GenerationSettings(max_new_tokens=5)
    first = generate_responses(plain, "tell me about the garden", 3, settings, seed=7)
    assert len(first) == 3 and all(isinstance(r, str) for r in first)
    assert generate_responses(plain, "tell me about the garden", 3, settings, seed=7) == first
    with pytest.raises(LiveGenerationError, match="type a prompt"):
        generate_responses(plain, "   ", 1, settings)


def test_corrupt_checkpoint_is_a_message(tmp_path: Path, demo_run: Path):
    run = tmp_path / "corrupt"
    shutil.copytree(demo_run, run)
    (run / CHECKPOINT / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LiveGenerationError, match=f"{run}: cannot load checkpoint {CHECKPOINT}"):
        load_live_policy(policy_cache_key(run, {"kind": "checkpoint", "path": CHECKPOINT}))


def test_mod_mixture_at_the_slider_weights_and_soups_remixed_in_memory(demo_run: Path):
    from pareto_align.models.policy import load_policy

    front = demo_front(("a", "b", "c"))
    mod = Point(id="mod", method="mod", weights=[1 / 3] * 3, values=[0.5] * 3, stderr=[0.0] * 3, n_samples=1,
                policy=PolicyHandle(kind="mixture", checkpoints=[CHECKPOINT] * 3, weights=[1 / 3] * 3))  # fmt: skip
    w = [0.2, 0.3, 0.5]
    sources, _ = live_sources([*front.points, mod], front.points[0], demo_run, w)
    mixture = _by_kind(sources)["mixture"]
    assert mixture.handle == PolicyHandle(kind="mixture", checkpoints=[CHECKPOINT] * 3, weights=w)
    policy = load_live_policy(policy_cache_key(demo_run, mixture.handle))
    assert len(generate_responses(policy, "a b", n=2, settings=GenerationSettings(max_new_tokens=4))) == 2
    # a soup at new slider weights re-mixes the held specialists: the same weights as a fresh load
    soup = _by_kind(sources)["soup"].handle
    remixed = load_live_policy(policy_cache_key(demo_run, soup)).model.state_dict()
    fresh = load_policy(soup, demo_run).model.state_dict()
    for key, value in fresh.items():
        torch.testing.assert_close(remixed[key], value)


def test_linear_connectivity_rows_for_mixed_points():
    from pareto_align.explorer.view import linear_connectivity

    p = _point(
        "s", PolicyHandle(kind="soup", checkpoints=["a", "b"], coefficients=[0.5, 0.5]), values=(1.0, 2.0)
    )
    assert linear_connectivity(p, ["x", "y"]) is None  # no line recorded
    p.metadata["linear_interpolation"] = [0.5, 2.5]
    rows = linear_connectivity(p, ["x", "y"])
    assert rows[2] == {"": "gain over the line", "x": 0.5, "y": -0.5}
    assert rows[1]["x"] == 0.5 and rows[0]["y"] == 2.0
