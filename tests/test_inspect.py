"""Overlays: cut masks, drawing from a trace or a result, and the inspect command."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import field_image, untrained_weights

from chequereader.cli import main
from chequereader.errors import InvalidImageError
from chequereader.inspect import cut_mask, field_crop, render_overlay
from chequereader.types import Alternative, AmountResult, BBox, Character


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return untrained_weights(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def model(weights: str):
    from chequereader.models.weights import load_numpy_model

    return load_numpy_model(weights)


def test_cut_mask_marks_touching_pieces_only() -> None:
    lab = np.array([[1, 1, 0, 2],
                    [1, 2, 2, 2],
                    [3, 3, 0, 0]], np.int32)
    m = cut_mask(lab)
    # (0,1)->(1,1) is 1 vs 2; (1,0)->(1,1) is 1 vs 2; (1,0)->(2,0) and (1,1)->(2,1) are 1/2 vs 3.
    assert sorted(zip(*np.nonzero(m), strict=True)) == [(0, 1), (1, 0), (1, 1)]
    assert not cut_mask(np.zeros((0, 0), np.int32)).any()


def test_render_result_draws_field_and_characters() -> None:
    page = np.full((60, 100), 255, np.uint8)
    res = AmountResult("ok", "7", "7", 0.9, alternatives=(Alternative("7", "7", 0.9),),
                       field=BBox(10, 10, 50, 30), characters=(Character("7", BBox(20, 15, 10, 20), 0.25),))
    img = render_overlay(page, res, panel=False)
    assert img.shape == (60, 100, 3) and img.dtype == np.uint8
    assert tuple(img[39, 30]) == (0, 160, 0)  # bottom edge of the field box
    assert tuple(img[25, 20]) == (0, 0, 220)  # left edge of the character box
    full = render_overlay(page, res)
    assert full.shape[0] > 60 and full.shape[1] == 360
    # Drawing on a crop with its offset puts the character box at the same page pixel.
    crop, off = field_crop(page, res.field)
    assert off == (10, 10) and crop.shape == (30, 50)
    assert tuple(render_overlay(crop, res, offset=off, panel=False)[15, 10]) == (0, 0, 220)


def test_render_trace_draws_cuts_and_path(model) -> None:
    from chequereader.config import PipelineConfig
    from chequereader.pipeline import ChequeReader

    rd = ChequeReader(PipelineConfig(field=True), model=model)
    tr = rd.trace_field(field_image("1234"), "us")
    img = render_overlay(field_image("1234"), tr, panel=False, zoom=2)
    h, w = tr.clean.grey.shape
    assert img.shape[:2] == (2 * h + 20 + 18, 2 * w)
    assert (img[:20] != 255).any() and (img[-18:] != 255).any()  # symbol and penalty bands
    red = np.all(img == (0, 0, 220), axis=2)
    assert tr.decoding.path is not None and red.any()
    with_panel = render_overlay(field_image("1234"), tr)
    assert with_panel.shape[0] > img.shape[0] + 20 * len(tr.decoding.alternatives)


def test_render_rejects_bad_image() -> None:
    with pytest.raises(InvalidImageError):
        render_overlay(np.zeros((2, 2, 2, 2)), AmountResult("error"))


def test_inspect_command(tmp_path: Path, weights: str) -> None:
    w = weights
    src = tmp_path / "f.png"
    cv2.imwrite(str(src), field_image("305"))
    out = tmp_path / "o" / "overlay.png"
    r = CliRunner().invoke(main, ["inspect", str(src), "-o", str(out), "--field", "--weights", str(w)])
    assert r.exit_code == 0, r.output
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] >= 360 and img.shape[0] > 40
    row = json.loads(r.stdout)
    assert row["file"] == str(src) and row["status"] in ("ok", "rejected")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = CliRunner().invoke(main, ["inspect", str(bad), "-o", str(out), "--field", "--weights", str(w)])
    assert r.exit_code == 1 and "not a recognised image format" in r.output


def test_inspect_picks_a_page_and_refuses_bad_pages_and_names(tmp_path: Path, weights: str) -> None:
    from PIL import Image

    w = weights
    src = tmp_path / "two.tif"
    a, b = Image.fromarray(field_image("12")), Image.fromarray(field_image("34567"))
    a.save(src, save_all=True, append_images=[b])
    base = ["--field", "--weights", str(w)]
    outs = []
    for page in (0, 1):
        out = tmp_path / f"p{page}.png"
        r = CliRunner().invoke(main, ["inspect", str(src), "-o", str(out), "--page", str(page)] + base)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["page"] == page
        outs.append(cv2.imread(str(out)))
    assert outs[1].shape[1] > outs[0].shape[1]  # the second page's wider field
    r = CliRunner().invoke(main, ["inspect", str(src), "-o", str(tmp_path / "x.png"), "--page", "2"] + base)
    assert r.exit_code == 1 and "no page 2" in r.output
    r = CliRunner().invoke(main, ["inspect", str(src), "-o", str(tmp_path / "overlay")] + base)
    assert r.exit_code == 1 and "must end in .png" in r.output and "Traceback" not in r.output


SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.skipif(not (SAMPLES / "labels.csv").exists(), reason="no samples/")
def test_inspect_reports_and_draws_what_read_decided_on_the_samples(tmp_path: Path) -> None:
    from chequereader.batch import run_batch
    from chequereader.inspect import inspect_page, panel_lines
    from chequereader.pipeline import ChequeReader

    images = sorted(str(p) for p in SAMPLES.glob("cheque_*") if p.suffix != ".csv")
    assert len(images) == 12
    rd = ChequeReader()
    out = tmp_path / "read.jsonl"
    run_batch(images, out, reader=rd, progress=False)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    keys = ("file", "page", "status", "amount", "reading", "text", "confidence", "alternatives",
            "field", "characters")
    for path, row in zip(images, rows, strict=True):
        res, trace, _ = inspect_page(path, reader=rd)
        got = res.to_row()
        assert {k: got[k] for k in keys} == {k: row[k] for k in keys}, path
        # The overlay draws the trace the row was read from, and its panel says the row.
        assert trace is not None and trace.decoding.text == res.text == row["text"]
        assert trace.decoding.amount == row["reading"]
        first = panel_lines(trace, result=res)[0]
        assert first.endswith(f"conf {row['confidence']:.3f}")
        # a row refused whatever its confidence says why
        reason = row["reject_reason"]
        assert first.startswith(f"{row['status']} ({reason}):" if reason else f"{row['status']}:")
        # and what the second reader read of the field
        assert trace.sdnn is not None
        assert panel_lines(trace, result=res)[-1].startswith(f"SDNN reads {trace.sdnn.best or '-'} ")
    # The command prints the same row.
    r = CliRunner().invoke(main, ["inspect", images[1], "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert {k: got[k] for k in keys} == {k: rows[1][k] for k in keys}
