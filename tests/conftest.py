from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that need it skip cleanly when it is absent."""
    if not (DATA / "mnist" / "mnist-test.npz").exists():
        pytest.skip("../shared/data is absent (real handwriting data is not shipped)")
    return DATA


def _digit_image(d: int, shift: int) -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    cv2.putText(img, str(d), (6 + shift, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    return img


@pytest.fixture()
def write_digit_npz() -> Callable[[Path, dict[int, int]], Path]:
    """Writes an MNIST-format ``.npz`` (ink bright, 28x28) of the ten digits per writer, drawn
    in a font and shifted per writer: ``write(path, {writer_id: x_shift, ...})``."""

    def write(path: Path, shifts: dict[int, int]) -> Path:
        images, labels, writers = [], [], []
        for w, shift in shifts.items():
            for d in range(10):
                images.append(_digit_image(d, shift))
                labels.append(d)
                writers.append(w)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=np.stack(images), labels=np.array(labels, np.uint8),
                 writers=np.array(writers, np.int32))
        return path

    return write


def untrained_weights(folder: Path) -> str:
    """An untrained LeNet-5 as a weight file: enough for reading mechanics, not accuracy.

    With torch, the torch module's own initialisation (seed 0) saved as ``untrained.pt`` (and
    its ``.npz``); without torch, the same initialisation rule (uniform in +-2.4 / fan-in)
    drawn with NumPy and saved as ``untrained.npz``.
    """
    try:
        import torch
    except ImportError:
        from chequereader.models.alphabet import DEFAULT
        from chequereader.models.numpy_lenet5 import STATE_SHAPES
        from chequereader.models.weights import save_npz

        fan = {"c1": 25, "s2": 4, "c3": 75, "s4": 4, "c5": 400, "f6": 120}
        rng = np.random.default_rng(0)
        state = {k: rng.uniform(-1, 1, shape).astype(np.float32) * (2.4 / fan[k[:2]])
                 for k, shape in STATE_SHAPES.items()}
        return str(save_npz(state, folder / "untrained.npz", DEFAULT))
    from chequereader.models.lenet5 import LeNet5
    from chequereader.models.weights import save_model

    torch.manual_seed(0)
    return str(save_model(LeNet5(), folder / "untrained.pt"))


def field_image(text: str, width: int | None = None) -> np.ndarray:
    """``text`` printed with OpenCV on a 40-px-high white field (``width`` default: by length)."""
    import cv2

    img = np.full((40, width or 20 + 22 * len(text)), 255, np.uint8)
    cv2.putText(img, text, (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2)
    return img


def labelled_fields(folder: Path, n: int, seed: int) -> Path:
    """``n`` printed amount fields (random 1-3 digit amounts) as PNGs in ``folder`` and the
    ``labels.csv`` (file,amount) that names them; returns the manifest's path."""
    rng = np.random.default_rng(seed)
    lines = ["file,amount"]
    for i in range(n):
        t = str(int(rng.integers(1, 999)))
        cv2.imwrite(str(folder / f"{i}.png"), field_image(t, 30 + 22 * len(t)))
        lines.append(f"{i}.png,{t}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder / "labels.csv"
