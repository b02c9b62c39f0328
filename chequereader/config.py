"""Pipeline configuration: each stage's frozen config, composed; loaded from TOML (no exec).

A pipeline TOML has top-level keys of :class:`PipelineConfig` and one table per stage::

    locale = "cl"
    reject_threshold = 0.5
    [segment]
    max_pieces_per_digit = 3
    [lattice]
    max_span = 3

Unknown keys are refused with a :class:`ConfigError` naming them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import tomllib

from ._validate import check_in, check_range
from .calibration import Calibration, default_calibration
from .clean import CleanConfig
from .decode import DecodeConfig
from .errors import ConfigError
from .io.images import ImageLimits
from .lattice import LatticeConfig
from .locate import LocateConfig
from .quality import QualityConfig
from .segment import SegmentConfig

LOCALES = ("us", "in", "cl", "any")
# what a reader may be asked for: a locale, or "auto" (grammar.locale_hint)
READ_LOCALES = (*LOCALES, "auto")


@dataclass(frozen=True)
class PipelineConfig:
    """How :class:`chequereader.pipeline.ChequeReader` composes the stages.

    ``locale``: the amount grammar (``us``, ``in``, ``cl``, ``any``), or ``auto``: each field
    is read under ``any`` and then under the locale its text shows, if it shows one (a rupee
    sign, lakh grouping or ``/-``: ``in``; ``.`` grouping thousands: ``cl``; ``xx/100`` or
    ``$`` with cents: ``us``; :func:`chequereader.grammar.locale_hint`).
    ``reject_threshold``: a reading whose confidence is below it is ``rejected``; None (the
    default) takes the calibration's threshold, or 0.5 without a calibration.
    ``calibration``: the model that turns a reading's evidence into the probability that it
    is right (:mod:`chequereader.calibration`); by default the bundled one, fitted on real
    cheque fields; ``chequereader calibrate`` writes one for a user's own scans.
    ``evidence``: compute every calibration feature of every reading (``calibrate`` does),
    kept in :attr:`AmountResult.features`.
    ``weights``: recognizer weights for every locale (a file or a bundled name); when it is
    not given, the bundled default, and ``weights_cl`` for locale ``cl``.
    ``field``: inputs already are courtesy-amount fields (skip location). ``pages``: read
    ``"all"`` pages of a multi-page file or only the ``"first"`` (the front).
    ``max_fields``: field candidates decoded per page, the best kept. ``torch_threads``:
    threads torch and OpenCV may use (process-wide; 0 leaves their settings alone). One is
    fastest for LeNet-5's small batches and field-size images, and leaves the other cores to
    other workers. ``temperature``:
    penalties are divided by it before the forward (posterior) computation, which calibrates
    confidences without changing the best path (fitted on synthetic validation fields, see
    ``benchmarks/calibrate.py``).
    """

    locale: str = "auto"
    field: bool = False
    reject_threshold: float | None = None
    nbest: int = 5
    weights: str | None = None
    # weights for `cl` amounts when ``weights`` is not given: the bundled file tuned to
    # Latin American handwriting ("default" or None = the same weights as other locales)
    weights_cl: str | None = "latin"
    pages: str = "all"
    max_fields: int = 3
    torch_threads: int = 1
    temperature: float = 1.0
    clean: CleanConfig = dc_field(default_factory=CleanConfig)
    segment: SegmentConfig = dc_field(default_factory=SegmentConfig)
    lattice: LatticeConfig = dc_field(default_factory=LatticeConfig)
    decode: DecodeConfig = dc_field(default_factory=DecodeConfig)
    locate: LocateConfig = dc_field(default_factory=LocateConfig)
    quality: QualityConfig = dc_field(default_factory=QualityConfig)
    limits: ImageLimits = dc_field(default_factory=ImageLimits)
    calibration: Calibration = dc_field(default_factory=default_calibration)
    evidence: bool = False

    def __post_init__(self) -> None:
        check_in(self.locale, READ_LOCALES, "locale")
        check_in(self.pages, ("all", "first"), "pages")
        if self.reject_threshold is not None:
            check_range(self.reject_threshold, "reject_threshold", 0.0, 1.0)
        check_range(self.nbest, "nbest", 1, 100)
        check_range(self.max_fields, "max_fields", 1, 20)
        check_range(self.temperature, "temperature", 0.05, 100.0)

    @property
    def threshold(self) -> float:
        """The reject threshold in force: ``reject_threshold``, else the calibration's, else
        the decoder's."""
        if self.reject_threshold is not None:
            return float(self.reject_threshold)
        if self.calibration.active:
            return float(self.calibration.threshold)
        return float(self.decode.reject_threshold)


def _build(cls: type, data: dict[str, Any], where: str, base: Any = None) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kw: dict[str, Any] = {}
    for k, v in data.items():
        if k not in fields:
            raise ConfigError(f"{where}: unknown key {k!r} (known: {', '.join(sorted(fields))})")
        f = fields[k]
        factory = f.default_factory
        default = factory() if callable(factory) else f.default
        if dataclasses.is_dataclass(default):
            if not isinstance(v, dict):
                raise ConfigError(f"{where}.{k}: expected a table")
            # From the default instance: a table may change some keys of a bundled default
            # (the calibration's threshold, say); a calibration table that names its
            # features is a model of its own and starts from nothing.
            fresh = isinstance(default, Calibration) and "features" in v
            kw[k] = _build(type(default), v, f"{where}.{k}", base=None if fresh else default)
        elif isinstance(default, tuple) and isinstance(v, list):
            kw[k] = tuple(v)
        else:
            kw[k] = v
    try:
        return dataclasses.replace(base, **kw) if base is not None else cls(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(path: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """Read a pipeline TOML (or the defaults when ``path`` is None) and apply ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config {p}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {p}: invalid TOML ({exc})") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(PipelineConfig, data, "config")
