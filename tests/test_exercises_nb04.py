"""The notebook 04 checkers accept the worked solutions, report the stubs as not implemented, and name
each classic mistake."""

import math

import pytest
import torch.nn.functional as F

import course_utils as cu
from course_utils.exercises import check_feed_forward, check_ffn_parameter_count, nb04


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- ffn_parameter_count ---------------------------------------------------------------------


def ffn_parameter_count(emb_dim, hidden_mult=4):  # the worked solution
    hidden = hidden_mult * emb_dim
    return emb_dim * hidden + hidden + hidden * emb_dim + emb_dim


def test_parameter_count_solution_matches_course_utils():
    cfg = cu.GPTConfig.from_preset("gpt2-small")
    assert ffn_parameter_count(768) == cu.parameter_counts(cfg).feed_forward_per_block == 4_722_432
    assert ffn_parameter_count(8) == sum(p.numel() for p in cu.FeedForward(8).parameters())


def test_parameter_count_solution_and_stub(capsys):
    assert check_ffn_parameter_count(ffn_parameter_count)
    assert capsys.readouterr().out.startswith("✅ ffn_parameter_count")
    assert not check_ffn_parameter_count(stub)
    assert capsys.readouterr().out.startswith("⏳ ffn_parameter_count: not implemented yet")


COUNT_WRONG = [
    ("no biases", lambda d, hidden_mult=4: 2 * d * hidden_mult * d, "the biases are missing"),
    ("ignores hidden_mult", lambda d, hidden_mult=4: 8 * d * d + 5 * d, "hidden_mult is ignored"),
    ("both biases emb_dim", lambda d, hidden_mult=4: 2 * d * hidden_mult * d + 2 * d, "counted as emb_dim long"),
    ("no output bias", lambda d, hidden_mult=4: 2 * d * hidden_mult * d + hidden_mult * d, "second layer's bias"),
    ("one layer only", lambda d, hidden_mult=4: d * hidden_mult * d + hidden_mult * d, "only the first linear layer"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in COUNT_WRONG], ids=[w[0] for w in COUNT_WRONG])
def test_parameter_count_names_the_mistake(capsys, wrong, fragment):
    assert not check_ffn_parameter_count(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ ffn_parameter_count") and fragment in out


# --- feed_forward ------------------------------------------------------------------------------


def feed_forward(x, w_in, b_in, w_out, b_out):  # the worked solution
    h = x @ w_in.T + b_in
    h = cu.gelu_tanh(h)
    return h @ w_out.T + b_out


def test_feed_forward_solution_and_stub(capsys):
    assert check_feed_forward(feed_forward)
    assert capsys.readouterr().out.startswith("✅ feed_forward")
    assert not check_feed_forward(stub)
    assert capsys.readouterr().out.startswith("⏳ feed_forward: not implemented yet")
    assert check_feed_forward(lambda x, w1, b1, w2, b2: F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"),
                                                                 w2, b2))
    assert capsys.readouterr().out.startswith("✅ feed_forward")


def _gelu_squared(h):
    return 0.5 * h * (1.0 + F.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h**2)))


FFN_WRONG = [
    ("exact GELU", lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T + b1) @ w2.T + b2, 'the exact GELU was used'),
    ("ReLU", lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2, "ReLU was used"),
    ("no activation", lambda x, w1, b1, w2, b2: (x @ w1.T + b1) @ w2.T + b2, "the activation is missing"),
    ("sigmoid GELU", lambda x, w1, b1, w2, b2: (lambda h: h * F.sigmoid(1.702 * h))(x @ w1.T + b1) @ w2.T + b2,
     "sigmoid approximation"),
    ("h ** 2 in GELU", lambda x, w1, b1, w2, b2: _gelu_squared(x @ w1.T + b1) @ w2.T + b2, "h ** 2"),
    ("no b_in", lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1.T) @ w2.T + b2, "b_in is missing"),
    ("no b_out", lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1.T + b1) @ w2.T, "b_out is missing"),
    ("no biases", lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1.T) @ w2.T, "both biases are missing"),
    ("GELU after the output", lambda x, w1, b1, w2, b2: cu.gelu_tanh(feed_forward(x, w1, b1, w2, b2)),
     "after the second layer too"),
    ("w_in and w_out swapped", lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w2 + b1) @ w1 + b2,
     "w_out was used for the first layer"),
    ("bias after the GELU", lambda x, w1, b1, w2, b2: (cu.gelu_tanh(x @ w1.T) + b1) @ w2.T + b2,
     "b_in was added after the GELU"),
    ("untransposed weights", lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1 + b1) @ w2 + b2, "without transposing"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in FFN_WRONG], ids=[w[0] for w in FFN_WRONG])
def test_feed_forward_names_the_mistake(capsys, wrong, fragment):
    assert not check_feed_forward(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ feed_forward") and fragment in out


def test_feed_forward_exact_gelu_hint_is_only_for_that_mistake(capsys):
    assert not check_feed_forward(lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2)
    assert "exact GELU" not in capsys.readouterr().out


MISTAKES = ([(check_ffn_parameter_count, m) for m in nb04._COUNT_MISTAKES]
            + [(check_feed_forward, m) for m in nb04._FFN_MISTAKES])


@pytest.mark.parametrize("check, mistake", MISTAKES, ids=[f"{c.__name__}-{m.hint[:40]}" for c, m in MISTAKES])
def test_every_mistake_is_recognised(capsys, check, mistake):
    assert not check(mistake.fn)
    assert f"it looks like {mistake.hint}" in capsys.readouterr().out
