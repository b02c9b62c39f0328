"""Synthetic courtesy-amount fields and whole cheques, with labels.

Three layers:

* glyph sources: :class:`NpzDigitPool` (handwritten digits from an ``.npz`` such as MNIST,
  one writer per amount when writer ids exist) and :class:`FontGlyphs` (Debian handwriting
  fonts plus procedural pen strokes; works with no font installed at all). Both give the
  amount symbols ``$ , . - / *`` and ``₹``; symbols have no MNIST data, so a pool borrows
  them from a :class:`FontGlyphs`.
* :func:`compose_field` writes one amount string as a handwritten field with per-character
  boxes (:class:`SynthField`); :func:`amount_text` draws realistic amounts per locale.
* :func:`make_cheque` draws a whole cheque (US personal, US business, Indian CTS-2010,
  Chilean) at 200 dpi around such a field, with scan effects; :func:`generate` writes a
  folder of images plus ``labels.csv``.

Everything is driven by a ``numpy.random.Generator``: the same seed gives the same pixels
(no clock, no global random state).

Text markup understood by :func:`compose_field`: a space is a wider gap (not drawn, not in
``chars``); ``^`` switches to small raised characters (superscript cents) until the next
space. ``^`` is never drawn and is removed from :attr:`SynthField.text`.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ._validate import check_in, check_range
from .errors import ConfigError, InvalidImageError
from .types import BBox

_log = logging.getLogger("chequereader")

__all__ = [
    "NpzDigitPool",
    "FontGlyphs",
    "FieldSynthConfig",
    "SynthField",
    "compose_field",
    "amount_text",
    "synth_strings",
    "ChequeSynthConfig",
    "SynthCheque",
    "LAYOUTS",
    "make_cheque",
    "scan_format",
    "SCAN_FORMATS",
    "generate",
]

SYMBOLS = "$,.-/*₹"
LOCALES = ("us", "in", "cl", "any")

# Glob patterns (run time, never at import) for the Debian handwriting fonts.
HANDWRITING_FONT_GLOBS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg*.ttf",
    "/usr/share/fonts/truetype/breip/*.ttf",
    "/usr/share/fonts/opentype/bwht/*.otf",
    # (femkeklaver left out: its digits are hollow outlines, which no pen writes)
    "/usr/share/fonts/truetype/humor-sans/*.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-*.otf",
    "/usr/share/fonts/truetype/kristi/*.ttf",
    "/usr/share/fonts/opentype/dancingscript/*.otf",
    "/usr/share/fonts/opentype/kaushanscript/*.otf",
)
DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
# Printed (machine) fonts for amounts printed by a cheque writer: DejaVu and Liberation, upright
# and italic. The whole-cheque generator prints business amounts in DejaVu Sans Bold
# (:func:`_printed_ink`); :func:`find_printed_fonts` leaves that font out by default so that
# training on printed amounts never sees the benchmark's font.
PRINTED_FONT_GLOBS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif*.ttf",
    "/usr/share/fonts/truetype/liberation/Liberation*.ttf",
    "/usr/share/fonts/truetype/liberation2/Liberation*.ttf",
)
PRINTED_HELD_OUT = ("DejaVuSans-Bold.ttf",)


# --------------------------------------------------------------------------------------------
# procedural strokes
# --------------------------------------------------------------------------------------------

def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 14):
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in t]


# Each glyph: (aspect w/h, list of polylines in a unit box, x right, y down). Rough pen paths.
_STROKES: dict[str, tuple[float, list[list[tuple[float, float]]]]] = {
    "0": (0.65, [_arc(0.5, 0.5, 0.45, 0.48, 90, 450, 24)]),
    "1": (0.35, [[(0.1, 0.25), (0.6, 0.0), (0.6, 1.0)]]),
    "2": (0.65, [_arc(0.5, 0.3, 0.42, 0.28, 160, -30, 12) + [(0.05, 1.0), (0.98, 0.98)]]),
    "3": (0.6, [_arc(0.45, 0.27, 0.42, 0.25, 150, -90, 12), _arc(0.45, 0.74, 0.5, 0.25, 90, -160, 12)]),
    "4": (0.65, [[(0.7, 1.0), (0.7, 0.0), (0.05, 0.68), (1.0, 0.68)]]),
    "5": (0.6, [[(0.9, 0.02), (0.15, 0.02), (0.1, 0.45)] + _arc(0.45, 0.7, 0.48, 0.29, 140, -160, 12)]),
    "6": (0.6, [[(0.8, 0.0)] + _arc(0.5, 0.7, 0.42, 0.3, 150, -210, 18)]),
    "7": (0.6, [[(0.02, 0.02), (0.98, 0.02), (0.35, 1.0)]]),
    "8": (0.6, [_arc(0.5, 0.26, 0.36, 0.25, 270, 630, 18), _arc(0.5, 0.74, 0.45, 0.26, 90, 450, 18)]),
    "9": (0.6, [_arc(0.5, 0.3, 0.42, 0.29, -10, 350, 16) + [(0.9, 0.3), (0.75, 1.0)]]),
    ".": (1.0, [[(0.45, 0.45), (0.55, 0.55), (0.5, 0.5)]]),
    ",": (0.5, [[(0.6, 0.0), (0.65, 0.35), (0.2, 1.0)]]),
    "-": (3.0, [[(0.0, 0.5), (1.0, 0.45)]]),
    "/": (0.55, [[(1.0, 0.0), (0.0, 1.0)]]),
    "*": (1.0, [[(0.5, 0.0), (0.5, 1.0)], [(0.07, 0.25), (0.93, 0.75)], [(0.07, 0.75), (0.93, 0.25)]]),
    "$": (0.6, [_arc(0.5, 0.33, 0.4, 0.18, 20, 270, 10) + _arc(0.5, 0.67, 0.4, 0.18, 90, -160, 10),
                [(0.5, 0.0), (0.5, 1.0)]]),
    "₹": (0.7, [[(0.05, 0.05), (0.95, 0.05)], [(0.05, 0.25), (0.95, 0.25)],
                [(0.15, 0.05)] + _arc(0.25, 0.28, 0.5, 0.22, 90, -90, 8) + [(0.1, 0.5), (0.75, 1.0)]]),
}


def draw_strokes(char: str, rng: np.random.Generator, height: int = 64) -> np.ndarray:
    """Draw ``char`` as perturbed pen strokes.

    Parameters
    ----------
    char : str
        One of the digits or ``$ , . - / * ₹``.
    rng : numpy.random.Generator
    height : int
        Height in pixels of the unit box.

    Returns
    -------
    ink : ndarray of float32, shape (h, w)
        Ink intensity in ``[0, 1]`` (1 = full ink), cropped to the ink.
    """
    if char not in _STROKES:
        raise ConfigError(f"char: no stroke model for {char!r}")
    aspect, lines = _STROKES[char]
    aspect *= float(rng.uniform(0.8, 1.2))
    w = max(4, int(round(height * aspect)))
    pad = height // 4 + 4
    canvas = np.zeros((height + 2 * pad, w + 2 * pad), np.uint8)
    base_t = max(1.0, height * float(rng.uniform(0.06, 0.13)))
    if char == ".":
        r = max(2, int(round(height * rng.uniform(0.12, 0.2))))
        cv2.ellipse(canvas, (pad + w // 2, pad + height // 2), (r, int(r * rng.uniform(0.7, 1.0))),
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    for line in lines:
        pts = np.asarray(line, np.float64) * [w, height]
        # Random-walk drift: a hand does not follow the ideal path, and errors accumulate.
        walk = np.cumsum(rng.normal(0, height * 0.012, size=pts.shape), axis=0)
        pts = pts + walk + rng.normal(0, height * 0.01, size=pts.shape) + pad
        thick = base_t * np.clip(1 + np.cumsum(rng.normal(0, 0.12, len(pts))), 0.5, 1.6)
        for k in range(len(pts) - 1):
            p0 = tuple(int(round(v)) for v in pts[k])
            p1 = tuple(int(round(v)) for v in pts[k + 1])
            cv2.line(canvas, p0, p1, 255, max(1, int(round(thick[k]))), cv2.LINE_AA)
    return _crop_ink(canvas.astype(np.float32) / 255.0)


def _crop_ink(ink: np.ndarray, thr: float = 0.08) -> np.ndarray:
    ys, xs = np.nonzero(ink > thr)
    if len(ys) == 0:
        return np.zeros((1, 1), np.float32)
    return np.ascontiguousarray(ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# glyph sources
# --------------------------------------------------------------------------------------------

def find_handwriting_fonts() -> list[str]:
    """Paths of the installed Debian handwriting fonts (sorted; empty when none)."""
    out: set[str] = set()
    for pat in HANDWRITING_FONT_GLOBS:
        out.update(glob.glob(pat))
    return sorted(out)


def find_printed_fonts(held_out: Sequence[str] = PRINTED_HELD_OUT) -> list[str]:
    """Paths of the installed printed fonts (sorted; empty when none), without the files
    named in ``held_out`` and without DejaVu's extra-light and maths faces."""
    out: set[str] = set()
    for pat in PRINTED_FONT_GLOBS:
        out.update(glob.glob(pat))
    skip = set(held_out)
    return sorted(p for p in out if Path(p).name not in skip
                  and "ExtraLight" not in p and "Math" not in p)


def _dejavu(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = Path(DEJAVU_DIR) / name
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        # A machine without DejaVu still draws the printed elements, in Pillow's own font.
        return ImageFont.load_default(size)


def _render_font_char(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    size = int(font.size)
    img = Image.new("L", (size * 3, size * 3), 0)
    ImageDraw.Draw(img).text((size // 2, size // 2), char, fill=255, font=font)
    return np.asarray(img, np.float32) / 255.0


class FontGlyphs:
    """Digits and amount symbols from handwriting fonts, plus procedural strokes.

    Parameters
    ----------
    fonts : sequence of str, optional
        Font files; default :func:`find_handwriting_fonts` (globbed at run time).
    procedural : float
        Probability of drawing a glyph as procedural strokes rather than from a font
        (always 1 for a character no font has, or when no font is found).
    size : int
        Rendering size in pixels of the font glyphs.

    A *writer* is a font index; writer ``-1`` is the procedural hand.
    """

    def __init__(self, fonts: Sequence[str] | None = None, procedural: float = 0.25, size: int = 64):
        self.procedural = float(check_range(procedural, "procedural", 0.0, 1.0))
        self.size = int(size)
        paths = list(find_handwriting_fonts() if fonts is None else fonts)
        self.fonts: list[ImageFont.FreeTypeFont] = []
        self.font_paths: list[str] = []
        for p in paths:
            try:
                self.fonts.append(ImageFont.truetype(p, self.size))
                self.font_paths.append(p)
            except OSError:
                continue
        self._cache: dict[tuple[int, str], np.ndarray | None] = {}

    def writers(self) -> list[int]:
        """Writer ids: font indices, and ``-1`` for the procedural hand (left out when
        ``procedural`` is 0 and there are fonts)."""
        own = list(range(len(self.fonts)))
        return own if own and self.procedural == 0 else own + [-1]

    def pick_writer(self, rng: np.random.Generator) -> int:
        w = self.writers()
        return int(w[int(rng.integers(len(w)))])

    def _font_glyph(self, k: int, char: str) -> np.ndarray | None:
        key = (k, char)
        if key not in self._cache:
            font = self.fonts[k]
            g = _render_font_char(font, char)
            # A missing glyph renders as the font's .notdef (a box) or nothing.
            missing = _render_font_char(font, "\U0010fffd")
            ok = g.max() > 0.3 and not np.array_equal(g, missing)
            self._cache[key] = _crop_ink(g) if ok else None
        return self._cache[key]

    def glyph(self, char: str, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        """Ink image of ``char``: ``float32 (h, w)`` in ``[0, 1]``, cropped to the ink.

        ``writer`` (a font index, ``-1`` = procedural) is honoured when that font has the
        character; otherwise another font, then strokes, is used.
        """
        if writer is None:
            writer = self.pick_writer(rng) if self.fonts else -1
        use_proc = writer == -1 or not self.fonts or rng.random() < self.procedural * 0.3
        if not use_proc:
            order = [int(writer)] + [int(i) for i in rng.permutation(len(self.fonts)) if i != writer]
            for k in order[:4]:
                g = self._font_glyph(k, char)
                if g is not None and g.shape[0] > 1:
                    return g
        return draw_strokes(char, rng, height=self.size)

    # Digit interface shared with NpzDigitPool.
    def sample(self, digit: int, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        return self.glyph(str(int(digit)), rng, writer)


class NpzDigitPool:
    """Handwritten digit images from an ``.npz`` (MNIST / QMNIST / USPS / Semeion format).

    Images are ink-bright ``uint8 (N, h, w)``; ``writers`` (optional) are writer ids, so that
    all digits of one amount can come from one writer. Symbols come from ``symbols``
    (a :class:`FontGlyphs`, procedural strokes by default when no font is installed).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, writers: np.ndarray | None = None,
                 symbols: FontGlyphs | None = None):
        images = np.asarray(images)
        labels = np.asarray(labels).astype(np.int64).ravel()
        if images.ndim != 3 or len(images) != len(labels) or len(images) == 0:
            raise InvalidImageError(f"images: expected (N, h, w) with N = len(labels) > 0, got "
                                    f"{images.shape} and {labels.shape}")
        self.images = images.astype(np.uint8, copy=False)
        self.labels = labels
        self.writer_ids = None if writers is None else np.asarray(writers).astype(np.int64).ravel()
        self.symbols = symbols if symbols is not None else FontGlyphs()
        self._by_digit = {d: np.flatnonzero(labels == d) for d in range(10)}
        self._by_writer: dict[tuple[int, int], np.ndarray] = {}
        if self.writer_ids is not None:
            order = np.lexsort((labels, self.writer_ids))
            keys = self.writer_ids[order] * 16 + labels[order]
            bounds = np.flatnonzero(np.diff(keys)) + 1
            for chunk in np.split(order, bounds):
                self._by_writer[(int(self.writer_ids[chunk[0]]), int(labels[chunk[0]]))] = chunk
            self._writers = np.unique(self.writer_ids)

    @classmethod
    def from_npz(cls, path: str | Path, split: str | None = None,
                 symbols: FontGlyphs | None = None) -> NpzDigitPool:
        """Load ``images``/``labels``/``writers`` (or ``{split}_images``/``{split}_labels``).

        ``split=None`` reads ``images`` when present, else the ``test_`` arrays (USPS).
        """
        p = Path(path)
        if not p.is_file():
            raise InvalidImageError(f"path: no such file {p}")
        with np.load(p) as d:
            if split is None:
                prefix = "" if "images" in d.files else "test_"
            else:
                prefix = f"{split}_"
            if f"{prefix}images" not in d.files or f"{prefix}labels" not in d.files:
                raise InvalidImageError(f"{p}: no arrays {prefix}images/{prefix}labels (has {d.files})")
            wk = f"{prefix}writers"
            return cls(d[f"{prefix}images"], d[f"{prefix}labels"],
                       d[wk] if wk in d.files else None, symbols=symbols)

    def writers(self) -> list[int]:
        """Writer ids in the file (empty when it has none)."""
        return [] if self.writer_ids is None else [int(w) for w in self._writers]

    def pick_writer(self, rng: np.random.Generator) -> int | None:
        if self.writer_ids is None:
            return None
        return int(self._writers[int(rng.integers(len(self._writers)))])

    def sample(self, digit: int, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        """Ink image of one ``digit``: ``float32 (h, w)`` in ``[0, 1]``, cropped to the ink.

        With ``writer``, a sample of that writer when they wrote that digit, else any.
        """
        d = int(digit)
        idx = None
        if writer is not None and self.writer_ids is not None:
            idx = self._by_writer.get((int(writer), d))
        if idx is None or len(idx) == 0:
            idx = self._by_digit.get(d)
        if idx is None or len(idx) == 0:
            return self.symbols.glyph(str(d), rng)
        img = self.images[int(idx[int(rng.integers(len(idx)))])]
        return _crop_ink(img.astype(np.float32) / 255.0, thr=0.12)

    def glyph(self, char: str, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        if char.isdigit():
            return self.sample(int(char), rng, writer)
        # Symbols: mostly strokes, they read closer to a pen than to a font next to NIST digits.
        return self.symbols.glyph(char, rng, -1 if rng.random() < 0.5 else None)


class MixedPool:
    """Several digit sources, one drawn per amount with the given weights (one writer per
    amount, as before: the writer id names the source and its writer)."""

    _SPAN = 1_000_000  # writer ids of one source stay below this

    def __init__(self, sources: Sequence[tuple[NpzDigitPool, float]]):
        if not sources or any(w < 0 for _, w in sources) or sum(w for _, w in sources) <= 0:
            raise InvalidImageError("sources: need at least one source and weights >= 0 summing > 0")
        self.sources = [p for p, _ in sources]
        w = np.asarray([w for _, w in sources], np.float64)
        self.weights = w / w.sum()

    def _split(self, writer: int | None) -> tuple[NpzDigitPool, int | None]:
        if writer is None:
            return self.sources[0], None
        k, w = divmod(int(writer), self._SPAN)
        return self.sources[k], None if w == self._SPAN - 1 else w

    def writers(self) -> list[int]:
        return [k * self._SPAN + w for k, p in enumerate(self.sources) for w in p.writers()]

    def pick_writer(self, rng: np.random.Generator) -> int:
        k = int(rng.choice(len(self.sources), p=self.weights))
        w = self.sources[k].pick_writer(rng)
        return k * self._SPAN + (self._SPAN - 1 if w is None else int(w) % (self._SPAN - 1))

    def sample(self, digit: int, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        pool, w = self._split(writer)
        return pool.sample(digit, rng, w)

    def glyph(self, char: str, rng: np.random.Generator, writer: int | None = None) -> np.ndarray:
        pool, w = self._split(writer)
        return pool.glyph(char, rng, w)

    @property
    def symbols(self) -> FontGlyphs:
        """The first source's symbol glyphs (its handwriting fonts write a cheque's printed
        hand: payee, legal amount)."""
        return self.sources[0].symbols


GlyphSource = NpzDigitPool | FontGlyphs | MixedPool


# --------------------------------------------------------------------------------------------
# one field
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSynthConfig:
    """How :func:`compose_field` writes an amount. Ranges are ``(low, high)``, drawn uniformly.

    Sizes are in pixels for ``body_height`` and in body heights for everything else.
    """

    body_height: tuple[float, float] = (26.0, 46.0)
    gap: tuple[float, float] = (-0.05, 0.30)
    p_touch: float = 0.2          # chance a digit touches / overlaps its left neighbour
    overlap: tuple[float, float] = (-0.18, -0.02)
    space_gap: tuple[float, float] = (0.4, 0.9)
    slant_deg: tuple[float, float] = (-12.0, 28.0)   # per amount; positive leans right
    slant_jitter_deg: float = 5.0
    size_jitter: float = 0.10
    baseline_jitter: float = 0.06
    baseline_drift: float = 0.08   # whole-amount baseline tilt over its length
    p_thicken: float = 0.25
    p_thin: float = 0.15
    pen_width: tuple[float, float] = (0.07, 0.12)  # symbols' stroke width, in body heights
    margin: tuple[float, float] = (0.15, 0.6)
    paper: tuple[int, int] = (205, 252)
    ink: tuple[int, int] = (5, 90)
    p_guide_line: float = 0.3
    p_background: float = 0.35
    p_blur: float = 0.3
    p_jpeg: float = 0.3
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    # chance an amount writes its trailing zeros small ("150.000" with the thousands' zeros
    # at half to three quarters of the body, on or a little above the baseline), as
    # Uruguayan (ORAND) writers often do; 0 keeps the random stream of earlier versions
    p_small_zeros: float = 0.0
    small_zeros: tuple[float, float] = (0.5, 0.75)
    # chance an amount is written joined up: each pair of neighbouring digits then gets a
    # connecting pen stroke with chance ``ligature`` (cursive "000"); 0 = as before
    p_joined: float = 0.0
    ligature: float = 0.6


# How a cheque writer prints an amount: one upright font, even size and spacing, no touching
# digits, no pen changes (the handwriting ranges above otherwise).
PRINTED_FIELD = FieldSynthConfig(
    body_height=(22.0, 44.0), gap=(0.04, 0.16), p_touch=0.0, space_gap=(0.3, 0.6),
    slant_deg=(0.0, 0.0), slant_jitter_deg=0.0, size_jitter=0.02, baseline_jitter=0.01,
    baseline_drift=0.02, p_thicken=0.0, p_thin=0.0, pen_width=(0.1, 0.16),
)


@dataclass(frozen=True)
class SynthField:
    """A synthetic courtesy-amount field.

    ``image`` is grey ``uint8 (H, W)``, dark ink on light paper. ``chars`` lists every drawn
    character (separators included, spaces and markup not) with its ink box, left to right.
    ``body_height`` is the height of a full-size digit, ``baseline`` the y digits stand on.
    """

    image: np.ndarray
    chars: tuple[tuple[str, BBox], ...]
    body_height: float
    baseline: float
    text: str


def _resize(ink: np.ndarray, h: float, w: float) -> np.ndarray:
    h_i, w_i = max(1, int(round(h))), max(1, int(round(w)))
    interp = cv2.INTER_AREA if h_i < ink.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(ink, (w_i, h_i), interpolation=interp)


def _shear(ink: np.ndarray, deg: float) -> np.ndarray:
    """Slant about the glyph's bottom row (the baseline stays put)."""
    k = math.tan(math.radians(deg))
    h, w = ink.shape
    extra = int(math.ceil(abs(k) * h))
    if extra == 0:
        return ink
    # x' = x + k (h - 1 - y) (+ extra when k < 0 so everything stays in frame)
    off = extra if k < 0 else 0
    m = np.array([[1, -k, k * (h - 1) + off], [0, 1, 0]], np.float32)
    return cv2.warpAffine(ink, m, (w + extra, h), flags=cv2.INTER_LINEAR, borderValue=0)


def _char_geometry(ch: str, small: bool, body: float, rng: np.random.Generator,
                   glyph_shape: tuple[int, int], cfg: FieldSynthConfig) -> tuple[float, float, float]:
    """Target (height, width, bottom offset below the baseline; negative = above)."""
    gh, gw = glyph_shape
    aspect = gw / max(gh, 1)
    j = 1 + float(rng.uniform(-cfg.size_jitter, cfg.size_jitter))
    u = rng.uniform
    if ch == ".":
        s = body * float(u(0.09, 0.18))
        return s * float(u(0.8, 1.2)), s, body * float(u(-0.03, 0.04))
    if ch == ",":
        h = body * float(u(0.22, 0.38))
        return h, max(2.0, h * min(aspect, 0.7)), h * float(u(0.45, 0.7))
    if ch == "-":
        w = body * float(u(0.3, 0.6)) * (0.6 if small else 1.0)
        h = max(2.0, body * float(u(0.05, 0.11)))
        return h, w, -body * float(u(0.38, 0.58)) + h / 2
    if ch == "*":
        h = body * float(u(0.3, 0.48))
        return h, h * float(u(0.8, 1.1)), -body * float(u(0.95, 1.05)) + h
    if ch == "/":
        h = body * (float(u(0.5, 0.65)) if small else float(u(1.0, 1.3)))
        top = -body * float(u(0.95, 1.1)) if small else 0.0
        return h, h * min(max(aspect, 0.3), 0.7), (top + h) if small else body * float(u(0.0, 0.2))
    if ch == "$":
        h = body * float(u(1.12, 1.4))
        return h, h * min(max(aspect, 0.45), 0.75), (h - body) / 2 * float(u(0.6, 1.2))
    if small:
        h = body * float(u(0.42, 0.6)) * j
        return h, h * aspect, -body * float(u(0.92, 1.08)) + h
    h = body * j * (1.05 if ch == "₹" else 1.0)
    # MNIST "1" crops are a thin bar; other digits keep their own aspect, a little squeezed.
    return h, max(2.0, h * aspect * float(u(0.85, 1.25))), body * float(u(-cfg.baseline_jitter, cfg.baseline_jitter))


def _thickness(ink: np.ndarray, rng: np.random.Generator, cfg: FieldSynthConfig, body: float,
               r: float | None = None) -> np.ndarray:
    """Thicken or thin a digit's strokes; ``r`` (drawn once per amount: one pen writes the
    whole amount) picks which, else it is drawn here."""
    r = rng.random() if r is None else r
    k = 3 if body < 40 else 5
    kernel = np.ones((k, k), np.uint8) if k == 3 else cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4, 4))
    if r < cfg.p_thicken:
        return cv2.dilate(ink, kernel)
    if r < cfg.p_thicken + cfg.p_thin and min(ink.shape) > 8:
        thin = cv2.erode(ink, np.ones((2, 2), np.uint8))
        return thin if thin.max() > 0.3 else ink
    return ink


def _pen_width(g: np.ndarray, pen: float) -> np.ndarray:
    """Widen a scaled-down symbol's strokes to the writer's pen width (in pixels).

    A symbol glyph drawn at 64 px and shrunk to a 6-px comma keeps a sub-pixel, faint stroke
    that no pen makes; the digits beside it (MNIST) keep their real pen width. Real writers
    make ``,`` ``.`` ``/`` ``-`` with the same pen as the digits.
    """
    if g.size == 0 or g.max() <= 0:
        return g
    g = np.clip(g / g.max(), 0.0, 1.0).astype(np.float32)
    m = (g > 0.2).astype(np.uint8)
    if not m.any():
        m = (g >= 0.5 * g.max()).astype(np.uint8)
    dt = cv2.distanceTransform(cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                               cv2.DIST_L2, 3)
    need = int(round(pen - 2.0 * float(dt.max())))
    if need < 1:
        return g
    r = (need + 1) // 2
    padded = cv2.copyMakeBorder(g, r, r, r, r, cv2.BORDER_CONSTANT, value=0)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = cv2.dilate(padded, k)
    return np.asarray(cv2.GaussianBlur(out, (0, 0), 0.5), np.float32)


def _compose_ink(text: str, source: GlyphSource, rng: np.random.Generator, cfg: FieldSynthConfig,
                 body: float | None = None) -> tuple[np.ndarray, list[tuple[str, BBox]], float, float, str]:
    """Write ``text`` as an ink layer ``float32 (H, W)`` in [0, 1] (1 = ink), tightly framed
    with a margin. Returns (ink, chars, body, baseline, clean text)."""
    if body is None:
        body = float(rng.uniform(*cfg.body_height))
    writer = source.pick_writer(rng)
    pen = max(2.0, body * float(rng.uniform(*cfg.pen_width)))
    pen_mode = float(rng.random())  # thicker / thinner / as written: one pen per amount
    slant = float(rng.uniform(*cfg.slant_deg))
    drift = float(rng.uniform(-cfg.baseline_drift, cfg.baseline_drift))
    placed: list[tuple[str, np.ndarray, float, float]] = []  # char, ink, x, bottom-y (rel. baseline)
    x = 0.0
    small = False
    prev: str | None = None
    n_vis = max(1, len([c for c in text if c not in " ^"]))
    k_vis = 0
    shrink: dict[int, tuple[float, float]] = {}  # text index -> (size factor, lift in bodies)
    if cfg.p_small_zeros > 0 and rng.random() < cfg.p_small_zeros:
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        groups: list[list[int]] = []  # runs of digits between separators
        for i in digits:
            if groups and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        tail: list[int] = []  # the trailing all-zero groups ("1.000.000"), else up to three zeros
        if len(groups) > 1:
            while groups and all(text[i] == "0" for i in groups[-1]):
                tail = groups.pop() + tail
        elif groups:
            while groups[0] and text[groups[0][-1]] == "0" and len(tail) < 3:
                tail.insert(0, groups[0].pop())
        if tail and len(tail) < len(digits):
            f = float(rng.uniform(*cfg.small_zeros))
            for i in tail:
                shrink[i] = (f * float(rng.uniform(0.93, 1.07)), float(rng.uniform(-0.02, 0.15)))
    for ti, ch in enumerate(text):
        if ch == " ":
            x += body * float(rng.uniform(*cfg.space_gap))
            small = False
            prev = " "
            continue
        if ch == "^":
            small = True
            continue
        g = source.glyph(ch, rng, writer)
        h, w, bottom = _char_geometry(ch, small, body, rng, g.shape, cfg)
        if ti in shrink:
            f, lift = shrink[ti]
            h, w, bottom = h * f, w * f, -lift * body
        g = _resize(g, h, w)
        if ch in "0123456789$₹":
            g = _thickness(g, rng, cfg, body, pen_mode)
        if not ch.isdigit():
            g = _pen_width(g, pen * (0.8 if small else 1.0))
        if ch not in ".-":
            g = _shear(g, slant + float(rng.normal(0, cfg.slant_jitter_deg)))
        # Gap to the previous character: dots and commas sit close, digits may touch.
        if prev is None or prev == " ":
            gap = 0.0
        elif ch in ".," or prev in ".,":
            gap = body * float(rng.uniform(0.02, 0.2))
        elif rng.random() < cfg.p_touch and ch.isdigit() and prev.isdigit():
            gap = body * float(rng.uniform(*cfg.overlap))
        else:
            gap = body * float(rng.uniform(*cfg.gap))
        x += gap
        bottom += drift * body * (k_vis / n_vis)
        placed.append((ch, g, x, bottom))
        x += g.shape[1]
        prev = ch
        k_vis += 1
    if not placed:
        m = int(body)
        return np.zeros((2 * m, 2 * m), np.float32), [], body, float(1.5 * m), text.replace("^", "")
    top = min(b - g.shape[0] for _, g, _, b in placed)
    bot = max(b for _, g, _, b in placed)
    mx = int(round(body * float(rng.uniform(*cfg.margin)))) + 2
    my = int(round(body * float(rng.uniform(*cfg.margin)))) + 2
    width = int(math.ceil(x)) + 2 * mx + 2
    height = int(math.ceil(bot - top)) + 2 * my + 2
    base_y = my - top  # baseline row in the canvas
    canvas = np.zeros((height, width), np.float32)
    chars: list[tuple[str, BBox]] = []
    placed_at: list[tuple[str, int, int, np.ndarray]] = []
    for ch, g, gx, b in placed:
        x0 = int(round(gx)) + mx
        y0 = int(round(base_y + b - g.shape[0]))
        x0 = min(max(x0, 0), width - g.shape[1])
        y0 = min(max(y0, 0), height - g.shape[0])
        sub = canvas[y0: y0 + g.shape[0], x0: x0 + g.shape[1]]
        np.maximum(sub, g, out=sub)
        placed_at.append((ch, x0, y0, g))
        ys, xs = np.nonzero(g > 0.25)
        if len(ys) == 0:
            ys, xs = np.nonzero(g >= g.max())
        chars.append((ch, BBox(int(x0 + xs.min()), int(y0 + ys.min()),
                               int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))))
    if cfg.p_joined > 0 and rng.random() < cfg.p_joined:
        _ligatures(canvas, placed_at, body, pen, cfg.ligature, rng)
    return canvas, chars, body, float(base_y), text.replace("^", "")


def _ligatures(canvas: np.ndarray, placed: list[tuple[str, int, int, np.ndarray]], body: float,
               pen: float, share: float, rng: np.random.Generator) -> None:
    """Join neighbouring digits with a pen stroke from the left one's lower right ink to the
    right one's left ink at mid height, as cursive writers join their zeros."""
    for (c0, x0, y0, g0), (c1, x1, y1, g1) in zip(placed, placed[1:]):
        if not (c0.isdigit() and c1.isdigit()) or rng.random() >= share:
            continue
        ys0, xs0 = np.nonzero(g0 > 0.5)
        ys1, xs1 = np.nonzero(g1 > 0.5)
        if len(ys0) == 0 or len(ys1) == 0:
            continue
        low = ys0 >= np.percentile(ys0, float(rng.uniform(45, 75)))
        k = np.argmax(xs0 + 1000 * low)  # rightmost ink of the lower part
        a = (x0 + xs0[k], y0 + ys0[k])
        mid = np.abs(ys1 - np.percentile(ys1, float(rng.uniform(25, 60)))) <= max(1, g1.shape[0] * 0.08)
        if not mid.any():
            continue
        j = np.flatnonzero(mid)[np.argmin(xs1[mid])]  # leftmost ink at about mid height
        b = (x1 + xs1[j], y1 + ys1[j])
        if b[0] - a[0] > body * 0.9:
            continue
        c = ((a[0] + b[0]) / 2, max(a[1], b[1]) + body * float(rng.uniform(0.0, 0.15)))
        t = np.linspace(0, 1, 12)[:, None]
        pts = (1 - t) ** 2 * np.array(a) + 2 * (1 - t) * t * np.array(c) + t**2 * np.array(b)
        layer = np.zeros(canvas.shape, np.uint8)
        cv2.polylines(layer, [np.round(pts * 8).astype(np.int32).reshape(-1, 1, 2)], False, 255,
                      max(1, int(round(pen * float(rng.uniform(0.6, 1.0))))), cv2.LINE_AA, shift=3)
        np.maximum(canvas, layer.astype(np.float32) / 255.0, out=canvas)


def _background(shape: tuple[int, int], rng: np.random.Generator, paper: float, strength: float) -> np.ndarray:
    """Light security-style background: paper level minus wave / guilloche line patterns."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.full((h, w), paper, np.float32)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(3))
        f = float(rng.uniform(0.02, 0.12))
        ph = float(rng.uniform(0, 2 * np.pi))
        if kind == 0:  # parallel waves
            amp = float(rng.uniform(2, 12))
            v = np.sin(f * (yy + amp * np.sin(xx * float(rng.uniform(0.01, 0.05)) + ph)))
        elif kind == 1:  # guilloche rosette-like rings
            cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            r = np.hypot(xx - cx, yy - cy)
            th = np.arctan2(yy - cy, xx - cx)
            v = np.sin(f * r + float(rng.uniform(2, 6)) * np.sin(int(rng.integers(3, 12)) * th + ph))
        else:  # diagonal hatching / noise texture
            a = float(rng.uniform(0, np.pi))
            v = np.sin(f * (xx * math.cos(a) + yy * math.sin(a)) + ph)
        line = np.clip((v - 0.7) / 0.3, 0, 1)  # thin bright crests become printed lines
        bg -= line * strength * float(rng.uniform(0.4, 1.0))
    return bg


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
    return img if out is None else out


def compose_field(text: str, digits: GlyphSource, rng: np.random.Generator,
                  config: FieldSynthConfig = FieldSynthConfig()) -> SynthField:
    """Write an amount string as a handwritten courtesy-amount field.

    Parameters
    ----------
    text : str
        What to write, e.g. ``"$1,234.56"``, ``"12 ^00/100"`` (small raised cents after a
        space), ``"$12.^56"``. Digits and ``$ , . - / * ₹``; see the module docstring.
    digits : NpzDigitPool or FontGlyphs
        Where digits come from (symbols come from fonts/strokes in both cases).
    rng : numpy.random.Generator
    config : FieldSynthConfig

    Returns
    -------
    SynthField
        ``image`` ``uint8 (H, W)``, ``chars`` with boxes in image coordinates.

    Examples
    --------
    >>> f = compose_field("$12.50", FontGlyphs(fonts=[]), np.random.default_rng(0))
    >>> [c for c, _ in f.chars]
    ['$', '1', '2', '.', '5', '0']
    """
    bad = [c for c in text if not (c.isdigit() or c in SYMBOLS or c in " ^")]
    if bad:
        raise ConfigError(f"text: cannot write {''.join(bad)!r} in {text!r}")
    ink, chars, body, baseline, clean = _compose_ink(text, digits, rng, config)
    h, w = ink.shape
    paper = float(rng.uniform(*config.paper))
    inkc = float(rng.uniform(*config.ink))
    if rng.random() < config.p_background:
        bg = _background((h, w), rng, paper, float(rng.uniform(15, 60)))
    else:
        bg = np.full((h, w), paper, np.float32)
    if rng.random() < config.p_guide_line:
        y = int(round(baseline + body * float(rng.uniform(0.05, 0.3))))
        y = min(max(y, 0), h - 1)
        t = int(rng.integers(1, 3))
        dotted = rng.random() < 0.3
        level = float(rng.uniform(60, 170))
        row = np.full(w, level, np.float32)
        if dotted:
            row[(np.arange(w) // 3) % 2 == 1] = paper
        bg[y: y + t] = np.minimum(bg[y: y + t], row)
    img: np.ndarray = bg - ink * (bg - inkc)
    sigma = float(rng.uniform(*config.noise_sigma))
    if sigma > 0:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    if rng.random() < config.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.0)))
    img8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if rng.random() < config.p_jpeg:
        img8 = _jpeg(img8, int(rng.integers(40, 92)))
    return SynthField(image=img8, chars=tuple(chars), body_height=body, baseline=baseline, text=clean)


# --------------------------------------------------------------------------------------------
# amounts per locale
# --------------------------------------------------------------------------------------------

def group_digits(n: int, sep: str, indian: bool = False) -> str:
    """``n`` written with ``sep`` between groups of three digits (``indian``: the last three,
    then twos: 5,10,00,000); ``sep`` empty: the digits alone."""
    s = str(n)
    if not sep:
        return s
    if indian and len(s) > 3:
        head, tail = s[:-3], s[-3:]
        parts: list[str] = []
        while len(head) > 2:
            parts.insert(0, head[-2:])
            head = head[:-2]
        if head:
            parts.insert(0, head)
        return sep.join(parts + [tail])
    out: list[str] = []
    while len(s) > 3:
        out.insert(0, s[-3:])
        s = s[:-3]
    out.insert(0, s)
    return sep.join(out)


def _magnitude(rng: np.random.Generator, lo: float, hi: float) -> int:
    # Log-uniform: cheques carry small and large amounts; round numbers are common.
    v = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if rng.random() < 0.3:
        mag = 10 ** max(0, len(str(v)) - int(rng.integers(1, 3)))
        v = max(mag, v // mag * mag)
    return max(1, v)


def amount_text(rng: np.random.Generator, locale: str = "us") -> tuple[str, str]:
    """Draw a realistic written amount and its canonical form.

    Parameters
    ----------
    rng : numpy.random.Generator
    locale : {"us", "in", "cl", "any"}

    Returns
    -------
    written : str
        With :func:`compose_field` markup (``^`` = small raised cents), e.g. ``"$1,234.56"``,
        ``"12 ^00/100"``, ``"₹5,10,00,000/-"``, ``"$52.931"``.
    canonical : str
        Digits with optional ``.`` and two decimals: ``"1234.56"``, ``"52931"``.
    """
    check_in(locale, LOCALES, "locale")
    if locale == "any":
        locale = ("us", "in", "cl")[int(rng.integers(3))]
    u = rng.random
    if locale == "cl":
        n = _magnitude(rng, 100, 5_000_000)
        body = group_digits(n, "." if u() < 0.7 else "")
        pre = "$" if u() < 0.5 else ""
        post = ".-" if u() < 0.1 else ("-" if u() < 0.05 else "")
        return pre + body + post, str(n)
    if locale == "in":
        n = _magnitude(rng, 10, 50_000_000)
        r = u()
        if r < 0.55:
            body = group_digits(n, ",", indian=True)
        elif r < 0.75:
            body = group_digits(n, " ", indian=True)
        else:
            body = str(n)
        pre = "₹" if u() < 0.3 else ""
        r = u()
        if r < 0.5:
            return pre + body + "/-", str(n)
        if r < 0.7:
            paise = int(rng.integers(0, 100)) if u() < 0.4 else 0
            return pre + body + f".{paise:02d}", f"{n}.{paise:02d}"
        return pre + body, str(n)
    # us
    n = _magnitude(rng, 1, 200_000)
    cents = 0 if u() < 0.45 else int(rng.integers(0, 100))
    canon = f"{n}.{cents:02d}"
    body = group_digits(n, "," if u() < 0.5 else "")
    r = u()
    if r < 0.35:
        pre = "$" if u() < 0.6 else ""
        return pre + body + f".{cents:02d}", canon
    if r < 0.5:
        return "$" + "*" * int(rng.integers(1, 4)) + body + f".{cents:02d}", canon
    if r < 0.68:
        return body + f" ^{cents:02d}/100", canon
    if r < 0.8:
        pre = "$" if u() < 0.5 else ""
        return pre + body + f".^{cents:02d}", canon
    if r < 0.9 and cents == 0:
        return ("$" if u() < 0.4 else "") + body + (".-" if u() < 0.6 else "-"), canon
    return ("$" if u() < 0.5 else "") + body + f".{cents:02d}", canon


def synth_strings(pool: GlyphSource, n: int, rng: np.random.Generator, locale: str = "us",
                  config: FieldSynthConfig = FieldSynthConfig()) -> Iterator[tuple[SynthField, str]]:
    """Yield ``n`` pairs ``(SynthField, canonical amount)`` drawn with :func:`amount_text`."""
    check_in(locale, LOCALES, "locale")
    for _ in range(int(n)):
        written, canon = amount_text(rng, locale)
        yield compose_field(written, pool, rng, config), canon


# --------------------------------------------------------------------------------------------
# whole cheques
# --------------------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words_en(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" " + _words_en(n % 100) if n % 100 else "")
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _words_en(n // size) + " " + name + (" " + _words_en(n % size) if n % size else "")
    return str(n)


_ES_UNITS = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
             "quince dieciseis diecisiete dieciocho diecinueve veinte").split()
_ES_TENS = "_ _ veinti treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_ES_HUND = ("_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
            "ochocientos novecientos").split()


def _words_es(n: int) -> str:
    if n <= 20:
        return _ES_UNITS[n]
    if n < 30:
        return "veinti" + _ES_UNITS[n - 20]
    if n < 100:
        return _ES_TENS[n // 10] + (" y " + _ES_UNITS[n % 10] if n % 10 else "")
    if n == 100:
        return "cien"
    if n < 1000:
        return _ES_HUND[n // 100] + (" " + _words_es(n % 100) if n % 100 else "")
    if n < 10**6:
        head = "mil" if n // 1000 == 1 else _words_es(n // 1000) + " mil"
        return head + (" " + _words_es(n % 1000) if n % 1000 else "")
    head = "un millon" if n // 10**6 == 1 else _words_es(n // 10**6) + " millones"
    return head + (" " + _words_es(n % 10**6) if n % 10**6 else "")


def legal_words(canonical: str, locale: str) -> str:
    """The legal amount (in words) for a canonical amount, as a writer would put it."""
    whole, _, frac = canonical.partition(".")
    n = int(whole)
    if locale == "cl":
        return _words_es(n) + " pesos"
    w = _words_en(n).capitalize()
    if locale == "in":
        return "Rupees " + w + " only"
    return w + f" and {frac or '00'}/100"


@dataclass(frozen=True)
class ChequeSynthConfig:
    """Scan effects and variation of :func:`make_cheque`. Ranges are ``(low, high)``."""

    field: FieldSynthConfig = FieldSynthConfig()
    skew_deg: float = 2.0
    jitter: float = 0.02           # layout element offsets, fraction of the page size
    p_pattern: float = 0.7         # security background
    pattern_strength: tuple[float, float] = (10.0, 45.0)
    paper: tuple[int, int] = (200, 250)
    noise_sigma: tuple[float, float] = (0.0, 5.0)
    p_blur: float = 0.4
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (50, 95)
    p_bitonal: float = 0.0
    p_open_box: float = 0.1        # amount zone drawn as an underline only, no full box

    def __post_init__(self) -> None:
        check_range(self.skew_deg, "skew_deg", 0.0, 20.0)
        check_range(self.p_bitonal, "p_bitonal", 0.0, 1.0)


@dataclass(frozen=True)
class SynthCheque:
    """A synthetic cheque: grey ``uint8 (H, W)`` image, the courtesy amount's ink box,
    the canonical amount, the text as written and the layout name."""

    image: np.ndarray
    field_box: BBox
    amount: str
    text: str
    layout: str


@dataclass(frozen=True)
class _Layout:
    size: tuple[int, int]            # (w, h) px at 200 dpi
    box: tuple[float, float, float, float]  # amount box (x, y, w, h), fractions of the page
    sign: str                        # "$" or "₹"
    sign_inside: bool                # sign printed inside the box at its left
    locale: str
    printed: bool = False            # amount printed by a machine, not handwritten


LAYOUTS: dict[str, _Layout] = {
    "us_personal": _Layout((1200, 550), (0.765, 0.30, 0.20, 0.115), "$", False, "us"),
    "us_business": _Layout((1700, 700), (0.775, 0.36, 0.185, 0.095), "$", False, "us", printed=True),
    "in_cts": _Layout((1600, 734), (0.735, 0.37, 0.235, 0.10), "₹", True, "in"),
    "cl": _Layout((1400, 620), (0.67, 0.13, 0.28, 0.11), "$", True, "cl"),
}
LOCALE_LAYOUTS = {"us": ("us_personal", "us_business"), "in": ("in_cts",), "cl": ("cl",),
                  "any": tuple(LAYOUTS)}

_NAMES = ("John A. Smith", "Maria Gonzalez", "Ravi Kumar", "Acme Supplies Inc.", "Priya Sharma",
          "Juan Perez Soto", "City Water Dept.", "Emily Chen", "Carlos Rojas", "Anita Desai")
_BANKS = {"us": ("FIRST NATIONAL BANK", "MAPLE TRUST BANK", "UNION SAVINGS BANK"),
          "in": ("STATE BANK OF EXAMPLE", "BHARAT CO-OPERATIVE BANK", "UNITED BANK OF INDIA"),
          "cl": ("BANCO DEL SUR", "BANCO ANDINO", "BANCO DE VALPARAISO")}


def _hand_font(source: GlyphSource, rng: np.random.Generator, size: int):
    fonts = (source if isinstance(source, FontGlyphs) else source.symbols).font_paths
    if fonts:
        try:
            return ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size)
        except OSError:
            pass
    return _dejavu("DejaVuSans-Oblique.ttf", size)


def _scribble(draw: ImageDraw.ImageDraw, x0: float, y0: float, w: float, h: float,
              rng: np.random.Generator, fill: int) -> None:
    t = np.linspace(0, 1, 120)
    xs = x0 + w * t + h * 0.2 * np.sin(t * float(rng.uniform(15, 40)))
    ys = y0 + h * (0.5 + 0.35 * np.sin(t * float(rng.uniform(8, 20)) + float(rng.uniform(0, 6)))
                   * np.cos(t * float(rng.uniform(2, 5))))
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=fill, width=int(rng.integers(2, 4)))


def _printed_ink(text: str, height: int) -> np.ndarray:
    font = _dejavu("DejaVuSans-Bold.ttf", max(8, height))
    _, _, r, b = font.getbbox(text)
    img = Image.new("L", (int(r) + 8, int(b) + 8), 0)
    ImageDraw.Draw(img).text((4, 4), text, fill=255, font=font)
    return _crop_ink(np.asarray(img, np.float32) / 255.0)


def make_cheque(layout: str, amount_text: str, canonical: str, digits_source: GlyphSource,
                rng: np.random.Generator, config: ChequeSynthConfig = ChequeSynthConfig()) -> SynthCheque:
    """Draw a whole cheque at 200 dpi with ``amount_text`` written in its amount box.

    Parameters
    ----------
    layout : {"us_personal", "us_business", "in_cts", "cl"}
    amount_text : str
        Written amount (``compose_field`` markup allowed), e.g. ``"$1,234.56"``.
    canonical : str
        Its canonical amount (``"1234.56"``), used for the legal amount in words.
    digits_source : NpzDigitPool or FontGlyphs
    rng : numpy.random.Generator
    config : ChequeSynthConfig

    Returns
    -------
    SynthCheque
        ``image`` grey ``uint8 (H, W)``; ``field_box`` is the box of the written (or
        printed) courtesy amount's ink in that image, after skew.
    """
    check_in(layout, LAYOUTS, "layout")
    lay = LAYOUTS[layout]
    W, H = lay.size
    u = rng.uniform
    paper = float(u(*config.paper))
    if rng.random() < config.p_pattern:
        base = _background((H, W), rng, paper, float(u(*config.pattern_strength)))
    else:
        base = np.full((H, W), paper, np.float32)
    # Printed form: drawn as "ink" 0..255 in its own layer, then darkened onto the paper.
    form = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(form)
    lw = max(1, int(round(W / 600)))
    jit = lambda: float(u(-config.jitter, config.jitter))  # noqa: E731
    f_small = _dejavu("DejaVuSans.ttf", int(H * 0.03))
    f_bank = _dejavu("DejaVuSans-Bold.ttf", int(H * float(u(0.04, 0.055))))
    f_micr = _dejavu("DejaVuSansMono.ttf", int(H * 0.045))
    bank = _BANKS[lay.locale][int(rng.integers(3))]
    d.text((W * (0.04 + jit()), H * (0.05 + jit())), bank, fill=255, font=f_bank)
    bx, by, bw, bh = lay.box
    bx, by = bx + jit(), by + jit() * 0.5
    box = (int(W * bx), int(H * by), int(W * bw * float(u(0.92, 1.08))), int(H * bh * float(u(0.9, 1.15))))
    box = (box[0], box[1], min(box[2], W - box[0] - 8), box[3])
    X, Y, BW, BH = box
    open_box = rng.random() < config.p_open_box
    if open_box:
        d.line([(X, Y + BH), (X + BW, Y + BH)], fill=255, width=lw)
    else:
        d.rectangle([X, Y, X + BW, Y + BH], outline=255, width=lw + int(rng.integers(0, 2)))
    f_sign = _dejavu("DejaVuSans-Bold.ttf", int(BH * float(u(0.45, 0.65))))
    sl, st, sr, sb = f_sign.getbbox(lay.sign)
    if lay.sign_inside:
        sx = X + int(BH * 0.12)
        d.text((sx - sl, Y + (BH - (sb - st)) // 2 - st), lay.sign, fill=255, font=f_sign)
        left_free = sx + (sr - sl) + int(BH * 0.15)
    else:
        d.text((X - (sr - sl) - int(BH * 0.2) - sl, Y + (BH - (sb - st)) // 2 - st), lay.sign,
               fill=255, font=f_sign)
        left_free = X + int(BH * 0.1)
    # Payee, legal amount, date, memo, signature lines: position depends on the layout family.
    words = legal_words(canonical, lay.locale)
    labels = {"us": ("PAY TO THE\nORDER OF", "DOLLARS", "DATE", "MEMO"),
              "in": ("Pay", "Rupees", "D D M M Y Y Y Y", "Please sign above"),
              "cl": ("Paguese a la orden de", "la suma de", "Santiago,", "")}[lay.locale]
    if lay.locale == "cl":
        date_y, payee_y, legal_y = by + bh * 0.3, by + bh + 0.17, by + bh + 0.32
        date_x = 0.08
    else:
        date_y, payee_y, legal_y = by - 0.12, by + bh * 0.75, by + bh + 0.14
        date_x = 0.62 if lay.locale == "us" else 0.68
    date_y = max(date_y, 0.15) if lay.locale != "cl" else date_y
    ty = lambda fy: int(H * fy)  # noqa: E731
    # date
    d.text((W * date_x, ty(date_y) - int(H * 0.035)), labels[2], fill=255, font=f_small)
    d.line([(W * (date_x + 0.07), ty(date_y)), (W * (date_x + 0.28), ty(date_y))], fill=255, width=lw)
    # payee line (left of the amount box on US/IN, below it on CL)
    payee_end = (X - int(BH * 0.9)) if lay.locale != "cl" else W * 0.94
    d.text((W * 0.04, ty(payee_y) - int(H * 0.06)), labels[0], fill=255, font=f_small)
    d.line([(W * 0.16, ty(payee_y)), (payee_end, ty(payee_y))], fill=255, width=lw)
    # legal amount line(s)
    d.line([(W * 0.04, ty(legal_y)), (W * 0.84, ty(legal_y))], fill=255, width=lw)
    d.text((W * 0.86, ty(legal_y) - int(H * 0.035)), labels[1], fill=255, font=f_small)
    if lay.locale == "in":
        d.line([(W * 0.04, ty(legal_y + 0.1)), (W * 0.70, ty(legal_y + 0.1))], fill=255, width=lw)
    # signature line and MICR
    sig_y = 0.80 + jit()
    d.line([(W * 0.6, ty(sig_y)), (W * 0.95, ty(sig_y))], fill=255, width=lw)
    if labels[3]:
        pos = (W * 0.04, ty(sig_y) - int(H * 0.035)) if lay.locale == "us" else (W * 0.7, ty(sig_y) + 4)
        d.text(pos, labels[3], fill=255, font=f_small)
    micr = f"|:{int(rng.integers(10**9)):09d}|: {int(rng.integers(10**10)):010d}|' {int(rng.integers(10**4)):04d}"
    d.text((W * (0.12 + jit()), H * 0.9), micr, fill=255, font=f_micr)
    form_ink = np.asarray(form, np.float32) / 255.0
    printed_level = float(u(20, 90))
    img: np.ndarray = base - form_ink * (base - printed_level)

    # Handwritten filler: payee, legal amount, date, signature.
    hand = Image.new("L", (W, H), 0)
    hd = ImageDraw.Draw(hand)
    fh = _hand_font(digits_source, rng, int(H * float(u(0.045, 0.065))))
    hd.text((W * 0.18, ty(payee_y) - fh.size), _NAMES[int(rng.integers(len(_NAMES)))], fill=255, font=fh)
    hd.text((W * 0.06, ty(legal_y) - fh.size), words[:60], fill=255, font=fh)
    day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
    hd.text((W * (date_x + 0.09), ty(date_y) - fh.size), f"{month:02d}/{day:02d}/20{int(rng.integers(18, 26))}",
            fill=255, font=fh)
    _scribble(hd, W * 0.63, ty(sig_y) - H * 0.1, W * 0.28, H * 0.09, rng, 255)
    hand_ink = np.asarray(hand, np.float32) / 255.0

    # The courtesy amount itself, in its own layer so that its box is known exactly.
    amt = np.zeros((H, W), np.float32)
    inner_w = X + BW - left_free - int(BH * 0.1)
    if lay.printed:
        ink = _printed_ink(amount_text.replace("^", ""), int(BH * float(u(0.42, 0.6))))
    else:
        body = BH * float(u(0.38, 0.6))
        ink, _, _, base_y, _ = _compose_ink(amount_text, digits_source, rng, config.field, body=body)
        ys, xs = np.nonzero(ink > 0.05)
        ink = ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] if len(ys) else ink
    ih, iw = ink.shape
    # Writers squeeze long amounts into the box rather than overflow it (a little overflow ok).
    scale = min(1.0, inner_w * float(u(0.9, 1.05)) / max(iw, 1), BH * 1.15 / max(ih, 1))
    if scale < 1.0:
        ink = _resize(ink, ih * scale, iw * scale)
        ih, iw = ink.shape
    free = max(0, inner_w - iw)
    ax = left_free + int(free * float(u(0.0, 0.6)))
    ay = Y + BH - int(BH * float(u(0.12, 0.3))) - ih
    ay = min(max(ay, Y - ih // 4), H - ih - 1)
    ax = min(max(ax, 0), W - iw - 1)
    amt[ay: ay + ih, ax: ax + iw] = ink
    ink_level = float(u(5, 80))
    for layer, level in ((hand_ink, ink_level), (amt, ink_level)):
        img = img - layer * (img - level)

    # Scan: skew, noise, blur, JPEG, optional bitonal.
    angle = float(u(-config.skew_deg, config.skew_deg))
    m = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
    img = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=paper)
    amt_r = cv2.warpAffine(amt, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
    ys, xs = np.nonzero(amt_r > 0.25)
    fbox = BBox(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)) \
        if len(ys) else BBox(X, Y, BW, BH)
    sigma = float(u(*config.noise_sigma))
    if sigma > 0:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    if rng.random() < config.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), float(u(0.4, 1.0)))
    img8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if rng.random() < config.p_jpeg:
        img8 = _jpeg(img8, int(rng.integers(*config.jpeg_quality)))
    if rng.random() < config.p_bitonal:
        img8 = bitonal(img8, rng)
    return SynthCheque(image=img8, field_box=fbox, amount=canonical,
                       text=amount_text.replace("^", ""), layout=layout)


SCAN_FORMATS = ("png", "jpg", "tif")


def scan_format(img: np.ndarray, rng: np.random.Generator, fmt: str | None = None) -> np.ndarray:
    """The grey image a reader decodes after ``img`` was saved as ``fmt`` (random by default).

    ``png``: unchanged; ``jpg``: JPEG at quality 70-95; ``tif``: bitonal, as a G4 TIFF scan
    (:func:`bitonal`). The same choices as ``benchmarks/cheques_bench.py``.
    """
    fmt = SCAN_FORMATS[int(rng.integers(len(SCAN_FORMATS)))] if fmt is None else fmt
    check_in(fmt, SCAN_FORMATS, "fmt")
    if fmt == "jpg":
        return _jpeg(img, int(rng.integers(70, 95)))
    if fmt == "tif":
        return bitonal(img, rng)
    return img


def bitonal(img: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Black/white as a bitonal scanner gives it: a global threshold a little under Otsu's."""
    t, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = t * (float(rng.uniform(0.75, 0.95)) if rng is not None else 0.85)
    return np.where(img > t, 255, 0).astype(np.uint8)


def generate(count: int, out_dir: str | Path, locale: str = "us", digits: str | None = None,
             seed: int = 0, formats: Sequence[str] = ("png",),
             config: ChequeSynthConfig = ChequeSynthConfig(), x9: bool = False,
             progress: bool = False) -> Path:
    """Write ``count`` synthetic cheques and ``labels.csv`` into ``out_dir``.

    Parameters
    ----------
    count : int
    out_dir : str or Path
        Created if needed.
    locale : {"us", "in", "cl", "any"}
        Picks layouts and amount styles.
    digits : str, optional
        ``.npz`` digit file (MNIST format); ``None`` = handwriting fonts / procedural strokes.
    seed : int
        Same seed, same bytes.
    formats : sequence of {"png", "jpg", "tif"}
        Cycled over the cheques; ``tif`` is bitonal CCITT Group 4 at 200 dpi.
    x9 : bool
        Also write ``cheques.x937`` (needs ``chequereader.io.x937.write_x937``); labels.csv
        then has an ``x9_sequence`` column: the cheque's item sequence number in that file
        (the ``x9_sequence`` of ``read``'s rows).
    progress : bool
        A progress bar (tqdm) on stderr.

    Returns
    -------
    Path
        The ``labels.csv`` written, header ``file,amount,layout,text,field_x,field_y,field_w,field_h``
        (and ``x9_sequence`` with ``x9``).

    Without ``digits``, the handwriting fonts of :data:`HANDWRITING_FONT_GLOBS` draw the
    digits; when none is installed, a warning is logged (``chequereader`` logger) and
    procedural pen strokes draw them all.
    """
    check_in(locale, LOCALES, "locale")
    n = int(check_range(count, "count", 0))
    fmts = tuple(formats)
    if not fmts:
        raise ConfigError("formats: empty")
    for f in fmts:
        check_in(f, ("png", "jpg", "tif"), "formats")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    symbols = FontGlyphs()
    if not symbols.fonts and not digits:
        _log.warning("chequereader: synth: no handwriting font found (%s; e.g. apt-get install "
                     "fonts-dkg-handwriting fonts-breip fonts-humor-sans): every digit is drawn "
                     "with procedural pen strokes, fewer styles than with the fonts",
                     ", ".join(HANDWRITING_FONT_GLOBS[:2]) + ", ...")
    source: GlyphSource = NpzDigitPool.from_npz(digits, symbols=symbols) if digits else symbols
    rows = []
    x9_items = []
    width = max(4, len(str(max(n - 1, 0))))
    bar = None
    if progress and n:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=n, unit="cheque", file=sys.stderr, desc="synth")
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        layout = LOCALE_LAYOUTS[locale][int(rng.integers(len(LOCALE_LAYOUTS[locale])))]
        written, canon = amount_text(rng, LAYOUTS[layout].locale)
        ch = make_cheque(layout, written, canon, source, rng, config)
        fmt = fmts[i % len(fmts)]
        name = f"cheque_{i:0{width}d}.{fmt}"
        img = ch.image
        if fmt == "tif":
            img = bitonal(img, rng)
            Image.fromarray(img).convert("1").save(out / name, compression="group4", dpi=(200, 200))
        elif fmt == "jpg":
            Image.fromarray(img).save(out / name, quality=int(rng.integers(70, 95)), dpi=(200, 200))
        else:
            Image.fromarray(img).save(out / name, dpi=(200, 200))
        b = ch.field_box
        row: tuple = (name, canon, layout, ch.text, b.x, b.y, b.w, b.h)
        if x9:
            x9_items.append((name, img, canon))
            row += (_x9_sequence(len(x9_items) - 1),)
        rows.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    labels = out / "labels.csv"
    with open(labels, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "amount", "layout", "text", "field_x", "field_y", "field_w", "field_h"]
                   + (["x9_sequence"] if x9 else []))
        w.writerows(rows)
    if x9:
        _write_x9(out / "cheques.x937", x9_items)
    return labels


def _g4_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(buf, format="TIFF", compression="group4", dpi=(200, 200))
    return buf.getvalue()


def _x9_sequence(i: int) -> str:
    """The item sequence number of the ``i``-th cheque (from 0) in the X9 file written."""
    return str(i + 1)


def _write_x9(path: Path, items: list) -> None:
    """One X9.37 file (EBCDIC) of all cheques: bitonal G4 fronts, amounts in cents."""
    try:
        from .io.x937 import X9Item, write_x937
    except ImportError as exc:
        raise ConfigError("x9: chequereader.io.x937.write_x937 is not available") from exc
    from datetime import datetime
    from decimal import Decimal

    x9_items = [X9Item(sequence=_x9_sequence(i), amount_cents=int(Decimal(canon) * 100),
                       front=_g4_bytes(bitonal(img)), back=None, index=i)
                for i, (_, img, canon) in enumerate(items)]
    # A fixed creation time keeps the file byte-identical for a given seed.
    write_x937(path, x9_items, "ebcdic", created=datetime(2024, 1, 1, 0, 0))
