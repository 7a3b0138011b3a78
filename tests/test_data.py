"""The corpus, the sliding windows and the batch schedule (course_utils.data)."""

import hashlib

import pytest
import torch

import course_utils.data as data
from course_utils import assets
from course_utils.assets import AssetError
from course_utils.data import BatchSchedule, TokenWindows, load_corpus
from course_utils.tokenizer import ENDOFTEXT_ID, get_tokenizer

# sha256 over the sorted sha256s of the play files; changes only if the shipped plays change.
CORPUS_SHA256 = "58b1ba7e5f56919da08307ff5d5f66b5603cb893918f7e31cd3a498834539913"


# ---------------------------------------------------------------- the corpus


def test_corpus_split_by_whole_plays():
    c = load_corpus()
    assert len(c.train_plays) == 35 and len(c.val_plays) == 2
    assert set(c.val_plays) == {"julius_caesar", "twelfth_night"}
    assert not set(c.train_plays) & set(c.val_plays)
    assert set(c.train_plays) | set(c.val_plays) == set(c.texts)
    assert "hamlet" in c.train_plays and list(c.train_plays) == sorted(c.train_plays)
    assert 4_000_000 < sum(len(t) for t in c.texts.values()) < 5_500_000


def test_corpus_hash_is_stable():
    c = load_corpus()
    assert c.sha256 == CORPUS_SHA256
    assert load_corpus() is c  # loaded once per process


def test_corpus_is_verified_against_the_manifest(monkeypatch):
    """A play whose file does not match its recorded sha256 stops the load with an AssetError."""
    manifest = assets.load_manifest()
    files = [dict(e) for e in manifest["files"]]
    victim = next(e for e in files if e["path"].endswith("/hamlet.txt"))
    victim["sha256"] = hashlib.sha256(b"not hamlet").hexdigest()
    for module in (assets, data):
        monkeypatch.setattr(module, "load_manifest", lambda: {**manifest, "files": files})
    with pytest.raises(AssetError, match="hamlet.txt"):
        load_corpus.__wrapped__()  # the uncached load


def test_val_token_ids_join_plays_with_endoftext():
    c = load_corpus()
    ids = c.token_ids("val")
    tok = get_tokenizer()
    first = tok.encode_ordinary(c.texts[c.val_plays[0]])
    assert ids.dtype == torch.long and ids.dim() == 1
    assert ids[: len(first)].tolist() == first
    assert ids[len(first)].item() == ENDOFTEXT_ID
    assert (ids == ENDOFTEXT_ID).sum().item() == len(c.val_plays) - 1
    assert c.text("val").count("<|endoftext|>") == 1


def test_token_ids_prefix_equals_the_start_of_the_whole():
    c = load_corpus()
    whole = c.token_ids("val")
    first_play = len(get_tokenizer().encode_ordinary(c.texts[c.val_plays[0]]))
    for n in (10, first_play, first_play + 5):  # inside the first play, at its end, after the separator
        assert torch.equal(c.token_ids("val", max_tokens=n), whole[:n])
    with pytest.raises(ValueError, match="max_tokens"):
        c.token_ids("val", max_tokens=0)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        c.token_ids("test")


# ---------------------------------------------------------------- sliding windows


def test_windows_target_is_input_shifted_by_one():
    ids = torch.arange(100, 120)  # 20 tokens
    w = TokenWindows(ids, context_length=4)
    x, y = w[0]
    assert x.tolist() == [100, 101, 102, 103] and y.tolist() == [101, 102, 103, 104]
    for i in range(len(w)):
        x, y = w[i]
        assert torch.equal(x[1:], y[:-1])


def test_windows_stride_and_count():
    ids = torch.arange(20)
    # no overlap (stride = context): starts 0, 4, 8, 12; a window at 16 would need token 20
    w = TokenWindows(ids, context_length=4)
    assert len(w) == 4 and list(w.starts) == [0, 4, 8, 12]
    # overlapping windows: starts 0, 2, ..., 14 (the last full input + target ends at token 19)
    w = TokenWindows(ids, context_length=4, stride=2)
    assert len(w) == 8 and w[7][1].tolist() == [15, 16, 17, 18]
    for n, ctx, stride in [(20, 4, 1), (21, 4, 4), (5, 4, 3), (1000, 32, 7)]:
        expected = (n - ctx - 1) // stride + 1
        assert len(TokenWindows(torch.arange(n), ctx, stride)) == expected


def test_windows_batch_stacks_the_windows_it_names():
    w = TokenWindows(torch.arange(50), context_length=8)
    x, y = w.batch(torch.tensor([2, 0]))
    assert x.shape == y.shape == (2, 8)
    assert x[0, 0].item() == 16 and y[1, -1].item() == 8
    w = TokenWindows(torch.randint(0, 1000, (200,)), context_length=7, stride=3)
    for indices in (range(5), [9, 1, 9], torch.tensor([0, len(w) - 1]), [-1]):  # as w[i], one by one
        x, y = w.batch(indices)
        assert torch.equal(x, torch.stack([w[int(i)][0] for i in indices]))
        assert torch.equal(y, torch.stack([w[int(i)][1] for i in indices]))
    with pytest.raises(IndexError):  # a window that does not exist, as w[len(w)]
        w.batch([len(w)])


def test_pick_takes_all_the_first_or_spread_windows():
    """What a loss is taken over (losses.windows_loss, the training evaluations, baselines.eval_pairs)."""
    w = TokenWindows(torch.arange(10 * 8 + 1), context_length=8)  # 10 windows
    assert w.pick() == list(range(10))
    assert w.pick(4) == [0, 1, 2, 3]
    assert w.pick(4, spread=True) == [0, 2, 5, 7]  # the whole text, from its first window on
    assert w.pick(5, spread=True) == [0, 2, 4, 6, 8]
    assert w.pick(1, spread=True) == [0]
    assert w.pick(99) == w.pick(99, spread=True) == list(range(10))  # more than there are: all of them
    for spread in (False, True):
        picked = w.pick(7, spread=spread)
        assert len(set(picked)) == 7 and all(0 <= i < 10 for i in picked)
    for bad in (0, -3, 1.5, "4"):
        with pytest.raises(ValueError, match=f"max_windows must be a whole number >= 1, got {bad!r}"):
            w.pick(bad, spread=True)


def test_pick_spread_covers_both_held_out_plays():
    """The training evaluations score eval_batches * batch_size validation windows: the first 160 are
    all Julius Caesar, the first play; spread, half of them are in Twelfth Night."""
    corpus = load_corpus()
    w = TokenWindows(corpus.token_ids("val"), context_length=128)
    first_play = len(get_tokenizer().encode_ordinary(corpus.texts[corpus.val_plays[0]])) // 128  # 287
    assert max(w.pick(160)) < first_play
    spread = w.pick(160, spread=True)
    assert 70 <= sum(i >= first_play for i in spread) <= 90 and max(spread) >= len(w) - 4


def test_text_shorter_than_one_window_is_a_clear_error():
    with pytest.raises(ValueError, match=r"fewer than one window needs \(context_length \+ 1 = 9\)"):
        TokenWindows(torch.arange(8), context_length=8)
    TokenWindows(torch.arange(9), context_length=8)  # exactly one window is fine
    with pytest.raises(ValueError, match="must be positive"):
        TokenWindows(torch.arange(50), context_length=8, stride=0)


def test_windows_refuse_float_ids():
    """Float ids would be truncated to other tokens without a word: 2.7 -> 2."""
    with pytest.raises(ValueError, match=r"token ids must be integers, got dtype torch.float32; convert with ids.long\(\)"):
        TokenWindows(torch.arange(50).float() + 0.7, context_length=8)
    with pytest.raises(ValueError, match="must be integers, got dtype torch.bool"):
        TokenWindows(torch.ones(50, dtype=torch.bool), context_length=8)
    w = TokenWindows(list(range(50)), context_length=8)  # plain lists and other integer types are fine
    assert w.ids.dtype == torch.long
    assert torch.equal(TokenWindows(torch.arange(50, dtype=torch.int32), 8).ids, w.ids)


# ---------------------------------------------------------------- batch schedule


def test_schedule_is_a_pure_function_of_seed_and_step():
    a, b = BatchSchedule(100, 8, seed=5), BatchSchedule(100, 8, seed=5)
    steps = [3, 0, 11, 3, 25, 1]  # any order: no hidden position to carry around
    assert all(torch.equal(a.global_indices(s), b.global_indices(s)) for s in steps)
    assert not torch.equal(a.global_indices(0), BatchSchedule(100, 8, seed=6).global_indices(0))


def test_schedule_epoch_covers_windows_once_then_reshuffles():
    s = BatchSchedule(100, 8, seed=0)
    assert s.steps_per_epoch == 12  # 4 windows left over each epoch
    epoch0 = torch.cat([s.global_indices(k) for k in range(12)])
    epoch1 = torch.cat([s.global_indices(12 + k) for k in range(12)])
    assert len(set(epoch0.tolist())) == 96 and len(set(epoch1.tolist())) == 96  # no repeats in an epoch
    assert not torch.equal(epoch0, epoch1)  # a new order every epoch
    assert all(0 <= i < 100 for i in epoch0.tolist() + epoch1.tolist())


def test_ranks_partition_the_global_batch_exactly():
    world = 4
    ranks = [BatchSchedule(100, 8, seed=3, rank=r, world_size=world) for r in range(world)]
    for step in (0, 7, 12, 40):
        parts = [r.local_indices(step) for r in ranks]
        assert all(len(p) == 2 for p in parts)
        together = torch.cat(parts).sort().values
        assert torch.equal(together, ranks[0].global_indices(step).sort().values)
    single = BatchSchedule(100, 8, seed=3)
    assert torch.equal(single.local_indices(5), single.global_indices(5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive whole number, got 0"),
        ({"batch_size": -4}, "batch_size must be a positive whole number"),
        ({"batch_size": 6, "world_size": 4}, r"batch_size \(6\) must be divisible by the number of processes \(4\)"),
        ({"batch_size": 8, "rank": 2, "world_size": 2}, "need 0 <= rank < world_size"),
        ({"n_windows": 3, "batch_size": 8}, "only 3 windows, fewer than one batch of 8"),
    ],
)
def test_schedule_bad_input(kwargs, message):
    args = {"n_windows": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        BatchSchedule(**args)
