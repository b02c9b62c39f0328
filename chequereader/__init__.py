"""chequereader: read the courtesy amount on scanned bank cheques.

After LeCun, Bottou, Bengio and Haffner, *Gradient-Based Learning Applied to Document
Recognition* (1998), Section X. Importing this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ChequeReaderError, ConfigError, InvalidImageError, ModelError
from .types import AmountResult, BBox, Page

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import ChequeReader


def __getattr__(name: str) -> Any:
    # Lazy: the pipeline imports torch; keep `import chequereader` light.
    if name in ("ChequeReader", "read_field", "read_cheque"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)


__all__ = [
    "AmountResult",
    "BBox",
    "ChequeReader",
    "ChequeReaderError",
    "ConfigError",
    "InvalidImageError",
    "ModelError",
    "Page",
    "read_cheque",
    "read_field",
]
