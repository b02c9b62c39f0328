"""Field-location benchmark on synthetic cheques.

Generates cheques in memory (MNIST-test digits when ``--digits`` exists, else fonts and
procedural strokes), runs :func:`chequereader.locate.locate_fields` and reports, per layout,
the share of pages whose best field holds the written amount (``BBox.holds``: 70% of its
ink box, in a zone at most 8 times its area), the share where any of the returned fields does, and the mean / 95th percentile time per page.

    python benchmarks/locate_bench.py --n 300 --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from chequereader.locate import LocateConfig, locate_fields
from chequereader.synth import LAYOUTS, FontGlyphs, NpzDigitPool, amount_text, make_cheque

DEFAULT_DIGITS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist" / "mnist-test.npz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--digits", default=str(DEFAULT_DIGITS))
    ap.add_argument("--show-failures", default="", help="folder to write failing pages to")
    args = ap.parse_args()
    fonts = FontGlyphs()
    src = NpzDigitPool.from_npz(args.digits, symbols=fonts) if Path(args.digits).exists() else fonts
    print(f"digits: {args.digits if src is not fonts else 'fonts/procedural'}")
    layouts = sorted(LAYOUTS)
    cfg = LocateConfig()
    hits, any_hits, counts = defaultdict(int), defaultdict(int), defaultdict(int)
    times: dict[str, list[float]] = defaultdict(list)
    locate_fields(np.full((550, 1200), 230, np.uint8))  # warm-up
    for i in range(args.n):
        rng = np.random.default_rng([args.seed, i])
        layout = layouts[i % len(layouts)]
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, src, rng)
        t0 = time.perf_counter()
        fields = locate_fields(ch.image, cfg)
        times[layout].append((time.perf_counter() - t0) * 1000)
        counts[layout] += 1
        holds = [f.bbox.holds(ch.field_box) for f in fields]
        ok = bool(holds) and holds[0]
        hits[layout] += ok
        any_hits[layout] += any(holds)
        if not ok and args.show_failures:
            import cv2
            out = Path(args.show_failures)
            out.mkdir(parents=True, exist_ok=True)
            im = cv2.cvtColor(ch.image, cv2.COLOR_GRAY2BGR)
            b = ch.field_box
            cv2.rectangle(im, (b.x, b.y), (b.x2, b.y2), (0, 200, 0), 2)
            for f in fields[:1]:
                cv2.rectangle(im, (f.bbox.x, f.bbox.y), (f.bbox.x2, f.bbox.y2), (0, 0, 255), 2)
            cv2.imwrite(str(out / f"fail_{i:04d}_{layout}.png"), im)
    print(f"{'layout':<12} {'pages':>5} {'best holds':>12} {'any of 3':>9} {'ms mean':>8} {'ms p95':>7}")
    tot = sum(counts.values())
    for lay in layouts:
        t = np.array(times[lay])
        print(f"{lay:<12} {counts[lay]:>5} {hits[lay] / counts[lay]:>12.1%} {any_hits[lay] / counts[lay]:>9.1%} "
              f"{t.mean():>8.2f} {np.percentile(t, 95):>7.2f}")
    allt = np.concatenate([np.array(times[k]) for k in layouts])
    print(f"{'all':<12} {tot:>5} {sum(hits.values()) / tot:>12.1%} {sum(any_hits.values()) / tot:>9.1%} "
          f"{allt.mean():>8.2f} {np.percentile(allt, 95):>7.2f}")


if __name__ == "__main__":
    main()
