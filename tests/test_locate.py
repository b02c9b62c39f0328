"""Tests of the courtesy-amount locator on hand-made pages and synthetic cheques."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chequereader.errors import ConfigError, InvalidImageError
from chequereader.locate import LocateConfig, _find_boxes, _page_quad, estimate_skew, locate_fields
from chequereader.synth import LAYOUTS, ChequeSynthConfig, FontGlyphs, amount_text, make_cheque
from chequereader.types import BBox

PAPER = 230
# The ink-hull extent: the tests of which ink makes a field compare against the ink's box.
INK = LocateConfig(box_extent=False)


def _blank() -> np.ndarray:
    return np.full((550, 1200), PAPER, np.uint8)


def _page_with_box() -> np.ndarray:
    page = _blank()
    cv2.rectangle(page, (900, 150), (1150, 230), 40, 2)
    cv2.putText(page, "$", (850, 205), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    cv2.putText(page, "12.50", (950, 210), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.line(page, (50, 300), (1000, 300), 40, 2)
    return page


def _ink_box(page: np.ndarray, x0: int, y0: int, x1: int, y1: int, thr: int = 128) -> BBox:
    ys, xs = np.nonzero(page[y0:y1, x0:x1] < thr)
    return BBox(x0 + int(xs.min()), y0 + int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)


def _inside(a: BBox, b: BBox) -> float:
    """Share of box ``a``'s area inside box ``b``."""
    ix = max(0, min(a.x2, b.x2) - max(a.x, b.x))
    iy = max(0, min(a.y2, b.y2) - max(a.y, b.y))
    return ix * iy / max(1, a.w * a.h)


def test_blank_page_gives_nothing() -> None:
    assert locate_fields(_blank()) == []
    assert locate_fields(np.zeros((550, 1200), np.uint8)) == []


def test_bad_input_raises() -> None:
    with pytest.raises(InvalidImageError):
        locate_fields(np.zeros((0, 10), np.uint8))
    with pytest.raises(ConfigError):
        LocateConfig(max_fields=0)
    with pytest.raises(ConfigError):
        LocateConfig(ink_level=1.5)


def test_box_found_and_written_ink_boxed_without_rules() -> None:
    page = _page_with_box()
    fields = locate_fields(page, LocateConfig(box_extent=False))
    assert 1 <= len(fields) <= 3
    best = fields[0].bbox
    ink = _ink_box(page, 905, 155, 1146, 226)  # the written "12.50" inside the box
    assert best.iou(ink) > 0.6
    # Padded around the ink, but not out to the box's rules (x 900/1150, y 150/230).
    assert 902 < best.x <= ink.x and ink.x2 <= best.x2 < 1148
    assert 152 < best.y <= ink.y and ink.y2 <= best.y2 < 228
    assert fields[0].image.shape == (best.h, best.w)
    assert [f.penalty for f in fields] == sorted(f.penalty for f in fields)


def test_printed_sign_inside_box_left_out_and_dash_kept() -> None:
    # CTS-2010 style: the sign printed inside the box; the amount ends in a long dash.
    page = _blank()
    cv2.rectangle(page, (860, 150), (1160, 230), 40, 2)
    cv2.putText(page, "S", (872, 205), cv2.FONT_HERSHEY_DUPLEX, 1.3, 40, 3)  # the printed sign
    cv2.putText(page, "305/", (935, 212), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.line(page, (1065, 195), (1135, 195), 20, 3)                          # the dash of "/-"
    best = locate_fields(page, INK)[0].bbox
    sign = _ink_box(page, 865, 155, 925, 226)
    assert best.x > sign.x2
    assert best.x2 >= 1135
    assert best.iou(_ink_box(page, 930, 155, 1150, 226)) > 0.6


def test_faint_writing_next_to_black_print() -> None:
    page = _page_with_box()
    page[155:226, 905:1146] = PAPER
    cv2.putText(page, "12.50", (950, 210), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 170, 2)  # light pen
    cv2.putText(page, "BANK OF NOWHERE", (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 4)
    best = locate_fields(page, INK)[0].bbox
    assert best.iou(_ink_box(page, 905, 155, 1146, 226, thr=200)) > 0.5


def test_open_box_amount_line_beats_signature_line() -> None:
    page = _blank()
    cv2.line(page, (190, 230), (830, 230), 40, 2)    # payee line
    cv2.line(page, (900, 230), (1150, 230), 40, 2)   # amount line continuing it
    cv2.putText(page, "$", (860, 222), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 3)
    cv2.putText(page, "47.10", (940, 220), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 20, 3)
    cv2.line(page, (720, 440), (1140, 440), 40, 2)   # signature line, with a scribble
    pts = np.array([[740 + 8 * k, 420 - int(12 * np.sin(k / 3))] for k in range(45)], np.int32)
    cv2.polylines(page, [pts], False, 20, 3)
    best = locate_fields(page)[0].bbox
    assert best.iou(_ink_box(page, 920, 180, 1150, 228)) > 0.6


def test_short_amount_in_long_box_is_not_an_empty_box() -> None:
    # "39" in a thin pen: under 2 % of a long box's area, but a digit's worth of its height.
    # Taken for empty, the box lost to the date line (issue 4, in_cts and cl pages).
    page = _blank()
    cv2.line(page, (800, 100), (1150, 100), 40, 2)  # date line, with a date on it
    cv2.putText(page, "04/06/2020", (830, 90), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.rectangle(page, (840, 180), (1190, 280), 40, 2)
    cv2.putText(page, "$", (795, 245), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    cv2.putText(page, "39", (900, 245), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 20, 1)
    best = locate_fields(page, INK)[0].bbox
    assert best.iou(_ink_box(page, 845, 185, 1185, 275)) > 0.5


def test_run_along_a_longer_ruling_is_no_amount_line() -> None:
    # Cursive joins of a legal amount written on its line make a horizontal run just under
    # that line; it must not be taken for an amount line over the real (high, Chilean) one.
    page = _blank()
    cv2.line(page, (900, 120), (1150, 120), 40, 2)
    cv2.putText(page, "$", (860, 112), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 3)
    cv2.putText(page, "361.854", (930, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 20, 2)
    cv2.line(page, (50, 330), (1000, 330), 40, 2)
    cv2.putText(page, "ochocientos", (560, 326), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.line(page, (560, 341), (700, 341), 20, 2)
    fields = locate_fields(page)
    assert fields[0].bbox.iou(_ink_box(page, 905, 70, 1150, 117)) > 0.6
    assert all(f.bbox.y < 250 for f in fields)


def test_box_needs_rulings_across_its_width() -> None:
    # Work-scale binary: an amount line, a short pen stroke above it, a printed sign's stem
    # and a digit's side at the stroke's height. Not a box; with a full top ruling, a box.
    b = np.zeros((275, 600), np.uint8)
    b[65, 398:570] = 1
    b[47, 466:503] = 1
    b[40:65, 406] = 1
    b[45:65, 501] = 1
    cfg = LocateConfig()
    assert _find_boxes(b, [(398, 570, 65.0), (466, 503, 47.0)], 600, 275, cfg)[0] == []
    b[47, 406:502] = 1
    zones = _find_boxes(b, [(398, 570, 65.0), (406, 502, 47.0)], 600, 275, cfg)[0]
    assert [z.rect for z in zones] == [(406, 47.0, 501, 65.0)]


def test_background_stroke_is_not_a_printed_sign() -> None:
    # A stroke of a security pattern ending just left of the box must not pass for the sign
    # printed there: the sign printed inside the box is still left out of the field.
    page = _blank()
    cv2.rectangle(page, (860, 150), (1160, 230), 40, 2)
    cv2.putText(page, "S", (872, 205), cv2.FONT_HERSHEY_DUPLEX, 1.3, 40, 3)
    cv2.putText(page, "305/", (935, 212), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.line(page, (1065, 195), (1135, 195), 20, 3)
    cv2.line(page, (815, 210), (850, 175), 30, 3)
    best = locate_fields(page)[0].bbox
    assert best.x > _ink_box(page, 865, 155, 925, 226).x2


@pytest.mark.parametrize("angle", [-2.0, 1.5])
def test_skew_estimate_and_boxes_mapped_back(angle: float) -> None:
    page = _page_with_box()
    m = cv2.getRotationMatrix2D((600, 275), angle, 1.0)
    rot = cv2.warpAffine(page, m, (1200, 550), borderValue=PAPER)
    small = (cv2.resize(rot, (600, 275), interpolation=cv2.INTER_AREA) < 135).astype(np.uint8)
    assert estimate_skew(small) == pytest.approx(-angle, abs=0.3)
    best = locate_fields(rot, INK)[0].bbox
    # Written ink of the unrotated page, rotated: compare with the returned (input-space) box.
    ink = np.zeros_like(page)
    cv2.putText(ink, "12.50", (950, 210), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 3)
    ys, xs = np.nonzero(cv2.warpAffine(ink, m, (1200, 550)) > 128)
    truth = BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    assert best.iou(truth) > 0.5
    # The hull of the deskewed box contains the rotated ink.
    assert best.x <= truth.x and best.y <= truth.y and best.x2 >= truth.x2 and best.y2 >= truth.y2


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_locates_synthetic_cheques(layout: str) -> None:
    # Fonts and procedural strokes, the default scan effects (skew, patterns, blur, JPEG,
    # open boxes): the first eight cheques of one seed, all of them must be found.
    src = FontGlyphs()
    for i in range(8):
        rng = np.random.default_rng([11, i])
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, src, rng)
        fields = locate_fields(ch.image, INK)
        assert fields and fields[0].bbox.iou(ch.field_box) >= 0.5, (i, written)
        # By default the field spans the printed box: it holds the written amount.
        best = locate_fields(ch.image)[0].bbox
        assert _inside(ch.field_box, best) >= 0.9, (i, written)


def test_bitonal_cheque_located() -> None:
    src = FontGlyphs()
    cfg = ChequeSynthConfig(p_bitonal=1.0)
    for i, layout in enumerate(sorted(LAYOUTS)):
        rng = np.random.default_rng([12, i])
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, src, rng, cfg)
        assert set(np.unique(ch.image)) <= {0, 255}
        fields = locate_fields(ch.image, INK)
        assert fields and fields[0].bbox.iou(ch.field_box) >= 0.5, layout
        assert _inside(ch.field_box, locate_fields(ch.image)[0].bbox) >= 0.9, layout


def test_superscript_cents_over_an_amount_line_kept() -> None:
    # Issue 4: cents written raised after the units sit too high for the amount line's
    # writing band; they continue the field and must be in its crop.
    page = _blank()
    cv2.line(page, (190, 230), (830, 230), 40, 2)   # payee line
    cv2.line(page, (880, 230), (1150, 230), 40, 2)  # amount line continuing it
    cv2.putText(page, "$", (850, 222), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 3)
    cv2.putText(page, "1153", (900, 224), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 20, 4)
    cv2.putText(page, "59", (1050, 189), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 20, 2)
    best = locate_fields(page)[0].bbox
    cents = _ink_box(page, 1040, 140, 1150, 200)
    assert best.x2 >= cents.x2 and best.y <= cents.y
    assert best.x > _ink_box(page, 840, 180, 880, 228).x2  # not the printed sign


def test_last_digit_over_the_box_side_kept() -> None:
    # The last digit written across the box's right side: the side's removal cut it in two.
    page = _blank()
    cv2.rectangle(page, (860, 150), (1100, 230), 40, 2)
    cv2.putText(page, "$", (820, 205), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 30, 3)
    written = _blank()
    cv2.putText(written, "2047", (930, 212), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.putText(written, "4", (1085, 212), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    page = np.minimum(page, written)
    best = locate_fields(page)[0].bbox
    ink = _ink_box(written, 0, 0, 1200, 550)
    assert best.x2 >= ink.x2
    assert 152 < best.y <= ink.y  # not up the side to the top rule
    assert locate_fields(page, LocateConfig(grow_gap=0, rule_reach=0))[0].bbox.x2 < ink.x2


def test_box_field_spans_the_box_writing_space() -> None:
    page = _page_with_box()
    best = locate_fields(page)[0].bbox
    ink = _ink_box(page, 905, 155, 1146, 226)
    # From the figures' start to the box's right side, top to bottom, inside the rules.
    assert best.x <= ink.x and 1140 <= best.x2 < 1150
    assert 150 < best.y <= 156 and 224 <= best.y2 < 230


def _cts_page() -> tuple[np.ndarray, BBox]:
    """A CTS-2010-like page: a date row of 8 cells at the top right (digits written in it),
    payee and 'Rupees' lines, the amount box with a sign printed before it and figures in
    it, an account-number box at the left and a code line along the bottom. Returns the page
    and the amount box."""
    page = np.full((700, 1500), PAPER, np.uint8)
    cv2.putText(page, "SOME BANK", (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 30, 3)
    x0, y0, cw, chh = 1110, 50, 42, 50
    cv2.rectangle(page, (x0, y0), (x0 + 8 * cw, y0 + chh), 40, 2)
    for k in range(1, 8):
        cv2.line(page, (x0 + k * cw, y0), (x0 + k * cw, y0 + chh), 40, 2)
    for k, d in enumerate("25092012"):
        cv2.putText(page, d, (x0 + k * cw + 10, y0 + 40), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 20, 2)
    cv2.line(page, (80, 200), (1300, 200), 40, 2)                      # payee line
    cv2.putText(page, "Ravi Kumar", (200, 190), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.line(page, (80, 270), (1030, 270), 40, 2)                      # 'Rupees' lines
    cv2.putText(page, "Twenty five thousand", (150, 260), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.line(page, (80, 330), (1030, 330), 40, 2)
    amount = BBox(1080, 290, 380, 80)
    cv2.rectangle(page, (amount.x, amount.y), (amount.x2, amount.y2), 40, 2)
    cv2.putText(page, "S", (1040, 350), cv2.FONT_HERSHEY_DUPLEX, 1.3, 40, 3)   # the sign
    cv2.putText(page, "25,000/-", (1110, 350), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    cv2.rectangle(page, (80, 380), (500, 440), 40, 2)                  # account number
    for k in range(1, 10):
        cv2.line(page, (80 + 42 * k, 380), (80 + 42 * k, 440), 40, 2)
    cv2.putText(page, "123456  110002000  123456  31", (200, 660), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 10, 3)
    return page, amount


def test_amount_box_found_first_not_the_date_cells() -> None:
    page, amount = _cts_page()
    fields = locate_fields(page)
    assert fields[0].bbox.iou(amount) > 0.6
    # The date row of cells is no candidate at all.
    assert all(f.bbox.y > 110 for f in fields)


@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_turned_page_located_in_its_own_coordinates(turn: int) -> None:
    page, amount = _cts_page()
    turned = cv2.rotate(page, turn)
    # The amount box on the turned page.
    mask = np.zeros_like(page)
    mask[amount.y: amount.y2, amount.x: amount.x2] = 255
    ys, xs = np.nonzero(cv2.rotate(mask, turn))
    truth = BBox(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    best = locate_fields(turned)[0]
    assert best.bbox.iou(truth) > 0.6
    # The crop is upright: wider than tall.
    assert best.image.shape[1] > 2 * best.image.shape[0]


def test_upright_page_with_a_bank_name_is_not_turned() -> None:
    page, amount = _cts_page()
    cv2.putText(page, "FIRST NATIONAL BANK OF NOWHERE", (60, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)
    assert locate_fields(page)[0].bbox.iou(amount) > 0.6


def test_faint_box_amount_row_found_by_the_layout() -> None:
    # ANSI-like personal check whose amount box is printed too faint to be found: the row
    # written where the layout puts the amount, right of the payee line, after a '$'.
    page = np.full((550, 1200), PAPER, np.uint8)
    cv2.putText(page, "1025", (1050, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 2)
    cv2.line(page, (700, 120), (1000, 120), 60, 1)                     # date line
    cv2.putText(page, "11/15/2019", (740, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 20, 2)
    cv2.line(page, (150, 230), (900, 230), 60, 1)                      # payee line
    cv2.putText(page, "Test Account", (200, 220), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.rectangle(page, (940, 180), (1160, 240), 222, 1)               # the faint box
    cv2.putText(page, "$", (910, 228), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 30, 3)
    cv2.putText(page, "500.00", (970, 225), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 20, 3)
    cv2.line(page, (60, 300), (950, 300), 60, 1)                       # legal amount line
    cv2.putText(page, "Five Hundred and 0/100", (120, 290), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    cv2.putText(page, "DOLLARS", (980, 300), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 40, 1)
    cv2.line(page, (700, 440), (1150, 440), 60, 1)                     # signature line
    cv2.putText(page, "123456789  0000123456  1025", (150, 520), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 10, 3)
    best = locate_fields(page)[0].bbox
    figures = _ink_box(page, 965, 185, 1158, 238)
    assert _inside(figures, best) == 1.0
    assert best.iou(BBox(940, 180, 220, 60)) > 0.5  # the box it was written in
    assert best.x > 935  # the '$' left out
    assert locate_fields(page, INK)[0].bbox.iou(figures) > 0.5


def test_photographed_page_on_a_dark_ground_is_squared() -> None:
    page, amount = _cts_page()
    h, w = page.shape
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    dst = np.array([[260, 180], [1780, 120], [1840, 960], [200, 880]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    photo = cv2.warpPerspective(page, m, (2048, 1100), borderValue=70)
    corners = np.array([[[amount.x, amount.y], [amount.x2, amount.y], [amount.x, amount.y2],
                         [amount.x2, amount.y2]]], np.float32)
    p = cv2.perspectiveTransform(corners, m)[0]
    truth = BBox(int(p[:, 0].min()), int(p[:, 1].min()), int(np.ptp(p[:, 0])), int(np.ptp(p[:, 1])))
    best = locate_fields(photo)[0]
    assert best.bbox.iou(truth) > 0.6
    assert best.image.shape[1] > 3 * best.image.shape[0]  # cut from the squared page
    # The paper's corners are found where they were put.
    quad = _page_quad(photo, LocateConfig())
    assert quad is not None and np.abs(quad - dst).max() < 12
    # A scan (the paper fills the image) is left as it is.
    assert _page_quad(page, LocateConfig()) is None


def test_a_zone_holds_the_amount_by_share_not_by_iou():
    from chequereader.types import BBox

    ink = BBox(100, 50, 60, 20)
    box = BBox(90, 45, 200, 30)  # the printed box the amount was written in: IoU 0.2
    assert box.iou(ink) < 0.5 and box.holds(ink)
    assert box.share_of(ink) == 1.0
    assert not BBox(130, 50, 200, 30).holds(ink)   # half the ink outside
    assert not BBox(0, 0, 1000, 400).holds(ink)    # the whole page holds it, too big to count


def test_a_sparse_row_high_rule_does_not_start_a_layout_row() -> None:
    from chequereader.locate import _A, _H, _W, _X, _Y, _drop_rules

    def comp(x, y, w, h, a):
        c = np.zeros(max(_X, _Y, _W, _H, _A) + 1)
        c[[_X, _Y, _W, _H, _A]] = x, y, w, h, a
        return c

    bar = comp(10, 100, 18, 24, 41)  # a slanted cell side: 9% of its box inked
    one = comp(40, 102, 3, 22, 60)  # a written 1: thin but solid
    row = np.stack([bar, one, comp(50, 101, 14, 22, 120), comp(70, 101, 14, 22, 130)])
    assert _drop_rules(row, 24.0)[:, _X].tolist() == [40, 50, 70]
    assert _drop_rules(row[1:], 24.0)[:, _X].tolist() == [40, 50, 70]  # the 1 stays
    assert len(_drop_rules(row[:1], 24.0)) == 1  # never empties the row
