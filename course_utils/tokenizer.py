"""GPT-2's tokenizer, built offline from the byte-pair-encoding ranks shipped in ``assets/``.

``get_tokenizer()`` returns a ``tiktoken.Encoding`` identical to ``tiktoken.get_encoding("gpt2")``
without touching the network: the ranks file is read from ``assets/tokenizer/gpt2.tiktoken`` and
checked against the sha256 that tiktoken itself pins for it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import tiktoken
import torch
from tiktoken_ext.openai_public import r50k_pat_str

from .assets import asset_path, verify_file

ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 50256
VOCAB_SIZE = 50257
# The hash tiktoken pins for r50k_base (GPT-2); the manifest records the same value.
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


def _read_ranks(path: Path) -> dict[bytes, int]:
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def _build(path: Path) -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=_read_ranks(path),
        special_tokens={ENDOFTEXT: ENDOFTEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


def get_tokenizer(ranks_path: str | Path | None = None) -> tiktoken.Encoding:
    """The GPT-2 tokenizer (50257 ids, ``<|endoftext|>`` = 50256), verified and offline.

    ``ranks_path`` is for tests and for people who keep the ranks elsewhere; the file must
    still have GPT-2's sha256, otherwise a ``course_utils.assets.AssetError`` says so.
    """
    if ranks_path is None:
        path = asset_path("tokenizer/gpt2.tiktoken")
    else:
        path = verify_file(ranks_path, GPT2_RANKS_SHA256)
    return _build(Path(path).resolve())


def _encode_one(text: str, tok: tiktoken.Encoding, allow_special: bool) -> list[int]:
    if not isinstance(text, str):
        raise ValueError(f"expected text (str), got {type(text).__name__}")
    if not allow_special and ENDOFTEXT in text:
        raise ValueError(
            f"text contains the special token {ENDOFTEXT!r}; pass allow_special=True to encode it "
            f"as id {ENDOFTEXT_ID}, or remove it from the text"
        )
    allowed = {ENDOFTEXT} if allow_special else set()
    # disallowed_special=() : with allow_special=False the marker was rejected above, so any
    # other special-looking text is ordinary text.
    return tok.encode(text, allowed_special=allowed, disallowed_special=())


def text_to_ids(
    text: str | Sequence[str],
    tokenizer: tiktoken.Encoding | None = None,
    *,
    allow_special: bool = False,
) -> torch.Tensor:
    """Encode text as a tensor of token ids with a batch dimension.

    ``"Hello"`` -> shape ``(1, T)``; ``["a b", "c d"]`` -> shape ``(B, T)`` (all texts must encode
    to the same number of tokens; encode them one at a time otherwise).
    """
    tok = tokenizer or get_tokenizer()
    if isinstance(text, str):
        texts = [text]
    elif isinstance(text, (list, tuple)) and text:
        texts = list(text)
    else:
        raise ValueError(f"expected a str or a non-empty list of str, got {text!r:.80}")
    rows = [_encode_one(t, tok, allow_special) for t in texts]
    lengths = [len(r) for r in rows]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"the texts encode to different numbers of tokens {lengths}; a batch tensor needs equal "
            f"lengths, so encode them one at a time or trim them to {min(lengths)} tokens"
        )
    return torch.tensor(rows, dtype=torch.long)


def ids_to_text(ids, tokenizer: tiktoken.Encoding | None = None) -> str | list[str]:
    """Decode token ids: a 1-D sequence gives a str, a 2-D ``(B, T)`` tensor a list of B strings."""
    tok = tokenizer or get_tokenizer()
    t = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"token ids must be integers, got dtype {t.dtype}; convert with ids.long()")
    if t.dim() not in (1, 2):
        raise ValueError(f"expected ids of shape (T,) or (B, T), got shape {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= tok.n_vocab):
        bad = t[(t < 0) | (t >= tok.n_vocab)][0].item()
        raise ValueError(f"token id {bad} is outside the vocabulary (0 .. {tok.n_vocab - 1})")
    if t.dim() == 1:
        return tok.decode(t.tolist())
    return [tok.decode(row) for row in t.tolist()]
