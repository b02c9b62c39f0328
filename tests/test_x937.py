"""X9.37 image cash letters: round trips, deposit tickets, bad lengths, truncation, pages."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from chequereader.errors import ConfigError, InvalidImageError
from chequereader.io.images import ImageLimits, encode_tiff_g4, load_pages
from chequereader.io.x937 import X9Item, is_x937, iter_x937, read_x937, write_x937, x937_pages


def _img(seed: int, h: int = 40, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 255, np.uint8)
    img[rng.random((h, w)) < 0.1] = 0
    return img


FRONT = [encode_tiff_g4(_img(i)) for i in range(3)]
BACK = [encode_tiff_g4(_img(10 + i, 30, 80)) for i in range(3)]
ITEMS = [
    X9Item("000000000000001", 12345, FRONT[0], BACK[0], 0),
    X9Item("42", 0, FRONT[1], None, 1),
    X9Item("SEQ-7", 9_999_999_999, FRONT[2], BACK[2], 2),
]


def _write(items, encoding="ascii") -> bytes:
    buf = io.BytesIO()
    write_x937(buf, items, encoding, created=datetime(2024, 5, 6, 7, 8))
    return buf.getvalue()


def _records(data: bytes) -> list[tuple[int, bytes]]:
    out, off = [], 0
    while off < len(data):
        n = int.from_bytes(data[off : off + 4], "big")
        out.append((off, data[off + 4 : off + 4 + n]))
        off += 4 + n
    return out


@pytest.mark.parametrize("encoding", ["ascii", "ebcdic"])
def test_round_trip(encoding: str, tmp_path: Path) -> None:
    path = tmp_path / f"cl.{encoding}.x937"
    write_x937(path, ITEMS, encoding)
    assert is_x937(path)
    got = read_x937(path)
    assert got == ITEMS  # amounts, sequence numbers, front/back bytes, indices
    assert [i.amount_cents for i in got] == [12345, 0, 9_999_999_999]


@pytest.mark.parametrize("encoding,codec", [("ascii", "ascii"), ("ebcdic", "cp037")])
def test_record_layout(encoding: str, codec: str) -> None:
    data = _write(ITEMS[:1], encoding)
    recs = _records(data)
    types = [r[:2].decode(codec) for _, r in recs]
    assert types == ["01", "10", "20", "25", "26", "50", "52", "50", "52", "70", "90", "99"]
    fixed = [r for _, r in recs if r[:2].decode(codec) != "52"]
    assert all(len(r) == 80 for r in fixed)
    detail = recs[3][1].decode(codec)
    assert detail[47:57] == "0000012345"  # item amount, positions 48-57
    assert detail[57:72] == "000000000000001"  # ECE item sequence number, positions 58-72
    front_view = recs[5][1].decode(codec)
    assert front_view[31] == "0" and recs[7][1].decode(codec)[31] == "1"  # view side
    image_rec = recs[6][1]
    # image bytes are binary (not transcoded) at the end of record 52, after the 7-digit length
    assert image_rec.endswith(FRONT[0])
    assert image_rec[-len(FRONT[0]) - 7 : -len(FRONT[0])].decode(codec) == f"{len(FRONT[0]):07d}"
    bundle = recs[9][1].decode(codec)
    assert bundle[2:6] == "0001" and bundle[6:18] == "000000012345"
    assert recs[-1][1].decode(codec)[8:16] == f"{len(recs):08d}"  # total record count


def test_images_decode_identically() -> None:
    items = read_x937(_write(ITEMS, "ebcdic"))
    np.testing.assert_array_equal(load_pages(items[0].front)[0].image, _img(0))
    np.testing.assert_array_equal(load_pages(items[2].back)[0].image, _img(12, 30, 80))


def test_deposit_ticket_without_check_detail() -> None:
    items = [
        X9Item("DEP1", None, FRONT[0], BACK[0], 0),
        X9Item("77", 5000, FRONT[1], BACK[1], 1),
        X9Item("DEP2", None, FRONT[2], None, 2),
    ]
    data = _write(items)
    types = [r[:2] for _, r in _records(data)]
    assert types.count(b"25") == 1
    got = read_x937(data)
    assert [(i.sequence, i.amount_cents, i.index) for i in got] == [
        ("DEP1", None, 0),
        ("77", 5000, 1),
        ("DEP2", None, 2),
    ]
    assert got[0].back == BACK[0] and got[2].back is None


def test_two_ticket_fronts_in_a_row_are_two_items() -> None:
    # 50/52 front, 50/52 front with no detail records: two items, not one item overwritten
    data = _write([X9Item("A", None, FRONT[0], None, 0), X9Item("B", None, FRONT[1], None, 1)])
    got = read_x937(data)
    assert [(i.sequence, i.front) for i in got] == [("A", FRONT[0]), ("B", FRONT[1])]


def test_bad_record_length_names_offset() -> None:
    data = bytearray(_write(ITEMS))
    recs = _records(bytes(data))
    off = recs[3][0]  # the check detail record
    data[off : off + 4] = (10_000_000).to_bytes(4, "big")
    with pytest.raises(InvalidImageError, match=rf"offset {off}\b"):
        read_x937(bytes(data))


def test_misaligned_length_detected() -> None:
    data = bytearray(_write(ITEMS))
    off = _records(bytes(data))[2][0]
    data[off : off + 4] = (79).to_bytes(4, "big")  # one byte short: the next prefix is garbage
    with pytest.raises(InvalidImageError, match=rf"record at offset {off + 83} declares"):
        read_x937(bytes(data))
    data = bytearray(_write(ITEMS))
    data[off + 4 : off + 6] = b"X "  # a record whose type is not two digits
    with pytest.raises(InvalidImageError, match=f"offset {off}: type 'X ' is not a record type"):
        read_x937(bytes(data))


def test_zero_length_record() -> None:
    data = bytearray(_write(ITEMS))
    off = _records(bytes(data))[1][0]
    data[off : off + 4] = b"\x00\x00\x00\x00"
    with pytest.raises(InvalidImageError, match=f"bad record length 0 at offset {off}"):
        read_x937(bytes(data))


@pytest.mark.parametrize("cut", [1, 2, 500])
def test_truncated_file(cut: int) -> None:
    data = _write(ITEMS)
    with pytest.raises(InvalidImageError, match="offset"):
        read_x937(data[:-cut])


def test_truncated_at_record_boundary_needs_99() -> None:
    data = _write(ITEMS)
    last = _records(data)[-1][0]
    with pytest.raises(InvalidImageError, match=r"without a file control record \(99\)"):
        read_x937(data[:last])


def test_not_x9() -> None:
    assert not is_x937(b"\x89PNG\r\n\x1a\n....")
    assert not is_x937(b"")
    assert not is_x937("/no/such/file")
    with pytest.raises(InvalidImageError, match="not an X9.37 file"):
        read_x937(b"\x00\x00\x00\x5010" + b" " * 78)


def test_iter_yields_before_a_later_error() -> None:
    data = _write(ITEMS)
    gen = iter_x937(data[:-500])
    assert next(gen).sequence == "000000000000001"
    with pytest.raises(InvalidImageError):
        list(gen)


def test_x937_pages_meta_and_bad_item(tmp_path: Path) -> None:
    items = [
        X9Item("1", 12345, FRONT[0], BACK[0], 0),
        X9Item("2", 700, b"this is not a tiff", None, 1),
        X9Item("3", None, FRONT[2], None, 2),
        X9Item("4", 1, None, BACK[1], 3),
    ]
    path = tmp_path / "cl.icl"
    write_x937(path, items, "ebcdic")
    pages = x937_pages(path, ImageLimits())
    assert [p.index for p in pages] == [0, 1, 2, 3]
    assert pages[0].meta == {"x9_amount": "123.45", "x9_sequence": "1", "x9_item": 0,
                             "x9_warnings": []}
    np.testing.assert_array_equal(pages[0].image, _img(0))
    assert pages[0].dpi == (200.0, 200.0) and pages[0].source == str(path)
    assert pages[1].image.shape == (1, 1)
    assert "item 1" in pages[1].meta["error"] and "not a recognised image" in pages[1].meta["error"]
    assert pages[1].meta["x9_amount"] == "7.00"
    assert pages[2].meta["x9_amount"] is None and "error" not in pages[2].meta
    assert "no front image" in pages[3].meta["error"]


def test_load_pages_dispatches_by_sniffing_and_extension(tmp_path: Path) -> None:
    data = _write(ITEMS)
    sniffed = tmp_path / "cashletter.bin"
    sniffed.write_bytes(data)
    pages = load_pages(sniffed)
    assert [p.meta["x9_sequence"] for p in pages] == ["000000000000001", "42", "SEQ-7"]
    assert len(load_pages(data)) == 3
    bad = tmp_path / "broken.x937"
    bad.write_bytes(b"\x00\x00\x00\x10garbage")
    with pytest.raises(InvalidImageError, match="broken.x937"):
        load_pages(bad)


@pytest.mark.parametrize(
    "item,match",
    [
        (X9Item("1234567890123456", 1, None, None, 0), "sequence"),
        (X9Item("1", -5, None, None, 0), "amount_cents"),
        (X9Item("1", 10**10, None, None, 0), "amount_cents"),
    ],
)
def test_writer_validates(item: X9Item, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _write([item])


def test_writer_rejects_bad_encoding() -> None:
    with pytest.raises(ConfigError, match="encoding"):
        write_x937(io.BytesIO(), ITEMS, "utf-16")


def test_empty_cash_letter() -> None:
    assert read_x937(_write([])) == []


# ---------------------------------------------------------------------------------------------
# issue 21 (production runs): a bad item is an error row for that item, never the whole file


def _patch_record(data: bytes, rtype: bytes, nth: int, start: int, new: bytes) -> bytes:
    """``data`` with bytes ``start..`` (0-based) of the ``nth`` record of type ``rtype`` replaced."""
    seen = -1
    for off, rec in _records(data):
        if rec[:2] == rtype:
            seen += 1
            if seen == nth:
                pos = off + 4 + start
                return data[:pos] + new + data[pos + len(new):]
    raise AssertionError("record not found")


def test_x9_non_ascii_digits_are_an_error_row_for_that_item() -> None:
    data = _write(ITEMS, "ebcdic")
    # cp037 0xEA 0xFA 0xDA decode to superscript 2 3 1: str.isdigit() says yes, int() says no.
    sup = b"\xea\xfa\xda"
    bad_amount = _patch_record(data, "25".encode("cp037"), 1, 47, b"\xf0" * 7 + sup)
    pages = x937_pages(bad_amount)
    assert [p.index for p in pages] == [0, 1, 2]
    assert "item amount" in pages[1].meta["error"] and "ASCII digits" in pages[1].meta["error"]
    assert "error" not in pages[0].meta and "error" not in pages[2].meta
    assert read_x937(bad_amount)[1].error and read_x937(bad_amount)[2].error is None
    # The image data length of record 52 (7 digits after 101 + 4 + 5 bytes).
    bad_length = _patch_record(data, "52".encode("cp037"), 2, 110, sup[:1])
    pages = x937_pages(bad_length)
    assert len(pages) == 3
    assert "image data length" in pages[1].meta["error"]
    assert "error" not in pages[0].meta and "error" not in pages[2].meta
    # A record type in superscript digits is a corrupt file, said as such.
    bad_type = _patch_record(data, "26".encode("cp037"), 0, 0, sup[:2])
    with pytest.raises(InvalidImageError, match="not a record type"):
        x937_pages(bad_type)


def test_x9_nested_in_an_image_record_is_an_error_row() -> None:
    inner = _write(ITEMS[:1])
    pages = x937_pages(_write([X9Item("9", 100, inner, None, 0), ITEMS[1]]))
    assert "itself an X9.37 file" in pages[0].meta["error"]
    assert "error" not in pages[1].meta
    # Nested deeper than the interpreter's recursion limit allows to follow.
    deep = inner
    for _ in range(400):
        deep = _write([X9Item("1", 1, deep, None, 0)])
    pages = load_pages(deep)
    assert len(pages) == 1 and "itself an X9.37 file" in pages[0].meta["error"]


def test_x9_with_zero_items_is_one_error_row(tmp_path: Path) -> None:
    path = tmp_path / "empty.x937"
    path.write_bytes(_write([]))
    assert read_x937(path) == []  # the items as such: none
    with pytest.raises(InvalidImageError, match="holds no items") as exc:
        load_pages(path)
    assert str(path) in str(exc.value)
