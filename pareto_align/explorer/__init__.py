"""The Pareto explorer: a Streamlit app over run directories' fronts (``pareto-align explore RUN_DIR...``).

The page (``page.py``) is thin; run loading, slider math, utility-based selection, figures, comparison, live
generation and export are plain functions in the modules below, each tested on its own.
"""

from pareto_align.explorer.launcher import app_script, launch, streamlit_command
from pareto_align.explorer.runs import LoadedRun, load_run, load_runs
from pareto_align.explorer.selection import best_point
from pareto_align.explorer.simplex import rebalance, weights_from_angle
from pareto_align.explorer.view import FrontView, build_view

__all__ = [
    "FrontView",
    "LoadedRun",
    "app_script",
    "best_point",
    "build_view",
    "launch",
    "load_run",
    "load_runs",
    "rebalance",
    "streamlit_command",
    "weights_from_angle",
]
