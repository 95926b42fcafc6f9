"""README's "Use the papers' features in the demo", end to end: train on a data set in the ClipClap release
layout (1024-d WavCaps audio), then rank labels with that checkpoint in `avzsl.predict` and in the app.

The data set is SYNTHETIC and the encoders random (the same architectures as the release's extractor,
preset clipclap-release), so nothing is downloaded; what is checked is that the checkpoint is run with the
encoders its features came from, never refused as "trained on other encoders".
"""

from __future__ import annotations

import json

import pytest

from avzsl.models.checkpoint import read_config
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.predict import main as predict_main
from avzsl.serving.service import create_service
from avzsl.train import main as train_main
from tests.helpers import EXAMPLES, running_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def release_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("papers")
    release = write_release(make_synthetic(SyntheticSpec(scale=0.05)), root / "data" / "UCF")
    out = root / "checkpoints" / "clipclap-ucf"
    assert train_main(["--model", "clipclap", "--data", str(release), "--dataset", "UCF", "--out", str(out),
                       "--epochs", "1", "--batches-per-epoch", "3", "--no-progress", "--device", "cpu"]) == 0
    return out


def test_the_checkpoint_records_the_release_encoders(release_checkpoint):
    config = read_config(release_checkpoint)
    assert config.input_dims.audio == 1024 and config.input_dims.text_parts == (("clip", 512), ("clap", 1024))
    assert config.encoders.preset == "clipclap-release"
    assert config.encoders.frames == "bgr-float255"  # what the UCF release's CLIP most likely saw
    assert config.encoders.to_dict()["preset_spec"]["audio"]["sample_rate"] == 32_000


def test_predict_runs_it_with_the_release_encoders(release_checkpoint, capsys):
    seen = read_config(release_checkpoint).classes.train[0]
    capsys.readouterr()
    assert predict_main([str(EXAMPLES / "bird.mp4"), "--labels", f"bird chirping, {seen}, car engine", "--checkpoint",
                         str(release_checkpoint), "--encoders", "random", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {s["label"]: s["seen"] for s in result["ranking"]} == {"bird chirping": False, seen: True, "car engine": False}
    assert result["encoders"] == "random-weight clipclap-release (bgr-float255 frames)"
    assert not any("other encoders" in w for w in result["warnings"])


def test_the_app_offers_and_runs_it(release_checkpoint, tmp_path):
    from gradio_client import Client, handle_file

    from app.handlers import model_choices

    service = create_service("random", release_checkpoint.parent)
    info = service.model_info("clipclap-ucf")
    assert info.usable and "clipclap-release" in info.encoders
    shown = dict((value, text) for text, value in model_choices(service))
    assert "other encoders" not in shown["clipclap-ucf"]
    seen = info.train_classes[0]
    with running_app(service, tmp_path) as (_, url):
        result = Client(url, verbose=False).predict(handle_file(str(EXAMPLES / "drums.mp4")), f"playing drums, {seen}",
                                                    "clipclap-ucf", api_name="/classify")
    assert {s["label"]: s["seen"] for s in result["ranking"]} == {"playing drums": False, seen: True}
    assert result["encoders"].startswith("random-weight clipclap-release")
    # The training-free mode of the same app keeps the default encoders.
    assert service.encoder_spec("training-free").preset == "laion-clap"
