"""Starting the explorer: the streamlit command line, pass-through options, environment and bad run dirs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pareto_align.explorer import launcher as launch_module
from pareto_align.explorer.launcher import app_script, launch, streamlit_command, streamlit_env
from pareto_align.explorer.page import parse_run_dirs


def test_app_script_ships_inside_the_package():
    script = app_script()
    assert script.is_file() and script.parent.name == "explorer"
    assert "pareto_align.explorer.page import main" in script.read_text()
    # the source checkout's thin entry serves the same page
    thin = Path(__file__).resolve().parents[1] / "apps" / "explorer.py"
    assert "pareto_align.explorer.page import main" in thin.read_text()


def test_command_passes_streamlit_options_through_and_run_dirs_after_dashdash(tmp_path: Path):
    cmd = streamlit_command(
        [tmp_path / "a", Path("rel")], ["--server.port", "8600", "--server.headless", "true"]
    )
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert cmd[4:8] == ["--server.port", "8600", "--server.headless", "true"]
    assert cmd[8] == str(app_script())
    assert cmd[9] == "--"
    assert cmd[10:] == [str(tmp_path / "a"), str(Path("rel").resolve())]
    # what the page receives back as sys.argv[1:]
    assert parse_run_dirs(cmd[9:]) == [tmp_path / "a", Path("rel").resolve()]


def test_environment_is_inherited_and_user_settings_win():
    env = streamlit_env({"STREAMLIT_SERVER_PORT": "9999", "PATH": "/bin"})
    assert env["STREAMLIT_SERVER_PORT"] == "9999" and env["PATH"] == "/bin"
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert (
        streamlit_env({"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "true"})[
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS"
        ]
        == "true"
    )


class _FakeProcess:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def __init__(self, cmd, env):
        _FakeProcess.calls.append((cmd, env))

    def wait(self, timeout=None):
        return 3


def test_launch_runs_streamlit_and_returns_its_status(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(launch_module.subprocess, "Popen", _FakeProcess)
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
    _FakeProcess.calls.clear()
    assert launch([tmp_path], ["--server.headless", "true"]) == 3
    ((cmd, env),) = _FakeProcess.calls
    assert cmd[-2:] == ["--", str(tmp_path)] and "--server.headless" in cmd
    assert env["STREAMLIT_SERVER_ADDRESS"] == "127.0.0.1"


def test_launch_rejects_missing_run_dirs(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(launch_module.subprocess, "Popen", pytest.fail)
    assert launch([tmp_path, tmp_path / "typo"], []) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pareto-align explore: {tmp_path / 'typo'}: run directory does not exist"
    (tmp_path / "f.json").write_text("{}")
    assert launch([tmp_path / "f.json"], []) == 2
    assert "not a directory" in capsys.readouterr().err
    assert launch([], []) == 2


def test_parse_run_dirs():
    assert parse_run_dirs(["--", "a", "b"]) == [Path("a"), Path("b")]
    assert parse_run_dirs(["a", " "]) == [Path("a")]
    assert parse_run_dirs([]) == []
