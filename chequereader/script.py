"""Script check: is a cleaned field written in digits the recognizer has classes for?

The recognizer knows Latin digits and a few amount symbols. A cheque written in another
script, Eastern Arabic (Arabic-Indic) digits ``٠١٢٣٤٥٦٧٨٩`` above all, still gets a
"reading" out of the decoder, in Latin digits, and that reading is nonsense. This stage
looks at the field's ink before the reading is trusted: each connected component of the
clean field that is about digit-sized is framed as an isolated character
(:func:`chequereader.framing.frame`, as MNIST digits are) and scored by a small convolutional
network with three outputs:

* ``latin``: Latin digits, amount symbols, Latin letters, crosses, hashes, strokes: anything
  the recognizer reads or the cleaner leaves;
* ``arabic-digit``: the Arabic-Indic digits that no Latin digit looks like
  (``٢ ٣ ٤ ٦ ٧ ٨``; ``١`` ``٩`` ``٥`` ``٠`` look like Latin ``1 9 o .`` and are not counted);
* ``arabic-text``: pieces of Arabic words (the printed ``ريال``, a located zone that caught
  the bank's Arabic printing).

The field is ``arabic-indic`` when at least :attr:`ScriptConfig.min_digits` components are
confidently Arabic-Indic digits, or when Arabic digits and Arabic word pieces together reach
:attr:`ScriptConfig.min_arabic` and outnumber the confident Latin components. The pipeline
then rejects the reading with ``reject_reason = "script:arabic-indic"``.

The network was trained on glyphs rendered from Debian's Arabic fonts (KACST, Arabeyes,
Amiri, Noto) with handwriting-like distortions against MNIST, USPS, Semeion, stroke-drawn
and font-rendered Latin characters (``python -m chequereader.train.script``, recipe in
``pipelines/RECIPES.md``). Inference is NumPy only; its weights are bundled
(``models/weights/script-arabic.npz``).

Example
-------
>>> import numpy as np
>>> from chequereader.clean import clean_field
>>> from chequereader.script import ScriptDetector
>>> img = np.full((40, 60), 230, np.uint8)
>>> img[8:32, 20:24] = 20                   # one vertical stroke
>>> ScriptDetector().detect(clean_field(img)).script
'latin'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ._validate import check_range
from .errors import ModelError
from .framing import BACKGROUND, SIZE, frame_tight
from .types import BBox, CleanField

__all__ = ["CLASSES", "ScriptConfig", "ScriptDetector", "ScriptResult", "field_components"]

Script = Literal["latin", "arabic-indic"]
#: The network's outputs, in order.
CLASSES = ("latin", "arabic-digit", "arabic-text")
#: The reject reason the pipeline gives a field found in Arabic-Indic digits.
REASON = "script:arabic-indic"
DEFAULT_WEIGHTS = "script-arabic.npz"
FORMAT = "chequereader-script-weights"


@dataclass(frozen=True)
class ScriptConfig:
    """Settings of the script check (``[script]`` in a pipeline TOML).

    Attributes
    ----------
    enabled : bool
        Run the check (False: every field is taken as Latin, nothing is rejected for it).
    min_height, max_height : float
        Components whose height is outside ``[min_height, max_height]`` times the field's
        body height are not looked at (dots, commas, specks; borders, whole-word scribbles).
    max_width : float
        Components wider than this many body heights are not looked at.
    min_pixels : int
        Components with fewer ink pixels are specks.
    confidence : float
        A component counts for a class when the network gives it at least this probability.
    min_digits : int
        This many confident Arabic-Indic digits make the field Arabic-Indic; one fewer
        does with a mid-height dot (an Arabic-Indic zero) beside them.
    min_text : int
        ... or this many confident Arabic word pieces, when they outnumber the confident
        Latin components (a zone that caught Arabic printing).
    max_components : int
        Only the largest components are scored (bounds the cost on a cluttered zone).
    weights : str or None
        A weight file (None: the bundled one).
    """

    enabled: bool = True
    min_height: float = 0.45
    max_height: float = 2.5
    max_width: float = 3.0
    min_pixels: int = 20
    confidence: float = 0.99
    min_digits: int = 2
    min_text: int = 4
    max_components: int = 40
    weights: str | None = None

    def __post_init__(self) -> None:
        check_range(self.min_height, "script.min_height", 0.0, 10.0)
        check_range(self.max_height, "script.max_height", self.min_height, 100.0)
        check_range(self.max_width, "script.max_width", 0.0, 100.0)
        check_range(self.confidence, "script.confidence", 0.0, 1.0)
        check_range(self.min_digits, "script.min_digits", 1, 1000)
        check_range(self.min_text, "script.min_text", 1, 1000)
        check_range(self.max_components, "script.max_components", 1, 10000)


@dataclass(frozen=True)
class ScriptResult:
    """What the script check found in one field.

    ``script``: ``"latin"`` or ``"arabic-indic"``. ``boxes``: the components scored (field
    coordinates); ``probabilities``: ``float32 (N, 3)``, one row per box, columns
    :data:`CLASSES`. ``counts``: the confident components of each class. ``dots``: the
    mid-height dots (Arabic-Indic zeros) between them.
    """

    script: Script
    boxes: tuple[BBox, ...] = ()
    probabilities: np.ndarray | None = None
    counts: tuple[int, int, int] = (0, 0, 0)
    dots: int = 0

    @property
    def reason(self) -> str | None:
        """The reject reason of a field in a script the recognizer cannot read, else None."""
        return REASON if self.script == "arabic-indic" else None


def field_components(cf: CleanField, config: ScriptConfig | None = None
                     ) -> tuple[np.ndarray, tuple[BBox, ...], int]:
    """The digit-sized connected components of a clean field, each framed alone, and the
    number of mid-height dots among them (the Arabic-Indic zero ``٠``).

    Returns ``(frames, boxes, dots)``: ``float32 (N, 32, 32)`` (as
    :func:`chequereader.framing.frame` frames an isolated digit: its own height is the body),
    their boxes in field coordinates, left to right, and the count of small solid marks
    standing in the middle third of those components' common height, within their span (a
    Latin ``.`` or ``,`` sits on the baseline). An empty field gives ``(0, 32, 32)``, ``()``
    and 0.
    """
    cfg = config or ScriptConfig()
    binary = np.ascontiguousarray(cf.binary, dtype=np.uint8)
    empty = np.zeros((0, SIZE, SIZE), np.float32)
    if binary.size == 0 or not binary.any():
        return empty, (), 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    body = max(float(cf.body_height), 1.0)
    x, y, w, h, area = (stats[1:, k] for k in range(5))
    keep = ((h >= cfg.min_height * body) & (h <= cfg.max_height * body)
            & (w <= cfg.max_width * body) & (area >= cfg.min_pixels))
    idx = np.flatnonzero(keep) + 1
    if idx.size > cfg.max_components:
        idx = idx[np.argsort(-stats[idx, 4], kind="stable")[: cfg.max_components]]
    idx = idx[np.argsort(stats[idx, 0], kind="stable")]
    dots = _mid_dots(stats, idx, body)
    frames = np.full((len(idx), SIZE, SIZE), BACKGROUND, np.float32)
    boxes = []
    for k, i in enumerate(idx.tolist()):
        bx, by, bw, bh = (int(v) for v in stats[i, :4])
        ink = labels[by: by + bh, bx: bx + bw] == i
        frame_tight(ink, float(bh), float(bh), out=frames[k])
        boxes.append(BBox(bx, by, bw, bh))
    return frames, tuple(boxes), dots


def _mid_dots(stats: np.ndarray, idx: np.ndarray, body: float) -> int:
    """Small solid marks in the middle third of the digit-sized components ``idx`` (rows of
    ``stats``), within their horizontal span."""
    if idx.size < 2:
        return 0
    top = float(np.median(stats[idx, 1]))
    bottom = float(np.median(stats[idx, 1] + stats[idx, 3]))
    left = int(stats[idx, 0].min())
    right = int((stats[idx, 0] + stats[idx, 2]).max())
    height = bottom - top
    if height <= 0:
        return 0
    x, y, w, h, area = (stats[1:, k].astype(np.float64) for k in range(5))
    cy = y + h / 2
    small = ((h <= 0.4 * height) & (w <= 0.4 * height) & (h >= 0.08 * height) & (area >= 4)
             & (w <= 2.5 * h) & (h <= 2.5 * w) & (area >= 0.45 * w * h))
    mid = (cy >= top + height / 3) & (cy <= bottom - height / 3)
    inside = (x >= left) & (x + w <= right)
    return int((small & mid & inside).sum())


def weights_path(name: str | None = None) -> Path:
    """The file of a weights argument: None = the bundled weights, else a path."""
    if name is None:
        return Path(str(resources.files("chequereader.models") / "weights" / DEFAULT_WEIGHTS))
    return Path(name)


def _conv_relu_pool(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x (N, H, W, C)`` -> valid 5x5 convolution with ``w (O, C, k, k)``, ReLU, 2x2 max pool."""
    k = w.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # N,H',W',C,k,k
    y = np.tensordot(win, w, axes=([3, 4, 5], [1, 2, 3])) + b            # N,H',W',O
    np.maximum(y, 0.0, out=y)
    n, hh, ww, o = y.shape
    return y[:, : hh // 2 * 2, : ww // 2 * 2].reshape(n, hh // 2, 2, ww // 2, 2, o).max(axis=(2, 4))


class ScriptDetector:
    """The script check of one field: components, the network, the field's decision.

    Holds the network's weights (NumPy arrays; no torch). ``detect`` is the stage function.
    """

    def __init__(self, config: ScriptConfig | None = None) -> None:
        self.config = config or ScriptConfig()
        path = weights_path(self.config.weights)
        try:
            with np.load(path, allow_pickle=False) as d:
                header = json.loads(bytes(d["__header__"]).decode())
                self.params = {k: np.asarray(d[k], np.float32) for k in d.files if k != "__header__"}
        except FileNotFoundError:
            raise ModelError(f"script weights {path}: not found") from None
        except (KeyError, ValueError, OSError) as exc:
            raise ModelError(f"script weights {path}: cannot be read ({exc})") from None
        if header.get("format") != FORMAT or tuple(header.get("classes", ())) != CLASSES:
            raise ModelError(f"script weights {path}: format {header.get('format')!r} with classes "
                             f"{header.get('classes')!r}, expected {FORMAT!r} with {list(CLASSES)}")
        missing = {"c1.weight", "c1.bias", "c2.weight", "c2.bias", "f1.weight", "f1.bias",
                   "f2.weight", "f2.bias"} - set(self.params)
        if missing:
            raise ModelError(f"script weights {path}: missing {sorted(missing)}")
        self.metadata = header

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities ``float32 (N, 3)`` (columns :data:`CLASSES`) of framed
        components ``float32 (N, 32, 32)``."""
        p = self.params
        if len(frames) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        x = np.asarray(frames, np.float32)[..., None]
        x = _conv_relu_pool(x, p["c1.weight"], p["c1.bias"])
        x = _conv_relu_pool(x, p["c2.weight"], p["c2.bias"])
        x = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # torch's flatten order (C, H, W)
        x = np.maximum(x @ p["f1.weight"].T + p["f1.bias"], 0.0)
        z = x @ p["f2.weight"].T + p["f2.bias"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def decide(self, probabilities: np.ndarray, dots: int = 0) -> tuple[Script, tuple[int, int, int]]:
        """The field's script from its components' probabilities and its mid-height dots,
        and the confident counts of each class."""
        cfg = self.config
        if len(probabilities) == 0:
            return "latin", (0, 0, 0)
        sure = probabilities >= cfg.confidence
        lat, dig, txt = (int(v) for v in sure.sum(axis=0))
        arabic = (dig >= cfg.min_digits or (dots > 0 and dig >= cfg.min_digits - 1 > 0)
                  or (txt >= cfg.min_text and txt > lat))
        return ("arabic-indic" if arabic else "latin"), (lat, dig, txt)

    def detect(self, cf: CleanField) -> ScriptResult:
        """Check one clean field (the stage function)."""
        if not self.config.enabled:
            return ScriptResult("latin")
        frames, boxes, dots = field_components(cf, self.config)
        prob = self.predict(frames)
        script, counts = self.decide(prob, dots)
        return ScriptResult(script, boxes, prob, counts, dots)
