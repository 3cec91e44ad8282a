"""`budget.fill` of `pareto-align compare`: every method scaled by its own knob (`Config.scale_to`) to spend the budget,
the ladder of budgets (folders `<label>@<budget>`), its table, figure and ranking sentence, and the anytime figure's
budget line. Config-level and hand-made results, no training, except one tiny end-to-end ladder (slow)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align.comparison import MethodUse, load_comparison, parse_comparison, run_comparison
from pareto_align.config import read_yaml
from pareto_align.errors import ConfigError
from pareto_align.export.bootstrap import bootstrap_ci
from pareto_align.export.ladder import (
    ladder_entries,
    ladder_figure,
    ladder_markdown,
    ladder_records,
    ranking_sentence,
    write_ladder,
)

EXPERIMENTS = Path(__file__).parent.parent / "experiments"
MODPO = {"name": "modpo", "trl": {"max_steps": 4, "per_device_train_batch_size": 8, "logging_steps": 2}}
BON = {"name": "bon", "n": 2}


def comparison_dict(cache_dir, methods: list[dict], **overrides) -> dict:
    """The tests' tiny sweep setting (2 objectives, 2 grid points) shared by `methods`."""
    shared = tiny_sweep_dict(cache_dir)
    del shared["method"]
    return {**shared, "name": "tiny-compare", "methods": methods, **overrides}


@pytest.fixture(scope="module")
def flagship() -> dict:
    return read_yaml(EXPERIMENTS / "compare.yaml")


# planned policy updates per seed once filled, by hand: the knob's runs share one length, so a budget that the
# runs do not divide gets the largest multiple below it (6 grid points: 6 x 146 = 876 of 880)
FILLED = {
    880: {"modpo": 876, "morlhf": 880, "bon": 0, "dynamic_hv": 879, "dynamic_grad": 879, "soups": 879, "mod": 879,
          "dpa": 880, "ric": 880, "cmorl": 876, "panacea": 880,
          "panacea-prompt": 880, "panacea-dpo": 880},
    110: {"modpo": 108, "morlhf": 110, "bon": 0, "dynamic_hv": 108, "dynamic_grad": 108, "soups": 108, "mod": 108,
          "dpa": 110, "ric": 110, "cmorl": 108, "panacea": 110,
          "panacea-prompt": 110, "panacea-dpo": 110},
}  # fmt: skip


@pytest.mark.parametrize("budget", [880, 110])
def test_fill_scales_every_flagship_method_to_the_budget(flagship, budget):
    filled = {**flagship, "budget": {"fill": True, "policy_updates": budget}}
    comparison = parse_comparison(filled, "compare.yaml")
    plans = {r.label: r.plan.updates for r in comparison.runs}
    assert plans == FILLED[budget]
    original = {r.label: r for r in parse_comparison(flagship, "compare.yaml").runs}
    for run in comparison.runs:
        # one budget: the folders keep their labels
        assert run.budget == budget and run.config.name == run.label
        # the sentence says what changed, the plan it makes, and when it falls short, that and why
        assert f"= {run.plan.updates} policy updates per seed" in run.fill or run.label == "bon"
        assert (f"short of {budget}" in run.fill) == (0 < run.plan.updates < budget)
        # only the length knobs changed: everything else of the section is the method's own config
        mine, theirs = run.config.effective()["method"], original[run.label].config.effective()["method"]
        changed = {k for k in mine if mine[k] != theirs[k]}
        knobs = {"soups": {"specialists"}, "mod": {"specialists"}, "ric": {"trl", "online_trl"},
                 "cmorl": {"trl", "extension_steps"}, "bon": set()}.get(run.label, {"trl"})  # fmt: skip
        assert changed <= knobs, run.label
        for key in changed & {"trl", "specialists"}:
            inner = mine[key]["trl"] if key == "specialists" else mine[key]
            other = theirs[key]["trl"] if key == "specialists" else theirs[key]
            assert {k for k in inner if inner[k] != other.get(k)} == {"max_steps"}, run.label
    by = {r.label: r for r in comparison.runs}
    if budget == 880:
        # C-MORL: 6 x max_steps + 2 rounds x 6 selected x 3 objectives x extension_steps; of the pairs reaching 876,
        # the one whose stage-2 share is nearest its own 720 / 1,200
        cmorl = by["cmorl"].config.method
        assert (cmorl.trl["max_steps"], cmorl.extension_steps) == (56, 15)
        # RiC: offline and online in the proportion of their epochs (2 : 1), the offline pass takes the remainder
        ric = by["ric"].config.method
        assert (ric.trl["max_steps"], ric.online_trl["max_steps"]) == (587, 293)
        assert by["modpo"].fill == ("trl.max_steps 150 -> 146: 6 runs x 146 max_steps = 876 policy updates per seed, "
                                    "4 short of 880 (the largest the knob allows: the 6 runs share one max_steps)")  # fmt: skip
        unchanged = "trl.max_steps 80 (unchanged): 11 runs x 80 max_steps = 880 policy updates per seed"
        assert by["morlhf"].fill == unchanged
        assert by["bon"].fill.startswith("left as is: trains nothing")


def test_scale_to_keeps_cmorl_rounds_and_ric_proportions(tmp_path):
    from pareto_align.config import parse_config

    def scaled(method: dict, updates: int):
        config = parse_config(tiny_sweep_dict(tmp_path, method=method))  # 2 objectives, 2 grid points
        section, text = config.method.scale_to(config, updates)
        return section, section.planned_updates(config).updates, text

    # cmorl, refreshed every 4 stage-2 updates: 1 round of 4 // extension_steps extensions. At 20: every
    # extension_steps in 1, 2, 4 reaches 20 with stage 2 at 4 (share 0.2, nearest its own 4 / 14); 2 is its own
    cmorl = {"name": "cmorl", "reward_source": "gold", "rounds": 1, "refresh_every": 4, "extension_steps": 2,
             "trl": {"max_steps": 5}}  # fmt: skip
    section, planned, _ = scaled(cmorl, 20)
    assert (section.trl["max_steps"], section.extension_steps, planned) == (8, 2, 20)
    section, planned, text = scaled({**cmorl, "rounds": 0}, 9)  # stage 1 only: 2 runs x 4
    assert (section.trl["max_steps"], section.extension_steps, planned) == (4, 2, 8)
    assert "1 short of 9" in text
    # RiC with both lengths set: offline : online = 6 : 3 over 2 online rounds; 25 = 13 + 2 x 6 exactly
    ric = {"name": "ric", "reward_source": "gold", "online_iterations": 2, "trl": {"max_steps": 6},
           "online_trl": {"max_steps": 3}}  # fmt: skip
    section, planned, text = scaled(ric, 25)
    assert (section.trl["max_steps"], section.online_trl["max_steps"], planned) == (13, 6, 25)
    assert "(offline : online as max_steps 6 : 3)" in text and "short" not in text


def test_fill_and_ladder_mistakes_are_named_by_field(tmp_path):
    def lines(**budget) -> list[str]:
        with pytest.raises(ConfigError) as err:
            parse_comparison(comparison_dict(tmp_path, [MODPO, BON], budget=budget), "c.yaml")
        return str(err.value).splitlines()

    assert lines(fill=True) == [
        "c.yaml: budget.fill: scales every method to budget.policy_updates, which is not set; set it"
    ]
    assert lines(policy_updates=[4, 8]) == [
        "c.yaml: budget.policy_updates: a list [4, 8] is a ladder of budgets, run with budget.fill: true; set it, "
        "or give one number"
    ]
    assert lines(fill=True, policy_updates=[8, 4]) == [
        "c.yaml: budget.policy_updates: a ladder is a list of increasing budgets >= 1, got [8, 4]"
    ]
    # a budget the method's knob cannot reach: 2 grid runs need at least one step each
    assert lines(fill=True, policy_updates=[1, 4]) == [
        "c.yaml: methods[0]: budget.fill: 1 policy updates per seed cannot give each of the 2 runs of the weight "
        "grid a step"
    ]


def test_fill_on_the_command_line_runs_a_config_at_equal_compute(flagship, capsys, monkeypatch):
    import pareto_align.comparison as comparison_pkg
    from pareto_align import cli

    filled = load_comparison(EXPERIMENTS / "compare.yaml", fill=[880])
    assert filled.budget.fill and filled.budget.policy_updates == 880
    assert filled.budget.generated_tokens == flagship["budget"]["generated_tokens"]  # its token limit kept
    assert {r.label: r.plan.updates for r in filled.runs} == FILLED[880]
    ladder = load_comparison(EXPERIMENTS / "compare.yaml", fill=[110, 880])
    assert {r.label for r in ladder.runs} >= {"morlhf@110", "morlhf@880"}
    # its own folder by default: the config's (its own budget) would refuse another one
    folders = []
    monkeypatch.setattr(
        comparison_pkg, "run_comparison", lambda comparison, out_dir, **_: folders.append(out_dir) or []
    )
    assert cli.main(["compare", str(EXPERIMENTS / "compare.yaml"), "--fill", "110,880"]) == 0
    assert folders == [Path("runs/compare-fill110-880")]
    for bad in ["0", "880,440", "many"]:
        with pytest.raises(SystemExit) as err:
            cli.main(["compare", str(EXPERIMENTS / "compare.yaml"), "--fill", bad])
        assert err.value.code == 2 and "argument --fill" in capsys.readouterr().err


def test_the_recorded_ladder_config_plans_each_budget():
    ladder = load_comparison(EXPERIMENTS / "ladder.yaml")
    plans = {r.label: r.plan.updates for r in ladder.runs}
    for label in ("grid", "panacea", "panacea-beta0.2"):
        assert [plans[f"{label}@{b}"] for b in (110, 440, 880)] == [110, 440, 880]
    assert [plans[f"soups@{b}"] for b in (110, 440, 880)] == [108, 438, 879]  # 3 specialists share max_steps


def test_a_ladder_runs_each_method_at_each_budget_in_its_own_folder(tmp_path):
    soups = {"name": "soups", "specialists": {"name": "modpo", "trl": {"max_steps": 3}}}
    data = comparison_dict(tmp_path, [MODPO, soups, BON], budget={"fill": True, "policy_updates": [4, 9]})
    comparison = parse_comparison(data, "c.yaml")
    assert [(r.label, r.method_label, r.budget, r.plan.updates) for r in comparison.runs] == [
        ("modpo@4", "modpo", 4, 4), ("modpo@9", "modpo", 9, 8),  # 2 grid runs x 4 steps: 8 of 9
        ("soups@4", "soups", 4, 4), ("soups@9", "soups", 9, 8),  # 2 specialists x 4 steps
        ("bon@4", "bon", 4, 0), ("bon@9", "bon", 9, 0),
    ]  # fmt: skip
    assert [r.config.name for r in comparison.runs] == [r.label for r in comparison.runs]
    record = comparison.record()
    assert record["budget"] == {"policy_updates": [4, 9], "generated_tokens": None, "fill": True}
    modpo9 = record["methods"][1]
    assert (modpo9["budget_policy_updates"], modpo9["planned_policy_updates"]) == (9, 8)
    assert modpo9["fill"].startswith("trl.max_steps 4 (unchanged): 2 runs x 4 max_steps = 8")
    assert "1 short of 9" in modpo9["fill"]
    # the folders are distinct sweeps; and the ladder is part of the comparison's identity
    assert len({r.config.config_hash() for r in comparison.runs}) == 6
    single = parse_comparison({**data, "budget": {"fill": True, "policy_updates": 4}}, "c.yaml")
    assert [r.label for r in single.runs] == ["modpo", "soups", "bon"]
    assert single.comparison_hash() != comparison.comparison_hash()
    # without fill the budget is recorded as before fill existed, so earlier comparison folders still resume
    plain = parse_comparison({**data, "budget": {"policy_updates": 9}}, "c.yaml")
    assert plain.record()["budget"] == {"policy_updates": 9, "generated_tokens": None}
    assert [(r.label, r.budget, r.fill) for r in plain.runs] == [
        (m, 9, None) for m in ("modpo", "soups", "bon")
    ]


def _use(label: str, method: str, budget: int, hv: list[float]) -> MethodUse:
    return MethodUse(label, method, list(range(len(hv))), 6 * len(hv), hv, [budget] * len(hv), [0] * len(hv),
                     budget, {"policy_updates": budget, "generated_tokens": None}, [], f"filled to {budget}")  # fmt: skip


# soups leads at the smallest budget, the grid passes it at 440 and panacea passes both at 880
LADDER = [
    _use("morlhf@110", "morlhf", 110, [1.0, 1.2, 1.1]), _use("morlhf@440", "morlhf", 440, [3.0, 3.2, 3.4]),
    _use("morlhf@880", "morlhf", 880, [4.0, 4.1, 4.2]),
    _use("soups@110", "soups", 110, [2.0, 2.2, 2.1]), _use("soups@440", "soups", 440, [2.5, 2.4, 2.6]),
    _use("soups@880", "soups", 880, [2.7, 2.8, 2.9]),
    _use("panacea@110", "panacea", 110, [0.5, 0.6, 0.7]), _use("panacea@440", "panacea", 440, [1.0, 1.5, 2.0]),
    _use("panacea@880", "panacea", 880, [5.0, 5.5, 6.0]),
]  # fmt: skip


def test_ladder_table_and_where_the_ranking_changes(tmp_path):
    entries = ladder_entries(LADDER)
    rows = ladder_records(entries)
    assert [(r["label"], r["budget"], r["rank"]) for r in rows] == [
        ("morlhf", 110, 2), ("morlhf", 440, 1), ("morlhf", 880, 2),
        ("soups", 110, 1), ("soups", 440, 2), ("soups", 880, 3),
        ("panacea", 110, 3), ("panacea", 440, 3), ("panacea", 880, 1),
    ]  # fmt: skip
    soups110 = rows[3]
    interval = bootstrap_ci([2.0, 2.2, 2.1])
    assert soups110["hypervolume"] == pytest.approx(2.1) and soups110["seeds"] == 3
    assert (soups110["hypervolume_low"], soups110["hypervolume_high"]) == (interval.low, interval.high)
    assert soups110["fill"] == "filled to 110" and soups110["policy_updates_max"] == 110

    assert ranking_sentence(entries) == (
        "The ranking by mean final hypervolume changes between 110 and 440 (Linear scalarization passes Rewarded "
        "soups: Rewarded soups > Linear scalarization > Panacea at 110, Linear scalarization > Rewarded soups > "
        "Panacea at 440), and between 440 and 880 (Panacea passes Linear scalarization; Panacea passes Rewarded "
        "soups: Linear scalarization > Rewarded soups > Panacea at 440, Panacea > Linear scalarization > Rewarded "
        "soups at 880) policy updates per seed."
    )
    steady = ladder_entries([u for u in LADDER if u.label.endswith(("@110",))] +
                            [_use("soups@220", "soups", 220, [3.0]), _use("morlhf@220", "morlhf", 220, [2.0]),
                             _use("panacea@220", "panacea", 220, [1.0])])  # fmt: skip
    assert ranking_sentence(steady) == (
        "The ranking by mean final hypervolume is the same at every budget (110, 220 policy updates per seed): "
        "Rewarded soups > Linear scalarization > Panacea."
    )

    md = ladder_markdown(entries)
    assert "| Method | 110 updates | 440 updates | 880 updates |" in md
    m = bootstrap_ci([4.0, 4.1, 4.2])
    morlhf_row = next(line for line in md.splitlines() if line.startswith("| Linear scalarization"))
    assert morlhf_row.endswith(f"| 4.1 [{m.low:.4g}, {m.high:.4g}] |")
    assert ranking_sentence(entries) in md and "- Rewarded soups at 440: filled to 440" in md

    fig = ladder_figure(entries)
    soups = next(t for t in fig.data if t.name == "Rewarded soups")
    assert list(soups.x) == [110, 440, 880] and list(soups.y) == pytest.approx([2.1, 2.5, 2.8])
    assert soups.error_y.array[0] == pytest.approx(interval.high - 2.1)
    assert soups.error_y.arrayminus[0] == pytest.approx(2.1 - interval.low)
    assert fig.layout.xaxis.type == "log"

    written = write_ladder(LADDER, tmp_path, ["csv", "json", "md"])
    assert sorted(p.name for p in written) == ["ladder.csv", "ladder.json", "ladder.md"]
    table = list(csv.DictReader(io.StringIO((tmp_path / "ladder.csv").read_text())))
    assert [(r["label"], r["budget"], r["rank"]) for r in table][:3] == [("morlhf", "110", "2"), ("morlhf", "440", "1"),
                                                                           ("morlhf", "880", "2")]  # fmt: skip
    payload = json.loads((tmp_path / "ladder.json").read_text())
    assert payload["rankings"]["880"] == ["panacea", "morlhf", "soups"]
    assert payload["ranking"] == ranking_sentence(entries)


def test_anytime_figure_marks_the_budget_every_method_was_filled_to():
    from test_export_report import _two_methods

    from pareto_align.export.figures import hypervolume_figure

    fig = hypervolume_figure(_two_methods(2), budget=250)  # points spend 100 (morlhf) and 200 (modpo) updates
    (line,) = [s for s in fig.layout.shapes if s.x0 == 250]
    assert (line.x1, line.line.dash, line.xref) == (250, "dot", "x")  # the policy-updates panel only
    assert list(fig.layout.xaxis.range) == pytest.approx([0, 1.03 * 250])
    assert "budget 250" in {a.text for a in fig.layout.annotations}
    assert hypervolume_figure(_two_methods(2)).layout.shapes == ()


@pytest.mark.slow
def test_a_tiny_ladder_end_to_end_spends_each_budget(tmp_path, benchmark_cache):
    grid = {"name": "morlhf", "reward_source": "gold", "history_every": 0,
            "trl": {"max_steps": 50, "per_device_train_batch_size": 4, "num_generations": 2,
                    "max_completion_length": 8, "logging_steps": 1}}  # fmt: skip
    data = comparison_dict(benchmark_cache, [grid], budget={"fill": True, "policy_updates": [2, 4]},
                           evaluation={"samples_per_prompt": 1, "max_prompts": 2, "generation": {"max_new_tokens": 8}})  # fmt: skip
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "cmp"
    uses = run_comparison(load_comparison(path), out, progress=False, log=lambda *a: None,
                          formats=["csv", "json", "md"])  # fmt: skip
    # each budget its own sweep; 2 grid points x 1 and x 2 steps: each seed spent exactly its budget
    assert [(u.label, u.policy_updates, u.planned_policy_updates) for u in uses] == [
        ("morlhf@2", [2], 2), ("morlhf@4", [4], 4)
    ]  # fmt: skip
    summary = json.loads((out / "compare_summary.json").read_text())
    assert [m["fill"] for m in summary["methods"]] == [
        "trl.max_steps 50 -> 1: 2 runs x 1 max_steps = 2 policy updates per seed",
        "trl.max_steps 50 -> 2: 2 runs x 2 max_steps = 4 policy updates per seed",
    ]
    for budget in (2, 4):
        manifest = json.loads((out / "report" / f"budget-{budget}" / "manifest.json").read_text())
        assert [r["name"] for r in manifest["runs"]] == [f"morlhf@{budget}"]
    rows = list(csv.DictReader(io.StringIO((out / "report" / "ladder.csv").read_text())))
    assert [(r["label"], r["budget"]) for r in rows] == [("morlhf", "2"), ("morlhf", "4")]
    assert [float(r["hypervolume"]) for r in rows] == pytest.approx([u.hypervolume[0] for u in uses])
