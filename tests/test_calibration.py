"""Calibrated confidence: the logistic model, thresholds for a target error, the calibrate command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import labelled_fields

from chequereader import calibration as cal
from chequereader.cli import main
from chequereader.config import PipelineConfig, load_config
from chequereader.errors import ConfigError


def test_fit_orders_by_the_evidence_and_recovers_a_known_slope() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p_true = 1 / (1 + np.exp(-(0.5 + 2.0 * x[:, 0])))  # the second feature is noise
    y = rng.random(4000) < p_true
    m = cal.fit(x, y, features=("margin", "n_chars"), l2=0.01)
    w = np.asarray(m.coef) / np.asarray(m.scale)  # back to the raw feature's units
    assert w[0] == pytest.approx(2.0, abs=0.2) and abs(w[1]) < 0.2
    assert m.probability(np.array([3.0, 0.0])) > 0.99 > 0.01 > m.probability(np.array([-3.0, 0.0]))


def test_the_default_fit_is_shrunk_hard_but_keeps_the_order() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = rng.random(300) < 1 / (1 + np.exp(-(1.0 + 2.0 * x[:, 0] + 0.5 * x[:, 1])))
    loose = cal.fit(x, y, features=("margin", "n_chars"), l2=1.0)
    hard = cal.fit(x, y, features=("margin", "n_chars"))
    assert hard.coef == cal.fit(x, y, features=("margin", "n_chars"), l2=cal.DEFAULT_L2).coef
    assert np.all(np.abs(hard.coef) < np.abs(loose.coef))
    assert hard.coef[0] > hard.coef[1] > 0  # the stronger evidence still weighs more


def test_a_constant_feature_gets_no_weight() -> None:
    x = np.c_[np.arange(10.0), np.zeros(10)]
    m = cal.fit(x, np.arange(10) >= 5, features=("margin", "field_penalty"), l2=1.0)
    assert m.coef[1] == 0.0 and m.scale[1] == 1.0


def test_choose_threshold_takes_the_most_reads_within_the_target() -> None:
    p = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.5, 0.4, 0.3, 0.2, 0.1])
    right = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 0], bool)
    op = cal.choose_threshold(p, right, 0.10)  # one error in ten allowed
    assert op.threshold == 0.5 and op.n_errors == 1 and op.read == pytest.approx(0.5)
    op0 = cal.choose_threshold(p, right, 0.0)
    assert op0.threshold == 0.97 and op0.n_errors == 0 and op0.read == pytest.approx(0.3)
    assert op0.read + op0.error + op0.reject == pytest.approx(1.0)


def test_tied_probabilities_are_accepted_or_rejected_together() -> None:
    p = np.array([0.9, 0.9, 0.9, 0.2])
    op = cal.choose_threshold(p, np.array([1, 0, 1, 0], bool), 0.0)
    assert op.threshold == 1.0 and op.read == 0.0  # cannot keep the two right 0.9s alone


def test_small_sets_warn_that_the_target_cannot_be_shown() -> None:
    p = np.linspace(0, 1, 100)
    op = cal.choose_threshold(p, p > 0.5, 0.01)
    assert any("label at least 300" in w for w in op.warnings)
    big = cal.choose_threshold(np.linspace(0, 1, 400), np.linspace(0, 1, 400) > 0.5, 0.01)
    assert not any("label at least" in w for w in big.warnings)


def test_wilson_interval_brackets_the_rate() -> None:
    lo, hi = cal.wilson(3, 300)
    assert lo < 0.01 < hi and hi < 0.03
    assert cal.wilson(0, 300)[0] == 0.0 and cal.wilson(0, 0) == (0.0, 1.0)


def test_reliability_bins_and_ece() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95])
    r = cal.reliability(p, np.array([0, 0, 1, 1], bool))
    assert r["count"] == [2, 2] and r["right"] == [0.0, 1.0]
    assert r["ece"] == pytest.approx(0.05)


def test_features_of_a_reading() -> None:
    ev = cal.Evidence(confidences=(0.9, 0.09), char_penalties=(0.5, 3.0),
                      class_margins=(4.0, 1.0), stability=((1.0, 3.0), (2.0, 2.0)),
                      n_quality_flags=1, field_penalty=0.5, amount="1200.50")
    f = dict(zip(cal.FEATURES, cal.field_features(ev)))
    assert f["log_confidence"] == pytest.approx(math.log(0.9))
    assert f["margin"] == pytest.approx(math.log(10))
    assert f["mean_penalty"] == pytest.approx(1.75) and f["max_penalty"] == 3.0
    assert f["mean_class_margin"] == 2.5 and f["n_chars"] == 2
    assert f["stability_mean"] == pytest.approx(4.0) and f["stability_max"] == 2.0
    assert f["n_quality_flags"] == 1 and f["field_penalty"] == 0.5
    assert f["trailing_zeros"] == 1
    none = dict(zip(cal.FEATURES, cal.field_features(cal.Evidence((), (), ()))))
    assert none["n_chars"] == 0 and none["max_penalty"] == 30.0 and none["trailing_zeros"] == 0


@pytest.mark.parametrize("amount, zeros", [("1200.00", 4), ("52931", 0), ("10", 1),
                                           ("0.50", 1), ("", 0), (None, 0)])
def test_trailing_zeros_count_the_digits_cents_included(amount: str | None, zeros: int) -> None:
    from chequereader.amounts import trailing_zeros

    assert trailing_zeros(amount) == zeros


def test_repeated_cross_validation_averages_the_splits() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 1))
    y = (x[:, 0] + rng.normal(scale=1.0, size=120)) > 0
    one = cal.cross_validated(x, y, features=("margin",), repeats=1, seed=4)
    avg = cal.cross_validated(x, y, features=("margin",), repeats=3, seed=4)
    parts = [cal.cross_validated(x, y, features=("margin",), repeats=1, seed=4 + r) for r in range(3)]
    assert np.allclose(avg, np.mean(parts, axis=0)) and np.allclose(one, parts[0])
    assert not np.allclose(avg, one)


def test_distortions_keep_the_frame_and_background() -> None:
    im = np.full((32, 32), -0.1, np.float32)
    im[8:24, 14:18] = 1.175
    d = cal.distortions(im)
    assert d.shape == (cal.N_DISTORTIONS, 32, 32) and d.dtype == np.float32
    assert np.all(d[:, 0, 0] == pytest.approx(-0.1)) and np.all(d.max(axis=(1, 2)) > 1.0)


def test_calibration_table_round_trips_through_a_pipeline_toml(tmp_path: Path) -> None:
    m = cal.fit(np.c_[np.arange(20.0)], np.arange(20) > 9, features=("margin",), threshold=0.7,
                fitted_on='x "y"')
    (tmp_path / "p.toml").write_text('locale = "cl"\n\n' + m.to_toml())
    cfg = load_config(tmp_path / "p.toml")
    assert cfg.calibration == m and cfg.threshold == 0.7
    assert load_config(tmp_path / "p.toml", reject_threshold=0.2).threshold == 0.2


def test_a_bad_calibration_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('[calibration]\nfeatures = ["no_such"]\nmean = [0.0]\n'
                                     'scale = [1.0]\ncoef = [1.0]\n')
    with pytest.raises(ConfigError, match="no_such"):
        load_config(tmp_path / "p.toml")
    (tmp_path / "q.toml").write_text('[calibration]\nfeatures = ["margin"]\nmean = [0.0, 1.0]\n')
    with pytest.raises(ConfigError, match="mean"):
        load_config(tmp_path / "q.toml")
    (tmp_path / "r.toml").write_text('[calibration]\nwhatever = 1\n')
    with pytest.raises(ConfigError, match="whatever"):
        load_config(tmp_path / "r.toml")


def test_the_bundled_calibration_is_the_default_and_can_be_turned_off(tmp_path: Path) -> None:
    cfg = PipelineConfig()
    assert cfg.calibration.active and cfg.threshold == cfg.calibration.threshold
    (tmp_path / "off.toml").write_text("[calibration]\nfeatures = []\n")
    off = load_config(tmp_path / "off.toml")
    assert not off.calibration.active and off.threshold == 0.5


def test_calibrate_command_writes_a_pipeline_that_read_uses(tmp_path: Path) -> None:
    labels = labelled_fields(tmp_path, 12, seed=3)
    out = tmp_path / "mine.toml"
    r = CliRunner().invoke(main, ["calibrate", str(labels), "--field", "--locale", "us",
                                  "--target-error", "0.05", "--folds", "3", "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    cv = rep["cross_validated"]
    assert rep["n"] == 12 and cv["error"] <= 0.05 + 1e-12
    assert cv["read"] + cv["error"] + cv["reject"] == pytest.approx(1.0)
    assert cv["error_interval"][0] <= cv["error"] <= cv["error_interval"][1]
    assert "label at least 60" in r.stderr  # 12 readings cannot show 5%
    cfg = load_config(out)
    assert cfg.field and cfg.locale == "us" and cfg.calibration.n == 12
    assert cfg.threshold == pytest.approx(rep["threshold"])
    r2 = CliRunner().invoke(main, ["read", str(tmp_path / "0.png"), "--config", str(out), "--quiet"])
    row = json.loads(r2.stdout.splitlines()[0])
    assert row["status"] == ("ok" if row["confidence"] >= cfg.threshold else "rejected")


def test_calibrate_refuses_a_reject_threshold(tmp_path: Path) -> None:
    labels = labelled_fields(tmp_path, 2, seed=3)
    r = CliRunner().invoke(main, ["calibrate", str(labels), "--field", "--reject-threshold", "0.5",
                                  "-o", str(tmp_path / "x.toml"), "--quiet"])
    assert r.exit_code == 2 and "threshold" in r.output


def test_readings_refused_whatever_their_confidence_are_rejects_to_the_fit() -> None:
    """A reading with a ``reject_reason`` (a script the recognizer cannot read, a reading
    only the SDNN makes) is never accepted: the fit leaves it out and counts it as a reject."""
    from chequereader.evaluate import calibrate_results
    from chequereader.types import AmountResult

    rng = np.random.default_rng(0)
    results, truth = [], []
    for i in range(200):
        right = i % 3 != 0
        conf = float(np.clip(rng.normal(0.8 if right else 0.3, 0.1), 0.01, 0.99))
        feats = tuple(float(v) for v in rng.normal(0, 1, len(cal.FEATURES)))
        feats = (math.log(conf),) + feats[1:]
        results.append(AmountResult(status="ok", amount="100" if right else "200", confidence=conf,
                                    features=feats))
        truth.append("100")
    plain = calibrate_results(results, truth, target_error=0.05, folds=5)
    # the same readings, and 20 wrong ones that look as sure as the best but are refused
    refused = [AmountResult(status="rejected", amount="300", confidence=0.0, features=results[1].features,
                            extra={"reject_reason": "sdnn-only"}) for _ in range(20)]
    more = calibrate_results(results + refused, truth + ["100"] * 20, target_error=0.05, folds=5)
    assert more.calibration.coef == pytest.approx(plain.calibration.coef)
    n = len(results) + len(refused)
    assert more.cross_validated.read == pytest.approx(plain.cross_validated.read * len(results) / n)
    assert any("20 readings refused" in w and "sdnn-only 20" in w for w in more.warnings)
