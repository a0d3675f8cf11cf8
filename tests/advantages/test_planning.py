"""Planning mask: exact token marking, word boundaries, no marks outside a match or across completions."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrl.advantages import ARITHMETIC_GRAMS, GENERIC_GRAMS, grams_for, planning_mask


def word_tokens(text):
    """Offsets of a toy tokenizer: each word with its leading whitespace, then an EOS empty span."""
    spans = [m.span() for m in re.finditer(r"\s*\S+|\s+$", text)]
    return spans + [(len(text), len(text))]


def marked(text, grams, offsets=None):
    offsets = word_tokens(text) if offsets is None else offsets
    mask = planning_mask(text, offsets, grams)
    return [text[s:e] for (s, e), m in zip(offsets, mask) if m]


def test_marks_exactly_the_phrase_tokens():
    text = "So 3+4=7. Let me check: 7-4=3, yes."
    assert marked(text, ["let me check"]) == [" Let", " me", " check:"]


def test_case_insensitive_and_any_whitespace_inside_a_phrase():
    assert marked("LET  ME\nCHECK it", ["let me check"]) == ["LET", "  ME", "\nCHECK"]


def test_word_boundaries_reject_partial_words():
    assert marked("outlet me checking", ["let me check"]) == []
    assert marked("awaiting waited wait", ["wait"]) == [" wait"]


def test_subword_tokens_overlapping_the_match_are_marked_neighbours_are_not():
    text = "xwait, ok. Wait, ok"
    offsets = [(0, 3), (3, 6), (6, 7), (7, 10), (10, 12), (12, 14), (14, 15), (15, 18), (18, 19)]
    assert [text[s:e] for s, e in offsets] == ["xwa", "it,", " ", "ok.", " W", "ai", "t", ", o", "k"]
    assert marked(text, ["wait"], offsets) == [" W", "ai", "t"]


def test_overlapping_grams_all_count_and_eos_is_never_marked():
    text = "but wait"
    mask = planning_mask(text, [(0, 3), (3, 8), (8, 8)], ["but wait", "wait"])
    assert mask.tolist() == [1, 1, 0]


def test_phrases_overlapping_each_other_are_all_found():
    text = "let me check that"
    offsets = [(0, 3), (3, 6), (6, 12), (12, 17)]
    assert planning_mask(text, offsets, ["let me check", "check that"]).tolist() == [1, 1, 1, 1]
    assert planning_mask(text, offsets, ["check that"]).tolist() == [0, 0, 1, 1]


def test_empty_gram_is_an_error():
    with pytest.raises(ValueError, match="empty gram"):
        planning_mask("x", [(0, 1)], ["wait", " "])


def test_empty_spans_inside_a_match_are_not_marked():
    assert planning_mask("let me check", [(0, 3), (3, 3), (3, 12)], ["let me check"]).tolist() == [1, 0, 1]


def test_no_grams_or_no_tokens():
    assert planning_mask("let me check", [(0, 12)], []).tolist() == [0]
    assert planning_mask("", [], GENERIC_GRAMS).shape == (0,)


def test_bad_offsets_raise():
    with pytest.raises(ValueError, match="offsets"):
        planning_mask("abc", [(0, 4)], ["abc"])
    with pytest.raises(ValueError, match="offsets"):
        planning_mask("abc", [(2, 1)], ["abc"])


def test_a_phrase_split_across_two_completions_is_not_matched():
    first, second = "3+4=7, let me", "check: 7 is right"
    assert planning_mask(first, word_tokens(first), ["let me check"]).sum() == 0
    assert planning_mask(second, word_tokens(second), ["let me check"]).sum() == 0
    joined = f"{first} {second}"
    assert planning_mask(joined, word_tokens(joined), ["let me check"]).sum() == 3


def test_builtin_gram_lists_and_extension():
    assert grams_for("unknown-task") == tuple(dict.fromkeys(GENERIC_GRAMS))
    arithmetic = grams_for("arithmetic")
    assert set(ARITHMETIC_GRAMS) <= set(arithmetic) and set(GENERIC_GRAMS) <= set(arithmetic)
    assert grams_for("countdown") == arithmetic
    extended = grams_for("arithmetic", extra=["Carry The One", "wait", "  "])
    assert extended[-1] == "carry the one" and extended.count("wait") == 1 and "" not in extended
    assert marked("now carry the one", extended) == [" carry", " the", " one"]


# --- properties: the mask equals a naive reference matcher -------------------------------------------

GRAMS = ["let me check", "let me", "check that", "wait", "note that", "me"]
# Chunks that often join into overlapping or nested matches ("let me check" + "that"), near-misses
# ("waiting", "letme") and punctuation next to a phrase.
CHUNKS = ["let me", "let me check", "check", "that", "wait", "waiting", "note", "letme", "x,", "ME", "Check:"]


def naive_spans(text, grams):
    lowered, spans = text.lower(), []
    for gram in grams:
        start = lowered.find(gram)
        while start != -1:
            end = start + len(gram)
            before = lowered[start - 1] if start else " "
            after = lowered[end] if end < len(lowered) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                spans.append((start, end))
            start = lowered.find(gram, start + 1)
    return spans


@st.composite
def completion(draw):
    words = draw(st.lists(st.sampled_from(CHUNKS), max_size=10))
    text = " ".join(words)
    cuts = sorted(draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=len(text))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)] if text else [0]
    offsets = list(zip(bounds[:-1], bounds[1:])) + [(len(text), len(text))]
    return text, offsets


def overlaps(offsets, spans):
    return [int(any(s < me and e > ms for ms, me in spans)) for s, e in offsets]


@settings(deadline=None, derandomize=True)
@given(completion())
def test_mask_marks_exactly_tokens_overlapping_a_match(case):
    text, offsets = case
    assert planning_mask(text, offsets, GRAMS).tolist() == overlaps(offsets, naive_spans(text, GRAMS))


@settings(deadline=None, derandomize=True)
@given(completion(), completion())
def test_no_match_crosses_from_one_completion_into_the_next(a, b):
    """Of the matches in the two texts joined, each completion's mask reflects only those inside it."""
    (text_a, offsets_a), (text_b, offsets_b) = a, b
    shift = len(text_a) + 1
    spans = naive_spans(f"{text_a} {text_b}", GRAMS)
    inside_a = [(s, e) for s, e in spans if e <= len(text_a)]
    inside_b = [(s - shift, e - shift) for s, e in spans if s >= shift]
    assert planning_mask(text_a, offsets_a, GRAMS).tolist() == overlaps(offsets_a, inside_a)
    assert planning_mask(text_b, offsets_b, GRAMS).tolist() == overlaps(offsets_b, inside_b)
