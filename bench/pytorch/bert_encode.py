#!/usr/bin/env python3
"""PyTorch reference for the text-encoder benchmark: a plain BERT encoder forward (no
`transformers` package) with mean pooling and L2 normalisation, on the weights of a
Hugging Face model.safetensors (read with numpy), over a synthetic batch of token ids
that the engine's bench_encode builds the same way.

  python3 bench/pytorch/bert_encode.py build/text_encoder --batch 64 --tokens 32

Prints one markdown row: impl, batch, tokens, ms per batch (median), max RSS MiB.
"""
import argparse
import json
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy()).float()
    return out


def synthetic_ids(batch, tokens):
    # [CLS] ids [SEP]; the same formula as apps/bench_encode.cpp.
    ids = torch.empty(batch, tokens, dtype=torch.long)
    for b in range(batch):
        for t in range(tokens):
            ids[b, t] = 1000 + (b * 31 + t * 7) % 20000
        ids[b, 0], ids[b, tokens - 1] = 101, 102
    return ids


def encode(w, cfg, ids, mask):
    H, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    B, L = ids.shape
    pos = torch.arange(L)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
    x = x + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(t, n):
            return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])

        def split(t):
            return t.view(B, L, heads, H // heads).transpose(1, 2)

        q, k, v = (split(lin(x, "attention.self." + n)) for n in ("query", "key", "value"))
        s = q @ k.transpose(-1, -2) / (H // heads) ** 0.5 + bias
        ctx = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, L, H)
        x = F.layer_norm(x + lin(ctx, "attention.output.dense"), (H,), w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(F.gelu(lin(x, "intermediate.dense")), "output.dense")
        x = F.layer_norm(x + h, (H,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    m = mask[:, :, None].float()
    pooled = (x.float() * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, dim=-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = load_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    ids = synthetic_ids(a.batch, a.tokens)
    mask = torch.ones_like(ids)
    times = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        for i in range(a.warmup + a.iters):
            t0 = time.perf_counter()
            encode(w, cfg, ids, mask)
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"| pytorch {a.precision} cpu | {a.batch} | {a.tokens} | {ms:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
