"""Overlays for failure analysis: what the reader saw and decided, drawn on the image.

:func:`render_overlay` draws, on a field image (from a
:class:`~chequereader.pipeline.FieldTrace`) or on a page (from an
:class:`~chequereader.types.AmountResult`):

* the located field (green box);
* the cuts: boundaries between segmentation pieces (blue cut paths) and the pieces' boxes;
* the best path: each character's box (red) with its symbol and penalty above it;
* below the image, a text panel: status, decoded text, amount, confidence and the n-best list.

Used by ``chequereader inspect`` and by the HTML report of ``chequereader evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._validate import check_image
from .types import AmountResult, BBox, Page

_FIELD = (0, 160, 0)
_CUT = (255, 120, 0)
_PIECE = (200, 200, 120)
_CHAR = (0, 0, 220)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _to_bgr(image: np.ndarray) -> np.ndarray:
    img = check_image(image, "image", ndim=(2, 3))
    if img.dtype == bool:
        img = np.where(img, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        f = img.astype(np.float64)
        hi = float(np.nanmax(f)) if f.size else 1.0
        img = np.clip(f * (255.0 if hi <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return img.copy()


def _rect(img: np.ndarray, b: BBox | Sequence[int], color: tuple[int, int, int], t: int = 1) -> None:
    x, y, w, h = (b.x, b.y, b.w, b.h) if isinstance(b, BBox) else (int(v) for v in b)
    cv2.rectangle(img, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), color, t)


def _label(img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float) -> None:
    # cv2's Hershey fonts are ASCII only; the rupee sign would print as '?'.
    text = text.replace("₹", "Rs")
    th = max(1, int(round(scale * 2)))
    (tw, tht), _ = cv2.getTextSize(text, _FONT, scale, th)
    x = int(min(max(x, 0), max(img.shape[1] - tw, 0)))
    y = int(min(max(y, tht + 1), img.shape[0] - 1))
    cv2.putText(img, text, (x, y), _FONT, scale, (255, 255, 255), th + 2, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), _FONT, scale, color, th, cv2.LINE_AA)


def cut_mask(labels: np.ndarray) -> np.ndarray:
    """Pixels where two different pieces touch: the cut paths of an over-segmentation.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Piece labels (0 = background).

    Returns
    -------
    ndarray of bool, shape (H, W)
        True on a piece pixel whose right or lower neighbour belongs to another piece.

    Examples
    --------
    >>> lab = np.array([[1, 1, 2, 2]], np.int32)
    >>> cut_mask(lab).astype(int).tolist()
    [[0, 1, 0, 0]]
    """
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, bool)
    if lab.ndim != 2 or lab.size == 0:
        return out
    a, b = lab[:, :-1], lab[:, 1:]
    out[:, :-1] |= (a > 0) & (b > 0) & (a != b)
    a, b = lab[:-1, :], lab[1:, :]
    out[:-1, :] |= (a > 0) & (b > 0) & (a != b)
    return out


def _panel(lines: Sequence[str], width: int, scale: float) -> np.ndarray:
    lh = int(round(26 * scale)) + 6
    panel = np.full((lh * len(lines) + 6, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(panel, line.replace("₹", "Rs"), (4, lh * (i + 1) - 4), _FONT, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def _summary_lines(status: str, text: str, amount: str | None, conf: float,
                   alternatives: Sequence[Any], truth: str | None, error: str | None) -> list[str]:
    lines = [f"{status}: '{text}' -> {amount}  conf {conf:.3f}"
             + (f"  (truth {truth})" if truth is not None else "")]
    if error:
        lines.append(f"error: {error[:120]}")
    for k, a in enumerate(alternatives):
        lines.append(f"{k + 1}. {a.amount} '{a.text}' {a.confidence:.3f}")
    return lines


def panel_lines(trace_or_result: Any, *, result: AmountResult | None = None,
                truth: str | None = None) -> list[str]:
    """The text panel of an overlay: status, text, amount, confidence, n-best.

    From ``result`` when given (or when ``trace_or_result`` is one): the page's result, with
    the calibrated confidence that ``read`` reports; else from a trace's decoding alone.
    """
    res = trace_or_result if isinstance(trace_or_result, AmountResult) else result
    if res is not None:
        reason = res.extra.get("reject_reason")
        status = f"{res.status} ({reason})" if reason else res.status
        lines = _summary_lines(status, res.text, res.amount, res.confidence,
                               res.alternatives, truth, res.error)
    else:
        dec = trace_or_result.decoding
        lines = _summary_lines(dec.status, dec.text, dec.amount, dec.confidence, dec.alternatives,
                               truth, None)
    second = getattr(trace_or_result, "sdnn", None)  # a trace's second reading, if any
    if second is not None:
        lines.append(f"SDNN reads {second.best or '-'} (penalty {second.best_penalty:.2f})")
    return lines


def _draw_result(img: np.ndarray, res: AmountResult, offset: tuple[int, int], sc: float) -> None:
    """A result's field box and characters on ``img`` (in place), its origin at ``offset``."""
    ox, oy = offset
    if res.field is not None:
        f = res.field
        _rect(img, (f.x - ox, f.y - oy, f.w, f.h), _FIELD, 2)
    for c in res.characters:
        b = c.bbox
        _rect(img, (b.x - ox, b.y - oy, b.w, b.h), _CHAR, 1)
        _label(img, f"{c.char} {c.penalty:.1f}", b.x - ox, b.y - oy - 2, _CHAR, sc * 0.6)


def _draw_trace(img: np.ndarray, tr: Any, zoom: int | None) -> np.ndarray:
    """A trace's cuts, pieces and best path on ``img`` (its cleaned field), enlarged and
    banded (see :func:`render_overlay`'s ``zoom``)."""
    h, w = img.shape[:2]
    seg = tr.segmentation
    if seg.labels.shape == (h, w):
        img[cut_mask(seg.labels)] = _CUT
    # Fields are often ~40 px high: enlarge so labels stay legible, and draw the labels in
    # white bands above (symbol) and below (penalty) so they never hide the ink.
    z = int(zoom) if zoom is not None else int(min(4, max(1, math.ceil(110 / max(h, 1)))))
    top, bottom = 20, 18
    big = cv2.resize(img, (w * z, h * z), interpolation=cv2.INTER_NEAREST)
    img = np.full((h * z + top + bottom, w * z, 3), 255, np.uint8)
    img[top:top + h * z] = big

    def zb(x: float, y: float, bw: float, bh: float) -> tuple[int, int, int, int]:
        return int(x * z), int(y * z) + top, max(1, int(bw * z)), max(1, int(bh * z))

    for b in seg.boxes:
        _rect(img, zb(b.x, b.y, b.w, b.h), _PIECE, 1)
    for x in seg.cut_x:
        xi = int(round(min(max(x * z, 0), w * z - 1)))
        cv2.line(img, (xi, top - 5), (xi, top - 1), _CUT, 1)
        cv2.line(img, (xi, top + h * z), (xi, top + h * z + 4), _CUT, 1)
    dec = tr.decoding
    if dec.path is not None:
        for a, c, ch in zip(dec.path.arcs, dec.path.classes, dec.path.text, strict=True):
            x, y, bw, bh = zb(*(int(v) for v in tr.graph.boxes[a]))
            _rect(img, (x, y, bw, bh), _CHAR, 1)
            _label(img, ch, x, top - 6, _CHAR, 0.45)
            _label(img, f"{float(tr.penalties[a, c]):.2f}", x, top + h * z + 14, _CHAR, 0.35)
    return img


def render_overlay(
    image: np.ndarray,
    trace_or_result: Any,
    *,
    result: AmountResult | None = None,
    truth: str | None = None,
    offset: tuple[int, int] = (0, 0),
    scale: float | None = None,
    panel: bool = True,
    zoom: int | None = None,
) -> np.ndarray:
    """Draw what the reader found on ``image``.

    Parameters
    ----------
    image : ndarray
        Grey ``uint8 (H, W)``, colour ``(H, W, 3)`` or binary ``bool (H, W)``: the page (or a
        field crop, with ``offset``) for a result. For a trace, the trace's own cleaned grey
        field is drawn on (its cuts live in those coordinates); ``image`` is the fallback.
    trace_or_result : FieldTrace or AmountResult
        A :class:`~chequereader.pipeline.FieldTrace` draws the cuts, pieces and best path
        of the decoding; an :class:`~chequereader.types.AmountResult` draws its field box and
        characters (no cuts: results do not keep the segmentation).
    result : AmountResult, optional
        With a trace: the page's result, for the text panel (status, text, amount, the
        confidence `read` reports, n-best, error; see :func:`panel_lines`).
    truth : str, optional
        The true amount, shown in the panel.
    offset : (int, int)
        ``(x, y)`` of ``image``'s origin in the result's coordinates (a result's boxes are
        in page coordinates; pass the crop's corner when drawing on a field crop).
    scale : float, optional
        Font scale; default from the image height.
    panel : bool
        Append the text panel (status, decoded text, n-best) below the image.
    zoom : int, optional
        Trace only: integer enlargement of the field (default: up to 4x, to about 110 px
        high). The field is drawn between a 20 px band (symbols) and an 18 px band (penalties).

    Returns
    -------
    ndarray of uint8, shape (H', W', 3)
        BGR image (OpenCV order): the (for a trace, enlarged and banded) image with the text
        panel below; ``W'`` is at least 360 so the panel is readable.

    Examples
    --------
    >>> from chequereader.types import AmountResult, BBox, Character
    >>> res = AmountResult("ok", "7", "7", 0.9, field=BBox(0, 0, 20, 20),
    ...                    characters=(Character("7", BBox(2, 2, 10, 14), 0.1),))
    >>> render_overlay(np.full((20, 20), 255, np.uint8), res, panel=False).shape
    (20, 20, 3)
    """
    if not isinstance(trace_or_result, AmountResult):
        # Cuts are in the coordinates of the cleaned field (deskewed/deslanted): draw on its grey.
        grey = getattr(getattr(trace_or_result, "clean", None), "grey", None)
        if grey is not None and np.asarray(grey).size:
            image = grey
    img = _to_bgr(image)
    h, w = img.shape[:2]
    sc = scale if scale is not None else float(np.clip(h / 120.0, 0.35, 1.2))
    lines: list[str]
    if isinstance(trace_or_result, AmountResult):
        _draw_result(img, trace_or_result, offset, sc)
        lines = panel_lines(trace_or_result, truth=truth)
    else:
        img = _draw_trace(img, trace_or_result, zoom)
        h, w = img.shape[:2]
        lines = panel_lines(trace_or_result, result=result, truth=truth)
    if not panel:
        return img
    width = max(w, 360)
    if width > w:
        img = np.concatenate([img, np.full((h, width - w, 3), 255, np.uint8)], axis=1)
    return np.concatenate([img, _panel(lines, width, 0.45)], axis=0)


def field_crop(page: np.ndarray, box: BBox | None) -> tuple[np.ndarray, tuple[int, int]]:
    """The crop of ``page`` inside ``box`` (clipped; whole page when None) and its corner."""
    if box is None:
        return page, (0, 0)
    h, w = page.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.x + box.w), min(h, box.y + box.h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return page, (0, 0)
    return page[y0:y1, x0:x1], (x0, y0)


def overlay_for(reader: Any, page: np.ndarray, result: AmountResult, *, truth: str | None = None,
                locale: str | None = None, trace: Any = None) -> np.ndarray:
    """Overlay of one page's result: the trace of the field it was read from (cuts, best path,
    n-best) when it has one, else the result drawn on the page.

    ``trace`` is the :class:`~chequereader.pipeline.FieldTrace` that
    :meth:`~chequereader.pipeline.ChequeReader.trace_page` returned with ``result``. Without
    it the page is read again through the same method (same config, so the same decision) to
    get it; a trace that no longer agrees with ``result`` is not drawn.
    """
    if result.field is None or result.status == "error" and not result.characters:
        return render_overlay(page, result, truth=truth)
    crop, off = field_crop(page, result.field)
    try:
        if trace is None:
            again, trace = reader.trace_page(Page(page), locale)
            if (again.text, again.amount, again.field) != (result.text, result.amount, result.field):
                trace = None
        img = (render_overlay(crop, trace, result=result, truth=truth) if trace is not None
               else render_overlay(crop, result, truth=truth, offset=off))
    except Exception:  # an overlay must never end a report; fall back to the stored result
        img = render_overlay(crop, result, truth=truth, offset=off)
    if crop.shape[:2] == page.shape[:2]:
        return img
    # Whole cheque: the page with the located field (green) above the field's own overlay.
    top = render_overlay(page, result, panel=False)
    w = max(img.shape[1], 480)
    top = cv2.resize(top, (w, max(1, round(top.shape[0] * w / top.shape[1]))), interpolation=cv2.INTER_AREA)
    if img.shape[1] < w:
        img = np.concatenate([img, np.full((img.shape[0], w - img.shape[1], 3), 255, np.uint8)], axis=1)
    return np.concatenate([top, np.full((4, w, 3), 255, np.uint8), img], axis=0)


class _AllBut:
    """The page indices other than one (``skip`` for :func:`~chequereader.io.images.iter_pages`)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep

    def __contains__(self, i: object) -> bool:
        return i != self.keep


def inspect_page(path: str | Path, config: Any = None, reader: Any = None,
                 page: int = 0) -> tuple[AmountResult, Any, np.ndarray]:
    """Read page ``page`` (0-based) of ``path`` as ``read`` does; return its result, the
    trace of the field it was read from (None when none was decoded) and the page image.

    The page is decoded and read by :meth:`~chequereader.pipeline.ChequeReader.trace_page`,
    the method behind every row of ``read``, so the result is ``read``'s row for that page.
    """
    from .errors import InvalidImageError
    from .io.images import iter_pages
    from .pipeline import ChequeReader

    rd = reader if reader is not None else ChequeReader(config)
    lim = rd.config.limits
    # The pages before the one asked for are passed over without being decoded.
    found = next(iter(iter_pages(path, limits=lim, source=str(path), skip=_AllBut(page))), None)
    if found is None or found.index != page:
        n = 0
        try:  # only to say how many there are: one page decoded at a time
            for pg in iter_pages(path, limits=lim, source=str(path)):
                n = pg.index + 1
        except InvalidImageError:
            pass
        raise InvalidImageError(f"{path}: no page {page} (it has {n}, numbered from 0)")
    if found.meta.get("error"):
        raise InvalidImageError(str(found.meta["error"]))
    res, trace = rd.trace_page(found)
    return res, trace, found.image


def inspect_file(path: str | Path, out: str | Path, config: Any = None, reader: Any = None,
                 page: int = 0) -> AmountResult:
    """Read page ``page`` (0-based) of ``path`` and write its overlay PNG to ``out``; return
    the result (``read``'s row for that page: see :func:`inspect_page`). Multi-page TIFFs and
    X9.37 files have one page per image / item."""
    from .errors import InvalidImageError

    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        raise InvalidImageError(f"{out}: the overlay's file name must end in .png, .jpg or .tif")
    from .pipeline import ChequeReader

    rd = reader if reader is not None else ChequeReader(config)
    res, trace, image = inspect_page(path, reader=rd, page=page)
    img = overlay_for(rd, image, res, trace=trace) if trace is not None else render_overlay(image, res)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(out), img)
    except cv2.error as exc:
        raise InvalidImageError(f"{out}: cannot write the overlay ({exc})") from None
    if not ok:
        raise InvalidImageError(f"{out}: cannot write the overlay")
    return res
