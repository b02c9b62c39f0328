"""Training data: real handwritten digits (MNIST, USPS, Semeion) and synthetic symbols,
all framed by :func:`chequereader.framing.frame` so training matches inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..framing import digit_ink, frame, frame_digit_images
from ..models.alphabet import Alphabet
from ..symbols import symbol_samples


@dataclass(frozen=True)
class DigitSet:
    """Ink-bright digit images ``uint8 (N, H, W)``, labels ``(N,)``, writer ids or None."""

    images: np.ndarray
    labels: np.ndarray
    writers: np.ndarray | None = None


def load_digit_npz(path: str | Path, split: str | None = None) -> DigitSet:
    """Read a digits file in the format of ``../shared/data``.

    Keys ``images``/``labels`` (optional ``writers``), or ``{split}_images``/``{split}_labels``
    (``split`` = ``train`` or ``test``; if not given, ``test_*`` is used when there is no plain
    ``images`` key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"digits file {path}: not found")
    try:
        d = np.load(path)
    except Exception as exc:
        raise ConfigError(f"digits file {path}: cannot be read as .npz ({exc})") from None
    keys = set(d.files)
    if split is None:
        prefix = "" if "images" in keys else "test_"
    else:
        prefix = "" if split == "" else f"{split}_"
    ik, lk = f"{prefix}images", f"{prefix}labels"
    if ik not in keys or lk not in keys:
        raise ConfigError(f"digits file {path}: needs {ik!r} and {lk!r}, has {sorted(keys)}")
    images, labels = d[ik], d[lk]
    if images.ndim != 3 or len(images) != len(labels):
        raise ConfigError(f"digits file {path}: {ik} must be (N,H,W) with N labels")
    wk = f"{prefix}writers"
    writers = d[wk] if wk in keys else None
    return DigitSet(images.astype(np.uint8), labels.astype(np.int64), writers)


def writer_split(writers: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) with no writer on both sides."""
    uniq = np.unique(writers)
    rng = np.random.default_rng(seed)
    val_w = rng.choice(uniq, size=max(1, int(round(len(uniq) * val_fraction))), replace=False)
    val = np.isin(writers, val_w)
    return ~val, val


def mnist_train_split(data_root: str | Path, val_fraction: float, seed: int
                      ) -> tuple[Path, DigitSet, np.ndarray, np.ndarray]:
    """MNIST train of a ``../shared/data``-style folder and its (train, val) writer masks."""
    path = Path(data_root) / "mnist" / "mnist-train.npz"
    if not path.exists():
        raise ConfigError(f"--data: {path} not found (expected the layout of ../shared/data)")
    ds = load_digit_npz(path, split="")
    if ds.writers is None:
        raise ConfigError(f"{path}: no 'writers' array, cannot split validation by writer")
    tr, va = writer_split(ds.writers, val_fraction, seed)
    return path, ds, tr, va


def framed_digits(ds: DigitSet) -> np.ndarray:
    return frame_digit_images(ds.images)


def _framed_shrunk(ds: DigitSet, share: float, seed: int, size: tuple[float, float],
                   lift: tuple[float, float], zero_boost: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a share of ``ds``'s digits framed by a field body larger than they are.

    Each copy's body is its own ink height over ``uniform(*size)``, its baseline
    ``uniform(*lift)`` bodies below its foot; zeros are drawn ``zero_boost`` times as often.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for d in range(10):
        idx = np.flatnonzero(ds.labels == d)
        k = int(min(1.0, share * (zero_boost if d == 0 else 1.0)) * len(idx))
        for i in rng.choice(idx, size=k, replace=False):
            ink = digit_ink(ds.images[i])
            rows = np.flatnonzero(ink.any(axis=1))
            if rows.size < 2:
                continue
            h = float(rows[-1] - rows[0] + 1)
            body = h / rng.uniform(*size)
            base = rows[-1] + 1 + rng.uniform(*lift) * body
            xs.append(frame(ink, body, base))
            ys.append(d)
    if not xs:
        return np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray(ys, np.int64)


def framed_small_digits(ds: DigitSet, share: float, seed: int,
                        zero_boost: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a share of ``ds``'s digits framed *small*, as a field's smaller digits are.

    `cl` amounts often write the thousands' zeros ("150.000") at half to three quarters
    of the body height, on or a little above the baseline. Framed by the field's body they
    stay small, a size MNIST's digits (always framed full) never have. Each copy is framed
    with a body 1.4 to 2.5 times its own height and a baseline up to a quarter body below it.
    Zeros are drawn ``zero_boost`` times as often. Returns (framed ``float32 (N, 32, 32)``,
    labels).
    """
    return _framed_shrunk(ds, share, seed, (0.4, 0.72), (-0.05, 0.25), zero_boost)


def framed_superscript_digits(ds: DigitSet, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a share of ``ds``'s digits framed as *superscript cents* are in a field.

    US writers raise and shrink the cents ("$25^00", "12 ^50/100"): 0.42 to 0.6 of the body
    high, their foot 0.3 to 0.6 body heights above the baseline (as
    :func:`chequereader.synth.compose_field` writes them). Framed by the field's body
    (:func:`chequereader.framing.frame`) such a digit comes out small and high in the frame.
    Returns (framed ``float32 (N, 32, 32)``, labels).
    """
    return _framed_shrunk(ds, share, seed, (0.42, 0.62), (0.3, 0.6))


def framed_symbols(
    alphabet: Alphabet, per_symbol: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Framed synthetic samples of every non-digit class of ``alphabet``."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, c in enumerate(alphabet.chars):
        if c.isdigit():
            continue
        for s in symbol_samples(c, per_symbol, rng):
            xs.append(frame(s.mask, s.body_height, s.baseline))
            ys.append(k)
    if not xs:
        return np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray(ys, np.int64)


def continental_variants(ds: DigitSet, share: float, seed: int) -> DigitSet:
    """Copies of MNIST 1s with a lead-in flag and 7s with a crossbar, as written in Latin
    America and Europe (ORAND's Uruguayan 1s look like American 7s). Drawn on the real
    handwriting with a stroke of the digit's own width."""
    import cv2

    rng = np.random.default_rng(seed)
    out_i, out_l = [], []
    for d in (1, 7):
        idx = np.flatnonzero(ds.labels == d)
        idx = rng.choice(idx, size=int(len(idx) * share), replace=False)
        for i in idx:
            im = ds.images[i].copy()
            ys, xs = np.nonzero(im > 100)
            if len(ys) < 10:
                continue
            y0, y1 = ys.min(), ys.max()
            h = y1 - y0 + 1
            width = max(1, int(round((im > 100).sum() / max(h, 1) / 1.5)))
            if d == 1:
                top = xs[ys <= y0 + 1].mean()
                ang = rng.uniform(0.25, 0.5) * h
                end = (int(round(top - ang * rng.uniform(0.8, 1.3))), int(round(y0 + ang * rng.uniform(0.6, 1.0))))
                cv2.line(im, (int(round(top)), int(y0)), end, 255, width, cv2.LINE_AA)
            else:
                ym = int(y0 + rng.uniform(0.45, 0.6) * h)
                row = np.flatnonzero(im[ym] > 100)
                if row.size == 0:
                    continue
                cx = row.mean()
                half = rng.uniform(0.18, 0.3) * h
                cv2.line(im, (int(cx - half), ym), (int(cx + half), ym + int(rng.integers(-1, 2))), 255, width, cv2.LINE_AA)
            out_i.append(im)
            out_l.append(d)
    if not out_i:
        return DigitSet(ds.images[:0], ds.labels[:0], None)
    return DigitSet(np.stack(out_i), np.asarray(out_l, np.int64), None)
