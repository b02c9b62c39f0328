"""The X9.37 file of a folder of synthetic cheques (``generate(..., x9=True)``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError
from .ink import bitonal


def _g4_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(buf, format="TIFF", compression="group4", dpi=(200, 200))
    return buf.getvalue()


def x9_sequence(i: int) -> str:
    """The item sequence number of the ``i``-th cheque (from 0) in the X9 file written."""
    return str(i + 1)


def write_x9(path: Path, items: list) -> None:
    """One X9.37 file (EBCDIC) of all cheques: bitonal G4 fronts, amounts in cents."""
    try:
        from ..io.x937 import X9Item, write_x937
    except ImportError as exc:
        raise ConfigError("x9: chequereader.io.x937.write_x937 is not available") from exc
    from datetime import datetime
    from decimal import Decimal

    x9_items = [X9Item(sequence=x9_sequence(i), amount_cents=int(Decimal(canon) * 100),
                       front=_g4_bytes(bitonal(img)), back=None, index=i)
                for i, (_, img, canon) in enumerate(items)]
    # A fixed creation time keeps the file byte-identical for a given seed.
    write_x937(path, x9_items, "ebcdic", created=datetime(2024, 1, 1, 0, 0))
