"""Image input: formats, conversions, EXIF, G4 round trips, every bad-input kind, discovery."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chequereader.errors import InvalidImageError
from chequereader.io.images import (
    ImageLimits,
    discover,
    encode_tiff_g4,
    load_image,
    load_pages,
    write_tiff_g4,
)


def _bitonal(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 255, np.uint8)
    img[rng.random((h, w)) < 0.2] = 0
    return img


def _encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


# --- G4 TIFF ----------------------------------------------------------------------------------


def test_g4_single_page_round_trip(tmp_path: Path) -> None:
    img = _bitonal(40, 70, 0)
    path = tmp_path / "one.tif"
    write_tiff_g4(path, [img], dpi=300)
    pages = load_pages(path)
    assert len(pages) == 1
    p = pages[0]
    assert p.image.dtype == np.uint8 and p.image.shape == (40, 70)
    np.testing.assert_array_equal(p.image, img)
    assert p.dpi == (300.0, 300.0)
    assert p.index == 0 and p.source == str(path)
    # written min-is-white, as X9.100-181 wants
    assert Image.open(path).tag_v2[262] == 0


def test_g4_multi_page_front_first(tmp_path: Path) -> None:
    front, back = _bitonal(30, 50, 1), _bitonal(20, 60, 2)
    path = tmp_path / "two.tiff"
    write_tiff_g4(path, [front, back])
    pages = load_pages(str(path))
    assert [p.index for p in pages] == [0, 1]
    np.testing.assert_array_equal(pages[0].image, front)
    np.testing.assert_array_equal(pages[1].image, back)
    assert pages[1].dpi == (200.0, 200.0)


def test_bool_input_is_ink_true() -> None:
    ink = np.zeros((20, 20), bool)
    ink[5:8, 2:18] = True
    page = load_pages(encode_tiff_g4(ink))[0]
    assert page.image[6, 10] == 0 and page.image[0, 0] == 255


@pytest.mark.parametrize("photometric", [0, 1])
def test_bitonal_min_is_black_and_min_is_white_both_give_dark_ink(photometric: int) -> None:
    img = np.full((20, 30), 255, np.uint8)
    img[5:10, 5:25] = 0
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(
        buf, format="TIFF", compression="group4", tiffinfo={262: photometric}
    )
    assert Image.open(io.BytesIO(buf.getvalue())).tag_v2[262] == photometric
    out = load_pages(buf.getvalue())[0].image
    np.testing.assert_array_equal(out, img)


# --- conversions ------------------------------------------------------------------------------


def test_16bit_png_to_8bit_grey() -> None:
    arr = np.array([[0, 257 * 10, 65535]] * 16, np.uint16)
    arr = np.repeat(arr, 6, axis=1)  # 16 x 18
    data = _encode(arr, "PNG")
    out = load_pages(data)[0].image
    assert out.dtype == np.uint8 and out.shape == (16, 18)
    assert out[0, 0] == 0 and out[0, 6] == 10 and out[0, 17] == 255


def test_float_tiff_to_8bit_grey() -> None:
    # 32-bit float samples (mode F), as scientific scanners write them: 0..1 is black..white,
    # and a NaN sample is paper.
    arr = np.repeat(np.array([[0.0, 0.5, 1.0]] * 16, np.float32), 6, axis=1)
    arr[0, 0] = np.nan
    buf = io.BytesIO()
    Image.fromarray(arr, mode="F").save(buf, format="TIFF")
    out = load_pages(buf.getvalue())[0].image
    assert out.dtype == np.uint8 and out.shape == (16, 18)
    assert out[1, 0] == 0 and out[1, 6] == 128 and out[1, 17] == 255 and out[0, 0] == 255


def test_colour_png_to_grey() -> None:
    rgb = np.zeros((16, 20, 3), np.uint8)
    rgb[:, :10] = (255, 255, 255)
    rgb[:, 10:] = (255, 0, 0)
    out = load_pages(_encode(rgb, "PNG"))[0].image
    assert out.shape == (16, 20)
    assert out[0, 0] == 255
    assert out[0, 15] == 76  # ITU-R 601 luma of pure red


def test_rgba_composited_on_white() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)  # fully transparent black
    rgba[:8, :, 3] = 255  # top half opaque black
    out = load_pages(_encode(rgba, "PNG"))[0].image
    assert out[0, 0] == 0 and out[12, 0] == 255


def test_palette_and_1bit_png() -> None:
    img = np.full((16, 16), 255, np.uint8)
    img[4:8] = 0
    pal = Image.fromarray(img).convert("P")
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    np.testing.assert_array_equal(load_pages(buf.getvalue())[0].image, img)
    one = _encode(np.asarray(Image.fromarray(img).convert("1")), "PNG")
    np.testing.assert_array_equal(load_pages(one)[0].image, img)


def test_exif_orientation_honoured(tmp_path: Path) -> None:
    # 20 wide x 40 tall, dark block at the top; orientation 6 means "rotate 90 CW to view".
    img = np.full((40, 20), 255, np.uint8)
    img[:10, :] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    Image.fromarray(img).save(path, format="JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.shape == (20, 40)
    # the dark top band becomes the right band after a clockwise turn
    assert out[:, -5:].mean() < 40 and out[:, :20].mean() > 215


def test_colour_jpeg_decoded_straight_to_grey_matches_the_colour_path() -> None:
    # A colour JPEG is decoded to its luma directly (no RGB pass): the page matches Pillow's
    # RGB -> L conversion of the colour decode within a few grey levels on average (more
    # where saturated colours clip), pixel for pixel.
    rng = np.random.default_rng(7)
    rgb = np.full((120, 260, 3), 235, np.uint8)
    rgb[..., 2] = 250  # bluish paper
    rgb[30:90, 40:220] = (rng.random((60, 180, 3)) * 255).astype(np.uint8)
    rgb[50:60, 10:250] = (20, 40, 160)  # blue ink
    for kw in ({"quality": 90}, {"quality": 75, "subsampling": 2}, {"progressive": True}):
        data = _encode(rgb, "JPEG", **kw)
        page = load_pages(data)[0].image
        slow = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
        assert page.shape == slow.shape and page.dtype == np.uint8
        diff = np.abs(page.astype(int) - slow.astype(int))
        assert diff.max() <= 24 and diff.mean() < 1.0, kw
    # A grey JPEG is unchanged by it.
    grey = rgb[..., 0].copy()
    data = _encode(grey, "JPEG")
    np.testing.assert_array_equal(load_pages(data)[0].image,
                                  np.asarray(Image.open(io.BytesIO(data))))


@pytest.mark.parametrize("cut", ["eoi", "sos_after_eoi", "no_sos"])
def test_jpeg_end_marker_check(cut: str) -> None:
    data = _encode(_bitonal(40, 60, 8), "JPEG")
    assert data.endswith(b"\xff\xd9")
    if cut == "eoi":  # an EOI only before the main image's scan (a thumbnail's) is no EOI
        bad = data[:-2]
    elif cut == "sos_after_eoi":  # a second scan after the last EOI, cut short
        bad = data + b"\xff\xda\x00\x08"
    else:
        bad = data.replace(b"\xff\xda", b"\xff\xdb")
    with pytest.raises(InvalidImageError):
        load_pages(bad)
    assert load_pages(data)[0].image.shape == (40, 60)


def test_jpeg_dpi_and_bmp(tmp_path: Path) -> None:
    img = _bitonal(20, 30, 3)
    page = load_pages(_encode(img, "JPEG", dpi=(240, 240)))[0]
    assert page.dpi == (240.0, 240.0)
    bmp = tmp_path / "a.bmp"
    Image.fromarray(img).save(bmp)
    np.testing.assert_array_equal(load_image(bmp), img)


def test_source_override_for_bytes() -> None:
    page = load_pages(encode_tiff_g4(_bitonal(20, 20, 4)), source="scan-7")[0]
    assert page.source == "scan-7"


# --- bad inputs -------------------------------------------------------------------------------


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _make_bad(kind: str, tmp: Path) -> tuple[object, ImageLimits, str]:
    lim = ImageLimits()
    noise = (np.random.default_rng(0).random((120, 160)) * 255).astype(np.uint8)
    if kind == "missing":
        return tmp / "nope.png", lim, "no such file"
    if kind == "directory":
        return tmp, lim, "directory"
    if kind == "empty":
        p = tmp / "empty.png"
        p.write_bytes(b"")
        return p, lim, "empty"
    if kind == "empty_bytes":
        return b"", lim, "empty"
    if kind in ("truncated_jpeg", "truncated_png", "truncated_tiff"):
        fmt = {"truncated_jpeg": "JPEG", "truncated_png": "PNG", "truncated_tiff": "TIFF"}[kind]
        data = _encode(noise, fmt)
        p = tmp / f"cut.{fmt.lower()}"
        p.write_bytes(data[: len(data) // 2])
        return p, lim, "truncated"
    if kind == "png_missing_iend":
        data = _encode(noise, "PNG")
        return data[:-12], lim, "truncated"
    if kind == "jpeg_missing_eoi":
        data = _encode(noise, "JPEG")
        return data[:-2], lim, "truncated"
    if kind == "truncated_g4_multipage":
        buf = io.BytesIO()
        write_tiff_g4(buf, [_bitonal(60, 80, 5), _bitonal(60, 80, 6)])
        data = buf.getvalue()
        return data[: len(data) - 40], lim, "truncated or corrupt"
    if kind == "text":
        p = tmp / "notes.png"
        p.write_text("hello, this is not an image\n" * 5)
        return p, lim, "not a recognised image"
    if kind == "pdf":
        p = tmp / "doc.tif"
        p.write_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
        return p, lim, "PDF"
    if kind == "tiny":
        return _encode(np.zeros((4, 40), np.uint8), "PNG"), lim, "too small"
    if kind == "zero_size":
        return _png_header_only(0, 0), lim, "pixels"
    if kind == "too_many_pixels":
        return _encode(noise, "PNG"), ImageLimits(max_pixels=1000), "over the limit"
    if kind == "decompression_bomb":
        # header declares 100000 x 100000; refused before a single pixel is allocated
        return _png_header_only(100_000, 100_000), lim, "decompression bomb"
    if kind == "too_many_bytes":
        return _encode(noise, "PNG"), ImageLimits(max_bytes=100), "bytes is over the limit"
    if kind == "too_many_bytes_file":  # refused from its size on disk, before it is read
        p = tmp / "huge.png"
        p.write_bytes(_encode(noise, "PNG"))
        return p, ImageLimits(max_bytes=100), "bytes is over the limit"
    if kind == "wrong_type":
        return 12345, lim, "expected a path or bytes"
    raise AssertionError(kind)


BAD_KINDS = [
    "missing",
    "directory",
    "empty",
    "empty_bytes",
    "truncated_jpeg",
    "truncated_png",
    "truncated_tiff",
    "png_missing_iend",
    "jpeg_missing_eoi",
    "truncated_g4_multipage",
    "text",
    "pdf",
    "tiny",
    "zero_size",
    "too_many_pixels",
    "decompression_bomb",
    "too_many_bytes",
    "too_many_bytes_file",
    "wrong_type",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_raises_invalid_image_error(kind: str, tmp_path: Path) -> None:
    arg, limits, needle = _make_bad(kind, tmp_path)
    with pytest.raises(InvalidImageError) as info:
        load_pages(arg, limits=limits)  # type: ignore[arg-type]
    assert needle.lower() in str(info.value).lower(), str(info.value)


def test_error_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.png"
    data = _encode(np.zeros((50, 50), np.uint8), "PNG")
    p.write_bytes(data[:40])
    with pytest.raises(InvalidImageError, match="cut.png"):
        load_pages(p)


# --- discover ---------------------------------------------------------------------------------


def test_discover_order_recursion_and_missing(tmp_path: Path) -> None:
    d = tmp_path / "scans"
    (d / "sub").mkdir(parents=True)
    for name in ["b.png", "a.TIF", "notes.txt", "x.dat", ".hidden.png", "c.x937", "sub/z.jpg"]:
        (d / name).write_bytes(b"x")
    explicit = tmp_path / "first.jpeg"
    explicit.write_bytes(b"x")
    other = tmp_path / "readme.txt"
    other.write_bytes(b"x")
    missing = str(tmp_path / "gone.png")
    got = discover([str(other), str(d), missing, str(explicit)])
    assert got == [
        str(other),  # explicit files are kept whatever their extension
        str(d / "a.TIF"),
        str(d / "b.png"),
        str(d / "c.x937"),
        str(d / "sub" / "z.jpg"),
        missing,
        str(explicit),
    ]
    flat = discover([str(d)], recursive=False)
    assert flat == [str(d / "a.TIF"), str(d / "b.png"), str(d / "c.x937")]


def test_discover_glob_and_dedup(tmp_path: Path) -> None:
    for name in ["2.png", "1.png", "3.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    got = discover([str(tmp_path / "3.jpg"), str(tmp_path / "*.png"), str(tmp_path)])
    assert got == [str(tmp_path / "3.jpg"), str(tmp_path / "1.png"), str(tmp_path / "2.png")]
    nothing = str(tmp_path / "*.bmp")
    assert discover([nothing]) == [nothing]


def test_unreadable_and_symlinked_subfolders_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    from chequereader.io.images import Skipped

    d = tmp_path / "scans"
    for sub in ("a", "locked", "real"):
        (d / sub).mkdir(parents=True)
    for name in ("a/1.png", "locked/2.png", "real/3.png", "top.png"):
        (d / name).write_bytes(b"x")
    (d / "link").symlink_to(d / "real", target_is_directory=True)
    (d / "a" / "loop").symlink_to(d, target_is_directory=True)  # a link loop
    (d / "top-link.png").symlink_to(d / "top.png")  # a link to a file is read
    real_scandir = os.scandir

    def scandir(path):  # root may list any folder: make one unreadable for everybody
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    skipped: list[Skipped] = []
    with caplog.at_level("WARNING", logger="chequereader"):
        got = discover([str(d)], skipped=skipped)
    assert got == [str(d / "a" / "1.png"), str(d / "real" / "3.png"), str(d / "top-link.png"),
                   str(d / "top.png")]
    assert sorted((s.path, s.kind) for s in skipped) == [
        (str(d / "a" / "loop"), "symlink"), (str(d / "link"), "symlink"),
        (str(d / "locked"), "unreadable")]
    assert "Permission denied" in next(s.reason for s in skipped if s.kind == "unreadable")
    assert len(caplog.records) == 3
    assert all("skipped" in r.getMessage() for r in caplog.records)
    # A link named on the command line is the user's choice: it is read.
    assert discover([str(d / "link")]) == [str(d / "link" / "3.png")]
