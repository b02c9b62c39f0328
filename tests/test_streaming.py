"""Production runs (issue 21): damaged G4 strips, streamed multi-page TIFF and X9 inputs,
X9 resume by item."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import field_image, untrained_weights

from chequereader.batch import run_batch
from chequereader.config import PipelineConfig
from chequereader.errors import InvalidImageError
from chequereader.io import images as images_mod
from chequereader.io import x937 as x937_mod
from chequereader.io.images import encode_tiff_g4, iter_pages, load_pages, write_tiff_g4
from chequereader.io.x937 import X9Item, write_x937

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return untrained_weights(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def cfg(weights: str) -> PipelineConfig:
    return PipelineConfig(field=True, weights=weights)


def _x9(path: Path, n: int, size: tuple[int, int] = (40, 120)) -> Path:
    items = [X9Item(str(i + 1), 100 * (i + 1),
                    encode_tiff_g4(field_image(str(i % 97), size[1])[: size[0]]), None, i)
             for i in range(n)]
    write_x937(path, items, "ebcdic", created=datetime(2024, 1, 1))
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _key(row: dict) -> tuple:
    return (row["file"], row["page"], row["status"], row["amount"], row["text"],
            row["confidence"], row["error"], row.get("x9_sequence"), row.get("x9_amount"))


# ------------------------------------------------------------------------------------------
# item 4: a G4 strip with flipped bits


def _flip_strip_bits(data: bytes) -> bytes:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    off, count = im.tag_v2[273][0], im.tag_v2[279][0]
    b = bytearray(data)
    for k in range(8):  # bits in the middle of the first strip, as a bad transfer flips them
        b[off + count // 4 + 37 * k] ^= 1 << (k % 8)
    return bytes(b)


def test_g4_strip_with_flipped_bits_is_an_error_row(tmp_path: Path) -> None:
    # A G4 TIFF made by the project's own generator (samples/), damaged in its strip: libtiff
    # says "Fax4Decode: Bad code word" and goes on; the page must not be read as if whole.
    data = (ROOT / "samples" / "cheque_0002.tif").read_bytes()
    load_pages(data)  # the undamaged file decodes
    bad = _flip_strip_bits(data)
    with pytest.raises(InvalidImageError, match="corrupt image data.*Fax4Decode"):
        load_pages(bad)
    p = tmp_path / "damaged.tif"
    p.write_bytes(bad)
    out = tmp_path / "out.jsonl"
    run_batch([str(p)], out, PipelineConfig(), progress=False)
    (row,) = _rows(out)
    assert row["status"] == "error" and row["amount"] is None
    assert "corrupt image data" in row["error"] and "Fax4Decode" in row["error"]
    # The same damage inside an X9 item: that item is an error row, the others are read.
    items = [X9Item("1", 100, data, None, 0), X9Item("2", 200, bad, None, 1)]
    x9 = tmp_path / "cl.x937"
    write_x937(x9, items)
    pages = list(iter_pages(x9))
    assert "error" not in pages[0].meta
    assert "corrupt image data" in pages[1].meta["error"]


# ------------------------------------------------------------------------------------------
# item 5: multi-page TIFF pages stream


def _count_calls(monkeypatch: pytest.MonkeyPatch, module, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_multipage_tiff_pages_are_decoded_one_at_a_time(tmp_path: Path, cfg,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "five.tif"
    write_tiff_g4(p, [field_image(str(10 + i)) for i in range(5)])
    decoded = _count_calls(monkeypatch, images_mod, "_decode_frame")
    it = iter_pages(p)
    first = next(it)
    assert first.index == 0 and len(decoded) == 1  # page 1 not decoded yet
    assert next(it).index == 1 and len(decoded) == 2
    from chequereader.pipeline import ChequeReader

    decoded.clear()
    rows = ChequeReader(cfg).iter_file(p)
    assert next(rows).page == 0 and len(decoded) == 1
    assert [r.page for r in rows] == [1, 2, 3, 4] and len(decoded) == 5
    decoded.clear()
    assert [pg.index for pg in iter_pages(p, skip={0, 1, 3})] == [2, 4] and len(decoded) == 2


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_multipage_tiff_memory_is_one_page_not_the_file(tmp_path: Path) -> None:
    page = np.full((1200, 1200), 255, np.uint8)
    page[100:200, 100:900] = 0
    one, many = tmp_path / "one.tif", tmp_path / "many.tif"
    write_tiff_g4(one, [page])
    write_tiff_g4(many, [page] * 16)

    def consume(p: Path) -> None:
        for pg in iter_pages(p):
            del pg

    peak_one, peak_many = _peak(lambda: consume(one)), _peak(lambda: consume(many))
    # 16 pages held at once would be 16 x 1.44 MB.
    assert peak_many < 2.5 * peak_one, (peak_one, peak_many)


# ------------------------------------------------------------------------------------------
# item 6: X9 items stream, rows are written per item, resume skips items written


def test_x9_items_stream_before_the_file_is_parsed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    x9 = _x9(tmp_path / "cl.x937", 30)
    parsed = _count_calls(monkeypatch, x937_mod, "_parse_52")
    decoded = _count_calls(monkeypatch, x937_mod, "load_pages")
    it = iter_pages(x9)
    first = next(it)
    assert first.meta["x9_item"] == 0 and first.meta["x9_sequence"] == "1"
    assert len(parsed) == 1 and len(decoded) == 1  # 29 items still unread
    assert len(list(it)) == 29 and len(parsed) == 30


def test_x9_memory_does_not_grow_with_item_count(tmp_path: Path) -> None:
    few, lots = _x9(tmp_path / "few.x937", 20), _x9(tmp_path / "lots.x937", 200)

    def consume(p: Path) -> None:
        for pg in iter_pages(p):
            del pg

    peak_few, peak_lots = _peak(lambda: consume(few)), _peak(lambda: consume(lots))
    assert peak_lots < 1.5 * peak_few + 64_000, (peak_few, peak_lots)


def test_x9_rows_are_written_as_items_are_read(tmp_path: Path, cfg,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from chequereader import batch

    x9 = _x9(tmp_path / "cl.x937", 6)
    writes: list[int] = []
    real = batch.RowWriter.write

    def write(self, results):
        n = real(self, results)
        if n:
            writes.append(n)
        return n

    monkeypatch.setattr(batch.RowWriter, "write", write)
    out = tmp_path / "out.jsonl"
    s = run_batch([str(x9)], out, cfg, progress=False)
    assert writes == [1] * 6 and s.rows == 6 and s.files == 1
    rows = _rows(out)
    assert [(r["page"], r["x9_item"], r["x9_sequence"], r["x9_amount"]) for r in rows] == [
        (i, i, str(i + 1), f"{i + 1}.00") for i in range(6)]


@pytest.mark.parametrize("workers", [1, 2])
def test_x9_resume_skips_items_already_written(tmp_path: Path, cfg, workers: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    x9 = _x9(tmp_path / "cl.x937", 8)
    out = tmp_path / "out.jsonl"
    run_batch([str(x9)], out, cfg, progress=False, workers=workers)
    full = out.read_text().splitlines(keepends=True)
    assert len(full) == 8
    # Killed after 5 items' rows, in the middle of the 6th.
    out.write_text("".join(full[:5]) + full[5][:30])
    decoded = _count_calls(monkeypatch, x937_mod, "item_page")
    s = run_batch([str(x9)], out, cfg, progress=False, resume=True, workers=workers)
    assert s.rows == 3 and s.skipped == 0 and s.files == 1
    if workers == 1:  # (in workers, the counter is not this process's)
        assert len(decoded) == 3  # items 0-4 were not decoded again
    assert [_key(r) for r in _rows(out)] == [_key(json.loads(x)) for x in full]


def test_progress_counts_rows_inside_a_long_file() -> None:
    from chequereader.batch import Progress
    from chequereader.types import AmountResult

    buf = io.StringIO()
    p = Progress(1, stream=buf, every_s=0.0)
    for _ in range(3):
        p.update([AmountResult("ok", file="cl.x937")], end=False)
    assert p.files == 0 and p.rows == 3
    assert "0/1 files" in buf.getvalue() and "3 rows" in buf.getvalue()
    p.update([], end=True)
    assert p.files == 1


def test_multipage_tiff_file_is_read_from_disk_not_held(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pages = [(rng.random((300, 300)) < 0.5).astype(np.uint8) * 255 for _ in range(80)]
    p = tmp_path / "noise.tif"
    write_tiff_g4(p, pages)  # noise compresses badly: the file is larger than a page
    size = p.stat().st_size
    assert size > 1_800_000

    def consume() -> None:
        for i, pg in enumerate(iter_pages(p)):
            assert (pg.image == pages[i]).all()
            del pg

    peak = _peak(consume)
    assert peak < size / 3, (peak, size)  # one page (90 KB) and the checks, not the file


def test_multipage_tiff_pages_are_shared_among_workers(tmp_path: Path, cfg) -> None:
    from chequereader.batch import _file_tasks

    p = tmp_path / "six.tif"
    write_tiff_g4(p, [field_image(str(20 + i)) for i in range(6)])
    tasks = list(_file_tasks(0, str(p), frozenset({1}), per_task=2))
    assert [t.page for t in tasks] == [0, 3, 5] and [t.end for t in tasks] == [False, False, True]
    assert [frozenset(range(6)) - t.skip for t in tasks] == [{0, 2}, {3, 4}, {5}]
    one = tmp_path / "one.jsonl"
    two = tmp_path / "two.jsonl"
    run_batch([str(p), str(ROOT / "samples" / "cheque_0000.png")], one, cfg, progress=False)
    run_batch([str(p), str(ROOT / "samples" / "cheque_0000.png")], two, cfg, progress=False,
              workers=2)
    assert [_key(r) for r in _rows(two)] == [_key(r) for r in _rows(one)]
    assert [r["page"] for r in _rows(two)][:6] == list(range(6))
    # a file that is not a TIFF, or a one-page TIFF, stays one task
    assert [t.page for t in _file_tasks(0, str(ROOT / "samples" / "cheque_0000.png"), frozenset())] == [None]
