"""An in-process fake of the tinker SDK's client objects, recording every call and datum.

Method names and parameters mirror the installed SDK (test_fake_matches_sdk checks them with
inspect.signature), and the objects returned are the SDK's own types, so an SDK change breaks the
tests instead of the first paid run.
"""

from __future__ import annotations

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")
from tinker import types  # noqa: E402

MODEL = "Qwen/Qwen3-4B-Instruct-2507"
EOS = 0
BOS = 1


class CharTokenizer:
    """Token id = ord(char); 0 is EOS and 1 BOS (special: dropped by decode)."""

    eos_token = "</s>"
    chat_template = None

    def encode(self, text: str) -> list[int]:
        return [BOS] + [ord(c) for c in text]

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        special = {EOS: "</s>", BOS: "<s>"}
        return "".join("" if (i in special and skip_special_tokens) else special.get(i, chr(i)) for i in ids)


class Future:
    def __init__(self, value=None, error: BaseException | None = None):
        self.value, self.error = value, error

    def result(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.value


class FakeSamplingClient:
    def __init__(self, sdk: "FakeService", version: int):
        self.sdk, self.version = sdk, version

    def sample(self, prompt, num_samples, sampling_params, include_prompt_logprobs=False, topk_prompt_logprobs=0,
               topk_sample_logprobs=0, target_prompt_logprobs=None, prompt_alt_tokens_k=0, prompt_logprobs_last_n=None):
        self.sdk.log.append(("sample", self.version, prompt.to_ints(), num_samples, sampling_params))
        if self.sdk.sample_errors:
            return Future(error=self.sdk.sample_errors.pop(0))
        rng = np.random.default_rng(sampling_params.seed)
        seqs = []
        for j in range(num_samples):
            answer = [ord(c) for c in str(int(rng.integers(0, 20)))] + [EOS]
            tokens = answer[: sampling_params.max_tokens]
            seqs.append(types.SampledSequence(
                stop_reason="stop" if tokens[-1] == EOS else "length", sequence_id=f"s{j}",
                tokens_np=np.asarray(tokens, dtype=np.int32),
                logprobs_np=np.full(len(tokens), -0.25 * (j + 1), dtype=np.float32)))
        return Future(types.SampleResponse(sequences=seqs))


class FakeTrainingClient:
    def __init__(self, sdk: "FakeService", origin: str):
        self.sdk, self.origin = sdk, origin
        self.version = 0

    def get_tokenizer(self):
        self.sdk.log.append(("get_tokenizer",))
        return CharTokenizer()

    def forward_backward(self, data, loss_fn, loss_fn_config=None):
        self.sdk.log.append(("forward_backward", loss_fn, loss_fn_config))
        self.sdk.datums.extend(data)
        error = self.sdk.fb_errors.pop(0) if self.sdk.fb_errors else None  # None: this call succeeds
        if error is not None:
            return Future(error=error)
        # The documented losses, with the learner's log-probs = sampler's + a fixed shift.
        outputs, total = [], 0.0
        for d in data:
            q = d.loss_fn_inputs["logprobs"].to_numpy().astype(np.float64)
            adv = d.loss_fn_inputs["advantages"].to_numpy().astype(np.float64)
            p = q + self.sdk.logprob_shift
            ratio = np.exp(p - q)
            if loss_fn == "importance_sampling":
                total += float(-(ratio * adv).sum())
            else:
                lo, hi = loss_fn_config["clip_low_threshold"], loss_fn_config["clip_high_threshold"]
                total += float(-np.minimum(ratio * adv, np.clip(ratio, lo, hi) * adv).sum())
            outputs.append({"logprobs": types.TensorData.from_numpy(p.astype(np.float32))})
        return Future(types.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", loss_fn_outputs=outputs,
                                                  metrics={"loss:sum": total}))

    def optim_step(self, optim_params=None, *, adam_params=None):
        self.sdk.log.append(("optim_step", optim_params))
        self.version += 1
        return Future(types.OptimStepResponse(metrics={"grad_norm": 0.5}))

    def save_state(self, name, ttl_seconds=None, overwrite=False, user_metadata=None):
        self.sdk.log.append(("save_state", name, overwrite))
        return Future(types.SaveWeightsResponse(path=f"tinker://run-1/weights/{name}"))

    def save_weights_and_get_sampling_client(self, name=None, retry_config=None, record_stability_info=False,
                                             kind="snapshot"):
        self.sdk.log.append(("save_weights_and_get_sampling_client", self.version))
        return Future(FakeSamplingClient(self.sdk, self.version))


class FakeService:
    """Stands in for tinker.ServiceClient; `log` holds every call in order, `datums` every datum sent."""

    def __init__(self, models=(MODEL,)):
        self.models = models
        self.log: list[tuple] = []
        self.datums: list = []
        self.sample_errors: list[BaseException] = []
        self.fb_errors: list[BaseException] = []
        self.capability_errors: list[BaseException] = []
        self.logprob_shift = 0.0

    def get_server_capabilities(self):
        self.log.append(("get_server_capabilities",))
        if self.capability_errors:
            raise self.capability_errors.pop(0)
        return types.GetServerCapabilitiesResponse(
            supported_models=[types.SupportedModel(model_name=m, trainable=True) for m in self.models])

    def create_lora_training_client(self, base_model, rank=32, seed=None, train_mlp=True, train_attn=True,
                                    train_unembed=True, user_metadata=None, optimizer=None):
        self.log.append(("create_lora_training_client", base_model, rank, seed))
        return Future(FakeTrainingClient(self, "new"))

    def create_training_client_from_state_with_optimizer(self, path, base_model=None, user_metadata=None,
                                                         weights_access_token=None):
        self.log.append(("create_training_client_from_state_with_optimizer", path))
        return Future(FakeTrainingClient(self, path))

    def create_training_client_from_state(self, path, base_model=None, user_metadata=None, weights_access_token=None,
                                          optimizer=None):
        self.log.append(("create_training_client_from_state", path))
        return Future(FakeTrainingClient(self, path))
