"""Episode advantages: reference examples, edge cases, REINFORCE baselines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrl.advantages import EmaBaseline, grpo, grpo_batch, maxrl, reinforce_batch

EPS = 1e-6


# --- GRPO ------------------------------------------------------------------------------------------

def test_grpo_centres_without_scaling_by_default():
    np.testing.assert_array_equal(grpo([1, 0, 0, 1]), [0.5, -0.5, -0.5, 0.5])
    np.testing.assert_allclose(grpo([3.0, 1.0, 2.0]), [1.0, -1.0, 0.0])


def test_grpo_group_scale_uses_population_std():
    # rewards [1, 0, 0, 0]: mean 0.25, population std sqrt(0.1875)
    std = np.sqrt(0.1875)
    np.testing.assert_allclose(grpo([1, 0, 0, 0], "group"), np.array([0.75, -0.25, -0.25, -0.25]) / std)


def test_grpo_batch_scale_divides_by_std_of_all_batch_rewards():
    groups = [[1, 0], [1, 1], [0, 0, 0, 1]]
    batch_std = np.concatenate([np.asarray(g, float) for g in groups]).std()
    out = grpo_batch(groups, "batch")
    np.testing.assert_allclose(out[0], np.array([0.5, -0.5]) / batch_std)
    np.testing.assert_array_equal(out[1], [0.0, 0.0])
    np.testing.assert_allclose(out[2], np.array([-0.25, -0.25, -0.25, 0.75]) / batch_std)


def test_grpo_batch_scale_needs_the_batch():
    with pytest.raises(ValueError, match="batch_std"):
        grpo([1, 0], "batch")
    np.testing.assert_allclose(grpo([1, 0], "batch", batch_std=0.25), [2.0, -2.0])


def test_grpo_rejects_unknown_scale_and_non_finite_rewards():
    with pytest.raises(ValueError, match="scale"):
        grpo([1, 0], "global")
    with pytest.raises(ValueError, match=r"reward\[1\]"):
        grpo([1, float("nan")])


@pytest.mark.parametrize("fn", [grpo, maxrl])
@pytest.mark.parametrize("rewards", [[], [0.7], [0.1, 0.1, 0.1], [1, 1, 1, 1], [0, 0]])
def test_no_signal_groups_are_exact_zeros(fn, rewards):
    out = fn(rewards)
    assert out.shape == (len(rewards),) and out.dtype == np.float64
    assert (out == 0.0).all()


@pytest.mark.parametrize("scale", ["none", "group", "batch"])
def test_grpo_no_signal_is_exact_zero_under_every_scale(scale):
    out = grpo_batch([[0.3, 0.3, 0.3], [1, 0]], scale)
    assert (out[0] == 0.0).all() and np.abs(out[1]).min() > 0


# --- MaxRL -----------------------------------------------------------------------------------------

def test_maxrl_reference_examples():
    np.testing.assert_allclose(maxrl([1, 0, 0, 0]), [3, -1, -1, -1], rtol=1e-5)
    np.testing.assert_allclose(maxrl([1, 1, 1, 0]), [1 / 3, 1 / 3, 1 / 3, -1], rtol=1e-5)
    np.testing.assert_array_equal(maxrl([0, 0, 0, 0]), [0, 0, 0, 0])
    np.testing.assert_array_equal(maxrl([1, 1, 1, 1]), [0, 0, 0, 0])


def test_maxrl_exact_formula_includes_eps():
    m = 0.25
    np.testing.assert_array_equal(maxrl([1, 0, 0, 0]), (np.array([1.0, 0, 0, 0]) - m) / (m + EPS))


def test_maxrl_binary_k_of_n_weights_hard_prompts_more():
    # K of N correct: a correct completion gets (N-K)/K, a wrong one -1
    for n, k in [(8, 1), (8, 2), (8, 7), (5, 3)]:
        out = maxrl([1] * k + [0] * (n - k), eps=0.0)
        np.testing.assert_allclose(out[:k], (n - k) / k)
        np.testing.assert_allclose(out[k:], -1.0)


def test_maxrl_mean_below_eps_is_zero():
    np.testing.assert_array_equal(maxrl([1e-7, 0.0], eps=1e-6), [0.0, 0.0])


def test_maxrl_negative_reward_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"reward\[2\] = -0\.5 is negative"):
        maxrl([1.0, 0.0, -0.5, 0.2])


@settings(deadline=None, derandomize=True)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=16))
def test_a_higher_reward_never_gets_a_lower_advantage(rewards):
    r = np.asarray(rewards)
    higher = r[:, None] > r[None, :]
    for out in (grpo(r), maxrl(r), grpo(r, "group")):
        assert (out[:, None] >= out[None, :])[higher].all()


# --- REINFORCE -------------------------------------------------------------------------------------

def test_reinforce_group_baseline_equals_grpo_none():
    groups = [[1, 0, 0], [0.2, 0.2]]
    for got, want in zip(reinforce_batch(groups, "group"), grpo_batch(groups)):
        np.testing.assert_array_equal(got, want)


def test_reinforce_ema_baseline_uses_the_baseline_before_this_batch():
    ema = EmaBaseline(decay=0.5)
    first = reinforce_batch([[1, 0], [1, 1]], "ema", ema=ema)  # batch mean 0.75 initialises b
    np.testing.assert_allclose(np.concatenate(first), [0.25, -0.75, 0.25, 0.25])
    assert ema.value == pytest.approx(0.75)
    second = reinforce_batch([[0, 0], [0, 0]], "ema", ema=ema)  # b = 0.75, then 0.5*0.75 + 0.5*0
    np.testing.assert_allclose(np.concatenate(second), [-0.75] * 4)
    assert ema.value == pytest.approx(0.375)


def test_reinforce_ema_state_round_trips():
    a, b = EmaBaseline(0.9), EmaBaseline(0.9)
    reinforce_batch([[1, 0, 1]], "ema", ema=a)
    b.load_state_dict(a.state_dict())
    from_a, from_b = (reinforce_batch([[0, 1]], "ema", ema=ema)[0] for ema in (a, b))
    np.testing.assert_array_equal(from_a, from_b)
    np.testing.assert_allclose(from_a, [-2 / 3, 1 / 3])


def test_reinforce_normalize_divides_by_batch_std_without_recentring():
    out = reinforce_batch([[1, 0, 0, 0]], "group", normalize=True)[0]
    raw = np.array([0.75, -0.25, -0.25, -0.25])
    np.testing.assert_allclose(out, raw / raw.std())
    assert np.sign(out).tolist() == np.sign(raw).tolist()


def test_reinforce_needs_known_baseline_and_an_ema_object():
    with pytest.raises(ValueError, match="baseline"):
        reinforce_batch([[1, 0]], "median")
    with pytest.raises(ValueError, match="EmaBaseline"):
        reinforce_batch([[1, 0]], "ema")
