"""X9.37 structure checks (issue 21 item 9): control records 70/90/99 against the items,
images without their check detail record, records and items out of order. Files are written
by the project's own writer and then damaged by hand."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from chequereader.cli import main
from chequereader.io.images import encode_tiff_g4
from chequereader.io.x937 import X9Item, iter_x937_pages, read_x937, write_x937


def _front(text: str) -> bytes:
    img = np.full((40, 20 + 22 * len(text)), 255, np.uint8)
    cv2.putText(img, text, (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2)
    return encode_tiff_g4(img)


ITEMS = [
    X9Item("1", 12345, _front("123"), None, 0),
    X9Item("2", 700, _front("7"), _front("b"), 1),
    X9Item("3", None, _front("0"), None, 2),  # a deposit ticket (credit record 61)
    X9Item("4", 100, _front("1"), None, 3),
]


def _write(items=ITEMS) -> bytes:
    buf = io.BytesIO()
    write_x937(buf, items, "ascii", created=datetime(2024, 5, 6, 7, 8))
    return buf.getvalue()


def _split(data: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(data):
        n = int.from_bytes(data[off: off + 4], "big")
        out.append(data[off + 4: off + 4 + n])
        off += 4 + n
    return out


def _join(recs: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "big") + r for r in recs)


def _patch(data: bytes, rtype: bytes, start: int, text: str) -> bytes:
    """Replace the characters from 1-based position ``start`` of the first record ``rtype``."""
    recs = _split(data)
    i = next(k for k, r in enumerate(recs) if r[:2] == rtype)
    r = recs[i]
    recs[i] = r[: start - 1] + text.encode() + r[start - 1 + len(text):]
    return _join(recs)


def _warnings(data: bytes) -> list[tuple[str, ...]]:
    return [it.warnings for it in read_x937(data)]


def test_x9_file_from_the_writer_has_no_structure_warnings() -> None:
    assert _warnings(_write()) == [()] * 4
    assert [i.amount_cents for i in read_x937(_write())] == [12345, 700, None, 100]


def test_x9_bundle_control_counts_and_total_disagree() -> None:
    data = _patch(_write(), b"70", 3, "0005")              # items: 4 written
    data = _patch(data, b"70", 31, "00009")                # images: 5 written
    w = _warnings(data)
    assert w[:3] == [(), (), ()]  # a control record's warnings go on the last item before it
    assert any("bundle control (70)" in m and "items 5, the records hold 4" in m for m in w[3])
    assert any("images 9, the records hold 5" in m for m in w[3])
    # The total (one item's amount changed: 70, 90 and 99 no longer add up).
    data = _patch(_write(), b"25", 48, "0000012346")
    w = _warnings(data)[3]
    # (the bundle holds a credit, whose amount the totals do not include: totals unchecked)
    assert w == ()
    no_credit = [ITEMS[0], ITEMS[1], ITEMS[3]]
    data = _patch(_write(no_credit), b"25", 48, "0000012346")
    w = _warnings(data)[2]
    assert any("bundle control (70)" in m and "a total of 131.45, the records hold 131.46" in m
               for m in w)
    assert any("cash letter control (90)" in m for m in w)
    assert any("file control (99)" in m for m in w)
    # The amounts read from the records are kept as they are: nothing is guessed.
    assert read_x937(data)[0].amount_cents == 12346


def test_x9_cash_letter_and_file_control_disagree() -> None:
    data = _patch(_write(), b"90", 9, "00000003")          # items: 4
    data = _patch(data, b"99", 9, "00000099")              # records
    w = _warnings(data)[3]
    assert any("cash letter control (90)" in m and "items 3, the records hold 4" in m for m in w)
    assert any("file control (99)" in m and "records 99" in m for m in w)
    bad = _patch(_write(), b"99", 17, "0000000x")
    assert any("total item count '0000000x' is not a number" in m for m in _warnings(bad)[3])


def test_x9_image_without_its_check_detail_record() -> None:
    recs = _split(_write())
    # Drop item 1's check detail (25) and addendum (26): its images now belong to no item.
    first25 = [k for k, r in enumerate(recs) if r[:2] == b"25"][1]
    del recs[first25: first25 + 2]
    got = read_x937(_join(recs))
    assert got[1].amount_cents is None
    assert any("image without its check detail record (25)" in m for m in got[1].warnings)
    assert any("items 4, the records hold 3" in m for m in got[-1].warnings)


def test_x9_image_data_without_its_image_view_detail() -> None:
    recs = _split(_write())
    first50 = next(k for k, r in enumerate(recs) if r[:2] == b"50")
    del recs[first50]
    got = read_x937(_join(recs))
    assert any("without an image view detail record (50)" in m for m in got[0].warnings)


def test_x9_items_out_of_order() -> None:
    items = [X9Item(s, 100, _front("1"), None, i) for i, s in enumerate(["1", "3", "2"])]
    w = _warnings(_write(items))
    assert w[0] == () and w[1] == ()
    assert any("item sequence number 2 comes after 3: items out of order" in m for m in w[2])
    # Records out of order: a check detail after its bundle's control record.
    recs = _split(_write(items))
    k70 = next(k for k, r in enumerate(recs) if r[:2] == b"70")
    moved = recs[k70]
    del recs[k70]
    recs.insert(k70 - 4, moved)  # the 70 before the last item's 25, 26, 50, 52
    w = _warnings(_join(recs))
    assert any("outside a bundle" in m for m in w[2])


def test_x9_warnings_on_rows_and_exit_status_6(tmp_path: Path) -> None:
    import torch

    from chequereader.models.lenet5 import LeNet5
    from chequereader.models.weights import save_model

    torch.manual_seed(0)
    weights = str(save_model(LeNet5(), tmp_path / "untrained.pt"))
    good, bad = tmp_path / "good.x937", tmp_path / "bad.x937"
    good.write_bytes(_write())
    bad.write_bytes(_patch(_write(), b"70", 3, "0005"))
    pages = list(iter_x937_pages(bad))
    assert pages[3].meta["x9_warnings"] and pages[0].meta["x9_warnings"] == []
    r = CliRunner().invoke(main, ["read", str(good), "--field", "--weights", weights,
                                  "-o", str(tmp_path / "g.jsonl"), "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "b.jsonl"
    r = CliRunner().invoke(main, ["read", str(bad), "--field", "--weights", weights,
                                  "-o", str(out)])
    assert r.exit_code == 6, r.output
    assert "1 with X9 structure warnings" in r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [bool(x["x9_warnings"]) for x in rows] == [False, False, False, True]
    assert [x["x9_amount"] for x in rows] == ["123.45", "7.00", None, "1.00"]


@pytest.mark.parametrize("encoding", ["ascii", "ebcdic"])
def test_x9_samples_and_both_encodings_are_clean(encoding: str) -> None:
    buf = io.BytesIO()
    write_x937(buf, ITEMS, encoding)
    assert _warnings(buf.getvalue()) == [()] * 4
    samples = Path(__file__).resolve().parents[1] / "samples" / "cheques.x937"
    assert all(it.warnings == () for it in read_x937(samples))
