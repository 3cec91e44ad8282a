"""MODPO: the pure loss against hand values, the trainer against TRL's DPO and against the pure loss; the pairs
prepared once per objective (tokens, reference log-probs) against TRL's own, and shared by a sweep's points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_sweep_dict
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from pareto_align.config import SweepConfig
from pareto_align.methods import modpo as modpo_method
from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
from pareto_align.sweep import run_sweep
from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.modpo_trainer import (
    PAIR_INDEX,
    MODPOTrainer,
    choose_trained_objective,
    margin_rewards,
    modpo_loss,
    prepare_pairs,
    reference_logps,
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


def test_collator_settings_and_prepared_columns_by_hand(tiny):
    """What mutation testing found unchecked: the collator's settings (also from a processor's tokenizer), the
    margin column, which data counts as prepared, and the reference columns written back."""
    from dataclasses import dataclass
    from types import SimpleNamespace

    from pareto_align.trainers.modpo_trainer import (
        REFERENCE,
        TOKENIZED,
        DataCollatorWithMargin,
        has_columns,
        preference_collator,
        with_reference_logps,
    )

    args = SimpleNamespace(max_length=5, truncation_mode="keep_end", pad_to_multiple_of=8)
    tokenizer = SimpleNamespace(pad_token_id=3)
    for processing_class in (tokenizer, SimpleNamespace(tokenizer=tokenizer)):
        collator = preference_collator(DataCollatorWithMargin, args, processing_class)
        settings = (
            collator.pad_token_id,
            collator.max_length,
            collator.truncation_mode,
            collator.pad_to_multiple_of,
        )
        assert settings == (3, 5, "keep_end", 8)
    rows = [{"prompt_ids": [1, 2], "chosen_ids": [4], "rejected_ids": [5, 6], "margin": 0.25},
            {"prompt_ids": [7], "chosen_ids": [8], "rejected_ids": [9], "margin": -1}]  # fmt: skip
    margin = collator(rows)["margin"]

    @dataclass
    class WithField(DataCollatorWithMargin):  # a subclass's own fields are passed on
        field: int = 0

    assert preference_collator(WithField, args, tokenizer, field=2).field == 2
    # a collator given is kept; args of another kind are refused in one line
    tok, model, ds, out = tiny
    trainer = MODPOTrainer(model=model, args=_args(MODPOConfig, out / "own", weights=[1.0], trained_objective=0),
                           train_dataset=ds.add_column("margin", [0.0] * len(ds)), processing_class=tok,
                           data_collator=collator)  # fmt: skip
    assert trainer.data_collator is collator
    with pytest.raises(TypeError) as err:
        MODPOTrainer(model=model, args=SimpleNamespace())
    assert str(err.value) == "MODPOTrainer needs args=MODPOConfig(...), got SimpleNamespace"
    assert margin.tolist() == [0.25, -1.0] and margin.dtype == torch.float32
    full = Dataset.from_dict({c: [[1]] for c in TOKENIZED})
    assert has_columns(full, TOKENIZED) and not has_columns(full.remove_columns("chosen_ids"), TOKENIZED)
    assert not has_columns(full.to_iterable_dataset(), TOKENIZED)  # only in-memory data is prepared data
    logps = np.array([[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]])
    pairs = with_reference_logps(Dataset.from_dict({"prompt": ["a", "b", "c"]}), logps)
    assert [pairs[c][:] for c in REFERENCE] == [[-1.0, -3.0, -5.0], [-2.0, -4.0, -6.0]]
    # pairs 2 and 1 kept, pair 0 dropped: NaN at its row
    kept = pairs.add_column(PAIR_INDEX, [0, 2, 1]).select([1, 2])
    np.testing.assert_array_equal(reference_logps(kept, 3), [[np.nan, np.nan], [-5.0, -6.0], [-3.0, -4.0]])


def test_config_rejects_zero_trained_weight_and_bad_weights(tmp_path):
    with pytest.raises(ValueError, match=r"weights\[1\] must be > 0"):
        MODPOConfig(output_dir=str(tmp_path), use_cpu=True, weights=[1.0, 0.0], trained_objective=1)
    with pytest.raises(ValueError, match="sum to 1"):
        MODPOConfig(output_dir=str(tmp_path), use_cpu=True, weights=[0.7, 0.7], trained_objective=0)


def test_method_config_rejects_unknown_trl_field():
    with pytest.raises(
        ValueError, match=r"trl\.lerning_rate: unknown DPOConfig field \(did you mean 'learning_rate'"
    ):
        modpo_method.MODPOSection(trl={"lerning_rate": 1e-4})


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
    # the margin is logged under the mode the model is in; return_outputs is passed on to TRL
    for mode in ("train", "eval"):
        trainer._metrics[mode].clear()
        trainer.model.train(mode == "train")
        # return_outputs reaches TRL's loss: its deprecation warning says so
        with torch.no_grad(), pytest.warns(FutureWarning, match="return_outputs=True"):
            trainer.compute_loss(trainer.model, batch, return_outputs=True)
        assert dict(trainer._metrics[mode])["margin"] == [pytest.approx(batch["margin"].mean().item())]


def _fresh_model(tok):
    return build_tiny_causal_lm(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)


def _pairs_with_a_dropped_row(ds: Dataset) -> Dataset:
    """The fixture's pairs with, at row 3, one whose prompt alone fills max_length (32): TRL drops it."""
    rows = ds.to_dict()
    for column, value in {"prompt": "write about " + " ".join(["cats"] * 40) + " :", "chosen": " good",
                          "rejected": " bad"}.items():  # fmt: skip
        rows[column].insert(3, value)
    return Dataset.from_dict(rows)


def test_prepared_pairs_carry_trls_own_tokens_and_reference_logps(tiny):
    tok, _, ds, out = tiny
    pairs = _pairs_with_a_dropped_row(ds)
    dpo = DPOTrainer(model=_fresh_model(tok), args=_args(DPOConfig, out / "dpo-ref"), train_dataset=pairs,
                     processing_class=tok)  # fmt: skip
    args = _args(MODPOConfig, out / "prepare", weights=[1.0], trained_objective=0)
    prepared = prepare_pairs(_fresh_model(tok), tok, pairs, args)
    assert prepared[PAIR_INDEX][:] == [i for i in range(len(pairs)) if i != 3]
    for column in ("prompt_ids", "chosen_ids", "rejected_ids"):
        assert prepared[column][:] == dpo.train_dataset[column][:]
    logps = reference_logps(prepared, len(pairs))  # (N, 2)
    assert np.isnan(logps[3]).all() and not np.isnan(np.delete(logps, 3, axis=0)).any()
    trl_logps = np.stack([dpo.train_dataset[c][:] for c in ("ref_chosen_logps", "ref_rejected_logps")], 1)
    assert np.array_equal(np.delete(logps, 3, axis=0), trl_logps)  # bit for bit


def test_point_on_prepared_pairs_trains_exactly_as_with_trls_own_precompute(tiny, monkeypatch):
    tok, _, ds, out = tiny
    pairs = _pairs_with_a_dropped_row(ds)
    margins = np.linspace(-1.0, 1.5, len(pairs))  # (N,): misaligned by the dropped row, they change the loss
    kw = dict(weights=[0.3, 0.5, 0.2], trained_objective=1, max_steps=3, learning_rate=1e-3, logging_steps=1)

    def trained(name, data):
        trainer = MODPOTrainer(model=_fresh_model(tok), args=_args(MODPOConfig, out / name, **kw),
                               train_dataset=data, processing_class=tok)  # fmt: skip
        trainer.train()
        return trainer, [log["loss"] for log in trainer.state.log_history if "loss" in log]

    # as before: the trainer tokenizes and TRL precomputes the reference log-probs
    before, before_losses = trained("before", pairs.add_column("margin", margins.tolist()))
    # shared: prepared once (from another copy of the reference), each point adds its margins by pair index
    prepared = prepare_pairs(_fresh_model(tok), tok, pairs, _args(MODPOConfig, out / "prepare", **kw))
    redone = []
    for step in ("_prepare_dataset", "_precompute_ref_logps"):
        real = getattr(DPOTrainer, step)
        counted = lambda self, *a, _s=step, _r=real: (redone.append(_s), _r(self, *a))[1]  # noqa: E731
        monkeypatch.setattr(DPOTrainer, step, counted)
    data = prepared.add_column("margin", margins[prepared[PAIR_INDEX][:]].tolist())
    after, after_losses = trained("after", data)
    assert redone == []  # neither tokenized nor precomputed again
    assert len(before_losses) == 3 and after_losses == before_losses
    for (name, p), q in zip(before.model.named_parameters(), after.model.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_cpu_runs_skip_gradient_checkpointing_unless_asked_and_get_the_same_weights(tiny):
    def checkpointing(**trl):
        return modpo_method.MODPOSection(trl=trl).trl_args()["gradient_checkpointing"]

    assert checkpointing() is torch.cuda.is_available()  # TRL's default on a GPU
    assert checkpointing(gradient_checkpointing=True) is True
    tok, _, ds, out = tiny
    data = ds.add_column("margin", np.linspace(-1.0, 1.5, len(ds)).tolist())
    models = []
    for enabled in (True, False):
        args = _args(MODPOConfig, out / f"gc-{enabled}", weights=[0.5, 0.5], trained_objective=0, max_steps=3,
                     learning_rate=1e-3, gradient_checkpointing=enabled)  # fmt: skip
        trainer = MODPOTrainer(model=_fresh_model(tok), args=args, train_dataset=data, processing_class=tok)
        trainer.train()
        assert trainer.model.is_activation_checkpointing is enabled
        models.append(trainer.model)
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.slow
def test_sweep_computes_reference_logps_once_per_objective_and_shares(tmp_path, benchmark_cache, monkeypatch):
    """Two points on 'helpful' and one on 'length': one reference pass per objective, none again on resume or in
    another sweep of the same setting (a comparison's shared_dir), whose run dir holds a link to the same file."""
    config = tiny_sweep_dict(benchmark_cache)
    config["weights"] = {"kind": "explicit", "weights": [[1.0, 0.0], [0.7, 0.3], [0.0, 1.0]]}
    passes, jobs, real_run = [], [], modpo_method.run
    real_pass = DPOTrainer._precompute_ref_logps
    monkeypatch.setattr(DPOTrainer, "_precompute_ref_logps",
                        lambda self, data, *a: (passes.append(len(data)), real_pass(self, data, *a))[1])  # fmt: skip

    def interrupted_second(job, ws):
        jobs.append(job.id)
        if len(jobs) == 2:
            raise KeyboardInterrupt
        return real_run(job, ws)

    monkeypatch.setattr(modpo_method, "run", interrupted_second)
    shared, run = tmp_path / "shared", tmp_path / "run"

    def sweep(run_dir):
        run_sweep(SweepConfig.model_validate(config), run_dir, progress=False, log=print, shared_dir=shared)

    with pytest.raises(KeyboardInterrupt):
        sweep(run)
    (helpful,) = run.glob("ref_logps_helpful_*.npy")
    assert len(passes) == 1 and helpful.samefile(shared / helpful.name)
    n_helpful = passes[0]

    passes.clear()
    monkeypatch.setattr(modpo_method, "run", real_run)
    sweep(run)
    assert len(passes) == 1 and passes[0] != n_helpful  # resumed: 'helpful' read back, 'length' computed
    assert np.load(helpful).shape == (n_helpful, 2)

    passes.clear()  # another sweep of the setting, with other optimization settings: nothing to compute
    config["method"]["trl"]["max_steps"] = 2
    other = tmp_path / "other"
    sweep(other)
    assert passes == [] and (other / helpful.name).samefile(helpful)
