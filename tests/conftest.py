from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that need it skip cleanly when it is absent."""
    if not (DATA / "mnist" / "mnist-test.npz").exists():
        pytest.skip("../shared/data is absent (real handwriting data is not shipped)")
    return DATA
