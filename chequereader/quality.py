"""Image-quality flags of a page, in the spirit of the Check 21 image quality tests.

Flags are information for the operator and for later stages; they are never fatal.

=============  ==============================================================================
flag           raised when
=============  ==============================================================================
``undersize``  the page is smaller than a cheque at its resolution (long side < 5.5 in or
               short side < 2.3 in)
``oversize``   larger than a cheque (long side > 9.5 in or short side > 4.5 in); only when the
               resolution is known (see below)
``too_dark``   more than 40 % of the page is dark (< 128), or its mean grey is below 80, on a
               copy averaged down (not on the darkest pixel of each block: that makes the
               texture of a phone photo's paper dark)
``too_light``  there is ink (pixels well below the paper level) but under 0.2 % of the page is
               dark (< 128), on the block-minimum copy that keeps thin strokes
``blank``      almost no pixel differs from the paper (and the page is not too dark)
``skew``       the estimated text/line angle exceeds 3 degrees
``streaks``    a row or column is dark along nearly its whole length, edge to edge
=============  ==============================================================================

The resolution is the caller's ``dpi``, else the file's when it is a scanner's (at least
``scan_min_dpi``: 72, 96 or 120 dpi stated by a camera or a screen capture say nothing of the
paper's size). Without one, the page is assumed to be at ``default_dpi`` (200) for
``undersize`` (too few pixels for a cheque), and ``oversize`` is not raised: a 300 dpi scan
or a phone photo has more pixels than a 200 dpi scan without being larger than a cheque.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ._validate import check_image, check_range
from .types import Page, QualityReport


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of :func:`assess` (sizes in inches, fractions in 0..1, angles in degrees)."""

    default_dpi: float = 200.0
    scan_min_dpi: float = 150.0
    min_long_in: float = 5.5
    min_short_in: float = 2.3
    max_long_in: float = 9.5
    max_short_in: float = 4.5
    dark_level: int = 128
    max_dark_fraction: float = 0.40
    min_mean: float = 80.0
    ink_contrast: float = 50.0
    blank_max_ink: float = 0.0005
    light_max_dark_fraction: float = 0.002
    max_skew_deg: float = 3.0
    skew_search_deg: float = 15.0
    skew_min_ink: int = 200
    streak_min_fill: float = 0.95
    streak_edge_fraction: float = 0.02
    analysis_max_side: int = 500


def _as_grey(image: np.ndarray) -> np.ndarray:
    g = check_image(image, "image")
    if g.dtype == bool:
        return np.where(g, 0, 255).astype(np.uint8)
    if g.dtype != np.uint8:
        g = np.clip(g, 0, 255).astype(np.uint8)
    return g


def _shrink(grey: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    # Block-min keeps thin dark strokes and streaks that a mean or a stride would drop.
    f = int(np.ceil(max(grey.shape) / max_side)) if max(grey.shape) > max_side else 1
    if f == 1:
        return grey, 1
    h, w = grey.shape[0] // f * f, grey.shape[1] // f * f
    if h == 0 or w == 0:
        return grey, 1
    # The minimum of each f x f block: an erosion anchored at the block's corner, sampled
    # every f pixels (what reshape(h/f, f, w/f, f).min(axis=(1, 3)) gives, 50x faster).
    block = cv2.erode(np.ascontiguousarray(grey[:h, :w]), np.ones((f, f), np.uint8), anchor=(0, 0),
                      borderType=cv2.BORDER_REPLICATE)
    return block[::f, ::f], f


def _median(grey: np.ndarray) -> float:
    """``np.median`` of a ``uint8`` image, from its histogram (ten times faster)."""
    cdf = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    n = int(cdf[-1])
    lo = np.searchsorted(cdf, (n - 1) // 2, side="right")
    hi = np.searchsorted(cdf, n // 2, side="right")
    return (float(lo) + float(hi)) / 2.0


def _ink_mask(grey: np.ndarray, contrast: float) -> np.ndarray:
    paper = _median(grey) if grey.dtype == np.uint8 else float(np.median(grey))
    return grey < paper - contrast


def estimate_skew(grey: np.ndarray, *, search_deg: float = 15.0, min_ink: int = 200) -> float:
    """Estimate the skew angle of a page from its text and ruled lines.

    The page's ink (pixels well below the paper level, on a block-minimum copy about 500 px
    across) goes to :func:`ink_skew`.

    Parameters
    ----------
    grey : ndarray
        ``uint8 (H, W)`` grey page, dark ink on light paper (``bool`` = ink also accepted).
    search_deg : float
        Largest angle considered, in degrees.
    min_ink : int
        Below this many ink pixels the page has no structure to measure and 0.0 is returned.

    Returns
    -------
    float
        Angle in degrees, positive when the content is rotated counter-clockwise (lines rise
        to the right). Rotate the image by ``-angle`` (e.g. ``cv2.getRotationMatrix2D(c,
        -angle, 1)``) to deskew it.

    Examples
    --------
    >>> import numpy as np
    >>> page = np.full((100, 200), 255, np.uint8)
    >>> page[40:43, 20:180] = 0
    >>> round(estimate_skew(page), 1)
    0.0
    """
    check_range(search_deg, "search_deg", 0.0, 45.0)
    if isinstance(grey, np.ndarray) and grey.dtype == bool:
        ink = check_image(grey, "grey")
    else:
        g = _as_grey(grey)
        g, _ = _shrink(g, 500)  # 500 px across still resolves 0.1 degree over the page
        ink = _ink_mask(g, 50.0)
    return ink_skew(ink, search_deg, min_ink=min_ink)


def ink_skew(ink: np.ndarray, search_deg: float, fine_deg: float = 0.1, *,
             coarse_deg: float = 1.0, min_ink: int = 200) -> float:
    """The skew angle of the ink of a page (projection profiles).

    The ink pixels are projected on the vertical axis rotated by a trial angle; the angle
    whose profile is sharpest (largest sum of squared bin counts) is the one where text lines
    and ruled lines are horizontal. Coarse search in ``coarse_deg`` steps over
    ``[-search_deg, search_deg]`` on a subsample of the ink, then ``fine_deg`` steps within
    0.6 of a coarse step of the best, on more of it.

    Parameters
    ----------
    ink : ndarray, shape (H, W)
        Non-zero (``True``) = ink.
    search_deg, fine_deg, coarse_deg : float
        Largest angle considered, and the two search steps, in degrees.
    min_ink : int
        Below this many ink pixels 0.0 is returned.

    Returns
    -------
    float
        Degrees, positive when the content is rotated counter-clockwise (lines rise to the
        right); exactly 0 when no angle scores better than 0.
    """
    ys, xs = np.nonzero(ink)
    if ys.size < max(min_ink, 1):
        return 0.0
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - xs.mean()

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        # A deterministic subsample keeps the search fast: 10K points pin the angle to well
        # under the fine step, 3K tell the coarse steps apart.
        step = int(np.ceil(ys.size / n))
        return ys[::step], xs[::step]

    def scorer(y: np.ndarray, x: np.ndarray) -> Callable[[float], float]:
        def score(angle: float) -> float:
            a = np.deg2rad(angle)
            # A line rising to the right (counter-clockwise by a) keeps y + x tan(a) constant.
            proj = y * np.cos(a) + x * np.sin(a)
            proj -= proj.min()
            # Linear splatting into two bins: plain flooring lets a tilted line land in
            # fewer bins by rounding luck and beat the true angle.
            lo = np.floor(proj)
            frac = proj - lo
            lo_i = lo.astype(np.int64)
            hist = np.bincount(lo_i, weights=1.0 - frac, minlength=int(lo_i.max()) + 2)
            hist += np.bincount(lo_i + 1, weights=frac, minlength=hist.size)
            return float(np.dot(hist, hist))
        return score

    coarse_score = scorer(*sample(3_000))
    n_coarse = int(np.floor(search_deg / coarse_deg + 1e-9))
    coarse = np.arange(-n_coarse, n_coarse + 1) * coarse_deg
    best = float(max(coarse, key=coarse_score))
    score = scorer(*sample(10_000))
    # The profile's peak lies within half a coarse step of the best coarse angle; a little
    # more is searched in case the subsample misplaced it.
    n_fine = int(np.floor(0.6 * coarse_deg / fine_deg + 1e-9))
    fine = best + np.arange(-n_fine, n_fine + 1) * fine_deg
    fine = fine[np.abs(fine) <= search_deg + 1e-9]
    best = float(max(fine, key=score))
    # Prefer exactly 0 when it scores as well (flat profiles, symmetric content).
    if score(0.0) >= score(best):
        return 0.0
    return float(round(best, 2))


def _streaks(ink: np.ndarray, cfg: QualityConfig) -> tuple[int, int]:
    """Number of rows and of columns dark along nearly their whole length, edge to edge.

    A printed border stops short of the paper's edge, while a sensor streak runs off both
    ends, so a streak must also be ink in the outermost pixels at both ends. Lines within
    ``streak_edge_fraction`` of the image's own border, and the dark lines running on from
    there, are skipped: they are scanner background around a cropped cheque or the table
    under a photographed one, not streaks across it.
    """
    out = []
    for axis in (1, 0):  # rows, then columns
        lines = ink if axis == 1 else ink.T
        n, length = lines.shape
        tip = max(2, int(round(length * 0.005)))
        margin = int(round(n * cfg.streak_edge_fraction))
        fill = np.count_nonzero(lines, axis=1) / length
        ends = (np.count_nonzero(lines[:, :tip], axis=1) > tip / 2) & (
            np.count_nonzero(lines[:, -tip:], axis=1) > tip / 2
        )
        hit = (fill >= cfg.streak_min_fill) & ends
        # Background beyond the paper's edge (a phone photo's table) is a band running in
        # from the image's border, however wide: the run of lines from each border goes.
        k = 0
        while k < n and (k < margin or hit[k]):
            hit[k] = False
            k += 1
        k = n - 1
        while k >= 0 and (k >= n - margin or hit[k]):
            hit[k] = False
            k -= 1
        out.append(int(np.count_nonzero(hit)))
    return out[0], out[1]


@dataclass
class _Tones:
    """Grey levels of a page on its analysis copies (see :func:`assess`'s ``measures``)."""
    small: np.ndarray          # block minimum (keeps thin strokes)
    f: int                     # block side, in pixels
    avg: np.ndarray            # block average, the size of ``small``
    mean: float
    dark_fraction: float       # of ``avg``
    dark: np.ndarray           # dark pixels of ``small``
    ink_dark_fraction: float
    ink: np.ndarray            # ink of ``small`` (well below the paper level)
    ink_fraction: float


def _page_image(page: Page | np.ndarray, dpi: float | None,
                config: QualityConfig) -> tuple[np.ndarray, float | None]:
    """The image of ``page`` and its resolution: ``dpi``, else the page's when a scanner's."""
    if isinstance(page, Page):
        image = page.image
        if dpi is None and page.dpi:
            stated = (float(page.dpi[0]) + float(page.dpi[1])) / 2.0
            if stated >= config.scan_min_dpi:
                dpi = stated
    else:
        image = page
    return image, dpi


def _tones(grey: np.ndarray, config: QualityConfig) -> _Tones:
    """The page's block-minimum and block-average copies and their dark and ink shares."""
    small, f = _shrink(grey, config.analysis_max_side)
    # Darkness of the page on its average grey; thin ink reaching dark grey on the block
    # minimum.
    # (The blocks of the minimum, averaged: a whole factor keeps OpenCV on its fast path.)
    avg = cv2.resize(grey[: small.shape[0] * f, : small.shape[1] * f],
                     (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA) \
        if f > 1 else small
    mean = float(avg.mean())
    dark_fraction = float((avg < config.dark_level).mean())
    dark = small < config.dark_level
    ink_dark_fraction = float(dark.mean())
    ink = _ink_mask(small, config.ink_contrast)
    ink_fraction = float(ink.mean())
    return _Tones(small, f, avg, mean, dark_fraction, dark, ink_dark_fraction, ink, ink_fraction)


def _streak_counts(t: _Tones, too_dark: bool, config: QualityConfig) -> tuple[int, int]:
    """:func:`_streaks` of a page's tones, ``(0, 0)`` for a too-dark page."""
    # Every row of a too-dark page is "dark edge to edge": streaks are only looked for on
    # pages that are otherwise readable.
    # (On the averaged copy when the blocks are large: the minimum of a photo's blocks turns
    # its paper grain into ink from edge to edge.)
    lined = t.dark | t.ink if t.f <= 4 else (t.avg < config.dark_level) | _ink_mask(t.avg, config.ink_contrast)
    return (0, 0) if too_dark else _streaks(lined, config)


def _measures(w_in: float, h_in: float, res: float, t: _Tones, skew: float,
              streak_rows: int, streak_cols: int) -> dict[str, float]:
    """:class:`QualityReport` ``measures``, rounded."""
    return {
        "width_in": round(w_in, 3),
        "height_in": round(h_in, 3),
        "dpi": res,
        "mean": round(t.mean, 2),
        "dark_fraction": round(t.dark_fraction, 5),
        "ink_dark_fraction": round(t.ink_dark_fraction, 5),
        "ink_fraction": round(t.ink_fraction, 5),
        "skew_deg": skew,
        "streak_rows": float(streak_rows),
        "streak_cols": float(streak_cols),
    }


def assess(
    page: Page | np.ndarray, config: QualityConfig = QualityConfig(), dpi: float | None = None
) -> QualityReport:
    """Quality flags of a page (never raises for a poor image, only for a non-image).

    Parameters
    ----------
    page : Page or ndarray
        A page or its grey ``uint8 (H, W)`` image (dark ink on light paper).
    config : QualityConfig
        Thresholds.
    dpi : float, optional
        Resolution; defaults to the page's ``dpi`` (mean of x and y), then to
        ``config.default_dpi``.

    Returns
    -------
    QualityReport
        ``flags`` in a fixed order (``undersize, oversize, too_dark, too_light, blank, skew,
        streaks``) and ``measures``: ``width_in``, ``height_in``, ``dpi``, ``mean``,
        ``dark_fraction``, ``ink_dark_fraction``, ``ink_fraction``, ``skew_deg``,
        ``streak_rows``, ``streak_cols``.

    Examples
    --------
    >>> import numpy as np
    >>> assess(np.full((600, 1400), 255, np.uint8)).flags
    ('blank',)
    """
    image, dpi = _page_image(page, dpi, config)
    grey = _as_grey(image)
    known = bool(dpi)
    res = float(dpi) if dpi else float(config.default_dpi)
    check_range(res, "dpi", 1e-6, None)
    h, w = grey.shape
    w_in, h_in = w / res, h / res
    long_in, short_in = max(w_in, h_in), min(w_in, h_in)
    t = _tones(grey, config)

    flags: list[str] = []
    if long_in < config.min_long_in or short_in < config.min_short_in:
        flags.append("undersize")
    if known and (long_in > config.max_long_in or short_in > config.max_short_in):
        flags.append("oversize")
    too_dark = t.dark_fraction > config.max_dark_fraction or t.mean < config.min_mean
    if too_dark:
        flags.append("too_dark")
    blank = not too_dark and t.ink_fraction < config.blank_max_ink
    # Light: ink is there (it stands out from the paper) but almost none of it reaches dark
    # grey. Counted over the page, not over the ink, so that a light security background
    # pattern does not make a well-exposed cheque "too light".
    if not too_dark and not blank and t.ink_dark_fraction < config.light_max_dark_fraction:
        flags.append("too_light")
    if blank:
        flags.append("blank")
    # The skew of the ink already found (what estimate_skew finds on the page itself).
    skew = 0.0 if blank else ink_skew(t.ink, config.skew_search_deg, min_ink=config.skew_min_ink)
    if abs(skew) > config.max_skew_deg:
        flags.append("skew")
    streak_rows, streak_cols = _streak_counts(t, too_dark, config)
    if streak_rows or streak_cols:
        flags.append("streaks")
    measures = _measures(w_in, h_in, res, t, skew, streak_rows, streak_cols)
    return QualityReport(flags=tuple(flags), measures=measures)
