"""Checkers for notebook 10 · Cross-entropy tidbits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._check import Case, compare, run_checks

__all__ = ["check_cross_entropy", "check_next_token_losses", "check_unigram_entropy"]


def _compare_number(got, expected: float, atol: float = 1e-4) -> str | None:
    """A float, or a tensor holding one number, close to ``expected``."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            return (f"expected one number (the mean over all positions), got a tensor of shape "
                    f"{tuple(got.shape)}")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"expected a number, got {type(got).__name__}"
    if math.isnan(got) or math.isinf(got):
        return f"got {got}: an overflow? exp() of a large logit is inf (hint: log-sum-exp trick)"
    if abs(got - expected) <= atol:
        return None
    if abs(got * math.log(2) - expected) <= atol:
        return "the numbers differ: this looks like log base 2 (bits); use the natural log (nats)"
    return "the numbers differ"


def check_cross_entropy(fn) -> bool:
    """``fn(logits, targets) -> loss``: mean next-token cross-entropy; logits (N, V), targets (N,).

    The result must equal ``F.cross_entropy(logits, targets)``, also for very large logits."""
    cases = []
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])
    targets = torch.tensor([0, 2])
    cases.append(Case("2 positions, vocabulary of 3", (logits, targets)))
    with torch.random.fork_rng(devices=[]):  # leave the student's random state alone
        torch.manual_seed(10)
        cases.append(Case("5 positions, vocabulary of 10", (3 * torch.randn(5, 10), torch.randint(0, 10, (5,)))))
        cases.append(Case("4 positions, GPT-2's vocabulary of 50257",
                          (0.55 * torch.randn(4, 50257), torch.tensor([11, 198, 50256, 0]))))
        cases.append(Case("very large logits (around 1000): exp() overflows unless you subtract the max",
                          (1000 + 5 * torch.randn(3, 6), torch.tensor([1, 4, 0]))))
    cases = [Case(c.description, c.args, expected=F.cross_entropy(*c.args).item()) for c in cases]
    return run_checks("cross_entropy", fn, cases, comparer=_compare_number)


def check_next_token_losses(fn) -> bool:
    """``fn(logits, ids) -> (T-1,) losses``: ``logits`` (T, V) are a model's outputs for the text
    ``ids`` (T,); the logits at position t predict token t+1, so there are T-1 losses."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        for name, t, v in (("4 tokens, vocabulary of 5", 4, 5), ("7 tokens, vocabulary of 12", 7, 12),
                           ("2 tokens, GPT-2's vocabulary", 2, 50257)):
            logits, ids = 2 * torch.randn(t, v), torch.randint(0, v, (t,))
            expected = F.cross_entropy(logits[:-1], ids[1:], reduction="none")
            cases.append(Case(name, (logits, ids), expected=expected))

    def compare_losses(got, expected):
        if isinstance(got, torch.Tensor) and got.dim() == 1 and len(got) == len(expected) + 1:
            return (f"got {len(got)} losses for a text of {len(got)} tokens, expected {len(expected)}: "
                    f"the last position predicts a token that is not in the text, and the first token "
                    f"is never predicted")
        if isinstance(got, torch.Tensor) and got.dim() == 0:
            return "expected one loss per prediction (shape (T-1,)), got a single number: do not average"
        return compare(got, expected)

    return run_checks("next_token_losses", fn, cases, comparer=compare_losses)


def check_unigram_entropy(fn) -> bool:
    """``fn(ids) -> float``: the loss of the best guesser that ignores context on the text ``ids``
    (1-D token ids): the entropy -sum p ln p of the token frequencies p, in nats."""
    def entropy(ids):
        _, counts = torch.unique(ids, return_counts=True)
        p = counts.double() / ids.numel()
        return float(-(p * p.log()).sum())

    texts = [("one token repeated: nothing to guess", torch.tensor([5, 5, 5])),
             ("four different tokens, once each", torch.tensor([1, 2, 3, 4])),
             ("'to be or not to be'", torch.tensor([1462, 307, 393, 407, 284, 307]))]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12)
        skewed = torch.multinomial(torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.05]), 200, replacement=True)
        texts.append(("200 tokens, some much more frequent than others", skewed + 100))
    cases = [Case(name, (ids,), expected=entropy(ids)) for name, ids in texts]

    def compare_entropy(got, expected):
        problem = _compare_number(got, expected)
        return problem if problem != "the numbers differ" else "the numbers differ (is every p = count / total?)"

    return run_checks("unigram_entropy", fn, cases, comparer=compare_entropy)
