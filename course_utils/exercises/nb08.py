"""Checkers for notebook 08 (generating text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..config import GPTConfig
from ..generate import generate
from ..model import GPTModel
from ._check import Case, compare, run_checks

__all__ = ["check_greedy_decode", "check_top_k_filter"]


def _compare_top_k(got: Any, expected: tuple[torch.Tensor, int]) -> str | None:
    logits, k = expected
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(logits.shape):
        return f"the shape is {tuple(got.shape)}, expected {tuple(logits.shape)} (the same as the logits)"
    kept = torch.isfinite(got)
    counts = kept.sum(dim=-1).tolist()
    for row, n in enumerate(counts):
        if n != k:
            tie = " (ties at the border must not all slip through: keep exactly k)" if n > k else ""
            return f"row {row} keeps {n} logits, expected exactly k = {k}{tie}"
    if not torch.all(got[~kept] == float("-inf")):
        return "the dropped logits should be -inf (so softmax gives them probability 0)"
    if not torch.equal(got[kept], logits[kept]):
        return "the kept logits should be unchanged"
    for row in range(logits.shape[0]):
        if (~kept[row]).any() and logits[row][kept[row]].min() < logits[row][~kept[row]].max():
            return f"row {row} keeps a logit that is smaller than one it drops: keep the k largest"
    return None


def check_top_k_filter(fn: Callable) -> bool:
    """``fn(logits, k)`` (the notebook's ``top_k_exact``): logits (B, V) -> the same shape, the k largest
    of every row kept, the rest -inf (what ``course_utils.generate.top_k_filter`` does)."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2024)
        tied = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0, 2.0], [5.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
        for desc, logits, k in [
            ("one row of 6 logits, k = 2", torch.tensor([[0.1, 2.0, -1.0, 3.0, 0.5, 1.0]]), 2),
            ("a batch of 4 rows, 10 logits each, k = 3", torch.randn(4, 10), 3),
            ("ties at the border in a batch of 2, k = 2", tied, 2),
            ("k = 1 is greedy", torch.randn(3, 8), 1),
            ("k equal to the vocabulary keeps everything", torch.randn(2, 5), 5),
        ]:
            cases.append(Case(desc, args=(logits, k), expected=(logits, k)))

    def safe(logits, k):
        return fn(logits.clone(), k)

    return run_checks("top_k_exact", safe, cases, comparer=_compare_top_k)  # the name the student writes


def check_greedy_decode(fn: Callable) -> bool:
    """``fn(model, ids, max_new_tokens)`` -> (B, T + max_new_tokens): the greedy loop, no cache,
    feeding the model at most its last ``context_length`` tokens."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2024)
        for desc, ctx, shape, n in [
            ("one prompt of 3 tokens, 5 new tokens", 16, (1, 3), 5),
            ("a batch of 2 prompts of 4 tokens, 6 new tokens", 16, (2, 4), 6),
            ("past the context: context_length 8, 5 + 10 tokens", 8, (2, 5), 10),
            ("max_new_tokens = 0 returns the prompt", 8, (1, 4), 0),
        ]:
            cfg = GPTConfig(vocab_size=60, context_length=ctx, emb_dim=16, n_heads=2, n_layers=2, drop_rate=0.0)
            model = GPTModel(cfg).eval()
            with torch.no_grad():
                model.tok_emb.weight.normal_(0.0, 1.0)  # clear winners, so greedy is unambiguous
            ids = torch.randint(0, 60, shape)
            cases.append(Case(desc, args=(model, ids, n), expected=generate(model, ids, n, use_cache=False)))

    def safe(model, ids, n):
        with torch.no_grad():
            return fn(model, ids.clone(), n)

    def compare_ids(got, expected):
        problem = compare(got, expected)
        if problem and isinstance(got, torch.Tensor) and got.shape == expected.shape:
            col = int((got != expected).any(dim=0).nonzero()[0])
            return (
                f"the tokens differ from position {col} on (each step appends the argmax of the LAST "
                f"position's logits, and feeds the model at most its last context_length tokens)"
            )
        return problem

    return run_checks("greedy_decode", safe, cases, comparer=compare_ids)
