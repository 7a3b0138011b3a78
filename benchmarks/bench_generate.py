"""Generation speed: our KV-cached loop vs our uncached loop vs Hugging Face ``generate``.

GPT-2 small with random weights (the same weights in both models: ours are loaded from the
Hugging Face model with ``load_hf_gpt2_weights``), a 10-token prompt, 100 new tokens, batch 1,
greedy decoding, one thread count for everything. The contenders run interleaved, round
after round, so a slow moment of the machine hits all of them; the figures are medians.

    python benchmarks/bench_generate.py [--threads N] [--rounds 3] [--new-tokens 100]

Goals (issue 6): cached >= 4x uncached, and cached at least as fast as transformers.
Also timed: the same model after `prepare_for_generation` (same values, weights stored (in, out)).
Issue 16 moved the argument checks out of the per-token loop and made generation compute the
logits of the last position only (the prompt's pass included): compare a run before and after.

The script ends with a markdown block for the Generation section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
from common import cpu_name  # benchmarks/common.py

import course_utils as cu
from course_utils.generate import generate, prepare_for_generation


def timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=100)
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    n = args.new_tokens
    print(f"threads: {torch.get_num_threads()}  torch {torch.__version__}  transformers {transformers.__version__}")
    print(f"cpu: {cpu_name()}")

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()  # GPT-2 small, random weights
    ours = cu.GPTModel(cu.GPTConfig.from_preset("gpt2-small", drop_rate=0.0)).eval()
    cu.load_hf_gpt2_weights(ours, hf.state_dict())
    prepared = prepare_for_generation(copy.deepcopy(ours))  # same values, decode-friendly layout
    print(f"hf attention implementation: {hf.config._attn_implementation}")
    ids = torch.randint(0, 50257, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)

    def hf_generate():
        with torch.inference_mode():
            return hf.generate(
                ids, attention_mask=mask, use_cache=True, do_sample=False,
                max_new_tokens=n, min_new_tokens=n, pad_token_id=50256,
            )

    runs = {
        "ours, KV cache": lambda: generate(ours, ids, n),
        "ours, KV cache, prepare_for_generation": lambda: generate(prepared, ids, n),
        "ours, no cache": lambda: generate(ours, ids, n, use_cache=False),
        "transformers generate(use_cache=True)": hf_generate,
    }
    outputs = {name: fn() for name, fn in runs.items()}  # warm-up, and the tokens to compare
    ref = outputs["ours, KV cache"]  # every run must produce exactly these tokens
    for name, out in outputs.items():
        assert out.shape == (1, args.prompt_tokens + n), (name, out.shape)
        same = int((out == ref).all(dim=0).long().cumprod(0).sum()) - args.prompt_tokens
        assert torch.equal(out, ref), f"{name} disagrees with ours (cached) after {same} new tokens"
    print(f"all runs generate the same {n} tokens")

    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name, fn in runs.items():
            seconds, _ = timed(fn)
            times[name].append(seconds)
        print(f"round {r + 1}: " + ", ".join(f"{k}: {n / v[-1]:.1f} tok/s" for k, v in times.items()), flush=True)

    speed = {name: n / statistics.median(t) for name, t in times.items()}
    cached, uncached = speed["ours, KV cache"], speed["ours, no cache"]
    prepped = speed["ours, KV cache, prepare_for_generation"]
    hf_speed = speed["transformers generate(use_cache=True)"]
    ratios = [
        ("ours cached / ours uncached", cached / uncached, 4.0),
        ("ours cached / transformers", cached / hf_speed, 1.0),
        ("ours cached after prepare_for_generation / transformers", prepped / hf_speed, 1.0),
    ]
    print()
    for name, r, goal in ratios:
        print(f"{name} = {r:.2f}x (goal >= {goal:g}): {'met' if r >= goal else 'MISSED'}")

    print("\n--- markdown for benchmarks/RESULTS.md ---")
    print(
        f"Machine: {cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
        f"transformers {transformers.__version__}, Python {platform.python_version()}.\n"
        f"GPT-2 small (124M, random weights, eval), prompt {args.prompt_tokens} tokens, {n} new tokens, "
        f"batch 1, greedy; median of {args.rounds} interleaved rounds (after one warm-up each); "
        f"all runs produced the same tokens.\n"
    )
    print("| run | tokens/s (median) | rounds (tokens/s) |")
    print("|---|---:|---|")
    for name, t in times.items():
        print(f"| {name} | {speed[name]:.1f} | {', '.join(f'{n / s:.1f}' for s in t)} |")
    print()
    for name, r, goal in ratios:
        print(f"- {name}: **{r:.2f}x** (goal >= {goal:g}: {'met' if r >= goal else 'missed'})")


if __name__ == "__main__":
    main()
