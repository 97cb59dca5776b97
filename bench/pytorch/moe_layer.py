#!/usr/bin/env python3
"""PyTorch references for the MoE layer benchmark: forward + backward of a top-k MoE
layer (T tokens, C channels, E experts of C -> H -> C with GELU, k slots per token,
dropless), its tensors in bf16 (default) or f32.

  python3 bench/pytorch/moe_layer.py --impl loop      # per-expert index_select / index_add
  python3 bench/pytorch/moe_layer.py --impl grouped   # torch grouped_mm, where this PyTorch has it
  python3 bench/pytorch/moe_layer.py --device cpu --precision f32 --T 2048

Prints one markdown row: impl, T, C, E, H, k, ms per forward+backward, peak MiB. Peak
memory: on CUDA, torch.cuda.max_memory_allocated over the timed iterations (tensors only);
on the CPU, the process's peak resident set size (getrusage ru_maxrss), interpreter and
libtorch included.
"""
import argparse
import os
import resource
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
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--precision", default="bf16", choices=["bf16", "f32"])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (--device cpu)")
    a = p.parse_args()
    dev = torch.device(a.device)
    dt = torch.bfloat16 if a.precision == "bf16" else torch.float32
    cuda = dev.type == "cuda"
    if not cuda:
        torch.set_num_threads(a.threads)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(a.T, a.C, device=dev, dtype=dt, generator=g, requires_grad=True)
    wg = torch.randn(a.C, a.E, device=dev, dtype=dt, generator=g, requires_grad=True)
    w1 = (torch.randn(a.E, a.C, a.H, device=dev, dtype=dt, generator=g) * a.C**-0.5).requires_grad_()
    w2 = (torch.randn(a.E, a.H, a.C, device=dev, dtype=dt, generator=g) * a.H**-0.5).requires_grad_()
    fn = moe_loop if a.impl == "loop" else moe_grouped
    if a.impl == "grouped" and not hasattr(torch, "_grouped_mm"):
        print("| grouped | (torch._grouped_mm is missing in this PyTorch) |")
        return
    for _ in range(a.warmup):
        fn(x, wg, w1, w2, a.k).float().sum().backward()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Timed as bench_moe times the engine: synchronised after each iteration, median.
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        fn(x, wg, w1, w2, a.k).float().sum().backward()
        sync()
        times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    print(f"| pytorch {a.impl} {a.precision} {a.device} | {a.T} | {a.C} | {a.E} | {a.H} | {a.k} | {ms:.3f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
