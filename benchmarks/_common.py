"""Shared helpers of the benchmarks: error-reject figures, Tesseract peer, timing summary."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def error_reject(correct: Sequence[bool], confidence: Sequence[float], rejects=(0.0, 0.1, 0.2)) -> dict:
    """Read and error rates (fractions of ALL inputs) after rejecting the least confident."""
    c = np.asarray(correct, bool)
    conf = np.asarray(confidence, float)
    n = len(c)
    order = np.argsort(conf, kind="stable")  # least confident first
    out = {}
    for r in rejects:
        k = int(round(r * n))
        kept = order[k:]
        out[f"{int(r * 100)}%"] = {"read": float(c[kept].sum() / n), "error": float((~c[kept]).sum() / n)}
    # Smallest reject giving <= 1% error.
    wrong_sorted = (~c[order[::-1]]).cumsum()  # most confident first
    ok_sorted = c[order[::-1]].cumsum()
    idx = np.flatnonzero(wrong_sorted <= 0.01 * n)
    kk = int(idx.max()) + 1 if idx.size else 0
    out["at_1pct_error"] = {"read": float(ok_sorted[kk - 1] / n) if kk else 0.0,
                            "reject": float(1 - kk / n), "error": float(wrong_sorted[kk - 1] / n) if kk else 0.0}
    return out


def tesseract_version() -> str | None:
    exe = shutil.which("tesseract")
    if not exe:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def tesseract_read(images: Sequence[np.ndarray], whitelist: str = "0123456789.,$-/", workers: int = 2) -> list[str]:
    """Tesseract 5, ``--psm 7`` (one text line), digit/amount whitelist; raw text per image."""
    import cv2

    exe = shutil.which("tesseract")
    if not exe:
        return [""] * len(images)

    def one(im: np.ndarray) -> str:
        ok, png = cv2.imencode(".png", im)
        r = subprocess.run(
            [exe, "stdin", "stdout", "--psm", "7", "-c", f"tessedit_char_whitelist={whitelist}"],
            input=png.tobytes(), capture_output=True,
        )
        return r.stdout.decode("utf-8", "replace").strip()

    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, images))


def digits_only(s: str | None) -> str:
    return re.sub(r"\D", "", s or "")


def timing_summary(timings: Sequence[dict]) -> dict:
    keys = sorted({k for t in timings for k in t})
    return {k: float(np.mean([t.get(k, 0.0) for t in timings])) for k in keys}


def sample_tree_rss(proc, peaks: dict[int, tuple[str, float]], stop) -> None:
    """Until ``stop`` is set, every 50 ms: the RSS (MiB) of ``proc`` (a ``psutil.Process``)
    and of its children, the peak per pid kept in ``peaks`` as ``(command, MiB)``."""
    import psutil

    while not stop.is_set():
        try:
            procs = [proc] + proc.children(recursive=True)
        except psutil.Error:
            break
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
                cmd = " ".join(p.cmdline()[:6])
            except psutil.Error:
                continue
            if rss > peaks.get(p.pid, ("", 0.0))[1]:
                peaks[p.pid] = (cmd, rss)
        stop.wait(0.05)


def label_corrections() -> dict[str, str]:
    """Image name -> the amount its field shows, for the ORAND labels that are visibly wrong
    (``orand_label_corrections.csv``: found among the confident readings that disagree with
    their labels, each checked by eye)."""
    with open(Path(__file__).resolve().parent / "orand_label_corrections.csv", newline="") as fh:
        return {Path(r["file"]).name: r["seen"] for r in csv.DictReader(fh)}
