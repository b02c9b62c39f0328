"""The wider recognizer option: LeNet-5's interface, its own architecture in the weight file."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from chequereader.cli import main
from chequereader.errors import ConfigError, ModelError
from chequereader.models.alphabet import DEFAULT
from chequereader.models.lenet5 import LeNet5
from chequereader.models.weights import load_model, read_metadata, save_model
from chequereader.models.widenet import WideNet


def test_wide_net_has_lenet5s_interface():
    net, ref = WideNet(), LeNet5()
    x = np.random.default_rng(0).normal(size=(5, 32, 32)).astype(np.float32)
    pen = net.predict(x)
    assert pen.shape == ref.predict(x).shape == (5, len(DEFAULT)) and pen.dtype == np.float32
    # penalties are -log p with the rubbish mass: the class masses sum below 1
    assert np.all(np.exp(-pen.astype(np.float64)).sum(1) <= 1 + 1e-5)
    assert net.predict(np.zeros((0, 32, 32), np.float32)).shape == (0, len(DEFAULT))
    counts = net.layer_parameter_counts()
    assert sum(counts.values()) > 4 * sum(ref.layer_parameter_counts().values())
    assert net.multiply_accumulates() > ref.multiply_accumulates()


def test_wide_weights_round_trip_with_their_architecture(tmp_path):
    net = WideNet()
    with torch.no_grad():
        net.body[1].running_mean.add_(0.3)  # batch-norm statistics are part of the file
    save_model(net, tmp_path / "w.pt")
    assert read_metadata(tmp_path / "w.pt")["architecture"] == "wide-cnn-rbf"
    back = load_model(tmp_path / "w.pt")
    assert isinstance(back, WideNet)
    x = np.random.default_rng(1).normal(size=(3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(back.predict(x), net.predict(x), atol=1e-6)
    assert type(load_model()) is LeNet5  # the bundled default is LeNet-5 as published


def test_unknown_architecture_is_refused(tmp_path):
    net = LeNet5()
    net.ARCHITECTURE = "transformer"  # type: ignore[misc]
    save_model(net, tmp_path / "x.pt")
    with pytest.raises(ModelError, match="architecture"):
        load_model(tmp_path / "x.pt")


def test_a_few_steps_lower_the_wide_nets_loss():
    torch.manual_seed(0)
    net = WideNet()
    x = torch.randn(32, 1, 32, 32)
    y = torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        loss = net.loss(net(x), y)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first


def test_train_recognizer_model_wide(tmp_path):
    from test_train import _fake_data_dir

    data = _fake_data_dir(tmp_path / "data")
    r = CliRunner().invoke(main, ["train", "recognizer", "--data", str(data), "--symbols-per-class", "4",
                                  "--quiet", "--val-fraction", "0.2", "--epochs", "1", "--model", "wide",
                                  "--out", str(tmp_path / "w.pt")])
    assert r.exit_code == 0, r.output
    assert isinstance(load_model(tmp_path / "w.pt"), WideNet)
    r = CliRunner().invoke(main, ["train", "recognizer", "--data", str(data), "--model", "huge",
                                  "--out", str(tmp_path / "h.pt")])
    assert r.exit_code == 2


def test_train_config_refuses_an_unknown_model(tmp_path):
    from chequereader.train.recognizer import TrainConfig, train_recognizer

    with pytest.raises(ConfigError, match="model"):
        train_recognizer(TrainConfig(data=str(tmp_path), model="huge"), tmp_path / "w.pt",
                         log=lambda m: None)


def test_the_reader_reads_with_wide_weights(tmp_path):
    import cv2

    from chequereader.config import PipelineConfig
    from chequereader.pipeline import ChequeReader

    save_model(WideNet(), tmp_path / "w.pt")
    reader = ChequeReader(PipelineConfig(field=True, locale="us", weights=str(tmp_path / "w.pt")))
    assert isinstance(reader.model, WideNet)
    img = np.full((40, 120), 255, np.uint8)
    cv2.putText(img, "12.50", (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2)
    res = reader.read_field(img)
    assert res.status in ("ok", "rejected") and res.error is None
