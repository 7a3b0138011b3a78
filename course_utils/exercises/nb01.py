"""Checkers for notebook 01 (input encoding): a batch of token ids, and embedding lookup as a matmul."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..tokenizer import get_tokenizer
from ._check import Case, compare, run_checks

__all__ = ["check_encode_batch", "check_one_hot_embed"]

_BATCHES = [
    ("two prompts of different lengths",
     ["Every effort moves you", "I HAD always thought Jack Gisburn rather a cheap genius"]),
    ("three texts, the shortest in the middle",
     ["To be, or not to be: that is the question", "Hello, world!", "The quick brown fox jumps"]),
    ("texts that already have equal lengths", ["one two three", "four five six"]),
    ("a single text", ["Tokenizers split rare words like Zorblaxian into pieces"]),
    ("numbers, leading spaces and an emoji",
     ["  12345 apples 🍎 and 678 pears", " Hello there", "It costs $3.99 today"]),
]


def _reference_encode_batch(texts: list[str]) -> torch.Tensor:
    tok = get_tokenizer()
    rows = [tok.encode(t) for t in texts]
    n = min(len(r) for r in rows)
    return torch.tensor([r[:n] for r in rows], dtype=torch.long)


def check_encode_batch(fn: Callable[[list[str]], torch.Tensor]):
    """``fn(texts)`` must encode every text and cut all of them to the shortest token count,
    keeping each text's first tokens: a LongTensor of shape (len(texts), shortest)."""
    tok = get_tokenizer()
    cases = [Case(name, args=(list(texts),), expected=_reference_encode_batch(texts)) for name, texts in _BATCHES]
    texts_of = {id(c.expected): c.args[0] for c in cases}

    def compare_batch(got: Any, expected: torch.Tensor) -> str | None:
        problem = compare(got, expected)
        if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            if problem and isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[1] > expected.shape[1]:
                problem += " (cut every row to the token count of the shortest text)"
            return problem
        rows = [tok.encode(t) for t in texts_of[id(expected)]]
        n = expected.shape[1]
        tails = torch.tensor([r[len(r) - n:] for r in rows], dtype=torch.long)
        if torch.equal(got.long(), tails):
            problem += " (you kept the last tokens of each text; keep the first ones)"
        return problem

    return run_checks("encode_batch", fn, cases, comparer=compare_batch)


def _embedding_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2024)
    specs = [
        ("3 ids, vocab 4, width 3 (the largest id is not in the input)", torch.tensor([0, 2, 1]), 4, 3),
        ("a batch of 2 x 3 ids with repeats, vocab 6, width 4", torch.tensor([[5, 5, 0], [3, 1, 3]]), 6, 4),
        ("a single id, vocab 10, width 2", torch.tensor([7]), 10, 2),
        ("a batch of 2 x 5 ids, vocab 50, width 8", torch.randint(0, 50, (2, 5), generator=g), 50, 8),
    ]
    cases = []
    for name, ids, vocab, dim in specs:
        weight = torch.randn(vocab, dim, generator=g)
        cases.append(Case(name, args=(ids, weight), expected=weight[ids]))
    return cases


def check_one_hot_embed(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
    """``fn(ids, weight)`` must return one_hot(ids) @ weight: shape ids.shape + (weight.shape[1],)."""
    return run_checks("one_hot_embed", fn, _embedding_cases())
