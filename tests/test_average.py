"""Weight averaging (train.average) and `chequereader train average`."""
# Imports follow the torch check, so that without torch the module skips.
# ruff: noqa: E402

import json

import pytest

torch = pytest.importorskip("torch", reason="training needs PyTorch: pip install 'chequereader[train]'")
from click.testing import CliRunner

from chequereader.cli import main
from chequereader.errors import ConfigError
from chequereader.models.alphabet import DEFAULT
from chequereader.models.lenet5 import LeNet5
from chequereader.models.weights import load_model, read_metadata, save_model
from chequereader.train.average import average_weights
from chequereader.train.recognizer import trained_on_semeion


def _two(tmp_path):
    torch.manual_seed(0)
    a = save_model(LeNet5(), tmp_path / "a.pt", {"training": {"data": ["MNIST train"]}})
    torch.manual_seed(1)
    b = save_model(LeNet5(), tmp_path / "b.pt", {"training": {"data": ["Semeion"]}})
    return a, b


def test_average_is_the_weighted_mean_of_the_parameters(tmp_path):
    a, b = _two(tmp_path)
    ma, mb = load_model(a), load_model(b)
    m = average_weights([a, b], [1, 3])
    for k, v in m.state_dict().items():
        if v.is_floating_point():
            want = 0.25 * ma.state_dict()[k] + 0.75 * mb.state_dict()[k]
            assert torch.allclose(v, want, atol=1e-6), k
    x = torch.randn(3, 1, 32, 32)
    assert not torch.allclose(m(x), ma(x)) and not torch.allclose(m(x), mb(x))
    same = average_weights([a, a])
    assert all(torch.equal(same.state_dict()[k], ma.state_dict()[k]) for k in ma.state_dict())


def test_average_refuses_bad_shares_and_other_alphabets(tmp_path):
    a, b = _two(tmp_path)
    with pytest.raises(ConfigError, match="shares"):
        average_weights([a, b], [1])
    with pytest.raises(ConfigError, match="shares"):
        average_weights([a, b], [0, 0])
    c = save_model(LeNet5(DEFAULT.extend("₹")), tmp_path / "c.pt")
    with pytest.raises(ConfigError, match="alphabet"):
        average_weights([a, c])


def test_average_cli_writes_metadata_naming_its_sources(tmp_path):
    a, b = _two(tmp_path)
    out = tmp_path / "avg.pt"
    r = CliRunner().invoke(main, ["train", "average", str(a), str(b), "--shares", "1,2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {}
    meta = read_metadata(out)
    src = meta["training"]["averaged_from"]
    assert [s["file"] for s in src] == ["a.pt", "b.pt"] and [s["share"] for s in src] == [1.0, 2.0]
    assert meta["training"]["command"].startswith(f"chequereader train average {a} {b} ")
    assert trained_on_semeion(meta["training"]) and not trained_on_semeion(read_metadata(a)["training"])
    r = CliRunner().invoke(main, ["train", "average", str(a), "--shares", "x", "--out", str(out)])
    assert r.exit_code == 2 and "--shares" in r.output


def test_trained_on_semeion_follows_earlier_stages():
    plain = {"data": ["MNIST train"], "config": {"semeion": False}}
    assert not trained_on_semeion(plain) and not trained_on_semeion(None)
    assert trained_on_semeion({"config": {"semeion": True}})
    assert trained_on_semeion({"global_config": {"semeion_repeat": 8}})
    assert trained_on_semeion({"data": [], "pretraining": {"pretraining": {"config": {"semeion": True}}}})
    assert trained_on_semeion({"averaged_from": [{"training": plain}, {"training": {"global_config": {"semeion_repeat": 1}}}]})
    assert not trained_on_semeion({"global_config": {"semeion_repeat": 0}, "pretraining": plain})
