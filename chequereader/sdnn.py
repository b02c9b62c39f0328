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
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ._validate import check_range
from .amounts import digits_of
from .errors import ModelError
from .types import CleanField

__all__ = ["SDNNConfig", "SDNNReading", "FieldSDNN", "NumpySDNN", "strip", "text_penalty", "text_penalties",
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
# (pad along height, pooling after the block) of the six 2-D blocks, shared by the torch
# network (chequereader.models.sdnn) and the NumPy one; the last block's kernel spans the two
# rows left, so its output is one row.
PLAN: tuple[tuple[int, tuple[int, int] | None], ...] = (
    (1, (2, 2)), (1, (2, 2)), (1, None), (1, (2, 1)), (1, (2, 1)), (0, None))


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
    return float(text_penalties(log_probs, [digits])[0])


def text_penalties(log_probs: np.ndarray, digit_strings: Sequence[str]) -> np.ndarray:
    """:func:`text_penalty` of many digit strings in one pass over the steps."""
    lp = np.asarray(log_probs, np.float64)
    t_steps = len(lp)
    out = np.full(len(digit_strings), MAX_PENALTY)
    todo = [i for i, d in enumerate(digit_strings)
            if d and d.isdigit() and len(d) <= t_steps]
    if not todo:
        return out
    s_max = 2 * max(len(digit_strings[i]) for i in todo) + 1
    lab = np.full((len(todo), s_max), BLANK)
    ends = np.zeros(len(todo), np.int64)
    for r, i in enumerate(todo):
        d = [int(c) for c in digit_strings[i]]
        lab[r, 1: 2 * len(d): 2] = d
        ends[r] = 2 * len(d)  # the last state (a blank)
    skip = np.zeros(lab.shape)
    skip[:, 2:] = (lab[:, 2:] != BLANK) & (lab[:, 2:] != lab[:, :-2])
    live = np.arange(s_max)[None, :] <= ends[:, None]  # states past a row's end stay empty
    emit = np.exp(lp[:, lab]) * live  # (T, N, S)
    alpha = np.zeros((len(todo), s_max + 2))
    alpha[:, 2] = emit[0, :, 0]
    alpha[:, 3] = emit[0, :, 1]
    log_scale = np.zeros(len(todo))
    dead = np.zeros(len(todo), bool)
    for t in range(1, t_steps):
        new = (alpha[:, 2:] + alpha[:, 1:-1] + skip * alpha[:, :-2]) * emit[t]
        c = new.sum(axis=1)
        dead |= ~(c > 0)
        c = np.where(c > 0, c, 1.0)
        alpha[:, 2:] = new / c[:, None]
        log_scale += np.log(c)
    rows = np.arange(len(todo))
    total = alpha[rows, ends + 2] + alpha[rows, ends + 1]
    ok = ~dead & (total > 0)
    pen = np.full(len(todo), MAX_PENALTY)
    pen[ok] = np.minimum(MAX_PENALTY, -(np.log(total[ok]) + log_scale[ok]))
    out[todo] = pen
    return out


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
        # the kernels as (kh, kw, C, O) matrices for channels-last products
        self._kernels = {f"conv{i}": (np.ascontiguousarray(params[f"conv{i}.weight"].transpose(2, 3, 1, 0)),
                                      params[f"conv{i}.bias"]) for i in range(6)}
        self._kernels.update({f"head{i}": (np.ascontiguousarray(params[f"head{i}.weight"][:, :, None].transpose(2, 3, 1, 0)),
                                           params[f"head{i}.bias"]) for i in range(3)})

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
        """``x (H, W, C)`` (channels last) convolved with ``w`` as a ``(kh, kw, C, O)`` matrix:
        the shifted copies side by side along the channels, one product."""
        h, wd, c = x.shape
        kh, kw, _, o = w.shape
        xp = np.pad(x, ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
        ho, wo = h + 2 * pad[0] - kh + 1, wd + 2 * pad[1] - kw + 1
        cols = np.concatenate([xp[dy: dy + ho, dx: dx + wo] for dy in range(kh) for dx in range(kw)],
                              axis=2)
        y = cols.reshape(ho * wo, kh * kw * c) @ w.reshape(kh * kw * c, o)
        y += b
        return y.reshape(ho, wo, o)

    def log_probs(self, strip_img: np.ndarray) -> np.ndarray:
        """``float32 (W / STRIDE, 11)`` log probabilities of a strip (:func:`strip`)."""
        p = self._kernels
        x = (np.asarray(strip_img, np.float32) / 255.0)[:, :, None]
        if x.shape[0] != HEIGHT or x.shape[1] % STRIDE or x.shape[1] == 0:
            raise ValueError(f"strip of shape {strip_img.shape}: expected ({HEIGHT}, a multiple of {STRIDE})")
        for i, (pad, pool) in enumerate(PLAN):
            w, b = p[f"conv{i}"]
            x = np.maximum(self._conv(x, w, b, (pad, 1)), 0.0)
            if pool is not None:
                h, wd, c = x.shape
                ph, pw = pool
                x = x[: h // ph * ph, : wd // pw * pw].reshape(h // ph, ph, wd // pw, pw, c).max(axis=(1, 3))
        y = x[0][None]  # (1, T, C)
        for i in range(3):
            w, b = p[f"head{i}"]
            y = self._conv(y, w, b, (0, w.shape[1] // 2))
            if i < 2:
                np.maximum(y, 0.0, out=y)
        z = y[0]  # (T, classes)
        z = z - z.max(axis=1, keepdims=True)
        z = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return np.ascontiguousarray(z, np.float32)


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
