"""Real-cheque benchmark: the 92 whole real cheques of ``../shared/data/real-cheques``, read as a user would.

Every cheque is read with ``ChequeReader(PipelineConfig())`` (the defaults a user gets, locale
``us``) through :meth:`ChequeReader.read_file` (its first page), or with ``--pipeline FILE``
(a pipeline TOML as ``chequereader read --config``). ``--locale-from-labels`` passes each
cheque's locale from ``labels.csv``, mapped to the reader's locales (:data:`LOCALE_MAP`).

Reported overall and per locale (as labelled), per kind (scan / photo / render) and per
written (hand / printed):

* ``located``: the field the reader kept (``AmountResult.field``) has IoU >= 0.5 with the
  annotated courtesy-amount box (``benchmarks/real_cheques_boxes.csv``, original image pixels,
  annotated by eye); ``centre in``: the kept field's centre lies inside the annotated box;
* ``read right``: the decoded amount equals the label, whatever its status (no reject);
* ``right & ok`` / ``wrong & ok`` / ``rejected`` / ``error``: at the reader's default reject
  threshold (shares of all cheques of the group);
* ``script flag``: rejected by the script check (``reject_reason`` ``script:...``, e.g.
  Arabic-Indic digits);
* ``read @<=1% err``: the read rate when the least confident are rejected until the error
  rate is <= 1% (``_common.error_reject``);
* cheques/s: file decode included, one process, the config's ``torch_threads`` (default 1).

The images are evaluation data: ``--render DIR`` writes the contact sheets of the failures
(downscaled cheques, kept field red, annotated box green, label and reading written on them)
to ``DIR`` only, and refuses a ``DIR`` inside the repository.

    python benchmarks/real_cheques.py
    python benchmarks/real_cheques.py --locale-from-labels --render /tmp/real-failures
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, error_reject  # noqa: E402

# Measure this checkout's package, not whichever chequereader the interpreter has installed
# (run as a script, the repository root is not on sys.path: an editable install of another
# checkout would be read instead).
sys.path.insert(0, str(ROOT))

REAL = DATA / "real-cheques"
BOXES = Path(__file__).resolve().parent / "real_cheques_boxes.csv"
# labels.csv locale -> reader locale. au/ca write amounts as the US does ($0.09, $100.27);
# ma/tr write '.' as the thousands separator with no cents (10.000, 225.000), as the Chilean
# grammar does; the Saudi cheques' Arabic-Indic digits have no grammar of their own: any.
LOCALE_MAP = {"us": "us", "ca": "us", "au": "us", "in": "in", "cl": "cl", "ma": "cl", "tr": "cl",
              "sa": "any"}

Box = tuple[int, int, int, int]  # x, y, w, h


# ------------------------------------------------------------------ metric helpers (pure)
def iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes; 0.0 when either is missing."""
    if a is None or b is None:
        return 0.0
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def centre_inside(a: Box | None, b: Box | None) -> bool:
    """Whether the centre of box ``a`` lies inside box ``b`` (edges included)."""
    if a is None or b is None:
        return False
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


@dataclass
class Row:
    """One cheque's outcome."""

    file: str
    label: str
    locale: str  # as labelled (in, us, sa, ...)
    kind: str
    written: str
    status: str  # ok | rejected | error
    amount: str | None
    text: str
    confidence: float
    correct: bool  # amount equals the label, whatever the status
    field: Box | None
    truth: Box | None
    iou: float
    centre_in: bool
    seconds: float
    error: str | None = None
    reject_reason: str | None = None  # AmountResult.extra["reject_reason"] (script check, sdnn-only)


def summarize(rows: Sequence[Row], seconds: float | None = None) -> dict:
    """Figures of one group of rows (shares of the group's cheques)."""
    n = len(rows)
    if n == 0:
        return {"n": 0}
    ok = [r for r in rows if r.status == "ok"]
    er = error_reject([r.correct for r in rows],
                      [r.confidence if r.amount is not None else 0.0 for r in rows])
    total = sum(r.seconds for r in rows) if seconds is None else seconds
    return {
        "n": n,
        "located": sum(r.iou >= 0.5 for r in rows) / n,
        "centre_in": sum(r.centre_in for r in rows) / n,
        "read_right": sum(r.correct for r in rows) / n,
        "right_ok": sum(r.correct for r in ok) / n,
        "wrong_ok": sum(not r.correct for r in ok) / n,
        "rejected": sum(r.status == "rejected" for r in rows) / n,
        "error": sum(r.status == "error" for r in rows) / n,
        "script_flagged": sum((r.reject_reason or "").startswith("script:") for r in rows) / n,
        "read_at_1pct_error": er["at_1pct_error"]["read"],
        "reject_at_1pct_error": er["at_1pct_error"]["reject"],
        "cheques_per_s": n / total if total > 0 else float("nan"),
    }


def groups(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """``all``, the groups the targets name (``in+us``: the Indian and US cheques; ``us
    photo``, ``us scan``, ``in scan``), then ``locale X``, ``kind X``, ``written X`` (each
    sorted by size, largest first)."""
    out: dict[str, list[Row]] = {"all": list(rows)}
    out["in+us"] = [r for r in rows if r.locale in ("in", "us")]
    for loc, kind in (("us", "photo"), ("us", "scan"), ("in", "scan")):
        out[f"{loc} {kind}"] = [r for r in rows if r.locale == loc and r.kind == kind]
    for attr in ("locale", "kind", "written"):
        g: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            g[getattr(r, attr)].append(r)
        for k in sorted(g, key=lambda k: (-len(g[k]), k)):
            out[f"{attr} {k}"] = g[k]
    return out


# ------------------------------------------------------------------ data
def read_boxes(path: str | Path = BOXES) -> dict[str, Box]:
    with open(path, newline="") as fh:
        return {r["file"]: (int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])) for r in csv.DictReader(fh)}


def read_labels(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def run(folder: Path, pipeline: str | None, locale_from_labels: bool, progress: bool = True
        ) -> tuple[list[Row], float]:
    from chequereader.config import PipelineConfig, load_config
    from chequereader.io.manifest import amounts_equal
    from chequereader.pipeline import ChequeReader

    cfg = load_config(pipeline) if pipeline else PipelineConfig()
    reader = ChequeReader(cfg)
    boxes = read_boxes()
    labels = read_labels(folder)
    rows: list[Row] = []
    t_all = time.perf_counter()
    for i, lab in enumerate(labels):
        loc = LOCALE_MAP.get(lab["locale"], "any") if locale_from_labels else None
        t0 = time.perf_counter()
        res = next(iter(reader.iter_file(folder / "images" / lab["file"], locale=loc)))
        dt = time.perf_counter() - t0
        field = tuple(res.field.as_list()) if res.field is not None else None
        truth = boxes.get(lab["file"])
        rows.append(Row(
            file=lab["file"], label=lab["amount"], locale=lab["locale"], kind=lab["kind"],
            written=lab["written"], status=res.status, amount=res.amount, text=res.text,
            confidence=float(res.confidence), correct=bool(amounts_equal(res.amount, lab["amount"])),
            field=field, truth=truth, iou=iou(field, truth),  # type: ignore[arg-type]
            centre_in=centre_inside(field, truth), seconds=dt, error=res.error,  # type: ignore[arg-type]
            reject_reason=res.extra.get("reject_reason"),
        ))
        if progress and (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(labels)} cheques, {time.perf_counter() - t_all:.0f} s",
                  file=sys.stderr, flush=True)
    return rows, time.perf_counter() - t_all


# ------------------------------------------------------------------ output
COLS = [("n", "n", "d"), ("located", "located IoU>=.5", "%"), ("centre_in", "centre in", "%"),
        ("read_right", "read right", "%"), ("right_ok", "right & ok", "%"),
        ("wrong_ok", "wrong & ok", "%"), ("rejected", "rejected", "%"), ("error", "error", "%"),
        ("script_flagged", "script flag", "%"),
        ("read_at_1pct_error", "read @<=1% err", "%"), ("cheques_per_s", "cheques/s", "f")]


def table(summary: dict[str, dict]) -> str:
    out = ["| group | " + " | ".join(c[1] for c in COLS) + " |",
           "|---|" + "---:|" * len(COLS)]
    for name, s in summary.items():
        cells = []
        for key, _, fmt in COLS:
            v = s.get(key)
            cells.append(str(v) if fmt == "d" else f"{v:.1%}" if fmt == "%" else f"{v:.2f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def render(rows: Iterable[Row], folder: Path, out_dir: Path, per_sheet: int = 12, width: int = 560) -> list[Path]:
    """Contact sheets of ``rows`` (kept field red, annotated box green) in ``out_dir``."""
    from PIL import Image, ImageDraw, ImageFont

    out_dir = out_dir.resolve()
    if out_dir == ROOT or ROOT in out_dir.parents:
        raise SystemExit(f"--render {out_dir}: inside the repository; real cheques must not be "
                         "copied into it (name a folder outside, e.g. /tmp)")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        font = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    tiles = []
    for r in rows:
        im = Image.open(folder / "images" / r.file)
        im = im.convert("RGB")
        s = width / im.size[0]
        im = im.resize((width, max(1, round(im.size[1] * s))))
        d = ImageDraw.Draw(im)
        for box, colour in ((r.truth, (0, 190, 0)), (r.field, (230, 0, 0))):
            if box is not None:
                x, y, w, h = (v * s for v in box)
                d.rectangle([x, y, x + w, y + h], outline=colour, width=3)
        lines = [f"{r.file}  label {r.label} ({r.locale}, {r.written}, {r.kind})",
                 f"read {r.amount} '{r.text}' {r.status} conf {r.confidence:.2f}  IoU {r.iou:.2f}"]
        if r.error:
            lines.append(f"error: {r.error[:70]}")
        band = Image.new("RGB", (width, 20 * len(lines) + 4), (255, 255, 210))
        db = ImageDraw.Draw(band)
        for k, t in enumerate(lines):
            db.text((4, 2 + 20 * k), t, fill=(150, 0, 0), font=font)
        tile = Image.new("RGB", (width, im.size[1] + band.size[1]), "white")
        tile.paste(band, (0, 0))
        tile.paste(im, (0, band.size[1]))
        tiles.append(tile)
    paths = []
    cols, gap = 3, 8
    for i in range(0, len(tiles), per_sheet):
        chunk = tiles[i:i + per_sheet]
        heights = [max(t.size[1] for t in chunk[j:j + cols]) for j in range(0, len(chunk), cols)]
        sheet = Image.new("RGB", (cols * (width + gap), sum(heights) + gap * len(heights)), "white")
        y = 0
        for j, h in zip(range(0, len(chunk), cols), heights):
            for k, t in enumerate(chunk[j:j + cols]):
                sheet.paste(t, (k * (width + gap), y))
            y += h + gap
        p = out_dir / f"real-cheques-failures-{i // per_sheet + 1:02d}.png"
        sheet.save(p)
        paths.append(p)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REAL), help="the real-cheques folder (labels.csv, images/)")
    ap.add_argument("--pipeline", default=None, metavar="FILE", help="pipeline TOML (chequereader.config.load_config)")
    ap.add_argument("--locale-from-labels", action="store_true",
                    help="read each cheque in its labelled locale, mapped to us/in/cl/any")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON dict instead of tables")
    ap.add_argument("--render", default=None, metavar="DIR",
                    help="write contact sheets of the failures (not right & ok) to DIR (outside the repository)")
    args = ap.parse_args(argv)
    folder = Path(args.data)
    if not (folder / "labels.csv").exists():
        sys.exit(f"real cheques not found: {folder} (labels.csv, images/)")
    from chequereader.errors import ConfigError

    try:
        rows, seconds = run(folder, args.pipeline, args.locale_from_labels)
    except ConfigError as exc:
        sys.exit(f"--pipeline {args.pipeline}: {exc}")
    summary = {name: summarize(g) for name, g in groups(rows).items()}
    summary["all"]["cheques_per_s"] = len(rows) / seconds  # wall time of the whole run
    cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + list(sys.argv[1:] if argv is None else argv))
    import chequereader

    package = str(Path(chequereader.__file__).resolve().parent)
    if args.json:
        print(json.dumps({"command": cmd, "package": package, "summary": summary,
                          "rows": [asdict(r) for r in rows]}, indent=1))
    else:
        print(f"`{cmd}` (package {package})\n")
        print(table(summary))
        fails = [r for r in rows if not (r.correct and r.status == "ok")]
        print(f"\nfailures (not right & ok): {len(fails)}")
        for r in fails:
            print(f"  {r.file:12s} label {r.label:>14s}  read {str(r.amount):>14s} {r.status:8s} "
                  f"conf {r.confidence:.2f}  IoU {r.iou:.2f}  '{r.text}'"
                  + (f"  [{r.reject_reason}]" if r.reject_reason else ""))
    if args.render:
        fails = [r for r in rows if not (r.correct and r.status == "ok")]
        paths = render(fails, folder, Path(args.render))
        print(f"\ncontact sheets: {', '.join(str(p) for p in paths)}", file=sys.stderr)


if __name__ == "__main__":
    main()
