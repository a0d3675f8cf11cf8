"""Checkpoint swaps are atomic and resumed logs are cut back to the checkpoint's step."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from textrl.checkpoint import Checkpoints, append_gzip_jsonl, truncate_log
from textrl.errors import ConfigError
from textrl.io import append_jsonl, read_jsonl


def test_save_replaces_the_checkpoint_and_recovers_an_interrupted_swap(tmp_path):
    ck = Checkpoints(tmp_path)
    assert ck.latest_state() is None
    ck.save({"step": 2}, lambda d: (d / "w.bin").write_bytes(b"2"))
    ck.save({"step": 4}, lambda d: (d / "w.bin").write_bytes(b"4"))
    assert ck.latest_state()["step"] == 4 and (ck.path / "w.bin").read_bytes() == b"4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    # killed between the two renames: only .checkpoint.old is complete
    os.replace(ck.path, tmp_path / ".checkpoint.old")
    assert ck.latest_state()["step"] == 4


def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path):
    ck = Checkpoints(tmp_path)
    ck.save({"step": 2}, lambda d: (d / "w.bin").write_bytes(b"weights"))
    (ck.path / "w.bin").write_bytes(b"weighty")  # flipped bytes
    with pytest.raises(ConfigError, match=r"w\.bin: its content does not match the checksum in state\.json"):
        ck.latest_state()
    (ck.path / "state.json").write_text('{"step": 2, "fi')  # truncated
    with pytest.raises(ConfigError, match=r"state\.json: unreadable \(JSONDecodeError\); the checkpoint is damaged"):
        ck.latest_state()


def test_a_checkpoint_without_state_json_is_not_used(tmp_path):
    ck = Checkpoints(tmp_path)

    def crash(d):
        (d / "w.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    try:
        ck.save({"step": 9}, crash)
    except KeyboardInterrupt:
        pass
    assert ck.latest_state() is None


def test_truncate_logs_drops_later_steps_and_a_torn_tail(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    append_jsonl(metrics, [{"step": s} for s in (1, 2, 3)])
    with open(metrics, "a") as f:
        f.write('{"step": 4, "rew')  # killed mid-write
    assert truncate_log(metrics, 2) == 2
    assert read_jsonl(metrics) == [{"step": 1}, {"step": 2}]

    gens = tmp_path / "generations.jsonl.gz"
    for s in (1, 2, 3):
        append_gzip_jsonl(gens, [{"step": s, "i": i} for i in range(2)])
    with open(gens, "ab") as f:
        f.write(gzip.compress(b'{"step": 4}\n')[:15])  # torn last member
    assert truncate_log(gens, 2) == 4
    with gzip.open(gens, "rt") as f:
        assert [json.loads(line)["step"] for line in f] == [1, 1, 2, 2]
