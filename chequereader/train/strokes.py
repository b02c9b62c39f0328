"""Procedural pen-stroke digits in the styles MNIST lacks (training data; issue 3).

MNIST's American writers give the recognizer a narrow idea of some digits. Cheques from Latin
America and Europe (ORAND-CAR-A's Uruguayan fields, Semeion's Italian writers) are full of shapes
it has hardly seen: the 2 with a loop at its foot or a round head closed by its own stroke, the
open-topped 4 drawn in two strokes or like an `h`, the 7 with a crossbar or a hooked start, the
1 with a long lead-in flag, the 9 with a small head and a long straight stem or like a rho.
Each style here is a few pen strokes through control points in a unit box; every sample
jitters the points, the slant, the width, the pen and the strokes' ends, and is drawn
anti-aliased and laid out like an MNIST digit (28x28, ink bright, the digit fitted into 20x20
and centred by its centre of mass). Nothing is read from disk.
"""

from __future__ import annotations

import numpy as np

from .data import DigitSet

# Each style: a list of strokes, each a list of (x, y) control points in a unit box, y down.
Stroke = list[tuple[float, float]]

STYLES: dict[int, list[list[Stroke]]] = {
    0: [
        [[(0.55, 0.0), (0.15, 0.15), (0.05, 0.55), (0.3, 0.97), (0.75, 0.92), (0.95, 0.45), (0.8, 0.08), (0.5, 0.02)]],
        [[(0.6, 0.02), (0.2, 0.2), (0.1, 0.65), (0.4, 1.0), (0.85, 0.75), (0.9, 0.25), (0.55, 0.0), (0.3, 0.12)]],
    ],
    1: [
        [[(0.55, 0.0), (0.5, 1.0)]],
        [[(0.15, 0.4), (0.6, 0.0), (0.5, 1.0)]],
        [[(0.0, 0.55), (0.35, 0.22), (0.7, 0.0), (0.55, 1.0)]],
        [[(0.25, 0.3), (0.6, 0.0), (0.55, 1.0)], [(0.3, 1.0), (0.8, 0.98)]],
    ],
    2: [
        # looped foot
        [[(0.1, 0.3), (0.35, 0.02), (0.75, 0.02), (0.88, 0.3), (0.55, 0.6), (0.15, 0.95),
          (0.0, 0.78), (0.25, 0.68), (0.38, 0.9), (0.65, 0.98), (1.0, 0.9)]],
        [[(0.05, 0.22), (0.4, 0.0), (0.85, 0.15), (0.75, 0.42), (0.25, 0.8), (0.12, 1.0),
          (0.0, 0.8), (0.3, 0.72), (0.5, 0.95), (0.95, 0.95)]],
        # plain
        [[(0.1, 0.25), (0.5, 0.0), (0.9, 0.28), (0.5, 0.65), (0.05, 1.0), (0.95, 0.97)]],
        [[(0.1, 0.2), (0.45, 0.0), (0.85, 0.2), (0.7, 0.5), (0.1, 0.95), (0.5, 0.9), (1.0, 0.98)]],
        # a round head closed by the stroke that leaves it (read 9 or 8 by MNIST-trained nets)
        [[(0.55, 0.72), (0.2, 0.5), (0.15, 0.2), (0.45, 0.02), (0.85, 0.15), (0.85, 0.45),
          (0.55, 0.72), (0.2, 0.95), (0.6, 0.92), (1.0, 1.0)]],
        # a curl where the pen starts
        [[(0.45, 0.3), (0.25, 0.3), (0.25, 0.1), (0.5, 0.0), (0.82, 0.15), (0.75, 0.45),
          (0.15, 0.95), (0.95, 0.97)]],
    ],
    3: [
        [[(0.1, 0.12), (0.55, 0.0), (0.85, 0.2), (0.4, 0.45), (0.9, 0.68), (0.6, 1.0), (0.05, 0.88)]],
        [[(0.1, 0.02), (0.9, 0.0), (0.4, 0.4), (0.85, 0.6), (0.7, 0.95), (0.1, 0.9)]],
    ],
    4: [
        # open top, two strokes (h / "ч" shape)
        [[(0.2, 0.0), (0.08, 0.62), (0.95, 0.6)], [(0.72, 0.22), (0.68, 1.0)]],
        [[(0.1, 0.0), (0.1, 0.45), (0.35, 0.62), (0.95, 0.5)], [(0.85, 0.0), (0.8, 1.0)]],
        [[(0.3, 0.0), (0.05, 0.6), (0.6, 0.62), (0.95, 0.55)], [(0.7, 0.1), (0.62, 1.0)]],
        # "h"-like: the stem starts at the bar
        [[(0.25, 0.0), (0.1, 0.62), (0.9, 0.58)], [(0.68, 0.42), (0.64, 1.0)]],
        # closed
        [[(0.62, 0.0), (0.05, 0.68), (0.95, 0.68)], [(0.62, 0.0), (0.62, 1.0)]],
        # "h": a long first stroke, and an arch that leaves it and comes down (read 6)
        [[(0.3, 0.0), (0.15, 0.5), (0.05, 1.0)], [(0.12, 0.62), (0.4, 0.45), (0.7, 0.5), (0.72, 1.0)]],
        # one stroke: down, a round turn into the bar, down again
        [[(0.35, 0.0), (0.12, 0.55), (0.3, 0.68), (0.6, 0.5), (0.8, 0.45), (0.7, 1.0)]],
    ],
    5: [
        [[(0.9, 0.0), (0.22, 0.02)], [(0.22, 0.02), (0.15, 0.45), (0.6, 0.35), (0.92, 0.65),
                                     (0.6, 0.98), (0.08, 0.85)]],
        [[(0.25, 0.0), (0.18, 0.45), (0.6, 0.35), (0.9, 0.68), (0.55, 1.0), (0.05, 0.85)],
         [(0.25, 0.02), (0.95, 0.0)]],
    ],
    6: [
        [[(0.85, 0.02), (0.4, 0.2), (0.1, 0.65), (0.3, 0.98), (0.75, 0.92), (0.82, 0.62),
          (0.45, 0.5), (0.15, 0.7)]],
        [[(0.7, 0.0), (0.25, 0.4), (0.12, 0.8), (0.45, 1.0), (0.8, 0.78), (0.5, 0.55), (0.18, 0.75)]],
    ],
    7: [
        [[(0.05, 0.05), (0.95, 0.0), (0.4, 1.0)], [(0.3, 0.52), (0.85, 0.5)]],
        [[(0.05, 0.22), (0.12, 0.02), (0.95, 0.05), (0.45, 1.0)]],
        [[(0.05, 0.22), (0.12, 0.02), (0.95, 0.05), (0.45, 1.0)], [(0.3, 0.55), (0.85, 0.52)]],
        [[(0.05, 0.02), (0.95, 0.0), (0.45, 1.0)]],
    ],
    8: [
        [[(0.6, 0.45), (0.15, 0.2), (0.5, 0.0), (0.85, 0.2), (0.5, 0.5), (0.1, 0.78), (0.5, 1.0),
          (0.9, 0.78), (0.6, 0.45)]],
        [[(0.85, 0.1), (0.5, 0.0), (0.15, 0.2), (0.85, 0.75), (0.5, 1.0), (0.15, 0.75), (0.85, 0.2)]],
    ],
    9: [
        # small head, straight stem
        [[(0.85, 0.12), (0.5, 0.0), (0.12, 0.2), (0.3, 0.45), (0.85, 0.3), (0.88, 0.08),
          (0.8, 0.55), (0.7, 1.0)]],
        [[(0.85, 0.15), (0.45, 0.02), (0.15, 0.25), (0.45, 0.48), (0.85, 0.3)], [(0.88, 0.05), (0.75, 1.0)]],
        # stem curling back (g-like)
        [[(0.85, 0.12), (0.5, 0.0), (0.12, 0.2), (0.3, 0.45), (0.85, 0.3), (0.88, 0.08),
          (0.8, 0.7), (0.55, 1.0), (0.2, 0.9)]],
        # e / rho-like: head drawn from the stem
        [[(0.4, 1.0), (0.55, 0.5), (0.85, 0.35), (0.7, 0.02), (0.3, 0.1), (0.25, 0.4), (0.75, 0.45)]],
        # rho-like: the stem rises on the head's left and the head turns clockwise (read 8)
        [[(0.55, 1.0), (0.3, 0.72), (0.2, 0.4), (0.35, 0.08), (0.7, 0.02), (0.88, 0.25),
          (0.7, 0.48), (0.3, 0.45)]],
        # the head first, the stem leaving its left side
        [[(0.3, 0.45), (0.7, 0.48), (0.88, 0.25), (0.65, 0.02), (0.3, 0.08), (0.15, 0.35),
          (0.25, 0.7), (0.5, 1.0)]],
    ],
}


def _spline(pts: np.ndarray, per_seg: int = 12) -> np.ndarray:
    """Catmull-Rom curve through ``pts`` (k, 2)."""
    if len(pts) < 3:
        t = np.linspace(0, 1, per_seg * max(len(pts) - 1, 1) + 1)[:, None]
        return pts[0] * (1 - t) + pts[-1] * t
    p = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
    out = []
    t = np.linspace(0, 1, per_seg, endpoint=False)[:, None]
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(pts[-1][None])
    return np.vstack(out)


def draw_digit(digit: int, rng: np.random.Generator, style: int | None = None) -> np.ndarray:
    """One stroke digit as a 28x28 uint8 image laid out like MNIST (ink bright)."""
    import cv2

    styles = STYLES[digit]
    strokes = styles[int(rng.integers(len(styles))) if style is None else style]
    up = 4  # drawn 4x larger, then reduced: anti-aliased strokes
    size = 28 * up
    aspect = rng.uniform(0.45, 0.9) if digit != 1 else rng.uniform(0.3, 0.6)
    slant = rng.uniform(-0.1, 0.45)
    jitter = rng.uniform(0.02, 0.06)
    canvas = np.zeros((size, size), np.uint8)
    thick = int(rng.integers(5, 15))
    scale = 0.7 * size
    for s in strokes:
        pts = np.asarray(s, np.float64) + rng.normal(0, jitter, (len(s), 2))
        curve = _spline(pts)
        # shorten or lengthen the stroke's ends a little, as pens do
        cut = rng.integers(0, 3, 2)
        curve = curve[cut[0] : len(curve) - cut[1]] if len(curve) > 8 else curve
        x = (curve[:, 0] - 0.5) * aspect + slant * (0.5 - curve[:, 1])
        y = curve[:, 1] - 0.5
        p = np.stack([x * scale + size / 2, y * scale + size / 2], 1)
        cv2.polylines(canvas, [np.round(p * 8).astype(np.int32).reshape(-1, 1, 2)], False, 255,
                      thick, cv2.LINE_AA, shift=3)
    ys, xs = np.nonzero(canvas > 60)
    if len(ys) == 0:
        return np.zeros((28, 28), np.uint8)
    crop = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    f = 20.0 / max(h, w)
    small = cv2.resize(crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.uint8)
    m = small.astype(np.float64)
    cy = (m.sum(1) * np.arange(m.shape[0])).sum() / max(m.sum(), 1)
    cx = (m.sum(0) * np.arange(m.shape[1])).sum() / max(m.sum(), 1)
    oy = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    ox = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    out[oy : oy + small.shape[0], ox : ox + small.shape[1]] = small
    return out


def stroke_digits(per_class: int, seed: int, digits: tuple[int, ...] = tuple(range(10))) -> DigitSet:
    """``per_class`` stroke digits of each of ``digits``, styles drawn in turn (deterministic)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for d in digits:
        n_styles = len(STYLES[d])
        for i in range(per_class):
            images.append(draw_digit(d, rng, i % n_styles))
            labels.append(d)
    if not images:
        return DigitSet(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), None)
    return DigitSet(np.stack(images), np.asarray(labels, np.int64), None)
