#!/usr/bin/env bash
# Regenerates samples/ exactly: 12 synthetic cheques (3 of each layout: us_personal,
# us_business, in_cts, cl; PNG, JPEG and bitonal G4 TIFF in turn) and one X9.37 file of 3
# items, drawn only from what the repository may carry: the Debian handwriting fonts and
# procedural pen strokes (no --digits: nothing from ../shared/data).
# Seed 30 is the first seed whose 12 cheques hold each layout 3 times in at least two
# formats (picked for that balance, not for how well they read).
# Same bytes on the same Debian fonts, Pillow/libjpeg and OpenCV versions.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f samples/cheque_*.png samples/cheque_*.jpg samples/cheque_*.tif samples/cheques.x937 samples/labels.csv
python -m chequereader.cli synth --count 12 --out samples --locale us --seed 30 --formats png,jpg,tif
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m chequereader.cli synth --count 3 --out "$tmp" --locale us --seed 31 --formats tif --x9
cp "$tmp/cheques.x937" samples/cheques.x937
