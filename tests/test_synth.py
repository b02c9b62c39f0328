"""Tests of the synthetic field and cheque generator (no ../shared data needed)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chequereader.errors import ConfigError
from chequereader.synth import (
    LAYOUTS,
    FontGlyphs,
    NpzDigitPool,
    amount_text,
    compose_field,
    generate,
    make_cheque,
    synth_strings,
)


@pytest.fixture()
def tiny_npz(tmp_path: Path, write_digit_npz) -> Path:
    return write_digit_npz(tmp_path / "tiny.npz", {7: -1, 9: 1})


def test_pool_loads_writers_and_samples(tiny_npz: Path) -> None:
    pool = NpzDigitPool.from_npz(tiny_npz, symbols=FontGlyphs(fonts=[]))
    assert pool.writers() == [7, 9]
    g = pool.sample(3, np.random.default_rng(0), writer=9)
    assert g.dtype == np.float32 and g.max() <= 1.0 and g.max() > 0.9
    # Cropped to the ink: no all-zero border row.
    assert g[0].max() > 0 and g[-1].max() > 0


def test_compose_field_chars_and_boxes(tiny_npz: Path) -> None:
    pool = NpzDigitPool.from_npz(tiny_npz, symbols=FontGlyphs(fonts=[]))
    f = compose_field("$1,234.56", pool, np.random.default_rng(1))
    assert [c for c, _ in f.chars] == list("$1,234.56")
    assert f.text == "$1,234.56"
    h, w = f.image.shape
    assert f.image.dtype == np.uint8
    for _, b in f.chars:
        assert 0 <= b.x and 0 <= b.y and b.x2 <= w and b.y2 <= h and b.w > 0 and b.h > 0
    xs = [b.x for _, b in f.chars]
    assert xs == sorted(xs)


@pytest.mark.parametrize("seed", range(5))
def test_dot_is_small_and_low(seed: int) -> None:
    f = compose_field("123.45", FontGlyphs(fonts=[]), np.random.default_rng(seed))
    boxes = dict((c, b) for c, b in f.chars if c in ".")
    dot = boxes["."]
    digit_h = np.median([b.h for c, b in f.chars if c.isdigit()])
    assert dot.h < 0.35 * digit_h
    # The dot's centre lies in the lower quarter of the body (near the baseline).
    assert dot.y + dot.h / 2 > f.baseline - 0.3 * f.body_height


def test_superscript_cents_are_small_and_high() -> None:
    f = compose_field("12 ^00/100", FontGlyphs(fonts=[]), np.random.default_rng(3))
    assert f.text == "12 00/100"
    assert [c for c, _ in f.chars] == list("1200/100")
    big = [b for _, b in f.chars[:2]]
    small = [b for _, b in f.chars[2:4]]
    assert max(b.h for b in small) < min(b.h for b in big)
    assert max(b.y2 for b in small) < min(b.y2 for b in big)


def test_compose_refuses_unknown_chars() -> None:
    with pytest.raises(ConfigError):
        compose_field("12a", FontGlyphs(fonts=[]), np.random.default_rng(0))


def test_compose_same_seed_same_pixels() -> None:
    fg = FontGlyphs()
    a = compose_field("$**12.00", fg, np.random.default_rng(5))
    b = compose_field("$**12.00", fg, np.random.default_rng(5))
    assert np.array_equal(a.image, b.image) and a.chars == b.chars


@pytest.mark.parametrize("locale", ["us", "in", "cl"])
def test_amount_text_canonical(locale: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        written, canon = amount_text(rng, locale)
        digits = "".join(c for c in written.split("/")[0] if c.isdigit())
        whole = canon.split(".")[0]
        assert digits.startswith(whole), (written, canon)
        if locale == "cl":
            assert "." not in canon
        if "." in canon:
            assert len(canon.split(".")[1]) == 2


def test_indian_grouping() -> None:
    from chequereader.synth import group_digits
    assert group_digits(51000000, ",", indian=True) == "5,10,00,000"
    assert group_digits(1234567, ",") == "1,234,567"


def test_synth_strings_count() -> None:
    out = list(synth_strings(FontGlyphs(fonts=[]), 3, np.random.default_rng(0), "cl"))
    assert len(out) == 3 and all("." not in c for _, c in out)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_make_cheque_sizes_and_box(layout: str) -> None:
    rng = np.random.default_rng(2)
    ch = make_cheque(layout, "$1,234.56" if layout != "in_cts" else "1,234/-",
                     "1234.56" if layout != "in_cts" else "1234", FontGlyphs(fonts=[]), rng)
    w, h = LAYOUTS[layout].size
    assert ch.image.shape == (h, w) and ch.image.dtype == np.uint8
    b = ch.field_box
    # The courtesy amount sits in the right half, in the upper two thirds.
    assert b.x > w * 0.5 and b.y2 < h * 0.7 and b.w > 20 and b.h > 8


def test_generate_deterministic_with_labels_and_g4(tmp_path: Path) -> None:
    a = generate(3, tmp_path / "a", locale="any", seed=4, formats=("png", "jpg", "tif"))
    b = generate(3, tmp_path / "b", locale="any", seed=4, formats=("png", "jpg", "tif"))
    with open(a, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0].keys()) == ["file", "amount", "layout", "text",
                                    "field_x", "field_y", "field_w", "field_h"]
    assert [r["file"][-3:] for r in rows] == ["png", "jpg", "tif"]
    for r in rows:
        fa, fb = a.parent / r["file"], b.parent / r["file"]
        assert hashlib.sha256(fa.read_bytes()).digest() == hashlib.sha256(fb.read_bytes()).digest()
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a.parent / rows[2]["file"]) as im:
        assert im.mode == "1" and im.info.get("compression") == "group4"
        arr = np.asarray(im.convert("L"))
    assert arr.shape[0] > 500 and set(np.unique(arr)) <= {0, 255}


def test_generate_other_seed_differs(tmp_path: Path) -> None:
    a = generate(1, tmp_path / "a", seed=1)
    b = generate(1, tmp_path / "b", seed=2)
    assert (a.parent / "cheque_0000.png").read_bytes() != (b.parent / "cheque_0000.png").read_bytes()


def test_generate_x9(tmp_path: Path) -> None:
    x937 = pytest.importorskip("chequereader.io.x937")
    labels = generate(2, tmp_path, locale="us", seed=0, x9=True)
    items = x937.read_x937(labels.parent / "cheques.x937")
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [it.amount_cents for it in items] == [round(float(r["amount"]) * 100) for r in rows]
