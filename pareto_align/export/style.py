"""Publication style shared by every figure: Okabe-Ito colours, one colour and marker per method, fonts sized
to stay readable when a figure is scaled to one column of a two-column paper (~3.3 in).

The figure is laid out at 420 x 330 CSS px; placed at 3.3 in wide, a 13 px font prints at about 7.8 pt.
"""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

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
BASELINE_COLOR = "#000000"
GRID_COLOR = "#DDDDDD"
AXIS_COLOR = "#444444"

# Fixed colours for the toolkit's methods, so a method has the same colour in every paper figure; other labels
# take the remaining colours in order of appearance.
KNOWN_METHOD_COLORS: dict[str, str] = {
    "modpo": OKABE_ITO[0],
    "dpa": OKABE_ITO[1],
    "soups": OKABE_ITO[2],
    "dynamic_weighting": OKABE_ITO[3],
    "dynamic_hv": OKABE_ITO[3],  # the first of the two dynamic weighting methods in a figure takes it
    "dynamic_grad": OKABE_ITO[3],
    "cmorl": OKABE_ITO[4],
    "linear": OKABE_ITO[5],
}
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


# Methods that share a paper (and so a reference) with another key.
PAPER_OF: dict[str, str] = {"dynamic_hv": "dynamic_weighting", "dynamic_grad": "dynamic_weighting"}


def paper_key(name: str) -> str:
    """The key of the paper a method comes from (`dynamic_hv` and `dynamic_grad`: one paper)."""
    key = method_key(name)
    return PAPER_OF.get(key, key)


def method_styles(labels: Iterable[str], methods: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Label -> (colour, marker symbol). ``methods`` maps a label to its method name when they differ
    (``"modpo (run_a)"`` -> ``"modpo"``); labels of one known method then share its colour, not its marker."""
    labels = list(dict.fromkeys(labels))
    methods = methods or {}
    taken = set()
    colors: dict[str, str] = {}
    for label in labels:
        known = KNOWN_METHOD_COLORS.get(method_key(methods.get(label, label)))
        if known and known not in taken:
            colors[label] = known
            taken.add(known)
    free = [c for c in OKABE_ITO if c not in taken]
    for label in labels:
        if label not in colors:
            colors[label] = free.pop(0) if free else OKABE_ITO[len(colors) % len(OKABE_ITO)]
    return {label: (colors[label], MARKERS[i % len(MARKERS)]) for i, label in enumerate(labels)}


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


# Display names of the toolkit's methods in tables and legends.
DISPLAY_NAMES: dict[str, str] = {
    "modpo": "MODPO",
    "dpa": "DPA",
    "soups": "Rewarded soups",
    "dynamic_weighting": "Dynamic weighting",
    "dynamic_hv": "Dynamic weighting (HV)",
    "dynamic_grad": "Dynamic weighting (gradient)",
    "cmorl": "C-MORL",
    "linear": "Linear scalarization",
    "mod": "MOD",
    "bon": "Best-of-n",
    "ric": "RiC",
}


def display_name(label: str, method: str | None = None) -> str:
    """Readable name of a method label: 'modpo' -> 'MODPO', 'modpo (run_a)' -> 'MODPO (run_a)'."""
    method = method if method is not None else label
    pretty = DISPLAY_NAMES.get(method_key(method))
    if pretty is None or not label.startswith(method):
        return label
    return pretty + label[len(method) :]


def objective_title(name: str, direction: str) -> str:
    """Axis title: values are in the maximize convention, so an objective declared ``min`` shows as −name."""
    return f"\u2212{name}" if direction == "min" else name
