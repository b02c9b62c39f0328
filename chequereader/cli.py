"""Command line: a thin click group; heavy imports happen inside the commands."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import shlex
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .amounts import LOCALES
from .errors import ChequeReaderError


def _command_line(ctx: click.Context) -> str:
    """The command as a user would type it to get the same run (recorded in weight files)."""
    parts = ["chequereader", *ctx.command_path.split()[1:]]
    for p in ctx.command.params:
        v = ctx.params.get(p.name or "")
        if isinstance(p, click.Argument) and v not in (None, ()):
            parts.extend(shlex.quote(str(x)) for x in (v if isinstance(v, tuple) else (v,)))
            continue
        if not isinstance(p, click.Option) or v == p.default or v in (None, (), False):
            continue
        flag = p.opts[0]
        if p.is_flag:
            parts.append(flag if v else (p.secondary_opts or [flag])[0])
        elif isinstance(v, tuple):
            parts.extend(x for item in v for x in (flag, shlex.quote(str(item))))
        else:
            parts.extend((flag, shlex.quote(str(v))))
    return " ".join(parts)


def _fail(msg: str) -> None:
    raise click.ClickException(msg)


TORCH_MISSING = ("this command trains the recognizer and needs PyTorch, which is not installed: "
                 "pip install 'chequereader[train]'")


def _needs_torch(f):
    """Run the command only where torch is installed; else one clear line naming the extra
    (reading needs no torch: only training does)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if importlib.util.find_spec("torch") is None:
            _fail(TORCH_MISSING)
        return f(*args, **kwargs)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="chequereader")
@click.option("-v", "--verbose", count=True, help="Debug messages on stderr too (as a command's -v).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr (as a command's -q).")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Read the courtesy amount on scanned bank cheques (LeCun et al. 1998, Section X)."""
    ctx.obj = {"verbose": verbose, "quiet": quiet}


# The names of chequereader.train.recognizer.DISTORTIONS (that module needs torch, which the
# command line imports only when a command runs).
_DISTORTIONS = ("default", "mild", "elastic")


@main.group()
def train() -> None:
    """Train the recognizer."""


@train.command("recognizer")
@click.option("--data", "data", default="../shared/data", show_default=True,
              type=click.Path(file_okay=False), help="Folder laid out like ../shared/data.")
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Weights file to write.")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=2e-3, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--usps/--no-usps", default=False, show_default=True, help="Add USPS train.")
@click.option("--semeion/--no-semeion", default=False, show_default=True,
              help="Add Semeion (its last --semeion-holdout rows are kept out, for testing).")
@click.option("--semeion-repeat", default=1, show_default=True, type=click.IntRange(1),
              help="Times each Semeion digit is repeated in an epoch.")
@click.option("--semeion-holdout", default=0.25, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--symbols-per-class", default=4000, show_default=True, type=click.IntRange(0))
@click.option("--strokes-per-class", default=0, show_default=True, type=click.IntRange(0),
              help="Procedural pen-stroke digits per class, in styles MNIST lacks (looped 2, open 4...).")
@click.option("--small-digits", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of MNIST digits added again framed small, as `cl` thousands' zeros.")
@click.option("--superscript-digits", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of MNIST digits added again framed as raised small cents.")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0.01, 0.5))
@click.option("--extra", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra framed examples (.npz images/labels, label -1 = rubbish). Repeatable.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), help="Start from these weights.")
@click.option("--continental", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of MNIST 1s/7s added again with a lead-in flag / crossbar.")
@click.option("--distort", "distort_name", default="default", show_default=True,
              type=click.Choice(_DISTORTIONS), help="Distortion preset.")
@click.option("--extra-symbols", default="", show_default=True,
              help="Classes added to the default alphabet (e.g. '₹'); each needs an RBF bitmap.")
@click.option("--rubbish-j", default=20.0, show_default=True, type=float, help="MAP criterion constant j.")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt if present.")
@click.option("--threads", default=0, type=click.IntRange(0), help="torch threads (0 = default).")
@click.option("--device", default="cpu", show_default=True,
              help="torch device to train on, e.g. cuda (the weights are written for CPU reading).")
@click.option("--model", "model_name", default="lenet5", show_default=True,
              type=click.Choice(["lenet5", "wide"]),
              help="lenet5: LeNet-5 as published; wide: wider convolutions with the same F6 and "
                   "RBF outputs (same interface, slower). Ignored with --init.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_needs_torch
def train_recognizer_cmd(data: str, out: str, epochs: int, batch_size: int, lr: float, seed: int,
                         usps: bool, semeion: bool, semeion_repeat: int, semeion_holdout: float,
                         symbols_per_class: int, strokes_per_class: int, small_digits: float,
                         superscript_digits: float, val_fraction: float,
                         extra: tuple[str, ...], init: str | None, continental: float, distort_name: str, extra_symbols: str, rubbish_j: float, resume: bool, threads: int,
                         device: str, model_name: str, quiet: bool) -> None:
    """Train LeNet-5 on MNIST (+USPS, Semeion) and synthetic symbols, with distortions."""
    from .train.recognizer import DISTORTIONS, TrainConfig, train_recognizer

    cfg = TrainConfig(data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, usps=usps,
                      semeion=semeion, semeion_repeat=semeion_repeat, semeion_holdout=semeion_holdout,
                      symbols_per_class=symbols_per_class, strokes_per_class=strokes_per_class,
                      small_digits=small_digits, superscript_digits=superscript_digits,
                      val_fraction=val_fraction, extra=tuple(extra), init=init, rubbish_j=rubbish_j, threads=threads,
                      continental=continental, distort=DISTORTIONS[distort_name],
                      extra_symbols=extra_symbols, device=device, model=model_name)
    cmd = _command_line(click.get_current_context())
    try:
        res = train_recognizer(cfg, out, resume=resume, progress=not quiet and sys.stderr.isatty(),
                               log=lambda m: click.echo(m, err=True), command=cmd)
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(json.dumps(res["metrics"]))


@train.command("global")
@click.option("--data", "data", default="../shared/data", show_default=True,
              type=click.Path(file_okay=False), help="Folder laid out like ../shared/data.")
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Weights file to write.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False),
              help="Start from these weights (default: the bundled ones).")
@click.option("--fields", "n_fields", default=20000, show_default=True, type=click.IntRange(1),
              help="Synthetic training fields (MNIST-train writers).")
@click.option("--val-fields", default=600, show_default=True, type=click.IntRange(1))
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1))
@click.option("--batch-fields", default=32, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=2e-4, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the writer split, the validation fields and the optimiser.")
@click.option("--data-seed", type=int, help="Seed of the training fields (default: --seed); "
              "a second stage can train on new fields with the same validation writers.")
@click.option("--locales", default="us,cl,in", show_default=True, help="Comma-separated; they take turns.")
@click.option("--char-weight", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Weight of the character-level loss mixed in (0 = fields only).")
@click.option("--extra", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra framed examples for the character loss (as `train recognizer --extra`).")
@click.option("--semeion-repeat", default=0, show_default=True, type=click.IntRange(0),
              help="Character loss: Semeion's training rows this many times (0 = none).")
@click.option("--strokes-per-class", default=0, show_default=True, type=click.IntRange(0),
              help="Character loss: procedural pen-stroke digits per class.")
@click.option("--europe", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of training amounts written with Semeion and stroke digits.")
@click.option("--printed", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of training amounts printed in machine fonts (DejaVu Sans Bold held out).")
@click.option("--cheques", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of training fields that are zones located on whole synthetic cheques "
                   "(scanned as PNG / JPEG / G4; the business layout is left out).")
@click.option("--superscript-digits", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Character loss: share of MNIST digits added again framed as raised small cents.")
@click.option("--touch", default=None, type=click.FloatRange(0, 1),
              help="Chance a handwritten training digit touches or overlaps its left neighbour "
                   "(default: the synthesiser's 0.2).")
@click.option("--small-zeros", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Chance a `cl` training amount writes its trailing zeros small.")
@click.option("--joined", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Chance a training amount is written joined up (cursive ligatures between digits).")
@click.option("--small-digits", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Character loss: share of MNIST digits added again framed small.")
@click.option("--cache", type=click.Path(dir_okay=False),
              help="Keep the training graphs in this .npz (made on first use, reused after).")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt if present.")
@click.option("--threads", default=0, type=click.IntRange(0), help="torch threads (0 = default).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_needs_torch
def train_global_cmd(data: str, out: str, init: str | None, n_fields: int, val_fields: int, epochs: int,
                     batch_fields: int, lr: float, seed: int, data_seed: int | None, locales: str,
                     char_weight: float,
                     extra: tuple[str, ...], semeion_repeat: int, strokes_per_class: int, europe: float,
                     printed: float, cheques: float, superscript_digits: float, touch: float | None, small_zeros: float, small_digits: float, joined: float, cache: str | None, resume: bool, threads: int,
                     quiet: bool) -> None:
    """Global training (paper section VI): fine-tune LeNet-5 through the decoder with the
    discriminative forward criterion on synthetic amount fields."""
    from .synth.amounts import SYNTH_LOCALES
    from .train.global_training import GlobalConfig, train_global

    locs = tuple(x.strip() for x in locales.split(",") if x.strip())
    bad = [x for x in locs if x not in SYNTH_LOCALES or x == "any"]
    if not locs or bad:
        _fail(f"--locales: expected some of us,cl,in, got {locales!r}")
    cfg = GlobalConfig(data=data, init=init, fields=n_fields, val_fields=val_fields, epochs=epochs,
                       batch_fields=batch_fields, lr=lr, seed=seed, data_seed=data_seed, locales=locs,
                       char_weight=char_weight, extra=tuple(extra), threads=threads,
                       semeion_repeat=semeion_repeat, strokes_per_class=strokes_per_class, europe=europe,
                       printed=printed, cheques=cheques, superscript_digits=superscript_digits, touch=touch, small_zeros=small_zeros, small_digits=small_digits, joined=joined)
    cmd = _command_line(click.get_current_context())
    try:
        res = train_global(cfg, out, cache=cache, resume=resume,
                           progress=not quiet and sys.stderr.isatty(),
                           log=lambda m: click.echo(m, err=True), command=cmd)
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(json.dumps(res["metrics"]))


@train.command("average")
@click.argument("weights", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Weights file to write.")
@click.option("--shares", default=None, help="Comma-separated shares, one per file (default: equal).")
@click.option("--data", "data", default=None, type=click.Path(file_okay=False),
              help="Measure MNIST / USPS / Semeion / symbols with this data folder.")
@_needs_torch
def train_average_cmd(weights: tuple[str, ...], out: str, shares: str | None, data: str | None) -> None:
    """Average the parameters of WEIGHTS (files trained from one another) into one file."""
    from .errors import ConfigError
    from .train.average import average_files

    try:
        sh = None if shares is None else [float(x) for x in shares.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{shares!r}: numbers separated by commas", param_hint="--shares") from None
    cmd = _command_line(click.get_current_context())
    try:
        meta = average_files(weights, out, sh, data=data, command=cmd)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(json.dumps(meta.get("metrics", {})))


@train.command("mine")
@click.option("--data", "data", default="../shared/data", show_default=True,
              type=click.Path(file_okay=False), help="Folder laid out like ../shared/data.")
@click.option("--fields", "n_fields", default=6000, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--val-fraction", default=0.1, show_default=True, type=float,
              help="Leave out the same validation writers as `train recognizer --seed`.")
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False))
def train_mine_cmd(data: str, n_fields: int, seed: int, val_fraction: float, out: str) -> None:
    """Mine framed candidates (whole characters and rubbish) from lattices of synthetic
    amount fields written with MNIST-train digits, for `train recognizer --extra`."""
    import numpy as np

    from .train.data import load_digit_npz, writer_split
    from .train.mining import mine

    path = Path(data) / "mnist" / "mnist-train.npz"
    try:
        ds = load_digit_npz(path, split="")
        exclude = None
        if ds.writers is not None:
            _, va = writer_split(ds.writers, val_fraction, seed)
            exclude = np.unique(ds.writers[va])
        res = mine(path, n_fields, seed=seed + 100, exclude_writers=exclude)
    except ChequeReaderError as exc:
        _fail(str(exc))
    np.savez_compressed(out, images=res["images"], labels=res["labels"])
    lab = res["labels"]
    click.echo(json.dumps({"out": out, "candidates": int(len(lab)), "rubbish": int((lab < 0).sum())}))


def _abs_weights(weights: str | None) -> str | None:
    """A weights path made absolute (batch workers may run elsewhere); names kept."""
    import os

    from .models.weights import BUNDLED

    if not weights or weights in BUNDLED:
        return weights
    return os.path.abspath(weights)


def _weights_setting(weights: tuple[str, ...]) -> str | tuple[str, ...] | None:
    """``--weights`` given once, several times (an ensemble: their probabilities averaged)
    or not at all, as the pipeline's ``weights``."""
    paths = tuple(p for p in (_abs_weights(w) for w in weights) if p)
    return None if not paths else paths[0] if len(paths) == 1 else paths


class _WeightsParam(click.ParamType):
    """A weights file that exists, or the name of a bundled one."""

    name = "FILE|NAME"

    def convert(self, value, param, ctx):
        from .models.weights import BUNDLED

        if value in BUNDLED or Path(value).is_file():
            return value
        self.fail(f"{value!r} is neither a file nor a bundled weights name ({', '.join(BUNDLED)})", param, ctx)


_WEIGHTS = _WeightsParam()


@train.command("fields")
@click.argument("labels", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Weights file to write.")
@click.option("--locale", type=click.Choice(["us", "in", "cl"]), default="us", show_default=True,
              help="Amount grammar of the scans.")
@click.option("--field", is_flag=True, help="Inputs are courtesy-amount field crops (default: whole "
              "cheques, the zone that spells the amount is located).")
@click.option("--init", type=_WEIGHTS, default=None,
              help="Start from these weights (a file, or default / latin; default: the locale's bundled file).")
@click.option("--data", "data", default="../shared/data", show_default=True, type=click.Path(file_okay=False),
              help="MNIST for the character loss mixed in (skipped when absent).")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=2e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--batch-fields", default=16, show_default=True, type=click.IntRange(1))
@click.option("--char-weight", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Weight of the character loss on MNIST (0 = your fields only).")
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 0.9),
              help="Share of the rows held out to measure each epoch.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-arc-penalty", default=25.0, show_default=True, type=click.FloatRange(0),
              help="Leave out of a step a field whose label path needs a worse candidate (inf: keep all).")
@click.option("--char-epochs", default=40, show_default=True, type=click.IntRange(0),
              help="Passes of the character stage on your fields' own characters (0: none).")
@click.option("--char-lr", default=2e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--char-distort", default="elastic", show_default=True,
              type=click.Choice(_DISTORTIONS),
              help="Distortions of your characters in the character stage.")
@click.option("--own-char-weight", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Weight of the character loss on your own characters during global training.")
@click.option("--digit-boxes/--no-digit-boxes", default=True, show_default=True,
              help="Also cut your digits by the manifest's digit_boxes column "
                   "(JSON [[digit, x, y, w, h], ...]) where it has one, beside the aligned ones.")
@click.option("--rubbish", default=0.5, show_default=True, type=click.FloatRange(0),
              help="Also teach, as not one character, candidates of your fields that the aligned "
                   "labels say hold two whole digits or a small part of one; at most this share "
                   "of your own characters (0: none).")
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt if present.")
@click.option("--threads", default=0, type=click.IntRange(0), help="torch threads (0 = default).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_needs_torch
def train_fields_cmd(labels: tuple[str, ...], out: str, locale: str, field: bool, init: str | None, data: str,
                     epochs: int, lr: float, batch_fields: int, char_weight: float, val_fraction: float,
                     seed: int, max_arc_penalty: float, char_epochs: int, char_lr: float,
                     char_distort: str, own_char_weight: float, digit_boxes: bool, rubbish: float, resume: bool,
                     threads: int, quiet: bool) -> None:
    """Fine-tune the recognizer on your own labelled scans.

    LABELS: manifests (CSV with file,amount), or X9.37 cash letters, whose items are read
    as whole cheques labelled with their record-25 amounts.

    First a character stage on your fields' own characters, found by aligning each label
    through the field's segmentation graph (and cut by a digit_boxes column where there is one),
    with the candidates the alignment says are not one character (two touching digits, half
    a digit) taught as rubbish. Then global training (paper section
    VI) on the graphs the reader builds from your images; each field's label is every way
    the locale writes its amount. Prints the held-out exact-amount rate per epoch; read with
    the result through --weights.
    """
    from .config import PipelineConfig
    from .train.fields import train_fields

    if init is None:  # the file the reader would read this locale with
        init = (PipelineConfig().weights_cl if locale == "cl" else None) or "default"
    cmd = _command_line(click.get_current_context())
    try:
        res = train_fields(labels, out, locale=locale, field=field, init=_abs_weights(init), data=data,
                           epochs=epochs, lr=lr, batch_fields=batch_fields, char_weight=char_weight,
                           val_fraction=val_fraction, seed=seed, threads=threads,
                           max_arc_penalty=max_arc_penalty, resume=resume, char_epochs=char_epochs,
                           char_lr=char_lr, own_char_weight=own_char_weight, digit_boxes=digit_boxes,
                           rubbish=rubbish, char_distort=char_distort, progress=not quiet and sys.stderr.isatty(),
                           log=lambda m: click.echo(m, err=True), command=cmd)
    except ChequeReaderError as exc:
        _fail(str(exc))
    for f, why in res["skipped"]:
        click.echo(f"skipped {f}: {why}", err=True)
    click.echo(json.dumps({"weights": res["weights"], "fields": res["fields"],
                           "skipped": len(res["skipped"]), "val": res["history"][-1]["val"],
                           "metrics": res["metrics"]}))


@train.command("sdnn")
@click.argument("labels", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Weights file to write (.npz; a .pt beside it for further training).")
@click.option("--data", "data", default="../shared/data", show_default=True, type=click.Path(file_okay=False),
              help="Holds mnist/mnist-train.npz, the digits the composed amounts are drawn from.")
@click.option("--locale", type=click.Choice(["us", "in", "cl"]), default="us", show_default=True,
              help="Amount grammar of the LABELS scans.")
@click.option("--field", is_flag=True, help="LABELS are courtesy-amount field crops (default: whole "
              "cheques, the zone that spells the amount is located).")
@click.option("--init", default=None,
              help="Start from these SDNN weights (a .npz with its .pt, or 'default': the bundled "
                   "ones; default: 'default' when LABELS are given, else from scratch).")
@click.option("--steps", default=None, type=click.IntRange(1),
              help="Training steps  [default: 4000 from scratch, 1500 from --init].")
@click.option("--field-share", default=0.75, show_default=True, type=click.FloatRange(0, 1),
              help="Share of each batch taken from your fields (the rest: composed amounts).")
@click.option("--lr", default=None, type=click.FloatRange(0, min_open=True),
              help="Peak learning rate  [default: 2e-3 from scratch, 5e-4 from --init].")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=0, type=click.IntRange(0), help="torch threads (0 = default).")
@_needs_torch
def train_sdnn_cmd(labels: tuple[str, ...], out: str, data: str, locale: str, field: bool,
                   init: str | None, steps: int | None, field_share: float, lr: float | None,
                   seed: int, threads: int) -> None:
    """Train the second reader, the SDNN (paper section VII), or fine-tune it on your scans.

    Without LABELS: from scratch on amounts composed from MNIST digits (how the bundled
    weights were made). With LABELS (manifests with file,amount, or X9.37 cash letters):
    from --init on your fields mixed with composed amounts. Read with the result through a
    pipeline's [sdnn] weights.
    """
    import numpy as np

    from .sdnn import default_weights_path
    from .train.sdnn import labelled_fields, train_sdnn

    if init is None and labels:
        init = "default"
    if init == "default":
        init = str(default_weights_path())
    mnist = Path(data) / "mnist" / "mnist-train.npz"
    if not mnist.is_file():
        _fail(f"{mnist} not found: train sdnn composes its amounts from MNIST (--data)")
    try:
        fields: list = []
        skipped: list = []
        if labels:
            fields, skipped = labelled_fields(labels, locale, field=field, init=init,
                                              log=lambda m: click.echo(m, err=True))
            if not fields:
                _fail("no usable labelled field in LABELS")
        with np.load(mnist) as d:
            digits = (d["images"], d["labels"], d["writers"] if "writers" in d.files else None)
        res = train_sdnn(out, digits=digits, steps=steps or (1500 if init else 4000), fields=fields,
                         init=init, field_share=field_share, lr=lr, seed=seed, threads=threads or None,
                         metadata={"command": _command_line(click.get_current_context())},
                         log=lambda m: click.echo(m, err=True))
    except ChequeReaderError as exc:
        _fail(str(exc))
    for f, why in skipped:
        click.echo(f"skipped {f}: {why}", err=True)
    click.echo(json.dumps({"weights": res["out"], "fields": res["fields"], "skipped": len(skipped),
                           "steps": res["steps"], "loss": round(res["loss"], 4)}))


@main.command("evaluate-digits")
@click.argument("npz", type=click.Path(exists=True, dir_okay=False))
@click.option("--weights", type=_WEIGHTS, help="A weights file, or a bundled one by name: default, latin.")
@click.option("--split", default=None, help="Key prefix: 'train'/'test' (default: images, else test_*).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_digits(npz: str, weights: str | None, split: str | None, as_json: bool) -> None:
    """Error rate and confusion matrix of the recognizer on a digits .npz file.

    Each image is framed like a training digit and classified among the 10 digit classes."""
    import numpy as np

    from .models.weights import load_numpy_model
    from .train.data import framed_digits, load_digit_npz

    try:
        model = load_numpy_model(weights)
        ds = load_digit_npz(npz, split=split)
    except ChequeReaderError as exc:
        _fail(str(exc))
    X = framed_digits(ds)
    # A digits file is a 10-class task: decide among the digit classes (symbols excluded).
    pred = model.predict(X)[:, :10].argmin(1) if len(X) else np.zeros(0, np.int64)
    err = float((pred != ds.labels).mean()) if len(X) else float("nan")
    conf = np.zeros((10, 10), np.int64)
    for t, p in zip(ds.labels, pred):
        conf[int(t), int(p)] += 1
    res = {
        "file": npz,
        "n": int(len(ds.labels)),
        "error_rate": err,
        "errors": int((pred != ds.labels).sum()),
        "classes": list(model.alphabet.chars[:10]),
        "confusion": conf.tolist(),
    }
    if as_json:
        click.echo(json.dumps(res))
        return
    click.echo(f"{npz}: {res['errors']} errors / {res['n']} = {100 * err:.2f}% error")
    click.echo("true\\pred " + " ".join(f"{c:>5}" for c in model.alphabet.chars[:10]))
    for d in range(10):
        click.echo(f"{d:>9} " + " ".join(f"{v:>5}" for v in conf[d]))


# ------------------------------------------------------------------------------------------
# read / evaluate / inspect / synth (batch runs and evaluation)

# the reader's locales: chequereader.amounts defines them (a light import: no numpy)
_LOCALE_CHOICE = click.Choice(["auto", *LOCALES])


def _pipeline_config(config: str | None, *, locale: str | None = None, field: bool = False,
                     reject_threshold: float | None = None, weights: tuple[str, ...] = ()):
    """The pipeline config from ``--pipeline`` plus the options given (a ConfigError is a usage error)."""
    from .config import load_config
    from .errors import ConfigError

    try:
        return load_config(config, locale=locale, field=True if field else None,
                           reject_threshold=reject_threshold,
                           weights=_weights_setting(weights))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _pipeline_option(what: str = "The pipeline"):
    """``--pipeline NAME_OR_PATH`` (``--config``: the same option, its older name)."""
    from .config import bundled_pipelines

    return click.option(
        "--pipeline", "--config", "config", metavar="NAME_OR_PATH",
        help=f"{what}: a bundled one by name ({', '.join(bundled_pipelines())}) or a pipeline "
             "TOML file (e.g. one `calibrate -o` wrote). Options given beside it override "
             "its settings. --config is another name for it.")


def _pipeline_options(f):
    f = click.option("--weights", type=_WEIGHTS, multiple=True,
                     help="Recognizer weights: a file, or a bundled one by name: default, latin "
                          "(tuned to Latin American handwriting). Given twice or more: the "
                          "recognizers read as one, their probabilities averaged.")(f)
    f = click.option("--reject-threshold", type=click.FloatRange(0.0, 1.0),
                     help="Reject below this confidence; overrides the pipeline's reject_threshold and the "
                          "calibration's threshold (default: the pipeline's reject_threshold if it "
                          "sets one, else the calibration's threshold).")(f)
    f = click.option("--locale", type=_LOCALE_CHOICE,
                     help=f"Amount grammar: {', '.join(LOCALES)}, or auto (the default, or the "
                          "pipeline's): read under any, then under the locale the text shows.")(f)
    f = click.option("--field", is_flag=True, help="Inputs are courtesy-amount field crops.")(f)
    return f


#: ``read`` exit statuses (1 and 2 are click's: a failed run, a usage error).
EXIT_INPUT_ERRORS = 3
EXIT_NO_INPUT = 4
EXIT_MISSING = 5
EXIT_X9_STRUCTURE = 6
#: A run stopped by SIGTERM exits 128 + 15, as a shell reports a process the signal ended.
EXIT_TERMINATED = 128 + 15


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _log_options(f):
    """``-q/--quiet`` and ``-v/--verbose`` on a command (also accepted before the command)."""
    f = click.option("-v", "--verbose", count=True,
                     help="Debug messages on stderr too (what is read, how long it took).")(f)
    f = click.option("-q", "--quiet", is_flag=True,
                     help="Only warnings and errors on stderr: no progress or summary.")(f)
    return f


def _verbosity(quiet: bool, verbose: int) -> tuple[bool, int]:
    """The command's ``(quiet, verbose)`` with the group's (``chequereader -q read ...``) added."""
    obj = click.get_current_context().find_root().obj or {}
    return quiet or bool(obj.get("quiet")), verbose + int(obj.get("verbose", 0))


def _log_level(quiet: bool, verbose: int) -> int:
    """-q: warnings and errors only; default: also the summary (info); -v: also debug lines."""
    if verbose:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


@contextlib.contextmanager
def _logging_on_stderr(level: int = logging.WARNING):
    """The ``chequereader`` logger's messages at ``level`` and above (warnings of folders
    skipped, fonts missing...; info and debug with -v) on stderr while a command runs,
    whatever logging the host process set up (or did not)."""
    log = logging.getLogger("chequereader")
    handler = _EchoHandler(level)
    propagate, old_level = log.propagate, log.level
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
        log.setLevel(old_level)


def _list_file(name: str) -> list[str]:
    """The paths listed in ``name`` (``-``: stdin), one a line, as written (only the line end
    is taken off; empty lines are passed over). Bytes that are not UTF-8 stay the name's bytes
    (surrogateescape), as for names given as arguments."""
    import os

    try:
        if name == "-":
            data = click.get_binary_stream("stdin").read()  # type: ignore[operator]
        else:
            with open(name, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise click.UsageError(f"{name}: cannot read the list of inputs "
                               f"({exc.strerror or exc})") from None
    out = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            out.append(os.fsdecode(line))
    return out


def _expand_inputs(inputs: tuple[str, ...], from_files: tuple[str, ...]) -> list[str]:
    """INPUTS with ``-`` and ``@FILE`` replaced by the paths they list, then --from-file's."""
    out: list[str] = []
    for x in inputs:
        if x == "-":
            out.extend(_list_file("-"))
        elif x.startswith("@") and len(x) > 1:
            out.extend(_list_file(x[1:]))
        else:
            out.append(x)
    for f in from_files:
        out.extend(_list_file(f))
    return out


def _read_exit_status(summary) -> int:
    """The exit status of a finished ``read`` run (see ``read --help``)."""
    if summary.interrupted:
        return 128 + int(summary.interrupted)
    if summary.missing:
        return EXIT_MISSING
    if summary.inputs == 0:
        return EXIT_NO_INPUT
    if summary.errors or summary.unreadable_folders:
        return EXIT_INPUT_ERRORS
    if summary.x9_warnings:
        return EXIT_X9_STRUCTURE
    return 0


def _summary_message(summary) -> str:
    """The one-line summary ``read`` logs of a :class:`~chequereader.batch.BatchSummary`."""
    c = summary.counts
    over = len(summary.passed_over)
    return (f"chequereader: {summary.rows} rows from {summary.files} files "
            f"(ok={c.get('ok', 0)} rejected={c.get('rejected', 0)} error={c.get('error', 0)}"
            f", {summary.skipped} skipped"
            + (f", {over} found in folders and not read" if over else "")
            + (f", {summary.x9_warnings} with X9 structure warnings"
               if summary.x9_warnings else "")
            + f") in {summary.seconds:.1f} s"
            + (f"; stopped by signal {summary.interrupted}" if summary.interrupted else ""))


@main.command("read")
@click.argument("inputs", nargs=-1)
@click.option("--from-file", "from_files", multiple=True, metavar="FILE",
              help="Also read the paths listed in FILE, one a line (- : stdin). Repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="out.jsonl or out.csv; - or none: JSON Lines on stdout.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default from the output's extension.")
@_pipeline_options
@_pipeline_option()
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256), help="Local worker processes.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local", help="Run on dask.distributed.")
@click.option("--resume", is_flag=True, help="Skip the inputs and pages (X9 items) already in --output.")
@click.option("--fail-on-error", is_flag=True, hidden=True,
              help="Kept for old scripts: error rows always give a non-zero exit status now.")
@click.option("--raise-on-error", is_flag=True,
              help="Stop at the first error with its Python traceback (debugging).")
@_log_options
def read_cmd(inputs: tuple[str, ...], from_files: tuple[str, ...], output: str | None,
             fmt: str | None, field: bool,
             locale: str | None, reject_threshold: float | None, weights: tuple[str, ...],
             config: str | None, workers: int, dask_address: str | None, resume: bool,
             fail_on_error: bool, raise_on_error: bool, quiet: bool, verbose: int) -> None:
    """Read the amount on every page of INPUTS (files, folders, globs): one row per page.

    An input - reads a list of paths from stdin, one a line; @FILE (or --from-file FILE)
    reads the list in FILE: for batches too long for a command line, e.g.
    `find scans -name '*.tif' | chequereader read - -o out.jsonl`. Lines are taken as
    written (only the line end is cut; empty lines are passed over). Name a file that
    begins with @ as ./@name.

    A file named is always read and gets at least one row, whatever its extension (one that
    is not an image or X9 file is an error row); so does a path that does not exist. A
    folder is walked recursively for .png .jpg .jpeg .bmp .tif .tiff .x937 .x9 .icl files,
    hidden files and folders left out. Symbolic links to folders inside it are not followed
    (a link loop cannot recur; name the link to read it); they, sub-folders that cannot be
    listed and files with other extensions are named in warnings on stderr and counted in
    the summary.

    A row's amount is empty unless its status is ok: a rejected row's reading is in
    `reading`, `text` and `alternatives` (see the README's Outputs for every key).

    Rows are written as pages (X9 items) are read. --resume keeps the rows written and
    reads only the pages missing; it compares inputs by their absolute path, so ./x/a.png
    and x/a.png are the same input. The output is locked while a run writes it: a second run on the same file
    stops at once with an error.

    \b
    Exit status:
      0  every input was read (ok or rejected)
      1  the run failed: output locked by another run, not writable, disk full...
         (the rows written before stay intact)
      2  usage error
      3  some inputs are error rows, or a sub-folder could not be listed
      4  no input found
      5  a path named does not exist (it has an error row)
      6  an X9 file disagrees with itself: control record counts or totals (70, 90,
         99), images without their check detail record, items out of order; the rows
         concerned list it in x9_warnings (amounts are read as usual, never corrected)
      143  stopped by SIGTERM: the row being read was finished and written, the
         output holds whole rows (resume with --resume)
    The first that applies, in this order: 143, 5, 4, 3, 6.
    """
    from .batch import run_batch
    from .errors import ConfigError

    quiet, verbose = _verbosity(quiet, verbose)
    if not inputs and not from_files:
        raise click.UsageError("no INPUTS: name files, folders or globs, - (a list on stdin), "
                               "@FILE or --from-file FILE")
    paths = _expand_inputs(inputs, from_files)
    if output == "-":
        output = None
    if resume and not output:
        raise click.UsageError("--resume needs -o/--output (a file)")
    if dask_address is not None and workers > 1:
        raise click.UsageError("--dask and --workers are exclusive (dask sizes its own workers)")
    cfg = _pipeline_config(config, locale=locale, field=field, reject_threshold=reject_threshold,
                           weights=weights)
    try:
        with _logging_on_stderr(_log_level(quiet, verbose)):
            summary = run_batch(paths, output, cfg, workers=workers, dask=dask_address,
                                resume=resume, progress=not quiet, fmt=fmt,
                                raise_on_error=raise_on_error, torch_threads=1,
                                stop_signals=(signal.SIGTERM,))
            logging.getLogger("chequereader").info(_summary_message(summary))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except ChequeReaderError as exc:
        if raise_on_error:
            raise  # the traceback of where it failed, as asked
        _fail(str(exc))
    status = _read_exit_status(summary)
    if status:
        sys.exit(status)


@main.command("evaluate")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False))
@_pipeline_options
@_pipeline_option()
@click.option("-o", "--output", "--out", "out", default="evaluation", show_default=True, type=click.Path(file_okay=False),
              help="Folder for metrics.json, curve.png, report.html.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@_log_options
def evaluate_cmd(labels: str, field: bool, locale: str | None, reject_threshold: float | None,
                 weights: tuple[str, ...], config: str | None, out: str, workers: int, quiet: bool,
                 verbose: int) -> None:
    """Read/error/reject rates, error-reject curve and an HTML report on a labels manifest.

    LABELS: a CSV manifest (file,amount), or an X9.37 cash letter whose items' record-25
    amounts are the labels.
    """
    from .evaluate import evaluate_manifest

    cfg = _pipeline_config(config, locale=locale, field=field, reject_threshold=reject_threshold,
                           weights=weights)
    quiet, verbose = _verbosity(quiet, verbose)
    try:
        with _logging_on_stderr(_log_level(quiet, verbose)):
            metrics = evaluate_manifest(labels, cfg, out, workers=workers, progress=not quiet,
                                        torch_threads=1)
    except ChequeReaderError as exc:
        _fail(str(exc))
    keys = ("n", "read_rate", "error_rate", "reject_rate", "exact_match", "char_error_rate")
    click.echo(json.dumps({k: metrics[k] for k in keys} | {"out": out}))


@main.command("calibrate")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Pipeline TOML to write (read/evaluate/inspect it with --pipeline FILE).")
@click.option("--target-error", default=0.01, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Most accepted-and-wrong readings allowed, as a share of all readings.")
@click.option("--folds", default=10, show_default=True, type=click.IntRange(2, 100),
              help="Cross-validation folds for the figures and the threshold.")
@_pipeline_options
@_pipeline_option("The pipeline to start from (its settings are kept)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@_log_options
def calibrate_cmd(labels: str, output: str, target_error: float, folds: int, field: bool,
                  locale: str | None, reject_threshold: float | None, weights: tuple[str, ...],
                  config: str | None, workers: int, quiet: bool, verbose: int) -> None:
    """Fit the confidence model and the reject threshold on labelled scans.

    LABELS: a CSV manifest (file,amount) or a labelled X9.37 file, as for evaluate. The
    scans are read, a model of the probability that each reading is right is fitted on what
    the reader saw (decoder confidence, margins, character penalties, how each character
    stands small distortions, quality flags), and the threshold is chosen for
    --target-error. The figures printed are cross-validated (each reading judged by a model
    that did not see it), with 95% intervals; the pipeline file holds the model fitted on all.
    """
    from .errors import ConfigError
    from .evaluate import calibrate_manifest, pipeline_toml

    if reject_threshold is not None:
        raise click.UsageError("calibrate chooses the threshold: --reject-threshold does not apply")
    cfg = _pipeline_config(config, locale=locale, field=field, weights=weights)
    quiet, verbose = _verbosity(quiet, verbose)
    try:
        with _logging_on_stderr(_log_level(quiet, verbose)):
            rep = calibrate_manifest(labels, cfg, target_error=target_error, folds=folds,
                                     workers=workers, progress=not quiet, torch_threads=1)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except ChequeReaderError as exc:
        _fail(str(exc))
    cv = rep.cross_validated
    header = [f"written by: {_command_line(click.get_current_context())}",
              f"fitted on {rep.n} labelled scans; cross-validated at threshold {cv.threshold:.4f}: "
              f"read {cv.read:.1%}, error {cv.error:.2%} "
              f"(95% {cv.error_interval[0]:.2%}-{cv.error_interval[1]:.2%}), reject {cv.reject:.1%}"]
    try:
        Path(output).write_text(pipeline_toml(cfg, rep.calibration, header))
    except OSError as exc:
        _fail(f"{output}: cannot write ({exc.strerror or exc})")
    for w in rep.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(json.dumps(rep.as_dict() | {"pipeline": output}))


@main.command("inspect")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Overlay PNG to write.")
@click.option("--page", default=0, show_default=True, type=click.IntRange(0),
              help="Page of a multi-page TIFF or item of an X9.37 file (from 0).")
@_pipeline_options
@_pipeline_option()
@_log_options
def inspect_cmd(image: str, output: str, page: int, field: bool, locale: str | None,
                reject_threshold: float | None, weights: tuple[str, ...], config: str | None,
                quiet: bool, verbose: int) -> None:
    """Draw the field, cuts, best path (characters, penalties) and n-best of IMAGE.

    The page is read as `read` reads it, and the overlay shows the field that reading was
    taken from: the row printed is `read`'s row for that page."""
    from .inspect import inspect_file

    cfg = _pipeline_config(config, locale=locale, field=field, reject_threshold=reject_threshold,
                           weights=weights)
    quiet, verbose = _verbosity(quiet, verbose)
    try:
        with _logging_on_stderr(_log_level(quiet, verbose)):
            res = inspect_file(image, output, cfg, page=page)
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(json.dumps(res.to_row()))


@main.command("synth")
@click.option("--count", required=True, type=click.IntRange(0))
@click.option("-o", "--output", "--out", "out", required=True, type=click.Path(file_okay=False))
@click.option("--locale", default="us", show_default=True, type=click.Choice(["us", "in", "cl", "any"]))
@click.option("--digits", type=click.Path(exists=True, dir_okay=False), help="Digits .npz (default: fonts/strokes).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--formats", default="png", show_default=True, help="Comma list of png,jpg,tif.")
@click.option("--x9", is_flag=True, help="Also write cheques.x937 (labels.csv then gives each "
              "cheque's X9 item sequence number).")
@_log_options
def synth_cmd(count: int, out: str, locale: str, digits: str | None, seed: int, formats: str,
              x9: bool, quiet: bool, verbose: int) -> None:
    """Write COUNT synthetic cheques and labels.csv into OUT.

    Progress on stderr unless --quiet. Without --digits the digits come from the Debian
    handwriting fonts; when none is installed a warning says so and pen strokes are used."""
    from .errors import ConfigError
    from .synth import generate

    fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = [f for f in fmts if f not in ("png", "jpg", "tif")]
    if bad or not fmts:
        raise click.BadParameter(f"{formats!r}: use a comma list of png, jpg, tif", param_hint="--formats")
    quiet, verbose = _verbosity(quiet, verbose)
    try:
        with _logging_on_stderr(_log_level(quiet, verbose)):
            labels = generate(count, out, locale=locale, digits=digits, seed=seed, formats=fmts,
                              x9=x9, progress=not quiet)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except ChequeReaderError as exc:
        _fail(str(exc))
    click.echo(str(labels))


if __name__ == "__main__":  # pragma: no cover
    main()
