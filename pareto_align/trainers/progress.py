"""Progress for transformers/TRL trainers: one step bar per run, no log dicts printed to the terminal.

Logged metrics still go wherever `report_to` sends them (tensorboard, wandb, trackio, none).
"""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers import Trainer
from transformers.trainer_callback import PrinterCallback, ProgressCallback


class StepBar(ProgressCallback):
    """transformers' step progress bar with a label and the running loss, minus the printed log dicts."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = tqdm(total=state.max_steps, desc=self.label, leave=False)
        self.current_step = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.training_bar is not None and logs and "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.3f}")


def use_step_bar(trainer: Trainer, label: str, progress: bool) -> Trainer:
    """Replace the trainer's printer/progress callbacks by a `StepBar` (or nothing when `progress` is False)."""
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(StepBar(label))
    return trainer
