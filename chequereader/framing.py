"""The one framing function: a binary ink crop -> the recognizer's 32x32 input (docs/design.md section 4).

Training (MNIST, USPS, Semeion, synthetic symbols) and inference (lattice candidates) both go
through :func:`frame`, so the two frames match. The scale and the vertical position come from
the *field's* body height and baseline, not from the crop's own box, so that ``.`` ``,`` ``-``
keep their small size and their low/mid position; a whole digit comes out as in MNIST: fitted
into a 20-pixel-high box, centred in 32x32.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._validate import check_image

SIZE = 32
BOX = 20.0  # MNIST: ink fitted into 20x20
MAX_W = 24.0  # wide flat zeros keep more of their height than in MNIST's square box
FULL = 0.75  # ink at least this share of the body height is framed as a full-size digit
BACKGROUND = -0.1
INK = 1.175


@dataclass(frozen=True)
class FrameGeometry:
    """Where the ink of a crop lands in the frame: scale and the frame coords of its box."""

    scale: float
    x: float
    y: float


def frame(
    mask: np.ndarray,
    body_height: float | None = None,
    baseline: float | None = None,
) -> np.ndarray:
    """Frame a binary crop as a 32x32 LeNet-5 input.

    Parameters
    ----------
    mask : ndarray of bool or number, shape (H, W)
        Ink of the candidate (True / non-zero = ink). Need not be tight around the ink.
    body_height : float, optional
        Height in pixels of the field's digit body. Defaults to the crop's own ink height
        (which is how isolated training digits are framed).
    baseline : float, optional
        y (in crop coordinates) of the line the field's digits stand on. Defaults to the
        bottom of the crop's ink.

    Returns
    -------
    ndarray of float32, shape (32, 32)
        Background -0.1, ink 1.175 (anti-aliased in between). An empty crop gives an all
        background frame.

    Examples
    --------
    >>> m = np.zeros((40, 20), bool); m[5:35, 8:12] = True        # a '1'
    >>> f = frame(m)
    >>> f.shape, float(f.max()) > 1.0, round(float(f[0, 0]), 3)
    ((32, 32), True, -0.1)
    >>> dot = np.zeros((40, 20), bool); dot[31:35, 8:12] = True    # a '.' on a 30-px body
    >>> g = frame(dot, body_height=30, baseline=35)
    >>> bool((g > 0).sum() < 20)                                   # stays small
    True
    """
    mask = check_image(mask, "mask")
    out = np.full((SIZE, SIZE), BACKGROUND, np.float32)
    ink = mask if mask.dtype == bool else mask > 0
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(ink.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = y1 - y0, x1 - x0
    body = float(h) if body_height is None or body_height <= 0 else float(body_height)
    base = float(y1) if baseline is None else float(baseline)
    # Digits written a little small (cheque zeros often are) still fill the 20-pixel box;
    # only clearly small marks (. , - and fragments) stay small.
    s = min(BOX / max(FULL * body, float(h)), MAX_W / float(w))
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    crop = ink[y0:y1, x0:x1].astype(np.float32)
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    # The field's body midline goes to the frame's centre row; ink keeps its offset from it.
    mid = base - body / 2.0
    fy = SIZE / 2.0 + ((y0 + y1) / 2.0 - mid) * s - nh / 2.0
    fx = SIZE / 2.0 - nw / 2.0
    ty = int(round(min(max(fy, 0.0), SIZE - nh)))
    tx = int(round(min(max(fx, 0.0), SIZE - nw)))
    nh, nw = min(nh, SIZE), min(nw, SIZE)
    out[ty : ty + nh, tx : tx + nw] = BACKGROUND + (INK - BACKGROUND) * small[:nh, :nw]
    return out


def frame_tight(
    ink: np.ndarray,
    body_height: float,
    baseline: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`frame` of a crop already tight around its ink, without the checks.

    The lattice frames every candidate of a field this way. For an ``ink`` whose first and
    last rows and columns all hold ink, ``frame_tight(ink, body, base)`` equals
    ``frame(ink, body, base)`` exactly (same arithmetic; the box search is skipped).

    Parameters
    ----------
    ink : ndarray of bool, shape (H, W)
        Tight ink crop (not checked).
    body_height : float
        The field's body height in pixels (> 0).
    baseline : float
        y of the field's baseline in crop coordinates.
    out : ndarray of float32, shape (32, 32), optional
        Filled with the frame (it must hold :data:`BACKGROUND` already); a new one by default.

    Returns
    -------
    ndarray of float32, shape (32, 32)
        ``out``.
    """
    if out is None:
        out = np.full((SIZE, SIZE), BACKGROUND, np.float32)
    h, w = ink.shape
    body = float(body_height)
    s = min(BOX / max(FULL * body, float(h)), MAX_W / float(w))
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    small = cv2.resize(ink.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    mid = float(baseline) - body / 2.0
    fy = SIZE / 2.0 + (h / 2.0 - mid) * s - nh / 2.0
    fx = SIZE / 2.0 - nw / 2.0
    ty = int(round(min(max(fy, 0.0), SIZE - nh)))
    tx = int(round(min(max(fx, 0.0), SIZE - nw)))
    nh, nw = min(nh, SIZE), min(nw, SIZE)
    # float32 arithmetic as in `frame`: ink * (INK - BACKGROUND) + BACKGROUND, in place
    box = out[ty : ty + nh, tx : tx + nw]
    np.multiply(small[:nh, :nw], np.float32(INK - BACKGROUND), out=box)
    box += np.float32(BACKGROUND)
    return out


def frame_tight_many(
    inks: list[np.ndarray],
    body_height: float,
    baselines: list[float],
    out: np.ndarray,
) -> np.ndarray:
    """:func:`frame_tight` of several tight crops into ``out[k]`` (the lattice's candidates).

    The scales and positions of all crops are computed at once (the same float64
    arithmetic, numpy's ``rint`` rounding half to even as ``round`` does); only the resize
    and the write are per crop, and the ink and background levels are set on the whole
    batch at the end (the same float32 arithmetic). ``out (len(inks), 32, 32)`` float32 is
    overwritten.
    """
    if not inks:
        return out
    shapes = np.array([m.shape for m in inks], np.int64).reshape(-1, 2)
    h, w = shapes[:, 0], shapes[:, 1]
    body = float(body_height)
    s = np.minimum(BOX / np.maximum(FULL * body, h.astype(np.float64)), MAX_W / w.astype(np.float64))
    nh = np.maximum(1, np.rint(h * s).astype(np.int64))
    nw = np.maximum(1, np.rint(w * s).astype(np.int64))
    mid = np.asarray(baselines, np.float64) - body / 2.0
    fy = SIZE / 2.0 + (h / 2.0 - mid) * s - nh / 2.0
    fx = SIZE / 2.0 - nw / 2.0
    ty = np.rint(np.minimum(np.maximum(fy, 0.0), SIZE - nh)).astype(np.int64)
    tx = np.rint(np.minimum(np.maximum(fx, 0.0), SIZE - nw)).astype(np.int64)
    out.fill(0.0)
    for k, (ink, a, b, y, x) in enumerate(
        zip(inks, nh.tolist(), nw.tolist(), ty.tolist(), tx.tolist(), strict=True)
    ):
        small = cv2.resize(ink.astype(np.float32), (b, a), interpolation=cv2.INTER_AREA)
        a, b = min(a, SIZE), min(b, SIZE)
        out[k, y : y + a, x : x + b] = small[:a, :b]
    # ink * (INK - BACKGROUND) + BACKGROUND in float32, as `frame_tight` does box by box;
    # the background (0) comes out as BACKGROUND exactly.
    np.multiply(out, np.float32(INK - BACKGROUND), out=out)
    out += np.float32(BACKGROUND)
    return out


def frame_digit_images(images: np.ndarray, threshold: int = 100) -> np.ndarray:
    """Frame a stack of isolated ink-bright digit images (MNIST/USPS/Semeion format).

    ``images`` is ``uint8 (N, H, W)`` with bright ink; each is upsampled to at least 56
    pixels high, binarised at ``threshold`` (the inference path sees binary ink too) and
    framed by its own box.
    Returns ``float32 (N, 32, 32)``.
    """
    images = check_image(images, "images", ndim=(3,))
    if not len(images):
        return np.zeros((0, SIZE, SIZE), np.float32)
    # Binarise at (at least) 56 pixels high, as a scanned field's digits are: the frame then
    # gets the same anti-aliased edges from the area downscale as at inference, instead of
    # the jagged edges of a 20-pixel binary digit.
    out = np.empty((len(images), SIZE, SIZE), np.float32)
    for k, im in enumerate(images):
        out[k] = frame(digit_ink(im, threshold))
    return out


def digit_ink(image: np.ndarray, threshold: int = 100) -> np.ndarray:
    """The binary ink of one ink-bright digit image, upsampled to at least 56 pixels high
    first (as :func:`frame_digit_images` frames it)."""
    up = max(1, int(np.ceil(56 / image.shape[0])))
    if up > 1:
        image = cv2.resize(image, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
    return image > threshold
