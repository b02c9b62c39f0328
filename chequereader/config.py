"""Pipeline configuration: each stage's frozen config, composed; loaded from TOML (no exec).

A pipeline TOML has top-level keys of :class:`PipelineConfig` and one table per stage, each
key the field of the same name of that stage's config::

    locale = "cl"
    field = true
    reject_threshold = 0.8      # the user's threshold: overrides the calibration's
    [decode]
    nbest = 3                   # alternatives reported
    [prior]
    no_cents_penalty = []       # the amount priors (amounts.PriorSettings)
    [locate]
    max_fields = 3              # field candidates decoded per page
    [lattice]
    max_span = 3

Every setting has one home and one key. A key that is not a setting (a typo), or one that
would be ignored, is refused with a :class:`ConfigError` naming it:

- ``nbest`` and ``max_fields`` are set in ``[decode]`` and ``[locate]`` (a top-level one is
  refused with the table it moved to);
- ``[decode] reject_threshold`` is refused: the threshold readings are rejected below is
  the top-level ``reject_threshold`` (when set) or the calibration's ``threshold``
  (``[calibration]``); with the calibration turned off and no ``reject_threshold``, the
  decoder's default, 0.5;
- ``[calibration] features = []`` turns the calibration off: any other key of that table
  would be ignored, and is refused;
- ``weights_cl`` applies only when ``weights`` is not given: a file may not give both.

The amount-prior keys that ``[decode]`` used to hold (``magnitude_penalty``,
``no_cents_penalty``, ... :data:`PRIOR_KEYS`) are read as the ``[prior]`` keys they now are;
one given in both tables is refused.

The named pipelines bundled with the package (``chequereader/pipelines/*.toml``,
:func:`bundled_pipelines`) load by name: ``load_config("orand")``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from ._validate import check_in, check_range
from .amounts import LOCALES, PriorSettings
from .calibration import Calibration, default_calibration
from .clean import CleanConfig
from .decode import DecodeConfig
from .errors import ConfigError
from .io.images import ImageLimits
from .lattice import LatticeConfig
from .locate import LocateConfig
from .quality import QualityConfig
from .recognize import RecognizeConfig
from .script import ScriptConfig
from .sdnn import SDNNConfig
from .segment import SegmentConfig

# what a reader may be asked for: a locale, or "auto" (grammar.locale_hint)
READ_LOCALES = (*LOCALES, "auto")


@dataclass(frozen=True)
class PipelineConfig:
    """How :class:`chequereader.pipeline.ChequeReader` composes the stages.

    ``locale``: the amount grammar (``us``, ``in``, ``cl``, ``any``), or ``auto``: each field
    is read under ``any`` and then under the locale its text shows, if it shows one (a rupee
    sign, lakh grouping or ``/-``: ``in``; ``.`` grouping thousands: ``cl``; ``xx/100`` or
    ``$`` with cents: ``us``; :func:`chequereader.grammar.locale_hint`).
    ``reject_threshold``: the user's threshold, which overrides the calibration's: a
    reading whose confidence is below it is ``rejected``; None (the default) takes the
    calibration's threshold, or the decoder's (``decode.reject_threshold``, 0.5) without a
    calibration.
    ``calibration``: the model that turns a reading's evidence into the probability that it
    is right (:mod:`chequereader.calibration`); by default the bundled one, fitted on real
    cheque fields; ``chequereader calibrate`` writes one for a user's own scans.
    ``evidence``: compute every calibration feature of every reading (``calibrate`` does),
    kept in :attr:`AmountResult.features`.
    ``weights``: recognizer weights for every locale (a file or a bundled name); when it is
    not given, the bundled default, and ``weights_cl`` for locale ``cl``. Several (a list):
    the recognizers read as one, their class probabilities averaged
    (:mod:`chequereader.models.ensemble`), e.g. a trained LeNet-5 and a trained wider model.
    ``field``: inputs already are courtesy-amount fields (skip location). ``pages``: read
    ``"all"`` pages of a multi-page file or only the ``"first"`` (the front).
    Field candidates decoded per page: ``locate.max_fields``; alternatives reported:
    ``decode.nbest``. ``prior``: changes to the locales' amount priors
    (:class:`chequereader.amounts.PriorSettings`; none by default). ``torch_threads``:
    threads torch and OpenCV may use (process-wide; 0 leaves their settings alone). One is
    fastest for LeNet-5's small batches and field-size images, and leaves the other cores to
    other workers. ``temperature``:
    penalties are divided by it before the forward (posterior) computation, which calibrates
    confidences without changing the best path (fitted on synthetic validation fields, see
    ``benchmarks/calibrate.py``).
    ``recognize``: how candidates are scored (:mod:`chequereader.recognize`): their shifted
    copies averaged with them (``[recognize] shifts = []``: the candidate alone).
    ``script``: the script check (:mod:`chequereader.script`): a field written in
    Arabic-Indic digits, which the recognizer has no classes for, is ``rejected`` with
    ``reject_reason = "script:arabic-indic"`` whatever its confidence (``[script] enabled =
    false`` turns the check off).
    ``sdnn``: the second reader (:mod:`chequereader.sdnn`), the space displacement network
    read over the whole field: each amount the decoder weighs gets its penalty of the
    amount's digits (``[sdnn] weights = "off"`` turns it off; ``weights`` a file from
    ``chequereader train sdnn``).
    ``x9_verify``: amount verification of X9.37 items. An item's reading that agrees with
    its record-25 amount (the amount captured when the cheque was deposited) is ``ok`` when
    its confidence is at least ``x9_agreement``, below the reject threshold: two independent
    readings of the same cheque agree. A reading that disagrees is ``rejected`` whatever its
    confidence (the item needs a person: the reading or the captured amount is wrong). The
    confidence reported stays the reading's own. False: the record-25 amount is only
    compared (``match``).
    """

    locale: str = "auto"
    field: bool = False
    reject_threshold: float | None = None
    weights: str | tuple[str, ...] | None = None
    # weights for `cl` amounts when ``weights`` is not given: the bundled file tuned to
    # Latin American handwriting ("default" or None = the same weights as other locales)
    weights_cl: str | None = "latin"
    pages: str = "all"
    torch_threads: int = 1
    temperature: float = 1.0
    clean: CleanConfig = dc_field(default_factory=CleanConfig)
    segment: SegmentConfig = dc_field(default_factory=SegmentConfig)
    lattice: LatticeConfig = dc_field(default_factory=LatticeConfig)
    recognize: RecognizeConfig = dc_field(default_factory=RecognizeConfig)
    decode: DecodeConfig = dc_field(default_factory=DecodeConfig)
    prior: PriorSettings = dc_field(default_factory=PriorSettings)
    locate: LocateConfig = dc_field(default_factory=LocateConfig)
    quality: QualityConfig = dc_field(default_factory=QualityConfig)
    script: ScriptConfig = dc_field(default_factory=ScriptConfig)
    sdnn: SDNNConfig = dc_field(default_factory=SDNNConfig)
    limits: ImageLimits = dc_field(default_factory=ImageLimits)
    calibration: Calibration = dc_field(default_factory=default_calibration)
    evidence: bool = False
    x9_verify: bool = True
    x9_agreement: float = 0.2

    def __post_init__(self) -> None:
        check_in(self.locale, READ_LOCALES, "locale")
        check_range(self.x9_agreement, "x9_agreement", 0.0, 1.0)
        check_in(self.pages, ("all", "first"), "pages")
        if self.reject_threshold is not None:
            check_range(self.reject_threshold, "reject_threshold", 0.0, 1.0)
        check_range(self.temperature, "temperature", 0.05, 100.0)
        w = self.weights
        if isinstance(w, tuple) and (not w or not all(isinstance(x, str) and x for x in w)):
            raise ConfigError(f"weights: {list(w)!r}: name one recognizer's weights, or a list "
                              "of two or more files or bundled names")

    @property
    def threshold(self) -> float:
        """The reject threshold in force: ``reject_threshold``, else the calibration's, else
        the decoder's."""
        if self.reject_threshold is not None:
            return float(self.reject_threshold)
        if self.calibration.active:
            return float(self.calibration.threshold)
        return float(self.decode.reject_threshold)


#: Keys that moved, and where to: a pipeline TOML that still has them is refused, naming the
#: table that holds them now.
MOVED: dict[str, str] = {"nbest": "decode", "max_fields": "locate"}

#: Keys of a stage's config that a pipeline TOML does not set, and why (each would be ignored
#: or duplicate a key that has its own home).
NOT_IN_TOML: dict[tuple[str, str], str] = {
    ("decode", "reject_threshold"): (
        "the reject threshold is the top-level reject_threshold (the user's, which overrides "
        "the calibration's) or [calibration] threshold; [decode] has none"),
}

#: ``[decode]`` keys that are ``[prior]`` keys now (the amount priors moved out of the
#: decoder's settings): a file that sets them in ``[decode]`` is read as if it set them in
#: ``[prior]``.
PRIOR_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PriorSettings))

#: Where the named pipelines are: package data, so that an installed package has them too.
PIPELINES_DIR = Path(__file__).resolve().parent / "pipelines"


def bundled_pipelines() -> tuple[str, ...]:
    """Names of the pipelines bundled with the package (``--pipeline NAME``)."""
    return tuple(sorted(p.stem for p in PIPELINES_DIR.glob("*.toml")))


def pipeline_path(name_or_path: str | Path) -> Path:
    """The TOML file of a pipeline: a bundled pipeline's name (:func:`bundled_pipelines`;
    a string with no folder and no ``.toml``), else the path itself."""
    s = str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in s and "\\" not in s and not s.endswith(".toml"):
        p = PIPELINES_DIR / f"{s}.toml"
        if p.is_file():
            return p
        raise ConfigError(f"pipeline {s!r}: no bundled pipeline of that name (bundled: "
                          f"{', '.join(bundled_pipelines())}; a file is named by its path, "
                          "e.g. ./mine.toml)")
    return Path(name_or_path)


def _prior_keys_from_decode(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` with the amount-prior keys of its ``[decode]`` table moved to ``[prior]``."""
    dec = data.get("decode")
    if not isinstance(dec, dict) or not any(k in dec for k in PRIOR_KEYS):
        return data
    prior = data.get("prior", {})
    if not isinstance(prior, dict):
        return data  # _build names the bad table
    moved = {k: dec[k] for k in PRIOR_KEYS if k in dec}
    twice = sorted(set(moved) & set(prior))
    if twice:
        raise ConfigError(f"{where}: {', '.join(twice)} given in [decode] and in [prior]: "
                          "they are [prior] keys")
    out = dict(data)
    out["decode"] = {k: v for k, v in dec.items() if k not in moved}
    out["prior"] = {**prior, **moved}
    return out


def _check_file_keys(data: dict[str, Any], where: str) -> None:
    """Refuse the keys of a pipeline file that moved or would be ignored."""
    for k, table in MOVED.items():
        if k in data:
            raise ConfigError(f"{where}: top-level {k!r} moved: set it as [{table}] {k}")
    for (table, k), why in NOT_IN_TOML.items():
        if isinstance(data.get(table), dict) and k in data[table]:
            raise ConfigError(f"{where}: [{table}] {k} is not a setting: {why}")
    cal = data.get("calibration")
    if isinstance(cal, dict) and "features" in cal and not cal["features"]:
        other = sorted(set(cal) - {"features"})
        if other:
            raise ConfigError(f"{where}: [calibration] features = [] turns the calibration off, "
                              f"so {', '.join(other)} would be ignored (the reject threshold "
                              "without a calibration is the top-level reject_threshold)")
    if "weights" in data and "weights_cl" in data:
        raise ConfigError(f"{where}: weights_cl applies only when weights is not given "
                          "(weights names the recognizer of every locale): give one of them")


def _tuples(v: Any) -> Any:
    """A TOML array (of arrays...) as a tuple (of tuples...)."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


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
        elif (default is None or isinstance(default, tuple)) and isinstance(v, list):
            kw[k] = _tuples(v)  # hashable, as a frozen config is
        else:
            kw[k] = v
    try:
        return dataclasses.replace(base, **kw) if base is not None else cls(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_config(path: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """Read a pipeline (a TOML file, or a bundled pipeline by name: :func:`pipeline_path`;
    the defaults when ``path`` is None) and apply ``overrides`` (top-level keys; None
    values are left out)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = pipeline_path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"pipeline {p}: not found") from None
        except IsADirectoryError:
            raise ConfigError(f"pipeline {p}: a folder, not a pipeline TOML") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"pipeline {p}: invalid TOML ({exc})") from None
        _check_file_keys(data, f"pipeline {p}")
        data = _prior_keys_from_decode(data, f"pipeline {p}")
    given = {k: v for k, v in overrides.items() if v is not None}
    for k, table in MOVED.items():
        if k in given:
            raise ConfigError(f"{k!r} is a [{table}] setting: PipelineConfig({table}=...)")
    data.update(given)
    return _build(PipelineConfig, data, "config")
