#!/usr/bin/env python3
"""PyTorch references for the MoE layer benchmark: forward + backward of a top-k MoE
layer (T tokens, C channels, E experts of C -> H -> C with GELU, k slots per token,
dropless) in bf16.

  python3 bench/pytorch/moe_layer.py --impl loop      # per-expert index_select / index_add
  python3 bench/pytorch/moe_layer.py --impl grouped   # torch grouped_mm, where this PyTorch has it

Prints one markdown row: impl, T, C, E, H, k, ms per forward+backward.
"""
import argparse
import time

import torch
import torch.nn.functional as F


def route(x, wg, k):
    probs = torch.softmax(x @ wg, dim=-1)
    w, idx = probs.topk(k, dim=-1)
    return w / w.sum(-1, keepdim=True), idx


def moe_loop(x, wg, w1, w2, k):
    w, idx = route(x, wg, k)
    out = torch.zeros_like(x)
    for e in range(w1.shape[0]):
        tok, slot = (idx == e).nonzero(as_tuple=True)
        if tok.numel() == 0:
            continue
        h = F.gelu(x.index_select(0, tok) @ w1[e]) @ w2[e]
        out = out.index_add(0, tok, h * w[tok, slot].unsqueeze(-1))
    return out


def moe_grouped(x, wg, w1, w2, k):
    w, idx = route(x, wg, k)
    flat = idx.reshape(-1)
    order = flat.argsort(stable=True)
    tok = order // k
    counts = torch.bincount(flat, minlength=w1.shape[0])
    offs = counts.cumsum(0).to(torch.int32)
    xs = x.index_select(0, tok)
    h = F.gelu(torch._grouped_mm(xs, w1, offs=offs))
    ys = torch._grouped_mm(h, w2, offs=offs)
    return torch.zeros_like(x).index_add(0, tok, ys * w.reshape(-1)[order].unsqueeze(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--impl", default="loop", choices=["loop", "grouped"])
    p.add_argument("--T", type=int, default=8192)
    p.add_argument("--C", type=int, default=256)
    p.add_argument("--E", type=int, default=8)
    p.add_argument("--H", type=int, default=1024)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--iters", type=int, default=50)
    a = p.parse_args()
    dev, dt = torch.device("cuda"), torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(a.T, a.C, device=dev, dtype=dt, generator=g, requires_grad=True)
    wg = torch.randn(a.C, a.E, device=dev, dtype=dt, generator=g, requires_grad=True)
    w1 = (torch.randn(a.E, a.C, a.H, device=dev, dtype=dt, generator=g) * a.C**-0.5).requires_grad_()
    w2 = (torch.randn(a.E, a.H, a.C, device=dev, dtype=dt, generator=g) * a.H**-0.5).requires_grad_()
    fn = moe_loop if a.impl == "loop" else moe_grouped
    if a.impl == "grouped" and not hasattr(torch, "_grouped_mm"):
        print("| grouped | (torch._grouped_mm is missing in this PyTorch) |")
        return
    for _ in range(5):
        fn(x, wg, w1, w2, a.k).float().sum().backward()
    torch.cuda.synchronize()
    # Timed as bench_moe times the engine: synchronised after each iteration, median.
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        fn(x, wg, w1, w2, a.k).float().sum().backward()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    print(f"| pytorch {a.impl} | {a.T} | {a.C} | {a.E} | {a.H} | {a.k} | {ms:.3f} |")


if __name__ == "__main__":
    main()
