#!/usr/bin/env bash
# Several-GPU check: every method, a few steps each, under `accelerate launch` with the DDP and FSDP configs of
# experiments/accelerate/, on a Qwen2-0.5B-shaped stand-in in bf16 with LoRA (the sweeps of experiments/gpu_check.py,
# run through the CLI here so that every process runs the whole sweep). One command on a machine with 2+ GPUs:
#
#     bash experiments/multi_gpu_check.sh                     # all GPUs, both launcher configs, every method
#     NPROC=2 METHODS="modpo dpa" LAUNCHERS=ddp bash experiments/multi_gpu_check.sh
#     DRY=1 METHODS=modpo bash experiments/multi_gpu_check.sh  # the plumbing on CPU: torchrun, 2 gloo processes
#
# Per (launcher, method) it records the exit status; the peak memory of each GPU while the sweep ran (nvidia-smi,
# sampled every 0.5 s: one process per GPU, so per rank); and whether every point of the front reloads through
# `load_policy` and generates. Under FSDP the methods that sample from the policy outside the trainer (dpa, ric,
# cmorl, dynamic_hv, dynamic_grad) are refused at sweep start in one line: recorded as `refused`, which is expected.
# Writes OUT/summary.tsv (OUT: experiments/results/multi_gpu_check by default) and each run's log beside it; exits
# 0 when every run finished (or was refused as expected) and reloaded, 1 otherwise.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
OUT="${OUT:-$ROOT/experiments/results/multi_gpu_check}"
METHODS="${METHODS:-modpo morlhf dynamic_hv dynamic_grad bon soups mod dpa ric cmorl}"
LAUNCHERS="${LAUNCHERS:-ddp fsdp}"
DRY="${DRY:-0}"
if [ "$DRY" = 1 ]; then NPROC="${NPROC:-2}"; LAUNCHERS=cpu; else
  NPROC="${NPROC:-$(nvidia-smi --list-gpus | wc -l)}"; fi
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT/configs"

# the configs: gpu_check.py's few-step sweeps (its stand-in and data written under OUT)
"$PYTHON" - "$OUT" "$DRY" $METHODS <<'EOF' || exit 1
import sys
from pathlib import Path

import yaml

sys.path.insert(0, "experiments")
import gpu_check

out, dry, methods = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
setting, _ = gpu_check.make_setting(out / "setting", dry)
for name in methods:
    gpu_check.sweep_config(name, setting)  # validated here: a bad section fails before any launch
    (out / "configs" / f"{name}.yaml").write_text(yaml.safe_dump(gpu_check.sweep_dict(name, setting)))
EOF

reloads() {  # every point of the front (and the baseline) reloads on one device and generates
  "$PYTHON" - "$1" <<'EOF'
import sys

import torch

from pareto_align.front import read_front
from pareto_align.models.policy import load_policy

run = sys.argv[1]
front = read_front(run)
device = "cuda" if torch.cuda.is_available() else "cpu"
for point in [*front.baselines, *front.points]:
    policy = load_policy(point.policy.model_dump(exclude_none=True), run, device=device)
    assert len(policy.generate(["Hello?"], seed=0).responses) == 1, point.id
print(f"{len(front.points)} points reloaded")
EOF
}

printf "launcher\tmethod\tstatus\texit\tseconds\tpeak_memory_mib_per_gpu\n" > "$OUT/summary.tsv"
failed=0
for launcher in $LAUNCHERS; do
  for method in $METHODS; do
    run="$OUT/runs/$launcher/$method"; log="$OUT/$launcher-$method.log"
    rm -rf "$run"; mkdir -p "$(dirname "$run")"
    if [ "$launcher" = cpu ]; then
      command=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC")
    else
      command=("$PYTHON" -m accelerate.commands.launch --config_file "$ROOT/experiments/accelerate/$launcher.yaml"
               --num_processes "$NPROC")
      nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 500 > "$OUT/memory.csv" &
      sampler=$!
    fi
    start=$(date +%s)
    OMP_NUM_THREADS=1 "${command[@]}" -m pareto_align.cli sweep "$OUT/configs/$method.yaml" --output-dir "$run" \
      --no-progress > "$log" 2>&1
    code=$?
    seconds=$(( $(date +%s) - start ))
    memory="-"
    if [ "$launcher" != cpu ]; then
      kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
      memory=$(awk -F', ' '{if ($2 > m[$1]) m[$1] = $2} END {for (g in m) printf "gpu%s:%s ", g, m[g]}' "$OUT/memory.csv")
    fi
    if [ $code = 0 ] && reloads "$run" >> "$log" 2>&1; then status=ok
    elif [ $code != 0 ] && grep -q "accelerate launcher config (" "$log"; then status=refused
    else status=FAILED; failed=1; fi
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$launcher" "$method" "$status" "$code" "$seconds" "$memory" | tee -a "$OUT/summary.tsv"
  done
done
echo "wrote $OUT/summary.tsv"
exit $failed
