"""Field cleaning: grey conversion, background removal, binarisation, guide-line and speckle
removal (paper Section X: the courtesy-amount field before over-segmentation).

The output keeps the geometry of the input exactly (same shape, no crop, no resize) so that
boxes found later are in field coordinates.

Example
-------
>>> import numpy as np
>>> from chequereader.clean import clean_field
>>> img = np.full((30, 40), 200, np.uint8)
>>> img[5:25, 10:14] = 20          # a vertical bar, like a '1'
>>> cf = clean_field(img)
>>> cf.binary.shape, int(cf.binary.sum())
((30, 40), 80)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ._validate import check_image, check_range
from .types import CleanField

__all__ = ["CleanConfig", "clean_field", "to_grey"]


@dataclass(frozen=True)
class CleanConfig:
    """Parameters of :func:`clean_field`.

    Attributes
    ----------
    background_kernel : float
        Side of the max filter that estimates the paper background, as a fraction of the field
        height (at least 7 px). Must be wider than any stroke.
    min_contrast : float
        Minimum normalised darkness (0..1, 1 = black) of ink after the background is divided
        out; below it a field is blank, whatever Otsu says.
    threshold_scale : float
        Multiplies the Otsu threshold on the darkness image (> 1 = stricter, fewer pixels).
    ink_floor : float
        The threshold is at least this fraction of the way from the paper's darkness (median)
        to the ink's (99th percentile).
    remove_lines : bool
        Remove long horizontal guide lines / underlines / box borders and long vertical borders.
    line_length : float
        A horizontal run is a guide line when at least this many field heights long.
    line_min_width_frac : float
        ... or at least this fraction of the field width (whichever is smaller, >= 12 px).
    vertical_line_frac : float
        A vertical run at least this fraction of the field height, thin and straight, is a box
        border.
    speckle_frac : float
        Components with area below ``(speckle_frac * body_height) ** 2`` are speckles unless
        they look like a '.' or ',' (dense and near the baseline).
    min_area : int
        Components smaller than this are always removed.
    sliver_height : float
        Components at most this many body heights high (and 3 times wider than high) are
        guide-line or hatching left-overs, unless placed like a '-'.
    hairline_open : bool
        Remove 1-pixel-thick horizontal hairlines (hatching touching the strokes) with a
        vertical 2x1 opening, component by component, where the strokes are thick enough to
        survive it.
    deslant : bool
        Shear the ink towards upright: a slant beyond ``DESLANT_KEEP`` (0.2, the natural
        slant the recognizer was trained on) is taken out, never shearing ink out of the
        field. On by default (ORAND-CAR-A exact amount +4 to +5 points); the output shape stays
        the input shape, and x positions of boxes found later are those of the sheared ink.
    punct_min_frac : float, optional
        A '.' or ',' must have at least ``(punct_min_frac * body_height) ** 2`` pixels. None
        (default): by locale, see :func:`punct_floor`.
    body_min_frac : float, optional
        Only components at least this share of the tallest one's height count towards
        the body height and baseline. None (default): by locale, see :func:`body_floor`.
    stacked_fraction : bool
        Outside locale ``cl``: cents written as a stacked fraction at the amount's end (the
        cents over a bar over ``100``, as US writers do after ``$ 100``) keep only the cents,
        raised where superscript cents are (:func:`_stacked_fraction`); the bar and the
        ``100`` would otherwise be read as digits.
    """

    background_kernel: float = 0.6
    min_contrast: float = 0.25
    threshold_scale: float = 1.0
    ink_floor: float = 0.35
    remove_lines: bool = True
    line_length: float = 1.6
    line_min_width_frac: float = 0.5
    # A box's side crosses nearly the whole crop. At 0.85 the stem of a printed '$' (the ink
    # box's full height, 28 of a 33-px zone) was taken for one and the 'S' left was read as
    # a 5; at 0.95 the bar between the printed sign's cell and the amount's on Indian
    # cheques (a little short of the crop's height) stayed and was read as a 1.
    vertical_line_frac: float = 0.9
    speckle_frac: float = 0.12
    min_area: int = 3
    sliver_height: float = 0.1
    hairline_open: bool = True
    deslant: bool = True
    punct_min_frac: float | None = None
    body_min_frac: float | None = None
    stacked_fraction: bool = True

    def __post_init__(self) -> None:
        check_range(self.background_kernel, "background_kernel", 0.05, 10.0)
        check_range(self.min_contrast, "min_contrast", 0.0, 1.0)
        check_range(self.threshold_scale, "threshold_scale", 0.1, 10.0)
        check_range(self.ink_floor, "ink_floor", 0.0, 1.0)
        check_range(self.line_length, "line_length", 0.1, 100.0)
        check_range(self.line_min_width_frac, "line_min_width_frac", 0.0, 1.0)
        check_range(self.vertical_line_frac, "vertical_line_frac", 0.1, 1.0)
        check_range(self.speckle_frac, "speckle_frac", 0.0, 1.0)
        check_range(self.min_area, "min_area", 0, 10_000)
        if self.body_min_frac is not None:
            check_range(self.body_min_frac, "body_min_frac", 0.0, 1.0)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Grey ``uint8 (H, W)`` from a grey or colour image.

    Colour input ``(H, W, 3|4)`` is reduced with the minimum over the colour channels: ink is
    dark in every channel while a coloured security background is light in at least one,
    so the minimum keeps the ink and the background stays lighter than it.
    """
    image = check_image(image, "image", ndim=(2, 3))
    if image.ndim == 3:
        if image.shape[2] not in (1, 3, 4):
            from .errors import InvalidImageError

            raise InvalidImageError(f"image: expected 1, 3 or 4 channels, got {image.shape[2]}")
        image = image[..., :3].min(axis=2) if image.shape[2] >= 3 else image[..., 0]
    if image.dtype == bool:
        return np.where(image, 255, 0).astype(np.uint8)
    if image.dtype != np.uint8:
        a = image.astype(np.float64)
        hi = float(a.max()) if a.size else 1.0
        scale = 255.0 / hi if hi > 255 else 1.0
        image = np.clip(a * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _darkness(grey: np.ndarray, config: CleanConfig) -> np.ndarray:
    """Ink darkness in 0..1 after the paper background is divided out."""
    h = grey.shape[0]
    k = max(7, int(round(config.background_kernel * h)) | 1)
    # Max filter (closing for dark ink) finds the paper level under the strokes; a box blur
    # then smooths the block artefacts of the square kernel.
    bg = cv2.dilate(grey, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.blur(bg, (k, k))
    bgf = np.maximum(bg.astype(np.float32), 1.0)
    return np.clip(1.0 - grey.astype(np.float32) / bgf, 0.0, 1.0)


def _binarise(dark: np.ndarray, config: CleanConfig) -> np.ndarray:
    d8 = np.clip(dark * 255.0, 0, 255).astype(np.uint8)
    if int(d8.max()) < config.min_contrast * 255:
        return np.zeros(dark.shape, bool)
    t, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Hatched or striped security backgrounds put a second mode just above the paper and
    # Otsu lands between the two; the floor keeps the threshold a fixed share of the way from
    # the paper level (median) to the ink level (99th percentile).
    # Percentiles from the 256-bin histogram: exact for uint8 and much cheaper than sorting.
    if d8.size < 1 << 24:  # float32 counts are exact: OpenCV's histogram, twice as fast
        hist = cv2.calcHist([d8], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    else:
        hist = np.bincount(d8.ravel(), minlength=256)
    cdf = np.cumsum(hist)
    med, ink = (float(np.searchsorted(cdf, q * cdf[-1])) for q in (0.5, 0.99))
    floor = med + config.ink_floor * (ink - med)
    t = max(float(t) * config.threshold_scale, floor, config.min_contrast * 255 * 0.6)
    return d8 > t


def _remove_lines(binary: np.ndarray, config: CleanConfig) -> np.ndarray:
    """Remove long straight horizontal / vertical runs except where a stroke crosses them."""
    h, w = binary.shape
    u8 = binary.view(np.uint8)
    out = binary.copy()
    length = _line_length(h, w, config)
    if w > length:
        hk = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
        # Opening a 3-row dilation finds lines that drift up to 2 rows over the kernel
        # length (skewed scans); only original ink pixels are then taken as line pixels.
        thick = cv2.dilate(u8, np.ones((3, 1), np.uint8))
        lines = cv2.morphologyEx(thick, cv2.MORPH_OPEN, hk).astype(bool)
        lines = cv2.dilate(lines.view(np.uint8), np.ones((3, 1), np.uint8)).astype(bool)
        lines &= binary
        if lines.any():
            out &= ~_uncrossed(lines, binary, axis=0)
    vlen = max(int(round(config.vertical_line_frac * h)), 12)
    if h > vlen:
        vk = cv2.getStructuringElement(cv2.MORPH_RECT, (1, vlen))
        vlines = cv2.morphologyEx(out.view(np.uint8), cv2.MORPH_OPEN, vk).astype(bool)
        if vlines.any():
            # Handwritten strokes are not perfectly straight for most of the field height, and
            # they are thick; only thin runs are borders.
            widths = vlines.sum(axis=1)
            if widths.max() <= 4:
                out &= ~_not_strokes(vlines, _uncrossed(vlines, out, axis=1))
    return out


def _vertical_runs(binary: np.ndarray, length: int) -> np.ndarray:
    """The ink of straight vertical runs at least ``length`` px long. Opening a 3-column
    dilation finds rules that drift by up to 2 columns over that length (a skewed scan);
    only original ink pixels are taken."""
    vk = cv2.getStructuringElement(cv2.MORPH_RECT, (1, length))
    thick = cv2.dilate(binary.view(np.uint8), np.ones((1, 3), np.uint8))
    runs = cv2.morphologyEx(thick, cv2.MORPH_OPEN, vk)
    return cv2.dilate(runs, np.ones((1, 3), np.uint8)).astype(bool) & binary


def _not_strokes(vlines: np.ndarray, remove: np.ndarray, min_crossings: int = 3) -> np.ndarray:
    """``remove`` without the vertical runs that ink crosses at ``min_crossings`` or more
    separate places: the stem of a '$', whose S crosses it three times. A box's side is
    touched, or crossed by a digit written over it (a 0: twice), and goes."""
    n, lab = cv2.connectedComponents(vlines.view(np.uint8), connectivity=8)
    if n <= 1:
        return remove
    crossed_rows = np.zeros((n, vlines.shape[0]), bool)
    ys, xs = np.nonzero(vlines & ~remove)
    crossed_rows[lab[ys, xs], ys] = True
    # separate crossings = runs of crossed rows
    starts = (crossed_rows[:, 1:] & ~crossed_rows[:, :-1]).sum(axis=1) + crossed_rows[:, 0]
    stroke = starts >= min_crossings
    stroke[0] = False
    return remove & ~stroke[lab]


LINE_GAP = 6  # widest gap between the dots or dashes of a dotted guide line, px
DOT_HEIGHT = 3  # highest dot or dash of a dotted guide line, px
# A box border printed as a line of microtext (the security line under the amount box of
# Indian CTS cheques): characters a few px high in one row. Pieces up to this share of the
# field's height also count as a dotted line's dots.
MICROTEXT_HEIGHT = 0.07
MICROTEXT_BAND = 12  # a band of at least this many dots with a line in it is a line throughout


def _line_length(h: int, w: int, config: CleanConfig) -> int:
    """Shortest horizontal run taken for a guide line, px."""
    return max(int(min(config.line_length * h, config.line_min_width_frac * w)), 12)


def _dotted_lines(lab: np.ndarray, stats: np.ndarray, length: int) -> np.ndarray:
    """Which components (``bool``, one per label, 0 = background) are the dots or dashes of
    a dotted or dashed guide line.

    Flat pieces (at most ``DOT_HEIGHT`` px high) that, with the gaps between them bridged
    (up to ``LINE_GAP`` px), make a horizontal run at least ``length`` px long. Only whole
    free pieces are taken: a dash touching a digit is part of the digit's component and stays
    (the strokes of digits are never bridged, so their horizontal parts cannot join a run).
    Works on the components the speckle step has already labelled; the image is only looked
    at in the rows of a band of flat pieces that could make such a run.
    """
    n = len(stats)
    hit = np.zeros(n, bool)
    dot_h = max(DOT_HEIGHT, int(MICROTEXT_HEIGHT * lab.shape[0]))
    flat = (stats[:, cv2.CC_STAT_HEIGHT] <= dot_h) & (stats[:, cv2.CC_STAT_WIDTH] <= 8 * dot_h)
    flat[0] = False
    idx = np.flatnonzero(flat)
    # the dots of a run cover about half its length (a third at least, for the test): most
    # fields only have a few flat specks and stop here
    if len(idx) < 3 or lab.shape[1] <= length or 3 * int(stats[idx, cv2.CC_STAT_WIDTH].sum()) < length:
        return hit
    top = stats[idx, cv2.CC_STAT_TOP]
    bottom = top + stats[idx, cv2.CC_STAT_HEIGHT]
    left = stats[idx, cv2.CC_STAT_LEFT]
    right = left + stats[idx, cv2.CC_STAT_WIDTH]
    # Bands of rows: pieces whose tops lie within DOT_HEIGHT of the band's first piece
    # (most fields have a few flat specks scattered about and no dotted line).
    order = np.argsort(top, kind="stable")
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and top[order[j + 1]] - top[order[i]] <= dot_h:
            j += 1
        band = order[i : j + 1]
        i = j + 1
        if len(band) < 3 or int(right[band].max() - left[band].min()) < length:
            continue
        y0, y1 = int(top[band].min()), int(bottom[band].max())
        sub = lab[y0:y1]
        pieces = np.isin(sub, idx[band]).view(np.uint8)
        bridged = cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, np.ones((1, LINE_GAP + 1), np.uint8))
        runs = cv2.morphologyEx(bridged, cv2.MORPH_OPEN, np.ones((1, length), np.uint8)).view(bool)
        if runs.any():
            hit[np.unique(sub[runs & pieces.view(bool)])] = True
            # The rest of the line's band (past a stroke drawn through the line, or in
            # stretches too short to count alone) is the same line.
            if len(idx[band]) >= MICROTEXT_BAND:
                hit[idx[band]] = True
    return hit & flat


def _uncrossed(lines: np.ndarray, binary: np.ndarray, axis: int, cross: bool = False) -> np.ndarray:
    """The line pixels that no stroke crosses or touches.

    For horizontal lines (``axis=0``): a line pixel is kept (returned False) when the ink
    just above or just below the line band in its column is not part of the line, i.e. a
    stroke arrives there. ``axis=1`` does the same for vertical lines (box sides), but keeps
    only the pixels with ink both left and right of the band (``cross``).
    """
    if axis == 1:
        return _uncrossed(lines.T, binary.T, 0, cross=True).T
    other = binary & ~lines
    h = lines.shape[0]
    # Each line pixel looks up and down along its column past the line band (at most 3 px).
    up = np.zeros_like(lines)
    down = np.zeros_like(lines)
    for d in (1, 2, 3):
        if d >= h:
            break
        up[d:] |= other[:-d]
        down[:-d] |= other[d:]
    # Pixels of the line band right next to a stroke: keep them so that the stroke is not
    # cut, and a digit standing on the line keeps its foot. With ``cross``, only where ink
    # lies on both sides: a digit that merely touches the line (the last 0 of an amount
    # written against the box's side) does not keep a stretch of it as a tail (read 9).
    touch = (up & down) if cross else (up | down)
    return lines & ~touch


def _open_hairlines(binary: np.ndarray) -> np.ndarray:
    """Opening by a vertical 2x1 segment (keep ink with ink just above or below), decided
    component by component.

    A thick stroke touched by 1-pixel hatching loses only the hatching. The strokes of a fine
    (1-2 px) pen would lose their horizontal parts and break into bits that are then taken
    for speckles, so a thin component is left whole unless it is mostly hairline (it loses
    more than half by the opening). One amount may mix thick digits and fine cents.
    The whole-field rule of old still holds: when the opening loses more than 15% of all the
    ink, the pen is fine and only thick components that lose little are opened.
    """
    vert = np.zeros_like(binary)
    vert[1:] |= binary[:-1]
    vert[:-1] |= binary[1:]
    opened = binary & vert
    if np.array_equal(opened, binary):  # no hairline anywhere: nothing to decide
        return binary
    u8 = binary.view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(u8, connectivity=8)
    # Hatching is flat: a thin component that is mostly hairline but about as high as wide
    # (the bowl of a 3 written with a 1-px pen and broken off) is a stroke, not hatching.
    flat = 3 * stats[:, cv2.CC_STAT_HEIGHT] <= stats[:, cv2.CC_STAT_WIDTH]
    # Interior pixels (all 8 neighbours ink) exist only in strokes at least 3 px thick.
    interior = cv2.erode(u8, np.ones((3, 3), np.uint8)).astype(bool)
    # Counts over the ink only (the background, label 0, is always "opened" below; a
    # bincount over the whole label image costs several times more).
    total = stats[:, cv2.CC_STAT_AREA].astype(float)  # (label 0's entry is never used)
    kept = np.bincount(lab[opened], minlength=n)
    thick = np.bincount(lab[interior], minlength=n) >= 0.1 * total
    whole_field = np.count_nonzero(opened) >= 0.85 * np.count_nonzero(binary)
    use_open = (thick & (kept >= 0.85 * total)) | (whole_field & (thick | ((kept < 0.5 * total) & flat)))
    use_open[0] = True
    return np.where(use_open[lab], opened, binary)


def _components(binary: np.ndarray):
    n, lab, stats, _ = cv2.connectedComponentsWithStats(binary.view(np.uint8), connectivity=8)
    return n, lab, stats


def _median(values: list[int]) -> float:
    """``float(np.median(values))`` of a few integers, without numpy's overhead (tens of
    microseconds a call): the middle value, or the mean of the two middle ones."""
    v = sorted(values)
    n = len(v)
    if n == 0:
        return math.nan
    m = n // 2
    return float(v[m]) if n % 2 else (v[m - 1] + v[m]) / 2


SLENDER = 0.25  # a component narrower than this share of its height is a slender stroke,
SLENDER_INK = 0.12  # ... and so is one with fewer ink pixels per row than this share of it
TALL_STROKE = 1.3  # ... and one this many times taller than the tallest stout one stands over the digits


def _over_strokes(areas: list[int], heights: list[int],
                  widths: list[int]) -> tuple[list[bool], float]:
    """Which components are long slender strokes standing over the digits (the '/' of "/-"
    drawn through the box, a box's side left in the crop), and the height of the tallest
    stout component (the digits' scale). Slender: a box narrower than :data:`SLENDER` of
    its height, or fewer ink pixels per row than :data:`SLENDER_INK` of it (a slash whose
    foot touches a line); over: :data:`TALL_STROKE` times taller than the tallest stout
    component of at least a quarter of the largest area."""
    slender = [wk < SLENDER * hk or a < SLENDER_INK * hk * hk
               for a, hk, wk in zip(areas, heights, widths, strict=True)]
    big = 0.25 * float(max(areas))
    stout = [hk for a, hk, sl in zip(areas, heights, slender, strict=True) if a >= big and not sl]
    tall = float(max(stout) if stout else max(heights))
    return [hk > TALL_STROKE * tall and sl for hk, sl in zip(heights, slender, strict=True)], tall


def _body_metrics(stats: np.ndarray, h: int, body_min_frac: float = 0.0) -> tuple[float, float]:
    """Body height and baseline from the components' boxes (robust medians over the
    components of at least a quarter of the largest area and height, and of at least
    ``body_min_frac`` of the tallest one's height)."""
    if len(stats) == 0:
        return 0.0, float(h - 1)
    # Python scalars for a field's handful of components (ints compared as float64).
    heights = stats[:, cv2.CC_STAT_HEIGHT].tolist()
    areas = stats[:, cv2.CC_STAT_AREA].tolist()
    tops = stats[:, cv2.CC_STAT_TOP].tolist()
    widths = stats[:, cv2.CC_STAT_WIDTH].tolist()
    # A long slender stroke standing over the digits (the '/' of "/-" drawn through the
    # box, a leftover border) is not a digit: it neither sets the scale nor counts.
    over, tall = _over_strokes(areas, heights, widths)
    amin = 0.25 * float(max(a for a, o in zip(areas, over, strict=True) if not o))
    hmin = 0.25 * float(tall)
    if body_min_frac > 0:
        hmin = max(hmin, body_min_frac * float(tall))
    sel = [k for k, (a, hk) in enumerate(zip(areas, heights, strict=True))
           if a >= amin and hk >= hmin and not over[k]]
    if not sel:  # the tallest components all thin (lines): the tallest one alone
        sel = [max(range(len(heights)), key=heights.__getitem__)]
    body = _median([heights[k] for k in sel])
    return body, _median([tops[k] + heights[k] - 1 for k in sel])


# Smallest '.' or ',' kept, in body heights. Where a '.' is the decimal point (us, in, any),
# losing a small one turns $100.29 into 10029: 0.06. In `cl` amounts '.' only groups
# thousands and the reading does not need it, while specks of the hatched backgrounds pass
# a lower floor: 0.085 (better on the real ORAND-CAR-A fields).
PUNCT_MIN_FRAC = {"cl": 0.085}
PUNCT_MIN_FRAC_DEFAULT = 0.06


# Components counted towards the body, in the tallest one's heights. Superscript cents
# ("49 ^00/100": six small raised characters against two digits) outnumber the digits, and a
# median over all of them made the body half its height, so that every whole digit was
# framed too large; measured on the full-size ones, superscript amounts and US personal
# cheques read better. `cl` amounts have no cents, and their small thousands' zeros are
# read by arcs tuned on the plain median (0.6 there read fewer ORAND-CAR-A fields right).
BODY_MIN_FRAC = {"cl": 0.0}
BODY_MIN_FRAC_DEFAULT = 0.6


def body_floor(config: CleanConfig, locale: str | None = None) -> float:
    """``config.body_min_frac``, or when None the share for ``locale``."""
    if config.body_min_frac is not None:
        return float(config.body_min_frac)
    return BODY_MIN_FRAC.get(locale or "", BODY_MIN_FRAC_DEFAULT)


def punct_floor(config: CleanConfig, locale: str | None = None) -> float:
    """``config.punct_min_frac``, or when None the floor for ``locale``."""
    if config.punct_min_frac is not None:
        return float(config.punct_min_frac)
    return PUNCT_MIN_FRAC.get(locale or "", PUNCT_MIN_FRAC_DEFAULT)


STRAY_GAP = 1.0  # a '.' or ',' farther than this from any character (body heights) is a speck


def _stray(stats: np.ndarray, specks: np.ndarray, body: float) -> np.ndarray:
    """Which of the ``specks`` (bool per component) stand alone: farther than
    :data:`STRAY_GAP` body heights, left or right, from every component of character size
    (a point or comma is written beside a digit; specks of a dotted background or of a
    security border beyond the amount are not)."""
    out = np.zeros(len(stats), bool)
    if not specks.any():
        return out
    x = stats[:, cv2.CC_STAT_LEFT].astype(float)
    x2 = x + stats[:, cv2.CC_STAT_WIDTH]
    big = (stats[:, cv2.CC_STAT_HEIGHT] >= 0.4 * body) & (stats[:, cv2.CC_STAT_AREA] >= (0.2 * body) ** 2)
    if not big.any():
        return out
    bx, bx2 = x[big], x2[big]
    for k in np.flatnonzero(specks).tolist():
        gap = np.maximum(bx - x2[k], x[k] - bx2).clip(min=0)
        out[k] = bool(gap.min() > STRAY_GAP * body)
    return out


def _remove_speckles(binary: np.ndarray, config: CleanConfig, punct_min_frac: float,
                     body_min_frac: float = 0.0) -> tuple[np.ndarray, float, float]:
    h = binary.shape[0]
    n, lab, stats_all = _components(binary)
    stats = stats_all[1:]
    if n <= 1:
        return binary, 0.0, float(h - 1)
    keep = stats[:, cv2.CC_STAT_AREA] >= max(config.min_area, 1)
    if not keep.any():
        return np.zeros_like(binary), 0.0, float(h - 1)
    body, base = _body_metrics(stats[keep], h, body_min_frac)
    area = stats[:, cv2.CC_STAT_AREA].astype(float)
    cw = stats[:, cv2.CC_STAT_WIDTH].astype(float)
    ch = stats[:, cv2.CC_STAT_HEIGHT].astype(float)
    bottom = stats[:, cv2.CC_STAT_TOP] + ch - 1
    small = area < (config.speckle_frac * body) ** 2
    # A '.' or ',' is a small dense blob whose bottom is near the baseline (a ',' may hang a
    # little below it): keep those.
    dense = area >= 0.45 * cw * ch
    near_base = np.abs(bottom - base) <= 0.35 * body
    round_ = (cw <= 2.5 * ch) & (ch <= 3.0 * cw)
    punct = dense & near_base & round_ & (area >= max(config.min_area, (punct_min_frac * body) ** 2))
    punct &= ~_stray(stats, small & punct, body)
    keep &= ~small | punct
    if config.remove_lines:  # dotted guide lines: their dots pass for '.' one by one
        keep &= ~_dotted_lines(lab, stats_all, _line_length(h, binary.shape[1], config))[1:]
    # Left-overs of guide lines and hatching: thin horizontal slivers. A '-' is kept when it
    # sits in the body's middle band and is long enough.
    thin = (ch <= max(2.0, config.sliver_height * body)) & (cw >= 3 * ch)
    centre = stats[:, cv2.CC_STAT_TOP] + ch / 2.0
    dash = (cw >= 0.25 * body) & (centre > base - 0.8 * body) & (centre < base - 0.15 * body)
    keep &= ~thin | dash
    lut = np.zeros(n, bool)
    lut[1:] = keep
    out = lut[lab]
    if not keep.all():
        s2 = stats[keep]
        body, base = _body_metrics(s2, h, body_min_frac)
    return out, body, base


DESLANT_KEEP = 0.2  # slant (shear) left in place: the recognizer was trained on natural slants


_SHEARS = np.linspace(-0.6, 0.6, 13)  # the slants tried


def _shear_sharpness_per_pixel(ys: np.ndarray, xs: np.ndarray, w: int, mean_y: float) -> np.ndarray:
    """Sum of squared column counts of the ink ``(ys, xs)`` sheared by each of :data:`_SHEARS`
    (``x -> round(x - shear * (y - mean_y))``; ink sheared out of the field is not counted).

    The reference computation, pixel by pixel: 13 shears at once, one bincount with a bin
    per shear for ink sheared out of the field.
    """
    k = len(_SHEARS)
    nx = np.round(xs[None, :] - _SHEARS[:, None] * (ys - mean_y)[None, :]).astype(np.int64)
    idx = np.where((nx >= 0) & (nx < w), nx, w) + np.arange(k)[:, None] * (w + 1)
    hist = np.bincount(idx.ravel(), minlength=k * (w + 1)).reshape(k, w + 1)
    hist = hist[:, :w].astype(float)
    return (hist**2).sum(1)


def _shear_sharpness(ys: np.ndarray, xs: np.ndarray, h: int, w: int, mean_y: float) -> np.ndarray:
    """:func:`_shear_sharpness_per_pixel`, the same values with the rounding done per row.

    ``round(x - c) == x + round(-c)`` for an integer ``x`` unless ``c`` lies (within float
    error) half-way between integers, where rounding half to even depends on ``x``; so each
    row's shift is rounded once, and the pixels only add it to their column. Fields with a
    half-way shift (the ink's mean row on an integer or a half) take the reference path.
    """
    k = len(_SHEARS)
    t = _SHEARS[:, None] * (np.arange(h) - mean_y)[None, :]  # (k, h): c of each row
    frac = t - np.floor(t)
    if (np.abs(frac - 0.5) < 1e-9).any():
        return _shear_sharpness_per_pixel(ys, xs, w, mean_y)
    shift = -np.rint(t).astype(np.int64)
    pad = int(np.abs(shift).max()) if shift.size else 0
    width = w + 2 * pad
    # Bin of (shear, sheared column) for each (shear, row), padded so that ink sheared out
    # of the field lands in bins of its own, outside the field's columns.
    shift += pad + np.arange(k)[:, None] * width
    hist = np.bincount((shift[:, ys] + xs).ravel(), minlength=k * width).reshape(k, width)
    hist = hist[:, pad : pad + w]
    return (hist * hist).sum(1).astype(float)


def _deslant(binary: np.ndarray) -> np.ndarray:
    """Shear ink so that strokes are vertical, keeping the array shape (ink near the edge is
    clipped rather than the field grown)."""
    h, w = binary.shape
    ys, xs = np.divmod(np.flatnonzero(binary), w)  # np.nonzero's order, at half its cost
    if len(ys) < 10:
        return binary
    mean_y = ys.mean()
    best = float(_SHEARS[int(np.argmax(_shear_sharpness(ys, xs, h, w, mean_y)))])
    # Never shear ink out of the field (a '$' or a last digit near the edge would be cut):
    # take the strongest shear towards the best one that keeps every ink pixel inside.
    best = float(np.sign(best)) * max(0.0, abs(best) - DESLANT_KEEP)
    if best == 0.0:
        return binary
    dy = ys - mean_y
    for s in np.linspace(best, 0.0, 13):
        nx = np.round(xs - s * dy).astype(int)
        if nx.min() >= 0 and nx.max() < w:
            break
    ok = (nx >= 0) & (nx < w)
    out = np.zeros_like(binary)
    out[ys[ok], nx[ok]] = True
    return out


SIDE_HEIGHT = 1.5  # a straight vertical run this many body heights high is a box's side
SIDE_LEFTOVER = 0.4  # pieces of such a stroke left with fewer pixels than this squared (body heights)


def _remove_sides_and_ladders(binary: np.ndarray, body: float) -> np.ndarray:
    """``binary`` without what is left of the printed page beside the box, once the body's
    size is known: a box's side that does not cross the whole crop (a straight vertical run
    of :data:`SIDE_HEIGHT` body heights in a slender component standing over the digits,
    :func:`_over_strokes`), where no stroke crosses it, and a ladder of flat bars of one
    length and one position stacked one over another (a bar code printed across the page's
    edge).
    """
    if body <= 0:
        return binary
    out = binary
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary.view(np.uint8), connectivity=8)
    vlen = int(round(SIDE_HEIGHT * body))
    if n > 1 and vlen >= 12:
        over = np.zeros(n, bool)
        over[1:] = _over_strokes(st[1:, cv2.CC_STAT_AREA].tolist(), st[1:, cv2.CC_STAT_HEIGHT].tolist(),
                                 st[1:, cv2.CC_STAT_WIDTH].tolist())[0]
        if over.any():
            vlines = _vertical_runs(binary & over[lab], vlen)
            if vlines.any():
                out = out & ~_not_strokes(vlines, _uncrossed(vlines, out, axis=1))
                # What the run leaves of its stroke (the tips of a straight slash, a rule's
                # serif) is no character either.
                m, lab2, st2, _ = cv2.connectedComponentsWithStats(out.view(np.uint8), connectivity=8)
                was = np.zeros(m, bool)
                was[np.unique(lab2[out & over[lab]])] = True
                small = st2[:, cv2.CC_STAT_AREA] < (SIDE_LEFTOVER * body) ** 2
                gone = was & small
                gone[0] = False
                out = out & ~gone[lab2]
    if out is not binary:  # a side went: the ladders are looked for among what is left
        n, lab, st, _ = cv2.connectedComponentsWithStats(out.view(np.uint8), connectivity=8)
    x, w, hh = st[:, cv2.CC_STAT_LEFT], st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT]
    bars = np.flatnonzero((hh <= 0.3 * body) & (w >= 2 * hh) & (w >= 0.3 * body))
    bars = bars[bars > 0]
    if len(bars) >= LADDER_BARS:
        gone = np.zeros(n, bool)
        for k in bars.tolist():
            like = bars[(np.abs(x[bars] - x[k]) <= 3) & (np.abs(x[bars] + w[bars] - x[k] - w[k]) <= 3)]
            if len(like) >= LADDER_BARS:
                gone[like] = True
        if gone.any():
            out = out & ~gone[lab]
    return out


LADDER_BARS = 3  # flat bars of one length stacked in a ladder: a bar code, not writing


def _stacked_fraction(binary: np.ndarray, body: float, base: float) -> np.ndarray:
    """``binary`` without the bar and the denominator of a stacked fraction at the ink's end.

    The bar is a flat component (at least 0.6 body heights wide, at most 0.4 high, three
    times wider than high) in the right half of the ink, its middle within the body's band,
    with ink both above it (the cents: components ending by the bar's top whose columns lie
    over it) and below it (the ``100``: components starting below the bar's middle, under
    it or running a little past its end), and no full-size character to its right. Anything else is left as it is.
    """
    if body <= 0:
        return binary
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if n < 4:
        return binary
    xs = np.flatnonzero(binary.any(axis=0))
    x_mid = (xs[0] + xs[-1]) / 2
    for b in range(1, n):
        bx, by, bw, bh = (int(v) for v in st[b, :4])
        if not (bw >= 0.6 * body and bh <= 0.4 * body and bw >= 3 * bh and bx + bw / 2 > x_mid):
            continue
        mid = by + bh / 2
        if not (base - body <= mid <= base):
            continue
        above, below, right = [], [], False
        for k in range(1, n):
            if k == b:
                continue
            x, y, w, h = (int(v) for v in st[k, :4])
            over = min(x + w, bx + bw) - max(x, bx)
            if x >= bx + bw + 0.3 * body and h >= 0.6 * body:
                right = True
            if y + h <= by + 0.5 * bh and h >= 0.25 * body and over >= 0.5 * w:
                above.append(k)
            elif y >= mid - 0.25 * bh and over > 0 and x < bx + bw + 0.3 * body:
                below.append(k)  # the 100 may run a little past the bar's end
        if above and below and not right:
            out = binary.copy()
            out[np.isin(lab, [b, *below])] = False
            return out
    return binary


def clean_field(image: np.ndarray, config: CleanConfig = CleanConfig(),
                locale: str | None = None) -> CleanField:
    """Binarise a courtesy-amount field and remove background, guide lines and speckles.

    Parameters
    ----------
    image : ndarray
        Grey ``uint8 (H, W)`` (dark ink on light paper) or colour ``(H, W, 3)`` / ``(H, W, 4)``.
        Other numeric dtypes are scaled to ``uint8``; a bool image is taken as ``True`` = ink.
    config : CleanConfig
        Parameters.
    locale : str, optional
        The amount's locale; it sets the smallest '.' or ',' kept (:func:`punct_floor`).

    Returns
    -------
    CleanField
        ``binary`` ``bool (H, W)`` (``True`` = ink), ``grey`` ``uint8 (H, W)``, ``body_height``
        (px, 0.0 for a blank field) and ``baseline`` (row index). A blank field gives an
        all-False ``binary``.

    Raises
    ------
    InvalidImageError
        When ``image`` is not a 2-D or 3-D numeric array or is empty.
    """
    image = check_image(image, "image", ndim=(2, 3))
    if image.dtype == bool and image.ndim == 2:
        # Already binary: no background or threshold to estimate.
        binary = image.copy()
        grey = np.where(image, 0, 255).astype(np.uint8)
    else:
        grey = to_grey(image)
        binary = _binarise(_darkness(grey, config), config)
    if config.remove_lines and binary.any():
        binary = _remove_lines(binary, config)
    if config.hairline_open and binary.any():
        binary = _open_hairlines(binary)
    if config.deslant and binary.any():
        binary = _deslant(binary)
    binary, body, base = _remove_speckles(binary, config, punct_floor(config, locale),
                                         body_floor(config, locale))
    if config.remove_lines and binary.any():
        binary = _remove_sides_and_ladders(binary, body)
    if config.stacked_fraction and locale != "cl" and binary.any():
        binary = _stacked_fraction(binary, body, base)
    if not binary.any():
        body, base = 0.0, float(grey.shape[0] - 1)
    return CleanField(binary=binary, grey=grey, body_height=float(body), baseline=float(base))
