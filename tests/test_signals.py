"""`chequereader read` and signals (issue 21 item 12): SIGTERM stops after the row in hand with
a well-formed output and exit 143; workers die with a killed parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import cv2
import pytest
from conftest import field_image, untrained_weights

from chequereader.io.images import encode_tiff_g4
from chequereader.io.x937 import X9Item, write_x937

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")



@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return untrained_weights(tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("scans")
    for i in range(150):
        cv2.imwrite(str(d / f"f{i:03d}.png"), field_image(str(1000 + 37 * i)))
    return d


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "chequereader", "read", *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_rows(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"read ended early: {proc.returncode} {proc.stderr.read()!r}")
        time.sleep(0.05)
    pytest.fail("no rows written in time")


def test_sigterm_finishes_the_row_flushes_and_exits_143(tmp_path: Path, folder: Path,
                                                        weights: str) -> None:
    out = tmp_path / "out.jsonl"
    proc = _start([str(folder), "--field", "--weights", weights, "-o", str(out), "--quiet"],
                  tmp_path)
    _wait_rows(out, 3, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    text = out.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]  # every line whole
    assert 3 <= len(rows) < 150
    assert [r["file"] for r in rows] == [str(folder / f"f{i:03d}.png") for i in range(len(rows))]
    # --resume finishes the run: one row per input, none twice.
    proc = _start([str(folder), "--field", "--weights", weights, "-o", str(out), "--quiet",
                   "--resume"], tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    files = [json.loads(line)["file"] for line in out.read_text().splitlines()]
    assert files == [str(folder / f"f{i:03d}.png") for i in range(150)]


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids.update(int(x) for x in fh.read().split())
    except OSError:
        pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]  # a zombie has ended, only its entry is left


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_workers_die_when_the_parent_is_killed(tmp_path: Path, weights: str) -> None:
    # An X9 file's items are spread over the workers, so both are busy when the parent dies.
    items = [X9Item(str(i + 1), 100 + i, encode_tiff_g4(field_image(str(i))), None, i)
             for i in range(1500)]
    x9 = tmp_path / "cl.x937"
    write_x937(x9, items, created=datetime(2024, 1, 1))
    out = tmp_path / "out.jsonl"
    proc = _start([str(x9), "--field", "--weights", weights, "-o", str(out), "--quiet",
                   "--workers", "2"], tmp_path)
    workers: set[int] = set()
    try:
        _wait_rows(out, 5, proc)
        workers = {k for k in _children(proc.pid) if "spawn_main" in _cmdline(k)}
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.time()
        while time.time() - t0 < 5 and any(_alive(k) for k in workers):
            time.sleep(0.1)
        left = [k for k in workers if _alive(k)]
        assert not left, f"workers still running 5 s after the parent was killed: {left}"
    finally:
        for k in workers | _children(proc.pid):
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()


def test_sigterm_with_workers_stops_with_whole_rows(tmp_path: Path, weights: str) -> None:
    items = [X9Item(str(i + 1), 100 + i, encode_tiff_g4(field_image(str(i))), None, i)
             for i in range(600)]
    x9 = tmp_path / "cl.x937"
    write_x937(x9, items, created=datetime(2024, 1, 1))
    out = tmp_path / "out.jsonl"
    proc = _start([str(x9), "--field", "--weights", weights, "-o", str(out), "--quiet",
                   "--workers", "2"], tmp_path)
    _wait_rows(out, 5, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 5 <= len(rows) < 600
    assert [r["x9_item"] for r in rows] == list(range(len(rows)))
