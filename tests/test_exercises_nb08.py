import torch

from course_utils.exercises import check_greedy_decode, check_top_k_filter


def top_k_solution(logits, k):
    idx = torch.topk(logits, k, dim=-1).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def top_k_threshold(logits, k):  # the classic bug: ties at the border slip through
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_k_flat(logits, k):  # forgets the batch: the k largest of the whole tensor
    flat = logits.flatten()
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[torch.topk(flat, k).indices] = True
    return logits.masked_fill(~keep.view_as(logits), float("-inf"))


def greedy_solution(model, ids, max_new_tokens):
    ctx = model.cfg.context_length
    for _ in range(max_new_tokens):
        logits = model(ids[:, -ctx:])
        nxt = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    return ids


def greedy_no_crop(model, ids, max_new_tokens):
    for _ in range(max_new_tokens):
        ids = torch.cat([ids, model(ids)[:, -1, :].argmax(-1, keepdim=True)], dim=1)
    return ids


def greedy_first_position(model, ids, max_new_tokens):
    ctx = model.cfg.context_length
    for _ in range(max_new_tokens):
        ids = torch.cat([ids, model(ids[:, -ctx:])[:, 0, :].argmax(-1, keepdim=True)], dim=1)
    return ids


def stub(*args):
    raise NotImplementedError("your code here")


def test_top_k_checker(capsys):
    assert check_top_k_filter(top_k_solution)
    assert "✅ top_k_exact:" in capsys.readouterr().out  # named after the function the notebook asks for
    assert not check_top_k_filter(stub)
    assert "⏳ top_k_exact:" in capsys.readouterr().out
    assert not check_top_k_filter(top_k_threshold)
    out = capsys.readouterr().out
    assert "❌" in out and "exactly k" in out
    assert not check_top_k_filter(top_k_flat)
    assert "❌" in capsys.readouterr().out


def test_greedy_checker(capsys):
    assert check_greedy_decode(greedy_solution)
    assert "✅" in capsys.readouterr().out
    assert not check_greedy_decode(stub)
    assert "⏳" in capsys.readouterr().out
    assert not check_greedy_decode(greedy_no_crop)
    assert "context" in capsys.readouterr().out  # the model's own error names the context length
    assert not check_greedy_decode(greedy_first_position)
    assert "LAST position" in capsys.readouterr().out


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_top_k_filter(top_k_solution)
    check_greedy_decode(greedy_solution)
    assert torch.equal(torch.rand(3), expected)
