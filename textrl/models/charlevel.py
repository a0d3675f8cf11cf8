"""A character-level tokenizer built offline from a task's alphabet, saved in Hugging Face format.

mlx_lm.load reads it like any other tokenizer. `<unk>` is required: mlx_lm's streaming detokenizer
probes encode("a ,b") on load, which a WordLevel model without an unknown token cannot encode.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ("<pad>", "<eos>", "<unk>")
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


def vocabulary(alphabet: str) -> dict[str, int]:
    chars = sorted(set(alphabet) - set(SPECIALS))
    return {tok: i for i, tok in enumerate([*SPECIALS, *chars])}


def build_char_tokenizer(alphabet: str, out: Path):
    """Write tokenizer.json + tokenizer_config.json to `out`; return the transformers tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = vocabulary(alphabet)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # [\s\S]: every character, newlines included, becomes its own token
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>", bos_token=None
    )
    fast.save_pretrained(str(out))
    sample = "".join(sorted(set(alphabet)))
    ids = fast.encode(sample, add_special_tokens=False)
    if ids != [vocab[c] for c in sample] or fast.decode(ids) != sample:
        raise RuntimeError(f"character tokenizer does not round-trip its alphabet {sample!r}")
    return fast
