"""Fit the bundled calibration (``chequereader/calibration-default.toml``) on real cheques.

    python pipelines/calibrate_default.py [--data ../shared/data] [--target-error 0.01]

The data README allows a confidence calibrator's few coefficients to be chosen on ORAND-CAR-A
and on ``real-cheques/``. Two sets are read with the default pipeline, every calibration
feature computed:

* the 880 ORAND-CAR-A fields (Uruguayan cheques) as field crops, locale ``cl``;
* the whole cheques of ``real-cheques/`` as a user reads them (``locale = "auto"``), so the
  page features (quality flags, the located zone's penalty) and wrong zones are seen too.

One logistic model is fitted on both, and the threshold is chosen for ``--target-error``
(accepted and wrong, of all readings) on out-of-fold probabilities (10 folds).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from chequereader.calibration import DEFAULT_FILE
    from chequereader.config import PipelineConfig
    from chequereader.evaluate import calibrate_results, read_labelled

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--target-error", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=DEFAULT_FILE)
    args = ap.parse_args()
    import csv
    import tempfile

    base = replace(PipelineConfig(), evidence=True)
    real = args.data / "real-cheques"
    results, truth, names = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # real-cheques/labels.csv names files of its images/ folder
        manifest = Path(tmp) / "real-cheques.csv"
        with open(real / "labels.csv", newline="") as fh, open(manifest, "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(["file", "amount"])
            for r in csv.DictReader(fh):
                w.writerow([str(real / "images" / r["file"]), r["amount"]])
        sets = [(args.data / "orand-car-a" / "labels.csv", replace(base, field=True, locale="cl"),
                 "orand-car-a"), (manifest, base, "real-cheques")]
        for labels, cfg, name in sets:
            res, tru, _ = read_labelled(labels, cfg, progress=False, torch_threads=1)
            results += res
            truth += tru
            names.append(f"{name} ({len(res)})")
    rep = calibrate_results(results, truth, target_error=args.target_error,
                            fitted_on=" + ".join(names))
    cv = rep.cross_validated
    header = [f"written by: python pipelines/calibrate_default.py --target-error {args.target_error}",
              f"fitted on {' + '.join(names)}; cross-validated at threshold {cv.threshold:.4f}: "
              f"read {cv.read:.1%}, error {cv.error:.2%} "
              f"(95% {cv.error_interval[0]:.2%}-{cv.error_interval[1]:.2%}), reject {cv.reject:.1%}",
              "only the [calibration] table of this file is read"]
    args.out.write_text("\n".join(f"# {h}" for h in header) + "\n\n" + rep.calibration.to_toml())
    print(json.dumps(rep.as_dict() | {"out": str(args.out)}, indent=1))


if __name__ == "__main__":
    main()
