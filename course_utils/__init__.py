"""course_utils: the finished pieces of the GPT-2-from-scratch course, one clean implementation each.

Notebooks build each piece step by step, prove it equals the version here, and from then on
import it from here. Modules follow the order of the course:
config, tokenizer, attention, layers, block, model, weights (then generate, data, train, ...).
"""

from .assets import AssetError
from .attention import KVCache, MultiHeadAttention
from .block import TransformerBlock
from .config import PRESETS, GPTConfig
from .data import load_corpus
from .generate import generate, generate_stream
from .layers import GELU, FeedForward, LayerNorm, gelu_tanh
from .losses import per_token_loss, perplexity
from .model import GPTModel, ParameterCounts, count_parameters, parameter_counts
from .tokenizer import ENDOFTEXT, ENDOFTEXT_ID, get_tokenizer, ids_to_text, text_to_ids
from .weights import (
    Checkpoint,
    gpt2_weights_path,
    load_checkpoint,
    load_course_model,
    load_gpt2,
    load_gpt2_or_course_model,
    load_hf_gpt2_weights,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "PRESETS",
    "AssetError",
    "Checkpoint",
    "ENDOFTEXT",
    "ENDOFTEXT_ID",
    "FeedForward",
    "GELU",
    "GPTConfig",
    "GPTModel",
    "KVCache",
    "LayerNorm",
    "MultiHeadAttention",
    "ParameterCounts",
    "TransformerBlock",
    "count_parameters",
    "gelu_tanh",
    "gpt2_weights_path",
    "generate",
    "generate_stream",
    "load_corpus",
    "per_token_loss",
    "perplexity",
    "get_tokenizer",
    "ids_to_text",
    "load_checkpoint",
    "load_course_model",
    "load_gpt2",
    "load_gpt2_or_course_model",
    "load_hf_gpt2_weights",
    "parameter_counts",
    "read_checkpoint",
    "save_checkpoint",
    "text_to_ids",
]
