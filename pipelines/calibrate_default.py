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

The same is done again with the second reader off (``[sdnn] weights = "off"``), for
``calibration-default-nosdnn.toml``: the bundled calibration of a pipeline that reads with
the segmentation graph alone.
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
    from chequereader.calibration import DEFAULT_FILE, DEFAULT_FILE_NO_SDNN, FEATURES, SDNN_FEATURES
    from chequereader.config import PipelineConfig
    from chequereader.evaluate import calibrate_results, read_labelled
    from chequereader.sdnn import SDNNConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--target-error", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--out-no-sdnn", type=Path, default=DEFAULT_FILE_NO_SDNN,
                    help="Where the calibration of readings without the second reader goes.")
    args = ap.parse_args()
    import csv
    import tempfile

    real = args.data / "real-cheques"
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        # real-cheques/labels.csv names files of its images/ folder
        manifest = Path(tmp) / "real-cheques.csv"
        with open(real / "labels.csv", newline="") as fh, open(manifest, "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(["file", "amount"])
            for r in csv.DictReader(fh):
                w.writerow([str(real / "images" / r["file"]), r["amount"]])
        for sdnn, path in ((True, args.out), (False, args.out_no_sdnn)):
            base = replace(PipelineConfig(), evidence=True,
                           sdnn=SDNNConfig() if sdnn else SDNNConfig(weights="off"))
            results, truth, names = [], [], []
            sets = [(args.data / "orand-car-a" / "labels.csv", replace(base, field=True, locale="cl"),
                     "orand-car-a"), (manifest, base, "real-cheques")]
            for labels, cfg, name in sets:
                res, tru, _ = read_labelled(labels, cfg, progress=False, torch_threads=1)
                results += res
                truth += tru
                names.append(f"{name} ({len(res)})")
            features = FEATURES if sdnn else tuple(f for f in FEATURES if f not in SDNN_FEATURES)
            rep = calibrate_results(results, truth, target_error=args.target_error,
                                    fitted_on=" + ".join(names) + ("" if sdnn else ", second reader off"),
                                    features=features)
            cv = rep.cross_validated
            off = ' read with the second reader off ([sdnn] weights = "off")'
            header = [f"written by: python pipelines/calibrate_default.py --target-error {args.target_error}",
                      f"fitted on {' + '.join(names)}{'' if sdnn else off}; "
                      f"cross-validated at threshold {cv.threshold:.4f}: "
                      f"read {cv.read:.1%}, error {cv.error:.2%} "
                      f"(95% {cv.error_interval[0]:.2%}-{cv.error_interval[1]:.2%}), reject {cv.reject:.1%}",
                      "only the [calibration] table of this file is read"]
            path.write_text("\n".join(f"# {h}" for h in header) + "\n\n" + rep.calibration.to_toml())
            report[str(path)] = rep.as_dict()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
