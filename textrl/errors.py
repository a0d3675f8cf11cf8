"""Errors a user can cause. The CLI prints them as one line, without a traceback."""


class ConfigError(ValueError):
    """Bad spec, config, task, dataset or reward: the message names the field or file."""
