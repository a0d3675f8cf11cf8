"""AdvantagePipeline as a spec: presets, overrides, resolution, serialisation, and config errors."""

import json

import pytest

from textrl.advantages import AdvantagePipeline, PipelineNeeds
from textrl.errors import ConfigError


def test_grpo_preset_is_plain_grpo():
    p = AdvantagePipeline.preset("grpo")
    assert p.model_dump() == {
        "episode": "grpo", "scale": "none", "reinforce": None, "uncertainty": "entropy",
        "sepa": None, "gtpo": None, "hicra": None, "grams": (), "episode_params": {},
    }


def test_full_preset_is_maxrl_sepa_gtpo_hicra():
    d = AdvantagePipeline.preset("full").model_dump()
    assert d["episode"] == "maxrl" and d["scale"] == "none"
    assert d["gtpo"] == {"beta": 0.1} and d["hicra"] == {"alpha": 0.2}
    assert d["sepa"] == {"steps": None, "delay": 0, "schedule": "linear", "gate": 0.0, "ema_decay": 0.99,
                         "warmup": 50, "threshold": 0.2, "max_lambda": 1.0}


def test_overrides_merge_into_the_preset_stage():
    p = AdvantagePipeline.preset("full", sepa={"steps": 300, "delay": 0, "gate": 0.1}, gtpo={"beta": 0.3})
    assert (p.sepa.steps, p.sepa.gate, p.sepa.schedule) == (300, 0.1, "linear")
    assert p.gtpo.beta == 0.3 and p.hicra.alpha == 0.2


def test_from_config_reads_what_run_configs_contain():
    p = AdvantagePipeline.from_config({"preset": "full", "sepa": {"steps": 200, "schedule": "auto"},
                                       "uncertainty": "surprisal", "grams": ["carry the one"]})
    assert p == AdvantagePipeline.preset("full", sepa={"steps": 200, "schedule": "auto"},
                                         uncertainty="surprisal", grams=("carry the one",))
    assert AdvantagePipeline.from_config({}) == AdvantagePipeline.from_config(None) == AdvantagePipeline.preset("grpo")


def test_stages_switch_off_with_null_or_false_and_on_with_true():
    p = AdvantagePipeline.from_config({"preset": "full", "hicra": False})
    assert p.hicra is None and p.gtpo is not None
    assert AdvantagePipeline.from_config({"preset": "full", "hicra": None}) == p
    q = AdvantagePipeline.from_config({"episode": "maxrl", "gtpo": True})
    assert q.gtpo.beta == 0.1


def test_reinforce_gets_default_options():
    p = AdvantagePipeline.from_config({"episode": "reinforce"})
    assert p.reinforce.model_dump() == {"baseline": "ema", "decay": 0.9, "normalize": False}
    q = AdvantagePipeline.from_config({"episode": "reinforce", "reinforce": {"baseline": "group", "normalize": True}})
    assert (q.reinforce.baseline, q.reinforce.normalize) == ("group", True)


def test_resolved_fills_sepa_steps_from_the_run_length():
    p = AdvantagePipeline.preset("full")
    assert p.resolved(120).sepa.steps == 120
    assert AdvantagePipeline.preset("full", sepa={"steps": 40}).resolved(120).sepa.steps == 40
    assert AdvantagePipeline.preset("grpo").resolved(None) == AdvantagePipeline.preset("grpo")
    assert p.sepa.steps is None  # resolved() returns a copy
    with pytest.raises(ConfigError, match=r"^advantage\.sepa\.steps: "):
        p.resolved(None)
    with pytest.raises(ConfigError, match=r"^advantage\.sepa\.steps: "):
        p.resolved(-5)


def test_resolved_form_round_trips_through_json():
    p = AdvantagePipeline.preset("full", sepa={"gate": 0.2}, grams=["aha"]).resolved(300)
    text = json.dumps(p.model_dump(mode="json"))
    assert AdvantagePipeline.model_validate(json.loads(text)) == p
    assert AdvantagePipeline.from_config(json.loads(text)) == p


def test_controller_needs_a_resolved_pipeline():
    with pytest.raises(ValueError, match="resolved"):
        AdvantagePipeline.preset("full").controller()


@pytest.mark.parametrize(
    "config, message",
    [
        ({"preset": "full", "entropy_bonus": {"coef": 0.1}},
         "advantage.entropy_bonus: unknown field (expected one of: episode, episode_params, scale, reinforce, uncertainty, sepa, gtpo, hicra, grams"),
        ({"preset": "full", "gtpo": {"beta": -1}}, "advantage.gtpo.beta: expected a non-negative number, got -1"),
        ({"preset": "full", "hicra": {"alpha": -0.5}}, "advantage.hicra.alpha: expected a number >= 0 and <= 1, got -0.5"),
        ({"preset": "full", "hicra": {"alpha": 1.5}}, "advantage.hicra.alpha: expected a number >= 0 and <= 1, got 1.5"),
        ({"preset": "full", "sepa": {"max_lambda": 1.2}}, "advantage.sepa.max_lambda: expected a number >= 0 and <= 1, got 1.2"),
        ({"preset": "full", "sepa": {"max_lambda": -0.2}}, "advantage.sepa.max_lambda: expected a number >= 0 and <= 1, got -0.2"),
        ({"preset": "full", "sepa": {"steps": -10}}, "advantage.sepa.steps: expected a non-negative integer or null, got -10"),
        ({"preset": "full", "sepa": {"delay": -1}}, "advantage.sepa.delay: expected a non-negative integer, got -1"),
        ({"preset": "full", "sepa": {"gate": 1.1}}, "advantage.sepa.gate: expected a number >= 0 and <= 1, got 1.1"),
        ({"preset": "full", "sepa": {"schedule": "cosine"}},
         "advantage.sepa.schedule: expected one of 'linear', 'auto', got 'cosine'"),
        ({"preset": "full", "sepa": {"stepz": 3}}, "advantage.sepa.stepz: unknown field (expected one of: steps, "),
        ({"preset": "full", "gtpo": {"beta": float("nan")}}, "advantage.gtpo.beta: "),
        ({"preset": "ful"}, "advantage.preset: unknown preset 'ful'; choose from grpo, full"),
        ({"episode": "ppo"}, "advantage.episode: unknown advantage 'ppo'; use one of grpo, maxrl, reinforce, dapo_overlong, reinforce_pp, rloo"),
        ({"episode": "maxrl", "scale": "group"}, "advantage.scale: applies to episode 'grpo' only"),
        ({"uncertainty": "varentropy"}, "advantage.uncertainty: expected one of"),
        ({"preset": "full", "gtpo": None}, "advantage.gtpo: must be on when sepa is on"),  # ablating GTPO: switch sepa off too
        ({"reinforce": {"baseline": "ema"}}, "advantage.reinforce: only used with episode 'reinforce'"),
        ({"episode": "reinforce", "reinforce": {"decay": 1.0}}, "advantage.reinforce.decay: expected a number >= 0 and < 1, got 1.0"),
        ({"gtpo": 0.1}, "advantage.gtpo: expected a mapping with fields beta"),
        ({"grams": ["ok", " "]}, "advantage.grams: planning phrases must not be empty"),
    ],
)
def test_bad_configs_raise_one_config_error_naming_the_field(config, message):
    with pytest.raises(ConfigError) as err:
        AdvantagePipeline.from_config(config)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_error_prefix_follows_where_the_spec_lives():
    with pytest.raises(ConfigError, match=r"^arms\[1\]\.advantage\.gtpo\.beta: expected a non-negative number"):
        AdvantagePipeline.from_config({"preset": "full", "gtpo": {"beta": -2}}, where="arms[1].advantage")
    with pytest.raises(ConfigError, match=r"^advantage: expected a mapping"):
        AdvantagePipeline.from_config("full")


def test_needs_tells_the_trainer_what_to_compute():
    assert AdvantagePipeline.preset("grpo").needs == PipelineNeeds(None, False, False)
    assert AdvantagePipeline.preset("full").needs == PipelineNeeds("entropy", True, False)
    assert AdvantagePipeline.preset("full", sepa={"gate": 0.3}, uncertainty="surprisal").needs == PipelineNeeds(
        "surprisal", True, True)
    assert AdvantagePipeline.from_config({"episode": "maxrl", "hicra": {}}).needs == PipelineNeeds(None, True, False)


def test_require_uncertainty_stops_an_arm_the_backend_cannot_serve():
    full = AdvantagePipeline.preset("full")
    with pytest.raises(ConfigError, match=r"^advantage\.uncertainty: 'entropy' is not available from backend 'tinker'"):
        full.require_uncertainty({"surprisal"}, "tinker")
    full.require_uncertainty({"entropy", "surprisal"}, "mlx")
    AdvantagePipeline.preset("full", uncertainty="surprisal").require_uncertainty({"surprisal"}, "tinker")
    AdvantagePipeline.preset("grpo").require_uncertainty(set(), "tinker")
