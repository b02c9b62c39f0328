"""Streaming inputs: ``chequereader read`` on one big X9.37 file and one big multi-page TIFF.

Writes (in a temporary folder) an X9.37 file of ``--items`` items (2,500 by default) and a
multi-page G4 TIFF of ``--pages`` pages (500), plus a tenth of each, and runs the CLI on them
with 1 and 2 workers. The pages are **small** (field-sized, ``--page-size`` 120x480 px, printed
digits drawn with OpenCV, read with ``--field``) so that the whole benchmark runs in a few
minutes: what it measures is how memory and the first row behave as the input grows, not
the reading of full cheques. Reports, per run:

* peak RSS of the main process and of the largest worker (MiB; psutil, sampled every 50 ms);
* time to the first row in the output (seconds from the command's start: imports and model
  loading included);
* items/s: rows per second from the first row to the last (start-up excluded; a run that
  writes all its rows at the end looks fast here, compare the wall figure), and rows per
  second over the whole command;
* wall seconds of the whole command.

``--baseline DIR`` runs the same commands with the package found in DIR first on
``PYTHONPATH`` (e.g. an older checkout unpacked with ``git archive REV chequereader | tar -x
-C DIR``) for a before/after comparison on the same machine.

    python benchmarks/stream_bench.py                       # 2,500 items, 500 pages
    python benchmarks/stream_bench.py --items 300 --pages 60 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import sample_tree_rss  # noqa: E402


def _page(i: int, h: int, w: int):
    import cv2
    import numpy as np

    img = np.full((h, w), 255, np.uint8)
    cv2.putText(img, f"{(i * 7919) % 100000 / 100:.2f}", (10, int(h * 0.7)),
                cv2.FONT_HERSHEY_SIMPLEX, h / 60, 0, max(2, h // 40))
    return img


def make_inputs(folder: Path, items: int, pages: int, h: int, w: int) -> dict[str, Path]:
    from chequereader.io.images import encode_tiff_g4, write_tiff_g4
    from chequereader.io.x937 import X9Item, write_x937

    out: dict[str, Path] = {}
    for name, n in ((f"x9_{items}", items), (f"x9_{max(1, items // 10)}", max(1, items // 10))):
        p = folder / f"{name}.x937"
        write_x937(p, [X9Item(str(i + 1), (i * 7919) % 100000, encode_tiff_g4(_page(i, h, w)),
                              None, i) for i in range(n)], "ebcdic", created=datetime(2024, 1, 1))
        out[name] = p
    for name, n in ((f"tiff_{pages}", pages), (f"tiff_{max(1, pages // 10)}", max(1, pages // 10))):
        p = folder / f"{name}.tif"
        write_tiff_g4(p, [_page(i, h, w) for i in range(n)])
        out[name] = p
    return out


def run(name: str, path: Path, workers: int, out: Path, pythonpath: Path) -> dict:
    cmd = [sys.executable, "-m", "chequereader", "read", str(path), "--field", "-o", str(out),
           "--quiet", "--workers", str(workers)]
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    peaks: dict[int, tuple[str, float]] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=str(out.parent))
    sampler = threading.Thread(target=sample_tree_rss, args=(psutil.Process(proc.pid), peaks, stop))
    sampler.start()
    first = None
    while proc.poll() is None:
        if first is None and out.exists() and out.stat().st_size > 0:
            first = time.perf_counter()
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    rows = out.read_text().count("\n") if out.exists() else 0
    if first is None and rows:
        first = t0 + wall
    main_rss = peaks.get(proc.pid, ("", 0.0))[1]
    kids = [rss for pid, (c, rss) in peaks.items() if pid != proc.pid and "spawn_main" in c]
    steady = (rows - 1) / (t0 + wall - first) if first and rows > 1 and t0 + wall > first else 0.0
    return {"input": name, "workers": workers, "exit": proc.returncode, "rows": rows,
            "wall_s": round(wall, 2),
            "first_row_s": round(first - t0, 2) if first else None,
            "items_per_s": round(steady, 1), "items_per_s_wall": round(rows / wall, 1),
            "main_rss_mib": round(main_rss, 1),
            "worker_rss_mib": round(max(kids), 1) if kids else None,
            "stderr_tail": err[-300:] if proc.returncode not in (0,) else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2500)
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--page-size", default="120x480", help="HxW of every page / item image")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--baseline", type=Path,
                    help="Also run with this package folder first on PYTHONPATH.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    h, w = (int(x) for x in args.page_size.lower().split("x"))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        inputs = make_inputs(folder, args.items, args.pages, h, w)
        sizes = {k: p.stat().st_size for k, p in inputs.items()}
        print(f"inputs written in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()), file=sys.stderr)
        trees = [("this", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
        for tree, pp in trees:
            for name, path in inputs.items():
                for wk in (int(x) for x in args.workers.split(",")):
                    out = folder / f"{tree}-{name}-{wk}.jsonl"
                    r = run(name, path, wk, out, pp) | {"code": tree}
                    results.append(r)
                    print(json.dumps(r), file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("| code | input | workers | rows | exit | peak RSS main / worker (MiB) | first row (s) "
          "| items/s (first to last row / whole command) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        wr = "-" if r["worker_rss_mib"] is None else f"{r['worker_rss_mib']:.0f}"
        print(f"| {r['code']} | {r['input']} | {r['workers']} | {r['rows']} | {r['exit']} | "
              f"{r['main_rss_mib']:.0f} / {wr} | {r['first_row_s']} | {r['items_per_s']} / "
              f"{r['items_per_s_wall']} | "
              f"{r['wall_s']} |")


if __name__ == "__main__":
    main()
