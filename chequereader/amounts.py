"""How amounts are written and read, per locale: the one home of the amount concepts.

- :data:`LOCALES`, :data:`RUPEE` and the amount symbol sets (:data:`SYMBOLS`,
  :data:`WRITTEN_SYMBOLS`);
- reading: :func:`canonical_amount` (a written amount to its canonical form),
  :func:`locale_hint` (the locale a text's own form shows), :func:`amounts_equal`;
- writing: :func:`group_digits` (thousands / lakh grouping) and :func:`written_forms` (every
  text a locale's grammar accepts for an amount).

The other modules re-export these names where they used to be defined
(``chequereader.grammar``, ``chequereader.io.manifest``, ``chequereader.synth.amounts``,
``chequereader.train.fields``).

This module imports no other project module at import time but ``_validate`` and ``errors``:
the grammar (:mod:`chequereader.grammar`, which imports this module) is imported inside the
functions that need it.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

from ._validate import check_in
from .errors import ConfigError

LOCALES = ("us", "in", "cl", "any")
RUPEE = "\u20b9"
# The amount symbols a recognizer class exists for (models.alphabet.DEFAULT, the drawn
# training symbols of chequereader.symbols).
SYMBOLS = "$,.-/*"
# The symbols a synthetic field may write: the same and the rupee sign, which the default
# alphabet has no class for (Alphabet.extend adds it).
WRITTEN_SYMBOLS = SYMBOLS + RUPEE

# the order "any" tries the locales in (the first accepting reads the amount)
ANY_ORDER = ("us", "in", "cl")
_WS = re.compile(r"\s+")
_LAKH = re.compile(r"\d,\d\d,\d{3}(?!\d)")
_CL_THOUSANDS = re.compile(r"\d\.\d{3}(?![\d])")
# the currency sign of each locale a cheque is written in (written_forms)
CURRENCY_SIGNS = {"us": "$", "cl": "$", "in": RUPEE}
_FILLS = ("", "*", "**", "***")


def strip_whitespace(text: str) -> str:
    """``text`` without any whitespace (how the grammars read a written amount)."""
    return _WS.sub("", text)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def locale_hint(text: str) -> str | None:
    """The locale a decoded text's own form points to, or None when it says nothing.

    ``in`` for a rupee sign, lakh grouping (``1,21,00,000``) or the ``/-`` ending; ``cl`` for
    ``.`` grouping thousands (``52.931``); ``us`` for ``xx/100`` or a ``$`` otherwise (the
    dollar of most cheques that print one; a peso amount shows itself by its ``.``
    grouping). Used by ``locale="auto"``: read the field under ``any``, then again under the
    locale its text shows (that locale's cleaning, priors and canonical form).

    >>> locale_hint("1,21,00,000/-"), locale_hint("$52.931"), locale_hint("$***300"), locale_hint("125")
    ('in', 'cl', 'us', None)
    """
    t = "".join(text.split())
    if RUPEE in t or t.endswith("/-") or _LAKH.search(t):
        return "in"
    if _CL_THOUSANDS.search(t.rstrip(".-")):
        return "cl"
    if "/100" in t or t.startswith("$"):
        return "us"
    return None


def canonical_amount(text: str, locale: str = "any") -> str | None:
    """The canonical amount (docs/design.md section 6) of a written amount, or None if refused.

    Parameters
    ----------
    text : str
        The amount as written; whitespace is ignored.
    locale : str
        ``us``, ``in``, ``cl`` or ``any`` (read with the first of us, in, cl accepting).

    Returns
    -------
    str or None
        Digits without separators or currency, with ``.`` and two decimals when cents were
        written; no leading zeros except ``0.xx``. None when the grammar refuses ``text``.

    Examples
    --------
    >>> canonical_amount("\u20b95,10,00,000/-", "in")
    '51000000'
    >>> canonical_amount("12 00/100", "us")
    '12.00'
    """
    check_in(locale, LOCALES, "locale")
    return _canonical(strip_whitespace(text), locale)


@functools.lru_cache(maxsize=4096)
def _canonical(s: str, locale: str) -> str | None:
    from .grammar import get_grammar, read_accepted  # grammar imports this module

    if locale == "any":
        for loc in ANY_ORDER:
            if get_grammar(loc).accepts(s):
                return read_accepted(s, loc)
        return None
    if not get_grammar(locale).accepts(s):
        return None
    return read_accepted(s, locale)


def amounts_equal(a: str | None, b: str | None) -> bool:
    """Whether two amount strings are equal as ``Decimal`` (``"100"`` == ``"100.00"``).

    ``None`` or a string that is not a number is equal to nothing (not even another ``None``):
    a missing reading never counts as right.
    """
    if a is None or b is None:
        return False
    try:
        da, db = Decimal(str(a).strip()), Decimal(str(b).strip())
    except (InvalidOperation, ValueError):
        return False
    if not (da.is_finite() and db.is_finite()):
        return False
    return da == db


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def group_digits(n: int, sep: str, indian: bool = False) -> str:
    """``n`` written with ``sep`` between groups of three digits (``indian``: the last three,
    then twos: 5,10,00,000); ``sep`` empty: the digits alone."""
    s = str(n)
    if not sep:
        return s
    if indian and len(s) > 3:
        head, tail = s[:-3], s[-3:]
        parts: list[str] = []
        while len(head) > 2:
            parts.insert(0, head[-2:])
            head = head[:-2]
        if head:
            parts.insert(0, head)
        return sep.join(parts + [tail])
    out: list[str] = []
    while len(s) > 3:
        out.insert(0, s[-3:])
        s = s[:-3]
    out.insert(0, s)
    return sep.join(out)


def written_forms(amount: str, locale: str) -> list[str]:
    """Every text the ``locale`` grammar accepts that spells ``amount`` (as a label).

    Parameters
    ----------
    amount : str
        Canonical amount (``1234.56``, ``15000``).
    locale : {"us", "in", "cl"}

    Returns
    -------
    list of str
        With or without the currency sign, check-protection fill of up to three ``*``, plain
        or grouped thousands, and the locale's endings (``.56`` / ``56/100`` in ``us``;
        ``-``, ``/-``, ``.-`` ...). Empty when the locale cannot write the amount (cents in
        ``cl``).

    Examples
    --------
    >>> forms = written_forms("15000", "cl")
    >>> "15.000" in forms and "$15.000.-" in forms and "15000" in forms
    True
    >>> "$1,234.56" in written_forms("1234.56", "us") and "123456/100" in written_forms("1234.56", "us")
    True
    """
    if locale not in CURRENCY_SIGNS:
        raise ConfigError(f"locale: expected one of {sorted(CURRENCY_SIGNS)}, got {locale!r}")
    whole, _, cents = amount.partition(".")
    whole = str(int(whole)) if whole else "0"
    no_cents = not cents or int(cents) == 0
    ints = {whole}
    if locale == "us":
        ints.add(group_digits(int(whole), ","))
    elif locale == "cl":
        ints |= {group_digits(int(whole), "."), group_digits(int(whole), ",")}
    else:
        ints.add(group_digits(int(whole), ",", indian=True))
    ends: list[str] = []
    if locale == "us":
        c = cents if cents else "00"
        ends += [f".{c}", f"{c}/100"]
        if no_cents:
            ends += ["", "-", "/-", ".-"]
    elif locale == "in":
        c = cents if cents else "00"
        ends += [f".{c}", f".{c}-", f".{c}/-"]
        if no_cents:
            ends += ["", "-", "/-", ".-", "/"]
    else:
        if not no_cents:
            return []
        ends += ["", "-", "/-", ".-", ",-", ".", ","]
    from .grammar import get_grammar  # grammar imports this module

    grammar = get_grammar(locale)
    out: list[str] = []
    for sign in ("", CURRENCY_SIGNS[locale]):
        for fill in _FILLS:
            for i in sorted(ints):
                for e in ends:
                    t = f"{sign}{fill}{i}{e}"
                    if grammar.accepts(t) and amounts_equal(canonical_amount(t, locale), amount):
                        out.append(t)
            if locale == "us" and whole == "0" and not no_cents:
                t = f"{sign}{fill}.{cents}"
                if grammar.accepts(t):
                    out.append(t)
    return list(dict.fromkeys(out))
