"""Planning mask: which tokens of one completion belong to a strategic phrase ("let me check", ...).

Phrases ("grams") are matched on the decoded completion text, case-insensitively, on word boundaries,
with any run of whitespace standing for a space inside a phrase; a token is marked when its character
span overlaps a match. Matching one completion's text at a time is what keeps a phrase from being
assembled out of the end of one completion and the start of the next.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import numpy as np

GENERIC_GRAMS: tuple[str, ...] = (
    "let me check", "let me verify", "let me double-check", "let me re-check", "let me reconsider",
    "let me think", "let me try", "let me see", "let's check", "let's verify", "let's try", "let's think",
    "double-check", "wait", "but wait", "hmm", "actually", "on second thought", "alternatively",
    "try another approach", "another approach", "a different approach", "notice that", "note that",
    "the key is", "the key insight", "step by step", "first,", "to verify", "to check",
    "that doesn't work", "that's not right", "i made a mistake", "go back", "instead",
)

# Arithmetic and countdown: search over operations and sanity checks on partial results.
ARITHMETIC_GRAMS: tuple[str, ...] = (
    "too big", "too large", "too small", "too high", "too low", "closer", "not enough", "doesn't work",
    "does not work", "not equal", "carry", "borrow", "check:", "that gives", "we need", "remaining",
    "what if", "combine",
)

TASK_GRAMS: dict[str, tuple[str, ...]] = {
    "arithmetic": ARITHMETIC_GRAMS,
    "countdown": ARITHMETIC_GRAMS,
}


def grams_for(task_name: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Generic grams + the task's built-in list (if any) + `extra`, de-duplicated, order kept."""
    grams = (*GENERIC_GRAMS, *TASK_GRAMS.get(task_name, ()), *extra)
    return tuple(dict.fromkeys(g.strip().lower() for g in grams if g.strip()))


@functools.lru_cache(maxsize=64)
def compile_grams(grams: tuple[str, ...]) -> re.Pattern:
    """One scan for all grams. The match sits inside a lookahead, so it consumes nothing and a match
    is tried at every position: overlapping phrases ("let me check" / "check that") are all found.
    Longer grams come first, so at a given start the widest phrase is the one reported."""
    if any(not g.split() for g in grams):
        raise ValueError(f"planning_mask: empty gram in {grams!r}")
    phrases = sorted({" ".join(g.split()) for g in grams}, key=len, reverse=True)
    bodies = [r"\s+".join(re.escape(w) for w in p.split(" ")) for p in phrases]
    if not bodies:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile(rf"(?=(?<!\w)({'|'.join(bodies)})(?!\w))", re.IGNORECASE)


def match_spans(text: str, grams: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans [start, end) of every gram occurrence in `text`."""
    return [m.span(1) for m in compile_grams(tuple(grams)).finditer(text)]


def planning_mask(text: str, token_offsets: Sequence[Sequence[int]], grams: Sequence[str]) -> np.ndarray:
    """1 for exactly the tokens whose [start, end) character span overlaps a gram match, else 0.

    `token_offsets` are the tokenizer's spans of each completion token in `text`; an empty span (the
    EOS token) never overlaps anything.
    """
    offsets = np.asarray(token_offsets, dtype=np.int64).reshape(-1, 2)
    if offsets.size and (
        (offsets[:, 0] < 0).any() or (offsets[:, 0] > offsets[:, 1]).any() or (offsets[:, 1] > len(text)).any()
    ):
        raise ValueError(f"planning_mask: token offsets must satisfy 0 <= start <= end <= len(text) = {len(text)}")
    # covered[i] = number of matched characters before position i; a token overlaps a match iff its
    # span holds at least one matched character (so empty spans never do).
    edges = np.zeros(len(text) + 1, dtype=np.int64)
    for start, end in match_spans(text, grams):
        edges[start] += 1
        edges[end] -= 1
    covered = np.concatenate(([0], np.cumsum(np.cumsum(edges)[:-1] > 0)))
    return (covered[offsets[:, 1]] > covered[offsets[:, 0]]).astype(np.int8)
