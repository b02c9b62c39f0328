"""Process-wide thread counts of the libraries that do the reading's arithmetic."""

from __future__ import annotations

import sys

import cv2


def set_threads(n: int) -> None:
    """Let OpenCV (the NumPy recognizer's arithmetic, and the image stages) use ``n`` threads,
    and torch too when something has imported it (a torch model, training); torch is never
    imported here, so reading does not pay for it."""
    cv2.setNumThreads(int(n))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
