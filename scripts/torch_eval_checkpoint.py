#!/usr/bin/env python3
"""Evaluates one of the engine's dense ResNet-18 checkpoints in PyTorch, from the
checkpoint alone: its safetensors metadata names the architecture, width, classes, input
shape and normalisation (docs/CHECKPOINTS.md). Prints the same line as
`eval_app <checkpoint> --records A:B`:

    test records A..B-1 (N images): accuracy 0.xxxx, NLL x.xxxx

Usage: torch_eval_checkpoint.py CHECKPOINT [--data DIR] [--records A:B]
Needs torch and numpy (Debian: python3-torch); a yardstick, never used by the engine.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# The engine's ResNet-18 in PyTorch (torchvision's names and blocks, the small-image stem:
# a 3x3 stride-1 conv1 and no max pool), shared with the benchmark script.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "pytorch"))
from resnet18_train import ResNet18  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {e['dtype']}, which this script does not read")
        a, b = e["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def test_images(dataset, folder):
    """u8 test images [N, C, H, W] and int64 labels [N]."""
    if dataset == "fashion_mnist":
        folder = folder or "/usr/share/datasets/fashion-mnist"

        def idx(name):
            p = os.path.join(folder, name)
            data = gzip.open(p + ".gz").read() if os.path.exists(p + ".gz") else open(p, "rb").read()
            dims = data[3]
            shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
            return np.frombuffer(data[4 + 4 * dims:], dtype=np.uint8).reshape(shape)

        x = idx("t10k-images-idx3-ubyte")[:, None, :, :]
        y = idx("t10k-labels-idx1-ubyte")
        return x, y.astype(np.int64)
    if dataset == "cifar10":
        p = os.path.join(folder or ".", "test_batch.bin")
        if not os.path.exists(p):
            p = os.path.join(folder or ".", "cifar-10-batches-bin", "test_batch.bin")
        rec = np.fromfile(p, dtype=np.uint8).reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)
    sys.exit(f"dataset {dataset!r}: this script reads fashion_mnist and cifar10 test sets")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="", help="folder of the test set (default: the dataset's usual place)")
    ap.add_argument("--records", default="0:10000", help="test records A:B (B excluded)")
    args = ap.parse_args()
    state, meta = read_safetensors(args.checkpoint)
    for key in ("model", "width_mult", "num_classes", "input_shape", "normalization_mean", "normalization_std",
                "dataset"):
        if key not in meta:
            sys.exit(f"{args.checkpoint}: no '{key}' in its metadata (written before checkpoints described "
                     f"themselves?)")
    if meta["model"] != "resnet18":
        sys.exit(f"{args.checkpoint}: model {meta['model']!r}; this script builds the dense resnet18 only")
    c, h, w = json.loads(meta["input_shape"])
    mean = torch.tensor(json.loads(meta["normalization_mean"]), dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(json.loads(meta["normalization_std"]), dtype=torch.float32).view(1, -1, 1, 1)
    model = ResNet18(c, int(meta["num_classes"]), float(meta["width_mult"]))
    model.load_state_dict(state, strict=True)
    model.eval()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    x, y = test_images(meta["dataset"], args.data)
    a, b = (int(v) for v in args.records.split(":"))
    x, y = x[a:b], y[a:b]
    assert x.shape[1:] == (c, h, w), f"test images {x.shape[1:]} but the checkpoint expects {(c, h, w)}"
    correct, nll = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), 500):
            xb = (torch.from_numpy(x[i:i + 500].astype(np.float32)) / 255.0 - mean) / std
            logits = model(xb)
            labels = torch.from_numpy(y[i:i + 500])
            correct += int((logits.argmax(1) == labels).sum())
            nll += float(F.cross_entropy(logits.double(), labels, reduction="sum"))
    n = len(y)
    print(f"test records {a}..{b - 1} ({n} images): accuracy {correct / n:.4f}, NLL {nll / n:.4f}")


if __name__ == "__main__":
    main()
