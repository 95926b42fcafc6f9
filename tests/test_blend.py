"""The open-vocabulary blend: α chosen on validation with γ, stored in the checkpoint, applied in evaluation.

α = 0 must leave everything as the reference protocol has it: a run with `--blend` trains the same model, in
the same epochs, and its model-only numbers equal those of a run without it, to the bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avzsl import evaluate as evaluate_cli
from avzsl.models.checkpoint import load_checkpoint, read_config
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.models.scoring import blend, training_free_distances
from avzsl.train import main as train_main
from avzsl.training.protocol import BLEND_ALPHAS

pytestmark = pytest.mark.slow
SCHEDULE = ["--epochs", "2", "--batches-per-epoch", "20", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("blend")
    release = write_release(make_synthetic(SyntheticSpec(scale=0.1, seed=3)), root / "UCF")
    plain, blended = root / "plain", root / "blended"
    assert train_main(["--data", str(release), "--out", str(plain), *SCHEDULE]) == 0
    assert train_main(["--data", str(release), "--out", str(blended), "--blend", *SCHEDULE]) == 0
    return release, plain, blended


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_alpha_zero_is_the_reference_protocol_to_the_bit(runs):
    _, plain, blended = runs
    assert metrics(blended)["test_model_only"] == metrics(plain)["test"]
    assert metrics(blended)["val_model_only"] == metrics(plain)["val"]
    a, b = load_checkpoint(plain).model.state_dict(), load_checkpoint(blended).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the blend changes scoring, never training
    assert read_config(plain).calibration.alpha == 0.0 and "test_model_only" not in metrics(plain)


def test_the_blend_is_chosen_on_validation_and_stored(runs):
    _, plain, blended = runs
    calibration = read_config(blended).calibration
    assert calibration.alpha in BLEND_ALPHAS and calibration.blend_scale > 0
    # Chosen for the best validation HM over a grid that contains α = 0: never worse on validation.
    assert metrics(blended)["val"]["HM"] >= metrics(blended)["val_model_only"]["HM"]


def test_evaluate_applies_the_stored_blend_and_alpha_zero_undoes_it(runs, capsys):
    release, plain, blended = runs
    capsys.readouterr()
    assert evaluate_cli.main(["--checkpoint", str(blended), "--data", str(release), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["alpha"] == read_config(blended).calibration.alpha
    assert result["test"] == pytest.approx(metrics(blended)["test"], abs=1e-9)
    plain_gamma = read_config(plain).calibration.gamma
    assert evaluate_cli.main(["--checkpoint", str(blended), "--data", str(release), "--json", "--device", "cpu",
                              "--alpha", "0", "--gamma", str(plain_gamma)]) == 0
    assert json.loads(capsys.readouterr().out)["test"] == pytest.approx(metrics(plain)["test"], abs=1e-9)


def test_blend_formula():
    rng = np.random.default_rng(0)
    d, f = rng.random((4, 5)), rng.random((4, 5))
    np.testing.assert_array_equal(blend(d, f, 0.0, 7.0), d)
    np.testing.assert_allclose(blend(d, f, 1.0, 2.0), 2 * f)
    np.testing.assert_allclose(blend(d, f, 0.25, 2.0), 0.75 * d + 0.5 * f)
    v, a = np.eye(3)[:2], np.eye(4)[:2]  # unit rows
    tv, ta = np.eye(3), np.eye(4)[:3]
    np.testing.assert_allclose(training_free_distances(a, v, tv, ta), [[0, 1, 1], [1, 0, 1]])


def test_a_release_holding_infinity_is_one_line_in_evaluate_and_the_report(runs, tmp_path, caplog):
    """The release format is read without a finiteness check of its own: evaluation and the report both refuse it,
    naming the damaged features, before any number is computed from them."""
    _, plain, _ = runs
    data = make_synthetic(SyntheticSpec(scale=0.1, seed=3))
    data.subsets["stage_2_test_unseen"].audio[0, 0] = np.inf
    release = write_release(data, tmp_path / "UCF")
    out = tmp_path / "report"
    for report in ([], ["--report", str(out), "--no-png"]):
        caplog.clear()
        assert evaluate_cli.main(["--checkpoint", str(plain), "--data", str(release), "--device", "cpu", *report]) == 2
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "audio features of stage_2_test_unseen" in errors[0], (report, errors)
        assert not out.exists()
