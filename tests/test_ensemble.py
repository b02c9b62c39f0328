"""Several recognizers read as one (``weights`` a list): their class probabilities averaged."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import field_image

from chequereader.cli import main
from chequereader.config import PipelineConfig, load_config
from chequereader.errors import ConfigError, ModelError
from chequereader.framing import BACKGROUND
from chequereader.models.ensemble import Ensemble
from chequereader.models.weights import load_numpy_model, save_model
from chequereader.pipeline import ChequeReader
from chequereader.recognize import RecognizeConfig, penalties, shifted

torch = pytest.importorskip("torch")


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.1, 1.175, size=(n, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """An untrained wider recognizer saved as a file: 16 classes (no ``₹``)."""
    from chequereader.models.widenet import WideNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("wide") / "wide.pt"
    save_model(WideNet(), path)
    return path


def test_probabilities_are_averaged_over_the_members():
    a, b = load_numpy_model("default"), load_numpy_model("latin")
    e = Ensemble([a, b])
    x = _images()
    pa, pb = a.predict(x).astype(np.float64), b.predict(x).astype(np.float64)
    want = -np.log((np.exp(-pa) + np.exp(-pb)) / 2)
    got = e.predict(x)
    assert got.shape == pa.shape and got.dtype == a.predict(x).dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # the mixture lies between its members, and one recognizer twice is that recognizer
    assert np.all(got <= np.maximum(pa, pb) + 1e-4) and np.all(got >= np.minimum(pa, pb) - 1e-4)
    np.testing.assert_allclose(Ensemble([a, a]).predict(x), pa, rtol=1e-5, atol=1e-4)


def test_a_class_one_member_lacks_is_the_others_alone(wide):
    lenet, w = load_numpy_model("default"), load_numpy_model(str(wide))
    assert "₹" in lenet.alphabet.chars and "₹" not in w.alphabet.chars
    e = Ensemble([lenet, w])
    assert e.alphabet == lenet.alphabet
    x = _images()
    got, pl, pw = e.predict(x), lenet.predict(x), w.predict(x)
    r = lenet.alphabet.index("₹")
    np.testing.assert_allclose(got[:, r], pl[:, r], rtol=1e-5, atol=1e-4)
    zero = lenet.alphabet.index("0")
    want = -np.log((np.exp(-pl[:, zero].astype(np.float64)) + np.exp(-pw[:, w.alphabet.index("0")])) / 2)
    np.testing.assert_allclose(got[:, zero], want, rtol=1e-5, atol=1e-4)
    # the first member's alphabet is the ensemble's: a member with classes it lacks is refused
    with pytest.raises(ModelError, match="₹"):
        Ensemble([w, lenet])
    with pytest.raises(ModelError, match="two or more"):
        Ensemble([lenet])


def test_shifted_copies_score_as_each_member_scores_them(wide):
    e = Ensemble([load_numpy_model("default"), load_numpy_model(str(wide))])
    x = _images(4, seed=1)
    dys = [0, 1, -2]
    got = e.predict_shifted(x, dys, BACKGROUND)
    assert got.shape == (3, 4, len(e.alphabet))
    for i, dy in enumerate(dys):
        np.testing.assert_allclose(got[i], e.predict(shifted(x, 0, dy)), rtol=1e-4, atol=1e-3)
    # and the candidates' penalties (with the default copies) go through it
    pen = penalties(e, x, RecognizeConfig())
    assert pen.shape == (4, len(e.alphabet)) and np.isfinite(pen).all()


def test_weights_list_loads_an_ensemble(tmp_path):
    assert isinstance(load_numpy_model(["default", "latin"]), Ensemble)
    assert not isinstance(load_numpy_model(["latin"]), Ensemble)
    p = tmp_path / "p.toml"
    p.write_text('weights = ["default", "latin"]\n')
    cfg = load_config(p)
    assert cfg.weights == ("default", "latin")
    assert isinstance(ChequeReader(cfg).model, Ensemble)
    with pytest.raises(ConfigError, match="weights"):
        PipelineConfig(weights=())
    p.write_text("weights = []\n")
    with pytest.raises(ConfigError, match="weights"):
        load_config(p)


def test_an_ensemble_reads_a_field():
    img = field_image("$125.40")
    one = ChequeReader(PipelineConfig(locale="us", field=True, weights="default"))
    two = ChequeReader(PipelineConfig(locale="us", field=True, weights=("default", "default")))
    a, b = one.read_field(img), two.read_field(img)
    # the same recognizer twice reads as itself
    assert a.amount == b.amount and abs(a.confidence - b.confidence) < 1e-3


def test_cli_weights_given_twice(tmp_path):
    import json

    sample = Path(__file__).resolve().parents[1] / "samples" / "cheque_0000.png"
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(main, ["read", str(sample), "-q", "-o", str(out),
                                    "--weights", "default", "--weights", "latin"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["status"] in ("ok", "rejected") and rows[0]["reading"]
