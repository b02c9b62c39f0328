"""Courtesy-amount field candidates on a whole cheque (DESIGN section 2, ``locate``).

Layout heuristics, no learning, a few milliseconds a page:

1. work on a copy scaled to ``work_width`` pixels wide; binarise half way between the paper
   level (median) and the darkest ink (1st percentile), so light security backgrounds stay
   paper;
2. deskew: the skew angle that makes the horizontal projection of the ink sharpest (sum of
   squared row counts over a small angle range); ruled lines and text lines both vote;
3. ruled lines by morphological opening; rectangles (the amount box) and isolated
   horizontal segments (an amount written over a line) in the right part of the page are
   the candidate zones; the right third, upper-middle band is the fallback zone;
4. in each zone, the ink that is not ruling (connected components whose centre is in the
   zone, a printed ``$``/``₹`` at the box's left edge dropped) gives the field box;
5. penalty = zone kind (box < line < fallback) + position prior (right third, upper-middle
   height) + a printed sign left of the box (bonus) + empty or implausible zones.

Coordinates: :attr:`Field.bbox` is in the **input image's** coordinates (the deskewed box
mapped back, as the axis-aligned hull of its four corners); :attr:`Field.image` is cut from
the **deskewed** page (an upright crop, the size of the deskewed box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ._validate import check_image, check_range
from .types import BBox, Field

__all__ = ["LocateConfig", "locate_fields", "estimate_skew"]


@dataclass(frozen=True)
class LocateConfig:
    """Parameters of :func:`locate_fields`.

    Fractions are of the page width (``x``) or height (``y``) unless said otherwise.
    """

    max_fields: int = 3
    work_width: int = 600          # analysis scale; 600 px is 3x the 200 dpi line width
    deskew: bool = True
    max_skew_deg: float = 3.0
    skew_step_deg: float = 0.25
    min_skew_deg: float = 0.2      # below this the page is used as is
    right_min: float = 0.45        # a candidate zone's centre must be right of this
    box_w: tuple[float, float] = (0.07, 0.45)
    box_h: tuple[float, float] = (0.04, 0.30)
    y_prior: tuple[float, float] = (0.08, 0.62)  # courtesy amounts seen from 0.13 to 0.5
    pad: float = 0.12              # padding of the field box, in field heights
    dedupe_iou: float = 0.6

    def __post_init__(self) -> None:
        check_range(self.max_fields, "max_fields", 1)
        check_range(self.work_width, "work_width", 100, 4000)
        check_range(self.max_skew_deg, "max_skew_deg", 0.0, 15.0)
        check_range(self.skew_step_deg, "skew_step_deg", 0.01, 5.0)


def _binarise(grey: np.ndarray) -> np.ndarray:
    paper = float(np.median(grey))
    dark = float(np.percentile(grey, 1))
    if paper - dark < 25:  # blank or flat page
        return np.zeros(grey.shape, np.uint8)
    return (grey < (paper + dark) / 2).astype(np.uint8)


def estimate_skew(binary: np.ndarray, max_deg: float = 3.0, step_deg: float = 0.25) -> float:
    """Skew angle in degrees of ink on a page (positive: lines go down to the right).

    Parameters
    ----------
    binary : ndarray of uint8 or bool, shape (H, W)
        Non-zero = ink.
    max_deg, step_deg : float
        Angles tried: ``-max_deg..max_deg`` in ``step_deg`` steps.

    Returns
    -------
    float
        The angle whose horizontal projection profile is sharpest; 0 without ink.
    """
    ys, xs = np.nonzero(binary)
    if len(ys) < 20:
        return 0.0
    if len(ys) > 40000:  # a subsample votes as well and keeps this under a millisecond
        sel = np.linspace(0, len(ys) - 1, 40000).astype(np.int64)
        ys, xs = ys[sel], xs[sel]
    xs = xs.astype(np.float32) - binary.shape[1] / 2
    ys = ys.astype(np.float32)
    angles = np.arange(-max_deg, max_deg + 1e-9, step_deg)
    off = int(abs(xs).max() * math.tan(math.radians(max_deg))) + 2
    n_rows = binary.shape[0] + 2 * off
    best, best_a = -1.0, 0.0
    for a in angles:
        r = np.round(ys - xs * math.tan(math.radians(a))).astype(np.int64) + off
        h = np.bincount(r, minlength=n_rows).astype(np.float64)
        score = float(np.dot(h, h))
        if score > best:
            best, best_a = score, float(a)
    return best_a


def _components(ink: np.ndarray) -> np.ndarray:
    """Stats rows ``x, y, w, h, area, cx, cy`` of ink components (area >= 3)."""
    n, _, stats, cent = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return np.zeros((0, 7), np.float64)
    out = np.hstack([stats[1:].astype(np.float64), cent[1:]])
    return out[out[:, 4] >= 3]


def locate_fields(grey: np.ndarray, config: LocateConfig = LocateConfig(),
                  dpi: float | None = None) -> list[Field]:
    """Find courtesy-amount field candidates on a cheque image.

    Parameters
    ----------
    grey : ndarray of uint8, shape (H, W)
        The page, dark ink on light paper.
    config : LocateConfig
    dpi : float, optional
        Resolution when known; the heuristics are relative to the page size, so it is only
        checked (a cheque at any resolution is handled the same way).

    Returns
    -------
    list of Field
        At most ``config.max_fields``, best (lowest penalty) first; empty for a blank page.
        ``bbox`` in input coordinates, ``image`` an upright crop of the deskewed page
        (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> page = np.full((550, 1200), 230, np.uint8)
    >>> page[150:230, 900:1150] = 40; page[152:228, 902:1148] = 230   # an amount box
    >>> page[170:210, 950:960] = 20; page[170:210, 990:1020] = 20      # something written
    >>> locate_fields(page)[0].bbox.x > 900
    True
    """
    grey = check_image(grey, "grey")
    if dpi is not None:
        check_range(dpi, "dpi", 50, 2400)
    if grey.dtype != np.uint8:
        grey = np.clip(grey, 0, 255).astype(np.uint8)
    H0, W0 = grey.shape
    s = min(1.0, config.work_width / W0)
    small = cv2.resize(grey, (max(1, int(round(W0 * s))), max(1, int(round(H0 * s)))),
                       interpolation=cv2.INTER_AREA) if s < 1.0 else grey
    binary = _binarise(small)
    if not binary.any():
        return []
    h, w = binary.shape
    angle = estimate_skew(binary, config.max_skew_deg, config.skew_step_deg) if config.deskew else 0.0
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0) if abs(angle) >= config.min_skew_deg else None
    if rot is not None:
        # Rotate the grey image, not the binary: nearest-neighbour rotation of 1 px rulings
        # breaks them into pieces the line detector no longer sees.
        small = cv2.warpAffine(small, rot, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        binary = _binarise(small)

    kw = max(8, w // 30)
    kh = max(5, h // 25)
    horiz = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((1, kw), np.uint8))
    vert = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((kh, 1), np.uint8))
    # Only horizontal rulings are taken out of the ink: a vertical kernel short enough to
    # find box sides also finds the strokes of 1, 4, 7 and $; box sides are instead kept out
    # of a zone by its inner margin.
    rules = cv2.dilate(horiz, np.ones((3, 3), np.uint8))
    ink = binary & (1 - rules)
    comps = _components(ink)

    cands: list[tuple[float, tuple[float, float, float, float], str]] = []  # penalty, zone, kind
    n, _, stats, _ = cv2.connectedComponentsWithStats(horiz | vert, connectivity=8)
    for x, y, bw, bh, _area in stats[1:]:
        cx = x + bw / 2
        if cx < config.right_min * w or not (config.box_w[0] * w <= bw <= config.box_w[1] * w):
            continue
        if config.box_h[0] * h <= bh <= config.box_h[1] * h:
            sub_v = vert[y: y + bh, x: x + bw]
            sub_h = horiz[y: y + bh, x: x + bw]
            band = max(2, bw // 20)
            left = sub_v[:, :band].any(axis=1).mean()
            right = sub_v[:, -band:].any(axis=1).mean()
            top = sub_h[: max(2, bh // 6)].any(axis=0).mean()
            bottom = sub_h[-max(2, bh // 6):].any(axis=0).mean()
            if min(left, right) > 0.6 and min(top, bottom) > 0.6:
                cands.append((0.0, (x, y, bw, bh), "box"))
                continue
        if bh <= max(4, 0.02 * h):  # a lone ruled line: writing sits above it
            zh = 0.12 * h
            cands.append((1.0, (x, y - zh, bw, zh + bh), "line"))
    cands.append((3.0, (0.62 * w, 0.12 * h, 0.36 * w, 0.45 * h), "fallback"))

    scored: list[tuple[float, BBox]] = []
    cx_all = comps[:, 5] if len(comps) else np.zeros(0)
    cy_all = comps[:, 6] if len(comps) else np.zeros(0)
    for base, (zx, zy, zw, zh), kind in cands:
        m = 4.0 if kind == "box" else 0.0
        inside = (cx_all > zx + m) & (cx_all < zx + zw - m) & (cy_all > zy) & (cy_all < zy + zh)
        # Box sides are components as tall as the box: not writing.
        c = comps[inside & ~((comps[:, 3] > 0.85 * zh) & (comps[:, 2] < 0.1 * zh))] if len(comps) else comps
        pen = base
        if kind == "box" and len(comps):
            # The amount box's printed sign just left of the box confirms it.
            right_end = comps[:, 0] + comps[:, 2]
            left = comps[(right_end < zx) & (right_end > zx - 0.9 * zh)
                         & (comps[:, 6] > zy) & (comps[:, 6] < zy + zh)]
            if len(left):
                pen -= 0.3
            elif len(c) > 1:
                c = _drop_sign(c, zx, zh)
        elif kind == "line" and len(c) > 1:
            c = _drop_sign(c, zx, 0.6 * zh)
        if kind == "line" and (zy + zh) / h < 0.28:
            pen += 0.8  # a line high on the page is the date's
        # Ink below a 3 px speck, or all of it in tiny specks, is noise or background.
        c = c[(c[:, 3] >= 3) | (c[:, 2] >= 3)] if len(c) else c
        if len(c) == 0 or c[:, 4].sum() < 0.002 * zw * zh * 10:
            pen += 5.0
            fx, fy, fw, fh = zx, zy, zw, zh
        else:
            x0, y0 = c[:, 0].min(), c[:, 1].min()
            x1, y1 = (c[:, 0] + c[:, 2]).max(), (c[:, 1] + c[:, 3]).max()
            fx, fy, fw, fh = x0, y0, x1 - x0, y1 - y0
        cxn, cyn = (fx + fw / 2) / w, (fy + fh / 2) / h
        pen += 3.0 * max(0.0, 0.62 - cxn) + 2.0 * max(0.0, config.y_prior[0] - cyn) \
            + 2.0 * max(0.0, cyn - config.y_prior[1])
        if kind != "fallback" and not (1.0 <= zw / max(zh, 1) <= 12.0):
            pen += 1.0
        p = config.pad * fh + 1
        zone = (fx - p, fy - p, fw + 2 * p, fh + 2 * p)
        scored.append((pen, _to_input_box(*zone, rot, s, W0, H0), zone))

    scored.sort(key=lambda t: t[0])
    kept: list[tuple[float, BBox, tuple[float, float, float, float]]] = []
    for pen, b, zone in scored:
        if b.w < 2 or b.h < 2 or any(b.iou(k) > config.dedupe_iou for _, k, _ in kept):
            continue
        kept.append((pen, b, zone))
        if len(kept) == config.max_fields:
            break
    return [Field(bbox=b, image=_crop(grey, b, zone, rot, s), penalty=float(pen)) for pen, b, zone in kept]


def _drop_sign(c: np.ndarray, zx: float, zh: float) -> np.ndarray:
    """Without a sign outside the box, a sign-sized first component at its left edge is the
    printed sign inside the box (CTS-2010, Chile), not the amount."""
    order = np.argsort(c[:, 0])
    first = c[order[0]]
    if first[0] - zx < 0.35 * zh and 0.3 * zh < first[3] < 0.8 * zh:
        return c[order[1:]]
    return c


def _full_rot(rot: np.ndarray, s: float) -> np.ndarray:
    # Rotation about the centre commutes with scaling about the origin: same matrix, the
    # translation scaled.
    m = rot.copy()
    m[:, 2] /= s
    return m


def _to_input_box(x: float, y: float, bw: float, bh: float, rot: np.ndarray | None, s: float,
                  W: int, H: int) -> BBox:
    pts = np.array([[x, y], [x + bw, y], [x, y + bh], [x + bw, y + bh]], np.float64) / s
    if rot is not None:
        inv = cv2.invertAffineTransform(_full_rot(rot, s))
        pts = pts @ inv[:, :2].T + inv[:, 2]
    x0, y0 = max(0, int(math.floor(pts[:, 0].min()))), max(0, int(math.floor(pts[:, 1].min())))
    x1, y1 = min(W, int(math.ceil(pts[:, 0].max()))), min(H, int(math.ceil(pts[:, 1].max())))
    return BBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def _crop(grey: np.ndarray, b: BBox, zone: tuple[float, float, float, float],
          rot: np.ndarray | None, s: float) -> np.ndarray:
    if rot is None:
        return grey[b.y: b.y2, b.x: b.x2].copy()
    # Upright crop of the deskewed page: map crop pixels (u, v) to input pixels.
    x, y, zw, zh = (v / s for v in zone)
    inv = cv2.invertAffineTransform(_full_rot(rot, s))
    t = inv[:, 2] + inv[:, :2] @ np.array([x, y])
    mc = np.hstack([inv[:, :2], t[:, None]])
    cw, ch = max(2, int(round(zw))), max(2, int(round(zh)))
    return cv2.warpAffine(grey, mc, (cw, ch), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
