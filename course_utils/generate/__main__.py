"""``python -m course_utils.generate --prompt "..."``: continue a prompt, streaming the text.

    python -m course_utils.generate --prompt "To be, or not to be" --temperature 0.8 --top-k 40
    python -m course_utils.generate --model gpt2 --prompt "Hello, my dog is cute" --temperature 0

The model is the shipped course model (default), OpenAI's GPT-2 124M (``--model gpt2``, after
``python -m course_utils.weights download gpt2``), or a checkpoint of your own (``--checkpoint``).
Tests call ``main(argv)`` in-process; a bad argument prints one ``error:`` line and exits with 2.
"""

from __future__ import annotations

import sys

import torch

from ..checks import check_sampling
from .fast import prepare_for_generation
from .loop import generate_stream
from .stream import stream_text

# Every option with its type and default, spelled out (argparse reads nothing from annotations).
OPTIONS: list[tuple[str, dict]] = [
    ("--prompt", {"type": str, "required": True,
                  "help": 'the text to continue ("<|endoftext|>" starts from nothing)'}),
    ("--model", {"choices": ("course", "gpt2"), "default": "course",
                 "help": "course: the shipped Shakespeare model (default); gpt2: OpenAI's GPT-2 124M, "
                         "downloaded once with `python -m course_utils.weights download gpt2`"}),
    ("--checkpoint", {"type": str, "default": None,
                      "help": "a checkpoint from save_checkpoint, e.g. one written by python -m course_utils.train"}),
    ("--temperature", {"type": float, "default": 0.8, "help": "0 = greedy (default 0.8)"}),
    ("--top-k", {"type": int, "default": None, "help": "sample among the k most likely tokens"}),
    ("--top-p", {"type": float, "default": None, "help": "sample from the top-p nucleus"}),
    ("--max-new-tokens", {"type": int, "default": 100, "help": "how many tokens to add (default 100)"}),
    ("--seed", {"type": int, "default": None, "help": "seed for reproducible sampling"}),
    ("--device", {"type": str, "default": "cpu", "help": "cpu (default) or e.g. cuda"}),
    ("--no-cache", {"action": "store_true", "help": "recompute everything each step (slow)"}),
]


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m course_utils.generate",
        description="Continue a prompt with a GPT model, streaming the text as it is generated.",
    )
    for flag, spec in OPTIONS:
        parser.add_argument(flag, **spec)
    return parser


def load_model(model: str, checkpoint: str | None, device: str):
    """The model the options name: a checkpoint, GPT-2 124M, or the course model."""
    from ..assets import AssetError
    from ..weights import load_checkpoint, load_course_model, load_gpt2

    if checkpoint is not None:
        if model != "course":
            raise ValueError(f"give --checkpoint or --model {model}, not both")
        return load_checkpoint(checkpoint, device=device)
    if model == "gpt2":
        try:
            return load_gpt2(device=device)
        except FileNotFoundError as e:
            raise ValueError(str(e)) from None
    try:
        return load_course_model(device=device)
    except AssetError as e:
        raise SystemExit(
            f"error: the trained course model is not available yet ({e}).\n"
            f"Pass a checkpoint of your own with --checkpoint PATH "
            f"(e.g. one written by `python -m course_utils.train`)."
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    from ..tokenizer import ENDOFTEXT_ID, get_tokenizer, text_to_ids

    try:
        check_sampling(args.temperature, args.top_k, args.top_p)
        if not args.prompt:
            raise ValueError('--prompt is empty; give some text to continue, or "<|endoftext|>" to start from nothing')
        tokenizer = get_tokenizer()
        ids = text_to_ids(args.prompt, tokenizer, allow_special=True)  # "<|endoftext|>": GPT-2's text boundary
        model = prepare_for_generation(load_model(args.model, args.checkpoint, args.device))
        generator = None
        if args.seed is not None:
            generator = torch.Generator(device=model.device).manual_seed(args.seed)
        eos = ENDOFTEXT_ID if ENDOFTEXT_ID < model.cfg.vocab_size else None
        tokens = generate_stream(
            model,
            ids,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            eos_id=eos,
            generator=generator,
            use_cache=not args.no_cache,
        )
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    stream_text(tokens, tokenizer, sys.stdout, eos_id=eos)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
