"""The notebook 02 checkers accept the worked solutions and reject the stub and typical mistakes."""

import math

import torch

from course_utils.exercises import check_causal_attention, check_masked_softmax, check_split_heads


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


# ---- plausible wrong answers


def softmax_without_mask(scores):
    return torch.softmax(scores, dim=-1)


def mask_with_zero_instead_of_minus_inf(scores):
    t = scores.shape[-1]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, 0.0), dim=-1)


def softmax_over_wrong_dim(scores):
    t = scores.shape[-1]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-2)


def attention_without_scale(q, k, v):
    return masked_softmax(q @ k.transpose(-2, -1)) @ v


def attention_without_mask(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def split_heads_view_only(x, num_heads):
    b, t, d = x.shape
    return x.view(b, num_heads, t, d // num_heads)  # right shape, wrong numbers


def _first_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[0]


def test_masked_softmax_checker(capsys):
    check_masked_softmax(masked_softmax)
    assert _first_line(capsys).startswith("✅")
    check_masked_softmax(stub)
    assert _first_line(capsys).startswith("⏳")
    for wrong in (softmax_without_mask, mask_with_zero_instead_of_minus_inf, softmax_over_wrong_dim):
        check_masked_softmax(wrong)
        assert _first_line(capsys).startswith("❌"), wrong.__name__


def test_causal_attention_checker(capsys):
    check_causal_attention(causal_attention)
    assert "all 4 checks passed" in _first_line(capsys)
    check_causal_attention(stub)
    assert _first_line(capsys).startswith("⏳")
    for wrong in (attention_without_scale, attention_without_mask):
        check_causal_attention(wrong)
        assert _first_line(capsys).startswith("❌"), wrong.__name__


def test_causal_attention_accepts_the_fused_kernel(capsys):
    fused = lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    check_causal_attention(fused)
    assert _first_line(capsys).startswith("✅")


def test_split_heads_checker(capsys):
    check_split_heads(split_heads)
    assert _first_line(capsys).startswith("✅")
    check_split_heads(stub)
    assert _first_line(capsys).startswith("⏳")
    check_split_heads(split_heads_view_only)
    out = _first_line(capsys)
    assert out.startswith("❌")
    assert "largest difference" in out  # the shape is right, the numbers are not


def test_checkers_return_a_quiet_result(capsys):
    assert check_masked_softmax(masked_softmax)
    assert not check_masked_softmax(softmax_without_mask)
    result = check_split_heads(stub)
    assert not result and result._ipython_display_() is None  # a notebook shows only the printed line


def test_checkers_report_exceptions_instead_of_raising(capsys):
    def broken(*args):
        raise RuntimeError("boom")

    for check in (check_masked_softmax, check_causal_attention, check_split_heads):
        check(broken)
        assert "RuntimeError: boom" in _first_line(capsys)


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_masked_softmax(masked_softmax)
    check_causal_attention(causal_attention)
    assert torch.equal(torch.rand(3), expected)
