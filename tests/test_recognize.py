"""The recognizer stage: penalties of candidates, averaged over shifted copies."""

from __future__ import annotations

import numpy as np
import pytest

from chequereader.config import PipelineConfig, load_config
from chequereader.errors import ConfigError
from chequereader.framing import BACKGROUND, INK
from chequereader.recognize import RecognizeConfig, penalties, shifted


def test_shifted_moves_ink_and_fills_background() -> None:
    im = np.full((1, 32, 32), BACKGROUND, np.float32)
    im[0, 10, 12] = INK
    down = shifted(im, 0, 1)
    assert down[0, 11, 12] == INK and down[0, 10, 12] == BACKGROUND
    left = shifted(im, -2, 0)
    assert left[0, 10, 10] == INK and np.count_nonzero(left == INK) == 1
    edge = np.full((1, 32, 32), BACKGROUND, np.float32)
    edge[0, 0, :] = INK
    up = shifted(edge, 0, -1)  # the top row leaves the frame; the bottom row is background
    assert np.all(up == BACKGROUND)


class _ByRow:
    """A model whose penalties say which row the image's ink is on: class 0 for ink on
    row 10, class 1 otherwise (each probability 0.9 / 0.1)."""

    def predict(self, images: np.ndarray) -> np.ndarray:
        on10 = (np.asarray(images)[:, 10] > 0).any(axis=1)
        p0 = np.where(on10, 0.9, 0.1)
        return -np.log(np.stack([p0, 1 - p0], axis=1)).astype(np.float32)


def test_penalties_average_probabilities_over_the_copies() -> None:
    im = np.full((2, 32, 32), BACKGROUND, np.float32)
    im[0, 10, 5] = INK   # on row 10: the copies a pixel up and down are not
    im[1, 20, 5] = INK   # never on row 10
    m = _ByRow()
    plain = penalties(m, im, RecognizeConfig(shifts=()))
    assert np.allclose(plain, m.predict(im))
    avg = penalties(m, im, RecognizeConfig(shifts=((0, 1), (0, -1))))
    p = np.exp(-avg.astype(np.float64))
    assert p[0] == pytest.approx([(0.9 + 0.1 + 0.1) / 3, (0.1 + 0.9 + 0.9) / 3], abs=1e-5)
    assert p[1] == pytest.approx([0.1, 0.9], abs=1e-5)
    assert avg.dtype == np.float32 and penalties(m, im[:0]).shape == (0, 2)


def test_recognize_settings_load_and_are_checked(tmp_path) -> None:
    assert PipelineConfig().recognize.shifts == ((0, 1), (0, -1), (0, 2), (0, -2))
    f = tmp_path / "p.toml"
    f.write_text("[recognize]\nshifts = []\n")
    assert load_config(f).recognize.shifts == ()
    f.write_text("[recognize]\nshifts = [[1, 0], [0, 1]]\n")
    assert load_config(f).recognize.shifts == ((1, 0), (0, 1))
    for bad in ("[[9, 0]]", "[[1]]", "[[0.5, 0]]"):
        f.write_text(f"[recognize]\nshifts = {bad}\n")
        with pytest.raises(ConfigError):
            load_config(f)


def test_numpy_lenet5_shares_the_work_of_vertical_shifts() -> None:
    from chequereader.models.weights import load_numpy_model

    m = load_numpy_model()
    rng = np.random.default_rng(3)
    im = np.full((70, 32, 32), BACKGROUND, np.float32)  # more than one batch of 64
    im[:, 4:28, 7:25] = np.where(rng.random((70, 24, 18)) < 0.3, INK, BACKGROUND)
    dys = [0, 1, -1, 2, -2, 3, -4]  # both parities, odd and even start rows
    got = m.predict_shifted(im, dys, BACKGROUND)
    want = np.stack([m.predict(shifted(im, 0, d)) for d in dys])
    assert got.shape == want.shape == (7, 70, len(m.alphabet))
    np.testing.assert_allclose(got, want, atol=2e-3)
    # the recognizer stage takes the shared path and gives what the generic one gives
    cfg = RecognizeConfig(shifts=((0, 1), (0, -1), (0, 2), (0, -2)))

    class _Plain:
        def predict(self, images: np.ndarray) -> np.ndarray:
            return m.predict(images)

    np.testing.assert_allclose(penalties(m, im, cfg), penalties(_Plain(), im, cfg), atol=2e-3)


def test_predict_shifted_refuses_bad_shapes_and_shifts() -> None:
    from chequereader.errors import ModelError
    from chequereader.models.weights import load_numpy_model

    m = load_numpy_model()
    im = np.full((2, 32, 32), BACKGROUND, np.float32)
    with pytest.raises(ModelError):
        m.predict_shifted(im[:, :30], [0, 1], BACKGROUND)
    for bad in ([], [5], [0, -6]):
        with pytest.raises(ModelError):
            m.predict_shifted(im, bad, BACKGROUND)
    assert m.predict_shifted(im[:0], [0, 1], BACKGROUND).shape == (2, 0, len(m.alphabet))
