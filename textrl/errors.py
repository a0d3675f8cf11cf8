"""Errors a user can cause. The CLI prints them as one line, without a traceback."""


class ConfigError(ValueError):
    """Bad spec, config, task, dataset or reward: the message names the field or file."""


def shown(value: object, limit: int = 200) -> str:
    """repr of a value a user gave, cut to `limit` characters: a YAML alias bomb or a huge list must not
    become a megabyte-long error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters in all)"

