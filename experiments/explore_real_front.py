"""Check: the explorer opens a real model's fronts and its Generate tab answers from every policy kind they have.

Drives `apps/explorer.py` with Streamlit's AppTest (the page as a user gets it, without a browser) on the run
directories of a comparison (`pareto-align compare experiments/smollm2.yaml` writes one per method). For each
run it opens the page, and for every source the Generate tab offers at the default slider position (the
highlighted point's own policy, a soup or MOD mixture at the slider weights, a conditioned model at the slider
direction, best-of-n, ...) it types a prompt, presses Generate, and records the source, the seconds and the
first response. It fails when the page raises, shows an error, or a source returns no text.

    python experiments/explore_real_front.py runs/smollm2 [--prompt "..."] [--out experiments/results/...json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "apps" / "explorer.py"


def run_dirs(root: Path) -> list[Path]:
    """The comparison's method runs (folders holding a front.json), or `root` itself when it is one run."""
    if (root / "front.json").is_file():
        return [root]
    return sorted(p.parent for p in root.glob("*/front.json"))


def check_run(run_dir: Path, prompt: str, timeout: int) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    sys.argv = [str(APP), str(run_dir)]
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    if at.exception:
        raise SystemExit(f"{run_dir}: the page raised: {[e.value for e in at.exception]}")
    records = []
    for source in list(at.radio(key="gen.source").options):
        at.radio(key="gen.source").set_value(source).run()
        at.text_input(key="gen.prompt").set_value(prompt).run()
        start = time.perf_counter()
        at.button(key="gen.go").click().run()
        seconds = time.perf_counter() - start
        errors = [e.value for e in at.error] + [e.value for e in at.exception]
        try:
            result = at.session_state["gen.result"]
        except KeyError:  # no answer was stored
            result = None
        responses = (result or {}).get("responses") or []
        record = {"run": run_dir.name, "source": source, "seconds": round(seconds, 1), "errors": errors,
                  "response": responses[0] if responses else None}  # fmt: skip
        records.append(record)
        print(json.dumps(record, ensure_ascii=False), flush=True)
        if errors or not (responses and responses[0].strip()):
            raise SystemExit(f"{run_dir}: source {source!r} gave no answer: {errors}")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a comparison's directory, or one run directory")
    parser.add_argument("--prompt", default="How can I sleep better when I am stressed about work?")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per page run (a real model loads)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/results/explore_real_front.json")
    args = parser.parse_args(argv)
    runs = run_dirs(args.root)
    if not runs:
        parser.error(f"{args.root}: no front.json in it or its folders")
    records = [r for run in runs for r in check_run(run, args.prompt, args.timeout)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"prompt": args.prompt, "records": records}, indent=1, ensure_ascii=False))
    print(f"{len(records)} sources answered in {len(runs)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
