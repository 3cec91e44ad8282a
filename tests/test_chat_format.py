"""Prompt formats on instruct stand-ins (models/chat.py): `data.prompt_format` resolved against the base tokenizer,
plain files (PKU-SafeRLHF shape) wrapped as messages so they mix with conversational ones (UltraFeedback shape),
and the same model input in training, PAR references, evaluation, `load_policy` and the explorer."""

from __future__ import annotations

import pytest
import yaml
from transformers import AutoTokenizer

from pareto_align import cli
from pareto_align.config import ConfigError
from pareto_align.data.examples import pku_rows, ultrafeedback_rows, write_jsonl
from pareto_align.data.formats import DataError, DataFileConfig
from pareto_align.data.loading import load_preference_files
from pareto_align.front import read_front
from pareto_align.models import generation
from pareto_align.models.chat import as_chat_completion, as_chat_prompt, model_prompt, resolve_prompt_format
from pareto_align.models.policy import load_policy

HI = [{"role": "user", "content": "Hi there?"}]


class _Objective:
    def __init__(self, name: str) -> None:
        self.name, self.direction = name, "max"


OBJECTIVES = [_Objective("helpful"), _Objective("harmless")]


def _files(tmp_path, n: int = 24) -> tuple[DataFileConfig, DataFileConfig]:
    """UltraFeedback-shaped pairs for `helpful` (conversational), PKU-shaped labels for `harmless` (plain)."""
    uf = write_jsonl(ultrafeedback_rows(n), tmp_path / "uf.jsonl")
    pku = write_jsonl(pku_rows(n, seed=1), tmp_path / "pku.jsonl")
    return (DataFileConfig(path=uf, format="pairwise", objective="helpful"),
            DataFileConfig(path=pku, format="per_objective_labels", labels={"harmless": "safer_response_id"}))  # fmt: skip


def standin_sweep(tmp_path, model: str, method: dict, n_rows: int = 24, **overrides) -> dict:
    """A sweep on a stand-in with UltraFeedback- and PKU-shaped files, sized to run in seconds."""
    uf, pku = _files(tmp_path, n_rows)
    config = {
        "name": "chat",
        "objectives": [{"name": "helpful"}, {"name": "harmless"}],
        "reference_point": [-20.0, -20.0],
        "data": {"source": "files", "files": [uf.model_dump(mode="json", exclude_none=True),
                                              pku.model_dump(mode="json", exclude_none=True)]},  # fmt: skip
        "policy": {"model": model},
        "reward_model": {"max_length": 96, "training": {"num_train_epochs": 1, "per_device_train_batch_size": 16}},
        "weights": {"kind": "explicit", "weights": [[1.0, 0.0]]},
        "method": method,
        "evaluation": {"scorer": "reward_model", "samples_per_prompt": 2, "max_prompts": 3,
                       "generation": {"max_new_tokens": 6}},
    }  # fmt: skip
    config.update(overrides)
    return config


def run_cli(tmp_path, config: dict) -> tuple[int, object]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    return cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]), run_dir


# ------------------------------------------------------------------------------------------------ resolution
def test_prompt_format_resolved_against_the_tokenizer(standin_dirs, tiny_policy_dir):
    qwen = AutoTokenizer.from_pretrained(standin_dirs["qwen2"])
    words = AutoTokenizer.from_pretrained(tiny_policy_dir)  # word-level, no chat template
    assert resolve_prompt_format("auto", qwen, "q") == "chat"
    assert resolve_prompt_format("auto", words, "w") == "plain"
    assert resolve_prompt_format("plain", qwen, "q") == "plain"
    with pytest.raises(ConfigError, match=r"^data.prompt_format: 'chat' needs a tokenizer with a chat template, "
                                          r"and that of w has none"):  # fmt: skip
        resolve_prompt_format("chat", words, "w")


def test_chat_wraps_plain_texts_as_turns_and_keeps_messages():
    assert as_chat_prompt(" Hi there? ") == HI
    assert as_chat_completion(" Fine.") == [{"role": "assistant", "content": "Fine."}]  # no TRL joining space
    assert as_chat_prompt(HI) == HI and model_prompt(HI, "plain") == HI
    assert model_prompt("Hi there?", "chat") == HI
    assert model_prompt("Hi there?", "plain") == "Hi there?" == model_prompt("Hi there?", None)


# ------------------------------------------------------------------------------------------------ data
def test_plain_and_conversational_files_mix_in_chat(tmp_path):
    files = _files(tmp_path)
    with pytest.raises(DataError, match="texts are plain but those of .* are conversational"):
        load_preference_files(files, OBJECTIVES)  # no format: refused, as before the option
    data = load_preference_files(files, OBJECTIVES, prompt_format="chat")
    pairs = data.pairs.to_list()
    uf_row, pku_row = pairs[0], pairs[-1]
    assert uf_row["objective"] == "helpful" and pku_row["objective"] == "harmless"
    raw = pku_rows(24, seed=1)[-1]
    preferred = raw[f"response_{raw['safer_response_id']}"]
    assert pku_row["prompt"] == [{"role": "user", "content": raw["prompt"]}]
    assert pku_row["chosen"] == [{"role": "assistant", "content": preferred}]
    assert uf_row["prompt"] == [{"role": "user", "content": ultrafeedback_rows(24)[0]["prompt"]}]
    with pytest.raises(DataError, match=r"uf.jsonl: texts are conversational .* prompt format is plain"):
        load_preference_files(files, OBJECTIVES, prompt_format="plain")


# ------------------------------------------------------------------------------------------------ model input
def _rendered(monkeypatch) -> list[str]:
    """What `generate` feeds the tokenizer, recorded."""
    seen: list[str] = []
    real = generation.render_prompts

    def spy(tokenizer, prompts):
        texts, special = real(tokenizer, prompts)
        seen.extend(texts)
        return texts, special

    monkeypatch.setattr(generation, "render_prompts", spy)
    return seen


@pytest.mark.parametrize("family", ["qwen2", "llama3"])
def test_a_loaded_policy_formats_a_typed_prompt_as_its_run_did(standin_dirs, family, monkeypatch, tmp_path):
    """The same checkpoint (its tokenizer carries a template) generates through the template in a chat run and from
    the bare text in a plain run; conditioned policies write their preference after the wrapping."""
    path = standin_dirs[family]
    tok = AutoTokenizer.from_pretrained(path)
    seen = _rendered(monkeypatch)
    for prompt_format, expected in (("chat", tok.apply_chat_template(HI, add_generation_prompt=True, tokenize=False)),
                                    ("plain", "Hi there?")):  # fmt: skip
        handle = {"kind": "checkpoint", "path": path, "hub": True, "prompt_format": prompt_format}
        policy = load_policy(handle, tmp_path)
        seen.clear()
        assert len(policy.generate(["Hi there?"], seed=0).responses) == 1
        assert seen == [expected]
    conditioned = load_policy({"kind": "conditioned", "path": "m", "direction": [0.6, 0.4], "template":
                               "{prompt} <a> {c[0]} <b> {c[1]}", "prompt_format": "chat"}, _saved(tmp_path, path))  # fmt: skip
    assert conditioned.format_prompt("Hi there?") == [{"role": "user", "content": "Hi there? <a> 60 <b> 40"}]


def _saved(tmp_path, path: str):
    """A run directory holding the stand-in as checkpoint `m` (handles other than `hub` live inside a run)."""
    import shutil

    run = tmp_path / "run"
    if not (run / "m").exists():
        shutil.copytree(path, run / "m")
    return run


def test_explorer_sources_carry_the_runs_prompt_format(tmp_path):
    from pareto_align.explorer.live import live_sources
    from pareto_align.front import Point, PolicyHandle

    def point(i, handle):
        return Point(id=f"p{i}", method="soups", values=[0.0, 0.0], stderr=[0.0, 0.0], n_samples=1, weights=[1.0 - i, i],
                     policy=PolicyHandle(**handle))  # fmt: skip

    points = [point(i, {"kind": "soup", "checkpoints": ["a", "b"], "coefficients": [1.0 - i, float(i)],
                        "prompt_format": "chat"}) for i in (0, 1)]  # fmt: skip
    points.append(
        point(0, {"kind": "conditioned", "path": "c", "direction": [1.0, 0.0], "prompt_format": "chat"})
    )
    sources, _ = live_sources(points, points[0], tmp_path, [0.3, 0.7])
    assert {s.kind: s.handle.prompt_format for s in sources} == {"stored": "chat", "soup": "chat",
                                                                        "conditioned": "chat"}  # fmt: skip


def test_par_references_generate_through_the_template(standin_dirs, tmp_path, monkeypatch):
    """PAR's reference responses: the PKU file's plain prompts, read in a chat run, reach the base policy as user
    turns of its template (and the scorer sees the same turns)."""
    from pareto_align.config import parse_config
    from pareto_align.front import FrontTracker, Objective
    from pareto_align.methods import _online
    from pareto_align.workspace import Workspace

    method = {"name": "morlhf", "par": True, "trl": {"max_completion_length": 4}}
    config = parse_config(standin_sweep(tmp_path, standin_dirs["qwen2"], method))
    tracker = FrontTracker([Objective(name="helpful"), Objective(name="harmless")], [-20.0, -20.0])
    ws = Workspace(config, tmp_path / "run", tracker, progress=False, log=lambda *a: None)
    (tmp_path / "run").mkdir()
    prompts = ws.setting.train_prompts()[-3:]  # PKU's, read as user turns
    assert ws.setting.prompt_format == "chat" and all(p[0]["role"] == "user" for p in prompts)
    assert all(isinstance(p, list) for p in ws.setting.eval_prompts)
    scored = []

    class Scorer:
        objective_names = ["helpful", "harmless"]

        def score(self, prompts, responses):
            import torch

            scored.extend(zip(prompts, responses, strict=True))
            return torch.zeros(len(prompts), 2)

    seen = _rendered(monkeypatch)
    ref = _online.reference_rewards(ws, config.method, prompts, Scorer())
    assert ref.shape == (3, 2)
    tok = AutoTokenizer.from_pretrained(standin_dirs["qwen2"])
    assert seen == [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    assert [p for p, _ in scored] == prompts and all(not r.startswith(" ") for _, r in scored)


# ------------------------------------------------------------------------------------------------ sweeps
@pytest.mark.slow
def test_sweep_mixes_pku_and_ultrafeedback_in_chat_format(standin_dirs, tmp_path):
    """One objective from UltraFeedback-shaped pairs, one from PKU-shaped labels: refused before the option, now
    trained (reward model, MODPO) and evaluated in the chat format, recorded in the front and every handle."""
    method = {"name": "modpo", "trl": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 96}}
    code, run_dir = run_cli(tmp_path, standin_sweep(tmp_path, standin_dirs["qwen2"], method))
    assert code == 0
    front = read_front(run_dir)
    assert front.provenance["prompt_format"] == "chat"
    handles = [p.policy for p in [*front.baselines, *front.points]]
    assert [h.prompt_format for h in handles] == ["chat", "chat"]
    assert all(s.prompt.startswith("user: ") for s in front.points[0].samples)  # held-out prompts as turns
    policy = load_policy(front.points[0].policy.model_dump(exclude_none=True), run_dir)
    assert policy.format_prompt("Hi there?") == HI


def test_plain_format_refuses_conversational_files_before_training(standin_dirs, tmp_path, capsys):
    config = standin_sweep(tmp_path, standin_dirs["qwen2"], {"name": "modpo"})
    config["data"]["prompt_format"] = "plain"
    code, run_dir = run_cli(tmp_path, config)
    err = capsys.readouterr().err
    assert code == 2 and "uf.jsonl: texts are conversational" in err and "prompt format is plain" in err
    assert not (run_dir / "reward_model").exists() and not (run_dir / "front.json").exists()


def test_chat_format_refused_on_the_builtin_benchmark(tmp_path, benchmark_cache):
    from conftest import tiny_sweep_dict

    from pareto_align.config import parse_config

    config = tiny_sweep_dict(benchmark_cache)
    config["data"]["prompt_format"] = "chat"
    with pytest.raises(ConfigError, match=r"^c.yaml: data.prompt_format: 'chat' needs a chat template"):
        parse_config(config, source="c.yaml")


# ------------------------------------------------------------------------------------------------ DPA/RiC on chat data
DPA_TEMPLATE = "maximize weighted rating = helpful*{c[0]} + harmless*{c[1]} | {prompt}"
RIC_TEMPLATE = "{prompt} <rm1_score> {c[0]} <rm2_score> {c[1]}"


def test_dpa_writes_its_preference_as_a_system_turn_and_ric_after_the_query():
    from pareto_align.models.conditioning import format_conditioned_prompt

    dpa_condition = {"kind": "integer_weights", "scale": 100, "turn": "system"}
    written = format_conditioned_prompt(HI, [0.8, 0.6], DPA_TEMPLATE, dpa_condition)
    assert written == [
        {"role": "system", "content": "maximize weighted rating = helpful*80 + harmless*60"},
        *HI,
    ]
    with_system = [{"role": "system", "content": "You are a helpful assistant."}, *HI]
    assert format_conditioned_prompt(with_system, [0.8, 0.6], DPA_TEMPLATE, dpa_condition) == [
        {"role": "system", "content": "You are a helpful assistant.\n\nmaximize weighted rating = helpful*80 + "
                                      "harmless*60"}, *HI]  # fmt: skip
    # a plain prompt has no turns: the template as before, whatever the turn
    assert format_conditioned_prompt("Hi", [0.8, 0.6], DPA_TEMPLATE, dpa_condition).endswith(
        "harmless*60 | Hi"
    )
    ric_condition = {"kind": "desired_scores", "low": [-1.0, -1.0], "high": [1.0, 2.0]}
    assert format_conditioned_prompt(HI, [0.5, 0.5], RIC_TEMPLATE, ric_condition) == [
        {"role": "user", "content": "Hi there? <rm1_score> 1.0 <rm2_score> 2.0"}]  # fmt: skip


def test_a_condition_with_an_unknown_turn_is_refused():
    from pareto_align.front import PolicyHandle

    with pytest.raises(ValueError, match="unknown condition turn 'assistant'"):
        PolicyHandle(kind="conditioned", path="p", direction=[1.0, 0.0], template=DPA_TEMPLATE,
                     condition={"kind": "integer_weights", "turn": "assistant"})  # fmt: skip


@pytest.mark.slow
def test_completions_of_chat_prompts_are_assistant_turns(standin_dirs, tmp_path, monkeypatch):
    """SFT's completion of a conversational prompt is an assistant turn, whether the response is generated text
    (DPA's kept candidates) or the data's own turns (RiC's offline responses); TRL then trains on exactly the
    assistant's content and its end of turn."""
    from transformers import AutoModelForCausalLM

    from pareto_align.config import parse_config
    from pareto_align.front import FrontTracker, Objective
    from pareto_align.methods import _conditioned
    from pareto_align.workspace import Workspace

    assert _conditioned.completion_for("Hi", "Fine. ") == " Fine."
    assert _conditioned.completion_for(HI, " Fine.") == [{"role": "assistant", "content": "Fine."}]
    turns = [{"role": "assistant", "content": "Sure."}]
    assert _conditioned.completion_for(HI, turns) == turns
    method = {"name": "ric", "trl": {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 64}}
    config = parse_config(standin_sweep(tmp_path, standin_dirs["qwen2"], method))
    tracker = FrontTracker([Objective(name="helpful"), Objective(name="harmless")], [-20.0, -20.0])
    (tmp_path / "run").mkdir()
    ws = Workspace(config, tmp_path / "run", tracker, progress=False, log=lambda *a: None)
    model = AutoModelForCausalLM.from_pretrained(standin_dirs["qwen2"], dtype="float32")
    tok = AutoTokenizer.from_pretrained(standin_dirs["qwen2"])
    captured = {}
    real = _conditioned.SFTTrainer

    def spy(*args, **kwargs):
        trainer = real(*args, **kwargs)
        captured["data"] = trainer.train_dataset
        return trainer

    monkeypatch.setattr(_conditioned, "SFTTrainer", spy)
    _, compute = _conditioned.fine_tune(
        ws, config.method, model, tok, [HI, HI], ["Fine.", turns], "j", "j", 0
    )
    assert compute.policy_updates == 1
    for row, content in zip(captured["data"], ["Fine.", "Sure."], strict=True):
        completion = [t for t in row["labels"] if t != -100]  # what the loss is on
        assert tok.decode(completion) == f"{content}<|im_end|>\n"


SFT_STEPS = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 128, "logging_steps": 1}


@pytest.mark.slow
def test_ric_trains_on_ultrafeedback_and_pku_turns(standin_dirs, tmp_path):
    """RiC on the Qwen2 stand-in: offline responses are the data's assistant turns (UltraFeedback's and PKU's,
    wrapped), the online round's generated texts become assistant turns, and every point loads and writes its
    desired scores after the user's query."""
    method = {"name": "ric", "max_new_tokens": 6, "online_iterations": 1, "online_samples": 4, "trl": SFT_STEPS,
              "online_trl": {"max_steps": 1}}  # fmt: skip
    config = standin_sweep(tmp_path, standin_dirs["qwen2"], method, n_rows=16,
                           weights={"kind": "explicit", "weights": [[1.0, 0.0], [0.0, 1.0]]})  # fmt: skip
    code, run_dir = run_cli(tmp_path, config)
    assert code == 0
    front = read_front(run_dir)
    assert front.compute.shared["ric-s0"].policy_updates == 3  # 2 offline + 1 online step
    for p in front.points:
        handle = p.policy.model_dump(exclude_none=True)
        assert handle["prompt_format"] == "chat" and "turn" not in handle["condition"]
        policy = load_policy(handle, run_dir)
        (turn,) = policy.format_prompt("Hi there?")
        assert turn["role"] == "user" and turn["content"].startswith("Hi there? <rm1_score> ")
        assert len(policy.generate(["Hi there?"], seed=0).responses) == 1


# ------------------------------------------------------------------------------------------------ DPA/RiC vocabulary
@pytest.mark.parametrize("family", ["qwen2", "llama3"])
def test_a_bpe_tokenizer_writes_the_templates_and_gets_no_tokens(standin_dirs, family):
    from transformers import AutoModelForCausalLM

    from pareto_align.methods import _conditioned, dpa, ric
    from pareto_align.models.conditioning import extend_vocabulary, missing_pieces

    model = AutoModelForCausalLM.from_pretrained(standin_dirs[family])
    tok = AutoTokenizer.from_pretrained(standin_dirs[family])
    rows, size = model.get_input_embeddings().weight.shape[0], len(tok)
    assert family != "qwen2" or rows > size  # Qwen's matrix is padded past its tokenizer
    names = ["helpful", "harmless"]
    for template in (dpa.DPASection().default_template(names), ric.RiCSection().default_template(names)):
        texts = _conditioned.vocabulary_texts(template, 2)
        assert missing_pieces(tok, texts) == []
        assert extend_vocabulary(model, tok, texts) == []
    assert (
        len(tok) == size and model.get_input_embeddings().weight.shape[0] == rows
    )  # untouched, never shrunk
    assert model.generation_config.suppress_tokens is None


def _dropping_tokenizer():
    """A BPE tokenizer without an unknown token or byte fallback: characters outside its alphabet (digits, '*')
    are dropped without a trace, so only decoding shows that it cannot write them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.decoder = decoders.BPEDecoder()
    raw.train_from_iterator(["maximize weighted rating helpful harmless = + | a b c"] * 10,
                            trainers.BpeTrainer(vocab_size=60, show_progress=False))  # fmt: skip
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="=", pad_token="=")
    assert tok.unk_token_id is None and tok("helpful*80", add_special_tokens=False)["input_ids"]
    return tok


def test_pieces_a_tokenizer_drops_are_found_by_round_trip_and_embeddings_never_shrink(tiny_policy_dir):
    from transformers import AutoModelForCausalLM

    from pareto_align.models.conditioning import extend_vocabulary, missing_pieces

    tok = _dropping_tokenizer()
    assert missing_pieces(tok, ["helpful*80 + harmless*20 | a"]) == ["*", "80", "20"]
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    model.resize_token_embeddings(len(tok) + 40)  # padded past the tokenizer, as Qwen2.5's matrix is
    before = len(tok)
    assert extend_vocabulary(model, tok, ["helpful*80 + harmless*20 | a"]) == ["*", "80", "20"]
    assert (
        len(tok) == before + 3 and model.get_input_embeddings().weight.shape[0] == before + 40
    )  # not shrunk
    assert missing_pieces(tok, ["helpful*80 + harmless*20 | a"]) == []
    assert model.generation_config.suppress_tokens == list(range(before, before + 3))
    model.resize_token_embeddings(len(tok))  # no padding left: the next pieces grow the matrix
    extend_vocabulary(model, tok, ["b*7"])
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == before + 4


@pytest.mark.slow
def test_lora_dpa_on_the_qwen2_standin_adds_no_token_and_trains_one_adapter(standin_dirs, tmp_path):
    """LoRA + DPA on a real-model tokenizer: accepted (it writes the template), no token added, one adapter trained
    across two rounds, and every point loads with its preference as a system turn and generates."""
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    method = {"name": "dpa", "iterations": 2, "directions_per_prompt": 1, "n": 2, "max_new_tokens": 6,
              "front_angles": 2, "trl": {**SFT_STEPS, "learning_rate": 1e-3}}  # fmt: skip
    config = standin_sweep(tmp_path, standin_dirs["qwen2"], method, n_rows=16, policy={"model": standin_dirs["qwen2"],
                           "lora": lora})  # fmt: skip
    code, run_dir = run_cli(tmp_path, config)
    assert code == 0
    front = read_front(run_dir)
    (path,) = {p.policy.path for p in front.points}
    assert path == "points/dpa-s0/round-02/policy" and (run_dir / path / "adapter_config.json").is_file()
    assert front.compute.shared["dpa-s0"].policy_updates == 4  # 2 rounds x 2 steps on the same adapter
    saved = AutoTokenizer.from_pretrained(run_dir / path)
    assert len(saved) == len(AutoTokenizer.from_pretrained(standin_dirs["qwen2"]))  # nothing added
    for p in front.points:
        assert p.policy.condition == {"kind": "integer_weights", "scale": 100, "turn": "system"}
        policy = load_policy(p.policy.model_dump(exclude_none=True), run_dir)
        system, user = policy.format_prompt("Hi there?")
        w = [round(100 * x) for x in p.direction]
        assert system == {
            "role": "system",
            "content": f"maximize weighted rating = helpful*{w[0]} + harmless*{w[1]}",
        }
        assert user == HI[0]
        assert len(policy.generate(["Hi there?"] * 2, seed=0).responses) == 2


# ------------------------------------------------------------------------------------------------ refused before training
def _no_reward_model_training(monkeypatch) -> list:
    """Calls of the reward model's training, recorded (and never run)."""
    from pareto_align import workspace

    calls = []
    monkeypatch.setattr(workspace, "train_reward_model", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("the reward model was trained before the refusal")))  # fmt: skip
    return calls


def test_lora_dpa_on_a_word_level_tokenizer_is_refused_before_the_reward_model(tmp_path, benchmark_cache,
                                                                               monkeypatch, capsys):  # fmt: skip
    """The refusal needs only the tokenizer, so it comes at sweep start: before the reward model trains (70 s on a
    real run) and before the baseline is evaluated."""
    from conftest import tiny_sweep_dict

    calls = _no_reward_model_training(monkeypatch)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0}
    method = {"name": "ric", "reward_source": "reward_model", "trl": {"max_steps": 1}}
    config = tiny_sweep_dict(benchmark_cache, method=method, policy={"lora": lora})
    config["evaluation"]["scorer"] = "reward_model"
    code, run_dir = run_cli(tmp_path, config)
    err = capsys.readouterr().err
    assert (
        code == 2
        and "policy.lora: the policy's tokenizer lacks" in err
        and len(err.strip().splitlines()) == 1
    )
    assert calls == [] and not (run_dir / "front.json").exists()


def test_chat_format_without_a_template_is_refused_before_training(tmp_path, tiny_policy_dir, monkeypatch,
                                                                   capsys):  # fmt: skip
    calls = _no_reward_model_training(monkeypatch)
    config = standin_sweep(tmp_path, tiny_policy_dir, {"name": "modpo"})  # word-level tokenizer: no template
    config["data"]["prompt_format"] = "chat"
    code, run_dir = run_cli(tmp_path, config)
    err = capsys.readouterr().err
    assert code == 2 and "data.prompt_format: 'chat' needs a tokenizer with a chat template" in err
    assert calls == [] and not (run_dir / "front.json").exists()
