"""One shared set of input checks for the public entry points (cf. skimage ``check_nD``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, InvalidImageError


def check_image(image: Any, name: str = "image", *, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """Return ``image`` as an ndarray, or raise :class:`InvalidImageError` naming ``name``.

    Accepts numeric arrays of the given dimensionalities; bool arrays are allowed.
    A zero-size array is refused (callers that accept empty input check before).
    """
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise InvalidImageError(f"{name}: cannot be converted to an array ({exc})") from exc
    if image.ndim not in ndim:
        raise InvalidImageError(
            f"{name}: expected {' or '.join(f'{d}-D' for d in ndim)} array, got {image.ndim}-D "
            f"with shape {image.shape}"
        )
    if image.size == 0:
        raise InvalidImageError(f"{name}: empty array with shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise InvalidImageError(f"{name}: unsupported dtype {image.dtype}")
    return image


def check_in(value: Any, allowed: Any, name: str) -> Any:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{name}: {value!r} is not one of {sorted(map(str, allowed))}")
    return value


def check_range(value: float, name: str, lo: float | None = None, hi: float | None = None) -> float:
    """Raise :class:`ConfigError` unless ``lo <= value <= hi``."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {value!r} is not a number") from exc
    if np.isnan(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{name}: {value!r} is outside [{lo}, {hi}]")
    return v
