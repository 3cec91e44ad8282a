"""A policy's implicit reward as a MODPO margin source (the option of MODPO's reference code, ZHZisZZ/modpo).

A policy pi_m trained by DPO on objective j's preferences defines the reward r_j(x, y) = beta_m log(pi_m(y|x) /
pi_ref(y|x)) (Rafailov et al., 2023, Eq. 5), so the margin MODPO needs for a pair is

    r_j(x, y_w) - r_j(x, y_l) = beta_m [(log pi_m(y_w|x) - log pi_ref(y_w|x)) - (log pi_m(y_l|x) - log pi_ref(y_l|x))]

with log-probs summed over the response's tokens (the reference code's default, `average_log_prob=False`).

The log-probs are TRL's own: each model goes through `MODPOTrainer`'s reference-log-prob precomputation (TRL's
DPO preprocessing, chat template, EOS and truncation), so a margin sees exactly the tokens its pair is trained on.
"""

from __future__ import annotations

import datasets
import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pareto_align.trainers.modpo_config import MODPOConfig
from pareto_align.trainers.modpo_trainer import prepare_pairs, reference_logps


def sequence_logps(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pairs: datasets.Dataset, args: MODPOConfig
) -> tuple[np.ndarray, np.ndarray]:
    """log pi(y_w|x) and log pi(y_l|x), each (N,), summed over response tokens as MODPO training computes them.

    `pairs` has prompt/chosen/rejected (plain or conversational). A pair that TRL drops (its prompt alone fills
    `max_length`) gets NaN: it is not trained on either.
    """
    # With no ref_model, TRL's precomputed "reference" log-probs are those of `model` itself.
    prepared = prepare_pairs(model, tokenizer, pairs.select_columns(["prompt", "chosen", "rejected"]), args)
    logps = reference_logps(prepared, len(pairs))  # (N, 2)
    return logps[:, 0], logps[:, 1]


def implicit_reward_diffs(
    policy_logps: tuple[np.ndarray, np.ndarray], reference_logps: tuple[np.ndarray, np.ndarray], beta: float
) -> np.ndarray:
    """beta [(log pi_m(y_w) - log pi_ref(y_w)) - (log pi_m(y_l) - log pi_ref(y_l))], (N,), from `sequence_logps`."""
    (m_w, m_l), (r_w, r_l) = policy_logps, reference_logps
    return beta * ((m_w - r_w) - (m_l - r_l))
