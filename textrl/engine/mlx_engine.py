"""The local MLX engine: batched sampling, the policy loss and AdamW on an mlx-lm model.

Implements textrl.engine.base.Engine. forward_backward computes the gradient of one batch of datums
(split into micro-batches whose gradients add up to exactly the full-batch gradient; on the CPU each
micro-batch again into two lanes that run side by side, textrl.engine.cpu_lanes) and holds it until
optim_step applies it; a second forward_backward before optim_step replaces the held gradient, which is
how the trainer abandons a PPO epoch that overshot target_kl.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten
from mlx_lm.tokenizer_utils import NaiveStreamingDetokenizer

from textrl.engine import cpu_kernels, cpu_lanes, sampler
from textrl.engine.base import Completion, Datum, SamplingParams
from textrl.engine.loss_spec import LossSpec, token_weights
from textrl.losses import logprobs_and_entropy, policy_loss

# A micro-batch holds at most this many logits (rows x positions x vocabulary): 64M floats = 256 MB.
MAX_LOGITS_PER_MICROBATCH = 1 << 26
# Held-out evaluation and other large sampling calls run in chunks of this many rows.
MAX_SAMPLE_ROWS = 2048


class MLXEngine:
    uncertainty_kinds = frozenset({"entropy", "surprisal"})

    def __init__(
        self,
        model,
        tokenizer,
        *,
        chat_template: str = "auto",
        lora: dict | None = None,
        seed: int = 0,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        reference=None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.cpu_kernels = cpu_kernels.install(model)
        self.use_chat_template = chat_template == "auto" and bool(getattr(tokenizer, "has_chat_template", False))
        self.lora = dict(lora) if lora else None
        if self.lora:
            apply_lora(model, self.lora, seed)
        self.grad_clip = grad_clip
        self.optimizer = optim.AdamW(learning_rate=0.0, weight_decay=weight_decay)
        self.reference = reference
        if reference is not None:
            reference.freeze()
        self.pad_id = tokenizer.pad_token_id if getattr(tokenizer, "pad_token_id", None) is not None else 0
        self._grads = None
        self.lanes = cpu_lanes.count()
        self._grad_fns: dict[tuple, Any] = {}
        self._update: tuple[Any, Any] = (None, None)  # (optimizer state it was compiled for, fn)

    # ------------------------------------------------------------------ prompts and sampling

    def encode_prompt(self, prompt: str) -> list[int]:
        if self.use_chat_template:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
            )
            return list(ids)
        return list(self.tokenizer.encode(prompt))

    def sample(self, prompts: list[list[int]], n: int, params: SamplingParams, seed: int = 0) -> list[list[Completion]]:
        """n completions per prompt in one batched generation; `seed` fixes every draw."""
        eos_ids = set(self.tokenizer.eos_token_ids)
        per_chunk = max(1, MAX_SAMPLE_ROWS // n)
        key = mx.random.key(seed)
        out: list[list[Completion]] = []
        for start in range(0, len(prompts), per_chunk):
            chunk = prompts[start : start + per_chunk]
            key, sub = mx.random.split(key)
            stop = sampler.StopStrings(self.tokenizer, tuple(params.stop), len(chunk) * n, eos_ids)
            rollout = sampler.generate(
                self.model,
                chunk,
                n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                eos_ids=eos_ids,
                key=sub,
                stop=stop,
                pad_id=self.pad_id,
            )
            for i, prompt in enumerate(chunk):
                group = []
                for row in range(i * n, (i + 1) * n):
                    toks = rollout.tokens[row]
                    text, offsets = self.decode(toks, eos_ids, params.stop)
                    group.append(
                        Completion(
                            prompt_tokens=list(prompt),
                            tokens=toks,
                            logprobs=rollout.logprobs[row],
                            text=text,
                            offsets=offsets,
                            entropies=rollout.entropies[row],
                            truncated=not rollout.finished[row],
                        )
                    )
                out.append(group)
        return out

    def decode(self, tokens: list[int], eos_ids: set[int], stop=()) -> tuple[str, list[tuple[int, int]]]:
        """Completion text (without EOS and without a stop string) and each token's character span."""
        text, spans = self._decode_batched(tokens, eos_ids) or self._decode_streaming(tokens, eos_ids)
        cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=None)
        if cut is not None:
            text = text[:cut]
            spans = [(min(a, cut), min(b, cut)) for a, b in spans]
        return text, spans

    def _decode_streaming(self, tokens: list[int], eos_ids: set[int]) -> tuple[str, list[tuple[int, int]]]:
        detok = self.tokenizer.detokenizer
        spans: list[tuple[int, int]] = []
        pos = 0
        for tok in tokens:
            if tok in eos_ids:
                spans.append((pos, pos))
                continue
            detok.add_token(tok)
            seg = detok.last_segment
            spans.append((pos, pos + len(seg)))
            pos += len(seg)
        detok.finalize()
        tail = detok.last_segment
        if tail:
            # text held back by the streaming detokenizer (e.g. a split UTF-8 character) belongs to the last real token
            last = max((i for i, t in enumerate(tokens) if t not in eos_ids), default=None)
            if last is not None:
                spans[last] = (spans[last][0], spans[last][1] + len(tail))
        return detok.text, spans

    def _decode_batched(self, tokens: list[int], eos_ids: set[int]) -> tuple[str, list[tuple[int, int]]] | None:
        """Exactly _decode_streaming's result where mlx_lm's naive streaming detokenizer is in use, from
        one batched decode of every prefix: that detokenizer re-decodes the whole prefix in Python per
        token, most of the sampling time of a character-level model. None (then stream) for other
        detokenizers and for text with a newline, where the naive one restarts its prefix."""
        detok = self.tokenizer._detokenizer
        hf = self.tokenizer._tokenizer
        rust = getattr(hf, "_tokenizer", None)
        # the Rust tokenizer's decode is the transformers one exactly when no clean-up is configured
        if type(detok) is not NaiveStreamingDetokenizer or not hasattr(rust, "decode_batch") \
                or getattr(hf, "clean_up_tokenization_spaces", True):
            return None
        real = [t for t in tokens if t not in eos_ids]
        prefixes = rust.decode_batch([real[: i + 1] for i in range(len(real))], skip_special_tokens=False)
        full = prefixes[-1] if real else ""
        if any("\n" in t for t in prefixes):
            return None
        spans, pos, offset, k = [], 0, 0, 0  # pos: characters emitted so far; offset: the detokenizer's
        for tok in tokens:
            if tok in eos_ids:
                spans.append((pos, pos))
                continue
            text = prefixes[k]  # what the naive detokenizer's `text` shows after this token
            if text.endswith("\ufffd"):
                text = text.rstrip("\ufffd")
            elif detok._clean_spaces and text and text[-1] == " ":
                text = text[:-1]
            seg = max(0, len(text) - offset)  # its last_segment: text[offset:]
            spans.append((pos, pos + seg))
            pos, offset, k = pos + seg, len(text), k + 1
        tail = max(0, len(full) - offset)
        if tail and real:
            last = max(i for i, t in enumerate(tokens) if t not in eos_ids)
            spans[last] = (spans[last][0], spans[last][1] + tail)
        return full, spans

    # ------------------------------------------------------------------ training

    def _batch(self, datums: list[Datum], spec: LossSpec) -> dict[str, mx.array]:
        seqs = [d.prompt_tokens + d.tokens for d in datums]
        width = max(len(s) for s in seqs)
        lengths = [len(d.tokens) for d in datums]
        weights = token_weights(lengths, spec.aggregation, spec.norm_length)
        tokens, old, adv, w, mask = [], [], [], [], []
        for d, seq, wt in zip(datums, seqs, weights):
            before = len(d.prompt_tokens) - 1
            after = width - len(seq)
            n = len(d.tokens)
            tokens.append(seq + [self.pad_id] * after)
            old.append([0.0] * before + list(d.behaviour_logprobs) + [0.0] * after)
            adv.append([0.0] * before + list(d.advantages) + [0.0] * after)
            w.append([0.0] * before + [wt] * n + [0.0] * after)
            mask.append([0.0] * before + [1.0] * n + [0.0] * after)
        return {
            "tokens": mx.array(tokens),
            "old": mx.array(old, dtype=mx.float32),
            "adv": mx.array(adv, dtype=mx.float32),
            "weights": mx.array(w, dtype=mx.float32),
            "mask": mx.array(mask, dtype=mx.float32),
        }

    def _chunks(self, rows: int, width: int) -> list[slice]:
        vocab = self.model.args.vocab_size if hasattr(self.model, "args") else 1 << 17
        per = max(1, MAX_LOGITS_PER_MICROBATCH // max(1, width * vocab))
        return [slice(i, min(i + per, rows)) for i in range(0, rows, per)]

    def _grad_fn(self, spec: LossSpec, with_ref: bool, lane: int = 0):
        key = (spec, with_ref, lane)
        if key not in self._grad_fns:
            need_entropy = spec.entropy_coef > 0

            def loss_fn(model, tokens, old, adv, weights, mask, ref):
                logp, ent = logprobs_and_entropy(model(tokens[:, :-1]), tokens[:, 1:], spec.temperature, need_entropy)
                return policy_loss(logp, old, adv, weights, mask, spec, entropy=ent, ref_logp=ref)

            value_and_grad = nn.value_and_grad(self.model, loss_fn)

            def step(tokens, old, adv, weights, mask, *ref):
                return value_and_grad(self.model, tokens, old, adv, weights, mask, ref[0] if ref else None)

            # Compiled: one fused graph per micro-batch shape (traced once per shape, then reused). The
            # model's parameters are inputs, not baked-in constants, so updated weights are picked up;
            # gradients are bit-identical to the eager ones, with far fewer op dispatches. One function
            # per lane: each is traced on its lane's stream.
            state = self.model.state
            self._grad_fns[key] = mx.compile(step, inputs=state, outputs=state)
        return self._grad_fns[key]

    def _on_lane(self, lane: int):
        """The stream context of a lane; with one lane, the default stream."""
        return mx.stream(cpu_lanes.streams()[lane]) if self.lanes > 1 else nullcontext()

    def reference_logprobs(self, tokens: mx.array, temperature: float) -> mx.array:
        logp, _ = logprobs_and_entropy(self.reference(tokens[:, :-1]), tokens[:, 1:], temperature, entropy=False)
        return mx.stop_gradient(logp)

    def forward_backward(self, datums: list[Datum], loss: LossSpec) -> dict[str, float]:
        """Loss and gradient of one batch; the gradient is held for optim_step. Returns batch means."""
        batch = self._batch(datums, loss)
        with_ref = self.reference is not None and loss.kl_coef > 0
        total_loss = 0.0
        sums: dict[str, float] = {}
        grads = None
        n_rows, width = batch["tokens"].shape
        with cpu_lanes.blas_threads(self.lanes):
            for part in self._chunks(n_rows, width):
                # each micro-batch's rows in LANES parts, evaluated side by side (textrl.engine.cpu_lanes)
                results = []
                for lane, rows in enumerate(cpu_lanes.split(part.stop - part.start, self.lanes)):
                    rows = slice(part.start + rows.start, part.start + rows.stop)
                    with self._on_lane(lane):
                        mb = {k: v[rows] for k, v in batch.items()}
                        ref = self.reference_logprobs(mb["tokens"], loss.temperature) if with_ref else None
                        args = (mb["tokens"], mb["old"], mb["adv"], mb["weights"], mb["mask"]) + ((ref,) if with_ref else ())
                        results.append(self._grad_fn(loss, with_ref, lane)(*args))
                for _, g in results:
                    grads = g if grads is None else tree_map(mx.add, grads, g)
                mx.eval(results, grads)
                for (value, stats), _ in results:
                    total_loss += value.item()
                    for k, v in stats.items():
                        sums[k] = sums.get(k, 0.0) + v.item()
        self._grads = grads
        n_tok = float(batch["mask"].sum().item()) or 1.0
        out = {"loss": total_loss, "clip_frac": sums["clip_frac"] / n_tok, "approx_kl": sums["approx_kl"] / n_tok}
        out["kl"] = sums["kl"] / n_tok if "kl" in sums else None
        if "entropy" in sums:
            out["train_entropy_mean"] = sums["entropy"] / n_tok
        return out

    def optim_step(self, lr: float) -> dict[str, float]:
        if self._grads is None:
            raise RuntimeError("optim_step without a preceding forward_backward")
        self.optimizer.init(self.model.trainable_parameters())  # no-op once the state exists
        self.optimizer.learning_rate = mx.array(lr, dtype=mx.float32)
        norm = self._update_fn()(self._grads)
        mx.eval(self.model.parameters(), self.optimizer.state, norm)
        self._grads = None
        return {"grad_norm": norm.item(), "lr": lr}

    def _update_fn(self):
        """Compiled gradient clipping + AdamW (hundreds of small ops fused into a few kernels).

        The model's and the optimizer's state are the compiled function's inputs and outputs; it is
        rebuilt when the optimizer's state object is replaced (load_state)."""
        opt_state = self.optimizer.state
        if self._update[0] is not opt_state:
            grad_clip = self.grad_clip

            def update(grads):
                if grad_clip:
                    grads, norm = optim.clip_grad_norm(grads, grad_clip)
                else:
                    norm = mx.sqrt(sum((g.astype(mx.float32) ** 2).sum() for _, g in tree_flatten(grads)))
                self.optimizer.update(self.model, grads)
                return norm

            state = [self.model.state, opt_state]
            self._update = (opt_state, mx.compile(update, inputs=state, outputs=state))
        return self._update[1]

    def token_logprobs(self, datums: list[Datum], temperature: float = 1.0) -> list[list[float]]:
        """Teacher-forced log-probs of each datum's completion tokens under the current policy."""
        batch = self._batch(datums, LossSpec(temperature=temperature))
        logp, _ = logprobs_and_entropy(self.model(batch["tokens"][:, :-1]), batch["tokens"][:, 1:], temperature, False)
        rows = logp.tolist()
        return [row[len(d.prompt_tokens) - 1 : len(d.prompt_tokens) - 1 + len(d.tokens)] for row, d in zip(rows, datums)]

    # ------------------------------------------------------------------ state

    def trainable_parameters(self) -> dict[str, mx.array]:
        return dict(tree_flatten(self.model.trainable_parameters()))

    def save_state(self, path: Path) -> None:
        """Policy weights (all for full fine-tuning, adapters for LoRA) and the optimizer state."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        mx.save_safetensors(str(path / "policy.safetensors"), self.trainable_parameters())
        opt_state = dict(tree_flatten(self.optimizer.state))
        mx.save_safetensors(str(path / "optimizer.safetensors"), opt_state)
        (path / "engine.json").write_text(json.dumps({"lora": self.lora}, indent=2) + "\n")

    def load_state(self, path: Path, optimizer: bool = True) -> None:
        path = Path(path)
        saved = json.loads((path / "engine.json").read_text())
        if saved["lora"] != self.lora:
            raise ValueError(f"{path}: checkpoint has lora={saved['lora']}, this engine lora={self.lora}")
        weights = mx.load(str(path / "policy.safetensors"))
        expected = set(self.trainable_parameters())
        if set(weights) != expected:
            raise ValueError(f"{path}: checkpoint parameters do not match the model ({len(weights)} vs {len(expected)})")
        self.model.update(tree_unflatten(list(weights.items())))
        if optimizer:
            self.optimizer.state = tree_unflatten(list(mx.load(str(path / "optimizer.safetensors")).items()))
        mx.eval(self.model.parameters(), self.optimizer.state)


def apply_lora(model, lora: dict, seed: int) -> None:
    """LoRA adapters via mlx_lm's tuner (rank, scale, last N layers or all); init fixed by the run seed."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    layers = len(model.layers) if lora.get("layers", -1) == -1 else lora["layers"]
    if layers > len(model.layers):
        from textrl.errors import ConfigError

        raise ConfigError(f"run config train.lora.layers: {layers} but the model has {len(model.layers)} layers")
    model.freeze()
    mx.random.seed(seed)  # mlx_lm's LoRA init draws from the global generator
    linear_to_lora_layers(model, layers, {"rank": lora["rank"], "scale": lora["scale"], "dropout": 0.0})
    mx.eval(model.parameters())
