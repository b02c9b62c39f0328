"""Character-level training of LeNet-5 (docs/design.md section 4; issue: foundation).

Digits from MNIST (plus USPS and Semeion on request), symbols synthesized, optional extra
framed examples (e.g. rubbish candidates mined from lattices, label -1). Random distortions as
in the paper: translation, scaling, squeezing, horizontal shearing (plus small rotation and
stroke-thickness changes). Validation split by MNIST writer. Fixed seeds; per-epoch
train/validation error; a checkpoint after every epoch that ``resume`` continues from.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.alphabet import DEFAULT, Alphabet
from ..models.lenet5 import LeNet5
from ..models.weights import MODELS, load_model, model_class, save_model
from .data import (
    DigitSet,
    continental_variants,
    framed_digits,
    framed_small_digits,
    framed_superscript_digits,
    framed_symbols,
    load_digit_npz,
    mnist_train_split,
)


@dataclass(frozen=True)
class DistortConfig:
    translate: float = 2.0  # pixels
    scale: tuple[float, float] = (0.85, 1.1)
    squeeze: tuple[float, float] = (0.75, 1.3)  # extra x-scale: squeezing / stretching
    shear: float = 0.3
    rotate_deg: float = 8.0
    thickness_p: float = 0.3  # probability of a 3x3 dilation or erosion
    elastic_p: float = 0.0  # probability of an elastic distortion (Simard et al. 2003)
    elastic_alpha: float = 2.5  # displacement scale, pixels
    elastic_sigma: float = 4.0  # smoothing of the displacement field, pixels


DISTORTIONS = {
    "default": DistortConfig(),
    "mild": DistortConfig(translate=1.5, scale=(0.9, 1.1), squeeze=(0.8, 1.35), shear=0.25,
                          rotate_deg=5.0, thickness_p=0.2),
    "elastic": DistortConfig(translate=1.5, scale=(0.9, 1.1), squeeze=(0.8, 1.35), shear=0.25,
                             rotate_deg=5.0, thickness_p=0.2, elastic_p=0.5, elastic_alpha=3.5),
}


@dataclass(frozen=True)
class TrainConfig:
    data: str = "../shared/data"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    usps: bool = False
    semeion: bool = False
    semeion_repeat: int = 1  # Semeion's European digits (flagged 1, crossed 7, open 4) this many times
    semeion_holdout: float = 0.25  # the file's last rows kept out of training, for testing
    symbols_per_class: int = 4000
    strokes_per_class: int = 0  # procedural pen-stroke digits in styles MNIST lacks (train.strokes)
    small_digits: float = 0.0  # share of MNIST digits added again framed small (zeros x3)
    superscript_digits: float = 0.0  # share of MNIST digits added again framed as raised small cents
    val_fraction: float = 0.1
    distort: DistortConfig = field(default_factory=DistortConfig)
    extra: tuple[str, ...] = ()  # npz files of framed `images` (N,32,32) + `labels` (-1 = rubbish)
    init: str | None = None  # start from these weights (fine-tuning)
    rubbish_j: float = 20.0  # the MAP criterion's constant j (rubbish mass exp(-j))
    continental: float = 0.0  # share of MNIST 1s/7s added again with a flag / crossbar
    extra_symbols: str = ""  # classes added to the default alphabet, e.g. "₹"
    threads: int = 0
    device: str = "cpu"  # torch device of the training, e.g. "cuda" (the weights are saved for CPU)
    model: str = "lenet5"  # "lenet5" (as published) or "wide" (models.widenet), when not ``init``


def _set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def distort(x: torch.Tensor, cfg: DistortConfig, gen: torch.Generator) -> torch.Tensor:
    """Random affine distortion (+ thickness change) of framed inputs ``(N, 1, 32, 32)``."""
    n, dev = x.shape[0], x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen, device=dev)

    s = u(*cfg.scale)
    sx = s * u(*cfg.squeeze)
    sy = s
    sh = u(-cfg.shear, cfg.shear)
    th = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    tx = u(-cfg.translate, cfg.translate) / 16.0
    ty = u(-cfg.translate, cfg.translate) / 16.0
    c, si = torch.cos(th), torch.sin(th)
    # Forward map: rotate(shear(scale(p))). affine_grid needs the inverse (output -> input).
    a11, a12 = c * sx, c * sh * sy - si * sy
    a21, a22 = si * sx, si * sh * sy + c * sy
    M = torch.stack([torch.stack([a11, a12], 1), torch.stack([a21, a22], 1)], 1)
    Minv = torch.linalg.inv(M)
    t = -(Minv @ torch.stack([tx, ty], 1)[:, :, None])[:, :, 0]
    theta = torch.cat([Minv, t[:, :, None]], 2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if cfg.elastic_p > 0:
        grid = grid + _elastic_flow(n, x.shape[-1], cfg, gen)
    bg = -0.1
    y = F.grid_sample(x - bg, grid, align_corners=False, padding_mode="zeros") + bg
    if cfg.thickness_p > 0:
        r = torch.rand(n, generator=gen, device=dev)
        dil = F.max_pool2d(y, 3, 1, 1)
        ero = 0.5 * (y - F.max_pool2d(-y, 3, 1, 1))  # half erosion: thin strokes must survive
        y = torch.where((r < cfg.thickness_p / 2)[:, None, None, None], dil, y)
        y = torch.where(((r >= cfg.thickness_p / 2) & (r < cfg.thickness_p))[:, None, None, None], ero, y)
    return y


def _elastic_flow(n: int, size: int, cfg: DistortConfig, gen: torch.Generator) -> torch.Tensor:
    """Smooth random displacement fields ``(n, size, size, 2)`` in grid units (0 for the
    samples not drawn for elastic distortion)."""
    dev = gen.device
    r = int(2 * round(2 * cfg.elastic_sigma) + 1)
    t = torch.arange(r, dtype=torch.float32, device=dev) - r // 2
    k = torch.exp(-(t**2) / (2 * cfg.elastic_sigma**2))
    k = k / k.sum()
    flow = torch.rand(n * 2, 1, size, size, generator=gen, device=dev) * 2 - 1
    flow = F.conv2d(F.pad(flow, (r // 2, r // 2, 0, 0), mode="reflect"), k.view(1, 1, 1, r))
    flow = F.conv2d(F.pad(flow, (0, 0, r // 2, r // 2), mode="reflect"), k.view(1, 1, r, 1))
    flow = flow.view(n, 2, size, size)
    flow = flow / flow.flatten(1).abs().amax(1).clamp_min(1e-6)[:, None, None, None]
    on = (torch.rand(n, generator=gen, device=dev) < cfg.elastic_p).float()[:, None, None, None]
    return (flow * on * cfg.elastic_alpha * 2 / size).permute(0, 2, 3, 1)


def error_rate(
    model: LeNet5, images: np.ndarray, labels: np.ndarray, classes: int | None = None
) -> tuple[float, np.ndarray]:
    """Error rate and predicted classes of ``model`` on framed ``images``.

    ``classes``: decide among the first ``classes`` classes only (10 = the digits: a digits
    test set is a 10-class task, as MNIST figures in the literature are).
    """
    if len(images) == 0:
        return float("nan"), np.zeros(0, np.int64)
    pen = model.predict(images)
    pred = (pen[:, :classes] if classes else pen).argmin(1)
    return float((pred != labels).mean()), pred


def load_sets(cfg: TrainConfig, alphabet: Alphabet, log: Callable[[str], None]) -> dict[str, Any]:
    root = Path(cfg.data)
    _, train, tr, va = mnist_train_split(root, cfg.val_fraction, cfg.seed)
    assert train.writers is not None
    t0 = time.time()
    X = framed_digits(train)
    xs, ys = [X[tr]], [train.labels[tr]]
    xv, yv = [X[va]], [train.labels[va]]
    if cfg.continental > 0:
        cv = continental_variants(
            DigitSet(train.images[tr], train.labels[tr], None), cfg.continental, cfg.seed + 3
        )
        xs.append(framed_digits(cv))
        ys.append(cv.labels)
    if cfg.usps:
        u = load_digit_npz(root / "usps" / "usps.npz", split="train")
        xs.append(framed_digits(u))
        ys.append(u.labels)
    if cfg.semeion:
        s = semeion_split(load_digit_npz(root / "semeion" / "semeion.npz", split=""),
                          cfg.semeion_holdout)[0]
        xs.append(np.repeat(framed_digits(s), cfg.semeion_repeat, axis=0))
        ys.append(np.repeat(s.labels, cfg.semeion_repeat))
    if cfg.small_digits > 0:
        smx, smy = framed_small_digits(DigitSet(train.images[tr], train.labels[tr], None),
                                       cfg.small_digits, cfg.seed + 6)
        xs.append(smx)
        ys.append(smy)
    if cfg.superscript_digits > 0:
        spx, spy = framed_superscript_digits(DigitSet(train.images[tr], train.labels[tr], None),
                                             cfg.superscript_digits, cfg.seed + 7)
        xs.append(spx)
        ys.append(spy)
    if cfg.strokes_per_class > 0:
        from .strokes import stroke_digits

        sd = stroke_digits(cfg.strokes_per_class, cfg.seed + 4)
        xs.append(framed_digits(sd))
        ys.append(sd.labels)
    if cfg.symbols_per_class > 0:
        sx, sy = framed_symbols(alphabet, cfg.symbols_per_class, cfg.seed + 1)
        sxv, syv = framed_symbols(alphabet, max(200, cfg.symbols_per_class // 10), cfg.seed + 2)
        xs.append(sx)
        ys.append(sy)
        xv.append(sxv)
        yv.append(syv)
    for e in cfg.extra:
        d = np.load(e)
        xs.append(d["images"].astype(np.float32))
        ys.append(d["labels"].astype(np.int64))
    log(f"framed training data in {time.time() - t0:.1f}s")
    return {
        "x": np.concatenate(xs), "y": np.concatenate(ys),
        "xv": np.concatenate(xv), "yv": np.concatenate(yv),
        "n_val_writers": int(len(np.unique(train.writers[va]))),
    }


def semeion_split(ds: DigitSet, holdout: float) -> tuple[DigitSet, DigitSet]:
    """(training rows, held-out rows) of Semeion: the file's last ``holdout`` share is held out.

    The file holds its writers' digits in blocks of twenty per class, 0 to 9, in turn, so the
    tail is a whole number of those rounds and no training row comes from it.
    """
    n = len(ds.labels)
    cut = n - int(round(n * holdout / 200)) * 200 if holdout > 0 else n
    cut = max(0, min(n, cut))
    return (DigitSet(ds.images[:cut], ds.labels[:cut], None),
            DigitSet(ds.images[cut:], ds.labels[cut:], None))


def trained_on_semeion(training: Any) -> bool:
    """Whether a weight file's ``training`` metadata, or any stage it names (its earlier
    stages, the files it was averaged from), used Semeion's training rows."""
    if not isinstance(training, dict):
        return False
    if (training.get("config") or {}).get("semeion"):  # train recognizer --semeion
        return True
    if ((training.get("global_config") or {}).get("semeion_repeat") or 0) > 0:  # train global
        return True
    if any("Semeion" in str(d) for d in training.get("data") or []):
        return True
    earlier = [training.get("pretraining")] + [s.get("training") for s in training.get("averaged_from") or []]
    return any(trained_on_semeion(t) for t in earlier)


def evaluate_all(model: LeNet5, data_root: str | Path, seed: int = 12345,
                 semeion_holdout: float | None = None) -> dict[str, Any]:
    """Error rates on MNIST test, USPS test, Semeion and a held-out synthetic symbol set.

    ``semeion_holdout``: when the model was trained on Semeion, its held-out share (see
    :func:`semeion_split`); the Semeion figure is then ``semeion_heldout``, on those rows only.
    """
    root = Path(data_root)
    out: dict[str, Any] = {}
    sem_name = "semeion" if not semeion_holdout else "semeion_heldout"
    for name, path, split in (
        ("mnist_test", root / "mnist" / "mnist-test.npz", ""),
        ("usps_test", root / "usps" / "usps.npz", "test"),
        (sem_name, root / "semeion" / "semeion.npz", ""),
    ):
        if path.exists():
            ds = load_digit_npz(path, split=split)
            if name == "semeion_heldout":
                ds = semeion_split(ds, semeion_holdout or 0.0)[1]
            err, _ = error_rate(model, framed_digits(ds), ds.labels, classes=10)
            err_all, _ = error_rate(model, framed_digits(ds), ds.labels)
            out[name] = {"error_rate": round(err, 5), "error_rate_all_classes": round(err_all, 5),
                         "n": int(len(ds.labels))}
    sx, sy = framed_symbols(model.alphabet, 500, seed)
    if len(sy):
        err, pred = error_rate(model, sx, sy)
        out["symbols_synthetic_heldout"] = {"accuracy": round(1 - err, 5), "n": int(len(sy))}
    return out


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                    gen: torch.Generator, history: list[dict[str, Any]], epoch: int) -> None:
    """Everything a run needs to continue after ``epoch`` (see :func:`load_checkpoint`).

    Only tensors and plain data (dicts, lists, numbers, strings), so that it loads with
    ``torch.load(weights_only=True)``; the history goes through JSON to make sure of it.
    """
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "gen": gen.get_state(), "history": json.loads(json.dumps(history)),
                "epoch": int(epoch)}, path)


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                    gen: torch.Generator) -> tuple[list[dict[str, Any]], int]:
    """Restore a :func:`save_checkpoint` state in place; returns (history, epochs done).

    Read with ``weights_only=True``: a checkpoint is unpickled without running any code it
    names, so a crafted ``OUT.ckpt`` is refused (:class:`ModelError`) instead of executed.
    """
    import pickle

    from ..errors import ModelError

    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path}: cannot resume from this checkpoint: it is not a plain checkpoint of "
            f"tensors and data ({first}); delete it to start again"
        ) from None
    keys = ("model", "opt", "sched", "gen", "history", "epoch")
    if not isinstance(st, dict) or any(k not in st for k in keys):
        raise ModelError(
            f"{path}: cannot resume: not a training checkpoint (needs {', '.join(keys)})"
        )
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["opt"])
    sched.load_state_dict(st["sched"])
    gen.set_state(st["gen"])
    return st["history"], int(st["epoch"])


def training_device(name: str) -> torch.device:
    """The torch device called ``name`` ("cpu", "cuda", "cuda:1"...), checked usable here."""
    from ..errors import ConfigError

    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device: {name!r} is not a torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but torch sees no CUDA device on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: {name!r}: training runs on 'cpu' or 'cuda' devices")
    return dev


def _epoch(model: Any, opt: torch.optim.Optimizer, sched: Any, gen: torch.Generator,
           x: torch.Tensor, y: torch.Tensor, dev: torch.device, cfg: TrainConfig, epoch: int,
           steps_per_epoch: int, progress: bool) -> tuple[float, int, int]:
    """One pass over ``x``, ``y`` in a random order, distorted; returns the summed loss, the
    number of wrong and of seen examples."""
    from tqdm import tqdm

    model.train()
    perm = torch.randperm(len(x), generator=gen, device=dev)
    wrong, seen, tot_loss = 0, 0, 0.0
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False, mininterval=1.0)
    for b in bar:
        idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
        xb = distort(x[idx], cfg.distort, gen)
        yb = y[idx]
        out_y = model(xb)
        loss = model.loss(out_y, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            pen = model.penalties(out_y)
            pred = pen.argmin(1)
            rub = model.rubbish_penalty(out_y) < pen.min(1).values
            pred = torch.where(rub, torch.full_like(pred, -1), pred)
            wrong += int((pred != yb).sum())
            seen += len(yb)
            tot_loss += float(loss) * len(yb)
        if b % 50 == 0:
            bar.set_postfix(loss=f"{tot_loss / seen:.3f}", err=f"{wrong / seen:.4f}")
    return tot_loss, wrong, seen


def _weights_meta(cfg: TrainConfig, command: str | None, history: list[dict[str, Any]],
                  n_val_writers: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """The weight file's metadata: the training data, config, command and history, and the
    metrics."""
    return {
        "training": {
            "data": [d for d, on in (("MNIST train (writer-split)", True), ("USPS train", cfg.usps),
                                      ("Semeion", cfg.semeion)) if on]
            + (["synthetic symbols (procedural + Debian handwriting fonts)"] if cfg.symbols_per_class else [])
            + (["procedural pen-stroke digits (train.strokes)"] if cfg.strokes_per_class else [])
            + (["MNIST digits framed small"] if cfg.small_digits else [])
            + (["MNIST digits framed as raised small cents"] if cfg.superscript_digits else [])
            + [f"extra: {Path(e).name}" for e in cfg.extra],
            "config": json.loads(json.dumps(asdict(cfg))),
            "command": command or " ".join(shlex.quote(a) for a in sys.argv),
            "history": history,
            "validation_writers": n_val_writers,
        },
        "metrics": metrics,
    }


def train_recognizer(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    alphabet: Alphabet = DEFAULT,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Train LeNet-5 per ``cfg``, write weights (with metadata) to ``out``; return the history."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _set_seed(cfg.seed)
    out = Path(out)
    ckpt = out.with_name(out.name + ".ckpt")
    if cfg.extra_symbols:
        alphabet = alphabet.extend(cfg.extra_symbols)
    if cfg.model not in MODELS:  # before the data, like the device
        raise ConfigError(f"model: {cfg.model!r} is not one of {sorted(MODELS)}")
    dev = training_device(cfg.device)  # before the data: a missing GPU is said at once
    sets = load_sets(cfg, alphabet, log)
    x = torch.from_numpy(sets["x"])[:, None].to(dev)
    y = torch.from_numpy(sets["y"]).to(dev)
    model = (load_model(cfg.init, alphabet=alphabet, extend=True) if cfg.init
             else model_class(MODELS[cfg.model])(alphabet, cfg.rubbish_j)).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    start = 0
    if resume and ckpt.exists():
        history, start = load_checkpoint(ckpt, model, opt, sched, gen)
        # A resumed run may ask for more epochs than the interrupted one planned.
        sched.total_steps = cfg.epochs * steps_per_epoch
        log(f"resumed from {ckpt} at epoch {start}")
    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        tot_loss, wrong, seen = _epoch(model, opt, sched, gen, x, y, dev, cfg, epoch,
                                       steps_per_epoch, progress)
        val_err, _ = error_rate(model, sets["xv"], sets["yv"])
        rec = {
            "epoch": epoch + 1,
            "train_loss": round(tot_loss / seen, 5),
            "train_error": round(wrong / seen, 5),
            "val_error": round(val_err, 5),
            "seconds": round(time.time() - t0, 1),
        }
        history.append(rec)
        log(json.dumps(rec))
        save_checkpoint(ckpt, model, opt, sched, gen, history, epoch + 1)
    metrics = evaluate_all(model, cfg.data, semeion_holdout=cfg.semeion_holdout if cfg.semeion else None)
    log(json.dumps(metrics))
    meta = _weights_meta(cfg, command, history, sets["n_val_writers"], metrics)
    save_model(model, out, meta)
    return {"history": history, "metrics": metrics, "weights": str(out)}
