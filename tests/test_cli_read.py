"""`chequereader read` (and `synth`) end to end: rows, statuses, exit codes, SIGKILL + resume."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import field_image, untrained_weights
from PIL import Image

from chequereader.cli import main
from chequereader.types import CSV_COLUMNS


def _encoded(img: np.ndarray, ext: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format={"png": "PNG", "jpg": "JPEG", "tif": "TIFF"}[ext])
    return buf.getvalue()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Untrained LeNet-5 weights: the CLI mechanics do not depend on accuracy."""
    return untrained_weights(tmp_path_factory.mktemp("w"))


BAD_KINDS = ("missing", "empty", "trunc_jpg", "trunc_png", "trunc_tif", "text", "tiny", "pdf",
             "zero_png", "garbage_x9")


def _write_bad(d: Path, kind: str, i: int) -> Path:
    good = field_image("5")
    p = d / f"b{i:02d}_{kind}.{ {'trunc_jpg': 'jpg', 'trunc_tif': 'tif', 'text': 'png', 'pdf': 'png', 'garbage_x9': 'x937'}.get(kind, 'png') }"
    if kind == "missing":
        return p
    if kind == "empty":
        p.write_bytes(b"")
    elif kind.startswith("trunc_"):
        data = _encoded(good, kind[6:])
        p.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        p.write_text("amount,1234.56\n")
    elif kind == "tiny":
        p.write_bytes(_encoded(np.full((6, 6), 255, np.uint8), "png"))
    elif kind == "pdf":
        p.write_bytes(b"%PDF-1.4\n%%EOF\n")
    elif kind == "zero_png":
        data = bytearray(_encoded(good, "png"))
        data[16:20] = b"\x00\x00\x00\x00"  # IHDR width = 0
        p.write_bytes(bytes(data))
    elif kind == "garbage_x9":
        p.write_bytes(os.urandom(300))
    return p


@pytest.fixture(scope="module")
def batch40(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[bool]]:
    """40 inputs in a fixed order, 10 of them bad (one of every kind), interleaved."""
    d = tmp_path_factory.mktemp("b40")
    paths, bad = [], []
    k = 0
    for i in range(40):
        if i % 4 == 1 and k < len(BAD_KINDS):
            paths.append(str(_write_bad(d, BAD_KINDS[k], i)))
            bad.append(True)
            k += 1
        else:
            p = d / f"g{i:02d}.{('png', 'jpg', 'tif')[i % 3]}"
            p.write_bytes(_encoded(field_image(str(10 + i)), p.suffix[1:]))
            paths.append(str(p))
            bad.append(False)
    assert sum(bad) == 10
    return paths, bad


def test_read_40_files_10_bad(tmp_path: Path, batch40, weights: str) -> None:
    paths, bad = batch40
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["read", *paths, "--field", "--weights", weights, "-o", str(out)])
    assert r.exit_code == 5, r.output  # one of the bad inputs is a path that does not exist
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["file"] for x in rows] == paths
    for row, b in zip(rows, bad, strict=True):
        if b:
            assert row["status"] == "error" and row["error"], row
        else:
            assert row["status"] in ("ok", "rejected") and row["error"] is None, row
    assert "error=10" in r.stderr


def test_read_200_files_20_bad_ends_with_200_rows(tmp_path: Path, weights: str) -> None:
    """The reliability figure of the batch issue: 200 inputs, 20 bad (every kind twice)."""
    paths, bad = [], []
    for i in range(200):
        if i % 10 == 3:
            paths.append(str(_write_bad(tmp_path, BAD_KINDS[(i // 10) % len(BAD_KINDS)], i)))
            bad.append(True)
        else:
            p = tmp_path / f"g{i:03d}.{('png', 'jpg', 'tif')[i % 3]}"
            p.write_bytes(_encoded(field_image(str(i)), p.suffix[1:]))
            paths.append(str(p))
            bad.append(False)
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["read", *paths, "--field", "--weights", weights, "-o", str(out)])
    assert r.exit_code == 5, r.output  # two bad inputs are paths that do not exist
    import csv

    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 200 and [x["file"] for x in rows] == paths
    assert [x["status"] == "error" for x in rows] == bad
    assert all(x["error"] for x, b in zip(rows, bad, strict=True) if b)


def test_read_stdout_csv_and_fail_on_error(batch40, weights: str) -> None:
    paths, bad = batch40
    sel = paths[:6]
    r = CliRunner().invoke(main, ["read", *sel, "--field", "--weights", weights, "--format", "csv",
                                  "--quiet", "--fail-on-error"])
    assert r.exit_code == 5  # error rows, one a missing path (--fail-on-error: now the default)
    recs = list(csv.reader(io.StringIO(r.stdout)))
    assert recs[0] == list(CSV_COLUMNS)
    assert [x[0] for x in recs[1:]] == sel
    assert [x[3] == "error" for x in recs[1:]] == bad[:6]
    assert r.stderr == ""
    good_only = [p for p, b in zip(paths, bad, strict=True) if not b][:2]
    r = CliRunner().invoke(main, ["read", *good_only, "--field", "--weights", weights, "--quiet",
                                  "--fail-on-error"])
    assert r.exit_code == 0
    assert [json.loads(x)["file"] for x in r.stdout.splitlines()] == good_only


@pytest.mark.parametrize("args", [
    ["read"],                                     # no inputs
    ["read", "x.png", "--locale", "fr"],          # bad choice
    ["read", "x.png", "--resume"],                # resume needs -o
    ["read", "x.png", "--workers", "0"],
    ["read", "x.png", "--reject-threshold", "1.5"],
    ["read", "x.png", "--dask", "local", "--workers", "2"],
    ["synth", "--count", "1", "--out", "o", "--formats", "gif"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output


def test_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text("no_such_key = 1\n")
    r = CliRunner().invoke(main, ["read", "x.png", "--config", str(cfg)])
    assert r.exit_code == 2 and "no_such_key" in r.output


def test_raise_on_error_stops(batch40, weights: str) -> None:
    paths, bad = batch40
    r = CliRunner().invoke(main, ["read", paths[bad.index(True)], "--field", "--weights", weights,
                                  "--quiet", "--raise-on-error"])
    assert r.exit_code == 1 and r.exception is not None


def test_sigkill_then_resume_one_row_per_input(tmp_path: Path, weights: str) -> None:
    d = tmp_path / "in"
    d.mkdir()
    paths = []
    for i in range(30):
        p = d / f"c{i:02d}.png"
        cv2.imwrite(str(p), field_image(f"{1000 + 37 * i}.{i:02d}"))
        paths.append(str(p))
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "chequereader.cli", "read", str(d), "--field", "--weights", weights,
           "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.005)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    partial = out.read_bytes().count(b"\n")
    assert killed and partial < 30, "the run finished before it could be killed"
    r = subprocess.run(cmd + ["--resume"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(x) for x in text.splitlines()]
    assert [x["file"] for x in rows] == paths


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed not installed")
def test_read_dask_local_same_rows(batch40, weights: str) -> None:
    paths, _ = batch40
    sel = paths[:8]
    base = ["read", *sel, "--field", "--weights", weights, "--quiet"]
    one = CliRunner().invoke(main, base)
    dask = CliRunner().invoke(main, base + ["--dask", "local"])
    assert one.exit_code == 5 and dask.exit_code == 5, dask.output  # b01 is a missing path
    key = lambda s: [(r["file"], r["page"], r["status"], r["amount"], r["confidence"], r["error"])  # noqa: E731
                     for r in map(json.loads, s.splitlines())]
    assert key(dask.stdout) == key(one.stdout) and len(key(one.stdout)) == 8


def test_synth_command_and_x9_rows(tmp_path: Path, weights: str) -> None:
    out = tmp_path / "s"
    r = CliRunner().invoke(main, ["synth", "--count", "2", "--out", str(out), "--locale", "cl",
                                  "--seed", "3", "--formats", "png,tif", "--x9"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["cheque_0000.png", "cheque_0001.tif", "cheques.x937",
                                                     "labels.csv"]
    assert r.stdout.strip() == str(out / "labels.csv")
    labels = list(csv.DictReader(open(out / "labels.csv")))
    # An X9 file gives one row per item, with the amount the X9 record states.
    r = CliRunner().invoke(main, ["read", str(out / "cheques.x937"), "--locale", "cl", "--weights", weights,
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["page"] for x in rows] == [0, 1]
    from chequereader.io.manifest import amounts_equal

    assert all(amounts_equal(x["x9_amount"], lab["amount"]) for x, lab in zip(rows, labels, strict=True))
    assert all("match" in x for x in rows)


# ------------------------------------------------------------------------------------------
# issue 21 (production runs)


def test_non_utf8_filename_round_trips(tmp_path: Path, weights: str) -> None:
    d = os.fsencode(tmp_path / "in")
    os.mkdir(d)
    raw = [d + b"/ch\xe9que-latin1.png", d + b"/plain.png", d + b"/\xff\xfe.png"]
    for i, b in enumerate(raw):
        with open(b, "wb") as fh:
            fh.write(_encoded(field_image(str(10 + i)), "png"))
    names = [os.fsdecode(b) for b in raw]
    for ext in ("jsonl", "csv"):
        out = tmp_path / f"out.{ext}"
        r = CliRunner().invoke(main, ["read", *names, "--field", "--weights", weights, "-o", str(out),
                                      "--quiet"])
        assert r.exit_code == 0, r.output
        if ext == "jsonl":
            text = out.read_text(encoding="utf-8")  # valid UTF-8: the odd bytes are \u escapes
            got = [json.loads(x)["file"] for x in text.splitlines()]
        else:
            with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                got = [x["file"] for x in csv.DictReader(fh)]
        assert [os.fsencode(g) for g in got] == raw
        r = CliRunner().invoke(main, ["read", *names, "--field", "--weights", weights, "-o", str(out),
                                      "--quiet", "--resume"])
        assert r.exit_code == 0, r.output
        n = len(out.read_bytes().splitlines())
        assert n == 3 + (ext == "csv")  # resume matched the names: nothing doubled


def test_read_exit_statuses(tmp_path: Path, batch40, weights: str) -> None:
    paths, bad = batch40
    good = [p for p, b in zip(paths, bad, strict=True) if not b][:2]
    broken = [p for p, b in zip(paths, bad, strict=True) if b and os.path.exists(p)][:1]
    base = ["--field", "--weights", weights, "--quiet"]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (good, 0),
        (good + broken, 3),
        ([str(empty)], 4),
        (good + [str(tmp_path / "no-such.png")], 5),
        (broken + [str(tmp_path / "no-such-*.png")], 5),
    ]
    for args, status in cases:
        r = CliRunner().invoke(main, ["read", *args, *base])
        assert r.exit_code == status, (args, r.output)
    assert CliRunner().invoke(main, ["read", *good, *base, "--fail-on-error"]).exit_code == 0
    text = " ".join(CliRunner().invoke(main, ["read", "--help"]).output.split())
    assert "Exit status" in text and "no input found" in text and "does not exist" in text
    assert "Symbolic links to folders" in text and "not followed" in text


def test_output_dash_writes_stdout(tmp_path: Path, batch40, weights: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths, bad = batch40
    r = CliRunner().invoke(main, ["read", paths[0], "--field", "--weights", weights, "--quiet",
                                  "-o", "-", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert r.stdout.splitlines()[1].startswith(paths[0])
    assert not (tmp_path / "-").exists()
    r = CliRunner().invoke(main, ["read", paths[0], "-o", "-", "--resume"])
    assert r.exit_code == 2


def test_python_dash_m_chequereader_works() -> None:
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "chequereader", "read", "--help"], cwd=root,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: chequereader read")


def test_unsupported_files_named_get_error_rows(tmp_path: Path, weights: str) -> None:
    d = tmp_path / "scans"
    d.mkdir()
    (d / "good.png").write_bytes(_encoded(field_image("12"), "png"))
    (d / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (d / "scan.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 garbage")
    (d / "notes.txt").write_text("hello")
    named = [str(d / "scan.pdf"), str(d / "scan.webp"), str(d / "notes.txt")]
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["read", *named, "--field", "--weights", weights, "-o", str(out)])
    assert r.exit_code == 3, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["file"] for x in rows] == named and all(x["status"] == "error" for x in rows)
    assert "PDF" in rows[0]["error"]
    # In a folder they are not inputs, but they are said: a warning and the summary's count.
    r = CliRunner().invoke(main, ["read", str(d), "--field", "--weights", weights, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["file"] for x in out.read_text().splitlines()] == [str(d / "good.png")]
    assert "3 files not read" in r.stderr and ".pdf x1" in r.stderr
    assert "3 found in folders and not read" in r.stderr


def test_disk_full_or_read_only_output_is_one_line_error(tmp_path: Path, batch40, weights: str) -> None:
    paths, _ = batch40
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    targets = [str(blocker / "out.jsonl")]  # its "folder" is a file: cannot be created
    if os.path.exists("/dev/full"):
        targets.append("/dev/full")  # every write: ENOSPC
    for target in targets:
        r = CliRunner().invoke(main, ["read", paths[0], "--field", "--weights", weights, "--quiet",
                                      "-o", target])
        assert r.exit_code == 1, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {target}"), r.stderr
        assert "Traceback" not in r.output
    if os.path.exists("/dev/full"):
        assert "ENOSPC" in r.stderr


def test_second_run_on_the_same_output_exits_with_a_clear_error(tmp_path: Path, batch40, weights: str) -> None:
    from chequereader.batch import RowWriter

    paths, _ = batch40
    out = tmp_path / "out.jsonl"
    with RowWriter(out, "jsonl"):
        r = CliRunner().invoke(main, ["read", paths[0], "--field", "--weights", weights, "--quiet",
                                      "-o", str(out)])
    assert r.exit_code == 1 and "another run is writing this file" in r.stderr, r.output
    assert out.read_bytes() == b""


def test_unreadable_subfolder_is_said_and_exits_3(tmp_path: Path, weights: str, monkeypatch) -> None:
    d = tmp_path / "scans"
    (d / "locked").mkdir(parents=True)
    (d / "ok.png").write_bytes(_encoded(field_image("12"), "png"))
    (d / "locked" / "hidden.png").write_bytes(_encoded(field_image("34"), "png"))
    (d / "link").symlink_to(d / "locked", target_is_directory=True)
    real_scandir = os.scandir

    def scandir(path):  # root may list any folder: make one unreadable for everybody
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    r = CliRunner().invoke(main, ["read", str(d), "--field", "--weights", weights, "--quiet"])
    assert r.exit_code == 3, r.output
    assert [json.loads(x)["file"] for x in r.stdout.splitlines()] == [str(d / "ok.png")]
    assert f"skipped {d / 'locked'}: cannot list folder (Permission denied)" in r.stderr
    assert f"skipped {d / 'link'}: symbolic link to a folder, not followed" in r.stderr
