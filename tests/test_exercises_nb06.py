"""The notebook 06 checkers accept the worked solutions, and reject the stub and plausible mistakes."""

import course_utils as cu
from course_utils.exercises import check_block_parameter_count, check_post_ln_forward


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- block_parameter_count -------------------------------------------------------------------------


def block_parameter_count(cfg):
    d = cfg.emb_dim
    bias = d if cfg.qkv_bias else 0
    layer_norms = 2 * (d + d)
    attention = 3 * (d * d + bias) + (d * d + d)
    feed_forward = (d * 4 * d + 4 * d) + (4 * d * d + d)
    return layer_norms + attention + feed_forward


def block_count_without_biases(cfg):
    d = cfg.emb_dim
    return 2 * 2 * d + 4 * d * d + 8 * d * d


def block_count_ignoring_qkv_bias_flag(cfg):
    d = cfg.emb_dim
    return 2 * 2 * d + 3 * (d * d + d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)


def test_block_count_accepts_solution(capsys):
    assert check_block_parameter_count(block_parameter_count)
    assert capsys.readouterr().out.startswith("✅ block_parameter_count: all 5 checks passed")


def test_block_count_solution_matches_the_notebook_numbers():
    assert block_parameter_count(cu.GPTConfig.from_preset("gpt2-small")) == 7_087_872


def test_block_count_rejects_stub(capsys):
    assert not check_block_parameter_count(stub)
    assert capsys.readouterr().out.startswith("⏳ block_parameter_count: not implemented yet")


def test_block_count_rejects_mistakes(capsys):
    assert not check_block_parameter_count(block_count_without_biases)
    assert capsys.readouterr().out.startswith("❌ block_parameter_count, case 1")
    assert not check_block_parameter_count(block_count_ignoring_qkv_bias_flag)
    out = capsys.readouterr().out
    assert out.startswith("❌ block_parameter_count, case 4 (width 64, no Q/K/V bias)")
    assert "expected: 49792" in out


def test_block_count_rejects_non_function(capsys):
    assert not check_block_parameter_count(7_087_872)
    assert capsys.readouterr().out.startswith("❌ block_parameter_count: expected a function")


# --- post_ln_forward -------------------------------------------------------------------------------


def post_ln_forward(block, x):
    x = block.norm1(x + block.drop_resid(block.attn(x)))
    return block.norm2(x + block.drop_resid(block.ff(x)))


def pre_ln_forward(block, x):  # the GPT-2 block itself: the wrong answer to this exercise
    return block(x)


def post_ln_without_residual(block, x):
    x = block.norm1(block.attn(x))
    return block.norm2(block.ff(x))


def test_post_ln_accepts_solution(capsys):
    assert check_post_ln_forward(post_ln_forward)
    assert capsys.readouterr().out.startswith("✅ post_ln_forward: all 2 checks passed")


def test_post_ln_rejects_stub(capsys):
    assert not check_post_ln_forward(stub)
    assert capsys.readouterr().out.startswith("⏳ post_ln_forward: not implemented yet")


def test_post_ln_rejects_mistakes(capsys):
    for wrong in (pre_ln_forward, post_ln_without_residual):
        assert not check_post_ln_forward(wrong)
        out = capsys.readouterr().out
        assert out.startswith("❌ post_ln_forward, case 1") and "largest difference" in out


def test_post_ln_checker_leaves_global_rng_alone():
    import torch

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    check_post_ln_forward(post_ln_forward)
    assert torch.equal(torch.rand(3), expected)
