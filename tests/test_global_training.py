"""Global (whole-field) training through the decoder: data, criterion, a few steps, the CLI."""
# Imports follow the torch check, so that without torch the module skips.
# ruff: noqa: E402

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs PyTorch: pip install 'chequereader[train]'")
from click.testing import CliRunner

from chequereader.cli import main
from chequereader.grammar import get_grammar
from chequereader.models.weights import load_model, read_metadata
from chequereader.synth import FontGlyphs
from chequereader.train.global_training import (
    field_accuracy,
    field_losses,
    load_field_graphs,
    make_field_graphs,
    save_field_graphs,
)
from chequereader.types import SegmentationGraph


@pytest.fixture(scope="module")
def graphs():
    return make_field_graphs(FontGlyphs(fonts=[]), 12, seed=3, locales=("us", "cl"))


def test_field_graphs_are_reproducible_and_round_trip(graphs, tmp_path):
    again = make_field_graphs(FontGlyphs(fonts=[]), 12, seed=3, locales=("us", "cl"))
    assert [g.text for g in graphs] == [g.text for g in again]
    assert all(np.array_equal(a.graph.images, b.graph.images) for a, b in zip(graphs, again))
    assert [g.locale for g in graphs[:4]] == ["us", "cl", "us", "cl"]
    # one graph type: the reader's SegmentationGraph, its candidates kept as float16
    assert all(isinstance(f.graph, SegmentationGraph) and f.graph.images.dtype == np.float16
               and f.graph.boxes.shape == (f.n_arcs, 4) for f in graphs)
    p = tmp_path / "g.npz"
    save_field_graphs(graphs, p)
    back = load_field_graphs(p)
    assert len(back) == len(graphs)
    for f, h in zip(graphs, back):
        a, b = f.graph, h.graph
        assert (a.n_nodes, f.text, f.amount, f.locale) == (b.n_nodes, h.text, h.amount, h.locale)
        assert np.array_equal(a.src, b.src) and np.array_equal(a.dst, b.dst)
        assert np.array_equal(a.images, b.images) and np.array_equal(a.geometric, b.geometric)
        assert np.array_equal(a.boxes, b.boxes)
    # a cache written before boxes were kept still loads
    with np.load(p) as z:
        old = {k: z[k] for k in z.files if k != "boxes"}
    np.savez(tmp_path / "old.npz", **old)
    again = load_field_graphs(tmp_path / "old.npz")
    assert [f.text for f in again] == [f.text for f in graphs]
    assert all(np.array_equal(x.graph.images, y.graph.images) for x, y in zip(again, graphs))


def test_criterion_is_a_negative_log_posterior_and_training_lowers_it(graphs):
    torch.manual_seed(0)
    model = load_model()
    tables = {loc: get_grammar(loc).tables(model.alphabet) for loc in ("us", "cl")}
    loss, counted = field_losses(model, graphs, tables)
    assert counted >= 8  # the label's path exists in most graphs (procedural digits touch)
    assert float(loss.detach()) >= 0.0
    first = float(loss.detach()) / counted
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(8):
        loss, counted = field_losses(model, graphs, tables)
        opt.zero_grad()
        (loss / counted).backward()
        opt.step()
    after = float(field_losses(model, graphs, tables)[0].detach()) / counted
    assert after < 0.7 * first
    acc = field_accuracy(model, graphs, tables)
    assert 0.0 <= acc["exact"] <= 1.0 and acc["label_path_found"] >= 8 / 12


def test_gradient_flows_to_the_network_only_through_label_and_rivals(graphs):
    model = load_model()
    tables = {loc: get_grammar(loc).tables(model.alphabet) for loc in ("us", "cl")}
    loss, _ = field_losses(model, graphs[:2], tables)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def _procedural_mnist(root, n=300, seed=0):
    """A tiny stand-in for ../shared/data written with procedural strokes (no real data)."""
    src = FontGlyphs(fonts=[])
    rng = np.random.default_rng(seed)
    import cv2

    imgs, labels = [], []
    for k in range(n):
        d = k % 10
        ink = src.sample(d, rng)
        h, w = ink.shape
        s = 20.0 / max(h, w)
        small = cv2.resize((ink * 255).astype(np.uint8), (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
        im = np.zeros((28, 28), np.uint8)
        y0, x0 = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
        im[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        imgs.append(im)
        labels.append(d)
    (root / "mnist").mkdir(parents=True)
    arr = dict(images=np.stack(imgs), labels=np.asarray(labels, np.uint8),
               writers=(np.arange(n) // 10).astype(np.int32))
    np.savez(root / "mnist" / "mnist-train.npz", **arr)
    np.savez(root / "mnist" / "mnist-test.npz", **arr)


def test_train_global_cli_writes_weights_with_history(tmp_path):
    _procedural_mnist(tmp_path / "data")
    out = tmp_path / "g.pt"
    r = CliRunner().invoke(main, [
        "train", "global", "--data", str(tmp_path / "data"), "--out", str(out), "--fields", "16",
        "--val-fields", "6", "--epochs", "1", "--batch-fields", "8", "--char-weight", "0",
        "--locales", "us", "--quiet",
    ])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output.strip().splitlines()[-1])
    assert "synthetic_fields_val" in metrics and "mnist_test" in metrics
    meta = read_metadata(out)
    hist = meta["training"]["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert hist[1]["fields_counted"] > 0
    assert meta["training"]["command"].startswith("chequereader train global")
    assert load_model(out).alphabet.string == load_model().alphabet.string


def test_train_global_resume_continues_from_the_checkpoint(tmp_path):
    _procedural_mnist(tmp_path / "data")
    out = tmp_path / "g.pt"
    args = ["train", "global", "--data", str(tmp_path / "data"), "--out", str(out), "--fields", "8",
            "--val-fields", "4", "--batch-fields", "8", "--char-weight", "0", "--locales", "us",
            "--quiet"]
    r = CliRunner().invoke(main, args + ["--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.pt.ckpt").exists()
    r = CliRunner().invoke(main, args + ["--epochs", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert "resumed from" in r.output
    hist = read_metadata(out)["training"]["history"]
    assert [h["epoch"] for h in hist] == [0, 1, 2]


def test_train_global_cli_refuses_bad_locales(tmp_path):
    r = CliRunner().invoke(main, ["train", "global", "--out", str(tmp_path / "x.pt"), "--locales", "fr"])
    assert r.exit_code != 0 and "--locales" in r.output


def test_printed_fonts_hold_out_the_benchmark_font():
    from chequereader.synth import PRINTED_HELD_OUT, find_printed_fonts

    fonts = find_printed_fonts()
    if not fonts:
        pytest.skip("no DejaVu / Liberation fonts installed")
    names = {f.rsplit("/", 1)[-1] for f in fonts}
    assert not names & set(PRINTED_HELD_OUT)
    everything = find_printed_fonts(held_out=())
    assert set(everything) - set(fonts) == {f for f in everything if f.endswith(PRINTED_HELD_OUT)}
    # a printed source never falls back to the procedural hand
    src = FontGlyphs(fonts, procedural=0.0)
    assert -1 not in src.writers()
    assert -1 in FontGlyphs(fonts).writers()


def test_printed_training_amounts_are_upright_and_tagged_by_share():
    from chequereader.train.global_training import _printed_pool

    try:
        printed = _printed_pool()
    except Exception as exc:  # no printed fonts on this machine
        pytest.skip(str(exc))
    hand = FontGlyphs(fonts=[])
    a = make_field_graphs(hand, 6, seed=5, locales=("us",))
    b = make_field_graphs(hand, 6, seed=5, locales=("us",), printed=1.0, printed_pool=printed)
    c = make_field_graphs(hand, 6, seed=5, locales=("us",), printed=0.0, printed_pool=printed)
    # share 0 keeps the random stream (and the fields) of before; share 1 prints every amount
    assert all(np.array_equal(x.graph.images, y.graph.images) for x, y in zip(a, c))
    assert any(x.graph.images.shape != y.graph.images.shape or not np.array_equal(x.graph.images, y.graph.images)
               for x, y in zip(a, b))
    # printed amounts carry no superscript markup: their text is what was printed
    assert all("^" not in g.text for g in b)


def test_touch_option_changes_only_the_touching_chance():
    hand = FontGlyphs(fonts=[])
    a = make_field_graphs(hand, 6, seed=7, locales=("us",))
    same = make_field_graphs(hand, 6, seed=7, locales=("us",), touch=0.2)  # the config's own
    more = make_field_graphs(hand, 6, seed=7, locales=("us",), touch=1.0)
    assert all(np.array_equal(x.graph.images, y.graph.images) for x, y in zip(a, same))
    assert a[0].text == more[0].text  # (later amounts differ: touching draws more numbers)
    assert any(x.graph.images.shape != y.graph.images.shape or not np.array_equal(x.graph.images, y.graph.images)
               for x, y in zip(a, more))


def test_cheque_zones_are_located_on_scanned_cheques_with_their_sign_variants():
    from chequereader.train.global_training import CHEQUE_LAYOUTS, LABEL_SEP, cheque_zone

    pool = FontGlyphs(fonts=[])
    tables = {loc: get_grammar(loc).tables(load_model().alphabet) for loc in ("us", "in", "cl")}
    found = 0
    for k, loc in enumerate(["us", "in", "cl"] * 2):
        zone = cheque_zone(pool, loc, np.random.default_rng([4, k]))
        if zone is None:
            continue
        found += 1
        img, labels, amount = zone
        # a grey zone crop, much smaller than the cheque it was cut from
        assert img.dtype == np.uint8 and img.ndim == 2 and img.shape[1] < 1000
        texts = labels.split(LABEL_SEP)
        assert 1 <= len(texts) <= 2 and texts[0] in texts[-1]
        if len(texts) == 2:  # the variant holds the layout's printed sign
            assert texts[1].startswith(("$", "\u20b9")) and not texts[0].startswith(("$", "\u20b9"))
        assert any(tables[loc].accepts_classes(s) for s in
                   [tuple(load_model().alphabet.index(c) for c in t.replace(" ", "")) for t in texts])
        assert amount
    assert found >= 5
    assert set(CHEQUE_LAYOUTS.values()) == {"us_personal", "in_cts", "cl"}  # business font held out
    # as a share of make_field_graphs: the graph's labels are its written forms
    gs = make_field_graphs(pool, 6, seed=5, locales=("us", "in", "cl"), cheques=1.0)
    assert len(gs) == 6
    multi = [g for g in gs if LABEL_SEP in g.text]
    assert multi and all(isinstance(g.labels, list) and len(g.labels) == 2 for g in multi)
    again = make_field_graphs(pool, 6, seed=5, locales=("us", "in", "cl"), cheques=1.0)
    assert [g.text for g in gs] == [g.text for g in again]


def test_scan_format_gives_what_a_reader_decodes():
    from chequereader.synth import scan_format

    img = np.full((60, 120), 220, np.uint8)
    img[20:40, 30:90] = 30
    img = np.clip(img + np.random.default_rng(1).normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    assert scan_format(img, np.random.default_rng(0), "png") is img
    tif = scan_format(img, np.random.default_rng(0), "tif")
    assert set(np.unique(tif)) == {0, 255} and tif[30, 60] == 0 and tif[5, 5] == 255
    jpg = scan_format(img, np.random.default_rng(0), "jpg")
    assert jpg.shape == img.shape and abs(int(jpg[30, 60]) - int(img[30, 60])) < 25
    from chequereader.errors import ConfigError

    with pytest.raises(ConfigError):
        scan_format(img, np.random.default_rng(0), "bmp")


def test_training_graphs_keep_the_readers_per_class_penalties(tmp_path):
    # A field graph with a separator-shaped arc: training scores it as the reader does.
    from chequereader.lattice import LatticeConfig, arc_penalties, build_graph
    from chequereader.train.global_training import TrainingField, training_graph
    from chequereader.types import BBox, Segmentation

    lab = np.zeros((40, 40), np.int32)
    lab[10:30, 0:8] = 1
    lab[22:36, 12:16] = 2  # a long comma hanging below the baseline (30)
    seg = Segmentation(lab, (BBox(0, 10, 8, 20), BBox(12, 22, 4, 14)), (0.0, 10.0, 16.0), 20.0, 30.0)
    g = build_graph(seg, LatticeConfig(max_span=1))
    t = training_graph(g)
    assert t.digit_penalty is not None and t.digit_penalty.tolist() == g.digit_penalty.tolist()
    chars = ("0", "1", ",")
    zeros = np.zeros((t.n_arcs, 3), np.float32)
    assert arc_penalties(t, zeros, chars)[1].tolist() == [12.0, 12.0, 0.0]
    p = tmp_path / "t.npz"
    save_field_graphs([TrainingField(t, "0,", "0", "us")], p)
    back = load_field_graphs(p)[0].graph
    assert back.digit_penalty.tolist() == t.digit_penalty.tolist()
    with np.load(p) as z:  # a cache written before digit penalties were kept: none
        old = {k: z[k] for k in z.files if k != "digit_penalty"}
    np.savez(tmp_path / "old.npz", **old)
    assert load_field_graphs(tmp_path / "old.npz")[0].graph.digit_penalty is None
