"""The engine protocol the training loop talks to (the shape tinker and the field use).

sample -> (trainer scores, computes advantages with textrl.advantages) -> forward_backward -> optim_step.
Nothing here imports mlx: the local MLX engine and the remote Tinker engine both implement it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: tuple[str, ...] = ()


@dataclass
class Completion:
    prompt_tokens: list[int]
    tokens: list[int]
    logprobs: list[float]
    text: str
    offsets: list[tuple[int, int]]
    entropies: list[float] | None = None
    truncated: bool = False

    def surprisal(self) -> list[float]:
        return [-lp for lp in self.logprobs]


@dataclass
class Datum:
    prompt_tokens: list[int]
    tokens: list[int]
    behaviour_logprobs: list[float]
    advantages: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if len(self.behaviour_logprobs) != n or len(self.advantages) != n:
            raise ValueError(
                f"Datum: {n} tokens but {len(self.behaviour_logprobs)} behaviour log-probs and "
                f"{len(self.advantages)} advantages; all three must align one per completion token"
            )


@runtime_checkable
class Engine(Protocol):
    uncertainty_kinds: frozenset[str]
    tokenizer: Any

    def encode_prompt(self, prompt: str) -> list[int]: ...

    def sample(self, prompts: list[list[int]], n: int, params: SamplingParams) -> list[list[Completion]]: ...

    def forward_backward(self, datums: list[Datum], loss: Any) -> dict[str, float]: ...

    def optim_step(self, lr: float) -> dict[str, float]: ...

    def save_state(self, path: Path) -> None: ...

    def load_state(self, path: Path) -> None: ...
