"""The notebook 07 checkers accept the worked solutions, and reject the stub and plausible mistakes."""

import torch

import course_utils as cu
from course_utils.exercises import check_gpt_param_count, check_top_k_next_tokens


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- gpt_param_count --------------------------------------------------------------------------------


def gpt_param_count(cfg, tied=True):
    d, v = cfg.emb_dim, cfg.vocab_size
    bias = d if cfg.qkv_bias else 0
    block = 2 * 2 * d + 3 * (d * d + bias) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    total = v * d + cfg.context_length * d + cfg.n_layers * block + 2 * d
    return total if tied else total + v * d


def count_forgetting_positions(cfg, tied=True):
    return gpt_param_count(cfg, tied) - cfg.context_length * cfg.emb_dim


def count_ignoring_tying(cfg, tied=True):
    return gpt_param_count(cfg, tied=False)


def test_gpt_count_accepts_solution(capsys):
    assert check_gpt_param_count(gpt_param_count)
    assert capsys.readouterr().out.startswith("✅ gpt_param_count: all 8 checks passed")


def test_gpt_count_solution_matches_the_notebook_numbers():
    cfg = cu.GPTConfig.from_preset("gpt2-small")
    assert (gpt_param_count(cfg), gpt_param_count(cfg, tied=False)) == (124_439_808, 163_037_184)


def test_gpt_count_rejects_stub(capsys):
    assert not check_gpt_param_count(stub)
    assert capsys.readouterr().out.startswith("⏳ gpt_param_count: not implemented yet")


def test_gpt_count_rejects_mistakes(capsys):
    assert not check_gpt_param_count(count_forgetting_positions)
    out = capsys.readouterr().out
    assert out.startswith("❌ gpt_param_count, case 1 (GPT-2 small, tied=True)") and "124439808" in out
    assert not check_gpt_param_count(count_ignoring_tying)
    assert capsys.readouterr().out.startswith("❌ gpt_param_count, case 1 (GPT-2 small, tied=True)")


# --- top_k_next_tokens ------------------------------------------------------------------------------


def top_k_next_tokens(logits, k):
    probs = torch.softmax(logits[:, -1, :], dim=-1)  # (B, V): the next token after the last position
    top = torch.topk(probs, k, dim=-1)  # largest first
    return top.values, top.indices  # (B, k), (B, k)


def top_k_of_first_row_only(logits, k):  # the classic "works for batch 1" bug
    probs = torch.softmax(logits[0, -1, :], dim=-1)
    top = torch.topk(probs, k)
    return top.values.expand(logits.shape[0], k), top.indices.expand(logits.shape[0], k)


def top_k_of_logits(logits, k):  # forgot the softmax
    top = torch.topk(logits[:, -1, :], k, dim=-1)
    return top.values, top.indices


def top_k_at_first_position(logits, k):
    return top_k_next_tokens(logits[:, :1, :], k)


def test_top_k_accepts_solution(capsys):
    assert check_top_k_next_tokens(top_k_next_tokens)
    assert capsys.readouterr().out.startswith("✅ top_k_next_tokens: all 3 checks passed")


def test_top_k_rejects_stub(capsys):
    assert not check_top_k_next_tokens(stub)
    assert capsys.readouterr().out.startswith("⏳ top_k_next_tokens: not implemented yet")


def test_top_k_rejects_mistakes(capsys):
    assert not check_top_k_next_tokens(top_k_of_first_row_only)
    assert capsys.readouterr().out.startswith("❌ top_k_next_tokens, case 2 (3 sequences")
    for wrong in (top_k_of_logits, top_k_at_first_position):
        assert not check_top_k_next_tokens(wrong)
        assert capsys.readouterr().out.startswith("❌ top_k_next_tokens, case 1")


def test_top_k_rejects_wrong_return_type(capsys):
    assert not check_top_k_next_tokens(lambda logits, k: torch.softmax(logits[:, -1], -1).topk(k).indices)
    assert "expected a pair (probs, ids)" in capsys.readouterr().out
