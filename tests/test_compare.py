"""`pareto-align compare`: every mistake of a comparison config reported up front, and a tiny two-method comparison
end to end (subfolders, shared products built once, resume without training, the report, the budget)."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli, sweep, workspace
from pareto_align.comparison import load_comparison, run_comparison
from pareto_align.errors import ConfigError
from pareto_align.front import read_front


def comparison_dict(cache_dir, methods: list[dict], **overrides) -> dict:
    """The tests' tiny sweep setting (2 objectives, 2 grid points) shared by `methods`."""
    shared = tiny_sweep_dict(cache_dir)
    del shared["method"]
    return {**shared, "name": "tiny-compare", "methods": methods, **overrides}


MODPO = {"name": "modpo", "trl": {"max_steps": 4, "per_device_train_batch_size": 8, "logging_steps": 2}}
BON = {"name": "bon", "n": 2}


def _write(path, data: dict):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_mistake_is_reported_one_line_each_before_anything_runs(tmp_path, capsys):
    methods = [
        {"name": "modpo", "trl": {"lerning_rate": 1e-4}},
        {"label": "bon", "name": "bon", "n": 0},
        {"name": "bon"},  # the same default label as methods[1]
        {"label": "report", "name": "dpa"},
        {"name": "mod", "colour": "red"},
        {"name": "sft"},
    ]
    evaluation = {"samples_per_prompt": 0}
    data = comparison_dict(tmp_path / "cache", methods, evaluation=evaluation, budget={"policy_updates": 0})
    path = _write(tmp_path / "cmp.yaml", data)
    out = tmp_path / "out"
    assert cli.main(["compare", str(path), "--output-dir", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"error: {path}: budget.policy_updates: Input should be greater than or equal to 1",
        f"error: {path}: evaluation.samples_per_prompt: Input should be greater than or equal to 1",
        f"error: {path}: methods[0].trl.lerning_rate: unknown DPOConfig field (did you mean 'learning_rate'?)",
        f"error: {path}: methods[1].n: Input should be greater than or equal to 1",
        f"error: {path}: methods[2].label: 'bon' is already the label of methods[1]; labels must be unique (set "
        "`label` on one of them)",
        f"error: {path}: methods[3].label: 'report' is a folder of the comparison itself; choose another label",
        f"error: {path}: methods[4].colour: unknown field",
        f"error: {path}: methods[5].name: unknown method 'sft'; available: " + _available(),
    ]
    assert not out.exists()  # nothing ran, nothing was created


def _available() -> str:
    from pareto_align.methods import METHODS

    return str(list(METHODS)).replace("[", "").replace("]", "")


def test_cross_field_mistakes_and_plans_over_budget_are_refused(tmp_path):
    soups = {"name": "soups", "specialists": {"name": "modpo", "trl": {"max_steps": 3}}}
    grid = {"label": "grid", "name": "morlhf", "weights": {"kind": "explicit", "weights": [[0.5, 0.6]]}}
    cmorl = {"name": "cmorl", "bounds": {"lower": [0, 0], "upper": [1, 0]}, "trl": {"max_steps": 2}}
    data = comparison_dict(tmp_path, [MODPO, BON, soups, grid, cmorl], budget={"policy_updates": 7})
    path = _write(tmp_path / "cmp.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_comparison(path)
    assert err.value.lines == [  # modpo: 2 grid points x 4 steps; soups: 2 specialists x 3 steps fits
        f"{path}: methods[0]: plans 8 policy updates per seed (2 runs x 4 max_steps), over the budget of 7",
        f"{path}: methods[3].weights.weights[0]: weights must sum to 1, got sum 1.1",
        f"{path}: methods[4].bounds: upper must exceed lower for every objective",
    ]
    data["methods"] = [MODPO, BON, soups, {**cmorl, "bounds": None, "rounds": 1, "extension_steps": 1}]
    data["budget"] = {"policy_updates": 14}
    plans = {r.label: r.plan.updates for r in load_comparison(_write(path, data)).runs}
    # cmorl: stage 1 (2 runs x 2 steps) + 1 round x 5 selected x 2 objectives x 1 step
    assert plans == {"modpo": 8, "bon": 0, "soups": 6, "cmorl": 4 + 10}


@pytest.mark.slow
def test_two_methods_end_to_end_share_products_resume_and_report(tmp_path, benchmark_cache, monkeypatch,
                                                                   capsys):  # fmt: skip
    trained = []
    original = workspace.train_reward_model
    monkeypatch.setattr(
        workspace, "train_reward_model", lambda *a, **k: trained.append(1) or original(*a, **k)
    )
    data = comparison_dict(
        benchmark_cache, [MODPO, BON], budget={"policy_updates": 8, "generated_tokens": 10}
    )
    comparison = load_comparison(_write(tmp_path / "cmp.yaml", data))
    out = tmp_path / "cmp"
    uses = run_comparison(comparison, out, progress=False, log=lambda *a: None, formats=["csv", "json"])

    # each method is a normal sweep run dir; both read one reward model, trained once and hard-linked in
    assert trained == [1]
    (shared,) = (out / "shared").iterdir()
    weights = next((shared / "reward_model").glob("*.safetensors"))
    for label in ("modpo", "bon"):
        assert yaml.safe_load((out / label / "config.yaml").read_text())["config"]["method"]["name"] == label
        assert (out / label / "reward_model" / weights.name).stat().st_ino == weights.stat().st_ino
    assert (out / "modpo" / "reward_diffs_reward_model.npy").samefile(
        shared / "reward_diffs_reward_model.npy"
    )
    modpo_front, bon_front = read_front(out / "modpo"), read_front(out / "bon")
    assert [p.id for p in modpo_front.points] == ["w00-s0", "w01-s0"] and len(bon_front.points) == 2

    # used against budget, as the fronts record it: modpo trains 2 x 4 steps; bon trains nothing and pays
    # n = 2 candidates per evaluated token, over the 10-token budget
    by_label = {u.label: u for u in uses}
    assert by_label["modpo"].policy_updates == [8] and by_label["modpo"].planned_policy_updates == 8
    assert by_label["bon"].policy_updates == [0] and by_label["bon"].over == ["generated_tokens"]
    assert by_label["bon"].generated_tokens == [sum(p.compute.generated_tokens for p in bon_front.points)]
    assert by_label["modpo"].hypervolume == [
        pytest.approx(modpo_front.metrics.hypervolume)
    ]  # one seed: the same
    summary = json.loads((out / "compare_summary.json").read_text())
    assert [m["label"] for m in summary["methods"]] == ["modpo", "bon"]

    # the report covers both methods
    manifest = json.loads((out / "report" / "manifest.json").read_text())
    assert [(r["name"], r["methods"]) for r in manifest["runs"]] == [("modpo", ["modpo"]), ("bon", ["bon"])]

    # re-running the command resumes: no job runs again, nothing is retrained; the table shows used vs budget
    ran, run_job = [], sweep._run_job
    monkeypatch.setattr(sweep, "_run_job", lambda job, ws: ran.append(job.id))
    argv = [
        "compare",
        str(tmp_path / "cmp.yaml"),
        "--output-dir",
        str(out),
        "--formats",
        "csv,json",
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert ran == [] and trained == [1]
    table = capsys.readouterr().out
    assert "8 / 8 (planned 8)" in table and "over budget: bon" in table
    assert (out / "modpo" / "front.csv").exists()

    # a method whose sweep has run cannot change, nor can the budget: refused before anything runs, naming the method
    changed = {**data, "methods": [{**MODPO, "trl": {**MODPO["trl"], "learning_rate": 1e-4}}, BON]}
    with pytest.raises(
        ConfigError, match=r"modpo holds a sweep of a different config .*restore methods\[0\] \(modpo\)"
    ):
        run_comparison(load_comparison(_write(tmp_path / "other.yaml", changed)), out, progress=False)
    with pytest.raises(ConfigError, match="budget: .* is not the budget this comparison ran under"):
        run_comparison(load_comparison(_write(tmp_path / "other.yaml", {**data, "budget": {"policy_updates": 9}})),
                       out, progress=False)  # fmt: skip
    assert ran == []

    # a method not yet run may be added; one dropped from the config leaves the report, its folder kept
    monkeypatch.setattr(sweep, "_run_job", lambda job, ws: ran.append(job.id) or run_job(job, ws))
    grown = {**data, "methods": [MODPO, {"label": "bon-4", "name": "bon", "n": 4}]}
    logged = []
    uses = run_comparison(load_comparison(_write(tmp_path / "grown.yaml", grown)), out, progress=False,
                          log=logged.append, formats=["json"])  # fmt: skip
    assert [u.label for u in uses] == ["modpo", "bon-4"] and ran == ["w00-s0", "w01-s0"]  # bon-4's two points
    assert any("left out of the report): bon" in line for line in logged)
    assert (out / "bon" / "front.json").exists()
    manifest = json.loads((out / "report" / "manifest.json").read_text())
    assert [r["name"] for r in manifest["runs"]] == ["modpo", "bon-4"]
    assert [m["label"] for m in yaml.safe_load((out / "compare.yaml").read_text())["methods"]] == [
        "modpo",
        "bon-4",
    ]


def test_flagship_comparison_runs_every_method_with_its_own_experiment_config():
    from pathlib import Path

    from pareto_align.config import load_config
    from pareto_align.methods import METHODS

    experiments = Path(__file__).parent.parent / "experiments"
    comparison = load_comparison(experiments / "compare.yaml")
    assert {r.config.method.name for r in comparison.runs} == set(METHODS)
    for run in comparison.runs:
        if run.label in ("panacea-prompt", "panacea-dpo"):  # panacea's variants: checked against panacea.yaml
            own = load_config(experiments / "panacea.yaml").effective()
            changed = {k for k in run.config.effective() if run.config.effective()[k] != own[k]}
            assert changed <= {"name", "seeds", "method"}, run.label
            continue
        assert run.config.seeds == [0, 1, 2]
        own = load_config(experiments / ("quickstart.yaml" if run.label == "modpo" else f"{run.label}.yaml"))
        mine, theirs = run.config.effective(), own.effective()
        # morlhf is the reference grid of the comparison: morlhf.yaml's settings on 11 weight vectors
        allowed = {"name", "seeds"} | ({"weights"} if run.label == "morlhf" else set())
        if (
            run.label == "cmorl"
        ):  # learns from the reward model (with PAR) like every other method, not the gold one
            assert (mine["method"]["reward_source"], mine["method"]["par"]) == ("reward_model", True)
            mine["method"] = {**mine["method"], "reward_source": "gold", "par": False}
        assert {k for k in mine if mine[k] != theirs[k]} <= allowed, run.label
    morlhf = next(r for r in comparison.runs if r.label == "morlhf")
    assert len(morlhf.config.weight_vectors()) == 11


def test_a_method_may_train_its_own_adapter_and_shares_the_products(tmp_path):
    """`lora` on an entry replaces `policy.lora` for that method alone (Panacea trains its own SVD-LoRA); what a
    method trains changes none of the shared products, so every method shares them still."""
    from pareto_align.comparison.config import parse_comparison

    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    data = comparison_dict(tmp_path, [MODPO, {"name": "panacea", "loss": "dpo", "rank": 2, "lora": None}],
                           policy={"lora": lora})  # fmt: skip
    modpo, panacea = parse_comparison(data, source="c.yaml").runs
    assert modpo.config.policy.lora == lora and panacea.config.policy.lora is None
    assert modpo.products_key() == panacea.products_key()
    data["methods"][1] = {"name": "panacea", "loss": "dpo"}  # with the shared LoRA, Panacea refuses
    with pytest.raises(ConfigError, match=r"methods\[1\]: policy\.lora: panacea trains its own SVD-LoRA"):
        parse_comparison(data, source="c.yaml")
