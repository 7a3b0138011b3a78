"""course_utils.generate: decoding strategies, the KV cache, per-row end-of-text, the CLI."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import course_utils as cu
from course_utils.generate import (
    PreallocatedKVCache,
    generate,
    generate_stream,
    next_token_distribution,
    sample_next_token,
    stream_text,
    top_k_filter,
    top_p_filter,
)
from course_utils.generate.__main__ import build_parser, main

REPO = Path(__file__).resolve().parent.parent
SAMPLING = [
    {},  # greedy
    {"temperature": 1.0},
    {"temperature": 0.7, "top_k": 20},
    {"temperature": 1.3, "top_p": 0.9},
    {"temperature": 0.9, "top_k": 50, "top_p": 0.8},
]


VOCAB = 2000  # small enough to be fast, large enough for near-ties between logits


@pytest.fixture
def model(tiny_cfg):
    return cu.GPTModel(tiny_cfg.replace(vocab_size=VOCAB)).eval()


@pytest.fixture
def small_vocab_model():
    """12 tokens with nearly equal probabilities: any token comes up soon when sampling."""
    cfg = cu.GPTConfig(vocab_size=12, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)
    torch.manual_seed(3)
    return cu.GPTModel(cfg).eval()


def _gen(model, ids, n, kw, use_cache, seed=7):
    return generate(model, ids, n, generator=torch.Generator().manual_seed(seed), use_cache=use_cache, **kw)


# ---------------------------------------------------------------- cache == no cache


@pytest.mark.parametrize("kw", SAMPLING, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "greedy")
def test_cached_equals_uncached(model, kw):
    ids = torch.randint(0, VOCAB, (3, 5))
    cached = _gen(model, ids, 20, kw, use_cache=True)
    uncached = _gen(model, ids, 20, kw, use_cache=False)
    assert cached.shape == (3, 25)
    assert torch.equal(cached[:, :5], ids)
    assert torch.equal(cached, uncached)


def test_generate_really_uses_the_cache(tiny_cfg):
    model = cu.GPTModel(tiny_cfg.replace(vocab_size=2000)).eval()
    calls = []
    model.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append((args[0].shape[1], kwargs.get("cache") is not None)), with_kwargs=True
    )
    ids = torch.randint(0, 2000, (2, 5))
    cached = generate(model, ids, 6)
    assert calls == [(5, True)] + [(1, True)] * 5  # the prompt once, then one new token per step
    calls.clear()
    uncached = generate(model, ids, 6, use_cache=False)
    assert calls == [(n, False) for n in range(5, 11)]  # the whole text every step
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("kw", [{}, {"temperature": 1.0, "top_k": 30}], ids=["greedy", "sampled"])
@pytest.mark.parametrize("prompt_len", [4, 31, 32, 45])  # context_length is 32
def test_cached_equals_uncached_past_the_context(model, kw, prompt_len):
    ids = torch.randint(0, VOCAB, (2, prompt_len))
    cached = _gen(model, ids, 40, kw, use_cache=True)
    uncached = _gen(model, ids, 40, kw, use_cache=False)
    assert cached.shape == (2, prompt_len + 40)
    assert torch.equal(cached[:, :prompt_len], ids)  # the whole prompt comes back, even if cropped
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("kw", [{}, {"temperature": 1.0, "top_p": 0.95}], ids=["greedy", "sampled"])
def test_cached_equals_uncached_with_gpt2_vocabulary(tiny_cfg, kw):
    model = cu.GPTModel(tiny_cfg).eval()  # all 50257 tokens, context_length 32
    ids = torch.randint(0, 50257, (2, 20))
    assert torch.equal(_gen(model, ids, 20, kw, use_cache=True), _gen(model, ids, 20, kw, use_cache=False))


def test_past_the_context_the_model_sees_the_last_window(model):
    ctx = model.cfg.context_length
    ids = torch.randint(0, VOCAB, (1, ctx + 10))
    out = generate(model, ids, 3)
    # a long prompt acts exactly like its last context_length tokens
    assert torch.equal(out[:, -3:], generate(model, ids[:, -ctx:], 3)[:, -3:])
    # and every step is the argmax of the model on the last context_length tokens
    seq = ids
    for _ in range(3):
        nxt = model(seq[:, -ctx:])[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)
    assert torch.equal(out, seq)


def test_preallocated_cache_equals_the_models_cache(model):
    ids = torch.randint(0, VOCAB, (2, 7))
    plain, pre = model.new_cache(), PreallocatedKVCache(model.cfg.n_layers, capacity=10)
    with torch.no_grad():
        for chunk in (ids[:, :5], ids[:, 5:6], ids[:, 6:7]):  # a prefill, then one token at a time
            torch.testing.assert_close(model(chunk, cache=pre), model(chunk, cache=plain), rtol=0, atol=0)
    assert len(pre) == len(plain) == 7
    assert torch.equal(pre.keys[1], plain.keys[1]) and torch.equal(pre.values[0], plain.values[0])
    with pytest.raises(ValueError, match="at most 10"):
        pre.update(0, *(torch.zeros(2, 4, 4, 16),) * 2)


def test_greedy_matches_a_hand_written_loop(model):
    ids = torch.randint(0, VOCAB, (2, 6))
    seq = ids
    with torch.no_grad():
        for _ in range(8):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generate(model, ids, 8), seq)


def test_seeded_sampling_is_reproducible_and_seed_dependent(model):
    ids = torch.randint(0, VOCAB, (2, 4))
    kw = {"temperature": 1.0}
    a, b = _gen(model, ids, 15, kw, True, seed=1), _gen(model, ids, 15, kw, True, seed=1)
    c = _gen(model, ids, 15, kw, True, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_stream_yields_the_same_tokens(model):
    ids = torch.randint(0, VOCAB, (2, 4))
    steps = list(generate_stream(model, ids, 6, temperature=1.0, generator=torch.Generator().manual_seed(5)))
    assert len(steps) == 6 and all(s.shape == (2,) for s in steps)
    full = generate(model, ids, 6, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.stack(steps, 1), full[:, 4:])
    assert not torch.is_inference_mode_enabled() and not steps[0].is_inference()


def test_model_mode_is_restored_and_eval_is_used(tiny_cfg):
    model = cu.GPTModel(tiny_cfg.replace(drop_rate=0.5)).train()
    ids = torch.randint(0, VOCAB, (1, 4))
    a = generate(model, ids, 5)
    b = generate(model, ids, 5)
    assert torch.equal(a, b)  # no dropout: eval mode inside
    assert model.training  # and train mode back afterwards


def test_max_new_tokens_zero_returns_the_prompt(model):
    ids = torch.randint(0, VOCAB, (2, 5))
    out = generate(model, ids, 0)
    assert torch.equal(out, ids)
    assert list(generate_stream(model, ids, 0)) == []


# ---------------------------------------------------------------- end of text per row


def _first(row: torch.Tensor, token: int):
    hits = (row == token).nonzero()
    return int(hits[0]) if len(hits) else None


def _eos_run(model, ids, n, eos, use_cache=True):
    g = torch.Generator().manual_seed(0)
    return generate(model, ids, n, temperature=1.0, eos_id=eos, generator=g, use_cache=use_cache)


def test_rows_stop_at_their_own_eos(small_vocab_model):
    ids = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    free = _eos_run(small_vocab_model, ids, 30, None)[:, 3:]  # no eos: 30 sampled tokens per row
    # an eos that every row meets, at three different steps
    eos = next(t for t in range(12) if len({_first(r, t) for r in free} - {None}) == 3)
    firsts = [_first(r, eos) for r in free]
    out = _eos_run(small_vocab_model, ids, 30, eos)
    assert out.shape == (3, 3 + max(firsts) + 1)  # stops when the last row is done
    for row, f in enumerate(firsts):
        new = out[row, 3:]
        assert torch.equal(new[: f + 1], free[row, : f + 1])  # its own tokens up to its eos
        assert torch.all(new[f:] == eos)  # then only eos
    assert torch.equal(out, _eos_run(small_vocab_model, ids, 30, eos, use_cache=False))


def test_a_row_without_eos_keeps_going(small_vocab_model):
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    free = _eos_run(small_vocab_model, ids, 8, None)[:, 3:]
    eos = next(t for t in range(12) if _first(free[0], t) is not None and _first(free[1], t) is None)
    out = _eos_run(small_vocab_model, ids, 8, eos)
    assert out.shape == (2, 11)  # row 1 never finished, so all 8 steps ran
    f = _first(free[0], eos)
    assert torch.all(out[0, 3 + f :] == eos) and torch.equal(out[1, 3:], free[1])


# ---------------------------------------------------------------- top-k, top-p, temperature


def test_top_k_keeps_exactly_k_with_ties_for_a_batch():
    logits = torch.tensor(
        [
            [1.0, 3.0, 3.0, 3.0, 0.0, 2.0],  # three-way tie at the top
            [5.0, 1.0, 1.0, 1.0, 1.0, 0.0],  # four-way tie at the border
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # all equal
        ]
    )
    for k in (1, 2, 3, 4, 6):
        kept = torch.isfinite(top_k_filter(logits, k))
        assert kept.sum(-1).tolist() == [k, k, k]
        # every kept logit is >= every dropped one, row by row
        for row, keep in zip(logits, kept, strict=True):
            if (~keep).any():
                assert row[keep].min() >= row[~keep].max()
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept[1, 0] and kept[1, 1:5].sum() == 1  # the 5 and exactly one of the tied ones
    assert torch.isfinite(top_k_filter(logits, 100)).all()  # k above the vocabulary keeps everything


def test_top_k_random_batches():
    torch.manual_seed(1)
    logits = torch.randint(0, 4, (16, 40)).float()  # many ties
    for k in (1, 5, 13):
        probs = next_token_distribution(logits, 1.0, top_k=k)
        assert ((probs > 0).sum(-1) == k).all()
        torch.testing.assert_close(probs.sum(-1), torch.ones(16))


def test_top_p_keeps_the_smallest_set():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5], [0.25, 0.25, 0.25, 0.25]])
    cases = {0.5: [1, 1, 2], 0.51: [2, 2, 3], 0.8: [2, 2, 4], 0.81: [3, 3, 4], 0.01: [1, 1, 1], 1.0: [4, 4, 4]}
    for p, sizes in cases.items():
        out = top_p_filter(probs, p)
        assert (out > 0).sum(-1).tolist() == sizes, p
        torch.testing.assert_close(out.sum(-1), torch.ones(3))
    out = top_p_filter(probs, 0.8)
    assert out[0, :2].tolist() == pytest.approx([0.625, 0.375]) and out[0, 2:].tolist() == [0, 0]
    assert out[1, 2:].tolist() == pytest.approx([0.375, 0.625])


def test_top_p_minimal_on_random_distributions():
    torch.manual_seed(2)
    probs = torch.softmax(torch.randn(32, 50) * 2, dim=-1)
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = top_p_filter(probs, p) > 0
        for row, keep in zip(probs, kept, strict=True):
            mass = row[keep].sum().item()
            assert mass >= p - 1e-6  # enough mass
            assert mass - row[keep].min().item() < p  # and no kept token could be dropped
            assert row[keep].min() >= row[~keep].max() if (~keep).any() else True
            assert keep[row.argmax()]  # always the top token


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    p1, p_cold, p_hot = (next_token_distribution(logits, t) for t in (1.0, 0.5, 2.0))
    torch.testing.assert_close(p1, torch.softmax(logits, -1))
    assert p_cold[0, 0] > p1[0, 0] > p_hot[0, 0]
    assert next_token_distribution(logits, 0.0).tolist() == [[1.0, 0.0, 0.0]]  # greedy


def test_a_tiny_temperature_approaches_greedy_without_overflow():
    # logits / 1e-30 overflows float32 to inf, and softmax of inf is nan: the shift avoids it
    logits = torch.tensor([[2.0, 1.0, 0.0], [-5.0, 3.0, 2.9]])
    for t in (1e-30, 1e-45):
        probs = next_token_distribution(logits, t)
        assert torch.isfinite(probs).all()
        assert probs.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        g = torch.Generator().manual_seed(0)
        assert sample_next_token(logits, t, generator=g).tolist() == [0, 1]


def test_sample_next_token_shapes_and_greedy():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 1.0]])
    assert sample_next_token(logits).tolist() == [1, 0]
    g = torch.Generator().manual_seed(0)
    assert sample_next_token(logits, 1.0, top_k=1, generator=g).tolist() == [1, 0]
    assert sample_next_token(logits, 1.0, top_p=0.01, generator=g).tolist() == [1, 0]


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": -3}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": -0.2}, "top_p"),
        ({"eos_id": VOCAB}, "eos_id"),
        ({"generator": 123}, "generator"),
    ],
)
def test_bad_sampling_arguments_raise_at_the_call(model, kwargs, message):
    ids = torch.randint(0, VOCAB, (1, 3))
    with pytest.raises(ValueError, match=message):
        generate(model, ids, 5, **kwargs)
    with pytest.raises(ValueError, match=message):  # raised at the call, not at the first step
        generate_stream(model, ids, 5, **kwargs)


@pytest.mark.parametrize("n", [-1, 2.0, None])
def test_bad_max_new_tokens(model, n):
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, torch.tensor([[1, 2]]), n)


def test_bad_prompts(model):
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        generate(model, torch.tensor([[1, VOCAB]]), 3)
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        generate(model, torch.tensor([[-1, 2]]), 3)
    with pytest.raises(ValueError, match="integers"):
        generate(model, torch.tensor([[1.0, 2.0]]), 3)
    with pytest.raises(ValueError, match="unsqueeze"):
        generate(model, torch.tensor([1, 2]), 3)
    with pytest.raises(ValueError, match="tensor"):
        generate(model, [[1, 2]], 3)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(torch.zeros(1, 4), 0)
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(torch.ones(1, 4) / 4, 0)


# ---------------------------------------------------------------- streaming text and the CLI


def test_stream_text_holds_back_split_utf8_characters():
    import io

    tok = cu.get_tokenizer()
    text = "Café 🎭 naïve"
    ids = tok.encode(text)
    # some token of this text ends in the middle of a character: its bytes alone are not UTF-8
    assert any(not _is_utf8(tok.decode_single_token_bytes(i)) for i in ids)
    out = io.StringIO()
    got = stream_text((torch.tensor([i]) for i in ids), tok, out)
    assert got == text and out.getvalue() == text
    assert "\ufffd" not in out.getvalue()
    out = io.StringIO()
    stream_text((torch.tensor([i]) for i in ids + [50256, 11]), tok, out, eos_id=50256)
    assert out.getvalue() == text  # stops at end-of-text and does not print it


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _cli(capsys, *args):
    """Run the command line in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse and the error paths exit
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_streams_text_from_a_checkpoint(tmp_path, tiny_cfg, capsys):
    model = cu.GPTModel(tiny_cfg)
    path = cu.save_checkpoint(model, tmp_path / "tiny.safetensors")
    args = ["--prompt", "To be, or not", "--checkpoint", str(path), "--max-new-tokens", "12"]
    code, out, err = _cli(capsys, *args, "--temperature", "0")
    assert code == 0, err
    ids = cu.text_to_ids("To be, or not")
    expected = cu.ids_to_text(generate(model.eval(), ids, 12, eos_id=50256)[0])
    assert len(expected) > len("To be, or not")
    assert out == expected + "\n"
    sampled = [_cli(capsys, *args, "--temperature", "1.0", "--top-k", "50", "--top-p", "0.9", "--seed", "3")
               for _ in range(2)]
    assert sampled[0][0] == 0, sampled[0][2]
    assert sampled[0][1] == sampled[1][1] and sampled[0][1].startswith("To be, or not")
    assert len(sampled[0][1]) > len("To be, or not\n")
    code, uncached, _ = _cli(capsys, *args, "--temperature", "0", "--no-cache")
    assert code == 0 and uncached == out


def test_cli_reports_bad_arguments_and_missing_files(tmp_path, capsys):
    code, _, err = _cli(capsys, "--prompt", "Hi", "--checkpoint", str(tmp_path / "missing.safetensors"))
    assert code == 2 and err.startswith("error: no checkpoint at") and err.count("\n") == 1
    code, _, err = _cli(capsys, "--prompt", "Hi", "--temperature", "-1", "--checkpoint", "x")
    assert code == 2 and err.startswith("error: temperature must be a number >= 0")
    code, _, err = _cli(capsys, "--prompt", "Hi", "--top-k", "0", "--checkpoint", "x")
    assert code == 2 and "top_k must be a whole number >= 1" in err
    code, _, err = _cli(capsys, "--prompt", "Hi", "--top-k", "two")
    assert code == 2 and "--top-k: invalid int value: 'two'" in err  # the option table's type
    code, _, err = _cli(capsys, "--prompt", "Hi", "--model", "gpt3")
    assert code == 2 and "invalid choice: 'gpt3'" in err
    code, _, err = _cli(capsys, "--prompt", "Hi", "--model", "gpt2", "--checkpoint", "x")
    assert code == 2 and "give --checkpoint or --model gpt2, not both" in err


def test_cli_option_table_is_explicit():
    from course_utils.generate.__main__ import OPTIONS

    types = {flag: spec.get("type") for flag, spec in OPTIONS}
    assert types["--temperature"] is float and types["--top-k"] is int and types["--max-new-tokens"] is int
    assert build_parser().parse_args(["--prompt", "x"]).model == "course"


def test_readme_sample_is_what_the_course_model_writes():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme.split("58 new tokens after the prompt", 1)[1].split("```\n", 2)[1]
    out = generate(cu.load_course_model(), cu.text_to_ids("ROMEO.\n"), 58, temperature=0.8, top_k=40,
                   generator=torch.Generator().manual_seed(1))
    assert cu.ids_to_text(out[0]) + "\n" == shown


def test_cli_empty_prompt_and_starting_from_endoftext(tmp_path, tiny_cfg, capsys):
    model = cu.GPTModel(tiny_cfg)
    path = str(cu.save_checkpoint(model, tmp_path / "tiny.safetensors"))
    code, _, err = _cli(capsys, "--prompt", "", "--checkpoint", path)
    assert code == 2 and "--prompt is empty" in err
    code, out, err = _cli(capsys, "--prompt", "<|endoftext|>", "--checkpoint", path, "--max-new-tokens", "3",
                          "--temperature", "0")
    assert code == 0, err
    new = generate(model.eval(), torch.tensor([[50256]]), 3, eos_id=50256)[0, 1:].tolist()
    assert 50256 not in new  # three new tokens, so three must be printed
    assert out == "<|endoftext|>" + cu.ids_to_text(new) + "\n"
    assert len(out) > len("<|endoftext|>\n")


def test_cli_without_checkpoint_explains_when_the_course_model_is_missing(tmp_path):
    import json
    import os
    import shutil

    # an assets folder with the tokenizer but without the trained model
    (tmp_path / "tokenizer").mkdir()
    shutil.copy(REPO / "assets" / "tokenizer" / "gpt2.tiktoken", tmp_path / "tokenizer")
    manifest = json.loads((REPO / "assets" / "MANIFEST.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["path"] == "tokenizer/gpt2.tiktoken"]
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    res = subprocess.run(
        [sys.executable, "-m", "course_utils.generate", "--prompt", "Hi", "--max-new-tokens", "2"],
        capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "COURSE_ASSETS_DIR": str(tmp_path)},
    )
    assert res.returncode != 0 and "not available" in res.stderr and "--checkpoint" in res.stderr
    assert "Traceback" not in res.stderr


def test_prepare_for_generation_keeps_every_value(model, tmp_path):
    from course_utils.generate import prepare_for_generation

    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.randint(0, VOCAB, (2, 5))
    expected = generate(model, ids, 10)
    assert prepare_for_generation(model) is model
    prepare_for_generation(model)  # a second call changes nothing
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.blocks[0].attn.W_query.weight.stride() == (1, model.cfg.emb_dim)  # (in, out) in memory
    assert model.blocks[0].ff.fc_out.weight.is_contiguous()  # left as it was
    assert model.tok_emb.weight.stride() == (1, VOCAB)
    assert model.out_head.weight is model.tok_emb.weight  # tying untouched
    assert torch.equal(generate(model, ids, 10), expected)
    assert torch.equal(generate(model, ids, 10, use_cache=False), generate(model, ids, 10))
    path = cu.save_checkpoint(model, tmp_path / "m.safetensors")
    loaded = cu.load_checkpoint(path)
    assert all(torch.equal(loaded.state_dict()[k], before[k]) for k in before)


# ---------------------------------------------------------------- checks once, logits of the last position only


def test_arguments_are_checked_once_not_per_token(model, monkeypatch):
    import importlib

    checks = importlib.import_module("course_utils.checks")
    sampling = importlib.import_module("course_utils.generate.sampling")  # cu.generate is the function
    model_mod = importlib.import_module("course_utils.model")

    calls = {"sampling": 0, "range": 0, "model_range": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(sampling, "check_sampling", counting("sampling", sampling.check_sampling))
    monkeypatch.setattr(checks, "check_token_range", counting("range", checks.check_token_range))
    monkeypatch.setattr(model_mod, "check_token_range", counting("model_range", model_mod.check_token_range))
    ids = torch.randint(0, VOCAB, (2, 4))
    for use_cache in (True, False):
        for kw in SAMPLING:
            calls.update(sampling=0, range=0, model_range=0)
            out = _gen(model, ids, 20, kw, use_cache)
            assert out.shape == (2, 24)
            assert calls == {"sampling": 1, "range": 1, "model_range": 0}, (kw, use_cache)  # not once per token


def test_generation_computes_logits_for_the_last_position_only(model):
    rows = []
    handle = model.out_head.register_forward_hook(lambda mod, inp, out: rows.append(tuple(inp[0].shape)))
    try:
        ids = torch.randint(0, VOCAB, (3, 7))
        for use_cache in (True, False):
            rows.clear()
            generate(model, ids, 5, use_cache=use_cache)
            assert rows == [(3, 1, model.cfg.emb_dim)] * 5  # the prompt too: one position, not 7
    finally:
        handle.remove()
    with torch.no_grad():
        full = model(ids)
        last = model(ids, last_only=True)
    assert last.shape == (3, 1, VOCAB)
    torch.testing.assert_close(last, full[:, -1:], rtol=1e-5, atol=1e-5)
