"""The notebook 06 checkers accept the worked solutions, reject the stub, and name each classic mistake."""

import pytest
import torch

import course_utils as cu
from course_utils.exercises import check_block_parameter_count, check_post_ln_forward, nb06


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def first_line(capsys):
    return capsys.readouterr().out.splitlines()[0]


# --- block_parameter_count -------------------------------------------------------------------------


def block_parameter_count(cfg):
    d = cfg.emb_dim
    bias = d if cfg.qkv_bias else 0
    layer_norms = 2 * (d + d)
    attention = 3 * (d * d + bias) + (d * d + d)
    feed_forward = (d * 4 * d + 4 * d) + (4 * d * d + d)
    return layer_norms + attention + feed_forward


def test_block_count_accepts_solution(capsys):
    assert check_block_parameter_count(block_parameter_count)
    assert first_line(capsys).startswith("✅ block_parameter_count: all 5 checks passed")


def test_block_count_solution_matches_the_notebook_numbers():
    assert block_parameter_count(cu.GPTConfig.from_preset("gpt2-small")) == 7_087_872


def test_block_count_rejects_stub_and_non_function(capsys):
    assert not check_block_parameter_count(stub)
    assert first_line(capsys).startswith("⏳ block_parameter_count: not implemented yet")
    assert not check_block_parameter_count(7_087_872)
    assert first_line(capsys).startswith("❌ block_parameter_count: expected a function")


@pytest.mark.parametrize("mistake", nb06._COUNT_MISTAKES, ids=lambda m: m.hint[:40])
def test_block_count_names_each_mistake(mistake, capsys):
    assert not check_block_parameter_count(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_block_count_names_student_mistakes(capsys):
    def always_qkv_bias(cfg):  # the closed formula 12 d^2 + 13 d ignores cfg.qkv_bias
        return 12 * cfg.emb_dim**2 + 13 * cfg.emb_dim

    assert not check_block_parameter_count(always_qkv_bias)
    assert "although cfg.qkv_bias is False" in first_line(capsys)
    assert not check_block_parameter_count(lambda cfg: float(block_parameter_count(cfg)))
    assert "expected a whole number (int), got a float" in first_line(capsys)


def test_block_count_unknown_mistake_still_helps(capsys):
    assert not check_block_parameter_count(lambda cfg: block_parameter_count(cfg) + 2 * cfg.emb_dim ** 2)
    line = first_line(capsys)
    assert "off by +8,192 = +2 x emb_dim²" in line and "one by one" in line


# --- post_ln_forward -------------------------------------------------------------------------------


def post_ln_forward(block, x):
    x = block.norm1(x + block.drop_resid(block.attn(x)))
    return block.norm2(x + block.drop_resid(block.ff(x)))


def test_post_ln_accepts_solution(capsys):
    assert check_post_ln_forward(post_ln_forward)
    assert first_line(capsys).startswith("✅ post_ln_forward: all 2 checks passed")


def test_post_ln_rejects_stub(capsys):
    assert not check_post_ln_forward(stub)
    assert first_line(capsys).startswith("⏳ post_ln_forward: not implemented yet")


@pytest.mark.parametrize("mistake", nb06._POST_LN_MISTAKES, ids=lambda m: m.hint[:40])
def test_post_ln_names_each_mistake(mistake, capsys):
    assert not check_post_ln_forward(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_post_ln_names_student_mistakes(capsys):
    def pre_ln(block, x):
        x = x + block.attn(block.norm1(x))
        return x + block.ff(block.norm2(x))

    def ff_reads_block_input(block, x):
        h = block.norm1(x + block.attn(x))
        return block.norm2(h + block.ff(x))

    def in_place(block, x):
        x += block.attn(x)
        x = block.norm1(x)
        return block.norm2(x + block.ff(x))

    for wrong, words in [(pre_ln, "pre-LN block"), (ff_reads_block_input, "reads the block's input"),
                         (in_place, "changed its input (argument 2) in place")]:
        assert not check_post_ln_forward(wrong)
        assert words in first_line(capsys)


def test_post_ln_unknown_mistake_says_where(capsys):
    assert not check_post_ln_forward(lambda block, x: post_ln_forward(block, x) * 1.5)
    assert "most at sequence 0, token" in first_line(capsys)


def test_post_ln_checker_leaves_global_rng_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    check_post_ln_forward(post_ln_forward)
    assert torch.equal(torch.rand(3), expected)
