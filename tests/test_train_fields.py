"""Training on the user's own labelled scans: label forms, graphs from a manifest, the CLI."""
# Imports follow the torch check, so that without torch the module skips.
# ruff: noqa: E402

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch", reason="training needs PyTorch: pip install 'chequereader[train]'")

from chequereader.cli import main
from chequereader.errors import ConfigError
from chequereader.grammar import canonical_amount, get_grammar
from chequereader.io.manifest import amounts_equal, read_manifest
from chequereader.models.weights import load_model, read_metadata
from chequereader.synth import FontGlyphs, amount_text, compose_field, generate
from chequereader.train.fields import labelled_graphs, split_rows, train_fields, written_forms
from chequereader.train.global_training import LABEL_SEP


@pytest.mark.parametrize(
    "amount, locale, must, must_not",
    [
        ("15000", "cl", ["15000", "15.000", "$15.000.-", "15,000-", "$**15000"], ["15.00", "150.00"]),
        ("1234.56", "us", ["$1,234.56", "1234.56", "123456/100", "$***1,234.56"], ["1234", "1,234"]),
        ("12.00", "us", ["12.00", "1200/100", "12-", "$12.-", "12"], ["12.0"]),
        ("0.45", "us", [".45", "$.45", "0.45"], []),
        ("2630000", "in", ["26,30,000/-", "\u20b926,30,000", "2630000.00", "2630000/"], ["2,630,000"]),
        ("5000.50", "in", ["5,000.50", "5000.50/-"], ["5000.5"]),
    ],
)
def test_written_forms_spell_the_amount_in_the_locale(amount, locale, must, must_not):
    forms = written_forms(amount, locale)
    g = get_grammar(locale)
    assert len(forms) == len(set(forms))
    for t in forms:
        assert g.accepts(t) and amounts_equal(canonical_amount(t, locale), amount), t
    for t in must:
        assert t in forms
    for t in must_not:
        assert t not in forms


def test_written_forms_refuse_what_the_locale_cannot_write():
    assert written_forms("12.50", "cl") == []  # pesos have no cents
    with pytest.raises(ConfigError):
        written_forms("12", "any")


def _field_manifest(tmp_path, n=8, seed=0):
    rng = np.random.default_rng(seed)
    pool = FontGlyphs(fonts=[])
    rows = []
    for i in range(n):
        written, canon = amount_text(rng, "us")
        f = compose_field(written, pool, rng)
        cv2.imwrite(str(tmp_path / f"f{i}.png"), f.image)
        rows.append((f"f{i}.png", canon))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    rows.append(("bad.png", "12.00"))
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "amount"])
        w.writerows(rows)
    return tmp_path / "labels.csv"


def test_labelled_graphs_from_field_crops_skip_bad_files(tmp_path):
    rows = read_manifest(_field_manifest(tmp_path))
    lg = labelled_graphs(rows, "us", field=True)
    assert len(lg.graphs) == len(lg.rows) == 8
    assert [s[0].endswith("bad.png") for s in lg.skipped] == [True]
    for g, row in zip(lg.graphs, lg.rows):
        assert g.amount == row.amount and g.locale == "us" and g.n_arcs > 0
        assert g.labels == g.text.split(LABEL_SEP) and all(t in written_forms(row.amount, "us") for t in g.labels)


def test_labelled_graphs_locate_the_zone_that_spells_the_amount_on_whole_cheques(tmp_path):
    out = generate(4, tmp_path / "chq", locale="cl", seed=3)
    rows = read_manifest(out)
    lg = labelled_graphs(rows, "cl", field=False)
    assert len(lg.graphs) + len(lg.skipped) == 4 and len(lg.graphs) >= 3
    with open(out, newline="") as fh:
        truth = {r["file"]: r for r in csv.DictReader(fh)}
    for g, row in zip(lg.graphs, lg.rows):
        # the zone trained on is a field-size crop, not the page
        t = truth[row.file.split("/")[-1]]
        assert g.graph.n_nodes - 1 < 60 and int(t["field_w"]) > 0


def test_split_rows_is_seeded_and_disjoint(tmp_path):
    rows = read_manifest(_field_manifest(tmp_path))
    a, b = split_rows(rows, 0.25, seed=1)
    assert len(b) == round(len(rows) * 0.25) and len(a) + len(b) == len(rows)
    assert not {r.file for r in a} & {r.file for r in b}
    assert split_rows(rows, 0.25, seed=1) == (a, b)
    with pytest.raises(ConfigError):
        split_rows(rows, 1.0, seed=1)


def test_train_fields_writes_weights_with_the_users_data_in_their_metadata(tmp_path):
    manifest = _field_manifest(tmp_path, n=10)
    res = train_fields([manifest], tmp_path / "w.pt", locale="us", field=True, data=None, epochs=2,
                       lr=1e-4, val_fraction=0.2, log=lambda m: None)
    assert res["fields"]["train"] + res["fields"]["val"] == 10 and len(res["skipped"]) == 1
    assert [h["epoch"] for h in res["history"]] == [0, 1, 2]
    assert res["history"][-1]["fields_counted"] > 0
    model = load_model(tmp_path / "w.pt")  # a loadable LeNet-5 with its metadata
    meta = read_metadata(tmp_path / "w.pt")
    assert "your labelled field crops" in meta["training"]["data"][0]
    assert "labelled_fields_val" in meta["metrics"] and "mnist_test" not in meta["metrics"]
    assert model.alphabet.string == load_model().alphabet.string


def test_train_fields_cli(tmp_path):
    manifest = _field_manifest(tmp_path, n=6)
    r = CliRunner().invoke(main, ["train", "fields", str(manifest), "--out", str(tmp_path / "w.pt"),
                                  "--field", "--epochs", "1", "--data", str(tmp_path / "none"),
                                  "--val-fraction", "0.2", "--quiet"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert sum(out["fields"].values()) == 6  # 7 rows, the bad file skipped
    assert out["skipped"] == 1 and (tmp_path / "w.pt").is_file()
    assert "skipped" in r.stderr and "bad.png" in r.stderr
    r = CliRunner().invoke(main, ["train", "fields", str(manifest), "--out", str(tmp_path / "x.pt"),
                                  "--locale", "any"])
    assert r.exit_code != 0


def test_x9_cash_letters_train_on_their_items_record_25_amounts(tmp_path):
    from pathlib import Path

    from chequereader.train.fields import x9_items

    x9 = Path(__file__).resolve().parents[1] / "samples" / "cheques.x937"
    items, skipped = x9_items(x9)
    assert [i.amount for i in items] == ["2.90", "90.00", "2050.00"] and not skipped
    assert all(i.page is not None and i.file.startswith(str(x9)) for i in items)
    res = train_fields([x9], tmp_path / "w.pt", locale="us", field=True, data=None, epochs=1,
                       val_fraction=0.0, log=lambda m: None)
    # the items are whole cheques even with field=True: each trains on a located zone
    assert res["fields"]["train"] + len(res["skipped"]) == 3 and res["fields"]["train"] >= 2
    assert (tmp_path / "w.pt").is_file()


def test_train_fields_resumes_from_its_checkpoint(tmp_path):
    manifest = _field_manifest(tmp_path, n=6)
    kw = dict(locale="us", field=True, data=None, val_fraction=0.2, log=lambda m: None)
    train_fields([manifest], tmp_path / "w.pt", epochs=1, **kw)
    assert (tmp_path / "w.pt.ckpt").is_file()
    res = train_fields([manifest], tmp_path / "w.pt", epochs=2, resume=True, **kw)
    assert [h["epoch"] for h in res["history"]] == [0, 1, 2]  # epoch 1 not run again


def _boxed_manifest(tmp_path, n=4, seed=5):
    rng = np.random.default_rng(seed)
    pool = FontGlyphs(fonts=[])
    rows, texts = [], []
    for i in range(n):
        written, canon = amount_text(rng, "cl")
        f = compose_field(written, pool, rng)
        cv2.imwrite(str(tmp_path / f"b{i}.png"), f.image)
        boxes = [[int(c), b.x, b.y, b.w, b.h] for c, b in f.chars if c.isdigit()]
        rows.append((f"b{i}.png", canon, json.dumps(boxes)))
        texts.append(written)
    with open(tmp_path / "boxed.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "amount", "digit_boxes"])
        w.writerows(rows)
    return tmp_path / "boxed.csv", texts


def test_box_characters_cut_each_labelled_digit(tmp_path):
    from chequereader.train.fields import box_characters

    manifest, texts = _boxed_manifest(tmp_path)
    rows = read_manifest(manifest)
    x, y, used = box_characters(rows, "cl")
    digits = "".join(c for t in texts for c in t if c.isdigit())
    assert used == {0, 1, 2, 3} and x.shape == (len(digits), 32, 32) and x.dtype == np.float32
    assert "".join(map(str, y)) == digits
    assert np.all(x.max(axis=(1, 2)) > 1.0)  # every crop holds ink
    # a manifest without the column gives nothing
    assert len(box_characters(read_manifest(_field_manifest(tmp_path, n=2)), "us")[1]) == 0


def test_aligned_characters_follow_the_label_through_the_lattice(tmp_path):
    from chequereader.train.fields import aligned_characters

    manifest, _ = _boxed_manifest(tmp_path)
    lg = labelled_graphs(read_manifest(manifest), "cl", field=True)
    m = load_model("latin")
    tables = {"cl": get_grammar("cl").tables(m.alphabet)}
    for g in lg.graphs:
        x, y = aligned_characters([g], m, tables, max_penalty=float("inf"))
        text = "".join(m.alphabet.chars[c] for c in y)
        assert text in g.labels and len(x) == len(y)  # the path spells one written form
        assert amounts_equal(canonical_amount(text, "cl"), g.amount)


def test_aligned_digits_are_cut_at_their_arcs_boxes(tmp_path):
    from chequereader.framing import frame
    from chequereader.train.fields import aligned_characters, box_crop

    manifest, _ = _boxed_manifest(tmp_path)
    lg = labelled_graphs(read_manifest(manifest), "cl", field=True)
    assert len(lg.cleaned) == len(lg.graphs)
    m = load_model("latin")
    tables = {"cl": get_grammar("cl").tables(m.alphabet)}
    inf = float("inf")
    for g, cf in zip(lg.graphs, lg.cleaned):
        xc, yc = aligned_characters([g], m, tables, max_penalty=inf)
        xb, yb = aligned_characters([g], m, tables, max_penalty=inf, cleaned=[cf])
        assert np.array_equal(yc, yb) and xb.shape == xc.shape
        sym = yb >= 10
        assert np.array_equal(xb[sym], xc[sym])  # symbols stay the lattice's candidates
    # the crop of a box holds all the field's ink inside it, framed in field context
    cf = lg.cleaned[0]
    ys, xs = np.nonzero(cf.binary)
    box = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    want = frame(cf.binary[box[1]:, box[0]:], cf.body_height, cf.baseline - box[1])
    assert np.array_equal(box_crop(cf, box), want)
    assert box_crop(cf, (0, 0, 0, 0)) is None


def test_character_stage_fits_the_users_characters(tmp_path):
    import torch

    from chequereader.train.fields import box_characters, character_stage

    manifest, _ = _boxed_manifest(tmp_path, n=6)
    x, y, _ = box_characters(read_manifest(manifest), "cl")
    m = load_model("latin")
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    with torch.no_grad():
        before = float(m.loss(m(xt), yt))
    character_stage(m, x, y, data=None, epochs=30, lr=2e-3, log=lambda s: None)
    with torch.no_grad():
        after = float(m.loss(m(xt), yt))
    assert after < before
    assert not m.training
    with pytest.raises(ConfigError, match="distortion"):
        character_stage(m, x, y, data=None, epochs=1, lr=2e-3, log=lambda s: None, distortion="wild")


def _toy_graph(spans, boxes):
    from chequereader.types import SegmentationGraph

    n = len(spans)
    return SegmentationGraph(n_nodes=max(d for _, d in spans) + 1, src=np.array([s for s, _ in spans]),
                             dst=np.array([d for _, d in spans]), images=np.zeros((n, 32, 32), np.float32),
                             boxes=np.array(boxes, np.int32), geometric=np.zeros(n, np.float32))


def test_rubbish_arcs_are_two_whole_digits_or_a_small_part_of_one():
    from chequereader.train.fields import rubbish_arcs

    # pieces 0, 1 | 2 | 3: the label path is "0" (pieces 0-1), "0" (piece 2), "." (piece 3)
    spans = [(0, 2), (2, 3), (3, 4),   # the path's arcs
             (0, 3),                   # both zeros: two digits in one arc
             (0, 1), (1, 2),           # the halves of the first zero
             (1, 3),                   # half of the first zero with the whole second: ambiguous
             (2, 4),                   # a digit with the separator: ambiguous
             (0, 2)]                   # the first zero framed another way: not rubbish
    boxes = [(0, 0, 20, 30), (22, 0, 20, 30), (44, 25, 4, 4), (0, 0, 42, 30), (0, 0, 9, 30),
             (10, 0, 10, 30), (10, 0, 32, 30), (22, 0, 26, 30), (0, 0, 20, 30)]
    g = _toy_graph(spans, boxes)
    assert rubbish_arcs(g, [0, 1, 2], [True, True, False]) == [3, 4, 5]
    # a part nearly the digit's size is not sure to be rubbish
    assert rubbish_arcs(g, [0, 1, 2], [True, True, False], part=0.4) == [3]
    # two symbols together are not taught as rubbish
    assert rubbish_arcs(g, [0, 1, 2], [False, False, False]) == []


def test_aligned_rubbish_comes_from_the_users_fields(tmp_path):
    from chequereader.train.fields import aligned_paths, aligned_rubbish

    manifest, _ = _boxed_manifest(tmp_path)
    lg = labelled_graphs(read_manifest(manifest), "cl", field=True)
    m = load_model("latin")
    tables = {"cl": get_grammar("cl").tables(m.alphabet)}
    x = aligned_rubbish(lg.graphs, m, tables, max_penalty=float("inf"))
    assert x.ndim == 3 and x.shape[1:] == (32, 32) and len(x) > 0 and x.dtype == np.float32
    # the alignment computed once gives the same candidates
    same = aligned_rubbish(lg.graphs, m, tables, max_penalty=float("inf"),
                           aligned=aligned_paths(lg.graphs, m, tables))
    assert np.array_equal(same, x)
    assert len(aligned_rubbish(lg.graphs, m, tables, max_penalty=float("inf"), limit=2)) == 2
    assert len(aligned_rubbish(lg.graphs, m, tables, max_penalty=-1.0)) == 0  # no sure alignment
