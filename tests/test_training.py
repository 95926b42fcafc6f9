"""The two-stage protocol end to end through the CLIs, on SYNTHETIC data in the release layout."""

import json

import numpy as np
import pytest

from avzsl import evaluate as evaluate_cli
from avzsl import train as train_cli
from avzsl.data.store import write_store
from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic, write_release
from avzsl.maps.atlas import load_atlas
from avzsl.models.checkpoint import CheckpointError, load_checkpoint, read_config
from avzsl.report.results import load_report
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py
# --threads 1: the CLIs set torch's threads themselves. In this process OpenMP started before avzsl.train could ask
# for passive threads, and two spinning threads took 705 s for clipclap_run's 160 steps at load 30-80 (2026-12-07).
ONE_THREAD = ["--no-progress", "--device", "cpu", "--threads", "1"]
QUICK = ["--epochs", "4", "--batches-per-epoch", "40", *ONE_THREAD]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    # The easy "linear" generator: these tests are about the pipeline; quality is judged in test_faithful_training.
    data = make_synthetic(SyntheticSpec(kind="linear", scale=0.15, seed=7))
    return write_release(data, tmp_path_factory.mktemp("release") / "UCF")


@pytest.fixture(scope="module")
def clipclap_run(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "clipclap"
    assert train_cli.main(["--model", "clipclap", "--data", str(release), "--out", str(out), *QUICK]) == 0
    return out


def chance_hm(n_seen, n_unseen):
    s, u = 1 / (n_seen + n_unseen), 1 / (n_seen + n_unseen)
    return 100 * 2 * s * u / (s + u)


def test_clipclap_learns_transfer_and_writes_a_complete_bundle(clipclap_run):
    metrics = json.loads((clipclap_run / "metrics.json").read_text())
    assert set(metrics) == {"val", "test"}  # γ and the best epoch are in config.json, once
    assert set(metrics["test"]) == {"S", "U", "HM", "ZSL"}
    # 42 seen + 6 unseen test classes: chance HM is about 2 %. Measured over training seeds 42, 1, 2 (2026-12-07,
    # AMD EPYC): HM 73.9, 71.1, 57.9; ZSL 64.3, 62.7, 46.8 (a short run moves with the seed and the CPU's kernels).
    assert metrics["test"]["HM"] > 15 * chance_hm(42, 6)
    assert metrics["test"]["ZSL"] > 30  # 6 unseen classes: chance 16.7 %
    config = load_checkpoint(clipclap_run).config
    assert config.calibration.gamma >= 0 and config.best_epoch >= 0
    assert config.synthetic is True and config.seed == 42
    assert len(config.classes.train) == 42 and len(config.classes.test_unseen) == 6
    assert {"torch", "avzsl", "numpy"} <= set(config.versions)
    assert not (clipclap_run / ".resume").exists()
    report = load_report(clipclap_run)  # asked for by the CLI once training is done (not by training/run.py)
    assert report is not None and report.metrics == metrics["test"]
    atlas = load_atlas(clipclap_run)
    assert atlas.joint.shape == (len(atlas.labels), 64) and atlas.class_joint.shape == (101, 64)
    assert set(np.unique(atlas.labels)) == set(atlas.seen_classes) | set(atlas.unseen_classes)


def test_evaluate_cli_reproduces_the_test_metrics(clipclap_run, release, capsys):
    capsys.readouterr()
    argv = ["--checkpoint", str(clipclap_run), "--data", str(release), "--json", "--device", "cpu", "--threads", "1"]
    assert evaluate_cli.main(argv) == 0  # on the thread count the run trained with
    result = json.loads(capsys.readouterr().out)
    expected = json.loads((clipclap_run / "metrics.json").read_text())["test"]
    for key in ("S", "U", "HM", "ZSL"):
        assert result["test"][key] == pytest.approx(expected[key], abs=1e-6)


def test_finished_run_is_not_overwritten_by_accident(clipclap_run, release):
    assert train_cli.main(["--data", str(release), "--out", str(clipclap_run), *QUICK]) == 2


@pytest.mark.slow  # AVCA's two stages: seconds
def test_avca_learns_transfer(release, tmp_path):
    """Measured (2026-12-07, 2-core AMD EPYC), 2 x 15 batches of 64 per stage: seeds 42, 1-4 with one thread HM
    55.8-65.8, ZSL 53.2-76.2; seeds 42 and 1 with two threads and OPENBLAS_CORETYPE=Sandybridge HM 59.5-65.4, ZSL
    67.5-70.6. Chance: HM 2.1, ZSL 16.7 (6 unseen classes)."""
    out = tmp_path / "avca"
    args = ["--model", "avca", "--data", str(release), "--out", str(out), "--epochs", "2",
            "--batches-per-epoch", "15", "--batch-size", "64", *ONE_THREAD]
    assert train_cli.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["HM"] > 10 * chance_hm(42, 6)
    assert metrics["test"]["ZSL"] > 35


@pytest.fixture(scope="module")
def encoder_sized_store(tmp_path_factory):
    """A small store with the sizes of avzsl's own encoders (512-d sound, where the release has 1024)."""
    return write_store(tmp_path_factory.mktemp("store") / "store", make_synthetic(SyntheticSpec(scale=0.05, **ENCODER_DIMS)))


def test_mismatched_checkpoint_and_data_fail_clearly(clipclap_run, encoder_sized_store, tmp_path, caplog):
    argv = ["--checkpoint", str(clipclap_run), "--data", str(encoder_sized_store), "--device", "cpu", "--threads", "1"]
    assert evaluate_cli.main(argv) == 2
    assert "trained on audio 1024-d" in caplog.text

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((clipclap_run / "config.json").read_text())
    from safetensors.torch import load_file, save_file
    weights = load_file(str(clipclap_run / "model.safetensors"))
    weights["O_enc.0.weight"] = weights["O_enc.0.weight"][:, :100].contiguous()
    save_file(weights, str(broken / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"tensor O_enc.0.weight is F32 \(512, 100\); it must be F32 \(512, 1536\)"):
        load_checkpoint(broken)


def test_train_on_a_store_and_help(encoder_sized_store, tmp_path, capsys):
    assert train_cli.main(["--data", str(encoder_sized_store), "--out", str(tmp_path / "run"), "--epochs", "1",
                           "--batches-per-epoch", "5", *ONE_THREAD]) == 0
    assert load_checkpoint(tmp_path / "run").config.input_dims.audio == 512
    for cli in (train_cli, evaluate_cli):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--help"])
        assert exit_info.value.code == 0
    assert "two-stage" in capsys.readouterr().out


@pytest.mark.slow
def test_synthetic_demo_run_gives_a_checkpoint_the_app_and_predict_can_use(tmp_path, capsys):
    """README's "run" command, `python -m avzsl.train --synthetic` (here on a short schedule): the bundle it
    writes has the sizes of avzsl's own encoders, so the prediction service offers and uses it."""
    from avzsl.serving.service import create_service

    out = tmp_path / "checkpoints" / "demo-synthetic"
    assert train_cli.main(["--synthetic", "--out", str(out), "--epochs", "1", "--batches-per-epoch", "5",
                           *ONE_THREAD]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["test"]) >= {"S", "U", "HM", "ZSL"}
    assert read_config(out).synthetic is True

    service = create_service("random", tmp_path / "checkpoints")
    info = service.model_info("demo-synthetic")
    assert info.usable and info.problem is None and info.synthetic and info.has_atlas
    seen = info.train_classes[0]
    prediction = service.classify(EXAMPLES / "drums.mp4", ["playing drums", seen], "demo-synthetic")
    assert {s.label: s.seen for s in prediction.ranking} == {"playing drums": False, seen: True}
    assert any("SYNTHETIC" in w for w in prediction.warnings)
