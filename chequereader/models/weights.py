"""Weight files: one file per model, carrying metadata that is checked on load (docs/design.md section 6).

A weight file is a ``torch.save`` of a plain dict::

    {"format": "chequereader-weights", "format_version": 1,
     "metadata": {architecture, alphabet, rubbish_j, framing, normalisation,
                  training: {data, command, ...}, metrics: {...}},
     "state_dict": {...}, "sha256": digest of the tensors}

Reading cheques does not need torch: next to each ``NAME.pt`` :func:`save_model` writes
``NAME.npz``, the same tensors as plain arrays with the same header as UTF-8 JSON (the
``uint8`` member ``__header__``) plus the SHA-256 of the ``.pt`` it was exported from. :func:`load_numpy_model`
reads that file (no pickle: ``allow_pickle=False``) when its recorded source matches the
``.pt`` beside it, so a stale export is never used; otherwise it reads the ``.pt`` with torch
when torch is installed. ``python -m chequereader.models.export FILE.pt`` writes the ``.npz``
of an older file. :func:`load_model` gives the trainable torch module.

Both refuse a missing, truncated, corrupt or mismatched file with a :class:`ModelError` naming
what is wrong. ``.pt`` files are loaded with ``weights_only=True``: no pickled code.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import framing
from ..errors import ModelError
from .alphabet import Alphabet

ARCHITECTURES: dict[str, str] = {
    "lenet5-rbf": "LeNet-5 as published (the default)",
    "wide-cnn-rbf": "wider convolutions, LeNet-5's F6 and RBF outputs (models.widenet)",
}
MODELS = {"lenet5": "lenet5-rbf", "wide": "wide-cnn-rbf"}  # --model names


def model_class(architecture: str) -> Any:
    """The torch network class of a weight file's ``architecture`` (imports torch)."""
    if architecture == "wide-cnn-rbf":
        from .widenet import WideNet

        return WideNet
    from .lenet5 import LeNet5

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
# The pip extra that brings torch (training, and reading a .pt that has no .npz export).
TORCH_EXTRA = "pip install 'chequereader[train]'"
NPZ_HEADER = "__header__"

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


def _array(v: Any) -> np.ndarray:
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)


def _digest(state: dict[str, Any]) -> str:
    """SHA-256 of the tensors (torch tensors or arrays: the same digest for both)."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(np.ascontiguousarray(_array(state[k])).tobytes())
    return h.hexdigest()


def _import_torch(what: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ModelError(f"{what} needs PyTorch, which is not installed: {TORCH_EXTRA}") from None
    return torch


def npz_path(path: str | Path) -> Path:
    """The NumPy export that belongs next to a ``.pt`` weight file."""
    return Path(path).with_suffix(".npz")


def save_model(model: Any, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a :class:`~chequereader.models.lenet5.LeNet5`) with its metadata, and
    its NumPy export next to it (:func:`npz_path`); returns the path. Written atomically."""
    torch = _import_torch("saving a model")
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
    if path.suffix == ".pt":
        _write_npz(blob, path)
    return path


def save_npz(state: dict[str, np.ndarray], path: str | Path, alphabet: Alphabet,
             rubbish_j: float = 20.0, metadata: dict[str, Any] | None = None) -> Path:
    """Write a NumPy weight file (``.npz``) from a state dict of arrays; needs no torch.

    ``state`` holds the parameters by the torch module's names
    (:data:`~chequereader.models.numpy_lenet5.STATE_SHAPES`); the file reads back with
    :func:`load_numpy_model` (and with :func:`load_model` where torch is installed).
    """
    from .numpy_lenet5 import STATE_SHAPES, NumpyLeNet5

    state = {k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}
    NumpyLeNet5(state, alphabet, rubbish_j)  # refuses missing or misshapen tensors
    counts = {m: sum(int(np.prod(STATE_SHAPES[k])) for k in STATE_SHAPES if k.startswith(m + "."))
              for m in ("c1", "s2", "c3", "s4", "c5", "f6")}
    meta = {
        "architecture": ARCHITECTURE, "alphabet": alphabet.string, "rubbish_j": float(rubbish_j),
        "framing": FRAMING, "normalisation": NORMALISATION, "layer_parameters": counts,
    }
    meta.update(metadata or {})
    blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": meta,
            "state_dict": state, "sha256": _digest(state)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_npz(blob, None, path)


def _write_npz(blob: dict[str, Any], source: Path | None, out: Path | None = None) -> Path:
    """Write the ``.npz`` export of a checked weight ``blob`` read from (or saved to) the
    ``.pt`` file ``source`` (None: written from arrays, no ``.pt``)."""
    if out is None:
        assert source is not None
        out = npz_path(source)
    out = Path(out)
    header = {
        "format": blob["format"],
        "format_version": blob["format_version"],
        "metadata": blob["metadata"],
        "sha256": blob["sha256"],
        "source": None if source is None else
        {"file": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()},
    }
    arrays = {k: _array(v) for k, v in blob["state_dict"].items() if k != "prototypes"}
    if NPZ_HEADER in arrays:
        raise ModelError(f"weights {out}: a tensor is named {NPZ_HEADER!r}")
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
        text = json.dumps(header, ensure_ascii=False).encode("utf-8")
        np.savez(fh, **{NPZ_HEADER: np.frombuffer(text, np.uint8)}, **arrays)  # type: ignore[arg-type]
    tmp.replace(out)
    return out


def export_npz(path: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write the NumPy export of the ``.pt`` weight file ``path`` (checked as
    :func:`load_model` checks it) to ``out`` (default: :func:`npz_path`); needs torch."""
    blob, p = _read_pt(path)
    _check(blob["metadata"], blob.get("state_dict"), blob.get("sha256"), p)
    return _write_npz(blob, p, None if out is None else Path(out))


def read_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The metadata dict of a weight file (checked as :func:`load_model` does); a ``.pt``
    with a current ``.npz`` export is read through the export, without torch."""
    p = resolve_weights(path)
    npz = _current_npz(p)
    if npz is not None:
        return _read_npz(npz)[0]["metadata"]
    return _read_pt(p)[0]["metadata"]


def _file_bytes(p: Path) -> bytes:
    if not p.exists():
        raise ModelError(f"weights {p}: file not found")
    if p.is_dir():
        raise ModelError(f"weights {p}: is a directory")
    data = p.read_bytes()
    if not data:
        raise ModelError(f"weights {p}: file is empty")
    return data


def _check_header(blob: Any, p: Path) -> None:
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelError(f"weights {p}: not a chequereader weight file (format field missing)")
    if blob.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"weights {p}: format_version {blob.get('format_version')} != {FORMAT_VERSION}"
        )
    if not isinstance(blob.get("metadata"), dict):
        raise ModelError(f"weights {p}: metadata missing")


def _read_pt(path: str | Path | None) -> tuple[dict[str, Any], Path]:
    p = resolve_weights(path)
    data = _file_bytes(p)
    try:
        import torch
    except ImportError:
        raise ModelError(
            f"weights {p}: a torch weight file without a current .npz export beside it; reading "
            f"it needs PyTorch, which is not installed: {TORCH_EXTRA} (or, where torch is "
            f"installed, run `python -m chequereader.models.export {p}` and keep the .npz "
            f"next to the .pt)"
        ) from None
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"weights {p}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None
    _check_header(blob, p)
    return blob, p


def _read_npz(p: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of an ``.npz`` export."""
    data = _file_bytes(p)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop(NPZ_HEADER).tobytes().decode("utf-8"))
    except Exception as exc:
        raise ModelError(f"weights {p}: corrupt or truncated file ({type(exc).__name__}: {exc})") from None
    _check_header(header, p)
    return header, arrays


def _current_npz(p: Path) -> Path | None:
    """The ``.npz`` to read for the weight file ``p``: ``p`` itself when it is one, the
    export beside a ``.pt`` when that export records this very ``.pt``, else None."""
    if p.suffix == ".npz":
        return p
    npz = npz_path(p)
    if p.suffix != ".pt" or not npz.is_file() or not p.is_file():
        return None
    try:
        header = _read_npz(npz)[0]
    except ModelError:
        return None
    src = header.get("source") or {}
    if src.get("sha256") != hashlib.sha256(p.read_bytes()).hexdigest():
        return None
    return npz


def _check(meta: dict[str, Any], state: Any, sha256: Any, p: Path,
           alphabet: Alphabet | None = None, extend: bool = False) -> Alphabet:
    """Check a file's metadata and tensors; returns the alphabet to build the model with."""
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
    if sha256 != _digest(state):
        raise ModelError(f"weights {p}: checksum mismatch (file altered or corrupt)")
    return trained


def load_model(
    path: str | Path | None = None, *, alphabet: Alphabet | None = None, extend: bool = False
) -> Any:
    """Load a trainable torch LeNet-5 from ``path`` (default: the bundled weights) and check
    its metadata. Needs torch (``chequereader[train]``); reading uses :func:`load_numpy_model`.

    Raises :class:`ModelError` naming the mismatch: architecture, framing, normalisation,
    alphabet (when ``alphabet`` is given), tensor names/shapes, or checksum. With
    ``extend=True`` an ``alphabet`` that starts with the file's alphabet is accepted (used to
    fine-tune onto a locale's extra symbols: the RBF prototypes are fixed, not learned).
    """
    p = resolve_weights(path)
    if p.suffix == ".npz":
        header, arrays = _read_npz(p)
        blob = {**header, "state_dict": arrays}
        _import_torch(f"loading {p} as a torch model")
    else:
        blob, p = _read_pt(p)
    import torch

    meta = blob["metadata"]
    state: Any = blob.get("state_dict")
    trained = _check(meta, state, blob.get("sha256"), p, alphabet, extend)
    state = {k: torch.as_tensor(v) for k, v in state.items() if k != "prototypes"}  # older files saved them
    model = model_class(meta["architecture"])(trained, rubbish_j=float(meta.get("rubbish_j", 10.0)))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights {p}: tensors do not match the architecture ({exc})") from None
    model.eval()
    model.metadata = meta
    return model


def load_numpy_model(path: str | Path | Sequence[str | Path] | None = None, *,
                     alphabet: Alphabet | None = None) -> Any:
    """Load the reader's recognizer, a :class:`~chequereader.models.numpy_lenet5.NumpyLeNet5`,
    from ``path`` (default: the bundled weights; a bundled name; a ``.pt`` or ``.npz`` file).
    Several paths (a list or tuple of two or more) give an
    :class:`~chequereader.models.ensemble.Ensemble` of them, their probabilities averaged;
    one path in a list is that path.

    A ``.pt`` is read through its current ``.npz`` export when there is one (no torch
    imported), else with torch. Checks as :func:`load_model` does and raises
    :class:`ModelError` naming the mismatch, or naming the extra to install when only torch
    could read the file.

    Examples
    --------
    >>> m = load_numpy_model()
    >>> m.alphabet.string[:10], m.predict(np.zeros((0, 32, 32), np.float32)).shape
    ('0123456789', (0, 17))
    """
    from .numpy_lenet5 import NumpyLeNet5

    if path is not None and not isinstance(path, (str, Path)):
        if len(path) == 1:
            return load_numpy_model(path[0], alphabet=alphabet)
        from .ensemble import Ensemble

        return Ensemble([load_numpy_model(p, alphabet=alphabet) for p in path])
    p = resolve_weights(path)
    npz = _current_npz(p)
    if npz is None:
        model = load_model(p, alphabet=alphabet)
        if getattr(model, "ARCHITECTURE", ARCHITECTURE) != ARCHITECTURE:
            return model  # the wider option reads with torch (its own predict)
        return NumpyLeNet5.from_torch(model)
    header, state = _read_npz(npz)
    meta = header["metadata"]
    if meta.get("architecture") != ARCHITECTURE and meta.get("architecture") in ARCHITECTURES:
        return load_model(p if p.suffix == ".pt" else npz, alphabet=alphabet)
    trained = _check(meta, state, header.get("sha256"), npz, alphabet)
    try:
        return NumpyLeNet5(state, trained, float(meta.get("rubbish_j", 10.0)), meta)
    except ModelError as exc:
        raise ModelError(f"weights {npz}: {exc}") from None
