"""`method: dpa`: directional preference alignment (Wang et al., 2024, "Arithmetic Control of LLMs for Diverse User
Preferences: Directional Preference Alignment with Multi-Objective Rewards").

One policy, conditioned on a preference direction v (a unit vector in reward space) written into its prompt, is
trained by preference-conditioned rejection-sampling fine-tuning (RSF); its front is that one model evaluated on a
grid of directions. The authors released a model card but no training code, so this is an implementation from the
paper; every choice it leaves open is stated here.

The loop (the paper's Algorithm 1), for t = 1..`iterations`:
1. for every training prompt x, draw `directions_per_prompt` directions v (below);
2. sample `n` responses per (x, v) from the current policy, with v written into the prompt;
3. score each response per objective, r(x, y) in R^K, and keep the one with the largest utility u_v(r) (below:
   the paper's v . r~, or its reference-centred, bounded form): rejection sampling;
4. fine-tune the current policy on the kept (prompt with v, response) pairs with TRL's SFTTrainer (loss on the
   response only), and continue from it in round t + 1.

Choices:
- Directions. Two objectives: v = (cos theta, sin theta), theta uniform in `angle_range` (degrees, measured from the
  first objective toward the second; the paper's [-45, 45] by default, so the first objective always keeps at least
  cos 45 = 0.71 of the weight and a negative second weight asks for less of it). K objectives: `space: sphere`
  draws v uniformly on the positive part of the unit sphere (|g| / ||g||, g ~ N(0, I)), `space: simplex` draws v
  uniformly on the simplex (Dirichlet(1)), used as is (then v sums to 1 rather than having norm 1).
- The prompt. The paper's system prompt ends "maximize weighted rating = helpfulness*{w_h} + verbosity*{w_v}" with
  w = round(100 v); the default template is `"maximize weighted rating = <name_1>*{c[0]} + ... | {prompt}"` with the
  objectives' names (maximize convention: a positive weight on an objective declared `direction: min` asks for
  less of the raw quantity), before the user's prompt, as a system prompt is. `template` replaces it. In a
  chat-format run (`data.prompt_format`) the preference is a system turn of its own, as in the paper and its
  released model: the template without `{prompt}` and its '|' ("maximize weighted rating = helpful*80 +
  harmless*60"), appended to a system turn the prompt already has; the handles' condition says so (`turn: system`).
  The kept response is the SFT completion: an assistant turn after a conversational prompt.
- Rewards and their scale. The paper's reward model regresses attribute scores on one scale (0-100); the toolkit's
  heads are Bradley-Terry scores on scales of their own (and gold functions are counts). So each objective is
  standardized by its mean and standard deviation over the first round's candidates, which are the base policy's
  responses: r~_k = (r_k - mean_k) / std_k, fixed for the remaining rounds (`calibration: none` keeps raw scores).
  Rewards come from the multi-head reward model (ensemble aggregated per `aggregation`) or, on the built-in
  benchmark, the gold functions (`reward_source`).
- The selection. The paper keeps argmax_y v . r~(x, y) (`selection: linear`, `pick_beta: 0`). With a learned
  reward model that pick has no anchor: rejection sampling has no KL term, and three rounds of argmax over a proxy
  compound. On the built-in benchmark it reward-hacks: round 1 keeps responses full of flagged words (the helpful
  head reads them as topic words), later rounds drift to near-empty responses, and the front ends below the base
  policy's (experiments/RESULTS.md). Two alternatives are offered; neither helped on the benchmark, so the paper's
  argmax stays the default:
  - `pick_beta` > 0, the KL-aware pick (beta in calibrated units): the kept candidate is drawn
    with probability softmax(u / beta) over the n candidates. They are samples of the current policy pi, so this
    resamples toward pi*(y) ∝ pi(y) exp(u(y) / beta), the maximizer of E[u] - beta KL(. || pi), the objective
    RLHF regularizes with a KL term; each round is a bounded step (the KL of the kept responses to pi is at most
    log n, and small when the utilities differ by less than beta), so a noisy proxy is followed where it is clear
    and not chased into its extremes. It costs nothing beyond the argmax (no log-probabilities: the
    candidates' own sampling supplies pi) and beta = 0 is the paper's argmax. Measured with beta = 1 on
    experiments/dpa.yaml (3 seeds): hypervolume 366, 420, 337 against the argmax's 842, 692, 864: a softer pick
    keeps more of the flagged-word responses the reward model favours (about 5 flagged words per response, the
    base has 1.3), so the bounded step does not remove the proxy's bias, it only slows the escape from it.
  - `selection: par`: argmax_y v . sigmoid((r(x, y) - r(x, y_ref)) / std), PAR's reference-centred, bounded
    shaping (Fu et al., 2025, as morlhf's `par`) inside the pick; y_ref the base policy's response to the same
    prompt (generated and scored once per run directory, morlhf's `par_reference`), std the calibration's scale
    (1 with `calibration: none`: then exactly morlhf's PAR). Measured on the benchmark it did not help (seed 0:
    hypervolume 776 against the paper's pick's 842 and the base's 851): bounding each objective's gain does not
    stop the drift to short responses that every "shorter" objective pays for.
- Each round fine-tunes the previous round's policy (not the base) on that round's selections only, with a fresh
  optimizer (`trl:` sets the SFT hyper-parameters of every round).
- The front: `front_directions` if given, else `front_angles` angles evenly spaced over `angle_range` (two
  objectives), else the sweep's `weights` grid written as directions (w / ||w|| on the sphere, w on the simplex).
  Each point is a `conditioned` handle on the one checkpoint with its direction; the explorer's slider writes any
  other direction the same way.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from pareto_align.front.schema import Front
from pareto_align.methods._conditioned import (
    ConditionedSection,
    Rounds,
    fine_tune,
    front_compute,
    sample_and_score,
    spread,
)
from pareto_align.methods._online import PAR_REFERENCE, reference_rewards, reward_scorer
from pareto_align.methods.base import Job, JobResult, MethodInfo, TrainedPolicy, UpdatePlan, fitting_steps
from pareto_align.models.conditioning import format_conditioned_prompt, integer_weights
from pareto_align.models.loading import device
from pareto_align.rewards import par_shaping

if TYPE_CHECKING:
    from pareto_align.config import SweepConfig
    from pareto_align.workspace import Workspace

TOLERANCE = 1e-9  # on the cone's bounds, in degrees


class DPASection(ConditionedSection):
    """YAML section `method:` for `name: dpa`."""

    name: Literal["dpa"] = "dpa"
    space: Literal["angle", "sphere", "simplex"] = Field(
        "angle",
        description="Where directions live: 'angle' (two objectives: an angle in angle_range), 'sphere' (the "
        "positive part of the unit sphere) or 'simplex' (non-negative weights summing to 1).",
    )
    angle_range: tuple[float, float] = Field(
        (-45.0, 45.0),
        description="space 'angle': the directions' angles in degrees, from the first objective toward the second.",
    )
    front_angles: int = Field(
        7, ge=1, description="space 'angle': front directions evenly spaced over angle_range."
    )
    front_directions: list[list[float]] | None = Field(
        None,
        description="Explicit front directions (normalized as the space writes them); default: see docs.",
    )
    iterations: int = Field(3, ge=1, description="Rounds of rejection sampling and fine-tuning (T).")
    directions_per_prompt: int = Field(8, ge=1, description="Directions drawn per training prompt and round.")
    n: int = Field(
        8, ge=1, description="Responses sampled per prompt and direction; the best by v . r is kept."
    )
    selection: Literal["linear", "par"] = Field(
        "linear",
        description="The utility rejection sampling ranks candidates by: 'linear' (the paper's v . (r - mean) / "
        "std) or 'par' (v . sigmoid((r - r_ref) / std), y_ref the base policy's response to the prompt: bounded "
        "and reference-centred).",
    )
    pick_beta: float = Field(
        0.0,
        ge=0,
        description="KL-aware pick: the kept candidate is drawn with probability softmax(utility / beta), a "
        "resampling toward the maximizer of E[utility] - beta KL(. || policy); 0: the paper's argmax.",
    )
    calibration: Literal["standardize", "none"] = Field(
        "standardize",
        description="Per-objective scale of the rewards in v . r: standardized by the base policy's candidates "
        "(the first round's), or raw.",
    )
    weight_scale: int = Field(
        100, ge=1, description="Prompt weights are round(weight_scale * v), as the paper's."
    )

    @model_validator(mode="after")
    def _angles(self):
        lo, hi = self.angle_range
        if not -90.0 <= lo < hi <= 90.0:
            raise ValueError(
                f"method.angle_range: needs -90 <= low < high <= 90 degrees, got {list(self.angle_range)}"
            )
        return self

    def default_template(self, names: list[str]) -> str:
        terms = " + ".join(f"{name}*{{c[{k}]}}" for k, name in enumerate(names))
        return f"maximize weighted rating = {terms} | {{prompt}}"

    def check(self, config: SweepConfig) -> None:
        k = len(config.objectives)
        if self.space == "angle" and k != 2:
            raise ValueError(f"method.space: 'angle' describes two objectives, the config has {k}; "
                             "use 'sphere' or 'simplex'")  # fmt: skip
        for i, v in enumerate(self.front_directions or []):
            try:
                check_direction(v, k, self.space, self.angle_range)
            except ValueError as err:
                raise ValueError(f"method.front_directions[{i}]: {err}") from None
        super().check(config)

    def planned_updates(self, config: SweepConfig) -> UpdatePlan | None:
        """One fine-tuning pass per iteration, when `max_steps` fixes its length (otherwise epochs over data whose
        size only the run knows)."""
        steps = self.max_steps()
        return (
            None
            if steps is None
            else UpdatePlan(self.iterations * steps, f"{self.iterations} iterations x {steps} max_steps")
        )

    def scale_to(self, config: SweepConfig, updates: int) -> tuple[DPASection, str]:
        """Each iteration's fine-tuning gets `updates // iterations` steps (the number of rounds is the method's
        shape, kept)."""
        steps = fitting_steps(updates, self.iterations, f"{self.iterations} iterations")
        why = f"the {self.iterations} iterations share one max_steps"
        return self.with_max_steps(steps).described(config, updates, self.max_steps_change(steps), why)


def check_direction(v, k: int, space: str, angle_range: tuple[float, float] = (-45.0, 45.0)) -> np.ndarray:
    """The direction `v` normalized as `space` writes it (unit norm; the simplex: sum 1), or ValueError in one line:
    wrong length, not finite, zero, negative where the space is the positive orthant, outside the angle cone."""
    v = np.asarray(v, dtype=float)
    if v.shape != (k,):
        raise ValueError(f"a direction has {k} values (one per objective), got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"direction {v.tolist()} is not finite")
    norm = float(np.linalg.norm(v))
    if norm == 0:
        raise ValueError("the zero vector is no direction")
    if space == "angle":
        theta = math.degrees(math.atan2(v[1], v[0]))
        lo, hi = angle_range
        if not lo - TOLERANCE <= theta <= hi + TOLERANCE:
            raise ValueError(
                f"direction {v.tolist()} is at {theta:.1f} degrees, outside the cone [{lo:g}, {hi:g}]"
            )
        return v / norm
    if np.any(v < 0):
        raise ValueError(
            f"direction {v.tolist()} has negative weights; space '{space}' is the positive orthant"
        )
    return v / norm if space == "sphere" else v / v.sum()


def angle_directions(angles_deg) -> np.ndarray:
    """Two-objective directions (cos theta, sin theta) at the given angles in degrees, shape (m, 2)."""
    t = np.radians(np.asarray(angles_deg, dtype=float))
    v = np.stack([np.cos(t), np.sin(t)], axis=1)  # (m, 2)
    v[np.abs(v) < 1e-12] = (
        0.0  # cos 90 degrees is 6e-17: a direction along one objective must be exactly that
    )
    return v


def sample_directions(rng: np.random.Generator, m: int, k: int, space: str,
                      angle_range: tuple[float, float] = (-45.0, 45.0)) -> np.ndarray:  # fmt: skip
    """`m` random directions, shape (m, K): angles uniform in the cone, uniform on the positive unit sphere, or
    uniform on the simplex (see the module docstring)."""
    if space == "angle":
        return angle_directions(rng.uniform(*angle_range, size=m))
    if space == "sphere":
        g = np.abs(rng.standard_normal((m, k)))  # (m, K), the positive orthant of an isotropic Gaussian
        return g / np.linalg.norm(g, axis=1, keepdims=True)
    return rng.dirichlet(np.ones(k), size=m)


def direction_grid(section: DPASection, config: SweepConfig) -> np.ndarray:
    """The front's directions, shape (m, K) (see the module docstring)."""
    k = len(config.objectives)
    if section.front_directions is not None:
        return np.stack(
            [check_direction(v, k, section.space, section.angle_range) for v in section.front_directions]
        )
    if section.space == "angle":
        return angle_directions(np.linspace(*section.angle_range, section.front_angles))
    w = config.weight_vectors()  # (m, K), on the simplex
    return w / np.linalg.norm(w, axis=1, keepdims=True) if section.space == "sphere" else w


def selection_utility(rewards: np.ndarray, directions: np.ndarray, mean: np.ndarray, std: np.ndarray,
                      reference: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Utility of every candidate, shape (G, n): v_g . (r_gj - mean) / std (the paper's), or with `reference`
    (G, K), each group's reference rewards, PAR's v_g . sigmoid((r_gj - r_ref_g) / std).

    rewards (G, n, K): n candidates per (prompt, direction) group; directions (G, K); mean, std (K,).
    """
    if reference is None:
        calibrated = (rewards - mean) / std  # (G, n, K)
    else:
        calibrated = par_shaping(rewards / std, (reference / std)[:, None, :])  # (G, n, K), in (0, 1)
    return np.einsum("gnk,gk->gn", calibrated, directions)  # (G, n)


def kl_regularized_pick(utility: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Index of the kept candidate per group, shape (G,), from utilities (G, n): the argmax when `beta` is 0 (ties go
    to the first candidate), else drawn with probability softmax(u / beta). The candidates are samples of the policy
    pi, so resampling them by exp(u / beta) draws (self-normalized importance resampling) from pi*(y) ∝ pi(y)
    exp(u(y) / beta), the maximizer of E[u] - beta KL(. || pi): each round moves the policy by a bounded step instead
    of toward the proxy's argmax."""
    if beta == 0:
        return utility.argmax(axis=1)
    z = utility / beta - (utility / beta).max(axis=1, keepdims=True)  # (G, n)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (G, n)
    u = rng.random((len(p), 1))  # (G, 1)
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), p.shape[1] - 1)


def plan(config: SweepConfig, front: Front) -> list[Job]:
    """One conditioned model per seed; its front is its direction grid."""
    return [Job(f"dpa-s{seed}", seed) for seed in config.seeds]


def train(ws: Workspace, section: DPASection, job: Job, template: str, condition: dict) -> Rounds:
    """The rounds of rejection-sampling fine-tuning still to do (a resumed job starts after its last round)."""
    rounds = Rounds.load(ws, job.id)
    if rounds.done >= section.iterations:
        return rounds
    names = ws.config.objective_names
    k = len(names)
    scorer = reward_scorer(ws, section)
    model, tokenizer = rounds.model(template, k)
    model.to(device())
    prompts = ws.setting.train_prompts()
    d, n = section.directions_per_prompt, section.n
    reference = None
    if section.selection == "par":  # (P, K) -> (G, K): each group's prompt's reference rewards
        reference = np.repeat(
            reference_rewards(ws, section, prompts, scorer, section.max_new_tokens), d, axis=0
        )
    while rounds.done < section.iterations:
        t = rounds.done + 1
        start = time.perf_counter()
        rng = np.random.default_rng([job.seed, t])
        groups = [p for p in prompts for _ in range(d)]  # (G,)
        V = sample_directions(rng, len(groups), k, section.space, section.angle_range)  # (G, K)
        conditioned = [
            format_conditioned_prompt(p, v, template, condition) for p, v in zip(groups, V, strict=True)
        ]
        drawn = sample_and_score(ws, model, tokenizer, [c for c in conditioned for _ in range(n)],
                                 [p for p in groups for _ in range(n)], scorer, section.generation(),
                                 seed=1000 * job.seed + t)  # fmt: skip
        candidates, n_tokens = drawn.responses, drawn.n_tokens
        R = drawn.rewards.reshape(len(groups), n, k)  # (G, n, K)
        state = dict(rounds.state)
        if "mean" not in state:  # the base policy's candidates fix the scale of every objective
            flat = R.reshape(-1, k)
            calibrate = section.calibration == "standardize"
            state["mean"] = flat.mean(axis=0).tolist() if calibrate else [0.0] * k
            state["std"] = spread(flat).tolist() if calibrate else [1.0] * k
        mean, std = np.asarray(state["mean"]), np.asarray(state["std"])
        utility = selection_utility(R, V, mean, std, reference)  # (G, n)
        best = kl_regularized_pick(utility, section.pick_beta, rng)  # (G,), rejection sampling
        kept = [candidates[g * n + j] for g, j in enumerate(best)]
        state.setdefault("rounds", []).append({"round": t, "mean_utility": float(utility.mean()),
                                               "kept_utility": float(utility.max(axis=1).mean()),
                                               "candidates_per_process": drawn.per_process})  # fmt: skip
        model, sft = fine_tune(ws, section, model, tokenizer, conditioned, kept, job.id,
                               f"{job.id} round {t}/{section.iterations}", job.seed)  # fmt: skip
        compute = sft.model_copy(
            update={"wall_seconds": time.perf_counter() - start, "generated_tokens": n_tokens}
        )
        rounds.save(model, tokenizer, compute, state)
        ws.log(
            f"{job.id}: round {t}: mean utility {utility.mean():+.3f} over candidates, {utility.max(axis=1).mean():+.3f} kept"
        )
    return rounds


def run(job: Job, ws: Workspace) -> JobResult:
    """Train the conditioned model (resuming after its last finished round), then one point per front direction."""
    section: DPASection = ws.config.method  # type: ignore[assignment]
    names = ws.config.objective_names
    template = section.resolved_template(names)
    condition = {"kind": "integer_weights", "scale": section.weight_scale}
    if ws.setting.prompt_format == "chat":  # the paper's place for the preference: a system turn
        condition["turn"] = "system"
    rounds = train(ws, section, job, template, condition)
    points = []
    for i, v in enumerate(direction_grid(section, ws.config)):
        handle = {"kind": "conditioned", "path": rounds.path, "direction": v.tolist(), "template": template,
                  "condition": condition}  # fmt: skip
        weights = (v / v.sum()).tolist() if np.all(v >= 0) else None  # the same preference on the simplex
        metadata = {"grid_index": i, "prompt_weights": integer_weights(v, section.weight_scale),
                    "iterations": rounds.done, "reward_source": section.reward_source,
                    "rounds": rounds.state.get("rounds", [])}  # fmt: skip
        if section.space == "angle":
            metadata["angle"] = math.degrees(math.atan2(v[1], v[0]))
        compute = front_compute(job.id)
        if section.selection == "par":  # the base policy's scored reference responses, shared by the run
            compute.shared.append(PAR_REFERENCE)
        points.append(TrainedPolicy(f"v{i:02d}-s{job.seed}", handle, job.seed, compute, weights=weights,
                                    direction=v.tolist(), step=rounds.compute.policy_updates, metadata=metadata))  # fmt: skip
    return JobResult(points, shared={job.id: rounds.compute})


BIBTEX = """@inproceedings{wang2024dpa,
  title     = {Arithmetic Control of {LLMs} for Diverse User Preferences: Directional Preference Alignment with Multi-Objective Rewards},
  author    = {Wang, Haoxiang and Lin, Yong and Xiong, Wei and Yang, Rui and Diao, Shizhe and Qiu, Shuang and Zhao, Han and Zhang, Tong},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)},
  year      = {2024},
  eprint    = {2402.18571},
  archivePrefix = {arXiv}
}"""
INFO = MethodInfo(
    config=DPASection, name="dpa", display_name="DPA", color="#D55E00", bibtex=BIBTEX
)  # colour: Okabe-Ito vermillion
