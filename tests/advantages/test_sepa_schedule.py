"""SEPA lambda schedule: linear with delay, correctness gate, auto variance tracking, checkpoint state."""

import json

import pytest

from textrl.advantages import SepaSchedule


def test_linear_ramp_without_delay():
    s = SepaSchedule(steps=4)
    assert [s.lam(t) for t in (0, 1, 2, 3, 4, 5, 100)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_linear_ramp_with_delay():
    s = SepaSchedule(steps=10, delay=5)
    assert [s.lam(t) for t in (1, 5, 6, 10, 15, 16)] == [0.0, 0.0, 0.1, 0.5, 1.0, 1.0]


def test_zero_steps_means_no_pooling():
    s = SepaSchedule(steps=0)
    assert s.lam(1) == s.lam(1000) == 0.0


def test_max_lambda_caps_the_ramp():
    s = SepaSchedule(steps=4, max_lambda=0.5)
    assert [s.lam(t) for t in (2, 4, 9)] == [0.25, 0.5, 0.5]


def test_gate_closed_until_reached_then_sticky():
    s = SepaSchedule(steps=10, gate=0.5)
    assert not s.gate_open and s.lam(10) == 0.0
    s.observe_correct_rate(0.49)
    assert s.lam(10) == 0.0  # closed: below the gate
    s.observe_correct_rate(0.5)
    assert s.gate_open and s.lam(5) == 0.5  # open: reaching the gate is enough
    s.observe_correct_rate(0.0)
    assert s.gate_open and s.lam(10) == 1.0  # sticky: stays open when the rate falls again


def test_gate_zero_is_open_from_the_start():
    assert SepaSchedule(steps=2).lam(1) == 0.5


def test_gate_rejects_rates_outside_unit_interval():
    with pytest.raises(ValueError, match="correct rate"):
        SepaSchedule(steps=2, gate=0.3).observe_correct_rate(1.2)


def test_auto_uses_linear_floor_during_warmup_then_latches_var0():
    s = SepaSchedule(steps=100, schedule="auto", ema_decay=0.5, warmup=2, threshold=0.5)
    s.update([0.0, 2.0])  # var 1.0: ema = 1.0 (first update), not latched yet
    assert s.var0 is None and s.lam(10) == 0.1
    s.update([1.0, 3.0])  # var 1.0: ema 1.0, latched: var_0 = 1.0
    assert s.var0 == 1.0
    assert s.lam(10) == 0.1  # 1 - min((1/1)/0.5, 1) = 0 -> linear floor
    s.update([1.0, 1.0])  # var 0: ema 0.5 -> ratio 0.5/0.5 = 1 -> auto 0
    assert s.lam(10) == 0.1
    s.update([1.0, 1.0])  # ema 0.25 -> 1 - 0.5 = 0.5 beats the linear 0.1
    assert s.lam(10) == 0.5
    assert s.lam(80) == 0.8  # the linear value is a floor
    s.update([2.0, 2.0])  # ema 0.125 -> 0.75
    assert s.lam(10) == 0.75


def test_auto_is_still_gated():
    s = SepaSchedule(steps=100, schedule="auto", warmup=1, ema_decay=0.0, gate=0.9)
    s.update([0.0, 2.0])
    s.update([1.0, 1.0])
    assert s.auto() == 1.0 and s.lam(1) == 0.0


def test_auto_ignores_empty_batches_and_zero_variance_start():
    s = SepaSchedule(steps=10, schedule="auto", warmup=1)
    s.update([])
    assert s.n_updates == 0 and s.ema is None
    s.update([3.0, 3.0])  # var_0 = 0: nothing to measure, linear only
    assert s.var0 == 0.0 and s.lam(5) == 0.5


def test_linear_schedule_ignores_the_variance():
    s = SepaSchedule(steps=10, warmup=0)
    s.update([0.0, 10.0])
    s.update([1.0, 1.0])
    assert s.lam(3) == pytest.approx(0.3)


def test_state_round_trips_through_json():
    a = SepaSchedule(steps=50, schedule="auto", gate=0.2, warmup=2, ema_decay=0.8)
    a.observe_correct_rate(0.3)
    for batch in ([0.0, 1.0, 2.0], [0.5, 0.7], [1.0, 1.1]):
        a.update(batch)
    b = SepaSchedule(steps=50, schedule="auto", gate=0.2, warmup=2, ema_decay=0.8)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.state_dict() == a.state_dict()
    assert [b.lam(t) for t in range(1, 60, 7)] == [a.lam(t) for t in range(1, 60, 7)]


def test_load_state_dict_rejects_missing_keys():
    with pytest.raises(ValueError, match="missing keys"):
        SepaSchedule(steps=3).load_state_dict({"gate_open": True})


@pytest.mark.parametrize(
    "kwargs, field",
    [({"steps": -1}, "steps"), ({"steps": 5, "delay": -2}, "delay"), ({"steps": 5, "schedule": "cosine"}, "schedule"),
     ({"steps": 5, "gate": 1.5}, "gate"), ({"steps": 5, "ema_decay": 1.0}, "ema_decay"),
     ({"steps": 5, "threshold": 0.0}, "threshold"), ({"steps": 5, "max_lambda": -0.1}, "max_lambda")],
)
def test_bad_parameters_raise_naming_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=f"{field} must be"):
        SepaSchedule(**kwargs)
