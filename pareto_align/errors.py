"""The toolkit's user-facing error: a mistake in a config or its data, reported as one line naming file and field."""


class ConfigError(ValueError):
    """A user mistake in a config file: one line naming the file and the field."""


class ScorerError(ConfigError):
    """An objective's scorer that cannot be loaded or that answers wrongly: one line naming the objective's field
    (`objectives[i].scorer...`, `evaluation.judges.<name>...`)."""
