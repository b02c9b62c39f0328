"""The real-cheque benchmark's annotated boxes and metric helpers (benchmarks/real_cheques.py)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOXES = ROOT / "benchmarks" / "real_cheques_boxes.csv"
REAL = ROOT.parent / "shared" / "data" / "real-cheques"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("real_cheques", ROOT / "benchmarks" / "real_cheques.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up while being built
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


def _boxes() -> list[dict[str, str]]:
    with open(BOXES, newline="") as fh:
        return list(csv.DictReader(fh))


def test_box_csv_is_well_formed():
    rows = _boxes()
    assert list(rows[0]) == ["file", "x", "y", "w", "h", "note"]
    assert len(rows) == 92
    assert len({r["file"] for r in rows}) == 92
    for r in rows:
        x, y, w, h = (int(r[k]) for k in "xywh")  # whole numbers, original image pixels
        assert x >= 0 and y >= 0 and w > 0 and h > 0, r["file"]


def test_boxes_match_the_labels_and_lie_inside_their_images():
    if not (REAL / "labels.csv").exists():
        pytest.skip("../shared/data/real-cheques is absent (the real cheques are not shipped)")
    from PIL import Image

    with open(REAL / "labels.csv", newline="") as fh:
        labelled = {r["file"] for r in csv.DictReader(fh)}
    rows = _boxes()
    assert {r["file"] for r in rows} == labelled
    for r in rows:
        with Image.open(REAL / "images" / r["file"]) as im:  # header only: the size
            width, height = im.size
        x, y, w, h = (int(r[k]) for k in "xywh")
        assert x + w <= width and y + h <= height, (r["file"], (x, y, w, h), (width, height))


def test_iou_and_centre_inside(bench):
    assert bench.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert bench.iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges
    assert bench.iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert bench.iou((0, 0, 4, 4), (1, 1, 2, 2)) == pytest.approx(4 / 16)  # nested
    assert bench.iou(None, (0, 0, 1, 1)) == 0.0
    assert bench.iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert bench.centre_inside((8, 8, 4, 4), (0, 0, 10, 10))  # centre (10, 10): on the edge
    assert not bench.centre_inside((9, 9, 4, 4), (0, 0, 10, 10))
    assert not bench.centre_inside(None, (0, 0, 10, 10))


def _row(bench, status: str, correct: bool, conf: float, iou: float = 0.0, centre: bool = False,
         locale: str = "in", amount: str | None = "1"):
    return bench.Row(file="f", label="1", locale=locale, kind="scan", written="hand", status=status,
                     amount=amount, text="", confidence=conf, correct=correct, field=None, truth=None,
                     iou=iou, centre_in=centre, seconds=0.5)


def test_summarize_counts_each_outcome(bench):
    rows = [
        _row(bench, "ok", True, 0.9, iou=0.8, centre=True),   # right & ok
        _row(bench, "ok", False, 0.7, iou=0.4, centre=True),  # wrong & ok
        _row(bench, "rejected", True, 0.3, iou=0.5),          # read right, rejected
        _row(bench, "error", False, 0.0, amount=None, locale="us"),
    ]
    s = bench.summarize(rows)
    assert s["n"] == 4
    assert s["located"] == 0.5  # IoU 0.8 and 0.5 (>= 0.5)
    assert s["centre_in"] == 0.5
    assert s["read_right"] == 0.5
    assert s["right_ok"] == 0.25 and s["wrong_ok"] == 0.25
    assert s["rejected"] == 0.25 and s["error"] == 0.25
    # The most confident is right; the next one is wrong (25% > 1%): only the first is kept.
    assert s["read_at_1pct_error"] == 0.25
    assert s["cheques_per_s"] == 2.0  # 4 cheques in 2 s
    assert bench.summarize([]) == {"n": 0}
    g = bench.groups(rows)
    assert list(g)[:5] == ["all", "in+us", "us photo", "us scan", "in scan"]
    assert list(g)[5:7] == ["locale in", "locale us"]
    assert len(g["locale in"]) == 3 and len(g["kind scan"]) == 4
    assert len(g["in+us"]) == 4 and len(g["in scan"]) == 3 and len(g["us photo"]) == 0


def test_render_refuses_a_folder_inside_the_repository(bench, tmp_path):
    with pytest.raises(SystemExit, match="inside the repository"):
        bench.render([], REAL, ROOT / "benchmarks" / "renders")
    assert bench.render([], REAL, tmp_path / "out") == []  # nothing to draw: no sheet
