"""Real-browser end-to-end test of the explorer (marker ``e2e``): see explorer_browser.py for what it does.

Skipped cleanly when Debian's chromium or the playwright package is missing. The screenshot goes to
``$PARETO_ALIGN_E2E_DIR`` when set (CI can keep it as an artifact), else to pytest's tmp dir.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("explorer_browser.py")
CHROMIUM = os.environ.get("PARETO_ALIGN_CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)), reason=f"chromium not found at {CHROMIUM}"
    ),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]


def _script():
    spec = importlib.util.spec_from_file_location("explorer_browser", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_slider_moves_the_highlighted_point_in_a_real_browser(tmp_path: Path):
    out = Path(os.environ["PARETO_ALIGN_E2E_DIR"]) if os.environ.get("PARETO_ALIGN_E2E_DIR") else tmp_path
    result = _script().run(out)
    assert result.initial == result.expected_initial
    assert result.after == result.expected_after != result.initial
    png = result.screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
