"""Checkers for notebook 01 (input encoding): a batch of token ids, embedding lookup as a matmul, and
the model's input (token embedding + position embedding)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..tokenizer import get_tokenizer
from ._check import Case, CheckResult, Mistake, has_dtype, run_checks

__all__ = ["check_encode_batch", "check_model_input", "check_one_hot_embed"]

# ---------------------------------------------------------------- encode_batch

_BATCHES = [
    ("two prompts of different lengths",
     ["Every effort moves you", "I HAD always thought Jack Gisburn rather a cheap genius"]),
    ("three texts, the shortest in the middle",
     ["To be, or not to be: that is the question", "Hello, world!", "The quick brown fox jumps"]),
    ("texts that already have equal lengths", ["one two three", "four five six"]),
    ("the text with the fewest characters has the most tokens",
     ["The quick brown fox jumps over the lazy dog near the river bank", "🍎🍎🍎", "the the the the the the"]),
    ("a single text", ["Tokenizers split rare words like Zorblaxian into pieces"]),
    ("numbers, leading spaces and an emoji",
     ["  12345 apples 🍎 and 678 pears", " Hello there", "It costs $3.99 today"]),
]


def _rows(texts: list[str]) -> list[list[int]]:
    tok = get_tokenizer()
    return [tok.encode(t) for t in texts]


def _reference_encode_batch(texts: list[str]) -> torch.Tensor:
    rows = _rows(texts)
    n = min(len(r) for r in rows)
    return torch.tensor([r[:n] for r in rows], dtype=torch.long)


def _cut(texts: list[str], n_of: Callable[[list[list[int]]], int], tail: bool = False) -> torch.Tensor:
    rows = _rows(texts)
    n = n_of(rows)
    return torch.tensor([r[len(r) - n:] if tail else r[:n] for r in rows], dtype=torch.long)


def _pad(texts: list[str], value: int) -> torch.Tensor:
    rows = _rows(texts)
    n = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (n - len(r)) for r in rows], dtype=torch.long)


def _by_characters(texts: list[str]) -> torch.Tensor:
    n = min(len(t) for t in texts)
    return torch.tensor(_rows([t[:n] for t in texts]), dtype=torch.long)


_SHORTEST = "min(len(row) for row in rows)"
_ENCODE_MISTAKES = [
    Mistake(lambda texts: _cut(texts, lambda rows: min(map(len, rows)), tail=True),
            "you kept the last tokens of each text (row[-n:]); keep the first ones: row[:n]"),
    Mistake(lambda texts: torch.tensor(_rows(texts)),
            f"the rows were not cut to one length: cut every token list to the shortest, n = {_SHORTEST}"),
    Mistake(_by_characters,
            "the texts were cut to the shortest *character* count; encode first, then cut every token list to "
            f"the shortest *token* count, {_SHORTEST}"),
    Mistake(lambda texts: torch.tensor([r[:len(get_tokenizer().encode(min(texts, key=len)))] for r in _rows(texts)]),
            "the cut is the token count of the text with the fewest *characters*; a short text can have many "
            f"tokens (an emoji is several): cut to the fewest *tokens*, {_SHORTEST}"),
    Mistake(lambda texts: _cut(texts, lambda rows: min(map(len, rows)) - 1),
            f"every row is one token too short: cut to exactly n = {_SHORTEST} tokens (row[:n])"),
    Mistake(lambda texts: _cut(texts, lambda rows: min(map(len, rows)) + 1),
            f"the cut is one token too long: cut to exactly n = {_SHORTEST} tokens (row[:n])"),
    Mistake(lambda texts: _pad(texts, 0),
            "the rows were padded (with 0) to the longest text; this exercise cuts every row to the shortest"),
    Mistake(lambda texts: _pad(texts, 50256),
            "the rows were padded (with <|endoftext|>) to the longest text; this exercise cuts every row to the "
            "shortest"),
    Mistake(lambda texts: _reference_encode_batch(texts).T,
            "the tensor is (tokens, texts), transposed: it must be (texts, tokens), one row per text"),
    Mistake(lambda texts: _reference_encode_batch(texts)[:1],
            "only the first text made it into the batch: return one row per text (a batch of all of them)"),
]


def check_encode_batch(fn: Callable[[list[str]], torch.Tensor]) -> CheckResult:
    """``fn(texts)`` must encode every text and cut all of them to the shortest token count,
    keeping each text's first tokens: a LongTensor of shape (len(texts), shortest)."""
    cases = [Case(name, args=(list(texts),), expected=_reference_encode_batch(texts), dims=("text", "token"))
             for name, texts in _BATCHES]
    ids_are_long = has_dtype(torch.long, "token ids are integers; build the tensor with torch.tensor(rows, "
                                         "dtype=torch.long) and do not convert it to float")
    return run_checks("encode_batch", fn, cases, mistakes=_ENCODE_MISTAKES, properties=[ids_are_long])


# ---------------------------------------------------------------- one_hot_embed


def _embedding_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2024)
    specs = [
        ("3 ids, vocab 4, width 2 (the largest id is not in the input)", torch.tensor([0, 2, 1]), 4, 2),
        ("a batch of 2 x 3 ids with repeats, vocab 6, width 4", torch.tensor([[5, 5, 0], [3, 1, 3]]), 6, 4),
        ("a single id, vocab 10, width 2", torch.tensor([7]), 10, 2),
        ("a batch of 2 x 5 ids, vocab 50, width 8", torch.randint(0, 50, (2, 5), generator=g), 50, 8),
    ]
    cases = []
    for name, ids, vocab, dim in specs:
        weight = torch.randn(vocab, dim, generator=g)
        dims = ("id", "feature") if ids.dim() == 1 else ("text", "token", "feature")
        cases.append(Case(name, args=(ids, weight), expected=weight[ids], dims=dims))
    return cases


_ONE_HOT_MISTAKES = [
    Mistake(lambda ids, w: F.one_hot(ids).to(w.dtype) @ w,
            "F.one_hot(ids) was called without num_classes: its vectors are then only max(ids) + 1 long. Pass "
            "num_classes=weight.shape[0], the vocabulary size"),
    Mistake(lambda ids, w: F.one_hot(ids, num_classes=w.shape[1]).to(w.dtype) @ w,
            "num_classes was the table's width weight.shape[1]; it must be its number of rows (the vocabulary), "
            "weight.shape[0]"),
    Mistake(lambda ids, w: F.one_hot(ids, num_classes=w.shape[0]) @ w,
            "the one-hot tensor is integer (torch.long) and the table is float: convert it first, "
            "F.one_hot(...).to(weight.dtype)"),
    Mistake(lambda ids, w: F.one_hot(ids.flatten(), num_classes=w.shape[0]).to(w.dtype) @ w,
            "the ids were flattened: keep their shape, the result is ids.shape + (dim,); F.one_hot works on any "
            "shape and @ keeps the leading axes"),
    Mistake(lambda ids, w: F.one_hot(ids, num_classes=w.shape[0]).to(w.dtype) @ w.T,
            "the table was transposed (weight.T): weight is (vocab, dim) already, so one_hot @ weight picks its rows"),
    Mistake(lambda ids, w: torch.eye(w.shape[1])[ids] @ w,
            "the identity matrix was emb_dim wide (torch.eye(weight.shape[1])); one-hot vectors are as long as the "
            "vocabulary: torch.eye(weight.shape[0])"),
    Mistake(lambda ids, w: w.T @ F.one_hot(ids, num_classes=w.shape[0]).to(w.dtype).T,
            "the product came out transposed (dim, n): compute one_hot @ weight, the one-hot rows on the left"),
]


def check_one_hot_embed(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(ids, weight)`` must return one_hot(ids) @ weight: shape ids.shape + (weight.shape[1],)."""
    return run_checks("one_hot_embed", fn, _embedding_cases(), mistakes=_ONE_HOT_MISTAKES)


# ---------------------------------------------------------------- model_input


def _model_input(ids: torch.Tensor, tok_emb: torch.nn.Embedding, pos_emb: torch.nn.Embedding) -> torch.Tensor:
    return tok_emb(ids) + pos_emb(torch.arange(ids.shape[1]))


def _model_input_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2025)
    specs = [
        # description, batch, tokens, vocab, context, width, ids below the context length?
        ("2 texts of 3 tokens, vocab 20, context 8, width 4", 2, 3, 20, 8, 4, True),
        ("one text of 5 tokens", 1, 5, 20, 8, 4, True),
        ("3 texts of 4 tokens, ids up to 49 (more than the context length)", 3, 4, 50, 6, 5, False),
        ("2 texts filling the whole context of 6", 2, 6, 30, 6, 3, True),
    ]
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2025)
        for desc, b, t, vocab, ctx, d, small_ids in specs:
            tok_emb, pos_emb = torch.nn.Embedding(vocab, d), torch.nn.Embedding(ctx, d)
            high = min(vocab, ctx) if small_ids else vocab
            ids = torch.randint(0, high, (b, t), generator=g)
            if not small_ids:
                ids[:, 0] = vocab - 1  # certainly >= ctx: a lookup by token id in the position table fails
            with torch.no_grad():
                expected = _model_input(ids, tok_emb, pos_emb)
            cases.append(Case(desc, args=(ids, tok_emb, pos_emb), expected=expected,
                              dims=("text", "token", "feature")))
    return cases


_ARANGE = "pos_emb(torch.arange(T)) with T = ids.shape[1]"
_MODEL_INPUT_MISTAKES = [
    Mistake(lambda ids, te, pe: te(ids) + pe(ids),
            f"the positions were looked up by token id (pos_emb(ids)); the position table is indexed by position "
            f"0 .. T-1: {_ARANGE}"),
    Mistake(lambda ids, te, pe: te(ids),
            f"the position embedding is missing: add {_ARANGE} to tok_emb(ids)"),
    Mistake(lambda ids, te, pe: pe(torch.arange(ids.shape[1])).expand(ids.shape[0], -1, -1),
            "the token embedding is missing: the input is tok_emb(ids) + pos_emb(positions)"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(1, ids.shape[1] + 1)),
            "the positions start at 1: the first token is position 0, torch.arange(T) gives 0 .. T-1"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[0])),
            "the positions run over the batch (torch.arange(ids.shape[0]) or len(ids)); they run over the tokens: "
            "T = ids.shape[1]"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[0])).unsqueeze(1),
            "every token of text b got position b: the positions run over the tokens, torch.arange(ids.shape[1]), "
            "not over the texts"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(pe.num_embeddings)),
            f"the whole position table was added (torch.arange(context_length)); take only the first T rows: "
            f"{_ARANGE}"),
    Mistake(lambda ids, te, pe: torch.cat([te(ids), pe(torch.arange(ids.shape[1])).expand(ids.shape[0], -1, -1)], -1),
            "the two embeddings were concatenated (torch.cat): GPT-2 adds them, tok_emb(ids) + pos_emb(positions), "
            "so the width stays emb_dim"),
    Mistake(lambda ids, te, pe: torch.cat([te(ids), pe(torch.arange(ids.shape[1]))], -1),
            "the two embeddings were concatenated (torch.cat): GPT-2 adds them, so the width stays emb_dim"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[1])).sum(0),
            "the position vectors were summed over the positions: each token gets its own position's vector, "
            "tok_emb(ids) + pos_emb(torch.arange(T)) of shape (T, emb_dim), no sum"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[1])).unsqueeze(1),
            "the position vectors got an extra axis in the middle (unsqueeze(1)): pos_emb(torch.arange(T)) is "
            "(T, emb_dim) and broadcasts over the batch as it is (or unsqueeze(0))"),
    Mistake(lambda ids, te, pe: te(ids) + te(torch.arange(ids.shape[1])),
            "the positions were looked up in the token table (tok_emb(positions)); they have their own table: "
            "pos_emb(torch.arange(T))"),
    Mistake(lambda ids, te, pe: te(ids) + pe(torch.arange(ids.shape[1]).flip(0)),
            "the positions run backwards (T-1 .. 0): the first token is position 0, torch.arange(T)"),
    Mistake(lambda ids, te, pe: te(ids) * pe(torch.arange(ids.shape[1])),
            "the embeddings were multiplied: GPT-2 adds them, tok_emb(ids) + pos_emb(positions)"),
    Mistake(lambda ids, te, pe: (te(ids[0]) + pe(torch.arange(ids.shape[1]))).unsqueeze(0),
            "only the first text was embedded (ids[0]): it works for a batch of 1 only; tok_emb(ids) embeds every "
            "text at once and pos_emb(...) of shape (T, emb_dim) broadcasts over the batch"),
    Mistake(lambda ids, te, pe: te(ids[0]) + pe(torch.arange(ids.shape[1])),
            "only the first text was embedded (ids[0]) and the batch axis is gone: it works for a batch of 1 "
            "only; tok_emb(ids) embeds every text at once"),
    Mistake(lambda ids, te, pe: te(ids.float()) + pe(torch.arange(ids.shape[1])),
            "an embedding got float indices (the ids made floats, or torch.arange(..., dtype=torch.float) / "
            ".float() on the positions): a lookup needs integers; ids are torch.long already and so is "
            "torch.arange(T)"),
]


def check_model_input(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """``fn(ids, tok_emb, pos_emb)``: ids (B, T) long and two ``nn.Embedding`` tables -> the model's input
    (B, T, emb_dim) = tok_emb(ids) + pos_emb(torch.arange(T))."""

    def quiet(ids, tok_emb, pos_emb):  # the student's function runs without building a graph
        with torch.no_grad():
            return fn(ids, tok_emb, pos_emb)

    return run_checks("model_input", quiet, _model_input_cases(), mistakes=_MODEL_INPUT_MISTAKES)
