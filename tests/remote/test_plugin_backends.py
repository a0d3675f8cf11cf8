"""One advantage plug-in, two backends: the local MLX engine and the (fake) Tinker service are handed exactly
the plug-in's advantages of each step's rewards, by the same engine-neutral code."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import tinker
from fake_tinker import MODEL, FakeService  # noqa: E402

from textrl.advantages.plugins import EpisodeBatch, resolve
from textrl.config import load_run_config
from textrl.engine.mlx_engine import MLXEngine
from textrl.engine.tinker_engine import TinkerEngine
from textrl.trainer import train

G = 4


def record_advantages(monkeypatch, engine_cls) -> list[list[list[float]]]:
    """Per forward_backward call, each datum's per-token advantages, as the engine receives them."""
    seen = []
    original = engine_cls.forward_backward

    def spy(self, datums, loss):
        seen.append([list(d.advantages) for d in datums])
        return original(self, datums, loss)

    monkeypatch.setattr(engine_cls, "forward_backward", spy)
    return seen


def plugin_advantages(run_dir) -> list[np.ndarray]:
    """rloo over each step's logged rewards, groups of G in the order they were sampled."""
    with gzip.open(run_dir / "generations.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    out = []
    for step in sorted({r["step"] for r in rows}):
        rewards = np.array([r["reward"] for r in rows if r["step"] == step]).reshape(-1, G)
        batch = EpisodeBatch(list(rewards), [np.zeros(G, bool)] * len(rewards), step)
        out.append(np.concatenate(resolve("rloo")(batch)))
    return out


def assert_received(seen, expected) -> None:
    assert len(seen) == len(expected)
    assert any(np.any(e != 0) for e in expected), "no step had differing rewards: the check would be empty"
    for datums, want in zip(seen, expected):
        assert len(datums) == len(want)
        for token_advantages, a in zip(datums, want):  # an episode advantage is the same on every token
            assert token_advantages and all(t == pytest.approx(a, rel=1e-12, abs=1e-12) for t in token_advantages)


def test_the_mlx_engine_receives_the_plugins_advantages(tmp_path, monkeypatch, tiny_run_config):
    seen = record_advantages(monkeypatch, MLXEngine)
    cfg = load_run_config({**tiny_run_config, "advantage": {"episode": "rloo"}})
    train(cfg, tmp_path, log=lambda *a: None, progress=False)
    assert_received(seen, plugin_advantages(tmp_path))


def test_the_tinker_engine_receives_the_same_plugins_advantages(tmp_path, monkeypatch, api_key):
    seen = record_advantages(monkeypatch, TinkerEngine)
    monkeypatch.setattr(tinker, "ServiceClient", lambda **kw: FakeService())
    cfg = load_run_config(dict(
        run_id="t", seed=1, backend="tinker", model={"path": MODEL}, advantage={"episode": "rloo"},
        task={"name": "arithmetic", "params": {"digits": 1}, "heldout_size": 8}, sampling={"max_tokens": 3},
        train={"steps": 3, "prompts_per_step": 4, "group_size": G, "checkpoint_every": 3}))
    train(cfg, tmp_path, log=lambda *a: None, progress=False)
    assert_received(seen, plugin_advantages(tmp_path))
