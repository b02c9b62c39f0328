"""Field reading benchmark (issue 3): ORAND-CAR-A real fields and synthetic MNIST-test strings.

    python benchmarks/fields_bench.py                  # both sets, Tesseract peer, speed
    python benchmarks/fields_bench.py --set orand --render /tmp/worst   # + the worst 20 as PNG

Figures: exact amount at no reject; read/error at 0, 10, 20% reject and the reject needed for
<= 1% error; segmentation recall (true digit boundaries among the cuts, ORAND digit_boxes);
recognizer accuracy on true-box digit crops (segmentation taken out); on ORAND also the exact
amount and read at <= 1% error against the labels with the visibly wrong ones corrected
(``orand_label_corrections.csv``, ``*_seen``); Tesseract 5 (--psm 7,
amount whitelist) on the same images in the same run; fields/s in one process (wall clock,
and per CPU second of the process) with a per-stage breakdown (model loaded once; one torch
and one OpenCV thread).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DATA,
    digits_only,
    error_reject,
    label_corrections,
    tesseract_read,
    tesseract_version,
    timing_summary,
)

from chequereader.config import PipelineConfig  # noqa: E402
from chequereader.framing import frame  # noqa: E402
from chequereader.grammar import canonical_amount  # noqa: E402
from chequereader.io.manifest import amounts_equal  # noqa: E402
from chequereader.pipeline import ChequeReader  # noqa: E402
from chequereader.segment import segmentation_boundary_recall  # noqa: E402


def load_orand(limit: int | None):
    root = DATA / "orand-car-a"
    rows = list(csv.DictReader(open(root / "labels.csv")))[:limit]
    for r in rows:
        im = cv2.imread(str(root / r["file"]), cv2.IMREAD_GRAYSCALE)
        yield r["file"], im, r["amount"], json.loads(r["digit_boxes"])


def load_synth(n: int, seed: int, locale: str):
    from chequereader.synth import NpzDigitPool, synth_strings

    pool = NpzDigitPool.from_npz(DATA / "mnist" / "mnist-test.npz")
    rng = np.random.default_rng(seed)
    for i, (f, canon) in enumerate(synth_strings(pool, n, rng, locale)):
        boxes = [[c, b.x, b.y, b.w, b.h] for c, b in f.chars if c.isdigit()]
        yield f"synth_{i:04d}", f.image, canon, boxes


def true_box_penalties(reader: ChequeReader, im: np.ndarray, boxes, locale: str,
                       own_box_small: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """LeNet-5 penalties of every digit cut by its true box from the cleaned field, and labels.

    Digits are framed in field context. With ``own_box_small``, a digit under
    ``framing.FULL`` body heights is also framed by its own box, as the lattice's superscript
    arcs frame raised small cents, and keeps the framing its best class likes better.
    """
    from chequereader.clean import clean_field
    from chequereader.framing import FULL

    cf = clean_field(im, reader.config.clean, locale)
    model = reader.model_for(locale)
    crops, own, labels = [], [], []
    for d, x, y, w, h in boxes:
        m = cf.binary[max(y, 0) : y + h, max(x, 0) : x + w]
        crops.append(frame(m, cf.body_height, cf.baseline - max(y, 0)))
        rows = np.flatnonzero(m.any(axis=1))
        small = own_box_small and rows.size > 0 and rows[-1] - rows[0] + 1 < FULL * cf.body_height
        own.append(frame(m) if small else None)
        labels.append(int(d))
    if not crops:
        return np.zeros((0, len(model.alphabet)), np.float32), np.zeros(0, int)
    pen = model.predict(np.stack(crops))
    small_at = [i for i, o in enumerate(own) if o is not None]
    if small_at:
        alt = model.predict(np.stack([own[i] for i in small_at]))
        for k, i in enumerate(small_at):
            if alt[k].min() < pen[i].min():
                pen[i] = alt[k]
    return pen, np.asarray(labels)


def true_box_digit_accuracy(reader: ChequeReader, im: np.ndarray, boxes, locale: str) -> tuple[int, int]:
    pen, labels = true_box_penalties(reader, im, boxes, locale)
    return int((pen[:, :10].argmin(1) == labels).sum()), len(labels)


def render(reader: ChequeReader, im: np.ndarray, name: str, truth: str, out: Path, locale: str) -> None:
    tr = reader.trace_field(im, locale)
    vis = cv2.cvtColor(tr.clean.grey, cv2.COLOR_GRAY2BGR)
    scale = max(1, int(round(160 / max(im.shape[0], 1))))
    vis = cv2.resize(vis, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    lab = tr.segmentation.labels
    rng = np.random.default_rng(0)
    colours = rng.integers(60, 230, (lab.max() + 1, 3))
    ink = cv2.resize((lab > 0).astype(np.uint8), (vis.shape[1], vis.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    labs = cv2.resize(lab.astype(np.int32).astype(np.float32), (vis.shape[1], vis.shape[0]), interpolation=cv2.INTER_NEAREST).astype(int)
    vis[ink] = colours[labs[ink]]
    d = tr.decoding
    if d.path:
        for a, c in zip(d.path.arcs, d.path.classes):
            x, y, w, h = (int(v) * scale for v in tr.graph.boxes[a])
            cv2.rectangle(vis, (x, y), (x + w, y + h), (0, 0, 255), 1)
            cv2.putText(vis, reader.model.alphabet.chars[c], (x, max(12, y - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
    pad = np.full((40, vis.shape[1], 3), 255, np.uint8)
    txt = f"truth {truth} read {d.text!r} -> {d.amount} conf {d.confidence:.2f}"
    cv2.putText(pad, txt, (2, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.imwrite(str(out / f"{name.replace('/', '_')}.png"), np.vstack([vis, pad]))


def run_set(name: str, items, reader: ChequeReader, locale: str, tesseract: bool, render_dir: Path | None,
            corrections: dict[str, str] | None = None):
    """The set's figures; with ``corrections`` (image name -> the amount it shows), also its
    exact amount and read at <= 1% error against the labels so corrected (``*_seen``)."""
    items = list(items)
    correct, conf, timings, correct_seen = [], [], [], []
    seg_found = seg_total = dig_ok = dig_n = 0
    worst = []
    t0, c0 = time.perf_counter(), time.process_time()
    for fname, im, truth, _boxes in items:
        res = reader.read_field(im, locale=locale)
        ok = amounts_equal(res.amount, truth)
        correct.append(ok)
        if corrections is not None:
            correct_seen.append(amounts_equal(res.amount, corrections.get(Path(fname).name, truth)))
        conf.append(res.confidence if res.amount is not None else 0.0)
        timings.append(dict(res.timing_ms))
        if not ok:
            worst.append((res.confidence, fname, im, truth))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Diagnostics apart from the timed run.
    for _fname, im, _truth, boxes in items:
        tr = reader.trace_field(im, locale)
        f, t = segmentation_boundary_recall(tr.segmentation, boxes)
        seg_found += f
        seg_total += t
        a, b = true_box_digit_accuracy(reader, im, boxes, locale)
        dig_ok += a
        dig_n += b
    out = {
        "set": name,
        "n": len(items),
        "exact_no_reject": float(np.mean(correct)),
        "error_reject": error_reject(correct, conf),
        "segmentation_recall": seg_found / max(seg_total, 1),
        "true_box_digit_accuracy": dig_ok / max(dig_n, 1),
        "fields_per_s": len(items) / wall,
        # CPU time of this process (one torch thread): less sensitive to other jobs on the
        # machine than the wall clock, so runs on a shared machine compare better.
        "fields_per_cpu_s": len(items) / cpu,
        "ms_per_stage": timing_summary(timings),
    }
    if corrections is not None:
        out["exact_seen"] = float(np.mean(correct_seen))
        out["read_at_1pct_error_seen"] = error_reject(correct_seen, conf)["at_1pct_error"]["read"]
    if tesseract:
        texts = tesseract_read([im for _, im, _, _ in items])
        if locale == "cl":
            t_ok = [digits_only(t) == digits_only(tr_) and digits_only(t) != "" for t, (_, _, tr_, _) in zip(texts, items)]
        else:
            t_ok = [amounts_equal(canonical_amount(t.replace(" ", ""), locale), tr_) for t, (_, _, tr_, _) in zip(texts, items)]
        out["tesseract"] = {"version": tesseract_version(), "exact_no_reject": float(np.mean(t_ok))}
    if render_dir is not None:
        render_dir.mkdir(parents=True, exist_ok=True)
        worst.sort(key=lambda w: -w[0])  # confidently wrong first
        for _c, fname, im, truth in worst[:20]:
            render(reader, im, fname, truth, render_dir, locale)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["orand", "synth", "both"], default="both")
    ap.add_argument("--limit", type=int, default=None, help="first N ORAND fields")
    ap.add_argument("--n-synth", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--no-tesseract", action="store_true")
    ap.add_argument("--render", type=Path, default=None, help="write the worst 20 failures here")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit("../shared/data is absent")
    from chequereader.threads import set_threads

    # One thread for OpenCV (which also runs the recognizer), as cheques_bench.py runs it: on
    # a field's small images OpenCV's parallel loops (connected components, resize,
    # morphology) gain nothing and, when the second core is busy, wait for it (measured with
    # another job on the machine: 6.5 instead of 7.8 ms a field, wall clock).
    set_threads(1)
    results = []
    if args.set in ("orand", "both"):
        reader = ChequeReader(PipelineConfig(locale="cl", field=True, weights=args.weights))
        results.append(run_set("ORAND-CAR-A (cl)", load_orand(args.limit), reader, "cl",
                               not args.no_tesseract, args.render and args.render / "orand",
                               corrections=label_corrections()))
    if args.set in ("synth", "both"):
        reader = ChequeReader(PipelineConfig(locale="us", field=True, weights=args.weights))
        results.append(run_set("synthetic MNIST-test strings (us)", load_synth(args.n_synth, args.seed, "us"),
                               reader, "us", not args.no_tesseract, args.render and args.render / "synth"))
    for r in results:
        print(json.dumps(r, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print("\ncommand: python benchmarks/fields_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
