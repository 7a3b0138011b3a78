"""The notebook 10 checkers accept the worked solutions, and reject the stub and plausible mistakes."""

import math

import torch

from course_utils.exercises import check_cross_entropy, check_next_token_losses, check_unigram_entropy
from course_utils.losses import unigram_entropy as reference_unigram_entropy


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- cross_entropy ----------------------------------------------------------------------------------


def cross_entropy(logits, targets):
    shifted = logits - logits.max(dim=-1, keepdim=True).values  # largest logit becomes 0: no overflow
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()  # log softmax
    return -log_probs[torch.arange(len(targets)), targets].mean()


def cross_entropy_naive(logits, targets):  # textbook softmax: exp(1000) = inf
    probs = logits.exp() / logits.exp().sum(dim=-1, keepdim=True)
    return -probs[torch.arange(len(targets)), targets].log().mean()


def cross_entropy_in_bits(logits, targets):
    return cross_entropy(logits, targets) / math.log(2)


def cross_entropy_no_mean(logits, targets):
    return -torch.log_softmax(logits, -1)[torch.arange(len(targets)), targets]


def cross_entropy_of_first_row(logits, targets):  # gathers targets from the wrong rows
    return -torch.log_softmax(logits, -1)[0, targets].mean()


def test_cross_entropy_accepts_solution_and_float(capsys):
    assert check_cross_entropy(cross_entropy)
    assert capsys.readouterr().out.startswith("✅ cross_entropy: all 4 checks passed")
    assert check_cross_entropy(lambda logits, targets: float(cross_entropy(logits, targets)))


def test_cross_entropy_rejects_stub(capsys):
    assert not check_cross_entropy(stub)
    assert capsys.readouterr().out.startswith("⏳ cross_entropy: not implemented yet")


def test_cross_entropy_rejects_mistakes(capsys):
    assert not check_cross_entropy(cross_entropy_naive)
    out = capsys.readouterr().out
    assert out.startswith("❌ cross_entropy, case 4 (very large logits") and "log-sum-exp" in out
    assert not check_cross_entropy(cross_entropy_in_bits)
    assert "log base 2" in capsys.readouterr().out
    assert not check_cross_entropy(cross_entropy_no_mean)
    assert "expected one number" in capsys.readouterr().out
    assert not check_cross_entropy(cross_entropy_of_first_row)
    assert capsys.readouterr().out.startswith("❌ cross_entropy, case 1")


# --- next_token_losses ------------------------------------------------------------------------------


def next_token_losses(logits, ids):
    log_probs = torch.log_softmax(logits[:-1], dim=-1)  # (T-1, V): positions 0..T-2 predict tokens 1..T-1
    return -log_probs[torch.arange(len(ids) - 1), ids[1:]]  # (T-1,)


def losses_without_shift(logits, ids):
    return -torch.log_softmax(logits, -1)[torch.arange(len(ids)), ids]


def losses_shifted_the_wrong_way(logits, ids):
    return -torch.log_softmax(logits[1:], -1)[torch.arange(len(ids) - 1), ids[:-1]]


def losses_averaged(logits, ids):
    return next_token_losses(logits, ids).mean()


def test_next_token_losses_accepts_solution(capsys):
    assert check_next_token_losses(next_token_losses)
    assert capsys.readouterr().out.startswith("✅ next_token_losses: all 3 checks passed")


def test_next_token_losses_rejects_stub(capsys):
    assert not check_next_token_losses(stub)
    assert capsys.readouterr().out.startswith("⏳ next_token_losses: not implemented yet")


def test_next_token_losses_rejects_mistakes(capsys):
    assert not check_next_token_losses(losses_without_shift)
    out = capsys.readouterr().out
    assert out.startswith("❌ next_token_losses, case 1") and "got 4 losses for a text of 4 tokens" in out
    assert not check_next_token_losses(losses_shifted_the_wrong_way)
    assert capsys.readouterr().out.startswith("❌ next_token_losses, case 1")
    assert not check_next_token_losses(losses_averaged)
    assert "do not average" in capsys.readouterr().out


# --- unigram_entropy --------------------------------------------------------------------------------


def unigram_entropy(ids):
    counts = torch.bincount(ids)
    p = counts[counts > 0].double() / len(ids)  # frequency of every token that occurs
    return float(-(p * p.log()).sum())


def entropy_in_bits(ids):
    return unigram_entropy(ids) / math.log(2)


def log_of_distinct_tokens(ids):  # uniform over the tokens that occur
    return math.log(len(torch.unique(ids)))


def test_unigram_entropy_accepts_solution_and_the_course_utils_version(capsys):
    assert check_unigram_entropy(unigram_entropy)
    assert capsys.readouterr().out.startswith("✅ unigram_entropy: all 4 checks passed")
    assert check_unigram_entropy(reference_unigram_entropy)


def test_unigram_entropy_rejects_stub(capsys):
    assert not check_unigram_entropy(stub)
    assert capsys.readouterr().out.startswith("⏳ unigram_entropy: not implemented yet")


def test_unigram_entropy_rejects_mistakes(capsys):
    assert not check_unigram_entropy(entropy_in_bits)
    out = capsys.readouterr().out
    assert out.startswith("❌ unigram_entropy, case 2") and "log base 2" in out
    assert not check_unigram_entropy(log_of_distinct_tokens)
    out = capsys.readouterr().out
    assert out.startswith("❌ unigram_entropy, case 3") and "count / total" in out
