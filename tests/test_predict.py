"""`python -m avzsl.predict`: its --json output, with and without a checkpoint, and its bad-input exits.

Called in-process through `main(argv)` with random-weight encoders (no downloads; built once per process).
The checkpoint is the tiny CoGe bundle of the session fixture `coge_checkpoints` (tests/conftest.py).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from avzsl.predict import main
from avzsl.models.checkpoint import read_config
from avzsl.serving.service import TRAINING_FREE
from tests.helpers import COGE, EXAMPLES

pytestmark = pytest.mark.slow

LABELS = "bird chirping, car engine, playing drums"
SCORE_KEYS = {"label", "rank", "distance", "confidence", "seen"}


def predict_json(capsys, video, labels, *extra) -> dict:
    """Run the CLI with --json; it must succeed and print nothing but the JSON document on stdout."""
    code = main([str(video), "--labels", labels, "--encoders", "random", "--device", "cpu", "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def assert_ranking(scores: list[dict], labels: list[str]) -> None:
    """Every label once, ranks 1..n by increasing distance, confidences a distribution (best first)."""
    assert all(set(s) == SCORE_KEYS for s in scores)
    assert sorted(s["label"] for s in scores) == sorted(labels)
    assert [s["rank"] for s in scores] == list(range(1, len(labels) + 1))
    distances = [s["distance"] for s in scores]
    confidences = [s["confidence"] for s in scores]
    assert np.isfinite(distances).all() and distances == sorted(distances)
    assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 1 for c in confidences)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def checkpoint(coge_checkpoints):
    return coge_checkpoints / COGE


def test_json_without_checkpoint(capsys):
    result = predict_json(capsys, EXAMPLES / "bird.mp4", LABELS)
    labels = [label.strip() for label in LABELS.split(",")]
    assert {"ranking", "modalities", "timings_ms"} <= set(result)
    assert_ranking(result["ranking"], labels)
    assert all(s["seen"] is None for s in result["ranking"])  # no checkpoint: neither seen nor unseen
    assert result["model"] == TRAINING_FREE and result["gamma"] is None and result["has_audio"] is True

    assert set(result["modalities"]) == {"audio", "visual"}
    for scores in result["modalities"].values():
        assert_ranking(scores, labels)
        assert all(s["seen"] is None for s in scores)
    # Both modalities: the answer's distance is the mean of the picture's and the sound's.
    by_modality = {m: {s["label"]: s["distance"] for s in scores} for m, scores in result["modalities"].items()}
    assert {s["label"]: s["distance"] for s in result["ranking"]} == pytest.approx(
        {label: (by_modality["audio"][label] + by_modality["visual"][label]) / 2 for label in labels})

    timings = result["timings_ms"]
    assert {"decode", "clip_image", "clap_audio", "labels", "total"} <= set(timings)
    assert all(v >= 0 for v in timings.values())
    assert timings["total"] >= max(v for k, v in timings.items() if k != "total")


def test_json_with_a_checkpoint_flags_seen_labels(capsys, checkpoint):
    config = read_config(checkpoint)
    seen_label = config.classes.train[0]
    labels = ["bird chirping", "car engine", seen_label]
    result = predict_json(capsys, EXAMPLES / "bird.mp4", ", ".join(labels), "--checkpoint", str(checkpoint))
    assert_ranking(result["ranking"], labels)
    assert all(type(s["seen"]) is bool for s in result["ranking"])  # JSON true / false, not 0 / 1 or null
    assert {s["label"]: s["seen"] for s in result["ranking"]} == {
        "bird chirping": False, "car engine": False, seen_label: True}
    assert result["model"] == COGE and result["gamma"] == pytest.approx(config.calibration.gamma)
    assert any("SYNTHETIC" in w for w in result["warnings"])
    # The explanations stay training-free: no seen / unseen there.
    assert all(s["seen"] is None for scores in result["modalities"].values() for s in scores)


def test_video_without_audio_is_ranked_from_the_picture(capsys):
    result = predict_json(capsys, EXAMPLES / "aquarium.mp4", "fish in an aquarium, car engine")
    assert result["has_audio"] is False
    assert_ranking(result["ranking"], ["fish in an aquarium", "car engine"])
    assert set(result["modalities"]) == {"visual"}
    # Picture only: the answer is the visual ranking itself.
    assert result["ranking"] == result["modalities"]["visual"]
    assert any("no audio track" in w for w in result["warnings"])
    assert "clap_audio" not in result["timings_ms"] and "clip_image" in result["timings_ms"]


def _text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


BAD_INPUTS = {
    "text file named .mp4": (_text_file_named_mp4, LABELS, "notes.mp4 is not a video, sound or picture file"),
    "empty labels": (lambda tmp_path: EXAMPLES / "bird.mp4", "", "Type at least one label"),
    "missing video": (lambda tmp_path: tmp_path / "nowhere.mp4", LABELS, "nowhere.mp4"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_a_clear_message(capsys, caplog, tmp_path, case):
    make_video, labels, expected = BAD_INPUTS[case]
    with caplog.at_level(logging.ERROR, logger="avzsl"):
        code = main([str(make_video(tmp_path)), "--labels", labels, "--encoders", "random", "--device", "cpu", "--json"])
    out = capsys.readouterr()
    assert code == 2
    assert out.out == ""  # no half-written JSON
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["avzsl.predict"] and expected in errors[0].getMessage()
    assert errors[0].exc_info is None  # the message alone, no stack trace
    assert "Traceback" not in out.err and "Traceback" not in caplog.text
