"""The notebook 04 checkers accept the worked solutions and reject the stub and plausible mistakes."""

import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.exercises import check_feed_forward, check_ffn_parameter_count


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


def test_parameter_count_accepts_solution(capsys):
    assert check_ffn_parameter_count(ffn_parameter_count)
    assert capsys.readouterr().out.startswith("✅ ffn_parameter_count")


def test_parameter_count_stub_is_not_implemented(capsys):
    assert not check_ffn_parameter_count(stub)
    assert capsys.readouterr().out.startswith("⏳ ffn_parameter_count: not implemented yet")


def test_parameter_count_rejects_mistakes(capsys):
    no_biases = lambda d, hidden_mult=4: 2 * d * hidden_mult * d
    ignores_hidden_mult = lambda d, hidden_mult=4: 8 * d * d + 5 * d
    for wrong in (no_biases, ignores_hidden_mult):
        assert not check_ffn_parameter_count(wrong)
        assert capsys.readouterr().out.startswith("❌ ffn_parameter_count")


# --- feed_forward ------------------------------------------------------------------------------


def feed_forward(x, w_in, b_in, w_out, b_out):  # the worked solution
    h = x @ w_in.T + b_in
    h = cu.gelu_tanh(h)
    return h @ w_out.T + b_out


def test_feed_forward_accepts_solution(capsys):
    assert check_feed_forward(feed_forward)
    assert capsys.readouterr().out.startswith("✅ feed_forward")


def test_feed_forward_stub_is_not_implemented(capsys):
    assert not check_feed_forward(stub)
    assert capsys.readouterr().out.startswith("⏳ feed_forward: not implemented yet")


def test_feed_forward_rejects_mistakes(capsys):
    relu = lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2
    no_activation = lambda x, w1, b1, w2, b2: (x @ w1.T + b1) @ w2.T + b2
    forgot_bias = lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1.T) @ w2.T + b2
    for wrong in (relu, no_activation, forgot_bias):
        assert not check_feed_forward(wrong)
        assert capsys.readouterr().out.startswith("❌ feed_forward")


def test_feed_forward_names_the_exact_gelu(capsys):
    exact_gelu = lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T + b1) @ w2.T + b2  # forgot approximate="tanh"
    assert not check_feed_forward(exact_gelu)
    out = capsys.readouterr().out
    assert out.startswith("❌ feed_forward") and "exact GELU" in out and 'approximate="tanh"' in out
    relu = lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2  # other mistakes get no such hint
    assert not check_feed_forward(relu)
    assert "exact GELU" not in capsys.readouterr().out


def test_feed_forward_checker_reports_crashes(capsys):
    untransposed = lambda x, w1, b1, w2, b2: cu.gelu_tanh(x @ w1 + b1) @ w2 + b2  # shape error
    assert not check_feed_forward(untransposed)
    assert "raised RuntimeError" in capsys.readouterr().out


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    check_feed_forward(feed_forward)
    assert torch.equal(before, torch.random.get_rng_state())
