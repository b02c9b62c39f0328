"""Amount grammars: accepted / refused strings per locale, canonical amounts, tables."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chequereader.errors import ConfigError
from chequereader.grammar import (
    LOCALES,
    RUPEE,
    Grammar,
    _determinize,
    canonical_amount,
    get_grammar,
    read_accepted,
)
from chequereader.models.alphabet import DEFAULT

ACCEPTED = [
    # (text as written, locale, canonical amount)
    ("$1,234.56", "us", "1234.56"),
    ("1234.56", "us", "1234.56"),
    ("$**12.00", "us", "12.00"),
    ("**12.00", "us", "12.00"),
    ("12 00/100", "us", "12.00"),
    ("1200/100", "us", "12.00"),
    ("$1,234 56/100", "us", "1234.56"),
    ("12.-", "us", "12"),
    ("12/-", "us", "12"),
    ("12.00", "us", "12.00"),
    ("$.45", "us", "0.45"),
    ("0.45", "us", "0.45"),
    ("$1,000,000", "us", "1000000"),
    (RUPEE + "5,10,00,000/-", "in", "51000000"),
    ("26 30 000/-", "in", "2630000"),
    ("1,23,456", "in", "123456"),
    ("12,345.50/-", "in", "12345.50"),
    ("5000-", "in", "5000"),
    ("1600/", "in", "1600"),  # "/-" with its dash lost
    ("3,58,073/", "in", "358073"),
    ("5,000.50/", "in", "5000.50"),
    ("$52.931", "cl", "52931"),
    ("$1.234.567", "cl", "1234567"),
    ("52931", "cl", "52931"),
    ("$52.931.-", "cl", "52931"),
    ("$*52.931,-", "cl", "52931"),
    ("52,931", "cl", "52931"),  # ORAND cheques sometimes group with ','
    ("111,063.", "cl", "111063"),  # and close with a lone '.' or ','
    ("62.974,", "cl", "62974"),
    # any: the union, each string read by the locale that accepts it
    ("1.234", "any", "1234"),
    ("1.23", "any", "1.23"),
    ("$1,234.56", "any", "1234.56"),
    ("1,23,456/-", "any", "123456"),
    ("$52.931.-", "any", "52931"),
]

REFUSED = [
    ("", "us"),
    ("$", "us"),
    ("1$2", "us"),  # $ only at the start
    ("12$", "us"),
    ("1,2345", "us"),  # commas group exactly three digits
    ("12,34.00", "us"),
    (",123", "us"),
    ("012", "us"),  # no leading zeros
    ("12.5", "us"),  # exactly two decimals
    ("12.345", "us"),
    ("1*2", "us"),  # * only as leading fill
    ("12*", "us"),
    ("*$12", "us"),  # fill after $, not before
    ("12//100", "us"),
    ("12/100", "us"),  # /100 needs two cent digits after the integer
    ("12--", "us"),
    ("123,456", "in"),  # Indian grouping: 1,23,456
    ("1,234,567", "in"),
    ("$12", "in"),
    ("1600/", "us"),
    ("1600/", "cl"),
    ("16/00", "in"),
    ("12.00", "cl"),  # no cents in cl
    ("1.23", "cl"),
    ("1.2345", "cl"),
    ("52,9310", "cl"),
    ("1.000,000", "cl"),  # one separator per amount
    ("12.5.", "cl"),
    (RUPEE + "12", "cl"),
    ("1.2.3", "any"),
    ("--", "any"),
    ("12-3", "any"),
]


@pytest.mark.parametrize("text,locale,amount", ACCEPTED)
def test_accepted_with_canonical_amount(text: str, locale: str, amount: str) -> None:
    assert get_grammar(locale).accepts(text)
    assert canonical_amount(text, locale) == amount
    assert get_grammar("any").accepts(text)
    assert canonical_amount(text, "any") == amount


@pytest.mark.parametrize("text,locale,amount", [a for a in ACCEPTED if a[1] != "any"])
def test_read_accepted_is_canonical_amount_without_the_check(text: str, locale: str, amount: str) -> None:
    # The decoder reads its own (accepted, whitespace-free) texts with it.
    assert read_accepted("".join(text.split()), locale) == amount


@pytest.mark.parametrize("text,locale", REFUSED)
def test_refused(text: str, locale: str) -> None:
    assert not get_grammar(locale).accepts(text)
    assert canonical_amount(text, locale) is None


def test_bad_locale_is_named() -> None:
    with pytest.raises(ConfigError, match="xx"):
        get_grammar("xx")
    with pytest.raises(ConfigError, match="locale"):
        canonical_amount("12", "fr")


def test_grammars_are_cached_minimal_dfas() -> None:
    for loc in LOCALES:
        g = get_grammar(loc)
        assert g is get_grammar(loc)
        assert g.is_deterministic
        assert g.determinized() is g
        assert g.start == 0 and g.locale == loc
        # Minimal: minimising again merges nothing.
        assert _determinize(g.n_states, [g.start], g.finals, g.transitions)[0] == g.n_states


def test_tables_drop_symbols_absent_from_alphabet() -> None:
    g = get_grammar("in")
    t = g.tables(DEFAULT)
    assert t.n_transitions == sum(1 for _, c, _ in g.transitions if c != RUPEE)
    ext = DEFAULT.extend(RUPEE)
    t2 = g.tables(ext)
    assert t2.n_transitions == len(g.transitions)
    assert ext.index(RUPEE) in set(t2.cls.tolist())
    assert g.tables(DEFAULT) is t  # cached per alphabet
    seq = [DEFAULT.index(c) for c in "1,23,456"]
    assert t.accepts_classes(seq)
    assert not t.accepts_classes(seq[:-1])


def test_nfa_is_determinised_for_tables() -> None:
    # "1" | "12" | "1" "2"* written as an NFA with two branches on "1".
    nfa = Grammar("toy", 4, 0, frozenset({1, 2, 3}), ((0, "1", 1), (0, "1", 2), (2, "2", 3), (3, "2", 3)))
    assert not nfa.is_deterministic
    dfa = nfa.determinized()
    assert dfa.is_deterministic
    for s in ["1", "12", "1222", "", "2", "121"]:
        assert nfa.accepts(s) == dfa.accepts(s)
    t = nfa.tables(DEFAULT)
    assert len({(s, c) for s, c in zip(t.src.tolist(), t.cls.tolist(), strict=False)}) == t.n_transitions


def test_bad_grammar_data() -> None:
    with pytest.raises(ConfigError):
        Grammar("bad", 2, 0, frozenset({1}), ((0, "1", 5),))
    with pytest.raises(ConfigError):
        Grammar("bad", 2, 3, frozenset({1}), ())


# Independent reference: the documented rules as Python regular expressions.
_D = r"[0-9]"
REF = {
    "us": re.compile(
        rf"\$?\**(?:(?:0|[1-9]{_D}*|[1-9]{_D}{{0,2}}(?:,{_D}{{3}})+)"
        rf"(?:\.{_D}{{2}}|{_D}{{2}}/100|-|/-|\.-)?|\.{_D}{{2}})"
    ),
    "in": re.compile(
        rf"{RUPEE}?\**(?:0|[1-9]{_D}*|[1-9]{_D}?(?:,{_D}{{2}})*,{_D}{{3}})"
        rf"(?:\.{_D}{{2}}(?:-|/-|/)?|-|/-|\.-|/)?"
    ),
    "cl": re.compile(
        rf"\$?\**(?:0|[1-9]{_D}*|[1-9]{_D}{{0,2}}(?:\.{_D}{{3}})+|[1-9]{_D}{{0,2}}(?:,{_D}{{3}})+)"
        rf"(?:-|/-|\.-|,-|\.|,)?"
    ),
}
SYMBOLS = "0123456789$,.-/*" + RUPEE
near_amounts = st.one_of(
    st.text(alphabet=SYMBOLS, max_size=12),
    *(st.from_regex(r, fullmatch=True) for r in REF.values()),
)


@settings(max_examples=400, deadline=None)
@given(near_amounts)
def test_automata_match_reference_and_amounts_agree(text: str) -> None:
    readings = {}
    for loc, ref in REF.items():
        accepted = get_grammar(loc).accepts(text)
        assert accepted == bool(ref.fullmatch(text)), (loc, text)
        assert (canonical_amount(text, loc) is not None) == accepted
        if accepted:
            readings[loc] = canonical_amount(text, loc)
    assert get_grammar("any").accepts(text) == bool(readings)
    # No string gets two different amounts from two locales: "any" is unambiguous.
    assert len(set(readings.values())) <= 1
    if readings:
        amount = canonical_amount(text, "any")
        assert amount in readings.values()
        assert re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]{2})?", amount)


@pytest.mark.parametrize("locale", [loc for loc in LOCALES])
def test_tables_accept_exactly_the_grammars_strings(locale: str) -> None:
    # The class-level walk (training checks every written form of every label with it) agrees
    # with the grammar's own string acceptor on the tables above, and on the states it reaches.
    g = get_grammar(locale)
    alpha = DEFAULT.extend(RUPEE)
    t = g.tables(alpha)
    texts = ["".join(x[0].split()) for x in ACCEPTED + REFUSED]
    for text in texts:
        seq = [alpha.index(c) for c in text]
        assert t.accepts_classes(seq) == g.accepts(text), text
    assert t.walk([]) == frozenset({t.start})
    assert t.walk([alpha.index("-")] * 3) == frozenset()  # stuck: no state reached
    one = t.walk([alpha.index("1")])
    assert len(one) == 1 and set(t.dst[(t.src == t.start) & (t.cls == alpha.index("1"))].tolist()) == one


@pytest.mark.parametrize("text, want", [
    ("\u20b95,10,000/-", "in"), ("1,21,00,000", "in"), ("26 30 000/-", "in"), ("190/-", "in"),
    ("$52.931", "cl"), ("15.000.-", "cl"), ("1.234.567", "cl"),
    ("$***300", "us"), ("540 00/100", "us"), ("$1,234.56", "us"),
    ("125", None), ("12,500.00", None), ("", None),
])
def test_locale_hint_reads_the_locale_off_the_text(text, want):
    from chequereader.grammar import locale_hint

    assert locale_hint(text) == want


def test_auto_locale_reads_an_indian_field_as_indian():
    import cv2
    import numpy as np

    from chequereader.config import PipelineConfig
    from chequereader.pipeline import ChequeReader

    img = np.full((60, 330), 255, np.uint8)
    cv2.putText(img, "1,21,00,000/-", (6, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 0, 2)
    reader = ChequeReader(PipelineConfig(field=True))
    assert reader.config.locale == "auto"
    tr = reader.trace_field(img)
    assert tr.locale == "in" and tr.decoding.text == "1,21,00,000/-"
    assert tr.decoding.amount == "12100000"
    assert reader.trace_field(img, "cl").locale == "cl"  # a named locale is kept
