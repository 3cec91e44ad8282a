"""MODPO configuration: TRL's DPOConfig plus the multi-objective fields (Zhou et al., 2023)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig


@dataclass
class MODPOConfig(DPOConfig):
    """Configuration of one MODPO run: one weight vector, one trained objective.

    Reference log-probs are always precomputed once before training (TRL's `precompute_ref_log_probs`), and so are
    the margin rewards (a dataset column), so a MODPO step costs what a DPO step costs. The reference
    implementation recomputes both every step.
    """

    weights: list[float] = field(
        default_factory=lambda: [1.0],
        metadata={"help": "Preference weights w over the K objectives (non-negative, summing to 1)."},
    )
    trained_objective: int = field(
        default=0,
        metadata={"help": "Index k of the objective whose preference data is trained on; w_k must be > 0."},
    )

    def __post_init__(self):
        # The margin is folded into the precomputed reference log-probs (see MODPOTrainer.compute_loss).
        self.precompute_ref_log_probs = True
        super().__post_init__()
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")
        if not 0 <= self.trained_objective < len(self.weights):
            raise ValueError(
                f"trained_objective {self.trained_objective} is not an index of weights {self.weights}"
            )
        if self.weights[self.trained_objective] <= 0:
            raise ValueError(
                f"MODPO divides by the weight of the trained objective: weights[{self.trained_objective}] must be > 0, "
                f"got {self.weights}"
            )
        unsupported = set(self.loss_type) - {"sigmoid", "sft"}
        if unsupported:
            raise ValueError(
                f"MODPO supports loss_type 'sigmoid' (+ optional 'sft'), got {sorted(unsupported)}"
            )
