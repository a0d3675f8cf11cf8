"""Where textrl keeps what it builds once and reuses (models, base evaluations, the JIT wrapper)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$TEXTRL_CACHE, else ~/.cache/textrl."""
    return Path(os.environ.get("TEXTRL_CACHE") or Path.home() / ".cache" / "textrl").expanduser()
