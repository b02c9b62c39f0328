"""Heuristic over-segmentation of a clean field into ordered pieces (paper Section V).

Connected components are taken as they are, small fragments of broken strokes are merged into
the component they lie on, and components too wide for one character are split by cut paths
that may bend. A cut path is the cheapest top-to-bottom path through the component, where
each ink pixel crossed costs 1 and each sideways step a little: this is the "hit and deflect"
idea of the paper (a cut that meets a stroke slides along it to where it is thinnest), done
as a dynamic programme so that all end columns are scored at once. Candidates are the local
minima of that cost, which lie at vertical-projection minima and between upper/lower contour
valleys. Where a component has two holes side by side (no digit has: zeros written in one
stroke, "000"), the cheapest cut between them is taken before any other, so that each loop
stays whole but for the side it shares.

The result over-segments on purpose: the lattice joins up to three consecutive pieces into one
candidate character, so a digit cut in two or three pieces costs nothing, while two digits
left in one piece cannot be read.

Example
-------
>>> import numpy as np
>>> from chequereader.types import CleanField
>>> from chequereader.segment import segment
>>> b = np.zeros((20, 30), bool); b[4:16, 2:8] = True; b[4:16, 15:22] = True
>>> seg = segment(CleanField(b, np.zeros((20, 30), np.uint8), 12.0, 15.0))
>>> seg.n_pieces, [bx.x for bx in seg.boxes]
(2, [2, 15])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np

from ._validate import check_image, check_range
from .errors import InvalidImageError
from .types import BBox, CleanField, Segmentation

__all__ = ["SegmentConfig", "ink_holes", "segment", "segmentation_boundary_recall", "stroke_width"]


@dataclass(frozen=True)
class SegmentConfig:
    """Parameters of :func:`segment`; lengths are fractions of the field's body height.

    Attributes
    ----------
    max_width : float
        A piece wider than this is split even where the cut is expensive.
    max_aspect : float
        ... or wider than this many times its own height (at least ``min_aspect_height``).
    min_aspect_height : float
        Floor of the own height used with ``max_aspect`` (so that a '-' is not split).
    min_split_width : float
        Components at least this wide are searched for cheap cuts (touching digits such as
        ``11`` are narrow).
    cheap_cut : float
        A cut crossing at most this many stroke widths of ink is always taken.
    min_sep : float
        Minimum distance between two cuts (mean x of the paths).
    min_piece_ink : float
        Each side of a cut must hold at least ``min_piece_ink * body_height * stroke_width``
        ink pixels (about the ink of a short stroke).
    band : float
        Maximum horizontal drift of a cut path from top to bottom.
    step_cost : float
        Cost of a sideways step of a cut path, in ink pixels.
    merge_overlap : float
        A fragment is merged into a bigger component that covers at least this fraction of
        its width.
    fragment_height : float
        Only components lower than this are fragments.
    max_candidates : int
        At most this many candidate cuts (the cheapest) are traced per component.
    hole_cut : float
        A cut between two holes side by side (the loops of zeros written in one stroke,
        ``000``) is taken when it crosses at most this many stroke widths of ink, before any
        other cut; 0 turns these cuts off.
    min_hole : float
        Only holes at least this high count.
    """

    max_width: float = 0.9
    max_aspect: float = 1.1
    min_aspect_height: float = 0.35
    min_split_width: float = 0.55
    cheap_cut: float = 1.6
    min_sep: float = 0.22
    min_piece_ink: float = 0.35
    band: float = 0.6
    step_cost: float = 0.35
    merge_overlap: float = 0.6
    fragment_height: float = 0.55
    max_candidates: int = 16
    hole_cut: float = 4.0
    min_hole: float = 0.15

    def __post_init__(self) -> None:
        for name in ("max_width", "max_aspect", "min_aspect_height", "min_split_width",
                     "min_sep", "band", "fragment_height"):
            check_range(getattr(self, name), name, 0.01, 100.0)
        check_range(self.cheap_cut, "cheap_cut", 0.0, 100.0)
        check_range(self.min_piece_ink, "min_piece_ink", 0.0, 100.0)
        check_range(self.step_cost, "step_cost", 0.0, 100.0)
        check_range(self.merge_overlap, "merge_overlap", 0.0, 1.0)
        check_range(self.max_candidates, "max_candidates", 1, 1000)
        check_range(self.hole_cut, "hole_cut", 0.0, 100.0)
        check_range(self.min_hole, "min_hole", 0.0, 100.0)


def stroke_width(binary: np.ndarray) -> float:
    """Mean stroke width: ink area over half the boundary length."""
    u8 = binary.view(np.uint8)
    inner = cv2.erode(u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    area = int(np.count_nonzero(u8))  # 0/1 images: the count is the sum
    boundary = area - int(np.count_nonzero(inner))
    if boundary <= 0:
        return 1.0
    return max(1.0, 2.0 * area / boundary)


def _cut_paths(mask: np.ndarray, step: float) -> np.ndarray:
    """Cumulative cost of the cheapest top-to-bottom path reaching each pixel.

    Returns ``float32 (h, w + 2)``: column ``x + 1`` holds pixel ``x``; the two border
    columns are a wall of infinite cost. Each ink pixel costs 1, each sideways step ``step``.
    """
    h, w = mask.shape
    c = mask.astype(np.float32)
    acc = np.full((h, w + 2), np.float32(1e9), np.float32)
    acc[0, 1:-1] = c[0]
    tmp = np.empty(w, np.float32)
    for y in range(1, h):
        prev = acc[y - 1]
        np.minimum(prev[:-2], prev[2:], out=tmp)
        tmp += step
        np.minimum(tmp, prev[1:-1], out=tmp)
        np.add(tmp, c[y], out=acc[y, 1:-1])
    return acc


def _backtrack(acc: np.ndarray, ends: np.ndarray, step: float) -> np.ndarray:
    """Paths ``int (k, h)`` (x per row) ending at columns ``ends`` of the bottom row."""
    h = acc.shape[0]
    prev = acc[:-1]
    here = prev[:, 1:-1]
    left = prev[:, :-2] + step
    right = prev[:, 2:] + step
    # The move into each pixel, for all rows at once: straight down wins ties, then left.
    go_left = (left < here) & (left <= right)
    go_right = (right < here) & (right < left)
    move = go_right.astype(np.int64) - go_left  # offset of the pixel above, per (y, x)
    out = np.empty((h, len(ends)), np.int64)
    pos = out[h - 1]
    pos[:] = ends
    for y in range(h - 1, 0, -1):
        # Row by row with 1-D gathers (a 2-D fancy index costs several times more).
        np.add(pos, move[y - 1][pos], out=out[y - 1])
        pos = out[y - 1]
    return out.T


def _cut_paths_many(masks: Sequence[np.ndarray], step: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_cut_paths` of several masks in one pass over the rows.

    The masks lie side by side, bottom-aligned, each between its own two wall columns, in
    one array of the tallest mask's height; the rows above a shorter mask cost nothing, so
    its first row gets its own ink cost, as alone. Returns ``(acc, offsets)``:
    ``acc[H - h:, o : o + w + 2]`` (``o = offsets[k]``, ``(h, w)`` the shape of mask ``k``)
    equals ``_cut_paths(masks[k], step)``.
    """
    heights = [m.shape[0] for m in masks]
    widths = [m.shape[1] + 2 for m in masks]
    H = max(heights)
    offsets = np.zeros(len(masks), np.int64)
    offsets[1:] = np.cumsum(widths)[:-1]
    W = int(sum(widths))
    wall = np.zeros(W, bool)
    wall[offsets] = True
    wall[offsets + np.asarray(widths) - 1] = True
    c = np.zeros((H, W), np.float32)
    c[:, wall] = np.float32(1e9)  # walls: no path crosses from one mask into the next
    for m, h, o in zip(masks, heights, offsets.tolist(), strict=True):
        c[H - h :, o + 1 : o + 1 + m.shape[1]] = m
    acc = np.full((H, W), np.float32(1e9), np.float32)
    acc[0, 1:-1] = c[0, 1:-1]
    tmp = np.empty(W - 2, np.float32)
    # The shifted views once (row y of each is a cheap view); float32 arithmetic as in
    # `_cut_paths` (`tmp += step` adds step as float32).
    left, right, mid, cost = acc[:, :-2], acc[:, 2:], acc[:, 1:-1], c[:, 1:-1]
    step32 = np.float32(step)
    minimum, add = np.minimum, np.add
    for y in range(1, H):
        minimum(left[y - 1], right[y - 1], out=tmp)
        add(tmp, step32, out=tmp)
        minimum(tmp, mid[y - 1], out=tmp)
        add(tmp, cost[y], out=mid[y])
    acc[:, wall] = np.float32(1e9)  # as _cut_paths' walls, which are never updated
    return acc, offsets


def _cut_ends(
    mask: np.ndarray, cost: np.ndarray, bh: float, cfg: SegmentConfig
) -> tuple[np.ndarray, float, float]:
    """Candidate cut columns (local minima of the bottom-row ``cost``), and the ink's x range."""
    # Local minima of the end cost (plateaus: every column; near-duplicates are thinned by
    # the min_sep rule below).
    pad = np.empty(len(cost) + 2)
    pad[0] = pad[-1] = np.inf
    pad[1:-1] = cost
    is_min = (cost <= pad[:-2]) & (cost <= pad[2:])
    xs = np.flatnonzero(mask.any(axis=0))
    x0, x1 = float(xs[0]), float(xs[-1] + 1)
    margin = cfg.min_sep * bh * 0.5
    is_min[: int(np.ceil(x0 + margin))] = False
    is_min[int(x1 - margin) + 1 :] = False
    ends = is_min.nonzero()[0]
    if len(ends) == 0:
        return ends, x0, x1
    # One end per plateau (its middle): a flat run of minima is one cut, not many.
    run_start = np.empty(len(ends), bool)
    run_start[0] = True
    c_ends = cost[ends]
    run_start[1:] = (ends[1:] - ends[:-1] > 1) | (c_ends[1:] != c_ends[:-1])
    starts = run_start.nonzero()[0]
    stops = np.append(starts[1:], len(ends))
    ends = ends[(starts + stops - 1) // 2]
    if len(ends) > cfg.max_candidates:
        ends = ends[cost[ends].argsort(kind="stable")[: cfg.max_candidates]]
    return ends, x0, x1


def ink_holes(ink: np.ndarray, min_height: float) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """The holes of a binary ``ink`` image (background enclosed by ink) at least
    ``min_height`` pixels high: each hole's box ``(x, y, w, h)`` and its contour (OpenCV's
    ``(k, 1, 2)`` points, which run on the ink around the hole)."""
    contours, hier = cv2.findContours(np.ascontiguousarray(ink).astype(np.uint8, copy=False),
                                      cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return []
    out = []
    for c, h in zip(contours, hier[0], strict=True):
        if h[3] >= 0:  # a contour with a parent: a hole's
            x, y, w, hh = (int(v) for v in cv2.boundingRect(c))
            if hh >= min_height:
                out.append(((x, y, w, hh), c))
    return out


def _hole_junctions(mask: np.ndarray, cost: np.ndarray, bh: float, cfg: SegmentConfig) -> np.ndarray:
    """End columns of cuts between holes side by side: the cheapest bottom-row ``cost``
    between the right edge of one hole and the left edge of the next at about the same
    height. No digit has two holes side by side, so two loops in a row are two characters
    (zeros written in one stroke)."""
    if cfg.hole_cut <= 0:
        return np.zeros(0, np.int64)
    holes = sorted(box for box, _ in ink_holes(mask, cfg.min_hole * bh) if box[2] >= 2)
    ends: list[int] = []
    for (ax, ay, aw, ah), (bx, by, bw, bhh) in zip(holes[:-1], holes[1:], strict=False):
        overlap = min(ay + ah, by + bhh) - max(ay, by)
        if overlap < 0.5 * min(ah, bhh) or bx + bw <= ax + aw:
            continue
        lo, hi = ax + aw - 1, bx + 1
        if hi <= lo:  # the holes' boxes overlap: the middle of the overlap
            lo = hi = (ax + aw + bx) // 2
        ends.append(lo + int(np.argmin(cost[lo:hi + 1])))
    return np.asarray(sorted(set(ends)), np.int64)


def _split_component(
    mask: np.ndarray, bh: float, sw: float, cfg: SegmentConfig
) -> list[np.ndarray]:
    """Cut paths (each ``int (h,)``: pixels with ``x >= path[y]`` are right of it), ordered
    left to right, for one component's mask ``bool (h, w)``."""
    h, w = mask.shape
    if w < 3 or h < 2:
        return []
    acc = _cut_paths(mask, cfg.step_cost)
    cost = acc[-1, 1:-1]
    ends, x0, x1, prefer = _candidate_ends(mask, cost, bh, cfg)
    if len(ends) == 0:
        return []
    return _choose_cuts(mask, cost, ends, _backtrack(acc, ends, cfg.step_cost), x0, x1, bh, sw, cfg,
                        prefer)


def _candidate_ends(mask: np.ndarray, cost: np.ndarray, bh: float, cfg: SegmentConfig
                    ) -> tuple[np.ndarray, float, float, np.ndarray]:
    """:func:`_cut_ends` with :func:`_hole_junctions` added, and which ends are junctions."""
    ends, x0, x1 = _cut_ends(mask, cost, bh, cfg)
    holes = _hole_junctions(mask, cost, bh, cfg)
    if not len(holes):
        return ends, x0, x1, np.zeros(len(ends), bool)
    ends = np.union1d(ends, holes)
    return ends, x0, x1, np.isin(ends, holes)


def _split_components(
    masks: Sequence[np.ndarray], bh: float, sw: float, cfg: SegmentConfig
) -> list[list[np.ndarray]]:
    """``[_split_component(m, bh, sw, cfg) for m in masks]``, the cut-path programmes and
    the backtracking of all masks done together (a field's few components cost about as
    much as its tallest one)."""
    out: list[list[np.ndarray]] = [[] for _ in masks]
    todo = [k for k, m in enumerate(masks) if m.shape[1] >= 3 and m.shape[0] >= 2]
    if not todo:
        return out
    acc, offsets = _cut_paths_many([masks[k] for k in todo], cfg.step_cost)
    H = acc.shape[0]
    found = []
    for k, o in zip(todo, offsets.tolist(), strict=True):
        h, w = masks[k].shape
        cost = acc[-1, o + 1 : o + 1 + w]
        ends, x0, x1, prefer = _candidate_ends(masks[k], cost, bh, cfg)
        if len(ends):
            found.append((k, o, h, cost, ends, x0, x1, prefer))
    if not found:
        return out
    # One backtracking for all: above a shorter mask the paths go straight up through its
    # cost-free rows and never into a wall, so its rows of the result, less its offset, are
    # its paths alone.
    paths = _backtrack(acc, np.concatenate([f[4] + f[1] for f in found]), cfg.step_cost)
    first = 0
    for k, o, h, cost, ends, x0, x1, prefer in found:
        own = paths[first : first + len(ends), H - h :] - o
        first += len(ends)
        out[k] = _choose_cuts(masks[k], cost, ends, own, x0, x1, bh, sw, cfg, prefer)
    return out


def _choose_cuts(
    mask: np.ndarray,
    cost: np.ndarray,
    ends: np.ndarray,
    paths: np.ndarray,
    x0: float,
    x1: float,
    bh: float,
    sw: float,
    cfg: SegmentConfig,
    prefer: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The cuts kept among the candidate ``paths`` (ending at ``ends``), left to right;
    those marked in ``prefer`` (between holes) are taken first, up to ``cfg.hole_cut``."""
    h, w = mask.shape
    # Ink left of each path, from the integral image ``I`` (OpenCV's, several times cheaper
    # than a cumsum): row y's ink left of column p is ``I[y + 1, p] - I[y, p]``.
    integ = cv2.integral(np.ascontiguousarray(mask).view(np.uint8)).ravel()
    at = paths + (np.arange(h) * (w + 1))[None, :]
    total = int(integ[-1])
    min_ink = cfg.min_piece_ink * bh * sw
    left_ink = integ[at + (w + 1)].sum(axis=1) - integ[at].sum(axis=1)
    drift = paths.max(axis=1) - paths.min(axis=1)
    ok = (left_ink >= min_ink) & (total - left_ink >= min_ink) & (drift <= cfg.band * bh)
    if not ok.any():
        return []
    cand_cost = cost[ends][ok]
    cand_prefer = (np.zeros(len(ends), bool) if prefer is None else prefer)[ok].tolist()
    cand_paths = paths[ok]
    cand_left = left_ink[ok]
    # Python scalars for the few candidates (float64 and int64 values, compared as before).
    cand_x = (cand_paths.sum(axis=1) / h).tolist()  # np.mean of ints, without its overhead
    cand_left = cand_left.tolist()
    order = cand_cost.argsort(kind="stable")
    accepted: list[int] = []

    def fits(i: int) -> bool:
        xm = cand_x[i]
        if xm - x0 < cfg.min_sep * bh * 0.5 or x1 - xm < cfg.min_sep * bh * 0.5:
            return False
        lo_ink, hi_ink = 0, total
        for j in accepted:
            if abs(cand_x[j] - xm) < cfg.min_sep * bh:
                return False
            if cand_x[j] < xm:
                lo_ink = max(lo_ink, cand_left[j])
            else:
                hi_ink = min(hi_ink, cand_left[j])
        return cand_left[i] - lo_ink >= min_ink and hi_ink - cand_left[i] >= min_ink

    for i in order.tolist():
        if cand_prefer[i] and cand_cost[i] <= cfg.hole_cut * sw and fits(i):
            accepted.append(i)
    cheap = cfg.cheap_cut * sw
    for i in order.tolist():
        if cand_cost[i] > cheap:
            break
        if i not in accepted and fits(i):
            accepted.append(i)
    # Small touching digits (the '000' after a separator) are not wide against the body
    # height, but they are against their own height.
    ys_ink = np.flatnonzero(mask.any(axis=1))
    own_h = max(float(ys_ink[-1] - ys_ink[0] + 1), cfg.min_aspect_height * bh)
    limit = min(cfg.max_width * bh, cfg.max_aspect * own_h)
    if x1 - x0 > limit:
        # Forced cuts: split each segment still too wide at its cheapest valid candidate.
        while True:
            bounds = sorted([x0, x1] + [cand_x[j] for j in accepted])
            wide = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b - a > limit]
            added = False
            for a, b in wide:
                for i in order.tolist():
                    if a < cand_x[i] < b and i not in accepted and fits(i):
                        accepted.append(i)
                        added = True
                        break
            if not added:
                break
    accepted.sort(key=lambda j: cand_x[j])
    out = [cand_paths[j] for j in accepted]
    # Cheapest paths may meet (never cross); keep them ordered row by row anyway.
    for k in range(1, len(out)):
        out[k] = np.maximum(out[k], out[k - 1])
    return out


def _classify_small(stats: np.ndarray, bh: float, base: float) -> tuple[np.ndarray, np.ndarray]:
    """Flags ``(punct, dash)`` of components that look like '.', ',' or '-'."""
    x, y, w, h = (stats[:, i].astype(float) for i in range(4))
    bottom = y + h - 1
    punct = (h < 0.45 * bh) & (w < 0.6 * bh) & (bottom >= base - 0.3 * bh) & (y > base - 0.55 * bh)
    centre = y + h / 2.0
    # A '-' sits in the middle band of the body; a flat piece above it is the detached top
    # bar of a '5' or '7'.
    dash = (h < 0.3 * bh) & (w >= 1.8 * h) & (w < 1.2 * bh)
    dash &= (centre > base - 0.8 * bh) & (centre < base - 0.1 * bh)
    return punct, dash


def segment(field: CleanField, config: SegmentConfig = SegmentConfig()) -> Segmentation:
    """Over-segment a clean field into pieces ordered left to right.

    Parameters
    ----------
    field : CleanField
        ``binary`` ``bool (H, W)`` with ``True`` = ink, plus ``body_height`` and ``baseline``
        (a ``body_height`` of 0 is estimated from the ink).
    config : SegmentConfig
        Parameters.

    Returns
    -------
    Segmentation
        ``labels`` ``int32 (H, W)`` (0 = background, ``k`` = piece ``k - 1``); every ink pixel
        belongs to exactly one piece. ``boxes`` the pieces' boxes, ``cut_x`` ``n + 1`` node
        positions. An empty field gives zero pieces and ``cut_x`` of length 1.

    Raises
    ------
    InvalidImageError
        When ``field.binary`` is not a 2-D array.
    """
    binary = check_image(field.binary, "field.binary", ndim=(2,))
    if binary.dtype != bool:
        binary = binary != 0
    binary = np.ascontiguousarray(binary)
    hh, ww = binary.shape
    n, lab, stats, _ = cv2.connectedComponentsWithStats(binary.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int64)  # the pixel count of each label
    stats = stats[1:, :4].astype(np.int64)
    if n <= 1:
        return Segmentation(
            labels=np.zeros((hh, ww), np.int32), boxes=(), cut_x=(0.0,),
            body_height=float(field.body_height), baseline=float(field.baseline),
        )
    bh = float(field.body_height)
    base = float(field.baseline)
    if not bh > 0:
        big = areas >= 0.25 * areas.max()
        bh = float(np.median(stats[big, 3]))
        base = float(np.median(stats[big, 1] + stats[big, 3] - 1))
    bh = max(bh, 4.0)
    sw = stroke_width(binary)
    comps = _Components.of(stats, areas)
    # 1. Merge fragments into the component that covers them horizontally.
    groups = _merge_fragments(comps, stats, bh, base, config)
    # 2. Split groups too wide for one character.
    subs, wide = _group_masks(lab, groups, comps, bh, config)
    cuts: list[list[np.ndarray]] = [[] for _ in subs]
    for k, c in zip(wide, _split_components([subs[k][4] for k in wide], bh, sw, config), strict=True):
        cuts[k] = c
    pieces = _cut_pieces(subs, cuts, groups)
    # 3. Order left to right and label.
    pieces.sort(key=lambda p: p[0])
    labels, boxes = _label_pieces(pieces, lab, n)
    return Segmentation(
        labels=labels, boxes=tuple(boxes), cut_x=_cut_positions(boxes), body_height=bh, baseline=base
    )


def _cut_positions(boxes: list[BBox]) -> tuple[float, ...]:
    """The nodes' x: the first box's left, midway between neighbouring boxes, the last's right."""
    cut_x = [float(boxes[0].x)]
    for a, b in zip(boxes[:-1], boxes[1:], strict=True):
        cut_x.append((a.x2 + b.x) / 2.0)
    cut_x.append(float(boxes[-1].x2))
    return tuple(cut_x)


@dataclass(frozen=True)
class _Components:
    """The connected components' boxes and areas as Python scalars (the loops over them look
    at a handful of components one by one): component ``k`` has label ``k + 1``."""

    x0: list[int]
    y0: list[int]
    w: list[int]
    h: list[int]
    x1: list[int]
    area: list[int]

    @classmethod
    def of(cls, stats: np.ndarray, areas: np.ndarray) -> _Components:
        """From ``stats`` ``(m, 4)`` (x, y, w, h) and ``areas`` ``(m,)``."""
        x0, y0, w, h = stats.T.tolist()
        return cls(x0, y0, w, h, (stats[:, 0] + stats[:, 2]).tolist(), areas.tolist())


# A piece: (x-centre, ys, xs, None) of a piece cut from its group, or (x-centre, members,
# None, box) of a whole group.
_Piece = tuple[float, Any, np.ndarray | None, BBox | None]


def _merge_fragments(comps: _Components, stats: np.ndarray, bh: float, base: float,
                     cfg: SegmentConfig) -> list[list[int]]:
    """Groups of components: each fragment joins the biggest component that covers enough of
    its width (chains resolved); groups in order of their root, members ascending."""
    m = len(comps.area)
    parent = np.arange(m)
    punct, dash = _classify_small(stats, bh, base)
    areas = np.asarray(comps.area, np.int64)
    by_area = np.argsort(-areas, kind="stable").tolist()
    area_l, small_l = comps.area, (punct | dash).tolist()
    x0_l, x1_l, w_l, h_l = comps.x0, comps.x1, comps.w, comps.h
    for i in np.argsort(areas, kind="stable").tolist():
        if small_l[i] or h_l[i] >= cfg.fragment_height * bh:
            continue
        best, best_ov = -1, cfg.merge_overlap * w_l[i]
        for j in by_area:
            if area_l[j] <= area_l[i]:
                break
            ov = min(x1_l[j], x1_l[i]) - max(x0_l[j], x0_l[i])
            if j != i and ov >= best_ov and not small_l[j]:
                best, best_ov = j, ov
        if best >= 0:
            parent[i] = best
    # Resolve chains (a fragment merged into a fragment that was merged).
    for _ in range(4):
        parent = parent[parent]
    groups: dict[int, list[int]] = {}
    for i, root in enumerate(parent.tolist()):
        groups.setdefault(root, []).append(i)
    return list(groups.values())


def _group_masks(lab: np.ndarray, groups: list[list[int]], comps: _Components, bh: float,
                 cfg: SegmentConfig) -> tuple[list[tuple[int, int, int, int, np.ndarray]], list[int]]:
    """Each group's box ``(x0, y0, x1, y1)`` and ink mask within it, and the indices of the
    groups wide enough to be searched for cuts."""
    lut = np.zeros(len(comps.area) + 1, np.int32)
    subs: list[tuple[int, int, int, int, np.ndarray]] = []
    wide: list[int] = []
    for members in groups:
        gx0 = min(comps.x0[k] for k in members)
        gx1 = max(comps.x1[k] for k in members)
        gy0 = min(comps.y0[k] for k in members)
        gy1 = max(comps.y0[k] + comps.h[k] for k in members)
        if gx1 - gx0 >= cfg.min_split_width * bh:
            wide.append(len(subs))
        crop = lab[gy0:gy1, gx0:gx1]
        if len(members) == 1:  # one component: its label alone (the usual case)
            sub = crop == members[0] + 1
        else:
            lut[:] = 0
            lut[np.asarray(members) + 1] = 1
            sub = lut[crop].astype(bool)
        subs.append((gx0, gy0, gx1, gy1, sub))
    return subs, wide


def _cut_pieces(subs: list[tuple[int, int, int, int, np.ndarray]], cuts: list[list[np.ndarray]],
                groups: list[list[int]]) -> list[_Piece]:
    """The pieces of every group: the parts between its cuts, or the whole group when uncut."""
    # (x-centre, ys, xs, box) of a piece cut from its group, or (x-centre, members, None,
    # box) of a whole group: its box is its components' box and its pixels are labelled
    # through its components' labels. The centre is the mean x of the ink (an integer sum
    # over the count, as np.mean).
    pieces: list[_Piece] = []
    for (gx0, gy0, gx1, gy1, sub), paths, members in zip(subs, cuts, groups, strict=True):
        if paths:
            ys, xs = np.divmod(np.flatnonzero(sub), sub.shape[1])  # sub.nonzero(), cheaper
            side = np.zeros(len(ys), np.int64)
            for p in paths:
                side += xs >= p[ys]
            for k in range(len(paths) + 1):
                sel = side == k
                if sel.any():
                    xk = xs[sel]
                    pieces.append((float(xk.sum() / len(xk)) + gx0, ys[sel] + gy0, xk + gx0, None))
        else:
            # Sum of the ink's x from the column counts, without listing the pixels.
            x_sum = int(sub.sum(axis=0) @ np.arange(sub.shape[1]))
            box = BBox(gx0, gy0, gx1 - gx0, gy1 - gy0)
            pieces.append((x_sum / int(np.count_nonzero(sub)) + gx0, members, None, box))
    return pieces


def _label_pieces(pieces: list[_Piece], lab: np.ndarray, n: int) -> tuple[np.ndarray, list[BBox]]:
    """The piece labels (piece ``k`` = ``k + 1``) and boxes of ``pieces`` in their order."""
    # Whole groups through a table of component labels, then the pixels of the pieces cut
    # from groups.
    piece_of = [0] * n
    cut_pieces: list[tuple[np.ndarray, np.ndarray, int]] = []
    boxes: list[BBox] = []
    for k, (_c, pys, pxs, known) in enumerate(pieces):
        if pxs is None:  # a whole group: its members' labels, and its box
            for c in pys:
                piece_of[c + 1] = k + 1
            boxes.append(cast(BBox, known))
        else:
            cut_pieces.append((pys, pxs, k + 1))
            x, y = int(pxs.min()), int(pys.min())
            boxes.append(BBox(x, y, int(pxs.max()) - x + 1, int(pys.max()) - y + 1))
    labels = np.asarray(piece_of, np.int32)[lab]
    for ys, xs, k in cut_pieces:
        labels[ys, xs] = k
    return labels, boxes


def segmentation_boundary_recall(
    seg: Segmentation, digit_boxes: Sequence[Sequence[int]]
) -> tuple[int, int]:
    """How many true boundaries between consecutive digits the segmentation can represent.

    Each piece is assigned to the digit box holding most of its ink pixels (none when no ink
    falls in any box). The boundary between digit ``k`` and ``k + 1`` is found when some node
    ``i`` leaves every assigned piece left of it at digits ``<= k`` and every assigned piece
    right of it at digits ``>= k + 1``, and digits ``k`` and ``k + 1`` each own at least one
    piece (when two digits share one piece, the digit that lost the vote owns none, and both
    of its boundaries count as missed).

    Parameters
    ----------
    seg : Segmentation
        The over-segmentation.
    digit_boxes : sequence of ``[digit, x, y, w, h]`` (or ``[x, y, w, h]``)
        The true digit boxes, left to right.

    Returns
    -------
    tuple of int
        ``(found, total)`` with ``total = len(digit_boxes) - 1`` (0 for fewer than 2 digits).
    """
    boxes = [tuple(int(v) for v in b[-4:]) for b in digit_boxes]
    nd = len(boxes)
    total = max(nd - 1, 0)
    if nd < 2:
        return 0, total
    labels = np.asarray(seg.labels)
    if labels.ndim != 2:
        raise InvalidImageError("seg.labels: expected a 2-D array")
    n = seg.n_pieces
    counts = np.zeros((n + 1, nd), np.int64)
    for d, (x, y, w, h) in enumerate(boxes):
        win = labels[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)]
        counts[:, d] = np.bincount(win.ravel(), minlength=n + 1)[: n + 1]
    counts = counts[1:]
    assign = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1), -1)
    owned = np.zeros(nd, bool)
    owned[assign[assign >= 0]] = True
    found = 0
    for k in range(nd - 1):
        # Two digits in one piece: the piece goes to one of them and the other owns nothing;
        # without this check the split would look found on both sides.
        if not (owned[k] and owned[k + 1]):
            continue
        for i in range(n + 1):
            left, right = assign[:i], assign[i:]
            if np.all(left[left >= 0] <= k) and np.all(right[right >= 0] >= k + 1):
                found += 1
                break
    return found, total
