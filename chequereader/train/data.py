"""Training data: real handwritten digits (MNIST, USPS, Semeion) and synthetic symbols,
all framed by :func:`chequereader.framing.frame` so training matches inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..framing import frame, frame_digit_images
from ..models.alphabet import Alphabet
from ..symbols import symbol_samples


@dataclass(frozen=True)
class DigitSet:
    """Ink-bright digit images ``uint8 (N, H, W)``, labels ``(N,)``, writer ids or None."""

    images: np.ndarray
    labels: np.ndarray
    writers: np.ndarray | None = None


def load_digit_npz(path: str | Path, split: str | None = None) -> DigitSet:
    """Read a digits file in the format of ``../shared/data``.

    Keys ``images``/``labels`` (optional ``writers``), or ``{split}_images``/``{split}_labels``
    (``split`` = ``train`` or ``test``; if not given, ``test_*`` is used when there is no plain
    ``images`` key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"digits file {path}: not found")
    try:
        d = np.load(path)
    except Exception as exc:
        raise ConfigError(f"digits file {path}: cannot be read as .npz ({exc})") from None
    keys = set(d.files)
    if split is None:
        prefix = "" if "images" in keys else "test_"
    else:
        prefix = "" if split == "" else f"{split}_"
    ik, lk = f"{prefix}images", f"{prefix}labels"
    if ik not in keys or lk not in keys:
        raise ConfigError(f"digits file {path}: needs {ik!r} and {lk!r}, has {sorted(keys)}")
    images, labels = d[ik], d[lk]
    if images.ndim != 3 or len(images) != len(labels):
        raise ConfigError(f"digits file {path}: {ik} must be (N,H,W) with N labels")
    wk = f"{prefix}writers"
    writers = d[wk] if wk in keys else None
    return DigitSet(images.astype(np.uint8), labels.astype(np.int64), writers)


def writer_split(writers: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) with no writer on both sides."""
    uniq = np.unique(writers)
    rng = np.random.default_rng(seed)
    val_w = rng.choice(uniq, size=max(1, int(round(len(uniq) * val_fraction))), replace=False)
    val = np.isin(writers, val_w)
    return ~val, val


def framed_digits(ds: DigitSet) -> np.ndarray:
    return frame_digit_images(ds.images)


def framed_symbols(
    alphabet: Alphabet, per_symbol: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Framed synthetic samples of every non-digit class of ``alphabet``."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, c in enumerate(alphabet.chars):
        if c.isdigit():
            continue
        for s in symbol_samples(c, per_symbol, rng):
            xs.append(frame(s.mask, s.body_height, s.baseline))
            ys.append(k)
    if not xs:
        return np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray(ys, np.int64)
