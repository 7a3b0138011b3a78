"""course_utils.baselines: unigram and bigram count baselines, scored on the models' own positions."""

import math
from types import SimpleNamespace

import pytest
import torch

from course_utils import baselines
from course_utils.baselines import (
    bigram_loss,
    bigram_token_probs,
    count_ngrams,
    eval_pairs,
    fit_smoothing,
    unigram_loss,
    unigram_probs,
)
from course_utils.losses import text_loss, uniform_loss


def test_unigram_of_a_uniform_stream_is_ln_of_the_distinct_ids():
    stream = torch.tensor([0, 1, 2, 3] * 25)
    assert unigram_loss(stream, stream, alpha=1e-9, vocab_size=4) == pytest.approx(math.log(4), abs=1e-6)
    # Over GPT-2's 50,257 ids a tiny alpha leaves almost nothing for the 50,253 unseen ones.
    assert unigram_loss(stream, stream, alpha=1e-9) == pytest.approx(math.log(4), abs=1e-4)


def test_unigram_add_alpha_by_hand():
    # counts [2, 1, 1] + alpha 1 -> [3, 2, 2] / 7
    p = unigram_probs(torch.tensor([0, 1, 0, 2]), alpha=1.0, vocab_size=3)
    torch.testing.assert_close(p, torch.tensor([3, 2, 2], dtype=torch.float64) / 7)
    assert unigram_loss(torch.tensor([0, 1, 0, 2]), torch.tensor([1]), 1.0, 3) == pytest.approx(-math.log(2 / 7))


def test_an_unseen_token_gets_a_small_but_finite_loss():
    loss = unigram_loss(torch.tensor([0, 0, 1]), torch.tensor([5]), alpha=0.5, vocab_size=10)
    assert loss == pytest.approx(-math.log(0.5 / (3 + 0.5 * 10)))


def test_bigram_by_hand_and_unseen_previous_token_falls_back_to_unigram():
    train = torch.tensor([0, 1, 0, 2])  # pairs (0,1) (1,0) (0,2); token 2 is never followed by anything
    # P(1 | 0) = 1/2 from the pairs; P_unigram(1) = 2/7 (alpha 1, V 3); lam 0.5 -> 0.25 + 1/7
    p = bigram_token_probs(train, (torch.tensor([0, 2]), torch.tensor([1, 1])), lam=0.5, alpha=1.0, vocab_size=3)
    torch.testing.assert_close(p, torch.tensor([0.25 + 1 / 7, 2 / 7], dtype=torch.float64))


def test_a_deterministic_bigram_costs_almost_nothing_with_lam_near_one():
    cycle = torch.tensor([0, 1, 2] * 50)  # 0 -> 1 -> 2 -> 0: the previous token decides the next
    pairs = eval_pairs(cycle, context_length=8)
    assert bigram_loss(cycle, pairs, lam=0.999, alpha=1e-3, vocab_size=3) < 0.002
    # ...while the unigram sees three equally frequent tokens
    assert unigram_loss(cycle, pairs, alpha=1e-3, vocab_size=3) == pytest.approx(math.log(3), abs=1e-3)


def test_lam_zero_is_the_unigram_and_pairs_keep_their_shape():
    train = torch.randint(0, 20, (500,), generator=torch.Generator().manual_seed(0))
    pairs = eval_pairs(train[:100], context_length=9)
    probs = bigram_token_probs(train, pairs, lam=0.0, vocab_size=20)
    assert probs.shape == pairs[1].shape
    assert bigram_loss(train, pairs, lam=0.0, vocab_size=20) == pytest.approx(unigram_loss(train, pairs, vocab_size=20))


class BigramTable(torch.nn.Module):
    """A 'model' whose logits are the log bigram probabilities of the previous token (small V only)."""

    def __init__(self, train, context_length, vocab_size, lam, alpha):
        super().__init__()
        prev = torch.arange(vocab_size).repeat_interleave(vocab_size)
        nxt = torch.arange(vocab_size).repeat(vocab_size)
        probs = bigram_token_probs(train, (prev, nxt), lam=lam, alpha=alpha, vocab_size=vocab_size)
        self.log_p = torch.nn.Parameter(probs.view(vocab_size, vocab_size).log().float(), requires_grad=False)
        self.cfg = SimpleNamespace(context_length=context_length, vocab_size=vocab_size)  # what text_loss reads
        self.device = self.log_p.device

    def forward(self, x):
        return self.log_p[x]  # (B, T, V)


@pytest.mark.parametrize("stride, max_windows, spread", [(None, None, False), (None, 3, False), (20, None, False),
                                                         (None, 3, True), (20, 4, True)])
def test_eval_pairs_are_the_positions_text_loss_scores(stride, max_windows, spread):
    g = torch.Generator().manual_seed(1)
    train, held_out = torch.randint(0, 12, (400,), generator=g), torch.randint(0, 12, (200,), generator=g)
    table = BigramTable(train, 10, 12, lam=0.6, alpha=0.5)
    pairs = eval_pairs(held_out, 10, stride=stride, max_windows=max_windows, spread=spread)
    expected = text_loss(table, held_out, stride=stride, max_windows=max_windows, spread=spread)
    assert bigram_loss(train, pairs, lam=0.6, alpha=0.5, vocab_size=12) == pytest.approx(expected, rel=1e-5)


def test_counts_are_sparse():
    counts = count_ngrams(torch.tensor([5, 7, 5, 7, 50256]))
    assert counts.pair_keys.tolist() == [5 * 50257 + 7, 7 * 50257 + 5, 7 * 50257 + 50256]
    assert counts.pair_counts.tolist() == [2, 1, 1]
    assert counts.prev_counts[7] == 2 and counts.prev_counts[50256] == 0


def test_fit_smoothing_prefers_the_bigram_on_a_predictable_text():
    text = torch.tensor([0, 1, 2, 3] * 200)
    alpha, lam = fit_smoothing(text, vocab_size=4)
    assert alpha == min(baselines.ALPHA_GRID) and lam == max(baselines.LAM_GRID)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: unigram_loss("to be", torch.tensor([1])), "not text"),
        (lambda: unigram_loss(torch.tensor([1.0, 2.0]), torch.tensor([1])), "integer token ids"),
        (lambda: unigram_loss(torch.tensor([1, 2]), torch.tensor([60000])), "outside 0 .. 50256"),
        (lambda: unigram_loss(torch.tensor([1, 2]), torch.tensor([1]), alpha=0), "alpha must be a positive"),
        (lambda: bigram_loss(torch.tensor([1, 2]), (torch.tensor([1]), torch.tensor([2])), lam=1.0), r"\[0, 1\)"),
        (lambda: bigram_loss(torch.tensor([1, 2]), torch.tensor([2])), r"pairs must be \(inputs, targets\)"),
        (lambda: bigram_loss(torch.tensor([1, 2]), (torch.tensor([1, 2]), torch.tensor([2]))), "same shape"),
        (lambda: count_ngrams(torch.tensor([[1, 2], [3, 4]])), "1-D stream"),
        (lambda: count_ngrams(torch.tensor([1])), "at least 2"),
        (lambda: fit_smoothing(torch.tensor([1, 2, 3]), fraction=1.5), "fraction must be"),
    ],
)
def test_bad_input_gives_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.fixture(scope="module")
def corpus_ids():
    from course_utils.data import load_corpus

    corpus = load_corpus()
    return corpus.token_ids("train"), corpus.token_ids("val")


def test_shipped_corpus_baselines(corpus_ids):
    train_ids, val_ids = corpus_ids
    counts = count_ngrams(train_ids)
    assert int((counts.token_counts > 0).sum()) == 18_942  # of 50,257 ids, the rest get only alpha
    every_window = eval_pairs(val_ids, 128)  # the windows of the course model's final val loss
    got = baselines.baseline_losses(counts, every_window)
    assert got["uniform"] == uniform_loss()
    # Measured: 6.414 and 4.900 (the guide: unigram entropy of the training plays 6.41, bigram about 4.92)
    assert got["unigram"] == pytest.approx(6.414, abs=0.002)
    assert got["bigram"] == pytest.approx(4.900, abs=0.002)
    assert got["bigram"] < got["unigram"] < got["uniform"]


def test_the_shipped_alpha_and_lam_are_what_the_fit_chooses(corpus_ids):
    assert fit_smoothing(corpus_ids[0]) == (baselines.ALPHA, baselines.LAM)
