"""GPTConfig: every number that decides the shape of a GPT-2 model, checked when it is made."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .checks import is_finite_number, is_whole_number

# The four sizes OpenAI released (Radford et al. 2019, "Language Models are Unsupervised
# Multitask Learners", table 2). They differ only in width, depth and number of heads.
PRESETS: dict[str, dict[str, int]] = {
    "gpt2-small": {"emb_dim": 768, "n_layers": 12, "n_heads": 12},  # 124M
    "gpt2-medium": {"emb_dim": 1024, "n_layers": 24, "n_heads": 16},  # 355M
    "gpt2-large": {"emb_dim": 1280, "n_layers": 36, "n_heads": 20},  # 774M
    "gpt2-xl": {"emb_dim": 1600, "n_layers": 48, "n_heads": 25},  # 1558M
}


@dataclass(frozen=True)
class GPTConfig:
    """Hyper-parameters of a GPT-2 model. The defaults are GPT-2 small.

    vocab_size      number of token ids (GPT-2's BPE has 50257)
    context_length  most tokens the model sees at once (positional embeddings)
    emb_dim         width of every token vector ("d_model")
    n_heads         attention heads per layer; emb_dim must divide evenly among them
    n_layers        transformer blocks stacked on top of each other
    drop_rate       dropout probability used while training (0.1, as in GPT-1 and Hugging Face's
                    GPT2Config; OpenAI's released GPT-2 code has no dropout)
    qkv_bias        whether the query/key/value projections have a bias (GPT-2: yes)
    """

    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"):
            value = getattr(self, name)
            if not is_whole_number(value):
                raise ValueError(
                    f"GPTConfig.{name} must be a whole number, got {value!r} ({type(value).__name__})"
                )
            if value <= 0:
                raise ValueError(f"GPTConfig.{name} must be positive, got {value}")
        if self.emb_dim % self.n_heads != 0:
            raise ValueError(
                f"GPTConfig.emb_dim ({self.emb_dim}) must be divisible by n_heads ({self.n_heads}): "
                f"each head gets emb_dim / n_heads dimensions. Try n_heads in "
                f"{_divisors(self.emb_dim)}"
            )
        rate = self.drop_rate
        if not is_finite_number(rate):
            raise ValueError(f"GPTConfig.drop_rate must be a number, got {rate!r}")
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"GPTConfig.drop_rate must satisfy 0 <= drop_rate < 1, got {rate}")
        if not isinstance(self.qkv_bias, bool):
            raise ValueError(f"GPTConfig.qkv_bias must be True or False, got {self.qkv_bias!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head (64 for every GPT-2 size)."""
        return self.emb_dim // self.n_heads

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GPTConfig:
        """A released GPT-2 size by name, e.g. ``GPTConfig.from_preset("gpt2-small")``.

        Keyword overrides change single fields: ``from_preset("gpt2-small", context_length=256)``.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> GPTConfig:
        """A copy with some fields changed (the config itself is frozen)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GPTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GPTConfig field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def differences(self, other: GPTConfig, ignore: tuple[str, ...] = ("drop_rate",)) -> list[str]:
        """Human-readable list of the fields where two configs disagree (shape-relevant ones)."""
        out = []
        for f in dataclasses.fields(self):
            if f.name in ignore:
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                out.append(f"{f.name}: {a} vs {b}")
        return out


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0]
