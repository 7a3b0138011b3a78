"""Tokens to text as they come: what the command line prints while the model writes."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterator

import torch

__all__ = ["stream_text"]


def stream_text(tokens: Iterator[torch.Tensor], tokenizer, out=None, eos_id: int | None = None) -> str:
    """Write the text of a stream of (1,) token tensors to ``out`` as it comes; return all of it.

    A token can end in the middle of a multi-byte UTF-8 character (emoji, accented letters): its
    bytes are held back until the rest of the character arrives, so nothing prints garbled.
    """
    out = out if out is not None else sys.stdout
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = []
    for token in tokens:
        tid = int(token[0])
        if eos_id is not None and tid == eos_id:
            break
        text = decoder.decode(tokenizer.decode_single_token_bytes(tid))
        if text:
            out.write(text)
            out.flush()
            pieces.append(text)
    tail = decoder.decode(b"", final=True)
    if tail:
        out.write(tail)
        pieces.append(tail)
    out.flush()
    return "".join(pieces)
