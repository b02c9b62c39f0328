"""Whole-cheque benchmark: field location, read / error / reject rates and speed, end to end.

``N`` synthetic cheques generated in memory with a fixed seed, the layouts taken in turn
(``us_personal``, ``us_business``, ``in_cts``, ``cl``) and, independently, the file formats
(PNG, JPEG, bitonal G4 TIFF): each cheque is encoded to that format's bytes and decoded
again with :func:`chequereader.io.images.load_pages`, so that the decoder's cost and
artefacts are part of the figures. Digits come from MNIST **test** writers
(``../shared/data/mnist/mnist-test.npz``, never trained on), one writer per amount; amount
symbols from the handwriting fonts. Each page is read with
``ChequeReader(PipelineConfig(locale=...))`` (one model, loaded once) in the layout's locale.

Reported per layout and per format:

* ``loc``: share of pages whose best located field (``locate_fields``) holds the written
  amount (``BBox.holds``: 70% of its ink box, in a zone at most 8 times its area; a field
  spans the printed box it was written in); ``chosen``: the same for the field the reader
  kept;
* ``read / err / rej`` at the default reject threshold (``err`` = accepted and wrong, over
  all cheques);
* the confidence threshold at which the error rate first falls to <= 1 % (over all
  cheques of the group) and the read rate there;
* cheques per second on the 1200x550 layout (``us_personal``), decode included, on
  ``--threads`` (default 2) CPU threads, and the mean ms of each stage (``timing_ms``).

    python benchmarks/cheques_bench.py --n 1000 --seed 0
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DIGITS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist" / "mnist-test.npz"
FORMATS = ("png", "jpg", "tif")
LOCALE = {"us_personal": "us", "us_business": "us", "in_cts": "in", "cl": "cl"}


@dataclass
class Row:
    layout: str
    fmt: str
    loc_ok: bool
    chosen_ok: bool
    status: str
    correct: bool
    confidence: float
    seconds: float
    timing: dict[str, float]


def encode(img: np.ndarray, fmt: str, rng: np.random.Generator) -> bytes:
    """The bytes a scanner would write: PNG, JPEG (quality 70..95) or bitonal G4 TIFF."""
    from PIL import Image

    from chequereader.synth import bitonal

    buf = io.BytesIO()
    if fmt == "tif":
        Image.fromarray(bitonal(img, rng)).convert("1").save(buf, format="TIFF", compression="group4",
                                                             dpi=(200, 200))
    elif fmt == "jpg":
        Image.fromarray(img).save(buf, format="JPEG", quality=int(rng.integers(70, 95)), dpi=(200, 200))
    else:
        Image.fromarray(img).save(buf, format="PNG", dpi=(200, 200))
    return buf.getvalue()


def threshold_for(rows: list[Row], max_error: float = 0.01) -> tuple[float, float, float]:
    """Lowest confidence threshold with error rate <= ``max_error``: (threshold, read, error).

    A page is accepted when it has an amount and its confidence is >= the threshold; rates
    are over all pages of ``rows``.
    """
    n = len(rows)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    cands = sorted({r.confidence for r in rows if r.status != "error"} | {0.0, 1.0 + 1e-9})
    for t in cands:
        acc = [r for r in rows if r.status != "error" and r.confidence >= t and r.confidence > 0]
        err = sum(not r.correct for r in acc) / n
        if err <= max_error:
            return t, sum(r.correct for r in acc) / n, err
    return 1.0, 0.0, 0.0


def run(n: int, seed: int, digits: str, weights: str | None, threads: int,
        progress: bool = True, locate_only: bool = False, config: str | None = None) -> list[Row]:
    import cv2

    from chequereader.config import load_config
    from chequereader.io.images import load_pages
    from chequereader.io.manifest import amounts_equal
    from chequereader.locate import locate_fields
    from chequereader.pipeline import ChequeReader
    from chequereader.synth import LAYOUTS, FontGlyphs, NpzDigitPool, amount_text, make_cheque
    from chequereader.threads import set_threads
    from chequereader.types import AmountResult

    set_threads(threads)
    cv2.setNumThreads(threads)
    fonts = FontGlyphs()
    src = NpzDigitPool.from_npz(digits, symbols=fonts)
    reader = None if locate_only else ChequeReader(load_config(config, locale="us", weights=weights))
    layouts = sorted(LAYOUTS)
    rows: list[Row] = []
    t_start = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        layout = layouts[i % len(layouts)]
        fmt = FORMATS[(i // len(layouts)) % len(FORMATS)]  # every layout meets every format
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, src, rng)
        data = encode(ch.image, fmt, rng)
        t0 = time.perf_counter()
        page = load_pages(data, source=f"{i}.{fmt}")[0]
        if reader is None:
            t1 = time.perf_counter()
            fields = locate_fields(page.image)
            dt = time.perf_counter() - t0
            res = AmountResult(status="rejected", field=fields[0].bbox if fields else None,
                               timing_ms={"locate": 1000 * (time.perf_counter() - t1)})
        else:
            res = reader.read_page(page, locale=LOCALE[layout], field=False)
            dt = time.perf_counter() - t0
            fields = locate_fields(page.image)
        rows.append(Row(
            layout=layout, fmt=fmt,
            loc_ok=bool(fields) and fields[0].bbox.holds(ch.field_box),
            chosen_ok=res.field is not None and res.field.holds(ch.field_box),
            status=res.status,
            correct=res.amount is not None and bool(amounts_equal(res.amount, canon)),
            confidence=float(res.confidence) if res.amount is not None else 0.0,
            seconds=dt, timing=dict(res.timing_ms),
        ))
        if progress and (i + 1) % 50 == 0:
            el = time.perf_counter() - t_start
            print(f"  {i + 1}/{n} cheques, {el:.0f} s", file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row], threshold: float) -> str:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[f"layout {r.layout}"].append(r)
    for r in rows:
        groups[f"format {r.fmt}"].append(r)
    groups["all"] = rows
    out = [f"| group | n | loc holds | chosen holds | read | err | rej (t={threshold:g}) "
           "| t for err<=1% | read there | err there |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, g in groups.items():
        n = len(g)
        ok = [r for r in g if r.status == "ok"]
        read = sum(r.correct for r in ok) / n
        err = sum(not r.correct for r in ok) / n
        t, rd, er = threshold_for(g)
        out.append(f"| {name} | {n} | {np.mean([r.loc_ok for r in g]):.1%} | "
                   f"{np.mean([r.chosen_ok for r in g]):.1%} | {read:.1%} | {err:.1%} | "
                   f"{1 - read - err:.1%} | {t:.3f} | {rd:.1%} | {er:.1%} |")
    return "\n".join(out)


def speed(rows: list[Row], threads: int) -> str:
    g = [r for r in rows if r.layout == "us_personal"]
    if not g:
        return ""
    secs = np.array([r.seconds for r in g])
    stages: dict[str, list[float]] = defaultdict(list)
    for r in g:
        for k, v in r.timing.items():
            stages[k].append(v)
    what = "decode + locate" if all(list(r.timing) == ["locate"] for r in g) else "decode + read"
    lines = [f"us_personal (1200x550), {len(g)} cheques, {threads} threads: "
             f"{1 / secs.mean():.2f} cheques/s end to end ({what}), "
             f"mean {1000 * secs.mean():.0f} ms, p95 {1000 * np.percentile(secs, 95):.0f} ms",
             "", "| stage | mean ms |", "|---|---:|"]
    lines += [f"| {k} | {np.sum(v) / len(g):.1f} |" for k, v in stages.items()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--digits", default=str(DEFAULT_DIGITS))
    ap.add_argument("--weights", default=None, help="weights file (default: the bundled one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--locate-only", action="store_true", help="location figures only (no model)")
    ap.add_argument("--config", default=None, help="pipeline TOML (as `chequereader read --config`)")
    args = ap.parse_args()
    if not Path(args.digits).exists():
        sys.exit(f"digits not found: {args.digits} (MNIST test .npz)")
    from chequereader.config import PipelineConfig

    rows = run(args.n, args.seed, args.digits, args.weights, args.threads, locate_only=args.locate_only,
               config=args.config)
    cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    print(f"`{cmd}`\n")
    print(table(rows, PipelineConfig().threshold))
    print()
    print(speed(rows, args.threads))


if __name__ == "__main__":
    main()
