"""Viterbi, forward and n-best over the product (segmentation graph x amount grammar).

docs/design.md section 3. The segmentation graph is a DAG over nodes ``0..n_nodes-1`` given as arc
arrays ``src``, ``dst`` with ``src < dst`` (so node order is a topological order), and
``penalties[a, c]`` is the penalty (``-log p``, lower is better, ``inf`` = forbidden) of
reading class ``c`` of the alphabet on arc ``a``. The grammar is a deterministic acceptor
(:class:`chequereader.grammar.GrammarTables`). A product node is ``(graph node, grammar
state)``; a path of the product is a path of the graph whose class string the grammar accepts.

One dynamic programme (:func:`_dp`) runs over the product in node order in either semiring:

* tropical ``(min, +)``: :func:`viterbi`, the best path;
* log (``-logsumexp`` of penalties): :func:`forward`, the forward penalty
  ``-log sum_paths exp(-penalty(path))``.

Because the grammar is deterministic, each graph path is counted once by the forward score.
For each node it is vectorised over the node's incoming arcs and all grammar transitions.

Tie-breaks (deterministic): :func:`viterbi` ends at the lowest final node, then lowest final
grammar state, among equal penalties; walking back it takes the lowest arc index, then the
lowest class index, then the lowest grammar state. :func:`nbest` orders equal-penalty texts by
the order in which their candidates were generated (arcs by index, then source entries, then
transitions) and puts the start node's empty path first.

The search alone lives here: :func:`decode` takes the field's graph
(:class:`chequereader.types.SegmentationGraph`), its arc scores, the grammar tables and the
locale's amount prior (:class:`chequereader.amounts.AmountPrior`, which says how amounts are
weighed and what else a text may stand for), with the search settings (:class:`DecodeConfig`),
and returns a :class:`Decoded`. Values derived from the frozen grammar tables are cached in
:mod:`chequereader._cache`, not in the objects.

Confidence (:func:`decode`): the posterior of an amount is ``exp(-(F_amount - F_all))``, with
``F_all`` the forward penalty of graph x grammar (:attr:`Decoded.forward`) and ``F_amount`` the
forward penalty of the paths whose string maps to that amount. ``F_amount`` is approximated by
the ``-logsumexp`` of the string-constrained forward penalties of the distinct texts with that
amount found in a deeper n-best (``DecodeConfig.depth`` texts, doubled up to ``max_depth``
until ``nbest`` distinct amounts are seen), computed with ``F_all`` in one forward pass over
graph x (grammar | trie of those texts).
It is a lower bound of the true posterior: texts outside the explored list are left out.
``F_all`` may also count one "unreadable" path of penalty ``DecodeConfig.unreadable_penalty``
(off by default), the field-level analogue of the rubbish mass ``exp(-j)`` of LeNet-5's MAP
criterion: when every reading is poor the confidence then falls instead of staying near 1.
Texts are weighted by their form (``AmountPrior.text_penalty``), amounts by the amount prior
(``AmountPrior.prior_penalty``) and renormalised; a text may stand for two amounts
(``AmountPrior.readings``: a US amount whose decimal point was lost), whose weights then share
that text's mass. Last, each amount's posterior is multiplied by the chance that every
character of its best path is a character and not rubbish, ``prod 1 / (1 + exp(penalty - j))``
with ``j = DecodeConfig.rubbish_penalty`` (LeNet-5's MAP constant): the posterior compares
readings with each other, this factor compares each character with "no character at all". An
amount longer than its locale's ``free_digits`` is discounted once more by the size part of
its prior (``AmountPrior.magnitude``, ``magnitude_confidence``): a lone reading of a date or a
MICR line as a nine-digit amount has no rival, yet is not likely.

Examples
--------
>>> import numpy as np
>>> from chequereader.grammar import get_grammar
>>> from chequereader.models.alphabet import DEFAULT
>>> pen = np.full((2, len(DEFAULT)), 9.0)
>>> pen[0, DEFAULT.index("1")] = 0.1; pen[1, DEFAULT.index("2")] = 0.2
>>> viterbi(3, [0, 1], [1, 2], pen, get_grammar("us"), DEFAULT).text
'12'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._cache import derived as _derived
from ._validate import check_range
from .amounts import AmountPrior, digits_of
from .errors import ConfigError
from .grammar import (
    Grammar,
    GrammarTables,
    canonical_amount,
    get_grammar,
    read_accepted,
)
from .models.alphabet import Alphabet
from .types import Alternative, SegmentationGraph

if TYPE_CHECKING:  # pragma: no cover
    import torch

INF = math.inf
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_HASH_SEED = np.uint64(0x84222325CBF29CE4)


@dataclass(frozen=True)
class Path:
    """One path of the product: graph arcs, their classes, the text and the total penalty."""

    arcs: tuple[int, ...]
    classes: tuple[int, ...]
    text: str
    penalty: float


@dataclass(frozen=True)
class Decoded:
    """Result of :func:`decode` for one field.

    ``amount`` is canonical (None when no path is accepted); ``confidence`` its posterior in
    ``[0, 1]`` times the chance that its characters are characters (the rubbish factor,
    :class:`DecodeConfig`); ``alternatives`` the n-best distinct amounts by decreasing
    confidence (the first is the chosen one); ``path`` the best path spelling ``text``;
    ``posterior`` the chosen amount's posterior alone, without the rubbish factor (the reader
    compares located zones with it: a zone is a field or not whatever its characters'
    shapes); ``forward`` the forward penalty ``F_all`` of graph x grammar the posteriors are
    relative to (with the unreadable path when :attr:`DecodeConfig.unreadable_penalty` is
    finite; ``inf`` when no path is accepted). ``proposed``: the amount is a second
    reader's proposal (``decode(..., proposal=...)``) weighed mostly with the mass of the
    texts the search did not reach, not with its own paths; it is never accepted, and
    ``path`` is its best path when the graph has one, else None.
    """

    status: Literal["ok", "rejected"]
    text: str
    amount: str | None
    confidence: float
    alternatives: tuple[Alternative, ...]
    path: Path | None
    posterior: float = 0.0
    forward: float = INF
    # the texts the search weighed (for decoding the same field again with a second
    # reader's penalties without searching again: ``decode(..., searched=...)``)
    searched: Searched | None = dc_field(default=None, repr=False, compare=False)
    proposed: bool = False


@dataclass(frozen=True)
class Searched:
    """The texts :func:`decode` weighed for one field: their best paths (by increasing
    penalty), each text's amount, the forward penalty ``f_all`` of graph x grammar and each
    text's forward penalty ``f_text``. Valid for the same graph, scores and grammar only."""

    paths: tuple[Path, ...]
    amount_of: dict[str, str]
    f_all: float
    f_text: np.ndarray


#: The former name of :class:`Decoded`.
Decoding = Decoded


@dataclass(frozen=True)
class DecodeConfig:
    """Search settings of :func:`decode` (the amount priors are each locale's
    :class:`chequereader.amounts.AmountPrior`).

    ``nbest``: distinct amounts to report (a pipeline's ``[decode] nbest``);
    ``reject_threshold``: the decoder's own threshold, below which a field is rejected (the
    reader decodes with its threshold in force,
    :attr:`chequereader.config.PipelineConfig.threshold`, which is this one only when no
    calibration is active and the user set none; the reader also stops decoding a page's
    further field candidates once one reaches this one). A pipeline TOML does not set it: its
    ``reject_threshold`` is top-level. ``depth``/``max_depth``: distinct texts explored for the confidence;
    ``beam``: n-best drops partial paths whose best completion is more than ``beam`` above
    the best path (``exp(-30)`` posterior mass is below anything that matters);
    ``confidence_beam``: the first search looks only this far above the best path (texts
    beyond carry under ``exp(-8)`` of its mass) and widens towards ``beam`` only while fewer
    than ``nbest`` distinct amounts are found.
    """

    nbest: int = 5
    reject_threshold: float = 0.5
    depth: int = 20
    max_depth: int = 80
    beam: float = 30.0
    confidence_beam: float = 8.0
    # "Unreadable" hypothesis: one extra path from start to final with this penalty, the
    # field-level analogue of the MAP criterion's rubbish mass exp(-j). The posterior of an
    # amount is relative to the other paths; with a finite value, when every path is poor
    # (its penalty well above this) the confidence falls instead of staying near 1. Off
    # (inf) by default: it helped fields read alone, but on whole cheques it rejected many
    # fields and made the reader decode more zones.
    unreadable_penalty: float = math.inf
    # Rubbish: any candidate may be no character at all (half a digit, two digits, noise),
    # with mass exp(-rubbish_penalty) against its class's exp(-penalty) -- LeNet-5's MAP
    # criterion (paper section III-C: the constant j) kept at reading time. An amount's
    # confidence is then its posterior times the chance that every character of its best path
    # is a character, prod 1 / (1 + exp(penalty - j)): a reading whose characters all match
    # poorly (faint writing lost in a bitonal scan, a zone that holds no amount) is no longer
    # reported as sure because no other reading competes. 20 = the bundled weights' j (their
    # metadata: rubbish_j); inf turns it off.
    rubbish_penalty: float = 20.0

    def __post_init__(self) -> None:
        check_range(self.nbest, "nbest", 1, 100)
        check_range(self.reject_threshold, "reject_threshold", 0.0, 1.0)


# ----------------------------------------------------------------------------------------
# Graph preparation and validation


@dataclass(frozen=True)
class _Graph:
    n: int
    src: np.ndarray  # arcs sorted by dst (stable), int64 (A,)
    dst: np.ndarray
    arc_id: np.ndarray  # original index of each sorted arc
    ptr: np.ndarray  # incoming arcs of node j: ptr[j]:ptr[j+1]
    starts: np.ndarray
    finals: np.ndarray

    @property
    def n_arcs(self) -> int:
        return int(len(self.src))


def _node_array(x: Any, default: int, n: int, name: str) -> np.ndarray:
    if n == 0:
        return np.zeros(0, np.int64)
    if x is None:  # the default node: nothing to check
        return np.array([default], np.int64)
    arr = np.atleast_1d(np.asarray(x))
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ConfigError(f"{name}: expected a 1-D integer array of nodes, got {arr!r}")
    arr = np.unique(arr.astype(np.int64))
    if arr.size and (arr[0] < 0 or arr[-1] >= n):
        raise ConfigError(f"{name}: nodes {arr.tolist()} outside 0..{n - 1}")
    return arr


def _prepare_graph(
    n_nodes: int, src: Any, dst: Any, n_pen_rows: int, starts: Any, finals: Any
) -> _Graph:
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes < 0:
        raise ConfigError(f"n_nodes: expected a non-negative int, got {n_nodes!r}")
    n = int(n_nodes)
    s = np.asarray(src).reshape(-1) if np.size(src) else np.zeros(0, np.int64)
    d = np.asarray(dst).reshape(-1) if np.size(dst) else np.zeros(0, np.int64)
    for name, arr in (("src", s), ("dst", d)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(f"{name}: expected integer node indices, got dtype {arr.dtype}")
    if len(s) != len(d) or len(s) != n_pen_rows:
        raise ConfigError(
            f"src, dst, penalties: {len(s)} sources, {len(d)} destinations and "
            f"{n_pen_rows} penalty rows do not match"
        )
    s = s.astype(np.int64)
    d = d.astype(np.int64)
    if len(s) and (s.min() < 0 or d.max() >= n or (s >= d).any()):
        raise ConfigError(f"src, dst: arcs must satisfy 0 <= src < dst < n_nodes={n}")
    order = np.argsort(d, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    if n:
        ptr[1:] = np.cumsum(np.bincount(d, minlength=n))
    return _Graph(
        n=n,
        src=s[order],
        dst=d[order],
        arc_id=order.astype(np.int64),
        ptr=ptr,
        starts=_node_array(starts, 0, n, "starts"),
        finals=_node_array(finals, n - 1, n, "finals"),
    )


def _prepare(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: Any,
    alphabet: Alphabet,
    starts: Any,
    finals: Any,
) -> tuple[_Graph, np.ndarray]:
    pen = np.asarray(penalties, dtype=np.float64)
    if pen.size == 0:
        pen = pen.reshape(0, len(alphabet))
    if pen.ndim != 2 or pen.shape[1] != len(alphabet):
        raise ConfigError(
            f"penalties: expected shape (n_arcs, {len(alphabet)}) for alphabet "
            f"{alphabet.string!r}, got {pen.shape}"
        )
    if not np.isfinite(pen).all() and (np.isnan(pen).any() or np.isneginf(pen).any()):
        raise ConfigError("penalties: NaN or -inf values (use +inf for a forbidden class)")
    g = _prepare_graph(n_nodes, src, dst, pen.shape[0], starts, finals)
    return g, pen[g.arc_id]


# ----------------------------------------------------------------------------------------
# The generic dynamic programme


def _neg_lse_grouped(
    cand: np.ndarray, seg_starts: np.ndarray, seg_of_t: np.ndarray
) -> np.ndarray:
    """``-logsumexp(-cand)`` over rows and over the column groups starting at ``seg_starts``.

    An all-``inf`` group gives ``log(0)``: callers silence numpy's divide warning.
    """
    ms = np.minimum.reduceat(cand.min(0), seg_starts)
    safe = np.where(np.isfinite(ms), ms, 0.0)
    e = np.exp(safe[seg_of_t] - cand).sum(0)
    return safe - np.log(np.add.reduceat(e, seg_starts))


def _neg_lse(x: np.ndarray) -> float:
    if x.size == 0:
        return INF
    m = float(x.min())
    if not math.isfinite(m):
        return INF
    return m - math.log(float(np.exp(m - x).sum()))


def _new_run(*keys: np.ndarray) -> np.ndarray:
    """Mask of the positions where any of the (sorted) ``keys`` changes; the first is True."""
    m = np.empty(len(keys[0]), bool)
    if len(m):
        m[0] = True
        acc = keys[0][1:] != keys[0][:-1]
        for key in keys[1:]:
            acc |= key[1:] != key[:-1]
        m[1:] = acc
    return m


def _pairs(tt: GrammarTables) -> tuple[np.ndarray, ...]:
    """Transitions grouped by ``(src, dst)`` state pair, pairs sorted by ``dst``.

    Returns ``(t_order, t_starts, psrc, pdst, seg_starts, seg_states, seg_of_p)``: the
    transitions of pair ``k`` are ``t_order[t_starts[k]:t_starts[k+1]]``; pairs of destination
    run ``r`` start at ``seg_starts[r]``, ``seg_states[r]`` is that destination and
    ``seg_of_p[k]`` the run of pair ``k``. A DFA over digits has ~4x fewer pairs than
    transitions (all ten digits usually lead to the same state), so the per-node work of the
    programme shrinks by as much.
    """
    cache = _derived(tt).get("pairs")
    if cache is not None:
        return cache
    t_order = np.lexsort((tt.src, tt.dst))
    s, d = tt.src[t_order], tt.dst[t_order]
    if len(t_order) == 0:
        e = np.zeros(0, np.int64)
        out: tuple[np.ndarray, ...] = (e, e, e, e, e, e, e)
    else:
        new = _new_run(s, d)
        t_starts = np.flatnonzero(new)
        psrc, pdst = s[t_starts], d[t_starts]
        newd = _new_run(pdst)
        seg_starts = np.flatnonzero(newd)
        out = (t_order, t_starts, psrc, pdst, seg_starts, pdst[seg_starts], np.cumsum(newd) - 1)
    _derived(tt)["pairs"] = out
    return out


def _pair_penalties(tt: GrammarTables, pen: np.ndarray, log: bool) -> np.ndarray:
    """``Q (A, K)``: each arc's penalty of moving along state pair ``k`` (any of its classes)."""
    t_order, t_starts = _pairs(tt)[:2]
    G = pen[:, tt.cls[t_order]]
    if len(t_starts) == len(t_order):  # one class per pair (e.g. a trie): nothing to reduce
        return G
    if not log:
        return np.minimum.reduceat(G, t_starts, axis=1)
    m = np.minimum.reduceat(G, t_starts, axis=1)
    safe = np.where(np.isfinite(m), m, 0.0)
    cache = _derived(tt)
    pair_of_t = cache.get("pair_of_t")
    if pair_of_t is None:
        pair_of_t = cache["pair_of_t"] = np.repeat(
            np.arange(len(t_starts)), np.diff(np.append(t_starts, len(t_order)))
        )
    e = np.add.reduceat(np.exp(safe[:, pair_of_t] - G), t_starts, axis=1)
    with np.errstate(divide="ignore"):
        return safe - np.log(e)


def _dp(
    g: _Graph,
    pen: np.ndarray,
    tt: GrammarTables,
    log: bool,
    start_states: Sequence[int] | None = None,
    Q: np.ndarray | None = None,
) -> np.ndarray:
    """Forward scores ``alpha (n_nodes, n_states)`` over the product, tropical or log.

    ``start_states`` (default ``[tt.start]``) lets one pass run several disjoint automata.
    ``Q``: :func:`_pair_penalties` of ``tt`` and ``pen`` when the caller has it.
    """
    alpha = np.full((g.n, tt.n_states), INF)
    if g.n == 0:
        return alpha
    ss = np.asarray([tt.start] if start_states is None else start_states, np.int64)
    alpha[np.ix_(g.starts, ss)] = 0.0
    if tt.n_transitions == 0 or g.n_arcs == 0:
        return alpha
    _, _, psrc, _, seg_starts, seg_states, seg_of_p = _pairs(tt)
    if Q is None:
        Q = _pair_penalties(tt, pen, log)
    # alpha[src[a], psrc[k]] for arc a and pair k, as one flat gather (a 2-D fancy index
    # costs several times more on these small arrays).
    flat = alpha.reshape(-1)
    at = g.src[:, None] * tt.n_states + psrc[None, :]
    is_start = np.zeros(g.n, bool)
    is_start[g.starts] = True
    ptr, start_l = g.ptr.tolist(), is_start.tolist()
    with np.errstate(divide="ignore"):
        for j in range(1, g.n):
            lo, hi = ptr[j], ptr[j + 1]
            if lo == hi:
                continue
            cand = flat[at[lo:hi]] + Q[lo:hi]
            if log:
                red = _neg_lse_grouped(cand, seg_starts, seg_of_p)
            else:
                red = np.minimum.reduceat(cand.min(0), seg_starts)
            row = alpha[j]
            if start_l[j]:
                cur = row[seg_states]
                red = np.minimum(cur, red) if not log else -np.logaddexp(-cur, -red)
            row[seg_states] = red
    return alpha


def _final_values(g: _Graph, tt: GrammarTables, alpha: np.ndarray) -> np.ndarray:
    """``(len(finals), n_final_states)`` scores at the final product nodes."""
    return alpha[np.ix_(g.finals, np.flatnonzero(tt.finals))]


def _backward_best(g: _Graph, pen: np.ndarray, tt: GrammarTables) -> np.ndarray:
    """Best completion ``beta (n_nodes, n_states)`` (tropical) from each product node."""
    beta = np.full((g.n, tt.n_states), INF)
    if g.n == 0:
        return beta
    beta[np.ix_(g.finals, np.flatnonzero(tt.finals))] = 0.0
    if tt.n_transitions == 0 or g.n_arcs == 0:
        return beta
    derived = _derived(tt)
    cache = derived.get("backward")
    if cache is None:  # the pairs grouped by source state
        _, _, psrc, pdst, _, _, _ = _pairs(tt)
        p_order = np.argsort(psrc, kind="stable")
        ps = psrc[p_order]
        seg_starts = np.flatnonzero(_new_run(ps))
        cache = derived["backward"] = (
            p_order, seg_starts, ps[seg_starts], pdst[p_order][None, :]
        )
    p_order, seg_starts, seg_states, gdst = cache
    a_order = np.argsort(g.src, kind="stable")
    a_src = g.src[a_order]
    # beta[dst[a], pdst[k]] as one flat gather, as in `_dp`.
    flat = beta.reshape(-1)
    at = g.dst[a_order][:, None] * tt.n_states + gdst
    Q = _pair_penalties(tt, pen, log=False)[np.ix_(a_order, p_order)]
    optr = np.searchsorted(a_src, np.arange(g.n + 1)).tolist()
    for i in range(g.n - 2, -1, -1):
        lo, hi = optr[i], optr[i + 1]
        if lo == hi:
            continue
        red = np.minimum.reduceat((flat[at[lo:hi]] + Q[lo:hi]).min(0), seg_starts)
        row = beta[i]
        row[seg_states] = np.minimum(row[seg_states], red)
    return beta


def _text(alphabet: Alphabet, classes: Sequence[int]) -> str:
    return "".join(alphabet.chars[c] for c in classes)


def _backtrack(g: _Graph, pen: np.ndarray, tt: GrammarTables, alpha: np.ndarray) -> Path | None:
    fv = _final_values(g, tt, alpha)
    if fv.size == 0 or not np.isfinite(fv.min()):
        return None
    fstates = np.flatnonzero(tt.finals)
    k = int(np.argmin(fv))  # row-major: lowest final node, then lowest state
    j, s = int(g.finals[k // fv.shape[1]]), int(fstates[k % fv.shape[1]])
    total = v = float(fv.flat[k])
    order, seg_starts, seg_states, _ = tt.by_dst
    seg_end = np.append(seg_starts[1:], len(order))
    starts = set(g.starts.tolist())
    arcs: list[int] = []
    classes: list[int] = []
    while not (j in starts and s == tt.start and v == 0.0):
        lo, hi = g.ptr[j], g.ptr[j + 1]
        seg = np.flatnonzero(seg_states == s)
        if lo == hi or seg.size == 0:  # pragma: no cover - alpha says a path exists
            raise RuntimeError("decode: inconsistent Viterbi scores")
        ts = order[seg_starts[seg[0]] : seg_end[seg[0]]]
        cand = alpha[g.src[lo:hi, None], tt.src[ts][None, :]] + pen[lo:hi][:, tt.cls[ts]]
        ri, ci = np.nonzero(cand == v)
        if ri.size == 0:  # pragma: no cover
            raise RuntimeError("decode: inconsistent Viterbi scores")
        best = np.lexsort((tt.src[ts][ci], tt.cls[ts][ci], g.arc_id[lo + ri]))[0]
        a, t = lo + ri[best], ts[ci[best]]
        arcs.append(int(g.arc_id[a]))
        classes.append(int(tt.cls[t]))
        j, s, v = int(g.src[a]), int(tt.src[t]), float(alpha[g.src[a], tt.src[t]])
    arcs.reverse()
    classes.reverse()
    return Path(tuple(arcs), tuple(classes), _text(tt.alphabet, classes), total)


# ----------------------------------------------------------------------------------------
# n-best distinct texts


def _padded_moves(tt: GrammarTables) -> tuple[np.ndarray, ...]:
    """Each state's outgoing transitions as rows padded to the largest out-degree ``M``.

    Returns ``(valid (S, M) bool, cls, dst, hash_add)``, the last three flat ``(S * M,)``:
    slot ``m`` of state ``s`` is its ``m``-th transition in ``tt.by_src`` order, read at
    ``s * M + m``; ``hash_add`` is ``cls + 1`` as ``uint64`` (the n-best's text hash step).
    """
    cache = _derived(tt).get("padded_moves")
    if cache is not None:
        return cache
    t_order, t_ptr = tt.by_src
    deg = np.diff(t_ptr)
    width = max(1, int(deg.max()) if len(deg) else 1)
    valid = np.arange(width)[None, :] < deg[:, None]
    cls = np.zeros(tt.n_states * width, np.int64)
    dst = np.zeros(tt.n_states * width, np.int64)
    ts = t_order[(t_ptr[:-1][:, None] + np.arange(width)[None, :])[valid]]
    cls[np.flatnonzero(valid)] = tt.cls[ts]
    dst[np.flatnonzero(valid)] = tt.dst[ts]
    out = (valid, cls, dst, (cls + 1).astype(np.uint64))
    _derived(tt)["padded_moves"] = out
    return out


def _nbest(
    g: _Graph,
    pen: np.ndarray,
    tt: GrammarTables,
    k: int,
    beam: float = INF,
    beta: np.ndarray | None = None,
) -> list[Path]:
    """The ``k`` best distinct texts: k-best Viterbi keeping ``k`` distinct prefixes per node.

    Exact for the texts within ``beam`` of the best: the grammar being deterministic, two
    partial paths reaching the same product node with the same prefix text have the same
    completions, so only the better one can matter; a prefix that ``k`` better distinct
    prefixes beat at a product node cannot belong to one of the ``k`` best texts; a partial
    path whose best completion (``beta``, backward Viterbi) ends more than ``beam`` above the
    best path cannot either. Prefix texts are compared through a 64-bit polynomial hash of
    their class sequence.
    """
    if g.n == 0 or k <= 0:
        return []
    if beta is None:
        beta = _backward_best(g, pen, tt)
    best = float(beta[g.starts, tt.start].min()) if len(g.starts) else INF
    if not math.isfinite(best):
        return []
    # Strict "<" against an infinite bound keeps forbidden (inf) candidates out.
    bound = best + beam if math.isfinite(beam) else np.nextafter(INF, 0.0)
    ent = _nbest_entries(g, pen, tt, k, bound, beta)
    chosen = _nbest_finals(g, tt, ent, k)
    if chosen is None:
        return []
    return _nbest_paths(g, tt, ent, *chosen)


def _nbest_entries(g: _Graph, pen: np.ndarray, tt: GrammarTables, k: int, bound: float,
                   beta: np.ndarray) -> list[tuple[np.ndarray, ...] | None]:
    """The forward pass of :func:`_nbest`: each node's entries (state, value, hash,
    back-pointer arc (sorted index), class, parent entry), at most ``k`` distinct prefix
    texts per grammar state, every one's best completion within ``bound``."""
    valid, cls_pad, dst_pad, hash_pad = _padded_moves(tt)
    width = valid.shape[1]
    is_start = np.zeros(g.n, bool)
    is_start[g.starts] = True
    # Per node: state, value, hash, back-pointer arc (sorted index), class, parent entry.
    ent: list[tuple[np.ndarray, ...] | None] = [None] * g.n
    # Per node: every (entry, outgoing transition) pair: parent entry, class, new state,
    # parent value, new hash.
    exp: list[tuple[np.ndarray, ...] | None] = [None] * g.n
    start_entry = (
        np.array([tt.start]),
        np.array([0.0]),
        np.array([_HASH_SEED], np.uint64),
        np.array([-1]),
        np.array([-1]),
        np.array([-1]),
    )
    ptr, gsrc, start_l = g.ptr.tolist(), g.src.tolist(), is_start.tolist()
    leads_on = (np.bincount(g.src, minlength=g.n) > 0).tolist()  # nodes with outgoing arcs
    for j in range(g.n):
        # The candidates of the node in generation order (that of the tie-breaks): the
        # start entry, then arc by arc (sorted index) each source's expansions extended
        # along the arc, kept where their best completion stays within the beam. Filtering
        # arc by arc keeps the few survivors (a tenth) instead of concatenating them all.
        parts: list[tuple[np.ndarray, ...]] = [start_entry] if start_l[j] else []
        bj = beta[j]
        for a in range(ptr[j], ptr[j + 1]):
            x = exp[gsrc[a]]
            if x is None:
                continue
            rep, cls, nst, v0, h = x
            val = v0 + pen[a][cls]
            ok = np.less_equal(val + bj[nst], bound).nonzero()[0]
            if len(ok):
                arc = np.empty(len(ok), np.int64)
                arc.fill(a)
                parts.append((nst[ok], val[ok], h[ok], arc, cls[ok], rep[ok]))
        if not parts:
            continue
        ent[j] = kept = _nbest_keep(parts, k)
        if not leads_on[j]:
            continue
        st, val, h = kept[:3]
        # Every entry's outgoing transitions, entry by entry, each state's in `by_src` order.
        rep, slot = valid[st].nonzero()
        if len(rep):
            q = (st * width)[rep] + slot
            exp[j] = (rep, cls_pad[q], dst_pad[q], val[rep], h[rep] * _HASH_MUL + hash_pad[q])
    return ent


def _nbest_keep(parts: list[tuple[np.ndarray, ...]], k: int) -> tuple[np.ndarray, ...]:
    """A node's entries from its candidates ``parts``: the best of each (state, text), then
    the ``k`` best of each state."""
    if len(parts) == 1:
        st, val, h, bpa, bpc, bpp = parts[0]
    else:
        st, val, h, bpa, bpc, bpp = (np.concatenate(x) for x in zip(*parts, strict=True))
    if len(st) > 1:
        # The best entry of each (state, text), then the `k` best of each state, by
        # (state, value), ties in generation order (lexsort is stable). The candidates
        # of one part have distinct texts already (those of one node's entries, each
        # extended by its own class; the start entry alone), so only several parts
        # are searched for repeats.
        if len(parts) == 1:
            o2 = np.lexsort((val, st))
        else:
            o1 = np.lexsort((val, h, st))
            s1, h1 = st[o1], h[o1]
            first = np.empty(len(o1), bool)
            first[0] = True
            np.not_equal(s1[1:], s1[:-1], out=first[1:])
            first[1:] |= h1[1:] != h1[:-1]
            keep = o1[first]
            keep.sort()  # back to generation order
            o2 = keep[np.lexsort((val[keep], st[keep]))]
        if len(o2) > k:
            s2 = st[o2]
            rank = np.arange(len(o2)) - s2.searchsorted(s2)  # rank within its state
            o2 = o2[rank < k]
        st, val, h, bpa, bpc, bpp = st[o2], val[o2], h[o2], bpa[o2], bpc[o2], bpp[o2]
    return (st, val, h, bpa, bpc, bpp)


def _nbest_finals(g: _Graph, tt: GrammarTables, ent: list[tuple[np.ndarray, ...] | None],
                  k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The ``k`` best distinct texts over all final product nodes: their (node, entry,
    value), by increasing value; None when no final entry."""
    rows: list[tuple[np.ndarray, ...]] = []
    for f in g.finals:
        fe = ent[int(f)]
        if fe is None:
            continue
        idx_f = np.flatnonzero(tt.finals[fe[0]])
        rows.append((np.full(len(idx_f), int(f)), idx_f, fe[1][idx_f], fe[2][idx_f]))
    if not rows:
        return None
    node, eidx, val, h = (np.concatenate(x) for x in zip(*rows, strict=False))
    o1 = np.lexsort((val, h))
    first = _new_run(h[o1])
    keep = np.sort(o1[first])
    keep = keep[np.argsort(val[keep], kind="stable")][:k]
    return node[keep], eidx[keep], val[keep]


def _nbest_paths(g: _Graph, tt: GrammarTables, ent: list[tuple[np.ndarray, ...] | None],
                 node: np.ndarray, eidx: np.ndarray, val: np.ndarray) -> list[Path]:
    """The paths of the final entries ``(node, eidx)`` (penalties ``val``), walked back."""
    # Walk back in Python lists: a few dozen steps of scalar look-ups.
    back: dict[int, tuple[list[int], list[int], list[int]]] = {}
    arc_id, arc_src = g.arc_id.tolist(), g.src.tolist()
    out = []
    for jn, e, v in zip(node.tolist(), eidx.tolist(), val.tolist(), strict=True):
        arcs: list[int] = []
        classes: list[int] = []
        while True:
            bp = back.get(jn)
            if bp is None:
                bp = back[jn] = tuple(x.tolist() for x in ent[jn][3:])
            a = bp[0][e]
            if a < 0:
                break
            arcs.append(arc_id[a])
            classes.append(bp[1][e])
            jn, e = arc_src[a], bp[2][e]
        arcs.reverse()
        classes.reverse()
        out.append(Path(tuple(arcs), tuple(classes), _text(tt.alphabet, classes), v))
    return out


def _nbest_widening(
    g: _Graph, pen: np.ndarray, tt: GrammarTables, k: int, beam: float, beta: np.ndarray
) -> list[Path]:
    """:func:`_nbest` with a beam widened from a few nats up to ``beam``.

    A narrow beam that already yields ``k`` texts gives the exact ``k`` best (every text
    better than the k-th lies inside it); on peaked penalties this is several times faster.
    """
    b = 4.0
    while True:
        if b >= beam:
            return _nbest(g, pen, tt, k, beam, beta)
        paths = _nbest(g, pen, tt, k, b, beta)
        if len(paths) >= k:
            return paths
        b *= 4.0


# ----------------------------------------------------------------------------------------
# Constraint to given texts: a trie acceptor


def _text_classes(texts: str | Sequence[str], alphabet: Alphabet) -> list[tuple[int, ...] | None]:
    items = [texts] if isinstance(texts, str) else list(texts)
    out: list[tuple[int, ...] | None] = []
    for t in items:
        t = "".join(str(t).split())
        out.append(tuple(alphabet.chars.index(c) for c in t) if all(c in alphabet for c in t) else None)
    return out


def trie_acceptor(alphabet: Alphabet, seqs: Sequence[tuple[int, ...]]) -> tuple[GrammarTables, list[int]]:
    """A deterministic acceptor of exactly ``seqs``; also each sequence's final state."""
    child: dict[tuple[int, int], int] = {}
    src: list[int] = []
    cls: list[int] = []
    ends = []
    n = 1
    for seq in seqs:
        s = 0
        for c in seq:
            nxt = child.get((s, c))
            if nxt is None:
                nxt = child[(s, c)] = n
                src.append(s)
                cls.append(c)
                n += 1
            s = nxt
        ends.append(s)
    finals = np.zeros(n, bool)
    finals[ends] = True
    # State k + 1 is the destination of transition k (states are numbered as created).
    tt = GrammarTables(
        alphabet, n, 0, finals, np.array(src, np.int64), np.arange(1, n, dtype=np.int64),
        np.array(cls, np.int64),
    )
    return tt, ends


def _union(a: GrammarTables, b: GrammarTables) -> GrammarTables:
    """Disjoint union of two acceptors (``b``'s states shifted by ``a.n_states``)."""
    off = a.n_states
    return GrammarTables(
        a.alphabet,
        a.n_states + b.n_states,
        a.start,
        np.concatenate([a.finals, b.finals]),
        np.concatenate([a.src, b.src + off]),
        np.concatenate([a.dst, b.dst + off]),
        np.concatenate([a.cls, b.cls]),
    )


def _union_with_trie(
    tt: GrammarTables, trie: GrammarTables, pen: np.ndarray
) -> tuple[GrammarTables, np.ndarray]:
    """``_union(tt, trie)`` and its log-semiring :func:`_pair_penalties` for ``pen``, built
    from ``tt``'s cached pairs: a trie's transitions already are its pairs, one per
    destination state and in destination order, so the union's pairs are ``tt``'s followed
    by the trie's (what :func:`_pairs` would sort them into), and their penalties are the
    arcs' penalties of the trie's classes."""
    both = _union(tt, trie)
    t_order, t_starts, psrc, pdst, seg_starts, seg_states, seg_of_p = _pairs(tt)
    nt, off, k = trie.n_transitions, tt.n_states, len(psrc)
    own = np.arange(nt)
    _derived(both)["pairs"] = (
        np.concatenate([t_order, tt.n_transitions + own]),
        np.concatenate([t_starts, tt.n_transitions + own]),
        np.concatenate([psrc, trie.src + off]),
        np.concatenate([pdst, trie.dst + off]),
        np.concatenate([seg_starts, k + own]),
        np.concatenate([seg_states, trie.dst + off]),
        np.concatenate([seg_of_p, len(seg_starts) + own]),
    )
    Q = np.concatenate([_pair_penalties(tt, pen, log=True), pen[:, trie.cls]], axis=1)
    return both, Q


def accepted_seqs(tt: GrammarTables, texts: str | Sequence[str]) -> list[tuple[int, ...]]:
    """The class sequences of ``texts`` (whitespace ignored) that ``tt`` accepts, each once, in
    order; a text with a character outside the alphabet is left out."""
    seqs = _text_classes(texts, tt.alphabet)
    return list(dict.fromkeys(s for s in seqs if s is not None and tt.accepts_classes(s)))


# ----------------------------------------------------------------------------------------
# Public API


def _tables_of(grammar: Grammar | GrammarTables, alphabet: Alphabet) -> GrammarTables:
    if isinstance(grammar, GrammarTables):
        if grammar.alphabet != alphabet:
            raise ConfigError("grammar: tables were built for another alphabet")
        return grammar
    if not isinstance(grammar, Grammar):
        raise ConfigError(f"grammar: expected a Grammar, got {type(grammar).__name__}")
    return grammar.tables(alphabet)


def viterbi(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: Any,
    grammar: Grammar | GrammarTables,
    alphabet: Alphabet,
    *,
    starts: Any = None,
    finals: Any = None,
) -> Path | None:
    """Best path of graph x grammar (tropical semiring).

    Parameters
    ----------
    n_nodes : int
        Number of graph nodes; arcs satisfy ``0 <= src < dst < n_nodes``.
    src, dst : array_like of int, shape (A,)
        Arc end nodes.
    penalties : array_like of float, shape (A, len(alphabet))
        ``-log p`` of each class on each arc; ``inf`` forbids it.
    grammar : Grammar or GrammarTables
        Acceptor of the allowed strings.
    alphabet : Alphabet
        The classes of ``penalties``' columns.
    starts, finals : array_like of int, optional
        Start and final nodes (default ``[0]`` and ``[n_nodes - 1]``).

    Returns
    -------
    Path or None
        None when no path spells a string the grammar accepts (e.g. an empty graph).
    """
    g, pen = _prepare(n_nodes, src, dst, penalties, alphabet, starts, finals)
    tt = _tables_of(grammar, alphabet)
    return _backtrack(g, pen, tt, _dp(g, pen, tt, log=False))


def forward(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: Any,
    grammar: Grammar | GrammarTables,
    alphabet: Alphabet,
    *,
    constrain_text: str | Sequence[str] | None = None,
    starts: Any = None,
    finals: Any = None,
) -> float:
    """Forward penalty ``-log sum exp(-penalty)`` over the accepted paths (log semiring).

    With ``constrain_text`` (a string or several), only the paths spelling one of those
    texts (whitespace ignored) count; texts the grammar refuses count for nothing. Returns
    ``inf`` when no path counts. Other parameters as :func:`viterbi`.
    """
    g, pen = _prepare(n_nodes, src, dst, penalties, alphabet, starts, finals)
    tt = _tables_of(grammar, alphabet)
    if g.n == 0:
        return INF
    if constrain_text is not None:
        seqs = accepted_seqs(tt, constrain_text)
        if not seqs:
            return INF
        tt = trie_acceptor(alphabet, seqs)[0]
    return _neg_lse(_final_values(g, tt, _dp(g, pen, tt, log=True)).ravel())


def nbest(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: Any,
    grammar: Grammar | GrammarTables,
    alphabet: Alphabet,
    n: int = 5,
    *,
    starts: Any = None,
    finals: Any = None,
    beam: float = INF,
) -> list[Path]:
    """The ``n`` best paths with distinct texts, by increasing penalty.

    Each entry is the best path of its text. ``beam`` (default: none) drops texts more than
    ``beam`` above the best one, which makes long searches on flat penalties much cheaper.
    Other parameters as :func:`viterbi`.
    """
    check_range(n, "n", 0)
    g, pen = _prepare(n_nodes, src, dst, penalties, alphabet, starts, finals)
    tt = _tables_of(grammar, alphabet)
    if g.n == 0 or n == 0:
        return []
    return _nbest_widening(g, pen, tt, int(n), float(beam), _backward_best(g, pen, tt))


def _widen(b: float, beam: float) -> float:
    """The next beam of :func:`decode`'s search: doubled, up to ``beam``."""
    return beam if 2.0 * b > 1e3 else min(2.0 * b, beam)


def _search(
    g: _Graph,
    pen: np.ndarray,
    tt: GrammarTables,
    beta: np.ndarray,
    n_alt: int,
    cfg: DecodeConfig,
    locale: str,
) -> tuple[list[Path], dict[str, str]]:
    """The texts :func:`decode` weighs, by increasing penalty, and each one's amount.

    The search widens a beam ``b`` from a few nats up to ``cfg.beam``: ``depth`` texts found
    within ``b`` are exactly the ``depth`` best; fewer means all the texts within it, enough
    for the confidence once ``b`` reaches ``confidence_beam`` (texts beyond carry under
    ``exp(-confidence_beam)`` of the best one's mass). The list is deepened only while fewer
    than ``n_alt`` distinct amounts are seen. One :func:`_nbest` at the full beam per depth
    answers every ``b``: the texts within ``b`` are the ones of its list within ``b`` of the
    best (when all ``depth`` are, they are the ``depth`` best within ``b``; else they are all
    the texts within it), so the widening costs no further search.
    """
    depth = max(cfg.depth, 4 * n_alt)
    b = min(4.0, cfg.beam)
    best = float(beta[g.starts, tt.start].min()) if len(g.starts) else INF
    full: dict[int, list[Path]] = {}
    amount_of: dict[str, str] = {}
    # The texts are the grammar's: with the locale's own grammar (and no blank in the
    # alphabet) reading them needs no acceptance check, which is most of canonical_amount.
    read = _amount_reader(tt, locale)
    while True:
        if depth not in full:
            full[depth] = _nbest(g, pen, tt, depth, cfg.beam, beta)
        bound = best + b
        paths = [p for p in full[depth] if p.penalty <= bound]
        for p in paths:
            if p.text not in amount_of:
                amount_of[p.text] = read(p.text)
        n_amounts = len({amount_of[p.text] for p in paths})
        if len(paths) >= depth:
            if n_amounts >= n_alt or depth >= cfg.max_depth:
                return paths, amount_of
            depth = min(2 * depth, cfg.max_depth)
        elif b >= cfg.beam or (n_amounts >= n_alt and b >= cfg.confidence_beam):
            return paths, amount_of
        else:
            b = _widen(b, cfg.beam)


def _amount_reader(tt: GrammarTables, locale: str) -> Callable[[str], str]:
    """The amount of a text the search found (the text itself when it is none)."""
    # The texts are the grammar's: with the locale's own grammar (and no blank in the
    # alphabet) reading them needs no acceptance check, which is most of canonical_amount.
    if (locale != "any" and tt is get_grammar(locale).tables(tt.alphabet)
            and not any(c.isspace() for c in tt.alphabet.chars)):
        return lambda text: read_accepted(text, locale)
    return lambda text: canonical_amount(text, locale) or text


def _digits_constrained(tt: GrammarTables, digits: str) -> GrammarTables:
    """``tt`` restricted to the texts whose digits, in order, are ``digits`` (its other
    classes, separators and signs, read freely): the product of ``tt`` with a counter of
    the digits read so far. State ``s * (len(digits) + 1) + i``: ``tt``'s state ``s`` after
    ``i`` of the digits."""
    chars = tt.alphabet.chars
    n = len(digits) + 1
    is_digit = np.array([c.isdigit() for c in chars])
    src, dst, cls = [], [], []
    for i in range(n):
        free = ~is_digit[tt.cls]  # a separator keeps the count
        if i < len(digits) and digits[i] in chars:
            free |= tt.cls == chars.index(digits[i])
        k = np.flatnonzero(free)
        step = is_digit[tt.cls[k]].astype(np.int64)
        src.append(tt.src[k] * n + i)
        dst.append(tt.dst[k] * n + i + step)
        cls.append(tt.cls[k])
    finals = np.zeros(tt.n_states * n, bool)
    finals[np.flatnonzero(tt.finals) * n + len(digits)] = True
    return GrammarTables(tt.alphabet, tt.n_states * n, tt.start * n, finals,
                         np.concatenate(src), np.concatenate(dst), np.concatenate(cls))


def _proposed_path(g: _Graph, pen: np.ndarray, tt: GrammarTables, digits: str) -> Path | None:
    """The best path of the graph that spells ``digits`` (in a text the grammar accepts,
    separators and signs free), None when none does."""
    cons = _digits_constrained(tt, digits)
    return _backtrack(g, pen, cons, _dp(g, pen, cons, log=False))


def _as_written(digits: str, like: str, locale: str) -> tuple[str, str] | None:
    """``(text, amount)`` of a digit string written as the text ``like`` is: its digits put
    in ``like``'s places when there are as many, else with ``like``'s cents (the last two
    digits after a point) when it has some. None when that is no amount of the locale."""
    if len(digits_of(like)) == len(digits):
        it = iter(digits)
        text = "".join(next(it) if c.isdigit() else c for c in like)
    elif "." in (canonical_amount(like, locale) or ""):
        if len(digits) < 3:
            return None
        text = f"{digits[:-2]}.{digits[-2:]}"
    else:
        text = digits
    amount = canonical_amount(text, locale)
    return None if amount is None else (text, amount)


def _take_unseen(readings: dict[str, list[Any]], proposal: str, path: Path | None,
                 like: str, prior: AmountPrior, unseen: float) -> tuple[str | None, bool]:
    """Give the second reader's ``proposal``, which the search did not reach, the mass of the
    texts the search did not reach (``unseen``, already weighed at the second reader's best
    penalty): the segmentation graph's evidence for a text it did not find is at most that.
    Its reading (``readings``, as :func:`_readings` makes them, from its best ``path`` when
    the graph has one) gets it on top of its own paths' weight; without a path it gets a
    reading of its own, written as ``like`` (the best text) is.
    Returns that amount (None: none given) and whether most of its weight is that mass."""
    if path is not None:
        amount = next((a for a, r in readings.items() if r[2] is path), None)
    else:
        got = _as_written(proposal, like, prior.locale)
        amount = None if got is None or got[1] in readings else got[1]
        if amount is not None and got is not None:
            readings[amount] = [0.0, len(readings), Path((), (), got[0], INF), (0.0, True)]
    if amount is None:
        return None, False
    w0 = readings[amount][0]
    readings[amount][0] = w0 + unseen * math.exp(-prior.prior_penalty(amount))
    return amount, unseen > w0


def _raised_cents(path: Path, src: Any, raised_from: int) -> str | None:
    """The amount ``path`` spells when the characters it reads from the field's trailing
    raised run (arcs starting at node ``raised_from`` or later) are superscript cents: the
    digits before the run (signs, fill and thousands' commas dropped; a '.' only as the last
    of them) for dollars, the run's first two characters, both digits, for cents. What
    follows them must be nothing or the "/100" of a fraction as it may be misread (3 or 4
    of '/', '1', '0', ending in 0: "110", "1100", "100"); else None."""
    k = next((i for i, a in enumerate(path.arcs) if int(src[a]) >= raised_from), len(path.arcs))
    head, run = path.text[:k].lstrip("$*").replace(",", ""), path.text[k:]
    if head.endswith("."):
        head = head[:-1]
    if not head.isdigit() or len(run) < 2 or not run[:2].isdigit():
        return None
    rest = run[2:]  # nothing (".^56", "^56"), or the "/100" after them, however it was read
    if rest and not (3 <= len(rest) <= 4 and rest[-1] == "0" and set(rest) <= set("/10")):
        return None
    return f"{int(head)}.{run[:2]}"


def decode(
    graph: SegmentationGraph,
    scores: Any,
    grammar: GrammarTables,
    prior: AmountPrior,
    config: DecodeConfig | None = None,
    text_penalty: Callable[[Sequence[str]], Any] | None = None,
    unseen_penalty: float = 0.0,
    searched: Searched | None = None,
    proposal: str = "",
) -> Decoded:
    """Decode one field: the amount of highest posterior, its confidence and alternatives.

    The chosen amount is the one with the highest confidence (posterior mass of its texts,
    see the module notes); ``text`` and ``path`` are its best-penalty text and path, which is
    the Viterbi path unless the mass of another amount's texts outweighs it. Below
    ``config.reject_threshold`` the status is ``"rejected"`` (text and amount still given).
    With no accepted path the status is ``"rejected"``, ``amount`` None and ``confidence`` 0.

    Parameters
    ----------
    graph : SegmentationGraph
        The field's graph: its arcs (start node 0, final node ``n_nodes - 1``) and
        ``raised_from``, the first node of its trailing run of small raised pieces
        (superscript cents, -1: none; see :attr:`AmountPrior.raised_cents_penalty`). Its
        images are not looked at.
    scores : array_like of float, shape (graph.n_arcs, len(grammar.alphabet))
        ``-log p`` of each class on each arc (:func:`chequereader.lattice.arc_penalties`);
        ``inf`` forbids it.
    grammar : GrammarTables
        The amount grammar over the recognizer's classes (``get_grammar(locale).tables(alphabet)``).
    prior : AmountPrior
        The amount prior (:func:`chequereader.amounts.amount_prior`); its locale reads the
        texts into amounts.
    config : DecodeConfig, optional
        Search settings (default ``DecodeConfig()``).
    text_penalty : callable, optional
        A second reader's penalties ``-log p`` of texts (as written; one call with every
        text weighed), each added to its text's forward penalty before the amounts are
        weighed (:mod:`chequereader.sdnn`: the readers' probabilities multiplied). The mass
        of the texts the search did not reach is weighed at ``unseen_penalty`` (the second
        reader's best: what it gives any text), so the confidence is never raised by what
        was not seen.
    searched : Searched, optional
        The texts an earlier decoding of the same graph, scores and grammar weighed
        (:attr:`Decoded.searched`): they are weighed again without searching again.
    proposal : str, optional
        The digits of a second reader's best reading. When no searched text spells them,
        their best path in the graph (Viterbi constrained to texts of the grammar with those
        digits) is weighed with the others, and, with ``text_penalty``, the mass of the texts
        the search did not reach goes to it too (:attr:`Decoded.proposed` when that is most
        of its weight; without a path it is read without one).
    """
    cfg = config or DecodeConfig()
    _check_decode_args(graph, grammar, prior)
    n_alt = int(check_range(cfg.nbest, "nbest", 1))
    thr = cfg.reject_threshold
    g, pen = _prepare(graph.n_nodes, graph.src, graph.dst, scores, grammar.alphabet, None, None)
    tt = grammar
    none = Decoded("rejected", "", None, 0.0, (), None)
    if g.n == 0:
        return none
    if searched is not None:
        paths, amount_of = list(searched.paths), searched.amount_of
        f_all, f_text = searched.f_all, searched.f_text
        if not paths:
            return none
    else:
        beta = _backward_best(g, pen, tt)
        paths, amount_of = _search(g, pen, tt, beta, n_alt, cfg, prior.locale)
        if not paths:
            return none
        f_all, f_text = _text_forwards(g, pen, tt, paths, cfg)
    unreached = (proposal.isascii() and proposal.isdigit()
                 and all(digits_of(p.text) != proposal for p in paths))
    found = _proposed_path(g, pen, tt, proposal) if unreached else None
    if found is not None:
        # (a copy: the earlier decoding's Searched stays as it was)
        amount_of = {**amount_of, found.text: _amount_reader(tt, prior.locale)(found.text)}
        f_found = float(_text_forwards(g, pen, tt, [found], cfg)[1][0])
        k = int(np.searchsorted([p.penalty for p in paths], found.penalty, side="right"))
        paths = [*paths[:k], found, *paths[k:]]
        f_text = np.insert(np.asarray(f_text, np.float64), k, f_found)
    groups: dict[str, list[int]] = {}
    for q, p in enumerate(paths):
        groups.setdefault(amount_of[p.text], []).append(q)
    masses, weighted = _amount_masses(groups, paths, f_text, f_all, prior, text_penalty)
    readings = _readings(groups, weighted, paths, graph, prior)
    unseen = max(0.0, 1.0 - sum(masses))
    proposed: str | None = None
    if text_penalty is not None:
        unseen *= math.exp(-max(0.0, unseen_penalty))
        given, mostly = (_take_unseen(readings, proposal, found, paths[0].text, prior, unseen)
                         if unreached and unseen > 0.0 else (None, False))
        if given is not None:
            unseen *= 1.0 - math.exp(-prior.prior_penalty(given))  # (what its prior left)
            proposed = given if mostly else None
    z = sum(r[0] for r in readings.values()) + unseen
    rows = scores if isinstance(scores, np.ndarray) else np.asarray(scores, np.float64)
    scored = _ranked_readings(readings, z, rows, cfg.rubbish_penalty, prior, proposed)
    alts = tuple(Alternative(a, p.text, -c) for c, _, a, p, _ in scored[:n_alt])
    best = alts[0]
    own = proposed is None or best.amount != proposed
    spelt = bool(scored[0][3].arcs)
    return Decoded(
        status="ok" if best.confidence >= thr and own else "rejected",
        text=best.text,
        amount=best.amount,
        confidence=best.confidence,
        alternatives=alts,
        path=scored[0][3] if spelt else None,
        posterior=scored[0][4],
        proposed=not own,
        forward=f_all,
        searched=Searched(tuple(paths), amount_of, f_all, f_text),
    )


def _check_decode_args(graph: Any, grammar: Any, prior: Any) -> None:
    """Refuse arguments of :func:`decode` of the wrong types (ConfigError)."""
    if not isinstance(graph, SegmentationGraph):
        raise ConfigError(f"graph: expected a SegmentationGraph, got {type(graph).__name__}")
    if not isinstance(grammar, GrammarTables):
        raise ConfigError("grammar: expected GrammarTables (Grammar.tables(alphabet)), got "
                          f"{type(grammar).__name__}")
    if not isinstance(prior, AmountPrior):
        raise ConfigError(f"prior: expected an AmountPrior, got {type(prior).__name__}")


def _text_forwards(g: _Graph, pen: np.ndarray, tt: GrammarTables, paths: list[Path],
                   cfg: DecodeConfig) -> tuple[float, np.ndarray]:
    """``F_all`` of graph x grammar (with the unreadable path when finite) and each path's
    text's forward penalty ``F_text``."""
    # One log-semiring pass over graph x (grammar | trie of the texts): F_all and each F_text.
    trie, ends = trie_acceptor(tt.alphabet, [p.classes for p in paths])
    both, Q = _union_with_trie(tt, trie, pen)
    alpha = _dp(g, pen, both, log=True, start_states=[tt.start, tt.n_states], Q=Q)
    f_all = _neg_lse(alpha[np.ix_(g.finals, np.flatnonzero(tt.finals))].ravel())
    if math.isfinite(cfg.unreadable_penalty):
        f_all = _neg_lse(np.array([f_all, cfg.unreadable_penalty]))
    if len(g.finals) == 1:  # one value per text: its own -logsumexp
        f_text = alpha[g.finals[0], tt.n_states + np.asarray(ends, np.int64)]
    else:
        f_text = np.array([_neg_lse(alpha[g.finals, tt.n_states + e]) for e in ends])
    return f_all, f_text


def _amount_masses(groups: dict[str, list[int]], paths: list[Path], f_text: np.ndarray, f_all: float,
                   prior: AmountPrior, extra: Callable[[Sequence[str]], Any] | None = None
                   ) -> tuple[list[float], list[float]]:
    """Each amount's posterior mass (its texts' paths ``groups[amount]``), plain and with
    each text's own prior (:meth:`AmountPrior.text_penalty`) and ``extra`` penalty."""
    masses = []
    weighted = []  # with each text's own prior (AmountPrior.text_penalty) and extra penalty
    text_priors = prior.weighs_texts
    more = np.asarray(extra([p.text for p in paths]), np.float64) if extra is not None else None
    for idx in groups.values():
        # One text: its own value (what _neg_lse of one value returns, m - log(1)).
        f_amount = float(f_text[idx[0]]) if len(idx) == 1 else _neg_lse(f_text[idx])
        m = min(1.0, math.exp(-(f_amount - f_all))) if math.isfinite(f_amount) else 0.0
        masses.append(m)
        tp = [prior.text_penalty(paths[q].text) for q in idx] if text_priors else [0.0] * len(idx)
        if more is not None:
            tp = [t + float(more[q]) for t, q in zip(tp, idx)]
        if any(tp):
            f_w = _neg_lse(np.asarray(f_text[idx], np.float64) + np.asarray(tp))
            m = min(1.0, math.exp(-(f_w - f_all))) if math.isfinite(f_w) else 0.0
        weighted.append(m)
    return masses, weighted


def _readings(groups: dict[str, list[int]], weighted: list[float], paths: list[Path],
              graph: SegmentationGraph, prior: AmountPrior) -> dict[str, list[Any]]:
    """Amount -> [weight, rank, path, (share, spelt)]: the amounts the texts' readings give,
    each with the weight of all its readings and the text that gives it most."""
    # Posterior with the amount prior: P(a) prior(a) / Z. Amounts beyond the n-best keep
    # their mass at prior weight 1 in Z, so a confidence is never raised by what was not seen.
    # A text may have two readings (a US amount whose decimal point was lost, see
    # AmountPrior.lost_point_penalty): its mass is shared between them by their priors.
    # An amount reached from several texts is reported with the text that gives it most
    # (on a tie, one that spells it as written rather than through a lost '.' or '/').
    readings: dict[str, list[Any]] = {}  # amount -> [weight, rank, path, (share, spelt)]
    raised_from = graph.raised_from
    for rank, ((amount, idx), m) in enumerate(zip(groups.items(), weighted)):
        p = paths[idx[0]]
        raised = _raised_cents(p, graph.src, raised_from) if raised_from >= 0 else None
        for a, w in prior.readings(amount, p.text, raised):
            key = (m * w, a == amount)
            r = readings.get(a)
            if r is None:
                readings[a] = [m * w, rank, p, key]
            else:
                r[0] += m * w
                if key > r[3]:
                    r[1:] = [rank, p, key]
    return readings


def _characters_chance(p: Path, rows: np.ndarray, j: float) -> float:
    """The chance that every character of ``p`` is a character, not rubbish (penalty ``j``,
    :class:`DecodeConfig`)."""
    # plain floats: a path has a handful of characters, numpy's call overhead would dominate
    if not math.isfinite(j):
        return 1.0
    s = 0.0
    for a, c in zip(p.arcs, p.classes):
        x = float(rows[a, c]) - j
        s += x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))
    return math.exp(-s)


def _ranked_readings(readings: dict[str, list[Any]], z: float, rows: np.ndarray, j: float,
                     prior: AmountPrior, proposed: str | None = None
                     ) -> list[tuple[float, int, str, Path, float]]:
    """``(-confidence, rank, amount, path, posterior)`` of every reading, best first. The
    ``proposed`` amount's characters are the second reader's: its path's are not weighed."""
    scored = []
    for a, (w, rank, p, _) in readings.items():
        post = min(1.0, w / z) if z > 0 else 0.0
        # (amounts of negligible posterior keep it: the factor, <= 1, cannot lift them)
        # An amount far beyond the locale's usual size (a date or a MICR line read as one,
        # a slash read as a 1) is that much less likely to be right, whatever its rivals:
        # the size part of the prior discounts the confidence itself (AmountPrior).
        conf = post
        if post > 1e-6:
            if a != proposed:
                conf *= _characters_chance(p, rows, j)
            if prior.magnitude_confidence:
                conf *= math.exp(-prior.magnitude(a))
        scored.append((-conf, rank, a, p, post))
    scored.sort(key=lambda x: (x[0], x[1]))
    return scored


# ----------------------------------------------------------------------------------------
# Differentiable forward (global training, docs/design.md section 3 / paper section VI)


def _torch_neg_lse_grouped(x: torch.Tensor, group: torch.Tensor, n_groups: int) -> torch.Tensor:
    """``-logsumexp(-x)`` of the columns of ``x (R, T)`` grouped by ``group (T,)``.

    Empty or all-``inf`` groups give ``inf`` with zero (never NaN) gradients.
    """
    import torch

    neg = -x
    m_t = neg.detach().amax(0)
    m = torch.full((n_groups,), -INF, dtype=x.dtype).scatter_reduce(0, group, m_t, "amax")
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(neg - safe[group]).sum(0)
    s = torch.zeros(n_groups, dtype=x.dtype).index_add(0, group, e)
    pos = s > 0
    out = -(safe + torch.log(torch.where(pos, s, torch.ones_like(s))))
    return torch.where(pos, out, torch.full_like(out, INF))


def _torch_neg_lse_rows(x: torch.Tensor, group: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Per row of ``x (R, T)``: ``-logsumexp(-x)`` over the columns of each group -> ``(R, K)``."""
    import torch

    neg = -x
    R = x.shape[0]
    idx = group[None, :].expand(R, -1)
    m = torch.full((R, n_groups), -INF, dtype=x.dtype).scatter_reduce(
        1, idx, neg.detach(), "amax"
    )
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(neg - safe.gather(1, idx))
    s = torch.zeros((R, n_groups), dtype=x.dtype).index_add(1, group, e)
    pos = s > 0
    out = -(safe + torch.log(torch.where(pos, s, torch.ones_like(s))))
    return torch.where(pos, out, torch.full_like(out, INF))


def forward_torch(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: torch.Tensor,
    grammar_tables: GrammarTables,
    constrain_text: str | Sequence[str] | None = None,
    *,
    starts: Any = None,
    finals: Any = None,
) -> torch.Tensor:
    """Forward penalty as a differentiable scalar tensor (same value as :func:`forward`).

    ``penalties`` is a ``torch.Tensor (A, C)``; the gradient of the result with respect to
    ``penalties[a, c]`` is the posterior probability that the accepted paths use arc ``a``
    with class ``c``. Returns ``inf`` (zero gradient) when no path counts.
    """
    import torch

    tt = grammar_tables
    if not isinstance(penalties, torch.Tensor):
        raise ConfigError("penalties: expected a torch.Tensor")
    if penalties.ndim != 2 or penalties.shape[1] != len(tt.alphabet):
        raise ConfigError(
            f"penalties: expected shape (n_arcs, {len(tt.alphabet)}), got {tuple(penalties.shape)}"
        )
    g = _prepare_graph(n_nodes, src, dst, penalties.shape[0], starts, finals)
    inf = torch.tensor(INF, dtype=penalties.dtype)
    if g.n == 0:
        return inf
    if constrain_text is not None:
        seqs = accepted_seqs(tt, constrain_text)
        if not seqs:
            return inf
        tt = trie_acceptor(tt.alphabet, seqs)[0]
    S = tt.n_states
    # Pair compression as in `_dp`: reduce the classes of each (src, dst) state pair first.
    t_order, t_starts, psrc, pdst = _pairs(tt)[:4]
    order = t_order
    gsrc = torch.as_tensor(psrc)
    group = torch.as_tensor(pdst)
    G = penalties[torch.as_tensor(g.arc_id)][:, torch.as_tensor(tt.cls[t_order])]
    if len(t_starts) == len(t_order):
        P = G
    else:
        pair_of_t = np.repeat(np.arange(len(t_starts)), np.diff(np.append(t_starts, len(t_order))))
        P = _torch_neg_lse_rows(G, torch.as_tensor(pair_of_t), len(t_starts))
    is_start = set(g.starts.tolist())
    init = torch.full((S,), INF, dtype=penalties.dtype)
    init[tt.start] = 0.0
    alpha: list[torch.Tensor] = []
    for j in range(g.n):
        lo, hi = int(g.ptr[j]), int(g.ptr[j + 1])
        if lo == hi or len(order) == 0:
            alpha.append(init if j in is_start else torch.full((S,), INF, dtype=penalties.dtype))
            continue
        prev = torch.stack([alpha[int(i)] for i in g.src[lo:hi]])
        cand = prev[:, gsrc] + P[lo:hi]
        red = _torch_neg_lse_grouped(cand, group, S)
        if j in is_start:
            red = _torch_neg_lse_grouped(torch.stack([red, init]), torch.arange(S), S)
        alpha.append(red)
    fin = torch.cat([alpha[int(f)][torch.as_tensor(tt.finals)] for f in g.finals])
    return _torch_neg_lse_grouped(fin[None, :], torch.zeros(len(fin), dtype=torch.long), 1)[0]


def forward_criterion(
    n_nodes: int,
    src: Any,
    dst: Any,
    penalties: torch.Tensor,
    grammar_tables: GrammarTables,
    label_text: str | Sequence[str],
    *,
    starts: Any = None,
    finals: Any = None,
) -> torch.Tensor:
    """Discriminative forward criterion (paper section VI) for one field, a scalar >= 0.

    ``forward_torch(constrained to label_text) - forward_torch(unconstrained)``: minus the
    log posterior of the label. ``label_text`` is the text as written (or several written
    forms of the same amount).

    Raises
    ------
    ConfigError
        When the grammar accepts none of ``label_text`` (the criterion would be infinite).
    """
    if not accepted_seqs(grammar_tables, label_text):
        raise ConfigError(
            f"label_text: {label_text!r} is not accepted by the grammar over alphabet "
            f"{grammar_tables.alphabet.string!r}"
        )
    kw = dict(starts=starts, finals=finals)
    return forward_torch(n_nodes, src, dst, penalties, grammar_tables, label_text, **kw) - (
        forward_torch(n_nodes, src, dst, penalties, grammar_tables, **kw)
    )
