"""Import of Hugging Face GPT-2 weights (``model.safetensors`` / ``pytorch_model.bin``) into ``GPTModel``.

Hugging Face's GPT-2 names its tensors differently, stores its linear layers transposed
(``Conv1D``: (in, out)) and fuses query, key and value into one ``c_attn``; ``_hf_to_ours`` is
the table that maps every tensor, and ``load_hf_gpt2_weights`` checks every name and shape.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..config import GPTConfig
from ..model import GPTModel
from .checkpoints import read_safetensors

__all__ = ["load_hf_gpt2_weights"]


def _hf_to_ours(cfg: GPTConfig) -> list[tuple[str, str, Callable[[torch.Tensor], torch.Tensor]]]:
    """(hf_name, our_name, transform) for every tensor. HF GPT-2 uses Conv1D layers whose
    weights are stored (in, out), the transpose of nn.Linear's (out, in); its query, key and
    value projections are one fused ``c_attn`` of width 3 * emb_dim."""
    d = cfg.emb_dim

    def t(x):
        return x.t()

    def part(i, weight):
        if weight:
            return lambda x: x[:, i * d : (i + 1) * d].t()
        return lambda x: x[i * d : (i + 1) * d]

    def same(x):
        return x

    rows = [("wte.weight", "tok_emb.weight", same), ("wpe.weight", "pos_emb.weight", same)]
    for b in range(cfg.n_layers):
        h, o = f"h.{b}.", f"blocks.{b}."
        rows += [
            (h + "ln_1.weight", o + "norm1.weight", same),
            (h + "ln_1.bias", o + "norm1.bias", same),
        ]
        for i, name in enumerate(("W_query", "W_key", "W_value")):
            rows.append((h + "attn.c_attn.weight", o + f"attn.{name}.weight", part(i, True)))
            if cfg.qkv_bias:
                rows.append((h + "attn.c_attn.bias", o + f"attn.{name}.bias", part(i, False)))
        rows += [
            (h + "attn.c_proj.weight", o + "attn.out_proj.weight", t),
            (h + "attn.c_proj.bias", o + "attn.out_proj.bias", same),
            (h + "ln_2.weight", o + "norm2.weight", same),
            (h + "ln_2.bias", o + "norm2.bias", same),
            (h + "mlp.c_fc.weight", o + "ff.fc_in.weight", t),
            (h + "mlp.c_fc.bias", o + "ff.fc_in.bias", same),
            (h + "mlp.c_proj.weight", o + "ff.fc_out.weight", t),
            (h + "mlp.c_proj.bias", o + "ff.fc_out.bias", same),
        ]
    rows += [("ln_f.weight", "final_norm.weight", same), ("ln_f.bias", "final_norm.bias", same)]
    return rows


def _read_hf_state_dict(path_or_state_dict) -> dict[str, torch.Tensor]:
    if isinstance(path_or_state_dict, Mapping):
        return dict(path_or_state_dict)
    path = Path(path_or_state_dict)
    if path.is_dir():
        candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
        found = [c for c in candidates if c.exists()]
        if not found:
            raise ValueError(f"{path} holds neither model.safetensors nor pytorch_model.bin")
        path = found[0]
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    # Only tensors are unpickled (weights_only=True): no arbitrary code runs.
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        # torch's own message suggests weights_only=False, which would run code from the file: don't.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path} is damaged or not a PyTorch weights file ({first[:120]}); download it again, "
            f"preferably as model.safetensors"
        ) from None


def load_hf_gpt2_weights(model: GPTModel, path_or_state_dict) -> GPTModel:
    """Copy Hugging Face GPT-2 weights into ``model`` (in place) and return it.

    ``path_or_state_dict``: a ``model.safetensors`` (or ``pytorch_model.bin``) file, a folder
    holding one, or the state dict of a ``GPT2LMHeadModel`` / ``GPT2Model``. A tensor with the
    wrong shape, a missing tensor or an unexpected one raises a ValueError that names it.
    """
    sd = _read_hf_state_dict(path_or_state_dict)
    # GPT2LMHeadModel prefixes "transformer."; its lm_head.weight is the tied wte.weight, and
    # old checkpoints carry the causal-mask buffers attn.bias / attn.masked_bias.
    sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    sd.pop("lm_head.weight", None)
    sd = {k: v for k, v in sd.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}

    ours = dict(model.named_parameters())
    rows = _hf_to_ours(model.cfg)
    expected_hf = {hf for hf, _, _ in rows}
    missing = [hf for hf in dict.fromkeys(hf for hf, _, _ in rows) if hf not in sd]
    if missing:
        raise ValueError(
            f"checkpoint has no tensor {missing[0]!r} ({len(missing)} missing in all); is it a "
            f"GPT-2 checkpoint with {model.cfg.n_layers} layers?"
        )
    unexpected = sorted(set(sd) - expected_hf)
    if unexpected:
        raise ValueError(
            f"checkpoint has a tensor the model does not: {unexpected[0]!r} "
            f"({len(unexpected)} in all); does it have more layers than the model's {model.cfg.n_layers}?"
        )
    d = model.cfg.emb_dim
    fused_shapes = {"attn.c_attn.weight": (d, 3 * d), "attn.c_attn.bias": (3 * d,)}
    new = {}
    for hf, our, fn in rows:
        src = sd[hf]
        want = tuple(ours[our].shape)
        fused = fused_shapes.get(hf.split(".", 2)[-1])  # q, k, v are slices of c_attn
        if fused is not None and tuple(src.shape) != fused:
            raise ValueError(_shape_error(hf, src.shape, our, want, model.cfg))
        value = fn(src)
        if tuple(value.shape) != want:
            raise ValueError(_shape_error(hf, src.shape, our, want, model.cfg))
        new[our] = value
    with torch.no_grad():
        for our, value in new.items():
            ours[our].copy_(value)
    return model


def _shape_error(hf, hf_shape, our, our_shape, cfg) -> str:
    return (
        f"tensor {hf!r} has shape {tuple(hf_shape)} in the checkpoint, which does not fit "
        f"{our!r} of shape {tuple(our_shape)} in the model (GPTConfig emb_dim={cfg.emb_dim}, "
        f"vocab_size={cfg.vocab_size}, context_length={cfg.context_length}); build the model with "
        f"the checkpoint's config, e.g. GPTConfig.from_preset('gpt2-small')"
    )
