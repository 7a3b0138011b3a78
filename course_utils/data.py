"""The training text and the data pipeline: plays -> token ids -> sliding windows -> batches.

The corpus is the 37 plays of Shakespeare shipped in ``assets/data/shakespeare/`` (public domain,
see the README). Validation uses whole plays the model never trains on, so the validation loss
measures how well the model does on new text, not on text it has memorised.

Batches are a pure function of (seed, step): the order of windows in epoch e is a permutation
drawn from ``seed + e``, and step s takes the next slice of it. That makes a resumed run see
exactly the batches an uninterrupted one would, and lets several processes (DDP) each take their
own share of every global batch without talking to each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import torch

from .assets import asset_path, load_manifest
from .checks import check_id_tensor, is_whole_number
from .tokenizer import ENDOFTEXT_ID, get_tokenizer

# Held out for validation: one tragedy and one comedy, never trained on.
VAL_PLAYS = ("julius_caesar", "twelfth_night")
_PLAYS_DIR = "data/shakespeare/"


@dataclass(frozen=True, eq=False)  # hashed by identity: one corpus object per process
class Corpus:
    """Plays split into training and validation text (each play separated by <|endoftext|>)."""

    train_plays: tuple[str, ...]
    val_plays: tuple[str, ...]
    texts: dict  # play name -> full text
    sha256: str  # identifies exactly which files (their sha256s) make up the corpus

    def text(self, split: str) -> str:
        return "\n<|endoftext|>\n".join(self.texts[p] for p in self._plays(split))

    def _plays(self, split: str) -> tuple[str, ...]:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train_plays if split == "train" else self.val_plays

    def token_ids(self, split: str, max_tokens: int | None = None) -> torch.Tensor:
        """All token ids of a split as one 1-D tensor, plays joined by the <|endoftext|> id.

        ``max_tokens``: only the first that many (the same ids as ``token_ids(split)[:max_tokens]``,
        but only the plays needed are tokenised, which makes small runs start fast).
        """
        if max_tokens is not None and (not is_whole_number(max_tokens) or max_tokens <= 0):
            raise ValueError(f"max_tokens must be a positive whole number or None, got {max_tokens!r}")
        return _token_ids(self, split, max_tokens)


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """The shipped Shakespeare corpus, every file verified against its sha256."""
    entries = [e for e in load_manifest()["files"] if e["path"].startswith(_PLAYS_DIR)]
    names = sorted(e["path"][len(_PLAYS_DIR) : -len(".txt")] for e in entries)
    texts = {n: asset_path(f"{_PLAYS_DIR}{n}.txt").read_text(encoding="utf-8") for n in names}
    digest = hashlib.sha256("".join(sorted(e["sha256"] for e in entries)).encode()).hexdigest()
    train = tuple(n for n in names if n not in VAL_PLAYS)
    return Corpus(train_plays=train, val_plays=VAL_PLAYS, texts=texts, sha256=digest)


@lru_cache(maxsize=8)
def _token_ids(corpus: Corpus, split: str, max_tokens: int | None) -> torch.Tensor:
    tok = get_tokenizer()
    ids: list[int] = []
    for i, play in enumerate(corpus._plays(split)):
        if max_tokens is not None and len(ids) >= max_tokens:
            break
        if i:
            ids.append(ENDOFTEXT_ID)
        ids.extend(tok.encode_ordinary(corpus.texts[play]))
    return torch.tensor(ids[:max_tokens], dtype=torch.long)


class TokenWindows(torch.utils.data.Dataset):
    """Sliding windows over a token stream: item i is (input, target), target shifted by one.

    ``stride`` = how far the window moves between items (``context_length`` = no overlap).
    """

    def __init__(self, ids: torch.Tensor, context_length: int, stride: int | None = None):
        stride = context_length if stride is None else stride
        if context_length <= 0 or stride <= 0:
            raise ValueError(f"context_length and stride must be positive, got {context_length}, {stride}")
        ids = torch.as_tensor(ids).flatten()
        if len(ids) < context_length + 1:
            raise ValueError(
                f"the text has {len(ids)} tokens, fewer than one window needs (context_length + 1 = "
                f"{context_length + 1}); use more text or a shorter context_length"
            )
        check_id_tensor(ids.unsqueeze(0))  # integers (float ids would be silently truncated)
        self.ids = ids.long()
        self.context_length = context_length
        self.stride = stride
        self.starts = range(0, len(ids) - context_length, stride)
        self._start_ids = torch.arange(0, len(ids) - context_length, stride)  # self.starts, for batch()
        self._offsets = torch.arange(context_length + 1)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.starts[i]
        chunk = self.ids[s : s + self.context_length + 1]
        return chunk[:-1], chunk[1:]

    def pick(self, max_windows: int | None = None, spread: bool = False) -> list[int]:
        """The windows a loss is taken over: all of them (``max_windows`` None), the first
        ``max_windows``, or with ``spread`` that many evenly spread over the whole text, from the
        first window on (so a sample sees every part of the text, not only its start)."""
        n = len(self) if max_windows is None else max_windows
        if not is_whole_number(n) or n < 1:
            raise ValueError(f"max_windows must be a whole number >= 1, got {max_windows!r}")
        n = min(n, len(self))
        return [i * len(self) // n for i in range(n)] if spread else list(range(n))

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the windows at ``indices`` into (inputs, targets), each (len(indices), context_length)."""
        starts = self._start_ids[torch.as_tensor(indices, dtype=torch.long)]  # IndexError for a missing window
        rows = self.ids[starts.unsqueeze(1) + self._offsets]  # (B, C + 1): each window and its next token
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()


class BatchSchedule:
    """Which windows make up global batch number ``step``, and this process's share of it.

    The windows are shuffled once per epoch with a generator seeded by ``seed + epoch``; a global
    batch is ``batch_size`` consecutive windows of that order; with ``world_size`` processes, rank r
    takes every world_size-th of them. Everything is a function of the step: nothing to save.
    """

    def __init__(self, n_windows: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if not is_whole_number(batch_size) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
        if world_size <= 0 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if batch_size % world_size:
            raise ValueError(f"batch_size ({batch_size}) must be divisible by the number of processes ({world_size})")
        if n_windows < batch_size:
            raise ValueError(
                f"the training text has only {n_windows} windows, fewer than one batch of {batch_size}; "
                f"use more text, a smaller batch_size or a shorter context_length"
            )
        self.n_windows, self.batch_size, self.seed = n_windows, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = n_windows // batch_size
        self._order_epoch, self._order = -1, None

    def global_indices(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._order_epoch:
            g = torch.Generator().manual_seed(self.seed + epoch)
            self._order, self._order_epoch = torch.randperm(self.n_windows, generator=g), epoch
        return self._order[k * self.batch_size : (k + 1) * self.batch_size]

    def local_indices(self, step: int) -> torch.Tensor:
        return self.global_indices(step)[self.rank :: self.world_size]
