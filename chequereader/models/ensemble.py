"""Several recognizers read as one: their class probabilities averaged.

The paper's Boosted LeNet-4 combines three networks by adding their outputs; here any
recognizers with the reader's interface (``predict(images) -> (N, C)`` penalties
``-log p(class)``, an ``alphabet``) are combined the same way: the ensemble's penalty of a
class is ``-log`` of the mean of the members' probabilities of it. The lattice, the decoder
and the calibration see one penalty per class per candidate, as with one recognizer.

The first member's alphabet is the ensemble's. Every other member's classes must be among
them; a class a member lacks (the wider recognizer has no ``₹``, say) is averaged over the
members that have it.

Examples
--------
>>> from chequereader.models.weights import load_numpy_model
>>> e = Ensemble([load_numpy_model(), load_numpy_model("latin")])
>>> e.predict(np.zeros((2, 32, 32), np.float32)).shape
(2, 17)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ModelError

ARCHITECTURE = "ensemble"


class Ensemble:
    """Recognizers whose class probabilities are averaged (see the module's docstring)."""

    ARCHITECTURE = ARCHITECTURE

    def __init__(self, members: Sequence[Any]) -> None:
        members = list(members)
        if len(members) < 2:
            raise ModelError(f"an ensemble needs two or more recognizers, got {len(members)}")
        self.members = members
        self.alphabet = members[0].alphabet
        own = self.alphabet.string
        self._columns: list[np.ndarray] = []
        for i, m in enumerate(members):
            extra = [c for c in m.alphabet.string if c not in own]
            if extra:
                raise ModelError(f"ensemble member {i + 1}: classes {''.join(extra)!r} that the "
                                 f"first member's alphabet {own!r} lacks")
            self._columns.append(np.array([own.index(c) for c in m.alphabet.string], np.int64))
        counts = np.zeros(len(own), np.float64)
        for cols in self._columns:
            counts[cols] += 1
        if (counts == 0).any():  # pragma: no cover - the first member has every class
            raise ModelError("ensemble: a class no member scores")
        self._log_counts = np.log(counts)

    def __len__(self) -> int:
        return len(self.members)

    def mix(self, penalties: Sequence[np.ndarray]) -> np.ndarray:
        """The ensemble's penalties ``(..., C)`` from each member's ``(..., C_m)``, in
        member order."""
        if len(penalties) != len(self.members):
            raise ModelError(f"ensemble: {len(penalties)} penalty arrays for {len(self.members)} members")
        first = np.asarray(penalties[0])
        dtype = first.dtype if np.issubdtype(first.dtype, np.floating) else np.float32
        shape = first.shape[:-1] + (len(self.alphabet),)
        # the lowest penalty of each class over its members: exp(low - p) never overflows
        low = np.full(shape, np.inf)
        for p, cols in zip(penalties, self._columns):
            p = np.asarray(p, np.float64)
            low[..., cols] = np.minimum(low[..., cols], p)
        total = np.zeros(shape)
        for p, cols in zip(penalties, self._columns):
            total[..., cols] += np.exp(low[..., cols] - np.asarray(p, np.float64))
        return (low - np.log(total) + self._log_counts).astype(dtype, copy=False)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Penalties ``(N, C)`` of ``images`` ``(N, 32, 32)``."""
        return self.mix([np.asarray(m.predict(images)) for m in self.members])

    def predict_shifted(self, images: np.ndarray, dys: Any, fill: float) -> np.ndarray:
        """Penalties ``(len(dys), N, C)`` of ``images`` moved ``dy`` pixels down (up for
        negative ``dy``), the uncovered rows filled with ``fill``: each member's own
        ``predict_shifted`` where it has one, else its ``predict`` of the moved copies."""
        x = np.asarray(images, np.float32)
        dys = [int(d) for d in dys]
        pens = []
        for m in self.members:
            if hasattr(m, "predict_shifted"):
                pens.append(np.asarray(m.predict_shifted(x, dys, fill)))
            else:
                moved = np.concatenate([_moved(x, d, fill) for d in dys]) if len(x) else x[:0]
                p = np.asarray(m.predict(moved))
                pens.append(p.reshape(len(dys), len(x), -1))
        return self.mix(pens)


def _moved(images: np.ndarray, dy: int, fill: float) -> np.ndarray:
    """``images`` ``(N, H, W)`` moved ``dy`` rows down, the uncovered rows ``fill``."""
    if dy == 0:
        return images
    out = np.full_like(images, fill)
    if dy > 0:
        out[:, dy:] = images[:, :-dy]
    else:
        out[:, :dy] = images[:, -dy:]
    return out
