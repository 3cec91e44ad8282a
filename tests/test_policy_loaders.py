"""`load_policy` is a table of loaders, one per kind of the front schema's `PolicyHandle`: every kind has one, a
plain handle is validated once into the typed model, and what cannot be loaded is one `PolicyLoadError` line."""

from __future__ import annotations

from typing import get_args

import pytest

from pareto_align.front.schema import PolicyHandle
from pareto_align.models.policy import POLICY_LOADERS, PolicyLoadError, load_policy


def test_every_kind_of_the_schema_has_a_loader():
    kinds = get_args(PolicyHandle.model_fields["kind"].annotation)
    assert len(kinds) == 5 and set(kinds) == set(POLICY_LOADERS)


@pytest.mark.parametrize("typed", [False, True])
def test_load_policy_hands_the_loader_of_its_kind_the_typed_handle(tmp_path, monkeypatch, typed):
    calls = []

    def loader(handle, run_dir, device, dtype):
        calls.append((handle, run_dir, device, dtype))
        return "soup policy"

    monkeypatch.setitem(POLICY_LOADERS, "soup", loader)
    handle = {"kind": "soup", "checkpoints": ["a", "b"], "coefficients": [1, 0], "prompt_format": "chat"}
    given = PolicyHandle.model_validate(handle) if typed else handle
    assert load_policy(given, tmp_path, device="cpu", dtype="bfloat16") == "soup policy"
    ((got, run_dir, device, dtype),) = calls
    assert isinstance(got, PolicyHandle) and got.coefficients == [1.0, 0.0] and got.prompt_format == "chat"
    assert (run_dir, device, dtype) == (tmp_path, "cpu", "bfloat16")
    calls.clear()
    load_policy(given, tmp_path)  # dtype None: the run's (no config.yaml: "auto")
    assert calls[0][3] == "auto"


def test_what_cannot_be_loaded_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(PolicyLoadError) as err:
        load_policy({"kind": "lora_soup", "checkpoints": ["a"]}, tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: unknown policy handle kind 'lora_soup' "
        "(expected checkpoint, soup, conditioned, best_of_n or mixture)"
    )
    with pytest.raises(PolicyLoadError) as err:
        load_policy({"kind": "soup", "checkpoints": ["a"], "coefficients": [1.0], "hub": True}, tmp_path)
    assert str(err.value) == f"{tmp_path}: policy handle: 'hub' is not used by policy kind 'soup'; remove it"
    # a kind the schema knows but the table does not (a new kind without its loader) is refused, not a KeyError
    monkeypatch.delitem(POLICY_LOADERS, "mixture")
    with pytest.raises(PolicyLoadError, match="unknown policy handle kind 'mixture'"):
        load_policy(PolicyHandle(kind="mixture", checkpoints=["a"], weights=[1.0]), tmp_path)
