"""Objectives scored by what users bring (pareto_align/scorers): reward functions, sequence classifiers (one output
and several, with and without a chat template), a reward server on loopback, and the composite that assembles them;
every bad input gets one line naming the objective's field."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import reward_fns
import torch
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.config import ConfigError, load_config, parse_config
from pareto_align.errors import ScorerError
from pareto_align.scorers.classifier import load_classifier, release_classifiers
from pareto_align.scorers.composite import build_scorer
from pareto_align.scorers.function import FunctionScorer
from pareto_align.scorers.remote import RemoteScorer
from pareto_align.scorers.specs import FunctionSpec, RemoteSpec, RewardModelSpec, describe

TESTS = Path(__file__).parent
PROMPTS = ["say a b", "say c", "say d e f"]
RESPONSES = [" a b", " c c d", " d e f g"]


def fn(name: str) -> FunctionSpec:
    spec = FunctionSpec(function=f"reward_fns:{name}")
    spec.resolve(None)
    return spec


# ---------------------------------------------------------------------------------------------- functions
def test_function_called_once_per_batch_with_the_objective_and_trl_completions():
    reward_fns.CALLS.clear()
    scorer = FunctionScorer(fn("n_words"), "length", "objectives[1].scorer")
    out = scorer.score(PROMPTS, RESPONSES)
    assert out.shape == (3, 1) and out[:, 0].tolist() == [2.0, 3.0, 4.0]
    assert reward_fns.CALLS == [
        {"n": 3, "objective": "length"}
    ]  # one call for the batch, not one per response


def test_conversational_completions_reach_the_function_as_assistant_messages():
    seen = {}

    def record(prompts, completions, **kwargs):
        seen["completions"] = completions
        return [1.0] * len(completions)

    scorer = FunctionScorer(fn("n_words"), "x", "objectives[0].scorer")
    scorer.fn = record
    scorer.score([[{"role": "user", "content": "hi"}]], ["hello there"])
    assert seen["completions"] == [[{"role": "assistant", "content": "hello there"}]]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("raises_on_b", "objectives[1].scorer.function: reward_fns:raises_on_b raised ValueError: cannot score 'b' "
                        "(first failing row 0: prompt 'say a b', completion 'a b')"),
        ("one_short", "objectives[1].scorer.function: reward_fns:one_short returned 2 values for 3 completions"),
        ("returns_none", "objectives[1].scorer.function: reward_fns:returns_none returned None; expected a list of "
                         "3 floats"),
        ("returns_nan", "objectives[1].scorer.function: reward_fns:returns_nan returned nan at row 0; rewards must "
                        "be finite"),
        ("returns_inf", "objectives[1].scorer.function: reward_fns:returns_inf returned inf at row 2; rewards must "
                        "be finite"),
    ],
)  # fmt: skip
def test_a_function_that_answers_wrongly_is_named_in_one_line(name, message):
    with pytest.raises(ScorerError) as err:
        FunctionScorer(fn(name), "length", "objectives[1].scorer").score(PROMPTS, RESPONSES)
    assert str(err.value) == message


def test_first_failing_row_is_the_first_that_raises_alone():
    with pytest.raises(ScorerError, match=r"first failing row 1: prompt 'say d', completion 'b c'"):
        FunctionScorer(fn("raises_on_b"), "x", "w").score(["say c", "say d"], [" c", " b c"])


def test_function_not_found_or_not_callable():
    with pytest.raises(ValueError, match="module 'no_such_module_xyz' not found"):
        FunctionSpec(function="no_such_module_xyz:f").resolve(None)
    with pytest.raises(ScorerError, match=r"w\.function: reward_fns has no attribute 'nope'"):
        FunctionScorer(fn("nope"), "x", "w")
    with pytest.raises(ScorerError, match=r"w\.function: reward_fns:NOT_CALLABLE is not callable"):
        FunctionScorer(fn("NOT_CALLABLE"), "x", "w")
    with pytest.raises(ValueError, match="expected 'package.module:name'"):
        FunctionSpec(function="reward_fns")


def test_file_function_resolves_against_the_yaml_and_its_source_hash_is_the_config_hash(
    tmp_path, benchmark_cache
):
    source = tmp_path / "my_rewards.py"
    source.write_text("def short(prompts, completions, **kw):\n    return [-len(c) for c in completions]\n")
    config = tiny_sweep_dict(benchmark_cache)
    config["objectives"][1]["scorer"] = {"function": "my_rewards.py:short"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    first = load_config(path)
    described = describe(first.objectives[1].scorer)
    assert described["file"] == str(source.resolve()) and len(described["sha256"]) == 64
    scorer = FunctionScorer(first.objectives[1].scorer, "length", "w")
    assert scorer.score(["p"], [" abc"])[0, 0].item() == -3.0  # TRL's completion: no leading space
    before = first.config_hash()
    assert load_config(path).config_hash() == before
    source.write_text(source.read_text() + "# edited\n")
    assert load_config(path).config_hash() != before  # an edited function is a new config


# ---------------------------------------------------------------------------------------------- classifiers
@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """Local sequence classifiers: three labelled outputs with a chat template; one output without a template."""
    from pareto_align.models.standin import save_standin_classifier

    root = tmp_path_factory.mktemp("classifiers")
    release_classifiers()
    yield {
        "multi": str(save_standin_classifier(root / "multi", labels=["helpful", "harmless", "verbose"])),
        "single": str(save_standin_classifier(root / "single", family="llama3", chat_template=False, seed=1)),
    }
    release_classifiers()


def _plain_forward(path: str, texts: list[str], special: bool) -> torch.Tensor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    model.config.pad_token_id = tok.pad_token_id
    with torch.no_grad():
        rows = [model(**tok([t], add_special_tokens=special, return_tensors="pt")).logits[0] for t in texts]
    return torch.stack(rows)  # one row at a time: no padding at all


def test_classifier_scores_with_its_chat_template_and_equals_a_plain_forward(classifiers):
    scorer = load_classifier(
        RewardModelSpec(model=classifiers["multi"], output="harmless"), "w", "cpu", "float32"
    )
    assert scorer.chat and scorer.labels == ["helpful", "harmless", "verbose"]
    texts, special = scorer.texts(PROMPTS, RESPONSES)
    assert texts[0].startswith("<|im_start|>system") and "<|im_start|>user\nsay a b<|im_end|>" in texts[0]
    assert "<|im_start|>assistant\na b<|im_end|>" in texts[0] and not special
    torch.testing.assert_close(
        scorer.score(PROMPTS, RESPONSES), _plain_forward(classifiers["multi"], texts, False)
    )


def test_classifier_without_template_scores_plain_text(classifiers):
    scorer = load_classifier(RewardModelSpec(model=classifiers["single"]), "w", "cpu", "float32")
    texts, special = scorer.texts(PROMPTS, RESPONSES)
    assert not scorer.chat and texts == ["say a b a b", "say c c c d", "say d e f d e f g"] and special
    torch.testing.assert_close(
        scorer.score(PROMPTS, RESPONSES), _plain_forward(classifiers["single"], texts, True)
    )


def test_one_forward_serves_every_objective_that_names_a_model(classifiers):
    specs = [RewardModelSpec(model=classifiers["multi"], output="helpful"),
             RewardModelSpec(model=classifiers["multi"], output=2),
             RewardModelSpec(model=classifiers["single"])]  # fmt: skip
    scorer = build_scorer(specs, ["helpful", "verbose", "other"], ["max", "min", "max"], ["a", "b", "c"],
                          heads=_no_heads, gold=None, device="cpu", dtype="float32")  # fmt: skip
    multi = load_classifier(specs[0], "a", "cpu", "float32")
    forwards = []
    hook = multi.model.register_forward_hook(lambda *args: forwards.append(1))
    try:
        out = scorer.score(PROMPTS, RESPONSES)
    finally:
        hook.remove()
    assert (
        len(forwards) == 1
    )  # batch_size 16 > 3 responses: one forward of the shared model for two objectives
    raw = multi.score(PROMPTS, RESPONSES)
    torch.testing.assert_close(out[:, 0], raw[:, 0])
    torch.testing.assert_close(out[:, 1], -raw[:, 2])  # direction: min, negated once
    torch.testing.assert_close(
        out[:, 2], load_classifier(specs[2], "c", "cpu", "float32").score(PROMPTS, RESPONSES)[:, 0]
    )


def _no_heads():
    raise AssertionError("no objective is scored by the reward model's heads: it must not be built")


def test_classifier_errors_name_the_field(classifiers, tiny_policy_dir, tmp_path):
    with pytest.raises(ScorerError, match=r"^objectives\[0\]\.scorer\.model: .*/missing does not exist$"):
        load_classifier(RewardModelSpec(model=str(tmp_path / "missing")), "objectives[0].scorer", "cpu", None)
    with pytest.raises(ScorerError, match=r"objectives\[0\]\.scorer\.model: .* is not a sequence classifier "
                                          r"\(architectures: LlamaForCausalLM\)"):  # fmt: skip
        load_classifier(RewardModelSpec(model=tiny_policy_dir), "objectives[0].scorer", "cpu", None)
    multi = RewardModelSpec(model=classifiers["multi"])
    for output, message in [(None, r"has 3 outputs \(labels: helpful, harmless, verbose\); say which one"),
                            (3, "index 3 is out of range"), ("honest", "unknown label 'honest'")]:  # fmt: skip
        scorer = build_scorer([multi.model_copy(update={"output": output})], ["x"], ["max"],
                              ["objectives[1].scorer"], heads=_no_heads, gold=None, device="cpu", dtype=None)  # fmt: skip
        with pytest.raises(ScorerError, match=r"^objectives\[1\]\.scorer\.output: .*" + message):
            scorer.score(PROMPTS, RESPONSES)
    custom = RewardModelSpec(model=classifiers["single"], output_field="rewards")
    with pytest.raises(
        ScorerError, match=r"output_field: .* has no tensor output 'rewards'; its outputs: \['logits'\]"
    ):
        load_classifier(custom, "objectives[2].scorer", "cpu", None).score(PROMPTS, RESPONSES)


# ---------------------------------------------------------------------------------------------- reward server
class _RewardServer:
    """A reward server on loopback speaking OpenRLHF's protocol; `mode` picks its behaviour."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "ok"
        self.failures_left = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.failures_left:
                    server.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                n = len(body["query"])
                answer = {
                    "ok": {"rewards": [float(len(q)) for q in body["query"]]},
                    "lists": {"rewards": [[float(len(q)), -1.0] for q in body["query"]]},
                    "short": {"rewards": [0.0] * (n - 1)},
                    "scores": {"scores": [0.0] * n},
                }[server.mode]
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/get_reward"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def reward_server():
    server = _RewardServer()
    yield server
    server.close()


def test_reward_server_is_called_in_batches_with_the_openrlhf_query(reward_server):
    scorer = RemoteScorer(RemoteSpec(url=reward_server.url, batch_size=2), "objectives[0].scorer")
    out = scorer.score(PROMPTS, RESPONSES)
    assert [len(r["query"]) for r in reward_server.requests] == [2, 1]
    assert reward_server.requests[0]["query"] == ["say a b a b", "say c c c d"]
    assert (
        reward_server.requests[0]["prompts"] == PROMPTS[:2]
        and reward_server.requests[1]["responses"] == RESPONSES[2:]
    )
    assert out[:, 0].tolist() == [float(len(p + r)) for p, r in zip(PROMPTS, RESPONSES, strict=True)]


def test_reward_server_retries_a_failing_answer_then_scores(reward_server):
    reward_server.failures_left = 1
    scorer = RemoteScorer(RemoteSpec(url=reward_server.url, retries=2), "w")
    assert scorer.score(PROMPTS[:1], RESPONSES[:1])[0, 0].item() == len(PROMPTS[0] + RESPONSES[0])
    assert len(reward_server.requests) == 2


def test_reward_server_lists_need_an_output(reward_server):
    reward_server.mode = "lists"
    spec = RemoteSpec(url=reward_server.url)
    with pytest.raises(
        ScorerError, match=r"^objectives\[0\]\.scorer\.output: .* answers 2 rewards per response"
    ):
        build_scorer([spec], ["x"], ["max"], ["objectives[0].scorer"], heads=_no_heads, gold=None, device="cpu",
                     dtype=None).score(PROMPTS, RESPONSES)  # fmt: skip
    out = build_scorer([spec.model_copy(update={"output": 1})], ["x"], ["min"], ["objectives[0].scorer"],
                       heads=_no_heads, gold=None, device="cpu", dtype=None).score(PROMPTS, RESPONSES)  # fmt: skip
    assert out[:, 0].tolist() == [1.0, 1.0, 1.0]  # -(-1): direction min


@pytest.mark.parametrize(("mode", "message"), [
    ("short", r"answered 2 rewards for 3 responses; expected \{\"rewards\": \[3 numbers\]\}"),
    ("scores", r"answered an object with keys \['scores'\] for 3 responses"),
])  # fmt: skip
def test_reward_server_answering_another_shape_is_named(reward_server, mode, message):
    reward_server.mode = mode
    with pytest.raises(
        ScorerError, match=r"^objectives\[2\]\.scorer\.url: http://127\.0\.0\.1:\d+/get_reward " + message
    ):
        RemoteScorer(RemoteSpec(url=reward_server.url), "objectives[2].scorer").score(PROMPTS, RESPONSES)


def test_reward_server_that_does_not_answer():
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = RemoteSpec(url=f"http://127.0.0.1:{port}/r", retries=1, timeout=0.5)
    with pytest.raises(
        ScorerError, match=rf"^w\.url: no answer from http://127\.0\.0\.1:{port}/r after 2 tries: "
    ):
        RemoteScorer(spec, "w").score(PROMPTS, RESPONSES)


# ---------------------------------------------------------------------------------------------- config
def _config(benchmark_cache, **objective_scorers) -> dict:
    config = tiny_sweep_dict(benchmark_cache)
    for o in config["objectives"]:
        if o["name"] in objective_scorers:
            o["scorer"] = objective_scorers[o["name"]]
    return config


@pytest.mark.parametrize(("scorer", "message"), [
    ({"modle": "x"}, "objectives[1].scorer: expected 'reward_model', 'gold', or a mapping with one of 'model'"),
    ("head", "objectives[1].scorer: expected 'reward_model', 'gold', or a mapping"),
    ({"model": "x", "outptu": 1}, "objectives[1].scorer.outptu: unknown field"),
    ({"url": "localhost:8000"}, "objectives[1].scorer.url: expected an http:// or https:// address"),
    ({"function": "reward_fns"}, "objectives[1].scorer.function: expected 'package.module:name'"),
    ({"model": "x", "batch_size": 0}, "objectives[1].scorer.batch_size: Input should be greater than or equal to 1"),
])  # fmt: skip
def test_bad_scorer_specs_name_the_field(benchmark_cache, scorer, message):
    with pytest.raises(ConfigError) as err:
        parse_config(_config(benchmark_cache, length=scorer), source="c.yaml")
    assert str(err.value).startswith("c.yaml: " + message), str(err.value)


def test_judges_and_prompts_source_are_checked(benchmark_cache, tmp_path):
    config = _config(benchmark_cache)
    config["evaluation"] = {"judges": {"helpfull": {"function": "reward_fns:n_words"}}}
    with pytest.raises(ConfigError, match=r"evaluation\.judges: unknown objective\(s\) \['helpfull'\]"):
        parse_config(config, source="c.yaml")
    (tmp_path / "p.txt").write_text("hello\n")
    files = {"policy": {"model": "m"}, "objectives": [{"name": "a", "scorer": {"function": "reward_fns:n_words"}},
                                                       {"name": "b"}], "reference_point": [0, 0],
             "weights": {"kind": "explicit", "weights": [[1.0, 0.0]]},
             "data": {"source": "prompts", "prompts": {"path": str(tmp_path / "p.txt")},
                      "eval_prompts": str(tmp_path / "p.txt")}}  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"objectives\[1\]\.scorer: data\.source 'prompts' labels its pairs"
    ):
        parse_config(files, source="c.yaml")
    files["objectives"][1]["scorer"] = "gold"
    with pytest.raises(ConfigError, match=r"objectives\[1\]: scorer: 'gold' needs the objective's `gold`"):
        parse_config(files, source="c.yaml")


def test_a_function_module_that_is_not_there_stops_the_sweep_before_anything(
    tmp_path, benchmark_cache, capsys
):
    config = _config(benchmark_cache, length={"function": "no_such_rewards:n_words"})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}: objectives[1].scorer.function: module 'no_such_rewards' not found (is it "
                   "installed, or on PYTHONPATH?)")  # fmt: skip
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_function_that_raises_stops_the_sweep_before_training(tmp_path, benchmark_cache, capsys):
    """The dry call on two responses sampled from the base policy, at sweep start: nothing is trained."""
    config = _config(benchmark_cache, length={"function": "reward_fns:returns_none"})
    config["evaluation"] = {"scorer": "objectives", "samples_per_prompt": 2, "max_prompts": 2}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    assert cli.main(["sweep", str(path), "--output-dir", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {path}: objectives[1].scorer.function: reward_fns:returns_none returned None; expected "
                   "a list of 2 floats"]  # fmt: skip
    assert not (run_dir / "reward_model").exists() and not (run_dir / "points").exists()
