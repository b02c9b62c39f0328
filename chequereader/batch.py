"""Batch runs: many files in, one result row per page out, in input order, whatever fails.

Three ways to run the same batch, with the same rows:

* in-process (``workers=1``);
* local worker processes (``workers=N``): each worker loads the model once (pool initializer),
  OpenCV (and torch, where a torch model is used) one thread per worker, results are written in input order;
* ``dask.distributed`` (``dask="tcp://host:8786"`` or ``"local"``): the reader is cached per
  worker process, keyed by the pipeline config, so the model is loaded once per worker.

Rows are written as they are read: each page's row (each X9 item's; with workers, each
other file's rows) with one ``write`` followed by ``flush`` + ``fsync``, so after a crash (even
SIGKILL) the file holds whole rows plus at most one torn last line. :func:`resume_state` cuts
the torn line and says which files are done and which pages of the last file are written, so
that a resumed run reads only what is missing, without decoding the pages it passes over.

A multi-page TIFF or an X9.37 file is never held whole in memory: pages are decoded and X9
records parsed one at a time (:func:`chequereader.io.images.iter_pages`).

Examples
--------
>>> summary = run_batch(["scans/"], "out.jsonl", PipelineConfig())   # doctest: +SKIP
>>> summary.rows, summary.counts                                       # doctest: +SKIP
(40, {'ok': 28, 'rejected': 2, 'error': 10})
>>> for path, results in iter_batch(["a.png", "b.tif"], PipelineConfig()):  # doctest: +SKIP
...     print(path, [r.amount for r in results])
"""

from __future__ import annotations

import collections
import csv
import errno
import io
import itertools
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import IO, Any

from ._validate import check_in, check_range
from .config import PipelineConfig
from .errors import ConfigError, OutputError
from .types import CSV_COLUMNS, AmountResult

FORMATS = ("jsonl", "csv")

_log = logging.getLogger("chequereader")

# ------------------------------------------------------------------------------------------
# Reading one file (runs in whichever process does the work)

_READERS: dict[PipelineConfig, Any] = {}


def cached_reader(config: PipelineConfig) -> Any:
    """The :class:`~chequereader.pipeline.ChequeReader` of this process for ``config``.

    Loaded on first use and kept, so a worker process loads the model once however many
    files it reads.
    """
    reader = _READERS.get(config)
    if reader is None:
        from .pipeline import ChequeReader

        _log.debug("chequereader: loading the recognizer (weights: %s)", config.weights or "bundled")
        reader = ChequeReader(config)
        _READERS[config] = reader
    return reader


def read_one(path: str, config: PipelineConfig, raise_on_error: bool = False,
             skip: Collection[int] = ()) -> list[AmountResult]:
    """All pages of one input file as results (an unreadable file gives one ``error`` result);
    pages whose index is in ``skip`` are neither read nor returned."""
    reader = cached_reader(config)
    rows = [r for r in reader.iter_file(path, raise_on_error=raise_on_error, skip=skip)
            if r.page not in skip]
    return rows if skip else _nonempty(path, rows)


def _nonempty(path: str, results: list[AmountResult]) -> list[AmountResult]:
    # Every input gets at least one row, whatever a reader returns for it.
    if results:
        return results
    return [AmountResult(status="error", file=path, page=0, error=f"{path}: no pages in file")]


@dataclass(frozen=True)
class _Task:
    """A unit of work for a worker: a whole file (``item`` None), a run of pages of a
    multi-page TIFF (``page`` its first; every other page is in ``skip``) or one X9 item
    parsed by the parent.
    ``n`` is the input's position; ``end`` marks the input's last task; ``rows``, when set,
    are known without reading (an X9 structure error found by the parent)."""

    n: int
    path: str
    skip: frozenset[int] = frozenset()
    item: Any = None
    rows: tuple[AmountResult, ...] | None = None
    end: bool = True
    page: int | None = None


def _run_task(task: _Task, config: PipelineConfig, raise_on_error: bool) -> list[AmountResult]:
    if task.rows is not None:
        return list(task.rows)
    if task.item is None:
        return read_one(task.path, config, raise_on_error, task.skip)
    from .io.x937 import item_page

    reader = cached_reader(config)
    page = item_page(task.item, config.limits, task.path)
    return [reader.read_page_safe(page, raise_on_error=raise_on_error)]


def _is_x9_file(path: str) -> bool:
    from .io.images import X9_EXTENSIONS
    from .io.x937 import is_x937

    try:
        if not os.path.isfile(path):
            return False
    except (OSError, ValueError):  # pragma: no cover
        return False
    return Path(path).suffix.lower() in X9_EXTENSIONS or is_x937(path)


def _tiff_page_count(path: str) -> int:
    """Pages of a TIFF file, read from its directories without decoding any (0: not a
    readable TIFF, or not a file)."""
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return 0
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except Exception:  # the worker reading the whole file says what is wrong with it
        return 0


TIFF_PAGES_PER_TASK = 16


def _file_tasks(n: int, path: str, skip: frozenset[int],
                per_task: int = TIFF_PAGES_PER_TASK) -> Iterator[_Task]:
    """A file as tasks: runs of ``per_task`` pages of a multi-page TIFF, so that several
    workers share it and its first rows come once its first run is read; else the whole
    file. (A worker reaches page k by walking the file's first k page directories, so one
    task per page would cost the square of the page count.)"""
    pages = _tiff_page_count(path)
    if pages < 2:
        yield _Task(n, path, skip)
        return
    todo = [k for k in range(pages) if k not in skip]
    if not todo:
        yield _Task(n, path, skip)
        return
    every = frozenset(range(pages))
    runs = [todo[i:i + per_task] for i in range(0, len(todo), per_task)]
    for run in runs:
        yield _Task(n, path, every - set(run), end=run is runs[-1], page=run[0])


def _x9_tasks(n: int, path: str, skip: frozenset[int], raise_on_error: bool) -> Iterator[_Task]:
    """The items of an X9 file as tasks, parsed record by record in this process (image bytes
    only: the workers decode them); its last task carries the row of a structure error."""
    from .errors import InvalidImageError
    from .io.x937 import iter_x937

    count, last = 0, -1
    rows: list[AmountResult] = []
    try:
        for item in iter_x937(path):
            count += 1
            last = item.index
            if item.index not in skip:
                yield _Task(n, path, item=item, end=False)
        if count == 0:
            raise InvalidImageError(f"{path}: the X9.37 file holds no items")
    except InvalidImageError as exc:
        if raise_on_error:
            raise
        if last + 1 not in skip:
            rows.append(AmountResult(status="error", file=path, page=last + 1, error=str(exc)))
    yield _Task(n, path, rows=tuple(rows), end=True)


def _worker_init(config: PipelineConfig, parent: int | None = None) -> None:
    from .threads import set_threads

    if parent is not None:
        _die_with_parent(parent)
    # N workers on N cores: intra-op threads would only oversubscribe them.
    set_threads(1)
    cached_reader(config)


def _die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` dies, however it dies (SIGKILL included).

    On Linux the kernel sends SIGKILL to the worker when its parent ends
    (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also checks once a second that
    the parent is still this process's parent.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="chequereader-parent-watch", daemon=True).start()


def _dask_read(task: _Task, config: PipelineConfig, raise_on_error: bool) -> list[AmountResult]:
    from .threads import set_threads

    set_threads(1)
    return _run_task(task, config, raise_on_error)


# ------------------------------------------------------------------------------------------
# The generator API


def iter_batch(
    inputs: Sequence[str] | str,
    config: PipelineConfig | None = None,
    *,
    workers: int = 1,
    dask: str | None = None,
    raise_on_error: bool = False,
    skip: Iterable[str] = (),
    reader: Any = None,
    window: int | None = None,
    torch_threads: int | None = None,
    skip_pages: Mapping[str, Collection[int]] | None = None,
) -> Iterator[tuple[str, list[AmountResult]]]:
    """Read every input and yield ``(path, results)`` per input file, in input order.

    Parameters
    ----------
    inputs : sequence of str
        Files, folders (recursive) and globs, expanded by
        :func:`chequereader.io.images.discover`; a missing path stays and gives an error row.
    config : PipelineConfig, optional
        Defaults to ``PipelineConfig()``.
    workers : int
        Local worker processes; 1 reads in this process. The items of an X9.37 file are
        spread over the workers one by one (this process parses the file, the workers decode
        and read the images); other files go to a worker whole.
    dask : str, optional
        A ``dask.distributed`` scheduler address, or ``"local"`` for a ``LocalCluster`` of 2
        single-threaded worker processes. Needs the ``[dask]`` extra.
    raise_on_error : bool
        Re-raise the first error instead of turning it into an ``error`` row (debugging).
    skip : iterable of str
        Paths not to read again (see :func:`open_resume`), compared by :func:`path_key`:
        ``./x/a.png`` skips ``x/a.png``.
    reader : ChequeReader, optional
        Reader used in-process (``workers=1``, no dask), e.g. one built with an explicit model.
    window : int, optional
        Tasks (files, X9 items) in flight at once with workers or dask (default
        ``4 * workers``, at least 8); bounds the memory held by results waiting for an
        earlier, slower one.
    torch_threads : int, optional
        Threads of OpenCV, which runs the recognizer, and of torch where a torch model is in
        use, for an in-process run (workers always use 1). LeNet-5's
        small batches gain nothing from intra-op threads and lose a lot when the cores are
        shared (several times slower on a loaded 2-core machine). None leaves the process
        setting alone.
    skip_pages : mapping of str to collection of int, optional
        Per path (compared by :func:`path_key`), page / X9 item indices not to read again
        (see :func:`resume_state`); they are passed over without being decoded.

    Yields
    ------
    tuple of (str, list of AmountResult)
        The path and its results (one per page, at least one unless pages were skipped).
        The rows of a file are yielded once it is finished; :func:`iter_chunks` yields
        them as they are read.
    """
    rows: list[AmountResult] = []
    for _, path, results, end in iter_chunks(
            inputs, config, workers=workers, dask=dask, raise_on_error=raise_on_error, skip=skip,
            reader=reader, window=window, torch_threads=torch_threads, skip_pages=skip_pages):
        rows.extend(results)
        if end:
            yield path, rows
            rows = []


def iter_chunks(
    inputs: Sequence[str] | str,
    config: PipelineConfig | None = None,
    *,
    workers: int = 1,
    dask: str | None = None,
    raise_on_error: bool = False,
    skip: Iterable[str] = (),
    reader: Any = None,
    window: int | None = None,
    torch_threads: int | None = None,
    skip_pages: Mapping[str, Collection[int]] | None = None,
) -> Iterator[tuple[int, str, list[AmountResult], bool]]:
    """The rows of :func:`iter_batch` as soon as they are read: ``(n, path, rows, end)``.

    ``n`` is the input's position among those read, ``rows`` the rows of one page (in this
    process), of one X9 item or of a whole other file (workers, dask), possibly none;
    ``end`` is True on an input's last chunk. Same parameters as :func:`iter_batch`.
    """
    from .io.images import discover

    cfg = config or PipelineConfig()
    n_workers = int(check_range(workers, "workers", 1, 1024))
    done = {path_key(p) for p in skip}
    pages = {path_key(k): frozenset(v) for k, v in (skip_pages or {}).items()}
    todo = [p for p in discover([inputs] if isinstance(inputs, str) else list(inputs))
            if path_key(p) not in done]
    skips = [pages.get(path_key(p), frozenset()) for p in todo]
    if dask is not None:
        tasks = [_Task(n, p, skips[n]) for n, p in enumerate(todo)]
        for t, res in _iter_dask(tasks, cfg, dask, raise_on_error, window):
            yield t.n, t.path, res, t.end
    elif n_workers > 1:
        def gen() -> Iterator[_Task]:
            for n, p in enumerate(todo):
                if _is_x9_file(p):
                    yield from _x9_tasks(n, p, skips[n], raise_on_error)
                else:
                    yield from _file_tasks(n, p, skips[n])

        for t, res in _iter_pool(gen(), cfg, n_workers, raise_on_error, window):
            yield t.n, t.path, res, t.end
    else:
        if torch_threads is not None:
            from .threads import set_threads

            set_threads(int(check_range(torch_threads, "torch_threads", 1, 1024)))
        rd = reader if reader is not None else cached_reader(cfg)
        for n, p in enumerate(todo):
            sk = skips[n]
            got = False
            for r in rd.iter_file(p, raise_on_error=raise_on_error, skip=sk):
                if r.page in sk:
                    continue
                got = True
                yield n, p, [r], False
            yield n, p, ([] if got or sk else _nonempty(p, [])), True


def _failed(key: Any, what: str, exc: BaseException) -> list[AmountResult]:
    if isinstance(key, _Task):
        path = key.path
        page = key.item.index if key.item is not None else (key.page or 0)
    else:
        path, page = str(key), 0
    return [AmountResult(status="error", file=path, page=page,
                         error=f"{what} ({type(exc).__name__}: {exc})".strip())]


def _known(key: Any) -> Any:
    """A finished future for a task whose rows are known already, else None."""
    from concurrent.futures import Future

    rows = getattr(key, "rows", None)
    if rows is None:
        return None
    fut: Future = Future()
    fut.set_result(list(rows))
    return fut


def _ordered(submit: Any, todo: Iterable[Any], window: int,
             raise_on_error: bool = False) -> Iterator[tuple[Any, list[AmountResult]]]:
    # A FIFO of futures is the reorder buffer: results that finish early wait in their
    # futures until every earlier task has been yielded.
    pending: collections.deque = collections.deque()
    it = iter(todo)

    def sub(q: Any) -> Any:
        return _known(q) or submit(q)

    for p in it:
        pending.append((p, sub(p)))
        if len(pending) >= window:
            break
    while pending:
        p, fut = pending.popleft()
        try:
            res = fut.result()
        except Exception as exc:  # e.g. dask's KilledWorker: the file still gets its row
            if raise_on_error:
                raise
            res = _failed(p, "worker failed while reading this file", exc)
        nxt = next(it, None)
        if nxt is not None:
            pending.append((nxt, sub(nxt)))
        yield p, res


def _pool_results(todo: Iterable[Any], make_pool: Any, fn: Any, window: int,
                  raise_on_error: bool = False) -> Iterator[tuple[Any, list[AmountResult]]]:
    """``(task, fn(task))`` in input order from a process pool that survives worker deaths.

    ``todo`` is consumed lazily, ``window`` tasks ahead of the one yielded. A worker killed
    mid-task (out of memory, a crash in a codec) breaks the whole ``ProcessPoolExecutor``.
    The pool is then rebuilt and the task at the head of the queue is run again on its own:
    if that kills a worker too, it is the culprit and gets an error row; the other tasks in
    flight were bystanders and are simply resubmitted.
    """
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    ex = make_pool()
    try:
        pending: collections.deque = collections.deque()
        it = iter(todo)

        def submit(q: Any) -> Future:
            known = _known(q)
            if known is not None:
                return known
            # The pool may break between two submissions (a worker died on a task in flight):
            # the task then gets a future that says so, and is handled like the others.
            try:
                return ex.submit(fn, q)
            except BrokenProcessPool as exc:
                broken: Future = Future()
                broken.set_exception(exc)
                return broken

        def fill() -> None:
            while len(pending) < window:
                p = next(it, None)
                if p is None:
                    return
                pending.append((p, submit(p)))

        fill()
        while pending:
            p, fut = pending.popleft()
            try:
                res = fut.result()
            except BrokenProcessPool:
                if raise_on_error:
                    raise
                ex.shutdown(wait=False, cancel_futures=True)
                ex = make_pool()
                try:
                    res = ex.submit(fn, p).result()
                except BrokenProcessPool as exc2:
                    ex.shutdown(wait=False, cancel_futures=True)
                    ex = make_pool()
                    res = _failed(p, "a worker process died while reading this file", exc2)
                pending = collections.deque((q, submit(q)) for q, _ in pending)
            fill()
            yield p, res
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _iter_pool(tasks: Iterable[_Task], cfg: PipelineConfig, workers: int, raise_on_error: bool,
               window: int | None) -> Iterator[tuple[_Task, list[AmountResult]]]:
    import functools
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    it = iter(tasks)
    first = next(it, None)
    if first is None:
        return
    # spawn: the parent may hold torch's thread pool, which fork would copy in a locked state.
    ctx = mp.get_context("spawn")
    yield from _pool_results(
        itertools.chain([first], it),
        lambda: ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                    initargs=(cfg, os.getpid())),
        functools.partial(_run_task, config=cfg, raise_on_error=raise_on_error),
        window or max(8, 4 * workers),
        raise_on_error,
    )


def dask_client(address: str) -> Any:
    """A ``distributed.Client`` for ``address`` (``"local"``: a 2-process LocalCluster)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--dask needs dask.distributed: pip install 'chequereader[dask]'"
        ) from None
    if address == "local":
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                               dashboard_address=None)
        return Client(cluster)
    return Client(address)


def _iter_dask(todo: list[_Task], cfg: PipelineConfig, address: str, raise_on_error: bool,
               window: int | None) -> Iterator[tuple[_Task, list[AmountResult]]]:
    if not todo:
        return
    client = dask_client(address)
    try:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        # pure=False: the same path read twice (resume) must really be read again.
        yield from _ordered(lambda t: client.submit(_dask_read, t, cfg, raise_on_error, pure=False),
                            todo, window or max(8, 4 * n), raise_on_error)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if address == "local" and cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------
# Output: rows, formats, resume


def format_for(path: str | os.PathLike | None, fmt: str | None = None) -> str:
    """``fmt`` if given, else ``csv`` for a ``.csv`` path, else ``jsonl``."""
    if fmt is not None:
        return check_in(fmt, FORMATS, "format")
    if path is not None and str(path).lower().endswith(".csv"):
        return "csv"
    return "jsonl"


def path_key(path: str) -> str:
    """The key that says two spellings of a path name the same input (``./x/a.png`` and
    ``x/a.png``): absolute, normalised, case-folded where the OS folds case. Resume compares
    these, relative paths against the current folder."""
    return os.path.normcase(os.path.abspath(path))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_line(row: dict[str, Any]) -> str:
    # A file name whose bytes are not UTF-8 reaches Python with lone surrogates
    # (surrogateescape). Written as JSON \u escapes the line stays valid UTF-8, and json.loads
    # gives back the same str, which os.fsencode turns back into the exact bytes.
    text = json.dumps(row, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def _csv_cell(v: Any) -> Any:
    # One flat cell per key: nested values (lists, objects) and booleans as their JSON text.
    if v is None:
        return ""
    if isinstance(v, (bool, list, tuple, dict)):
        return json.dumps(v, ensure_ascii=False)
    return v


def encode_rows(results: Sequence[AmountResult], fmt: str) -> str:
    """The text of ``results`` in ``fmt`` (``jsonl``: docs/design.md section 6 rows, one line each;
    ``csv``: the same keys as columns (:data:`~chequereader.types.CSV_COLUMNS`), nested
    values as JSON text, no header, one record each, cells quoted as RFC 4180 says, so a
    newline inside a name or message stays in its quoted cell). Lone surrogates (file names that are not UTF-8) are ``\\u`` escapes in JSON; CSV
    keeps them, to be written back as their original bytes (see :class:`RowWriter`)."""
    if fmt == "jsonl":
        return "".join(_json_line(r.to_row()) for r in results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in results:
        row = r.to_row()
        w.writerow([_csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def _records(data: bytes, fmt: str) -> list[tuple[bytes, int]]:
    """Each complete record of an output as ``(bytes without its newline, end offset)``.

    A JSON line never holds a raw newline. A CSV record ends at a newline outside quotes: a
    quoted cell may hold newlines, and its quotes are doubled inside it, so an odd count of
    ``"`` so far means the newline belongs to a cell.
    """
    out: list[tuple[bytes, int]] = []
    start = pos = quotes = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return out
        if fmt == "csv":
            quotes += data.count(b'"', pos, nl)
            if quotes % 2:
                pos = nl + 1
                continue
        out.append((data[start:nl], nl + 1))
        start = pos = nl + 1
        quotes = 0


def _row_key(line: str, fmt: str) -> tuple[str, int] | None:
    """``(file, page)`` of a complete record, None when it does not parse."""
    try:
        if fmt == "jsonl":
            obj = json.loads(line)
            if not (isinstance(obj, dict) and "file" in obj):
                return None
            return str(obj["file"]), int(obj.get("page") or 0)
        rec = next(csv.reader(io.StringIO(line, newline="")))
        return (rec[0], int(rec[1] or 0)) if len(rec) == len(CSV_COLUMNS) else None
    except (ValueError, KeyError, TypeError, StopIteration, csv.Error):
        return None


@dataclass(frozen=True)
class ResumeState:
    """What an output already holds (see :func:`resume_state`).

    ``done``: the input files whose rows are all there, as written; ``partial``: the last
    input file in the output (its rows may stop before its end: a crash in the middle of a
    multi-page TIFF or an X9 file) mapped to the page / X9 item indices already written.
    Compare the files with :func:`path_key`.
    """

    done: set[str]
    partial: dict[str, set[int]]


def _scan_output(path: str | os.PathLike, fmt: str, keep_last: bool) -> ResumeState:
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return ResumeState(set(), {})
    data = p.read_bytes()
    recs = _records(data, fmt)
    texts = [raw.decode("utf-8", errors="surrogateescape") for raw, _ in recs]
    start = 1 if fmt == "csv" and texts and texts[0].split(",")[:1] == ["file"] else 0
    if start and texts[0] != ",".join(CSV_COLUMNS):
        # Rows of other columns would all look torn and be cut: refuse instead.
        raise OutputError(
            f"{p}: its CSV columns ({texts[0][:80]}) are not this version's; resume it with "
            "the version that wrote it, or write a new file")
    keys = [_row_key(t, fmt) for t in texts[start:]]
    # An unparseable record can only be the torn end of the last write; cut from there.
    keep_end = len(keys)
    for i, k in enumerate(keys):
        if k is None:
            keep_end = i
            break
    good: list[tuple[str, int]] = [k for k in keys[:keep_end] if k is not None]
    partial: dict[str, set[int]] = {}
    if good:
        last = good[-1][0]
        i = len(good)
        while i and good[i - 1][0] == last:
            i -= 1
        if keep_last:
            partial[last] = {pg for _, pg in good[i:]}
        else:
            good = good[:i]
        done = {f for f, _ in good[:i]}
    else:
        done = set()
    n = start + len(good)
    cut = recs[n - 1][1] if n else 0
    if cut != len(data):
        with open(p, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
    return ResumeState(done, partial)


def resume_state(path: str | os.PathLike, fmt: str) -> ResumeState:
    """Make ``path`` safe to append to and say what it holds already.

    A torn last record (no newline, or not parseable) is cut off. Rows are written a page (an
    X9 item) at a time, so the rows of the last file in the output are kept: that file is read
    again passing over the pages already there (:attr:`ResumeState.partial`), the files
    before it are complete (:attr:`ResumeState.done`). A CSV header is kept. Missing or
    empty file: nothing done.
    """
    return _scan_output(path, fmt, keep_last=True)


def open_resume(path: str | os.PathLike, fmt: str) -> set[str]:
    """Make ``path`` safe to append to and return the input files it holds whole.

    As :func:`resume_state`, except that the rows of the last file in the output are cut
    too (it is then read again whole). Missing or empty file: nothing done, empty set.
    The files are returned as written; compare them with :func:`path_key`.
    """
    return _scan_output(path, fmt, keep_last=False).done


def _why(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0)
    return f"{exc.strerror or exc}" + (f" [{code}]" if code else "")


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(
            f"{path}: another run is writing this file (it holds its lock); wait for it to "
            "end or choose another output"
        ) from None
    except OSError as exc:  # pragma: no cover - a file system without flock
        _log.warning("chequereader: %s: cannot lock (%s); writing without a lock", path, _why(exc))


class RowWriter:
    """Appends each file's rows with one write, then fsync (crash-safe, see module).

    A file output is locked (``flock``, exclusive, non-blocking) before anything in it is
    touched, so that a second run writing it stops with :class:`OutputError` instead of
    interleaving rows. A failed write (disk full, I/O error) cuts the file back to the end of
    the previous input's rows and raises :class:`OutputError`. With ``append`` the output is
    made ready for resume under the lock (:func:`resume_state`): :attr:`done` holds the
    files it holds whole, :attr:`partial` the last file and its pages already written. Text is written as UTF-8, lone surrogates as the bytes they stand
    for (surrogateescape), so a file name that is not UTF-8 comes back byte for byte.
    """

    def __init__(self, path: str | os.PathLike | None, fmt: str, *, append: bool = False,
                 stream: IO[str] | None = None, fsync: bool = True) -> None:
        self.fmt = check_in(fmt, FORMATS, "format")
        self.path = None if path is None else Path(path)
        self.fsync = fsync
        self.done: set[str] = set()
        self.partial: dict[str, set[int]] = {}
        self.rows = 0
        self._fd: int | None = None
        self._regular = False
        self._size = 0
        if self.path is None:
            self._fh: Any = stream if stream is not None else sys.stdout
            new = True
        else:
            self._open(self.path, append)
            new = self._size == 0
        if self.fmt == "csv" and new:
            self._write(",".join(CSV_COLUMNS) + "\n")

    def _open(self, p: Path, append: bool) -> None:
        try:
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND, no truncation yet: the file may be another run's, locked below.
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(p, flags, 0o666)
        except OSError as exc:
            raise OutputError(f"{p}: cannot open for writing ({_why(exc)})") from None
        try:
            _lock(fd, p)  # before any truncation: the file may be another run's output
            self._regular = stat.S_ISREG(os.fstat(fd).st_mode)
            if self._regular:
                if append:
                    state = resume_state(p, self.fmt)
                    self.done, self.partial = state.done, state.partial
                else:
                    os.ftruncate(fd, 0)
                self._size = os.fstat(fd).st_size
        except OSError as exc:
            os.close(fd)
            raise OutputError(f"{p}: cannot prepare for writing ({_why(exc)})") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _write(self, text: str) -> None:
        if self._fd is None:
            try:
                self._fh.write(text)
            except UnicodeEncodeError:
                buf = getattr(self._fh, "buffer", None)
                if buf is None:
                    raise
                self._fh.flush()
                buf.write(text.encode("utf-8", "surrogateescape"))
            self._fh.flush()
            return
        encoded = text.encode("utf-8", "surrogateescape")
        data = memoryview(encoded)
        try:
            while data:
                data = data[os.write(self._fd, data):]
            if self.fsync and self._regular:
                os.fsync(self._fd)
        except OSError as exc:
            if self._regular:
                try:  # a part of this input's rows may be on disk: cut them
                    os.ftruncate(self._fd, self._size)
                except OSError:  # pragma: no cover
                    pass
            raise OutputError(
                f"{self.path}: writing failed ({_why(exc)}); stopped, the rows of the inputs "
                f"before are intact ({self.rows} rows written by this run)"
            ) from None
        self._size += len(encoded)

    def write(self, results: Sequence[AmountResult]) -> int:
        """Write results (a page's, an X9 item's or a whole file's) with one write; returns
        the number of rows written."""
        if results:
            self._write(encode_rows(results, self.fmt))
            self.rows += len(results)
        return len(results)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A tqdm bar on a terminal (rate + ok/rejected/error); periodic log lines otherwise.

    Each error row is also logged (file and message), so a long run shows what failed as it
    goes; ``enabled=False`` only counts.
    """

    def __init__(self, total: int, enabled: bool = True, stream: IO[str] | None = None,
                 every_s: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.total = total
        self.counts = {"ok": 0, "rejected": 0, "error": 0}
        self.files = 0
        self.rows = 0
        self.t0 = time.perf_counter()
        self._last = self.t0
        self.every_s = every_s
        self._bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            try:
                cols = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, AttributeError, ValueError):
                cols = 0
            # A pty with no size (some CI runners) would get an empty bar.
            size: dict[str, Any] = {"dynamic_ncols": True} if cols > 0 else {"ncols": 100}
            self._bar = tqdm(total=total, unit="file", file=self.stream, **size)

    def update(self, results: Sequence[AmountResult], end: bool = True) -> None:
        """Count ``results``; ``end``: the input they belong to is finished."""
        if end:
            self.files += 1
        self.rows += len(results)
        for r in results:
            self.counts[r.status] = self.counts.get(r.status, 0) + 1
        if not self.enabled:
            return
        for r in results:
            if r.status == "error":
                # Messages about a whole file begin with its path already; say it once.
                msg = str(r.error)
                if r.file and msg.startswith(f"{r.file}: "):
                    msg = msg[len(r.file) + 2:]
                self._say(f"chequereader: error: {r.file}"
                          + (f" page {r.page}" if r.page else "") + f": {msg}")
        now = time.perf_counter()
        if self._bar is not None:
            if end:
                self._bar.set_postfix(self.counts, refresh=False)
                self._bar.update(1)
            elif now - self._last >= 0.5:  # rows of a long file (X9): show they come
                self._last = now
                self._bar.set_postfix(self.counts | {"rows": self.rows}, refresh=True)
            return
        if now - self._last >= self.every_s:
            self._last = now
            self._log(now)

    def _say(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def _log(self, now: float) -> None:
        dt = max(now - self.t0, 1e-9)
        c = self.counts
        self._say(f"chequereader: {self.files}/{self.total} files, {self.files / dt:.2f} files/s, "
                  f"{self.rows} rows, {self.rows / dt:.2f} rows/s, "
                  f"ok={c['ok']} rejected={c['rejected']} error={c['error']}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self._log(time.perf_counter())


# ------------------------------------------------------------------------------------------
# The whole run


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did: inputs found, skipped (resume), rows written, counts, seconds.

    ``missing`` counts the inputs named that do not exist (each has an error row);
    ``x9_warnings`` the rows whose X9 file disagrees with itself (``x9_warnings`` in the
    row: control counts or totals, images without their check detail record, items out of
    order); ``interrupted`` the signal that stopped the run (0: it ran to its end);
    ``passed_over`` lists what discovery found in folders and did not read (unreadable
    folders, symbolic links to folders, files with other extensions), see
    :class:`~chequereader.io.images.Skipped`.
    """

    inputs: int
    skipped: int
    files: int
    rows: int
    counts: dict[str, int] = dc_field(default_factory=dict)
    seconds: float = 0.0
    out: str | None = None
    missing: int = 0
    passed_over: tuple[Any, ...] = ()
    x9_warnings: int = 0
    interrupted: int = 0

    @property
    def errors(self) -> int:
        return int(self.counts.get("error", 0))

    @property
    def unreadable_folders(self) -> int:
        return sum(1 for s in self.passed_over if s.kind == "unreadable")

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "skipped": self.skipped, "files": self.files,
                "rows": self.rows, "counts": dict(self.counts), "seconds": round(self.seconds, 3),
                "rows_per_s": round(self.rows_per_s, 3), "out": self.out, "missing": self.missing,
                "passed_over": [{"path": x.path, "reason": x.reason, "kind": x.kind}
                                for x in self.passed_over],
                "x9_warnings": self.x9_warnings, "interrupted": self.interrupted}


def _write_chunks(chunks: Any, writer: RowWriter, prog: Progress,
                  stop: _StopFlag) -> tuple[int, int, int]:
    """Write the rows of :func:`iter_chunks`' ``chunks`` as they come, until they end or a stop
    signal comes (then closes them); return the rows written, the files finished and the rows
    with X9 warnings."""
    rows = files = warned = 0
    try:
        for _, _, results, end in chunks:
            rows += writer.write(results)
            if _log.isEnabledFor(logging.DEBUG):
                for r in results:
                    _log.debug("chequereader: %s page %d: %s %s %.3f (%.0f ms)", r.file, r.page,
                               r.status, r.amount, r.confidence, r.timing_ms.get("total", 0.0))
            warned += sum(1 for r in results if r.extra.get("x9_warnings"))
            files += int(end)
            prog.update(results, end)
            if stop.signum:
                break  # the rows read so far are written; workers are stopped below
    finally:
        chunks.close()
        prog.close()
    return rows, files, warned


def run_batch(
    inputs: Sequence[str] | str,
    out_path: str | os.PathLike | None,
    config: PipelineConfig | None = None,
    *,
    workers: int = 1,
    dask: str | None = None,
    resume: bool = False,
    progress: bool = True,
    fmt: str | None = None,
    raise_on_error: bool = False,
    reader: Any = None,
    stream: IO[str] | None = None,
    fsync: bool = True,
    torch_threads: int | None = None,
    stop_signals: Sequence[int] = (),
) -> BatchSummary:
    """Read every input and write one row per page, in input order, to ``out_path``.

    Parameters
    ----------
    inputs : sequence of str
        Files, folders, globs (see :func:`iter_batch`).
    out_path : str or os.PathLike or None
        ``.jsonl`` or ``.csv`` file; None writes to ``stream`` (default stdout).
    config : PipelineConfig, optional
    workers, dask, raise_on_error, reader, torch_threads
        See :func:`iter_batch`.
    resume : bool
        Keep the rows already in ``out_path`` and read only the inputs and pages (X9 items)
        missing there (after cutting a torn last line, see :func:`resume_state`).
    progress : bool
        Progress on stderr (tqdm on a terminal, log lines otherwise).
    fmt : {"jsonl", "csv"}, optional
        Default from ``out_path``'s extension (``jsonl`` otherwise).
    fsync : bool
        ``fsync`` after each write of rows (what makes the output crash-safe).
    stop_signals : sequence of int
        Signals (e.g. ``signal.SIGTERM``) that stop the run cleanly: the row being read is
        finished and written, workers are stopped, and the summary's ``interrupted`` says
        which signal came. Only honoured in the main thread.

    Returns
    -------
    BatchSummary

    Raises
    ------
    ConfigError
        ``resume`` without ``out_path``, a bad format or worker count, dask missing.
    OutputError
        ``out_path`` cannot be opened, is locked by another run, or a write failed (disk
        full...): the rows of the inputs written before stay intact.
    """
    from .io.images import Skipped, discover

    form = format_for(out_path, fmt)
    if resume and out_path is None:
        raise ConfigError("resume needs an output file")
    t0 = time.perf_counter()
    passed_over: list[Skipped] = []
    items = discover([inputs] if isinstance(inputs, str) else list(inputs), skipped=passed_over)
    missing = sum(1 for p in items if not os.path.lexists(p))
    stop = _StopFlag(stop_signals)
    # The writer locks the output and, for resume, cuts it back before anything is read.
    with stop, RowWriter(out_path, form, append=resume, stream=stream, fsync=fsync) as writer:
        done = {path_key(f) for f in writer.done}
        skipped = sum(1 for p in items if path_key(p) in done)
        prog = Progress(len(items) - skipped, enabled=progress)
        _log.debug("chequereader: %d inputs to read (%d already in the output), workers=%d%s",
                  len(items) - skipped, skipped, workers, f", dask={dask}" if dask else "")
        chunks = iter_chunks(items, config, workers=workers, dask=dask,
                             raise_on_error=raise_on_error, skip=done, reader=reader,
                             torch_threads=torch_threads, skip_pages=writer.partial)
        rows, files, warned = _write_chunks(chunks, writer, prog, stop)
    return BatchSummary(inputs=len(items), skipped=skipped, files=files, rows=rows,
                        counts=dict(prog.counts), seconds=time.perf_counter() - t0,
                        out=None if out_path is None else str(out_path), missing=missing,
                        passed_over=tuple(passed_over), x9_warnings=warned,
                        interrupted=stop.signum)


class _StopFlag:
    """While entered, the signals named set :attr:`signum` instead of ending the process, so
    that a batch finishes the row in hand, writes it and stops (main thread only)."""

    def __init__(self, signals: Sequence[int]) -> None:
        self.signals = tuple(signals)
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
