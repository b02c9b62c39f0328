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

Modules: :mod:`.ink` (pen strokes, ink layers, scan effects, bitonal), :mod:`.glyphs` (glyph
sources), :mod:`.amounts` (amounts per locale, legal amounts in words), :mod:`.fields` (one
field), :mod:`.cheques` (layouts, whole cheques, :func:`generate`), :mod:`.x9` (the X9.37 file
of a generated folder). Every public name is importable from ``chequereader.synth``.
"""

from __future__ import annotations

# Every name below stays importable from chequereader.synth, as before the package split;
# __all__ keeps its old list.
from .amounts import LOCALES, amount_text, group_digits, legal_words  # noqa: F401
from .cheques import (  # noqa: F401
    LAYOUTS,
    LOCALE_LAYOUTS,
    ChequeSynthConfig,
    SynthCheque,
    generate,
    make_cheque,
)
from .fields import (  # noqa: F401
    PRINTED_FIELD,
    SYMBOLS,
    FieldSynthConfig,
    SynthField,
    compose_field,
    synth_strings,
)
from .glyphs import (  # noqa: F401
    DEJAVU_DIR,
    HANDWRITING_FONT_GLOBS,
    PRINTED_FONT_GLOBS,
    PRINTED_HELD_OUT,
    FontGlyphs,
    GlyphSource,
    MixedPool,
    NpzDigitPool,
    find_handwriting_fonts,
    find_printed_fonts,
)
from .ink import SCAN_FORMATS, bitonal, draw_strokes, scan_format  # noqa: F401

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

