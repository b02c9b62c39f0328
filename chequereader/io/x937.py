"""X9.37 / X9.100-187 image cash letters: read items (amount, sequence, front/back TIFF), write.

File structure: a sequence of records, each a 4-byte big-endian length followed by the record;
the record type is its first two characters. Text is ASCII or EBCDIC (cp037; digits and
letters are the same in cp500); image data in record 52 is binary in both.

Field positions below are 1-based, as in the X9.37 DSTU (2003) / X9.100-187 tables:

* 25 check detail: item amount 48-57 (10 digits, cents), ECE institution item sequence
  number 58-72 (15).
* 31 return: item amount 32-41, sequence number 54-68.
* 50 image view detail: view side indicator 32 (``0`` front, ``1`` back).
* 52 image view data: sequence number 22-36; fixed part ends at 101; then length of image
  reference key (4) + key, length of digital signature (5) + signature, length of image data
  (7) + image data.

Items are assembled as: a 25 (or 31) record opens an item; the 50/52 pairs that follow attach
its front and back images. Images with no detail record before them (deposit tickets and
credits, e.g. after a 61/62 credit record) open an item with ``amount_cents=None``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import numpy as np

from .._validate import check_in
from ..errors import ConfigError, InvalidImageError
from ..types import Page
from .images import DEFAULT_LIMITS, ImageLimits, load_pages

PathOrBytes = str | os.PathLike | bytes | bytearray | memoryview

_EBCDIC = "cp037"
_MAX_IMAGE = 9_999_999  # the 7-digit image data length field
_DETAIL = ("25", "31")
_CREDIT = ("61", "62")
_CLOSE = ("10", "20", "70", "85", "90", "99")


@dataclass(frozen=True)
class X9Item:
    """One item of a cash letter.

    ``sequence`` is the ECE institution item sequence number (stripped); ``amount_cents`` the
    item amount in cents, ``None`` for images with no check detail record (deposit tickets,
    credits); ``front`` / ``back`` the image bytes (TIFF) or ``None``; ``index`` the item's
    position in the file (0-based); ``error`` what is wrong with this item's own records (a
    numeric field that does not hold ASCII digits, a malformed record 52), else ``None``: the
    other items of the file are still read; ``warnings`` what the file's structure says
    against itself about this item (see :func:`iter_x937`): the reading goes on, the warnings
    are reported.
    """

    sequence: str
    amount_cents: int | None
    front: bytes | None
    back: bytes | None
    index: int
    error: str | None = None
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# reading


def is_x937(path_or_bytes: PathOrBytes) -> bool:
    """Whether the input starts with an X9 file header record (``01``, ASCII or EBCDIC).

    Never raises: unreadable input is simply not X9.
    """
    try:
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            head = bytes(path_or_bytes[:6])
        else:
            with open(os.fspath(path_or_bytes), "rb") as fh:
                head = fh.read(6)
    except (OSError, TypeError, ValueError):
        return False
    if len(head) < 6:
        return False
    length = int.from_bytes(head[:4], "big")
    # The file header is 80 bytes; allow some slack for non-conforming writers.
    return 20 <= length <= 1000 and head[4:6] in (b"01", b"\xf0\xf1")


class _Reader:
    def __init__(self, path_or_bytes: PathOrBytes) -> None:
        self._own = False
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            self.name = "<bytes>"
            self.fh: IO[bytes] = io.BytesIO(data)
            self.size = len(data)
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            path = os.fspath(path_or_bytes)
            self.name = path
            if not os.path.exists(path):
                raise InvalidImageError(f"{path}: no such file")
            if os.path.isdir(path):
                raise InvalidImageError(f"{path}: is a directory, not an X9.37 file")
            try:
                self.fh = open(path, "rb")
            except OSError as exc:
                raise InvalidImageError(f"{path}: cannot read ({exc})") from exc
            self._own = True
            self.size = os.fstat(self.fh.fileno()).st_size
        else:
            raise InvalidImageError(f"expected a path or bytes, got {type(path_or_bytes).__name__}")
        self.encoding = "ascii"

    def close(self) -> None:
        if self._own:
            self.fh.close()

    def records(self) -> Iterator[tuple[int, str, bytes]]:
        """Yield ``(offset, type, record)``; raise on bad lengths, truncation, missing 99."""
        name, fh = self.name, self.fh
        if self.size == 0:
            raise InvalidImageError(f"{name}: empty file (0 bytes)")
        offset = 0
        last = ""
        while True:
            prefix = fh.read(4)
            if not prefix:
                break
            if len(prefix) < 4:
                raise InvalidImageError(
                    f"{name}: truncated at offset {offset}: incomplete record length prefix"
                )
            length = int.from_bytes(prefix, "big")
            remaining = self.size - offset - 4
            if length < 2:
                raise InvalidImageError(f"{name}: bad record length {length} at offset {offset}")
            if length > remaining:
                raise InvalidImageError(
                    f"{name}: record at offset {offset} declares {length} bytes but only "
                    f"{remaining} remain (truncated file or bad record length)"
                )
            rec = fh.read(length)
            if len(rec) < length:  # pragma: no cover - file shrank while reading
                raise InvalidImageError(f"{name}: truncated record at offset {offset}")
            if offset == 0:
                if rec[:2] == b"01":
                    self.encoding = "ascii"
                elif rec[:2] == b"\xf0\xf1":
                    self.encoding = _EBCDIC
                else:
                    raise InvalidImageError(
                        f"{name}: not an X9.37 file (first record at offset 0 is not a file "
                        "header '01' in ASCII or EBCDIC)"
                    )
            rtype = rec[:2].decode(self.encoding, errors="replace")
            if not _ascii_digits(rtype):
                raise InvalidImageError(
                    f"{name}: bad record at offset {offset}: type {rtype!r} is not a record "
                    "type (a previous record length is wrong, or the file is corrupt)"
                )
            yield offset, rtype, rec
            last = rtype
            offset += 4 + length
        if last != "99":
            raise InvalidImageError(
                f"{name}: truncated at offset {offset}: file ends without a file control "
                "record (99)"
            )

    def text(self, rec: bytes, start: int, end: int) -> str:
        """Characters at 1-based inclusive positions ``start..end`` of a record."""
        return rec[start - 1 : end].decode(self.encoding, errors="replace")


def _ascii_digits(s: str) -> bool:
    # str.isdigit() also accepts superscript and other Unicode digits (what some EBCDIC bytes
    # decode to), which int() then refuses.
    return s.isascii() and s.isdigit()


def _amount_field(s: str, what: str) -> tuple[int | None, str | None]:
    """``(cents, None)``; ``(None, None)`` for a blank field; ``(None, message)`` otherwise."""
    s = s.strip()
    if not s:
        return None, None
    if _ascii_digits(s):
        return int(s), None
    return None, f"{what} {s!r} is not a number (ASCII digits)"


def _parse_52(r: _Reader, rec: bytes, offset: int) -> tuple[str, bytes]:
    """Return ``(sequence, image bytes)`` of an image view data record."""
    where = f"{r.name}: record 52 at offset {offset}"
    if len(rec) < 105:
        raise InvalidImageError(f"{where}: {len(rec)} bytes is shorter than its fixed part")
    seq = r.text(rec, 22, 36).strip()
    pos = 101  # 0-based index of the image reference key length (positions 102-105)

    def number(width: int, what: str) -> int:
        nonlocal pos
        field = rec[pos : pos + width]
        if len(field) < width:
            raise InvalidImageError(f"{where}: record ends inside the {what} field")
        s = field.decode(r.encoding, errors="replace").strip()
        if s and not _ascii_digits(s):
            raise InvalidImageError(f"{where}: {what} {s!r} is not a number")
        pos += width
        return int(s) if s else 0

    # (two statements each: ``pos += number()`` would add to the value read before the call)
    key_len = number(4, "image reference key length")
    pos += key_len
    sig_len = number(5, "digital signature length")
    pos += sig_len
    n = number(7, "image data length")
    image = rec[pos : pos + n]
    if len(image) < n:
        raise InvalidImageError(
            f"{where}: image data length says {n} bytes but the record holds {len(image)}"
        )
    return seq, image


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_TOTAL = "a total of"  # how a control record's total amount is named in its warnings


class _Structure:
    """Counts what the records of a file hold, to compare with its control records (70, 90,
    99), and checks the order of the records. Produces warning messages, never raises."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records = 0
        self.file = {"letters": 0, "items": 0, "total": 0}
        self.letter: dict[str, int] | None = None
        self.bundle: dict[str, int] | None = None
        self.last_seq: int | None = None
        self.after_50 = False

    @staticmethod
    def _new() -> dict[str, int]:
        return {"bundles": 0, "items": 0, "total": 0, "images": 0, "credits": 0, "bad": 0}

    def _num(self, r: _Reader, rec: bytes, a: int, b: int, what: str, rtype: str,
             offset: int, out: list[str]) -> int | None:
        text = r.text(rec, a, b).strip()
        if len(rec) < b or not _ascii_digits(text):
            out.append(f"record {rtype} at offset {offset}: {what} {text!r} is not a number")
            return None
        return int(text)

    def _control(self, r: _Reader, rec: bytes, rtype: str, offset: int, out: list[str],
                 where: str, fields: tuple[tuple[str, int, int, str, int], ...],
                 credits: bool) -> None:
        """Compare a control record's fields (``(what, start, end, label, held)``: the number
        in columns ``start..end`` against the ``held`` one the records make) in order. The
        total amount (``what`` :data:`_TOTAL`) is read always but compared only without
        ``credits``: credits' amounts are not in the sum."""
        for what, a, b, label, held in fields:
            said = self._num(r, rec, a, b, label, rtype, offset, out)
            if what != _TOTAL:
                self._compare(out, where, what, said, held)
            elif not credits:
                self._compare(out, where, what, said, held, money=True)

    def _compare(self, out: list[str], where: str, what: str, said: int | None, held: int,
                 money: bool = False) -> None:
        if said is not None and said != held:
            f = _money if money else str
            out.append(f"{where} says {what} {f(said)}, the records hold {f(held)}")

    def record(self, r: _Reader, rtype: str, rec: bytes, offset: int,
               amount: int | None = None, bad_amount: bool = False) -> list[str]:
        """Account for one record; the warnings it gives (empty when all agrees)."""
        out: list[str] = []
        self.records += 1
        at = f"record {rtype} at offset {offset}"
        if rtype == "10":
            self._letter_header(at, out)
        elif rtype == "20":
            self._bundle_header(at, out)
        elif rtype in _DETAIL or rtype in _CREDIT or rtype in ("50", "52"):
            self._item_record(rtype, at, amount, bad_amount, out)
        elif rtype == "70":
            self._bundle_control(r, rec, offset, at, out)
        elif rtype == "90":
            self._letter_control(r, rec, offset, at, out)
        elif rtype == "99":
            self._file_control(r, rec, offset, at, out)
        return out

    def _letter_header(self, at: str, out: list[str]) -> None:
        """A cash letter header (10): a new cash letter."""
        if self.letter is not None:
            out.append(f"{at}: cash letter header inside a cash letter (no cash letter "
                       "control 90 before it)")
        self.letter = self._new()
        self.file["letters"] += 1

    def _bundle_header(self, at: str, out: list[str]) -> None:
        """A bundle header (20): a new bundle in the cash letter."""
        if self.letter is None:
            out.append(f"{at}: bundle header outside a cash letter (no cash letter header "
                       "10 before it)")
            self.letter = self._new()
        if self.bundle is not None:
            out.append(f"{at}: bundle header inside a bundle (no bundle control 70 before it)")
        self.bundle = self._new()
        self.letter["bundles"] += 1
        self.last_seq = None

    def _item_record(self, rtype: str, at: str, amount: int | None, bad_amount: bool,
                     out: list[str]) -> None:
        """A check detail, credit or image record: counted in the bundle."""
        if self.bundle is None:
            out.append(f"{at}: item record outside a bundle (no bundle header 20 before it)")
            self.bundle = self._new()
        b = self.bundle
        if rtype in _DETAIL or rtype in _CREDIT:
            b["items"] += 1
            if rtype in _CREDIT:
                b["credits"] += 1
            elif bad_amount:
                b["bad"] += 1
            elif amount is not None:
                b["total"] += amount
        if rtype == "52":
            b["images"] += 1
            if not self.after_50:
                out.append(f"{at}: image view data without an image view detail record "
                           "(50) before it")
        self.after_50 = rtype == "50"

    def _bundle_control(self, r: _Reader, rec: bytes, offset: int, at: str, out: list[str]) -> None:
        """A bundle control (70): its counts and total against the bundle's records."""
        b = self.bundle or self._new()
        if self.bundle is None:
            out.append(f"{at}: bundle control without a bundle header (20) before it")
        self._control(r, rec, "70", offset, out, f"bundle control (70) at offset {offset}",
                      (("items", 3, 6, "items count", b["items"]),
                       (_TOTAL, 7, 18, "total amount", b["total"]),
                       ("images", 31, 35, "images count", b["images"])),
                      bool(b["credits"] or b["bad"]))
        letter = self.letter if self.letter is not None else self._new()
        for k in ("items", "total", "images", "credits", "bad"):
            letter[k] += b[k]
        self.letter = letter
        self.bundle = None

    def _letter_control(self, r: _Reader, rec: bytes, offset: int, at: str, out: list[str]) -> None:
        """A cash letter control (90): its counts and total against the cash letter's records."""
        if self.bundle is not None:
            out.append(f"{at}: cash letter control inside a bundle (no bundle control 70 "
                       "before it)")
        c = self.letter or self._new()
        if self.letter is None:
            out.append(f"{at}: cash letter control without a cash letter header (10)")
        self._control(r, rec, "90", offset, out, f"cash letter control (90) at offset {offset}",
                      (("bundles", 3, 8, "bundle count", c["bundles"]),
                       ("items", 9, 16, "items count", c["items"]),
                       (_TOTAL, 17, 30, "total amount", c["total"]),
                       ("images", 31, 39, "images count", c["images"])),
                      bool(c["credits"] or c["bad"]))
        self.file["items"] += c["items"]
        self.file["total"] += c["total"]
        self.file["credits"] = self.file.get("credits", 0) + c["credits"] + c["bad"]
        self.letter = None

    def _file_control(self, r: _Reader, rec: bytes, offset: int, at: str, out: list[str]) -> None:
        """A file control (99): its counts and total against the file's records."""
        if self.letter is not None or self.bundle is not None:
            out.append(f"{at}: file control before the open cash letter or bundle is closed "
                       "(90, 70)")
        f = self.file
        self._control(r, rec, "99", offset, out, f"file control (99) at offset {offset}",
                      (("cash letters", 3, 8, "cash letter count", f["letters"]),
                       ("records", 9, 16, "total record count", self.records),
                       ("items", 17, 24, "total item count", f["items"]),
                       (_TOTAL, 25, 40, "file total amount", f["total"])),
                      bool(f.get("credits")))

    def sequence(self, seq: str, offset: int, rtype: str) -> list[str]:
        """A warning when a check's item sequence number is not above the one before it in
        its bundle (numbers only: other sequence numbers are not compared)."""
        if not _ascii_digits(seq):
            return []
        n = int(seq)
        last, self.last_seq = self.last_seq, n
        if last is not None and n <= last:
            return [f"record {rtype} at offset {offset}: item sequence number {seq} comes after "
                    f"{last}: items out of order"]
        return []


def iter_x937(path_or_bytes: PathOrBytes) -> Iterator[X9Item]:
    """Yield the items of an X9.37 file one at a time (bounded memory for big cash letters).

    See :func:`read_x937`. Errors are raised when reached, so items before a corrupt record
    have already been yielded.

    The file's structure is checked as it is read (:attr:`X9Item.warnings`): the counts and
    totals of the bundle, cash letter and file control records (70: items, total amount,
    images; 90: bundles, items, total amount, images; 99: cash letters, records, items, total
    amount) against the records, the order of the records (items inside a bundle, 52 after
    its 50, headers and controls paired), images without a check detail or credit record, and
    check sequence numbers that do not increase within a bundle. A control record's warnings
    go on the last item before it, which is held back until the next item begins (one item).
    Totals are compared only where every item amount is a number and there is no credit
    record (61, 62), whose amounts these totals do not include.
    """
    r = _Reader(path_or_bytes)
    check = _Structure(r.name)
    try:
        items = _Items(r, check)
        for offset, rtype, rec in r.records():
            if rtype in _DETAIL:
                items.check_detail(rtype, rec, offset)
            elif rtype in _CREDIT:
                items.begin("", None)
                items.warn(check.record(r, rtype, rec, offset))
            elif rtype == "50":
                items.image_view(rec, offset)
            elif rtype == "52":
                items.image_data(rec, offset)
            else:
                if rtype in _CLOSE:
                    items.close()
                items.warn(check.record(r, rtype, rec, offset))
            yield from items.take(final=False)
        yield from items.take(final=True)
    finally:
        r.close()


class _Items:
    """The items of an X9 file as its records build them: the current item, the finished ones
    not handed out yet, and the warnings given before any item."""

    def __init__(self, r: _Reader, check: _Structure) -> None:
        self.r = r
        self.check = check
        self.cur: dict[str, Any] | None = None
        self.ready: list[dict[str, Any]] = []
        self.orphan: list[str] = []  # warnings given before any item
        self.index = 0

    def begin(self, seq: str, amount: int | None, error: str | None = None,
              detail: bool = True) -> dict[str, Any]:
        """Finish the current item and begin a new one (the current item from now on)."""
        if self.cur is not None:
            self.ready.append(self.cur)
        item = {"sequence": seq, "amount": amount, "front": None, "back": None, "side": None,
                "error": error, "warnings": list(self.orphan), "detail": detail}
        self.orphan.clear()
        self.cur = item
        return item

    def close(self) -> None:
        """Finish the current item, if any; none is current then."""
        if self.cur is not None:
            self.ready.append(self.cur)
            self.cur = None

    def warn(self, msgs: list[str]) -> None:
        """Add warnings to the current item, else the last finished one, else the orphans."""
        if not msgs:
            return
        cur, ready = self.cur, self.ready
        target = cur if cur is not None else (ready[-1] if ready else None)
        (target["warnings"] if target is not None else self.orphan).extend(msgs)

    def take(self, final: bool) -> Iterator[X9Item]:
        """Hand out the finished items; unless ``final``, the last one is held back while
        no item is current (a control record may still be told about it)."""
        if final:
            self.close()
        keep = 0 if final or self.cur is not None else 1
        while len(self.ready) > keep:
            item = self.ready.pop(0)
            out = X9Item(item["sequence"], item["amount"], item["front"], item["back"], self.index,
                         item["error"], tuple(item["warnings"]))
            self.index += 1
            yield out

    def check_detail(self, rtype: str, rec: bytes, offset: int) -> None:
        """A check detail record (25, 31): a new item with its amount and sequence number."""
        r = self.r
        a, b = ((48, 57), (58, 72)) if rtype == "25" else ((32, 41), (54, 68))
        amount, bad = _amount_field(r.text(rec, *a), "item amount")
        seq = r.text(rec, *b).strip()
        self.begin(seq, amount, bad and f"{r.name}: record {rtype} at offset {offset}: {bad}")
        self.warn(self.check.record(r, rtype, rec, offset, amount, bad is not None))
        self.warn(self.check.sequence(seq, offset, rtype))

    def image_view(self, rec: bytes, offset: int) -> None:
        """An image view detail record (50): the side of the image data that follows."""
        side = self.r.text(rec, 32, 32)
        cur = self.cur
        if cur is None or (side != "1" and cur["front"] is not None):
            cur = self.begin("", None, detail=False)
            self.warn([f"record 50 at offset {offset}: image without its check detail "
                       "record (25) or credit record (61)"])
        cur["side"] = "back" if side == "1" else "front"
        self.warn(self.check.record(self.r, "50", rec, offset))

    def image_data(self, rec: bytes, offset: int) -> None:
        """An image view data record (52): the current item's image of the side announced."""
        # The record's length prefix bounds it: a bad field inside it spoils this item
        # only, and the next record is still found.
        try:
            seq, image = _parse_52(self.r, rec, offset)
            bad = None
        except InvalidImageError as exc:
            seq, image, bad = "", b"", str(exc)
        cur = self.cur
        side = (cur or {}).get("side") or (
            "front" if cur is None or cur["front"] is None else "back")
        if cur is None or (side == "front" and cur["front"] is not None):
            cur = self.begin("", None, detail=False)
            self.warn([f"record 52 at offset {offset}: image without its check detail "
                       "record (25) or credit record (61)"])
        if bad is not None and cur["error"] is None:
            cur["error"] = bad
        cur[side] = image
        cur["side"] = None
        if not cur["sequence"]:
            cur["sequence"] = seq
        self.warn(self.check.record(self.r, "52", rec, offset))


def read_x937(path_or_bytes: PathOrBytes) -> list[X9Item]:
    """Read every item of an X9.37 / X9.100-187 image cash letter.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        The file, ASCII or EBCDIC.

    Returns
    -------
    list of X9Item
        In file order. Images with no check detail record before them give items with
        ``amount_cents=None``.

    Raises
    ------
    InvalidImageError
        Missing or empty file, not X9 (first record is not ``01``), a bad record length or a
        truncated file (the message names the byte offset), a malformed record 52.
    """
    return list(iter_x937(path_or_bytes))


def _amount_str(cents: int | None) -> str | None:
    if cents is None:
        return None
    return f"{cents // 100}.{cents % 100:02d}"


def item_page(item: X9Item, limits: ImageLimits = DEFAULT_LIMITS, source: str = "") -> Page:
    """The grey :class:`Page` of one item's front image (see :func:`x937_pages`): an item
    that cannot be read is a 1x1 page with ``meta["error"]`` set, never an exception."""
    meta: dict[str, Any] = {
        "x9_amount": _amount_str(item.amount_cents),
        "x9_sequence": item.sequence,
        "x9_item": item.index,
        "x9_warnings": list(item.warnings),
    }
    error: str | None = None
    page: Page | None = None
    if item.error:
        msg = item.error.removeprefix(f"{source}: ") if source else item.error
        error = f"X9 item {item.index} (sequence {item.sequence!r}): {msg}"
    elif not item.front:
        error = f"X9 item {item.index} (sequence {item.sequence!r}) has no front image"
    elif len(item.front) > limits.max_bytes:
        error = (
            f"X9 item {item.index} (sequence {item.sequence!r}): front image of "
            f"{len(item.front)} bytes is over the limit of {limits.max_bytes}"
        )
    elif is_x937(item.front):
        # Reading it would read its items' images, which may be X9 files in turn: a crafted
        # file nests them until the interpreter's recursion limit.
        error = (
            f"X9 item {item.index} (sequence {item.sequence!r}): front image is itself an "
            "X9.37 file (cash letters nested in an image record are not read)"
        )
    else:
        try:
            page = load_pages(item.front, limits=limits)[0]
        except InvalidImageError as exc:
            msg = str(exc).removeprefix("<bytes>: ")
            error = f"X9 item {item.index} (sequence {item.sequence!r}): front image: {msg}"
    if page is None:
        meta["error"] = error
        return Page(image=np.full((1, 1), 255, np.uint8), source=source, index=item.index,
                    meta=meta)
    return Page(image=page.image, source=source, index=item.index, dpi=page.dpi, meta=meta)


def _source_of(path_or_bytes: PathOrBytes, source: str | None) -> str:
    if source is not None:
        return source
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return ""
    return os.fspath(path_or_bytes)


def iter_x937_pages(
    path_or_bytes: PathOrBytes, limits: ImageLimits = DEFAULT_LIMITS, source: str | None = None,
    skip: Container[int] = (),
) -> Iterator[Page]:
    """Yield one :class:`Page` per item's front image (see :func:`x937_pages`), each item
    parsed and decoded when the next page is asked for. Items whose index is in ``skip`` are
    passed over without decoding their images (resume)."""
    source = _source_of(path_or_bytes, source)
    n = 0
    for item in iter_x937(path_or_bytes):
        n += 1
        if item.index in skip:
            continue
        yield item_page(item, limits, source)
    if n == 0:
        # Zero pages would give a batch zero rows for this file: say why instead.
        raise InvalidImageError(f"{source or '<bytes>'}: the X9.37 file holds no items")


def x937_pages(
    path_or_bytes: PathOrBytes, limits: ImageLimits = DEFAULT_LIMITS, source: str | None = None
) -> list[Page]:
    """One grey :class:`Page` per item's front image.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        The X9.37 file.
    limits : ImageLimits
        Applied to each embedded image.
    source : str, optional
        The pages' ``source`` (defaults to the path).

    Returns
    -------
    list of Page
        ``index`` = item index; ``meta = {"x9_amount": "123.45" or None, "x9_sequence": str,
        "x9_item": int, "x9_warnings": [str, ...]}`` (the warnings: :attr:`X9Item.warnings`). An item whose front image is missing or cannot be decoded does not
        raise: its page has a 1x1 white ``image`` and ``meta["error"]`` holds the message, so
        a batch writes one error row for that item and goes on with the others. So does an
        item whose own records are bad (:attr:`X9Item.error`) or whose front image is itself
        an X9 file (nested cash letters are not read).

    Raises
    ------
    InvalidImageError
        When the file structure itself is bad (see :func:`read_x937`), or the file holds no
        items.
    """
    return list(iter_x937_pages(path_or_bytes, limits, source))


# ---------------------------------------------------------------------------------------------
# writing


def _field(value: Any, width: int, numeric: bool = False, name: str = "field") -> str:
    s = str(value)
    if numeric:
        s = s.rjust(width, "0")
    else:
        s = s.ljust(width)
    if len(s) != width:
        raise ConfigError(f"{name}: {value!r} does not fit in {width} characters")
    return s


class _Records:
    """The X9.37 records written so far: each one prefixed with its length, and counted."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.codec = "ascii" if encoding == "ascii" else _EBCDIC
        self.out = bytearray()
        self.count = 0

    def emit(self, text: str, binary: bytes = b"") -> None:
        try:
            rec = text.encode(self.codec) + binary
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"record {text[:2]}: text not encodable as {self.encoding} ({exc})"
            ) from exc
        self.out.extend(len(rec).to_bytes(4, "big"))
        self.out.extend(rec)
        self.count += 1

    def fixed(self, text: str) -> None:
        if len(text) != 80:  # pragma: no cover - a layout bug in this module
            raise AssertionError(f"record {text[:2]} is {len(text)} characters, not 80")
        self.emit(text)


@dataclass(frozen=True)
class _Header:
    """The fields every record of a written file shares."""

    dest: str  # destination routing number, 9 digits
    orig: str  # origin (ECE institution) routing number, 9 digits
    date: str  # YYYYMMDD
    hhmm: str
    name: str  # institution name, 18 characters


_BLANK = " "


def _write_headers(w: _Records, h: _Header) -> None:
    """File header (01), cash letter header (10) and bundle header (20)."""
    blank = _BLANK
    # Each record is listed field by field, in the order of the X9.37 tables.
    w.fixed(
        "01"  # 01-02 record type
        + "03"  # 03-04 standard level
        + "T"  # 05 test file indicator
        + h.dest  # 06-14 immediate destination routing number
        + h.orig  # 15-23 immediate origin routing number
        + h.date  # 24-31 file creation date
        + h.hhmm  # 32-35 file creation time
        + "N"  # 36 resend indicator
        + h.name  # 37-54 immediate destination name
        + h.name  # 55-72 immediate origin name
        + "A"  # 73 file ID modifier
        + "US"  # 74-75 country code
        + blank * 5  # 76-79 user field, 80 reserved
    )
    w.fixed(
        "10"  # 01-02 record type
        + "01"  # 03-04 collection type indicator
        + h.dest  # 05-13 destination routing number
        + h.orig  # 14-22 ECE institution routing number
        + h.date  # 23-30 cash letter business date
        + h.date  # 31-38 cash letter creation date
        + h.hhmm  # 39-42 cash letter creation time
        + "I"  # 43 record type indicator: images
        + "G"  # 44 documentation type indicator
        + _field("1", 8)  # 45-52 cash letter ID
        + blank * 28  # 53-80 contact name, phone, work type, user field, reserved
    )
    w.fixed(
        "20"  # 01-02 record type
        + "01"  # 03-04 collection type indicator
        + h.dest  # 05-13 destination routing number
        + h.orig  # 14-22 ECE institution routing number
        + h.date  # 23-30 bundle business date
        + h.date  # 31-38 bundle creation date
        + _field("1", 10)  # 39-48 bundle ID
        + "0001"  # 49-52 bundle sequence number
        + "01"  # 53-54 cycle number
        + blank * 26  # 55-80 return location routing, user field, reserved
    )


def _write_check_detail(w: _Records, h: _Header, i: int, amount_cents: int, seqf: str) -> int:
    """Check detail (25) and its addendum A (26); returns the amount in cents."""
    blank = _BLANK
    amount = int(amount_cents)
    if not 0 <= amount <= 9_999_999_999:
        raise ConfigError(f"items[{i}].amount_cents: {amount} is outside 0..9999999999")
    w.fixed(
        "25"  # 01-02 record type
        + blank * 15  # 03-17 auxiliary on-us
        + blank  # 18 external processing code
        + "00000000"  # 19-26 payor bank routing number
        + "0"  # 27 routing number check digit
        + blank * 20  # 28-47 on-us
        + _field(amount, 10, True)  # 48-57 item amount (cents)
        + seqf  # 58-72 ECE institution item sequence number
        + "G"  # 73 documentation type indicator
        + blank * 2  # 74 return acceptance, 75 MICR valid indicators
        + "Y"  # 76 BOFD indicator
        + "01"  # 77-78 addendum count
        + blank * 2  # 79 correction indicator, 80 archive type indicator
    )
    w.fixed(
        "26"  # 01-02 record type
        + "1"  # 03 addendum A record number
        + h.orig  # 04-12 return location routing number
        + h.date  # 13-20 BOFD / endorsement date
        + seqf  # 21-35 BOFD item sequence number
        + blank * 38  # 36-73 deposit account, branch, payee name
        + "N"  # 74 truncation indicator
        + blank * 6  # 75-77 indicators and user field, 78-80 reserved
    )
    return amount


def _write_credit(w: _Records, seqf: str) -> None:
    """Credit record (61) opening an item with no amount."""
    blank = _BLANK
    # An image with no check detail record belongs to a credit (a deposit ticket):
    # X9.100-187 opens such an item with a credit record. Its amount (here 0) is not
    # the items' total (see read_x937).
    w.fixed(
        "61"  # 01-02 record type: credit
        + blank * 15  # 03-17 auxiliary on-us
        + blank  # 18 external processing code
        + "000000000"  # 19-27 posting bank routing number
        + blank * 20  # 28-47 on-us
        + "0" * 10  # 48-57 amount
        + seqf  # 58-72 ECE institution item sequence number
        + "G"  # 73 documentation type indicator
        + blank * 4  # 74 type of account, 75 source of work, 76 work type, 77 debit/credit
        + blank * 3  # 78-80 reserved
    )


def _write_images(w: _Records, h: _Header, i: int, item: X9Item, seqf: str) -> int:
    """Image view detail (50) and image view data (52) of the item's front, then back;
    returns how many images were written."""
    blank = _BLANK
    n_images = 0
    for side, image in (("0", item.front), ("1", item.back)):
        if image is None:
            continue
        image = bytes(image)
        if len(image) > _MAX_IMAGE:
            raise ConfigError(f"items[{i}]: image of {len(image)} bytes is over {_MAX_IMAGE}")
        w.fixed(
            "50"  # 01-02 record type
            + "1"  # 03 image indicator: image present
            + h.orig  # 04-12 image creator routing number
            + h.date  # 13-20 image creator date
            + "00"  # 21-22 image view format: TIFF
            + "00"  # 23-24 compression: CCITT G4
            + _field(len(image), 7, True)  # 25-31 image view data size
            + side  # 32 view side indicator: 0 front, 1 back
            + "00"  # 33-34 view descriptor: full view
            + "0"  # 35 digital signature indicator
            + blank * 21  # 36-56 signature method, key size, protected data
            + "0"  # 57 image recreate indicator
            + blank * 23  # 58-80 user field, reserved, override indicator
        )
        head = (
            "52"  # 01-02 record type
            + h.orig  # 03-11 ECE institution routing number
            + h.date  # 12-19 bundle business date
            + "01"  # 20-21 cycle number
            + seqf  # 22-36 ECE institution item sequence number
            + blank * 48  # 37-84 security originator, authenticator, key names
            + "0"  # 85 clipping origin
            + "0" * 16  # 86-101 clipping coordinates h1 h2 v1 v2
            + "0000"  # 102-105 length of image reference key (no key)
            + "00000"  # length of digital signature (no signature)
            + _field(len(image), 7, True)  # length of image data, then the image
        )
        w.emit(head, image)
        n_images += 1
    return n_images


def _write_trailers(w: _Records, h: _Header, n_items: int, total: int, n_images: int) -> None:
    """Bundle control (70), cash letter control (90) and file control (99)."""
    blank = _BLANK
    w.fixed(
        "70"  # 01-02 record type
        + _field(n_items, 4, True, "items")  # 03-06 items within bundle count
        + _field(total, 12, True, "bundle total")  # 07-18 bundle total amount
        + "0" * 12  # 19-30 MICR valid total amount
        + _field(n_images, 5, True, "images")  # 31-35 images within bundle count
        + blank * 45  # 36-55 user field, 56-80 reserved
    )
    w.fixed(
        "90"  # 01-02 record type
        + "000001"  # 03-08 cash letter bundle count
        + _field(n_items, 8, True)  # 09-16 cash letter items count
        + _field(total, 14, True)  # 17-30 cash letter total amount
        + _field(n_images, 9, True)  # 31-39 images within cash letter count
        + h.name  # 40-57 ECE institution name
        + h.date  # 58-65 settlement date
        + blank * 15  # 66-80 credit total indicator, reserved
    )
    w.fixed(
        "99"  # 01-02 record type
        + "000001"  # 03-08 cash letter count
        + _field(w.count + 1, 8, True)  # 09-16 total record count (this one included)
        + _field(n_items, 8, True)  # 17-24 total item count
        + _field(total, 16, True)  # 25-40 file total amount
        + blank * 40  # 41-80 contact name, phone, reserved
    )


def write_x937(
    path: str | os.PathLike | IO[bytes],
    items: Sequence[X9Item],
    encoding: str = "ascii",
    *,
    created: datetime | None = None,
    destination_routing: str = "000000000",
    origin_routing: str = "000000000",
) -> None:
    """Write items as one X9.37 file: 01, 10, 20, (25, 26, 50, 52, 50, 52)..., 70, 90, 99.

    An item without an amount is written as a credit (61, 50, 52...), e.g. a deposit ticket.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        Destination.
    items : sequence of X9Item
        Items in order. An item with ``amount_cents=None`` is written with a credit record
        (61) instead of check detail records, as a deposit ticket; :func:`read_x937` reads
        it back with no amount. ``index`` is ignored (the file order is the index).
    encoding : {"ascii", "ebcdic"}
        Character set of the text fields (EBCDIC is cp037). Image bytes are binary in both.
    created : datetime, optional
        Creation date/time written in the headers (default: now).
    destination_routing, origin_routing : str
        9-digit routing numbers written in the headers.

    Raises
    ------
    ConfigError
        Bad encoding, a sequence longer than 15 characters, a negative or too large amount, an
        image over 9,999,999 bytes.
    """
    check_in(encoding, ("ascii", "ebcdic"), "encoding")
    w = _Records(encoding)
    when = created or datetime.now()
    dest = _field(destination_routing, 9, True, "destination_routing")
    orig = _field(origin_routing, 9, True, "origin_routing")
    h = _Header(dest, orig, when.strftime("%Y%m%d"), when.strftime("%H%M"), _field("CHEQUEREADER", 18))
    _write_headers(w, h)
    total = 0
    n_images = 0
    for i, item in enumerate(items):
        seq = str(item.sequence)
        if len(seq) > 15:
            raise ConfigError(f"items[{i}].sequence: {seq!r} is longer than 15 characters")
        seqf = _field(seq, 15, name=f"items[{i}].sequence")
        if item.amount_cents is not None:
            total += _write_check_detail(w, h, i, item.amount_cents, seqf)
        else:
            _write_credit(w, seqf)
        n_images += _write_images(w, h, i, item, seqf)
    _write_trailers(w, h, len(items), total, n_images)
    data = bytes(w.out)
    if isinstance(path, (str, os.PathLike)):
        with open(os.fspath(path), "wb") as fh:
            fh.write(data)
    else:
        path.write(data)
