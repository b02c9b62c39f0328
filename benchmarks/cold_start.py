"""Cold start: wall time of a fresh process that imports the package, and of one that reads
one cheque, each the median of several runs.

    python benchmarks/cold_start.py [--python PY ...] [--root CHECKOUT] [--runs 5]

For each interpreter given (default: this one), runs in a subprocess, from the checkout
``--root`` (default: this one) with it first on ``PYTHONPATH``:

* ``PY -c "import chequereader"``;
* ``PY -m chequereader read samples/cheque_0000.png`` (what ``chequereader read`` runs);

and reports the median and range of the wall times, whether that interpreter has torch, and
whether reading imported it. Run it once in an environment with torch and once in one
without (``pip install -e .``) to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "samples/cheque_0000.png"
# Reads the sample as `chequereader read` does and says whether torch got imported.
READ = ("import sys\nfrom chequereader.cli import main\n"
        "try:\n    main(['read', '--quiet', %r])\nexcept SystemExit as e:\n    code = e.code\n"
        "print('torch imported:', 'torch' in sys.modules, file=sys.stderr)\nsys.exit(code)\n")


def timed(cmd: list[str], root: Path, runs: int) -> tuple[list[float], str]:
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    times, err = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
        err = r.stderr
    return times, err


def summary(times: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", action="append", help="interpreter(s) to measure (repeatable)")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to run (default: this one)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for py in args.python or [sys.executable]:
        has_torch = subprocess.run([py, "-c", "import importlib.util as u; "
                                    "raise SystemExit(u.find_spec('torch') is None)"]).returncode == 0
        imp, _ = timed([py, "-c", "import chequereader"], args.root, args.runs)
        read_cmd = [py, "-c", READ % SAMPLE]
        rd, err = timed(read_cmd, args.root, args.runs)
        rows.append({"python": py, "root": str(args.root), "torch_installed": has_torch,
                     "import": summary(imp), "read_one_file": summary(rd),
                     "read_imported_torch": "torch imported: True" in err})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
