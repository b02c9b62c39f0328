"""Fuzzing the X9 reader, the image loader and the batch runner with mutated sample files.

A seeded loop mutates ``samples/cheques.x937`` and sample PNG / JPEG / TIFF files (bit flips,
truncations, insertions, overwrites with random bytes, repeated chunks) and checks that:

* the X9 reader and the image loader raise nothing but ``InvalidImageError`` and return
  grey ``uint8`` pages (an X9 item whose image is bad is a page with ``meta["error"]``);
* ``chequereader read`` (one process; with ``--workers 2`` too in longer runs) gives
  exactly one row per page / X9 item of every input (an input
  that cannot be opened, or whose pages stop on a bad one, one ``error`` row more), lets no
  exception out and no internal error into a row;
* nothing hangs: each input has a time limit (``PER_INPUT_S``), enforced in a child
  process that is killed when an input takes longer.

Each target runs ``CHEQUEREADER_FUZZ_SECONDS`` seconds (default 2; set it higher for a
longer run, e.g. ``CHEQUEREADER_FUZZ_SECONDS=600``), from seed ``CHEQUEREADER_FUZZ_SEED``
(default 0). A failing case is written beside the test's temporary files and named in the
failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SEEDS = {"x9": SAMPLES / "cheques.x937", "png": SAMPLES / "cheque_0000.png",
         "jpg": SAMPLES / "cheque_0001.jpg", "tif": SAMPLES / "cheque_0002.tif"}
FUZZ_SECONDS = float(os.environ.get("CHEQUEREADER_FUZZ_SECONDS", "2"))
FUZZ_SEED = int(os.environ.get("CHEQUEREADER_FUZZ_SEED", "0"))
PER_INPUT_S = 20.0

pytestmark = pytest.mark.skipif(not all(p.exists() for p in SEEDS.values()), reason="no samples/")


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One to three random mutations of ``data``, and what they were."""
    b = bytearray(data)
    what = []
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(6))
        n = len(b)
        if n == 0:
            b = bytearray(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes())
            what.append("random")
            continue
        i = int(rng.integers(n))
        if op == 0:  # bit flips, often in the headers, where the structure is
            for _ in range(int(rng.integers(1, 9))):
                j = int(rng.integers(min(n, 512))) if rng.random() < 0.5 else int(rng.integers(n))
                b[j] ^= 1 << int(rng.integers(8))
            what.append("flips")
        elif op == 1:
            del b[i:]
            what.append(f"truncate@{i}")
        elif op == 2:
            ins = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
            b[i:i] = ins
            what.append(f"insert@{i}")
        elif op == 3:
            k = int(rng.integers(1, 64))
            b[i:i + k] = rng.integers(0, 256, k, dtype=np.uint8).tobytes()
            what.append(f"overwrite@{i}")
        elif op == 4:  # a length or count field made large or zero
            j = int(rng.integers(min(n, 256)))
            b[j:j + 4] = bytes(rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                           b"\x7f\xff\xff\xff", b"9999"]))
            what.append(f"field@{j}")
        else:
            k = int(rng.integers(1, 256))
            b[i:i] = b[max(0, i - k):i]
            what.append(f"repeat@{i}")
    return bytes(b), "+".join(what)


# The loader and X9 loops run in a child process: a hang inside a codec (C code, where a
# Python alarm cannot reach) is then ended by killing the child.
_CHILD = r'''
import json, signal, sys, time, traceback
import numpy as np
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
from test_fuzz import mutate
from chequereader.errors import InvalidImageError
from chequereader.io.images import iter_pages
from chequereader.io.x937 import item_page, iter_x937
args = json.loads(sys.argv[3])
seeds = {k: open(v, "rb").read() for k, v in args["seeds"].items()}
rng = np.random.default_rng(args["seed"])

class Hang(Exception):
    pass

def alarm(*a):
    raise Hang()

signal.signal(signal.SIGALRM, alarm)

def check(kind, data):
    if args["target"] == "x9":
        for item in iter_x937(data):
            page = item_page(item)
            assert page.image.ndim == 2 and page.image.dtype == np.uint8
    else:
        for page in iter_pages(data, source="fuzz"):
            assert page.image.ndim == 2 and page.image.dtype == np.uint8, page.image.shape
            assert page.image.size > 0

n = 0
t_end = time.monotonic() + args["seconds"]
kinds = sorted(seeds)
while time.monotonic() < t_end:
    kind = kinds[n % len(kinds)]
    data, what = mutate(seeds[kind], rng)
    print(json.dumps({"case": n, "kind": kind, "what": what}), flush=True)
    signal.setitimer(signal.ITIMER_REAL, args["per_input"])
    try:
        check(kind, data)
    except InvalidImageError:
        pass
    except Hang:
        open(args["out"] + f"/case{n}.{kind}", "wb").write(data)
        print(json.dumps({"fail": n, "why": "over the time limit", "kind": kind}), flush=True)
    except BaseException:
        open(args["out"] + f"/case{n}.{kind}", "wb").write(data)
        print(json.dumps({"fail": n, "why": traceback.format_exc(), "kind": kind}), flush=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    n += 1
print(json.dumps({"done": n}), flush=True)
'''


def _run_child(target: str, seeds: dict[str, Path], tmp_path: Path, seed: int) -> None:
    args = {"target": target, "seeds": {k: str(v) for k, v in seeds.items()}, "seed": seed,
            "seconds": FUZZ_SECONDS, "per_input": PER_INPUT_S, "out": str(tmp_path)}
    p = subprocess.Popen([sys.executable, "-c", _CHILD, str(ROOT), str(Path(__file__).parent),
                          json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = p.communicate(timeout=FUZZ_SECONDS + PER_INPUT_S + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        last = [json.loads(x) for x in out.splitlines() if x.startswith("{")][-1:]
        pytest.fail(f"{target}: hung (killed) on {last}; re-run with CHEQUEREADER_FUZZ_SEED={seed}")
    recs = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert p.returncode == 0, err[-3000:]
    fails = [r for r in recs if "fail" in r]
    assert not fails, (f"{target}: cases kept in {tmp_path}; CHEQUEREADER_FUZZ_SEED={seed}",
                       fails[:3])
    done = [r["done"] for r in recs if "done" in r]
    assert done and done[0] >= 1


def test_fuzz_x9_reader(tmp_path: Path) -> None:
    _run_child("x9", {"x9": SEEDS["x9"]}, tmp_path, FUZZ_SEED)


def test_fuzz_image_loader(tmp_path: Path) -> None:
    _run_child("images", {k: SEEDS[k] for k in ("png", "jpg", "tif", "x9")}, tmp_path,
               FUZZ_SEED + 1)


def _expected_rows(path: Path) -> int:
    """Rows ``read`` owes ``path``: one per page / X9 item it holds, one more for the error
    that stops them (or for a file with no page at all)."""
    from chequereader.errors import InvalidImageError
    from chequereader.io.images import iter_pages

    n = 0
    try:
        for _ in iter_pages(str(path), source=str(path)):
            n += 1
    except InvalidImageError:
        return n + 1
    return max(n, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_fuzz_batch_runner(tmp_path: Path, workers: int) -> None:
    if workers > 1 and FUZZ_SECONDS < 10:
        pytest.skip("worker processes (X9 items spread over them) in longer runs only")
    rng = np.random.default_rng(FUZZ_SEED + 2)
    d = tmp_path / "in"
    d.mkdir()
    count = max(8, int(4 * FUZZ_SECONDS))
    kinds = sorted(SEEDS)
    inputs = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        data, _ = mutate(SEEDS[kind].read_bytes(), rng)
        p = d / f"m{i:04d}.{'x937' if kind == 'x9' else kind}"
        p.write_bytes(data)
        inputs.append(p)
    # Wrong extensions too: the content decides.
    (d / "m_png_named.tif").write_bytes(mutate(SEEDS["png"].read_bytes(), rng)[0])
    inputs.append(d / "m_png_named.tif")
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "chequereader", "read", *map(str, inputs), "-o", str(out), "-q",
           "--workers", str(workers)]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # The per-input limit: the output must grow at least every PER_INPUT_S seconds (after the
    # model is loaded).
    last, seen = time.monotonic() + 30, 0
    while p.poll() is None:
        time.sleep(0.2)
        n = out.read_bytes().count(b"\n") if out.exists() else 0
        if n > seen:
            seen, last = n, time.monotonic()
        elif time.monotonic() - last > PER_INPUT_S:
            p.kill()
            p.communicate()
            pytest.fail(f"batch: no row for {PER_INPUT_S} s after row {seen} (kept in {d})")
    _, err = p.communicate()
    assert p.returncode in (0, 3, 6), err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    by_file: dict[str, list[int]] = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r["page"])
        assert not (r["error"] or "").startswith("internal error"), r
        assert r["status"] in ("ok", "rejected", "error")
        if r["status"] != "ok":
            assert r["amount"] is None
    assert list(by_file) == [str(x) for x in inputs]  # every input, in input order
    for x in inputs:
        pages = by_file[str(x)]
        assert pages == list(range(len(pages))), (x, pages)
        assert len(pages) == _expected_rows(x), (x, pages)
