"""Mining framed candidates from lattices of synthetic fields (``train mine``; no ../shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from chequereader.clean import clean_field
from chequereader.cli import main
from chequereader.lattice import LatticeConfig, build_graph
from chequereader.models.alphabet import DEFAULT
from chequereader.segment import segment
from chequereader.synth import SynthField
from chequereader.train.mining import label_arcs, mine
from chequereader.types import BBox


@pytest.fixture()
def tiny_mnist(tmp_path: Path, write_digit_npz) -> Path:
    """A folder laid out like ../shared/data with a 40-digit MNIST train file, 4 writers."""
    write_digit_npz(tmp_path / "mnist" / "mnist-train.npz", {100 + w: w - 2 for w in range(4)})
    return tmp_path


def _two_digit_field() -> SynthField:
    """'17' drawn as two blocks of ink far apart on white paper, with their true boxes."""
    img = np.full((60, 120), 255, np.uint8)
    img[10:50, 20:28] = 0            # a '1'
    img[10:16, 70:100] = 0           # a '7': its bar...
    img[10:50, 92:100] = 0           # ...and its stem (one piece with the bar)
    return SynthField(image=img, chars=(("1", BBox(20, 10, 8, 40)), ("7", BBox(70, 10, 30, 40))),
                      body_height=40.0, baseline=50.0, text="17")


def test_whole_characters_get_their_class_and_joins_are_rubbish() -> None:
    sf = _two_digit_field()
    seg = segment(clean_field(sf.image))
    assert seg.n_pieces == 2
    # max_geometric=inf: the join of two pieces standing far apart stays in the graph.
    g = build_graph(seg, LatticeConfig(max_geometric=float("inf"), max_gap=10.0, max_width=10.0))
    lab = label_arcs(sf, seg, g, DEFAULT)
    by_span = {(int(i), int(j)): int(k) for i, j, k in zip(g.src, g.dst, lab)}
    assert by_span[(0, 1)] == DEFAULT.index("1")
    assert by_span[(1, 2)] == DEFAULT.index("7")
    assert by_span[(0, 2)] == -1  # two characters in one frame


def test_a_part_of_a_character_is_rubbish() -> None:
    sf = _two_digit_field()
    # The '7' drawn as two pieces (bar and stem apart).
    img = sf.image.copy()
    img[10:16, 89:92] = 255
    img[16:18, 92:100] = 255
    sf = SynthField(image=img, chars=sf.chars, body_height=40.0, baseline=50.0, text="17")
    seg = segment(clean_field(sf.image))
    g = build_graph(seg, LatticeConfig(max_geometric=float("inf")))
    lab = label_arcs(sf, seg, g, DEFAULT)
    by_span = {(int(i), int(j)): int(k) for i, j, k in zip(g.src, g.dst, lab)}
    assert seg.n_pieces == 3
    # The bar holds 31% of the 7's ink: rubbish. The stem holds 69%, between `part` (0.6) and
    # `whole` (0.85): too much of a 7 to teach as rubbish, too little to teach as a 7, left out.
    assert by_span[(1, 2)] == -1
    assert by_span[(2, 3)] == -2
    assert by_span[(1, 3)] == DEFAULT.index("7")  # bar and stem together


def test_a_field_with_no_ink_leaves_every_arc_out() -> None:
    sf = _two_digit_field()
    seg = segment(clean_field(sf.image))
    g = build_graph(seg)
    empty = SynthField(image=sf.image, chars=(), body_height=40.0, baseline=50.0, text="")
    assert (label_arcs(empty, seg, g, DEFAULT) == -2).all()


def test_mine_gives_framed_characters_and_rubbish(tiny_mnist: Path) -> None:
    path = tiny_mnist / "mnist" / "mnist-train.npz"
    res = mine(path, 6, seed=3, exclude_writers=np.array([100, 101]))
    x, y = res["images"], res["labels"]
    assert x.dtype == np.float32 and x.shape[1:] == (32, 32) and len(x) == len(y)
    assert (y >= -1).all() and (y < len(DEFAULT)).all()
    assert (y == -1).any() and (y >= 0).any()
    again = mine(path, 6, seed=3, exclude_writers=np.array([100, 101]))
    assert np.array_equal(again["labels"], y) and np.array_equal(again["images"], x)


def test_train_mine_command_writes_the_npz(tiny_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "mined.npz"
    r = CliRunner().invoke(main, ["train", "mine", "--data", str(tiny_mnist), "--fields", "4",
                                  "--val-fraction", "0.5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    said = json.loads(r.output.strip().splitlines()[-1])
    d = np.load(out)
    assert said["candidates"] == len(d["labels"]) > 0
    assert said["rubbish"] == int((d["labels"] < 0).sum())
    assert d["images"].shape == (len(d["labels"]), 32, 32)


def test_train_mine_without_mnist_is_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["train", "mine", "--data", str(tmp_path), "--fields", "2",
                                  "--out", str(tmp_path / "m.npz")])
    assert r.exit_code != 0
    assert "mnist-train.npz" in r.output
    assert not (tmp_path / "m.npz").exists()
