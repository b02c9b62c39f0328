from dataclasses import replace

import numpy as np
import pytest

from chequereader.framing import BACKGROUND
from chequereader.lattice import BARRED, LatticeConfig, arc_penalties, build_graph, unrestricted
from chequereader.types import BBox, Segmentation


def _seg(blocks, h=40, body=20.0, base=30.0):
    lab = np.zeros((h, max(b[0] + b[2] for b in blocks) + 5), np.int32)
    boxes = []
    for k, (x, y, w, hh) in enumerate(blocks):
        lab[y : y + hh, x : x + w] = k + 1
        boxes.append(BBox(x, y, w, hh))
    cut = [float(boxes[0].x)] + [(a.x2 + b.x) / 2 for a, b in zip(boxes, boxes[1:])] + [float(boxes[-1].x2)]
    return Segmentation(lab, tuple(boxes), tuple(cut), body, base)


def test_arcs_are_spans_of_up_to_max_span_pieces():
    seg = _seg([(0, 10, 6, 20), (8, 10, 6, 20), (16, 10, 6, 20), (24, 10, 6, 20)])
    g = build_graph(seg, LatticeConfig(max_span=3, max_width=10, max_gap=10, max_geometric=np.inf))
    arcs = set(zip(g.src.tolist(), g.dst.tolist()))
    assert arcs == {(i, j) for i in range(4) for j in range(i + 1, min(4, i + 3) + 1)}
    assert g.n_nodes == 5 and g.images.shape == (g.n_arcs, 32, 32) and g.images.dtype == np.float32
    # arc (0, 2) box covers pieces 0 and 1 exactly
    a = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (0, 2)][0]
    assert g.boxes[a].tolist() == [0, 10, 14, 20]


def test_candidate_image_holds_only_its_pieces():
    seg = _seg([(0, 10, 6, 20), (8, 28, 3, 3)])  # a digit and a small dot on the baseline
    g = build_graph(seg)
    single_dot = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (1, 2)][0]
    img = g.images[single_dot]
    assert (img > 0.3).sum() < 20  # framed by the field's body: stays small
    ys, _ = np.nonzero(img > 0.3)
    assert ys.min() > 16  # and low


def test_wide_and_gapped_spans_are_left_out():
    seg = _seg([(0, 10, 10, 20), (60, 10, 10, 20)])  # far apart: no arc can join them
    g = build_graph(seg)
    assert (0, 2) not in set(zip(g.src.tolist(), g.dst.tolist()))
    seg = _seg([(0, 10, 18, 20), (19, 10, 18, 20), (38, 10, 18, 20)])
    g = build_graph(seg, LatticeConfig(max_width=2.0, max_geometric=np.inf))
    assert (0, 3) not in set(zip(g.src.tolist(), g.dst.tolist()))
    wide = [k for k in range(g.n_arcs) if (g.src[k], g.dst[k]) == (0, 2)][0]
    assert g.geometric[wide] > 0 and g.geometric[0] == 0


def test_arcs_whose_geometry_alone_costs_more_than_max_geometric_are_left_out():
    # Three strokes standing apart: joining two costs one apart penalty, joining all three two.
    seg = _seg([(0, 10, 6, 20), (10, 10, 6, 20), (20, 10, 6, 20)])
    cfg = LatticeConfig(max_width=10, max_gap=10, apart_penalty=14.0, wide_penalty=0.0)
    every = build_graph(seg, replace(cfg, max_geometric=np.inf))
    assert (0, 3) in set(zip(every.src.tolist(), every.dst.tolist()))
    assert float(every.geometric.max()) == 28.0
    kept = build_graph(seg, replace(cfg, max_geometric=20.0))
    arcs = set(zip(kept.src.tolist(), kept.dst.tolist()))
    assert (0, 3) not in arcs and {(0, 2), (1, 3), (0, 1)} <= arcs
    assert kept.n_arcs == every.n_arcs - 1 and kept.images.shape == (kept.n_arcs, 32, 32)


def test_empty_segmentation_gives_one_node_no_arcs():
    seg = Segmentation(np.zeros((10, 10), np.int32), (), (0.0,), 0.0, 9.0)
    g = build_graph(seg)
    assert g.n_nodes == 1 and g.n_arcs == 0 and g.images.shape == (0, 32, 32)
    assert np.all(build_graph(_seg([(0, 10, 6, 20)])).images[0][0] == np.float32(BACKGROUND))


def _reference_images(seg, g):
    """Each arc's image as `frame` gives it for the arc's pieces cropped to the arc's box."""
    from chequereader.framing import frame

    out = []
    for i, j, (x, y, w, h) in zip(g.src, g.dst, g.boxes):
        crop = seg.labels[y : y + h, x : x + w]
        out.append(frame((crop > i) & (crop <= j), max(seg.body_height, 1.0), seg.baseline - y))
    return np.stack(out)


def test_images_equal_frame_of_each_arc_on_random_segmentations():
    from chequereader.segment import segment
    from chequereader.types import CleanField

    rng = np.random.default_rng(11)
    n_arcs = 0
    for _ in range(20):
        b = np.zeros((48, 160), bool)
        x = 3
        while x < 140:  # blobs of random size and height, some touching, some apart
            w, h, y = int(rng.integers(3, 22)), int(rng.integers(3, 30)), int(rng.integers(4, 20))
            b[y : y + h, x : x + w] = rng.random((h, w)) < 0.8
            x += w + int(rng.integers(-2, 6))
        seg = segment(CleanField(b, np.zeros(b.shape, np.uint8), 24.0, 40.0))
        g = build_graph(seg, LatticeConfig(superscript_penalty=np.inf, dash_penalty=np.inf,
                                          loop_penalty=np.inf))  # body-framed only
        n_arcs += g.n_arcs
        assert np.array_equal(g.images, _reference_images(seg, g))
    assert n_arcs > 100


def test_boxes_not_tight_around_the_ink_fall_back_to_frame():
    seg = _seg([(0, 10, 6, 20), (8, 10, 6, 20)])
    loose = Segmentation(seg.labels, (BBox(0, 8, 7, 24), seg.boxes[1]), seg.cut_x, 20.0, 30.0)
    g = build_graph(loose)
    assert np.array_equal(g.images, _reference_images(loose, g))


def test_trailing_raised_small_pieces_also_framed_by_their_own_box():
    from chequereader.framing import frame

    # body 20, baseline 30: two full digits, then "00" written small and raised (rows 10..19,
    # bottoms 10 px above the baseline) as superscript cents.
    seg = _seg([(0, 11, 8, 20), (10, 11, 8, 20), (22, 10, 5, 10), (29, 10, 5, 10)])
    g = build_graph(seg, LatticeConfig(max_width=10, max_gap=10))
    arcs = list(zip(g.src.tolist(), g.dst.tolist()))
    base = build_graph(seg, LatticeConfig(max_width=10, max_gap=10, superscript_penalty=np.inf))
    extra = arcs[base.n_arcs:]
    assert sorted(extra) == [(2, 3), (2, 4), (3, 4)]
    a = base.n_arcs + extra.index((2, 3))
    own = frame(seg.labels[10:20, 22:27] == 3)
    assert np.array_equal(g.images[a], own)
    assert (g.images[a] > 0.3).sum() > 2 * (base.images[arcs.index((2, 3))] > 0.3).sum()
    assert g.geometric[a] == base.geometric[arcs.index((2, 3))] + 1.0
    assert g.only == ()  # any character
    assert g.raised_from == 2 and base.raised_from == -1  # where the cents begin, for decode
    # no cents in `cl` amounts: no superscript reading (small trailing zeros instead)
    assert build_graph(seg, LatticeConfig(max_width=10, max_gap=10, small_end_penalty=np.inf),
                       "cl").n_arcs == base.n_arcs
    # a raised piece followed by one on the baseline is not superscript
    seg2 = _seg([(0, 11, 8, 20), (10, 10, 5, 10), (17, 11, 8, 20)])
    assert build_graph(seg2).n_arcs == build_graph(seg2, LatticeConfig(superscript_penalty=np.inf)).n_arcs
    assert build_graph(seg2).raised_from == -1
    assert build_graph(seg, LatticeConfig(max_width=10, max_gap=10), "cl").raised_from == -1


def test_slanted_neighbours_that_do_not_touch_stand_apart():
    from chequereader.types import BBox, Segmentation

    # Two pieces whose boxes share one of their 7 columns but whose ink does not touch (two
    # slanted digits); and the same two pieces joined by a pixel bridge (one digit cut in two).
    def two(touch: bool):
        lab = np.zeros((40, 40), np.int32)
        for r in range(10, 30):  # slanted strokes, each 7 columns wide
            x = 2 + (30 - r) // 4
            lab[r, x : x + 2] = 1
            lab[r, x + 6 : x + 8] = 2
        if touch:
            lab[20, 6:10] = 1
        boxes = []
        for k in (1, 2):
            ys, xs = np.nonzero(lab == k)
            boxes.append(BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1))
        return Segmentation(lab, tuple(boxes), (0.0, 11.0, 40.0), 20.0, 29.0)

    cfg = LatticeConfig(max_width=10, max_gap=10)
    for touch, extra in ((False, cfg.apart_penalty), (True, 0.0)):
        seg = two(touch)
        assert seg.boxes[0].x2 > seg.boxes[1].x  # the boxes overlap in x
        g = build_graph(seg, cfg)
        off = build_graph(seg, LatticeConfig(max_width=10, max_gap=10, apart_overlap=0.0))
        a = list(zip(g.src.tolist(), g.dst.tolist())).index((0, 2))
        assert g.geometric[a] == pytest.approx(off.geometric[a] + extra), touch


def test_small_trailing_zeros_of_cl_amounts_get_own_box_arcs_read_only_as_0():
    from chequereader.framing import frame

    # body 20, baseline 30: "6" then "00" written small on the baseline (rows 20..29), then
    # a '-' (3 px high): the `cl` thousands' zeros.
    seg = _seg([(0, 11, 8, 20), (10, 20, 7, 10), (19, 20, 7, 10), (28, 24, 6, 3)])
    cfg = LatticeConfig(max_width=10, max_gap=10, max_geometric=np.inf)
    base = build_graph(seg, LatticeConfig(max_width=10, max_gap=10, small_end_penalty=np.inf, max_geometric=np.inf), "cl")
    g = build_graph(seg, cfg, "cl")
    arcs = list(zip(g.src.tolist(), g.dst.tolist()))
    extra = arcs[base.n_arcs:]
    # spans of up to 2 trailing pieces under 0.75 body, at least 0.3 body high: not the '-' alone
    assert sorted(extra) == [(1, 2), (1, 3), (2, 3), (2, 4)]
    wider = build_graph(seg, LatticeConfig(max_width=10, max_gap=10, small_end_span=3, max_geometric=np.inf), "cl")
    assert len(wider.only) == base.n_arcs + 5  # and (1, 4), the zeros with the '-'
    assert g.only == ("",) * base.n_arcs + ("0",) * len(extra)
    a = base.n_arcs + extra.index((1, 2))
    assert np.array_equal(g.images[a], frame(seg.labels[20:30, 10:17] == 2))
    # the recognizer's penalties: every class but '0' barred on those arcs, the others as given
    chars = tuple("0123456789-")
    rec = np.arange(g.n_arcs * len(chars), dtype=np.float32).reshape(g.n_arcs, len(chars)) % 7
    pen = arc_penalties(g, rec.copy(), chars)
    assert np.array_equal(pen[: base.n_arcs], rec[: base.n_arcs] + g.geometric[: base.n_arcs, None])
    assert (pen[base.n_arcs:, 1:] == BARRED).all()
    assert np.array_equal(pen[base.n_arcs:, 0], rec[base.n_arcs:, 0] + g.geometric[base.n_arcs:])
    # training graphs leave them out; other locales do not make them
    u = unrestricted(g)
    assert u.n_arcs == base.n_arcs and u.only == () and np.array_equal(u.images, base.images)
    assert build_graph(seg, cfg, "us").only == ()


def test_a_long_comma_below_the_baseline_and_a_tall_slash_cost_more_as_digits():
    # body 20, baseline 30: a digit (rows 10-29), a comma hanging from mid-body to under the
    # baseline (rows 22-35), another digit, and a slash from above the body to under the
    # baseline (rows 0-37): the comma and the slash are not digits.
    seg = _seg([(0, 10, 8, 20), (12, 22, 4, 14), (20, 10, 8, 20), (32, 0, 5, 38)], h=40)
    cfg = LatticeConfig(max_span=1)
    g = build_graph(seg, cfg)
    assert g.digit_penalty is not None
    assert g.digit_penalty.tolist() == [0.0, cfg.low_digit_penalty, 0.0, cfg.low_digit_penalty]
    chars = tuple("0123456789,/")
    pen = arc_penalties(g, np.zeros((g.n_arcs, len(chars)), np.float32), chars)
    assert pen[1, chars.index("1")] == cfg.low_digit_penalty and pen[1, chars.index(",")] == 0.0
    assert pen[3, chars.index("7")] == cfg.low_digit_penalty and pen[3, chars.index("/")] == 0.0
    assert not pen[0].any() and not pen[2].any()
    # off: no penalty array at all
    assert build_graph(seg, replace(cfg, low_digit_penalty=0.0)).digit_penalty is None
    # kept through unrestricted()
    assert unrestricted(g).digit_penalty.tolist() == g.digit_penalty.tolist()


def test_small_zeros_on_the_baseline_are_not_separators():
    # Small trailing zeros (half the body, sitting on the baseline) do not hang below it.
    seg = _seg([(0, 10, 8, 20), (12, 20, 8, 10), (22, 20, 8, 10)], h=40)
    g = build_graph(seg, LatticeConfig(max_span=1))
    assert g.digit_penalty is not None and not g.digit_penalty.any()


def test_a_flat_piece_gets_a_dash_arc_framed_at_the_middle_of_the_body():
    # body 20, baseline 30: a digit, then a dash drawn at the top of the body (rows 11-13).
    seg = _seg([(0, 10, 8, 20), (12, 11, 14, 3)], h=40)
    cfg = LatticeConfig(max_span=1)
    g = build_graph(seg, cfg, locale="in")
    assert g.n_arcs == 3 and g.only == ("", "", "-")
    assert (g.src[2], g.dst[2]) == (1, 2) and g.geometric[2] == g.geometric[1] + cfg.dash_penalty
    # the copy's ink sits lower in the frame than the body-framed one's: at the body's middle
    rows = lambda im: np.flatnonzero((im != BACKGROUND).any(axis=1))  # noqa: E731
    assert rows(g.images[2]).mean() > rows(g.images[1]).mean() + 3
    chars = tuple("0123456789-.")
    pen = arc_penalties(g, np.zeros((3, len(chars)), np.float32), chars)
    assert pen[2, chars.index("-")] == cfg.dash_penalty and pen[2, chars.index(".")] == BARRED
    # in cl too ("25754-"), none when off, and training graphs leave the restricted copy out
    assert build_graph(seg, cfg, locale="cl").only == ("", "", "-")
    assert build_graph(seg, replace(cfg, dash_penalty=float("inf")), locale="in").n_arcs == 2
    assert unrestricted(g).n_arcs == 2


def _two_loops(cut_x):
    """Two zeros written in one stroke (rings sharing a side), cut at column ``cut_x``."""
    import cv2

    ink = np.zeros((40, 70), np.uint8)
    cv2.ellipse(ink, (22, 20), (12, 14), 0, 0, 360, 1, 3)
    cv2.ellipse(ink, (45, 20), (12, 14), 0, 0, 360, 1, 3)
    lab = np.zeros(ink.shape, np.int32)
    lab[:, :cut_x][ink[:, :cut_x] > 0] = 1
    lab[:, cut_x:][ink[:, cut_x:] > 0] = 2
    boxes = []
    for k in (1, 2):
        ys, xs = np.nonzero(lab == k)
        boxes.append(BBox(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return Segmentation(lab, tuple(boxes), (float(boxes[0].x), float(cut_x), float(boxes[1].x2)), 28.0, 34.0)


def test_a_loop_opened_by_a_cut_gets_a_second_arc_with_its_whole_ring():
    # The cut runs left of the shared side: the left zero's piece is a "C", the shared
    # side belongs to the right zero's piece.
    seg = _two_loops(31)
    cfg = LatticeConfig(max_geometric=np.inf)
    g = build_graph(seg, cfg)
    plain = build_graph(seg, replace(cfg, loop_penalty=np.inf))
    arcs = list(zip(g.src.tolist(), g.dst.tolist()))
    assert plain.n_arcs == 3 and g.n_arcs == 4 and arcs[3] == (0, 1)
    assert g.geometric[3] == pytest.approx(g.geometric[0] + cfg.loop_penalty)
    # the copy's box reaches over the shared side; its image holds more ink than the C's
    assert g.boxes[3][0] == g.boxes[0][0] and g.boxes[3][2] > g.boxes[0][2]
    assert (g.images[3] > 0.5).sum() > (g.images[0] > 0.5).sum()
    assert np.array_equal(g.images[:3], plain.images)


def test_a_loop_cut_into_its_own_halves_gets_no_second_arc():
    # One zero cut through its middle: each half lies mostly inside the ring, and the arc
    # joining both reads it whole, so no half is made a whole zero (one zero read as two).
    import cv2

    ink = np.zeros((40, 40), np.uint8)
    cv2.ellipse(ink, (20, 20), (12, 14), 0, 0, 360, 1, 3)
    lab = np.zeros(ink.shape, np.int32)
    lab[:, :20][ink[:, :20] > 0] = 1
    lab[:, 20:][ink[:, 20:] > 0] = 2
    seg = Segmentation(lab, (BBox(7, 5, 13, 31), BBox(20, 5, 14, 31)), (7.0, 20.0, 34.0), 28.0, 34.0)
    g = build_graph(seg, LatticeConfig(max_geometric=np.inf))
    assert g.n_arcs == 3


def test_two_dashes_one_above_the_other_get_an_arc_read_only_as_a_dash():
    # "2.089=": the ending as two short dashes stacked (pieces 1 and 2), after a digit
    seg = _seg([(0, 10, 6, 20), (10, 14, 9, 3), (10, 22, 10, 3)], body=20.0, base=30.0)
    cfg = LatticeConfig(max_geometric=np.inf)
    g = build_graph(seg, cfg)
    off = build_graph(seg, replace(cfg, double_dash_penalty=np.inf))
    extra = [a for a in range(g.n_arcs) if g.only and g.only[a] == "-"
             and (g.src[a], g.dst[a]) == (1, 3)]
    assert len(extra) == 1 and g.n_arcs == off.n_arcs + 1
    a = extra[0]
    plain = [k for k in range(off.n_arcs) if (off.src[k], off.dst[k]) == (1, 3)][0]
    assert g.geometric[a] == pytest.approx(off.geometric[plain] + cfg.double_dash_penalty)
    # framed as one dash: a single flat run of ink rows
    rows = np.nonzero((g.images[a] > 0.5).any(axis=1))[0]
    assert len(rows) and rows.max() - rows.min() < 6
    pen = arc_penalties(g, np.zeros((g.n_arcs, 3), np.float32), ["0", "-", "."])
    assert pen[a, 0] == BARRED and pen[a, 1] < BARRED
    # side by side ("--"), not stacked: no such arc
    side = _seg([(0, 10, 6, 20), (10, 22, 9, 3), (22, 22, 9, 3)])
    assert build_graph(side, cfg).n_arcs == build_graph(side, replace(cfg, double_dash_penalty=np.inf)).n_arcs


def test_a_slash_and_dash_in_one_movement_get_an_arc_read_only_as_a_dash():
    # body 20, baseline 30: two digits, a slash from above the body to under the baseline
    # (rows 4-33), and the dash drawn from it, cut into two flat pieces: "00/-"
    blocks = [(0, 10, 8, 20), (12, 10, 8, 20), (24, 4, 6, 30), (30, 18, 10, 3), (40, 18, 10, 3)]
    cfg = LatticeConfig(max_geometric=np.inf)
    g = build_graph(_seg(blocks), cfg, locale="in")
    off = build_graph(_seg(blocks), replace(cfg, slash_dash_penalty=np.inf), locale="in")
    extra = [a for a in range(g.n_arcs) if (g.src[a], g.dst[a]) == (2, 5) and g.only[a] == "-"]
    assert g.n_arcs == off.n_arcs + 1 and len(extra) == 1
    a = extra[0]
    assert g.only[a] == "-" and g.geometric[a] == pytest.approx(cfg.slash_dash_penalty)
    assert tuple(g.boxes[a]) == (24, 4, 26, 30)
    # framed as the dash alone: one flat run of ink rows
    rows = np.nonzero((g.images[a] > 0.5).any(axis=1))[0]
    assert len(rows) and rows.max() - rows.min() < 6
    pen = arc_penalties(g, np.zeros((g.n_arcs, 3), np.float32), ["4", "-", "/"])
    assert pen[a, 0] == BARRED and pen[a, 2] == BARRED and pen[a, 1] < BARRED
    assert unrestricted(g).n_arcs == unrestricted(off).n_arcs
    # a dash apart from the stroke before it ("1 -"), or a digit-high 1 on the baseline
    # before a dash ("001-"): no such arc
    apart = [(0, 10, 8, 20), (12, 10, 8, 20), (24, 4, 6, 30), (34, 18, 10, 3), (44, 18, 10, 3)]
    one = [(0, 10, 8, 20), (12, 10, 8, 20), (24, 10, 4, 20), (28, 18, 10, 3), (38, 18, 10, 3)]
    for other in (apart, one):
        assert build_graph(_seg(other), cfg, locale="in").n_arcs == \
            build_graph(_seg(other), replace(cfg, slash_dash_penalty=np.inf), locale="in").n_arcs
