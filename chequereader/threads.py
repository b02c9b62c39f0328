"""Process-wide thread counts of the libraries that do the reading's arithmetic."""

from __future__ import annotations

import sys

import cv2
from threadpoolctl import threadpool_limits


def set_threads(n: int) -> None:
    """Let OpenCV (the NumPy recognizer's arithmetic, and the image stages) use ``n`` threads,
    the BLAS libraries loaded in the process (OpenCV's matrix products run on the OpenBLAS
    its wheel bundles, NumPy's on its own) too, and torch when something has imported it (a
    torch model, training); torch is never imported here, so reading does not pay for it.

    An idle OpenBLAS thread spins for a while after each product: on field-size matrices a
    second BLAS thread only takes a core from the reader's own work.
    """
    cv2.setNumThreads(int(n))
    threadpool_limits(int(n), user_api="blas")
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
