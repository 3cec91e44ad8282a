"""The toolkit's user-facing error: a mistake in a config or its data, reported as one line naming file and field."""


class ConfigError(ValueError):
    """A user mistake in a config file: one line naming the file and the field."""
