"""``python -m course_utils.weights download gpt2``: fetch OpenAI's GPT-2 124M once (needs internet).

The weights go to ``assets/checkpoints/gpt2-124M/`` (git-ignored) or where ``GPT2_WEIGHTS``
points, with their sha256 recorded beside them. ``huggingface_hub`` is installed with pip if it is
missing. Without internet it prints one sentence and exits with 1.
"""

from __future__ import annotations

import argparse
import sys

from .gpt2 import GPT2DownloadError, download_gpt2

MODELS = ("gpt2",)  # what `download` can fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.weights", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    download = sub.add_parser("download", help="download a released model's weights once")
    download.add_argument("model", choices=MODELS, help="gpt2: OpenAI's GPT-2 124M (about 550 MB)")
    download.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        download_gpt2(quiet=args.quiet, install=True)  # the user asked for it: pip may fetch the Hub client
    except GPT2DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
