"""The NumPy LeNet-5 that reads cheques, its .npz weight files, and reading without torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import untrained_weights

from chequereader.cli import main
from chequereader.errors import ModelError
from chequereader.framing import frame
from chequereader.models.alphabet import DEFAULT
from chequereader.models.numpy_lenet5 import C3_TABLE, STATE_SHAPES, NumpyLeNet5, c3_dense
from chequereader.models.weights import (
    BUNDLED,
    load_numpy_model,
    npz_path,
    read_metadata,
    resolve_weights,
    save_npz,
)

ROOT = Path(__file__).resolve().parents[1]


def framed_inputs(n: int, seed: int = 0) -> np.ndarray:
    """``n`` framed candidates: one to three random strokes on crops of random size."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = int(rng.integers(20, 60)), int(rng.integers(6, 60))
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            p = rng.integers(0, [w, h], size=(2, 2))
            cv2.line(m, (int(p[0, 0]), int(p[0, 1])), (int(p[1, 0]), int(p[1, 1])), 1,
                     int(rng.integers(1, 5)))
        out.append(frame(m.astype(bool)))
    return np.stack(out)


@pytest.mark.parametrize("name", ["default", "latin"])
def test_same_penalties_as_the_torch_model(name: str) -> None:
    torch = pytest.importorskip("torch", reason="the torch model is the reference")
    from chequereader.models.weights import load_model

    x = framed_inputs(300)
    tm = load_model(name)
    ref32 = tm.predict(x)
    got32 = load_numpy_model(name).predict(x)
    assert got32.dtype == np.float32 and got32.shape == ref32.shape
    # The same network: both in float64 agree to rounding.
    t64 = load_model(name).double()
    with torch.no_grad():
        ref64 = t64.penalties(t64(torch.from_numpy(x.astype(np.float64))[:, None])).numpy()
    got64 = NumpyLeNet5.from_torch(t64, dtype=np.float64).predict(x)
    np.testing.assert_allclose(got64, ref64, rtol=0, atol=1e-9)
    # In float32 (the reader's), each is off the float64 value by its own rounding: penalties
    # run to about 170, where a float32 step is 1.5e-5; the NumPy model is no further off
    # than torch's own float32 predict, and within 1e-5 of torch relative to the penalty.
    err_np, err_torch = np.abs(got32 - ref64).max(), np.abs(ref32 - ref64).max()
    assert err_np <= 1.5 * err_torch + 1e-5, (err_np, err_torch)
    np.testing.assert_allclose(got32, ref32, rtol=5e-5, atol=2e-4)
    assert np.all(np.abs(got32 - ref32) <= 1e-5 * np.maximum(np.abs(ref32), 10.0))
    assert (got32.argmin(1) == ref32.argmin(1)).all()


def test_predict_batches_shapes_and_empty_input() -> None:
    m = load_numpy_model()
    x = framed_inputs(150, seed=1)
    whole = m.predict(x)
    assert whole.shape == (150, len(m.alphabet)) and whole.dtype == np.float32
    # other batchings round differently (OpenCV's vector lanes), by float32 steps
    for part in (m.predict(x, batch_size=7), np.concatenate([m.predict(x[i:i + 1]) for i in range(9)])):
        assert np.all(np.abs(part - whole[: len(part)]) <= 1e-5 * np.maximum(np.abs(whole[: len(part)]), 10))
    assert m.predict(np.zeros((0, 32, 32), np.float32)).shape == (0, len(m.alphabet))
    # penalties are -log p: the classes and the rubbish mass sum to one
    p = np.exp(-whole.astype(np.float64)).sum(1)
    assert np.all((p > 0) & (p <= 1 + 1e-5))
    with pytest.raises(ModelError, match="shape"):
        m.predict(np.zeros((2, 28, 28), np.float32))


def test_c3_reads_only_its_table() -> None:
    w = c3_dense(np.ones((60, 25)))
    for o, ins in enumerate(C3_TABLE):
        assert {i for i in range(6) if w[o, i].any()} == set(ins)


def test_bundled_npz_exports_match_their_pt_files() -> None:
    """Each bundled .pt has its .npz beside it, exported from these very bytes (a retrained
    .pt without a new export would make the reader fall back to torch)."""
    for name, file in BUNDLED.items():
        pt = resolve_weights(name)
        assert pt.name == file
        npz = npz_path(pt)
        assert npz.is_file(), f"{npz.name} missing: python -m chequereader.models.export"
        with np.load(npz, allow_pickle=False) as z:
            header = json.loads(z["__header__"].tobytes().decode("utf-8"))
            assert set(z.files) == set(STATE_SHAPES) | {"__header__"}
        assert header["source"]["sha256"] == hashlib.sha256(pt.read_bytes()).hexdigest(), (
            f"{npz.name} is stale: python -m chequereader.models.export {name}")
        m = load_numpy_model(name)
        assert m.metadata == read_metadata(name) and m.alphabet.string == header["metadata"]["alphabet"]


def test_save_npz_round_trip_and_refusals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    state = {k: rng.normal(0, 0.1, s).astype(np.float32) for k, s in STATE_SHAPES.items()}
    p = save_npz(state, tmp_path / "w.npz", DEFAULT, 20.0, {"training": {"data": ["none"]}})
    m = load_numpy_model(p, alphabet=DEFAULT)
    assert m.metadata["training"] == {"data": ["none"]} and m.rubbish_j == 20.0
    ref = NumpyLeNet5(state, DEFAULT, 20.0).predict(framed_inputs(5))
    np.testing.assert_array_equal(m.predict(framed_inputs(5)), ref)
    with pytest.raises(ModelError, match="alphabet"):
        load_numpy_model(p, alphabet=DEFAULT.extend("₹"))
    with pytest.raises(ModelError, match="shape"):
        save_npz({**state, "f6.bias": np.zeros(83, np.float32)}, tmp_path / "bad.npz", DEFAULT)
    with pytest.raises(ModelError, match="missing"):
        NumpyLeNet5({k: v for k, v in state.items() if k != "c1.bias"}, DEFAULT, 20.0)
    data = p.read_bytes()
    for mutated, message in ((data[: len(data) // 2], "corrupt or truncated"), (b"", "empty"),
                             (b"not a weights file" * 20, "corrupt or truncated")):
        bad = tmp_path / "m.npz"
        bad.write_bytes(mutated)
        with pytest.raises(ModelError, match=message):
            load_numpy_model(bad)
    # a tampered tensor fails the checksum
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["f6.bias"] = arrays["f6.bias"] + 1
    with open(tmp_path / "t.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelError, match="checksum"):
        load_numpy_model(tmp_path / "t.npz")
    with pytest.raises(ModelError, match="not found"):
        load_numpy_model(tmp_path / "nope.npz")


def test_a_pt_without_export_needs_torch_and_says_which_extra(tmp_path: Path, monkeypatch) -> None:
    w = Path(untrained_weights(tmp_path))
    if w.suffix == ".pt":  # torch is installed: hide it, and the export beside the file
        npz_path(w).unlink()
        monkeypatch.setitem(sys.modules, "torch", None)
    else:  # no torch: a .pt file it cannot read
        w = w.with_suffix(".pt")
        w.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelError, match=r"chequereader\[train\]") as exc:
        load_numpy_model(w)
    assert "python -m chequereader.models.export" in str(exc.value)


def test_a_stale_export_is_not_used(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="writes a .pt file")
    from chequereader.models.lenet5 import LeNet5
    from chequereader.models.weights import load_model, save_model

    a = save_model(LeNet5(), tmp_path / "a.pt")
    b = save_model(LeNet5(), tmp_path / "b.pt")
    npz_path(b).replace(npz_path(a))  # a.npz now holds b's tensors, recorded as b.pt's export
    x = framed_inputs(4)
    np.testing.assert_allclose(load_numpy_model(a).predict(x), load_model(a).predict(x), atol=2e-4)


def test_reading_a_cheque_imports_no_torch(tmp_path: Path) -> None:
    code = ("import sys; from chequereader.cli import main\n"
            "try:\n    main(['read', 'samples/cheque_0000.png', '-o', sys.argv[1]])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    out = tmp_path / "r.jsonl"
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text().splitlines()[0])["amount"] == "100.24"


def test_train_commands_without_torch_name_the_extra(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    for cmd in (["train", "recognizer", "--out", "x.pt"], ["train", "fields", "README.md", "--out", "x.pt"]):
        r = CliRunner().invoke(main, cmd)
        assert r.exit_code == 1 and "pip install 'chequereader[train]'" in r.output, r.output
