"""A base policy named by hub name (a local folder stands in: from_pretrained accepts both) gets a handle that
load_policy rebuilds, and handles written before the `hub` field still read."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from pareto_align.explorer.live import missing_checkpoints
from pareto_align.front.schema import PolicyHandle
from pareto_align.models.policy import PolicyLoadError, load_policy


def test_hub_handle_is_rebuilt_by_name(tiny_policy_dir, tmp_path):
    handle = {"kind": "checkpoint", "path": tiny_policy_dir, "hub": True, "revision": "main"}
    assert PolicyHandle.model_validate(handle).model_dump(exclude_none=True) == handle
    run_dir = tmp_path / "run"  # the model lives outside it
    run_dir.mkdir()
    policy = load_policy(handle, run_dir)
    reference = load_policy({"kind": "checkpoint", "path": "."}, tiny_policy_dir).model.state_dict()
    assert all(torch.equal(policy.model.state_dict()[k], v) for k, v in reference.items())
    assert policy.tokenizer.padding_side == "left"
    assert (
        missing_checkpoints(run_dir, handle) == []
    )  # not a path in the run: the explorer does not look for it
    assert len(policy.generate(["a b"]).responses) == 1


def test_unknown_hub_model_is_a_policy_load_error(tmp_path):
    with pytest.raises(PolicyLoadError, match="'no-such-org/no-such-model'"):
        load_policy({"kind": "checkpoint", "path": "no-such-org/no-such-model", "hub": True}, tmp_path)


def test_old_handles_read_and_revision_needs_hub():
    old = {"kind": "checkpoint", "path": "points/p0/policy"}  # as front.json files before `hub` wrote it
    assert PolicyHandle.model_validate(old).model_dump(exclude_none=True) == old
    with pytest.raises(ValidationError, match="'revision' needs 'hub': true"):
        PolicyHandle.model_validate({**old, "revision": "v1"})
    with pytest.raises(ValidationError, match="'hub' is not used by policy kind 'soup'"):
        PolicyHandle.model_validate(
            {"kind": "soup", "checkpoints": ["a"], "coefficients": [1.0], "hub": True}
        )
