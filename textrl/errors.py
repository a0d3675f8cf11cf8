"""Errors a user can cause. The CLI prints them as one line, without a traceback."""


class ConfigError(ValueError):
    """Bad spec, config, task, dataset or reward: the message names the field or file."""


def shown(value: object, limit: int = 200) -> str:
    """repr of a value a user gave, cut to `limit` characters: a YAML alias bomb or a huge list must not
    become a megabyte-long error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters in all)"


def not_user_code(module_name: str) -> str | None:
    """Why `module_name` cannot be a spec's plug-in, or None. A spec names user code as module:function, and
    textrl calls that function at plan time: a standard-library target such as os:system would run a
    command before any check could refuse it."""
    import sys

    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return (f"{module_name!r} is a Python standard-library module, not a plug-in: name a function of your own "
                "module (e.g. mymod:my_function)")
    return None
