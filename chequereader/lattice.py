"""The segmentation graph (DESIGN section 3): nodes = cuts, arcs = spans of 1..max_span pieces.

Every arc carries its candidate image, framed by the field's body height and baseline
(:func:`chequereader.framing.frame`), ready to be scored by LeNet-5 in one batch, and a
geometric penalty for candidates whose shape makes them unlikely to be one character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_range
from .framing import SIZE, frame
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

    max_span: int = 3
    max_width: float = 2.2
    max_gap: float = 0.6
    wide_start: float = 1.4
    wide_penalty: float = 4.0
    apart_penalty: float = 6.0
    apart_gap: float = 0.03


def build_graph(seg: Segmentation, config: LatticeConfig = LatticeConfig()) -> SegmentationGraph:
    """Build the segmentation graph of an over-segmented field.

    Parameters
    ----------
    seg : Segmentation
        Pieces ordered left to right (``labels`` int32 (H, W), piece ``k`` has label ``k+1``).
    config : LatticeConfig

    Returns
    -------
    SegmentationGraph
        ``n_nodes = n_pieces + 1``; arc ``(i, j)`` covers pieces ``i..j-1``; ``images``
        ``float32 (A, 32, 32)``. A field with no pieces gives one node and no arcs.

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
    src: list[int] = []
    dst: list[int] = []
    imgs: list[np.ndarray] = []
    boxes: list[tuple[int, int, int, int]] = []
    geo: list[float] = []
    bx = np.array([[b.x, b.y, b.x2, b.y2] for b in seg.boxes], np.int64).reshape(-1, 4)
    for i in range(n):
        for j in range(i + 1, min(n, i + config.max_span) + 1):
            x0, y0 = bx[i:j, 0].min(), bx[i:j, 1].min()
            x1, y1 = bx[i:j, 2].max(), bx[i:j, 3].max()
            width = (x1 - x0) / body
            if j - i > 1:
                if width > config.max_width:
                    break  # longer spans only get wider
                # the widest empty gap between consecutive joined pieces
                order = np.argsort(bx[i:j, 0], kind="stable")
                sub = bx[i:j][order]
                right = np.maximum.accumulate(sub[:, 2])[:-1]
                left = sub[1:, 0]
                gaps = left - right
                if len(left) and gaps.max() / body > config.max_gap:
                    continue
                apart = int((gaps >= max(1.0, config.apart_gap * body)).sum())
            else:
                apart = 0
            crop = seg.labels[y0:y1, x0:x1]
            mask = (crop > i) & (crop <= j)
            imgs.append(frame(mask, body, seg.baseline - y0))
            src.append(i)
            dst.append(j)
            boxes.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
            geo.append(max(0.0, width - config.wide_start) * config.wide_penalty
                       + apart * config.apart_penalty)
    return SegmentationGraph(
        n_nodes=n + 1,
        src=np.asarray(src, np.int64),
        dst=np.asarray(dst, np.int64),
        images=np.stack(imgs) if imgs else np.zeros((0, SIZE, SIZE), np.float32),
        boxes=np.asarray(boxes, np.int32).reshape(-1, 4),
        geometric=np.asarray(geo, np.float32),
    )
