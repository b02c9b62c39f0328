"""Labels manifest: parsing, path resolution, canonical amounts, the shared ORAND labels."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chequereader.errors import ConfigError
from chequereader.io.manifest import (
    LabelRow,
    amounts_equal,
    canonical_amount_str,
    is_canonical_amount,
    read_manifest,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_read_manifest_resolves_paths_and_keeps_extra(tmp_path: Path) -> None:
    sub = tmp_path / "set"
    sub.mkdir()
    csv = sub / "labels.csv"
    csv.write_text(
        "\ufefffile,amount,writer,note\n"
        "img/a.png,1234.56,w1,first\n"
        "\n"
        "../b.tif,52931,w2,\n"
        f"{tmp_path / 'abs.jpg'},100.00,w3,x\n",
        encoding="utf-8",
    )
    rows = read_manifest(csv)
    assert rows == [
        LabelRow(str(sub / "img" / "a.png"), "1234.56", {"writer": "w1", "note": "first"}, 2),
        LabelRow(str(tmp_path / "b.tif"), "52931", {"writer": "w2", "note": ""}, 4),
        LabelRow(str(tmp_path / "abs.jpg"), "100.00", {"writer": "w3", "note": "x"}, 5),
    ]
    assert all(os.path.isabs(r.file) for r in rows)


@pytest.mark.parametrize(
    "content,match",
    [
        ("file,value\na.png,1\n", r"lacks column\(s\) \['amount'\]"),
        ("", "no header"),
        ('file,amount\na.png,"1,234.56"\n', "line 2: amount: '1,234.56' is not a canonical"),
        ("file,amount\na.png,12.5\nb.png,3\n", "line 2"),
        ("file,amount\na.png,1\nb.png,$3.00\n", "line 3"),
        ("file,amount\n,1.00\n", "line 2: empty file name"),
        ("file,amount\na.png,1,extra\n", "line 2: more fields"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path: Path, content: str, match: str) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text(content)
    with pytest.raises(ConfigError, match=match):
        read_manifest(csv)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_manifest(tmp_path / "none.csv")


@pytest.mark.parametrize("s", ["0", "52931", "1234.56", "100.00", " 7.05 "])
def test_canonical_accepts(s: str) -> None:
    assert canonical_amount_str(s) == s.strip()
    assert is_canonical_amount(s.strip())


@pytest.mark.parametrize(
    "s", ["", "1,234.56", "$12.00", "12.5", "12.345", "-3", "1e3", ".50", "12."]
)
def test_canonical_rejects(s: str) -> None:
    with pytest.raises(ConfigError, match="canonical"):
        canonical_amount_str(s)
    assert not is_canonical_amount(s)


@pytest.mark.parametrize(
    "a,b,eq",
    [
        ("100", "100.00", True),
        ("0100.50", "100.50", True),
        ("100.01", "100.00", False),
        (None, None, False),
        ("12", None, False),
        ("abc", "abc", False),
        ("NaN", "NaN", False),
    ],
)
def test_amounts_equal(a, b, eq: bool) -> None:
    assert amounts_equal(a, b) is eq


def test_reads_shared_orand_labels() -> None:
    csv = DATA / "orand-car-a" / "labels.csv"
    if not csv.exists():
        pytest.skip("../shared/data/orand-car-a is not available")
    rows = read_manifest(csv)
    assert len(rows) == 880
    first = rows[0]
    assert Path(first.file).resolve() == (csv.parent / "images" / "a_car_000155.jpg").resolve()
    assert first.amount == "60"
    assert first.extra["digit_boxes"].startswith("[[")
    assert all(is_canonical_amount(r.amount) for r in rows)
