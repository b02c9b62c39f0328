"""Evaluation on labelled scans: read / error / reject rates, error-reject curves, reports.

Definitions (one row per manifest entry, the result of its first page):

* **read**: status ``ok`` and the amount right (equal as ``Decimal``);
* **error**: status ``ok`` and the amount wrong (the costly case for a bank);
* **reject**: status ``rejected`` or ``error`` (sent to a human).

``read + error + reject = 1``. **Exact match** ignores the reject decision: the top amount is
right, whatever its confidence. The **error-reject curve** sorts the rows by confidence and,
for every number of rejected (least confident) rows, gives the error rate among the accepted
ones; rows with no amount count as wrong and have confidence 0.

The metric functions are pure (sequences in, numbers/arrays out); :func:`evaluate_manifest`
runs the pipeline and writes ``metrics.json``, ``curve.png`` and ``report.html``.
"""

from __future__ import annotations

import base64
import collections
import html
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from .amounts import amounts_equal
from .calibration import reliability
from .errors import ConfigError
from .types import AmountResult

REJECT_POINTS = (0.0, 0.1, 0.2)

BoolArray = Sequence[bool] | np.ndarray
FloatArray = Sequence[float] | np.ndarray


# ------------------------------------------------------------------------------------------
# Pure metric functions


def correctness(predicted: Sequence[str | None], truth: Sequence[str]) -> np.ndarray:
    """``bool (n,)``: whether each predicted amount equals the true one as ``Decimal``.

    Examples
    --------
    >>> correctness(["100", "5.00", None], ["100.00", "5.01", "1"]).tolist()
    [True, False, False]
    """
    if len(predicted) != len(truth):
        raise ConfigError(f"predicted: {len(predicted)} values for {len(truth)} truths")
    return np.array([amounts_equal(p, t) for p, t in zip(predicted, truth, strict=True)], dtype=bool)


def rates(status: Sequence[str], correct: BoolArray) -> dict[str, float]:
    """Read, error and reject rates (fractions of all rows; 0.0 each for no rows).

    Examples
    --------
    >>> rates(["ok", "ok", "rejected", "error"], [True, False, True, False])
    {'read_rate': 0.25, 'error_rate': 0.25, 'reject_rate': 0.5}
    """
    st = np.asarray(list(status), dtype=object)
    ok = st == "ok"
    c = np.asarray(correct, dtype=bool)
    n = len(st)
    if n == 0:
        return {"read_rate": 0.0, "error_rate": 0.0, "reject_rate": 0.0}
    return {
        "read_rate": float((ok & c).sum() / n),
        "error_rate": float((ok & ~c).sum() / n),
        "reject_rate": float((~ok).sum() / n),
    }


def _order(confidence: FloatArray, correct: BoolArray) -> np.ndarray:
    conf = np.asarray(confidence, dtype=np.float64)
    c = np.asarray(correct, dtype=bool)
    # Most confident first; among equal confidences the wrong ones first, so that a threshold
    # can never be credited with separating rows it cannot tell apart.
    return np.lexsort((c, -conf))


def error_reject_curve(confidence: FloatArray, correct: BoolArray) -> tuple[np.ndarray, np.ndarray]:
    """The whole error-vs-reject curve.

    Parameters
    ----------
    confidence : sequence of float, shape (n,)
    correct : sequence of bool, shape (n,)

    Returns
    -------
    reject_fraction, error_rate : ndarray of float64, shape (n + 1,)
        Point ``r`` rejects the ``r`` least confident rows: ``reject_fraction[r] = r / n`` and
        ``error_rate[r]`` = wrong among the ``n - r`` accepted / ``(n - r)`` (0.0 when none is
        accepted). Empty input gives ``([0.], [0.])``.

    Examples
    --------
    >>> rf, er = error_reject_curve([0.9, 0.2, 0.6, 0.4], [True, False, True, False])
    >>> rf.tolist(), er.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.5, 0.3333333333333333, 0.0, 0.0, 0.0])
    """
    c = np.asarray(correct, dtype=bool)
    n = len(c)
    if len(confidence) != n:
        raise ConfigError(f"confidence: {len(confidence)} values for {n} rows")
    if n == 0:
        return np.zeros(1), np.zeros(1)
    wrong_sorted = (~c[_order(confidence, c)]).astype(np.int64)
    wrong_top = np.concatenate([[0], np.cumsum(wrong_sorted)])  # wrong among the top k
    k = np.arange(n, -1, -1)  # accepted when r = 0..n are rejected
    err = np.divide(wrong_top[k], k, out=np.zeros(n + 1), where=k > 0)
    return np.arange(n + 1) / n, err


def error_at_reject(confidence: FloatArray, correct: BoolArray, fraction: float) -> float:
    """Error rate among the accepted rows when the ``floor(fraction * n)`` least confident
    are rejected.

    Examples
    --------
    >>> error_at_reject([0.9, 0.2, 0.6, 0.4], [True, False, True, False], 0.25)
    0.3333333333333333
    """
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"fraction: {fraction} is not in [0, 1]")
    _, err = error_reject_curve(confidence, correct)
    n = len(err) - 1
    return float(err[int(math.floor(fraction * n + 1e-9))])


def read_at_error(confidence: FloatArray, correct: BoolArray, target: float = 0.01) -> float:
    """The largest share of all rows read right while the rows accepted wrong stay at most
    ``target`` of all rows, accepting the most confident first (ties are accepted or rejected
    together: a threshold cannot split them)."""
    from .calibration import choose_threshold

    if len(correct) == 0:
        return 0.0
    return float(choose_threshold(np.asarray(confidence, np.float64), correct, target).read)


def amount_digits(amount: str | None, decimals: bool = False) -> str:
    """The digits of a canonical amount, with two decimals forced when ``decimals``.

    Examples
    --------
    >>> amount_digits("1234.5", decimals=True), amount_digits("52931"), amount_digits(None)
    ('123450', '52931', '')
    """
    if amount is None:
        return ""
    s = str(amount).strip()
    if decimals:
        try:
            s = f"{Decimal(s):.2f}"
        except (InvalidOperation, ValueError):
            pass
    return "".join(ch for ch in s if ch.isdigit())


def _check_pairs(predicted: Sequence[str | None], truth: Sequence[str]) -> None:
    if len(predicted) != len(truth):
        raise ConfigError(f"predicted: {len(predicted)} values for {len(truth)} truths")


def _digit_pair(pred: str | None, truth: str) -> tuple[str, str]:
    # "100" read for "100.00" is right; compare both with cents when either has them.
    dec = "." in str(truth) or (pred is not None and "." in str(pred))
    return amount_digits(pred, dec), amount_digits(truth, dec)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit insert/delete/substitute).

    Examples
    --------
    >>> edit_distance("1234", "1294"), edit_distance("", "12"), edit_distance("12", "123")
    (1, 2, 1)
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(predicted: Sequence[str | None], truth: Sequence[str]) -> float:
    """Total edit distance between predicted and true amount digits / total true digits.

    A missing prediction (None) costs every true digit. 0.0 when there are no true digits.

    Examples
    --------
    >>> char_error_rate(["1294", None, "100"], ["1234", "56", "100.00"])  # (1 + 2 + 0) / (4 + 2 + 5)
    0.2727272727272727
    """
    _check_pairs(predicted, truth)
    dist = total = 0
    for p, t in zip(predicted, truth, strict=True):
        pd, td = _digit_pair(p, t)
        dist += edit_distance(pd, td)
        total += len(td)
    return dist / total if total else 0.0


def digit_confusions(predicted: Sequence[str | None], truth: Sequence[str]) -> np.ndarray:
    """``int64 (10, 10)`` counts ``[true digit, read digit]`` over the rows whose predicted and
    true digit strings have the same length (so digits align one to one).

    Examples
    --------
    >>> m = digit_confusions(["1294", "12", None], ["1234", "123", "7"])
    >>> int(m[3, 9]), int(m.trace()), int(m.sum())
    (1, 3, 4)
    """
    _check_pairs(predicted, truth)
    m = np.zeros((10, 10), np.int64)
    for p, t in zip(predicted, truth, strict=True):
        pd, td = _digit_pair(p, t)
        if pd and len(pd) == len(td):
            for a, b in zip(td, pd, strict=True):
                m[int(a), int(b)] += 1
    return m


def top_confusions(matrix: np.ndarray, k: int = 10) -> list[dict[str, int]]:
    """The ``k`` largest off-diagonal cells as ``{"true", "read", "count"}``, largest first."""
    off = np.asarray(matrix).copy()
    np.fill_diagonal(off, 0)
    idx = np.argsort(-off, axis=None, kind="stable")[:k]
    out = []
    for i in idx:
        t, r = divmod(int(i), off.shape[1])
        if off[t, r] > 0:
            out.append({"true": t, "read": r, "count": int(off[t, r])})
    return out


def breakdown_by_flag(flags: Sequence[Sequence[str]], status: Sequence[str],
                      correct: BoolArray) -> dict[str, dict[str, float]]:
    """Rates per quality flag (a row counts under each of its flags; ``"none"`` when it has none).

    Examples
    --------
    >>> breakdown_by_flag([["skew"], []], ["ok", "ok"], [False, True])["skew"]
    {'n': 1, 'read_rate': 0.0, 'error_rate': 1.0, 'reject_rate': 0.0}
    """
    groups: dict[str, list[int]] = {}
    for i, fl in enumerate(flags):
        for f in (list(fl) or ["none"]):
            groups.setdefault(str(f), []).append(i)
    st = list(status)
    c = np.asarray(correct, dtype=bool)
    out: dict[str, dict[str, float]] = {}
    for f in sorted(groups):
        idx = groups[f]
        out[f] = {"n": len(idx), **rates([st[i] for i in idx], c[idx])}
    return out


def stage_means(timings: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean milliseconds per stage over the rows that ran it.

    Examples
    --------
    >>> stage_means([{"clean": 2.0, "total": 5.0}, {"clean": 4.0}])
    {'clean': 3.0, 'total': 5.0}
    """
    acc: dict[str, list[float]] = {}
    for t in timings:
        for k, v in t.items():
            acc.setdefault(k, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def compute_metrics(results: Sequence[AmountResult], truth: Sequence[str], *,
                    seconds: float | None = None, reject_threshold: float | None = None) -> dict[str, Any]:
    """All figures of ``metrics.json`` from results and true amounts (same order)."""
    if len(results) != len(truth):
        raise ConfigError(f"results: {len(results)} for {len(truth)} labels")
    pred = [r.amount for r in results]
    status = [r.status for r in results]
    conf = [float(r.confidence) if r.amount is not None else 0.0 for r in results]
    c = correctness(pred, truth)
    rf, er = error_reject_curve(conf, c)
    conf_m = digit_confusions(pred, truth)
    n = len(results)
    counts = {s: int(sum(1 for x in status if x == s)) for s in ("ok", "rejected", "error")}
    m: dict[str, Any] = {
        "n": n,
        "reject_threshold": reject_threshold,
        **rates(status, c),
        "exact_match": float(c.mean()) if n else 0.0,
        "counts": counts,
        "error_at_reject": {f"{p:g}": error_at_reject(conf, c, p) for p in REJECT_POINTS},
        "char_error_rate": char_error_rate(pred, truth),
        "digit_confusions": {"matrix": conf_m.tolist(), "top": top_confusions(conf_m)},
        "by_quality": breakdown_by_flag([r.quality for r in results], status, c),
        "stage_ms": stage_means([r.timing_ms for r in results if r.status != "error"]),
        "curve": {"reject_fraction": rf.tolist(), "error_rate": er.tolist()},
        "read_at_1pct_error": read_at_error(conf, c, 0.01),
        "reliability": reliability(np.asarray(conf, float), c),
    }
    if seconds is not None:
        m["seconds"] = float(seconds)
        m["throughput_fields_per_s"] = n / seconds if seconds > 0 else 0.0
    return m


# ------------------------------------------------------------------------------------------
# Outputs


def _axes() -> tuple[Any, Any]:
    """A 5 x 3.6 inch figure and its axes on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5, 3.6), dpi=100)


def _save(fig: Any, ax: Any, path: str | Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p


def plot_curve(reject_fraction: Sequence[float], error_rate: Sequence[float], path: str | Path,
               title: str = "") -> Path:
    """Write the error-vs-reject curve as a PNG (matplotlib, Agg backend)."""
    fig, ax = _axes()
    ax.plot(100 * np.asarray(reject_fraction), 100 * np.asarray(error_rate), lw=1.5)
    ax.set_xlabel("rejected (%)")
    ax.set_ylabel("error among accepted (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    return _save(fig, ax, path, title)


def plot_reliability(rel: Mapping[str, Any], path: str | Path, title: str = "") -> Path:
    """Write a reliability diagram (share right against stated confidence, per bin) as a PNG."""
    fig, ax = _axes()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    mp, right, cnt = rel.get("mean_probability", []), rel.get("right", []), rel.get("count", [])
    if mp:
        ax.plot(mp, right, marker="o", lw=1.5, label="readings")
        for x, y, n in zip(mp, right, cnt):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, ax, path, title)


def _png_b64(img: np.ndarray, max_w: int = 520) -> str:
    import cv2

    h, w = img.shape[:2]
    if w > max_w:
        img = cv2.resize(img, (max_w, max(1, int(round(h * max_w / w)))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


_JS = """
(function () {
  function key(td, numeric) {
    var v = td.getAttribute('data-v');
    if (v === null) { v = td.textContent; }
    return numeric ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(table, col, asc) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = table.tHead.rows[0].cells[col].getAttribute('data-type') === 'num';
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (x < y) { return asc ? -1 : 1; }
      if (x > y) { return asc ? 1 : -1; }
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.setAttribute('data-sorted', col + (asc ? ':asc' : ':desc'));
  }
  var table = document.getElementById('failures');
  if (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('data-asc') !== '1';
        th.setAttribute('data-asc', asc ? '1' : '0');
        sortBy(table, i, asc);
      });
    });
    var c = table.getAttribute('data-conf-col');
    if (c !== null) { sortBy(table, parseInt(c, 10), true); }
  }
  document.body.setAttribute('data-ready', '1');
})();
"""

_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}
th{background:#eee;cursor:pointer}
td.img img{max-width:520px}
.ok{color:#070}.rejected{color:#a60}.error{color:#b00}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{100 * v:.2f}%"
    return html.escape(str(v))


def write_report(path: str | Path, metrics: Mapping[str, Any], failures: Sequence[Mapping[str, Any]],
                 curve_png: str | Path | None = None, title: str = "chequereader evaluation",
                 reliability_png: str | Path | None = None) -> Path:
    """Write a self-contained ``report.html`` (inline PNGs, inline JS, no network).

    ``failures`` rows: ``file, truth, text, amount, confidence, status, quality, error`` and an
    optional ``image`` (BGR array, drawn as a thumbnail).
    """
    summary = [("rows", metrics.get("n")), ("read rate", metrics.get("read_rate")),
               ("error rate", metrics.get("error_rate")), ("reject rate", metrics.get("reject_rate")),
               ("reject threshold", None if metrics.get("reject_threshold") is None
                else f"{metrics['reject_threshold']:g}"),
               ("exact match (no reject)", metrics.get("exact_match")),
               ("read at <= 1% error", metrics.get("read_at_1pct_error")),
               ("calibration error (ECE)", (metrics.get("reliability") or {}).get("ece")),
               ("character error rate", metrics.get("char_error_rate"))]
    for k, v in (metrics.get("error_at_reject") or {}).items():
        summary.append((f"error at {100 * float(k):g}% reject", v))
    if "throughput_fields_per_s" in metrics:
        summary.append(("throughput (fields/s)", f"{metrics['throughput_fields_per_s']:.2f}"))
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             "<table id='summary'><tbody>"]
    for k, v in summary:
        parts.append(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v) if v is not None else '-'}</td></tr>")
    parts.append("</tbody></table>")
    if curve_png is not None and Path(curve_png).exists():
        b64 = base64.b64encode(Path(curve_png).read_bytes()).decode("ascii")
        parts.append(f"<h2>Error vs reject</h2><img id='curve' alt='error-reject curve' src='data:image/png;base64,{b64}'>")
    if reliability_png is not None and Path(reliability_png).exists():
        b64 = base64.b64encode(Path(reliability_png).read_bytes()).decode("ascii")
        parts.append("<h2>Reliability</h2><img id='reliability' alt='reliability diagram' "
                     f"src='data:image/png;base64,{b64}'>")
    stage = metrics.get("stage_ms") or {}
    if stage:
        parts.append("<h2>Mean time per stage (ms)</h2><table id='stages'><tbody>")
        for k, v in stage.items():
            parts.append(f"<tr><th>{html.escape(k)}</th><td>{v:.2f}</td></tr>")
        parts.append("</tbody></table>")
    byq = metrics.get("by_quality") or {}
    if byq:
        parts.append("<h2>By quality flag</h2><table id='quality'><thead><tr><th>flag</th><th>n</th>"
                     "<th>read</th><th>error</th><th>reject</th></tr></thead><tbody>")
        for flag, v in byq.items():
            parts.append(f"<tr><td>{html.escape(flag)}</td><td>{v['n']}</td><td>{_fmt(v['read_rate'])}</td>"
                         f"<td>{_fmt(v['error_rate'])}</td><td>{_fmt(v['reject_rate'])}</td></tr>")
        parts.append("</tbody></table>")
    top = (metrics.get("digit_confusions") or {}).get("top") or []
    if top:
        parts.append("<h2>Most frequent digit confusions (aligned readings)</h2>"
                     "<table id='confusions'><thead><tr><th>true</th><th>read as</th><th>count</th></tr></thead><tbody>")
        parts += [f"<tr><td>{c['true']}</td><td>{c['read']}</td><td>{c['count']}</td></tr>" for c in top]
        parts.append("</tbody></table>")
    parts.append(f"<h2>Errors and rejects ({len(failures)})</h2>")
    cols = [("#", "num"), ("file", "str"), ("truth", "str"), ("read", "str"), ("amount", "str"),
            ("confidence", "num"), ("status", "str"), ("quality", "str"), ("overlay", "str")]
    parts.append("<table id='failures' data-conf-col='5'><thead><tr>")
    parts += [f"<th data-type='{t}'>{c}</th>" for c, t in cols]
    parts.append("</tr></thead><tbody>")
    for i, f in enumerate(failures):
        img = f.get("image")
        thumb = (f"<img alt='overlay' src='data:image/png;base64,{_png_b64(img)}'>"
                 if img is not None else html.escape(str(f.get("error") or "")))
        conf = float(f.get("confidence") or 0.0)
        st = str(f.get("status"))
        parts.append(
            f"<tr><td data-v='{i}'>{i + 1}</td><td>{html.escape(str(f.get('file', '')))}</td>"
            f"<td>{html.escape(str(f.get('truth', '')))}</td><td>{html.escape(str(f.get('text') or ''))}</td>"
            f"<td>{html.escape(str(f.get('amount') or ''))}</td><td data-v='{conf:.6f}'>{conf:.3f}</td>"
            f"<td class='{html.escape(st)}'>{html.escape(st)}</td>"
            f"<td>{html.escape(' '.join(f.get('quality') or ()))}</td><td class='img'>{thumb}</td></tr>")
    parts.append("</tbody></table>")
    parts.append(f"<script>{_JS}</script></body></html>")
    p = Path(path)
    p.write_text("".join(parts), encoding="utf-8")
    return p


# ------------------------------------------------------------------------------------------
# The whole evaluation


def read_labelled(labels_csv: str | Path, config: Any, *, workers: int = 1, progress: bool = True,
                  reader: Any = None, torch_threads: int | None = None
                  ) -> tuple[list[AmountResult], list[str], float]:
    """Read every entry of a labels manifest (or the labelled items of an X9.37 file).

    Returns the results (the first page of each manifest entry, in manifest order; a file
    that gave nothing is an ``error`` result), the true amounts and the seconds taken.

    X9 items are read without amount verification (``x9_verify``): the record-25 amount may
    be the very label, and the reading is what is measured.
    """
    from dataclasses import replace

    from .batch import Progress, iter_batch
    from .io.manifest import read_manifest
    from .io.x937 import is_x937

    cfg = replace(config, x9_verify=False) if getattr(config, "x9_verify", False) else config
    if reader is not None and getattr(reader.config, "x9_verify", False):
        reader = type(reader)(replace(reader.config, x9_verify=False), model=reader.model)
    x9 = is_x937(labels_csv)
    rows = [] if x9 else read_manifest(labels_csv)
    files = [os.fspath(labels_csv)] if x9 else list(dict.fromkeys(r.file for r in rows))
    by_file: dict[str, list[AmountResult]] = {}
    prog = Progress(len(files), enabled=progress)
    t0 = time.perf_counter()
    try:
        for path, res in iter_batch(files, cfg, workers=workers, reader=reader,
                                     torch_threads=torch_threads):
            by_file[path] = res
            prog.update(res)
    finally:
        prog.close()
    seconds = time.perf_counter() - t0
    results: list[AmountResult] = []
    if x9:
        got = by_file.get(files[0]) or []
        results = [r for r in got if r.extra.get("x9_amount")]
        if not results:
            errs = "; ".join(r.error for r in got if r.error)
            raise ConfigError(f"{labels_csv}: no X9 item with a record-25 amount to evaluate"
                              + (f" ({errs})" if errs else ""))
        truth = [str(r.extra["x9_amount"]) for r in results]
    else:
        for r in rows:
            got = by_file.get(r.file) or [AmountResult(status="error", file=r.file, error="not read")]
            results.append(got[0])
        truth = [r.amount for r in rows]
    return results, truth, seconds


def evaluate_manifest(labels_csv: str | Path, config: Any = None, out_dir: str | Path = "evaluation", *,
                      workers: int = 1, progress: bool = True, reader: Any = None,
                      max_report: int = 300, torch_threads: int | None = None) -> dict[str, Any]:
    """Run the pipeline on a labels manifest; write ``metrics.json``, ``curve.png``, ``report.html``.

    Parameters
    ----------
    labels_csv : str or Path
        Manifest ``file,amount`` (docs/design.md section 6), files relative to the CSV; or an X9.37
        cash letter, whose items are labelled by their record-25 amounts (items without
        one, such as deposit tickets, are left out).
    config : PipelineConfig, optional
    out_dir : str or Path
        Created if needed.
    workers : int
        Local worker processes for the reading (the report's overlays are drawn here).
    reader : ChequeReader, optional
        Reader for in-process runs and overlays (e.g. with an explicit model).
    max_report : int
        Most errors/rejects drawn as thumbnails (the least confident first).
    torch_threads : int, optional
        See :func:`chequereader.batch.iter_batch`.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    from .batch import cached_reader
    from .config import PipelineConfig
    from .inspect import overlay_for
    from .io.images import load_pages

    cfg = config or PipelineConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, truth, seconds = read_labelled(labels_csv, cfg, workers=workers, progress=progress,
                                            reader=reader, torch_threads=torch_threads)
    m = compute_metrics(results, truth, seconds=seconds, reject_threshold=cfg.threshold)
    m.update({"labels": str(labels_csv), "locale": cfg.locale, "field": cfg.field,
              "weights": cfg.weights or "bundled", "workers": workers})
    (out / "metrics.json").write_text(json.dumps(m, indent=1))
    curve = plot_curve(m["curve"]["reject_fraction"], m["curve"]["error_rate"], out / "curve.png",
                       title=f"{Path(labels_csv).name}: n={m['n']}")
    plot_reliability(m["reliability"], out / "reliability.png",
                     title=f"{Path(labels_csv).name}: n={m['n']}, ECE {m['reliability']['ece']:.3f}")

    correct = correctness([r.amount for r in results], truth)
    fail_idx = [i for i, r in enumerate(results) if r.status != "ok" or not correct[i]]
    fail_idx.sort(key=lambda i: results[i].confidence)
    rd = None
    failures: list[dict[str, Any]] = []
    for rank, i in enumerate(fail_idx):
        fr = results[i]
        row: dict[str, Any] = {
            "file": fr.file, "truth": truth[i], "text": fr.text, "amount": fr.amount,
            "confidence": fr.confidence, "status": fr.status, "quality": fr.quality, "error": fr.error,
        }
        if rank < max_report and fr.status != "error":
            try:
                if rd is None:
                    rd = reader if reader is not None else cached_reader(cfg)
                page = load_pages(fr.file, limits=cfg.limits, source=fr.file)[fr.page]
                row["image"] = overlay_for(rd, page.image, fr, truth=truth[i])
            except Exception as exc:  # a thumbnail is never worth losing the report
                row["error"] = f"no overlay ({type(exc).__name__}: {exc})"
        failures.append(row)
    write_report(out / "report.html", m, failures, curve, reliability_png=out / "reliability.png")
    return m


# ------------------------------------------------------------------------------------------
# Calibration on labelled scans


@dataclass(frozen=True)
class CalibrationReport:
    """What :func:`calibrate_manifest` fitted and how it is expected to do.

    ``calibration``: the model fitted on every labelled reading, with its threshold.
    ``cross_validated``: the operating point measured out of fold (each reading judged by a
    model that did not see it, at a threshold chosen on out-of-fold probabilities): what the
    pipeline file should do on new scans like these. ``before``: the same figures with the
    decoder's own confidence. ``feature_weights``: the standardised weight per feature
    (which evidence matters); ``reliability``: out-of-fold reliability diagram data.
    """

    calibration: Any
    n: int
    exact: float
    cross_validated: Any
    before: Any
    feature_weights: dict[str, float]
    reliability: dict[str, Any]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "exact": self.exact, "threshold": self.calibration.threshold,
                "cross_validated": self.cross_validated.as_dict(), "before": self.before.as_dict(),
                "feature_weights": self.feature_weights, "reliability": self.reliability,
                "warnings": list(self.warnings)}


def calibrate_results(results: Sequence[AmountResult], truth: Sequence[str], *, target_error: float,
                      folds: int = 10, l2: float | None = None, fitted_on: str = "",
                      features: Sequence[str] | None = None) -> CalibrationReport:
    """Fit the confidence model on read results that carry their evidence
    (``AmountResult.features``, a reader with ``PipelineConfig(evidence=True)``); ``l2``
    None: :data:`chequereader.calibration.DEFAULT_L2`."""
    from . import calibration as cal

    names = tuple(features or cal.FEATURES)
    l2 = cal.DEFAULT_L2 if l2 is None else l2
    cols = [cal.FEATURES.index(f) for f in names]
    # Error rows and readings refused whatever their confidence (reject_reason: a script
    # the recognizer cannot read, a reading only the SDNN makes) are rejects at any threshold.
    keep = [i for i, r in enumerate(results) if r.status != "error" and "reject_reason" not in r.extra]
    n_err = sum(1 for r in results if r.status == "error")
    c_all = correctness([r.amount for r in results], truth)
    x = np.array([results[i].features for i in keep if results[i].features], np.float64)
    if len(x) != len(keep):
        raise ConfigError("calibrate: results carry no evidence (read with evidence=True)")
    if len(keep) < 2:
        raise ConfigError(f"calibrate: {len(keep)} readable labelled scans (none refused); "
                          "at least 2 needed")
    x = x[:, cols]
    y = c_all[keep]
    p_cv = np.zeros(len(results))
    p_cv[keep] = cal.cross_validated(x, y, folds=folds, features=names, l2=l2)
    # error rows stay in the denominator (they are rejects: sent to a person)
    op = cal.choose_threshold(p_cv, c_all, target_error)
    raw = np.zeros(len(results))
    raw[keep] = [results[i].confidence if results[i].amount is not None else 0.0 for i in keep]
    before = cal.choose_threshold(raw, c_all, target_error)
    model = cal.fit(x, y, features=names, l2=l2, threshold=op.threshold, fitted_on=fitted_on,
                    target_error=target_error)
    warnings = list(op.warnings)
    if n_err:
        warnings.append(f"{n_err} labelled scans could not be read (error rows): counted as rejects")
    refused = collections.Counter(str(r.extra["reject_reason"]) for r in results
                                  if r.status != "error" and "reject_reason" in r.extra)
    if refused:
        said = ", ".join(f"{k} {v}" for k, v in sorted(refused.items()))
        warnings.append(f"{sum(refused.values())} readings refused whatever their confidence ({said}): "
                        "left out of the fit, counted as rejects")
    return CalibrationReport(model, len(results), float(c_all.mean()), op,
                             before,
                             {f: float(w) for f, w in zip(names, model.coef)},
                             reliability(p_cv[keep], y), tuple(warnings))


def calibrate_manifest(labels_csv: str | Path, config: Any = None, *, target_error: float = 0.01,
                       folds: int = 10, workers: int = 1, progress: bool = True,
                       torch_threads: int | None = None) -> CalibrationReport:
    """Read a labels manifest with every calibration feature and fit the confidence model
    and threshold for ``target_error`` (:func:`calibrate_results`)."""
    from dataclasses import replace

    from .config import PipelineConfig

    cfg = replace(config or PipelineConfig(), evidence=True)
    results, truth, _ = read_labelled(labels_csv, cfg, workers=workers, progress=progress,
                                      torch_threads=torch_threads)
    from . import calibration as cal

    # without the second reader its features are not there to fit (nor, later, to read)
    features = None if cfg.sdnn.enabled else [f for f in cal.FEATURES if f not in cal.SDNN_FEATURES]
    return calibrate_results(results, truth, target_error=target_error, folds=folds,
                             fitted_on=f"{Path(labels_csv).name} ({len(results)} labelled scans)",
                             features=features)


def pipeline_toml(config: Any, calibration: Any, header: Sequence[str] = ()) -> str:
    """A pipeline TOML that reads as ``config`` does with ``calibration``: the top-level
    settings that differ from the defaults, each stage table that differs, and the
    ``[calibration]`` table (comment lines ``header`` first). Keys a pipeline TOML does not
    set (:data:`chequereader.config.NOT_IN_TOML`, ``weights_cl`` beside ``weights``) are left
    out, so the file loads (``--pipeline``)."""
    import dataclasses

    from .config import NOT_IN_TOML, PipelineConfig

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, float) and not math.isfinite(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)

    default = PipelineConfig()
    lines = [f"# {h}" for h in header]
    tables: list[str] = []
    for f in dataclasses.fields(PipelineConfig):
        if f.name in ("calibration", "evidence", "reject_threshold"):
            continue
        if f.name == "weights_cl" and config.weights is not None:
            continue
        v, d = getattr(config, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(v):
            diff = [(g.name, getattr(v, g.name)) for g in dataclasses.fields(v)
                    if getattr(v, g.name) != getattr(d, g.name)
                    and (f.name, g.name) not in NOT_IN_TOML]
            if diff:
                tables.append(f"\n[{f.name}]")
                tables += [f"{k} = {val(x)}" for k, x in diff if x is not None]
        elif v != d and v is not None:
            lines.append(f"{f.name} = {val(v)}")
    return "\n".join(lines + tables) + "\n\n" + calibration.to_toml()
