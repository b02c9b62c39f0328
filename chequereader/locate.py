"""Courtesy-amount field candidates on a whole cheque (docs/design.md section 2, ``locate``).

Layout heuristics, no learning, a few milliseconds a page:

0. the page as a cheque lies: a photographed cheque wholly in view on a darker ground is
   squared (the paper's quadrilateral, a perspective transform); a portrait page is turned
   a quarter, and a page whose code line (MICR: a row of like characters across the page)
   is at the top, half a turn, so that the code line runs along the bottom;
1. work on a copy scaled to ``work_width`` pixels wide; binarise half way between the paper
   level (median) and the darkest ink (1st percentile), so light security backgrounds stay
   paper;
2. deskew: the skew angle that makes the horizontal projection of the ink sharpest (sum of
   squared row counts over a small angle range); ruled lines and text lines both vote;
3. horizontal rulings by morphological opening; an **amount box** is a pair of rulings of the
   same extent (top and bottom, each across the box's width) joined by a vertical side at
   both ends (checked on the ink itself, so that handwriting touching or crossing a side
   does not hide the box); a ruling in the right part of the page that is not a box side,
   at least ``line_min_w`` long and not a run along a longer ruling just above it (cursive
   joins), is an **amount line** (the amount written over an underline). A box split into a
   row of equal cells (the DDMMYYYY date, account-number boxes) is no zone. Without a closed
   box where the standard layouts put the amount (ANSI X9.100-160 personal checks, CTS-2010:
   the right edge, from under the date to the legal amount's line), the most inked text row
   there is the **layout** zone (a box printed too faint to survive the threshold), and the
   right third, upper-middle band is the fallback zone;
4. in each zone, the ink that is not ruling (connected components inside the box, or
   touching it from outside: handwriting overflows boxes) gives the field. A printed
   ``$``/``₹`` inside the box at its left edge (CTS-2010, Chilean layouts) is dropped
   unless a sign (upright, solid: not a stroke of a background pattern) is printed just
   left of the box;
5. penalty = zone kind (box < line < layout < fallback) + position prior (right part, upper-middle
   height) + a printed sign left of the zone (bonus) + an amount line continuing the payee
   line of the same row (bonus) + a line high (date) or low (signature) on the page + empty
   zones (less ink than 2 % of the zone and than a digit's worth of its height);
6. the field box is refined at full resolution (only the ink of the chosen components) and
   padded by ``pad`` field heights, without crossing back over the box's rules; in a box,
   with ``box_extent``, it spans the box's writing space from the figures on (the printed
   sign inside the box left out): the box is what a reader of the cheque calls the field.

Coordinates: :attr:`Field.bbox` is in the **input image's** coordinates (the box on the
squared, turned and deskewed page mapped back, as the axis-aligned hull of its four corners);
:attr:`Field.image` is cut from the **upright** page (an upright crop, the size of that box).
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
    # An amount line is at least this long: shorter horizontal runs in the right part are
    # the bottoms of printed words or cursive joins merged at the work scale ("uRupees").
    line_min_w: float = 0.12
    y_prior: tuple[float, float] = (0.08, 0.6)   # courtesy amounts seen from 0.13 to 0.5
    pad: float = 0.1               # padding of the field box, in field heights
    dedupe_iou: float = 0.6
    # Ink threshold, as a fraction of the way from paper to the darkest ink: light enough
    # for thin or faint pens, dark enough that security backgrounds stay paper.
    ink_level: float = 0.4
    # Handwriting continuing past the zone joins the field (superscript cents, a digit over
    # the box's side): at most this gap to its right end, in field heights (0: off) ...
    grow_gap: float = 0.6
    # ... and at most this tall, in field heights (not a printed line or a signature).
    grow_max_h: float = 1.3
    # A box's rules leave the ink with this many work-scale pixels around them; ink of the
    # field within that reach of its own (its strokes on a rule) is kept in the crop (0: off).
    rule_reach: float = 4.0
    # A field in a printed box spans the box's writing space right of the figures' start
    # (False: the hull of the ink only).
    box_extent: bool = True
    # A field in a printed box reaches at most this many box heights above and below it (0: off).
    box_reach: float = 0.3
    # Pages turned 90/180/270 degrees, told by the code line (MICR) along a cheque's bottom
    # edge: at least this many like characters in a row make an upside-down page's.
    orient: bool = True
    # A photographed cheque lying on a darker ground is squared first (its paper a convex
    # quadrilateral covering this share of the image: more is a scan or a cropped photo).
    unwarp: bool = True
    page_area: tuple[float, float] = (0.2, 0.9)
    page_aspect: tuple[float, float] = (1.6, 2.7)
    micr_min: int = 12
    # The layout zone (x0, y0, x1, y1) and its penalty (between a line's and the fallback's).
    layout_zone: tuple[float, float, float, float] = (0.70, 0.28, 0.99, 0.52)
    layout_penalty: float = 1.3
    layout_pad: float = 0.25
    layout_pad_right: float = 1.0   # in field heights, with box_extent

    def __post_init__(self) -> None:
        check_range(self.max_fields, "max_fields", 1)
        check_range(self.work_width, "work_width", 100, 4000)
        check_range(self.max_skew_deg, "max_skew_deg", 0.0, 15.0)
        check_range(self.skew_step_deg, "skew_step_deg", 0.01, 5.0)
        check_range(self.pad, "pad", 0.0, 2.0)
        check_range(self.line_min_w, "line_min_w", 0.0, 1.0)
        check_range(self.ink_level, "ink_level", 0.05, 0.95)
        check_range(self.grow_gap, "grow_gap", 0.0, 3.0)
        check_range(self.grow_max_h, "grow_max_h", 0.5, 3.0)
        check_range(self.rule_reach, "rule_reach", 0.0, 20.0)


def _threshold(grey: np.ndarray, level: float) -> tuple[float, float] | None:
    """Weak and strong ink thresholds: ``level`` and 0.6 of the way from paper (median) to
    the darkest ink (1st percentile) of a page; None when the page is flat."""
    # A histogram is ten times faster than np.median / np.percentile on a page.
    cdf = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    n = cdf[-1]
    paper = float(np.searchsorted(cdf, n / 2))
    dark = float(np.searchsorted(cdf, 0.01 * n))
    if paper - dark < 25:  # little ink on the page: its darkest 0.1 % still is ink
        dark = float(np.searchsorted(cdf, 0.001 * n))
    if paper - dark < 25:  # blank or flat page
        return None
    return paper - level * (paper - dark), paper - 0.6 * (paper - dark)


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


# Columns of the component table built by _components.
_X, _Y, _W, _H, _A, _CX, _CY, _ID = range(8)


def _components(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and rows ``x, y, w, h, area, cx, cy, label`` of components (area >= 3)."""
    n, labels, stats, cent = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return labels, np.zeros((0, 8), np.float64)
    out = np.hstack([stats[1:].astype(np.float64), cent[1:], np.arange(1, n, dtype=np.float64)[:, None]])
    return labels, out[out[:, _A] >= 3]


@dataclass
class _Zone:
    kind: str                                   # "box" | "cells" | "line" | "layout" | "fallback"
    rect: tuple[float, float, float, float]     # x0, y0, x1, y1 (work scale, deskewed)
    penalty: float
    seg: int = -1                               # index of the ruling of a line zone


def _rulings(horiz: np.ndarray, min_len: float) -> list[tuple[int, int, float]]:
    """Horizontal rulings as ``(x0, x1, y)``: ``y`` is the ruling's own row, not the top
    of its component (a pen stroke touching a ruling joins its component)."""
    n, lab, st, _ = cv2.connectedComponentsWithStats(horiz, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, _a = (int(v) for v in st[i])
        if bw < min_len:
            continue
        if bh <= 3:
            yr = y + (bh - 1) / 2
        else:
            yr = y + float(np.argmax((lab[y: y + bh, x: x + bw] == i).sum(axis=1)))
        out.append((x, x + bw, yr))
    return out


def _merge_collinear(segs: list[tuple[int, int, float]], gap: float) -> list[tuple[int, int, float]]:
    """Join rulings of one row broken by a light print or a background pattern."""
    out: list[list[float]] = []
    for x0, x1, y in sorted(segs, key=lambda t: (round(t[2]), t[0])):
        for o in out:
            if abs(o[2] - y) <= 1.5 and x0 - o[1] <= gap and o[0] - x1 <= gap:
                o[0], o[1] = min(o[0], x0), max(o[1], x1)
                break
        else:
            out.append([x0, x1, y])
    return [(int(a), int(b), c) for a, b, c in out]


def _side(binary: np.ndarray, xa: int, xb: int, y0: int, y1: int, from_left: bool,
          need: float) -> tuple[float, int]:
    """Outermost vertical side in columns ``xa..xb``: (share of rows y0..y1 with ink, column).

    Scanning from the outside in (``from_left`` for a left side), the first column with at
    least ``need`` of its rows inked is the side: a pen stroke (a tall ``1``) further in
    must not be taken for it. Without such a column, the best-filled one is returned.
    """
    w = binary.shape[1]
    lo, hi = max(0, xa), min(w, xb + 1)
    y0, y1 = max(0, y0), min(binary.shape[0], y1)
    if hi <= lo or y1 <= y0:
        return 0.0, lo
    raw = binary[y0:y1, lo:hi]
    # A side one pixel off its column for part of its height (residual skew, resampling)
    # still counts: rows with ink in a 3-column window.
    win = raw.copy()
    np.maximum(win[:, 1:], raw[:, :-1], out=win[:, 1:])
    np.maximum(win[:, :-1], raw[:, 1:], out=win[:, :-1])
    rows = float(y1 - y0)
    fill = win.sum(axis=0, dtype=np.float64) / rows
    # Of equal windows, the column with the side itself.
    score = fill + 0.01 * (raw.sum(axis=0, dtype=np.float64) / rows)
    ok = np.nonzero(fill >= need)[0]
    if len(ok) == 0:
        k = int(np.argmax(score))
        return float(fill[k]), lo + k
    # The qualifying run at the outer end; its best column.
    if from_left:
        a = int(ok[0])
        b = a
        while b + 1 < len(fill) and fill[b + 1] >= need:
            b += 1
    else:
        b = int(ok[-1])
        a = b
        while a - 1 >= 0 and fill[a - 1] >= need:
            a -= 1
    k = a + int(np.argmax(score[a: b + 1]))
    return float(fill[k]), lo + k


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
    >>> f = locate_fields(page)[0]                    # from the figures to the box's right side
    >>> 940 <= f.bbox.x < 950 and 1140 < f.bbox.x2 < 1150
    True
    >>> f = locate_fields(page, LocateConfig(box_extent=False))[0]   # the figures' ink only
    >>> 940 <= f.bbox.x < 950 and 1020 < f.bbox.x2 <= 1030
    True
    """
    grey = check_image(grey, "grey")
    if dpi is not None:
        check_range(dpi, "dpi", 50, 2400)
    if grey.dtype != np.uint8:
        grey = np.clip(grey, 0, 255).astype(np.uint8)
    H0, W0 = grey.shape
    # One averaged copy 600 px wide serves the paper's outline and the orientation: each
    # pass over the full-resolution page costs more than all the work on the copy.
    reduced = _area_width(grey, 600) if config.unwarp or config.orient else None
    quad = _page_quad(grey, config, reduced) if config.unwarp else None
    if quad is None:
        return _locate_oriented(grey, config, reduced)
    # A photographed cheque on a darker ground: the paper's quadrilateral, squared.
    m, size = _square(quad)
    page = cv2.warpPerspective(grey, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inv = np.linalg.inv(m)
    out = []
    for f in _locate_oriented(page, config):
        b = f.bbox
        pts = np.array([[[b.x, b.y], [b.x2, b.y], [b.x, b.y2], [b.x2, b.y2]]], np.float64)
        p = cv2.perspectiveTransform(pts, inv)[0]
        x0, y0 = max(0, int(math.floor(p[:, 0].min()))), max(0, int(math.floor(p[:, 1].min())))
        x1, y1 = min(W0, int(math.ceil(p[:, 0].max()))), min(H0, int(math.ceil(p[:, 1].max())))
        out.append(Field(bbox=BBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0)), image=f.image, penalty=f.penalty))
    return out


def _area_width(grey: np.ndarray, width: int) -> np.ndarray:
    """``grey`` averaged down (INTER_AREA) by the whole factor that brings it nearest to
    ``width`` columns (the last rows and columns short of a whole block left out: OpenCV's
    fast path); itself when that factor is 1."""
    h0, w0 = grey.shape
    k = max(1, int(round(w0 / width)))
    if k == 1:
        return grey
    h, w = h0 // k, w0 // k
    return cv2.resize(grey[: h * k, : w * k], (w, h), interpolation=cv2.INTER_AREA)


def _locate_oriented(grey: np.ndarray, config: LocateConfig,
                     reduced: np.ndarray | None = None) -> list[Field]:
    """:func:`_locate` on the page turned upright (see :func:`_orientation`), boxes in the
    page's own coordinates. ``reduced``: ``_area_width(grey, 600)`` when already made."""
    if not config.orient:
        return _locate(grey, config)
    H0, W0 = grey.shape
    t = _orientation(grey, config, reduced)
    fields = _locate(_turn(grey, t), config)
    if t == 0:
        return fields
    return [Field(bbox=_unturn_box(f.bbox, t, W0, H0), image=f.image, penalty=f.penalty) for f in fields]


def _page_quad(grey: np.ndarray, config: LocateConfig,
               reduced: np.ndarray | None = None) -> np.ndarray | None:
    """Corners (4, 2) float32 of the paper of a photographed cheque in ``grey`` coordinates
    (top-left, top-right, bottom-right, bottom-left), or None: none found, or the paper fills
    the image (a scan, a cropped photo) and there is nothing to undo.

    The paper is the largest bright region (Otsu on a blurred copy), its outline a convex
    quadrilateral covering ``page_area`` of the image, clearly lighter than the ground around it.
    ``reduced``: an averaged-down copy of ``grey`` at least 400 px on its long side (such as
    ``_area_width(grey, 600)``), averaged down further instead of the page.
    """
    H0, W0 = grey.shape
    s = min(1.0, 400 / max(H0, W0))
    src = reduced if reduced is not None and max(reduced.shape) >= 400 else grey
    small = cv2.resize(src, (max(1, round(W0 * s)), max(1, round(H0 * s))),
                       interpolation=cv2.INTER_AREA) if s < 1 else grey
    small = cv2.GaussianBlur(small, (5, 5), 0)
    _t, paper = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = cv2.morphologyEx(paper, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _h = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c) / float(small.shape[0] * small.shape[1])
    if not (config.page_area[0] <= area <= config.page_area[1]):
        return None
    hull = cv2.convexHull(c)
    approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    if len(approx) != 4 or not cv2.isContourConvex(approx):
        return None
    inside = np.zeros_like(small)
    cv2.fillConvexPoly(inside, approx.reshape(-1, 2), 255)
    if inside.all() or float(np.median(small[inside > 0])) - float(np.median(small[inside == 0])) < 30:
        return None
    q = approx.reshape(4, 2).astype(np.float32) / s
    # The whole paper in view, on the ground: no corner on the image's border.
    mx, my = 0.01 * W0, 0.01 * H0
    if (q[:, 0] < mx).any() or (q[:, 0] > W0 - 1 - mx).any() or (q[:, 1] < my).any() \
            or (q[:, 1] > H0 - 1 - my).any():
        return None
    # Order: top-left (smallest x + y), top-right, bottom-right, bottom-left.
    sm_, df = q.sum(axis=1), q[:, 0] - q[:, 1]
    q = np.array([q[np.argmin(sm_)], q[np.argmax(df)], q[np.argmax(sm_)], q[np.argmin(df)]], np.float32)
    _m, (w, h) = _square(q)
    # A cheque's shape (2.2:1 for US and CTS-2010 cheques), either way up.
    if not (config.page_aspect[0] <= max(w, h) / min(w, h) <= config.page_aspect[1]):
        return None
    return q


def _square(quad: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Perspective transform taking ``quad`` to an upright rectangle of its own mean side
    lengths, and that rectangle's ``(width, height)``."""
    tl, tr, br, bl = quad
    w = int(round((np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2))
    h = int(round((np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    return cv2.getPerspectiveTransform(quad, dst), (w, h)


def _micr_row(binary: np.ndarray, h: int, min_h: float = 0.02) -> int:
    """Size of the largest row of like characters in a band of a binary page of height
    ``h``: components 2-5 % of the page high (0.117 in on a 2.75-3.67 in cheque), as tall as one another and top-aligned (within
    12 %), spread over at least 30 % of the width -- the E-13B / CMC-7 code line printed
    along a cheque's bottom edge."""
    _n, _lab, st, _c = cv2.connectedComponentsWithStats(binary, connectivity=8)
    st = st[1:]
    hh = st[:, 3]
    st = st[(hh >= min_h * h) & (hh <= 0.05 * h) & (st[:, 2] <= 1.5 * hh)]
    best = 0
    for _x, y, _w, ch, _a in st:
        same = (np.abs(st[:, 3] - ch) <= 0.12 * ch + 1) & (np.abs(st[:, 1] - y) <= 0.15 * ch + 1)
        row = st[same]
        # The code line runs across a good part of the width (a date row does not).
        if len(row) <= best or (row[:, 0] + row[:, 2]).max() - row[:, 0].min() < 0.3 * binary.shape[1]:
            continue
        best = len(row)
    return best


MICR_MIN_H = 0.028  # least height of a code-line character, in page heights (E-13B: 0.032-0.043)


def _orientation(grey: np.ndarray, config: LocateConfig, reduced: np.ndarray | None = None) -> int:
    """Quarter turns clockwise that make the page upright: a cheque is landscape with its
    code line (MICR) along the bottom edge. A portrait page is turned the way that puts the
    longer row of code-line characters at the bottom; a landscape page is turned upside down
    only when that row is clearly at its top (``micr_min`` characters, and more than one
    and a half times as many as along the bottom). ``reduced``: ``_area_width(grey, 600)``
    when already made (used for a landscape page)."""
    H0, W0 = grey.shape
    portrait = H0 > 1.2 * W0
    if portrait:
        grey = cv2.rotate(grey, cv2.ROTATE_90_CLOCKWISE)
    small = reduced if reduced is not None and not portrait else _area_width(grey, 600)
    thrs = _threshold(small, config.ink_level)
    if thrs is None:
        return 1 if portrait else 0
    b = (small < thrs[0]).astype(np.uint8)
    h, w = b.shape
    angle = estimate_skew(b, config.max_skew_deg, config.skew_step_deg)
    if abs(angle) >= config.min_skew_deg:  # a code line's characters top-aligned again
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        b = np.asarray(cv2.warpAffine(b, rot, (w, h), flags=cv2.INTER_NEAREST), np.uint8)
    q = max(1, int(0.14 * h))
    top, bottom = _micr_row(b[:q], h), _micr_row(b[h - q:], h)
    if portrait:
        return 3 if top > bottom else 1
    # Upside down only for a row of code-line-sized characters at the top: the small print
    # along a cheque's top edge ("payable at all branches") is a row of like characters too,
    # but smaller than E-13B's 0.117 in.
    top = _micr_row(b[:q], h, MICR_MIN_H)
    return 2 if top >= config.micr_min and top > 1.5 * bottom + 2 else 0


def _turn(grey: np.ndarray, t: int) -> np.ndarray:
    """The page turned ``t`` quarter turns clockwise."""
    if t == 0:
        return grey
    return cv2.rotate(grey, (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE)[t - 1])


def _unturn_box(b: BBox, t: int, W0: int, H0: int) -> BBox:
    """A box on the page turned ``t`` quarter turns clockwise, in the unturned page's
    coordinates (``W0 x H0``)."""
    if t == 1:   # turned (x, y) = (H0 - y, x): back, x = y', y = H0 - x'
        return BBox(b.y, H0 - b.x2, b.h, b.w)
    if t == 2:
        return BBox(W0 - b.x2, H0 - b.y2, b.w, b.h)
    if t == 3:   # turned (x, y) = (y, W0 - x): back, x = W0 - y', y = x'
        return BBox(W0 - b.y2, b.x, b.h, b.w)
    return b


@dataclass
class _Work:
    """The page at work scale: grey, binarised, deskewed."""
    small: np.ndarray          # grey, work scale, deskewed
    binary: np.ndarray         # ink (1) of ``small``
    lines_bin: np.ndarray      # where rulings and box sides are looked for
    thr: float                 # ink threshold
    strong_thr: float          # a pen stroke's dark core
    s: float                   # work scale over the page's
    rot: np.ndarray | None     # deskewing rotation (work scale), None when upright


@dataclass
class _Ink:
    """The ink that is not ruling, as connected components."""
    labels: np.ndarray         # component label image
    comps: np.ndarray          # components with a dark core (hysteresis)
    all_comps: np.ndarray      # every component, faint ones too
    rules: np.ndarray          # rulings and box sides taken out of the ink


def _work_page(grey: np.ndarray, config: LocateConfig) -> _Work | None:
    """``grey`` scaled to ``work_width``, binarised and deskewed (None: no ink threshold)."""
    H0, W0 = grey.shape
    s = min(1.0, config.work_width / W0)
    if s < 1.0:
        # Darkest pixel of each cell first: averaging fades 1-2 px rulings into the paper.
        k = int(math.ceil(1.0 / s))
        small = cv2.resize(cv2.erode(grey, np.ones((k, k), np.uint8)),
                           (max(1, int(round(W0 * s))), max(1, int(round(H0 * s)))),
                           interpolation=cv2.INTER_AREA)
    else:
        small = grey
    thrs = _threshold(small, config.ink_level)
    if thrs is None:
        return None
    thr, strong_thr = thrs
    binary = (small < thr).astype(np.uint8)
    h, w = binary.shape
    angle = estimate_skew(binary, config.max_skew_deg, config.skew_step_deg) if config.deskew else 0.0
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0) if abs(angle) >= config.min_skew_deg else None
    if rot is not None:
        # Rotate the grey image, not the binary: nearest-neighbour rotation of 1 px rulings
        # breaks them into pieces the line detector no longer sees.
        small = cv2.warpAffine(small, rot, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        binary = (small < thr).astype(np.uint8)
        # Interpolation spreads a 1 px ruling over two rows at half contrast, which the
        # threshold breaks up: rulings and box sides are looked for on the 2x2 minimum.
        lines_bin = (cv2.erode(small, np.ones((2, 2), np.uint8)) < thr).astype(np.uint8)
    else:
        lines_bin = binary
    return _Work(small, binary, lines_bin, thr, strong_thr, s, rot)


def _in_box(zones: list[_Zone], msegs: list[tuple[int, int, float]], h: int,
            sx0: float, sx1: float, sy: float) -> bool:
    """A horizontal run inside a box, not on its rulings, or over the writing space of
    a longer ruling below it, is a pen stroke (a dash, bold print touching)."""
    for z in zones:
        bx0, by0, bx1, by1 = z.rect
        if by0 - 2 <= sy <= by1 + 2 and min(abs(sy - by0), abs(sy - by1)) > 1.5 \
                and bx0 - 3 < sx0 and sx1 < bx1 + 3:
            return True
    return any(lx0 - 3 < sx0 and sx1 < lx1 + 3 and ly - 0.14 * h < sy < ly - 2
               and sx1 - sx0 < 0.6 * (lx1 - lx0) for lx0, lx1, ly in msegs)


def _add_line_zones(zones: list[_Zone], used: set[int], msegs: list[tuple[int, int, float]],
                    w: int, h: int, config: LocateConfig) -> None:
    """Append to ``zones`` the amount lines among the merged rulings ``msegs`` (those
    not ``used`` as box sides)."""
    # A long horizontal run inside a box, away from its rulings, is a pen stroke.
    for k, (lx0, lx1, yr) in enumerate(msegs):
        if k in used or (lx0 + lx1) / 2 < config.right_min * w or _in_box(zones, msegs, h, lx0, lx1, yr):
            continue
        if not (max(config.box_w[0], config.line_min_w) * w <= lx1 - lx0 <= config.box_w[1] * w):
            continue
        # A longer ruling running across the writing space just above: this run is a stroke
        # along that ruling (cursive joins of a legal amount written on it), not an amount line.
        if any(sy < yr - 1.5 and sy > yr - 0.05 * h and sx0 <= lx0 + 2 and sx1 >= lx1 - 2
               and sx1 - sx0 > lx1 - lx0 for sx0, sx1, sy in msegs):
            continue
        pen = 1.0
        if yr < 0.28 * h:
            pen += 0.8  # a line high on the page is the date's
        if yr > 0.65 * h:
            pen += 2.5  # ... low on the page, the signature's
        # On US and Indian cheques the amount line continues the payee line of its row.
        if any(sx1 < lx0 and lx0 - sx1 < 0.12 * w and abs(sy - yr) < 0.02 * h and sx1 - sx0 > 0.2 * w
               for sx0, sx1, sy in msegs):
            pen -= 0.6
        zones.append(_Zone("line", (lx0, yr - 0.14 * h, lx1, yr), pen, k))


def _field_ink(work: _Work, horiz: np.ndarray, segs: list[tuple[int, int, float]],
               msegs: list[tuple[int, int, float]], zones: list[_Zone]) -> _Ink:
    """The ink of ``work`` with the rulings ``segs`` and the box sides taken out."""
    h = work.binary.shape[0]
    # Only the ruling's own rows leave the ink: print or a pen stroke resting on a ruling
    # joins its component, and must not go with it.
    rulings = np.zeros_like(horiz)
    for sx0, sx1, sy in segs:
        if not _in_box(zones, msegs, h, sx0, sx1, sy):
            r0, r1 = max(0, int(round(sy)) - 2), int(round(sy)) + 3
            rulings[r0:r1, sx0:sx1] = horiz[r0:r1, sx0:sx1]
    # Box sides leave the ink (handwriting crossing them is cut there, a small loss);
    # horizontal rulings too. A vertical opening is not used: it also finds 1, 4, 7 and $.
    rules = cv2.dilate(rulings, np.ones((3, 3), np.uint8))
    for z in zones:
        if z.kind != "box":
            continue
        zx0, zy0, zx1, zy1 = (int(round(v)) for v in z.rect)
        for xs in (zx0, zx1):
            rules[max(0, zy0 - 2): zy1 + 3, max(0, xs - 2): xs + 3] = 1
    ink: np.ndarray = np.bitwise_and(work.binary, 1 - rules)
    strong = work.small < work.strong_thr
    for z in zones:
        _local_ink(work.small, ink, strong, rules, z.rect, work.thr, work.strong_thr)
    labels, comps = _components(ink)
    # Before the hysteresis: a faint or thin stroke that continues the field (cents written
    # with a lighter touch, the "/-" of an Indian amount) may join it in _grow.
    all_comps = comps
    if len(comps):
        # Hysteresis: a pen stroke has a dark core; a security pattern, only faint edges
        # that the light threshold lets through.
        core = np.bincount(labels[strong], minlength=int(comps[:, _ID].max()) + 1)
        comps = comps[(comps[:, _H] >= 2) & (comps[:, _A] >= 4) & (core[comps[:, _ID].astype(np.int64)] > 0)]
    return _Ink(labels, comps, all_comps, rules)


def _add_layout_zones(zones: list[_Zone], w: int, h: int, config: LocateConfig) -> None:
    """Append the layout and fallback zones to ``zones``, unless a closed box lies where
    the layout puts the amount."""
    # Where the standard layouts put the courtesy amount (ANSI X9.100-160 personal checks,
    # CTS-2010): the right edge, from under the date to the legal amount's line. Without a
    # box or line found there (a box printed too faint to survive the threshold), the text
    # row written there is the field.
    lx0, ly0, lx1, ly1 = config.layout_zone
    lx0, ly0, lx1, ly1 = lx0 * w, ly0 * h, lx1 * w, ly1 * h
    # A closed box (not a row of cells) found there already is the layout's amount box.
    if not any(z.kind == "box" and z.penalty < 1.0 and lx0 < (z.rect[0] + z.rect[2]) / 2 < lx1
               and ly0 < (z.rect[1] + z.rect[3]) / 2 < ly1 for z in zones):
        zones.append(_Zone("layout", (lx0, ly0, lx1, ly1), config.layout_penalty))
        zones.append(_Zone("fallback", (0.62 * w, 0.12 * h, 0.98 * w, 0.57 * h), 3.0))


def _padded_box(z: _Zone, box: tuple[float, float, float, float], boxed: bool, s: float,
                config: LocateConfig) -> tuple[float, float, float, float]:
    """The field's ``box`` (deskewed full resolution) padded for zone ``z``; ``boxed``:
    ``box`` is the ink's, inside a box zone's rules."""
    x0, y0, x1, y1 = box
    # A row found by the layout alone gets more margin: the printed box it was written in
    # (too faint to be found) runs round it.
    p = (config.pad if z.kind != "layout" else config.layout_pad) * (y1 - y0) + 1
    px0, py0, px1, py1 = x0 - p, y0 - p, x1 + p, y1 + p
    if z.kind == "layout" and config.box_extent:
        # Figures are written from the box's left: the box runs on to their right.
        px1 = min(x1 + config.layout_pad_right * (y1 - y0), z.rect[2] / s)
    if boxed:
        # Padding stops inside the box's rules, unless the ink itself crosses them.
        bx0, by0, bx1, by1 = (v / s for v in z.rect)
        m = 2.0 / s
        px0 = max(px0, min(x0, bx0 + m))
        py0 = max(py0, min(y0, by0 + m))
        px1 = min(px1, max(x1, bx1 - m))
        py1 = min(py1, max(y1, by1 - m))
        if config.box_extent:
            # The field is the box's writing space from the figures on (the printed
            # sign inside the box at its left stays out), not only the ink's hull.
            px1, py0, py1 = max(px1, bx1 - m), min(py0, by0 + m), max(py1, by1 - m)
        if config.box_reach > 0:
            # Ink far over the box's rules (the slash of "/-" drawn through it, a word of
            # the line above) is no part of the figures.
            reach = config.box_reach * (by1 - by0)
            py0, py1 = max(py0, by0 - reach), min(py1, by1 + reach)
            px1 = min(px1, bx1 + 2 * reach)  # a last digit or "/-" over the right side
    return px0, py0, px1, py1


def _locate(grey: np.ndarray, config: LocateConfig) -> list[Field]:
    """:func:`locate_fields` on an upright page (uint8, validated)."""
    H0, W0 = grey.shape
    work = _work_page(grey, config)
    if work is None:
        return []
    s = work.s
    h, w = work.binary.shape
    kw = max(8, w // 30)
    horiz = cv2.morphologyEx(work.lines_bin, cv2.MORPH_OPEN, np.ones((1, kw), np.uint8))
    # Shorter horizontal runs are pen strokes (the dash of "/-", a long 7 top): kept as ink.
    segs = _rulings(horiz, 0.06 * w)
    msegs = _merge_collinear(segs, 0.03 * w)
    zones, used = _find_boxes(work.lines_bin, msegs, w, h, config)
    _add_line_zones(zones, used, msegs, w, h, config)
    ink = _field_ink(work, horiz, segs, msegs, zones)
    _add_layout_zones(zones, w, h, config)

    scored = []
    for z in zones:
        if z.kind == "cells":
            continue
        pen, sel = _score_zone(z, ink.comps, w, h, config)
        scored.append((pen, z, sel))
    scored.sort(key=lambda t: t[0])

    m_full = None if work.rot is None else _full_rot(work.rot, s)
    out: list[Field] = []
    kept: list[BBox] = []
    for pen, z, sel in scored:
        if len(sel) and z.kind != "fallback":
            sel = _grow(sel, ink.all_comps, ink.comps, z, config)
        # The fallback zone is too coarse for a full-resolution refinement to pay off.
        reach = int(math.ceil(config.rule_reach / s)) + 2 if z.kind == "box" else 0
        ink_box = _refine(grey, ink.labels, ink.rules, sel, s, m_full, work.thr, reach) \
            if len(sel) and z.kind != "fallback" else None
        if ink_box is None and len(sel):
            ink_box = (sel[:, _X].min() / s, sel[:, _Y].min() / s,
                       (sel[:, _X] + sel[:, _W]).max() / s, (sel[:, _Y] + sel[:, _H]).max() / s)
        box: tuple[float, float, float, float] = ink_box if ink_box is not None else (
            z.rect[0] / s, z.rect[1] / s, z.rect[2] / s, z.rect[3] / s)
        px0, py0, px1, py1 = _padded_box(z, box, z.kind == "box" and ink_box is not None, s, config)
        b = _to_input_box(px0, py0, px1, py1, m_full, W0, H0)
        if b.w < 2 or b.h < 2 or any(b.iou(k) > config.dedupe_iou for k in kept):
            continue
        kept.append(b)
        out.append(Field(bbox=b, image=_crop(grey, b, (px0, py0, px1, py1), m_full), penalty=float(pen)))
        if len(out) == config.max_fields:
            break
    return out


def _local_ink(small: np.ndarray, ink: np.ndarray, strong: np.ndarray, rules: np.ndarray,
               rect: tuple[float, float, float, float], thr: float, strong_thr: float) -> None:
    """Re-threshold a box whose writing is much lighter than the page's darkest ink (a
    faint pen next to black print), in place on ``ink`` and ``strong``."""
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    inner = small[y0 + 2: y1 - 1, x0 + 3: x1 - 2]
    if inner.size < 16:
        return
    cdf = np.cumsum(np.bincount(inner.ravel(), minlength=256))
    lp = float(np.searchsorted(cdf, cdf[-1] / 2))
    ld = float(np.searchsorted(cdf, 0.01 * cdf[-1]))
    if ld <= strong_thr or lp - ld < 20:  # dark enough already, or nothing written
        return
    lt, ls = (lp + ld) / 2, lp - 0.6 * (lp - ld)
    zh = y1 - y0
    ry0, ry1 = max(0, int(y0 - 0.4 * zh)), int(y1 + 0.4 * zh) + 1
    rx0, rx1 = max(0, x0), x1 + 1
    reg = small[ry0:ry1, rx0:rx1]
    ink[ry0:ry1, rx0:rx1] |= (reg < lt) & (rules[ry0:ry1, rx0:rx1] == 0)
    strong[ry0:ry1, rx0:rx1] |= reg < ls


def _find_boxes(binary: np.ndarray, segs: list[tuple[int, int, float]], w: int, h: int,
                config: LocateConfig) -> tuple[list[_Zone], set[int]]:
    """Rectangles made of two rulings and two vertical sides, in the right part of the page."""
    zones: list[tuple[float, float, tuple[int, int], _Zone]] = []
    used: set[int] = set()
    for i, (tx0, tx1, ty) in enumerate(segs):
        for j, (bx0, bx1, byy) in enumerate(segs):
            dy = byy - ty
            if not (config.box_h[0] * h <= dy <= config.box_h[1] * h):
                continue
            ox0, ox1 = max(tx0, bx0), min(tx1, bx1)
            if ox1 - ox0 < 0.7 * min(tx1 - tx0, bx1 - bx0):
                continue
            if (ox0 + ox1) / 2 < config.right_min * w:
                continue
            y0, y1 = int(ty) + 2, int(byy) - 1
            # A ruling broken by a light print or joined by a pen stroke ends elsewhere than
            # its partner: each side is looked for between the two rulings' ends.
            reach = max(3, int(0.1 * dy))
            # First at the inner end (the longer ruling may run on into a payee line).
            lf, lx = _side(binary, max(tx0, bx0) - reach, max(tx0, bx0) + reach, y0, y1, True, 0.6)
            if lf < 0.6:
                lf, lx = _side(binary, min(tx0, bx0) - reach, max(tx0, bx0) + reach, y0, y1, True, 0.6)
            rf, rx = _side(binary, min(tx1, bx1) - reach - 1, min(tx1, bx1) + reach - 1, y0, y1, False, 0.6)
            if rf < 0.6:
                rf, rx = _side(binary, min(tx1, bx1) - reach - 1, max(tx1, bx1) + reach - 1, y0, y1, False, 0.6)
            bw = rx - lx
            if min(lf, rf) < 0.6 or not (config.box_w[0] * w <= bw <= config.box_w[1] * w):
                continue
            # Both rulings run the box's width: a short run inside (a pen stroke, bold
            # handwriting merged at the work scale) with a printed sign and a digit for sides
            # is no box.
            if min(min(tx1, rx) - max(tx0, lx), min(bx1, rx) - max(bx0, lx)) < 0.6 * bw:
                continue
            # A side faded in places (light print) is less sure evidence.
            # Sides running on past a ruling: that ruling is a stroke inside a larger box.
            ext = max(3, int(0.3 * dy))
            below = _side(binary, lx, lx, int(byy) + 2, int(byy) + 2 + ext, True, 1.0)[0] \
                + _side(binary, rx, rx, int(byy) + 2, int(byy) + 2 + ext, True, 1.0)[0]
            above = _side(binary, lx, lx, int(ty) - 1 - ext, int(ty) - 1, True, 1.0)[0] \
                + _side(binary, rx, rx, int(ty) - 1 - ext, int(ty) - 1, True, 1.0)[0]
            if max(below, above) > 1.6:
                continue
            fill = min(lf, rf)
            # A row of small equal cells (the DDMMYYYY date, account-number boxes) is a box
            # of the form, not the amount's: kept aside, never a field.
            kind = "cells" if _cells(binary, lx, rx, y0, y1) >= 3 else "box"
            zones.append((-round(fill, 1), dy, (i, j), _Zone(kind, (lx, ty, rx, byy), 0.0 if fill >= 0.85 else 0.3)))
    # Overlapping pairs (the box's top with a ruling further down, a ruling inside the box):
    # the best-closed rectangle wins, then the smaller (its sides end at its rulings).
    zones.sort(key=lambda t: t[:2])
    kept: list[_Zone] = []
    for _f, _dy, pair, z in zones:
        if not any(_overlap(z.rect, k.rect) > 0.5 for k in kept):
            kept.append(z)
            used.update(pair)
    return kept, used


def _cells(binary: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> int:
    """Number of inner dividers of a box ``x0..x1`` (rows ``y0..y1``) that split it into
    equal cells: vertical strokes across at least 90 % of its height on a regular comb
    (digits written in the cells may add strokes off the comb). 0 below three."""
    if y1 - y0 < 4 or x1 - x0 < 12:
        return 0
    fill = binary[y0:y1, x0 + 2: x1 - 1].mean(axis=0)
    cols = np.nonzero(fill >= 0.9)[0]
    if len(cols) < 3:
        return 0
    # Runs of adjacent columns are one stroke.
    runs = np.split(cols, np.nonzero(np.diff(cols) > 1)[0] + 1)
    xs = np.array([float(r.mean()) for r in runs])
    if len(xs) < 3:
        return 0
    best = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            for k in (1, 2, 3):
                p = (xs[j] - xs[i]) / k
                if p < 4 or p > (x1 - x0) / 4:
                    continue
                q = (xs - xs[i]) / p
                best = max(best, int((np.abs(q - np.round(q)) < 0.15).sum()))
    return best if best >= 3 else 0


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / area if area > 0 else 0.0


def _score_zone(z: _Zone, comps: np.ndarray, w: int, h: int,
                config: LocateConfig) -> tuple[float, np.ndarray]:
    """Penalty of a zone and the rows of ``comps`` that make its field."""
    x0, y0, x1, y1 = z.rect
    zh = y1 - y0
    pen = z.penalty
    if len(comps) == 0:
        return pen + 5.0, comps
    cx0, cy0 = comps[:, _X], comps[:, _Y]
    cx1, cy1 = cx0 + comps[:, _W], cy0 + comps[:, _H]
    cx, cy = comps[:, _CX], comps[:, _CY]
    if z.kind == "box":
        # Inside the box, or touching its rulings from outside (overflowing handwriting),
        # and not as large as the box (background pattern, another ruling).
        xin = (cx0 < x1 - 1) & (cx1 > x0 + 1)
        near = (cx > x0) & (cx < x1 + 0.3 * zh) & (cy > y0 - 0.4 * zh) & (cy < y1 + 0.4 * zh)
        small = (comps[:, _H] < 1.6 * zh) & (comps[:, _W] < 0.9 * (x1 - x0))
        inner = xin & near & small & (cy0 < y1 - 1) & (cy1 > y0 + 1)
        c = comps[inner]
        # A piece just outside a ruling belongs to the field only when it continues a stroke
        # of the inside that reaches that ruling (the ruling's removal cut the stroke).
        outer = np.nonzero(xin & near & small & ~inner & (cy0 < y1 + 4) & (cy1 > y0 - 4)
                           & (comps[:, _W] < 0.6 * zh) & (comps[:, _H] < 0.6 * zh))[0]
        if len(outer) and len(c):
            ix0, ix1 = c[:, _X], c[:, _X] + c[:, _W]
            up, down = c[:, _Y] <= y0 + 3, c[:, _Y] + c[:, _H] >= y1 - 3
            extra = []
            for k in outer:
                reach = up if cy1[k] <= y0 + 3 else down
                if np.any(reach & (ix0 < cx1[k] + 1) & (ix1 > cx0[k] - 1)):
                    extra.append(k)
            if extra:
                c = np.vstack([c, comps[extra]])
        sign_out = (comps[:, _X] + comps[:, _W] < x0 - 1) & (comps[:, _X] + comps[:, _W] > x0 - 0.9 * zh) \
            & (cy > y0 + 0.25 * zh) & (cy < y1 - 0.25 * zh) \
            & (comps[:, _H] > 0.25 * zh) & (comps[:, _H] < 0.85 * zh) \
            & (comps[:, _W] <= 1.1 * comps[:, _H]) & (comps[:, _A] >= 0.3 * comps[:, _W] * comps[:, _H])
        # (A printed sign is upright and solid; a background stroke ending there is not.)
        if sign_out.any():
            pen -= 0.3
        elif len(c) > 1:
            c = _drop_sign(c, x0, y0, zh)
    elif z.kind == "layout":
        c, signed = _layout_row(comps, z.rect, h)
        if signed:
            pen -= 0.7  # a printed sign starts the row
    elif z.kind == "line":
        c = comps[(cx > x0) & (cx < x1) & (cy > y0) & (cy < y1) & (cy1 > y1 - 0.5 * zh)
                  & (comps[:, _H] < 1.2 * zh)]
        # A printed sign just left of the line's start confirms an amount line; without
        # one, the sign may be printed over the line's left end (open Chilean boxes).
        left = comps[(cx0 + comps[:, _W] < x0 + 2) & (cx0 + comps[:, _W] > x0 - 0.6 * zh)
                     & (cy > y0) & (cy < y1) & (comps[:, _H] > 0.2 * zh) & (comps[:, _H] < 0.7 * zh)]
        if len(left):
            pen -= 0.3
        elif len(c) > 1:
            c = _drop_sign(c, x0, y1 - 0.8 * zh, 0.8 * zh)
    else:
        c = comps[(cx > x0) & (cx < x1) & (cy > y0) & (cy < y1) & (comps[:, _H] < 0.5 * zh)]
    # Too little ink for an amount: under 2 % of the zone, unless that is still a digit's worth
    # of the zone's height (a short amount, "39", in a long box or on a long line).
    if len(c) == 0 or c[:, _A].sum() < min(0.02 * (x1 - x0) * zh, 0.05 * zh * zh):
        return pen + 5.0, c[:0]
    fx0, fy0 = c[:, _X].min(), c[:, _Y].min()
    fx1, fy1 = (c[:, _X] + c[:, _W]).max(), (c[:, _Y] + c[:, _H]).max()
    cxn, cyn = (fx0 + fx1) / 2 / w, (fy0 + fy1) / 2 / h
    pen += 3.0 * max(0.0, 0.62 - cxn) + 2.0 * max(0.0, config.y_prior[0] - cyn) \
        + 8.0 * max(0.0, cyn - config.y_prior[1])
    return pen, c


def _layout_row(comps: np.ndarray, rect: tuple[float, float, float, float],
                h: int) -> tuple[np.ndarray, bool]:
    """The components of the most inked text row in a layout zone, without the printed sign
    at its left (characters, not rules, frames or dots, grouped by vertical overlap), and
    whether such a sign was there."""
    x0, y0, x1, y1 = rect
    if len(comps) == 0:
        return comps, False
    cx, cy, ch = comps[:, _CX], comps[:, _CY], comps[:, _H]
    c = comps[(cx > x0) & (cx < x1) & (cy > y0) & (cy < y1) & (ch >= 0.02 * h) & (ch <= 0.14 * h)
              & (comps[:, _W] <= 0.25 * (x1 - x0))]
    if len(c) == 0:
        return c, False
    order = np.argsort(c[:, _CY])
    rows: list[list[int]] = []
    for k in order:
        t, b = c[k, _Y], c[k, _Y] + c[k, _H]
        for r in rows:
            rt, rb = c[r, _Y].min(), (c[r, _Y] + c[r, _H]).max()
            if min(b, rb) - max(t, rt) > 0.3 * min(b - t, rb - rt):
                r.append(int(k))
                break
        else:
            rows.append([int(k)])
    best = max(rows, key=lambda r: c[r, _A].sum())
    row = c[best]
    # Rows chained by a descender or the tail of a word of the line above: the band of the
    # row's largest characters only (commas and dots sit low in it).
    big = row[row[:, _H] >= 0.6 * row[:, _H].max()]
    mid, bh = float(np.median(big[:, _CY])), float(np.median(big[:, _H]))
    row = row[(row[:, _CY] >= mid - 0.6 * bh) & (row[:, _CY] <= mid + 0.8 * bh)]
    rt, rb = row[:, _Y].min(), (row[:, _Y] + row[:, _H]).max()
    if len(row) < 2:
        return row, False
    # The printed sign: the first character, upright, most of the row's height, set apart
    # from the figures by a gap.
    row = row[np.argsort(row[:, _X])]
    first, rest = row[0], row[1:]
    rh = max(rb - rt, 1.0)
    gap = rest[:, _X].min() - (first[_X] + first[_W])
    if gap > 0.25 * rh and first[_W] <= 0.9 * first[_H] and first[_H] >= 0.5 * rh:
        return _drop_rules(rest, rh), True
    c = _drop_sign(row, row[:, _X].min(), rt, rh)
    return _drop_rules(c, rh), len(c) < len(row)


def _drop_rules(row: np.ndarray, rh: float) -> np.ndarray:
    """``row`` (sorted left to right) without the sparse, row-high components that start it:
    the side of the sign's cell or of a box too faint to be found, not a character (a
    written stroke of that height fills far more of its box)."""
    k = 0
    while len(row) - k > 1 and row[k, _A] < RULE_FILL * row[k, _W] * row[k, _H] and row[k, _H] >= 0.8 * rh:
        k += 1
    return row[k:]


RULE_FILL = 0.12  # ink share of its box below which a row-high component is a rule or a frame


def _grow(sel: np.ndarray, comps: np.ndarray, kept: np.ndarray, z: _Zone,
          config: LocateConfig) -> np.ndarray:
    """The field's components and the handwriting that continues them past the zone's edge.

    A zone's selection misses ink written beyond it: superscript cents over an amount line
    (their bottom too high for the line's writing band), a last digit or the ``/-`` over a
    box's right side (cut off by the side's removal), the tips of tall digits across a box's
    rule, faint cents that fail the hysteresis. A component joins when it continues the field
    to the right (a gap under ``grow_gap`` field heights) or just above or below it (over a
    removed rule), its height within the field's band and at most ``grow_max_h`` field
    heights. ``comps`` are all the page's components, ``kept`` those that passed the
    hysteresis (a tip above or below must: background strokes cross rules too). Never
    leftwards: the printed sign lies there. Repeated, so that "59" joins
    digit by digit; a box zone grows at most ``grow_gap`` field heights past its right side.
    """
    if config.grow_gap <= 0 or len(comps) == 0:
        return sel
    x0, y0, x1, y1 = z.rect
    have = set(sel[:, _ID].astype(np.int64).tolist())
    cx0, cy0 = comps[:, _X], comps[:, _Y]
    cx1, cy1 = cx0 + comps[:, _W], cy0 + comps[:, _H]
    # Tips above or below must have passed the hysteresis (a background stroke would too).
    strong = np.isin(comps[:, _ID], kept[:, _ID])
    for _ in range(6):  # a few rounds: cents joined digit by digit
        fx0, fy0 = sel[:, _X].min(), sel[:, _Y].min()
        fx1, fy1 = (sel[:, _X] + sel[:, _W]).max(), (sel[:, _Y] + sel[:, _H]).max()
        fh = max(fy1 - fy0, 4.0)
        if z.kind == "box":
            fh = min(fh, y1 - y0)  # not a runaway: ink crossing the rules is no taller field
        g = config.grow_gap * fh
        # Within the field's rows (a superscript or a descender a little beyond them).
        band = (cy0 >= fy0 - 0.4 * fh) & (cy1 <= fy1 + 0.4 * fh) & (cy1 > fy0) & (cy0 < fy1) \
            & ((comps[:, _H] >= 2) | (comps[:, _W] >= 3)) \
            & (comps[:, _H] <= config.grow_max_h * fh) & (comps[:, _W] <= 2.0 * fh)
        right = band & (cx0 >= fx1 - 0.25 * fh) & (cx0 <= fx1 + g)
        if z.kind == "box":
            right &= cx0 <= x1 + g
            zh = y1 - y0
            inside = (cy0 >= y0 - 0.5 * zh) & (cy1 <= y1 + 0.5 * zh)
            right &= inside
        # Just above or below the field's ink, within its columns: a tip cut off by a rule.
        vert = strong & (cx0 >= fx0 - 1) & (cx1 <= fx1 + 1) & (comps[:, _H] < 0.6 * fh) & (comps[:, _W] < 0.8 * fh) \
            & (((cy1 <= fy0 + 1) & (cy1 >= fy0 - 0.35 * fh)) | ((cy0 >= fy1 - 1) & (cy0 <= fy1 + 0.35 * fh)))
        if z.kind == "box":
            vert &= inside
        new = [k for k in np.nonzero(right | vert)[0] if int(comps[k, _ID]) not in have]
        if not new:
            break
        have.update(int(comps[k, _ID]) for k in new)
        sel = np.vstack([sel, comps[new]])
    return sel


def _drop_sign(c: np.ndarray, x0: float, y0: float, zh: float) -> np.ndarray:
    """Without a sign outside the box, a sign-sized first component at its left edge, centred
    on the box's height, is the printed sign inside the box (CTS-2010, Chile), not the amount."""
    order = np.argsort(c[:, _X])
    first = c[order[0]]
    mid = (first[_Y] + first[_H] / 2 - y0) / zh
    if first[_X] - x0 < 0.4 * zh and 0.3 * zh < first[_H] < 0.85 * zh and 0.3 < mid < 0.7:
        return c[order[1:]]
    return c


def _full_rot(rot: np.ndarray, s: float) -> np.ndarray:
    # Rotation about the centre commutes with scaling about the origin: same matrix, the
    # translation scaled.
    m = rot.copy()
    m[:, 2] /= s
    return m


def _warp(grey: np.ndarray, m_full: np.ndarray | None, x0: float, y0: float,
          cw: int, ch: int) -> np.ndarray:
    """Upright ``(ch, cw)`` crop at ``(x0, y0)`` of the deskewed full-resolution page."""
    if m_full is None:
        H, W = grey.shape
        xi, yi = int(round(x0)), int(round(y0))
        out = grey[max(0, yi): max(0, yi + ch), max(0, xi): max(0, xi + cw)]
        if out.shape != (ch, cw):  # past the page edge: pad with the edge pixels, as warping does
            out = cv2.copyMakeBorder(out, max(0, -yi), max(0, ch - out.shape[0] - max(0, -yi)),
                                     max(0, -xi), max(0, cw - out.shape[1] - max(0, -xi)),
                                     cv2.BORDER_REPLICATE) if out.size else np.full((ch, cw), 255, np.uint8)
        return np.ascontiguousarray(out)
    inv = cv2.invertAffineTransform(m_full)
    t = inv[:, 2] + inv[:, :2] @ np.array([x0, y0])
    mc = np.hstack([inv[:, :2], t[:, None]])
    return cv2.warpAffine(grey, mc, (cw, ch), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _refine(grey: np.ndarray, labels: np.ndarray, rules: np.ndarray, sel: np.ndarray, s: float,
            m_full: np.ndarray | None, thr: float,
            reach: int = 0) -> tuple[float, float, float, float] | None:
    """Box ``(x0, y0, x1, y1)`` in deskewed full-resolution coordinates of the ink of the
    selected work-scale components (their mask, dilated by a pixel, on the full-size page),
    and of the ink connected to it within ``reach`` full-resolution pixels (a stroke's
    pixels on a removed rule)."""
    e = 1 + (4 if reach > 0 else 0)  # room for the ink on a rule next to the field's
    x0, y0 = int(sel[:, _X].min()) - e, int(sel[:, _Y].min()) - e
    x1, y1 = int((sel[:, _X] + sel[:, _W]).max()) + e, int((sel[:, _Y] + sel[:, _H]).max()) + e
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(labels.shape[1], x1), min(labels.shape[0], y1)
    mask = np.isin(labels[y0:y1, x0:x1], sel[:, _ID].astype(labels.dtype)).astype(np.uint8)
    ruled = rules[y0:y1, x0:x1]
    fx: float
    fy: float
    if s >= 1.0 and m_full is None:
        fx, fy = float(x0), float(y0)
        crop = grey[y0:y1, x0:x1]
    else:
        # One pixel more for the resampling, but not onto a ruling the ink touches.
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8)) & (1 - rules[y0:y1, x0:x1])
        fx, fy = x0 / s, y0 / s
        cw, ch = max(1, int(round((x1 - x0) / s))), max(1, int(round((y1 - y0) / s)))
        crop = _warp(grey, m_full, fx, fy, cw, ch)
        mask = cv2.resize(mask, (cw, ch), interpolation=cv2.INTER_NEAREST)
        if reach > 0:
            ruled = cv2.resize(np.ascontiguousarray(ruled), (cw, ch), interpolation=cv2.INTER_NEAREST)
    dark = (crop < thr).astype(np.uint8)
    ys, xs = np.nonzero(dark & mask)
    if len(ys) == 0:
        return None
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    if reach > 0:
        # Strokes running into a rule: the ruling's removal took their pixels on it. Ink on
        # the removed rules connected to the field's within ``reach`` pixels extends the box,
        # each way only in the rows (columns) of the field's ink (not along a rule). (Not through
        # other ink: a dark background stroke would lead anywhere.)
        seed = (dark & mask).astype(np.uint8)
        free = dark & (ruled | mask)
        k3 = np.ones((3, 3), np.uint8)
        for _ in range(reach):
            grown = cv2.dilate(seed, k3) & free
            if np.array_equal(grown, seed):
                break
            seed = grown
        gy, gx = np.nonzero(seed)
        hit = dark & mask
        rows = np.asarray(hit.any(axis=1))[gy]
        cols = np.asarray(hit.any(axis=0))[gx]
        if rows.any():
            bx0, bx1 = min(bx0, gx[rows].min()), max(bx1, gx[rows].max() + 1)
        if cols.any():
            by0, by1 = min(by0, gy[cols].min()), max(by1, gy[cols].max() + 1)
    return fx + bx0, fy + by0, fx + bx1, fy + by1


def _to_input_box(x0: float, y0: float, x1: float, y1: float, m_full: np.ndarray | None,
                  W: int, H: int) -> BBox:
    pts = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    if m_full is not None:
        inv = cv2.invertAffineTransform(m_full)
        pts = pts @ inv[:, :2].T + inv[:, 2]
    bx0, by0 = max(0, int(math.floor(pts[:, 0].min()))), max(0, int(math.floor(pts[:, 1].min())))
    bx1, by1 = min(W, int(math.ceil(pts[:, 0].max()))), min(H, int(math.ceil(pts[:, 1].max())))
    return BBox(bx0, by0, max(0, bx1 - bx0), max(0, by1 - by0))


def _crop(grey: np.ndarray, b: BBox, zone: tuple[float, float, float, float],
          m_full: np.ndarray | None) -> np.ndarray:
    if m_full is None:
        return grey[b.y: b.y2, b.x: b.x2].copy()
    x0, y0, x1, y1 = zone
    return _warp(grey, m_full, x0, y0, max(2, int(round(x1 - x0))), max(2, int(round(y1 - y0))))
