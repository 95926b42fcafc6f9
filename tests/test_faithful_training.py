"""Trained models judged against figures computed in the same test, not against chance (issue 11).

All runs are short (seconds) on a small slice of a discriminative SYNTHETIC benchmark, through the same
`train` that `python -m avzsl.train` runs. Each assertion compares two runs that differ in one thing only,
so it fails when that one thing breaks: a dropped modality, class text paired with the wrong classes, the
sign of calibrated stacking.

A short training's figures move with the CPU's kernels and the thread count as they move with the seed: a
different rounding early on leads to a different run (issue 24: on an AMD EPYC the default benchmark gave
both modalities 30.69 HM and visual alone 28.18, where the machine that wrote the test saw a 3-point gap).
So the benchmark here is built to make each property LARGE, and every margin is sized from the spread
measured over training seeds 1-5 (one torch thread) and seeds 1-2 with two threads and
OPENBLAS_CORETYPE=Sandybridge (2026-12-07, 2-core AMD EPYC, the 2 x 40 schedule below); the figures are in each
test's docstring.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avzsl.data.features import ClassText, GZSLData
from avzsl.data.synthetic import SyntheticSpec, make_synthetic
from avzsl.models.registry import get_recipe
from avzsl.training.protocol import StageTrainer, class_distances
from avzsl.training.metrics import gzsl_metrics
from avzsl.training.run import train
from benchmarks.baselines import drop_modality, ridge_baseline, training_free

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]  # see conftest.py; minutes of training

CPU = torch.device("cpu")
# ClipClap's reference architecture and learning-rate ratio, a short schedule: 2 x 40 batches of 64 per stage
# (4 x 60 gave the same verdicts with the same margins, at three times the cost).
CLIPCLAP_QUICK = {"epochs": 2, "batches_per_epoch": 40, "lr": 5e-4}
# Groups of 4 classes share 90 % of their latent in each modality, grouped differently in audio and in visual
# (avzsl/data/synthetic.py): either modality alone confuses whole groups, only both tell the classes apart.
# Audio and visual are equally noisy, so neither alone comes near both. (The default spec's visual half is the
# cleaner one: there visual alone came within 2.5 HM of both on one machine, and 6-19 HM below over seeds.)
COMPLEMENTARY = SyntheticSpec(scale=0.3, seed=11, confusable=4, confusion=0.9, audio_noise=1.5, visual_noise=1.5)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(COMPLEMENTARY)


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """ClipClap trained on both modalities, on each one alone, and with shuffled class text."""
    recipe = get_recipe("clipclap", "UCF", training_overrides=CLIPCLAP_QUICK)
    root = tmp_path_factory.mktemp("faithful-runs")
    shuffled = np.random.default_rng(0).permutation(data.split.num_classes)
    variants = {
        "both": data, "audio": drop_modality(data, "audio"), "visual": drop_modality(data, "visual"),
        "shuffled-text": GZSLData(data.split, ClassText(data.text.embeddings[shuffled], data.text.parts),
                                  data.subsets, data.provenance),
    }
    return {name: train(recipe, d, root / name, device=CPU, progress=False) for name, d in variants.items()}


def test_both_modalities_beat_the_best_single_one(runs):
    """Measured, test HM: both 51.7-54.8, audio alone 28.1-33.3, visual alone 19.0-24.0; both minus the best
    single one 18.4-26.5 (seeds 1-5: 26.5, 22.8, 18.4, 20.7, 25.5; two threads: 23.6, 21.5). A model that drops
    one modality lands at that modality's figures and fails by more than 13 points."""
    best_single = max(runs["audio"]["test"]["HM"], runs["visual"]["test"]["HM"])
    assert runs["both"]["test"]["HM"] > best_single + 5, {k: r["test"]["HM"] for k, r in runs.items()}


def test_model_beats_itself_trained_with_shuffled_class_text(runs):
    """Class text paired with the wrong classes cannot transfer to unseen classes. Measured: shuffled text
    15.5-23.7 HM and 12.3-22.2 ZSL; both minus shuffled 29.0-36.2 HM, 32.9-47.2 ZSL."""
    both, shuffled = runs["both"]["test"], runs["shuffled-text"]["test"]
    assert both["HM"] > shuffled["HM"] + 20 and both["ZSL"] > shuffled["ZSL"] + 20, (both, shuffled)


def test_trained_model_beats_the_training_free_score_on_the_same_data(runs, data):
    """Measured: training-free 8.5 HM (no training: the same on every machine to a prediction or two), the
    trained model 51.7-54.8."""
    free = training_free(data)
    assert runs["both"]["test"]["HM"] > free["test"]["HM"] + 30, (runs["both"]["test"], free["test"])


def test_baselines_land_far_from_the_ceiling(data):
    """The benchmark is not solvable in closed form: ridge, and the training-free score well below 100.
    Measured (closed form, no training): ridge 67.4 HM with both modalities, 27.3 audio, 24.8 visual."""
    ridge = ridge_baseline(data)
    free = training_free(data)
    assert 20 < ridge["test"]["HM"] < 80, ridge["test"]
    assert 5 < free["test"]["HM"] < ridge["test"]["HM"], free["test"]
    # and each modality alone does worse than both, for ridge too
    assert ridge["test"]["HM"] > max(ridge_baseline(data, m)["test"]["HM"] for m in ("audio", "visual"))


def test_calibrated_stacking_on_validation_moves_predictions_to_unseen_and_never_lowers_hm(data):
    recipe = get_recipe("clipclap", "UCF", training_overrides=CLIPCLAP_QUICK)
    trainer = StageTrainer(recipe, data, 1, CPU, progress=False)
    model, result = trainer.run(2)
    stage = trainer.validation
    distances = class_distances(model, stage.eval, trainer.text, stage.eval_classes)
    args = (distances, stage.eval.labels, stage.eval_classes, stage.seen_classes, stage.unseen_classes)
    gammas = np.linspace(*recipe.training.gamma_grid[:2], int(recipe.training.gamma_grid[2]))
    uncalibrated, searched = gzsl_metrics(*args, 0.0), gzsl_metrics(*args, gammas)
    assert searched.HM >= uncalibrated.HM
    # Adding γ to the seen classes must push predictions towards the unseen ones: U rises, S falls.
    by_gamma = [gzsl_metrics(*args, g) for g in gammas[::5]]
    assert all(a.U <= b.U + 1e-9 and a.S + 1e-9 >= b.S for a, b in zip(by_gamma, by_gamma[1:]))
    # Far enough, every video goes to an unseen class: U becomes the ZSL accuracy and S drops to 0.
    extreme = gzsl_metrics(*args, 1e6)
    assert extreme.S == 0.0 and extreme.U == pytest.approx(extreme.ZSL) and extreme.U > uncalibrated.U
    assert result.best_val.HM == pytest.approx(max(r.val["HM"] for r in result.history))
