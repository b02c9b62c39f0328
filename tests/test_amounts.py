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
