"""Text generation: turn next-token logits into new tokens, one step at a time.

The package, file by file:

* ``sampling.py``: greedy, temperature, top-k, top-p: the filters notebook 08 plots (the teaching file);
* ``loop.py``: ``generate`` and ``generate_stream``, the loop notebook 08 writes by hand;
* ``fast.py``: speed machinery (a preallocated KV cache, ``prepare_for_generation``);
* ``stream.py``: tokens to text as they come; ``__main__.py``: the command line::

    python -m course_utils.generate --prompt "To be, or not to be" --temperature 0.8 --top-k 40
"""

from .fast import PreallocatedKVCache, prepare_for_generation
from .loop import generate, generate_stream
from .sampling import Sampler, next_token_distribution, sample_next_token, top_k_filter, top_p_filter
from .stream import stream_text

__all__ = [
    "PreallocatedKVCache",
    "Sampler",
    "generate",
    "generate_stream",
    "next_token_distribution",
    "prepare_for_generation",
    "sample_next_token",
    "stream_text",
    "top_k_filter",
    "top_p_filter",
]
