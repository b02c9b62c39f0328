"""Batch runs as a library: order, error rows, resume, workers, Dask; property tests of the stages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import field_image, untrained_weights
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from chequereader.batch import (
    BatchSummary,
    encode_rows,
    format_for,
    iter_batch,
    open_resume,
    run_batch,
)
from chequereader.config import PipelineConfig
from chequereader.errors import ConfigError, InvalidImageError
from chequereader.types import CSV_COLUMNS, AmountResult


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An untrained LeNet-5 saved as a weight file: enough for batch mechanics, not accuracy."""
    return untrained_weights(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def cfg(weights: str) -> PipelineConfig:
    return PipelineConfig(field=True, weights=weights)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("in")
    out = []
    for i, t in enumerate(["12", "305", "7.50", "41", "96", "18"]):
        p = d / f"f{i}.png"
        cv2.imwrite(str(p), field_image(t))
        out.append(str(p))
    # A two-page TIFF: its rows must be written (and resumed) together.
    pages = [Image.fromarray(field_image("23")), Image.fromarray(field_image("88"))]
    tif = d / "two.tif"
    pages[0].save(tif, save_all=True, append_images=pages[1:])
    out.insert(3, str(tif))
    bad = d / "bad.png"
    bad.write_bytes(b"this is text")
    out.insert(5, str(bad))
    out.append(str(d / "missing.png"))
    return out


def _key(row: dict) -> tuple:
    return (row["file"], row["page"], row["status"], row["amount"], row["text"],
            row["confidence"], row["error"])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_batch_rows_in_input_order_with_errors(tmp_path: Path, files: list[str], cfg) -> None:
    out = tmp_path / "out.jsonl"
    s = run_batch(files, out, cfg, progress=False)
    rows = _rows(out)
    expect = [(f, 0) for f in files[:4]] + [(files[3], 1)] + [(f, 0) for f in files[4:]]
    assert [(r["file"], r["page"]) for r in rows] == expect
    assert isinstance(s, BatchSummary)
    assert (s.inputs, s.files, s.rows, s.skipped) == (len(files), len(files), len(expect), 0)
    assert s.counts["error"] == 2
    err = {r["file"]: r["error"] for r in rows if r["status"] == "error"}
    assert set(err) == {files[5], files[-1]}
    assert "not a recognised image format" in err[files[5]]
    assert "no such file" in err[files[-1]]
    assert all(r["status"] in ("ok", "rejected") for r in rows if r["file"] not in err)


def test_iter_batch_generator_and_skip(files: list[str], cfg) -> None:
    got = list(iter_batch(files[:3], cfg, skip=[files[1]]))
    assert [p for p, _ in got] == [files[0], files[2]]
    assert all(isinstance(r, AmountResult) and len(rs) == 1 for _, rs in got for r in rs)


def test_resume_cuts_torn_line_and_last_file(tmp_path: Path, files: list[str], cfg) -> None:
    out = tmp_path / "out.jsonl"
    run_batch(files, out, cfg, progress=False)
    full = out.read_text().splitlines(keepends=True)
    # Killed after the TIFF's first page row and in the middle of the next line.
    out.write_text("".join(full[:4]) + full[4][:17])
    done = open_resume(out, "jsonl")
    assert done == set(files[:3])  # the TIFF's group (1 of 2 rows) is dropped
    assert out.read_text() == "".join(full[:3])
    # A resume opens the last file in the output again (f2 here) and reads only the pages
    # missing there: none.
    s = run_batch(files, out, cfg, resume=True, progress=False)
    assert s.skipped == 2 and s.rows == len(full) - 3
    assert [_key(r) for r in _rows(out)] == [_key(json.loads(x)) for x in full]


def test_resume_csv_keeps_header(tmp_path: Path, files: list[str], cfg) -> None:
    out = tmp_path / "out.csv"
    run_batch(files[:3], out, cfg, progress=False)
    text = out.read_text()
    lines = text.splitlines(keepends=True)
    assert lines[0] == ",".join(CSV_COLUMNS) + "\n"
    out.write_text("".join(lines[:3]) + lines[3][:5])
    probe = tmp_path / "probe.csv"
    probe.write_text(out.read_text())
    assert open_resume(probe, "csv") == {files[0]}
    assert probe.read_text() == "".join(lines[:2])
    s = run_batch(files[:3], out, cfg, resume=True, progress=False)
    assert s.skipped == 1
    assert _csv_untimed(out.read_text()) == _csv_untimed(text)


def _csv_untimed(text: str) -> list[list[str]]:
    import csv
    import io

    recs = list(csv.reader(io.StringIO(text, newline="")))
    t = list(CSV_COLUMNS).index("timing_ms")
    return [r[:t] + r[t + 1:] for r in recs]


def test_csv_rows_carry_the_jsonl_keys_and_null_a_rejected_amount(tmp_path: Path, files: list[str],
                                                                   cfg) -> None:
    import csv

    run_batch(files, tmp_path / "o.jsonl", cfg, progress=False)
    run_batch(files, tmp_path / "o.csv", cfg, progress=False)
    js = _rows(tmp_path / "o.jsonl")
    cs = list(csv.DictReader((tmp_path / "o.csv").open(newline="")))
    assert [list(r) for r in js] == [list(CSV_COLUMNS)] * len(js)
    assert list(cs[0]) == list(CSV_COLUMNS) and len(cs) == len(js)
    for j, c in zip(js, cs, strict=True):
        for k in CSV_COLUMNS:
            if k == "timing_ms":
                continue
            v = j[k]
            want = "" if v is None else json.dumps(v, ensure_ascii=False) \
                if isinstance(v, (bool, list, dict)) else str(v)
            assert c[k] == want, (k, c[k], want)
        # A rejected or error row's amount is empty; the reading stays visible.
        if j["status"] != "ok":
            assert j["amount"] is None and c["amount"] == ""
        else:
            assert j["amount"] == j["reading"] is not None
    assert {j["status"] for j in js} >= {"error"}
    rej = [j for j in js if j["status"] == "rejected" and j["reading"] is not None]
    assert all(j["text"] for j in rej)


def test_resume_refuses_a_csv_of_other_columns(tmp_path: Path, files: list[str], cfg) -> None:
    from chequereader.errors import OutputError

    out = tmp_path / "old.csv"
    old = "file,page,status,amount,text,confidence,error\nx.png,0,ok,1.00,1.00,0.9,\n"
    out.write_text(old)
    with pytest.raises(OutputError, match="columns"):
        run_batch(files[:1], out, cfg, resume=True, progress=False)
    assert out.read_text() == old  # nothing cut


def test_resume_of_a_finished_run_rereads_only_the_last_file(tmp_path: Path, files: list[str], cfg) -> None:
    out = tmp_path / "out.jsonl"
    run_batch(files[:3], out, cfg, progress=False)
    before = [_key(r) for r in _rows(out)]
    s = run_batch(files[:3], out, cfg, resume=True, progress=False)
    assert (s.skipped, s.files) == (2, 1)
    assert [_key(r) for r in _rows(out)] == before


def test_open_resume_missing_and_empty(tmp_path: Path) -> None:
    assert open_resume(tmp_path / "none.jsonl", "jsonl") == set()
    (tmp_path / "e.jsonl").write_text("")
    assert open_resume(tmp_path / "e.jsonl", "jsonl") == set()


def test_formats_and_usage_errors(tmp_path: Path, cfg) -> None:
    assert format_for("x.CSV") == "csv" and format_for("x.jsonl") == "jsonl" and format_for(None) == "jsonl"
    with pytest.raises(ConfigError, match="format"):
        format_for("x.csv", "xml")
    with pytest.raises(ConfigError, match="resume"):
        run_batch(["a.png"], None, cfg, resume=True, progress=False)
    with pytest.raises(ConfigError, match="workers"):
        list(iter_batch(["a.png"], cfg, workers=0))
    r = AmountResult(status="error", file="a\nb.png", error="line1\nline2")
    # Quoted as RFC 4180 says (the name must come back as it is, see issue 21 item 11).
    assert encode_rows([r], "csv") == '"a\nb.png",0,,error,,,,0.0,[],[],,,"line1\nline2",,[],{},,,\n'
    assert json.loads(encode_rows([r], "jsonl"))["error"] == "line1\nline2"


def test_raise_on_error_propagates(files: list[str], cfg) -> None:
    with pytest.raises(InvalidImageError):
        list(iter_batch([files[5]], cfg, raise_on_error=True))


def test_workers_2_same_rows_as_1(tmp_path: Path, files: list[str], cfg) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_batch(files, a, cfg, progress=False)
    run_batch(files, b, cfg, workers=2, progress=False)
    assert [_key(r) for r in _rows(a)] == [_key(r) for r in _rows(b)]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed not installed")
def test_dask_cluster_same_rows_model_loaded_once_per_worker(tmp_path: Path, files: list[str], cfg) -> None:
    from distributed import Client, LocalCluster

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_batch(files, a, cfg, progress=False)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl, \
            Client(cl) as client:
        run_batch(files, b, cfg, dask=cl.scheduler_address, progress=False)
        loaded = client.run(_n_readers)
    assert [_key(r) for r in _rows(a)] == [_key(r) for r in _rows(b)]
    assert len(loaded) == 2 and all(v <= 1 for v in loaded.values()) and sum(loaded.values()) >= 1


def _n_readers() -> int:
    from chequereader import batch

    return len(batch._READERS)


# ------------------------------------------------------------------------------------------
# Property tests: random inputs never raise anything but InvalidImageError, and decoding
# only ever returns text its grammar accepts.

_images = st.builds(
    lambda h, w, seed, kind: _random_image(h, w, seed, kind),
    st.integers(1, 48), st.integers(1, 96), st.integers(0, 2**31 - 1),
    st.sampled_from(["noise", "strokes", "blank", "black", "bool"]),
)


def _random_image(h: int, w: int, seed: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "blank":
        return np.full((h, w), 255, np.uint8)
    if kind == "black":
        return np.zeros((h, w), np.uint8)
    if kind == "bool":
        return rng.random((h, w)) < 0.3
    img = np.full((h, w), 255, np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        p = rng.integers(0, [w, h], size=(2, 2))
        cv2.line(img, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), 0, int(rng.integers(1, 4)))
    return img


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_images)
def test_stages_on_random_images(image: np.ndarray) -> None:
    from chequereader.clean import clean_field
    from chequereader.lattice import build_graph
    from chequereader.segment import segment

    try:
        cf = clean_field(image)
        seg = segment(cf)
        g = build_graph(seg)
    except InvalidImageError:
        return
    assert cf.binary.shape == image.shape[:2]
    assert g.n_nodes == seg.n_pieces + 1
    assert g.images.shape == (g.n_arcs, 32, 32)
    if g.n_arcs:
        assert (g.src < g.dst).all() and g.dst.max() <= g.n_nodes - 1


@st.composite
def _graphs(draw):
    n = draw(st.integers(1, 6))
    arcs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 3)), max_size=14))
    src = [i for i, _ in arcs if i + 1 <= n - 1]
    dst = [min(i + k, n - 1) for i, k in arcs if i + 1 <= n - 1]
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([0.5, 5.0, 30.0]))
    pen = rng.uniform(0.0, scale, (len(src), 16))
    loc = draw(st.sampled_from(["us", "in", "cl", "any"]))
    return n, np.array(src, np.int64), np.array(dst, np.int64), np.array(pen, np.float64), loc


@settings(max_examples=40, deadline=None)
@given(_graphs())
def test_decode_random_graphs_returns_grammar_text(g) -> None:
    from chequereader.amounts import amount_prior
    from chequereader.decode import decode
    from chequereader.grammar import get_grammar
    from chequereader.models.alphabet import DEFAULT
    from chequereader.types import SegmentationGraph

    n, src, dst, pen, loc = g
    gram = get_grammar(loc)
    d = decode(SegmentationGraph.of_arcs(n, src, dst), pen, gram.tables(DEFAULT), amount_prior(loc))
    assert d.status in ("ok", "rejected")
    assert 0.0 <= d.confidence <= 1.0
    if d.path is None:
        assert d.amount is None and d.text == ""
    else:
        assert gram.accepts(d.text)
        assert d.amount is not None
        assert all(gram.accepts(a.text) for a in d.alternatives)


class _Stream:
    def __init__(self, tty: bool) -> None:
        import io

        self.buf, self.tty = io.StringIO(), tty

    def write(self, s: str) -> int:
        return self.buf.write(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_on_a_terminal_and_log_lines_otherwise() -> None:
    from chequereader.batch import Progress

    res = [AmountResult("ok"), AmountResult("error", error="x")]
    tty = _Stream(True)
    p = Progress(2, stream=tty)
    p.update(res)
    p.update([AmountResult("rejected")])
    p.close()
    out = tty.buf.getvalue()
    assert "chequereader: error: : x\n" in out
    assert "2/2" in out and "ok=1" in out and "rejected=1" in out and "error=1" in out
    log = _Stream(False)
    p = Progress(2, stream=log, every_s=0.0)
    p.update(res)
    p.close()
    lines = log.buf.getvalue().splitlines()
    assert lines[0] == "chequereader: error: : x"
    assert lines[1].startswith("chequereader: 1/2 files") and lines[1].endswith("ok=1 rejected=0 error=1")
    assert len(lines) == 3
    named = _Stream(False)
    p = Progress(1, stream=named, every_s=0.0)
    p.update([AmountResult("error", file="a.png", error="a.png: empty file (0 bytes)"),
              AmountResult("error", file="b.tif", page=1, error="page 1 unreadable")])
    p.close()
    said = named.buf.getvalue().splitlines()
    assert said[0] == "chequereader: error: a.png: empty file (0 bytes)"  # the path once
    assert said[1] == "chequereader: error: b.tif page 1: page 1 unreadable"
    quiet = _Stream(False)
    p = Progress(2, enabled=False, stream=quiet)
    p.update(res)
    p.close()
    assert quiet.buf.getvalue() == "" and p.counts == {"ok": 1, "rejected": 0, "error": 1}


def _crashy(path: str) -> list[AmountResult]:
    import os

    if "crash" in path:
        os._exit(3)  # what the OOM killer or a codec segfault does to a worker
    return [AmountResult("ok", file=path)]


def test_pool_survives_a_worker_dying() -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from chequereader.batch import _pool_results

    todo = ["a", "b", "crash1", "c", "d", "crash2", "e"]
    ctx = mp.get_context("fork")
    got = list(_pool_results(todo, lambda: ProcessPoolExecutor(2, mp_context=ctx), _crashy, 4))
    assert [p for p, _ in got] == todo
    for p, res in got:
        assert len(res) == 1 and res[0].file == p
        assert res[0].status == ("error" if "crash" in p else "ok")
    assert "worker process died" in got[2][1][0].error
    with pytest.raises(Exception, match="terminated abruptly"):
        list(_pool_results(["crash"], lambda: ProcessPoolExecutor(1, mp_context=ctx), _crashy, 2,
                           raise_on_error=True))


# ------------------------------------------------------------------------------------------
# issue 21 (production runs)


def test_resume_keys_on_normalised_path(tmp_path: Path, cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    for i, t in enumerate(["12", "305", "41"]):
        cv2.imwrite(str(tmp_path / "x" / f"f{i}.png"), field_image(t))
    out = tmp_path / "out.jsonl"
    run_batch(["./x"], out, cfg, progress=False)
    first = _rows(out)
    assert [r["file"] for r in first] == [f"./x/f{i}.png" for i in range(3)]
    s = run_batch(["x"], out, cfg, resume=True, progress=False)
    # Only the last file is opened again (its rows may have been incomplete); its one page
    # is written already under its other spelling, so it is not read again.
    assert (s.skipped, s.files, s.rows) == (2, 1, 0)
    assert [r["file"] for r in _rows(out)] == ["./x/f0.png", "./x/f1.png", "./x/f2.png"]


def test_newline_in_filename_survives_csv_resume(tmp_path: Path, cfg) -> None:
    d = tmp_path / "in"
    d.mkdir()
    names = [str(d / "a\nb.png"), str(d / "c.png")]
    for p, t in zip(names, ["12", "34"], strict=True):
        cv2.imwrite(str(d / "tmp.png"), field_image(t))
        Path(d / "tmp.png").rename(p)
    out = tmp_path / "out.csv"
    run_batch(names, out, cfg, progress=False)
    import csv

    def files() -> list[str]:
        return [r["file"] for r in csv.DictReader(out.open(newline=""))]

    assert files() == names
    assert open_resume(tmp_path / "probe.csv", "csv") == set()
    s = run_batch(names, out, cfg, resume=True, progress=False)
    assert (s.skipped, s.files) == (1, 1)
    assert files() == names
    # A torn record inside the quoted name is cut, and the name read again.
    text = out.read_bytes()
    out.write_bytes(text[: text.index(b"a\nb") + 2])
    assert open_resume(out, "csv") == set()
    assert out.read_text() == ",".join(CSV_COLUMNS) + "\n"


def test_second_writer_on_same_output_is_refused(tmp_path: Path, files: list[str], cfg) -> None:
    from chequereader.batch import RowWriter
    from chequereader.errors import OutputError

    out = tmp_path / "out.jsonl"
    with RowWriter(out, "jsonl") as first:
        first.write([AmountResult(status="error", file="first.png", error="x")])
        with pytest.raises(OutputError, match="another run is writing"):
            run_batch(files[:2], out, cfg, progress=False)
        with pytest.raises(OutputError, match="another run is writing"):
            run_batch(files[:2], out, cfg, resume=True, progress=False)
        assert [r["file"] for r in _rows(out)] == ["first.png"]  # neither truncated nor mixed
    s = run_batch(files[:2], out, cfg, progress=False)  # the lock went with the first writer
    assert s.rows == 2


def test_disk_full_keeps_earlier_rows_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from chequereader.batch import RowWriter
    from chequereader.errors import OutputError

    out = tmp_path / "out.jsonl"
    w = RowWriter(out, "jsonl")
    w.write([AmountResult(status="error", file="a.png", error="x")])
    before = out.read_bytes()
    real_write = os.write

    def full(fd: int, data) -> int:  # a few bytes reach the disk, then it is full
        real_write(fd, bytes(data[:7]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutputError, match=r"writing failed \(No space left on device \[ENOSPC\]\)"):
        w.write([AmountResult(status="error", file="b.png", error="y")])
    monkeypatch.undo()
    w.close()
    assert out.read_bytes() == before


def test_x9_defects_give_error_rows_and_the_batch_goes_on(tmp_path: Path, files: list[str], cfg) -> None:
    from chequereader.io.images import encode_tiff_g4
    from chequereader.io.x937 import X9Item, write_x937

    empty = tmp_path / "empty.x937"
    write_x937(empty, [])
    inner = tmp_path / "inner.x937"
    write_x937(inner, [X9Item("1", 1, encode_tiff_g4(field_image("12")), None, 0)])
    nested = tmp_path / "nested.x937"
    write_x937(nested, [X9Item("2", 2, inner.read_bytes(), None, 0),
                        X9Item("3", 3, encode_tiff_g4(field_image("34")), None, 1)])
    out = tmp_path / "out.jsonl"
    s = run_batch([files[0], str(empty), str(nested), files[1]], out, cfg, progress=False)
    rows = _rows(out)
    assert [(r["file"], r["page"], r["status"]) for r in rows][:4] == [
        (files[0], 0, rows[0]["status"]), (str(empty), 0, "error"), (str(nested), 0, "error"),
        (str(nested), 1, rows[3]["status"])]
    assert rows[3]["status"] != "error" and rows[4]["file"] == files[1]
    assert "holds no items" in rows[1]["error"] and "itself an X9.37 file" in rows[2]["error"]
    assert s.rows == 5
