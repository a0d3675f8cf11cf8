"""File helpers for the run-directory contract: whole files appear atomically, jsonl appends are whole lines."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from textrl.errors import ConfigError


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def read_jsonl(path: str | os.PathLike, on_bad: Callable[[str], None] | None = None) -> list[dict]:
    """The JSON objects of a jsonl file (plain or .gz, UTF-8), one per non-empty line.

    Strict by default: a line that is not a JSON object raises ValueError naming the file and line.
    With on_bad, such lines are skipped and reported as one message, and a file that cannot be read to
    its end (a truncated gzip member) yields the rows before the break: what the report does with
    damaged runs."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows, bad = [], []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    problem = None if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"
                except json.JSONDecodeError as e:
                    problem = f"not valid JSON ({e.msg})"
                if problem is None:
                    rows.append(row)
                elif on_bad is None:
                    raise ValueError(f"{path}: line {lineno}: {problem}")
                else:
                    bad.append(lineno)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        if on_bad is None:
            raise
        on_bad(f"truncated or unreadable after {len(rows)} rows ({e.__class__.__name__})")
    if bad and on_bad is not None:
        on_bad(f"{len(bad)} malformed line(s), skipped: {', '.join(map(str, bad[:10]))}")
    return rows


def stable_hash(obj: Any, length: int = 12) -> str:
    """A hex digest of a JSON-able value that does not depend on key order or Python version: names
    built models, cached base evaluations and planned run configs."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append whole lines and fsync, so a kill leaves at most a truncated final line."""
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps(row, allow_nan=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the constructor below reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (line {key_node.start_mark.line + 1})", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config_file(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML or JSON file a user wrote (spec, run config, params): UTF-8, no duplicated keys, not
    empty. Every problem is one ConfigError naming the file and `what` it should be."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot read it ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {path}: not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); save it as UTF-8") from None
    if not text.strip():
        raise ConfigError(f"{what} {path}: the file is empty; expected a mapping of fields")
    if path.suffix == ".json":  # not through YAML: YAML 1.1 reads JSON's 1e-05 as a string
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except (json.JSONDecodeError, ValueError) as e:
            raise ConfigError(f"{what} {path}: not valid JSON ({e})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path}: not valid YAML ({_first_line(e)})") from None


def _unique_pairs(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return "; ".join(lines[:3])[:300]
