"""Recognizer throughput on this machine: characters/s at batch 1 and batched.

    python benchmarks/recognizer_speed.py [--threads N] [--seconds S]

Prints characters/s for batch sizes 1, 16, 64, 256, 1024 with the bundled LeNet-5: the NumPy
model the reader uses, and the torch model's ``predict`` where torch is installed; and the
multiply-accumulates per character (the paper quotes about 401K for LeNet-5). Each figure is
the best of three timed spans, in CPU seconds of this process and in wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chequereader.models.weights import load_numpy_model  # noqa: E402
from chequereader.threads import set_threads  # noqa: E402

MACS = 28 * 28 * 6 * 25 + 10 * 10 * 25 * 60 + 120 * 16 * 25 + 84 * 120 + (14 * 14 * 6 + 5 * 5 * 16) * 4


def rate(predict, x: np.ndarray, seconds: float) -> dict[str, int]:
    predict(x)  # warm up
    best_cpu = best_wall = 0.0
    for _ in range(3):
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - w0 < seconds / 3:
            predict(x)
            n += len(x)
        best_wall = max(best_wall, n / (time.perf_counter() - w0))
        best_cpu = max(best_cpu, n / max(time.process_time() - c0, 1e-9))
    return {"wall": round(best_wall), "cpu": round(best_cpu)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="OpenCV (and torch) threads")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per batch size and model")
    ap.add_argument("--no-torch", action="store_true", help="measure the NumPy model only")
    args = ap.parse_args()
    models = {"numpy": load_numpy_model().predict}
    if not args.no_torch:
        try:
            from chequereader.models.weights import load_model

            models["torch"] = load_model().predict
        except Exception as exc:  # torch absent: the NumPy figures alone
            print(f"torch model skipped: {exc}", file=sys.stderr)
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    out = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "threads": args.threads, "macs_per_char": MACS, "paper_macs_per_char": 401_000,
           "chars_per_s": {name: {} for name in models}}
    for bs in (1, 16, 64, 256, 1024):
        x = rng.normal(0, 0.5, (bs, 32, 32)).astype(np.float32)
        for name, predict in models.items():
            out["chars_per_s"][name][bs] = rate(predict, x, args.seconds)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
