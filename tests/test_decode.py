"""Decoder over graph x grammar on hand-built graphs with known answers."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from chequereader.amounts import PriorSettings, amount_prior
from chequereader.decode import (
    DecodeConfig,
    Decoded,
    decode,
    forward,
    forward_criterion,
    forward_torch,
    nbest,
    viterbi,
)
from chequereader.errors import ConfigError
from chequereader.grammar import Grammar, canonical_amount, get_grammar
from chequereader.models.alphabet import DEFAULT
from chequereader.types import SegmentationGraph

US = get_grammar("us")
ANY = get_grammar("any")
C = len(DEFAULT)


def dec(n_nodes, src, dst, pen, grammar, *, config=None, prior=None, locale=None,
        raised_from=-1, **settings) -> Decoded:
    """:func:`decode` on the graph of these arcs: the grammar's own locale reads the texts
    (``any`` for bare tables) unless ``locale`` or ``prior`` says otherwise; ``settings``
    change ``config``'s."""
    loc = locale or getattr(grammar, "locale", "any")
    tt = grammar.tables(DEFAULT) if isinstance(grammar, Grammar) else grammar
    cfg = replace(config or DecodeConfig(), **settings)
    graph = SegmentationGraph.of_arcs(n_nodes, src, dst, raised_from=raised_from)
    return decode(graph, pen, tt, prior or amount_prior(loc), cfg)


def pens(*rows: dict[str, float]) -> np.ndarray:
    """Penalty matrix (A, C): the given classes, every other class forbidden (inf)."""
    out = np.full((len(rows), C), np.inf)
    for a, row in enumerate(rows):
        for ch, p in row.items():
            out[a, DEFAULT.index(ch)] = p
    return out


def brute_force(n_nodes, src, dst, pen, grammar, starts=(0,), finals=None):
    """Every accepted (arcs, classes, text, penalty) by enumeration."""
    finals = (n_nodes - 1,) if finals is None else finals
    out_arcs = {i: [a for a in range(len(src)) if src[a] == i] for i in range(n_nodes)}

    def walk(node, arcs):
        if node in finals:
            yield tuple(arcs)
        for a in out_arcs[node]:
            yield from walk(dst[a], arcs + [a])

    res = []
    for s in starts:
        for arcs in walk(s, []):
            options = [[c for c in range(C) if np.isfinite(pen[a, c])] for a in arcs]
            for classes in itertools.product(*options):
                text = "".join(DEFAULT.chars[c] for c in classes)
                if grammar.accepts(text):
                    res.append((arcs, classes, text, float(sum(pen[a, c] for a, c in zip(arcs, classes, strict=False)))))
    return res


def neg_lse(x):
    x = np.asarray(x, float)
    if x.size == 0:
        return math.inf
    m = x.min()
    return float(m - math.log(np.exp(m - x).sum()))


# A small graph with every arc i -> j, i < j, over 4 nodes and a few classes per arc.
SMALL_SRC = np.array([0, 0, 0, 1, 1, 2])
SMALL_DST = np.array([1, 2, 3, 2, 3, 3])
SMALL_PEN = pens(
    {"1": 0.3, "7": 1.1, "$": 0.9},
    {"4": 0.8, "1": 2.0},
    {"5": 2.5},
    {"2": 0.4, ".": 1.3, ",": 1.7},
    {"0": 1.0, "2": 0.6},
    {"0": 0.2, "5": 1.5, "-": 0.7},
)


# -- empty and degenerate graphs ------------------------------------------------------


@pytest.mark.parametrize("n_nodes", [0, 1, 3])
def test_empty_graph(n_nodes: int) -> None:
    src = dst = np.zeros(0, int)
    pen = np.zeros((0, C))
    assert viterbi(n_nodes, src, dst, pen, US, DEFAULT) is None
    assert forward(n_nodes, src, dst, pen, US, DEFAULT) == math.inf
    assert nbest(n_nodes, src, dst, pen, US, DEFAULT) == []
    d = dec(n_nodes, src, dst, pen, US)
    assert (d.status, d.amount, d.confidence, d.alternatives, d.path) == ("rejected", None, 0.0, (), None)


def test_no_accepted_path() -> None:
    pen = pens({"$": 0.1}, {"-": 0.1})  # "$-" is no amount
    assert viterbi(3, [0, 1], [1, 2], pen, US, DEFAULT) is None
    assert forward(3, [0, 1], [1, 2], pen, US, DEFAULT) == math.inf
    d = dec(3, [0, 1], [1, 2], pen, US)
    assert d.status == "rejected" and d.amount is None and d.confidence == 0.0


def test_invalid_inputs_raise_config_error() -> None:
    pen = pens({"1": 0.1})
    with pytest.raises(ConfigError, match="src"):
        viterbi(2, [1], [0], pen, US, DEFAULT)
    with pytest.raises(ConfigError, match="penalties"):
        viterbi(2, [0], [1], np.zeros((1, 3)), US, DEFAULT)
    with pytest.raises(ConfigError, match="penalties"):
        viterbi(2, [0], [1], np.full((1, C), np.nan), US, DEFAULT)
    with pytest.raises(ConfigError, match="match"):
        viterbi(3, [0, 1], [1, 2], pen, US, DEFAULT)
    with pytest.raises(ConfigError, match="finals"):
        viterbi(2, [0], [1], pen, US, DEFAULT, finals=[5])
    with pytest.raises(ConfigError, match="reject_threshold"):
        dec(2, [0], [1], pen, US, reject_threshold=2.0)


# -- Viterbi ----------------------------------------------------------------------------


def test_viterbi_small_graph_exact() -> None:
    p = viterbi(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US, DEFAULT)
    # Candidates: "120" 0.3+0.4+0.2=0.9, "12" via arc 4 0.3+0.6=0.9 (tie), "40" 1.0, ...
    # Tie between "120" and "12" (both 0.9 up to rounding): check against enumeration.
    bf = brute_force(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US)
    best = min(r[3] for r in bf)
    assert p is not None and p.penalty == pytest.approx(best)
    assert p.text in {r[2] for r in bf if abs(r[3] - best) < 1e-12}
    assert p.text == "".join(DEFAULT.chars[c] for c in p.classes)
    assert p.penalty == pytest.approx(sum(SMALL_PEN[a, c] for a, c in zip(p.arcs, p.classes, strict=False)))


def test_grammar_forbids_the_cheaper_path() -> None:
    # "1$2" costs 0.3 but $ may only come first; "12" through the long arc costs 1.1.
    pen = pens({"1": 0.1}, {"$": 0.1}, {"2": 0.1}, {"2": 1.0})
    src, dst = [0, 1, 2, 1], [1, 2, 3, 3]
    p = viterbi(4, src, dst, pen, US, DEFAULT)
    assert p is not None
    assert (p.text, p.arcs, p.penalty) == ("12", (0, 3), pytest.approx(1.1))
    # Without the long arc nothing is accepted.
    assert viterbi(4, src[:3], dst[:3], pen[:3], US, DEFAULT) is None


def test_ties_break_on_lowest_arc_then_class() -> None:
    # Two parallel arcs with the same penalty and classes 3 and 5 of equal penalty.
    pen = pens({"5": 1.0, "3": 1.0}, {"3": 1.0, "5": 1.0})
    p = viterbi(2, [0, 0], [1, 1], pen, US, DEFAULT)
    assert p is not None and (p.arcs, p.text) == ((0,), "3")
    # The same on the reversed arc order: still the lowest arc index.
    p2 = viterbi(2, [0, 0], [1, 1], pen[::-1], US, DEFAULT)
    assert p2 is not None and p2.arcs == (0,)


def test_two_starts_two_finals() -> None:
    # nodes 0..4; starts {0, 2}, finals {3, 4}.
    src = [0, 1, 2, 3, 2]
    dst = [1, 3, 3, 4, 4]
    pen = pens({"9": 2.0}, {"9": 2.0}, {"7": 0.5}, {"0": 4.0}, {"8": 0.7})
    p = viterbi(5, src, dst, pen, US, DEFAULT, starts=[0, 2], finals=[3, 4])
    assert p is not None and (p.text, p.arcs, p.penalty) == ("7", (2,), 0.5)
    texts = [(q.text, q.penalty) for q in nbest(5, src, dst, pen, US, DEFAULT, 10, starts=[0, 2], finals=[3, 4])]
    assert texts == [("7", 0.5), ("8", 0.7), ("99", 4.0), ("70", 4.5), ("990", 8.0)]
    # With the default start and final only the long path remains.
    q = viterbi(5, src, dst, pen, US, DEFAULT)
    assert q is not None and q.text == "990"
    f = forward(5, src, dst, pen, US, DEFAULT, starts=[0, 2], finals=[3, 4])
    assert f == pytest.approx(neg_lse([0.5, 0.7, 4.0, 4.5, 8.0]))


# -- forward, n-best, constraint: against brute force ---------------------------------


@pytest.mark.parametrize("grammar", [US, ANY])
def test_forward_and_nbest_match_enumeration(grammar) -> None:
    bf = brute_force(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar)
    assert len(bf) > 8
    f = forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT)
    assert f == pytest.approx(neg_lse([r[3] for r in bf]), abs=1e-12)
    per_text: dict[str, float] = {}
    for _, _, text, p in bf:
        per_text[text] = min(p, per_text.get(text, math.inf))
    expected = sorted(per_text.items(), key=lambda kv: kv[1])
    got = nbest(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, n=len(expected) + 3)
    assert len(got) == len(expected)
    assert len({p.text for p in got}) == len(got)
    assert [p.penalty for p in got] == pytest.approx([v for _, v in expected])
    for p in got:
        assert per_text[p.text] == pytest.approx(p.penalty)
    assert got[0].penalty == pytest.approx(viterbi(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT).penalty)
    # n-best with a small n is the head of the full list.
    assert [p.text for p in nbest(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, n=3)] == [
        p.text for p in got[:3]
    ]
    # Constrained forward: exactly the paths spelling that text.
    for text in ("12", "120", "$12"):
        want = neg_lse([r[3] for r in bf if r[2] == text])
        assert forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, constrain_text=text) == pytest.approx(want)
    both = forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, constrain_text=["12", "120"])
    assert both == pytest.approx(neg_lse([r[3] for r in bf if r[2] in ("12", "120")]))
    # A text the grammar refuses, or one that is not in the graph.
    assert forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, constrain_text="1$2") == math.inf
    assert forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, grammar, DEFAULT, constrain_text="999") == math.inf


def test_viterbi_is_first_of_nbest_on_random_graphs() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        n = 9
        src = np.array([i for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        dst = np.array([i + k for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        pen = rng.uniform(0.0, 6.0, (len(src), C))
        v = viterbi(n, src, dst, pen, ANY, DEFAULT)
        nb = nbest(n, src, dst, pen, ANY, DEFAULT, n=8)
        assert v is not None and v.text == nb[0].text and v.penalty == pytest.approx(nb[0].penalty)
        assert all(a.penalty <= b.penalty for a, b in zip(nb, nb[1:], strict=False))
        assert len({p.text for p in nb}) == 8
        for p in nb:  # each entry is the best path of its text
            assert p.penalty == pytest.approx(
                sum(pen[a, c] for a, c in zip(p.arcs, p.classes, strict=False))
            )
            assert forward(n, src, dst, pen, ANY, DEFAULT, constrain_text=p.text) <= p.penalty + 1e-9



def test_nbest_keeps_each_text_once_and_loses_none() -> None:
    # Few classes on many overlapping arcs: the same text is spelt by several segmentations,
    # and a repeat must neither take a place of the k kept per product node nor come out
    # twice; integer penalties add many ties.
    rng = np.random.default_rng(11)
    digits = [DEFAULT.index(c) for c in "1270"]
    for trial in range(8):
        n = 7
        src = np.array([i for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        dst = np.array([i + k for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        pen = np.full((len(src), C), np.inf)
        size = (len(src), len(digits))
        pen[:, digits] = rng.integers(0, 3, size) if trial % 2 else rng.uniform(0, 3, size)
        per_text: dict[str, float] = {}
        for _, _, text, p in brute_force(n, src, dst, pen, US):
            per_text[text] = min(p, per_text.get(text, math.inf))
        want = sorted(per_text.values())
        for k in (1, 2, 3, 5, 40):
            got = nbest(n, src, dst, pen, US, DEFAULT, n=k)
            assert len({p.text for p in got}) == len(got) == min(k, len(want))
            assert [p.penalty for p in got] == pytest.approx(want[: len(got)], abs=1e-12)
            # Every text better than the last one kept is there (ties at the end may differ).
            last = got[-1].penalty - 1e-9
            assert {p.text for p in got if p.penalty < last} == {
                t for t, v in per_text.items() if v < last
            }
            for p in got:
                assert per_text[p.text] == pytest.approx(p.penalty, abs=1e-12)
                total = sum(pen[a, c] for a, c in zip(p.arcs, p.classes, strict=True))
                assert total == pytest.approx(p.penalty, abs=1e-12)


def test_nbest_repeat_of_a_text_takes_no_place() -> None:
    # "12" reaches node 3 by two segmentations (0-1-3 and 0-2-3), both better than "17";
    # with two places per product node the repeat must not push "17" out.
    src, dst = [0, 0, 1, 2, 3], [1, 2, 3, 3, 4]
    pen = pens({"1": 0.1}, {"1": 0.2}, {"2": 0.1, "7": 0.5}, {"2": 0.1}, {"0": 0.1})
    got = nbest(5, src, dst, pen, US, DEFAULT, n=2)
    assert [(p.text, p.arcs) for p in got] == [("120", (0, 2, 4)), ("170", (0, 2, 4))]
    assert [p.penalty for p in got] == pytest.approx([0.3, 0.7])

# -- torch forward and its gradient ---------------------------------------------------


def test_torch_forward_matches_numpy_and_gradient_is_posterior() -> None:
    torch = pytest.importorskip("torch", reason="global training's forward needs torch")
    tt = US.tables(DEFAULT)
    pt = torch.tensor(SMALL_PEN, dtype=torch.float64, requires_grad=True)
    f = forward_torch(4, SMALL_SRC, SMALL_DST, pt, tt)
    assert f.item() == pytest.approx(forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US, DEFAULT), abs=1e-12)
    f.backward()
    bf = brute_force(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US)
    post = np.zeros_like(SMALL_PEN)
    for arcs, classes, _, p in bf:
        for a, c in zip(arcs, classes, strict=False):
            post[a, c] += math.exp(-(p - f.item()))
    grad = pt.grad.numpy()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, post, atol=1e-12)
    # Posteriors of the arcs leaving the start node sum to one.
    assert grad[SMALL_SRC == 0].sum() == pytest.approx(1.0)


def test_torch_constrained_and_criterion() -> None:
    torch = pytest.importorskip("torch", reason="global training's forward needs torch")
    tt = US.tables(DEFAULT)
    pt = torch.tensor(SMALL_PEN, requires_grad=True, dtype=torch.float64)
    fc = forward_torch(4, SMALL_SRC, SMALL_DST, pt, tt, constrain_text="120")
    assert fc.item() == pytest.approx(forward(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US, DEFAULT, constrain_text="120"))
    crit = forward_criterion(4, SMALL_SRC, SMALL_DST, pt, tt, "120")
    bf = brute_force(4, SMALL_SRC, SMALL_DST, SMALL_PEN, US)
    z = sum(math.exp(-r[3]) for r in bf)
    post = sum(math.exp(-r[3]) for r in bf if r[2] == "120") / z
    assert crit.item() == pytest.approx(-math.log(post))
    crit.backward()
    g = pt.grad.numpy()
    assert np.isfinite(g).all()
    # Lowering the label's own arcs lowers the criterion; forbidden classes get no gradient.
    # d(criterion)/d pen = posterior under the label - posterior under all paths.
    p_all = sum(math.exp(-r[3]) for r in bf if r[0][0] == 0 and r[1][0] == DEFAULT.index("1")) / z
    assert g[0, DEFAULT.index("1")] == pytest.approx(1.0 - p_all)
    assert g[0, DEFAULT.index("1")] > 0
    assert (g[~np.isfinite(SMALL_PEN)] == 0).all()
    with pytest.raises(ConfigError, match="label_text"):
        forward_criterion(4, SMALL_SRC, SMALL_DST, pt, tt, "1$2")
    # No accepted path: inf, and no NaN in the gradient.
    p2 = torch.tensor(pens({"$": 0.1}, {"-": 0.1}), requires_grad=True)
    f2 = forward_torch(3, [0, 1], [1, 2], p2, tt)
    assert math.isinf(f2.item())
    if f2.requires_grad:
        f2.backward()
        assert (p2.grad == 0).all()


# -- decode: confidence, rejection, alternatives ----------------------------------------


def test_dominant_path_is_confident() -> None:
    pen = pens({"4": 0.01, "9": 9.0}, {"2": 0.02, "7": 8.0})
    d = dec(3, [0, 1], [1, 2], pen, US)
    assert (d.status, d.text, d.amount) == ("ok", "42", "42")
    assert d.confidence == pytest.approx(1.0, abs=1e-3)
    assert d.path is not None and d.path.arcs == (0, 1)
    assert d.alternatives[0].amount == "42"


def test_tie_is_half_and_rejected_above_threshold() -> None:
    pen = pens({"3": 1.0, "5": 1.0})
    d = dec(2, [0], [1], pen, US)
    assert d.confidence == pytest.approx(0.5)
    assert {a.amount for a in d.alternatives} == {"3", "5"}
    assert sum(a.confidence for a in d.alternatives) == pytest.approx(1.0)
    assert d.amount == "3"  # equal confidence: the first of the n-best list (lowest class)
    r = dec(2, [0], [1], pen, US, reject_threshold=0.6)
    assert r.status == "rejected" and r.amount == "3" and r.text == "3"


def test_texts_of_one_amount_add_up() -> None:
    # "$12" (1.0 + 0 + 0) and "12" (0.5 + 0) spell the same amount; "17" another one.
    src, dst = [0, 1, 2, 0, 2], [1, 2, 3, 2, 3]
    pen = pens({"$": 1.0}, {"1": 0.0}, {"2": 0.0, "7": 1.5}, {"1": 0.5}, {})
    d = dec(4, src, dst, pen, US)
    z = math.exp(-1.0) + math.exp(-0.5) + math.exp(-2.5) + math.exp(-2.0)
    assert d.amount == "12" and d.text == "12"
    assert d.confidence == pytest.approx((math.exp(-1.0) + math.exp(-0.5)) / z)
    alt = {a.amount: a.confidence for a in d.alternatives}
    assert alt["17"] == pytest.approx((math.exp(-2.5) + math.exp(-2.0)) / z)


def test_at_least_five_distinct_amounts() -> None:
    # Ten digits on one arc, and "$" variants of each: 20 texts, 10 amounts.
    pen = pens({"$": 3.0}, {str(k): 0.1 * k for k in range(10)})
    pen = np.vstack([pen, pens({str(k): 0.1 * k + 0.05 for k in range(10)})])
    d = dec(3, [0, 1, 0], [1, 2, 2], pen, US, config=DecodeConfig(depth=4))
    amounts = [a.amount for a in d.alternatives]
    assert amounts == ["0", "1", "2", "3", "4"]
    confs = [a.confidence for a in d.alternatives]
    assert confs == sorted(confs, reverse=True)
    assert all(canonical_amount(a.text, "us") == a.amount for a in d.alternatives)
    d3 = dec(3, [0, 1, 0], [1, 2, 2], pen, US, nbest=3)
    assert len(d3.alternatives) == 3


def test_decode_locale_reading() -> None:
    # "1.234" only cl accepts: 1234 with the union grammar.
    pen = pens({"1": 0.1}, {".": 0.1}, {"2": 0.1}, {"3": 0.1}, {"4": 0.1})
    d = dec(6, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], pen, ANY)
    assert (d.text, d.amount, d.status) == ("1.234", "1234", "ok")
    assert dec(6, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], pen, US).amount is None


def _search_by_widening(g, pen, tt, beta, n_alt, cfg, locale):
    """The search of `decode` as first written: one n-best per beam and depth visited."""
    from chequereader.decode import _nbest

    depth, b = max(cfg.depth, 4 * n_alt), min(4.0, cfg.beam)
    while True:
        paths = _nbest(g, pen, tt, depth, b, beta)
        n_amounts = len({canonical_amount(p.text, locale) or p.text for p in paths})
        if len(paths) >= depth:
            if n_amounts >= n_alt or depth >= cfg.max_depth:
                return paths
            depth = min(2 * depth, cfg.max_depth)
        elif b >= cfg.beam or (n_amounts >= n_alt and b >= cfg.confidence_beam):
            return paths
        else:
            b = cfg.beam if 2.0 * b > 1e3 else min(2.0 * b, cfg.beam)


def test_search_at_full_beam_equals_search_by_widening() -> None:
    from chequereader.decode import _backward_best, _prepare, _search

    rng = np.random.default_rng(5)
    tt = get_grammar("cl").tables(DEFAULT)
    configs = [DecodeConfig(), DecodeConfig(depth=4, max_depth=16), DecodeConfig(beam=10.0)]
    lengths = set()
    for trial in range(60):
        spread = [0.5, 2.0, 5.0, 10.0][trial % 4]
        n = int(rng.integers(3, 10))
        src = np.array([i for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        dst = np.array([i + k for i in range(n - 1) for k in (1, 2, 3) if i + k < n])
        # peaked rows: one or two likely classes per arc, the others `spread` nats and more away
        pen = rng.uniform(spread, 3 * spread, (len(src), C))
        pen[np.arange(len(src)), rng.integers(0, 10, len(src))] = rng.uniform(0, 1, len(src))
        g, p = _prepare(n, src, dst, pen, DEFAULT, None, None)
        beta = _backward_best(g, p, tt)
        cfg = configs[(trial // 4) % len(configs)]
        got, amount_of = _search(g, p, tt, beta, 5, cfg, "cl")
        ref = _search_by_widening(g, p, tt, beta, 5, cfg, "cl")
        assert [(q.text, q.arcs, q.classes, q.penalty) for q in got] == [
            (q.text, q.arcs, q.classes, q.penalty) for q in ref
        ]
        assert all(amount_of[q.text] == (canonical_amount(q.text, "cl") or q.text) for q in got)
        lengths.add(len(got))
    assert len(lengths) > 4  # lists cut at several beams and depths, not one shape only


@pytest.mark.parametrize("locale", ["cl", "us", "any"])
def test_union_with_trie_equals_sorting_the_union(locale) -> None:
    from chequereader.decode import _pair_penalties, _pairs, _union, _union_with_trie, trie_acceptor

    rng = np.random.default_rng(1)
    tt = get_grammar(locale).tables(DEFAULT)
    texts = ["12", "1.200", "$***12.00", "7", "120", "1,200-", "12 00/100"]
    seqs = [tuple(DEFAULT.index(c) for c in t if c != " ") for t in texts]
    trie, _ = trie_acceptor(DEFAULT, seqs)
    pen = rng.uniform(0.0, 9.0, (13, C))
    pen[rng.random(pen.shape) < 0.2] = np.inf
    both, Q = _union_with_trie(tt, trie, pen)
    ref = _union(tt, trie)
    for got, want in zip(_pairs(both), _pairs(ref), strict=True):
        assert np.array_equal(got, want)
    assert np.array_equal(Q, _pair_penalties(ref, pen, log=True))


def _decode_chain(text: str, settings=None, changes=(), other: float = 20.0, raised_from: int = -1):
    """Decode a chain graph that spells ``text`` (penalty 0, every other class ``other``) with
    the US grammar and prior (with ``settings``, a PriorSettings); ``changes`` are
    ``(position, char, penalty)`` overrides."""
    n = len(text)
    pen = np.full((n, len(DEFAULT)), other)
    for k, ch in enumerate(text):
        pen[k, DEFAULT.index(ch)] = 0.0
    for k, ch, p in changes:
        pen[k, DEFAULT.index(ch)] = p
    return dec(n + 1, np.arange(n), np.arange(1, n + 1), pen, get_grammar("us").tables(DEFAULT),
               prior=amount_prior("us", settings), raised_from=raised_from)


def test_amount_prior_prefers_cents_over_a_slash_read_as_one():
    slash_like_one = ((5, "/", 2.0), (5, "1", 0.5))  # the slash looks a little more like a 1
    plain = _decode_chain("36000/100", PriorSettings(magnitude_penalty=0.0, no_cents_penalty=()),
                          slash_like_one)
    assert plain.amount == "360001100" and 0.75 < plain.confidence < 0.85
    prior = _decode_chain("36000/100", changes=slash_like_one)
    assert prior.amount == "360.00" and prior.text == "36000/100"
    assert {a.amount for a in prior.alternatives} >= {"360.00", "360001100"}
    assert prior.confidence > 0.9


def test_us_fraction_whose_slash_was_read_as_1_is_also_read_as_a_fraction():
    # "540 00/100" with the '/' looking much more like a 1 (by 14 nats): the text 540001100.
    slash_as_one = ((5, "/", 14.5), (5, "1", 0.5))
    off = _decode_chain("54000/100", PriorSettings(slash_one_penalty=()), slash_as_one)
    assert off.text == "540001100" and off.amount != "540.00"
    d = _decode_chain("54000/100", changes=slash_as_one)
    assert d.amount == "540.00" and d.text == "540001100" and d.confidence > 0.5
    r = amount_prior("us").readings
    assert ("6.98", pytest.approx(np.exp(-3.0))) in r("6981100", "$6981100")
    # at least one integer digit and the two of the cents before "1100"; not other locales
    assert [a for a, _ in r("251100", "251100")] == ["251100", "2511.00"]
    assert [a for a, _ in amount_prior("in").readings("6981100", "6981100")] == ["6981100"]


def test_indian_lone_dash_is_a_slash_dash_whose_slash_was_read_as_1():
    def read(settings=None):
        # "190/-" whose '/' looks a little more like a 1 (by 2 nats)
        text = "190/-"
        pen = np.full((len(text), len(DEFAULT)), 20.0)
        for k, ch in enumerate(text):
            pen[k, DEFAULT.index(ch)] = 0.0
        pen[3, DEFAULT.index("/")], pen[3, DEFAULT.index("1")] = 2.5, 0.5
        return dec(len(text) + 1, np.arange(len(text)), np.arange(1, len(text) + 1), pen,
                   get_grammar("in").tables(DEFAULT), prior=amount_prior("in", settings))

    off = read(PriorSettings(lone_dash_penalty=()))
    assert off.amount == "1901" and off.text == "1901-" and off.confidence > 0.85
    on = read()
    assert on.amount == "190" and on.text == "190/-" and on.confidence > 0.7
    assert "1901" in [a.amount for a in on.alternatives]
    assert amount_prior("in").text_penalty("1901-") == 3.0
    assert amount_prior("in").text_penalty("190/-") == 0.0
    assert amount_prior("us").text_penalty("1901-") == 0.0
    assert amount_prior("cl").text_penalty("1901.-") == 0.0


def test_prior_penalty_per_locale():
    us, cl, in_ = amount_prior("us"), amount_prior("cl"), amount_prior("in")
    assert us.prior_penalty("123456.78") == 0.0
    assert us.prior_penalty("1234567.00") == pytest.approx(2.3)
    assert us.prior_penalty("1234567") == pytest.approx(2.3 + 4.6)  # and no cents
    assert us.prior_penalty("1234") == pytest.approx(4.6)
    assert cl.prior_penalty("1234567") == 0.0  # pesos have no cents
    assert in_.prior_penalty("1500") == 0.0  # "1,500/-"
    assert in_.prior_penalty("123456789") == pytest.approx(2.3)
    assert us.prior_penalty(None) == 0.0
    off = amount_prior("us", PriorSettings(magnitude_penalty=0, no_cents_penalty=()))
    assert off.prior_penalty("123456789012") == 0.0
    assert amount_prior("us", PriorSettings(magnitude_penalty=0)).prior_penalty("12") == pytest.approx(4.6)


def test_us_prior_prefers_a_fraction_over_cents_read_as_digits():
    # "5 31/100" whose slash looks more like a 1 (by 3.0 nats): read as 5311100 without the
    # US cents prior; with it, 5.31 (the 7-digit reading also pays the magnitude prior).
    slash_like_one = ((3, "/", 3.5), (3, "1", 0.5))
    plain = _decode_chain("531/100", PriorSettings(no_cents_penalty=(), magnitude_confidence=False),
                          slash_like_one)
    assert plain.amount == "5311100"
    prior = _decode_chain("531/100", changes=slash_like_one)
    assert prior.amount == "5.31" and prior.text == "531/100"


def test_an_amount_far_beyond_the_locale_size_is_not_reported_as_sure():
    # one clean reading, no rival: a date line "11132022" read as a US amount
    big = _decode_chain("1113202.22")
    off = _decode_chain("1113202.22", PriorSettings(magnitude_confidence=False))
    assert big.amount == off.amount == "1113202.22"
    assert off.confidence > 0.9 and big.posterior == pytest.approx(off.posterior)
    assert big.confidence == pytest.approx(off.confidence * np.exp(-2.3), rel=1e-6)  # 7 digits, 6 free
    assert _decode_chain("111320.22").confidence > 0.9  # six integer digits cost nothing
    assert amount_prior("in").magnitude("123456789") == pytest.approx(2.3)
    assert amount_prior("cl").magnitude("12345678") == 0.0 and amount_prior("us").magnitude(None) == 0.0


def test_unreadable_hypothesis_lowers_confidence_when_every_path_is_poor() -> None:
    good = pens({"4": 0.01, "9": 30.0}, {"2": 0.02, "7": 30.0})
    poor = pens({"4": 9.0, "9": 30.0}, {"2": 9.0, "7": 30.0})  # one reading, but a bad one
    # US prior off: "42" alone; the per-character rubbish factor off too (tested below)
    on = DecodeConfig(unreadable_penalty=8.0, rubbish_penalty=math.inf)
    no_cents_off = amount_prior("us", PriorSettings(no_cents_penalty=()))
    off = DecodeConfig(rubbish_penalty=math.inf)
    assert dec(3, [0, 1], [1, 2], poor, US, config=off).confidence == pytest.approx(1.0)
    d = dec(3, [0, 1], [1, 2], poor, US, config=on, prior=no_cents_off)
    assert d.amount == "42" and d.status == "rejected"
    assert d.confidence == pytest.approx(1.0 / (1.0 + math.exp(18.0 - 8.0)), rel=1e-3)
    assert dec(3, [0, 1], [1, 2], good, US, config=on, prior=no_cents_off).confidence > 0.999


def test_us_text_of_digits_alone_is_also_read_with_a_lost_decimal_point():
    def read(text: str, settings: PriorSettings | None = None):
        return _decode_chain(text, settings, other=30.0)

    off = PriorSettings(lost_point_penalty=())
    assert read("$5549800", off).amount == "5549800"
    # 7 digits without cents: the reading with its point lost wins, from the same text
    d = read("$5549800")
    assert d.amount == "55498.00" and d.text == "$5549800" and d.status == "ok"
    assert {a.amount for a in d.alternatives} >= {"55498.00", "5549800"}
    # 5 digits: a lost point is the likelier reading, and neither is a sure thing
    d = read("$19005")
    assert d.amount == "190.05" and d.text == "$19005" and 0.5 < d.confidence < 0.7
    assert read("$19005", off).confidence > 0.99 and read("$19005", off).amount == "19005"
    assert [a.amount for a in d.alternatives][:2] == ["190.05", "19005"]
    assert d.alternatives[1].confidence > 0.3
    # closed without cents ("-"), grouped with commas, or with its point: one reading
    for text in ("$19005-", "$19,005", "$190.05"):
        d = read(text)
        assert d.confidence > 0.99 and "190.05" not in [a.amount for a in d.alternatives[1:]]
    assert amount_prior("cl").readings("19005", "19005") == [("19005", 1.0)]


def test_superscript_cents_are_read_from_the_raised_run_whatever_follows_them():
    def read(text: str, raised_from: int, settings: PriorSettings | None = None):
        return _decode_chain(text, settings, other=30.0, raised_from=raised_from)

    # "343 ^48/100" with its small '/' read as a 1 and its "00" as one 0: the field ends in a
    # raised run from node 3 (the 4 of the cents); without it a lost point is the best guess.
    assert read("34348110", -1).amount == "343481.10"
    d = read("34348110", 3)
    assert d.amount == "343.48" and d.text == "34348110"
    assert read("34348110", 3, PriorSettings(raised_cents_penalty=math.inf)).amount == "343481.10"
    # "$589.^13" whose '.' was lost: a lost point alone is a guess, raised cents are likelier
    lost = read("$58913", -1)
    assert lost.amount == "589.13" and lost.confidence < 0.7
    assert read("$58913", 4).amount == "589.13" and read("$58913", 4).confidence > 0.9
    assert read("$589.13", 5).amount == "589.13"
    # "3103 ^00/100" with its "00" read as one 0: the run 0110 is no "DD" + "/100"
    assert "3103.01" not in [a.amount for a in read("31030110", 4).alternatives]
    # a run of one character, or no digits before it: no such reading
    assert read("$58913", 5).confidence == pytest.approx(lost.confidence)
    assert "0.13" not in [a.amount for a in read("13", 0).alternatives]


def test_rubbish_factor_lowers_the_confidence_of_poorly_matching_characters() -> None:
    # One reading only, so the posterior is 1 whatever the penalties; the rubbish alternative
    # of each character (mass exp(-j)) makes a poor match less sure, a good one stays sure.
    good = pens({"4": 0.5, "9": 30.0}, {"2": 0.5, "7": 30.0})
    poor = pens({"4": 19.0, "9": 40.0}, {"2": 21.0, "7": 40.0})
    cfg = DecodeConfig(rubbish_penalty=20.0)
    prior = amount_prior("us", PriorSettings(no_cents_penalty=()))
    g = dec(3, [0, 1], [1, 2], good, US, config=cfg, prior=prior)
    assert g.amount == "42" and g.confidence > 0.999 and g.status == "ok"
    d = dec(3, [0, 1], [1, 2], poor, US, config=cfg, prior=prior)
    want = 1.0 / (1.0 + math.exp(19.0 - 20.0)) / (1.0 + math.exp(21.0 - 20.0))
    assert d.amount == "42" and d.confidence == pytest.approx(want, rel=1e-6)
    assert d.status == "rejected"  # about 0.2 < 0.5
    assert d.posterior == pytest.approx(1.0) and g.posterior == pytest.approx(1.0)
    assert d.alternatives[0].confidence == pytest.approx(want, rel=1e-6)
    off = dec(3, [0, 1], [1, 2], poor, US, config=DecodeConfig(rubbish_penalty=math.inf), prior=prior)
    assert off.confidence == pytest.approx(1.0)


def test_decode_keeps_its_caches_out_of_the_frozen_objects() -> None:
    import dataclasses
    import gc

    from chequereader._cache import DERIVED

    grammar = get_grammar("us")
    tt = grammar.tables(DEFAULT)
    cfg = DecodeConfig(nbest=3)
    prior = amount_prior("us")
    src, dst = [0, 1, 2, 0, 2], [1, 2, 3, 2, 3]
    pen = np.full((5, len(DEFAULT)), 9.0)
    pen[:, DEFAULT.chars.index("1")] = 0.5
    d = dec(4, src, dst, pen, tt, config=cfg, prior=prior)
    assert d.amount is not None and grammar.accepts("$1.11")
    assert tt.walk([1]) and tt.by_dst and tt.by_src  # the tables' derived values, computed
    for obj in (tt, cfg, prior, grammar):  # nothing written into the frozen objects
        assert set(vars(obj)) == {f.name for f in dataclasses.fields(obj)}, type(obj)
    assert id(tt) in DERIVED and id(grammar) in DERIVED
    fresh = dataclasses.replace(tt)
    assert fresh.by_dst[0] is not None and id(fresh) in DERIVED
    key = id(fresh)
    del fresh
    gc.collect()
    assert key not in DERIVED  # an entry goes with its object


def test_decode_reads_a_segmentation_graph_into_a_typed_result() -> None:
    from chequereader.decode import Decoding

    # "$12" (1.0 + 0 + 0) and "12" (0.5 + 0) spell one amount; "17" another one
    src, dst = [0, 1, 2, 0, 2], [1, 2, 3, 2, 3]
    pen = pens({"$": 1.0}, {"1": 0.0}, {"2": 0.0, "7": 1.5}, {"1": 0.5}, {})
    graph = SegmentationGraph.of_arcs(4, src, dst)
    assert graph.n_arcs == 5 and graph.raised_from == -1 and graph.images.shape[0] == 5
    cfg = DecodeConfig(rubbish_penalty=math.inf)
    d = decode(graph, pen, get_grammar("us").tables(DEFAULT), amount_prior("any"), cfg)
    assert isinstance(d, Decoded) and Decoding is Decoded
    z = math.exp(-1.0) + math.exp(-0.5) + math.exp(-2.5) + math.exp(-2.0)
    assert d.forward == pytest.approx(-math.log(z))
    assert d.forward == pytest.approx(forward(4, src, dst, pen, US, DEFAULT))
    assert (d.status, d.amount, d.text) == ("ok", "12", "12")
    assert d.path is not None and d.path.text == "12" and d.path.arcs == (3, 2)
    assert [a.amount for a in d.alternatives] == ["12", "17"]
    assert d.posterior == pytest.approx(d.confidence)  # no rubbish factor
    assert d.confidence == pytest.approx((math.exp(-1.0) + math.exp(-0.5)) / z)
    # the prior's locale reads the texts: the US prior weighs amounts without cents, and
    # reads "$12" as 12 either way
    us = decode(graph, pen, get_grammar("us").tables(DEFAULT), amount_prior("us"), cfg)
    assert us.amount == "12" and us.forward == pytest.approx(d.forward)
    # nothing accepted: rejected, no amount, no forward mass
    none = decode(SegmentationGraph.of_arcs(2, [0], [1]), pens({"-": 0.1}),
                  get_grammar("us").tables(DEFAULT), amount_prior("us"))
    assert (none.status, none.amount, none.confidence, none.forward) == ("rejected", None, 0.0, math.inf)
    # the wrong things in the wrong places are named
    with pytest.raises(ConfigError, match="graph"):
        decode((4, src, dst), pen, get_grammar("us").tables(DEFAULT), amount_prior("us"))
    with pytest.raises(ConfigError, match="GrammarTables"):
        decode(graph, pen, US, amount_prior("us"))
    with pytest.raises(ConfigError, match="prior"):
        decode(graph, pen, get_grammar("us").tables(DEFAULT), "us")
