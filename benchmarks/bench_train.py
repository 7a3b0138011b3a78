"""Training speed: course_utils.GPTModel against transformers.GPT2LMHeadModel.

    .venv/bin/python benchmarks/bench_train.py                 # both configs, 3 interleaved rounds
    .venv/bin/python benchmarks/bench_train.py --smoke         # tiny sizes, 1 round: does it run?
    .venv/bin/python benchmarks/bench_train.py --profile       # also: where each model spends a step
    .venv/bin/python benchmarks/bench_train.py --bf16          # also ours under bf16 autocast (--precision bf16)

Both models get the same config, the same initial weights (ours are copied from the Hugging Face
model), the same batches of real corpus tokens, the same loss (next-token cross-entropy on the
logits), the same optimizer (AdamW, fused, decay on matrices only, via course_utils.train) and the
same thread count. One "step" is what a training loop does: forward, loss, backward, gradient
clipping, optimizer step. Rounds alternate which model goes first, so a machine that slows down
or speeds up during the run hurts both alike; the table shows the median round.

Achieved GFLOP/s counts the work of a step the usual way (Kaplan et al. 2020; PaLM appendix B):
6 x parameters per token for forward + backward, plus 12 x layers x width x context per token for
the attention scores and their weighted sum. It is set
against a large float32 matrix product timed in the same run: the most this CPU does in practice.

``--bf16`` adds a third runner: our model from the same weights, its forward pass under bf16
autocast, exactly as ``python -m course_utils.train --precision bf16`` trains (``train.loop.autocast``).
Its GFLOP/s are still set against the float32 matrix product.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from common import cpu_name, hf_model  # benchmarks/common.py

import course_utils as cu
from course_utils.data import TokenWindows, load_corpus
from course_utils.train import TrainConfig, make_optimizer
from course_utils.train.loop import autocast


@dataclass(frozen=True)
class Setting:
    name: str
    n_layers: int
    emb_dim: int
    n_heads: int
    context_length: int
    batch_size: int

    def gpt_config(self) -> cu.GPTConfig:
        return cu.GPTConfig(context_length=self.context_length, emb_dim=self.emb_dim, n_heads=self.n_heads,
                            n_layers=self.n_layers, drop_rate=0.0)


SETTINGS = [
    Setting("4 layers, width 256, ctx 128, batch 8", 4, 256, 4, 128, 8),
    Setting("GPT-2 small, ctx 256, batch 2", 12, 768, 12, 256, 2),
]
SMOKE = [
    Setting("smoke: 2 layers, width 64, ctx 32, batch 4", 2, 64, 4, 32, 4),
    Setting("smoke: 2 layers, width 128, ctx 64, batch 2", 2, 128, 4, 64, 2),
]


def flops_per_token(cfg: cu.GPTConfig) -> float:
    """Training FLOPs per token: 6 x parameters + 12 x layers x width x context (attention), as in
    notebook 09. (The tied token table counts once, as the output head's matrix product; the
    position table, which takes part in no product, is under 1% of the total here.)"""
    return 6 * cu.parameter_counts(cfg).tied + 12 * cfg.n_layers * cfg.emb_dim * cfg.context_length


def matmul_gflops(n: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 GFLOP/s of an n x n by n x n matrix product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


class Runner:
    """One model with its optimizer; ``step(x, y)`` is one full training step."""

    def __init__(self, label: str, model: torch.nn.Module, logits_of, precision: str = "fp32"):
        self.label, self.model, self.logits_of = label, model.train(), logits_of
        self.precision = precision
        self.opt = make_optimizer(model, TrainConfig(lr=1e-4, min_lr=1e-5), torch.device("cpu"))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        with autocast(torch.device("cpu"), self.precision):
            logits = self.logits_of(self.model, x)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.item()


def build(setting: Setting, bf16: bool = False) -> list[Runner]:
    """Ours and theirs from the same weights (and, with ``bf16``, ours again under bf16 autocast)."""
    cfg = setting.gpt_config()
    torch.manual_seed(0)
    hf = hf_model(cfg)
    ours = cu.load_hf_gpt2_weights(cu.GPTModel(cfg), hf.state_dict())  # the same starting weights
    runners = [Runner("course_utils.GPTModel", ours, lambda m, x: m(x)),
               Runner("transformers.GPT2LMHeadModel", hf, lambda m, x: m(input_ids=x).logits)]
    if bf16:
        runners.append(Runner("course_utils.GPTModel, bf16 autocast", copy.deepcopy(ours), lambda m, x: m(x), "bf16"))
    return runners


def batches(setting: Setting, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ctx, b = setting.context_length, setting.batch_size
    ids = load_corpus().token_ids("train", max_tokens=n * b * ctx + 1)
    windows = TokenWindows(ids, ctx)
    return [windows.batch(range(i * b, (i + 1) * b)) for i in range(n)]


def time_steps(runner: Runner, data) -> float:
    t = time.perf_counter()
    for x, y in data:
        runner.step(x, y)
    return time.perf_counter() - t


def bench(setting: Setting, rounds: int, steps: int, warmup: int, bf16: bool = False) -> dict:
    runners = build(setting, bf16)
    ours, theirs = runners[:2]
    data = batches(setting, max(steps, warmup))
    x, y = data[0]
    with torch.no_grad():  # same weights, same batch: the same loss (a sanity check of the comparison)
        l1 = F.cross_entropy(ours.logits_of(ours.model, x).flatten(0, 1), y.flatten()).item()
        l2 = F.cross_entropy(theirs.logits_of(theirs.model, x).flatten(0, 1), y.flatten()).item()
    assert abs(l1 - l2) < 1e-4, f"the two models disagree before training: loss {l1} vs {l2}"
    for r in runners:
        time_steps(r, data[:warmup])
    tokens = steps * setting.batch_size * setting.context_length
    rates: dict[str, list[float]] = {r.label: [] for r in runners}
    for i in range(rounds):  # each round starts with the next runner: a drifting machine hurts all alike
        for r in runners[i % len(runners):] + runners[: i % len(runners)]:
            rates[r.label].append(tokens / time_steps(r, data[:steps]))
    return {"setting": setting, "rates": rates, "params": cu.count_parameters(ours.model)["tied"],
            "flops_per_token": flops_per_token(setting.gpt_config()), "runners": runners, "data": data}


def profile(runners, data, top: int = 12) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    x, y = data[0]
    for r in runners:
        r.step(x, y)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            r.step(x, y)
        print(f"\n#### {r.label}: one step, top {top} ops by self CPU time\n")
        print("```")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40))
        print("```")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: torch's)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per config (default 3)")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per model per round (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model first (default 1)")
    p.add_argument("--matmul", type=int, default=2048, help="size of the reference matrix product (default 2048)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and 1 round: checks the script runs")
    p.add_argument("--profile", action="store_true", help="print a per-op profile of one step of each model")
    p.add_argument("--bf16", action="store_true", help="also time ours under bf16 autocast (--precision bf16)")
    args = p.parse_args()
    if args.smoke:
        args.rounds, args.steps, args.matmul = 1, 1, 256
    torch.set_num_threads(args.threads)
    import transformers

    peak = matmul_gflops(args.matmul)
    results = [bench(s, args.rounds, args.steps, args.warmup, args.bf16) for s in (SMOKE if args.smoke else SETTINGS)]
    peak = max(peak, matmul_gflops(args.matmul))  # measured before and after; the better one

    print(f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs; torch {torch.__version__} with "
          f"{args.threads} threads; transformers {transformers.__version__} (attention: sdpa). "
          f"{args.rounds} interleaved rounds of {args.steps} steps per model, median round shown. "
          f"Reference: {args.matmul}x{args.matmul} float32 matmul at {peak:.1f} GFLOP/s.\n")
    print("| config | params | model | train tokens/s | ours / transformers | GFLOP/s | % of matmul |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for res in results:
        s, rates = res["setting"], res["rates"]
        med = {k: statistics.median(v) for k, v in rates.items()}
        hf_label = list(rates)[1]  # the peer every other row is set against
        for label in rates:
            gflops = med[label] * res["flops_per_token"] / 1e9
            ratio = f"{med[label] / med[hf_label]:.2f}" if label != hf_label else ""
            print(f"| {s.name} | {res['params'] / 1e6:.1f}M | {label} | {med[label]:,.0f} | {ratio} | "
                  f"{gflops:.1f} | {100 * gflops / peak:.0f}% |")
    for r in results:
        rounds = ", ".join(f"{k.split('.')[0]}{' bf16' if 'bf16' in k else ''} {[round(v) for v in vs]}"
                           for k, vs in r["rates"].items())
        print(f"\nPer round, {r['setting'].name} (tokens/s): {rounds}")
        if args.bf16:
            med = [statistics.median(v) for v in r["rates"].values()]
            print(f"ours bf16 autocast / ours float32: {med[2] / med[0]:.2f}x")
    if args.profile:
        for res in results:
            print(f"\n### Profile: {res['setting'].name}")
            profile(res["runners"], res["data"])


if __name__ == "__main__":
    main()
