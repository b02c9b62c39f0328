# Imports follow the torch check, so that without torch the module skips.
# ruff: noqa: E402
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs PyTorch: pip install 'chequereader[train]'")
from click.testing import CliRunner

from chequereader.cli import main
from chequereader.framing import frame
from chequereader.models.lenet5 import LeNet5
from chequereader.models.weights import save_model
from chequereader.train.data import writer_split
from chequereader.train.recognizer import DistortConfig, distort


def _tiny_set(n=64, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        m = np.zeros((28, 28), bool)
        if i % 2 == 0:
            m[4:24, 12:15] = True  # a "1"
        else:
            m[4:7, 6:22] = True
            m[4:24, 19:22] = True  # a "7"
        m = np.roll(m, rng.integers(-2, 3), axis=1)
        xs.append(frame(m))
        ys.append(1 if i % 2 == 0 else 7)
    return torch.from_numpy(np.stack(xs))[:, None], torch.tensor(ys)


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    x, y = _tiny_set()
    m = LeNet5()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = float(m.loss(m(x), y))
    for _ in range(40):
        loss = m.loss(m(distort(x, DistortConfig(), g)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(m.loss(m(x), y))
    assert last < 0.5 * first
    assert (m.predict(x[:, 0].numpy()).argmin(1) == y.numpy()).mean() == 1.0


def test_distortion_keeps_shape_background_and_moves_ink():
    x, _ = _tiny_set(8)
    g = torch.Generator().manual_seed(1)
    d = distort(x, DistortConfig(), g)
    assert d.shape == x.shape
    assert float(d[:, :, 0, 0].mean()) == pytest_approx(-0.1)
    assert float((d - x).abs().mean()) > 0.01


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=1e-3)


def test_writer_split_shares_no_writer():
    w = np.repeat(np.arange(50), 10)
    tr, va = writer_split(w, 0.2, seed=3)
    assert not set(w[tr]) & set(w[va])
    assert va.sum() == 100


def test_evaluate_digits_cli_on_a_file_the_test_writes(tmp_path):
    torch.manual_seed(0)
    x, y = _tiny_set(32)
    m = LeNet5()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(40):
        loss = m.loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = save_model(m, tmp_path / "w.pt")
    ims = np.zeros((4, 28, 28), np.uint8)
    ims[0, 4:24, 12:15] = 255
    ims[1, 4:7, 6:22] = 255
    ims[1, 4:24, 19:22] = 255
    ims[2] = ims[0]
    ims[3] = ims[1]
    np.savez(tmp_path / "d.npz", images=ims, labels=np.array([1, 7, 7, 1], np.uint8))
    r = CliRunner().invoke(main, ["evaluate-digits", str(tmp_path / "d.npz"), "--weights", str(w), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["n"] == 4 and res["error_rate"] == 0.5  # two labels are deliberately wrong
    assert sum(map(sum, res["confusion"])) == 4
    r = CliRunner().invoke(main, ["evaluate-digits", str(tmp_path / "d.npz"), "--weights", str(w)])
    assert "50.00% error" in r.output
    bad = tmp_path / "bad.npz"
    np.savez(bad, foo=ims)
    r = CliRunner().invoke(main, ["evaluate-digits", str(bad), "--weights", str(w)])
    assert r.exit_code != 0 and "needs" in r.output


def _fake_data_dir(root):
    """A ../shared/data look-alike: tiny MNIST train/test files with writer ids."""
    rng = np.random.default_rng(0)
    d = root / "mnist"
    d.mkdir(parents=True)
    for name, n in (("mnist-train.npz", 120), ("mnist-test.npz", 40)):
        ims = np.zeros((n, 28, 28), np.uint8)
        labels = np.arange(n) % 2 * 6 + 1  # ones and sevens
        for i in range(n):
            x = 12 + int(rng.integers(-2, 3))
            ims[i, 4:24, x : x + 3] = 255
            if labels[i] == 7:
                ims[i, 4:7, x - 10 : x + 3] = 255
        np.savez(d / name, images=ims, labels=labels.astype(np.uint8),
                 writers=(np.arange(n) % 12).astype(np.int32))
    return root


def test_train_cli_checkpoints_and_resumes(tmp_path):
    data = _fake_data_dir(tmp_path / "data")
    out = tmp_path / "w.pt"
    base = ["train", "recognizer", "--data", str(data), "--out", str(out), "--symbols-per-class", "4",
            "--quiet", "--seed", "1", "--val-fraction", "0.2"]
    r = CliRunner().invoke(main, base + ["--epochs", "1"])
    assert r.exit_code == 0, r.output
    ckpt = tmp_path / "w.pt.ckpt"
    assert out.exists() and ckpt.exists()
    r = CliRunner().invoke(main, base + ["--epochs", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert "resumed from" in r.output
    from chequereader.models.weights import read_metadata

    meta = read_metadata(out)
    assert [h["epoch"] for h in meta["training"]["history"]] == [1, 2]
    assert meta["training"]["command"].startswith("chequereader train recognizer")
    assert "mnist_test" in meta["metrics"] and meta["training"]["validation_writers"] >= 1


def test_both_trainers_take_superscript_digits():
    runner = CliRunner()
    for cmd in ("recognizer", "global"):
        res = runner.invoke(main, ["train", cmd, "--help"])
        assert res.exit_code == 0 and "--superscript-digits" in res.output


def test_train_cli_device(tmp_path):
    import pytest

    from chequereader.errors import ConfigError
    from chequereader.models.weights import load_model
    from chequereader.train.recognizer import training_device

    data = _fake_data_dir(tmp_path / "data")
    base = ["train", "recognizer", "--data", str(data), "--symbols-per-class", "4", "--quiet",
            "--seed", "1", "--val-fraction", "0.2", "--epochs", "1"]
    r = CliRunner().invoke(main, base + ["--out", str(tmp_path / "a.pt")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, base + ["--out", str(tmp_path / "b.pt"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    # Naming the CPU changes nothing: same random streams, same weights.
    a, b = load_model(tmp_path / "a.pt"), load_model(tmp_path / "b.pt")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    r = CliRunner().invoke(main, base + ["--out", str(tmp_path / "c.pt"), "--device", "tpu:9"])
    assert r.exit_code != 0 and "device" in r.output and not (tmp_path / "c.pt").exists()
    with pytest.raises(ConfigError, match="not a torch device"):
        training_device("a GPU")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            training_device("cuda")
    assert training_device("cpu") == torch.device("cpu")


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: what a crafted checkpoint could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tiny_training_state():
    import torch

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=10)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched, torch.Generator().manual_seed(3)


def test_crafted_checkpoint_is_refused_not_executed(tmp_path):
    import torch

    from chequereader.errors import ModelError
    from chequereader.train.recognizer import load_checkpoint

    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "w.pt.ckpt"
    model, opt, sched, gen = _tiny_training_state()
    torch.save({"model": _RunsCode(str(marker)), "opt": {}, "sched": {}, "gen": None,
                "history": [], "epoch": 1}, ckpt)
    with pytest.raises(ModelError, match="cannot resume"):
        load_checkpoint(ckpt, model, opt, sched, gen)
    assert not marker.exists()


def test_checkpoint_round_trips_with_weights_only(tmp_path):
    import torch

    from chequereader.train.recognizer import load_checkpoint, save_checkpoint

    model, opt, sched, gen = _tiny_training_state()
    ckpt = tmp_path / "w.pt.ckpt"
    save_checkpoint(ckpt, model, opt, sched, gen, [{"epoch": 1, "val_error": 0.5}], 1)
    torch.load(ckpt, weights_only=True)  # plain tensors and data only
    m2, o2, s2, g2 = _tiny_training_state()
    with torch.no_grad():
        m2.weight.zero_()
    history, epoch = load_checkpoint(ckpt, m2, o2, s2, g2)
    assert (history, epoch) == ([{"epoch": 1, "val_error": 0.5}], 1)
    assert torch.equal(m2.weight, model.weight) and s2.state_dict() == sched.state_dict()
    assert torch.equal(g2.get_state(), gen.get_state())
