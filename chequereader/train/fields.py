"""Global training on a user's own labelled scans (a labels manifest, docs/design.md section 6).

docs/design.md section 8: most of the real read rate is lost where LeNet-5, taught on MNIST, meets
real cheque ink; the paper's answer was training on fields cut from real cheques. This module
turns a manifest of the user's scans (``file,amount``: field crops, or whole cheques whose
amount zone the reader locates), or X9.37 cash letters (each item's front image, labelled
by its record-25 amount as keyed by the bank), into segmentation graphs built by the reader's own stages,
then fine-tunes LeNet-5 on them with the discriminative forward criterion of
:mod:`chequereader.train.global_training` (paper section VI), the character loss on MNIST
mixed in when its data is at hand.

The manifest gives the canonical amount, not the text as written. The label of a field is
therefore every way its locale's grammar may write that amount (:func:`written_forms`:
``15000`` in ``cl`` is ``15000``, ``15.000``, ``$15.000.-``, ...): the criterion raises the
mass of all paths that spell the amount, whatever separators the writer used.

For whole cheques the zone trained on is, among the first ``max_fields`` zones that
:func:`chequereader.locate.locate_fields` proposes, the one whose graph spells the amount best
under the starting weights (smallest label-path penalty); a page where no zone can spell it
is left out and counted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..amounts import CURRENCY_SIGNS, written_forms  # written_forms: re-exported
from ..errors import ChequeReaderError, ConfigError
from ..grammar import get_grammar
from ..io.manifest import LabelRow, read_manifest
from .global_training import (
    LABEL_SEP,
    TrainingField,
    label_path,
    label_path_penalty,
    training_graph,
)


@dataclass(frozen=True)
class LabelledItem:
    """One labelled scan: a manifest row (``page`` None: the file's first page is read) or
    an X9 item (its front image, its record-25 amount)."""

    file: str
    amount: str
    page: Any = None  # chequereader.types.Page when already decoded


def x9_items(path: str | Path) -> tuple[list[LabelledItem], list[tuple[str, str]]]:
    """The items of an X9.37 cash letter as labelled scans: front image + record-25 amount.

    Items without an amount (deposit tickets) or whose image cannot be decoded are returned
    in the second list with the reason.
    """
    from ..io.images import load_pages

    items: list[LabelledItem] = []
    skipped: list[tuple[str, str]] = []
    for page in load_pages(path, source=str(path)):
        name = f"{path}#item{page.meta.get('x9_item', page.index) + 1}"
        amount = page.meta.get("x9_amount")
        if page.meta.get("error"):
            skipped.append((name, str(page.meta["error"])))
        elif not amount:
            skipped.append((name, "no record-25 amount (a deposit ticket?)"))
        else:
            items.append(LabelledItem(name, str(amount), page))
    return items, skipped


@dataclass(frozen=True)
class LabelledGraphs:
    """Graphs built from labelled scans, and the scans left out with the reason."""

    graphs: list[TrainingField]
    rows: list[LabelRow | LabelledItem]  # the scan of each graph
    skipped: list[tuple[str, str]]  # (file, reason)
    # the cleaned field each graph was built from (chequereader.types.CleanField), in order;
    # empty when not kept
    cleaned: list[Any] = dataclasses.field(default_factory=list)


def labelled_graphs(
    rows: Sequence[LabelRow | LabelledItem],
    locale: str,
    *,
    field: bool,
    weights: str | None = None,
    max_fields: int = 3,
    log: Callable[[str], None] | None = None,
) -> LabelledGraphs:
    """Build the training graph of every manifest row (the first page of each file).

    ``field=True``: the images are amount-field crops. Otherwise whole cheques: the zone is
    the located candidate that spells the amount best under ``weights`` (see module doc).
    A file that cannot be read, an amount the locale cannot write, or a page where no zone
    can spell the amount is skipped, with its reason.
    """
    from ..clean import clean_field
    from ..config import PipelineConfig
    from ..io.images import load_pages
    from ..lattice import arc_penalties, build_graph, unrestricted
    from ..locate import locate_fields
    from ..models.weights import load_model
    from ..segment import segment

    cfg = PipelineConfig(weights=weights)
    model = load_model(weights)
    tables = get_grammar(locale).tables(model.alphabet)
    graphs: list[TrainingField] = []
    kept: list[LabelRow | LabelledItem] = []
    cleaned: list[Any] = []
    skipped: list[tuple[str, str]] = []
    for row in rows:
        forms = written_forms(row.amount, locale)
        if not forms:
            skipped.append((row.file, f"the {locale} grammar cannot write {row.amount}"))
            continue
        try:
            page = getattr(row, "page", None) or load_pages(row.file, limits=cfg.limits, source=row.file)[0]
        except ChequeReaderError as exc:
            skipped.append((row.file, str(exc)))
            continue
        # an X9 item is a whole cheque whatever ``field`` says
        whole = not field or getattr(row, "page", None) is not None
        images = [f.image for f in locate_fields(page.image, cfg.locate)[:max_fields]] if whole else [page.image]
        best: tuple[float, TrainingField, Any] | None = None
        for img in images:
            cf = clean_field(img, cfg.clean, locale)
            g = unrestricted(build_graph(segment(cf, cfg.segment), cfg.lattice, locale))
            fg = TrainingField(training_graph(g), LABEL_SEP.join(forms), row.amount, locale)
            if not fg.n_arcs:
                continue
            if not whole:  # a field crop is the field
                best = (0.0, fg, cf)
                break
            pen = arc_penalties(g, model.predict(g.images), model.alphabet.chars)
            worst = label_path_penalty(fg, pen.astype(np.float64), tables)
            if math.isfinite(worst) and (best is None or worst < best[0]):
                best = (worst, fg, cf)
        if best is None:
            skipped.append((row.file, "no zone of the page spells the amount" if whole
                            else "the field holds no ink"))
            continue
        graphs.append(best[1])
        cleaned.append(best[2])
        kept.append(row)
    if log is not None:
        log(f"{len(graphs)} training fields from {len(rows)} rows ({len(skipped)} skipped)")
    return LabelledGraphs(graphs, kept, skipped, cleaned)


def aligned_paths(graphs: Sequence[TrainingField], model: Any, tables: dict[str, Any]
                  ) -> list[tuple[int, Any, np.ndarray, Any]]:
    """``(k, graph, penalties, path)`` of every graph ``graphs[k]`` whose label can be
    aligned through its lattice under ``model`` (the best path that spells it: Viterbi
    constrained to the label), with the graph's arc penalties."""
    from ..lattice import arc_penalties

    out = []
    for k, f in enumerate(graphs):
        g = f.graph
        if not g.n_arcs:
            continue
        pen = arc_penalties(g, model.predict(g.images.astype(np.float32)).astype(np.float64),
                            model.alphabet.chars)
        path = label_path(f, pen, tables[f.locale])
        if path is not None:
            out.append((k, g, pen, path))
    return out


def aligned_characters(graphs: Sequence[TrainingField], model: Any, tables: dict[str, Any],
                       max_penalty: float = 25.0, cleaned: Sequence[Any] | None = None,
                       aligned: Sequence[tuple[int, Any, np.ndarray, Any]] | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The characters of the user's fields, cut where the label says they are.

    Each graph's label is aligned through its lattice (the best path that spells it, under
    ``model``: Viterbi constrained to the label, as the paper's global training does), and
    every arc of that path gives one framed character with the class the label puts there:
    the arc's candidate image, or, for a digit when ``cleaned`` gives the graph's cleaned
    field (:class:`chequereader.types.CleanField`, one per graph), all the ink of the
    cleaned field inside the arc's box (:func:`box_crop`).
    Returns ``images float32 (N, 32, 32)`` and ``labels int64 (N,)``. Characters whose
    aligned penalty exceeds ``max_penalty`` are left out (a path forced through a candidate
    that looks nothing like its class is more likely a bad cut than a strange glyph).
    ``aligned``: :func:`aligned_paths` of the same arguments, when already computed.
    """
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for k, g, pen, path in aligned if aligned is not None else aligned_paths(graphs, model, tables):
        cf = cleaned[k] if cleaned is not None and k < len(cleaned) else None
        for a, c in zip(path.arcs, path.classes):
            if pen[a, c] <= max_penalty:
                digit = model.alphabet.chars[c].isdigit()
                img = box_crop(cf, g.boxes[a]) if cf is not None and digit else None
                xs.append(g.images[a].astype(np.float32) if img is None else img)
                ys.append(int(c))
    if not xs:
        return np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray(ys, np.int64)


def rubbish_arcs(graph: Any, path_arcs: Sequence[int], digit: Sequence[bool],
                 part: float = 0.6) -> list[int]:
    """Arcs of ``graph`` that the label's aligned path (``path_arcs``, ``digit``: whether
    the label puts a digit on each) says are not one character:

    * an arc holding two or more whole digits of the path (two digits written touching,
      "00" read as one wide 0);
    * an arc holding only some of one digit's pieces, at most ``part`` of that digit's box
      in area (half a cut-open 0 read as a 1).

    An arc with a path arc's span (the same pieces framed otherwise) and an arc mixing a
    digit with a separator or with part of a neighbour are left out: ambiguous.
    """
    src, dst, boxes = graph.src, graph.dst, graph.boxes
    spans = [(int(src[a]), int(dst[a])) for a in path_arcs]
    owner: dict[int, int] = {}
    for k, (s0, d0) in enumerate(spans):
        for p in range(s0, d0):
            owner[p] = k
    span_set = set(spans)
    out: list[int] = []
    for a in range(graph.n_arcs):
        s0, d0 = int(src[a]), int(dst[a])
        if (s0, d0) in span_set:
            continue
        ks = {owner.get(p, -1) for p in range(s0, d0)}
        if -1 in ks:
            continue
        if len(ks) >= 2:
            whole = all(spans[k][0] >= s0 and spans[k][1] <= d0 for k in ks)
            if whole and all(digit[k] for k in ks):
                out.append(a)
        else:
            k = ks.pop()
            if digit[k]:
                _, _, w, h = (float(v) for v in boxes[a])
                _, _, wk, hk = (float(v) for v in boxes[path_arcs[k]])
                if w * h <= part * wk * hk:
                    out.append(a)
    return out


def aligned_rubbish(graphs: Sequence[TrainingField], model: Any, tables: dict[str, Any],
                    max_penalty: float = 25.0, limit: int | None = None, seed: int = 0,
                    aligned: Sequence[tuple[int, Any, np.ndarray, Any]] | None = None) -> np.ndarray:
    """Candidates of the user's fields that are not one character (:func:`rubbish_arcs`),
    as the lattice frames them ``float32 (N, 32, 32)``, from the fields whose label aligns
    with every character's penalty at most ``max_penalty`` (a doubtful alignment teaches
    nothing sure). At most ``limit`` of them, drawn at random (``seed``). ``aligned``:
    :func:`aligned_paths` of the same arguments, when already computed."""
    xs: list[np.ndarray] = []
    for _k, g, pen, path in aligned if aligned is not None else aligned_paths(graphs, model, tables):
        if any(pen[a, c] > max_penalty for a, c in zip(path.arcs, path.classes)):
            continue
        digit = [model.alphabet.chars[c].isdigit() for c in path.classes]
        for a in rubbish_arcs(g, list(path.arcs), digit):
            xs.append(g.images[a].astype(np.float32))
    if not xs:
        return np.zeros((0, 32, 32), np.float32)
    x = np.stack(xs)
    if limit is not None and len(x) > limit:
        x = x[np.random.default_rng(seed).permutation(len(x))[:limit]]
    return x


def box_crop(cleaned: Any, box: Any) -> np.ndarray | None:
    """All the ink of a cleaned field (:class:`chequereader.types.CleanField`) inside
    ``box`` (``x, y, w, h``), framed in field context as the lattice frames a candidate;
    None when the box holds no ink.

    An arc's candidate holds its own pieces only; the box also holds what the cuts gave to
    the neighbours (a touching stroke, a separator's dot), as a digit cut by a box drawn
    around it does. A character stage taught on these crops reads both kinds of cut better
    than one taught on the candidates alone.
    """
    from ..framing import frame

    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(x, 0), max(y, 0)
    m = cleaned.binary[y0: y + h, x0: x + w]
    if not m.size or not m.any():
        return None
    return frame(m, cleaned.body_height, cleaned.baseline - y0)


def box_characters(rows: Sequence[Any], locale: str, clean_cfg: Any = None
                   ) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """Digits cut by the boxes a manifest gives (a ``digit_boxes`` column: a JSON list of
    ``[digit, x, y, w, h]`` in the image's pixels, as ORAND-CAR's labels have), framed in
    field context as the lattice frames its candidates (the cleaned field's body height and
    baseline). Returns ``images float32 (N, 32, 32)``, ``labels int64 (N,)`` and the indices
    of the rows that gave boxes. Rows without the column, or whose boxes do not parse, give
    nothing (their characters come from the alignment instead)."""
    import json

    from ..clean import CleanConfig, clean_field
    from ..io.images import load_pages

    cc = clean_cfg or CleanConfig()
    xs: list[np.ndarray] = []
    ys: list[int] = []
    used: set[int] = set()
    for i, row in enumerate(rows):
        raw = getattr(row, "extra", {}).get("digit_boxes") if hasattr(row, "extra") else None
        if not raw:
            continue
        try:
            boxes = [(int(d), int(x), int(y), int(w), int(h)) for d, x, y, w, h in json.loads(raw)]
            page = load_pages(row.file, source=row.file)[0]
        except (ValueError, TypeError, ChequeReaderError):
            continue
        cf = clean_field(page.image, cc, locale)
        got = []
        for d, x, y, w, h in boxes:
            img = box_crop(cf, (x, y, w, h)) if 0 <= d <= 9 else None
            if img is not None:
                got.append((img, d))
        if got:
            used.add(i)
            xs += [g[0] for g in got]
            ys += [g[1] for g in got]
    if not xs:
        return np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64), used
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64), used


def character_stage(model: Any, x: np.ndarray, y: np.ndarray, *, data: str | None, epochs: int,
                    lr: float, mnist_weight: float = 0.5, seed: int = 0, batch: int = 64,
                    log: Callable[[str], None] = print,
                    distortion: str = "elastic") -> Any:
    """Fine-tune ``model`` on characters of the user's own fields (``x``, ``y``), distorted
    (``distortion``: a name of :data:`chequereader.train.recognizer.DISTORTIONS`), with a
    batch of MNIST-train digits at ``mnist_weight`` per step when ``data``
    holds MNIST (so isolated-digit accuracy is kept); Adam with cosine decay. In place;
    returns the model."""
    import torch

    from .data import framed_digits, load_digit_npz
    from .recognizer import DISTORTIONS, distort

    gen = torch.Generator().manual_seed(seed)
    xo = torch.from_numpy(np.asarray(x, np.float32))[:, None]
    yo = torch.from_numpy(np.asarray(y, np.int64))
    xm = ym = None
    mnist = Path(data) / "mnist" / "mnist-train.npz" if data else None
    if mnist_weight > 0 and mnist is not None and mnist.is_file():
        ds = load_digit_npz(mnist, split="")
        pick = np.random.default_rng(seed).permutation(len(ds.labels))[:20000]
        xm = torch.from_numpy(framed_digits(ds)[pick])[:, None]
        ym = torch.from_numpy(ds.labels[pick].astype(np.int64))
    steps = max(1, epochs * max(1, len(yo) // batch))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    if distortion not in DISTORTIONS:
        raise ConfigError(f"distortion: expected one of {sorted(DISTORTIONS)}, got {distortion!r}")
    dcfg = DISTORTIONS[distortion]
    model.train()
    total = 0.0
    for _ in range(steps):
        idx = torch.randint(len(yo), (batch,), generator=gen)
        loss = model.loss(model(distort(xo[idx], dcfg, gen)), yo[idx])
        if xm is not None and ym is not None:
            j = torch.randint(len(ym), (batch,), generator=gen)
            loss = loss + mnist_weight * model.loss(model(distort(xm[j], dcfg, gen)), ym[j])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach())
    model.eval()
    log(f"character stage: {steps} steps on {len(yo)} own characters, mean loss {total / steps:.4f}")
    return model


def split_rows(rows: Sequence[Any], val_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded random split of manifest rows: (training, validation)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction: expected 0 <= x < 1, got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = int(round(len(rows) * val_fraction))
    val = sorted(order[:n_val].tolist())
    tr = sorted(order[n_val:].tolist())
    return [rows[i] for i in tr], [rows[i] for i in val]


def manifest_rows(manifests: Sequence[str | Path]
                   ) -> tuple[list[LabelRow | LabelledItem], list[tuple[str, str]]]:
    """The labelled rows of ``manifests`` (CSV manifests or X9 cash letters) and the X9
    items left out, with why."""
    from ..io.x937 import is_x937

    rows: list[LabelRow | LabelledItem] = []
    x9_skipped: list[tuple[str, str]] = []
    for m in manifests:
        if is_x937(m):
            items, bad = x9_items(m)
            rows += items
            x9_skipped += bad
        else:
            rows += read_manifest(m)
    return rows, x9_skipped


def _own_characters(model: Any, tr: LabelledGraphs, locale: str, *, digit_boxes: bool,
                    max_arc_penalty: float, rubbish: float, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """The training fields' own characters ``(x, y)``: every label aligned through its
    lattice, digits cut from the cleaned field at their arc's box (:func:`box_crop`), symbols
    as the lattice frames them; with ``digit_boxes``, also the digits cut by the rows' own
    boxes (:func:`box_characters`). Also returns the number of digits from boxes and of rows
    they came from."""
    tables0 = {locale: get_grammar(locale).tables(model.alphabet)}
    if digit_boxes:
        bx, by, boxed = box_characters(tr.rows, locale)
    else:
        bx, by, boxed = np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64), set()
    aligned = aligned_paths(tr.graphs, model, tables0)
    ax, ay = aligned_characters(tr.graphs, model, tables0, max_arc_penalty,
                                cleaned=tr.cleaned or None, aligned=aligned)
    rx = aligned_rubbish(tr.graphs, model, tables0, max_arc_penalty, limit=int(rubbish * (len(by) + len(ay))),
                         seed=seed, aligned=aligned) if rubbish > 0 else np.zeros((0, 32, 32), np.float32)
    return (np.concatenate([bx, ax, rx]), np.concatenate([by, ay, np.full(len(rx), -1, np.int64)]),
            len(by), len(boxed), len(rx))


def _character_prep(tr: LabelledGraphs, out: str | Path, *, locale: str, init: str | None,
                    data: str | None, threads: int, own_char_weight: float, char_epochs: int,
                    char_lr: float, seed: int, digit_boxes: bool, max_arc_penalty: float,
                    log: Callable[[str], None], rubbish: float, char_distort: str
                    ) -> tuple[str | None, str | None, str | None]:
    """The user's own characters before global training: the character stage's weights and
    the characters for the own-character loss, written beside ``out``. Returns their paths
    (None when not written) and the weights global training starts from."""
    import torch

    from ..models.weights import load_model, save_model

    own_path: str | None = None
    stage_path: str | None = None
    global_init = init
    if threads:  # the character stage runs before global training sets them
        torch.set_num_threads(threads)

    m0 = load_model(init)
    own_x, own_y, n_boxed, boxed_rows, n_rub = _own_characters(
        m0, tr, locale, digit_boxes=digit_boxes, max_arc_penalty=max_arc_penalty, rubbish=rubbish, seed=seed)
    log(f"{len(own_y) - n_rub} own characters: {len(own_y) - n_boxed - n_rub} aligned through the lattices"
        + (f", {n_boxed} digits from the boxes of {boxed_rows} rows" if digit_boxes else "")
        + (f"; {n_rub} candidates that are not one character" if n_rub else ""))
    if len(own_y) and char_epochs > 0:
        character_stage(m0, own_x, own_y, data=data, epochs=char_epochs,
                        lr=char_lr, seed=seed, log=log, distortion=char_distort)
        stage_path = str(Path(out).with_name(Path(out).name + ".chars.pt"))
        save_model(m0, stage_path, {"training": f"character stage from {init or 'default'}"})
        global_init = stage_path
    if len(own_y) and own_char_weight > 0:
        own_path = str(Path(out).with_name(Path(out).name + ".chars.npz"))
        np.savez_compressed(own_path, images=own_x.astype(np.float16), labels=own_y)
    return own_path, stage_path, global_init


def train_fields(
    manifests: Sequence[str | Path],
    out: str | Path,
    *,
    locale: str,
    field: bool,
    init: str | None = None,
    data: str | None = None,
    epochs: int = 10,
    lr: float = 2e-4,
    batch_fields: int = 16,
    char_weight: float = 1.0,
    val_fraction: float = 0.1,
    seed: int = 0,
    threads: int = 0,
    max_arc_penalty: float = 25.0,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
    command: str | None = None,
    own_char_weight: float = 1.0,
    char_epochs: int = 40,
    char_lr: float = 2e-3,
    digit_boxes: bool = True,
    rubbish: float = 0.5,
    char_distort: str = "elastic",
) -> dict[str, Any]:
    """Fine-tune LeNet-5 on the user's labelled scans; write ``out``.

    ``data``: a folder laid out like ``../shared/data`` for the character loss (MNIST,
    USPS); ``None`` or ``char_weight=0`` trains on the fields alone. ``max_arc_penalty``:
    a field whose best label path needs a candidate penalised above it (under the weights
    of the moment) counts for nothing in that step (label noise, a digit the cuts cannot
    isolate; ``inf`` keeps all). ``resume``: continue from ``out``'s checkpoint
    (``OUT.ckpt``, written after every epoch; the same manifests, seed and split).
    The user's own characters come from aligning each label through its lattice
    (:func:`aligned_characters`): each digit is the ink of the cleaned field inside its
    aligned arc's box, each symbol the candidate the reader itself will score. With
    ``digit_boxes`` (the default), the digits of rows that have a ``digit_boxes`` column are
    also cut by those boxes (:func:`box_characters`); rows without one are aligned only.
    With ``rubbish`` > 0, the candidates the alignment says are not one character
    (:func:`aligned_rubbish`: two whole digits in one candidate, a small part of one) join
    them as rubbish examples, at most ``rubbish`` times as many as the characters. They are used twice: first a character
    stage (:func:`character_stage`: ``char_epochs`` passes at ``char_lr``, distorted as
    ``char_distort`` says; 0 skips it), then,
    during global training, a character loss at ``own_char_weight`` (0 turns it off). Returns
    the history
    (validation exact amount per epoch, on the held-out ``val_fraction`` of the rows), the
    weights' metrics and the skipped rows.
    """
    from .global_training import GlobalConfig, train_global

    if locale not in CURRENCY_SIGNS:
        raise ConfigError(f"locale: expected one of {sorted(CURRENCY_SIGNS)}, got {locale!r}")
    rows, x9_skipped = manifest_rows(manifests)
    if not rows:
        raise ConfigError("no labelled scans in " + ", ".join(str(m) for m in manifests))
    tr_rows, va_rows = split_rows(rows, val_fraction, seed)
    tr = labelled_graphs(tr_rows, locale, field=field, weights=init, log=log)
    va = labelled_graphs(va_rows, locale, field=field, weights=init, log=log) if va_rows else None
    if not tr.graphs:
        raise ConfigError("no training field could be built: " + "; ".join(f"{f}: {r}" for f, r in tr.skipped[:5]))
    use_chars = char_weight > 0 and data is not None and (Path(data) / "mnist" / "mnist-train.npz").is_file()
    if char_weight > 0 and not use_chars:
        log("character loss off: no MNIST under --data")
    own_path: str | None = None
    stage_path: str | None = None
    global_init = init
    if (own_char_weight > 0 or char_epochs > 0) and not resume:
        own_path, stage_path, global_init = _character_prep(
            tr, out, locale=locale, init=init, data=data if use_chars else None, threads=threads,
            own_char_weight=own_char_weight, char_epochs=char_epochs, char_lr=char_lr, seed=seed,
            digit_boxes=digit_boxes, max_arc_penalty=max_arc_penalty, log=log, rubbish=rubbish,
            char_distort=char_distort)
    cfg = GlobalConfig(data=str(data or "."), init=global_init, fields=len(tr.graphs), epochs=epochs, lr=lr,
                       batch_fields=batch_fields, seed=seed, locales=(locale,),
                       char_weight=char_weight if use_chars else 0.0, threads=threads,
                       val_fields=len(va.graphs) if va else 0, max_arc_penalty=max_arc_penalty,
                       own_chars=own_path, own_char_weight=own_char_weight)
    note = (f"your labelled {'field crops' if field else 'cheques (located zones)'}: "
            f"{len(tr.graphs)} fields from {', '.join(Path(m).name for m in manifests)}, "
            f"locale {locale}, labels = every written form of the amount")
    try:
        res = train_global(cfg, out, graphs=tr.graphs, val_graphs=va.graphs if va else [],
                           data_note=note, evaluate=use_chars, resume=resume, progress=progress,
                           log=log, command=command)
    finally:
        for tmp in (own_path, stage_path):
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    res["skipped"] = x9_skipped + tr.skipped + (va.skipped if va else [])
    res["fields"] = {"train": len(tr.graphs), "val": len(va.graphs) if va else 0}
    return res


__all__ = ["LabelledGraphs", "LabelledItem", "aligned_characters", "aligned_paths", "aligned_rubbish",
           "box_characters", "character_stage", "rubbish_arcs",
           "labelled_graphs", "split_rows", "train_fields", "written_forms",
           "x9_items"]
