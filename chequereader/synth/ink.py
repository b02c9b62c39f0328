"""Ink layers and scan effects of the synthetic cheques: procedural pen strokes, ink
cropping, resizing and slanting, security backgrounds, JPEG round trips and bitonal scans.

Every random choice comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .._validate import check_in
from ..errors import ConfigError

SCAN_FORMATS = ("png", "jpg", "tif")


# --------------------------------------------------------------------------------------------
# procedural strokes
# --------------------------------------------------------------------------------------------

def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 14):
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in t]


# Each glyph: (aspect w/h, list of polylines in a unit box, x right, y down). Rough pen paths.
_STROKES: dict[str, tuple[float, list[list[tuple[float, float]]]]] = {
    "0": (0.65, [_arc(0.5, 0.5, 0.45, 0.48, 90, 450, 24)]),
    "1": (0.35, [[(0.1, 0.25), (0.6, 0.0), (0.6, 1.0)]]),
    "2": (0.65, [_arc(0.5, 0.3, 0.42, 0.28, 160, -30, 12) + [(0.05, 1.0), (0.98, 0.98)]]),
    "3": (0.6, [_arc(0.45, 0.27, 0.42, 0.25, 150, -90, 12), _arc(0.45, 0.74, 0.5, 0.25, 90, -160, 12)]),
    "4": (0.65, [[(0.7, 1.0), (0.7, 0.0), (0.05, 0.68), (1.0, 0.68)]]),
    "5": (0.6, [[(0.9, 0.02), (0.15, 0.02), (0.1, 0.45)] + _arc(0.45, 0.7, 0.48, 0.29, 140, -160, 12)]),
    "6": (0.6, [[(0.8, 0.0)] + _arc(0.5, 0.7, 0.42, 0.3, 150, -210, 18)]),
    "7": (0.6, [[(0.02, 0.02), (0.98, 0.02), (0.35, 1.0)]]),
    "8": (0.6, [_arc(0.5, 0.26, 0.36, 0.25, 270, 630, 18), _arc(0.5, 0.74, 0.45, 0.26, 90, 450, 18)]),
    "9": (0.6, [_arc(0.5, 0.3, 0.42, 0.29, -10, 350, 16) + [(0.9, 0.3), (0.75, 1.0)]]),
    ".": (1.0, [[(0.45, 0.45), (0.55, 0.55), (0.5, 0.5)]]),
    ",": (0.5, [[(0.6, 0.0), (0.65, 0.35), (0.2, 1.0)]]),
    "-": (3.0, [[(0.0, 0.5), (1.0, 0.45)]]),
    "/": (0.55, [[(1.0, 0.0), (0.0, 1.0)]]),
    "*": (1.0, [[(0.5, 0.0), (0.5, 1.0)], [(0.07, 0.25), (0.93, 0.75)], [(0.07, 0.75), (0.93, 0.25)]]),
    "$": (0.6, [_arc(0.5, 0.33, 0.4, 0.18, 20, 270, 10) + _arc(0.5, 0.67, 0.4, 0.18, 90, -160, 10),
                [(0.5, 0.0), (0.5, 1.0)]]),
    "₹": (0.7, [[(0.05, 0.05), (0.95, 0.05)], [(0.05, 0.25), (0.95, 0.25)],
                [(0.15, 0.05)] + _arc(0.25, 0.28, 0.5, 0.22, 90, -90, 8) + [(0.1, 0.5), (0.75, 1.0)]]),
}


def draw_strokes(char: str, rng: np.random.Generator, height: int = 64) -> np.ndarray:
    """Draw ``char`` as perturbed pen strokes.

    Parameters
    ----------
    char : str
        One of the digits or ``$ , . - / * ₹``.
    rng : numpy.random.Generator
    height : int
        Height in pixels of the unit box.

    Returns
    -------
    ink : ndarray of float32, shape (h, w)
        Ink intensity in ``[0, 1]`` (1 = full ink), cropped to the ink.
    """
    if char not in _STROKES:
        raise ConfigError(f"char: no stroke model for {char!r}")
    aspect, lines = _STROKES[char]
    aspect *= float(rng.uniform(0.8, 1.2))
    w = max(4, int(round(height * aspect)))
    pad = height // 4 + 4
    canvas = np.zeros((height + 2 * pad, w + 2 * pad), np.uint8)
    base_t = max(1.0, height * float(rng.uniform(0.06, 0.13)))
    if char == ".":
        r = max(2, int(round(height * rng.uniform(0.12, 0.2))))
        cv2.ellipse(canvas, (pad + w // 2, pad + height // 2), (r, int(r * rng.uniform(0.7, 1.0))),
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    for line in lines:
        pts = np.asarray(line, np.float64) * [w, height]
        # Random-walk drift: a hand does not follow the ideal path, and errors accumulate.
        walk = np.cumsum(rng.normal(0, height * 0.012, size=pts.shape), axis=0)
        pts = pts + walk + rng.normal(0, height * 0.01, size=pts.shape) + pad
        thick = base_t * np.clip(1 + np.cumsum(rng.normal(0, 0.12, len(pts))), 0.5, 1.6)
        for k in range(len(pts) - 1):
            p0 = tuple(int(round(v)) for v in pts[k])
            p1 = tuple(int(round(v)) for v in pts[k + 1])
            cv2.line(canvas, p0, p1, 255, max(1, int(round(thick[k]))), cv2.LINE_AA)
    return crop_ink(canvas.astype(np.float32) / 255.0)


def crop_ink(ink: np.ndarray, thr: float = 0.08) -> np.ndarray:
    ys, xs = np.nonzero(ink > thr)
    if len(ys) == 0:
        return np.zeros((1, 1), np.float32)
    return np.ascontiguousarray(ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1], dtype=np.float32)



def resize_ink(ink: np.ndarray, h: float, w: float) -> np.ndarray:
    h_i, w_i = max(1, int(round(h))), max(1, int(round(w)))
    interp = cv2.INTER_AREA if h_i < ink.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(ink, (w_i, h_i), interpolation=interp)


def shear_ink(ink: np.ndarray, deg: float) -> np.ndarray:
    """Slant about the glyph's bottom row (the baseline stays put)."""
    k = math.tan(math.radians(deg))
    h, w = ink.shape
    extra = int(math.ceil(abs(k) * h))
    if extra == 0:
        return ink
    # x' = x + k (h - 1 - y) (+ extra when k < 0 so everything stays in frame)
    off = extra if k < 0 else 0
    m = np.array([[1, -k, k * (h - 1) + off], [0, 1, 0]], np.float32)
    return cv2.warpAffine(ink, m, (w + extra, h), flags=cv2.INTER_LINEAR, borderValue=0)



def security_background(shape: tuple[int, int], rng: np.random.Generator, paper: float, strength: float) -> np.ndarray:
    """Light security-style background: paper level minus wave / guilloche line patterns."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.full((h, w), paper, np.float32)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(3))
        f = float(rng.uniform(0.02, 0.12))
        ph = float(rng.uniform(0, 2 * np.pi))
        if kind == 0:  # parallel waves
            amp = float(rng.uniform(2, 12))
            v = np.sin(f * (yy + amp * np.sin(xx * float(rng.uniform(0.01, 0.05)) + ph)))
        elif kind == 1:  # guilloche rosette-like rings
            cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            r = np.hypot(xx - cx, yy - cy)
            th = np.arctan2(yy - cy, xx - cx)
            v = np.sin(f * r + float(rng.uniform(2, 6)) * np.sin(int(rng.integers(3, 12)) * th + ph))
        else:  # diagonal hatching / noise texture
            a = float(rng.uniform(0, np.pi))
            v = np.sin(f * (xx * math.cos(a) + yy * math.sin(a)) + ph)
        line = np.clip((v - 0.7) / 0.3, 0, 1)  # thin bright crests become printed lines
        bg -= line * strength * float(rng.uniform(0.4, 1.0))
    return bg


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
    return img if out is None else out



def scan_format(img: np.ndarray, rng: np.random.Generator, fmt: str | None = None) -> np.ndarray:
    """The grey image a reader decodes after ``img`` was saved as ``fmt`` (random by default).

    ``png``: unchanged; ``jpg``: JPEG at quality 70-95; ``tif``: bitonal, as a G4 TIFF scan
    (:func:`bitonal`). The same choices as ``benchmarks/cheques_bench.py``.
    """
    fmt = SCAN_FORMATS[int(rng.integers(len(SCAN_FORMATS)))] if fmt is None else fmt
    check_in(fmt, SCAN_FORMATS, "fmt")
    if fmt == "jpg":
        return jpeg_roundtrip(img, int(rng.integers(70, 95)))
    if fmt == "tif":
        return bitonal(img, rng)
    return img


def bitonal(img: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Black/white as a bitonal scanner gives it: a global threshold a little under Otsu's."""
    t, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = t * (float(rng.uniform(0.75, 0.95)) if rng is not None else 0.85)
    return np.where(img > t, 255, 0).astype(np.uint8)


