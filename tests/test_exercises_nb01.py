"""The notebook-01 checkers accept the worked solutions and reject the stubs and plausible mistakes."""

import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.exercises import check_encode_batch, check_one_hot_embed

tok = cu.get_tokenizer()


def encode_batch(texts):
    rows = [tok.encode(text) for text in texts]
    n = min(len(row) for row in rows)
    return torch.tensor([row[:n] for row in rows], dtype=torch.long)


def one_hot_embed(ids, weight):
    return F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype) @ weight


def stub(*args):
    raise NotImplementedError("your code here")


def test_encode_batch_solution_passes(capsys):
    assert check_encode_batch(encode_batch)
    assert capsys.readouterr().out.startswith("✅ encode_batch: all 5 checks passed")


def test_encode_batch_stub(capsys):
    assert not check_encode_batch(stub)
    assert capsys.readouterr().out.startswith("⏳ encode_batch: not implemented yet")


def test_encode_batch_keeping_the_last_tokens_is_rejected(capsys):
    def tails(texts):
        rows = [tok.encode(text) for text in texts]
        n = min(len(row) for row in rows)
        return torch.tensor([row[len(row) - n:] for row in rows])

    assert not check_encode_batch(tails)
    out = capsys.readouterr().out
    assert out.startswith("❌ encode_batch") and "keep the first ones" in out


def test_encode_batch_trimming_characters_is_rejected(capsys):
    def by_characters(texts):
        n = min(len(t) for t in texts)
        return cu.text_to_ids([t[:n] for t in texts])

    assert not check_encode_batch(by_characters)
    assert capsys.readouterr().out.startswith("❌ encode_batch")


def test_encode_batch_without_trimming_is_reported_not_raised(capsys):
    assert not check_encode_batch(lambda texts: cu.text_to_ids(texts))
    assert "raised ValueError" in capsys.readouterr().out
    assert not check_encode_batch(lambda texts: [tok.encode(t) for t in texts])
    assert "expected a tensor, got list" in capsys.readouterr().out


def test_one_hot_embed_solution_passes(capsys):
    assert check_one_hot_embed(one_hot_embed)
    assert capsys.readouterr().out.startswith("✅ one_hot_embed: all 4 checks passed")


def test_one_hot_embed_equals_nn_embedding():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(7, 5)
    ids = torch.tensor([[0, 6, 2], [2, 2, 1]])
    torch.testing.assert_close(one_hot_embed(ids, emb.weight), emb(ids))


def test_one_hot_embed_stub(capsys):
    assert not check_one_hot_embed(stub)
    assert capsys.readouterr().out.startswith("⏳ one_hot_embed: not implemented yet")


def test_one_hot_without_num_classes_is_rejected(capsys):
    assert not check_one_hot_embed(lambda ids, w: F.one_hot(ids).float() @ w)
    out = capsys.readouterr().out
    assert out.startswith("❌ one_hot_embed, case 1") and "raised RuntimeError" in out


def test_one_hot_embed_flattened_batch_is_rejected(capsys):
    assert not check_one_hot_embed(lambda ids, w: one_hot_embed(ids.flatten(), w))
    assert "the shape is (6, 4), expected (2, 3, 4)" in capsys.readouterr().out


def test_one_hot_embed_wrong_rows_are_rejected(capsys):
    assert not check_one_hot_embed(lambda ids, w: one_hot_embed((ids + 1) % w.shape[0], w))
    assert "largest difference" in capsys.readouterr().out
