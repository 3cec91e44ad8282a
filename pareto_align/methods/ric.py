"""`method: ric`: rewards-in-context (Yang et al., 2024, "Rewards-in-Context: Multi-objective Alignment of Foundation
Models with Dynamic Preference Adjustment"; official code YangRui2015/RiC, read for the details below).

One policy learns to write a response that reaches the rewards written into its prompt; at inference a preference
w is mapped to the rewards to ask for, so one model serves every preference.

1. Offline: every response of the training data is scored per objective; each score is standardized over the data
   (z = (r - mean) / std, RiC's normalization) and written into its prompt with one decimal (`"<rm1_score> 1.3
   <rm2_score> -0.4"`, RiC's form, after the prompt); the policy is fine-tuned on those prompts and responses (TRL's
   SFTTrainer, loss on the response). On the built-in benchmark the responses are the preference pairs' chosen and
   rejected responses (each (prompt, response) once), as RiC uses its datasets' responses. In a chat-format run
   the scores go into the last user turn, after the query (where RiC's code appends them, before the assistant's
   reply), and the responses are the data's assistant turns (generated ones become assistant turns).
2. Online augmentation (`online_iterations` rounds): `online_samples` prompts drawn at random are asked for
   Pareto-optimal rewards (RiC's goal sampling: each objective uniform in [low, high], then every objective but the
   lowest set to its maximum); the responses are scored, relabelled with the rewards they obtained, and those
   reaching the `quantile_threshold` quantile on at least one objective are kept (multi-objective rejection
   sampling); the policy is fine-tuned further on them plus the offline data that passes the same filter
   (`origin_samples` of it at most), with `online_trl` over `trl:` (RiC: a constant, smaller learning rate).
3. Inference: the preference-to-reward mapping (`mapping`, see `models/conditioning.desired_scores`; 'linf' is the
   paper's) turns simplex weights into desired scores between the extremes [low, high] of the standardized offline
   scores. The front is the model evaluated on the sweep's `weights` grid; each point is a `conditioned` handle
   whose `condition` carries the mapping and its extremes, so the explorer's sliders ask for the mapped scores.

Choices the paper leaves open here: the extremes low/high are the offline data's (RiC's evaluation uses the range of
50,000 standard-normal draws, about +-4.2, as a stand-in for the standardized data); goal sampling uses each
objective's own [low, high]; the online rounds' standardization keeps the offline mean and std.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field
from trl import SFTConfig

from pareto_align import ranks
from pareto_align.front.schema import Front
from pareto_align.hf_args import check_dataclass_kwargs
from pareto_align.methods._conditioned import (
    ConditionedSection,
    Rounds,
    fine_tune,
    front_compute,
    sample_and_score,
    spread,
)
from pareto_align.methods._online import reward_scorer
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy, UpdatePlan, change
from pareto_align.models.conditioning import desired_scores, format_number, write_values
from pareto_align.models.loading import device

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace


class RiCSection(ConditionedSection):
    """YAML section `method:` for `name: ric`; the front's weight grid is the config's `weights`."""

    name: Literal["ric"] = "ric"
    mapping: Literal["linf", "l2", "linear"] = Field(
        "linf",
        description="Preference-to-reward mapping: 'linf' (the paper's), 'l2' (RiC's evaluation), 'linear'.",
    )
    online_iterations: int = Field(1, ge=0, description="Online augmentation rounds after the offline stage.")
    online_samples: int = Field(1000, ge=1, description="Responses generated per online round.")
    quantile_threshold: float = Field(
        0.7, ge=0, le=1, description="Keep responses at or above this quantile on at least one objective."
    )
    origin_samples: int | None = Field(
        None,
        ge=0,
        description="Offline examples mixed into each online round (None: all that pass the filter).",
    )
    online_trl: dict[str, Any] = Field(
        default_factory=lambda: {
            "learning_rate": 1e-4,
            "lr_scheduler_type": "constant",
            "num_train_epochs": 1,
        },
        description="SFTConfig fields for the online rounds, over `trl:`.",
    )

    def default_template(self, names: list[str]) -> str:
        return "{prompt} " + " ".join(f"<rm{k + 1}_score> {{c[{k}]}}" for k in range(len(names)))

    def check(self, config: SweepConfig) -> None:
        try:
            check_dataclass_kwargs(SFTConfig, self.online_trl, "method.online_trl")
        except ValueError as err:
            raise ValueError(str(err)) from None
        bad = sorted(set(self.MANAGED) & set(self.online_trl))
        if bad:
            raise ValueError(f"method.online_trl: {bad} are set by the sweep")
        super().check(config)

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """The offline pass and each online round, when `max_steps` fixes their length (otherwise epochs over data
        whose size only the run knows)."""
        offline = self.max_steps()
        online = {**self.trl_args(), **self.online_trl}.get("max_steps", -1)
        if offline is None or (self.online_iterations and online <= 0):
            return None
        updates = offline + self.online_iterations * online
        return UpdatePlan(
            updates, f"{offline} offline + {self.online_iterations} online rounds x {online} max_steps"
        )

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[RiCSection, str]:
        """The offline pass and each online round keep their proportions (their `max_steps` when both are set,
        else their `num_train_epochs`, the only length the section states); the offline pass takes the rounding
        remainder, so the plan is exactly `updates`."""
        n = self.online_iterations
        if n == 0:
            return self.with_max_steps(updates).described(config, updates, self.max_steps_change(updates), "")
        if updates < 1 + n:
            raise ValueError(f"budget.fill: {updates} policy updates per seed cannot give the offline pass and each "
                             f"of the {n} online rounds a step")  # fmt: skip
        online_args = {**self.trl_args(), **self.online_trl}
        offline_len, online_len = self.max_steps(), online_args.get("max_steps", -1)
        if offline_len is None or online_len <= 0:  # epoch-based: proportions of the epochs
            offline_len, online_len = (
                self.trl_args().get("num_train_epochs", 3),
                online_args.get("num_train_epochs", 3),
            )
            basis = f"epochs {offline_len:g} : {online_len:g}"
        else:
            basis = f"max_steps {offline_len} : {online_len}"
        online = min(max(1, round(updates * online_len / (offline_len + n * online_len))), (updates - 1) // n)
        offline = updates - n * online
        old_online = online_args.get("max_steps", -1)
        scaled = self.with_changes(trl={**self.trl, "max_steps": offline},
                                   online_trl={**self.online_trl, "max_steps": online})  # fmt: skip
        changes = (f"{self.max_steps_change(offline)}, "
                   f"{change('online_trl.max_steps', old_online if old_online > 0 else None, online)} "
                   f"(offline : online as {basis})")  # fmt: skip
        return scaled.described(config, updates, changes, "")


def sample_goals(rng: np.random.Generator, m: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """RiC's online goals, shape (m, K): each objective uniform in [low_k, high_k] (one decimal), then every objective
    but the one with the lowest goal raised to its maximum, so each goal lies on the upper boundary of the box."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    goals = np.round(rng.uniform(low, high, size=(m, len(low))), 1)  # (m, K)
    keep = goals.argmin(axis=1)  # (m,)
    raised = np.broadcast_to(high, goals.shape).copy()
    raised[np.arange(m), keep] = goals[np.arange(m), keep]
    return raised


def quantile_filter(z: np.ndarray, q: float) -> np.ndarray:
    """RiC's multi-objective rejection sampling: a row is kept when it reaches the q-quantile of at least one
    objective. z (N, K) -> mask (N,)."""
    return np.any(z >= np.quantile(z, q, axis=0), axis=1)


def score_text(z) -> list[str]:
    """Standardized scores as written into a prompt: one decimal, as RiC writes them."""
    return [format_number(x, 1) for x in np.asarray(z, dtype=float)]


def offline_data(ws: Workspace, scorer) -> tuple[list, list[str], np.ndarray]:
    """Every distinct (prompt, response) of the preference data and its per-objective scores (N, K)."""
    pairs = ws.pairs("RiC")
    seen: dict[str, tuple[Any, str]] = {}
    for p, c, r in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"], strict=True):
        for response in (c, r):
            seen.setdefault(json.dumps([p, response]), (p, response))
    prompts = [p for p, _ in seen.values()]
    responses = [r for _, r in seen.values()]

    def scored(rows: list) -> np.ndarray:
        return scorer.score([p for p, _ in rows], [r for _, r in rows]).double().numpy()  # (n, K)

    rows = list(seen.values())  # (prompt, response)
    # under a launcher each process scores its share of the responses
    R = ranks.map_shards(scored, rows) if ws.collective else scored(rows)  # (N, K)
    return prompts, responses, R


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One conditioned model per seed; its front is the weight grid."""
    return [Job(f"ric-s{seed}", seed) for seed in config.seeds]


def train(ws: Workspace, section: RiCSection, job: Job, template: str) -> Rounds:
    """The offline round, then the online rounds still to do (a resumed job starts after its last round)."""
    total = 1 + section.online_iterations
    rounds = Rounds.load(ws, job.id)
    if rounds.done >= total:
        return rounds
    k = len(ws.config.objectives)
    scorer = reward_scorer(ws, section)
    start = time.perf_counter()
    prompts, responses, R = offline_data(ws, scorer)
    scoring_seconds = time.perf_counter() - start
    state = dict(rounds.state)
    if "mean" not in state:
        z = (R - R.mean(axis=0)) / spread(R)
        state.update(mean=R.mean(axis=0).tolist(), std=spread(R).tolist(), low=np.round(z.min(axis=0), 1).tolist(),
                     high=np.round(z.max(axis=0), 1).tolist(), online=[])  # fmt: skip
    mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
    Z = (R - mean) / std  # (N, K)
    model, tokenizer = rounds.model(template, k)
    model.to(device())
    while rounds.done < total:
        t = rounds.done + 1
        start = time.perf_counter()
        n_tokens = 0
        if t == 1:  # offline: every response with its own scores in its prompt
            texts = [write_values(p, template, score_text(z)) for p, z in zip(prompts, Z, strict=True)]
            completions, overrides = responses, {}
        else:
            rng = np.random.default_rng([job.seed, t])
            train_prompts = ws.setting.train_prompts()
            asked = [train_prompts[i] for i in rng.integers(0, len(train_prompts), section.online_samples)]
            goals = sample_goals(
                rng, section.online_samples, np.asarray(state["low"]), np.asarray(state["high"])
            )
            conditioned = [
                write_values(p, template, score_text(g)) for p, g in zip(asked, goals, strict=True)
            ]
            drawn = sample_and_score(ws, model, tokenizer, conditioned, asked, scorer, section.generation(),
                                     seed=1000 * job.seed + t)  # fmt: skip
            generated, n_tokens = drawn.responses, drawn.n_tokens
            z_new = (drawn.rewards - mean) / std  # (M, K), what they obtained
            keep = np.flatnonzero(quantile_filter(z_new, section.quantile_threshold))
            state["online"] = state["online"] + [[asked[i], generated[i], z_new[i].tolist()] for i in keep]
            origin = np.flatnonzero(quantile_filter(Z, section.quantile_threshold))
            if section.origin_samples is not None:
                origin = rng.permutation(origin)[: section.origin_samples]
            rows = [(prompts[i], responses[i], Z[i]) for i in origin] + [tuple(r) for r in state["online"]]
            texts = [write_values(p, template, score_text(z)) for p, _, z in rows]
            completions, overrides = [r for _, r, _ in rows], section.online_trl
            ws.log(f"{job.id}: online round {t - 1}: kept {len(keep)} of {len(generated)} responses; training on "
                   f"{len(origin)} offline + {len(state['online'])} online examples")  # fmt: skip
        model, sft = fine_tune(ws, section, model, tokenizer, texts, completions, job.id,
                               f"{job.id} round {t}/{total}", job.seed, **overrides)  # fmt: skip
        seconds = time.perf_counter() - start + (scoring_seconds if t == 1 else 0.0)
        rounds.save(model, tokenizer, sft.model_copy(update={"wall_seconds": seconds, "generated_tokens": n_tokens}),
                    state)  # fmt: skip
    return rounds


def run(job: Job, ws: Workspace) -> JobResult:
    """Train the conditioned model (resuming after its last finished round), then one point per grid weight."""
    section: RiCSection = ws.config.method  # type: ignore[assignment]
    template = section.resolved_template(ws.config.objective_names)
    rounds = train(ws, section, job, template)
    low, high = rounds.state["low"], rounds.state["high"]
    condition = {
        "kind": "desired_scores",
        "mapping": section.mapping,
        "low": low,
        "high": high,
        "decimals": 1,
    }
    points = []
    for i, w in enumerate(ws.config.weight_vectors()):
        w = [round(float(x), 10) for x in w]
        handle = {"kind": "conditioned", "path": rounds.path, "direction": w, "template": template,
                  "condition": condition}  # fmt: skip
        metadata = {"grid_index": i, "desired_scores": desired_scores(w, low, high, section.mapping).tolist(),
                    "online_examples": len(rounds.state.get("online", [])), "reward_source": section.reward_source}  # fmt: skip
        points.append(TrainedPolicy(f"w{i:02d}-s{job.seed}", handle, job.seed, front_compute(job.id), weights=w,
                                    direction=w, step=rounds.compute.policy_updates, metadata=metadata))  # fmt: skip
    return JobResult(points, shared={job.id: rounds.compute})


BIBTEX = """@inproceedings{yang2024ric,
  title     = {Rewards-in-Context: Multi-objective Alignment of Foundation Models with Dynamic Preference Adjustment},
  author    = {Yang, Rui and Pan, Xiaoman and Luo, Feng and Qiu, Shuang and Zhong, Han and Yu, Dong and Chen, Jianshu},
  booktitle = {Proceedings of the 41st International Conference on Machine Learning},
  year      = {2024},
  eprint    = {2402.10207},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=RiCSection, name="ric", display_name="RiC", color="#CC6677", bibtex=BIBTEX
)  # colour: Tol muted rose
