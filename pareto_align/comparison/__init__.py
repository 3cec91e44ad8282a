"""`pareto-align compare`: several methods on one shared setting, each a sweep in its own folder, one report.

See `config.py` for the YAML, `runner.py` for the comparison directory, `budget.py` for how compute is counted.
"""

from pareto_align.comparison.budget import MethodUse, method_use
from pareto_align.comparison.config import (
    Budget,
    Comparison,
    ComparisonConfigError,
    MethodRun,
    load_comparison,
    parse_comparison,
)
from pareto_align.comparison.runner import run_comparison

__all__ = [
    "Budget",
    "Comparison",
    "ComparisonConfigError",
    "MethodRun",
    "MethodUse",
    "load_comparison",
    "method_use",
    "parse_comparison",
    "run_comparison",
]
