"""TinkerEngine against the in-process fake SDK (conftest.py): datums, call order, errors, resume."""

from __future__ import annotations

import inspect
import json

import httpx
import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from fake_tinker import MODEL, CharTokenizer, FakeSamplingClient, FakeService, FakeTrainingClient  # noqa: E402
from textrl.config import load_run_config  # noqa: E402
from textrl.engine.base import Datum, Engine, SamplingParams  # noqa: E402
from textrl.engine.loss_spec import LossSpec  # noqa: E402
from textrl.engine.tinker_engine import Backoff, TinkerEngine, TinkerServiceError, token_offsets  # noqa: E402
from textrl.errors import ConfigError  # noqa: E402


def run_config(**over):
    cfg = {"run_id": "full-g2-s3", "seed": 3, "backend": "tinker", "model": {"path": MODEL},
           "sampling": {"max_tokens": 4}, "train": {"group_size": 2, "weight_decay": 0.01, "grad_clip": 1.0}}
    for key, value in over.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return load_run_config(cfg, check=False)


def engine_for(service, **over):
    eng = TinkerEngine.from_run_config(run_config(**over), service_client=service)
    eng.backoff = Backoff(attempts=3, base_s=1.0, sleep=lambda s: None)
    return eng


def server_error(code=500):
    return tinker.InternalServerError("overloaded", response=httpx.Response(code, request=httpx.Request("POST", "https://t")), body=None)


# --------------------------------------------------------------------------- the fake is the SDK's shape


@pytest.mark.parametrize("fake_cls, real_cls", [
    (FakeService, tinker.ServiceClient),
    (FakeTrainingClient, tinker.TrainingClient),
    (FakeSamplingClient, tinker.SamplingClient),
])
def test_fake_matches_sdk(fake_cls, real_cls):
    """Every public method of the fake has the installed SDK's parameter names, kinds and defaults."""
    methods = [n for n, f in vars(fake_cls).items() if callable(f) and not n.startswith("_")]
    assert methods
    for name in methods:
        fake, real = inspect.signature(getattr(fake_cls, name)), inspect.signature(getattr(real_cls, name))
        shape = lambda sig: [(p.name, p.kind, p.default) for p in sig.parameters.values()]  # noqa: E731
        assert shape(fake) == shape(real), f"{fake_cls.__name__}.{name} drifted from tinker {tinker.__version__}"


def test_engine_satisfies_protocol(api_key, fake_service):
    eng = engine_for(fake_service)
    assert isinstance(eng, Engine)
    assert eng.uncertainty_kinds == frozenset({"surprisal"})


# --------------------------------------------------------------------------- hand-checked datums


def test_datums_shift_mask_and_scale_advantages(api_key, fake_service):
    eng = engine_for(fake_service)
    # "2+2" -> BOS,'2','+','2'; completion "4"+EOS and "22"+EOS
    d1 = Datum(prompt_tokens=[1, 50, 43, 50], tokens=[52, 0], behaviour_logprobs=[-0.1, -0.2], advantages=[1.5, 1.5])
    d2 = Datum(prompt_tokens=[1, 50, 43, 50], tokens=[50, 50, 0], behaviour_logprobs=[-1.0, -2.0, -3.0],
               advantages=[-0.5, -0.5, -0.5])
    metrics = eng.forward_backward([d1, d2], LossSpec.from_run_config(eng.run))

    sent = fake_service.datums
    assert len(sent) == 2
    a = sent[0]
    assert a.model_input.to_ints() == [1, 50, 43, 50, 52]           # tokens[:-1]
    assert a.loss_fn_inputs["target_tokens"].tolist() == [50, 43, 50, 52, 0]  # tokens[1:]
    assert a.loss_fn_inputs["logprobs"].tolist() == pytest.approx([0, 0, 0, -0.1, -0.2])
    # token-mean over 5 completion tokens: each advantage x 1/5; prompt targets carry zero weight
    assert a.loss_fn_inputs["advantages"].tolist() == pytest.approx([0, 0, 0, 0.3, 0.3])
    b = sent[1]
    assert b.model_input.to_ints() == [1, 50, 43, 50, 50, 50]
    assert b.loss_fn_inputs["target_tokens"].tolist() == [50, 43, 50, 50, 50, 0]
    assert b.loss_fn_inputs["advantages"].tolist() == pytest.approx([0, 0, 0, -0.1, -0.1, -0.1])
    assert set(a.loss_fn_inputs) == {"target_tokens", "logprobs", "advantages"}

    # grpo = the service's token-level clipped loss with the config's clip range
    assert fake_service.log[-1] == ("forward_backward", "ppo", {"clip_low_threshold": 0.8, "clip_high_threshold": 1.28})
    # ratio 1 at the start: loss = -token-mean advantage = -(2*1.5 - 3*0.5)/5
    assert metrics["loss"] == pytest.approx(-(3.0 - 1.5) / 5)
    assert metrics["clip_frac"] == 0.0 and metrics["approx_kl"] == pytest.approx(0.0)
    assert metrics["n_tokens"] == 5


@pytest.mark.parametrize("aggregation, expected", [
    # per-sequence means 1.5 and -0.5, averaged over 2 sequences
    ("seq-mean-token-mean", -(1.5 - 0.5) / 2),
    # token sums 3.0 and -1.5 over 2 sequences x max_tokens 4
    ("seq-mean-token-sum-norm", -(3.0 - 1.5) / (2 * 4)),
])
def test_aggregation_becomes_advantage_scale(api_key, fake_service, aggregation, expected):
    eng = engine_for(fake_service, loss={"aggregation": aggregation, "kind": "reinforce"})
    d1 = Datum([1, 50], [52, 0], [-0.1, -0.2], [1.5, 1.5])
    d2 = Datum([1, 50], [50, 50, 0], [-1.0, -2.0, -3.0], [-0.5] * 3)
    metrics = eng.forward_backward([d1, d2], LossSpec.from_run_config(eng.run))
    assert fake_service.log[-1] == ("forward_backward", "importance_sampling", None)
    assert metrics["loss"] == pytest.approx(expected)


def test_clip_fraction_and_kl_come_from_training_logprobs(api_key, fake_service):
    eng = engine_for(fake_service, loss={"kind": "ppo"})
    fake_service.logprob_shift = 0.5  # ratio e^0.5 = 1.65 > 1.28 on every completion token
    d = Datum([1, 50], [52, 53, 0], [-0.1, -0.2, -0.3], [1.0, 1.0, 1.0])
    m = eng.forward_backward([d], LossSpec.from_run_config(eng.run))
    assert m["clip_frac"] == 1.0
    assert m["approx_kl"] == pytest.approx(np.exp(0.5) - 1 - 0.5)
    assert m["loss"] == pytest.approx(-1.28)  # clipped ratio x token-mean advantage 1


def test_gspo_marks_the_sequence_ratio_tokens(api_key, fake_service):
    eng = engine_for(fake_service, loss={"kind": "gspo"})
    eng.forward_backward([Datum([1, 50, 51], [52, 0], [-0.1, -0.2], [1.0, 1.0])], LossSpec.from_run_config(eng.run))
    assert fake_service.datums[0].loss_fn_inputs["sequence_ratio_mask"].tolist() == [0, 0, 1, 1]
    assert fake_service.log[-1][1] == "gspo"


def test_cispo_maps_to_the_services_cispo_loss_with_the_clip_range(api_key, fake_service):
    eng = engine_for(fake_service, loss={"kind": "cispo", "eps_low": 0.99, "eps_high": 4.0})
    eng.forward_backward([Datum([1, 50, 51], [52, 0], [-0.1, -0.2], [1.0, 1.0])], LossSpec.from_run_config(eng.run))
    assert fake_service.log[-1][1:] == ("cispo", {"clip_low_threshold": pytest.approx(0.01), "clip_high_threshold": 5.0})


# --------------------------------------------------------------------------- the RL step's call order


def test_call_order_and_sampler_refresh(api_key, fake_service, tmp_path):
    eng = engine_for(fake_service)
    prompt = eng.encode_prompt("2+2")
    assert prompt == [1, 50, 43, 50]
    params = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=4, stop=())
    groups = eng.sample([prompt, prompt], 2, params)
    assert [len(g) for g in groups] == [2, 2]
    c = groups[0][1]
    assert c.prompt_tokens == prompt and c.tokens[-1] == 0 and not c.truncated
    assert c.logprobs == [-0.5] * len(c.tokens) and c.entropies is None
    assert c.text == "".join(chr(t) for t in c.tokens[:-1])
    assert c.offsets[-1] == (len(c.text), len(c.text))  # EOS: empty span at the end

    datums = [Datum(x.prompt_tokens, x.tokens, x.logprobs, [1.0] * len(x.tokens)) for g in groups for x in g]
    eng.forward_backward(datums, LossSpec.from_run_config(eng.run))
    assert eng.optim_step(2e-5) == {"grad_norm": 0.5, "lr": 2e-5, "tinker/grad_norm": 0.5}
    eng.sample([prompt], 2, params)
    eng.save_state(tmp_path)

    calls = [entry[0] for entry in fake_service.log]
    assert calls == [
        "get_server_capabilities", "create_lora_training_client", "get_tokenizer",
        "save_weights_and_get_sampling_client", "sample", "sample",
        "forward_backward", "optim_step",
        "save_weights_and_get_sampling_client", "sample",
        "save_state",
    ]
    assert fake_service.log[1] == ("create_lora_training_client", MODEL, 32, 3)  # rank default, run seed
    # the second round samples from the snapshot taken after the update
    assert [e[1] for e in fake_service.log if e[0] == "sample"] == [0, 0, 1]
    adam = next(e[1] for e in fake_service.log if e[0] == "optim_step")
    assert (adam.learning_rate, adam.beta1, adam.beta2, adam.eps, adam.weight_decay, adam.grad_clip_norm) == (
        2e-5, 0.9, 0.999, 1e-8, 0.01, 1.0)


def test_sampling_params_and_seeds(api_key, fake_service):
    eng = engine_for(fake_service)
    eng.sample([[1, 50], [1, 51]], 3, SamplingParams(temperature=0.7, top_p=0.9, max_tokens=2, stop=("\n",)), seed=11)
    eng.sample([[1, 50]], 3, SamplingParams(max_tokens=2), seed=12)
    first, second, third = [e for e in fake_service.log if e[0] == "sample"]
    sp = first[4]
    assert (sp.temperature, sp.top_p, sp.max_tokens, list(sp.stop)) == (0.7, 0.9, 2, ["\n", "</s>"])
    assert third[4].stop is None  # the model's own EOS stop
    assert len({first[4].seed, second[4].seed, third[4].seed}) == 3  # one stream per prompt and per call
    again = FakeService()
    engine_for(again).sample([[1, 50], [1, 51]], 3, SamplingParams(max_tokens=2), seed=11)
    assert [e[4].seed for e in again.log if e[0] == "sample"] == [first[4].seed, second[4].seed]


def test_truncation_flag(api_key, fake_service):
    eng = engine_for(fake_service)
    out = eng.sample([[1, 50]], 4, SamplingParams(max_tokens=1))
    assert all(c.truncated == (c.tokens[-1] != 0) for c in out[0])
    assert any(c.truncated for c in out[0])


def test_token_offsets_fall_back_when_pieces_do_not_concatenate():
    class Merging(CharTokenizer):  # decodes a lone token 65 as "?" but "A" in context, like a partial byte
        def decode(self, ids, skip_special_tokens=False):
            ids = list(ids)
            return "\ufffd" if ids == [65] else super().decode(ids, skip_special_tokens)

    text, offsets = token_offsets(Merging(), [66, 65, 67, 0])
    assert text == "BAC"
    assert offsets == [(0, 1), (1, 2), (2, 3), (3, 3)]


# --------------------------------------------------------------------------- errors and resume


def test_missing_key_is_a_config_error(monkeypatch, fake_service):
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="TINKER_API_KEY is not set"):
        TinkerEngine.from_run_config(run_config(), service_client=fake_service)
    assert fake_service.log == []  # nothing was sent


@pytest.mark.parametrize("over, match", [
    ({"model": {"path": "tiny"}}, "model.path"),
    ({"loss": {"kl_coef": 0.1}}, "kl_coef"),
    ({"sampling": {"temperature": 0.7}}, "temperature"),
])
def test_offline_config_errors(api_key, fake_service, over, match):
    with pytest.raises(ConfigError, match=match):
        TinkerEngine.from_run_config(run_config(**over), service_client=fake_service)
    assert fake_service.log == []


def test_unknown_model_lists_the_available_ones(api_key):
    service = FakeService(models=("meta-llama/Llama-3.2-1B", MODEL))
    with pytest.raises(ConfigError, match=r"'org/none' is not a model.*available: Qwen/Qwen3-4B-Instruct-2507, meta-llama/Llama-3.2-1B"):
        TinkerEngine.from_run_config(run_config(model={"path": "org/none"}), service_client=service)
    assert [e[0] for e in service.log] == ["get_server_capabilities"]


def test_rejected_key_is_a_config_error(api_key, fake_service):
    fake_service.capability_errors = [tinker.AuthenticationError(
        "invalid key", response=httpx.Response(401, request=httpx.Request("GET", "https://t")), body=None)]
    with pytest.raises(ConfigError, match="rejected TINKER_API_KEY"):
        TinkerEngine.from_run_config(run_config(), service_client=fake_service)


def test_transient_errors_are_retried_with_growing_backoff(api_key, fake_service):
    eng = engine_for(fake_service)
    slept = []
    eng.backoff = Backoff(attempts=4, base_s=1.0, sleep=slept.append)
    fake_service.sample_errors = [server_error(), tinker.APIConnectionError(request=httpx.Request("POST", "https://t"))]
    out = eng.sample([[1, 50]], 2, SamplingParams(max_tokens=3))
    assert len(out[0]) == 2
    assert len(slept) == 2 and 1.0 <= slept[0] <= 1.25 and 2.0 <= slept[1] <= 2.5
    assert sum(e[0] == "sample" for e in fake_service.log) == 3


def test_persistent_errors_end_in_a_resumable_failure(api_key, fake_service):
    eng = engine_for(fake_service)
    fake_service.sample_errors = [server_error(503)] * 3
    with pytest.raises(TinkerServiceError, match="failed 3 times.*resumable"):
        eng.sample([[1, 50]], 2, SamplingParams(max_tokens=3))


def test_forward_backward_is_not_repeated(api_key, fake_service):
    """A repeat after a lost reply could add the gradient twice: fail, resume from the checkpoint."""
    eng = engine_for(fake_service)
    fake_service.fb_errors = [server_error()]
    with pytest.raises(TinkerServiceError, match="resumable"):
        eng.forward_backward([Datum([1, 50], [52, 0], [-0.1, -0.2], [1.0, 1.0])], LossSpec.from_run_config(eng.run))
    assert sum(e[0] == "forward_backward" for e in fake_service.log) == 1


def test_save_and_resume_with_optimizer_state(api_key, fake_service, tmp_path):
    eng = engine_for(fake_service)
    eng.sample([[1, 50]], 2, SamplingParams(max_tokens=3))
    eng.save_state(tmp_path)
    state_text = (tmp_path / "tinker.json").read_text()
    assert api_key not in state_text
    state = json.loads(state_text)
    assert state["state_path"].startswith("tinker://") and state["base_model"] == MODEL

    resumed_service = FakeService()
    resumed = engine_for(resumed_service)
    resumed.load_state(tmp_path)
    resumed.sample([[1, 50]], 2, SamplingParams(max_tokens=3))
    assert [e[0] for e in resumed_service.log] == [
        "get_server_capabilities", "create_training_client_from_state_with_optimizer",
        "save_weights_and_get_sampling_client", "get_tokenizer", "sample"]
    assert resumed_service.log[1][1] == state["state_path"]


def test_evaluation_loads_weights_without_optimizer(api_key, fake_service, tmp_path):
    engine_for(fake_service).save_state(tmp_path)
    service = FakeService()
    engine_for(service).load_state(tmp_path, optimizer=False)
    assert service.log[-1] == ("create_training_client_from_state", "tinker://run-1/weights/full-g2-s3-000000")


def test_resume_refuses_a_checkpoint_of_another_model(api_key, fake_service, tmp_path):
    (tmp_path / "tinker.json").write_text(json.dumps({"state_path": "tinker://x", "base_model": "other/model",
                                                     "lora_rank": 32}))
    with pytest.raises(ConfigError, match="other/model"):
        engine_for(fake_service).load_state(tmp_path)
    with pytest.raises(ConfigError, match="no Tinker state"):
        engine_for(fake_service).load_state(tmp_path / "missing")


# --------------------------------------------------------------------------- the trainer's loop on the fake service


def test_trainer_survives_a_service_failure_by_resuming(api_key, monkeypatch, tmp_path):
    """textrl.trainer drives the engine as in production; a hard failure at step 2 resumes from step 1."""
    from textrl.trainer import train

    cfg = load_run_config(dict(
        run_id="t", seed=1, backend="tinker", model={"path": MODEL}, task={"name": "arithmetic", "heldout_size": 8},
        sampling={"max_tokens": 3}, train={"steps": 2, "prompts_per_step": 2, "group_size": 3, "checkpoint_every": 1}))
    services = []

    def service_client(fail_fb: list, **kwargs):  # the engine builds tinker.ServiceClient(base_url=...)
        services.append(FakeService())
        services[-1].fb_errors = fail_fb
        return services[-1]

    # the first service answers step 1's forward_backward and fails step 2's for good
    monkeypatch.setattr(tinker, "ServiceClient", lambda **kw: service_client([None, server_error(503)], **kw))
    with pytest.raises(TinkerServiceError, match="resumable"):
        train(cfg, tmp_path, log=lambda *a: None, progress=False)
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]
    assert api_key not in (tmp_path / "config.json").read_text()
    sent = services[0].datums
    assert len(sent) == 2 * (2 * 3)  # step 1, and step 2's batch that failed
    # GRPO: a group's advantages sum to zero
    assert sum(float(d.loss_fn_inputs["advantages"].to_numpy().sum()) for d in sent[:3]) == pytest.approx(0, abs=1e-6)

    monkeypatch.setattr(tinker, "ServiceClient", lambda **kw: service_client([], **kw))
    rows = train(cfg, tmp_path, log=lambda *a: None, progress=False)
    assert [r["step"] for r in rows] == [2]
    assert services[1].log[1] == ("create_training_client_from_state_with_optimizer", "tinker://run-1/weights/t-000001")
    # step 2 is sampled again with the same seeds as the failed attempt
    seeds = lambda svc: [e[4].seed for e in svc.log if e[0] == "sample"]  # noqa: E731
    assert seeds(services[1]) == seeds(services[0])[2:]

    # held-out evaluation loads the trained weights (no optimizer state) and samples from them
    from textrl.evaluate import evaluate_run

    result = evaluate_run(tmp_path, log=lambda *a: None)
    assert result["size"] == 8 and 0.0 <= result["avg_at_k"] <= 1.0
    loads = [e for svc in services[2:] for e in svc.log if e[0].startswith("create_training_client_from_state")]
    assert loads == [("create_training_client_from_state", "tinker://run-1/weights/t-000002")]
