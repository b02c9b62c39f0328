"""LeNet-5 inference in NumPy and OpenCV: the reader's recognizer, no torch needed.

The same network as :class:`chequereader.models.lenet5.LeNet5` (docs/design.md section 4): C1 conv
6@5x5, S2 (2x2 sum x coefficient + bias), C3 conv 16@5x5 with the partial connection table,
S4, C5, F6, the squashing ``1.7159 tanh(2a/3)`` after C1..F6, Euclidean RBF outputs with fixed
+-1 prototypes, and penalties ``-log p`` with the rubbish mass ``exp(-j)`` in the normaliser,
i.e. what ``LeNet5.predict`` returns, to float32 rounding.

Only OpenCV does the heavy arithmetic (``filter2D``, ``gemm``) and NumPy the
elementwise rest: no BLAS call, so the thread count is OpenCV's (``cv2.setNumThreads``), which
the pipeline already sets. NumPy's own BLAS would start its thread pool on each product of
this size, which on a small shared machine costs far more than the product.

This module does not import torch; build a model from a weight file with
:func:`chequereader.models.weights.load_numpy_model`.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from ..errors import ModelError
from .alphabet import Alphabet
from .rbf_bitmaps import prototypes

A_SQUASH = 1.7159
S_SQUASH = 2.0 / 3.0

# C3 map -> S2 maps it reads (the paper's Table I).
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# Tensor names and shapes of a LeNet-5 state dict (the torch module's parameter names).
STATE_SHAPES: dict[str, tuple[int, ...]] = {
    "c1.weight": (6, 1, 5, 5), "c1.bias": (6,),
    "s2.coef": (6,), "s2.bias": (6,),
    "c3.weight": (sum(len(t) for t in C3_TABLE), 25), "c3.bias": (16,),
    "s4.coef": (16,), "s4.bias": (16,),
    "c5.weight": (120, 16, 5, 5), "c5.bias": (120,),
    "f6.weight": (84, 120), "f6.bias": (84,),
}


def c3_dense(weight: np.ndarray) -> np.ndarray:
    """The C3 weights ``(60, 25)`` (connected kernels in :data:`C3_TABLE` order) scattered
    into a dense ``float64 (16, 6, 5, 5)`` with zeros for the missing connections."""
    dense = np.zeros((len(C3_TABLE), 6, 25), np.float64)
    k = 0
    for o, ins in enumerate(C3_TABLE):
        for i in ins:
            dense[o, i] = weight[k]
            k += 1
    return dense.reshape(len(C3_TABLE), 6, 5, 5)


class NumpyLeNet5:
    """LeNet-5 inference over ``alphabet`` plus a rubbish mass, from a state dict of arrays.

    Parameters
    ----------
    state : dict of str to ndarray
        The parameters by the torch module's names (:data:`STATE_SHAPES`).
    alphabet : Alphabet
        Output classes; the RBF prototypes are derived from it.
    rubbish_j : float
        The MAP criterion's constant ``j``: the rubbish mass is ``exp(-j)``.
    metadata : dict, optional
        The weight file's metadata, kept as :attr:`metadata`.
    dtype : {numpy.float32, numpy.float64}
        Arithmetic of the layers up to F6 (the RBF outputs and penalties are always computed
        in float64). float32 is the reader's; float64 serves to check the network against the
        torch module run in float64, where both agree to rounding.

    Raises
    ------
    ModelError
        A tensor is missing, extra, or of the wrong shape.

    Examples
    --------
    >>> from chequereader.models.weights import load_numpy_model
    >>> model = load_numpy_model()
    >>> model.predict(np.full((2, 32, 32), -0.1, np.float32)).shape
    (2, 17)
    """

    def __init__(self, state: dict[str, np.ndarray], alphabet: Alphabet, rubbish_j: float,
                 metadata: dict[str, Any] | None = None, dtype: Any = np.float32) -> None:
        missing = sorted(set(STATE_SHAPES) - set(state))
        extra = sorted(set(state) - set(STATE_SHAPES) - {"prototypes"})
        if missing or extra:
            raise ModelError(f"tensors do not match the architecture (missing {missing}, "
                             f"unexpected {extra})")
        for k, shape in STATE_SHAPES.items():
            if tuple(np.shape(state[k])) != shape:
                raise ModelError(f"tensor {k}: shape {tuple(np.shape(state[k]))} != {shape}")
        self.alphabet = alphabet
        self.rubbish_j = float(rubbish_j)
        self.metadata: dict[str, Any] = dict(metadata or {})
        st = {k: np.asarray(state[k], np.float64) for k in STATE_SHAPES}
        f32 = self.dtype = np.dtype(dtype).type
        if f32 not in (np.float32, np.float64):
            raise ModelError(f"dtype: expected float32 or float64, got {np.dtype(dtype)}")
        a, s = A_SQUASH, S_SQUASH
        # ``A tanh(S x)`` feeds a linear layer, so ``S`` goes into the weights and bias of the
        # layer below and ``A`` into the weights of the layer above. Maps are laid out
        # (map, y, x, candidate): see :meth:`_forward`.
        def col(v: np.ndarray, k: float) -> np.ndarray:
            return (v * k).astype(f32).reshape(-1, 1, 1, 1)

        self._k1 = [np.ascontiguousarray(st["c1.weight"][o, 0] * s, f32) for o in range(6)]
        self._b1 = [float(b) for b in (st["c1.bias"] * s).astype(f32)]
        self._c2, self._b2 = col(st["s2.coef"], a * s), col(st["s2.bias"], s)
        w3 = c3_dense(st["c3.weight"]) * (a * s)
        # Columns of the C3 patch matrix run (ky, kx, input map).
        self._w3 = np.ascontiguousarray(w3.transpose(0, 2, 3, 1).reshape(16, 150), f32)
        self._b3 = col(st["c3.bias"], s)
        self._c4, self._b4 = col(st["s4.coef"], a * s), col(st["s4.bias"], s)
        self._w5 = np.ascontiguousarray((st["c5.weight"] * (a * s)).reshape(120, 400), f32)
        self._b5 = (st["c5.bias"] * s).astype(f32)[:, None]
        self._w6 = np.ascontiguousarray(st["f6.weight"] * (a * s), f32)
        self._b6 = (st["f6.bias"] * s).astype(f32)[:, None]
        protos = prototypes(alphabet.chars).astype(np.float64)
        self._protos_t = np.ascontiguousarray(protos.T * -2.0)
        self._p2 = (protos * protos).sum(1)[None, :]
        self._local = threading.local()

    @classmethod
    def from_torch(cls, model: Any, dtype: Any = np.float32) -> NumpyLeNet5:
        """The NumPy twin of a torch :class:`~chequereader.models.lenet5.LeNet5`."""
        state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        return cls(state, model.alphabet, model.rubbish_j, getattr(model, "metadata", None),
                   dtype=dtype)

    def config(self) -> dict[str, Any]:
        return {"alphabet": self.alphabet.string, "rubbish_j": self.rubbish_j}

    def predict(self, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Penalties ``-log p(class)``, ``float32 (N, C)``, for framed inputs ``(N, 32, 32)``.

        Parameters
        ----------
        images : ndarray, shape (N, 32, 32)
            Framed candidates (background -0.1, ink 1.175); any real dtype.
        batch_size : int
            Candidates per pass, at most 128 (OpenCV's channel limit). Passes of a few
            dozen keep the working set (about 40 KB a candidate) in the CPU's cache.

        Returns
        -------
        ndarray, float32 (float64 for a float64 model), shape (N, C)
            ``y_c + log(exp(-j) + sum_i exp(-y_i))``, ``y`` the RBF outputs.
        """
        x = np.asarray(images)
        if x.ndim != 3 or x.shape[1:] != (32, 32):
            raise ModelError(f"images: expected shape (N, 32, 32), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, len(self.alphabet)), self.dtype)
        x = np.ascontiguousarray(x, self.dtype)
        batch_size = min(max(int(batch_size), 1), 128)
        if len(x) <= batch_size:
            return self._forward(x)
        return np.concatenate([self._forward(x[i : i + batch_size])
                               for i in range(0, len(x), batch_size)])

    def _workspace(self, n: int) -> dict[str, np.ndarray]:
        """Buffers for a pass of ``n`` candidates, kept per thread and reused: fresh arrays of
        this size are new pages for the kernel to fault in and zero on every call, which
        costs about as much as the arithmetic on a busy machine."""
        sizes = {"xt": 1024, "h": 6 * 1024, "rows": 6 * 14 * 28, "p": 6 * 196, "cols": 150 * 100,
                 "h3": 1600, "rows3": 16 * 5 * 10}
        ws = getattr(self._local, "ws", None)
        if ws is None or len(ws["xt"]) < 1024 * n:
            ws = {k: np.empty(v * n, self.dtype) for k, v in sizes.items()}
            self._local.ws = ws
        return {k: ws[k][: sizes[k] * n] for k in sizes}

    def _forward(self, x: np.ndarray) -> np.ndarray:
        # Maps are (map, y, x, candidate): the candidates are the image channels that
        # filter2D filters alike, and every slice below copies runs of whole rows of them.
        n = len(x)
        ws = self._workspace(n)
        xt = ws["xt"].reshape(32, 32, n)
        xt[...] = x.transpose(1, 2, 0)
        h = ws["h"].reshape(6, 32, 32, n)
        for o in range(6):
            # filter2D correlates (as conv2d does) around the kernel's centre: the valid
            # 28x28 output is [2:30, 2:30]; the border's values are never used.
            cv2.filter2D(xt, -1, self._k1[o], dst=h[o], delta=self._b1[o],
                         borderType=cv2.BORDER_CONSTANT)
        np.tanh(h, out=h)  # on the border too: one contiguous pass is quicker than a view
        h = h[:, 2:30, 2:30]
        rows = np.add(h[:, 0::2], h[:, 1::2], out=ws["rows"].reshape(6, 14, 28, n))  # S2
        p = np.add(rows[:, :, 0::2], rows[:, :, 1::2], out=ws["p"].reshape(6, 14, 14, n))
        p *= self._c2
        p += self._b2
        np.tanh(p, out=p)
        # C3: the dense (zero-filled) table times the 5x5x6 patches, one product.
        cols = ws["cols"].reshape(5, 5, 6, 10, 10, n)
        for dy in range(5):
            for dx in range(5):
                cols[dy, dx] = p[:, dy : dy + 10, dx : dx + 10]
        h3 = ws["h3"].reshape(16, 100 * n)
        cv2.gemm(self._w3, cols.reshape(150, 100 * n), 1.0, None, 0.0, dst=h3)  # type: ignore[call-overload]
        h3 = h3.reshape(16, 10, 10, n)  # type: ignore[assignment]
        h3 += self._b3
        np.tanh(h3, out=h3)
        return self._tail(h3, ws["rows3"].reshape(16, 5, 10, n))

    def _tail(self, h3: np.ndarray, rows3: np.ndarray) -> np.ndarray:
        """S4 to the penalties, from the squashed C3 maps ``(16, 10, 10, n)`` (``rows3``: a
        ``(16, 5, 10, n)`` buffer)."""
        n = h3.shape[3]
        rows3 = np.add(h3[:, 0::2], h3[:, 1::2], out=rows3)  # S4
        q = rows3[:, :, 0::2] + rows3[:, :, 1::2]
        q *= self._c4
        q += self._b4
        np.tanh(q, out=q)
        # C5 sees a 5x5 input: a full layer over (map, y, x).
        v = cv2.gemm(self._w5, q.reshape(400, n), 1.0, None, 0.0)  # type: ignore[call-overload]
        v += self._b5
        np.tanh(v, out=v)
        f = cv2.gemm(self._w6, v, 1.0, None, 0.0)  # type: ignore[call-overload]
        f += self._b6
        np.tanh(f, out=f)
        # y_i = sum_j (x_j - w_ij)^2, expanded as LeNet5.forward does but in float64: the
        # expansion cancels terms of about 100 to give distances of a few units.
        f = f.T.astype(np.float64)
        f *= A_SQUASH
        y = cv2.gemm(f, self._protos_t, 1.0, None, 0.0)  # type: ignore[call-overload]
        y += (f * f).sum(1, keepdims=True)
        y += self._p2
        return self._penalties(y).astype(self.dtype, copy=False)

    def predict_shifted(self, images: np.ndarray, dys: Any, fill: float, batch_size: int = 64
                        ) -> np.ndarray:
        """Penalties ``(len(dys), N, C)`` of ``images`` ``(N, 32, 32)`` moved ``dy`` pixels
        down (up for negative ``dy``, ``|dy| <= 4``), the uncovered rows filled with ``fill``:
        :meth:`predict` of each shifted copy, to float32 rounding, for about half the work.

        A vertical shift moves C1's maps by as many rows, and S2's and C3's by half as
        many where the shift is even: C1 runs once on the image padded with ``fill``, and
        S2 and C3 once for the even and once for the odd shifts; S4 onwards run per copy.
        """
        x = np.asarray(images)
        if x.ndim != 3 or x.shape[1:] != (32, 32):
            raise ModelError(f"images: expected shape (N, 32, 32), got {x.shape}")
        dys = [int(d) for d in dys]
        if not dys or max(abs(d) for d in dys) > 4:
            raise ModelError(f"dys: expected 1 or more shifts of at most 4 pixels, got {dys}")
        out = np.empty((len(dys), len(x), len(self.alphabet)), self.dtype)
        x = np.ascontiguousarray(x, self.dtype)
        step = min(max(int(batch_size), 1), 128)
        for i in range(0, len(x), step):
            out[:, i : i + step] = self._forward_shifted(x[i : i + step], dys, float(fill))
        return out

    def _shift_buffers(self, n: int, k: int) -> dict[str, np.ndarray]:
        """Flat buffers for :meth:`_forward_shifted` of ``n`` candidates and ``k`` copies
        (shifts of at most 4 pixels), kept per thread and reused as :meth:`_workspace`'s."""
        sizes = {"xt": 40 * 32 * n, "h": 6 * 40 * 32 * n, "cols": 150 * 16 * 10 * n,
                 "h3": 16 * 10 * 10 * k * n, "rows3": 16 * 5 * 10 * k * n}
        ws = getattr(self._local, "shift_ws", None)
        if ws is None or any(len(ws[key]) < v for key, v in sizes.items()):
            ws = {key: np.empty(v, self.dtype) for key, v in sizes.items()}
            self._local.shift_ws = ws
        return ws

    def _forward_shifted(self, x: np.ndarray, dys: list[int], fill: float) -> np.ndarray:
        n, k = len(x), len(dys)
        pad = max(abs(d) for d in dys)
        big = 32 + 2 * pad
        ws = self._shift_buffers(n, k)
        xt = ws["xt"][: big * 32 * n].reshape(big, 32, n)
        xt[:pad] = fill
        xt[pad + 32 :] = fill
        xt[pad : pad + 32] = x.transpose(1, 2, 0)
        h = ws["h"][: 6 * big * 32 * n].reshape(6, big, 32, n)
        for o in range(6):
            cv2.filter2D(xt, -1, self._k1[o], dst=h[o], delta=self._b1[o],
                         borderType=cv2.BORDER_CONSTANT)
        np.tanh(h, out=h)
        # The copy moved dy down has its valid C1 rows from row `start` of the padded maps.
        starts = [pad - d + 2 for d in dys]
        h3_all = ws["h3"][: 16 * 100 * k * n].reshape(16, 10, 10, k * n)
        for parity in sorted({a % 2 for a in starts}):
            group = [(c, a) for c, a in enumerate(starts) if a % 2 == parity]
            a0 = min(a for _, a in group)
            r = (max(a for _, a in group) - a0) // 2 + 14  # S2 rows the group needs
            hh = h[:, a0 : a0 + 2 * r, 2:30]
            rows = hh[:, 0::2] + hh[:, 1::2]  # S2
            p = rows[:, :, 0::2] + rows[:, :, 1::2]
            p *= self._c2
            p += self._b2
            np.tanh(p, out=p)
            ro = r - 4
            cols = ws["cols"][: 150 * ro * 10 * n].reshape(5, 5, 6, ro, 10, n)
            for dy in range(5):
                for dx in range(5):
                    cols[dy, dx] = p[:, dy : dy + ro, dx : dx + 10]
            h3 = cv2.gemm(self._w3, cols.reshape(150, ro * 10 * n), 1.0, None, 0.0)  # type: ignore[call-overload]
            h3 = h3.reshape(16, ro, 10, n)
            h3 += self._b3
            np.tanh(h3, out=h3)
            for c, a in group:
                m = (a - a0) // 2
                h3_all[..., c * n : (c + 1) * n] = h3[:, m : m + 10]
        y = self._tail(h3_all, ws["rows3"][: 16 * 50 * k * n].reshape(16, 5, 10, k * n))
        return y.reshape(k, n, -1)

    def _penalties(self, y: np.ndarray) -> np.ndarray:
        # -log p = y_c + log(exp(-j) + sum_i exp(-y_i)), the log-sum-exp shifted by its max.
        neg_j = -self.rubbish_j
        m = np.maximum((-y).max(1), neg_j)
        total = np.exp(-y - m[:, None]).sum(1) + np.exp(neg_j - m)
        y += (m + np.log(total))[:, None]
        return y


__all__ = ["NumpyLeNet5", "C3_TABLE", "STATE_SHAPES", "A_SQUASH", "S_SQUASH", "c3_dense"]
