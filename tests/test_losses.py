"""course_utils.losses: per-token loss, text loss, perplexity and the reference losses."""

import math

import pytest
import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.data import TokenWindows
from course_utils.losses import (
    expected_init_loss,
    per_token_loss,
    perplexity,
    text_loss,
    token_losses,
    uniform_loss,
    unigram_entropy,
    windows_loss,
)


@pytest.fixture
def model(tiny_cfg):
    torch.manual_seed(0)
    return cu.GPTModel(tiny_cfg).eval()


def test_token_losses_match_cross_entropy():
    logits, targets = 3 * torch.randn(2, 5, 11), torch.randint(0, 11, (2, 5))
    got = token_losses(logits, targets)
    assert got.shape == (2, 5)
    torch.testing.assert_close(got.mean(), F.cross_entropy(logits.flatten(0, 1), targets.flatten()))
    by_hand = -torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(got, by_hand)


def test_token_losses_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one more"):
        token_losses(torch.randn(2, 5, 11), torch.zeros(2, 4, dtype=torch.long))


def test_per_token_loss_shapes_and_mean_equals_training_loss(model):
    ids = torch.randint(0, 50257, (3, 9))
    losses = per_token_loss(model, ids)
    assert losses.shape == (3, 8) and losses.dtype == torch.float32
    expected = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
    torch.testing.assert_close(losses.mean(), expected)
    one = per_token_loss(model, ids[1])
    assert one.shape == (8,)
    torch.testing.assert_close(one, losses[1])


def test_per_token_loss_is_causal(model):
    # The loss of predicting token t+1 depends only on tokens 0..t+1: changing a later token
    # leaves every earlier loss unchanged.
    ids = torch.randint(0, 50257, (10,))
    changed = ids.clone()
    changed[7] = (ids[7] + 1) % 50257
    a, b = per_token_loss(model, ids), per_token_loss(model, changed)
    torch.testing.assert_close(a[:6], b[:6])
    assert not torch.allclose(a[6:8], b[6:8])


def test_per_token_loss_restores_training_mode_and_needs_no_grad(model):
    model.train()
    losses = per_token_loss(model, torch.randint(0, 50257, (6,)))
    assert model.training and not losses.requires_grad


def test_per_token_loss_rejects_bad_input(model):
    for bad in (torch.zeros(1, dtype=torch.long), torch.zeros(1, 1, 4, dtype=torch.long)):
        with pytest.raises(ValueError, match="T >= 2"):
            per_token_loss(model, bad)
    ctx = model.cfg.context_length
    assert per_token_loss(model, torch.zeros(ctx + 1, dtype=torch.long)).shape == (ctx,)  # the most it takes
    with pytest.raises(ValueError, match=f"ids have {ctx + 2} tokens.*at most context_length \\+ 1 = {ctx + 1}"):
        per_token_loss(model, torch.zeros(ctx + 2, dtype=torch.long))
    with pytest.raises(ValueError, match="not text.*text_to_ids"):
        per_token_loss(model, "To be, or not to be")


def test_text_loss_is_the_mean_over_windows(model):
    ids = torch.randint(0, 50257, (3 * 32 + 5,))
    windows = TokenWindows(ids, 32)
    x, y = windows.batch(range(len(windows)))
    expected = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    assert text_loss(model, ids, batch_size=2) == pytest.approx(expected, abs=1e-5)
    first = F.cross_entropy(model(x[:1]).flatten(0, 1), y[:1].flatten()).item()
    assert text_loss(model, ids, max_windows=1) == pytest.approx(first, abs=1e-5)
    # A shorter window: 4 windows of 8 tokens, each scored on its own.
    short = torch.stack([ids[s : s + 9] for s in range(0, 32, 8)])  # (4, 9)
    expected_short = per_token_loss(model, short).mean().item()
    assert text_loss(model, ids, context_length=8, max_windows=4) == pytest.approx(expected_short, abs=1e-5)
    # Every other window of 8 tokens.
    spread = torch.stack([ids[s : s + 9] for s in range(0, 3 * 32, 16)])  # (6, 9)
    expected_spread = per_token_loss(model, spread).mean().item()
    assert text_loss(model, ids, context_length=8, stride=16) == pytest.approx(expected_spread, abs=1e-5)


def test_text_loss_rejects_bad_input(model):
    ids = torch.randint(0, 50257, (100,))
    with pytest.raises(ValueError, match="token ids must be integers"):
        text_loss(model, ids.float())
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        text_loss(model, ids, batch_size=0)
    with pytest.raises(ValueError, match="context_length and stride must be positive, got 0"):
        text_loss(model, ids, context_length=0)  # not silently the model's context length
    with pytest.raises(ValueError, match=r"token id 50257 is outside the model's vocabulary \(0 \.\. 50256\)"):
        text_loss(model, torch.cat([ids, torch.tensor([50257])]))


def test_training_evaluation_and_text_loss_are_one_function(model):
    """train.evaluate (training's evaluation, the export record) and text_loss (notebook 10) both are
    windows_loss: the same number to the last bit, in eval mode, the model's mode restored. Training
    scores windows spread over the text by default, the first ones with spread=False."""
    from course_utils.train import evaluate

    ids = torch.randint(0, 50257, (12 * 32 + 3,))
    windows = TokenWindows(ids, 32)  # 12 windows
    for spread, picked in ((True, [0, 2, 4, 6, 8, 10]), (False, [0, 1, 2, 3, 4, 5])):
        x, y = windows.batch(picked)
        expected = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
        model.train()
        via_training = evaluate(model, windows, n_batches=3, batch_size=2, spread=spread)
        assert model.training  # evaluated in eval mode, then put back
        assert via_training == text_loss(model, ids, max_windows=6, spread=spread, batch_size=2) == windows_loss(
            model, windows, max_windows=6, spread=spread, batch_size=2)
        assert via_training == pytest.approx(expected, abs=1e-5)
    assert evaluate(model, windows, n_batches=3, batch_size=2) == windows_loss(model, windows, max_windows=6,
                                                                               spread=True, batch_size=2)
    assert windows_loss(model, windows) == pytest.approx(text_loss(model, ids), abs=0)  # default: every window
    assert windows_loss(model, windows, max_windows=99, spread=True) == windows_loss(model, windows)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match=f"max_windows must be a whole number >= 1, got {bad}"):
            windows_loss(model, windows, max_windows=bad)


def test_perplexity_and_uniform_loss():
    assert uniform_loss(50257) == pytest.approx(10.8249, abs=1e-4)
    assert uniform_loss() == uniform_loss(50257)
    assert perplexity(uniform_loss(50257)) == pytest.approx(50257)
    assert perplexity(0.0) == 1.0
    torch.testing.assert_close(perplexity(torch.tensor([0.0, math.log(4)])), torch.tensor([1.0, 4.0]))
    with pytest.raises(ValueError, match="vocab_size must be positive, got 0"):
        uniform_loss(0)
    assert perplexity(1000.0) == math.inf and perplexity(torch.tensor(1000.0)) == math.inf


def test_expected_init_loss_matches_random_gaussian_logits():
    assert expected_init_loss(0.0, 100) == pytest.approx(math.log(100))
    torch.manual_seed(0)
    n = 512
    for std in (0.3, 0.55, 1.0):
        logits = std * torch.randn(n, 50257)
        targets = torch.randint(0, 50257, (n,))
        # loss = logsumexp(z) - z_target: the first part is ln V + std^2 / 2 ...
        assert torch.logsumexp(logits, -1).mean().item() == pytest.approx(expected_init_loss(std), abs=0.005)
        # ... and the target's logit is 0 on average (up to the noise of n samples).
        measured = F.cross_entropy(logits, targets).item()
        assert measured == pytest.approx(expected_init_loss(std), abs=4 * std / math.sqrt(n))


def test_unigram_entropy():
    assert unigram_entropy(torch.tensor([5, 5, 5])) == 0.0
    assert unigram_entropy(torch.tensor([1, 2, 3, 4])) == pytest.approx(math.log(4))
    assert unigram_entropy(torch.tensor([[7, 7], [7, 9]])) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    with pytest.raises(ValueError, match="need at least one token"):
        unigram_entropy(torch.tensor([], dtype=torch.long))


def test_unigram_entropy_is_the_loss_of_predicting_frequencies():
    ids = torch.randint(0, 20, (400,))
    freq = torch.bincount(ids, minlength=20).float() / len(ids)
    loss = F.nll_loss(freq.log().expand(len(ids), 20), ids).item()
    assert unigram_entropy(ids) == pytest.approx(loss, abs=1e-5)
