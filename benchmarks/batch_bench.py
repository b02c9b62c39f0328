"""Batch throughput: ``chequereader read`` with 1 and 2 local workers and on a Dask LocalCluster.

Runs the CLI as a subprocess on the same synthetic cheques for each setting and samples the
process tree (psutil, every 50 ms) for each process's peak RSS. Reports, per setting:

* wall seconds of the whole command (imports, model loading, worker start included);
* steady rate: rows per second from the first row written to the last (start-up excluded);
* peak RSS of the main process and of the largest worker process (MiB);
* whether the rows equal those of ``--workers 1`` (status, amount, text, confidence).

The Dask overhead is the extra wall time of ``--dask local`` (2 worker processes, 1 thread
each) over ``--workers 2``.

    python benchmarks/batch_bench.py --count 40            # whole cheques (synth)
    python benchmarks/batch_bench.py --count 40 --no-dask --weights my.pt
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import sample_tree_rss  # noqa: E402


def run_setting(name: str, args: list[str], inputs: str, out: Path, common: list[str]) -> dict:
    cmd = [sys.executable, "-m", "chequereader.cli", "read", inputs, "-o", str(out), "--quiet",
           *common, *args]
    peaks: dict[int, tuple[str, float]] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = threading.Thread(target=sample_tree_rss, args=(psutil.Process(proc.pid), peaks, stop))
    sampler.start()
    first = None
    while proc.poll() is None:
        if first is None and out.exists() and out.stat().st_size > 0:
            first = time.perf_counter()
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{err[-2000:]}")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    steady = (len(rows) - 1) / (t0 + wall - first) if first and len(rows) > 1 and t0 + wall > first else 0.0
    main_rss = peaks.get(proc.pid, ("", 0.0))[1]
    workers = [rss for pid, (c, rss) in peaks.items() if pid != proc.pid and "python" in c
               and "resource_tracker" not in c and "semaphore" not in c]
    return {"setting": name, "rows": len(rows), "wall_s": wall, "rows_per_s_wall": len(rows) / wall,
            "rows_per_s_steady": steady, "main_rss_mib": main_rss,
            "worker_rss_mib": max(workers) if workers else None, "n_child_procs": len(workers),
            "keys": [(r["file"], r["page"], r["status"], r["amount"], r["text"], r["confidence"])
                     for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40, help="synthetic cheques")
    ap.add_argument("--locale", default="us")
    ap.add_argument("--inputs", help="read these instead of synthetic cheques (folder or glob)")
    ap.add_argument("--field", action="store_true", help="inputs are field crops")
    ap.add_argument("--weights", help="weights file (default: bundled; untrained if they do not load)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()

    from chequereader.errors import ModelError
    from chequereader.models.weights import load_numpy_model

    tmp = Path(tempfile.mkdtemp(prefix="batch_bench_"))
    weights = a.weights
    note = ""
    try:
        load_numpy_model(weights)
        usable = True
    except ModelError as exc:
        print(f"weights unusable ({exc}); timing with an untrained LeNet-5", file=sys.stderr)
        usable = False
    if not usable:
        import torch

        from chequereader.models.lenet5 import LeNet5
        from chequereader.models.weights import save_model

        torch.manual_seed(0)
        weights = str(save_model(LeNet5(), tmp / "untrained.pt"))
        note = "(weights unusable: an untrained LeNet-5 was used; speed only)"
    inputs = a.inputs
    if inputs is None:
        from chequereader.synth import generate

        t = time.perf_counter()
        generate(a.count, tmp / "cheques", locale=a.locale, seed=0, formats=("png", "jpg", "tif"))
        print(f"synthesised {a.count} cheques in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        inputs = str(tmp / "cheques")
    common = ["--locale", a.locale] + (["--field"] if a.field else []) + (["--weights", weights] if weights else [])
    settings = [("workers=1", []), ("workers=2", ["--workers", "2"])]
    if not a.no_dask:
        settings.append(("dask local (2x1)", ["--dask", "local"]))
    res = []
    for name, args in settings:
        print(f"running {name} ...", file=sys.stderr)
        res.append(run_setting(name, args, inputs, tmp / f"out{len(res)}.jsonl", common))
    base = res[0]["keys"]
    print()
    print(f"command: python benchmarks/batch_bench.py {' '.join(shlex.quote(x) for x in sys.argv[1:])}")
    print(f"inputs: {inputs} ({res[0]['rows']} rows), cpu cores: {os.cpu_count()} {note}")
    print(f"{'setting':<18} {'rows':>5} {'wall s':>8} {'rows/s':>8} {'steady/s':>9} {'main MiB':>9} "
          f"{'worker MiB':>11} {'same rows':>10}")
    for r in res:
        wr = f"{r['worker_rss_mib']:.0f}" if r["worker_rss_mib"] and r["setting"] != "workers=1" else "-"
        print(f"{r['setting']:<18} {r['rows']:>5} {r['wall_s']:>8.2f} {r['rows_per_s_wall']:>8.2f} "
              f"{r['rows_per_s_steady']:>9.2f} {r['main_rss_mib']:>9.0f} {wr:>11} {str(r['keys'] == base):>10}")
    if len(res) == 3:
        over = res[2]["wall_s"] - res[1]["wall_s"]
        print(f"dask overhead vs --workers 2: {over:+.2f} s wall ({over / max(res[0]['rows'], 1) * 1000:+.0f} ms/row)")
    if not a.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "keys"} for r in res], indent=1))


if __name__ == "__main__":
    main()
