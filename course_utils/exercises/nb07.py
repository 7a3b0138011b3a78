"""Checkers for notebook 07 · The GPT Model.

Each classic mistake is written as code (a ``Mistake``): when the student's answer equals what the
mistake computes on a case, its hint names it. Nothing reads the student's code.
"""

from __future__ import annotations

import torch

from ..config import GPTConfig
from ..model import parameter_counts
from ._check import Case, Mistake, compare, run_checks
from ._numbers import whole_number

__all__ = ["check_gpt_param_count", "check_top_k_next_tokens"]


# ---------------------------------------------------------------- exercise 1: count the whole model


def _count(cfg, tied=True, *, positions=True, final_norm=True, head_bias=False, qkv_bias=None, block_norms=2,
           final_norm_per_block=False, blocks=None, ff_hidden=4):
    """The model's parameters with knobs for the classic slips (defaults: the right answer)."""
    d, v = cfg.emb_dim, cfg.vocab_size
    qkv_bias = cfg.qkv_bias if qkv_bias is None else qkv_bias
    h = ff_hidden * d
    block = block_norms * 2 * d + 3 * (d * d + (d if qkv_bias else 0)) + d * d + d + d * h + h + h * d + d
    if final_norm_per_block:
        block += 2 * d
    total = v * d + (cfg.context_length * d if positions else 0) + (cfg.n_layers if blocks is None else blocks) * block
    total += 2 * d if final_norm else 0
    if not tied:
        total += v * d + (v if head_bias else 0)
    return total


_COUNT_MISTAKES = [
    Mistake(lambda cfg, tied=True: _count(cfg, False),
            "the output head was counted although tied=True: a tied head shares the token embedding's "
            "vocab_size x emb_dim matrix, so count that matrix once"),
    Mistake(lambda cfg, tied=True: _count(cfg, True),
            "with tied=False the output head is a second vocab_size x emb_dim matrix: add it"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, head_bias=True),
            "the output head was given a bias: GPT-2's head (out_head) is a Linear layer without bias"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, positions=False),
            "the positional embedding (context_length x emb_dim) is missing"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, final_norm=False),
            "the final LayerNorm (after the last block: a weight and a bias of emb_dim) is missing"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, final_norm_per_block=True),
            "the final LayerNorm was counted in every block: there is one, after the last block"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, qkv_bias=True),
            "Q, K and V were given biases although cfg.qkv_bias is False: they have biases only when it is True"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, qkv_bias=False),
            "the Q, K, V biases are missing: with cfg.qkv_bias True each has a bias of emb_dim, in every block"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, block_norms=0),
            "the two LayerNorms inside every block (norm1, norm2) are missing"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, blocks=1),
            "only one block was counted: multiply the block's count by cfg.n_layers"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, ff_hidden=1),
            "the feed-forward network was counted without its 4x expansion (d -> 4*d -> d)"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied) + (cfg.vocab_size - cfg.context_length) * cfg.emb_dim,
            "the positional embedding was counted as vocab_size x emb_dim: it has one row per position, "
            "context_length x emb_dim"),
    Mistake(lambda cfg, tied=True: _count(cfg, tied, positions=False, final_norm=False),
            "the positional embedding (context_length x emb_dim) and the final LayerNorm are missing"),
]


def _count_off_by(got, case) -> str | None:
    """Generic help when no known mistake matches: how far off, in the model's units."""
    if got == case.expected:
        return None
    cfg = case.args[0]
    d, off = cfg.emb_dim, int(got) - case.expected
    text = f"got {int(got):,}, expected {case.expected:,} (off by {off:+,}"
    if off % (cfg.vocab_size * d) == 0:
        text += f" = {off // (cfg.vocab_size * d):+} x vocab_size x emb_dim: look at the embedding and the head"
    elif off % (cfg.n_layers * d) == 0:
        text += f" = {off // (cfg.n_layers * d):+} x n_layers x emb_dim: something in every block"
    elif off % d == 0:
        text += f" = {off // d:+} x emb_dim"
    return text + "); add up token embedding, positions, n_layers blocks, final LayerNorm, head (untied only)"


def check_gpt_param_count(fn):
    """``fn(cfg, tied=True) -> int``: parameters of a whole GPT model, from the config alone."""
    configs = [
        ("GPT-2 small", GPTConfig.from_preset("gpt2-small")),
        ("a tiny model without Q/K/V bias",
         GPTConfig(vocab_size=1000, context_length=64, emb_dim=32, n_heads=4, n_layers=3, qkv_bias=False)),
        ("GPT-2 large", GPTConfig.from_preset("gpt2-large")),
        ("GPT-2 small with a 256-token context", GPTConfig.from_preset("gpt2-small", context_length=256)),
    ]
    cases = []
    for name, cfg in configs:
        counts = parameter_counts(cfg)
        for tied, expected in ((True, counts.tied), (False, counts.untied)):
            cases.append(Case(f"{name}, tied={tied}", (cfg,), {"tied": tied}, expected))
    return run_checks("gpt_param_count", fn, cases, mistakes=_COUNT_MISTAKES,
                      properties=[whole_number, _count_off_by])


# ---------------------------------------------------------------- exercise 2: top-k next tokens


def _top_k(probs, k):
    top = torch.topk(probs, k, dim=-1)
    return top.values, top.indices


def _softmax_of_top_k(logits, k):
    top = torch.topk(logits[:, -1, :], k, dim=-1)
    return torch.softmax(top.values, dim=-1), top.indices


_TOP_K_MISTAKES = [
    Mistake(lambda logits, k: _top_k(torch.softmax(logits[0, -1], -1), k),
            "the batch axis is gone (shape (k,), not (B, k)): keep it; take logits[:, -1, :] (not logits[0]) and "
            "do not squeeze"),
    Mistake(lambda logits, k: tuple(t[None] for t in _top_k(torch.softmax(logits[0, -1], -1), k)),
            "only the first sequence was used (logits[0]): keep the batch axis, logits[:, -1, :] is (B, V)"),
    Mistake(lambda logits, k: tuple(t.expand(logits.shape[0], k) for t in _top_k(torch.softmax(logits[0, -1], -1), k)),
            "every row holds the first sequence's answer: keep the batch axis, logits[:, -1, :] is (B, V)"),
    Mistake(lambda logits, k: _top_k(logits[:, -1, :], k),
            "the values are logits, not probabilities: apply torch.softmax(..., dim=-1) before topk"),
    Mistake(lambda logits, k: _top_k(torch.log_softmax(logits[:, -1, :], -1), k),
            "the values are log-probabilities: use torch.softmax, not log_softmax"),
    Mistake(lambda logits, k: _top_k(torch.softmax(logits[:, 0, :], -1), k),
            "these are the predictions after the FIRST position: the next token comes from the last one, "
            "logits[:, -1, :]"),
    Mistake(lambda logits, k: _top_k(torch.softmax(logits, -1)[:, 0, :], k),
            "these are the predictions after the FIRST position: the next token comes from the last one, "
            "logits[:, -1, :]"),
    Mistake(lambda logits, k: _top_k(torch.softmax(logits, dim=1)[:, -1, :], k),
            "the softmax ran over the positions (dim=1), not over the vocabulary: use dim=-1"),
    Mistake(lambda logits, k: _top_k(torch.softmax(logits, dim=0)[:, -1, :], k),
            "the softmax ran over the batch (dim=0), not over the vocabulary: use dim=-1"),
    Mistake(lambda logits, k: _softmax_of_top_k(logits, k),
            "the softmax ran over the k kept logits only: take it over the whole vocabulary first, then topk"),
    Mistake(lambda logits, k: tuple(reversed(_top_k(torch.softmax(logits[:, -1, :], -1), k))),
            "(ids, probs) came back in the wrong order: return (probs, ids)"),
    Mistake(lambda logits, k: (lambda top: (top.values, top.indices))(
        torch.topk(torch.softmax(logits[:, -1, :], -1), k, dim=-1, largest=False)),
            "these are the k LEAST likely tokens (largest=False): keep topk's default"),
    Mistake(lambda logits, k: (lambda p, i: (p.flip(-1), i.flip(-1)))(*_top_k(torch.softmax(logits[:, -1], -1), k)),
            "the order is smallest first: return the most likely token first (topk's default order)"),
    Mistake(lambda logits, k: _top_k(torch.softmax(logits.mean(dim=1), -1), k),
            "the logits were averaged over the positions: take the last position only, logits[:, -1, :]"),
]


def _compare_pair(got, expected, atol: float = 1e-6) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        what = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
        return f"expected a pair (probs, ids), got {what}"
    for what, g, e, dims in (("probs", got[0], expected[0], ("sequence", "rank")),
                             ("ids", got[1], expected[1], ("sequence", "rank"))):
        if (isinstance(g, torch.Tensor) and isinstance(e, torch.Tensor) and what == "ids" and g.is_floating_point()
                and not e.is_floating_point()):
            return "the ids are floats: return the indices topk gives (torch.long)"
        problem = compare(g, e, atol=atol, dims=dims)
        if problem:
            return f"{what}: {problem}"
    return None


def check_top_k_next_tokens(fn):
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
            cases.append(Case(name, (logits, k), expected=_top_k(torch.softmax(logits[:, -1, :], dim=-1), k)))
    return run_checks("top_k_next_tokens", fn, cases, comparer=_compare_pair, mistakes=_TOP_K_MISTAKES)
