"""Tests of the courtesy-amount locator on hand-made pages and synthetic cheques."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chequereader.errors import ConfigError, InvalidImageError
from chequereader.locate import LocateConfig, estimate_skew, locate_fields
from chequereader.synth import LAYOUTS, ChequeSynthConfig, FontGlyphs, amount_text, make_cheque


def _page_with_box() -> np.ndarray:
    page = np.full((550, 1200), 230, np.uint8)
    cv2.rectangle(page, (900, 150), (1150, 230), 40, 2)
    cv2.putText(page, "$", (850, 205), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    cv2.putText(page, "12.50", (950, 210), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.line(page, (50, 300), (1000, 300), 40, 2)
    return page


def test_blank_page_gives_nothing() -> None:
    assert locate_fields(np.full((550, 1200), 230, np.uint8)) == []


def test_bad_input_raises() -> None:
    with pytest.raises(InvalidImageError):
        locate_fields(np.zeros((0, 10), np.uint8))
    with pytest.raises(ConfigError):
        LocateConfig(max_fields=0)


def test_box_found_and_written_ink_boxed() -> None:
    fields = locate_fields(_page_with_box())
    assert 1 <= len(fields) <= 3
    best = fields[0].bbox
    # The written "12.50" spans about x 950..1080, y 180..212.
    assert 930 <= best.x <= 955 and 1075 <= best.x2 <= 1100
    assert 165 <= best.y <= 185 and 205 <= best.y2 <= 225
    assert fields[0].image.shape == (best.h, best.w)
    assert [f.penalty for f in fields] == sorted(f.penalty for f in fields)


@pytest.mark.parametrize("angle", [-2.0, 1.5])
def test_skew_estimate_and_boxes_mapped_back(angle: float) -> None:
    page = _page_with_box()
    m = cv2.getRotationMatrix2D((600, 275), angle, 1.0)
    rot = cv2.warpAffine(page, m, (1200, 550), borderValue=230)
    small = (cv2.resize(rot, (600, 275), interpolation=cv2.INTER_AREA) < 135).astype(np.uint8)
    assert estimate_skew(small) == pytest.approx(-angle, abs=0.3)
    best = locate_fields(rot)[0].bbox
    # Written ink of the unrotated page, rotated: compare with the returned (input-space) box.
    ink = np.zeros_like(page)
    cv2.putText(ink, "12.50", (950, 210), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 3)
    ys, xs = np.nonzero(cv2.warpAffine(ink, m, (1200, 550)) > 128)
    from chequereader.types import BBox
    truth = BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    assert best.iou(truth) > 0.5
    # The hull of the deskewed box contains the rotated ink.
    assert best.x <= truth.x and best.y <= truth.y and best.x2 >= truth.x2 and best.y2 >= truth.y2


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_locates_synthetic_cheques(layout: str) -> None:
    src = FontGlyphs()
    cfg = ChequeSynthConfig(p_open_box=0.0)
    hits = 0
    for i in range(4):
        rng = np.random.default_rng([11, i])
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, src, rng, cfg)
        fields = locate_fields(ch.image)
        hits += bool(fields) and fields[0].bbox.iou(ch.field_box) >= 0.5
    assert hits >= 3
