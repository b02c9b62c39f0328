"""Mine framed training candidates from lattices of synthetic digit strings (issue 3).

LeNet-5 must give high penalties to candidates that are not one whole character: half a
digit, two digits, a digit plus a separator, noise. Those only exist inside segmentation
graphs, so we build graphs over synthetic amount fields whose digits are real handwriting
(MNIST train writers; one writer per amount) and label every arc:

* the arc's ink is (almost) exactly one true character -> that character's class, framed in
  field context (body height and baseline from ``clean``, like at inference time);
* the arc holds a small part of a character, or parts of two -> rubbish (label ``-1``);
* in between -> left out (ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..clean import CleanConfig, clean_field
from ..lattice import LatticeConfig, build_graph, unrestricted
from ..models.alphabet import DEFAULT, Alphabet
from ..segment import SegmentConfig, segment
from ..synth import FieldSynthConfig, NpzDigitPool, SynthField, amount_text, compose_field


@dataclass(frozen=True)
class MiningConfig:
    whole: float = 0.85  # share of a char's ink the arc must cover to be that char...
    pure: float = 0.9  # ...and share of the arc's ink that must come from it
    part: float = 0.6  # below this coverage of every char (or mixed chars): rubbish


def label_arcs(sf: SynthField, seg, graph, alphabet: Alphabet, cfg: MiningConfig = MiningConfig()) -> np.ndarray:
    """Class index per arc, ``-1`` rubbish, ``-2`` ambiguous (left out)."""
    lab = seg.labels
    n = seg.n_pieces
    owner = np.full(lab.shape, -1, np.int32)
    # Ink pixel -> the char whose box holds it (nearest box centre where boxes overlap).
    ys, xs = np.nonzero(lab > 0)
    if len(ys) == 0 or not sf.chars:
        return np.full(graph.n_arcs, -2, np.int64)
    cx = np.array([b.x + b.w / 2 for _, b in sf.chars])
    cy = np.array([b.y + b.h / 2 for _, b in sf.chars])
    inside = np.stack([(xs >= b.x) & (xs < b.x2) & (ys >= b.y) & (ys < b.y2) for _, b in sf.chars], 1)
    dist = (xs[:, None] - cx[None]) ** 2 + (ys[:, None] - cy[None]) ** 2
    dist = np.where(inside, dist, np.inf)
    own = np.where(np.isfinite(dist.min(1)), dist.argmin(1), -1)
    owner[ys, xs] = own
    k = len(sf.chars)
    # piece x char ink counts
    pc = np.zeros((n + 1, k + 1), np.int64)
    np.add.at(pc, (lab[ys, xs], own + 1), 1)
    pc = pc[1:]  # drop background row; column 0 = ink owned by no char
    char_total = pc[:, 1:].sum(0)
    out = np.full(graph.n_arcs, -2, np.int64)
    for a in range(graph.n_arcs):
        i, j = int(graph.src[a]), int(graph.dst[a])
        counts = pc[i:j].sum(0)
        tot = counts.sum()
        if tot == 0:
            out[a] = -1
            continue
        c = int(counts[1:].argmax())
        share_arc = counts[1 + c] / tot
        cover = counts[1 + c] / max(char_total[c], 1)
        ch = sf.chars[c][0]
        if cover >= cfg.whole and share_arc >= cfg.pure:
            out[a] = alphabet.index(ch) if ch in alphabet else -2
        elif cover < cfg.part or share_arc < 0.7:
            out[a] = -1
    return out


def mine(
    digits_npz: str | Path,
    n_fields: int,
    seed: int = 0,
    locales: tuple[str, ...] = ("us", "cl", "in"),
    alphabet: Alphabet = DEFAULT,
    exclude_writers: np.ndarray | None = None,
    clean_cfg: CleanConfig = CleanConfig(),
    seg_cfg: SegmentConfig = SegmentConfig(),
    lat_cfg: LatticeConfig = LatticeConfig(),
    field_cfg: FieldSynthConfig = FieldSynthConfig(),
) -> dict[str, np.ndarray]:
    """Framed candidates ``images (N, 32, 32)`` and ``labels (N,)`` (-1 = rubbish)."""
    pool = NpzDigitPool.from_npz(digits_npz)
    if exclude_writers is not None and pool.writer_ids is not None:
        # Validation writers stay unseen, here as in character training.
        keep = ~np.isin(pool.writer_ids, exclude_writers)
        pool = NpzDigitPool(pool.images[keep], pool.labels[keep], pool.writer_ids[keep], pool.symbols)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for t in range(n_fields):
        loc = locales[t % len(locales)]
        written, _ = amount_text(rng, loc)
        sf = compose_field(written, pool, rng, field_cfg)
        cf = clean_field(sf.image, clean_cfg, loc)
        seg = segment(cf, seg_cfg)
        g = unrestricted(build_graph(seg, lat_cfg, loc))
        lab = label_arcs(sf, seg, g, alphabet)
        keep = lab >= -1
        xs.append(g.images[keep])
        ys.append(lab[keep])
    return {"images": np.concatenate(xs).astype(np.float32), "labels": np.concatenate(ys)}
