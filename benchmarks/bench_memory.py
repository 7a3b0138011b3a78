"""Memory: course_utils.GPTModel against transformers.GPT2LMHeadModel, training and generation.

Each case runs in a fresh Python process (this script starts them one after another), so one
model's memory cannot hide in another's. A case builds its model (and optimizer), then resets
the process's peak-memory mark (Linux: ``/proc/self/clear_refs``), does the work and reads the
new peak (``VmHWM``). The figure is the peak above the resident memory just before the work:
activations, gradients, optimizer state, KV cache, temporaries. Model weights are the same size
for both implementations and are reported separately.

    .venv/bin/python benchmarks/bench_memory.py            # all cases (about a minute)
    .venv/bin/python benchmarks/bench_memory.py --smoke    # tiny sizes: does it run?

Linux only (it reads /proc). The script ends with a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

TRAIN = {  # name: (n_layers, emb_dim, n_heads, context_length, batch_size)
    "4 layers, width 256, ctx 128, batch 8": (4, 256, 4, 128, 8),
    "GPT-2 small, ctx 256, batch 2": (12, 768, 12, 256, 2),
}
TRAIN_SMOKE = {"smoke: 2 layers, width 64, ctx 32, batch 4": (2, 64, 4, 32, 4)}
NEW_TOKENS, NEW_TOKENS_SMOKE = 100, 5


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure(work) -> dict:
    import gc

    gc.collect()
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark to the current RSS
    work()
    return {"before_mb": before, "peak_mb": _status_mb("VmHWM")}


def _child(case: dict) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    torch.set_num_threads(case["threads"])
    n_layers, emb_dim, n_heads, ctx, batch = case["shape"]
    import course_utils as cu

    if case["impl"] == "ours":
        cfg = cu.GPTConfig(context_length=ctx, emb_dim=emb_dim, n_heads=n_heads, n_layers=n_layers, drop_rate=0.0)
        model = cu.GPTModel(cfg)
        logits_of = lambda x: model(x)  # noqa: E731
    else:
        from common import hf_model  # benchmarks/common.py

        model = hf_model(cu.GPTConfig(context_length=ctx, emb_dim=emb_dim, n_heads=n_heads, n_layers=n_layers))
        logits_of = lambda x: model(input_ids=x).logits  # noqa: E731
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    g = torch.Generator().manual_seed(1)

    if case["kind"] == "train":
        from course_utils.train import TrainConfig, make_optimizer

        model.train()
        opt = make_optimizer(model, TrainConfig(lr=1e-4, min_lr=1e-5), torch.device("cpu"))
        x = torch.randint(0, 50257, (batch, ctx + 1), generator=g)

        def work():
            for _ in range(3):  # the first step also creates the optimizer state
                loss = F.cross_entropy(logits_of(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
    else:
        model.eval()
        ids = torch.randint(0, 50257, (1, 10), generator=g)
        n = case["new_tokens"]
        if case["impl"] == "ours":
            from course_utils.generate import generate

            def work():
                generate(model, ids, n, use_cache=case["cache"])
        else:

            def work():
                with torch.inference_mode():
                    model.generate(ids, attention_mask=torch.ones_like(ids), use_cache=True, do_sample=False,
                                   max_new_tokens=n, min_new_tokens=n, pad_token_id=50256)

    return {**_measure(work), "weights_mb": weights_mb}


def _cases(smoke: bool, threads: int) -> list[dict]:
    cases = []
    for name, shape in (TRAIN_SMOKE if smoke else TRAIN).items():
        for impl in ("ours", "hf"):
            cases.append({"kind": "train", "name": name, "shape": shape, "impl": impl, "threads": threads})
    gen_shape = TRAIN_SMOKE[next(iter(TRAIN_SMOKE))] if smoke else (12, 768, 12, 1024, 1)
    n = NEW_TOKENS_SMOKE if smoke else NEW_TOKENS
    name = f"generate {n} tokens, prompt 10, batch 1"
    for impl, cache in (("ours", True), ("ours", False), ("hf", True)):
        cases.append({"kind": "generate", "name": name, "shape": gen_shape, "impl": impl, "cache": cache,
                      "new_tokens": n, "threads": threads})
    return cases


def _label(case: dict) -> str:
    who = "course_utils.GPTModel" if case["impl"] == "ours" else "transformers.GPT2LMHeadModel"
    if case["kind"] == "generate":
        who += ", KV cache" if case["cache"] else ", no cache"
    return who


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    if not Path("/proc/self/clear_refs").exists():
        raise SystemExit("bench_memory.py needs Linux (/proc/self/clear_refs, VmHWM)")

    rows = []
    for case in _cases(args.smoke, args.threads):
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(case)], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"case {case} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((case, res))
        print(f"{case['name']} | {_label(case)}: {res['peak_mb'] - res['before_mb']:.0f} MiB above "
              f"{res['before_mb']:.0f} MiB", flush=True)

    print("\n--- markdown for benchmarks/RESULTS.md ---")
    print("| case | model | weights (MiB) | peak above start of work (MiB) | ours / transformers |")
    print("|---|---|---:|---:|---:|")
    by_name: dict[str, float] = {}
    for case, res in rows:
        extra = res["peak_mb"] - res["before_mb"]
        if case["impl"] == "hf":
            by_name[case["name"]] = extra
    for case, res in rows:
        extra = res["peak_mb"] - res["before_mb"]
        hf = by_name.get(case["name"])
        ratio = f"{extra / hf:.2f}" if case["impl"] == "ours" and hf else ""
        print(f"| {case['name']} | {_label(case)} | {res['weights_mb']:.0f} | {extra:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
