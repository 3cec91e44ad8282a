"""Pareto fronts: the front.json contract, dominance, indicators and the front tracker."""

from pareto_align.front.schema import (
    FRONT_FILENAME,
    SCHEMA,
    SUPPORTED_SCHEMAS,
    Compute,
    Front,
    FrontFileError,
    HistoryEntry,
    Metrics,
    Normalization,
    Objective,
    Point,
    PolicyHandle,
    Sample,
    read_front,
    write_front,
)

__all__ = [
    "FRONT_FILENAME",
    "SCHEMA",
    "SUPPORTED_SCHEMAS",
    "Compute",
    "Front",
    "FrontFileError",
    "HistoryEntry",
    "Metrics",
    "Normalization",
    "Objective",
    "Point",
    "PolicyHandle",
    "Sample",
    "read_front",
    "write_front",
]
