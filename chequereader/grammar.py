"""Amount grammars: finite-state acceptors of written courtesy amounts, kept as data.

docs/design.md section 3. One acceptor per locale (``us``, ``in``, ``cl``) and their union ``any``.
Each is written in :mod:`chequereader.amounts` (:func:`~chequereader.amounts.grammar_source`)
as a small regular expression over single characters (:mod:`chequereader.patterns`), compiled
here to a minimal deterministic automaton (Thompson NFA -> subset construction -> Moore
minimisation), and exposed as a frozen :class:`Grammar` (states, start, finals, transitions). The decoder
composes it with the segmentation graph through :meth:`Grammar.tables`.

The grammar reads the text **without spaces**: the recognizer emits no space class, so
``"12 00/100"`` is read as ``"1200/100"``; :func:`canonical_amount` and
:meth:`Grammar.accepts` drop whitespace before reading.

Rules (``D`` a digit, ``N`` a non-zero digit; integers have no leading zero except ``0``):

``us``
    ``[$] [*...] INT [.DD | DD/100 | - | /- | .-]`` or ``[$] [*...] .DD``, where ``INT`` is
    plain digits or comma-grouped in threes (``1,234,567``). ``*`` is check-protection fill,
    only at the start or right after ``$``. ``$1,234.56`` -> ``1234.56``, ``$**12.00`` ->
    ``12.00``, ``1200/100`` -> ``12.00``, ``12.-`` -> ``12``, ``$.45`` -> ``0.45``.
``in``
    ``[₹] [*...] INT [.DD [- | /- | /] | - | /- | .- | /]``, ``INT`` plain or in Indian
    grouping (``N[D]`` then pairs, last group of three: ``5,10,00,000``). ``₹5,10,00,000/-``
    -> ``51000000``, ``26 30 000/-`` -> ``2630000``, ``5,000.50/-`` -> ``5000.50``; a lone
    ``/`` is a ``/-`` whose dash was lost (``1600/`` -> ``1600``).
``cl``
    ``[$] [*...] INT [- | /- | .- | ,-]``, ``INT`` plain or dot-grouped in threes, no cents.
    ``$52.931`` -> ``52931``, ``$1.234.567.-`` -> ``1234567``.
``any``
    The union. The separators are read so that no string two locales accept gets two
    different amounts: ``.`` followed by exactly two final digits is a decimal point (us, in),
    ``.`` followed by groups of exactly three digits a thousands separator (cl), ``,`` is only
    ever a thousands separator. ``1.234`` is therefore ``1234`` (only cl accepts it) and
    ``1.23`` is ``1.23`` (only us accepts it). :func:`canonical_amount` with ``"any"`` reads
    with the first locale of ``us``, ``in``, ``cl`` that accepts; the test-suite checks that
    every locale accepting a string gives the same amount.

Examples
--------
>>> g = get_grammar("us")
>>> g.accepts("$1,234.56"), g.accepts("1,2345")
(True, False)
>>> canonical_amount("$**12.00", "us"), canonical_amount("$52.931", "cl")
('12.00', '52931')
>>> canonical_amount("1$2") is None
True
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._cache import derived
from ._validate import check_in
from .amounts import (  # noqa: F401  (canonical_amount, locale_hint, read_accepted: re-exported)
    LOCALES,
    RUPEE,
    SYMBOLS,
    canonical_amount,
    grammar_source,
    locale_hint,
    read_accepted,
    strip_whitespace,
)
from .errors import ConfigError
from .models.alphabet import Alphabet
from .patterns import Pattern


def _thompson(node: Pattern) -> tuple[list[list[int]], list[list[tuple[str, int]]], int, int]:
    """NFA with epsilon moves: (eps[state], moves[state], start, end)."""
    eps: list[list[int]] = []
    moves: list[list[tuple[str, int]]] = []

    def new() -> int:
        eps.append([])
        moves.append([])
        return len(eps) - 1

    def build(n: Pattern) -> tuple[int, int]:
        kind = n[0]
        if kind == "sym":
            s, e = new(), new()
            for c in n[1]:
                moves[s].append((c, e))
            return s, e
        if kind == "seq":
            s = new()
            cur = s
            for item in n[1]:
                a, b = build(item)
                eps[cur].append(a)
                cur = b
            return s, cur
        if kind == "alt":
            s, e = new(), new()
            for item in n[1]:
                a, b = build(item)
                eps[s].append(a)
                eps[b].append(e)
            return s, e
        if kind == "star":
            s, e = new(), new()
            a, b = build(n[1])
            eps[s] += [a, e]
            eps[b] += [a, e]
            return s, e
        raise ValueError(kind)  # pragma: no cover - internal

    start, end = build(node)
    return eps, moves, start, end


def _symbol_key(c: str) -> tuple[int, int]:
    # Digits first, then the amount symbols in alphabet order, then anything else by code point.
    order = "0123456789" + SYMBOLS
    return (order.index(c), 0) if c in order else (len(order), ord(c))


def _closure(eps: list[list[int]], states: Iterable[int]) -> frozenset[int]:
    """``states`` and every state reached from them by epsilon moves."""
    seen = set(states)
    stack = list(seen)
    while stack:
        for t in eps[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return frozenset(seen)


def _subset_dfa(start: Iterable[int], finals: frozenset[int], moves: list[list[tuple[str, int]]],
                eps: list[list[int]]) -> tuple[list[dict[str, int]], list[bool]]:
    """Subset construction: the DFA's transitions (state 0 the start, BFS order) and which of
    its states are final."""
    first = _closure(eps, start)
    index = {first: 0}
    subsets = [first]
    delta: list[dict[str, int]] = []
    queue = deque([first])
    while queue:
        cur = queue.popleft()
        targets: dict[str, set[int]] = {}
        for s in cur:
            for c, d in moves[s]:
                targets.setdefault(c, set()).add(d)
        row: dict[str, int] = {}
        for c in sorted(targets, key=_symbol_key):
            nxt = _closure(eps, targets[c])
            if nxt not in index:
                index[nxt] = len(subsets)
                subsets.append(nxt)
                queue.append(nxt)
            row[c] = index[nxt]
        delta.append(row)
    return delta, [bool(sub & finals) for sub in subsets]


def _moore_blocks(delta: list[dict[str, int]], is_final: list[bool]) -> list[int]:
    """Moore refinement: the block of each DFA state; a missing transition (dead state) is
    its own class (-1)."""
    symbols = sorted({c for row in delta for c in row}, key=_symbol_key)
    block = [int(f) for f in is_final]
    while True:
        sigs = [
            (block[s],) + tuple(block[delta[s][c]] if c in delta[s] else -1 for c in symbols)
            for s in range(len(delta))
        ]
        ids: dict[tuple[int, ...], int] = {}
        new_block = [ids.setdefault(sig, len(ids)) for sig in sigs]
        if len(ids) == len(set(block)):
            break
        block = new_block
    return new_block


def _renumbered(delta: list[dict[str, int]], is_final: list[bool], block: list[int]
                ) -> tuple[int, frozenset[int], tuple[tuple[int, str, int], ...]]:
    """The minimal DFA of the blocks, numbered in BFS order from the start so that the tables
    are reproducible: its number of states, finals and transitions."""
    rep: dict[int, int] = {}
    for s in range(len(delta)):
        rep.setdefault(block[s], s)
    order = {block[0]: 0}
    queue2 = deque([block[0]])
    trans: list[tuple[int, str, int]] = []
    finals_out: set[int] = set()
    while queue2:
        b = queue2.popleft()
        s = rep[b]
        if is_final[s]:
            finals_out.add(order[b])
        for c in sorted(delta[s], key=_symbol_key):
            nb = block[delta[s][c]]
            if nb not in order:
                order[nb] = len(order)
                queue2.append(nb)
            trans.append((order[b], c, order[nb]))
    return len(order), frozenset(finals_out), tuple(trans)


def _determinize(
    n_states: int,
    start: Iterable[int],
    finals: Iterable[int],
    transitions: Iterable[tuple[int, str, int]],
    eps: list[list[int]] | None = None,
) -> tuple[int, int, frozenset[int], tuple[tuple[int, str, int], ...]]:
    """Subset construction then Moore minimisation; states numbered in BFS order."""
    eps = eps if eps is not None else [[] for _ in range(n_states)]
    finals = frozenset(finals)
    moves: list[list[tuple[str, int]]] = [[] for _ in range(n_states)]
    for s, c, d in transitions:
        moves[s].append((c, d))
    delta, is_final = _subset_dfa(start, finals, moves, eps)
    block = _moore_blocks(delta, is_final)
    n, finals_out, trans = _renumbered(delta, is_final, block)
    return n, 0, finals_out, trans


# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrammarTables:
    """A grammar's transitions as arrays over an alphabet's class indices, for the decoder.

    Attributes
    ----------
    alphabet : Alphabet
        The recognizer's classes; ``cls`` indexes ``alphabet.chars``.
    n_states, start : int
        Number of states and start state.
    finals : ndarray of bool, shape (n_states,)
        Final-state mask.
    src, dst, cls : ndarray of int64, shape (T,)
        Transition ``t`` goes from state ``src[t]`` to ``dst[t]`` reading class ``cls[t]``.
    """

    alphabet: Alphabet
    n_states: int
    start: int
    finals: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    cls: np.ndarray

    @property
    def n_transitions(self) -> int:
        return int(len(self.src))

    @property
    def by_dst(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(order, seg_starts, seg_states, seg_of_t)``: transitions sorted by ``dst``.

        ``order`` sorts transitions by destination (stable), ``seg_starts`` are the first
        positions of each destination's run (for ``ufunc.reduceat``), ``seg_states`` the
        destination of each run, ``seg_of_t`` the run index of each sorted transition.
        Computed once (kept in :mod:`chequereader._cache`, not in the frozen object).
        """
        cache = derived(self)
        got = cache.get("by_dst")
        if got is None:
            order = np.argsort(self.dst, kind="stable")
            d = self.dst[order]
            if len(d) == 0:
                e = np.zeros(0, np.int64)
                got = (order, e, e, e)
            else:
                new = np.concatenate([[True], d[1:] != d[:-1]])
                change = np.flatnonzero(new)
                got = (order, change, d[change], np.cumsum(new) - 1)
            cache["by_dst"] = got
        return got

    @property
    def by_src(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, ptr)``: transitions of state ``s`` are ``order[ptr[s]:ptr[s+1]]``."""
        cache = derived(self)
        got = cache.get("by_src")
        if got is None:
            order = np.argsort(self.src, kind="stable")
            ptr = np.zeros(self.n_states + 1, np.int64)
            np.add.at(ptr, self.src + 1, 1)
            got = cache["by_src"] = (order, np.cumsum(ptr))
        return got

    @property
    def moves(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """``(state, class) -> destination states``, for walking texts one class at a time."""
        cache = derived(self)
        got = cache.get("moves")
        if got is None:
            out: dict[tuple[int, int], list[int]] = {}
            for s, c, d in zip(self.src.tolist(), self.cls.tolist(), self.dst.tolist(), strict=True):
                out.setdefault((s, c), []).append(d)
            got = cache["moves"] = {k: tuple(v) for k, v in out.items()}
        return got

    def walk(self, classes: Iterable[int]) -> frozenset[int]:
        """States reached from ``start`` reading ``classes`` (an empty set when stuck)."""
        moves = self.moves  # a dict walk: training checks every written form of every label
        cur = {self.start}
        for c in classes:
            c = int(c)
            cur = {d for s in cur for d in moves.get((s, c), ())}
            if not cur:
                break
        return frozenset(cur)

    def accepts_classes(self, classes: Iterable[int]) -> bool:
        return any(self.finals[s] for s in self.walk(classes))


@dataclass(frozen=True)
class Grammar:
    """A finite-state acceptor of written amounts.

    Attributes
    ----------
    locale : str
        Name (``us``, ``in``, ``cl``, ``any`` for the built-in ones).
    n_states, start : int
        States are ``0..n_states-1``.
    finals : frozenset of int
        Accepting states.
    transitions : tuple of (src, symbol, dst)
        May be non-deterministic; the built-in grammars are minimal DFAs. :meth:`tables`
        determinises an NFA first, so that the decoder's forward score counts every string
        once.
    """

    locale: str
    n_states: int
    start: int
    finals: frozenset[int]
    transitions: tuple[tuple[int, str, int], ...]

    def __post_init__(self) -> None:
        for s, c, d in self.transitions:
            if not (0 <= s < self.n_states and 0 <= d < self.n_states) or len(c) != 1:
                raise ConfigError(f"grammar {self.locale}: bad transition {(s, c, d)!r}")
        if not 0 <= self.start < self.n_states or any(
            not 0 <= f < self.n_states for f in self.finals
        ):
            raise ConfigError(f"grammar {self.locale}: start or finals out of range")

    @property
    def _moves(self) -> dict[tuple[int, str], tuple[int, ...]]:
        cache = derived(self)
        got = cache.get("moves")
        if got is None:
            out: dict[tuple[int, str], list[int]] = {}
            for s, c, d in self.transitions:
                out.setdefault((s, c), []).append(d)
            got = cache["moves"] = {k: tuple(v) for k, v in out.items()}
        return got

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(c for _, c, _ in self.transitions)

    @property
    def is_deterministic(self) -> bool:
        return all(len(v) == 1 for v in self._moves.values())

    def accepts(self, text: str) -> bool:
        """Whether the grammar accepts ``text`` (whitespace ignored)."""
        cur = {self.start}
        for c in strip_whitespace(text):
            cur = {d for s in cur for d in self._moves.get((s, c), ())}
            if not cur:
                return False
        return bool(cur & self.finals)

    def determinized(self) -> Grammar:
        """An equivalent minimal DFA (``self`` when already deterministic)."""
        if self.is_deterministic:
            return self
        n, start, finals, trans = _determinize(
            self.n_states, [self.start], self.finals, self.transitions
        )
        return Grammar(self.locale, n, start, finals, trans)

    def tables(self, alphabet: Alphabet) -> GrammarTables:
        """Arrays for the decoder over ``alphabet``'s classes (cached per alphabet).

        Transitions on symbols the alphabet lacks (e.g. ``₹`` for a model without that
        class) are dropped.
        """
        return _tables(self, alphabet)


@functools.lru_cache(maxsize=64)
def _tables(grammar: Grammar, alphabet: Alphabet) -> GrammarTables:
    g = grammar.determinized()
    rows = [(s, alphabet.chars.index(c), d) for s, c, d in g.transitions if c in alphabet]
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    finals = np.zeros(g.n_states, bool)
    finals[list(g.finals)] = True
    return GrammarTables(
        alphabet=alphabet,
        n_states=g.n_states,
        start=g.start,
        finals=finals,
        src=arr[:, 0].copy(),
        dst=arr[:, 2].copy(),
        cls=arr[:, 1].copy(),
    )


@functools.cache
def get_grammar(locale: str) -> Grammar:
    """The built-in amount grammar of ``locale`` (``us``, ``in``, ``cl`` or ``any``).

    Raises
    ------
    ConfigError
        When ``locale`` is not one of them.
    """
    check_in(locale, LOCALES, "locale")
    eps, moves, start, end = _thompson(grammar_source(locale))
    trans = [(s, c, d) for s, row in enumerate(moves) for c, d in row]
    n, st, finals, table = _determinize(len(eps), [start], [end], trans, eps)
    return Grammar(locale, n, st, finals, table)
