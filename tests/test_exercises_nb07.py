"""The notebook 07 checkers accept the worked solutions, reject the stub, and name each classic mistake."""

import pytest
import torch

import course_utils as cu
from course_utils.exercises import check_gpt_param_count, check_top_k_next_tokens, nb07


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def first_line(capsys):
    return capsys.readouterr().out.splitlines()[0]


# --- gpt_param_count --------------------------------------------------------------------------------


def gpt_param_count(cfg, tied=True):
    d, v = cfg.emb_dim, cfg.vocab_size
    bias = d if cfg.qkv_bias else 0
    block = 2 * 2 * d + 3 * (d * d + bias) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    total = v * d + cfg.context_length * d + cfg.n_layers * block + 2 * d
    return total if tied else total + v * d


def test_gpt_count_accepts_solution(capsys):
    assert check_gpt_param_count(gpt_param_count)
    assert first_line(capsys).startswith("✅ gpt_param_count: all 8 checks passed")


def test_gpt_count_solution_matches_the_notebook_numbers():
    cfg = cu.GPTConfig.from_preset("gpt2-small")
    assert (gpt_param_count(cfg), gpt_param_count(cfg, tied=False)) == (124_439_808, 163_037_184)


def test_gpt_count_rejects_stub(capsys):
    assert not check_gpt_param_count(stub)
    assert first_line(capsys).startswith("⏳ gpt_param_count: not implemented yet")


@pytest.mark.parametrize("mistake", nb07._COUNT_MISTAKES, ids=lambda m: m.hint[:40])
def test_gpt_count_names_each_mistake(mistake, capsys):
    assert not check_gpt_param_count(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_gpt_count_names_student_mistakes(capsys):
    def head_counted_twice(cfg, tied=True):  # ignores tied
        return gpt_param_count(cfg, tied=False)

    def forgot_positions(cfg, tied=True):
        return gpt_param_count(cfg, tied) - cfg.context_length * cfg.emb_dim

    assert not check_gpt_param_count(head_counted_twice)
    line = first_line(capsys)
    assert line.startswith("❌ gpt_param_count, case 1 (GPT-2 small, tied=True)") and "count that matrix once" in line
    assert not check_gpt_param_count(forgot_positions)
    assert "positional embedding (context_length x emb_dim) is missing" in first_line(capsys)


def test_gpt_count_unknown_mistake_still_helps(capsys):
    assert not check_gpt_param_count(lambda cfg, tied=True: gpt_param_count(cfg, tied) + 3 * cfg.n_layers * cfg.emb_dim)
    assert "x n_layers x emb_dim: something in every block" in first_line(capsys)


# --- top_k_next_tokens ------------------------------------------------------------------------------


def top_k_next_tokens(logits, k):
    probs = torch.softmax(logits[:, -1, :], dim=-1)
    top = torch.topk(probs, k, dim=-1)
    return top.values, top.indices


def test_top_k_accepts_solution(capsys):
    assert check_top_k_next_tokens(top_k_next_tokens)
    assert first_line(capsys).startswith("✅ top_k_next_tokens: all 3 checks passed")


def test_top_k_rejects_stub(capsys):
    assert not check_top_k_next_tokens(stub)
    assert first_line(capsys).startswith("⏳ top_k_next_tokens: not implemented yet")


@pytest.mark.parametrize("mistake", nb07._TOP_K_MISTAKES, ids=lambda m: m.hint[:40])
def test_top_k_names_each_mistake(mistake, capsys):
    assert not check_top_k_next_tokens(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_top_k_names_student_mistakes(capsys):
    def batch_of_one(logits, k):  # the classic "works for batch 1" bug
        top = torch.topk(torch.softmax(logits[0, -1, :], dim=-1), k)
        return top.values[None], top.indices[None]

    def first_position(logits, k):
        return top_k_next_tokens(logits[:, :1, :], k)

    def float_ids(logits, k):
        probs, ids = top_k_next_tokens(logits, k)
        return probs, ids.float()

    for wrong, words in [(batch_of_one, "only the first sequence was used"),
                         (first_position, "after the FIRST position"), (float_ids, "the ids are floats"),
                         (lambda logits, k: top_k_next_tokens(logits, k)[1], "expected a pair (probs, ids)")]:
        assert not check_top_k_next_tokens(wrong)
        assert words in first_line(capsys)
