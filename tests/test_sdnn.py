"""The second reader (chequereader.sdnn): the SDNN's strip, its NumPy forward pass against the
torch network, the string penalty against torch's CTC loss, its training, and how the
decoder and the reader weigh its opinion."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chequereader import sdnn as S  # noqa: E402
from chequereader.amounts import amount_prior  # noqa: E402
from chequereader.calibration import FEATURES, SDNN_FEATURES, Calibration, default_calibration  # noqa: E402
from chequereader.config import PipelineConfig  # noqa: E402
from chequereader.decode import DecodeConfig, decode  # noqa: E402
from chequereader.errors import ConfigError, ModelError  # noqa: E402
from chequereader.grammar import get_grammar  # noqa: E402
from chequereader.models.alphabet import DEFAULT  # noqa: E402
from chequereader.models.sdnn import SDNN, load_sdnn, save_sdnn  # noqa: E402
from chequereader.pipeline import ChequeReader  # noqa: E402
from chequereader.train.sdnn import AmountStrings, distorted_strip, train_sdnn  # noqa: E402
from chequereader.types import CleanField, SegmentationGraph  # noqa: E402


def _digits(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digit-like images: a ring for 0, bars for the others (enough to compose amounts)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = rng.integers(0, 10, n)
    for i, d in enumerate(labels):
        if d == 0:
            yy, xx = np.mgrid[:28, :28]
            r = np.hypot(yy - 14, (xx - 14) * 1.4)
            images[i][(r > 6) & (r < 9)] = 255
        else:
            images[i, 4:24, 12:15] = 255
            images[i, 4:7, 8:8 + 2 * d % 12] = 255
    return images, labels, rng.integers(0, 5, n)


def _net_file(tmp_path: Path, channels: tuple[int, ...] = (4, 4, 8, 8, 8, 8)) -> Path:
    torch.manual_seed(0)
    net = SDNN(channels)
    with torch.no_grad():  # running statistics that are not the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    net.eval()
    return save_sdnn(net, tmp_path / "s.npz", {"note": "test"})


def test_numpy_forward_matches_torch(tmp_path: Path) -> None:
    path = _net_file(tmp_path)
    net = load_sdnn(path)
    net.eval()
    np_net = S.NumpySDNN(path)
    strips = AmountStrings(*_digits(), seed=1)
    for _ in range(3):
        st, _ = strips.sample()
        assert st.shape[0] == S.HEIGHT and st.shape[1] % S.STRIDE == 0
        with torch.no_grad():
            ref = net(torch.from_numpy(st[None, None] / 255.0).float())[:, 0].numpy()
        got = np_net.log_probs(st)
        assert got.shape == ref.shape == (st.shape[1] // S.STRIDE, 11)
        assert np.abs(got - ref).max() < 1e-4
        assert np.allclose(np.exp(got).sum(1), 1.0, atol=1e-4)


def test_text_penalty_is_the_ctc_forward() -> None:
    rng = np.random.default_rng(3)
    for t, text in ((12, "100"), (9, "7"), (20, "2550"), (6, "1111")):
        z = rng.normal(size=(t, 11))
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        ref = torch.nn.functional.ctc_loss(
            torch.from_numpy(lp)[:, None], torch.tensor([[int(c) for c in text]]),
            torch.tensor([t]), torch.tensor([len(text)]), blank=S.BLANK, reduction="sum").item()
        want = min(ref, S.MAX_PENALTY) if math.isfinite(ref) else S.MAX_PENALTY
        assert S.text_penalty(lp, text) == pytest.approx(want, rel=1e-6)
    lp = np.log(np.full((3, 11), 1 / 11))
    assert S.text_penalty(lp, "1111") == S.MAX_PENALTY  # needs 7 steps
    # many strings at once: the same penalties
    z = rng.normal(size=(15, 11))
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    texts = ["1", "100", "", "2550", "7777777", "12345678", "x1"]
    assert np.allclose(S.text_penalties(lp, texts), [S.text_penalty(lp, t) for t in texts], rtol=1e-9)
    assert S.text_penalty(lp, "") == S.MAX_PENALTY


def test_best_text_collapses_runs_and_blanks() -> None:
    seq = [1, 1, S.BLANK, 0, 0, S.BLANK, 0, S.BLANK, S.BLANK, 5]
    lp = np.full((len(seq), 11), -10.0)
    lp[np.arange(len(seq)), seq] = 0.0
    assert S.best_text(lp) == "1005"
    assert S.digits_of("$1,234.50/-") == "123450"


def test_strip_scales_the_body_and_crops_the_ink() -> None:
    b = np.zeros((120, 400), bool)
    b[40:80, 100:110] = True  # a 40-pixel stroke on baseline 80
    b[40:80, 200:230] = True
    cf = CleanField(b, b.astype(np.uint8) * 255, 40.0, 80.0)
    st = S.strip(cf)
    assert st.shape[0] == S.HEIGHT and st.shape[1] % S.STRIDE == 0
    rows = np.flatnonzero(st.any(1))
    assert abs(len(rows) - S.BODY) <= 2  # the body is BODY pixels high
    assert abs((rows[0] + rows[-1]) / 2 - S.MIDDLE) <= 2
    assert st.shape[1] <= (130 + 4) * S.BODY / 40 + S.STRIDE  # ink columns only
    empty = S.strip(CleanField(np.zeros((50, 80), bool), np.zeros((50, 80), np.uint8), 20.0, 40.0))
    assert empty.shape[0] == S.HEIGHT and not empty.any()


def test_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        S.NumpySDNN(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="cannot be read"):
        S.NumpySDNN(bad)
    path = _net_file(tmp_path)
    with np.load(path) as d:
        blob = {k: d[k] for k in d.files if k != "conv3.weight"}
    np.savez(tmp_path / "short.npz", **blob)
    with pytest.raises(ModelError, match="missing"):
        S.NumpySDNN(tmp_path / "short.npz")
    with pytest.raises(ConfigError):
        S.SDNNConfig(weight=-1.0)


def test_amount_strings_compose_their_digits() -> None:
    gen = AmountStrings(*_digits(), seed=2)
    seen = set()
    for _ in range(60):
        cf, s = gen.field()
        # the label is the digits written: up to 7 of the amount and 5 of "xx/100" cents
        assert s.isdigit() and s[0] != "0" and 1 <= len(s) <= 12
        assert cf.binary.any() and cf.binary.shape == cf.grey.shape
        seen.update(k for k, _, _, _ in gen.tokens(gen.amount()))
    assert seen == {"d", "s", "m"}  # digits, drawn symbols and marks all occur
    rng = np.random.default_rng(0)
    st = distorted_strip(cf, rng)
    assert st.shape[0] == S.HEIGHT and st.any()


def test_training_lowers_the_loss_and_writes_readable_weights(tmp_path: Path) -> None:
    digits = _digits(400)
    fields = [AmountStrings(*digits, seed=9).field() for _ in range(8)]
    res = train_sdnn(tmp_path / "a.npz", digits=digits, steps=60, fields=fields, batch_size=8,
                     channels=(8, 8, 16, 16, 16, 16), threads=1, seed=0)
    assert res["fields"] == 8 and math.isfinite(res["loss"])
    m = S.NumpySDNN(res["out"])
    assert m.metadata["steps"] == 60 and m.metadata["fields"] == 8
    # fine-tuning from it continues from its weights
    res2 = train_sdnn(tmp_path / "b.npz", digits=digits, steps=5, init=res["out"], batch_size=4, threads=1)
    assert S.NumpySDNN(res2["out"]).metadata["init"] == res["out"]
    with pytest.raises(ConfigError):
        train_sdnn(tmp_path / "c.npz", digits=digits, steps=0)


def _chain(pen: np.ndarray) -> tuple[SegmentationGraph, np.ndarray]:
    """A graph of ``len(pen)`` arcs in a row, side by side, with these penalties."""
    n = len(pen)
    g = SegmentationGraph(n_nodes=n + 1, src=np.arange(n), dst=np.arange(1, n + 1),
                          images=np.zeros((n, 32, 32), np.float32),
                          boxes=np.array([[12 * a, 0, 10, 20] for a in range(n)]),
                          geometric=np.zeros(n, np.float32))
    return g, pen


def _two_reading_graph() -> tuple[SegmentationGraph, np.ndarray]:
    """One arc read as 7 (penalty 1) or 1 (penalty 1.5)."""
    pen = np.full((1, len(DEFAULT.chars)), 30.0)
    pen[0, DEFAULT.index("7")] = 1.0
    pen[0, DEFAULT.index("1")] = 1.5
    return _chain(pen)


def test_decode_weighs_the_second_readers_penalty() -> None:
    g, pen = _two_reading_graph()
    tables = get_grammar("cl").tables(DEFAULT)
    prior = amount_prior("cl")
    cfg = DecodeConfig(rubbish_penalty=math.inf)
    plain = decode(g, pen, tables, prior, cfg)
    assert plain.amount == "7"
    def favour(text: str):
        return lambda texts: [0.0 if t == text else 5.0 for t in texts]

    agree = decode(g, pen, tables, prior, cfg, text_penalty=favour("7"))
    assert agree.amount == "7" and agree.confidence > plain.confidence
    other = decode(g, pen, tables, prior, cfg, text_penalty=favour("1"))
    assert other.amount == "1" and other.path is not None and other.text == "1"
    # the texts the first decoding weighed, weighed again without a search: the same result
    again = decode(g, pen, tables, prior, cfg, text_penalty=favour("1"), searched=plain.searched)
    assert (again.amount, again.text, again.confidence) == (other.amount, other.text, other.confidence)
    # what the search did not see is weighed at the second reader's best: no free confidence
    low = decode(g, pen, tables, prior, cfg, text_penalty=lambda ts: [10.0] * len(ts), unseen_penalty=0.0)
    assert low.confidence <= plain.confidence + 1e-9


def _uncertain_graph() -> tuple[SegmentationGraph, np.ndarray]:
    """Three arcs in a row, each any digit at nearly the same penalty (1000 texts of similar
    mass): the search weighs a few of them, most of the mass is in the others."""
    pen = np.full((3, len(DEFAULT.chars)), 30.0)
    for a in range(3):
        for d in range(10):
            pen[a, DEFAULT.index(str(d))] = 2.0 + 0.01 * d
    return _chain(pen)


def test_decode_reads_the_second_readers_proposal() -> None:
    g, pen = _uncertain_graph()
    tables = get_grammar("cl").tables(DEFAULT)
    prior = amount_prior("cl")
    cfg = DecodeConfig(rubbish_penalty=math.inf, nbest=1, depth=4, max_depth=4)
    plain = decode(g, pen, tables, prior, cfg)
    assert plain.searched is not None
    weighed = {p.text for p in plain.searched.paths}
    assert "987" not in weighed and len(weighed) < 20

    def sdnn_says(best: str):
        return lambda texts: [0.0 if "".join(c for c in t if c.isdigit()) == best else 6.0 for t in texts]

    # spelt by a path the search did not weigh: found, weighed mostly with the unreached
    # mass, read, never accepted
    got = decode(g, pen, tables, prior, cfg, text_penalty=sdnn_says("987"), unseen_penalty=0.0,
                 searched=plain.searched, proposal="987")
    assert (got.amount, got.text, got.proposed, got.status) == ("987", "987", True, "rejected")
    assert got.path is not None and len(got.path.arcs) == 3
    assert got.searched is not None and "987" in {p.text for p in got.searched.paths}
    assert plain.searched.amount_of.keys() == weighed  # the first decoding's is left as it was
    # spelt by no path (four digits on three arcs): read without a path
    far = decode(g, pen, tables, prior, cfg, text_penalty=sdnn_says("4444"), unseen_penalty=0.0,
                 searched=plain.searched, proposal="4444")
    assert (far.amount, far.text, far.proposed, far.path, far.status) == ("4444", "4444", True, None, "rejected")
    # the search had weighed it: nothing changes
    best = plain.text
    same = decode(g, pen, tables, prior, cfg, text_penalty=sdnn_says(best), unseen_penalty=0.0,
                  searched=plain.searched, proposal=best)
    without = decode(g, pen, tables, prior, cfg, text_penalty=sdnn_says(best), unseen_penalty=0.0,
                     searched=plain.searched)
    assert (same.amount, same.confidence, same.proposed) == (without.amount, without.confidence, False)
    # without the second reader's penalties a proposal is only looked for, never given mass
    alone = decode(g, pen, tables, prior, cfg, searched=plain.searched, proposal="4444")
    assert alone.amount == plain.amount and not alone.proposed


def test_reader_uses_the_sdnn_and_refuses_a_calibration_it_cannot_feed(tmp_path: Path) -> None:
    path = _net_file(tmp_path)
    img = np.full((60, 200), 255, np.uint8)
    img[15:45, 40:44] = 0
    img[15:18, 90:110] = 0
    img[15:45, 106:110] = 0
    on = ChequeReader(dataclasses.replace(PipelineConfig(locale="cl", field=True, evidence=True),
                                          sdnn=S.SDNNConfig(weights=str(path))))
    res = on.read_field(img)
    assert "sdnn" in res.timing_ms
    tr = on.rescored(on.trace_field(img))
    assert tr.sdnn is not None and on.rescored(tr) is tr
    feats = dict(zip(FEATURES, res.features))
    if res.amount is not None:
        assert feats["sdnn_penalty"] == pytest.approx(tr.sdnn.penalty(res.text), rel=1e-6)
        assert feats["sdnn_gap"] >= 0.0
    # a reading only the SDNN makes is refused whatever the calibration says, with its reason
    made = on.rescored(on.trace_field(img))
    assert made.decoding.amount is not None
    only = dataclasses.replace(made, decoding=dataclasses.replace(made.decoding, proposed=True))
    status, conf, _ = on.calibrated(only)
    assert (status, conf) == ("rejected", 0.0)
    off = ChequeReader(dataclasses.replace(PipelineConfig(locale="cl", field=True, evidence=True),
                                           sdnn=S.SDNNConfig(weights="off")))
    assert "sdnn" not in off.read_field(img).timing_ms
    # the bundled calibration of readings made without the second reader
    assert not set(off.config.calibration.features) & set(SDNN_FEATURES)
    assert off.config.calibration == default_calibration(sdnn=False)
    cal = Calibration(features=SDNN_FEATURES, mean=(0.0, 0.0), scale=(1.0, 1.0), coef=(-1.0, -1.0))
    with pytest.raises(ConfigError, match="sdnn"):
        ChequeReader(dataclasses.replace(PipelineConfig(calibration=cal), sdnn=S.SDNNConfig(weights="off")))


def test_train_sdnn_command(tmp_path: Path) -> None:
    import json

    import cv2
    from click.testing import CliRunner

    from chequereader.cli import main

    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    images, labels, writers = _digits(300)
    np.savez(data / "mnist" / "mnist-train.npz", images=images, labels=labels, writers=writers)
    out = tmp_path / "s.npz"
    r = CliRunner().invoke(main, ["train", "sdnn", "--data", str(data), "--out", str(out),
                                  "--steps", "3", "--threads", "1"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["steps"] == 3 and got["fields"] == 0 and S.NumpySDNN(out).metadata["steps"] == 3
    # fine-tuned on labelled fields (crops of composed amounts), from the file just written
    gen = AmountStrings(images, labels, writers, seed=4)
    rows = ["file,amount"]
    for i in range(3):
        cf, s = gen.field()
        p = tmp_path / f"f{i}.png"
        cv2.imwrite(str(p), np.where(cf.binary, 0, 255).astype(np.uint8))
        rows.append(f"{p},{int(s)}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    r = CliRunner().invoke(main, ["train", "sdnn", str(tmp_path / "labels.csv"), "--field", "--locale", "cl",
                                  "--init", str(out), "--data", str(data), "--out", str(tmp_path / "t.npz"),
                                  "--steps", "2", "--threads", "1"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["fields"] + got["skipped"] == 3 and got["fields"] >= 1
    # no MNIST: a clear error, no traceback
    r = CliRunner().invoke(main, ["train", "sdnn", "--data", str(tmp_path / "none"), "--out", str(out)])
    assert r.exit_code != 0 and "MNIST" in r.output
