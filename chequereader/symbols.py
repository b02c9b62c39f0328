"""Synthetic amount symbols (``$ , . - / *`` and locale extras) for training the recognizer.

MNIST has no symbols, so they are drawn: procedural pen strokes with random size, slant,
thickness and wobble, and, when Debian handwriting fonts are installed, glyphs rendered from
them. Every sample is drawn on a canvas that has a digit *body* (height and baseline), so it
can be framed by :func:`chequereader.framing.frame` exactly like a candidate cut from a field:
``.`` and ``,`` small and low, ``-`` small at mid height, ``$`` and ``/`` tall.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .errors import ConfigError
from .fonts import SYMBOL_FONT_GLOBS as FONT_GLOBS  # not synth's list: see chequereader.fonts


@dataclass(frozen=True)
class SymbolSample:
    """A drawn symbol: ``mask`` bool (H, W) True = ink, with the canvas's body geometry."""

    mask: np.ndarray
    body_height: float
    baseline: float


@lru_cache(maxsize=1)
def handwriting_fonts() -> tuple[str, ...]:
    """Paths of the handwriting fonts found on this machine (may be empty)."""
    found: list[str] = []
    for g in FONT_GLOBS:
        found.extend(sorted(glob.glob(g)))
    return tuple(dict.fromkeys(found))


def _stroke(canvas: np.ndarray, pts: np.ndarray, thick: int, rng: np.random.Generator) -> None:
    wobble = rng.normal(0, 0.015 * canvas.shape[0], pts.shape)
    p = np.round((pts + wobble) * 8).astype(np.int32)  # 3 bits of sub-pixel precision
    cv2.polylines(canvas, [p.reshape(-1, 1, 2)], False, 255, thick, cv2.LINE_AA, shift=3)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 16) -> np.ndarray:
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def draw_symbol(symbol: str, rng: np.random.Generator, body: float | None = None) -> SymbolSample:
    """Draw one procedural ``symbol`` on a canvas with a digit body of ``body`` pixels."""
    H = float(body if body is not None else rng.uniform(24, 44))
    W = int(1.6 * H)
    base = 1.5 * H
    canvas = np.zeros((int(2.1 * H), W), np.uint8)
    thick = max(1, int(round(rng.uniform(0.05, 0.14) * H)))
    cx = W / 2 + rng.uniform(-0.1, 0.1) * H
    if symbol == ".":
        r = rng.uniform(0.04, 0.11) * H
        cy = base - r - rng.uniform(-0.05, 0.12) * H
        cv2.ellipse(canvas, (int(cx), int(cy)), (max(1, int(r * rng.uniform(0.8, 1.4))), max(1, int(r))),
                    rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA)
    elif symbol == ",":
        r = rng.uniform(0.04, 0.09) * H
        cy = base - r - rng.uniform(-0.05, 0.08) * H
        cv2.circle(canvas, (int(cx), int(cy)), max(1, int(r)), 255, -1, cv2.LINE_AA)
        tail = np.array([[cx + r * 0.5, cy], [cx + r * 0.3, cy + rng.uniform(0.15, 0.3) * H],
                         [cx - rng.uniform(0.05, 0.2) * H, cy + rng.uniform(0.25, 0.4) * H]])
        _stroke(canvas, tail, max(1, thick), rng)
    elif symbol == "-":
        y = base - rng.uniform(0.3, 0.65) * H
        half = rng.uniform(0.15, 0.45) * H
        tilt = rng.uniform(-0.12, 0.12) * half
        _stroke(canvas, np.array([[cx - half, y + tilt], [cx, y], [cx + half, y - tilt]]), thick, rng)
    elif symbol == "/":
        top, bot = base - rng.uniform(0.85, 1.2) * H, base + rng.uniform(-0.05, 0.2) * H
        dx = rng.uniform(0.2, 0.55) * H
        _stroke(canvas, np.array([[cx + dx / 2, top], [cx - dx / 2, bot]]), thick, rng)
    elif symbol == "*":
        cy = base - rng.uniform(0.35, 0.85) * H
        r = rng.uniform(0.12, 0.3) * H
        arms = int(rng.choice([3, 4]))
        a0 = rng.uniform(0, 180)
        for k in range(arms):
            a = math.radians(a0 + 180 * k / arms)
            _stroke(canvas, np.array([[cx - r * math.cos(a), cy - r * math.sin(a)],
                                      [cx + r * math.cos(a), cy + r * math.sin(a)]]), thick, rng)
    elif symbol == "$":
        h = rng.uniform(0.85, 1.15) * H
        top = base - h
        rx = rng.uniform(0.22, 0.35) * H
        ry = h / 4
        s_curve = np.concatenate([
            _arc(cx, top + ry, rx, ry, -20, -270),
            _arc(cx, top + 3 * ry, rx, ry, -90, 160),
        ])
        _stroke(canvas, s_curve, thick, rng)
        ext = rng.uniform(0.05, 0.25) * H
        bars = 2 if rng.random() < 0.25 else 1
        for b in range(bars):
            x = cx + (b - (bars - 1) / 2) * 0.15 * H + rng.uniform(-0.04, 0.04) * H
            _stroke(canvas, np.array([[x, top - ext], [x, base + ext]]), max(1, thick - 1), rng)
    elif symbol == "₹":
        w = rng.uniform(0.45, 0.6) * H
        top = base - H
        x0 = cx - w / 2
        _stroke(canvas, np.array([[x0, top], [x0 + w, top]]), thick, rng)
        _stroke(canvas, np.array([[x0, top + 0.3 * H], [x0 + w, top + 0.3 * H]]), thick, rng)
        bowl = _arc(x0 + 0.2 * w, top + 0.3 * H, 0.45 * w, 0.3 * H, -90, 90)
        _stroke(canvas, bowl, thick, rng)
        _stroke(canvas, np.array([[x0, top + 0.6 * H], [x0 + 0.8 * w, base]]), thick, rng)
    else:
        raise ConfigError(f"symbol: no procedural drawing for {symbol!r}")
    # Slant as handwriting does: shear about the baseline.
    sh = rng.uniform(-0.3, 0.3)
    M = np.array([[1.0, -sh, sh * base], [0.0, 1.0, 0.0]], np.float32)
    slanted = cv2.warpAffine(canvas, M, (W, canvas.shape[0]))
    return SymbolSample(np.asarray(slanted) > 100, H, base)


def render_font_symbol(symbol: str, font_path: str, rng: np.random.Generator) -> SymbolSample | None:
    """Render ``symbol`` with a handwriting font; body = the font's ``0``. None if absent."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.uniform(28, 56))
    try:
        font = ImageFont.truetype(font_path, size)
    except OSError:
        return None
    im = Image.new("L", (size * 3, size * 3), 0)
    d = ImageDraw.Draw(im)
    org = (size, size // 2)
    zb = d.textbbox(org, "0", font=font)
    sb = d.textbbox(org, symbol, font=font)
    if zb[3] - zb[1] < 4 or sb[2] <= sb[0]:
        return None
    d.text(org, symbol, font=font, fill=255)
    a = np.asarray(im)
    if a.max() < 128:  # glyph missing in this font
        return None
    k = int(rng.integers(0, 3))
    if k:
        a = cv2.dilate(a, np.ones((k, k), np.uint8))
    return SymbolSample(a > 110, float(zb[3] - zb[1]), float(zb[3]))


def symbol_samples(symbol: str, n: int, rng: np.random.Generator, font_share: float = 0.35) -> list[SymbolSample]:
    """``n`` samples of ``symbol``: procedural, and a ``font_share`` from handwriting fonts."""
    fonts = handwriting_fonts()
    out: list[SymbolSample] = []
    while len(out) < n:
        s = None
        if fonts and rng.random() < font_share:
            s = render_font_symbol(symbol, fonts[int(rng.integers(len(fonts)))], rng)
        out.append(s if s is not None else draw_symbol(symbol, rng))
    return out
