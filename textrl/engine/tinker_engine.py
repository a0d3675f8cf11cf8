"""Remote engine on the Tinker service (`backend: tinker`; `pip install -e .[tinker]`).

The service samples and trains a LoRA adapter; everything else (rewards, advantages, the loop) runs
here exactly as with the local engine. This module only translates between textrl's Engine protocol
(textrl/engine/base.py) and the tinker SDK, so the surface that cannot be tested offline stays small:

- datums are the full sequence shifted by one (input tokens[:-1], targets tokens[1:]); behaviour
  log-probs and advantages sit at the completion's target positions, zeros on the prompt;
- the service's losses are sums over tokens, so the loss config's aggregation is applied by scaling
  the advantages (every supported loss is linear in them, and min() commutes with a positive scale);
- uncertainty is surprisal only: the service returns the sampled token's log-prob, not the
  full-vocabulary entropy;
- the sampling client is a snapshot of the weights, refreshed after each optimizer step;
- TINKER_API_KEY is read by the SDK from the environment; textrl never stores it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from textrl.engine.base import Completion, Datum, SamplingParams
from textrl.engine.loss_spec import LossSpec, token_weights
from textrl.errors import ConfigError
from textrl.io import atomic_write_json

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_FILE = "tinker.json"
DEFAULT_LORA_RANK = 32
# Same AdamW constants as the local engine, so a config means the same algorithm on both backends.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# textrl loss kind -> tinker built-in loss (docs: tinker-docs.thinkingmachines.ai/tinker/losses).
LOSS_FN = {"grpo": "ppo", "ppo": "ppo", "gspo": "gspo", "reinforce": "importance_sampling", "cispo": "cispo"}


class TinkerServiceError(RuntimeError):
    """The service failed after retries. The run resumes from its last checkpoint on the next start."""


def _import_tinker():
    try:
        import tinker
    except ImportError:
        raise ConfigError(
            "backend tinker: the tinker SDK is not installed; install the extra with "
            "`.venv/bin/pip install -e '.[tinker]'`"
        ) from None
    return tinker


def check_tinker_config(run) -> None:
    """Offline checks of a `backend: tinker` RunConfig: everything a user can get wrong before any call."""
    if not os.environ.get("TINKER_API_KEY"):
        raise ConfigError(
            "backend tinker: environment variable TINKER_API_KEY is not set "
            "(export it in the shell that runs textrl; it is never written to any file)"
        )
    if run.model.path == "tiny" or Path(run.model.path).expanduser().exists():
        raise ConfigError(
            f"run config model.path: backend tinker needs a model hosted by the Tinker service "
            f"(a hub id such as Qwen/Qwen3-4B-Instruct-2507), got {run.model.path!r}"
        )
    if run.loss.kl_coef or run.loss.entropy_coef:
        raise ConfigError(
            "run config loss: kl_coef and entropy_coef must be 0 with backend tinker "
            "(the service's built-in losses have no KL or entropy term)"
        )
    if run.sampling.temperature != 1.0:
        raise ConfigError(
            "run config sampling.temperature: must be 1.0 with backend tinker: the service trains "
            f"softmax(logits) while samples at temperature {run.sampling.temperature} would come "
            "from another policy, biasing every importance ratio"
        )


class Backoff:
    """Retries idempotent calls on transient service errors with exponential backoff and jitter."""

    def __init__(self, attempts: int = 5, base_s: float = 2.0, max_s: float = 60.0, sleep=time.sleep):
        self.attempts, self.base_s, self.max_s, self.sleep = attempts, base_s, max_s, sleep

    def __call__(self, what: str, fn: Callable[[], T], transient: tuple[type[BaseException], ...]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except transient as e:
                if attempt == self.attempts:
                    raise TinkerServiceError(
                        f"Tinker {what} failed {attempt} times ({type(e).__name__}: {e}); the run's last "
                        "checkpoint is resumable: run the same command again"
                    ) from e
                delay = min(self.max_s, self.base_s * 2 ** (attempt - 1)) * (1 + 0.25 * random.random())
                log.warning("Tinker %s: %s: %s; retry %d/%d in %.0f s", what, type(e).__name__, e,
                            attempt, self.attempts - 1, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")


def to_tinker_datum(tinker, datum: Datum, scale: float, loss_fn: str):
    """prompt+completion shifted by one; completion-aligned inputs, zeros on the prompt positions."""
    if not datum.prompt_tokens:
        raise ValueError("Datum without prompt tokens: the first completion token would have no context")
    full = list(datum.prompt_tokens) + list(datum.tokens)
    pad = len(datum.prompt_tokens) - 1  # targets full[1:]: the first P-1 targets are prompt tokens
    inputs = {
        "target_tokens": np.asarray(full[1:], dtype=np.int64),
        "logprobs": np.asarray([0.0] * pad + list(datum.behaviour_logprobs), dtype=np.float32),
        "advantages": np.asarray([0.0] * pad + [a * scale for a in datum.advantages], dtype=np.float32),
    }
    if loss_fn == "gspo":  # the tokens whose log-ratios make the sequence ratio
        inputs["sequence_ratio_mask"] = np.asarray([0.0] * pad + [1.0] * len(datum.tokens), dtype=np.float32)
    return tinker.Datum(model_input=tinker.ModelInput.from_ints(full[:-1]), loss_fn_inputs=inputs)


def token_offsets(tokenizer, tokens: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """Decoded text (special tokens dropped) and each token's character span in it."""
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    pieces = [tokenizer.decode([t], skip_special_tokens=True) for t in tokens]
    if "".join(pieces) != text:  # merged or partial-UTF-8 pieces: fall back to prefix decoding
        pieces, end = [], 0
        for i in range(len(tokens)):
            prefix = tokenizer.decode(tokens[: i + 1], skip_special_tokens=True)
            new_end = end if prefix.endswith("\ufffd") else min(len(prefix), len(text))
            pieces.append(text[end:new_end])
            end = max(end, new_end)
    offsets, pos = [], 0
    for piece in pieces:
        offsets.append((pos, pos + len(piece)))
        pos += len(piece)
    return text, offsets


class TinkerEngine:
    uncertainty_kinds = frozenset({"surprisal"})

    def __init__(self, run, *, service_client: Any = None, backoff: Backoff | None = None):
        self.tinker = _import_tinker()
        t = self.tinker
        self.run = run
        self.base_model = run.model.path
        self.lora_rank = run.tinker.lora_rank or (run.train.lora.rank if run.train.lora else DEFAULT_LORA_RANK)
        self.backoff = backoff or Backoff()
        # Only errors a repeat can cure; the rest (bad request, auth, billing) fail at once.
        self.transient = (t.APIConnectionError, t.RateLimitError, t.InternalServerError)
        self.service = service_client if service_client is not None else t.ServiceClient(base_url=run.tinker.base_url)
        self._training = None
        self._sampler = None
        self._tokenizer = None
        self.optim_steps = 0
        self._check_model()

    @classmethod
    def from_run_config(cls, run, *, service_client: Any = None) -> "TinkerEngine":
        """The trainer's factory for `backend: tinker`; `service_client` injects a fake in tests."""
        check_tinker_config(run)
        return cls(run, service_client=service_client)

    # ------------------------------------------------------------------ clients

    def _call(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        t = self.tinker
        try:
            return self.backoff(what, fn, self.transient) if retry else fn()
        except (t.AuthenticationError, t.PermissionDeniedError) as e:
            raise ConfigError(f"backend tinker: the service rejected TINKER_API_KEY ({e})") from None
        except t.BillingError as e:
            raise ConfigError(f"backend tinker: the Tinker account has a billing problem ({e})") from None
        except self.transient as e:  # not retried (non-idempotent call), SDK retries exhausted
            raise TinkerServiceError(
                f"Tinker {what} failed ({type(e).__name__}: {e}); the run's last checkpoint is "
                "resumable: run the same command again"
            ) from e

    def _check_model(self) -> None:
        caps = self._call("get_server_capabilities", self.service.get_server_capabilities)
        trainable = sorted(m.model_name for m in caps.supported_models if m.model_name and m.trainable is not False)
        if self.base_model not in trainable:
            raise ConfigError(
                f"run config model.path: {self.base_model!r} is not a model the Tinker service can train; "
                f"available: {', '.join(trainable) or '(none)'}"
            )

    @property
    def training(self):
        if self._training is None:
            self._training = self._call(
                "create_lora_training_client",
                lambda: self.service.create_lora_training_client(
                    base_model=self.base_model, rank=self.lora_rank, seed=self.run.seed
                ).result(),
            )
        return self._training

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = self.training.get_tokenizer()
        return self._tokenizer

    def _sampling_client(self):
        if self._sampler is None:  # after an optimizer step the old snapshot is stale
            self._sampler = self._call(
                "save_weights_and_get_sampling_client",
                lambda: self.training.save_weights_and_get_sampling_client().result(),
            )
        return self._sampler

    # ------------------------------------------------------------------ Engine protocol

    def encode_prompt(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if self.run.model.chat_template == "auto" and getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True)
            return list(ids["input_ids"] if isinstance(ids, dict) else ids)
        return list(tok.encode(prompt))

    def sample(self, prompts: list[list[int]], n: int, params: SamplingParams, seed: int = 0) -> list[list[Completion]]:
        t = self.tinker
        client = self._sampling_client()
        seeds = np.random.SeedSequence(seed).generate_state(len(prompts))  # one per request
        eos = getattr(self.tokenizer, "eos_token", None)
        # stop=None keeps the model's own end-of-sequence stop; explicit strings replace it, so add EOS back
        stop = [*params.stop, *([eos] if eos else [])] if params.stop else None

        def submit(i: int):
            sp = t.SamplingParams(max_tokens=params.max_tokens, temperature=params.temperature,
                                  top_p=params.top_p, stop=stop, seed=int(seeds[i]))
            return client.sample(prompt=t.ModelInput.from_ints(list(prompts[i])), num_samples=n, sampling_params=sp)

        futures = [submit(i) for i in range(len(prompts))]  # all in flight at once
        out = []
        for i, fut in enumerate(futures):
            in_flight = iter([fut])  # the first attempt waits for the request already sent
            resp = self._call("sample", lambda: (next(in_flight, None) or submit(i)).result())
            out.append([self._completion(prompts[i], seq) for seq in resp.sequences])
        return out

    def _completion(self, prompt: list[int], seq) -> Completion:
        tokens, logprobs = list(seq.tokens), seq.logprobs
        if logprobs is None or len(logprobs) != len(tokens):
            raise TinkerServiceError("Tinker sample returned no per-token log-probs; cannot compute importance ratios")
        text, offsets = token_offsets(self.tokenizer, tokens)
        return Completion(prompt_tokens=list(prompt), tokens=tokens, logprobs=[float(x) for x in logprobs],
                          text=text, offsets=offsets, entropies=None, truncated=seq.stop_reason == "length")

    def forward_backward(self, datums: list[Datum], loss: LossSpec) -> dict[str, float]:
        loss_fn = LOSS_FN[loss.kind]
        datums = [d for d in datums if d.tokens]  # an empty completion has nothing to train
        if not datums:
            return {"loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0, "kl": None, "n_tokens": 0.0}
        scales = token_weights([len(d.tokens) for d in datums], loss.aggregation, loss.norm_length)
        batch = [to_tinker_datum(self.tinker, d, s, loss_fn) for d, s in zip(datums, scales)]
        config = None if loss_fn == "importance_sampling" else {
            "clip_low_threshold": 1.0 - loss.eps_low, "clip_high_threshold": 1.0 + loss.eps_high}
        # Not retried here: a repeat after a lost reply could add the gradient twice; the SDK's own
        # retries carry request ids the service de-duplicates.
        out = self._call("forward_backward",
                         lambda: self.training.forward_backward(batch, loss_fn, config).result(), retry=False)
        return self._fb_metrics(datums, out, loss)

    @staticmethod
    def _fb_metrics(datums: list[Datum], out, loss: LossSpec) -> dict[str, float]:
        """Loss from the service, plus clip fraction and k3 KL from the returned training log-probs."""
        log_ratio = []
        for d, o in zip(datums, out.loss_fn_outputs):
            new = np.asarray(o["logprobs"].tolist(), dtype=np.float64)[-len(d.tokens):]
            log_ratio.append(new - np.asarray(d.behaviour_logprobs, dtype=np.float64))
        lr = np.concatenate(log_ratio)
        ratio = np.exp(lr)
        clipped = (ratio < 1.0 - loss.eps_low) | (ratio > 1.0 + loss.eps_high)
        metrics = {k: float(v) for k, v in (out.metrics or {}).items()}
        return {
            "loss": metrics.pop("loss:sum", float("nan")),
            "clip_frac": float(clipped.mean()),
            "approx_kl": float(np.mean(ratio - 1.0 - lr)),
            "kl": None,  # no reference policy on the service
            "n_tokens": float(lr.size),
            **{f"tinker/{k}": v for k, v in metrics.items()},
        }

    def optim_step(self, lr: float) -> dict[str, float]:
        train = self.run.train
        adam = self.tinker.AdamParams(learning_rate=lr, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], eps=ADAM_EPS,
                                      weight_decay=train.weight_decay, grad_clip_norm=train.grad_clip or 0.0)
        out = self._call("optim_step", lambda: self.training.optim_step(adam).result(), retry=False)
        self._sampler = None
        self.optim_steps += 1
        metrics = {k: float(v) for k, v in (out.metrics or {}).items()}
        # NaN when the service does not report it: an honest gap in metrics.jsonl, not a made-up 0
        norm = next((v for k, v in metrics.items() if "grad_norm" in k), float("nan"))
        return {"grad_norm": norm, "lr": lr, **{f"tinker/{k}": v for k, v in metrics.items()}}

    def save_state(self, path: Path) -> None:
        """Weights + optimizer on the service; the tinker:// path (no secret) goes to path/tinker.json."""
        name = f"{self.run.run_id}-{self.optim_steps:06d}"
        saved = self._call("save_state", lambda: self.training.save_state(name, overwrite=True).result())
        atomic_write_json(Path(path) / STATE_FILE, {
            "state_path": saved.path, "base_model": self.base_model, "lora_rank": self.lora_rank,
            "optim_steps": self.optim_steps,  # keeps checkpoint names unique across resumes
        })

    def load_state(self, path: Path, optimizer: bool = True) -> None:
        """Resume (weights + Adam state) or, with optimizer=False, just the trained policy (evaluation)."""
        file = Path(path) / STATE_FILE
        try:
            state = json.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{file}: no Tinker state in this checkpoint (was it written by backend mlx?)") from None
        if state.get("base_model") != self.base_model:
            raise ConfigError(f"{file}: checkpoint is for model {state.get('base_model')!r}, "
                              f"but the run config says {self.base_model!r}")
        create = (self.service.create_training_client_from_state_with_optimizer if optimizer
                  else self.service.create_training_client_from_state)
        self._training = self._call(create.__name__, lambda: create(state["state_path"]).result())
        self._sampler = None
        self.optim_steps = int(state.get("optim_steps", 0))
