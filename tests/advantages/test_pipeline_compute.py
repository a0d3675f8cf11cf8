"""AdvantagePipeline.compute: a hand-computed batch, stage order, zero-signal groups, backend
neutrality, controller state and exact resume."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrl.advantages import AdvantagePipeline

A0 = 0.5 / (0.5 + 1e-6)  # MaxRL advantage of rewards [1, 0]


def full(**overrides):
    p = AdvantagePipeline.preset("full", **overrides).resolved(2)
    return p, p.controller()


def test_full_pipeline_hand_computed_batch():
    p, c = full()
    rewards = [[1, 0], [0, 0]]
    h = [[[1, 5, 3], [2, 2]], [[0.4], [7, 1]]]
    m = [[[0, 1, 0], [0, 0]], [[1], [0, 1]]]
    advs, metrics = p.compute(rewards, h, m, step=1, controller=c)
    # step 1 of 2: lambda 0.5. Completion 0: SEPA [1,5,3] -> [1.5, 5, 2.5], mean 3;
    # GTPO beta 0.1 -> w = [0.95, 1 + 0.1*(5/3 - 1), 1 + 0.1*(2.5/3 - 1)]; HICRA x1.2 on the planning token.
    w = np.array([0.95, 1 + 0.1 * (5 / 3 - 1), 1 + 0.1 * (2.5 / 3 - 1)])
    np.testing.assert_allclose(advs[0][0], A0 * w * [1, 1.2, 1], rtol=1e-12)
    np.testing.assert_allclose(advs[0][1], [-A0, -A0], rtol=1e-12)  # equal uncertainty -> uniform
    for a in advs[1]:
        assert (a == 0.0).all()  # no-signal group
    assert [a.dtype for row in advs for a in row] == [np.float64] * 4
    assert [len(a) for row in advs for a in row] == [3, 2, 1, 2]
    assert metrics["sepa_lambda"] == 0.5
    assert metrics["frac_zero_std_groups"] == 0.5
    assert metrics["adv_abs_mean"] == pytest.approx((np.abs(advs[0][0]).sum() + 2 * A0) / 8)
    assert metrics["planning_token_frac"] == pytest.approx(3 / 8)
    # of 8 tokens: GTPO reweighted tokens 0 and 1 of completion 0 (token 2 sits at the mean), SEPA's pooling
    # moved tokens 0 and 2 (token 1 is the planning token), HICRA boosted the one planning token with A != 0
    assert (metrics["changed_frac_gtpo"], metrics["changed_frac_sepa"], metrics["changed_frac_hicra"]) == (
        2 / 8, 2 / 8, 1 / 8)
    # SEPA tracked the raw execution-token uncertainty of this batch: [1, 3, 2, 2, 7]
    assert c.sepa.ema == pytest.approx(np.var([1, 3, 2, 2, 7]))


def test_grpo_pipeline_broadcasts_the_group_advantage_to_every_token():
    p = AdvantagePipeline.preset("grpo")
    surprisal = [[[0.1, 0.2], [0.3]], [[0.5, 0.5, 0.5]]]
    advs, metrics = p.compute([[1, 0], [0.4]], surprisal, None, step=1, controller=None)
    assert [a.tolist() for row in advs for a in row] == [[0.5, 0.5], [-0.5], [0.0, 0.0, 0.0]]
    assert metrics == {"sepa_lambda": None, "frac_zero_std_groups": 0.5, "adv_abs_mean": pytest.approx(1.5 / 6),
                       "planning_token_frac": None, "changed_frac_sepa": None, "changed_frac_gtpo": None,
                       "changed_frac_hicra": None}


def test_grpo_batch_scale_through_the_pipeline():
    p = AdvantagePipeline.from_config({"scale": "batch"})
    advs, _ = p.compute([[1, 0], [1, 1, 1, 1]], [[[0.0], [0.0]], [[0.0]] * 4], None, 1, None)
    std = np.std([1, 0, 1, 1, 1, 1])
    np.testing.assert_allclose([advs[0][0][0], advs[0][1][0]], [0.5 / std, -0.5 / std])


def test_planning_masks_alone_can_lay_out_tokens():
    p = AdvantagePipeline.from_config({"episode": "maxrl", "hicra": {"alpha": 0.5}})
    advs, metrics = p.compute([[1, 0]], None, [[[1, 0], [1]]], 1, None)
    np.testing.assert_allclose(advs[0][0], [1.5 * A0, A0])
    np.testing.assert_allclose(advs[0][1], [-0.5 * A0])
    assert metrics["planning_token_frac"] == pytest.approx(2 / 3)


def test_empty_batch_and_empty_completions():
    p, c = full()
    advs, metrics = p.compute([], [], [], 1, c)
    assert advs == [] and metrics["frac_zero_std_groups"] == 0.0 and metrics["adv_abs_mean"] == 0.0
    advs, metrics = p.compute([[1, 0]], [[[], [1.0]]], [[[], [0]]], 1, c)
    assert advs[0][0].shape == (0,) and advs[0][1].tolist() == pytest.approx([-A0])


def test_gate_observes_this_batch_before_lambda_is_computed():
    p, c = full(sepa={"gate": 0.5, "steps": 4})
    h, m = [[[1.0, 2.0], [3.0]]], [[[0, 0], [0]]]
    _, metrics = p.compute([[1, 0]], h, m, 1, c, correct=[[True, False]])
    assert metrics["sepa_lambda"] == 0.25  # a rate of 0.5 reaches the gate: pooled from this batch on
    _, metrics = p.compute([[0, 0]], h, m, 2, c, correct=[[False, False]])
    assert metrics["sepa_lambda"] == 0.5  # sticky


def test_gate_stays_closed_below_the_rate():
    p, c = full(sepa={"gate": 0.75, "steps": 4})
    _, metrics = p.compute([[1, 0]], [[[1.0], [2.0]]], [[[0], [0]]], 3, c, correct=[[True, False]])
    assert metrics["sepa_lambda"] == 0.0 and not c.sepa.gate_open


def test_auto_lambda_uses_only_earlier_batches_variance():
    def run(second_batch_h):
        p, c = full(sepa={"schedule": "auto", "warmup": 1, "ema_decay": 0.0, "steps": 1000})
        masks = [[[0, 0], [0, 0]]]
        lams = []
        for step, h in enumerate([[[0.0, 4.0], [0.0, 4.0]], second_batch_h, [[1.0, 1.0], [1.0, 1.0]]], 1):
            lams.append(p.compute([[1, 0]], [h], masks, step, c)[1]["sepa_lambda"])
        return lams

    a = run([[2.0, 2.0], [2.0, 2.0]])  # variance collapses at step 2
    b = run([[0.0, 4.0], [0.0, 4.0]])  # variance stays
    assert a[:2] == b[:2]  # step 2's own variance does not move step 2's lambda
    assert a[2] == 1.0 and b[2] == pytest.approx(0.003)  # ... it moves step 3's


@st.composite
def no_signal_batch(draw):
    groups = draw(st.integers(1, 4))
    rewards, h, m = [], [], []
    for _ in range(groups):
        g = draw(st.integers(1, 5))
        rewards.append([draw(st.floats(0, 1))] * g)
        lengths = [draw(st.integers(0, 8)) for _ in range(g)]
        h.append([draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)) for n in lengths])
        m.append([draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)) for n in lengths])
    return rewards, h, m


@pytest.mark.parametrize("preset", ["grpo", "full"])
@settings(deadline=None, derandomize=True)
@given(batch=no_signal_batch(), step=st.integers(1, 10))
def test_a_group_without_signal_is_zero_on_every_token(preset, batch, step):
    rewards, h, m = batch
    p = AdvantagePipeline.preset(preset).resolved(5)
    advs, metrics = p.compute(rewards, h, m, step, p.controller())
    assert all((a == 0.0).all() for row in advs for a in row)
    assert metrics["frac_zero_std_groups"] == 1.0 and metrics["adv_abs_mean"] == 0.0


def batch_inputs(seed):
    rng = np.random.default_rng(seed)
    rewards = [rng.integers(0, 2, 4).astype(float).tolist() for _ in range(3)]
    lengths = [[int(n) for n in rng.integers(1, 9, 4)] for _ in range(3)]
    h32 = [[rng.gamma(1.0, 1.0, n).astype(np.float32) for n in row] for row in lengths]
    masks = [[(rng.random(n) < 0.3).astype(np.int8) for n in row] for row in lengths]
    return rewards, h32, masks


@pytest.mark.parametrize("preset", ["grpo", "full"])
def test_backend_neutral_lists_numpy_and_mlx_give_identical_arrays(preset):
    rewards, h32, masks = batch_inputs(0)
    as_lists = ([[a.tolist() for a in row] for row in h32], [[a.tolist() for a in row] for row in masks])
    as_numpy = (h32, [[a.astype(bool) for a in row] for row in masks])
    variants = [as_lists, as_numpy]
    try:
        import mlx.core as mx
    except ImportError:
        mx = None
    if mx is not None:
        variants.append(([[mx.array(a) for a in row] for row in h32], [[mx.array(a) for a in row] for row in masks]))
    results = []
    for h, m in variants:
        p = AdvantagePipeline.preset(preset, uncertainty="surprisal").resolved(10)
        c = p.controller()
        results.append([p.compute(rewards, h, m, step, c) for step in (1, 2, 3)])
    reference = results[0]
    for other in results[1:]:
        for (advs_a, met_a), (advs_b, met_b) in zip(reference, other):
            assert met_a == met_b
            for a, b in zip(sum(advs_a, []), sum(advs_b, [])):
                assert a.dtype == b.dtype == np.float64 and np.array_equal(a, b)


@pytest.mark.parametrize(
    "config",
    [{"preset": "full", "sepa": {"schedule": "auto", "gate": 0.4, "warmup": 2}},
     {"preset": "full", "episode": "reinforce", "reinforce": {"baseline": "ema", "normalize": True}}],
)
def test_resume_from_json_state_reproduces_the_uninterrupted_run(config):
    p = AdvantagePipeline.from_config(config).resolved(6)
    steps = [batch_inputs(seed) for seed in range(6)]
    correct = [[[r > 0 for r in g] for g in rewards] for rewards, _, _ in steps]

    straight = p.controller()
    want = [p.compute(*steps[t], t + 1, straight, correct[t]) for t in range(6)]

    first = p.controller()
    got = [p.compute(*steps[t], t + 1, first, correct[t]) for t in range(3)]
    saved = json.dumps(first.state_dict())
    resumed = p.controller()
    resumed.load_state_dict(json.loads(saved))
    got += [p.compute(*steps[t], t + 1, resumed, correct[t]) for t in range(3, 6)]

    for (advs_a, met_a), (advs_b, met_b) in zip(want, got):
        assert met_a == met_b
        assert all(np.array_equal(a, b) for a, b in zip(sum(advs_a, []), sum(advs_b, [])))
    assert resumed.state_dict() == straight.state_dict()


def test_controller_state_must_match_the_pipeline():
    p = AdvantagePipeline.preset("full").resolved(5)
    with pytest.raises(ValueError, match="sepa"):
        p.controller().load_state_dict({"sepa": None, "ema_baseline": None})
    assert AdvantagePipeline.preset("grpo").controller().state_dict() == {"sepa": None, "ema_baseline": None}


def test_input_errors_name_the_group_and_completion():
    p, c = full()
    with pytest.raises(ValueError, match="2 reward groups but 1 groups of uncertainties"):
        p.compute([[1, 0], [1]], [[[1.0], [1.0]]], [[[0], [0]]], 1, c)
    with pytest.raises(ValueError, match="group 0 has 2 rewards but 1 completions in planning_masks"):
        p.compute([[1, 0]], [[[1.0], [1.0]]], [[[0]]], 1, c)
    with pytest.raises(ValueError, match="group 0 completion 1: planning mask has shape"):
        p.compute([[1, 0]], [[[1.0], [1.0, 2.0]]], [[[0], [0]]], 1, c)
    with pytest.raises(ValueError, match=r"group 0: maxrl: reward\[1\] = -1.0 is negative"):
        p.compute([[1, -1]], [[[1.0], [1.0]]], [[[0], [0]]], 1, c)
    with pytest.raises(ValueError, match="planning_masks is None"):
        p.compute([[1, 0]], [[[1.0], [1.0]]], None, 1, c)
    with pytest.raises(ValueError, match="uncertainties is None"):
        p.compute([[1, 0]], None, [[[0], [0]]], 1, c)
    with pytest.raises(ValueError, match="stateful"):
        p.compute([[1, 0]], [[[1.0], [1.0]]], [[[0], [0]]], 1, None)
    gated, gc = full(sepa={"gate": 0.2})
    with pytest.raises(ValueError, match="correct is None"):
        gated.compute([[1, 0]], [[[1.0], [1.0]]], [[[0], [0]]], 1, gc)


def test_a_rejected_batch_leaves_the_controller_unchanged():
    p = AdvantagePipeline.preset("full", episode="reinforce", sepa={"gate": 0.5}).resolved(5)
    c = p.controller()
    p.compute([[1, 0]], [[[1.0], [2.0]]], [[[0], [0]]], 1, c, correct=[[False, False]])
    before = json.dumps(c.state_dict())
    with pytest.raises(ValueError, match="group 0 completion 1: uncertainty"):
        p.compute([[1, 1]], [[[1.0], [float("nan")]]], [[[0], [0]]], 2, c, correct=[[True, True]])
    assert json.dumps(c.state_dict()) == before


def test_advantages_from_engine_completions_fit_datums():
    """The trainer's path: Completion (offsets, logprobs) -> planning mask + surprisal -> Datum."""
    from textrl.advantages import grams_for, planning_mask
    from textrl.engine.base import Completion, Datum

    def completion(text, cuts):
        offsets = list(zip(cuts[:-1], cuts[1:])) + [(len(text), len(text))]  # EOS: empty span
        logprobs = [-0.1 * (k + 1) for k in range(len(offsets))]
        return Completion([1, 2], list(range(3, 3 + len(offsets))), logprobs, text, offsets)

    groups = [[completion("wait, 12+7=19", [0, 4, 5, 8, 13]), completion("19", [0, 2])],
              [completion("let me check 5", [0, 3, 6, 12, 14]), completion("5", [0, 1])]]
    p = AdvantagePipeline.preset("full", uncertainty="surprisal").resolved(4)
    grams = grams_for("arithmetic", p.grams)
    masks = [[planning_mask(c.text, c.offsets, grams) for c in g] for g in groups]
    assert masks[0][0].tolist() == [1, 0, 0, 0, 0] and masks[1][0].tolist() == [1, 1, 1, 0, 0]
    advs, _ = p.compute([[1, 0], [0, 1]], [[c.surprisal() for c in g] for g in groups], masks, 1, p.controller())
    datums = [Datum(c.prompt_tokens, c.tokens, c.logprobs, [float(a) for a in advs[i][j]])
              for i, g in enumerate(groups) for j, c in enumerate(g)]
    assert [len(d.advantages) for d in datums] == [5, 2, 5, 2]
    assert min(datums[0].advantages) > 0 > max(datums[1].advantages)  # correct vs wrong completion
