"""Whole synthetic cheques: four layouts (US personal, US business, Indian CTS-2010,
Chilean) drawn at 200 dpi around a courtesy-amount field, with scan effects
(:func:`make_cheque`), and a folder of them with ``labels.csv`` (:func:`generate`)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .._validate import check_in, check_range
from ..errors import ConfigError
from ..types import BBox
from .amounts import SYNTH_LOCALES, amount_text, legal_words
from .fields import FieldSynthConfig, compose_ink
from .glyphs import HANDWRITING_FONT_GLOBS, FontGlyphs, GlyphSource, NpzDigitPool, dejavu_font
from .ink import bitonal, crop_ink, jpeg_roundtrip, resize_ink, security_background
from .x9 import write_x9, x9_sequence

_log = logging.getLogger("chequereader")


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
    return dejavu_font("DejaVuSans-Oblique.ttf", size)


def _scribble(draw: ImageDraw.ImageDraw, x0: float, y0: float, w: float, h: float,
              rng: np.random.Generator, fill: int) -> None:
    t = np.linspace(0, 1, 120)
    xs = x0 + w * t + h * 0.2 * np.sin(t * float(rng.uniform(15, 40)))
    ys = y0 + h * (0.5 + 0.35 * np.sin(t * float(rng.uniform(8, 20)) + float(rng.uniform(0, 6)))
                   * np.cos(t * float(rng.uniform(2, 5))))
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=fill, width=int(rng.integers(2, 4)))


def _printed_ink(text: str, height: int) -> np.ndarray:
    font = dejavu_font("DejaVuSans-Bold.ttf", max(8, height))
    _, _, r, b = font.getbbox(text)
    img = Image.new("L", (int(r) + 8, int(b) + 8), 0)
    ImageDraw.Draw(img).text((4, 4), text, fill=255, font=font)
    return crop_ink(np.asarray(img, np.float32) / 255.0)


@dataclass(frozen=True)
class _Form:
    """A cheque's printed form: its ink layer, the amount box and where the filler goes."""

    ink: np.ndarray                     # float32 (H, W), 1 = printed ink
    box: tuple[int, int, int, int]      # amount box (x, y, w, h) in pixels
    left_free: float                    # first x in the box right of a sign printed inside it
    date_x: float                       # the filler lines, fractions of the page
    date_y: float
    payee_y: float
    legal_y: float
    sig_y: float


def _draw_box(d: ImageDraw.ImageDraw, lay: _Layout, rng: np.random.Generator, jit, lw: int,
              p_open_box: float) -> tuple[tuple[int, int, int, int], float, float, float]:
    """Bank name, amount box (or its underline only) and currency sign. Returns the box in
    pixels, the first free x in it, and the box's top and height as page fractions."""
    W, H = lay.size
    u = rng.uniform
    f_bank = dejavu_font("DejaVuSans-Bold.ttf", int(H * float(u(0.04, 0.055))))
    bank = _BANKS[lay.locale][int(rng.integers(3))]
    d.text((W * (0.04 + jit()), H * (0.05 + jit())), bank, fill=255, font=f_bank)
    bx, by, bw, bh = lay.box
    bx, by = bx + jit(), by + jit() * 0.5
    box = (int(W * bx), int(H * by), int(W * bw * float(u(0.92, 1.08))), int(H * bh * float(u(0.9, 1.15))))
    box = (box[0], box[1], min(box[2], W - box[0] - 8), box[3])
    X, Y, BW, BH = box
    open_box = rng.random() < p_open_box
    if open_box:
        d.line([(X, Y + BH), (X + BW, Y + BH)], fill=255, width=lw)
    else:
        d.rectangle([X, Y, X + BW, Y + BH], outline=255, width=lw + int(rng.integers(0, 2)))
    f_sign = dejavu_font("DejaVuSans-Bold.ttf", int(BH * float(u(0.45, 0.65))))
    sl, st, sr, sb = f_sign.getbbox(lay.sign)
    if lay.sign_inside:
        sx = X + int(BH * 0.12)
        d.text((sx - sl, Y + (BH - (sb - st)) // 2 - st), lay.sign, fill=255, font=f_sign)
        left_free = sx + (sr - sl) + int(BH * 0.15)
    else:
        d.text((X - (sr - sl) - int(BH * 0.2) - sl, Y + (BH - (sb - st)) // 2 - st), lay.sign,
               fill=255, font=f_sign)
        left_free = X + int(BH * 0.1)
    return box, left_free, by, bh


def _draw_form(lay: _Layout, rng: np.random.Generator, config: ChequeSynthConfig) -> _Form:
    """The printed form, drawn as "ink" in its own layer: bank, amount box and sign, then the
    date, payee, legal amount and signature lines and the MICR line."""
    W, H = lay.size
    form = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(form)
    lw = max(1, int(round(W / 600)))
    jit = lambda: float(rng.uniform(-config.jitter, config.jitter))  # noqa: E731
    f_small = dejavu_font("DejaVuSans.ttf", int(H * 0.03))
    f_micr = dejavu_font("DejaVuSansMono.ttf", int(H * 0.045))
    box, left_free, by, bh = _draw_box(d, lay, rng, jit, lw, config.p_open_box)
    X, Y, BW, BH = box
    # Payee, legal amount, date, memo, signature lines: position depends on the layout family.
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
    return _Form(np.asarray(form, np.float32) / 255.0, box, left_free, date_x, date_y, payee_y,
                 legal_y, sig_y)


def _hand_filler(lay: _Layout, form: _Form, canonical: str, source: GlyphSource,
                 rng: np.random.Generator) -> np.ndarray:
    """Handwritten filler as an ink layer: payee, legal amount, date, signature."""
    W, H = lay.size
    ty = lambda fy: int(H * fy)  # noqa: E731
    words = legal_words(canonical, lay.locale)
    hand = Image.new("L", (W, H), 0)
    hd = ImageDraw.Draw(hand)
    fh = _hand_font(source, rng, int(H * float(rng.uniform(0.045, 0.065))))
    hd.text((W * 0.18, ty(form.payee_y) - fh.size), _NAMES[int(rng.integers(len(_NAMES)))], fill=255, font=fh)
    hd.text((W * 0.06, ty(form.legal_y) - fh.size), words[:60], fill=255, font=fh)
    day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
    hd.text((W * (form.date_x + 0.09), ty(form.date_y) - fh.size),
            f"{month:02d}/{day:02d}/20{int(rng.integers(18, 26))}", fill=255, font=fh)
    _scribble(hd, W * 0.63, ty(form.sig_y) - H * 0.1, W * 0.28, H * 0.09, rng, 255)
    return np.asarray(hand, np.float32) / 255.0


def _amount_layer(lay: _Layout, form: _Form, amount_text: str, source: GlyphSource,
                  rng: np.random.Generator, config: ChequeSynthConfig) -> np.ndarray:
    """The courtesy amount in its own layer (so that its box is known exactly), written (or
    printed) into the amount box."""
    W, H = lay.size
    u = rng.uniform
    X, Y, BW, BH = form.box
    amt = np.zeros((H, W), np.float32)
    inner_w = X + BW - form.left_free - int(BH * 0.1)
    if lay.printed:
        ink = _printed_ink(amount_text.replace("^", ""), int(BH * float(u(0.42, 0.6))))
    else:
        body = BH * float(u(0.38, 0.6))
        ink, _, _, base_y, _ = compose_ink(amount_text, source, rng, config.field, body=body)
        ys, xs = np.nonzero(ink > 0.05)
        ink = ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] if len(ys) else ink
    ih, iw = ink.shape
    # Writers squeeze long amounts into the box rather than overflow it (a little overflow ok).
    scale = min(1.0, inner_w * float(u(0.9, 1.05)) / max(iw, 1), BH * 1.15 / max(ih, 1))
    if scale < 1.0:
        ink = resize_ink(ink, ih * scale, iw * scale)
        ih, iw = ink.shape
    free = max(0, inner_w - iw)
    ax = form.left_free + int(free * float(u(0.0, 0.6)))
    ay = Y + BH - int(BH * float(u(0.12, 0.3))) - ih
    ay = min(max(ay, Y - ih // 4), H - ih - 1)
    ax = min(max(ax, 0), W - iw - 1)
    amt[ay: ay + ih, ax: ax + iw] = ink
    return amt


def _scan(img: np.ndarray, amt: np.ndarray, box: tuple[int, int, int, int], paper: float,
          rng: np.random.Generator, config: ChequeSynthConfig) -> tuple[np.ndarray, BBox]:
    """Scan effects: skew, noise, blur, JPEG, optional bitonal. Returns the ``uint8`` image
    and the amount's ink box after skew (the whole amount box when no ink is left)."""
    H, W = img.shape
    u = rng.uniform
    angle = float(u(-config.skew_deg, config.skew_deg))
    m = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
    img = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=paper)
    amt_r = cv2.warpAffine(amt, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
    ys, xs = np.nonzero(amt_r > 0.25)
    fbox = BBox(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)) \
        if len(ys) else BBox(*box)
    sigma = float(u(*config.noise_sigma))
    if sigma > 0:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    if rng.random() < config.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), float(u(0.4, 1.0)))
    img8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if rng.random() < config.p_jpeg:
        img8 = jpeg_roundtrip(img8, int(rng.integers(*config.jpeg_quality)))
    if rng.random() < config.p_bitonal:
        img8 = bitonal(img8, rng)
    return img8, fbox


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
    paper = float(rng.uniform(*config.paper))
    if rng.random() < config.p_pattern:
        base = security_background((H, W), rng, paper, float(rng.uniform(*config.pattern_strength)))
    else:
        base = np.full((H, W), paper, np.float32)
    form = _draw_form(lay, rng, config)
    printed_level = float(rng.uniform(20, 90))
    img: np.ndarray = base - form.ink * (base - printed_level)
    hand_ink = _hand_filler(lay, form, canonical, digits_source, rng)
    amt = _amount_layer(lay, form, amount_text, digits_source, rng, config)
    ink_level = float(rng.uniform(5, 80))
    for layer, level in ((hand_ink, ink_level), (amt, ink_level)):
        img = img - layer * (img - level)
    img8, fbox = _scan(img, amt, form.box, paper, rng, config)
    return SynthCheque(image=img8, field_box=fbox, amount=canonical,
                       text=amount_text.replace("^", ""), layout=layout)


def _digit_source(digits: str | None) -> GlyphSource:
    """The digits' source: the ``.npz`` file, else the handwriting fonts (warned about when
    none is installed) and procedural strokes."""
    symbols = FontGlyphs()
    if not symbols.fonts and not digits:
        _log.warning("chequereader: synth: no handwriting font found (%s; e.g. apt-get install "
                     "fonts-dkg-handwriting fonts-breip fonts-humor-sans): every digit is drawn "
                     "with procedural pen strokes, fewer styles than with the fonts",
                     ", ".join(HANDWRITING_FONT_GLOBS[:2]) + ", ...")
    return NpzDigitPool.from_npz(digits, symbols=symbols) if digits else symbols


def _progress_bar(n: int):
    import sys

    from tqdm import tqdm

    return tqdm(total=n, unit="cheque", file=sys.stderr, desc="synth")


def _save(img: np.ndarray, fmt: str, path: Path, rng: np.random.Generator) -> np.ndarray:
    """Save one cheque at 200 dpi as ``fmt``; returns the image as saved (bitonal for tif)."""
    if fmt == "tif":
        img = bitonal(img, rng)
        Image.fromarray(img).convert("1").save(path, compression="group4", dpi=(200, 200))
    elif fmt == "jpg":
        Image.fromarray(img).save(path, quality=int(rng.integers(70, 95)), dpi=(200, 200))
    else:
        Image.fromarray(img).save(path, dpi=(200, 200))
    return img


def _write_labels(path: Path, rows: list[tuple], x9: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "amount", "layout", "text", "field_x", "field_y", "field_w", "field_h"]
                   + (["x9_sequence"] if x9 else []))
        w.writerows(rows)


def _formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` checked: not empty, each png, jpg or tif."""
    fmts = tuple(formats)
    if not fmts:
        raise ConfigError("formats: empty")
    for f in fmts:
        check_in(f, ("png", "jpg", "tif"), "formats")
    return fmts


def _write_cheque(i: int, out: Path, locale: str, source: GlyphSource, seed: int,
                  fmts: tuple[str, ...], width: int, config: ChequeSynthConfig
                  ) -> tuple[tuple, np.ndarray]:
    """Draw cheque ``i`` of a :func:`generate` run and write it into ``out``; return its
    labels.csv row (without ``x9_sequence``) and the image written."""
    rng = np.random.default_rng([seed, i])
    layout = LOCALE_LAYOUTS[locale][int(rng.integers(len(LOCALE_LAYOUTS[locale])))]
    written, canon = amount_text(rng, LAYOUTS[layout].locale)
    ch = make_cheque(layout, written, canon, source, rng, config)
    fmt = fmts[i % len(fmts)]
    name = f"cheque_{i:0{width}d}.{fmt}"
    img = _save(ch.image, fmt, out / name, rng)
    b = ch.field_box
    row: tuple = (name, canon, layout, ch.text, b.x, b.y, b.w, b.h)
    return row, img


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
    check_in(locale, SYNTH_LOCALES, "locale")
    n = int(check_range(count, "count", 0))
    fmts = _formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = _digit_source(digits)
    rows = []
    x9_items = []
    width = max(4, len(str(max(n - 1, 0))))
    bar = _progress_bar(n) if progress and n else None
    for i in range(n):
        row, img = _write_cheque(i, out, locale, source, int(seed), fmts, width, config)
        if x9:
            name, canon = row[0], row[1]
            x9_items.append((name, img, canon))
            row += (x9_sequence(len(x9_items) - 1),)
        rows.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    labels = out / "labels.csv"
    _write_labels(labels, rows, x9)
    if x9:
        write_x9(out / "cheques.x937", x9_items)
    return labels


