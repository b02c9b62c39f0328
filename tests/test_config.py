"""Pipeline configuration: one home and one TOML key per setting; the bundled pipelines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import labelled_fields

from chequereader.cli import main
from chequereader.config import (
    MOVED,
    NOT_IN_TOML,
    PIPELINES_DIR,
    PipelineConfig,
    bundled_pipelines,
    load_config,
    pipeline_path,
)
from chequereader.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cheque_0000.png"


def _toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_nbest_and_max_fields_live_in_their_stage_tables(tmp_path: Path) -> None:
    names = {f.name for f in dataclasses.fields(PipelineConfig)}
    assert not names & set(MOVED)
    cfg = load_config(_toml(tmp_path, "[decode]\nnbest = 3\n[locate]\nmax_fields = 2\n"))
    assert cfg.decode.nbest == 3 and cfg.locate.max_fields == 2


@pytest.mark.parametrize("key,table", sorted(MOVED.items()))
def test_a_moved_top_level_key_is_refused_with_its_new_home(tmp_path: Path, key: str,
                                                              table: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}.*\[{table}\] {key}"):
        load_config(_toml(tmp_path, f"{key} = 2\n"))


def test_keys_that_would_be_ignored_are_refused(tmp_path: Path) -> None:
    assert ("decode", "reject_threshold") in NOT_IN_TOML
    with pytest.raises(ConfigError, match=r"\[decode\] reject_threshold.*top-level"):
        load_config(_toml(tmp_path, "[decode]\nreject_threshold = 0.9\n"))
    with pytest.raises(ConfigError, match="threshold would be ignored"):
        load_config(_toml(tmp_path, "[calibration]\nfeatures = []\nthreshold = 0.7\n"))
    with pytest.raises(ConfigError, match="weights_cl"):
        load_config(_toml(tmp_path, 'weights = "default"\nweights_cl = "latin"\n'))
    # an option given beside the file is an override, not a second key of the file
    cfg = load_config(_toml(tmp_path, 'weights_cl = "default"\n'), weights="latin")
    assert cfg.weights == "latin"


def test_the_top_level_reject_threshold_overrides_the_calibrations(tmp_path: Path) -> None:
    assert PipelineConfig().threshold == PipelineConfig().calibration.threshold
    assert load_config(_toml(tmp_path, "reject_threshold = 0.9\n")).threshold == 0.9
    off = load_config(_toml(tmp_path, "[calibration]\nfeatures = []\n"))
    assert off.threshold == off.decode.reject_threshold == 0.5
    off = load_config(_toml(tmp_path, "reject_threshold = 0.8\n[calibration]\nfeatures = []\n"))
    assert off.threshold == 0.8


def test_decode_config_checks_its_ranges() -> None:
    from chequereader.decode import DecodeConfig

    with pytest.raises(ConfigError, match="nbest"):
        DecodeConfig(nbest=0)
    with pytest.raises(ConfigError, match="reject_threshold"):
        DecodeConfig(reject_threshold=1.5)


def test_the_bundled_pipelines_are_package_data() -> None:
    assert PIPELINES_DIR.parent.name == "chequereader"
    assert set(bundled_pipelines()) >= {"us-personal", "in-cts", "orand"}
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "pipelines/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["chequereader"]


def test_a_name_is_a_bundled_pipeline_and_anything_else_a_path(tmp_path: Path) -> None:
    assert pipeline_path("orand") == PIPELINES_DIR / "orand.toml"
    assert pipeline_path("x/orand") == Path("x/orand")
    assert pipeline_path("orand.toml") == Path("orand.toml")
    with pytest.raises(ConfigError, match="no bundled pipeline.*orand"):
        pipeline_path("no-such-pipeline")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("name,expected", [
    ("us-personal", PipelineConfig(locale="us")),
    ("in-cts", PipelineConfig(locale="in")),
    ("orand", PipelineConfig(locale="cl", field=True)),
])
def test_each_bundled_pipeline_loads_and_reads_a_sample(name: str, expected: PipelineConfig,
                                                        tmp_path: Path) -> None:
    assert load_config(name) == expected
    assert load_config(PIPELINES_DIR / f"{name}.toml") == expected
    if expected.field:  # a field crop: the sample cheque's amount zone, from labels.csv
        import csv

        import cv2

        row = next(csv.DictReader(open(ROOT / "samples" / "labels.csv")))
        x, y, w, h = (int(row[k]) for k in ("field_x", "field_y", "field_w", "field_h"))
        img = cv2.imread(str(ROOT / "samples" / row["file"]), cv2.IMREAD_GRAYSCALE)
        src = tmp_path / "field.png"
        cv2.imwrite(str(src), img[max(0, y - 8): y + h + 8, max(0, x - 8): x + w + 8])
    else:
        src = SAMPLE
    r = CliRunner().invoke(main, ["read", str(src), "--pipeline", name, "--quiet"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.splitlines()[0])
    assert row["status"] in ("ok", "rejected") and row["text"]
    if name == "us-personal":
        assert row["amount"] == "100.24"
    # --config is the same option
    r2 = CliRunner().invoke(main, ["read", str(src), "--config", name, "--quiet"])
    row2 = json.loads(r2.stdout.splitlines()[0])
    assert {k: v for k, v in row2.items() if k != "timing_ms"} == \
        {k: v for k, v in row.items() if k != "timing_ms"}


def test_an_unknown_pipeline_name_is_a_usage_error() -> None:
    r = CliRunner().invoke(main, ["read", str(SAMPLE), "--pipeline", "nope"])
    assert r.exit_code == 2 and "nope" in r.output and "us-personal" in r.output


def test_calibrate_output_loads_with_pipeline(tmp_path: Path) -> None:
    """What ``calibrate -o`` writes from a named pipeline is a pipeline ``--pipeline`` reads."""
    labelled_fields(tmp_path, 8, seed=5)
    out = tmp_path / "pipelines" / "mine.toml"
    out.parent.mkdir()
    r = CliRunner().invoke(main, ["calibrate", str(tmp_path / "labels.csv"), "--pipeline", "orand",
                                  "--folds", "2", "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    cfg = load_config(out)
    assert cfg.locale == "cl" and cfg.field and cfg.calibration.n == 8
    r2 = CliRunner().invoke(main, ["read", str(tmp_path / "0.png"), "--pipeline", str(out),
                                   "--quiet"])
    assert r2.exit_code == 0, r2.output


def test_amount_prior_keys_of_the_decode_table_are_read_as_prior_keys(tmp_path: Path) -> None:
    from chequereader.amounts import PriorSettings, amount_prior
    from chequereader.config import PRIOR_KEYS

    assert "no_cents_penalty" in PRIOR_KEYS and "magnitude_penalty" in PRIOR_KEYS
    old = load_config(_toml(tmp_path, "[decode]\nnbest = 3\nmagnitude_penalty = 0.0\n"
                                      'free_digits = [["us", 5], ["any", 7]]\nno_cents_penalty = []\n'))
    new = load_config(_toml(tmp_path, "[decode]\nnbest = 3\n[prior]\nmagnitude_penalty = 0.0\n"
                                      'free_digits = [["us", 5], ["any", 7]]\nno_cents_penalty = []\n'))
    assert old == new and old.decode.nbest == 3
    assert old.prior == PriorSettings(magnitude_penalty=0.0, free_digits=(("us", 5), ("any", 7)),
                                      no_cents_penalty=())
    hash(old)  # a frozen config stays hashable (the batch keeps one reader per config)
    us = amount_prior("us", old.prior)
    assert (us.magnitude_penalty, us.free_digits, us.no_cents_penalty) == (0.0, 5, 0.0)
    assert amount_prior("cl", old.prior).free_digits == 7
    with pytest.raises(ConfigError, match="magnitude_penalty given in"):
        load_config(_toml(tmp_path, "[decode]\nmagnitude_penalty = 1.0\n[prior]\nmagnitude_penalty = 2.0\n"))
    with pytest.raises(ConfigError, match="unknown key 'no_such_key'"):
        load_config(_toml(tmp_path, "[prior]\nno_such_key = 1\n"))
    with pytest.raises(ConfigError, match="unknown key 'no_such_key'"):
        load_config(_toml(tmp_path, "[decode]\nno_such_key = 1\n"))


def test_pipeline_toml_writes_only_keys_a_pipeline_file_may_hold(tmp_path: Path) -> None:
    from chequereader.calibration import fit
    from chequereader.decode import DecodeConfig
    from chequereader.evaluate import pipeline_toml

    cal = fit(np.c_[np.arange(10.0)], np.arange(10) > 4, features=("margin",))
    cfg = PipelineConfig(locale="cl", weights="default", weights_cl="latin",
                         decode=DecodeConfig(nbest=3, reject_threshold=0.7))
    text = pipeline_toml(cfg, cal)
    assert "reject_threshold" not in text and "weights_cl" not in text
    got = load_config(_toml(tmp_path, text))
    assert got.decode.nbest == 3 and got.weights == "default" and got.calibration == cal
    # the [prior] table round-trips too
    from chequereader.amounts import PriorSettings

    cfg = dataclasses.replace(cfg, prior=PriorSettings(no_cents_penalty=(("us", 3.0),), magnitude_confidence=False))
    text = pipeline_toml(cfg, cal)
    assert "[prior]" in text
    assert load_config(_toml(tmp_path, text)).prior == cfg.prior
