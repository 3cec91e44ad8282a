"""Panacea's SVD-LoRA and preference sampling: the layer against a hand-built W0 + U diag(sigma, s*lambda) V^T, the
base output at init for any lambda, per-row lambda against separate forwards, which parameters get gradients at
init and after one step, the merged weight, a bit-for-bit save/load round trip, refused preferences, the base
model untouched, bf16 (a trained adapter, a step, the merge, save/load); Dirichlet/vertex statistics and group-shared draws in TRL's GRPO order."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from trl.trainer.utils import RepeatSampler

from pareto_align.models.svd_lora import (
    DEFAULT_TARGET_MODULES,
    SVDLoRAConfig,
    SVDLoRALinear,
    inject_svd_lora,
    load_svd_lora,
    merge_preference,
    merged_weight,
    preference,
    save_svd_lora,
    set_preference,
    svd_lora_layers,
    trainable_parameters,
)
from pareto_align.models.tiny import build_tiny_causal_lm, train_word_tokenizer
from pareto_align.preference_sampling import group_shared_preferences, sample_preferences

K = 3
WORDS = ["a", "b", "c", "d", "e", "f", "g", "h"]


@pytest.fixture(scope="module")
def tokenizer():
    return train_word_tokenizer([" ".join(WORDS)])


def tiny_llama(tokenizer, dtype=torch.float32):
    return build_tiny_causal_lm(tokenizer, hidden_size=32, num_layers=1, num_heads=2, seed=0).to(dtype).eval()


def input_ids(tokenizer, rows: int = 3) -> torch.Tensor:
    texts = [" ".join(np.roll(WORDS, i)[:6]) for i in range(rows)]
    return tokenizer(texts, return_tensors="pt").input_ids  # (B, T), no padding: every row has 6 words


def randomize_adapter(model: nn.Module, seed: int = 1) -> None:
    """Non-zero sigma and s (and fresh U, V), as after training, so the update actually changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in trainable_parameters(model).values():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)


def logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits  # (B, T, V)


LAMBDAS = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])  # (3, K), one per row


# ---------------------------------------------------------------------------------------------- the layer
def test_layer_against_hand_built_weight():
    torch.manual_seed(0)
    base = nn.Linear(4, 5)
    layer = SVDLoRALinear(base, rank=2, num_objectives=K)
    with torch.no_grad():
        layer.sigma.copy_(torch.tensor([0.7, -1.3]))
        layer.s.fill_(2.5)
    lam = torch.tensor([0.2, 0.3, 0.5])
    # W = W0 + U diag(sigma_1, sigma_2, s*l_1, s*l_2, s*l_3) V^T, built entry by entry.
    diagonal = torch.diag(torch.tensor([0.7, -1.3, 2.5 * 0.2, 2.5 * 0.3, 2.5 * 0.5]))  # (5, 5)
    W = base.weight + layer.U @ diagonal @ layer.V.T  # (out, in)
    x = torch.randn(2, 3, 4)  # (B, T, in)
    set_preference(layer, lam)
    torch.testing.assert_close(layer(x), x @ W.T + base.bias)
    torch.testing.assert_close(merged_weight(layer, lam), W.detach())


def test_zero_diagonal_is_the_base_output_exactly_for_any_lambda(tokenizer):
    ids = input_ids(tokenizer)
    model = tiny_llama(tokenizer)
    before = logits(model, ids)
    inject_svd_lora(model, SVDLoRAConfig(rank=4, num_objectives=K))
    for lam in [LAMBDAS, LAMBDAS[1], [1 / 3] * 3, [0.0, 1.0, 0.0]]:
        set_preference(model, lam)
        assert torch.equal(logits(model, ids), before)


def test_per_row_lambda_equals_separate_forwards(tokenizer):
    ids = input_ids(tokenizer)
    model = inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=4, num_objectives=K))
    randomize_adapter(model)
    set_preference(model, LAMBDAS)
    batched = logits(model, ids)  # (3, T, V)
    rows = []
    for b in range(3):
        set_preference(model, LAMBDAS[b])
        rows.append(logits(model, ids[b : b + 1]))  # (1, T, V)
    torch.testing.assert_close(batched, torch.cat(rows), rtol=1e-5, atol=1e-5)
    # and lambda matters: the rows would differ under one shared lambda
    set_preference(model, LAMBDAS[0])
    assert (logits(model, ids)[1:] - batched[1:]).abs().max() > 1e-2


def test_gradients_at_init_reach_sigma_and_s_then_u_and_v(tokenizer):
    ids = input_ids(tokenizer)
    model = inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=4, num_objectives=K))
    set_preference(model, LAMBDAS)
    params = trainable_parameters(model)
    optimizer = torch.optim.Adam(params.values(), lr=1e-2)

    def backward():
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()

    backward()
    for name, param in params.items():
        is_diagonal = name.endswith((".sigma", ".s"))
        assert (param.grad.abs().sum() > 0) == is_diagonal, name  # U, V: exactly zero, since sigma = s = 0
    optimizer.step()
    backward()
    for name, param in params.items():
        assert param.grad.abs().sum() > 0, name
    assert all(p.grad is None for n, p in model.named_parameters() if n not in params)


def test_merge_preference_matches_the_conditioned_model(tokenizer):
    ids = input_ids(tokenizer)
    model = inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=4, num_objectives=K))
    randomize_adapter(model)
    lam = LAMBDAS[1]
    set_preference(model, lam)
    conditioned = logits(model, ids)
    merge_preference(model, lam)
    assert not list(svd_lora_layers(model))
    assert all(type(m) is nn.Linear for n, m in model.named_modules() if n.endswith(DEFAULT_TARGET_MODULES))
    torch.testing.assert_close(logits(model, ids), conditioned, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- the model
def test_injection_targets_freezes_and_leaves_the_base_untouched(tokenizer):
    model = tiny_llama(tokenizer)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    inject_svd_lora(model, SVDLoRAConfig(rank=4, num_objectives=K))
    wrapped = [name for name, _ in svd_lora_layers(model)]
    assert sorted(n.rsplit(".", 1)[1] for n in wrapped) == sorted(DEFAULT_TARGET_MODULES)  # 1 decoder layer
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(trainable_parameters(model)) and len(trainable) == 4 * len(wrapped)
    after = {name.replace(".base.", "."): p for name, p in model.named_parameters() if name not in trainable}
    assert after.keys() == before.keys()
    assert all(torch.equal(after[n], before[n]) and not after[n].requires_grad for n in before)
    q_only = inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=2, num_objectives=K, target_modules=["q_proj"]))  # fmt: skip
    assert [n for n, _ in svd_lora_layers(q_only)] == ["model.layers.0.self_attn.q_proj"]
    with pytest.raises(ValueError, match="no nn.Linear named by target_modules"):
        inject_svd_lora(
            tiny_llama(tokenizer), SVDLoRAConfig(rank=2, num_objectives=K, target_modules=["c_attn"])
        )
    with pytest.raises(ValueError, match="the output head 'lm_head', which is not supported"):
        inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=2, num_objectives=K, target_modules=["q_proj", "lm_head"]))  # fmt: skip


def test_save_load_round_trip_is_bit_for_bit(tokenizer, tmp_path):
    ids = input_ids(tokenizer)
    config = SVDLoRAConfig(rank=4, num_objectives=K, target_modules=("q_proj", "down_proj"), base_model="tiny", revision="abc")  # fmt: skip
    model = inject_svd_lora(tiny_llama(tokenizer), config)
    randomize_adapter(model)
    set_preference(model, LAMBDAS)
    expected = logits(model, ids)
    save_svd_lora(model, tmp_path)
    saved = json.loads((tmp_path / "svd_lora_config.json").read_text())
    assert (
        saved["rank"] == 4
        and saved["num_objectives"] == K
        and saved["target_modules"] == ["q_proj", "down_proj"]
    )
    assert (saved["base_model"], saved["revision"]) == ("tiny", "abc")
    loaded = load_svd_lora(tiny_llama(tokenizer), tmp_path)
    assert loaded.svd_lora_config == config
    set_preference(loaded, LAMBDAS)
    assert torch.equal(logits(loaded, ids), expected)
    # the file holds the fp32 master copies themselves, whatever the base's dtype
    from safetensors.torch import load_file

    on_disk = load_file(str(tmp_path / "svd_lora.safetensors"))
    assert on_disk.keys() == trainable_parameters(model).keys()
    assert all(on_disk[n].dtype == torch.float32 and torch.equal(on_disk[n], p) for n, p in trainable_parameters(model).items())  # fmt: skip


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("lam", "message"),
    [
        ([0.5, 0.5], "preference lambda: expected 3 values per row (K), got 2"),
        ([[0.2, 0.2, 0.2, 0.4]], "preference lambda: expected 3 values per row (K), got 4"),
        ([0.5, 0.5, 0.5], "each row must sum to 1 (the simplex), row 0 sums to 1.5"),
        ([1.5, -0.5, 0.0], "every entry must be finite and non-negative, got [1.5, -0.5, 0.0] (row 0)"),
        ([[0.5, 0.5, 0.0], [0.2, 0.2, 0.2]], "row 1 sums to 0.6"),
    ],
)
def test_bad_preference_refused_in_one_line(lam, message):
    layer = SVDLoRALinear(nn.Linear(4, 4), rank=2, num_objectives=K)
    with pytest.raises(ValueError) as err:
        set_preference(layer, lam)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_preference_rows_must_match_the_batch_and_must_be_set():
    layer = SVDLoRALinear(nn.Linear(4, 4), rank=2, num_objectives=K)
    with pytest.raises(RuntimeError, match="call set_preference"):
        layer(torch.randn(2, 4))
    set_preference(layer, LAMBDAS)  # 3 rows
    with pytest.raises(ValueError, match="preference has 3 rows but the input batch has shape \\(2, 5, 4\\)"):
        layer(torch.randn(2, 5, 4))


def test_preference_context_restores_the_previous_one():
    layer = SVDLoRALinear(nn.Linear(4, 4), rank=2, num_objectives=K)
    set_preference(layer, LAMBDAS[0])
    with preference(layer, LAMBDAS):
        assert torch.equal(layer.lam, LAMBDAS)
    assert torch.equal(layer.lam, LAMBDAS[0])


def test_bf16_base_with_fp32_adapter_trains_merges_and_reloads(tokenizer, tmp_path):
    """A bf16 base with a trained-looking fp32 adapter: its logits follow the fp32 model's within bf16 precision
    (and differ from the base's: the adapter acts), an optimizer step keeps fp32 masters with fp32 gradients, the
    merge at one lambda gives the conditioned bf16 model's logits with bf16 weights, and a save/load round trip
    into a fresh bf16 base is bit for bit."""
    ids = input_ids(tokenizer)
    config = SVDLoRAConfig(rank=4, num_objectives=K)
    model = inject_svd_lora(tiny_llama(tokenizer, torch.bfloat16), config)
    reference = inject_svd_lora(tiny_llama(tokenizer).to(torch.bfloat16).float(), config)  # same bf16 values
    assert all(layer.base.weight.dtype == torch.bfloat16 for _, layer in svd_lora_layers(model))
    params = trainable_parameters(model)
    assert all(p.dtype == torch.float32 for p in params.values())
    randomize_adapter(model)
    randomize_adapter(reference)
    base = logits(tiny_llama(tokenizer, torch.bfloat16), ids).float()
    set_preference(model, LAMBDAS)
    set_preference(reference, LAMBDAS)
    got, want = logits(model, ids), logits(reference, ids)
    assert got.dtype == torch.bfloat16
    error = (got.float() - want).abs().max()
    assert error < 0.05 * want.abs().max() and (want - base).abs().max() > 10 * error

    # one optimizer step: fp32 gradients on every adapter tensor, fp32 masters moved, the base untouched
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = {n: p.detach().clone() for n, p in params.items()}
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    model.eval()
    assert all(p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0 for p in params.values())
    torch.optim.SGD(params.values(), lr=0.1).step()
    assert all(p.dtype == torch.float32 and not torch.equal(p, before[n]) for n, p in params.items())
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)

    save_svd_lora(model, tmp_path)
    lam = LAMBDAS[1]
    with preference(model, lam):
        conditioned = logits(model, ids)
    loaded = load_svd_lora(tiny_llama(tokenizer, torch.bfloat16), tmp_path)
    set_preference(loaded, LAMBDAS)
    set_preference(model, LAMBDAS)
    assert torch.equal(logits(loaded, ids), logits(model, ids))
    merged = merge_preference(model, lam)
    assert all(m.weight.dtype == torch.bfloat16 for n, m in merged.named_modules() if n.endswith("q_proj"))
    torch.testing.assert_close(logits(merged, ids).float(), conditioned.float(), atol=0.05 * float(conditioned.abs().max()), rtol=0)  # fmt: skip


# ---------------------------------------------------------------------------------------------- sampling
def test_dirichlet_and_vertex_statistics():
    n = 20_000
    plain = sample_preferences(np.random.default_rng(0), n, K)  # Dirichlet(1, 1, 1)
    assert np.all(plain >= 0) and np.allclose(plain.sum(axis=1), 1.0)
    # marginal of Dirichlet(alpha 1_K): mean 1/K, variance (K-1) / (K^2 (K alpha + 1)) = 1/18 at alpha 1, 1/72 at 5
    se = np.sqrt(1 / 18 / n)
    assert np.all(np.abs(plain.mean(axis=0) - 1 / K) < 4 * se)
    assert np.allclose(plain.var(axis=0), 1 / 18, rtol=0.05)
    peaked = sample_preferences(np.random.default_rng(0), n, K, alpha=5.0)
    assert np.allclose(peaked.var(axis=0), 2 / (9 * 16), rtol=0.05)
    assert not np.any(plain.max(axis=1) == 1.0)  # a Dirichlet row is never a corner

    mixed = sample_preferences(np.random.default_rng(0), n, K, vertex_prob=0.3)
    assert np.all(mixed >= 0) and np.allclose(mixed.sum(axis=1), 1.0)
    is_corner = mixed.max(axis=1) == 1.0
    assert abs(is_corner.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    per_corner = mixed[is_corner].argmax(axis=1)
    counts = np.bincount(per_corner, minlength=K)
    assert np.all(
        np.abs(counts / is_corner.sum() - 1 / K) < 4 * np.sqrt((1 / K) * (1 - 1 / K) / is_corner.sum())
    )
    assert np.array_equal(mixed, sample_preferences(np.random.default_rng(0), n, K, vertex_prob=0.3))
    assert np.all(sample_preferences(np.random.default_rng(1), 50, K, vertex_prob=1.0).max(axis=1) == 1.0)
    with pytest.raises(ValueError, match="vertex_prob must be in"):
        sample_preferences(np.random.default_rng(0), 4, K, vertex_prob=1.5)


def test_group_shared_preferences_follow_grpo_order():
    prompts, generations = 4, 3
    rows = group_shared_preferences(np.random.default_rng(7), prompts, generations, K, vertex_prob=0.25)
    per_prompt = sample_preferences(np.random.default_rng(7), prompts, K, vertex_prob=0.25)  # (P, K)
    # TRL's GRPO sampler: each prompt index num_generations times in a row
    order = list(
        RepeatSampler(range(prompts), mini_repeat_count=generations, batch_size=prompts, shuffle=False)
    )
    assert np.array_equal(rows, per_prompt[order])
    groups = rows.reshape(prompts, generations, K)  # as GRPO's rewards.view(-1, num_generations)
    assert np.all(groups == groups[:, :1])  # rows of a group identical
    assert len({tuple(g[0]) for g in groups}) == prompts  # groups differ


# ---------------------------------------------------------------------------------------------- edges
def _message(call) -> str:
    """The one-line message `call()` raises."""
    with pytest.raises((ValueError, FileNotFoundError, RuntimeError)) as err:
        call()
    assert "\n" not in str(err.value)
    return str(err.value)


def test_refusals_read_exactly(tokenizer, tmp_path):
    """Every refusal of the module, its message in full (what mutation testing found unchecked)."""
    from pareto_align.models.svd_lora import FORMAT, SVDLoRAConfig, check_preference, read_svd_lora_config

    assert _message(lambda: SVDLoRAConfig(rank=-1, num_objectives=2)) == (
        "SVD-LoRA needs rank >= 0 and num_objectives >= 1, got -1 and 2")  # fmt: skip
    assert "got 1 and 0" in _message(lambda: SVDLoRAConfig(rank=1, num_objectives=0))
    assert SVDLoRAConfig(rank=0, num_objectives=1).rank == 0  # the smallest valid adapter: lambda alone
    assert (
        _message(lambda: SVDLoRAConfig(1, 2, target_modules=()))
        == "SVD-LoRA needs at least one target module"
    )
    assert _message(lambda: SVDLoRAConfig.from_dict({"rank": 1, "num_objectives": 2, "alpha": 3})) == (
        "svd_lora config: unknown field(s) ['alpha']")  # fmt: skip
    # lambda of the wrong shape, and the row a bad value sits in
    assert _message(lambda: check_preference(torch.tensor(0.5), 2)).endswith("got shape ()")
    assert _message(lambda: check_preference(torch.ones(1, 1, 2) / 2, 2)).endswith("got shape (1, 1, 2)")
    assert _message(lambda: check_preference([[0.5, 0.5], [float("nan"), 1.0]], 2)).endswith("(row 1)")
    assert _message(lambda: check_preference([[0.5, 0.5], [1.5, -0.5]], 2)).endswith("(row 1)")
    layer = SVDLoRALinear(nn.Linear(4, 4), rank=2, num_objectives=2)
    assert _message(lambda: layer.diagonal()) == (
        "SVD-LoRA layer has no preference: call set_preference(model, lam) first")  # fmt: skip
    assert _message(lambda: merged_weight(layer, [[0.5, 0.5]])) == (
        "merged_weight: one preference of shape (2,), got shape (1, 2)")  # fmt: skip
    plain = tiny_llama(tokenizer)
    assert (
        _message(lambda: set_preference(plain, [0.5, 0.5]))
        == "set_preference: the model has no SVD-LoRA layers"
    )
    assert _message(lambda: save_svd_lora(plain, tmp_path / "none")) == (
        "save_svd_lora: the model has no SVD-LoRA (inject_svd_lora first)")  # fmt: skip
    model = inject_svd_lora(tiny_llama(tokenizer), SVDLoRAConfig(rank=1, num_objectives=2))
    assert _message(lambda: inject_svd_lora(model, SVDLoRAConfig(rank=1, num_objectives=2))) == (
        "SVD-LoRA: the model already has SVD-LoRA layers")  # fmt: skip
    # files: missing, of another format, with an unknown field, with tensors that do not fit
    missing = tmp_path / "missing"
    assert _message(lambda: read_svd_lora_config(missing)) == f"{missing / 'svd_lora_config.json'}: not found (not a saved SVD-LoRA)"  # fmt: skip
    save_svd_lora(model, tmp_path / "a")
    config_path = tmp_path / "a" / "svd_lora_config.json"
    saved = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**saved, "format": "peft"}))
    assert (
        _message(lambda: read_svd_lora_config(tmp_path / "a"))
        == f"{config_path}: format 'peft' is not {FORMAT!r}"
    )
    config_path.write_text(json.dumps({**saved, "alpha": 1}))
    assert (
        _message(lambda: read_svd_lora_config(tmp_path / "a")) == f"{config_path}: unknown field(s) ['alpha']"
    )
    config_path.write_text(json.dumps(saved))
    from safetensors.torch import load_file, save_file

    weights = tmp_path / "a" / "svd_lora.safetensors"
    tensors = load_file(str(weights))
    first = sorted(tensors)[0]
    save_file({**{k: v for k, v in tensors.items() if k != first}, "extra.s": torch.zeros(())}, str(weights))
    assert _message(lambda: load_svd_lora(tiny_llama(tokenizer), tmp_path / "a")) == (
        f"{tmp_path / 'a'}: SVD-LoRA tensors do not fit this model (missing [{first!r}], unexpected ['extra.s'])")  # fmt: skip
    save_file({**tensors, first: torch.zeros(3, 3)}, str(weights))
    shape = tuple(tensors[first].shape)
    assert _message(lambda: load_svd_lora(tiny_llama(tokenizer), tmp_path / "a")) == (
        f"{tmp_path / 'a'}: {first} has shape (3, 3), the model needs {shape}")  # fmt: skip


def test_seeds_init_off_switch_merge_and_file_metadata(tokenizer, tmp_path, monkeypatch):
    from safetensors import safe_open

    from pareto_align.models import svd_lora
    from pareto_align.models.svd_lora import FORMAT, disabled

    config = SVDLoRAConfig(rank=2, num_objectives=K)
    a, b = (inject_svd_lora(tiny_llama(tokenizer), config, seed=s) for s in (0, 0))
    c, default = (
        inject_svd_lora(tiny_llama(tokenizer), config, seed=1),
        inject_svd_lora(tiny_llama(tokenizer), config),
    )
    pa, pb, pc, pd = (trainable_parameters(m) for m in (a, b, c, default))
    assert all(
        torch.equal(pa[n], pb[n]) and torch.equal(pa[n], pd[n]) for n in pa
    )  # the seed decides, 0 by default
    assert not torch.equal(pa[next(iter(pa))], pc[next(iter(pc))])
    layer = SVDLoRALinear(nn.Linear(64, 64), rank=2, num_objectives=K)  # init_std 0.02 by default
    assert 0.01 < float(layer.U.detach().std()) < 0.03 and 0.01 < float(layer.V.detach().std()) < 0.03
    # a 2-D input, one lambda per row, against each row alone
    randomize_adapter(layer)
    x = torch.randn(3, 64)
    with preference(layer, LAMBDAS):
        rows = layer(x)
    for i in range(3):
        with preference(layer, LAMBDAS[i]):
            torch.testing.assert_close(rows[i], layer(x[i : i + 1])[0])
    # switched off: exactly the base, whatever lambda is set
    ids = input_ids(tokenizer)
    randomize_adapter(a)
    set_preference(a, LAMBDAS)
    with disabled(a):
        assert torch.equal(logits(a, ids), logits(tiny_llama(tokenizer), ids))
    assert not torch.equal(logits(a, ids), logits(tiny_llama(tokenizer), ids))
    merged = merge_preference(a, LAMBDAS[0])
    assert not hasattr(merged, "svd_lora_config") and not list(svd_lora_layers(merged))
    # any module with linear layers, not only a transformers model (no output embeddings to ask about)
    plain = nn.Sequential()
    plain.add_module("q_proj", nn.Linear(4, 4))
    assert [n for n, _ in svd_lora_layers(inject_svd_lora(plain, SVDLoRAConfig(rank=1, num_objectives=2)))] == ["q_proj"]  # fmt: skip
    save_svd_lora(b, tmp_path / "b")
    with safe_open(str(tmp_path / "b" / "svd_lora.safetensors"), "pt") as f:
        assert f.metadata() == {"format": FORMAT}
    # a failed write leaves nothing behind and shows its own error
    monkeypatch.setattr(svd_lora, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_svd_lora(b, tmp_path / "c")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
