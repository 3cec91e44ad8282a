"""Starting the explorer: ``streamlit run <page script> [streamlit options] -- RUN_DIR...`` in a child process.

The page script ships inside this package (``streamlit_app.py``), so it is found the same way whether
pareto_align is installed from a wheel or in editable mode. Streamlit's own options (``--server.port``,
``--server.address``, ``--server.headless``, ...) are passed through untouched, and its ``STREAMLIT_*``
environment variables are inherited. Run directories go after ``--`` as the script's arguments.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

APP_SCRIPT = Path(__file__).with_name("streamlit_app.py")
# Defaults that the user's own environment or command-line options override: streamlit phones home
# with usage statistics unless told not to (a research tool should not), and its toolbar offers to "Deploy".
DEFAULT_ENV = {"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "STREAMLIT_CLIENT_TOOLBAR_MODE": "minimal"}
# How long an interrupted server gets to shut down before it is terminated.
SHUTDOWN_SECONDS = 10


def app_script() -> Path:
    """The page script that ``streamlit run`` executes."""
    return APP_SCRIPT


def streamlit_command(
    run_dirs: Sequence[Path], streamlit_args: Sequence[str] = (), python: str | None = None
) -> list[str]:
    """The command line that serves the explorer for ``run_dirs`` (absolute paths after ``--``)."""
    return [
        python or sys.executable,
        "-m",
        "streamlit",
        "run",
        *streamlit_args,
        str(app_script()),
        "--",
        *[str(Path(d).resolve()) for d in run_dirs],
    ]


def streamlit_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ``base`` (default: ours) plus :data:`DEFAULT_ENV` where not already set."""
    env = dict(os.environ if base is None else base)
    for key, value in DEFAULT_ENV.items():
        env.setdefault(key, value)
    return env


def check_run_dirs(run_dirs: Sequence[Path]) -> str | None:
    """One line naming the first run dir that does not exist or is not a directory, else None."""
    if not run_dirs:
        return "give at least one RUN_DIR"
    for d in run_dirs:
        p = Path(d)
        if not p.exists():
            return f"{p}: run directory does not exist"
        if not p.is_dir():
            return f"{p}: not a directory (give the run directory that holds front.json)"
    return None


def launch(run_dirs: list[Path], streamlit_args: list[str]) -> int:
    """Serve the explorer for ``run_dirs`` until the server stops; return its exit status.

    Returns 2 with one line on stderr when a run dir does not exist or streamlit is not installed. A run dir
    without a (valid) front file is not an error here: the page says what is wrong and shows the other runs.
    """
    problem = check_run_dirs(run_dirs)
    if problem is None and importlib.util.find_spec("streamlit") is None:
        problem = "streamlit is not installed in this environment (pip install streamlit)"
    if problem is not None:
        print(f"pareto-align explore: {problem}", file=sys.stderr)
        return 2
    proc = subprocess.Popen(streamlit_command(run_dirs, streamlit_args), env=streamlit_env())
    # A SIGTERM sent to us alone (a job scheduler, `kill PID`) must stop the server too, not orphan it.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the server too (same process group); let it shut down cleanly.
        try:
            return proc.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
