"""Typed results passed between the stages (docs/design.md section 2). All frozen dataclasses.

Image conventions used throughout:

* grey images are ``uint8`` arrays ``(H, W)``, dark ink on light paper (0 = black);
* binary images are ``bool`` arrays ``(H, W)``, ``True`` = ink;
* boxes are ``BBox(x, y, w, h)`` in pixels of the image they refer to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "rejected", "error"]


@dataclass(frozen=True)
class BBox:
    """Axis-aligned box ``(x, y, w, h)``."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [int(self.x), int(self.y), int(self.w), int(self.h)]

    @property
    def x2(self) -> int:
        return self.x + self.w

    @property
    def y2(self) -> int:
        return self.y + self.h

    def iou(self, other: BBox) -> float:
        ix = max(0, min(self.x2, other.x2) - max(self.x, other.x))
        iy = max(0, min(self.y2, other.y2) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0

    def share_of(self, other: BBox) -> float:
        """The share of ``other``'s area inside this box."""
        ix = max(0, min(self.x2, other.x2) - max(self.x, other.x))
        iy = max(0, min(self.y2, other.y2) - max(self.y, other.y))
        return ix * iy / (other.w * other.h) if other.w * other.h > 0 else 0.0

    def holds(self, ink: BBox, share: float = 0.7, max_ratio: float = 8.0) -> bool:
        """Whether this zone holds the written amount ``ink``: at least ``share`` of it, in a
        zone no more than ``max_ratio`` times its area. A located field spans the printed
        box the amount was written in, so it is judged by what it holds, not by IoU with
        the ink alone."""
        return self.share_of(ink) >= share and self.w * self.h <= max_ratio * max(1, ink.w * ink.h)


@dataclass(frozen=True)
class Page:
    """One decoded page of an input file.

    ``image`` is grey ``uint8 (H, W)``; ``index`` is the page number in the file (0 = front);
    ``dpi`` is ``(x, y)`` when the file states it; ``meta`` carries format extras
    (e.g. ``x9_amount`` and ``x9_sequence`` for X9.37 items).
    """

    image: np.ndarray
    source: str = ""
    index: int = 0
    dpi: tuple[float, float] | None = None
    meta: Mapping[str, Any] = dc_field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    """Image-quality flags of a page (never fatal) and the measurements behind them."""

    flags: tuple[str, ...] = ()
    measures: Mapping[str, float] = dc_field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """A courtesy-amount zone candidate on a page: its box, its grey crop, its location penalty."""

    bbox: BBox
    image: np.ndarray
    penalty: float = 0.0


@dataclass(frozen=True)
class CleanField:
    """Output of ``clean``: the field binarised with background, guide lines and boxes removed.

    ``binary`` is ``bool (H, W)``, ``True`` = ink. ``body_height`` is the height in pixels of a
    digit body (the text's core height); ``baseline`` is the y of the line digits stand on.
    ``grey`` is the grey image the binary was made from (same shape).
    """

    binary: np.ndarray
    grey: np.ndarray
    body_height: float
    baseline: float


@dataclass(frozen=True)
class Segmentation:
    """Output of ``segment``: an over-segmentation of a clean field into ordered pieces.

    ``labels`` is ``int32 (H, W)``: 0 = background, ``k`` = ink of piece ``k-1`` (pieces are
    numbered left to right). ``boxes`` holds each piece's ``BBox``. The cut between piece
    ``i-1`` and piece ``i`` is node ``i`` of the segmentation graph; node 0 is before the first
    piece, node ``n`` after the last. ``cut_x`` gives the x of each node (``n + 1`` floats).
    """

    labels: np.ndarray
    boxes: tuple[BBox, ...]
    cut_x: tuple[float, ...]
    body_height: float
    baseline: float

    @property
    def n_pieces(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class SegmentationGraph:
    """The segmentation graph (docs/design.md section 3): a DAG over cut nodes ``0..n_nodes-1``.

    Arc ``a`` goes from ``src[a]`` to ``dst[a]`` and covers pieces ``src[a]..dst[a]-1``.
    ``images`` are the arcs' framed candidate inputs ``float32 (A, 32, 32)``; ``boxes`` the
    arcs' boxes ``int32 (A, 4)`` as ``x, y, w, h`` in field coordinates; ``geometric`` an extra
    per-arc penalty ``float32 (A,)`` added to every class; ``digit_penalty`` (None, or
    ``float32 (A,)``) one added to the digit classes only (geometry says the arc is a
    separator). ``only``: empty, or per arc the one
    character that arc may be read as (``""``: any); see :func:`chequereader.lattice.arc_penalties`.
    ``raised_from``: the node where a trailing run of small raised pieces (superscript cents)
    begins, -1 when the field does not end in one.
    Start node is 0, final node ``n_nodes - 1``.
    """

    n_nodes: int
    src: np.ndarray
    dst: np.ndarray
    images: np.ndarray
    boxes: np.ndarray
    geometric: np.ndarray
    only: tuple[str, ...] = ()
    digit_penalty: np.ndarray | None = None
    raised_from: int = -1

    @property
    def n_arcs(self) -> int:
        return int(len(self.src))

    @classmethod
    def of_arcs(cls, n_nodes: int, src: Any, dst: Any, *, raised_from: int = -1) -> SegmentationGraph:
        """A graph of these arcs alone, for decoding scores computed elsewhere: no candidate
        images (``(A, 0, 0)``), zero boxes and geometric penalties."""
        s = np.asarray(src).reshape(-1)
        d = np.asarray(dst).reshape(-1)
        a = len(s)
        return cls(n_nodes=n_nodes, src=s, dst=d, images=np.zeros((a, 0, 0), np.float32),
                   boxes=np.zeros((a, 4), np.int32), geometric=np.zeros(a, np.float32),
                   raised_from=raised_from)


@dataclass(frozen=True)
class Character:
    """One character on the best path: the symbol, its box in field coordinates, its penalty."""

    char: str
    bbox: BBox
    penalty: float


@dataclass(frozen=True)
class Alternative:
    """An n-best entry: a canonical amount, the string as written, and its posterior."""

    amount: str
    text: str
    confidence: float


@dataclass(frozen=True)
class AmountResult:
    """What the reader returns for one field or page (docs/design.md section 6)."""

    status: Status
    amount: str | None = None
    text: str = ""
    confidence: float = 0.0
    alternatives: tuple[Alternative, ...] = ()
    field: BBox | None = None
    characters: tuple[Character, ...] = ()
    quality: tuple[str, ...] = ()
    error: str | None = None
    timing_ms: Mapping[str, float] = dc_field(default_factory=dict)
    file: str = ""
    page: int = 0
    extra: Mapping[str, Any] = dc_field(default_factory=dict)
    # The calibration's evidence of this reading (``chequereader.calibration.FEATURES``
    # order); kept for ``calibrate`` and the evaluation report, not written to rows.
    features: tuple[float, ...] = ()

    def to_row(self) -> dict[str, Any]:
        """The output row of docs/design.md section 6: every key of :data:`ROW_COLUMNS`, in order.

        ``amount`` is the amount read only when ``status`` is ``ok``: a rejected or error
        row's is None, so that it never looks like a result. ``reading`` is the decoder's best
        amount whatever the status (:attr:`amount`); the reading also stays visible in
        ``text`` and ``alternatives``. The X9 keys (``x9_sequence``, ``x9_item``,
        ``x9_amount``, ``match``, ``x9_warnings``) are None on rows of other files; ``match``
        compares ``reading`` with ``x9_amount``. ``reject_reason`` says why a row was
        rejected when the reason is not its confidence (``"script:arabic-indic"``: written in
        digits the recognizer has no classes for; ``"sdnn-only"``: the second reader's
        reading, which the segmentation graph does not support); None otherwise. Keys of
        ``extra`` outside
        :data:`ROW_COLUMNS` follow them.
        """
        ex = dict(self.extra)
        row: dict[str, Any] = {
            "file": self.file,
            "page": self.page,
            "x9_sequence": ex.pop("x9_sequence", None),
            "status": self.status,
            "amount": self.amount if self.status == "ok" else None,
            "reading": self.amount,
            "text": self.text,
            "confidence": round(float(self.confidence), 6),
            "alternatives": [
                {"amount": a.amount, "text": a.text, "confidence": round(float(a.confidence), 6)}
                for a in self.alternatives
            ],
            "quality": list(self.quality),
            "x9_amount": ex.pop("x9_amount", None),
            "match": ex.pop("match", None),
            "error": self.error,
            "field": self.field.as_list() if self.field is not None else None,
            "characters": [
                {"char": c.char, "bbox": c.bbox.as_list(), "penalty": round(float(c.penalty), 4)}
                for c in self.characters
            ],
            "timing_ms": {k: round(float(v), 3) for k, v in self.timing_ms.items()},
            "x9_item": ex.pop("x9_item", None),
            "x9_warnings": ex.pop("x9_warnings", None),
            "reject_reason": ex.pop("reject_reason", None),
        }
        row.update(ex)
        return row


#: The keys of every output row, in order: JSON Lines objects and CSV columns alike (CSV
#: cells of lists and objects hold their JSON text).
ROW_COLUMNS = ("file", "page", "x9_sequence", "status", "amount", "reading", "text", "confidence",
               "alternatives", "quality", "x9_amount", "match", "error", "field", "characters",
               "timing_ms", "x9_item", "x9_warnings", "reject_reason")
CSV_COLUMNS = ROW_COLUMNS


def as_float_array(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
