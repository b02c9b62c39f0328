"""Write the NumPy export (``.npz``) of torch weight files, so that reading needs no torch.

    python -m chequereader.models.export [FILE.pt | NAME ...] [--out FILE.npz]

With no argument, exports every bundled weight file (``chequereader.models.weights.BUNDLED``)
next to itself. Needs torch; the export records the SHA-256 of its ``.pt``, and the reader
uses it only while that ``.pt`` is unchanged. ``chequereader train`` writes the export itself.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ChequeReaderError
from .weights import BUNDLED, export_npz


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chequereader.models.export",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="*", help="weight files or bundled names (default: all bundled)")
    ap.add_argument("--out", help="where to write the export (one input only; default: FILE.npz)")
    args = ap.parse_args(argv)
    names = args.weights or list(BUNDLED)
    if args.out and len(names) != 1:
        ap.error("--out takes one input")
    for name in names:
        try:
            out = export_npz(name, args.out)
        except ChequeReaderError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"weights": str(name), "npz": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
