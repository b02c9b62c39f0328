"""What the recognizer alone allows: amount figures with segmentation taken out (issues 3, 4).

    python benchmarks/ceiling_bench.py                 # all three sets, about 2 minutes
    python benchmarks/ceiling_bench.py --json out.json

The field and cheque benchmarks measure the whole reader. This one asks how far LeNet-5
itself lets an amount reader go when everything around it is perfect: every digit cut by
its true box, no separator or sign to read, no field to find. An amount counts as right
when every one of its digits is read right, and its confidence is the product of its
digits' posteriors under the reader's own rubbish mass (docs/design.md section 3, per character:
``exp(-p_c) / (exp(-j) + sum_i exp(-p_i))`` over the ten digits, ``j`` =
``DecodeConfig.rubbish_penalty``). The reader's amount confidence is built from the same
penalties, so no reader on these weights can expect more than these figures from this
confidence, only less.

Sets:

* ``orand``: the 880 ORAND-CAR-A fields, each digit cut by its ``digit_boxes`` box from the
  reader's own cleaned field and framed in field context (as ``fields_bench.py``'s
  true-box figure), read with the weights of locale ``cl``;
* ``strings``: the 1,000 synthetic US strings of ``fields_bench.py`` (same seed), cut by
  their true boxes the same way; a small raised digit is also framed by its own box, as the
  lattice's superscript arcs do (locale ``cl`` has none), and keeps the framing with the
  lower best penalty;
* ``cheques``: the amounts of ``cheques_bench.py --n N --seed S`` (same generator and seeds),
  each written with MNIST-test digits of one writer, framed the way MNIST is (the
  recognizer's easiest case: no scan, no pen, no cleaning). Read with the weights of each
  layout's locale. The printed ``us_business`` amounts are counted as right and sure
  (printed digits are not LeNet-5's difficulty there), so that ``all`` compares with the
  cheque benchmark's own ``all`` row.

Reported per set: digits right, amounts with every digit right, and the read rate at
<= 1% error when amounts are accepted by that confidence, most confident first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, error_reject  # noqa: E402

from chequereader.config import PipelineConfig  # noqa: E402
from chequereader.decode import DecodeConfig  # noqa: E402
from chequereader.pipeline import ChequeReader  # noqa: E402


def digit_log_posteriors(penalties: np.ndarray, j: float) -> np.ndarray:
    """log P(class) per row over the ten digits and the rubbish mass ``exp(-j)``."""
    d = -penalties[:, :10].astype(np.float64)
    z = np.logaddexp(np.logaddexp.reduce(d, axis=1), -j)
    return d - z[:, None]


def amounts_from_digits(labels: list[np.ndarray], logp: list[np.ndarray]) -> tuple[list[bool], list[float]]:
    """Per amount: every digit right, and the product of the chosen digits' posteriors."""
    right, conf = [], []
    for lab, lp in zip(labels, logp):
        pred = lp.argmax(1)
        right.append(bool(len(lab) > 0 and (pred == lab).all()))
        conf.append(float(np.exp(lp.max(1).sum())) if len(lab) else 0.0)
    return right, conf


def summary(digits_right: int, digits: int, right: list[bool], conf: list[float]) -> dict:
    er = error_reject(right, conf)
    return {
        "n_amounts": len(right),
        "digits_right": digits_right / max(digits, 1),
        "amounts_all_digits_right": float(np.mean(right)) if right else float("nan"),
        "read_at_1pct_error": er["at_1pct_error"]["read"],
        "error_at_0_10_20_reject": [er[k]["error"] for k in ("0%", "10%", "20%")],
    }


def true_box_set(reader: ChequeReader, items, locale: str, j: float) -> dict:
    """Fields with digit boxes -> figures with every digit cut by its true box."""
    from fields_bench import true_box_penalties

    labels, logp = [], []
    for _name, im, _truth, boxes in items:
        pen, lab = true_box_penalties(reader, im, boxes, locale, own_box_small=locale != "cl")
        labels.append(lab)
        logp.append(digit_log_posteriors(pen, j) if len(lab) else np.zeros((0, 10)))
    right, conf = amounts_from_digits(labels, logp)
    n_right = sum(int((lp.argmax(1) == lab).sum()) for lab, lp in zip(labels, logp))
    return summary(n_right, sum(len(lab) for lab in labels), right, conf)


def cheque_amounts(reader: ChequeReader, n: int, seed: int, j: float) -> dict:
    """The cheque benchmark's amounts, written with MNIST-test digits framed as MNIST."""
    from cheques_bench import LOCALE

    from chequereader.synth import LAYOUTS, amount_text
    from chequereader.train.data import framed_digits, load_digit_npz

    ds = load_digit_npz(DATA / "mnist" / "mnist-test.npz", split="")
    framed = framed_digits(ds)
    logp_by_locale = {loc: digit_log_posteriors(reader.model_for(loc).predict(framed), j)
                      for loc in set(LOCALE.values())}
    by_writer: dict[tuple[int, int], np.ndarray] = {}
    for w in np.unique(ds.writers):
        for d in range(10):
            by_writer[(int(w), d)] = np.flatnonzero((ds.writers == w) & (ds.labels == d))
    by_digit = {d: np.flatnonzero(ds.labels == d) for d in range(10)}
    writers = np.unique(ds.writers)
    layouts = sorted(LAYOUTS)
    groups: dict[str, tuple[list[bool], list[float]]] = defaultdict(lambda: ([], []))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        layout = layouts[i % len(layouts)]
        written, _canon = amount_text(rng, LAYOUTS[layout].locale)
        if LAYOUTS[layout].printed:
            ok, c = True, 1.0
        else:
            # a separate stream: the cheque's own rng draws the digit samples in the generator
            pick = np.random.default_rng([seed, i, 7])
            w = int(writers[pick.integers(len(writers))])
            idx = []
            for ch in written:
                if ch.isdigit():
                    pool = by_writer.get((w, int(ch)))
                    pool = pool if pool is not None and len(pool) else by_digit[int(ch)]
                    idx.append(int(pool[pick.integers(len(pool))]))
            lab = ds.labels[idx].astype(int)
            lp = logp_by_locale[LOCALE[layout]][idx]
            (ok,), (c,) = amounts_from_digits([lab], [lp])
            counts["all"][0] += int((lp.argmax(1) == lab).sum())
            counts["all"][1] += len(lab)
        for g in (layout, "all"):
            groups[g][0].append(ok)
            groups[g][1].append(c)
    out = {}
    for g, (right, conf) in sorted(groups.items()):
        out[g] = summary(*(counts[g] if g == "all" else (0, 0)), right, conf)
        if g != "all":
            del out[g]["digits_right"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["orand", "strings", "cheques", "all"], default="all")
    ap.add_argument("--n-cheques", type=int, default=1000)
    ap.add_argument("--cheque-seed", type=int, default=0)
    ap.add_argument("--n-strings", type=int, default=1000)
    ap.add_argument("--string-seed", type=int, default=2024)
    ap.add_argument("--weights", default=None, help="one weight file for every locale")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cfg = PipelineConfig(field=True, weights=args.weights) if args.weights else PipelineConfig(field=True)
    reader = ChequeReader(cfg)
    j = DecodeConfig().rubbish_penalty
    out: dict = {"rubbish_penalty": j}
    if args.set in ("orand", "all"):
        from fields_bench import load_orand

        out["orand"] = true_box_set(reader, load_orand(None), "cl", j)
    if args.set in ("strings", "all"):
        from fields_bench import load_synth

        out["strings"] = true_box_set(reader, load_synth(args.n_strings, args.string_seed, "us"), "us", j)
    if args.set in ("cheques", "all"):
        out["cheques"] = cheque_amounts(reader, args.n_cheques, args.cheque_seed, j)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
