"""Training that cannot go on stops with one clear line and keeps what it had: non-finite data or loss, a
full disk. A fixed run then resumes to exactly the result of a run that never failed."""

from __future__ import annotations

import errno
import json
import logging

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from avzsl.models.checkpoint import load_checkpoint
from avzsl.data.store import write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.io import strict_json
from avzsl.models.clipclap import ClipClap
from avzsl.models.registry import get_recipe
from avzsl.train import main as train_main
from avzsl.training.protocol import NonFiniteLossError
from avzsl.training.run import NonFiniteDataError, train
from tests.helpers import fill_the_disk_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py
SCHEDULE = {"epochs": 3, "batches_per_epoch": 6}
CPU = torch.device("cpu")


def reject_constant(name):
    raise ValueError(f"bare {name} in a JSON file")


def strict_lines(path) -> list[dict]:
    return [json.loads(line, parse_constant=reject_constant) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def data():
    return make_synthetic(SyntheticSpec(scale=0.05, seed=3))


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """A run that never failed: its metrics and final weights."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    metrics = train(get_recipe("clipclap", "UCF", training_overrides=SCHEDULE), data, out, device=CPU, progress=False)
    return metrics, out


def test_nan_features_stop_training_before_anything_is_written(data, tmp_path, caplog):
    data = make_synthetic(SyntheticSpec(scale=0.05, seed=3))
    data.subsets["stage_1_train"].visual[7, :3] = np.nan
    with pytest.raises(NonFiniteDataError, match="the visual features of stage_1_train has non-finite values .* "
                                                 "the first row 7"):
        train(get_recipe("clipclap", "UCF", training_overrides=SCHEDULE), data, tmp_path / "run", device=CPU,
              progress=False)
    assert not (tmp_path / "run").exists()
    # the same through the CLI, on a release (whose reader keeps values as they are): one line, exit 2
    root = write_release(data, tmp_path / "UCF")
    assert train_main(["--data", str(root), "--out", str(tmp_path / "cli"), "--no-progress", "--threads", "1"]) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "non-finite values" in errors[0].getMessage()


def test_a_non_finite_loss_stops_training_keeps_the_last_good_epoch_and_a_fixed_run_resumes(
        data, reference, tmp_path, monkeypatch):
    recipe = get_recipe("clipclap", "UCF", training_overrides=SCHEDULE)
    real_losses = ClipClap.training_losses
    steps = []

    def diverge_in_epoch_two(self, batch, class_text):
        losses = real_losses(self, batch, class_text)
        steps.append(1)
        if len(steps) > SCHEDULE["batches_per_epoch"]:  # from the first batch of stage 1's second epoch on
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    monkeypatch.setattr(ClipClap, "training_losses", diverge_in_epoch_two)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="stage 1 epoch 2: the training loss became non-finite"):
        train(recipe, data, out, device=CPU, progress=False)
    state = json.loads((out / ".resume" / "stage1.json").read_text(), parse_constant=reject_constant)
    assert state["epochs_done"] == 1  # the last good epoch, not the one that diverged
    weights = load_file(str(out / ".resume" / "stage1.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())

    monkeypatch.setattr(ClipClap, "training_losses", real_losses)  # the fix
    metrics = train(recipe, data, out, device=CPU, progress=False)
    expected, straight = reference
    assert metrics == expected
    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(strict_lines(out / "train_log.jsonl")) == SCHEDULE["epochs"] + expected["best_epoch"] + 1


@pytest.mark.parametrize("stage", [1, 2])
def test_an_interrupted_run_resumes_to_identical_results(data, reference, tmp_path, stage):
    """Stopped after the first epoch of a stage, then run again: the same metrics and weights as a straight run.
    In stage 1 the rest of the stage continues from the saved weights, Adam moments and random state (the
    dropout draws go on where they stopped); stage 2 starts again from its seed."""
    recipe = get_recipe("clipclap", "UCF", training_overrides=SCHEDULE)

    class Interrupt(Exception):
        pass

    def stop(record):
        if record.stage == stage:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(recipe, data, tmp_path / "resumed", device=CPU, progress=False, on_epoch_end=stop)
    assert (tmp_path / "resumed" / ".resume" / f"stage{stage}.json").is_file()
    torch.manual_seed(1234)  # the rerun is another process: torch's random state is not where the run stopped
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    expected, straight = reference
    assert train(recipe, data, tmp_path / "resumed", device=CPU, progress=False) == expected
    a = load_checkpoint(straight).model.state_dict()
    b = load_checkpoint(tmp_path / "resumed").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Every epoch's losses and validation figures too: the final weights depend on stage 1 only through its best
    # epoch, so a resumed stage 1 that drew other batches could still end in the same checkpoint.
    assert _epochs(tmp_path / "resumed") == _epochs(straight)


def _epochs(run) -> list[dict]:
    """The run's train_log.jsonl without the timings."""
    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def test_logs_and_json_files_are_strict_json():
    assert strict_json({"loss": float("nan"), "lr": [float("inf"), 1.5]}) == '{"loss": null, "lr": [null, 1.5]}'


# --- a full disk ------------------------------------------------------------------------------------------


def test_train_onto_a_full_disk_prints_one_line_and_resumes_when_run_again(data, reference, tmp_path, monkeypatch,
                                                                           caplog):
    store = write_store(tmp_path / "store", data)
    out = tmp_path / "run"
    argv = ["--data", str(store), "--out", str(out), "--model", "clipclap", "--dataset", "UCF", "--no-progress",
            "--epochs", str(SCHEDULE["epochs"]), "--batches-per-epoch", str(SCHEDULE["batches_per_epoch"]), "--threads", "1"]
    failures = fill_the_disk_at(monkeypatch, "stage2.safetensors")  # stage 1 done, stage 2's first epoch not saved
    assert train_main(argv) == 2
    assert failures
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "free some space" in errors[0]
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp"))  # the half-written file is gone
    assert (out / ".resume" / "stage1.json").is_file() and not (out / "metrics.json").exists()

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="avzsl"):
        assert train_main(argv) == 0
    assert "stage 1: resuming after epoch 3" in caplog.text
    expected, straight = reference
    assert json.loads((out / "metrics.json").read_text()) == {k: expected[k] for k in ("val", "test")}
    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_real_failed_safetensors_write_is_an_os_error_and_leaves_no_file(tmp_path):
    """A child process with a 1 KB file-size limit (EFBIG, as the kernel reports a write it cannot make):
    safetensors' own error becomes the OSError it stands for, which the CLIs print as one line."""
    import subprocess
    import sys

    code = (
        "import resource, signal, numpy as np, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "from avzsl.io import atomic_save_tensors\n"
        "try:\n"
        f"    atomic_save_tensors({str(tmp_path / 'big.safetensors')!r}, {{'a': np.zeros(10000, np.float32)}})\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e.errno, e.filename)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["OSError", str(errno.EFBIG), str(tmp_path / "big.safetensors")], result.stderr
    assert list(tmp_path.iterdir()) == []
