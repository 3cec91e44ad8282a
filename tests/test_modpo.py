"""MODPO: the pure loss against hand values, the trainer against TRL's DPO and against the pure loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from pareto_align.methods import modpo as modpo_method
from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.modpo_trainer import (
    MODPOTrainer,
    choose_trained_objective,
    margin_rewards,
    modpo_loss,
)

WORDS = ["write", "about", "cats", "dogs", ":", "the", "a", "good", "bad", "long", "short", "very"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_word_tokenizer([" ".join(WORDS)])
    model = build_tiny_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    rng = np.random.default_rng(0)
    rows = {"prompt": [], "chosen": [], "rejected": []}
    for _ in range(16):
        rows["prompt"].append(f"write about {rng.choice(['cats', 'dogs'])} :")
        rows["chosen"].append(" " + " ".join(rng.choice(WORDS[5:], size=rng.integers(1, 5))))
        rows["rejected"].append(" " + " ".join(rng.choice(WORDS[5:], size=rng.integers(1, 5))))
    return tok, model, Dataset.from_dict(rows), tmp_path_factory.mktemp("modpo")


def _args(cls, out, **kw):
    return cls(
        output_dir=str(out), use_cpu=True, bf16=False, report_to="none", per_device_train_batch_size=8,
        precompute_ref_log_probs=True, beta=0.1, max_length=32, disable_tqdm=True, **kw,
    )  # fmt: skip


def _first_batch(trainer):
    return next(iter(trainer.get_train_dataloader()))


def test_modpo_loss_hand_value():
    one = torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-4.0]), torch.tensor([-4.5])
    # delta = (-3 + 4) - (-5 + 4.5) = 1.5; (beta*delta - m) / w_k = (0.15 - 0.3) / 0.5 = -0.3
    got = modpo_loss(*one, margin=torch.tensor([0.3]), beta=0.1, w_k=0.5)
    assert got.item() == pytest.approx(-math.log(1 / (1 + math.exp(0.3))), rel=1e-6)
    with pytest.raises(ValueError, match="w_k"):
        modpo_loss(*one, margin=torch.tensor([0.0]), beta=0.1, w_k=0.0)


def test_margin_rewards_excludes_trained_objective():
    diffs = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 4.0]])
    np.testing.assert_allclose(
        margin_rewards(diffs, np.array([0.2, 0.3, 0.5]), k=0), [0.3 * 2 - 0.5, 0.5 * 4]
    )
    np.testing.assert_allclose(margin_rewards(diffs, np.array([0.2, 0.3, 0.5]), k=2), [0.2 + 0.6, 0.1])


def test_choose_trained_objective():
    assert choose_trained_objective([0.2, 0.5, 0.3]) == 1
    assert choose_trained_objective([0.5, 0.5, 0.0]) == 0  # ties: first
    assert choose_trained_objective([0.0, 0.4, 0.6], preferred=0) == 2  # zero weight falls back
    assert choose_trained_objective([0.1, 0.4, 0.5], preferred=0) == 0


def test_config_rejects_zero_trained_weight_and_bad_weights(tmp_path):
    with pytest.raises(ValueError, match=r"weights\[1\] must be > 0"):
        MODPOConfig(output_dir=str(tmp_path), use_cpu=True, weights=[1.0, 0.0], trained_objective=1)
    with pytest.raises(ValueError, match="sum to 1"):
        MODPOConfig(output_dir=str(tmp_path), use_cpu=True, weights=[0.7, 0.7], trained_objective=0)


def test_method_config_rejects_unknown_trl_field():
    with pytest.raises(
        ValueError, match=r"trl\.lerning_rate: unknown DPOConfig field \(did you mean 'learning_rate'"
    ):
        modpo_method.Config(trl={"lerning_rate": 1e-4})


def test_k1_without_margin_equals_trl_dpo(tiny):
    tok, model, ds, out = tiny
    dpo = DPOTrainer(model=model, args=_args(DPOConfig, out / "dpo"), train_dataset=ds, processing_class=tok)
    modpo = MODPOTrainer(
        model=model,
        args=_args(MODPOConfig, out / "modpo", weights=[1.0], trained_objective=0),
        train_dataset=ds.add_column("margin", [0.0] * len(ds)),
        processing_class=tok,
    )
    torch.manual_seed(0)
    b_dpo, b_modpo = _first_batch(dpo), _first_batch(modpo)
    assert torch.equal(b_dpo["input_ids"], b_modpo["input_ids"])
    with torch.no_grad():
        loss_dpo = dpo.compute_loss(dpo.model, b_dpo)
        loss_modpo = modpo.compute_loss(modpo.model, b_modpo)
    assert loss_modpo.item() == pytest.approx(loss_dpo.item(), rel=1e-6, abs=1e-7)


def _sequence_logps(model, batch):
    """Independent log pi(y|x) summed over completion tokens, (2B,) as [chosen; rejected]."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["input_ids"][:, 1:]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (2B, T-1)
    return (logp * batch["completion_mask"][:, 1:]).sum(1)


def test_trainer_loss_equals_pure_modpo_loss_with_margins(tiny):
    tok, model, ds, out = tiny
    # perturb the policy so that pi != pi_ref, then compare the trainer's loss with the pure function
    policy = build_tiny_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    ref_logps_model = build_tiny_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    margins = np.linspace(-1.0, 1.5, len(ds))
    trainer = MODPOTrainer(
        model=policy,
        args=_args(MODPOConfig, out / "modpo_m", weights=[0.3, 0.5, 0.2], trained_objective=1),
        train_dataset=ds.add_column("margin", margins.tolist()),
        processing_class=tok,
    )
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = _first_batch(trainer)
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, batch).item()
    pol_c, pol_r = _sequence_logps(policy, batch).chunk(2)
    ref_c, ref_r = _sequence_logps(ref_logps_model, batch).chunk(2)
    torch.testing.assert_close(ref_c, batch["ref_chosen_logps"].float(), rtol=1e-4, atol=1e-4)
    want = modpo_loss(pol_c, pol_r, ref_c, ref_r, batch["margin"], beta=0.1, w_k=0.5).mean().item()
    assert got == pytest.approx(want, rel=1e-4)
    assert trainer.beta == pytest.approx(0.1 / 0.5)
