#!/usr/bin/env python3
"""PyTorch reference for bench_train: ResNet-18 (CIFAR stem, no max-pool) training
throughput on synthetic 32x32 data, in the modes the engine is compared against.

  python3 bench/pytorch/resnet18_train.py --batch 512 --mode eager-amp-cl --iters 50

Modes: eager-f32, eager-amp-cl (bf16 autocast + channels_last), compile-amp-cl
(torch.compile of the same). Prints one markdown row: mode, batch, median step ms, img/s, peak MiB.
"""
import argparse
import time

import torch
import torch.nn as nn
import torchvision


def cifar_resnet18(num_classes=10):
    m = torchvision.models.resnet18(num_classes=num_classes)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--mode", default="eager-amp-cl", choices=["eager-f32", "eager-amp-cl", "compile-amp-cl"])
    a = p.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = cifar_resnet18().to(dev)
    cl = a.mode != "eager-f32"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    if cl:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    step_model = torch.compile(model) if a.mode.startswith("compile") else model
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.mode != "eager-f32"):
            loss = loss_fn(step_model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    # Timed as bench_train times the engine: each step ends with the device synchronised,
    # and the median step is reported.
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"| pytorch {a.mode} | {a.batch} | {dt * 1e3:.2f} | {a.batch / dt:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
