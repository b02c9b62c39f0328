"""What retraining on your own labelled scans buys (`chequereader train fields`), on ORAND.

    python benchmarks/finetune_bench.py                 # 2 folds, about 20 minutes on 2 cores

Two recognizers trained the same way and read as one (``--ensemble``, the ``ensemble``
figures: a LeNet-5 and the wider model, their probabilities averaged)::

    python benchmarks/finetune_bench.py --keep lenet-folds
    chequereader train recognizer --model wide --data ../shared/data --out wide.pt --usps --epochs 3 --threads 2
    python benchmarks/finetune_bench.py --init wide.pt --sdnn-steps 0 --keep wide-folds   # 12-16 min a fold
    python benchmarks/finetune_bench.py --reuse lenet-folds --ensemble wide-folds
    # a third member: LeNet-5 fine-tuned from the bundled default file
    python benchmarks/finetune_bench.py --init default --sdnn-steps 0 --keep default-folds
    python benchmarks/finetune_bench.py --reuse lenet-folds --ensemble default-folds --ensemble wide-folds

ORAND-CAR-A's 880 real Uruguayan fields are split in two halves (alternate rows). For each
half, the bundled latin weights are fine-tuned on it with `train fields` (global training on
the fields, every written form of the amount as label, MNIST character loss mixed in) and
the result reads the *other* half; the bundled weights read the same half as the baseline.
Beside the figures against ORAND's labels, ``exact_seen`` and ``read_at_1pct_error_seen`` are
measured against the labels with the visibly wrong ones corrected
(``orand_label_corrections.csv``: the amount the field shows, checked by eye).
The second reader, the SDNN, is fine-tuned on the same half (`train sdnn LABELS`,
``--sdnn-steps``) and reads with it (``fine_tuned``); ``fine_tuned_no_sdnn`` is the fine-tuned
recognizer with the second reader off.
The weights made here are never bundled (ORAND is research use only); the figure says what a
user gains by retraining on a few hundred of their own labelled fields. ORAND carries no
writer ids, so a writer may appear in both halves.

``pooled``: the same over all 880 fields together, each read by the weights not trained on
it (what the fields kept apart are measured as: one set, one operating point).
Figures per fold and their mean: exact amount at no reject, error at 0 / 10 / 20% reject and
read at <= 1% error (of all fields) with the confidence as read, the read at <= 1% error of a
calibration fitted on the read half itself (cross-validated, ``chequereader calibrate``'s
figure), MNIST test error of the fine-tuned weights. The training manifests carry ORAND's
``digit_boxes``, which `train fields` cuts digits by as well (``--no-digit-boxes``: not); the
candidates the aligned labels say are not one character are taught as rubbish, as `train
fields` does by default (``--rubbish 0``: not).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, error_reject, label_corrections  # noqa: E402


def read_half(manifest: Path, weights: str | tuple[str, ...], sdnn: str = "default") -> dict:
    from chequereader.config import PipelineConfig
    from chequereader.evaluate import calibrate_results
    from chequereader.io.manifest import amounts_equal, read_manifest
    from chequereader.pipeline import ChequeReader
    from chequereader.sdnn import SDNNConfig

    reader = ChequeReader(PipelineConfig(locale="cl", field=True, weights=weights, evidence=True,
                                         sdnn=SDNNConfig(weights=sdnn)))
    seen = label_corrections()
    ok, ok_seen, conf, results, truth = [], [], [], [], []
    for row in read_manifest(manifest):
        res = reader.read_file(row.file, locale="cl", field=True)[0]
        ok.append(bool(res.amount is not None and amounts_equal(res.amount, row.amount)))
        what = seen.get(Path(row.file).name, row.amount)
        ok_seen.append(bool(res.amount is not None and amounts_equal(res.amount, what)))
        conf.append(res.confidence if res.amount is not None else 0.0)
        results.append(res)
        truth.append(row.amount)
    er = error_reject(ok, conf)
    # what a user gets who also calibrates on these labelled fields (cross-validated)
    cal = calibrate_results(results, truth, target_error=0.01).cross_validated
    return {"n": len(ok), "exact": float(np.mean(ok)),
            "error_at_reject": {k: er[k]["error"] for k in ("0%", "10%", "20%")},
            "read_at_1pct_error": er["at_1pct_error"]["read"],
            "calibrated_read_at_1pct_error": cal.read, "calibrated_error": cal.error,
            # against the labels with the visibly wrong ones corrected
            "exact_seen": float(np.mean(ok_seen)),
            "read_at_1pct_error_seen": error_reject(ok_seen, conf)["at_1pct_error"]["read"],
            # per field, for the figures pooled over both halves
            "fields": {"ok": ok, "ok_seen": ok_seen, "confidence": conf}}


def pooled(folds: list[dict], key: str) -> dict:
    """Exact and read at <= 1% error over every field of the folds together (each field read
    by the weights not trained on it), against the labels and against the corrected ones."""
    f = {k: sum((fold[key]["fields"][k] for fold in folds), []) for k in ("ok", "ok_seen", "confidence")}
    return {"exact": float(np.mean(f["ok"])),
            "read_at_1pct_error": error_reject(f["ok"], f["confidence"])["at_1pct_error"]["read"],
            "exact_seen": float(np.mean(f["ok_seen"])),
            "read_at_1pct_error_seen": error_reject(f["ok_seen"], f["confidence"])["at_1pct_error"]["read"]}


def _shown(fold: dict) -> dict:
    """``fold`` without the per-field lists."""
    return {k: {m: v for m, v in r.items() if m != "fields"} if isinstance(r, dict) else r
            for k, r in fold.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="Write the figures here too.")
    ap.add_argument("--no-digit-boxes", dest="digit_boxes", action="store_false",
                    help="Align the labels through the lattice only (train fields "
                         "--no-digit-boxes), without cutting digits by ORAND's digit_boxes.")
    ap.add_argument("--rubbish", type=float, default=0.5,
                    help="train fields --rubbish: candidates that the aligned labels say are not one "
                         "character, at most this share of the own characters (0: none).")
    ap.add_argument("--char-distort", default="elastic",
                    help="train fields --char-distort: distortions in the character stage.")
    ap.add_argument("--sdnn-steps", type=int, default=1500,
                    help="train sdnn steps fine-tuning the second reader on each half (0: the bundled one).")
    ap.add_argument("--reuse", type=Path,
                    help="Train nothing: read each half with the weights an earlier run kept here "
                         "(--keep DIR).")
    ap.add_argument("--init", default="latin",
                    help="train fields --init: the weights each fold starts from (latin: the bundled "
                         "LeNet-5; a wider model's file, e.g. from `train recognizer --model wide`).")
    ap.add_argument("--ensemble", type=Path, action="append", default=[],
                    help="Also read each half with the fold's weights and those another run kept "
                         "in this folder (--keep DIR) as one recognizer, their probabilities "
                         "averaged (``ensemble``). Repeat for more members.")
    ap.add_argument("--keep", type=Path,
                    help="Copy each fold's fine-tuned weights here (fold0.pt, fold1.pt; ORAND-trained: "
                         "never bundle or commit them).")
    args = ap.parse_args()
    src = DATA / "orand-car-a" / "labels.csv"
    if not src.is_file():
        sys.exit(f"{src} not found: this benchmark needs ../shared/data")
    from chequereader.sdnn import default_weights_path
    from chequereader.train.fields import train_fields
    from chequereader.train.sdnn import labelled_fields, train_sdnn

    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict = {"folds": []}
    with tempfile.TemporaryDirectory() as tmp:
        halves = []
        for k in (0, 1):
            p = Path(tmp) / f"half{k}.csv"
            with open(p, "w", newline="") as fh:
                w = csv.writer(fh)
                cols = ["file", "amount", "digit_boxes"]
                w.writerow(cols)
                w.writerows([(str(DATA / "orand-car-a" / r["file"]), r["amount"])
                             + (r["digit_boxes"],)
                             for i, r in enumerate(rows) if i % 2 == k])
            halves.append(p)
        for k in (0, 1):
            train, test = halves[k], halves[1 - k]
            if args.reuse:  # read with weights an earlier run kept
                wts, sd = args.reuse / f"fold{k}.pt", args.reuse / f"fold{k}-sdnn.npz"
                fold = {"bundled_latin": read_half(test, "latin"),
                        "fine_tuned": read_half(test, str(wts), str(sd) if sd.is_file() else "default"),
                        "fine_tuned_no_sdnn": read_half(test, str(wts), "off")}
                if args.ensemble:
                    fold["ensemble"] = read_half(test, (str(wts), *(str(d / wts.name) for d in args.ensemble)),
                                                 str(sd) if sd.is_file() else "default")
                print(json.dumps(_shown(fold)), flush=True)
                out["folds"].append(fold)
                continue
            wts = Path(tmp) / f"fold{k}.pt"
            res = train_fields([train], wts, locale="cl", field=True, init=args.init, data=str(DATA),
                               epochs=args.epochs, lr=args.lr, threads=args.threads, digit_boxes=args.digit_boxes,
                               rubbish=args.rubbish, char_distort=args.char_distort,
                               log=lambda m: print(m, file=sys.stderr))
            sd = "default"
            if args.sdnn_steps:
                sd = str(Path(tmp) / f"fold{k}-sdnn.npz")
                pairs, _ = labelled_fields([train], "cl", field=True)
                with np.load(DATA / "mnist" / "mnist-train.npz") as d:
                    digits = (d["images"], d["labels"], d["writers"])
                train_sdnn(sd, digits=digits, steps=args.sdnn_steps, fields=pairs, init=default_weights_path(),
                           threads=args.threads, seed=k, log=lambda m: print(m, file=sys.stderr))
            fold = {"train_fields": res["fields"], "mnist_test_error": res["metrics"]["mnist_test"]["error_rate"],
                    "bundled_latin": read_half(test, "latin"), "fine_tuned": read_half(test, str(wts), sd),
                    "fine_tuned_no_sdnn": read_half(test, str(wts), "off")}
            if args.ensemble:
                fold["ensemble"] = read_half(test, (str(wts), *(str(d / wts.name) for d in args.ensemble)), sd)
            print(json.dumps(_shown(fold)), flush=True)
            if args.keep:
                import shutil

                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(wts, args.keep / wts.name)
                if sd != "default":
                    for f in (Path(sd), Path(sd).with_suffix(".pt")):
                        shutil.copy(f, args.keep / f.name)
            out["folds"].append(fold)
    keys = ("bundled_latin", "fine_tuned", "fine_tuned_no_sdnn") + (("ensemble",) if args.ensemble else ())
    for key in keys:
        out[key] = {"exact": float(np.mean([f[key]["exact"] for f in out["folds"]])),
                    "read_at_1pct_error": float(np.mean([f[key]["read_at_1pct_error"] for f in out["folds"]])),
                    "calibrated_read_at_1pct_error": float(np.mean([f[key]["calibrated_read_at_1pct_error"]
                                                                    for f in out["folds"]])),
                    "error_at_reject": {r: float(np.mean([f[key]["error_at_reject"][r] for f in out["folds"]]))
                                        for r in ("0%", "10%", "20%")},
                    **{m: float(np.mean([f[key][m] for f in out["folds"]]))
                       for m in ("exact_seen", "read_at_1pct_error_seen")},
                    "pooled": pooled(out["folds"], key)}
    out["folds"] = [_shown(f) for f in out["folds"]]
    print(json.dumps({k: out[k] for k in keys}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
