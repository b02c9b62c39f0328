"""Calibrated confidence: the probability that a reading is right, and the operating point.

The decoder's confidence (docs/design.md section 3) is a posterior *among the readings the grammar
allows*: when LeNet-5 is confidently wrong about a digit, every competing path is worse still
and the posterior stays near 1. So it orders right before wrong poorly on real fields. This
stage turns evidence about one reading into ``P(right)`` with a logistic model fitted on
labelled fields, and picks the reject threshold for a target error rate.

The evidence (:data:`FEATURES`), computed by :func:`field_features`:

``log_confidence``
    log of the decoder's confidence (posterior times the rubbish factor).
``margin``
    log ratio of the chosen amount's confidence to the runner-up's.
``mean_penalty``, ``max_penalty``
    the best path's per-character penalties (mean and worst): how well each character
    matches its class at all, which the posterior ignores when no rival path is better.
``mean_class_margin``
    per character, the penalty gap to the best *other* class on the same candidate.
``n_chars``
    characters on the path.
``stability_mean``, ``stability_max``
    the chosen classes' penalties on slightly rotated and slanted copies of each character
    (:func:`stability`): a confident mistake often does not survive a small distortion.
``n_quality_flags``, ``field_penalty``
    whole pages only: the page's quality flags and the located zone's penalty.
``trailing_zeros``
    zeros at the end of the amount's digits (:func:`chequereader.amounts.trailing_zeros`):
    written amounts are mostly round, and a misread digit seldom leaves them so.
``sdnn_penalty``, ``sdnn_gap``
    the second reader's (:mod:`chequereader.sdnn`) penalty of the amount's digits, and how
    far it is above the penalty of the SDNN's own best string (0 when the two readers
    agree): two readers that fail on different fields seldom agree on a wrong amount. A
    calibration that uses them needs ``[sdnn]`` on.

The model and its threshold are plain numbers (:class:`Calibration`), kept in a pipeline TOML's
``[calibration]`` table; ``chequereader calibrate`` fits them on a user's labelled scans.
The bundled default (``calibration-default.toml`` beside this module) was fitted by the same
command on real cheque fields (``pipelines/RECIPES.md``).

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
>>> cal = fit(x, y, features=("log_confidence",), l2=0.1)
>>> bool(cal.probability(np.array([3.0])) > cal.probability(np.array([0.0])))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ._validate import check_range
from .amounts import trailing_zeros
from .errors import ConfigError

FEATURES: tuple[str, ...] = (
    "log_confidence", "margin", "mean_penalty", "max_penalty", "mean_class_margin", "n_chars",
    "stability_mean", "stability_max", "n_quality_flags", "field_penalty", "trailing_zeros",
    "sdnn_penalty", "sdnn_gap",
)
#: The features that come from the second reader (:mod:`chequereader.sdnn`).
SDNN_FEATURES: tuple[str, ...] = ("sdnn_penalty", "sdnn_gap")

# Floors and caps keep one extreme value (a confidence of 1e-300, a barred class) from
# dominating a linear model.
_LOG_FLOOR = math.log(1e-12)
_MARGIN_CAP = 30.0
_NO_PATH_PENALTY = 30.0

DEFAULT_FILE = Path(__file__).resolve().parent / "calibration-default.toml"
# the bundled calibration of readings without the second reader ([sdnn] off)
DEFAULT_FILE_NO_SDNN = Path(__file__).resolve().parent / "calibration-default-nosdnn.toml"

# The L2 penalty on the standardised weights. A target of 1% error is decided by the few
# errors among the most confident readings; a model shrunk hard towards equal, small weights
# orders new readings better than one fitted closely to a few hundred labelled ones
# (benchmarks/RESULTS.md).
DEFAULT_L2 = 30.0


@dataclass(frozen=True)
class Calibration:
    """A logistic model of ``P(right)`` over named features, and the reject threshold.

    ``p = 1 / (1 + exp(-(intercept + sum_k coef[k] * (x[k] - mean[k]) / scale[k])))``.
    ``features`` empty: no calibration (the decoder's confidence is used as it is; the other
    numbers are then ignored, so a pipeline TOML turns the bundled one off with
    ``[calibration] features = []``).
    ``threshold``: readings with ``p`` below it are rejected (when the pipeline's
    ``reject_threshold`` is not set). ``fitted_on`` and ``n`` say where the numbers came from.
    """

    features: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    threshold: float = 0.5
    fitted_on: str = ""
    n: int = 0
    target_error: float | None = None

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ConfigError(f"calibration.features: unknown {unknown} (known: {list(FEATURES)})")
        k = len(self.features)
        for name in ("mean", "scale", "coef") if k else ():
            if len(getattr(self, name)) != k:
                raise ConfigError(f"calibration.{name}: {len(getattr(self, name))} values for "
                                  f"{k} features")
        if k and any(not s > 0 for s in self.scale):
            raise ConfigError("calibration.scale: every value must be > 0")
        check_range(self.threshold, "calibration.threshold", 0.0, 1.0)

    @property
    def active(self) -> bool:
        return bool(self.features)

    @property
    def needs_stability(self) -> bool:
        return any(f.startswith("stability") for f in self.features)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """``P(right)`` for feature rows ``x`` ``(N, K)`` or one row ``(K,)`` in
        :attr:`features` order."""
        x = np.asarray(x, np.float64)
        z = self.intercept + ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_toml(self) -> str:
        """The ``[calibration]`` table of a pipeline TOML."""
        def arr(v: Sequence[Any]) -> str:
            return "[" + ", ".join(repr(float(x)) if not isinstance(x, str) else f'"{x}"' for x in v) + "]"

        lines = ["[calibration]", f"features = {arr(self.features)}", f"mean = {arr(self.mean)}",
                 f"scale = {arr(self.scale)}", f"coef = {arr(self.coef)}",
                 f"intercept = {float(self.intercept)!r}", f"threshold = {float(self.threshold)!r}",
                 f"fitted_on = {_toml_str(self.fitted_on)}", f"n = {int(self.n)}"]
        if self.target_error is not None:
            lines.append(f"target_error = {float(self.target_error)!r}")
        return "\n".join(lines) + "\n"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=2)
def default_calibration(sdnn: bool = True) -> Calibration:
    """The bundled calibration (``calibration-default.toml``); with ``sdnn=False`` the one
    fitted on the readings of the segmentation graph alone (``[sdnn]`` off,
    ``calibration-default-nosdnn.toml``). None when the file is absent."""
    import tomllib

    path = DEFAULT_FILE if sdnn else DEFAULT_FILE_NO_SDNN
    if not path.exists():
        return Calibration()
    data = tomllib.loads(path.read_text())["calibration"]
    return from_mapping(data, str(path))


def from_mapping(data: dict[str, Any], where: str = "calibration") -> Calibration:
    """A :class:`Calibration` from a TOML table; unknown keys are refused."""
    known = set(Calibration.__dataclass_fields__)
    bad = sorted(set(data) - known)
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {bad} (known: {sorted(known)})")
    kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return Calibration(**kw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True)
class Evidence:
    """What one reading offers the calibration (the decoder's result and the path's details).

    ``confidences``: the n-best amounts' confidences, best first; ``char_penalties``: the
    best path's penalty per character; ``class_margins``: per character, the gap to the best
    other class on its candidate; ``stability``: per character, its class's penalties on the
    distorted copies (:func:`stability`), empty when not computed; ``amount``: the amount
    read (None: none); ``sdnn``: the second reader's penalty of the amount's digits and of
    its own best string (None: the second reader is off).
    """

    confidences: tuple[float, ...]
    char_penalties: tuple[float, ...]
    class_margins: tuple[float, ...]
    stability: tuple[tuple[float, ...], ...] = ()
    n_quality_flags: int = 0
    field_penalty: float = 0.0
    amount: str | None = None
    sdnn: tuple[float, float] | None = None


def evidence_of(decoding: Any, penalties: np.ndarray, stab: np.ndarray | None = None,
                n_quality_flags: int = 0, field_penalty: float = 0.0,
                sdnn: tuple[float, float] | None = None) -> Evidence:
    """:class:`Evidence` from a :class:`chequereader.decode.Decoded` and its ``(A, C)``
    penalties; ``stab`` ``(n_chars, n_copies)`` from :func:`stability`; ``sdnn`` the second
    reader's penalties (:attr:`Evidence.sdnn`)."""
    path = decoding.path
    cp: list[float] = []
    cm: list[float] = []
    if path is not None:
        for a, c in zip(path.arcs, path.classes):
            row = np.asarray(penalties[a], np.float64)
            sel = float(row[c])
            cp.append(sel)
            others = np.delete(row, c)
            cm.append(float(others.min() - sel) if others.size else _MARGIN_CAP)
    st: tuple[tuple[float, ...], ...] = ()
    if stab is not None and len(stab):
        st = tuple(tuple(float(v) for v in r) for r in np.asarray(stab))
    return Evidence(tuple(float(a.confidence) for a in decoding.alternatives), tuple(cp),
                    tuple(cm), st, int(n_quality_flags), float(field_penalty), decoding.amount,
                    None if sdnn is None else (float(sdnn[0]), float(sdnn[1])))


def field_features(ev: Evidence, names: Sequence[str] = FEATURES) -> np.ndarray:
    """Feature row ``float64 (len(names),)`` of one reading, in ``names`` order."""
    conf = ev.confidences
    c1 = conf[0] if conf else 0.0
    c2 = conf[1] if len(conf) > 1 else 0.0
    log1 = max(math.log(c1), _LOG_FLOOR) if c1 > 0 else _LOG_FLOOR
    log2 = max(math.log(c2), _LOG_FLOOR) if c2 > 0 else _LOG_FLOOR
    cp = np.asarray(ev.char_penalties or (_NO_PATH_PENALTY,), np.float64)
    cp = np.minimum(cp, _NO_PATH_PENALTY)
    cm = np.clip(np.asarray(ev.class_margins or (0.0,), np.float64), -_MARGIN_CAP, _MARGIN_CAP)
    if ev.stability:
        means = [float(np.mean(np.minimum(r, _NO_PATH_PENALTY))) for r in ev.stability]
        smean, smax = float(np.sum(means)), float(np.max(means))
    else:  # no path, or not computed: as bad as a missing path
        smean = smax = float(cp.sum()) if ev.char_penalties else _NO_PATH_PENALTY
    values = {
        "log_confidence": log1,
        "margin": min(log1 - log2, _MARGIN_CAP),
        "mean_penalty": float(cp.mean()),
        "max_penalty": float(cp.max()),
        "mean_class_margin": float(cm.mean()),
        "n_chars": float(len(ev.char_penalties)),
        "stability_mean": smean,
        "stability_max": smax,
        "n_quality_flags": float(ev.n_quality_flags),
        "field_penalty": float(ev.field_penalty),
        "trailing_zeros": float(trailing_zeros(ev.amount)),
        # without the second reader: as if it agreed (a calibration using these needs it on)
        "sdnn_penalty": ev.sdnn[0] if ev.sdnn is not None else 0.0,
        "sdnn_gap": max(0.0, ev.sdnn[0] - ev.sdnn[1]) if ev.sdnn is not None else 0.0,
    }
    return np.array([values[n] for n in names], np.float64)


def distortions(image: np.ndarray) -> np.ndarray:
    """Four slightly distorted copies ``float32 (4, 32, 32)`` of one framed candidate
    (background -0.1, docs/design.md section 4): rotated +-8 degrees and slanted both ways.
    (The recognizer already averages each candidate with its copies moved up and down,
    :mod:`chequereader.recognize`; shifted, scaled, thickened and thinned copies added
    nothing to the calibration beside these.)"""
    import cv2

    img = np.asarray(image, np.float32)
    bg = float(img.min())
    c = (15.5, 15.5)
    mats = [cv2.getRotationMatrix2D(c, ang, 1.0) for ang in (8, -8)]
    mats += [np.array([[1, s, -s * 16], [0, 1, 0]], np.float64) for s in (0.25, -0.25)]
    out = [cv2.warpAffine(img, m, (32, 32), flags=cv2.INTER_LINEAR, borderValue=bg) for m in mats]
    return np.stack(out).astype(np.float32)


N_DISTORTIONS = 4


def stability(model: Any, images: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Penalty of each chosen class on the distorted copies of its candidate.

    ``images`` ``float32 (n, 32, 32)`` (the best path's candidates), ``classes`` their
    classes; returns ``float64 (n, N_DISTORTIONS)``. ``model.predict`` scores all copies in
    one batch.
    """
    if len(classes) == 0:
        return np.zeros((0, N_DISTORTIONS))
    copies = np.concatenate([distortions(im) for im in images])
    pen = np.asarray(model.predict(copies), np.float64).reshape(len(classes), N_DISTORTIONS, -1)
    return pen[np.arange(len(classes)), :, np.asarray(classes)]


# ------------------------------------------------------------------------------------------
# Fitting and operating points


def fit(x: np.ndarray, correct: Sequence[bool] | np.ndarray, *, features: Sequence[str] = FEATURES,
        l2: float = DEFAULT_L2, threshold: float = 0.5, fitted_on: str = "",
        target_error: float | None = None) -> Calibration:
    """Fit the logistic model by Newton's method with an L2 penalty ``l2`` on the weights.

    ``x`` ``(N, K)`` feature rows in ``features`` order, ``correct`` ``(N,)``. A feature that
    is constant on the data gets weight 0 (scale 1).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(correct, np.float64)
    if x.ndim != 2 or x.shape[1] != len(features) or len(x) != len(y):
        raise ConfigError(f"fit: x {x.shape} does not match {len(features)} features and "
                          f"{len(y)} labels")
    if len(y) == 0:
        raise ConfigError("fit: no labelled readings")
    mu = x.mean(0)
    sd = x.std(0)
    const = sd < 1e-9
    sd[const] = 1.0
    z = np.c_[np.ones(len(x)), (x - mu) / sd]
    z[:, 1:][:, const] = 0.0
    w = np.zeros(z.shape[1])
    reg = l2 * np.r_[0.0, np.ones(len(features))]
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        g = z.T @ (p - y) + reg * w
        h = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(tuple(features), tuple(float(v) for v in mu), tuple(float(v) for v in sd),
                       tuple(float(v) for v in w[1:]), float(w[0]), float(threshold), fitted_on,
                       int(len(y)), target_error)


def cross_validated(x: np.ndarray, correct: Sequence[bool] | np.ndarray, *, folds: int = 10,
                    seed: int = 0, repeats: int = 5, **kw: Any) -> np.ndarray:
    """Out-of-fold ``P(right)`` for every row: each fold scored by a model fitted on the
    others (so thresholds chosen on them are not chosen on the rows they judge), averaged
    over ``repeats`` random splits into folds (seeds ``seed``, ``seed + 1``, ...): on a few
    hundred rows one split moves the threshold for a 1% error by more than its width."""
    x = np.asarray(x, np.float64)
    y = np.asarray(correct, bool)
    n = len(y)
    k = max(2, min(folds, n))
    p = np.zeros(n)
    for r in range(max(1, int(repeats))):
        idx = np.random.default_rng(seed + r).permutation(n)
        for f in range(k):
            te = idx[f::k]
            tr = np.setdiff1d(idx, te)
            if len(tr) == 0 or len(te) == 0:
                continue
            p[te] += fit(x[tr], y[tr], **kw).probability(x[te])
    return p / max(1, int(repeats))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a proportion ``k / n``; ``(0, 1)`` for n = 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


@dataclass(frozen=True)
class OperatingPoint:
    """Read / error / reject at one threshold, as fractions of all readings, with 95% Wilson
    intervals; ``n`` readings, ``n_errors`` accepted and wrong."""

    threshold: float
    n: int
    read: float
    error: float
    reject: float
    n_errors: int
    read_interval: tuple[float, float] = (0.0, 1.0)
    error_interval: tuple[float, float] = (0.0, 1.0)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "n": self.n, "read": self.read, "error": self.error,
                "reject": self.reject, "n_errors": self.n_errors,
                "read_interval": list(self.read_interval),
                "error_interval": list(self.error_interval), "warnings": list(self.warnings)}


def operating_point(p: np.ndarray, correct: Sequence[bool] | np.ndarray, threshold: float) -> OperatingPoint:
    """The figures of accepting every reading with ``p >= threshold``."""
    p = np.asarray(p, np.float64)
    c = np.asarray(correct, bool)
    n = len(c)
    acc = p >= threshold
    ok = int((acc & c).sum())
    bad = int((acc & ~c).sum())
    return OperatingPoint(float(threshold), n, ok / n if n else 0.0, bad / n if n else 0.0,
                          1 - (ok + bad) / n if n else 1.0, bad, wilson(ok, n), wilson(bad, n))


def choose_threshold(p: np.ndarray, correct: Sequence[bool] | np.ndarray,
                     target_error: float) -> OperatingPoint:
    """The lowest threshold whose error (accepted and wrong, of all readings) is at most
    ``target_error``: the most reads that target allows on these readings.

    Warns when the set is too small for the target: with no error seen, the 95% upper bound
    of the error rate is still about ``3 / n`` (the rule of three), so ``n`` below
    ``3 / target_error`` cannot show the target is met.
    """
    check_range(target_error, "target_error", 0.0, 1.0)
    p = np.asarray(p, np.float64)
    c = np.asarray(correct, bool)
    n = len(c)
    warnings: list[str] = []
    if n == 0:
        raise ConfigError("choose_threshold: no labelled readings")
    order = np.argsort(-p, kind="stable")
    wrong = np.cumsum(~c[order])
    # thresholds are the distinct p values; a cut between tied values is not possible
    best = 1.0 + 1e-12
    for i in range(n):
        if i + 1 < n and p[order[i + 1]] == p[order[i]]:
            continue
        if wrong[i] <= target_error * n:
            best = float(p[order[i]])
    op = operating_point(p, c, min(best, 1.0))
    if best > 1.0:
        op = OperatingPoint(1.0, n, 0.0, 0.0, 1.0, 0, wilson(0, n), wilson(0, n))
        warnings.append(f"no threshold reaches {target_error:.2%} error on these {n} readings: "
                        "everything is rejected")
    need = math.ceil(3 / target_error) if target_error > 0 else None
    if need is not None and n < need:
        warnings.append(f"{n} labelled readings cannot show an error rate of {target_error:.2%}: "
                        f"with no error seen the 95% upper bound is still about {3 / n:.2%}; "
                        f"label at least {need}")
    elif op.error_interval[1] > 2 * target_error:
        warnings.append(f"the error at this threshold is known only to within "
                        f"{op.error_interval[0]:.2%}-{op.error_interval[1]:.2%} (95%); "
                        "more labelled readings narrow it")
    return OperatingPoint(op.threshold, op.n, op.read, op.error, op.reject, op.n_errors,
                          op.read_interval, op.error_interval, tuple(warnings))


def reliability(p: np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Reliability diagram data: per equal-width bin of ``p``, the mean ``p``, the share
    right and the count (empty bins left out); and the expected calibration error."""
    p = np.asarray(p, np.float64)
    c = np.asarray(correct, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    b = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    mp, acc, cnt = [], [], []
    for k in range(bins):
        m = b == k
        if m.any():
            mp.append(float(p[m].mean()))
            acc.append(float(c[m].mean()))
            cnt.append(int(m.sum()))
    ece = float(sum(n * abs(a - q) for q, a, n in zip(mp, acc, cnt)) / max(1, len(p)))
    return {"mean_probability": mp, "right": acc, "count": cnt, "ece": ece}
