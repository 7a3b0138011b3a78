"""Checkers for notebook 07 · The GPT Model."""

from __future__ import annotations

import torch

from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, compare, run_checks

__all__ = ["check_gpt_param_count", "check_top_k_next_tokens"]


def _count_hint(cfg: GPTConfig, tied: bool, diff: int) -> str | None:
    """A likely reason for a wrong count, recognised from how far off it is."""
    d, n, v = cfg.emb_dim, cfg.n_layers, cfg.vocab_size
    hints = {
        -cfg.context_length * d: "the positional embedding (context_length x emb_dim) is missing",
        -2 * d: "the final LayerNorm (weight and bias, emb_dim each) is missing",
        3 * n * d: "the Q, K, V projections have biases only when cfg.qkv_bias is True",
        -3 * n * d: "the Q, K, V projections have biases when cfg.qkv_bias is True",
    }
    if tied:
        hints[v * d] = "with tied=True the output head shares the token embedding's matrix: count it once"
    else:
        hints[-v * d] = "with tied=False the output head is a second vocab_size x emb_dim matrix (no bias)"
    return hints.get(diff)


def check_gpt_param_count(fn) -> bool:
    """``fn(cfg, tied=True) -> int``: parameters of a whole GPT model, from the config alone."""
    configs = [
        ("GPT-2 small", GPTConfig.from_preset("gpt2-small")),
        ("GPT-2 large", GPTConfig.from_preset("gpt2-large")),
        ("GPT-2 small with a 256-token context", GPTConfig.from_preset("gpt2-small", context_length=256)),
        (
            "a tiny model without Q/K/V bias",
            GPTConfig(vocab_size=1000, context_length=64, emb_dim=32, n_heads=4, n_layers=3, qkv_bias=False),
        ),
    ]
    cases, settings = [], {}
    for name, cfg in configs:
        counts = parameter_counts(cfg)
        for tied, expected in ((True, counts.tied), (False, counts.untied)):
            cases.append(Case(f"{name}, tied={tied}", (cfg,), {"tied": tied}, expected))
            settings[expected] = (cfg, tied)

    def compare_count(got, expected):
        if isinstance(got, bool) or not isinstance(got, int):
            return f"expected a whole number (int), got {type(got).__name__}"
        if got == expected:
            return None
        hint = _count_hint(*settings[expected], got - expected)
        return f"off by {got - expected:+,}" + (f" (hint: {hint})" if hint else "")

    return run_checks("gpt_param_count", fn, cases, comparer=compare_count)


def _compare_top_k(got, expected) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair (probs, ids), got {type(got).__name__}"
    for what, g, e in (("probs", got[0], expected[0]), ("ids", got[1], expected[1])):
        problem = compare(g, e, atol=1e-6)
        if problem:
            return f"{what}: {problem}"
    return None


def check_top_k_next_tokens(fn) -> bool:
    """``fn(logits, k) -> (probs, ids)``: the k most likely next tokens after the LAST position of
    every sequence in the batch, probabilities from a softmax over the whole vocabulary, largest
    first; both results have shape (B, k)."""
    shapes = [
        ("1 sequence, 3 tokens, vocabulary 10, k=3", (1, 3, 10), 3),
        ("3 sequences, 4 tokens, vocabulary 50, k=5", (3, 4, 50), 5),
        ("2 sequences, 1 token, vocabulary 50257, k=1", (2, 1, 50257), 1),
    ]
    cases = []
    with torch.random.fork_rng(devices=[]):  # leave the student's random state alone
        torch.manual_seed(7)
        for name, shape, k in shapes:
            logits = 3 * torch.randn(shape)
            top = torch.topk(torch.softmax(logits[:, -1, :], dim=-1), k, dim=-1)
            cases.append(Case(name, (logits, k), expected=(top.values, top.indices)))
    return run_checks("top_k_next_tokens", fn, cases, comparer=_compare_top_k)
