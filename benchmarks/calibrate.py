"""Fit the confidence temperature on synthetic VALIDATION fields (never on test data).

    python benchmarks/calibrate.py [--n 400] [--weights FILE]

Fields are composed from MNIST-train digits of the validation writers that training held
out (same split as `chequereader train recognizer --seed 0`), in the us, cl and in styles.
For each temperature T the penalties are divided by T before the forward computation; the
best path does not change, the confidences do. Prints, per T, the read rate at <= 1% error
and the error at 10% and 20% reject, and the T that maximises the read rate at <= 1% error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, error_reject  # noqa: E402

from chequereader import decode as decode_stage  # noqa: E402
from chequereader.config import PipelineConfig  # noqa: E402
from chequereader.io.manifest import amounts_equal  # noqa: E402
from chequereader.pipeline import ChequeReader  # noqa: E402
from chequereader.synth import NpzDigitPool, amount_text, compose_field  # noqa: E402
from chequereader.train.data import load_digit_npz, writer_split  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--temperatures", default="1,1.5,2,3,4,6,8")
    args = ap.parse_args()
    ds = load_digit_npz(DATA / "mnist" / "mnist-train.npz", split="")
    _, va = writer_split(ds.writers, 0.1, 0)
    pool = NpzDigitPool(ds.images[va], ds.labels[va], ds.writers[va])
    reader = ChequeReader(PipelineConfig(field=True, weights=args.weights))
    rng = np.random.default_rng(77)
    traces = []
    for i in range(args.n):
        loc = ("us", "cl", "in")[i % 3]
        written, canon = amount_text(rng, loc)
        f = compose_field(written, pool, rng)
        traces.append((reader.trace_field(f.image, loc), canon, loc))
    rows = {}
    for T in (float(t) for t in args.temperatures.split(",")):
        correct, conf = [], []
        for tr, canon, loc in traces:
            d = decode_stage.decode(tr.graph, tr.penalties / T, reader.tables(loc), reader.prior(loc))
            correct.append(amounts_equal(d.amount, canon))
            conf.append(d.confidence if d.amount is not None else 0.0)
        er = error_reject(correct, conf)
        rows[T] = {"exact": float(np.mean(correct)), "read_at_1pct_error": er["at_1pct_error"]["read"],
                   "error_at_10pct_reject": er["10%"]["error"], "error_at_20pct_reject": er["20%"]["error"]}
    best = max(rows, key=lambda t: (rows[t]["read_at_1pct_error"], -rows[t]["error_at_10pct_reject"]))
    print(json.dumps({"per_temperature": rows, "best": best}, indent=1))


if __name__ == "__main__":
    main()
