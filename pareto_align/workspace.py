"""A run directory and its shared products, each built lazily, once, only when a method asks for it.

    base/policy/           a copy of the built-in benchmark's base policy, so every handle stays inside the run dir
    reward_model/          the multi-head reward model (safetensors + JSON) and reward_metrics.json
    reward_diffs_<src>.npy r(x, y_w) - r(x, y_l) for every preference pair, (N, K), from the reward model or gold
                           (or, `implicit_reward`, from policies' implicit rewards; NaN for objectives without one)
    ref_logps_<obj>_<key>.npy  MODPO: the reference policy's log-probs of objective <obj>'s pairs, (N_obj, 2), for
                           the TRL settings hashed in <key> (see methods/modpo.py)
    points/<id>/policy/    one policy per trained point, renamed into place only when complete

Several sweeps of one setting (the methods of `pareto-align compare`) can share the reward model and the arrays
(reward differences, reference log-probs) through `shared_dir`: each is built there once, then linked into the run
directory (hard links, so every run directory stays whole on its own and its handles keep pointing inside it).

Methods get a `Workspace` in `run(job, workspace)`: data, base policy, reward model, scorers, evaluation, the
one place that saves a trained policy, and the history of the front while a point trains.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pareto_align import ranks
from pareto_align.atomic import link_into_place, write_bytes_atomic, write_text_atomic
from pareto_align.config import SweepConfig
from pareto_align.data.scored_pairs import label_pairs, read_prompt_file
from pareto_align.data.synthetic import SyntheticBenchmark, load_synthetic_benchmark
from pareto_align.errors import ConfigError, ScorerError
from pareto_align.evaluate import Evaluation, Scorer, evaluate_policy
from pareto_align.front import FrontTracker
from pareto_align.front.schema import Compute
from pareto_align.models.chat import (
    PromptFormat,
    as_chat_completion,
    as_chat_prompt,
    is_conversational,
    resolve_prompt_format,
)
from pareto_align.models.generation import GenerationSettings, scorable_responses
from pareto_align.models.gguf import resolve_base_model
from pareto_align.models.loading import device, frozen_dtype, load_causal_lm, load_model, load_tokenizer
from pareto_align.models.policy import Policy
from pareto_align.models.reward_model import MultiHeadRewardModel
from pareto_align.scorers.specs import is_user_scorer, spec_kind
from pareto_align.tracking import trainer_args, trainer_logging
from pareto_align.trainers.reward_model_trainer import pairwise_accuracy, train_reward_model

REWARD_MODEL_DIR = "reward_model"
# data.source 'prompts': the pairs made from the base policy and the scorers, and the responses they are made of
PAIRS_FILE = "preference_pairs.jsonl"
RESPONSES_DIR = "base_responses"
BASE_RESPONSES = "base_responses"  # their cost, in the front's shared compute
RESPONSE_CHUNK = 32  # prompts per chunk of base responses: what an interrupted run loses at most


@dataclass
class Setting:
    """Everything the jobs share: base policy, preference pairs, held-out prompts, the benchmark."""

    base_path: str
    pairs: datasets.Dataset | None  # prompt, chosen, rejected, objective
    eval_prompts: list  # strings, or message lists for chat models
    benchmark: SyntheticBenchmark | None
    scores: datasets.Dataset | None = (
        None  # attribute scores (prompt, response, scores), for the reward model
    )
    gold: Scorer | None = None  # the benchmark's gold functions
    # data.prompt_format resolved against the base tokenizer (models/chat.py)
    prompt_format: PromptFormat = "plain"
    # the base policy's tokenizer as loaded, for the checks before training
    tokenizer: PreTrainedTokenizerBase | None = None
    # data.source 'prompts': the training prompts, in the run's format, whose pairs the toolkit makes
    prompts: list | None = None

    def train_prompts(self) -> list:
        """Distinct prompts of the training data (preference pairs and scored responses), in first-seen order."""
        return distinct_prompts(self.pairs, self.scores)


def distinct_prompts(*tables: datasets.Dataset | None) -> list:
    """The distinct `prompt` values of the tables (strings or message lists), in first-seen order."""
    rows = [p for table in tables if table is not None for p in table["prompt"]]
    return list({json.dumps(p, sort_keys=True): p for p in rows}.values())


def _load_tokenizer(config: SweepConfig, path: str, revision: str | None) -> PreTrainedTokenizerBase:
    """The base policy's tokenizer alone (cheap: no weights), for the prompt format and the checks before training."""
    try:
        return load_tokenizer(path, config.policy.trust_remote_code, revision)
    except (OSError, ValueError) as err:  # unknown name or revision, offline without a cached copy
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"policy.model: the tokenizer of {path!r} could not be loaded: {first}") from err


def _formatted_eval_prompts(prompts: list, prompt_format: PromptFormat, path: Path) -> list:
    """Held-out prompts in the run's prompt format: wrapped as user turns for chat; message lists refused for
    plain (only a chat template writes them)."""
    if prompt_format == "chat":
        return [as_chat_prompt(p) for p in prompts]
    if any(is_conversational(p) for p in prompts):
        raise ConfigError(f"data.eval_prompts: {path} holds conversational prompts (message lists), and the run's "
                          "prompt format is plain (data.prompt_format 'plain', or 'auto' with a base tokenizer "
                          "without a chat template)")  # fmt: skip
    return prompts


def prepare_setting(config: SweepConfig, progress: bool, log=print) -> Setting:
    """Base policy, preference pairs and held-out prompts in the run's prompt format (resolved against the base
    policy's tokenizer, loaded alone); the gold scorer on the built-in benchmark."""
    if config.data.source == "synthetic":
        bench = load_synthetic_benchmark(config.data.synthetic, cache_dir=config.cache_dir, progress=progress)
        gold = bench.gold_scorer([o.gold for o in config.objectives], [o.direction for o in config.objectives],
                                 config.objective_names)  # fmt: skip
        tokenizer = _load_tokenizer(config, str(bench.base_path), None)
        # the benchmark's texts are plain, and its word-level tokenizer has no template: 'auto' keeps them plain
        prompt_format = resolve_prompt_format(config.data.prompt_format, tokenizer, "the built-in benchmark")
        return Setting(str(bench.base_path), bench.preference_pairs(gold), bench.eval_prompts(), bench, gold=gold,
                       prompt_format=prompt_format, tokenizer=tokenizer)  # fmt: skip
    from pareto_align.data.loading import load_preference_files

    if config.policy.model is None:
        raise ConfigError(
            f"policy.model: set the base policy (name or path) when data.source is '{config.data.source}'"
        )
    # a GGUF file (or a packaged one's short name) becomes its converted folder in the cache (models/gguf.py)
    base = resolve_base_model(config.policy.model, config.cache_dir, config.policy.revision, log=log)
    tokenizer = _load_tokenizer(config, base, config.policy.revision)
    prompt_format = resolve_prompt_format(config.data.prompt_format, tokenizer, config.policy.model)
    if config.data.source == "prompts":  # pairs made later, from the base policy's responses and the scorers
        path = config.data.prompts.path
        train = _formatted_eval_prompts(read_prompt_file(path), prompt_format, path)
        held_out = _formatted_eval_prompts(read_prompt_file(config.data.eval_prompts), prompt_format,
                                           config.data.eval_prompts)  # fmt: skip
        return Setting(base, None, held_out, None, prompt_format=prompt_format, tokenizer=tokenizer,
                       prompts=train)  # fmt: skip
    data = load_preference_files(config.data.files, config.objectives, prompt_format=prompt_format,
                                 log=log)  # fmt: skip
    if config.data.eval_prompts is not None:
        prompts = read_prompt_file(config.data.eval_prompts)
        prompts = _formatted_eval_prompts(prompts, prompt_format, config.data.eval_prompts)
    else:  # hold out prompts for evaluation: neither the reward model nor the policies train on them
        data, test = data.split(0.1, seed=0)
        prompts = distinct_prompts(test.pairs, test.scores)
    return Setting(base, data.pairs, prompts, None, data.scores, prompt_format=prompt_format,
                   tokenizer=tokenizer)  # fmt: skip


class Workspace:
    """The run directory of one sweep and its lazily built shared products."""

    def __init__(self, config: SweepConfig, run_dir: Path, tracker: FrontTracker, progress: bool = True,
                 log=print, shared_dir: Path | None = None, collective: bool | None = None) -> None:  # fmt: skip
        """`shared_dir`: where the reward model and reward differences are built once for every sweep of the same
        data, policy and reward-model settings (the caller keys it by them); None builds them in `run_dir`.
        `collective`: every process of a launcher runs this workspace's calls together (default: when several)."""
        self.config = config
        self.collective = ranks.world_size() > 1 if collective is None else collective
        self.run_dir = Path(run_dir)
        self.shared_dir = None if shared_dir is None else Path(shared_dir)
        self.shared_root = self.run_dir  # the main process's run dir, seen by every process (see ranks.py)
        self.tracker = tracker
        self.progress = progress
        self.log = log
        self._base_commit: str | None = None  # the hub commit the base policy was last loaded at
        self._arrays: dict[str, np.ndarray] = {}  # arrays read or built by this workspace, by name
        self._scorers: dict[Any, Any] = {}  # scorers built by this workspace, by source

    # ------------------------------------------------------------------ data and base policy
    @cached_property
    def setting(self) -> Setting:
        setting = prepare_setting(self.config, self.progress, self.log)
        if (
            setting.benchmark is not None
        ):  # a copy of the tiny base policy, so every handle stays inside the run dir
            local_base = self.run_dir / "base" / "policy"
            if not local_base.exists():
                tmp = Path(tempfile.mkdtemp(prefix=".base-", dir=self.run_dir))
                shutil.copytree(setting.base_path, tmp / "policy")
                local_base.parent.mkdir(exist_ok=True)
                os.replace(tmp / "policy", local_base)
                shutil.rmtree(tmp, ignore_errors=True)
            setting.base_path = str(local_base)
        if setting.prompts is not None:  # data.source 'prompts': pairs from the base policy and the scorers
            # what makes the pairs reads this setting (its base policy, its gold): cached before they exist
            self.__dict__["setting"] = setting
            self.check_scorers()
            setting.pairs = self._scored_pairs(setting)
        n_pairs = len(setting.pairs) if setting.pairs is not None else 0
        self.log(f"data: {n_pairs} preference pairs, {len(setting.eval_prompts)} held-out prompts")
        return setting

    def _scored_pairs(self, setting: Setting) -> datasets.Dataset:
        """`data.source: prompts`: the base policy's responses to the training prompts (sampled once, in chunks that
        a resumed run keeps, under `shared_dir` when there is one; their cost recorded once as `base_responses`),
        labelled into one pair per prompt and objective by the objectives' scorers (data/scored_pairs.py), written
        as a TRL preference dataset, run_dir/preference_pairs.jsonl."""
        cfg, names = self.config.data.prompts, self.config.objective_names
        built = self.shared_dir or self.run_dir
        pairs_path = self.run_dir / PAIRS_FILE
        if not pairs_path.exists() and (built / PAIRS_FILE).exists():
            link_into_place(built / PAIRS_FILE, pairs_path)
        responses, compute = self._base_responses(setting, built / RESPONSES_DIR)
        self.tracker.add_shared_compute(BASE_RESPONSES, compute)
        if pairs_path.exists():
            return datasets.Dataset.from_list(
                [json.loads(line) for line in pairs_path.read_text().splitlines()]
            )
        prompts, r = setting.prompts, cfg.responses_per_prompt
        flat_prompts = [p for p in prompts for _ in range(r)]
        self.log(f"data: labelling {len(prompts)} prompts x {r} responses with the objectives' scorers")
        objectives = self.config.objectives  # each with a scorer of its own (SweepConfig's check)
        scorer = self._build_scorer([o.scorer for o in objectives], range(len(objectives)), "objectives[{k}].scorer",
                                    lambda: self.reward_model, full=True)  # fmt: skip
        scores = (
            scorer.score(flat_prompts, [x for row in responses for x in row]).double().numpy()
        )  # (P * R, K)
        chat = setting.prompt_format == "chat"
        texts = [[as_chat_completion(x) if chat else x for x in row] for row in responses]
        pairs = label_pairs(prompts, texts, scores.reshape(len(prompts), r, len(names)), names, cfg)
        lines = "".join(json.dumps(row) + "\n" for row in pairs.to_list())
        write_text_atomic(built / PAIRS_FILE, lines)
        if built != self.run_dir:
            link_into_place(built / PAIRS_FILE, pairs_path)
        return pairs

    def _base_responses(self, setting: Setting, folder: Path) -> tuple[list[list[str]], Compute]:
        """`responses_per_prompt` responses of the base policy to each training prompt, (P, R), and their cost;
        chunks of RESPONSE_CHUNK prompts, each seeded by its index and written atomically when done."""
        cfg, prompts = self.config.data.prompts, setting.prompts
        folder.mkdir(parents=True, exist_ok=True)
        chunks = range(0, len(prompts), RESPONSE_CHUNK)
        missing = [c for c in chunks if not (folder / f"chunk-{c:06d}.json").exists()]
        if missing:
            model, tokenizer = self.load_base(device())
            policy = Policy(model, tokenizer, {})
            settings = GenerationSettings(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature)
            for c in tqdm(missing, desc="base responses", disable=not self.progress or len(missing) < 2):
                start = time.perf_counter()
                part = [p for p in prompts[c : c + RESPONSE_CHUNK] for _ in range(cfg.responses_per_prompt)]
                out = policy.generate(part, settings, seed=cfg.seed + c)
                cost = Compute(wall_seconds=time.perf_counter() - start, generated_tokens=out.n_tokens)
                record = {"responses": scorable_responses(part, out.responses), "compute": cost.model_dump()}
                write_text_atomic(folder / f"chunk-{c:06d}.json", json.dumps(record))
            del model, policy
        flat, compute = [], Compute()
        for c in chunks:
            record = json.loads((folder / f"chunk-{c:06d}.json").read_text())
            flat += record["responses"]
            compute = compute + Compute.model_validate(record["compute"])
        r = cfg.responses_per_prompt
        return [flat[i * r : (i + 1) * r] for i in range(len(prompts))], compute

    def pairs(self, method: str) -> datasets.Dataset:
        """The preference pairs; a clear error for a method that needs them when the data has none."""
        if self.setting.pairs is None:
            raise ConfigError(f"data.files: {method} trains on pairwise preferences, and no file gives any")
        return self.setting.pairs

    def load_base(
        self, on: str | None = None, trainable: bool = False
    ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The base policy and its tokenizer, frozen in `policy.dtype`, or in float32 when its weights are to train
        in full (`trainable`; see models/loading.py for the precision policy)."""
        # `policy.revision` pins the user's model; the benchmark's base is a local copy without revisions
        revision = self.config.policy.revision if self.setting.benchmark is None else None
        policy = self.config.policy
        model, tokenizer = load_causal_lm(self.setting.base_path, policy.trust_remote_code, on, revision,
                                          dtype=policy.dtype, trainable=trainable)  # fmt: skip
        self._base_commit = getattr(model.config, "_commit_hash", None) or self._base_commit
        return model, tokenizer

    def load_base_to_train(self, on: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The base policy to fine-tune: in float32 for full fine-tuning; with `policy.lora`, the adapters' frozen
        base in `policy.dtype` (the adapters, which train, are float32: PEFT upcasts them)."""
        return self.load_base(on, trainable=self.config.policy.lora is None)

    def base_handle(self) -> str | None:
        """The base policy's path relative to the run dir; None for a model outside it (a hub name)."""
        base, root = Path(self.setting.base_path).resolve(), self.run_dir.resolve()
        return str(base.relative_to(root)) if base.is_relative_to(root) else None

    def base_revision(self) -> str | None:
        """What pins a base policy outside the run dir (a hub name): `policy.revision`, else the commit it resolved
        to when loaded here (its config's, when this process has not loaded it); None inside the run dir."""
        if self.base_handle() is not None:
            return None
        if self.config.policy.revision is not None:
            return self.config.policy.revision
        if self._base_commit is None:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.setting.base_path,
                                                trust_remote_code=self.config.policy.trust_remote_code)  # fmt: skip
            self._base_commit = getattr(config, "_commit_hash", None)
        return self._base_commit

    def base_reference(self) -> dict[str, Any]:
        """The base policy as a handle names it: its `path` in the run dir, or a model outside it by name, with
        `hub: true` and the `revision` that pins it (the baseline's checkpoint, best-of-n's sampling policy)."""
        rel = self.base_handle()
        if rel is not None:
            return {"path": rel}
        revision = self.base_revision()
        return {"path": self.setting.base_path, "hub": True, **({"revision": revision} if revision else {})}

    def peft_config(self):
        """`peft.LoraConfig` from `policy.lora`, or None for full fine-tuning."""
        if self.config.policy.lora is None:
            return None
        from peft import LoraConfig

        return LoraConfig(task_type="CAUSAL_LM", **self.config.policy.lora)

    # ------------------------------------------------------------------ reward model and scorers
    @cached_property
    def reward_model(self) -> MultiHeadRewardModel:
        """Trained once per run directory (reloaded on resume); its metrics go to the front's provenance."""
        source = self._reward_model_dir()
        metrics = json.loads((source / "reward_metrics.json").read_text())
        self.tracker.provenance["reward_model"] = metrics
        shown = {"accuracy/": "held-out accuracy", "gold_accuracy/": "accuracy against gold labels"}
        for prefix, what in shown.items():
            values = ", ".join(
                f"{k.split('/')[-1]} {v:.3f}" for k, v in metrics.items() if k.startswith(prefix)
            )
            if values:
                self.log(f"reward model: {what} {values}")
        # trained in float32; scores, frozen, in `policy.dtype`
        return MultiHeadRewardModel.load(source, dtype=frozen_dtype(self.config.policy.dtype)).to(device())

    def _reward_model_dir(self) -> Path:
        """The folder this process reads the reward model from, trained first when no run has built it: by every
        process together under a launcher (its Trainer's collectives need them all; the main process decides and
        writes), then read by the others from the main process's run directory."""
        target = self.run_dir / REWARD_MODEL_DIR
        built = target if self.shared_dir is None else self.shared_dir / REWARD_MODEL_DIR
        missing = (
            not (target / "reward_metrics.json").exists() and not (built / "reward_metrics.json").exists()
        )
        if self.collective:
            missing = ranks.broadcast(missing)
        if missing:
            self._train_reward_model(built)
        elif built != target and not (target / "reward_metrics.json").exists():
            self.log(f"reward model: reusing {built}")
        if ranks.is_main() and built != target and not (target / "reward_metrics.json").exists():
            shutil.rmtree(target, ignore_errors=True)  # an incomplete copy of an earlier attempt
            link_into_place(built, target)
        if not self.collective:
            return target
        ranks.barrier()  # the main process's copy is complete
        return target if ranks.is_main() else self.shared_root / REWARD_MODEL_DIR

    def _train_reward_model(self, target: Path) -> None:
        """Train into `target` (the main process writes; under a launcher every process trains, see above)."""
        setting, config = self.setting, self.config
        writes = ranks.is_main() or not self.collective
        base, tokenizer = self.load_base(trainable=True)  # the reward model is always fine-tuned in full
        tmp = None
        if writes:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".reward_model-", dir=target.parent))
        if self.collective:
            tmp = ranks.broadcast(tmp)  # one output folder: the Trainer saves on the main process only
        try:
            pairs = (
                setting.pairs.select_columns(["prompt", "chosen", "rejected", "objective"])
                if setting.pairs
                else None
            )
            with trainer_logging(config.tracking, self.run_dir, REWARD_MODEL_DIR):
                model, metrics = train_reward_model(config.reward_model, config.objective_names, pairs,
                                                    setting.scores, base, tokenizer, tmp, progress=self.progress,
                                                    extra_args=self.tracking_args(REWARD_MODEL_DIR))  # fmt: skip
            if setting.benchmark is not None and setting.gold is not None:
                # accuracy against noiseless gold labels, on fresh pairs from held-out prompts
                held_out = setting.benchmark.gold_test_pairs(setting.gold, n_pairs=500)
                for name, acc in pairwise_accuracy(model, held_out, config.objective_names).items():
                    metrics[f"gold_accuracy/{name}"] = acc
                if writes:
                    (tmp / "reward_metrics.json").write_text(json.dumps(metrics, indent=2))
            if writes:
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
        finally:
            if writes:
                shutil.rmtree(tmp, ignore_errors=True)

    def reward_diffs(self, source: str) -> np.ndarray:
        """r(x, y_w) - r(x, y_l) for every preference pair, (N, K), from `source`; computed once per run dir (under
        a launcher, each process scores its share of the pairs)."""
        name = f"reward_diffs_{self.source_name(source)}"
        diffs = self.load_array(name)
        if diffs is None:
            scorer, pairs = self.scorer(source), self.pairs("reward differences")
            p, c, r = (list(pairs[column]) for column in ("prompt", "chosen", "rejected"))
            part = ranks.shard(len(p)) if self.collective else slice(None)
            local = (
                (scorer.score(p[part], c[part]) - scorer.score(p[part], r[part])).double().numpy()
            )  # (n, K)
            diffs = ranks.gather(local) if self.collective else local  # (N, K)
            if ranks.is_main() or not self.collective:
                self.save_array(name, diffs)
            self._arrays[name] = diffs
        return diffs

    def scorer(self, source: str, aggregation: str | None = None, uwo_lambda: float | None = None) -> Scorer:
        """(prompts, responses) -> (N, K) from `source` (see `scorers.specs.RewardSource`): `objectives` (each
        objective's own scorer; its head of the reward model where it names none), `reward_model` (the heads, an
        ensemble aggregated as `aggregation`), or `gold` (the benchmark's functions). Built once per process; the
        reward model is trained only when a head is used."""
        key = (source, aggregation, uwo_lambda)
        if key not in self._scorers:
            if source == "gold":
                if self.setting.gold is None:
                    raise ConfigError("'gold' scores are only available on the built-in benchmark")
                self._scorers[key] = self.setting.gold
            elif source == "reward_model":
                self._scorers[key] = self._heads(aggregation, uwo_lambda)
            else:
                objectives = self.config.objectives
                self._scorers[key] = self._build_scorer(
                    [o.scorer for o in objectives],
                    range(len(objectives)),
                    "objectives[{k}].scorer",
                    lambda: self._heads(aggregation, uwo_lambda),
                    full=True,
                )
        return self._scorers[key]

    def source_name(self, source: str) -> str:
        """`source` as the files built from its scores name it: 'objectives' whose objectives all use their
        reward-model heads is 'reward_model' (the same scores, so the same arrays, as before scorers existed)."""
        if source == "objectives" and all(
            spec_kind(o.scorer) == "reward_model" for o in self.config.objectives
        ):
            return "reward_model"
        return source

    def uses_heads(self, source: str | None) -> bool:
        """Whether scoring from `source` (a `RewardSource`) reads the multi-head reward model."""
        if source == "reward_model":
            return True
        return source == "objectives" and any(
            spec_kind(o.scorer) == "reward_model" for o in self.config.objectives
        )

    def _heads(self, aggregation: str | None, uwo_lambda: float | None) -> Scorer:
        if aggregation is None and uwo_lambda is None:
            return self.reward_model
        from pareto_align.rewards import AggregatedRewardModel

        return AggregatedRewardModel(self.reward_model, aggregation, uwo_lambda)

    def _build_scorer(self, specs: list, indices, where: str, heads, full: bool = False) -> Scorer:
        """The scorer of the objectives at `indices` (config order; `full`: all of them), one spec each; `where`
        names each one's field in errors (`{k}` its index, `{name}` its name)."""
        from pareto_align.scorers.composite import build_scorer

        objectives = [self.config.objectives[k] for k in indices]
        return build_scorer(specs, [o.name for o in objectives], [o.direction for o in objectives],
                            [where.format(k=k, name=o.name) for k, o in zip(indices, objectives, strict=True)],
                            heads=heads, gold=self.setting.gold, device=device(), dtype=self.config.policy.dtype,
                            indices=None if full else list(indices))  # fmt: skip

    def judge(self) -> tuple[list[int], Scorer] | None:
        """`evaluation.judges`: the judged objectives' indices (config order) and the scorer of their columns."""
        judges = self.config.evaluation.judges
        if not judges:
            return None
        if "judge" not in self._scorers:
            indices = [k for k, name in enumerate(self.config.objective_names) if name in judges]
            names = [self.config.objective_names[k] for k in indices]
            self._scorers["judge"] = (indices, self._build_scorer([judges[n] for n in names], indices,
                                                                  "evaluation.judges.{name}", lambda: self.reward_model))  # fmt: skip
        return self._scorers["judge"]

    def check_scorers(self) -> None:
        """Load every scorer the user brings (objectives' and judges') and call it once on two responses sampled
        from the base policy, before anything trains: a missing module, a model that is no sequence classifier,
        an `output` it lacks, a server that does not answer, a function that raises or returns the wrong number
        of values, None, NaN or inf, each reported in one line naming the objective's field."""
        setting, config = self.setting, self.config
        checks = [(k, o.scorer, "objectives[{k}].scorer") for k, o in enumerate(config.objectives)
                  if is_user_scorer(o.scorer)]  # fmt: skip
        checks += [(config.objective_names.index(n), spec, "evaluation.judges.{name}")
                   for n, spec in config.evaluation.judges.items() if is_user_scorer(spec)]  # fmt: skip
        if not checks:
            return
        prompts = (setting.prompts or setting.eval_prompts)[:2]
        model, tokenizer = self.load_base(device())
        out = Policy(model, tokenizer, {}).generate(prompts, GenerationSettings(max_new_tokens=16), seed=0)
        del model
        responses = scorable_responses(prompts, out.responses)
        where = self.tracker.provenance.get("config_path") or "config"
        try:
            for k, spec, field in checks:
                scorer = self._build_scorer([spec], [k], field, lambda: self.reward_model)
                scorer.score(prompts, responses)
        except ConfigError as err:
            raise ScorerError(f"{where}: {err}") from None

    # ------------------------------------------------------------------ arrays the jobs share
    def load_array(self, name: str) -> np.ndarray | None:
        """The array `name` (run_dir/<name>.npy) built by an earlier job or run, or None when none has built it yet.
        With a `shared_dir`, one that another sweep built there is linked into the run dir first. Under several
        processes the main process's answer is every process's, so that they all build it together or none does
        (building may be a collective step, as a trainer's reference pass is)."""
        if name not in self._arrays:
            path = self.run_dir / f"{name}.npy"
            shared = None if self.shared_dir is None else self.shared_dir / path.name
            if not path.exists() and shared is not None and shared.exists():
                link_into_place(shared, path)
            array = np.load(path, allow_pickle=False) if path.exists() else None
            if self.collective:
                array = ranks.broadcast(array)
            if array is None:
                return None
            self._arrays[name] = array
        return self._arrays[name]

    def save_array(self, name: str, array: np.ndarray) -> np.ndarray:
        """Write the array `name`, atomically: into `shared_dir` when there is one (then linked into the run dir),
        else into the run dir. Returns `array`."""
        path = self.run_dir / f"{name}.npy"
        built = path if self.shared_dir is None else self.shared_dir / path.name
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        write_bytes_atomic(built, buffer.getvalue())
        if built != path:
            link_into_place(built, path)
        self._arrays[name] = array
        return array

    def build_shared_products(self) -> None:
        """Build now what jobs would otherwise build lazily: the data (and the base policy's copy), the reward model
        wherever the config scores with it, and MODPO's reward differences where its margins count. A distributed
        launcher calls this before its jobs start, so that workers only read the products by path and never race
        to build the same one. Products a method builds inside its jobs (PAR's reference, dynamic_hv's seed
        vector) are written atomically and identically by whichever job gets there first."""
        setting = self.setting
        config, method = self.config, self.config.method
        sections = [method, getattr(method, "specialists", None)]
        sources = {config.evaluation.scorer, *(getattr(s, "reward_source", None) for s in sections)}
        margin = getattr(method, "margin_source", None)
        fixed_k = getattr(method, "trained_objective", "largest_weight") != "largest_weight"
        margins_count = margin is not None and (
            fixed_k or any(int((w > 0).sum()) > 1 for w in config.weight_vectors())
        )
        judges = config.evaluation.judges.values()
        if (any(self.uses_heads(s) for s in sources) or (margins_count and self.uses_heads(margin))
                or any(spec_kind(j) == "reward_model" for j in judges)):  # fmt: skip
            self.reward_model  # noqa: B018 -- trained (or loaded) here, once
        if margins_count and setting.pairs is not None and margin == "implicit_reward":
            self.implicit_reward_diffs(method.margin_policies, method.margin_beta, method)
        elif margins_count and setting.pairs is not None:
            self.reward_diffs(margin)

    def implicit_reward_diffs(self, policies: dict[str, str], beta: float, section) -> np.ndarray:
        """beta [log-ratio(y_w) - log-ratio(y_l)] of each objective's margin policy against the base, (N, K), NaN
        for objectives without a policy; computed once per run dir (see trainers/implicit_reward.py).

        `section` is the MODPO method section: its TRL settings (max_length, truncation, batch size) tokenize the
        pairs exactly as training does.
        """
        name = "reward_diffs_implicit_reward"  # not through shared_dir: the margin policies are the run's own
        if name in self._arrays:
            return self._arrays[name]
        path = self.run_dir / f"{name}.npy"
        if path.exists():
            diffs = np.load(path, allow_pickle=False)
        else:
            from pareto_align.trainers.implicit_reward import implicit_reward_diffs, sequence_logps

            pairs, names = self.pairs("implicit-reward margins"), self.config.objective_names
            diffs = np.full((len(pairs), len(names)), np.nan)  # (N, K)
            with tempfile.TemporaryDirectory(dir=self.run_dir, prefix=".implicit-") as work:
                args = section.build_trl_config(output_dir=work, weights=[1.0], trained_objective=0, seed=0,
                                                disable_tqdm=True)  # fmt: skip
                base, tokenizer = self.load_base(device())
                reference = sequence_logps(base, tokenizer, pairs, args)
                del base
                for name, source in policies.items():
                    self.log(f"margins: implicit reward of {source} for '{name}' (beta {beta})")
                    # the model alone: pairs are tokenized by the base policy's tokenizer, which it must share
                    model = load_model(source, self.config.policy.dtype,
                                       trust_remote_code=self.config.policy.trust_remote_code).to(device())  # fmt: skip
                    diffs[:, names.index(name)] = implicit_reward_diffs(
                        sequence_logps(model, tokenizer, pairs, args), reference, beta
                    )
            buffer = io.BytesIO()
            np.save(buffer, diffs, allow_pickle=False)
            write_bytes_atomic(path, buffer.getvalue())
        self._arrays[name] = diffs
        return diffs

    # ------------------------------------------------------------------ evaluation and history
    def evaluate(self, policy: Policy | None, samples_per_prompt: int | None = None,
                 scorer: Scorer | None = None) -> Evaluation:  # fmt: skip
        """The policy's objective vector on the held-out prompts, scored by `evaluation.scorer` (or `scorer`).

        Under several processes the main process evaluates and the others receive its result (their `policy` may
        be None), so that every process sees the same front."""
        if self.collective and not ranks.is_main():
            return ranks.broadcast(None)
        ev = self.config.evaluation
        prompts = self.setting.eval_prompts[: ev.max_prompts] if ev.max_prompts else self.setting.eval_prompts
        result = evaluate_policy(policy, prompts, scorer or self.scorer(ev.scorer), ev.generation,
                                 samples_per_prompt or ev.samples_per_prompt, ev.seed, n_examples=ev.n_examples,
                                 judge=None if scorer is not None else self.judge())  # fmt: skip
        return ranks.broadcast(result) if self.collective else result

    def record_history(self, point_id: str, step: int, evaluation: Evaluation, **fields: Any) -> None:
        """A policy's objective vector while it trains, into front.json's history (saved at once).

        `hypervolume` is that of the finished points plus this policy, so a user sees the front move.
        """
        from pareto_align.front.indicators import hypervolume

        F = np.vstack([self.tracker.F(), np.asarray(evaluation.values)[None, :]])  # (n + 1, K)
        hv = hypervolume(F, self.tracker.reference_point, self.tracker.normalization)
        self.tracker.log(step=step, point_id=point_id, hypervolume=hv, values=evaluation.values,
                         stderr=evaluation.stderr, **fields)  # fmt: skip
        self.tracker.save(self.run_dir)

    # ------------------------------------------------------------------ saving policies
    @contextlib.contextmanager
    def training_dir(self, point_id: str) -> Iterator[Path]:
        """A scratch folder inside points/<id>/ for a trainer's files; removed afterwards, whatever happens.
        Trainers built inside it log to the run's trackers under the point's name (see `tracking_args`)."""
        point_dir = self.run_dir / "points" / point_id
        point_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".train-", dir=point_dir))
        try:
            with trainer_logging(self.config.tracking, self.run_dir, point_id):
                yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def tracking_args(self, run: str) -> dict[str, Any]:
        """Fields of a trainer's config that send its logs to `tracking.report_to` (none: empty); build the
        trainer inside `training_dir(run)` so that tensorboard writes under RUN_DIR/tensorboard/<run>."""
        return trainer_args(self.config.tracking, self.config.name, run)

    def save_policy(self, point_id: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, work: Path,
                    trainer: Any = None) -> dict[str, str]:  # fmt: skip
        """Save full weights or a LoRA adapter as points/<id>/policy (renamed into place when complete); returns
        its checkpoint handle. Given the `trainer` that trained it, through `trainer.save_model` (every process
        calls it: it gathers FSDP/ZeRO-3 shards into whole tensors); else `model` is whole here (one process, or
        DDP). The main process alone writes; under a launcher the others then link its files into their mirror."""
        staged = work / "policy"
        writes = ranks.is_main() or not self.collective
        if trainer is not None:
            trainer.save_model(str(staged))
            if writes:
                _keep_trained_adapter(staged)
        elif writes and hasattr(model, "peft_config"):
            # the trained LoRA adapter alone (not a frozen "ref" copy TRL may add)
            model.save_pretrained(staged, selected_adapters=["default"])
        elif writes:
            model.save_pretrained(staged)  # full weights
        final = self.run_dir / "points" / point_id / "policy"
        if writes:
            tokenizer.save_pretrained(staged)
            if (staged / "adapter_config.json").exists():
                self.relocatable_adapter(staged)
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        if self.collective:
            ranks.barrier()  # the main process's copy is complete
            if not ranks.is_main():  # hard links: the same bytes, no second copy on disk
                shutil.rmtree(final, ignore_errors=True)
                link_into_place(self.shared_root / "points" / point_id / "policy", final)
        return {"kind": "checkpoint", "path": str(final.relative_to(self.run_dir))}

    def relocatable_adapter(self, adapter_dir: Path) -> None:
        """Record the adapter's base model relative to the run dir when it lives there, so runs can be moved; a base
        outside it (a hub name) keeps its name, pinned by its revision in PEFT's own `revision` field ("the base
        model version"), at which `load_policy` (and PEFT's AutoPeftModel) reload it."""
        path = adapter_dir / "adapter_config.json"
        adapter = json.loads(path.read_text())
        rel = self.base_handle()
        if rel is not None:
            adapter["base_model_name_or_path"] = rel
        elif self.base_revision() is not None:
            adapter["revision"] = self.base_revision()
        else:
            return
        write_text_atomic(path, json.dumps(adapter, indent=2))


def _keep_trained_adapter(folder: Path) -> None:
    """A checkpoint the Trainer saved, as a policy folder: without its pickled training arguments, and with the
    trained LoRA adapter alone (PEFT writes every adapter, TRL's frozen "ref" copy in a subfolder)."""
    (folder / "training_args.bin").unlink(missing_ok=True)
    if (folder / "adapter_config.json").exists():
        for sub in folder.iterdir():
            if sub.is_dir() and (sub / "adapter_config.json").exists():
                shutil.rmtree(sub)
