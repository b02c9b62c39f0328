"""A tiny regular-expression algebra over single characters, as data.

The amount grammars are written with it (:func:`chequereader.amounts.grammar_source`) and
compiled to automata by :mod:`chequereader.grammar`. A pattern is a nested tuple, hashable
and comparable:

- ``("sym", chars)``: any one character of ``chars``;
- ``("seq", items)``: the items one after the other (``("seq", ())`` is the empty string);
- ``("alt", items)``: any one of the items;
- ``("star", item)``: the item zero or more times.

This module imports no other project module.

Examples
--------
>>> seq(opt(sym("$")), plus(sym("0123456789")))[0]
'seq'
"""

from __future__ import annotations

Pattern = tuple

DIGITS = "0123456789"


def sym(chars: str) -> Pattern:
    """Any one character of ``chars``."""
    return ("sym", chars)


def lit(text: str) -> Pattern:
    """The characters of ``text`` in order."""
    return ("seq", tuple(sym(c) for c in text))


def seq(*items: Pattern) -> Pattern:
    """``items`` one after the other."""
    return ("seq", items)


def alt(*items: Pattern) -> Pattern:
    """Any one of ``items``."""
    return ("alt", items)


def opt(item: Pattern) -> Pattern:
    """``item`` or nothing."""
    return ("alt", (item, ("seq", ())))


def star(item: Pattern) -> Pattern:
    """``item`` zero or more times."""
    return ("star", item)


def plus(item: Pattern) -> Pattern:
    """``item`` one or more times."""
    return seq(item, star(item))
