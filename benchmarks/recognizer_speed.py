"""Recognizer throughput on this machine: characters/s at batch 1 and batched.

    python benchmarks/recognizer_speed.py [--threads N]

Prints characters/s for batch sizes 1, 16, 64, 256, 1024 with the bundled LeNet-5, and the
multiply-accumulates per character (the paper quotes about 401K for LeNet-5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from chequereader.models.lenet5 import LeNet5
from chequereader.models.weights import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per batch size")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model()
    rng = np.random.default_rng(0)
    out = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "torch_threads": torch.get_num_threads(),
           "macs_per_char": LeNet5.multiply_accumulates(), "paper_macs_per_char": 401_000,
           "chars_per_s": {}}
    for bs in (1, 16, 64, 256, 1024):
        x = rng.normal(0, 0.5, (bs, 32, 32)).astype(np.float32)
        model.predict(x)  # warm up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            model.predict(x)
            n += bs
        out["chars_per_s"][bs] = round(n / (time.perf_counter() - t0))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
