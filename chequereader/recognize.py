"""The recognizer's scores of every candidate of a segmentation graph (docs/design.md section 4).

Each candidate (a framed ``32 x 32`` image, :mod:`chequereader.framing`) is scored by the
recognizer (LeNet-5 or the wider variant: one penalty ``-log p(class)`` per class). With
``shifts``, copies of the candidate moved by a pixel or two are scored too and the class
probabilities of the original and its copies are averaged (test-time augmentation): a
candidate that the recognizer reads one way only at one exact position is a guess, one it
reads the same way moved up and down is not. The lattice, the decoder and global training
see one penalty per class per candidate as before.

Examples
--------
>>> import numpy as np
>>> from chequereader.framing import BACKGROUND
>>> im = np.full((1, 32, 32), BACKGROUND, np.float32)
>>> shifted(im, 0, 1).shape
(1, 32, 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_range
from .errors import ConfigError
from .framing import BACKGROUND


@dataclass(frozen=True)
class RecognizeConfig:
    """``shifts``: the ``(dx, dy)`` pixel shifts of the extra copies of every candidate whose
    class probabilities are averaged with the candidate's own (``[]``: the candidate alone).
    Each copy costs one more recognition of every candidate. One and two pixels up and down
    by default: the lattice frames a candidate by the field's body and baseline, and the
    vertical position of a handwritten digit against them is what varies most."""

    shifts: tuple[tuple[int, int], ...] = ((0, 1), (0, -1), (0, 2), (0, -2))

    def __post_init__(self) -> None:
        for s in self.shifts:
            if not (isinstance(s, tuple) and len(s) == 2 and all(isinstance(v, int) for v in s)):
                raise ConfigError(f"recognize.shifts: {s!r} is not a pair of whole pixels (dx, dy)")
            for v in s:
                check_range(v, "recognize.shifts", -4, 4)


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``images`` ``(N, H, W)`` moved ``dx`` pixels right and ``dy`` down, the uncovered
    border filled with the framing's background."""
    out = np.full_like(images, BACKGROUND)
    h, w = images.shape[1:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = images[:, ys, xs]
    return out


def penalties(model: Any, images: np.ndarray, config: RecognizeConfig = RecognizeConfig()) -> np.ndarray:
    """Penalties ``(N, C)`` of ``images`` ``(N, 32, 32)`` under ``model`` (anything with
    ``predict(images) -> (N, C)`` penalties): the model's own, or, with
    ``config.shifts``, ``-log`` of the class probabilities averaged over the image and its
    shifted copies."""
    k = len(config.shifts)
    if k == 0 or len(images) == 0:
        return np.asarray(model.predict(images))
    imgs = np.asarray(images, np.float32)
    if all(dx == 0 for dx, _ in config.shifts) and hasattr(model, "predict_shifted"):
        # vertical shifts only: the NumPy LeNet-5 shares the work of the copies
        both = np.asarray(model.predict_shifted(imgs, [0] + [dy for _, dy in config.shifts], BACKGROUND))
        dtype = both.dtype
        stack = both.astype(np.float64)
    else:
        base = np.asarray(model.predict(images))
        dtype = base.dtype
        copies = np.concatenate([shifted(imgs, dx, dy) for dx, dy in config.shifts])
        pen = np.asarray(model.predict(copies), np.float64).reshape(k, len(imgs), -1)
        stack = np.concatenate([np.asarray(base, np.float64)[None], pen])
    low = stack.min(axis=0)
    mean = np.exp(low - stack).mean(axis=0)  # p / max p, averaged over the copies
    return (low - np.log(mean)).astype(dtype, copy=False)
