"""A policy's implicit reward as MODPO margin: TRL's log-probs against a hand-written forward pass, and the config."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from conftest import tiny_sweep_dict
from transformers import AutoModelForCausalLM, AutoTokenizer

from pareto_align.config import ConfigError, parse_config
from pareto_align.trainers.implicit_reward import implicit_reward_diffs, sequence_logps
from pareto_align.trainers.modpo_config import MODPOConfig

PAIRS = {
    "prompt": ["a b", "c", "d e f"],
    "chosen": [" c d", " e", " g"],
    "rejected": [" e", " f g h", " h a"],
}


def _manual_logp(model, tok, prompt: str, completion: str) -> float:
    """Sum of log pi(token) over the completion and its EOS, by one plain forward pass of the unpadded sequence.
    (A TRL config left at bf16 autocast on CPU differs from it by up to 0.4%: hence bf16=False, as the sweep sets.)"""
    prompt_ids = tok(prompt)["input_ids"]
    full = tok(prompt + completion + tok.eos_token)["input_ids"]
    assert full[: len(prompt_ids)] == prompt_ids
    with torch.no_grad():
        logits = model(torch.tensor([full])).logits[0]  # (T, V)
    logp = torch.log_softmax(logits.double(), dim=-1)
    return float(sum(logp[t - 1, full[t]] for t in range(len(prompt_ids), len(full))))


def test_implicit_reward_matches_a_hand_written_forward_pass(tiny_policy_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    reference = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    policy = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    with torch.no_grad():  # a different policy: its log-ratio against the reference is not zero
        for p in policy.parameters():
            p.add_(0.5 * torch.randn_like(p, generator=torch.Generator().manual_seed(1)))
    pairs = datasets.Dataset.from_dict(PAIRS)
    args = MODPOConfig(output_dir=str(tmp_path), weights=[1.0], report_to="none", per_device_train_batch_size=1,
                       max_length=64, use_cpu=True, bf16=False)  # fmt: skip
    ref_logps = sequence_logps(reference, tok, pairs, args)
    pol_logps = sequence_logps(policy, tok, pairs, args)
    for i in range(len(pairs)):
        expected_ref = [
            _manual_logp(reference, tok, PAIRS["prompt"][i], PAIRS[c][i]) for c in ("chosen", "rejected")
        ]
        expected_pol = [
            _manual_logp(policy, tok, PAIRS["prompt"][i], PAIRS[c][i]) for c in ("chosen", "rejected")
        ]
        np.testing.assert_allclose([ref_logps[0][i], ref_logps[1][i]], expected_ref, rtol=1e-5)
        np.testing.assert_allclose([pol_logps[0][i], pol_logps[1][i]], expected_pol, rtol=1e-5)
        diff = implicit_reward_diffs(pol_logps, ref_logps, beta=0.5)[i]
        expected = 0.5 * ((expected_pol[0] - expected_ref[0]) - (expected_pol[1] - expected_ref[1]))
        assert diff == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert np.abs(implicit_reward_diffs(pol_logps, ref_logps, 0.5)).max() > 0.1
    np.testing.assert_allclose(implicit_reward_diffs(ref_logps, ref_logps, 0.5), 0.0)


@pytest.mark.parametrize(
    ("method", "fragment"),
    [
        (
            {"margin_source": "implicit_reward"},
            "weight vector [0.3, 0.7] trains on 'length' with margins from ['helpful']",
        ),
        (
            {"margin_source": "implicit_reward", "margin_policies": {"honest": "x"}},
            "unknown objective(s) ['honest']",
        ),
        ({"margin_policies": {"helpful": "x"}}, "only used with margin_source 'implicit_reward'"),
    ],
)
def test_margin_policies_are_checked(tmp_path, method, fragment):
    config = tiny_sweep_dict(tmp_path)
    config["method"] = {**config["method"], **method}
    with pytest.raises(ConfigError, match=None) as info:
        parse_config(config, "c.yaml")
    assert fragment in str(info.value) and "method.margin_policies" in str(info.value)
    config["method"] = {"margin_source": "implicit_reward", "margin_policies": {"helpful": "some/model"}}
    assert parse_config(config, "c.yaml").method.margin_policies == {
        "helpful": "some/model"
    }  # never loaded here
