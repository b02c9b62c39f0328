"""Thread counts of the reading's arithmetic libraries."""

from __future__ import annotations

import cv2
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from chequereader.pipeline import ChequeReader
from chequereader.threads import set_threads


def test_set_threads_limits_opencv_and_every_blas() -> None:
    cv2.gemm(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32), 1.0, None, 0.0)  # BLAS loaded
    with threadpool_limits(None):  # restore whatever the test changed
        set_threads(1)
        assert cv2.getNumThreads() == 1
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas, "no BLAS library found in the process"
        assert all(i["num_threads"] == 1 for i in blas)


def test_reader_runs_single_threaded_by_default() -> None:
    with threadpool_limits(None):
        set_threads(2)
        ChequeReader()
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
