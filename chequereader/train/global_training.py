"""Global (whole-field, discriminative) training of LeNet-5 through the decoder (paper Section VI).

Character-level training teaches LeNet-5 what one isolated character looks like. Reading a
field asks more: among all the paths of the segmentation graph, the one that spells the true
amount must win, against merged digits, half digits and separators that the isolated-character
loss rarely saw framed in field context. The discriminative forward criterion trains exactly
that. For a field with written text ``t`` and graph ``G`` composed with the amount grammar::

    C = forward(G constrained to t) - forward(G)          (= -log P(t | field) >= 0)

where ``forward`` is the log-semiring sum of ``exp(-penalty)`` over paths
(:func:`chequereader.decode.forward_criterion`). Its gradient with respect to one arc's class
penalty is the arc's posterior among the label's paths minus its posterior among all paths:
bounded, and zero once the true reading owns all the mass. The gradient flows through the
arc penalties into LeNet-5 (one batch for all candidates of a mini-batch of fields).

Fields are synthetic amounts written with MNIST-train digits (one writer per amount; the
validation writers of character training left out) in the locales' own formats, cleaned,
segmented and turned into graphs by the same code as at inference, so the candidates are the
ones the reader will meet. The character-level MAP loss on distorted isolated characters is
mixed in (``char_weight``) so that the recognizer keeps its isolated-character accuracy.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..amounts import amount_prior, amounts_equal
from ..clean import CleanConfig, clean_field
from ..decode import accepted_seqs, decode, forward_criterion, trie_acceptor, viterbi
from ..errors import ConfigError
from ..grammar import get_grammar
from ..lattice import LatticeConfig, arc_penalties, build_graph, unrestricted
from ..models.lenet5 import LeNet5
from ..models.weights import load_model, read_metadata, save_model
from ..segment import SegmentConfig, segment
from ..synth import (
    LAYOUTS,
    PRINTED_FIELD,
    FieldSynthConfig,
    FontGlyphs,
    GlyphSource,
    MixedPool,
    NpzDigitPool,
    amount_text,
    compose_field,
    find_printed_fonts,
    make_cheque,
    scan_format,
)
from ..types import SegmentationGraph
from .data import load_digit_npz, mnist_train_split
from .recognizer import (
    DISTORTIONS,
    DistortConfig,
    TrainConfig,
    distort,
    evaluate_all,
    load_checkpoint,
    load_sets,
    save_checkpoint,
    trained_on_semeion,
)


@dataclass(frozen=True)
class TrainingField:
    """One training field: its segmentation graph and its label.

    ``graph`` is the reader's :class:`~chequereader.types.SegmentationGraph` with no per-arc
    restriction (:func:`chequereader.lattice.unrestricted`) and no digit penalty: training
    scores an arc with the recognizer's penalties plus ``graph.geometric``. Its candidate
    ``images`` are kept as float16.
    """

    graph: SegmentationGraph
    text: str  # as written, e.g. "$1,234.56"; several written forms joined by LABEL_SEP
    amount: str  # canonical, e.g. "1234.56"
    locale: str

    @property
    def n_arcs(self) -> int:
        return self.graph.n_arcs

    @property
    def labels(self) -> str | list[str]:
        """The label text(s) for the forward criterion: one string, or its written forms."""
        return self.text.split(LABEL_SEP) if LABEL_SEP in self.text else self.text


def training_graph(graph: SegmentationGraph) -> SegmentationGraph:
    """What a :class:`TrainingField` keeps of the reader's graph: the unrestricted arcs,
    their float16 candidates, boxes, geometric penalties and digit penalties (the graph is
    scored as the reader scores it: :func:`chequereader.lattice.arc_penalties`)."""
    g = unrestricted(graph)
    return SegmentationGraph(n_nodes=g.n_nodes, src=g.src, dst=g.dst,
                             images=g.images.astype(np.float16), boxes=g.boxes,
                             geometric=g.geometric.astype(np.float32),
                             digit_penalty=g.digit_penalty)


# Separates the written forms of one training label in TrainingField.text (a zone cut from a
# whole cheque may or may not hold the printed sign before the handwritten amount).
LABEL_SEP = "|"
# Layouts whose located zones global training may use (``cheques``): the handwritten ones.
# Business cheques print their amount in DejaVu Sans Bold, the font held out of training.
CHEQUE_LAYOUTS = {"us": "us_personal", "in": "in_cts", "cl": "cl"}


@dataclass(frozen=True)
class GlobalConfig:
    """Parameters of :func:`train_global`.

    ``char_weight`` weighs the character-level MAP loss (a batch of ``char_batch`` distorted
    isolated characters per step, the data of ``train recognizer --usps --continental 0.5``
    plus ``extra`` files) against the mean field criterion.
    """

    data: str = "../shared/data"
    init: str | None = None  # None = the bundled weights
    fields: int = 20000
    val_fields: int = 600
    epochs: int = 2
    batch_fields: int = 32
    lr: float = 2e-4
    seed: int = 0
    data_seed: int | None = None  # seed of the synthetic training fields (default: seed)
    locales: tuple[str, ...] = ("us", "cl", "in")
    char_weight: float = 1.0
    char_batch: int = 64
    continental: float = 0.5
    usps: bool = True
    semeion_repeat: int = 0  # character loss: Semeion's training rows this many times (0 = none)
    strokes_per_class: int = 0  # character loss: procedural stroke digits (train.strokes)
    europe: float = 0.0  # share of training amounts written with Semeion + stroke digits
    printed: float = 0.0  # share of training amounts printed in a machine font (synth.find_printed_fonts)
    cheques: float = 0.0  # share of training fields cut by locate from whole synthetic cheques (cheque_zone)
    touch: float | None = None  # chance neighbouring handwritten digits touch (None: FieldSynthConfig's 0.2)
    small_zeros: float = 0.0  # chance a cl training amount writes its trailing zeros small
    joined: float = 0.0  # chance a training amount is written joined up (cursive ligatures)
    small_digits: float = 0.0  # character loss: MNIST digits framed small (train.data)
    superscript_digits: float = 0.0  # character loss: MNIST digits framed as raised small cents
    extra: tuple[str, ...] = ()
    # characters cut from the user's own fields (an npz of framed ``images`` and class
    # ``labels``, train.fields.aligned_characters): a second character batch per step from
    # them, distorted the same way, at weight ``own_char_weight``
    own_chars: str | None = None
    own_char_weight: float = 1.0
    distort: str = "elastic"
    val_fraction: float = 0.1
    threads: int = 0
    max_arc_penalty: float = 25.0  # skip fields whose label path needs a worse arc (see label_path_penalty)


def make_field_graphs(
    pool: GlyphSource,
    n: int,
    seed: int,
    locales: Sequence[str] = ("us", "cl", "in"),
    *,
    clean_cfg: CleanConfig = CleanConfig(),
    seg_cfg: SegmentConfig = SegmentConfig(),
    lat_cfg: LatticeConfig = LatticeConfig(),
    field_cfg: FieldSynthConfig = FieldSynthConfig(),
    progress: bool = False,
    small_zeros_cl: float = 0.0,
    joined: float = 0.0,
    printed: float = 0.0,
    printed_pool: GlyphSource | None = None,
    touch: float | None = None,
    cheques: float = 0.0,
    locate_cfg: Any = None,
) -> list[TrainingField]:
    """Write ``n`` synthetic amounts with ``pool``'s digits and build their graphs.

    Locales take turns. The same ``seed`` gives the same fields. ``small_zeros_cl``: the
    chance that a Chilean amount writes its trailing zeros small (``FieldSynthConfig.p_small_zeros``);
    ``joined``: the chance that an amount is written joined up (``FieldSynthConfig.p_joined``);
    ``printed``: the chance that an amount is printed with ``printed_pool``'s fonts (one font
    per amount, laid out as :data:`chequereader.synth.PRINTED_FIELD`) instead of written;
    ``touch``: the chance that a handwritten digit touches or overlaps its left neighbour
    (``FieldSynthConfig.p_touch``; None keeps the config's); ``cheques``: the chance that a
    field is instead the zone the reader's own ``locate`` stage cuts from a whole synthetic
    cheque (:func:`cheque_zone`), scanned as PNG, JPEG or bitonal G4 TIFF.
    """
    from dataclasses import replace

    if joined > 0:
        field_cfg = replace(field_cfg, p_joined=joined)
    if touch is not None:
        field_cfg = replace(field_cfg, p_touch=touch)
    cl_cfg = replace(field_cfg, p_small_zeros=small_zeros_cl) if small_zeros_cl > 0 else field_cfg
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    out: list[TrainingField] = []
    for t in tqdm(range(int(n)), desc="fields", disable=not progress, mininterval=2.0):
        loc = locales[t % len(locales)]
        written, canon = amount_text(rng, loc)
        zone = None
        if cheques > 0 and rng.random() < cheques:
            zone = cheque_zone(pool, loc, np.random.default_rng([seed, t]), locate_cfg)
        if zone is not None:
            image, text, canon = zone
        else:
            if printed > 0 and printed_pool is not None and rng.random() < printed:
                sf = compose_field(written.replace("^", ""), printed_pool, rng, PRINTED_FIELD)
            else:
                sf = compose_field(written, pool, rng, cl_cfg if loc == "cl" else field_cfg)
            image, text = sf.image, sf.text
        g = training_graph(build_graph(segment(clean_field(image, clean_cfg, loc), seg_cfg), lat_cfg, loc))
        out.append(TrainingField(g, text, canon, loc))
    return out


def cheque_zone(pool: GlyphSource, locale: str, rng: np.random.Generator,
                locate_cfg: Any = None) -> tuple[np.ndarray, str, str] | None:
    """A training field as the reader meets it on a whole cheque: ``(zone image, labels, amount)``.

    A synthetic cheque of the locale's handwritten layout (:data:`CHEQUE_LAYOUTS`) is written
    with ``pool``'s digits, scanned (:func:`chequereader.synth.scan_format`) and located by
    :func:`chequereader.locate.locate_fields`; the zone is the candidate among the reader's
    first three that holds the amount's ink best. ``labels`` are the written text and,
    when it does not begin with the layout's printed sign, the sign and the text (the zone
    may hold it), joined by :data:`LABEL_SEP`. None when no candidate holds at least 70% of
    the amount's box, or the one that does is over eight times its area (a zone that
    spans the printed box is wider than a short amount, but not a quarter of the page).
    """
    from ..locate import LocateConfig, locate_fields

    layout = CHEQUE_LAYOUTS[locale]
    written, canon = amount_text(rng, locale)
    ch = make_cheque(layout, written, canon, pool, rng)
    image = scan_format(ch.image, rng)
    zones = locate_fields(image, locate_cfg or LocateConfig())[:3]
    fb = ch.field_box
    fits = [z for z in zones if z.bbox.holds(fb)]
    best = max(fits, key=lambda z: (z.bbox.share_of(fb), z.bbox.iou(fb)), default=None)
    if best is None:
        return None
    sign = LAYOUTS[layout].sign
    texts = [ch.text] + ([sign + ch.text] if not ch.text.startswith(sign) else [])
    return best.image, LABEL_SEP.join(texts), canon


def save_field_graphs(fields: Sequence[TrainingField], path: str | Path) -> None:
    """Store training fields in one ``.npz`` (arcs concatenated, offsets per field)."""
    arcs = np.cumsum([0] + [f.n_arcs for f in fields])
    gs = [f.graph for f in fields]
    np.savez(
        path,
        offsets=arcs,
        n_nodes=np.array([g.n_nodes for g in gs], np.int64),
        src=np.concatenate([g.src for g in gs]) if gs else np.zeros(0, np.int64),
        dst=np.concatenate([g.dst for g in gs]) if gs else np.zeros(0, np.int64),
        images=(np.concatenate([g.images for g in gs]) if gs
                else np.zeros((0, 32, 32), np.float16)),
        boxes=(np.concatenate([np.asarray(g.boxes, np.int32).reshape(-1, 4) for g in gs]) if gs
               else np.zeros((0, 4), np.int32)),
        geometric=(np.concatenate([g.geometric for g in gs]) if gs
                   else np.zeros(0, np.float32)),
        digit_penalty=(np.concatenate([np.zeros(g.n_arcs, np.float32) if g.digit_penalty is None
                                       else g.digit_penalty for g in gs]) if gs
                       else np.zeros(0, np.float32)),
        text=np.array([f.text for f in fields]),
        amount=np.array([f.amount for f in fields]),
        locale=np.array([f.locale for f in fields]),
    )


def load_field_graphs(path: str | Path) -> list[TrainingField]:
    """Read training fields written by :func:`save_field_graphs` (a file from before boxes
    were kept reads with zero boxes: training does not use them; one from before digit
    penalties were kept, with none)."""
    with np.load(path) as f:
        d = {k: f[k] for k in f.files}  # each NpzFile access decompresses anew: read once
    o = d["offsets"]
    boxes = d.get("boxes")
    if boxes is None:
        boxes = np.zeros((int(o[-1]) if len(o) else 0, 4), np.int32)
    digit = d.get("digit_penalty")

    def digit_penalty(k: int) -> np.ndarray | None:
        part = None if digit is None else digit[o[k]:o[k + 1]]
        return part if part is not None and part.any() else None

    return [
        TrainingField(
            SegmentationGraph(n_nodes=int(d["n_nodes"][k]), src=d["src"][o[k]:o[k + 1]],
                              dst=d["dst"][o[k]:o[k + 1]], images=d["images"][o[k]:o[k + 1]],
                              boxes=boxes[o[k]:o[k + 1]], geometric=d["geometric"][o[k]:o[k + 1]],
                              digit_penalty=digit_penalty(k)),
            str(d["text"][k]), str(d["amount"][k]), str(d["locale"][k]))
        for k in range(len(o) - 1)
    ]


def label_path(field: TrainingField, penalties: np.ndarray, tables: Any) -> Any:
    """The best path of the field's graph that spells its label (Viterbi constrained to the
    label's written forms, paper section VI), a :class:`chequereader.decode.Path`; None when
    no path of the graph spells it."""
    seqs = accepted_seqs(tables, field.labels)
    if not seqs:
        return None
    g = field.graph
    path = viterbi(g.n_nodes, g.src, g.dst, penalties, trie_acceptor(tables.alphabet, seqs)[0],
                   tables.alphabet)
    return path if path is not None and path.arcs else None


def label_path_penalty(field: TrainingField, penalties: np.ndarray, tables: Any) -> float:
    """Largest arc penalty on the best path that spells the field's label (``inf``: no path).

    A label path forced through an absurd candidate (a digit read as ','; the real ',' was
    lost as a speck in cleaning) says the graph cannot represent the label: training on it
    would teach LeNet-5 that a '3' may be a comma.
    """
    path = label_path(field, penalties, tables)
    if path is None:
        return math.inf
    return float(max(penalties[a, c] for a, c in zip(path.arcs, path.classes)))


def field_losses(model: LeNet5, graphs: Sequence[TrainingField], tables: dict[str, Any],
                 max_arc_penalty: float = math.inf) -> tuple[torch.Tensor, int]:
    """Sum of the forward criteria of ``graphs`` (one LeNet-5 batch); also how many counted.

    A field whose label has no path in its graph (a true cut missing), or whose best label
    path needs an arc penalised above ``max_arc_penalty`` (see :func:`label_path_penalty`),
    contributes nothing.
    """
    graphs = [g for g in graphs if g.n_arcs]
    if not graphs:
        return torch.zeros(()), 0
    x = torch.from_numpy(np.concatenate([f.graph.images for f in graphs]).astype(np.float32))[:, None]
    pen = model.penalties(model(x))
    total = torch.zeros(())
    counted, off = 0, 0
    for f in graphs:
        g = f.graph
        # the lattice's penalties as the reader adds them (geometric, and per class)
        extra = arc_penalties(g, np.zeros((g.n_arcs, pen.shape[1]), np.float32), model.alphabet.chars)
        p = pen[off: off + g.n_arcs] + torch.from_numpy(extra)
        off += g.n_arcs
        if math.isfinite(max_arc_penalty):
            worst = label_path_penalty(f, p.detach().numpy().astype(np.float64), tables[f.locale])
            if not worst <= max_arc_penalty:
                continue
        try:
            c = forward_criterion(g.n_nodes, g.src, g.dst, p, tables[f.locale], f.labels)
        except ConfigError:
            continue
        if torch.isfinite(c):
            total = total + c
            counted += 1
    return total, counted


@torch.inference_mode()
def field_accuracy(model: LeNet5, graphs: Sequence[TrainingField], tables: dict[str, Any]) -> dict[str, float]:
    """Exact-amount rate of the decoder on ``graphs`` and the mean criterion (finite ones)."""
    model.eval()
    ok, crit, n_crit = 0, 0.0, 0
    for f in graphs:
        g = f.graph
        if not g.n_arcs:
            continue
        pen = arc_penalties(g, model.predict(g.images.astype(np.float32)), model.alphabet.chars)
        d = decode(g, pen, tables[f.locale], amount_prior(f.locale))
        ok += amounts_equal(d.amount, f.amount)
        try:
            c = float(forward_criterion(g.n_nodes, g.src, g.dst, torch.from_numpy(pen),
                                        tables[f.locale], f.labels))
        except ConfigError:
            continue
        if math.isfinite(c):
            crit += c
            n_crit += 1
    return {"exact": round(ok / max(len(graphs), 1), 5),
            "criterion": round(crit / max(n_crit, 1), 4),
            "label_path_found": round(n_crit / max(len(graphs), 1), 5)}


def _european_pool(cfg: GlobalConfig, symbols: Any) -> NpzDigitPool:
    """Semeion's training rows and procedural stroke digits (no writer ids), at 28x28."""
    import cv2

    from .recognizer import semeion_split
    from .strokes import stroke_digits

    sem = semeion_split(load_digit_npz(Path(cfg.data) / "semeion" / "semeion.npz", split=""),
                        TrainConfig().semeion_holdout)[0]
    # Semeion is 16x16 binary: bring it to MNIST's size with soft edges
    big = np.stack([cv2.GaussianBlur(cv2.resize(im, (28, 28), interpolation=cv2.INTER_LINEAR), (3, 3), 0.6)
                    for im in sem.images])
    st = stroke_digits(max(cfg.strokes_per_class, 300), cfg.seed + 5)
    return NpzDigitPool(np.concatenate([big, st.images]), np.concatenate([sem.labels, st.labels]),
                        None, symbols)


def _printed_pool() -> FontGlyphs:
    """Machine fonts for printed training amounts (the cheque benchmark's font held out)."""
    fonts = find_printed_fonts()
    if not fonts:
        raise ConfigError("printed: no printed fonts installed (Debian fonts-dejavu-core, fonts-liberation)")
    return FontGlyphs(fonts, procedural=0.0)


def _pools(cfg: GlobalConfig) -> tuple[GlyphSource, NpzDigitPool]:
    """MNIST-train digits of the training writers (mixed with Semeion and stroke digits for
    a share ``europe`` of the amounts), and of the validation writers."""
    path, ds, _, va = mnist_train_split(cfg.data, cfg.val_fraction, cfg.seed)
    assert ds.writers is not None
    full = NpzDigitPool.from_npz(path)
    assert full.writer_ids is not None
    val_w = np.unique(ds.writers[va])
    keep = ~np.isin(full.writer_ids, val_w)
    mnist = NpzDigitPool(full.images[keep], full.labels[keep], full.writer_ids[keep], full.symbols)
    train: GlyphSource = mnist
    if cfg.europe > 0:
        train = MixedPool([(mnist, 1 - cfg.europe), (_european_pool(cfg, full.symbols), cfg.europe)])
    return (train,
            NpzDigitPool(full.images[~keep], full.labels[~keep], full.writer_ids[~keep], full.symbols))


def train_global(
    cfg: GlobalConfig,
    out: str | Path,
    *,
    cache: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
    graphs: Sequence[TrainingField] | None = None,
    val_graphs: Sequence[TrainingField] | None = None,
    data_note: str | None = None,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Fine-tune LeNet-5 with the forward criterion on synthetic fields; write ``out``.

    ``cache``: an ``.npz`` of training graphs, made on first use (same config, same file).
    ``graphs`` / ``val_graphs``: train and validate on these instead of synthetic fields
    (the user's own labelled scans, :mod:`chequereader.train.fields`), described in the
    weights' metadata by ``data_note``. ``evaluate``: measure the result on MNIST / USPS /
    Semeion / symbols under ``cfg.data`` (off when that data is not at hand).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.distort not in DISTORTIONS:
        raise ConfigError(f"distort: expected one of {sorted(DISTORTIONS)}, got {cfg.distort!r}")
    torch.manual_seed(cfg.seed)
    out = Path(out)
    ckpt = out.with_name(out.name + ".ckpt")
    model = load_model(cfg.init)
    given = graphs is not None
    locales = set(cfg.locales) | {g.locale for g in [*(graphs or []), *(val_graphs or [])]}
    tables = {loc: get_grammar(loc).tables(model.alphabet) for loc in locales}
    graphs, val = _training_graphs(cfg, graphs, val_graphs, cache, progress, log)
    chars = _character_set(cfg, model, log)
    own = _own_characters(cfg, log)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = math.ceil(len(graphs) / cfg.batch_fields)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    start = 0
    if resume and ckpt.exists():
        history, start = load_checkpoint(ckpt, model, opt, sched, gen)
        sched.T_max = cfg.epochs * steps_per_epoch  # a resumed run may ask for more epochs
        log(f"resumed from {ckpt} at epoch {start}")
    else:
        rec0 = {"epoch": 0, "val": field_accuracy(model, val, tables)}
        history.append(rec0)
        log(json.dumps(rec0))
    step = _Step(model, tables, chars, own, DISTORTIONS[cfg.distort], opt, sched, gen)
    for epoch in range(start, cfg.epochs):
        rec = _train_epoch(cfg, step, graphs, val, epoch, steps_per_epoch, progress)
        history.append(rec)
        log(json.dumps(rec))
        save_checkpoint(ckpt, model, opt, sched, gen, history, epoch + 1)
    # Semeion's held-out tail is the figure to report once its other rows were trained on
    # (here or in an earlier stage: the weights' own metadata says which).
    sem_trained = cfg.semeion_repeat > 0 or trained_on_semeion(read_metadata(cfg.init).get("training"))
    metrics = evaluate_all(model, cfg.data,
                           semeion_holdout=TrainConfig().semeion_holdout if sem_trained else None) \
        if evaluate else {}
    metrics["labelled_fields_val" if given else "synthetic_fields_val"] = history[-1]["val"]
    log(json.dumps(metrics))
    save_model(model, out, _weights_metadata(cfg, given, data_note, command, history, metrics))
    return {"history": history, "metrics": metrics, "weights": str(out)}


def _training_graphs(cfg: GlobalConfig, graphs: Sequence[TrainingField] | None,
                     val_graphs: Sequence[TrainingField] | None, cache: str | Path | None,
                     progress: bool, log: Callable[[str], None]
                     ) -> tuple[list[TrainingField], list[TrainingField]]:
    """The training and validation graphs: the ones given, else the cached or newly made
    synthetic fields (the cache written on first use)."""
    given = graphs is not None
    # MNIST-train digits of the training / validation writers, when synthetic fields are made
    pools = _pools(cfg) if not given or val_graphs is None else None
    t0 = time.time()
    if given:
        graphs = list(graphs or [])
    elif cache is not None and Path(cache).exists():
        graphs = load_field_graphs(cache)
        log(f"loaded {len(graphs)} training graphs from {cache}")
    else:
        assert pools is not None
        data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
        graphs = make_field_graphs(pools[0], cfg.fields, data_seed + 1000, cfg.locales,
                                   progress=progress, small_zeros_cl=cfg.small_zeros,
                                   joined=cfg.joined, printed=cfg.printed, touch=cfg.touch,
                                   cheques=cfg.cheques,
                                   printed_pool=_printed_pool() if cfg.printed > 0 else None)
        if cache is not None:
            save_field_graphs(graphs, cache)
    if val_graphs is not None:
        val = list(val_graphs)
    else:
        assert pools is not None
        val = make_field_graphs(pools[1], cfg.val_fields, cfg.seed + 2000, cfg.locales)
    log(f"built {len(graphs)} training and {len(val)} validation graphs in {time.time() - t0:.0f}s")
    return graphs, val


def _character_set(cfg: GlobalConfig, model: LeNet5,
                   log: Callable[[str], None]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The isolated characters ``(x (N, 1, 32, 32), y (N,))`` of the character loss mixed in;
    None when ``char_weight`` is 0."""
    if cfg.char_weight <= 0:
        return None
    tc = TrainConfig(data=cfg.data, usps=cfg.usps, continental=cfg.continental, seed=cfg.seed,
                     extra=cfg.extra, val_fraction=cfg.val_fraction,
                     semeion=cfg.semeion_repeat > 0, semeion_repeat=max(cfg.semeion_repeat, 1),
                     strokes_per_class=cfg.strokes_per_class, small_digits=cfg.small_digits,
                     superscript_digits=cfg.superscript_digits)
    chars = load_sets(tc, model.alphabet, log)
    return torch.from_numpy(chars["x"])[:, None], torch.from_numpy(chars["y"])


def _own_characters(cfg: GlobalConfig,
                    log: Callable[[str], None]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The user's own characters ``(images, labels)`` of ``cfg.own_chars``; None when there
    are none or their weight is 0."""
    if not (cfg.own_chars and cfg.own_char_weight > 0):
        return None
    with np.load(cfg.own_chars) as d:
        own = (torch.from_numpy(d["images"].astype(np.float32))[:, None],
               torch.from_numpy(d["labels"].astype(np.int64)))
    if not len(own[1]):
        return None
    log(f"own characters: {len(own[1])} from {Path(cfg.own_chars).name}")
    return own


@dataclass
class _Step:
    """What one optimisation step of :func:`train_global` works with."""

    model: LeNet5
    tables: dict[str, Any]
    chars: tuple[torch.Tensor, torch.Tensor] | None
    own: tuple[torch.Tensor, torch.Tensor] | None
    dcfg: DistortConfig
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    gen: torch.Generator


def _train_epoch(cfg: GlobalConfig, s: _Step, graphs: list[TrainingField], val: list[TrainingField],
                 epoch: int, steps_per_epoch: int, progress: bool) -> dict[str, Any]:
    """One epoch over ``graphs`` in mini-batches of fields; its history record."""
    from tqdm import tqdm

    model, opt, gen = s.model, s.opt, s.gen
    model.train()
    perm = torch.randperm(len(graphs), generator=gen).tolist()
    tot_f, n_f, tot_c, n_c = 0.0, 0, 0.0, 0
    t0 = time.time()
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}",
               disable=not progress, leave=False, mininterval=2.0)
    for b in bar:
        batch = [graphs[i] for i in perm[b * cfg.batch_fields: (b + 1) * cfg.batch_fields]]
        fl, counted = field_losses(model, batch, s.tables, cfg.max_arc_penalty)
        loss = fl / max(counted, 1)
        if s.chars is not None:
            xc, yc = s.chars
            idx = torch.randint(len(xc), (cfg.char_batch,), generator=gen)
            cl = model.loss(model(distort(xc[idx], s.dcfg, gen)), yc[idx])
            loss = loss + cfg.char_weight * cl
            tot_c += float(cl.detach()) * cfg.char_batch
            n_c += cfg.char_batch
        if s.own is not None:
            own = s.own
            idx = torch.randint(len(own[1]), (cfg.char_batch,), generator=gen)
            loss = loss + cfg.own_char_weight * model.loss(model(distort(own[0][idx], s.dcfg, gen)),
                                                           own[1][idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        s.sched.step()
        tot_f += float(fl.detach())
        n_f += counted
        if b % 20 == 0:
            bar.set_postfix(field=f"{tot_f / max(n_f, 1):.3f}", char=f"{tot_c / max(n_c, 1):.3f}")
    return {
        "epoch": epoch + 1,
        "field_criterion": round(tot_f / max(n_f, 1), 4),
        "char_loss": round(tot_c / max(n_c, 1), 5),
        "fields_counted": n_f,
        "val": field_accuracy(model, val, s.tables),
        "seconds": round(time.time() - t0, 1),
    }


def _weights_metadata(cfg: GlobalConfig, given: bool, data_note: str | None, command: str | None,
                      history: list[dict[str, Any]], metrics: dict[str, Any]) -> dict[str, Any]:
    """The metadata saved with the trained weights."""
    return {
        "training": {
            "data": _training_data_notes(cfg, given, data_note),
            "init": cfg.init or "bundled lenet5-default.pt",
            "global_config": json.loads(json.dumps(asdict(cfg))),
            "command": command or " ".join(shlex.quote(a) for a in sys.argv),
            "history": history,
            "pretraining": read_metadata(cfg.init).get("training", {}),
        },
        "metrics": metrics,
    }


def _training_data_notes(cfg: GlobalConfig, given: bool, data_note: str | None) -> list[str]:
    """The weights' metadata ``training.data``: what the fields and characters were."""
    return (
        ([f"global: {data_note}, forward criterion (paper section VI)"] if data_note else [])
        + ([] if given else ["global: synthetic amount fields written with MNIST train digits "
                 "(validation writers left out)"
                 + (f", {cfg.europe:.0%} of them with Semeion (training rows) and stroke digits"
                    if cfg.europe > 0 else "")
                 + (f", {cfg.printed:.0%} of them printed in DejaVu / Liberation fonts "
                    "(DejaVu Sans Bold held out)" if cfg.printed > 0 else "")
                 + (f", {cfg.cheques:.0%} of them zones located on whole synthetic cheques "
                    "(PNG / JPEG / G4 scans; business layout left out)" if cfg.cheques > 0 else "")
                 + (f", digits touching with chance {cfg.touch:g}" if cfg.touch is not None else "")
                 + (", joined up" if cfg.joined > 0 else "")
                 + (", small trailing zeros (cl)" if cfg.small_zeros > 0 else "")
                 + ", forward criterion (paper section VI)"])
        + ([] if cfg.char_weight <= 0 else [
                 "character loss: MNIST train (writer-split)"
                 + (", USPS train" if cfg.usps else "")
                 + (f", Semeion training rows x{cfg.semeion_repeat}" if cfg.semeion_repeat else "")
                 + (", procedural stroke digits" if cfg.strokes_per_class else "")
                 + (", MNIST digits framed small" if cfg.small_digits else "")
                 + (", MNIST digits framed as raised small cents" if cfg.superscript_digits else "")
                 + ", synthetic symbols (procedural + Debian handwriting fonts)"])
        + [f"extra: {Path(e).name}" for e in cfg.extra]
    )


__all__ = [
    "GlobalConfig", "TrainingField", "field_accuracy", "field_losses", "load_field_graphs",
    "make_field_graphs", "save_field_graphs", "train_global", "training_graph",
]
