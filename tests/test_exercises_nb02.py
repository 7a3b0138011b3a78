"""The notebook 02 checkers accept the worked solutions, report the stubs as not implemented, and name
each classic mistake."""

import math

import pytest
import torch

from course_utils.exercises import check_causal_attention, check_masked_softmax, check_split_heads, nb02


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# ---- the worked solutions (as in notebooks/solutions/02_self_attention_solutions.ipynb)


def masked_softmax(scores):
    t = scores.shape[-1]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def causal_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return masked_softmax(scores) @ v


def split_heads(x, num_heads):
    b, t, d = x.shape
    return x.view(b, t, num_heads, d // num_heads).transpose(1, 2)


def _future(t, diagonal=1):
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=diagonal)


def _first_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[0]


# ---- masked_softmax


def test_masked_softmax_solution_and_stub(capsys):
    assert check_masked_softmax(masked_softmax)
    assert _first_line(capsys).startswith("✅ masked_softmax: all 5 checks passed")
    assert not check_masked_softmax(stub)
    assert _first_line(capsys).startswith("⏳ masked_softmax: not implemented yet")


def test_masked_softmax_accepts_other_right_answers(capsys):
    def stable_by_hand(scores):
        s = scores.masked_fill(_future(scores.shape[-1]), float("-inf"))
        e = torch.exp(s - s.amax(dim=-1, keepdim=True))
        return e / e.sum(dim=-1, keepdim=True)

    def large_negative(scores):
        return torch.softmax(scores.masked_fill(_future(scores.shape[-1]), -1e9), dim=-1)

    for right in (stable_by_hand, large_negative):
        assert check_masked_softmax(right), right.__name__
    capsys.readouterr()


def _naive(scores):
    s = scores.masked_fill(_future(scores.shape[-1]), float("-inf"))
    return torch.exp(s) / torch.exp(s).sum(dim=-1, keepdim=True)


def _in_place(scores):
    scores.masked_fill_(_future(scores.shape[-1]), float("-inf"))
    return torch.softmax(scores, dim=-1)


def _tril_equals_one(scores):
    t = scores.shape[-1]
    return torch.softmax(scores.masked_fill(torch.tril(torch.ones(t, t)) == 1, float("-inf")), dim=-1)


SOFTMAX_WRONG = [
    ("no mask", lambda s: torch.softmax(s, dim=-1), "no mask was applied"),
    ("mask filled with 0", lambda s: torch.softmax(s.masked_fill(_future(s.shape[-1]), 0.0), -1), "filled with 0"),
    ("softmax over dim -2", lambda s: torch.softmax(s.masked_fill(_future(s.shape[-1]), -torch.inf), -2),
     "dim=-2"),
    ("mask hides the diagonal", lambda s: torch.softmax(s.masked_fill(_future(s.shape[-1], 0), -torch.inf), -1),
     "hides the diagonal too"),
    ("mask off by one", lambda s: torch.softmax(s.masked_fill(_future(s.shape[-1], 2), -torch.inf), -1),
     "off by one"),
    ("mask after the softmax", lambda s: torch.softmax(s, -1).masked_fill(_future(s.shape[-1]), 0.0),
     "after the softmax"),
    ("naive exp overflows", _naive, "exp() overflows"),
    ("tril == 1", _tril_equals_one, "hides the past and the diagonal"),
    ("log_softmax", lambda s: torch.log_softmax(s.masked_fill(_future(s.shape[-1]), -torch.inf), -1), "log_softmax"),
    ("mask from shape[0]", lambda s: torch.softmax(s.masked_fill(_future(s.shape[0]), -torch.inf), -1),
     "scores.shape[0]"),
    ("changes its input", _in_place, "changed its input (argument 1) in place"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in SOFTMAX_WRONG], ids=[w[0] for w in SOFTMAX_WRONG])
def test_masked_softmax_names_the_mistake(capsys, wrong, fragment):
    assert not check_masked_softmax(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ masked_softmax") and fragment in line


def test_masked_softmax_properties_help_when_no_mistake_matches(capsys):
    assert not check_masked_softmax(lambda s: torch.softmax(s.masked_fill(_future(s.shape[-1]), -1.0), -1))
    assert "for a later token (column > row): future weights must be exactly 0" in _first_line(capsys)
    assert not check_masked_softmax(lambda s: 2 * masked_softmax(s))
    assert "sum to 2, not 1" in _first_line(capsys)


# ---- causal_attention


def test_causal_attention_solution_and_stub(capsys):
    assert check_causal_attention(causal_attention)
    assert "all 5 checks passed" in _first_line(capsys)
    assert not check_causal_attention(stub)
    assert _first_line(capsys).startswith("⏳")


def test_causal_attention_accepts_the_fused_kernel(capsys):
    fused = lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    assert check_causal_attention(fused)
    assert _first_line(capsys).startswith("✅")


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


ATTENTION_WRONG = [
    ("no scale", lambda q, k, v: masked_softmax(q @ k.transpose(-2, -1)) @ v, "not divided by sqrt(head_dim)"),
    ("scale by d_k", lambda q, k, v: masked_softmax(q @ k.transpose(-2, -1) / k.shape[-1]) @ v,
     "divided by head_dim instead of its square root"),
    ("scale by sqrt(T)", lambda q, k, v: masked_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-2])) @ v,
     "sqrt(number of tokens)"),
    ("scale multiplied", lambda q, k, v: masked_softmax(q @ k.transpose(-2, -1) * math.sqrt(q.shape[-1])) @ v,
     "multiplied by sqrt(head_dim)"),
    ("scale after softmax", lambda q, k, v: masked_softmax(q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]) @ v,
     "after the softmax"),
    ("no mask", lambda q, k, v: torch.softmax(_scores(q, k), dim=-1) @ v, "no causal mask"),
    ("mask filled with 0", lambda q, k, v: torch.softmax(_scores(q, k).masked_fill(_future(q.shape[-2]), 0), -1) @ v,
     "filled with 0"),
    ("softmax over dim -2",
     lambda q, k, v: torch.softmax(_scores(q, k).masked_fill(_future(q.shape[-2]), -torch.inf), -2) @ v, "dim=-2"),
    ("mask after softmax",
     lambda q, k, v: torch.softmax(_scores(q, k), -1).masked_fill(_future(q.shape[-2]), 0) @ v, "after the softmax"),
    ("keys not transposed", lambda q, k, v: masked_softmax(q @ k / math.sqrt(q.shape[-1])) @ v, "not transposed"),
    ("k.T on a batch", lambda q, k, v: masked_softmax(q @ k.permute(*range(k.dim() - 1, -1, -1)) / math.sqrt(q.shape[-1])) @ v,
     "k.T reverses every axis"),
    ("naive exp", lambda q, k, v: _naive(_scores(q, k)) @ v, "exp() overflows"),
    ("returns the weights", lambda q, k, v: masked_softmax(_scores(q, k)), "weights were returned"),
    ("queries and keys swapped", lambda q, k, v: masked_softmax(_scores(k, q)) @ v, "queries and keys were swapped"),
    ("weights @ k", lambda q, k, v: masked_softmax(_scores(q, k)) @ k, "multiplied with the keys"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in ATTENTION_WRONG], ids=[w[0] for w in ATTENTION_WRONG])
def test_causal_attention_names_the_mistake(capsys, wrong, fragment):
    assert not check_causal_attention(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ causal_attention") and fragment in line


# ---- split_heads


def test_split_heads_solution_and_stub(capsys):
    assert check_split_heads(split_heads)
    assert _first_line(capsys).startswith("✅")
    assert not check_split_heads(stub)
    assert _first_line(capsys).startswith("⏳")
    assert check_split_heads(lambda x, nh: x.unflatten(-1, (nh, -1)).permute(0, 2, 1, 3))
    assert _first_line(capsys).startswith("✅")


SPLIT_WRONG = [
    ("view without transpose", lambda x, nh: x.view(x.shape[0], nh, x.shape[1], -1), "without a transpose"),
    ("transpose missing", lambda x, nh: x.view(x.shape[0], x.shape[1], nh, -1), "the transpose is missing"),
    ("columns interleaved", lambda x, nh: x.view(x.shape[0], x.shape[1], -1, nh).permute(0, 3, 1, 2),
     "every num_heads-th column"),
    ("wrong axes swapped", lambda x, nh: x.view(x.shape[0], x.shape[1], nh, -1).transpose(1, 3),
     "the wrong axes were swapped"),
    ("float head size", lambda x, nh: x.view(x.shape[0], x.shape[1], nh, x.shape[2] / nh).transpose(1, 2),
     "integer division"),
    ("batch of 1 only", lambda x, nh: x.view(1, x.shape[1], nh, -1).transpose(1, 2), "a batch of 1 only"),
    ("transposed before the split", lambda x, nh: x.transpose(1, 2).reshape(x.shape[0], nh, x.shape[1], -1),
     "transposed before the split"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in SPLIT_WRONG], ids=[w[0] for w in SPLIT_WRONG])
def test_split_heads_names_the_mistake(capsys, wrong, fragment):
    assert not check_split_heads(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ split_heads") and fragment in line


def test_split_heads_says_where_when_nothing_matches(capsys):
    def head_zero_off(x, nh):
        out = split_heads(x, nh).clone()
        out[:, 0] += 1
        return out

    assert not check_split_heads(head_zero_off)
    line = _first_line(capsys)
    assert "all of them in head 0" in line


# ---- shared behaviour


def test_checkers_report_exceptions_instead_of_raising(capsys):
    def broken(*args):
        raise RuntimeError("boom")

    for check in (check_masked_softmax, check_causal_attention, check_split_heads):
        assert not check(broken)
        assert "RuntimeError: boom" in _first_line(capsys)


MISTAKES = ([(check_masked_softmax, m) for m in nb02._SOFTMAX_MISTAKES]
            + [(check_causal_attention, m) for m in nb02._ATTENTION_MISTAKES]
            + [(check_split_heads, m) for m in nb02._SPLIT_MISTAKES])


@pytest.mark.parametrize("check, mistake", MISTAKES, ids=[f"{c.__name__}-{m.hint[:40]}" for c, m in MISTAKES])
def test_every_mistake_is_recognised(capsys, check, mistake):
    assert not check(mistake.fn)
    assert f"it looks like {mistake.hint}" in capsys.readouterr().out
