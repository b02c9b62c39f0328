"""LeNet-5 as published (LeCun et al. 1998, Section II; docs/design.md section 4).

C1 conv 6@5x5 -> S2 trainable subsampling -> C3 conv 16@5x5 with the partial connection
table -> S4 -> C5 conv 120@5x5 -> F6 84 -> Euclidean RBF outputs with fixed +-1 prototypes.
Squashing ``f(a) = 1.7159 tanh(2a/3)`` after C1..F6. Loss: the MAP criterion with the
"rubbish" mass ``exp(-j)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .alphabet import DEFAULT, Alphabet

# The constants are shared with the NumPy reader, which computes the same network.
from .numpy_lenet5 import A_SQUASH, C3_TABLE, S_SQUASH
from .rbf_bitmaps import prototypes


def squash(a: torch.Tensor) -> torch.Tensor:
    return A_SQUASH * torch.tanh(S_SQUASH * a)


def _fan_in_uniform_(t: torch.Tensor, fan_in: int) -> None:
    # The paper: weights uniform in +-2.4 / F_i, F_i the unit's fan-in.
    bound = 2.4 / fan_in
    with torch.no_grad():
        t.uniform_(-bound, bound)


def _sum_2x2(x: torch.Tensor) -> torch.Tensor:
    """Sum of each 2x2 window of ``x (N, C, H, W)`` (``H``, ``W`` even), stride 2.

    Two strided additions: several times faster than ``avg_pool2d`` on small maps.
    """
    y = x[:, :, 0::2] + x[:, :, 1::2]
    return y[..., 0::2] + y[..., 1::2]


def _bias(layer: nn.Conv2d) -> torch.Tensor:
    return layer.bias if layer.bias is not None else layer.weight.new_zeros(layer.out_channels)


class Subsampling(nn.Module):
    """S2/S4: sum of a 2x2 window times one trainable coefficient plus one bias, per map."""

    def __init__(self, maps: int) -> None:
        super().__init__()
        self.coef = nn.Parameter(torch.empty(maps))
        self.bias = nn.Parameter(torch.empty(maps))
        _fan_in_uniform_(self.coef, 4)
        _fan_in_uniform_(self.bias, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.avg_pool2d(x, 2) * 4.0
        return s * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv(nn.Module):
    """C3: 16 maps of 5x5 kernels, each reading only the S2 maps of :data:`C3_TABLE`.

    Only the 60 connected kernels are parameters (1,500 weights + 16 biases = 1,516); they
    are scattered into a dense weight at run time so one ``conv2d`` does the work.
    """

    conn: torch.Tensor

    def __init__(self, table: tuple[tuple[int, ...], ...] = C3_TABLE, in_maps: int = 6) -> None:
        super().__init__()
        self.out_maps, self.in_maps = len(table), in_maps
        idx = [o * in_maps + i for o, ins in enumerate(table) for i in ins]
        self.register_buffer("conn", torch.tensor(idx, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(idx), 25))
        self.bias = nn.Parameter(torch.empty(self.out_maps))
        for o, ins in enumerate(table):
            fan = 25 * len(ins)
            start = sum(len(t) for t in table[:o])
            _fan_in_uniform_(self.weight[start : start + len(ins)], fan)
            _fan_in_uniform_(self.bias[o : o + 1], fan)

    def dense_weight(self) -> torch.Tensor:
        w = self.weight.new_zeros(self.out_maps * self.in_maps, 25)
        w = w.index_copy(0, self.conn, self.weight)
        return w.view(self.out_maps, self.in_maps, 5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)


class LeNet5(nn.Module):
    """LeNet-5 with Euclidean RBF outputs over ``alphabet`` plus a rubbish mass.

    ``forward(x)`` takes ``float32 (N, 1, 32, 32)`` framed inputs and returns the RBF outputs
    ``y (N, C)`` (squared distances; lower = better). :meth:`penalties` turns them into
    ``-log p(class)`` with the rubbish mass in the normaliser; :meth:`predict` runs in
    inference mode on a NumPy batch.
    """

    prototypes: torch.Tensor
    ARCHITECTURE = "lenet5-rbf"  # the weight files' architecture name

    def __init__(self, alphabet: Alphabet = DEFAULT, rubbish_j: float = 20.0) -> None:
        super().__init__()
        self.alphabet = alphabet
        self.rubbish_j = float(rubbish_j)
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = PartialConv()
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        for m, fan in ((self.c1, 25), (self.c5, 16 * 25), (self.f6, 120)):
            _fan_in_uniform_(m.weight, fan)
            if m.bias is not None:
                _fan_in_uniform_(m.bias, fan)
        # Derived from the alphabet, not learned: not saved, so a trained network can take a
        # longer alphabet (a locale's extra symbol) and keep every trained parameter.
        self.register_buffer(
            "prototypes", torch.from_numpy(prototypes(alphabet.chars)), persistent=False
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = squash(self.c1(x))
        x = squash(self.s2(x))
        x = squash(self.c3(x))
        x = squash(self.s4(x))
        x = squash(self.c5(x)).flatten(1)
        return squash(self.f6(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        # y_i = sum_j (x_j - w_ij)^2, expanded so it is one matmul.
        return (
            (f * f).sum(1, keepdim=True)
            - 2.0 * f @ self.prototypes.t()
            + (self.prototypes * self.prototypes).sum(1)[None, :]
        )

    def log_normaliser(self, y: torch.Tensor) -> torch.Tensor:
        """``log(exp(-j) + sum_i exp(-y_i))`` per row."""
        j = torch.full_like(y[:, :1], -self.rubbish_j)
        return torch.logsumexp(torch.cat([-y, j], dim=1), dim=1)

    def penalties(self, y: torch.Tensor) -> torch.Tensor:
        """``-log p(class)`` for each class: ``y_c + log(exp(-j) + sum_i exp(-y_i))``."""
        return y + self.log_normaliser(y)[:, None]

    def rubbish_penalty(self, y: torch.Tensor) -> torch.Tensor:
        """``-log p(rubbish)`` per row."""
        return self.rubbish_j + self.log_normaliser(y)

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MAP criterion ``mean_p[y_Dp + log(exp(-j) + sum_i exp(-y_i))]``.

        ``target`` holds class indices; ``-1`` marks a rubbish example, whose penalty is
        ``-log p(rubbish)`` (pushes every class's distance up).
        """
        lognorm = self.log_normaliser(y)
        is_rub = target < 0
        yd = torch.where(
            is_rub,
            torch.full_like(lognorm, self.rubbish_j),
            y.gather(1, target.clamp(min=0)[:, None])[:, 0],
        )
        return (yd + lognorm).mean()

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Penalties ``float32 (N, C)`` for framed inputs ``(N, 32, 32)`` (NumPy in and out).

        Computes :meth:`penalties` of :meth:`forward` up to float rounding, through
        :meth:`_inference_weights` (see there): faster on a field's few dozen candidates.
        """
        if self.training:
            self.eval()
        if len(images) == 0:
            return np.zeros((0, len(self.alphabet)), np.float32)
        w = self._inference_weights()
        out = []
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        dev = w[0].device  # a model trained on a GPU reads there too
        for i in range(0, len(x), batch_size):
            out.append(self._fast_penalties(x[i : i + batch_size, None].to(dev), w))
        pen = torch.cat(out) if len(out) > 1 else out[0]
        return pen.cpu().numpy()

    def _inference_weights(self) -> tuple[torch.Tensor, ...]:
        """The layers' weights with the squashing constants folded in, cached per version.

        ``A tanh(S a)`` feeds the next layer, which is linear, so ``S`` goes into the weights
        and bias of the layer below and ``A`` into the weights of the layer above; the
        subsampling coefficients become a per-map scale. The cache is keyed by the
        identities and in-place versions of the tensors it is made of, so training steps,
        ``load_state_dict`` and replaced parameters invalidate it.
        """
        # The module's own dictionaries: ``self.c1.weight`` goes through nn.Module's
        # __getattr__ twice (about 1.5 us a tensor, 20 us a call; this runs once per field).
        mods = self._modules
        used = tuple(
            mods[m]._parameters.get(n)  # type: ignore[union-attr]
            for m, n in (
                ("c1", "weight"), ("c1", "bias"), ("s2", "coef"), ("s2", "bias"),
                ("c3", "weight"), ("c3", "bias"), ("s4", "coef"), ("s4", "bias"),
                ("c5", "weight"), ("c5", "bias"), ("f6", "weight"), ("f6", "bias"),
            )
        ) + (self._buffers["prototypes"],)
        key = tuple((id(t), t._version) for t in used if t is not None)
        cached = self.__dict__.get("_inference_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.no_grad():
            a, s = A_SQUASH, S_SQUASH
            w = (
                (self.c1.weight * s).contiguous(), _bias(self.c1) * s,
                (self.s2.coef * (a * s)).view(1, -1, 1, 1), (self.s2.bias * s).view(1, -1, 1, 1),
                (self.c3.dense_weight() * (a * s)).contiguous(), self.c3.bias * s,
                (self.s4.coef * (a * s)).view(1, -1, 1, 1), (self.s4.bias * s).view(1, -1, 1, 1),
                (self.c5.weight * (a * s)).flatten(1).contiguous(), _bias(self.c5) * s,
                (self.f6.weight * (a * s)).contiguous(), self.f6.bias * s,
                (self.prototypes * self.prototypes).sum(1)[None, :], self.prototypes,
            )
        self.__dict__["_inference_cache"] = (key, w)
        return w

    def _fast_penalties(self, x: torch.Tensor, w: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """:meth:`penalties` of :meth:`forward` for ``x (N, 1, 32, 32)``, in place where it can."""
        w1, b1, c2, b2, w3, b3, c4, b4, w5, b5, w6, b6, p2, protos = w
        x = F.conv2d(x, w1, b1).tanh_()
        x = _sum_2x2(x).mul_(c2).add_(b2).tanh_()  # avg_pool2d * 4 is a 2x2 sum
        x = F.conv2d(x, w3, b3).tanh_()
        x = _sum_2x2(x).mul_(c4).add_(b4).tanh_()
        x = F.linear(x.flatten(1), w5, b5).tanh_()  # C5 sees a 5x5 input: a full layer
        f = F.linear(x, w6, b6).tanh_().mul_(A_SQUASH)
        y = (f * f).sum(1, keepdim=True) - 2.0 * f @ protos.t() + p2
        return self.penalties(y)

    def layer_parameter_counts(self) -> dict[str, int]:
        return {
            name: sum(p.numel() for p in getattr(self, name).parameters() if p.requires_grad)
            for name in ("c1", "s2", "c3", "s4", "c5", "f6")
        }

    def config(self) -> dict[str, Any]:
        return {"alphabet": self.alphabet.string, "rubbish_j": self.rubbish_j}

    @staticmethod
    def multiply_accumulates() -> int:
        """Multiply-accumulates per character (the paper quotes about 401K for LeNet-5)."""
        c1 = 28 * 28 * 6 * 25
        c3 = 10 * 10 * 25 * sum(len(t) for t in C3_TABLE)
        c5 = 120 * 16 * 25
        f6 = 84 * 120
        s = (14 * 14 * 6 + 5 * 5 * 16) * 4
        return c1 + c3 + c5 + f6 + s

    @classmethod
    def load(cls, path: Any = None, **kw: Any) -> LeNet5:
        from .weights import load_model

        return load_model(path, **kw)


__all__ = ["LeNet5", "C3_TABLE", "squash", "math"]
