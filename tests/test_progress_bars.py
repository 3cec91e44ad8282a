"""A sweep silences the bars libraries draw on every checkpoint load and save; the toolkit's own bars stay."""

from __future__ import annotations

import datasets
import pytest
import transformers
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM

from pareto_align.sweep import silence_library_progress_bars


@pytest.fixture
def bars(monkeypatch):
    """(description, drawn?) of every bar transformers makes; transformers' and datasets' switches restored."""
    hf = transformers.utils.logging
    was_on = hf.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    made: list[tuple[str, bool]] = []

    def hook(factory, args, kwargs):  # transformers passes its real tqdm, or an empty shim when bars are off
        made.append((kwargs.get("desc", ""), factory is not hf.EmptyTqdm))
        return factory(*args, **kwargs)

    hf.enable_progress_bar()
    previous = hf.set_tqdm_hook(hook)
    yield made
    hf.set_tqdm_hook(previous)
    (hf.enable_progress_bar if was_on[0] else hf.disable_progress_bar)()
    (datasets.enable_progress_bars if was_on[1] else datasets.disable_progress_bars)()


def _load_and_save(path, out) -> None:
    AutoModelForCausalLM.from_pretrained(path).save_pretrained(out)


def test_loading_and_writing_bars_are_silenced_and_ours_stay(tiny_policy_dir, tmp_path, capfd, bars):
    _load_and_save(tiny_policy_dir, tmp_path / "a")
    assert {("Loading weights", True), ("Writing model shards", True)} <= set(bars)  # the bars this is about
    bars.clear()
    silence_library_progress_bars()
    _load_and_save(tiny_policy_dir, tmp_path / "b")
    assert {("Loading weights", False), ("Writing model shards", False)} <= set(bars)
    assert not datasets.is_progress_bar_enabled()
    for _ in tqdm(range(3), desc="training p0", disable=False):  # the toolkit's bars use tqdm directly
        pass
    assert "training p0" in capfd.readouterr().err
