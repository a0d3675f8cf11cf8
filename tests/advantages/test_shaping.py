"""SEPA pooling, GTPO weighting, HICRA: reference examples, edges, and sign properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrl.advantages import gtpo, gtpo_weights, hicra, sepa_pool

uncertainty = st.floats(0, 20, allow_nan=False, allow_subnormal=False)
advantage = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)


@st.composite
def tokens(draw, min_size=1, max_size=24):
    n = draw(st.integers(min_size, max_size))
    h = draw(st.lists(uncertainty, min_size=n, max_size=n))
    m = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return h, m


# --- SEPA pooling ----------------------------------------------------------------------------------

def test_sepa_reference_examples():
    np.testing.assert_allclose(sepa_pool([1, 5, 3, 7], [0, 1, 0, 0], 1.0), [11 / 3, 5, 11 / 3, 11 / 3])
    np.testing.assert_allclose(sepa_pool([1, 5, 3], [0, 1, 0], 0.5), [1.5, 5, 2.5])


def test_sepa_lambda_zero_and_no_execution_tokens_leave_h_unchanged():
    h = [0.3, 2.0, 1.1]
    np.testing.assert_array_equal(sepa_pool(h, [0, 1, 0], 0.0), h)
    np.testing.assert_array_equal(sepa_pool(h, [1, 1, 1], 1.0), h)
    assert sepa_pool([], [], 0.7).shape == (0,)


@settings(deadline=None, derandomize=True)
@given(tokens(), st.floats(0, 1))
def test_sepa_keeps_planning_tokens_and_the_execution_mean(case, lam):
    h, m = case
    out = sepa_pool(h, m, lam)
    h, plan = np.asarray(h), np.asarray(m, bool)
    np.testing.assert_array_equal(out[plan], h[plan])
    if (~plan).any():
        np.testing.assert_allclose(out[~plan].mean(), h[~plan].mean(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan")])
def test_sepa_rejects_lambda_outside_unit_interval(lam):
    with pytest.raises(ValueError, match="lam"):
        sepa_pool([1.0], [0], lam)


def test_length_mismatches_and_bad_masks_raise():
    with pytest.raises(ValueError, match="2 tokens"):
        sepa_pool([1, 2], [0, 1, 0], 0.5)
    with pytest.raises(ValueError, match="3 tokens"):
        hicra([1, 2, 3], [0, 1], 0.2)
    with pytest.raises(ValueError, match="3 advantages for 2 tokens"):
        gtpo([1, 2, 3], [1, 2], 0.1)
    with pytest.raises(ValueError, match="only 0 and 1"):
        hicra([1, 2], [0, 2], 0.2)


def test_uncertainty_must_be_finite_and_non_negative():
    with pytest.raises(ValueError, match=r"uncertainty\[1\]"):
        gtpo(1.0, [0.5, -0.3], 0.1)
    with pytest.raises(ValueError, match=r"uncertainty\[0\]"):
        sepa_pool([float("inf")], [0], 0.5)
    # -logprob round-off of a certain token is clipped, not rejected
    np.testing.assert_array_equal(gtpo_weights([-1e-9, 0.0], 0.5), [1.0, 1.0])


# --- GTPO ------------------------------------------------------------------------------------------

def test_gtpo_reference_examples():
    np.testing.assert_allclose(gtpo(1.0, [1, 1, 3], 0.5), [0.8, 0.8, 1.4])
    np.testing.assert_allclose(gtpo_weights([4, 1], 0.1), [1.06, 0.94])
    np.testing.assert_allclose(gtpo(-2.0, [4, 1], 0.1), [-2.12, -1.88])


def test_gtpo_uniform_when_beta_zero_or_no_uncertainty():
    np.testing.assert_array_equal(gtpo(0.7, [0.1, 3.0, 9.0], 0.0), [0.7, 0.7, 0.7])
    np.testing.assert_array_equal(gtpo(0.7, [0.0, 0.0], 0.5), [0.7, 0.7])
    assert gtpo(1.0, [], 0.3).shape == (0,)


def test_gtpo_clamps_weights_at_zero_for_large_beta():
    # mean 2: weights 1 + 3*(0.5-1) = -0.5 -> 0, and 1 + 3*(1.5-1) = 2.5
    np.testing.assert_allclose(gtpo_weights([1, 3], 3.0), [0.0, 2.5])


def test_gtpo_rejects_negative_beta():
    with pytest.raises(ValueError, match="beta"):
        gtpo(1.0, [1, 2], -0.1)


@settings(deadline=None, derandomize=True)
@given(advantage, st.lists(uncertainty, min_size=1, max_size=24), st.floats(0, 5))
def test_gtpo_never_flips_sign_and_weights_average_one_before_clamp(a, h, beta):
    out = gtpo(a, h, beta)
    assert (np.sign(out) * np.sign(a) >= 0).all()
    h = np.asarray(h)
    if h.mean() > 1e-12:
        unclamped = 1.0 + beta * (h / h.mean() - 1.0)
        assert unclamped.mean() == pytest.approx(1.0, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(gtpo_weights(h, beta), np.maximum(unclamped, 0.0))


# --- HICRA -----------------------------------------------------------------------------------------

def test_hicra_reference_example():
    np.testing.assert_allclose(hicra([0.5, -0.3, 0.2, -0.1, 0], [1, 0, 1, 1, 1], 0.2), [0.6, -0.3, 0.24, -0.08, 0])


def test_hicra_alpha_zero_is_identity():
    a = [0.5, -0.3, 0.2]
    np.testing.assert_array_equal(hicra(a, [1, 1, 0], 0.0), a)


@pytest.mark.parametrize("alpha", [-0.1, 1.01])
def test_hicra_alpha_outside_unit_interval_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        hicra([1.0], [1], alpha)


@settings(deadline=None, derandomize=True)
@given(st.lists(st.tuples(advantage, st.integers(0, 1)), max_size=24), st.floats(0, 1))
def test_hicra_never_flips_a_sign_and_touches_only_planning_tokens(pairs, alpha):
    a = np.array([p[0] for p in pairs], dtype=np.float64)
    m = np.array([p[1] for p in pairs], dtype=np.int64)
    out = hicra(a, m, alpha)
    assert (np.sign(out) * np.sign(a) >= 0).all()
    np.testing.assert_array_equal(out[m == 0], a[m == 0])
