"""chequereader.amounts: the one home of the amount concepts, and each defined once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chequereader import amounts
from chequereader.amounts import (
    LOCALES,
    RUPEE,
    amounts_equal,
    canonical_amount,
    group_digits,
    locale_hint,
    written_forms,
)
from chequereader.errors import ConfigError

PKG = Path(amounts.__file__).resolve().parent


def test_canonical_amount_per_locale() -> None:
    assert canonical_amount(RUPEE + "5,10,00,000/-", "in") == "51000000"
    assert canonical_amount("12 00/100", "us") == "12.00"
    assert canonical_amount("$52.931", "cl") == "52931"
    assert canonical_amount("$**12.00") == "12.00"
    assert canonical_amount("1$2") is None
    with pytest.raises(ConfigError):
        canonical_amount("12", "xx")


def test_locale_hint() -> None:
    assert [locale_hint(t) for t in ("1,21,00,000/-", "$52.931", "$***300", "125")] == ["in", "cl", "us", None]


def test_amounts_equal() -> None:
    assert amounts_equal("100", "100.00") and not amounts_equal("100", "100.01")
    assert not amounts_equal(None, None) and not amounts_equal("x", "x") and not amounts_equal("inf", "inf")


def test_group_digits() -> None:
    assert group_digits(51000000, ",", indian=True) == "5,10,00,000"
    assert group_digits(1234567, ",") == "1,234,567"
    assert group_digits(1234567, "") == "1234567"


def test_written_forms() -> None:
    forms = written_forms("15000", "cl")
    assert "15.000" in forms and "$15.000.-" in forms
    assert all(canonical_amount(t, "cl") == "15000" for t in forms)
    assert written_forms("12.50", "cl") == []
    with pytest.raises(ConfigError):
        written_forms("12", "any")


def test_old_homes_re_export_the_same_objects() -> None:
    from chequereader import config, grammar
    from chequereader.io import manifest
    from chequereader.synth import amounts as synth_amounts
    from chequereader.train import fields as train_fields

    assert grammar.canonical_amount is canonical_amount and grammar.locale_hint is locale_hint
    assert grammar.LOCALES is LOCALES is config.LOCALES is synth_amounts.LOCALES and grammar.RUPEE is RUPEE
    assert manifest.amounts_equal is amounts_equal
    assert synth_amounts.group_digits is group_digits
    assert train_fields.written_forms is written_forms


CONCEPTS = ("LOCALES", "RUPEE", "SYMBOLS", "AMOUNT_SYMBOLS", "WRITTEN_SYMBOLS")


def _top_level_definitions() -> dict[str, list[str]]:
    """Name -> the modules that assign it (or define it as a function) at top level."""
    out: dict[str, list[str]] = {}
    for p in sorted(PKG.rglob("*.py")):
        tree = ast.parse(p.read_text(), str(p))
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, ast.FunctionDef):
                names = [node.name]
            for n in names:
                out.setdefault(n, []).append(str(p.relative_to(PKG)))
    return out


def test_each_amount_concept_is_defined_once() -> None:
    defs = _top_level_definitions()
    for name in (*CONCEPTS, "canonical_amount", "locale_hint", "amounts_equal", "group_digits", "written_forms"):
        assert defs.get(name, []) in ([], ["amounts.py"]), (name, defs.get(name))
    for name in ("LOCALES", "RUPEE", "canonical_amount", "amounts_equal", "group_digits", "written_forms"):
        assert defs[name] == ["amounts.py"], name
    globs = {n: w for n, w in defs.items() if n.endswith("FONT_GLOBS")}
    assert globs and all(len(w) == 1 for w in globs.values()), globs
    hand = {n: w for n, w in globs.items() if "PRINTED" not in n}
    assert all(w == ["fonts.py"] for w in hand.values()), hand


def test_no_literal_copy_of_the_symbol_set() -> None:
    """No module spells the amount symbol set as a literal again, but amounts.py."""
    hits = []
    for p in sorted(PKG.rglob("*.py")):
        if p.name == "amounts.py" and p.parent == PKG:
            continue
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "$,.-/*" in node.value:
                hits.append(str(p.relative_to(PKG)))
    assert hits == [], hits


# -- the decoder's amount prior ----------------------------------------------------------------

def test_each_locale_has_a_typed_frozen_prior() -> None:
    import dataclasses

    for loc in LOCALES:
        p = amounts.amount_prior(loc)
        assert isinstance(p, amounts.AmountPrior) and p.locale == loc
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.free_digits = 3  # type: ignore[misc]
    us, in_, cl, any_ = (amounts.amount_prior(x) for x in ("us", "in", "cl", "any"))
    assert (us.free_digits, us.no_cents_penalty, us.lost_point_penalty, us.slash_one_penalty) == (6, 4.6, 4.2, 3.0)
    assert us.lone_dash_penalty is None and not us.weighs_texts
    assert (in_.free_digits, in_.lone_dash_penalty, in_.no_cents_penalty) == (8, 3.0, 0.0) and in_.weighs_texts
    assert in_.lost_point_penalty is None and in_.slash_one_penalty is None
    assert cl == amounts.AmountPrior("cl", free_digits=8) and any_ == amounts.AmountPrior("any")
    assert all(p.magnitude_penalty == 2.3 and p.raised_cents_penalty == 1.0 and p.magnitude_confidence
               for p in (us, in_, cl, any_))
    with pytest.raises(ConfigError, match="locale"):
        amounts.amount_prior("fr")


def test_prior_readings_and_penalties_per_locale() -> None:
    import math

    us, in_, cl = (amounts.amount_prior(x) for x in ("us", "in", "cl"))
    # a US text of digits alone: also read with its decimal point lost
    assert [a for a, _ in us.readings("19005", "$19005")] == ["19005", "190.05"]
    assert us.readings("19005", "$19005")[1][1] == pytest.approx(math.exp(-4.2))
    assert cl.readings("19005", "19005") == [("19005", 1.0)]
    # raised cents, in the locales with a lost-point reading only
    assert ("343.48", pytest.approx(math.exp(-1.0))) in us.readings("34348110", "34348110", "343.48")
    assert [a for a, _ in in_.readings("34348110", "34348110", "343.48")] == ["34348110"]
    assert in_.text_penalty("1901-") == 3.0 and us.text_penalty("1901-") == 0.0
    assert us.prior_penalty("1234") == pytest.approx(4.6) and cl.prior_penalty("1234") == 0.0
    assert us.magnitude("1234567.00") == pytest.approx(2.3) and cl.magnitude("12345678") == 0.0


def test_prior_settings_change_every_locale_as_the_decode_table_did() -> None:
    S = amounts.PriorSettings
    # a per-locale table replaces every locale's value; a locale left out has none
    p = amounts.amount_prior("us", S(no_cents_penalty=(("in", 1.0),)))
    assert p.no_cents_penalty == 0.0 and amounts.amount_prior("in", S(no_cents_penalty=(("in", 1.0),))).no_cents_penalty == 1.0
    assert amounts.amount_prior("in", S(lone_dash_penalty=())).lone_dash_penalty is None
    # free digits fall back on the table's "any", else 8
    assert amounts.amount_prior("cl", S(free_digits=(("us", 5), ("any", 7)))).free_digits == 7
    assert amounts.amount_prior("cl", S(free_digits=(("us", 5),))).free_digits == 8
    # scalars apply to every locale; nothing given: the locale's own prior, unchanged
    assert all(amounts.amount_prior(x, S(magnitude_penalty=0.0)).magnitude_penalty == 0.0 for x in LOCALES)
    assert amounts.amount_prior("us", S()) is amounts.amount_prior("us")


def test_grammar_source_is_what_grammar_compiles() -> None:
    from chequereader import grammar

    for loc in LOCALES:
        src = amounts.grammar_source(loc)
        assert src[0] in ("seq", "alt")
        assert grammar.get_grammar(loc).locale == loc
    assert grammar.read_accepted is amounts.read_accepted
    with pytest.raises(ConfigError, match="locale"):
        amounts.grammar_source("fr")


# -- a locale added here alone: eu ("1.234,56", "€") -------------------------------------------

EU_ACCEPTED = [
    ("1.234,56", "1234.56"), ("\u20ac1.234,56", "1234.56"), ("1.234,56 \u20ac", "1234.56"),
    ("\u20ac **12,50", "12.50"), ("12,-", "12"), ("12-", "12"), ("0,45", "0.45"), ("1234", "1234"),
    ("1.234.567,00\u20ac", "1234567.00"), ("4.500", "4500"),
]
EU_REFUSED = ["1.23", "1,234", "12,5", "\u20ac12\u20ac", "12.50", "$12,50", "01,00", "1.2345"]


@pytest.mark.parametrize("text,amount", EU_ACCEPTED)
def test_eu_amounts_are_read_with_a_decimal_comma(text: str, amount: str) -> None:
    from chequereader.grammar import get_grammar

    assert "eu" in LOCALES and get_grammar("eu").accepts(text)
    assert canonical_amount(text, "eu") == amount
    assert amounts.read_accepted("".join(text.split()), "eu") == amount


@pytest.mark.parametrize("text", EU_REFUSED)
def test_eu_refuses_what_it_does_not_write(text: str) -> None:
    assert canonical_amount(text, "eu") is None


def test_eu_is_read_only_when_asked_for() -> None:
    # "any" and "auto" read as they did: eu is not one of the union's locales, nor hinted
    assert "eu" not in amounts.ANY_ORDER
    assert canonical_amount("1.234,56", "any") is None and canonical_amount("12,50", "any") is None
    assert locale_hint("\u20ac1.234,56") != "eu"


def test_eu_written_forms_and_prior() -> None:
    forms = written_forms("1234.56", "eu")
    assert {"1.234,56", "1234,56", "\u20ac1.234,56", "1.234,56\u20ac", "**1.234,56"} <= set(forms)
    assert all(canonical_amount(f, "eu") == "1234.56" for f in forms)
    assert {"15.000", "15.000,-", "15.000,00", "15000-"} <= set(written_forms("15000", "eu"))
    p = amounts.amount_prior("eu")
    assert p == amounts.AmountPrior("eu", free_digits=8)
    assert p.readings("1234", "1.234") == [("1234", 1.0)] and p.text_penalty("12-") == 0.0


def test_eu_reads_end_to_end() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import field_image

    from chequereader.config import PipelineConfig, load_config
    from chequereader.pipeline import ChequeReader

    assert load_config(None, locale="eu").locale == "eu"
    reader = ChequeReader(PipelineConfig(locale="eu", field=True))
    assert reader.prior("eu").locale == "eu" and reader.tables("eu").n_states > 1
    for text, amount in (("1.234,56", "1234.56"), ("350,-", "350"), ("4.500", "4500")):
        r = reader.read_field(field_image(text))
        assert (r.amount, r.text, r.status) == (amount, text, "ok"), (text, r)


def test_eu_from_the_command_line(tmp_path: Path) -> None:
    import json
    import sys

    import cv2
    from click.testing import CliRunner

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import field_image

    from chequereader.cli import main

    img = tmp_path / "f.png"
    cv2.imwrite(str(img), field_image("1.234,56"))
    out = tmp_path / "rows.jsonl"
    r = CliRunner().invoke(main, ["read", str(img), "--field", "--locale", "eu", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    row = json.loads(out.read_text().splitlines()[0])
    assert (row["reading"], row["text"]) == ("1234.56", "1.234,56")
