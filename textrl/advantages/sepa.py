"""The SEPA strength schedule lambda(step): linear ramp, optional `auto` variance tracking, correctness gate.

This is the stateful part of SEPA; its state_dict() goes into the checkpoint so a resumed run continues
with exactly the lambda it would have had.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCHEDULES = ("linear", "auto")


class SepaSchedule:
    """lambda(step) = max_lambda * f(step), f in [0, 1]; 0 while the correctness gate is closed.

    linear: f = clamp((step - delay) / steps, 0, 1), and 0 when steps == 0.
    auto:   tracks an EMA of the batch variance of execution-token uncertainty (`update`); after
            `warmup` updates it latches the EMA as var_0, and from then on
            f = max(linear, 1 - min((ema / var_0) / threshold, 1)): pooling strengthens as the
            execution-token variance falls below `threshold` of its early value.
    gate:   f = 0 until a batch correct rate reported through `observe_correct_rate` first reaches
            `gate`; once open the gate stays open. gate = 0 means open from the start.
    """

    def __init__(
        self,
        steps: int,
        delay: int = 0,
        schedule: str = "linear",
        gate: float = 0.0,
        ema_decay: float = 0.99,
        warmup: int = 50,
        threshold: float = 0.2,
        max_lambda: float = 1.0,
    ):
        checks = [
            ("steps", steps, steps >= 0, ">= 0"),
            ("delay", delay, delay >= 0, ">= 0"),
            ("schedule", schedule, schedule in SCHEDULES, f"one of {SCHEDULES}"),
            ("gate", gate, 0.0 <= gate <= 1.0, "in [0, 1]"),
            ("ema_decay", ema_decay, 0.0 <= ema_decay < 1.0, "in [0, 1)"),
            ("warmup", warmup, warmup >= 0, ">= 0"),
            ("threshold", threshold, threshold > 0.0, "> 0"),
            ("max_lambda", max_lambda, 0.0 <= max_lambda <= 1.0, "in [0, 1]"),
        ]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"SepaSchedule: {name} must be {expected}, got {value!r}")
        self.steps, self.delay, self.schedule = int(steps), int(delay), schedule
        self.gate, self.ema_decay, self.warmup = float(gate), float(ema_decay), int(warmup)
        self.threshold, self.max_lambda = float(threshold), float(max_lambda)
        self.gate_open = self.gate == 0.0
        self.ema: float | None = None
        self.var0: float | None = None
        self.n_updates = 0

    def linear(self, step: int) -> float:
        if self.steps == 0:
            return 0.0
        return min(max((step - self.delay) / self.steps, 0.0), 1.0)

    def auto(self) -> float | None:
        """The auto term of f, or None before var_0 is latched (or when it is 0: nothing to measure)."""
        if self.schedule != "auto" or self.var0 is None or self.var0 <= 0.0 or self.ema is None:
            return None
        return 1.0 - min((self.ema / self.var0) / self.threshold, 1.0)

    def lam(self, step: int) -> float:
        """lambda at `step` (1-based) given the state so far; does not change the state."""
        if not self.gate_open:
            return 0.0
        f = self.linear(step)
        auto = self.auto()
        if auto is not None:
            f = max(f, auto)
        return self.max_lambda * f

    def observe_correct_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"SepaSchedule: correct rate must be in [0, 1], got {rate}")
        if rate >= self.gate:
            self.gate_open = True

    def update(self, exec_uncertainties: Sequence[float]) -> None:
        """Fold one batch's execution-token uncertainties into the variance EMA (empty batch: no-op)."""
        h = np.asarray(exec_uncertainties, dtype=np.float64).ravel()
        if h.size == 0:
            return
        var = float(h.var())
        self.ema = var if self.ema is None else self.ema_decay * self.ema + (1.0 - self.ema_decay) * var
        self.n_updates += 1
        if self.var0 is None and self.n_updates >= self.warmup:
            self.var0 = self.ema

    def state_dict(self) -> dict:
        return {"gate_open": self.gate_open, "ema": self.ema, "var0": self.var0, "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        missing = {"gate_open", "ema", "var0", "n_updates"} - set(state)
        if missing:
            raise ValueError(f"SepaSchedule.load_state_dict: missing keys {sorted(missing)}")
        self.gate_open = bool(state["gate_open"])
        self.ema = None if state["ema"] is None else float(state["ema"])
        self.var0 = None if state["var0"] is None else float(state["var0"])
        self.n_updates = int(state["n_updates"])
