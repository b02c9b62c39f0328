"""Glyph sources of the synthetic amounts: handwriting fonts and procedural strokes
(:class:`FontGlyphs`), handwritten digits from an ``.npz`` (:class:`NpzDigitPool`) and a
weighted mix of such files (:class:`MixedPool`)."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .._validate import check_range
from ..errors import InvalidImageError
from ..fonts import HANDWRITING_FONT_GLOBS  # not the symbols' list: see chequereader.fonts
from .ink import crop_ink, draw_strokes

DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
# Printed (machine) fonts for amounts printed by a cheque writer: DejaVu and Liberation, upright
# and italic. The whole-cheque generator prints business amounts in DejaVu Sans Bold
# (:mod:`chequereader.synth.cheques`); :func:`find_printed_fonts` leaves that font out by default so that
# training on printed amounts never sees the benchmark's font.
PRINTED_FONT_GLOBS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif*.ttf",
    "/usr/share/fonts/truetype/liberation/Liberation*.ttf",
    "/usr/share/fonts/truetype/liberation2/Liberation*.ttf",
)
PRINTED_HELD_OUT = ("DejaVuSans-Bold.ttf",)


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


def dejavu_font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
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
            self._cache[key] = crop_ink(g) if ok else None
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
        return crop_ink(img.astype(np.float32) / 255.0, thr=0.12)

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


