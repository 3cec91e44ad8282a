"""One sweep in several processes (`accelerate launch`, `torchrun`): every process trains, one front is written.

Under N processes the whole sweep runs in each of them, in the same order, so that every Trainer they build
meets its peers (DDP, FSDP or DeepSpeed through accelerate, which reads the launcher's environment). Files stay
consistent this way:
- the main process (rank 0) alone holds the run directory's lock, records the config, builds the shared products
  that come before any training (benchmark cache, base policy copy, baseline) and writes the run directory;
- every other process then works in a private mirror of it, `run_dir/.ranks/rank-<r>/` (weights hard-linked,
  everything else copied), where its own copies of what the processes compute together (reward model, policies:
  identical, since DDP keeps parameters in sync) land without touching the main process's files; the mirror is
  removed when the sweep ends;
- evaluations run on the main process and reach the others by broadcast (`broadcast`), so every process plans
  its next jobs from the same front; only the main process logs to a tracker.
A user error on the main process (a locked run directory, a different config) is raised on every process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MIRRORS = ".ranks"  # inside the run directory: one private mirror per non-main process


def world_size() -> int:
    """Number of processes the launcher started (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the launcher's process group (accelerate's shared state: gloo on CPU, NCCL on GPUs); no-op alone.
    The Trainers built later find the same state."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()


def broadcast(value: T) -> T:
    """The main process's `value`, on every process (pickled: only for objects this toolkit made itself)."""
    if world_size() == 1:
        return value
    import torch.distributed as dist

    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_first(work: Callable[[], T]) -> T | None:
    """Run `work` on the main process while the others wait; an exception it raises is raised on every process,
    so none is left waiting for a peer that gave up. Returns `work()`'s value on the main process, None elsewhere."""
    result, error = None, None
    if is_main():
        try:
            result = work()
        except Exception as err:  # re-raised below, here and on every other process
            error = err
    error = broadcast(error)
    if error is not None:
        raise error
    return result


def shared_dataset(dataset, folder: Path):
    """`dataset` backed by files in `folder`, the same on every process (written by the main one). TRL caches
    what it precomputes (DPO's reference log-probs) beside a dataset's files under a fingerprint all processes
    share; an in-memory dataset's folder is a per-process temporary one, where the other processes would not find
    the main process's cache. Alone, the dataset is returned as it is."""
    if world_size() == 1:
        return dataset
    import datasets

    if is_main():
        shutil.rmtree(folder, ignore_errors=True)
        dataset.save_to_disk(str(folder))
    barrier()
    return datasets.load_from_disk(str(folder))


def shared_folder(run_dir: Path, name: str) -> Path:
    """A folder of the run directory that every process sees at the same path (removed when the sweep ends)."""
    return run_dir / MIRRORS / "shared" / name


def mirror_run_dir(run_dir: Path) -> Path:
    """A private copy of `run_dir` for this (non-main) process: weight files hard-linked (they are only ever
    replaced by renames, never rewritten in place), the rest copied; the lock and temporary folders left out."""
    target = run_dir / MIRRORS / f"rank-{rank()}"
    shutil.rmtree(target, ignore_errors=True)

    def link_or_copy(src: str, dst: str) -> Any:
        if src.endswith((".safetensors", ".bin", ".npy")):
            try:
                return os.link(src, dst)
            except OSError:  # another file system: copy
                pass
        return shutil.copy2(src, dst)

    shutil.copytree(run_dir, target, copy_function=link_or_copy,
                    ignore=lambda folder, names: [n for n in names if n.startswith(".")])  # fmt: skip
    return target
