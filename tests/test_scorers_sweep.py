"""Every method with its objectives scored by reward functions on the built-in benchmark: the functions reach
training and evaluation (each stored sample's values are the functions applied to it), no reward model is trained
when no objective needs one, a held-out judge scores the same responses a second time, and front.json records what
scored each objective. Then a run from prompts alone: pairs made from the base policy and the scorers, reproducible
from the same seed, and resumable."""

from __future__ import annotations

import json

import pytest
import reward_fns
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.comparison import load_comparison, run_comparison
from pareto_align.config import load_config
from pareto_align.front import read_front
from pareto_align.models.policy import load_policy
from pareto_align.sweep import run_sweep

TRL = {"max_steps": 2, "max_completion_length": 8, "per_device_train_batch_size": 8, "num_generations": 4,
       "logging_steps": 1}  # fmt: skip
OFFLINE = {"max_steps": 2, "per_device_train_batch_size": 8, "logging_steps": 1}
SFT = {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 128, "logging_steps": 1}
METHODS = {
    "modpo": {"trl": OFFLINE},
    "morlhf": {"history_every": 0, "trl": TRL},
    "dynamic_hv": {"history_every": 0, "every": 1, "samples_per_prompt": 1, "checkpoint_every": 0, "trl": TRL},
    "dynamic_grad": {"history_every": 0, "lam": 1e-3, "checkpoint_every": 0, "trl": TRL},
    "bon": {"n": 2},
    "soups": {"specialists": {"name": "modpo", "trl": OFFLINE}},
    "mod": {"specialists": {"name": "modpo", "trl": OFFLINE}},
    "dpa": {"iterations": 1, "directions_per_prompt": 1, "n": 2, "max_new_tokens": 6, "front_angles": 2, "trl": SFT},
    "ric": {"max_new_tokens": 6, "online_iterations": 1, "online_samples": 4, "trl": SFT},
    "cmorl": {"history_every": 0, "snapshot_every": 2, "samples_per_prompt": 1, "n_select": 1, "rounds": 1,
              "extension_steps": 1, "checkpoint_every": 0, "trl": TRL},
    "panacea": {"rank": 2, "history_every": 0, "trl": TRL},
}  # fmt: skip
SCORED = [{"name": "helpful", "gold": "topic_coverage", "scorer": {"function": "reward_fns:distinct_words"}},
          {"name": "length", "gold": "word_count", "direction": "min", "scorer": {"function": "reward_fns:n_words"}}]  # fmt: skip
EVALUATION = {"scorer": "objectives", "samples_per_prompt": 1, "max_prompts": 4, "n_examples": 4,
              "generation": {"max_new_tokens": 8}, "judges": {"helpful": "gold"}}  # fmt: skip


def _run(tmp_path, config: dict):
    """The sweep through the library (the CLI's figures are not what these tests are about)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    run_sweep(load_config(path), run_dir, config_path=path, progress=False, log=lambda *_: None)
    return run_dir


def _functions(prompt: str, response: str) -> list[float]:
    return [reward_fns.distinct_words([prompt], [response])[0], -reward_fns.n_words([prompt], [response])[0]]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_and_is_evaluated_on_function_scorers(tmp_path, benchmark_cache, method):
    from pareto_align.config import parse_config
    from pareto_align.data.gold import topic_coverage
    from pareto_align.data.synthetic import load_synthetic_benchmark

    config = tiny_sweep_dict(benchmark_cache, objectives=SCORED, evaluation=EVALUATION,
                             method={"name": method, **METHODS[method]},
                             weights={"kind": "explicit", "weights": [[0.5, 0.5]]})  # fmt: skip
    run_dir = _run(tmp_path, config)
    front = read_front(run_dir)
    assert front.points and not (run_dir / "reward_model").exists()  # no objective needs the reward model
    scorers = front.provenance["scorers"]
    assert scorers["objectives"]["length"]["function"] == "reward_fns:n_words"
    assert (
        len(scorers["objectives"]["length"]["sha256"]) == 64
        and scorers["judges"]["helpful"]["kind"] == "gold"
    )
    world = load_synthetic_benchmark(parse_config(config).data.synthetic, cache_dir=benchmark_cache).world
    for point in [*front.points, *front.baselines]:
        assert point.samples and point.judged is not None
        for sample in point.samples:
            assert sample.values == pytest.approx(_functions(sample.prompt, sample.response))
            # the judge re-scores the same response: gold for helpful, the evaluation's own score for length
            assert sample.judged == pytest.approx(
                [topic_coverage(world, sample.prompt, sample.response), sample.values[1]]
            )
    assert (
        front.judged_metrics is not None
        and front.scored_by("judges").points[0].values == front.points[0].judged.values
    )
    if method == "bon":  # the explorer rebuilds a best-of-n policy that ranks by the functions
        policy = load_policy(front.points[0].policy.model_dump(exclude_none=True), run_dir)
        assert [type(c.source).__name__ for c in policy.reward_model.columns] == ["FunctionScorer"] * 2


@pytest.fixture(scope="module")
def prompt_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    (root / "train.txt").write_text("".join(f"say something about {w}\n" for w in "abcdefghij"))
    (root / "eval.txt").write_text("say something short\nsay something long\n")
    return root


def _prompts_config(tiny_policy_dir, prompt_files, cache, **prompts) -> dict:
    return {
        "name": "from-prompts",
        "cache_dir": str(cache),
        "policy": {"model": tiny_policy_dir},
        "objectives": [{"name": "distinct", "scorer": {"function": "reward_fns:distinct_words"}},
                       {"name": "length", "direction": "min", "scorer": {"function": "reward_fns:n_words"}}],
        "reference_point": [0.0, -20.0],
        "data": {"source": "prompts", "eval_prompts": str(prompt_files / "eval.txt"),
                 "prompts": {"path": str(prompt_files / "train.txt"), "responses_per_prompt": 4,
                             "max_new_tokens": 8, **prompts}},
        "weights": {"kind": "explicit", "weights": [[0.5, 0.5]]},
        "method": {"name": "modpo", "trl": {**OFFLINE, "max_length": 64}},
        "evaluation": {"samples_per_prompt": 2, "generation": {"max_new_tokens": 8}},
    }  # fmt: skip


@pytest.mark.slow
def test_pairs_from_prompts_and_scorers_train_modpo_and_reproduce(tmp_path, tiny_policy_dir, prompt_files,
                                                                   benchmark_cache):  # fmt: skip
    config = _prompts_config(tiny_policy_dir, prompt_files, benchmark_cache, labeling="best_worst")
    run_dir = _run(tmp_path / "a", config)
    rows = [json.loads(line) for line in (run_dir / "preference_pairs.jsonl").read_text().splitlines()]
    assert rows and {r["objective"] for r in rows} <= {"distinct", "length"}
    for r in rows:  # best against worst: the chosen response scores higher on its objective
        sign = 1 if r["objective"] == "distinct" else -1
        f = reward_fns.distinct_words if r["objective"] == "distinct" else reward_fns.n_words
        assert sign * f([r["prompt"]], [r["chosen"]])[0] > sign * f([r["prompt"]], [r["rejected"]])[0]
    front = read_front(run_dir)
    base_cost = front.compute.shared["base_responses"]
    assert base_cost.generated_tokens > 0 and front.provenance["scorers"]["evaluation"] == "objectives"
    assert len(list((run_dir / "base_responses").glob("chunk-*.json"))) == 1
    # a run that lost its pairs and its responses (killed while sampling) makes the same ones again on resume
    pairs = (run_dir / "preference_pairs.jsonl").read_text()
    (run_dir / "preference_pairs.jsonl").unlink()
    (run_dir / "base_responses" / "chunk-000000.json").unlink()
    assert (_run(tmp_path / "a", config) / "preference_pairs.jsonl").read_text() == pairs
    # the same seed gives the same pairs in another run directory; another seed other pairs
    again = _run(tmp_path / "b", config)
    assert (again / "preference_pairs.jsonl").read_text() == (run_dir / "preference_pairs.jsonl").read_text()
    other = _prompts_config(tiny_policy_dir, prompt_files, benchmark_cache, labeling="bradley_terry", seed=1)
    assert (_run(tmp_path / "c", other) / "preference_pairs.jsonl").read_text() != (
        run_dir / "preference_pairs.jsonl"
    ).read_text()


@pytest.mark.slow
def test_comparison_with_judges_reports_the_ranking_under_both_and_exports_either(tmp_path, benchmark_cache,
                                                                                   capsys):  # fmt: skip
    from pareto_align.export.judged import rank_changes

    shared = tiny_sweep_dict(benchmark_cache, objectives=SCORED, evaluation=EVALUATION,
                             weights={"kind": "explicit", "weights": [[0.5, 0.5], [1.0, 0.0]]})  # fmt: skip
    del shared["method"]
    methods = [{"name": "bon", "n": 4}, {"name": "modpo", "trl": OFFLINE}]
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump({**shared, "name": "judged", "methods": methods}))
    out = tmp_path / "out"
    run_comparison(load_comparison(path), out, progress=False, log=lambda *_: None, formats=["md", "csv"])
    fronts = {label: read_front(out / label) for label in ("bon", "modpo")}
    changes = rank_changes(fronts)
    table = (out / "report" / "judges" / "ranking.md").read_text()
    for c in changes:
        assert (
            f"| {c.label} | {c.evaluation_hv:.4g} | {c.evaluation_rank} | {c.judged_hv:.4g} | {c.judged_rank} |"
            in table
        )
    assert "helpful: gold" in table
    assert (out / "report" / "judges" / "summary.md").exists()
    # the exporter shows either scoring; judged values differ from the evaluation's on helpful (gold vs function)
    assert (
        cli.main(
            [
                "export",
                str(out / "bon"),
                "--to",
                str(tmp_path / "j"),
                "--scoring",
                "judges",
                "--formats",
                "csv",
            ]
        )
        == 0
    )
    assert fronts["bon"].points[0].judged.values[0] != fronts["bon"].points[0].values[0]


def test_rank_changes_by_hand():
    from pareto_align.export.judged import RankChange, _ranks, rank_change_markdown

    assert _ranks([3.0, 5.0, 1.0]) == [2, 1, 3]
    text = rank_change_markdown([RankChange("a", 3.0, 1.0, 1, 2), RankChange("b", 2.0, 4.0, 2, 1)],
                                {"helpful": {"kind": "model"}})  # fmt: skip
    assert "| a | 3 | 1 | 1 | 2 | down 1 |" in text and "| b | 2 | 2 | 4 | 1 | up 1 |" in text
    assert text.rstrip().endswith("The ranking changes: a from 1 to 2; b from 2 to 1.")
