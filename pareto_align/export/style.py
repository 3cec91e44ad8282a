"""The one plotting style of the toolkit, used by the explorer and the exporter alike: a fixed colour-blind-safe
colour per method (Okabe-Ito, then Paul Tol's muted scheme), a marker per run, how an objective declared ``min``
is labelled, and fonts sized to stay readable when a figure is scaled to one column of a two-column paper
(~3.3 in).

The figure is laid out at 420 x 330 CSS px; placed at 3.3 in wide, a 13 px font prints at about 7.8 pt.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from pareto_align.methods.base import MethodInfo

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow (last: weak on white)
)
# Paul Tol's "muted" scheme (https://personal.sron.nl/~pault/), also colour-blind safe, for the colours Okabe-Ito
# runs out of. Its cyan and green are left out: too close to Okabe-Ito's sky blue and bluish green.
TOL_MUTED: tuple[str, ...] = (
    "#332288",  # indigo
    "#882255",  # wine
    "#999933",  # olive
    "#CC6677",  # rose
    "#44AA99",  # teal
    "#DDCC77",  # sand
    "#AA4499",  # purple
)
# Every colour a series can get, strongest first; a label beyond its length cycles (and the marker tells apart).
PALETTE: tuple[str, ...] = (*OKABE_ITO[:6], *TOL_MUTED, OKABE_ITO[6])
BASELINE_COLOR = "#000000"
GRID_COLOR = "#DDDDDD"
AXIS_COLOR = "#444444"

# Each method of the toolkit has one fixed colour (its `INFO.color`, one of PALETTE), so a method has the same colour
# in every figure, the explorer's and the paper's, whatever else is shown; labels of other methods take the remaining
# colours in order of appearance. `KNOWN_METHOD_COLORS` and `DISPLAY_NAMES` (module attributes, built on first use)
# map each method's canonical key (`method_key`) to its colour and display name.
# One marker per run (a method's variants, in their own runs, share its colour and differ by marker).
MARKERS: tuple[str, ...] = (
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "triangle-down",
    "pentagon",
    "hexagon",
)
BASELINE_MARKER = "x"

FONT_FAMILY = "Arial, Helvetica, 'Liberation Sans', 'DejaVu Sans', sans-serif"
FONT_SIZE = 13
TICK_FONT_SIZE = 11
FIGURE_WIDTH = 420
FIGURE_HEIGHT = 330
PNG_SCALE = 3  # 1260 px wide: ~380 dpi at column width


def method_key(name: str) -> str:
    """Canonical key of a method name: lower case, '-' and ' ' as '_' ('C-MORL' -> 'c_morl' -> 'cmorl')."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {
        "c_morl": "cmorl",
        "rewarded_soups": "soups",
        "reward_soups": "soups",
        "soup": "soups",
        "dynamic": "dynamic_weighting",
        "dynamic_reward_weighting": "dynamic_weighting",
        "morlhf": "linear",
        "best_of_n": "bon",
        "multi_objective_decoding": "mod",
        "rewards_in_context": "ric",
        "directional_preference_alignment": "dpa",
        "linear_scalarization": "linear",
    }
    return aliases.get(key, key)


# Labels that name a paper rather than one of the toolkit's methods: (the method whose colour and citation they take,
# their display name). dynamic_hv and dynamic_grad come from one paper.
PAPER_LABELS: dict[str, tuple[str, str]] = {"dynamic_weighting": ("dynamic_hv", "Dynamic weighting")}


@functools.cache
def _registered() -> dict[str, MethodInfo]:
    """Each registered method's facts by canonical key. Imported on first use: the method modules pull in torch and
    TRL, which reading a front does not need."""
    from pareto_align.methods import METHODS

    return {method_key(name): module.INFO for name, module in METHODS.items()}


def method_info(name: str) -> MethodInfo | None:
    """The facts of the method a label names ('morlhf', 'linear' and 'Linear scalarization' alike; a paper's label
    gives its method's); None for a method the toolkit does not have."""
    key = method_key(name)
    if key in PAPER_LABELS:
        key = method_key(PAPER_LABELS[key][0])
    return _registered().get(key)


def __getattr__(name: str):
    """`KNOWN_METHOD_COLORS` and `DISPLAY_NAMES`, from the methods' facts (their canonical keys and the papers')."""
    if name == "KNOWN_METHOD_COLORS":
        colors = {key: info.color for key, info in _registered().items()}
        return colors | {label: colors[method_key(m)] for label, (m, _) in PAPER_LABELS.items()}
    if name == "DISPLAY_NAMES":
        names = {key: info.display_name for key, info in _registered().items()}
        return names | {label: pretty for label, (_, pretty) in PAPER_LABELS.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def method_color(method: str) -> str | None:
    """The fixed colour of a known method ('morlhf' and 'linear' alike), None for others."""
    info = method_info(method)
    return None if info is None else info.color


def method_styles(
    labels: Iterable[str], methods: Mapping[str, str] | None = None, runs: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Label -> (colour, marker symbol): the colour is the method's, the marker the run's.

    ``methods`` maps a label to its method when they differ (``"modpo (run_a)"`` -> ``"modpo"``): labels of one
    method share its colour. ``runs`` maps a label to its run; runs take markers in order of first appearance.
    Without ``runs`` each label counts as its own run (one marker per label). Methods without a fixed colour take,
    in order of appearance, the colours of :data:`PALETTE` that no known method owns, then those of known methods
    not shown.
    """
    labels = list(dict.fromkeys(labels))
    methods = dict(methods or {})
    runs = dict(runs) if runs is not None else {label: label for label in labels}
    method_of = {label: methods.get(label, label) for label in labels}
    colors: dict[str, str] = {}
    for m in dict.fromkeys(method_of.values()):
        known = method_color(m)
        if known is not None:
            colors[m] = known
    # other methods: first the colours no known method owns, then those of known methods not shown
    known = {info.color for info in _registered().values()}
    free = [c for c in PALETTE if c not in known] + [
        c for c in PALETTE if c in known and c not in colors.values()
    ]
    for m in dict.fromkeys(method_of.values()):
        if m not in colors:
            colors[m] = free.pop(0) if free else PALETTE[len(colors) % len(PALETTE)]
    run_order = list(dict.fromkeys(runs.get(label, label) for label in labels))
    return {
        label: (colors[method_of[label]], MARKERS[run_order.index(runs.get(label, label)) % len(MARKERS)])
        for label in labels
    }


def rgba(hex_color: str, alpha: float) -> str:
    """'#RRGGBB' -> 'rgba(r,g,b,alpha)' (faded markers and bands keep the method's hue)."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def apply_style(fig: go.Figure, width: int = FIGURE_WIDTH, height: int = FIGURE_HEIGHT) -> go.Figure:
    """White background, light grid, fonts for column width, legend above the plot. Returns ``fig``."""
    fig.update_layout(
        template="simple_white",
        width=width,
        height=height,
        font=dict(family=FONT_FAMILY, size=FONT_SIZE, color="#000000"),
        margin=dict(l=58, r=12, t=40, b=50),
        legend=dict(
            orientation="h",
            yanchor="bottom",
            y=1.01,
            xanchor="left",
            x=0.0,
            font=dict(size=TICK_FONT_SIZE),
            bgcolor="rgba(255,255,255,0)",
        ),
    )
    axis = dict(
        showgrid=True,
        gridcolor=GRID_COLOR,
        zeroline=False,
        ticks="outside",
        tickfont=dict(size=TICK_FONT_SIZE),
        linecolor=AXIS_COLOR,
        mirror=False,
    )
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    return fig


def display_name(label: str, method: str | None = None) -> str:
    """Readable name of a method label: 'modpo' -> 'MODPO', 'modpo (run_a)' -> 'MODPO (run_a)'."""
    method = method if method is not None else label
    key = method_key(method)
    info = method_info(method)
    pretty = PAPER_LABELS[key][1] if key in PAPER_LABELS else None if info is None else info.display_name
    if pretty is None or not label.startswith(method):
        return label
    return pretty + label[len(method) :]


def objective_title(name: str, direction: str) -> str:
    """Axis title: values are in the maximize convention, so an objective declared ``min`` shows as −name."""
    return f"\u2212{name}" if direction == "min" else name


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """Short unique labels: the folder name, extended with parent folders only where names collide."""
    parts = [Path(os.path.abspath(d)).parts for d in run_dirs]
    depth = [1] * len(parts)

    def label(i: int) -> str:
        return "/".join(parts[i][-depth[i] :])

    while True:
        # Grow only against a *different* path with the same label (the same path twice cannot be told apart).
        grow = [
            i
            for i in range(len(parts))
            if depth[i] < len(parts[i]) - 1
            and any(label(j) == label(i) and parts[j] != parts[i] for j in range(len(parts)))
        ]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    labels = [label(i) for i in range(len(parts))]
    # Identical paths given twice keep identical names; number them so that labels are keys.
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out
