"""Preference data: file formats, loading from local files, and the canonical `PreferenceData`."""

from .formats import CANONICAL_COLUMNS, DataError, DataFileConfig, DataFormat
from .loading import ObjectiveLike, PreferenceData, load_preference_files

__all__ = [
    "CANONICAL_COLUMNS",
    "DataError",
    "DataFileConfig",
    "DataFormat",
    "ObjectiveLike",
    "PreferenceData",
    "load_preference_files",
]
