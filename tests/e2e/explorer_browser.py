"""Real-browser end-to-end check of the explorer: serve it on localhost, drive headless Chromium with Playwright.

Steps: write the demo run (analytic front + tiny checkpoint), serve the explorer on 127.0.0.1 with a free port
(the same command line ``pareto-align explore`` runs), open it in Debian's Chromium, drag the "helpful" slider
to its maximum with the keyboard, and check that the highlighted policy becomes the one the linear utility says
(computed here independently from front.json). A screenshot is saved. Every wait is bounded; the server is
always stopped.

Usage (CI runs this directly, or through tests/e2e/test_explorer_browser.py):
    python tests/e2e/explorer_browser.py [--out DIR]
Environment: PARETO_ALIGN_CHROMIUM (default /usr/bin/chromium), PARETO_ALIGN_E2E_DIR (default: a temp dir).
Needs: apt-get install chromium; pip install playwright (never ``playwright install``: no browser download).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHROMIUM = os.environ.get("PARETO_ALIGN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90
PAGE_SECONDS = 60
HIGHLIGHT_PATTERN = re.compile(r"Best for your preference \((\w+) utility\): (\S+)")


@dataclass
class Result:
    initial: str
    after: str
    expected_initial: str
    expected_after: str
    screenshot: Path
    seconds: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_highlight(run_dir: Path, w: np.ndarray) -> str:
    """Independent reference: brute-force non-dominated points of front.json, argmax of the linear utility."""
    pts = json.loads((run_dir / "front.json").read_text())["points"]
    F = np.array([p["values"] for p in pts])
    nd = [
        i
        for i in range(len(F))
        if not any(np.all(F[j] >= F[i]) and np.any(F[j] > F[i]) for j in range(len(F)))
    ]
    # the demo front's non-dominated values span [0, 1] per objective, so the page's [0, 1] scaling is identity
    best = nd[int(np.argmax(F[nd] @ w))]
    return f"{run_dir.name}/{pts[best]['id']}"


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy at {url} within {seconds} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server runs in its own process group, started by us
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def read_highlight(page) -> str:
    text = page.get_by_text(HIGHLIGHT_PATTERN).first.inner_text(timeout=PAGE_SECONDS * 1000)
    match = HIGHLIGHT_PATTERN.search(text)
    if match is None:
        raise AssertionError(f"no highlighted policy in {text!r}")
    return match.group(2).strip("`")


def run(out_dir: Path) -> Result:
    from playwright.sync_api import sync_playwright

    from pareto_align.explorer.demo import DEMO_OBJECTIVES, write_demo_run
    from pareto_align.explorer.launcher import streamlit_command, streamlit_env

    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = write_demo_run(out_dir / "good")
    K = len(DEMO_OBJECTIVES)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_args = [
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
    ]
    log = (out_dir / "streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command([run_dir], server_args),
        env=streamlit_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, proc, SERVER_START_SECONDS)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=PAGE_SECONDS * 1000
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(PAGE_SECONDS * 1000)
                page.goto(url, wait_until="domcontentloaded")
                initial = read_highlight(page)
                expected_initial = expected_highlight(run_dir, np.full(K, 1.0 / K))
                # Drag the first objective's slider to 1.0: focus its thumb, then End (keyboard = deterministic drag).
                thumb = page.get_by_role("slider").first
                thumb.focus()
                thumb.press("End")
                expected_after = expected_highlight(run_dir, np.eye(K)[0])
                page.wait_for_function(
                    "key => document.body.innerText.includes(key)",
                    arg=expected_after,
                    timeout=PAGE_SECONDS * 1000,
                )
                after = read_highlight(page)
                page.wait_for_timeout(1500)  # let plotly finish drawing before the screenshot
                screenshot = out_dir / "explorer.png"
                page.screenshot(path=str(screenshot), full_page=False)
            finally:
                browser.close()
    finally:
        stop(proc)
        log.close()
    return Result(initial, after, expected_initial, expected_after, screenshot, time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the run, server log and screenshot"
    )
    args = parser.parse_args(argv)
    out = args.out or Path(os.environ.get("PARETO_ALIGN_E2E_DIR") or tempfile.mkdtemp(prefix="explorer_e2e_"))
    result = run(out)
    ok = result.initial == result.expected_initial and result.after == result.expected_after
    print(
        f"highlighted {result.initial} -> {result.after} (expected {result.expected_initial} -> "
        f"{result.expected_after}); screenshot {result.screenshot}; {result.seconds:.1f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
