"""Tests of chequereader.clean on tiny hand-made fields."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chequereader.clean import CleanConfig, clean_field, to_grey
from chequereader.errors import ConfigError, InvalidImageError
from chequereader.types import CleanField


def _two_digits_on_line(h: int = 40, w: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Grey field: two 4-px-wide vertical bars standing on a full-width guide line."""
    img = np.full((h, w), 200, np.uint8)
    digits = np.zeros((h, w), bool)
    digits[8:30, 20:24] = True
    digits[8:30, 50:54] = True
    img[digits] = 20
    img[30:32, :] = 30  # guide line, 2 px thick, under both bars
    return img, digits


def test_blank_field_gives_empty_binary():
    cf = clean_field(np.full((30, 60), 180, np.uint8))
    assert isinstance(cf, CleanField)
    assert cf.binary.shape == (30, 60) and cf.binary.dtype == bool
    assert not cf.binary.any()
    assert cf.body_height == 0.0


def test_bar_is_binarised_exactly():
    img = np.full((30, 40), 200, np.uint8)
    img[5:25, 10:14] = 20
    cf = clean_field(img)
    expected = np.zeros((30, 40), bool)
    expected[5:25, 10:14] = True
    assert np.array_equal(cf.binary, expected)
    assert cf.body_height == 20.0
    assert cf.baseline == 24.0


def test_guide_line_removed_digits_keep_their_pixels():
    img, digits = _two_digits_on_line()
    cf = clean_field(img)
    # Every digit pixel survives.
    assert cf.binary[digits].all()
    # The line away from the digits is gone.
    line_rows = cf.binary[30:32]
    assert not line_rows[:, :18].any()
    assert not line_rows[:, 26:48].any()
    assert not line_rows[:, 56:].any()
    # Nothing but the digits and at most their feet on the line remains.
    extra = cf.binary & ~digits
    assert extra.sum() <= 2 * 2 * 4


def test_line_kept_when_disabled():
    img, _ = _two_digits_on_line()
    cf = clean_field(img, CleanConfig(remove_lines=False))
    assert cf.binary[30:32, 0:15].all()


def test_speckles_removed_but_dot_on_baseline_kept():
    img = np.full((40, 90), 200, np.uint8)
    img[8:30, 10:14] = 20  # '1'
    img[8:30, 60:64] = 20  # '1'
    img[26:30, 35:39] = 20  # '.' on the baseline (bottom row 29)
    img[3, 80] = 20  # speckle high up
    img[12, 45] = 20  # speckle mid-field
    cf = clean_field(img)
    assert cf.binary[26:30, 35:39].all()
    assert not cf.binary[3, 80]
    assert not cf.binary[12, 45]
    assert cf.baseline == 29.0


def test_fine_pen_ring_kept_whole_next_to_thick_stroke():
    # A thick bar and a 1-px ring (a fine pen's '0') in one field: the hairline opening must
    # not break the ring's horizontal parts, although the field as a whole loses under 15%.
    img = np.full((40, 90), 200, np.uint8)
    img[6:34, 8:20] = 20  # thick bar
    ring = np.zeros((40, 90), bool)
    ring[8, 50:64] = ring[31, 50:64] = True
    ring[8:32, 50] = ring[8:32, 63] = True
    img[ring] = 20
    cf = clean_field(img)
    assert cf.binary[ring].all()
    assert cf.binary[6:34, 8:20].all()


def test_hairline_touching_thick_stroke_removed():
    img = np.full((40, 90), 200, np.uint8)
    img[6:34, 20:26] = 20  # thick bar
    img[15, 26:40] = 20  # 1-px hatching line touching it
    cf = clean_field(img)
    assert cf.binary[6:34, 20:26].all()
    assert not cf.binary[15, 28:40].any()


def test_colour_background_survives_min_channel():
    # Ink is dark in every channel, the security background is light in one channel only.
    img = np.zeros((30, 40, 3), np.uint8)
    img[...] = (230, 120, 230)  # BGR: a green-ish tint, dark in G
    img[5:25, 10:14] = (20, 20, 20)
    grey = to_grey(img)
    assert grey.shape == (30, 40) and grey.dtype == np.uint8
    cf = clean_field(img)
    assert cf.binary[5:25, 10:14].all()
    assert cf.binary.sum() == 80


def test_bool_input_taken_as_ink():
    b = np.zeros((20, 30), bool)
    b[4:16, 5:9] = True
    cf = clean_field(b)
    assert np.array_equal(cf.binary, b)
    assert cf.grey[4, 5] == 0 and cf.grey[0, 0] == 255


def test_deslant_keeps_shape():
    img = np.full((30, 50), 200, np.uint8)
    for y in range(5, 25):
        img[y, 10 + (25 - y) // 2 : 14 + (25 - y) // 2] = 20  # slanted bar
    cf = clean_field(img, CleanConfig(deslant=True))
    assert cf.binary.shape == (30, 50)
    cols = np.flatnonzero(cf.binary.any(axis=0))
    # Upright after deslanting: much narrower than the slanted bar's 14 columns.
    assert cols[-1] - cols[0] + 1 <= 8


def test_invalid_inputs():
    with pytest.raises(InvalidImageError):
        clean_field(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(InvalidImageError):
        clean_field(np.zeros((0, 10), np.uint8))
    with pytest.raises(InvalidImageError):
        clean_field(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ConfigError):
        CleanConfig(min_contrast=2.0)


def test_deslant_never_shears_ink_out_of_the_field_and_keeps_mild_slant():
    from chequereader.clean import DESLANT_KEEP

    # A strongly slanted bar touching the left edge: a full shear would push ink out.
    img = np.full((40, 40), 230, np.uint8)
    for y in range(5, 35):
        x = int(round(1 + 0.5 * (35 - y)))
        img[y, x: x + 3] = 20
    on = clean_field(img, CleanConfig(deslant=True, remove_lines=False))
    off = clean_field(img, CleanConfig(deslant=False, remove_lines=False))
    assert on.binary.sum() == off.binary.sum()  # nothing clipped
    ys, xs = np.nonzero(on.binary)
    assert np.ptp(xs) < np.ptp(np.nonzero(off.binary)[1])  # straighter than before
    # A mild slant (below DESLANT_KEEP) is left as written.
    mild = np.full((40, 40), 230, np.uint8)
    for y in range(5, 35):
        x = int(round(15 + DESLANT_KEEP * 0.5 * (35 - y)))
        mild[y, x: x + 3] = 20
    a = clean_field(mild, CleanConfig(deslant=True, remove_lines=False)).binary
    b = clean_field(mild, CleanConfig(deslant=False, remove_lines=False)).binary
    assert np.array_equal(a, b)


def test_deslant_scores_per_row_as_pixel_by_pixel():
    from chequereader.clean import _shear_sharpness, _shear_sharpness_per_pixel

    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = int(rng.integers(4, 50)), int(rng.integers(4, 120))
        b = rng.random((h, w)) < rng.random() * 0.3
        ys, xs = np.nonzero(b)
        if len(ys) < 2:
            continue
        # The ink's own mean row, and integer / half-integer ones (half-way shifts, where
        # rounding half to even depends on the column).
        for mean_y in (ys.mean(), float(int(ys.mean())), int(ys.mean()) + 0.5):
            ref = _shear_sharpness_per_pixel(ys, xs, w, mean_y)
            assert np.array_equal(_shear_sharpness(ys, xs, h, w, mean_y), ref)
    # Ink near the edges sheared out of the field is not counted.
    b = np.zeros((20, 10), bool)
    b[:, 0] = True
    ys, xs = np.nonzero(b)
    got = _shear_sharpness(ys, xs, 20, 10, 9.7)
    assert got[6] == 20 * 20 and got[0] < got[6]


def test_median_of_component_sizes_is_numpys():
    import warnings

    from chequereader.clean import _median

    rng = np.random.default_rng(5)
    for n in range(1, 25):
        v = rng.integers(0, 400, n)
        assert _median(v.tolist()) == float(np.median(v))
    assert _median([3, 4]) == 3.5 and _median([7]) == 7.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(_median([])) and np.isnan(np.median(np.array([], int)))


def test_small_decimal_point_of_a_large_body_kept():
    # Digits 44 px high and a 3x3 decimal point on the baseline (area 9): under the old floor
    # (0.085 x body)^2 = 14 px it was taken for a speckle and "$100.29" read as 10029.
    img = np.full((60, 120), 200, np.uint8)
    img[8:52, 10:15] = 20  # '1'
    img[8:52, 80:85] = 20  # '1'
    img[49:52, 45:48] = 20  # '.'
    img[30:32, 60:62] = 20  # 2x2 speckle mid-field
    cf = clean_field(img, CleanConfig(deslant=False))
    assert cf.binary[49:52, 45:48].all()
    assert not cf.binary[30:32, 60:62].any()
    old = clean_field(img, CleanConfig(deslant=False, punct_min_frac=0.085))
    assert not old.binary[49:52, 45:48].any()
    # `cl` amounts have no decimal point; there the floor stays high against specks.
    assert not clean_field(img, CleanConfig(deslant=False), locale="cl").binary[49:52, 45:48].any()
    assert clean_field(img, CleanConfig(deslant=False), locale="us").binary[49:52, 45:48].all()


def test_broken_off_fine_pen_bowl_kept_but_flat_hairline_removed():
    # Thick digits (the field's pen) and, broken off, the 1-px lower bowl of a fine-pen '3'
    # (an arc about as high as wide) and a 1-px flat hatching line. The opening that takes
    # hatching away must leave the bowl.
    img = np.full((50, 140), 200, np.uint8)
    img[8:42, 8:16] = 20  # thick '1'
    img[8:42, 110:118] = 20  # thick '1'
    bowl = np.zeros((50, 140), bool)
    cv2.ellipse(bowl.view(np.uint8), (60, 30), (9, 9), 0, -90, 120, 1, 1)
    img[bowl] = 20
    img[20, 75:100] = 20  # flat hairline, 25 px
    cf = clean_field(img, CleanConfig(deslant=False))
    assert cf.binary[bowl].mean() > 0.9
    assert not cf.binary[20, 78:97].any()


@pytest.mark.parametrize("thickness", [1, 2])
def test_dotted_guide_line_removed_but_decimal_point_kept(thickness):
    # (1-px dots are flat slivers that the speckle rule removes anyway; 2-px dots are as
    # dense and round as a small '.' and need the line rule.)
    # Two bars, a '.' between them on the baseline, and a dotted guide line (3 px on, 3 px
    # off) just under them: the dots would pass for decimal points one by one.
    h, w = 40, 120
    img = np.full((h, w), 210, np.uint8)
    digits = np.zeros((h, w), bool)
    digits[8:30, 20:24] = True
    digits[8:30, 80:84] = True
    digits[26:30, 50:54] = True  # '.'
    img[digits] = 20
    line = np.zeros((h, w), bool)
    line[33 : 33 + thickness, (np.arange(w) // 3) % 2 == 0] = True
    img[line] = 40
    cf = clean_field(img)
    assert cf.binary[digits].all()
    assert not cf.binary[line].any()
    if thickness == 1:
        return
    # Without the bridging, the same dots stay (so the test measures the new rule).
    import chequereader.clean as clean_mod

    old = clean_mod.LINE_GAP
    try:
        clean_mod.LINE_GAP = 0
        assert clean_field(img).binary[line].any()
    finally:
        clean_mod.LINE_GAP = old


def _dollar_in_box(h: int = 33, w: int = 90, side: bool = True) -> np.ndarray:
    """Grey field: a printed '$' (an S of 4-px strokes with a 2-px stem through it, from row 4
    to row 31) and, optionally, a 2-px box side crossing the whole crop at x = 80."""
    img = np.full((h, w), 200, np.uint8)
    s = np.zeros((h, w), np.uint8)
    for y in (7, 16, 25):
        s[y:y + 4, 8:24] = 1
    s[7:20, 8:12] = 1
    s[16:29, 20:24] = 1
    img[s > 0] = 40
    img[4:32, 15:17] = 40  # the stem, 28 of 33 rows: shorter than a side of the box
    if side:
        img[:, 80:82] = 40
    return img


def test_box_side_removed_dollar_stem_kept():
    cf = clean_field(_dollar_in_box())
    assert not cf.binary[:, 78:84].any()          # the box's side crosses the crop: a border
    assert cf.binary[4:7, 15:17].all()             # the '$' keeps its stem above the S ...
    assert cf.binary[29:32, 15:17].all()           # ... and below it


def test_dollar_stem_kept_even_when_as_tall_as_a_border():
    # At 0.85 the stem is long enough to be a border; its S crosses it three times, so it
    # stays a stroke.
    cf = clean_field(_dollar_in_box(), CleanConfig(vertical_line_frac=0.85))
    assert cf.binary[4:7, 15:17].all() and cf.binary[29:32, 15:17].all()
    assert not cf.binary[:, 78:84].any()


def test_box_side_touched_by_a_zero_leaves_no_tail():
    # The last 0 of an amount written against the box's right side: before, the side's
    # pixels next to the 0 were kept (a stroke "arrived" there) and the 0 read as a 9.
    img = np.full((40, 70), 200, np.uint8)
    cv2.ellipse(img, (50, 20), (9, 12), 0, 0, 360, 30, 3)   # the 0: x 40..61
    img[:, 61:63] = 30                                       # the side, touching it
    cf = clean_field(img)
    assert not cf.binary[:, 62].any()                        # no tail left of the side
    assert cf.binary[8:33, 38:43].any() and cf.binary[6:10, 45:56].any()   # the 0 is there


def _one_digit_and_superscript_cents() -> np.ndarray:
    """A tall ring (the integer '0') on the baseline and five small raised rings after it
    (cents and "/100" written small and high): the small ones outnumber the digit."""
    img = np.full((60, 200), 210, np.uint8)
    cv2.ellipse(img, (25, 35), (10, 18), 0, 0, 360, 20, 3)  # rows 17..53
    for k in range(5):
        cv2.ellipse(img, (60 + 25 * k, 18), (7, 8), 0, 0, 360, 20, 2)  # rows 10..26
    return img


def test_body_of_a_short_amount_with_superscript_cents_is_the_digit():
    img = _one_digit_and_superscript_cents()
    cf = clean_field(img, locale="us")
    assert 36 <= cf.body_height <= 44  # the tall digit, not the small raised rings (~17 px)
    assert 51 <= cf.baseline <= 57
    # With every component counted (as for `cl` amounts), the median is a small ring's.
    old = clean_field(img, CleanConfig(body_min_frac=0.0), locale="us")
    assert old.body_height < 20


def test_body_min_frac_is_checked():
    with pytest.raises(ConfigError):
        CleanConfig(body_min_frac=1.5)


def _stacked_fraction_field() -> np.ndarray:
    img = np.full((70, 260), 255, np.uint8)
    cv2.putText(img, "100", (10, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 0, 3)  # the dollars
    cv2.putText(img, "00", (170, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 2)  # the cents, raised
    cv2.line(img, (166, 36), (206, 33), 0, 3)                               # the bar
    cv2.putText(img, "100", (168, 56), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 2)  # the denominator
    return img


def test_a_stacked_fraction_keeps_only_its_cents():
    img = _stacked_fraction_field()
    cf = clean_field(img, locale="us")
    below_bar = cf.binary[40:, 160:]
    above_bar = cf.binary[:30, 160:]
    assert not below_bar.any()            # the bar's 100 is gone
    assert above_bar.sum() > 40           # the cents stay
    assert cf.binary[:, :150].sum() > 300  # the dollars stay
    off = clean_field(img, CleanConfig(stacked_fraction=False), locale="us")
    assert off.binary[40:, 160:].any()
    # pesos have no cents: cl leaves it alone
    assert clean_field(img, locale="cl").binary[40:, 160:].any()


def test_a_flat_stroke_with_nothing_under_it_stays():
    img = np.full((70, 260), 255, np.uint8)
    cv2.putText(img, "100", (10, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 0, 3)
    cv2.putText(img, "00", (170, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 2)
    cv2.line(img, (166, 36), (206, 33), 0, 3)  # underlined cents, no denominator
    cf = clean_field(img, locale="us")
    assert cf.binary[30:40, 160:].any()


def _digit(img: np.ndarray, x: int, y: int, h: int = 40, w: int = 26) -> None:
    """A '0'-like ring, ``h`` high and ``w`` wide, at (x, y)."""
    cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 20, 4)


def test_a_microtext_line_under_the_amount_is_removed_whole():
    # A border printed as microtext (5-px characters in one row), crossed by a slash.
    img = np.full((100, 400), 210, np.uint8)
    for x in (20, 60, 100):
        _digit(img, x, 20)
    for x in range(4, 390, 14):
        if not 246 <= x <= 266:
            img[83:89, x: x + 12] = 30  # runs of microtext characters, 6 px high
    cv2.line(img, (270, 10), (255, 95), 20, 4)  # the slash, through the line
    cf = clean_field(img, CleanConfig(deslant=False))
    assert not cf.binary[83:90, 280:396].any() and not cf.binary[83:90, 4:240].any()
    assert cf.binary[20:60, 20:130].sum() > 500  # the digits stay


def test_a_tall_slash_does_not_set_the_body_and_small_commas_stay():
    img = np.full((120, 400), 210, np.uint8)
    for x in (20, 60, 130, 170):
        _digit(img, x, 40)
    img[74:86, 110:115] = 20  # a comma at the baseline (area 60)
    cv2.line(img, (250, 2), (235, 118), 20, 5)  # the '/' of "/-", much taller than the digits
    cf = clean_field(img, CleanConfig(deslant=False))
    assert 36 <= cf.body_height <= 44
    assert cf.binary[74:86, 110:115].any()


def test_a_box_side_after_the_sign_is_removed_but_a_digit_stem_is_not():
    img = np.full((120, 400), 210, np.uint8)
    for x in (60, 100, 140):
        _digit(img, x, 40)
    cv2.line(img, (40, 2), (42, 117), 20, 2)  # the rule between the sign's cell and the amount
    img[40:80, 200:205] = 20  # a '1' as tall as the digits
    img[40:44, 190:215] = 20  # ... with a flag: a stout '7'-like stroke
    cf = clean_field(img, CleanConfig(deslant=False))
    assert not cf.binary[10:110, 38:46].any()
    assert cf.binary[44:80, 200:205].sum() >= 0.9 * 36 * 5


def test_a_bar_code_ladder_beside_the_box_is_removed():
    img = np.full((120, 400), 210, np.uint8)
    for x in (20, 60, 100):
        _digit(img, x, 40)
    for y in range(10, 110, 8):
        img[y: y + 4, 350:390] = 20  # horizontal bars of one length, stacked
    cf = clean_field(img, CleanConfig(deslant=False))
    assert not cf.binary[:, 345:395].any()
    assert cf.binary[40:80, 20:130].sum() > 500
