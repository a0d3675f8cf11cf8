"""Local problem files (JSONL or Parquet) read into rows, with errors that name the file and row."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from textrl.errors import ConfigError
from textrl.io import read_jsonl


def load_rows(path: str | Path, required: Sequence[str], *, task: str) -> list[dict[str, Any]]:
    """Every row as a dict; ConfigError for a missing/unreadable file or a row lacking a required field."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"task.params.path: {task} dataset file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = _jsonl(p)
    elif suffix in (".parquet", ".pq"):
        rows = _parquet(p)
    else:
        raise ConfigError(f"task.params.path: {str(p)!r} is neither .jsonl nor .parquet")
    if not rows:
        raise ConfigError(f"task.params.path: {task} dataset {str(p)!r} has no rows")
    for i, row in enumerate(rows):
        missing = [f for f in required if row.get(f) is None]
        if missing:
            raise ConfigError(f"{str(p)!r} row {i + 1}: no {', '.join(repr(f) for f in missing)} field "
                              f"(the {task} task needs {', '.join(required)}; row keys: {sorted(row)})")
    return rows


def _jsonl(p: Path) -> list[dict]:
    try:
        return read_jsonl(p)
    except ValueError as err:  # bad JSON, or a line that is not an object (UnicodeDecodeError is one too)
        raise ConfigError(f"{str(p)!r}: {str(err).removeprefix(f'{p}: ')}") from None


def _parquet(p: Path) -> list[dict]:
    import pandas as pd

    try:
        frame = pd.read_parquet(p)
    except ImportError as err:
        raise ConfigError(f"task.params.path: reading Parquet ({str(p)!r}) needs pyarrow: pip install pyarrow "
                          f"({err})") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ConfigError(f"task.params.path: cannot read Parquet file {str(p)!r}: {err}") from None
    rows = frame.to_dict(orient="records")
    # numpy arrays / scalars -> plain Python so rows stay JSON-serialisable
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, float) and v != v:  # NaN marks a missing cell
        return None
    return v
