"""Input/output: image files and X9.37 cash letters into pages, labels manifests."""

from __future__ import annotations

from .images import (
    DISCOVER_EXTENSIONS,
    ImageLimits,
    Skipped,
    discover,
    encode_tiff_g4,
    load_image,
    load_pages,
    write_tiff_g4,
)
from .manifest import LabelRow, amounts_equal, canonical_amount_str, read_manifest
from .x937 import X9Item, is_x937, iter_x937, iter_x937_pages, read_x937, write_x937, x937_pages

__all__ = [
    "DISCOVER_EXTENSIONS",
    "ImageLimits",
    "LabelRow",
    "Skipped",
    "X9Item",
    "amounts_equal",
    "canonical_amount_str",
    "discover",
    "encode_tiff_g4",
    "is_x937",
    "iter_x937",
    "iter_x937_pages",
    "load_image",
    "load_pages",
    "read_manifest",
    "read_x937",
    "write_tiff_g4",
    "write_x937",
    "x937_pages",
]
