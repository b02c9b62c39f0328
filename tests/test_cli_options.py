"""read's input lists (-, @FILE, --from-file), -q/-v through logging, --raise-on-error's
traceback, and synth's progress, X9 sequence numbers and missing-font warning."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import field_image, untrained_weights

from chequereader.cli import main

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return untrained_weights(tmp_path_factory.mktemp("w"))


@pytest.fixture()
def fields(tmp_path: Path) -> list[str]:
    out = []
    for i, t in enumerate(["12", "345", "6"]):
        p = tmp_path / f"f{i}.png"
        cv2.imwrite(str(p), field_image(t))
        out.append(str(p))
    return out


def _files(stdout: str) -> list[str]:
    return [json.loads(x)["file"] for x in stdout.splitlines()]


def test_read_lists_from_stdin_at_file_and_from_file(tmp_path: Path, fields: list[str],
                                                      weights: str) -> None:
    base = ["--field", "--weights", weights, "--quiet"]
    r = CliRunner().invoke(main, ["read", "-", *base], input="\n".join(fields) + "\n\n")
    assert r.exit_code == 0, r.output
    assert _files(r.stdout) == fields
    # CRLF line ends, an empty line, and a list file named with @ and with --from-file.
    lst = tmp_path / "list.txt"
    lst.write_bytes(f"{fields[2]}\r\n\r\n{fields[0]}\r\n".encode())
    r = CliRunner().invoke(main, ["read", f"@{lst}", fields[1], *base])
    assert r.exit_code == 0, r.output
    assert _files(r.stdout) == [fields[2], fields[0], fields[1]]
    r = CliRunner().invoke(main, ["read", "--from-file", str(lst), *base])
    assert r.exit_code == 0 and _files(r.stdout) == [fields[2], fields[0]]
    # A missing list file is a usage error; a path listed that does not exist gets its row.
    r = CliRunner().invoke(main, ["read", f"@{tmp_path / 'nope.txt'}", *base])
    assert r.exit_code == 2 and "cannot read the list of inputs" in r.output
    lst.write_text(str(tmp_path / "gone.png") + "\n")
    r = CliRunner().invoke(main, ["read", f"@{lst}", *base])
    assert r.exit_code == 5 and json.loads(r.stdout)["status"] == "error"
    # Nothing named at all.
    r = CliRunner().invoke(main, ["read", *base])
    assert r.exit_code == 2 and "no INPUTS" in r.output
    # An empty list: no input found.
    r = CliRunner().invoke(main, ["read", "-", *base], input="")
    assert r.exit_code == 4 and r.stdout == ""


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names must be UTF-8")
def test_read_list_keeps_a_name_that_is_not_utf8(tmp_path: Path, weights: str) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.png"
    ok, enc = cv2.imencode(".png", field_image("7"))
    assert ok
    with open(raw, "wb") as fh:
        fh.write(enc.tobytes())
    lst = tmp_path / "list.txt"
    lst.write_bytes(raw + b"\n")
    r = CliRunner().invoke(main, ["read", f"@{lst}", "--field", "--weights", weights, "--quiet"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert os.fsencode(row["file"]) == raw and row["status"] != "error"


def test_read_help_documents_the_lists() -> None:
    r = CliRunner().invoke(main, ["read", "--help"])
    assert r.exit_code == 0
    assert "--from-file" in r.output and "@FILE" in r.output and "stdin" in r.output
    assert "-q, --quiet" in r.output and "-v, --verbose" in r.output


def test_quiet_and_verbose_set_the_log_level(tmp_path: Path, fields: list[str], weights: str) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for f in fields:
        Path(f).rename(d / Path(f).name)
    (d / "notes.txt").write_text("x")
    base = [str(d), "--field", "--weights", weights]
    r = CliRunner().invoke(main, ["read", *base])
    assert r.exit_code == 0, r.output
    assert "not read, not image or X9 files" in r.stderr  # a discovery warning
    assert "inputs to read" not in r.stderr and "rows from 3 files" in r.stderr
    r = CliRunner().invoke(main, ["read", *base, "-q"])
    # -q: warnings still (they are about the inputs), no progress or summary.
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3
    assert r.stderr.splitlines() == [x for x in r.stderr.splitlines() if "not read, not image" in x]
    assert len(r.stderr.splitlines()) == 1
    r = CliRunner().invoke(main, ["-q", "read", *base])  # before the command too
    assert r.exit_code == 0 and len(r.stderr.splitlines()) == 1
    r = CliRunner().invoke(main, ["read", *base, "-v"])
    assert "inputs to read" in r.stderr and " page 0: " in r.stderr  # a debug line per row
    r = CliRunner().invoke(main, ["-v", "read", *base])
    assert "inputs to read" in r.stderr
    import logging

    # The host's logging is left as it was.
    assert logging.getLogger("chequereader").level == logging.NOTSET
    assert not logging.getLogger("chequereader").handlers


def test_raise_on_error_shows_the_real_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "chequereader", "read", str(bad), "--field",
                        "--raise-on-error", "--quiet"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "Traceback (most recent call last)" in p.stderr
    assert "chequereader/io/images.py" in p.stderr  # where it failed, not the CLI's one line
    assert "InvalidImageError" in p.stderr
    # Without it: one row, one line on stderr, no traceback.
    p = subprocess.run([sys.executable, "-m", "chequereader", "read", str(bad), "--field"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert json.loads(p.stdout)["status"] == "error"


def test_synth_progress_x9_sequence_and_missing_fonts(tmp_path: Path, monkeypatch) -> None:
    r = CliRunner().invoke(main, ["synth", "--count", "2", "--out", str(tmp_path / "a"), "--x9"])
    assert r.exit_code == 0, r.output
    assert "2/2" in r.stderr  # tqdm's bar
    with open(tmp_path / "a" / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [x["x9_sequence"] for x in rows] == ["1", "2"]
    from chequereader.io.x937 import read_x937

    items = read_x937(tmp_path / "a" / "cheques.x937")
    assert [it.sequence for it in items] == ["1", "2"]
    r = CliRunner().invoke(main, ["synth", "--count", "1", "--out", str(tmp_path / "b"), "--quiet"])
    assert r.exit_code == 0 and "1/1" not in r.stderr  # no bar (warnings may remain)
    with open(tmp_path / "b" / "labels.csv", newline="") as fh:
        assert "x9_sequence" not in next(csv.reader(fh))
    import chequereader.synth.glyphs as glyphs  # FontGlyphs looks the fonts up there

    monkeypatch.setattr(glyphs, "find_handwriting_fonts", lambda: [])
    r = CliRunner().invoke(main, ["synth", "--count", "1", "--out", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert "no handwriting font found" in r.stderr


def test_one_spelling_for_output_everywhere():
    from click.testing import CliRunner

    from chequereader.cli import main

    for cmd in (["read"], ["evaluate"], ["calibrate"], ["inspect"], ["synth"], ["train", "recognizer"],
                ["train", "global"], ["train", "fields"], ["train", "average"], ["train", "mine"]):
        out = CliRunner().invoke(main, [*cmd, "--help"]).output
        assert "-o, --output" in out, cmd


def test_the_reader_locales_of_the_cli_are_those_of_amounts() -> None:
    import click

    from chequereader.amounts import LOCALES
    from chequereader.cli import main

    for name in ("read", "evaluate", "calibrate", "inspect"):
        cmd = main.commands[name]
        opt = next(p for p in cmd.params if p.name == "locale")
        assert isinstance(opt.type, click.Choice) and list(opt.type.choices) == ["auto", *LOCALES], name


def test_synthesis_refuses_a_locale_it_cannot_write() -> None:
    from chequereader.errors import ConfigError
    from chequereader.synth.amounts import SYNTH_LOCALES, amount_text

    assert set(SYNTH_LOCALES) == {"us", "in", "cl", "any"}
    with pytest.raises(ConfigError, match="locale"):
        amount_text(np.random.default_rng(0), "xx")


def test_the_command_lines_distortion_names_are_the_trainers():
    pytest.importorskip("torch", reason="the distortion presets live with the trainer (PyTorch)")
    from chequereader.cli import _DISTORTIONS
    from chequereader.train.recognizer import DISTORTIONS

    assert set(_DISTORTIONS) == set(DISTORTIONS)
