"""The notebook-01 checkers accept the worked solutions, report the stubs as not implemented, and name
each classic mistake."""

import pytest
import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.exercises import check_encode_batch, check_model_input, check_one_hot_embed, nb01

tok = cu.get_tokenizer()


def stub(*args):
    raise NotImplementedError("your code here")


# ---- the worked solutions (as in notebooks/solutions/01_input_encoding_solutions.ipynb)


def encode_batch(texts):
    rows = [tok.encode(text) for text in texts]
    n = min(len(row) for row in rows)
    return torch.tensor([row[:n] for row in rows], dtype=torch.long)


def one_hot_embed(ids, weight):
    return F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype) @ weight


def model_input(ids, tok_emb, pos_emb):
    T = ids.shape[1]
    return tok_emb(ids) + pos_emb(torch.arange(T))


def _rows(texts):
    return [tok.encode(t) for t in texts]


def _out(capsys):
    return capsys.readouterr().out


# ---- encode_batch


def test_encode_batch_solution_passes(capsys):
    assert check_encode_batch(encode_batch)
    assert _out(capsys).startswith("✅ encode_batch: all 6 checks passed")


def test_encode_batch_stub(capsys):
    assert not check_encode_batch(stub)
    assert _out(capsys).startswith("⏳ encode_batch: not implemented yet")


def _tails(texts):
    rows = _rows(texts)
    n = min(len(row) for row in rows)
    return torch.tensor([row[len(row) - n:] for row in rows])


def _padded(texts):
    return torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in _rows(texts)], batch_first=True)


def _one_short(texts):
    rows = _rows(texts)
    n = min(len(row) for row in rows)
    return torch.tensor([row[: n - 1] for row in rows])


ENCODE_WRONG = [
    ("keeps the last tokens", _tails, "keep the first ones"),
    ("float ids", lambda texts: encode_batch(texts).float(), "dtype torch.float32, expected torch.int64"),
    ("no trimming", lambda texts: torch.tensor(_rows(texts)), "not cut to one length"),
    ("pads to the longest", _padded, "padded (with 0) to the longest"),
    ("one token short", _one_short, "one token too short"),
    ("(tokens, texts)", lambda texts: encode_batch(texts).T, "transposed"),
    ("first text only", lambda texts: encode_batch(texts)[:1], "only the first text"),
    ("fewest characters", lambda texts: torch.tensor([r[:len(tok.encode(min(texts, key=len)))] for r in _rows(texts)]),
     "fewest *characters*"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in ENCODE_WRONG], ids=[w[0] for w in ENCODE_WRONG])
def test_encode_batch_names_the_mistake(capsys, wrong, fragment):
    assert not check_encode_batch(wrong)
    out = _out(capsys)
    assert out.startswith("❌ encode_batch") and fragment in out


def test_encode_batch_list_and_crash_are_reported_not_raised(capsys):
    assert not check_encode_batch(lambda texts: cu.text_to_ids(texts))
    assert "raised ValueError" in _out(capsys)
    assert not check_encode_batch(lambda texts: [tok.encode(t) for t in texts])
    assert "expected a tensor, got list: build one with torch.tensor" in _out(capsys)


# ---- one_hot_embed


def test_one_hot_embed_solution_passes(capsys):
    assert check_one_hot_embed(one_hot_embed)
    assert _out(capsys).startswith("✅ one_hot_embed: all 4 checks passed")


def test_one_hot_embed_equals_nn_embedding():
    emb = torch.nn.Embedding(7, 5)
    ids = torch.tensor([[0, 6, 2], [2, 2, 1]])
    torch.testing.assert_close(one_hot_embed(ids, emb.weight), emb(ids))


def test_one_hot_embed_stub(capsys):
    assert not check_one_hot_embed(stub)
    assert _out(capsys).startswith("⏳ one_hot_embed: not implemented yet")


ONE_HOT_WRONG = [
    ("no num_classes", lambda ids, w: F.one_hot(ids).float() @ w, "without num_classes"),
    ("num_classes = width", lambda ids, w: F.one_hot(ids, w.shape[1]).float() @ w, "weight.shape[0]"),
    ("integer one-hot", lambda ids, w: F.one_hot(ids, w.shape[0]) @ w, "convert it first"),
    ("flattened ids", lambda ids, w: one_hot_embed(ids.flatten(), w), "the ids were flattened"),
    ("weight.T", lambda ids, w: F.one_hot(ids, w.shape[0]).float() @ w.T, "the table was transposed"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in ONE_HOT_WRONG], ids=[w[0] for w in ONE_HOT_WRONG])
def test_one_hot_embed_names_the_mistake(capsys, wrong, fragment):
    assert not check_one_hot_embed(wrong)
    out = _out(capsys)
    assert out.startswith("❌ one_hot_embed") and fragment in out


def test_one_hot_embed_wrong_rows_say_where(capsys):
    assert not check_one_hot_embed(lambda ids, w: one_hot_embed((ids + 1) % w.shape[0], w))
    out = _out(capsys)
    assert "the values differ by up to" in out and "most at id " in out


# ---- model_input


def test_model_input_solution_passes(capsys):
    assert check_model_input(model_input)
    assert _out(capsys).startswith("✅ model_input: all 4 checks passed")


def test_model_input_accepts_other_right_answers(capsys):
    assert check_model_input(lambda ids, te, pe: te.weight[ids] + pe.weight[: ids.shape[1]])
    assert check_model_input(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[-1])).unsqueeze(0))
    assert _out(capsys).count("✅") == 2


def test_model_input_equals_the_course_model_input():
    cfg = cu.GPTConfig(vocab_size=50, context_length=8, emb_dim=4, n_heads=2, n_layers=1, drop_rate=0.0)
    model = cu.GPTModel(cfg).eval()
    ids = torch.randint(0, 50, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(model_input(ids, model.tok_emb, model.pos_emb),
                                   model.tok_emb(ids) + model.pos_emb.weight[:5])


def test_model_input_stub(capsys):
    assert not check_model_input(stub)
    assert _out(capsys).startswith("⏳ model_input: not implemented yet")


def _first_text_only(ids, tok_emb, pos_emb):
    x = tok_emb(ids[0]) + pos_emb(torch.arange(ids.shape[1]))
    return x.unsqueeze(0)


MODEL_INPUT_WRONG = [
    ("positions by token id", lambda ids, te, pe: te(ids) + pe(ids), "looked up by token id"),
    ("no positions", lambda ids, te, pe: te(ids), "the position embedding is missing"),
    ("arange from 1", lambda ids, te, pe: te(ids) + pe(torch.arange(1, ids.shape[1] + 1)), "start at 1"),
    ("arange over the batch", lambda ids, te, pe: te(ids) + pe(torch.arange(len(ids))), "run over the batch"),
    ("concatenated", lambda ids, te, pe: torch.cat(
        [te(ids), pe(torch.arange(ids.shape[1])).repeat(ids.shape[0], 1, 1)], dim=-1), "concatenated"),
    ("batch of 1 only", _first_text_only, "works for a batch of 1 only"),
    ("float positions", lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[1]).float()), "float indices"),
    ("multiplied", lambda ids, te, pe: te(ids) * pe(torch.arange(ids.shape[1])), "multiplied"),
    ("whole table", lambda ids, te, pe: te(ids) + pe.weight, "whole position table"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in MODEL_INPUT_WRONG], ids=[w[0] for w in MODEL_INPUT_WRONG])
def test_model_input_names_the_mistake(capsys, wrong, fragment):
    assert not check_model_input(wrong)
    out = _out(capsys)
    assert out.startswith("❌ model_input") and fragment in out


def test_model_input_notices_a_changed_embedding(capsys):
    def edits_the_table(ids, tok_emb, pos_emb):
        pos_emb.weight.mul_(0)
        return tok_emb(ids) + pos_emb(torch.arange(ids.shape[1]))

    assert not check_model_input(edits_the_table)
    assert "changed its input (argument 3, its parameter weight)" in _out(capsys)


# ---- every listed mistake is reachable: fed as the answer, its own hint comes back


MISTAKES = ([(check_encode_batch, m) for m in nb01._ENCODE_MISTAKES]
            + [(check_one_hot_embed, m) for m in nb01._ONE_HOT_MISTAKES]
            + [(check_model_input, m) for m in nb01._MODEL_INPUT_MISTAKES])


@pytest.mark.parametrize("check, mistake", MISTAKES, ids=[f"{c.__name__}-{m.hint[:40]}" for c, m in MISTAKES])
def test_every_mistake_is_recognised(capsys, check, mistake):
    assert not check(mistake.fn)
    assert f"it looks like {mistake.hint}" in _out(capsys)
