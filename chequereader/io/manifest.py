"""Labels manifest (docs/design.md section 6): a CSV with at least ``file,amount``; extra columns kept.

``file`` is relative to the CSV's folder (absolute paths are kept); ``amount`` must already be
canonical: digits with an optional ``.`` and two decimals, no separators or currency
(``1234.56``, ``100.00``, ``52931``). Two amounts are equal when equal as ``Decimal``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ..amounts import amounts_equal  # noqa: F401  (re-exported)
from ..errors import ConfigError

_CANONICAL = re.compile(r"^[0-9]+(\.[0-9]{2})?$")


@dataclass(frozen=True)
class LabelRow:
    """One manifest row: the image's absolute path, its canonical amount, the other columns."""

    file: str
    amount: str
    extra: dict[str, Any] = dc_field(default_factory=dict)
    line: int = 0


def is_canonical_amount(s: Any) -> bool:
    """Whether ``s`` is a canonical amount string (``"1234.56"``, ``"52931"``)."""
    return isinstance(s, str) and bool(_CANONICAL.match(s))


def canonical_amount_str(s: Any, *, where: str = "amount") -> str:
    """Return ``s`` stripped of surrounding spaces if it is a canonical amount, else raise.

    Canonical: ASCII digits with an optional ``.`` followed by exactly two decimals; no
    thousands separators, currency signs or signs. Nothing is rewritten: ``"1,234.56"`` is an
    error, not ``"1234.56"``, because a manifest is the ground truth and a silently "fixed"
    label hides a labelling mistake.

    Parameters
    ----------
    s : str
        The amount.
    where : str
        What to name in the error message (e.g. ``"labels.csv line 7: amount"``).

    Raises
    ------
    ConfigError
        When ``s`` is not canonical; the message names ``where`` and the value.

    Examples
    --------
    >>> canonical_amount_str(" 1234.56 ")
    '1234.56'
    """
    if not isinstance(s, str):
        raise ConfigError(f"{where}: {s!r} is not a string")
    t = s.strip()
    if not _CANONICAL.match(t):
        raise ConfigError(
            f"{where}: {s!r} is not a canonical amount (digits with an optional '.' and two "
            "decimals, no separators or currency, e.g. 1234.56 or 52931)"
        )
    return t


def read_manifest(csv_path: str | os.PathLike) -> list[LabelRow]:
    """Read a labels manifest.

    Parameters
    ----------
    csv_path : str or os.PathLike
        CSV with a header holding at least ``file`` and ``amount`` (UTF-8, BOM tolerated).

    Returns
    -------
    list of LabelRow
        In file order; ``file`` absolute (resolved against the CSV's folder); ``amount``
        canonical; ``extra`` the other columns as strings (e.g. ORAND's ``digit_boxes``);
        ``line`` the row's line number in the CSV. Blank lines are skipped.

    Raises
    ------
    ConfigError
        Missing or unreadable file, no header, ``file``/``amount`` column missing, an empty
        file name, or a non-canonical amount; the message names the file and line.
    """
    path = os.fspath(csv_path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: labels manifest not found")
    base = os.path.dirname(os.path.abspath(path))
    rows: list[LabelRow] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if not header:
                raise ConfigError(f"{path}: empty manifest (no header line)")
            missing = [c for c in ("file", "amount") if c not in header]
            if missing:
                raise ConfigError(
                    f"{path}: header {header} lacks column(s) {missing} (need at least file,amount)"
                )
            reader.fieldnames = header
            for rec in reader:
                line = reader.line_num
                values = {k: (v if v is not None else "") for k, v in rec.items() if k is not None}
                if not any(str(v).strip() for v in values.values()):
                    continue
                if None in rec:
                    raise ConfigError(f"{path} line {line}: more fields than header columns")
                file = str(values.pop("file")).strip()
                if not file:
                    raise ConfigError(f"{path} line {line}: empty file name")
                amount = canonical_amount_str(
                    str(values.pop("amount")), where=f"{path} line {line}: amount"
                )
                full = os.path.normpath(os.path.join(base, os.path.expanduser(file)))
                rows.append(LabelRow(file=full, amount=amount, extra=values, line=line))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read labels manifest ({exc})") from exc
    return rows
