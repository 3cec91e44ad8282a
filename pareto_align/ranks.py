"""One sweep in several processes (`accelerate launch`, `torchrun`): every process trains, one front is written.

Under N processes the whole sweep runs in each of them, in the same order, so that every Trainer they build
meets its peers (DDP, FSDP or DeepSpeed through accelerate, which reads the launcher's environment). Files stay
consistent this way:
- the main process (rank 0) alone holds the run directory's lock, records the config, reads the data (benchmark
  cache, base policy copy) and writes the run directory; nothing it does alone trains, since a Trainer's
  collectives would wait for processes that wait for it (the reward model, which the baseline's evaluation may
  need, is trained by every process together, after);
- every other process then works in a private mirror of it, `run_dir/.ranks/rank-<r>/` (weights hard-linked,
  everything else copied); what the processes train together (reward model, policies) is saved through the
  trainer by the main process alone, and the others read it from the main process's run directory (`shared_root`)
  or link its files into their mirror; the mirror is removed when the sweep ends;
- evaluations run on the main process and reach the others by broadcast (`broadcast`), so every process plans
  its next jobs from the same front; only the main process logs to a tracker;
- work that splits over prompts (candidate sampling, reward differences, PAR references, held-out accuracy) is
  shared out (`shard`: a contiguous block of the items per process) and put back together in order (`gather`,
  `map_shards`), so that it gets faster with more processes.
A user error on the main process (a locked run directory, a different config) is raised on every process.

Waiting. While the main process works alone (evaluation, writing files), the others wait in `broadcast` or
`barrier`. Those go through a gloo group of their own whose timeout is `PARETO_ALIGN_WAIT_TIMEOUT` seconds (a
day by default), not the training group's (NCCL's `ddp_timeout`, 30 minutes), so that a long main-process phase
does not end the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MIRRORS = ".ranks"  # inside the run directory: one private mirror per non-main process
# seconds a process may wait for the main one (see the docstring)
WAIT_TIMEOUT_ENV = "PARETO_ALIGN_WAIT_TIMEOUT"
_waiting: list[Any] = []  # the gloo group the waits go through, once `init` has made it


def world_size() -> int:
    """Number of processes the launcher started (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the launcher's process group (accelerate's shared state: gloo on CPU, NCCL on GPUs) and make the group
    the waits go through (see the module docstring); no-op alone. The Trainers built later find the same state."""
    if world_size() > 1:
        import torch
        import torch.distributed as dist
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())
        if not _waiting:  # every process calls this once, in the same order: new_group is collective
            seconds = float(os.environ.get(WAIT_TIMEOUT_ENV, 24 * 3600))
            _waiting.append(dist.new_group(backend="gloo", timeout=timedelta(seconds=seconds)))


def _group() -> Any:
    """The waiting group (after `init`), else the default one."""
    return _waiting[0] if _waiting else None


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier(group=_group())


def broadcast(value: T) -> T:
    """The main process's `value`, on every process (pickled: only for objects this toolkit made itself)."""
    if world_size() == 1:
        return value
    import torch.distributed as dist

    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0, group=_group())
    return box[0]


def shard(n: int) -> slice:
    """This process's part of `n` items: a contiguous block, rank r of W getting [r n / W, (r + 1) n / W)."""
    w, r = world_size(), rank()
    return slice(r * n // w, (r + 1) * n // w)


def gather(part: Any) -> Any:
    """Every process's `part` (a list, a CPU tensor or a numpy array, along its first axis) joined in rank
    order, on every process: what `shard` split, whole again. Alone, `part` itself."""
    if world_size() == 1:
        return part
    import numpy as np
    import torch
    import torch.distributed as dist

    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, part, group=_group())
    if isinstance(part, torch.Tensor):
        return torch.cat(parts)
    if isinstance(part, np.ndarray):
        return np.concatenate(parts)
    return [item for p in parts for item in p]


def map_shards(work: Callable[[Sequence], Any], items: Sequence) -> Any:
    """`work(items)`, computed by every process on its `shard` of `items` and `gather`ed: `work` maps a sequence
    to one result per item (a list, or a tensor/array with one row per item)."""
    return gather(work(items[shard(len(items))]))


def total(value: float) -> float:
    """The sum of `value` over the processes (a count of the tokens each generated, say)."""
    return sum(gather([value]))


def sharded_weights() -> str | None:
    """The accelerate launcher config that shards a model's parameters over the processes, as accelerate launch
    announces it to them ('FSDP', 'DeepSpeed ZeRO-3'), or None (one process, DDP, ZeRO-1/2)."""
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "FSDP"
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    if deepspeed and os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        return "DeepSpeed ZeRO-3"
    return None


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
