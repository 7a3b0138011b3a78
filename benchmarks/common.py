"""Pieces the benchmark scripts share: the machine's name and a transformers GPT-2 of any size."""

from __future__ import annotations

import course_utils as cu
from course_utils.checks import machine_name as cpu_name  # noqa: F401 (the benchmarks import it from here)


def hf_model(cfg: cu.GPTConfig):
    """transformers' GPT2LMHeadModel with the shape of ``cfg``, GPT-2's GELU and eps, no dropout,
    random weights, attention through scaled_dot_product_attention."""
    import transformers

    hf_cfg = transformers.GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.context_length, n_embd=cfg.emb_dim, n_layer=cfg.n_layers,
        n_head=cfg.n_heads, activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    return transformers.GPT2LMHeadModel._from_config(hf_cfg, attn_implementation="sdpa")
