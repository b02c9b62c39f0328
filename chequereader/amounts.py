"""How amounts are written and read, per locale: the one home of the amount concepts.

- :data:`LOCALES`, :data:`RUPEE` and the amount symbol sets (:data:`SYMBOLS`,
  :data:`WRITTEN_SYMBOLS`);
- reading: :func:`canonical_amount` (a written amount to its canonical form),
  :func:`locale_hint` (the locale a text's own form shows), :func:`amounts_equal`;
- writing: :func:`group_digits` (thousands / lakh grouping) and :func:`written_forms` (every
  text a locale's grammar accepts for an amount);
- the grammar of each locale as a pattern (:func:`grammar_source`, compiled by
  :mod:`chequereader.grammar`) and the reading of a text it accepts (:func:`read_accepted`);
- the decoder's amount prior of each locale (:class:`AmountPrior`, :func:`amount_prior`;
  :class:`PriorSettings` a pipeline's changes to it).

Adding a locale is adding its entries here: its grammar, reading, written forms, hint and
prior; the decoder, the reader and the command line take :data:`LOCALES` from here.

The other modules re-export these names where they used to be defined
(``chequereader.grammar``, ``chequereader.io.manifest``, ``chequereader.synth.amounts``,
``chequereader.train.fields``).

This module imports no other project module at import time but ``_validate``, ``errors`` and
``patterns``:
the grammar (:mod:`chequereader.grammar`, which imports this module) is imported inside the
functions that need it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ._validate import check_in
from .errors import ConfigError
from .patterns import DIGITS, Pattern, alt, lit, opt, plus, seq, star, sym

LOCALES = ("us", "in", "cl", "eu", "any")
RUPEE = "\u20b9"
EURO = "\u20ac"
# The amount symbols a recognizer class exists for (models.alphabet.DEFAULT, the drawn
# training symbols of chequereader.symbols).
SYMBOLS = "$,.-/*"
# The symbols a synthetic field may write: the same and the rupee sign, which the default
# alphabet has no class for (Alphabet.extend adds it).
WRITTEN_SYMBOLS = SYMBOLS + RUPEE

# the order "any" tries the locales in (the first accepting reads the amount); "eu" is read
# only when asked for: "any" and "auto" read as they did before it was added
ANY_ORDER = ("us", "in", "cl")
_WS = re.compile(r"\s+")
_LAKH = re.compile(r"\d,\d\d,\d{3}(?!\d)")
_CL_THOUSANDS = re.compile(r"\d\.\d{3}(?![\d])")
# the currency sign of each locale a cheque is written in (written_forms)
CURRENCY_SIGNS = {"us": "$", "cl": "$", "in": RUPEE, "eu": EURO}
# the decimal mark of each locale whose amounts have cents (read_accepted)
DECIMAL_MARKS = {"us": ".", "in": ".", "eu": ","}
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
    locale its text shows (that locale's cleaning, priors and canonical form). ``eu`` is never
    hinted: its amounts are read only under ``locale="eu"``.

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


def digits_of(text: str) -> str:
    """The digits of a text, in order (what a reader of digits alone sees of it).

    >>> digits_of("$1,234.50/-")
    '123450'
    """
    return "".join(c for c in text if "0" <= c <= "9")


def canonical_amount(text: str, locale: str = "any") -> str | None:
    """The canonical amount (docs/design.md section 6) of a written amount, or None if refused.

    Parameters
    ----------
    text : str
        The amount as written; whitespace is ignored.
    locale : str
        One of :data:`LOCALES`; ``any`` reads with the first of us, in, cl accepting.

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
    >>> canonical_amount("1.234,56 \u20ac", "eu")
    '1234.56'
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

def trailing_zeros(amount: str | None) -> int:
    """Zeros at the end of an amount's digits, cents included (``"1200.00"`` -> 4,
    ``"52931"`` -> 0; none for no amount). Amounts written on cheques are mostly round, and a
    misread digit seldom keeps them so: a feature of the calibrated confidence."""
    digits = "".join(c for c in (amount or "") if c.isdigit())
    return len(digits) - len(digits.rstrip("0"))


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
    locale : {"us", "in", "cl", "eu"}

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
    elif locale == "eu":
        ints.add(group_digits(int(whole), "."))
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
    elif locale == "eu":
        c = cents if cents else "00"
        ends += [f",{c}"] + (["", "-", ",-"] if no_cents else [])
        ends += [e + EURO for e in ends]  # the sign written after the amount
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


# --------------------------------------------------------------------------------------------
# the grammars, as patterns (compiled by chequereader.grammar)
# --------------------------------------------------------------------------------------------

_D = sym(DIGITS)
_N = sym("123456789")
_DD = seq(_D, _D)
_DDD = seq(_D, _D, _D)
_INT_PLAIN = alt(lit("0"), seq(_N, star(_D)))
_TERM = alt(lit("-"), lit("/-"), lit(".-"))
_FILL = star(sym("*"))


def grammar_source(locale: str) -> Pattern:
    """The amounts ``locale`` writes, as a :mod:`chequereader.patterns` pattern over single
    characters (the text without whitespace); :func:`chequereader.grammar.get_grammar`
    compiles it. The rules are those of the :mod:`chequereader.grammar` notes.

    Raises
    ------
    ConfigError
        When ``locale`` is not one of :data:`LOCALES`.
    """
    if locale == "us":
        int_ = alt(_INT_PLAIN, seq(_N, opt(_D), opt(_D), plus(seq(sym(","), _DDD))))
        body = alt(
            seq(int_, opt(alt(seq(sym("."), _DD), seq(_DD, lit("/100")), _TERM))),
            seq(sym("."), _DD),
        )
        return seq(opt(sym("$")), _FILL, body)
    if locale == "in":
        int_ = alt(
            _INT_PLAIN, seq(_N, opt(_D), star(seq(sym(","), _DD)), sym(","), _DDD)
        )
        # "/-" whose thin dash was lost in the scan or in cleaning leaves a lone '/', which
        # LeNet-5 otherwise reads as a final 1 ("1600/-" -> 16001).
        cents = seq(sym("."), _DD, opt(alt(lit("-"), lit("/-"), sym("/"))))
        return seq(opt(sym(RUPEE)), _FILL, int_, opt(alt(cents, _TERM, sym("/"))))
    if locale == "cl":
        # Uruguayan cheques (ORAND) group thousands with '.' and now and then with ',', and
        # close the amount with '-', '.-', ',-', '/-' or a lone '.' or ','.
        int_ = alt(
            _INT_PLAIN,
            seq(_N, opt(_D), opt(_D), plus(seq(sym("."), _DDD))),
            seq(_N, opt(_D), opt(_D), plus(seq(sym(","), _DDD))),
        )
        term = alt(_TERM, lit(",-"), sym("."), sym(","))
        return seq(opt(sym("$")), _FILL, int_, opt(term))
    if locale == "eu":
        # "1.234,56", "€ 1.234,56", "1.234,56 €", "12,-": '.' groups thousands, ',' is the
        # decimal comma (cents or ",-"); the sign before the amount (then fill may follow)
        # or after it.
        int_ = alt(_INT_PLAIN, seq(_N, opt(_D), opt(_D), plus(seq(sym("."), _DDD))))
        body = seq(int_, opt(alt(seq(sym(","), _DD), lit(",-"), lit("-"))))
        return alt(seq(opt(sym(EURO)), _FILL, body), seq(body, sym(EURO)))
    if locale == "any":
        return alt(*(grammar_source(loc) for loc in ANY_ORDER))
    raise ConfigError(f"locale: {locale!r} is not one of {list(LOCALES)}")


_TERMINATORS = ("/100", "/-", ".-", ",-", "-", "/")
# what a text may begin or end with besides its amount: currency signs and fill
_SIGNS = "".join(dict.fromkeys(CURRENCY_SIGNS.values())) + "*"


def read_accepted(s: str, locale: str) -> str:
    """The canonical amount of a string the grammar of ``locale`` is known to accept.

    :func:`canonical_amount` without the acceptance check, for callers that hold texts the
    grammar produced (the decoder's paths): only the shapes of the grammar occur, so the
    reading is a few string operations. The result for a string the grammar refuses is
    unspecified; use :func:`canonical_amount` for arbitrary text.

    Parameters
    ----------
    s : str
        Accepted text without whitespace.
    locale : str
        One of :data:`LOCALES` but ``any`` (not checked; ``any`` is not a reading of its own).

    Returns
    -------
    str
        The canonical amount.

    Examples
    --------
    >>> read_accepted("$1.234.567.-", "cl"), read_accepted("1200/100", "us")
    ('1234567', '12.00')
    """
    s = s.strip(_SIGNS)
    cents: str | None = None
    if s.endswith("/100"):
        s, cents = s[:-6], s[-6:-4]
    else:
        for t in _TERMINATORS[1:]:
            if s.endswith(t):
                s = s[: -len(t)]
                break
        mark = DECIMAL_MARKS.get(locale)
        if mark is not None and len(s) >= 3 and s[-3] == mark:
            s, cents = s[:-3], s[-2:]
    digits = s.replace(",", "").replace(".", "")
    integer = str(int(digits)) if digits else "0"
    return integer if cents is None else f"{integer}.{cents}"


# --------------------------------------------------------------------------------------------
# the decoder's amount prior
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AmountPrior:
    """What the decoder believes of one locale's amounts before reading them (docs/design.md
    section 3): ``-log`` weights of amounts and texts, and the other amounts a text may stand
    for. :func:`amount_prior` gives each locale's; all penalties are in nats.

    Attributes
    ----------
    locale : str
        The locale whose texts are read (:func:`read_accepted`).
    free_digits : int
        Integer digits an amount may have at no cost; each further one costs
        ``magnitude_penalty`` (ten times less likely), so that "360 00/100" with its slash
        read as a 1 (360001100) loses to 360.00. ``magnitude_penalty`` 0 turns it off.
    magnitude_confidence : bool
        The size part of the prior also discounts the confidence of the amount chosen: a lone
        reading of a date or a MICR line as a nine-digit amount has no rival, yet is not likely.
    no_cents_penalty : float
        An amount read without cents costs this much. US courtesy amounts nearly always
        carry cents ("$125.00", "125 00/100"; "125.-" is rare): it decides "5 31/100" over
        5311100 (slash read as a 1), and when cleaning lost the decimal point and no reading
        has cents, it lowers the confidence instead of reporting $10029 for $100.29 as sure.
    lost_point_penalty : float or None
        A text of digits alone (no '.' or ',', ending in a digit, at least three digits) is
        also read as the amount with its last two digits as cents, at this penalty: a small
        decimal point lost in the scan or in cleaning. The text's mass is shared between the
        two readings, so "$19005" is no longer reported as a sure thing (190.05 against 19005;
        a point lost is more likely than an amount written with no cents at all, so this is
        below ``no_cents_penalty``). None: no such reading.
    slash_one_penalty : float or None
        The small '/' of "540 00/100" is a short stroke like the 1 after it, and is read as
        one ("540001100"): a text of digits alone that ends in 1100 after at least three
        digits is also read as that fraction (540.00), at this penalty. None: no such reading.
    lone_dash_penalty : float or None
        A text that ends in '-' with no '/' before it costs this much (Indian amounts close
        with "/-"; a '-' alone is most often a "/-" whose '/' was read as a 1: "190/-" ->
        "1901.-"). Per text, before its amount's mass is summed. None: no cost.
    raised_cents_penalty : float
        Superscript cents (a field that ends in a run of small raised pieces,
        ``SegmentationGraph.raised_from``): a text is also read as the full-size digits
        before the run for the integer part and the run's first two characters for cents,
        whatever the run's other characters were read as ("343 ^48/100" read 34348110 ->
        343.48), at this penalty; only where ``lost_point_penalty`` is given (inf: off).
    """

    locale: str
    free_digits: int = 8
    magnitude_penalty: float = 2.3
    magnitude_confidence: bool = True
    no_cents_penalty: float = 0.0
    lost_point_penalty: float | None = None
    slash_one_penalty: float | None = None
    lone_dash_penalty: float | None = None
    raised_cents_penalty: float = 1.0

    @property
    def weighs_texts(self) -> bool:
        """Whether :meth:`text_penalty` may be other than 0 (the decoder skips it if not)."""
        return bool(self.lone_dash_penalty)

    def text_penalty(self, text: str) -> float:
        """``-log`` prior weight of a decoded text for its form alone (0 for most texts):
        ``lone_dash_penalty`` for a text that ends in '-' without a '/' before it."""
        dash = self.lone_dash_penalty
        if dash is not None and text.endswith("-") and not text.endswith("/-"):
            return dash
        return 0.0

    def magnitude(self, amount: str | None) -> float:
        """``-log`` prior weight of ``amount`` for its size alone (``magnitude_penalty`` per
        integer digit beyond ``free_digits``; 0 for ordinary amounts)."""
        if amount is None or self.magnitude_penalty <= 0:
            return 0.0
        return self.magnitude_penalty * max(0, len(amount.split(".")[0]) - float(self.free_digits))

    def prior_penalty(self, amount: str | None) -> float:
        """``-log`` prior weight (>= 0; 0 for ordinary amounts) of a canonical amount."""
        if amount is None:
            return 0.0
        cents = 0.0 if "." in amount else self.no_cents_penalty
        return cents + self.magnitude(amount)

    def readings(self, amount: str, text: str, raised: str | None = None) -> list[tuple[str, float]]:
        """The amounts a decoded text stands for, each with its prior weight (<= 1).

        ``amount`` (the text's own reading) at ``exp(-prior_penalty)``; with a
        ``lost_point_penalty``, the amount with its last two digits as cents; ``raised``, the
        amount the text's path spells with the field's raised run as superscript cents (the
        larger weight where another reading gives it too); with a ``slash_one_penalty``, the
        fraction whose '/' was read as 1.
        """
        out = [(amount, math.exp(-self.prior_penalty(amount)))]
        lost, slash = self.lost_point_penalty, self.slash_one_penalty
        if (lost is not None and "." not in amount and len(amount) >= 3 and text[-1:].isdigit()
                and "." not in text and "," not in text):
            cents = f"{int(amount[:-2])}.{amount[-2:]}"
            out.append((cents, math.exp(-(lost + self.prior_penalty(cents)))))
        if raised is not None and lost is not None and math.isfinite(self.raised_cents_penalty):
            w = math.exp(-(self.raised_cents_penalty + self.prior_penalty(raised)))
            same = [k for k, (a, _) in enumerate(out) if a == raised]
            if same:  # the lost point's reading, now seen raised: the likelier weight
                out[same[0]] = (raised, max(w, out[same[0]][1]))
            else:
                out.append((raised, w))
        digits = text.lstrip("$*")
        if (slash is not None and digits.isdigit() and digits.endswith("1100") and len(digits) >= 7
                and digits[0] != "0"):
            frac = f"{int(digits[:-6])}.{digits[-6:-4]}"
            if all(frac != a for a, _ in out):
                out.append((frac, math.exp(-(slash + self.prior_penalty(frac)))))
        return out


#: Each locale's prior.
PRIORS: dict[str, AmountPrior] = {
    "us": AmountPrior("us", free_digits=6, no_cents_penalty=4.6, lost_point_penalty=4.2,
                      slash_one_penalty=3.0),
    "in": AmountPrior("in", free_digits=8, lone_dash_penalty=3.0),
    "cl": AmountPrior("cl", free_digits=8),
    "eu": AmountPrior("eu", free_digits=8),
    "any": AmountPrior("any", free_digits=8),
}

# PriorSettings' per-locale keys: the AmountPrior field each sets and its value for a locale
# a given table leaves out (None: from the table's "any" entry, else 8).
_PER_LOCALE = {"free_digits": None, "no_cents_penalty": 0.0, "lost_point_penalty": None,
               "slash_one_penalty": None, "lone_dash_penalty": None}


@dataclass(frozen=True)
class PriorSettings:
    """A pipeline's changes to the amount priors (its ``[prior]`` table).

    A key left out (None) keeps each locale's own value (:data:`PRIORS`). The scalar keys
    (``magnitude_penalty``, ``magnitude_confidence``, ``raised_cents_penalty``) apply to
    every locale. The per-locale keys (``free_digits``, ``no_cents_penalty``,
    ``lost_point_penalty``, ``slash_one_penalty``, ``lone_dash_penalty``) are tables of
    ``[locale, value]`` pairs that replace every locale's value: a locale the table leaves
    out has none (no cost, no such reading), or for ``free_digits`` the table's ``any``
    value, else 8. ``no_cents_penalty = []`` thus turns the no-cents cost off everywhere.
    :class:`AmountPrior` explains each.
    """

    magnitude_penalty: float | None = None
    magnitude_confidence: bool | None = None
    raised_cents_penalty: float | None = None
    free_digits: tuple[tuple[str, int], ...] | None = None
    no_cents_penalty: tuple[tuple[str, float], ...] | None = None
    lost_point_penalty: tuple[tuple[str, float], ...] | None = None
    slash_one_penalty: tuple[tuple[str, float], ...] | None = None
    lone_dash_penalty: tuple[tuple[str, float], ...] | None = None

    def apply(self, prior: AmountPrior) -> AmountPrior:
        """``prior`` with these changes."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if f.name not in _PER_LOCALE:
                kw[f.name] = v
                continue
            table = {str(loc): val for loc, val in v}
            if f.name == "free_digits":
                kw[f.name] = table.get(prior.locale, table.get("any", 8))
            else:
                kw[f.name] = table.get(prior.locale, _PER_LOCALE[f.name])
        return dataclasses.replace(prior, **kw) if kw else prior


def amount_prior(locale: str, settings: PriorSettings | None = None) -> AmountPrior:
    """The amount prior of ``locale`` (one of :data:`LOCALES`), with a pipeline's changes.

    >>> amount_prior("us").free_digits, amount_prior("in").lone_dash_penalty
    (6, 3.0)
    >>> amount_prior("us", PriorSettings(no_cents_penalty=())).no_cents_penalty
    0.0
    """
    check_in(locale, LOCALES, "locale")
    prior = PRIORS[locale]
    return settings.apply(prior) if settings is not None else prior
