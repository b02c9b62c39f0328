"""One synthetic courtesy-amount field: :func:`compose_field` writes an amount string with
per-character boxes (:class:`SynthField`); :func:`synth_strings` draws amounts and fields.

Text markup: a space is a wider gap (not drawn, not in ``chars``); ``^`` switches to small
raised characters (superscript cents) until the next space.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .._validate import check_in
from ..amounts import WRITTEN_SYMBOLS as SYMBOLS  # with the rupee sign
from ..errors import ConfigError
from ..types import BBox
from .amounts import SYNTH_LOCALES, amount_text
from .glyphs import GlyphSource
from .ink import jpeg_roundtrip, resize_ink, security_background, shear_ink

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


def _small_zeros(text: str, rng: np.random.Generator, cfg: FieldSynthConfig) -> dict[int, tuple[float, float]]:
    """Trailing zeros written small, when drawn: text index -> (size factor, lift in bodies)."""
    shrink: dict[int, tuple[float, float]] = {}
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
    return shrink


@dataclass(frozen=True)
class _Pen:
    """What stays the same over one amount: the writer, the pen and the hand's slant."""

    writer: int | None
    width: float       # symbols' stroke width, pixels
    mode: float        # thicker / thinner / as written (see _thickness)
    slant: float       # degrees
    drift: float       # baseline tilt over the amount, in bodies


def _shaped_glyph(ch: str, small: bool, shrunk: tuple[float, float] | None, body: float,
                  source: GlyphSource, pen: _Pen, rng: np.random.Generator,
                  cfg: FieldSynthConfig) -> tuple[np.ndarray, float]:
    """One character's ink, sized, thickened and slanted; and its bottom below the baseline."""
    g = source.glyph(ch, rng, pen.writer)
    h, w, bottom = _char_geometry(ch, small, body, rng, g.shape, cfg)
    if shrunk is not None:
        f, lift = shrunk
        h, w, bottom = h * f, w * f, -lift * body
    g = resize_ink(g, h, w)
    if ch in "0123456789$₹":
        g = _thickness(g, rng, cfg, body, pen.mode)
    if not ch.isdigit():
        g = _pen_width(g, pen.width * (0.8 if small else 1.0))
    if ch not in ".-":
        g = shear_ink(g, pen.slant + float(rng.normal(0, cfg.slant_jitter_deg)))
    return g, bottom


def _gap(ch: str, prev: str | None, body: float, rng: np.random.Generator, cfg: FieldSynthConfig) -> float:
    """Gap to the previous character: dots and commas sit close, digits may touch."""
    if prev is None or prev == " ":
        return 0.0
    if ch in ".," or prev in ".,":
        return body * float(rng.uniform(0.02, 0.2))
    if rng.random() < cfg.p_touch and ch.isdigit() and prev.isdigit():
        return body * float(rng.uniform(*cfg.overlap))
    return body * float(rng.uniform(*cfg.gap))


def _place(text: str, source: GlyphSource, rng: np.random.Generator, cfg: FieldSynthConfig,
           body: float, pen: _Pen, shrink: dict[int, tuple[float, float]]
           ) -> tuple[list[tuple[str, np.ndarray, float, float]], float]:
    """Each drawn character's (char, ink, x, bottom-y relative to the baseline), and the
    written width."""
    placed: list[tuple[str, np.ndarray, float, float]] = []
    x = 0.0
    small = False
    prev: str | None = None
    n_vis = max(1, len([c for c in text if c not in " ^"]))
    k_vis = 0
    for ti, ch in enumerate(text):
        if ch == " ":
            x += body * float(rng.uniform(*cfg.space_gap))
            small = False
            prev = " "
            continue
        if ch == "^":
            small = True
            continue
        g, bottom = _shaped_glyph(ch, small, shrink.get(ti), body, source, pen, rng, cfg)
        x += _gap(ch, prev, body, rng, cfg)
        bottom += pen.drift * body * (k_vis / n_vis)
        placed.append((ch, g, x, bottom))
        x += g.shape[1]
        prev = ch
        k_vis += 1
    return placed, x


def _render(placed: list[tuple[str, np.ndarray, float, float]], x: float, body: float,
            rng: np.random.Generator, cfg: FieldSynthConfig
            ) -> tuple[np.ndarray, list[tuple[str, BBox]], list[tuple[str, int, int, np.ndarray]], float]:
    """The placed characters on a canvas with a margin: (canvas, boxes, where each went,
    baseline row)."""
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
    return canvas, chars, placed_at, base_y


def compose_ink(text: str, source: GlyphSource, rng: np.random.Generator, cfg: FieldSynthConfig,
                body: float | None = None) -> tuple[np.ndarray, list[tuple[str, BBox]], float, float, str]:
    """Write ``text`` as an ink layer ``float32 (H, W)`` in [0, 1] (1 = ink), tightly framed
    with a margin. Returns (ink, chars, body, baseline, clean text)."""
    if body is None:
        body = float(rng.uniform(*cfg.body_height))
    writer = source.pick_writer(rng)
    width = max(2.0, body * float(rng.uniform(*cfg.pen_width)))
    mode = float(rng.random())  # thicker / thinner / as written: one pen per amount
    slant = float(rng.uniform(*cfg.slant_deg))
    drift = float(rng.uniform(-cfg.baseline_drift, cfg.baseline_drift))
    pen = _Pen(writer, width, mode, slant, drift)
    shrink = _small_zeros(text, rng, cfg)
    placed, x = _place(text, source, rng, cfg, body, pen, shrink)
    if not placed:
        m = int(body)
        return np.zeros((2 * m, 2 * m), np.float32), [], body, float(1.5 * m), text.replace("^", "")
    canvas, chars, placed_at, base_y = _render(placed, x, body, rng, cfg)
    if cfg.p_joined > 0 and rng.random() < cfg.p_joined:
        _ligatures(canvas, placed_at, body, pen.width, cfg.ligature, rng)
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
    ink, chars, body, baseline, clean = compose_ink(text, digits, rng, config)
    h, w = ink.shape
    paper = float(rng.uniform(*config.paper))
    inkc = float(rng.uniform(*config.ink))
    if rng.random() < config.p_background:
        bg = security_background((h, w), rng, paper, float(rng.uniform(15, 60)))
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
        img8 = jpeg_roundtrip(img8, int(rng.integers(40, 92)))
    return SynthField(image=img8, chars=tuple(chars), body_height=body, baseline=baseline, text=clean)


def synth_strings(pool: GlyphSource, n: int, rng: np.random.Generator, locale: str = "us",
                  config: FieldSynthConfig = FieldSynthConfig()) -> Iterator[tuple[SynthField, str]]:
    """Yield ``n`` pairs ``(SynthField, canonical amount)`` drawn with :func:`amount_text`."""
    check_in(locale, SYNTH_LOCALES, "locale")
    for _ in range(int(n)):
        written, canon = amount_text(rng, locale)
        yield compose_field(written, pool, rng, config), canon

