import os

import pytest

# Tests never touch the network: make every Hugging Face / transformers lookup local-only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of short trainings: on a busy 2-core machine two torch threads wait on each
    other (measured 2026-12-07 at load 12-19: four short ClipClap runs took over 8 minutes with two threads, 1.5-3
    with one). The quality margins do not rely on it: a thread count or CPU kernel that rounds differently moves
    a short run as another seed does, and the margins are sized from the spread over seeds (with a second
    OpenBLAS core type, OPENBLAS_CORETYPE=Sandybridge, too). Use with
    `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- checkpoints shared by the app, CLI, CoGe and browser tests: trained once per test session -----------------

# A test using one trains a model (or waits for it): app and CoGe checkpoints, test_training.py's ClipClap run;
# or needs the stand-in hub's files (a minute to write).
SLOW_FIXTURES = {"app_checkpoints", "coge_checkpoints", "clipclap_run", "hub_files"}


def pytest_collection_modifyitems(items):
    """A test that needs a trained checkpoint is slow, marked or not, so `-m "not slow"` leaves it out."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    """The fresh process that builds the encoders (`encoders_in_a_new_process`) starts as soon as a selected test
    needs it: its ten seconds then run beside the tests before that one."""
    if any("encoders_in_a_new_process" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.helpers import encoders_build_in_a_new_process

        encoders_build_in_a_new_process()


def pytest_sessionfinish(session):
    """A started build that no test read (a run stopped early) does not outlive the session."""
    from tests.helpers import encoders_build_in_a_new_process

    if encoders_build_in_a_new_process.cache_info().currsize:
        encoders_build_in_a_new_process().stop()  # nothing happens once it has finished and been read


@pytest.fixture(scope="session")
def encoders_in_a_new_process() -> dict:
    """What building both presets' random encoders did in a fresh process (tests/helpers.py,
    `encoders_build_in_a_new_process`): {"heavy": modules, "clip" / "clap": digests}."""
    from tests.helpers import new_process_result

    return new_process_result()



@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory):
    """A checkpoints folder: a tiny ClipClap that fits the random encoders (with atlas), folder MATCHING, and a
    copy whose config claims features no encoders give (1024-d sound from the default preset), OTHER_ENCODERS:
    the service must refuse that one with a clear message."""
    import json
    import shutil

    import torch

    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.encoders import EncoderSpec
    from avzsl.models.checkpoint import load_checkpoint
    from avzsl.models.registry import get_recipe
    from avzsl.report.results import build_report, save_report
    from avzsl.training.run import train
    from tests.helpers import MATCHING, OTHER_ENCODERS

    root = tmp_path_factory.mktemp("checkpoints")
    data = make_synthetic(SyntheticSpec(scale=0.05, **ENCODER_DIMS))
    recipe = get_recipe("clipclap", data.name, training_overrides={"epochs": 1, "batches_per_epoch": 3})
    train(recipe, data, root / MATCHING, device=torch.device("cpu"), progress=False)
    save_report(root / MATCHING, build_report(load_checkpoint(root / MATCHING), data))  # as `python -m avzsl.train` does
    other = root / OTHER_ENCODERS
    shutil.copytree(root / MATCHING, other)
    config = json.loads((other / "config.json").read_text())
    config["input_dims"]["audio"] = 1024
    config["input_dims"]["text_parts"] = [["clip", 512], ["clap", 1024]]
    config["encoders"] = EncoderSpec("laion-clap").to_dict()
    (other / "config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(scope="session")
def coge_checkpoints(tmp_path_factory):
    """A checkpoints folder holding one tiny CoGe bundle (folder COGE), trained by the same `train` that
    `python -m avzsl.train --model coge` runs, on SYNTHETIC features of the random encoders' sizes (CLAP 512-d,
    CLIP 512-d)."""
    import torch

    from avzsl.data.synthetic import ENCODER_DIMS, SyntheticSpec, make_synthetic
    from avzsl.models.registry import get_recipe
    from avzsl.training.run import train
    from tests.helpers import COGE

    root = tmp_path_factory.mktemp("coge-checkpoints")
    data = make_synthetic(SyntheticSpec(scale=0.05, **ENCODER_DIMS))
    # Narrow hidden layers and small batches keep it to seconds; every CoGe code path is still exercised.
    recipe = get_recipe("coge", data.name, config_overrides={"d_mask_hidden": 64, "d_feature": 30, "d_hidden": 64},
                        training_overrides={"epochs": 1, "batches_per_epoch": 3, "batch_size": 32})
    train(recipe, data, root / COGE, device=torch.device("cpu"), progress=False)
    return root


@pytest.fixture(scope="session")
def hub_files(tmp_path_factory) -> dict:
    """The stand-in hub's files (tests/stand_in_hub.py): random weights in the real files' formats, written once per
    session from the random-weight encoders (built once per process: other tests have usually built them).
    Returns their manifest."""
    from tests.stand_in_hub import build

    return build(tmp_path_factory.mktemp("stand-in-hub"))


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory):
    """A labelled folder of 4 classes x 4 clips, one damaged file and one silent clip (tests/helpers.py)."""
    from tests.helpers import write_video_folder

    return write_video_folder(tmp_path_factory.mktemp("videos"), per_class=4)


@pytest.fixture(scope="session")
def reference_store(video_folder, tmp_path_factory):
    """The store the local engine extracts from `video_folder`, which other runs are compared with. Its work
    folder (kept: videos failed) holds chunks of 4 videos, which a test may copy as an earlier run's work."""
    from tests.helpers import run_extract

    out = tmp_path_factory.mktemp("stores") / "reference"
    assert run_extract(video_folder, out, "--chunk-size", "4") == 0
    return out


@pytest.fixture(scope="session")
def fewest_clips_folder(video_folder, tmp_path_factory):
    """`video_folder` cut to the fewest clips a random split (seed 0) takes, with its damaged file and silent clip
    (tests/helpers.py, `copy_fewest_clips`). Read only: a test that changes it works on a copy."""
    from tests.helpers import copy_fewest_clips

    return copy_fewest_clips(video_folder, tmp_path_factory.mktemp("fewest-clips"))
