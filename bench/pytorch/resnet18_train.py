#!/usr/bin/env python3
"""PyTorch reference for bench_train: ResNet-18 (CIFAR stem, no max-pool) training
throughput on synthetic 32x32 data, in the modes the engine is compared against.

  python3 bench/pytorch/resnet18_train.py --batch 512 --mode eager-amp-cl --iters 50
  python3 bench/pytorch/resnet18_train.py --device cpu --width-mult 0.25 --batch 128 --mode eager-f32

Modes: eager-f32, eager-f32-cl (channels_last), eager-amp (bf16 autocast), eager-amp-cl
(bf16 autocast + channels_last), compile-amp-cl (torch.compile of the latter). Prints one
markdown row: mode, batch, median step ms, img/s, peak MiB.

Peak memory: on CUDA, torch.cuda.max_memory_allocated over the timed steps (tensors only);
on the CPU, the process's peak resident set size (getrusage ru_maxrss), which includes the
interpreter and libtorch's code as well as the tensors.

The network is the engine's ResNet-18: torchvision's names and blocks, a 3x3 stride-1 first
convolution, no max pool, every stage's width scaled by --width-mult.
"""
import argparse
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, in_channels=3, num_classes=10, width_mult=1.0):
        super().__init__()
        width = lambda base: max(1, int(round(base * width_mult)))
        c = width(64)
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        for i, (base, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            out = width(base)
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(c, out, stride), BasicBlock(out, out, 1)))
            c = out
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (--device cpu)")
    p.add_argument("--mode", default="eager-amp-cl",
                   choices=["eager-f32", "eager-f32-cl", "eager-amp", "eager-amp-cl", "compile-amp-cl"])
    a = p.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(a.threads)
    model = ResNet18(width_mult=a.width_mult).to(dev)
    cl = a.mode.endswith("-cl")
    amp = "amp" in a.mode
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    if cl:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch,), device=dev)
    step_model = torch.compile(model) if a.mode.startswith("compile") else model
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(step_model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Timed as bench_train times the engine: each step ends with the device synchronised
    # (the loss is read), and the median step is reported.
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    print(f"| pytorch {a.mode} | {a.batch} | {dt * 1e3:.2f} | {a.batch / dt:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
