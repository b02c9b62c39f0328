"""The Python API: read_cheque's one return type for every source, one default locale, and
the README's Python examples run as written."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import cv2
import pytest

import chequereader
from chequereader.config import PipelineConfig
from chequereader.errors import InvalidImageError
from chequereader.types import AmountResult

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cheque_0000.png"

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="no samples/")


def _key(r: AmountResult) -> tuple:
    return (r.page, r.status, r.amount, r.text, r.confidence)


def test_read_cheque_returns_a_list_for_every_source() -> None:
    from PIL import Image

    by_path = chequereader.read_cheque(str(SAMPLE))
    assert isinstance(by_path, list) and len(by_path) == 1 and by_path[0].file == str(SAMPLE)
    assert chequereader.read_cheque(SAMPLE)[0].file == str(SAMPLE)  # a Path too
    by_bytes = chequereader.read_cheque(SAMPLE.read_bytes())
    assert [r.file for r in by_bytes] == ["<bytes>"]
    grey = cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE)
    by_array = chequereader.read_cheque(grey)
    by_pil = chequereader.read_cheque(Image.open(SAMPLE))
    by_rgb = chequereader.read_cheque(Image.open(SAMPLE).convert("RGB"))
    by_bgr = chequereader.read_cheque(cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR))  # OpenCV's colour
    for got in (by_bytes, by_array, by_pil, by_rgb, by_bgr):
        assert isinstance(got, list) and len(got) == 1 and isinstance(got[0], AmountResult)
        assert _key(got[0])[:4] == _key(by_path[0])[:4]
    # X9 bytes: one result per item.
    x9 = chequereader.read_cheque((ROOT / "samples" / "cheques.x937").read_bytes())
    assert [r.page for r in x9] == [0, 1, 2] and all(r.file == "<bytes>" for r in x9)
    assert all("x9_amount" in r.extra for r in x9)
    # Bad input: one error result that names no bytes' repr.
    bad = chequereader.read_cheque(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    assert len(bad) == 1 and bad[0].status == "error" and bad[0].file == "<bytes>"
    assert "\\x" not in (bad[0].error or "")
    with pytest.raises(InvalidImageError):
        chequereader.read_cheque(12345)


def test_one_default_locale() -> None:
    from chequereader.pipeline import DEFAULT_LOCALE

    assert DEFAULT_LOCALE == PipelineConfig().locale == "auto"
    for f in (chequereader.read_field, chequereader.read_cheque):
        assert inspect.signature(f).parameters["locale"].default == DEFAULT_LOCALE
    page = cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE)
    img = page[167:204, 939:1093]
    a, b = chequereader.read_field(img), chequereader.read_field(img, locale="auto")
    assert _key(a) == _key(b)
    from click.testing import CliRunner

    from chequereader.cli import main

    r = CliRunner().invoke(main, ["read", "--help"])
    assert "or auto (the default" in " ".join(r.output.split())


def test_readme_python_examples_run(monkeypatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(ROOT)
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {i}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "15 {" in out  # run_batch over samples/: 12 images and 3 X9 items
    assert not os.path.exists(ROOT / "out.jsonl")
