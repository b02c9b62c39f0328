"""Training the SDNN (:mod:`chequereader.models.sdnn`): amounts composed from MNIST digits, then
a user's own labelled fields.

The network learns from whole strings: each training field is a strip and its digit string,
and the loss is the forward penalty of the network's output graph constrained to the string
(CTC), so no character boxes are needed.

Composed amounts (:class:`AmountStrings`): the digits of one MNIST writer, in amounts shaped
like the ones on cheques (trailing zeros, 1 to 7 digits), side by side with gaps from
overlapping to wide, each digit slanted, scaled and moved up or down a little, with the marks
a writer adds around them (thousands dots and commas, ``-`` and ``=`` endings, a leading
stroke), small raised zeros at the end, and thicker or thinner strokes. The bundled weights
are trained on these alone (the shared data's MNIST; no real cheque).

A user's labelled fields (``chequereader train sdnn --fields labels.csv``) are cleaned by the
reader's own stage and mixed with composed amounts, distorted (slant, scale, stroke) at every
step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..sdnn import BLANK, strip
from ..symbols import draw_symbol
from ..types import CleanField

__all__ = ["AmountStrings", "distorted_strip", "train_sdnn", "field_labels"]


class AmountStrings:
    """Composed amounts from digit images ``images`` ``uint8 (N, 28, 28)`` (ink bright),
    ``labels`` and ``writers`` (one writer's digits per amount when given)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, writers: np.ndarray | None,
                 seed: int = 0) -> None:
        self.images = images
        self.labels = np.asarray(labels, np.int64)
        self.rng = np.random.default_rng(seed)
        wr = np.zeros(len(labels), np.int64) if writers is None else np.asarray(writers, np.int64)
        self.by: dict[int, dict[int, np.ndarray]] = {}
        for w in np.unique(wr):
            idx = np.flatnonzero(wr == w)
            self.by[int(w)] = {d: idx[self.labels[idx] == d] for d in range(10)}
        self.all = {d: np.flatnonzero(self.labels == d) for d in range(10)}
        self.writers = list(self.by)

    def amount(self) -> str:
        """A digit string shaped like a cheque amount."""
        r = self.rng
        n = int(r.choice([1, 2, 3, 4, 5, 6, 7], p=[.03, .1, .25, .3, .2, .1, .02]))
        k = int(r.integers(1, n + 1)) if r.random() < 0.5 else int(r.integers(1, min(n, 2) + 1))
        s = str(int(r.integers(1, 10))) + "".join(str(int(r.integers(0, 10))) for _ in range(k - 1))
        return s + "0" * (n - k)

    def _digit(self, writer: int, d: int) -> np.ndarray:
        r = self.rng
        pool = self.by[writer][d]
        if not len(pool):
            pool = self.all[d]
        g = self.images[int(pool[int(r.integers(len(pool)))])]
        ys, xs = np.nonzero(g > 60)
        if not len(ys):
            return np.zeros((20, 8), np.uint8)
        g = g[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        sc = r.uniform(0.85, 1.15)
        h = max(6, int(round(g.shape[0] * sc)))
        w = max(2, int(round(g.shape[1] * sc * r.uniform(0.85, 1.2))))
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
        sh = r.uniform(-0.25, 0.25)
        if abs(sh) > 0.05:
            m = np.array([[1, sh, max(0.0, -sh * h)], [0, 1, 0]], np.float32)
            g = cv2.warpAffine(g, m, (w + int(abs(sh) * h) + 1, h))
        return g

    def sample(self) -> tuple[np.ndarray, str]:
        """One composed amount as the network's input (:func:`chequereader.sdnn.strip` of
        :meth:`field`), and its digits."""
        cf, s = self.field()
        return strip(cf), s

    def tokens(self, s: str) -> list[tuple[str, str, float, float]]:
        """What is written, left to right: ``(kind, value, scale, lift)`` with kind ``d``
        (a digit, part of the label), ``s`` (a symbol, not) or ``m`` (a drawn mark: ``lead``,
        ``dash``, ``equals``); scale and lift (upwards) in body heights."""
        r = self.rng
        out: list[tuple[str, str, float, float]] = []
        lead = r.random()
        if lead < 0.15:  # a currency sign, sometimes with asterisks
            out.append(("s", "$", 1.0, 0.0))
            if r.random() < 0.3:
                out += [("s", "*", 1.0, 0.0)] * int(r.integers(1, 4))
        elif lead < 0.2:
            out.append(("s", "₹", 1.0, 0.0))
        elif lead < 0.24:
            out += [("s", "*", 1.0, 0.0)] * int(r.integers(1, 4))
        elif lead < 0.36:
            out.append(("m", "lead", 1.0, 0.0))
        nz = len(s) - len(s.rstrip("0"))
        small = nz > 0 and r.random() < 0.25  # the last zeros written small (and raised)
        n_small = min(nz, 2 if r.random() < 0.7 else nz) if small else 0
        f, lift = r.uniform(0.45, 0.75), r.uniform(0, 0.4)
        sep = r.random() < 0.5
        mark = "," if r.random() < 0.3 else "."
        for i, c in enumerate(s):
            out.append(("d", c, f, lift) if i >= len(s) - n_small else ("d", c, 1.0, 0.0))
            left = len(s) - 1 - i
            if sep and left and left % 3 == 0:
                out.append(("s", mark, 1.0, 0.0))
        cents = r.random()
        if cents < 0.2:  # cents after a point: 12.50
            out.append(("s", ".", 1.0, 0.0))
            out += [("d", c, 1.0, 0.0) for c in self._cents()]
        elif cents < 0.32:  # cents over 100: 12 50/100, sometimes small and raised
            sc, up = (r.uniform(0.55, 0.8), r.uniform(0.0, 0.4)) if r.random() < 0.5 else (1.0, 0.0)
            out += [("d", c, sc, up) for c in self._cents()]
            out.append(("s", "/", sc, up))
            out += [("d", c, sc, up) for c in "100"]
        end = r.random()
        if end < 0.08:
            out.append(("m", "equals", 1.0, 0.0))
        elif end < 0.3:
            out.append(("m", "dash", 1.0, 0.0))
        elif end < 0.4:  # the Indian "/-"
            out += [("s", "/", 1.0, 0.0), ("m", "dash", 1.0, 0.0)]
        return out

    def _cents(self) -> str:
        r = self.rng
        return "00" if r.random() < 0.5 else f"{int(r.integers(0, 100)):02d}"

    def field(self) -> tuple[CleanField, str]:
        """One composed amount as a clean field, and its digits (what the SDNN is to read:
        signs, separators, asterisks and endings are drawn but not in the label)."""
        r = self.rng
        tokens = self.tokens(self.amount())
        wr = self.writers[int(r.integers(len(self.writers)))]
        glyphs = {i: self._digit(wr, int(v)) for i, (k, v, _, _) in enumerate(tokens) if k == "d"}
        body = float(np.median([g.shape[0] for g in glyphs.values()]))
        width = sum(g.shape[1] for g in glyphs.values()) + int(12 + 1.6 * body) * (len(tokens) + 4)
        canvas = np.zeros((int(body * 2.4) + 20, width), np.uint8)
        base = int(body * 1.5) + 6
        th = max(1, int(body * 0.08))
        x = int(r.integers(2, 8))
        label = ""
        for i, (kind, v, sc, lift) in enumerate(tokens):
            x = min(x, canvas.shape[1] - int(1.6 * body) - 2)
            if kind == "d":
                g = glyphs[i]
                if sc != 1.0:
                    g = cv2.resize(g, (max(2, int(g.shape[1] * sc)), max(3, int(g.shape[0] * sc))))
                label += v
            elif kind == "s":
                sym = draw_symbol(v, r, body * sc)
                ys, xs = np.nonzero(sym.mask)
                if not len(xs):
                    continue
                g = sym.mask[:, xs.min(): xs.max() + 1].astype(np.uint8) * 255
                # the symbol's own baseline on the canvas's, cropped to the canvas
                top = int(base - lift * body - sym.baseline)
                lo, hi = max(0, -top), min(g.shape[0], canvas.shape[0] - top)
                if hi > lo:
                    canvas[top + lo: top + hi, x: x + g.shape[1]] |= g[lo:hi]
                x += g.shape[1] + int(r.uniform(0.05, 0.3) * body)
                continue
            else:
                ln = int(body * r.uniform(0.3, 0.6))
                if v == "lead":
                    if r.random() < 0.5:
                        cv2.line(canvas, (x, base), (x + ln // 2, base - 2 * ln), 255, th)
                    else:
                        cv2.line(canvas, (x, base - int(body * 0.5)), (x + 2 * ln, base - int(body * 0.5)), 255, th)
                    x += ln + int(body * 0.3)
                else:
                    x += int(body * 0.2)
                    ys_ = ((int(base - body * 0.6), int(base - body * 0.35)) if v == "equals"
                           else (int(base - body * r.uniform(0.3, 0.6)),))
                    for yy in ys_:
                        cv2.line(canvas, (x, yy), (x + ln, yy + int(r.integers(-2, 3))), 255, th)
                    x += ln + 2
                continue
            h, w = g.shape
            y0 = int(base - h + r.normal(0, 1.2) - lift * body)
            y0 = min(max(0, y0), canvas.shape[0] - h)
            canvas[y0:y0 + h, x:x + w] = np.maximum(canvas[y0:y0 + h, x:x + w], g)
            x += w
            nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
            if nxt == "d" and r.random() < 0.85:  # from overlapping to apart
                x += int(round(r.uniform(-0.2, 0.35) * body))
            else:
                x += int(r.uniform(0.15, 0.8) * body)
            x = max(x, 1)
        canvas = canvas[:, : x + 4]
        k = r.random()
        if k < 0.3:
            canvas = cv2.dilate(canvas, np.ones((2, 2), np.uint8))
        elif k < 0.4:
            canvas = cv2.dilate(canvas, np.ones((3, 3), np.uint8))
        elif k < 0.5:
            canvas = cv2.erode(canvas, np.ones((2, 2), np.uint8))
        return CleanField(canvas > 100, canvas, body, float(base)), label


def distorted_strip(cf: CleanField, rng: np.random.Generator) -> np.ndarray:
    """:func:`chequereader.sdnn.strip` of ``cf`` slanted, scaled, thickened or thinned a little,
    its body and baseline estimates moved a little (a fresh distortion per call)."""
    b: Any = np.asarray(cf.binary, np.uint8) * 255
    h, w = b.shape
    sh, sx, sy = rng.uniform(-0.15, 0.15), rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)
    m = np.array([[sx, sh, max(0.0, -sh * h)], [0, sy, 0]], np.float32)
    b = cv2.warpAffine(b, m, (int(w * sx + abs(sh) * h) + 2, int(h * sy) + 1))
    k = rng.random()
    if k < 0.2:
        b = cv2.dilate(b, np.ones((2, 2), np.uint8))
    elif k < 0.3:
        b = cv2.erode(b, np.ones((2, 2), np.uint8))
    body = float(cf.body_height) * sy * rng.uniform(0.92, 1.08)
    base = float(cf.baseline) * sy + rng.normal(0, 0.05 * float(cf.body_height))
    return strip(replace(cf, binary=b > 100, grey=b, body_height=body, baseline=base))


def field_labels(cleaned: Sequence[CleanField], texts: Sequence[str]) -> list[tuple[CleanField, str]]:
    """The training pairs of labelled fields: each clean field with the digits of its text
    as written; fields whose text has no digit are left out."""
    from ..sdnn import digits_of

    return [(cf, digits_of(t)) for cf, t in zip(cleaned, texts) if digits_of(t)]


def _batch(strips: Sequence[np.ndarray]) -> tuple[Any, Any]:
    import torch

    from ..sdnn import HEIGHT, STRIDE

    w = max(s.shape[1] for s in strips)
    x = np.zeros((len(strips), 1, HEIGHT, w), np.float32)
    for i, s in enumerate(strips):
        x[i, 0, :, : s.shape[1]] = s / 255.0
    return torch.from_numpy(x), torch.tensor([s.shape[1] // STRIDE for s in strips])


def train_sdnn(out: str | Path, *, digits: tuple[np.ndarray, np.ndarray, np.ndarray | None],
               steps: int = 4000, fields: Sequence[tuple[CleanField, str]] = (),
               init: str | Path | None = None, field_share: float = 0.75, batch_size: int = 32,
               lr: float | None = None, seed: int = 0, threads: int | None = None,
               channels: tuple[int, ...] | None = None, metadata: dict[str, Any] | None = None,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (``init`` None) or fine-tune the SDNN and write ``out`` (``.npz`` and ``.pt``).

    ``digits``: ``(images, labels, writers)`` the composed amounts are drawn from. ``fields``:
    a user's ``(clean field, digits)`` pairs, ``field_share`` of each batch when given.
    ``lr``: the one-cycle schedule's peak (default 2e-3 from scratch, 5e-4 fine-tuning).
    """
    import torch
    from torch import nn

    from ..models.sdnn import SDNN, load_sdnn, save_sdnn

    if steps < 1 or batch_size < 1:
        raise ConfigError(f"train sdnn: steps {steps} and batch size {batch_size} must be >= 1")
    if not 0.0 <= field_share <= 1.0:
        raise ConfigError(f"train sdnn: field share {field_share} not in [0, 1]")
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    synth = AmountStrings(*digits, seed=seed)
    if init is not None:
        net = load_sdnn(init)
    else:
        net = SDNN(channels) if channels else SDNN()
    peak = lr if lr is not None else (5e-4 if init is not None else 2e-3)
    opt = torch.optim.AdamW(net.parameters(), peak, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, peak, total_steps=steps, pct_start=0.1)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    n_real = int(round(batch_size * field_share)) if fields else 0
    net.train()
    t0 = time.time()
    running = math.nan
    for step in range(steps):
        batch = [synth.sample() for _ in range(batch_size - n_real)]
        for j in rng.integers(0, len(fields), n_real) if n_real else ():
            cf, s = fields[int(j)]
            batch.append((distorted_strip(cf, rng), s))
        x, lens = _batch([s for s, _ in batch])
        target = torch.tensor([int(c) for _, t in batch for c in t])
        tlen = torch.tensor([len(t) for _, t in batch])
        lp = net(x)
        loss = ctc(lp, target, lens.clamp(max=lp.shape[0]), tlen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        v = float(loss.item())
        running = v if math.isnan(running) else 0.98 * running + 0.02 * v
        if log is not None and (step % 200 == 0 or step == steps - 1):
            log(f"step {step + 1}/{steps}: loss {running:.3f} ({time.time() - t0:.0f} s)")
    net.eval()
    meta = {"steps": steps, "fields": len(fields), "seed": seed,
            "init": str(init) if init is not None else None, **(metadata or {})}
    path = save_sdnn(net, out, meta)
    return {"out": str(path), "steps": steps, "fields": len(fields), "loss": running,
            "seconds": time.time() - t0}


def labelled_fields(manifests: Sequence[str | Path], locale: str, *, field: bool,
                    init: str | Path | None = None, weights: str | None = None,
                    log: Callable[[str], None] | None = None
                    ) -> tuple[list[tuple[CleanField, str]], list[tuple[str, str]]]:
    """The ``(clean field, digits)`` pairs of labelled scans (CSV manifests or X9 cash
    letters), cleaned and (whole cheques) located as :func:`chequereader.train.fields.labelled_graphs`
    does, and the scans left out with why. A label is the amount's digits as written: where
    the locale writes an amount with different digits (``12.00`` as ``12`` or ``12.00``), the
    form the starting network ``init`` (the bundled one by default) finds most likely."""
    from ..amounts import written_forms
    from ..sdnn import FieldSDNN, SDNNConfig, digits_of
    from .fields import labelled_graphs, manifest_rows

    rows, skipped = manifest_rows(manifests)
    got = labelled_graphs(rows, locale, field=field, weights=weights, log=log)
    skipped = list(skipped) + list(got.skipped)
    reader = FieldSDNN(SDNNConfig(weights=str(init) if init is not None else "default"))
    pairs: list[tuple[CleanField, str]] = []
    for cf, row in zip(got.cleaned, got.rows):
        forms = sorted({digits_of(f) for f in written_forms(row.amount, locale)} - {""})
        if not forms:
            skipped.append((row.file, "the amount has no digit"))
            continue
        if len(forms) > 1:
            r = reader.read(cf)
            forms.sort(key=r.penalty)
        pairs.append((cf, forms[0]))
    return pairs, skipped
