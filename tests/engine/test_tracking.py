"""A resumed run sends W&B each step once (the interrupted attempt already sent the steps it repeats)."""

from __future__ import annotations

from types import SimpleNamespace

from textrl.tracking import Tracker


class FakeRun:
    id = "abc123"

    def __init__(self, sent):
        self.sent = sent

    def log(self, values, step):
        self.sent.append(step)


def tracker(tmp_path, monkeypatch, sent, run_id=None) -> Tracker:
    import wandb

    monkeypatch.setattr(wandb, "init", lambda **kw: FakeRun(sent))
    cfg = SimpleNamespace(wandb=SimpleNamespace(mode="offline", project="p", entity=None, tags=[]),
                          campaign="c", arm="a", run_id="r")
    return Tracker(cfg, tmp_path, {}, run_id)


def test_a_resume_does_not_send_a_step_twice(tmp_path, monkeypatch):
    sent = []
    first = tracker(tmp_path, monkeypatch, sent)
    for step in range(1, 8):  # killed after step 7; the checkpoint is at step 5
        first.log({"step": step, "reward": 0.1})
    resumed = tracker(tmp_path, monkeypatch, sent, run_id=first.run_id)
    for step in range(6, 11):
        resumed.log({"step": step, "reward": 0.1})
        if step == 10:
            resumed.log({"step": step, "heldout/avg_at_k": 0.3})  # a second row at the same step still goes
    assert sent == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]
