"""A wider recognizer with LeNet-5's interface (the ``--model wide`` option).

LeNet-5 as published (:mod:`chequereader.models.lenet5`) stays the default and the reference.
This variant keeps everything the rest of the reader relies on: framed ``32x32`` inputs, an
F6 layer of 84 squashed units, the fixed Euclidean RBF prototypes of the alphabet, the MAP
criterion with the rubbish mass, and one penalty per class per candidate. So the lattice,
the decoder, global training and the calibration are unchanged. Only the feature extractor
is larger: three convolution blocks (5x5 then 3x3 kernels; 32, 64 and 128 maps; batch
normalisation, ReLU, 2x2 max pooling), then F6.

Examples
--------
>>> import numpy as np
>>> net = WideNet()
>>> net.predict(np.zeros((2, 32, 32), np.float32)).shape[0]
2
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .alphabet import DEFAULT, Alphabet
from .lenet5 import LeNet5, squash
from .rbf_bitmaps import prototypes

WIDTHS = (32, 64, 128)


class WideNet(LeNet5):
    """Convolution blocks of :data:`WIDTHS` maps, F6 of 84 units, LeNet-5's RBF outputs."""

    ARCHITECTURE = "wide-cnn-rbf"

    def __init__(self, alphabet: Alphabet = DEFAULT, rubbish_j: float = 20.0) -> None:
        nn.Module.__init__(self)  # LeNet-5's own layers are not built
        self.alphabet = alphabet
        self.rubbish_j = float(rubbish_j)
        a, b, c = WIDTHS
        self.body = nn.Sequential(
            nn.Conv2d(1, a, 5, padding=2, bias=False), nn.BatchNorm2d(a), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(b, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.f6 = nn.Linear(c * 4 * 4, 84)
        self.register_buffer(
            "prototypes", torch.from_numpy(prototypes(alphabet.chars)), persistent=False
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return squash(self.f6(self.body(x).flatten(1)))

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Penalties ``float32 (N, C)`` for framed inputs ``(N, 32, 32)`` (NumPy in and out)."""
        if self.training:
            self.eval()
        if len(images) == 0:
            return np.zeros((0, len(self.alphabet)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        dev = self.f6.weight.device
        out = [self.penalties(self(x[i: i + batch_size, None].to(dev)))
               for i in range(0, len(x), batch_size)]
        return (torch.cat(out) if len(out) > 1 else out[0]).cpu().numpy()

    def layer_parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in getattr(self, name).parameters() if p.requires_grad)
                for name in ("body", "f6")}

    @staticmethod
    def multiply_accumulates() -> int:
        """Multiply-accumulates per character."""
        a, b, c = WIDTHS
        return 32 * 32 * a * 25 + 16 * 16 * a * b * 9 + 8 * 8 * b * c * 9 + c * 16 * 84

    def config(self) -> dict[str, Any]:
        return {"alphabet": self.alphabet.string, "rubbish_j": self.rubbish_j, "widths": list(WIDTHS)}


__all__ = ["WIDTHS", "WideNet"]
