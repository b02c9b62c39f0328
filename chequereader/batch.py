"""Batch runs: many files in, one result row per page out, in input order, whatever fails.

Three ways to run the same batch, with the same rows:

* in-process (``workers=1``);
* local worker processes (``workers=N``): each worker loads the model once (pool initializer),
  OpenCV (and torch, where a torch model is used) one thread per worker, results are written in input order;
* ``dask.distributed`` (``dask="tcp://host:8786"`` or ``"local"``): the reader is cached per
  worker process, keyed by the pipeline config, so the model is loaded once per worker.

Output is resumable: every input file's rows are written with one ``write`` followed by
``flush`` + ``fsync``, so after a crash (even SIGKILL) the file holds whole files' rows plus at
most one torn last line. :func:`open_resume` truncates the torn line and the last file's rows
(the only file whose rows may be incomplete) and returns the files already done.

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
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
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

        reader = ChequeReader(config)
        _READERS[config] = reader
    return reader


def read_one(path: str, config: PipelineConfig, raise_on_error: bool = False) -> list[AmountResult]:
    """All pages of one input file as results (an unreadable file gives one ``error`` result)."""
    reader = cached_reader(config)
    return _nonempty(path, list(reader.iter_file(path, raise_on_error=raise_on_error)))


def _nonempty(path: str, results: list[AmountResult]) -> list[AmountResult]:
    # Every input gets at least one row, whatever a reader returns for it.
    if results:
        return results
    return [AmountResult(status="error", file=path, page=0, error=f"{path}: no pages in file")]


def _worker_init(config: PipelineConfig) -> None:
    from ._threads import set_threads

    # N workers on N cores: intra-op threads would only oversubscribe them.
    set_threads(1)
    cached_reader(config)


def _dask_read(path: str, config: PipelineConfig, raise_on_error: bool) -> list[AmountResult]:
    from ._threads import set_threads

    set_threads(1)
    return read_one(path, config, raise_on_error)


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
        Local worker processes; 1 reads in this process.
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
        Files in flight at once with workers or dask (default ``4 * workers``, at least 8);
        bounds the memory held by results waiting for an earlier, slower file.
    torch_threads : int, optional
        Threads of OpenCV, which runs the recognizer, and of torch where a torch model is in
        use, for an in-process run (workers always use 1). LeNet-5's
        small batches gain nothing from intra-op threads and lose a lot when the cores are
        shared: 24 cheques took 21.5 s with torch's default threads and 3.6 s with 1 on a
        loaded 2-core machine. None leaves the process setting alone.

    Yields
    ------
    tuple of (str, list of AmountResult)
        The path and its results (one per page, at least one).
    """
    from .io.images import discover

    cfg = config or PipelineConfig()
    n_workers = int(check_range(workers, "workers", 1, 1024))
    done = {path_key(p) for p in skip}
    todo = [p for p in discover([inputs] if isinstance(inputs, str) else list(inputs))
            if path_key(p) not in done]
    if dask is not None:
        yield from _iter_dask(todo, cfg, dask, raise_on_error, window)
    elif n_workers > 1:
        yield from _iter_pool(todo, cfg, n_workers, raise_on_error, window)
    else:
        if torch_threads is not None:
            from ._threads import set_threads

            set_threads(int(check_range(torch_threads, "torch_threads", 1, 1024)))
        rd = reader if reader is not None else cached_reader(cfg)
        for p in todo:
            yield p, _nonempty(p, list(rd.iter_file(p, raise_on_error=raise_on_error)))


def _failed(path: str, what: str, exc: BaseException) -> list[AmountResult]:
    return [AmountResult(status="error", file=path, page=0,
                         error=f"{what} ({type(exc).__name__}: {exc})".strip())]


def _ordered(submit: Any, todo: list[str], window: int,
             raise_on_error: bool = False) -> Iterator[tuple[str, list[AmountResult]]]:
    # A FIFO of futures is the reorder buffer: results that finish early wait in their
    # futures until every earlier file has been yielded.
    pending: collections.deque = collections.deque()
    it = iter(todo)
    for p in it:
        pending.append((p, submit(p)))
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
            pending.append((nxt, submit(nxt)))
        yield p, res


def _pool_results(todo: list[str], make_pool: Any, fn: Any, window: int,
                  raise_on_error: bool = False) -> Iterator[tuple[str, list[AmountResult]]]:
    """``(path, fn(path))`` in input order from a process pool that survives worker deaths.

    A worker killed mid-file (out of memory, a crash in a codec) breaks the whole
    ``ProcessPoolExecutor``. The pool is then rebuilt and the file at the head of the queue
    is read again on its own: if that kills a worker too, it is the culprit and gets an error
    row; the other files in flight were bystanders and are simply resubmitted.
    """
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    ex = make_pool()
    try:
        pending: collections.deque = collections.deque()
        it = iter(todo)

        def submit(q: str) -> Future:
            # The pool may break between two submissions (a worker died on a file in flight):
            # the file then gets a future that says so, and is handled like the others.
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


def _iter_pool(todo: list[str], cfg: PipelineConfig, workers: int, raise_on_error: bool,
               window: int | None) -> Iterator[tuple[str, list[AmountResult]]]:
    import functools
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if not todo:
        return
    # spawn: the parent may hold torch's thread pool, which fork would copy in a locked state.
    ctx = mp.get_context("spawn")
    yield from _pool_results(
        todo,
        lambda: ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                    initargs=(cfg,)),
        functools.partial(read_one, config=cfg, raise_on_error=raise_on_error),
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


def _iter_dask(todo: list[str], cfg: PipelineConfig, address: str, raise_on_error: bool,
               window: int | None) -> Iterator[tuple[str, list[AmountResult]]]:
    if not todo:
        return
    client = dask_client(address)
    try:
        n = max(1, len(client.scheduler_info().get("workers", {})))
        # pure=False: the same path read twice (resume) must really be read again.
        yield from _ordered(lambda p: client.submit(_dask_read, p, cfg, raise_on_error, pure=False),
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
    return "" if v is None else v


def encode_rows(results: Sequence[AmountResult], fmt: str) -> str:
    """The text of ``results`` in ``fmt`` (``jsonl``: DESIGN section 6 rows, one line each;
    ``csv``: the :data:`~chequereader.types.CSV_COLUMNS` subset, no header, one record each,
    cells quoted as RFC 4180 says, so a newline inside a name or message stays in its quoted
    cell). Lone surrogates (file names that are not UTF-8) are ``\\u`` escapes in JSON; CSV
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


def _row_file(line: str, fmt: str) -> str | None:
    try:
        if fmt == "jsonl":
            obj = json.loads(line)
            return str(obj["file"]) if isinstance(obj, dict) and "file" in obj else None
        rec = next(csv.reader(io.StringIO(line, newline="")))
        return rec[0] if len(rec) == len(CSV_COLUMNS) else None
    except (ValueError, KeyError, StopIteration, csv.Error):
        return None


def open_resume(path: str | os.PathLike, fmt: str) -> set[str]:
    """Make ``path`` safe to append to and return the input files it already holds.

    A torn last record (no newline, or not parseable) is cut off; so are the rows of the last
    file in the output, since its rows may be the incomplete first part of a multi-page file
    (it is read again). A CSV header is kept. Missing or empty file: nothing done, empty set.
    The files are returned as written; compare them with :func:`path_key`.
    """
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return set()
    data = p.read_bytes()
    recs = _records(data, fmt)
    texts = [raw.decode("utf-8", errors="surrogateescape") for raw, _ in recs]
    start = 1 if fmt == "csv" and texts and texts[0].split(",")[:1] == ["file"] else 0
    files = [_row_file(t, fmt) for t in texts[start:]]
    # An unparseable record can only be the torn end of the last write; cut from there.
    keep_end = len(files)
    for i, f in enumerate(files):
        if f is None:
            keep_end = i
            break
    files = files[:keep_end]
    if files:
        last = files[-1]
        while files and files[-1] == last:
            files.pop()
    n = start + len(files)
    cut = recs[n - 1][1] if n else 0
    if cut != len(data):
        with open(p, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
    return {f for f in files if f is not None}


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
    made ready for resume under the lock (:func:`open_resume`) and :attr:`done` holds the
    files it already holds. Text is written as UTF-8, lone surrogates as the bytes they stand
    for (surrogateescape), so a file name that is not UTF-8 comes back byte for byte.
    """

    def __init__(self, path: str | os.PathLike | None, fmt: str, *, append: bool = False,
                 stream: IO[str] | None = None, fsync: bool = True) -> None:
        self.fmt = check_in(fmt, FORMATS, "format")
        self.path = None if path is None else Path(path)
        self.fsync = fsync
        self.done: set[str] = set()
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
                    self.done = open_resume(p, self.fmt)
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
        """Write one input file's results; returns the number of rows written."""
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

    def update(self, results: Sequence[AmountResult]) -> None:
        self.files += 1
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
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.update(1)
            return
        now = time.perf_counter()
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
                                for x in self.passed_over]}


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
        Keep the rows already in ``out_path`` and read only the inputs missing there (after
        cutting a torn last line and the last file's rows, see :func:`open_resume`).
    progress : bool
        Progress on stderr (tqdm on a terminal, log lines otherwise).
    fmt : {"jsonl", "csv"}, optional
        Default from ``out_path``'s extension (``jsonl`` otherwise).
    fsync : bool
        ``fsync`` after each file's rows (what makes the output crash-safe).

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
    rows = files = skipped = 0
    # The writer locks the output and, for resume, cuts it back before anything is read.
    with RowWriter(out_path, form, append=resume, stream=stream, fsync=fsync) as writer:
        done = {path_key(f) for f in writer.done}
        skipped = sum(1 for p in items if path_key(p) in done)
        prog = Progress(len(items) - skipped, enabled=progress)
        try:
            for _, results in iter_batch(items, config, workers=workers, dask=dask,
                                         raise_on_error=raise_on_error, skip=done, reader=reader,
                                         torch_threads=torch_threads):
                rows += writer.write(results)
                files += 1
                prog.update(results)
        finally:
            prog.close()
    return BatchSummary(inputs=len(items), skipped=skipped, files=files, rows=rows,
                        counts=dict(prog.counts), seconds=time.perf_counter() - t0,
                        out=None if out_path is None else str(out_path), missing=missing,
                        passed_over=tuple(passed_over))
