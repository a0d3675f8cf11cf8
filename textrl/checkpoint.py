"""RUN_DIR/checkpoint: the latest resumable state, replaced atomically; logs cut back to it on resume.

A checkpoint is written into a fresh temporary directory, then swapped in with two renames
(checkpoint -> .checkpoint.old, tmp -> checkpoint). A kill at any point leaves either the old or the new
checkpoint intact; `latest_state()` finishes an interrupted swap. Nothing here imports mlx: the engine
writes its own files into the directory it is handed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Callable

from textrl.errors import ConfigError
from textrl.io import atomic_write_json, atomic_write_text, read_json

STATE = "state.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpoints:
    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "checkpoint"
        self._old = self.run_dir / ".checkpoint.old"

    def latest_state(self) -> dict | None:
        """state.json of the latest complete checkpoint, or None when there is none."""
        if not (self.path / STATE).is_file() and (self._old / STATE).is_file():
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(self._old, self.path)  # killed between the two renames of save()
        if not (self.path / STATE).is_file():
            return None
        try:
            state = read_json(self.path / STATE)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"{self.path / STATE}: unreadable ({e.__class__.__name__}); the checkpoint is damaged: "
                              "restore the run directory, or start the run again with --fresh") from None
        for name, digest in (state.get("files") or {}).items():
            f = self.path / name
            if not f.is_file() or _sha256(f) != digest:
                raise ConfigError(f"{f}: {'missing' if not f.is_file() else 'its content does not match the checksum in'} "
                                  f"{STATE}: the checkpoint is damaged; restore the run directory, or start the run "
                                  "again with --fresh")
        return state

    def save(self, state: dict, write_files: Callable[[Path], None]) -> None:
        """write_files(dir) writes weights etc.; state.json is written last, so its presence marks a
        complete checkpoint."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.tmp-", dir=self.run_dir))
        try:
            write_files(tmp)
            files = {}
            for f in sorted(tmp.iterdir()):
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
                    files[f.name] = _sha256(f)
            # flipped bytes in the weights would otherwise load without a word
            atomic_write_json(tmp / STATE, {**state, "files": files})
            _fsync_dir(tmp)
            if self._old.exists():
                shutil.rmtree(self._old)
            if self.path.exists():
                os.replace(self.path, self._old)
            os.replace(tmp, self.path)
            _fsync_dir(self.run_dir)
            shutil.rmtree(self._old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def clear(self) -> None:
        for p in (self.path, self._old, *self.run_dir.glob(".checkpoint.tmp-*")):
            shutil.rmtree(p, ignore_errors=True)

    def remove_stale_tmp(self) -> None:
        for p in self.run_dir.glob(".checkpoint.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def _read_lines(path: Path) -> list[str]:
    """Complete lines of a plain or gzip file; a torn tail left by a kill is dropped."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        members = []
        while data:
            member = zlib.decompressobj(wbits=31)  # one gzip member; appended files hold several
            try:
                text = member.decompress(data)
            except zlib.error:
                break
            if not member.eof:
                break  # the last member was cut off mid-write
            members.append(text)
            data = member.unused_data
        data = b"".join(members)
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    return [line for line in lines if line.endswith("\n")]


def truncate_log(path: str | os.PathLike, max_step: int) -> int:
    """Keep only rows with step <= max_step (atomic rewrite); returns how many rows were kept."""
    path = Path(path)
    if not path.exists():
        return 0
    kept = []
    for lineno, line in enumerate(_read_lines(path), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            # a kill leaves only a torn last line, which _read_lines already dropped: this one is corruption,
            # and skipping it (or everything after it) would resume with a hole in the record
            raise ConfigError(f"{path}: line {lineno} is not valid JSON, and it is a complete line (not one cut "
                              "short by a kill); restore the file, or start the run again with --fresh") from None
        if isinstance(row, dict) and row.get("step", 0) <= max_step:
            kept.append(line)
    if path.suffix == ".gz":
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write("".join(kept).encode())
        os.replace(tmp, path)
    else:
        atomic_write_text(path, "".join(kept))
    return len(kept)


def append_gzip_jsonl(path: str | os.PathLike, rows: list[dict]) -> None:
    """Append rows as one gzip member (concatenated members are one valid gzip stream), then fsync."""
    with open(path, "ab") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows).encode())
        raw.flush()
        os.fsync(raw.fileno())
