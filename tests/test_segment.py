"""Tests of chequereader.segment on tiny hand-made binary fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from chequereader.errors import ConfigError, InvalidImageError
from chequereader.segment import SegmentConfig, segment, segmentation_boundary_recall
from chequereader.types import BBox, CleanField, Segmentation

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "orand-car-a"


def _field(b: np.ndarray, body: float = 20.0, base: float | None = None) -> CleanField:
    if base is None:
        rows = np.flatnonzero(b.any(axis=1))
        base = float(rows[-1]) if len(rows) else float(b.shape[0] - 1)
    return CleanField(binary=b, grey=np.where(b, 0, 255).astype(np.uint8), body_height=body,
                      baseline=base)


def _check_partition(seg: Segmentation, b: np.ndarray) -> None:
    """Every ink pixel is in exactly one piece, no background pixel is."""
    assert seg.labels.dtype == np.int32 and seg.labels.shape == b.shape
    assert np.array_equal(seg.labels > 0, b)
    assert set(np.unique(seg.labels[b]).tolist()) == set(range(1, seg.n_pieces + 1))
    assert len(seg.cut_x) == seg.n_pieces + 1
    assert list(seg.cut_x) == sorted(seg.cut_x)


def test_empty_field_gives_no_pieces():
    b = np.zeros((20, 30), bool)
    seg = segment(_field(b, body=0.0))
    assert seg.n_pieces == 0
    assert seg.cut_x == (0.0,)
    assert not seg.labels.any()


def test_two_blobs_two_pieces_in_order():
    b = np.zeros((30, 50), bool)
    b[5:25, 30:36] = True  # right blob, higher: a raster scan meets it first
    b[8:25, 5:11] = True
    seg = segment(_field(b))
    assert seg.n_pieces == 2
    assert seg.boxes == (BBox(5, 8, 6, 17), BBox(30, 5, 6, 20))
    assert seg.cut_x == (5.0, (11 + 30) / 2.0, 36.0)
    assert (seg.labels[8:25, 5:11] == 1).all() and (seg.labels[5:25, 30:36] == 2).all()
    _check_partition(seg, b)


def test_two_touching_squares_are_split_near_the_touch():
    # Two hollow squares (like two '0's) 18 px wide, 2 px apart, touching by a bridge at
    # rows 10..12 (columns 19, 20).
    b = np.zeros((24, 44), bool)
    for x0 in (1, 21):
        b[2:22, x0 : x0 + 18] = True
        b[5:19, x0 + 3 : x0 + 15] = False
    b[10:13, 19:21] = True
    seg = segment(_field(b, body=20.0))
    _check_partition(seg, b)
    assert seg.n_pieces >= 2
    # Some node lies at the touching point and separates the two squares' pixels.
    k = int(np.argmin([abs(c - 20.0) for c in seg.cut_x]))
    assert abs(seg.cut_x[k] - 20.0) <= 1.0
    left = np.unique(seg.labels[:, :19])
    right = np.unique(seg.labels[:, 21:])
    assert left[left > 0].max() <= k < right[right > 0].min()


def test_wide_blob_is_split_into_several_pieces():
    # Three touching vertical bars joined at the bottom: 'uuu'-like, 3 body heights wide.
    b = np.zeros((24, 64), bool)
    for x0 in (2, 22, 42):
        b[2:22, x0 : x0 + 4] = True
    b[19:22, 2:46] = True
    seg = segment(_field(b, body=20.0))
    _check_partition(seg, b)
    assert seg.n_pieces >= 3
    # Each bar's column sits in a different piece.
    owners = [int(np.bincount(seg.labels[2:18, x0 : x0 + 4].ravel()).argmax()) for x0 in (2, 22, 42)]
    assert owners == sorted(owners) and len(set(owners)) == 3


def test_detached_top_fragment_merged_but_dot_kept():
    b = np.zeros((30, 60), bool)
    b[8:16, 5:8] = True  # a '5' without its top: stem,
    b[13:16, 5:16] = True  # ... bowl top,
    b[13:26, 13:16] = True  # ... bowl right side,
    b[23:26, 5:16] = True  # ... bowl bottom,
    b[3:6, 6:17] = True  # ... and its detached top bar
    b[23:26, 24:27] = True  # a '.' on the baseline
    b[8:26, 40:44] = True  # a '1'
    seg = segment(_field(b, body=18.0, base=25.0))
    _check_partition(seg, b)
    assert seg.n_pieces == 3
    assert seg.labels[4, 10] == seg.labels[10, 6] == 1
    assert seg.labels[24, 25] == 2
    assert seg.labels[15, 41] == 3


def test_pieces_ordered_by_x_centre():
    b = np.zeros((30, 60), bool)
    b[5:25, 40:44] = True
    b[5:25, 20:24] = True
    b[5:25, 2:6] = True
    seg = segment(_field(b))
    xs = [bx.x for bx in seg.boxes]
    assert xs == [2, 20, 40]


def test_recall_hand_made():
    b = np.zeros((20, 40), bool)
    b[2:18, 2:6] = True  # digit 0 ink
    b[2:18, 10:14] = True  # digit 1 ink
    b[2:18, 30:34] = True  # digit 2 ink
    labels = np.zeros((20, 40), np.int32)
    labels[2:18, 2:6] = 1
    labels[2:18, 10:14] = 2
    labels[2:18, 30:34] = 2  # digits 1 and 2 wrongly in one piece
    seg = Segmentation(labels=labels, boxes=(BBox(2, 2, 4, 16), BBox(10, 2, 24, 16)),
                       cut_x=(2.0, 8.0, 34.0), body_height=16.0, baseline=17.0)
    boxes = [[7, 1, 1, 6, 18], [1, 9, 1, 6, 18], [4, 29, 1, 6, 18]]
    assert segmentation_boundary_recall(seg, boxes) == (1, 2)
    good = segment(_field(b, body=16.0))
    assert segmentation_boundary_recall(good, boxes) == (2, 2)
    # A piece with no ink in any box (a separator) is ignored.
    labels2 = labels.copy()
    labels2[2:18, 30:34] = 3
    labels2[16:18, 20:22] = 3
    seg2 = Segmentation(labels=labels2, boxes=seg.boxes + (BBox(20, 16, 2, 2),),
                        cut_x=(2.0, 8.0, 20.0, 34.0), body_height=16.0, baseline=17.0)
    assert segmentation_boundary_recall(seg2, boxes) == (2, 2)
    assert segmentation_boundary_recall(seg, boxes[:1]) == (0, 0)


def test_invalid_inputs():
    with pytest.raises(InvalidImageError):
        segment(CleanField(np.zeros((2, 3, 4), bool), np.zeros((2, 3), np.uint8), 1.0, 1.0))
    with pytest.raises(ConfigError):
        SegmentConfig(merge_overlap=3.0)


def test_orand_sample_recall():
    if not (DATA / "labels.csv").exists():
        pytest.skip("ORAND-CAR-A data not available")
    cv2 = pytest.importorskip("cv2")
    from chequereader.clean import clean_field

    rows = list(csv.DictReader(open(DATA / "labels.csv", newline="")))[::40]
    found = total = 0
    for r in rows:
        img = cv2.imread(str(DATA / r["file"]), cv2.IMREAD_COLOR)
        seg = segment(clean_field(img))
        b = seg.labels > 0
        assert seg.n_pieces == len(np.unique(seg.labels[b]))
        f, t = segmentation_boundary_recall(seg, json.loads(r["digit_boxes"]))
        found, total = found + f, total + t
    assert total > 0
    assert found / total >= 0.95


def _touching_digits(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A blob of random strokes: loops and bars that touch, the kind that gets split."""
    m = np.zeros((h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(int(rng.integers(1, 5))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(2, max(3.0, h / 2))
        d = np.hypot(yy - cy, xx - cx)
        m |= (d < r) & (d > r - rng.uniform(1.5, 4))
    m[rng.integers(h), :] |= rng.random() < 0.3
    if not m.any():
        m[h // 2, :] = True
    return m


def test_split_components_together_equals_one_by_one():
    from chequereader.segment import (
        _cut_paths,
        _cut_paths_many,
        _split_component,
        _split_components,
    )

    rng = np.random.default_rng(2)
    cfg = SegmentConfig()
    n_cuts = 0
    for _ in range(40):
        masks = [_touching_digits(rng, int(rng.integers(1, 60)), int(rng.integers(1, 90)))
                 for _ in range(int(rng.integers(1, 6)))]
        bh, sw = float(rng.uniform(10, 50)), float(rng.uniform(1, 5))
        step = float(rng.choice([0.0, 0.35, 1.0]))
        usable = [m for m in masks if m.shape[0] >= 2 and m.shape[1] >= 3]
        if usable:
            acc, offsets = _cut_paths_many(usable, step)
            for m, o in zip(usable, offsets):
                h, w = m.shape
                assert np.array_equal(acc[acc.shape[0] - h :, o : o + w + 2], _cut_paths(m, step))
        one = [_split_component(m, bh, sw, cfg) for m in masks]
        together = _split_components(masks, bh, sw, cfg)
        assert len(one) == len(together)
        for a, b in zip(one, together):
            assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))
            n_cuts += len(a)
    assert n_cuts > 20  # the comparison covered real cuts, not only empty lists


def test_zeros_written_in_one_stroke_are_cut_between_their_loops():
    import cv2

    from chequereader.segment import SegmentConfig

    ink = np.zeros((44, 110), np.uint8)
    centres = (20, 47, 74)  # three rings that overlap: "000" without lifting the pen
    for cx in centres:
        cv2.ellipse(ink, (cx, 22), (14, 15), 0, 0, 360, 1, 3)
    field = CleanField(ink > 0, np.zeros(ink.shape, np.uint8), 30.0, 37.0)
    seg = segment(field)
    for a, b in zip(centres[:-1], centres[1:]):
        assert any(a + 4 < x < b - 4 for x in seg.cut_x[1:-1]), (a, b, seg.cut_x)
    # the cuts between the loops come first, so that no other cut is needed near them
    off = segment(field, SegmentConfig(hole_cut=0.0))
    assert 3 <= seg.n_pieces <= off.n_pieces
