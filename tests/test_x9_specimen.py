"""The real US specimen cheque inside moov-io's public X9.37 test files (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

SPECIMEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "x9-specimen"


@pytest.mark.parametrize("name", ["valid-ascii.x937", "valid-ebcdic.x937"])
def test_the_real_specimen_reads_its_amount_verified_by_record_25(name):
    if not (SPECIMEN / name).exists():
        pytest.skip("../shared/data/x9-specimen is absent (the real data is not shipped)")
    from chequereader.pipeline import ChequeReader

    rows = [r.to_row() for r in ChequeReader().iter_file(SPECIMEN / name)]
    assert len(rows) == 1
    row = rows[0]
    assert row["x9_amount"] == "100.00" and row["reading"] == "100.00"
    assert row["match"] is True and row["status"] == "ok" and row["amount"] == "100.00"
