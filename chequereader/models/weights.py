"""Weight files: one file per model, carrying metadata that is checked on load (DESIGN 6).

A weight file is a ``torch.save`` of a plain dict::

    {"format": "chequereader-weights", "format_version": 1,
     "metadata": {architecture, alphabet, rubbish_j, framing, normalisation,
                  training: {data, command, ...}, metrics: {...}},
     "state_dict": {...}, "sha256": digest of the tensors}

:func:`load_model` refuses a missing, truncated, corrupt or mismatched file with a
:class:`ModelError` naming what is wrong. Loading uses ``weights_only=True``: no pickled code.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import framing
from ..errors import ModelError
from .alphabet import Alphabet
from .lenet5 import LeNet5

ARCHITECTURES: dict[str, str] = {
    "lenet5-rbf": "LeNet-5 as published (the default)",
    "wide-cnn-rbf": "wider convolutions, LeNet-5's F6 and RBF outputs (models.widenet)",
}
MODELS = {"lenet5": "lenet5-rbf", "wide": "wide-cnn-rbf"}  # --model names


def model_class(architecture: str) -> type[LeNet5]:
    """The network class of a weight file's ``architecture``."""
    if architecture == "wide-cnn-rbf":
        from .widenet import WideNet

        return WideNet
    return LeNet5

FORMAT = "chequereader-weights"
FORMAT_VERSION = 1
ARCHITECTURE = "lenet5-rbf"
DEFAULT_WEIGHTS = "lenet5-default.pt"
# Bundled weight files a user can name instead of giving a path (``--weights latin``).
BUNDLED = {
    "default": DEFAULT_WEIGHTS,
    # tuned further towards Latin American / European handwriting (Semeion, stroke digits):
    # better on Uruguayan (ORAND) fields, slightly worse on MNIST (pipelines/RECIPES.md)
    "latin": "lenet5-latin.pt",
}

FRAMING = {
    "function": "chequereader.framing.frame",
    "size": framing.SIZE,
    "box": framing.BOX,
    "max_width": framing.MAX_W,
    "scale_from": "max(0.75 x field body height, ink height)",
    "vertical": "field body midline at frame centre",
}
NORMALISATION = {"background": framing.BACKGROUND, "ink": framing.INK}


def default_weights_path() -> Path:
    return Path(str(resources.files("chequereader.models") / "weights" / DEFAULT_WEIGHTS))


def resolve_weights(path: str | Path | None) -> Path:
    """The file behind a weights argument: None = the default bundled file, a name of
    :data:`BUNDLED` = that bundled file, anything else = a path."""
    if path is None:
        return default_weights_path()
    if isinstance(path, str) and path in BUNDLED:
        return Path(str(resources.files("chequereader.models") / "weights" / BUNDLED[path]))
    return Path(path)


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(np.ascontiguousarray(state[k].detach().cpu().numpy()).tobytes())
    return h.hexdigest()


def save_model(model: LeNet5, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` with its metadata; returns the path. Written atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = {
        "architecture": getattr(model, "ARCHITECTURE", ARCHITECTURE),
        "alphabet": model.alphabet.string,
        "rubbish_j": model.rubbish_j,
        "framing": FRAMING,
        "normalisation": NORMALISATION,
        "layer_parameters": model.layer_parameter_counts(),
    }
    meta.update(metadata or {})
    blob = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": meta,
        "state_dict": state,
        "sha256": _digest(state),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def read_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The metadata dict of a weight file (checked as :func:`load_model` does)."""
    return _read(path)[0]["metadata"]


def _read(path: str | Path | None) -> tuple[dict[str, Any], Path]:
    p = resolve_weights(path)
    if not p.exists():
        raise ModelError(f"weights {p}: file not found")
    if p.is_dir():
        raise ModelError(f"weights {p}: is a directory")
    data = p.read_bytes()
    if not data:
        raise ModelError(f"weights {p}: file is empty")
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"weights {p}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelError(f"weights {p}: not a chequereader weight file (format field missing)")
    if blob.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"weights {p}: format_version {blob.get('format_version')} != {FORMAT_VERSION}"
        )
    return blob, p


def load_model(
    path: str | Path | None = None, *, alphabet: Alphabet | None = None, extend: bool = False
) -> LeNet5:
    """Load a LeNet-5 from ``path`` (default: the bundled weights) and check its metadata.

    Raises :class:`ModelError` naming the mismatch: architecture, framing, normalisation,
    alphabet (when ``alphabet`` is given), tensor names/shapes, or checksum. With
    ``extend=True`` an ``alphabet`` that starts with the file's alphabet is accepted (used to
    fine-tune onto a locale's extra symbols: the RBF prototypes are fixed, not learned).
    """
    blob, p = _read(path)
    meta = blob["metadata"]
    state = blob.get("state_dict")
    if not isinstance(state, dict):
        raise ModelError(f"weights {p}: state_dict missing")
    if meta.get("architecture") not in ARCHITECTURES:
        raise ModelError(f"weights {p}: architecture {meta.get('architecture')!r} is not one of "
                         f"{sorted(ARCHITECTURES)}")
    for key, want in (("framing", FRAMING), ("normalisation", NORMALISATION)):
        if meta.get(key) != want:
            raise ModelError(f"weights {p}: {key} {meta.get(key)!r} does not match this code's {want!r}")
    trained = Alphabet(tuple(meta["alphabet"]))
    if extend and alphabet is not None and alphabet.chars[: len(trained)] == trained.chars:
        trained = alphabet  # fine-tuning onto a longer alphabet: same parameters, more prototypes
    elif alphabet is not None and meta.get("alphabet") != alphabet.string:
        raise ModelError(
            f"weights {p}: alphabet {meta.get('alphabet')!r} != expected {alphabet.string!r}"
        )
    if blob.get("sha256") != _digest(state):
        raise ModelError(f"weights {p}: checksum mismatch (file altered or corrupt)")
    state = {k: v for k, v in state.items() if k != "prototypes"}  # older files saved them
    model = model_class(meta["architecture"])(trained, rubbish_j=float(meta.get("rubbish_j", 10.0)))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights {p}: tensors do not match the architecture ({exc})") from None
    model.eval()
    model.metadata = meta
    return model
