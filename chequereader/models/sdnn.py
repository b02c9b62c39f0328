"""The space displacement neural network (SDNN, paper section VII), trainable in torch.

A convolutional network replicated over the whole amount field: the field, normalised to a
strip :data:`HEIGHT` pixels high (:func:`chequereader.sdnn.strip`), goes through 2-D
convolutions that pool its height away, then 1-D convolutions along the writing; every
:data:`STRIDE` columns of the strip the network gives a distribution over the ten digits and
"none" (the blank between characters). No segmentation: touching digits, zeros written in one
stroke and broken strokes are seen in their context. The string of a field is read from that
sequence the way the paper's SDNN output graph is (a run of one class is one character, the
blank separates them); the probability of a given string is the forward score of that graph
constrained to the string (:func:`chequereader.sdnn.text_penalty`), which is what the
connectionist temporal classification (CTC) loss trains.

The reader uses it as a second opinion beside the segmentation graph: each amount the
decoder weighs gets the SDNN's penalty of its digits (:mod:`chequereader.sdnn`).

This module imports torch (training); reading runs the NumPy version,
:class:`chequereader.sdnn.NumpySDNN`, from the exported ``.npz``.

Examples
--------
>>> import torch
>>> net = SDNN()
>>> net(torch.zeros(2, 1, HEIGHT, 64)).shape      # (steps, batch, classes)
torch.Size([16, 2, 11])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..sdnn import CLASSES, FORMAT, HEIGHT, PLAN, STRIDE

# Maps of the 2-D blocks, then of the 1-D layers along the writing.
CHANNELS = (16, 32, 64, 64, 96, 128)


class SDNN(nn.Module):
    """Convolutions over a ``(N, 1, HEIGHT, W)`` strip -> log probabilities ``(W / STRIDE, N,
    len(CLASSES) + 1)``, the blank last."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"channels: six widths, got {channels}")
        self.channels = tuple(int(c) for c in channels)
        layers: list[nn.Module] = []
        prev = 1
        for c, (pad, pool) in zip(self.channels, PLAN):
            k = (3, 3) if pad else (2, 3)
            layers += [nn.Conv2d(prev, c, k, padding=(pad, 1), bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if pool is not None:
                layers.append(nn.MaxPool2d(pool))
            prev = c
        self.body = nn.Sequential(*layers)
        c = self.channels[-1]
        self.head = nn.Sequential(nn.Conv1d(c, c, 3, padding=1), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Conv1d(c, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv1d(c, len(CLASSES) + 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x).squeeze(2)
        return torch.log_softmax(self.head(y), 1).permute(2, 0, 1)

    def numpy_state(self) -> dict[str, np.ndarray]:
        """The weights for :class:`chequereader.sdnn.NumpySDNN`: each 2-D convolution with
        its batch normalisation folded in (``conv{i}.weight``/``.bias``), then the 1-D layers
        (``head{i}.weight`` ``(O, C, k)``/``.bias``)."""
        out: dict[str, np.ndarray] = {}
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        norms = [m for m in self.body if isinstance(m, nn.BatchNorm2d)]
        for i, (cv, bn) in enumerate(zip(convs, norms)):
            assert bn.running_var is not None and bn.running_mean is not None
            s = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
            out[f"conv{i}.weight"] = (cv.weight.detach() * s[:, None, None, None]).numpy()
            out[f"conv{i}.bias"] = (bn.bias.detach() - bn.running_mean * s).numpy()
        heads = [m for m in self.head if isinstance(m, nn.Conv1d)]
        for i, h in enumerate(heads):
            assert h.bias is not None
            out[f"head{i}.weight"] = h.weight.detach().numpy()
            out[f"head{i}.bias"] = h.bias.detach().numpy()
        return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def save_sdnn(model: SDNN, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (``.npz``): the reading weights and a JSON header (format, classes,
    channels, the training's ``metadata``), and ``path`` with ``.pt`` for further training."""
    p = Path(path)
    if p.suffix != ".npz":
        p = p.with_suffix(".npz")
    p.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "classes": CLASSES, "height": HEIGHT, "stride": STRIDE,
              "channels": list(model.channels), **(metadata or {})}
    blob: dict[str, Any] = dict(model.numpy_state())
    blob["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    tmp = p.with_name(p.name + ".part.npz")
    np.savez(tmp, **blob)
    tmp.replace(p)
    torch.save({"channels": list(model.channels), "state": model.state_dict(), "header": header},
               p.with_suffix(".pt"))
    return p


def load_sdnn(path: str | Path) -> SDNN:
    """The trainable network of a ``.pt`` file :func:`save_sdnn` wrote (beside its ``.npz``)."""
    p = Path(path)
    pt = p if p.suffix == ".pt" else p.with_suffix(".pt")
    blob = torch.load(pt, map_location="cpu", weights_only=True)
    net = SDNN(tuple(blob["channels"]))
    net.load_state_dict(blob["state"])
    return net
