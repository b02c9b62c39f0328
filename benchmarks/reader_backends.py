"""The reader with the NumPy recognizer against the same reader with the torch model.

    python benchmarks/reader_backends.py [--fields 300] [--rounds 5] [--batch 128 ...]

Reads the first ``--fields`` ORAND fields (locale cl, latin weights) with
``ChequeReader(model=...)`` for each recognizer in turn, ``--rounds`` times (order reversed
every other round), in one process: on a shared machine this compares the two far better
than separate benchmark runs. Prints fields per CPU second and per wall second (median of
the rounds) and how many amounts agree with the torch model's. Needs torch and ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import DATA  # noqa: E402

from chequereader.config import PipelineConfig  # noqa: E402
from chequereader.models.weights import load_model, load_numpy_model  # noqa: E402
from chequereader.pipeline import ChequeReader  # noqa: E402
from chequereader.threads import set_threads  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fields", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, action="append", help="NumPy passes (default: 128)")
    args = ap.parse_args()
    root = DATA / "orand-car-a"
    if not root.exists():
        sys.exit("../shared/data is absent")
    set_threads(1)
    rows = list(csv.DictReader(open(root / "labels.csv")))[: args.fields]
    ims = [cv2.imread(str(root / r["file"]), cv2.IMREAD_GRAYSCALE) for r in rows]
    cfg = PipelineConfig(locale="cl", field=True)
    readers = {}
    for bs in args.batch or [128]:
        m = load_numpy_model("latin")
        m.predict = (lambda mm, b: lambda x: type(mm).predict(mm, x, batch_size=b))(m, bs)
        readers[f"numpy (passes of {bs})"] = ChequeReader(cfg, model=m)
    readers["torch"] = ChequeReader(cfg, model=load_model("latin"))
    rates: dict[str, list[tuple[float, float]]] = {k: [] for k in readers}
    amounts = {}
    for rnd in range(args.rounds):
        order = list(readers.items())
        for name, rd in order if rnd % 2 == 0 else order[::-1]:
            c0, w0 = time.process_time(), time.perf_counter()
            amounts[name] = [rd.read_field(im, locale="cl").amount for im in ims]
            rates[name].append((len(ims) / (time.process_time() - c0),
                                len(ims) / (time.perf_counter() - w0)))
    for name, v in rates.items():
        same = sum(a == b for a, b in zip(amounts[name], amounts["torch"]))
        print(f"{name:22s} fields/CPU s {statistics.median(c for c, _ in v):6.1f}   "
              f"fields/s {statistics.median(w for _, w in v):6.1f}   "
              f"amounts as torch's {same}/{len(ims)}   rounds (CPU) {[round(c) for c, _ in v]}")


if __name__ == "__main__":
    main()
