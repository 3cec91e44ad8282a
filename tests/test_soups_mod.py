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
from pareto_align.models.policy import PolicyLoadError, load_policy, load_soup_mixer
from pareto_align.soups import interpolate_state_dicts

KEY = "model.layers.0.self_attn.q_proj.weight"


def save_perturbed_copies(policy_dir, root, seeds, **save_kwargs):
    """Copies of the policy at `policy_dir`, each weight moved by 0.5 N(0, 1) noise from its seed, saved (with the
    tokenizer) as root/m0, root/m1, ...; `save_kwargs` go to `save_pretrained`."""
    tok = AutoTokenizer.from_pretrained(policy_dir)
    for i, seed in enumerate(seeds):
        model = AutoModelForCausalLM.from_pretrained(policy_dir)
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5 * torch.randn_like(p))
        model.save_pretrained(root / f"m{i}", **save_kwargs)
        tok.save_pretrained(root / f"m{i}")
    return root


@pytest.fixture(scope="module")
def two_models(tiny_policy_dir, tmp_path_factory):
    """Two perturbed copies of the tiny policy, saved in one run directory."""
    return save_perturbed_copies(tiny_policy_dir, tmp_path_factory.mktemp("soup-run"), seeds=[0, 1])


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


def test_mod_positions_are_right_for_an_absolute_position_model(tiny_policy_dir):
    """GPT-2 adds a learned embedding per absolute position (rotary models ignore a uniform shift): with left
    padding, each row of the other specialist is scored as that row alone, unpadded, at every step."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    gpt2 = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=32,
                            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id)  # fmt: skip
        model = GPT2LMHeadModel(config).eval()
        with torch.no_grad():  # positions that matter: GPT-2's init draws them with std 0.01
            model.transformer.wpe.weight.normal_(0.0, 1.0)
        gpt2.append(model)
    m0, m1 = gpt2
    enc = tok(["a b c d e", "f"], return_tensors="pt", padding=True, padding_side="left")
    processor = MixtureLogitsProcessor(0.5, [(m1, 0.5)], enc["attention_mask"])
    ids = enc["input_ids"]
    pads = (enc["attention_mask"] == 0).sum(-1)  # (B,)
    with torch.no_grad():
        for _ in range(3):
            mask = _mask(enc, ids)
            scores = m0(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits[:, -1]  # fmt: skip
            mixed = processor(ids, scores)
            for row in range(len(ids)):
                alone = m1(input_ids=ids[row : row + 1, int(pads[row]) :]).logits[
                    0, -1
                ]  # positions 0.. by default
                expected = 0.5 * F.log_softmax(scores[row], -1) + 0.5 * F.log_softmax(alone, -1)
                torch.testing.assert_close(mixed[row], expected, rtol=1e-4, atol=1e-4)
            ids = torch.cat([ids, mixed.argmax(-1, keepdim=True)], dim=1)


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


def test_mixture_handles_checked_prompts_formatted_and_seeded(two_models):
    """What mutation testing found unchecked: the refusals' messages, a weight in (0, 1] with no model, the run's
    prompt format, the default seed and the prompts given back."""
    from pareto_align.models.chat import as_chat_prompt

    tok = AutoTokenizer.from_pretrained(two_models / "m0")
    tok.padding_side = "left"
    models = [AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").eval() for i in range(2)]
    with pytest.raises(ValueError) as err:
        MixturePolicy(models, tok, {}, weights=[1.0])
    assert str(err.value) == "a mixture of 2 specialists needs as many weights, got [1.0]"
    with pytest.raises(ValueError) as err:
        MixturePolicy([models[0], None], tok, {}, weights=[0.5, 0.5])
    assert str(err.value) == "specialists [1] have a non-zero weight but were not loaded"
    assert MixturePolicy([models[0], None], tok, {}, weights=[1.0, 0.0]).active == 1
    chat = MixturePolicy(models, tok, {"prompt_format": "chat"}, weights=[0.5, 0.5])
    assert chat.format_prompt("a b") == as_chat_prompt("a b") != "a b"
    assert MixturePolicy(models, tok, {}, weights=[0.5, 0.5]).format_prompt("a b") == "a b"
    policy = MixturePolicy(models, tok, {}, weights=[0.5, 0.5])
    settings = GenerationSettings(max_new_tokens=6)
    prompts = ["a b", "c d e"] * 4
    out = policy.generate(prompts, settings)
    assert out.prompts == prompts and out.responses == policy.generate(prompts, settings, seed=0).responses
    assert out.responses != policy.generate(prompts, settings, seed=1).responses


@pytest.fixture(scope="module")
def three_models(tiny_policy_dir, tmp_path_factory):
    """Three perturbed copies of the tiny policy, saved in shards (tied embeddings: no lm_head in the files)."""
    root = save_perturbed_copies(tiny_policy_dir, tmp_path_factory.mktemp("soup3-run"), seeds=[20, 21, 22],
                                 max_shard_size="8KB")  # fmt: skip
    assert (root / "m0" / "model.safetensors.index.json").is_file()
    return root


class _CountLoads:
    """Counts full models built by from_pretrained (a soup or mixture should build one per base it needs)."""

    def __init__(self, monkeypatch):
        self.n = 0
        original = AutoModelForCausalLM.from_pretrained.__func__

        def counting(cls, *args, **kwargs):
            self.n += 1
            return original(cls, *args, **kwargs)

        monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(counting))


def test_full_soup_is_streamed_into_one_model_and_equals_the_interpolation(three_models, monkeypatch):
    sds = [AutoModelForCausalLM.from_pretrained(three_models / f"m{i}").state_dict() for i in range(3)]
    lam = [0.2, 0.3, 0.5]
    loads = _CountLoads(monkeypatch)
    soup = load_policy({"kind": "soup", "checkpoints": ["m0", "m1", "m2"], "coefficients": lam}, three_models)
    assert loads.n == 1  # the others are read tensor by tensor from their files, never built as models
    hand = interpolate_state_dicts(sds, lam)
    got = soup.model.state_dict()
    assert got.keys() == hand.keys()
    for key, value in hand.items():
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-6)
    assert got["lm_head.weight"].data_ptr() == got["model.embed_tokens.weight"].data_ptr()  # still tied
    mixer, _ = load_soup_mixer([three_models / f"m{i}" for i in range(3)], three_models)
    for key, value in mixer.mix(lam).state_dict().items():  # the explorer's re-mix: the same arithmetic
        torch.testing.assert_close(value, got[key], rtol=0, atol=0)


def test_bf16_soup_interpolates_in_the_model_dtype(tiny_policy_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    for i in range(2):
        model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
        torch.manual_seed(30 + i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.5 * torch.randn_like(p))
        model.to(torch.bfloat16).save_pretrained(tmp_path / f"b{i}")
        tok.save_pretrained(tmp_path / f"b{i}")
    sds = [AutoModelForCausalLM.from_pretrained(tmp_path / f"b{i}").state_dict() for i in range(2)]
    assert sds[0][KEY].dtype == torch.bfloat16
    soup = load_policy({"kind": "soup", "checkpoints": ["b0", "b1"], "coefficients": [0.4, 0.6]}, tmp_path)
    value = soup.model.state_dict()[KEY]
    assert value.dtype == torch.bfloat16
    hand = (0.4 * sds[0][KEY].float() + 0.6 * sds[1][KEY].float()).to(torch.bfloat16)  # summed in float32
    torch.testing.assert_close(value, hand, rtol=0, atol=0)


LORA_KINDS = {
    "lora": {"target_modules": ["q_proj", "v_proj"]},
    "dora": {"target_modules": ["q_proj", "v_proj"], "use_dora": True},
    "modules_to_save": {"target_modules": ["q_proj"], "modules_to_save": ["norm"]},
}


def _adapter_run(tiny_policy_dir, root, kind: str, n: int = 3):
    """`n` adapters of `kind` with random (non-zero) weights over the tiny policy copied into the run dir as
    "base"; the third adapter also targets o_proj, so the adapters do not all touch the same layers."""
    import shutil

    from peft import LoraConfig, get_peft_model

    shutil.copytree(tiny_policy_dir, root / "base")
    for i in range(n):
        targets = LORA_KINDS[kind]["target_modules"] + (["o_proj"] if i == 2 else [])
        config = LoraConfig(
            r=2, lora_alpha=4, task_type="CAUSAL_LM", **{**LORA_KINDS[kind], "target_modules": targets}
        )
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(root / "base"), config)
        g = torch.Generator().manual_seed(40 + i)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:  # adapter weights and saved modules
                    p.add_(0.3 * torch.randn(p.shape, generator=g))
        model.save_pretrained(root / f"a{i}")
        AutoTokenizer.from_pretrained(tiny_policy_dir).save_pretrained(root / f"a{i}")
        cfg = root / f"a{i}" / "adapter_config.json"
        cfg.write_text(cfg.read_text().replace(str(root / "base"), "base"))
    return root


def _merged_one_by_one(root, names):
    """The old computation: each adapter merged into its own copy of the base (merge_and_unload)."""
    from peft import PeftModel

    return [PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(root / "base"), root / n)
            .merge_and_unload().state_dict() for n in names]  # fmt: skip


@pytest.mark.parametrize("kind", list(LORA_KINDS))
def test_lora_soup_on_one_base_equals_interpolating_the_merged_models(
    kind, tiny_policy_dir, tmp_path, monkeypatch
):
    root = _adapter_run(tiny_policy_dir, tmp_path, kind)
    names, lam = ["a0", "a1", "a2"], [0.2, 0.3, 0.5]
    merged = _merged_one_by_one(root, names)
    hand = interpolate_state_dicts(merged, lam)
    loads = _CountLoads(monkeypatch)
    soup = load_policy({"kind": "soup", "checkpoints": names, "coefficients": lam}, root)
    assert loads.n == 1  # one base, three adapters on it
    got = soup.model.state_dict()
    assert got.keys() == hand.keys()
    changed = [k for k in hand if not all(torch.equal(merged[0][k], m[k]) for m in merged)]
    assert any("o_proj" in k for k in changed) and any("v_proj" in k or "norm" in k for k in changed)
    for key, value in hand.items():
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-6)
    vertex = load_policy({"kind": "soup", "checkpoints": names, "coefficients": [0.0, 1.0, 0.0]}, root)
    for key, value in vertex.model.state_dict().items():  # a vertex is that specialist as loaded, to the bit
        torch.testing.assert_close(value, merged[1][key], rtol=0, atol=0)
    # the explorer's mixer: plain LoRA re-scaled on one base, the others from the merged layers' versions
    mixer, _ = load_soup_mixer([root / n for n in names], root)
    assert type(mixer).__name__ == ("AdapterSoupMixer" if kind == "lora" else "SoupMixer")
    ids = torch.tensor([[4, 5, 6, 7, 8]])
    with torch.no_grad():
        expected = soup.model(input_ids=ids).logits
        mixer.mix([0.5, 0.5, 0.0])  # a slider move first: the re-mix must not depend on the previous lambda
        torch.testing.assert_close(mixer.mix(lam)(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)


def test_lora_mixer_holds_no_copy_of_the_base(tiny_policy_dir, tmp_path):
    root = _adapter_run(tiny_policy_dir, tmp_path, "lora")
    mixer, _ = load_soup_mixer([root / f"a{i}" for i in range(3)], root)
    model = mixer.mix([0.0, 1.0, 0.0])
    base = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(root / "base").parameters())
    adapters = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert sum(p.numel() for p in model.parameters()) == base + adapters  # one base plus the three adapters
    assert model.base_model.active_adapters == ["specialist-1"]  # weight 0: not run


def test_soup_refuses_mixed_kinds_and_bases(tiny_policy_dir, two_models, tmp_path):
    import shutil

    root = _adapter_run(tiny_policy_dir, tmp_path, "lora", n=2)
    shutil.copytree(two_models / "m0", root / "full")
    with pytest.raises(PolicyLoadError, match=r"mix LoRA adapters and full models"):
        load_policy({"kind": "soup", "checkpoints": ["a0", "full"], "coefficients": [0.5, 0.5]}, root)
    cfg = root / "a1" / "adapter_config.json"
    shutil.copytree(root / "base", root / "base2")
    cfg.write_text(cfg.read_text().replace('"base"', '"base2"'))
    with pytest.raises(PolicyLoadError, match=r"trained on different base models"):
        load_policy({"kind": "mixture", "checkpoints": ["a0", "a1"], "weights": [0.5, 0.5]}, root)


class _Spy:
    """A specialist that records the shape of the logits it was asked for."""

    def __init__(self, model):
        self.model, self.shapes = model, []

    def __call__(self, **inputs):
        out = self.model(**inputs)
        self.shapes.append(tuple(out.logits.shape))
        return out


def test_mod_asks_other_specialists_for_the_last_position_only(two_models):
    tok = AutoTokenizer.from_pretrained(two_models / "m0")
    m0, m1 = (AutoModelForCausalLM.from_pretrained(two_models / f"m{i}").eval() for i in range(2))
    spy = _Spy(m1)
    policy = MixturePolicy([m0, spy], tok, {}, weights=[0.6, 0.4])
    policy.generate(["a b c d e f", "d"], GenerationSettings(max_new_tokens=4, do_sample=False))
    vocab = m1.config.vocab_size
    assert spy.shapes and all(shape == (2, 1, vocab) for shape in spy.shapes)  # never (B, T_prompt, V)


def test_mod_loads_only_weighted_specialists_and_adapters_on_one_base(tiny_policy_dir, tmp_path, monkeypatch):
    from peft import PeftModel

    from pareto_align.models.adapters import AdapterSpecialist

    root = _adapter_run(tiny_policy_dir, tmp_path, "lora")
    names = ["a0", "a1", "a2"]
    merged = [AutoModelForCausalLM.from_pretrained(root / "base").eval() for _ in names]
    for model, sd in zip(merged, _merged_one_by_one(root, names), strict=True):
        model.load_state_dict(sd)
    tok = AutoTokenizer.from_pretrained(root / "a0")
    prompts, settings = ["a b", "c d e", "f"] * 2, GenerationSettings(max_new_tokens=6, do_sample=False)
    w = [0.5, 0.0, 0.5]
    loads = _CountLoads(monkeypatch)
    policy = load_policy({"kind": "mixture", "checkpoints": names, "weights": w}, root)
    assert loads.n == 1 and policy.models[1] is None  # one base; the weight-0 specialist is not loaded
    assert all(isinstance(m, AdapterSpecialist) for m in (policy.models[0], policy.models[2]))
    assert isinstance(policy.model, PeftModel) and set(policy.model.peft_config) == {
        "default",
        "specialist-1",
    }
    old = MixturePolicy(merged, tok, {}, weights=w)  # the old computation: merged copies of every specialist
    assert policy.generate(prompts, settings).responses == old.generate(prompts, settings).responses
    enc = tok(["a b c", "d"], return_tensors="pt", padding=True, padding_side="left")
    with torch.no_grad():
        scores = merged[0](**enc).logits[:, -1]
        new = MixtureLogitsProcessor(0.5, [(policy.models[2], 0.5)], enc["attention_mask"])(
            enc["input_ids"], scores
        )
        ref = MixtureLogitsProcessor(0.5, [(merged[2], 0.5)], enc["attention_mask"])(enc["input_ids"], scores)
    torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-5)
    assert policy.model.active_adapter == "default"  # the driver's adapter is restored after the others ran
    vertex = load_policy({"kind": "mixture", "checkpoints": names, "weights": [0.0, 0.0, 1.0]}, root)
    alone = load_policy({"kind": "checkpoint", "path": "a2"}, root)
    assert not isinstance(
        vertex.model, PeftModel
    )  # one specialist alone is merged: it samples as the specialist
    sampled = GenerationSettings(max_new_tokens=6)
    assert (
        vertex.generate(prompts, sampled, seed=3).responses
        == alone.generate(prompts, sampled, seed=3).responses
    )


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


def test_memory_benchmark_dry_mode(tmp_path):
    """experiments/bench_soup_mod_memory.py on a tiny Qwen2, its cases in this process and one in a child (the
    real run takes minutes; this keeps the script from rotting)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "bench_soup_mod_memory.py"
    spec = importlib.util.spec_from_file_location("bench_soup_mod_memory", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    setup = bench.build_run(tmp_path, "float32", dry=True)
    assert setup["adapter_parameters"] > 0 and setup["shape"] == bench.TINY
    for case in bench.CASES:
        result = bench.run_case(case, tmp_path, new_tokens=3, repeats=1)
        assert result["generated_tokens"] > 0
        assert result["peak_rss_mb"] >= result["rss_after_imports_mb"] > 0
    speed = bench.run_speed(tmp_path, new_tokens=2, repeats=1)
    assert speed["mod_over_copies"] > 0 and speed["mod_over_model"] > 0
    child = bench.measure("soup", tmp_path, "--new-tokens", "2")
    assert child["case"] == "soup" and child["generated_tokens"] > 0


def test_soup_arithmetic_edges_on_hand_tensors(tmp_path):
    """Coefficients, integer buffers, dtypes, the running soup, the mixer and lazy checkpoints on hand-made tensors
    (what mutation testing found unchecked)."""
    import json

    from safetensors.torch import save_file

    from pareto_align.soups import (
        RunningSoup,
        SafetensorsCheckpoint,
        SoupMixer,
        check_coefficients,
        interpolate_into,
        weighted_sum,
    )

    def message(call) -> str:
        with pytest.raises(ValueError) as err:
            call()
        return str(err.value)

    need = "need one coefficient per checkpoint: "
    assert message(lambda: check_coefficients([], 0)) == need + "0 checkpoints, 0 coefficients"
    assert message(lambda: check_coefficients([0.5, 0.5], 3)) == need + "3 checkpoints, 2 coefficients"
    simplex = "soup coefficients must be non-negative and sum to 1, got "
    assert message(lambda: check_coefficients([0.5, 0.6], 2)) == simplex + "[0.5, 0.6]"
    assert message(lambda: check_coefficients([1.5, -0.5], 2)) == simplex + "[1.5, -0.5]"
    check_coefficients([1.0, 0.0], 2)  # a vertex
    check_coefficients([0.5, 0.5 + 1e-7], 2)  # round-off
    # state dicts: integer buffers from the first, floats interpolated in their own dtype
    a = {"n": torch.tensor([3]), "w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16)}
    b = {"n": torch.tensor([5]), "w": torch.tensor([3.0, 6.0], dtype=torch.bfloat16)}
    soup = interpolate_state_dicts([a, b], [0.25, 0.75])
    assert (
        soup["n"].tolist() == [3] and soup["w"].dtype == torch.bfloat16 and soup["w"].tolist() == [2.5, 5.0]
    )
    extra = {**a, **{name: torch.zeros(1) for name in "pqrs"}}
    assert message(lambda: interpolate_state_dicts([a, b, extra], [0.2, 0.3, 0.5])) == (
        "checkpoint 2 has different parameters from checkpoint 0 (e.g. ['p', 'q', 'r'])")  # fmt: skip
    # the running soup copies a first version its caller may reuse, and is None when every version is the same
    running, version = RunningSoup(torch.float32), torch.tensor([1.0])
    running.add(version, 0.5)
    version.fill_(2.0)
    running.add(torch.tensor([1.0]), 0.5)
    assert running.result() is None
    rounded = RunningSoup(torch.bfloat16)
    for c in (0.3, 0.7):
        rounded.add(
            torch.tensor([0.1]), c
        )  # 0.3 x + 0.7 x in float32 need not be x: the model's tensor stays
    assert rounded.result() is None
    running = RunningSoup(torch.float32)
    for v, c in ((1.0, 0.25), (3.0, 0.75)):
        running.add(torch.tensor([v]), c)
    assert running.result().tolist() == [2.5]
    rounded = RunningSoup(torch.bfloat16)  # each version first as the model would load it: in its dtype
    for v, c in ((0.1, 1.0), (0.3, 0.0)):
        rounded.add(torch.tensor([v]), c)
    assert rounded.result().tolist() == [torch.tensor(0.1).bfloat16().item()] != [torch.tensor(0.1).item()]
    assert interpolate_state_dicts([a], [1.0])["w"].tolist() == [1.0, 2.0]  # one checkpoint
    with pytest.raises(ValueError, match="longer than argument 1"):  # a version missing is no soup
        weighted_sum([torch.ones(1)], [0.5, 0.5])

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("count", torch.tensor([3]))  # first in the state dict
            self.linear = torch.nn.Linear(2, 1)

    def checkpoint(count, weight, bias):
        return {"count": torch.tensor([count]), "linear.weight": torch.tensor([weight]),
                "linear.bias": torch.tensor([bias])}  # fmt: skip

    # lazy checkpoints: one file, and shards with their index
    save_file(checkpoint(7, [1.0, 2.0], 0.5), tmp_path / "model.safetensors")
    c0 = SafetensorsCheckpoint(tmp_path)
    shards = checkpoint(9, [3.0, 4.0], 0.5)
    (tmp_path / "sharded").mkdir()
    save_file({"linear.weight": shards.pop("linear.weight")}, tmp_path / "sharded" / "s1.safetensors")
    save_file(shards, tmp_path / "sharded" / "s2.safetensors")
    weight_map = {
        "linear.weight": "s1.safetensors",
        "count": "s2.safetensors",
        "linear.bias": "s2.safetensors",
    }
    (tmp_path / "sharded" / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    c1 = SafetensorsCheckpoint(tmp_path / "sharded")
    assert (len(c0), sorted(c1), c1["linear.weight"].tolist()) == (3, sorted(weight_map), [[3.0, 4.0]])
    # into a model: the integer buffer and the tensor equal in both are left as the model holds them
    model = Tiny()
    bias = model.linear.bias.detach().clone()
    interpolate_into(model, [c0, c1], [0.5, 0.5])
    assert model.count.tolist() == [3] and torch.equal(model.linear.bias, bias)
    assert model.linear.weight.tolist() == [[2.0, 3.0]]
    short = [checkpoint(7, [1.0, 2.0], 0.5), {"count": torch.tensor([1])}]
    assert message(lambda: interpolate_into(model, short, [0.5, 0.5])) == (
        "checkpoint 1 does not match the model's parameters (e.g. ['linear.weight', 'linear.bias'])")  # fmt: skip
    extra = {**checkpoint(7, [1.0, 2.0], 0.5), **{name: torch.zeros(1) for name in "abcd"}}
    assert message(lambda: interpolate_into(model, [extra, c1], [0.5, 0.5])) == (
        "checkpoint 0 does not match the model's parameters (e.g. ['a', 'b', 'c'])")  # fmt: skip
    # the mixer holds (in the model's dtype) only what differs: here the bias, not the weight before it
    assert message(lambda: SoupMixer.from_checkpoints(model, [])) == "a soup needs at least one checkpoint"
    model = Tiny().to(torch.bfloat16)
    mixer = SoupMixer.from_checkpoints(
        model, [checkpoint(7, [1.0, 2.0], 1.0), checkpoint(9, [1.0, 2.0], 3.0)]
    )
    assert [(t is model.linear.bias, s.dtype, s.tolist()) for t, s in mixer.stacked] == [
        (True, torch.bfloat16, [[1.0], [3.0]])
    ]
    mixer.mix([0.25, 0.75])
    assert model.linear.bias.tolist() == [2.5] and model.count.tolist() == [3]
