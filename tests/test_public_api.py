"""The package's public API resolves, and importing the package stays cheap."""

import subprocess
import sys

import pareto_align


def test_every_public_name_resolves():
    for name in pareto_align.__all__:
        assert getattr(pareto_align, name) is not None, name


def test_import_does_not_load_trl_or_torch():
    code = "import sys, pareto_align; print('trl' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]
