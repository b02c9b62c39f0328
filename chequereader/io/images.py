"""Image input: decode scans into grey pages, with limits checked before decoding.

Pillow is the decoder (it reads CCITT G4, multi-page TIFF, EXIF orientation and DPI); OpenCV is
only a fallback for files Pillow identifies but has no codec for. Every page comes out as a
:class:`~chequereader.types.Page` whose ``image`` is ``uint8 (H, W)``, dark ink on light paper.

Every unusable input raises :class:`~chequereader.errors.InvalidImageError` with a message that
says what is wrong (missing, directory, empty, truncated, not an image, too small, too many
pixels, too many bytes); no raw Pillow/OS error escapes.

X9.37 image cash letters are dispatched to :mod:`chequereader.io.x937` (one page per item).
"""

from __future__ import annotations

import collections
import contextlib
import glob
import io
import logging
import os
import warnings
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import ConfigError, InvalidImageError
from ..types import Page
from . import _codec_log

PathOrBytes = str | os.PathLike | bytes | bytearray | memoryview

#: Extensions picked up when a folder is expanded by :func:`discover` (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
X9_EXTENSIONS = (".x937", ".x9", ".icl")
DISCOVER_EXTENSIONS = IMAGE_EXTENSIONS + X9_EXTENSIONS

_GLOB_CHARS = set("*?[")

_log = logging.getLogger("chequereader")


@dataclass(frozen=True)
class ImageLimits:
    """Limits checked on every input before (and while) decoding it.

    Parameters
    ----------
    max_pixels : int
        Largest ``width * height`` of one page, checked from the file header before any
        pixel is decoded, so that a decompression bomb never allocates its pixels.
    min_side : int
        Smallest accepted width and height in pixels.
    max_bytes : int
        Largest accepted file size. For an X9.37 file it applies to each embedded image, not to
        the whole cash letter (cash letters of several hundred MB are normal).
    """

    max_pixels: int = 50_000_000
    min_side: int = 16
    max_bytes: int = 200_000_000


DEFAULT_LIMITS = ImageLimits()


# ---------------------------------------------------------------------------------------------
# reading


def _describe(source: str | None) -> str:
    return source if source else "<bytes>"


def _read_input(
    path_or_bytes: PathOrBytes, limits: ImageLimits, source: str | None
) -> tuple[bytes | _OnDisk | None, str, str]:
    """Return ``(data, source, ext)``; ``data`` is None for an X9 path (streamed separately),
    an :class:`_OnDisk` for a TIFF path (read while its pages are decoded)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        src = source or ""
        if len(data) == 0:
            raise InvalidImageError(f"{_describe(source)}: empty input (0 bytes)")
        if len(data) > limits.max_bytes:
            raise InvalidImageError(
                f"{_describe(source)}: {len(data)} bytes is over the limit of {limits.max_bytes}"
            )
        return data, src, Path(src).suffix.lower() if src else ""
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        raise InvalidImageError(f"expected a path or bytes, got {type(path_or_bytes).__name__}")
    path = os.fspath(path_or_bytes)
    src = source or str(path)
    if not os.path.exists(path):
        raise InvalidImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidImageError(f"{path}: is a directory, not an image file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InvalidImageError(f"{path}: cannot stat ({exc})") from exc
    if size == 0:
        raise InvalidImageError(f"{path}: empty file (0 bytes)")
    ext = Path(path).suffix.lower()
    from .x937 import is_x937

    if ext in X9_EXTENSIONS or is_x937(path):
        return None, src, ext
    if size > limits.max_bytes:
        raise InvalidImageError(f"{path}: {size} bytes is over the limit of {limits.max_bytes}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head in (b"II*\x00", b"MM\x00*"):
                # A TIFF is read from the disk as its pages are decoded: a file of hundreds
                # of pages is never held in memory, compressed or not.
                return _OnDisk(path), src, ext
            data = head + fh.read()
    except OSError as exc:
        raise InvalidImageError(f"{path}: cannot read ({exc})") from exc
    return data, src, ext


@dataclass(frozen=True)
class _OnDisk:
    """An image file to be read from the disk while it is decoded (TIFF), not as bytes."""

    path: str

    def read(self, n: int = -1) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read(n)


def load_pages(
    path_or_bytes: PathOrBytes,
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    source: str | None = None,
) -> list[Page]:
    """Decode every page of an image file (or of an X9.37 cash letter) into grey pages.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        A file path or the file's bytes. PNG, JPEG, BMP, TIFF (including bitonal CCITT G4 and
        multi-page), anything else Pillow reads, and X9.37 files (by extension ``.x937``,
        ``.x9``, ``.icl`` or by sniffing the first record).
    limits : ImageLimits
        Size limits; the pixel limit is checked from each page's header before decoding.
    source : str, optional
        Name stored in each page's ``source`` (defaults to the path; ``""`` for bytes).

    Returns
    -------
    list of Page
        One page per TIFF page / X9 item, front first. ``image`` is ``uint8 (H, W)`` with dark
        ink on light paper: colour, palette, alpha (composited on white), 1-bit, 16-bit and
        float images are converted to 8-bit grey; EXIF orientation is applied; ``dpi`` is set
        when the file states a resolution. X9 pages carry ``meta`` (see
        :func:`chequereader.io.x937.x937_pages`); an X9 item whose image cannot be decoded
        is a 1x1 page with ``meta["error"]`` set instead of an exception.

    Raises
    ------
    InvalidImageError
        Missing file, directory, empty, truncated, not an image, smaller than
        ``limits.min_side``, more than ``limits.max_pixels`` pixels (decompression bomb) or
        more than ``limits.max_bytes`` bytes.

    Examples
    --------
    >>> import numpy as np
    >>> data = encode_tiff_g4(np.full((20, 30), 255, np.uint8), dpi=200)
    >>> page = load_pages(data)[0]
    >>> page.image.shape, page.image.dtype.name, page.dpi
    ((20, 30), 'uint8', (200.0, 200.0))
    """
    return list(iter_pages(path_or_bytes, limits=limits, source=source))


def iter_pages(
    path_or_bytes: PathOrBytes,
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    source: str | None = None,
    skip: Container[int] = (),
) -> Iterator[Page]:
    """The pages of :func:`load_pages`, each decoded only when the next one is asked for.

    A multi-page TIFF holds one decoded page in memory at a time; an X9.37 file is parsed
    record by record (:func:`chequereader.io.x937.iter_x937_pages`), one item's images at a
    time. A file that cannot be opened raises before the first page; a page that cannot be
    decoded raises when it is reached, after the pages before it were yielded.

    Parameters
    ----------
    path_or_bytes, limits, source
        See :func:`load_pages`.
    skip : container of int
        Page indices (X9: item indices) passed over without decoding them (resume).

    Yields
    ------
    Page
    """
    if not isinstance(limits, ImageLimits):
        raise ConfigError(f"limits: expected ImageLimits, got {type(limits).__name__}")
    data, src, ext = _read_input(path_or_bytes, limits, source)
    from .x937 import is_x937, iter_x937_pages

    if data is None:
        yield from iter_x937_pages(os.fspath(path_or_bytes), limits, source=src,  # type: ignore[arg-type]
                                   skip=skip)
        return
    if isinstance(data, bytes) and is_x937(data):
        yield from iter_x937_pages(data, limits, source=src, skip=skip)
        return
    yield from _iter_decode(data, src, limits, skip)


def load_image(path: PathOrBytes, *, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Grey ``uint8 (H, W)`` image of the first page of ``path`` (see :func:`load_pages`)."""
    pages = load_pages(path, limits=limits)
    page = pages[0]
    if page.meta.get("error"):
        raise InvalidImageError(str(page.meta["error"]))
    return page.image


def _check_truncated_trailer(data: bytes, fmt: str | None, name: str) -> None:
    # Pillow accepts a PNG cut inside its last chunks and a JPEG missing only its EOI; a bank
    # wants to know the transfer was cut, so look for the format's end marker as well.
    if fmt == "PNG" and b"IEND" not in data[-4096:]:
        raise InvalidImageError(f"{name}: truncated PNG (no IEND chunk)")
    if fmt == "JPEG":
        # The last start-of-scan marker belongs to the main image (markers cannot occur inside
        # entropy-coded data; a thumbnail's scan comes earlier), so its EOI must follow it.
        # Searched from the ends inward: the last EOI, then no SOS after it and one before
        # it (the same test as "an EOI after the last SOS", without scanning the whole
        # entropy-coded data backwards).
        eoi = data.rfind(b"\xff\xd9")
        if eoi < 0 or data.find(b"\xff\xda", eoi) >= 0 or data.find(b"\xff\xda", 0, eoi) < 0:
            raise InvalidImageError(f"{name}: truncated JPEG (no end-of-image marker)")


def _parse_dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    if dpi is None:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    # Files without a real resolution often say 0 or 1 dpi (or 72 for "unknown" on screens,
    # which we keep: it is what the file says).
    if not (np.isfinite(x) and np.isfinite(y)) or x < 10 or y < 10:
        return None
    return (round(x, 3), round(y, 3))


def pil_to_grey(im: Image.Image) -> np.ndarray:
    """Convert one decoded Pillow frame to ``uint8 (H, W)`` grey."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8)
    if mode == "L":
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im)
        if mode == "F":
            arr = arr.astype(np.float64)
            finite = arr[np.isfinite(arr)]
            hi = float(finite.max()) if finite.size else 1.0
            scale = 255.0 if hi <= 1.0 else (255.0 / 65535.0 if hi > 255 else 1.0)
            # A sample that is no number (NaN) is paper, not ink.
            arr = np.nan_to_num(arr * scale, nan=255.0, posinf=255.0, neginf=0.0)
            return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        arr = arr.astype(np.int64)
        # 16-bit samples (mode I from PNG/TIFF holds 16-bit data); anything wider is clipped.
        if mode == "I" and arr.size and arr.max() <= 255 and arr.min() >= 0:
            return arr.astype(np.uint8)
        return np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.array(im.convert("L"), dtype=np.uint8)


def _open(data: bytes | _OnDisk, name: str) -> Image.Image:
    try:
        return Image.open(data.path if isinstance(data, _OnDisk) else io.BytesIO(data))
    except UnidentifiedImageError as exc:
        head = data.read(65536) if isinstance(data, _OnDisk) else data
        raise InvalidImageError(f"{name}: {_unidentified_reason(head)}") from exc
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{name}: decompression bomb refused ({exc})") from exc
    except Exception as exc:
        raise InvalidImageError(
            f"{name}: cannot read image header ({type(exc).__name__}: {exc})"
        ) from exc


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF8", "GIF"),
)


def _unidentified_reason(data: bytes) -> str:
    """Why Pillow could not open ``data``, as precisely as the first bytes tell."""
    if data.startswith(b"%PDF"):
        return "a PDF document, not an image"
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            if fmt == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
                w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
                if w == 0 or h == 0:
                    return f"image has no pixels ({w}x{h})"
            return f"corrupt or unsupported {fmt} header (truncated or damaged file?)"
    return "not a recognised image format"


def _check_size(w: int, h: int, limits: ImageLimits, name: str, page: int) -> None:
    where = f"{name} page {page}" if page else name
    if w <= 0 or h <= 0:
        raise InvalidImageError(f"{where}: image has no pixels ({w}x{h})")
    if w * h > limits.max_pixels:
        raise InvalidImageError(
            f"{where}: {w}x{h} = {w * h} pixels is over the limit of {limits.max_pixels} "
            "(possible decompression bomb)"
        )
    if w < limits.min_side or h < limits.min_side:
        raise InvalidImageError(
            f"{where}: {w}x{h} is too small (each side must be at least {limits.min_side} px)"
        )


#: EXIF orientations that :func:`PIL.ImageOps.exif_transpose` turns or flips the image for.
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = frozenset(range(2, 9))


def _draft_grey(im: Image.Image) -> None:
    """Ask a colour JPEG to decode straight to grey (libjpeg keeps the luma channel and skips
    the colour conversion and chroma upsampling); other files are left alone. The luma
    differs from Pillow's RGB -> L conversion of the decoded colours by a few grey levels
    at most (rounding of the two paths), and on average by far less than one."""
    if im.format == "JPEG" and im.mode in ("RGB", "YCbCr"):
        try:
            im.draft("L", im.size)  # full size: no DCT scaling
        except Exception:  # pragma: no cover - decode in colour as before
            pass


def _decode_frame(im: Image.Image, data: bytes | _OnDisk, name: str, page: int) -> np.ndarray:
    where = f"{name} page {page}" if page else name
    _draft_grey(im)
    try:
        with _codec_log.capture() as said:
            im.load()
    except OSError as exc:
        msg = str(exc)
        if "decoder" in msg and "not available" in msg:
            raw = data.read() if isinstance(data, _OnDisk) else data
            return _decode_with_opencv(raw, where, exc)
        raise InvalidImageError(f"{where}: truncated or corrupt image data ({msg})") from exc
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{where}: decompression bomb refused ({exc})") from exc
    except Exception as exc:
        raise InvalidImageError(
            f"{where}: cannot decode image ({type(exc).__name__}: {exc})"
        ) from exc
    problems = _codec_log.decode_problems(said)
    if problems:
        # libtiff goes on after a damaged strip and hands back wrong pixels: refuse them.
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidImageError(
            f"{where}: corrupt image data, the decoder reported: {problems[0]}{more}"
        )
    try:
        # exif_transpose copies the whole image when it has nothing to undo.
        if im.getexif().get(_EXIF_ORIENTATION, 1) in _TRANSPOSED:
            im = ImageOps.exif_transpose(im) or im
    except Exception:  # pragma: no cover - a broken EXIF block must not lose the page
        pass
    try:
        return pil_to_grey(im)
    except Exception as exc:
        raise InvalidImageError(
            f"{where}: cannot convert mode {im.mode} to grey ({type(exc).__name__}: {exc})"
        ) from exc


def _decode_with_opencv(data: bytes, where: str, cause: Exception) -> np.ndarray:
    # Only reached after Pillow read the header (size already checked against the limits) but
    # lacks the codec; OpenCV may carry it.
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if arr is None or arr.size == 0:
        raise InvalidImageError(f"{where}: cannot decode image ({cause})") from cause
    if arr.dtype == np.uint16:
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr.astype(np.uint8))


def _decode(data: bytes, source: str, limits: ImageLimits) -> list[Page]:
    return list(_iter_decode(data, source, limits))


@contextlib.contextmanager
def _strict_pillow(name: str) -> Iterator[None]:
    """Pillow warnings caught and truncated files refused while the block runs.

    Entered per page, never across a ``yield``: both settings are process-global.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Pillow's setting is process-global; a truncated file must never decode grey-filled.
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    for warning in caught:
        msg = str(warning.message)
        if issubclass(warning.category, Image.DecompressionBombWarning):
            continue  # our own max_pixels check is the one that decides
        if "Truncated" in msg or "Corrupt" in msg or "truncated" in msg:
            raise InvalidImageError(f"{name}: truncated or corrupt file ({msg})")


def _iter_decode(data: bytes | _OnDisk, source: str, limits: ImageLimits,
                 skip: Container[int] = ()) -> Iterator[Page]:
    """The pages of an image file, each decoded when it is asked for (multi-page TIFF: one
    page's pixels in memory at a time, read from the disk as they are decoded). Pages whose
    index is in ``skip`` are passed over without decoding their pixels. A bad page raises
    when it is reached."""
    name = _describe(source)
    if not isinstance(data, _OnDisk) and len(data) == 0:
        raise InvalidImageError(f"{name}: empty input (0 bytes)")
    with _strict_pillow(name):
        im = _open(data, name)
    with im:
        with _strict_pillow(name):
            if not isinstance(data, _OnDisk):  # (PNG and JPEG only: never on disk)
                _check_truncated_trailer(data, im.format, name)
            try:
                n_frames = int(getattr(im, "n_frames", 1) or 1)
            except Exception as exc:
                raise InvalidImageError(
                    f"{name}: truncated or corrupt multi-page file ({exc})"
                ) from exc
        if n_frames < 1:  # pragma: no cover - Pillow says at least 1
            raise InvalidImageError(f"{name}: no pages in file")
        for i in range(n_frames):
            if i in skip:
                continue
            with _strict_pillow(name):
                if i:
                    try:
                        im.seek(i)
                    except Exception as exc:
                        raise InvalidImageError(
                            f"{name} page {i}: truncated or corrupt page ({exc})"
                        ) from exc
                w, h = im.size
                _check_size(w, h, limits, name, i)
                grey = _decode_frame(im, data, name, i)
                _check_size(grey.shape[1], grey.shape[0], limits, name, i)
                page = Page(image=grey, source=source, index=i, dpi=_parse_dpi(im))
            yield page
            del page, grey


# ---------------------------------------------------------------------------------------------
# discovery


@dataclass(frozen=True)
class Skipped:
    """Something :func:`discover` found in a folder and did not list, and why.

    ``kind`` is ``"unreadable"`` (a folder that could not be listed: inputs may be missing
    from the run), ``"symlink"`` (a symbolic link to a folder below a folder named: not
    followed, so that a link loop cannot recurse forever and no file is read twice) or
    ``"extension"`` (a file whose extension is not an image or X9 one).
    """

    path: str
    reason: str
    kind: str


def discover(
    inputs: Sequence[str], recursive: bool = True, skipped: list[Skipped] | None = None
) -> list[str]:
    """Expand files, folders and glob patterns into the ordered list of inputs to read.

    Parameters
    ----------
    inputs : sequence of str
        Paths to files, folders or glob patterns (``*``, ``?``, ``[``; ``**`` recurses).
    recursive : bool
        Whether folders are walked recursively.
    skipped : list of Skipped, optional
        Appended with what was found in folders and not listed (see :class:`Skipped`); each
        unreadable folder and symbolic link to a folder is also logged as a warning on the
        ``chequereader`` logger, files with other extensions as one warning per folder named.

    Returns
    -------
    list of str
        Explicit files in the order given (any extension: the user named them); each folder
        replaced by its image and X9 files (extensions :data:`DISCOVER_EXTENSIONS`, case
        insensitive, hidden files and folders skipped, symbolic links to folders below it not
        followed, sorted by path); each glob by its sorted matches. A path that does not
        exist, or a glob that matches nothing, is kept as given so that the batch reports an
        error row for it instead of dropping it. A file reached twice is listed once, at its
        first position.

    Examples
    --------
    >>> discover(["/no/such/file.png"])
    ['/no/such/file.png']
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [os.fspath(inputs)]
    out: list[str] = []
    seen: set[str] = set()
    report: list[Skipped] = skipped if skipped is not None else []

    def add(p: str) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in inputs:
        item = os.fspath(raw)
        if os.path.isdir(item):
            for p in _walk(item, recursive, report):
                add(p)
        elif os.path.exists(item):
            add(item)
        elif _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                out.append(item)
            for m in matches:
                if os.path.isdir(m):
                    for p in _walk(m, recursive, report):
                        add(p)
                else:
                    add(m)
        else:
            out.append(item)
    return out


def _walk(folder: str, recursive: bool, report: list[Skipped]) -> list[str]:
    found: list[str] = []
    other: list[str] = []
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError as exc:
            _skip(report, Skipped(d, f"cannot list folder ({exc.strerror or exc})", "unreadable"))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            p = os.path.join(d, e.name)
            try:
                is_dir = e.is_dir()  # follows a link
                is_link = is_dir and e.is_symlink()
            except OSError as exc:  # pragma: no cover - the entry vanished or cannot be stat'ed
                _skip(report, Skipped(p, f"cannot stat ({exc.strerror or exc})", "unreadable"))
                continue
            if is_dir:
                if is_link and recursive:
                    _skip(report, Skipped(p, "symbolic link to a folder, not followed (name it "
                                             "on the command line to read it)", "symlink"))
                elif recursive:
                    stack.append(p)
            elif Path(e.name).suffix.lower() in DISCOVER_EXTENSIONS:
                found.append(p)
            else:
                other.append(p)
    if other:
        report.extend(Skipped(p, "not an image or X9 file by its extension", "extension")
                      for p in other)
        exts = collections.Counter(Path(p).suffix.lower() or "(none)" for p in other)
        _log.warning("chequereader: %s: %d file%s not read, not image or X9 files by extension "
                     "(%s)", folder, len(other), "" if len(other) == 1 else "s",
                     ", ".join(f"{k} x{v}" for k, v in sorted(exts.items())))
    return sorted(found)


def _skip(report: list[Skipped], s: Skipped) -> None:
    report.append(s)
    _log.warning("chequereader: skipped %s: %s", s.path, s.reason)


# ---------------------------------------------------------------------------------------------
# writing


def _to_bitonal(image: Any, name: str) -> Image.Image:
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidImageError(f"{name}: expected a non-empty 2-D array, got shape {arr.shape}")
    # True = ink for bool images; otherwise ink is what is darker than mid-grey.
    paper = ~arr if arr.dtype == bool else arr >= 128
    return Image.fromarray(np.ascontiguousarray(paper.astype(np.uint8) * 255)).convert("1")


def write_tiff_g4(
    path_or_buffer: str | os.PathLike | IO[bytes],
    images: Sequence[np.ndarray],
    dpi: float = 200,
) -> None:
    """Write bitonal images as one CCITT Group 4 TIFF, one page per image, front first.

    Parameters
    ----------
    path_or_buffer : str, os.PathLike or binary file object
        Destination.
    images : sequence of ndarray
        ``bool (H, W)`` with ``True`` = ink, or grey ``uint8 (H, W)`` thresholded at 128.
    dpi : float
        Resolution written in every page.

    Notes
    -----
    Pages are written min-is-white (PhotometricInterpretation 0), as X9.100-181 requires for
    bitonal check images.
    """
    if len(images) == 0:
        raise InvalidImageError("images: no pages to write")
    if not dpi or dpi <= 0:
        raise ConfigError(f"dpi: {dpi!r} must be positive")
    pil = [_to_bitonal(im, f"images[{i}]") for i, im in enumerate(images)]
    target: Any = (
        os.fspath(path_or_buffer)
        if isinstance(path_or_buffer, (str, os.PathLike))
        else path_or_buffer
    )
    pil[0].save(
        target,
        format="TIFF",
        compression="group4",
        dpi=(float(dpi), float(dpi)),
        tiffinfo={262: 0},
        save_all=True,
        append_images=pil[1:],
    )


def encode_tiff_g4(image: np.ndarray, dpi: float = 200) -> bytes:
    """Bytes of a single-page G4 TIFF of ``image`` (see :func:`write_tiff_g4`)."""
    buf = io.BytesIO()
    write_tiff_g4(buf, [image], dpi=dpi)
    return buf.getvalue()
