"""The segmentation graph (docs/design.md section 3): nodes = cuts, arcs = spans of 1..max_span pieces.

Every arc carries its candidate image, framed by the field's body height and baseline
(:func:`chequereader.framing.frame`), ready to be scored by LeNet-5 in one batch, and a
geometric penalty for candidates whose shape makes them unlikely to be one character.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from operator import itemgetter

import cv2
import numpy as np

from ._validate import check_range
from .framing import BACKGROUND, FULL, SIZE, frame, frame_tight, frame_tight_many
from .segment import ink_holes, stroke_width
from .types import Segmentation, SegmentationGraph


@dataclass(frozen=True)
class LatticeConfig:
    """``max_span``: most pieces one arc may join. An arc wider than ``max_width`` body
    heights, or joining pieces separated by a gap wider than ``max_gap`` body heights, is
    left out (it cannot be one character). ``wide_penalty`` is added per body height of
    width beyond ``wide_start``. ``apart_penalty`` is added for every pair of neighbouring
    pieces the arc joins that stand apart (blank columns between them, at least
    ``apart_gap`` body heights): separate strokes side by side are most often two characters.
    LeNet-5 alone happily reads "19" squeezed into one frame as a 4, or a "9." as a 9, which
    drops the decimal point; fragments of one broken digit overlap instead."""

    # 4 (was 3): a digit broken into four pieces by cuts and hatching can be read whole. It
    # read more real (ORAND-CAR-A) and synthetic fields right for a small share of the field
    # reading time; 5 gains a little more at more cost (benchmarks/RESULTS.md, history).
    max_span: int = 4
    max_width: float = 2.2
    max_gap: float = 0.6
    # Chosen on synthetic fields of validation writers (MNIST train): a wide candidate or one
    # joining separate strokes is rarely one character once LeNet-5 has been trained
    # globally (raised from wide 1.4/4, apart 6: more US and cl fields read right).
    wide_start: float = 1.0
    wide_penalty: float = 8.0
    apart_penalty: float = 14.0
    apart_gap: float = 0.03
    # Neighbouring pieces that do not touch and overlap in x by at most this share of the
    # narrower one's width also stand apart (two slanted digits side by side; the fragments of
    # one broken digit overlap more). 0: off. 0.15 keeps two slanted digits from being joined
    # into one ("446" read as 46), on real and synthetic fields alike.
    apart_overlap: float = 0.15
    # Superscript cents ("$25^00", small digits raised above the baseline, ending the amount)
    # framed by the field's body come out small and high in the frame, a shape LeNet-5 was
    # never taught to read as a digit: "4.42" written 4.^42 was read 4.10. A span of such
    # trailing raised pieces (every piece from it to the field's end has its bottom at least
    # ``superscript_raise`` body heights above the baseline; the span is at least
    # ``superscript_min`` and under framing.FULL body heights high) gets a second arc framed
    # by its own box, as training digits are, at ``superscript_penalty`` more (inf: off).
    superscript_penalty: float = 1.0
    superscript_raise: float = 0.25
    superscript_min: float = 0.3
    # Uruguayan (ORAND) writers often write the thousands' zeros small ("6.000" with the 000 at half
    # to three quarters of the body, on the baseline). Framed by the field's body they come
    # out small, and LeNet-5 reads them as 6s or separators. A span of trailing pieces all
    # under framing.FULL body heights (``small_end_min`` to FULL high) gets a second arc,
    # framed by its own box, that may only be read as '0', at ``small_end_penalty`` more
    # (locale cl only; inf: off). Such zeros on ORAND-CAR-A are then read; synthetic
    # cheques, which write no small zeros, read as before. At most ``small_end_span`` pieces
    # per such arc.
    small_end_penalty: float = 0.0
    small_end_min: float = 0.3
    small_end_span: int = 2  # (4 gains next to nothing for a third more such arcs)
    # An arc whose geometry alone costs more than this (a join of three pieces standing apart,
    # one of two apart and very wide) is left out before it is framed and recognized: no path
    # through it is within reach of the others. Leaving them out reads real and synthetic
    # fields as before, and saves framing and recognizing them. inf keeps every arc.
    max_geometric: float = 20.0
    # A dash written at the top of the body (the '-' of "/‾" on Indian cheques), framed by
    # the body, comes out high in the frame, where LeNet-5 knows no '-': it was read as a '.'
    # and the slash before it as a 1 ("620000/‾" -> 6200001.); the closing dash of a
    # Uruguayan "25754-", written low or slanted, as a 5 or a 7. A flat arc (at most
    # ``dash_height`` body heights high, at least ``dash_min`` long and three times longer
    # than high) gets a second arc framed with its middle at the body's middle, that may only
    # be read as '-', at ``dash_penalty`` more (inf: off).
    dash_penalty: float = 1.0
    dash_height: float = 0.35
    dash_min: float = 0.4
    # A digit fills the body: its top is near the top of the body band. An arc whose ink
    # starts in the lower part of the band (top below ``low_top`` body heights above the
    # baseline) and hangs below the baseline (bottom ``low_descent`` body heights under it)
    # is a separator: a long handwritten comma (Indian grouping, "42,020") or the tail of a
    # "/-". Its digit classes cost ``low_digit_penalty`` more (0: off); the separators keep
    # their scores.
    # So is an arc much taller than the body that rises well above it and hangs below the
    # baseline: the slash of "/-" drawn through the box, read as a 1 otherwise
    # (``tall_height`` body heights high, its top ``tall_top`` body heights over the baseline),
    # when a piece at least ``slash_after`` body heights high ends left of it: the slash
    # follows the figures, and a tall stroke before them is a leading 1.
    low_digit_penalty: float = 12.0
    low_top: float = 0.5
    low_descent: float = 0.15
    tall_height: float = 1.5
    tall_top: float = 1.15
    slash_after: float = 0.6
    # Zeros written in one stroke ("000") share their sides, so a cut between two of them
    # leaves one loop open (read as a C, a 6 or a 2). An arc whose box holds the middle of a
    # hole at least ``loop_min`` body heights high, whose ring of ink (``loop_ring`` stroke
    # widths around the hole's box) the cuts split among pieces, gets a second arc framed
    # with the whole ring's ink added, at ``loop_penalty`` more (inf: off). The arc must
    # hold most of the ring's ink, and every other piece of the ring must have at most
    # ``loop_apart`` of its ink in the ring (it belongs to the next character; a piece
    # mostly inside is the rest of this loop, which a longer arc reads whole).
    loop_penalty: float = 1.0
    loop_min: float = 0.2
    loop_ring: float = 1.25
    loop_apart: float = 0.8
    # An amount may end with two short dashes one above the other ("2.089=", "6500=/-"),
    # which LeNet-5, with no '=' class, reads as a 3, 2 or 5. An arc of two flat pieces
    # (each at most ``dash_height`` body heights high and 1.5 times as long as high) stacked
    # one above the other (overlapping by half the shorter's length) gets a second arc
    # framed as its longer dash alone, that may only be read as '-', at
    # ``double_dash_penalty`` more (inf: off).
    double_dash_penalty: float = 1.0
    # "/-" written in one movement, the dash drawn from the slash (Indian cheques end most
    # amounts so): the segmentation cuts the dash into flat pieces and leaves the slash with
    # the dash's first stub, which LeNet-5 reads as a 4, a 9 or a t ("5000/-" -> 50004-).
    # When the field ends with flat pieces (each at most ``dash_height`` body heights high,
    # together at least ``slash_dash_min`` long) touching a tall stroke before them (one or
    # two pieces, at most ``slash_dash_width`` body heights wide, at least ``tall_top`` body
    # heights high or hanging ``low_descent`` below the baseline) that follows a digit-high
    # piece, one more arc spans the stroke and the dash, framed as the dash alone, that may
    # only be read as '-', at ``slash_dash_penalty`` more (inf: off).
    slash_dash_penalty: float = 1.0
    slash_dash_min: float = 0.6
    slash_dash_width: float = 0.9


def build_graph(seg: Segmentation, config: LatticeConfig = LatticeConfig(),
                locale: str | None = None) -> SegmentationGraph:
    """Build the segmentation graph of an over-segmented field.

    Parameters
    ----------
    seg : Segmentation
        Pieces ordered left to right (``labels`` int32 (H, W), piece ``k`` has label ``k+1``).
    config : LatticeConfig
    locale : str, optional
        The amount's locale: ``cl`` amounts have no cents, so no superscript-cents arcs.

    Returns
    -------
    SegmentationGraph
        ``n_nodes = n_pieces + 1``; arc ``(i, j)`` covers pieces ``i..j-1``; ``images``
        ``float32 (A, 32, 32)``. A field with no pieces gives one node and no arcs. Arcs
        added for superscript cents repeat an ``(i, j)`` of an earlier arc, after all others.

    Examples
    --------
    >>> from chequereader.types import BBox, Segmentation
    >>> lab = np.zeros((20, 30), np.int32); lab[5:15, 2:8] = 1; lab[5:15, 12:18] = 2
    >>> seg = Segmentation(lab, (BBox(2, 5, 6, 10), BBox(12, 5, 6, 10)), (0., 10., 30.), 10., 15.)
    >>> g = build_graph(seg)
    >>> g.n_nodes, list(zip(g.src.tolist(), g.dst.tolist()))
    (3, [(0, 1), (0, 2), (1, 2)])
    """
    check_range(config.max_span, "max_span", 1, 16)
    n = seg.n_pieces
    body = max(float(seg.body_height), 1.0)
    # Python ints: the arcs' boxes and gaps are a few scalars each, cheaper than tiny arrays.
    bx = [(int(b.x), int(b.y), int(b.x2), int(b.y2)) for b in seg.boxes]
    arcs = _geometric_arcs(seg, bx, body, config)
    sup, extra, read_as = _own_box_arcs(seg, bx, arcs, body, config, locale)
    # Where superscript cents begin: the first piece of the trailing raised run.
    raised_from = min(arcs.src[a] for a in sup) if sup and not read_as else -1
    n_main = len(arcs.src)
    dashes = _dash_arcs(arcs, body, config)
    n_own = n_main + len(sup)
    imgs = np.empty((n_own + len(dashes), SIZE, SIZE), np.float32)  # every frame is written below
    own, tight = _piece_masks(seg.labels, bx)
    masks = _frame_arcs(seg, arcs, own, tight, body, imgs[:n_main])
    only: tuple[str, ...] = ()
    if sup:
        if read_as:
            only = ("",) * n_main + (read_as,) * len(sup)
        _frame_own_boxes(arcs, sup, masks, tight, imgs[n_main:n_own])
        arcs.repeat(sup, extra)
    if dashes:
        only = (only or ("",) * n_own) + ("-",) * len(dashes)
        _frame_dashes(arcs, dashes, masks, tight, body, imgs[n_own:])
        arcs.repeat(dashes, config.dash_penalty)
    doubles = _double_dash_arcs(arcs, masks, n_main, body, config)
    if doubles:
        only = (only or ("",) * len(arcs.src)) + ("-",) * len(doubles)
        more = np.full((len(doubles), SIZE, SIZE), BACKGROUND, np.float32)
        for k, (_, m) in enumerate(doubles):
            _frame_dash(m, True, body, more[k])
        arcs.repeat([a for a, _ in doubles], config.double_dash_penalty)
        imgs = np.concatenate([imgs, more])
    slash = _slash_dash(seg, bx, body, config)
    if slash is not None:
        first, ink, box = slash
        only = (only or ("",) * len(arcs.src)) + ("-",)
        more = np.full((1, SIZE, SIZE), BACKGROUND, np.float32)
        _frame_dash(ink, True, body, more[0])
        arcs.add(first, n, box, config.slash_dash_penalty)
        imgs = np.concatenate([imgs, more])
    loops = _loop_arcs(seg, arcs, n_main, body, config)
    if loops:
        if only:
            only = only + ("",) * len(loops)
        more = np.stack([frame(m, body, seg.baseline - box[1]) for _, m, box in loops])
        arcs.repeat([a for a, _, _ in loops], config.loop_penalty, [box for _, _, box in loops])
        imgs = np.concatenate([imgs, more])
    return SegmentationGraph(
        n_nodes=n + 1,
        src=np.asarray(arcs.src, np.int64),
        dst=np.asarray(arcs.dst, np.int64),
        images=imgs,
        boxes=np.asarray(arcs.boxes, np.int32).reshape(-1, 4),
        geometric=np.asarray(arcs.geo, np.float32),
        digit_penalty=(np.asarray(arcs.low, np.float32) * np.float32(config.low_digit_penalty)
                       if config.low_digit_penalty else None),
        only=only,
        raised_from=int(raised_from),
    )


@dataclass
class _Arcs:
    """The graph's arcs as parallel lists: arc ``a`` covers pieces ``src[a]..dst[a]-1``, has
    the joint box ``boxes[a]`` (x, y, w, h), geometric penalty ``geo[a]``, and ``low[a]``:
    it lies low and hangs below the baseline (a separator)."""

    src: list[int] = dc_field(default_factory=list)
    dst: list[int] = dc_field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = dc_field(default_factory=list)
    geo: list[float] = dc_field(default_factory=list)
    low: list[bool] = dc_field(default_factory=list)

    def repeat(self, which: list[int], extra: float,
               boxes: list[tuple[int, int, int, int]] | None = None) -> None:
        """Append a copy of the arcs ``which``, their geometric penalty ``extra`` higher
        (with ``boxes`` as the copies' boxes, else the arcs' own)."""
        self.src += [self.src[a] for a in which]
        self.dst += [self.dst[a] for a in which]
        self.boxes += [self.boxes[a] for a in which] if boxes is None else boxes
        self.geo += [self.geo[a] + extra for a in which]
        self.low += [self.low[a] for a in which]

    def add(self, src: int, dst: int, box: tuple[int, int, int, int], geo: float) -> None:
        """Append one arc of its own (not a copy), not low."""
        self.src.append(src)
        self.dst.append(dst)
        self.boxes.append(box)
        self.geo.append(geo)
        self.low.append(False)


def _geometric_arcs(seg: Segmentation, bx: list[tuple[int, int, int, int]], body: float,
                    config: LatticeConfig) -> _Arcs:
    """The arcs of spans of 1..max_span pieces whose geometry allows one character, with
    their geometric penalty (too wide, too far apart or too costly spans are left out)."""
    n = len(bx)
    arcs = _Arcs()
    low_above = seg.baseline - config.low_top * body
    tall_h, tall_above = config.tall_height * body, seg.baseline - config.tall_top * body
    low_below = seg.baseline + config.low_descent * body
    apart_min = max(1.0, config.apart_gap * body)
    loose = _loose_pairs(seg, bx, apart_min, config.apart_overlap) if n > 1 else []
    # The slash of "/-" follows the figures: a tall stroke with no digit-high piece ending
    # left of it is a leading 1 written tall, not a slash.
    after_digit = _after_digit(bx, body, config.slash_after)
    for i in range(n):
        x0, y0, x1, y1 = bx[i]
        for j in range(i + 1, min(n, i + config.max_span) + 1):
            sub = bx[i:j]
            bj = bx[j - 1]  # the span's box grows by one piece at a time
            x0, y0, x1, y1 = min(x0, bj[0]), min(y0, bj[1]), max(x1, bj[2]), max(y1, bj[3])
            width = (x1 - x0) / body
            if j - i > 1:
                if width > config.max_width:
                    break  # longer spans only get wider
                # the widest empty gap between consecutive joined pieces
                by_x = sorted(sub, key=itemgetter(0))
                right = by_x[0][2]
                gaps = []
                for b in by_x[1:]:
                    gaps.append(b[0] - right)
                    right = max(right, b[2])
                if max(gaps) / body > config.max_gap:
                    continue
                apart = sum(gp >= apart_min for gp in gaps)
                if loose:
                    apart += sum(loose[i:j - 1])
            else:
                apart = 0
            gp = max(0.0, width - config.wide_start) * config.wide_penalty + apart * config.apart_penalty
            if gp > config.max_geometric:
                continue
            arcs.src.append(i)
            arcs.dst.append(j)
            arcs.boxes.append((x0, y0, x1 - x0, y1 - y0))
            arcs.geo.append(gp)
            arcs.low.append((y0 > low_above and y1 - 1 > low_below)
                            or (after_digit[i] and y1 - y0 > tall_h and y0 < tall_above
                                and y1 - 1 > low_below))
    return arcs


def _after_digit(bx: list[tuple[int, int, int, int]], body: float, height: float) -> list[bool]:
    """Per piece: whether a piece at least ``height`` body heights high ends left of it."""
    ends = [b[2] for b in bx if b[3] - b[1] >= height * body]
    first = min(ends, default=np.inf)
    return [b[0] >= first for b in bx]


def _own_box_arcs(seg: Segmentation, bx: list[tuple[int, int, int, int]], arcs: _Arcs, body: float,
                  config: LatticeConfig, locale: str | None) -> tuple[list[int], float, str]:
    """The arcs that also get a frame of their own box, the penalty added to their copies and
    the one character those copies may be read as ("" for any)."""
    # Added after all others (`cl` amounts have no cents: small trailing zeros there,
    # superscript cents elsewhere).
    if not bx:
        return [], 0.0, ""
    if locale != "cl":
        sup = _superscript_arcs(seg, bx, arcs.src, arcs.boxes, body, config)
        return sup, config.superscript_penalty, ""
    small = _small_end_arcs(bx, arcs.src, arcs.dst, arcs.boxes, body, config)
    return small, config.small_end_penalty, "0"


def _loop_arcs(seg: Segmentation, arcs: _Arcs, n_main: int, body: float, config: LatticeConfig
               ) -> list[tuple[int, np.ndarray, tuple[int, int, int, int]]]:
    """``(arc, mask, box)`` of the arcs (among the first ``n_main``) that also get a frame
    with a cut loop made whole: the arc's pieces' ink and all the ink of the loop's ring."""
    if not math.isfinite(config.loop_penalty) or not n_main:
        return []
    labels = seg.labels
    ink = (labels > 0).astype(np.uint8)
    holes = ink_holes(ink, config.loop_min * body)
    if not holes:
        return []
    comps = cv2.connectedComponents(ink, connectivity=8)[1]
    own = np.bincount(labels.ravel())  # each piece's ink (label k: piece k - 1)
    H, W = labels.shape
    r = max(1, int(round(config.loop_ring * stroke_width(ink))))
    out: list[tuple[int, np.ndarray, tuple[int, int, int, int]]] = []
    for (hx, hy, hw, hh), contour in holes:
        # the ring: the ink of the component around the hole (a hole's contour runs on it)
        comp = int(comps[contour[0, 0, 1], contour[0, 0, 0]])
        rx0, ry0, rx1, ry1 = max(0, hx - r), max(0, hy - r), min(W, hx + hw + r), min(H, hy + hh + r)
        ring = np.where(comps[ry0:ry1, rx0:rx1] == comp, labels[ry0:ry1, rx0:rx1], 0)
        kinds, counts = np.unique(ring[ring > 0], return_counts=True)
        if len(kinds) < 2:  # the loop is whole in one piece
            continue
        total = int(counts.sum())
        first, last = int(kinds[0]), int(kinds[-1])
        cx = hx + hw / 2.0
        for a in range(n_main):
            i, j, (x0, y0, w, h) = arcs.src[a], arcs.dst[a], arcs.boxes[a]
            if not x0 <= cx < x0 + w or (i < first and j >= last):
                continue  # (an arc with every piece of the ring: the loop is whole)
            inside = (kinds > i) & (kinds <= j)  # label k: piece k - 1
            # Most of the ring's ink, so that two arcs never make one loop two zeros; and
            # the ring's other pieces lie mostly outside it: they belong to the next
            # characters. (A piece mostly inside is a part of this loop that an arc
            # joining it already reads.)
            if 2 * int(counts[inside].sum()) <= total or (counts[~inside] > config.loop_apart * own[kinds[~inside]]).any():
                continue
            bx0, by0 = min(x0, rx0), min(y0, ry0)
            bx1, by1 = max(x0 + w, rx1), max(y0 + h, ry1)
            crop = labels[by0:by1, bx0:bx1]
            m = (crop > i) & (crop <= j)
            m[ry0 - by0:ry1 - by0, rx0 - bx0:rx1 - bx0] |= ring > 0
            x, y, w1, h1 = cv2.boundingRect(m.view(np.uint8))
            out.append((a, m[y:y + h1, x:x + w1], (bx0 + x, by0 + y, w1, h1)))
    return out


def _piece_masks(labels: np.ndarray,
                 bx: list[tuple[int, int, int, int]]) -> tuple[list[np.ndarray], list[bool]]:
    """Each piece's ink mask within its box, and whether that ink touches the box's four sides."""
    # A piece whose ink touches the four sides of its box is framed without a box search;
    # so is every span of such pieces (each side of their joint box is one of theirs).
    own: list[np.ndarray] = []
    tight: list[bool] = []
    count = np.count_nonzero  # on the four edges: a few times cheaper than any() reductions
    for k, (x0, y0, x1, y1) in enumerate(bx):
        m = labels[y0:y1, x0:x1] == k + 1
        own.append(m)
        tight.append(bool(m.size) and bool(count(m[0]) and count(m[-1])
                                           and count(m[:, 0]) and count(m[:, -1])))
    return own, tight


def _frame_arcs(seg: Segmentation, arcs: _Arcs, own: list[np.ndarray], tight: list[bool], body: float,
                out: np.ndarray) -> list[np.ndarray]:
    """Frame every arc's ink by the field's body and baseline into ``out``; the arcs' masks."""
    labels = seg.labels
    masks: list[np.ndarray] = []
    bases: list[float] = []
    for i, j, (x0, y0, w, h) in zip(arcs.src, arcs.dst, arcs.boxes, strict=True):
        if j - i == 1:
            masks.append(own[i])
        else:
            crop = labels[y0 : y0 + h, x0 : x0 + w]
            masks.append((crop > i) & (crop <= j))
        bases.append(seg.baseline - y0)
    if all(tight):
        frame_tight_many(masks, body, bases, out)
    else:  # boxes not tight around the pieces' ink (a hand-made Segmentation)
        out.fill(BACKGROUND)
        for a, (i, j) in enumerate(zip(arcs.src, arcs.dst, strict=True)):
            if all(tight[i:j]):
                frame_tight(masks[a], body, bases[a], out=out[a])
            else:
                out[a] = frame(masks[a], body, bases[a])
    return masks


def _frame_own_boxes(arcs: _Arcs, which: list[int], masks: list[np.ndarray], tight: list[bool],
                     out: np.ndarray) -> None:
    """Frame the arcs ``which`` by their own box into ``out`` (body = ink height, baseline = its foot)."""
    out.fill(BACKGROUND)
    for k, a in enumerate(which):
        if all(tight[arcs.src[a]:arcs.dst[a]]):
            frame_tight(masks[a], float(masks[a].shape[0]), float(masks[a].shape[0]), out=out[k])
        else:
            out[k] = frame(masks[a])


def _dash_arcs(arcs: _Arcs, body: float, config: LatticeConfig) -> list[int]:
    """The flat arcs that also get a frame with their middle at the body's middle (a '-'
    written at the top of the body, as in "/‾", or low)."""
    if not math.isfinite(config.dash_penalty):
        return []
    hi, lo = config.dash_height * body, config.dash_min * body
    return [a for a, (_, _, w, h) in enumerate(arcs.boxes) if h <= hi and w >= 3 * h and w >= lo]


def _frame_dashes(arcs: _Arcs, which: list[int], masks: list[np.ndarray], tight: list[bool],
                  body: float, out: np.ndarray) -> None:
    """Frame the arcs ``which`` as dashes (:func:`_frame_dash`) into ``out``."""
    out.fill(BACKGROUND)
    for k, a in enumerate(which):
        _frame_dash(masks[a], all(tight[arcs.src[a]:arcs.dst[a]]), body, out[k])


def _frame_dash(ink: np.ndarray, tight: bool, body: float, out: np.ndarray) -> None:
    """Frame ``ink`` by the field's body with its middle where a '-' has its own
    (:data:`DASH_MIDDLE` body heights over the baseline) into ``out`` (which holds
    :data:`BACKGROUND`); ``tight``: the ink touches its crop's four sides."""
    base = float(ink.shape[0]) / 2.0 + DASH_MIDDLE * body
    if tight:
        frame_tight(ink, body, base, out=out)
    else:
        out[...] = frame(ink, body, base)


def _double_dash_arcs(arcs: _Arcs, masks: list[np.ndarray], n_main: int, body: float,
                      config: LatticeConfig) -> list[tuple[int, np.ndarray]]:
    """``(arc, ink)`` of the arcs of one or two pieces (among the first ``n_main``) whose ink
    is two flat dashes one above the other ('='; the segmentation may have merged the upper
    one into the lower as a fragment), with the longer dash's ink."""
    if not math.isfinite(config.double_dash_penalty):
        return []
    hi = config.dash_height * body
    out: list[tuple[int, np.ndarray]] = []
    for a in range(n_main):
        w, h = arcs.boxes[a][2], arcs.boxes[a][3]
        if arcs.dst[a] - arcs.src[a] > 2 or h > 3 * hi or w > 2 * body or h < 3:
            continue
        n, lab, st, _ = cv2.connectedComponentsWithStats(masks[a].view(np.uint8), connectivity=8)
        if n != 3:
            continue
        (ax, ay, wa, ha), (bx, by, wb, hb) = (tuple(int(v) for v in st[k, :4]) for k in (1, 2))
        if not (ha <= hi and hb <= hi and 2 * wa >= 3 * ha and 2 * wb >= 3 * hb):
            continue
        if min(ax + wa, bx + wb) - max(ax, bx) < 0.5 * min(wa, wb) or not (ay + ha <= by or by + hb <= ay):
            continue
        k, (x, y, ww, hh) = (1, (ax, ay, wa, ha)) if wa >= wb else (2, (bx, by, wb, hb))
        out.append((a, lab[y:y + hh, x:x + ww] == k))
    return out


def _slash_dash(seg: Segmentation, bx: list[tuple[int, int, int, int]], body: float,
                config: LatticeConfig) -> tuple[int, np.ndarray, tuple[int, int, int, int]] | None:
    """The first piece of a "/-" written in one movement that ends the field (see
    :class:`LatticeConfig`), the dash's ink (cropped to it) and the box of the whole mark;
    None when the field does not end so."""
    n = len(bx)
    if not math.isfinite(config.slash_dash_penalty) or n < 3:
        return None
    hi = config.dash_height * body
    f = n
    while f > 0 and bx[f - 1][3] - bx[f - 1][1] <= hi:
        f -= 1
    if f == n or f == 0:
        return None
    dx0, dy0 = min(b[0] for b in bx[f:]), min(b[1] for b in bx[f:])
    dx1, dy1 = max(b[2] for b in bx[f:]), max(b[3] for b in bx[f:])
    if dx1 - dx0 < config.slash_dash_min * body:
        return None
    labels = seg.labels
    for first in (f - 1, f - 2):
        if first < 1:
            return None
        sx0, sy0 = min(b[0] for b in bx[first:f]), min(b[1] for b in bx[first:f])
        sx1, sy1 = max(b[2] for b in bx[first:f]), max(b[3] for b in bx[first:f])
        if sx1 - sx0 > config.slash_dash_width * body:
            return None
        tall = (sy1 - sy0 >= config.tall_top * body
                or sy1 - 1 > seg.baseline + config.low_descent * body)
        digit_before = any(b[3] - b[1] >= config.slash_after * body and b[2] <= sx0 + 0.25 * body
                           for b in bx[:first])
        if tall and digit_before and _touching(labels, first, f):
            ink = (labels[dy0:dy1, dx0:dx1] > f) & (labels[dy0:dy1, dx0:dx1] <= n)
            box = (min(sx0, dx0), min(sy0, dy0), max(sx1, dx1) - min(sx0, dx0),
                   max(sy1, dy1) - min(sy0, dy0))
            return first, ink, box
    return None


def _touching(labels: np.ndarray, first: int, f: int) -> bool:
    """Whether pieces ``first..f-1`` touch piece ``f`` (8-connected)."""
    piece = (labels == f + 1).view(np.uint8)
    grown = cv2.dilate(piece, np.ones((3, 3), np.uint8)).view(bool)
    lab = labels[grown]
    return bool(((lab > first) & (lab <= f)).any())


DASH_MIDDLE = 0.48  # the middle of a written '-', in body heights over the baseline


# Penalty of the classes an arc may not be read as: exp(-1000) is 0 to the decoder, and it
# stays finite so that no log-sum-exp meets inf - inf.
BARRED = 1000.0


def unrestricted(graph: SegmentationGraph) -> SegmentationGraph:
    """``graph`` without the arcs restricted to one character (``graph.only``).

    Training keeps graphs as plain arrays with no per-arc restriction; it leaves such arcs
    out rather than teach the recognizer to read them as anything.
    """
    if not graph.only:
        return graph
    keep = np.array([not c for c in graph.only], bool)
    return SegmentationGraph(n_nodes=graph.n_nodes, src=graph.src[keep], dst=graph.dst[keep],
                             images=graph.images[keep], boxes=graph.boxes[keep],
                             geometric=graph.geometric[keep],
                             digit_penalty=(None if graph.digit_penalty is None
                                            else graph.digit_penalty[keep]))


def arc_penalties(graph: SegmentationGraph, recognized: np.ndarray, chars: Sequence[str]) -> np.ndarray:
    """Penalties ``(A, C)`` of the graph's arcs: the recognizer's ``recognized`` plus each
    arc's geometric penalty, with the classes an arc may not be read as (``graph.only``) at
    :data:`BARRED`. ``chars`` is the recognizer's alphabet, class ``k`` = ``chars[k]``."""
    pen = recognized + graph.geometric[:, None]
    if graph.digit_penalty is not None:
        digits = [k for k, c in enumerate(chars) if c.isdigit()]
        pen[:, digits] += graph.digit_penalty[:, None]
    if graph.only:
        for c in set(graph.only) - {""}:
            rows = np.fromiter((x == c for x in graph.only), bool, len(graph.only))
            k = chars.index(c)
            keep = pen[rows, k]
            pen[rows] = BARRED
            pen[rows, k] = keep
    return pen


def _trailing(flags: list[bool]) -> list[bool]:
    """``out[k]``: ``flags[k:]`` all true (``out[len(flags)]`` is True)."""
    out = [True] * (len(flags) + 1)
    for k in range(len(flags) - 1, -1, -1):
        out[k] = out[k + 1] and flags[k]
    return out


def _superscript_arcs(seg: Segmentation, bx: list[tuple[int, int, int, int]], src: list[int],
                      boxes: list[tuple[int, int, int, int]], body: float,
                      config: LatticeConfig) -> list[int]:
    """Arcs that also get a frame of their own box: spans of trailing raised pieces."""
    if not np.isfinite(config.superscript_penalty):
        return []
    top_of_band = seg.baseline - config.superscript_raise * body
    trailing = _trailing([b[3] - 1 <= top_of_band for b in bx])  # this piece and all right of it raised
    lo, hi = config.superscript_min * body, FULL * body
    return [a for a, (i, (_, _, _, h)) in enumerate(zip(src, boxes, strict=True))
            if trailing[i] and lo <= h < hi]


def _small_end_arcs(bx: list[tuple[int, int, int, int]], src: list[int], dst: list[int],
                    boxes: list[tuple[int, int, int, int]], body: float,
                    config: LatticeConfig) -> list[int]:
    """Arcs that also get a frame of their own box: spans of trailing small pieces."""
    if not math.isfinite(config.small_end_penalty) or not bx or bx[-1][3] - bx[-1][1] >= FULL * body:
        return []
    trailing = _trailing([b[3] - b[1] < FULL * body for b in bx])  # ... all small
    lo, hi = config.small_end_min * body, FULL * body
    return [a for a, (i, j, (_, _, _, h)) in enumerate(zip(src, dst, boxes, strict=True))
            if trailing[i] and lo <= h < hi and j - i <= config.small_end_span]


def _loose_pairs(seg: Segmentation, bx: list[tuple[int, int, int, int]], apart_min: float,
                 overlap: float) -> list[bool]:
    """For each pair of consecutive pieces (k, k+1) closer than ``apart_min``: True when they
    do not touch (no 8-neighbouring pixels) and overlap in x by at most ``overlap`` of the
    narrower one's width. Empty when ``overlap`` is 0."""
    if overlap <= 0:
        return []
    out = []
    lab = seg.labels
    for k in range(len(bx) - 1):
        a, b = bx[k], bx[k + 1]
        ov = min(a[2], b[2]) - max(a[0], b[0])  # > 0: columns shared
        if b[0] - a[2] >= apart_min or ov > overlap * min(a[2] - a[0], b[2] - b[0]):
            out.append(False)  # already apart by the gap rule, or overlapping like fragments
            continue
        x0, y0 = max(min(a[0], b[0]) - 1, 0), max(min(a[1], b[1]) - 1, 0)
        x1, y1 = max(a[2], b[2]) + 1, max(a[3], b[3]) + 1
        crop = lab[y0:y1, x0:x1]
        ma = (crop == k + 1).astype(np.uint8)
        near = cv2.dilate(ma, np.ones((3, 3), np.uint8)).astype(bool)
        out.append(not bool(np.any(near & (crop == k + 2))))
    return out

