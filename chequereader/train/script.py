"""Training of the script check (:mod:`chequereader.script`): Arabic-Indic digits and Arabic
word pieces rendered from Debian's Arabic fonts, against Latin handwritten digits (MNIST,
USPS, Semeion), stroke-drawn digits and font-rendered Latin characters.

Every sample is a binary ink mask distorted to look handwritten (stroke width, slant,
rotation, elastic distortion, resolution), then framed as the stage frames a component
(:func:`chequereader.framing.frame` by its own box).

    python -m chequereader.train.script --data ../shared/data \\
        --out chequereader/models/weights/script-arabic.npz

Needs torch and the fonts of ``.ci/run`` (fonts-kacst, fonts-kacst-one, fonts-arabeyes,
fonts-hosny-amiri, fonts-noto-core for Arabic and Devanagari; the handwriting fonts).
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..fonts import ARABIC_FONT_GLOBS, ARABIC_FONT_SKIP, DEVANAGARI_FONT_GLOBS
from ..framing import digit_ink, frame
from ..script import CLASSES, FORMAT
from ..synth.glyphs import find_handwriting_fonts, find_printed_fonts
from .data import continental_variants, load_digit_npz
from .strokes import stroke_digits

#: The Arabic-Indic digits no Latin digit looks like (2 3 4 6 7 8).
ARABIC_DIGITS = "٢٣٤٦٧٨"
#: Words of Saudi cheques and amounts (currency, "only", bank and form words).
ARABIC_WORDS = ("ريال", "ريالا", "فقط", "لا غير", "هللة", "المبلغ", "الرياض", "جدة", "فرع",
                "التاريخ", "ادفعوا", "بموجب", "هذا", "الشيك", "لأمر", "البنك", "السعودي",
                "مصرف", "الراجحي", "الف", "مائة", "خمسون", "عشرة", "سبعة", "ثمانية", "ثلاثة",
                "أربعة", "وعشرون", "التوقيع", "شركة", "حي", "شارع", "المملكة", "العربية")
LATIN_CHARS = "0123456789$*#/-+X×xRsSUDrupeesonlyAmount"
DEVANAGARI_WORDS = ("रुपये", "केवल", "भुगतान", "या", "धारक", "को", "खाता", "बैंक", "तारीख")


def find_fonts(globs: Iterable[str], skip: Iterable[str] = ()) -> list[str]:
    out: set[str] = set()
    for pat in globs:
        out.update(glob.glob(pat))
    bad = tuple(skip)
    return sorted(p for p in out if not any(s in Path(p).name for s in bad))


def render(text: str, font_path: str, size: int = 72) -> np.ndarray | None:
    """Binary ink ``bool (H, W)`` of ``text`` in a font (complex-script shaping when Pillow
    has raqm), tight; None when nothing was drawn."""
    try:
        font = ImageFont.truetype(font_path, size)
    except OSError:
        return None
    w = int(size * (len(text) + 2))
    img = Image.new("L", (w, size * 3), 0)
    ImageDraw.Draw(img).text((size // 2, size // 2), text, fill=255, font=font)
    a = np.asarray(img) > 127
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    if rows.size == 0:
        return None
    return a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _tight(a: np.ndarray) -> np.ndarray | None:
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    if rows.size == 0:
        return None
    return a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def distort(mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray | None:
    """A handwriting-like copy of a binary glyph: stroke width, anisotropic scale, slant,
    rotation, elastic distortion, then the resolution of a scanned field (12-60 px high)."""
    h0 = mask.shape[0]
    target = 64.0
    s = target / max(h0, 1)
    a = cv2.resize(mask.astype(np.uint8) * 255, (max(1, int(round(mask.shape[1] * s))), int(target)),
                   interpolation=cv2.INTER_LINEAR)
    pad = 24
    a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    # stroke width: thin calligraphic faces, thicken pen-like ones (or the reverse)
    k = int(rng.integers(-3, 5))
    if k:
        ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(k) + 1, abs(k) + 1))
        b = cv2.dilate(a, ker) if k > 0 else cv2.erode(a, ker)
        if (b > 127).sum() > 0.35 * (a > 127).sum():
            a = b
    hh, ww = a.shape
    ang = np.deg2rad(rng.normal(0, 8 * strength))
    shear = rng.normal(0, 0.22 * strength)
    sx = np.exp(rng.normal(0, 0.2 * strength))
    c, si = np.cos(ang), np.sin(ang)
    m = np.array([[c * sx, -si + shear, 0.0], [si * sx, c, 0.0]])
    cx, cy = ww / 2, hh / 2
    m[:, 2] = [cx - m[0, 0] * cx - m[0, 1] * cy, cy - m[1, 0] * cx - m[1, 1] * cy]
    a = cv2.warpAffine(a, m, (ww, hh), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.8:  # elastic
        alpha = rng.uniform(2.0, 7.0) * strength
        sigma = rng.uniform(6.0, 10.0)
        dx = cv2.GaussianBlur(rng.uniform(-1, 1, (hh, ww)).astype(np.float32), (0, 0), sigma)
        dy = cv2.GaussianBlur(rng.uniform(-1, 1, (hh, ww)).astype(np.float32), (0, 0), sigma)
        norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
        gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
        a = cv2.remap(a, gx + dx / norm * alpha, gy + dy / norm * alpha, cv2.INTER_LINEAR,
                      borderValue=0)
    t = _tight(a > 127)
    if t is None or t.sum() < 8:
        return None
    # the resolution of a scanned field: digits 12-60 px high
    hs = rng.uniform(12, 60)
    f = hs / t.shape[0]
    if f < 1:
        small = cv2.resize(t.astype(np.float32), (max(1, int(round(t.shape[1] * f))), max(1, int(round(hs)))),
                           interpolation=cv2.INTER_AREA)
        t = _tight(small > rng.uniform(0.35, 0.6))
    return t


def stroke_arabic(rng: np.random.Generator, char: str) -> np.ndarray:
    """A pen-drawn ``٧`` (V) or ``٨`` (inverted V): two strokes meeting at the bottom (top),
    arms of unequal length and curvature."""
    h = 64
    canvas = np.zeros((h + 40, h + 40), np.uint8)
    tip = np.array([20 + h / 2 + rng.normal(0, 4), 20 + h - rng.uniform(0, 4)])
    la = np.array([20 + rng.uniform(0, h * 0.3), 20 + rng.uniform(0, h * 0.2)])
    ra = np.array([20 + h - rng.uniform(0, h * 0.3), 20 + rng.uniform(0, h * 0.3)])
    pts = []
    for end in (la, ra):
        bend = rng.normal(0, 6)
        t = np.linspace(0, 1, 12)[:, None]
        mid = (tip + end) / 2 + np.array([bend, 0])
        pts.append(((1 - t) ** 2) * tip + 2 * (1 - t) * t * mid + t ** 2 * end)
    th = int(rng.integers(3, 9))
    for p in pts:
        cv2.polylines(canvas, [np.round(p).astype(np.int32)], False, 255, th, cv2.LINE_AA)
    a = canvas > 127
    if char == "٨":
        a = a[::-1]
    tight = _tight(a)
    assert tight is not None
    return tight


def stroke_clutter(rng: np.random.Generator) -> np.ndarray:
    """Crosses, hashes, slashes, check-like ticks, arcs and line fragments: what framing
    marks and cleaning leftovers look like."""
    s = 64
    canvas = np.zeros((s + 40, s + 40), np.uint8)
    th = int(rng.integers(2, 8))
    kind = int(rng.integers(0, 6))

    def line(p: Any, q: Any) -> None:
        cv2.line(canvas, (int(p[0]) + 20, int(p[1]) + 20), (int(q[0]) + 20, int(q[1]) + 20), 255, th, cv2.LINE_AA)

    j = lambda: rng.normal(0, 5)  # noqa: E731
    if kind == 0:  # X
        line((j(), j()), (s + j(), s + j()))
        line((s + j(), j()), (j(), s + j()))
    elif kind == 1:  # hash
        sl = rng.uniform(-15, 15)
        for x in (s * 0.35, s * 0.65):
            line((x + sl + j(), j()), (x - sl + j(), s + j()))
        for y in (s * 0.35, s * 0.65):
            line((j(), y + j()), (s + j(), y + j()))
    elif kind == 2:  # slash / bar
        line((rng.uniform(0, s), 0), (rng.uniform(0, s), s))
    elif kind == 3:  # plus / star
        line((s / 2 + j(), j()), (s / 2 + j(), s + j()))
        line((j(), s / 2 + j()), (s + j(), s / 2 + j()))
        if rng.random() < 0.5:
            line((j(), j()), (s + j(), s + j()))
    elif kind == 4:  # arc
        cv2.ellipse(canvas, (s // 2 + 20, s // 2 + 20), (int(rng.uniform(10, 32)), int(rng.uniform(10, 32))),
                    rng.uniform(0, 360), 0, rng.uniform(90, 300), 255, th, cv2.LINE_AA)
    else:  # zigzag / scribble
        pts = np.cumsum(rng.normal(0, 14, (int(rng.integers(3, 6)), 2)), 0) + s / 2
        cv2.polylines(canvas, [np.round(pts + 20).astype(np.int32)], False, 255, th, cv2.LINE_AA)
    t = _tight(canvas > 127)
    return t if t is not None else np.ones((4, 4), bool)


def word_pieces(text: str, font_path: str, min_share: float = 0.4,
                min_aspect: float = 0.45) -> list[np.ndarray]:
    """The connected components of a rendered word that are at least ``min_share`` of the
    line's height and ``min_aspect`` as wide as high: letters and pieces of words, not the
    dots, nor the lone upright strokes (alef) that a Latin ``1`` looks like."""
    a = render(text, font_path, 64)
    if a is None:
        return []
    n, lab, st, _ = cv2.connectedComponentsWithStats(a.astype(np.uint8), connectivity=8)
    line_h = a.shape[0]
    out = []
    for i in range(1, n):
        x, y, w, h, area = st[i]
        if h >= min_share * line_h and w >= min_aspect * h and area >= 30:
            out.append(lab[y: y + h, x: x + w] == i)
    return out


def _framed(masks: Iterable[np.ndarray | None]) -> np.ndarray:
    out = [frame(m) for m in masks if m is not None and m.any()]
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 32, 32), np.float32)


def _many(n: int, make: Callable[[], np.ndarray | None]) -> np.ndarray:
    return _framed(make() for _ in range(n))


def build_dataset(data_root: str | Path, seed: int = 0, scale: float = 1.0,
                  log: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray]:
    """Framed samples ``float32 (N, 32, 32)`` and labels (indices of :data:`CLASSES`)."""
    rng = np.random.default_rng(seed)
    root = Path(data_root)
    ar_fonts = find_fonts(ARABIC_FONT_GLOBS, ARABIC_FONT_SKIP)
    hw_fonts = find_handwriting_fonts() + find_printed_fonts()
    deva_fonts = find_fonts(DEVANAGARI_FONT_GLOBS)
    if not ar_fonts:
        raise SystemExit("no Arabic fonts installed (apt-get install fonts-kacst fonts-arabeyes ...)")
    log(f"fonts: {len(ar_fonts)} Arabic, {len(hw_fonts)} Latin, {len(deva_fonts)} Devanagari")
    n = lambda k: int(k * scale)  # noqa: E731
    xs: list[np.ndarray] = []
    ys: list[int] = []

    def add(x: np.ndarray, label: int, what: str) -> None:
        xs.append(x)
        ys.extend([label] * len(x))
        log(f"  {what}: {len(x)} ({CLASSES[label]})")

    # --- Arabic-Indic digits (fonts and pen strokes)
    glyphs = [g for f in ar_fonts for c in ARABIC_DIGITS if (g := render(c, f)) is not None]
    add(_many(n(9000), lambda: distort(glyphs[rng.integers(len(glyphs))], rng)), 1, "font Arabic-Indic digits")
    add(_many(n(3000), lambda: distort(stroke_arabic(rng, "٧٨"[rng.integers(2)]), rng, 0.7)), 1,
        "pen-drawn ٧ ٨")
    # --- Arabic word pieces
    pieces = [p for f in ar_fonts for w in ARABIC_WORDS for p in word_pieces(w, f)]
    add(_many(n(5000), lambda: distort(pieces[rng.integers(len(pieces))], rng, 0.6)), 2, "Arabic word pieces")
    # --- Latin: handwritten digit sets
    mn = load_digit_npz(root / "mnist" / "mnist-train.npz", split="")
    idx = rng.choice(len(mn.images), n(14000), replace=False)
    add(_framed(_maybe_thick(digit_ink(mn.images[i]), rng) for i in idx), 0, "MNIST")
    us = load_digit_npz(root / "usps" / "usps.npz", split="train")
    idx = rng.choice(len(us.images), min(len(us.images), n(4000)), replace=False)
    add(_framed(_maybe_thick(digit_ink(us.images[i]), rng) for i in idx), 0, "USPS")
    se = load_digit_npz(root / "semeion" / "semeion.npz")
    add(_framed(_maybe_thick(digit_ink(im), rng) for im in se.images), 0, "Semeion")
    cont = continental_variants(mn, 0.25, seed)
    idx = rng.choice(len(cont.images), min(len(cont.images), n(3000)), replace=False)
    add(_framed(_maybe_thick(digit_ink(cont.images[i]), rng) for i in idx), 0, "flagged 1s, crossed 7s")
    sd = stroke_digits(n(300), seed)
    add(_framed(distort(digit_ink(im), rng, 0.6) for im in sd.images), 0, "stroke digits")
    # touching runs of 2-4 digits (zeros above all), as a field's run-together digits come
    # out of the cleaner
    zeros = np.flatnonzero(mn.labels == 0)

    def run() -> np.ndarray | None:
        k = int(rng.integers(2, 5))
        ids = [int(zeros[rng.integers(len(zeros))]) if rng.random() < 0.5
               else int(rng.integers(len(mn.images))) for _ in range(k)]
        c = digit_ink(mn.images[ids[0]])
        for i in ids[1:]:
            b = digit_ink(mn.images[i])
            ov = int(rng.integers(2, 10))
            w = c.shape[1] + b.shape[1] - ov
            out = np.zeros((c.shape[0], w), bool)
            out[:, : c.shape[1]] |= c
            out[:, w - b.shape[1]:] |= b
            c = out
        return _tight(c)
    add(_many(n(4000), run), 0, "touching runs of MNIST digits")

    # parts of digits (a digit cut by the cleaner or broken by a thin stroke)
    def part() -> np.ndarray | None:
        m = digit_ink(mn.images[rng.integers(len(mn.images))])
        h, w = m.shape
        f = rng.uniform(0.4, 0.75)
        side = int(rng.integers(4))
        cut = (m[: int(h * f)] if side == 0 else m[int(h * (1 - f)):] if side == 1
               else m[:, : int(w * f)] if side == 2 else m[:, int(w * (1 - f)):])
        n_, lab, st, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=8)
        if n_ < 2:
            return None
        big = 1 + int(np.argmax(st[1:, 4]))
        return _tight(lab == big)
    add(_many(n(2500), part), 0, "parts of MNIST digits")

    # 1s with a long lead-in flag (Latin American), drawn with a pen
    def flagged_one() -> np.ndarray | None:
        h = 64
        canvas = np.zeros((h + 40, h + 40), np.uint8)
        top = np.array([20 + h * rng.uniform(0.45, 0.7), 20.0])
        foot = top + np.array([rng.normal(-4, 5), h])
        flag = top + np.array([-rng.uniform(0.2, 0.45) * h, rng.uniform(0.25, 0.6) * h])
        th = int(rng.integers(3, 9))
        for p, q in ((top, foot), (top, flag)):
            cv2.line(canvas, tuple(int(v) for v in p), tuple(int(v) for v in q), 255, th, cv2.LINE_AA)
        return distort(canvas > 127, rng, 0.6)
    add(_many(n(2500), flagged_one), 0, "pen-drawn flagged 1s")
    # --- Latin: fonts (digits, symbols, letters) and Devanagari, clutter
    lat = [g for f in hw_fonts for c in LATIN_CHARS if (g := render(c, f)) is not None]
    if lat:
        add(_many(n(5000), lambda: distort(lat[rng.integers(len(lat))], rng)), 0, "font Latin characters")
    dev = [p for f in deva_fonts for w in DEVANAGARI_WORDS for p in word_pieces(w, f)]
    if dev:
        add(_many(n(1500), lambda: distort(dev[rng.integers(len(dev))], rng, 0.6)), 0, "Devanagari pieces")
    add(_many(n(3000), lambda: distort(stroke_clutter(rng), rng, 0.6)), 0, "crosses, hashes, strokes")
    x = np.concatenate(xs)
    y = np.asarray(ys, np.int64)
    return x, y


def _maybe_thick(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(-1, 4))
    if k <= 0:
        return mask
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
    return cv2.dilate(mask.astype(np.uint8), ker) > 0


def make_net() -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 64), nn.ReLU(), nn.Linear(64, len(CLASSES)),
    )


#: torch Sequential index -> the names :class:`chequereader.script.ScriptDetector` reads.
LAYER_NAMES = {"0": "c1", "3": "c2", "7": "f1", "9": "f2"}


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int,
          log: Callable[[str], None] = print) -> tuple[Any, dict[str, float]]:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(x))
    n_val = len(x) // 10
    val, tr = order[:n_val], order[n_val:]
    xt = torch.from_numpy(x[:, None])
    yt = torch.from_numpy(y)
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    counts = np.bincount(y[tr], minlength=len(CLASSES)).astype(np.float64)
    weight = torch.tensor(counts.sum() / (len(CLASSES) * counts), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    metrics: dict[str, float] = {}
    for ep in range(epochs):
        net.train()
        perm = tr[rng.permutation(len(tr))]
        for i in range(0, len(perm), 128):
            b = torch.from_numpy(perm[i: i + 128])
            opt.zero_grad()
            loss = loss_fn(net(xt[b]), yt[b])
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            pred = net(xt[torch.from_numpy(val)]).argmax(1).numpy()
        yv = y[val]
        metrics = {f"val_recall_{c}": float((pred[yv == k] == k).mean()) for k, c in enumerate(CLASSES)}
        metrics["val_error"] = float((pred != yv).mean())
        log(f"epoch {ep + 1}: loss {loss.item():.4f} " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return net, metrics


def save(net: Any, path: str | Path, metadata: dict[str, Any]) -> None:
    arrays = {}
    for k, v in net.state_dict().items():
        idx, kind = k.split(".")
        arrays[f"{LAYER_NAMES[idx]}.{kind}"] = v.detach().cpu().numpy().astype(np.float32)
    header = {"format": FORMAT, "classes": list(CLASSES), **metadata}
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez_compressed(path, **arrays)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="folder with mnist/, usps/, semeion/")
    ap.add_argument("--out", default="chequereader/models/weights/script-arabic.npz")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the sample counts")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    t0 = time.time()
    x, y = build_dataset(a.data, a.seed, a.scale)
    print(f"{len(x)} samples, {time.time() - t0:.0f} s")
    net, metrics = train(x, y, a.epochs, a.seed)
    cmd = (f"python -m chequereader.train.script --data DATA --out {a.out} --epochs {a.epochs} "
           f"--scale {a.scale} --seed {a.seed}")
    save(net, a.out, {
        "architecture": "conv5x8-pool-conv5x16-pool-fc64-fc3 (ReLU, max pool)",
        "framing": "chequereader.framing.frame of each component by its own box",
        "training": {"data": "Arabic fonts (fonts-kacst, fonts-kacst-one, fonts-arabeyes, "
                             "fonts-hosny-amiri, fonts-noto-core), MNIST train, USPS train, "
                             "Semeion, stroke digits, handwriting and printed Latin fonts",
                     "command": cmd, "samples": int(len(x)),
                     "per_class": np.bincount(y, minlength=len(CLASSES)).tolist()},
        "metrics": metrics,
    })
    print(f"wrote {a.out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
