"""The reader: composes the stages of docs/design.md section 2. No stage logic lives here.

file --io--> pages --quality--> flags
                 `--locate--> fields --clean--> --segment--> --lattice--> --LeNet-5--> --decode-->
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import calibration as calibration_stage
from . import clean as clean_stage
from . import decode as decode_stage
from . import lattice as lattice_stage
from . import locate as locate_stage
from . import quality as quality_stage
from . import recognize as recognize_stage
from . import script as script_stage
from . import sdnn as sdnn_stage
from . import segment as segment_stage
from ._validate import check_image, check_in
from .amounts import AmountPrior, amount_prior, amounts_equal, locale_hint
from .config import LOCALES, READ_LOCALES, PipelineConfig
from .errors import ChequeReaderError, InvalidImageError
from .grammar import get_grammar
from .io.images import iter_pages
from .models.weights import load_numpy_model
from .threads import set_threads
from .types import AmountResult, BBox, Character, CleanField, Page, Segmentation, SegmentationGraph


@dataclass(frozen=True)
class FieldTrace:
    """Everything computed for one field (for ``inspect`` and failure analysis)."""

    clean: CleanField
    segmentation: Segmentation
    graph: SegmentationGraph
    penalties: np.ndarray
    decoding: decode_stage.Decoded
    locale: str = "any"  # the locale the field was read in (resolved from "auto")
    # the script check of the clean field (None when config.script is off)
    script: script_stage.ScriptResult | None = None
    # the second reader's output on the clean field (None until :meth:`ChequeReader.rescored`,
    # or when config.sdnn is off); ``decoding`` then weighs its penalties
    sdnn: sdnn_stage.SDNNReading | None = None


class ChequeReader:
    """Reads courtesy amounts; holds the recognizer so it is loaded once.

    Examples
    --------
    >>> reader = ChequeReader(PipelineConfig(locale="cl", field=True))   # doctest: +SKIP
    >>> reader.read_field(grey_field_image).amount                        # doctest: +SKIP
    '52931'
    """

    def __init__(self, config: PipelineConfig | None = None, model: Any = None) -> None:
        self.config = config or PipelineConfig()
        if self.config.torch_threads:
            # OpenCV's parallel loops on field-size images only wait for a busy core.
            set_threads(self.config.torch_threads)
        self.model = model if model is not None else load_numpy_model(self.config.weights)
        self._tables = {loc: get_grammar(loc).tables(self.model.alphabet) for loc in LOCALES}
        self._settings: tuple[PipelineConfig, dict[str, AmountPrior], Any] | None = None
        # Per-locale bundled weights apply only when no model or weights were named.
        self._per_locale = model is None and self.config.weights is None
        self._models: dict[str, Any] = {}
        self.script = (script_stage.ScriptDetector(self.config.script)
                       if self.config.script.enabled else None)
        self.sdnn = sdnn_stage.FieldSDNN(self.config.sdnn) if self.config.sdnn.enabled else None
        if self.sdnn is None and self.config.calibration == calibration_stage.default_calibration():
            # the bundled calibration of the readings made without the second reader
            self.config = replace(self.config, calibration=calibration_stage.default_calibration(sdnn=False))
        cal = self.config.calibration
        needs = [f for f in cal.features if f in calibration_stage.SDNN_FEATURES] if cal.active else []
        if needs and self.sdnn is None:
            from .errors import ConfigError

            raise ConfigError(f"the calibration uses {needs}, the second reader's evidence, "
                              "but [sdnn] is off: turn it on or fit a calibration without it")

    def tables(self, locale: str) -> Any:
        """The amount grammar of ``locale`` (one of :data:`LOCALES`) as tables over the
        recognizer's alphabet (what :func:`chequereader.decode.decode` takes)."""
        return self._tables[check_in(locale, LOCALES, "locale")]

    def prior(self, locale: str) -> AmountPrior:
        """The amount prior of ``locale`` (one of :data:`LOCALES`) with the pipeline's
        ``[prior]`` changes (what :func:`chequereader.decode.decode` takes)."""
        return self._decoding()[0][check_in(locale, LOCALES, "locale")]

    def _decoding(self) -> tuple[dict[str, AmountPrior], Any]:
        """Each locale's prior, and the decoder's settings with the threshold in force (made
        once per config)."""
        cfg = self.config
        got = self._settings
        if got is None or got[0] is not cfg:
            priors = {loc: amount_prior(loc, cfg.prior) for loc in LOCALES}
            dcfg = replace(cfg.decode, reject_threshold=cfg.threshold)
            got = self._settings = (cfg, priors, dcfg)
        return got[1], got[2]

    def model_for(self, locale: str) -> Any:
        """The recognizer that reads ``locale``: ``config.weights_cl`` for cl when neither a
        model nor ``config.weights`` was given, else :attr:`model`."""
        w = self.config.weights_cl
        if not (self._per_locale and locale == "cl" and w and w != "default"):
            return self.model
        if w not in self._models:
            m = load_numpy_model(w)
            if m.alphabet.string != self.model.alphabet.string:
                from .errors import ModelError

                raise ModelError(f"weights_cl {w!r}: alphabet {m.alphabet.string!r} differs from "
                                 f"the default weights' {self.model.alphabet.string!r}")
            self._models[w] = m
        return self._models[w]

    # ---------------------------------------------------------------- fields
    def trace_field(self, image: np.ndarray, locale: str | None = None,
                    timing: dict[str, float] | None = None) -> FieldTrace:
        """Run clean -> segment -> lattice -> recognize -> decode on one field image.

        ``locale="auto"`` reads the field under ``any``, then again under the locale its
        decoded text shows (:func:`chequereader.grammar.locale_hint`), if any.
        """
        loc = check_in(locale or self.config.locale, READ_LOCALES, "locale")
        if loc != "auto":
            return self._trace(image, loc, timing)
        tr = self._trace(image, "any", timing)
        hint = locale_hint(tr.decoding.text)
        if not hint:
            return tr
        # The grammar is the only difference when the hinted locale cleans, cuts and
        # recognizes the field as `any` did: decode the same lattice again.
        return self._trace(image, hint, timing,
                           reuse=tr if self.field_work(hint) == self.field_work("any") else None)

    def field_work(self, locale: str) -> tuple[Any, ...]:
        """What the stages before the decoder take from ``locale``: the cleaning's punctuation
        and body floors and its stacked-fraction rule, the lattice's cents arcs (both differ
        for ``cl`` only) and the recognizer (:meth:`model_for`). Two locales with the same
        value read a field into the same lattice and penalties; only their grammars differ."""
        c = self.config.clean
        return (clean_stage.punct_floor(c, locale), clean_stage.body_floor(c, locale),
                locale == "cl", id(self.model_for(locale)))

    def _trace(self, image: np.ndarray, loc: str, timing: dict[str, float] | None,
               reuse: FieldTrace | None = None) -> FieldTrace:
        cfg = self.config
        t = timing if timing is not None else {}

        def tick(name: str, t0: float) -> float:
            now = time.perf_counter()
            t[name] = t.get(name, 0.0) + 1000 * (now - t0)
            return now

        t0 = time.perf_counter()
        script = None
        if reuse is not None:  # the field's lattice and penalties under another grammar
            cf, seg, graph, pen = reuse.clean, reuse.segmentation, reuse.graph, reuse.penalties
            script = reuse.script
        else:
            cf = clean_stage.clean_field(image, cfg.clean, loc)
            t0 = tick("clean", t0)
            if self.script is not None:
                script = self.script.detect(cf)
                t0 = tick("script", t0)
            seg = segment_stage.segment(cf, cfg.segment)
            t0 = tick("segment", t0)
            graph = lattice_stage.build_graph(seg, cfg.lattice, loc)
            t0 = tick("lattice", t0)
            model = self.model_for(loc)
            pen = lattice_stage.arc_penalties(
                graph, recognize_stage.penalties(model, graph.images, cfg.recognize),
                model.alphabet.chars)
            t0 = tick("recognize", t0)
        scaled = self._scaled(pen)
        priors, dcfg = self._decoding()
        dec = decode_stage.decode(graph, scaled, self._tables[loc], priors[loc], dcfg)
        tick("decode", t0)
        return FieldTrace(cf, seg, graph, pen, dec, loc, script)

    def _scaled(self, pen: np.ndarray) -> np.ndarray:
        """Arc penalties as the decoder weighs them: divided by ``config.temperature``."""
        t = self.config.temperature
        return pen if t == 1.0 else pen / t  # x / 1.0 == x

    def rescored(self, tr: FieldTrace, timing: dict[str, float] | None = None) -> FieldTrace:
        """``tr`` decoded again with the second reader's opinion (:mod:`chequereader.sdnn`):
        each text weighed also by the SDNN's penalty of its digits, ``config.sdnn.weight``
        times. ``tr`` itself when the SDNN is off, the field holds no reading, or ``tr`` was
        rescored already. The reader rescores the one field it reports (after choosing
        among a page's zones)."""
        if self.sdnn is None or tr.sdnn is not None or tr.decoding.amount is None:
            return tr
        t0 = time.perf_counter()
        got = self.sdnn.read(tr.clean)
        lam = float(self.config.sdnn.weight)

        def extra(texts: Sequence[str]) -> np.ndarray:
            digits = [sdnn_stage.digits_of(t) for t in texts]
            uniq = sorted(set(digits))
            pen = dict(zip(uniq, sdnn_stage.text_penalties(got.log_probs, uniq)))
            return lam * np.array([pen[d] for d in digits])

        scaled = self._scaled(tr.penalties)
        priors, dcfg = self._decoding()
        # the texts the first decoding weighed, weighed again with the SDNN's penalties
        dec = decode_stage.decode(tr.graph, scaled, self._tables[tr.locale], priors[tr.locale], dcfg,
                                  text_penalty=extra, unseen_penalty=lam * got.best_penalty,
                                  searched=tr.decoding.searched, proposal=got.best)
        if timing is not None:
            timing["sdnn"] = timing.get("sdnn", 0.0) + 1000 * (time.perf_counter() - t0)
        return replace(tr, decoding=dec, sdnn=got)

    def evidence(self, tr: FieldTrace, locale: str | None = None, n_quality_flags: int = 0,
                 field_penalty: float = 0.0) -> calibration_stage.Evidence:
        """What the calibration needs of one traced field (the distorted copies of its best
        path's characters are scored only when the calibration uses them)."""
        dec = tr.decoding
        stab = None
        if dec.path is not None and (self.config.calibration.needs_stability or self.config.evidence):
            loc = tr.locale
            arcs = list(dec.path.arcs)
            stab = calibration_stage.stability(self.model_for(loc), tr.graph.images[arcs],
                                               dec.path.classes)
        sd = None
        if tr.sdnn is not None:
            sd = (tr.sdnn.penalty(dec.text) if dec.amount is not None else sdnn_stage.MAX_PENALTY,
                  tr.sdnn.best_penalty)
        return calibration_stage.evidence_of(dec, tr.penalties, stab, n_quality_flags, field_penalty,
                                             sdnn=sd)

    def calibrated(self, tr: FieldTrace, locale: str | None = None, n_quality_flags: int = 0,
                   field_penalty: float = 0.0) -> tuple[str, float, tuple[float, ...]]:
        """``(status, confidence, features)`` of a traced field under the configured
        calibration: the probability that its amount is right, rejected below
        :attr:`PipelineConfig.threshold`; without a calibration, the decoder's own. The
        features (all of :data:`calibration.FEATURES`) are computed when a calibration or
        ``config.evidence`` asks for them, else empty."""
        cfg = self.config
        cal = cfg.calibration
        dec = tr.decoding
        # (a reading only the SDNN makes is never accepted: no confidence either)
        status, conf = ("rejected", 0.0) if dec.proposed else (dec.status, dec.confidence)
        if not (cal.active or cfg.evidence):
            return status, conf, ()
        feats = calibration_stage.field_features(
            self.evidence(tr, locale, n_quality_flags, field_penalty))
        if not cal.active:
            return status, conf, tuple(float(v) for v in feats)
        if dec.amount is None or dec.proposed:
            return "rejected", 0.0, tuple(float(v) for v in feats)
        x = feats[[calibration_stage.FEATURES.index(f) for f in cal.features]]
        p = float(cal.probability(x))
        return ("ok" if p >= cfg.threshold else "rejected"), p, tuple(float(v) for v in feats)

    def _result(self, tr: FieldTrace, offset: tuple[int, int] = (0, 0),
                field_box: BBox | None = None, locale: str | None = None,
                n_quality_flags: int = 0, field_penalty: float = 0.0) -> AmountResult:
        dec = tr.decoding
        chars: list[Character] = []
        if dec.path is not None:
            for a, c in zip(dec.path.arcs, dec.path.classes):
                x, y, w, h = (int(v) for v in tr.graph.boxes[a])
                chars.append(Character(self.model.alphabet.chars[c],
                                       BBox(x + offset[0], y + offset[1], w, h),
                                       float(tr.penalties[a, c])))
        status, confidence, feats = self.calibrated(tr, locale, n_quality_flags, field_penalty)
        extra: dict[str, Any] = {}
        reason = tr.script.reason if tr.script is not None else None
        if reason is None and dec.proposed:
            # Read by the SDNN alone: no path of the segmentation graph spells it.
            reason = "sdnn-only"
        if reason is not None:
            # Written in digits the recognizer has no classes for: its reading is in Latin
            # digits whatever the ink says, so it is never a result. A reading only one of
            # the two readers makes is not accepted either.
            status = "rejected"
            extra["reject_reason"] = reason
        return AmountResult(
            status=status, amount=dec.amount, text=dec.text, confidence=confidence,  # type: ignore[arg-type]
            alternatives=dec.alternatives, field=field_box, characters=tuple(chars), features=feats,
            extra=extra,
        )

    def read_field(self, image: np.ndarray, locale: str | None = None) -> AmountResult:
        """Read an image of the courtesy-amount field alone (grey or colour array)."""
        image = check_image(image, "image", ndim=(2, 3))
        timing: dict[str, float] = {}
        t0 = time.perf_counter()
        tr = self.rescored(self.trace_field(image, locale, timing), timing)
        res = self._result(tr, field_box=BBox(0, 0, int(image.shape[1]), int(image.shape[0])),
                           locale=locale)
        timing["total"] = 1000 * (time.perf_counter() - t0)
        return replace(res, timing_ms=timing)

    # ---------------------------------------------------------------- pages
    def read_page(self, page: Page, locale: str | None = None, field: bool | None = None) -> AmountResult:
        """Read one page: quality flags, then the field (``field=True``) or the located fields."""
        return self.trace_page(page, locale, field)[0]

    def trace_page(self, page: Page, locale: str | None = None,
                   field: bool | None = None) -> tuple[AmountResult, FieldTrace | None]:
        """:meth:`read_page`'s result and the trace of the field it was read from (None when
        no field was decoded). ``inspect`` draws this trace, so what it shows is what
        ``read`` decided."""
        cfg = self.config
        field_mode = cfg.field if field is None else field
        extra: dict[str, Any] = {}
        if "x9_amount" in page.meta:
            extra["x9_amount"] = page.meta.get("x9_amount")
            extra["match"] = None
            for k in ("x9_sequence", "x9_item", "x9_warnings"):
                if k in page.meta:
                    extra[k] = page.meta[k]
        base = AmountResult(status="error", file=page.source, page=page.index, extra=extra)
        if page.meta.get("error"):
            return replace(base, error=str(page.meta["error"])), None
        t0 = time.perf_counter()
        timing: dict[str, float] = {}
        flags: tuple[str, ...] = ()
        if not field_mode:  # the Check 21 tests are about whole cheques, not field crops
            flags = quality_stage.assess(page, cfg.quality).flags
            timing["quality"] = 1000 * (time.perf_counter() - t0)
        if field_mode:
            h, w = page.image.shape[:2]
            tr = self.rescored(self.trace_field(page.image, locale, timing), timing)
            chosen: FieldTrace | None = tr
            res = self._result(tr, field_box=BBox(0, 0, int(w), int(h)), locale=locale)
        else:
            chosen = None
            t1 = time.perf_counter()
            fields = locate_stage.locate_fields(page.image, cfg.locate)  # locate.max_fields
            timing["locate"] = 1000 * (time.perf_counter() - t1)
            res = AmountResult(status="rejected", error=None)
            best_score = -np.inf
            best: tuple[FieldTrace, Any] | None = None
            for f in fields:
                tr = self.trace_field(f.image, locale, timing)
                # Posterior of the amount, discounted by how unlikely the zone is a field.
                # (The posterior alone, without the rubbish factor of the confidence: the
                # factor would trade a poorly written amount for a printed line of the form.)
                post = tr.decoding.posterior
                score = np.log(max(post, 1e-12)) - f.penalty
                if tr.decoding.amount is not None and score > best_score:
                    best_score, best = score, (tr, f)
                elif best is None:
                    best = (tr, f)
                if post >= cfg.decode.reject_threshold:
                    # Candidates come best-located first; a confident read there is kept
                    # without decoding the less likely zones.
                    break
            if best is not None:
                tr, f = best
                tr = chosen = self.rescored(tr, timing)
                t1 = time.perf_counter()
                res = self._result(tr, offset=(f.bbox.x, f.bbox.y), field_box=f.bbox,
                                   locale=locale, n_quality_flags=len(flags),
                                   field_penalty=float(f.penalty))
                timing["calibrate"] = 1000 * (time.perf_counter() - t1)
        timing["total"] = 1000 * (time.perf_counter() - t0)
        extra.update(res.extra)
        if "x9_amount" in extra and res.amount is not None and extra["x9_amount"] is not None:
            agree = bool(amounts_equal(res.amount, extra["x9_amount"]))
            extra["match"] = agree
            # (a reading rejected for its script stays rejected, even if it agrees)
            if cfg.x9_verify and res.status in ("ok", "rejected") and "reject_reason" not in extra:
                verified = agree and res.confidence >= cfg.x9_agreement
                res = replace(res, status="ok" if verified else "rejected")
        return replace(res, file=page.source, page=page.index, quality=flags,
                       timing_ms=timing, extra=extra), chosen

    def iter_file(self, path: str | Path | bytes | bytearray | memoryview, locale: str | None = None, field: bool | None = None,
                  raise_on_error: bool = False, skip: Container[int] = (),
                  source: str | None = None) -> Iterator[AmountResult]:
        """One result per page of ``path`` (a file, or the bytes of one), each page decoded and
        read when the next result is asked for (a multi-page TIFF or an X9 file is never held
        whole in memory); a bad file or page gives an ``error`` result. Pages (X9: items)
        whose index is in ``skip`` are passed over without being decoded (resume).
        ``source``: the name results carry in ``file`` (default: the path; ``"<bytes>"`` for
        bytes)."""
        if source is not None:
            src = source
        elif isinstance(path, (bytes, bytearray, memoryview)):
            src = "<bytes>"
        else:
            src = str(path)
        first = self.config.pages == "first"
        if first and 0 in skip:
            return
        pages = iter_pages(path, limits=self.config.limits, source=src, skip=skip)
        last = -1
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except InvalidImageError as exc:
                if raise_on_error:
                    raise
                # Pages before the bad one were read; the row takes the next page number.
                yield AmountResult(status="error", file=src, page=last + 1, error=str(exc))
                return
            last = page.index
            yield self.read_page_safe(page, locale, field, raise_on_error)
            if first:
                pages.close()  # type: ignore[attr-defined]  # a generator: its file is let go now
                return

    def read_page_safe(self, page: Page, locale: str | None = None, field: bool | None = None,
                       raise_on_error: bool = False) -> AmountResult:
        """:meth:`read_page`, with a failure made the page's ``error`` result."""
        try:
            return self.read_page(page, locale, field)
        except Exception as exc:  # one page's failure must not end the batch
            if raise_on_error:
                raise
            kind = "" if isinstance(exc, ChequeReaderError) else f"internal error ({type(exc).__name__}): "
            return AmountResult(status="error", file=page.source, page=page.index,
                                error=f"{kind}{exc}")

    def read_file(self, path: str | Path | bytes | bytearray | memoryview, **kw: Any) -> list[AmountResult]:
        """:meth:`iter_file` as a list."""
        return list(self.iter_file(path, **kw))


#: The locale of :func:`read_field`, :func:`read_cheque` and the command line when none is
#: given (``PipelineConfig.locale``'s default).
DEFAULT_LOCALE: str = PipelineConfig.locale


@lru_cache(maxsize=4)
def _default_reader(weights: str | None = None) -> ChequeReader:
    return ChequeReader(PipelineConfig(weights=weights))


def read_field(image: Any, locale: str = DEFAULT_LOCALE, weights: str | None = None) -> AmountResult:
    """Read the amount on an image of the courtesy-amount field alone (the model is cached).

    ``image``: a grey or colour NumPy array, or a PIL image. ``locale`` defaults to
    :data:`DEFAULT_LOCALE` (``"auto"``), as for :func:`read_cheque` and the command line.
    """
    return _default_reader(weights).read_field(_as_array(image), locale=locale)


def _as_array(image: Any, grey: bool = False) -> np.ndarray:
    """A NumPy image from an array or a PIL image (a PIL image is made grey as a file's page
    is; ``grey``: a colour array, BGR(A) as OpenCV gives it, is made grey too)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(image, Image.Image):
        from .io.images import pil_to_grey

        return pil_to_grey(image)
    if not isinstance(image, np.ndarray):
        from .errors import InvalidImageError

        raise InvalidImageError(f"image: expected a path, bytes, a NumPy array or a PIL image, "
                                f"got {type(image).__name__}")
    if grey and image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype == np.uint8:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if grey and image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image


def read_cheque(source: Any, locale: str = DEFAULT_LOCALE,
                weights: str | None = None) -> list[AmountResult]:
    """Read whole cheques: one :class:`AmountResult` per page, whatever the source.

    ``source``: a file path (PNG, JPEG, TIFF, X9.37...: one result per page or item), the
    bytes of such a file (results carry ``file="<bytes>"``), or one page as a grey or colour
    (BGR, as OpenCV reads it) NumPy array or a PIL image (a list of one result). A file that cannot be read gives one
    ``error`` result, as in a batch. ``locale`` defaults to :data:`DEFAULT_LOCALE`.

    Examples
    --------
    >>> [r.amount for r in read_cheque("samples/cheque_0000.png")]   # doctest: +SKIP
    ['100.24']
    """
    reader = _default_reader(weights)
    if isinstance(source, (str, Path, bytes, bytearray, memoryview)):
        return reader.read_file(source, locale=locale, field=False) or [
            AmountResult(status="error", file=str(source) if isinstance(source, (str, Path))
                         else "<bytes>", error="no pages in file")]
    img = check_image(_as_array(source, grey=True), "image", ndim=(2,))
    return [reader.read_page(Page(img), locale=locale, field=False)]
