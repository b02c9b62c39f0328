"""The composed reader on hand-made fields: what a user calling read_field meets."""

import cv2
import numpy as np
import pytest
from conftest import untrained_weights

from chequereader.config import PipelineConfig, load_config
from chequereader.errors import ConfigError, InvalidImageError
from chequereader.grammar import get_grammar
from chequereader.models.weights import load_numpy_model
from chequereader.pipeline import ChequeReader, read_field
from chequereader.synth import FontGlyphs, compose_field
from chequereader.types import Page


@pytest.fixture(scope="module")
def reader():
    return ChequeReader(PipelineConfig(locale="us", field=True), model=load_numpy_model())


def test_blank_field_is_rejected_not_an_error(reader):
    res = reader.read_field(np.full((40, 120), 240, np.uint8))
    assert res.status == "rejected" and res.amount is None and res.confidence == 0.0
    assert res.characters == ()


def test_result_row_is_consistent(reader):
    f = compose_field("$12.50", FontGlyphs(fonts=[]), np.random.default_rng(3))
    res = reader.read_field(f.image)
    assert res.status in ("ok", "rejected")
    assert set(res.timing_ms) >= {"clean", "segment", "lattice", "recognize", "decode", "total"}
    if res.amount is not None:
        assert get_grammar("us").accepts(res.text)
        assert "".join(c.char for c in res.characters) == res.text
        assert 0 < res.confidence <= 1
        assert res.alternatives[0].amount == res.amount
        confs = [a.confidence for a in res.alternatives]
        assert confs == sorted(confs, reverse=True) and sum(confs) <= 1 + 1e-6
    assert (res.status == "ok") == (res.confidence >= reader.config.threshold)
    row = res.to_row()
    assert set(row) >= {"file", "page", "status", "amount", "text", "confidence", "alternatives",
                        "field", "characters", "quality", "error", "timing_ms"}


def test_reads_clean_synthetic_fields_mostly_right(reader):
    rng = np.random.default_rng(7)
    src = FontGlyphs()
    right = 0
    amounts = ["12.50", "305.00", "7.25", "48.00", "1234.56", "60.10", "99.99", "250.00"]
    for a in amounts:
        f = compose_field(f"${a}", src, rng)
        res = reader.read_field(f.image, locale="us")
        right += res.amount is not None and float(res.amount) == float(a)
    assert right >= len(amounts) // 2


def test_bad_inputs(reader):
    with pytest.raises(InvalidImageError):
        reader.read_field(np.zeros((0, 10), np.uint8))
    with pytest.raises(InvalidImageError):
        reader.read_field("not an image")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="locale"):
        reader.read_field(np.full((20, 20), 255, np.uint8), locale="xx")


def test_page_with_error_meta_gives_error_row(reader):
    res = reader.read_page(Page(np.full((1, 1), 255, np.uint8), source="f.x937", index=3,
                                meta={"x9_amount": "1.00", "error": "X9 item 3: no front image"}))
    assert res.status == "error" and "no front image" in res.error
    row = res.to_row()
    assert row["x9_amount"] == "1.00" and row["match"] is None and row["page"] == 3


def test_iter_file_bad_file_gives_one_error_row(reader, tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    rows = list(reader.iter_file(p))
    assert len(rows) == 1 and rows[0].status == "error" and rows[0].error
    rows = list(reader.iter_file(tmp_path / "missing.png"))
    assert len(rows) == 1 and rows[0].status == "error"


def test_module_level_read_field_and_config(tmp_path):
    res = read_field(np.full((30, 90), 250, np.uint8), locale="cl")
    assert res.status == "rejected"
    toml = tmp_path / "p.toml"
    toml.write_text('locale = "cl"\nreject_threshold = 0.7\n[lattice]\nmax_span = 2\n')
    cfg = load_config(toml)
    assert cfg.locale == "cl" and cfg.reject_threshold == 0.7 and cfg.lattice.max_span == 2
    toml.write_text('[lattice]\nmax_spam = 2\n')
    with pytest.raises(ConfigError, match="max_spam"):
        load_config(toml)
    with pytest.raises(ConfigError, match="locale"):
        load_config(None, locale="fr")


def test_cl_reads_with_the_latin_weights_unless_weights_are_named(tmp_path):
    from chequereader.models.weights import BUNDLED, resolve_weights

    r = ChequeReader(PipelineConfig())
    cl, us = r.model_for("cl"), r.model_for("us")
    assert us is r.model and cl is not r.model
    assert r.model_for("cl") is cl  # loaded once
    latin = load_numpy_model("latin")
    x = np.random.default_rng(0).normal(0, 0.5, (2, 32, 32)).astype(np.float32)
    assert np.allclose(cl.predict(x), latin.predict(x))
    assert resolve_weights("latin").name == BUNDLED["latin"]
    # named weights (or a model) read every locale, cl included; weights_cl="default" turns it off
    own = untrained_weights(tmp_path)
    for reader in (ChequeReader(PipelineConfig(weights=str(own))), ChequeReader(model=r.model),
                   ChequeReader(PipelineConfig(weights_cl="default"))):
        assert reader.model_for("cl") is reader.model
    # and the cl reads differ from the default weights' somewhere on real-looking fields
    img = np.full((40, 140), 255, np.uint8)
    cv2.putText(img, "1.274", (4, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
    tr_cl = r.trace_field(img, "cl")
    tr_def = ChequeReader(PipelineConfig(weights_cl="default")).trace_field(img, "cl")
    assert tr_cl.penalties.shape == tr_def.penalties.shape
    assert not np.allclose(tr_cl.penalties, tr_def.penalties)


def test_x9_items_are_verified_against_their_record_25_amount():
    # Amount verification: an X9 item's reading that agrees with the captured amount is ok
    # above x9_agreement; one that disagrees is rejected whatever its confidence.
    from dataclasses import replace

    f = compose_field("$12.50", FontGlyphs(fonts=[]), np.random.default_rng(3))
    base = PipelineConfig(locale="us", field=True, reject_threshold=0.999999)
    plain = ChequeReader(replace(base, x9_verify=False), model=load_numpy_model())
    first = plain.read_page(Page(f.image, source="a.x937", index=0, meta={"x9_amount": "1.00"}))
    assert first.amount is not None and 0.05 < first.confidence < 0.999999
    assert first.status == "rejected"  # below the (very high) threshold, and not verified
    same = {"x9_amount": first.amount}
    other = {"x9_amount": "999999.99"}
    verify = ChequeReader(replace(base, x9_agreement=0.05), model=load_numpy_model())
    agreed = verify.read_page(Page(f.image, source="a.x937", index=0, meta=same))
    assert agreed.status == "ok" and agreed.to_row()["match"] is True
    assert agreed.confidence == first.confidence  # the reading's own confidence is reported
    low = ChequeReader(replace(base, reject_threshold=0.0, x9_agreement=1.0), model=load_numpy_model())
    assert low.read_page(Page(f.image, source="a.x937", index=0, meta=other)).status == "rejected"
    assert low.read_page(Page(f.image, source="a.x937", index=0, meta={})).status == "ok"
    # the floor holds: agreement below x9_agreement is not enough
    strict = ChequeReader(replace(base, x9_agreement=1.0), model=load_numpy_model())
    assert strict.read_page(Page(f.image, source="a.x937", index=0, meta=same)).status == "rejected"


# --- locale auto: the hinted pass decodes the any pass's lattice again --------------------


def _auto_fields():
    rng = np.random.default_rng(11)
    glyphs = FontGlyphs(fonts=[])
    return [compose_field(t, glyphs, rng).image
            for t in ("$12.50", "1,21,000/-", "52.931", "₹4,500/-", "125")]


@pytest.mark.parametrize("hint", ["in", "us"])
def test_locales_sharing_field_work_clean_and_cut_alike(hint):
    # field_work says `any` and `hint` clean, cut and recognize a field alike: check it.
    from chequereader import clean as clean_stage
    from chequereader import lattice as lattice_stage
    from chequereader import segment as segment_stage

    rd = ChequeReader(PipelineConfig(), model=load_numpy_model())
    assert rd.field_work(hint) == rd.field_work("any") != rd.field_work("cl")
    cfg = rd.config
    for img in _auto_fields():
        graphs = []
        for loc in ("any", hint):
            cf = clean_stage.clean_field(img, cfg.clean, loc)
            graphs.append((cf, lattice_stage.build_graph(segment_stage.segment(cf, cfg.segment),
                                                         cfg.lattice, loc)))
        (ca, ga), (cb, gb) = graphs
        np.testing.assert_array_equal(ca.binary, cb.binary)
        np.testing.assert_array_equal(ca.grey, cb.grey)
        assert (ca.body_height, ca.baseline) == (cb.body_height, cb.baseline)
        assert ga.n_nodes == gb.n_nodes and ga.raised_from == gb.raised_from
        np.testing.assert_array_equal(ga.src, gb.src)
        np.testing.assert_array_equal(ga.dst, gb.dst)
        np.testing.assert_array_equal(ga.images, gb.images)


def test_auto_hinted_pass_reads_as_a_fresh_trace(monkeypatch):
    from chequereader import pipeline as pipeline_mod

    rd = ChequeReader(PipelineConfig(), model=load_numpy_model())
    calls = []
    real_clean = pipeline_mod.clean_stage.clean_field

    def counting(*a, **kw):
        calls.append(1)
        return real_clean(*a, **kw)

    monkeypatch.setattr(pipeline_mod.clean_stage, "clean_field", counting)
    hinted = 0
    for img in _auto_fields():
        calls.clear()
        tr = rd.trace_field(img, "auto")
        if tr.locale == "any":
            continue
        hinted += 1
        # Cleaned once when the hinted locale shares the any pass's field work.
        assert len(calls) == (1 if rd.field_work(tr.locale) == rd.field_work("any") else 2)
        fresh = rd._trace(img, tr.locale, None)
        assert tr.locale == fresh.locale
        assert tr.decoding.text == fresh.decoding.text
        assert tr.decoding.amount == fresh.decoding.amount
        assert tr.decoding.confidence == fresh.decoding.confidence
        assert tr.decoding.posterior == fresh.decoding.posterior
        np.testing.assert_array_equal(tr.penalties, fresh.penalties)
    assert hinted
