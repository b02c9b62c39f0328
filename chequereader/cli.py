"""Command line: a thin click group; heavy imports happen inside the commands."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from . import __version__
from .errors import ChequeReaderError


def _fail(msg: str) -> None:
    raise click.ClickException(msg)


@click.group()
@click.version_option(__version__, prog_name="chequereader")
def main() -> None:
    """Read the courtesy amount on scanned bank cheques (LeCun et al. 1998, Section X)."""


@main.group()
def train() -> None:
    """Train the recognizer."""


@train.command("recognizer")
@click.option("--data", "data", default="../shared/data", show_default=True,
              type=click.Path(file_okay=False), help="Folder laid out like ../shared/data.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Weights file to write.")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=2e-3, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--usps/--no-usps", default=False, show_default=True, help="Add USPS train.")
@click.option("--semeion/--no-semeion", default=False, show_default=True, help="Add Semeion.")
@click.option("--symbols-per-class", default=4000, show_default=True, type=click.IntRange(0))
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0.01, 0.5))
@click.option("--extra", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra framed examples (.npz images/labels, label -1 = rubbish). Repeatable.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), help="Start from these weights.")
@click.option("--rubbish-j", default=20.0, show_default=True, type=float, help="MAP criterion constant j.")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt if present.")
@click.option("--threads", default=0, type=click.IntRange(0), help="torch threads (0 = default).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_recognizer_cmd(data: str, out: str, epochs: int, batch_size: int, lr: float, seed: int,
                         usps: bool, semeion: bool, symbols_per_class: int, val_fraction: float,
                         extra: tuple[str, ...], init: str | None, rubbish_j: float, resume: bool, threads: int,
                         quiet: bool) -> None:
    """Train LeNet-5 on MNIST (+USPS, Semeion) and synthetic symbols, with distortions."""
    from .train.recognizer import TrainConfig, train_recognizer

    cfg = TrainConfig(data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, usps=usps,
                      semeion=semeion, symbols_per_class=symbols_per_class,
                      val_fraction=val_fraction, extra=tuple(extra), init=init, rubbish_j=rubbish_j, threads=threads)
    cmd = "chequereader " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        res = train_recognizer(cfg, out, resume=resume, progress=not quiet and sys.stderr.isatty(),
                               log=lambda m: click.echo(m, err=True), command=cmd)
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(json.dumps(res["metrics"]))


@main.command("evaluate-digits")
@click.argument("npz", type=click.Path(exists=True, dir_okay=False))
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Default: bundled.")
@click.option("--split", default=None, help="Key prefix: 'train'/'test' (default: images, else test_*).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_digits(npz: str, weights: str | None, split: str | None, as_json: bool) -> None:
    """Error rate and confusion matrix of the recognizer on a digits .npz file."""
    import numpy as np

    from .models.weights import load_model
    from .train.data import framed_digits, load_digit_npz
    from .train.recognizer import error_rate

    try:
        model = load_model(weights)
        ds = load_digit_npz(npz, split=split)
    except ChequeReaderError as exc:
        _fail(str(exc))
    X = framed_digits(ds)
    err, pred = error_rate(model, X, ds.labels)
    n = len(model.alphabet)
    conf = np.zeros((10, n), np.int64)
    for t, p in zip(ds.labels, pred):
        conf[int(t), int(p)] += 1
    res = {
        "file": npz,
        "n": int(len(ds.labels)),
        "error_rate": err,
        "errors": int((pred != ds.labels).sum()),
        "classes": list(model.alphabet.chars),
        "confusion": conf.tolist(),
    }
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{npz}: {res['errors']} errors / {res['n']} = {100 * err:.2f}% error")
    click.echo("true\\pred " + " ".join(f"{c:>5}" for c in model.alphabet.chars))
    for d in range(10):
        click.echo(f"{d:>9} " + " ".join(f"{v:>5}" for v in conf[d]))


if __name__ == "__main__":  # pragma: no cover
    main()
