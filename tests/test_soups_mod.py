"""Rewarded soups (full weights and LoRA, both interpolations) and multi-objective decoding, against hand values;
both methods end to end through the sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import tiny_sweep_dict
from transformers import AutoModelForCausalLM, AutoTokenizer

from pareto_align import cli
from pareto_align.front import PolicyHandle, read_front
from pareto_align.models.generation import GenerationSettings, generate
from pareto_align.models.mixture import MixtureLogitsProcessor, MixturePolicy
from pareto_align.models.policy import load_policy
from pareto_align.soups import interpolate_state_dicts

KEY = "model.layers.0.self_attn.q_proj.weight"


@pytest.fixture(scope="module")
def two_models(tiny_policy_dir, tmp_path_factory):
    """The tiny policy and a perturbed copy, saved in one run directory."""
    root = tmp_path_factory.mktemp("soup-run")
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    for i in range(2):
        model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
        torch.manual_seed(i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5 * torch.randn_like(p))
        model.save_pretrained(root / f"m{i}")
        tok.save_pretrained(root / f"m{i}")
    return root


def test_interpolation_exact_at_vertices_and_linear(two_models):
    sds = [AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").state_dict() for i in range(2)]
    for lam in ([1.0, 0.0], [0.0, 1.0]):
        soup = load_policy({"kind": "soup", "checkpoints": ["m0", "m1"], "coefficients": lam}, two_models)
        torch.testing.assert_close(soup.model.state_dict()[KEY], sds[lam.index(1.0)][KEY], rtol=0, atol=0)
    a, b = interpolate_state_dicts(sds, [0.25, 0.75]), interpolate_state_dicts(sds, [0.75, 0.25])
    mid = interpolate_state_dicts(sds, [0.5, 0.5])
    torch.testing.assert_close(mid[KEY], 0.5 * a[KEY] + 0.5 * b[KEY])  # linear in lambda
    with pytest.raises(ValueError, match="must be non-negative and sum to 1"):
        interpolate_state_dicts(sds, [0.7, 0.7])


@pytest.fixture(scope="module")
def two_adapters(tiny_policy_dir, tmp_path_factory):
    """Two LoRA adapters (r 2 on q_proj) with known A and B, over the tiny policy copied into the run dir."""
    import shutil

    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("lora-soup")
    shutil.copytree(tiny_policy_dir, root / "base")
    mats = []
    for i in range(2):
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(root / "base"),
                               LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))  # fmt: skip
        g = torch.Generator().manual_seed(10 + i)
        layer = model.base_model.model.model.layers[0].self_attn.q_proj
        A, B = torch.randn(2, 32, generator=g), torch.randn(32, 2, generator=g)  # (r, d_in), (d_out, r)
        with torch.no_grad():
            layer.lora_A["default"].weight.copy_(A)
            layer.lora_B["default"].weight.copy_(B)
        model.save_pretrained(root / f"a{i}")
        AutoTokenizer.from_pretrained(tiny_policy_dir).save_pretrained(root / f"a{i}")
        cfg = root / f"a{i}" / "adapter_config.json"
        cfg.write_text(cfg.read_text().replace(str(root / "base"), "base"))
        mats.append((A, B))
    W0 = AutoModelForCausalLM.from_pretrained(root / "base").state_dict()[KEY]
    return root, mats, W0, 4 / 2  # scaling = alpha / r


def test_lora_product_and_ab_interpolation_against_hand_matrices(two_adapters):
    root, ((A0, B0), (A1, B1)), W0, s = two_adapters
    lam = [0.3, 0.7]
    product = load_policy({"kind": "soup", "checkpoints": ["a0", "a1"], "coefficients": lam}, root)
    hand = W0 + s * (lam[0] * B0 @ A0 + lam[1] * B1 @ A1)  # theta(lambda) exactly
    torch.testing.assert_close(product.model.state_dict()[KEY], hand, rtol=1e-5, atol=1e-5)
    ab = load_policy({"kind": "soup", "checkpoints": ["a0", "a1"], "coefficients": lam,
                      "lora_interpolation": "ab"}, root)  # fmt: skip
    hand_ab = W0 + s * (lam[0] * B0 + lam[1] * B1) @ (lam[0] * A0 + lam[1] * A1)  # cross terms included
    torch.testing.assert_close(ab.model.state_dict()[KEY], hand_ab, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(hand, hand_ab, atol=1e-3)  # the two really differ between the vertices


def test_mod_scores_are_the_normalized_weighted_product(two_models):
    tok = AutoTokenizer.from_pretrained(two_models / "m0")
    models = [AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").eval() for i in range(2)]
    enc = tok(["a b c", "d"], return_tensors="pt", padding=True, padding_side="left")
    logits = [m(**enc).logits[:, -1, :] for m in models]  # (B, V) each
    w = 0.3
    processor = MixtureLogitsProcessor(w, [(models[1], 1 - w)], enc["attention_mask"])
    with torch.no_grad():
        mixed = processor(enc["input_ids"], logits[0])
    p0, p1 = F.softmax(logits[0], -1), F.softmax(logits[1], -1)
    hand = p0**w * p1 ** (1 - w)
    hand = hand / hand.sum(-1, keepdim=True)  # normalized product of the two distributions
    torch.testing.assert_close(F.softmax(mixed, -1), hand, rtol=1e-4, atol=1e-6)


def test_mod_cache_follows_the_sequence(two_models):
    """Later tokens are scored with the other specialist's cache: the same as a fresh pass over the whole text."""
    tok = AutoTokenizer.from_pretrained(two_models / "m0")
    m0, m1 = (AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").eval() for i in range(2))
    enc = tok(["a b c", "d"], return_tensors="pt", padding=True, padding_side="left")
    processor = MixtureLogitsProcessor(0.5, [(m1, 0.5)], enc["attention_mask"])
    ids = enc["input_ids"]
    with torch.no_grad():
        for _ in range(3):
            scores = m0(input_ids=ids, attention_mask=_mask(enc, ids)).logits[:, -1]
            mixed = processor(ids, scores)
            ids = torch.cat([ids, mixed.argmax(-1, keepdim=True)], dim=1)
        mask = _mask(enc, ids)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        fresh = m1(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
        scores = m0(input_ids=ids, attention_mask=mask).logits[:, -1]
        expected = 0.5 * F.log_softmax(scores, -1) + 0.5 * F.log_softmax(fresh, -1)
        torch.testing.assert_close(processor(ids, scores), expected, rtol=1e-4, atol=1e-4)


def _mask(enc, ids):
    grown = torch.ones(ids.shape[0], ids.shape[1] - enc["attention_mask"].shape[1], dtype=torch.long)
    return torch.cat([enc["attention_mask"], grown], dim=1)


def test_mod_with_one_hot_weights_samples_as_that_specialist(two_models):
    tok = AutoTokenizer.from_pretrained(two_models / "m0")
    tok.padding_side = "left"
    models = [AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").eval() for i in range(2)]
    settings = GenerationSettings(max_new_tokens=10)
    prompts = ["a b", "c d e", "f"] * 3
    for k in range(2):
        w = [float(j == k) for j in range(2)]
        mixed = MixturePolicy(models, tok, {}, weights=w).generate(prompts, settings, seed=7)
        alone = generate(models[k], tok, prompts, settings, seed=7)
        assert mixed.responses == alone.responses
    both = MixturePolicy(models, tok, {}, weights=[0.5, 0.5]).generate(prompts, settings, seed=7)
    assert both.responses != alone.responses


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ({"kind": "mixture", "checkpoints": ["a", "b"], "weights": [1.0]}, "mixture has 2 checkpoints but 1 weights"),
        ({"kind": "mixture", "checkpoints": ["a", "b"], "weights": [1.5, -0.5]}, "weights must be non-negative"),
        ({"kind": "mixture", "checkpoints": ["a", "b"], "weights": [0.5, 0.6]}, "weights must sum to 1"),
        ({"kind": "soup", "checkpoints": ["a", "b"], "coefficients": [0.5, 0.6]}, "coefficients must sum to 1"),
        ({"kind": "soup", "checkpoints": ["a"], "coefficients": [1.0], "lora_interpolation": "sum"}, "lora_interpolation"),
        ({"kind": "checkpoint", "path": "a", "lora_interpolation": "ab"}, "not used by policy kind 'checkpoint'"),
    ],
)  # fmt: skip
def test_bad_mixture_and_soup_handles_refused(handle, message):
    with pytest.raises(ValueError, match=message):
        PolicyHandle(**handle)


EVALUATION = {"samples_per_prompt": 8, "max_prompts": 12, "generation": {"max_new_tokens": 12}}
SPECIALISTS = {
    "name": "modpo",
    "trl": {"max_steps": 30, "learning_rate": 1e-3, "per_device_train_batch_size": 16},
}


@pytest.mark.parametrize("method", ["soups", "mod"])
@pytest.mark.slow
def test_soups_and_mod_end_to_end(method, tmp_path, benchmark_cache):
    from test_methods import assert_moves_as_weights_ask

    config = tiny_sweep_dict(benchmark_cache, method={"name": method, "specialists": SPECIALISTS},
                             evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[0.0, 1.0], [0.2, 0.8], [1.0, 0.0]]})  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 0
    front = read_front(run_dir)
    short, mid, helpful = front.points
    assert_moves_as_weights_ask(read_front(run_dir).model_copy(update={"points": [short, mid]}))
    # the vertices are the specialists themselves: their evaluations equal the line's endpoints exactly
    assert short.values == short.metadata["linear_interpolation"]
    assert helpful.values == helpful.metadata["linear_interpolation"]
    # the specialists' training is shared work, recorded once
    ids = ["specialist-helpful-s0", "specialist-length-s0"]
    assert sorted(front.compute.shared) == ids
    assert all(p.compute.shared == ids and p.compute.policy_updates == 0 for p in front.points)
    assert front.compute.total.policy_updates == 60
    kind = {"soups": "soup", "mod": "mixture"}[method]
    assert [p.policy.kind for p in front.points] == [kind] * 3
    if method == "mod":  # the cost is paid at decoding: one forward pass per active specialist and token
        assert [p.metadata["forward_passes_per_token"] for p in front.points] == [1, 2, 1]
        assert mid.compute.generated_tokens > 0
    np.testing.assert_allclose(mid.metadata["linear_interpolation"],
                               0.2 * np.asarray(helpful.values) + 0.8 * np.asarray(short.values))  # fmt: skip
