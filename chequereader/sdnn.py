"""Second opinion: the space displacement network read over the whole field (paper section VII).

The segmentation graph reads a field through its cuts: where two digits touch or a chain of
zeros is written in one stroke, no cut frames them and the best path runs through mangled
pieces. The SDNN (:mod:`chequereader.models.sdnn`) reads the same clean field with no cuts at
all: a convolutional network replicated along the field gives, every few columns, a
distribution over the ten digits and "none". Its output is a graph of its own, and the
penalty of a given digit string is that graph's forward penalty constrained to the string
(:func:`text_penalty`).

The two readers fail on different fields. The reader combines them the way the paper
combines its graphs, by adding penalties: each amount the decoder weighs gets
``weight * text_penalty`` of its digits on top of its own (:func:`chequereader.decode.decode`,
``text_penalty``), so the amount both readers find likely wins, and an amount the SDNN finds
unlikely loses confidence. Separators, signs and endings (``.``, ``,``, ``/-``, ``$``) are
the segmentation graph's to read; the SDNN reads digits only and is trained to pass over
the rest.

Stage functions: :func:`strip` (a clean field -> the network's input), :meth:`FieldSDNN.read`
(-> an :class:`SDNNReading`), :func:`text_penalty`, :func:`best_text`. No torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ._validate import check_range
from .errors import ModelError
from .types import CleanField

__all__ = ["SDNNConfig", "SDNNReading", "FieldSDNN", "NumpySDNN", "strip", "text_penalty",
           "best_text", "digits_of", "default_weights_path"]

FORMAT = "chequereader-sdnn-1"
CLASSES = "0123456789"
BLANK = len(CLASSES)
HEIGHT = 32
STRIDE = 4
BODY = 20.0  # a digit body's height in the strip (MNIST digits' 20-pixel box)
MIDDLE = 16.0  # the strip row of the middle of the digit bodies
DEFAULT_WEIGHTS = "sdnn-default.npz"
# A string the network cannot spell (too long for the field, or no digit) gets this penalty:
# far below any reading's, but finite so that a sum of penalties stays comparable.
MAX_PENALTY = 60.0


@dataclass(frozen=True)
class SDNNConfig:
    """``weights``: ``"default"`` (the bundled network, trained on MNIST digits composed into
    amounts), a ``.npz`` path (``chequereader train sdnn``), or ``"off"``.
    ``weight``: how much the SDNN's penalty of an amount's digits counts beside the
    segmentation graph's (1: the two are multiplied as probabilities)."""

    weights: str = "default"
    weight: float = 1.0

    def __post_init__(self) -> None:
        check_range(self.weight, "sdnn.weight", 0.0, 100.0)

    @property
    def enabled(self) -> bool:
        return self.weights != "off" and self.weight > 0


@dataclass(frozen=True)
class SDNNReading:
    """The SDNN's output on one field: ``log_probs`` ``float32 (T, 11)`` (the blank last),
    its own best string ``best`` and that string's penalty ``best_penalty``."""

    log_probs: np.ndarray
    best: str
    best_penalty: float

    def penalty(self, text: str) -> float:
        """:func:`text_penalty` of ``text``'s digits."""
        return text_penalty(self.log_probs, digits_of(text))


def default_weights_path() -> Path:
    """The bundled SDNN weights."""
    return Path(str(resources.files("chequereader.models") / "weights" / DEFAULT_WEIGHTS))


def digits_of(text: str) -> str:
    """The digits of a text, in order (what the SDNN reads of it)."""
    return "".join(c for c in text if "0" <= c <= "9")


def strip(cf: CleanField) -> np.ndarray:
    """The network's input: ``uint8 (HEIGHT, W)`` (ink 255), the field scaled so that its body
    height is :data:`BODY` pixels with the middle of the body on row :data:`MIDDLE`, cropped
    to the columns that hold ink (two pixels of margin); ``W`` a multiple of :data:`STRIDE`."""
    b = np.asarray(cf.binary, bool)
    cols = np.flatnonzero(b.any(axis=0))
    if not len(cols):
        return np.zeros((HEIGHT, 2 * STRIDE), np.uint8)
    img = b[:, max(0, cols[0] - 2): cols[-1] + 3].astype(np.uint8) * 255
    body = max(float(cf.body_height), 4.0)
    s = BODY / body
    w = max(2 * STRIDE, int(math.ceil(img.shape[1] * s / STRIDE)) * STRIDE)
    m = np.array([[s, 0, 0], [0, s, MIDDLE - s * (float(cf.baseline) - body / 2)]], np.float32)
    out = cv2.warpAffine(img, m, (w, HEIGHT), flags=cv2.INTER_AREA, borderValue=0)
    return np.where(out > 90, 255, 0).astype(np.uint8)


def text_penalty(log_probs: np.ndarray, digits: str) -> float:
    """``-log P(digits)`` under the network's output graph: the forward (sum over every
    alignment) of the steps to the string, each digit a run of its class, blanks between
    and around them, a blank between two equal digits (the CTC forward). At most
    :data:`MAX_PENALTY`; an empty string or one longer than the steps allow gets it."""
    lp = np.asarray(log_probs, np.float64)
    t_steps = len(lp)
    if not digits or not digits.isdigit() or t_steps == 0:
        return MAX_PENALTY
    lab = [BLANK]
    for c in digits:
        lab += [int(c), BLANK]
    s_len = len(lab)
    lab_a = np.asarray(lab)
    # A state may skip the blank before it when it is a digit unlike the one two states back.
    skip = np.zeros(s_len, bool)
    skip[2:] = (lab_a[2:] != BLANK) & (lab_a[2:] != lab_a[:-2])
    neg = -np.inf
    alpha = np.full(s_len, neg)
    alpha[0] = lp[0, BLANK]
    alpha[1] = lp[0, lab[1]]
    emit = lp[:, lab_a]  # (T, S)
    for t in range(1, t_steps):
        prev1 = np.r_[neg, alpha[:-1]]
        prev2 = np.where(skip, np.r_[neg, neg, alpha[:-2]], neg)
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + emit[t]
    total = np.logaddexp(alpha[-1], alpha[-2])
    if not np.isfinite(total):
        return MAX_PENALTY
    return float(min(MAX_PENALTY, -total))


def best_text(log_probs: np.ndarray) -> str:
    """The string of the best step-by-step classes: runs collapsed, blanks dropped."""
    a = np.asarray(log_probs).argmax(axis=1)
    out = []
    prev = BLANK
    for c in a:
        if c != prev and c != BLANK:
            out.append(CLASSES[c])
        prev = c
    return "".join(out)


class NumpySDNN:
    """The SDNN's forward pass in NumPy from the ``.npz`` :func:`chequereader.models.sdnn.save_sdnn`
    writes (batch normalisation folded into the convolutions)."""

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as d:
                header = json.loads(bytes(d["__header__"]).decode())
                params = {k: np.asarray(d[k], np.float32) for k in d.files if k != "__header__"}
        except FileNotFoundError:
            raise ModelError(f"sdnn weights {p}: not found") from None
        except (KeyError, ValueError, OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"sdnn weights {p}: cannot be read ({exc})") from None
        if header.get("format") != FORMAT or header.get("classes") != CLASSES:
            raise ModelError(f"sdnn weights {p}: format {header.get('format')!r}, classes "
                             f"{header.get('classes')!r}; expected {FORMAT!r}, {CLASSES!r}")
        need = [f"conv{i}.{k}" for i in range(6) for k in ("weight", "bias")]
        need += [f"head{i}.{k}" for i in range(3) for k in ("weight", "bias")]
        missing = [k for k in need if k not in params]
        if missing:
            raise ModelError(f"sdnn weights {p}: missing {missing}")
        try:
            self._check(params)
        except (ValueError, IndexError) as exc:
            raise ModelError(f"sdnn weights {p}: {exc}") from None
        self.params = params
        self.metadata = header
        self.path = p

    @staticmethod
    def _check(p: dict[str, np.ndarray]) -> None:
        prev = 1
        for i in range(6):
            w = p[f"conv{i}.weight"]
            if w.ndim != 4 or w.shape[1] != prev or p[f"conv{i}.bias"].shape != (w.shape[0],):
                raise ValueError(f"conv{i} has shape {w.shape} after {prev} maps")
            prev = w.shape[0]
        for i in range(3):
            w = p[f"head{i}.weight"]
            if w.ndim != 3 or w.shape[1] != prev or p[f"head{i}.bias"].shape != (w.shape[0],):
                raise ValueError(f"head{i} has shape {w.shape} after {prev} maps")
            prev = w.shape[0]
        if prev != len(CLASSES) + 1:
            raise ValueError(f"{prev} outputs, expected {len(CLASSES) + 1}")

    @staticmethod
    def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
        c, h, wd = x.shape
        o, _, kh, kw = w.shape
        xp = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
        ho, wo = h + 2 * pad[0] - kh + 1, wd + 2 * pad[1] - kw + 1
        cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
        cols = cols.transpose(1, 2, 0, 3, 4).reshape(ho * wo, c * kh * kw)
        y = cols @ w.reshape(o, -1).T
        y += b
        return y.T.reshape(o, ho, wo)

    def log_probs(self, strip_img: np.ndarray) -> np.ndarray:
        """``float32 (W / STRIDE, 11)`` log probabilities of a strip (:func:`strip`)."""
        p = self.params
        x = (np.asarray(strip_img, np.float32) / 255.0)[None]
        if x.shape[1] != HEIGHT or x.shape[2] % STRIDE or x.shape[2] == 0:
            raise ValueError(f"strip of shape {strip_img.shape}: expected ({HEIGHT}, a multiple of {STRIDE})")
        plan = ((1, (2, 2)), (1, (2, 2)), (1, None), (1, (2, 1)), (1, (2, 1)), (0, None))
        for i, (pad, pool) in enumerate(plan):
            x = np.maximum(self._conv(x, p[f"conv{i}.weight"], p[f"conv{i}.bias"], (pad, 1)), 0.0)
            if pool is not None:
                c, h, w = x.shape
                ph, pw = pool
                x = x[:, : h // ph * ph, : w // pw * pw].reshape(c, h // ph, ph, w // pw, pw).max(axis=(2, 4))
        y = x[:, 0]  # (C, T)
        for i in range(3):
            w = p[f"head{i}.weight"]
            y = self._conv(y[:, None], w[:, :, None], p[f"head{i}.bias"], (0, w.shape[2] // 2))[:, 0]
            if i < 2:
                np.maximum(y, 0.0, out=y)
        y = y - y.max(axis=0)
        y = y - np.log(np.exp(y).sum(axis=0))
        return np.ascontiguousarray(y.T, np.float32)


class FieldSDNN:
    """Holds the network; :meth:`read` is the stage function."""

    def __init__(self, config: SDNNConfig | None = None) -> None:
        self.config = config or SDNNConfig()
        w = self.config.weights
        self.model = NumpySDNN(default_weights_path() if w == "default" else w)

    def read(self, cf: CleanField) -> SDNNReading:
        """The SDNN's reading of one clean field."""
        lp = self.model.log_probs(strip(cf))
        best = best_text(lp)
        return SDNNReading(lp, best, text_penalty(lp, best))
