"""Weight averaging of LeNet-5 files trained from one another (issue 3).

Two weight files on one fine-tuning path (the bundled weights and a later global-training
stage, say) sit in one basin of the loss, so their weighted mean is a working model too, often
better on data neither was tuned for (stochastic weight averaging, Izmailov et al. 2018).
Here it trades between a stage tuned towards European handwriting and its MNIST-tuned
parent. The RBF output prototypes are fixed, so they must agree; everything else is averaged.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.lenet5 import LeNet5
from ..models.weights import load_model, read_metadata, save_model


def average_weights(paths: Sequence[str | Path], shares: Sequence[float] | None = None) -> LeNet5:
    """The weighted mean of the parameters of the LeNet-5 files ``paths`` (equal shares by
    default). All must have the same alphabet; ``shares`` need not sum to 1."""
    if not paths:
        raise ConfigError("average: give at least one weights file")
    shares = [1.0] * len(paths) if shares is None else [float(s) for s in shares]
    if len(shares) != len(paths) or any(s < 0 for s in shares) or sum(shares) <= 0:
        raise ConfigError(f"average: {len(paths)} files need as many shares >= 0 summing > 0, got {shares}")
    models = [load_model(p) for p in paths]
    alpha = models[0].alphabet.string
    for p, m in zip(paths, models):
        if m.alphabet.string != alpha:
            raise ConfigError(f"average: {p} has alphabet {m.alphabet.string!r}, the first file {alpha!r}")
    total = sum(shares)
    states = [m.state_dict() for m in models]
    out = models[0]
    mean = {}
    for k, v in states[0].items():
        if not v.is_floating_point():
            mean[k] = v
            continue
        mean[k] = sum(s[k].double() * (w / total) for s, w in zip(states, shares)).to(v.dtype)
    out.load_state_dict(mean)
    out.eval()
    return out


def average_files(paths: Sequence[str | Path], out: str | Path, shares: Sequence[float] | None = None,
                  data: str | Path | None = None, command: str | None = None) -> dict[str, Any]:
    """Average ``paths`` into ``out`` with metadata naming the sources (their own training
    records kept); with ``data`` (a ``../shared/data``-like folder) the usual test figures are
    measured and stored. Returns the metadata written."""
    from .recognizer import TrainConfig, evaluate_all, trained_on_semeion

    model = average_weights(paths, shares)
    sources: list[dict[str, Any]] = []
    for p, w in zip(paths, shares or [1.0] * len(paths)):
        src_meta = read_metadata(p)
        sources.append({"file": Path(p).name, "share": w, "training": src_meta.get("training"),
                        "metrics": src_meta.get("metrics")})
    meta: dict[str, Any] = {
        "training": {
            "data": sorted({d for s in sources for d in ((s["training"] or {}).get("data") or [])}),
            "averaged_from": sources,
            "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        },
    }
    if data is not None:
        semeion = trained_on_semeion(meta["training"])
        meta["metrics"] = evaluate_all(model, data,
                                       semeion_holdout=TrainConfig().semeion_holdout if semeion else None)
    save_model(model, out, meta)
    return meta
