"""A spec's own code, named `module:function`: which modules may be named, and where they are found.

User modules are found in the directory textrl runs from (Snakemake's jobs run in its working
directory), then in installed packages; docs/extending.md says so to users.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType


def not_user_code(module_name: str) -> str | None:
    """Why `module_name` cannot be a spec's plug-in, or None. A spec names user code as module:function, and
    textrl calls that function at plan time: a standard-library target such as os:system would run a
    command before any check could refuse it."""
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return (f"{module_name!r} is a Python standard-library module, not a plug-in: name a function of your own "
                "module (e.g. mymod:my_function)")
    return None


def import_user_module(module_name: str) -> ModuleType:
    """Import a user's module from the working directory or an installed package; its own errors propagate."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_name)
