"""Amounts as a writer puts them on a cheque: realistic courtesy amounts per locale
(:func:`amount_text`) and legal amounts in words (:func:`legal_words`)."""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_in
from ..amounts import LOCALES, group_digits  # noqa: F401  (re-exported)

#: The locales :func:`amount_text` writes amounts of (a locale the reader reads is not
#: necessarily one synthesis can write).
SYNTH_LOCALES = ("us", "in", "cl", "any")


# --------------------------------------------------------------------------------------------
# amounts per locale
# --------------------------------------------------------------------------------------------

def _magnitude(rng: np.random.Generator, lo: float, hi: float) -> int:
    # Log-uniform: cheques carry small and large amounts; round numbers are common.
    v = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if rng.random() < 0.3:
        mag = 10 ** max(0, len(str(v)) - int(rng.integers(1, 3)))
        v = max(mag, v // mag * mag)
    return max(1, v)


def amount_text(rng: np.random.Generator, locale: str = "us") -> tuple[str, str]:
    """Draw a realistic written amount and its canonical form.

    Parameters
    ----------
    rng : numpy.random.Generator
    locale : {"us", "in", "cl", "any"}

    Returns
    -------
    written : str
        With :func:`compose_field` markup (``^`` = small raised cents), e.g. ``"$1,234.56"``,
        ``"12 ^00/100"``, ``"₹5,10,00,000/-"``, ``"$52.931"``.
    canonical : str
        Digits with optional ``.`` and two decimals: ``"1234.56"``, ``"52931"``.
    """
    check_in(locale, SYNTH_LOCALES, "locale")
    if locale == "any":
        locale = ("us", "in", "cl")[int(rng.integers(3))]
    if locale == "cl":
        return _amount_cl(rng)
    if locale == "in":
        return _amount_in(rng)
    return _amount_us(rng)


def _amount_cl(rng: np.random.Generator) -> tuple[str, str]:
    """:func:`amount_text` of a Chilean amount (pesos, no cents)."""
    u = rng.random
    n = _magnitude(rng, 100, 5_000_000)
    body = group_digits(n, "." if u() < 0.7 else "")
    pre = "$" if u() < 0.5 else ""
    post = ".-" if u() < 0.1 else ("-" if u() < 0.05 else "")
    return pre + body + post, str(n)


def _amount_in(rng: np.random.Generator) -> tuple[str, str]:
    """:func:`amount_text` of an Indian amount (lakh grouping, ``/-`` or paise)."""
    u = rng.random
    n = _magnitude(rng, 10, 50_000_000)
    r = u()
    if r < 0.55:
        body = group_digits(n, ",", indian=True)
    elif r < 0.75:
        body = group_digits(n, " ", indian=True)
    else:
        body = str(n)
    pre = "₹" if u() < 0.3 else ""
    r = u()
    if r < 0.5:
        return pre + body + "/-", str(n)
    if r < 0.7:
        paise = int(rng.integers(0, 100)) if u() < 0.4 else 0
        return pre + body + f".{paise:02d}", f"{n}.{paise:02d}"
    return pre + body, str(n)


def _amount_us(rng: np.random.Generator) -> tuple[str, str]:
    """:func:`amount_text` of a US amount (dollars and cents, in the styles cheques use)."""
    u = rng.random
    n = _magnitude(rng, 1, 200_000)
    cents = 0 if u() < 0.45 else int(rng.integers(0, 100))
    canon = f"{n}.{cents:02d}"
    body = group_digits(n, "," if u() < 0.5 else "")
    r = u()
    if r < 0.35:
        pre = "$" if u() < 0.6 else ""
        return pre + body + f".{cents:02d}", canon
    if r < 0.5:
        return "$" + "*" * int(rng.integers(1, 4)) + body + f".{cents:02d}", canon
    if r < 0.68:
        return body + f" ^{cents:02d}/100", canon
    if r < 0.8:
        pre = "$" if u() < 0.5 else ""
        return pre + body + f".^{cents:02d}", canon
    if r < 0.9 and cents == 0:
        return ("$" if u() < 0.4 else "") + body + (".-" if u() < 0.6 else "-"), canon
    return ("$" if u() < 0.5 else "") + body + f".{cents:02d}", canon


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _words_en(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" " + _words_en(n % 100) if n % 100 else "")
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _words_en(n // size) + " " + name + (" " + _words_en(n % size) if n % size else "")
    return str(n)


_ES_UNITS = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
             "quince dieciseis diecisiete dieciocho diecinueve veinte").split()
_ES_TENS = "_ _ veinti treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_ES_HUND = ("_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
            "ochocientos novecientos").split()


def _words_es(n: int) -> str:
    if n <= 20:
        return _ES_UNITS[n]
    if n < 30:
        return "veinti" + _ES_UNITS[n - 20]
    if n < 100:
        return _ES_TENS[n // 10] + (" y " + _ES_UNITS[n % 10] if n % 10 else "")
    if n == 100:
        return "cien"
    if n < 1000:
        return _ES_HUND[n // 100] + (" " + _words_es(n % 100) if n % 100 else "")
    if n < 10**6:
        head = "mil" if n // 1000 == 1 else _words_es(n // 1000) + " mil"
        return head + (" " + _words_es(n % 1000) if n % 1000 else "")
    head = "un millon" if n // 10**6 == 1 else _words_es(n // 10**6) + " millones"
    return head + (" " + _words_es(n % 10**6) if n % 10**6 else "")


def legal_words(canonical: str, locale: str) -> str:
    """The legal amount (in words) for a canonical amount, as a writer would put it."""
    whole, _, frac = canonical.partition(".")
    n = int(whole)
    if locale == "cl":
        return _words_es(n) + " pesos"
    w = _words_en(n).capitalize()
    if locale == "in":
        return "Rupees " + w + " only"
    return w + f" and {frac or '00'}/100"

