"""Quality flags on synthetic pages with known defects, and the skew estimator."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from chequereader.errors import InvalidImageError
from chequereader.quality import QualityConfig, _shrink, assess, estimate_skew
from chequereader.types import Page

H, W = 560, 1300  # 6.5 x 2.8 in at 200 dpi: a cheque


def _cheque(angle: float = 0.0, h: int = H, w: int = W) -> np.ndarray:
    """White page with guide lines and digits, rotated counter-clockwise by ``angle``."""
    img = np.full((h, w), 255, np.uint8)
    for y in range(100, h - 60, 60):
        img[y : y + 3, 100 : w - 100] = 0
    rng = np.random.default_rng(0)
    for k in range(150):
        x, y = int(rng.integers(100, w - 100)), int(rng.integers(80, h - 60))
        cv2.putText(img, str(k % 10), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    if angle:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderValue=255)
    return img


def test_clean_cheque_has_no_flags() -> None:
    report = assess(_cheque())
    assert report.flags == ()
    assert report.measures["width_in"] == 6.5 and report.measures["height_in"] == 2.8
    assert report.measures["dpi"] == 200.0


def test_blank() -> None:
    page = np.full((H, W), 250, np.uint8)
    page[10, 10] = 0  # a speck is still blank
    assert assess(page).flags == ("blank",)


def test_too_dark() -> None:
    page = np.full((H, W), 40, np.uint8)
    assert assess(page).flags == ("too_dark",)
    dark = (_cheque() * 0.3).astype(np.uint8)
    assert "too_dark" in assess(dark).flags


def test_too_light() -> None:
    light = (200 + _cheque().astype(np.float64) * (55 / 255)).astype(np.uint8)  # ink at 200
    flags = assess(light).flags
    assert flags == ("too_light",)


@pytest.mark.parametrize("angle", [-8.0, -4.5, 5.0, 10.0])
def test_skew_flag_and_estimate(angle: float) -> None:
    img = _cheque(angle)
    est = estimate_skew(img)
    assert est == pytest.approx(angle, abs=0.3)
    report = assess(img)
    assert "skew" in report.flags
    assert report.measures["skew_deg"] == pytest.approx(angle, abs=0.3)


def test_small_skew_not_flagged() -> None:
    report = assess(_cheque(1.5))
    assert "skew" not in report.flags
    assert report.measures["skew_deg"] == pytest.approx(1.5, abs=0.3)


def test_estimate_skew_empty_page_is_zero() -> None:
    assert estimate_skew(np.full((100, 100), 255, np.uint8)) == 0.0


def test_horizontal_and_vertical_streaks() -> None:
    img = _cheque()
    img[300:302, :] = 0  # scanner streak: edge to edge
    report = assess(img)
    assert "streaks" in report.flags and report.measures["streak_rows"] >= 1
    img = _cheque()
    img[:, 640] = 0
    report = assess(img)
    assert "streaks" in report.flags and report.measures["streak_cols"] >= 1


def test_printed_border_is_not_a_streak() -> None:
    img = _cheque()
    cv2.rectangle(img, (20, 20), (W - 21, H - 21), 0, 3)  # inside the paper margin
    assert "streaks" not in assess(img).flags


def test_undersize_and_oversize_use_dpi() -> None:
    img = _cheque()
    assert "undersize" in assess(img, dpi=300).flags  # 4.3 x 1.9 in
    assert "oversize" in assess(img, dpi=100).flags  # 13 x 5.6 in
    page = Page(image=img, dpi=(300.0, 300.0))
    assert "undersize" in assess(page).flags
    assert "undersize" not in assess(page, dpi=200).flags  # the argument wins


def test_bool_image_and_config() -> None:
    ink = _cheque() < 128
    assert assess(ink).flags == ()
    strict = QualityConfig(max_skew_deg=1.0)
    assert "skew" in assess(_cheque(1.5), strict).flags


def test_not_an_image() -> None:
    with pytest.raises(InvalidImageError):
        assess(np.zeros((0, 5), np.uint8))
    with pytest.raises(InvalidImageError):
        assess(np.zeros((4, 5, 3, 2), np.uint8))


@pytest.mark.parametrize("shape", [(550, 1200), (1001, 2003), (7, 1601), (600, 501), (40, 60)])
def test_shrink_is_the_minimum_of_each_block(shape: tuple[int, int]) -> None:
    # Thin dark strokes and streaks must survive the analysis scale: each pixel of the small
    # image is the darkest of its f x f block (trailing rows / columns short of a block dropped).
    g = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.uint8)
    small, f = _shrink(g, 500)
    if max(shape) <= 500:
        assert f == 1 and small is g
        return
    assert f == -(-max(shape) // 500)
    h, w = shape[0] // f * f, shape[1] // f * f
    ref = g[:h, :w].reshape(h // f, f, w // f, f).min(axis=(1, 3))
    assert small.shape == ref.shape
    np.testing.assert_array_equal(small, ref)


def test_300_dpi_scan_and_camera_dpi_are_not_oversize() -> None:
    # A cheque scanned at 300 dpi with no resolution in the file: more pixels than at the
    # assumed 200 dpi, not a larger cheque.
    big = cv2.resize(_cheque(), (W * 3 // 2, H * 3 // 2), interpolation=cv2.INTER_AREA)
    assert "oversize" not in assess(big).flags
    assert "oversize" in assess(big, dpi=200).flags  # a resolution given is trusted
    # A camera's nominal 72-120 dpi says nothing of the paper's size; a scanner's does.
    assert "oversize" not in assess(Page(image=big, dpi=(120.0, 120.0))).flags
    assert "oversize" in assess(Page(image=big, dpi=(200.0, 200.0))).flags
    assert "oversize" not in assess(Page(image=big, dpi=(300.0, 300.0))).flags


def test_grey_textured_photo_is_not_too_dark() -> None:
    # A phone photo, 4x a 200 dpi scan: paper at 165 with grain; the darkest pixel of each
    # block is dark, the page is not.
    rng = np.random.default_rng(1)
    base = cv2.resize(_cheque(), (W * 4, H * 4), interpolation=cv2.INTER_NEAREST).astype(np.float64)
    photo = np.clip(base * (165 / 255) + rng.normal(0, 22, base.shape), 0, 255).astype(np.uint8)
    report = assess(photo)
    assert "too_dark" not in report.flags and "streaks" not in report.flags
    assert report.measures["dark_fraction"] < 0.4 < report.measures["ink_dark_fraction"]
    # Grey paper under 128 still is.
    assert "too_dark" in assess((base * 0.45).astype(np.uint8)).flags


def test_photo_background_band_is_no_streak() -> None:
    img = _cheque()
    img[-40:, :] = 30   # the table under a photographed cheque, along the bottom edge
    img[:, :25] = 30    # and the left
    assert "streaks" not in assess(img).flags
    img[300:302, :] = 0  # a sensor streak across the page still is one
    assert "streaks" in assess(img).flags
