"""What libtiff says while it decodes: its errors and warnings, caught instead of printed.

libtiff reports a damaged CCITT G4 strip ("Fax4Decode: Bad code word at line ...") through its
error handler, which prints on stderr, and goes on: Pillow then returns the image as if it
were whole, with the lines after the damage shifted or smeared. A reader must not take such
an image for the scan. :func:`capture` collects the messages libtiff gives while a block runs
(per thread), so that the caller can refuse the decode.

The handlers are installed once per process, on the libtiff that Pillow loaded (and any
other copy loaded, found in ``/proc/self/maps``); where that cannot be done (not Linux, a Pillow built without libtiff)
:func:`capture` collects nothing and decoding behaves as before.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()
_lock = threading.Lock()
_state: dict[str, object] = {}

_Handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)


def _format(module: bytes | None, fmt: bytes | None, ap: int | None) -> str:
    text = (fmt or b"").decode("utf-8", "replace")
    libc = _state.get("libc")
    if libc is not None and fmt is not None and ap is not None:
        buf = ctypes.create_string_buffer(1024)
        try:
            libc.vsnprintf(buf, 1024, fmt, ctypes.c_void_p(ap))  # type: ignore[attr-defined]
            text = buf.value.decode("utf-8", "replace")
        except Exception:  # pragma: no cover - keep the unformatted message
            pass
    mod = (module or b"").decode("utf-8", "replace")
    return f"{mod}: {text}" if mod else text


def _make(level: str):
    def handler(module: bytes | None, fmt: bytes | None, ap: int | None) -> None:
        try:
            msg = _format(module, fmt, ap)
            sink = getattr(_local, "sink", None)
            if sink is not None:
                sink.append((level, msg))
            elif level == "error":
                print(msg, file=sys.stderr)
        except Exception:  # pragma: no cover - never raise into C
            pass

    return _Handler(handler)


def _libtiff_paths() -> list[str]:
    """Every libtiff loaded in this process (Pillow's, and any other library's own copy)."""
    found: list[str] = []
    try:
        import PIL._imaging  # noqa: F401 - loads the libtiff Pillow decodes with

        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split()
                if (len(parts) >= 6 and "libtiff" in parts[-1].rsplit("/", 1)[-1]
                        and parts[-1] not in found):
                    found.append(parts[-1])
    except OSError:
        return []
    return found


def install() -> bool:
    """Install the handlers on the libtiff libraries loaded (once); whether any was."""
    with _lock:
        if "ok" in _state:
            return bool(_state["ok"])
        ok = False
        handlers = (_make("error"), _make("warning"))
        for path in _libtiff_paths():
            try:
                lib = ctypes.CDLL(path)
                _state.setdefault("libc", ctypes.CDLL(None))
                for name, h in zip(("TIFFSetErrorHandler", "TIFFSetWarningHandler"), handlers):
                    fn = getattr(lib, name)
                    fn.restype = ctypes.c_void_p
                    fn.argtypes = [_Handler]
                    fn(h)
                ok = True
            except (OSError, AttributeError):
                continue
        _state["handlers"] = handlers  # the C side holds them: keep them alive
        _state["ok"] = ok
        return ok


@contextmanager
def capture() -> Iterator[list[tuple[str, str]]]:
    """Collect ``(level, message)`` of what libtiff reports in this thread inside the block.

    ``level`` is ``"error"`` or ``"warning"``.
    """
    install()
    previous = getattr(_local, "sink", None)
    sink: list[tuple[str, str]] = []
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous


def decode_problems(messages: list[tuple[str, str]]) -> list[str]:
    """The messages that say the pixel data is damaged: every error, and the warnings of a
    decoder (``Fax3Decode...: Premature EOL``, ``Line length mismatch``...); directory
    warnings (unknown tags) are not about the pixels."""
    out = []
    for level, msg in messages:
        if level == "error" or "Decode" in msg.split(":", 1)[0]:
            out.append(msg)
    return out
